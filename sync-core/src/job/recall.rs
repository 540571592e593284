//! Product recalls on the job document (issue 15 item 4).
//!
//! Two fields, both maps written whole (so no container, no schema version):
//!
//! - `recall`: the campaign a job is for, written by the office (the server,
//!   when a campaign opens or flags the job). The technician reads it
//!   offline: reason, what to do (inspect, repair, replace) and any
//!   compensation to offer.
//! - `recall_remedy`: what the technician did about it, in their name: a
//!   temporary or permanent replacement (the serials fitted instead), the
//!   committed date of the permanent one when the replacement is temporary,
//!   and any value-added service given. Written again whole when the
//!   permanent replacement is fitted.
//!
//! Their readers hold the rules (a temporary replacement needs a committed
//! date, ...), so the validator enforces them on forged changes too.

use serde::{Deserialize, Serialize};
use time::Date;

use super::keys as k;
use crate::error::SchemaError;
use crate::hydrated::MapRef;
use crate::ids::{Timestamp, UserId};

codes!(
    /// What a campaign asks be done to each affected unit.
    RecallAction { Inspect = "inspect", Repair = "repair", Replace = "replace" }
);

/// The recall a job is for, as the office wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallNotice {
    /// The campaign's id on the server.
    pub campaign: uuid::Uuid,
    pub reason: String,
    pub remedy: RecallAction,
    /// A compensation offer to make the customer (a value-added service).
    #[serde(default)]
    pub compensation: Option<String>,
}

codes!(
    /// The kind of replacement a remedy fitted.
    Replacement {
        /// Inspected or repaired in place: nothing replaced.
        None = "none",
        /// A stand-in until the permanent one comes (by the committed date).
        Temporary = "temporary",
        Permanent = "permanent",
    }
);

/// What the technician recorded as the recall's remedy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallRemedy {
    pub replacement: Replacement,
    /// The replacement units' serials (none when nothing was replaced).
    pub serials: Vec<String>,
    /// When the permanent replacement is promised (a temporary one only).
    pub committed_date: Option<Date>,
    /// A value-added service given as compensation.
    pub service: Option<String>,
    pub by: UserId,
    pub device_time: Timestamp,
}

/// The most replacement serials one remedy lists.
pub const MAX_REPLACEMENT_SERIALS: usize = 100;

/// The rules a remedy keeps, whoever wrote it: `Err` names what is wrong.
pub fn check_remedy(
    replacement: Replacement,
    serials: &[String],
    committed_date: Option<Date>,
) -> Result<(), &'static str> {
    if serials.len() > MAX_REPLACEMENT_SERIALS {
        return Err("at most 100 replacement serials");
    }
    if serials.iter().any(|s| s.trim().is_empty() || s.len() > 100) {
        return Err("replacement serials have 1-100 characters");
    }
    match replacement {
        Replacement::None if !serials.is_empty() => {
            Err("no replacement: list no replacement serials")
        }
        Replacement::None | Replacement::Permanent if committed_date.is_some() => {
            Err("a committed date is given only for a temporary replacement")
        }
        Replacement::Temporary | Replacement::Permanent if serials.is_empty() => {
            Err("a replacement lists the serials fitted")
        }
        Replacement::Temporary if committed_date.is_none() => {
            Err("a temporary replacement needs the committed date of the permanent one")
        }
        _ => Ok(()),
    }
}

pub(crate) fn read_recall(m: MapRef<'_>) -> Result<RecallNotice, SchemaError> {
    Ok(RecallNotice {
        campaign: m.parsed(k::CAMPAIGN)?,
        reason: m.str(k::REASON)?.to_owned(),
        remedy: RecallAction::parse(m.str(k::REMEDY)?)
            .ok_or_else(|| m.err(k::REMEDY, "expected inspect, repair or replace"))?,
        compensation: m.opt_text(k::COMPENSATION)?,
    })
}

pub(crate) fn read_recall_remedy(m: MapRef<'_>) -> Result<RecallRemedy, SchemaError> {
    let replacement = Replacement::parse(m.str(k::REPLACEMENT)?)
        .ok_or_else(|| m.err(k::REPLACEMENT, "expected none, temporary or permanent"))?;
    let serials = m.str_list(k::SERIALS)?;
    let committed_date = m.opt_date(k::COMMITTED_DATE)?;
    check_remedy(replacement, &serials, committed_date)
        .map_err(|why| m.err(k::REPLACEMENT, why))?;
    Ok(RecallRemedy {
        replacement,
        serials,
        committed_date,
        service: m.opt_text(k::SERVICE)?,
        by: m.parsed(k::BY)?,
        device_time: m.timestamp(k::DEVICE_TIME)?,
    })
}
