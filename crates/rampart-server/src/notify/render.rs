//! Rendering a template in one output format. A body template is Markdown: it is parsed once (with markers
//! where the placeholders are) and each element is written in the target's markup; text runs are escaped for
//! the target, and each marker is replaced by its value, escaped as text. Link targets must end up as
//! http(s) or mailto URLs or the link is dropped (its text stays).

use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};

use super::escape::{escape, escape_value, Format};
use super::template::{segments, Part, Segment, Template};
use super::vars::Vars;

/// Renders a Markdown body template in `f`.
pub fn body(t: &Template, vars: &Vars, f: Format) -> String {
    if f == Format::Markdown {
        // The admin's Markdown is already the target markup: keep it, escape the values.
        return substitute(t, vars, f, false).trim_end().to_string();
    }
    let marked = t.marked();
    let mut r = Renderer {
        t,
        vars,
        f,
        out: String::new(),
        lists: Vec::new(),
        links: Vec::new(),
        quote: 0,
    };
    for event in Parser::new(&marked) {
        r.event(event);
    }
    let end = r.out.trim_end().len();
    r.out.truncate(end);
    r.out
}

/// Renders a one-line template (a title): no Markdown, everything escaped for `f`, whitespace folded.
pub fn line(t: &Template, vars: &Vars, f: Format) -> String {
    substitute(t, vars, f, true)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Renders a template as plain text, line breaks kept (strings of a webhook body).
pub fn text(t: &Template, vars: &Vars) -> String {
    substitute(t, vars, Format::Plain, true)
}

fn substitute(t: &Template, vars: &Vars, f: Format, escape_literal: bool) -> String {
    let mut out = String::new();
    for p in &t.parts {
        match p {
            Part::Text(s) if escape_literal => escape(f, s, &mut out),
            Part::Text(s) => out.push_str(s),
            Part::Var(path) => escape_value(f, &vars.text(path), &mut out),
        }
    }
    out
}

struct Renderer<'a> {
    t: &'a Template,
    vars: &'a Vars,
    f: Format,
    out: String,
    /// Open lists: the next item number of ordered ones.
    lists: Vec<Option<u64>>,
    /// Open links: where their text starts in `out`, and their URL if it is safe.
    links: Vec<(usize, Option<String>)>,
    quote: usize,
}

impl Renderer<'_> {
    fn push(&mut self, html: &str, slack: &str, plain: &str) {
        self.out.push_str(match self.f {
            Format::Html => html,
            Format::Slack => slack,
            _ => plain,
        });
    }

    /// Literal text and values from marked text, escaped.
    fn text(&mut self, s: &str) {
        for seg in segments(s) {
            match seg {
                Segment::Lit(l) if self.f == Format::Slack => slack_literal(l, &mut self.out),
                Segment::Lit(l) => escape(self.f, l, &mut self.out),
                Segment::Var(i) => {
                    let v = self.t.var(i).map(|p| self.vars.text(p)).unwrap_or_default();
                    escape_value(self.f, &v, &mut self.out)
                }
            }
        }
    }

    /// Ends the current line of a text format (once).
    fn newline(&mut self) {
        if self.f != Format::Html && !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn event(&mut self, e: Event<'_>) {
        match e {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(s) => self.text(&s),
            Event::Code(s) => {
                self.push("<code>", "`", "");
                self.text(&s);
                self.push("</code>", "`", "");
            }
            Event::Html(s) | Event::InlineHtml(s) => {
                // Raw HTML in a template is shown as text, except Slack mentions an admin wrote on purpose.
                if self.f == Format::Slack && is_slack_mention(&s) {
                    self.out.push_str(&s);
                } else {
                    self.text(&s);
                }
            }
            Event::SoftBreak => self.out.push('\n'),
            Event::HardBreak => self.push("<br>\n", "\n", "\n"),
            Event::Rule => {
                self.newline();
                self.push("<hr>\n", "———\n\n", "———\n\n");
            }
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => {
                if self.quote > 0 && self.f != Format::Html {
                    self.out.push_str("> ");
                }
                if self.lists.is_empty() {
                    self.push("<p>", "", "");
                }
            }
            Tag::Heading { level, .. } => {
                let open = format!("<h{}>", heading(level));
                self.push(&open, "*", "");
            }
            Tag::BlockQuote(_) => {
                self.quote += 1;
                self.push("<blockquote>\n", "", "");
            }
            Tag::CodeBlock(_) => self.push("<pre><code>", "```\n", ""),
            Tag::List(start) => {
                self.newline();
                match start {
                    Some(n) => {
                        let open = format!("<ol start=\"{n}\">\n");
                        self.push(&open, "", "");
                    }
                    None => self.push("<ul>\n", "", ""),
                }
                self.lists.push(start);
            }
            Tag::Item => {
                if self.f == Format::Html {
                    self.out.push_str("<li>");
                    return;
                }
                self.newline();
                let depth = self.lists.len().saturating_sub(1);
                self.out.push_str(&"    ".repeat(depth));
                match self.lists.last_mut() {
                    Some(Some(n)) => {
                        self.out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => self.push("", "• ", "- "),
                }
            }
            Tag::Emphasis => self.push("<em>", "_", ""),
            Tag::Strong => self.push("<strong>", "*", ""),
            Tag::Strikethrough => self.push("<del>", "~", ""),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                let url = self.safe_url(&dest_url);
                if let (Format::Html, Some(u)) = (self.f, &url) {
                    self.out.push_str("<a href=\"");
                    escape(Format::Html, u, &mut self.out);
                    self.out.push_str("\">");
                }
                self.links.push((self.out.len(), url));
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => {
                if self.lists.is_empty() {
                    self.push("</p>\n", "\n\n", "\n\n");
                } else {
                    self.newline();
                }
            }
            TagEnd::Heading(level) => {
                let close = format!("</h{}>\n", heading(level));
                self.push(&close, "*\n\n", "\n\n");
            }
            TagEnd::BlockQuote(_) => {
                self.quote = self.quote.saturating_sub(1);
                self.push("</blockquote>\n", "", "");
            }
            TagEnd::CodeBlock => {
                self.newline();
                self.push("</code></pre>\n", "```\n\n", "\n");
            }
            TagEnd::List(ordered) => {
                self.lists.pop();
                self.push(if ordered { "</ol>\n" } else { "</ul>\n" }, "", "");
                if self.lists.is_empty() {
                    self.newline();
                    self.push("", "\n", "\n");
                }
            }
            TagEnd::Item => self.push("</li>\n", "", ""),
            TagEnd::Emphasis => self.push("</em>", "_", ""),
            TagEnd::Strong => self.push("</strong>", "*", ""),
            TagEnd::Strikethrough => self.push("</del>", "~", ""),
            TagEnd::Link | TagEnd::Image => {
                let Some((start, url)) = self.links.pop() else {
                    return;
                };
                let Some(url) = url else {
                    return;
                };
                match self.f {
                    Format::Html => self.out.push_str("</a>"),
                    Format::Slack => {
                        let label = self.out.split_off(start);
                        self.out.push('<');
                        self.out.push_str(&url);
                        if !label.is_empty() {
                            self.out.push('|');
                            self.out.push_str(&label);
                        }
                        self.out.push('>');
                    }
                    _ => {
                        if self.out[start..] != url {
                            self.out.push_str(&format!(" ({url})"));
                        }
                    }
                }
            }
            _ => {}
        }
    }

    /// The link target with values substituted (percent-encoded), if it is an http(s) or mailto URL.
    fn safe_url(&self, dest: &str) -> Option<String> {
        let mut s = String::new();
        for seg in segments(dest) {
            match seg {
                Segment::Lit(l) => s.push_str(l),
                Segment::Var(i) => {
                    let v = self.t.var(i).map(|p| self.vars.text(p)).unwrap_or_default();
                    percent_encode_value(&v, &mut s);
                }
            }
        }
        let url = url::Url::parse(&s).ok()?;
        if !matches!(url.scheme(), "http" | "https" | "mailto") {
            return None;
        }
        // Characters that end a Slack link or an HTML attribute, should the URL parser have kept them.
        let mut out = String::new();
        for c in url.as_str().chars() {
            match c {
                '<' | '>' | '|' | '"' | '\'' | '`' | ' ' => {
                    out.push_str(&format!("%{:02X}", c as u32))
                }
                c => out.push(c),
            }
        }
        Some(out)
    }
}

fn heading(level: HeadingLevel) -> u8 {
    level as u8
}

/// Keeps URL structure characters (a value may be a whole URL) and percent-encodes everything else.
fn percent_encode_value(v: &str, out: &mut String) {
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/?#&=%+@!$,;".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Template text for Slack: escaped, except the mentions an admin wrote on purpose.
fn slack_literal(l: &str, out: &mut String) {
    let mut rest = l;
    while let Some(open) = rest.find('<') {
        let Some(len) = rest[open..].find('>').map(|i| i + 1) else {
            break;
        };
        let candidate = &rest[open..open + len];
        if is_slack_mention(candidate) {
            escape(Format::Slack, &rest[..open], out);
            out.push_str(candidate);
        } else {
            escape(Format::Slack, &rest[..open + 1], out);
            rest = &rest[open + 1..];
            continue;
        }
        rest = &rest[open + len..];
    }
    escape(Format::Slack, rest, out);
}

/// `<!here>`, `<!channel>`, `<!everyone>`, `<@U123>`, `<#C123>`, `<!subteam^S123>`.
fn is_slack_mention(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
        return false;
    };
    let id = |x: &str| {
        !x.is_empty()
            && x.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    matches!(inner, "!here" | "!channel" | "!everyone")
        || inner.strip_prefix('@').is_some_and(id)
        || inner.strip_prefix('#').is_some_and(id)
        || inner.strip_prefix("!subteam^").is_some_and(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::template::parse;
    use serde_json::json;

    fn vars() -> Vars {
        Vars {
            computed: json!({"url": "https://rampart.example/signals/7", "host": "web-1"}),
            matched: json!({"evil": "*bold* <script>x</script> <!channel> @here {{ host }} [a](javascript:x)",
                            "js": "javascript:alert(1)"}),
        }
    }

    #[test]
    fn renders_markdown_in_each_format() {
        let t = parse("# Title\n\n**{{ host }}** _x_ `c`\n\n- one\n- two\n\n[open]({{ url }})")
            .unwrap();
        let html = body(&t, &vars(), Format::Html);
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(
            html.contains("<strong>web-1</strong> <em>x</em> <code>c</code>"),
            "{html}"
        );
        assert!(html.contains("<li>one</li>"), "{html}");
        assert!(
            html.contains("<a href=\"https://rampart.example/signals/7\">open</a>"),
            "{html}"
        );
        let slack = body(&t, &vars(), Format::Slack);
        assert!(slack.starts_with("*Title*\n\n*web-1* _x_ `c`"), "{slack}");
        assert!(slack.contains("• one\n• two"), "{slack}");
        assert!(
            slack.contains("<https://rampart.example/signals/7|open>"),
            "{slack}"
        );
        let plain = body(&t, &vars(), Format::Plain);
        assert!(plain.contains("web-1 x c\n\n- one\n- two"), "{plain}");
        assert!(
            plain.contains("open (https://rampart.example/signals/7)"),
            "{plain}"
        );
    }

    #[test]
    fn values_stay_text() {
        let t = parse("{{ evil }}\n\n[click]({{ js }})").unwrap();
        let html = body(&t, &vars(), Format::Html);
        assert!(
            !html.contains("<script>") && !html.contains("<strong>"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(
            html.contains("{{ host }}"),
            "template syntax in a value is not evaluated: {html}"
        );
        assert!(
            !html.contains("href"),
            "a javascript: link is dropped: {html}"
        );
        let slack = body(&t, &vars(), Format::Slack);
        assert!(
            !slack.contains("<!channel>") && !slack.contains("*bold*"),
            "{slack}"
        );
        assert!(!slack.contains("<javascript"), "{slack}");
        let md = body(&t, &vars(), Format::Markdown);
        assert!(md.contains("\\*bold\\*") && md.contains("\\[a\\]"), "{md}");
        let plain = body(&t, &vars(), Format::Plain);
        assert!(
            plain.contains("*bold* <script>"),
            "plain text is shown as is: {plain}"
        );
    }

    #[test]
    fn admins_may_mention_in_slack() {
        let t = parse("<!here> new signal on {{ host }}").unwrap();
        assert_eq!(
            body(&t, &vars(), Format::Slack),
            "<!here> new signal on web-1"
        );
        let html = body(&t, &vars(), Format::Html);
        assert!(
            html.starts_with("&lt;!here&gt; new signal on web-1"),
            "{html}"
        );
    }

    #[test]
    fn titles_are_one_line() {
        let t = parse("[{{ host }}]\n  {{ evil }}").unwrap();
        let s = line(&t, &vars(), Format::Plain);
        assert!(!s.contains('\n'));
        assert!(s.starts_with("[web-1] *bold*"), "{s}");
    }
}
