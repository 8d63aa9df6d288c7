//! The hook's payload scanner: any bytes, whole or fed in two pieces, give
//! the same answer, and never more than the requested keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_bridge_hooks::hook_input::event_from_hook_json;
use llm_bridge_protocol::json_scan::{scan_top_level, Scanner};

const KEYS: [&str; 3] = ["session_id", "hook_event_name", "tool_use_id"];

fuzz_target!(|data: &[u8]| {
    let whole = scan_top_level(data, &KEYS);
    let split = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    let mut scanner = Scanner::new(&KEYS);
    scanner.feed(&data[..split]);
    scanner.feed(&data[split..]);
    assert_eq!(scanner.finish(), whole);
    let _ = event_from_hook_json(data, Some(1), Some(2));
});
