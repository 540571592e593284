//! A technician's visit from Kotlin: log in, sync, offline work (a
//! warranty extension sold for the job's registry asset, the remedy of
//! the recall that flagged the job and a sales lead logged on site among
//! it), a new process, sync; then the office sees it all through the API,
//! the asset's warranty extended, the asset remedied on the recall
//! campaign and the sales lead in sales' queue (not engineering's).

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, actor, spawn_app};
use crate::kotlin::kotlin;
use crate::office::{create_job, get_job, job_id, price_book, put_price_book};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visit_recorded_in_kotlin_reaches_the_server() {
    let app = spawn_app(TestBackend::Sqlite).await;
    // A depot and technician "tech" whose van holds 4 VALVE-22 and pump SN-1.
    let depot = crate::setup::depot(&app).await;
    let mut book = price_book();
    book["extensions"] = json!({
        "EXT-12": {"sku": "BOILER-X200", "name": "Boiler +1 year", "months": 12, "price": 6900,
                   "terms": "Parts and labour, one more year"},
        "PUMP-EXT": {"sku": "PUMP-7", "name": "Pump +1 year", "months": 12, "price": 2500,
                     "terms": "Pump only"},
    });
    let res = put_price_book(&app, &depot.admin, &book).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(2)).await.access_token;
    // The job is made from a registry asset whose warranty has ended.
    let depot_id = depot.depot.to_string();
    let acme =
        crate::support::customer(&app, &office, &depot_id, "Ana Lima", "BX-K1", "2025-01-31").await;
    let from_asset = crate::support::job_from_registry(
        json!({"asset_id": acme.asset}),
        Some(&depot.tech.to_string()),
    );
    let id = job_id(&create_job(&app, &office, &from_asset).await);
    // A recall of the asset's boiler, sent before the device's first sync:
    // it flags the open job, which the device then shows.
    let campaign = uuid::Uuid::new_v4();
    let recalls = format!("/v1/recalls/{campaign}");
    let res = crate::setup::send(
        &app,
        reqwest::Method::POST,
        &office,
        "/v1/recalls",
        Some(json!({
            "id": campaign,
            "sku": "BOILER-X200",
            "serials": ["BX-K1"],
            "reason": "Flue seal may perish",
            "remedy": "inspect",
            "compensation": "A free annual service",
        })),
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let page = crate::setup::ok(&app, reqwest::Method::GET, &office, &recalls, None).await;
    assert_eq!(page["assets"][0]["serial"], "BX-K1", "{page}");
    assert_eq!(page["assets"][0]["job_id"], id.to_string(), "{page}");
    assert_eq!(page["assets"][0]["opened"], false, "flagged, not opened");
    assert_eq!(page["assets"][0]["state"], "awaiting");
    let van = depot.van.to_string();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap().to_owned();
    let server = app.url("");

    // 1. Log in, sync, then the whole visit offline (one JVM).
    let (job, store2, recall) = (id.to_string(), store.clone(), campaign.to_string());
    let out = tokio::task::spawn_blocking(move || {
        kotlin().java(
            "VisitKt",
            &[
                "visit", &store2, &server, "tech", PASSWORD, &job, &van, &recall,
            ],
        )
    })
    .await
    .unwrap();
    let ids: Vec<String> = out
        .lines()
        .find_map(|l| l.strip_prefix("IDS "))
        .unwrap_or_else(|| panic!("no ids in {out}"))
        .split(' ')
        .map(str::to_owned)
        .collect();
    let [labour, valve, pump, payment, total, rma, contact] = &ids[..] else {
        panic!("ids {ids:?}")
    };
    let total: i64 = total.parse().unwrap();

    // Nothing reached the server yet.
    let view: Value = get_job(&app, &office, id).await.json().await.unwrap();
    assert_eq!(view["job"]["status"], "scheduled");
    let sales = "/v1/desk/queues/sales";
    let queue = crate::setup::ok(&app, reqwest::Method::GET, &depot.admin, sales, None).await;
    assert_eq!(queue["items"], json!([]), "offline: no contact yet {queue}");
    let page = crate::setup::ok(&app, reqwest::Method::GET, &office, &recalls, None).await;
    assert_eq!(page["assets"][0]["state"], "awaiting", "{page}");

    // 2. A new JVM: everything is still there; sync.
    let job = id.to_string();
    let args: Vec<String> = ["check", &store, &job, labour, valve, pump, payment]
        .iter()
        .map(|s| s.to_string())
        .chain([total.to_string(), rma.clone()])
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kotlin().java("VisitKt", &args)
    })
    .await
    .unwrap();
    assert!(out.contains("SYNCED rounds=1"), "{out}");
    let number = out
        .lines()
        .find_map(|l| l.strip_prefix("RMA "))
        .unwrap_or_else(|| panic!("no RMA number in {out}"));

    // 3. The office sees the job, its parts and its bill through the API.
    let res = get_job(&app, &office, id).await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    let job = &view["job"];
    assert_eq!(job["status"], "completed", "{view}");
    let parts = job["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "{view}");
    let part = |id: &str| parts.iter().find(|p| p["id"] == id).unwrap().clone();
    assert_eq!(part(valve)["sku"], "VALVE-22");
    assert_eq!(part(valve)["quantity"], 2);
    assert_eq!(part(pump)["sku"], "PUMP-7");
    assert_eq!(part(pump)["serials"], serde_json::json!(["SN-1"]));
    assert_eq!(part(valve)["van"], depot.van.to_string());
    // The billed entry, and the one corrected then voided on the phone (kept).
    let entries = job["labour"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{view}");
    let billed: Vec<&Value> = entries.iter().filter(|l| l["voided"] == false).collect();
    assert_eq!(billed.len(), 1, "{view}");
    assert_eq!(billed[0]["id"], labour.as_str());
    let voided = entries.iter().find(|l| l["voided"] == true).unwrap();
    assert_eq!(voided["minutes"], 60, "corrected before it was voided");
    assert_eq!(job["payments"][0]["id"], payment.as_str());
    assert_eq!(job["signature"]["signer"], "Ana Lima");
    assert_eq!(view["billing"]["total"], total, "{view}");
    // Paid 5000 by card, 1500 of it refunded on the phone within the limit.
    assert_eq!(view["billing"]["balance_due"], total - 5000 + 1500);
    assert_eq!(view["billing"]["refunded"], 1500, "{view}");
    assert_eq!(view["billing"]["refunds"][0]["state"], "approved", "{view}");
    // The extension sold on the phone: an invoice line, and the asset's
    // warranty (ended) extended from the day the job completed.
    assert_eq!(job["warranty_extension"]["offer"], "EXT-12");
    let lines = view["billing"]["lines"].as_array().unwrap();
    let ext: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "extension").collect();
    assert_eq!(ext.len(), 1, "{view}");
    assert_eq!(ext[0]["charged"], 6900);
    let res = crate::setup::send(
        &app,
        reqwest::Method::GET,
        &office,
        "/v1/assets/BX-K1",
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let asset: Value = res.json().await.unwrap();
    let today = time::OffsetDateTime::now_utc().date();
    let after = fieldsync_core::pricebook::add_months(today, 12).unwrap();
    assert_eq!(asset["warranty"]["end"], after.to_string(), "{asset}");

    // The recall's remedy recorded on the phone (inspected, no
    // replacement): the campaign shows the asset remedied.
    let page = crate::setup::ok(&app, reqwest::Method::GET, &office, &recalls, None).await;
    let assets = page["assets"].as_array().unwrap();
    assert_eq!(assets.len(), 1, "{page}");
    assert_eq!(assets[0]["serial"], "BX-K1");
    assert_eq!(assets[0]["state"], "remedied", "{page}");
    assert_eq!(assets[0]["replacement"], "none", "{page}");
    assert_eq!(assets[0]["job_status"], "completed", "{page}");
    assert_eq!(page["counts"]["remedied"], 1, "{page}");
    assert_eq!(page["counts"]["awaiting"], 0, "{page}");
    assert_eq!(
        view["job"]["recall_remedy"]["replacement"], "none",
        "{view}"
    );

    // The sales lead logged on the phone: in sales' queue (the admin sees
    // every team), about the job's customer and the job, and not in
    // engineering's.
    let queue = crate::setup::ok(&app, reqwest::Method::GET, &depot.admin, sales, None).await;
    let items = queue["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{queue}");
    let lead = &items[0]["contact"];
    assert_eq!(lead["id"], contact.as_str(), "{queue}");
    assert_eq!(lead["category"], "sales_lead");
    assert_eq!(lead["channel"], "on_site");
    assert_eq!(lead["source"], "device");
    assert_eq!(lead["job_id"], id.to_string());
    assert_eq!(lead["customer_id"], acme.customer.as_str());
    assert_eq!(lead["logged_by"], depot.tech.to_string());
    assert_eq!(
        lead["summary"],
        "Asks for a quote for a second boiler in the annex"
    );
    let engineering = crate::setup::ok(
        &app,
        reqwest::Method::GET,
        &depot.admin,
        "/v1/desk/queues/engineering",
        None,
    )
    .await;
    assert_eq!(engineering["items"], json!([]), "{engineering}");

    // The return opened on the phone: the office lists it under the RMA
    // number the phone showed, for the job, going to the van's depot.
    let returns = crate::setup::ok(&app, reqwest::Method::GET, &office, "/v1/returns", None).await;
    let listed = returns["returns"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{returns}");
    assert_eq!(listed[0]["id"], rma.as_str());
    assert_eq!(listed[0]["rma_number"], number);
    assert_eq!(listed[0]["serial"], "PUMP-OLD-9");
    assert_eq!(listed[0]["condition"], "faulty");
    assert_eq!(listed[0]["job_id"], id.to_string());
    assert_eq!(listed[0]["depot_id"], depot.depot.to_string());
    // The asset's history in the single view lists it under that number.
    let asset = crate::setup::ok(
        &app,
        reqwest::Method::GET,
        &office,
        "/v1/assets/BX-K1",
        None,
    )
    .await;
    let returns = asset["history"]["returns"].as_array().unwrap();
    assert_eq!(returns.len(), 1, "{asset}");
    assert_eq!(returns[0]["rma_number"], number);
    assert_eq!(returns[0]["status"], "open");
}
