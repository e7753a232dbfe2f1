//! Issue 20: the server under hostile input. Each module performs an attack (or a behaviour an attacker
//! would lean on) against a real server on loopback, on SQLite and PostgreSQL where storage matters, and
//! asserts the outcome.

#[macro_use]
mod common;

#[path = "hostile/audit.rs"]
mod audit;
#[path = "hostile/retention.rs"]
mod retention;
#[path = "hostile/ssrf.rs"]
mod ssrf;
