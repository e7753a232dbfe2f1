//! Loading: decode each policy, apply filters, merge definitions by id across policies, compile, and map
//! every compiler error back to its file position.

use std::collections::HashMap;

use rampart_secl::{
    ActionKind, ActionSpec, MacroSpec, Origin, RuleError, RuleMeta, RuleSet, RuleSpec, SetSpec,
};
use serde_yaml_ng::Value;

use crate::filters::{eval_filter, version_satisfies};
use crate::locate::{block_offset, entries, expr_offset, EntryPos};
use crate::schema::{duration_ns, scalar_string, ActionDef, MacroDef, PolicyDoc, RuleDef};
use crate::{Entry, EntryKind, LoadOptions, Loaded, PolicyReport, PolicySource, Report, Status};

struct Candidate<T> {
    def: T,
    policy: String,
    file: String,
    pos: EntryPos,
    entry: usize,
}

pub(crate) fn load(sources: &[PolicySource], opts: &LoadOptions) -> Loaded {
    let mut report = Report::default();
    let mut macros: Vec<Candidate<MacroDef>> = Vec::new();
    let mut all_macros: Vec<MacroSpec> = Vec::new();
    let mut rules: Vec<Candidate<RuleDef>> = Vec::new();
    let mut filtered: Vec<(usize, RuleSpec)> = Vec::new();

    for src in sources {
        let doc: PolicyDoc = match serde_yaml_ng::from_str(&src.text) {
            Ok(d) => d,
            Err(e) => {
                let at = e
                    .location()
                    .map(|l| format!("{}:{}:{}: ", src.file, l.line(), l.column()))
                    .unwrap_or_default();
                report.policies.push(PolicyReport {
                    name: src.name.clone(),
                    file: src.file.clone(),
                    version: String::new(),
                    error: Some(format!("{at}invalid policy YAML: {e}")),
                });
                continue;
            }
        };
        report.policies.push(PolicyReport {
            name: src.name.clone(),
            file: src.file.clone(),
            version: doc.version.as_ref().map(scalar_string).unwrap_or_default(),
            error: None,
        });
        let mpos = entries(&src.text, "macros");
        for (i, v) in doc.macros.iter().enumerate() {
            let pos = mpos.get(i).cloned().unwrap_or_default();
            let entry = push_entry(&mut report, id_of(v), EntryKind::Macro, src, pos.clone());
            match serde_yaml_ng::from_value::<MacroDef>(v.clone()) {
                Err(e) => set_error(&mut report, entry, format!("invalid macro: {e}")),
                Ok(def) => {
                    all_macros.push(macro_spec(&def));
                    match filter_reason(&def.filters, def.agent_version.as_deref(), opts) {
                        Err(e) => set_error(&mut report, entry, e),
                        Ok(Some(reason)) => {
                            report.entries[entry].status = Status::Filtered {
                                reason,
                                check: None,
                            }
                        }
                        Ok(None) => macros.push(Candidate {
                            def,
                            policy: src.name.clone(),
                            file: src.file.clone(),
                            pos,
                            entry,
                        }),
                    }
                }
            }
        }
        let rpos = entries(&src.text, "rules");
        for (i, v) in doc.rules.iter().enumerate() {
            let pos = rpos.get(i).cloned().unwrap_or_default();
            let entry = push_entry(&mut report, id_of(v), EntryKind::Rule, src, pos.clone());
            let def = match serde_yaml_ng::from_value::<RuleDef>(v.clone()) {
                Ok(d) => d,
                Err(e) => {
                    set_error(&mut report, entry, format!("invalid rule: {e}"));
                    continue;
                }
            };
            if def.id.is_empty()
                || !def
                    .id
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_')
            {
                set_error(
                    &mut report,
                    entry,
                    format!(
                        "invalid rule id `{}` (letters, digits and `_` only)",
                        def.id
                    ),
                );
                continue;
            }
            match filter_reason(&def.filters, def.agent_version.as_deref(), opts) {
                Err(e) => set_error(&mut report, entry, e),
                Ok(Some(reason)) => {
                    report.entries[entry].status = Status::Filtered {
                        reason,
                        check: None,
                    };
                    if opts.typecheck_filtered && def.disabled != Some(true) {
                        if let Ok(spec) = rule_spec(&def, &src.name) {
                            filtered.push((entry, spec));
                        }
                    }
                }
                Ok(None) => rules.push(Candidate {
                    def,
                    policy: src.name.clone(),
                    file: src.file.clone(),
                    pos,
                    entry,
                }),
            }
        }
    }

    let macro_specs = merge_macros(macros, &mut report);
    let merged = merge_rules(rules, &mut report);

    // Compile the enabled rules.
    let mut specs = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for c in &merged {
        if c.def.disabled == Some(true) {
            report.entries[c.entry].status = Status::Disabled;
            continue;
        }
        match rule_spec(&c.def, &c.policy) {
            Ok(mut spec) => {
                if let Some(list) = opts.suppressions.get(&spec.id) {
                    spec.expression = suppressed(&spec.expression, list);
                }
                by_id.insert(spec.id.clone(), c.entry);
                specs.push(spec);
            }
            Err(e) => set_error(&mut report, c.entry, e),
        }
    }
    let (ruleset, build) = RuleSet::build_until(&macro_specs, &specs, opts.deadline);
    let exprs: HashMap<&str, &str> = specs
        .iter()
        .map(|s| (s.id.as_str(), s.expression.as_str()))
        .collect();
    let macro_entries: HashMap<String, usize> = report
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EntryKind::Macro && e.status == Status::Loaded)
        .map(|(i, e)| (e.id.clone(), i))
        .collect();
    for err in &build.errors {
        let target = if err.origin == Origin::Macro {
            macro_entries.get(&err.id)
        } else {
            by_id.get(&err.id)
        };
        if let Some(&entry) = target {
            if matches!(report.entries[entry].status, Status::Error { .. }) {
                continue; // keep the first error
            }
            let expr = if err.origin == Origin::Macro {
                macro_specs
                    .iter()
                    .find(|m| m.id == err.id)
                    .and_then(|m| m.expression.clone())
                    .unwrap_or_default()
            } else {
                exprs
                    .get(err.id.as_str())
                    .copied()
                    .unwrap_or_default()
                    .to_string()
            };
            locate_error(&mut report.entries[entry], err, &expr);
        }
    }
    for w in &build.warnings {
        if let Some(&entry) = by_id.get(&w.id) {
            let e = &mut report.entries[entry];
            let (l, c) = match (e.line, exprs.get(w.id.as_str())) {
                (_, Some(src)) => expr_pos(e, src, w.warning.pos),
                _ => (e.line, e.col),
            };
            e.warnings
                .push(format!("{}:{l}:{c}: {}", e.file, w.warning.msg));
        }
    }
    for rule in ruleset.rules() {
        if let Some(&entry) = by_id.get(&rule.id) {
            // A `fim.write.file.*` rule compiles to one rule per file event: list them all.
            let t = &mut report.entries[entry].event_type;
            match t {
                Some(names) if !names.split(',').any(|n| n == rule.event.name()) => {
                    names.push(',');
                    names.push_str(rule.event.name());
                }
                Some(_) => {}
                None => *t = Some(rule.event.name().to_string()),
            }
        }
    }

    // Type-check the filtered rules too, so `rules check` tells whether they would compile.
    if !filtered.is_empty() {
        let specs: Vec<RuleSpec> = filtered.iter().map(|(_, s)| s.clone()).collect();
        let (checked, build) = RuleSet::build_until(&all_macros, &specs, opts.deadline);
        for (entry, spec) in &filtered {
            let first = build
                .errors
                .iter()
                .find(|e| e.id == spec.id && e.origin != Origin::Macro);
            if let Status::Filtered { check, .. } = &mut report.entries[*entry].status {
                *check = first.map(|e| e.error.msg.clone());
            }
            if let Some(rule) = checked.rules().iter().find(|r| r.id == spec.id) {
                report.entries[*entry].event_type = Some(rule.event.name().to_string());
            }
        }
    }
    Loaded { ruleset, report }
}

fn id_of(v: &Value) -> String {
    v.get("id").map(scalar_string).unwrap_or_default()
}

fn push_entry(
    report: &mut Report,
    id: String,
    kind: EntryKind,
    src: &PolicySource,
    pos: EntryPos,
) -> usize {
    report.entries.push(Entry {
        id,
        kind,
        policy: src.name.clone(),
        file: src.file.clone(),
        line: pos.line,
        col: 1,
        expr_start: pos.expr,
        block_lines: pos.block_lines,
        status: Status::Loaded,
        event_type: None,
        warnings: Vec::new(),
    });
    report.entries.len() - 1
}

fn set_error(report: &mut Report, entry: usize, reason: String) {
    report.entries[entry].status = Status::Error { reason };
}

/// Positions are kept per entry: the expression start is recomputed from the file when needed.
fn expr_pos(e: &Entry, src: &str, offset: usize) -> (usize, usize) {
    match e.expr_start {
        Some(start) if start.2 && !e.block_lines.is_empty() => {
            block_offset(start, &e.block_lines, offset)
        }
        Some(start) => expr_offset(start, src, offset),
        None => (e.line, e.col),
    }
}

fn locate_error(e: &mut Entry, err: &RuleError, expr: &str) {
    let (line, col) = match err.origin {
        Origin::Expression | Origin::Macro => expr_pos(e, expr, err.error.pos),
        Origin::Action(_) | Origin::ActionFilter(_) => (e.line, e.col),
    };
    e.line = line;
    e.col = col;
    let what = match err.origin {
        Origin::Action(i) => format!("action #{}: ", i + 1),
        Origin::ActionFilter(i) => format!("filter of action #{}: ", i + 1),
        _ => String::new(),
    };
    e.status = Status::Error {
        reason: format!("{what}{}", err.error.msg),
    };
}

/// `Ok(Some(reason))` when filters or the version constraint exclude the entry.
fn filter_reason(
    filters: &[String],
    agent_version: Option<&str>,
    opts: &LoadOptions,
) -> Result<Option<String>, String> {
    for f in filters {
        match eval_filter(f, &opts.host) {
            Ok(true) => {}
            Ok(false) => return Ok(Some(format!("filter `{f}` does not hold on this host"))),
            Err(e) => return Err(format!("invalid filter `{f}`: {e}")),
        }
    }
    if let Some(c) = agent_version {
        let satisfied = version_satisfies(c, opts.agent_version.unwrap_or((u64::MAX, 0, 0)))?;
        if opts.agent_version.is_some() && !satisfied {
            return Ok(Some(format!(
                "agent_version `{c}` excludes the emulated agent version"
            )));
        }
    }
    Ok(None)
}

fn macro_spec(def: &MacroDef) -> MacroSpec {
    MacroSpec {
        id: def.id.clone(),
        expression: def.expression.clone(),
        values: def.values.clone(),
    }
}

fn merge_macros(macros: Vec<Candidate<MacroDef>>, report: &mut Report) -> Vec<MacroSpec> {
    let mut out: Vec<(MacroDef, String)> = Vec::new();
    for c in macros {
        match out.iter_mut().find(|(d, _)| d.id == c.def.id) {
            None => out.push((c.def, c.policy)),
            Some((base, policy)) => match c.def.combine.as_deref() {
                Some("override") => {
                    *base = MacroDef {
                        id: base.id.clone(),
                        ..c.def
                    };
                    report.entries[c.entry].status = Status::Merged {
                        into: policy.clone(),
                    };
                }
                Some("merge") if base.values.is_some() && c.def.values.is_some() => {
                    base.values
                        .get_or_insert_with(Vec::new)
                        .extend(c.def.values.unwrap_or_default());
                    report.entries[c.entry].status = Status::Merged {
                        into: policy.clone(),
                    };
                }
                Some("merge") => set_error(
                    report,
                    c.entry,
                    "`combine: merge` needs `values` on both macros".into(),
                ),
                _ => set_error(
                    report,
                    c.entry,
                    format!(
                        "macro `{}` is already defined in policy `{policy}` (use `combine`)",
                        c.def.id
                    ),
                ),
            },
        }
    }
    out.into_iter().map(|(d, _)| macro_spec(&d)).collect()
}

fn merge_rules(rules: Vec<Candidate<RuleDef>>, report: &mut Report) -> Vec<Candidate<RuleDef>> {
    let mut out: Vec<Candidate<RuleDef>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for c in rules {
        let Some(&i) = index.get(&c.def.id) else {
            index.insert(c.def.id.clone(), out.len());
            out.push(c);
            continue;
        };
        let base = &mut out[i];
        let into = format!("{} ({}:{})", base.policy, base.file, base.pos.line);
        if c.def.combine.as_deref() == Some("override") {
            let fields = c
                .def
                .override_options
                .as_ref()
                .map(|o| o.fields.clone())
                .unwrap_or_default();
            let all = fields.iter().any(|f| f == "all");
            let pick = |f: &str| {
                all || fields.iter().any(|x| x == f) || (fields.is_empty() && f == "expression")
            };
            if pick("expression") && c.def.expression.is_some() {
                base.def.expression = c.def.expression.clone();
                base.pos = c.pos.clone();
                base.file = c.file.clone();
                base.entry = c.entry;
            }
            if pick("actions") {
                base.def.actions = c.def.actions.clone();
            }
            if pick("every") {
                base.def.every = c.def.every.clone();
            }
            if pick("tags") {
                base.def.tags = c.def.tags.clone();
            }
            if pick("product_tags") {
                base.def.product_tags = c.def.product_tags.clone();
            }
            if c.def.disabled.is_some() {
                base.def.disabled = c.def.disabled;
            }
            if base.entry != c.entry {
                report.entries[c.entry].status = Status::Merged { into };
            }
        } else if c.def.disabled.is_some()
            && (c.def.expression.is_none() || c.def.expression == base.def.expression)
        {
            base.def.disabled = c.def.disabled;
            report.entries[c.entry].status = Status::Merged { into };
        } else {
            set_error(
                report,
                c.entry,
                format!(
                    "rule id `{}` is already defined in {into} (use `combine: override`)",
                    c.def.id
                ),
            );
        }
    }
    out
}

/// `expression` with every suppression subtracted.
fn suppressed(expression: &str, suppressions: &[String]) -> String {
    let mut out = format!("({expression})");
    for s in suppressions {
        out.push_str(&format!(" && !({s})"));
    }
    out
}

fn rule_spec(def: &RuleDef, policy: &str) -> Result<RuleSpec, String> {
    let expression = def
        .expression
        .clone()
        .ok_or("the rule has no `expression`")?;
    let every = def.every.as_ref().map(duration_ns).transpose()?;
    let meta = RuleMeta {
        version: def.version.as_ref().map(scalar_string).unwrap_or_default(),
        description: def.description.clone(),
        tags: def
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), scalar_string(v)))
            .collect(),
        product_tags: def.product_tags.clone(),
        silent: def.silent,
        every,
        policy: policy.to_string(),
        remediation: def.remediation.clone(),
    };
    let actions = def
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| action(a).map_err(|e| format!("action #{}: {e}", i + 1)));
    Ok(RuleSpec {
        id: def.id.clone(),
        expression,
        meta,
        actions: actions.collect::<Result<_, _>>()?,
    })
}

fn yaml_to_json(v: &Value) -> Result<serde_json::Value, String> {
    serde_json::to_value(v).map_err(|e| e.to_string())
}

fn action(a: &ActionDef) -> Result<ActionSpec, String> {
    let mut kinds = Vec::new();
    if let Some(s) = &a.set {
        kinds.push(ActionKind::Set(SetSpec {
            name: s.name.clone(),
            scope: s.scope.clone().unwrap_or_default(),
            value: s.value.as_ref().map(yaml_to_json).transpose()?,
            field: s.field.clone(),
            expression: s.expression.clone(),
            default_value: s.default_value.as_ref().map(yaml_to_json).transpose()?,
            append: s.append,
            size: s.size,
            ttl: s.ttl.as_ref().map(duration_ns).transpose()?,
            scope_field: s.scope_field.clone(),
            inherited: s.inherited,
            private: s.private,
        }));
    }
    if let Some(k) = &a.kill {
        kinds.push(ActionKind::Kill {
            signal: k.signal.clone(),
            scope: k.scope.clone().unwrap_or_default(),
        });
    }
    if let Some(h) = &a.hash {
        kinds.push(ActionKind::Hash {
            field: h.field.clone(),
        });
    }
    for (name, v) in [
        ("coredump", &a.coredump),
        ("log", &a.log),
        ("network_filter", &a.network_filter),
    ] {
        if v.is_some() {
            return Err(format!("the `{name}` action is not supported by Rampart"));
        }
    }
    match kinds.len() {
        1 => Ok(ActionSpec {
            filter: a.filter.clone(),
            kind: kinds.remove(0),
        }),
        0 => Err("an action needs one of `set`, `kill` or `hash`".into()),
        _ => Err("an action item holds exactly one action".into()),
    }
}
