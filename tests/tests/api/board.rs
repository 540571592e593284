//! The dispatch board and the job page (issue #18 item 2): a dispatcher
//! reassigns a job on the board in Chromium and the old technician's phone
//! drops it on its next real sync while the new one's receives it; the
//! board's plain HTML forms alone (a session cookie and the CSRF token, no
//! JavaScript) filter, assign, reschedule and cancel, with clear errors;
//! the job page shows every section of a worked job with a conflict, a
//! payment, a refund and an attachment, and each change's writer and
//! server sync time. Screenshots: target/test-artifacts/dispatch-board.png,
//! job-page.png.

use fieldsync_core::job::{AttachmentKind, PaymentMethod};
use fieldsync_core::{JobAction, JobId, LineId, Money, Quantity, Role, Timestamp, UserId};
use fieldsync_server::testing::TestBackend;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console_client::Console;
use crate::device::Device;
use crate::helpers::{PASSWORD, TestApp, backend_tests, spawn_app_with};
use crate::office::{create_job, get_job, job_id, new_job, post_json};
use crate::sync::{office, van_for};
use crate::webdriver::{Browser, LAPTOP};

backend_tests!(the_board_works_with_plain_html_forms);

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

fn line() -> LineId {
    LineId::from_uuid(Uuid::new_v4())
}

fn artifacts() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts")
}

async fn view(app: &TestApp, token: &str, id: JobId) -> Value {
    let res = get_job(app, token, id).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The depot of `technician`'s van.
async fn depot_of(app: &TestApp, technician: UserId) -> String {
    let locations = app.store.locations().await.unwrap();
    locations
        .iter()
        .find(|l| l.technician_id == Some(technician))
        .and_then(|l| l.depot_id)
        .expect("a van in a depot")
        .to_string()
}

/// Today's day at `h:m` UTC, as a `datetime-local` value and as ms.
fn today_at(h: u8, m: u8) -> (String, i64) {
    let t = time::OffsetDateTime::now_utc()
        .date()
        .with_hms(h, m, 0)
        .unwrap()
        .assume_utc();
    (
        format!("{}T{h:02}:{m:02}", t.date()),
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap(),
    )
}

async fn the_board_works_with_plain_html_forms(backend: TestBackend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    let t2 = app.user("tech2", Role::Technician).await;
    van_for(&app, t1).await;
    van_for(&app, t2).await;
    let depot1 = depot_of(&app, t1).await;
    let a = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana Lima", Some(t1))).await);
    let b = job_id(&create_job(&app, &office.dispatcher, &new_job("Bruno Reis", None)).await);
    let c = job_id(&create_job(&app, &office.dispatcher, &new_job("Carla Dias", Some(t2))).await);
    let today = time::OffsetDateTime::now_utc().date().to_string();

    let mut console = Console::new(&app);
    let csrf = console.login("dispatch").await;
    let res = console.get("/console/dispatch").await;
    assert_eq!(res.status(), 200);
    // The page's own policy allows its one script, from this server only.
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let page = res.text().await.unwrap();
    for id in [a, b, c] {
        assert!(
            page.contains(&format!("data-job=\"{id}\"")),
            "job {id} on the board"
        );
    }
    let unassigned = &page[page.find("id=\"unassigned\"").expect("unassigned table")..];
    let unassigned = &unassigned[..unassigned.find("</table>").unwrap()];
    assert!(unassigned.contains(&b.to_string()) && !unassigned.contains(&a.to_string()));
    assert!(
        page.contains(&format!("href=\"/console/jobs/{a}\"")),
        "links to the job page"
    );
    let script = console.get("/console/dispatch.js").await;
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().contains("dragstart"));

    // Filters are GET parameters: tech1's depot shows tech1's job and the
    // unassigned one, not tech2's.
    let page = console
        .get(&format!("/console/dispatch?date={today}&depot={depot1}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("data-job=\"{a}\"")));
    assert!(page.contains(&format!("data-job=\"{b}\"")));
    assert!(!page.contains(&format!("data-job=\"{c}\"")));
    let page = console
        .get("/console/dispatch?status=cancelled")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains(&format!("data-job=\"{a}\"")));
    let page = console
        .get("/console/dispatch?date=2001-01-01")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains(&format!("data-job=\"{a}\"")), "another day");
    let res = console.get("/console/dispatch?date=yesterday").await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("not a YYYY-MM-DD day"));

    // Assign the unassigned job: 303 back to the same view, then the API
    // shows the technician.
    let res = console
        .post(
            &format!("/console/dispatch/jobs/{b}/assign"),
            &[
                ("csrf", &csrf),
                ("date", &today),
                ("depot", &depot1),
                ("technician", &t2.to_string()),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        to,
        format!("/console/dispatch?date={today}&depot={depot1}&done=assigned")
    );
    assert!(
        console
            .get(&to)
            .await
            .text()
            .await
            .unwrap()
            .contains("The job was assigned.")
    );
    let v = view(&app, &office.dispatcher, b).await;
    assert_eq!(v["job"]["technician"], json!(t2.to_string()));

    // Reschedule: the window moves.
    let (start, start_ms) = today_at(13, 30);
    let (end, end_ms) = today_at(15, 0);
    let res = console
        .post(
            &format!("/console/dispatch/jobs/{a}/reschedule"),
            &[("csrf", &csrf), ("start", &start), ("end", &end)],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert_eq!(
        res.headers()["location"],
        "/console/dispatch?done=rescheduled"
    );
    let v = view(&app, &office.dispatcher, a).await;
    assert_eq!(
        v["job"]["window"],
        json!({"start": start_ms, "end": end_ms})
    );

    // An end before the start, or no date at all: the board again with the
    // error, and the job keeps its window.
    let res = console
        .post(
            &format!("/console/dispatch/jobs/{a}/reschedule"),
            &[("csrf", &csrf), ("start", &end), ("end", &start)],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Not done: the end is before the start")
    );
    let res = console
        .post(
            &format!("/console/dispatch/jobs/{a}/reschedule"),
            &[("csrf", &csrf), ("start", "soon"), ("end", &end)],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("is not a date and time"));
    let v = view(&app, &office.dispatcher, a).await;
    assert_eq!(
        v["job"]["window"],
        json!({"start": start_ms, "end": end_ms})
    );

    // Cancel needs a reason; with one the job is cancelled; a second
    // cancel is refused as the job's state does not allow it.
    let cancel = format!("/console/dispatch/jobs/{c}/cancel");
    let res = console
        .post(&cancel, &[("csrf", &csrf), ("reason", "  ")])
        .await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("give a reason to cancel")
    );
    assert_eq!(
        view(&app, &office.dispatcher, c).await["job"]["status"],
        "scheduled"
    );
    let res = console
        .post(
            &cancel,
            &[("csrf", &csrf), ("reason", "Customer called to cancel")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let v = view(&app, &office.dispatcher, c).await;
    assert_eq!(v["job"]["status"], "cancelled");
    assert_eq!(v["job"]["cancel_reason"], "Customer called to cancel");
    let res = console
        .post(&cancel, &[("csrf", &csrf), ("reason", "again")])
        .await;
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("Not done:"));
    // A card number is refused in the reason, as everywhere.
    let res = console
        .post(
            &format!("/console/dispatch/jobs/{a}/cancel"),
            &[("csrf", &csrf), ("reason", "card 4111 1111 1111 1111")],
        )
        .await;
    assert_eq!(res.status(), 400);
    // Assigning to someone who is not a technician is a form error.
    let dispatcher_id = app
        .store
        .user_credentials(&"dispatch".parse().unwrap())
        .await
        .unwrap()
        .user
        .id;
    let res = console
        .post(
            &format!("/console/dispatch/jobs/{a}/assign"),
            &[("csrf", &csrf), ("technician", &dispatcher_id.to_string())],
        )
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("is not a technician"));

    // Without the CSRF token nothing happens; an unknown job is a 404.
    let res = console
        .post(
            &format!("/console/dispatch/jobs/{a}/assign"),
            &[("technician", "")],
        )
        .await;
    assert_eq!(res.status(), 403);
    let res = console
        .post(
            &format!("/console/dispatch/jobs/{}/assign", Uuid::new_v4()),
            &[("csrf", &csrf), ("technician", "")],
        )
        .await;
    assert_eq!(res.status(), 404);
    let v = view(&app, &office.dispatcher, a).await;
    assert_eq!(v["job"]["technician"], json!(t1.to_string()));
    assert_eq!(v["job"]["status"], "scheduled");

    // The job page lists every change with the server's time it was
    // stored (a receipt per change, on this database too).
    let receipts = app
        .store
        .change_receipts(&fieldsync_core::DocId::Job(a))
        .await
        .unwrap();
    assert!(receipts.len() >= 2, "created and rescheduled: {receipts:?}");
    let page = console
        .get(&format!("/console/jobs/{a}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(page.matches("<tr class=\"change\"").count(), receipts.len());
    assert!(!page.contains("before sync times were kept"));
    assert!(page.contains("edit_window"), "the reschedule is a change");

    // A technician has no board.
    let mut tech = Console::new(&app);
    let tech_csrf = tech.login("tech1").await;
    assert_eq!(tech.get("/console/dispatch").await.status(), 403);
    let res = tech
        .post(
            &format!("/console/dispatch/jobs/{a}/assign"),
            &[("csrf", &tech_csrf), ("technician", "")],
        )
        .await;
    assert_eq!(res.status(), 403);
}

/// Polls `script` in the page (bounded) until it returns `want`.
async fn wait_for(b: &Browser, script: &str, want: Value) {
    let mut got = Value::Null;
    for _ in 0..100 {
        got = b.eval(script).await;
        if got == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{script} gave {got}, wanted {want}");
}

/// The story of the issue: a dispatcher reassigns a job on the board, in
/// Chromium; tech1's phone drops it on its next sync, tech2's receives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_reassigns_on_the_board_and_the_phone_drops_the_job() {
    let app = spawn_app_with(TestBackend::Sqlite, |s| s.console_insecure_cookies = true).await;
    let office = office(&app).await;
    let t1 = app.user("tech1", Role::Technician).await;
    let t2 = app.user("tech2", Role::Technician).await;
    van_for(&app, t1).await;
    van_for(&app, t2).await;
    let id = job_id(&create_job(&app, &office.dispatcher, &new_job("Ana Lima", Some(t1))).await);
    let loose = job_id(&create_job(&app, &office.dispatcher, &new_job("Bruno Reis", None)).await);
    let mut phone1 = Device::login(&app, "tech1", Role::Technician, 1).await;
    let mut phone2 = Device::login(&app, "tech2", Role::Technician, 2).await;
    phone1.sync(&app).await;
    phone2.sync(&app).await;
    assert!(phone1.holds(id) && !phone2.holds(id));

    let b = Browser::start(LAPTOP).await;
    b.console_login(&app.url(""), "dispatch", PASSWORD).await;
    b.goto(&app.url("/console/dispatch")).await;
    assert_eq!(
        b.text(&format!(
            "tr.tech[data-technician='{t1}'] a.bar[data-job='{id}']"
        ))
        .await,
        "09:00 Ana Lima"
    );
    b.click(&format!("#tech-{id} option[value='{t2}']")).await;
    b.click(&format!("tr[data-job='{id}'] button.assign")).await;
    b.wait_for_path(|p| p.contains("done=assigned")).await;
    assert_eq!(b.text("#notice").await, "The job was assigned.");
    // The bar moved to tech2's row.
    wait_for(
        &b,
        &format!(
            "return document.querySelector(\"tr.tech[data-technician='{t2}'] a.bar[data-job='{id}']\") !== null;"
        ),
        json!(true),
    )
    .await;
    let bytes = b.screenshot(&artifacts().join("dispatch-board.png")).await;
    assert!(bytes > 1000);

    // The old technician's phone drops the job at its next sync; the new
    // one's receives it.
    let synced = phone1.sync(&app).await;
    assert!(
        synced.removed().contains(&fieldsync_core::DocId::Job(id)),
        "{synced:?}"
    );
    assert!(!phone1.holds(id));
    phone2.sync(&app).await;
    assert!(phone2.holds(id));
    assert_eq!(phone2.job(id).technician, Some(t2));

    // With JavaScript, a bar dropped on a technician's row assigns the job
    // (the script submits the same assign form).
    b.eval(&format!(
        "const dt = new DataTransfer(); \
         document.querySelector(\"a.bar[data-job='{loose}']\").dispatchEvent(new DragEvent('dragstart', {{dataTransfer: dt, bubbles: true}})); \
         document.querySelector(\"tr.tech[data-technician='{t1}']\").dispatchEvent(new DragEvent('drop', {{dataTransfer: dt, bubbles: true, cancelable: true}})); \
         return null;"
    ))
    .await;
    wait_for(
        &b,
        &format!(
            "return document.querySelector(\"tr.tech[data-technician='{t1}'] a.bar[data-job='{loose}']\") !== null;"
        ),
        json!(true),
    )
    .await;
    let v = view(&app, &office.dispatcher, loose).await;
    assert_eq!(v["job"]["technician"], json!(t1.to_string()));

    // The bar links to the job page.
    b.click(&format!("a.bar[data-job='{id}']")).await;
    b.wait_for_path(|p| p == format!("/console/jobs/{id}"))
        .await;
    assert_eq!(b.text("#technician").await, "tech2");
    b.quit().await;
}

/// A worked job: labour, a part, a note, the checklist answered on two
/// devices at once (a conflict), a payment, a refund the office gave, a
/// photo and a signature. The job page shows each, and every change with
/// its writer and server sync time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_job_page_shows_every_section() {
    let app = spawn_app_with(TestBackend::Sqlite, |s| s.console_insecure_cookies = true).await;
    let office = office(&app).await;
    let tech = app.user("tech", Role::Technician).await;
    let van = van_for(&app, tech).await;
    let created = create_job(&app, &office.dispatcher, &new_job("Ana Lima", Some(tech))).await;
    let id = job_id(&created);
    let item: LineId = created["job"]["checklist"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut phone = Device::login(&app, "tech", Role::Technician, 1).await;
    let mut tablet = Device::login(&app, "tech", Role::Technician, 2).await;
    phone.sync(&app).await;
    phone.act(id, JobAction::StartTravel, now());
    phone.act(id, JobAction::Arrive, now());
    assert!(phone.sync(&app).await.rejected().is_empty());
    assert!(tablet.sync(&app).await.rejected().is_empty());

    let payment = line();
    let photo = "cd".repeat(32);
    for action in [
        JobAction::AddLabour {
            entry: line(),
            minutes: 45,
            rate: "standard".into(),
            description: "Replaced valve".into(),
        },
        JobAction::UsePart {
            line: line(),
            sku: "VALVE-22".parse().unwrap(),
            quantity: Quantity::new(1).unwrap(),
            serials: vec![],
            van,
        },
        JobAction::AddNote {
            text: "Pressure was low".into(),
        },
        JobAction::AnswerChecklist {
            item,
            value: "yes".into(),
        },
        JobAction::RecordPayment {
            payment,
            method: PaymentMethod::Cash,
            amount: Money(5000),
            reference: Some("R-17".into()),
        },
        JobAction::AddAttachment {
            attachment: line(),
            sha256: photo.clone(),
            size: 2048,
            media_type: "image/jpeg".into(),
            kind: AttachmentKind::Before,
            caption: "Boiler before".into(),
        },
        JobAction::CaptureSignature {
            signer: "Ana Lima".into(),
            image_sha256: "ab".repeat(32),
        },
    ] {
        phone.act(id, action, now());
    }
    assert!(phone.sync(&app).await.rejected().is_empty());
    // The tablet, not yet synced, answers the same question otherwise.
    tablet.act(
        id,
        JobAction::AnswerChecklist {
            item,
            value: "no".into(),
        },
        now(),
    );
    assert!(tablet.sync(&app).await.rejected().is_empty());
    let res = post_json(
        &app,
        &office.dispatcher,
        &format!("/v1/jobs/{id}/refunds"),
        &json!({"id": Uuid::new_v4(), "kind": "refund", "against": payment.to_string(),
                "amount": 1000, "reason": "Valve was on offer"}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let api = view(&app, &office.dispatcher, id).await;
    assert_eq!(
        api["job"]["conflicts"][0]["field"],
        format!("/answers/{item}")
    );
    // Every change the server stored has its receipt.
    let changes = app
        .store
        .change_receipts(&fieldsync_core::DocId::Job(id))
        .await
        .unwrap()
        .len();
    assert!(changes >= 10, "{changes} receipts");

    let b = Browser::start(LAPTOP).await;
    b.console_login(&app.url(""), "dispatch", PASSWORD).await;
    b.goto(&app.url(&format!("/console/jobs/{id}"))).await;
    assert_eq!(b.text("#status").await, "on_site");
    assert!(b.text("#status-history").await.contains("on_site"));
    let conflict = b
        .eval(&format!(
            "return Array.from(document.querySelectorAll(\"#conflicts tr[data-field='/answers/{item}'] td.writer\")).map(e => e.textContent);"
        ))
        .await;
    assert_eq!(
        conflict.as_array().map(Vec::len),
        Some(2),
        "two values: {conflict}"
    );
    assert!(
        conflict
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w.as_str().unwrap().starts_with("tech on \"test device\"")),
        "{conflict}"
    );
    assert!(b.text("#parts").await.contains("VALVE-22"));
    assert!(b.text("#labour").await.contains("Replaced valve"));
    assert!(b.text("#notes").await.contains("Pressure was low"));
    let answer = b.text("#checklist td.answer").await;
    assert!(answer == "yes" || answer == "no", "{answer}");
    assert_eq!(
        b.text("#bill #total").await,
        format!(
            "{} EUR",
            fieldsync_core::Money(api["billing"]["total"].as_i64().unwrap())
        )
    );
    assert_eq!(b.text("#bill #paid").await, "50.00 EUR");
    assert!(b.text("#payments").await.contains("R-17"));
    assert!(b.text("#refunds").await.contains("Valve was on offer"));
    assert!(b.text("#signature").await.contains("Ana Lima"));
    assert!(
        b.text(&format!("#attachments figure[data-sha256='{photo}']"))
            .await
            .contains("Boiler before")
    );
    // Every change with its writer and the server's time it was stored.
    let rows = b
        .eval(
            "return Array.from(document.querySelectorAll('#changes tr.change')).map(r => \
             [r.querySelector('td.what').textContent, r.querySelector('td.writer').textContent, \
              r.querySelector('td.synced').textContent]);",
        )
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), changes, "one row per stored change: {rows:?}");
    let today = time::OffsetDateTime::now_utc().date().to_string();
    for r in rows {
        assert!(r[2].as_str().unwrap().starts_with(&today), "{r}");
    }
    let by = |what: &str| {
        rows.iter()
            .find(|r| r[0] == what)
            .unwrap_or_else(|| panic!("no {what} change in {rows:?}"))[1]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(by("record_payment"), "tech on \"test device\"");
    assert_eq!(by("give_refund"), "dispatch (office)");
    let bytes = b.screenshot(&artifacts().join("job-page.png")).await;
    assert!(bytes > 1000);
    b.quit().await;
}
