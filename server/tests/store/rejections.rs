//! The office's record of sync rejections
//! ([`fieldsync_server::jobs::RejectionStore`]).

use fieldsync_core::{JobId, Role};
use fieldsync_server::jobs::NewRejection;
use fieldsync_server::store::DeviceId;
use time::OffsetDateTime;

use crate::core::{device, user};
use crate::{job_doc, open};

conformance_tests!(
    rejections_are_kept_per_job_newest_first,
    a_batch_of_rejections_is_stored_whole_or_not_at_all,
);

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_750_000_000 + seconds).unwrap()
}

fn rejection(
    job: JobId,
    device: DeviceId,
    d: &fieldsync_server::store::Device,
    code: &str,
    t: i64,
) -> NewRejection {
    NewRejection {
        job_id: job,
        device_id: device,
        user_id: d.user_id,
        code: code.into(),
        message: format!("{code} at {t}"),
        change: (code != "foreign_actor").then(|| format!("{t:064x}")),
        at: at(t),
    }
}

async fn rejections_are_kept_per_job_newest_first(url: &str) {
    let store = open(url).await;
    let ana = user(store.as_ref(), "ana", Role::Technician).await;
    let bob = user(store.as_ref(), "bob", Role::Technician).await;
    let phone = device(store.as_ref(), &ana, 1).await;
    let tablet = device(store.as_ref(), &bob, 2).await;
    let (job, _) = job_doc();
    let (other, _) = job_doc();

    // Nothing to record is not an error and writes nothing.
    store.record_rejections(&[]).await.unwrap();
    assert!(store.job_rejections(job, 100).await.unwrap().is_empty());

    store
        .record_rejections(&[
            rejection(job, phone.id, &phone, "wrong_van", 10),
            rejection(other, phone.id, &phone, "forbidden", 20),
        ])
        .await
        .unwrap();
    store
        .record_rejections(&[rejection(job, tablet.id, &tablet, "foreign_actor", 30)])
        .await
        .unwrap();

    let list = store.job_rejections(job, 100).await.unwrap();
    let seen: Vec<_> = list
        .iter()
        .map(|r| {
            (
                r.code.as_str(),
                r.device_name.as_str(),
                r.username.as_str(),
                r.rejected_at,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("foreign_actor", "phone 2", "bob", at(30)),
            ("wrong_van", "phone 1", "ana", at(10)),
        ]
    );
    let newest = &list[0];
    assert_eq!((newest.device_id, newest.user_id), (tablet.id, bob.id));
    assert_eq!(newest.message, "foreign_actor at 30");
    assert_eq!(newest.change, None);
    assert_eq!(
        list[1].change.as_deref(),
        Some(format!("{:064x}", 10).as_str())
    );

    // The limit keeps the newest.
    let one = store.job_rejections(job, 1).await.unwrap();
    assert_eq!(one, list[..1]);
    // Another job's are its own; a job never rejected has none.
    let theirs = store.job_rejections(other, 100).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].code, "forbidden");
    assert!(
        store
            .job_rejections(job_doc().0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_batch_of_rejections_is_stored_whole_or_not_at_all(url: &str) {
    let store = open(url).await;
    let ana = user(store.as_ref(), "ana", Role::Technician).await;
    let phone = device(store.as_ref(), &ana, 1).await;
    let (job, _) = job_doc();
    // The second names a device that does not exist.
    let err = store
        .record_rejections(&[
            rejection(job, phone.id, &phone, "schema", 1),
            rejection(job, DeviceId::new_random(), &phone, "schema", 2),
        ])
        .await;
    assert!(err.is_err(), "an unknown device is refused");
    assert!(store.job_rejections(job, 100).await.unwrap().is_empty());
}
