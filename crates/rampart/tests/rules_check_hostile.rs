//! `rampart rules check` on policies written to crash the compiler: it reports each such rule with its
//! reason and exits with a failure, it never aborts, and the policy's other rules still load.

use std::process::Command;

/// A policy with one benign rule and the hostile ones.
fn policy() -> String {
    let chain = (0..5000)
        .map(|i| format!("process.pid == {i}"))
        .collect::<Vec<_>>()
        .join(" || ");
    let parens = format!(
        "{}exec.file.name == \"sh\"{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let mut doubling = String::from("  - id: m0\n    expression: process.pid == 1\n");
    for i in 1..30 {
        doubling.push_str(&format!(
            "  - id: m{i}\n    expression: m{0} || m{0}\n",
            i - 1
        ));
    }
    format!(
        "version: 1.0.0\nmacros:\n{doubling}rules:\n\
         - id: benign_rule\n  expression: exec.file.name == \"nc\"\n\
         - id: long_chain\n  expression: exec.file.name == \"x\" && ({chain})\n\
         - id: deep_parens\n  expression: '{parens}'\n\
         - id: macro_bomb\n  expression: exec.file.name == \"x\" && m29\n\
         - id: regex_bomb\n  expression: 'exec.file.name =~ r\"(\\w{{1,100}}){{1,50}}\"'\n"
    )
}

#[test]
fn hostile_rules_are_reported_with_their_reason_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hostile.policy");
    std::fs::write(&file, policy()).unwrap();
    assert!(std::fs::metadata(&file).unwrap().len() > 100_000);
    let started = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["rules", "check"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit code 1 (rules failed), not a signal (an abort on stack overflow is SIGABRT).
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let line = |id: &str| {
        stdout
            .lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("no line for {id}:\n{stdout}"))
            .to_string()
    };
    assert!(
        line("long_chain").contains("more than 4096 operators"),
        "{stdout}"
    );
    assert!(
        line("deep_parens").contains("nested too deeply"),
        "{stdout}"
    );
    assert!(
        line("macro_bomb").contains("too large with its macros expanded"),
        "{stdout}"
    );
    assert!(line("regex_bomb").contains("size limit"), "{stdout}");
    assert!(
        stdout.contains("1 loaded") && !stdout.contains("benign_rule"),
        "{stdout}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}
