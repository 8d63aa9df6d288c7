//! The statusline's JSON parser (depth-limited): any bytes parse or fail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_bridge_protocol::json_value::Json;
use llm_bridge_hooks::statusline::input::StatusInput;

fuzz_target!(|data: &[u8]| {
    if let Some(json) = Json::parse(data) {
        let input = StatusInput::from_json(&json);
        let _ = input.to_status(llm_bridge_protocol::agent::Agent::Qwen);
    }
});
