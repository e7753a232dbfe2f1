//! What the caller can tune before the programs are loaded.

use std::path::PathBuf;
use std::time::Duration;

use crate::errors::ProbeError;

/// Environment variables whose value (not only the name) is collected by default.
pub const DEFAULT_ENV_VALUES: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "GLIBC_TUNABLES",
    "HISTFILE",
    "HISTSIZE",
    "HISTFILESIZE",
];

/// Kernel-side limit on the allow-list (slots in the BPF program, ENV_VALUE_SLOTS).
pub const MAX_ENV_VALUES: usize = crate::skel::types::exec_limit::ENV_VALUE_SLOTS.0 as usize;
/// Kernel-side bound on the argv block of one exec.
pub const MAX_ARGS_BYTES: u32 = crate::argv::ARGS_MAX_BYTES as u32;

#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Ring buffer size in bytes: a power of two, at least one page.
    pub ring_buffer_bytes: u32,
    /// The kernel wakes the reader once this much data is pending (0: on every record). Below it, records
    /// wait for the reader's next poll, at most `poll_interval`.
    pub wakeup_bytes: u64,
    /// Longest time `Probe::poll` sleeps before looking at the ring without a wake-up.
    pub poll_interval: Duration,
    /// Records of this thread group (the agent itself) are not emitted.
    pub agent_pid: Option<u32>,
    /// Bytes of the argv block read per exec (at most [`MAX_ARGS_BYTES`]); a longer block keeps its head
    /// and its last quarter ([`crate::argv`]).
    pub max_args_bytes: u32,
    /// Environment variables whose `NAME=value` lands in `envp` (at most [`MAX_ENV_VALUES`]).
    pub env_values: Vec<String>,
    /// Where kernel BTF is expected (checked at start-up).
    pub btf_path: PathBuf,
    /// Hook every syscall's exit for file events even where per-syscall tracepoints exist (the fallback
    /// `file/hooks.rs` uses without them; for tests and comparisons).
    pub file_hook_every_syscall: bool,
    /// See ia32 compat syscalls (32-bit programs, and `int $0x80` from 64-bit ones): file, kernel-activity
    /// and network events are produced for them too. Costs every syscall of every task one BPF program
    /// run while attached (docs/PERFORMANCE.md); off, those syscalls go unseen.
    pub ia32_syscalls: bool,
    /// Kernel, network and DNS activity: which event types are hooked and the in-kernel filters.
    pub activity: crate::kernel::config::ActivityConfig,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            ring_buffer_bytes: 8 << 20,
            wakeup_bytes: 256 << 10,
            poll_interval: Duration::from_millis(20),
            agent_pid: None,
            max_args_bytes: MAX_ARGS_BYTES,
            env_values: DEFAULT_ENV_VALUES.iter().map(|s| s.to_string()).collect(),
            btf_path: PathBuf::from("/sys/kernel/btf/vmlinux"),
            file_hook_every_syscall: false,
            ia32_syscalls: true,
            activity: Default::default(),
        }
    }
}

impl ProbeConfig {
    pub(crate) fn validate(&self) -> Result<(), ProbeError> {
        let ring = self.ring_buffer_bytes;
        if !ring.is_power_of_two() || ring < 4096 {
            return Err(ProbeError::Config(format!(
                "ring_buffer_bytes must be a power of two >= 4096, got {ring}"
            )));
        }
        if self.env_values.len() > MAX_ENV_VALUES {
            return Err(ProbeError::Config(format!(
                "at most {MAX_ENV_VALUES} environment variables can keep their value, got {}",
                self.env_values.len()
            )));
        }
        if self.max_args_bytes == 0 || self.max_args_bytes > MAX_ARGS_BYTES {
            return Err(ProbeError::Config(format!(
                "max_args_bytes must be in 1..={MAX_ARGS_BYTES}"
            )));
        }
        if self.poll_interval.is_zero() {
            return Err(ProbeError::Config("poll_interval must be positive".into()));
        }
        Ok(())
    }
}

/// FNV-1a 64 of an environment variable name: the BPF program compares names by this hash (the decoder
/// re-checks the name, so a collision never leaks a value).
pub(crate) fn env_name_hash(name: &str) -> u64 {
    crate::abi::fnv1a(name.as_bytes())
}
