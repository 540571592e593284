//! Feedback ([`fieldsync_server::feedback::FeedbackStore`]) and the request
//! projection a job commit carries. (Racing commits and hashed tokens:
//! `tests/tests/feedback/store.rs`.)

use fieldsync_core::{DocId, JobId, LocationId, Role, Status, UserId};
use fieldsync_server::app::AppStore;
use fieldsync_server::feedback::questions::Value;
use fieldsync_server::feedback::{
    Answer, Channel, FeedbackTrigger, MessageKind, MessageStatus, RequestFilter, SubmitOutcome,
};
use fieldsync_server::inventory::{Location, LocationKind};
use fieldsync_server::store::{DocCommit, StoreError, TokenHash};
use time::Duration;
use uuid::Uuid;

use crate::core::user;
use crate::{now, open};

conformance_tests!(
    completed_jobs_ask_their_customer_once,
    unsubscribed_customers_are_not_asked,
    link_tokens_open_their_request,
    answers_are_stored_once_and_low_ones_alert_the_depot,
    unsubscribing_cancels_pending_requests,
    results_are_listed_by_depot_and_time,
);

fn trigger(job: JobId, technician: Option<UserId>, contact: &str) -> FeedbackTrigger {
    FeedbackTrigger {
        request_id: Uuid::new_v4(),
        message_id: Uuid::new_v4(),
        job_id: job,
        job_status: Status::Completed,
        technician_id: technician,
        customer_name: "Ana Lima".into(),
        channel: Channel::Email,
        contact: contact.into(),
        opt_out_keys: vec![contact.into(), "+351900000001".into()],
        visit_date: "2026-11-23".into(),
        work_done: "Replaced valve".into(),
        send_after: now() + Duration::hours(2),
        max_attempts: 5,
    }
}

/// Commits a completed job carrying `t`, as a sync would.
async fn complete(store: &dyn AppStore, t: &FeedbackTrigger) {
    let mut c = DocCommit::new(DocId::Job(t.job_id), 0);
    c.project(t.clone());
    store.commit(&c).await.unwrap();
}

pub fn answer(fixed: bool, rating: i64, comment: &str) -> Answer {
    Answer {
        answered_at: now(),
        values: [
            ("fixed", Value::Yes(fixed)),
            ("rating", Value::Score(rating)),
            ("courtesy", Value::Score(4)),
            ("recommend", Value::Score(9)),
            ("comment", Value::Text(comment.into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    }
}

/// A depot with a van driven by a technician, and the depot's supervisor
/// (with an email for alerts).
struct Depot {
    id: LocationId,
    technician: UserId,
    supervisor: UserId,
}

async fn depot(store: &dyn AppStore, name: &str) -> Depot {
    let id = LocationId::from_uuid(Uuid::new_v4());
    let van = LocationId::from_uuid(Uuid::new_v4());
    for (l, kind, depot) in [
        (id, LocationKind::Depot, None),
        (van, LocationKind::Van, Some(id)),
    ] {
        store
            .create_location(&Location {
                id: l,
                kind,
                name: format!("{name} {kind}"),
                depot_id: depot,
                technician_id: None,
                created_at: now(),
            })
            .await
            .unwrap();
    }
    let tech = user(store, &format!("{name}-tech"), Role::Technician).await;
    store.assign_technician(van, Some(tech.id)).await.unwrap();
    store
        .set_user_profile(tech.id, Some("Rui Costa"), None)
        .await
        .unwrap();
    let boss = user(store, &format!("{name}-boss"), Role::Supervisor).await;
    store
        .set_user_profile(boss.id, None, Some(&format!("{name}-boss@example.com")))
        .await
        .unwrap();
    store.add_depot_staff(boss.id, id).await.unwrap();
    Depot {
        id,
        technician: tech.id,
        supervisor: boss.id,
    }
}

async fn completed_jobs_ask_their_customer_once(url: &str) {
    let store = open(url).await;
    let north = depot(store.as_ref(), "north").await;
    let job = JobId::from_uuid(Uuid::new_v4());
    let t = trigger(job, Some(north.technician), "ana@example.com");
    complete(store.as_ref(), &t).await;
    // A later commit of the same job (another trigger) asks nothing more.
    complete(
        store.as_ref(),
        &trigger(job, Some(north.technician), "ana@example.com"),
    )
    .await;

    let r = store.feedback_request(t.request_id).await.unwrap();
    assert_eq!(
        (r.job_id, r.job_status, r.channel),
        (job, Status::Completed, Channel::Email)
    );
    assert_eq!(
        r.depot_id,
        Some(north.id.as_uuid()),
        "the depot of the technician's van"
    );
    assert_eq!(r.technician_name.as_deref(), Some("Rui Costa"));
    assert_eq!(r.technician_first_name(), Some("Rui"));
    assert_eq!(
        (r.visit_date.as_str(), r.work_done.as_str()),
        ("2026-11-23", "Replaced valve")
    );
    assert!(r.answer.is_none());
    let messages = store
        .outbox_messages(Some(t.request_id), None, 10)
        .await
        .unwrap();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(
        (m.id, m.kind, m.status),
        (
            t.message_id,
            MessageKind::FeedbackRequest,
            MessageStatus::Pending
        )
    );
    assert_eq!(
        (m.recipient.as_str(), m.max_attempts, m.next_attempt_at),
        ("ana@example.com", 5, t.send_after)
    );
    assert!(matches!(
        store.feedback_request(Uuid::new_v4()).await,
        Err(StoreError::NotFound)
    ));
}

async fn unsubscribed_customers_are_not_asked(url: &str) {
    let store = open(url).await;
    store.unsubscribe("+351900000001", now()).await.unwrap();
    assert!(store.is_unsubscribed("+351900000001").await.unwrap());
    assert!(!store.is_unsubscribed("ana@example.com").await.unwrap());
    let job = JobId::from_uuid(Uuid::new_v4());
    // The email is not listed, but the customer's phone is: no request.
    complete(store.as_ref(), &trigger(job, None, "ana@example.com")).await;
    let filter = RequestFilter {
        job_id: Some(job),
        ..Default::default()
    };
    assert!(store.feedback_requests(&filter).await.unwrap().is_empty());
    assert!(
        store
            .outbox_messages(None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn link_tokens_open_their_request(url: &str) {
    let store = open(url).await;
    let t = trigger(JobId::from_uuid(Uuid::new_v4()), None, "ana@example.com");
    complete(store.as_ref(), &t).await;
    let t0 = now();
    store
        .insert_feedback_token(
            t.request_id,
            &TokenHash([7; 32]),
            t0,
            t0 + Duration::days(14),
        )
        .await
        .unwrap();
    let (r, expires) = store
        .feedback_by_token(&TokenHash([7; 32]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.id, expires), (t.request_id, t0 + Duration::days(14)));
    assert!(
        store
            .feedback_by_token(&TokenHash([8; 32]))
            .await
            .unwrap()
            .is_none()
    );
}

async fn answers_are_stored_once_and_low_ones_alert_the_depot(url: &str) {
    let store = open(url).await;
    let north = depot(store.as_ref(), "north").await;
    let good = trigger(
        JobId::from_uuid(Uuid::new_v4()),
        Some(north.technician),
        "a@example.com",
    );
    let bad = trigger(
        JobId::from_uuid(Uuid::new_v4()),
        Some(north.technician),
        "b@example.com",
    );
    complete(store.as_ref(), &good).await;
    complete(store.as_ref(), &bad).await;

    let happy = answer(true, 5, "Great");
    assert_eq!(
        store
            .submit_feedback(good.request_id, &happy, 3)
            .await
            .unwrap(),
        SubmitOutcome::Recorded { followup: false }
    );
    assert_eq!(
        store
            .submit_feedback(good.request_id, &answer(false, 1, "changed my mind"), 3)
            .await
            .unwrap(),
        SubmitOutcome::AlreadyAnswered
    );
    let stored = store
        .feedback_request(good.request_id)
        .await
        .unwrap()
        .answer
        .unwrap();
    assert_eq!(stored, happy, "the first answer stays, exactly as given");

    let unhappy = answer(false, 2, "Still leaking");
    assert_eq!(
        store
            .submit_feedback(bad.request_id, &unhappy, 3)
            .await
            .unwrap(),
        SubmitOutcome::Recorded { followup: true }
    );
    let followups = store.followups(None, true).await.unwrap();
    assert_eq!(followups.len(), 1);
    let f = &followups[0];
    assert_eq!(
        (f.request_id, f.job_id, f.depot_id),
        (bad.request_id, bad.job_id, Some(north.id.as_uuid()))
    );
    assert_eq!(
        (f.reason.as_str(), f.comment.as_str()),
        ("not fixed, rated 2/5", "Still leaking")
    );
    assert_eq!(f.technician_name.as_deref(), Some("Rui Costa"));
    let alerts = store
        .outbox_messages(Some(bad.request_id), None, 10)
        .await
        .unwrap();
    let alert = alerts
        .iter()
        .find(|m| m.kind == MessageKind::FollowupAlert)
        .unwrap();
    assert_eq!(
        (alert.recipient.as_str(), alert.max_attempts),
        ("north-boss@example.com", 3)
    );
    assert!(
        alert
            .idempotency_key
            .ends_with(&north.supervisor.to_string())
    );

    let t1 = now();
    store
        .resolve_followup(f.id, north.supervisor, t1)
        .await
        .unwrap();
    store
        .resolve_followup(f.id, north.supervisor, t1 + Duration::hours(1))
        .await
        .unwrap();
    assert!(store.followups(None, true).await.unwrap().is_empty());
    let all = store.followups(None, false).await.unwrap();
    assert_eq!(all[0].resolved_at, Some(t1), "the first resolution stays");
    assert!(matches!(
        store
            .resolve_followup(Uuid::new_v4(), north.supervisor, t1)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .set_user_profile(UserId::from_uuid(Uuid::new_v4()), Some("x"), None)
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn unsubscribing_cancels_pending_requests(url: &str) {
    let store = open(url).await;
    let t = trigger(JobId::from_uuid(Uuid::new_v4()), None, "ana@example.com");
    complete(store.as_ref(), &t).await;
    store.unsubscribe("ana@example.com", now()).await.unwrap();
    store.unsubscribe("ana@example.com", now()).await.unwrap();
    let m = &store
        .outbox_messages(Some(t.request_id), None, 10)
        .await
        .unwrap()[0];
    assert_eq!(m.status, MessageStatus::Cancelled);
    assert!(store.is_unsubscribed("ana@example.com").await.unwrap());
}

async fn results_are_listed_by_depot_and_time(url: &str) {
    let store = open(url).await;
    let north = depot(store.as_ref(), "north").await;
    let south = depot(store.as_ref(), "south").await;
    let mut ids = Vec::new();
    for d in [&north, &south, &north] {
        let t = trigger(
            JobId::from_uuid(Uuid::new_v4()),
            Some(d.technician),
            "a@example.com",
        );
        complete(store.as_ref(), &t).await;
        ids.push(t.request_id);
        // Distinct creation times (milliseconds) for a stable order.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let list = |f: RequestFilter| {
        let store = store.clone();
        async move {
            store
                .feedback_requests(&f)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(RequestFilter::default()).await,
        [ids[2], ids[1], ids[0]],
        "newest first"
    );
    assert_eq!(
        list(RequestFilter {
            depots: Some(vec![north.id.as_uuid()]),
            ..Default::default()
        })
        .await,
        [ids[2], ids[0]]
    );
    assert!(
        list(RequestFilter {
            depots: Some(Vec::new()),
            ..Default::default()
        })
        .await
        .is_empty(),
        "a supervisor of no depot sees nothing"
    );
    let created = store.feedback_request(ids[1]).await.unwrap().created_at;
    assert_eq!(
        list(RequestFilter {
            from: Some(created),
            until: Some(created + Duration::milliseconds(1)),
            ..Default::default()
        })
        .await,
        [ids[1]]
    );
    assert_eq!(
        list(RequestFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await,
        [ids[2]]
    );

    let depots = store.depots().await.unwrap();
    assert_eq!(
        depots.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["north depot", "south depot"]
    );
    assert_eq!(
        store.staff_depots(south.supervisor).await.unwrap(),
        [south.id.as_uuid()]
    );
    assert!(
        store
            .staff_depots(north.technician)
            .await
            .unwrap()
            .is_empty()
    );
}
