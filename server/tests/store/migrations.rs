//! Migrations that move data, per dialect (each migration folder once).
//! The conformance suites run every migration on an empty database; these
//! start from an older schema with rows in it.

use fieldsync_server::feedback::{RequestFilter, SubmitOutcome};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::feedback::answer;
use crate::open;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_feedback_answers_move_to_rows() {
    let db = fieldsync_server::testing::TestDatabase::new(
        fieldsync_server::testing::TestBackend::Sqlite,
    )
    .await;
    answers_in_columns_move_to_rows(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feedback_answers_move_to_rows() {
    let db = fieldsync_server::testing::TestDatabase::new(
        fieldsync_server::testing::TestBackend::Postgres,
    )
    .await;
    answers_in_columns_move_to_rows(&db.url).await;
}

/// Migration 0005 moves the answers the columns of `feedback_requests` held
/// (up to 0004) into `feedback_answers`: nothing is lost.
async fn answers_in_columns_move_to_rows(url: &str) {
    let (answered, open_one) = (Uuid::new_v4(), Uuid::new_v4());
    let (job_a, job_b) = (Uuid::new_v4(), Uuid::new_v4());
    // The old columns, written as the 0004 schema had them.
    let insert = |id: Uuid, job: Uuid, answer: &str| {
        format!(
            "INSERT INTO feedback_requests (id, job_id, job_status, customer_name, channel, \
                 contact, visit_date, work_done, created_at, answered_at, fixed, rating, \
                 courtesy, recommend, comment) \
             VALUES ('{id}', '{job}', 'completed', 'Ana Lima', 'email', 'ana@example.com', \
                 '2026-11-23', 'Replaced valve', {{t}}, {answer})"
        )
    };
    let old = [
        insert(answered, job_a, "{t}, {no}, 2, 4, 6, 'late again'"),
        insert(open_one, job_b, "NULL, NULL, NULL, NULL, NULL, NULL"),
    ];
    if url.starts_with("sqlite:") {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
            .await
            .unwrap();
        sqlx::migrate!("../migrations/sqlite")
            .run_to(4, &pool)
            .await
            .unwrap();
        for sql in &old {
            let sql = sql.replace("{t}", "1764000000000").replace("{no}", "0");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::migrate!("../migrations/postgres")
            .run_to(4, &pool)
            .await
            .unwrap();
        for sql in &old {
            let sql = sql
                .replace("{t}", "'2025-11-24T16:00:00Z'")
                .replace("{no}", "false");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }

    let store = open(url).await; // runs 0005
    let r = store.feedback_request(answered).await.unwrap();
    let a = r.answer.expect("still answered");
    assert_eq!(
        a.answered_at,
        OffsetDateTime::from_unix_timestamp(1_764_000_000).unwrap()
    );
    assert_eq!(a.yes("fixed"), Some(false));
    assert_eq!(
        (a.score("rating"), a.score("courtesy"), a.score("recommend")),
        (Some(2), Some(4), Some(6))
    );
    assert_eq!(a.text("comment"), "late again");
    assert_eq!(a.low_reason(), "not fixed, rated 2/5");
    assert!(
        store
            .feedback_request(open_one)
            .await
            .unwrap()
            .answer
            .is_none()
    );
    // New answers go to the new table, next to the moved ones.
    assert_eq!(
        store
            .submit_feedback(open_one, &answer(true, 5, "fine"), 3)
            .await
            .unwrap(),
        SubmitOutcome::Recorded { followup: false }
    );
    let all = store
        .feedback_requests(&RequestFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(
        all.iter()
            .all(|r| r.answer.as_ref().is_some_and(|a| a.values.len() == 5))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_returns_before_0020_are_checked_once_for_write_back() {
    let db = fieldsync_server::testing::TestDatabase::new(
        fieldsync_server::testing::TestBackend::Sqlite,
    )
    .await;
    returns_of_jobs_become_pending(&db.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_returns_before_0020_are_checked_once_for_write_back() {
    let db = fieldsync_server::testing::TestDatabase::new(
        fieldsync_server::testing::TestBackend::Postgres,
    )
    .await;
    returns_of_jobs_become_pending(&db.url).await;
}

/// Migration 0020 marks the returns stored before it that name a job as
/// pending write-back (the housekeeping then checks each job once); the
/// store lists those jobs, oldest return first, and clears returns one by
/// one. A return without a job is never pending.
async fn returns_of_jobs_become_pending(url: &str) {
    use fieldsync_core::{JobId, LineId};
    let (old_job, new_job) = (Uuid::new_v4(), Uuid::new_v4());
    let (a, b, c, office) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    // Rows as the 0019 schema had them; `{t}` is the opening time.
    let insert = |id: Uuid, n: u32, job: Option<Uuid>, t: u32| {
        let job = job.map_or("NULL".to_owned(), |j| format!("'{j}'"));
        format!(
            "INSERT INTO returns (id, rma_number, sku, serial, reason, condition, job_id, \
                 opened_by, opened_at, status, fingerprint) \
             VALUES ('{id}', 'RMA-2026-00000{n}', 'PUMP-7', 'SN-{n}', 'Leaks', 'faulty', {job}, \
                 '{id}', {{t{t}}}, 'open', {{fp}})"
        )
    };
    let old = [
        insert(a, 1, Some(new_job), 2),
        insert(b, 2, Some(old_job), 1),
        insert(c, 3, Some(new_job), 3),
        insert(office, 4, None, 1),
    ];
    if url.starts_with("sqlite:") {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
            .await
            .unwrap();
        sqlx::migrate!("../migrations/sqlite")
            .run_to(19, &pool)
            .await
            .unwrap();
        for sql in &old {
            let sql = sql
                .replace("{t1}", "1764000000000")
                .replace("{t2}", "1764000001000")
                .replace("{t3}", "1764000002000")
                .replace("{fp}", "zeroblob(32)");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::migrate!("../migrations/postgres")
            .run_to(19, &pool)
            .await
            .unwrap();
        for sql in &old {
            let sql = sql
                .replace("{t1}", "'2025-11-24T16:00:00Z'")
                .replace("{t2}", "'2025-11-24T16:00:01Z'")
                .replace("{t3}", "'2025-11-24T16:00:02Z'")
                .replace("{fp}", "decode(repeat('00', 32), 'hex')");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }

    let store = open(url).await; // runs 0020
    let (old_job, new_job) = (JobId::from_uuid(old_job), JobId::from_uuid(new_job));
    assert_eq!(
        store.jobs_with_pending_numbers(10).await.unwrap(),
        [old_job, new_job]
    );
    assert_eq!(store.jobs_with_pending_numbers(1).await.unwrap(), [old_job]);
    store
        .numbers_written(old_job, &[LineId::from_uuid(b)])
        .await
        .unwrap();
    // Only the returns named are cleared; the job's other one stays.
    store
        .numbers_written(new_job, &[LineId::from_uuid(a)])
        .await
        .unwrap();
    assert_eq!(
        store.jobs_with_pending_numbers(10).await.unwrap(),
        [new_job]
    );
    store
        .numbers_written(new_job, &[LineId::from_uuid(c)])
        .await
        .unwrap();
    assert!(
        store
            .jobs_with_pending_numbers(10)
            .await
            .unwrap()
            .is_empty()
    );
}
