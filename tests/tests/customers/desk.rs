//! The service desk end to end (issue 17 items 1-3), over real HTTP and
//! `/v1/sync`, on SQLite and PostgreSQL: a technician logs a sales lead
//! offline on site, it reaches the sales queue after sync, a salesperson
//! takes it and escalates it to the supervisor's board, and the
//! engineering user cannot see it; a low feedback result becomes a
//! complaint in engineering's queue; an SLA breach (the server's injected
//! clock) alerts the team's supervisor once, through the outbox.

use fieldsync_core::job::{ContactCategory, ContactChannel, ContactDirection};
use fieldsync_core::{DocId, JobAction, JobDoc, JobId, LineId, Role, Status, Timestamp};
use fieldsync_server::feedback::questions::Value as Answered;
use fieldsync_server::feedback::{Answer, Channel, FeedbackTrigger, MessageKind};
use fieldsync_server::store::DocCommit;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{TestApp, backend_tests, spawn_app};
use crate::office::job_id;
use crate::setup::{self, Depot, ok};
use crate::support::{Made, call, customer, echoes_card, job_from_registry};

backend_tests!(
    a_sales_lead_logged_offline_reaches_sales_only,
    a_low_feedback_result_is_a_complaint_in_engineerings_queue,
    an_sla_breach_alerts_the_supervisor_once,
    a_system_item_is_opened_once_per_source_and_resolved_by_it,
    a_contract_due_for_renewal_reaches_sales_once_per_term,
    a_queue_pages_in_a_stable_order_and_an_items_priority_changes,
);

/// The desk's pages in headless Chromium (one backend: they read the same
/// service as the API, which the tests above run on both): engineering's
/// queue (and "Take"), the supervisor's escalation board and the
/// customer's contact timeline, with screenshots in target/test-artifacts/.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_the_board_and_the_timeline_in_a_browser() {
    use crate::webdriver::{Browser, LAPTOP};
    let w = world(TestBackend::Sqlite).await;
    let app = &w.app;
    let mut logged = Vec::new();
    for (token, category, summary) in [
        (&w.eng, "technical", "Boiler pressure drops overnight"),
        (&w.sales, "sales_lead", "Asks for a quote for solar panels"),
    ] {
        let item = ok(
            app,
            Method::POST,
            token,
            "/v1/desk/contacts",
            Some(json!({
                "id": Uuid::new_v4(), "customer_id": w.acme.customer, "channel": "phone",
                "direction": "inbound", "category": category, "summary": summary,
            })),
        )
        .await;
        logged.push(item["id"].as_str().unwrap().to_owned());
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");

    // 1. The engineering user's queue: their item, taken with one click.
    let b = Browser::start(LAPTOP).await;
    b.console_login(&app.url(""), "eng1", crate::helpers::PASSWORD)
        .await;
    let queue = app.url("/console/desk/queues/engineering");
    b.goto(&queue).await;
    assert_eq!(b.text("h1").await, "Queue: engineering");
    let row = format!("tr[data-item='{}']", logged[0]);
    assert_eq!(
        b.text(&format!("{row} td.summary")).await,
        "Boiler pressure drops overnight"
    );
    assert_eq!(b.text(&format!("{row} td.state")).await, "new");
    // Its age, from the item's created_at: just logged.
    let age = b.text(&format!("{row} td.age")).await;
    assert!(
        age.strip_suffix(" min")
            .is_some_and(|m| m.parse::<u32>().is_ok_and(|m| m < 10)),
        "{age}"
    );
    b.click(&format!("{row} form.take button")).await;
    // The form posts and the queue reloads: read the owner by script (no
    // element handle goes stale while the page changes).
    let script = format!(
        "var e = document.querySelector(\"{row} td.owner\"); return e ? e.textContent : null;"
    );
    let mut owner = Value::Null;
    for _ in 0..100 {
        owner = b.eval(&script).await;
        if owner == "eng1" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(owner, "eng1");
    assert_eq!(b.text(&format!("{row} td.state")).await, "in_progress");
    // Its priority changed from the page's form: the page reloads with it.
    b.eval(&format!(
        "document.querySelector(\"{row} form.priority select\").value = 'urgent'; \
         document.querySelector(\"{row} form.priority button\").click(); return null;"
    ))
    .await;
    let script = format!(
        "var e = document.querySelector(\"{row} form.priority option[selected]\"); \
         return e ? e.value : null;"
    );
    let mut chosen = Value::Null;
    for _ in 0..100 {
        chosen = b.eval(&script).await;
        if chosen == "urgent" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(chosen, "urgent");
    let item = ok(
        app,
        Method::GET,
        &w.eng,
        &format!("/v1/desk/items/{}", logged[0]),
        None,
    )
    .await;
    assert_eq!(item["priority"], "urgent");
    assert_eq!(
        item["history"].as_array().unwrap().last().unwrap()["kind"],
        "priority"
    );
    let body = b.text("body").await;
    assert!(!body.contains("solar panels"), "sales' item: {body}");
    assert!(b.screenshot(&dir.join("desk-queue-page.png")).await > 1000);
    // Sales' queue is not theirs: not found.
    b.goto(&app.url("/console/desk/queues/sales")).await;
    let body = b.text("body").await;
    assert!(!body.contains("solar panels"), "{body}");
    assert_ne!(b.text("h1").await, "Queue: sales");
    b.quit().await;

    // 2. Escalated: on the supervisor's board, with the reason.
    ok(
        app,
        Method::POST,
        &w.eng,
        &format!("/v1/desk/items/{}/escalate", logged[0]),
        Some(json!({"reason": "Needs a site survey, over my limit"})),
    )
    .await;
    let b = Browser::start(LAPTOP).await;
    b.console_login(&app.url(""), "boss", crate::helpers::PASSWORD)
        .await;
    b.goto(&app.url("/console/desk/escalations")).await;
    assert_eq!(b.text("h1").await, "Escalation board");
    assert_eq!(
        b.text(&format!("{row} td.reason")).await,
        "Needs a site survey, over my limit"
    );
    assert_eq!(b.text(&format!("{row} td.owner")).await, "eng1");
    assert!(b.screenshot(&dir.join("desk-escalation-board.png")).await > 1000);

    // 3. The customer's timeline: both contacts, newest first, with teams.
    b.click(&format!("{row} td.customer a")).await;
    let path = b
        .wait_for_path(|p| p.starts_with("/console/desk/customers/"))
        .await;
    assert_eq!(path, format!("/console/desk/customers/{}", w.acme.customer));
    assert_eq!(b.text("h1").await, "Contacts: Acme Boilers");
    let timeline = b.text("ol.timeline").await;
    let solar = timeline.find("solar panels").expect("the sales lead");
    let boiler = timeline.find("pressure drops").expect("the technical one");
    assert!(solar < boiler, "newest first: {timeline}");
    assert!(
        timeline.contains("sales") && timeline.contains("engineering"),
        "{timeline}"
    );
    assert!(b.screenshot(&dir.join("desk-customer-timeline.png")).await > 1000);
    b.quit().await;
}

const BOSS_EMAIL: &str = "boss@fieldsync.example";

/// A depot (admin, manager, technician "tech"), customer Acme with a
/// boiler, a job of the boiler assigned to the technician; desk users
/// "sales1" (sales team), "eng1" (engineering) and supervisor "boss" of
/// both teams, with an email.
struct World {
    app: TestApp,
    d: Depot,
    acme: Made,
    job: JobId,
    sales: String,
    eng: String,
    boss: String,
}

async fn world(backend: TestBackend) -> World {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    let depot = d.depot.to_string();
    let acme = customer(&app, &d.admin, &depot, "Acme Boilers", "BX-1", "2031-01-31").await;
    let sales_id = app.user("sales1", Role::Dispatcher).await;
    let eng_id = app.user("eng1", Role::Dispatcher).await;
    let boss_id = app.user("boss", Role::Supervisor).await;
    app.store
        .set_user_profile(boss_id, Some("Bea Boss"), Some(BOSS_EMAIL))
        .await
        .unwrap();
    for (team, member) in [("sales", sales_id), ("engineering", eng_id)] {
        ok(
            &app,
            Method::PUT,
            &d.admin,
            &format!("/v1/desk/teams/{team}"),
            Some(json!({"members": [member.to_string()], "supervisor_id": boss_id.to_string()})),
        )
        .await;
    }
    let tech = d.tech.to_string();
    let job = job_id(
        &ok(
            &app,
            Method::POST,
            &d.admin,
            "/v1/jobs",
            Some(job_from_registry(
                json!({"asset_id": acme.asset}),
                Some(&tech),
            )),
        )
        .await,
    );
    let sales = app
        .login("sales1", &crate::helpers::actor(150))
        .await
        .access_token;
    let eng = app
        .login("eng1", &crate::helpers::actor(151))
        .await
        .access_token;
    let boss = app
        .login("boss", &crate::helpers::actor(152))
        .await
        .access_token;
    World {
        app,
        d,
        acme,
        job,
        sales,
        eng,
        boss,
    }
}

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

fn log_contact(category: ContactCategory, summary: &str) -> JobAction {
    JobAction::LogContact {
        contact: LineId::from_uuid(Uuid::new_v4()),
        channel: ContactChannel::OnSite,
        direction: ContactDirection::Inbound,
        category,
        summary: summary.into(),
    }
}

fn items(list: &Value) -> &Vec<Value> {
    list["items"].as_array().unwrap()
}

async fn a_sales_lead_logged_offline_reaches_sales_only(backend: TestBackend) {
    let w = world(backend).await;
    let (app, job) = (&w.app, w.job);

    // 1. On site, offline, the customer asks about a second appliance.
    let mut tech = Device::login(app, "tech", Role::Technician, 43).await;
    assert!(tech.sync(app).await.rejected().is_empty());
    tech.act(job, JobAction::StartTravel, now());
    tech.act(job, JobAction::Arrive, now());
    // A card number in the summary is refused on the device.
    let mut probe = JobDoc::from_trusted(tech.docs[&DocId::Job(job)].clone());
    let refused = probe.apply(
        &log_contact(ContactCategory::SalesLead, "pays with 4111 1111 1111 1111"),
        fieldsync_core::Principal::new(tech.user(), Role::Technician),
        now(),
    );
    assert!(refused.is_err(), "{refused:?}");
    tech.act(
        job,
        log_contact(
            ContactCategory::SalesLead,
            "Wants a quote for a second boiler in the annex",
        ),
        now(),
    );
    let before = ok(app, Method::GET, &w.sales, "/v1/desk/queues/sales", None).await;
    assert!(items(&before).is_empty(), "offline: nothing yet {before}");

    // 2. After sync it is in the sales queue, about Acme and the job.
    assert!(tech.sync(app).await.rejected().is_empty());
    let queue = ok(app, Method::GET, &w.sales, "/v1/desk/queues/sales", None).await;
    assert_eq!(items(&queue).len(), 1, "{queue}");
    let item = &items(&queue)[0];
    assert_eq!(item["state"], "new");
    assert_eq!(item["team"], "sales");
    assert_eq!(item["contact"]["category"], "sales_lead");
    assert_eq!(item["contact"]["channel"], "on_site");
    assert_eq!(item["contact"]["source"], "device");
    assert_eq!(item["contact"]["customer_id"], w.acme.customer.as_str());
    assert_eq!(item["contact"]["job_id"], job.to_string());
    assert_eq!(item["contact"]["logged_by"], w.d.tech.to_string());
    let id = item["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/desk/items/{id}");

    // A second sync (the job committed again) logs nothing twice.
    tech.act(
        job,
        JobAction::AddNote {
            text: "Done.".into(),
        },
        now(),
    );
    assert!(tech.sync(app).await.rejected().is_empty());
    let queue = ok(app, Method::GET, &w.sales, "/v1/desk/queues/sales", None).await;
    assert_eq!(items(&queue).len(), 1, "{queue}");

    // 3. The engineering user sees neither the queue nor the item.
    for (method, p, body) in [
        (Method::GET, "/v1/desk/queues/sales".to_owned(), None),
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(json!({"take": true}))),
        (
            Method::POST,
            format!("{path}/escalate"),
            Some(json!({"reason": "mine now"})),
        ),
    ] {
        let (status, body) = call(app, method, &w.eng, &p, body).await;
        assert_eq!(status, 404, "{p}: {body}");
    }
    let eng_queue = ok(
        app,
        Method::GET,
        &w.eng,
        "/v1/desk/queues/engineering",
        None,
    )
    .await;
    assert!(items(&eng_queue).is_empty(), "{eng_queue}");

    // 4. The salesperson takes it: owner, in progress, in its history.
    let taken = ok(
        app,
        Method::PATCH,
        &w.sales,
        &path,
        Some(json!({"take": true})),
    )
    .await;
    assert_eq!(taken["owner_name"], "sales1");
    assert_eq!(taken["state"], "in_progress");
    let kinds: Vec<&str> = taken["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["routed", "assigned", "state"], "{taken}");

    // 5. Escalated with a reason: on the supervisor's board, in the history.
    let (status, body) = call(
        app,
        Method::POST,
        &w.sales,
        &format!("{path}/escalate"),
        Some(json!({"reason": "Asks 4111 1111 1111 1111 be charged"})),
    )
    .await;
    assert_eq!(status, 400, "a card number is refused: {body}");
    let escalated = ok(
        app,
        Method::POST,
        &w.sales,
        &format!("{path}/escalate"),
        Some(json!({"reason": "Wants a discount beyond my limit"})),
    )
    .await;
    assert_eq!(escalated["escalated"], true);
    let last = escalated["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "escalated");
    assert_eq!(last["reason"], "Wants a discount beyond my limit");
    let board = ok(app, Method::GET, &w.boss, "/v1/desk/escalations", None).await;
    assert_eq!(items(&board).len(), 1, "{board}");
    assert_eq!(items(&board)[0]["id"], id.as_str());
    let (status, _) = call(app, Method::GET, &w.sales, "/v1/desk/escalations", None).await;
    assert_eq!(status, 403, "the board is the supervisor's");

    // 6. The customer's timeline lists it.
    let timeline = ok(
        app,
        Method::GET,
        &w.d.admin,
        &format!("/v1/desk/customers/{}/contacts", w.acme.customer),
        None,
    )
    .await;
    let contacts = timeline["contacts"].as_array().unwrap();
    assert_eq!(contacts.len(), 1, "{timeline}");
    assert_eq!(
        contacts[0]["summary"],
        "Wants a quote for a second boiler in the annex"
    );
    // The engineering user reads Acme's timeline without sales' contact.
    let theirs = ok(
        app,
        Method::GET,
        &w.eng,
        &format!("/v1/desk/customers/{}/contacts", w.acme.customer),
        None,
    )
    .await;
    assert_eq!(theirs["contacts"], json!([]), "{theirs}");
    let doc = ok(app, Method::GET, &w.d.admin, "/openapi.json", None).await;
    for path in [
        "/v1/desk/contacts",
        "/v1/desk/customers/{id}/contacts",
        "/v1/desk/queues/{team}",
        "/v1/desk/items/{id}",
        "/v1/desk/items/{id}/escalate",
        "/v1/desk/escalations",
        "/v1/desk/teams",
        "/v1/desk/teams/{team}",
        "/v1/desk/rules",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} not documented");
    }
}

async fn a_low_feedback_result_is_a_complaint_in_engineerings_queue(backend: TestBackend) {
    let w = world(backend).await;
    let app = &w.app;
    // A completed job's feedback request, committed as a sync would.
    let feedback_job = JobId::from_uuid(Uuid::new_v4());
    let t = FeedbackTrigger {
        request_id: Uuid::new_v4(),
        message_id: Uuid::new_v4(),
        job_id: feedback_job,
        job_status: Status::Completed,
        technician_id: Some(w.d.tech),
        customer_name: "Ana Lima".into(),
        channel: Channel::Email,
        contact: "ana@example.com".into(),
        opt_out_keys: vec!["ana@example.com".into()],
        visit_date: "2026-11-23".into(),
        work_done: "Replaced valve".into(),
        send_after: time::OffsetDateTime::now_utc(),
        max_attempts: 5,
    };
    let mut c = DocCommit::new(DocId::Job(feedback_job), 0);
    c.project(t.clone());
    app.store.commit(&c).await.unwrap();
    let low = Answer {
        answered_at: time::OffsetDateTime::now_utc(),
        values: [
            ("fixed", Answered::Yes(false)),
            ("rating", Answered::Score(1)),
            ("courtesy", Answered::Score(4)),
            ("recommend", Answered::Score(2)),
            ("comment", Answered::Text("Still leaking".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    };
    app.store
        .submit_feedback(t.request_id, &low, 3)
        .await
        .unwrap();

    let queue = ok(
        app,
        Method::GET,
        &w.eng,
        "/v1/desk/queues/engineering",
        None,
    )
    .await;
    assert_eq!(items(&queue).len(), 1, "{queue}");
    let item = &items(&queue)[0];
    assert_eq!(item["contact"]["category"], "complaint");
    assert_eq!(item["contact"]["channel"], "feedback");
    assert_eq!(item["contact"]["source"], "feedback");
    assert_eq!(item["contact"]["customer_name"], "Ana Lima");
    assert_eq!(item["contact"]["job_id"], feedback_job.to_string());
    assert_eq!(item["priority"], "high", "the default rule for complaints");
    let summary = item["contact"]["summary"].as_str().unwrap();
    assert!(summary.contains("Still leaking"), "{summary}");
    // Not in the sales queue.
    let sales = ok(app, Method::GET, &w.sales, "/v1/desk/queues/sales", None).await;
    assert!(items(&sales).is_empty(), "{sales}");
}

async fn an_sla_breach_alerts_the_supervisor_once(backend: TestBackend) {
    let w = world(backend).await;
    let app = &w.app;
    // The office logs a billing question; a rule sends billing to sales
    // when the summary names a quote, else finance (default rules).
    let (status, body) = call(
        app,
        Method::POST,
        &w.eng,
        "/v1/desk/contacts",
        Some(json!({
            "id": Uuid::new_v4(), "customer_id": w.acme.customer, "channel": "phone",
            "direction": "inbound", "category": "technical",
            "summary": "Boiler pressure drops overnight",
            "site_id": w.acme.site, "asset_id": w.acme.asset, "job_id": w.job,
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["contact"]["asset_id"], w.acme.asset.as_str());
    assert_eq!(body["contact"]["job_id"], w.job.to_string());
    assert_eq!(body["team"], "engineering");
    // A site, asset or job not the customer's: 400, nothing stored.
    for (key, value) in [
        ("site_id", Uuid::new_v4().to_string()),
        ("asset_id", Uuid::new_v4().to_string()),
        ("job_id", Uuid::new_v4().to_string()),
    ] {
        let mut contact = json!({
            "id": Uuid::new_v4(), "customer_id": w.acme.customer, "channel": "email",
            "direction": "inbound", "category": "billing", "summary": "Invoice question",
        });
        contact[key] = json!(value);
        let (status, body) = call(
            app,
            Method::POST,
            &w.eng,
            "/v1/desk/contacts",
            Some(contact),
        )
        .await;
        assert_eq!(status, 400, "{key}: {body}");
    }
    assert_eq!(body["priority"], "normal");
    // A card number in the summary: 400, nothing stored.
    let (status, body) = call(
        app,
        Method::POST,
        &w.eng,
        "/v1/desk/contacts",
        Some(json!({
            "id": Uuid::new_v4(), "customer_id": w.acme.customer, "channel": "phone",
            "direction": "inbound", "category": "billing",
            "summary": "Card 4111 1111 1111 1111 please",
        })),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(!echoes_card(&body.to_string()), "{body}");

    let sweep = || async { app.store.alert_breaches(app.clock.now(), 5).await.unwrap() };
    let alerts = || async {
        app.store
            .outbox_messages(None, None, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.kind == MessageKind::DeskAlert)
            .collect::<Vec<_>>()
    };
    // Within its 24 hours: nothing.
    assert_eq!(sweep().await, 0);
    assert!(alerts().await.is_empty());
    // A day and an hour later it is breached: one alert, then no more.
    app.clock.advance(time::Duration::hours(25));
    assert_eq!(sweep().await, 1);
    assert_eq!(sweep().await, 0);
    let sent = alerts().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].recipient, BOSS_EMAIL);
    assert_eq!(sent[0].channel, Channel::Email);
    let queue = ok(
        app,
        Method::GET,
        &w.eng,
        "/v1/desk/queues/engineering",
        None,
    )
    .await;
    assert_eq!(
        items(&queue).len(),
        1,
        "the refused contacts left nothing: {queue}"
    );
    assert_eq!(items(&queue)[0]["overdue"], true, "{queue}");
    let finance = ok(
        app,
        Method::GET,
        &w.d.admin,
        "/v1/desk/queues/finance",
        None,
    )
    .await;
    assert!(items(&finance).is_empty(), "{finance}");

    // Eight state changes at once: each answered, each in the history once,
    // in order (the item's row lock queues them on PostgreSQL).
    let id = items(&queue)[0]["id"].as_str().unwrap().to_owned();
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..8 {
        let (client, url, token) = (
            app.client.clone(),
            app.url(&format!("/v1/desk/items/{id}")),
            w.eng.clone(),
        );
        let state = ["in_progress", "waiting_on_customer"][n % 2];
        calls.spawn(async move {
            client
                .patch(url)
                .bearer_auth(token)
                .json(&json!({ "state": state }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    while let Some(status) = calls.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let item = ok(
        app,
        Method::GET,
        &w.eng,
        &format!("/v1/desk/items/{id}"),
        None,
    )
    .await;
    let history = item["history"].as_array().unwrap();
    assert_eq!(history.len(), 1 + 8, "{item}");
    for pair in history[1..].windows(2) {
        assert_eq!(
            pair[0]["to"], pair[1]["from"],
            "each change saw the one before: {item}"
        );
    }
}

/// An invoice's item in finance's queue: opened by the system (no
/// contact), once per source however often (and however concurrently) it
/// is asked for, in the queue with its source, taken like any item,
/// alerted once past its due time, resolved by its source with the reason
/// in its history; malformed ones are refused with nothing stored.
async fn a_system_item_is_opened_once_per_source_and_resolved_by_it(backend: TestBackend) {
    use fieldsync_server::desk::model::{DeskPriority, ItemSource, SourceKind, SystemItem, Team};
    use fieldsync_server::desk::service::{open_system_item, resolve_system_item};
    use fieldsync_server::desk::store::SystemItemError;
    let w = world(backend).await;
    let app = &w.app;
    let source = ItemSource {
        kind: SourceKind::Invoice,
        reference: Uuid::new_v4().to_string(),
    };
    let invoice = SystemItem {
        source: source.clone(),
        customer_id: Some(w.acme.customer.parse().unwrap()),
        customer_name: "Acme Boilers".into(),
        category: ContactCategory::Billing,
        summary: "Invoice INV-2026-7 open: 120.00 EUR of 200.00 EUR".into(),
        team: Team::Finance,
        priority: DeskPriority::Low,
    };
    // Two housekeeping rounds at once, then a third: one item.
    let (a, b) = tokio::join!(
        open_system_item(app.store.as_ref(), &invoice, app.clock.now()),
        open_system_item(app.store.as_ref(), &invoice, app.clock.now()),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.item_id, b.item_id);
    assert_eq!(
        usize::from(a.created) + usize::from(b.created),
        1,
        "{a:?} {b:?}"
    );
    let again = open_system_item(app.store.as_ref(), &invoice, app.clock.now())
        .await
        .unwrap();
    assert_eq!((again.item_id, again.created), (a.item_id, false));
    let id = a.item_id.to_string();

    // In finance's queue (the admin sees every team), with its source.
    let queue = ok(
        app,
        Method::GET,
        &w.d.admin,
        "/v1/desk/queues/finance",
        None,
    )
    .await;
    assert_eq!(items(&queue).len(), 1, "{queue}");
    let item = &items(&queue)[0];
    assert_eq!(item["id"], id.as_str());
    assert_eq!(item["contact"], Value::Null);
    assert_eq!(item["source"]["kind"], "invoice");
    assert_eq!(item["source"]["reference"], source.reference.as_str());
    assert_eq!(item["category"], "billing");
    assert_eq!(item["customer_name"], "Acme Boilers");
    assert_eq!(item["customer_id"], w.acme.customer.as_str());
    assert_eq!(item["summary"], invoice.summary.as_str());
    assert_eq!(item["priority"], "low");
    assert_eq!(item["state"], "new");
    // Another team's user: not found; not a contact on the timeline.
    let (status, _) = call(
        app,
        Method::GET,
        &w.sales,
        &format!("/v1/desk/items/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let timeline = ok(
        app,
        Method::GET,
        &w.d.admin,
        &format!("/v1/desk/customers/{}/contacts", w.acme.customer),
        None,
    )
    .await;
    assert_eq!(timeline["contacts"], json!([]), "{timeline}");

    // Taken like any item.
    let taken = ok(
        app,
        Method::PATCH,
        &w.d.admin,
        &format!("/v1/desk/items/{id}"),
        Some(json!({"take": true})),
    )
    .await;
    assert_eq!(taken["state"], "in_progress");
    assert_eq!(taken["history"][0]["kind"], "routed");
    assert_eq!(taken["history"][0]["to"], "finance");
    assert_eq!(
        taken["history"][0]["reason"],
        format!("invoice:{}", source.reference)
    );

    // Past its 72 hours: the SLA sweep marks it once (finance has no
    // supervisor here, so no mail).
    let sweep = || async { app.store.alert_breaches(app.clock.now(), 5).await.unwrap() };
    assert_eq!(sweep().await, 0);
    app.clock.advance(time::Duration::hours(73));
    assert_eq!(sweep().await, 1);
    assert_eq!(sweep().await, 0);

    // Settled: resolved by its source, once, with the reason.
    let settled = "invoice settled";
    assert!(
        resolve_system_item(app.store.as_ref(), &source, settled, app.clock.now())
            .await
            .unwrap()
    );
    assert!(
        !resolve_system_item(app.store.as_ref(), &source, settled, app.clock.now())
            .await
            .unwrap()
    );
    let unknown = ItemSource {
        kind: SourceKind::Invoice,
        reference: "no-such-invoice".into(),
    };
    assert!(
        !resolve_system_item(app.store.as_ref(), &unknown, settled, app.clock.now())
            .await
            .unwrap()
    );
    let queue = ok(
        app,
        Method::GET,
        &w.d.admin,
        "/v1/desk/queues/finance",
        None,
    )
    .await;
    assert!(items(&queue).is_empty(), "{queue}");
    let item = ok(
        app,
        Method::GET,
        &w.d.admin,
        &format!("/v1/desk/items/{id}"),
        None,
    )
    .await;
    assert_eq!(item["state"], "resolved");
    let last = item["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["kind"], "state");
    assert_eq!(last["to"], "resolved");
    assert_eq!(last["reason"], settled);
    assert_eq!(last["actor_id"], Value::Null);
    // Asked again after it was resolved: the same item, left resolved.
    let again = open_system_item(app.store.as_ref(), &invoice, app.clock.now())
        .await
        .unwrap();
    assert_eq!((again.item_id, again.created), (a.item_id, false));
    let item = ok(
        app,
        Method::GET,
        &w.d.admin,
        &format!("/v1/desk/items/{id}"),
        None,
    )
    .await;
    assert_eq!(item["state"], "resolved");

    // Malformed: refused, nothing stored.
    for bad in [
        SystemItem {
            source: ItemSource {
                kind: SourceKind::Contract,
                reference: " ".into(),
            },
            ..invoice.clone()
        },
        SystemItem {
            source: ItemSource {
                kind: SourceKind::Contract,
                reference: "c-1".into(),
            },
            summary: "card 4111 1111 1111 1111".into(),
            ..invoice.clone()
        },
        SystemItem {
            source: ItemSource {
                kind: SourceKind::Contract,
                reference: "c-2".into(),
            },
            customer_name: String::new(),
            ..invoice.clone()
        },
    ] {
        let e = open_system_item(app.store.as_ref(), &bad, app.clock.now())
            .await
            .unwrap_err();
        assert!(matches!(e, SystemItemError::Invalid(_)), "{e:?}");
        assert!(!echoes_card(&e.to_string()), "{e}");
    }
    let sales = ok(app, Method::GET, &w.d.admin, "/v1/desk/queues/sales", None).await;
    let finance = ok(
        app,
        Method::GET,
        &w.d.admin,
        "/v1/desk/queues/finance",
        None,
    )
    .await;
    assert!(
        items(&sales).is_empty() && items(&finance).is_empty(),
        "{sales} {finance}"
    );
}

/// A service contract term set through the API: within its notice period
/// of its end (the server's injected clock) the housekeeping round puts it
/// into sales' queue, once however many rounds run; renewing it (a later
/// end) resolves that item, and the new term gets its own when it is due.
async fn a_contract_due_for_renewal_reaches_sales_once_per_term(backend: TestBackend) {
    let w = world(backend).await;
    let app = &w.app;
    let customer = w.acme.customer.as_str();
    ok(
        app,
        Method::PATCH,
        &w.d.admin,
        &format!("/v1/customers/{customer}/assets/{}", w.acme.asset),
        Some(json!({"contract_ref": "SC-GOLD"})),
    )
    .await;
    let today = app.clock.today();
    let day = |d: time::Date| d.to_string();
    let ends = today + time::Duration::days(60);
    let path = format!("/v1/customers/{customer}/contracts/SC-GOLD");
    let term = |ends: time::Date| {
        json!({"starts_on": day(ends - time::Duration::days(365)), "ends_on": day(ends),
            "notice_days": 30})
    };
    // Bad terms: 400 with the reason; nobody's customer: 404; a
    // technician: 403. Nothing stored.
    for (p, body, status) in [
        (
            path.clone(),
            json!({"starts_on": day(ends), "ends_on": day(today), "notice_days": 30}),
            400,
        ),
        (
            path.clone(),
            json!({"starts_on": day(today), "ends_on": day(ends), "notice_days": 1000}),
            400,
        ),
        (
            path.clone(),
            json!({"starts_on": "0500-01-01", "ends_on": day(ends), "notice_days": 30}),
            400,
        ),
        (
            format!("/v1/customers/{customer}/contracts/SC-NONE"),
            term(ends),
            400,
        ),
        (
            format!("/v1/customers/{}/contracts/SC-GOLD", Uuid::new_v4()),
            term(ends),
            404,
        ),
    ] {
        let (got, body) = call(app, Method::PUT, &w.d.admin, &p, Some(body)).await;
        assert_eq!(got, status, "{p}: {body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    let tech = app
        .login("tech", &crate::helpers::actor(153))
        .await
        .access_token;
    let (got, _) = call(app, Method::PUT, &tech, &path, Some(term(ends))).await;
    assert_eq!(got, 403);
    let list = ok(
        app,
        Method::GET,
        &w.d.admin,
        &format!("/v1/customers/{customer}/contracts"),
        None,
    )
    .await;
    assert_eq!(list["contracts"], json!([]), "{list}");

    let set = ok(app, Method::PUT, &w.d.admin, &path, Some(term(ends))).await;
    assert_eq!(set["ends_on"], day(ends));
    assert_eq!(set["notice_from"], day(ends - time::Duration::days(30)));
    assert_eq!(set["renewal_for"], Value::Null);
    let contract = set["id"].as_str().unwrap().to_owned();

    let round = || fieldsync_server::app::housekeeping_round(&app.state);
    let sales_queue = || ok(app, Method::GET, &w.sales, "/v1/desk/queues/sales", None);
    // Sixty days before its end: not due.
    round().await;
    assert!(items(&sales_queue().await).is_empty());
    // Twenty-nine days before: due, once however many rounds run.
    app.clock.advance(time::Duration::days(31));
    round().await;
    round().await;
    let queue = sales_queue().await;
    assert_eq!(items(&queue).len(), 1, "{queue}");
    let item = items(&queue)[0].clone();
    assert_eq!(item["source"]["kind"], "contract");
    assert_eq!(
        item["source"]["reference"],
        format!("{contract}:{}", day(ends))
    );
    assert_eq!(item["category"], "contract");
    assert_eq!(item["customer_name"], "Acme Boilers");
    assert!(
        item["summary"].as_str().unwrap().contains("SC-GOLD"),
        "{item}"
    );
    let eng = ok(
        app,
        Method::GET,
        &w.eng,
        "/v1/desk/queues/engineering",
        None,
    )
    .await;
    assert!(items(&eng).is_empty(), "{eng}");
    let list = ok(
        app,
        Method::GET,
        &w.d.admin,
        &format!("/v1/customers/{customer}/contracts"),
        None,
    )
    .await;
    assert_eq!(list["contracts"][0]["renewal_for"], day(ends), "{list}");

    // Renewed for a year: the item is resolved, the queue empty; the new
    // term is not due yet.
    let renewed = ends + time::Duration::days(365);
    ok(app, Method::PUT, &w.d.admin, &path, Some(term(renewed))).await;
    round().await;
    assert!(items(&sales_queue().await).is_empty());
    let old = ok(
        app,
        Method::GET,
        &w.sales,
        &format!("/v1/desk/items/{}", item["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(old["state"], "resolved");
    assert_eq!(
        old["history"].as_array().unwrap().last().unwrap()["reason"],
        "contract renewed"
    );
    // A year on, the new term is due: its own item.
    app.clock.advance(time::Duration::days(365));
    round().await;
    round().await;
    let queue = sales_queue().await;
    assert_eq!(items(&queue).len(), 1, "{queue}");
    assert_ne!(items(&queue)[0]["id"], item["id"]);
    assert_eq!(
        items(&queue)[0]["source"]["reference"],
        format!("{contract}:{}", day(renewed))
    );
    let doc = ok(app, Method::GET, &w.d.admin, "/openapi.json", None).await;
    for p in [
        "/v1/customers/{id}/contracts",
        "/v1/customers/{id}/contracts/{reference}",
    ] {
        assert!(doc["paths"][p].is_object(), "{p} not documented");
    }
}

/// A queue read page by page (keyset cursor) lists every item once, in
/// the order of the whole queue; bad paging is a 400. Changing an item's
/// priority recomputes its due time from its creation, is kept in its
/// history and moves it in the queue.
async fn a_queue_pages_in_a_stable_order_and_an_items_priority_changes(backend: TestBackend) {
    let w = world(backend).await;
    let app = &w.app;
    for n in 0..5 {
        ok(
            app,
            Method::POST,
            &w.eng,
            "/v1/desk/contacts",
            Some(json!({
                "id": Uuid::new_v4(), "customer_id": w.acme.customer, "channel": "phone",
                "direction": "inbound", "category": "technical",
                "summary": format!("Radiator {n} cold"),
            })),
        )
        .await;
    }
    let ids = |list: &Value| -> Vec<String> {
        items(list)
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let queue = "/v1/desk/queues/engineering";
    let whole = ok(app, Method::GET, &w.eng, queue, None).await;
    assert_eq!(items(&whole).len(), 5, "{whole}");
    assert_eq!(whole["next"], Value::Null);
    let mut paged = Vec::new();
    let mut url = format!("{queue}?limit=2");
    let mut pages = 0;
    loop {
        let page = ok(app, Method::GET, &w.eng, &url, None).await;
        pages += 1;
        assert!(items(&page).len() <= 2, "{page}");
        paged.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => url = format!("{queue}?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(paged, ids(&whole), "pages in the queue's order, each once");
    for bad in [
        format!("{queue}?limit=0"),
        format!("{queue}?limit=201"),
        format!("{queue}?after=yesterday"),
        format!("{queue}?page=2"),
    ] {
        let (status, body) = call(app, Method::GET, &w.eng, &bad, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // The last item made urgent: due an hour after it was logged, first
    // in the queue, the change in its history.
    let last = ids(&whole).pop().unwrap();
    let path = format!("/v1/desk/items/{last}");
    let urgent = ok(
        app,
        Method::PATCH,
        &w.eng,
        &path,
        Some(json!({"priority": "urgent"})),
    )
    .await;
    let at = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(urgent["priority"], "urgent");
    assert_eq!(
        at(&urgent["due_at"]) - at(&urgent["contact"]["created_at"]),
        time::Duration::hours(1)
    );
    let entry = urgent["history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(entry["kind"], "priority");
    assert_eq!(entry["from"], "normal");
    assert_eq!(entry["to"], "urgent");
    assert_eq!(entry["actor_name"], "eng1");
    let now_first = ok(app, Method::GET, &w.eng, &format!("{queue}?limit=1"), None).await;
    assert_eq!(ids(&now_first), std::slice::from_ref(&last));
    // The same priority again, two changes at once, another team's user,
    // an unknown priority: refused, nothing changed.
    for (token, body, status) in [
        (&w.eng, json!({"priority": "urgent"}), 400),
        (&w.eng, json!({"priority": "low", "take": true}), 400),
        (&w.eng, json!({"priority": "someday"}), 400),
        (&w.sales, json!({"priority": "low"}), 404),
    ] {
        let (got, resp) = call(app, Method::PATCH, token, &path, Some(body)).await;
        assert_eq!(got, status, "{resp}");
    }
    let item = ok(app, Method::GET, &w.eng, &path, None).await;
    assert_eq!(item["priority"], "urgent");
    assert_eq!(item["history"].as_array().unwrap().len(), 2, "{item}");

    // Past its hour it alerts; made low again (due in 72 hours) it is not
    // overdue any more, and its new due time would alert again.
    app.clock.advance(time::Duration::hours(2));
    assert_eq!(
        app.store.alert_breaches(app.clock.now(), 5).await.unwrap(),
        1
    );
    let low = ok(
        app,
        Method::PATCH,
        &w.eng,
        &path,
        Some(json!({"priority": "low"})),
    )
    .await;
    assert_eq!(low["overdue"], false);
    assert_eq!(
        at(&low["due_at"]) - at(&low["contact"]["created_at"]),
        time::Duration::hours(72)
    );
    app.clock.advance(time::Duration::hours(71));
    // The four normal ones (24 h) and the low one (72 h) are all past due.
    assert_eq!(
        app.store.alert_breaches(app.clock.now(), 5).await.unwrap(),
        5
    );
}
