//! A file as a running process sees it, read through `/proc/PID`: the script an interpreted exec ran (the
//! kernel has released the script's file by the time it reports the exec, so the record carries only the
//! path the caller gave), and whether a file on overlayfs lies in the upper layer (was written inside a
//! container). Exemptions trust an executable by its owner, mode, directory and layer, so these must describe
//! the file that ran, resolved in the process's own root, never whatever the same path names on the host.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rampart_model::FileInfo;

const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// The script an interpreted exec of process `pid` ran, with its metadata and canonical path (symlinks, `.`
/// and `..` resolved inside the process's root), when the process still runs (its start time is
/// `start_boot_ns`). `None` when it is gone, the file cannot be opened, or its layer cannot be told.
pub fn script(
    proc_root: &Path,
    pid: u32,
    start_boot_ns: u64,
    ticks_per_sec: u64,
    path: &str,
) -> Option<FileInfo> {
    let dir = open_dir(&proc_root.join(pid.to_string()))?;
    // The directory pins one process: once it is open, a recycled pid cannot slip in, so check its start.
    let mut buf = [0u8; 1024];
    let stat = read_small(&dir, c"stat", &mut buf)?;
    let ticks = super::procfs::starttime_ticks(stat)?;
    let tick_ns = 1_000_000_000 / ticks_per_sec.max(1);
    if (ticks.saturating_mul(tick_ns)).abs_diff(start_boot_ns) > tick_ns {
        return None;
    }
    let root = open_at(&dir, c"root", libc::O_PATH | libc::O_DIRECTORY)?;
    let file = open_in_root(&root, path)?;
    let file_path = fd_path(&file)?;
    // Most processes share the agent's root: no need to ask the kernel for its path.
    let canonical = if same_as_own_root(&root) {
        file_path
    } else {
        within_root(&file_path, &fd_path(&root)?)?
    };
    let mut info = FileInfo::from_path(canonical);
    if !stat_into(file.as_raw_fd(), c"", libc::AT_EMPTY_PATH, &mut info) {
        return None;
    }
    if on_overlayfs(&file) {
        info.in_upper_layer = in_upper_layer(&dir, info.mount_id, &info.path);
    }
    Some(info)
}

/// Fills a file's inode, mode, owner, times and mount id from one statx(2) of `path` relative to `dirfd`;
/// false when it fails.
pub(crate) fn stat_into(dirfd: i32, path: &CStr, flags: i32, file: &mut FileInfo) -> bool {
    // SAFETY: statx is plain data; an all-zero value is valid.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let mask = libc::STATX_BASIC_STATS | libc::STATX_MNT_ID;
    // SAFETY: a NUL-terminated path and a valid out-pointer.
    if unsafe { libc::statx(dirfd, path.as_ptr(), flags, mask, &mut stx) } != 0 {
        return false;
    }
    let ns = |t: libc::statx_timestamp| t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
    file.inode = stx.stx_ino;
    file.dev = libc::makedev(stx.stx_dev_major, stx.stx_dev_minor);
    file.mode = stx.stx_mode as u32;
    file.uid = stx.stx_uid;
    file.gid = stx.stx_gid;
    file.change_time = ns(stx.stx_ctime);
    file.modification_time = ns(stx.stx_mtime);
    if stx.stx_mask & libc::STATX_MNT_ID != 0 {
        file.mount_id = stx.stx_mnt_id as u32;
    }
    true
}

/// Whether directory `root` is the agent's own root (same device and inode).
fn same_as_own_root(root: &OwnedFd) -> bool {
    static OWN: std::sync::OnceLock<Option<(u64, u64)>> = std::sync::OnceLock::new();
    let id = |dirfd, path: &CStr, flags| {
        // SAFETY: stat is plain data; an all-zero value is valid.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated path and a valid out-pointer.
        (unsafe { libc::fstatat(dirfd, path.as_ptr(), &mut st, flags) } == 0)
            .then_some((st.st_dev, st.st_ino))
    };
    let own = *OWN.get_or_init(|| id(libc::AT_FDCWD, c"/", 0));
    own.is_some() && own == id(root.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
}

/// Whether `path` (as process `/proc/PID` = `dir` sees it), on the overlayfs mount `mount_id`, is in the
/// mount's upper layer: the upper directory (from the process's mountinfo) holds an entry for it. When that
/// cannot be told (no such mount, the upper directory is not visible from here) the answer is `true`: an
/// exemption must not hold for a file whose layer is unknown.
pub(crate) fn in_upper_layer(dir: &OwnedFd, mount_id: u32, path: &str) -> bool {
    let Some(mountinfo) = read_at(dir, c"mountinfo") else {
        return true;
    };
    overlay_upper_entry(&mountinfo, mount_id, path)
        .and_then(|(upper_dir, entry)| {
            std::fs::symlink_metadata(&upper_dir).ok()?;
            Some(match std::fs::symlink_metadata(&entry) {
                // A whiteout (0:0 character device) hides a lower file: not an upper-layer file either.
                Ok(m) => !(m.mode() & libc::S_IFMT == libc::S_IFCHR && m.rdev() == 0),
                Err(e) => e.kind() != std::io::ErrorKind::NotFound,
            })
        })
        .unwrap_or(true)
}

/// From a mountinfo text: the upper directory of overlay mount `mount_id` and the entry `path` would have
/// in it (`None` when the mount is not an overlay with an upper directory, or `path` is not under it).
fn overlay_upper_entry(mountinfo: &str, mount_id: u32, path: &str) -> Option<(String, String)> {
    let line = mountinfo
        .lines()
        .find(|l| l.split(' ').next() == Some(&mount_id.to_string()))?;
    let (mount, fs) = line.split_once(" - ")?;
    let fields: Vec<&str> = mount.split(' ').collect();
    let (root, mount_point) = (unescape(fields.get(3)?), unescape(fields.get(4)?));
    let mut fs_fields = fs.split(' ');
    if fs_fields.next()? != "overlay" {
        return None;
    }
    let options = fs_fields.nth(1)?;
    let upper = options
        .split(',')
        .find_map(|o| o.strip_prefix("upperdir="))
        .map(unescape)?;
    let rel = if mount_point == "/" {
        path.strip_prefix('/')?
    } else {
        path.strip_prefix(mount_point.as_str())?.strip_prefix('/')?
    };
    let base = format!("{upper}{}", if root == "/" { "" } else { &root });
    Some((upper, format!("{}/{rel}", base.trim_end_matches('/'))))
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (b[i], octal) {
            (b'\\', Some(v)) => {
                out.push(v);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `file` relative to `root`, both as the kernel prints them for this process (`/` when the roots agree).
fn within_root(file: &str, root: &str) -> Option<String> {
    if root == "/" {
        return Some(file.to_string());
    }
    let rel = file.strip_prefix(root)?;
    rel.starts_with('/').then(|| rel.to_string())
}

pub(crate) fn open_dir(path: &Path) -> Option<OwnedFd> {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: a NUL-terminated path; the returned descriptor is owned below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    // SAFETY: a fresh descriptor nobody else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn open_at(dir: &OwnedFd, name: &CStr, flags: i32) -> Option<OwnedFd> {
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC) };
    // SAFETY: a fresh descriptor nobody else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

fn read_at(dir: &OwnedFd, name: &CStr) -> Option<String> {
    let mut text = String::new();
    File::from(open_at(dir, name, libc::O_RDONLY)?)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// A short /proc file read in one call into `buf` (`None` if it does not fit).
fn read_small<'b>(dir: &OwnedFd, name: &CStr, buf: &'b mut [u8]) -> Option<&'b str> {
    let n = File::from(open_at(dir, name, libc::O_RDONLY)?)
        .read(buf)
        .ok()?;
    (n < buf.len()).then(|| std::str::from_utf8(&buf[..n]).ok())?
}

/// Opens `path` as the process whose root is `root` would: absolute paths, `..` and symlinks stay inside it.
fn open_in_root(root: &OwnedFd, path: &str) -> Option<OwnedFd> {
    let c = CString::new(path).ok()?;
    // SAFETY: open_how is plain data; all-zero is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: openat2 with a valid directory, a NUL-terminated path and an open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    // SAFETY: a fresh descriptor nobody else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The path the kernel prints for an open descriptor; `None` for a deleted file.
fn fd_path(fd: &OwnedFd) -> Option<String> {
    let p = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let p = p.to_str()?;
    (!p.ends_with(" (deleted)")).then(|| p.to_string())
}

pub(crate) fn on_overlayfs(fd: &OwnedFd) -> bool {
    // SAFETY: statfs is plain data; an all-zero value is valid.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and out-pointer.
    let rc = unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) };
    rc == 0 && st.f_type as i64 == OVERLAYFS_SUPER_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
812 790 0:77 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/c/l/A:/var/lib/c/l/B,upperdir=/var/lib/c/o/abc/diff,workdir=/var/lib/c/o/abc/work
813 812 0:78 /sub /mnt/my\\040dir rw - overlay overlay rw,lowerdir=/l,upperdir=/u/diff,workdir=/u/work
";

    #[test]
    fn finds_the_upper_entry_of_an_overlay_path() {
        assert_eq!(
            overlay_upper_entry(MOUNTINFO, 812, "/usr/sbin/sshd"),
            Some((
                "/var/lib/c/o/abc/diff".into(),
                "/var/lib/c/o/abc/diff/usr/sbin/sshd".into()
            ))
        );
        // A mount below the root (escaped space in its mount point) whose root is a subdirectory.
        assert_eq!(
            overlay_upper_entry(MOUNTINFO, 813, "/mnt/my dir/x"),
            Some(("/u/diff".into(), "/u/diff/sub/x".into()))
        );
        assert_eq!(overlay_upper_entry(MOUNTINFO, 22, "/usr/bin/x"), None);
        assert_eq!(overlay_upper_entry(MOUNTINFO, 999, "/usr/bin/x"), None);
        assert_eq!(overlay_upper_entry(MOUNTINFO, 813, "/elsewhere"), None);
    }

    #[test]
    fn paths_are_made_relative_to_the_process_root() {
        assert_eq!(
            within_root("/usr/bin/x", "/").as_deref(),
            Some("/usr/bin/x")
        );
        assert_eq!(
            within_root("/var/lib/c/m/usr/bin/x", "/var/lib/c/m").as_deref(),
            Some("/usr/bin/x")
        );
        assert_eq!(within_root("/var/lib/c/mx/y", "/var/lib/c/m"), None);
    }

    #[test]
    fn a_script_is_read_through_the_process_and_canonicalised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sh");
        std::fs::write(&path, "#!/bin/sh\nsleep 5\n").unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o750))
            .unwrap();
        let mut child = std::process::Command::new("/bin/sh")
            .arg(&path)
            .spawn()
            .unwrap();
        let pid = child.id();
        let proc_root = Path::new("/proc");
        let ticks = crate::clock::clock_ticks_per_sec();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let start = super::super::procfs::starttime_ticks(&stat).unwrap() * (1_000_000_000 / ticks);
        let odd = format!(
            "{}/./../{}/s.sh",
            dir.path().display(),
            dir.path().file_name().unwrap().to_str().unwrap()
        );
        let f = script(proc_root, pid, start, ticks, &odd).expect("read through /proc");
        assert_eq!(
            f.path,
            std::fs::canonicalize(&path).unwrap().to_str().unwrap()
        );
        assert_eq!(f.mode & 0o7777, 0o750);
        assert_eq!(f.uid, unsafe { libc::geteuid() });
        assert!(f.inode > 0 && f.mount_id > 0);
        // Another process's start time: refused (a recycled pid).
        assert!(script(proc_root, pid, start + 10_000_000_000, ticks, &odd).is_none());
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
