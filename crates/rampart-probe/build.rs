//! Compiles the BPF programs under `bpf/` and generates their skeleton (and record types) into OUT_DIR.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "bpf/process.bpf.c";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"))
        .join("process.skel.rs");
    SkeletonBuilder::new()
        .source(SRC)
        .clang_args(["-Wall", "-Wno-unused-function", "-Ibpf"])
        .build_and_generate(&out)
        .expect("compiling bpf/process.bpf.c (needs clang >= 14)");
    for f in [
        "bpf/process.bpf.c",
        "bpf/common.h",
        "bpf/events.h",
        "bpf/path.h",
        "bpf/task.h",
        "bpf/kill.h",
        "bpf/vmlinux.h",
    ] {
        println!("cargo:rerun-if-changed={f}");
    }
    // Network, DNS and kernel-activity families.
    for f in [
        "act_events.h",
        "act_common.h",
        "kernel.h",
        "mount_api.h",
        "net.h",
        "dns.h",
        "uring.h",
    ] {
        println!("cargo:rerun-if-changed=bpf/{f}");
    }
    // File activity family.
    for f in ["file.h", "file_events.h", "file_maps.h", "file_syscalls.h"] {
        println!("cargo:rerun-if-changed=bpf/{f}");
    }
    // ia32 compat syscalls.
    for f in ["ia32.h", "ia32_syscalls.h", "compat.h"] {
        println!("cargo:rerun-if-changed=bpf/{f}");
    }
}
