//! Case conditions of backend rules: comparisons of query counts joined by `&&`, `||`, `!` and parentheses,
//! e.g. `a > 3 && b > 0`. `&&` binds tighter than `||`.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Cmp(String, Op, i64),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Cond {
    pub fn eval(&self, counts: &BTreeMap<String, i64>) -> bool {
        match self {
            Cond::Cmp(name, op, v) => {
                let c = counts.get(name).copied().unwrap_or(0);
                match op {
                    Op::Gt => c > *v,
                    Op::Ge => c >= *v,
                    Op::Lt => c < *v,
                    Op::Le => c <= *v,
                    Op::Eq => c == *v,
                    Op::Ne => c != *v,
                }
            }
            Cond::And(a, b) => a.eval(counts) && b.eval(counts),
            Cond::Or(a, b) => a.eval(counts) || b.eval(counts),
            Cond::Not(a) => !a.eval(counts),
        }
    }

    /// Query names the condition mentions.
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            Cond::Cmp(n, _, _) => out.push(n.clone()),
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.names(out);
                b.names(out);
            }
            Cond::Not(a) => a.names(out),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Int(i64),
    Op(Op),
    And,
    Or,
    Not,
    LParen,
    RParen,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i] as char;
        let two = s.get(i..i + 2).unwrap_or("");
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            _ if two == "&&" => {
                out.push(Tok::And);
                i += 2
            }
            _ if two == "||" => {
                out.push(Tok::Or);
                i += 2
            }
            _ if two == ">=" || two == "<=" || two == "==" || two == "!=" => {
                out.push(Tok::Op(match two {
                    ">=" => Op::Ge,
                    "<=" => Op::Le,
                    "==" => Op::Eq,
                    _ => Op::Ne,
                }));
                i += 2
            }
            '>' => {
                out.push(Tok::Op(Op::Gt));
                i += 1
            }
            '<' => {
                out.push(Tok::Op(Op::Lt));
                i += 1
            }
            '!' => {
                out.push(Tok::Not);
                i += 1
            }
            c if c.is_ascii_digit() => {
                let start = i;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                out.push(Tok::Int(
                    s[start..i]
                        .parse()
                        .map_err(|_| format!("number too large at {start}"))?,
                ));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Tok::Name(s[start..i].to_string()));
            }
            c => return Err(format!("unexpected {c:?} at {i}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn or(&mut self) -> Result<Cond, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Cond, String> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Cond::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Cond, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("condition nested too deeply".into());
        }
        let r = match self.next() {
            Some(Tok::Not) => Ok(Cond::Not(Box::new(self.unary()?))),
            Some(Tok::LParen) => {
                let c = self.or()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(c),
                    _ => Err("missing `)`".into()),
                }
            }
            Some(Tok::Name(n)) => match (self.next(), self.next()) {
                (Some(Tok::Op(op)), Some(Tok::Int(v))) => Ok(Cond::Cmp(n, op, v)),
                _ => Err(format!("expected `{n} <op> <number>`")),
            },
            other => Err(format!("expected a comparison, found {other:?}")),
        };
        self.depth -= 1;
        r
    }
}

pub fn parse(s: &str) -> Result<Cond, String> {
    let mut p = Parser {
        toks: lex(s)?,
        pos: 0,
        depth: 0,
    };
    let c = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!(
            "unexpected {:?} after the condition",
            p.toks[p.pos]
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(a: i64, b: i64) -> BTreeMap<String, i64> {
        [("a".to_string(), a), ("b".to_string(), b)]
            .into_iter()
            .collect()
    }

    #[test]
    fn evaluates_with_conventional_precedence() {
        let c = parse("a > 3 && b > 0").unwrap();
        assert!(c.eval(&counts(4, 1)));
        assert!(!c.eval(&counts(4, 0)));
        assert!(!c.eval(&counts(3, 1)));
        let c = parse("a >= 10 || a > 1 && b == 2").unwrap();
        assert!(c.eval(&counts(10, 0)));
        assert!(c.eval(&counts(2, 2)));
        assert!(!c.eval(&counts(2, 1)));
        assert!(parse("!(a < 2)").unwrap().eval(&counts(2, 0)));
    }

    #[test]
    fn rejects_malformed_conditions() {
        for bad in [
            "a >",
            "a > 3 &&",
            "(a > 1",
            "a > b",
            "a ~ 1",
            "",
            "a > 1 b > 2",
        ] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
        let deep = format!("{}a > 1{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).is_err());
    }
}
