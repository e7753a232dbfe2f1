//! ia32 compat syscalls (`bpf/compat.h`): 32-bit programs, and 64-bit ones that use `int $0x80`, make syscalls
//! the per-syscall tracepoints never see. Two programs cover them: `ia32_sys_exit` on `tp_btf/sys_exit`
//! (every file, kernel-activity and network op, at exit; file calls tail-call `file_sys_exit`) and
//! `ia32_sys_enter` on `tp_btf/sys_enter` (only mprotect and splice, which read state before the call). Each
//! runs on every syscall of every task while attached (it returns at once outside an ia32 syscall), so each
//! is attached only while something wants it: the exit program while any file or activity event type with
//! ia32 entries is hooked natively, the enter program while mprotect or splice is.

use libbpf_rs::{Link, MapCore, MapFlags};
use rampart_model::EventType;

use crate::abi::bytes_of;
use crate::errors::ProbeError;
use crate::kernel::config::ActivityConfig;
use crate::skel::types::{ia32_state, kact_op};
use crate::skel::{OpenSensorSkel, SensorSkel};

/// Kernel-activity and network ops (bpf/act_events.h `KOP_*`, the bit in `ia32_state.ops`) and the event
/// type each produces.
const OPS: &[(kact_op, EventType)] = &[
    (kact_op::KOP_BPF, EventType::Bpf),
    (kact_op::KOP_PTRACE, EventType::Ptrace),
    (kact_op::KOP_MMAP, EventType::Mmap),
    (kact_op::KOP_MPROTECT, EventType::Mprotect),
    (kact_op::KOP_INIT_MODULE, EventType::LoadModule),
    (kact_op::KOP_FINIT_MODULE, EventType::LoadModule),
    (kact_op::KOP_DELETE_MODULE, EventType::UnloadModule),
    (kact_op::KOP_SETUID, EventType::Setuid),
    (kact_op::KOP_SETGID, EventType::Setgid),
    (kact_op::KOP_CAPSET, EventType::Capset),
    (kact_op::KOP_KILL, EventType::Signal),
    (kact_op::KOP_MOUNT, EventType::Mount),
    (kact_op::KOP_UMOUNT, EventType::Umount),
    (kact_op::KOP_MEMFD_CREATE, EventType::MemfdCreate),
    (kact_op::KOP_SPLICE, EventType::Splice),
    (kact_op::KOP_PRCTL, EventType::Prctl),
    (kact_op::KOP_UNSHARE, EventType::Unshare),
    (kact_op::KOP_SETNS, EventType::Setns),
    (kact_op::KOP_CONNECT, EventType::Connect),
    (kact_op::KOP_BIND, EventType::Bind),
    (kact_op::KOP_ACCEPT, EventType::Accept),
    (kact_op::KOP_SETRLIMIT, EventType::Setrlimit),
];
/// The ops whose enter body reads state before the call (`ia32_sys_enter`).
const ENTER_OPS: u64 = 1 << kact_op::KOP_MPROTECT.0 | 1 << kact_op::KOP_SPLICE.0;

/// The ops bitmask (`ia32_state.ops`) of the event types `config` hooks.
pub(crate) fn wanted_ops(config: &ActivityConfig) -> u64 {
    OPS.iter()
        .filter(|(_, t)| config.wants(*t))
        .fold(0, |m, (op, _)| m | 1 << op.0)
}

/// Before load: the programs are left out when the compat hooks are turned off, and when this kernel runs no
/// ia32 syscall at all (nothing to see: they would cost for nothing). Otherwise the every-syscall file
/// program is loaded too, as the exit program's file body (attached only as the fallback, see
/// `file::hooks`).
pub(crate) fn prepare(open: &mut OpenSensorSkel<'_>, enabled: bool) {
    let wanted = enabled && kernel_runs_ia32();
    open.progs.ia32_sys_exit.set_autoload(wanted);
    open.progs.ia32_sys_enter.set_autoload(wanted);
    if wanted {
        open.progs.file_sys_exit.set_autoload(true);
    }
}

/// After load: points the exit program's file tail call at `file_sys_exit`, unless that program is the
/// attached fallback (it then takes ia32 file calls itself, and a second report would follow).
pub(crate) fn link_file_body(skel: &SensorSkel<'_>) -> Result<(), ProbeError> {
    let progs = &skel.progs;
    if !progs.ia32_sys_exit.autoload() || crate::file::hooks::every_syscall_mode(skel) {
        return Ok(());
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(&progs.file_sys_exit));
    skel.maps
        .ia32_file_body
        .update(
            &0u32.to_ne_bytes(),
            &(fd as u32).to_ne_bytes(),
            MapFlags::ANY,
        )
        .map_err(|source| ProbeError::Map {
            map: "ia32_file_body",
            source,
        })
}

/// Whether this kernel runs ia32 syscalls at all: built with CONFIG_IA32_EMULATION and not booted with
/// `ia32_emulation=0`. A forked child makes one (`int $0x80`, getpid); without ia32 emulation there is no
/// gate for it and the child dies of SIGSEGV. Asked once per probe load.
fn kernel_runs_ia32() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the child runs one syscall instruction and _exit, both async-signal-safe; the parent only
        // waits for it.
        unsafe {
            let pid = libc::fork();
            if pid == 0 {
                core::arch::asm!(
                    "int 0x80",
                    inout("eax") 20u32 => _, // ia32 getpid
                    out("r8") _, out("r9") _, out("r10") _, out("r11") _,
                    options(nostack),
                );
                libc::_exit(0);
            }
            if pid < 0 {
                return true; // cannot tell: hook (a cost) rather than miss (a blind spot)
            }
            let mut status = 0;
            if libc::waitpid(pid, &mut status, 0) != pid {
                return true;
            }
            let runs = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            if !runs {
                tracing::info!(
                    "this kernel runs no ia32 syscalls (no CONFIG_IA32_EMULATION, or ia32_emulation=0): no compat hooks"
                );
            }
            runs
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The attached compat programs and what the kernel side was last told.
pub(crate) struct Ia32Hooks {
    exit: Option<Link>,
    enter: Option<Link>,
    state: (u64, bool),
    /// Off: nothing is attached, whatever is wanted (`Probe::set_ia32_syscalls`).
    pub(crate) enabled: bool,
}

impl Default for Ia32Hooks {
    fn default() -> Self {
        Ia32Hooks {
            exit: None,
            enter: None,
            state: (0, false),
            enabled: true,
        }
    }
}

impl Ia32Hooks {
    /// Every attached link, for the caller to drop.
    pub(crate) fn take_links(&mut self) -> Vec<Link> {
        [self.exit.take(), self.enter.take()]
            .into_iter()
            .flatten()
            .collect()
    }

    /// Whether the exit program is attached (ia32 syscalls are seen).
    pub(crate) fn attached(&self) -> bool {
        self.exit.is_some()
    }

    /// Tells the kernel side which ops and whether the file family are wanted, then attaches the programs
    /// that serve them and detaches the others (a program being attached finds its wants already set, one
    /// being detached already ignores what is no longer wanted).
    pub(crate) fn sync(
        &mut self,
        skel: &SensorSkel<'_>,
        ops: u64,
        file: bool,
    ) -> Result<(), ProbeError> {
        let progs = &skel.progs;
        if !progs.ia32_sys_exit.autoload() {
            return Ok(());
        }
        let (ops, file) = if self.enabled {
            (ops, file)
        } else {
            (0, false)
        };
        if (ops, file) != self.state {
            let value = ia32_state {
                ops,
                file: u32::from(file),
                ..Default::default()
            };
            skel.maps
                .ia32_state
                .update(&0u32.to_ne_bytes(), bytes_of(&value), MapFlags::ANY)
                .map_err(|source| ProbeError::Map {
                    map: "ia32_state",
                    source,
                })?;
            self.state = (ops, file);
        }
        let err = |program: &str| {
            let program = program.to_string();
            move |source| ProbeError::Attach { program, source }
        };
        if ops != 0 || file {
            if self.exit.is_none() {
                self.exit = Some(progs.ia32_sys_exit.attach().map_err(err("ia32_sys_exit"))?);
            }
        } else {
            self.exit = None;
        }
        if ops & ENTER_OPS != 0 {
            if self.enter.is_none() {
                self.enter = Some(
                    progs
                        .ia32_sys_enter
                        .attach()
                        .map_err(err("ia32_sys_enter"))?,
                );
            }
        } else {
            self.enter = None;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_runs_ia32_syscalls() {
        // CONFIG_IA32_EMULATION=y and not disabled on the test machines (see /proc/config.gz)
        assert!(kernel_runs_ia32());
    }

    #[test]
    fn ops_follow_the_hooked_event_types() {
        let all = wanted_ops(&ActivityConfig::default());
        assert_eq!(all.count_ones() as usize, OPS.len());
        let connect = wanted_ops(&ActivityConfig::for_event_types([EventType::Connect]));
        assert_eq!(connect, 1 << kact_op::KOP_CONNECT.0);
        let modules = wanted_ops(&ActivityConfig::for_event_types([EventType::LoadModule]));
        assert_eq!(
            modules,
            1 << kact_op::KOP_INIT_MODULE.0 | 1 << kact_op::KOP_FINIT_MODULE.0
        );
        assert_eq!(
            wanted_ops(&ActivityConfig::for_event_types([EventType::Dns])),
            0
        );
    }
}
