//! The desk's decisions over its store: who sees which queue (their teams';
//! everything else is a 404), logging a contact, taking, assigning,
//! moving, resolving and escalating an item, the supervisor's board, the
//! customer's timeline, and the SLA sweep. Routes and console pages are
//! thin adapters over these.

use fieldsync_core::{Principal, Role, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::*;
use super::store::ItemFilter;
use super::views::*;
use crate::app::AppState;
use crate::authz::{self, Permission};
use crate::error::ApiError;

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// The most characters of a summary or an escalation reason.
pub const MAX_TEXT: usize = fieldsync_core::job::contact::MAX_SUMMARY;

/// The teams whose queues the caller sees: those they belong to or
/// supervise; an admin sees every team.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Teams {
    pub member: Vec<Team>,
    pub supervised: Vec<Team>,
    pub all: bool,
}

impl Teams {
    pub fn sees(&self, team: Team) -> bool {
        self.all || self.member.contains(&team) || self.supervised.contains(&team)
    }

    /// The supervisor's board covers these teams.
    pub fn supervises(&self, team: Team) -> bool {
        self.all || self.supervised.contains(&team)
    }

    pub fn visible(&self) -> Vec<Team> {
        Team::ALL.into_iter().filter(|t| self.sees(*t)).collect()
    }
}

/// The caller's teams, after the permission check.
pub async fn teams(state: &AppState, caller: Principal) -> Result<Teams, ApiError> {
    authz::require(caller, Permission::UseServiceDesk)?;
    let (member, supervised) = state.store.teams_of(caller.user).await?;
    Ok(Teams {
        member,
        supervised,
        all: caller.role == Role::Admin,
    })
}

fn text(field: &str, value: &str) -> Result<String, ApiError> {
    let t = value.trim();
    if t.is_empty() {
        return Err(bad(format!("{field} must not be empty")));
    }
    if t.chars().count() > MAX_TEXT {
        return Err(bad(format!(
            "{field} must be at most {MAX_TEXT} characters"
        )));
    }
    // The extractor refused card numbers already; the console's forms too.
    fieldsync_core::card::refuse_card_number("summary", t).map_err(|e| bad(e.to_string()))?;
    Ok(t.to_owned())
}

/// Logs a contact for a customer in the caller's scope and routes it.
/// The same id again records nothing new and answers the stored contact.
pub async fn log_contact(
    state: &AppState,
    caller: Principal,
    body: NewContactBody,
) -> Result<ItemView, ApiError> {
    authz::require(caller, Permission::UseServiceDesk)?;
    let scope = crate::customers::service::scope(state, caller).await?;
    let customer = state
        .store
        .customer_within(body.customer_id, &scope)
        .await?
        .ok_or_else(|| bad(format!("no customer {}", body.customer_id)))?;
    let summary = text("summary", &body.summary)?;
    // A site, asset or job the contact names is the customer's own.
    if let Some(site) = body.site_id
        && !state
            .store
            .sites(customer.id)
            .await?
            .iter()
            .any(|s| s.id == site)
    {
        return Err(bad(format!("no site {site} of this customer")));
    }
    if let Some(asset) = body.asset_id
        && !state
            .store
            .assets(customer.id, &scope)
            .await?
            .iter()
            .any(|a| a.id == asset)
    {
        return Err(bad(format!("no asset {asset} of this customer")));
    }
    if let Some(job) = body.job_id {
        let of_customer = match state.store.job_registry(job).await {
            Ok(r) => r.customer == Some(customer.id),
            Err(crate::store::StoreError::NotFound) => false,
            Err(e) => return Err(e.into()),
        };
        if !of_customer {
            return Err(bad(format!("no job {job} of this customer")));
        }
    }
    let contact = NewContact {
        id: body.id,
        customer_id: Some(customer.id),
        customer_name: customer.name,
        site_id: body.site_id,
        asset_id: body.asset_id,
        job_id: body.job_id,
        channel: body.channel,
        direction: body.direction,
        category: body.category,
        summary,
        logged_by: Some(caller.user),
        source: Source::Office,
        device_time: None,
    };
    state.store.log_contact(&contact, state.clock.now()).await?;
    let contacts = state.store.customer_contacts(customer.id).await?;
    let stored = contacts
        .into_iter()
        .find(|c| c.id == body.id)
        .ok_or_else(|| ApiError::Conflict("the contact id is another customer's".into()))?;
    let item = state.store.item(stored.item_id).await?;
    Ok(ItemView::of(item, state.clock.now(), Vec::new()))
}

/// A team's queue (open items, most urgent first); 404 for a team the
/// caller does not belong to.
pub async fn queue(state: &AppState, caller: Principal, team: Team) -> Result<ItemList, ApiError> {
    let teams = teams(state, caller).await?;
    if !teams.sees(team) {
        return Err(ApiError::NotFound);
    }
    let items = state
        .store
        .items(&ItemFilter {
            teams: Some(vec![team]),
            ..ItemFilter::default()
        })
        .await?;
    let now = state.clock.now();
    Ok(ItemList {
        items: items
            .into_iter()
            .map(|i| ItemView::of(i, now, Vec::new()))
            .collect(),
    })
}

/// The escalated open items of the teams the caller supervises.
pub async fn board(state: &AppState, caller: Principal) -> Result<ItemList, ApiError> {
    let teams = teams(state, caller).await?;
    let supervised: Vec<Team> = Team::ALL
        .into_iter()
        .filter(|t| teams.supervises(*t))
        .collect();
    if supervised.is_empty() {
        return Err(ApiError::Forbidden(
            "the escalation board is for the teams' supervisors",
        ));
    }
    let items = state
        .store
        .items(&ItemFilter {
            teams: Some(supervised),
            escalated_only: true,
            include_resolved: false,
        })
        .await?;
    let now = state.clock.now();
    Ok(ItemList {
        items: items
            .into_iter()
            .map(|i| ItemView::of(i, now, Vec::new()))
            .collect(),
    })
}

/// The item, if the caller sees its team (404 otherwise).
async fn visible_item(state: &AppState, teams: &Teams, id: Uuid) -> Result<Item, ApiError> {
    let item = state.store.item(id).await?;
    if teams.sees(item.team) {
        Ok(item)
    } else {
        Err(ApiError::NotFound)
    }
}

/// One item with its history.
pub async fn item(state: &AppState, caller: Principal, id: Uuid) -> Result<ItemView, ApiError> {
    let teams = teams(state, caller).await?;
    let item = visible_item(state, &teams, id).await?;
    let history = state.store.history(id).await?;
    Ok(ItemView::of(item, state.clock.now(), history))
}

/// Whether `user` belongs to (or supervises) `team`.
async fn in_team(state: &AppState, user: UserId, team: Team) -> Result<bool, ApiError> {
    let (member, supervised) = state.store.teams_of(user).await?;
    Ok(member.contains(&team) || supervised.contains(&team))
}

/// Takes, assigns, moves or changes the state of an item.
pub async fn update(
    state: &AppState,
    caller: Principal,
    id: Uuid,
    body: ItemUpdate,
) -> Result<ItemView, ApiError> {
    let teams = teams(state, caller).await?;
    let item = visible_item(state, &teams, id).await?;
    let given = usize::from(body.take)
        + usize::from(body.owner_id.is_some())
        + usize::from(body.state.is_some())
        + usize::from(body.team.is_some());
    if given != 1 {
        return Err(bad(
            "give exactly one of `take`, `owner_id`, `state` or `team`",
        ));
    }
    let now = state.clock.now();
    let store = &state.store;
    if body.take {
        store
            .change_item(id, caller.user, &ItemChange::Assign(Some(caller.user)), now)
            .await?;
        if item.state == ItemState::New {
            store
                .change_item(
                    id,
                    caller.user,
                    &ItemChange::State(ItemState::InProgress),
                    now,
                )
                .await?;
        }
    } else if let Some(owner) = body.owner_id {
        if !in_team(state, owner, item.team).await? {
            return Err(bad(format!(
                "the owner must be a member of the {} team",
                item.team
            )));
        }
        store
            .change_item(id, caller.user, &ItemChange::Assign(Some(owner)), now)
            .await?;
    } else if let Some(s) = body.state {
        store
            .change_item(id, caller.user, &ItemChange::State(s), now)
            .await?;
    } else if let Some(team) = body.team {
        if team == item.team {
            return Err(bad(format!("the item is in the {team} queue already")));
        }
        store
            .change_item(id, caller.user, &ItemChange::Move(team), now)
            .await?;
        // Moved out of the caller's teams: they no longer see it.
        if !teams.sees(team) {
            let moved = store.item(id).await?;
            return Ok(ItemView::of(moved, now, Vec::new()));
        }
    }
    item_view(state, id, now).await
}

async fn item_view(state: &AppState, id: Uuid, now: OffsetDateTime) -> Result<ItemView, ApiError> {
    let item = state.store.item(id).await?;
    let history = state.store.history(id).await?;
    Ok(ItemView::of(item, now, history))
}

/// "Escalate to supervisor": the item lands on its team supervisor's board.
pub async fn escalate(
    state: &AppState,
    caller: Principal,
    id: Uuid,
    body: Escalation,
) -> Result<ItemView, ApiError> {
    let teams = teams(state, caller).await?;
    visible_item(state, &teams, id).await?;
    let reason = text("reason", &body.reason)?;
    let now = state.clock.now();
    state
        .store
        .change_item(id, caller.user, &ItemChange::Escalate(reason), now)
        .await?;
    item_view(state, id, now).await
}

/// A customer's contacts, newest first: those in the queues of the teams
/// the caller sees (an admin: all). The customer must be in the caller's
/// customer scope, or have a contact in one of those queues; else 404.
pub async fn timeline(
    state: &AppState,
    caller: Principal,
    customer: Uuid,
) -> Result<(crate::customers::model::Customer, ContactList), ApiError> {
    let teams = teams(state, caller).await?;
    let contacts: Vec<ContactView> = state
        .store
        .customer_contacts(customer)
        .await?
        .into_iter()
        .filter(|c| teams.sees(c.team))
        .map(Into::into)
        .collect();
    let in_scope = if caller.can(Permission::ViewCustomers) {
        let scope = crate::customers::service::scope(state, caller).await?;
        state.store.customer_within(customer, &scope).await?
    } else {
        None
    };
    let c = match in_scope {
        Some(c) => c,
        None if !contacts.is_empty() => state
            .store
            .customer_within(customer, &crate::authz::CustomerScope::All)
            .await?
            .ok_or(ApiError::NotFound)?,
        None => return Err(ApiError::NotFound),
    };
    Ok((c, ContactList { contacts }))
}

pub async fn routing(state: &AppState, caller: Principal) -> Result<Routing, ApiError> {
    authz::require(caller, Permission::ManageDesk)?;
    Ok(state.store.routing().await?)
}

pub async fn set_routing(
    state: &AppState,
    caller: Principal,
    routing: Routing,
) -> Result<Routing, ApiError> {
    authz::require(caller, Permission::ManageDesk)?;
    routing.check().map_err(bad)?;
    state.store.set_routing(&routing).await?;
    Ok(state.store.routing().await?)
}

pub async fn team_list(state: &AppState, caller: Principal) -> Result<TeamList, ApiError> {
    authz::require(caller, Permission::UseServiceDesk)?;
    let member = |(id, name): (UserId, String)| Member { id, name };
    Ok(TeamList {
        teams: state
            .store
            .teams()
            .await?
            .into_iter()
            .map(|t| TeamView {
                team: t.team,
                supervisor: t.supervisor.map(member),
                members: t.members.into_iter().map(member).collect(),
            })
            .collect(),
    })
}

/// Why a team's members or supervisor cannot be set.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl From<TeamError> for ApiError {
    fn from(e: TeamError) -> Self {
        match e {
            TeamError::Invalid(why) => bad(why),
            TeamError::Store(e) => e.into(),
        }
    }
}

/// The most members a team has.
pub const MAX_MEMBERS: usize = 500;

/// Replaces a team's members and supervisor, after the one check the API
/// and `fieldsync admin set-team` share: members have a desk role, the
/// supervisor the supervisor or admin role.
pub async fn replace_team(
    store: &dyn crate::app::AppStore,
    team: Team,
    supervisor: Option<UserId>,
    members: &[UserId],
) -> Result<(), TeamError> {
    if members.len() > MAX_MEMBERS {
        return Err(TeamError::Invalid(format!("at most {MAX_MEMBERS} members")));
    }
    for user in members.iter().chain(supervisor.iter()) {
        let u = match store.user(*user).await {
            Ok(u) => u,
            Err(crate::store::StoreError::NotFound) => {
                return Err(TeamError::Invalid(format!("no user {user}")));
            }
            Err(e) => return Err(e.into()),
        };
        if !u.role.can(Permission::UseServiceDesk) {
            return Err(TeamError::Invalid(format!(
                "user {user}'s role does not work the service desk"
            )));
        }
        if Some(*user) == supervisor && !matches!(u.role, Role::Supervisor | Role::Admin) {
            return Err(TeamError::Invalid(
                "a team's supervisor has the supervisor or admin role".into(),
            ));
        }
    }
    store.set_team(team, supervisor, members).await?;
    Ok(())
}

/// `PUT /v1/desk/teams/{team}` (admins).
pub async fn set_team(
    state: &AppState,
    caller: Principal,
    team: Team,
    body: TeamBody,
) -> Result<TeamList, ApiError> {
    authz::require(caller, Permission::ManageDesk)?;
    replace_team(
        state.store.as_ref(),
        team,
        body.supervisor_id,
        &body.members,
    )
    .await?;
    team_list(state, caller).await
}

/// Opens the queue item of a system source (an unpaid invoice for
/// finance, a contract due for renewal for sales), once per source: a
/// source that has an item already (open or resolved) keeps it, and its id
/// comes back with `created: false`. In a transaction of its own; inside a
/// caller's transaction use [`super::store::open_system_item`].
pub async fn open_system_item<S: super::DeskStore + ?Sized>(
    store: &S,
    item: &SystemItem,
    now: OffsetDateTime,
) -> Result<SystemItemOpened, super::store::SystemItemError> {
    store.open_system_item(item, now).await
}

/// Resolves a system source's item (the invoice was settled), with
/// `reason` in its history; false when there is none or it is resolved
/// already. Inside a caller's transaction use
/// [`super::store::resolve_system_item`].
pub async fn resolve_system_item<S: super::DeskStore + ?Sized>(
    store: &S,
    source: &ItemSource,
    reason: &str,
    now: OffsetDateTime,
) -> crate::store::Result<bool> {
    store.resolve_system_item(source, reason, now).await
}

/// Alerts the supervisors of items past their due time, once per item
/// (the housekeeping loop runs it every minute with the server's clock).
pub async fn sweep(state: &AppState) -> crate::store::Result<usize> {
    state
        .store
        .alert_breaches(
            state.clock.now(),
            state.settings.feedback.outbox_max_attempts,
        )
        .await
}
