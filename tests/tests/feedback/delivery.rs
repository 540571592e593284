//! Completion -> exactly one email with a working link, through real
//! `/v1/sync` from simulated devices and a real SMTP server (plain, and
//! STARTTLS with AUTH as deployed). Each delivery round is run by the test
//! at a time it picks, so retries, delays and "nothing more" are checked on
//! rounds that ran.

use std::path::Path;
use std::time::Duration;

use fieldsync_core::Status;
use fieldsync_server::config::Settings;
use fieldsync_server::feedback::SmtpTls;
use fieldsync_server::store::now_utc;
use fieldsync_server::testing::TestBackend;
use serde_json::json;

use crate::helpers::backend_tests;
use crate::support::{SmtpSecurity, SmtpSink, TestCert, customer, fast, link_in, scene, visit};

fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

async fn completion_sends_one_email_with_a_working_link(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| fast(c, port)).await;
    let job = s.job(customer("ana@example.com")).await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    let synced = phone.sync(&s.app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    assert_eq!(phone.job(job).status, Status::Completed);

    assert_eq!(s.deliver().await, 1, "one message due at once");
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    // Syncing again (nothing new, or the same changes) asks nothing more.
    phone.sync(&s.app).await;
    s.assert_nothing_left().await;
    assert_eq!(smtp.messages().len(), 1, "{:?}", smtp.messages());
    let m = &mail[0];
    assert_eq!((&m["tls"], &m["auth"]), (&json!(false), &json!(null)));
    assert_eq!(m["to"], json!(["ana@example.com"]));
    assert!(m["subject"].as_str().unwrap().contains("Marta"), "{m}");
    let html = m["html"].as_str().unwrap();
    assert!(html.contains("Give feedback"), "{html}");
    assert!(
        html.contains("Replaced the &lt;b&gt;valve&lt;/b&gt; &amp; bled radiators"),
        "work done is escaped in the HTML part: {html}"
    );
    let key = m["idempotency_key"].as_str().unwrap();
    assert!(key.starts_with("feedback-request-"), "{m}");
    assert!(m["message_id"].as_str().unwrap().contains(key), "{m}");

    // The link opens the form: the visit, nothing sensitive.
    let link = link_in(m);
    let res = s.app.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Marta") && !page.contains("Sousa"),
        "first name only"
    );
    assert!(
        page.contains("Replaced the &lt;b&gt;valve&lt;/b&gt;"),
        "{page}"
    );
    for secret in ["Rua das Flores", "EUR", "45.00", "TERM", "+351", "Sousa"] {
        assert!(!page.contains(secret), "page shows {secret}: {page}");
    }

    // The delivery state is visible through the API.
    let f = s.feedback(job).await.unwrap();
    assert_eq!(f["messages"].as_array().unwrap().len(), 1, "{f}");
    assert_eq!(f["messages"][0]["status"], "sent");
    assert_eq!(f["messages"][0]["attempts"], 1);
    assert_eq!(f["request"]["technician_name"], "Marta Sousa");
    assert_eq!(f["request"]["depot_id"], s.depot.to_string());
}

async fn two_devices_completing_concurrently_send_one_email(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| fast(c, port)).await;
    let job = s.job(customer("ana@example.com")).await;
    let mut phone = s.device(1).await;
    let mut tablet = s.device(2).await;
    visit(&mut phone, job);
    visit(&mut tablet, job);
    let app = &s.app;
    let (a, b) = tokio::join!(phone.sync(app), tablet.sync(app));
    assert!(a.rejected().is_empty() && b.rejected().is_empty());
    phone.sync(app).await;
    tablet.sync(app).await;
    assert_eq!(phone.job(job), tablet.job(job), "devices converge");

    assert_eq!(s.deliver().await, 1);
    s.assert_nothing_left().await;
    assert_eq!(smtp.messages().len(), 1, "{:?}", smtp.messages());
    let f = s.feedback(job).await.unwrap();
    assert_eq!(f["messages"].as_array().unwrap().len(), 1, "{f}");
    let res = app
        .client
        .get(link_in(&smtp.messages()[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn an_smtp_outage_is_retried_until_the_server_is_back(backend: TestBackend) {
    let mut smtp = SmtpSink::start().await;
    smtp.set_down(true).await;
    let port = smtp.port;
    let s = scene(backend, |c| fast(c, port)).await;
    let job = s.job(customer("ana@example.com")).await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    phone.sync(&s.app).await;

    // The relay drops every connection: attempts fail, visibly, and stay pending.
    let t0 = now_utc();
    assert_eq!(s.deliver_at(t0).await, 1);
    let m = s.message(job).await;
    assert_eq!(
        (m["status"].as_str(), m["attempts"].as_u64()),
        (Some("pending"), Some(1)),
        "{m}"
    );
    assert!(m["last_error"].as_str().unwrap().contains("SMTP"), "{m}");
    // Not retried before its backoff (100 ms), retried after it.
    assert_eq!(s.deliver_at(t0).await, 0, "retried before the backoff");
    assert_eq!(s.deliver_at(t0 + minutes(1)).await, 1);
    assert_eq!(s.message(job).await["attempts"], 2);

    smtp.set_down(false).await;
    assert_eq!(s.deliver_at(t0 + minutes(2)).await, 1);
    let m = s.message(job).await;
    assert_eq!(
        (m["status"].as_str(), m["attempts"].as_u64()),
        (Some("sent"), Some(3)),
        "{m}"
    );
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    s.assert_nothing_left().await;
    assert_eq!(smtp.messages().len(), 1);
    let res = s.app.client.get(link_in(&mail[0])).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

async fn permanent_failures_and_exhausted_attempts_stop(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| fast(c, port)).await;
    // The sink refuses reject-* with 550: a permanent failure, one attempt.
    let job = s.job(customer("reject-me@example.com")).await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    phone.sync(&s.app).await;
    assert_eq!(s.deliver().await, 1);
    let m = s.message(job).await;
    assert_eq!(m["status"], "failed", "{m}");
    assert_eq!(m["attempts"], 1, "{m}");
    assert!(m["last_error"].as_str().unwrap().contains("550"), "{m}");
    s.assert_nothing_left().await;
    let f = s.feedback(job).await.unwrap();
    assert_eq!(f["messages"][0]["attempts"], 1, "no retry after a 5xx");
    assert!(smtp.messages().is_empty());

    // Failed messages are listed for admins.
    let res = s
        .app
        .client
        .get(s.app.url("/v1/feedback/messages?status=failed"))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let failed: serde_json::Value = res.json().await.unwrap();
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
}

async fn max_attempts_end_in_failed(backend: TestBackend) {
    let mut smtp = SmtpSink::start().await;
    smtp.set_down(true).await;
    let port = smtp.port;
    let s = scene(backend, |c| {
        fast(c, port);
        c.feedback.outbox_max_attempts = 3;
    })
    .await;
    let job = s.job(customer("ana@example.com")).await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    phone.sync(&s.app).await;
    let t0 = now_utc();
    for (n, status) in [(1, "pending"), (2, "pending"), (3, "failed")] {
        assert_eq!(s.deliver_at(t0 + minutes(n)).await, 1, "attempt {n}");
        let m = s.message(job).await;
        assert_eq!(
            (m["status"].as_str(), m["attempts"].as_u64()),
            (Some(status), Some(n)),
            "{m}"
        );
    }
    smtp.set_down(false).await;
    s.assert_nothing_left().await;
    assert_eq!(s.message(job).await["attempts"], 3);
    assert!(smtp.messages().is_empty());
}

async fn no_request_when_cancelled_opted_out_or_unsubscribed(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| fast(c, port)).await;
    // Cancelled by the office.
    let cancelled = s.job(customer("c1@example.com")).await;
    let res = crate::office::post_json(
        &s.app,
        &s.dispatcher,
        &format!("/v1/jobs/{cancelled}/cancel"),
        &json!({"reason": "customer called off"}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // Opted out on the job.
    let opted = s
        .job(json!({"name": "Bea", "email": "c2@example.com", "feedback_opt_out": true}))
        .await;
    // On the unsubscribe list (case differs: contacts are normalized).
    s.app
        .store
        .unsubscribe("c3@example.com", fieldsync_server::store::now_utc())
        .await
        .unwrap();
    let unsubscribed = s.job(customer("C3@Example.com")).await;
    // Unable to complete: not asked by default.
    let unable = s.job(customer("c4@example.com")).await;
    // And one normal job, so the test sees the worker run.
    let normal = s.job(customer("c5@example.com")).await;

    let mut phone = s.device(1).await;
    for job in [opted, unsubscribed, normal] {
        visit(&mut phone, job);
    }
    phone.act(
        unable,
        fieldsync_core::JobAction::StartTravel,
        crate::support::now(),
    );
    phone.act(
        unable,
        fieldsync_core::JobAction::UnableToComplete {
            reason: "no access".into(),
        },
        crate::support::now(),
    );
    let synced = phone.sync(&s.app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    assert_eq!(s.deliver().await, 1, "only the normal job's message");
    s.assert_nothing_left().await;
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0]["to"], json!(["c5@example.com"]));
    for job in [cancelled, opted, unsubscribed, unable] {
        assert!(s.feedback(job).await.is_none(), "no request for {job}");
    }
}

async fn unable_to_complete_is_asked_when_configured(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| {
        fast(c, port);
        c.feedback.feedback_unable_to_complete = true;
    })
    .await;
    let job = s.job(customer("ana@example.com")).await;
    let mut phone = s.device(1).await;
    phone.act(
        job,
        fieldsync_core::JobAction::StartTravel,
        crate::support::now(),
    );
    phone.act(
        job,
        fieldsync_core::JobAction::UnableToComplete {
            reason: "part missing".into(),
        },
        crate::support::now(),
    );
    phone.sync(&s.app).await;
    assert_eq!(s.deliver().await, 1);
    assert_eq!(smtp.messages().len(), 1);
    let f = s.feedback(job).await.unwrap();
    assert_eq!(f["request"]["job_status"], "unable_to_complete");
}

async fn the_delay_holds_the_message_back(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| {
        fast(c, port);
        c.feedback.feedback_delay_secs = 3600;
    })
    .await;
    let job = s.job(customer("ana@example.com")).await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    phone.sync(&s.app).await;
    let t0 = now_utc();
    assert_eq!(s.deliver_at(t0).await, 0, "held back");
    let f = s
        .feedback(job)
        .await
        .expect("request created at completion");
    let m = &f["messages"][0];
    assert_eq!(m["status"], "pending");
    assert_eq!(m["attempts"], 0);
    let due = time::OffsetDateTime::parse(
        m["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let wait = due - t0;
    assert!(
        wait > time::Duration::minutes(59) && wait < time::Duration::minutes(61),
        "{wait}"
    );
    assert_eq!(s.deliver_at(t0 + minutes(58)).await, 0, "held back");
    assert!(smtp.messages().is_empty());
    // Once the hour is over, it goes.
    assert_eq!(s.deliver_at(t0 + minutes(61)).await, 1);
    assert_eq!(smtp.messages().len(), 1);
}

/// Settings for the relay of [`starttls_and_auth_deliver_and_refuse_what_they_should`].
fn relay(c: &mut Settings, port: u16, ca: Option<&Path>, password: &str) {
    fast(c, port);
    c.feedback.smtp_tls = SmtpTls::Starttls;
    c.feedback.smtp_ca_file = ca.map(Path::to_owned);
    c.feedback.smtp_username = Some("fieldsync".into());
    c.feedback.smtp_password = Some(password.into());
}

/// The deployed default: STARTTLS (required) and SMTP AUTH, against a relay
/// with a self-signed certificate that only `--smtp-ca-file` makes trusted.
async fn starttls_and_auth_deliver_and_refuse_what_they_should(backend: TestBackend) {
    let cert = TestCert::new();
    let smtp = SmtpSink::start_with(SmtpSecurity {
        tls: Some(&cert),
        auth: Some(("fieldsync", "relay pass")),
    })
    .await;
    let port = smtp.port;
    let s = scene(backend, |c| relay(c, port, Some(&cert.cert), "relay pass")).await;
    let job = s.job(customer("ana@example.com")).await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    phone.sync(&s.app).await;
    assert_eq!(s.deliver().await, 1);
    let m = s.message(job).await;
    assert_eq!(m["status"], "sent", "{m}");
    let mail = smtp.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert_eq!(mail[0]["tls"], true, "sent after STARTTLS");
    assert_eq!(mail[0]["auth"], "fieldsync", "sent after AUTH");
    assert_eq!(mail[0]["to"], json!(["ana@example.com"]));
    let res = s.app.client.get(link_in(&mail[0])).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // A wrong password, and a relay certificate nobody said to trust: both
    // fail visibly, and nothing more reaches the relay.
    for (why, ca, password) in [
        ("wrong password", Some(cert.cert.as_path()), "not the pass"),
        ("untrusted certificate", None, "relay pass"),
    ] {
        let s = scene(backend, |c| relay(c, port, ca, password)).await;
        let job = s.job(customer("ana@example.com")).await;
        let mut phone = s.device(1).await;
        visit(&mut phone, job);
        phone.sync(&s.app).await;
        assert_eq!(s.deliver().await, 1, "{why}");
        let m = s.message(job).await;
        assert_ne!(m["status"], "sent", "{why}: {m}");
        assert!(
            m["last_error"].as_str().unwrap().contains("SMTP"),
            "{why}: {m}"
        );
    }
    assert_eq!(smtp.messages().len(), 1);
}

backend_tests!(
    completion_sends_one_email_with_a_working_link,
    two_devices_completing_concurrently_send_one_email,
    an_smtp_outage_is_retried_until_the_server_is_back,
    permanent_failures_and_exhausted_attempts_stop,
    max_attempts_end_in_failed,
    no_request_when_cancelled_opted_out_or_unsubscribed,
    unable_to_complete_is_asked_when_configured,
    the_delay_holds_the_message_back,
    starttls_and_auth_deliver_and_refuse_what_they_should,
);
