//! The workspace's layering rules (ARCHITECTURE.md, "Dependencies point one way"), checked on the resolved
//! dependency graph from `cargo metadata`: normal dependencies only, transitively.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// Crate name → the names of its normal (non-dev, non-build) dependencies.
fn normal_dependency_graph() -> HashMap<String, Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata JSON");
    let name_of: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let deps = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| name_of[d["pkg"].as_str().unwrap()].to_string())
                .collect();
            (name_of[node["id"].as_str().unwrap()].to_string(), deps)
        })
        .collect()
}

fn reachable(graph: &HashMap<String, Vec<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![from.to_string()];
    while let Some(name) = todo.pop() {
        for dep in graph.get(&name).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    seen
}

fn assert_never_reaches(graph: &HashMap<String, Vec<String>>, from: &str, forbidden: &[&str]) {
    let reached = reachable(graph, from);
    let found: Vec<&&str> = forbidden.iter().filter(|f| reached.contains(**f)).collect();
    assert!(
        found.is_empty(),
        "{from} must not depend on {found:?} (ARCHITECTURE.md)"
    );
}

#[test]
fn crates_depend_only_downwards() {
    let graph = normal_dependency_graph();
    // The privileged agent links no server code (it shares only the wire contract, `rampart-api`).
    assert_never_reaches(
        &graph,
        "rampart-agent",
        &[
            "rampart-server",
            "sqlx",
            "askama",
            "lettre",
            "reqwest",
            "axum",
        ],
    );
    // The server never loads eBPF or runs the agent's pipeline.
    assert_never_reaches(
        &graph,
        "rampart-server",
        &["rampart-probe", "rampart-agent", "libbpf-rs"],
    );
    // The rule engine sees events only through the model.
    for lower in ["rampart-secl", "rampart-policy"] {
        assert_never_reaches(
            &graph,
            lower,
            &["rampart-probe", "rampart-agent", "rampart-server", "tokio"],
        );
    }
    // The model, the wire contract and the metrics crate stand on no other Rampart crate.
    for leaf in ["rampart-model", "rampart-api", "rampart-metrics"] {
        let rampart: Vec<String> = reachable(&graph, leaf)
            .into_iter()
            .filter(|d| d.starts_with("rampart-"))
            .collect();
        assert!(
            rampart.is_empty(),
            "{leaf} depends on {rampart:?} (ARCHITECTURE.md)"
        );
    }
    // The testkit is for tests: nothing in the product links it.
    for product in [
        "rampart",
        "rampart-agent",
        "rampart-server",
        "rampart-probe",
    ] {
        assert_never_reaches(&graph, product, &["rampart-testkit"]);
    }
}
