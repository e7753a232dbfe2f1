//! The systemd units: `systemd-analyze verify` passes with no warning (a misspelt or ill-typed directive is
//! only a warning there, so the test fails on any output), and `systemd-analyze security` rates the
//! server's sandbox, then the agent's, under a ceiling.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use super::{repo, run};

const UNITS: [&str; 3] = [
    "rampart-agent.service",
    "rampart-server.service",
    "rampart-up.service",
];

/// The units with their `ExecStart` pointed at this build's binary (verify checks that it exists).
fn units_in(dir: &Path) -> Vec<std::path::PathBuf> {
    UNITS
        .iter()
        .map(|unit| {
            let text = std::fs::read_to_string(repo().join("deploy/systemd").join(unit)).unwrap();
            assert!(text.contains("ExecStart=/usr/bin/rampart "), "{unit}");
            let path = dir.join(unit);
            let text = text.replace("/usr/bin/rampart", env!("CARGO_BIN_EXE_rampart"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

#[test]
fn the_units_verify_without_a_warning() {
    rampart_testkit::require!(systemd_analyze, "verifies the systemd units");
    let dir = tempfile::tempdir().unwrap();
    let units = units_in(dir.path());
    let out = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.trim().is_empty(), "systemd-analyze verify: {said}");
    // The same check catches a bad directive: a misspelt value is a warning, not a failure.
    let bad = dir.path().join("rampart-bad.service");
    let text = std::fs::read_to_string(&units[1]).unwrap();
    std::fs::write(&bad, text.replace("ProtectHome=yes", "ProtectHome=yse")).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("yse"));
}

#[test]
fn the_sandboxes_stay_under_their_exposure_ceilings() {
    rampart_testkit::require!(systemd_analyze, "rates the systemd units' sandboxes");
    let dir = tempfile::tempdir().unwrap();
    let units = units_in(dir.path());
    // `security --threshold` counts tenths of systemd's 0-10 exposure scale. Measured (systemd 252): server
    // 1.6, agent and up 3.5 (root with BPF, ptrace and kill capabilities: what a sensor is).
    for (unit, ceiling) in units.iter().zip(["36", "17", "36"]) {
        run(Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(format!("--threshold={ceiling}"))
            .arg(unit));
    }
}

#[test]
fn the_server_runs_as_rampart_without_capabilities_and_the_agent_with_its_own() {
    let server = unit("rampart-server.service");
    for line in [
        "User=rampart",
        "CapabilityBoundingSet=\n",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/rampart/server",
        "SystemCallFilter=@system-service",
        "ExecStart=/usr/bin/rampart server --config /etc/rampart/server.yaml",
    ] {
        assert!(
            server.contains(line),
            "rampart-server.service lacks {line:?}"
        );
    }
    let agent = unit("rampart-agent.service");
    assert!(agent.contains("ExecStart=/usr/bin/rampart agent --config /etc/rampart/agent.yaml"));
    assert!(!agent_capabilities().contains("SYS_ADMIN"));
    assert_eq!(
        unit_capabilities(&unit("rampart-up.service")),
        agent_capabilities()
    );
}

fn unit(name: &str) -> String {
    std::fs::read_to_string(repo().join("deploy/systemd").join(name)).unwrap()
}

fn unit_capabilities(text: &str) -> BTreeSet<String> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("a CapabilityBoundingSet");
    line.split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_owned())
        .collect()
}

/// The agent unit's capabilities, without the `CAP_` prefix (as Kubernetes names them).
pub fn agent_capabilities() -> BTreeSet<String> {
    unit_capabilities(&unit("rampart-agent.service"))
}
