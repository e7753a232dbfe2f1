//! The policy loader must never panic, whatever the file holds: it reports errors instead.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_policy::{load_sources, HostInfo, LoadOptions, PolicySource};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let src = PolicySource {
        name: "fuzz".into(),
        file: "fuzz.policy".into(),
        text: text.to_string(),
    };
    let opts = LoadOptions {
        host: HostInfo::default(),
        agent_version: Some((7, 71, 0)),
        typecheck_filtered: true,
        suppressions: Default::default(),
        deadline: None,
    };
    let loaded = load_sources(&[src], &opts);
    let _ = serde_json::to_string(&loaded.report);
});
