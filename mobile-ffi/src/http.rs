//! The built-in blocking HTTP transport (rustls, no OpenSSL): login, token
//! refresh, `POST /v1/sync` and the attachment upload routes. Apps with their own networking use the
//! sans-IO calls instead and never touch this module.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use fieldsync_core::sync::{BodyEncoding, InflateError, Limits};

use serde::Deserialize;
use serde_json::json;

use crate::error::{FieldsyncError, Result};
use crate::records::{FeedbackAnswer, MyFeedback, MyFeedbackPage, SessionTokens};
use crate::upload::UploadStatus;

pub(crate) struct Http {
    client: reqwest::blocking::Client,
    /// The server that answered a sync compressed: it inflates compressed
    /// requests too, so requests to it go compressed from then on (an older
    /// server never does, and keeps getting plain CBOR).
    compressing: Mutex<Option<String>>,
}

/// How sync bodies are compressed (docs/sync-protocol.md, "Compressed bodies").
const SYNC_ENCODING: BodyEncoding = BodyEncoding::Deflate;

/// The server's `TokenResponse`.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
    refresh_token: String,
    device_id: String,
    user: UserView,
}

#[derive(Deserialize)]
struct UserView {
    id: String,
    username: String,
    role: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// The server's names for what a device reports on each sync.
const PENDING_CHANGES: &str = "x-fieldsync-pending-changes";
const APP_VERSION: &str = "x-fieldsync-app-version";

/// What a device reports about itself with each sync request.
pub(crate) struct SyncHeaders {
    /// Local changes not acknowledged by the server when the sync started.
    pub pending_changes: u64,
    /// The app's version, when the app gave one (else the server reads the
    /// `User-Agent`, `fieldsync-ffi/<version>`).
    pub app_version: Option<String>,
}

/// How a sync request ended, before the client decides what to do.
pub(crate) enum SyncReply {
    Ok(Vec<u8>),
    /// 401: the access token is expired or was refused.
    Unauthorized,
}

impl Http {
    pub fn new(timeout: Duration) -> Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("fieldsync-ffi/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| FieldsyncError::Internal {
                reason: format!("http client: {e}"),
            })?;
        Ok(Self {
            client,
            compressing: Mutex::new(None),
        })
    }

    pub fn login(
        &self,
        base: &str,
        username: &str,
        password: &str,
        device_name: &str,
        actor_hex: &str,
    ) -> Result<SessionTokens> {
        let res = self
            .client
            .post(url(base, "/v1/auth/login"))
            .json(&json!({
                "username": username,
                "password": password,
                "device": {"name": device_name, "actor_id": actor_hex},
            }))
            .send()
            .map_err(network)?;
        match res.status().as_u16() {
            200 => tokens(base, res),
            401 => Err(FieldsyncError::BadCredentials),
            403 => Err(FieldsyncError::DeviceRevoked),
            _ => Err(server_error(res)),
        }
    }

    /// Trades the refresh token for a new pair. `SessionExpired` means the
    /// user must log in again; `Network` means try later with the same token.
    pub fn refresh(&self, base: &str, refresh_token: &str) -> Result<SessionTokens> {
        let res = self
            .client
            .post(url(base, "/v1/auth/refresh"))
            .json(&json!({ "refresh_token": refresh_token }))
            .send()
            .map_err(network)?;
        match res.status().as_u16() {
            200 => tokens(base, res),
            401 => Err(FieldsyncError::SessionExpired {
                reason: error_message(res),
            }),
            _ => Err(server_error(res)),
        }
    }

    /// `report`: what the device says about itself in headers (the server
    /// shows them on its devices list; see `server/src/users/sync_report.rs`).
    pub fn sync(
        &self,
        base: &str,
        access_token: &str,
        body: Vec<u8>,
        report: &SyncHeaders,
    ) -> Result<SyncReply> {
        let mut req = self
            .client
            .post(url(base, "/v1/sync"))
            .bearer_auth(access_token)
            .header("content-type", "application/cbor")
            .header("accept", "application/cbor")
            .header("accept-encoding", SYNC_ENCODING.name())
            .header(PENDING_CHANGES, report.pending_changes);
        if let Some(version) = &report.app_version {
            req = req.header(APP_VERSION, version.as_str());
        }
        let body = if self.compresses_for(base) {
            req = req.header("content-encoding", SYNC_ENCODING.name());
            SYNC_ENCODING.compress(&body)
        } else {
            body
        };
        let res = req.body(body).send().map_err(network)?;
        match res.status().as_u16() {
            200 => {
                let coding = res
                    .headers()
                    .get(reqwest::header::CONTENT_ENCODING)
                    .map(|v| v.to_str().unwrap_or("(not text)").to_owned());
                let bytes = res.bytes().map_err(network)?;
                let plain = match BodyEncoding::from_content_encoding(coding.as_deref()) {
                    Ok(None) => bytes.to_vec(),
                    Ok(Some(encoding)) => {
                        let limit = Limits::default().max_request_bytes;
                        let plain = encoding
                            .inflate(&bytes, limit, |_| true)
                            .map_err(bad_sync_response)?;
                        self.compress_for(base);
                        plain
                    }
                    Err(e) => return Err(bad_sync_response(e)),
                };
                Ok(SyncReply::Ok(plain))
            }
            401 => Ok(SyncReply::Unauthorized),
            403 => Err(FieldsyncError::DeviceRevoked),
            _ => Err(server_error(res)),
        }
    }
}

impl Http {
    fn compresses_for(&self, base: &str) -> bool {
        let compressing = self
            .compressing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        compressing.as_deref() == Some(base)
    }

    fn compress_for(&self, base: &str) {
        let mut compressing = self
            .compressing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if compressing.as_deref() != Some(base) {
            *compressing = Some(base.to_owned());
        }
    }
}

fn bad_sync_response(e: InflateError) -> FieldsyncError {
    FieldsyncError::Server {
        status: 200,
        code: "bad_response".into(),
        reason: format!("sync response: {e}"),
    }
}

/// How an upload request ended.
pub(crate) enum UploadReply {
    Status(UploadStatus),
    /// 401: the access token is expired or was refused.
    Unauthorized,
    /// 404: the server holds no reference to this hash on a job the caller
    /// sees (not synced yet, or the job left their scope).
    NotFound,
    /// 422 `hash_mismatch`: the server discarded what it had; start again.
    HashMismatch,
    /// Any other 4xx: the server will not take this file (`code`).
    Refused {
        code: String,
    },
}

impl Http {
    /// `GET .../upload`: what the server has of the blob.
    pub fn upload_status(
        &self,
        base: &str,
        access_token: &str,
        job: &str,
        sha256: &str,
    ) -> Result<UploadReply> {
        let res = self
            .client
            .get(url(base, &upload_path(job, sha256)))
            .bearer_auth(access_token)
            .send()
            .map_err(network)?;
        upload_reply(res)
    }

    /// `PUT .../upload` of `bytes` at `start` of a `total`-byte blob.
    pub fn upload_chunk(
        &self,
        base: &str,
        access_token: &str,
        (job, sha256): (&str, &str),
        start: u64,
        total: u64,
        bytes: Vec<u8>,
    ) -> Result<UploadReply> {
        let end = start + bytes.len() as u64 - 1;
        let res = self
            .client
            .put(url(base, &upload_path(job, sha256)))
            .bearer_auth(access_token)
            .header("content-range", format!("bytes {start}-{end}/{total}"))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .map_err(network)?;
        upload_reply(res)
    }
}

fn upload_path(job: &str, sha256: &str) -> String {
    format!("/v1/jobs/{job}/attachments/{sha256}/upload")
}

fn upload_reply(res: reqwest::blocking::Response) -> Result<UploadReply> {
    let status = res.status().as_u16();
    match status {
        200 => res
            .json::<UploadStatus>()
            .map(UploadReply::Status)
            .map_err(|e| FieldsyncError::Server {
                status,
                code: "bad_response".into(),
                reason: format!("upload status: {e}"),
            }),
        401 => Ok(UploadReply::Unauthorized),
        403 => Err(FieldsyncError::DeviceRevoked),
        404 => Ok(UploadReply::NotFound),
        // 408 and 429 are worth retrying: left to the caller as errors.
        400..=499 if status != 408 && status != 429 && status != 409 => match server_error(res) {
            FieldsyncError::Server { code, .. } if code == "hash_mismatch" => {
                Ok(UploadReply::HashMismatch)
            }
            FieldsyncError::Server { code, .. } => Ok(UploadReply::Refused { code }),
            other => Err(other),
        },
        _ => Err(server_error(res)),
    }
}

/// The server's `MyFeedbackPage` (`GET /v1/me/feedback`).
#[derive(Deserialize)]
struct FeedbackPageBody {
    items: Vec<FeedbackBody>,
    next_offset: Option<u32>,
}

#[derive(Deserialize)]
struct FeedbackBody {
    job_id: String,
    visit_date: String,
    #[serde(with = "time::serde::rfc3339")]
    answered_at: time::OffsetDateTime,
    answers: Vec<AnswerBody>,
    comment: String,
    low: bool,
}

#[derive(Deserialize)]
struct AnswerBody {
    question: String,
    label: String,
    value: String,
    score: Option<i64>,
    min: Option<i64>,
    max: Option<i64>,
}

impl Http {
    /// `GET /v1/me/feedback`; `None` on 401 (the access token is expired
    /// or was refused).
    pub fn my_feedback(
        &self,
        base: &str,
        access_token: &str,
        offset: u32,
        limit: u32,
    ) -> Result<Option<MyFeedbackPage>> {
        let res = self
            .client
            .get(url(base, "/v1/me/feedback"))
            .bearer_auth(access_token)
            .query(&[("offset", offset), ("limit", limit)])
            .send()
            .map_err(network)?;
        match res.status().as_u16() {
            200 => {}
            401 => return Ok(None),
            _ => return Err(server_error(res)),
        }
        let body: FeedbackPageBody = res.json().map_err(|e| FieldsyncError::Server {
            status: 200,
            code: "bad_response".into(),
            reason: format!("feedback page: {e}"),
        })?;
        let millis = |t: time::OffsetDateTime| {
            i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
        };
        Ok(Some(MyFeedbackPage {
            items: body
                .items
                .into_iter()
                .map(|f| MyFeedback {
                    job_id: f.job_id,
                    visit_date: f.visit_date,
                    answered_at_ms: millis(f.answered_at),
                    answers: f
                        .answers
                        .into_iter()
                        .map(|a| FeedbackAnswer {
                            question: a.question,
                            label: a.label,
                            value: a.value,
                            score: a.score,
                            min: a.min,
                            max: a.max,
                        })
                        .collect(),
                    comment: f.comment,
                    low: f.low,
                })
                .collect(),
            next_offset: body.next_offset,
        }))
    }
}

fn url(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

fn network(e: reqwest::Error) -> FieldsyncError {
    FieldsyncError::Network {
        reason: e.to_string(),
    }
}

fn tokens(base: &str, res: reqwest::blocking::Response) -> Result<SessionTokens> {
    let t: TokenResponse = res.json().map_err(|e| FieldsyncError::Server {
        status: 200,
        code: "bad_response".into(),
        reason: format!("token response: {e}"),
    })?;
    Ok(SessionTokens {
        server_url: Some(base.to_owned()),
        access_token: t.access_token,
        expires_in_secs: t.expires_in,
        refresh_token: t.refresh_token,
        device_id: t.device_id,
        user_id: t.user.id,
        username: t.user.username,
        role: t.user.role,
    })
}

fn error_message(res: reqwest::blocking::Response) -> String {
    res.json::<ErrorBody>()
        .map(|b| b.error.message)
        .unwrap_or_else(|_| "refused".into())
}

fn server_error(res: reqwest::blocking::Response) -> FieldsyncError {
    let status = res.status().as_u16();
    let (code, reason) = match res.json::<ErrorBody>() {
        Ok(b) => (b.error.code, b.error.message),
        Err(_) => ("unknown".to_owned(), "no error body".to_owned()),
    };
    FieldsyncError::Server {
        status,
        code,
        reason,
    }
}
