//! Builds the agent's parts for the commands that run one: the kernel source and the enrichment pipeline.

use std::path::PathBuf;

use anyhow::Context;
use rampart_agent::container::{parse_cgroup_path, ContainerResolver, ResolverConfig};
use rampart_agent::detect::Detector;
use rampart_agent::pipeline::Pipeline;
use rampart_agent::process_cache::{CacheConfig, ProcessCache};
use rampart_agent::source::EventSource;
use rampart_policy::{load_paths, LoadOptions};
use rampart_probe::{Probe, ProbeConfig};

/// Loads the policies and compiles their rules; a broken rule is reported by id and skipped, an unreadable
/// policy file is an error.
pub fn detector(policies: &[PathBuf]) -> anyhow::Result<Detector> {
    let loaded = load_paths(policies, &LoadOptions::default()).context("reading policies")?;
    for p in loaded.report.policy_errors() {
        eprintln!(
            "rampart: policy {} ({}): {}",
            p.name,
            p.file,
            p.error.as_deref().unwrap_or("invalid")
        );
    }
    for e in loaded.report.errors() {
        eprintln!("rampart: skipped {e}");
    }
    let counts = loaded.report.counts();
    if !policies.is_empty() {
        eprintln!(
            "rampart: {} rules loaded, {} failed, {} disabled, {} filtered",
            counts.loaded, counts.failed, counts.disabled, counts.filtered
        );
    }
    Ok(Detector::new(loaded.ruleset))
}

/// Loads and attaches the eBPF probes.
pub fn kernel_source(ring_mib: u32) -> anyhow::Result<Box<dyn EventSource>> {
    let config = ProbeConfig {
        ring_buffer_bytes: ring_mib
            .checked_mul(1 << 20)
            .context("ring buffer size overflows")?,
        agent_pid: Some(std::process::id()),
        ..ProbeConfig::default()
    };
    Ok(Box::new(Probe::load(config)?))
}

/// The enrichment pipeline: a process cache seeded from /proc and a container resolver whose API lookups run
/// on `runtime`, off the event path.
pub fn pipeline(runtime: &tokio::runtime::Runtime) -> anyhow::Result<Pipeline> {
    let mut cache = ProcessCache::new(CacheConfig::default(), |path| {
        parse_cgroup_path(path).map(|c| c.id)
    });
    cache.seed_from_procfs();
    let resolver = ContainerResolver::with_handle(ResolverConfig::default(), runtime.handle());
    Ok(Pipeline::new(cache, Box::new(resolver)))
}

/// A small runtime for the agent's background I/O (container runtime API lookups).
pub fn background_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("rampart-bg")
        .enable_all()
        .build()
        .context("starting the background runtime")
}
