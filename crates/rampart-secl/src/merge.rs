//! Merging alternatives on one field: `f in A || f in B || f =~ "x*"` becomes one matcher over `A ∪ B ∪ {x*}`,
//! so an event's value is read and looked up once instead of once per operand. "Some value matches A or some
//! value matches B" is "some value matches A or B", so only operands with the "any" quantifier merge.

use std::collections::{BTreeMap, HashMap};

use crate::eval::{BNode, Operand, Quant, StrMatcher};

/// The field (name, register-bound) of a string test with the "any" quantifier, the tests that merge.
fn any_key(n: &BNode) -> Option<(String, bool)> {
    match n {
        BNode::Str {
            lhs: Operand::Field(f),
            quant: Quant::Any,
            ..
        } => Some((f.name.clone(), f.reg)),
        _ => None,
    }
}

fn matcher(n: &BNode) -> Option<&StrMatcher> {
    match n {
        BNode::Str { m, .. } => Some(m),
        _ => None,
    }
}

/// Merges, in every `||` of the tree, the string tests of each field into the first of them. Each field's
/// tests are merged at once (one matcher built from all of them), so a long chain costs one build.
pub(crate) fn alternatives(node: &mut BNode) {
    match node {
        BNode::Or(children) => {
            children.iter_mut().for_each(alternatives);
            let mut out: Vec<BNode> = Vec::with_capacity(children.len());
            // Field → position in `out` of its first test, and the later tests to merge into it.
            let mut first: HashMap<(String, bool), usize> = HashMap::new();
            let mut later: BTreeMap<usize, Vec<BNode>> = BTreeMap::new();
            for n in children.drain(..) {
                if let Some(key) = any_key(&n) {
                    if let Some(&i) = first.get(&key) {
                        later.entry(i).or_default().push(n);
                        continue;
                    }
                    first.insert(key, out.len());
                }
                out.push(n);
            }
            let mut unmerged = Vec::new();
            for (i, rest) in later {
                let all: Vec<&StrMatcher> = std::iter::once(&out[i])
                    .chain(&rest)
                    .filter_map(matcher)
                    .collect();
                match (StrMatcher::union_all(&all), &mut out[i]) {
                    (Some(u), BNode::Str { m, .. }) => *m = u,
                    _ => unmerged.extend(rest),
                }
            }
            out.extend(unmerged);
            *children = out;
            if children.len() == 1 {
                *node = children.pop().expect("one child");
            }
        }
        BNode::And(children) => children.iter_mut().for_each(alternatives),
        BNode::Not(n) => alternatives(n),
        BNode::Register { body, .. } => alternatives(body),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::{compile, Env};
    use crate::eval::{BNode, Cx};
    use crate::variables::NoVariables;
    use rampart_model::{Event, FileInfo, Process, ProcessNode};

    fn exec(name: &str) -> Event {
        let p = Process {
            file: FileInfo::from_path(format!("/usr/bin/{name}")),
            comm: name.to_string(),
            ..Default::default()
        };
        Event::exec(1, ProcessNode::new(p, None))
    }

    #[test]
    fn alternatives_on_one_field_become_one_test_with_the_same_results() {
        let env = Env::default();
        let src = r#"exec.file.name in ["sh", "bash"] || exec.comm == "x" || exec.file.name =~ "py*" || exec.file.name in [r"^z.*sh$"] || exec.file.name == "ls""#;
        let c = compile(src, &env).unwrap();
        // Two tests remain: one per field.
        let BNode::Or(children) = &c.node else {
            panic!("{:?}", c.node)
        };
        assert_eq!(children.len(), 2, "{children:?}");
        // Each alternative on its own gives the same answers as the merged test.
        let parts = [
            r#"exec.file.name in ["sh", "bash"]"#,
            r#"exec.comm == "x""#,
            r#"exec.file.name =~ "py*""#,
            r#"exec.file.name in [r"^z.*sh$"]"#,
            r#"exec.file.name == "ls""#,
        ]
        .map(|p| compile(p, &env).unwrap());
        let mut hits = 0;
        for name in [
            "sh", "bash", "x", "python3", "py", "zsh", "zssh", "ls", "lsx", "dash", "", "p",
        ] {
            let ev = exec(name);
            let cx = Cx::new(&ev, &NoVariables);
            let want = parts.iter().any(|p| p.eval(&cx));
            assert_eq!(c.eval(&cx), want, "{name}");
            hits += want as usize;
        }
        assert_eq!(hits, 8);
    }

    #[test]
    fn different_quantifiers_and_fields_stay_apart() {
        let env = Env::default();
        let c = compile(
            r#"exec.argv allin ["a"] || exec.argv in ["b"] || process.parent.comm in ["c"]"#,
            &env,
        )
        .unwrap();
        let BNode::Or(children) = &c.node else {
            panic!("{:?}", c.node)
        };
        assert_eq!(children.len(), 3);
    }
}
