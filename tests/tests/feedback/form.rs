//! The public form: one answer per link, guessed and expired tokens get
//! nothing, escaping, rate limits, unsubscribe, follow-ups and results.

use std::time::Duration;

use fieldsync_core::JobId;
use fieldsync_server::config::Settings;
use fieldsync_server::testing::TestBackend;
use serde_json::{Value, json};

use sha2::{Digest, Sha256};

use crate::helpers::backend_tests;
use crate::raw::{assert_absent, database_contents, sql_blobs};
use crate::support::{Scene, SmtpSink, answers, customer, fast, link_in, scene, token_of, visit};

/// A scene whose one completed job's email has arrived; returns its link.
async fn emailed(
    backend: TestBackend,
    adjust: impl FnOnce(&mut Settings),
) -> (Scene, SmtpSink, JobId, String) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| {
        fast(c, port);
        adjust(c);
    })
    .await;
    let job = s.job(customer("ana@example.com")).await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    phone.sync(&s.app).await;
    assert_eq!(s.deliver().await, 1);
    let link = link_in(&smtp.messages()[0]);
    (s, smtp, job, link)
}

async fn post_form(s: &Scene, url: &str, form: &[(&str, &str)]) -> (u16, String) {
    let res = s.app.client.post(url).form(form).send().await.unwrap();
    let status = res.status().as_u16();
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "{ct}");
    (status, res.text().await.unwrap())
}

async fn get_page(s: &Scene, url: &str) -> (u16, String) {
    let res = s.app.client.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn one_answer_per_link(backend: TestBackend) {
    let (s, _smtp, job, link) = emailed(backend, |_| {}).await;
    let (status, page) = post_form(&s, &link, &answers("yes", "5", "Great work")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Thank you"), "{page}");
    let (status, page) = post_form(&s, &link, &answers("no", "1", "changed my mind")).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("Already answered"), "{page}");
    let (status, page) = get_page(&s, &link).await;
    assert_eq!(status, 200);
    assert!(page.contains("Already answered"), "{page}");
    let f = s.feedback(job).await.unwrap();
    let a = &f["request"]["answer"];
    assert_eq!(
        (
            a["fixed"].clone(),
            a["rating"].clone(),
            a["comment"].clone()
        ),
        (json!(true), json!(5), json!("Great work"))
    );
}

async fn concurrent_submissions_store_one_answer(backend: TestBackend) {
    let (s, _smtp, job, link) = emailed(backend, |_| {}).await;
    let a = answers("yes", "4", "first");
    let b = answers("no", "1", "second");
    let ((sa, _), (sb, _)) = tokio::join!(post_form(&s, &link, &a), post_form(&s, &link, &b));
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let f = s.feedback(job).await.unwrap();
    let comment = f["request"]["answer"]["comment"].as_str().unwrap();
    assert!(comment == "first" || comment == "second");
}

/// The link's token, as minted when the email was composed, is stored as
/// its SHA-256 and nowhere in clear.
async fn the_link_token_is_stored_only_as_its_hash(backend: TestBackend) {
    let (s, _smtp, _job, link) = emailed(backend, |_| {}).await;
    let token = token_of(&link);
    assert_eq!(token.len(), 43, "256-bit token, base64url");
    let stored = sql_blobs(&s.app, "SELECT token_hash FROM feedback_tokens").await;
    assert_eq!(stored, vec![Sha256::digest(token.as_bytes()).to_vec()]);
    assert_absent(&database_contents(&s.app).await, &token, "the link token");
    // And that hash opens the form.
    let (status, page) = get_page(&s, &link).await;
    assert_eq!(status, 200, "{page}");
}

async fn guessed_and_malformed_tokens_get_nothing(backend: TestBackend) {
    let (s, _smtp, job, link) = emailed(backend, |_| {}).await;
    let base = link.rsplit_once('/').unwrap().0.to_owned();
    let token = token_of(&link);
    assert_eq!(token.len(), 43, "256-bit token, base64url");
    // Same length and alphabet, different value; and other shapes.
    let mut guessed = token.clone().into_bytes();
    guessed[0] = if guessed[0] == b'A' { b'B' } else { b'A' };
    let guessed = String::from_utf8(guessed).unwrap();
    for t in [guessed.as_str(), "x", "../../etc/passwd", &"A".repeat(500)] {
        let url = format!("{base}/{}", t.replace('/', "%2F"));
        let (status, page) = get_page(&s, &url).await;
        assert_eq!(status, 404, "{t}: {page}");
        assert!(page.contains("Link not found"), "{page}");
        let (status, _) = post_form(&s, &url, &answers("yes", "5", "")).await;
        assert_eq!(status, 404);
    }
    let f = s.feedback(job).await.unwrap();
    assert!(f["request"]["answer"].is_null(), "nothing stored: {f}");
}

async fn expired_links_get_a_friendly_page_and_store_nothing(backend: TestBackend) {
    let (s, _smtp, job, link) = emailed(backend, |c| c.feedback.feedback_link_ttl_secs = 1).await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (status, page) = get_page(&s, &link).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("expired"), "{page}");
    let (status, _) = post_form(&s, &link, &answers("yes", "5", "late")).await;
    assert_eq!(status, 410);
    assert!(s.feedback(job).await.unwrap()["request"]["answer"].is_null());
}

async fn lookups_are_rate_limited_per_client(backend: TestBackend) {
    let (s, _smtp, _job, link) = emailed(backend, |c| c.feedback.feedback_rate_per_min = 3).await;
    let base = link.rsplit_once('/').unwrap().0.to_owned();
    let mut statuses = Vec::new();
    for i in 0..5 {
        let (status, _) = get_page(&s, &format!("{base}/guess{i}")).await;
        statuses.push(status);
    }
    assert_eq!(statuses, [404, 404, 404, 429, 429]);
    // The real link is refused too while the client is over its limit.
    let (status, page) = get_page(&s, &link).await;
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("Too many requests"));
}

async fn invalid_answers_redisplay_the_form_escaped(backend: TestBackend) {
    let (s, _smtp, job, link) = emailed(backend, |_| {}).await;
    let evil = "<script>alert('x')</script> & \"quotes\"";
    let (status, page) = post_form(
        &s,
        &link,
        &[("fixed", "yes"), ("rating", "9"), ("comment", evil)],
    )
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("overall rating from 1 to 5"), "{page}");
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; &quot;quotes&quot;"));
    assert!(s.feedback(job).await.unwrap()["request"]["answer"].is_null());

    // Stored as typed; the JSON API returns it raw (JSON-escaped only).
    let (status, _) = post_form(&s, &link, &answers("yes", "5", evil)).await;
    assert_eq!(status, 200);
    let res = s
        .app
        .client
        .get(s.app.url("/v1/feedback/responses"))
        .bearer_auth(&s.supervisor_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let rows: Value = res.json().await.unwrap();
    assert_eq!(rows[0]["answer"]["comment"], evil);
}

async fn unsubscribing_stops_future_requests(backend: TestBackend) {
    let (s, smtp, _job, link) = emailed(backend, |_| {}).await;
    let (status, page) = get_page(&s, &format!("{link}/unsubscribe")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Stop feedback requests?"), "{page}");
    let (status, page) = post_form(&s, &format!("{link}/unsubscribe"), &[]).await;
    assert_eq!(status, 200);
    assert!(page.contains("unsubscribed"), "{page}");
    assert!(
        s.app
            .store
            .is_unsubscribed("ana@example.com")
            .await
            .unwrap()
    );

    let next = s.job(customer("ANA@example.com")).await;
    let mut phone = s.device(3).await;
    visit(&mut phone, next);
    let synced = phone.sync(&s.app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
    assert_eq!(phone.job(next).status, fieldsync_core::Status::Completed);
    s.assert_nothing_left().await;
    assert!(s.feedback(next).await.is_none());
    assert_eq!(smtp.messages().len(), 1);
}

async fn a_low_result_alerts_the_depot_supervisor(backend: TestBackend) {
    let (s, smtp, job, link) = emailed(backend, |_| {}).await;
    let (status, _) = post_form(&s, &link, &answers("no", "2", "Still <no> hot water")).await;
    assert_eq!(status, 200);
    assert_eq!(s.deliver().await, 1, "the alert");
    let mail = smtp.messages();
    assert_eq!(mail.len(), 2, "{mail:?}");
    let alert = &mail[1];
    assert_eq!(alert["to"], json!(["sofia@fieldsync.test"]));
    assert!(
        alert["subject"].as_str().unwrap().contains("Follow-up"),
        "{alert}"
    );
    assert!(
        alert["text"]
            .as_str()
            .unwrap()
            .contains("Still <no> hot water")
    );
    assert!(
        alert["html"]
            .as_str()
            .unwrap()
            .contains("Still &lt;no&gt; hot water")
    );

    let get = |path: &'static str| {
        let s = &s;
        async move {
            let res = s
                .app
                .client
                .get(s.app.url(path))
                .bearer_auth(&s.supervisor_token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let open = get("/v1/feedback/followups").await;
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open[0]["job_id"], job.to_string());
    assert_eq!(open[0]["reason"], "not fixed, rated 2/5");
    let id = open[0]["id"].as_str().unwrap();
    let res = s
        .app
        .client
        .post(s.app.url(&format!("/v1/feedback/followups/{id}/resolve")))
        .bearer_auth(&s.supervisor_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert!(
        get("/v1/feedback/followups")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Results: one request, one response, per technician and per depot.
    let summary = get("/v1/feedback/summary?group=depot").await;
    assert_eq!(summary["overall"]["responses"], 1, "{summary}");
    assert_eq!(summary["overall"]["fixed_rate"], 0.0);
    assert_eq!(summary["overall"]["nps"], 100.0);
    assert_eq!(summary["groups"][0]["name"], "North");
    let summary = get("/v1/feedback/summary").await;
    assert_eq!(summary["groups"][0]["name"], "Marta Sousa");
    assert_eq!(summary["groups"][0]["avg_rating"], 2.0);
    let trend = get("/v1/feedback/trend").await;
    assert_eq!(trend.as_array().unwrap().len(), 1, "{trend}");
}

async fn results_are_for_supervisors_of_the_depot(backend: TestBackend) {
    let (s, _smtp, job, link) = emailed(backend, |_| {}).await;
    let (status, page) = post_form(&s, &link, &answers("yes", "5", "ok")).await;
    assert_eq!(status, 200, "{page}");
    // The depot's own supervisor sees the answer: so an empty list below
    // means "not yours", not "nothing there".
    let responses = |token: String| {
        let s = &s;
        async move {
            let res = s
                .app
                .client
                .get(s.app.url("/v1/feedback/responses"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let own = responses(s.supervisor_token.clone()).await;
    assert_eq!(own.as_array().unwrap().len(), 1, "{own}");
    assert_eq!(own[0]["job_id"], job.to_string(), "{own}");
    assert_eq!(own[0]["answer"]["comment"], "ok", "{own}");
    // A technician may not read results; a supervisor of another depot sees none.
    let tech = s.app.login("marta", &crate::helpers::actor(50)).await;
    let res = s
        .app
        .client
        .get(s.app.url("/v1/feedback/summary"))
        .bearer_auth(&tech.access_token)
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(res, 403, "forbidden").await;
    s.app.user("other", fieldsync_core::Role::Supervisor).await;
    let other = s.app.login("other", &crate::helpers::actor(51)).await;
    assert_eq!(responses(other.access_token.clone()).await, json!([]));
    let res = s
        .app
        .client
        .get(s.app.url(&format!("/v1/feedback/jobs/{job}")))
        .bearer_auth(&other.access_token)
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(res, 404, "not_found").await;
    let res = s
        .app
        .client
        .get(s.app.url("/v1/feedback/summary?from=yesterday"))
        .bearer_auth(&s.supervisor_token)
        .send()
        .await
        .unwrap();
    crate::helpers::assert_error(res, 400, "bad_request").await;

    // The API is documented; the public form is not part of it.
    let doc: Value = s
        .app
        .client
        .get(s.app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/feedback/summary",
        "/v1/feedback/trend",
        "/v1/feedback/responses",
        "/v1/feedback/jobs/{job_id}",
        "/v1/feedback/messages",
        "/v1/feedback/followups",
        "/v1/feedback/followups/{id}/resolve",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["paths"]["/feedback/{token}"].is_null());
}

backend_tests!(
    one_answer_per_link,
    concurrent_submissions_store_one_answer,
    the_link_token_is_stored_only_as_its_hash,
    guessed_and_malformed_tokens_get_nothing,
    expired_links_get_a_friendly_page_and_store_nothing,
    lookups_are_rate_limited_per_client,
    invalid_answers_redisplay_the_form_escaped,
    unsubscribing_stops_future_requests,
    a_low_result_alerts_the_depot_supervisor,
    results_are_for_supervisors_of_the_depot,
);
