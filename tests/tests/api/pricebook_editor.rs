//! The price book editor (issue 18 item 5) in headless Chromium: an admin
//! changes a price, adds a part, swaps a labour rate from the plain form;
//! that is a new version, and the page's history names each changed field
//! (old -> new), who saved it and when. A bad price is a form error that
//! saves nothing.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use serde_json::Value;

use crate::helpers::*;
use crate::office::{price_book, put_price_book};

async fn wait_for(b: &crate::webdriver::Browser, script: &str, want: Value) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_edits_the_price_book_and_sees_what_changed() {
    use crate::webdriver::{Browser, LAPTOP};
    let app = spawn_app(TestBackend::Sqlite).await;
    app.user("root", Role::Admin).await;
    let admin = app.login("root", &actor(1)).await.access_token;
    assert_eq!(
        put_price_book(&app, &admin, &price_book()).await.status(),
        200
    );
    let book = || async {
        app.client
            .get(app.url("/v1/pricebook"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };

    let b = Browser::start(LAPTOP).await;
    b.console_login(&app.url(""), "root", PASSWORD).await;
    b.goto(&app.url("/console/pricebook")).await;
    assert_eq!(b.text("h1").await, "Price book (version 1)");
    // Parts are listed by SKU: PUMP-7, then VALVE-22, then blank rows.
    let set = |name: &str, value: &str| {
        format!("document.querySelector(\"[name='{name}']\").value = '{value}';")
    };
    let mut script = String::new();
    for (name, value) in [
        ("part-1-price", "13.75"),
        ("part-2-sku", "SEAL-3"),
        ("part-2-name", "Seal kit"),
        ("part-2-price", "4.2"),
        ("labour-1-code", "overtime"),
        ("labour-1-name", "Overtime"),
        ("labour-1-hourly", "90"),
    ] {
        script.push_str(&set(name, value));
    }
    script.push_str(
        "document.querySelector(\"[name='labour-0-remove']\").checked = true; return null;",
    );
    b.eval(&script).await;
    b.click("form.pricebook button[type='submit']").await;
    wait_for(
        &b,
        "const h = document.querySelector('h1'); return h ? h.textContent : null;",
        Value::from("Price book (version 2)"),
    )
    .await;

    let saved = book().await;
    assert_eq!(saved["version"], 2);
    assert_eq!(saved["parts"]["VALVE-22"]["unit_price"], 1375);
    assert_eq!(saved["parts"]["SEAL-3"]["unit_price"], 420);
    assert_eq!(saved["parts"]["SEAL-3"]["name"], "Seal kit");
    assert_eq!(saved["parts"]["PUMP-7"]["unit_price"], 18900, "untouched");
    assert_eq!(saved["parts"]["PUMP-7"]["serialized"], true, "untouched");
    assert_eq!(
        saved["labour_rates"],
        serde_json::json!({"overtime": {"name": "Overtime", "hourly": 9000}})
    );

    // The history: version 2 by root with each field's change, version 1
    // the first recorded.
    let v2 = b.text("li[data-version='2']").await;
    for want in [
        "by root",
        "parts.VALVE-22.unit_price changed: 1250 → 1375",
        "parts.SEAL-3.name added: Seal kit",
        "parts.SEAL-3.unit_price added: 420",
        "labour_rates.standard.hourly removed (was 6000)",
        "labour_rates.overtime.name added: Overtime",
    ] {
        assert!(v2.contains(want), "{want:?} not in {v2}");
    }
    assert!(
        !v2.contains("PUMP-7"),
        "unchanged fields are not listed: {v2}"
    );
    let v1 = b.text("li[data-version='1']").await;
    assert!(v1.contains("The first version recorded."), "{v1}");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    assert!(b.screenshot(&dir.join("pricebook-editor.png")).await > 1000);

    // A bad price: the form says which row and field, nothing is saved.
    b.eval(&format!(
        "{} {} return null;",
        set("part-0-price", "cheap"),
        set("part-1-name", "Valve 22mm (new)")
    ))
    .await;
    b.click("form.pricebook button[type='submit']").await;
    wait_for(
        &b,
        "const e = document.querySelector('p.error'); return e ? e.textContent : null;",
        Value::from("Nothing saved. Part row 1: give a unit price like 12.50"),
    )
    .await;
    assert_eq!(b.text("h1").await, "Price book (version 2)");
    assert!(b.screenshot(&dir.join("pricebook-editor-error.png")).await > 1000);
    // A tax rate over 100%: the price book's own check, nothing saved.
    b.goto(&app.url("/console/pricebook")).await;
    b.eval(&format!("{} return null;", set("tax_rate_bps", "12000")))
        .await;
    b.click("form.pricebook button[type='submit']").await;
    wait_for(
        &b,
        "const e = document.querySelector('p.error'); \
         return e ? e.textContent.startsWith('Nothing saved.') && e.textContent.includes('tax_rate_bps') : null;",
        Value::Bool(true),
    )
    .await;
    b.quit().await;
    let after = book().await;
    assert_eq!(after, saved, "nothing saved by the refused forms");
}
