//! The daemon's config file: any text loads or fails with a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_bridge_core::config::Config;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text);
    }
});
