//! Attachments over real HTTP (issue 14): a technician's device references
//! a file in the job document (synced), then uploads its bytes in chunks
//! that resume after a dropped one; the office downloads them. Every test
//! runs on SQLite and PostgreSQL, each with the filesystem blob store and
//! with a real S3-compatible server (moto) started by the test.

use std::io::Cursor;

use fieldsync_core::job::AttachmentKind;
use fieldsync_core::{JobAction, JobId, LineId, Role, Timestamp};
use fieldsync_server::attachments::lifecycle::Sweeper;
use fieldsync_server::testing::TestBackend;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{TestApp, assert_error, spawn_app_on};
use crate::office::{create_job, get_job, job_id, new_job, post_json};
use crate::s3::S3Server;
use crate::sync::office;

/// Expands each test (`async fn(TestBackend, Store)`) over both databases
/// and both blob stores.
macro_rules! attachment_tests {
    ($($test:ident),+ $(,)?) => {
        attachment_tests!(@mod sqlite_fs, Sqlite, Fs; $($test),+);
        attachment_tests!(@mod postgres_fs, Postgres, Fs; $($test),+);
        attachment_tests!(@mod sqlite_s3, Sqlite, S3; $($test),+);
        attachment_tests!(@mod postgres_s3, Postgres, S3; $($test),+);
    };
    (@mod $name:ident, $backend:ident, $store:ident; $($test:ident),+) => {
        mod $name {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(
                        fieldsync_server::testing::TestBackend::$backend,
                        super::Store::$store,
                    )
                    .await
                }
            )+
        }
    };
}

attachment_tests!(
    a_resumed_upload_completes_and_the_office_downloads_it_without_gps,
    another_technician_cannot_upload_or_fetch,
    refused_uploads_store_nothing,
    the_same_blob_on_a_second_job_is_complete_at_once,
    the_sweep_deletes_abandoned_uploads_and_cancelled_jobs_blobs_after_retention,
    the_office_can_let_a_job_keep_locations,
);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Fs,
    S3,
}

/// The app, and the S3 server behind it when the store is S3.
struct World {
    app: TestApp,
    s3: Option<S3Server>,
    office: String,
}

async fn world(backend: TestBackend, store: Store) -> World {
    world_with(backend, store, |_| {}).await
}

async fn world_with(
    backend: TestBackend,
    store: Store,
    adjust: impl FnOnce(&mut fieldsync_server::config::Settings),
) -> World {
    let s3 = match store {
        Store::Fs => None,
        Store::S3 => Some(S3Server::start().await),
    };
    let options = s3.as_ref().map(S3Server::options).unwrap_or_default();
    let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = s3.as_ref().map(|s| s.url("blobs-prefix"));
    let app = spawn_app_on(backend, &options, |s| {
        s.attachments.blob_url = url;
        adjust(s);
    })
    .await;
    let office = office(&app).await.dispatcher;
    World { app, s3, office }
}

fn now() -> Timestamp {
    Timestamp(time::OffsetDateTime::now_utc().unix_timestamp() * 1000)
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A JPEG photo of `w` x `h` with a varied picture (so it is not tiny)
/// and EXIF holding the camera make and a GPS position.
fn photo_with_gps(w: u32, h: u32) -> Vec<u8> {
    use exif::{Field, In, Rational, Tag, Value as X};
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v = x.wrapping_mul(7) ^ y.wrapping_mul(13) ^ (x * y);
        image::Rgb([v as u8, (v >> 3) as u8, (x + y) as u8])
    });
    let mut jpeg = Cursor::new(Vec::new());
    img.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let make = Field {
        tag: Tag::Make,
        ifd_num: In::PRIMARY,
        value: X::Ascii(vec![b"FieldCam".to_vec()]),
    };
    let lat_ref = Field {
        tag: Tag::GPSLatitudeRef,
        ifd_num: In::PRIMARY,
        value: X::Ascii(vec![b"N".to_vec()]),
    };
    let lat = Field {
        tag: Tag::GPSLatitude,
        ifd_num: In::PRIMARY,
        value: X::Rational(vec![
            Rational::from((41, 1)),
            Rational::from((8, 1)),
            Rational::from((5_000, 100)),
        ]),
    };
    let lon = Field {
        tag: Tag::GPSLongitude,
        ifd_num: In::PRIMARY,
        value: X::Rational(vec![
            Rational::from((8, 1)),
            Rational::from((36, 1)),
            Rational::from((1_000, 100)),
        ]),
    };
    let mut writer = exif::experimental::Writer::new();
    for f in [&make, &lat_ref, &lat, &lon] {
        writer.push_field(f);
    }
    let mut tiff = Cursor::new(Vec::new());
    writer.write(&mut tiff, false).unwrap();
    use img_parts::ImageEXIF as _;
    let mut parsed = img_parts::jpeg::Jpeg::from_bytes(jpeg.into_inner().into()).unwrap();
    parsed.set_exif(Some(tiff.into_inner().into()));
    let out = parsed.encoder().bytes().to_vec();
    assert!(has_gps(&out), "the test photo carries GPS data");
    out
}

/// The EXIF fields of a JPEG, by tag.
fn exif_tags(jpeg: &[u8]) -> Vec<exif::Tag> {
    match exif::Reader::new().read_from_container(&mut Cursor::new(jpeg)) {
        Ok(e) => e.fields().map(|f| f.tag).collect(),
        Err(_) => Vec::new(),
    }
}

fn has_gps(jpeg: &[u8]) -> bool {
    exif_tags(jpeg)
        .iter()
        .any(|t| t.context() == exif::Context::Gps)
}

/// A technician with a job on site, their device synced.
async fn technician(w: &World, name: &str, n: u8) -> (Device, JobId) {
    let t = w.app.user(name, Role::Technician).await;
    let job = job_id(&create_job(&w.app, &w.office, &new_job("Ana Lima", Some(t))).await);
    let mut dev = Device::login(&w.app, name, Role::Technician, n).await;
    dev.sync(&w.app).await;
    dev.act(job, JobAction::StartTravel, now());
    dev.act(job, JobAction::Arrive, now());
    (dev, job)
}

/// Adds a reference to the job on the device and syncs it (the order the
/// contract asks: reference first, bytes after). Returns the hash.
async fn attach(
    app: &TestApp,
    dev: &mut Device,
    job: JobId,
    sha256: &str,
    size: u64,
    media_type: &str,
    kind: AttachmentKind,
) {
    dev.act(
        job,
        JobAction::AddAttachment {
            attachment: LineId::from_uuid(Uuid::new_v4()),
            sha256: sha256.into(),
            size,
            media_type: media_type.into(),
            kind,
            caption: "Boiler plate".into(),
        },
        now(),
    );
    let synced = dev.sync(app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());
}

fn upload_path(job: JobId, sha256: &str) -> String {
    format!("/v1/jobs/{job}/attachments/{sha256}/upload")
}

/// Sends `bytes[start..end]` as one chunk of a `total`-byte upload.
async fn put_chunk(
    app: &TestApp,
    token: &str,
    job: JobId,
    sha256: &str,
    bytes: &[u8],
    (start, end): (usize, usize),
    total: usize,
) -> reqwest::Response {
    app.client
        .put(app.url(&upload_path(job, sha256)))
        .bearer_auth(token)
        .header(
            "content-range",
            format!("bytes {start}-{}/{total}", end - 1),
        )
        .body(bytes[start..end].to_vec())
        .send()
        .await
        .unwrap()
}

async fn status(app: &TestApp, token: &str, job: JobId, sha256: &str) -> reqwest::Response {
    app.client
        .get(app.url(&upload_path(job, sha256)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn fetch(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Uploads all of `bytes` in `chunk`-byte chunks; returns the last answer.
async fn upload_all(
    app: &TestApp,
    token: &str,
    job: JobId,
    sha256: &str,
    bytes: &[u8],
    chunk: usize,
) -> reqwest::Response {
    let mut last = None;
    for start in (0..bytes.len()).step_by(chunk) {
        let end = (start + chunk).min(bytes.len());
        let res = put_chunk(app, token, job, sha256, bytes, (start, end), bytes.len()).await;
        if end < bytes.len() {
            assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        } else {
            last = Some(res);
        }
    }
    last.unwrap()
}

/// Object keys in the blob store, under `prefix`.
async fn keys(w: &World, prefix: &str) -> Vec<String> {
    let prefix = object_store::path::Path::from(prefix);
    w.app
        .blobs
        .list(&prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.to_string())
        .collect()
}

async fn a_resumed_upload_completes_and_the_office_downloads_it_without_gps(
    backend: TestBackend,
    store: Store,
) {
    let w = world(backend, store).await;
    let (mut dev, job) = technician(&w, "tech", 1).await;
    let photo = photo_with_gps(900, 600);
    let total = photo.len();
    assert!(
        total > 3 * 64 * 1024,
        "a photo of several chunks ({total} bytes)"
    );
    let hash = sha(&photo);
    attach(
        &w.app,
        &mut dev,
        job,
        &hash,
        total as u64,
        "image/jpeg",
        AttachmentKind::SerialPlate,
    )
    .await;

    // Nothing held yet.
    let res = status(&w.app, &dev.token, job, &hash).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"sha256": hash, "size": null, "received": [], "complete": false})
    );

    // Chunks of 64 KiB; the second one's connection drops mid-body (the
    // server gets fewer bytes than the range says: refused, not stored).
    let chunk = 64 * 1024;
    let res = put_chunk(&w.app, &dev.token, job, &hash, &photo, (0, chunk), total).await;
    assert_eq!(res.status(), 200);
    let short = w
        .app
        .client
        .put(w.app.url(&upload_path(job, &hash)))
        .bearer_auth(&dev.token)
        .header(
            "content-range",
            format!("bytes {chunk}-{}/{total}", 2 * chunk - 1),
        )
        .body(photo[chunk..chunk + 1000].to_vec())
        .send()
        .await
        .unwrap();
    assert_error(short, 400, "bad_range").await;
    for start in (2 * chunk..total).step_by(chunk) {
        let end = (start + chunk).min(total);
        let res = put_chunk(&w.app, &dev.token, job, &hash, &photo, (start, end), total).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["complete"], false, "a gap remains: {body}");
    }
    // The device asks what is missing after reconnecting.
    let body: Value = status(&w.app, &dev.token, job, &hash)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["size"], total);
    assert_eq!(body["received"], json!([[0, chunk], [2 * chunk, total]]));
    assert_eq!(body["complete"], false);
    // Not downloadable before it is whole.
    let res = fetch(
        &w.app,
        &w.office,
        &format!("/v1/jobs/{job}/attachments/{hash}"),
    )
    .await;
    assert_error(res, 404, "not_found").await;
    // A repeated chunk is fine.
    let res = put_chunk(&w.app, &dev.token, job, &hash, &photo, (0, chunk), total).await;
    assert_eq!(res.status(), 200);
    // The missing chunk completes it.
    let res = put_chunk(
        &w.app,
        &dev.token,
        job,
        &hash,
        &photo,
        (chunk, 2 * chunk),
        total,
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"sha256": hash, "size": total, "received": [[0, total]], "complete": true})
    );
    // Nothing staged is left.
    assert_eq!(keys(&w, "staging").await, Vec::<String>::new());
    if let Some(s3) = &w.s3 {
        let in_bucket = s3.keys().await;
        assert!(
            in_bucket.contains(&format!("blobs-prefix/blobs/{hash}")),
            "{in_bucket:?}"
        );
    }

    // The office downloads the stored copy: the photo, without GPS.
    let res = fetch(
        &w.app,
        &w.office,
        &format!("/v1/jobs/{job}/attachments/{hash}"),
    )
    .await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "image/jpeg");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(
        h["content-disposition"],
        format!("attachment; filename=\"serial_plate-{}.jpg\"", &hash[..12])
    );
    let stored = res.bytes().await.unwrap();
    assert!(
        !has_gps(&stored),
        "GPS must be stripped: {:?}",
        exif_tags(&stored)
    );
    assert!(
        exif_tags(&stored).contains(&exif::Tag::Make),
        "other EXIF stays"
    );
    let decoded = image::load_from_memory(&stored).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (900, 600));
    assert_ne!(
        sha(&stored),
        hash,
        "the stored copy differs from the file taken"
    );
    // The technician may download it too.
    let res = fetch(
        &w.app,
        &dev.token,
        &format!("/v1/jobs/{job}/attachments/{hash}"),
    )
    .await;
    assert_eq!(res.status(), 200);

    // A thumbnail, longest side 320.
    let res = fetch(
        &w.app,
        &w.office,
        &format!("/v1/jobs/{job}/attachments/{hash}/thumbnail"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    let thumb = image::load_from_memory(&res.bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (320, 213));

    // The job lists it as uploaded.
    let view: Value = get_job(&w.app, &w.office, job).await.json().await.unwrap();
    let listed = view["attachments"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{view}");
    assert_eq!(listed[0]["sha256"], hash);
    assert_eq!(listed[0]["size"], total);
    assert_eq!(listed[0]["kind"], "serial_plate");
    assert_eq!(listed[0]["media_type"], "image/jpeg");
    assert_eq!(listed[0]["caption"], "Boiler plate");
    assert_eq!(listed[0]["by"], dev.user().to_string());
    assert_eq!(listed[0]["uploaded"], true);
}

async fn another_technician_cannot_upload_or_fetch(backend: TestBackend, store: Store) {
    let w = world(backend, store).await;
    let (mut dev, job) = technician(&w, "tech", 1).await;
    let (other, other_job) = technician(&w, "other", 2).await;
    let photo = photo_with_gps(200, 100);
    let hash = sha(&photo);
    attach(
        &w.app,
        &mut dev,
        job,
        &hash,
        photo.len() as u64,
        "image/jpeg",
        AttachmentKind::Before,
    )
    .await;
    let total = photo.len();

    // The other technician: every route answers 404, as for no such job.
    assert_error(
        status(&w.app, &other.token, job, &hash).await,
        404,
        "not_found",
    )
    .await;
    let res = put_chunk(&w.app, &other.token, job, &hash, &photo, (0, total), total).await;
    assert_error(res, 404, "not_found").await;
    assert_eq!(
        keys(&w, "staging").await,
        Vec::<String>::new(),
        "nothing staged"
    );
    // Their own job does not reference the hash: 404 too (no hint that it exists).
    let res = put_chunk(
        &w.app,
        &other.token,
        other_job,
        &hash,
        &photo,
        (0, total),
        total,
    )
    .await;
    assert_error(res, 404, "not_found").await;

    // The owner uploads it; the other technician still cannot fetch it.
    let res = put_chunk(&w.app, &dev.token, job, &hash, &photo, (0, total), total).await;
    assert_eq!(res.status(), 200);
    for path in [
        format!("/v1/jobs/{job}/attachments/{hash}"),
        format!("/v1/jobs/{job}/attachments/{hash}/thumbnail"),
        format!("/v1/jobs/{other_job}/attachments/{hash}"),
        format!("/v1/jobs/{}/attachments/{hash}", Uuid::new_v4()),
        format!("/v1/jobs/{job}/attachments/{}", "ab".repeat(32)),
        format!("/v1/jobs/{job}/attachments/not-a-hash"),
    ] {
        assert_error(fetch(&w.app, &other.token, &path).await, 404, "not_found").await;
    }
    // No token: 401.
    let res = w
        .app
        .client
        .get(w.app.url(&upload_path(job, &hash)))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "unauthorized").await;
}

async fn refused_uploads_store_nothing(backend: TestBackend, store: Store) {
    let w = world_with(backend, store, |s| s.attachments.max_attachment_mb = 1).await;
    let (mut dev, job) = technician(&w, "tech", 1).await;
    let t = dev.token.clone();

    // A wrong hash: the whole is refused and the staging discarded.
    let photo = photo_with_gps(300, 200);
    let wrong = sha(b"some other file");
    attach(
        &w.app,
        &mut dev,
        job,
        &wrong,
        photo.len() as u64,
        "image/jpeg",
        AttachmentKind::After,
    )
    .await;
    let res = upload_all(&w.app, &t, job, &wrong, &photo, 4096).await;
    assert_error(res, 422, "hash_mismatch").await;
    let body: Value = status(&w.app, &t, job, &wrong).await.json().await.unwrap();
    assert_eq!(
        body,
        json!({"sha256": wrong, "size": null, "received": [], "complete": false})
    );
    assert_eq!(keys(&w, "staging").await, Vec::<String>::new());
    assert_eq!(keys(&w, "blobs").await, Vec::<String>::new());

    // An executable renamed .jpg, its hash right: refused by its bytes.
    let mut exe = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec();
    exe.extend((0..5000u32).map(|i| (i * 31) as u8));
    let exe_hash = sha(&exe);
    attach(
        &w.app,
        &mut dev,
        job,
        &exe_hash,
        exe.len() as u64,
        "image/jpeg",
        AttachmentKind::Document,
    )
    .await;
    // Refused at its first chunk, not after the whole upload: nothing of
    // it staged, and a chunk sent after it does not make it an upload.
    let res = put_chunk(&w.app, &t, job, &exe_hash, &exe, (0, 4096), exe.len()).await;
    assert_error(res, 415, "media_type").await;
    assert_eq!(keys(&w, "staging").await, Vec::<String>::new());
    let body: Value = status(&w.app, &t, job, &exe_hash)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({"sha256": exe_hash, "size": null, "received": [], "complete": false})
    );
    // A later chunk carries no signature and is staged; when the first
    // chunk comes, it is refused and the staged one discarded with it.
    let res = put_chunk(
        &w.app,
        &t,
        job,
        &exe_hash,
        &exe,
        (4096, exe.len()),
        exe.len(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = put_chunk(&w.app, &t, job, &exe_hash, &exe, (0, 4096), exe.len()).await;
    assert_error(res, 415, "media_type").await;
    assert_eq!(keys(&w, "staging").await, Vec::<String>::new());
    let body: Value = status(&w.app, &t, job, &exe_hash)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["complete"], false);
    assert_eq!(body["received"], json!([]));
    // A real PNG referenced as a JPEG: not the type the reference names.
    let mut png = Cursor::new(Vec::new());
    image::RgbImage::from_pixel(8, 8, image::Rgb([1, 2, 3]))
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let png = png.into_inner();
    let png_hash = sha(&png);
    attach(
        &w.app,
        &mut dev,
        job,
        &png_hash,
        png.len() as u64,
        "image/jpeg",
        AttachmentKind::Before,
    )
    .await;
    let res = put_chunk(&w.app, &t, job, &png_hash, &png, (0, png.len()), png.len()).await;
    assert_error(res, 415, "media_type").await;

    // Oversized: over the 1 MB limit, refused before any byte is kept.
    let big = 2 * 1024 * 1024;
    let big_hash = sha(b"big");
    attach(
        &w.app,
        &mut dev,
        job,
        &big_hash,
        big as u64,
        "image/jpeg",
        AttachmentKind::After,
    )
    .await;
    let res = w
        .app
        .client
        .put(w.app.url(&upload_path(job, &big_hash)))
        .bearer_auth(&t)
        .header("content-range", format!("bytes 0-9/{big}"))
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "too_large").await;

    // A truncated upload (the last chunk never sent): not complete, not
    // downloadable.
    let photo2 = photo_with_gps(320, 240);
    let hash2 = sha(&photo2);
    let total = photo2.len();
    attach(
        &w.app,
        &mut dev,
        job,
        &hash2,
        total as u64,
        "image/jpeg",
        AttachmentKind::After,
    )
    .await;
    let half = total / 2;
    let res = put_chunk(&w.app, &t, job, &hash2, &photo2, (0, half), total).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["complete"], false);
    assert_eq!(body["received"], json!([[0, half]]));
    let res = fetch(
        &w.app,
        &w.office,
        &format!("/v1/jobs/{job}/attachments/{hash2}"),
    )
    .await;
    assert_error(res, 404, "not_found").await;

    // Bad ranges and sizes: each a 400 with its code, nothing recorded.
    let bad = |range: &'static str, body: Vec<u8>| {
        w.app
            .client
            .put(w.app.url(&upload_path(job, &hash2)))
            .bearer_auth(&t)
            .header("content-range", range)
            .body(body)
    };
    assert_error(
        bad("bytes 0-9", vec![0; 10]).send().await.unwrap(),
        400,
        "bad_range",
    )
    .await;
    assert_error(
        bad("bytes 9-0/100", vec![0; 10]).send().await.unwrap(),
        400,
        "bad_range",
    )
    .await;
    let res = w
        .app
        .client
        .put(w.app.url(&upload_path(job, &hash2)))
        .bearer_auth(&t)
        .body(vec![0; 10])
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "bad_range").await;
    let wrong_total = format!("bytes 0-9/{}", total + 1);
    let res = w
        .app
        .client
        .put(w.app.url(&upload_path(job, &hash2)))
        .bearer_auth(&t)
        .header("content-range", wrong_total)
        .body(vec![0; 10])
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "size_mismatch").await;
    let body: Value = status(&w.app, &t, job, &hash2).await.json().await.unwrap();
    assert_eq!(
        body["received"],
        json!([[0, half]]),
        "nothing more recorded"
    );

    // The job lists them, none uploaded.
    let view: Value = get_job(&w.app, &w.office, job).await.json().await.unwrap();
    let listed = view["attachments"].as_array().unwrap();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|a| a["uploaded"] == false), "{view}");
    assert_eq!(keys(&w, "blobs").await, Vec::<String>::new());
}

async fn the_same_blob_on_a_second_job_is_complete_at_once(backend: TestBackend, store: Store) {
    let w = world(backend, store).await;
    let (mut dev, job) = technician(&w, "tech", 1).await;
    let photo = photo_with_gps(200, 200);
    let hash = sha(&photo);
    let total = photo.len();
    attach(
        &w.app,
        &mut dev,
        job,
        &hash,
        total as u64,
        "image/jpeg",
        AttachmentKind::After,
    )
    .await;
    let res = put_chunk(&w.app, &dev.token, job, &hash, &photo, (0, total), total).await;
    assert_eq!(res.status(), 200);

    // A second job of the same technician references the same file.
    let tech = dev.user();
    let second = job_id(&create_job(&w.app, &w.office, &new_job("Bruno Reis", Some(tech))).await);
    dev.sync(&w.app).await;
    dev.act(second, JobAction::StartTravel, now());
    dev.act(second, JobAction::Arrive, now());
    attach(
        &w.app,
        &mut dev,
        second,
        &hash,
        total as u64,
        "image/jpeg",
        AttachmentKind::Before,
    )
    .await;
    let body: Value = status(&w.app, &dev.token, second, &hash)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({"sha256": hash, "size": total, "received": [[0, total]], "complete": true})
    );
    let res = fetch(
        &w.app,
        &w.office,
        &format!("/v1/jobs/{second}/attachments/{hash}"),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-disposition"],
        format!("attachment; filename=\"before-{}.jpg\"", &hash[..12])
    );
}

async fn the_sweep_deletes_abandoned_uploads_and_cancelled_jobs_blobs_after_retention(
    backend: TestBackend,
    store: Store,
) {
    let w = world(backend, store).await;
    let (mut dev, job) = technician(&w, "tech", 1).await;
    // A stored blob, and an upload left half done.
    let photo = photo_with_gps(200, 150);
    let (hash, total) = (sha(&photo), photo.len());
    attach(
        &w.app,
        &mut dev,
        job,
        &hash,
        total as u64,
        "image/jpeg",
        AttachmentKind::After,
    )
    .await;
    let res = put_chunk(&w.app, &dev.token, job, &hash, &photo, (0, total), total).await;
    assert_eq!(res.status(), 200);
    let half_done = photo_with_gps(180, 150);
    let half_hash = sha(&half_done);
    attach(
        &w.app,
        &mut dev,
        job,
        &half_hash,
        half_done.len() as u64,
        "image/jpeg",
        AttachmentKind::After,
    )
    .await;
    let res = put_chunk(
        &w.app,
        &dev.token,
        job,
        &half_hash,
        &half_done,
        (0, 100),
        half_done.len(),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(keys(&w, "staging").await.len(), 1);

    let settings = fieldsync_server::attachments::AttachmentSettings::default();
    let sweeper = Sweeper::new(w.app.store.clone(), w.app.blobs.clone(), settings.clone());
    let now = fieldsync_server::store::now_utc();
    // Within the grace period nothing goes.
    let swept = sweeper
        .run_once_at(now + time::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!((swept.uploads, swept.blobs), (0, 0));
    // After it, the abandoned upload goes; the referenced blob stays.
    let later = now + settings.grace() + time::Duration::minutes(1);
    let swept = sweeper.run_once_at(later).await.unwrap();
    assert_eq!((swept.uploads, swept.blobs), (1, 0));
    assert_eq!(keys(&w, "staging").await, Vec::<String>::new());
    let body: Value = status(&w.app, &dev.token, job, &half_hash)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["received"], json!([]));
    assert_eq!(keys(&w, "blobs").await.len(), 1);

    // The job is cancelled: its blob stays for the retention period, then goes.
    let res = post_json(
        &w.app,
        &w.office,
        &format!("/v1/jobs/{job}/cancel"),
        &json!({"reason": "customer moved"}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    // Retention counts from the job's last update (the cancel, now).
    let within = now + settings.cancelled_retention() - time::Duration::hours(1);
    let swept = sweeper.run_once_at(within).await.unwrap();
    assert_eq!(swept.blobs, 0);
    let res = fetch(
        &w.app,
        &w.office,
        &format!("/v1/jobs/{job}/attachments/{hash}"),
    )
    .await;
    assert_eq!(res.status(), 200);
    let after = now + settings.cancelled_retention() + time::Duration::hours(1);
    let swept = sweeper.run_once_at(after).await.unwrap();
    assert_eq!(swept.blobs, 1);
    assert_eq!(keys(&w, "blobs").await, Vec::<String>::new());
    assert_eq!(keys(&w, "thumbnails").await, Vec::<String>::new());
    let res = fetch(
        &w.app,
        &w.office,
        &format!("/v1/jobs/{job}/attachments/{hash}"),
    )
    .await;
    assert_error(res, 404, "not_found").await;
    let view: Value = get_job(&w.app, &w.office, job).await.json().await.unwrap();
    assert_eq!(view["attachments"][0]["uploaded"], false);
}

async fn the_office_can_let_a_job_keep_locations(backend: TestBackend, store: Store) {
    let w = world(backend, store).await;
    let (mut dev, job) = technician(&w, "tech", 1).await;
    let options = format!("/v1/jobs/{job}/attachments/options");
    // Technicians may not opt their own job in.
    let res = w
        .app
        .client
        .put(w.app.url(&options))
        .bearer_auth(&dev.token)
        .json(&json!({"keep_location": true}))
        .send()
        .await
        .unwrap();
    assert_error(res, 403, "forbidden").await;
    let res = w
        .app
        .client
        .put(w.app.url(&options))
        .bearer_auth(&w.office)
        .json(&json!({"keep_location": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"keep_location": true})
    );

    let photo = photo_with_gps(240, 160);
    let (hash, total) = (sha(&photo), photo.len());
    attach(
        &w.app,
        &mut dev,
        job,
        &hash,
        total as u64,
        "image/jpeg",
        AttachmentKind::Before,
    )
    .await;
    let res = put_chunk(&w.app, &dev.token, job, &hash, &photo, (0, total), total).await;
    assert_eq!(res.status(), 200);
    let res = fetch(
        &w.app,
        &w.office,
        &format!("/v1/jobs/{job}/attachments/{hash}"),
    )
    .await;
    assert_eq!(res.status(), 200);
    let stored = res.bytes().await.unwrap();
    assert!(has_gps(&stored), "the job keeps locations");
    assert_eq!(sha(&stored), hash, "stored as taken");
}

/// The console's job page in headless Chromium: a dispatcher sees the
/// uploaded photo as a 320 px thumbnail and the pending one as pending.
/// Screenshot: target/test-artifacts/attachments-job-page.png.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_job_page_shows_thumbnails_in_chromium() {
    use crate::webdriver::{Browser, LAPTOP};
    let w = world_with(TestBackend::Sqlite, Store::Fs, |s| {
        s.console_insecure_cookies = true
    })
    .await;
    let (mut dev, job) = technician(&w, "tech", 1).await;
    let photo = photo_with_gps(640, 480);
    let (hash, total) = (sha(&photo), photo.len());
    attach(
        &w.app,
        &mut dev,
        job,
        &hash,
        total as u64,
        "image/jpeg",
        AttachmentKind::SerialPlate,
    )
    .await;
    let res = put_chunk(&w.app, &dev.token, job, &hash, &photo, (0, total), total).await;
    assert_eq!(res.status(), 200);
    let pending = sha(b"not yet uploaded");
    attach(
        &w.app,
        &mut dev,
        job,
        &pending,
        1000,
        "image/png",
        AttachmentKind::After,
    )
    .await;

    let b = Browser::start(LAPTOP).await;
    console_login(&b, &w.app, "dispatch").await;
    b.goto(&w.app.url(&format!("/console/jobs/{job}"))).await;
    assert_eq!(b.text("#status").await, "on_site");

    // The thumbnail loads (bounded wait), 320 px wide for a 640 x 480 photo.
    let img = format!("figure.attachment[data-sha256='{hash}'] img");
    let script = format!(
        "const i = document.querySelector(\"{img}\"); \
         return i && i.complete ? [i.naturalWidth, i.naturalHeight] : null;"
    );
    let mut size = Value::Null;
    for _ in 0..100 {
        size = b.eval(&script).await;
        if !size.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(size, json!([320, 240]), "the thumbnail rendered");
    let caption = b
        .text(&format!(
            "figure.attachment[data-sha256='{hash}'] figcaption"
        ))
        .await;
    assert_eq!(caption, "serial_plate Boiler plate");
    let waiting = b
        .text(&format!(
            "figure.attachment[data-sha256='{pending}'] .pending"
        ))
        .await;
    assert_eq!(waiting, "Not uploaded yet");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    let bytes = b.screenshot(&dir.join("attachments-job-page.png")).await;
    assert!(bytes > 1000);

    b.quit().await;

    // Another technician's console session gets the 404 page, for the job
    // and for its thumbnail.
    technician(&w, "other", 2).await;
    let b = Browser::start(LAPTOP).await;
    console_login(&b, &w.app, "other").await;
    b.goto(&w.app.url(&format!("/console/jobs/{job}"))).await;
    assert_eq!(b.text("h1").await, "404 Not Found");
    b.goto(
        &w.app
            .url(&format!("/console/jobs/{job}/attachments/{hash}/thumbnail")),
    )
    .await;
    assert_eq!(b.text("h1").await, "404 Not Found");
    b.quit().await;
}

/// Logs in on the console (waiting for the login's answer: see
/// [`crate::webdriver::Browser::console_login`]).
async fn console_login(b: &crate::webdriver::Browser, app: &TestApp, user: &str) {
    b.console_login(&app.url(""), user, crate::helpers::PASSWORD)
        .await;
}

/// Two real server processes on one PostgreSQL share one S3 bucket, set up
/// as a deployment would (`FIELDSYNC_BLOB_URL` and the AWS_* environment):
/// an upload begun through one finishes through the other (the staged
/// chunks are in the bucket, their ranges in their keys), and both serve it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_on_another_server_process_sharing_s3() {
    use crate::process::ServerProcess;
    let db = fieldsync_server::testing::TestDatabase::new(TestBackend::Postgres).await;
    let s3 = S3Server::start().await;
    let mut env: Vec<(&str, String)> = s3.env();
    env.push(("FIELDSYNC_BLOB_URL", s3.url("shared")));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = ServerProcess::start_with_env(&db.url, &env);
    let b = ServerProcess::start_with_env(&db.url, &env);

    let store = fieldsync_server::store::open(&db.url).await.unwrap();
    let create = async |name: &str, role: Role| {
        fieldsync_server::cli::create_user(
            store.as_ref(),
            name.parse().unwrap(),
            role,
            crate::helpers::PASSWORD.into(),
        )
        .await
        .unwrap()
    };
    let tech = create("tech", Role::Technician).await;
    create("dispatch", Role::Dispatcher).await;
    let client = reqwest::Client::new();
    let login = async |server: &ServerProcess, name: &str, n: u8| {
        let res = client
            .post(server.url("/v1/auth/login"))
            .json(
                &json!({"username": name, "password": crate::helpers::PASSWORD,
                "device": {"name": "test", "actor_id": crate::helpers::actor(n)}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<fieldsync_server::auth::TokenResponse>()
            .await
            .unwrap()
    };
    let office = login(&a, "dispatch", 100).await.access_token;
    let res = client
        .post(a.url("/v1/jobs"))
        .bearer_auth(&office)
        .json(&new_job("Ana Lima", Some(tech)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let job = job_id(&res.json::<Value>().await.unwrap());
    let mut dev = Device::from_tokens(login(&a, "tech", 1).await, Role::Technician, 1);
    assert!(
        dev.sync_at(&client, &a.url("/v1/sync"))
            .await
            .rejected()
            .is_empty()
    );
    dev.act(job, JobAction::StartTravel, now());
    dev.act(job, JobAction::Arrive, now());
    let photo = photo_with_gps(700, 500);
    let (hash, total) = (sha(&photo), photo.len());
    dev.act(
        job,
        JobAction::AddAttachment {
            attachment: LineId::from_uuid(Uuid::new_v4()),
            sha256: hash.clone(),
            size: total as u64,
            media_type: "image/jpeg".into(),
            kind: AttachmentKind::Before,
            caption: String::new(),
        },
        now(),
    );
    assert!(
        dev.sync_at(&client, &b.url("/v1/sync"))
            .await
            .rejected()
            .is_empty()
    );

    let put = async |server: &ServerProcess, (start, end): (usize, usize)| {
        let res = client
            .put(server.url(&upload_path(job, &hash)))
            .bearer_auth(&dev.token)
            .header(
                "content-range",
                format!("bytes {start}-{}/{total}", end - 1),
            )
            .body(photo[start..end].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()
    };
    let half = total / 2;
    let first = put(&a, (0, half)).await;
    assert_eq!(first["complete"], false);
    let staged = s3.keys().await;
    assert!(
        staged
            .iter()
            .any(|k| k.starts_with(&format!("shared/staging/{job}/{hash}/"))),
        "{staged:?}"
    );
    let done = put(&b, (half, total)).await;
    assert_eq!(done["complete"], true, "{done}");
    let keys = s3.keys().await;
    assert!(keys.contains(&format!("shared/blobs/{hash}")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("/staging/")), "{keys:?}");
    for server in [&a, &b] {
        let res = client
            .get(server.url(&format!("/v1/jobs/{job}/attachments/{hash}")))
            .bearer_auth(&office)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let stored = res.bytes().await.unwrap();
        assert!(!has_gps(&stored));
        assert_eq!(image::load_from_memory(&stored).unwrap().width(), 700);
    }
}

/// The ranges the server reports are on disk, whatever kills it: a server
/// process is killed (SIGKILL) after some chunks were answered and while
/// another is in flight; a new process on the same database and blob
/// directory (`--blob-url file://...`) reports the ranges from the staged
/// chunks alone, the device sends what is missing, and the final hash
/// check passes (a reported range with wrong or missing bytes would fail
/// it, or the gap would reset the upload).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ranges_reported_survive_a_killed_server() {
    use crate::process::ServerProcess;
    let db = fieldsync_server::testing::TestDatabase::new(TestBackend::Sqlite).await;
    let blob_dir = tempfile::tempdir().unwrap();
    let blob_url = format!("file://{}", blob_dir.path().display());
    let env = [("FIELDSYNC_BLOB_URL", blob_url.as_str())];
    // Users first, while no server has the SQLite file open.
    let store = fieldsync_server::store::open(&db.url).await.unwrap();
    let tech = fieldsync_server::cli::create_user(
        store.as_ref(),
        "tech".parse().unwrap(),
        Role::Technician,
        crate::helpers::PASSWORD.into(),
    )
    .await
    .unwrap();
    fieldsync_server::cli::create_user(
        store.as_ref(),
        "dispatch".parse().unwrap(),
        Role::Dispatcher,
        crate::helpers::PASSWORD.into(),
    )
    .await
    .unwrap();
    drop(store);
    let mut a = ServerProcess::start_with_env(&db.url, &env);
    let client = reqwest::Client::new();
    let login = async |server: &ServerProcess, name: &str, n: u8| {
        let res = client
            .post(server.url("/v1/auth/login"))
            .json(
                &json!({"username": name, "password": crate::helpers::PASSWORD,
                "device": {"name": "test", "actor_id": crate::helpers::actor(n)}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<fieldsync_server::auth::TokenResponse>()
            .await
            .unwrap()
    };
    let office = login(&a, "dispatch", 100).await.access_token;
    let res = client
        .post(a.url("/v1/jobs"))
        .bearer_auth(&office)
        .json(&new_job("Ana Lima", Some(tech)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let job = job_id(&res.json::<Value>().await.unwrap());
    let mut dev = Device::from_tokens(login(&a, "tech", 1).await, Role::Technician, 1);
    assert!(
        dev.sync_at(&client, &a.url("/v1/sync"))
            .await
            .rejected()
            .is_empty()
    );
    dev.act(job, JobAction::StartTravel, now());
    dev.act(job, JobAction::Arrive, now());
    let photo = photo_with_gps(800, 600);
    let (hash, total) = (sha(&photo), photo.len());
    dev.act(
        job,
        JobAction::AddAttachment {
            attachment: LineId::from_uuid(Uuid::new_v4()),
            sha256: hash.clone(),
            size: total as u64,
            media_type: "image/jpeg".into(),
            kind: AttachmentKind::Before,
            caption: String::new(),
        },
        now(),
    );
    assert!(
        dev.sync_at(&client, &a.url("/v1/sync"))
            .await
            .rejected()
            .is_empty()
    );

    let put = |server: &ServerProcess, (start, end): (usize, usize)| {
        client
            .put(server.url(&upload_path(job, &hash)))
            .bearer_auth(&dev.token)
            .header(
                "content-range",
                format!("bytes {start}-{}/{total}", end - 1),
            )
            .body(photo[start..end].to_vec())
            .send()
    };
    let quarter = total / 4;
    for range in [(0, quarter), (2 * quarter, 3 * quarter)] {
        let res = put(&a, range).await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["complete"], false);
    }
    // A third chunk in flight when the server dies: kept whole or not at all.
    let in_flight = tokio::spawn(put(&a, (3 * quarter, total)));
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    a.kill();
    let _ = in_flight.await;

    let b = ServerProcess::start_with_env(&db.url, &env);
    let status_at = async |server: &ServerProcess| {
        let res = client
            .get(server.url(&upload_path(job, &hash)))
            .bearer_auth(&dev.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()
    };
    let body = status_at(&b).await;
    assert_eq!(body["size"], total, "{body}");
    assert_eq!(body["complete"], false, "{body}");
    let received: Vec<(usize, usize)> =
        serde_json::from_value::<Vec<[usize; 2]>>(body["received"].clone())
            .unwrap()
            .into_iter()
            .map(|[s, e]| (s, e))
            .collect();
    assert!(
        received == [(0, quarter), (2 * quarter, 3 * quarter)]
            || received == [(0, quarter), (2 * quarter, total)],
        "the answered chunks, and the one in flight whole or not at all: {received:?}"
    );
    // The device sends what the server says is missing.
    let mut missing = Vec::new();
    let mut at = 0;
    for &(s, e) in received.iter().chain([(total, total)].iter()) {
        if s > at {
            missing.push((at, s));
        }
        at = e;
    }
    let mut last = Value::Null;
    for range in missing {
        let res = put(&b, range).await.unwrap();
        assert_eq!(res.status(), 200);
        last = res.json().await.unwrap();
    }
    assert_eq!(last["complete"], true, "{last}");
    assert_eq!(status_at(&b).await["complete"], true);
    let res = client
        .get(b.url(&format!("/v1/jobs/{job}/attachments/{hash}")))
        .bearer_auth(&office)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let stored = res.bytes().await.unwrap();
    assert!(!has_gps(&stored));
    assert_eq!(image::load_from_memory(&stored).unwrap().width(), 800);
    // The blob is in the directory the URL names; nothing staged is left.
    assert!(blob_dir.path().join("blobs").join(&hash).is_file());
    let staged: Vec<_> = walk(&blob_dir.path().join("staging"));
    assert!(
        staged.iter().all(|p| p.to_string_lossy().contains('#')),
        "only a write cut off by the kill may remain: {staged:?}"
    );
}

/// Every file under `dir` (none if it does not exist).
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Finishing an upload holds the whole file: a few finish at once (slots,
/// memory from the sync gate's budget) and the rest wait, or get 503 with
/// `Retry-After` once the wait is over, never a 500. A 503'd upload loses
/// nothing: its bytes stay staged, and the next status query finishes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_finishing_beyond_the_bound_wait_or_get_503_and_lose_nothing() {
    use fieldsync_server::attachments::finishing::Finishing;
    let s3 = None;
    let app = crate::helpers::spawn_app_with_state(
        TestBackend::Sqlite,
        &[],
        |_| {},
        |state| {
            // The checks at the tests' own priority: this test is about the
            // bound and its wait, and tests running beside it on the same
            // cores (at a higher priority than finishing threads) must not
            // stretch three tiny finishes past the 1.5 s wait.
            // Finishing's priority: the server's unit tests.
            state.finishing = std::sync::Arc::new(
                Finishing::new(1, std::time::Duration::from_millis(1500)).with_niceness(0),
            )
        },
    )
    .await;
    let office = office(&app).await.dispatcher;
    let w = World { app, s3, office };
    let (mut dev, job) = technician(&w, "tech", 1).await;
    let t = dev.token.clone();
    // Six different PNGs, all but their last 100 bytes sent.
    let mut files = Vec::new();
    for i in 0..6u8 {
        let mut png = Cursor::new(Vec::new());
        image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([i, x as u8, y as u8]))
            .write_to(&mut png, image::ImageFormat::Png)
            .unwrap();
        let png = png.into_inner();
        let hash = sha(&png);
        attach(
            &w.app,
            &mut dev,
            job,
            &hash,
            png.len() as u64,
            "image/png",
            AttachmentKind::Before,
        )
        .await;
        let cut = png.len() - 100;
        let res = put_chunk(&w.app, &t, job, &hash, &png, (0, cut), png.len()).await;
        assert_eq!(res.status(), 200);
        files.push((png, hash));
    }
    let last = |(png, hash): &(Vec<u8>, String)| {
        let (app, t, png, hash) = (&w.app, &t, png.clone(), hash.clone());
        async move {
            put_chunk(
                app,
                t,
                job,
                &hash,
                &png,
                (png.len() - 100, png.len()),
                png.len(),
            )
            .await
        }
    };
    let last_chunks = |three: &[(Vec<u8>, String)]| {
        let (a, b, c) = (last(&three[0]), last(&three[1]), last(&three[2]));
        async move {
            let (a, b, c) = tokio::join!(a, b, c);
            [a, b, c]
        }
    };

    // The one slot is taken (as by a long finish): three last chunks wait
    // out the wait, then 503 with Retry-After; every byte stays staged.
    let held = w.app.finishing.enter(&w.app.sync_gate, 1).await.unwrap();
    for res in last_chunks(&files[..3]).await {
        assert!(res.headers().contains_key("retry-after"), "{res:?}");
        assert_error(res, 503, "overloaded").await;
    }
    for (_, hash) in &files[..3] {
        let staged = keys(&w, &format!("staging/{job}/{hash}")).await;
        assert_eq!(staged.len(), 2, "both chunks kept: {staged:?}");
    }
    // A status query tries to finish it too: the same 503 while the slot
    // is taken.
    let res = status(&w.app, &t, job, &files[0].1).await;
    assert!(res.headers().contains_key("retry-after"), "{res:?}");
    assert_error(res, 503, "overloaded").await;
    drop(held);
    // The next status query finishes each one.
    for (png, hash) in &files[..3] {
        let res = status(&w.app, &t, job, hash).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["complete"], true, "{body}");
        let got = fetch(
            &w.app,
            &w.office,
            &format!("/v1/jobs/{job}/attachments/{hash}"),
        )
        .await;
        assert_eq!(got.bytes().await.unwrap().as_ref(), png.as_slice());
    }

    // Three at once with the slot free: they take turns (one at a time)
    // and all complete.
    for res in last_chunks(&files[3..]).await {
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["complete"], true, "{body}");
    }
    assert_eq!(w.app.finishing.peak(), 1);
    assert_eq!(keys(&w, "staging").await, Vec::<String>::new());
    let view: Value = get_job(&w.app, &w.office, job).await.json().await.unwrap();
    let listed = view["attachments"].as_array().unwrap();
    assert_eq!(listed.len(), 6);
    assert!(listed.iter().all(|a| a["uploaded"] == true), "{view}");
}

/// The mobile library against the real server: what the server refused is
/// surfaced per attachment and sent again on request; a blob the server
/// holds stays on the phone while its job is open and goes once the job is
/// closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_prunes_what_the_server_holds_and_retries_refused_uploads() {
    use fieldsync_ffi::FieldsyncClient;
    let app = crate::helpers::spawn_app(TestBackend::Sqlite).await;
    let office = office(&app).await.dispatcher;
    let tech = app.user("phone-tech", Role::Technician).await;
    let job = job_id(&create_job(&app, &office, &new_job("Ana Lima", Some(tech))).await);
    let files = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let photo = photo_with_gps(400, 300);
    let mut png = Cursor::new(Vec::new());
    image::RgbImage::from_pixel(16, 16, image::Rgb([9, 9, 9]))
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let png = png.into_inner();
    std::fs::write(files.path().join("photo.jpg"), &photo).unwrap();
    // A PNG the app labels a JPEG: the server refuses it (415).
    std::fs::write(files.path().join("mislabelled.jpg"), &png).unwrap();
    let phone = FieldsyncClient::open(store.path().to_str().unwrap().into()).unwrap();
    let on_phone = |f: Box<dyn FnOnce(&FieldsyncClient) + Send>| {
        let phone = phone.clone();
        tokio::task::spawn_blocking(move || f(&phone))
    };
    let (base, job_s) = (app.url(""), job.to_string());
    let dir = files.path().to_owned();
    // The technician's own store on the phone (`users/<user id>`: one per user).
    let blob_of = |bytes: &[u8]| {
        let user_store = store.path().join("users").join(tech.to_string());
        user_store.join("blobs").join(sha(bytes))
    };
    on_phone(Box::new(move |p| {
        p.login(
            base,
            "phone-tech".into(),
            crate::helpers::PASSWORD.into(),
            "phone".into(),
        )
        .unwrap();
        p.sync().unwrap();
        p.start_travel(job_s.clone()).unwrap();
        p.arrive(job_s.clone()).unwrap();
        for (file, kind) in [("photo.jpg", "before"), ("mislabelled.jpg", "document")] {
            p.attach_file(
                job_s.clone(),
                dir.join(file).to_str().unwrap().into(),
                kind.into(),
                String::new(),
                "image/jpeg".into(),
            )
            .unwrap();
        }
        p.sync().unwrap();
        let report = p.upload_attachments().unwrap();
        assert_eq!((report.completed, report.refused), (1, 1), "{report:?}");
        // The job is open: the uploaded photo stays for offline viewing.
        assert_eq!(report.pruned, 0, "{report:?}");
        let uploads = p.job_uploads(job_s.clone()).unwrap();
        assert!(!uploads.all_uploaded, "{uploads:?}");
        let refused: Vec<_> = uploads
            .attachments
            .iter()
            .filter_map(|a| a.refused.clone())
            .collect();
        assert_eq!(refused, vec!["media_type".to_owned()]);

        // Retried on request: sent again, refused again.
        assert_eq!(p.retry_refused_uploads(job_s.clone()).unwrap(), 1);
        assert!(
            p.job_uploads(job_s.clone())
                .unwrap()
                .attachments
                .iter()
                .all(|a| a.refused.is_none())
        );
        let again = p.upload_attachments().unwrap();
        assert_eq!((again.completed, again.refused), (0, 1), "{again:?}");
    }))
    .await
    .unwrap();
    assert_eq!(std::fs::read(blob_of(&photo)).unwrap(), photo);
    assert_eq!(std::fs::read(blob_of(&png)).unwrap(), png);

    // The job closes: the photo the server holds leaves the phone; the
    // refused file stays (not on the server).
    let job_s = job.to_string();
    on_phone(Box::new(move |p| {
        p.unable_to_complete(job_s.clone(), "No access to the boiler room".into())
            .unwrap();
        // The sync that carries the closing prunes (so would the next
        // upload call): the upload marks stay while the job is held.
        p.sync().unwrap();
        let uploads = p.job_uploads(job_s).unwrap();
        assert_eq!(uploads.attachments.iter().filter(|a| a.uploaded).count(), 1);
        let report = p.upload_attachments().unwrap();
        assert_eq!((report.completed, report.remaining), (0, 0), "{report:?}");
    }))
    .await
    .unwrap();
    assert!(!blob_of(&photo).exists(), "pruned once the job closed");
    assert_eq!(std::fs::read(blob_of(&png)).unwrap(), png);
    let view: Value = get_job(&app, &office, job).await.json().await.unwrap();
    let uploaded: Vec<_> = view["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["uploaded"] == true)
        .map(|a| a["sha256"].clone())
        .collect();
    assert_eq!(uploaded, vec![json!(sha(&photo))]);
}
