//! Activity snapshots and security profiles, agent side.
//!
//! The [`Profiler`] keeps activity dumps of up to `max_concurrent` workloads at a time (containers, found
//! through the cgroup tree whether they started before the agent or after; and host services, keyed by
//! systemd unit and executable version), records what each does as behaviours
//! ([`rampart_model::behavior`]), and when a dump's time is up writes it as a snapshot into the spool,
//! which the [`Uploader`] sends to the server. The kernel is told which cgroups are being dumped, so their
//! file activity reaches the agent whatever the rules need. With the stable profiles the server pushes
//! (remote configuration), the profiler flags what a profiled workload does that its profile lacks.

mod dump;
mod profiler;
mod upload;
pub mod workloads;

pub use dump::{ActivityDump, DumpLimits};
pub use profiler::{Anomaly, Profiler, ProfilerConfig};
pub use upload::{DumpCommand, Uploader};
