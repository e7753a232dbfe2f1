//! Datadog's Windows model, for type-checking only: Rampart runs on Linux, so these fields never see an
//! event, but shared policies (the Datadog default policy has 37 Windows rules) still type-check and are
//! reported as filtered by their `os == "windows"` filter rather than as broken.

use crate::fields::builder::{scalar, Acc, Builder, Json};
use crate::fields::{FieldScope, FieldType, Val, CASE_INSENSITIVE, PATH};

/// Windows-only event types (`set` is a registry value write).
pub(crate) const EVENT_TYPES: &[&str] = &[
    "create",
    "write",
    "delete",
    "rename_file",
    "create_key",
    "open_key",
    "delete_key",
    "set",
    "set_key_value",
];

/// Every Windows field reads "" (never evaluated on Linux) and is not serialised.
pub(super) fn declare(b: &mut Builder) {
    let mut add = |name: &str, ty, scope, flags| {
        let empty = Acc::One(scalar(|_| Val::Str("")));
        b.ev(name, ty, scope, flags, Json::Computed, empty);
    };
    use FieldType::Str;
    for prefix in ["exec", "process", "process.parent", "exit"] {
        // `Windows("*")` is a Windows field common to every event type.
        let scope = match prefix {
            "exec" => FieldScope::Windows("exec"),
            "exit" => FieldScope::Windows("exit"),
            _ => FieldScope::Windows("*"),
        };
        add(&format!("{prefix}.cmdline"), Str, scope, CASE_INSENSITIVE);
        add(&format!("{prefix}.user_sid"), Str, scope, 0);
        add(
            &format!("{prefix}.file.device_path"),
            Str,
            scope,
            PATH | CASE_INSENSITIVE,
        );
    }
    for ev in ["create", "write", "delete", "rename_file"] {
        let scope = FieldScope::Windows(ev);
        for f in ["file.path", "file.device_path"] {
            add(&format!("{ev}.{f}"), Str, scope, PATH | CASE_INSENSITIVE);
        }
        add(&format!("{ev}.file.name"), Str, scope, CASE_INSENSITIVE);
    }
    for ev in [
        "create_key",
        "open_key",
        "delete_key",
        "set",
        "set_key_value",
    ] {
        let scope = FieldScope::Windows(ev);
        for f in ["key_path", "key_name", "value_name"] {
            add(&format!("{ev}.registry.{f}"), Str, scope, CASE_INSENSITIVE);
        }
    }
}
