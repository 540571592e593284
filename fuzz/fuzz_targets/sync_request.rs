//! The sync framing (CBOR batches, docs/sync-protocol.md) on arbitrary
//! bytes: decoding never panics, what decodes re-encodes to the same
//! value, and an error reads as text for people.
#![no_main]

use fieldsync_core::sync::{Limits, SyncRequest, SyncResponse};
use libfuzzer_sys::fuzz_target;

fn human(message: &str) {
    for internal in ["Error {", "kind:", "Io(", "Syntax(", "Semantic("] {
        assert!(
            !message.contains(internal),
            "internal error text: {message}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    match SyncRequest::decode(data, &limits) {
        Ok(request) => {
            let again =
                SyncRequest::decode(&request.encode(), &limits).expect("re-encoded request");
            assert_eq!(again, request);
        }
        Err(e) => human(&e.to_string()),
    }
    match SyncResponse::decode(data, &limits) {
        Ok(response) => {
            let again =
                SyncResponse::decode(&response.encode(), &limits).expect("re-encoded response");
            assert_eq!(again, response);
        }
        Err(e) => human(&e.to_string()),
    }
});
