//! Remote configuration: the fleet's detection configuration (whether agents load the default policy,
//! custom policies, custom rules, per-rule overrides), versioned as whole-configuration revisions so any
//! one can be restored; validated with the rule compiler before it is published; turned into one signed
//! bundle per agent (targeting by agent tags) that agents long-poll for, apply atomically and report on.

pub mod api;
pub mod catalogue;
pub mod signing;
pub mod snapshot;
pub mod store;
pub mod validate;
mod wait;

pub use snapshot::Snapshot;
pub use wait::ConfigWatch;
