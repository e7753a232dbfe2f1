//! What the activity families (kernel, network, DNS) load and what their in-kernel filters let through.

use std::collections::BTreeSet;
use std::path::PathBuf;

use rampart_model::EventType;

pub const PROT_EXEC: u64 = libc::PROT_EXEC as u64;

/// The event types the kernel, network and DNS programs produce.
pub const ACTIVITY_EVENT_TYPES: &[EventType] = &[
    EventType::Bpf,
    EventType::Ptrace,
    EventType::Mmap,
    EventType::Mprotect,
    EventType::LoadModule,
    EventType::UnloadModule,
    EventType::Setuid,
    EventType::Setgid,
    EventType::Capset,
    EventType::Signal,
    EventType::Setrlimit,
    EventType::Mount,
    EventType::Umount,
    EventType::MemfdCreate,
    EventType::Splice,
    EventType::Prctl,
    EventType::Unshare,
    EventType::Setns,
    EventType::Connect,
    EventType::Bind,
    EventType::Accept,
    EventType::Dns,
    EventType::IoUringSetup,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityConfig {
    /// Event types whose programs are loaded and attached; `None` = all of [`ACTIVITY_EVENT_TYPES`].
    /// A type left out costs nothing at run time (its syscalls are not hooked).
    pub event_types: Option<BTreeSet<EventType>>,
    /// `bpf(2)` commands reported (`bpf.cmd` approver); `None` = every command.
    pub bpf_cmds: Option<BTreeSet<u32>>,
    /// An mmap is reported when `prot & mask != 0`; 0 reports every mapping. The default, `PROT_EXEC`,
    /// keeps what detection rules look at (code being mapped, W+X) and drops the data mappings that
    /// dominate mmap traffic.
    pub mmap_prot_mask: u64,
    /// The same for the protection an mprotect requests (default `PROT_EXEC`: memory made executable).
    pub mprotect_prot_mask: u64,
    /// Address families reported by connect/bind/accept (default AF_INET and AF_INET6; AF_UNIX is the
    /// bulk of local IPC and carries no address the model can hold).
    pub socket_families: BTreeSet<u16>,
    /// The DNS server port (53).
    pub dns_port: u16,
    /// The cgroup v2 root the DNS programs attach to; `None` = the first cgroup2 mount in
    /// /proc/self/mountinfo (`/sys/fs/cgroup/unified` on hybrid hosts, `/sys/fs/cgroup` on pure v2).
    pub cgroup_root: Option<PathBuf>,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        ActivityConfig {
            event_types: None,
            bpf_cmds: None,
            mmap_prot_mask: PROT_EXEC,
            mprotect_prot_mask: PROT_EXEC,
            socket_families: [crate::net::AF_INET, crate::net::AF_INET6]
                .into_iter()
                .collect(),
            dns_port: 53,
            cgroup_root: None,
        }
    }
}

impl ActivityConfig {
    /// Only the activity programs that produce these event types (others in the set are ignored).
    pub fn for_event_types(types: impl IntoIterator<Item = EventType>) -> Self {
        ActivityConfig {
            event_types: Some(types.into_iter().collect()),
            ..Default::default()
        }
    }

    pub fn wants(&self, t: EventType) -> bool {
        self.event_types.as_ref().is_none_or(|set| set.contains(&t))
    }

    pub(crate) fn bpf_cmd_mask(&self) -> u64 {
        match &self.bpf_cmds {
            None => !0,
            // Commands >= 64 are always reported (the kernel filter is one u64 bitmask).
            Some(cmds) => cmds.iter().filter(|c| **c < 64).fold(0, |m, c| m | 1 << c),
        }
    }

    pub(crate) fn family_mask(&self) -> u32 {
        self.socket_families
            .iter()
            .filter(|f| **f < 32)
            .fold(0, |m, f| m | 1 << f)
    }
}

/// The event type a program of the activity families produces, from its name (`act_enter_<syscall>`,
/// `act_exit_<syscall>`, `dns_egress`, `dns_ingress`, `uring_setup`), with the syscall it hooks (if any).
pub fn program_event_type(program: &str) -> Option<(EventType, Option<&str>)> {
    if program.starts_with("dns_") {
        return Some((EventType::Dns, None));
    }
    if program == "uring_setup" {
        return Some((EventType::IoUringSetup, None));
    }
    let syscall = program
        .strip_prefix("act_enter_")
        .or_else(|| program.strip_prefix("act_exit_"))?;
    let t = match syscall {
        "bpf" => EventType::Bpf,
        "ptrace" => EventType::Ptrace,
        "mmap" => EventType::Mmap,
        "mprotect" => EventType::Mprotect,
        "init_module" | "finit_module" => EventType::LoadModule,
        "delete_module" => EventType::UnloadModule,
        "setuid" | "setreuid" | "setresuid" | "setfsuid" => EventType::Setuid,
        "setgid" | "setregid" | "setresgid" | "setfsgid" => EventType::Setgid,
        "capset" => EventType::Capset,
        "kill" | "tkill" | "tgkill" | "rt_sigqueueinfo" | "rt_tgsigqueueinfo"
        | "pidfd_send_signal" => EventType::Signal,
        "setrlimit" | "prlimit64" => EventType::Setrlimit,
        "mount" | "move_mount" | "fsmount" | "open_tree" => EventType::Mount,
        "umount" => EventType::Umount,
        "memfd_create" => EventType::MemfdCreate,
        "splice" => EventType::Splice,
        "prctl" => EventType::Prctl,
        "unshare" => EventType::Unshare,
        "setns" => EventType::Setns,
        "connect" => EventType::Connect,
        "bind" => EventType::Bind,
        "accept" | "accept4" => EventType::Accept,
        _ => return None,
    };
    Some((t, Some(syscall)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        let mut c = ActivityConfig::default();
        assert_eq!(c.family_mask(), (1 << 2) | (1 << 10));
        assert_eq!(c.bpf_cmd_mask(), !0);
        c.bpf_cmds = Some([0, 5, 99].into_iter().collect());
        assert_eq!(c.bpf_cmd_mask(), 0b100001);
    }

    #[test]
    fn programs_map_to_event_types() {
        assert_eq!(
            program_event_type("act_exit_tgkill"),
            Some((EventType::Signal, Some("tgkill")))
        );
        assert_eq!(
            program_event_type("act_enter_accept4"),
            Some((EventType::Accept, Some("accept4")))
        );
        assert_eq!(
            program_event_type("dns_ingress"),
            Some((EventType::Dns, None))
        );
        assert_eq!(program_event_type("handle_exec"), None);
        let c = ActivityConfig::for_event_types([EventType::Dns]);
        assert!(c.wants(EventType::Dns) && !c.wants(EventType::Bpf));
        assert!(ActivityConfig::default().wants(EventType::Bpf));
    }
}
