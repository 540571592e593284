//! The emailed link in headless Chromium: fill the form, submit, thank-you
//! page; the same form submitted from a second tab is refused.

use std::path::PathBuf;

use fieldsync_server::testing::TestBackend;
use serde_json::json;

use crate::branding;
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

/// A customer who reads Portuguese, of a company with its own brand: the
/// form in Chromium is Portuguese, shows the company's logo (loaded) and
/// name, and its colours with readable text on them.
async fn the_form_in_portuguese_and_the_brand_in_a_real_browser(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let logo_dir = branding::logo_file();
    let s = branding::branded_scene(backend, smtp.port, logo_dir.path()).await;
    let job = branding::job_for_registry_customer(&s, "pt").await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    phone.sync(&s.app).await;
    assert_eq!(s.deliver().await, 1);
    let link = link_in(&smtp.messages()[0]);
    let tag = format!("{backend:?}").to_lowercase();

    let b = Browser::start(PHONE).await;
    b.goto(&link).await;
    assert_eq!(b.text("h1").await, "Como correu a visita?");
    assert_eq!(b.text("#brand-name").await, branding::BRAND);
    b.screenshot(&artifact(&format!("feedback-form-pt-top-{tag}.png")))
        .await;
    // axe-core on the branded page: the light main colour and the dark
    // accent both carry readable text (colour-contrast is a serious rule).
    let serious = |found: Vec<crate::webdriver::AxeViolation>| {
        found
            .into_iter()
            .filter(|v| v.is_serious())
            .collect::<Vec<_>>()
    };
    let found = serious(b.axe().await);
    assert!(found.is_empty(), "axe on the Portuguese form: {found:#?}");
    let look = b
        .eval(
            "const css = s => getComputedStyle(document.querySelector(s));
             const logo = document.getElementById('brand-logo');
             return {
               lang: document.documentElement.lang,
               logo_loaded: logo.complete && logo.naturalWidth === 1,
               button: [css('#submit').backgroundColor, css('#submit').color],
               band: [css('header.brand').backgroundColor, css('header.brand').color],
               legend: document.querySelector('fieldset > legend').textContent,
               yes: document.querySelector('input[name=fixed][value=yes]').parentElement.textContent.trim(),
               scale: document.getElementById('rating-scale').textContent,
               overflow: document.documentElement.scrollWidth > window.innerWidth,
             };",
        )
        .await;
    assert_eq!(
        look,
        json!({"lang": "pt", "logo_loaded": true,
               "button": ["rgb(255, 210, 63)", "rgb(0, 0, 0)"],
               "band": ["rgb(11, 37, 69)", "rgb(255, 255, 255)"],
               "legend": "O problema ficou resolvido?", "yes": "Sim",
               "scale": "1 = muito má, 5 = excelente", "overflow": false}),
        "the Portuguese, branded form"
    );
    b.click("input[name=fixed][value=yes]").await;
    b.click("input[name=rating][value='5']").await;
    b.click("input[name=courtesy][value='5']").await;
    b.click("input[name=recommend][value='10']").await;
    b.type_into("#comment", "Muito simpática e rápida.").await;
    b.screenshot(&artifact(&format!("feedback-form-pt-{tag}.png")))
        .await;
    b.click("#submit").await;
    assert_eq!(b.text("#title").await, "Obrigado!");
    let found = serious(b.axe().await);
    assert!(found.is_empty(), "axe on the thank-you page: {found:#?}");
    b.screenshot(&artifact(&format!("feedback-thanks-pt-{tag}.png")))
        .await;
    b.quit().await;
    let png = std::fs::read(artifact(&format!("feedback-form-pt-{tag}.png"))).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    let f = s.feedback(job).await.unwrap();
    assert_eq!(
        f["request"]["answer"]["comment"],
        "Muito simpática e rápida."
    );
}

backend_tests!(
    the_emailed_form_works_in_a_real_browser,
    the_form_in_portuguese_and_the_brand_in_a_real_browser,
);
