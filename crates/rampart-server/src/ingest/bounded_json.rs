//! An ingest batch parsed under two counts, so that parsing stops at a limit instead of after the whole
//! body has become values: the matches (at most `max_batch_matches`) and the JSON values they hold (at
//! most `max_batch_values`). A value takes up to 16 times the bytes it had in the body (`0,` is 2 bytes
//! on the wire and a 32-byte `serde_json::Value`): a 64 KiB gzip body of `{"matches":[0,0,…]}` made the
//! server allocate 1.1 GB before the batch-size check.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why parsing stopped early (`None`: the body is malformed, or fine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Matches,
    Values,
}

/// The counts left, and which one ran out.
struct Budget {
    matches: usize,
    values: Cell<usize>,
    exceeded: Cell<Option<Exceeded>>,
}

impl Budget {
    fn take_value<E: de::Error>(&self) -> Result<(), E> {
        match self.values.get() {
            0 => {
                self.exceeded.set(Some(Exceeded::Values));
                Err(E::custom("too many JSON values in one batch"))
            }
            n => {
                self.values.set(n - 1);
                Ok(())
            }
        }
    }
}

/// The `matches` of `{"matches": [...], "agent": ...}` (`agent` is accepted and ignored), or the parse
/// error with what was exceeded.
pub fn parse(
    json: &[u8],
    max_matches: usize,
    max_values: usize,
) -> Result<Vec<Value>, (serde_json::Error, Option<Exceeded>)> {
    let budget = Budget {
        matches: max_matches,
        values: Cell::new(max_values),
        exceeded: Cell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(json);
    let parsed = de::Deserializer::deserialize_map(&mut de, BatchVisitor(&budget))
        .and_then(|m| de.end().map(|()| m));
    parsed.map_err(|e| (e, budget.exceeded.get()))
}

struct BatchVisitor<'b>(&'b Budget);

impl<'de> Visitor<'de> for BatchVisitor<'_> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a batch object {\"matches\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Value>, A::Error> {
        let mut matches = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "matches" if matches.is_some() => {
                    return Err(de::Error::duplicate_field("matches"))
                }
                "matches" => matches = Some(map.next_value_seed(MatchesSeed(self.0))?),
                "agent" => {
                    map.next_value::<IgnoredAny>()?;
                }
                other => return Err(de::Error::unknown_field(other, &["matches", "agent"])),
            }
        }
        matches.ok_or_else(|| de::Error::missing_field("matches"))
    }
}

struct MatchesSeed<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for MatchesSeed<'_> {
    type Value = Vec<Value>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MatchesSeed<'_> {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of matches")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let max = self.0.matches;
        let mut out = Vec::new();
        loop {
            if out.len() == max {
                // One more element (skipped without building it) means too many.
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    self.0.exceeded.set(Some(Exceeded::Matches));
                    return Err(de::Error::custom(format!(
                        "more than {max} matches in one batch"
                    )));
                }
                return Ok(out);
            }
            match seq.next_element_seed(BoundedValue(self.0))? {
                Some(v) => out.push(v),
                None => return Ok(out),
            }
        }
    }
}

/// A `serde_json::Value` each of whose nodes takes one value of the budget.
struct BoundedValue<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for BoundedValue<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BoundedValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.0.take_value()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.0.take_value()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.0.take_value()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.0.take_value()?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.take_value()?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.0.take_value()?;
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.0.take_value()?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.0.take_value()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(BoundedValue(self.0))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.0.take_value()?;
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            // The key is counted too: `{"a":0,"b":0,…}` costs a map entry per key.
            self.0.take_value()?;
            let v = map.next_value_seed(BoundedValue(self.0))?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_what_serde_json_parses() {
        let body = json!({"matches": [{"a": [1, -2, 3.5, "x", null, true, {"b": {}}]}, []], "agent": {"x": [1]}});
        let got = parse(body.to_string().as_bytes(), 10, 100).unwrap();
        assert_eq!(Value::Array(got), body["matches"]);
    }

    #[test]
    fn stops_at_the_match_count_and_the_value_budget() {
        let zeros = format!("{{\"matches\":[{}0]}}", "0,".repeat(50));
        let (e, why) = parse(zeros.as_bytes(), 10, 1000).unwrap_err();
        assert_eq!(why, Some(Exceeded::Matches));
        assert!(e.to_string().contains("more than 10 matches"), "{e}");
        let deep = format!("{{\"matches\":[{{\"a\":[{}0]}}]}}", "0,".repeat(50));
        let (e, why) = parse(deep.as_bytes(), 10, 20).unwrap_err();
        assert_eq!(why, Some(Exceeded::Values));
        assert!(e.to_string().contains("too many JSON values"), "{e}");
        // Exactly at the limits: accepted.
        let ten = format!("{{\"matches\":[{}0]}}", "0,".repeat(9));
        assert_eq!(parse(ten.as_bytes(), 10, 10).unwrap().len(), 10);
    }

    #[test]
    fn malformed_bodies_are_errors_without_a_limit() {
        for bad in [
            "",
            "[]",
            "{}",
            "{\"matches\": 1}",
            "{\"matches\": [], \"x\": 1}",
            "{\"matches\": [], \"matches\": []}",
            "{\"matches\": []} trailing",
        ] {
            let (_, why) = parse(bad.as_bytes(), 10, 10).unwrap_err();
            assert_eq!(why, None, "{bad}");
        }
    }
}
