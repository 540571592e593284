//! Issue 14's rules on attachments, enforced by the server for any client:
//! each sent as a raw automerge change over real `/v1/sync`, never through
//! the library's actions. A photo checklist item is answered by the id of
//! an image attachment of the job, and a required one blocks completion; a
//! `signature` attachment is the image whose SHA-256 the job's signature
//! holds. Nothing refused is stored; the corrected edits are accepted.

use fieldsync_core::automerge::ObjType;
use fieldsync_core::automerge::transaction::{Transactable, Transaction};
use fieldsync_core::automerge::{ReadDoc, ScalarValue};
use fieldsync_core::sync::Outcome;
use fieldsync_core::{JobAction, LineId, RejectCode, Role};
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{backend_tests, spawn_app};
use crate::office::{create_job, job_id, new_job};
use crate::rules::{Edit, complete, now, root, send, view};
use crate::sync::{office, van_for};

backend_tests!(the_server_enforces_photo_answers_and_the_signature_image_on_raw_changes);

const SIGNED: &str = "ab";

/// A raw attachment line (by the sender).
fn attach(tx: &mut Transaction<'_>, by: &str, id: LineId, sha: &str, media: &str, kind: &str) {
    let attachments = root(tx, "attachments");
    let a = tx
        .put_object(&attachments, id.to_string(), ObjType::Map)
        .unwrap();
    tx.put(&a, "by", by).unwrap();
    tx.put(&a, "sha256", sha).unwrap();
    tx.put(&a, "size", 4096_i64).unwrap();
    tx.put(&a, "media_type", media).unwrap();
    tx.put(&a, "kind", kind).unwrap();
    tx.put(&a, "caption", "").unwrap();
    tx.put(&a, "taken_at", ScalarValue::Timestamp(0)).unwrap();
}

/// A raw answer to every checklist item (by the sender).
fn answer_all(tx: &mut Transaction<'_>, by: &str, value: &str) {
    let checklist = root(tx, "checklist");
    let answers = root(tx, "answers");
    for item in tx.keys(&checklist).collect::<Vec<_>>() {
        let a = tx.put_object(&answers, item, ObjType::Map).unwrap();
        tx.put(&a, "value", value).unwrap();
        tx.put(&a, "by", by).unwrap();
        tx.put(&a, "device_time", ScalarValue::Timestamp(0))
            .unwrap();
    }
}

fn rejected(outcome: &Outcome, code: RejectCode, words: &[&str]) {
    let Outcome::Rejected {
        code: got, message, ..
    } = outcome
    else {
        panic!("expected {code:?}, got {outcome:?}");
    };
    assert_eq!(*got, code, "{message}");
    for w in words {
        assert!(message.contains(w), "{message:?} should say {w:?}");
    }
}

async fn the_server_enforces_photo_answers_and_the_signature_image_on_raw_changes(
    backend: fieldsync_server::testing::TestBackend,
) {
    let app = spawn_app(backend).await;
    let office = office(&app).await;
    let t = app.user("tech", Role::Technician).await;
    let van = van_for(&app, t).await;
    let mut jobs = Vec::new();
    for i in 0..3 {
        let mut body = new_job(&format!("Customer {i}"), Some(t));
        body["checklist"][0] = serde_json::json!(
            {"question": "Photo of the serial plate", "required": true, "kind": "photo"}
        );
        jobs.push(job_id(&create_job(&app, &office.dispatcher, &body).await));
    }
    let [text_answer, unanswered, signature] = jobs[..] else {
        unreachable!()
    };
    let shown = view(&app, &office.dispatcher, unanswered).await;
    assert_eq!(shown["job"]["checklist"][0]["kind"], "photo");
    assert_eq!(shown["job"]["checklist"][0]["required"], true);

    // On site with work and a signature, through the library.
    let mut tech = Device::login(&app, "tech", Role::Technician, 1).await;
    tech.sync(&app).await;
    for job in &jobs {
        tech.act(*job, JobAction::StartTravel, now());
        tech.act(*job, JobAction::Arrive, now());
        tech.act(
            *job,
            JobAction::AddLabour {
                entry: LineId::from_uuid(Uuid::new_v4()),
                minutes: 30,
                rate: "standard".into(),
                description: String::new(),
            },
            now(),
        );
        tech.act(
            *job,
            JobAction::CaptureSignature {
                signer: "Ana Lima".into(),
                image_sha256: SIGNED.repeat(32),
            },
            now(),
        );
    }
    assert!(tech.sync(&app).await.rejected().is_empty());
    let mut before = Vec::new();
    for job in &jobs {
        before.push(view(&app, &office.dispatcher, *job).await["job"].clone());
    }

    // Each rule broken by a raw change, all in one request.
    let text: Edit = Box::new(|tx, by, _| answer_all(tx, by, "yes, photographed"));
    let complete_unanswered: Edit = Box::new(|tx, by, _| complete(tx, by));
    let other_image: Edit = Box::new(|tx, by, _| {
        let id = LineId::from_uuid(Uuid::new_v4());
        attach(tx, by, id, &"cd".repeat(32), "image/png", "signature");
    });
    let outcomes = send(
        &app,
        &mut tech,
        van,
        &[
            (text_answer, &text),
            (unanswered, &complete_unanswered),
            (signature, &other_image),
        ],
    )
    .await;
    rejected(
        &outcomes[0],
        RejectCode::PhotoAnswer,
        &["photo checklist item", "id of an attachment"],
    );
    rejected(
        &outcomes[1],
        RejectCode::Incomplete,
        &["required checklist item", "1 unanswered"],
    );
    rejected(
        &outcomes[2],
        RejectCode::SignatureMismatch,
        &["signature image", "SHA-256"],
    );
    for (job, before) in jobs.iter().zip(&before) {
        let after = view(&app, &office.dispatcher, *job).await;
        assert_eq!(&after["job"], before, "job {job} changed");
    }

    // Made right from a fresh install: the photo, the answer naming it and
    // completion in one change; the signature's own image.
    let mut fixed = Device::login(&app, "tech", Role::Technician, 2).await;
    assert!(fixed.sync(&app).await.rejected().is_empty());
    let photo = LineId::from_uuid(Uuid::new_v4());
    let photo_then_complete: Edit = Box::new(move |tx, by, _| {
        attach(
            tx,
            by,
            photo,
            &"ef".repeat(32),
            "image/jpeg",
            "serial_plate",
        );
        answer_all(tx, by, &photo.to_string());
        complete(tx, by);
    });
    let signed_image: Edit = Box::new(|tx, by, _| {
        let id = LineId::from_uuid(Uuid::new_v4());
        attach(tx, by, id, &SIGNED.repeat(32), "image/png", "signature");
    });
    let outcomes = send(
        &app,
        &mut fixed,
        van,
        &[
            (unanswered, &photo_then_complete),
            (signature, &signed_image),
        ],
    )
    .await;
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Accepted),
        "{outcomes:?}"
    );
    let done = view(&app, &office.dispatcher, unanswered).await;
    assert_eq!(done["job"]["status"], "completed");
    assert_eq!(
        done["job"]["checklist"][0]["answer"]["value"],
        photo.to_string()
    );
    let signed = view(&app, &office.dispatcher, signature).await;
    assert_eq!(signed["job"]["attachments"][0]["kind"], "signature");
    assert_eq!(signed["job"]["attachments"][0]["sha256"], SIGNED.repeat(32));
}
