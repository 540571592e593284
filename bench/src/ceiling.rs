//! The in-process ceiling: the same requests merged by sync-core's `serve`
//! in this process, with no HTTP and no database.
//!
//! Each technician's server-side documents start as they were after the
//! first sync (the device's copies then). Their routine sync requests are
//! replayed in order; before each, the office edits that request's answer
//! brought are applied untimed (on the server they arrived by `PATCH`).
//! Timed: decoding the request, `serve` (merge + validation) and encoding
//! the answer, on one thread.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use fieldsync_core::sync::{Access, Caller, HeldDoc, Limits, Outcome, SyncRequest, serve};
use fieldsync_core::{DocId, Principal, Role};

use crate::device::SyncRecord;
use crate::scenario::Measured;

pub struct Ceiling {
    /// Time spent in decode + serve + encode, summed over every request.
    pub busy: Duration,
    pub changes: usize,
}

pub fn replay(m: &Measured) -> anyhow::Result<Ceiling> {
    let mut by_device: Vec<Vec<&SyncRecord>> = vec![Vec::new(); m.devices.len()];
    for r in m.burst.iter().chain(&m.day) {
        by_device[r.device].push(r);
    }
    let limits = Limits::default();
    let mut busy = Duration::ZERO;
    let mut changes = 0;
    for (i, records) in by_device.iter().enumerate() {
        let (user, actor) = &m.devices[i];
        let actors = [actor.clone()];
        let caller = Caller {
            principal: Principal::new(*user, Role::Technician),
            device_actors: &actors,
            context: &Default::default(),
        };
        let mut docs: BTreeMap<DocId, HeldDoc> = m.start_docs[i]
            .iter()
            .map(|(id, doc)| {
                let access = match id {
                    DocId::Job(_) => Access::Write,
                    _ => Access::ReadOnly,
                };
                (
                    *id,
                    HeldDoc {
                        doc: doc.clone(),
                        access,
                    },
                )
            })
            .collect();
        // Records of one device are in the order they happened: the burst,
        // then the stretches.
        for record in records {
            for (id, received) in &record.received {
                // A van's stock document starts with the ledger's first
                // movement on it, so it may arrive after the first sync.
                if let DocId::VanStock(_) = id {
                    docs.entry(*id).or_insert_with(|| HeldDoc {
                        doc: fieldsync_core::automerge::Automerge::new(),
                        access: Access::ReadOnly,
                    });
                }
                let held = docs.get_mut(id).context("replay: unknown document")?;
                held.doc.apply_changes(received.iter().cloned())?;
            }
            for body in &record.requests {
                let started = Instant::now();
                let request = SyncRequest::decode(body, &limits)?;
                let served = serve(&request, &mut docs, &caller, &limits);
                let bytes = served.response.encode();
                busy += started.elapsed();
                std::hint::black_box(bytes);
                if let Some(bad) = served
                    .response
                    .docs
                    .iter()
                    .find(|d| matches!(d.outcome, Outcome::Rejected { .. }))
                {
                    bail!("replay rejected {}: {:?}", bad.id, bad.outcome);
                }
                changes += served
                    .accepted
                    .iter()
                    .map(|a| a.changes.len())
                    .sum::<usize>();
            }
        }
    }
    Ok(Ceiling { busy, changes })
}
