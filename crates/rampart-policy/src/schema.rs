//! The YAML schema of a policy file (Datadog-compatible), deserialized leniently: unknown keys are
//! ignored, and each rule/macro is decoded on its own so one malformed entry does not reject the file.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PolicyDoc {
    pub version: Option<Value>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub macros: Vec<Value>,
    pub rules: Vec<Value>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct MacroDef {
    pub id: String,
    pub expression: Option<String>,
    pub values: Option<Vec<String>>,
    pub description: String,
    pub agent_version: Option<String>,
    pub filters: Vec<String>,
    pub combine: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct OverrideOptions {
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct RuleDef {
    pub id: String,
    pub version: Option<Value>,
    pub expression: Option<String>,
    pub description: String,
    pub tags: BTreeMap<String, Value>,
    pub product_tags: Vec<String>,
    pub agent_version: Option<String>,
    pub filters: Vec<String>,
    pub disabled: Option<bool>,
    pub combine: Option<String>,
    pub override_options: Option<OverrideOptions>,
    pub actions: Vec<ActionDef>,
    pub every: Option<Value>,
    pub silent: bool,
    /// What to do when the rule matches (Rampart extension).
    pub remediation: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ActionDef {
    pub filter: Option<String>,
    pub set: Option<SetDef>,
    pub kill: Option<KillDef>,
    pub hash: Option<HashDef>,
    pub coredump: Option<Value>,
    pub log: Option<Value>,
    pub network_filter: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct SetDef {
    pub name: String,
    pub value: Option<Value>,
    pub field: Option<String>,
    pub expression: Option<String>,
    pub default_value: Option<Value>,
    pub append: bool,
    pub size: Option<usize>,
    pub ttl: Option<Value>,
    pub scope: Option<String>,
    pub scope_field: Option<String>,
    pub inherited: bool,
    pub private: bool,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct KillDef {
    pub signal: String,
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct HashDef {
    pub field: Option<String>,
}

/// A YAML scalar as a string (`version: 1.2` and `severity: high` alike).
pub fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// A duration given as `"10s"`/`"1h30m"` or as integer nanoseconds.
pub fn duration_ns(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| format!("invalid duration `{n}`")),
        Value::String(s) => parse_duration(s),
        other => Err(format!("invalid duration `{}`", scalar_string(other))),
    }
}

fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let n: f64 = num.parse().map_err(|_| format!("invalid duration `{s}`"))?;
        let mul = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            _ => return Err(format!("invalid duration `{s}`")),
        };
        total = total.saturating_add((n * mul) as u64);
        rest = next;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), 10_000_000_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("250ms").unwrap(), 250_000_000);
        assert_eq!(parse_duration("42").unwrap(), 42);
        assert!(parse_duration("10 parsecs").is_err());
        assert_eq!(
            duration_ns(&Value::from(3600000000000u64)).unwrap(),
            3_600_000_000_000
        );
    }
}
