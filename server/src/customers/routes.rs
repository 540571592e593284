//! `/v1/customers` and `/v1/assets`: the registry over JSON (bearer auth).
//! Handlers are thin: the work is in [`super::service`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{Asset, Contact, Customer, Site};
use super::service;
use super::views::*;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::extract::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_customers, create_customer))
        .routes(routes!(get_customer, edit_customer))
        .routes(routes!(create_site))
        .routes(routes!(edit_site))
        .routes(routes!(create_contact))
        .routes(routes!(edit_contact))
        .routes(routes!(create_asset))
        .routes(routes!(edit_asset))
        .routes(routes!(get_asset))
        .routes(routes!(super::warranty::sell_extension))
}

type Rejected<T> = Result<T, axum::extract::rejection::QueryRejection>;

fn query<T>(q: Rejected<Query<T>>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// Customers in the caller's scope, by name: those whose name holds `q`, or
/// with a contact, site or asset whose e-mail, phone, postcode or serial is
/// `q`.
#[utoipa::path(get, path = "/v1/customers", tag = "customers", params(SearchQuery),
    responses((status = 200, body = CustomerList), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn search_customers(
    State(state): State<AppState>,
    caller: AuthUser,
    q: Rejected<Query<SearchQuery>>,
) -> Result<axum::Json<CustomerList>, ApiError> {
    let q = query(q)?;
    Ok(axum::Json(
        service::search(&state, caller.principal(), q).await?,
    ))
}

/// Creates a customer account served by one of the caller's depots.
#[utoipa::path(post, path = "/v1/customers", tag = "customers", request_body = NewCustomer,
    responses((status = 201, body = Customer), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_customer(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<NewCustomer>,
) -> Result<(StatusCode, axum::Json<Customer>), ApiError> {
    let c = service::create_customer(&state, &caller, body).await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// The customer's single view: account, sites, contacts, each asset with
/// its warranty end, extension offers, open jobs and whether its part is in
/// stock at the nearest depot, and the customer's open jobs.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "customers", params(("id" = Uuid, Path)),
    responses((status = 200, body = CustomerView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_customer(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<axum::Json<CustomerView>, ApiError> {
    Ok(axum::Json(
        service::customer_view(&state, caller.principal(), id).await?,
    ))
}

/// Changes the account (kind, name, serving depot).
#[utoipa::path(patch, path = "/v1/customers/{id}", tag = "customers", params(("id" = Uuid, Path)),
    request_body = EditCustomer,
    responses((status = 200, body = Customer), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn edit_customer(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<EditCustomer>,
) -> Result<axum::Json<Customer>, ApiError> {
    Ok(axum::Json(
        service::edit_customer(&state, &caller, id, body).await?,
    ))
}

/// Adds a site (an address) to the customer.
#[utoipa::path(post, path = "/v1/customers/{id}/sites", tag = "customers",
    params(("id" = Uuid, Path)), request_body = NewSite,
    responses((status = 201, body = Site), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_site(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<NewSite>,
) -> Result<(StatusCode, axum::Json<Site>), ApiError> {
    let s = service::create_site(&state, &caller, id, body).await?;
    Ok((StatusCode::CREATED, axum::Json(s)))
}

/// Changes one of the customer's sites.
#[utoipa::path(patch, path = "/v1/customers/{id}/sites/{site_id}", tag = "customers",
    params(("id" = Uuid, Path), ("site_id" = Uuid, Path)), request_body = EditSite,
    responses((status = 200, body = Site), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn edit_site(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((id, site)): Path<(Uuid, Uuid)>,
    Json(body): Json<EditSite>,
) -> Result<axum::Json<Site>, ApiError> {
    Ok(axum::Json(
        service::edit_site(&state, &caller, id, site, body).await?,
    ))
}

/// Adds a contact to the customer. The first contact is the one new jobs
/// copy e-mail, phone and feedback opt-out from.
#[utoipa::path(post, path = "/v1/customers/{id}/contacts", tag = "customers",
    params(("id" = Uuid, Path)), request_body = NewContact,
    responses((status = 201, body = Contact), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_contact(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<NewContact>,
) -> Result<(StatusCode, axum::Json<Contact>), ApiError> {
    let c = service::create_contact(&state, &caller, id, body).await?;
    Ok((StatusCode::CREATED, axum::Json(c)))
}

/// Changes one of the customer's contacts.
#[utoipa::path(patch, path = "/v1/customers/{id}/contacts/{contact_id}", tag = "customers",
    params(("id" = Uuid, Path), ("contact_id" = Uuid, Path)), request_body = EditContact,
    responses((status = 200, body = Contact), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn edit_contact(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((id, contact)): Path<(Uuid, Uuid)>,
    Json(body): Json<EditContact>,
) -> Result<axum::Json<Contact>, ApiError> {
    Ok(axum::Json(
        service::edit_contact(&state, &caller, id, contact, body).await?,
    ))
}

/// Registers an installed asset at one of the customer's sites.
#[utoipa::path(post, path = "/v1/customers/{id}/assets", tag = "customers",
    params(("id" = Uuid, Path)), request_body = NewAsset,
    responses((status = 201, body = Asset), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The product has an asset of this serial", body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_asset(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<NewAsset>,
) -> Result<(StatusCode, axum::Json<Asset>), ApiError> {
    let a = service::create_asset(&state, &caller, id, body).await?;
    Ok((StatusCode::CREATED, axum::Json(a)))
}

/// Changes one of the customer's assets (site, product name, dates, contract).
#[utoipa::path(patch, path = "/v1/customers/{id}/assets/{asset_id}", tag = "customers",
    params(("id" = Uuid, Path), ("asset_id" = Uuid, Path)), request_body = EditAsset,
    responses((status = 200, body = Asset), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn edit_asset(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((id, asset)): Path<(Uuid, Uuid)>,
    Json(body): Json<EditAsset>,
) -> Result<axum::Json<Asset>, ApiError> {
    Ok(axum::Json(
        service::edit_asset(&state, &caller, id, asset, body).await?,
    ))
}

/// The asset's single view by serial: the asset, its warranty end, the
/// extension offers with prices, its open jobs, whether the part (`part`,
/// default the asset's product) is in stock at the nearest depot, its
/// customer, site and contacts, and its history (visits, parts fitted).
#[utoipa::path(get, path = "/v1/assets/{serial}", tag = "customers",
    params(("serial" = String, Path), AssetQuery),
    responses((status = 200, body = AssetView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The serial is on several products: give `sku`", body = ErrorBody)),
    security(("bearer" = [])))]
async fn get_asset(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(serial): Path<String>,
    q: Rejected<Query<AssetQuery>>,
) -> Result<axum::Json<AssetView>, ApiError> {
    let q = query(q)?;
    Ok(axum::Json(
        service::asset_view(&state, caller.principal(), &serial, q).await?,
    ))
}
