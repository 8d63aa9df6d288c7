//! The statusline's reader of its config section (a TOML subset of its
//! own): any text parses or fails with a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_bridge_hooks::statusline::config::StatuslineConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = StatuslineConfig::parse(text);
    }
});
