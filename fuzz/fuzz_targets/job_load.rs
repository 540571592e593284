//! Loading a job document: bytes that should be a saved job (the server's
//! stored copy, a device's file) or changes on top of a stored job, then
//! everything the server and the device do with a loaded job: wrap it as a
//! job, read it, bill it, validate its changes for each role, save it and
//! load it again. The first byte picks how the rest is read:
//! - 0: a whole saved document;
//! - 1: change bytes appended to the stored job (`load_incremental`);
//! - 2: a device's edits on its copy (valid changes, any content).
#![no_main]

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{Automerge, ChangeHash};
use fieldsync_core::billing::bill;
use fieldsync_core::{DocId, JobDoc, validate_changes};
use fieldsync_fuzz::{
    Input, craft, dispatcher, fixture, job_id, quiet_contained_panics, technician,
};
use libfuzzer_sys::fuzz_target;

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
        let stored = &f.docs[&DocId::Job(job_id())].doc;
        // Automerge's own decoding is contained where the project calls it
        // on untrusted bytes (the device's store, sync's guard).
        let (doc, base): (Automerge, Vec<ChangeHash>) = match mode % 3 {
            0 => match catch_unwind(|| Automerge::load(rest)) {
                Ok(Ok(doc)) => (doc, Vec::new()),
                _ => return,
            },
            1 => {
                let mut doc = stored.clone();
                match catch_unwind(AssertUnwindSafe(|| doc.load_incremental(rest))) {
                    Ok(Ok(_)) => (doc, stored.get_heads()),
                    _ => return,
                }
            }
            _ => (craft(stored, &mut Input::new(rest)), stored.get_heads()),
        };

        if let Ok(job) = JobDoc::from_doc(doc.clone()) {
            let read = job.read().expect("a job that wrapped reads");
            let _ = bill(&read, &f.book);
        }
        let new: Vec<ChangeHash> = doc.get_changes(&base).iter().map(|c| c.hash()).collect();
        let _ = validate_changes(&doc, &new, &technician());
        let _ = validate_changes(&doc, &new, &dispatcher());

        let saved = doc.save();
        let again = Automerge::load(&saved).expect("a saved document loads");
        assert_eq!(again.get_heads(), doc.get_heads());
    }
);
