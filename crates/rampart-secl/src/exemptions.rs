//! A lint for exemptions that hold for any look-alike: a negated test on a program's name
//! (`process.file.name not in [...]`, `!(process.ancestors.file.name in [...])`, `process.comm != "x"`) or on its
//! path under a directory anyone can write (`/tmp/…`, `/**/target/…`), with no test of what the file is (its
//! owner, layer or inode) on the same process beside it. A renamed copy, or one placed under
//! `/tmp/target/x/deps/`, passes such a test; `rules check` warns, naming the field.
//!
//! Trust is read from the conjunction the name test sits in (macros expanded): `!(process.file.name in X &&
//! INSTALLED_PROCESS)` is fine because INSTALLED_PROCESS tests `process.file.uid`. Over ancestors, the name and
//! the trust must name the same element through a register (`process.ancestors[A]`).

use std::collections::BTreeSet;

use crate::ast::{BinOp, Kind, Node, UnOp, Warning};
use crate::compile::Env;

/// Directories an unprivileged user (or anyone in a container) can create files under.
const WRITABLE: &[&str] = &[
    "/tmp/",
    "/var/tmp/",
    "/dev/shm/",
    "/run/shm/",
    "/run/user/",
    "/home/",
    "/root/",
    "/var/lib/",
    "/srv/",
    "/mnt/",
    "/media/",
];

const MAX_DEPTH: usize = 16;

/// Warnings for the name-only exemptions of a rule's expression.
pub(crate) fn lint(ast: &Node, env: &Env) -> Vec<Warning> {
    let mut l = Lint {
        env,
        out: Vec::new(),
        at: None,
        depth: 0,
    };
    l.walk(ast, false, &BTreeSet::new());
    l.out
}

struct Lint<'e> {
    env: &'e Env,
    out: Vec<Warning>,
    /// Position of the outermost macro reference being expanded (positions inside macros are the macro's).
    at: Option<usize>,
    depth: usize,
}

/// The process a field describes (`process`, `process.parent`, `process.ancestors[A]`) and what it tests.
enum FieldRole {
    Name(String),
    Path(String),
    Trust(String),
}

fn role(field: &str) -> Option<FieldRole> {
    let (entity, rest) = ["process.ancestors", "process.parent", "process", "exec"]
        .iter()
        .find_map(|p| {
            let rest = field.strip_prefix(p)?;
            // a register: `process.ancestors[A].file.name`
            let (reg, rest) = match rest.strip_prefix('[') {
                Some(r) => {
                    let (letter, rest) = r.split_once(']')?;
                    (format!("[{letter}]"), rest)
                }
                None => (String::new(), rest),
            };
            let rest = rest.strip_prefix('.')?;
            let entity = if *p == "exec" { "process" } else { p };
            Some((format!("{entity}{reg}"), rest))
        })?;
    match rest {
        "file.name" | "comm" | "argv0" => Some(FieldRole::Name(entity)),
        "file.path" => Some(FieldRole::Path(entity)),
        "file.uid" | "file.in_upper_layer" | "file.inode" => Some(FieldRole::Trust(entity)),
        _ => None,
    }
}

impl Lint<'_> {
    fn macro_body(&self, n: &Node) -> Option<&Node> {
        match &n.kind {
            Kind::Ident(name) if rampart_model::fields::registry().get(name).is_none() => {
                self.env.macros.get(name.as_str()).map(|m| &m.ast)
            }
            _ => None,
        }
    }

    fn in_macro<R>(&mut self, n: &Node, f: impl FnOnce(&mut Self) -> R) -> Option<R> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        let saved = self.at;
        self.at.get_or_insert(n.pos);
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        self.at = saved;
        Some(r)
    }

    fn walk(&mut self, n: &Node, negated: bool, trusted: &BTreeSet<String>) {
        match &n.kind {
            Kind::Paren(x) => self.walk(x, negated, trusted),
            Kind::Unary(UnOp::Not, x) => self.walk(x, !negated, &BTreeSet::new()),
            Kind::And(_) if negated => {
                let mut conjuncts = Vec::new();
                self.conjuncts(n, &mut conjuncts);
                let mut inner = trusted.clone();
                for c in &conjuncts {
                    self.trust_of(c, &mut inner);
                }
                for c in conjuncts {
                    self.walk(c, negated, &inner);
                }
            }
            Kind::And(terms) | Kind::Or(terms) => {
                for t in terms {
                    self.walk(t, negated, trusted);
                }
            }
            Kind::Binary(op, l, r) => self.comparison(*op, l, r, n.pos, negated, trusted),
            Kind::Ident(_) => {
                if let Some(body) = self.macro_body(n) {
                    let body = body.clone();
                    self.in_macro(n, |s| s.walk(&body, negated, trusted));
                }
            }
            _ => {}
        }
    }

    /// The operands of the `&&` chain `n` is, through parentheses and macros.
    fn conjuncts<'a>(&mut self, n: &'a Node, out: &mut Vec<&'a Node>) {
        match &n.kind {
            Kind::Paren(x) => self.conjuncts(x, out),
            Kind::And(terms) => {
                for t in terms {
                    self.conjuncts(t, out);
                }
            }
            _ => out.push(n),
        }
    }

    /// Adds the processes whose file a conjunct tests (owner, layer, inode) to `out`, through `&&`, `!`,
    /// parentheses and macros.
    fn trust_of(&mut self, n: &Node, out: &mut BTreeSet<String>) {
        match &n.kind {
            Kind::Paren(x) | Kind::Unary(UnOp::Not, x) => self.trust_of(x, out),
            Kind::And(terms) => {
                for t in terms {
                    self.trust_of(t, out);
                }
            }
            Kind::Or(_) => {}
            Kind::Binary(_, l, r) => {
                for side in [l, r] {
                    if let Some(FieldRole::Trust(e)) = field_name(side).and_then(role) {
                        out.insert(e);
                    }
                }
            }
            Kind::Ident(name) => {
                if let Some(FieldRole::Trust(e)) = role(name) {
                    out.insert(e);
                } else if let Some(body) = self.macro_body(n) {
                    let body = body.clone();
                    self.in_macro(n, |s| s.trust_of(&body, out));
                }
            }
            _ => {}
        }
    }

    fn comparison(
        &mut self,
        op: BinOp,
        l: &Node,
        r: &Node,
        pos: usize,
        negated: bool,
        trusted: &BTreeSet<String>,
    ) {
        let negative_op = matches!(op, BinOp::Ne | BinOp::NotIn | BinOp::NotMatch);
        let positive_op = matches!(op, BinOp::Eq | BinOp::In | BinOp::Match | BinOp::AllIn);
        // An exemption is a test that the program is *not* something: a negative operator in a positive place,
        // or a positive one under `!`.
        if !(negative_op && !negated || positive_op && negated) {
            return;
        }
        let (field, values) = match (field_name(l), field_name(r)) {
            (Some(f), _) => (f, r),
            (None, Some(f)) => (f, l),
            _ => return,
        };
        let entity = match role(field) {
            Some(FieldRole::Name(e)) => e,
            Some(FieldRole::Path(e)) if self.reaches_writable(values) => e,
            _ => return,
        };
        if !negative_op && trusted.contains(&entity) && !entity.ends_with("ancestors") {
            return;
        }
        let hint = match entity.as_str() {
            "process.ancestors" => "tie the name and the default policy's INSTALLED_ANCESTOR_A to one ancestor with a register, as FROM_PACKAGE_MANAGER does",
            "process.parent" => "pair it with the default policy's INSTALLED_PARENT: !(process.parent.file.name in [...] && INSTALLED_PARENT)",
            _ => "pair it with the default policy's INSTALLED_PROCESS: !(process.file.name in [...] && INSTALLED_PROCESS)",
        };
        self.out.push(Warning {
            pos: self.at.unwrap_or(pos),
            msg: format!(
                "exemption by `{field}` alone (a renamed copy or a look-alike path passes it): {hint}"
            ),
        });
    }

    /// Whether a path value (literal, pattern, list or list macro) can name a file under a directory anyone can
    /// write to.
    fn reaches_writable(&mut self, n: &Node) -> bool {
        match &n.kind {
            Kind::Paren(x) => self.reaches_writable(x),
            Kind::Array(items) => items.iter().any(|i| self.reaches_writable(i)),
            Kind::Str(s) | Kind::Pattern(s) => {
                !s.starts_with('/')
                    || s.starts_with("/*")
                    || WRITABLE
                        .iter()
                        .any(|w| s.starts_with(w) || w.starts_with(s.as_str()))
            }
            Kind::Regex(_) => true,
            Kind::Ident(_) => match self.macro_body(n) {
                Some(body) => {
                    let body = body.clone();
                    self.in_macro(n, |s| s.reaches_writable(&body))
                        .unwrap_or(false)
                }
                None => false,
            },
            _ => false,
        }
    }
}

/// The field a comparison side names, if it is a field.
fn field_name(n: &Node) -> Option<&str> {
    match &n.kind {
        Kind::Ident(name) if name.contains('.') => Some(name),
        Kind::Paren(x) => field_name(x),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::{compile, Env, Macro};

    fn warnings(expr: &str, macros: &[(&str, &str)]) -> Vec<String> {
        let mut env = Env::default();
        for (id, e) in macros {
            env.macros
                .insert(id.to_string(), Macro::parse(id, e).unwrap());
        }
        compile(expr, &env)
            .unwrap()
            .warnings
            .into_iter()
            .map(|w| w.msg)
            .filter(|m| m.starts_with("exemption"))
            .collect()
    }

    const TRUST: (&str, &str) = (
        "INSTALLED_PROCESS",
        "process.file.uid == 0 && !process.file.in_upper_layer",
    );
    const TRUST_A: (&str, &str) = ("TRUST_A", "process.ancestors[A].file.uid == 0");

    #[test]
    fn name_only_exemptions_are_flagged() {
        for e in [
            r#"bpf.cmd == 5 && process.file.name not in ["bpftool"]"#,
            r#"bpf.cmd == 5 && process.comm != "runc""#,
            r#"bpf.cmd == 5 && !(process.file.name in ["bpftool"])"#,
            r#"bpf.cmd == 5 && process.ancestors.file.name not in ["dpkg"]"#,
            r#"bpf.cmd == 5 && process.parent.file.name not in ["dpkg"]"#,
            r#"bpf.cmd == 5 && process.file.path not in [~"/**/target/*/deps/*-*"]"#,
            r#"bpf.cmd == 5 && process.file.path !~ "/tmp/x/*""#,
            // trust on another process does not vouch for this one
            r#"bpf.cmd == 5 && !(process.parent.file.name == "x" && process.file.uid == 0)"#,
            // trust beside an unregistered ancestor test does not tie them to one ancestor
            r#"bpf.cmd == 5 && !(process.ancestors.file.name == "x" && process.ancestors.file.uid == 0)"#,
            // in a macro
            r#"bpf.cmd == 5 && !(FROM_X)"#,
        ] {
            let w = warnings(e, &[("FROM_X", "process.ancestors.file.name in [\"x\"]")]);
            assert_eq!(w.len(), 1, "{e}: {w:?}");
        }
    }

    #[test]
    fn exemptions_that_test_the_file_pass() {
        for e in [
            r#"bpf.cmd == 5 && !(process.file.name in ["bpftool"] && INSTALLED_PROCESS)"#,
            r#"bpf.cmd == 5 && !(INSTALLED_PROCESS && (process.file.name == "a" || process.comm == "b"))"#,
            r#"bpf.cmd == 5 && !(FROM_PM)"#,
            // detections, not exemptions
            r#"exec.file.name in ["xmrig"] && process.ancestors.file.name in ["sshd"]"#,
            r#"exec.file.name in ["x"] && !(process.file.name not in ["y"])"#,
            // a path no unprivileged user can write
            r#"bpf.cmd == 5 && process.file.path not in ["/usr/sbin/bpftool"]"#,
            r#"unlink.file.name not in ["x"]"#,
        ] {
            let w = warnings(
                e,
                &[
                    TRUST,
                    TRUST_A,
                    (
                        "FROM_PM",
                        "(process.file.name == \"dpkg\" && INSTALLED_PROCESS) || (process.ancestors[A].file.name == \"dpkg\" && TRUST_A)",
                    ),
                ],
            );
            assert!(w.is_empty(), "{e}: {w:?}");
        }
    }
}
