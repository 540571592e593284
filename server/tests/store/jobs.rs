//! The jobs list ([`fieldsync_server::jobs::JobStore`]), written by the
//! job projection a commit carries.

use fieldsync_core::{JobId, Status, UserId};
use fieldsync_server::jobs::{JobFilter, JobProjection};
use fieldsync_server::store::DocCommit;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use fieldsync_core::Role;
use fieldsync_server::sync::open_jobs::Opened;

use crate::core::{device, user};
use crate::{edits, job_doc, now, open};

conformance_tests!(
    projection_is_written_with_the_changes,
    jobs_list_by_filter,
    read_scope_is_assignment_and_recent_closure,
    office_devices_hold_what_they_opened_up_to_a_cap,
);

pub fn projection(job: JobId, status: Status, technician: Option<UserId>) -> JobProjection {
    let start = OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap();
    JobProjection {
        job_id: job,
        status,
        technician_id: technician,
        customer_name: "Acme Boilers".into(),
        window_start: start,
        window_end: start + Duration::hours(2),
        completed_at: None,
        total_minor: 12_345,
        currency: "EUR".into(),
    }
}

async fn projection_is_written_with_the_changes(url: &str) {
    let store = open(url).await;
    let (job, doc_id) = job_doc();
    let tech = UserId::from_uuid(Uuid::new_v4());
    let (_, changes) = edits(1, 3);

    let mut c = DocCommit::new(doc_id, 0);
    c.changes = changes[..1].to_vec();
    c.project(projection(job, Status::Scheduled, Some(tech)));
    store.commit(&c).await.unwrap();
    let row = store.job(job).await.unwrap();
    assert_eq!(
        row.projection,
        projection(job, Status::Scheduled, Some(tech))
    );

    // Completed: the first completion time stays.
    let t1 = now() - Duration::minutes(10);
    let mut done = projection(job, Status::Completed, Some(tech));
    done.completed_at = Some(t1);
    let mut c = DocCommit::new(doc_id, 1);
    c.changes = changes[1..2].to_vec();
    c.project(done.clone());
    store.commit(&c).await.unwrap();
    done.completed_at = Some(now());
    let mut c = DocCommit::new(doc_id, 2);
    c.changes = changes[2..].to_vec();
    c.project(done);
    store.commit(&c).await.unwrap();
    let row = store.job(job).await.unwrap();
    assert_eq!(row.projection.status, Status::Completed);
    assert_eq!(row.projection.completed_at, Some(t1));
}

async fn jobs_list_by_filter(url: &str) {
    let store = open(url).await;
    let ana = UserId::from_uuid(Uuid::new_v4());
    let bob = UserId::from_uuid(Uuid::new_v4());
    let base = OffsetDateTime::from_unix_timestamp(1_750_000_000).unwrap();
    let mut ids = Vec::new();
    for (i, (tech, status, customer)) in [
        (Some(ana), Status::Scheduled, "Acme Boilers"),
        (Some(ana), Status::Completed, "Zed 100% Heating_Co"),
        (Some(bob), Status::Scheduled, "acme north"),
        (None, Status::Cancelled, "Other"),
    ]
    .into_iter()
    .enumerate()
    {
        let (job, doc_id) = job_doc();
        let mut p = projection(job, status, tech);
        p.customer_name = customer.into();
        p.window_start = base + Duration::days(i as i64);
        p.window_end = p.window_start + Duration::hours(1);
        let mut c = DocCommit::new(doc_id, 0);
        c.project(p);
        store.commit(&c).await.unwrap();
        ids.push(job);
    }
    let list = |f: JobFilter| {
        let store = store.clone();
        async move {
            store
                .list_jobs(&f)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.projection.job_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(JobFilter::default()).await,
        ids,
        "ordered by window start"
    );
    assert_eq!(
        list(JobFilter {
            technician_id: Some(ana),
            ..Default::default()
        })
        .await,
        ids[..2]
    );
    assert_eq!(
        list(JobFilter {
            status: Some(Status::Scheduled),
            ..Default::default()
        })
        .await,
        [ids[0], ids[2]]
    );
    assert_eq!(
        list(JobFilter {
            customer: Some("ACME".into()),
            ..Default::default()
        })
        .await,
        [ids[0], ids[2]]
    );
    assert_eq!(
        list(JobFilter {
            customer: Some("100%".into()),
            ..Default::default()
        })
        .await,
        [ids[1]]
    );
    assert_eq!(
        list(JobFilter {
            customer: Some("%".into()),
            ..Default::default()
        })
        .await,
        [ids[1]],
        "LIKE wildcards in the needle are literal"
    );
    assert_eq!(
        list(JobFilter {
            window_from: Some(base + Duration::days(1)),
            window_until: Some(base + Duration::days(3)),
            ..Default::default()
        })
        .await,
        ids[1..3]
    );
    assert_eq!(
        list(JobFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await,
        ids[..1]
    );
}

/// Technicians hold their own open jobs and those closed recently; the
/// office holds everyone's.
async fn read_scope_is_assignment_and_recent_closure(url: &str) {
    let store = open(url).await;
    let ana = UserId::from_uuid(Uuid::new_v4());
    let bob = UserId::from_uuid(Uuid::new_v4());
    let mut ids = Vec::new();
    for (tech, status) in [
        (Some(ana), Status::Scheduled),
        (Some(ana), Status::Completed),
        (Some(bob), Status::OnSite),
        (None, Status::Cancelled),
    ] {
        let (job, doc_id) = job_doc();
        let mut c = DocCommit::new(doc_id, 0);
        c.project(projection(job, status, tech));
        store.commit(&c).await.unwrap();
        ids.push(job);
    }
    let sorted = |mut v: Vec<_>| {
        v.sort();
        v
    };
    let recently = now() - Duration::minutes(1);
    let later = now() + Duration::minutes(1);
    assert_eq!(
        sorted(store.job_scope(Some(ana), recently).await.unwrap()),
        sorted(ids[..2].to_vec())
    );
    assert_eq!(
        store.job_scope(Some(ana), later).await.unwrap(),
        [ids[0]],
        "closed jobs leave once they are older than the cut-off"
    );
    assert_eq!(
        sorted(store.job_scope(None, recently).await.unwrap()),
        sorted(ids.clone())
    );
    assert_eq!(
        sorted(store.job_scope(None, later).await.unwrap()),
        sorted(vec![ids[0], ids[2]])
    );
    assert!(
        store
            .job_scope(Some(UserId::from_uuid(Uuid::new_v4())), recently)
            .await
            .unwrap()
            .is_empty()
    );
}

/// An office device holds the jobs it opened (in the order opened), by the
/// same closed-job rule as technicians, at most `max`; closed jobs past the
/// cut-off are forgotten when the device opens another, and never count.
async fn office_devices_hold_what_they_opened_up_to_a_cap(url: &str) {
    let store = open(url).await;
    let desk_user = user(store.as_ref(), "desk", Role::Dispatcher).await;
    let desk = device(store.as_ref(), &desk_user, 7).await;
    let other = device(store.as_ref(), &desk_user, 8).await;
    let mut ids = Vec::new();
    for status in [
        Status::Scheduled,
        Status::Completed,
        Status::OnSite,
        Status::Cancelled,
    ] {
        let (job, doc_id) = job_doc();
        let mut c = DocCommit::new(doc_id, 0);
        c.project(projection(job, status, None));
        store.commit(&c).await.unwrap();
        ids.push(job);
    }
    let recently = now() - Duration::minutes(1);
    let later = now() + Duration::minutes(1);
    assert!(
        store
            .opened_job_scope(desk.id, recently)
            .await
            .unwrap()
            .is_empty()
    );
    // Opened a millisecond apart: the list is in the order opened.
    let at = |k: i64| now() + Duration::milliseconds(k);
    for (k, id) in [ids[2], ids[0], ids[1]].into_iter().enumerate() {
        let opened = store
            .open_job(desk.id, id, 3, recently, at(k as i64))
            .await
            .unwrap();
        assert_eq!(opened, Opened::Open);
    }
    // Again: nothing changes, even at the cap.
    assert_eq!(
        store
            .open_job(desk.id, ids[0], 3, recently, now())
            .await
            .unwrap(),
        Opened::Open
    );
    assert_eq!(
        store.opened_job_scope(desk.id, recently).await.unwrap(),
        [ids[2], ids[0], ids[1]]
    );
    assert!(
        store
            .opened_job_scope(other.id, recently)
            .await
            .unwrap()
            .is_empty()
    );
    // Full: the fourth is not added.
    assert_eq!(
        store
            .open_job(desk.id, ids[3], 3, recently, now())
            .await
            .unwrap(),
        Opened::Full
    );
    assert_eq!(
        store
            .opened_job_scope(desk.id, recently)
            .await
            .unwrap()
            .len(),
        3
    );
    // Past the cut-off the completed job leaves the scope, and the next
    // open forgets it, so a fourth fits (the store does not judge the job
    // it opens: the route refuses one closed before the cut-off).
    assert_eq!(
        store.opened_job_scope(desk.id, later).await.unwrap(),
        [ids[2], ids[0]]
    );
    assert_eq!(
        store
            .open_job(desk.id, ids[3], 3, later, at(10))
            .await
            .unwrap(),
        Opened::Open
    );
    assert_eq!(
        store.opened_job_scope(desk.id, recently).await.unwrap(),
        [ids[2], ids[0], ids[3]]
    );
    // Closing: gone; closing again is no error.
    store.close_job(desk.id, ids[2]).await.unwrap();
    store.close_job(desk.id, ids[2]).await.unwrap();
    assert_eq!(
        store.opened_job_scope(desk.id, recently).await.unwrap(),
        [ids[0], ids[3]]
    );
}
