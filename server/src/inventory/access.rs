//! Who may see and move stock where.
//!
//! - admin: every location;
//! - inventory manager, supervisor: the depots they staff (`depot_staff`)
//!   and those depots' vans; they may move stock between them;
//! - technician: only their own van, read-only (their consumption arrives
//!   through sync);
//! - dispatcher: nothing.
//!
//! Routes answer 404 for a location outside the caller's scope (so ids of
//! other depots are not confirmed) and 403 for an action the role may not
//! take at all.

use std::collections::BTreeSet;

use fieldsync_core::{LocationId, Role, UserId};

use super::model::{Location, LocationKind};
use super::store::InventoryStore;
use crate::store::Result;

#[derive(Clone, Debug)]
pub struct Scope {
    pub role: Role,
    all: bool,
    /// Locations visible (and, for managers, movable).
    pub locations: BTreeSet<LocationId>,
}

impl Scope {
    pub async fn of(store: &dyn InventoryStore, user: UserId, role: Role) -> Result<Scope> {
        let locations = store.locations().await?;
        let staff = if matches!(role, Role::InventoryManager | Role::Supervisor) {
            store.depot_staff().await?
        } else {
            Vec::new()
        };
        Ok(Self::from_rows(user, role, &locations, &staff))
    }

    pub fn from_rows(
        user: UserId,
        role: Role,
        locations: &[Location],
        staff: &[(UserId, LocationId)],
    ) -> Scope {
        let mut visible = BTreeSet::new();
        match role {
            Role::Admin => visible.extend(locations.iter().map(|l| l.id)),
            Role::InventoryManager | Role::Supervisor => {
                let depots: BTreeSet<LocationId> = staff
                    .iter()
                    .filter(|(u, _)| *u == user)
                    .map(|(_, d)| *d)
                    .collect();
                visible.extend(
                    locations
                        .iter()
                        .filter(|l| {
                            depots.contains(&l.id)
                                || l.depot_id.is_some_and(|d| depots.contains(&d))
                        })
                        .map(|l| l.id),
                );
            }
            Role::Technician => visible.extend(
                locations
                    .iter()
                    .filter(|l| l.kind == LocationKind::Van && l.technician_id == Some(user))
                    .map(|l| l.id),
            ),
            Role::Dispatcher => {}
        }
        Scope {
            role,
            all: role == Role::Admin,
            locations: visible,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.all
    }

    pub fn can_see(&self, l: LocationId) -> bool {
        self.locations.contains(&l)
    }

    /// Whether this role records movements at all.
    pub fn may_move(&self) -> bool {
        matches!(
            self.role,
            Role::Admin | Role::InventoryManager | Role::Supervisor
        )
    }

    pub fn can_move(&self, l: LocationId) -> bool {
        self.may_move() && self.can_see(l)
    }
}
