//! A simulated phone over real HTTP: its own documents, a sync-core
//! `ClientSession`, and the access token of its login.
#![allow(dead_code)]

use fieldsync_core::automerge::{ActorId, Automerge};
use fieldsync_core::job::read_job;
use fieldsync_core::sync::{BodyEncoding, ClientSession, DocSet, Limits, SyncReport, SyncResponse};
use fieldsync_core::{DocId, Job, JobAction, JobDoc, JobId, Principal, Role, Timestamp, UserId};

use super::helpers::TestApp;

/// Rounds after which a sync is called stuck (never "until it works").
pub const MAX_ROUNDS: usize = 10;

pub struct Device {
    pub who: Principal,
    pub actor: ActorId,
    pub token: String,
    pub device_id: String,
    pub docs: DocSet,
    pub session: ClientSession,
    /// Sync bodies compressed both ways (`Content-Encoding` and
    /// `Accept-Encoding`), as the mobile client sends them; `None`: plain.
    pub body_encoding: Option<BodyEncoding>,
}

/// What one full sync did.
#[derive(Debug, Default)]
pub struct Synced {
    pub round_trips: usize,
    pub reports: Vec<SyncReport>,
    pub request_bytes: usize,
    pub response_bytes: usize,
}

impl Synced {
    pub fn removed(&self) -> Vec<DocId> {
        self.reports
            .iter()
            .flat_map(|r| r.removed.iter().copied())
            .collect()
    }
    pub fn rejected(&self) -> Vec<(DocId, String)> {
        self.reports
            .iter()
            .flat_map(|r| r.rejected.iter().map(|(id, r)| (*id, r.message.clone())))
            .collect()
    }
}

impl Device {
    /// Logs `username` in as a new install with actor `[n; 16]`.
    pub async fn login(app: &TestApp, username: &str, role: Role, n: u8) -> Self {
        let tokens = app.login(username, &super::helpers::actor(n)).await;
        Self::from_tokens(tokens, role, n)
    }

    /// A device that logged in with actor `[n; 16]` and got `tokens`.
    pub fn from_tokens(tokens: fieldsync_server::auth::TokenResponse, role: Role, n: u8) -> Self {
        let actor = ActorId::from([n; 16]);
        Self {
            who: Principal::new(tokens.user.id, role),
            actor: actor.clone(),
            token: tokens.access_token,
            device_id: tokens.device_id.to_string(),
            docs: DocSet::new(),
            session: ClientSession::new(actor),
            body_encoding: None,
        }
    }

    pub fn user(&self) -> UserId {
        self.who.user
    }

    /// One request: the raw HTTP answer.
    pub async fn post(&self, app: &TestApp, body: Vec<u8>) -> reqwest::Response {
        self.post_to(&app.client, &app.url("/v1/sync"), body)
            .await
            .unwrap()
    }

    /// One request to `url` (a server process of the caller's choosing).
    pub async fn post_to(
        &self,
        client: &reqwest::Client,
        url: &str,
        body: Vec<u8>,
    ) -> reqwest::Result<reqwest::Response> {
        client
            .post(url)
            .bearer_auth(&self.token)
            .header("content-type", "application/cbor")
            .body(body)
            .send()
            .await
    }

    /// One sync round trip over a link that may fail: `Err` if the request
    /// or its response was lost (the device just tries again later).
    pub async fn try_round(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        request: fieldsync_core::sync::SyncRequest,
    ) -> Result<SyncReport, String> {
        let res = self
            .post_to(client, url, request.encode())
            .await
            .map_err(|e| e.to_string())?;
        if res.status() != 200 {
            return Err(format!("status {}", res.status()));
        }
        let bytes = res.bytes().await.map_err(|e| e.to_string())?;
        let response =
            SyncResponse::decode(&bytes, &Limits::default()).map_err(|e| e.to_string())?;
        Ok(self.session.apply(&mut self.docs, &response))
    }

    /// Opens `job` on this office device (`PUT /v1/sync/open-jobs/{id}`):
    /// its next sync holds it. Panics unless the server says 200.
    pub async fn open(&self, app: &TestApp, job: JobId) {
        let res = self.open_raw(app, reqwest::Method::PUT, job).await;
        let status = res.status();
        assert_eq!(status, 200, "open {job}: {}", res.text().await.unwrap());
    }

    /// `PUT` (open) or `DELETE` (close) `/v1/sync/open-jobs/{job}`: the raw answer.
    pub async fn open_raw(
        &self,
        app: &TestApp,
        method: reqwest::Method,
        job: JobId,
    ) -> reqwest::Response {
        app.client
            .request(method, app.url(&format!("/v1/sync/open-jobs/{job}")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// A full sync over a perfect link.
    pub async fn sync(&mut self, app: &TestApp) -> Synced {
        self.sync_at(&app.client, &app.url("/v1/sync")).await
    }

    /// A full sync with the server at `url` (one of several processes).
    pub async fn sync_at(&mut self, client: &reqwest::Client, url: &str) -> Synced {
        let mut out = Synced::default();
        let mut request = Some(self.session.start(&self.docs));
        while let Some(req) = request.take() {
            assert!(out.round_trips < MAX_ROUNDS, "sync did not settle");
            out.round_trips += 1;
            let body = match self.body_encoding {
                Some(e) => e.compress(&req.encode()),
                None => req.encode(),
            };
            out.request_bytes += body.len();
            let mut post = client
                .post(url)
                .bearer_auth(&self.token)
                .header("content-type", "application/cbor");
            if let Some(e) = self.body_encoding {
                post = post
                    .header("content-encoding", e.name())
                    .header("accept-encoding", e.name());
            }
            let res = post.body(body).send().await.unwrap();
            assert_eq!(
                res.status(),
                200,
                "sync failed: {}",
                res.text().await.unwrap()
            );
            let coding = res
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap().to_owned());
            let expected = self.body_encoding.map(BodyEncoding::name);
            assert_eq!(coding.as_deref(), expected, "answered as asked");
            let bytes = res.bytes().await.unwrap();
            out.response_bytes += bytes.len();
            let plain = match self.body_encoding {
                Some(e) => e.inflate(&bytes, usize::MAX, |_| true).unwrap(),
                None => bytes.to_vec(),
            };
            let response = SyncResponse::decode(&plain, &Limits::default()).unwrap();
            out.reports
                .push(self.session.apply(&mut self.docs, &response));
            request = self.session.next_round(&self.docs);
        }
        out
    }

    pub fn job(&self, id: JobId) -> Job {
        read_job(self.doc(id), None).expect("job reads")
    }

    pub fn doc(&self, id: JobId) -> &Automerge {
        self.docs
            .get(&DocId::Job(id))
            .expect("device holds the job")
    }

    pub fn holds(&self, id: JobId) -> bool {
        self.docs.contains_key(&DocId::Job(id))
    }

    /// Performs an action offline, as the app would (validated locally).
    pub fn act(&mut self, id: JobId, action: JobAction, now: Timestamp) {
        let doc = self
            .docs
            .remove(&DocId::Job(id))
            .expect("device holds the job");
        let mut job = JobDoc::from_trusted(doc.with_actor(self.actor.clone()));
        let result = job.apply(&action, self.who, now);
        self.docs.insert(DocId::Job(id), job.into_doc());
        result.unwrap_or_else(|e| panic!("{action:?} refused: {e}"));
    }
}
