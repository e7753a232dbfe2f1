//! The ingest decoder (`POST /api/v1/ingest`: gzip, then a bounded batch parse, then per-match checks)
//! must refuse every malformed or oversized body with a 4xx and never exceed its limits: not the inflated
//! size, not the match count, not the value budget (checked here with small limits).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_server::config::Limits;
use rampart_server::ingest::validate::{decode_body, parse_batch};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_decompressed_bytes: 64 << 10,
        max_batch_matches: 8,
        max_match_bytes: 4 << 10,
        max_batch_values: 2_000,
        ..Limits::default()
    };
    // The first byte picks the encoding; the rest is the body.
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let encoding = match pick % 3 {
        0 => None,
        1 => Some("gzip"),
        _ => Some("identity"),
    };
    match decode_body(encoding, body, &limits) {
        Ok(json) => {
            assert!(json.len() <= limits.max_decompressed_bytes);
            match parse_batch(&json, &limits, "fuzz-host") {
                Ok(matches) => {
                    assert!(matches.len() <= limits.max_batch_matches);
                    for m in &matches {
                        assert!(m.body.len() <= limits.max_match_bytes);
                        assert!(!m.rule_id.is_empty() && !m.event_id.is_empty());
                    }
                }
                Err(e) => assert!(e.status.is_client_error(), "{e}"),
            }
        }
        Err(e) => assert!(e.status.is_client_error(), "{e}"),
    }
});
