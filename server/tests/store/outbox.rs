//! The outbox ([`fieldsync_server::outbox::OutboxStore`]) and
//! [`enqueue`], the primitive other features queue messages with inside
//! their transactions. (Lease hand-over between workers:
//! `tests/tests/feedback/store.rs`.)

use std::collections::BTreeSet;

use fieldsync_server::feedback::{Channel, Delivery, MessageKind, MessageStatus};
use fieldsync_server::outbox::OutboxStore;
use fieldsync_server::outbox::store::{NewMessage, enqueue};
use fieldsync_server::store::SqlStore;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{now, open_sql};

conformance_tests!(
    enqueued_messages_are_idempotent_and_commit_with_their_transaction,
    claims_lease_due_messages_and_count_attempts,
    attempts_end_sent_retried_or_failed,
    concurrent_claims_never_share_a_message,
);

/// Queues a message for `recipient` due at `due`, in its own transaction;
/// `commit = false` drops the transaction instead.
async fn queue(
    store: &SqlStore,
    recipient: &str,
    key: &str,
    due: OffsetDateTime,
    commit: bool,
) -> Uuid {
    let id = Uuid::new_v4();
    let mut tx = store.db().begin().await.unwrap();
    let message = NewMessage {
        id,
        kind: MessageKind::FeedbackRequest,
        channel: Channel::Email,
        recipient,
        request_id: None,
        desk_item_id: None,
        idempotency_key: key,
        max_attempts: 2,
        send_after: due,
    };
    enqueue(tx.as_mut(), &message, now()).await.unwrap();
    if commit {
        tx.commit().await.unwrap();
    }
    id
}

async fn enqueued_messages_are_idempotent_and_commit_with_their_transaction(url: &str) {
    let store = open_sql(url).await;
    let t = now();
    let id = queue(&store, "ana@example.com", "k1", t, true).await;
    queue(&store, "ana@example.com", "k1", t, true).await;
    queue(&store, "bob@example.com", "k2", t, false).await;
    let all = store.outbox_messages(None, None, 100).await.unwrap();
    assert_eq!(
        all.len(),
        1,
        "same key once; a rolled-back one never: {all:?}"
    );
    let m = &all[0];
    assert_eq!(
        (m.id, m.recipient.as_str(), m.idempotency_key.as_str()),
        (id, "ana@example.com", "k1")
    );
    assert_eq!(
        (m.status, m.attempts, m.max_attempts),
        (MessageStatus::Pending, 0, 2)
    );
    assert_eq!(
        (m.kind, m.channel, m.next_attempt_at),
        (MessageKind::FeedbackRequest, Channel::Email, t)
    );
    assert!(m.sent_at.is_none() && m.last_error.is_none());
    assert!(
        store
            .outbox_messages(None, Some(MessageStatus::Sent), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .outbox_messages(Some(Uuid::new_v4()), None, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn claims_lease_due_messages_and_count_attempts(url: &str) {
    let store = open_sql(url).await;
    let t0 = now();
    let due = queue(
        &store,
        "a@example.com",
        "due",
        t0 - Duration::seconds(1),
        true,
    )
    .await;
    queue(
        &store,
        "b@example.com",
        "later",
        t0 + Duration::hours(1),
        true,
    )
    .await;
    let lease = t0 + Duration::minutes(1);
    let claimed = store.claim_outbox("w1", t0, lease, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), [due]);
    assert_eq!(claimed[0].attempts, 1);
    assert!(
        store
            .claim_outbox("w2", t0, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    let expired = lease + Duration::seconds(1);
    let again = store
        .claim_outbox("w2", expired, expired + Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|m| (m.id, m.attempts)).collect::<Vec<_>>(),
        [(due, 2)]
    );
    let much_later = t0 + Duration::hours(2);
    let limited = store
        .claim_outbox("w3", much_later, much_later + Duration::minutes(1), 1)
        .await
        .unwrap();
    assert_eq!(limited.len(), 1, "at most `limit` per claim");
}

async fn attempts_end_sent_retried_or_failed(url: &str) {
    let store = open_sql(url).await;
    let t0 = now();
    let ids = [
        queue(&store, "a@example.com", "a", t0, true).await,
        queue(&store, "b@example.com", "b", t0, true).await,
        queue(&store, "c@example.com", "c", t0, true).await,
    ];
    store
        .claim_outbox("w", t0, t0 + Duration::minutes(1), 10)
        .await
        .unwrap();
    let retry_at = t0 + Duration::seconds(30);
    store
        .finish_outbox(ids[0], "w", &Delivery::Sent, t0)
        .await
        .unwrap();
    let retry = Delivery::Retry {
        at: retry_at,
        error: "connection refused".into(),
    };
    store.finish_outbox(ids[1], "w", &retry, t0).await.unwrap();
    let failed = Delivery::Failed {
        error: "550 no such user".into(),
    };
    store.finish_outbox(ids[2], "w", &failed, t0).await.unwrap();
    let get = |all: &[fieldsync_server::feedback::OutboxMessage], id| {
        all.iter().find(|m| m.id == id).unwrap().clone()
    };
    let all = store.outbox_messages(None, None, 10).await.unwrap();
    let sent = get(&all, ids[0]);
    assert_eq!((sent.status, sent.sent_at), (MessageStatus::Sent, Some(t0)));
    let retried = get(&all, ids[1]);
    assert_eq!(retried.status, MessageStatus::Pending);
    assert_eq!(retried.next_attempt_at, retry_at);
    assert_eq!(retried.last_error.as_deref(), Some("connection refused"));
    let gave_up = get(&all, ids[2]);
    assert_eq!(
        (gave_up.status, gave_up.last_error.as_deref()),
        (MessageStatus::Failed, Some("550 no such user"))
    );

    // The second (last allowed) attempt fails too: the message is failed.
    let claimed = store
        .claim_outbox("w", retry_at, retry_at + Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|m| (m.id, m.attempts))
            .collect::<Vec<_>>(),
        [(ids[1], 2)]
    );
    store
        .finish_outbox(ids[1], "w", &retry, retry_at)
        .await
        .unwrap();
    let all = store
        .outbox_messages(None, Some(MessageStatus::Failed), 10)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|m| m.id).collect::<BTreeSet<_>>(),
        BTreeSet::from([ids[1], ids[2]])
    );
}

/// Two store instances (two processes) claiming at once lease each message
/// at most once.
async fn concurrent_claims_never_share_a_message(url: &str) {
    let (a, b) = (open_sql(url).await, open_sql(url).await);
    let t0 = now();
    for i in 0..20 {
        queue(&a, "x@example.com", &format!("k{i}"), t0, true).await;
    }
    let lease = t0 + Duration::minutes(1);
    let mut tasks = Vec::new();
    for (i, store) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            store
                .claim_outbox(&format!("w{i}"), t0, lease, 7)
                .await
                .unwrap()
        }));
    }
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for t in tasks {
        for m in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(m.id), "message {} leased twice", m.id);
            assert_eq!(m.attempts, 1);
        }
    }
    assert_eq!(total, 20, "every due message was leased by someone");
}
