//! The agent pipeline: an [`source::EventSource`] yields decoded kernel records, the [`process_cache`] turns
//! them into enriched [`rampart_model::Event`]s with lineage, and sinks (the `monitor` printer, later the rule
//! engine and reporter) consume them.

pub mod client;
pub mod clock;
pub mod container;
pub mod daemon;
pub mod detect;
pub mod file_filters;
pub mod hash;
pub mod pipeline;
pub mod privilege;
pub mod process_cache;
pub mod profiles;
pub mod protect;
pub mod remote;
pub mod report;
pub mod runtime;
pub mod source;
pub mod targets;
pub mod users;
