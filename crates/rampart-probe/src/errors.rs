//! Why the probe could not start or run, with what to do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "loading eBPF programs needs root, or CAP_BPF + CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8); \
         this process's effective capabilities are {effective:#x}: run as root or grant them \
         (e.g. `setcap cap_bpf,cap_perfmon+ep <binary>`)"
    )]
    MissingPrivileges { effective: u64 },

    #[error(
        "kernel BTF not found at {}: Rampart's CO-RE probes need a kernel built with \
         CONFIG_DEBUG_INFO_BTF=y (the default on current distribution kernels)",
        path.display()
    )]
    BtfMissing { path: PathBuf },

    #[error(
        "kernel lockdown is in `confidentiality` mode ({}): it forbids bpf_probe_read_kernel, which every \
         Rampart probe needs; boot with `lockdown=integrity` (or none) to run the agent",
        path.display()
    )]
    LockdownConfidentiality { path: PathBuf },

    #[error("invalid probe configuration: {0}")]
    Config(String),

    #[error("opening the BPF object failed: {source}\nlibbpf said:\n{log}")]
    Open {
        source: libbpf_rs::Error,
        log: String,
    },

    #[error(
        "the kernel refused BPF program `{program}`: {source}{hint}\nverifier/libbpf log (tail):\n{log}"
    )]
    ProgramLoad {
        program: String,
        source: libbpf_rs::Error,
        hint: &'static str,
        log: String,
    },

    #[error("attaching BPF program `{program}` failed: {source}")]
    Attach {
        program: String,
        source: libbpf_rs::Error,
    },

    #[error("ring buffer: {0}")]
    RingBuffer(libbpf_rs::Error),

    #[error("reading BPF map `{map}`: {source}")]
    Map {
        map: &'static str,
        source: libbpf_rs::Error,
    },
}
