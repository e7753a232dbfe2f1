//! Rule pre-selection: most rules require one scalar field to be in a set of exact values
//! (`exec.file.name in SHELLS && …`). Each bucket indexes those rules by value, so an event evaluates only the
//! rules its values can satisfy plus the rules without such a key. Candidates are a stack bitset, walked in
//! rule order: no allocation, same results and order as evaluating every rule.

use rampart_model::fields::Val;
use rampart_model::Event;

use crate::eval::{BNode, FieldOp, IntMatcher, Operand, Quant};
use crate::fxhash::FxHashMap;
use crate::guard::{self, Guard};
use crate::sieve::Sieve;

/// Buckets up to `64 * WORDS` rules use the index; larger ones are evaluated in full.
pub(crate) const WORDS: usize = 8;
pub(crate) const MAX_INDEXED: usize = 64 * WORDS;

pub(crate) type Bits = [u64; WORDS];

struct KeyIndex {
    field: FieldOp,
    /// Rules keyed on `""` (kept out of the map: see `eval::str_eq`).
    empty: Option<Bits>,
    strs: FxHashMap<String, Bits>,
    /// Lengths and first bytes of `strs` keys, lengths of `dirs` keys: most values are rejected by a bit
    /// test instead of a hash lookup.
    strs_sieve: Sieve,
    dirs_sieve: Sieve,
    /// Path globs by the directory their matches lie in (probed with every `/`-prefix of the value), then by
    /// the literal prefix of the glob (`/usr/bin/apt` for `/usr/bin/apt*`).
    dirs: FxHashMap<String, Entries>,
    /// Plain-string globs by their literal head (`nc` for `nc*`), or when they have none by their literal
    /// tail (`ssm-agent` for `*ssm-agent`).
    heads: Affixes,
    tails: Affixes,
    ints: FxHashMap<i64, Bits>,
}

#[derive(Default)]
pub(crate) struct BucketIndex {
    enabled: bool,
    /// Rules evaluated for every event of the bucket.
    pub(crate) unindexed: usize,
    always: Bits,
    keys: Vec<KeyIndex>,
    guards: Vec<Guard>,
}

/// Literals a value must start (or end) with, by their first (last) byte.
#[derive(Default)]
struct Affixes {
    by_byte: FxHashMap<u8, Entries>,
    bytes: Sieve,
}

impl Affixes {
    fn add(&mut self, byte: u8, lit: String, i: usize) {
        self.bytes.add_byte(byte);
        self.by_byte.entry(byte).or_default().add(lit, i);
    }

    /// Adds the rules of every literal keyed by `byte` that `fits` the value.
    #[inline]
    fn probe(&self, byte: u8, fits: impl Fn(&str) -> bool, bits: &mut Bits) {
        if !self.bytes.may_have_byte(byte) {
            return;
        }
        for (lit, b) in self.by_byte.get(&byte).map_or(&[][..], Entries::as_slice) {
            if fits(lit) {
                or(bits, b);
            }
        }
    }
}

/// Literals with the rules keyed on each, in the order they were added (probed in that order), with an
/// index by literal so that adding one is O(1) however many share a first byte or a directory.
#[derive(Default)]
struct Entries {
    list: Vec<(String, Bits)>,
    at: FxHashMap<String, usize>,
}

impl Entries {
    /// Sets rule `i` in the bits of `lit`, adding the entry if needed.
    fn add(&mut self, lit: String, i: usize) {
        match self.at.get(&lit) {
            Some(&p) => set(&mut self.list[p].1, i),
            None => {
                let mut b = [0; WORDS];
                set(&mut b, i);
                self.at.insert(lit.clone(), self.list.len());
                self.list.push((lit, b));
            }
        }
    }

    fn as_slice(&self) -> &[(String, Bits)] {
        &self.list
    }
}

/// Whether `s` has `lit` at byte `at`, as the glob matcher compares (ASCII case folding when `ci`).
#[inline]
fn has_at(s: &str, at: usize, lit: &str, ci: bool) -> bool {
    let (s, lit) = (s.as_bytes(), lit.as_bytes());
    if ci {
        s[at..at + lit.len()].eq_ignore_ascii_case(lit)
    } else {
        &s[at..at + lit.len()] == lit
    }
}

#[derive(Default)]
struct StrKey {
    values: Vec<String>,
    /// Path globs: (directory, literal prefix).
    dirs: Vec<(String, String)>,
    heads: Vec<String>,
    tails: Vec<String>,
}

enum Key {
    Str(StrKey),
    Int(Vec<i64>),
}

fn leaf_key(node: &BNode) -> Option<(&FieldOp, Key)> {
    match node {
        // Multi-valued fields (`exec.envs`, `process.ancestors.comm`) qualify too: with "any element"
        // semantics, a match needs one of their values in the set, and every value is probed.
        BNode::Str {
            lhs: Operand::Field(f),
            m,
            quant: Quant::Any,
        } if !f.reg && !m.has_regex() => {
            let mut key = StrKey {
                values: m.exact_values().into_iter().map(str::to_string).collect(),
                ..Default::default()
            };
            for g in &m.globs {
                match (f.path, g.path_head(), g.flat_head(), g.flat_tail()) {
                    (true, Some(d), _, _) => key.dirs.push(d),
                    (false, _, Some(h), _) => key.heads.push(h.to_string()),
                    (false, _, None, Some(t)) => key.tails.push(t.to_string()),
                    _ => return None,
                }
            }
            Some((f, Key::Str(key)))
        }
        BNode::Int {
            lhs: Operand::Field(f),
            m: IntMatcher::Set(v),
            quant: Quant::Any,
        } if !f.reg => Some((f, Key::Int(v.clone()))),
        // `a in X || a in Y` on the same field: the union.
        BNode::Or(children) => {
            let mut keys = children.iter().map(leaf_key);
            let (f, mut acc) = keys.next()??;
            for k in keys {
                let (g, k) = k?;
                if g.name != f.name {
                    return None;
                }
                match (&mut acc, k) {
                    (Key::Str(a), Key::Str(b)) => {
                        a.values.extend(b.values);
                        a.dirs.extend(b.dirs);
                        a.heads.extend(b.heads);
                        a.tails.extend(b.tails);
                    }
                    (Key::Int(a), Key::Int(b)) => a.extend(b),
                    _ => return None,
                }
            }
            Some((f, acc))
        }
        _ => None,
    }
}

/// Keys such that the rule can only match if one of them holds: a conjunction needs one keyed operand, a
/// disjunction needs every operand keyed (possibly on different fields).
fn rule_keys(node: &BNode) -> Option<Vec<(&FieldOp, Key)>> {
    if let Some(k) = leaf_key(node) {
        return Some(vec![k]);
    }
    match node {
        // The most selective keyed operand: `""` matches most events (`process.container.id == ""` on a host),
        // so a key with it ranks last. Then single-valued fields before multi-valued ones (every ancestor,
        // argument or environment variable is a probe of each event): fewer costly keys to probe overall.
        BNode::And(children) => children.iter().filter_map(rule_keys).min_by_key(|k| {
            let weak = k.iter().any(
                |(_, key)| matches!(key, Key::Str(k) if k.values.iter().any(String::is_empty)),
            );
            let multi = k.iter().filter(|(f, _)| f.multi).count();
            (weak, multi, k.iter().map(|(_, k)| k.len()).sum::<usize>())
        }),
        BNode::Or(children) => {
            let mut all = Vec::new();
            for c in children {
                all.extend(rule_keys(c)?);
            }
            Some(all)
        }
        // `[X]` registers: the body must hold for some element, so its keys on unregistered fields (the
        // only ones `leaf_key` takes) must hold too.
        BNode::Register { body, .. } => rule_keys(body),
        _ => None,
    }
}

impl Key {
    fn len(&self) -> usize {
        match self {
            Key::Str(k) => k.values.len() + k.dirs.len() + k.heads.len() + k.tails.len(),
            Key::Int(v) => v.len(),
        }
    }
}

pub(crate) fn set(bits: &mut Bits, i: usize) {
    bits[i / 64] |= 1 << (i % 64);
}

fn intersects(a: &Bits, b: &Bits) -> bool {
    a.iter().zip(b).any(|(x, y)| x & y != 0)
}

fn or(bits: &mut Bits, other: &Bits) {
    for (a, b) in bits.iter_mut().zip(other) {
        *a |= b;
    }
}

impl BucketIndex {
    pub(crate) fn build<'a>(
        rules: impl ExactSizeIterator<Item = &'a BNode> + Clone,
    ) -> BucketIndex {
        let mut idx = BucketIndex {
            enabled: rules.len() <= MAX_INDEXED,
            ..Default::default()
        };
        if !idx.enabled {
            return idx;
        }
        idx.guards = guard::build(rules.clone());
        for (i, node) in rules.enumerate() {
            let Some(keys) = rule_keys(node) else {
                set(&mut idx.always, i);
                idx.unindexed += 1;
                continue;
            };
            for (field, key) in keys {
                let pos = match idx.keys.iter().position(|k| k.field.name == field.name) {
                    Some(p) => p,
                    None => {
                        idx.keys.push(KeyIndex {
                            field: field.clone(),
                            empty: None,
                            strs: Default::default(),
                            strs_sieve: Sieve::default(),
                            dirs_sieve: Sieve::default(),
                            dirs: Default::default(),
                            heads: Default::default(),
                            tails: Default::default(),
                            ints: Default::default(),
                        });
                        idx.keys.len() - 1
                    }
                };
                let k = &mut idx.keys[pos];
                match key {
                    Key::Str(key) => {
                        for h in key.heads {
                            k.heads.add(h.as_bytes()[0], h, i);
                        }
                        for t in key.tails {
                            k.tails.add(*t.as_bytes().last().expect("non-empty"), t, i);
                        }
                        for v in key.values {
                            if v.is_empty() {
                                set(k.empty.get_or_insert([0; WORDS]), i);
                            } else {
                                k.strs_sieve.add(v.as_bytes());
                                set(k.strs.entry(v).or_default(), i);
                            }
                        }
                        for (dir, lit) in key.dirs {
                            k.dirs_sieve.add_len(dir.len());
                            k.dirs.entry(dir).or_default().add(lit, i);
                        }
                    }
                    Key::Int(values) => {
                        for v in values {
                            set(k.ints.entry(v).or_default(), i);
                        }
                    }
                }
            }
        }
        idx
    }

    /// Names of the fields the bucket is indexed on.
    pub(crate) fn fields(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.field.name.as_str()).collect()
    }

    /// The rules worth evaluating for `event`, or `None` when the bucket is not indexed.
    #[inline]
    pub(crate) fn candidates(&self, event: &Event) -> Option<Bits> {
        if !self.enabled {
            return None;
        }
        let mut bits = self.always;
        for k in &self.keys {
            let mut probe = |v: Val<'_>| {
                match v {
                    Val::Str("") => {
                        if let Some(b) = &k.empty {
                            or(&mut bits, b);
                        }
                    }
                    Val::Str(s) => k.probe_str(s, &mut bits),
                    Val::Int(i) => {
                        if let Some(b) = k.ints.get(&i) {
                            or(&mut bits, b);
                        }
                    }
                    _ => {}
                }
                // Single-valued fields stop after their value; multi-valued ones probe every value.
                !k.field.multi
            };
            match &k.field.scalar {
                Some(get) => {
                    probe(get(event));
                }
                None => {
                    (k.field.getter)(event, None, &mut probe);
                }
            }
        }
        // Guards last: one whose rules are all out already is not tested.
        for g in &self.guards {
            if intersects(&bits, &g.rules) && !g.holds(event) {
                for (a, b) in bits.iter_mut().zip(&g.rules) {
                    *a &= !b;
                }
            }
        }
        Some(bits)
    }
}

impl KeyIndex {
    /// Adds the rules keyed on a value of `s` (non-empty) to `bits`.
    #[inline]
    fn probe_str(&self, s: &str, bits: &mut Bits) {
        let ci = self.field.ci;
        let fold = |b: u8| if ci { b.to_ascii_lowercase() } else { b };
        let first = fold(s.as_bytes()[0]);
        if self.strs_sieve.may_have_len(s.len()) && self.strs_sieve.may_have_byte(first) {
            let hit = if ci && s.bytes().any(|b| b.is_ascii_uppercase()) {
                self.strs.get(&s.to_ascii_lowercase())
            } else {
                self.strs.get(s)
            };
            if let Some(b) = hit {
                or(bits, b);
            }
        }
        let n = s.len();
        let head = |h: &str| n >= h.len() && has_at(s, 0, h, ci);
        self.heads.probe(first, head, bits);
        let tail = |t: &str| n >= t.len() && has_at(s, n - t.len(), t, ci);
        self.tails.probe(fold(s.as_bytes()[n - 1]), tail, bits);
        if !self.dirs.is_empty() {
            let ends = s
                .match_indices('/')
                .map(|(i, _)| i)
                .chain(std::iter::once(s.len()));
            for end in ends.filter(|e| *e > 0 && self.dirs_sieve.may_have_len(*e)) {
                for (lit, b) in self.dirs.get(&s[..end]).map_or(&[][..], Entries::as_slice) {
                    if s.starts_with(lit.as_str()) {
                        or(bits, b);
                    }
                }
            }
        }
    }
}

/// Calls `f` with each set bit, in increasing order.
#[inline]
pub(crate) fn for_each(bits: &Bits, mut f: impl FnMut(usize)) {
    for (w, word) in bits.iter().enumerate() {
        let mut x = *word;
        while x != 0 {
            let b = x.trailing_zeros() as usize;
            x &= x - 1;
            f(w * 64 + b);
        }
    }
}
