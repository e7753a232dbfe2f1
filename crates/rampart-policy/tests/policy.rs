//! Policy files: schema, positions, filters, merging across policies, overrides, disabled toggles, actions.

use proptest::prelude::*;
use rampart_policy::{load_sources, EntryKind, HostInfo, LoadOptions, PolicySource, Status};

fn src(name: &str, text: &str) -> PolicySource {
    PolicySource {
        name: name.into(),
        file: format!("{name}.policy"),
        text: text.into(),
    }
}

fn opts() -> LoadOptions {
    LoadOptions {
        host: HostInfo {
            kernel: (6, 1, 0),
            ..HostInfo::default()
        },
        agent_version: None,
        typecheck_filtered: true,
        suppressions: Default::default(),
        deadline: None,
    }
}

fn status<'a>(r: &'a rampart_policy::Report, id: &str) -> &'a Status {
    &r.entries
        .iter()
        .find(|e| e.id == id && e.kind == EntryKind::Rule)
        .unwrap()
        .status
}

const BASE: &str = r#"version: 1.2.3
macros:
  - id: SHELLS
    values: ["sh", "bash"]
  - id: WRITE_FLAGS
    expression: O_WRONLY|O_RDWR
rules:
  - id: shell
    version: 1.0.0
    expression: exec.file.name in SHELLS
    tags: {severity: medium, mitre: T1059}
    product_tags: ["technique:T1059-command-and-scripting-interpreter"]
  - id: shadow
    expression: >-
      open.file.path == "/etc/shadow"
      && open.flags & WRITE_FLAGS > 0
      && open.file.nope == 1
  - id: linux_only
    expression: exec.file.name == "x"
    filters: ['os == "linux"']
  - id: windows_only
    expression: exec.cmdline =~ "*x*"
    filters: ['os == "windows"']
  - id: old_kernel
    expression: exec.file.name == "y"
    filters: ["kernel.version.major < 5"]
  - id: gated
    expression: exec.file.name == "z"
    agent_version: ">= 7.80"
  - id: to_disable
    expression: exec.file.name == "w"
  - id: tracked
    expression: exec.file.name == "bash"
    every: 10s
    silent: true
    actions:
      - set: {name: seen, scope: process, value: true}
      - filter: process.uid == 0
        kill: {signal: SIGKILL}
      - hash: {}
  - id: bad_action
    expression: exec.file.name == "v"
    actions:
      - log: {level: info}
"#;

const CUSTOM: &str = r#"rules:
  - id: shell
    combine: override
    expression: exec.file.name in SHELLS && process.uid == 0
  - id: to_disable
    disabled: true
  - id: linux_only
    expression: exec.file.name == "other"
  - id: bad id
    expression: exec.file.name == "q"
  - id: shadow
    combine: override
    override_options: {fields: [tags]}
    tags: {severity: critical}
"#;

#[test]
fn loads_merges_filters_and_reports() {
    let loaded = load_sources(&[src("default", BASE), src("custom", CUSTOM)], &opts());
    let r = &loaded.report;
    assert_eq!(r.policies[0].version, "1.2.3");
    assert_eq!(status(r, "linux_only"), &Status::Loaded);
    assert!(
        matches!(
            status(r, "windows_only"),
            Status::Filtered { check: None, .. }
        ),
        "Windows rules type-check"
    );
    assert!(matches!(status(r, "old_kernel"), Status::Filtered { .. }));
    assert_eq!(
        status(r, "gated"),
        &Status::Loaded,
        "no emulated version: accepted"
    );
    assert_eq!(status(r, "to_disable"), &Status::Disabled);
    assert_eq!(status(r, "tracked"), &Status::Loaded);
    // The broken expression is reported at its line and column inside the folded scalar.
    let shadow = r
        .entries
        .iter()
        .find(|e| e.id == "shadow" && e.policy == "default")
        .unwrap();
    match &shadow.status {
        Status::Error { reason } => assert!(
            reason.contains("unknown field `open.file.nope`"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!((shadow.line, shadow.col), (17, 10), "{shadow}");
    assert!(
        shadow
            .to_string()
            .starts_with("rule shadow (default.policy:17:10): unknown field"),
        "{shadow}"
    );
    match status(r, "bad_action") {
        Status::Error { reason } => {
            assert!(reason.contains("`log` action is not supported"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Custom policy: the override replaced the expression; a conflicting redefinition is an error.
    let custom: Vec<_> = r.entries.iter().filter(|e| e.policy == "custom").collect();
    assert!(
        matches!(custom[0].status, Status::Error { .. })
            || matches!(custom[0].status, Status::Loaded)
    );
    let conflict = custom.iter().find(|e| e.id == "linux_only").unwrap();
    assert!(
        matches!(&conflict.status, Status::Error { reason } if reason.contains("already defined")),
        "{conflict}"
    );
    assert!(
        matches!(&custom.iter().find(|e| e.id == "bad id").unwrap().status, Status::Error { reason } if reason.contains("invalid rule id"))
    );
    assert!(matches!(
        custom.iter().find(|e| e.id == "to_disable").unwrap().status,
        Status::Merged { .. }
    ));
    let rs = &loaded.ruleset;
    let shell = rs.rules().iter().find(|x| x.id == "shell").unwrap();
    assert!(
        shell.fields().any(|f| f == "process.uid"),
        "override applied"
    );
    assert_eq!(shell.meta.tags["severity"], "medium");
    assert_eq!(shell.meta.product_tags.len(), 1);
    let tracked = rs.rules().iter().find(|x| x.id == "tracked").unwrap();
    assert!(tracked.meta.silent);
    assert_eq!(tracked.meta.every, Some(10_000_000_000));
    assert!(rs
        .rules()
        .iter()
        .all(|x| x.id != "to_disable" && x.id != "windows_only"));
    let c = r.counts();
    assert_eq!(c.failed, 4, "{:#?}", r.entries);
    assert!(r.has_errors());
}

#[test]
fn agent_version_emulation_filters() {
    let o = LoadOptions {
        agent_version: Some((7, 71, 0)),
        ..opts()
    };
    let loaded = load_sources(&[src("default", BASE)], &o);
    assert!(matches!(
        status(&loaded.report, "gated"),
        Status::Filtered { .. }
    ));
}

#[test]
fn override_of_tags_only_keeps_the_expression() {
    let base =
        "rules:\n  - id: a\n    expression: exec.file.name == \"a\"\n    tags: {severity: low}\n";
    let over = "rules:\n  - id: a\n    combine: override\n    override_options: {fields: [tags]}\n    tags: {severity: high}\n";
    let loaded = load_sources(&[src("base", base), src("over", over)], &opts());
    assert!(!loaded.report.has_errors(), "{:#?}", loaded.report);
    let a = &loaded.ruleset.rules()[0];
    assert_eq!(a.meta.tags["severity"], "high");
    assert!(a.fields().any(|f| f == "exec.file.name"));
}

#[test]
fn macro_merge_and_conflicts() {
    let a = "macros:\n  - id: M\n    values: [a]\nrules:\n  - id: r\n    expression: exec.file.name in M\n";
    let b = "macros:\n  - id: M\n    values: [b]\n    combine: merge\n  - id: N\n    expression: '[1]'\n";
    let c = "macros:\n  - id: N\n    expression: '[2]'\n";
    let loaded = load_sources(&[src("a", a), src("b", b), src("c", c)], &opts());
    let n = loaded
        .report
        .entries
        .iter()
        .find(|e| e.id == "N" && e.policy == "c")
        .unwrap();
    assert!(matches!(&n.status, Status::Error { reason } if reason.contains("already defined")));
    let mut ev_b = rampart_model::Process {
        file: rampart_model::FileInfo::from_path("/bin/b"),
        ..Default::default()
    };
    ev_b.pid = 1;
    let node = rampart_model::ProcessNode::new(ev_b, None);
    let ev = rampart_model::Event::new(
        1,
        rampart_model::ProcessContext::new(node.clone()),
        rampart_model::EventData::Exec(node.process.clone()),
    );
    assert_eq!(
        loaded
            .ruleset
            .evaluate(&ev, &rampart_secl::MemoryStore::new())
            .len(),
        1,
        "merged values"
    );
}

#[test]
fn invalid_yaml_is_a_policy_error_not_a_panic() {
    let loaded = load_sources(
        &[
            src("bad", "rules: [\n  - id: x\n"),
            src("good", "rules:\n  - id: g\n    expression: exec.pid == 1\n"),
        ],
        &opts(),
    );
    assert!(loaded.report.policies[0]
        .error
        .as_deref()
        .unwrap()
        .contains("bad.policy:"));
    assert_eq!(loaded.ruleset.rules().len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn loader_never_panics(text in "(rules:\n  - id: [a-z]{1,3}\n    expression: [ -~]{0,40}\n|macros:\n  - id: [A-Z]{1,3}\n    values: \\[[a-z, ]{0,10}\\]\n|[ -~\n]{0,60}){0,6}") {
        let loaded = load_sources(&[src("p", &text)], &opts());
        let _ = serde_json::to_string(&loaded.report).unwrap();
    }
}

#[test]
fn directories_load_default_policy_first() {
    let dir = std::env::temp_dir().join(format!("rampart-policy-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a_custom.policy"),
        "rules:\n  - id: r\n    disabled: true\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("default.policy"),
        "rules:\n  - id: r\n    expression: exec.pid == 1\n",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "ignored").unwrap();
    let files = rampart_policy::expand_paths(std::slice::from_ref(&dir)).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["default.policy", "a_custom.policy"]);
    let loaded = rampart_policy::load_paths(&[dir], &opts()).unwrap();
    assert_eq!(
        status(&loaded.report, "r"),
        &Status::Disabled,
        "the custom policy disabled the default rule"
    );
    assert!(loaded.ruleset.rules().is_empty());
}
