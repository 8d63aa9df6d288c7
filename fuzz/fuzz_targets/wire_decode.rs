//! The daemon's datagram decoder: any bytes decode or fail, and whatever
//! decodes encodes back (fields cut to their caps) to a message that
//! decodes again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_bridge_protocol::wire::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        let encoded = message.encode();
        if let Err(e) = Message::decode(&encoded) {
            panic!("{message:?} encoded to {encoded:?}, which does not decode: {e}");
        }
    }
});
