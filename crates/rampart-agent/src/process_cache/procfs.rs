//! Reads a running process from /proc: used to seed the cache at start-up and to fill in a process the
//! kernel probe has not told us about (it started before the agent, or its fork record was dropped).

use std::fs;
use std::path::Path;

use rampart_model::process::{Cgroup, Credentials};
use rampart_model::{FileInfo, Process};

use rampart_probe::config::DEFAULT_ENV_VALUES;
use rampart_probe::env::split_environ;

/// Bounds mirroring the probe's, so a seeded process looks like one seen at exec.
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
    let (file, is_ia32) = if is_kthread {
        (FileInfo::default(), false)
    } else {
        (exe_file(&dir), exe_is_ia32(&dir))
    };
    // read whole (the kernel's argv area), then kept as the exec probe keeps it: head and tail
    let argv = rampart_probe::argv::from_block(&fs::read(dir.join("cmdline")).unwrap_or_default());
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
        args_truncated: argv.truncated,
        args_size: argv.size,
        args_longest: argv.longest,
        envs,
        envp,
        envs_truncated,
        cgroup: Cgroup {
            id: 0,
            path: cgroup_path.unwrap_or_default(),
        },
        is_kworker: is_kthread,
        is_ia32,
        ..Default::default()
    };
    process.set_argv(argv.argv);
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

/// The `starttime` (clock ticks since boot) of a /proc/PID/stat text.
pub(crate) fn starttime_ticks(stat: &str) -> Option<u64> {
    parse_stat(stat).map(|s| s.starttime_ticks)
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

/// The process runs a 32-bit x86 (ia32) image: its executable's ELF header says ELFCLASS32 and EM_386. The
/// exec record says it from the kernel's side (the image's code segment) for processes started later;
/// `/proc/PID/exe` is the inode that was executed, and a running executable cannot be written.
fn exe_is_ia32(dir: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 20];
    fs::File::open(dir.join("exe"))
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|_| elf_is_ia32(&header))
}

fn elf_is_ia32(header: &[u8; 20]) -> bool {
    const ELFCLASS32: u8 = 1;
    const EM_386: u16 = 3;
    header.starts_with(b"\x7fELF")
        && header[4] == ELFCLASS32
        && u16::from_le_bytes([header[18], header[19]]) == EM_386
}

fn exe_file(dir: &Path) -> FileInfo {
    let exe = dir.join("exe");
    let Ok(target) = fs::read_link(&exe) else {
        return FileInfo::default();
    };
    let path = target.to_string_lossy();
    let mut file = FileInfo::from_path(path.strip_suffix(" (deleted)").unwrap_or(&path));
    if let Ok(c_exe) = std::ffi::CString::new(exe.as_os_str().as_encoded_bytes()) {
        super::proc_file::stat_into(libc::AT_FDCWD, &c_exe, 0, &mut file);
    }
    file.in_upper_layer = exe_in_upper_layer(dir, &file);
    file
}

/// Whether a process's executable (on overlayfs) was written in the container's upper layer; see
/// [`super::proc_file::in_upper_layer`] (an unknown layer counts as upper).
fn exe_in_upper_layer(dir: &Path, file: &FileInfo) -> bool {
    use super::proc_file::{in_upper_layer, on_overlayfs, open_dir};
    let Some(proc_dir) = open_dir(dir) else {
        return false;
    };
    let exe = fs::File::open(dir.join("exe")).map(std::os::fd::OwnedFd::from);
    match exe {
        Ok(exe) if on_overlayfs(&exe) => in_upper_layer(&proc_dir, file.mount_id, &file.path),
        Ok(_) => false,
        // Not even readable: nothing tells the layer, and nothing else about the file is known either.
        Err(_) => false,
    }
}

/// The mount id of an open file (None when statx does not give one: mount ids start at 1).
pub fn mount_id_of(file: &fs::File) -> Option<u32> {
    use std::os::unix::io::AsRawFd;
    let mut info = FileInfo::default();
    super::proc_file::stat_into(file.as_raw_fd(), c"", libc::AT_EMPTY_PATH, &mut info)
        .then_some(info.mount_id)
        .filter(|&id| id != 0)
}

/// Splits a NUL-separated buffer into strings, keeping at most `max_bytes`; the flag says whether it cut.
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
    fn a_running_32bit_program_is_ia32() {
        let mut child = std::process::Command::new(rampart_testkit::cc::driver32().unwrap())
            .args(["sleep", "30"])
            .spawn()
            .unwrap();
        let proc_root = Path::new("/proc");
        let seeded = read_process(proc_root, child.id(), 100);
        let _ = child.kill();
        let _ = child.wait();
        assert!(seeded.unwrap().process.is_ia32);
        let me = read_process(proc_root, std::process::id(), 100).unwrap();
        assert!(!me.process.is_ia32);
    }

    #[test]
    fn ia32_executables_by_their_elf_header() {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1; // ELFCLASS32
        h[18] = 3; // EM_386
        assert!(elf_is_ia32(&h));
        h[18] = 62; // EM_X86_64 in a 32-bit class file: x32, not ia32
        assert!(!elf_is_ia32(&h));
        h[4] = 2; // ELFCLASS64
        h[18] = 3;
        assert!(!elf_is_ia32(&h));
        assert!(!elf_is_ia32(&[0; 20]));
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
    fn a_padded_command_line_reads_as_the_exec_probe_keeps_it() {
        let pad = "A".repeat(6000);
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 5", &pad, "tail-arg"])
            .spawn()
            .unwrap();
        // until the child has exec'd (before, /proc shows the forked copy of this test)
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let entry = loop {
            let entry = read_process(
                Path::new("/proc"),
                child.id(),
                crate::clock::clock_ticks_per_sec(),
            )
            .unwrap();
            if entry.process.argv0 == "/bin/sh" || std::time::Instant::now() > deadline {
                break entry;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        child.kill().unwrap();
        child.wait().unwrap();
        let p = entry.process;
        assert_eq!(p.argv0, "/bin/sh");
        assert_eq!(p.argv.last().unwrap(), "tail-arg", "the tail is kept");
        assert!(p.args_truncated);
        assert_eq!(p.args_longest, 6000);
        assert_eq!(p.args_size, (8 + 3 + 8 + 6001 + 9) as u64);
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
