//! Who is acting: roles, what each may do ([`Permission`], [`Role::can`]),
//! and the principal a change is checked against.
//!
//! This is the one definition of a role. Adding one means a variant here,
//! its name, its permissions (the compiler points at each `match`), the
//! server's scope rules (`server/src/authz/scope.rs`: which depots, vans
//! and jobs it sees) and a migration pair for the `users.role` check.
//!
//! ```
//! use fieldsync_core::role::{Permission, Role};
//! assert!(Role::Dispatcher.can(Permission::ManageJobs));
//! assert!(!Role::Technician.can(Permission::ManageJobs));
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::InvalidValue;
use crate::ids::UserId;

/// What a user may do. The server reads it from SQL, never from a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Technician,
    Dispatcher,
    InventoryManager,
    Supervisor,
    Admin,
}

/// Something a route, a console page or the validator asks of a role.
///
/// A permission says what kind of thing a role may do; which objects it may
/// do it to (which jobs, depots, vans) is the server's scope service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Be assigned jobs and a van, and work those jobs in the field: the
    /// technician's visit actions and the lines they own.
    WorkAssignedJobs,
    /// Create, edit, assign and cancel jobs (the office).
    ManageJobs,
    /// Replace the price book.
    EditPriceBook,
    /// Create depots and vans, assign vans to technicians, staff depots.
    ManageLocations,
    /// Create and change the parts catalog.
    EditParts,
    /// Record stock movements and set reorder points at the locations in
    /// scope; use the inventory console.
    ManageStock,
    /// Read customer feedback results and follow-ups of the depots in scope.
    ViewFeedback,
    /// Read every outbound message (they hold every recipient's contact).
    ViewOutbox,
    /// Revoke any user's device (everyone may revoke their own).
    RevokeAnyDevice,
    /// Read customers, their sites, contacts and installed assets (which
    /// ones: the scope service decides, by jobs or by depot).
    ViewCustomers,
    /// Create and change customers, sites, contacts and assets.
    ManageCustomers,
    /// Create, disable and re-enable users, reset their passwords, set
    /// their role and depots, and see every device.
    ManageUsers,
    /// Approve or decline refunds above the giver's limit (the approvals queue).
    ApproveRefunds,
    /// Work the service desk: log contacts, see and answer the queues of
    /// the teams the user belongs to or supervises (the server's desk
    /// decides which).
    UseServiceDesk,
    /// Set the desk's teams (members, supervisors) and routing rules.
    ManageDesk,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Technician,
        Role::Dispatcher,
        Role::InventoryManager,
        Role::Supervisor,
        Role::Admin,
    ];

    /// Everything this role may do.
    pub const fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Technician => &[WorkAssignedJobs, ViewCustomers],
            Role::Dispatcher => &[ManageJobs, ViewCustomers, ManageCustomers, UseServiceDesk],
            Role::InventoryManager => &[EditParts, ManageStock, UseServiceDesk],
            Role::Supervisor => &[
                ManageJobs,
                ManageStock,
                ViewFeedback,
                RevokeAnyDevice,
                ViewCustomers,
                ManageCustomers,
                ApproveRefunds,
                UseServiceDesk,
            ],
            Role::Admin => &[
                ManageJobs,
                EditPriceBook,
                ManageLocations,
                EditParts,
                ManageStock,
                ViewFeedback,
                ViewOutbox,
                RevokeAnyDevice,
                ViewCustomers,
                ManageCustomers,
                ManageUsers,
                ApproveRefunds,
                UseServiceDesk,
                ManageDesk,
            ],
        }
    }

    /// Whether this role may do `p`.
    pub fn can(self, p: Permission) -> bool {
        self.permissions().contains(&p)
    }

    /// Office roles plan and edit jobs on behalf of the company.
    pub fn is_office(self) -> bool {
        self.can(Permission::ManageJobs)
    }

    /// Field roles work the jobs assigned to them (the technician's side of a job).
    pub fn is_field(self) -> bool {
        self.can(Permission::WorkAssignedJobs)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Technician => "technician",
            Role::Dispatcher => "dispatcher",
            Role::InventoryManager => "inventory_manager",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                InvalidValue::new("role", format!("must be one of {}", names.join(", ")))
            })
    }
}

/// The authenticated user a set of changes is attributed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Principal {
    pub user: UserId,
    pub role: Role,
}

impl Principal {
    pub fn new(user: UserId, role: Role) -> Self {
        Self { user, role }
    }

    /// Whether this principal's role may do `p`.
    pub fn can(&self, p: Permission) -> bool {
        self.role.can(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        let err = "root".parse::<Role>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid role: must be one of technician, dispatcher, inventory_manager, supervisor, admin"
        );
    }

    /// The table as the product describes it (README's "Who" column).
    #[test]
    fn permissions_follow_the_product() {
        use Permission::*;
        let who = |p: Permission| -> Vec<&str> {
            Role::ALL
                .into_iter()
                .filter(|r| r.can(p))
                .map(Role::as_str)
                .collect()
        };
        assert_eq!(who(WorkAssignedJobs), ["technician"]);
        assert_eq!(who(ManageJobs), ["dispatcher", "supervisor", "admin"]);
        assert_eq!(who(EditPriceBook), ["admin"]);
        assert_eq!(who(ManageLocations), ["admin"]);
        assert_eq!(who(EditParts), ["inventory_manager", "admin"]);
        assert_eq!(
            who(ManageStock),
            ["inventory_manager", "supervisor", "admin"]
        );
        assert_eq!(who(ViewFeedback), ["supervisor", "admin"]);
        assert_eq!(who(ViewOutbox), ["admin"]);
        assert_eq!(who(RevokeAnyDevice), ["supervisor", "admin"]);
        assert_eq!(
            who(ViewCustomers),
            ["technician", "dispatcher", "supervisor", "admin"]
        );
        assert_eq!(who(ManageCustomers), ["dispatcher", "supervisor", "admin"]);
        assert_eq!(
            who(UseServiceDesk),
            ["dispatcher", "inventory_manager", "supervisor", "admin"]
        );
        assert_eq!(who(ManageDesk), ["admin"]);
        // A role is either office or field for jobs, never both.
        assert!(Role::ALL.iter().all(|r| !(r.is_office() && r.is_field())));
    }
}
