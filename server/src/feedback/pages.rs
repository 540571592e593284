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
//!
//! Every text comes from the message catalogues ([`crate::i18n`]) in the
//! customer's language (a page that knows no customer, such as "link not
//! found", follows the browser's `Accept-Language`), and every page carries
//! the company's [`Brand`]: its name and logo in a band of its accent
//! colour, its main colour on the button.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::questions::{self, Kind, QUESTIONS};
use super::ratelimit::RateLimiter;
use super::{FeedbackRequest, SubmitOutcome, hash_token, normalize_contact, plausible_token};
use crate::app::AppState;
use crate::brand::{Brand, LOGO_PATH};
use crate::client_addr::ClientAddr;
use crate::config::Settings;
use crate::i18n::Language;
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

/// The catalogue messages these pages use besides each question's
/// ([`question_message_ids`]); the i18n tests check every catalogue has them.
pub const MESSAGE_IDS: &[&str] = &[
    "form-title",
    "visit-date",
    "visit-technician",
    "visit-work",
    "tech-unnamed",
    "errors-intro",
    "answer-yes",
    "answer-no",
    "scale-ends",
    "send",
    "error-card-number",
    "error-unusual-characters",
    "thanks-title",
    "thanks-text",
    "answered-title",
    "answered-text",
    "expired-title",
    "expired-text",
    "not-found-title",
    "not-found-text",
    "too-many-title",
    "too-many-text",
    "failed-title",
    "failed-text",
    "failed-not-saved",
    "unsubscribe-title",
    "unsubscribe-question",
    "unsubscribe-text",
    "unsubscribe-button",
    "unsubscribed-title",
    "unsubscribed-text",
    "date-long",
];

/// A question's messages: `q-<key>-prompt`, `-invalid`, and for a scale `-low` and `-high`.
pub fn question_message_ids(q: &questions::Question) -> Vec<String> {
    let mut ids = vec![
        format!("q-{}-prompt", q.key),
        format!("q-{}-invalid", q.key),
    ];
    if matches!(q.kind, Kind::Scale { .. }) {
        ids.push(format!("q-{}-low", q.key));
        ids.push(format!("q-{}-high", q.key));
    }
    ids
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
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        res
    }
}

/// How the pages of one request are written: in which language, with which brand.
#[derive(Clone, Copy)]
struct Look<'a> {
    lang: Language,
    brand: &'a Brand,
}

impl Look<'_> {
    fn t(&self, id: &str) -> String {
        self.lang.text(id)
    }
}

/// The first supported language the browser asks for (`pt-PT,pt;q=0.9,en`
/// is Portuguese), else English. Weights are not ranked: browsers list
/// languages in the user's order.
pub(crate) fn browser_language(headers: &HeaderMap) -> Language {
    let Some(accept) = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Language::En;
    };
    accept
        .split(',')
        .filter_map(|item| {
            let tag = item.split(';').next()?.trim();
            let primary = tag.split('-').next()?.to_ascii_lowercase();
            primary.parse::<Language>().ok()
        })
        .next()
        .unwrap_or(Language::En)
}

/// What a token opens.
enum Lookup {
    Open(Box<FeedbackRequest>),
    Expired(Language),
}

async fn lookup(
    state: &AppState,
    limiter: &RateLimiter,
    ip: IpAddr,
    token: &str,
    headers: &HeaderMap,
) -> Result<Lookup, Page> {
    let unknown = Look {
        lang: browser_language(headers),
        brand: &state.brand,
    };
    if !limiter.allow(ClientAddr(ip).limit_key(), Instant::now()) {
        return Err(message_page(
            unknown,
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-title",
            "too-many-text",
        ));
    }
    if !plausible_token(token) {
        return Err(not_found(unknown));
    }
    match state.store.feedback_by_token(&hash_token(token)).await {
        Ok(Some((request, expires_at))) => {
            if expires_at <= now_utc() {
                Ok(Lookup::Expired(request.language))
            } else {
                Ok(Lookup::Open(Box::new(request)))
            }
        }
        Ok(None) => Err(not_found(unknown)),
        Err(e) => {
            tracing::error!(error = %e, "feedback token lookup failed");
            Err(message_page(
                unknown,
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed-title",
                "failed-text",
            ))
        }
    }
}

fn not_found(look: Look) -> Page {
    message_page(
        look,
        StatusCode::NOT_FOUND,
        "not-found-title",
        "not-found-text",
    )
}

fn expired(look: Look) -> Page {
    message_page(look, StatusCode::GONE, "expired-title", "expired-text")
}

fn already_answered(look: Look, status: StatusCode) -> Page {
    message_page(look, status, "answered-title", "answered-text")
}

async fn show(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<RateLimiter>>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Page {
    let brand = &state.brand;
    match lookup(&state, &limiter, ip, &token, &headers).await {
        Err(page) => page,
        Ok(Lookup::Expired(lang)) => expired(Look { lang, brand }),
        Ok(Lookup::Open(r)) => {
            let look = Look {
                lang: r.language,
                brand,
            };
            if r.answer.is_some() {
                already_answered(look, StatusCode::OK)
            } else {
                Page(StatusCode::OK, form_page(look, &r, &HashMap::new(), &[]))
            }
        }
    }
}

async fn submit(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<RateLimiter>>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Page {
    let brand = &state.brand;
    let request = match lookup(&state, &limiter, ip, &token, &headers).await {
        Err(page) => return page,
        Ok(Lookup::Expired(lang)) => return expired(Look { lang, brand }),
        Ok(Lookup::Open(r)) => *r,
    };
    let look = Look {
        lang: request.language,
        brand,
    };
    if request.answer.is_some() {
        return already_answered(look, StatusCode::CONFLICT);
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
                form_page(look, &request, &fields, &errors),
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
            message_page(look, StatusCode::OK, "thanks-title", "thanks-text")
        }
        Ok(SubmitOutcome::AlreadyAnswered) => already_answered(look, StatusCode::CONFLICT),
        Err(e) => {
            tracing::error!(error = %e, "storing feedback failed");
            message_page(
                look,
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed-title",
                "failed-not-saved",
            )
        }
    }
}

async fn unsubscribe_page(
    State(state): State<AppState>,
    Extension(limiter): Extension<Arc<RateLimiter>>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Page {
    let lang = match lookup(&state, &limiter, ip, &token, &headers).await {
        Err(page) => return page,
        Ok(Lookup::Open(r)) => r.language,
        Ok(Lookup::Expired(lang)) => lang,
    };
    let look = Look {
        lang,
        brand: &state.brand,
    };
    Page(
        StatusCode::OK,
        layout(
            look,
            &look.t("unsubscribe-title"),
            html! {
                h1 { (look.t("unsubscribe-question")) }
                p { (look.t("unsubscribe-text")) }
                form method="post" {
                    button type="submit" { (look.t("unsubscribe-button")) }
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
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Page {
    let request = match lookup(&state, &limiter, ip, &token, &headers).await {
        Err(page) => return page,
        Ok(Lookup::Open(r)) => *r,
        Ok(Lookup::Expired(_)) => match state.store.feedback_by_token(&hash_token(&token)).await {
            Ok(Some((r, _))) => r,
            _ => {
                let lang = browser_language(&headers);
                return not_found(Look {
                    lang,
                    brand: &state.brand,
                });
            }
        },
    };
    let look = Look {
        lang: request.language,
        brand: &state.brand,
    };
    match state
        .store
        .unsubscribe(&normalize_contact(&request.contact), now_utc())
        .await
    {
        Ok(()) => message_page(
            look,
            StatusCode::OK,
            "unsubscribed-title",
            "unsubscribed-text",
        ),
        Err(e) => {
            tracing::error!(error = %e, "unsubscribe failed");
            message_page(
                look,
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed-title",
                "failed-text",
            )
        }
    }
}

/// The pages' CSS, with the brand's colours (checked `#rrggbb` values, so
/// safe to write into CSS) and a text colour readable on each.
fn style(brand: &Brand) -> String {
    format!(
        "
body {{ font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 0; color: #1a1a1a; background: #ffffff; line-height: 1.5; font-size: 1.05rem; }}
.brand {{ background: {accent}; color: {on_accent}; }}
.brand div {{ max-width: 36rem; margin: 0 auto; padding: 0.6rem 1rem; display: flex; align-items: center; gap: 0.75rem; font-weight: 700; font-size: 1.15rem; }}
.brand img {{ height: 40px; width: auto; max-width: 10rem; }}
main {{ max-width: 36rem; margin: 0 auto; padding: 1rem; }}
h1 {{ font-size: 1.5rem; line-height: 1.25; }}
.visit {{ background: #f1f4f9; border-radius: 8px; padding: 0.75rem 1rem; }}
.visit dt {{ font-weight: 600; }}
.visit dd {{ margin: 0 0 0.5rem 0; }}
fieldset {{ border: 1px solid #6b6b6b; border-radius: 8px; margin: 1rem 0; padding: 0.5rem 1rem 1rem; }}
legend {{ font-weight: 600; padding: 0 0.25rem; }}
.choices {{ display: flex; flex-wrap: wrap; gap: 0.5rem; }}
.choices label {{ display: inline-flex; align-items: center; gap: 0.35rem; min-width: 3rem; min-height: 44px; padding: 0 0.6rem; border: 1px solid #6b6b6b; border-radius: 6px; }}
input[type=radio] {{ width: 1.2rem; height: 1.2rem; }}
.scale {{ font-size: 0.9rem; color: #3d3d3d; }}
label.block {{ display: block; font-weight: 600; margin-top: 1rem; }}
textarea {{ width: 100%; box-sizing: border-box; min-height: 7rem; font: inherit; padding: 0.5rem; border: 1px solid #6b6b6b; border-radius: 6px; }}
button {{ margin-top: 1rem; font: inherit; font-weight: 600; color: {on_colour}; background: {colour}; border: 2px solid {colour}; border-radius: 6px; padding: 0.8rem 1.5rem; min-height: 44px; cursor: pointer; }}
:focus-visible {{ outline: 3px solid #b3261e; outline-offset: 2px; }}
.error {{ color: #b3261e; font-weight: 600; }}
.errors {{ border: 2px solid #b3261e; border-radius: 8px; padding: 0.5rem 1rem; }}
",
        accent = brand.accent,
        on_accent = brand.on_accent(),
        colour = brand.colour,
        on_colour = brand.on_colour(),
    )
}

fn layout(look: Look, title: &str, body: Markup) -> Markup {
    let brand = look.brand;
    html! {
        (DOCTYPE)
        html lang=(look.lang.as_str()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · " (brand.name) }
                style { (PreEscaped(style(brand))) }
            }
            body {
                // The logo stands beside the name it shows: no alt text to read twice.
                header class="brand" {
                    div {
                        img id="brand-logo" src=(LOGO_PATH) alt="";
                        span id="brand-name" { (brand.name) }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn message_page(look: Look, status: StatusCode, title_id: &str, text_id: &str) -> Page {
    let title = look.t(title_id);
    Page(
        status,
        layout(
            look,
            &title,
            html! {
                h1 id="title" { (title) }
                p id="message" { (look.t(text_id)) }
            },
        ),
    )
}

/// An error of [`questions::parse`] in the page's language.
fn error_text(look: Look, key: &str, message: &str) -> String {
    if message == questions::CARD_NUMBER {
        look.t("error-card-number")
    } else if message == questions::UNUSUAL_CHARACTERS {
        look.t("error-unusual-characters")
    } else {
        let max = MAX_COMMENT.to_string();
        look.lang
            .text_with(&format!("q-{key}-invalid"), &[("max", &max)])
    }
}

fn form_page(
    look: Look,
    r: &FeedbackRequest,
    values: &HashMap<String, String>,
    errors: &[(&'static str, &'static str)],
) -> Markup {
    let unnamed = look.t("tech-unnamed");
    let tech = r.technician_first_name().unwrap_or(&unnamed);
    let error_of = |name: &str| {
        errors
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, m)| error_text(look, n, m))
    };
    let checked = |name: &str, v: &str| values.get(name).is_some_and(|x| x == v);
    let scale = |name: &'static str, legend: &str, lo: u8, hi: u8| {
        let ends = look.lang.text_with(
            "scale-ends",
            &[
                ("lo", &lo.to_string()),
                ("hi", &hi.to_string()),
                ("low", &look.t(&format!("q-{name}-low"))),
                ("high", &look.t(&format!("q-{name}-high"))),
            ],
        );
        html! {
            fieldset aria-describedby=(format!("{name}-scale")) {
                legend { (legend) }
                @if let Some(e) = error_of(name) { p class="error" id=(format!("{name}-error")) { (e) } }
                p class="scale" id=(format!("{name}-scale")) { (ends) }
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
        let prompt = look
            .lang
            .text_with(&format!("q-{}-prompt", q.key), &[("tech", tech)]);
        match q.kind {
            Kind::YesNo => html! {
                fieldset {
                    legend { (prompt) }
                    @if let Some(e) = error_of(q.key) { p class="error" { (e) } }
                    div class="choices" {
                        label { input type="radio" name=(q.key) value="yes" required checked[checked(q.key, "yes")]; (look.t("answer-yes")) }
                        label { input type="radio" name=(q.key) value="no" required checked[checked(q.key, "no")]; (look.t("answer-no")) }
                    }
                }
            },
            Kind::Scale { min, max, .. } => scale(q.key, &prompt, min, max),
            Kind::Text { max_chars } => html! {
                label class="block" for=(q.key) { (prompt) }
                @if let Some(e) = error_of(q.key) { p class="error" { (e) } }
                textarea id=(q.key) name=(q.key) maxlength=(max_chars) {
                    (values.get(q.key).map(String::as_str).unwrap_or(""))
                }
            },
        }
    };
    let title = look.t("form-title");
    layout(
        look,
        &title,
        html! {
            h1 { (title) }
            dl class="visit" {
                dt { (look.t("visit-date")) } dd id="visit-date" { (look.lang.date_str(&r.visit_date)) }
                dt { (look.t("visit-technician")) } dd id="visit-technician" { (tech) }
                dt { (look.t("visit-work")) } dd id="visit-work" { (super::work_done_in(look.lang, &r.work_done)) }
            }
            @if !errors.is_empty() {
                div class="errors" role="alert" {
                    p { (look.t("errors-intro")) }
                    ul { @for (k, m) in errors { li { (error_text(look, k, m)) } } }
                }
            }
            form method="post" id="feedback-form" {
                @for q in QUESTIONS { (question(q)) }
                button type="submit" id="submit" { (look.t("send")) }
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
