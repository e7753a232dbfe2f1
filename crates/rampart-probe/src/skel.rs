//! The libbpf-cargo generated skeleton of `bpf/process.bpf.c`, and the record types it generates from BTF.

#![allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    unused_imports
)]

include!(concat!(env!("OUT_DIR"), "/process.skel.rs"));
