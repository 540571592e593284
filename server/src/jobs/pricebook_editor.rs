//! `/console/pricebook`: the price book editor (issue 18 item 5). Admins
//! edit the currency, tax rate, callout fee, parts, labour rates and
//! service contracts in one plain form (no JavaScript: one row per entry,
//! blank rows to add, a "Remove" box per row); saving goes through the same
//! path as `PUT /v1/pricebook`, so every change is a new version. Below
//! the form, the version history: who saved each version, when, and what
//! changed from the version before, field by field. A bad value is a form
//! error naming the row and field, and saves nothing.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use fieldsync_core::pricebook::{Contract, LabourRate, PartPrice, PriceBook};
use fieldsync_core::{Money, Permission, Sku};
use maud::{Markup, html};
use time::Date;

use super::pricebook_history::{Change, diff};
use crate::app::AppState;
use crate::error::ApiError;
use crate::web::layout;
use crate::web::{CsrfForm, WebError, WebUser};

pub fn router() -> Router<AppState> {
    Router::new().route("/console/pricebook", get(editor).post(save))
}

/// Blank rows offered for new entries in each section.
const BLANK_ROWS: usize = 2;
/// Versions the history shows.
const HISTORY: i64 = 20;

fn money(m: Money) -> String {
    m.to_string()
}

/// `12`, `12.5` or `12.50` in major units, to minor units.
fn parse_money(s: &str) -> Option<Money> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse::<i64>().ok()?,
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
        .map(Money)
}

fn parse_date(s: &str) -> Option<Date> {
    Date::parse(
        s.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

fn date_text(d: Date) -> String {
    d.format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// The form's fields as posted (`part-3-sku`, ...), in order.
#[derive(serde::Deserialize)]
#[serde(transparent)]
struct Fields(Vec<(String, String)>);

/// Every value is checked for card numbers (names are free text).
impl crate::freetext::FreeText for Fields {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        self.0
            .iter()
            .map(|(_, v)| ("price book", v.as_str()))
            .collect()
    }
}

/// The rows of one section: index -> field -> value.
type Rows = BTreeMap<usize, BTreeMap<String, String>>;

fn rows(fields: &[(String, String)], section: &str) -> Rows {
    let mut out = Rows::new();
    for (k, v) in fields {
        let Some(rest) = k.strip_prefix(section).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let Some((i, field)) = rest.split_once('-') else {
            continue;
        };
        if let Ok(i) = i.parse::<usize>() {
            out.entry(i)
                .or_default()
                .insert(field.to_owned(), v.clone());
        }
    }
    out
}

fn single<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The book the form describes, on top of `stored` (its extension offers
/// and version are kept); `Err` names the row and field that is wrong.
fn book_from(fields: &[(String, String)], stored: Option<&PriceBook>) -> Result<PriceBook, String> {
    let tax = single(fields, "tax_rate_bps").trim();
    let mut book = PriceBook {
        version: stored.map_or(0, |b| b.version),
        currency: single(fields, "currency").trim().to_owned(),
        tax_rate_bps: tax
            .parse()
            .map_err(|_| format!("Tax rate: {tax:?} is not a whole number of basis points"))?,
        callout_fee: parse_money(single(fields, "callout_fee"))
            .ok_or("Callout fee: give an amount like 45.00")?,
        parts: BTreeMap::new(),
        labour_rates: BTreeMap::new(),
        contracts: BTreeMap::new(),
        extensions: stored.map(|b| b.extensions.clone()).unwrap_or_default(),
        refund_limits: stored.map(|b| b.refund_limits).unwrap_or_default(),
    };
    let get = |r: &BTreeMap<String, String>, k: &str| r.get(k).map_or("", |v| v.trim()).to_owned();
    let blank =
        |r: &BTreeMap<String, String>, keys: &[&str]| keys.iter().all(|k| get(r, k).is_empty());
    for (i, r) in rows(fields, "part") {
        if r.contains_key("remove") || blank(&r, &["sku", "name", "price"]) {
            continue;
        }
        let n = i + 1;
        let sku: Sku = get(&r, "sku")
            .parse()
            .map_err(|e| format!("Part row {n}: SKU {e}"))?;
        let name = get(&r, "name");
        if name.is_empty() || name.chars().count() > 200 {
            return Err(format!("Part row {n}: the name has 1-200 characters"));
        }
        let price = parse_money(&get(&r, "price"))
            .ok_or_else(|| format!("Part row {n}: give a unit price like 12.50"))?;
        let part = PartPrice {
            name,
            unit_price: price,
            serialized: r.contains_key("serialized"),
        };
        if book.parts.insert(sku.clone(), part).is_some() {
            return Err(format!("Part row {n}: SKU {sku} is listed twice"));
        }
    }
    for (i, r) in rows(fields, "labour") {
        if r.contains_key("remove") || blank(&r, &["code", "name", "hourly"]) {
            continue;
        }
        let n = i + 1;
        let code = get(&r, "code");
        let name = get(&r, "name");
        if name.is_empty() || name.chars().count() > 200 {
            return Err(format!(
                "Labour rate row {n}: the name has 1-200 characters"
            ));
        }
        let hourly = parse_money(&get(&r, "hourly"))
            .ok_or_else(|| format!("Labour rate row {n}: give an hourly rate like 60.00"))?;
        if book
            .labour_rates
            .insert(code.clone(), LabourRate { name, hourly })
            .is_some()
        {
            return Err(format!("Labour rate row {n}: code {code} is listed twice"));
        }
    }
    for (i, r) in rows(fields, "contract") {
        if r.contains_key("remove") || blank(&r, &["reference", "name", "valid_until"]) {
            continue;
        }
        let n = i + 1;
        let reference = get(&r, "reference");
        if reference.is_empty() || reference.chars().count() > 64 {
            return Err(format!(
                "Contract row {n}: the reference has 1-64 characters"
            ));
        }
        let name = get(&r, "name");
        if name.is_empty() || name.chars().count() > 200 {
            return Err(format!("Contract row {n}: the name has 1-200 characters"));
        }
        let from = get(&r, "valid_from");
        let valid_from =
            if from.is_empty() {
                None
            } else {
                Some(parse_date(&from).ok_or_else(|| {
                    format!("Contract row {n}: valid from is a date like 2026-01-31")
                })?)
            };
        let valid_until = parse_date(&get(&r, "valid_until"))
            .ok_or_else(|| format!("Contract row {n}: valid until is a date like 2026-12-31"))?;
        if valid_from.is_some_and(|f| f > valid_until) {
            return Err(format!("Contract row {n}: valid from is after valid until"));
        }
        let contract = Contract {
            name,
            covers_labour: r.contains_key("covers_labour"),
            covers_parts: r.contains_key("covers_parts"),
            covers_callout: r.contains_key("covers_callout"),
            valid_from,
            valid_until,
        };
        if book.contracts.insert(reference.clone(), contract).is_some() {
            return Err(format!(
                "Contract row {n}: reference {reference} is listed twice"
            ));
        }
    }
    book.check().map_err(|e| e.to_string())?;
    Ok(book)
}

/// A text input with its label (visible to screen readers only inside
/// tables: the column header says what it is).
fn cell(name: String, label: String, value: &str, size: u8) -> Markup {
    html! {
        td { input type="text" name=(name) value=(value) size=(size) aria-label=(label); }
    }
}

fn check(name: String, label: String, on: bool) -> Markup {
    html! {
        td { input type="checkbox" name=(name) value="on" checked[on] aria-label=(label); }
    }
}

fn form(user: &WebUser, book: &PriceBook) -> Markup {
    let parts: Vec<(String, &PartPrice)> =
        book.parts.iter().map(|(k, v)| (k.to_string(), v)).collect();
    html! {
        form.pricebook method="post" action="/console/pricebook" {
            (layout::csrf_field(user))
            h2 { "Settings" }
            p {
                label for="currency" { "Currency (ISO 4217)" } " "
                input #currency type="text" name="currency" value=(book.currency) size="3";
            }
            p {
                label for="tax_rate_bps" { "Tax rate (basis points: 2000 = 20%)" } " "
                input #tax_rate_bps type="text" name="tax_rate_bps" value=(book.tax_rate_bps) size="6";
            }
            p {
                label for="callout_fee" { "Callout fee" } " "
                input #callout_fee type="text" name="callout_fee" value=(money(book.callout_fee)) size="10";
            }
            h2 { "Parts" }
            div.scroll { table.parts {
                thead { tr { th { "SKU" } th { "Name" } th { "Unit price" } th { "Serialized" } th { "Remove" } } }
                tbody {
                    @for i in 0..parts.len() + BLANK_ROWS {
                        @let p = parts.get(i);
                        @let n = i + 1;
                        tr {
                            (cell(format!("part-{i}-sku"), format!("SKU, row {n}"), p.map_or("", |p| p.0.as_str()), 16))
                            (cell(format!("part-{i}-name"), format!("Name, row {n}"), p.map_or("", |p| p.1.name.as_str()), 28))
                            (cell(format!("part-{i}-price"), format!("Unit price, row {n}"), &p.map_or(String::new(), |p| money(p.1.unit_price)), 10))
                            (check(format!("part-{i}-serialized"), format!("Serialized, row {n}"), p.is_some_and(|p| p.1.serialized)))
                            (check(format!("part-{i}-remove"), format!("Remove row {n}"), false))
                        }
                    }
                }
            } }
            h2 { "Labour rates" }
            div.scroll { table.labour {
                thead { tr { th { "Code" } th { "Name" } th { "Hourly" } th { "Remove" } } }
                tbody {
                    @let rates: Vec<(&String, &LabourRate)> = book.labour_rates.iter().collect();
                    @for i in 0..rates.len() + BLANK_ROWS {
                        @let r = rates.get(i);
                        @let n = i + 1;
                        tr {
                            (cell(format!("labour-{i}-code"), format!("Code, row {n}"), r.map_or("", |r| r.0.as_str()), 12))
                            (cell(format!("labour-{i}-name"), format!("Name, row {n}"), r.map_or("", |r| r.1.name.as_str()), 28))
                            (cell(format!("labour-{i}-hourly"), format!("Hourly, row {n}"), &r.map_or(String::new(), |r| money(r.1.hourly)), 10))
                            (check(format!("labour-{i}-remove"), format!("Remove row {n}"), false))
                        }
                    }
                }
            } }
            h2 { "Service contracts" }
            div.scroll { table.contracts {
                thead { tr { th { "Reference" } th { "Name" } th { "Labour" } th { "Parts" } th { "Callout" }
                    th { "Valid from" } th { "Valid until" } th { "Remove" } } }
                tbody {
                    @let contracts: Vec<(&String, &Contract)> = book.contracts.iter().collect();
                    @for i in 0..contracts.len() + BLANK_ROWS {
                        @let c = contracts.get(i);
                        @let n = i + 1;
                        tr {
                            (cell(format!("contract-{i}-reference"), format!("Reference, row {n}"), c.map_or("", |c| c.0.as_str()), 12))
                            (cell(format!("contract-{i}-name"), format!("Name, row {n}"), c.map_or("", |c| c.1.name.as_str()), 24))
                            (check(format!("contract-{i}-covers_labour"), format!("Covers labour, row {n}"), c.is_some_and(|c| c.1.covers_labour)))
                            (check(format!("contract-{i}-covers_parts"), format!("Covers parts, row {n}"), c.is_some_and(|c| c.1.covers_parts)))
                            (check(format!("contract-{i}-covers_callout"), format!("Covers callout, row {n}"), c.is_some_and(|c| c.1.covers_callout)))
                            (cell(format!("contract-{i}-valid_from"), format!("Valid from, row {n}"), &c.and_then(|c| c.1.valid_from).map(date_text).unwrap_or_default(), 10))
                            (cell(format!("contract-{i}-valid_until"), format!("Valid until, row {n}"), &c.map(|c| date_text(c.1.valid_until)).unwrap_or_default(), 10))
                            (check(format!("contract-{i}-remove"), format!("Remove row {n}"), false))
                        }
                    }
                }
            } }
            @if !book.extensions.is_empty() {
                p.muted { (book.extensions.len()) " warranty extension offer(s) are kept as they are (edit them through PUT /v1/pricebook)." }
            }
            p { button type="submit" { "Save as a new version" } }
        }
    }
}

async fn history(state: &AppState) -> Result<Markup, WebError> {
    let versions = state
        .store
        .price_book_versions(HISTORY + 1)
        .await
        .map_err(ApiError::from)?;
    Ok(html! {
        h2 { "Version history" }
        @if versions.is_empty() { p.muted { "No version saved yet." } }
        ol.versions reversed {
            @for (i, v) in versions.iter().take(usize::try_from(HISTORY).unwrap_or(20)).enumerate() {
                li data-version=(v.version) {
                    h3 { "Version " (v.version) }
                    p.muted { "Saved " (layout::date_time(v.saved_at)) " by "
                        (v.saved_by_name.as_deref().unwrap_or("the server")) }
                    @match versions.get(i + 1) {
                        Some(before) => {
                            @let changes = diff(&before.book, &v.book);
                            @if changes.is_empty() { p.muted { "No field changed." } }
                            ul.changes {
                                @for (path, c) in &changes {
                                    @match c {
                                        Change::Added(new) => li.added { code { (path) } " added: " (new) },
                                        Change::Removed(old) => li.removed { code { (path) } " removed (was " (old) ")" },
                                        Change::Changed { old, new } => li.changed { code { (path) } " changed: " (old) " → " (new) },
                                    }
                                }
                            }
                        }
                        None => p.muted { "The first version recorded." },
                    }
                }
            }
        }
    })
}

fn stored_or_empty(stored: Option<&PriceBook>) -> PriceBook {
    stored.cloned().unwrap_or(PriceBook {
        version: 0,
        currency: "EUR".into(),
        tax_rate_bps: 0,
        callout_fee: Money::ZERO,
        parts: BTreeMap::new(),
        labour_rates: BTreeMap::new(),
        contracts: BTreeMap::new(),
        extensions: BTreeMap::new(),
        refund_limits: Default::default(),
    })
}

async fn stored(state: &AppState) -> Result<Option<PriceBook>, WebError> {
    Ok(
        crate::documents::price_book(state.store.as_ref(), &state.docs)
            .await
            .map_err(ApiError::internal)?
            .map(std::sync::Arc::unwrap_or_clone),
    )
}

async fn page(
    state: &AppState,
    user: &WebUser,
    book: &PriceBook,
    notice: Option<(&str, &str)>,
) -> Result<Markup, WebError> {
    let title = if book.version > 0 {
        format!("Price book (version {})", book.version)
    } else {
        "Price book".to_owned()
    };
    let history = history(state).await?;
    Ok(layout::page(
        user,
        &title,
        html! {
            @if let Some((class, text)) = notice {
                p class=(class) role=(if class == "error" { "alert" } else { "status" }) { (text) }
            }
            (form(user, book))
            (history)
        },
    ))
}

async fn editor(State(state): State<AppState>, user: WebUser) -> Result<Markup, WebError> {
    user.require(Permission::EditPriceBook)?;
    let book = stored_or_empty(stored(&state).await?.as_ref());
    page(&state, &user, &book, None).await
}

async fn save(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<Fields>,
) -> Result<Response, WebError> {
    user.require(Permission::EditPriceBook)?;
    let current = stored(&state).await?;
    let refused = async |shown: &PriceBook, why: &str| -> Result<Response, WebError> {
        let body = page(&state, &user, shown, Some(("error", why))).await?;
        Ok((StatusCode::BAD_REQUEST, body).into_response())
    };
    let book = match book_from(&form.0, current.as_ref()) {
        Ok(b) => b,
        Err(why) => {
            return refused(
                &stored_or_empty(current.as_ref()),
                &format!("Nothing saved. {why}"),
            )
            .await;
        }
    };
    match super::pricebook::save(&state, user.principal(), book.clone()).await {
        Ok(_) => Ok(Redirect::to("/console/pricebook").into_response()),
        Err(ApiError::BadRequest(why)) => refused(&book, &format!("Nothing saved. {why}")).await,
        Err(e) => Err(e.into()),
    }
}
