//! Type checking and compilation of a parsed expression into an evaluator tree ([`BNode`]).
//!
//! The checker resolves identifiers (field → constant → macro), expands macros, types every comparison,
//! folds constants, precompiles string matchers (exact sets, globs, regexes) and decides the rule's event
//! type. Errors carry the byte offset of the offending token.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use rampart_model::fields::{registry, FieldDef, FieldScope, FieldType};
use rampart_model::{Event, EventType, ProcessContext};

use crate::ast::{parse, BinOp, Kind, Node, UnOp, Warning};
use crate::consts;
use crate::error::{Error, Result};
use crate::eval::{BNode, CmpOp, Cx, FieldOp, IntMatcher, Operand, Piece, Quant, StrMatcher};
use crate::value::{Const, IpNet};
use crate::variables::{NoVariables, VarDecl, VarType};

/// A macro: a parsed expression (or list of values) referenced by its id.
#[derive(Debug, Clone)]
pub struct Macro {
    pub id: String,
    pub ast: Node,
}

impl Macro {
    /// A macro from an expression.
    pub fn parse(id: &str, expression: &str) -> Result<Macro> {
        Ok(Macro {
            id: id.to_string(),
            ast: parse(expression)?.0,
        })
    }

    /// A macro from a `values:` list of strings.
    pub fn values(id: &str, values: &[String]) -> Macro {
        let items = values
            .iter()
            .map(|v| Node {
                kind: Kind::Str(v.clone()),
                pos: 0,
            })
            .collect();
        Macro {
            id: id.to_string(),
            ast: Node {
                kind: Kind::Array(items),
                pos: 0,
            },
        }
    }
}

/// What the compiler resolves names against, and when it must give up.
#[derive(Default)]
pub struct Env {
    pub macros: HashMap<String, Macro>,
    pub vars: HashMap<String, Arc<VarDecl>>,
    /// Compiling past this instant fails ("time budget exceeded"): a hostile policy (thousands of costly
    /// regexes) cannot hold a thread for long.
    pub deadline: Option<Instant>,
}

/// The event type a rule is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleEvent {
    Linux(EventType),
    /// Datadog's Windows model: type-checked, never evaluated on Linux.
    Windows(&'static str),
}

impl RuleEvent {
    pub fn name(&self) -> &'static str {
        match self {
            RuleEvent::Linux(t) => t.as_str(),
            RuleEvent::Windows(w) => w,
        }
    }
}

/// A compiled boolean expression.
#[derive(Debug)]
pub struct Compiled {
    pub(crate) node: BNode,
    /// `None` for expressions that use only common fields (action filters).
    pub event: Option<RuleEvent>,
    /// Every field read.
    pub fields: BTreeSet<String>,
    pub warnings: Vec<Warning>,
}

impl Compiled {
    /// Evaluates the expression on an event.
    pub fn eval(&self, cx: &Cx<'_>) -> bool {
        self.node.eval(cx)
    }
}

/// A compiled value expression (the `expression:` of a `set` action).
#[derive(Debug)]
pub struct CompiledValue {
    pub(crate) operand: Operand,
    pub ty: VarType,
    pub list: bool,
    pub fields: BTreeSet<String>,
}

/// Compiles a boolean rule (or filter) expression.
pub fn compile(src: &str, env: &Env) -> Result<Compiled> {
    let (ast, mut warnings) = parse(src)?;
    let mut c = Compiler::new(env);
    register_letters(&ast, &mut c.rule_letters);
    c.check_deadline(0)?;
    let mut node = c.boolean(&ast)?;
    warnings.extend(crate::exemptions::lint(&ast, env));
    crate::merge::alternatives(&mut node);
    node.reorder();
    let node = c.wrap_register(node);
    Ok(Compiled {
        node,
        event: c.event()?,
        fields: c.fields,
        warnings,
    })
}

/// Compiles a value expression (`"${process.pid}:x"`, `exec.file.path`, `${cgroup.count} + 1`).
pub fn compile_value(src: &str, env: &Env) -> Result<CompiledValue> {
    let (ast, _) = parse(src)?;
    let mut c = Compiler::new(env);
    c.check_deadline(0)?;
    let (operand, ty) = c.operand(&ast)?;
    c.event()?;
    let vt = match ty.t {
        T::Int | T::Ts | T::Dur => VarType::Int,
        T::Str | T::Pattern | T::Regex | T::Ip => VarType::Str,
        T::Bool => VarType::Bool,
    };
    if c.register.is_some() {
        return Err(Error::new(
            0,
            "registers are not allowed in value expressions",
        ));
    }
    Ok(CompiledValue {
        operand,
        ty: vt,
        list: ty.multi,
        fields: c.fields,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum T {
    Int,
    Str,
    Bool,
    Ip,
    Ts,
    Dur,
    Pattern,
    Regex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ty {
    t: T,
    multi: bool,
}

fn ty(t: T) -> Ty {
    Ty { t, multi: false }
}

fn tname(t: &Ty) -> String {
    let base = match t.t {
        T::Int => "int",
        T::Str => "string",
        T::Bool => "bool",
        T::Ip => "IP",
        T::Ts => "timestamp",
        T::Dur => "duration",
        T::Pattern => "pattern",
        T::Regex => "regex",
    };
    if t.multi {
        format!("{base} array")
    } else {
        base.to_string()
    }
}

const MAX_MACRO_DEPTH: usize = 32;

/// Depth of the compiler's recursion, macros expanded: bounds every walk over the compiled tree (evaluation,
/// analyses, drop). `tests/hostile_input.rs` runs expressions at this depth on a 1 MiB stack.
pub const MAX_COMPILE_DEPTH: usize = 128;

/// Nodes compiled for one expression, macros expanded (each reference expands its macro again): a chain
/// of macros that each use the previous one twice would otherwise expand exponentially.
pub const MAX_EXPANDED_NODES: usize = 100_000;

/// Datadog event types Rampart has no probe or payload for (yet).
const UNSUPPORTED_EVENTS: &[&str] = &[
    "packet",
    "setsockopt",
    "selinux",
    "cgroup_write",
    "sysctl",
    "setrlimit",
    "capabilities",
    "socket",
    "network_flow_monitor",
    "ondemand",
    "failed_dns",
    "raw_packet",
];

struct Compiler<'e> {
    env: &'e Env,
    fields: BTreeSet<String>,
    linux: Option<(EventType, usize, String)>,
    windows: Option<(&'static str, usize)>,
    windows_any: bool,
    /// (letter, iterator prefix, pos) of the `[X]` register in use.
    register: Option<(String, String, usize)>,
    /// Register letters the rule's own expression names (not its macros').
    rule_letters: BTreeSet<String>,
    macro_stack: Vec<String>,
    /// Position errors are reported at while expanding a macro (the macro reference).
    pos_override: Option<usize>,
    /// Current recursion depth and nodes visited so far (see [`MAX_COMPILE_DEPTH`], [`MAX_EXPANDED_NODES`]).
    depth: usize,
    nodes: usize,
}

impl<'e> Compiler<'e> {
    fn new(env: &'e Env) -> Self {
        Compiler {
            env,
            fields: BTreeSet::new(),
            linux: None,
            windows: None,
            windows_any: false,
            register: None,
            rule_letters: BTreeSet::new(),
            macro_stack: Vec::new(),
            pos_override: None,
            depth: 0,
            nodes: 0,
        }
    }

    /// Runs `f` one level deeper, within the depth, size and time budgets.
    fn nested<R>(&mut self, pos: usize, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        self.nodes += 1;
        self.within_budget(pos)?;
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// Kept apart from [`Compiler::nested`], which is on the stack once per level: its error messages
    /// would make every one of those frames larger.
    #[inline(never)]
    fn within_budget(&self, pos: usize) -> Result<()> {
        if self.depth >= MAX_COMPILE_DEPTH {
            return Err(self.err(
                pos,
                format!("expression nested too deeply with its macros expanded (more than {MAX_COMPILE_DEPTH} levels)"),
            ));
        }
        if self.nodes > MAX_EXPANDED_NODES {
            return Err(self.err(
                pos,
                format!("expression too large with its macros expanded (more than {MAX_EXPANDED_NODES} nodes)"),
            ));
        }
        // Checked every 64 nodes: a clock read per node would cost more than most nodes do.
        if self.nodes.is_multiple_of(64) {
            self.check_deadline(pos)?;
        }
        Ok(())
    }

    fn check_deadline(&self, pos: usize) -> Result<()> {
        match self.env.deadline {
            Some(d) if Instant::now() > d => Err(self.err(pos, "compile time budget exceeded")),
            _ => Ok(()),
        }
    }

    fn err(&self, pos: usize, msg: impl Into<String>) -> Error {
        let msg = msg.into();
        match (self.pos_override, self.macro_stack.last()) {
            (Some(p), Some(m)) => Error::new(p, format!("in macro `{m}`: {msg}")),
            _ => Error::new(pos, msg),
        }
    }

    fn event(&self) -> Result<Option<RuleEvent>> {
        if let Some((w, pos)) = self.windows {
            if let Some((t, _, f)) = &self.linux {
                if t.as_str() != w {
                    return Err(Error::new(
                        pos,
                        format!("rule mixes event types `{t}` (field `{f}`) and `{w}`"),
                    ));
                }
            }
            return Ok(Some(RuleEvent::Windows(w)));
        }
        Ok(match &self.linux {
            // A Linux event type plus a Windows-only field (`exec.cmdline`): a Windows rule.
            Some((t, _, _)) if self.windows_any => Some(RuleEvent::Windows(t.as_str())),
            Some((t, _, _)) => Some(RuleEvent::Linux(*t)),
            None => None,
        })
    }

    /// Binds the register of the current scope (the rule, or a macro the rule names) over the part of
    /// `node` that uses it ([`BNode::bind_register`]).
    fn wrap_register(&self, node: BNode) -> BNode {
        let Some((_, iterator, _)) = &self.register else {
            return node;
        };
        let name = format!("{iterator}.length");
        let Some(getter) = registry().get(&name).map(FieldDef::getter) else {
            return node;
        };
        let count = FieldOp {
            name,
            getter,
            reg: false,
            path: false,
            ci: false,
            array: false,
            multi: false,
            scalar: None,
        };
        node.bind_register(&count)
    }

    fn note_scope(&mut self, def: &FieldDef, pos: usize) -> Result<()> {
        match def.scope {
            FieldScope::Common => {}
            FieldScope::Event(t) => match &self.linux {
                Some((cur, _, f)) if *cur != t => {
                    return Err(self.err(
                        pos,
                        format!(
                            "rule mixes event types `{cur}` (field `{f}`) and `{t}` (field `{}`)",
                            def.name
                        ),
                    ))
                }
                Some(_) => {}
                None => self.linux = Some((t, pos, def.name.clone())),
            },
            FieldScope::Windows("*") => self.windows_any = true,
            FieldScope::Windows(w) => {
                self.windows_any = true;
                if let Ok(t) = w.parse::<EventType>() {
                    if matches!(&self.linux, Some((cur, _, _)) if *cur != t) {
                        return Err(self.err(
                            pos,
                            format!("rule mixes event types (field `{}`)", def.name),
                        ));
                    }
                    self.linux.get_or_insert((t, pos, def.name.clone()));
                } else {
                    match self.windows {
                        Some((cur, _)) if cur != w => {
                            return Err(
                                self.err(pos, format!("rule mixes event types `{cur}` and `{w}`"))
                            )
                        }
                        _ => self.windows = Some((w, pos)),
                    }
                }
            }
        }
        Ok(())
    }

    /// Resolves a field name, with an optional `[X]` register.
    fn field(&mut self, name: &str, pos: usize) -> Result<Option<(FieldOp, Ty)>> {
        let (base, reg) = match name.find('[') {
            Some(i) => {
                let close = name[i..]
                    .find(']')
                    .map(|j| i + j)
                    .ok_or_else(|| self.err(pos, "unclosed register"))?;
                let letter = &name[i + 1..close];
                (
                    format!("{}{}", &name[..i], &name[close + 1..]),
                    Some((letter.to_string(), name[..i].to_string())),
                )
            }
            None => (name.to_string(), None),
        };
        let Some(def) = registry().get(&base) else {
            if reg.is_some() {
                return Err(self.err(pos, format!("unknown field `{base}`")));
            }
            return Ok(None);
        };
        if let Some((letter, iter)) = &reg {
            if def.iterator.as_deref() != Some(iter.as_str()) {
                return Err(self.err(
                    pos,
                    format!("`{iter}` is not an iterator: registers only apply to iterators"),
                ));
            }
            match &self.register {
                Some((l, it, _)) if l != letter || it != iter => {
                    return Err(self.err(
                        pos,
                        "only one register per rule (or per macro it names) is supported",
                    ));
                }
                _ => self.register = Some((letter.clone(), iter.clone(), pos)),
            }
        }
        self.note_scope(def, pos)?;
        self.fields.insert(base.clone());
        let t = match def.ty {
            FieldType::Int => T::Int,
            FieldType::Str => T::Str,
            FieldType::Bool => T::Bool,
            FieldType::Ip => T::Ip,
            FieldType::Timestamp => T::Ts,
        };
        let op = FieldOp {
            name: base,
            getter: def.getter(),
            reg: reg.is_some(),
            path: def.path,
            ci: def.case_insensitive,
            array: def.array,
            multi: def.is_multi() && reg.is_none(),
            scalar: if reg.is_none() { def.scalar() } else { None },
        };
        Ok(Some((
            op,
            Ty {
                t,
                multi: def.is_multi() && reg.is_none() || def.array,
            },
        )))
    }

    fn with_macro<R>(
        &mut self,
        id: &str,
        pos: usize,
        f: impl FnOnce(&mut Self, &Node) -> Result<R>,
    ) -> Result<R> {
        if self.macro_stack.iter().any(|m| m == id) {
            return Err(self.err(pos, format!("macro `{id}` refers to itself")));
        }
        if self.macro_stack.len() >= MAX_MACRO_DEPTH {
            return Err(self.err(
                pos,
                format!("macros nested more than {MAX_MACRO_DEPTH} deep (at `{id}`)"),
            ));
        }
        let m = &self.env.macros[id];
        let saved = self.pos_override;
        if self.pos_override.is_none() {
            self.pos_override = Some(pos);
        }
        self.macro_stack.push(id.to_string());
        let r = f(self, &m.ast);
        self.macro_stack.pop();
        self.pos_override = saved;
        r
    }

    // ---- boolean expressions ----

    fn boolean(&mut self, n: &Node) -> Result<BNode> {
        let n = unparen(n);
        self.nested(n.pos, |c| c.boolean_node(n))
    }

    fn boolean_node(&mut self, n: &Node) -> Result<BNode> {
        match &n.kind {
            Kind::Bool(b) => Ok(BNode::Const(*b)),
            Kind::And(terms) => self.terms(terms, and),
            Kind::Or(terms) => self.terms(terms, or),
            Kind::Unary(UnOp::Not, x) => self.boolean(x).map(not),
            Kind::Binary(op, l, r) if is_comparison(*op) => self.comparison(*op, l, r, n.pos),
            Kind::Ident(name)
                if !self.env.macros.contains_key(name.as_str())
                    || registry().get(name).is_some() =>
            {
                self.truthy_operand(n)
            }
            Kind::Ident(name) if self.macro_stack.is_empty() => {
                // A boolean macro the rule names binds its own `[X]` register (the macros it names share
                // it), unless the rule itself names that letter: `!(TRUSTED_X_ANCESTOR)` means "no ancestor
                // is a trusted X", and two such macros in one rule are not tied to the same element.
                let name = name.clone();
                let outer = self.register.take();
                let node = self.with_macro(&name, n.pos, |c, ast| c.boolean(ast))?;
                match self.register.take() {
                    Some(inner) if self.rule_letters.contains(&inner.0) => {
                        if outer
                            .as_ref()
                            .is_some_and(|o| o.0 != inner.0 || o.1 != inner.1)
                        {
                            return Err(self.err(n.pos, ONE_REGISTER));
                        }
                        self.register = outer.or(Some(inner));
                        Ok(node)
                    }
                    inner => {
                        self.register = inner;
                        let node = self.wrap_register(node);
                        self.register = outer;
                        Ok(node)
                    }
                }
            }
            Kind::Ident(name) => {
                let name = name.clone();
                self.with_macro(&name, n.pos, |c, ast| c.boolean(ast))
            }
            Kind::Var(_) => self.truthy_operand(n),
            _ => Err(self.not_boolean(n.pos)),
        }
    }

    /// The terms of an n-ary `&&`/`||`, combined left to right (every term is checked, even after a
    /// constant decided the result).
    fn terms(&mut self, terms: &[Node], combine: fn(BNode, BNode) -> BNode) -> Result<BNode> {
        let mut nodes = Vec::with_capacity(terms.len());
        for t in terms {
            nodes.push(self.boolean(t)?);
        }
        Ok(combined(nodes, combine))
    }

    #[cold]
    #[inline(never)]
    fn not_boolean(&self, pos: usize) -> Error {
        self.err(pos, "expected a boolean expression")
    }

    /// A boolean field or variable used as a condition.
    fn truthy_operand(&mut self, n: &Node) -> Result<BNode> {
        let (o, t) = self.operand(n)?;
        self.truthy(o, t, n.pos)
    }

    fn truthy(&self, o: Operand, t: Ty, pos: usize) -> Result<BNode> {
        if t.t != T::Bool {
            return Err(self.err(pos, format!("a {} is not a boolean condition", tname(&t))));
        }
        Ok(match o {
            Operand::Const(Const::Bool(b)) => BNode::Const(b),
            o => BNode::Bool {
                lhs: o,
                value: true,
            },
        })
    }

    // ---- values ----

    fn operand(&mut self, n: &Node) -> Result<(Operand, Ty)> {
        let n = unparen(n);
        self.nested(n.pos, |c| c.operand_node(n))
    }

    fn operand_node(&mut self, n: &Node) -> Result<(Operand, Ty)> {
        // Every arm is a call in tail position: in unoptimised builds, an arm's temporaries each take a
        // slot of this frame, which is on the stack once per nesting level.
        match &n.kind {
            Kind::Str(s) if s.contains("${") => self.interpolation(s, n.pos),
            Kind::Regex(s) => self.regex(s, n.pos),
            Kind::Ident(name) => self.ident(name, n.pos),
            Kind::Var(name) => self.variable(name, n.pos),
            Kind::Array(items) => self.array(items, n.pos),
            Kind::Unary(op @ (UnOp::Neg | UnOp::BitNot), x) => self.negation(*op, x, n.pos),
            Kind::Binary(
                op @ (BinOp::Add | BinOp::Sub | BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor),
                l,
                r,
            ) => self.arithmetic(*op, l, r, n.pos),
            Kind::Unary(UnOp::Not, _)
            | Kind::Binary(..)
            | Kind::Or(_)
            | Kind::And(_)
            | Kind::Paren(_) => Err(self.not_a_value(n.pos)),
            literal => Ok(constant(literal)),
        }
    }

    // The arms of `operand_node` that hold many temporaries are functions of their own: `operand_node` is on
    // the stack once per nesting level, and in unoptimised builds its frame holds every arm's locals.

    fn regex(&self, s: &str, pos: usize) -> Result<(Operand, Ty)> {
        // Syntax only: the matcher compiles it (within its size budget) once.
        regex_syntax::Parser::new()
            .parse(s)
            .map_err(|e| self.err(pos, format!("invalid regex: {e}")))?;
        Ok((Operand::Const(Const::Regex(s.to_string())), ty(T::Regex)))
    }

    fn negation(&mut self, op: UnOp, x: &Node, pos: usize) -> Result<(Operand, Ty)> {
        let (o, t) = self.operand(x)?;
        if t.t != T::Int {
            return Err(self.needs_int(op, t, pos));
        }
        let o = match (op, o) {
            (UnOp::Neg, Operand::Const(Const::Int(i))) => {
                Operand::Const(Const::Int(i.wrapping_neg()))
            }
            (UnOp::BitNot, Operand::Const(Const::Int(i))) => Operand::Const(Const::Int(!i)),
            (UnOp::Neg, o) => Operand::Neg(Box::new(o)),
            (_, o) => Operand::BitNot(Box::new(o)),
        };
        Ok((o, t))
    }

    fn arithmetic(&mut self, op: BinOp, l: &Node, r: &Node, pos: usize) -> Result<(Operand, Ty)> {
        let (lo, lt) = self.operand(l)?;
        let (ro, rt) = self.operand(r)?;
        let int_like = |t: &Ty| matches!(t.t, T::Int | T::Ts);
        if !int_like(&lt) || !int_like(&rt) || rt.multi {
            return Err(self.needs_ints(op, lt, rt, pos));
        }
        let o = match (lo, ro) {
            (Operand::Const(Const::Int(a)), Operand::Const(Const::Int(b))) => {
                Operand::Const(Const::Int(crate::eval::arith(op, a, b)))
            }
            (lo, ro) => Operand::Arith(Box::new(lo), op, Box::new(ro)),
        };
        Ok((
            o,
            Ty {
                t: T::Int,
                multi: lt.multi,
            },
        ))
    }

    #[cold]
    #[inline(never)]
    fn not_a_value(&self, pos: usize) -> Error {
        self.err(pos, "a boolean expression cannot be used as a value here")
    }

    #[cold]
    #[inline(never)]
    fn needs_int(&self, op: UnOp, t: Ty, pos: usize) -> Error {
        self.err(
            pos,
            format!("`{}` needs an int, found {}", unop(op), tname(&t)),
        )
    }

    #[cold]
    #[inline(never)]
    fn needs_ints(&self, op: BinOp, lt: Ty, rt: Ty, pos: usize) -> Error {
        self.err(
            pos,
            format!(
                "`{}` needs ints, found {} and {}",
                op.symbol(),
                tname(&lt),
                tname(&rt)
            ),
        )
    }

    fn ident(&mut self, name: &str, pos: usize) -> Result<(Operand, Ty)> {
        if let Some((f, t)) = self.field(name, pos)? {
            return Ok((Operand::Field(f), t));
        }
        if let Some(base) = name.strip_suffix(".length") {
            if let Some((f, t)) = self.field(base, pos)? {
                let def = registry().get(&f.name).expect("resolved above");
                if !(t.t == T::Str || def.array) {
                    return Err(self.err(
                        pos,
                        format!("`.length` does not apply to `{base}` ({})", tname(&t)),
                    ));
                }
                return Ok((
                    Operand::Length(f),
                    Ty {
                        t: T::Int,
                        multi: def.iterator.is_some() && !def.array,
                    },
                ));
            }
        }
        if let Some(v) = consts::lookup(name) {
            return Ok((Operand::Const(Const::Int(v)), ty(T::Int)));
        }
        if self.env.macros.contains_key(name) {
            return self.with_macro(name, pos, |c, ast| c.operand(ast));
        }
        if registry().is_event_prefix(name) {
            return Err(self.err(
                pos,
                format!("`{name}` is an event type, not a field: compare one of its fields"),
            ));
        }
        let first = name.split(['.', '[']).next().unwrap_or(name);
        if UNSUPPORTED_EVENTS.contains(&first) {
            return Err(self.err(
                pos,
                format!("`{name}`: `{first}` events exist in Datadog's model but are not supported by Rampart yet"),
            ));
        }
        if registry().is_event_prefix(first) || first == "process" || first == "container" {
            return Err(self.err(pos, format!("unknown field `{name}`")));
        }
        Err(self.err(
            pos,
            format!("unknown identifier `{name}` (not a field, constant or macro)"),
        ))
    }

    fn variable(&mut self, name: &str, pos: usize) -> Result<(Operand, Ty)> {
        match name {
            "process.pid" => return Ok((self.ident("process.pid", pos)?.0, ty(T::Int))),
            "builtins.uuid4" => return Ok((Operand::Interp(vec![Piece::Uuid]), ty(T::Str))),
            _ => {}
        }
        let Some(decl) = self.env.vars.get(name) else {
            return Err(self.err(
                pos,
                format!("unknown variable `${{{name}}}` (no `set` action declares it)"),
            ));
        };
        let t = match decl.ty {
            VarType::Int => T::Int,
            VarType::Str => T::Str,
            VarType::Bool => T::Bool,
        };
        Ok((
            Operand::Var(decl.clone()),
            Ty {
                t,
                multi: decl.list,
            },
        ))
    }

    /// `"…${process.pid}…${process.name}…"`: a string built at evaluation time.
    fn interpolation(&mut self, s: &str, pos: usize) -> Result<(Operand, Ty)> {
        let mut pieces = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find("${") {
            if i > 0 {
                pieces.push(Piece::Lit(rest[..i].to_string()));
            }
            let end = rest[i..]
                .find('}')
                .ok_or_else(|| self.err(pos, "unterminated `${` in string"))?
                + i;
            let name = &rest[i + 2..end];
            pieces.push(match self.variable(name, pos)? {
                (Operand::Interp(mut p), _) if p.len() == 1 => p.remove(0),
                (Operand::Var(d), _) => Piece::Var(d),
                (o, _) => Piece::Value(Box::new(o)),
            });
            rest = &rest[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Lit(rest.to_string()));
        }
        Ok((Operand::Interp(pieces), ty(T::Str)))
    }

    fn array(&mut self, items: &[Node], _pos: usize) -> Result<(Operand, Ty)> {
        let mut out = Vec::new();
        let mut kind: Option<T> = None;
        for item in items {
            let (o, t) = self.operand(item)?;
            let Operand::Const(c) = o else {
                return Err(self.err(item.pos, "array elements must be constants"));
            };
            let k = match t.t {
                T::Pattern | T::Regex => T::Str,
                other => other,
            };
            match kind {
                Some(prev) if prev != k => {
                    return Err(self.err(
                        item.pos,
                        format!("array mixes {} and {}", tname(&ty(prev)), tname(&t)),
                    ))
                }
                _ => kind = Some(k),
            }
            out.push(c);
        }
        Ok((
            Operand::List(out),
            Ty {
                t: kind.unwrap_or(T::Str),
                multi: true,
            },
        ))
    }

    // ---- comparisons ----

    fn comparison(&mut self, op: BinOp, l: &Node, r: &Node, pos: usize) -> Result<BNode> {
        let (mut lo, mut lt) = self.operand(l)?;
        let (mut ro, mut rt) = self.operand(r)?;
        let mut op = op;
        // Constant on the left: put the field/variable on the left.
        if is_const(&lo) && !is_const(&ro) {
            op = match op {
                BinOp::In => BinOp::Eq,
                BinOp::NotIn => BinOp::Ne,
                BinOp::Lt => BinOp::Gt,
                BinOp::Le => BinOp::Ge,
                BinOp::Gt => BinOp::Lt,
                BinOp::Ge => BinOp::Le,
                BinOp::AllIn => return Err(self.err(pos, "`allin` needs the field on its left")),
                other => other,
            };
            if matches!(op, BinOp::Eq | BinOp::Ne) && matches!(lo, Operand::List(_)) {
                return Err(self.err(pos, "an array cannot be compared with `==`"));
            }
            std::mem::swap(&mut lo, &mut ro);
            std::mem::swap(&mut lt, &mut rt);
        }
        let negate = matches!(op, BinOp::Ne | BinOp::NotMatch | BinOp::NotIn);
        let node = self.positive(op, lo, lt, ro, rt, pos)?;
        let node = if negate { not(node) } else { node };
        Ok(fold(node))
    }

    fn positive(
        &mut self,
        op: BinOp,
        lo: Operand,
        lt: Ty,
        ro: Operand,
        rt: Ty,
        pos: usize,
    ) -> Result<BNode> {
        let quant = if op == BinOp::AllIn {
            Quant::All
        } else {
            Quant::Any
        };
        let array_op = matches!(op, BinOp::In | BinOp::NotIn | BinOp::AllIn);
        if array_op && !rt.multi && !matches!(ro, Operand::Const(_)) {
            return Err(self.err(
                pos,
                format!(
                    "`{}` needs an array on its right, found {}",
                    op.symbol(),
                    tname(&rt)
                ),
            ));
        }
        if !array_op && rt.multi && matches!(ro, Operand::List(_)) {
            return Err(self.err(
                pos,
                format!("`{}` cannot compare with an array: use `in`", op.symbol()),
            ));
        }
        let mismatch = |c: &Self| {
            c.err(
                pos,
                format!(
                    "cannot compare {} with {} using `{}`",
                    tname(&lt),
                    tname(&rt),
                    op.symbol()
                ),
            )
        };
        let consts: Option<Vec<Const>> = match &ro {
            Operand::Const(c) => Some(vec![c.clone()]),
            Operand::List(v) => Some(v.clone()),
            _ => None,
        };
        let ordering = matches!(op, BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge);
        match (lt.t, consts) {
            (T::Str, Some(items)) => {
                if ordering {
                    return Err(mismatch(self));
                }
                let (path, ci) = match &lo {
                    Operand::Field(f) => (f.path, f.ci),
                    _ => (false, false),
                };
                let pattern_op = matches!(op, BinOp::Match | BinOp::NotMatch);
                // Regexes are the costly part of compiling: the budget is checked before each set.
                self.check_deadline(pos)?;
                let m =
                    StrMatcher::new(&items, pattern_op, path, ci).map_err(|e| self.err(pos, e))?;
                Ok(BNode::Str { lhs: lo, m, quant })
            }
            (T::Int | T::Ts, Some(items)) => {
                if let [Const::Duration(d)] = items.as_slice() {
                    if lt.t != T::Ts || !ordering {
                        return Err(self.err(
                            pos,
                            "durations compare only with timestamps, using < <= > >=",
                        ));
                    }
                    return Ok(BNode::Dur {
                        lhs: lo,
                        op: cmp_op(op),
                        ns: *d,
                    });
                }
                let mut ints = Vec::with_capacity(items.len());
                for c in &items {
                    match c {
                        Const::Int(i) => ints.push(*i),
                        _ => return Err(mismatch(self)),
                    }
                }
                let m = match op {
                    BinOp::Eq | BinOp::Ne | BinOp::In | BinOp::NotIn | BinOp::AllIn => {
                        IntMatcher::Set(ints)
                    }
                    _ if ordering && ints.len() == 1 => IntMatcher::Cmp(cmp_op(op), ints[0]),
                    _ => return Err(mismatch(self)),
                };
                Ok(BNode::Int { lhs: lo, m, quant })
            }
            (T::Bool, Some(items)) => match (op, items.as_slice()) {
                (BinOp::Eq | BinOp::Ne, [Const::Bool(b)]) => Ok(BNode::Bool { lhs: lo, value: *b }),
                _ => Err(mismatch(self)),
            },
            (T::Ip, Some(items)) => {
                if ordering || matches!(op, BinOp::Match | BinOp::NotMatch) {
                    return Err(mismatch(self));
                }
                let mut nets = Vec::new();
                for c in &items {
                    match c {
                        Const::Ip(n) => nets.push(*n),
                        _ => return Err(mismatch(self)),
                    }
                }
                Ok(BNode::Ip {
                    lhs: lo,
                    nets,
                    quant,
                })
            }
            (T::Dur | T::Pattern | T::Regex, _) => Err(mismatch(self)),
            (_, None) => {
                // Both sides dynamic (fields, variables, interpolated strings, arithmetic).
                let compatible = matches!(
                    (lt.t, rt.t),
                    (T::Str, T::Str)
                        | (T::Bool, T::Bool)
                        | (T::Ip, T::Ip)
                        | (T::Int | T::Ts, T::Int | T::Ts)
                );
                if !compatible
                    || (ordering && !matches!(lt.t, T::Int | T::Ts))
                    || (op == BinOp::Match)
                {
                    return Err(mismatch(self));
                }
                let cop = match op {
                    BinOp::Eq | BinOp::Ne | BinOp::In | BinOp::NotIn | BinOp::AllIn => CmpOp::Eq,
                    BinOp::NotMatch => return Err(mismatch(self)),
                    _ => cmp_op(op),
                };
                Ok(BNode::Dyn {
                    lhs: lo,
                    op: cop,
                    rhs: ro,
                    quant,
                })
            }
        }
    }
}

/// The value of a literal node (strings without `${…}`, numbers, patterns, addresses).
fn constant(n: &Kind) -> (Operand, Ty) {
    let (c, t) = match n {
        Kind::Bool(b) => (Const::Bool(*b), T::Bool),
        Kind::Int(i) => (Const::Int(*i), T::Int),
        Kind::Duration(d) => (Const::Duration(*d), T::Dur),
        Kind::Str(s) => (Const::Str(s.clone()), T::Str),
        Kind::Pattern(s) => (Const::Pattern(s.clone()), T::Pattern),
        Kind::Regex(s) => (Const::Regex(s.clone()), T::Regex),
        Kind::Ip(ip) => (Const::Ip(IpNet::host(*ip)), T::Ip),
        Kind::Cidr(net) => (Const::Ip(*net), T::Ip),
        other => unreachable!("not a literal: {other:?}"),
    };
    (Operand::Const(c), ty(t))
}

/// The expression inside any parentheses (a loop, not a level of recursion).
fn unparen(mut n: &Node) -> &Node {
    while let Kind::Paren(x) = &n.kind {
        n = x;
    }
    n
}

fn unop(op: UnOp) -> &'static str {
    match op {
        UnOp::Not => "!",
        UnOp::Neg => "-",
        UnOp::BitNot => "^",
    }
}

fn is_comparison(op: BinOp) -> bool {
    use BinOp::*;
    matches!(
        op,
        Eq | Ne | Match | NotMatch | Lt | Le | Gt | Ge | In | NotIn | AllIn
    )
}

fn cmp_op(op: BinOp) -> CmpOp {
    match op {
        BinOp::Lt => CmpOp::Lt,
        BinOp::Le => CmpOp::Le,
        BinOp::Gt => CmpOp::Gt,
        BinOp::Ge => CmpOp::Ge,
        _ => CmpOp::Eq,
    }
}

fn is_const(o: &Operand) -> bool {
    matches!(o, Operand::Const(_) | Operand::List(_))
}

/// The compiled terms of a chain, combined left to right.
#[inline(never)]
fn combined(nodes: Vec<BNode>, combine: fn(BNode, BNode) -> BNode) -> BNode {
    nodes
        .into_iter()
        .reduce(combine)
        .unwrap_or(BNode::Const(true))
}

fn and(a: BNode, b: BNode) -> BNode {
    match (a, b) {
        (BNode::Const(false), _) | (_, BNode::Const(false)) => BNode::Const(false),
        (BNode::Const(true), x) | (x, BNode::Const(true)) => x,
        (BNode::And(mut v), BNode::And(w)) => {
            v.extend(w);
            BNode::And(v)
        }
        (BNode::And(mut v), x) => {
            v.push(x);
            BNode::And(v)
        }
        (x, BNode::And(mut v)) => {
            v.insert(0, x);
            BNode::And(v)
        }
        (x, y) => BNode::And(vec![x, y]),
    }
}

fn or(a: BNode, b: BNode) -> BNode {
    match (a, b) {
        (BNode::Const(true), _) | (_, BNode::Const(true)) => BNode::Const(true),
        (BNode::Const(false), x) | (x, BNode::Const(false)) => x,
        (BNode::Or(mut v), BNode::Or(w)) => {
            v.extend(w);
            BNode::Or(v)
        }
        (BNode::Or(mut v), x) => {
            v.push(x);
            BNode::Or(v)
        }
        (x, BNode::Or(mut v)) => {
            v.insert(0, x);
            BNode::Or(v)
        }
        (x, y) => BNode::Or(vec![x, y]),
    }
}

fn not(a: BNode) -> BNode {
    match a {
        BNode::Const(b) => BNode::Const(!b),
        BNode::Not(x) => *x,
        x => BNode::Not(Box::new(x)),
    }
}

const ONE_REGISTER: &str = "only one register per rule (or per macro it names) is supported";

/// Collects the `[X]` register letters named in `n` (field names such as `process.ancestors[A].comm`).
fn register_letters(n: &Node, out: &mut BTreeSet<String>) {
    match &n.kind {
        Kind::Ident(name) => {
            if let Some((_, rest)) = name.split_once('[') {
                if let Some((letter, _)) = rest.split_once(']') {
                    out.insert(letter.to_string());
                }
            }
        }
        Kind::Array(items) | Kind::Or(items) | Kind::And(items) => {
            items.iter().for_each(|i| register_letters(i, out))
        }
        Kind::Unary(_, x) | Kind::Paren(x) => register_letters(x, out),
        Kind::Binary(_, l, r) => {
            register_letters(l, out);
            register_letters(r, out);
        }
        _ => {}
    }
}

/// A node whose operands are all constants is evaluated once, here.
fn fold(node: BNode) -> BNode {
    if !node.is_constant() {
        return node;
    }
    static EMPTY: LazyLock<Event> = LazyLock::new(|| {
        Event::new(
            0,
            ProcessContext::default(),
            rampart_model::EventData::Exit(rampart_model::ExitEvent {
                cause: rampart_model::ExitCause::Exited,
                code: 0,
            }),
        )
    });
    let cx = Cx {
        event: &EMPTY,
        vars: &NoVariables,
        now: 0,
        reg: None,
    };
    BNode::Const(node.eval(&cx))
}

/// Type-checks a macro body: a boolean expression or a value (array, constant, arithmetic).
pub(crate) fn check_node(ast: &Node, env: &Env) -> Result<()> {
    let as_bool = Compiler::new(env).boolean(ast).map(|_| ());
    as_bool.or_else(|e| Compiler::new(env).operand(ast).map(|_| ()).map_err(|_| e))
}
