//! The syntax tree and the parser.
//!
//! Precedence, loosest first: `||`/`or`, `&&`/`and`, comparisons (`== != =~ !~ < <= > >= in not in allin`),
//! `+ -`, bitwise `& | ^`, unary `! not - ^`. `&&` binds tighter than `||` (Datadog gives them equal
//! precedence grouped to the right; [`parse`] reports a warning for every unparenthesised mixed chain).
//! Bitwise operators bind tighter than comparisons, so `open.flags & O_CREAT > 0` needs no parentheses.
//!
//! Hostile input: `||` and `&&` chains are n-ary nodes (a chain of 5,000 terms is one node, not a tree 5,000
//! deep), the tree's depth is bounded by [`MAX_DEPTH`] (parentheses, unary operators, arrays and each link of
//! an arithmetic chain count) and its size by [`MAX_OPERATORS`], so every walk over it is bounded too.

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::lexer::{lex, Tok, Token};
use crate::value::IpNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
    BitNot,
}

/// Binary operators other than `||` and `&&` (those are the n-ary [`Kind::Or`] and [`Kind::And`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Match,
    NotMatch,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    AllIn,
    BitAnd,
    BitOr,
    BitXor,
    Add,
    Sub,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        use BinOp::*;
        match self {
            Eq => "==",
            Ne => "!=",
            Match => "=~",
            NotMatch => "!~",
            Lt => "<",
            Le => "<=",
            Gt => ">",
            Ge => ">=",
            In => "in",
            NotIn => "not in",
            AllIn => "allin",
            BitAnd => "&",
            BitOr => "|",
            BitXor => "^",
            Add => "+",
            Sub => "-",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Bool(bool),
    Int(i64),
    Str(String),
    Pattern(String),
    Regex(String),
    Duration(i64),
    Ip(IpAddr),
    Cidr(IpNet),
    /// A field, constant or macro name.
    Ident(String),
    Var(String),
    Array(Vec<Node>),
    Unary(UnOp, Box<Node>),
    /// `a || b || …`: two or more terms.
    Or(Vec<Node>),
    /// `a && b && …`: two or more terms.
    And(Vec<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    Paren(Box<Node>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    /// Byte offset of the node's first token.
    pub pos: usize,
}

/// A non-fatal remark about an expression (e.g. an ambiguous `&&`/`||` chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub pos: usize,
    pub msg: String,
}

/// Parses a rule or macro expression.
pub fn parse(src: &str) -> Result<(Node, Vec<Warning>)> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        warnings: Vec::new(),
        depth: 0,
        operators: 0,
    };
    let node = p.or()?;
    match &p.peek().tok {
        Tok::Eof => Ok((node, p.warnings)),
        t => Err(Error::new(
            p.peek().pos,
            format!("unexpected {} after the end of the expression", describe(t)),
        )),
    }
}

/// Nesting limit: keeps recursion bounded on hostile input (`((((…`, `!!!!…`, `a + b + c + …`). The
/// deepest expression of the default policies nests 11 levels.
pub const MAX_DEPTH: usize = 64;

/// Operators (`||`, `&&`, comparisons, arithmetic, unary) in one expression. The largest rule of Datadog's
/// default policy has 73; a bound keeps the work of compiling one expression bounded (array items do
/// not count: long value lists are common).
pub const MAX_OPERATORS: usize = 4096;

struct Parser {
    toks: Vec<Token>,
    i: usize,
    warnings: Vec<Warning>,
    depth: usize,
    operators: usize,
}

/// One term stays itself; more become one n-ary node.
fn chain(mut terms: Vec<Node>, kind: fn(Vec<Node>) -> Kind) -> Node {
    if terms.len() == 1 {
        return terms.pop().expect("one term");
    }
    Node {
        pos: terms[0].pos,
        kind: kind(terms),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("string \"{s}\""),
        Tok::Op(o) => format!("`{o}`"),
        Tok::Eof => "end of expression".into(),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::Comma => "`,`".into(),
        other => format!("{other:?}"),
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.i]
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.toks[(self.i + k).min(self.toks.len() - 1)].tok
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(&self.peek().tok, Tok::Op(o) if *o == op)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s == kw)
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error::new(
                self.peek().pos,
                format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
            ));
        }
        Ok(())
    }

    /// Counts the operator at `pos` against [`MAX_OPERATORS`].
    fn operator(&mut self, pos: usize) -> Result<()> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(Error::new(
                pos,
                format!("more than {MAX_OPERATORS} operators in one expression"),
            ));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node> {
        self.enter()?;
        let (first, mut saw_and) = self.and()?;
        let mut terms = vec![first];
        let mut warned = false;
        while self.is_op("||") || self.is_kw("or") {
            let pos = self.bump().pos;
            self.operator(pos)?;
            let (rhs, rhs_and) = self.and()?;
            if (saw_and || rhs_and) && !warned {
                warned = true;
                let differs = saw_and;
                self.warnings.push(Warning {
                    pos,
                    msg: if differs {
                        "`&&` and `||` mixed without parentheses: Rampart reads `a && b || c` as `(a && b) || c`, \
                         Datadog as `a && (b || c)`; add parentheses"
                            .into()
                    } else {
                        "`&&` and `||` mixed without parentheses; add parentheses to make the grouping explicit".into()
                    },
                });
            }
            saw_and |= rhs_and;
            terms.push(rhs);
        }
        self.depth -= 1;
        Ok(chain(terms, Kind::Or))
    }

    /// Returns whether an `&&` was consumed at this level.
    fn and(&mut self) -> Result<(Node, bool)> {
        let mut terms = vec![self.comparison()?];
        while self.is_op("&&") || self.is_kw("and") {
            let pos = self.bump().pos;
            self.operator(pos)?;
            terms.push(self.comparison()?);
        }
        let saw = terms.len() > 1;
        Ok((chain(terms, Kind::And), saw))
    }

    fn comparison(&mut self) -> Result<Node> {
        let lhs = self.additive()?;
        let op = match &self.peek().tok {
            Tok::Op("==") => BinOp::Eq,
            Tok::Op("!=") => BinOp::Ne,
            Tok::Op("=~") => BinOp::Match,
            Tok::Op("!~") => BinOp::NotMatch,
            Tok::Op("<") => BinOp::Lt,
            Tok::Op("<=") => BinOp::Le,
            Tok::Op(">") => BinOp::Gt,
            Tok::Op(">=") => BinOp::Ge,
            Tok::Ident(s) if s == "in" => BinOp::In,
            Tok::Ident(s) if s == "allin" => BinOp::AllIn,
            Tok::Ident(s)
                if s == "not" && matches!(self.peek_at(1), Tok::Ident(n) if n == "in") =>
            {
                self.bump();
                BinOp::NotIn
            }
            _ => return Ok(lhs),
        };
        let pos = self.bump().pos;
        self.operator(pos)?;
        let rhs = self.additive()?;
        if let Tok::Op(o @ ("==" | "!=" | "=~" | "!~" | "<" | "<=" | ">" | ">=")) = &self.peek().tok
        {
            return Err(Error::new(
                self.peek().pos,
                format!("comparisons do not chain: parenthesise before `{o}`"),
            ));
        }
        Ok(Node {
            pos: lhs.pos,
            kind: Kind::Binary(op, Box::new(lhs), Box::new(rhs)),
        })
    }

    fn additive(&mut self) -> Result<Node> {
        let lhs = self.bitwise()?;
        self.left_chain(
            lhs,
            |t| match t {
                Tok::Op("+") => Some(BinOp::Add),
                Tok::Op("-") => Some(BinOp::Sub),
                _ => None,
            },
            Self::bitwise,
        )
    }

    fn bitwise(&mut self) -> Result<Node> {
        let lhs = self.unary()?;
        self.left_chain(
            lhs,
            |t| match t {
                Tok::Op("&") => Some(BinOp::BitAnd),
                Tok::Op("|") => Some(BinOp::BitOr),
                Tok::Op("^") => Some(BinOp::BitXor),
                _ => None,
            },
            Self::unary,
        )
    }

    /// `lhs op x op y …`, grouped to the left. Each link makes the tree one level deeper, so each counts
    /// against [`MAX_DEPTH`] until the chain ends.
    fn left_chain(
        &mut self,
        mut lhs: Node,
        op_of: impl Fn(&Tok) -> Option<BinOp>,
        operand: fn(&mut Self) -> Result<Node>,
    ) -> Result<Node> {
        let outer = self.depth;
        while let Some(op) = op_of(&self.peek().tok) {
            let pos = self.bump().pos;
            self.operator(pos)?;
            self.enter()?;
            let rhs = operand(self)?;
            lhs = Node {
                pos: lhs.pos,
                kind: Kind::Binary(op, Box::new(lhs), Box::new(rhs)),
            };
        }
        self.depth = outer;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Node> {
        let pos = self.peek().pos;
        let op = match &self.peek().tok {
            Tok::Op("!") => UnOp::Not,
            Tok::Ident(s) if s == "not" => UnOp::Not,
            Tok::Op("-") => UnOp::Neg,
            Tok::Op("^") => UnOp::BitNot,
            _ => return self.primary(),
        };
        self.bump();
        self.operator(pos)?;
        self.enter()?;
        // `!` applies to a comparison operand (`!a == b` is `!(a == b)` only when parenthesised): like Datadog,
        // a unary operator takes the next unary/primary expression.
        let inner = self.unary()?;
        self.depth -= 1;
        Ok(Node {
            pos,
            kind: Kind::Unary(op, Box::new(inner)),
        })
    }

    fn primary(&mut self) -> Result<Node> {
        let t = self.bump();
        let kind = match t.tok {
            Tok::Ident(s) if s == "true" => Kind::Bool(true),
            Tok::Ident(s) if s == "false" => Kind::Bool(false),
            Tok::Ident(s) if matches!(s.as_str(), "in" | "not" | "allin" | "and" | "or") => {
                return Err(Error::new(t.pos, format!("unexpected keyword `{s}`")))
            }
            Tok::Ident(s) => Kind::Ident(s),
            Tok::Str(s) => Kind::Str(s),
            Tok::Pattern(s) => Kind::Pattern(s),
            Tok::Regex(s) => Kind::Regex(s),
            Tok::Int(i) => Kind::Int(i),
            Tok::Duration(d) => Kind::Duration(d),
            Tok::Ip(ip) => Kind::Ip(ip),
            Tok::Cidr(n) => Kind::Cidr(n),
            Tok::Var(v) => Kind::Var(v),
            Tok::LParen => {
                let inner = self.or()?;
                self.expect_close(Tok::RParen, t.pos, "`)`")?;
                Kind::Paren(Box::new(inner))
            }
            Tok::LBracket => {
                self.enter()?;
                let mut items = Vec::new();
                while self.peek().tok != Tok::RBracket {
                    items.push(self.additive()?);
                    if self.peek().tok == Tok::Comma {
                        self.bump();
                    } else {
                        break;
                    }
                }
                self.expect_close(Tok::RBracket, t.pos, "`]`")?;
                self.depth -= 1;
                Kind::Array(items)
            }
            other => {
                return Err(Error::new(
                    t.pos,
                    format!("expected a value, found {}", describe(&other)),
                ))
            }
        };
        Ok(Node { pos: t.pos, kind })
    }

    fn expect_close(&mut self, tok: Tok, open: usize, what: &str) -> Result<()> {
        if self.peek().tok == tok {
            self.bump();
            Ok(())
        } else {
            let found = describe(&self.peek().tok);
            Err(Error::new(
                self.peek().pos,
                format!("expected {what} (opened at offset {open}), found {found}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n: &Node) -> String {
        match &n.kind {
            Kind::Binary(op, l, r) => format!("({} {} {})", shape(l), op.symbol(), shape(r)),
            Kind::Or(v) => format!("({})", v.iter().map(shape).collect::<Vec<_>>().join(" || ")),
            Kind::And(v) => format!("({})", v.iter().map(shape).collect::<Vec<_>>().join(" && ")),
            Kind::Unary(op, x) => format!("({op:?} {})", shape(x)),
            Kind::Paren(x) => shape(x),
            Kind::Ident(s) => s.clone(),
            Kind::Int(i) => i.to_string(),
            Kind::Array(v) => format!("[{}]", v.iter().map(shape).collect::<Vec<_>>().join(",")),
            other => format!("{other:?}"),
        }
    }

    fn p(s: &str) -> String {
        shape(&parse(s).unwrap().0)
    }

    #[test]
    fn precedence() {
        assert_eq!(p("a && b || c"), "((a && b) || c)");
        assert_eq!(p("a || b && c"), "(a || (b && c))");
        assert_eq!(p("a & B > 0"), "((a & B) > 0)");
        assert_eq!(p("a + b & c == 1"), "((a + (b & c)) == 1)");
        assert_eq!(p("!a && b"), "((Not a) && b)");
        assert_eq!(p("a not in [1, 2]"), "(a not in [1,2])");
        assert_eq!(p("not a in [1]"), "((Not a) in [1])");
        assert_eq!(p("a and b or c"), "((a && b) || c)");
    }

    #[test]
    fn warns_on_mixed_chains_only() {
        assert_eq!(parse("a && b || c").unwrap().1.len(), 1);
        assert!(parse("a || b && c").unwrap().1[0].msg.contains("explicit"));
        assert!(parse("(a && b) || c").unwrap().1.is_empty());
        assert!(parse("a && (b || c)").unwrap().1.is_empty());
    }

    #[test]
    fn errors() {
        assert_eq!(parse("a == ").unwrap_err().pos, 5);
        assert!(parse("(a == 1").unwrap_err().msg.contains("`)`"));
        assert!(parse("a == 1 == 2").is_err());
        assert!(parse("a b").is_err());
        assert!(parse(&"(".repeat(1000)).is_err());
        assert!(parse(&"!".repeat(100_000)).is_err());
    }
}
