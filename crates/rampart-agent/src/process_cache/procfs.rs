//! Reads a running process from /proc: used to seed the cache at start-up and to fill in a process the
//! kernel probe has not told us about (it started before the agent, or its fork record was dropped).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rampart_model::process::{Cgroup, Credentials};
use rampart_model::{FileInfo, Process};

use rampart_probe::config::{DEFAULT_ENV_VALUES, MAX_ARGS_BYTES};
use rampart_probe::env::split_environ;

/// Bounds mirroring the probe's, so a seeded process looks like one seen at exec.
const MAX_ARGV_BYTES: usize = MAX_ARGS_BYTES as usize;
const MAX_ENV_NAMES: usize = 128;

/// What /proc tells about one process, plus its parent pid.
#[derive(Debug, Clone)]
pub struct ProcEntry {
    pub process: Process,
    pub ppid: u32,
    /// Start time in nanoseconds since boot (from `starttime` jiffies).
    pub start_boot_ns: u64,
}

/// Reads `/proc/<pid>`; `None` when the process is gone or unreadable.
pub fn read_process(proc_root: &Path, pid: u32, ticks_per_sec: u64) -> Option<ProcEntry> {
    let dir = proc_root.join(pid.to_string());
    let stat = parse_stat(&fs::read_to_string(dir.join("stat")).ok()?)?;
    let status = fs::read_to_string(dir.join("status")).ok()?;
    let mut credentials = parse_status_credentials(&status);
    credentials.auid = fs::read_to_string(dir.join("loginuid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u32::MAX);

    let is_kthread = stat.flags & PF_KTHREAD != 0;
    let file = if is_kthread {
        FileInfo::default()
    } else {
        exe_file(&dir)
    };
    let (argv, args_truncated) = split_nul(
        &fs::read(dir.join("cmdline")).unwrap_or_default(),
        MAX_ARGV_BYTES,
    );
    let env = split_environ(
        &fs::read(dir.join("environ")).unwrap_or_default(),
        |name| DEFAULT_ENV_VALUES.contains(&name),
        MAX_ENV_NAMES,
    );
    let (envs, envp, envs_truncated) = (env.names, env.values, env.truncated);
    let cgroup_path = fs::read_to_string(dir.join("cgroup"))
        .ok()
        .and_then(|s| unified_cgroup_path(&s));

    let mut process = Process {
        pid,
        tid: pid,
        ppid: stat.ppid,
        comm: stat.comm,
        tty_name: tty_name(stat.tty_nr),
        credentials,
        file,
        args_truncated,
        envs,
        envp,
        envs_truncated,
        cgroup: Cgroup {
            id: 0,
            path: cgroup_path.unwrap_or_default(),
        },
        is_kworker: is_kthread,
        ..Default::default()
    };
    process.set_argv(argv);
    let start_boot_ns = stat.starttime_ticks.saturating_mul(1_000_000_000) / ticks_per_sec.max(1);
    Some(ProcEntry {
        process,
        ppid: stat.ppid,
        start_boot_ns,
    })
}

/// Every numeric entry of the proc root.
pub fn list_pids(proc_root: &Path) -> Vec<u32> {
    let Ok(dir) = fs::read_dir(proc_root) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

const PF_KTHREAD: u64 = 0x0020_0000;

struct Stat {
    comm: String,
    ppid: u32,
    tty_nr: u32,
    flags: u64,
    starttime_ticks: u64,
}

/// Parses /proc/PID/stat. The comm is in parentheses and may itself contain spaces and ')', so fields are
/// counted from the last ')'.
fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    // Fields after the comm, starting with field 3 (state) at index 0.
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).copied();
    Some(Stat {
        comm,
        ppid: field(4)?.parse().ok()?,
        tty_nr: field(7)?.parse().ok()?,
        flags: field(9)?.parse().ok()?,
        starttime_ticks: field(22)?.parse().ok()?,
    })
}

fn parse_status_credentials(status: &str) -> Credentials {
    let ids = StatusIds::parse(status);
    let ([uid, euid, _, fsuid], [gid, egid, _, fsgid]) = (ids.uids, ids.gids);
    Credentials {
        uid,
        euid,
        fsuid,
        gid,
        egid,
        fsgid,
        auid: u32::MAX,
        cap_effective: ids.cap_effective,
        cap_permitted: ids.cap_permitted,
        ..Default::default()
    }
}

/// The ids, capability sets and thread count of a `/proc/PID/status` (or `/proc/PID/task/TID/status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusIds {
    /// real, effective, saved, filesystem
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub cap_effective: u64,
    pub cap_permitted: u64,
    pub threads: u32,
}

impl StatusIds {
    pub fn parse(status: &str) -> StatusIds {
        let mut ids = StatusIds::default();
        for line in status.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let four = || -> Option<[u32; 4]> {
                let v: Vec<u32> = value
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect();
                v.try_into().ok()
            };
            let hex = || u64::from_str_radix(value.trim(), 16).unwrap_or(0);
            match key {
                "Uid" => ids.uids = four().unwrap_or(ids.uids),
                "Gid" => ids.gids = four().unwrap_or(ids.gids),
                "CapEff" => ids.cap_effective = hex(),
                "CapPrm" => ids.cap_permitted = hex(),
                "Threads" => ids.threads = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
        ids
    }
}

fn exe_file(dir: &Path) -> FileInfo {
    let exe = dir.join("exe");
    let Ok(target) = fs::read_link(&exe) else {
        return FileInfo::default();
    };
    let path = target.to_string_lossy();
    let mut file = FileInfo::from_path(path.strip_suffix(" (deleted)").unwrap_or(&path));
    if let Ok(meta) = fs::metadata(&exe) {
        file.inode = meta.ino();
        file.mode = meta.mode();
        file.uid = meta.uid();
        file.gid = meta.gid();
        file.change_time = meta.ctime() as u64 * 1_000_000_000 + meta.ctime_nsec() as u64;
        file.modification_time = meta.mtime() as u64 * 1_000_000_000 + meta.mtime_nsec() as u64;
    }
    file.mount_id = mount_id(&exe).unwrap_or(0);
    file
}

/// The mount id of a path, through statx(STATX_MNT_ID).
fn mount_id(path: &Path) -> Option<u32> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    statx_mount_id(libc::AT_FDCWD, &c_path, 0)
}

/// The mount id of an open file.
pub fn mount_id_of(file: &fs::File) -> Option<u32> {
    use std::os::unix::io::AsRawFd;
    statx_mount_id(file.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
}

fn statx_mount_id(dirfd: libc::c_int, path: &std::ffi::CStr, flags: libc::c_int) -> Option<u32> {
    // SAFETY: statx is plain data; an all-zero value is valid.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated, dirfd is open (or AT_FDCWD) and stx is a valid out-pointer.
    let rc = unsafe { libc::statx(dirfd, path.as_ptr(), flags, libc::STATX_MNT_ID, &mut stx) };
    (rc == 0 && stx.stx_mask & libc::STATX_MNT_ID != 0).then_some(stx.stx_mnt_id as u32)
}

/// Splits a NUL-separated buffer into strings, keeping at most `max_bytes`; the flag says whether it cut.
fn split_nul(buf: &[u8], max_bytes: usize) -> (Vec<String>, bool) {
    let truncated = buf.len() > max_bytes;
    let buf = &buf[..buf.len().min(max_bytes)];
    // Each argument ends with a NUL; drop the last terminator so an empty final argument survives.
    let buf = buf.strip_suffix(&[0]).unwrap_or(buf);
    if buf.is_empty() {
        return (Vec::new(), truncated);
    }
    (
        buf.split(|b| *b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
        truncated,
    )
}

/// The cgroup v2 (unified) path from /proc/PID/cgroup (`0::/path`).
pub fn unified_cgroup_path(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim_end().to_string())
}

/// Terminal name from `tty_nr` (major/minor encoded as in the kernel's `new_encode_dev`).
fn tty_name(tty_nr: u32) -> String {
    if tty_nr == 0 {
        return String::new();
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        5 if minor == 0 => "tty".to_string(),
        5 if minor == 1 => "console".to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        let s = parse_stat(
            "42 (a) b) c) S 7 42 42 34816 42 4194560 1 2 3 4 5 6 7 8 20 0 1 0 12345 0 0",
        )
        .unwrap();
        assert_eq!(s.comm, "a) b) c");
        assert_eq!(s.ppid, 7);
        assert_eq!(s.tty_nr, 34816);
        assert_eq!(s.starttime_ticks, 12345);
    }

    #[test]
    fn tty_names() {
        assert_eq!(tty_name(34816), "pts0"); // 136:0
        assert_eq!(tty_name(34817 + 255), "pts256"); // 137:0
        assert_eq!(tty_name(1025), "tty1"); // 4:1
        assert_eq!(tty_name(0), "");
    }

    #[test]
    fn status_credentials() {
        let c = parse_status_credentials(
            "Name:\tx\nUid:\t1000\t0\t0\t1001\nGid:\t5\t6\t7\t8\nCapEff:\t000001ffffffffff\nCapPrm:\t0000000000000001\n",
        );
        assert_eq!((c.uid, c.euid, c.fsuid), (1000, 0, 1001));
        assert_eq!((c.gid, c.egid, c.fsgid), (5, 6, 8));
        assert_eq!(c.cap_effective, 0x1ff_ffff_ffff);
        assert_eq!(c.cap_permitted, 1);
    }

    #[test]
    fn argv_splitting() {
        let (argv, cut) = split_nul(b"sh\0-c\0exec true\0\0", 4096);
        assert_eq!(argv, ["sh", "-c", "exec true", ""]);
        assert!(!cut);
        let (argv, cut) = split_nul(b"abcdef\0gh\0", 4);
        assert_eq!(argv, ["abcd"]);
        assert!(cut);
    }

    #[test]
    fn reads_own_process() {
        let me = std::process::id();
        let entry =
            read_process(Path::new("/proc"), me, crate::clock::clock_ticks_per_sec()).unwrap();
        assert_eq!(entry.process.pid, me);
        assert_eq!(entry.ppid, std::os::unix::process::parent_id());
        assert_eq!(
            entry.process.file.path,
            std::env::current_exe().unwrap().to_string_lossy()
        );
        assert!(entry.process.file.inode > 0);
        assert!(entry.start_boot_ns > 0);
        assert!(!entry.process.argv0.is_empty());
    }

    #[test]
    fn unified_path_from_hybrid_cgroup_file() {
        let text = "4:memory:/a\n0::/system.slice/x.service\n";
        assert_eq!(
            unified_cgroup_path(text).as_deref(),
            Some("/system.slice/x.service")
        );
    }
}
