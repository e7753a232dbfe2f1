//! The event model shared by every Rampart crate.
//!
//! An [`Event`] is what the probe decodes and the agent enriches: common metadata (`event.*`), the process
//! context (`process.*` with its `parent` and `ancestors`), the container (`container.*`) and one
//! event-specific payload (`exec.*`, `exit.*`, …). Its JSON form nests values exactly as their SECL names, so
//! what a user sees in an event is what they match in a rule.

pub mod behavior;
pub mod container;
pub mod event;
pub mod events;
pub mod fields;
pub mod file;
pub mod process;

pub use container::Container;
pub use event::{
    Event, EventData, EventMeta, EventType, ExitCause, ExitEvent, ForkEvent, KernelKill,
};
pub use file::FileInfo;
pub use process::{Ancestors, Credentials, Process, ProcessContext, ProcessNode};
