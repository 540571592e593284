//! The emailed link in headless Chromium: fill the form, submit, thank-you
//! page; the same form submitted from a second tab is refused.

use std::path::PathBuf;

use fieldsync_server::testing::TestBackend;
use serde_json::json;

use crate::helpers::backend_tests;
use crate::support::{SmtpSink, customer, fast, link_in, scene, visit};
use crate::webdriver::{Browser, PHONE};

/// target/test-artifacts/<name> (never committed).
fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts")
        .join(name)
}

async fn the_emailed_form_works_in_a_real_browser(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| fast(c, port)).await;
    let job = s.job(customer("ana@example.com")).await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    phone.sync(&s.app).await;
    assert_eq!(s.deliver().await, 1);
    let link = link_in(&smtp.messages()[0]);
    let tag = format!("{backend:?}").to_lowercase();

    let b = Browser::start(PHONE).await;
    b.goto(&link).await;
    assert_eq!(b.text("h1").await, "How did the visit go?");
    assert_eq!(b.text("#visit-technician").await, "Marta");
    assert!(
        b.text("#visit-work")
            .await
            .contains("Replaced the <b>valve</b>")
    );

    // Accessible without JavaScript: every control labelled, groups have
    // legends, nothing removed from the tab order, language and viewport set.
    let audit = b
        .eval(
            "const controls = [...document.querySelectorAll('input:not([type=hidden]), textarea, button')];
             return {
               unlabelled: controls.filter(c => c.tagName !== 'BUTTON' && c.labels.length === 0).length,
               untabbable: controls.filter(c => c.tabIndex < 0).length,
               fieldsets: document.querySelectorAll('fieldset').length,
               legends: document.querySelectorAll('fieldset > legend').length,
               lang: document.documentElement.lang,
               viewport: !!document.querySelector('meta[name=viewport]'),
               scripts: document.querySelectorAll('script').length,
               overflow: document.documentElement.scrollWidth > window.innerWidth,
             };",
        )
        .await;
    assert_eq!(
        audit,
        json!({"unlabelled": 0, "untabbable": 0, "fieldsets": 4, "legends": 4, "lang": "en",
               "viewport": true, "scripts": 0, "overflow": false}),
        "form audit"
    );

    b.screenshot(&artifact(&format!("feedback-form-top-{tag}.png")))
        .await;

    // Keyboard: the first Tab reaches the first question, Space answers it.
    let key = |k: &str| json!([{"type": "keyDown", "value": k}, {"type": "keyUp", "value": k}]);
    let keys: Vec<serde_json::Value> = [key("\u{E004}"), key(" ")]
        .into_iter()
        .flat_map(|k| k.as_array().unwrap().clone())
        .collect();
    b.cmd(
        "POST",
        "/actions",
        json!({"actions": [{"type": "key", "id": "keyboard", "actions": keys}]}),
    )
    .await;
    let checked = b
        .eval("return [document.activeElement.name, document.activeElement.value, document.activeElement.checked];")
        .await;
    assert_eq!(checked, json!(["fixed", "yes", true]), "keyboard answer");

    // A second tab holds the same form, to submit it again later.
    let first = b.cmd("GET", "/window", json!({})).await;
    let second = b.cmd("POST", "/window/new", json!({"type": "tab"})).await["handle"].clone();
    b.cmd("POST", "/window", json!({"handle": second})).await;
    b.goto(&link).await;
    b.cmd("POST", "/window", json!({"handle": first})).await;

    b.click("input[name=fixed][value=yes]").await;
    b.click("input[name=rating][value='4']").await;
    b.click("input[name=courtesy][value='5']").await;
    b.click("input[name=recommend][value='9']").await;
    b.type_into("#comment", "Quick and tidy. <b>Thanks</b>!")
        .await;
    b.screenshot(&artifact(&format!("feedback-form-{tag}.png")))
        .await;
    b.click("#submit").await;
    assert_eq!(b.text("#title").await, "Thank you!");
    b.screenshot(&artifact(&format!("feedback-thanks-{tag}.png")))
        .await;

    // The second tab submits the form it still shows: refused.
    b.cmd("POST", "/window", json!({"handle": second})).await;
    b.click("input[name=fixed][value=no]").await;
    b.click("input[name=rating][value='1']").await;
    b.click("input[name=courtesy][value='1']").await;
    b.click("input[name=recommend][value='0']").await;
    b.click("#submit").await;
    assert_eq!(b.text("#title").await, "Already answered");
    // Opening the link again says the same.
    b.goto(&link).await;
    assert_eq!(b.text("#title").await, "Already answered");
    b.quit().await;

    let f = s.feedback(job).await.unwrap();
    let a = &f["request"]["answer"];
    assert_eq!(a["rating"], 4, "{f}");
    assert_eq!(a["comment"], "Quick and tidy. <b>Thanks</b>!");
}

backend_tests!(the_emailed_form_works_in_a_real_browser);
