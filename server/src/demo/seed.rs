//! Makes the demo company through the real code paths: the office over the
//! HTTP API of the server the demo is serving (loopback), the technicians'
//! phones as sync-core clients syncing with it, and customers' feedback
//! through the form's own parser and store call.

use std::collections::HashMap;

use fieldsync_core::automerge::ActorId;
use fieldsync_core::automerge::transaction::Transactable as _;
use fieldsync_core::automerge::{ROOT, ReadDoc as _};
use fieldsync_core::sync::{ClientSession, DocSet, Limits, SyncResponse};
use fieldsync_core::{
    DocId, JobAction, JobDoc, JobId, LineId, LocationId, Principal, Quantity, Role, Sku, Timestamp,
    UserId,
};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use super::DemoError;
use super::company::{self, Fate};
use crate::app::AppState;
use crate::feedback::{RequestFilter, questions};
use crate::users::service::NewUser;

/// Every demo database gets the same ids and the same plan.
const SEED: u64 = 18;

/// Rounds after which a phone's sync is called stuck.
const MAX_ROUNDS: usize = 10;

/// A login the demo made, for the printout.
pub struct Login {
    pub username: String,
    pub role: Role,
    pub password: String,
}

/// What the demo made (the printout's summary).
pub struct Made {
    pub logins: Vec<Login>,
    pub jobs: usize,
    pub customers: usize,
    pub rejected: usize,
    pub answers: usize,
}

/// The office's side: JSON calls with a bearer token.
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, DemoError> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.map_err(DemoError::http(path))?;
        let status = res.status();
        let text = res.text().await.map_err(DemoError::http(path))?;
        if !status.is_success() {
            return Err(DemoError::Refused {
                path: path.to_owned(),
                status: status.as_u16(),
                body: text,
            });
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| DemoError::Seed(format!("{path}: {e}")))?
        })
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> Result<Value, DemoError> {
        self.call(Method::POST, token, path, Some(body)).await
    }

    async fn put(&self, token: &str, path: &str, body: Value) -> Result<Value, DemoError> {
        self.call(Method::PUT, token, path, Some(body)).await
    }

    /// Logs in as a new device; returns the login answer.
    async fn login(
        &self,
        username: &str,
        password: &str,
        device: &str,
        actor: &ActorId,
    ) -> Result<Value, DemoError> {
        let path = "/v1/auth/login";
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .json(&json!({"username": username, "password": password,
                "device": {"name": device, "actor_id": hex::encode(actor.to_bytes())}}))
            .send()
            .await
            .map_err(DemoError::http(path))?;
        let status = res.status();
        let text = res.text().await.map_err(DemoError::http(path))?;
        if !status.is_success() {
            return Err(DemoError::Refused {
                path: path.into(),
                status: status.as_u16(),
                body: text,
            });
        }
        serde_json::from_str(&text).map_err(|e| DemoError::Seed(format!("{path}: {e}")))
    }
}

fn str_of(v: &Value, key: &str) -> Result<String, DemoError> {
    v[key]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| DemoError::Seed(format!("no {key} in {v}")))
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, DemoError> {
    s.parse()
        .map_err(|_| DemoError::Seed(format!("unexpected id {s}")))
}

/// A technician's phone: its documents, a sync-core session, its token.
struct Phone {
    who: Principal,
    actor: ActorId,
    token: String,
    docs: DocSet,
    session: ClientSession,
    van: LocationId,
}

impl Phone {
    /// Syncs until the session settles; returns the documents refused.
    async fn sync(&mut self, api: &Api) -> Result<usize, DemoError> {
        let path = "/v1/sync";
        let mut rejected = 0;
        let mut request = Some(self.session.start(&self.docs));
        let mut rounds = 0;
        while let Some(req) = request.take() {
            rounds += 1;
            if rounds > MAX_ROUNDS {
                return Err(DemoError::Seed("a phone's sync did not settle".into()));
            }
            let res = api
                .client
                .post(format!("{}{path}", api.base))
                .bearer_auth(&self.token)
                .header("content-type", "application/cbor")
                .body(req.encode())
                .send()
                .await
                .map_err(DemoError::http(path))?;
            let status = res.status();
            let bytes = res.bytes().await.map_err(DemoError::http(path))?;
            if !status.is_success() {
                return Err(DemoError::Refused {
                    path: path.into(),
                    status: status.as_u16(),
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
            let response = SyncResponse::decode(&bytes, &Limits::default())
                .map_err(|e| DemoError::Seed(format!("sync answer: {e}")))?;
            let report = self.session.apply(&mut self.docs, &response);
            rejected += report.rejected.len();
            request = self.session.next_round(&self.docs);
        }
        Ok(rejected)
    }

    /// An action taken offline, as the app takes it (validated locally).
    fn act(&mut self, job: JobId, action: JobAction, now: Timestamp) -> Result<(), DemoError> {
        let doc = self
            .docs
            .remove(&DocId::Job(job))
            .ok_or_else(|| DemoError::Seed(format!("the phone does not hold job {job}")))?;
        let mut doc = JobDoc::from_trusted(doc.with_actor(self.actor.clone()));
        let result = doc.apply(&action, self.who, now);
        self.docs.insert(DocId::Job(job), doc.into_doc());
        result
            .map(|_| ())
            .map_err(|e| DemoError::Seed(format!("{} refused: {e}", action.name())))
    }

    /// A change no app would make: the customer's name is the office's.
    /// The server refuses it and records the rejection for the office.
    fn rename_customer(&mut self, job: JobId) -> Result<(), DemoError> {
        let doc = self
            .docs
            .get_mut(&DocId::Job(job))
            .ok_or_else(|| DemoError::Seed(format!("the phone does not hold job {job}")))?;
        let bad = |e: fieldsync_core::automerge::AutomergeError| DemoError::Seed(e.to_string());
        let customer = doc
            .get(ROOT, "customer")
            .map_err(bad)?
            .ok_or_else(|| DemoError::Seed("a job without a customer".into()))?
            .1;
        let mut tx = doc.transaction();
        tx.put(&customer, "name", "Renamed on the phone")
            .map_err(bad)?;
        tx.commit();
        Ok(())
    }
}

fn id(rng: &mut StdRng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// A password for one demo login (random per run: demo data, real logins).
fn password() -> String {
    const LETTERS: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let group = |rng: &mut rand::rngs::ThreadRng| -> String {
        (0..4)
            .map(|_| char::from(LETTERS[rng.random_range(0..LETTERS.len())]))
            .collect()
    };
    format!(
        "demo-{}-{}-{}",
        group(&mut rng),
        group(&mut rng),
        group(&mut rng)
    )
}

fn rfc3339(t: OffsetDateTime) -> Result<String, DemoError> {
    t.format(&Rfc3339)
        .map_err(|e| DemoError::Seed(e.to_string()))
}

fn at(day: Date, hour: u8) -> Result<OffsetDateTime, DemoError> {
    Ok(day
        .with_hms(hour, 0, 0)
        .map_err(|e| DemoError::Seed(e.to_string()))?
        .assume_utc())
}

/// The demo job `i`: its window (days from today, start hour).
fn window(i: usize, fate: Fate) -> (i64, u8) {
    let hour = 8 + 2 * (i % 5) as u8;
    let days = match fate {
        Fate::Travelling | Fate::OnSite => 0,
        Fate::Completed | Fate::CompletedOverCancel | Fate::UnableToComplete => {
            -1 - (i % 14) as i64
        }
        Fate::Scheduled | Fate::ScheduledRejected => (i % 4) as i64,
        Fate::Unassigned => 1 + (i % 3) as i64,
        Fate::Cancelled => (i % 3) as i64 - 1,
    };
    (days, hour)
}

/// Job `i`'s customer: one of its technician's (`i % 6`) depot.
fn customer_of(i: usize) -> usize {
    let depot = (i % company::TECHNICIANS.len()) / company::TECHS_PER_DEPOT;
    depot * company::CUSTOMERS_PER_DEPOT + (i / 6) % company::CUSTOMERS_PER_DEPOT
}

/// Makes the whole company. `admin_password` is the first admin's (made
/// directly in the store, as `fieldsync admin create-user` does); every
/// other user is made by that admin through the API.
pub async fn company(state: &AppState, base: &str) -> Result<Made, DemoError> {
    let mut rng = StdRng::seed_from_u64(SEED);
    let api = Api {
        client: reqwest::Client::new(),
        base: base.to_owned(),
    };
    let store = state.store.as_ref();
    let now = state.clock.now();
    let today = now.date();
    let stamp = || Timestamp(state.clock.now().unix_timestamp() * 1000);
    let mut logins = Vec::new();

    // People. The first admin, as `fieldsync admin create-user` makes one.
    let admin_password = password();
    crate::users::service::create_unchecked(
        store,
        NewUser {
            username: "admin".into(),
            role: Role::Admin,
            password: admin_password.clone(),
        },
    )
    .await?;
    logins.push(Login {
        username: "admin".into(),
        role: Role::Admin,
        password: admin_password.clone(),
    });
    let admin_actor = ActorId::from(id(&mut rng).into_bytes());
    let admin = str_of(
        &api.login("admin", &admin_password, "demo set-up", &admin_actor)
            .await?,
        "access_token",
    )?;
    let mut users: HashMap<&str, UserId> = HashMap::new();
    let people = company::OFFICE
        .iter()
        .map(|(u, r, n, e)| (*u, *r, *n, *e))
        .chain(
            company::TECHNICIANS
                .iter()
                .map(|(u, n)| (*u, Role::Technician, *n, None)),
        );
    for (username, role, name, email) in people {
        let pass = password();
        let made = api
            .post(
                &admin,
                "/v1/users",
                json!({"username": username, "role": role.as_str(), "password": pass}),
            )
            .await?;
        let user: UserId = parse(&str_of(&made, "id")?)?;
        // Customers see the technician's first name; alerts go to the e-mail.
        store.set_user_profile(user, Some(name), email).await?;
        users.insert(username, user);
        logins.push(Login {
            username: username.into(),
            role,
            password: pass,
        });
    }
    let user = |name: &str| users[name];

    // The price book devices bill with.
    let parts: serde_json::Map<String, Value> = company::PARTS
        .iter()
        .map(|(sku, name, price, _)| {
            (
                (*sku).to_owned(),
                json!({"name": name, "unit_price": price, "serialized": false}),
            )
        })
        .collect();
    api.put(
        &admin,
        "/v1/pricebook",
        json!({
            "version": 0, "currency": "EUR", "tax_rate_bps": 2300, "callout_fee": 4500,
            "parts": parts,
            "labour_rates": {
                "standard": {"name": "Standard", "hourly": 6000},
                "overtime": {"name": "Evenings and weekends", "hourly": 9000},
            },
            "contracts": {},
        }),
    )
    .await?;
    for (sku, name, _, cost) in company::PARTS {
        api.put(
            &admin,
            &format!("/v1/inventory/parts/{sku}"),
            json!({"name": name, "unit_cost_minor": cost}),
        )
        .await?;
    }

    // Depots, their staff, vans; stock received, loaded, and reorder rules.
    let mut depots = Vec::new();
    let mut vans = Vec::new();
    for (d, name) in company::DEPOTS.iter().enumerate() {
        let depot = str_of(
            &api.post(
                &admin,
                "/v1/inventory/locations",
                json!({"id": id(&mut rng), "kind": "depot", "name": name}),
            )
            .await?,
            "id",
        )?;
        for staff in ["stores", "supervisor"] {
            api.post(
                &admin,
                &format!("/v1/inventory/locations/{depot}/staff"),
                json!({"user_id": user(staff).to_string()}),
            )
            .await?;
        }
        for (sku, quantity) in company::DEPOT_RECEIPT {
            api.post(
                &admin,
                "/v1/inventory/movements",
                json!({"id": id(&mut rng), "kind": "receipt", "sku": sku, "quantity": quantity, "to": depot}),
            )
            .await?;
        }
        for (sku, point, quantity) in company::DEPOT_REORDER {
            api.put(
                &admin,
                &format!("/v1/inventory/locations/{depot}/reorder/{sku}"),
                json!({"reorder_point": point, "reorder_quantity": quantity}),
            )
            .await?;
        }
        for t in d * company::TECHS_PER_DEPOT..(d + 1) * company::TECHS_PER_DEPOT {
            let (tech, _) = company::TECHNICIANS[t];
            let van = str_of(
                &api.post(
                    &admin,
                    "/v1/inventory/locations",
                    json!({"id": id(&mut rng), "kind": "van", "name": format!("Van {}", t + 1),
                        "depot_id": depot, "technician_id": user(tech).to_string()}),
                )
                .await?,
                "id",
            )?;
            for (sku, quantity) in company::VAN_LOAD {
                api.post(
                    &admin,
                    "/v1/inventory/movements",
                    json!({"id": id(&mut rng), "kind": "transfer", "sku": sku,
                        "quantity": quantity, "from": depot, "to": van}),
                )
                .await?;
            }
            for (sku, point, quantity) in company::VAN_REORDER {
                api.put(
                    &admin,
                    &format!("/v1/inventory/locations/{van}/reorder/{sku}"),
                    json!({"reorder_point": point, "reorder_quantity": quantity}),
                )
                .await?;
            }
            vans.push(van);
        }
        depots.push(depot);
    }
    // The office works for both depots.
    for (name, _, _, _) in company::OFFICE {
        api.put(
            &admin,
            &format!("/v1/users/{}/depots", user(name)),
            json!({"depots": depots}),
        )
        .await?;
    }
    // The service desk's teams.
    for (team, member) in [("sales", "sales"), ("finance", "finance")] {
        api.put(
            &admin,
            &format!("/v1/desk/teams/{team}"),
            json!({"members": [user(member).to_string()], "supervisor_id": user("supervisor").to_string()}),
        )
        .await?;
    }

    // Customers, each with a site, a contact and one or two assets.
    let dispatch_actor = ActorId::from(id(&mut rng).into_bytes());
    let dispatch_password = &logins
        .iter()
        .find(|l| l.username == "dispatch")
        .ok_or_else(|| DemoError::Seed("no dispatcher".into()))?
        .password;
    let office = str_of(
        &api.login("dispatch", dispatch_password, "office PC", &dispatch_actor)
            .await?,
        "access_token",
    )?;
    let mut assets = Vec::new();
    for (c, (name, kind, depot, address, contact, product)) in company::CUSTOMERS.iter().enumerate()
    {
        let customer = str_of(
            &api.post(
                &office,
                "/v1/customers",
                json!({"kind": kind, "name": name, "depot_id": depots[*depot]}),
            )
            .await?,
            "id",
        )?;
        let site = str_of(
            &api.post(
                &office,
                &format!("/v1/customers/{customer}/sites"),
                json!({"name": if *kind == "company" { "Premises" } else { "Home" }, "address": address}),
            )
            .await?,
            "id",
        )?;
        let mail = format!(
            "{}@customers.example",
            contact.to_lowercase().replace(' ', ".")
        );
        api.post(
            &office,
            &format!("/v1/customers/{customer}/contacts"),
            json!({"name": contact, "email": mail, "phone": format!("+351 910 000 {c:03}"),
                "preferred_channel": "email"}),
        )
        .await?;
        // Odd customers' warranties have ended; even ones' run another year.
        let warranty_end = if c % 2 == 0 {
            today + Duration::days(365 - 20 * c as i64)
        } else {
            today - Duration::days(30 + 20 * c as i64)
        };
        let sku = product.to_uppercase().replace(' ', "-");
        let asset = str_of(
            &api.post(
                &office,
                &format!("/v1/customers/{customer}/assets"),
                json!({"site_id": site, "sku": sku, "product": product,
                    "serial": format!("{}-{:05}", &sku[..2], 10_321 + 37 * c),
                    "install_date": (warranty_end - Duration::days(730)).to_string(),
                    "warranty_end": warranty_end.to_string()}),
            )
            .await?,
            "id",
        )?;
        let mut owned = vec![asset];
        if c % 3 == 0 {
            owned.push(str_of(
                &api.post(
                    &office,
                    &format!("/v1/customers/{customer}/assets"),
                    json!({"site_id": site, "sku": "THERMO-3", "product": "Room thermostat",
                        "serial": format!("TH-{:05}", 20_417 + 11 * c),
                        "install_date": (today - Duration::days(400)).to_string(),
                        "warranty_end": (today + Duration::days(330)).to_string()}),
                )
                .await?,
                "id",
            )?);
        }
        assets.push(owned);
    }

    // The jobs: technician i % 6, a customer of that technician's depot.
    let fates = company::fates();
    let mut jobs: Vec<(JobId, Fate, Option<usize>)> = Vec::new();
    for (i, fate) in fates.iter().copied().enumerate() {
        let tech = i % company::TECHNICIANS.len();
        let c = customer_of(i);
        let asset = &assets[c][i % assets[c].len()];
        let (days, hour) = window(i, fate);
        let day = today + Duration::days(days);
        let technician = (fate != Fate::Unassigned).then_some(tech);
        let job = id(&mut rng);
        api.post(
            &office,
            "/v1/jobs",
            json!({
                "id": job,
                "asset_id": asset,
                "problem": PROBLEMS[i % PROBLEMS.len()],
                "priority": PRIORITIES[i % PRIORITIES.len()],
                "window": {"start": rfc3339(at(day, hour)?)?, "end": rfc3339(at(day, hour + 2)?)?},
                "technician_id": technician.map(|t| user(company::TECHNICIANS[t].0).to_string()),
                "checklist": [
                    {"question": "Gas pressure checked?", "required": false},
                    {"question": "Flue clear?", "required": false},
                ],
            }),
        )
        .await?;
        jobs.push((JobId::from_uuid(job), fate, technician));
    }
    for (job, fate, _) in &jobs {
        if *fate == Fate::Cancelled {
            api.post(
                &office,
                &format!("/v1/jobs/{job}/cancel"),
                json!({"reason": "The customer called to cancel."}),
            )
            .await?;
        }
    }

    // Each technician's phone logs in and takes its jobs, its van and the
    // price book.
    let mut phones = Vec::new();
    for (t, (username, _)) in company::TECHNICIANS.iter().enumerate() {
        let actor = ActorId::from(id(&mut rng).into_bytes());
        let pass = &logins
            .iter()
            .find(|l| l.username == *username)
            .ok_or_else(|| DemoError::Seed(format!("no login for {username}")))?
            .password;
        let tokens = api
            .login(username, pass, &format!("{username}'s phone"), &actor)
            .await?;
        let mut phone = Phone {
            who: Principal::new(user(username), Role::Technician),
            actor: actor.clone(),
            token: str_of(&tokens, "access_token")?,
            docs: DocSet::new(),
            session: ClientSession::new(actor),
            van: parse(&vans[t])?,
        };
        phone.sync(&api).await?;
        phones.push(phone);
    }

    // The day's work, offline; what each technician did goes in one sync.
    let mut completed = Vec::new();
    let mut done_by = vec![0usize; phones.len()];
    for (i, (job, fate, tech)) in jobs.iter().enumerate() {
        let Some(t) = *tech else { continue };
        let phone = &mut phones[t];
        let job = *job;
        match fate {
            Fate::Travelling => phone.act(job, JobAction::StartTravel, stamp())?,
            Fate::OnSite => {
                phone.act(job, JobAction::StartTravel, stamp())?;
                phone.act(job, JobAction::Arrive, stamp())?;
                phone.act(
                    job,
                    JobAction::AddNote {
                        text: "On site, checking the boiler.".into(),
                    },
                    stamp(),
                )?;
            }
            Fate::Completed | Fate::CompletedOverCancel => {
                phone.act(job, JobAction::StartTravel, stamp())?;
                phone.act(job, JobAction::Arrive, stamp())?;
                let minutes = 30 + 15 * (i % 4) as u32;
                phone.act(
                    job,
                    JobAction::AddLabour {
                        entry: LineId::from_uuid(id(&mut rng)),
                        minutes,
                        rate: "standard".into(),
                        description: WORK[i % WORK.len()].into(),
                    },
                    stamp(),
                )?;
                // Ana's first visit takes three filters from a van that has
                // one: her van goes negative, as the ledger then shows.
                let (sku, quantity) = if t == 0 && done_by[t] == 0 {
                    ("FILTER-M", 3)
                } else {
                    let (sku, _) = company::VAN_LOAD[i % company::VAN_LOAD.len()];
                    (sku, 1)
                };
                phone.act(
                    job,
                    JobAction::UsePart {
                        line: LineId::from_uuid(id(&mut rng)),
                        sku: parse::<Sku>(sku)?,
                        quantity: Quantity::new(quantity)
                            .map_err(|e| DemoError::Seed(e.to_string()))?,
                        serials: Vec::new(),
                        van: phone.van,
                    },
                    stamp(),
                )?;
                phone.act(
                    job,
                    JobAction::AddNote {
                        text: WORK[i % WORK.len()].into(),
                    },
                    stamp(),
                )?;
                // The customer signs on the phone. (The demo has no
                // signature images: the reference is there, the bytes never
                // come, as when a phone is lost before it uploads.)
                let (_, _, _, _, signer, _) = company::CUSTOMERS[customer_of(i)];
                phone.act(
                    job,
                    JobAction::CaptureSignature {
                        signer: signer.into(),
                        image_sha256: hex::encode(Sha256::digest(format!("{job} {signer}"))),
                    },
                    stamp(),
                )?;
                phone.act(job, JobAction::Complete, stamp())?;
                done_by[t] += 1;
                completed.push(job);
            }
            Fate::UnableToComplete => {
                phone.act(job, JobAction::StartTravel, stamp())?;
                phone.act(job, JobAction::Arrive, stamp())?;
                phone.act(
                    job,
                    JobAction::UnableToComplete {
                        reason: "Needs a part the van does not carry; reordered.".into(),
                    },
                    stamp(),
                )?;
            }
            Fate::Unassigned | Fate::Scheduled | Fate::ScheduledRejected | Fate::Cancelled => {}
        }
    }
    // Meanwhile the office cancels three jobs the technicians have in fact
    // finished offline: both edits merge, the completion stands, and the
    // cancellation stays visible as a conflict.
    for (job, fate, _) in &jobs {
        if *fate == Fate::CompletedOverCancel {
            api.post(
                &office,
                &format!("/v1/jobs/{job}/cancel"),
                json!({"reason": "Customer asked to postpone."}),
            )
            .await?;
        }
    }
    for phone in &mut phones {
        let refused = phone.sync(&api).await?;
        if refused > 0 {
            return Err(DemoError::Seed(format!(
                "{refused} of a technician's jobs were refused"
            )));
        }
    }
    // Three phones send a change the server must refuse.
    let mut rejected = 0;
    for (job, fate, tech) in &jobs {
        if let (Fate::ScheduledRejected, Some(t)) = (fate, tech) {
            phones[*t].rename_customer(*job)?;
            rejected += phones[*t].sync(&api).await?;
        }
    }

    // Customers answer the feedback form for most completed visits.
    let max_attempts = state.settings.feedback.outbox_max_attempts.max(1);
    let requests = store.feedback_requests(&RequestFilter::default()).await?;
    let mut answers = 0;
    for (n, job) in completed.iter().take(company::ANSWERED).enumerate() {
        let Some(request) = requests.iter().find(|r| r.job_id == *job) else {
            continue;
        };
        let (fixed, rating, courtesy, recommend, comment) =
            company::ANSWERS[n % company::ANSWERS.len()];
        let fields: HashMap<String, String> = [
            (questions::FIXED, fixed),
            (questions::RATING, rating),
            (questions::COURTESY, courtesy),
            (questions::RECOMMEND, recommend),
            (questions::COMMENT, comment),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let answer = questions::parse(&fields, state.clock.now())
            .map_err(|e| DemoError::Seed(format!("feedback answer refused: {e:?}")))?;
        store
            .submit_feedback(request.id, &answer, max_attempts)
            .await?;
        answers += 1;
    }

    Ok(Made {
        logins,
        jobs: jobs.len(),
        customers: company::CUSTOMERS.len(),
        rejected,
        answers,
    })
}

const PRIORITIES: &[&str] = &["normal", "high", "normal", "low", "urgent"];

const PROBLEMS: &[&str] = &[
    "No hot water",
    "Boiler shows error E21",
    "Radiators cold upstairs",
    "Yearly service",
    "Water leaking under the boiler",
    "Pressure keeps dropping",
    "Noisy pump",
];

const WORK: &[&str] = &[
    "Replaced the valve and bled the system.",
    "Cleaned the burner, replaced the electrode.",
    "Fitted a new thermostat and tested the heating.",
    "Serviced the boiler; all readings normal.",
    "Replaced the sensor, error cleared.",
];
