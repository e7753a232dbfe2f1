//! Escaping text for each output format. Every substituted value goes through one of these, so what an
//! attacker put in an event field shows as text and never as markup, a mention or a link.

/// The formats a message is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// HTML (email).
    Html,
    /// Slack mrkdwn.
    Slack,
    /// CommonMark (Microsoft Teams Adaptive Cards).
    Markdown,
    /// Plain text (email text part, PagerDuty, Opsgenie, fallbacks).
    Plain,
}

/// Escapes `s` for `f`, appending to `out`.
pub fn escape(f: Format, s: &str, out: &mut String) {
    match f {
        Format::Html => html(s, out),
        Format::Slack => slack(s, out),
        Format::Markdown => markdown(s, out),
        Format::Plain => plain(s, out),
    }
}

/// Escapes a value: as [`escape`], with line breaks and other control characters turned into spaces first
/// (a value cannot start a new Markdown block, a Slack quote or an email header line).
pub fn escape_value(f: Format, s: &str, out: &mut String) {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    escape(f, &flat, out)
}

pub fn html(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Slack: `&`, `<` and `>` are the escapes Slack documents (they stop `<!channel>`, `<@U…>` and `<url|…>`).
/// Slack has no escape for its formatting characters, so `*`, `_`, `~` and `` ` `` that could open or close
/// formatting (not between two letters or digits) become look-alikes, and `@name` gets a zero-width space
/// so that `@here` and `@channel` are never parsed as mentions.
pub fn slack(s: &str, out: &mut String) {
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let inner = |j: Option<usize>| {
            j.and_then(|j| chars.get(j))
                .is_some_and(|c| c.is_alphanumeric())
        };
        let between_words = inner(i.checked_sub(1)) && inner(Some(i + 1));
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' if !between_words => out.push('\u{2217}'),
            '_' if !between_words => out.push('\u{FF3F}'),
            '~' if !between_words => out.push('\u{223C}'),
            '`' => out.push('\u{02CB}'),
            '@' => out.push_str("@\u{200B}"),
            c => out.push(c),
        }
    }
}

/// CommonMark: a backslash before every ASCII punctuation character that can start markup, entity references
/// or HTML.
pub fn markdown(s: &str, out: &mut String) {
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '`'
                | '*'
                | '_'
                | '{'
                | '}'
                | '['
                | ']'
                | '<'
                | '>'
                | '('
                | ')'
                | '#'
                | '+'
                | '-'
                | '.'
                | '!'
                | '|'
                | '~'
                | '&'
                | '@'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Plain text keeps everything but control characters other than line breaks and tabs.
pub fn plain(s: &str, out: &mut String) {
    out.extend(
        s.chars()
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t'),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(f: Format, s: &str) -> String {
        let mut out = String::new();
        escape_value(f, s, &mut out);
        out
    }

    #[test]
    fn html_escapes_markup() {
        assert_eq!(
            esc(Format::Html, "<script>alert('x')</script>&"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
    }

    #[test]
    fn slack_neutralises_mentions_links_and_formatting() {
        let out = esc(
            Format::Slack,
            "<!channel> @here *bold* _it_ ~s~ `c` my_tool a*b <http://x|y>",
        );
        assert!(!out.contains('<') && !out.contains('>'), "{out}");
        assert!(out.contains("&lt;!channel&gt;"), "{out}");
        assert!(out.contains("@\u{200B}here"), "{out}");
        assert!(!out.contains("*bold*") && !out.contains("_it_") && !out.contains("~s~"));
        assert!(!out.contains('`'));
        assert!(
            out.contains("my_tool") && out.contains("a*b"),
            "between letters stays: {out}"
        );
    }

    #[test]
    fn markdown_backslash_escapes() {
        assert_eq!(
            esc(Format::Markdown, "*x* [a](b)"),
            "\\*x\\* \\[a\\]\\(b\\)"
        );
        assert_eq!(esc(Format::Markdown, "line\n# h"), "line \\# h");
    }
}
