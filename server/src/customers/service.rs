//! What the customer API does, over the registry store, the price book and
//! the stock ledger: the permission and scope checks, input rules, the
//! single view, and the snapshot a job takes from the registry.
//!
//! Every read asks [`Permission::ViewCustomers`] (403) and then the caller's
//! [`CustomerScope`] (404 outside it, as for a record that does not exist);
//! every write asks [`Permission::ManageCustomers`] and the same scope.

use std::collections::HashMap;

use fieldsync_core::job::DetailsEdit;
use fieldsync_core::job::{Asset as JobAsset, Customer as JobCustomer, Registry, Site as JobSite};
use fieldsync_core::pricebook::PriceBook;
use fieldsync_core::{Email, Job, LocationId, Sku, UserId};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::model::*;
use super::store::{DepotStock, VisitsOf};
use super::views::*;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::authz::{self, CustomerScope, Permission, Principal, Scope};
use crate::documents;
use crate::error::ApiError;
use crate::inventory::LocationKind;
use crate::store::{Constraint, StoreError, now_utc};

/// Longest name (customer, contact, site, product), in characters.
pub const MAX_NAME: usize = 200;
/// Longest address, in characters.
pub const MAX_ADDRESS: usize = 1_000;
/// Longest postcode, phone number, serial or contract reference.
pub const MAX_CODE: usize = 64;
/// How many open jobs and visits the views list.
const MAX_VISITS: u32 = 200;

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// A required text: trimmed, 1..=`max` characters.
fn required(field: &str, text: &str, max: usize) -> Result<String, ApiError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(bad(format!("{field} must not be empty")));
    }
    if t.chars().count() > max {
        return Err(bad(format!("{field} must be at most {max} characters")));
    }
    Ok(t.to_owned())
}

/// An optional text: trimmed, empty reads as absent.
fn optional(field: &str, text: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => required(field, t, max).map(Some),
    }
}

fn email(text: Option<&str>) -> Result<Option<String>, ApiError> {
    optional("email", text, MAX_NAME)?
        .map(|e| {
            e.parse::<Email>()
                .map(|e| e.as_str().to_owned())
                .map_err(bad)
        })
        .transpose()
}

fn phone(text: Option<&str>) -> Result<Option<String>, ApiError> {
    let p = optional("phone", text, MAX_CODE)?;
    if let Some(p) = &p {
        let ok = p
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()./".contains(c));
        if !ok || phone_key(p).is_none() {
            return Err(bad("phone must be digits, spaces and + - ( ) . /"));
        }
    }
    Ok(p)
}

/// The caller's customer scope, after the permission check. Reads take a
/// [`Principal`] so the console (a session, not a bearer token) asks the
/// same rules as the API.
pub async fn scope(state: &AppState, caller: Principal) -> Result<CustomerScope, ApiError> {
    authz::require(caller, Permission::ViewCustomers)?;
    Ok(Scope::of(caller).customers(state.store.as_ref()).await?)
}

/// The caller's scope for a change (`ManageCustomers` first).
async fn manage_scope(state: &AppState, caller: &AuthUser) -> Result<CustomerScope, ApiError> {
    caller.require(Permission::ManageCustomers)?;
    Ok(caller.scope().customers(state.store.as_ref()).await?)
}

/// A depot the caller may give customers to: a depot, and one of the
/// caller's when office scope is by depot. Others read as unknown (400).
async fn check_depot(
    state: &AppState,
    scope: &CustomerScope,
    id: Uuid,
) -> Result<LocationId, ApiError> {
    let id = LocationId::from_uuid(id);
    let unknown = || bad(format!("no depot {id}"));
    let in_scope = match scope {
        CustomerScope::All => true,
        CustomerScope::Depots(depots) => depots.contains(&id),
        CustomerScope::None | CustomerScope::Jobs(_) => false,
    };
    if !in_scope {
        return Err(unknown());
    }
    let is_depot = state
        .store
        .locations()
        .await?
        .iter()
        .any(|l| l.id == id && l.kind == LocationKind::Depot);
    if is_depot { Ok(id) } else { Err(unknown()) }
}

/// The customer, if the caller's scope holds it (404 otherwise).
async fn visible_customer(
    state: &AppState,
    scope: &CustomerScope,
    id: Uuid,
) -> Result<Customer, ApiError> {
    state
        .store
        .customer_within(id, scope)
        .await?
        .ok_or(ApiError::NotFound)
}

pub async fn search(
    state: &AppState,
    caller: Principal,
    q: SearchQuery,
) -> Result<CustomerList, ApiError> {
    let scope = scope(state, caller).await?;
    let query = q.q.as_deref().map(str::trim).unwrap_or("");
    if query.chars().count() > MAX_NAME {
        return Err(bad(format!("q must be at most {MAX_NAME} characters")));
    }
    let customers = state
        .store
        .search_customers(query, &scope, q.limit.unwrap_or(50))
        .await?;
    Ok(CustomerList { customers })
}

/// The assets in the caller's scope whose serial is `serial` (any case):
/// the console's search leads to them as well as to their customers.
pub async fn assets_with_serial(
    state: &AppState,
    caller: Principal,
    serial: &str,
) -> Result<Vec<Asset>, ApiError> {
    let scope = scope(state, caller).await?;
    if serial.chars().count() > MAX_CODE {
        return Ok(Vec::new());
    }
    Ok(state.store.assets_by_serial(serial, None, &scope).await?)
}

pub async fn create_customer(
    state: &AppState,
    caller: &AuthUser,
    body: NewCustomer,
) -> Result<Customer, ApiError> {
    let scope = manage_scope(state, caller).await?;
    let name = required("name", &body.name, MAX_NAME)?;
    let depot_id = check_depot(state, &scope, body.depot_id).await?;
    let now = now_utc();
    let customer = Customer {
        id: Uuid::new_v4(),
        kind: body.kind,
        name,
        language: body.language.unwrap_or(crate::i18n::Language::En),
        depot_id,
        created_at: now,
        updated_at: now,
    };
    state.store.create_customer(&customer).await?;
    Ok(customer)
}

pub async fn edit_customer(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    body: EditCustomer,
) -> Result<Customer, ApiError> {
    let scope = manage_scope(state, caller).await?;
    let mut customer = visible_customer(state, &scope, id).await?;
    if let Some(kind) = body.kind {
        customer.kind = kind;
    }
    if let Some(name) = &body.name {
        customer.name = required("name", name, MAX_NAME)?;
    }
    if let Some(language) = body.language {
        customer.language = language;
    }
    if let Some(depot) = body.depot_id {
        customer.depot_id = check_depot(state, &scope, depot).await?;
    }
    customer.updated_at = now_utc();
    state.store.update_customer(&customer).await?;
    refresh_open_jobs(state, caller, customer.id).await?;
    Ok(customer)
}

/// A site's depot, when given, must be one the caller may use.
async fn site_depot(
    state: &AppState,
    scope: &CustomerScope,
    depot: Option<Uuid>,
) -> Result<Option<LocationId>, ApiError> {
    match depot {
        None => Ok(None),
        Some(d) => check_depot(state, scope, d).await.map(Some),
    }
}

pub async fn create_site(
    state: &AppState,
    caller: &AuthUser,
    customer: Uuid,
    body: NewSite,
) -> Result<Site, ApiError> {
    let scope = manage_scope(state, caller).await?;
    visible_customer(state, &scope, customer).await?;
    let site = Site {
        id: Uuid::new_v4(),
        customer_id: customer,
        name: optional("name", body.name.as_deref(), MAX_NAME)?,
        address: required("address", &body.address, MAX_ADDRESS)?,
        postcode: optional("postcode", body.postcode.as_deref(), MAX_CODE)?,
        depot_id: site_depot(state, &scope, body.depot_id).await?,
    };
    state.store.create_site(&site, now_utc()).await?;
    Ok(site)
}

/// A record of `customer` by its id, 404 when it belongs to another.
fn owned<T>(
    record: Result<T, StoreError>,
    owner: impl Fn(&T) -> Uuid,
    customer: Uuid,
) -> Result<T, ApiError> {
    match record {
        Ok(r) if owner(&r) == customer => Ok(r),
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::NotFound),
        Err(e) => Err(e.into()),
    }
}

pub async fn edit_site(
    state: &AppState,
    caller: &AuthUser,
    customer: Uuid,
    id: Uuid,
    body: EditSite,
) -> Result<Site, ApiError> {
    let scope = manage_scope(state, caller).await?;
    visible_customer(state, &scope, customer).await?;
    let mut site = owned(state.store.site(id).await, |s| s.customer_id, customer)?;
    if let Some(name) = &body.name {
        site.name = optional("name", name.as_deref(), MAX_NAME)?;
    }
    if let Some(address) = &body.address {
        site.address = required("address", address, MAX_ADDRESS)?;
    }
    if let Some(postcode) = &body.postcode {
        site.postcode = optional("postcode", postcode.as_deref(), MAX_CODE)?;
    }
    if let Some(depot) = body.depot_id {
        site.depot_id = site_depot(state, &scope, depot).await?;
    }
    state.store.update_site(&site, now_utc()).await?;
    refresh_open_jobs(state, caller, customer).await?;
    Ok(site)
}

pub async fn create_contact(
    state: &AppState,
    caller: &AuthUser,
    customer: Uuid,
    body: NewContact,
) -> Result<Contact, ApiError> {
    let scope = manage_scope(state, caller).await?;
    visible_customer(state, &scope, customer).await?;
    let contact = Contact {
        id: Uuid::new_v4(),
        customer_id: customer,
        name: required("name", &body.name, MAX_NAME)?,
        email: email(body.email.as_deref())?,
        phone: phone(body.phone.as_deref())?,
        preferred_channel: body.preferred_channel,
        feedback_opt_out: body.feedback_opt_out,
    };
    check_channel(&contact)?;
    state.store.create_contact(&contact, now_utc()).await?;
    // The first contact of a customer is the one jobs copy.
    refresh_open_jobs(state, caller, customer).await?;
    Ok(contact)
}

/// A contact cannot prefer a channel it has no address for.
fn check_channel(c: &Contact) -> Result<(), ApiError> {
    let reachable = match c.preferred_channel {
        ContactChannel::Email => c.email.is_some(),
        ContactChannel::Sms | ContactChannel::Phone => c.phone.is_some(),
    };
    if reachable {
        Ok(())
    } else {
        Err(bad(format!(
            "preferred_channel {} needs the contact's {}",
            c.preferred_channel,
            if c.preferred_channel == ContactChannel::Email {
                "email"
            } else {
                "phone"
            }
        )))
    }
}

pub async fn edit_contact(
    state: &AppState,
    caller: &AuthUser,
    customer: Uuid,
    id: Uuid,
    body: EditContact,
) -> Result<Contact, ApiError> {
    let scope = manage_scope(state, caller).await?;
    visible_customer(state, &scope, customer).await?;
    let mut contact = owned(state.store.contact(id).await, |c| c.customer_id, customer)?;
    if let Some(name) = &body.name {
        contact.name = required("name", name, MAX_NAME)?;
    }
    if let Some(e) = &body.email {
        contact.email = email(e.as_deref())?;
    }
    if let Some(p) = &body.phone {
        contact.phone = phone(p.as_deref())?;
    }
    if let Some(c) = body.preferred_channel {
        contact.preferred_channel = c;
    }
    if let Some(o) = body.feedback_opt_out {
        contact.feedback_opt_out = o;
    }
    check_channel(&contact)?;
    state.store.update_contact(&contact, now_utc()).await?;
    refresh_open_jobs(state, caller, customer).await?;
    Ok(contact)
}

/// A site of `customer` named in a body: 400 when it is not one.
async fn customer_site(state: &AppState, customer: Uuid, site: Uuid) -> Result<Site, ApiError> {
    match state.store.site(site).await {
        Ok(s) if s.customer_id == customer => Ok(s),
        Ok(_) | Err(StoreError::NotFound) => Err(bad(format!("no site {site} of this customer"))),
        Err(e) => Err(e.into()),
    }
}

pub async fn create_asset(
    state: &AppState,
    caller: &AuthUser,
    customer: Uuid,
    body: NewAsset,
) -> Result<Asset, ApiError> {
    let scope = manage_scope(state, caller).await?;
    visible_customer(state, &scope, customer).await?;
    customer_site(state, customer, body.site_id).await?;
    let asset = Asset {
        id: Uuid::new_v4(),
        customer_id: customer,
        site_id: body.site_id,
        product: required("product", &body.product, MAX_NAME)?,
        serial: required("serial", &body.serial, MAX_CODE)?,
        sku: body.sku,
        install_date: body.install_date,
        warranty_end: body.warranty_end,
        contract_ref: optional("contract_ref", body.contract_ref.as_deref(), MAX_CODE)?,
    };
    match state.store.create_asset(&asset, now_utc()).await {
        Ok(()) => Ok(asset),
        Err(StoreError::Conflict(Constraint::Other(_))) => Err(ApiError::Conflict(format!(
            "{} already has an asset with serial {}",
            asset.sku, asset.serial
        ))),
        Err(e) => Err(e.into()),
    }
}

pub async fn edit_asset(
    state: &AppState,
    caller: &AuthUser,
    customer: Uuid,
    id: Uuid,
    body: EditAsset,
) -> Result<Asset, ApiError> {
    let scope = manage_scope(state, caller).await?;
    visible_customer(state, &scope, customer).await?;
    let mut asset = owned(state.store.asset(id).await, |a| a.customer_id, customer)?;
    if let Some(site) = body.site_id {
        asset.site_id = customer_site(state, customer, site).await?.id;
    }
    if let Some(p) = &body.product {
        asset.product = required("product", p, MAX_NAME)?;
    }
    if let Some(d) = body.install_date {
        asset.install_date = d;
    }
    if let Some(d) = body.warranty_end {
        asset.warranty_end = d;
    }
    if let Some(c) = &body.contract_ref {
        asset.contract_ref = optional("contract_ref", c.as_deref(), MAX_CODE)?;
    }
    state.store.update_asset(&asset, now_utc()).await?;
    refresh_open_jobs(state, caller, customer).await?;
    Ok(asset)
}

/// Open jobs of one customer refreshed per registry change (a customer
/// with more open jobs than this keeps the rest as they were).
const REFRESH_LIMIT: u32 = 1000;

/// What the single view reads once per request: today, the price book,
/// and the depot stock already looked up.
struct Answering<'a> {
    state: &'a AppState,
    caller: Principal,
    today: Date,
    book: Option<std::sync::Arc<PriceBook>>,
    stock: HashMap<(LocationId, Sku), DepotStock>,
}

impl<'a> Answering<'a> {
    async fn new(state: &'a AppState, caller: Principal) -> Result<Self, ApiError> {
        let book = documents::price_book(state.store.as_ref(), &state.docs)
            .await
            .map_err(ApiError::internal)?;
        Ok(Self {
            state,
            caller,
            today: OffsetDateTime::now_utc().date(),
            book,
            stock: HashMap::new(),
        })
    }

    /// Open jobs the caller may see (a technician: their own).
    fn visible(&self, visits: Vec<Visit>) -> Vec<Visit> {
        let scope = Scope::of(self.caller);
        visits
            .into_iter()
            .filter(|v| scope.sees_job(v.technician_id.map(UserId::from_uuid)))
            .collect()
    }

    fn offers(&self, asset: &Asset) -> Vec<ExtensionQuote> {
        let Some(book) = &self.book else {
            return Vec::new();
        };
        book.extensions
            .iter()
            .filter(|(_, o)| o.sku == asset.sku)
            .filter_map(|(code, o)| {
                Some(ExtensionQuote {
                    code: code.clone(),
                    name: o.name.clone(),
                    months: o.months,
                    price_minor: o.price.minor_units(),
                    tax_rate_bps: book.tax_rate_bps,
                    currency: book.currency.clone(),
                    terms: o.terms.clone(),
                    // Extending an ended (or unknown) warranty starts today.
                    warranty_end_after: o.warranty_end_after(asset.warranty_end, self.today)?,
                    price_book_version: book.version,
                })
            })
            .collect()
    }

    /// The nearest depot to an asset: its site's depot when the site names
    /// one, else the customer's.
    async fn stock(
        &mut self,
        customer: &Customer,
        site: Option<&Site>,
        sku: &Sku,
    ) -> Result<PartStock, ApiError> {
        let (depot, nearest_by) = match site.and_then(|s| s.depot_id) {
            Some(d) => (d, "site"),
            None => (customer.depot_id, "customer"),
        };
        let key = (depot, sku.clone());
        let found = match self.stock.get(&key) {
            Some(s) => s.clone(),
            None => {
                let s = self.state.store.depot_stock(depot, sku).await?;
                self.stock.insert(key, s.clone());
                s
            }
        };
        Ok(PartStock {
            sku: sku.clone(),
            depot_id: found.depot_id,
            depot_name: found.depot_name,
            nearest_by: nearest_by.to_owned(),
            quantity: found.quantity,
            in_stock: found.quantity > 0,
        })
    }

    async fn summary(
        &mut self,
        asset: Asset,
        customer: &Customer,
        site: Option<&Site>,
        open_jobs: Vec<Visit>,
        part: Option<&Sku>,
    ) -> Result<AssetSummary, ApiError> {
        let sku = part.unwrap_or(&asset.sku).clone();
        let stock = self.stock(customer, site, &sku).await?;
        Ok(AssetSummary {
            warranty: Warranty {
                end: asset.warranty_end,
                active: asset.warranty_end.is_some_and(|end| end >= self.today),
            },
            extension_offers: self.offers(&asset),
            open_jobs: self.visible(open_jobs),
            stock,
            asset,
        })
    }
}

/// `GET /v1/customers/{id}`.
pub async fn customer_view(
    state: &AppState,
    caller: Principal,
    id: Uuid,
) -> Result<CustomerView, ApiError> {
    let scope = scope(state, caller).await?;
    let customer = visible_customer(state, &scope, id).await?;
    // Independent reads run side by side on the pool: on a loaded machine
    // each sequential round trip is another chance to wait for a core.
    let (sites, contacts, assets, open, shipments, mut answer) = tokio::try_join!(
        async { Ok::<_, ApiError>(state.store.sites(id).await?) },
        async { Ok(state.store.contacts(id).await?) },
        async { Ok(state.store.assets(id, &scope).await?) },
        async {
            Ok(state
                .store
                .visits(VisitsOf::Customer(id), true, MAX_VISITS)
                .await?)
        },
        crate::shipments::service::of_customer(state, id),
        Answering::new(state, caller),
    )?;
    let mut summaries = Vec::with_capacity(assets.len());
    for asset in assets {
        let site = sites.iter().find(|s| s.id == asset.site_id);
        let jobs = open
            .iter()
            .filter(|v| v.asset_id == Some(asset.id))
            .cloned()
            .collect();
        summaries.push(answer.summary(asset, &customer, site, jobs, None).await?);
    }
    Ok(CustomerView {
        open_jobs: answer.visible(open),
        customer,
        sites,
        contacts,
        assets: summaries,
        shipments,
    })
}

/// `GET /v1/assets/{serial}`.
pub async fn asset_view(
    state: &AppState,
    caller: Principal,
    serial: &str,
    q: AssetQuery,
) -> Result<AssetView, ApiError> {
    let scope = scope(state, caller).await?;
    let sku = q
        .sku
        .as_deref()
        .map(|s| s.parse::<Sku>().map_err(bad))
        .transpose()?;
    let part = q
        .part
        .as_deref()
        .map(|s| s.parse::<Sku>().map_err(bad))
        .transpose()?;
    if serial.chars().count() > MAX_CODE {
        return Err(ApiError::NotFound);
    }
    let mut found = state
        .store
        .assets_by_serial(serial, sku.as_ref(), &scope)
        .await?;
    let asset = match found.len() {
        0 => return Err(ApiError::NotFound),
        1 => found.remove(0),
        _ => {
            return Err(ApiError::Conflict(format!(
                "serial {serial} is on several products ({}): add ?sku=",
                found
                    .iter()
                    .map(|a| a.sku.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    // The reads below depend only on the asset: side by side on the pool
    // (see `customer_view`).
    let (
        customer,
        site,
        contacts,
        visits,
        parts_fitted,
        warranty_extensions,
        recalls,
        shipments,
        returns,
        mut answer,
    ) = tokio::try_join!(
        async { Ok::<_, ApiError>(state.store.customer(asset.customer_id).await?) },
        async { Ok(state.store.site(asset.site_id).await?) },
        async { Ok(state.store.contacts(asset.customer_id).await?) },
        async {
            Ok(state
                .store
                .visits(VisitsOf::Asset(asset.id), false, MAX_VISITS)
                .await?)
        },
        async { Ok(state.store.fitted_parts(asset.id).await?) },
        async { Ok(state.store.warranty_extensions(asset.id).await?) },
        crate::recalls::service::of_asset(state, asset.id),
        crate::shipments::service::of_customer(state, asset.customer_id),
        crate::returns::service::of_asset(state, caller, asset.id),
        Answering::new(state, caller),
    )?;
    let shipments = shipments
        .into_iter()
        .filter(|s| s.site_id == asset.site_id)
        .collect();
    let open: Vec<Visit> = visits
        .iter()
        .filter(|v| !is_closed(&v.status))
        .cloned()
        .collect();
    let summary = answer
        .summary(asset, &customer, Some(&site), open, part.as_ref())
        .await?;
    Ok(AssetView {
        summary,
        customer,
        site,
        contacts,
        history: AssetHistory {
            recalls,
            visits,
            parts_fitted,
            warranty_extensions,
            returns,
        },
        shipments,
    })
}

fn is_closed(status: &str) -> bool {
    status
        .parse::<fieldsync_core::Status>()
        .is_ok_and(|s| s.is_final())
}

/// The registry records a new job names, and the snapshots they give.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub registry: Registry,
    pub customer: Option<JobCustomer>,
    pub site: Option<JobSite>,
    pub asset: Option<JobAsset>,
}

/// Resolves the ids a job is created with into the job's snapshots. An
/// asset implies its site and customer, a site its customer; ids given
/// together must agree. A record the caller may not see is unknown (400).
pub async fn snapshot(
    state: &AppState,
    caller: &AuthUser,
    customer: Option<Uuid>,
    site: Option<Uuid>,
    asset: Option<Uuid>,
) -> Result<Snapshot, ApiError> {
    if customer.is_none() && site.is_none() && asset.is_none() {
        return Ok(Snapshot::default());
    }
    let scope = caller.scope().customers(state.store.as_ref()).await?;
    let asset = match asset {
        None => None,
        Some(id) => {
            let visible = state.store.asset_in_scope(id, &scope).await?;
            if !visible {
                return Err(bad(format!("no asset {id}")));
            }
            Some(state.store.asset(id).await?)
        }
    };
    let site_id = site.or(asset.as_ref().map(|a| a.site_id));
    let site = match site_id {
        None => None,
        Some(id) => match state.store.site(id).await {
            Ok(s) => Some(s),
            Err(StoreError::NotFound) => return Err(bad(format!("no site {id}"))),
            Err(e) => return Err(e.into()),
        },
    };
    let customer_id = customer
        .or(site.as_ref().map(|s| s.customer_id))
        .or(asset.as_ref().map(|a| a.customer_id));
    let Some(customer_id) = customer_id else {
        return Ok(Snapshot::default());
    };
    if !state.store.customer_in_scope(customer_id, &scope).await? {
        return Err(bad(format!("no customer {customer_id}")));
    }
    if site.as_ref().is_some_and(|s| s.customer_id != customer_id)
        || asset.as_ref().is_some_and(|a| a.customer_id != customer_id)
    {
        return Err(bad("the site and asset must belong to the customer"));
    }
    if let (Some(s), Some(a)) = (&site, &asset)
        && a.site_id != s.id
    {
        return Err(bad("the asset is installed at another site"));
    }
    let record = state.store.customer(customer_id).await?;
    let contact = state.store.contacts(customer_id).await?.into_iter().next();
    Ok(Snapshot::of(record, contact.as_ref(), site, asset))
}

impl Snapshot {
    /// What a job copies of a customer (its first contact's addresses),
    /// and of a site and an asset when the job names them.
    fn of(
        record: Customer,
        contact: Option<&Contact>,
        site: Option<Site>,
        asset: Option<Asset>,
    ) -> Self {
        Snapshot {
            registry: Registry {
                customer: Some(record.id),
                site: site.as_ref().map(|s| s.id),
                asset: asset.as_ref().map(|a| a.id),
                asset_sku: asset.as_ref().map(|a| a.sku.clone()),
            },
            customer: Some(JobCustomer {
                name: record.name,
                email: contact
                    .and_then(|c| c.email.as_deref())
                    .and_then(|e| e.parse().ok()),
                phone: contact.and_then(|c| c.phone.clone()),
                feedback_opt_out: contact.is_some_and(|c| c.feedback_opt_out),
            }),
            site: site.map(|s| JobSite {
                name: s.name,
                address: match s.postcode {
                    Some(p) if !s.address.contains(&p) => format!("{}, {p}", s.address),
                    _ => s.address,
                },
            }),
            asset: asset.map(|a| JobAsset {
                product: a.product,
                serial: Some(a.serial),
                warranty_end: a.warranty_end,
                contract_ref: a.contract_ref,
            }),
        }
    }

    /// The office edit that brings `job`'s snapshots to these: only the
    /// values that differ, and only of the parts the job was made from.
    pub fn edit_from(&self, job: &Job) -> DetailsEdit {
        fn differs<T: PartialEq + Clone>(want: &T, have: &T) -> Option<T> {
            (want != have).then(|| want.clone())
        }
        let mut e = DetailsEdit::default();
        if let Some(c) = &self.customer {
            e.customer_name = differs(&c.name, &job.customer.name);
            e.customer_email = differs(&c.email, &job.customer.email);
            e.customer_phone = differs(&c.phone, &job.customer.phone);
            e.feedback_opt_out = differs(&c.feedback_opt_out, &job.customer.feedback_opt_out);
        }
        if let Some(s) = &self.site {
            e.site_name = differs(&s.name, &job.site.name);
            e.site_address = differs(&s.address, &job.site.address);
        }
        if let Some(a) = &self.asset {
            e.asset_product = differs(&a.product, &job.asset.product);
            e.asset_serial = differs(&a.serial, &job.asset.serial);
            e.warranty_end = differs(&a.warranty_end, &job.asset.warranty_end);
            e.contract_ref = differs(&a.contract_ref, &job.asset.contract_ref);
        }
        e
    }
}

/// After one of `customer`'s records changed: every open job made from the
/// registry for that customer gets its snapshot refreshed (issue 15 item 1:
/// the technician works offline from the job's copy), as an office change
/// by the caller that merges with whatever devices did meanwhile. Closed
/// jobs keep theirs. Each job is rebuilt from the registry as it now is, so
/// repeating the request repairs a refresh that failed part way.
async fn refresh_open_jobs(
    state: &AppState,
    caller: &AuthUser,
    customer: Uuid,
) -> Result<(), ApiError> {
    let open = state
        .store
        .visits(VisitsOf::Customer(customer), true, REFRESH_LIMIT)
        .await?;
    let refreshed = refresh_visits(state, caller.principal(), open).await?;
    if refreshed > 0 {
        tracing::info!(%customer, refreshed, "open jobs' snapshots refreshed from the registry");
    }
    Ok(())
}

/// [`refresh_open_jobs`] for the open jobs made from one asset (after its
/// warranty was extended by another job's commit): each is rebuilt from
/// the registry as it now is, so running it again completes a run that
/// failed part way. How many jobs got a change is answered.
pub(crate) async fn refresh_open_jobs_of_asset(
    state: &AppState,
    who: Principal,
    asset: Uuid,
) -> Result<usize, ApiError> {
    let open = state
        .store
        .visits(VisitsOf::Asset(asset), true, REFRESH_LIMIT)
        .await?;
    refresh_visits(state, who, open).await
}

/// Brings each of `open`'s snapshots up to its registry records, as an
/// office change by `who`; answers how many got a change.
async fn refresh_visits(
    state: &AppState,
    who: Principal,
    open: Vec<Visit>,
) -> Result<usize, ApiError> {
    // A customer's record and first contact, read once per customer.
    let mut customers: HashMap<Uuid, (Customer, Option<Contact>)> = HashMap::new();
    let mut refreshed = 0;
    for visit in open {
        let id = fieldsync_core::JobId::from_uuid(visit.job_id);
        let linked = state.store.job_registry(id).await?;
        let Some(customer) = linked.customer else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(e) = customers.entry(customer) {
            let record = state.store.customer(customer).await?;
            let contact = state.store.contacts(customer).await?.into_iter().next();
            e.insert((record, contact));
        }
        let (record, contact) = &customers[&customer];
        let site = match linked.site {
            Some(s) => Some(state.store.site(s).await?),
            None => None,
        };
        let asset = match linked.asset {
            Some(a) => Some(state.store.asset(a).await?),
            None => None,
        };
        let target = Snapshot::of(record.clone(), contact.as_ref(), site, asset);
        if crate::jobs::refresh_snapshot(state, id, who, &target).await? {
            refreshed += 1;
        }
    }
    Ok(refreshed)
}
