//! Compressed sync bodies (issue 19, wire bytes per change): a device that
//! asks gets its answer deflated and may send its request deflated; the
//! server bounds what a body inflates to (a decompression bomb is a JSON
//! 413, and the server is fine after); a client that asks for nothing is
//! answered with plain CBOR, as before.

use fieldsync_core::sync::{BodyEncoding, Limits, SyncResponse};
use fieldsync_core::{JobAction, JobId, Role, Timestamp};
use fieldsync_server::testing::TestBackend;

use crate::device::Device;
use crate::helpers::{assert_error, backend_tests, spawn_app_with};
use crate::office::{Staffed, create_job, get_job, job_id, new_job, staffed};

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

/// A visit's worth of offline work on `job`: travel, arrival, labour
/// entries and notes, about 20 changes.
fn visit(device: &mut Device, job: JobId, tag: &str) {
    device.act(job, JobAction::StartTravel, now());
    device.act(job, JobAction::Arrive, now());
    for i in 0..18 {
        device.act(
            job,
            JobAction::AddNote {
                text: format!("{tag} note {i}: replaced the seal on the pump"),
            },
            now(),
        );
    }
}

/// A routine sync of about 20 changes, compressed both ways (deflate, then
/// gzip): stored, answered compressed, and smaller than the same plain.
async fn a_compressed_sync_round_trips(backend: TestBackend) {
    let Staffed {
        app, office, tech, ..
    } = staffed(backend).await;
    let jobs = [
        job_id(&create_job(&app, &office, &new_job("Ada", Some(tech))).await),
        job_id(&create_job(&app, &office, &new_job("Bo", Some(tech))).await),
    ];
    let mut device = Device::login(&app, "tech", Role::Technician, 3).await;
    device.session.use_cursor(true);
    device.body_encoding = Some(BodyEncoding::Deflate);
    // `sync` checks each answer came with the asked Content-Encoding.
    let first = device.sync(&app).await;
    assert_eq!(first.round_trips, 1);
    assert_eq!(device.docs.len(), 3, "two jobs and the price book");

    for (job, encoding) in jobs
        .into_iter()
        .zip([BodyEncoding::Deflate, BodyEncoding::Gzip])
    {
        device.body_encoding = Some(encoding);
        visit(&mut device, job, encoding.name());
        let plain = device.session.start(&device.docs).encode().len();
        let synced = device.sync(&app).await;
        assert_eq!(synced.round_trips, 1, "{encoding:?}");
        assert!(synced.reports[0].rejected.is_empty(), "{synced:?}");
        assert!(
            synced.request_bytes < plain,
            "{encoding:?}: {} B compressed of {plain} B plain",
            synced.request_bytes
        );
        // The server holds every change the device made.
        let view: serde_json::Value = get_job(&app, &office, job).await.json().await.unwrap();
        assert_eq!(view["job"]["status"], "on_site", "{view}");
        let notes = view["job"]["notes"].as_str().unwrap();
        assert!(
            notes.contains(&format!("{} note 17", encoding.name())),
            "{notes}"
        );
    }

    // The office edits a job; the compressed answer carries it.
    let res = crate::office::patch_json(
        &app,
        &office,
        &format!("/v1/jobs/{}", jobs[0]),
        &serde_json::json!({ "notes": "Gate code 4711" }),
    )
    .await;
    assert_eq!(res.status(), 200);
    device.body_encoding = Some(BodyEncoding::Deflate);
    device.sync(&app).await;
    assert!(device.job(jobs[0]).notes.contains("4711"));
}

/// Bodies the server will not inflate: a bomb (far past the body limit
/// once inflated), corrupt data, an unknown coding, and one that fits the
/// body limit but not the memory budget. Each is a JSON error, nothing is
/// stored, the memory reserved is given back, and a good sync works after.
async fn bodies_that_do_not_inflate_are_refused(backend: TestBackend) {
    const LIMIT: usize = 1 << 20;
    let app = spawn_app_with(backend, |s| s.max_body_bytes = LIMIT).await;
    app.user("tech", Role::Technician).await;
    let mut device = Device::login(&app, "tech", Role::Technician, 3).await;
    let request = device.session.start(&device.docs).encode();
    let free = app.sync_gate.memory_free_kib();
    let post = |coding: &'static str, body: Vec<u8>| {
        app.client
            .post(app.url("/v1/sync"))
            .bearer_auth(&device.token)
            .header("content-type", "application/cbor")
            .header("content-encoding", coding)
            .body(body)
            .send()
    };

    // 64 MiB of zeros in about 64 KiB: 64x the body limit once inflated.
    let bomb = BodyEncoding::Deflate.compress(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < LIMIT / 8, "{}", bomb.len());
    let body = assert_error(
        post("deflate", bomb).await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    assert!(body["error"]["message"].is_string(), "{body}");
    let gz_bomb = BodyEncoding::Gzip.compress(&vec![b'a'; 16 << 20]);
    assert_error(
        post("gzip", gz_bomb).await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;

    let mut corrupt = BodyEncoding::Deflate.compress(&request);
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x55;
    let body = assert_error(post("deflate", corrupt).await.unwrap(), 400, "bad_request").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deflate"),
        "{body}"
    );
    let body = assert_error(post("br", vec![1, 2, 3]).await.unwrap(), 415, "media_type").await;
    assert!(
        body["error"]["message"].as_str().unwrap().contains("br"),
        "{body}"
    );
    // Within the body limit, past what the memory budget has left (other
    // work holds all but 256 KiB of it): shed, not swallowed.
    let others = app
        .sync_gate
        .reserve_waiting((free - 256) * 1024, std::time::Duration::from_secs(1))
        .await
        .expect("the budget is free");
    let heavy = BodyEncoding::Deflate.compress(&vec![7u8; 900 << 10]);
    assert_error(post("deflate", heavy).await.unwrap(), 503, "overloaded").await;
    drop(others);

    assert_eq!(
        app.sync_gate.memory_free_kib(),
        free,
        "every refused body gave its memory back"
    );
    device.body_encoding = Some(BodyEncoding::Deflate);
    let after = device.sync(&app).await;
    assert_eq!(after.round_trips, 1);
}

/// A client that asks for no compression (the stock automerge client, any
/// HTTP library without it) gets plain CBOR; `identity` is plain too; and
/// a plain request may still ask for a compressed answer.
async fn a_plain_client_is_answered_plainly(backend: TestBackend) {
    let Staffed {
        app, tech, office, ..
    } = staffed(backend).await;
    create_job(&app, &office, &new_job("Ada", Some(tech))).await;
    let mut device = Device::login(&app, "tech", Role::Technician, 3).await;
    let request = device.session.start(&device.docs).encode();

    for accept in [
        None,
        Some("identity"),
        Some("br"),
        Some("deflate;q=0, gzip;q=0"),
    ] {
        let mut post = app
            .client
            .post(app.url("/v1/sync"))
            .bearer_auth(&device.token)
            .header("content-type", "application/cbor")
            .body(request.clone());
        if let Some(accept) = accept {
            post = post.header("accept-encoding", accept);
        }
        let res = post.send().await.unwrap();
        assert_eq!(res.status(), 200, "{accept:?}");
        assert!(
            res.headers().get("content-encoding").is_none(),
            "{accept:?}"
        );
        let bytes = res.bytes().await.unwrap();
        let response = SyncResponse::decode(&bytes, &Limits::default()).unwrap();
        assert_eq!(
            response.docs.len(),
            2,
            "{accept:?}: the job and the price book"
        );
    }

    let res = app
        .client
        .post(app.url("/v1/sync"))
        .bearer_auth(&device.token)
        .header("content-type", "application/cbor")
        .header("accept-encoding", "gzip, deflate, br")
        .body(request)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "deflate");
    assert_eq!(res.headers()["vary"], "accept-encoding");
    let bytes = res.bytes().await.unwrap();
    let plain = BodyEncoding::Deflate
        .inflate(&bytes, usize::MAX, |_| true)
        .unwrap();
    assert!(
        bytes.len() < plain.len(),
        "{} of {}",
        bytes.len(),
        plain.len()
    );
    let response = SyncResponse::decode(&plain, &Limits::default()).unwrap();
    assert_eq!(response.docs.len(), 2);
}

backend_tests!(
    a_compressed_sync_round_trips,
    bodies_that_do_not_inflate_are_refused,
    a_plain_client_is_answered_plainly
);
