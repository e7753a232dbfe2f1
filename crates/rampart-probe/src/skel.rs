//! The libbpf-cargo generated skeleton of `bpf/sensor.bpf.c` (`SensorSkel`), and the types it generates from
//! the object's BTF: every record and map layout, and the enums of constants shared with the C side (read
//! through [`crate::abi`]).

#![allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unused_imports
)]

include!(concat!(env!("OUT_DIR"), "/sensor.skel.rs"));
