//! The reporter under a permissive umask and a hostile network: the spool (credential, matches) is
//! created readable by its owner only, an existing wide spool is narrowed, and a plain-http server off
//! loopback is refused at start unless explicitly allowed. Its own test binary: it changes the process umask.

use std::os::unix::fs::PermissionsExt;

use rampart_agent::report::{Reporter, ReporterConfig};
use serde_json::json;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_spool_is_private_whatever_the_umask() {
    // SAFETY: umask only sets the process's file-creation mask; this binary runs no other test in parallel
    // that depends on it.
    unsafe { libc::umask(0o022) };
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("var/lib/rampart/agent");
    // Nothing listens there: the matches stay in the spool.
    let config = ReporterConfig::new(&spool, "http://127.0.0.1:9", dir.path().join("token"));
    let reporter = Reporter::new(config).unwrap();
    reporter
        .submit(
            &serde_json::from_value(json!({"rule": {"id": "r"}, "event": {"id": "e"}})).unwrap(),
        )
        .unwrap();
    assert_eq!(mode(&spool), 0o700, "spool directory");
    assert_eq!(mode(&spool.join("rejected")), 0o700);
    assert_eq!(mode(&spool.join("active.jsonl")), 0o600, "spooled matches");
    drop(reporter);

    // A spool left world-readable (by an older version, or by hand) is narrowed at start.
    std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = ReporterConfig::new(&spool, "http://127.0.0.1:9", dir.path().join("token"));
    drop(Reporter::new(config).unwrap());
    assert_eq!(mode(&spool), 0o700);
}

#[test]
fn plain_http_off_loopback_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let config = ReporterConfig::new(dir.path(), "http://192.0.2.10:7878", dir.path().join("t"));
    let err = Reporter::new(config.clone()).err().expect("refused");
    assert!(err.to_string().contains("--allow-insecure-http"), "{err}");
    let allowed = ReporterConfig {
        allow_insecure_http: true,
        ..config
    };
    drop(Reporter::new(allowed).expect("explicitly allowed"));
}
