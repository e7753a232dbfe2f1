//! The `rampart-agent` binary refuses a configuration file it cannot trust before touching the kernel.

use std::process::Command;

#[test]
fn a_config_file_with_an_unknown_key_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.yaml");
    std::fs::write(&file, "server: https://x.example\nno_kil: true\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rampart-agent"))
        .arg("--config")
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown field `no_kil`"), "{err}");
    assert!(err.contains("agent.yaml"), "{err}");
}

#[test]
fn without_a_config_file_it_prints_its_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_rampart-agent"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config FILE"));
}
