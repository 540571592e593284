//! The feedback tables through the store directly: racing commits make one
//! request, leases keep workers apart, tokens are found by their hash.

use std::sync::Arc;
use std::time::Duration;

use fieldsync_core::{DocId, JobId, Status};
use fieldsync_server::app::AppStore;
use fieldsync_server::feedback::{Channel, Delivery, FeedbackTrigger, hash_token, new_token};
use fieldsync_server::store::{self, DocCommit, now_utc};
use fieldsync_server::testing::{TestBackend, TestDatabase};
use uuid::Uuid;

use crate::helpers::backend_tests;

fn trigger(job: JobId) -> FeedbackTrigger {
    FeedbackTrigger {
        request_id: Uuid::new_v4(),
        message_id: Uuid::new_v4(),
        job_id: job,
        job_status: Status::Completed,
        technician_id: None,
        customer_name: "Ana Lima".into(),
        channel: Channel::Email,
        contact: "ana@example.com".into(),
        opt_out_keys: vec!["ana@example.com".into()],
        visit_date: "2026-11-23".into(),
        work_done: "Replaced valve".into(),
        send_after: now_utc(),
        max_attempts: 5,
    }
}

async fn open(backend: TestBackend) -> (TestDatabase, Arc<dyn AppStore>) {
    let db = TestDatabase::new(backend).await;
    let store = store::open(&db.url).await.unwrap();
    (db, store)
}

async fn racing_commits_create_one_request(backend: TestBackend) {
    let (_db, store) = open(backend).await;
    let job = JobId::from_uuid(Uuid::new_v4());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut commit = DocCommit::new(DocId::Job(job), 0);
            commit.project(trigger(job));
            store.commit(&commit).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let requests = store
        .feedback_requests(&fieldsync_server::feedback::RequestFilter {
            job_id: Some(job),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(requests.len(), 1);
    let messages = store
        .outbox_messages(Some(requests[0].id), None, 100)
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    let all = store.outbox_messages(None, None, 100).await.unwrap();
    assert_eq!(all.len(), 1, "no orphan messages: {all:?}");
}

async fn leases_keep_workers_apart(backend: TestBackend) {
    let (_db, store) = open(backend).await;
    let job = JobId::from_uuid(Uuid::new_v4());
    let mut commit = DocCommit::new(DocId::Job(job), 0);
    commit.project(trigger(job));
    store.commit(&commit).await.unwrap();

    let t0 = now_utc() + Duration::from_millis(10);
    let lease = Duration::from_secs(60);
    let a = store.claim_outbox("a", t0, t0 + lease, 10).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].attempts, 1);
    let id = a[0].id;
    assert!(
        store
            .claim_outbox("b", t0, t0 + lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    // Only the lease holder can record the outcome.
    store
        .finish_outbox(id, "b", &Delivery::Sent, t0)
        .await
        .unwrap();
    assert_eq!(
        store.outbox_messages(None, None, 10).await.unwrap()[0]
            .status
            .as_str(),
        "pending"
    );
    // A lease that ran out (worker died): another worker takes over.
    let later = t0 + lease + Duration::from_secs(1);
    let b = store
        .claim_outbox("b", later, later + lease, 10)
        .await
        .unwrap();
    assert_eq!((b.len(), b[0].attempts), (1, 2));
    store
        .finish_outbox(
            id,
            "a",
            &Delivery::Failed {
                error: "late".into(),
            },
            later,
        )
        .await
        .unwrap();
    store
        .finish_outbox(id, "b", &Delivery::Sent, later)
        .await
        .unwrap();
    let m = &store.outbox_messages(None, None, 10).await.unwrap()[0];
    assert_eq!(m.status.as_str(), "sent");
    assert!(
        m.last_error.is_none(),
        "the stale worker's result was ignored"
    );
    assert!(
        store
            .claim_outbox("c", later + lease * 2, later + lease * 3, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The store finds a request by the hash of its token, and only by it.
/// (That the token itself is never stored is checked where the token is
/// made, on the real delivery path: `form::the_link_token_is_stored_only_as_its_hash`.)
async fn tokens_are_found_by_their_hash(backend: TestBackend) {
    let (_db, store) = open(backend).await;
    let job = JobId::from_uuid(Uuid::new_v4());
    let mut commit = DocCommit::new(DocId::Job(job), 0);
    let t = trigger(job);
    commit.project(t.clone());
    store.commit(&commit).await.unwrap();
    let (token, hash) = new_token();
    let now = now_utc();
    store
        .insert_feedback_token(t.request_id, &hash, now, now + Duration::from_secs(60))
        .await
        .unwrap();
    let (found, _) = store
        .feedback_by_token(&hash_token(&token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, t.request_id);
    assert!(
        store
            .feedback_by_token(&hash_token("other"))
            .await
            .unwrap()
            .is_none()
    );
}

backend_tests!(
    racing_commits_create_one_request,
    leases_keep_workers_apart,
    tokens_are_found_by_their_hash,
);
