//! The job schema in the device library: what the server would refuse (a
//! card number in free text, parts from a van that is not the device's) is
//! refused before it becomes a change, and files attach by reference.

mod common;

use common::*;
use fieldsync_ffi::FieldsyncError;

const CARD: &str = "5555 5555 5555 4444";

#[test]
fn the_device_refuses_what_the_server_would_and_attaches_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut office = Office::new();
    let job = office.job.to_string();
    let client = synced_client(dir.path(), &mut office);
    client.start_travel(job.clone()).unwrap();
    client.arrive(job.clone()).unwrap();

    // Parts from another van: the device knows its own from its van stock.
    let other = fieldsync_core::LocationId::from_bytes([0x77; 16]).to_string();
    let err = client
        .use_part(job.clone(), "VALVE-1".into(), 1, vec![], Some(other))
        .unwrap_err();
    assert!(
        matches!(&err, FieldsyncError::Rejected { code, .. } if code == "wrong_van"),
        "{err:?}"
    );

    // A card number in free text names the field, never the number.
    let refusals = [
        (
            client.add_note(job.clone(), format!("card {CARD}")),
            "notes",
        ),
        (
            client
                .record_payment(job.clone(), "card".into(), 100, Some(CARD.into()))
                .map(drop),
            "payment reference",
        ),
        (
            client
                .add_labour(job.clone(), 5, "standard".into(), CARD.into())
                .map(drop),
            "labour description",
        ),
        (
            client
                .add_attachment(
                    job.clone(),
                    "ab".repeat(32),
                    10,
                    "image/jpeg".into(),
                    "before".into(),
                    CARD.into(),
                )
                .map(drop),
            "caption",
        ),
    ];
    for (result, field) in refusals {
        let err = result.unwrap_err();
        let FieldsyncError::InvalidInput { reason } = &err else {
            panic!("{field}: {err:?}");
        };
        assert!(
            reason.contains(field) && reason.contains("card number"),
            "{reason}"
        );
        assert!(!reason.contains("5555"), "{reason}");
    }
    assert_eq!(
        client.pending_change_count().unwrap(),
        2,
        "nothing refused was kept"
    );

    // A photo, by reference; the kind must be one the schema knows.
    assert!(matches!(
        client
            .add_attachment(
                job.clone(),
                "ab".repeat(32),
                10,
                "image/jpeg".into(),
                "selfie".into(),
                String::new(),
            )
            .unwrap_err(),
        FieldsyncError::InvalidInput { .. }
    ));
    let id = client
        .add_attachment(
            job.clone(),
            "AB".repeat(32),
            48_213,
            "image/jpeg".into(),
            "serial_plate".into(),
            "Rating plate".into(),
        )
        .unwrap();
    let detail = client.job(job.clone()).unwrap();
    assert_eq!(detail.attachments.len(), 1);
    let a = &detail.attachments[0];
    assert_eq!(
        (a.id.as_str(), a.kind.as_str()),
        (id.as_str(), "serial_plate")
    );
    assert_eq!(a.sha256, "ab".repeat(32), "stored lower-case");
    assert_eq!(a.size_bytes, 48_213);

    office.sync(&client);
    assert_eq!(client.pending_change_count().unwrap(), 0);
    let on_server = office.job_doc().read().unwrap();
    assert_eq!(on_server.attachments.len(), 1);
    assert_eq!(on_server.attachments[0].caption, "Rating plate");
}
