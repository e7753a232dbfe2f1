//! Placeholder crate: filled by its issue.
