//! Message templates: text with `{{ path.to.value }}` placeholders and nothing else (no expressions, loops or
//! includes), so a template cannot run code. Values are inserted by the renderer of each output format after
//! the template is parsed, escaped for that format: template syntax or markup inside a value is never read.

/// What an admin writes: a one-line title and a Markdown body (the API's type).
pub use rampart_api::notifications::TemplateSpec;

pub const DEFAULT_TITLE: &str = "{{ notification.headline }}: {{ rule.name }} on {{ host }}";

pub const DEFAULT_BODY: &str =
    "**{{ rule.name }}** (`{{ rule.id }}`, {{ rule.source }} rule) is **{{ severity }}**.

- Host: {{ host }}
- Container: {{ container.id }} {{ container.image }}
- Process: {{ process.file.path }}
- Process tree: {{ process.tree }}
- Matches: {{ signal.count }}

[Open the signal in Rampart]({{ signal.url }})
";

const MAX_TEMPLATE_BYTES: usize = 16 * 1024;
const MAX_PLACEHOLDERS: usize = 256;
const MAX_PATH_BYTES: usize = 128;

/// Placeholders stand in the Markdown source as `OPEN index CLOSE` (private-use characters Markdown treats as
/// letters), so the Markdown parser keeps them inside the text runs where the values go.
pub const OPEN: char = '\u{E000}';
pub const CLOSE: char = '\u{E001}';

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    /// A dotted path (`signal.rule_id`, `process.ancestors.0.file.path`).
    Var(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<Part>,
}

/// Parses a template; the error says where and why.
pub fn parse(src: &str) -> Result<Template, String> {
    if src.len() > MAX_TEMPLATE_BYTES {
        return Err(format!("at most {MAX_TEMPLATE_BYTES} bytes"));
    }
    if src.contains([OPEN, CLOSE, '\0']) {
        return Err("contains reserved characters (U+E000, U+E001 or NUL)".into());
    }
    let mut parts = Vec::new();
    let mut rest = src;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("byte {}: `{{{{` is never closed", offset + start))?;
        let path = after[..end].trim();
        if !valid_path(path) {
            return Err(format!(
                "byte {}: {{{{ {path} }}}} is not a variable path (letters, digits, `_`, `-`, joined by `.`)",
                offset + start
            ));
        }
        parts.push(Part::Var(path.to_string()));
        if parts.len() > 2 * MAX_PLACEHOLDERS {
            return Err(format!("at most {MAX_PLACEHOLDERS} placeholders"));
        }
        offset += start + 2 + end + 2;
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err("`}}` without an opening `{{`".into());
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(Template { parts })
}

fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= MAX_PATH_BYTES
        && p.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

impl Template {
    /// The source with each placeholder replaced by its marker (`OPEN n CLOSE`).
    pub fn marked(&self) -> String {
        let mut s = String::new();
        for (i, p) in self.parts.iter().enumerate() {
            match p {
                Part::Text(t) => s.push_str(t),
                Part::Var(_) => {
                    s.push(OPEN);
                    s.push_str(&i.to_string());
                    s.push(CLOSE);
                }
            }
        }
        s
    }

    /// The variable path of part `i` (from a marker).
    pub fn var(&self, i: usize) -> Option<&str> {
        match self.parts.get(i) {
            Some(Part::Var(p)) => Some(p),
            _ => None,
        }
    }

    pub fn var_paths(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Text(_) => None,
        })
    }
}

/// A run of marked text: literal template text, or the index of a placeholder.
#[derive(Debug, PartialEq)]
pub enum Segment<'a> {
    Lit(&'a str),
    Var(usize),
}

/// Splits marked text into literal runs and placeholders.
pub fn segments(s: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find(OPEN) {
        let after = &rest[open + OPEN.len_utf8()..];
        let Some(close) = after.find(CLOSE) else {
            break;
        };
        let Ok(index) = after[..close].parse::<usize>() else {
            break;
        };
        if open > 0 {
            out.push(Segment::Lit(&rest[..open]));
        }
        out.push(Segment::Var(index));
        rest = &after[close + CLOSE.len_utf8()..];
    }
    if !rest.is_empty() {
        out.push(Segment::Lit(rest));
    }
    out
}

/// Checks a title and body given through the API.
pub fn validate(spec: &TemplateSpec) -> Result<(), String> {
    if let Some(t) = &spec.title {
        parse(t).map_err(|e| format!("template.title: {e}"))?;
    }
    if let Some(b) = &spec.body {
        parse(b).map_err(|e| format!("template.body: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_placeholders_and_text() {
        let t = parse("Rule {{ rule.id }} on {{host}}!").unwrap();
        assert_eq!(
            t.parts,
            vec![
                Part::Text("Rule ".into()),
                Part::Var("rule.id".into()),
                Part::Text(" on ".into()),
                Part::Var("host".into()),
                Part::Text("!".into()),
            ]
        );
        let marked = t.marked();
        assert_eq!(
            segments(&marked),
            vec![
                Segment::Lit("Rule "),
                Segment::Var(1),
                Segment::Lit(" on "),
                Segment::Var(3),
                Segment::Lit("!")
            ]
        );
    }

    #[test]
    fn refuses_broken_templates_with_reasons() {
        for (src, want) in [
            ("{{ rule.id", "never closed"),
            ("{{ rule..id }}", "not a variable path"),
            ("{{ a + b }}", "not a variable path"),
            ("{{ }}", "not a variable path"),
            ("x }}", "without an opening"),
            ("\u{E000}", "reserved"),
        ] {
            let err = parse(src).unwrap_err();
            assert!(err.contains(want), "{src:?}: {err}");
        }
    }
}
