//! A third-party client: `tools/node-client/client.mjs`, written from
//! docs/sync-protocol.md alone with the stock npm `@automerge/automerge` and
//! `cborg` (a CBOR library), against a real server. It logs in, syncs, works the job with
//! the fast path, and recovers from a rejection without looping; the server
//! side is checked here through the API.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use serde_json::Value;

use crate::helpers::{PASSWORD, actor, backend_tests, spawn_app};
use crate::office::{create_job, get_job, job_id, new_job, price_book, put_price_book};

/// `STEP <name> key=value ...` lines, by name.
fn steps(stdout: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("STEP "))
        .map(|l| {
            let mut words = l.split(' ');
            let name = words.next().unwrap().to_owned();
            let fields = words
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            (name, fields)
        })
        .collect()
}

/// Runs the client; panics with its output if it fails.
fn run_client(server: &str, job: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/node-client");
    assert!(
        dir.join("node_modules/@automerge/automerge").exists()
            && dir.join("node_modules/cborg").exists(),
        "{} has no node_modules: run scripts/install-test-tools",
        dir.display()
    );
    let out = Command::new("node")
        .current_dir(&dir)
        .arg("client.mjs")
        .args([server, "tech", PASSWORD, job])
        .output()
        .expect("node must be installed (Node.js 20 or later)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the Node client failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn a_client_written_from_the_protocol_document_syncs_and_recovers(backend: TestBackend) {
    let app = spawn_app(backend).await;
    app.user("admin", Role::Admin).await;
    let admin = app.login("admin", &actor(1)).await.access_token;
    let res = put_price_book(&app, &admin, &price_book()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let tech = app.user("tech", Role::Technician).await;
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(2)).await.access_token;
    let id = job_id(&create_job(&app, &office, &new_job("Rita Sousa", Some(tech))).await);

    let (url, job) = (app.url(""), id.to_string());
    let stdout = tokio::task::spawn_blocking(move || run_client(&url, &job))
        .await
        .unwrap();
    let s = steps(&stdout);
    let step = |name: &str| {
        s.get(name)
            .unwrap_or_else(|| panic!("no {name} step in:\n{stdout}"))
    };

    // The first sync brings everything in one request; the fast path and an
    // idle sync are one request each.
    assert_eq!(step("LOGGED_IN")["user"], tech.to_string());
    assert_eq!(step("SYNCED")["requests"], "1");
    assert_eq!(step("SYNCED")["docs"], "2", "the job and the price book");
    assert_eq!(step("SYNCED")["status"], "scheduled");
    assert_eq!(step("FAST_PATH")["requests"], "1");
    assert_eq!(step("FAST_PATH")["outcome"], "accepted");
    assert_eq!(step("IDLE")["requests"], "1");
    // The refused edit is named, dropped, and the note made on top of it
    // arrives in the very next round: two requests, no loop.
    let rejected = step("REJECTED");
    assert_eq!(rejected["code"], "forbidden");
    assert_eq!(rejected["change"].len(), 64);
    assert_eq!(rejected["dropped"], "set_priority");
    assert_eq!(step("RECOVERED")["requests"], "2");
    assert_eq!(step("RECOVERED")["outcomes"], "rejected,accepted");
    assert_eq!(step("IDLE")["total"], "5");

    // The server has every valid edit and not the refused one.
    let res = get_job(&app, &office, id).await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    let j = &view["job"];
    assert_eq!(j["status"], "travelling", "{view}");
    assert_eq!(j["priority"], "high", "{view}");
    assert_eq!(j["labour"][0]["id"], step("FAST_PATH")["labour"].as_str());
    assert_eq!(j["labour"][0]["minutes"], 45);
    let notes = j["notes"].as_str().unwrap();
    assert!(notes.contains("On my way"), "{notes}");
    assert!(notes.contains("quote requested"), "{notes}");
}

backend_tests!(a_client_written_from_the_protocol_document_syncs_and_recovers);
