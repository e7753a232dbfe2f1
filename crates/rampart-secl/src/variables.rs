//! Rule variables (`${name}`, `${process.name}`, `${container.name}`, `${cgroup.name}`): their declarations,
//! the [`VariableStore`] the engine reads at evaluation time, and an in-memory store with scopes, append,
//! size bounds, TTLs and default values.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

use rampart_model::fields::{Sink, Val};
use rampart_model::Event;

use crate::fxhash::FxHashMap;

/// Where a variable lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VarScope {
    Global,
    Process,
    Container,
    Cgroup,
}

impl VarScope {
    pub fn parse(s: &str) -> Option<VarScope> {
        match s {
            "" | "global" => Some(VarScope::Global),
            "process" => Some(VarScope::Process),
            "container" => Some(VarScope::Container),
            "cgroup" => Some(VarScope::Cgroup),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VarScope::Global => "global",
            VarScope::Process => "process",
            VarScope::Container => "container",
            VarScope::Cgroup => "cgroup",
        }
    }
}

/// Base type of a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarType {
    Int,
    Str,
    Bool,
}

/// An owned variable value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(untagged)]
pub enum VarValue {
    Int(i64),
    Str(String),
    Bool(bool),
}

impl VarValue {
    pub fn as_val(&self) -> Val<'_> {
        match self {
            VarValue::Int(i) => Val::Int(*i),
            VarValue::Str(s) => Val::Str(s),
            VarValue::Bool(b) => Val::Bool(*b),
        }
    }

    pub fn from_val(v: Val<'_>) -> VarValue {
        match v {
            Val::Int(i) => VarValue::Int(i),
            Val::Str(s) => VarValue::Str(s.to_string()),
            Val::Bool(b) => VarValue::Bool(b),
            Val::Ip(ip) => VarValue::Str(ip.to_string()),
        }
    }

    pub fn var_type(&self) -> VarType {
        match self {
            VarValue::Int(_) => VarType::Int,
            VarValue::Str(_) => VarType::Str,
            VarValue::Bool(_) => VarType::Bool,
        }
    }

    pub fn zero(t: VarType) -> VarValue {
        match t {
            VarType::Int => VarValue::Int(0),
            VarType::Str => VarValue::Str(String::new()),
            VarType::Bool => VarValue::Bool(false),
        }
    }
}

impl fmt::Display for VarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarValue::Int(i) => write!(f, "{i}"),
            VarValue::Str(s) => f.write_str(s),
            VarValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A variable declared by `set` actions; its type is fixed across every rule that sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct VarDecl {
    /// Name as referenced in expressions, with its scope prefix (`cgroup.cred_categories_accessed`).
    pub name: String,
    pub scope: VarScope,
    pub ty: VarType,
    /// Set with `append: true`: a list of values.
    pub list: bool,
    /// Value read while the variable is unset.
    pub default: Option<VarValue>,
    /// Maximum number of values of a list (oldest evicted first).
    pub size: usize,
    /// Private variables are kept out of serialized events.
    pub private: bool,
    /// A process variable copied to the children the process forks.
    pub inherited: bool,
}

/// Default bound of an appended list, as Datadog's.
pub const DEFAULT_LIST_SIZE: usize = 100;

/// The instance of a scope an event points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScopeKey {
    Global,
    Process(u32),
    Container(String),
    Cgroup(u64),
}

impl ScopeKey {
    /// The scope instance of `event` (None when the event has none, e.g. container scope outside a container).
    pub fn of(scope: VarScope, event: &Event) -> Option<ScopeKey> {
        match scope {
            VarScope::Global => Some(ScopeKey::Global),
            VarScope::Process => Some(ScopeKey::Process(event.process.pid)),
            VarScope::Container => {
                let id = event
                    .container
                    .as_ref()
                    .map(|c| c.id.as_str())
                    .or(event.process.container.as_ref().map(|c| c.id.as_str()))
                    .filter(|id| !id.is_empty())?;
                Some(ScopeKey::Container(id.to_string()))
            }
            VarScope::Cgroup => Some(ScopeKey::Cgroup(event.process.cgroup.id)),
        }
    }
}

/// How a `set` action changes a variable.
#[derive(Debug, Clone, PartialEq)]
pub struct SetOp {
    pub values: Vec<VarValue>,
    pub append: bool,
    /// Time to live in nanoseconds (each appended value expires on its own).
    pub ttl: Option<u64>,
    pub size: usize,
}

/// What the engine reads variables from. The agent owns the real, scoped storage (process-cache entries,
/// container lifetimes); [`MemoryStore`] is the in-memory implementation used by `rules test` and tests.
pub trait VariableStore: Send + Sync {
    /// Visits the current values of `decl` in `key` at time `now` (ns). Returns `None` when the variable is
    /// unset (the engine then uses the declared default), otherwise whether the sink asked to stop.
    fn visit(&self, decl: &VarDecl, key: &ScopeKey, now: u64, sink: &mut Sink<'_>) -> Option<bool>;

    /// Applies a `set` action.
    fn set(&self, decl: &VarDecl, key: ScopeKey, op: SetOp, now: u64);
}

/// A store that holds nothing: every variable reads its default.
pub struct NoVariables;

impl VariableStore for NoVariables {
    fn visit(&self, _: &VarDecl, _: &ScopeKey, _: u64, _: &mut Sink<'_>) -> Option<bool> {
        None
    }
    fn set(&self, _: &VarDecl, _: ScopeKey, _: SetOp, _: u64) {}
}

#[derive(Debug, Default)]
struct Slot {
    /// (value, expiry in ns; u64::MAX = never).
    values: VecDeque<(VarValue, u64)>,
}

/// In-memory [`VariableStore`], keyed by variable name and scope instance.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// name → scope instance → values (nested so lookups by `&str` allocate nothing).
    slots: Mutex<FxHashMap<String, FxHashMap<ScopeKey, Slot>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Current values (tests and debugging).
    pub fn get(&self, name: &str, key: &ScopeKey, now: u64) -> Option<Vec<VarValue>> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.get(name)?.get(key)?;
        let live: Vec<_> = slot
            .values
            .iter()
            .filter(|(_, exp)| *exp > now)
            .map(|(v, _)| v.clone())
            .collect();
        (!live.is_empty()).then_some(live)
    }

    /// Drops every value of a scope instance (a process exited, a container stopped).
    /// Copies the current values of the variables named in `names` from one scope instance to another
    /// (process variables inherited by a forked child).
    pub fn copy_scope(&self, names: &[&str], from: &ScopeKey, to: &ScopeKey) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        for name in names {
            let Some(per_var) = slots.get_mut(*name) else {
                continue;
            };
            let Some(values) = per_var.get(from).map(|s| s.values.clone()) else {
                continue;
            };
            per_var.insert(to.clone(), Slot { values });
        }
    }

    pub fn forget_scope(&self, key: &ScopeKey) {
        for per_var in self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values_mut()
        {
            per_var.remove(key);
        }
    }
}

impl VariableStore for MemoryStore {
    fn visit(&self, decl: &VarDecl, key: &ScopeKey, now: u64, sink: &mut Sink<'_>) -> Option<bool> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots.get(&decl.name)?.get(key)?;
        let mut live = slot.values.iter().filter(|(_, exp)| *exp > now).peekable();
        live.peek()?;
        Some(live.any(|(v, _)| sink(v.as_val())))
    }

    fn set(&self, decl: &VarDecl, key: ScopeKey, op: SetOp, now: u64) {
        let expiry = op.ttl.map_or(u64::MAX, |t| now.saturating_add(t));
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let slot = slots
            .entry(decl.name.clone())
            .or_default()
            .entry(key)
            .or_default();
        slot.values.retain(|(_, exp)| *exp > now);
        if op.append {
            for v in op.values {
                // A value already present gets its expiry refreshed rather than a duplicate.
                slot.values.retain(|(x, _)| *x != v);
                slot.values.push_back((v, expiry));
            }
            while slot.values.len() > op.size.max(1) {
                slot.values.pop_front();
            }
        } else {
            slot.values.clear();
            slot.values
                .extend(op.values.into_iter().map(|v| (v, expiry)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(name: &str, list: bool) -> VarDecl {
        VarDecl {
            name: name.into(),
            scope: VarScope::Process,
            ty: VarType::Str,
            list,
            default: None,
            size: 3,
            private: false,
            inherited: false,
        }
    }

    fn values(s: &MemoryStore, d: &VarDecl, k: &ScopeKey, now: u64) -> Vec<String> {
        let mut out = Vec::new();
        s.visit(d, k, now, &mut |v| {
            out.push(format!("{v:?}"));
            false
        });
        out
    }

    #[test]
    fn append_ttl_size_and_scopes() {
        let s = MemoryStore::new();
        let d = decl("process.seen", true);
        let k1 = ScopeKey::Process(1);
        let op = |v: &str, ttl| SetOp {
            values: vec![VarValue::Str(v.into())],
            append: true,
            ttl,
            size: 3,
        };
        s.set(&d, k1.clone(), op("a", Some(10)), 0);
        s.set(&d, k1.clone(), op("b", None), 5);
        assert_eq!(values(&s, &d, &k1, 6), ["Str(\"a\")", "Str(\"b\")"]);
        assert_eq!(values(&s, &d, &k1, 11), ["Str(\"b\")"], "a expired");
        for v in ["c", "d", "e"] {
            s.set(&d, k1.clone(), op(v, None), 12);
        }
        assert_eq!(
            s.get("process.seen", &k1, 12).unwrap().len(),
            3,
            "bounded to size"
        );
        assert!(
            s.visit(&d, &ScopeKey::Process(2), 0, &mut |_| false)
                .is_none(),
            "other scope instance unset"
        );
        s.set(
            &d,
            k1.clone(),
            SetOp {
                values: vec![VarValue::Str("z".into())],
                append: false,
                ttl: None,
                size: 1,
            },
            13,
        );
        assert_eq!(values(&s, &d, &k1, 13), ["Str(\"z\")"]);
        s.copy_scope(&["process.seen"], &k1, &ScopeKey::Process(7));
        assert_eq!(
            values(&s, &d, &ScopeKey::Process(7), 13),
            ["Str(\"z\")"],
            "copied to the child"
        );
        s.forget_scope(&k1);
        assert!(s.get("process.seen", &k1, 13).is_none());
    }
}
