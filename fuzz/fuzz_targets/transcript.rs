//! The transcript classifier: any appended bytes are classified, line by
//! line, without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_bridge::daemon::transcript::{classify, ends_interrupted};

fuzz_target!(|data: &[u8]| {
    let _ = ends_interrupted(data);
    for line in data.split(|b| *b == b'\n') {
        let _ = classify(line);
    }
});
