//! Authorization in one place: what a role may do ([`Permission`], answered
//! by [`Role::can`] from sync-core's role table) and which jobs, depots and
//! vans it may do it to (the [`Scope`] service and its rules).
//!
//! Every API route and console page asks the same two questions, in this
//! order:
//!
//! 1. the permission: [`AuthUser::require`](crate::auth::AuthUser::require)
//!    or [`WebUser::require`](crate::web::WebUser::require), a 403 without it;
//! 2. the object: the caller's [`Scope`]; an object outside it is a 404, the
//!    same answer as for one that does not exist, so ids are not confirmed.
//!
//! ```
//! use fieldsync_core::{Principal, Role, UserId};
//! use fieldsync_server::authz::{JobScope, Permission, Scope};
//! let tech = Principal::new(UserId::from_bytes([2; 16]), Role::Technician);
//! let scope = Scope::of(tech);
//! assert!(scope.require(Permission::ManageJobs).is_err()); // 403
//! assert_eq!(scope.jobs(), JobScope::Assigned(tech.user)); // only their jobs
//! assert!(!scope.sees_job(None));                          // an unassigned one: 404
//! ```
//!
//! Adding a role: sync-core's `role.rs` (the variant, its name and its
//! permissions), the rules in [`scope`], and a migration pair for the
//! `users.role` check. See docs/ARCHITECTURE.md.

pub mod scope;

pub use fieldsync_core::role::{Permission, Principal, Role};
pub use scope::{CustomerScope, JobScope, Locations, Scope};

/// A permission the caller's role does not have: 403 on the API and in the
/// console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", refusal(*.0))]
pub struct Denied(pub Permission);

/// Checks that `principal`'s role has `p`.
pub fn require(principal: Principal, p: Permission) -> Result<(), Denied> {
    if principal.can(p) {
        Ok(())
    } else {
        Err(Denied(p))
    }
}

/// What a refused caller reads (never naming roles, so a new role that gains
/// a permission needs no new message).
pub fn refusal(p: Permission) -> &'static str {
    match p {
        Permission::WorkAssignedJobs => "your role does not work jobs in the field",
        Permission::ManageJobs => "your role may not manage jobs",
        Permission::EditPriceBook => "your role may not edit the price book",
        Permission::ManageLocations => "your role may not manage depots and vans",
        Permission::EditParts => "your role may not edit the parts catalog",
        Permission::ManageStock => "your role may not manage stock",
        Permission::ViewFeedback => "your role may not see feedback results",
        Permission::ViewOutbox => "your role may not see outbound messages",
        Permission::RevokeAnyDevice => "your role may not revoke other users' devices",
        Permission::ViewCustomers => "your role may not see customers",
        Permission::ManageCustomers => "your role may not manage customers",
        Permission::ManageUsers => "your role may not manage users",
        Permission::ApproveRefunds => "your role may not approve refunds",
        Permission::UseServiceDesk => "your role does not work the service desk",
        Permission::ManageDesk => "your role may not set the service desk's teams and rules",
    }
}

impl From<Denied> for crate::error::ApiError {
    fn from(d: Denied) -> Self {
        crate::error::ApiError::Forbidden(refusal(d.0))
    }
}

impl From<Denied> for crate::web::WebError {
    fn from(d: Denied) -> Self {
        crate::web::WebError::Forbidden(refusal(d.0))
    }
}
