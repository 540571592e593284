//! Attachments ([`fieldsync_server::attachments::AttachmentStore`]): the
//! references a job commit projects (with their job's assignee), blobs, the
//! office's options, and what the sweep may collect.

use fieldsync_core::{Status, UserId};
use fieldsync_server::attachments::store::{AttachmentProjection, AttachmentRef, BlobRow};
use fieldsync_server::store::DocCommit;
use time::Duration;
use uuid::Uuid;

use crate::jobs::projection;
use crate::{edits, job_doc, now, open};

conformance_tests!(
    references_are_projected_with_the_commit,
    a_reference_is_found_with_its_assignee_and_whether_it_is_stored,
    blobs_are_recorded_once_and_options_default_to_stripping,
    only_blobs_no_job_keeps_are_collected,
);

fn reference(sha: &str, size: i64) -> AttachmentRef {
    AttachmentRef {
        sha256: sha.into(),
        size,
        media_type: "image/jpeg".into(),
        kind: "before".into(),
    }
}

fn blob(sha: &str, created_at: time::OffsetDateTime) -> BlobRow {
    BlobRow {
        sha256: sha.into(),
        stored_sha256: "ef".repeat(32),
        size: 1234,
        media_type: "image/jpeg".into(),
        thumbnail: true,
        gps_stripped: false,
        created_at,
    }
}

async fn references_are_projected_with_the_commit(url: &str) {
    let store = open(url).await;
    let (job, doc_id) = job_doc();
    let (_, changes) = edits(1, 2);
    let a = "aa".repeat(32);
    let mut c = DocCommit::new(doc_id, 0);
    c.changes = changes[..1].to_vec();
    c.project(projection(job, Status::OnSite, None));
    c.project(AttachmentProjection {
        job_id: job,
        refs: vec![reference(&a, 10)],
    });
    store.commit(&c).await.unwrap();
    assert_eq!(
        store.attachment_ref(job, &a).await.unwrap(),
        Some(reference(&a, 10))
    );
    assert_eq!(
        store.attachment_ref(job, &"bb".repeat(32)).await.unwrap(),
        None
    );
    // A later commit re-projects every reference: the first one stays.
    let mut c = DocCommit::new(doc_id, 1);
    c.changes = changes[1..].to_vec();
    c.project(AttachmentProjection {
        job_id: job,
        refs: vec![reference(&a, 99), reference(&"bb".repeat(32), 5)],
    });
    store.commit(&c).await.unwrap();
    assert_eq!(
        store.attachment_ref(job, &a).await.unwrap(),
        Some(reference(&a, 10))
    );
    assert!(
        store
            .attachment_ref(job, &"bb".repeat(32))
            .await
            .unwrap()
            .is_some()
    );
    // Another job does not see them.
    let (other, _) = job_doc();
    assert_eq!(store.attachment_ref(other, &a).await.unwrap(), None);
}

/// What an upload or download checks first, in one query: the reference,
/// whom its job is assigned to, and whether the blob is stored. (Uploads in
/// progress are not in SQL: `fieldsync_server::attachments::staging`.)
async fn a_reference_is_found_with_its_assignee_and_whether_it_is_stored(url: &str) {
    let store = open(url).await;
    let (job, doc_id) = job_doc();
    let tech = UserId::from_uuid(Uuid::new_v4());
    let (_, changes) = edits(1, 1);
    let a = "aa".repeat(32);
    let mut c = DocCommit::new(doc_id, 0);
    c.changes = changes;
    c.project(projection(job, Status::OnSite, Some(tech)));
    c.project(AttachmentProjection {
        job_id: job,
        refs: vec![reference(&a, 10)],
    });
    store.commit(&c).await.unwrap();
    let found = store.reference_in_job(job, &a).await.unwrap().unwrap();
    assert_eq!(found.technician_id, Some(tech));
    assert_eq!(found.reference, reference(&a, 10));
    assert!(!found.stored);
    store.insert_blob(&blob(&a, now())).await.unwrap();
    assert!(
        store
            .reference_in_job(job, &a)
            .await
            .unwrap()
            .unwrap()
            .stored
    );
    // A hash the job does not reference, and another job: nothing.
    assert_eq!(
        store.reference_in_job(job, &"bb".repeat(32)).await.unwrap(),
        None
    );
    let (other, _) = job_doc();
    assert_eq!(store.reference_in_job(other, &a).await.unwrap(), None);
}

async fn blobs_are_recorded_once_and_options_default_to_stripping(url: &str) {
    let store = open(url).await;
    let a = "aa".repeat(32);
    let t0 = now();
    assert_eq!(store.blob(&a).await.unwrap(), None);
    store.insert_blob(&blob(&a, t0)).await.unwrap();
    let mut again = blob(&a, t0 + Duration::hours(1));
    again.size = 1;
    store.insert_blob(&again).await.unwrap();
    assert_eq!(store.blob(&a).await.unwrap(), Some(blob(&a, t0)));
    let asked = vec![a.clone(), "cc".repeat(32)];
    assert_eq!(store.stored_blobs(&asked).await.unwrap(), vec![a.clone()]);
    assert!(store.stored_blobs(&[]).await.unwrap().is_empty());

    let (job, _) = job_doc();
    assert!(!store.keep_location(job).await.unwrap());
    store.set_keep_location(job, true).await.unwrap();
    assert!(store.keep_location(job).await.unwrap());
    store.set_keep_location(job, false).await.unwrap();
    assert!(!store.keep_location(job).await.unwrap());
}

async fn only_blobs_no_job_keeps_are_collected(url: &str) {
    let store = open(url).await;
    let tech = UserId::from_uuid(Uuid::new_v4());
    let (kept, unref, cancelled, shared) = (
        "aa".repeat(32),
        "bb".repeat(32),
        "cc".repeat(32),
        "dd".repeat(32),
    );
    let commit = async |status: Status, refs: &[&String]| {
        let (job, doc_id) = job_doc();
        let (_, changes) = edits(1, 1);
        let mut c = DocCommit::new(doc_id, 0);
        c.changes = changes;
        c.project(projection(job, status, Some(tech)));
        c.project(AttachmentProjection {
            job_id: job,
            refs: refs.iter().map(|s| reference(s, 10)).collect(),
        });
        store.commit(&c).await.unwrap();
    };
    commit(Status::OnSite, &[&kept, &shared]).await;
    commit(Status::Cancelled, &[&cancelled, &shared]).await;
    let t0 = now();
    for sha in [&kept, &unref, &cancelled, &shared] {
        store.insert_blob(&blob(sha, t0)).await.unwrap();
    }
    // Nothing is older than the grace cutoff yet.
    let collected = store
        .collect_blobs(t0, t0 + Duration::days(1))
        .await
        .unwrap();
    assert!(collected.is_empty(), "{collected:?}");
    // Past grace, within the cancelled job's retention: only the unreferenced one.
    let later = t0 + Duration::seconds(1);
    let collected = store
        .collect_blobs(later, t0 - Duration::days(1))
        .await
        .unwrap();
    assert_eq!(collected, vec![unref.clone()]);
    // Past the retention: the cancelled job's own blob, not the shared one.
    let collected = store
        .collect_blobs(later, t0 + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(collected, vec![cancelled.clone()]);
    assert!(store.blob(&kept).await.unwrap().is_some());
    assert!(store.blob(&shared).await.unwrap().is_some());
    assert!(store.blob(&cancelled).await.unwrap().is_none());
}
