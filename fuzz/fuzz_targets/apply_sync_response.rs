//! The device library's `applySyncResponse` on arbitrary bytes, on a
//! client that already holds its job, the price book and its van (as after
//! a first sync). The first byte picks how the rest is read:
//! - 0: a whole CBOR response body;
//! - 1: the server's automerge sync message for the job, in a well-framed
//!   response whose outcome the second byte picks.
//!
//! Afterwards the client must still answer: list its jobs and build its
//! next sync request, which must be a valid request.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use fieldsync_core::DocId;
use fieldsync_core::sync::{
    DocReply, Limits, Outcome, PROTOCOL_VERSION, SyncRequest, SyncResponse,
};
use fieldsync_core::{RejectCode, sync::Caller, sync::serve};
use fieldsync_ffi::{FieldsyncClient, SessionTokens};
use fieldsync_fuzz::{context, device_actor, fixture, job_id, quiet_contained_panics, technician};
use libfuzzer_sys::fuzz_target;

/// The first sync's answer: every document the technician may hold.
fn first_sync() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let f = fixture();
        let mut docs = f.docs.clone();
        let actors = [device_actor()];
        let context = context();
        let caller = Caller {
            principal: technician(),
            device_actors: &actors,
            context: &context,
        };
        let empty = SyncRequest {
            v: PROTOCOL_VERSION,
            docs: Vec::new(),
            known: Vec::new(), cursor: None, held: None, 
        };
        serve(&empty, &mut docs, &caller, &f.limits)
            .response
            .encode()
    })
}

/// A fresh store directory per input (tmpfs when there is one).
fn fresh_dir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let root = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    root.join(format!(
        "fieldsync-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fuzz_target!(
    init: {
        quiet_contained_panics();
        first_sync();
    },
    |data: &[u8]| {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let bytes = if mode % 2 == 0 {
            rest.to_vec()
        } else {
            let Some((&pick, msg)) = rest.split_first() else {
                return;
            };
            let outcome = match pick % 5 {
                0 => Outcome::Accepted,
                1 => Outcome::NeedsAnotherRound,
                2 => Outcome::Removed,
                3 => Outcome::NotFound,
                _ => Outcome::Rejected {
                    code: RejectCode::Malformed,
                    message: "fuzz".into(),
                    change: None,
                },
            };
            SyncResponse {
                v: PROTOCOL_VERSION,
                docs: vec![DocReply {
                    id: DocId::Job(job_id()),
                    outcome,
                    msg: Some(serde_bytes::ByteBuf::from(msg.to_vec())),
                }], cursor: None, resync: false, 
            }
            .encode()
        };

        let dir = fresh_dir();
        {
            let client = FieldsyncClient::open(dir.display().to_string()).expect("open store");
            // The technician's own session (sans-IO, as an app that does its
            // own HTTP): a store belongs to the user logged in on the device.
            client
                .set_session(SessionTokens {
                    server_url: None,
                    access_token: "fuzz".into(),
                    expires_in_secs: 3600,
                    refresh_token: "fuzz".into(),
                    device_id: "07070707-0707-4707-8707-070707070707".into(),
                    user_id: technician().user.to_string(),
                    username: "tech".into(),
                    role: "technician".into(),
                })
                .expect("the technician's session");
            client
                .apply_sync_response(first_sync().to_vec())
                .expect("first sync applies");
            let _ = client.apply_sync_response(bytes);
            client.jobs().expect("the client still lists its jobs");
            let next = client.sync_request().expect("the client still builds a request");
            SyncRequest::decode(&next, &Limits::default()).expect("its request is valid");
            client.release();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
);
