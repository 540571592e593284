//! The scope rules and the one scope service: which jobs, depots and vans a
//! principal may see (and, with the matching [`Permission`], act on).
//!
//! Scope comes from SQL (job assignments, van technicians, depot staff),
//! never from document content. [`Scope::of`] needs no I/O; each question
//! about locations reads only what it needs.

use std::collections::BTreeSet;

use fieldsync_core::{LocationId, UserId};
use uuid::Uuid;

use super::{Denied, Permission, Principal, Role};
use crate::app::AppStore;
use crate::inventory::{Location, LocationKind};
use crate::store::Result;

/// Which jobs a role reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobReach {
    None,
    /// The jobs assigned to the user.
    Assigned,
    All,
}

/// Which depots and vans a role reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocationReach {
    None,
    /// The van assigned to the user (read only: its stock arrives by sync).
    OwnVan,
    /// The depots the user staffs (`depot_staff`) and those depots' vans.
    StaffedDepots,
    All,
}

/// Which customers (and their sites, contacts, assets) a role reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomerReach {
    None,
    /// The customers and assets the user's jobs reference.
    OwnJobs,
    /// The customers served by the depots the user staffs.
    StaffedDepots,
    All,
}

/// A role's reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub jobs: JobReach,
    pub locations: LocationReach,
    pub customers: CustomerReach,
}

/// The scope rules: one row per role.
pub const fn rules(role: Role) -> Rules {
    use CustomerReach as C;
    use JobReach as J;
    use LocationReach as L;
    // Dispatchers plan every depot's jobs and staff no depot: they reach
    // every customer, as they reach every job.
    let (jobs, locations, customers) = match role {
        Role::Technician => (J::Assigned, L::OwnVan, C::OwnJobs),
        Role::Dispatcher => (J::All, L::None, C::All),
        Role::InventoryManager => (J::None, L::StaffedDepots, C::None),
        Role::Supervisor => (J::All, L::StaffedDepots, C::StaffedDepots),
        Role::Admin => (J::All, L::All, C::All),
    };
    Rules {
        jobs,
        locations,
        customers,
    }
}

/// Whether `role` may be put on a depot's staff (its location scope comes
/// from the depots it staffs).
pub fn staffs_depots(role: Role) -> bool {
    rules(role).locations == LocationReach::StaffedDepots
}

/// The jobs a principal sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobScope {
    None,
    /// Those assigned to this user.
    Assigned(UserId),
    All,
}

/// The customers a principal sees (with [`Permission::ViewCustomers`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomerScope {
    None,
    /// Those the jobs assigned to this user reference (customers and
    /// assets; a customer's sites and contacts come with it).
    Jobs(UserId),
    /// Those served by these depots.
    Depots(Vec<LocationId>),
    All,
}

/// What a principal may see: the one place routes, console pages and sync
/// ask. Cheap to build (no I/O).
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    principal: Principal,
    rules: Rules,
}

impl Scope {
    pub fn of(principal: Principal) -> Self {
        Self {
            principal,
            rules: rules(principal.role),
        }
    }

    pub fn principal(&self) -> Principal {
        self.principal
    }

    pub fn can(&self, p: Permission) -> bool {
        self.principal.can(p)
    }

    /// 403 unless the role has `p`.
    pub fn require(&self, p: Permission) -> Result<(), Denied> {
        super::require(self.principal, p)
    }

    pub fn jobs(&self) -> JobScope {
        match self.rules.jobs {
            JobReach::None => JobScope::None,
            JobReach::Assigned => JobScope::Assigned(self.principal.user),
            JobReach::All => JobScope::All,
        }
    }

    /// Whether this principal edits the jobs it sees (the office's or the
    /// field's side; the validator decides which fields).
    pub fn writes_jobs(&self) -> bool {
        let role = self.principal.role;
        role.is_office() || role.is_field()
    }

    /// Whether a job assigned to `technician` is visible.
    pub fn sees_job(&self, technician: Option<UserId>) -> bool {
        match self.jobs() {
            JobScope::All => true,
            JobScope::Assigned(me) => technician == Some(me),
            JobScope::None => false,
        }
    }

    /// The customers this principal sees; reads the staffed depots only
    /// for a role that reaches customers through them.
    pub async fn customers(&self, store: &dyn AppStore) -> Result<CustomerScope> {
        Ok(match self.rules.customers {
            CustomerReach::None => CustomerScope::None,
            CustomerReach::OwnJobs => CustomerScope::Jobs(self.principal.user),
            CustomerReach::StaffedDepots => CustomerScope::Depots(
                store
                    .staff_depots(self.principal.user)
                    .await?
                    .into_iter()
                    .map(LocationId::from_uuid)
                    .collect(),
            ),
            CustomerReach::All => CustomerScope::All,
        })
    }

    /// The van whose stock document this principal's devices hold.
    pub async fn own_van(&self, store: &dyn AppStore) -> Result<Option<LocationId>> {
        match self.rules.locations {
            LocationReach::OwnVan => store.technician_van(self.principal.user).await,
            _ => Ok(None),
        }
    }

    /// The depots whose results (customer feedback) this principal sees:
    /// `None` means all of them.
    pub async fn depots(&self, store: &dyn AppStore) -> Result<Option<Vec<Uuid>>> {
        match self.rules.locations {
            LocationReach::All => Ok(None),
            LocationReach::StaffedDepots => {
                Ok(Some(store.staff_depots(self.principal.user).await?))
            }
            LocationReach::OwnVan | LocationReach::None => Ok(Some(Vec::new())),
        }
    }

    /// Every location this principal sees.
    pub async fn locations(&self, store: &dyn AppStore) -> Result<Locations> {
        let reach = self.rules.locations;
        if reach == LocationReach::None {
            return Ok(Locations::from_rows(self.principal, reach, &[], &[]));
        }
        let all = store.locations().await?;
        let staffed: Vec<LocationId> = if reach == LocationReach::StaffedDepots {
            store
                .staff_depots(self.principal.user)
                .await?
                .into_iter()
                .map(LocationId::from_uuid)
                .collect()
        } else {
            Vec::new()
        };
        Ok(Locations::from_rows(self.principal, reach, &all, &staffed))
    }
}

/// The depots and vans a principal sees, and whether it may manage their
/// stock (record movements, set reorder points).
#[derive(Clone, Debug)]
pub struct Locations {
    all: bool,
    manage: bool,
    visible: BTreeSet<LocationId>,
}

impl Locations {
    /// Applies `reach` to the company's locations; `staffed` are the depots
    /// the user works for.
    pub fn from_rows(
        principal: Principal,
        reach: LocationReach,
        locations: &[Location],
        staffed: &[LocationId],
    ) -> Self {
        let visible = locations
            .iter()
            .filter(|l| match reach {
                LocationReach::All => true,
                LocationReach::StaffedDepots => {
                    staffed.contains(&l.id) || l.depot_id.is_some_and(|d| staffed.contains(&d))
                }
                LocationReach::OwnVan => {
                    l.kind == LocationKind::Van && l.technician_id == Some(principal.user)
                }
                LocationReach::None => false,
            })
            .map(|l| l.id)
            .collect();
        Self {
            all: reach == LocationReach::All,
            manage: principal.can(Permission::ManageStock),
            visible,
        }
    }

    /// Every location, including ones created after this was read.
    pub fn sees_all(&self) -> bool {
        self.all
    }

    pub fn can_see(&self, l: LocationId) -> bool {
        self.visible.contains(&l)
    }

    /// Whether the role records movements and reorder points at all.
    pub fn may_manage(&self) -> bool {
        self.manage
    }

    pub fn can_manage(&self, l: LocationId) -> bool {
        self.manage && self.can_see(l)
    }

    pub fn ids(&self) -> impl Iterator<Item = LocationId> + '_ {
        self.visible.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(n: u8, kind: LocationKind, depot: Option<u8>, tech: Option<u8>) -> Location {
        Location {
            id: LocationId::from_bytes([n; 16]),
            kind,
            name: format!("l{n}"),
            depot_id: depot.map(|d| LocationId::from_bytes([d; 16])),
            technician_id: tech.map(|t| UserId::from_bytes([t; 16])),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn who(role: Role) -> Principal {
        Principal::new(UserId::from_bytes([9; 16]), role)
    }

    /// Two depots (1, 2), each with a van (11 driven by user 9, 12 by user 8).
    fn company() -> Vec<Location> {
        vec![
            loc(1, LocationKind::Depot, None, None),
            loc(2, LocationKind::Depot, None, None),
            loc(11, LocationKind::Van, Some(1), Some(9)),
            loc(12, LocationKind::Van, Some(2), Some(8)),
        ]
    }

    fn seen(role: Role) -> Vec<u8> {
        let p = who(role);
        let l = Locations::from_rows(
            p,
            rules(role).locations,
            &company(),
            &[LocationId::from_bytes([1; 16])],
        );
        l.ids().map(|id| id.as_uuid().as_bytes()[0]).collect()
    }

    #[test]
    fn each_role_sees_its_locations() {
        assert_eq!(seen(Role::Admin), [1, 2, 11, 12]);
        assert_eq!(seen(Role::Supervisor), [1, 11], "staffed depot and its van");
        assert_eq!(seen(Role::InventoryManager), [1, 11]);
        assert_eq!(seen(Role::Technician), [11], "own van only");
        assert!(seen(Role::Dispatcher).is_empty());
    }

    #[test]
    fn managing_needs_the_permission_and_the_scope() {
        let van = LocationId::from_bytes([11; 16]);
        let other = LocationId::from_bytes([12; 16]);
        for role in Role::ALL {
            let p = who(role);
            let l = Locations::from_rows(p, rules(role).locations, &company(), &[]);
            assert_eq!(l.may_manage(), role.can(Permission::ManageStock), "{role}");
            assert_eq!(
                l.can_manage(van),
                l.may_manage() && l.can_see(van),
                "{role}"
            );
        }
        let tech = who(Role::Technician);
        let l = Locations::from_rows(tech, LocationReach::OwnVan, &company(), &[]);
        assert!(
            l.can_see(van) && !l.can_manage(van),
            "technicians only read their van"
        );
        assert!(!l.can_see(other));
    }

    #[test]
    fn jobs_follow_the_rules() {
        let me = UserId::from_bytes([9; 16]);
        let other = UserId::from_bytes([8; 16]);
        let tech = Scope::of(who(Role::Technician));
        assert_eq!(tech.jobs(), JobScope::Assigned(me));
        assert!(tech.sees_job(Some(me)));
        assert!(!tech.sees_job(Some(other)) && !tech.sees_job(None));
        for role in [Role::Dispatcher, Role::Supervisor, Role::Admin] {
            let s = Scope::of(who(role));
            assert_eq!(s.jobs(), JobScope::All, "{role}");
            assert!(s.sees_job(Some(other)) && s.sees_job(None));
        }
        let im = Scope::of(who(Role::InventoryManager));
        assert_eq!(im.jobs(), JobScope::None);
        assert!(!im.sees_job(Some(me)));
    }

    /// Roles that manage jobs see them all; field roles see theirs: a role
    /// given a job permission without the matching reach is a mistake.
    #[test]
    fn job_reach_matches_job_permissions() {
        for role in Role::ALL {
            let reach = rules(role).jobs;
            if role.is_office() {
                assert_eq!(reach, JobReach::All, "{role}");
            }
            if role.is_field() {
                assert_eq!(reach, JobReach::Assigned, "{role}");
            }
            assert_eq!(
                Scope::of(who(role)).writes_jobs(),
                role.is_office() || role.is_field()
            );
        }
        assert_eq!(rules(Role::InventoryManager).jobs, JobReach::None);
        assert!(staffs_depots(Role::Supervisor) && staffs_depots(Role::InventoryManager));
        assert!(!staffs_depots(Role::Admin) && !staffs_depots(Role::Technician));
    }

    /// A role that may view customers reaches some; one that may not, none.
    #[test]
    fn customer_reach_matches_the_permission() {
        for role in Role::ALL {
            let reach = rules(role).customers;
            assert_eq!(
                reach != CustomerReach::None,
                role.can(Permission::ViewCustomers),
                "{role}"
            );
            if role.is_field() {
                assert_eq!(reach, CustomerReach::OwnJobs, "{role}");
            }
        }
        assert_eq!(
            rules(Role::Supervisor).customers,
            CustomerReach::StaffedDepots
        );
    }
}
