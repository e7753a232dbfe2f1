//! Line/column of rules and macros in the policy text, so errors read `rule <id> (file:line:col): reason`.
//!
//! The YAML parser gives no spans for decoded values, so this maps each entry of the top-level `rules:` and
//! `macros:` sequences to its lines by scanning the text: sequence items are the `- ` lines at the sequence's
//! indentation, in document order (the same order the parser returns).

/// Where an entry and its `expression` are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryPos {
    /// 1-based line of the entry (its `- ` line).
    pub line: usize,
    /// Where the expression text starts: (line, column), 1-based, and whether it is a block scalar (`|`, `>`).
    pub expr: Option<(usize, usize, bool)>,
    /// Lengths (bytes) of the content lines of a block scalar: each line break is one character of the
    /// value (a newline for `|`, a space for `>`), which maps value offsets back to lines.
    pub block_lines: Vec<usize>,
}

/// Positions of the entries of the top-level sequence `key` (`rules` or `macros`).
pub fn entries(text: &str, key: &str) -> Vec<EntryPos> {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == format!("{key}:")) else {
        return Vec::new();
    };
    let end = lines
        .iter()
        .enumerate()
        .skip(start + 1)
        .find(|(_, l)| !l.is_empty() && !l.starts_with([' ', '\t', '-', '#']))
        .map_or(lines.len(), |(i, _)| i);
    let items: Vec<usize> = (start + 1..end)
        .filter(|&i| lines[i].trim_start().starts_with("- "))
        .collect();
    let Some(indent) = items.iter().map(|&i| indent_of(lines[i])).min() else {
        return Vec::new();
    };
    let items: Vec<usize> = items
        .into_iter()
        .filter(|&i| indent_of(lines[i]) == indent)
        .collect();
    let mut out = Vec::new();
    for (k, &first) in items.iter().enumerate() {
        let last = items.get(k + 1).copied().unwrap_or(end);
        let mut pos = EntryPos {
            line: first + 1,
            expr: None,
            block_lines: Vec::new(),
        };
        for (i, line) in lines.iter().enumerate().take(last).skip(first) {
            let body = line.trim_start().trim_start_matches("- ");
            let Some(value) = body.strip_prefix("expression:") else {
                continue;
            };
            if indent_of(line) > indent + 4 {
                continue; // a nested key (e.g. an action's `expression`)
            }
            let col0 = line.len() - value.len();
            let v = value.trim_start();
            let col = col0 + (value.len() - v.len());
            pos.expr = Some(if v.starts_with('|') || v.starts_with('>') {
                let next = lines.get(i + 1).map_or(0, |l| indent_of(l));
                pos.block_lines = lines[i + 1..last]
                    .iter()
                    .take_while(|l| l.trim().is_empty() || indent_of(l) >= next)
                    .map(|l| l.len().saturating_sub(next))
                    .collect();
                (i + 2, next + 1, true)
            } else if v.starts_with('\'') || v.starts_with('"') {
                (i + 1, col + 2, false)
            } else {
                (i + 1, col + 1, false)
            });
            break;
        }
        out.push(pos);
    }
    out
}

fn indent_of(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

/// Line/column in the file of byte `offset` of a block-scalar expression, from its content line lengths.
pub fn block_offset(start: (usize, usize, bool), lines: &[usize], offset: usize) -> (usize, usize) {
    let (line, col, _) = start;
    let mut rest = offset;
    for (k, len) in lines.iter().enumerate() {
        if rest <= *len {
            return (line + k, col + rest);
        }
        rest -= len + 1;
    }
    (line + lines.len().saturating_sub(1), col)
}

/// Line/column in the file of byte `offset` of an expression that starts at `start`.
pub fn expr_offset(start: (usize, usize, bool), expr: &str, offset: usize) -> (usize, usize) {
    let (line, col, block) = start;
    let (l, c) = rampart_secl::line_col(expr, offset);
    if l == 1 {
        (line, col + c - 1)
    } else if block {
        (line + l - 1, col + c - 1)
    } else {
        (line + l - 1, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_entries_and_expressions() {
        let text = "version: 1\nmacros:\n  - id: M\n    expression: '[1]'\nrules:\n  - id: a\n    expression: open.file.path == 1\n  - id: b\n    description: x\n    expression: |-\n      exec.file.name\n        == \"x\"\n    actions:\n      - set:\n          name: v\n          expression: \"1\"\n";
        let r = entries(text, "rules");
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0],
            EntryPos {
                line: 6,
                expr: Some((7, 17, false)),
                block_lines: vec![]
            }
        );
        assert_eq!(r[1].block_lines, [14, 8]);
        assert_eq!(
            block_offset(r[1].expr.unwrap(), &r[1].block_lines, 17),
            (12, 9)
        );
        assert_eq!(r[1].line, 8);
        assert_eq!(r[1].expr, Some((11, 7, true)));
        assert_eq!(
            expr_offset(r[1].expr.unwrap(), "exec.file.name\n  == \"x\"", 17),
            (12, 9)
        );
        let m = entries(text, "macros");
        assert_eq!(m[0].expr, Some((4, 18, false)));
    }
}
