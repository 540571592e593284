//! The text of outgoing feedback messages, composed at send time (the link
//! token is minted here, per attempt, so no usable token rests in the
//! database: only its hash).

use maud::{DOCTYPE, html};

use crate::brand::Brand;
use crate::i18n::Language;
use time::OffsetDateTime;

use super::FeedbackStore;
use super::questions::{Kind, QUESTIONS};
use super::{FeedbackRequest, FeedbackSettings, MessageKind, OutboxMessage, new_token};
use crate::outbox::{Composed, SendError};

pub async fn compose(
    store: &dyn FeedbackStore,
    settings: &FeedbackSettings,
    brand: &Brand,
    public_url: &str,
    message: &OutboxMessage,
    now: OffsetDateTime,
) -> Result<Composed, SendError> {
    let request_id = message
        .request_id
        .ok_or_else(|| SendError::Permanent("message has no feedback request".into()))?;
    let request = store.feedback_request(request_id).await?;
    match message.kind {
        MessageKind::FeedbackRequest => {
            let (token, hash) = new_token();
            store
                .insert_feedback_token(request.id, &hash, now, now + settings.link_ttl())
                .await?;
            let link = format!("{public_url}/feedback/{token}");
            Ok(feedback_request(brand, public_url, &request, &link))
        }
        // Composed by the desk (see outbox::Worker::attempt).
        MessageKind::DeskAlert | MessageKind::Invoice | MessageKind::InvoiceReminder => {
            Err(SendError::Permanent("not a feedback message".into()))
        }
        MessageKind::FollowupAlert => {
            let answer = request
                .answer
                .as_ref()
                .ok_or_else(|| SendError::Permanent("alert for an unanswered request".into()))?;
            let console = format!("{public_url}/console/feedback/followups");
            let who = request.technician_name.as_deref().unwrap_or("(unassigned)");
            let subject = format!(
                "Follow-up needed: {} ({})",
                request.customer_name,
                answer.low_reason()
            );
            // Every question of the form, as the customer answered it.
            let answers: Vec<(&str, String)> = QUESTIONS
                .iter()
                .map(|q| {
                    let value = answer.get(q.key).map(|v| v.to_string()).unwrap_or_default();
                    match q.kind {
                        Kind::Scale { max, .. } if !value.is_empty() => {
                            (q.label, format!("{value}/{max}"))
                        }
                        _ => (q.label, value),
                    }
                })
                .collect();
            let text = format!(
                "A customer gave a low result.\n\nCustomer: {customer}\nTechnician: {who}\n\
                 Visit: {date}\nJob: {job}\n{answers}\n\
                 Follow-ups: {console}\n",
                customer = request.customer_name,
                date = request.visit_date,
                job = request.job_id,
                answers = answers
                    .iter()
                    .map(|(label, value)| format!("{label}: {value}\n"))
                    .collect::<String>(),
            );
            let html = html! {
                (DOCTYPE)
                html lang="en" {
                    body style="font-family: sans-serif; color: #1a1a1a" {
                        p { "A customer gave a low result." }
                        table {
                            tr { th align="left" { "Customer" } td { (request.customer_name) } }
                            tr { th align="left" { "Technician" } td { (who) } }
                            tr { th align="left" { "Visit" } td { (request.visit_date) } }
                            tr { th align="left" { "Job" } td { (request.job_id) } }
                            @for (label, value) in &answers {
                                tr { th align="left" { (label) } td { (value) } }
                            }
                        }
                        p { a href=(console) { "Open the follow-up list" } }
                    }
                }
            };
            let sms = subject.clone();
            Ok(Composed {
                subject,
                text,
                html: html.into_string(),
                sms,
            })
        }
    }
}

fn first_word(s: &str) -> Option<&str> {
    s.split_whitespace().next()
}

/// The customer's feedback request, in their language and with the
/// company's brand: email (text and HTML with inline styles, which mail
/// clients keep) and SMS. The logo is an absolute URL with the company's
/// name as its alternative text.
pub fn feedback_request(
    brand: &Brand,
    public_url: &str,
    request: &FeedbackRequest,
    link: &str,
) -> Composed {
    let lang: Language = request.language;
    let unsubscribe = format!("{link}/unsubscribe");
    let tech = request
        .technician_first_name()
        .map(str::to_owned)
        .unwrap_or_else(|| lang.text("tech-unnamed-inline"));
    let date = lang.date_str(&request.visit_date);
    let greeting = match first_word(&request.customer_name) {
        Some(n) => lang.text_with("email-greeting-name", &[("name", n)]),
        None => lang.text("email-greeting"),
    };
    let subject = lang.text_with("email-subject", &[("tech", &tech), ("date", &date)]);
    let visited = lang.text_with(
        "email-visited",
        &[
            ("tech", &tech),
            ("date", &date),
            ("work", &request.work_done),
        ],
    );
    let ask = lang.text("email-ask");
    let thanks = lang.text("email-thanks");
    let text = format!(
        "{greeting}\n\n{visited}\n{ask}\n\n{link}\n\n{thanks}\n{name}\n\n{stop} {unsubscribe}\n",
        name = brand.name,
        stop = lang.text("email-unsubscribe-text"),
    );
    let logo = brand.logo_url(public_url);
    let band = brand.email_band_style();
    let button = brand.email_button_style();
    let html = html! {
        (DOCTYPE)
        html lang=(lang.as_str()) {
            head { meta charset="utf-8"; title { (subject) } }
            body style="margin: 0; font-family: sans-serif; color: #1a1a1a; line-height: 1.5" {
                table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="border-collapse: collapse" {
                    tr {
                        td style=(band) {
                            img src=(logo) alt=(brand.name) height="40" style="height: 40px; vertical-align: middle; margin-right: 12px; border: 0";
                            span style="vertical-align: middle" { (brand.name) }
                        }
                    }
                }
                div style="padding: 8px 16px; max-width: 36rem" {
                    p { (greeting) }
                    p { (visited) }
                    p { (ask) }
                    p { a href=(link) style=(button) { (lang.text("email-button")) } }
                    p { (lang.text("email-or-link")) " " a href=(link) { (link) } }
                    p { (thanks) br; (brand.name) }
                    p style="font-size: 0.9em; color: #444444" {
                        a href=(unsubscribe) style="color: #444444" { (lang.text("email-unsubscribe")) }
                    }
                }
            }
        }
    };
    let sms = lang.text_with(
        "sms-request",
        &[
            ("brand", &brand.name),
            ("tech", &tech),
            ("date", &date),
            ("link", link),
            ("unsubscribe", &unsubscribe),
        ],
    );
    Composed {
        subject,
        text,
        html: html.into_string(),
        sms,
    }
}
