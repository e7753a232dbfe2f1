//! Tokens of SECL: identifiers (fields, constants, macros, keywords), literals, variables and operators.

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::value::IpNet;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Str(String),
    Pattern(String),
    Regex(String),
    Int(i64),
    /// Nanoseconds.
    Duration(i64),
    Ip(IpAddr),
    Cidr(IpNet),
    /// `${name}`: the name without the braces.
    Var(String),
    Op(&'static str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

const OPS: &[&str] = &[
    "==", "!=", "=~", "!~", "<=", ">=", "&&", "||", "<", ">", "!", "&", "|", "^", "+", "-",
];

pub fn lex(src: &str) -> Result<Vec<Token>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' || (c == b'/' && b.get(i + 1) == Some(&b'/')) {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let tok = match c {
            b'"' => {
                let (s, n) = string(src, i)?;
                i = n;
                Tok::Str(s)
            }
            b'~' if b.get(i + 1) == Some(&b'"') => {
                let (s, n) = string(src, i + 1)?;
                i = n;
                Tok::Pattern(s)
            }
            b'r' if b.get(i + 1) == Some(&b'"') => {
                let (s, n) = string(src, i + 1)?;
                i = n;
                Tok::Regex(s)
            }
            b'$' if b.get(i + 1) == Some(&b'{') => {
                let end = src[i..]
                    .find('}')
                    .ok_or_else(|| Error::new(i, "unterminated variable `${`"))?
                    + i;
                let name = src[i + 2..end].trim();
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
                {
                    return Err(Error::new(i, format!("invalid variable name `{name}`")));
                }
                i = end + 1;
                Tok::Var(name.to_string())
            }
            b'(' => {
                i += 1;
                Tok::LParen
            }
            b')' => {
                i += 1;
                Tok::RParen
            }
            b'[' => {
                i += 1;
                Tok::LBracket
            }
            b']' => {
                i += 1;
                Tok::RBracket
            }
            b',' => {
                i += 1;
                Tok::Comma
            }
            _ => {
                if let Some((tok, n)) = ip_or_cidr(src, i) {
                    i = n;
                    tok
                } else if c.is_ascii_digit() {
                    let (tok, n) = number(src, i)?;
                    i = n;
                    tok
                } else if c.is_ascii_alphabetic() || c == b'_' {
                    while i < b.len()
                        && (b[i].is_ascii_alphanumeric()
                            || matches!(b[i], b'_' | b'.' | b'[' | b']'))
                    {
                        // `[` only belongs to an identifier as a register (`ancestors[A]`), not an array after a macro name.
                        if b[i] == b'[' && !is_register(&b[i..]) {
                            break;
                        }
                        if b[i] == b']' && !(i >= 2 && b[i - 2] == b'[') {
                            break;
                        }
                        i += 1;
                    }
                    Tok::Ident(src[start..i].to_string())
                } else if let Some(op) = OPS.iter().find(|op| src[i..].starts_with(**op)) {
                    i += op.len();
                    Tok::Op(op)
                } else {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    return Err(Error::new(i, format!("unexpected character `{ch}`")));
                }
            }
        };
        out.push(Token { tok, pos: start });
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
    });
    Ok(out)
}

/// `[A]`: one uppercase letter in brackets.
fn is_register(b: &[u8]) -> bool {
    b.len() >= 3 && b[0] == b'[' && b[1].is_ascii_uppercase() && b[2] == b']'
}

/// A quoted string starting at `b[i] == '"'`. `\"` and `\\` are unescaped; other escapes stay as written
/// (so `\*` reaches the glob compiler, and Windows paths like `\Device\…` keep their backslashes).
fn string(src: &str, i: usize) -> Result<(String, usize)> {
    let mut out = String::new();
    let mut chars = src[i + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1 + off + 1)),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(Error::new(i, "unterminated string"))
}

fn number(src: &str, i: usize) -> Result<(Tok, usize)> {
    let b = src.as_bytes();
    let mut j = i;
    let (digits, radix) = if src[i..].starts_with("0x") || src[i..].starts_with("0X") {
        j += 2;
        let s = j;
        while j < b.len() && b[j].is_ascii_hexdigit() {
            j += 1;
        }
        (&src[s..j], 16)
    } else {
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let d = &src[i..j];
        // A leading zero means octal, as in C and in Datadog's tests (`0707`).
        if d.len() > 1 && d.starts_with('0') {
            (&d[1..], 8)
        } else {
            (d, 10)
        }
    };
    let value = i64::from_str_radix(digits, radix)
        .map_err(|e| Error::new(i, format!("invalid number `{}`: {e}", &src[i..j])))?;
    let u = j;
    while j < b.len() && b[j].is_ascii_alphabetic() {
        j += 1;
    }
    if u == j {
        return Ok((Tok::Int(value), j));
    }
    let unit: i64 = match &src[u..j] {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        other => return Err(Error::new(u, format!("unknown duration unit `{other}`"))),
    };
    let ns = value
        .checked_mul(unit)
        .ok_or_else(|| Error::new(i, "duration overflows"))?;
    Ok((Tok::Duration(ns), j))
}

/// An IPv4/IPv6 address or CIDR at `i`, if the text there is one.
fn ip_or_cidr(src: &str, i: usize) -> Option<(Tok, usize)> {
    let b = src.as_bytes();
    let mut j = i;
    while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b':' || b[j] == b'.') {
        j += 1;
    }
    let text = &src[i..j];
    let v4 = text.bytes().filter(|c| *c == b'.').count() == 3 && !text.contains(':');
    let v6 = text.contains(':');
    if !(v4 || v6) {
        return None;
    }
    let ip: IpAddr = text.parse().ok()?;
    if b.get(j) == Some(&b'/') {
        let mut k = j + 1;
        while k < b.len() && b[k].is_ascii_digit() {
            k += 1;
        }
        let len: u8 = src[j + 1..k].parse().ok()?;
        let net = IpNet::new(ip, len)?;
        return Some((Tok::Cidr(net), k));
    }
    // An identifier char right after means this was not an address (e.g. `1.2.3.4abc`).
    if b.get(j)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        return None;
    }
    Some((Tok::Ip(ip), j))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_every_token_kind() {
        assert_eq!(
            toks(
                r#"process.ancestors[A].comm == "x\"y" ~"/a/*" r"^b$" 0755 10s ${process.pid} 10.0.0.0/8 ::1 (,)"#
            ),
            vec![
                Tok::Ident("process.ancestors[A].comm".into()),
                Tok::Op("=="),
                Tok::Str("x\"y".into()),
                Tok::Pattern("/a/*".into()),
                Tok::Regex("^b$".into()),
                Tok::Int(0o755),
                Tok::Duration(10_000_000_000),
                Tok::Var("process.pid".into()),
                Tok::Cidr(IpNet::new("10.0.0.0".parse().unwrap(), 8).unwrap()),
                Tok::Ip("::1".parse().unwrap()),
                Tok::LParen,
                Tok::Comma,
                Tok::RParen,
                Tok::Eof
            ]
        );
        assert_eq!(toks("MACRO[1]")[0], Tok::Ident("MACRO".into()));
        assert_eq!(
            toks("1m 5ms 0x10")[..3],
            [
                Tok::Duration(60_000_000_000),
                Tok::Duration(5_000_000),
                Tok::Int(16)
            ]
        );
        assert_eq!(toks(r#""\Device\*""#)[0], Tok::Str(r"\Device\*".into()));
    }

    #[test]
    fn lex_errors_carry_positions() {
        assert_eq!(lex(r#"a == "open"#).unwrap_err().pos, 5);
        assert_eq!(lex("a == 5y").unwrap_err().pos, 6);
        assert_eq!(lex("a @ b").unwrap_err().pos, 2);
        assert!(lex("${").is_err());
    }
}
