//! Who Active Protection must never kill: host pid 1, the agent itself, kernel threads, and the system instance
//! of a protected executable.
//!
//! A protected executable (init, sshd, the agent's binary, and what `--protect` adds) is identified by device
//! and inode, so a renamed copy is not protected; and only its system instance is spared: run by root (real
//! and effective uid 0), with no dynamic-loader variable (`LD_*`, `GCONV_PATH`) in an environment read whole,
//! in one of the protected cgroups (pid 1's, sshd's service, and what `--protect-cgroup` adds). Any other run
//! of the binary (another user, a preloaded library, a login shell's cgroup) is judged like any program. The
//! kernel applies the same rule at exec (`bpf/kill.h`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rampart_model::Process;
use rampart_probe::kill::ExeId;

/// Executables protected by default when they exist: init and the service manager, the SSH daemon (losing it
/// can lock operators out), and the running agent binary itself.
pub const DEFAULT_PROTECTED: &[&str] = &[
    "/sbin/init",
    "/usr/lib/systemd/systemd",
    "/lib/systemd/systemd",
    "/usr/sbin/sshd",
];

/// Where protected executables' system instances run by default, besides pid 1's own cgroup (cgroup v2 paths).
pub const DEFAULT_PROTECTED_CGROUPS: &[&str] =
    &["/system.slice/ssh.service", "/system.slice/sshd.service"];

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
            Spared::ProtectedExecutable => {
                "the system instance of a protected executable (root, clean environment, protected cgroup)"
            }
        }
    }
}

/// What the never-kill check needs to know about a process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub pid: u32,
    pub exe_path: String,
    /// Device and inode of the executable, when known.
    pub exe: Option<ExeId>,
    pub is_kernel_thread: bool,
    pub uid: u32,
    pub euid: u32,
    /// Environment variable names and whether the list is whole.
    pub env_names: Vec<String>,
    pub env_truncated: bool,
    /// cgroup v2 path.
    pub cgroup: String,
}

impl Target {
    /// The process as an event describes it.
    pub fn of_process(p: &Process) -> Target {
        Target {
            pid: p.pid,
            exe_path: p.file.path.clone(),
            exe: (p.file.inode != 0 && p.file.dev != 0).then_some(ExeId {
                inode: p.file.inode,
                dev: p.file.dev,
            }),
            is_kernel_thread: p.is_kworker,
            uid: p.credentials.uid,
            euid: p.credentials.euid,
            env_names: p.envs.to_vec(),
            env_truncated: p.envs_truncated,
            cgroup: p.cgroup.path.clone(),
        }
    }

    /// A running process as /proc describes it (`None` when it is gone).
    pub fn of_pid(pid: u32) -> Option<Target> {
        let entry = crate::process_cache::procfs::read_process(
            Path::new("/proc"),
            pid,
            crate::clock::clock_ticks_per_sec(),
        )?;
        Some(Target::of_process(&entry.process))
    }
}

/// A variable that makes the dynamic loader run code of the caller's choosing.
pub fn is_loader_variable(name: &str) -> bool {
    name.starts_with("LD_") || name == "GCONV_PATH"
}

/// The never-kill list.
#[derive(Debug, Clone)]
pub struct Safety {
    agent_pid: u32,
    protected_paths: HashSet<PathBuf>,
    protected_ids: HashSet<ExeId>,
    protected_cgroups: Vec<String>,
}

impl Safety {
    /// `protected` paths are resolved now (symlinks followed); missing ones are ignored. `cgroups` are added to
    /// pid 1's cgroup and [`DEFAULT_PROTECTED_CGROUPS`].
    pub fn new(agent_pid: u32, protected: &[PathBuf], cgroups: &[String]) -> Self {
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
        let mut protected_cgroups: Vec<String> = init_cgroup().into_iter().collect();
        protected_cgroups.extend(DEFAULT_PROTECTED_CGROUPS.iter().map(|c| c.to_string()));
        protected_cgroups.extend(cgroups.iter().map(|c| normalize_cgroup(c)));
        protected_cgroups.sort();
        protected_cgroups.dedup();
        Safety {
            agent_pid,
            protected_paths,
            protected_ids,
            protected_cgroups,
        }
    }

    /// The protected executables' inode/device pairs (for the kernel's list).
    pub fn protected_ids(&self) -> Vec<ExeId> {
        self.protected_ids.iter().copied().collect()
    }

    /// The protected cgroups' paths (cgroup v2, from its root).
    pub fn protected_cgroups(&self) -> &[String] {
        &self.protected_cgroups
    }

    /// `Some(reason)` when the process must be spared.
    pub fn check(&self, t: &Target) -> Option<Spared> {
        if t.pid <= 1 {
            return Some(Spared::Init);
        }
        if t.pid == self.agent_pid {
            return Some(Spared::Agent);
        }
        if t.is_kernel_thread || is_kernel_thread_pid(t.pid) {
            return Some(Spared::KernelThread);
        }
        (self.is_protected_executable(t) && self.is_system_instance(t))
            .then_some(Spared::ProtectedExecutable)
    }

    /// By identity when the target's is known, by path otherwise (a hard link or bind mount of a protected
    /// binary is the protected binary; a copy is not).
    fn is_protected_executable(&self, t: &Target) -> bool {
        match t.exe {
            Some(id) => self.protected_ids.contains(&id),
            None => self.protected_paths.contains(Path::new(&t.exe_path)),
        }
    }

    fn is_system_instance(&self, t: &Target) -> bool {
        t.uid == 0
            && t.euid == 0
            && !t.env_truncated
            && !t.env_names.iter().any(|n| is_loader_variable(n))
            && self.protected_cgroups.contains(&t.cgroup)
    }
}

/// Pid 1's cgroup v2 path: the host's init cgroup.
fn init_cgroup() -> Option<String> {
    std::fs::read_to_string("/proc/1/cgroup")
        .ok()
        .and_then(|text| crate::process_cache::procfs::unified_cgroup_path(&text))
}

/// `system.slice/x.service/` → `/system.slice/x.service`, as the kernel's cgroup paths read.
fn normalize_cgroup(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    format!("/{trimmed}")
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

    fn system_instance(exe: ExeId, cgroup: &str) -> Target {
        Target {
            pid: 999_999,
            exe_path: "/opt/guarded".into(),
            exe: Some(exe),
            env_names: vec!["PATH".into(), "LANG".into()],
            cgroup: cgroup.into(),
            ..Default::default()
        }
    }

    #[test]
    fn never_kills_init_self_or_kthreads() {
        let safety = Safety::new(4242, &[], &[]);
        let t = |pid, kthread| Target {
            pid,
            is_kernel_thread: kthread,
            ..Default::default()
        };
        assert_eq!(safety.check(&t(1, false)), Some(Spared::Init));
        assert_eq!(safety.check(&t(4242, false)), Some(Spared::Agent));
        assert_eq!(
            safety.check(&t(2, false)),
            Some(Spared::KernelThread),
            "kthreadd"
        );
        assert_eq!(safety.check(&t(999_999, true)), Some(Spared::KernelThread));
    }

    #[test]
    fn only_the_system_instance_of_a_protected_executable_is_spared() {
        let dir = tempfile::tempdir().unwrap();
        let guarded = dir.path().join("guarded");
        std::fs::copy("/bin/true", &guarded).unwrap();
        let id = ExeId::of(&guarded).unwrap();
        let safety = Safety::new(
            4242,
            std::slice::from_ref(&guarded),
            &["svc.slice/x.service/".into()],
        );
        assert!(safety
            .protected_cgroups()
            .contains(&"/svc.slice/x.service".to_string()));
        let system = system_instance(id, "/svc.slice/x.service");
        assert_eq!(safety.check(&system), Some(Spared::ProtectedExecutable));
        type Change = fn(&mut Target);
        let cases: [(&str, Change); 6] = [
            ("another user", |t| (t.uid, t.euid) = (1000, 1000)),
            ("setuid root", |t| t.uid = 1000),
            ("LD_PRELOAD", |t| t.env_names.push("LD_PRELOAD".into())),
            ("LD_AUDIT", |t| t.env_names.push("LD_AUDIT".into())),
            ("an environment not read whole", |t| t.env_truncated = true),
            ("a login shell's cgroup", |t| {
                t.cgroup = "/user.slice/user-0.slice/session-1.scope".into()
            }),
        ];
        for (what, change) in cases {
            let mut t = system.clone();
            change(&mut t);
            assert_eq!(safety.check(&t), None, "{what}");
        }
        let mut copy = system.clone();
        copy.exe = Some(ExeId {
            inode: id.inode + 1,
            ..id
        });
        assert_eq!(safety.check(&copy), None, "a copy is another executable");
    }
}
