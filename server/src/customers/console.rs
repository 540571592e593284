//! The single view in the console: the page an office agent answers a
//! customer's call from. `/console/customers` searches (the API's search:
//! name, e-mail, phone, postcode or serial), `/console/customers/{id}` and
//! `/console/assets/{serial}` show what `GET /v1/customers/{id}` and
//! `GET /v1/assets/{serial}` answer: warranty end, extension offers with
//! prices, open jobs (linked to their job pages), stock at the nearest
//! depot, visits and parts fitted. The pages call the same service as the
//! API, so the permission and scope rules are the same: a record outside
//! the user's scope is the 404 page.

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use fieldsync_core::Money;
use maud::{Markup, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use uuid::Uuid;

use super::model::{Asset, Contact, Site, Visit};
use super::service;
use super::views::{AssetQuery, AssetSummary, ExtensionQuote, PartStock, SearchQuery};
use crate::app::AppState;
use crate::web::layout::{self, date_time};
use crate::web::{WebError, WebUser};

/// How many customers a search lists.
const SEARCH_LIMIT: u32 = 50;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console/customers", get(search))
        .route("/console/customers/{id}", get(customer))
        .route("/console/assets/{serial}", get(asset))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, WebError> {
    q.map(|Query(q)| q)
        .map_err(|e| WebError::BadRequest(e.body_text()))
}

/// What a path segment keeps as it is (RFC 3986's unreserved characters).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn customer_href(id: Uuid) -> String {
    format!("/console/customers/{id}")
}

/// Serials are free text (a `/` or `#` in one must not break the link).
fn asset_href(a: &Asset) -> String {
    format!(
        "/console/assets/{}?sku={}",
        utf8_percent_encode(&a.serial, SEGMENT),
        a.sku
    )
}

fn job_href(id: Uuid) -> String {
    format!("/console/jobs/{id}")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchForm {
    q: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    user: WebUser,
    q: Result<Query<SearchForm>, QueryRejection>,
) -> Result<Markup, WebError> {
    let text = query(q)?.q.unwrap_or_default().trim().to_owned();
    let found = service::search(
        &state,
        user.principal(),
        SearchQuery {
            q: Some(text.clone()),
            limit: Some(SEARCH_LIMIT),
        },
    )
    .await?
    .customers;
    // A serial leads straight to its asset as well as to its customer.
    let assets = if text.is_empty() {
        Vec::new()
    } else {
        service::assets_with_serial(&state, user.principal(), &text).await?
    };
    let name_of = |id: Uuid| {
        found
            .iter()
            .find(|c| c.id == id)
            .map_or("", |c| c.name.as_str())
    };
    Ok(layout::page(
        &user,
        "Customers",
        html! {
            form.search method="get" action="/console/customers" role="search" {
                label for="q" { "Name, e-mail, phone, postcode or serial" }
                input type="search" id="q" name="q" value=(text) maxlength="200" autofocus;
                button type="submit" id="search" { "Search" }
            }
            @if !assets.is_empty() {
                h2 { "Assets with serial " (text) }
                div.scroll tabindex="0" { table #assets {
                    thead { tr { th scope="col" { "Serial" } th scope="col" { "Product" } th scope="col" { "SKU" } th scope="col" { "Customer" } } }
                    tbody { @for a in &assets {
                        tr {
                            td { a href=(asset_href(a)) { (a.serial) } }
                            td { (a.product) }
                            td { (a.sku) }
                            td { a href=(customer_href(a.customer_id)) { (name_of(a.customer_id)) } }
                        }
                    } }
                } }
            }
            h2 { @if text.is_empty() { "Your customers" } @else { "Customers matching " (text) } }
            @if found.is_empty() {
                p.muted #none { "No customer matches." }
            } @else {
                div.scroll tabindex="0" { table #customers {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Kind" } } }
                    tbody { @for c in &found {
                        tr data-customer=(c.id) {
                            td { a href=(customer_href(c.id)) { (c.name) } }
                            td { (c.kind.as_str()) }
                        }
                    } }
                } }
                @if found.len() as u32 == SEARCH_LIMIT {
                    p.muted { "The first " (SEARCH_LIMIT) " by name: narrow the search to see others." }
                }
            }
        },
    ))
}

async fn customer(
    State(state): State<AppState>,
    user: WebUser,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<Markup, WebError> {
    // Not a customer id: no such customer.
    let Ok(Path(id)) = id else {
        return Err(WebError::NotFound);
    };
    let v = service::customer_view(&state, user.principal(), id).await?;
    let site_of = |a: &Asset| v.sites.iter().find(|s| s.id == a.site_id);
    Ok(layout::page(
        &user,
        &v.customer.name,
        html! {
            p.muted { (v.customer.kind.as_str()) }
            h2 { "Installed base" }
            @if v.assets.is_empty() { p.muted { "No assets registered." } }
            @for s in &v.assets {
                section.asset data-serial=(s.asset.serial) aria-labelledby=(format!("asset-{}", s.asset.id)) {
                    h3 id=(format!("asset-{}", s.asset.id)) {
                        a href=(asset_href(&s.asset)) { (s.asset.product) ", serial " (s.asset.serial) }
                    }
                    (summary(s, site_of(&s.asset), true))
                }
            }
            h2 { "Open jobs" }
            (jobs_table("open-jobs", &v.open_jobs, false))
            h2 { "Parts shipped" }
            (crate::shipments::console::customer_shipments(&v.shipments))
            h2 { "Contacts" }
            (contacts(&v.contacts))
            h2 { "Sites" }
            div.scroll tabindex="0" { table #sites {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Address" } th scope="col" { "Postcode" } } }
                tbody { @for s in &v.sites {
                    tr { td { (s.name.as_deref().unwrap_or("")) } td { (s.address) } td { (s.postcode.as_deref().unwrap_or("")) } }
                } }
            } }
        },
    ))
}

async fn asset(
    State(state): State<AppState>,
    user: WebUser,
    Path(serial): Path<String>,
    q: Result<Query<AssetQuery>, QueryRejection>,
) -> Result<Markup, WebError> {
    let mut q = query(q)?;
    // The form's empty part box asks about the asset's own product.
    q.part = q.part.filter(|p| !p.trim().is_empty());
    let sku = q.sku.clone();
    let part = q.part.clone();
    let v = service::asset_view(&state, user.principal(), &serial, q).await?;
    let s = &v.summary;
    Ok(layout::page(
        &user,
        &format!("{}, serial {}", s.asset.product, s.asset.serial),
        html! {
            p { "Customer: " a #customer href=(customer_href(v.customer.id)) { (v.customer.name) } }
            (summary(s, Some(&v.site), false))
            form.stack method="get" action=(format!("/console/assets/{}", utf8_percent_encode(&s.asset.serial, SEGMENT))) {
                @if let Some(sku) = &sku { input type="hidden" name="sku" value=(sku); }
                label { "Stock of another spare part (SKU)"
                    input name="part" id="part" value=(part.as_deref().unwrap_or("")) maxlength="64";
                }
                button type="submit" { "Check stock" }
            }
            h2 { "Contacts" }
            (contacts(&v.contacts))
            h2 { "Visit history" }
            (jobs_table("visits", &v.history.visits, true))
            h2 { "Parts fitted" }
            @if v.history.parts_fitted.is_empty() {
                p.muted { "No serialized part recorded as fitted." }
            } @else {
                div.scroll tabindex="0" { table #parts-fitted {
                    thead { tr { th scope="col" { "SKU" } th scope="col" { "Serial" } th scope="col" { "Fitted (UTC)" } th scope="col" { "On job" } } }
                    tbody { @for p in &v.history.parts_fitted {
                        tr {
                            td { (p.sku) } td { (p.serial) } td { (date_time(p.fitted_at)) }
                            td { a href=(job_href(p.job_id)) { "Job of " (date_time_of(&v.history.visits, p.job_id)) } }
                        }
                    } }
                } }
            }
        },
    ))
}

/// What a call about one asset needs: the asset, its warranty, the offers
/// to extend it, the part's stock at the nearest depot and its open jobs.
/// `nested`: under the asset's own h3 (the customer's page), else under the
/// page's h1 (the asset's page), so heading levels never skip one.
fn summary(s: &AssetSummary, site: Option<&Site>, nested: bool) -> Markup {
    let sub = |text: &str| {
        html! { @if nested { h4 { (text) } } @else { h2 { (text) } } }
    };
    let a = &s.asset;
    html! {
        dl.job {
            dt { "Product" } dd { (a.product) " (" (a.sku) ")" }
            dt { "Serial" } dd { (a.serial) }
            @if let Some(site) = site {
                dt { "Site" } dd { (site.name.as_deref().map(|n| format!("{n}: ")).unwrap_or_default()) (site.address) }
            }
            dt { "Installed" } dd { (a.install_date.map_or_else(|| "unknown".to_owned(), |d| d.to_string())) }
            dt { "Warranty ends" }
            dd.warranty {
                @match s.warranty.end {
                    Some(end) => {
                        span.warranty-end { (end) } " "
                        @if s.warranty.active { span.badge.active { "active" } } @else { span.badge.ended { "ended" } }
                    }
                    None => span.muted { "unknown" },
                }
            }
            @if let Some(c) = &a.contract_ref { dt { "Service contract" } dd { (c) } }
            dt { "Nearest depot stock" } dd.stock { (stock_line(&s.stock)) }
        }
        (sub("Extend the warranty"))
        @if s.extension_offers.is_empty() {
            p.muted { "No extension offers for this product in the price book." }
        } @else {
            div.scroll tabindex="0" { table.offers {
                thead { tr {
                    th scope="col" { "Offer" } th scope="col" class="num" { "Months" }
                    th scope="col" class="num" { "Price before tax" } th scope="col" class="num" { "Tax" }
                    th scope="col" { "Warranty end if bought today" } th scope="col" { "Terms" }
                } }
                tbody { @for o in &s.extension_offers { (offer_row(o)) } }
            } }
        }
        (sub("Open jobs on this asset"))
        (jobs_table("", &s.open_jobs, false))
    }
}

fn offer_row(o: &ExtensionQuote) -> Markup {
    html! {
        tr data-offer=(o.code) {
            th scope="row" { (o.name) " " span.muted { "(" (o.code) ")" } }
            td.num { (o.months) }
            td.num.price { (Money(o.price_minor)) " " (o.currency) }
            td.num { (percent(o.tax_rate_bps)) }
            td.end-after { (o.warranty_end_after) }
            td { (o.terms) }
        }
    }
}

/// "In stock: 3 at North depot (the customer's depot)".
fn stock_line(p: &PartStock) -> Markup {
    let why = match p.nearest_by.as_str() {
        "site" => "the site's depot",
        _ => "the customer's depot",
    };
    html! {
        @if p.in_stock {
            span.in-stock { (p.sku) ": in stock, " (p.quantity) " at " (p.depot_name) }
        } @else {
            span.out-of-stock { (p.sku) ": not in stock at " (p.depot_name) }
        }
        " " span.muted { "(" (why) ")" }
    }
}

/// 2000 basis points: "20%"; 2350: "23.5%".
fn percent(bps: u32) -> String {
    let whole = bps / 100;
    let frac = bps % 100;
    if frac == 0 {
        format!("{whole}%")
    } else {
        let f = format!("{frac:02}");
        format!("{whole}.{}%", f.trim_end_matches('0'))
    }
}

fn date_time_of(visits: &[Visit], job: Uuid) -> String {
    visits
        .iter()
        .find(|v| v.job_id == job)
        .map_or_else(|| job.to_string(), |v| date_time(v.window_start))
}

/// Jobs as a table, each linked to its job page; `history` adds the
/// completion time.
fn jobs_table(id: &str, jobs: &[Visit], history: bool) -> Markup {
    html! {
        @if jobs.is_empty() {
            p.muted { @if history { "No visits yet." } @else { "No open jobs." } }
        } @else {
            div.scroll tabindex="0" { table.jobs id=[(!id.is_empty()).then_some(id)] {
                thead { tr {
                    th scope="col" { "Job window (UTC)" } th scope="col" { "Status" }
                    @if history { th scope="col" { "Completed (UTC)" } }
                } }
                tbody { @for v in jobs {
                    tr data-job=(v.job_id) {
                        td { a href=(job_href(v.job_id)) { "Job of " (date_time(v.window_start)) } }
                        td { (v.status) }
                        @if history { td { (v.completed_at.map(date_time).unwrap_or_default()) } }
                    }
                } }
            } }
        }
    }
}

fn contacts(list: &[Contact]) -> Markup {
    html! {
        @if list.is_empty() {
            p.muted { "No contacts." }
        } @else {
            div.scroll tabindex="0" { table #contacts {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "E-mail" } th scope="col" { "Phone" }
                    th scope="col" { "Prefers" } th scope="col" { "Feedback" }
                } }
                tbody { @for c in list {
                    tr {
                        td { (c.name) }
                        td { @if let Some(e) = &c.email { a href=(format!("mailto:{e}")) { (e) } } }
                        td { @if let Some(p) = &c.phone { a href=(format!("tel:{}", p.replace(' ', ""))) { (p) } } }
                        td { (c.preferred_channel.as_str()) }
                        td { @if c.feedback_opt_out { "opted out" } @else { "asks" } }
                    }
                } }
            } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn tax_rates_read_as_percentages() {
        assert_eq!(percent(2000), "20%");
        assert_eq!(percent(2350), "23.5%");
        assert_eq!(percent(5), "0.05%");
        assert_eq!(percent(0), "0%");
    }
}
