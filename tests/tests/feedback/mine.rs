//! A technician's own feedback: `GET /v1/me/feedback` (scope, paging, no
//! customer contact data) and `/console/my-feedback` in headless Chromium.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use serde_json::{Value, json};

use crate::device::Device;
use crate::helpers::{PASSWORD, backend_tests};
use crate::support::{Scene, SmtpSink, answers, fast, link_in, scene, visit};
use crate::webdriver::{Browser, LAPTOP};

/// The customer of every job here: none of it may reach a technician.
const NAME: &str = "Quintino Vasconcelos";
const EMAIL: &str = "quintino.v@example.org";
const PHONE: &str = "+351 912 345 678";
/// `new_job`'s site.
const ADDRESS: &str = "Rua das Flores";

fn contact() -> Value {
    json!({"name": NAME, "email": EMAIL, "phone": PHONE})
}

/// Marta answered twice (the second one low, with a comment), a third
/// visit of hers not answered, and one answered visit of Bruno's.
struct Answered {
    s: Scene,
    marta_jobs: Vec<String>,
    unanswered: String,
    bruno_job: String,
    _smtp: SmtpSink,
}

async fn answered(backend: TestBackend) -> Answered {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| fast(c, port)).await;
    let bruno = s.app.user("bruno", Role::Technician).await;
    let mut marta_phone = s.device(1).await;
    let mut bruno_phone = Device::login(&s.app, "bruno", Role::Technician, 2).await;
    // One visit at a time, each answered (or not) through its own link.
    let answer = async |phone: &mut Device, job, form: Option<Vec<(&str, &str)>>| {
        phone.sync(&s.app).await;
        visit(phone, job);
        phone.sync(&s.app).await;
        // The email (and the SMS to the customer's phone, by webhook).
        assert!(s.deliver().await >= 1);
        let link = link_in(smtp.messages().last().unwrap());
        if let Some(form) = form {
            let res = s.app.client.post(&link).form(&form).send().await.unwrap();
            assert_eq!(res.status(), 200);
        }
    };
    let mut done = Vec::new();
    let forms = [
        Some(answers("yes", "5", "")),
        Some(answers(
            "no",
            "2",
            "Still drips, call me on +351 912 345 678",
        )),
        None,
    ];
    for form in forms {
        let job = s.job(contact()).await;
        answer(&mut marta_phone, job, form).await;
        done.push(job);
    }
    let mut body = crate::office::new_job("x", Some(bruno));
    body["customer"] = contact();
    let bruno_job =
        crate::office::job_id(&crate::office::create_job(&s.app, &s.dispatcher, &body).await);
    answer(
        &mut bruno_phone,
        bruno_job,
        Some(answers("yes", "4", "Bruno was great")),
    )
    .await;
    Answered {
        marta_jobs: done[..2].iter().map(ToString::to_string).collect(),
        unanswered: done[2].to_string(),
        bruno_job: bruno_job.to_string(),
        s,
        _smtp: smtp,
    }
}

async fn get(s: &Scene, token: Option<&str>, query: &str) -> (u16, String) {
    let mut req = s
        .app
        .client
        .get(s.app.url(&format!("/v1/me/feedback{query}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn technicians_get_their_own_feedback_without_customer_contact_data(backend: TestBackend) {
    let a = answered(backend).await;
    let marta =
        a.s.app
            .login("marta", &crate::helpers::actor(40))
            .await
            .access_token;
    let bruno =
        a.s.app
            .login("bruno", &crate::helpers::actor(41))
            .await
            .access_token;

    let (status, body) = get(&a.s, Some(&marta), "").await;
    assert_eq!(status, 200, "{body}");
    // No customer contact data anywhere in the body (the comment quoting
    // a phone number is the customer's own words: checked separately).
    let v: Value = serde_json::from_str(&body).unwrap();
    let without_comments: String = {
        let mut v = v.clone();
        for item in v["items"].as_array_mut().unwrap() {
            item["comment"] = json!("");
        }
        v.to_string()
    };
    for secret in [NAME, "Quintino", EMAIL, PHONE, "351912345678", ADDRESS] {
        assert!(!without_comments.contains(secret), "{secret} in {body}");
    }
    let items = v["items"].as_array().unwrap();
    let jobs: Vec<&str> = items
        .iter()
        .map(|i| i["job_id"].as_str().unwrap())
        .collect();
    // Newest first; the unanswered visit and Bruno's are not there.
    assert_eq!(
        jobs,
        [a.marta_jobs[1].as_str(), a.marta_jobs[0].as_str()],
        "{body}"
    );
    assert!(!body.contains(&a.unanswered) && !body.contains(&a.bruno_job));
    assert!(!body.contains("Bruno was great"), "{body}");
    let low = &items[0];
    assert_eq!(low["low"], true);
    assert_eq!(low["comment"], "Still drips, call me on +351 912 345 678");
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(low["visit_date"], today);
    let labels: Vec<&str> = low["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Fixed", "Rating", "Courtesy", "Recommend"]);
    assert_eq!(
        low["answers"][1],
        json!({"question": "rating", "label": "Rating", "value": "2", "score": 2, "min": 1, "max": 5})
    );
    assert_eq!(low["answers"][0]["value"], "no");
    assert_eq!(items[1]["low"], false);
    assert_eq!(items[1]["comment"], "");
    assert_eq!(v["next_offset"], Value::Null);

    // Paged.
    let (_, body) = get(&a.s, Some(&marta), "?limit=1").await;
    let first: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(first["items"][0]["job_id"], a.marta_jobs[1].as_str());
    assert_eq!(first["next_offset"], 1, "{body}");
    let (_, body) = get(&a.s, Some(&marta), "?limit=1&offset=1").await;
    let second: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(second["items"][0]["job_id"], a.marta_jobs[0].as_str());
    assert_eq!(second["next_offset"], Value::Null, "{body}");

    // Bruno sees his own only.
    let (_, body) = get(&a.s, Some(&bruno), "").await;
    let his: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(his["items"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(his["items"][0]["job_id"], a.bruno_job.as_str());
    assert_eq!(his["items"][0]["comment"], "Bruno was great");

    // Clear refusals, as JSON.
    for query in ["?limit=0", "?limit=101", "?offset=-1", "?limit=x"] {
        let (status, body) = get(&a.s, Some(&marta), query).await;
        assert_eq!(status, 400, "{query}: {body}");
        let e: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{query}: {body}"));
        assert!(e["error"]["code"].is_string(), "{body}");
    }
    let (status, _) = get(&a.s, None, "").await;
    assert_eq!(status, 401);
    // Documented, and the schema says what it leaves out.
    let doc: Value =
        a.s.app
            .client
            .get(a.s.app.url("/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(doc["paths"]["/v1/me/feedback"]["get"].is_object());
    let schema = doc["components"]["schemas"]["MyFeedback"].to_string();
    assert!(schema.contains("no customer contact data"), "{schema}");
    let (status, body) = get(&a.s, Some(&a.s.supervisor_token), "").await;
    assert_eq!(status, 403, "a role without visits: {body}");
}

async fn the_my_feedback_page_shows_a_technician_their_own(backend: TestBackend) {
    let a = answered(backend).await;
    let tag = format!("{backend:?}").to_lowercase();
    let b = Browser::start(LAPTOP).await;
    b.console_login(&a.s.app.url(""), "marta", PASSWORD).await;
    b.goto(&a.s.app.url("/console")).await;
    let menu = b.text("main").await;
    assert!(menu.contains("My feedback"), "{menu}");
    b.goto(&a.s.app.url("/console/my-feedback")).await;
    assert_eq!(b.text("h1").await, "My feedback");
    let table = b.text("#my-feedback").await;
    assert!(table.contains("Still drips"), "{table}");
    assert!(table.contains("2/5"), "{table}");
    assert!(table.contains(&a.marta_jobs[0]), "{table}");
    let page = b.text("body").await;
    for secret in [
        NAME,
        EMAIL,
        ADDRESS,
        &a.bruno_job,
        "Bruno was great",
        &a.unanswered,
    ] {
        assert!(!page.contains(secret), "{secret} on the page: {page}");
    }
    let rows = b
        .eval("return document.querySelectorAll('#my-feedback tbody tr').length;")
        .await;
    assert_eq!(rows, json!(2));
    let artifact = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts")
        .join(format!("my-feedback-{tag}.png"));
    assert!(b.screenshot(&artifact).await > 0);

    // The supervisor has no such page.
    let c = Browser::start(LAPTOP).await;
    c.console_login(&a.s.app.url(""), "sofia", PASSWORD).await;
    c.goto(&a.s.app.url("/console/my-feedback")).await;
    assert_ne!(c.text("h1").await, "My feedback");
}

backend_tests!(
    technicians_get_their_own_feedback_without_customer_contact_data,
    the_my_feedback_page_shows_a_technician_their_own,
);
