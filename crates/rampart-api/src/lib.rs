//! The typed wire contract of Rampart's REST API: the bodies the server returns and accepts, shared by the
//! server (which builds and decodes them), the CLI (which sends and decodes them) and, behind the `openapi`
//! feature, the server's OpenAPI document (which describes them). A field renamed here is renamed for
//! every party at compile time, instead of one of them reading `""` at run time.
//!
//! Only serde here: no HTTP, database or runtime crate, so the agent can depend on it for free.

pub mod agents;
pub mod audit;
pub mod config;
pub mod error;
pub mod health;
pub mod ingest;
pub mod notifications;
pub mod patch;
pub mod profiles;
pub mod report;
pub mod rules;
pub mod signals;
pub mod users;

/// Derives the OpenAPI schema of a wire type when the `openapi` feature is on (and nothing otherwise).
#[cfg(feature = "openapi")]
pub use utoipa;
