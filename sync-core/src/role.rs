//! Who is acting: roles and the principal a change is checked against.

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

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Technician,
        Role::Dispatcher,
        Role::InventoryManager,
        Role::Supervisor,
        Role::Admin,
    ];

    /// Office roles plan and edit jobs on behalf of the company.
    pub fn is_office(self) -> bool {
        matches!(self, Role::Dispatcher | Role::Supervisor | Role::Admin)
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
                InvalidValue::new(
                    "role",
                    "must be one of technician, dispatcher, inventory_manager, supervisor, admin",
                )
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
        assert!("root".parse::<Role>().is_err());
    }
}
