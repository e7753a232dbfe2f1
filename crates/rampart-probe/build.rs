//! Compiles the sensor's BPF object (`bpf/sensor.bpf.c` and the family headers it includes) and generates its
//! skeleton, `SensorSkel`, into OUT_DIR, with the Rust types of every struct and enum in its BTF.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "bpf/sensor.bpf.c";

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"))
        .join("sensor.skel.rs");
    SkeletonBuilder::new()
        .source(SRC)
        .clang_args(["-Wall", "-Wno-unused-function", "-Ibpf"])
        .build_and_generate(&out)
        .expect("compiling bpf/sensor.bpf.c (needs clang >= 14)");
    // A directory: cargo reruns when any file under it changes (every header is part of the object).
    println!("cargo:rerun-if-changed=bpf");
}
