//! The desk's tables (`desk_*`), written once for both databases, the
//! one function that records and routes a contact inside a caller's
//! transaction ([`record_contact`]: the office's API, the job commit's
//! [`ContactProjector`] and a low feedback score all use it), and the SLA
//! sweep that alerts a team's supervisor once per breached item.

use std::sync::Arc;

use async_trait::async_trait;
use fieldsync_core::job::{ContactCategory, ContactChannel, ContactDirection, keys};
use fieldsync_core::{DocId, JobId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::model::*;
use crate::documents::{JobCommit, JobProjector};
use crate::feedback::{Channel, MessageKind};
use crate::outbox::store::{NewMessage, enqueue};
use crate::store::sql::{Conn, Query, QueryBuilder, Row, Tx};
use crate::store::{Projection, Result, SqlStore, StoreError};

/// A team, its supervisor and its members `(id, name)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamInfo {
    pub team: Team,
    pub supervisor: Option<(UserId, String)>,
    pub members: Vec<(UserId, String)>,
}

/// Which items a listing reads.
#[derive(Clone, Debug, Default)]
pub struct ItemFilter {
    /// Only these teams' items (`None`: every team).
    pub teams: Option<Vec<Team>>,
    pub escalated_only: bool,
    pub include_resolved: bool,
}

#[async_trait]
pub trait DeskStore: Send + Sync {
    async fn routing(&self) -> Result<Routing>;
    /// Replaces the rules and the default team, in one transaction.
    async fn set_routing(&self, routing: &Routing) -> Result<()>;
    async fn teams(&self) -> Result<Vec<TeamInfo>>;
    /// Replaces a team's members and supervisor.
    async fn set_team(
        &self,
        team: Team,
        supervisor: Option<UserId>,
        members: &[UserId],
    ) -> Result<()>;
    /// The teams `user` belongs to or supervises.
    async fn teams_of(&self, user: UserId) -> Result<(Vec<Team>, Vec<Team>)>;
    /// Records a contact and its routed queue item (once per contact id).
    async fn log_contact(&self, c: &NewContact, now: OffsetDateTime) -> Result<()>;
    /// [`open_system_item`] in a transaction of its own.
    async fn open_system_item(
        &self,
        item: &SystemItem,
        now: OffsetDateTime,
    ) -> Result<SystemItemOpened, SystemItemError>;
    /// [`resolve_system_item`] in a transaction of its own.
    async fn resolve_system_item(
        &self,
        source: &ItemSource,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// The item of a system source, if it has one.
    async fn system_item(&self, source: &ItemSource) -> Result<Option<Item>>;
    async fn items(&self, filter: &ItemFilter) -> Result<Vec<Item>>;
    async fn item(&self, id: Uuid) -> Result<Item>;
    /// Applies `change`, with its history entry, in one transaction.
    async fn change_item(
        &self,
        id: Uuid,
        actor: UserId,
        change: &ItemChange,
        now: OffsetDateTime,
    ) -> Result<()>;
    async fn history(&self, id: Uuid) -> Result<Vec<HistoryEntry>>;
    /// A customer's contacts, newest first.
    async fn customer_contacts(&self, customer: Uuid) -> Result<Vec<Contact>>;
    /// Alerts each breached, unresolved, not yet alerted item's team
    /// supervisor (with an email) through the outbox; returns how many
    /// items were marked alerted.
    async fn alert_breaches(&self, now: OffsetDateTime, max_attempts: u32) -> Result<usize>;
}

// An item's customer, category and summary are its contact's or (a system
// item) its own: `item_*`.
const ITEM_COLS: &str = "SELECT i.id, i.team, i.owner_id, o.display_name AS owner_name, \
         o.username AS owner_username, i.state, i.priority, i.due_at, i.escalated, \
         i.escalation_reason, i.breach_alerted_at, i.created_at, \
         i.source_kind, i.source_ref, \
         COALESCE(c.customer_id, i.customer_id) AS item_customer_id, \
         COALESCE(c.customer_name, i.customer_name) AS item_customer_name, \
         COALESCE(c.category, i.category) AS item_category, \
         COALESCE(c.summary, i.summary) AS item_summary, \
         c.id AS contact_id, c.customer_id, c.customer_name, c.site_id, c.asset_id, c.job_id, \
         c.channel, c.direction, c.category, c.summary, c.logged_by, \
         l.display_name AS logged_name, l.username AS logged_username, c.source, \
         c.created_at AS contact_at \
     FROM desk_items i LEFT JOIN desk_contacts c ON c.id = i.contact_id \
     LEFT JOIN users o ON o.id = i.owner_id LEFT JOIN users l ON l.id = c.logged_by";

fn name(row: &Row, display: &str, username: &str) -> Result<Option<String>> {
    let d: Option<String> = row.get(display)?;
    Ok(match d {
        Some(d) => Some(d),
        None => row.get(username)?,
    })
}

fn contact_from(row: &Row) -> Result<Contact> {
    Ok(Contact {
        id: row.get("contact_id")?,
        customer_id: row.get("customer_id")?,
        customer_name: row.get("customer_name")?,
        site_id: row.get("site_id")?,
        asset_id: row.get("asset_id")?,
        job_id: row.get("job_id")?,
        channel: row.get("channel")?,
        direction: row.get("direction")?,
        category: row.get("category")?,
        summary: row.get("summary")?,
        logged_by: row.get("logged_by")?,
        logged_by_name: name(row, "logged_name", "logged_username")?,
        source: row.get("source")?,
        created_at: row.get("contact_at")?,
        item_id: row.get("id")?,
        team: row.get("team")?,
        state: row.get("state")?,
    })
}

fn item_from(row: &Row) -> Result<Item> {
    let contact = match row.get::<Option<Uuid>>("contact_id")? {
        Some(_) => Some(contact_from(row)?),
        None => None,
    };
    let source = match row.get::<Option<SourceKind>>("source_kind")? {
        Some(kind) => Some(ItemSource {
            kind,
            reference: row.get("source_ref")?,
        }),
        None => None,
    };
    Ok(Item {
        id: row.get("id")?,
        customer_id: row.get("item_customer_id")?,
        customer_name: row.get("item_customer_name")?,
        category: row.get("item_category")?,
        summary: row.get("item_summary")?,
        team: row.get("team")?,
        owner_id: row.get("owner_id")?,
        owner_name: name(row, "owner_name", "owner_username")?,
        state: row.get("state")?,
        priority: row.get("priority")?,
        due_at: row.get("due_at")?,
        escalated: row.get("escalated")?,
        escalation_reason: row.get("escalation_reason")?,
        breach_alerted_at: row.get("breach_alerted_at")?,
        created_at: row.get("created_at")?,
        contact,
        source,
    })
}

async fn routing_in(conn: &mut dyn Conn) -> Result<Routing> {
    let rows = conn
        .fetch_all(Query::new(
            "SELECT category, contract_status, keyword, team, priority FROM desk_rules \
             ORDER BY position",
        ))
        .await?;
    let mut rules = Vec::with_capacity(rows.len());
    for r in &rows {
        let category: Option<String> = r.get("category")?;
        rules.push(Rule {
            category: category
                .map(|c| {
                    ContactCategory::parse(&c)
                        .ok_or_else(|| StoreError::other(format!("bad category {c:?}")))
                })
                .transpose()?,
            contract_status: r.get("contract_status")?,
            keyword: r.get("keyword")?,
            team: r.get("team")?,
            priority: r.get("priority")?,
        });
    }
    let default_team = conn
        .fetch_one(Query::new(
            "SELECT default_team FROM desk_settings WHERE id = 1",
        ))
        .await?
        .get("default_team")?;
    Ok(Routing {
        rules,
        default_team,
    })
}

/// One history entry to append.
struct Entry<'a> {
    kind: HistoryKind,
    actor: Option<UserId>,
    from: Option<&'a str>,
    to: Option<&'a str>,
    reason: Option<&'a str>,
}

async fn history_entry(
    conn: &mut dyn Conn,
    item: Uuid,
    e: Entry<'_>,
    now: OffsetDateTime,
) -> Result<()> {
    conn.execute(
        Query::new(
            "INSERT INTO desk_item_history (id, seq, item_id, kind, actor_id, from_value, \
                 to_value, reason, at) \
             VALUES ($1, (SELECT COUNT(*) + 1 FROM desk_item_history WHERE item_id = $2), \
                 $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(Uuid::new_v4())
        .bind(item)
        .bind(e.kind)
        .bind(e.actor)
        .bind(e.from)
        .bind(e.to)
        .bind(e.reason)
        .bind(now),
    )
    .await?;
    Ok(())
}

/// Records `c` and routes it to a team's queue, in the caller's
/// transaction; a contact id already recorded changes nothing (a job
/// committed again, a retried request). Returns whether it was new.
pub async fn record_contact(
    conn: &mut dyn Conn,
    c: &NewContact,
    now: OffsetDateTime,
) -> Result<bool> {
    let inserted = conn
        .execute(
            Query::new(
                "INSERT INTO desk_contacts (id, customer_id, customer_name, site_id, asset_id, \
                     job_id, channel, direction, category, summary, logged_by, source, \
                     device_time, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(c.id)
            .bind(c.customer_id)
            .bind(c.customer_name.as_str())
            .bind(c.site_id)
            .bind(c.asset_id)
            .bind(c.job_id)
            .bind(c.channel.as_str())
            .bind(c.direction.as_str())
            .bind(c.category.as_str())
            .bind(c.summary.as_str())
            .bind(c.logged_by)
            .bind(c.source)
            .bind(c.device_time)
            .bind(now),
        )
        .await?;
    if inserted == 0 {
        return Ok(false);
    }
    let contract = match c.customer_id {
        Some(customer) => {
            let under = conn
                .exists(
                    Query::new(
                        "SELECT 1 FROM assets WHERE customer_id = $1 \
                         AND contract_ref IS NOT NULL AND contract_ref <> ''",
                    )
                    .bind(customer),
                )
                .await?;
            if under {
                ContractStatus::UnderContract
            } else {
                ContractStatus::None
            }
        }
        None => ContractStatus::None,
    };
    let (team, priority) = routing_in(conn)
        .await?
        .route(c.category, contract, &c.summary);
    let item = Uuid::new_v4();
    conn.execute(
        Query::new(
            "INSERT INTO desk_items (id, contact_id, team, state, priority, due_at, escalated, \
                 created_at, updated_at) VALUES ($1, $2, $3, 'new', $4, $5, $6, $7, $7)",
        )
        .bind(item)
        .bind(c.id)
        .bind(team)
        .bind(priority)
        .bind(now + priority.sla())
        .bind(false)
        .bind(now),
    )
    .await?;
    let routed = Entry {
        kind: HistoryKind::Routed,
        actor: c.logged_by,
        from: None,
        to: Some(team.as_str()),
        reason: None,
    };
    history_entry(conn, item, routed, now).await?;
    tracing::info!(%item, team = team.as_str(), category = c.category.as_str(), "contact routed");
    Ok(true)
}

/// Why a system item cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum SystemItemError {
    /// The item is malformed (the caller's bug: an empty reference, a card
    /// number in the summary, ...).
    #[error("invalid system item: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the queue item for a system source (an unpaid invoice, a contract
/// due for renewal) in the caller's transaction, once per source: when
/// the source has an item already (open or resolved) it is left as it is
/// and its id returned, so a re-run of the housekeeping never duplicates
/// it. Two transactions opening the same source at once: the unique
/// `(source_kind, source_ref)` makes one of them insert and the other
/// find it. The item is due after its priority's SLA, like a contact's.
pub async fn open_system_item(
    conn: &mut dyn Conn,
    s: &SystemItem,
    now: OffsetDateTime,
) -> Result<SystemItemOpened, SystemItemError> {
    s.check().map_err(SystemItemError::Invalid)?;
    let item = Uuid::new_v4();
    let inserted = conn
        .execute(
            Query::new(
                "INSERT INTO desk_items (id, source_kind, source_ref, customer_id, customer_name, \
                     category, summary, team, state, priority, due_at, escalated, created_at, \
                     updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'new', $9, $10, $11, $12, $12) \
                 ON CONFLICT (source_kind, source_ref) DO NOTHING",
            )
            .bind(item)
            .bind(s.source.kind)
            .bind(s.source.reference.as_str())
            .bind(s.customer_id)
            .bind(s.customer_name.trim())
            .bind(s.category.as_str())
            .bind(s.summary.trim())
            .bind(s.team)
            .bind(s.priority)
            .bind(now + s.priority.sla())
            .bind(false)
            .bind(now),
        )
        .await?;
    if inserted == 0 {
        let row = conn
            .fetch_one(
                Query::new("SELECT id FROM desk_items WHERE source_kind = $1 AND source_ref = $2")
                    .bind(s.source.kind)
                    .bind(s.source.reference.as_str()),
            )
            .await?;
        return Ok(SystemItemOpened {
            item_id: row.get("id")?,
            created: false,
        });
    }
    let why = format!("{}:{}", s.source.kind, s.source.reference);
    let routed = Entry {
        kind: HistoryKind::Routed,
        actor: None,
        from: None,
        to: Some(s.team.as_str()),
        reason: Some(&why),
    };
    history_entry(conn, item, routed, now).await?;
    tracing::info!(%item, team = s.team.as_str(), source = s.source.kind.as_str(),
        "system item opened");
    Ok(SystemItemOpened {
        item_id: item,
        created: true,
    })
}

/// Resolves a system source's item in the caller's transaction (the
/// invoice was settled, the contract renewed), with a history entry by
/// nobody and `reason`. Returns whether it changed anything: false when
/// the source has no item or it is resolved already.
pub async fn resolve_system_item(
    conn: &mut dyn Conn,
    source: &ItemSource,
    reason: &str,
    now: OffsetDateTime,
) -> Result<bool> {
    let lock = conn.dialect().locked(
        "SELECT id, state FROM desk_items WHERE source_kind = $1 AND source_ref = $2",
        "FOR UPDATE",
    );
    let Some(row) = conn
        .fetch_optional(lock.bind(source.kind).bind(source.reference.as_str()))
        .await?
    else {
        return Ok(false);
    };
    let item: Uuid = row.get("id")?;
    let before: ItemState = row.get("state")?;
    if before == ItemState::Resolved {
        return Ok(false);
    }
    conn.execute(
        Query::new("UPDATE desk_items SET state = 'resolved', updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(item),
    )
    .await?;
    let entry = Entry {
        kind: HistoryKind::State,
        actor: None,
        from: Some(before.as_str()),
        to: Some(ItemState::Resolved.as_str()),
        reason: Some(reason),
    };
    history_entry(conn, item, entry, now).await?;
    Ok(true)
}

#[async_trait]
impl DeskStore for SqlStore {
    async fn routing(&self) -> Result<Routing> {
        let mut tx = self.db().begin().await?;
        let r = routing_in(tx.as_mut()).await?;
        tx.commit().await?;
        Ok(r)
    }

    async fn set_routing(&self, routing: &Routing) -> Result<()> {
        let mut tx = self.db().begin().await?;
        tx.execute(Query::new("DELETE FROM desk_rules")).await?;
        for (i, r) in routing.rules.iter().enumerate() {
            tx.execute(
                Query::new(
                    "INSERT INTO desk_rules (position, category, contract_status, keyword, team, \
                         priority) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(i64::try_from(i).unwrap_or(i64::MAX))
                .bind(r.category.map(ContactCategory::as_str))
                .bind(r.contract_status)
                .bind(r.keyword.as_deref().map(str::trim))
                .bind(r.team)
                .bind(r.priority),
            )
            .await?;
        }
        tx.execute(
            Query::new("UPDATE desk_settings SET default_team = $1 WHERE id = 1")
                .bind(routing.default_team),
        )
        .await?;
        tx.commit().await
    }

    async fn teams(&self) -> Result<Vec<TeamInfo>> {
        let sups = self
            .db()
            .fetch_all(Query::new(
                "SELECT t.team, t.supervisor_id, COALESCE(u.display_name, u.username) AS name \
                 FROM desk_teams t LEFT JOIN users u ON u.id = t.supervisor_id",
            ))
            .await?;
        let members = self
            .db()
            .fetch_all(Query::new(
                "SELECT m.team, m.user_id, COALESCE(u.display_name, u.username) AS name \
                 FROM desk_team_members m JOIN users u ON u.id = m.user_id \
                 ORDER BY m.team, name",
            ))
            .await?;
        let mut out = Vec::new();
        for team in Team::ALL {
            let mut info = TeamInfo {
                team,
                supervisor: None,
                members: Vec::new(),
            };
            for r in &sups {
                if r.get::<Team>("team")? == team
                    && let Some(id) = r.get::<Option<UserId>>("supervisor_id")?
                {
                    info.supervisor = Some((id, r.get("name")?));
                }
            }
            for r in &members {
                if r.get::<Team>("team")? == team {
                    info.members.push((r.get("user_id")?, r.get("name")?));
                }
            }
            out.push(info);
        }
        Ok(out)
    }

    async fn set_team(
        &self,
        team: Team,
        supervisor: Option<UserId>,
        members: &[UserId],
    ) -> Result<()> {
        let mut tx = self.db().begin().await?;
        tx.execute(
            Query::new("UPDATE desk_teams SET supervisor_id = $1 WHERE team = $2")
                .bind(supervisor)
                .bind(team),
        )
        .await?;
        tx.execute(Query::new("DELETE FROM desk_team_members WHERE team = $1").bind(team))
            .await?;
        for m in members {
            tx.execute(
                Query::new(
                    "INSERT INTO desk_team_members (team, user_id) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(team)
                .bind(*m),
            )
            .await?;
        }
        tx.commit().await
    }

    async fn teams_of(&self, user: UserId) -> Result<(Vec<Team>, Vec<Team>)> {
        let member = self
            .db()
            .fetch_all(
                Query::new("SELECT team FROM desk_team_members WHERE user_id = $1 ORDER BY team")
                    .bind(user),
            )
            .await?
            .iter()
            .map(|r| r.get("team"))
            .collect::<Result<Vec<Team>>>()?;
        let supervised = self
            .db()
            .fetch_all(
                Query::new("SELECT team FROM desk_teams WHERE supervisor_id = $1 ORDER BY team")
                    .bind(user),
            )
            .await?
            .iter()
            .map(|r| r.get("team"))
            .collect::<Result<Vec<Team>>>()?;
        Ok((member, supervised))
    }

    async fn log_contact(&self, c: &NewContact, now: OffsetDateTime) -> Result<()> {
        let mut tx = self.db().begin().await?;
        record_contact(tx.as_mut(), c, now).await?;
        tx.commit().await
    }

    async fn open_system_item(
        &self,
        item: &SystemItem,
        now: OffsetDateTime,
    ) -> Result<SystemItemOpened, SystemItemError> {
        let mut tx = self.db().begin().await?;
        let opened = open_system_item(tx.as_mut(), item, now).await?;
        tx.commit().await?;
        Ok(opened)
    }

    async fn resolve_system_item(
        &self,
        source: &ItemSource,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.db().begin().await?;
        let changed = resolve_system_item(tx.as_mut(), source, reason, now).await?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn system_item(&self, source: &ItemSource) -> Result<Option<Item>> {
        let mut q = QueryBuilder::new(ITEM_COLS);
        q.push(" WHERE i.source_kind = ")
            .push_bind(source.kind)
            .push(" AND i.source_ref = ")
            .push_bind(source.reference.as_str());
        self.db()
            .fetch_optional(q.build())
            .await?
            .as_ref()
            .map(item_from)
            .transpose()
    }

    async fn items(&self, filter: &ItemFilter) -> Result<Vec<Item>> {
        let mut q = QueryBuilder::new(ITEM_COLS);
        q.push(" WHERE 1 = 1");
        if let Some(teams) = &filter.teams {
            if teams.is_empty() {
                return Ok(Vec::new());
            }
            q.push(" AND i.team IN (")
                .push_list(teams.iter().copied())
                .push(")");
        }
        if filter.escalated_only {
            q.push(" AND i.escalated = ").push_bind(true);
        }
        if !filter.include_resolved {
            q.push(" AND i.state <> 'resolved'");
        }
        q.push(" ORDER BY i.due_at, i.id LIMIT 500");
        self.db()
            .fetch_all(q.build())
            .await?
            .iter()
            .map(item_from)
            .collect()
    }

    async fn item(&self, id: Uuid) -> Result<Item> {
        let mut q = QueryBuilder::new(ITEM_COLS);
        q.push(" WHERE i.id = ").push_bind(id);
        item_from(&self.db().fetch_one(q.build()).await?)
    }

    async fn change_item(
        &self,
        id: Uuid,
        actor: UserId,
        change: &ItemChange,
        now: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.db().begin().await?;
        // PostgreSQL: the item's row lock queues concurrent changes, so
        // each reads the state the one before it left and the history's
        // sequence numbers never collide. (SQLite's write transaction
        // already holds the database.)
        let lock = tx.dialect().locked(
            "SELECT team, owner_id, state, priority, created_at FROM desk_items WHERE id = $1",
            "FOR UPDATE",
        );
        let row = tx
            .fetch_optional(lock.bind(id))
            .await?
            .ok_or(StoreError::NotFound)?;
        let (kind, from, to, reason, q) = match change {
            ItemChange::Assign(owner) => {
                let before: Option<UserId> = row.get("owner_id")?;
                (
                    HistoryKind::Assigned,
                    before.map(|u| u.to_string()),
                    owner.map(|u| u.to_string()),
                    None,
                    Query::new(
                        "UPDATE desk_items SET owner_id = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(*owner),
                )
            }
            ItemChange::State(s) => {
                let before: ItemState = row.get("state")?;
                (
                    HistoryKind::State,
                    Some(before.as_str().to_owned()),
                    Some(s.as_str().to_owned()),
                    None,
                    Query::new("UPDATE desk_items SET state = $1, updated_at = $2 WHERE id = $3")
                        .bind(*s),
                )
            }
            ItemChange::Escalate(why) => (
                HistoryKind::Escalated,
                None,
                None,
                Some(why.as_str()),
                Query::new(
                    "UPDATE desk_items SET escalated = TRUE, escalation_reason = $1, \
                         updated_at = $2 WHERE id = $3",
                )
                .bind(why.as_str()),
            ),
            ItemChange::Move(team) => {
                let before: Team = row.get("team")?;
                (
                    HistoryKind::Moved,
                    Some(before.as_str().to_owned()),
                    Some(team.as_str().to_owned()),
                    None,
                    // A new team's queue: nobody owns it there yet.
                    Query::new(
                        "UPDATE desk_items SET team = $1, owner_id = NULL, updated_at = $2 \
                         WHERE id = $3",
                    )
                    .bind(*team),
                )
            }
            ItemChange::Priority(p) => {
                let before: DeskPriority = row.get("priority")?;
                let created: OffsetDateTime = row.get("created_at")?;
                let due = created + p.sla();
                // A due time still ahead may be missed again: it alerts
                // (once) when it is.
                let rearm = due > now;
                (
                    HistoryKind::Priority,
                    Some(before.as_str().to_owned()),
                    Some(p.as_str().to_owned()),
                    None,
                    Query::new(
                        "UPDATE desk_items SET priority = $1, due_at = $2, \
                             breach_alerted_at = CASE WHEN $3 THEN NULL ELSE breach_alerted_at END, \
                             updated_at = $4 WHERE id = $5",
                    )
                    .bind(*p)
                    .bind(due)
                    .bind(rearm),
                )
            }
        };
        tx.execute(q.bind(now).bind(id)).await?;
        let entry = Entry {
            kind,
            actor: Some(actor),
            from: from.as_deref(),
            to: to.as_deref(),
            reason,
        };
        history_entry(tx.as_mut(), id, entry, now).await?;
        tx.commit().await
    }

    async fn history(&self, id: Uuid) -> Result<Vec<HistoryEntry>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT h.kind, h.actor_id, COALESCE(u.display_name, u.username) AS actor_name, \
                         h.from_value, h.to_value, h.reason, h.at \
                     FROM desk_item_history h LEFT JOIN users u ON u.id = h.actor_id \
                     WHERE h.item_id = $1 ORDER BY h.seq",
                )
                .bind(id),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryEntry {
                    kind: r.get("kind")?,
                    actor_id: r.get("actor_id")?,
                    actor_name: r.get("actor_name")?,
                    from_value: r.get("from_value")?,
                    to_value: r.get("to_value")?,
                    reason: r.get("reason")?,
                    at: r.get("at")?,
                })
            })
            .collect()
    }

    async fn customer_contacts(&self, customer: Uuid) -> Result<Vec<Contact>> {
        let mut q = QueryBuilder::new(ITEM_COLS);
        q.push(" WHERE c.customer_id = ")
            .push_bind(customer)
            .push(" ORDER BY c.created_at DESC, c.id LIMIT 500");
        self.db()
            .fetch_all(q.build())
            .await?
            .iter()
            .map(contact_from)
            .collect()
    }

    async fn alert_breaches(&self, now: OffsetDateTime, max_attempts: u32) -> Result<usize> {
        let mut tx = self.db().begin().await?;
        let due = tx
            .fetch_all(
                Query::new(
                    "SELECT i.id, u.email FROM desk_items i \
                     JOIN desk_teams t ON t.team = i.team \
                     LEFT JOIN users u ON u.id = t.supervisor_id \
                     WHERE i.breach_alerted_at IS NULL AND i.state <> 'resolved' \
                         AND i.due_at < $1 \
                     ORDER BY i.due_at LIMIT 200",
                )
                .bind(now),
            )
            .await?;
        let mut alerted = 0;
        for r in &due {
            let item: Uuid = r.get("id")?;
            // Marked first, guarded: of two server processes sweeping at
            // once, one marks it and only that one queues the alert.
            let marked = tx
                .execute(
                    Query::new(
                        "UPDATE desk_items SET breach_alerted_at = $1 \
                         WHERE id = $2 AND breach_alerted_at IS NULL",
                    )
                    .bind(now)
                    .bind(item),
                )
                .await?;
            if marked == 0 {
                continue;
            }
            alerted += 1;
            let Some(email) = r.get::<Option<String>>("email")? else {
                tracing::warn!(%item, "SLA breached: the team has no supervisor with an email");
                continue;
            };
            let key = format!("desk-sla-{item}");
            enqueue(
                tx.as_mut(),
                &NewMessage {
                    id: Uuid::new_v4(),
                    kind: MessageKind::DeskAlert,
                    channel: Channel::Email,
                    recipient: &email,
                    request_id: None,
                    desk_item_id: Some(item),
                    idempotency_key: &key,
                    max_attempts,
                    send_after: now,
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(alerted)
    }
}

/// The contacts a job's commit logged, projected into the contact log.
#[derive(Debug)]
pub struct ContactProjection {
    job_id: JobId,
    contacts: Vec<NewContact>,
}

#[async_trait]
impl Projection for ContactProjection {
    fn check(&self, doc: &DocId) -> Result<()> {
        match doc {
            DocId::Job(id) if *id == self.job_id => Ok(()),
            doc => Err(StoreError::other(format!(
                "contact projection for job {} committed with document {doc}",
                self.job_id
            ))),
        }
    }

    async fn write(&self, tx: &mut dyn Tx, now: OffsetDateTime) -> Result<()> {
        for c in &self.contacts {
            record_contact(&mut *tx, c, now).await?;
        }
        Ok(())
    }
}

/// Projects every contact a technician logged on a job (idempotent by the
/// contact's line id: a contact already in the log is left alone).
pub struct ContactProjector;

impl JobProjector for ContactProjector {
    fn project(&self, c: &JobCommit<'_>) -> Option<Arc<dyn Projection>> {
        let records = c.job.records(keys::CONTACTS);
        if records.is_empty() {
            return None;
        }
        let text = |r: &fieldsync_core::job::FieldRecord, k: &str| {
            r.get(k)
                .and_then(|v| v.as_text())
                .unwrap_or_default()
                .to_owned()
        };
        let contacts = records
            .iter()
            .filter_map(|r| {
                let by = match r.get(keys::BY) {
                    Some(fieldsync_core::job::FieldValue::User(u)) => Some(*u),
                    _ => None,
                };
                let device_time = match r.get(keys::DEVICE_TIME) {
                    Some(fieldsync_core::job::FieldValue::Time(t)) => {
                        OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000).ok()
                    }
                    _ => None,
                };
                Some(NewContact {
                    id: r.id.as_uuid(),
                    customer_id: c.job.registry.customer,
                    customer_name: c.job.customer.name.clone(),
                    site_id: c.job.registry.site,
                    asset_id: None,
                    job_id: Some(c.job.id),
                    channel: ContactChannel::parse(&text(r, keys::CHANNEL))?,
                    direction: ContactDirection::parse(&text(r, keys::DIRECTION))?,
                    category: ContactCategory::parse(&text(r, keys::CATEGORY))?,
                    summary: text(r, keys::SUMMARY),
                    logged_by: by,
                    source: Source::Device,
                    device_time,
                })
            })
            .collect();
        Some(Arc::new(ContactProjection {
            job_id: c.job.id,
            contacts,
        }))
    }
}
