//! Property: for random events of every type, each field reads what the event's JSON holds at the field's JSON
//! path (its SECL name unless the table says otherwise). Fields the table marks computed are not serialised.

use proptest::prelude::*;
use serde_json::Value;

use super::arbitrary::{event, Tape};
use crate::event::{Event, EventType};
use crate::fields::{registry, FieldDef, FieldScope, FieldType};

/// The values at a dotted path; an array met on the way contributes each element (`process.ancestors.pid`,
/// `dns.response.answers.name`), and so does an array at the end (`exec.argv`). `None` is an absent value; an
/// iterator field whose iterated list is absent (no `ptrace.tracee`) has no value at all. `before_iterator`
/// counts the segments left to walk before the iterated list is reached.
fn json_values(
    json: &Value,
    path: &[&str],
    before_iterator: usize,
    def: &FieldDef,
    out: &mut Vec<Option<Value>>,
) {
    match (json, path) {
        (Value::Array(items), _) => {
            for item in items {
                json_values(item, path, before_iterator, def, out);
            }
        }
        (v, []) => out.push(Some(v.clone())),
        (Value::Object(map), [key, rest @ ..]) => match map.get(*key) {
            Some(v) => json_values(v, rest, before_iterator.saturating_sub(1), def, out),
            None if before_iterator > 0 => {}
            None => out.push(None),
        },
        (v, _) => panic!("{}: {v} has no member at {path:?}", def.name),
    }
}

/// What the evaluator may read for the JSON values: an absent value is the type's zero value (serde skips
/// defaults); an array field may instead have no value for it (an absent list, or an `Option` per element like
/// `dns.response.answers.address`), the same way for every absent value of the field.
fn readings(def: &FieldDef, json: &[Option<Value>]) -> Vec<Vec<Value>> {
    let read = |absent: Option<Value>| -> Vec<Value> {
        json.iter()
            .filter_map(|v| v.clone().or_else(|| absent.clone()))
            .map(normalise)
            .collect()
    };
    let mut readings = vec![read(Some(zero(def.ty)))];
    if def.array {
        readings.push(read(None));
    }
    readings
}

fn zero(ty: FieldType) -> Value {
    match ty {
        FieldType::Int | FieldType::Timestamp => Value::from(0),
        FieldType::Str => Value::from(""),
        FieldType::Bool => Value::from(false),
        FieldType::Ip => Value::from("0.0.0.0"),
    }
}

/// Numbers as the evaluator sees them: `i64`, a `u64` above `i64::MAX` wrapping (`cap_effective` of all ones).
fn normalise(v: Value) -> Value {
    match v.as_u64() {
        Some(u) => Value::from(u as i64),
        None => v,
    }
}

fn applies(def: &FieldDef, ty: EventType) -> bool {
    match def.scope {
        FieldScope::Common => true,
        FieldScope::Event(t) => t == ty,
        FieldScope::Windows(_) => false,
    }
}

/// Checks every field of `ev`; returns how many were compared.
fn check(ev: &Event) -> Result<usize, TestCaseError> {
    let json = serde_json::to_value(ev).expect("an event serialises");
    let mut compared = 0;
    for def in registry().iter().filter(|d| applies(d, ev.event_type())) {
        let Some(path) = &def.json_path else { continue };
        let mut at_path = Vec::new();
        let segments: Vec<&str> = path.split('.').collect();
        let before_iterator = def.iterator.as_ref().map_or(0, |it| it.split('.').count());
        json_values(&json, &segments, before_iterator, def, &mut at_path);
        let read = def.values(ev);
        let expected = readings(def, &at_path);
        prop_assert!(
            expected.contains(&read),
            "{} reads {:?}, its JSON at {} holds {:?}",
            def.name,
            read,
            path,
            at_path
        );
        compared += 1;
    }
    Ok(compared)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_field_reads_the_value_at_its_json_path(words in prop::collection::vec(any::<u64>(), 0..600)) {
        for ty in EventType::ALL {
            let ev = event(*ty, &mut Tape::new(&words));
            let compared = check(&ev)?;
            prop_assert!(compared > 200, "{ty}: only {compared} fields compared");
        }
    }
}

/// The table's explicit exceptions: a field not serialised under its own name says where it is, or that it is
/// computed; every other field's JSON path is its name.
#[test]
fn json_paths_differ_from_names_only_where_declared() {
    let r = registry();
    let moved: Vec<(&str, &str)> = [
        ("exec.syscall.path", "exec.file.path"),
        ("mount.syscall.fs_type", "mount.fs_type"),
        ("exit.pid", "process.pid"),
        ("process.cgroup.file.inode", "process.cgroup.id"),
        ("cgroup.id", "process.cgroup.id"),
    ]
    .into_iter()
    .collect();
    for (name, path) in moved {
        assert_eq!(
            r.get(name).unwrap().json_path.as_deref(),
            Some(path),
            "{name}"
        );
    }
    for computed in [
        "event.os",
        "open.file.rights",
        "process.ancestors.length",
        "exit.cause",
        "create.file.path",
    ] {
        assert_eq!(r.get(computed).unwrap().json_path, None, "{computed}");
    }
    assert_eq!(
        r.get("open.file.path").unwrap().json_path.as_deref(),
        Some("open.file.path")
    );
}
