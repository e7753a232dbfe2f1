//! The server's policy validation (`POST /api/v1/policies/validate`, custom rules through
//! `expression_policy`) must answer every input with a report, within its time budget, on the 2 MiB
//! stack of the server's compile threads: no panic, no stack overflow, no runaway compile.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use rampart_server::remote_config::api::expression_policy;
use rampart_server::remote_config::validate::compile_report;

const BUDGET: Duration = Duration::from_secs(2);

fn check(policy: String) {
    let started = Instant::now();
    let report = compile_report(
        false,
        &[("candidate".into(), policy)],
        Default::default(),
        started + BUDGET,
    );
    // The budget is checked between costly steps: one step may overrun it, not many.
    assert!(
        started.elapsed() < BUDGET * 3,
        "validation took {:?}",
        started.elapsed()
    );
    let _ = serde_json::to_string(&report).unwrap();
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let text = text.to_string();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            // As a policy file, and as the expression of a custom rule.
            if let Ok(p) = expression_policy("candidate", &text) {
                check(p);
            }
            check(text);
        })
        .unwrap()
        .join()
        .unwrap();
});
