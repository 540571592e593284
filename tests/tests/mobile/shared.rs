//! A shared phone against a real server: two technicians on one app data
//! directory from Kotlin (each syncs their own work under their own login,
//! neither sees the other's job), the pending-change count and app version
//! the device reports on the users page, and a technician's own feedback
//! through the library (`myFeedback`).

use std::collections::BTreeMap;

use fieldsync_core::job::JobAction;
use fieldsync_core::{JobId, LineId, Role, Timestamp, UserId};
use fieldsync_ffi::{FieldsyncClient, FieldsyncError};
use fieldsync_server::feedback::Answer;
use fieldsync_server::feedback::questions::Value as Score;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::Value;

use crate::device::Device;
use crate::helpers::{PASSWORD, TestApp, actor, spawn_app};
use crate::kotlin::kotlin;
use crate::office::{create_job, get_job, job_id, new_job, price_book, put_price_book};
use crate::setup::ok;

/// The customer of every job here: none of it may reach a technician.
const CUSTOMER: &str = "Quintino Vasconcelos";

struct Office {
    app: TestApp,
    admin: String,
    ana: UserId,
    /// Ana's open job, Bruno's job, and Ana's completed, answered one.
    ana_job: JobId,
    bruno_job: JobId,
    answered: JobId,
}

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

/// Ana and Bruno, a job each, and an earlier visit of Ana's (done from
/// another device) that the customer rated 2/5 with a comment.
async fn office() -> Office {
    let app = spawn_app(TestBackend::Sqlite).await;
    app.user("admin", Role::Admin).await;
    app.user("dispatch", Role::Dispatcher).await;
    let ana = app.user("ana", Role::Technician).await;
    let bruno = app.user("bruno", Role::Technician).await;
    let admin = app.login("admin", &actor(1)).await.access_token;
    assert_eq!(
        put_price_book(&app, &admin, &price_book()).await.status(),
        200
    );
    let dispatch = app.login("dispatch", &actor(2)).await.access_token;
    let job =
        async |tech| job_id(&create_job(&app, &dispatch, &new_job(CUSTOMER, Some(tech))).await);
    let answered = job(ana).await;
    let ana_job = job(ana).await;
    let bruno_job = job(bruno).await;

    // The earlier visit, from Ana's old phone; then the customer answers.
    let mut old_phone = Device::login(&app, "ana", Role::Technician, 9).await;
    old_phone.sync(&app).await;
    for action in [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: LineId::from_uuid(uuid::Uuid::new_v4()),
            minutes: 45,
            rate: "standard".into(),
            description: "Replaced the valve".into(),
        },
        JobAction::CaptureSignature {
            signer: CUSTOMER.into(),
            image_sha256: "ab".repeat(32),
        },
        JobAction::Complete,
    ] {
        old_phone.act(answered, action, now());
    }
    old_phone.sync(&app).await;
    let path = format!("/v1/feedback/jobs/{answered}");
    let request = ok(&app, Method::GET, &admin, &path, None).await["request"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let values = BTreeMap::from([
        ("fixed".to_owned(), Score::Yes(false)),
        ("rating".to_owned(), Score::Score(2)),
        ("courtesy".to_owned(), Score::Score(4)),
        ("recommend".to_owned(), Score::Score(6)),
        ("comment".to_owned(), Score::Text("Came back twice".into())),
    ]);
    let answer = Answer {
        answered_at: time::OffsetDateTime::now_utc(),
        values,
    };
    app.store
        .submit_feedback(request, &answer, 3)
        .await
        .unwrap();
    Office {
        app,
        admin,
        ana,
        ana_job,
        bruno_job,
        answered,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_technicians_share_a_phone_in_kotlin() {
    let o = office().await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap().to_owned();
    let (server, a, b, done) = (
        o.app.url(""),
        o.ana_job.to_string(),
        o.bruno_job.to_string(),
        o.answered.to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        kotlin().java(
            "shared.SharedKt",
            &["shared", &store, &server, &a, &b, &done],
        )
    })
    .await
    .unwrap();
    assert!(out.contains("SHARED OK"), "{out}");
    assert!(
        out.contains("LOGGED_OUT NotLoggedIn") && out.contains("LIMIT InvalidInput"),
        "{out}"
    );
    let feedback = out
        .lines()
        .find(|l| l.starts_with("FEEDBACK "))
        .unwrap_or_else(|| panic!("no feedback printed: {out}"));
    assert_eq!(
        feedback,
        format!(
            "FEEDBACK job={} date={} low=true Fixed=no,Rating=2,Courtesy=4,Recommend=6 comment=Came back twice",
            o.answered,
            time::OffsetDateTime::now_utc().date()
        )
    );
    assert!(
        !out.contains(CUSTOMER) && !out.contains("customer@example.com"),
        "{out}"
    );

    // Each one's note reached their own job, sent under their own login.
    let notes = async |job| {
        let view: Value = get_job(&o.app, &o.admin, job).await.json().await.unwrap();
        view["job"]["notes"].as_str().unwrap_or_default().to_owned()
    };
    let (ana_notes, bruno_notes) = (notes(o.ana_job).await, notes(o.bruno_job).await);
    assert!(ana_notes.contains("ana offline note"), "{ana_notes}");
    assert!(!ana_notes.contains("bruno note"), "{ana_notes}");
    assert!(bruno_notes.contains("bruno note"), "{bruno_notes}");
    assert!(!bruno_notes.contains("ana offline note"), "{bruno_notes}");

    // The users page: Ana's shared tablet synced last with the one change
    // she made offline, and says which app it is.
    let path = format!("/v1/users/{}", o.ana);
    let user = ok(&o.app, Method::GET, &o.admin, &path, None).await;
    let devices = user["devices"].as_array().unwrap();
    let tablet = devices
        .iter()
        .find(|d| d["name"] == "Shared tablet")
        .unwrap_or_else(|| panic!("{user}"));
    assert_eq!(tablet["pending_changes"], 1, "{user}");
    assert_eq!(tablet["app_version"], "shared-phone 2.0 (kotlin)", "{user}");
    assert_eq!(
        devices
            .iter()
            .filter(|d| d["name"] == "Shared tablet")
            .count(),
        1,
        "one device for Ana on the tablet, however often she logged in: {user}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_gives_a_technician_their_own_feedback() {
    let o = office().await;
    let dir = tempfile::tempdir().unwrap();
    let (store, server, done) = (
        dir.path().to_str().unwrap().to_owned(),
        o.app.url(""),
        o.answered.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let c = FieldsyncClient::open(store).unwrap();
        assert_eq!(
            c.my_feedback(0, 20).unwrap_err(),
            FieldsyncError::NotLoggedIn
        );
        c.login(
            server.clone(),
            "ana".into(),
            PASSWORD.into(),
            "phone".into(),
        )
        .unwrap();
        let page = c.my_feedback(0, 20).unwrap();
        assert_eq!(page.items.len(), 1, "{page:?}");
        assert_eq!(page.next_offset, None);
        let f = &page.items[0];
        assert_eq!(f.job_id, done);
        assert!(f.low);
        assert_eq!(f.comment, "Came back twice");
        let labels: Vec<(&str, &str)> = f
            .answers
            .iter()
            .map(|a| (a.label.as_str(), a.value.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("Fixed", "no"),
                ("Rating", "2"),
                ("Courtesy", "4"),
                ("Recommend", "6")
            ]
        );
        assert_eq!(
            (f.answers[1].min, f.answers[1].max, f.answers[1].score),
            (Some(1), Some(5), Some(2))
        );
        assert!(f.answered_at_ms > 0);
        assert!(matches!(
            c.my_feedback(0, 101).unwrap_err(),
            FieldsyncError::InvalidInput { .. }
        ));
        // Past the end: an empty page.
        assert!(c.my_feedback(5, 20).unwrap().items.is_empty());
        // Bruno, on the same directory: nothing of Ana's.
        c.login(server, "bruno".into(), PASSWORD.into(), "phone".into())
            .unwrap();
        assert!(c.my_feedback(0, 20).unwrap().items.is_empty());
    })
    .await
    .unwrap();
}
