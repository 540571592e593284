//! A recall campaign's values: which serials it names (a list and/or
//! ranges), what it asks be done, and the fingerprint that makes creating
//! it idempotent.

use fieldsync_core::Sku;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::str_enum::str_enum;

str_enum!(
    /// What the campaign asks be done to each affected unit.
    Remedy { Inspect = "inspect", Repair = "repair", Replace = "replace" }
);

str_enum!(
    /// What a technician's remedy replaced (see sync-core's `job::recall`).
    Replacement { None = "none", Temporary = "temporary", Permanent = "permanent" }
);

crate::sql_text!(Remedy, Replacement);

impl From<Remedy> for fieldsync_core::job::RecallAction {
    fn from(r: Remedy) -> Self {
        match r {
            Remedy::Inspect => Self::Inspect,
            Remedy::Repair => Self::Repair,
            Remedy::Replace => Self::Replace,
        }
    }
}

impl From<fieldsync_core::job::Replacement> for Replacement {
    fn from(r: fieldsync_core::job::Replacement) -> Self {
        use fieldsync_core::job::Replacement as R;
        match r {
            R::None => Self::None,
            R::Temporary => Self::Temporary,
            R::Permanent => Self::Permanent,
        }
    }
}

/// Serials from `first` to `last`: the same text but for a run of trailing
/// digits of the same width, compared as numbers (`BX-0100` to `BX-0199`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SerialRange {
    pub first: String,
    pub last: String,
}

/// The most serials and ranges one campaign names.
pub const MAX_SERIALS: usize = 10_000;
pub const MAX_RANGES: usize = 100;
/// Serials have 1-100 characters (as in the ledger).
pub const MAX_SERIAL: usize = 100;

/// `(prefix, digits)` of a serial ending in 1-18 digits.
fn split(serial: &str) -> Option<(&str, &str)> {
    let digits = serial.len() - serial.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits > 18 {
        return None;
    }
    Some(serial.split_at(serial.len() - digits))
}

impl SerialRange {
    /// `Err` saying why the range is not one.
    pub fn check(&self) -> Result<(), String> {
        let bad = |why: &str| Err(format!("range {}..{}: {why}", self.first, self.last));
        let (Some((p1, d1)), Some((p2, d2))) = (split(&self.first), split(&self.last)) else {
            return bad("both ends end in 1-18 digits");
        };
        if p1 != p2 || d1.len() != d2.len() {
            return bad("both ends have the same text before digits of the same width");
        }
        if d1 > d2 {
            return bad("first is after last");
        }
        Ok(())
    }

    pub fn contains(&self, serial: &str) -> bool {
        let (Some((p, d)), Some((p1, d1)), Some((_, d2))) =
            (split(serial), split(&self.first), split(&self.last))
        else {
            return false;
        };
        // Same width: digit strings compare as the numbers they spell.
        p == p1 && d.len() == d1.len() && d1 <= d && d <= d2
    }
}

/// A campaign as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Campaign {
    pub id: Uuid,
    pub sku: Sku,
    pub reason: String,
    pub remedy: Remedy,
    pub compensation: Option<String>,
    pub serials: Vec<String>,
    pub ranges: Vec<SerialRange>,
    pub created_by: fieldsync_core::UserId,
    pub created_at: OffsetDateTime,
}

impl Campaign {
    /// Whether the campaign names `serial` (of its sku).
    pub fn names(&self, serial: &str) -> bool {
        self.serials.iter().any(|s| s == serial) || self.ranges.iter().any(|r| r.contains(serial))
    }

    /// SHA-256 of the content (not the id, author or time): creating the
    /// same id again with the same content is a replay.
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let ranges: Vec<String> = self
            .ranges
            .iter()
            .map(|r| format!("{}\u{1e}{}", r.first, r.last))
            .collect();
        for part in [
            self.sku.to_string(),
            self.reason.clone(),
            self.remedy.as_str().to_owned(),
            self.compensation.clone().unwrap_or_default(),
            self.serials.join("\u{1f}"),
            ranges.join("\u{1f}"),
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }

    /// The id of the job the campaign opens for `asset` (so doing it again
    /// finds that job instead of opening another).
    pub fn job_for(&self, asset: Uuid) -> fieldsync_core::JobId {
        fieldsync_core::JobId::from_uuid(derived(
            b"fieldsync/recall-job/",
            self.id,
            asset.as_bytes(),
        ))
    }

    /// The id of the movement that quarantines one unit.
    pub fn quarantine_movement(&self, serial: &str) -> Uuid {
        derived(b"fieldsync/recall-quarantine/", self.id, serial.as_bytes())
    }
}

fn derived(tag: &[u8], campaign: Uuid, what: &[u8]) -> Uuid {
    let mut h = Sha256::new();
    h.update(tag);
    h.update(campaign.as_bytes());
    h.update(what);
    let d: [u8; 32] = h.finalize().into();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

/// An affected asset and the job that remedies it, with the remedy the
/// job's commit projected and the asset's customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffectedAsset {
    pub asset_id: Uuid,
    pub serial: String,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub depot_id: fieldsync_core::LocationId,
    pub job_id: fieldsync_core::JobId,
    /// Opened by the campaign (`false`: an open job was flagged).
    pub opened: bool,
    pub job_status: Option<fieldsync_core::Status>,
    pub replacement: Option<Replacement>,
    pub committed_date: Option<Date>,
    pub remedied_at: Option<OffsetDateTime>,
}

/// A campaign affecting one asset, and the asset's remedy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetRecallRow {
    pub campaign_id: Uuid,
    pub reason: String,
    pub remedy: Remedy,
    pub created_at: OffsetDateTime,
    pub job_id: fieldsync_core::JobId,
    pub replacement: Option<Replacement>,
    pub committed_date: Option<Date>,
}

/// A stock unit the campaign quarantined, and where it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuarantinedUnit {
    pub sku: Sku,
    pub serial: String,
    pub location_id: fieldsync_core::LocationId,
}

/// An installed asset of the campaign's product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductAsset {
    pub id: Uuid,
    pub serial: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(first: &str, last: &str) -> SerialRange {
        SerialRange {
            first: first.into(),
            last: last.into(),
        }
    }

    #[test]
    fn ranges_compare_trailing_digits_of_one_width() {
        let r = range("BX-0100", "BX-0199");
        assert!(r.check().is_ok());
        for inside in ["BX-0100", "BX-0150", "BX-0199"] {
            assert!(r.contains(inside), "{inside}");
        }
        for outside in [
            "BX-0099", "BX-0200", "BX-150", "BY-0150", "BX-00150", "BX-01A0",
        ] {
            assert!(!r.contains(outside), "{outside}");
        }
        assert!(range("BX-0199", "BX-0100").check().is_err());
        assert!(range("BX-01", "BX-0100").check().is_err());
        assert!(range("BX-01", "BY-02").check().is_err());
        assert!(range("BX", "BX").check().is_err());
    }
}
