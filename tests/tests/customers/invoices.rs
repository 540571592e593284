//! Issue 17 item 4 end to end, over real `/v1/sync` and HTTP on loopback,
//! on SQLite and PostgreSQL: a job's invoice is frozen and numbered when
//! its completion commits; the number and the frozen invoice reach the
//! device; a later price book leaves both alone; the customer gets it by
//! email (a real SMTP server) with a link to the printable page; payments
//! and refunds settle it; finance's list shows what is open with its age;
//! a reminder goes out once at its interval (injected clock); a credit
//! note that settles it takes it off the list. The same completion from
//! two devices at once is numbered once, and on PostgreSQL 50 concurrent
//! completions (some of whose transactions fail) get 1..=n without a gap.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use fieldsync_core::automerge::transaction::Transactable;
use fieldsync_core::automerge::{ROOT, ReadDoc};
use fieldsync_core::billing::bill;
use fieldsync_core::job::PaymentMethod;
use fieldsync_core::pricebook::read_price_book;
use fieldsync_core::{
    DocId, JobAction, JobDoc, JobId, LineId, Money, Principal, Role, Status, Timestamp,
};
use fieldsync_server::documents::{self, Derive, Edit, JobCommit, JobProjector, Projectors};
use fieldsync_server::feedback::MessageKind;
use fieldsync_server::invoices::InvoiceProjector;
use fieldsync_server::outbox::Worker;
use fieldsync_server::store::sql::{Query, Tx};
use fieldsync_server::store::{Projection, StoreError, now_utc};
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::{Value, json};

use crate::device::Device;
use crate::helpers::{PASSWORD, TestApp, actor, backend_tests, spawn_app_with};
use crate::office::{job_id, new_job, price_book, put_price_book};
use crate::setup::{self, ok};
use crate::smtp::SmtpSink;
use crate::support::call;
use crate::webdriver::{Browser, LAPTOP};

backend_tests!(
    a_completed_visit_is_invoiced_frozen_emailed_settled_and_chased,
    the_same_completion_from_two_devices_at_once_is_numbered_once,
    a_job_completed_before_invoicing_is_not_invoiced_by_a_later_edit,
    a_portuguese_customers_invoice_is_branded_and_in_portuguese
);

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

fn line() -> LineId {
    LineId::from_uuid(uuid::Uuid::new_v4())
}

fn year() -> i32 {
    time::OffsetDateTime::now_utc().year()
}

/// The visit up to completion: on site, an hour of labour, the signature,
/// `paid` by card (if any). Call-out 4500 + labour 6000 + 20% tax = 12600.
fn visit(labour: LineId, payment: LineId, paid: i64) -> Vec<JobAction> {
    let mut actions = vec![
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::AddLabour {
            entry: labour,
            minutes: 60,
            rate: "standard".into(),
            description: "Replaced the igniter".into(),
        },
        JobAction::CaptureSignature {
            signer: "Ana Lima".into(),
            image_sha256: "ab".repeat(32),
        },
    ];
    if paid > 0 {
        actions.push(JobAction::RecordPayment {
            payment,
            method: PaymentMethod::Card,
            amount: Money(paid),
            reference: Some("TERM-9".into()),
        });
    }
    actions
}

struct Scene {
    app: TestApp,
    d: setup::Depot,
    office: String,
}

async fn scene(backend: TestBackend, smtp_port: Option<u16>) -> Scene {
    let app = spawn_app_with(backend, |s| {
        let f = &mut s.feedback;
        // The test drives the outbox itself.
        f.outbox_worker = false;
        if let Some(port) = smtp_port {
            f.smtp_host = Some("127.0.0.1".into());
            f.smtp_port = port;
            f.smtp_tls = fieldsync_server::feedback::SmtpTls::None;
            f.mail_from = "Fieldsync <billing@fieldsync.test>".into();
        }
        s.invoices.invoice_reminder_days = vec![14, 30];
    })
    .await;
    let d = setup::depot(&app).await;
    let res = put_price_book(&app, &d.admin, &price_book()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(90)).await.access_token;
    Scene { app, d, office }
}

impl Scene {
    /// A job for the depot's technician; its customer (with an email)
    /// opted out of feedback requests, so the outbox holds invoices only.
    async fn job(&self, customer: &str) -> JobId {
        let mut body = new_job(customer, Some(self.d.tech));
        body["customer"]["feedback_opt_out"] = json!(true);
        job_id(
            &ok(
                &self.app,
                Method::POST,
                &self.office,
                "/v1/jobs",
                Some(body),
            )
            .await,
        )
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = call(&self.app, Method::GET, &self.office, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    /// Finance's open queue items (the admin sees every team's queue).
    async fn finance_queue(&self) -> Vec<Value> {
        let (status, q) = call(
            &self.app,
            Method::GET,
            &self.d.admin,
            "/v1/desk/queues/finance",
            None,
        )
        .await;
        assert_eq!(status, 200, "{q}");
        q["items"].as_array().unwrap().clone()
    }

    async fn invoice_kinds(&self) -> Vec<(MessageKind, String)> {
        let mut m: Vec<(MessageKind, String)> = self
            .app
            .store
            .outbox_messages(None, None, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| matches!(m.kind, MessageKind::Invoice | MessageKind::InvoiceReminder))
            .map(|m| (m.kind, m.idempotency_key))
            .collect();
        m.sort_by(|a, b| a.1.cmp(&b.1));
        m
    }
}

async fn a_completed_visit_is_invoiced_frozen_emailed_settled_and_chased(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let s = scene(backend, Some(smtp.port)).await;
    let app = &s.app;
    let id = s.job("Ana Lima").await;
    let mut phone = Device::login(app, "tech", Role::Technician, 91).await;
    assert!(phone.sync(app).await.rejected().is_empty());
    let (labour, payment) = (line(), line());
    for action in visit(labour, payment, 8000) {
        phone.act(id, action, now());
    }
    phone.act(id, JobAction::Complete, now());
    let on_site = bill(&phone.job(id), &read_book(&phone)).unwrap();
    assert_eq!(
        (on_site.total, on_site.number.clone()),
        (Money(12600), None)
    );
    let synced = phone.sync(app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());

    // Numbered in the completion's commit, from the default series.
    let number = format!("INV-{}-000001", year());
    let by_job = s.get(&format!("/v1/invoices/{id}")).await;
    assert_eq!(by_job["number"], json!(number), "{by_job}");
    let inv = s.get(&format!("/v1/invoices/{number}")).await;
    assert_eq!(inv["job_id"], json!(id.to_string()));
    assert_eq!(inv["total_minor"], 12600);
    assert_eq!(inv["paid_minor"], 8000);
    assert_eq!(inv["open_minor"], 4600);
    assert_eq!(inv["state"], "partly_paid");
    assert_eq!(inv["price_book_version"], 1);
    assert_eq!(inv["invoice"]["lines"].as_array().unwrap().len(), 2);
    let (status, _) = call(app, Method::GET, &phone.token, "/v1/invoices", None).await;
    assert_eq!(status, 403, "technicians do not read finance's list");
    let (status, _) = call(
        app,
        Method::GET,
        &s.office,
        "/v1/invoices/INV-1999-000001",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = call(app, Method::GET, &s.office, "/v1/invoices?state=paid", None).await;
    assert_eq!(status, 400, "{body}");

    // Finance's queue has it, with its issue date (its age), once.
    let items = s.finance_queue().await;
    assert_eq!(items.len(), 1, "{items:?}");
    let item = items[0].clone();
    assert_eq!(
        item["source"],
        json!({"kind": "invoice", "reference": id.to_string()})
    );
    assert_eq!(item["category"], "billing");
    // Opened when the invoice was issued (the view's created_at).
    let opened = time::OffsetDateTime::parse(
        item["created_at"].as_str().expect("created_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let age = time::OffsetDateTime::now_utc() - opened;
    assert!(
        age >= time::Duration::ZERO && age < time::Duration::minutes(5),
        "{item}"
    );
    assert_eq!(item["customer_name"], "Ana Lima");
    let issued_on = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(
        item["summary"],
        json!(format!(
            "Invoice {number} issued {issued_on}: 46.00 EUR open"
        ))
    );

    // The number and the frozen invoice reach the device on its next sync.
    assert!(phone.sync(app).await.rejected().is_empty());
    let job = phone.job(id);
    let issued = job
        .invoice
        .clone()
        .expect("the issued invoice reached the device");
    assert_eq!(issued.number, number);
    assert_eq!(issued.invoice.total, Money(12600));

    // A new price book (dearer labour, no call-out) re-prices nothing done.
    let mut dearer = price_book();
    dearer["callout_fee"] = json!(0);
    dearer["labour_rates"]["standard"]["hourly"] = json!(9000);
    let res = put_price_book(app, &s.d.admin, &dearer).await;
    assert_eq!(res.status(), 200);
    assert!(phone.sync(app).await.rejected().is_empty());
    let book = read_book(&phone);
    assert_eq!(book.version, 2, "the device holds the new book");
    let on_device = bill(&phone.job(id), &book).unwrap();
    assert_eq!(on_device.total, Money(12600), "frozen on the device");
    assert_eq!(on_device.price_book_version, 1);
    assert_eq!(on_device.number.as_deref(), Some(number.as_str()));
    assert_eq!(on_device.balance_due, Money(4600));
    let view = s.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(view["billing"]["total"], 12600, "frozen on the server");
    assert_eq!(view["billing"]["price_book_version"], 1);
    assert_eq!(view["billing"]["number"], json!(number));
    let list = s.get("/v1/jobs?status=completed").await;
    assert_eq!(list["jobs"][0]["total_minor"], 12600);
    // A job completed under the new book is billed with it, and numbered next.
    let other = s.job("Rui Costa").await;
    assert!(phone.sync(app).await.rejected().is_empty());
    for action in visit(line(), line(), 100) {
        phone.act(other, action, now());
    }
    phone.act(other, JobAction::Complete, now());
    assert!(phone.sync(app).await.rejected().is_empty());
    let second = s.get(&format!("/v1/invoices/{other}")).await;
    assert_eq!(second["number"], json!(format!("INV-{}-000002", year())));
    assert_eq!(
        second["total_minor"], 10800,
        "labour 9000 + 20%, no call-out"
    );

    // The email: HTML with the number and the totals, and a working link.
    let worker = Worker::new(
        app.store.clone(),
        app.state.settings.feedback.clone(),
        app.url(""),
    );
    assert_eq!(worker.run_once().await.unwrap(), 2, "one email per invoice");
    let mail = smtp.messages();
    let m = mail
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains(&number))
        .unwrap_or_else(|| panic!("{mail:?}"));
    assert_eq!(m["to"], json!(["customer@example.com"]));
    let html = m["html"].as_str().unwrap();
    // Written the English way for the customer (the console keeps "60.00 EUR").
    for want in [
        number.as_str(),
        "€126.00",
        "€46.00",
        "Replaced the igniter",
        "<html lang=\"en\">",
        "Fieldsync",
    ] {
        assert!(html.contains(want), "{want} in {html}");
    }
    let link = link_in(m);
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let text = page.text().await.unwrap();
    assert!(
        text.contains(&number) && text.contains("€126.00") && text.contains("Amount due"),
        "{text}"
    );
    let forged = app
        .client
        .get(app.url("/invoice/not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 404);

    // A refund (within the dispatcher's limit: approved) adds to what is open.
    let refund = json!({"id": uuid::Uuid::new_v4(), "kind": "refund", "against": payment.to_string(),
        "amount": 1400, "reason": "Overcharged call-out"});
    let (status, body) = call(
        app,
        Method::POST,
        &s.office,
        &format!("/v1/jobs/{id}/refunds"),
        Some(refund),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let open = s.get("/v1/invoices?state=open").await;
    let row = open["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["number"] == json!(number))
        .cloned()
        .expect("open");
    assert_eq!(row["open_minor"], 6000, "12600 - 8000 paid + 1400 refunded");
    assert_eq!(row["refunded_minor"], 1400);
    assert_eq!(row["age_days"], 0);

    // Finance's console page lists it with its age and links the printable
    // invoice (in Chromium once: the page is the same on both databases).
    if backend == TestBackend::Sqlite {
        let b = Browser::start(LAPTOP).await;
        b.console_login(&app.url(""), "dispatch", PASSWORD).await;
        b.goto(&app.url("/console")).await;
        b.click("header nav a[href='/console/invoices']").await;
        b.wait_for_path(|p| p == "/console/invoices").await;
        assert_eq!(b.text("h1").await, "Open invoices");
        let row = format!("tr[data-invoice='{number}']");
        assert_eq!(b.text(&format!("{row} td.open")).await, "60.00 EUR");
        assert_eq!(b.text(&format!("{row} td.age")).await, "0");
        shot(&b, "invoices-open").await;
        b.click(&format!("{row} a")).await;
        b.wait_for_path(|p| p.starts_with("/console/invoices/INV-"))
            .await;
        assert_eq!(b.text("#invoice-number").await, number);
        assert_eq!(b.text("#open").await, "60.00 EUR");
        shot(&b, "invoice-printable").await;
        b.quit().await;
    }

    // Fifteen days on: one reminder (14 days) per open invoice, once.
    app.clock.advance(time::Duration::days(15));
    fieldsync_server::app::housekeeping_round(&app.state).await;
    fieldsync_server::app::housekeeping_round(&app.state).await;
    let reminders = |kinds: Vec<(MessageKind, String)>| {
        kinds
            .into_iter()
            .filter(|(k, _)| *k == MessageKind::InvoiceReminder)
            .map(|(_, key)| key)
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        reminders(s.invoice_kinds().await),
        BTreeSet::from([
            format!("invoice-reminder-{id}-14"),
            format!("invoice-reminder-{other}-14")
        ])
    );
    let aged = s.get(&format!("/v1/invoices/{number}")).await;
    assert_eq!(
        (aged["age_days"].clone(), aged["reminded_days"].clone()),
        (json!(15), json!(14))
    );
    assert_eq!(worker.run_once_at(app.clock.now()).await.unwrap(), 2);
    assert!(
        smtp.messages().iter().any(|m| m["subject"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Reminder: invoice {number}"))),
        "{:?}",
        smtp.messages()
    );

    // A credit note for the rest settles it: off the list, no more reminders.
    let credit = json!({"id": uuid::Uuid::new_v4(), "kind": "credit", "against": labour.to_string(),
        "amount": 6000, "reason": "Labour was under warranty after all"});
    let (status, body) = call(
        app,
        Method::POST,
        &s.office,
        &format!("/v1/jobs/{id}/refunds"),
        Some(credit),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["billing"]["balance_due"], 0, "{body}");
    let (status, item_now) = call(
        app,
        Method::GET,
        &s.d.admin,
        &format!("/v1/desk/items/{}", item["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{item_now}");
    assert_eq!(
        item_now["state"], "resolved",
        "settled: resolved in finance's queue"
    );
    let left: Vec<Value> = s
        .finance_queue()
        .await
        .iter()
        .map(|i| i["source"]["reference"].clone())
        .collect();
    assert_eq!(
        left,
        vec![json!(other.to_string())],
        "only the other invoice is queued"
    );
    let settled = s.get(&format!("/v1/invoices/{number}")).await;
    assert_eq!(
        (settled["open_minor"].clone(), settled["state"].clone()),
        (json!(0), json!("settled"))
    );
    let open = s.get("/v1/invoices").await;
    let numbers: Vec<&Value> = open["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["number"])
        .collect();
    assert_eq!(
        numbers,
        vec![&second["number"]],
        "only the other one is open"
    );
    app.clock.advance(time::Duration::days(20));
    fieldsync_server::app::housekeeping_round(&app.state).await;
    assert_eq!(
        reminders(s.invoice_kinds().await),
        BTreeSet::from([
            format!("invoice-reminder-{id}-14"),
            format!("invoice-reminder-{other}-14"),
            format!("invoice-reminder-{other}-30"),
        ]),
        "the settled one gets no 30-day reminder"
    );
    // And its document never changes its number or lines.
    assert!(phone.sync(app).await.rejected().is_empty());
    assert_eq!(phone.job(id).invoice, Some(issued));
}

const BRAND: &str = "Aquecimentos Lima & Filhos";
/// Yellow: light, so the button's text must be dark.
const COLOUR: &str = "#ffd23f";
/// Navy: dark, so the band's text must be white.
const ACCENT: &str = "#0b2545";

/// A customer record that reads Portuguese, with an email contact, and a
/// job for the depot's technician made from it; the company's brand set.
async fn a_portuguese_customers_invoice_is_branded_and_in_portuguese(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let app = spawn_app_with(backend, |s| {
        let f = &mut s.feedback;
        f.outbox_worker = false;
        f.smtp_host = Some("127.0.0.1".into());
        f.smtp_port = smtp.port;
        f.smtp_tls = fieldsync_server::feedback::SmtpTls::None;
        f.mail_from = "Fieldsync <billing@fieldsync.test>".into();
        s.invoices.invoice_reminder_days = vec![14];
        s.brand.brand_name = BRAND.into();
        s.brand.brand_colour = COLOUR.parse().unwrap();
        s.brand.brand_accent_colour = ACCENT.parse().unwrap();
    })
    .await;
    let d = setup::depot(&app).await;
    let res = put_price_book(&app, &d.admin, &price_book()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(94)).await.access_token;
    let c = ok(
        &app,
        Method::POST,
        &office,
        "/v1/customers",
        Some(json!({"kind": "person", "name": "Ana Lima", "depot_id": d.depot.to_string(), "language": "pt"})),
    )
    .await;
    assert_eq!(c["language"], "pt", "{c}");
    let customer = c["id"].as_str().unwrap().to_owned();
    ok(
        &app,
        Method::POST,
        &office,
        &format!("/v1/customers/{customer}/contacts"),
        Some(json!({"name": "Ana Lima", "email": "ana@example.com", "preferred_channel": "email"})),
    )
    .await;
    let mut body = new_job("Ana Lima", Some(d.tech));
    body.as_object_mut().unwrap().remove("customer");
    body["customer_id"] = json!(customer);
    let id = job_id(&ok(&app, Method::POST, &office, "/v1/jobs", Some(body)).await);
    let mut phone = Device::login(&app, "tech", Role::Technician, 95).await;
    assert!(phone.sync(&app).await.rejected().is_empty());
    for action in visit(line(), line(), 8000) {
        phone.act(id, action, now());
    }
    phone.act(id, JobAction::Complete, now());
    assert!(phone.sync(&app).await.rejected().is_empty());
    let number = format!("INV-{}-000001", year());

    let worker = Worker::new(
        app.store.clone(),
        app.state.settings.feedback.clone(),
        app.url(""),
    )
    .with_brand(app.state.brand.clone());
    worker.run_once().await.unwrap();
    let mail = smtp.messages();
    let m = mail
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains(&number))
        .unwrap_or_else(|| panic!("{mail:?}"))
        .clone();
    assert_eq!(m["to"], json!(["ana@example.com"]));
    // Portuguese money: decimal comma, the sign after, a no-break space.
    assert_eq!(
        m["subject"],
        json!(format!("A sua fatura {number} (126,00\u{a0}€)"))
    );
    let text = m["text"].as_str().unwrap();
    for want in [
        format!("Obrigado pela preferência. Segue a fatura {number} referente à visita."),
        "Total: 126,00\u{a0}€".into(),
        "Valor em dívida: 46,00\u{a0}€".into(),
        "Ver ou imprimir:".into(),
        BRAND.into(),
    ] {
        assert!(text.contains(&want), "{want:?} in {text}");
    }
    let html = m["html"].as_str().unwrap();
    let issued = time::OffsetDateTime::now_utc().date();
    for want in [
        "<html lang=\"pt\">".to_owned(),
        "Aquecimentos Lima &amp; Filhos".into(),
        format!("Fatura {number}"),
        "Descrição".into(),
        "Deslocação".into(),
        "Mão de obra (Standard): Replaced the igniter".into(),
        "IVA (20,00 %)".into(),
        "126,00\u{a0}€".into(),
        "-80,00\u{a0}€".into(),
        "46,00\u{a0}€".into(),
        format!("{} de ", issued.day()),
        // The band: navy with white text; the button: yellow with black.
        format!("background: {ACCENT}; color: #ffffff"),
        format!("background: {COLOUR}; color: #000000"),
        format!("src=\"{}\"", app.url("/brand/logo")),
        "alt=\"Aquecimentos Lima &amp; Filhos\"".into(),
        "Ver ou imprimir a fatura".into(),
    ] {
        assert!(html.contains(&want), "{want:?} in {html}");
    }
    for english in [
        "Amount due",
        "Invoice number",
        "Call-out",
        "Labour (",
        "126.00 EUR",
        "€126.00",
    ] {
        assert!(!html.contains(english), "{english:?} in {html}");
    }
    let logo = app.client.get(app.url("/brand/logo")).send().await.unwrap();
    assert_eq!(logo.status(), 200);

    // Its link opens the printable page, Portuguese and branded.
    let link = link_in(&m);
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("img-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let page = page.text().await.unwrap();
    for want in [
        "<html lang=\"pt\">".to_owned(),
        format!("<title>Fatura {number} · Aquecimentos Lima &amp; Filhos</title>"),
        "<img id=\"brand-logo\" src=\"/brand/logo\" alt=\"\">".into(),
        format!("background:{ACCENT};color:#ffffff"),
        "Valor em dívida".into(),
        "46,00\u{a0}€".into(),
    ] {
        assert!(page.contains(&want), "{want:?} in {page}");
    }
    assert!(!page.contains("Amount due"), "{page}");
    // An unknown link follows the browser's language.
    let lost = app
        .client
        .get(app.url("/invoice/not-a-token"))
        .header("accept-language", "pt-PT,pt;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(lost.status(), 404);
    assert!(lost.text().await.unwrap().contains("Fatura não encontrada"));

    // The reminder is Portuguese too.
    app.clock.advance(time::Duration::days(15));
    fieldsync_server::app::housekeeping_round(&app.state).await;
    worker.run_once_at(app.clock.now()).await.unwrap();
    let reminder = smtp
        .messages()
        .into_iter()
        .find(|m| m["subject"].as_str().unwrap().starts_with("Lembrete:"))
        .unwrap_or_else(|| panic!("{:?}", smtp.messages()));
    assert_eq!(
        reminder["subject"],
        json!(format!(
            "Lembrete: fatura {number} (46,00\u{a0}€ em dívida)"
        ))
    );
    let text = reminder["text"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "Lembramos que a fatura {number} de {} de ",
            issued.day()
        )),
        "{text}"
    );

    // The page passes axe in Chromium (once: the same on both databases).
    if backend == TestBackend::Sqlite {
        let b = Browser::start(LAPTOP).await;
        b.goto(&link).await;
        assert_eq!(b.text("h1").await, format!("Fatura {number}"));
        let violations = b.axe().await;
        assert!(violations.is_empty(), "{violations:?}");
        shot(&b, "invoice-customer-pt").await;
        b.quit().await;
    }
}

async fn shot(b: &Browser, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    let path = dir.join(format!("{name}.png"));
    let bytes = b.screenshot(&path).await;
    assert!(bytes > 1000, "{bytes} bytes");
}

fn read_book(phone: &Device) -> fieldsync_core::pricebook::PriceBook {
    read_price_book(phone.docs.get(&DocId::PriceBook).expect("synced"), None).unwrap()
}

fn link_in(message: &Value) -> String {
    let text = message["text"].as_str().unwrap();
    let start = text.find("http://").expect("a link in the email");
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect()
}

async fn the_same_completion_from_two_devices_at_once_is_numbered_once(backend: TestBackend) {
    let s = scene(backend, None).await;
    let app = &s.app;
    let id = s.job("Ana Lima").await;
    let mut a = Device::login(app, "tech", Role::Technician, 92).await;
    let mut b = Device::login(app, "tech", Role::Technician, 93).await;
    assert!(a.sync(app).await.rejected().is_empty());
    for action in visit(line(), line(), 12600) {
        a.act(id, action, now());
    }
    // The technician's second phone (a tablet) gets the visit as recorded,
    // and both complete it offline: two completions of one job, synced at once.
    assert!(a.sync(app).await.rejected().is_empty());
    assert!(b.sync(app).await.rejected().is_empty());
    assert_eq!(b.job(id).status, Status::OnSite);
    a.act(id, JobAction::Complete, now());
    b.act(id, JobAction::Complete, now());
    let (ra, rb) = tokio::join!(a.sync(app), b.sync(app));
    assert!(ra.rejected().is_empty(), "{:?}", ra.rejected());
    assert!(rb.rejected().is_empty(), "{:?}", rb.rejected());
    assert!(a.sync(app).await.rejected().is_empty());
    assert!(b.sync(app).await.rejected().is_empty());
    let all = s.get("/v1/invoices?state=all").await;
    let invoices = all["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 1, "{all}");
    let number = format!("INV-{}-000001", year());
    assert_eq!(invoices[0]["number"], json!(number));
    assert_eq!(invoices[0]["state"], "settled", "paid in full on site");
    let (_, queue) = call(
        app,
        Method::GET,
        &s.d.admin,
        "/v1/desk/queues/finance",
        None,
    )
    .await;
    assert_eq!(queue["items"], json!([]), "nothing open: nothing queued");
    for phone in [&a, &b] {
        let job = phone.job(id);
        assert_eq!(job.status, Status::Completed);
        assert_eq!(job.invoice.map(|i| i.number), Some(number.clone()));
    }
    // A phone cannot rewrite what was issued: a forged number (and a
    // forged cheaper body) is refused, and nothing of it is stored.
    let version = s.get(&format!("/v1/jobs/{id}")).await["version"].clone();
    let doc = b.docs.get_mut(&DocId::Job(id)).unwrap();
    doc.set_actor(b.actor.clone());
    let mut tx = doc.transaction();
    let map = tx.get(ROOT, "invoice").unwrap().expect("issued").1;
    tx.put(&map, "number", "INV-1999-000999").unwrap();
    tx.commit();
    let forged = b.sync(app).await.rejected();
    assert_eq!(forged.len(), 1, "{forged:?}");
    assert!(
        forged[0].1.contains("only the server writes invoice"),
        "{forged:?}"
    );
    let view = s.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(view["version"], version);
    assert_eq!(view["billing"]["number"], json!(number));

    // No number was burned: the next completion is the second.
    let next = s.job("Rui Costa").await;
    assert!(a.sync(app).await.rejected().is_empty());
    for action in visit(line(), line(), 0) {
        a.act(next, action, now());
    }
    a.act(next, JobAction::Complete, now());
    assert!(a.sync(app).await.rejected().is_empty());
    let second = s.get(&format!("/v1/invoices/{next}")).await;
    assert_eq!(second["number"], json!(format!("INV-{}-000002", year())));
    assert_eq!(second["state"], "unpaid");
}

/// Fails the commit of the jobs it names after the invoice projection
/// took its number in the same transaction (in `write_last`, the number's
/// phase, registered after the invoice projector): a rolled-back
/// completion.
struct FailFor(BTreeSet<JobId>);

#[derive(Debug)]
struct Fail;

#[async_trait]
impl Projection for Fail {
    async fn write(
        &self,
        _tx: &mut dyn Tx,
        _now: time::OffsetDateTime,
    ) -> fieldsync_server::store::Result<()> {
        Ok(())
    }

    async fn write_last(
        &self,
        _tx: &mut dyn Tx,
        _now: time::OffsetDateTime,
    ) -> fieldsync_server::store::Result<()> {
        Err(StoreError::Other("provoked failure".into()))
    }
}

impl JobProjector for FailFor {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        self.0
            .contains(&c.job.id)
            .then(|| Arc::new(Fail) as Arc<dyn Projection>)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_stay_gapless_under_50_concurrent_completions_on_postgres() {
    const JOBS: usize = 50;
    let s = scene(TestBackend::Postgres, None).await;
    let app = &s.app;
    let mut ids = Vec::new();
    for i in 0..JOBS {
        ids.push(s.job(&format!("Customer {i}")).await);
    }
    // Every job on site with its visit recorded, as the technician's phone
    // would have it, committed through the server's write path.
    let tech = Principal::new(s.d.tech, Role::Technician);
    let book = documents::price_book(app.store.as_ref(), &app.state.docs)
        .await
        .unwrap();
    let commit_with = |projectors: Arc<Projectors>, id: JobId, actions: Vec<JobAction>| {
        let state = app.state.clone();
        let book = book.clone();
        async move {
            let derive = Derive {
                price_book: book.as_deref(),
                now: now_utc(),
                projectors: &projectors,
            };
            let actor = fieldsync_core::automerge::ActorId::random();
            documents::write(
                state.store.as_ref(),
                &state.docs,
                DocId::Job(id),
                &derive,
                |doc, _| {
                    let before = doc.get_heads();
                    let mut job =
                        JobDoc::from_trusted(std::mem::take(doc).with_actor(actor.clone()));
                    let r = actions
                        .iter()
                        .try_for_each(|a| job.apply(a, tech, now()).map(drop));
                    *doc = job.into_doc();
                    r?;
                    Ok::<_, fieldsync_core::ActionError>(Edit {
                        changes: doc.get_changes(&before),
                        job: None,
                    })
                },
            )
            .await
            .map(drop)
        }
    };
    let plain = app.state.projectors.clone();
    for id in &ids {
        commit_with(plain.clone(), *id, visit(line(), line(), 0))
            .await
            .unwrap();
    }
    // 50 completions at once; every fifth one's transaction fails after
    // the invoice projection took its number.
    let failing: BTreeSet<JobId> = ids.iter().step_by(5).copied().collect();
    let with_failures = Arc::new(
        Projectors::default()
            // In the server's order: invoices before the jobs list.
            .register(InvoiceProjector::new(
                app.state.settings.invoices.clone(),
                3,
            ))
            .register(fieldsync_server::jobs::ListProjector)
            .register(FailFor(failing.clone())),
    );
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            tokio::spawn(commit_with(
                with_failures.clone(),
                *id,
                vec![JobAction::Complete],
            ))
        })
        .collect();
    let mut failed = 0;
    for t in tasks {
        if t.await.unwrap().is_err() {
            failed += 1;
        }
    }
    assert_eq!(failed, failing.len(), "exactly the provoked ones failed");
    let seqs = |all: &Value| -> Vec<u32> {
        let mut v: Vec<u32> = all["invoices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                i["number"]
                    .as_str()
                    .unwrap()
                    .rsplit('-')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        v.sort_unstable();
        v
    };
    let first = s.get("/v1/invoices?state=all&limit=1000").await;
    let n = (JOBS - failing.len()) as u32;
    assert_eq!(
        seqs(&first),
        (1..=n).collect::<Vec<_>>(),
        "gapless, no duplicate, none burned"
    );
    // The failed ones complete on a retry and continue the series.
    for id in &failing {
        commit_with(plain.clone(), *id, vec![JobAction::Complete])
            .await
            .unwrap();
    }
    let all = s.get("/v1/invoices?state=all&limit=1000").await;
    assert_eq!(seqs(&all), (1..=JOBS as u32).collect::<Vec<_>>());
}

/// Whether another connection finds the invoice counter row of `series`
/// locked (PostgreSQL: `FOR UPDATE NOWAIT` fails with `lock_not_available`).
struct CounterProbe {
    other: Arc<fieldsync_server::store::SqlStore>,
    seen: std::sync::Mutex<Vec<(&'static str, bool)>>,
}

impl std::fmt::Debug for CounterProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CounterProbe")
    }
}

impl CounterProbe {
    async fn look(&self, phase: &'static str) {
        let probe =
            Query::new("SELECT last FROM invoice_counters WHERE series = $1 FOR UPDATE NOWAIT")
                .bind("INV");
        let locked = match self.other.db().fetch_optional(probe).await {
            Ok(row) => {
                assert!(row.is_some(), "the counter row exists");
                false
            }
            Err(e) if e.to_string().contains("could not obtain lock") => true,
            Err(e) => panic!("probe failed: {e}"),
        };
        self.seen.lock().unwrap().push((phase, locked));
    }
}

#[async_trait]
impl Projection for CounterProbe {
    async fn write(
        &self,
        _tx: &mut dyn Tx,
        _now: time::OffsetDateTime,
    ) -> fieldsync_server::store::Result<()> {
        self.look("write").await;
        Ok(())
    }

    async fn write_last(
        &self,
        _tx: &mut dyn Tx,
        _now: time::OffsetDateTime,
    ) -> fieldsync_server::store::Result<()> {
        self.look("write_last").await;
        Ok(())
    }
}

struct Probing(Arc<CounterProbe>);

impl JobProjector for Probing {
    fn project(&self, _c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        Some(self.0.clone())
    }
}

/// The invoice number's counter row is shared by every completion in
/// every process: a completion takes it only after the rest of its
/// commit's work (every projection's `write`), so others wait for its last
/// statements and COMMIT, not for its whole transaction. A projection
/// registered after the invoice projector looks at the row from another
/// connection: free during the projections, locked once the number is
/// taken (which also shows the probe sees a lock when there is one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_invoice_counter_is_locked_only_after_the_projections_on_postgres() {
    let s = scene(TestBackend::Postgres, None).await;
    let app = &s.app;
    let tech = Principal::new(s.d.tech, Role::Technician);
    let plain = app.state.projectors.clone();
    // A first completion creates the series' counter row.
    let first = s.job("Ana Lima").await;
    let mut actions = visit(line(), line(), 0);
    actions.push(JobAction::Complete);
    commit_with(app, &plain, tech, first, &actions)
        .await
        .unwrap();
    let probe = Arc::new(CounterProbe {
        other: fieldsync_server::store::open(&app.db.url).await.unwrap(),
        seen: Default::default(),
    });
    let probing = Projectors::default()
        .register(InvoiceProjector::new(
            app.state.settings.invoices.clone(),
            3,
        ))
        .register(fieldsync_server::jobs::ListProjector)
        .register(Probing(probe.clone()));
    let second = s.job("Rui Costa").await;
    commit_with(app, &probing, tech, second, &actions)
        .await
        .unwrap();
    assert_eq!(
        *probe.seen.lock().unwrap(),
        vec![("write", false), ("write_last", true)],
        "free while the projections write, locked from the number on"
    );
    let invoice = s.get(&format!("/v1/invoices/{second}")).await;
    assert_eq!(invoice["number"], json!(format!("INV-{}-000002", year())));
}

/// Commits `actions` on job `id` through the server's write path with
/// `projectors` (as a technician's synced changes would be).
async fn commit_with(
    app: &TestApp,
    projectors: &Projectors,
    tech: Principal,
    id: JobId,
    actions: &[JobAction],
) -> Result<(), String> {
    let book = documents::price_book(app.store.as_ref(), &app.state.docs)
        .await
        .unwrap();
    let derive = Derive {
        price_book: book.as_deref(),
        now: now_utc(),
        projectors,
    };
    let actor = fieldsync_core::automerge::ActorId::random();
    documents::write(
        app.store.as_ref(),
        &app.state.docs,
        DocId::Job(id),
        &derive,
        |doc, _| {
            let before = doc.get_heads();
            let mut job = JobDoc::from_trusted(std::mem::take(doc).with_actor(actor.clone()));
            let r = actions
                .iter()
                .try_for_each(|a| job.apply(a, tech, now()).map(drop));
            *doc = job.into_doc();
            r?;
            Ok::<_, fieldsync_core::ActionError>(Edit {
                changes: doc.get_changes(&before),
                job: None,
            })
        },
    )
    .await
    .map(drop)
    .map_err(|e| e.to_string())
}

async fn a_job_completed_before_invoicing_is_not_invoiced_by_a_later_edit(backend: TestBackend) {
    let s = scene(backend, None).await;
    let app = &s.app;
    let id = s.job("Ana Lima").await;
    let tech = Principal::new(s.d.tech, Role::Technician);
    // Completed by a server without invoices (only the jobs list projected).
    let before_invoices = Projectors::default().register(fieldsync_server::jobs::ListProjector);
    let mut visit = visit(line(), line(), 0);
    visit.push(JobAction::Complete);
    commit_with(app, &before_invoices, tech, id, &visit)
        .await
        .unwrap();
    // Months later the office adds a note: the job is not invoiced now, at
    // today's prices, and nobody is mailed.
    let (status, body) = call(
        app,
        Method::PATCH,
        &s.office,
        &format!("/v1/jobs/{id}"),
        Some(json!({"notes": "Customer called about the visit"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["job"]["status"], "completed");
    let all = s.get("/v1/invoices?state=all").await;
    assert_eq!(all["invoices"], json!([]), "{all}");
    assert!(s.invoice_kinds().await.is_empty());
    // A job completed now is invoiced, number 1: the old one burned none.
    let now_done = s.job("Rui Costa").await;
    let mut visit = self::visit(line(), line(), 0);
    visit.push(JobAction::Complete);
    commit_with(app, &app.state.projectors, tech, now_done, &visit)
        .await
        .unwrap();
    let inv = s.get(&format!("/v1/invoices/{now_done}")).await;
    assert_eq!(inv["number"], json!(format!("INV-{}-000001", year())));
}
