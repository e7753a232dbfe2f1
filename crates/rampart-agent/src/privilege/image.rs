//! What an exec's image grants: set-id bits (from the record) and file capabilities (the
//! `security.capability` attribute, which the record does not carry: read from the executable itself).
//!
//! The executable is opened through paths that reach the process's own filesystem (`/proc/PID/exe`, its
//! root, its parent's root, the host path) and is used only when its inode and mount id are the record's:
//! a file swapped in at the same path after the exec explains nothing.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use rampart_model::FileInfo;
use rampart_probe::record::ExecRecord;

use super::reach::ExecGrant;

const S_ISUID: u32 = 0o4000;
const S_ISGID: u32 = 0o2000;
const S_IXGRP: u32 = 0o010;

/// The grant of one exec record, read lazily (a file is opened only when a gain would otherwise be reported).
pub(crate) struct ImageGrant<'a> {
    record: &'a ExecRecord,
    proc_root: &'a Path,
    file_caps: Option<u64>,
    script: Option<Option<(u32, u32, u32)>>,
    /// The file capabilities could not be read (the file was gone or not the exec'd one).
    pub unverified: bool,
}

impl<'a> ImageGrant<'a> {
    pub(crate) fn new(record: &'a ExecRecord, proc_root: &'a Path) -> Self {
        ImageGrant {
            record,
            proc_root,
            file_caps: None,
            script: None,
            unverified: false,
        }
    }

    /// The file the kernel took credentials from: the interpreter of a `#!` script (`bprm->file`), else the
    /// executable.
    fn image(&self) -> &FileInfo {
        self.record
            .interpreter
            .as_ref()
            .unwrap_or(&self.record.file)
    }

    /// Mode, owner and group of an interpreted exec's script, for binfmt_misc entries with the `C` flag,
    /// whose credentials come from the script. The record has only its path: read as the process sees it.
    fn script(&mut self) -> Option<(u32, u32, u32)> {
        self.record.interpreter.as_ref()?;
        *self.script.get_or_insert_with(|| {
            let pid = self.record.task.pid;
            let path = &self.record.file.path;
            let meta = std::fs::metadata(under(self.proc_root, pid, "root", path)).ok()?;
            Some((meta.mode(), meta.uid(), meta.gid()))
        })
    }
}

impl ExecGrant for ImageGrant<'_> {
    fn grants_uid(&mut self, uid: u32) -> bool {
        let f = self.image();
        if f.mode & S_ISUID != 0 && f.uid == uid {
            return true;
        }
        self.script()
            .is_some_and(|(mode, owner, _)| mode & S_ISUID != 0 && owner == uid)
    }

    fn grants_gid(&mut self, gid: u32) -> bool {
        let setgid = |mode: u32| mode & S_ISGID != 0 && mode & S_IXGRP != 0;
        let f = self.image();
        if setgid(f.mode) && f.gid == gid {
            return true;
        }
        self.script()
            .is_some_and(|(mode, _, group)| setgid(mode) && group == gid)
    }

    fn file_caps(&mut self) -> u64 {
        if let Some(caps) = self.file_caps {
            return caps;
        }
        let caps = match open_image(self.record, self.image(), self.proc_root) {
            Some(file) => read_file_caps(&file).unwrap_or(0),
            None => {
                self.unverified = true;
                0
            }
        };
        self.file_caps = Some(caps);
        caps
    }
}

/// `<proc_root>/<pid>/<entry><path>`.
fn under(proc_root: &Path, pid: u32, entry: &str, path: &str) -> PathBuf {
    let mut p = proc_root.join(pid.to_string()).join(entry).into_os_string();
    p.push(path);
    PathBuf::from(p)
}

/// Opens the exec'd file `image` of `record`, checking it is the same inode on the same mount. Each path is
/// first opened `O_PATH` (no open of a FIFO or a device happens: a path in another namespace is anyone's
/// to fill) and read only once it proved to be that regular file.
fn open_image(record: &ExecRecord, image: &FileInfo, proc_root: &Path) -> Option<File> {
    let (pid, ppid) = (record.task.pid, record.task.ppid);
    let candidates = [
        proc_root.join(pid.to_string()).join("exe"),
        under(proc_root, pid, "root", &image.path),
        under(proc_root, ppid, "root", &image.path),
        PathBuf::from(&image.path),
    ];
    candidates.iter().find_map(|p| {
        let handle = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(p)
            .ok()?;
        let meta = handle.metadata().ok()?;
        let same = meta.file_type().is_file()
            && meta.ino() == image.inode
            && crate::process_cache::procfs::mount_id_of(&handle) == Some(image.mount_id);
        // the magic link reopens exactly the inode just checked
        let fd = Path::new("/proc/self/fd").join(handle.as_raw_fd().to_string());
        same.then(|| File::open(fd).ok()).flatten()
    })
}

/// The capabilities file capabilities can add: permitted | inheritable of `security.capability`
/// (`struct vfs_cap_data`, revisions 1 to 3); 0 without the attribute.
pub(crate) fn read_file_caps(file: &File) -> io::Result<u64> {
    let name = c"security.capability";
    let mut buf = [0u8; 32];
    // SAFETY: the fd is open for the call; buf is writable for its length.
    let n = unsafe {
        libc::fgetxattr(
            file.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => Ok(0),
            _ => Err(e),
        };
    }
    Ok(parse_vfs_cap_data(&buf[..n as usize]))
}

/// permitted | inheritable of a `vfs_cap_data` value (little endian); 0 when malformed.
pub(crate) fn parse_vfs_cap_data(b: &[u8]) -> u64 {
    let word = |i: usize| {
        b.get(i * 4..i * 4 + 4)
            .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as u64)
    };
    match word(0) & 0xff00_0000 {
        // VFS_CAP_REVISION_1: one 32-bit set
        0x0100_0000 if b.len() >= 12 => word(1) | word(2),
        // revisions 2 and 3 (3 adds the namespace root id): two 32-bit halves
        0x0200_0000 | 0x0300_0000 if b.len() >= 20 => {
            (word(1) | word(3) << 32) | (word(2) | word(4) << 32)
        }
        _ => 0,
    }
}
