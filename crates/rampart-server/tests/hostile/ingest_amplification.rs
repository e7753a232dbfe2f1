//! Item 4: small gzip bodies that inflate into huge batches. A 64 KiB gzip body of `{"matches":[0,0,…]}`
//! made the server allocate ~1.1 GB before the batch-size check refused it.

use std::io::Write;

use serde_json::Value;

use super::{assert_healthz_fast, healthz_during, memory_exclusive, peak_rss_during, rss, MIB};
use crate::common::{call, mk_match, TestDb, TestServer, T0};

/// `prefix` + `element,` × n + `last` + `suffix`, gzipped at the best ratio, streamed.
fn gzip_repeat(prefix: &str, element: &str, n: usize, last: &str, suffix: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(prefix.as_bytes()).unwrap();
    let chunk = element.repeat(4096);
    for _ in 0..n / 4096 {
        enc.write_all(chunk.as_bytes()).unwrap();
    }
    enc.write_all(element.repeat(n % 4096).as_bytes()).unwrap();
    enc.write_all(last.as_bytes()).unwrap();
    enc.write_all(suffix.as_bytes()).unwrap();
    enc.finish().unwrap()
}

/// The attack bodies, built once (compressing tens of MiB takes seconds in a debug build).
fn bodies() -> &'static [Vec<u8>; 3] {
    static BODIES: std::sync::LazyLock<[Vec<u8>; 3]> = std::sync::LazyLock::new(|| {
        let cap = rampart_server::config::Limits::default().max_decompressed_bytes;
        [
            gzip_repeat("{\"matches\":[", "0,", cap / 2 + (2 << 20), "0", "]}"),
            gzip_repeat("{\"matches\":[", "0,", (cap - 64) / 2, "0", "]}"),
            gzip_repeat("{\"matches\":[{\"x\":[", "0,", 7 << 20, "0", "]}]}"),
        ]
    });
    &BODIES
}

async fn post_gzip(s: &TestServer, agent: &str, body: Vec<u8>) -> (u16, Value) {
    call(
        &format!("{}/api/v1/ingest", s.base),
        "POST",
        Some(agent),
        Some(body),
        &[("content-encoding", "gzip")],
    )
    .await
}

async fn inflating_batches_are_refused_early(db: TestDb) {
    let s = TestServer::start(&db).await;
    let agent = s.enroll("inflator").await;
    let limits = s.state.config.limits.clone();
    let _exclusive = memory_exclusive().await;
    let before = rss();
    let cases = [
        // Past the inflation cap (the body was 64 KiB of gzip, 64 MiB inflated).
        (
            &bodies()[0],
            format!("inflates past {} bytes", limits.max_decompressed_bytes),
        ),
        // Just under the inflation cap: parsing stops at the match count.
        (
            &bodies()[1],
            format!("more than {} matches", limits.max_batch_matches),
        ),
        // One match holding millions of values: parsing stops at the value budget.
        (&bodies()[2], "too many JSON values".to_string()),
    ];
    for (body, reason) in cases {
        assert!(body.len() <= 64 << 10, "{} bytes of gzip", body.len());
        let (((status, v), peak), worst) = healthz_during(super::addr_of(&s.base), async {
            peak_rss_during(post_gzip(&s, &agent, body.clone())).await
        })
        .await;
        assert_eq!(status, 413, "{v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.contains(&reason), "{message} (wanted {reason})");
        // A 16 MiB inflated body and at most a few tens of MiB of values (the unbounded parse: 1.1 GB).
        let grew = peak.saturating_sub(before);
        assert!(grew < 160 * MIB, "RSS grew by {} MiB", grew / MIB);
        assert!(
            worst < super::HEALTHZ_BOUND,
            "/healthz took {worst:?} during the upload"
        );
    }
    assert_eq!(s.count("matches").await, 0, "nothing stored");
    assert_eq!(s.count("signals").await, 0, "nothing stored");
    assert_eq!(s.state.metrics.ingest_rejected.get(), 3);
    // The benign twin: a real batch from the same agent is stored.
    let m = mk_match("r1", "e1", T0, "h1", None, 42, "/usr/bin/nc");
    let (status, v) = s.ingest(&agent, &[m]).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(s.count("matches").await, 1);
    assert_healthz_fast(super::addr_of(&s.base)).await;
    s.stop().await;
}
both!(inflating_batches_are_refused_early);
