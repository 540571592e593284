//! The console's single view in headless Chromium: a dispatcher takes the
//! seed's call (search by serial, open the customer, read the warranty end,
//! an offer's price, the open job and the nearest depot's stock, ask about
//! a spare part, follow the job link), with a screenshot of the customer's
//! page; a technician gets the 404 page for a customer none of their jobs
//! reference, and an inventory manager a 403 page.

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;

use crate::helpers::{PASSWORD, actor, backend_tests, spawn_app};
use crate::office::{job_id, put_price_book};
use crate::setup::{self, ok};
use crate::single_view::book_with_offers;
use crate::support::{customer, job_from_registry};
use crate::webdriver::{Browser, LAPTOP};

backend_tests!(the_console_answers_the_call);

async fn the_console_answers_the_call(backend: TestBackend) {
    let app = spawn_app(backend).await;
    let d = setup::depot(&app).await;
    let res = put_price_book(&app, &d.admin, &book_with_offers()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(60)).await.access_token;
    let north = d.depot.to_string();
    let acme = customer(&app, &office, &north, "Acme Boilers", "BX-1", "2031-01-31").await;
    let zen = customer(&app, &office, &north, "Zen Bakery", "ZB-77", "2025-01-31").await;
    // A serial with a slash and a space (serials are free text).
    ok(
        &app,
        Method::POST,
        &office,
        &format!("/v1/customers/{}/assets", zen.customer),
        Some(serde_json::json!({
            "site_id": zen.site, "sku": "BOILER-X200", "product": "Boiler X200",
            "serial": "ZB/77 a", "warranty_end": "2025-01-31",
        })),
    )
    .await;
    let job = ok(
        &app,
        Method::POST,
        &office,
        "/v1/jobs",
        Some(job_from_registry(
            serde_json::json!({"asset_id": acme.asset}),
            Some(&d.tech.to_string()),
        )),
    )
    .await;
    let job = job_id(&job).to_string();
    let base = app.url("");

    let b = Browser::start(LAPTOP).await;
    b.console_login(&base, "dispatch", PASSWORD).await;
    // The menu leads to the search.
    b.goto(&app.url("/console")).await;
    b.click("header nav a[href='/console/customers']").await;
    b.wait_for_path(|p| p == "/console/customers").await;
    assert_eq!(b.text("h1").await, "Customers");
    // The customer on the phone reads the serial off the boiler's plate.
    b.type_into("#q", "bx-1").await;
    b.click("#search").await;
    b.wait_for_path(|p| p == "/console/customers?q=bx-1").await;
    assert_eq!(b.text("#customers tbody td").await, "Acme Boilers");
    let rows = b
        .eval("return document.querySelectorAll('#customers tbody tr').length;")
        .await;
    assert_eq!(rows, 1, "one customer has serial BX-1");
    assert_eq!(b.text("#assets tbody td").await, "BX-1", "the asset too");
    b.click("#customers tbody a").await;
    let page = format!("/console/customers/{}", acme.customer);
    b.wait_for_path(|p| p == page).await;

    // The customer's page answers the call.
    assert_eq!(b.text("h1").await, "Acme Boilers");
    let asset = "section.asset[data-serial='BX-1']";
    //   when the warranty ends (and that it still runs),
    assert_eq!(
        b.text(&format!("{asset} .warranty")).await,
        "2031-01-31 active"
    );
    //   what extending it costs, and the end if bought today,
    let ext13 = format!("{asset} tr[data-offer='EXT-13']");
    assert_eq!(b.text(&format!("{ext13} .price")).await, "69.00 EUR");
    assert_eq!(b.text(&format!("{ext13} .end-after")).await, "2032-02-29");
    assert_eq!(
        b.text(&format!("{asset} tr[data-offer='EXT-24'] .price"))
            .await,
        "129.00 EUR"
    );
    //   whether the boiler is on the shelf at the nearest depot,
    assert_eq!(
        b.text(&format!("{asset} .stock")).await,
        "BOILER-X200: not in stock at North depot (the customer's depot)"
    );
    //   and the open job, linked to its page.
    let link = format!("#open-jobs a[href='/console/jobs/{job}']");
    assert!(b.text(&link).await.starts_with("Job of "));
    assert_eq!(
        b.text("#open-jobs tbody td:nth-child(2)").await,
        "scheduled"
    );
    assert_eq!(
        b.text("#contacts tbody td").await,
        "Ana Lima",
        "who to call back"
    );
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    let shot = dir.join(format!("customers-single-view-{backend:?}.png"));
    let bytes = b.screenshot(&shot).await;
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(png.len(), bytes);
    assert!(bytes > 1000, "{bytes} bytes");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");

    // The asset's page: the spare pump is on the shelf.
    b.click(&format!("{asset} h3 a")).await;
    b.wait_for_path(|p| p == "/console/assets/BX-1?sku=BOILER-X200")
        .await;
    b.type_into("#part", "PUMP-7").await;
    b.click("form.stack button").await;
    b.wait_for_path(|p| p.contains("part=PUMP-7")).await;
    assert_eq!(
        b.text(".stock .in-stock").await,
        "PUMP-7: in stock, 1 at North depot"
    );
    assert_eq!(b.text("#visits tbody td:nth-child(2)").await, "scheduled");
    assert_eq!(b.text("#customer").await, "Acme Boilers");
    // The job link opens the job's page.
    b.click(&format!("#visits a[href='/console/jobs/{job}']"))
        .await;
    b.wait_for_path(|p| p == format!("/console/jobs/{job}"))
        .await;
    assert_eq!(b.text("#status").await, "scheduled");
    // A serial with a slash and a space still links to its asset.
    b.goto(&app.url("/console/customers?q=zb%2F77+a")).await;
    b.click("#assets tbody a").await;
    b.wait_for_path(|p| p.starts_with("/console/assets/ZB"))
        .await;
    assert_eq!(b.text("h1").await, "Boiler X200, serial ZB/77 a");
    assert_eq!(
        b.text(".warranty").await,
        "2025-01-31 ended",
        "an ended warranty"
    );
    b.quit().await;

    // The technician of Acme's job sees Acme, and nothing of Zen: its
    // page, its asset and a search for it are the 404 page or empty.
    let b = Browser::start(LAPTOP).await;
    b.console_login(&base, "tech", PASSWORD).await;
    b.goto(&app.url(&format!("/console/customers/{}", acme.customer)))
        .await;
    assert_eq!(b.text("h1").await, "Acme Boilers");
    b.goto(&app.url(&format!("/console/customers/{}", zen.customer)))
        .await;
    assert_eq!(b.text("h1").await, "404 Not Found");
    b.goto(&app.url("/console/assets/ZB%2F77%20a")).await;
    assert_eq!(b.text("h1").await, "404 Not Found");
    b.goto(&app.url("/console/customers?q=Zen")).await;
    assert_eq!(b.text("#none").await, "No customer matches.");
    b.goto(&app.url("/console/customers/not-an-id")).await;
    assert_eq!(b.text("h1").await, "404 Not Found");
    // An inventory manager has no customers: no menu entry, a 403 page.
    b.console_login(&base, "mgr", PASSWORD).await;
    let entries = b
        .eval("return document.querySelectorAll(\"a[href='/console/customers']\").length;")
        .await;
    assert_eq!(entries, 0);
    b.goto(&app.url("/console/customers?q=bx-1")).await;
    assert_eq!(b.text("h1").await, "403 Forbidden");
    b.quit().await;
}
