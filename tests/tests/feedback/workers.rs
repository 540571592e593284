//! Several server instances (each with its own pool and outbox worker) on
//! one database: every message is delivered exactly once when nothing
//! crashes (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE).

use std::collections::BTreeSet;
use std::time::Duration;

use fieldsync_server::app::{AppState, serve_state};
use fieldsync_server::config::Settings;
use fieldsync_server::testing::TestBackend;
use tokio::sync::oneshot;

use crate::helpers::backend_tests;
use crate::support::{SmtpSink, customer, fast, scene, visit};

async fn several_workers_deliver_each_message_once(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let tune = move |c: &mut Settings| {
        fast(c, port);
        c.feedback.outbox_poll_ms = 10;
    };
    let s = scene(backend, tune).await;
    // Three more servers on the same database, each running a worker.
    let mut stops = Vec::new();
    for _ in 0..3 {
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: s.app.db.dir.path().to_owned(),
            database_url: Some(s.app.db.url.clone()),
            ..Settings::default()
        };
        tune(&mut settings);
        let state = AppState::build(settings).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            serve_state(state, listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap()
        });
        stops.push(tx);
    }

    const JOBS: usize = 10;
    let mut jobs = Vec::new();
    for i in 0..JOBS {
        jobs.push(s.job(customer(&format!("c{i}@example.com"))).await);
    }
    let mut phone = s.device(1).await;
    for job in &jobs {
        visit(&mut phone, *job);
    }
    let synced = phone.sync(&s.app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());

    let mail = smtp.wait_for(JOBS).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mail_after = smtp.messages();
    assert_eq!(mail_after.len(), JOBS, "no duplicates: {mail:?}");
    let to: BTreeSet<String> = mail_after
        .iter()
        .map(|m| m["to"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(to.len(), JOBS);
    for job in &jobs {
        let m = &s.feedback(*job).await.unwrap()["messages"][0];
        assert_eq!(
            (m["status"].as_str(), m["attempts"].as_u64()),
            (Some("sent"), Some(1))
        );
    }
    for stop in stops {
        let _ = stop.send(());
    }
}

backend_tests!(several_workers_deliver_each_message_once);
