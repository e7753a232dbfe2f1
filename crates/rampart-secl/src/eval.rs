//! The evaluator tree and its interpreter. Nothing here allocates on the hot path: fields are visited in
//! place, string constants are precompiled matchers, and `&&`/`||` short-circuit.

use std::fmt;
use std::sync::Arc;

use rampart_model::fields::{Getter, Scalar, Sink, Val};
use rampart_model::Event;
use regex::Regex;

use crate::ast::BinOp;
use crate::glob::Glob;
use crate::value::{Const, IpNet};
use crate::variables::{ScopeKey, VarDecl, VarValue, VariableStore};

/// What an evaluation reads: the event, the variables, the clock and the bound register.
#[derive(Clone, Copy)]
pub struct Cx<'a> {
    pub event: &'a Event,
    pub vars: &'a dyn VariableStore,
    /// "Now" in ns since the epoch, for durations (`created_at < 5s`) and variable TTLs.
    pub now: u64,
    pub(crate) reg: Option<usize>,
}

impl<'a> Cx<'a> {
    /// An evaluation context whose clock is the event's own timestamp (deterministic replays).
    pub fn new(event: &'a Event, vars: &'a dyn VariableStore) -> Self {
        let now = if event.event.timestamp != 0 {
            event.event.timestamp
        } else {
            wall_clock_ns()
        };
        Cx {
            event,
            vars,
            now,
            reg: None,
        }
    }
}

pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    #[inline]
    fn test<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// Any element (`==`, `in`) or every element (`allin`) of a multi-valued operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    Any,
    All,
}

/// A field read by an evaluator.
#[derive(Clone)]
pub struct FieldOp {
    pub name: String,
    pub getter: Getter,
    /// Bound to the rule's `[X]` register.
    pub reg: bool,
    pub path: bool,
    pub ci: bool,
    pub array: bool,
    /// Several values per event (array or iterator without register).
    pub multi: bool,
    /// Direct accessor when the field has exactly one value (the fast path).
    pub scalar: Option<Scalar>,
}

impl fmt::Debug for FieldOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)
    }
}

/// One piece of an interpolated string.
#[derive(Debug)]
pub enum Piece {
    Lit(String),
    Uuid,
    Var(Arc<VarDecl>),
    Value(Box<Operand>),
}

#[derive(Debug)]
pub enum Operand {
    Const(Const),
    List(Vec<Const>),
    Field(FieldOp),
    /// `.length` of a string (per value) or of an array field (element count).
    Length(FieldOp),
    Var(Arc<VarDecl>),
    Interp(Vec<Piece>),
    Arith(Box<Operand>, BinOp, Box<Operand>),
    Neg(Box<Operand>),
    BitNot(Box<Operand>),
}

pub(crate) fn arith(op: BinOp, a: i64, b: i64) -> i64 {
    match op {
        BinOp::Add => a.wrapping_add(b),
        BinOp::Sub => a.wrapping_sub(b),
        BinOp::BitAnd => a & b,
        BinOp::BitOr => a | b,
        BinOp::BitXor => a ^ b,
        _ => 0,
    }
}

fn const_val(c: &Const) -> Option<Val<'_>> {
    match c {
        Const::Int(i) | Const::Duration(i) => Some(Val::Int(*i)),
        Const::Str(s) | Const::Pattern(s) | Const::Regex(s) => Some(Val::Str(s)),
        Const::Bool(b) => Some(Val::Bool(*b)),
        Const::Ip(n) => Some(Val::Ip(n.addr)),
    }
}

impl Operand {
    /// Visits every value; returns `true` if the sink stopped the walk.
    pub fn visit(&self, cx: &Cx<'_>, sink: &mut Sink<'_>) -> bool {
        match self {
            Operand::Field(f) => match &f.scalar {
                Some(get) => sink(get(cx.event)),
                None => (f.getter)(cx.event, if f.reg { cx.reg } else { None }, sink),
            },
            Operand::Const(c) => const_val(c).is_some_and(sink),
            Operand::List(items) => items.iter().filter_map(const_val).any(sink),
            Operand::Length(f) => {
                let reg = if f.reg { cx.reg } else { None };
                if f.array {
                    let mut n = 0i64;
                    (f.getter)(cx.event, reg, &mut |_| {
                        n += 1;
                        false
                    });
                    sink(Val::Int(n))
                } else {
                    (f.getter)(cx.event, reg, &mut |v| match v {
                        Val::Str(s) => sink(Val::Int(s.len() as i64)),
                        _ => false,
                    })
                }
            }
            Operand::Var(decl) => visit_var(decl, cx, sink),
            Operand::Interp(pieces) => {
                let s = interpolate(pieces, cx);
                sink(Val::Str(&s))
            }
            Operand::Arith(l, op, r) => {
                let Some(b) = first_int(r, cx) else {
                    return false;
                };
                l.visit(cx, &mut |v| match v {
                    Val::Int(a) => sink(Val::Int(arith(*op, a, b))),
                    _ => false,
                })
            }
            Operand::Neg(x) => x.visit(cx, &mut |v| match v {
                Val::Int(a) => sink(Val::Int(a.wrapping_neg())),
                _ => false,
            }),
            Operand::BitNot(x) => x.visit(cx, &mut |v| match v {
                Val::Int(a) => sink(Val::Int(!a)),
                _ => false,
            }),
        }
    }

    /// Every value, owned (for `set` actions).
    pub fn values(&self, cx: &Cx<'_>) -> Vec<VarValue> {
        let mut out = Vec::new();
        self.visit(cx, &mut |v| {
            out.push(VarValue::from_val(v));
            false
        });
        out
    }

    fn is_constant(&self) -> bool {
        match self {
            Operand::Const(_) | Operand::List(_) => true,
            Operand::Arith(l, _, r) => l.is_constant() && r.is_constant(),
            Operand::Neg(x) | Operand::BitNot(x) => x.is_constant(),
            _ => false,
        }
    }
}

fn first_int(o: &Operand, cx: &Cx<'_>) -> Option<i64> {
    let mut out = None;
    o.visit(cx, &mut |v| {
        if let Val::Int(i) = v {
            out = Some(i);
        }
        true
    });
    out
}

fn visit_var(decl: &VarDecl, cx: &Cx<'_>, sink: &mut Sink<'_>) -> bool {
    let key = ScopeKey::of(decl.scope, cx.event);
    if let Some(key) = &key {
        if let Some(stopped) = cx.vars.visit(decl, key, cx.now, sink) {
            return stopped;
        }
    }
    if decl.list {
        return false;
    }
    match &decl.default {
        Some(d) => sink(d.as_val()),
        None => sink(VarValue::zero(decl.ty).as_val()),
    }
}

fn interpolate(pieces: &[Piece], cx: &Cx<'_>) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for p in pieces {
        match p {
            Piece::Lit(l) => s.push_str(l),
            Piece::Uuid => s.push_str(&uuid4()),
            Piece::Var(d) => {
                let mut first = true;
                visit_var(d, cx, &mut |v| {
                    if !first {
                        s.push(',');
                    }
                    first = false;
                    push_val(&mut s, v);
                    false
                });
            }
            Piece::Value(o) => {
                o.visit(cx, &mut |v| {
                    push_val(&mut s, v);
                    true
                });
            }
        }
    }
    fn push_val(s: &mut String, v: Val<'_>) {
        match v {
            Val::Int(i) => {
                let _ = write!(s, "{i}");
            }
            Val::Str(x) => s.push_str(x),
            Val::Bool(b) => {
                let _ = write!(s, "{b}");
            }
            Val::Ip(ip) => {
                let _ = write!(s, "{ip}");
            }
        }
    }
    s
}

/// A random (v4) UUID, for `${builtins.uuid4}` correlation keys.
pub fn uuid4() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let word = || {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u64(wall_clock_ns());
        h.finish()
    };
    let (a, b) = (word(), word());
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// String equality that never calls `memcmp` on empty strings: their pointers are dangling, and the
/// vectorised `memcmp` of some CPUs takes a slow microcode assist on masked loads from unmapped pages.
#[inline]
pub(crate) fn str_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a.as_bytes() == b.as_bytes())
}

/// Memory a regex may take once compiled (its NFA), and its lazy DFA's cache. The regex crate's defaults
/// (10 MiB, 2 MiB) let `(\w{1,100}){1,50}` take 70 ms (release) to be refused; at 1 MiB it takes 4 ms.
/// The regexes of the default policies need a few KiB.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
pub const REGEX_DFA_SIZE_LIMIT: usize = 1 << 20;

/// Every regex of a rule is built here, within the size budget.
pub(crate) fn build_regex(src: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(src)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
}

/// A regex with the literal prefix any match of an anchored pattern starts with (`[` for `^\[.*\]$`):
/// checking it first avoids the regex engine for most values.
#[derive(Debug, Clone)]
pub(crate) struct Re {
    prefix: String,
    re: Regex,
}

impl Re {
    fn new(src: &str) -> Result<Re, regex::Error> {
        Ok(Re {
            prefix: anchored_prefix(src),
            re: build_regex(src)?,
        })
    }

    #[inline]
    fn is_match(&self, s: &str) -> bool {
        s.starts_with(self.prefix.as_str()) && self.re.is_match(s)
    }
}

/// The literal text right after a leading `^`, up to the first metacharacter (empty when unsure).
fn anchored_prefix(src: &str) -> String {
    let Some(rest) = src.strip_prefix('^') else {
        return String::new();
    };
    let mut out = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        let lit = match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => e,
                _ => break,
            },
            '.' | '[' | ']' | '(' | ')' | '{' | '}' | '*' | '+' | '?' | '|' | '^' | '$' => break,
            c if c.is_alphanumeric()
                || c == ' '
                || c == '/'
                || c == '-'
                || c == '_'
                || c == ':'
                || c == '=' =>
            {
                c
            }
            _ => break,
        };
        // A quantifier makes the last literal optional.
        if matches!(chars.peek(), Some('*' | '?' | '{')) {
            break;
        }
        out.push(lit);
    }
    out
}

#[derive(Debug)]
pub struct StrMatcher {
    exact: Exact,
    /// `""` is one of the exact values (kept apart: see [`str_eq`]).
    empty: bool,
    pub(crate) globs: Vec<Glob>,
    pub(crate) regexes: Vec<Re>,
    /// Many `*literal*` globs, as one literal alternation (a single multi-literal search).
    contains: Option<Regex>,
    ci: bool,
    path: bool,
    /// The constants it was built from, for [`StrMatcher::union`].
    items: Vec<(Const, bool)>,
}

#[derive(Debug)]
enum Exact {
    Few(Vec<String>),
    Many(crate::fxhash::FxHashSet<String>),
}

impl StrMatcher {
    /// `pattern_op`: `=~`, where a plain string is a pattern too.
    pub(crate) fn new(
        items: &[Const],
        pattern_op: bool,
        path: bool,
        ci: bool,
    ) -> Result<Self, String> {
        let items: Vec<(Const, bool)> = items.iter().map(|c| (c.clone(), pattern_op)).collect();
        Self::from_items(items, path, ci)
    }

    /// One matcher for `x in A || x in B || …`: it matches what any of them matches (each constant keeps the
    /// meaning its own operator gave it). Compiled regexes are shared, not rebuilt. `None` when they differ
    /// in path or case semantics.
    pub(crate) fn union_all(all: &[&StrMatcher]) -> Option<StrMatcher> {
        let first = all.first()?;
        if all.iter().any(|m| m.path != first.path || m.ci != first.ci) {
            return None;
        }
        let items = all.iter().flat_map(|m| m.items.iter().cloned()).collect();
        let regexes = all.iter().flat_map(|m| m.regexes.iter().cloned()).collect();
        Self::assemble(items, regexes, first.path, first.ci).ok()
    }

    /// `items`: each constant with whether its operator was `=~` (where a plain string is a pattern too).
    fn from_items(items: Vec<(Const, bool)>, path: bool, ci: bool) -> Result<Self, String> {
        let mut regexes = Vec::new();
        for (c, _) in &items {
            if let Const::Regex(r) = c {
                let src = if ci { format!("(?i){r}") } else { r.clone() };
                regexes.push(Re::new(&src).map_err(|e| format!("invalid regex: {e}"))?);
            }
        }
        Self::assemble(items, regexes, path, ci)
    }

    /// The matcher of `items` whose regexes are already compiled (`regexes`).
    fn assemble(
        items: Vec<(Const, bool)>,
        regexes: Vec<Re>,
        path: bool,
        ci: bool,
    ) -> Result<Self, String> {
        let mut exact = Vec::new();
        let mut globs = Vec::new();
        for (c, pattern_op) in &items {
            let pattern_op = *pattern_op;
            match c {
                Const::Str(s) if pattern_op && s.contains('*') => {
                    globs.push(Glob::new(s, path, ci))
                }
                Const::Str(s) => exact.push(if ci { s.to_lowercase() } else { s.clone() }),
                Const::Pattern(p) => {
                    let g = Glob::new(p, path, ci);
                    if g.is_literal() {
                        exact.push(if ci {
                            p.replace("\\*", "*").to_lowercase()
                        } else {
                            p.replace("\\*", "*")
                        });
                    } else {
                        globs.push(g);
                    }
                }
                Const::Regex(_) => {}
                other => {
                    return Err(format!(
                        "cannot compare a string with {}",
                        other.type_name()
                    ))
                }
            }
        }
        let empty = exact.iter().any(String::is_empty);
        exact.retain(|e| !e.is_empty());
        // `*a*`, `*b*`, …: one pass of a multi-literal searcher instead of one scan per glob. Past the size
        // budget (thousands of long literals), the globs stay separate.
        let contains_lits: Vec<&str> = globs.iter().filter_map(Glob::contains_literal).collect();
        let contains = if contains_lits.len() >= 4 {
            let alt = contains_lits
                .iter()
                .map(|l| regex::escape(l))
                .collect::<Vec<_>>()
                .join("|");
            let src = if ci { format!("(?i){alt}") } else { alt };
            build_regex(&src).ok()
        } else {
            None
        };
        if contains.is_some() {
            globs.retain(|g| g.contains_literal().is_none());
        }
        let exact = if exact.len() > 6 {
            Exact::Many(exact.into_iter().collect())
        } else {
            Exact::Few(exact)
        };
        Ok(StrMatcher {
            exact,
            empty,
            globs,
            regexes,
            contains,
            ci,
            path,
            items,
        })
    }

    #[inline]
    pub fn is_match(&self, s: &str) -> bool {
        if s.is_empty() {
            return self.empty
                || self.globs.iter().any(|g| g.is_match(s))
                || self.regexes.iter().any(|r| r.is_match(s));
        }
        if self.contains.as_ref().is_some_and(|c| c.is_match(s)) {
            return true;
        }
        let hit = match &self.exact {
            Exact::Few(v) if self.ci => v
                .iter()
                .any(|x| x.len() == s.len() && x.eq_ignore_ascii_case(s)),
            Exact::Few(v) => v.iter().any(|x| str_eq(x, s)),
            Exact::Many(set) if self.ci && s.bytes().any(|b| b.is_ascii_uppercase()) => {
                set.contains(&s.to_ascii_lowercase())
            }
            Exact::Many(set) => set.contains(s),
        };
        hit || self.globs.iter().any(|g| g.is_match(s))
            || self.regexes.iter().any(|r| r.is_match(s))
    }

    /// The exact values (for approvers).
    pub(crate) fn exact_values(&self) -> Vec<&str> {
        let mut out: Vec<&str> = match &self.exact {
            Exact::Few(v) => v.iter().map(String::as_str).collect(),
            Exact::Many(s) => s.iter().map(String::as_str).collect(),
        };
        if self.empty {
            out.push("");
        }
        out
    }

    /// Whether `""` is the only value that matches.
    pub(crate) fn is_only_empty(&self) -> bool {
        let no_exact = match &self.exact {
            Exact::Few(v) => v.is_empty(),
            Exact::Many(s) => s.is_empty(),
        };
        self.empty && no_exact && self.globs.is_empty() && !self.has_regex()
    }

    /// Whether a value can match other than through the exact values and `globs` (regexes, merged `*lit*`).
    pub(crate) fn has_regex(&self) -> bool {
        !self.regexes.is_empty() || self.contains.is_some()
    }

    /// Whether matching ignores case (exact kernel approvers would then miss values).
    pub(crate) fn case_insensitive(&self) -> bool {
        self.ci
    }
}

#[derive(Debug)]
pub enum IntMatcher {
    Set(Vec<i64>),
    Cmp(CmpOp, i64),
}

impl IntMatcher {
    #[inline]
    fn is_match(&self, v: i64) -> bool {
        match self {
            IntMatcher::Set(s) => s.contains(&v),
            IntMatcher::Cmp(op, c) => op.test(v, *c),
        }
    }
}

/// The compiled boolean tree.
#[derive(Debug)]
pub enum BNode {
    Const(bool),
    And(Vec<BNode>),
    Or(Vec<BNode>),
    Not(Box<BNode>),
    Str {
        lhs: Operand,
        m: StrMatcher,
        quant: Quant,
    },
    Int {
        lhs: Operand,
        m: IntMatcher,
        quant: Quant,
    },
    Ip {
        lhs: Operand,
        nets: Vec<IpNet>,
        quant: Quant,
    },
    Bool {
        lhs: Operand,
        value: bool,
    },
    /// Timestamp vs duration: `now - ts <op> ns`.
    Dur {
        lhs: Operand,
        op: CmpOp,
        ns: i64,
    },
    /// Two dynamic sides: some lhs value relates to some rhs value (every lhs value for `allin`).
    Dyn {
        lhs: Operand,
        op: CmpOp,
        rhs: Operand,
        quant: Quant,
    },
    /// `[X]` register: true if the body holds with the register bound to some element.
    Register {
        count: FieldOp,
        body: Box<BNode>,
    },
}

/// Applies a quantifier over an operand's values with a predicate.
#[inline]
fn quantify(
    lhs: &Operand,
    cx: &Cx<'_>,
    quant: Quant,
    mut pred: impl FnMut(Val<'_>) -> bool,
) -> bool {
    // One value: "any" and "all" agree, and no visitor is needed.
    if let Operand::Field(FieldOp {
        scalar: Some(get), ..
    }) = lhs
    {
        return pred(get(cx.event));
    }
    match quant {
        Quant::Any => lhs.visit(cx, &mut |v| pred(v)),
        Quant::All => {
            let mut seen = false;
            let failed = lhs.visit(cx, &mut |v| {
                seen = true;
                !pred(v)
            });
            seen && !failed
        }
    }
}

impl BNode {
    pub fn eval(&self, cx: &Cx<'_>) -> bool {
        match self {
            BNode::Const(b) => *b,
            BNode::And(v) => v.iter().all(|n| n.eval(cx)),
            BNode::Or(v) => v.iter().any(|n| n.eval(cx)),
            BNode::Not(n) => !n.eval(cx),
            BNode::Str { lhs, m, quant } => quantify(
                lhs,
                cx,
                *quant,
                |v| matches!(v, Val::Str(s) if m.is_match(s)),
            ),
            BNode::Int { lhs, m, quant } => quantify(
                lhs,
                cx,
                *quant,
                |v| matches!(v, Val::Int(i) if m.is_match(i)),
            ),
            BNode::Ip { lhs, nets, quant } => quantify(
                lhs,
                cx,
                *quant,
                |v| matches!(v, Val::Ip(ip) if nets.iter().any(|n| n.contains(&ip))),
            ),
            BNode::Bool { lhs, value } => lhs.visit(cx, &mut |v| v == Val::Bool(*value)),
            BNode::Dur { lhs, op, ns } => lhs.visit(cx, &mut |v| match v {
                Val::Int(ts) => op.test(cx.now as i64 - ts, *ns),
                _ => false,
            }),
            BNode::Dyn {
                lhs,
                op,
                rhs,
                quant,
            } => quantify(lhs, cx, *quant, |a| {
                rhs.visit(cx, &mut |b| match (a, b) {
                    (Val::Int(x), Val::Int(y)) => op.test(x, y),
                    (Val::Str(x), Val::Str(y)) => *op == CmpOp::Eq && str_eq(x, y),
                    (Val::Bool(x), Val::Bool(y)) => *op == CmpOp::Eq && x == y,
                    (Val::Ip(x), Val::Ip(y)) => *op == CmpOp::Eq && x == y,
                    _ => false,
                })
            }),
            BNode::Register { count, body } => {
                let mut n = 0i64;
                (count.getter)(cx.event, None, &mut |v| {
                    if let Val::Int(i) = v {
                        n = i;
                    }
                    true
                });
                (0..n.max(0) as usize).any(|i| {
                    body.eval(&Cx {
                        reg: Some(i),
                        ..*cx
                    })
                })
            }
        }
    }

    pub(crate) fn is_constant(&self) -> bool {
        match self {
            BNode::Const(_) => true,
            BNode::And(v) | BNode::Or(v) => v.iter().all(BNode::is_constant),
            BNode::Not(n) => n.is_constant(),
            BNode::Str { lhs, .. }
            | BNode::Int { lhs, .. }
            | BNode::Ip { lhs, .. }
            | BNode::Bool { lhs, .. } => lhs.is_constant(),
            BNode::Dur { .. } | BNode::Register { .. } => false,
            BNode::Dyn { lhs, rhs, .. } => lhs.is_constant() && rhs.is_constant(),
        }
    }
}

impl Operand {
    /// Whether a field of the operand reads the bound `[X]` register.
    pub(crate) fn uses_register(&self) -> bool {
        match self {
            Operand::Field(f) | Operand::Length(f) => f.reg,
            Operand::Interp(pieces) => pieces
                .iter()
                .any(|p| matches!(p, Piece::Value(o) if o.uses_register())),
            Operand::Arith(l, _, r) => l.uses_register() || r.uses_register(),
            Operand::Neg(x) | Operand::BitNot(x) => x.uses_register(),
            Operand::Const(_) | Operand::List(_) | Operand::Var(_) => false,
        }
    }

    /// Rough evaluation cost, to run cheap operands first.
    fn cost(&self) -> u32 {
        match self {
            Operand::Const(_) | Operand::List(_) => 0,
            Operand::Field(f) if f.scalar.is_some() => 1,
            Operand::Field(f) if f.multi => 8,
            Operand::Field(_) => 3,
            Operand::Length(_) => 4,
            Operand::Var(_) => 12,
            Operand::Interp(_) => 30,
            Operand::Arith(l, _, r) => 1 + l.cost() + r.cost(),
            Operand::Neg(x) | Operand::BitNot(x) => 1 + x.cost(),
        }
    }
}

impl BNode {
    /// Whether the node reads a register no [`BNode::Register`] inside it binds.
    pub(crate) fn uses_register(&self) -> bool {
        match self {
            BNode::Const(_) | BNode::Register { .. } => false,
            BNode::And(v) | BNode::Or(v) => v.iter().any(BNode::uses_register),
            BNode::Not(n) => n.uses_register(),
            BNode::Str { lhs, .. }
            | BNode::Int { lhs, .. }
            | BNode::Ip { lhs, .. }
            | BNode::Bool { lhs, .. }
            | BNode::Dur { lhs, .. } => lhs.uses_register(),
            BNode::Dyn { lhs, rhs, .. } => lhs.uses_register() || rhs.uses_register(),
        }
    }

    /// Binds the register over the smallest part of the node that holds all its uses: "some element makes
    /// this part true". Under a negation that is what an author means: `!(process.ancestors[A].file.name ==
    /// "x" && process.ancestors[A].file.uid == 0)` is "no ancestor is a root-owned x", not "some ancestor is
    /// not". Where the part is the whole (positive) rule this is Datadog's "some element makes the rule true".
    pub(crate) fn bind_register(self, count: &FieldOp) -> BNode {
        let bind_in = |mut v: Vec<BNode>| match v.iter().filter(|c| c.uses_register()).count() {
            1 => {
                let i = v.iter().position(BNode::uses_register).expect("counted");
                let child = std::mem::replace(&mut v[i], BNode::Const(false));
                v[i] = child.bind_register(count);
                Ok(v)
            }
            _ => Err(v),
        };
        match self {
            node if !node.uses_register() => node,
            BNode::Not(n) => BNode::Not(Box::new(n.bind_register(count))),
            BNode::And(v) => {
                bind_in(v).map_or_else(|v| BNode::register(count, BNode::And(v)), BNode::And)
            }
            BNode::Or(v) => {
                bind_in(v).map_or_else(|v| BNode::register(count, BNode::Or(v)), BNode::Or)
            }
            node => BNode::register(count, node),
        }
    }

    fn register(count: &FieldOp, body: BNode) -> BNode {
        BNode::Register {
            count: count.clone(),
            body: Box::new(body),
        }
    }

    /// Rough evaluation cost of the node.
    pub(crate) fn cost(&self) -> u32 {
        match self {
            BNode::Const(_) => 0,
            BNode::And(v) | BNode::Or(v) => v.iter().map(BNode::cost).sum(),
            BNode::Not(n) => n.cost(),
            BNode::Str { lhs, m, .. } => {
                let per_value = 1
                    + 2 * m.globs.len() as u32
                    + 6 * m.regexes.len() as u32
                    + 4 * m.contains.is_some() as u32;
                lhs.cost() * per_value
            }
            BNode::Int { lhs, .. } | BNode::Bool { lhs, .. } | BNode::Dur { lhs, .. } => lhs.cost(),
            BNode::Ip { lhs, nets, .. } => lhs.cost() * (1 + nets.len() as u32 / 4),
            BNode::Dyn { lhs, rhs, .. } => lhs.cost() * rhs.cost().max(1),
            BNode::Register { body, .. } => 8 * body.cost(),
        }
    }

    /// Orders the operands of every `&&`/`||` cheapest first. Evaluation has no side effect, so this
    /// changes only the cost of short-circuiting, never the result.
    pub(crate) fn reorder(&mut self) {
        match self {
            BNode::And(v) | BNode::Or(v) => {
                v.iter_mut().for_each(BNode::reorder);
                // Stable, and each cost computed once (a cost walks the operand's subtree).
                v.sort_by_cached_key(BNode::cost);
            }
            BNode::Not(n) => n.reorder(),
            BNode::Register { body, .. } => body.reorder(),
            _ => {}
        }
    }
}
