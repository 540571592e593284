//! The public feedback form behind a link token: server-rendered HTML
//! (maud escapes every value), no JavaScript, no login.
//!
//! `GET/POST /feedback/{token}` and `GET/POST /feedback/{token}/unsubscribe`.
//! Every lookup counts against the client's rate limit (429 page); the
//! client is told apart as for login throttling ([`ClientAddr`]: behind a
//! trusted proxy, by `X-Forwarded-For`). Unknown
//! tokens get a 404 page, expired ones a 410 page, a second submission a
//! 409 "already answered" page. Pages never show prices, addresses or
//! other customers' data, and tell the browser not to cache them or send
//! the URL (which holds the token) as a referrer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::questions::{self, Kind, QUESTIONS};
use super::ratelimit::RateLimiter;
use super::{FeedbackRequest, SubmitOutcome, hash_token, normalize_contact, plausible_token};
use crate::app::AppState;
use crate::client_addr::ClientAddr;
use crate::config::Settings;
use crate::store::now_utc;

/// Longest comment accepted, in characters.
pub use super::questions::MAX_COMMENT;

/// The form's routes, with their own rate limiter.
pub fn router(settings: &Settings) -> Router<AppState> {
    let limiter = Arc::new(RateLimiter::new(settings.feedback.feedback_rate_per_min));
    Router::new()
        .route("/feedback/{token}", get(show).post(submit))
        .route(
            "/feedback/{token}/unsubscribe",
            get(unsubscribe_page).post(unsubscribe),
        )
        .layer(Extension(limiter))
}

/// An HTML page with a status and the headers every form page carries.
struct Page(StatusCode, Markup);

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut res = (self.0, self.1).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        res
    }
}

/// What a token opens.
enum Lookup {
    Open(Box<FeedbackRequest>),
    Expired,
}

async fn lookup(
    state: &AppState,
    limiter: &RateLimiter,
    ip: IpAddr,
    token: &str,
) -> Result<Lookup, Page> {
    if !limiter.allow(ClientAddr(ip).limit_key(), Instant::now()) {
        return Err(message_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "Please wait a minute and try again.",
        ));
    }
    if !plausible_token(token) {
        return Err(not_found());
    }
    match state.store.feedback_by_token(&hash_token(token)).await {
        Ok(Some((request, expires_at))) => {
            if expires_at <= now_utc() {
                Ok(Lookup::Expired)
            } else {
                Ok(Lookup::Open(Box::new(request)))
            }
        }
        Ok(None) => Err(not_found()),
        Err(e) => {
            tracing::error!(error = %e, "feedback token lookup failed");
            Err(message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again in a little while.",
            ))
        }
    }
}

fn not_found() -> Page {
    message_page(
        StatusCode::NOT_FOUND,
        "Link not found",
        "This feedback link is not valid. Please check that you opened the whole link from your message.",
    )
}

fn expired() -> Page {
    message_page(
        StatusCode::GONE,
        "This link has expired",
        "Thank you for your interest. Feedback links work for a limited time, and this one has ended.",
    )
}

fn already_answered(status: StatusCode) -> Page {
    message_page(
        status,
        "Already answered",
        "Feedback for this visit has already been given. Thank you!",
    )
}

async fn show(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<RateLimiter>>,
    ClientAddr(ip): ClientAddr,
    Path(token): Path<String>,
) -> Page {
    match lookup(&state, &limiter, ip, &token).await {
        Err(page) => page,
        Ok(Lookup::Expired) => expired(),
        Ok(Lookup::Open(r)) if r.answer.is_some() => already_answered(StatusCode::OK),
        Ok(Lookup::Open(r)) => Page(StatusCode::OK, form_page(&r, &HashMap::new(), &[])),
    }
}

async fn submit(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<RateLimiter>>,
    ClientAddr(ip): ClientAddr,
    Path(token): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Page {
    let request = match lookup(&state, &limiter, ip, &token).await {
        Err(page) => return page,
        Ok(Lookup::Expired) => return expired(),
        Ok(Lookup::Open(r)) => *r,
    };
    if request.answer.is_some() {
        return already_answered(StatusCode::CONFLICT);
    }
    let mut fields: HashMap<String, String> = fields.into_iter().collect();
    let answer = match questions::parse(&fields, now_utc()) {
        Ok(a) => a,
        Err(errors) => {
            // A refused card number is not even shown back.
            for (key, message) in &errors {
                if *message == questions::CARD_NUMBER {
                    fields.remove(*key);
                }
            }
            return Page(
                StatusCode::BAD_REQUEST,
                form_page(&request, &fields, &errors),
            );
        }
    };
    let max_attempts = state.settings.feedback.outbox_max_attempts.max(1);
    match state
        .store
        .submit_feedback(request.id, &answer, max_attempts)
        .await
    {
        Ok(SubmitOutcome::Recorded { followup }) => {
            tracing::info!(request = %request.id, followup, "feedback received");
            message_page(
                StatusCode::OK,
                "Thank you!",
                "Your feedback has been received. It helps us do better.",
            )
        }
        Ok(SubmitOutcome::AlreadyAnswered) => already_answered(StatusCode::CONFLICT),
        Err(e) => {
            tracing::error!(error = %e, "storing feedback failed");
            message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Your answers were not saved. Please try again in a little while.",
            )
        }
    }
}

async fn unsubscribe_page(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<RateLimiter>>,
    ClientAddr(ip): ClientAddr,
    Path(token): Path<String>,
) -> Page {
    if let Err(page) = lookup(&state, &limiter, ip, &token).await {
        return page;
    }
    Page(
        StatusCode::OK,
        layout(
            "Stop feedback requests",
            html! {
                h1 { "Stop feedback requests?" }
                p { "We will not ask you for feedback about future visits." }
                form method="post" {
                    button type="submit" { "Yes, stop feedback requests" }
                }
            },
        ),
    )
}

/// Works for expired links too: opting out should never be refused.
async fn unsubscribe(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<RateLimiter>>,
    ClientAddr(ip): ClientAddr,
    Path(token): Path<String>,
) -> Page {
    let request = match lookup(&state, &limiter, ip, &token).await {
        Err(page) => return page,
        Ok(Lookup::Open(r)) => *r,
        Ok(Lookup::Expired) => match state.store.feedback_by_token(&hash_token(&token)).await {
            Ok(Some((r, _))) => r,
            _ => return not_found(),
        },
    };
    match state
        .store
        .unsubscribe(&normalize_contact(&request.contact), now_utc())
        .await
    {
        Ok(()) => message_page(
            StatusCode::OK,
            "You are unsubscribed",
            "You will receive no more feedback requests from us.",
        ),
        Err(e) => {
            tracing::error!(error = %e, "unsubscribe failed");
            message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again in a little while.",
            )
        }
    }
}

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0; color: #1a1a1a; background: #ffffff; line-height: 1.5; font-size: 1.05rem; }
main { max-width: 36rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; line-height: 1.25; }
.visit { background: #f1f4f9; border-radius: 8px; padding: 0.75rem 1rem; }
.visit dt { font-weight: 600; }
.visit dd { margin: 0 0 0.5rem 0; }
fieldset { border: 1px solid #6b6b6b; border-radius: 8px; margin: 1rem 0; padding: 0.5rem 1rem 1rem; }
legend { font-weight: 600; padding: 0 0.25rem; }
.choices { display: flex; flex-wrap: wrap; gap: 0.5rem; }
.choices label { display: inline-flex; align-items: center; gap: 0.35rem; min-width: 3rem; min-height: 44px; padding: 0 0.6rem; border: 1px solid #6b6b6b; border-radius: 6px; }
input[type=radio] { width: 1.2rem; height: 1.2rem; }
.scale { font-size: 0.9rem; color: #3d3d3d; }
label.block { display: block; font-weight: 600; margin-top: 1rem; }
textarea { width: 100%; box-sizing: border-box; min-height: 7rem; font: inherit; padding: 0.5rem; border: 1px solid #6b6b6b; border-radius: 6px; }
button { margin-top: 1rem; font: inherit; font-weight: 600; color: #ffffff; background: #0b57d0; border: 0; border-radius: 6px; padding: 0.8rem 1.5rem; min-height: 44px; cursor: pointer; }
:focus-visible { outline: 3px solid #b3261e; outline-offset: 2px; }
.error { color: #b3261e; font-weight: 600; }
.errors { border: 2px solid #b3261e; border-radius: 8px; padding: 0.5rem 1rem; }
";

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                main { (body) }
            }
        }
    }
}

fn message_page(status: StatusCode, title: &str, text: &str) -> Page {
    Page(
        status,
        layout(
            title,
            html! {
                h1 id="title" { (title) }
                p id="message" { (text) }
            },
        ),
    )
}

fn form_page(
    r: &FeedbackRequest,
    values: &HashMap<String, String>,
    errors: &[(&'static str, &'static str)],
) -> Markup {
    let tech = r.technician_first_name().unwrap_or("Our technician");
    let error_of = |name: &str| errors.iter().find(|(n, _)| *n == name).map(|(_, m)| *m);
    let checked = |name: &str, v: &str| values.get(name).is_some_and(|x| x == v);
    let scale = |name: &'static str, legend: &str, lo: u8, hi: u8, low: &str, high: &str| {
        html! {
            fieldset aria-describedby=(format!("{name}-scale")) {
                legend { (legend) }
                @if let Some(e) = error_of(name) { p class="error" id=(format!("{name}-error")) { (e) } }
                p class="scale" id=(format!("{name}-scale")) { (lo) " = " (low) ", " (hi) " = " (high) }
                div class="choices" {
                    @for n in lo..=hi {
                        label {
                            input type="radio" name=(name) value=(n) required checked[checked(name, &n.to_string())];
                            (n)
                        }
                    }
                }
            }
        }
    };
    let question = |q: &questions::Question| {
        let prompt = q.prompt.replace("{tech}", tech);
        match q.kind {
            Kind::YesNo => html! {
                fieldset {
                    legend { (prompt) }
                    @if let Some(e) = error_of(q.key) { p class="error" { (e) } }
                    div class="choices" {
                        label { input type="radio" name=(q.key) value="yes" required checked[checked(q.key, "yes")]; "Yes" }
                        label { input type="radio" name=(q.key) value="no" required checked[checked(q.key, "no")]; "No" }
                    }
                }
            },
            Kind::Scale {
                min,
                max,
                low,
                high,
            } => scale(q.key, &prompt, min, max, low, high),
            Kind::Text { max_chars } => html! {
                label class="block" for=(q.key) { (prompt) }
                @if let Some(e) = error_of(q.key) { p class="error" { (e) } }
                textarea id=(q.key) name=(q.key) maxlength=(max_chars) {
                    (values.get(q.key).map(String::as_str).unwrap_or(""))
                }
            },
        }
    };
    layout(
        "How did the visit go?",
        html! {
            h1 { "How did the visit go?" }
            dl class="visit" {
                dt { "Date" } dd id="visit-date" { (r.visit_date) }
                dt { "Technician" } dd id="visit-technician" { (tech) }
                dt { "Work done" } dd id="visit-work" { (r.work_done) }
            }
            @if !errors.is_empty() {
                div class="errors" role="alert" {
                    p { "Please check your answers:" }
                    ul { @for (_, m) in errors { li { (m) } } }
                }
            }
            form method="post" id="feedback-form" {
                @for q in QUESTIONS { (question(q)) }
                button type="submit" id="submit" { "Send feedback" }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn answers_parse_and_validate() {
        let ok = questions::parse(
            &fields(&[
                ("fixed", "no"),
                ("rating", "2"),
                ("courtesy", "5"),
                ("recommend", "0"),
                ("comment", " late "),
            ]),
            now_utc(),
        )
        .unwrap();
        assert!(
            ok.yes("fixed") == Some(false)
                && ok.score("rating") == Some(2)
                && ok.score("recommend") == Some(0)
                && ok.text("comment") == "late"
        );
        assert!(ok.is_low());
        let errors = questions::parse(&fields(&[("fixed", "maybe"), ("rating", "6")]), now_utc())
            .unwrap_err();
        let names: Vec<_> = errors.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["fixed", "rating", "courtesy", "recommend"]);
        let errors = questions::parse(
            &fields(&[
                ("fixed", "yes"),
                ("rating", "5"),
                ("courtesy", "5"),
                ("recommend", "9"),
                ("comment", "paid by 4111 1111 1111 1111, thanks"),
            ]),
            now_utc(),
        )
        .unwrap_err();
        assert_eq!(errors, [("comment", questions::CARD_NUMBER)]);
        assert!(!questions::CARD_NUMBER.contains("4111"));
    }
}
