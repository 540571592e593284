//! Several workers (each on its own connection pool, as in separate server
//! processes) race for the same outbox: every message is delivered exactly
//! once when nothing crashes (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite:
//! BEGIN IMMEDIATE).

use std::collections::BTreeSet;

use fieldsync_server::outbox::Worker;
use fieldsync_server::store::now_utc;
use fieldsync_server::testing::TestBackend;

use crate::helpers::backend_tests;
use crate::support::{SmtpSink, customer, fast, scene, visit, worker_on};

/// Rounds after which delivery is called stuck.
const MAX_ROUNDS: usize = 10;

async fn several_workers_deliver_each_message_once(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| fast(c, port)).await;
    // Three more workers on the same database, each with its own pool.
    let mut workers: Vec<Worker> = Vec::new();
    for _ in 0..3 {
        let store = fieldsync_server::store::open(&s.app.db.url).await.unwrap();
        workers.push(worker_on(store, &s.settings, &s.app));
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

    // All four run their rounds at the same moment, until one finds nothing.
    let mut attempted = 0;
    for round in 0.. {
        assert!(round < MAX_ROUNDS, "delivery did not finish");
        let now = now_utc();
        let (a, b, c, d) = tokio::join!(
            s.worker.run_once_at(now),
            workers[0].run_once_at(now),
            workers[1].run_once_at(now),
            workers[2].run_once_at(now),
        );
        let n = a.unwrap() + b.unwrap() + c.unwrap() + d.unwrap();
        if n == 0 {
            break;
        }
        attempted += n;
    }
    assert_eq!(attempted, JOBS, "each message attempted once");
    s.assert_nothing_left().await;

    let mail = smtp.messages();
    assert_eq!(mail.len(), JOBS, "no duplicates: {mail:?}");
    let to: BTreeSet<String> = mail
        .iter()
        .map(|m| m["to"][0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(to.len(), JOBS);
    for job in &jobs {
        let m = s.message(*job).await;
        assert_eq!(
            (m["status"].as_str(), m["attempts"].as_u64()),
            (Some("sent"), Some(1))
        );
    }
}

backend_tests!(several_workers_deliver_each_message_once);
