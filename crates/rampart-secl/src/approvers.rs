//! Approvers: for one event type, the field values some rule requires, so the kernel can drop every event
//! no rule could match (Datadog's "ACCEPT" mode). Derived structurally from the compiled rules: a conjunction
//! needs one approvable operand (the best one is kept), a disjunction needs all of them. If any rule of the
//! event type cannot be narrowed, there are no approvers for it and the kernel must send everything.

use std::collections::{BTreeMap, BTreeSet};

use rampart_model::EventType;
use serde::Serialize;

use crate::ast::BinOp;
use crate::eval::{BNode, CmpOp, IntMatcher, Operand, Quant};
use crate::ruleset::RuleSet;
use crate::value::Const;

/// What the kernel may filter on for one field. An event passes the field if it satisfies any entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldApprovers {
    /// Exact values (paths, names).
    pub exact: BTreeSet<String>,
    /// Path prefixes (from globs such as `/etc/*`).
    pub prefixes: BTreeSet<String>,
    /// Basenames every approved path ends with (`None` when some approved path has no literal basename,
    /// e.g. `/etc/*`): the kernel can then filter by dentry name alone.
    pub basenames: Option<BTreeSet<String>>,
    /// Exact integer values.
    pub ints: BTreeSet<i64>,
    /// Flag masks: the event passes if `value & mask != 0`.
    pub masks: BTreeSet<i64>,
    /// Name prefixes (name fields only): the event passes if the name starts with one (`~"id_*"`, or a
    /// path glob `~"/**/.ssh/id_*"` whose directory part narrows nothing).
    pub name_prefixes: BTreeSet<String>,
}

/// Approvers of one event type, by field name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Approvers {
    pub fields: BTreeMap<String, FieldApprovers>,
}

#[derive(Debug, Clone, PartialEq)]
enum Approval {
    Exact(String),
    Prefix {
        prefix: String,
        basename: Option<String>,
    },
    Int(i64),
    Mask(i64),
    NamePrefix(String),
}

/// The field that says an activity came through an ia32 syscall: the kernel's file filter can admit exactly
/// those calls (ints {1}: true), so a file rule that requires it is narrowed by it.
pub const COMPAT_FIELD: &str = "event.compat";

/// The event types of the kernel's file family (`bpf/file.h`): the syscalls whose file filter these
/// approvers feed.
fn in_file_family(t: EventType) -> bool {
    use EventType::*;
    matches!(
        t,
        Open | Chmod
            | Chown
            | Mkdir
            | Rmdir
            | Unlink
            | Rename
            | Link
            | Utimes
            | Setxattr
            | Removexattr
            | Truncate
            | Chdir
    )
}

/// Fields the kernel can filter on, per event type, with a weight (higher = more selective).
fn capable(t: EventType, field: &str) -> Option<u32> {
    use EventType::*;
    if field == COMPAT_FIELD {
        // ia32 syscalls are rare on a 64-bit host: about as selective as a basename
        return in_file_family(t).then_some(10);
    }
    let p = t.as_str();
    let rest = field.strip_prefix(p)?.strip_prefix('.')?;
    let file_event = in_file_family(t) || matches!(t, Splice | Mmap | LoadModule | Exec);
    match rest {
        "file.path" if file_event => Some(15),
        "file.name" if file_event => Some(10),
        "file.destination.path" if matches!(t, Rename | Link) => Some(15),
        "file.destination.name" if matches!(t, Rename | Link) => Some(10),
        "flags" if matches!(t, Open | Mmap) => Some(5),
        "protection" if t == Mmap => Some(5),
        "vm_protection" | "req_protection" if t == Mprotect => Some(5),
        "pipe_entry_flag" | "pipe_exit_flag" if t == Splice => Some(5),
        "cmd" if t == Bpf => Some(5),
        _ => None,
    }
}

type Constraints = Vec<(String, Approval)>;

/// Directories so busy (libraries, packages, procfs, homes) that a prefix on them lets most events
/// through: a flag mask of the same rule (e.g. "opened for writing") narrows better.
const BROAD_DIRS: &[&str] = &[
    "/",
    "/usr/",
    "/lib/",
    "/lib64/",
    "/usr/lib/",
    "/usr/lib64/",
    "/usr/share/",
    "/usr/local/",
    "/var/",
    "/var/lib/",
    "/home/",
    "/root/",
    "/opt/",
    "/tmp/",
    "/proc/",
    "/sys/",
    "/dev/",
    "/run/",
];

/// Whether the directory part of `prefix` is one of [`BROAD_DIRS`].
fn is_broad(prefix: &str) -> bool {
    let dir = prefix.rfind('/').map_or("/", |i| &prefix[..=i]);
    BROAD_DIRS.contains(&dir)
}

fn approval_weight(t: EventType, field: &str, a: &Approval) -> u32 {
    let w = capable(t, field).unwrap_or(0);
    match a {
        Approval::Prefix {
            prefix,
            basename: None,
        } => {
            if is_broad(prefix) {
                w.min(4)
            } else {
                w
            }
        }
        _ => w,
    }
}

/// How well a rule's constraints narrow: their weakest approval.
fn weight(t: EventType, c: &Constraints) -> u32 {
    c.iter()
        .map(|(f, a)| approval_weight(t, f, a))
        .min()
        .unwrap_or(0)
}

fn derive(t: EventType, node: &BNode) -> Option<Constraints> {
    match node {
        BNode::And(children) => children
            .iter()
            .filter_map(|c| derive(t, c))
            .max_by_key(|c| (weight(t, c), std::cmp::Reverse(c.len()))),
        BNode::Or(children) => {
            let mut all = Vec::new();
            for c in children {
                all.extend(derive(t, c)?);
            }
            Some(all)
        }
        BNode::Register { body, .. } => derive(t, body),
        // `event.compat` (== true)
        BNode::Bool {
            lhs: Operand::Field(f),
            value: true,
        } => {
            capable(t, &f.name)?;
            Some(vec![(f.name.clone(), Approval::Int(1))])
        }
        BNode::Str {
            lhs: Operand::Field(f),
            m,
            quant: Quant::Any,
        } => {
            capable(t, &f.name)?;
            if m.has_regex() || m.case_insensitive() {
                return None;
            }
            let mut out = Vec::new();
            for v in m.exact_values() {
                out.push((f.name.clone(), Approval::Exact(v.to_string())));
            }
            for g in &m.globs {
                out.push(glob_approval(t, &f.name, f.path, g)?);
            }
            (!out.is_empty()).then_some(out)
        }
        BNode::Int {
            lhs: Operand::Field(f),
            m: IntMatcher::Set(vals),
            quant: Quant::Any,
        } => {
            capable(t, &f.name)?;
            Some(
                vals.iter()
                    .map(|v| (f.name.clone(), Approval::Int(*v)))
                    .collect(),
            )
        }
        // `field & MASK > 0`, `field & MASK >= 1`, `field & MASK == MASK`.
        BNode::Int {
            lhs: Operand::Arith(l, BinOp::BitAnd, r),
            m,
            quant: Quant::Any,
        } => {
            let (Operand::Field(f), Operand::Const(Const::Int(mask))) = (&**l, &**r) else {
                return None;
            };
            capable(t, &f.name)?;
            let nonzero = match m {
                IntMatcher::Cmp(CmpOp::Gt, 0) | IntMatcher::Cmp(CmpOp::Ge, 1) => true,
                IntMatcher::Set(v) => v.iter().all(|x| *x != 0),
                _ => false,
            };
            (nonzero && *mask != 0).then(|| vec![(f.name.clone(), Approval::Mask(*mask))])
        }
        // `field & MASK != 0`.
        BNode::Not(inner) => match &**inner {
            BNode::Int {
                lhs: Operand::Arith(l, BinOp::BitAnd, r),
                m: IntMatcher::Set(v),
                quant: Quant::Any,
            } if v.as_slice() == [0] => {
                let (Operand::Field(f), Operand::Const(Const::Int(mask))) = (&**l, &**r) else {
                    return None;
                };
                capable(t, &f.name)?;
                (*mask != 0).then(|| vec![(f.name.clone(), Approval::Mask(*mask))])
            }
            _ => None,
        },
        _ => None,
    }
}

/// The name field that goes with a path field (`open.file.path` → `open.file.name`).
fn name_field(t: EventType, path_field: &str) -> Option<String> {
    let f = format!("{}.name", path_field.strip_suffix(".path")?);
    capable(t, &f).map(|_| f)
}

/// What the kernel can check for one glob: a directory prefix (with the literal basename when there is
/// one), or, when the directory part is only `/` (or a busy directory and the basename is literal), the
/// basename itself or its literal start on the name field. A name prefix shorter than two characters
/// narrows nothing.
fn glob_approval(
    t: EventType,
    field: &str,
    path: bool,
    g: &crate::glob::Glob,
) -> Option<(String, Approval)> {
    const MIN_NAME_PREFIX: usize = 2;
    if !path {
        // A name pattern: its literal start (`memfd:*` → `memfd:`).
        let lit = g.literal_prefix();
        return (lit.len() >= MIN_NAME_PREFIX && !lit.contains('/'))
            .then(|| (field.to_string(), Approval::NamePrefix(lit)));
    }
    let prefix = g.literal_prefix();
    let basename = g.literal_basename().map(str::to_string);
    // Under a busy directory (`/proc/*/mem`) the basename alone narrows better than the prefix.
    if prefix.len() > 1 && !(basename.is_some() && is_broad(&prefix)) {
        return Some((field.to_string(), Approval::Prefix { prefix, basename }));
    }
    let name = name_field(t, field)?;
    match basename {
        Some(b) => Some((name, Approval::Exact(b))),
        None => {
            let lit = g.basename_literal_prefix()?;
            (lit.len() >= MIN_NAME_PREFIX).then(|| (name, Approval::NamePrefix(lit.to_string())))
        }
    }
}

fn basename(path: &str) -> Option<String> {
    let b = rampart_model::file::basename(path);
    (!b.is_empty() && b != "/").then(|| b.to_string())
}

impl RuleSet {
    /// Approvers for event type `t`, or `None` when some rule of that type cannot be narrowed (or no rule
    /// has that type: then the kernel need not send the event at all, which `rules_for(t).is_empty()` says).
    pub fn approvers(&self, t: EventType) -> Option<Approvers> {
        let rules = self.rules_for(t);
        if rules.is_empty() {
            return None;
        }
        let mut out = Approvers::default();
        let mut path_fields_without_basename = BTreeSet::new();
        for rule in rules {
            for (field, a) in derive(t, &rule.expr.node)? {
                let fa = out.fields.entry(field.clone()).or_default();
                match a {
                    Approval::Exact(v) => {
                        if field.ends_with(".path") {
                            match basename(&v) {
                                Some(b) => {
                                    fa.basenames.get_or_insert_with(BTreeSet::new).insert(b);
                                }
                                None => {
                                    path_fields_without_basename.insert(field.clone());
                                }
                            }
                        }
                        fa.exact.insert(v);
                    }
                    Approval::Prefix { prefix, basename } => {
                        match basename {
                            Some(b) => {
                                fa.basenames.get_or_insert_with(BTreeSet::new).insert(b);
                            }
                            None => {
                                path_fields_without_basename.insert(field.clone());
                            }
                        }
                        fa.prefixes.insert(prefix);
                    }
                    Approval::Int(i) => {
                        fa.ints.insert(i);
                    }
                    Approval::Mask(m) => {
                        fa.masks.insert(m);
                    }
                    Approval::NamePrefix(p) => {
                        fa.name_prefixes.insert(p);
                    }
                }
            }
        }
        for f in path_fields_without_basename {
            if let Some(fa) = out.fields.get_mut(&f) {
                fa.basenames = None;
            }
        }
        Some(out)
    }
}
