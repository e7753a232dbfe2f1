//! The DNS wire parser must never panic or spin on any packet, over UDP or TCP framing, and what it
//! returns must convert to the model's event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_probe::dns::{parse, parse_tcp, parser::read_name, to_event};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = parse(data) {
        assert!(msg.questions.len() <= rampart_probe::dns::parser::MAX_RECORDS);
        assert!(msg.answers.len() <= rampart_probe::dns::parser::MAX_RECORDS);
        let _ = to_event(&msg, data.len() as u32);
    }
    let _ = parse_tcp(data);
    // names starting anywhere in the packet (compression targets)
    for start in 0..data.len().min(64) {
        if let Ok((name, end)) = read_name(data, start) {
            assert!(name.len() <= 4 * 255 && end <= data.len());
        }
    }
});
