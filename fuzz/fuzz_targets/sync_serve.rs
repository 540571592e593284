//! The server's side of sync (sync-core's `serve`) on arbitrary bytes, as
//! `POST /v1/sync` runs it for a technician holding one job, the price book
//! and their van's stock. The first byte picks how the rest is read:
//! - 0: a whole CBOR request body;
//! - 1: one automerge sync message for the job;
//! - 2: edits a hostile device makes to its copy of the job (valid
//!   changes, any content), sent as a routine sync would send them.
//!
//! After `serve`, the invariants the server's commit relies on are checked
//! (see `fieldsync_fuzz::serve_and_check`).
#![no_main]

use fieldsync_core::DocId;
use fieldsync_core::sync::{DocMessage, PROTOCOL_VERSION, SyncRequest};
use fieldsync_fuzz::{
    Input, craft, fixture, job_id, message_since, quiet_contained_panics, serve_and_check,
};
use libfuzzer_sys::fuzz_target;

fn one(msg: Vec<u8>) -> SyncRequest {
    SyncRequest {
        v: PROTOCOL_VERSION,
        docs: vec![DocMessage {
            id: DocId::Job(job_id()),
            msg: serde_bytes::ByteBuf::from(msg),
        }],
        known: Vec::new(), cursor: None, held: None, 
    }
}

fuzz_target!(
    init: {
        quiet_contained_panics();
        fixture();
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let f = fixture();
        let request = match mode % 3 {
            0 => match SyncRequest::decode(rest, &f.limits) {
                Ok(r) => r,
                Err(_) => return,
            },
            1 => one(rest.to_vec()),
            _ => {
                let base = &f.docs[&DocId::Job(job_id())].doc;
                let crafted = craft(base, &mut Input::new(rest));
                one(message_since(&crafted, &base.get_heads()))
            }
        };
        serve_and_check(&request);
    }
);
