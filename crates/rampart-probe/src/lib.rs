//! Rampart's kernel side: eBPF programs (C, CO-RE, under `bpf/`), their loader, and the decoding of kernel
//! records into [`record::ProbeRecord`]s for the agent.
//!
//! ```no_run
//! use std::time::Duration;
//! use rampart_probe::{Probe, ProbeConfig};
//!
//! let mut probe = Probe::load(ProbeConfig::default())?;
//! loop {
//!     probe.poll(Duration::from_millis(50), &mut |record| println!("{record:?}"))?;
//! }
//! # Ok::<(), rampart_probe::ProbeError>(())
//! ```

mod abi;
pub mod argv;
pub mod config;
pub mod decode;
pub mod dns;
pub mod env;
pub mod errors;
pub mod file;
mod ia32;
pub mod kernel;
pub mod kill;
mod liblog;
mod links;
mod loader;
pub mod net;
pub mod preflight;
pub mod record;
mod skel;
pub mod stats;
mod tracefs;
pub mod uring;

pub use config::ProbeConfig;
pub use errors::ProbeError;
pub use loader::Probe;
pub use preflight::Lockdown;
pub use record::ProbeRecord;
pub use stats::ProbeStats;
