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
}

/// Fields the kernel can filter on, per event type, with a weight (higher = more selective).
fn capable(t: EventType, field: &str) -> Option<u32> {
    let p = t.as_str();
    let rest = field.strip_prefix(p)?.strip_prefix('.')?;
    use EventType::*;
    let file_event = matches!(
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
            | Splice
            | Mmap
            | LoadModule
            | Exec
    );
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

fn weight(t: EventType, c: &Constraints) -> u32 {
    c.iter()
        .map(|(f, _)| capable(t, f).unwrap_or(0))
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
        BNode::Str {
            lhs: Operand::Field(f),
            m,
            quant: Quant::Any,
        } => {
            capable(t, &f.name)?;
            if m.has_regex() {
                return None;
            }
            let mut out = Vec::new();
            for v in m.exact_values() {
                out.push((f.name.clone(), Approval::Exact(v.to_string())));
            }
            for g in &m.globs {
                if !f.path {
                    return None;
                }
                let prefix = g.literal_prefix();
                let basename = g.literal_basename().map(str::to_string);
                if prefix.len() <= 1 && basename.is_none() {
                    return None;
                }
                out.push((f.name.clone(), Approval::Prefix { prefix, basename }));
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
