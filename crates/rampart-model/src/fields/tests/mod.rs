use super::*;
use crate::event::{Event, EventData};
use crate::events::{FileTarget, OpenEvent};
use crate::file::FileInfo;
use crate::process::{Process, ProcessContext, ProcessNode};

fn open_event() -> Event {
    let init = ProcessNode::new(
        Process {
            pid: 1,
            comm: "systemd".into(),
            ..Default::default()
        },
        None,
    );
    let sshd = ProcessNode::new(
        Process {
            pid: 10,
            comm: "sshd".into(),
            file: FileInfo::from_path("/usr/sbin/sshd"),
            ..Default::default()
        },
        Some(init),
    );
    let mut p = Process {
        pid: 20,
        comm: "bash".into(),
        file: FileInfo::from_path("/bin/bash"),
        ..Default::default()
    };
    p.set_argv(vec![
        "bash".into(),
        "-lc".into(),
        "--rcfile=/x".into(),
        "-T".into(),
        "8".into(),
    ]);
    let node = ProcessNode::new(p, Some(sshd));
    Event::new(
        5,
        ProcessContext::new(node),
        EventData::Open(OpenEvent {
            file: FileTarget::from_path("/etc/shadow"),
            flags: 0o101,
            retval: 3,
            syscall: None,
        }),
    )
}

#[test]
fn registry_has_core_fields_with_types() {
    let r = registry();
    assert!(r.len() > 500, "{} fields", r.len());
    let f = r.get("open.file.path").unwrap();
    assert_eq!(f.ty, FieldType::Str);
    assert!(f.path && f.has_length);
    assert_eq!(f.event_type(), Some(EventType::Open));
    let a = r.get("process.ancestors.file.name").unwrap();
    assert_eq!(a.iterator.as_deref(), Some("process.ancestors"));
    assert!(r.get("dns.question.name").unwrap().case_insensitive);
    assert!(r.get("exec.argv").unwrap().array);
    assert_eq!(
        r.get("exec.file.change_time").unwrap().ty,
        FieldType::Timestamp
    );
    assert!(matches!(
        r.get("set.registry.key_path").unwrap().scope,
        FieldScope::Windows("set")
    ));
    assert!(r.get("nope.field").is_none());
}

#[test]
fn accessors_read_the_event() {
    let r = registry();
    let ev = open_event();
    assert_eq!(
        r.get("open.file.path").unwrap().values(&ev),
        vec![serde_json::json!("/etc/shadow")]
    );
    assert_eq!(
        r.get("open.file.name").unwrap().values(&ev),
        vec![serde_json::json!("shadow")]
    );
    assert_eq!(
        r.get("open.flags").unwrap().values(&ev),
        vec![serde_json::json!(0o101)]
    );
    assert_eq!(
        r.get("process.parent.comm").unwrap().values(&ev),
        vec![serde_json::json!("sshd")]
    );
    assert_eq!(
        r.get("process.ancestors.comm").unwrap().values(&ev),
        vec![serde_json::json!("sshd"), serde_json::json!("systemd")]
    );
    assert_eq!(
        r.get("process.ancestors.length").unwrap().values(&ev),
        vec![serde_json::json!(2)]
    );
    let flags = r.get("process.args_flags").unwrap().values(&ev);
    assert_eq!(
        flags,
        vec![
            serde_json::json!("l"),
            serde_json::json!("c"),
            serde_json::json!("lc"),
            serde_json::json!("T")
        ]
    );
    let opts = r.get("process.args_options").unwrap().values(&ev);
    assert_eq!(
        opts,
        vec![serde_json::json!("rcfile=/x"), serde_json::json!("T=8")]
    );
    // A register pins the iterator to one ancestor.
    let mut seen = Vec::new();
    r.get("process.ancestors.pid")
        .unwrap()
        .visit(&ev, Some(1), &mut |v| {
            seen.push(format!("{v:?}"));
            false
        });
    assert_eq!(seen, ["Int(1)"]);
    // Absent context reads zero values.
    assert_eq!(
        r.get("ptrace.tracee.pid").unwrap().values(&ev),
        vec![serde_json::json!(0)]
    );
    assert_eq!(
        r.get("container.id").unwrap().values(&ev),
        vec![serde_json::json!("")]
    );
}

#[test]
fn every_event_type_has_fields() {
    let r = registry();
    for t in EventType::ALL {
        if *t == EventType::Fork {
            continue;
        }
        assert!(
            r.iter().any(|f| f.event_type() == Some(*t)),
            "no field for {t}"
        );
    }
}

#[test]
fn payload_json_nests_by_secl_name() {
    use crate::events::{DnsEvent, DnsQuestion, SockAddr, SocketEvent};
    let ev = open_event();
    let json = serde_json::to_value(&ev).unwrap();
    assert_eq!(json["open"]["file"]["path"], "/etc/shadow");
    assert_eq!(json["open"]["flags"], 0o101);
    assert_eq!(serde_json::from_value::<Event>(json).unwrap(), ev);
    let node = ProcessNode::new(Process::default(), None);
    let connect = Event::new(
        1,
        ProcessContext::new(node.clone()),
        EventData::Connect(SocketEvent {
            addr: SockAddr {
                ip: "1.2.3.4".parse().unwrap(),
                port: 443,
                family: 2,
                hostname: vec![],
            },
            protocol: 6,
            retval: 0,
        }),
    );
    let json = serde_json::to_value(&connect).unwrap();
    assert_eq!(json["connect"]["addr"]["ip"], "1.2.3.4");
    assert_eq!(json["connect"]["addr"]["port"], 443);
    assert_eq!(serde_json::from_value::<Event>(json).unwrap(), connect);
    let dns = Event::new(
        1,
        ProcessContext::new(node),
        EventData::Dns(DnsEvent {
            id: 7,
            question: DnsQuestion {
                name: "Example.COM".into(),
                qtype: 16,
                class: 1,
                length: 0,
                count: 1,
            },
            response: None,
        }),
    );
    let json = serde_json::to_value(&dns).unwrap();
    assert_eq!(json["dns"]["question"]["type"], 16);
    assert_eq!(serde_json::from_value::<Event>(json).unwrap(), dns);
    assert_eq!(
        registry()
            .get("connect.addr.is_public")
            .unwrap()
            .values(&connect),
        vec![serde_json::json!(true)]
    );
}

#[test]
fn args_options_short_and_long_values_and_nested_visits() {
    let long = "v".repeat(300);
    let argv: Vec<String> = ["--width", "8", "--path", &long, "-x", "--k=v"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut seen = Vec::new();
    super::leaves::visit_args_options(&argv, &mut |v| {
        if let Val::Str(s) = v {
            // A sink that visits again (a nested evaluation) still gets its own buffer.
            let mut inner = 0;
            super::leaves::visit_args_options(&argv, &mut |_| {
                inner += 1;
                false
            });
            assert_eq!(inner, 3);
            seen.push(s.to_string());
        }
        false
    });
    assert_eq!(seen, ["width=8", &format!("path={long}"), "k=v"]);
}

#[test]
fn privilege_gain_fields_and_json() {
    use crate::events::{PrivilegeCreds, PrivilegeGainEvent, TaskCreds};
    let gain = PrivilegeGainEvent {
        seen_at: EventType::Exec,
        previous: PrivilegeCreds {
            ids: TaskCreds {
                uid: 1000,
                euid: 1000,
                init_user_ns: true,
                ..Default::default()
            },
            ..Default::default()
        },
        current: PrivilegeCreds {
            ids: TaskCreds {
                cap_effective: 1 << 21,
                init_user_ns: true,
                ..Default::default()
            },
            user: "root".into(),
            ..Default::default()
        },
        gained_ids: vec!["uid".into(), "euid".into()],
        gained_caps: 1 << 21,
    };
    let ev = Event::new(
        1,
        ProcessContext::new(ProcessNode::new(Process::default(), None)),
        EventData::PrivilegeGain(gain),
    );
    let r = registry();
    let value = |name: &str| r.get(name).unwrap().values(&ev);
    assert_eq!(
        value("privilege_gain.seen_at"),
        vec![serde_json::json!("exec")]
    );
    assert_eq!(
        value("privilege_gain.gained_ids"),
        vec![serde_json::json!("uid"), serde_json::json!("euid")]
    );
    assert_eq!(
        value("privilege_gain.previous.uid"),
        vec![serde_json::json!(1000)]
    );
    assert_eq!(
        value("privilege_gain.current.uid"),
        vec![serde_json::json!(0)]
    );
    assert_eq!(
        value("privilege_gain.current.user"),
        vec![serde_json::json!("root")]
    );
    assert_eq!(
        value("privilege_gain.current.cap_effective"),
        vec![serde_json::json!(1 << 21)]
    );
    assert_eq!(
        value("privilege_gain.current.init_user_ns"),
        vec![serde_json::json!(true)]
    );
    assert!(r.get("privilege_gain.retval").is_none());
    let json = serde_json::to_value(&ev).unwrap();
    assert_eq!(json["event"]["type"], "privilege_gain");
    assert_eq!(json["privilege_gain"]["seen_at"], "exec");
    assert_eq!(json["privilege_gain"]["previous"]["uid"], 1000);
    assert_eq!(json["privilege_gain"]["gained_ids"][1], "euid");
    assert_eq!(serde_json::from_value::<Event>(json).unwrap(), ev);
}

mod arbitrary;
mod json;
