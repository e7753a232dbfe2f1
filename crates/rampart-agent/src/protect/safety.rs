//! Who Active Protection must never kill: host pid 1, the agent itself, kernel threads, and protected
//! executables.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rampart_probe::kill::ExeId;

/// Executables protected by default when they exist: init and the service manager, the SSH daemon (losing it
/// can lock operators out), and the running agent binary itself.
pub const DEFAULT_PROTECTED: &[&str] = &[
    "/sbin/init",
    "/usr/lib/systemd/systemd",
    "/lib/systemd/systemd",
    "/usr/sbin/sshd",
];

/// Why a process was spared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spared {
    Init,
    Agent,
    KernelThread,
    ProtectedExecutable,
}

impl Spared {
    pub fn as_str(self) -> &'static str {
        match self {
            Spared::Init => "pid 1 is never killed",
            Spared::Agent => "the agent never kills itself",
            Spared::KernelThread => "kernel threads are never killed",
            Spared::ProtectedExecutable => "protected executable",
        }
    }
}

/// The never-kill list.
#[derive(Debug, Clone)]
pub struct Safety {
    agent_pid: u32,
    protected_paths: HashSet<PathBuf>,
    protected_ids: HashSet<ExeId>,
}

impl Safety {
    /// `protected` paths are resolved now (symlinks followed); missing ones are ignored.
    pub fn new(agent_pid: u32, protected: &[PathBuf]) -> Self {
        let mut paths: Vec<PathBuf> = DEFAULT_PROTECTED.iter().map(PathBuf::from).collect();
        paths.extend(protected.iter().cloned());
        paths.extend(std::env::current_exe().ok());
        let mut protected_paths = HashSet::new();
        let mut protected_ids = HashSet::new();
        for p in paths {
            if let Ok(id) = ExeId::of(&p) {
                protected_ids.insert(id);
            }
            protected_paths.insert(std::fs::canonicalize(&p).unwrap_or(p));
        }
        Safety {
            agent_pid,
            protected_paths,
            protected_ids,
        }
    }

    /// The protected executables' inode/device pairs (for the kernel's list).
    pub fn protected_ids(&self) -> Vec<ExeId> {
        self.protected_ids.iter().copied().collect()
    }

    /// `Some(reason)` when the process must be spared. `exe` is its executable path as the event reports it.
    pub fn check(&self, pid: u32, exe: &str, is_kernel_thread: bool) -> Option<Spared> {
        if pid <= 1 {
            return Some(Spared::Init);
        }
        if pid == self.agent_pid {
            return Some(Spared::Agent);
        }
        if is_kernel_thread || is_kernel_thread_pid(pid) {
            return Some(Spared::KernelThread);
        }
        if self.protected_paths.contains(Path::new(exe)) || self.is_protected_running(pid) {
            return Some(Spared::ProtectedExecutable);
        }
        None
    }

    /// Compares the running executable's identity too: a protected binary reached through another path
    /// (hard link, bind mount, symlink) is still protected.
    fn is_protected_running(&self, pid: u32) -> bool {
        ExeId::of(Path::new(&format!("/proc/{pid}/exe")))
            .is_ok_and(|id| self.protected_ids.contains(&id))
    }
}

/// Kernel threads have no executable and carry PF_KTHREAD in /proc/PID/stat's flags.
fn is_kernel_thread_pid(pid: u32) -> bool {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    // Fields after the comm start at field 3 (state); flags is field 9.
    rest.split_whitespace()
        .nth(6)
        .and_then(|f| f.parse::<u64>().ok())
        .is_some_and(|f| f & PF_KTHREAD != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_kills_init_self_kthreads_or_protected() {
        let dir = tempfile::tempdir().unwrap();
        let guarded = dir.path().join("guarded");
        std::fs::copy("/bin/true", &guarded).unwrap();
        let safety = Safety::new(4242, std::slice::from_ref(&guarded));
        assert_eq!(safety.check(1, "/sbin/init", false), Some(Spared::Init));
        assert_eq!(
            safety.check(4242, "/usr/bin/rampart", false),
            Some(Spared::Agent)
        );
        assert_eq!(
            safety.check(2, "", false),
            Some(Spared::KernelThread),
            "kthreadd"
        );
        assert_eq!(safety.check(999_999, "", true), Some(Spared::KernelThread));
        let path = std::fs::canonicalize(&guarded).unwrap();
        assert_eq!(
            safety.check(999_999, path.to_str().unwrap(), false),
            Some(Spared::ProtectedExecutable)
        );
        assert_eq!(safety.check(999_999, "/tmp/xmrig", false), None);
    }
}
