//! Payloads of the event types beyond exec/fork/exit, each serialized under its SECL prefix.
//!
//! Every struct nests its values exactly as their SECL names (`open.file.destination.mode` is
//! `{"open":{"file":{"destination":{"mode":…}}}}`), so recorded events can be matched by `rules test`.

pub mod file;
pub mod kernel;
pub mod network;
pub mod privilege;

pub use file::*;
pub use kernel::*;
pub use network::*;
pub use privilege::*;

pub(crate) fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
