//! The job lifecycle and how concurrent status writes are resolved.
//!
//! ```text
//! scheduled -> travelling -> on_site -> completed
//!                  |             \----> unable_to_complete
//!                  \-------------------> unable_to_complete
//! any non-final status -> cancelled (office only)
//! ```
//!
//! **Conflict rule.** When a technician and the office write the status
//! concurrently, automerge keeps every value. The effective status is the one
//! with the highest [`Status::precedence`]: facts recorded in the field beat
//! office plans, and later lifecycle steps beat earlier ones:
//! `completed > unable_to_complete > cancelled > on_site > travelling > scheduled`.
//! The other values stay visible as `status_conflicts` so the office sees
//! that, say, it cancelled a job the technician had already completed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::InvalidValue;
use crate::role::Role;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Scheduled,
    Travelling,
    OnSite,
    Completed,
    UnableToComplete,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Scheduled,
        Status::Travelling,
        Status::OnSite,
        Status::Completed,
        Status::UnableToComplete,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::Travelling => "travelling",
            Status::OnSite => "on_site",
            Status::Completed => "completed",
            Status::UnableToComplete => "unable_to_complete",
            Status::Cancelled => "cancelled",
        }
    }

    /// No further lifecycle step is possible.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Completed | Status::UnableToComplete | Status::Cancelled
        )
    }

    /// Rank used to pick the effective status among concurrent values (see module docs).
    pub fn precedence(self) -> u8 {
        match self {
            Status::Scheduled => 0,
            Status::Travelling => 1,
            Status::OnSite => 2,
            Status::Cancelled => 3,
            Status::UnableToComplete => 4,
            Status::Completed => 5,
        }
    }

    /// Whether `role` may move a job from `self` to `to`.
    pub fn can_move(self, to: Status, role: Role) -> bool {
        use Status::*;
        if role.is_field() {
            matches!(
                (self, to),
                (Scheduled, Travelling)
                    | (Travelling, OnSite)
                    | (OnSite, Completed)
                    | (OnSite, UnableToComplete)
                    | (Travelling, UnableToComplete)
            )
        } else if role.is_office() {
            to == Cancelled && !self.is_final()
        } else {
            false
        }
    }
}

/// Picks the effective status among concurrent values; returns it and the losers.
pub fn resolve(values: &[Status]) -> Option<(Status, Vec<Status>)> {
    let winner = values.iter().copied().max_by_key(|s| s.precedence())?;
    let mut losers: Vec<Status> = values.iter().copied().filter(|s| *s != winner).collect();
    losers.sort();
    losers.dedup();
    Some((winner, losers))
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| InvalidValue::new("status", "unknown status"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technician_follows_the_lifecycle() {
        use Status::*;
        let t = Role::Technician;
        assert!(Scheduled.can_move(Travelling, t));
        assert!(Travelling.can_move(OnSite, t));
        assert!(OnSite.can_move(Completed, t));
        assert!(!Scheduled.can_move(Completed, t));
        assert!(!OnSite.can_move(Cancelled, t));
        assert!(!Completed.can_move(OnSite, t));
    }

    #[test]
    fn only_office_cancels_and_never_a_final_job() {
        use Status::*;
        assert!(OnSite.can_move(Cancelled, Role::Dispatcher));
        assert!(!Completed.can_move(Cancelled, Role::Dispatcher));
        assert!(!Scheduled.can_move(Travelling, Role::Dispatcher));
        assert!(!Scheduled.can_move(Cancelled, Role::InventoryManager));
    }

    #[test]
    fn completed_beats_cancelled_and_on_site() {
        use Status::*;
        let (winner, losers) = resolve(&[Cancelled, Completed, OnSite]).unwrap();
        assert_eq!(winner, Completed);
        assert_eq!(losers, vec![OnSite, Cancelled]);
        assert_eq!(resolve(&[]), None);
    }
}
