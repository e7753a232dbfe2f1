//! The SECL field registry: every field name a rule can use, its type, the event type it belongs to, and an
//! accessor that reads it from an [`Event`] without allocating.
//!
//! Accessors are visitors: a field hands each of its values to a sink (`FnMut(Val) -> bool`, `true` = stop).
//! A scalar field yields exactly one value (its zero value when absent, as Datadog does), an array field
//! (`exec.argv`) one value per element, and an iterator field (`process.ancestors.*`) one per ancestor, so the
//! rule engine gets "any element matches" semantics by stopping at the first hit.
//!
//! Each field is declared once, in `table/` (by event family) or in the leaf tables of `leaves.rs` (the file and
//! process groups): its name, type, flags, where the event's JSON holds it, and how it is read (`declare.rs`
//! documents the table syntax, `builder.rs` turns declarations into [`FieldDef`]s).

mod builder;
mod declare;
mod leaves;
mod table;

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use crate::event::{Event, EventType};

/// One value of a field, borrowed from the event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val<'a> {
    Int(i64),
    Str(&'a str),
    Bool(bool),
    Ip(IpAddr),
}

/// The scalar type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Int,
    Str,
    Bool,
    Ip,
    /// Nanoseconds since the epoch; compared with a duration it means "time since" (`created_at < 5s`).
    Timestamp,
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldType::Int => "int",
            FieldType::Str => "string",
            FieldType::Bool => "bool",
            FieldType::Ip => "IP",
            FieldType::Timestamp => "timestamp",
        })
    }
}

/// Which events carry a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldScope {
    /// Every event (`process.*`, `container.*`, `event.*`, `cgroup.*`).
    Common,
    /// One Linux event type (`open.*`).
    Event(EventType),
    /// A Windows-only event type of Datadog's model (`create`, `write`, `set`, …): type-checks, never evaluated on Linux.
    Windows(&'static str),
}

/// Receives a field's values; returns `true` to stop the walk.
pub type Sink<'s> = dyn FnMut(Val<'_>) -> bool + 's;

/// Visits the values of a field in an event. `reg` pins an iterator field to one element (the `[A]` register).
/// Returns `true` when the sink asked to stop.
pub type Getter = Arc<dyn Fn(&Event, Option<usize>, &mut Sink<'_>) -> bool + Send + Sync>;

/// Direct accessor of a field that has exactly one value per event (no iterator, no array): the
/// evaluator's fast path, one call instead of a visit.
pub type Scalar = Arc<dyn for<'a> Fn(&'a Event) -> Val<'a> + Send + Sync>;

pub const ARRAY: u8 = 1;
pub const PATH: u8 = 2;
pub const CASE_INSENSITIVE: u8 = 4;
pub const LENGTH: u8 = 8;

/// The definition of one field.
#[derive(Clone)]
pub struct FieldDef {
    pub name: String,
    pub ty: FieldType,
    pub scope: FieldScope,
    /// Several values per element (`exec.argv`, `container.tags`).
    pub array: bool,
    /// The iterator this field walks (`process.ancestors`), if any; such fields accept registers (`[A]`).
    pub iterator: Option<String>,
    /// A path: `~"…"` patterns are path globs (`*` stays within a segment).
    pub path: bool,
    /// Compared case-insensitively (`dns.question.name`).
    pub case_insensitive: bool,
    /// `.length` is allowed on it.
    pub has_length: bool,
    /// The dotted path of its value in the event's JSON serialisation (an array on the way holds one value per
    /// element); `None` for a computed field (`file.rights`, `event.os`).
    pub json_path: Option<String>,
    getter: Getter,
    scalar: Option<Scalar>,
}

impl fmt::Debug for FieldDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldDef")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .field("scope", &self.scope)
            .field("array", &self.array)
            .field("iterator", &self.iterator)
            .finish()
    }
}

impl FieldDef {
    /// Visits every value of the field in `event`; see [`Getter`].
    #[inline]
    pub fn visit(&self, event: &Event, reg: Option<usize>, sink: &mut Sink<'_>) -> bool {
        (self.getter)(event, reg, sink)
    }

    /// A clone of the accessor, for compiled evaluators that keep it without the definition.
    pub fn getter(&self) -> Getter {
        self.getter.clone()
    }

    /// The direct accessor of a single-valued field.
    pub fn scalar(&self) -> Option<Scalar> {
        self.scalar.clone()
    }

    /// Whether the field can yield several values (array or iterator).
    pub fn is_multi(&self) -> bool {
        self.array || self.iterator.is_some()
    }

    /// The Linux event type the field belongs to (`None` for common and Windows fields).
    pub fn event_type(&self) -> Option<EventType> {
        match self.scope {
            FieldScope::Event(t) => Some(t),
            _ => None,
        }
    }

    /// All values as owned JSON values (debugging and tests; allocates).
    pub fn values(&self, event: &Event) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        self.visit(event, None, &mut |v| {
            out.push(match v {
                Val::Int(i) => serde_json::Value::from(i),
                Val::Str(s) => serde_json::Value::from(s),
                Val::Bool(b) => serde_json::Value::from(b),
                Val::Ip(ip) => serde_json::Value::from(ip.to_string()),
            });
            false
        });
        out
    }
}

/// Name → definition for every field.
pub struct Registry {
    fields: HashMap<String, FieldDef>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<&FieldDef> {
        self.fields.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.values()
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether `name` is the SECL prefix of an event type Rampart or Datadog's Windows model knows.
    pub fn is_event_prefix(&self, name: &str) -> bool {
        name.parse::<EventType>().is_ok() || table::WINDOWS_EVENT_TYPES.contains(&name)
    }
}

/// The process-wide registry, built on first use.
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| Registry {
        fields: table::build(),
    })
}

#[cfg(test)]
mod tests;
