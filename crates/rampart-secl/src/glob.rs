//! Glob patterns (`~"…"`), precompiled into literal pieces: no regex, no allocation when matching.
//!
//! On plain strings `*` matches any run of characters. On paths `*` stays within one segment and a `**`
//! segment matches zero or more whole segments (`/etc/**/passwd`, `/tmp/**`). `\*` (and `\\`) match a
//! literal star (backslash). Matching is O(text × pattern) at worst, never exponential.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Star,
}

/// One path segment pattern, or `**`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Pieces(Vec<Piece>),
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    ci: bool,
    kind: Kind,
    /// Literal text every match starts with (checked first: most candidates fail here).
    head: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Flat(Vec<Piece>),
    Path(Vec<Seg>),
}

fn pieces(pat: &str, ci: bool) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = pat.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '\\')) => {
                lit.push(chars.next().unwrap_or('\\'))
            }
            '*' => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                if out.last() != Some(&Piece::Star) {
                    out.push(Piece::Star);
                }
            }
            c if ci => lit.extend(c.to_lowercase()),
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

impl Glob {
    /// Compiles `pat`; `path` selects path semantics, `ci` case-insensitive matching (ASCII folding).
    pub fn new(pat: &str, path: bool, ci: bool) -> Glob {
        let kind = if path {
            Kind::Path(
                pat.split('/')
                    .map(|s| {
                        if s == "**" {
                            Seg::Any
                        } else {
                            Seg::Pieces(pieces(s, ci))
                        }
                    })
                    .collect(),
            )
        } else {
            Kind::Flat(pieces(pat, ci))
        };
        let mut g = Glob {
            source: pat.to_string(),
            ci,
            kind,
            head: String::new(),
        };
        g.head = g.literal_prefix();
        if path {
            // `/etc/**` also matches `/etc`: keep the prefix up to its last separator only.
            let cut = g.head.rfind('/').unwrap_or(0);
            g.head.truncate(cut);
        }
        if ci {
            g.head = g.head.to_lowercase();
        }
        g
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, text: &str) -> bool {
        let h = self.head.as_bytes();
        if text.len() < h.len() || !eq_at(text.as_bytes(), 0, h, self.ci) {
            return false;
        }
        match &self.kind {
            Kind::Flat(p) => match_pieces(p, text, self.ci),
            Kind::Path(segs) => match_segments(segs, text, self.ci),
        }
    }

    /// For a case-sensitive path glob, the directory every match lies in or equals (`/usr/bin` for
    /// `/usr/bin/apt*`, `/etc` for `/etc/**`) and the literal prefix every match starts with, if it has one.
    pub(crate) fn path_head(&self) -> Option<(String, String)> {
        if !matches!(self.kind, Kind::Path(_)) || self.ci || self.head.is_empty() {
            return None;
        }
        // Every match starts with the literal prefix (without a trailing `/`: `/etc/**` matches `/etc`).
        let lit = self.literal_prefix();
        Some((self.head.clone(), lit.trim_end_matches('/').to_string()))
    }

    /// For a plain-string glob, the literal text every match starts with (lowercase when case-insensitive).
    pub(crate) fn flat_head(&self) -> Option<&str> {
        (matches!(self.kind, Kind::Flat(_)) && !self.head.is_empty()).then_some(self.head.as_str())
    }

    /// For a plain-string glob, the literal text every match ends with (lowercase when case-insensitive).
    pub(crate) fn flat_tail(&self) -> Option<&str> {
        match &self.kind {
            Kind::Flat(p) => match p.last() {
                Some(Piece::Lit(l)) => Some(l),
                _ => None,
            },
            Kind::Path(_) => None,
        }
    }

    /// `Some(lit)` for a plain `*lit*` glob (substring search).
    pub(crate) fn contains_literal(&self) -> Option<&str> {
        match &self.kind {
            Kind::Flat(p) => match p.as_slice() {
                [Piece::Star, Piece::Lit(l), Piece::Star] => Some(l),
                _ => None,
            },
            Kind::Path(_) => None,
        }
    }

    /// The literal text before the first wildcard (for prefix approvers).
    pub fn literal_prefix(&self) -> String {
        let mut out = String::new();
        let mut chars = self.source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => break,
                '\\' if matches!(chars.peek(), Some('*' | '\\')) => {
                    out.push(chars.next().unwrap_or('\\'))
                }
                c => out.push(c),
            }
        }
        out
    }

    /// The last path segment when it has no wildcard (`/etc/**/passwd` → `passwd`).
    pub fn literal_basename(&self) -> Option<&str> {
        let last = self.source.rsplit('/').next()?;
        (!last.is_empty() && !last.contains('*') && !last.contains('\\')).then_some(last)
    }

    /// The literal start of the last path segment (`/**/.ssh/id_*` → `id_`): every value the pattern
    /// matches has a basename that starts with it. `None` when that segment starts with a wildcard or has
    /// an escape.
    pub fn basename_literal_prefix(&self) -> Option<&str> {
        let last = self.source.rsplit('/').next()?;
        if last.contains('\\') {
            return None;
        }
        let lit = &last[..last.find('*').unwrap_or(last.len())];
        (!lit.is_empty()).then_some(lit)
    }

    /// Whether the pattern has no wildcard at all.
    pub fn is_literal(&self) -> bool {
        match &self.kind {
            Kind::Flat(p) => p.iter().all(|x| matches!(x, Piece::Lit(_))),
            Kind::Path(s) => s.iter().all(
                |s| matches!(s, Seg::Pieces(p) if p.iter().all(|x| matches!(x, Piece::Lit(_)))),
            ),
        }
    }
}

fn eq_at(text: &[u8], at: usize, lit: &[u8], ci: bool) -> bool {
    // Empty literals never reach `memcmp` (see `eval::str_eq`).
    if lit.is_empty() {
        return at <= text.len();
    }
    text.len() >= at + lit.len()
        && if ci {
            text[at..at + lit.len()].eq_ignore_ascii_case(lit)
        } else {
            &text[at..at + lit.len()] == lit
        }
}

fn find_from(text: &str, from: usize, lit: &str, ci: bool) -> Option<usize> {
    if lit.is_empty() {
        return Some(from);
    }
    if !ci {
        let hay = text.get(from..)?;
        if hay.len() > 256 {
            // Long texts: `str::find`'s two-way search is linear.
            return hay.find(lit).map(|i| i + from);
        }
        // Short texts: scanning for the first byte beats setting up a two-way searcher.
        let (hb, lb) = (hay.as_bytes(), lit.as_bytes());
        let first = lb[0];
        let last_start = hb.len().checked_sub(lb.len())?;
        return (0..=last_start)
            .find(|&i| hb[i] == first && &hb[i..i + lb.len()] == lb)
            .map(|i| i + from);
    }
    let (text, lit) = (text.as_bytes(), lit.as_bytes());
    if text.len() < lit.len() {
        return None;
    }
    (from..=text.len() - lit.len()).find(|&i| eq_at(text, i, lit, ci))
}

/// Single-kind wildcard match: literals must appear in order; the first anchors at the start unless a star
/// precedes it, the last at the end unless a star follows it. Leftmost placement of middle literals is optimal.
fn match_pieces(p: &[Piece], text: &str, ci: bool) -> bool {
    let n = p.len();
    if n == 0 {
        return text.is_empty();
    }
    let mut pos = 0;
    let mut i = 0;
    // Anchored head.
    if let Piece::Lit(l) = &p[0] {
        if !eq_at(text.as_bytes(), 0, l.as_bytes(), ci) {
            return false;
        }
        pos = l.len();
        i = 1;
        if n == 1 {
            return pos == text.len();
        }
    }
    // Anchored tail.
    let mut end = text.len();
    let mut last = n;
    if let Piece::Lit(l) = &p[n - 1] {
        if l.len() > end - pos || !eq_at(text.as_bytes(), end - l.len(), l.as_bytes(), ci) {
            return false;
        }
        end -= l.len();
        last = n - 1;
    }
    // `end` is a char boundary unless a case-insensitive tail matched inside a multi-byte char.
    let Some(text) = text.get(..end) else {
        return false;
    };
    for piece in &p[i..last] {
        if let Piece::Lit(l) = piece {
            match find_from(text, pos, l, ci) {
                Some(at) => pos = at + l.len(),
                None => return false,
            }
        }
    }
    pos <= text.len()
}

/// Segment-level wildcard match where `**` plays the star, with the classic backtrack-to-last-star loop.
fn match_segments(segs: &[Seg], text: &str, ci: bool) -> bool {
    let parts: Segments<'_> = Segments { text };
    let mut si = 0; // pattern index
    let mut ti = Some(0usize); // byte offset of the current text segment, None = past the end
                               // (pattern index after the last `**`, text offset it would swallow next; None once it took everything).
    let mut star: Option<(usize, Option<usize>)> = None;
    loop {
        match (segs.get(si), ti) {
            (Some(Seg::Any), _) => {
                si += 1;
                if ti.is_none() {
                    // Past the end of the text: the remaining pattern must be `**` only.
                    return segs[si..].iter().all(|s| *s == Seg::Any);
                }
                star = Some((si, ti));
                continue;
            }
            (Some(Seg::Pieces(p)), Some(t)) => {
                let (seg, next) = parts.at(t);
                if match_pieces(p, seg, ci) {
                    si += 1;
                    ti = next;
                    continue;
                }
            }
            (None, None) => return true,
            _ => {}
        }
        // Mismatch: let the last `**` swallow one more segment.
        match star {
            Some((resume, Some(t))) => {
                let (_, next) = parts.at(t);
                star = Some((resume, next));
                si = resume;
                ti = next;
            }
            _ => return false,
        }
    }
}

struct Segments<'a> {
    text: &'a str,
}

impl<'a> Segments<'a> {
    /// The segment starting at byte `t` and the offset of the next one.
    fn at(&self, t: usize) -> (&'a str, Option<usize>) {
        match self.text[t..].find('/') {
            Some(i) => (&self.text[t..t + i], Some(t + i + 1)),
            None => (&self.text[t..], None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, path: bool, t: &str) -> bool {
        Glob::new(p, path, false).is_match(t)
    }

    #[test]
    fn flat_globs() {
        assert!(m("*", false, ""));
        assert!(m("*", false, "anything/at/all"));
        assert!(m("php*", false, "php-fpm"));
        assert!(!m("php*", false, "xphp"));
        assert!(m("*stratum+tcp*", false, "-o stratum+tcp://pool:3333"));
        assert!(m("a*b*c", false, "aXbYc"));
        assert!(!m("a*b*c", false, "aXbY"));
        assert!(m("a*a", false, "aa"));
        assert!(!m("a*a", false, "a"));
        assert!(m("", false, ""));
        assert!(!m("", false, "x"));
        assert!(m(r"a\*b", false, "a*b"));
        assert!(!m(r"a\*b", false, "aXb"));
        assert!(Glob::new("*.EXAMPLE.com", false, true).is_match("www.example.COM"));
    }

    #[test]
    fn path_globs() {
        assert!(m("/etc/*", true, "/etc/passwd"));
        assert!(!m("/etc/*", true, "/etc/ssh/sshd_config"));
        assert!(m("/etc/**", true, "/etc/ssh/sshd_config"));
        assert!(m("/etc/**/passwd", true, "/etc/passwd"));
        assert!(m("/etc/**/passwd", true, "/etc/a/b/passwd"));
        assert!(!m("/etc/**/passwd", true, "/etc/a/b/shadow"));
        assert!(m("/sys/**/cgr*", true, "/sys/fs/cgroup"));
        assert!(m("/proc/*/maps", true, "/proc/123/maps"));
        assert!(!m("/proc/*/maps", true, "/proc/1/task/2/maps"));
        assert!(m("/**/x/**/y", true, "/a/x/b/c/y"));
        assert!(m("/home/*/.ssh/*", true, "/home/bob/.ssh/authorized_keys"));
        assert!(!m("/tmp/*", true, "/tmpx/a"));
        assert!(m("**", true, "/a/b"));
        assert!(m("/etc/**", true, "/etc/a"));
        assert!(m("/etc/**", true, "/etc"));
        assert!(!m("/etc/**/z", true, "/etc/a/b"));
    }

    #[test]
    fn approver_helpers() {
        let g = Glob::new("/etc/**/passwd", true, false);
        assert_eq!(g.literal_prefix(), "/etc/");
        assert_eq!(g.literal_basename(), Some("passwd"));
        assert_eq!(Glob::new("/etc/*", true, false).literal_basename(), None);
        assert!(Glob::new("/etc/x", true, false).is_literal());
    }
}
