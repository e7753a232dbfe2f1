//! Rule sets: buckets, actions (`set`, `kill`, `hash`) with filters, variables across rules, approvers,
//! the JSON of events and actions.

mod common;

use common::*;
use rampart_model::EventType;
use rampart_secl::{
    ActionKind, ActionOutcome, ActionSpec, KillScope, MacroSpec, MemoryStore, RuleMeta, RuleSet,
    RuleSpec, ScopeKey, SetSpec, VarValue,
};

fn rule(id: &str, expr: &str, actions: Vec<ActionSpec>) -> RuleSpec {
    let mut meta = RuleMeta {
        version: "1.0.0".into(),
        ..Default::default()
    };
    meta.tags.insert("severity".into(), "high".into());
    RuleSpec {
        id: id.into(),
        expression: expr.into(),
        meta,
        actions,
    }
}

fn set(name: &str, scope: &str) -> SetSpec {
    SetSpec {
        name: name.into(),
        scope: scope.into(),
        ..Default::default()
    }
}

fn act(kind: ActionKind) -> ActionSpec {
    ActionSpec { filter: None, kind }
}

#[test]
fn set_actions_feed_later_rules_and_report_outcomes() {
    let rules = vec![
        rule(
            "mark",
            r#"exec.file.name == "bash""#,
            vec![
                act(ActionKind::Set(SetSpec {
                    value: Some(true.into()),
                    ..set("marked", "process")
                })),
                act(ActionKind::Set(SetSpec {
                    field: Some("exec.file.path".into()),
                    append: true,
                    ttl: Some(10 * SEC),
                    ..set("paths", "cgroup")
                })),
                act(ActionKind::Set(SetSpec {
                    expression: Some(r#""${process.pid}:${builtins.uuid4}""#.into()),
                    ..set("key", "process")
                })),
                act(ActionKind::Set(SetSpec {
                    expression: Some("${count} + 1".into()),
                    default_value: Some(0.into()),
                    ..set("count", "")
                })),
                ActionSpec {
                    filter: Some("process.uid == 0".into()),
                    kind: ActionKind::Set(SetSpec {
                        value: Some("never".into()),
                        ..set("filtered", "")
                    }),
                },
            ],
        ),
        rule(
            "chained",
            "exec.pid == 4242 && ${process.marked} && exec.file.path in ${cgroup.paths}",
            vec![],
        ),
        rule("counter", "exec.pid == 4242 && ${count} >= 1", vec![]),
        rule(
            "unset",
            r#"exec.pid == 4242 && ${filtered} == "never""#,
            vec![],
        ),
    ];
    let (rs, report) = RuleSet::build(&[], &rules);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let store = MemoryStore::new();
    let ev = exec_event();
    let matches = rs.evaluate(&ev, &store);
    let ids: Vec<&str> = matches.iter().map(|m| m.rule.id.as_str()).collect();
    assert_eq!(ids, ["mark", "chained", "counter"]);
    let outcomes = &matches[0].actions;
    assert_eq!(
        outcomes.len(),
        4,
        "the filtered action did not run: {outcomes:?}"
    );
    assert!(
        matches!(&outcomes[0], ActionOutcome::Set { name, values, .. } if name == "process.marked" && values == &[VarValue::Bool(true)])
    );
    match &outcomes[2] {
        ActionOutcome::Set { values, .. } => match &values[0] {
            VarValue::Str(s) => assert!(s.starts_with("4242:") && s.len() == 5 + 36, "{s}"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.get("count", &ScopeKey::Global, T0),
        Some(vec![VarValue::Int(1)])
    );
    rs.evaluate(&ev, &store);
    assert_eq!(
        store.get("count", &ScopeKey::Global, T0),
        Some(vec![VarValue::Int(2)])
    );
    // The appended path expires with its TTL.
    assert!(store
        .get("cgroup.paths", &ScopeKey::Cgroup(777), T0 + 5 * SEC)
        .is_some());
    assert!(store
        .get("cgroup.paths", &ScopeKey::Cgroup(777), T0 + 11 * SEC)
        .is_none());
}

#[test]
fn kill_and_hash_actions_are_requests() {
    let rules = vec![rule(
        "kill_it",
        r#"exec.file.name == "bash""#,
        vec![
            act(ActionKind::Kill {
                signal: "SIGKILL".into(),
                scope: "container".into(),
            }),
            act(ActionKind::Hash { field: None }),
        ],
    )];
    let (rs, report) = RuleSet::build(&[], &rules);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let m = rs.evaluate(&exec_event(), &MemoryStore::new());
    assert_eq!(
        m[0].actions,
        vec![
            ActionOutcome::Kill {
                signal: "SIGKILL".into(),
                signal_number: 9,
                scope: KillScope::Container
            },
            ActionOutcome::Hash {
                field: "exec.file".into()
            }
        ]
    );
    let bad = vec![
        rule(
            "bad_signal",
            "exec.pid == 1",
            vec![act(ActionKind::Kill {
                signal: "SIGNOPE".into(),
                scope: String::new(),
            })],
        ),
        rule(
            "bad_hash",
            "connect.addr.port == 1",
            vec![act(ActionKind::Hash { field: None })],
        ),
        rule(
            "bad_filter",
            "exec.pid == 1",
            vec![ActionSpec {
                filter: Some("open.flags > 0".into()),
                kind: ActionKind::Hash { field: None },
            }],
        ),
    ];
    let (rs, report) = RuleSet::build(&[], &bad);
    assert!(rs.rules().is_empty());
    let ids: Vec<&str> = report.errors.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["bad_signal", "bad_hash", "bad_filter"]);
}

#[test]
fn broken_rules_are_skipped_and_the_rest_loads() {
    let macros = vec![
        MacroSpec {
            id: "SHELLS".into(),
            expression: Some(r#"["sh", "bash"]"#.into()),
            values: None,
        },
        MacroSpec {
            id: "BROKEN".into(),
            expression: Some("exec.uid == ".into()),
            values: None,
        },
    ];
    let rules = vec![
        rule("ok", "exec.file.name in SHELLS", vec![]),
        rule("bad_type", r#"exec.uid == "root""#, vec![]),
        rule("ok", "exec.pid == 1", vec![]),
        rule("no_event", "process.uid == 0", vec![]),
        rule("open_rule", r#"open.file.name == "shadow""#, vec![]),
    ];
    let (rs, report) = RuleSet::build(&macros, &rules);
    let errs: Vec<(&str, &str)> = report
        .errors
        .iter()
        .map(|e| (e.id.as_str(), e.error.msg.as_str()))
        .collect();
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(errs
        .iter()
        .any(|(id, m)| *id == "BROKEN" && m.contains("expected a value")));
    assert!(errs
        .iter()
        .any(|(id, m)| *id == "bad_type" && m.contains("cannot compare")));
    assert!(errs
        .iter()
        .any(|(id, m)| *id == "ok" && m.contains("duplicate")));
    assert!(errs
        .iter()
        .any(|(id, m)| *id == "no_event" && m.contains("no event type")));
    assert_eq!(rs.rules().len(), 2);
    assert_eq!(rs.rules_for(EventType::Exec).len(), 1);
    assert_eq!(rs.rules_for(EventType::Open).len(), 1);
    assert_eq!(rs.evaluate(&exec_event(), &MemoryStore::new()).len(), 1);
    assert_eq!(rs.evaluate(&open_event(), &MemoryStore::new()).len(), 1);
}

#[test]
fn mixed_chains_warn() {
    let (_, report) = RuleSet::build(
        &[],
        &[rule(
            "w",
            "exec.pid == 1 && exec.uid == 0 || exec.gid == 0",
            vec![],
        )],
    );
    assert_eq!(report.warnings.len(), 1);
    assert!(report.warnings[0].warning.msg.contains("Datadog"));
}

#[test]
fn event_compat_narrows_file_rules() {
    let rules = vec![
        rule(
            "ia32",
            r#"open.file.path != "" && event.compat && !process.is_ia32"#,
            vec![],
        ),
        rule("shadow", r#"open.file.path == "/etc/shadow""#, vec![]),
        rule("not", r#"chmod.file.path != "" && !event.compat"#, vec![]),
    ];
    let (rs, report) = RuleSet::build(&[], &rules);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let open = rs.approvers(EventType::Open).expect("narrowed");
    assert_eq!(
        open.fields[rampart_secl::COMPAT_FIELD]
            .ints
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [1]
    );
    assert!(open.fields["open.file.path"].exact.contains("/etc/shadow"));
    assert_eq!(
        rs.approvers(EventType::Chmod),
        None,
        "`!event.compat` narrows nothing"
    );
}

#[test]
fn approvers_narrow_each_event_type() {
    let rules = vec![
        rule(
            "a",
            r#"open.file.path == "/etc/shadow" && process.uid != 0"#,
            vec![],
        ),
        rule(
            "b",
            r#"open.file.path in [~"/etc/ssh/**/sshd_config", "/root/.bashrc"]"#,
            vec![],
        ),
        rule(
            "c",
            r#"open.file.name == "authorized_keys" && open.flags & O_CREAT > 0"#,
            vec![],
        ),
        rule(
            "d",
            "open.flags & (O_TRUNC|O_APPEND) != 0 && process.file.name == \"vi\"",
            vec![],
        ),
        rule(
            "e",
            r#"(open.file.path == "/etc/sudoers" || open.file.name == "sudo.conf") && open.retval >= 0"#,
            vec![],
        ),
        rule(
            "x",
            r#"chmod.file.path =~ "/tmp/*" && process.uid == 0"#,
            vec![],
        ),
        rule("y", "chmod.file.destination.mode & S_ISUID > 0", vec![]),
        rule("z", "bpf.cmd == BPF_PROG_LOAD", vec![]),
    ];
    let (rs, report) = RuleSet::build(&[], &rules);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let open = rs
        .approvers(EventType::Open)
        .expect("every open rule is narrowed");
    let path = &open.fields["open.file.path"];
    assert!(
        path.exact.contains("/etc/shadow")
            && path.exact.contains("/root/.bashrc")
            && path.exact.contains("/etc/sudoers")
    );
    assert!(path.prefixes.contains("/etc/ssh/"));
    let basenames = path.basenames.as_ref().unwrap();
    assert!(
        basenames.contains("shadow")
            && basenames.contains("sshd_config")
            && basenames.contains(".bashrc")
    );
    assert!(open.fields["open.file.name"]
        .exact
        .contains("authorized_keys"));
    assert!(open.fields["open.file.name"].exact.contains("sudo.conf"));
    assert!(open.fields["open.flags"].masks.contains(&(0o1000 | 0o2000)));
    // `/tmp/*` has a prefix but no basename; `y` cannot be narrowed at all.
    assert_eq!(rs.approvers(EventType::Chmod), None);
    assert_eq!(
        rs.approvers(EventType::Bpf).unwrap().fields["bpf.cmd"]
            .ints
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [5]
    );
    assert_eq!(rs.approvers(EventType::Exec), None, "no exec rule");
    let (rs, _) = RuleSet::build(&[], &[rule("p", r#"chmod.file.path =~ "/tmp/*""#, vec![])]);
    let chmod = rs.approvers(EventType::Chmod).unwrap();
    assert!(chmod.fields["chmod.file.path"].prefixes.contains("/tmp/"));
    assert_eq!(chmod.fields["chmod.file.path"].basenames, None);
    let (rs, _) = RuleSet::build(
        &[],
        &[rule("q", r#"open.file.path =~ r"^/etc/.*""#, vec![])],
    );
    assert_eq!(
        rs.approvers(EventType::Open),
        None,
        "regexes cannot be approvers"
    );
}

#[test]
fn event_and_action_json_nest_by_secl_name() {
    let (rs, _) = RuleSet::build(
        &[],
        &[rule(
            "shadow_write",
            "open.flags & O_CREAT > 0",
            vec![act(ActionKind::Set(SetSpec {
                value: Some(1.into()),
                ..set("n", "process")
            }))],
        )],
    );
    let ev = open_event();
    let m = rs.evaluate(&ev, &MemoryStore::new());
    // The match report's open body and its actions (its envelope is rampart-policy's `report`).
    assert_eq!(m[0].rule.id, "shadow_write");
    let j = serde_json::to_value(&ev).unwrap();
    assert_eq!(j["event"]["type"], "open");
    assert_eq!(j["open"]["file"]["path"], "/etc/shadow");
    assert_eq!(j["open"]["flags"], 0o101);
    assert_eq!(j["process"]["comm"], "vim");
    assert_eq!(j["process"]["ancestors"][1]["comm"], "sshd");
    assert_eq!(j["container"]["id"], "abc123");
    let actions = serde_json::to_value(&m[0].actions).unwrap();
    assert_eq!(actions[0]["type"], "set");
    assert_eq!(actions[0]["name"], "process.n");
}

#[test]
fn datadog_register_rule() {
    let (rs, report) = RuleSet::build(
        &[MacroSpec {
            id: "SHELL_NAMES".into(),
            values: Some(vec!["bash".into()]),
            expression: None,
        }],
        &[rule(
            "git_cve_2025_48384",
            r#"exec.comm in SHELL_NAMES && process.ancestors[A].comm == "sshd" && process.ancestors[A].argv in ["-D"]"#,
            vec![],
        )],
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(rs.evaluate(&exec_event(), &MemoryStore::new()).len(), 1);
}

/// A boolean macro the rule names is a register scope of its own: two macros using `[A]` in one rule are
/// satisfied by different ancestors, and a negated one means "no ancestor"; unless the rule itself names the
/// letter, which then is one element for both.
#[test]
fn registers_in_named_macros_are_local_to_them() {
    let macro_expr = |id: &str, e: &str| MacroSpec {
        id: id.into(),
        values: None,
        expression: Some(e.into()),
    };
    let (rs, report) = RuleSet::build(
        &[
            macro_expr(
                "SSHD_ANCESTOR",
                r#"process.ancestors[A].comm == "sshd" && process.ancestors[A].pid == 100"#,
            ),
            macro_expr(
                "INIT_ANCESTOR",
                r#"process.ancestors[A].comm == "systemd" && INIT_PID_A"#,
            ),
            // A macro named by a macro shares its scope (here: the same ancestor as INIT_ANCESTOR's comm).
            macro_expr("INIT_PID_A", "process.ancestors[A].pid == 1"),
        ],
        &[
            rule(
                "both",
                "exec.file.name == \"bash\" && SSHD_ANCESTOR && INIT_ANCESTOR",
                vec![],
            ),
            rule(
                "not_sshd",
                "exec.file.name == \"bash\" && !(SSHD_ANCESTOR)",
                vec![],
            ),
            rule(
                "not_init",
                "exec.file.name == \"bash\" && !(INIT_ANCESTOR)",
                vec![],
            ),
            // The rule names [A] itself: the macro's [A] is the rule's element (sshd is not pid 1).
            rule(
                "shared_with_the_rule",
                r#"exec.file.name == "bash" && process.ancestors[A].comm == "sshd" && INIT_PID_A"#,
                vec![],
            ),
            rule(
                "shared_and_true",
                r#"exec.file.name == "bash" && process.ancestors[A].comm == "systemd" && INIT_PID_A"#,
                vec![],
            ),
            rule(
                "own_register_too",
                r#"exec.file.name == "bash" && process.ancestors[B].comm == "sshd" && process.ancestors[B].argv in ["-D"] && INIT_ANCESTOR"#,
                vec![],
            ),
        ],
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let hits: Vec<String> = rs
        .evaluate(&exec_event(), &MemoryStore::new())
        .iter()
        .map(|m| m.rule.id.clone())
        .collect();
    assert_eq!(hits, ["both", "shared_and_true", "own_register_too"]);
}

#[test]
fn fim_pseudo_fields_expand_to_every_file_event() {
    let (rs, report) = RuleSet::build(
        &[],
        &[rule(
            "pam",
            r#"fim.write.file.path in [~"/etc/pam.d/**", "/etc/pam.conf"]"#,
            vec![],
        )],
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let types: Vec<_> = rs
        .rules()
        .iter()
        .map(|r| r.event_type().unwrap().as_str())
        .collect();
    assert_eq!(
        types,
        ["open", "chmod", "chown", "link", "unlink", "utimes", "rename"]
    );
    assert!(rs.rules().iter().all(|r| r.id == "pam"));
    // A read-only open does not match; a write does.
    let mut ev = open_event();
    if let rampart_model::EventData::Open(o) = &mut ev.data {
        o.file = rampart_model::events::FileTarget::from_path("/etc/pam.d/sshd");
        o.flags = 0;
    }
    assert!(rs.evaluate(&ev, &MemoryStore::new()).is_empty());
    if let rampart_model::EventData::Open(o) = &mut ev.data {
        o.flags = 1;
    }
    assert_eq!(rs.evaluate(&ev, &MemoryStore::new()).len(), 1);
}

#[test]
fn unsupported_datadog_event_types_say_so() {
    let (_, report) = RuleSet::build(&[], &[rule("p", r#"packet.filter == "tcp""#, vec![])]);
    assert!(
        report.errors[0]
            .error
            .msg
            .contains("not supported by Rampart"),
        "{:?}",
        report.errors
    );
}

#[test]
fn rule_sets_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleSet>();
    assert_send_sync::<MemoryStore>();
    let (rs, _) = RuleSet::build(&[], &[rule("t", r#"exec.file.name == "bash""#, vec![])]);
    let rs = std::sync::Arc::new(rs);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let rs = rs.clone();
            std::thread::spawn(move || rs.evaluate(&exec_event(), &MemoryStore::new()).len())
        })
        .collect();
    assert!(handles.into_iter().all(|h| h.join().unwrap() == 1));
}

#[test]
fn globs_anywhere_on_the_host_become_name_approvers() {
    let (rs, report) = RuleSet::build(
        &[],
        &[
            rule(
                "keys",
                r#"open.file.path in [~"/**/.ssh/id_*", ~"/**/.ssh/authorized_keys"]"#,
                vec![],
            ),
            rule("memfd", r#"open.file.name =~ "memfd:*""#, vec![]),
            rule(
                "moved",
                r#"rename.file.destination.path =~ "/**/.bashrc""#,
                vec![],
            ),
        ],
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let open = rs.approvers(EventType::Open).expect("narrowed by name");
    assert!(
        !open.fields.contains_key("open.file.path"),
        "`/` narrows nothing: {open:?}"
    );
    let name = &open.fields["open.file.name"];
    assert!(name.exact.contains("authorized_keys"), "{name:?}");
    assert_eq!(
        name.name_prefixes.iter().collect::<Vec<_>>(),
        ["id_", "memfd:"]
    );
    let rename = rs.approvers(EventType::Rename).unwrap();
    assert!(rename.fields["rename.file.destination.name"]
        .exact
        .contains(".bashrc"));
    // Nothing literal at the start of the basename: no approver.
    let (rs, _) = RuleSet::build(
        &[],
        &[rule("ext", r#"open.file.path =~ "/**/*.pem""#, vec![])],
    );
    assert_eq!(rs.approvers(EventType::Open), None);
}
