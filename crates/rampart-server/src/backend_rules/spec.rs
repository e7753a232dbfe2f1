//! Backend rule files (YAML), validated into [`BackendRule`]s. Like agent policies, a broken rule is reported
//! by id with its reason and skipped; the others load.
//!
//! ```yaml
//! rules:
//!   - id: fim_burst
//!     name: Burst of file-integrity alerts on one host
//!     method: threshold            # threshold | new_value | sequence
//!     queries:                     # named queries over agent matches (all conditions must hold)
//!       a: {tags: {category: persistence}}
//!     group_by: [host]             # host | container | executable | any match field path
//!     window: 10m
//!     keep_alive: 30m              # a new trigger this soon after the last one extends the signal
//!     max_duration: 6h             # ... unless the signal is older than this
//!     cases:
//!       - {if: "a >= 10", severity: high}
//!       - {if: "a >= 5", severity: medium}
//!     remediation: …
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cond::{self, Cond};
use crate::ingest::validate::SEVERITIES;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub rules: Vec<RuleSpec>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub method: String,
    pub queries: BTreeMap<String, QuerySpec>,
    #[serde(default)]
    pub group_by: Vec<String>,
    pub window: String,
    #[serde(default)]
    pub keep_alive: Option<String>,
    #[serde(default)]
    pub max_duration: Option<String>,
    #[serde(default)]
    pub cases: Vec<CaseSpec>,
    /// `new_value`: which query and field, and how long a group learns before new values alert.
    #[serde(default)]
    pub new_value: Option<NewValueSpec>,
    /// `sequence`: query names in the order they must happen.
    #[serde(default)]
    pub sequence: Vec<String>,
    #[serde(default)]
    pub remediation: String,
    #[serde(default)]
    pub disabled: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySpec {
    /// Agent rule ids (globs with `*`), any of.
    #[serde(default)]
    pub rule_ids: Vec<String>,
    /// Rule tags that must have one of the given values (globs).
    #[serde(default)]
    pub tags: BTreeMap<String, OneOrMany>,
    /// Match fields by dotted path (e.g. `event.type`, `process.file.name`), one of the values (globs).
    #[serde(default)]
    pub fields: BTreeMap<String, OneOrMany>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn values(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    #[serde(default, rename = "if")]
    pub condition: Option<String>,
    pub severity: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NewValueSpec {
    pub query: String,
    pub field: String,
    pub learning: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Threshold,
    NewValue,
    Sequence,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Threshold => "threshold",
            Method::NewValue => "new_value",
            Method::Sequence => "sequence",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Query {
    pub name: String,
    rule_ids: Vec<String>,
    tags: Vec<(String, Vec<String>)>,
    fields: Vec<(Vec<String>, Vec<String>)>,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub condition: Option<Cond>,
    pub severity: String,
}

/// A validated backend rule.
#[derive(Debug, Clone)]
pub struct BackendRule {
    pub id: String,
    pub name: String,
    pub description: String,
    pub method: Method,
    pub queries: Vec<Query>,
    pub group_by: Vec<Vec<String>>,
    pub window_ns: i64,
    pub keep_alive_ns: i64,
    pub max_duration_ns: i64,
    pub cases: Vec<Case>,
    /// `new_value`: (query name, field path, learning period).
    pub new_value: Option<(String, Vec<String>, i64)>,
    pub sequence: Vec<String>,
    pub remediation: String,
    pub spec: RuleSpec,
}

/// `*` matches any run of characters.
pub fn glob(pattern: &str, s: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == s;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// A scalar at a dotted path, as text (numbers and booleans rendered); arrays match if any element does.
pub fn field_values<'a>(v: &'a Value, path: &[String]) -> Vec<std::borrow::Cow<'a, str>> {
    let mut cur = vec![v];
    for k in path {
        let mut next = Vec::new();
        for c in cur {
            match c.get(k.as_str()) {
                Some(Value::Array(items)) => next.extend(items.iter()),
                Some(x) => next.push(x),
                None => {}
            }
        }
        cur = next;
    }
    cur.into_iter()
        .flat_map(|x| match x {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .filter_map(|x| match x {
            Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
            Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
            Value::Bool(b) => Some(std::borrow::Cow::Owned(b.to_string())),
            _ => None,
        })
        .collect()
}

impl Query {
    pub fn matches(&self, rule_id: &str, m: &Value) -> bool {
        (self.rule_ids.is_empty() || self.rule_ids.iter().any(|p| glob(p, rule_id)))
            && self.tags.iter().all(|(k, pats)| {
                let v = m
                    .get("rule")
                    .and_then(|r| r.get("tags"))
                    .and_then(|t| t.get(k));
                let vals = v.map(|v| field_values(v, &[])).unwrap_or_default();
                vals.iter().any(|v| pats.iter().any(|p| glob(p, v)))
            })
            && self.fields.iter().all(|(path, pats)| {
                field_values(m, path)
                    .iter()
                    .any(|v| pats.iter().any(|p| glob(p, v)))
            })
    }
}

fn duration(field: &str, s: &str) -> Result<i64, String> {
    let d: Duration = humantime::parse_duration(s).map_err(|e| format!("{field}: {e}"))?;
    if d.is_zero() || d > Duration::from_secs(365 * 86400) {
        return Err(format!("{field}: between 1ns and 365 days"));
    }
    Ok(d.as_nanos() as i64)
}

fn path(s: &str) -> Vec<String> {
    match s {
        "host" => vec!["event".into(), "hostname".into()],
        "container" => vec!["container".into(), "id".into()],
        "executable" => vec!["process".into(), "file".into(), "path".into()],
        other => other.split('.').map(String::from).collect(),
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl RuleSpec {
    pub fn compile(&self) -> Result<BackendRule, String> {
        if !valid_id(&self.id) {
            return Err("id: 1-128 characters among letters, digits, `_`, `-`, `.`".into());
        }
        let method = match self.method.as_str() {
            "threshold" => Method::Threshold,
            "new_value" => Method::NewValue,
            "sequence" => Method::Sequence,
            m => {
                return Err(format!(
                    "method {m:?}: use threshold, new_value or sequence"
                ))
            }
        };
        if self.queries.is_empty() {
            return Err("queries: at least one".into());
        }
        let mut queries = Vec::new();
        for (name, q) in &self.queries {
            if !valid_name(name) {
                return Err(format!("query name {name:?}: letters, digits and `_`"));
            }
            if q.rule_ids.is_empty() && q.tags.is_empty() && q.fields.is_empty() {
                return Err(format!("query {name}: give rule_ids, tags or fields (an empty query matches everything)"));
            }
            queries.push(Query {
                name: name.clone(),
                rule_ids: q.rule_ids.clone(),
                tags: q
                    .tags
                    .iter()
                    .map(|(k, v)| (k.clone(), v.values()))
                    .collect(),
                fields: q
                    .fields
                    .iter()
                    .map(|(k, v)| (path(k), v.values()))
                    .collect(),
            });
        }
        let window_ns = duration("window", &self.window)?;
        let keep_alive_ns = match &self.keep_alive {
            Some(s) => duration("keep_alive", s)?,
            None => window_ns,
        };
        let max_duration_ns = match &self.max_duration {
            Some(s) => duration("max_duration", s)?,
            None => 24 * 3600 * 1_000_000_000,
        };
        if max_duration_ns < keep_alive_ns {
            return Err("max_duration must be at least keep_alive".into());
        }
        if self.cases.is_empty() {
            return Err("cases: at least one (`{if: \"a > 3\", severity: high}`)".into());
        }
        let mut cases = Vec::new();
        for (i, c) in self.cases.iter().enumerate() {
            if !SEVERITIES.contains(&c.severity.as_str()) {
                return Err(format!(
                    "cases[{i}].severity {:?}: one of {SEVERITIES:?}",
                    c.severity
                ));
            }
            let condition = match &c.condition {
                Some(s) => {
                    let cond = cond::parse(s).map_err(|e| format!("cases[{i}].if: {e}"))?;
                    let mut names = Vec::new();
                    cond.names(&mut names);
                    if let Some(n) = names.iter().find(|n| !self.queries.contains_key(*n)) {
                        return Err(format!("cases[{i}].if: no query named {n}"));
                    }
                    Some(cond)
                }
                None if method == Method::Threshold => {
                    return Err(format!("cases[{i}]: a threshold case needs `if`"));
                }
                None => None,
            };
            cases.push(Case {
                condition,
                severity: c.severity.clone(),
            });
        }
        let new_value = match (method, &self.new_value) {
            (Method::NewValue, Some(nv)) => {
                if !self.queries.contains_key(&nv.query) {
                    return Err(format!("new_value.query: no query named {}", nv.query));
                }
                Some((
                    nv.query.clone(),
                    path(&nv.field),
                    duration("new_value.learning", &nv.learning)?,
                ))
            }
            (Method::NewValue, None) => {
                return Err("new_value: {query, field, learning} is required".into())
            }
            (_, Some(_)) => return Err("new_value is only for method new_value".into()),
            _ => None,
        };
        match method {
            Method::Sequence => {
                if self.sequence.len() < 2 {
                    return Err("sequence: at least two query names".into());
                }
                if let Some(n) = self
                    .sequence
                    .iter()
                    .find(|n| !self.queries.contains_key(*n))
                {
                    return Err(format!("sequence: no query named {n}"));
                }
            }
            _ if !self.sequence.is_empty() => {
                return Err("sequence is only for method sequence".into())
            }
            _ => {}
        }
        Ok(BackendRule {
            id: self.id.clone(),
            name: if self.name.is_empty() {
                self.id.clone()
            } else {
                self.name.clone()
            },
            description: self.description.clone(),
            method,
            queries,
            group_by: self.group_by.iter().map(|g| path(g)).collect(),
            window_ns,
            keep_alive_ns,
            max_duration_ns,
            cases,
            new_value,
            sequence: self.sequence.clone(),
            remediation: self.remediation.clone(),
            spec: self.clone(),
        })
    }
}

impl BackendRule {
    /// The group a match falls in (`None` if a group-by field is missing: the rule does not apply).
    pub fn group_key(&self, m: &Value, hostname: &str) -> Option<String> {
        let mut parts = Vec::new();
        for p in &self.group_by {
            let v = if p.len() == 2 && p[0] == "event" && p[1] == "hostname" {
                hostname.to_string()
            } else {
                field_values(m, p).first()?.to_string()
            };
            if v.is_empty() {
                return None;
            }
            parts.push(format!("{}={}", p.join("."), v));
        }
        Some(parts.join(" "))
    }
}

/// One rule's load result, and a problem of a rule file as an editor shows it (the API's types).
pub use rampart_api::rules::{LoadError, RuleFileProblem as Problem};

fn parse_file(yaml: &str) -> Result<RuleFile, Problem> {
    serde_yaml_ng::from_str(yaml).map_err(|e| {
        let at = e.location();
        Problem {
            rule: rule_at(yaml, &e.to_string()),
            error: format!("invalid rule file: {e}"),
            line: at.as_ref().map(|l| l.line()),
            column: at.as_ref().map(|l| l.column()),
        }
    })
}

/// The id of the rule a parse error is in (its message starts with the path, `rules[2].queries: …`), if the
/// file is YAML enough to read it.
fn rule_at(yaml: &str, msg: &str) -> String {
    let index = msg
        .strip_prefix("rules[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse::<usize>().ok());
    let doc = index.and_then(|_| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(yaml).ok());
    match (index, doc) {
        (Some(i), Some(doc)) => doc["rules"][i]["id"].as_str().unwrap_or("").to_string(),
        _ => String::new(),
    }
}

/// The 1-based lines that declare `id: <id>` (block or flow style, quoted or not).
fn id_lines(yaml: &str, id: &str) -> Vec<usize> {
    yaml.lines()
        .enumerate()
        .filter(|(_, line)| {
            line.match_indices("id:").any(|(at, _)| {
                let before = line[..at].chars().last();
                let starts_key = before.is_none_or(|c| matches!(c, ' ' | '-' | '{' | ','));
                let value = line[at + 3..]
                    .split([',', '}', '#'])
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'');
                starts_key && value == id
            })
        })
        .map(|(i, _)| i + 1)
        .collect()
}

fn compile_all(file: RuleFile) -> (Vec<BackendRule>, Vec<LoadError>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for spec in file.rules {
        if !seen.insert(spec.id.clone()) {
            errors.push(LoadError {
                id: spec.id.clone(),
                error: DUPLICATE.into(),
            });
            continue;
        }
        match spec.compile() {
            Ok(r) if !spec.disabled => ok.push(r),
            Ok(_) => {}
            Err(e) => errors.push(LoadError {
                id: spec.id.clone(),
                error: e,
            }),
        }
    }
    (ok, errors)
}

const DUPLICATE: &str = "duplicate rule id";

/// Parses a rule file; returns the rules that compiled and one error per rule that did not.
pub fn load_str(yaml: &str) -> Result<(Vec<BackendRule>, Vec<LoadError>), String> {
    Ok(compile_all(parse_file(yaml).map_err(|p| p.error)?))
}

/// A rule file checked as one to store: the enabled rules that compiled, and every problem (the file does
/// not parse, a rule does not compile, no rule is enabled), each rule's with the line of its id. Nothing
/// may be stored unless `problems` is empty.
pub struct Checked {
    pub rules: Vec<BackendRule>,
    pub problems: Vec<Problem>,
}

pub fn check(yaml: &str) -> Checked {
    let file = match parse_file(yaml) {
        Ok(f) => f,
        Err(p) => {
            return Checked {
                rules: Vec::new(),
                problems: vec![p],
            }
        }
    };
    let (rules, errors) = compile_all(file);
    let mut duplicates: std::collections::HashMap<String, usize> = Default::default();
    let mut problems: Vec<Problem> = errors
        .into_iter()
        .map(|e| {
            // A duplicate is reported at its own declaration, not the first one's.
            let nth = if e.error == DUPLICATE {
                let n = duplicates.entry(e.id.clone()).or_default();
                *n += 1;
                *n
            } else {
                0
            };
            Problem {
                line: id_lines(yaml, &e.id).get(nth).copied(),
                column: None,
                rule: e.id,
                error: e.error,
            }
        })
        .collect();
    if problems.is_empty() && rules.is_empty() {
        problems.push(Problem {
            rule: String::new(),
            error: "no enabled rule in the file".into(),
            line: None,
            column: None,
        });
    }
    Checked { rules, problems }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*", "anything"));
        assert!(glob("miner_*", "miner_known_binary"));
        assert!(glob("*shell*", "reverse_shell_dev_tcp"));
        assert!(!glob("miner_*", "xminer_a"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "ac"));
    }

    #[test]
    fn reports_each_broken_rule_by_id() {
        let yaml = r#"
rules:
  - {id: good, method: threshold, queries: {a: {rule_ids: [x]}}, window: 1m, cases: [{if: "a > 1", severity: high}]}
  - {id: bad_method, method: magic, queries: {a: {rule_ids: [x]}}, window: 1m, cases: [{severity: high}]}
  - {id: bad_case, method: threshold, queries: {a: {rule_ids: [x]}}, window: 1m, cases: [{if: "b > 1", severity: high}]}
  - {id: bad_sev, method: threshold, queries: {a: {rule_ids: [x]}}, window: 1m, cases: [{if: "a > 1", severity: urgent}]}
  - {id: empty_query, method: threshold, queries: {a: {}}, window: 1m, cases: [{if: "a > 1", severity: high}]}
  - {id: seq, method: sequence, queries: {a: {rule_ids: [x]}}, sequence: [a, c], window: 1m, cases: [{severity: high}]}
  - {id: nv, method: new_value, queries: {a: {rule_ids: [x]}}, window: 1m, cases: [{severity: low}]}
  - {id: win, method: threshold, queries: {a: {rule_ids: [x]}}, window: soon, cases: [{if: "a > 1", severity: high}]}
"#;
        let (ok, errors) = load_str(yaml).unwrap();
        assert_eq!(
            ok.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["good"]
        );
        let ids: Vec<&str> = errors.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "bad_method",
                "bad_case",
                "bad_sev",
                "empty_query",
                "seq",
                "nv",
                "win"
            ]
        );
        assert!(
            errors[1].error.contains("no query named b"),
            "{:?}",
            errors[1]
        );
        assert!(load_str("rules: [{id: x, unknown: 1}]").is_err());
    }

    #[test]
    fn problems_name_the_rule_and_its_line() {
        let yaml = "rules:\n  - id: good\n    method: threshold\n    queries: {a: {rule_ids: [x]}}\n    window: 1m\n    cases: [{if: \"a > 1\", severity: high}]\n  - {id: 'bad_case', method: threshold, queries: {a: {rule_ids: [x]}}, window: 1m, cases: [{if: \"b > 1\", severity: high}]}\n  - {id: good, method: threshold, queries: {a: {rule_ids: [x]}}, window: 1m, cases: [{if: \"a > 1\", severity: high}]}\n";
        let c = check(yaml);
        assert_eq!(c.rules.len(), 1);
        let got: Vec<(&str, Option<usize>)> = c
            .problems
            .iter()
            .map(|p| (p.rule.as_str(), p.line))
            .collect();
        assert_eq!(got, [("bad_case", Some(7)), ("good", Some(8))]);
        assert!(c.problems[0].error.contains("no query named b"));
        // A rule the file's schema refuses: the file fails, the problem still names the rule and the line.
        let two = "rules:\n  - {id: first, method: threshold, queries: {a: {rule_ids: [x]}}, window: 1m, cases: [{if: \"a > 1\", severity: high}]}\n  - id: typo\n    methd: threshold\n";
        let c = check(two);
        assert_eq!(
            (c.problems[0].rule.as_str(), c.problems[0].line),
            ("typo", Some(4))
        );
        assert!(
            c.problems[0].error.contains("unknown field `methd`"),
            "{:?}",
            c.problems
        );
        // Not YAML: a line, no rule.
        let c = check("rules:\n  - id: x\n    name: \"unclosed\n");
        assert_eq!(c.problems[0].rule, "");
        assert!(c.problems[0].line.is_some(), "{:?}", c.problems);
        // Valid but nothing enabled.
        let c = check("rules: []");
        assert_eq!(c.problems[0].error, "no enabled rule in the file");
    }

    #[test]
    fn queries_match_rule_ids_tags_and_fields() {
        let m = serde_json::json!({"rule": {"id": "r", "tags": {"category": "persistence"}},
            "event": {"type": "open"}, "process": {"file": {"name": "vi"}, "argv": ["vi", "-x"]}});
        let q = |spec: &str| {
            let qs: QuerySpec = serde_yaml_ng::from_str(spec).unwrap();
            Query {
                name: "a".into(),
                rule_ids: qs.rule_ids,
                tags: qs
                    .tags
                    .iter()
                    .map(|(k, v)| (k.clone(), v.values()))
                    .collect(),
                fields: qs
                    .fields
                    .iter()
                    .map(|(k, v)| (path(k), v.values()))
                    .collect(),
            }
        };
        assert!(q("{tags: {category: persistence}}").matches("r", &m));
        assert!(!q("{tags: {category: [x, y]}}").matches("r", &m));
        assert!(q("{rule_ids: ['r*'], fields: {process.file.name: vi}}").matches("r", &m));
        assert!(q("{fields: {process.argv: '-x'}}").matches("r", &m));
        assert!(!q("{fields: {process.file.name: vim}}").matches("r", &m));
    }
}
