//! Which kill rules the kernel can decide by itself, and the plan it needs.
//!
//! The kernel can decide an exec rule exactly when its expression is a disjunction of: the executable's
//! basename equal to (or in) literal names, or an argument containing a literal (`exec.args`/`exec.argv`
//! against `~"*literal*"`). Anything else (other fields, negations, conjunctions, filtered kill actions) is
//! enforced from user space after the rule matches: a little later, but exact.

use rampart_model::EventType;
use rampart_probe::kill::{
    KernelKillPlan, KillSlotPlan, MAX_NAME_LEN, MAX_PATTERNS, MAX_PATTERN_LEN, MAX_SLOTS,
};
use rampart_secl::ast::{parse, BinOp, Kind, Node};
use rampart_secl::ruleset::{KillScope, Rule, RuleSet};

/// What the kernel matches for one rule.
#[derive(Debug, Default, PartialEq, Eq)]
struct KernelCondition {
    names: Vec<String>,
    argv0: Vec<String>,
    arg_substrings: Vec<String>,
}

/// The kernel plan and, for each of its slots, the rule it stands for.
#[derive(Debug, Default)]
pub struct PlannedKills {
    pub plan: KernelKillPlan,
    /// `slot_rules[i]` is the id of the rule in slot `i`.
    pub slot_rules: Vec<String>,
    /// Kill rules the kernel cannot decide (enforced from user space), with the reason.
    pub user_space: Vec<(String, String)>,
}

/// Splits the rule set's process-scope exec kill rules into kernel slots and user-space ones.
pub fn plan_kills(rules: &RuleSet) -> PlannedKills {
    let mut out = PlannedKills::default();
    let mut patterns = 0;
    for rule in rules.rules() {
        let Some((signal, KillScope::Process, filtered)) = rule.kill_actions().next() else {
            continue;
        };
        if rule.event_type() != Some(EventType::Exec) {
            continue;
        }
        let condition = if filtered {
            Err("the kill action has a filter".to_string())
        } else {
            kernel_condition(rule, rules)
        };
        let condition = condition.and_then(|c| {
            if out.slot_rules.len() == MAX_SLOTS {
                Err(format!("the kernel holds {MAX_SLOTS} kill rules"))
            } else if patterns + c.arg_substrings.len() > MAX_PATTERNS {
                Err(format!("the kernel holds {MAX_PATTERNS} argument patterns"))
            } else {
                Ok(c)
            }
        });
        match condition {
            Ok(c) => {
                patterns += c.arg_substrings.len();
                out.plan.slots.push(KillSlotPlan {
                    signal: signal as u32,
                    names: c.names,
                    argv0: c.argv0,
                    arg_substrings: c.arg_substrings,
                    disarmed: false,
                });
                out.slot_rules.push(rule.id.clone());
            }
            Err(reason) => out.user_space.push((rule.id.clone(), reason)),
        }
    }
    out
}

fn kernel_condition(rule: &Rule, rules: &RuleSet) -> Result<KernelCondition, String> {
    let (ast, _) = parse(&rule.source).map_err(|e| e.to_string())?;
    let mut c = KernelCondition::default();
    collect(&ast, rules, &mut c)?;
    Ok(c)
}

/// Adds the atoms of a disjunction to `c`; fails on anything the kernel cannot decide exactly.
fn collect(node: &Node, rules: &RuleSet, c: &mut KernelCondition) -> Result<(), String> {
    match &node.kind {
        Kind::Paren(inner) => collect(inner, rules, c),
        Kind::Or(terms) => terms.iter().try_for_each(|t| collect(t, rules, c)),
        Kind::Binary(op @ (BinOp::Eq | BinOp::In | BinOp::Match), lhs, rhs) => {
            let Kind::Ident(field) = &lhs.kind else {
                return Err("not a field comparison".into());
            };
            let values = literals(rhs, rules)?;
            match field.as_str() {
                "exec.file.name" if *op != BinOp::Match => {
                    for v in values {
                        match v {
                            Literal::Exact(s) if !s.is_empty() && s.len() <= MAX_NAME_LEN => {
                                c.names.push(s)
                            }
                            _ => {
                                return Err(
                                    "exec.file.name needs exact names the kernel can hold".into()
                                )
                            }
                        }
                    }
                    Ok(())
                }
                "exec.argv0" if *op != BinOp::Match => {
                    for v in values {
                        match v {
                            Literal::Exact(s) if !s.is_empty() && s.len() <= MAX_NAME_LEN => {
                                c.argv0.push(s)
                            }
                            _ => {
                                return Err(
                                    "exec.argv0 needs exact values the kernel can hold".into()
                                )
                            }
                        }
                    }
                    Ok(())
                }
                "exec.args" | "exec.argv" => {
                    for v in values {
                        match v {
                            Literal::Substring(s) => c.arg_substrings.push(s),
                            _ => return Err(format!("{field} needs `~\"*literal*\"` patterns")),
                        }
                    }
                    Ok(())
                }
                other => Err(format!("`{other}` is not decided in the kernel")),
            }
        }
        _ => Err("only `||` of name/argument comparisons is decided in the kernel".into()),
    }
}

enum Literal {
    Exact(String),
    /// From `~"*x*"`: contains `x` (no wildcard, no space, no NUL, at most MAX_PATTERN_LEN bytes).
    Substring(String),
    Other,
}

fn literals(node: &Node, rules: &RuleSet) -> Result<Vec<Literal>, String> {
    match &node.kind {
        Kind::Str(s) => Ok(vec![Literal::Exact(s.clone())]),
        Kind::Pattern(p) => Ok(vec![substring(p)]),
        Kind::Array(items) => items
            .iter()
            .map(|i| literals(i, rules))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| v.into_iter().flatten().collect()),
        Kind::Ident(id) => match rules.macro_ast(id) {
            Some(ast) => literals(ast, rules),
            None => Err(format!("`{id}` is not a list")),
        },
        Kind::Paren(inner) => literals(inner, rules),
        _ => Ok(vec![Literal::Other]),
    }
}

fn substring(pattern: &str) -> Literal {
    let Some(inner) = pattern.strip_prefix('*').and_then(|p| p.strip_suffix('*')) else {
        return Literal::Other;
    };
    let plain = !inner.is_empty()
        && inner.len() <= MAX_PATTERN_LEN
        && !inner.contains(['*', '?', '[', '\\', ' ', '\0']);
    if plain {
        Literal::Substring(inner.to_string())
    } else {
        Literal::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_secl::ruleset::{ActionKind, ActionSpec, MacroSpec, RuleSpec};

    fn kill_rule(id: &str, expression: &str) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            expression: expression.into(),
            actions: vec![ActionSpec {
                filter: None,
                kind: ActionKind::Kill {
                    signal: "SIGKILL".into(),
                    scope: "process".into(),
                },
            }],
            meta: Default::default(),
        }
    }

    #[test]
    fn names_and_argument_substrings_go_to_the_kernel() {
        let macros = [MacroSpec {
            id: "miners".into(),
            expression: None,
            values: Some(vec!["xmrig".into(), "minerd".into()]),
        }];
        let rules = [
            kill_rule(
                "by_name",
                r#"exec.file.name in miners || exec.file.name == "cpuminer" || exec.argv0 in miners"#,
            ),
            kill_rule(
                "by_args",
                r#"exec.args in [~"*stratum+tcp://*", ~"*stratum+ssl://*"]"#,
            ),
            kill_rule(
                "conjunction",
                r#"exec.file.name == "xmrig" && process.uid != 0"#,
            ),
            kill_rule("glob_name", r#"exec.file.name =~ "xm*""#),
            kill_rule("spaced", r#"exec.args =~ ~"*--url pool*""#),
        ];
        let (set, report) = RuleSet::build(&macros, &rules);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let planned = plan_kills(&set);
        assert_eq!(planned.slot_rules, ["by_name", "by_args"]);
        assert_eq!(planned.plan.slots[0].names, ["xmrig", "minerd", "cpuminer"]);
        assert_eq!(planned.plan.slots[0].argv0, ["xmrig", "minerd"]);
        assert_eq!(planned.plan.slots[0].signal, 9);
        assert_eq!(
            planned.plan.slots[1].arg_substrings,
            ["stratum+tcp://", "stratum+ssl://"]
        );
        let user: Vec<&str> = planned
            .user_space
            .iter()
            .map(|(id, _)| id.as_str())
            .collect();
        assert_eq!(user, ["conjunction", "glob_name", "spaced"]);
    }
}
