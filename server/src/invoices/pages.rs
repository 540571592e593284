//! The invoice as people see it: one renderer ([`invoice_html`]) for the
//! printable page (the office's `/console/invoices/{number}` and the
//! customer's `/invoice/{token}`) and the email; the finance console's
//! list of open invoices (`/console/invoices`).
//!
//! The text lives here, in one place, so company branding and the message
//! catalogues can take it over without touching the rest.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fieldsync_core::Money;
use fieldsync_core::billing::{Coverage, Invoice, LineKind};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use time::{Date, Duration, OffsetDateTime};

use super::InvoiceSettings;
use super::service;
use super::store::{InvoiceKey, InvoiceRecord, InvoiceStore};
use crate::app::AppState;
use crate::brand::{Brand, LOGO_PATH};
use crate::feedback::{MessageKind, OutboxMessage, hash_token, new_token};
use crate::i18n::Language;
use crate::outbox::{Composed, SendError};
use crate::web::layout;
use crate::web::{WebError, WebUser};
use fieldsync_core::Permission;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/invoices", get(list_page))
        .route("/console/invoices/{key}", get(office_page))
        .route("/invoice/{token}", get(customer_page))
}

/// Styles of the printable invoice (page and email): plain, high contrast.
const PRINT_CSS: &str = r#"
body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#1d232a;background:#fff}
main{max-width:48rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.5rem;margin:0 0 .5rem}table{width:100%;border-collapse:collapse}
th,td{padding:.4rem .5rem;border-bottom:1px solid #c9ced4;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tfoot th,tfoot td{border-bottom:0}tr.open th,tr.open td{font-weight:700;border-top:2px solid #1d232a}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
.muted{color:#4b5560}@media print{.noprint{display:none}main{padding:0}}
"#;

/// The invoice's table inside the console (the frame styles the rest).
const PRINT_CSS_CONSOLE: &str = "article.invoice table{background:#fff}tr.open th,tr.open td{font-weight:700}\
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}";

/// Every catalogue message the invoice asks for (the i18n tests check each
/// is in every catalogue).
pub const MESSAGE_IDS: &[&str] = &[
    "invoice-amount",
    "invoice-button",
    "invoice-callout",
    "invoice-labour",
    "invoice-labour-note",
    "invoice-covered-contract",
    "invoice-covered-warranty",
    "invoice-credited",
    "invoice-customer",
    "invoice-description",
    "invoice-due",
    "invoice-intro",
    "invoice-issued",
    "invoice-lines-caption",
    "invoice-not-found-text",
    "invoice-not-found-title",
    "invoice-number",
    "invoice-paid",
    "invoice-price-book",
    "invoice-price-book-version",
    "invoice-quantity",
    "invoice-refunded",
    "invoice-reminder-intro",
    "invoice-reminder-subject",
    "invoice-subject",
    "invoice-subtotal",
    "invoice-tax",
    "invoice-thanks",
    "invoice-title",
    "invoice-total",
    "invoice-unit-price",
    "invoice-view",
    "invoice-visit",
];

fn amount(currency: &str, m: i64) -> String {
    format!("{} {currency}", Money(m))
}

/// Who reads the invoice: the office's console (English, amounts as
/// "12.00 EUR", ISO dates: staff UI) or a customer, in their language
/// ("€12.00", "12,00 €", "1 de março de 2026").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    Office,
    Customer(Language),
}

impl Reader {
    fn lang(self) -> Language {
        match self {
            Reader::Office => Language::En,
            Reader::Customer(l) => l,
        }
    }

    fn t(self, id: &str) -> String {
        self.lang().text(id)
    }

    fn t_with(self, id: &str, args: &[(&str, &str)]) -> String {
        self.lang().text_with(id, args)
    }

    fn money(self, currency: &str, minor: i64) -> String {
        match self {
            Reader::Office => amount(currency, minor),
            Reader::Customer(l) => l.money(minor, currency),
        }
    }

    fn date(self, d: Date) -> String {
        match self {
            Reader::Office => d.to_string(),
            Reader::Customer(l) => l.date(d),
        }
    }

    /// A tax rate in basis points as a percentage: "20.00" / "20,00".
    fn rate(self, bps: u32) -> String {
        let r = Money(i64::from(bps)).to_string();
        match self.lang() {
            Language::En => r,
            Language::Pt => r.replace('.', ","),
        }
    }
}

/// A line's text in the reader's words: the call-out and the word
/// "Labour" are the core's English; the price book's names and what the
/// technician wrote stay as written.
fn line_text(who: Reader, l: &fieldsync_core::billing::InvoiceLine) -> String {
    match l.kind {
        LineKind::Callout => who.t("invoice-callout"),
        LineKind::Labour => match fieldsync_core::billing::labour_parts(&l.description) {
            Some((rate, None)) => who.t_with("invoice-labour", &[("rate", rate)]),
            Some((rate, Some(note))) => {
                who.t_with("invoice-labour-note", &[("rate", rate), ("note", note)])
            }
            None => l.description.clone(),
        },
        _ => l.description.clone(),
    }
}

/// The invoice itself: number, dates, lines, totals and what is open.
/// `heading`: with its own `h1` (a page or email of its own; inside the
/// console the page's title is the heading).
pub fn invoice_html(r: &InvoiceRecord, heading: bool, who: Reader) -> Markup {
    let inv: &Invoice = &r.body;
    let cur = r.currency.as_str();
    let money = |m: i64| who.money(cur, m);
    let row = |id: &str| who.t(id);
    html! {
        article.invoice {
            @if heading { h1 { (who.t_with("invoice-title", &[("number", &r.number)])) } }
            dl.meta {
                dt { (row("invoice-number")) } dd id="invoice-number" { (r.number) }
                dt { (row("invoice-customer")) } dd { (r.customer_name) }
                dt { (row("invoice-issued")) } dd id="issued" { (who.date(r.issued_at.date())) }
                @if let Some(d) = inv.visit_date { dt { (row("invoice-visit")) } dd { (who.date(d)) } }
                dt { (row("invoice-price-book")) }
                dd { (who.t_with("invoice-price-book-version", &[("version", &r.price_book_version.to_string())])) }
            }
            table.lines {
                caption.muted { (row("invoice-lines-caption")) }
                thead { tr { th scope="col" { (row("invoice-description")) } th.num scope="col" { (row("invoice-quantity")) }
                    th.num scope="col" { (row("invoice-unit-price")) } th.num scope="col" { (row("invoice-amount")) } } }
                tbody {
                    @for l in &inv.lines {
                        tr {
                            td {
                                // The call-out's name is the core's English
                                // word; what the technician wrote stays as written.
                                (line_text(who, l))
                                @match &l.covered_by {
                                    Some(Coverage::Warranty) => { " " (row("invoice-covered-warranty")) }
                                    Some(Coverage::Contract(c)) => { " " (who.t_with("invoice-covered-contract", &[("contract", &c.to_string())])) }
                                    None => {}
                                }
                            }
                            td.num { (l.quantity) }
                            td.num { (money(l.unit_price.0)) }
                            td.num { (money(l.charged.0)) }
                        }
                    }
                }
                tfoot {
                    tr { th scope="row" colspan="3" { (row("invoice-subtotal")) } td.num id="subtotal" { (money(inv.subtotal.0)) } }
                    tr { th scope="row" colspan="3" { (who.t_with("invoice-tax", &[("rate", &who.rate(inv.tax_rate_bps))])) } td.num { (money(inv.tax.0)) } }
                    tr { th scope="row" colspan="3" { (row("invoice-total")) } td.num id="total" { (money(r.total_minor)) } }
                    @if r.paid_minor != 0 { tr { th scope="row" colspan="3" { (row("invoice-paid")) } td.num id="paid" { "-" (money(r.paid_minor)) } } }
                    @if r.credited_minor != 0 { tr { th scope="row" colspan="3" { (row("invoice-credited")) } td.num { "-" (money(r.credited_minor)) } } }
                    @if r.refunded_minor != 0 { tr { th scope="row" colspan="3" { (row("invoice-refunded")) } td.num { (money(r.refunded_minor)) } } }
                    tr.open { th scope="row" colspan="3" { (row("invoice-due")) } td.num id="open" { (money(r.open_minor.max(0))) } }
                }
            }
        }
    }
}

/// The brand's band (name and logo) and colours for the customer's page.
fn brand_css(brand: &Brand) -> String {
    format!(
        ".brand{{background:{accent};color:{on_accent}}}\
         .brand div{{max-width:48rem;margin:0 auto;padding:.6rem 1.5rem;display:flex;align-items:center;gap:.75rem;font-weight:700;font-size:1.15rem}}\
         .brand img{{height:40px;width:auto;max-width:10rem}}\
         h1{{border-bottom:4px solid {colour};padding-bottom:.25rem}}",
        accent = brand.accent,
        on_accent = brand.on_accent(),
        colour = brand.colour,
    )
}

/// A customer's page of its own: the brand's band, then `body`.
fn customer_shell(brand: &Brand, lang: Language, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.as_str()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · " (brand.name) }
                style { (PreEscaped(PRINT_CSS)) (PreEscaped(brand_css(brand))) }
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

/// The customer's printable page of the invoice (no console around it).
fn printable(r: &InvoiceRecord, brand: &Brand) -> Markup {
    let who = Reader::Customer(r.language);
    customer_shell(
        brand,
        r.language,
        &who.t_with("invoice-title", &[("number", &r.number)]),
        invoice_html(r, true, who),
    )
}

/// Customer pages carry no referrer and are not cached (the URL holds a token).
fn private(markup: Markup) -> Response {
    let mut resp = markup.into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // As the feedback pages: the logo from this server, nothing else.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    resp
}

async fn customer_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = if token.len() > 100 {
        Ok(None)
    } else {
        state
            .store
            .invoice_by_token(&hash_token(&token), state.clock.now())
            .await
    };
    match found {
        Ok(Some(r)) => private(printable(&r, &state.brand)),
        Ok(None) => {
            // No invoice, so no customer: the browser's language.
            let lang = crate::feedback::pages::browser_language(&headers);
            let title = lang.text("invoice-not-found-title");
            let body = html! {
                h1 { (title) }
                p id="message" { (lang.text("invoice-not-found-text")) }
            };
            (
                axum::http::StatusCode::NOT_FOUND,
                private(customer_shell(&state.brand, lang, &title, body)),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "reading an invoice by token failed");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn office_page(
    State(state): State<AppState>,
    user: WebUser,
    Path(key): Path<String>,
) -> Result<Markup, WebError> {
    user.require(Permission::ManageJobs)?;
    let r = service::find(&state, &key).await?;
    // The console's frame prints without its menu (the layout's print styles).
    Ok(layout::page(
        &user,
        &format!("Invoice {}", r.number),
        html! {
            style { (PreEscaped(PRINT_CSS_CONSOLE)) }
            (invoice_html(&r, false, Reader::Office))
            p.noprint { a href="/console/invoices" { "Back to open invoices" } }
        },
    ))
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
}

async fn list_page(
    State(state): State<AppState>,
    user: WebUser,
    Query(q): Query<ListQuery>,
) -> Result<Markup, WebError> {
    user.require(Permission::ManageJobs)?;
    let all = q.state.as_deref() == Some("all");
    let rows = state.store.list_invoices(!all, 500).await?;
    let now = state.clock.now();
    Ok(layout::page(
        &user,
        if all { "Invoices" } else { "Open invoices" },
        html! {
            p {
                @if all { a href="/console/invoices" { "Show open invoices only" } }
                @else { a href="/console/invoices?state=all" { "Show all invoices" } }
            }
            @if rows.is_empty() { p id="empty" { "No invoice is open." } }
            div.scroll {
                table.invoices {
                    thead { tr {
                        th scope="col" { "Number" } th scope="col" { "Customer" } th scope="col" { "Issued" }
                        th.num scope="col" { "Age (days)" } th.num scope="col" { "Total" }
                        th.num scope="col" { "Open" } th scope="col" { "State" }
                    } }
                    tbody {
                        @for r in &rows {
                            tr data-invoice=(r.number) {
                                td { a href={ "/console/invoices/" (r.number) } { (r.number) } }
                                td { (r.customer_name) }
                                td { (r.issued_at.date()) }
                                td.num.age { (service::age_days(r, now)) }
                                td.num { (amount(&r.currency, r.total_minor)) }
                                td.num.open { (amount(&r.currency, r.open_minor.max(0))) }
                                td { (service::state_of(r)) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

/// The invoice email or a reminder, composed at send time with a fresh
/// link to the printable page (the token is minted per attempt and stored
/// hashed, so no usable token rests in the outbox). In the customer's
/// language, with the company's brand (inline styles: mail clients drop
/// `<style>`; see docs/branding.md for the logo as an absolute URL).
pub async fn compose(
    store: &dyn InvoiceStore,
    settings: &InvoiceSettings,
    brand: &Brand,
    public_url: &str,
    message: &OutboxMessage,
    now: OffsetDateTime,
) -> Result<Composed, SendError> {
    let job = message
        .invoice_id
        .ok_or_else(|| SendError::Permanent("invoice message without an invoice".into()))?;
    let r = store
        .invoice(&InvoiceKey::Job(fieldsync_core::JobId::from_uuid(job)))
        .await?
        .ok_or_else(|| SendError::Permanent("invoice not found".into()))?;
    let reminder = message.kind == MessageKind::InvoiceReminder;
    if reminder && r.open_minor <= 0 {
        // Settled since it was queued: nothing to remind of.
        return Err(SendError::Permanent(
            "invoice settled before the reminder went out".into(),
        ));
    }
    let (token, hash) = new_token();
    let expires = now + Duration::days(i64::from(settings.invoice_link_days.max(1)));
    store.insert_invoice_token(r.job_id, &hash, expires).await?;
    let link = format!("{public_url}/invoice/{token}");
    Ok(invoice_message(brand, public_url, &r, reminder, &link))
}

/// The invoice email (or its reminder) for `r`, linking `link`.
pub fn invoice_message(
    brand: &Brand,
    public_url: &str,
    r: &InvoiceRecord,
    reminder: bool,
    link: &str,
) -> Composed {
    let lang = r.language;
    let who = Reader::Customer(lang);
    let due = lang.money(r.open_minor.max(0), &r.currency);
    let total = lang.money(r.total_minor, &r.currency);
    let number = r.number.as_str();
    let (subject, intro) = if reminder {
        let date = lang.date(r.issued_at.date());
        (
            lang.text_with(
                "invoice-reminder-subject",
                &[("number", number), ("due", &due)],
            ),
            lang.text_with(
                "invoice-reminder-intro",
                &[("number", number), ("date", &date), ("due", &due)],
            ),
        )
    } else {
        (
            lang.text_with("invoice-subject", &[("number", number), ("total", &total)]),
            lang.text_with("invoice-intro", &[("number", number)]),
        )
    };
    let view = lang.text("invoice-view");
    let thanks = lang.text("invoice-thanks");
    let text = format!(
        "{intro}\n\n{total_l}: {total}\n{due_l}: {due}\n\n{view} {link}\n\n{thanks}\n{name}\n",
        total_l = lang.text("invoice-total"),
        due_l = lang.text("invoice-due"),
        name = brand.name,
    );
    let band = brand.email_band_style();
    let button = brand.email_button_style();
    let html = html! {
        (DOCTYPE)
        html lang=(lang.as_str()) {
            head { meta charset="utf-8"; title { (subject) } style { (PreEscaped(PRINT_CSS)) } }
            body style="margin: 0; font-family: sans-serif; color: #1d232a; line-height: 1.45" {
                table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="border-collapse: collapse" {
                    tr {
                        td style=(band) {
                            img src=(brand.logo_url(public_url)) alt=(brand.name) height="40" style="height: 40px; vertical-align: middle; margin-right: 12px; border: 0";
                            span style="vertical-align: middle" { (brand.name) }
                        }
                    }
                }
                div style="padding: 8px 16px; max-width: 48rem" {
                    p { (intro) }
                    (invoice_html(r, true, who))
                    p { a href=(link) style=(button) { (lang.text("invoice-button")) } }
                    p { (view) " " a href=(link) { (link) } }
                    p { (thanks) br; (brand.name) }
                }
            }
        }
    }
    .into_string();
    Composed {
        sms: subject.clone(),
        subject,
        text,
        html,
    }
}
