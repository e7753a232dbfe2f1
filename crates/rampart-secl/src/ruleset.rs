//! Rule sets: compiling rules with their macros, variables and actions; bucketing them by event type;
//! evaluating an event and running the actions of every matching rule.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use rampart_model::fields::registry;
use rampart_model::{Event, EventType};
use serde::Serialize;

use crate::ast::Warning;
use crate::compile::{compile, compile_value, Compiled, CompiledValue, Env, Macro, RuleEvent};
use crate::consts;
use crate::error::Error;
use crate::eval::{Cx, FieldOp};
use crate::index::{self, BucketIndex};
use crate::variables::{
    ScopeKey, SetOp, VarDecl, VarScope, VarType, VarValue, VariableStore, DEFAULT_LIST_SIZE,
};

/// Descriptive data of a rule, carried into matches.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleMeta {
    pub version: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub product_tags: Vec<String>,
    /// Evaluate and run actions, but report no match.
    pub silent: bool,
    /// Minimum interval between two reported matches, in ns.
    pub every: Option<u64>,
    /// Name of the policy that defined the rule.
    pub policy: String,
    /// What to do when the rule matches (policy `remediation`); read from the loaded rules, not put in matches.
    pub remediation: String,
}

impl RuleMeta {
    pub fn severity(&self) -> Option<&str> {
        self.tags.get("severity").map(String::as_str)
    }
}

/// A macro as written in a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct MacroSpec {
    pub id: String,
    pub expression: Option<String>,
    pub values: Option<Vec<String>>,
}

/// A rule as written in a policy (after filtering and merging).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub id: String,
    pub expression: String,
    pub meta: RuleMeta,
    pub actions: Vec<ActionSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    /// SECL evaluated when the rule matches; the action runs only if it holds.
    pub filter: Option<String>,
    pub kind: ActionKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    Set(SetSpec),
    Kill { signal: String, scope: String },
    Hash { field: Option<String> },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetSpec {
    pub name: String,
    /// "" (global), `process`, `container` or `cgroup`.
    pub scope: String,
    pub value: Option<serde_json::Value>,
    pub field: Option<String>,
    pub expression: Option<String>,
    pub default_value: Option<serde_json::Value>,
    pub append: bool,
    pub size: Option<usize>,
    /// Nanoseconds.
    pub ttl: Option<u64>,
    /// Process scope keyed by another pid field (`cgroup_write.pid`).
    pub scope_field: Option<String>,
    pub inherited: bool,
    pub private: bool,
}

/// Where in a rule an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "in", content = "index")]
pub enum Origin {
    Expression,
    Macro,
    /// The n-th action (0-based): its filter or its definition.
    ActionFilter(usize),
    Action(usize),
}

/// A rule or macro that failed to compile; it is skipped, the rest loads.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleError {
    pub id: String,
    pub origin: Origin,
    pub error: Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleWarning {
    pub id: String,
    pub warning: Warning,
}

/// What happened while building a rule set.
#[derive(Debug, Default)]
pub struct BuildReport {
    pub errors: Vec<RuleError>,
    pub warnings: Vec<RuleWarning>,
}

/// A kill request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KillScope {
    Process,
    Container,
    Cgroup,
}

impl KillScope {
    /// The scope as policies and match reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            KillScope::Process => "process",
            KillScope::Container => "container",
            KillScope::Cgroup => "cgroup",
        }
    }
}

#[derive(Debug)]
enum SetSource {
    Values(Vec<VarValue>),
    Field(FieldOp),
    Expr(CompiledValue),
}

#[derive(Debug)]
enum ActionDef {
    Set {
        decl: Arc<VarDecl>,
        source: SetSource,
        append: bool,
        ttl: Option<u64>,
        scope_field: Option<FieldOp>,
    },
    Kill {
        signal: String,
        number: i32,
        scope: KillScope,
    },
    Hash {
        field: String,
    },
}

#[derive(Debug)]
struct Action {
    filter: Option<Compiled>,
    def: ActionDef,
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub meta: RuleMeta,
    pub event: RuleEvent,
    pub(crate) expr: Compiled,
    actions: Vec<Action>,
    /// The expression as written (macros unexpanded), for analyses such as the kernel kill plan.
    pub source: String,
}

impl Rule {
    /// The rule's kill actions: (signal number, scope, whether the action has a filter).
    pub fn kill_actions(&self) -> impl Iterator<Item = (i32, KillScope, bool)> + '_ {
        self.actions.iter().filter_map(|a| match &a.def {
            ActionDef::Kill { number, scope, .. } => Some((*number, *scope, a.filter.is_some())),
            _ => None,
        })
    }

    /// The Linux event type (`None` for a Windows rule, which is never evaluated).
    pub fn event_type(&self) -> Option<EventType> {
        match self.event {
            RuleEvent::Linux(t) => Some(t),
            RuleEvent::Windows(_) => None,
        }
    }

    /// Every field the expression reads.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.expr.fields.iter().map(String::as_str)
    }

    /// Whether the expression alone matches (no actions run).
    pub fn matches(&self, cx: &Cx<'_>) -> bool {
        self.expr.eval(cx)
    }
}

/// An action taken (or requested) for a match, as reported in match JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionOutcome {
    /// A variable was set (already applied to the store). Values of `private` variables are not reported.
    Set {
        name: String,
        scope: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        values: Vec<VarValue>,
        append: bool,
    },
    /// The agent must send `signal` to the scope (the engine does not kill by itself).
    Kill {
        signal: String,
        signal_number: i32,
        scope: KillScope,
    },
    /// The agent must hash the file at `field` (`exec.file`, `open.file`, …).
    Hash { field: String },
}

/// A rule that matched an event, with what its actions did or request.
#[derive(Debug, Clone)]
pub struct Match {
    pub rule: Arc<Rule>,
    pub actions: Vec<ActionOutcome>,
}

/// Compiled rules bucketed by event type.
pub struct RuleSet {
    rules: Vec<Arc<Rule>>,
    buckets: Vec<Vec<Arc<Rule>>>,
    indexes: Vec<BucketIndex>,
    env: Env,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl RuleSet {
    /// Compiles macros, then variable declarations from `set` actions, then rules. A broken macro or rule is
    /// reported and skipped; everything else loads.
    pub fn build(macros: &[MacroSpec], rules: &[RuleSpec]) -> (RuleSet, BuildReport) {
        Self::build_until(macros, rules, None)
    }

    /// [`RuleSet::build`] that gives up at `deadline`: what is not compiled by then is reported as
    /// "compile time budget exceeded" (for policies from other people: a thousand costly regexes).
    pub fn build_until(
        macros: &[MacroSpec],
        rules: &[RuleSpec],
        deadline: Option<std::time::Instant>,
    ) -> (RuleSet, BuildReport) {
        let mut report = BuildReport::default();
        let mut env = Env {
            deadline,
            ..Env::default()
        };
        for m in macros {
            let parsed = match (&m.expression, &m.values) {
                (Some(e), None) => Macro::parse(&m.id, e),
                (None, Some(v)) => Ok(Macro::values(&m.id, v)),
                _ => Err(Error::new(
                    0,
                    "a macro needs exactly one of `expression` or `values`",
                )),
            };
            match parsed {
                Ok(mac) => {
                    env.macros.insert(m.id.clone(), mac);
                }
                Err(error) => report.errors.push(RuleError {
                    id: m.id.clone(),
                    origin: Origin::Macro,
                    error,
                }),
            }
        }
        declare_variables(&mut env, rules, &mut report);
        // Type-check each macro once, so a broken macro is reported under its own id.
        let mut ids: Vec<&String> = env.macros.keys().collect();
        ids.sort();
        for id in ids {
            if let Err(error) = check_macro(&env, id) {
                report.errors.push(RuleError {
                    id: id.clone(),
                    origin: Origin::Macro,
                    error,
                });
            }
        }
        let mut set = RuleSet {
            rules: Vec::new(),
            buckets: vec![Vec::new(); EventType::ALL.len()],
            indexes: Vec::new(),
            env,
        };
        let mut seen = HashMap::new();
        for spec in rules {
            if seen.insert(spec.id.clone(), ()).is_some() {
                report.errors.push(RuleError {
                    id: spec.id.clone(),
                    origin: Origin::Expression,
                    error: Error::new(0, "duplicate rule id in the loaded set"),
                });
                continue;
            }
            if spec.expression.contains(FIM_PREFIX) {
                // `fim.write.file.*`: one rule per file event type, all with the rule's id.
                let variants: Result<Vec<Rule>, RuleError> = fim_variants(spec)
                    .iter()
                    .map(|v| set.compile_rule(v, &mut report))
                    .collect();
                match variants {
                    Ok(vs) => vs.into_iter().for_each(|r| set.add(r)),
                    Err(e) => report.errors.push(e),
                }
                continue;
            }
            match set.compile_rule(spec, &mut report) {
                Ok(rule) => set.add(rule),
                Err(e) => report.errors.push(e),
            }
        }
        set.indexes = set
            .buckets
            .iter()
            .map(|b| BucketIndex::build(b.iter().map(|r| &r.expr.node)))
            .collect();
        (set, report)
    }

    /// Calls `f` with each rule of the event's bucket that may match, in rule order.
    #[inline]
    fn candidates<'a>(&'a self, event: &Event, mut f: impl FnMut(&'a Arc<Rule>)) {
        let t = event.event_type().index();
        let bucket = &self.buckets[t];
        match self.indexes.get(t).and_then(|i| i.candidates(event)) {
            Some(bits) => index::for_each(&bits, |i| f(&bucket[i])),
            None => bucket.iter().for_each(f),
        }
    }

    fn add(&mut self, rule: Rule) {
        let rule = Arc::new(rule);
        if let Some(t) = rule.event_type() {
            self.buckets[t.index()].push(rule.clone());
        }
        self.rules.push(rule);
    }

    fn compile_rule(&self, spec: &RuleSpec, report: &mut BuildReport) -> Result<Rule, RuleError> {
        let err = |origin, error| RuleError {
            id: spec.id.clone(),
            origin,
            error,
        };
        let expr = compile(&spec.expression, &self.env).map_err(|e| err(Origin::Expression, e))?;
        let Some(event) = expr.event else {
            return Err(err(
                Origin::Expression,
                Error::new(0, "the rule has no event type: it must use at least one event field (e.g. `exec.*`)"),
            ));
        };
        for w in &expr.warnings {
            report.warnings.push(RuleWarning {
                id: spec.id.clone(),
                warning: w.clone(),
            });
        }
        let mut actions = Vec::new();
        for (i, a) in spec.actions.iter().enumerate() {
            let filter = match &a.filter {
                Some(f) => {
                    let c = compile(f, &self.env).map_err(|e| err(Origin::ActionFilter(i), e))?;
                    check_event(&c, event).map_err(|e| err(Origin::ActionFilter(i), e))?;
                    Some(c)
                }
                None => None,
            };
            let def = self
                .compile_action(&a.kind, event)
                .map_err(|e| err(Origin::Action(i), e))?;
            actions.push(Action { filter, def });
        }
        Ok(Rule {
            id: spec.id.clone(),
            meta: spec.meta.clone(),
            event,
            expr,
            actions,
            source: spec.expression.clone(),
        })
    }

    fn compile_action(&self, kind: &ActionKind, event: RuleEvent) -> Result<ActionDef, Error> {
        Ok(match kind {
            ActionKind::Kill { signal, scope } => {
                let number = consts::signal(signal)
                    .ok_or_else(|| Error::new(0, format!("unknown signal `{signal}`")))?;
                let scope = match scope.as_str() {
                    "" | "process" => KillScope::Process,
                    "container" => KillScope::Container,
                    "cgroup" => KillScope::Cgroup,
                    other => return Err(Error::new(0, format!("unknown kill scope `{other}`"))),
                };
                ActionDef::Kill {
                    signal: signal.clone(),
                    number,
                    scope,
                }
            }
            ActionKind::Hash { field } => {
                let field = match field {
                    Some(f) => f.clone(),
                    None => match event {
                        RuleEvent::Linux(EventType::Exec) => "exec.file".into(),
                        RuleEvent::Linux(EventType::Open) => "open.file".into(),
                        _ => {
                            return Err(Error::new(
                                0,
                                "`hash` needs a `field` outside exec/open rules",
                            ))
                        }
                    },
                };
                let prefix = field.split('.').next().unwrap_or("");
                let ok_prefix = prefix == "process" || prefix == event.name();
                if registry().get(&format!("{field}.path")).is_none() || !ok_prefix {
                    return Err(Error::new(
                        0,
                        format!("`hash` field `{field}` is not a file of this rule's event"),
                    ));
                }
                ActionDef::Hash { field }
            }
            ActionKind::Set(s) => {
                let decl = self.env.vars.get(&var_name(s)).cloned().ok_or_else(|| {
                    Error::new(0, format!("variable `{}` could not be declared", s.name))
                })?;
                let source = if let Some(v) = &s.value {
                    SetSource::Values(json_values(v).map_err(|m| Error::new(0, m))?.1)
                } else if let Some(f) = &s.field {
                    let c = compile_value(f, &self.env)?;
                    check_event_opt(c_event(&c), event)?;
                    match c.operand {
                        crate::eval::Operand::Field(op) => SetSource::Field(op),
                        _ => return Err(Error::new(0, format!("`{f}` is not a field"))),
                    }
                } else if let Some(e) = &s.expression {
                    let c = compile_value(e, &self.env)?;
                    check_event_opt(c_event(&c), event)?;
                    SetSource::Expr(c)
                } else {
                    return Err(Error::new(
                        0,
                        "`set` needs one of `value`, `field` or `expression`",
                    ));
                };
                let scope_field = match &s.scope_field {
                    Some(f) => {
                        let c = compile_value(f, &self.env)?;
                        match c.operand {
                            crate::eval::Operand::Field(op) if c.ty == VarType::Int => Some(op),
                            _ => {
                                return Err(Error::new(
                                    0,
                                    format!("`scope_field` `{f}` is not an int field"),
                                ))
                            }
                        }
                    }
                    None => None,
                };
                ActionDef::Set {
                    decl,
                    source,
                    append: s.append,
                    ttl: s.ttl,
                    scope_field,
                }
            }
        })
    }

    /// Every compiled rule (Linux and Windows).
    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    /// The rules evaluated for events of type `t`.
    pub fn rules_for(&self, t: EventType) -> &[Arc<Rule>] {
        &self.buckets[t.index()]
    }

    /// How rules of type `t` are pre-selected: (rules evaluated for every event, fields the rest are indexed
    /// on). Diagnostics for policy authors and benchmarks.
    pub fn index_stats(&self, t: EventType) -> (usize, Vec<&str>) {
        match self.indexes.get(t.index()) {
            Some(i) => (i.unindexed, i.fields()),
            None => (self.buckets[t.index()].len(), Vec::new()),
        }
    }

    /// The rules the index selects for `event` (a superset of the matching ones), for diagnostics.
    pub fn candidates_for(&self, event: &Event) -> Vec<&Arc<Rule>> {
        let mut out = Vec::new();
        self.candidates(event, |r| out.push(r));
        out
    }

    /// The parsed expression of a macro (a `values:` macro is an array of strings).
    pub fn macro_ast(&self, id: &str) -> Option<&crate::ast::Node> {
        self.env.macros.get(id).map(|m| &m.ast)
    }

    /// Declared variables.
    pub fn variables(&self) -> impl Iterator<Item = &VarDecl> {
        self.env.vars.values().map(|d| &**d)
    }

    /// Appends every rule whose expression matches `event` (no actions run, no allocation unless `out` grows).
    pub fn matching<'a>(&'a self, cx: &Cx<'_>, out: &mut Vec<&'a Arc<Rule>>) {
        self.candidates(cx.event, |rule| {
            if rule.expr.eval(cx) {
                out.push(rule);
            }
        });
    }

    /// Evaluates `event`, runs the `set` actions of each matching rule against `vars` (a later rule of the
    /// same event sees the new values) and returns the matches with their action outcomes.
    pub fn evaluate(&self, event: &Event, vars: &dyn VariableStore) -> Vec<Match> {
        let cx = Cx::new(event, vars);
        let mut out = Vec::new();
        self.candidates(event, |rule| {
            if rule.expr.eval(&cx) {
                let actions = run_actions(rule, &cx);
                out.push(Match {
                    rule: rule.clone(),
                    actions,
                });
            }
        });
        out
    }
}

const FIM_PREFIX: &str = "fim.write.file.";

/// Expands Datadog's `fim.write.file.*` pseudo-fields into one rule per file-modifying event: `open` for
/// writing (an implicit `open.flags & (O_CREAT|O_TRUNC|O_APPEND|O_RDWR|O_WRONLY) > 0`), `chmod`, `chown`,
/// `link`, `unlink`, `utimes`, and `rename` (source or destination).
fn fim_variants(spec: &RuleSpec) -> Vec<RuleSpec> {
    let e = &spec.expression;
    let sub = |prefix: &str| e.replace(FIM_PREFIX, prefix);
    let mut out = vec![format!(
        "open.flags & (O_CREAT|O_TRUNC|O_APPEND|O_RDWR|O_WRONLY) > 0 && ({})",
        sub("open.file.")
    )];
    for t in ["chmod", "chown", "link", "unlink", "utimes"] {
        out.push(sub(&format!("{t}.file.")));
    }
    out.push(format!(
        "({}) || ({})",
        sub("rename.file."),
        sub("rename.file.destination.")
    ));
    out.into_iter()
        .map(|expression| RuleSpec {
            expression,
            ..spec.clone()
        })
        .collect()
}

fn c_event(c: &CompiledValue) -> Option<EventType> {
    c.fields
        .iter()
        .filter_map(|f| registry().get(f))
        .find_map(|d| d.event_type())
}

fn check_event_opt(t: Option<EventType>, event: RuleEvent) -> Result<(), Error> {
    match t {
        Some(t) if RuleEvent::Linux(t) != event && t.as_str() != event.name() => Err(Error::new(
            0,
            format!("uses `{t}` fields in a `{}` rule", event.name()),
        )),
        _ => Ok(()),
    }
}

fn check_event(c: &Compiled, event: RuleEvent) -> Result<(), Error> {
    match c.event {
        Some(e) if e != event => Err(Error::new(
            0,
            format!("uses `{}` fields in a `{}` rule", e.name(), event.name()),
        )),
        _ => Ok(()),
    }
}

fn run_actions(rule: &Rule, cx: &Cx<'_>) -> Vec<ActionOutcome> {
    let mut out = Vec::new();
    for a in &rule.actions {
        if let Some(f) = &a.filter {
            if !f.eval(cx) {
                continue;
            }
        }
        match &a.def {
            ActionDef::Kill {
                signal,
                number,
                scope,
            } => out.push(ActionOutcome::Kill {
                signal: signal.clone(),
                signal_number: *number,
                scope: *scope,
            }),
            ActionDef::Hash { field } => out.push(ActionOutcome::Hash {
                field: field.clone(),
            }),
            ActionDef::Set {
                decl,
                source,
                append,
                ttl,
                scope_field,
            } => {
                let key = match scope_field {
                    Some(f) => {
                        let mut pid = None;
                        (f.getter)(cx.event, None, &mut |v| {
                            if let rampart_model::fields::Val::Int(i) = v {
                                pid = Some(ScopeKey::Process(i as u32));
                            }
                            true
                        });
                        pid
                    }
                    None => ScopeKey::of(decl.scope, cx.event),
                };
                let Some(key) = key else { continue };
                let mut values = match source {
                    SetSource::Values(v) => v.clone(),
                    SetSource::Field(f) => crate::eval::Operand::Field(f.clone()).values(cx),
                    SetSource::Expr(c) => c.operand.values(cx),
                };
                if !decl.list {
                    values.truncate(1);
                }
                if values.is_empty() {
                    continue;
                }
                let op = SetOp {
                    values: values.clone(),
                    append: *append,
                    ttl: *ttl,
                    size: decl.size,
                };
                cx.vars.set(decl, key, op, cx.now);
                out.push(ActionOutcome::Set {
                    name: decl.name.clone(),
                    scope: decl.scope.as_str().to_string(),
                    values: if decl.private { Vec::new() } else { values },
                    append: *append,
                });
            }
        }
    }
    out
}

fn check_macro(env: &Env, id: &str) -> Result<(), Error> {
    crate::compile::check_node(&env.macros[id].ast, env)
}

fn var_name(s: &SetSpec) -> String {
    match s.scope.as_str() {
        "" | "global" => s.name.clone(),
        scope => format!("{scope}.{}", s.name),
    }
}

/// Converts a YAML/JSON `value` to typed variable values.
fn json_values(v: &serde_json::Value) -> Result<(VarType, Vec<VarValue>), String> {
    fn one(v: &serde_json::Value) -> Result<VarValue, String> {
        match v {
            serde_json::Value::Bool(b) => Ok(VarValue::Bool(*b)),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(VarValue::Int)
                .ok_or_else(|| format!("`{n}` is not an int")),
            serde_json::Value::String(s) => Ok(VarValue::Str(s.clone())),
            other => Err(format!("unsupported variable value `{other}`")),
        }
    }
    let values = match v {
        serde_json::Value::Array(items) => items.iter().map(one).collect::<Result<Vec<_>, _>>()?,
        other => vec![one(other)?],
    };
    let ty = values.first().map_or(VarType::Str, VarValue::var_type);
    if values.iter().any(|x| x.var_type() != ty) {
        return Err("array value mixes types".into());
    }
    Ok((ty, values))
}

/// Declares every variable set by an action, with its type, before any rule compiles.
fn declare_variables(env: &mut Env, rules: &[RuleSpec], report: &mut BuildReport) {
    // Two passes: expressions may read variables declared by values/fields elsewhere.
    for pass in 0..2 {
        for spec in rules {
            for (i, a) in spec.actions.iter().enumerate() {
                let ActionKind::Set(s) = &a.kind else {
                    continue;
                };
                let name = var_name(s);
                if env.vars.contains_key(&name) && pass == 1 && s.expression.is_some() {
                    continue;
                }
                let typed = infer(env, s, pass == 1);
                let (ty, list) = match typed {
                    Ok(Some(t)) => t,
                    Ok(None) => continue,
                    Err(msg) => {
                        if pass == 1 {
                            report.errors.push(RuleError {
                                id: spec.id.clone(),
                                origin: Origin::Action(i),
                                error: Error::new(0, msg),
                            });
                        }
                        continue;
                    }
                };
                let Some(scope) = VarScope::parse(&s.scope) else {
                    if pass == 1 {
                        report.errors.push(RuleError {
                            id: spec.id.clone(),
                            origin: Origin::Action(i),
                            error: Error::new(0, format!("unknown variable scope `{}`", s.scope)),
                        });
                    }
                    continue;
                };
                if s.name.is_empty()
                    || registry().get(&name).is_some()
                    || consts::lookup(&s.name).is_some()
                {
                    if pass == 1 {
                        report.errors.push(RuleError {
                            id: spec.id.clone(),
                            origin: Origin::Action(i),
                            error: Error::new(0, format!("invalid variable name `{}`", s.name)),
                        });
                    }
                    continue;
                }
                let default = s
                    .default_value
                    .as_ref()
                    .and_then(|d| json_values(d).ok())
                    .and_then(|(_, v)| v.into_iter().next());
                let decl = VarDecl {
                    name: name.clone(),
                    scope,
                    ty,
                    list,
                    default,
                    size: s.size.unwrap_or(DEFAULT_LIST_SIZE),
                    private: s.private,
                    inherited: s.inherited && scope == VarScope::Process,
                };
                match env.vars.get(&name) {
                    Some(prev) if prev.ty != decl.ty || prev.list != decl.list => {
                        if pass == 1 {
                            report.errors.push(RuleError {
                                id: spec.id.clone(),
                                origin: Origin::Action(i),
                                error: Error::new(
                                    0,
                                    format!("variable `{name}` is set with different types"),
                                ),
                            });
                        }
                    }
                    // One `set` with `inherited: true` makes the process variable inherited.
                    Some(prev) if decl.inherited && !prev.inherited => {
                        let merged = VarDecl {
                            inherited: true,
                            ..(**prev).clone()
                        };
                        env.vars.insert(name, Arc::new(merged));
                    }
                    Some(_) => {}
                    None => {
                        env.vars.insert(name, Arc::new(decl));
                    }
                }
            }
        }
    }
}

/// The (type, is-list) of the variable a `set` action writes; `Ok(None)` when it cannot be known yet.
fn infer(env: &Env, s: &SetSpec, final_pass: bool) -> Result<Option<(VarType, bool)>, String> {
    if let Some(v) = &s.value {
        let (ty, values) = json_values(v)?;
        return Ok(Some((
            ty,
            s.append || (v.is_array() && values.len() != 1) || v.is_array(),
        )));
    }
    if let Some(d) = &s.default_value {
        let (ty, _) = json_values(d)?;
        return Ok(Some((ty, s.append)));
    }
    let src = match (&s.field, &s.expression) {
        (Some(f), _) => f,
        (None, Some(e)) => e,
        (None, None) => return Err("`set` needs one of `value`, `field` or `expression`".into()),
    };
    match compile_value(src, env) {
        Ok(c) => Ok(Some((c.ty, s.append || c.list))),
        Err(e) if final_pass => Err(e.msg),
        Err(_) => Ok(None),
    }
}
