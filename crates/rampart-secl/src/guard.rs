//! Guards: conditions many rules require of one scalar field (`process.container.id != ""`,
//! `process.file.mode & S_ISUID > 0`). Each is tested once per event, by a direct read of the field, and a
//! failing guard drops every rule that requires it, instead of each rule finding out on its own.

use std::collections::HashMap;

use rampart_model::fields::{Scalar, Val};
use rampart_model::Event;

use crate::ast::BinOp;
use crate::eval::{BNode, CmpOp, FieldOp, IntMatcher, Operand, Quant};
use crate::index::Bits;

#[derive(Clone, PartialEq, Eq, Hash)]
enum Test {
    /// `field != ""`.
    NonEmpty,
    /// `field & mask > 0`.
    AnyBit(i64),
}

pub(crate) struct Guard {
    /// The field (for tests and debugging: lookups go through the build's index).
    #[cfg_attr(not(test), allow(dead_code))]
    name: String,
    get: Scalar,
    test: Test,
    /// The rules that require it.
    pub(crate) rules: Bits,
}

impl Guard {
    #[inline]
    pub(crate) fn holds(&self, event: &Event) -> bool {
        match (&self.test, (self.get)(event)) {
            (Test::NonEmpty, v) => v != Val::Str(""),
            (Test::AnyBit(mask), Val::Int(i)) => i & mask > 0,
            (Test::AnyBit(_), _) => false,
        }
    }
}

/// A plain single-valued field (no register: its value does not depend on the element bound).
fn scalar(o: &Operand) -> Option<(&FieldOp, &Scalar)> {
    match o {
        Operand::Field(f) if !f.reg => f.scalar.as_ref().map(|s| (f, s)),
        _ => None,
    }
}

/// The guard a conjunct is, if it has one of the recognised shapes (evaluating exactly as the node does).
fn guard_of(node: &BNode) -> Option<(&FieldOp, &Scalar, Test)> {
    match node {
        BNode::Not(inner) => match &**inner {
            BNode::Str {
                lhs,
                m,
                quant: Quant::Any,
            } if m.is_only_empty() => scalar(lhs).map(|(f, s)| (f, s, Test::NonEmpty)),
            _ => None,
        },
        BNode::Int {
            lhs: Operand::Arith(l, BinOp::BitAnd, r),
            m: IntMatcher::Cmp(CmpOp::Gt, 0),
            quant: Quant::Any,
        } => match &**r {
            Operand::Const(crate::value::Const::Int(mask)) => {
                scalar(l).map(|(f, s)| (f, s, Test::AnyBit(*mask)))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The conjuncts every match of `node` satisfies.
fn required(node: &BNode) -> &[BNode] {
    match node {
        BNode::And(v) => v,
        // Any element that satisfies the body satisfies its conjuncts on unregistered fields.
        BNode::Register { body, .. } => required(body),
        other => std::slice::from_ref(other),
    }
}

/// Guards shared by at least two of `rules` (a guard of one rule saves nothing over evaluating the rule).
pub(crate) fn build<'a>(rules: impl Iterator<Item = &'a BNode>) -> Vec<Guard> {
    let mut out: Vec<(Guard, usize)> = Vec::new();
    // (field, test) → position in `out`: a rule may have thousands of conjuncts.
    let mut at: HashMap<(String, Test), usize> = HashMap::new();
    for (i, node) in rules.enumerate() {
        for (f, get, test) in required(node).iter().filter_map(guard_of) {
            let g = match at.get(&(f.name.clone(), test.clone())) {
                Some(&p) => &mut out[p],
                None => {
                    at.insert((f.name.clone(), test.clone()), out.len());
                    out.push((
                        Guard {
                            name: f.name.clone(),
                            get: get.clone(),
                            test,
                            rules: [0; crate::index::WORDS],
                        },
                        0,
                    ));
                    out.last_mut().expect("just pushed")
                }
            };
            crate::index::set(&mut g.0.rules, i);
            g.1 += 1;
        }
    }
    out.into_iter()
        .filter(|(_, n)| *n >= 2)
        .map(|(g, _)| g)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{compile, Env};

    fn nodes(exprs: &[&str]) -> Vec<BNode> {
        let env = Env::default();
        exprs
            .iter()
            .map(|e| compile(e, &env).unwrap().node)
            .collect()
    }

    #[test]
    fn shared_required_conditions_become_guards() {
        let rules = nodes(&[
            r#"process.container.id != "" && exec.file.name == "sh""#,
            r#"exec.file.mode & S_ISUID > 0 && process.container.id != "" && exec.uid != 0"#,
            // Not required (under `||`), and a guard of one rule only: neither counts.
            r#"process.container.id != "" || exec.file.name == "ls""#,
            r#"exec.file.mode & S_ISUID > 0 && process.ancestors[A].comm == "x" && process.ancestors[A].argv == "y""#,
            r#"exec.file.path != "" && exec.file.name == "x""#,
        ]);
        let guards = build(rules.iter());
        let summary: Vec<(&str, Bits)> =
            guards.iter().map(|g| (g.name.as_str(), g.rules)).collect();
        let bits = |ix: &[usize]| {
            let mut b = [0; crate::index::WORDS];
            ix.iter().for_each(|i| crate::index::set(&mut b, *i));
            b
        };
        assert_eq!(
            summary,
            vec![
                ("process.container.id", bits(&[0, 1])),
                ("exec.file.mode", bits(&[1, 3])),
            ]
        );
    }
}
