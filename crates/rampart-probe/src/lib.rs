//! Rampart's kernel side: eBPF programs (C, CO-RE, under `bpf/`), their loader, and the decoding of kernel
//! records into [`record::ProbeRecord`]s for the agent.

pub mod record;
