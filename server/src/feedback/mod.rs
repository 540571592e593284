//! Post-visit customer feedback: the trigger written with a job's
//! completion, the public form behind a link token, the results for
//! supervisors, and follow-ups for low results. Messages go out through
//! [`crate::outbox`]. See docs/feedback.md.
//!
//! ```
//! # use fieldsync_server::feedback::{self, FeedbackSettings};
//! # fn demo(job: &fieldsync_core::Job, mut commit: fieldsync_server::store::DocCommit) {
//! // Where a job document is committed: ask for feedback if it is now completed
//! // (what `RequestProjector`, registered at start, does for every job commit).
//! if let Some(request) = feedback::trigger_for(job, &FeedbackSettings::default(), fieldsync_server::store::now_utc()) {
//!     commit.project(request);
//! }
//! # }
//! ```

pub mod api;
pub mod console;
pub mod messages;
pub mod mine;
pub mod model;
pub mod pages;
pub mod questions;
mod ratelimit;
pub mod settings;
pub mod stats;
pub mod store;

use base64::Engine as _;
use fieldsync_core::{Job, Status};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

pub use model::*;
pub use settings::{FeedbackSettings, SmtpTls};
pub use store::{FeedbackStore, RequestProjector};

use crate::store::TokenHash;

/// Longest "work done" text shown to a customer.
const MAX_WORK_DONE: usize = 300;

/// How a visit with no labour is described in `work_done` (stored in
/// English; [`work_done_in`] writes it in the customer's language).
const SERVICE_VISIT: &str = "Service visit: ";

/// A stored `work_done` as the customer reads it: the technician's own
/// words as written, the generic "Service visit: <product>" translated.
pub fn work_done_in(lang: crate::i18n::Language, work_done: &str) -> String {
    match work_done.strip_prefix(SERVICE_VISIT) {
        Some(product) => lang.text_with("work-service-visit", &[("product", product)]),
        None => work_done.to_owned(),
    }
}

/// The feedback request a job's merged state calls for, if any: completed
/// (or unable_to_complete when configured), a customer who did not opt out
/// and can be reached (email; else phone when an SMS gateway is set).
/// The unsubscribe list is checked by the store, in the commit.
pub fn trigger_for(
    job: &Job,
    settings: &FeedbackSettings,
    now: OffsetDateTime,
) -> Option<FeedbackTrigger> {
    let wanted = match job.status {
        Status::Completed => true,
        Status::UnableToComplete => settings.feedback_unable_to_complete,
        _ => false,
    };
    if !wanted || job.customer.feedback_opt_out {
        return None;
    }
    let email = job
        .customer
        .email
        .as_ref()
        .map(|e| model::normalize_contact(e.as_str()));
    let phone = job
        .customer
        .phone
        .as_deref()
        .map(model::normalize_contact)
        .filter(|p| p.trim_start_matches('+').len() >= 5);
    let (channel, contact) = match (&email, &phone) {
        (Some(e), _) => (Channel::Email, e.clone()),
        (None, Some(p)) if settings.sms_enabled() => (Channel::Sms, p.clone()),
        _ => return None,
    };
    let finished = job
        .status_history
        .iter()
        .rev()
        .find(|h| h.to == job.status)
        .map(|h| h.device_time)
        .unwrap_or(job.window.start);
    let visit_date = finished
        .date()
        .or_else(|| job.window.start.date())
        .map(|d| d.to_string())
        .unwrap_or_default();
    Some(FeedbackTrigger {
        request_id: Uuid::new_v4(),
        message_id: Uuid::new_v4(),
        job_id: job.id,
        job_status: job.status,
        technician_id: job.technician,
        customer_name: job.customer.name.clone(),
        channel,
        contact,
        opt_out_keys: email.into_iter().chain(phone).collect(),
        visit_date,
        work_done: work_done(job),
        send_after: now + settings.delay(),
        max_attempts: settings.outbox_max_attempts.max(1),
    })
}

/// The labour descriptions (what was done; voided entries were not), else the product serviced.
fn work_done(job: &Job) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for l in job.active_labour() {
        let d = l.description.trim();
        if !d.is_empty() && !seen.contains(&d) {
            seen.push(d);
        }
    }
    let text = if seen.is_empty() {
        format!("{SERVICE_VISIT}{}", job.asset.product.trim())
    } else {
        seen.join("; ")
    };
    if text.chars().count() > MAX_WORK_DONE {
        let cut: String = text.chars().take(MAX_WORK_DONE - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// A new link token (256 random bits, base64url) and its hash.
pub fn new_token() -> (String, TokenHash) {
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

/// SHA-256 of a presented token: the only form stored. A token needs no
/// slow hash: it has 256 bits of entropy, nothing to brute-force.
pub fn hash_token(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

/// A presented token that could be one of ours (cheap check before the
/// database and the rate limiter's bookkeeping).
pub fn plausible_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use fieldsync_core::automerge::ActorId;
    use fieldsync_core::job::{Asset, Customer, Priority, Site, Window};
    use fieldsync_core::{
        JobAction, JobDoc, JobId, JobSpec, LineId, Principal, Role, Timestamp, UserId,
    };

    use super::*;

    const DAY: i64 = 86_400_000;

    /// A job for `customer`, worked by the technician and ended with `last`.
    fn job(customer: Customer, last: Option<JobAction>) -> Job {
        let office = Principal::new(UserId::from_bytes([1; 16]), Role::Dispatcher);
        let tech = Principal::new(UserId::from_bytes([2; 16]), Role::Technician);
        let spec = JobSpec {
            id: JobId::from_bytes([3; 16]),
            customer,
            site: Site {
                name: None,
                address: "Rua 1, Porto".into(),
            },
            asset: Asset {
                product: "Boiler X".into(),
                serial: None,
                warranty_end: None,
                contract_ref: None,
            },
            problem: "No hot water".into(),
            priority: Priority::High,
            window: Window::new(Timestamp(0), Timestamp(3_600_000)).unwrap(),
            technician: Some(tech.user),
            checklist: vec![],
        };
        let mut doc = JobDoc::create(&spec, ActorId::random(), office, Timestamp(0)).unwrap();
        let t = Timestamp(7304 * DAY); // 1989-12-31; the ending comes a day later
        doc.apply(&JobAction::StartTravel, tech, t).unwrap();
        doc.apply(&JobAction::Arrive, tech, t).unwrap();
        let labour = JobAction::AddLabour {
            entry: LineId::from_bytes([4; 16]),
            minutes: 30,
            rate: "standard".into(),
            description: "Replaced valve".into(),
        };
        doc.apply(&labour, tech, t).unwrap();
        let signature = JobAction::CaptureSignature {
            signer: "Ana".into(),
            image_sha256: "ab".repeat(32),
        };
        doc.apply(&signature, tech, t).unwrap();
        if let Some(action) = last {
            let who = if matches!(action, JobAction::Cancel { .. }) {
                office
            } else {
                tech
            };
            doc.apply(&action, who, Timestamp(t.0 + DAY)).unwrap();
        }
        doc.read().unwrap()
    }

    fn customer(email: Option<&str>, phone: Option<&str>, opt_out: bool) -> Customer {
        Customer {
            name: "Ana Lima".into(),
            email: email.map(|e| e.parse().unwrap()),
            phone: phone.map(str::to_owned),
            feedback_opt_out: opt_out,
        }
    }

    #[test]
    fn completed_jobs_ask_once_their_customer() {
        let s = FeedbackSettings::default();
        let now = crate::store::now_utc();
        let j = job(
            customer(Some("Ana@Example.com"), Some("+351 900-000 001"), false),
            Some(JobAction::Complete),
        );
        let t = trigger_for(&j, &s, now).expect("a request");
        assert_eq!(
            (t.channel, t.contact.as_str()),
            (Channel::Email, "ana@example.com")
        );
        assert_eq!(t.opt_out_keys, ["ana@example.com", "+351900000001"]);
        assert_eq!(t.send_after - now, time::Duration::hours(2));
        assert_eq!(t.work_done, "Replaced valve");
        assert_eq!(t.visit_date, "1990-01-01", "the completion's day");
        assert_eq!(t.job_status, Status::Completed);
    }

    #[test]
    fn other_endings_and_opt_outs_ask_nothing() {
        let s = FeedbackSettings::default();
        let now = crate::store::now_utc();
        let c = || customer(Some("ana@example.com"), None, false);
        assert!(
            trigger_for(&job(c(), None), &s, now).is_none(),
            "still open"
        );
        let cancel = JobAction::Cancel {
            reason: "no".into(),
        };
        let unable = || JobAction::UnableToComplete {
            reason: "no access".into(),
        };
        assert!(trigger_for(&job(c(), Some(cancel)), &s, now).is_none());
        assert!(trigger_for(&job(c(), Some(unable())), &s, now).is_none());
        let asked = FeedbackSettings {
            feedback_unable_to_complete: true,
            ..FeedbackSettings::default()
        };
        let t = trigger_for(&job(c(), Some(unable())), &asked, now).unwrap();
        assert_eq!(t.job_status, Status::UnableToComplete);
        let opted = customer(Some("ana@example.com"), None, true);
        assert!(trigger_for(&job(opted, Some(JobAction::Complete)), &s, now).is_none());
    }

    #[test]
    fn phone_only_customers_need_the_sms_gateway() {
        let now = crate::store::now_utc();
        let j = job(
            customer(None, Some("900 000 001"), false),
            Some(JobAction::Complete),
        );
        assert!(trigger_for(&j, &FeedbackSettings::default(), now).is_none());
        let sms = FeedbackSettings {
            sms_webhook_url: Some("https://gw.example/sms".into()),
            ..FeedbackSettings::default()
        };
        let t = trigger_for(&j, &sms, now).unwrap();
        assert_eq!((t.channel, t.contact.as_str()), (Channel::Sms, "900000001"));
    }

    #[test]
    fn a_generic_visit_is_described_in_the_customers_language() {
        use crate::i18n::Language;
        assert_eq!(
            work_done_in(Language::Pt, "Service visit: Boiler X"),
            "Visita de assistência: Boiler X"
        );
        assert_eq!(
            work_done_in(Language::En, "Service visit: Boiler X"),
            "Service visit: Boiler X"
        );
        assert_eq!(
            work_done_in(Language::Pt, "Replaced valve"),
            "Replaced valve"
        );
    }

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, ha) = new_token();
        let (b, hb) = new_token();
        assert_ne!(a, b);
        assert!(plausible_token(&a) && plausible_token(&b));
        assert_eq!(hash_token(&a), ha);
        assert_ne!(ha, hb);
        assert!(!plausible_token("short") && !plausible_token(&format!("{}!", &a[..42])));
    }
}
