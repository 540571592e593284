//! Issue 14 from Kotlin: offline, two photos and the signature image are
//! attached and the job completed; then the uploads go through the flaky
//! proxy. A first upload process is SIGKILLed mid-file; the next resumes
//! through connections cut several times. Every file reaches the server
//! once (the proxy counts the bytes it forwarded: each exactly once),
//! intact (the server's download hashes to the reference), and the server
//! lists them uploaded.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt as _;
use std::process::Stdio;

use fieldsync_core::Role;
use fieldsync_server::testing::TestBackend;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::{PASSWORD, actor, spawn_app};
use crate::kotlin::kotlin;
use crate::office::{create_job, get_job, job_id, new_job, price_book, put_price_book};
use crate::proxy::Proxy;

/// The device's chunk size (mobile-ffi's `upload::CHUNK`).
const CHUNK: u64 = 256 * 1024;

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A photo-like JPEG: noise compresses badly, so it is large.
fn jpeg(w: u32, h: u32, seed: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)).wrapping_add(u32::from(seed));
        let n = v.wrapping_mul(2_654_435_761);
        image::Rgb([(n >> 24) as u8, (n >> 16) as u8, (n >> 8) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(&img)
        .unwrap();
    out
}

/// A signature-like PNG: a dark stroke on white.
fn png() -> Vec<u8> {
    let img = image::GrayImage::from_fn(600, 200, |x, y| {
        let stroke = (f64::from(x) / 40.0).sin() * 60.0 + 100.0;
        image::Luma([if (f64::from(y) - stroke).abs() < 4.0 {
            0
        } else {
            255
        }])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_and_the_signature_upload_through_cuts_and_a_sigkill() {
    let app = spawn_app(TestBackend::Sqlite).await;
    let depot = crate::setup::depot(&app).await;
    let res = put_price_book(&app, &depot.admin, &price_book()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(2)).await.access_token;
    let id = job_id(&create_job(&app, &office, &new_job("Ana Lima", Some(depot.tech))).await);
    let proxy = Proxy::start(app.addr).await;

    let files = tempfile::tempdir().unwrap();
    let photos = [jpeg(900, 700, 1), jpeg(700, 500, 2)];
    let signature = png();
    let names = ["before.jpg", "after.jpg", "signature.png"];
    let contents = [&photos[0], &photos[1], &signature];
    for (name, bytes) in names.iter().zip(contents) {
        std::fs::write(files.path().join(name), bytes).unwrap();
    }
    let shas: Vec<String> = contents.iter().map(|b| sha(b)).collect();
    let sizes: Vec<u64> = contents.iter().map(|b| b.len() as u64).collect();
    assert!(
        sizes[0] > 3 * CHUNK,
        "the first photo takes several chunks: {sizes:?}"
    );
    let path = |i: usize| format!("/v1/jobs/{id}/attachments/{}/upload", shas[i]);
    let file = |i: usize| files.path().join(names[i]).to_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap().to_owned();

    // 1. Log in, sync, then offline: attach, sign, complete (one JVM).
    let (job, server) = (id.to_string(), proxy.url());
    let args = [
        "attach",
        &store,
        &server,
        "tech",
        PASSWORD,
        &job,
        &file(0),
        &file(1),
        &file(2),
    ]
    .map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || {
        kotlin().java(
            "attach.AttachKt",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    })
    .await
    .unwrap();
    let attached: Vec<String> = out
        .lines()
        .find_map(|l| l.strip_prefix("ATTACHED "))
        .unwrap_or_else(|| panic!("nothing attached: {out}"))
        .split(' ')
        .map(str::to_owned)
        .collect();
    assert_eq!(attached.len(), 3);
    assert_eq!(
        proxy.seen(&path(0)),
        0,
        "nothing uploaded offline or while paused"
    );

    // 2. An upload process killed in the middle of the first photo: the
    //    proxy holds its third request to that file (status, chunk, then this).
    proxy.stall(&path(0), 2);
    let mut child = kotlin()
        .command("attach.AttachKt", &["upload", &store, &job, "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    proxy.wait_forwarded(&path(0), 1).await;
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while proxy.seen(&path(0)) < 3 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the upload reaches the held request");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "the JVM died by SIGKILL");
    let early: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(
        !early.iter().any(|l| l.starts_with("UPLOADED")),
        "{early:?}"
    );
    proxy.release(&path(0));
    // The server holds part of the photo, not all of it.
    let status: Value = app
        .client
        .get(app.url(&path(0)))
        .bearer_auth(&office)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["complete"], false, "{status}");
    assert!(
        !status["received"].as_array().unwrap().is_empty(),
        "{status}"
    );

    // 3. The link cuts answers several times; a new process resumes. (The
    //    other two files may have finished before the kill: the files go
    //    in the job's order, so the cuts that must happen are the photo's.)
    proxy.lose_responses(&path(0), 3);
    proxy.lose_responses(&path(1), 2);
    proxy.lose_responses(&path(2), 1);
    let args = ["upload", &store, &job, "20"].map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || {
        kotlin().java(
            "attach.AttachKt",
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    })
    .await
    .unwrap();
    assert!(
        out.contains("WAS_PAUSED false"),
        "the killed process resumed uploads: {out}"
    );
    let done = out
        .lines()
        .find(|l| l.starts_with("UPLOADED"))
        .unwrap_or_else(|| panic!("not uploaded: {out}"));
    let cuts: u32 = done
        .split_whitespace()
        .find_map(|w| w.strip_prefix("cuts="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(cuts >= 3, "the link was cut several times: {done}");
    println!("{done}");

    // 4. Each file crossed the link once: a lost answer or a killed client
    //    costs no resent bytes, since the device asks what the server has.
    for (i, size) in sizes.iter().enumerate() {
        let forwarded = proxy.body_bytes(&path(i));
        println!("file {i}: {size} bytes, {forwarded} forwarded");
        assert_eq!(forwarded, *size, "file {i}: bytes sent twice or lost");
    }

    // 5. The server lists them uploaded, and each download hashes to its reference.
    let view: Value = get_job(&app, &office, id).await.json().await.unwrap();
    assert_eq!(view["job"]["status"], "completed", "{view}");
    let listed = view["attachments"]
        .as_array()
        .or_else(|| view["job"]["attachments"].as_array())
        .unwrap_or_else(|| panic!("no attachments listed: {view}"));
    assert_eq!(listed.len(), 3, "{view}");
    for (i, attachment) in attached.iter().enumerate() {
        let a = listed
            .iter()
            .find(|a| a["id"] == attachment.as_str())
            .unwrap_or_else(|| panic!("{attachment} not listed: {view}"));
        assert_eq!(a["sha256"], shas[i]);
        assert_eq!(a["size"], sizes[i]);
        assert_eq!(a["uploaded"], true, "{a}");
        let res = app
            .client
            .get(app.url(&format!("/v1/jobs/{id}/attachments/{}", shas[i])))
            .bearer_auth(&office)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let bytes = res.bytes().await.unwrap();
        assert_eq!(sha(&bytes), shas[i], "file {i} arrived intact");
    }
    assert_eq!(
        listed.iter().filter(|a| a["kind"] == "signature").count(),
        1
    );
    assert_eq!(view["job"]["signature"]["image_sha256"], shas[2]);
}
