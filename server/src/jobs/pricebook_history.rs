//! The price book's version history: each version as saved (JSON), who
//! saved it and when (`price_book_versions`), and what changed between two
//! versions, field by field (added, removed, changed with old -> new).

use std::collections::BTreeMap;

use async_trait::async_trait;
use fieldsync_core::UserId;
use fieldsync_core::pricebook::PriceBook;
use serde_json::Value;
use time::OffsetDateTime;

use crate::store::sql::Query;
use crate::store::{Result, SqlStore, StoreError};

/// One saved version.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedVersion {
    pub version: i64,
    pub book: PriceBook,
    /// `None`: the server (its refund limits carried into the book).
    pub saved_by: Option<UserId>,
    pub saved_by_name: Option<String>,
    pub saved_at: OffsetDateTime,
}

#[async_trait]
pub trait PriceBookHistoryStore: Send + Sync {
    /// Records `book` as saved (once per version: a repeat changes nothing).
    async fn record_price_book(
        &self,
        book: &PriceBook,
        saved_by: Option<UserId>,
        now: OffsetDateTime,
    ) -> Result<()>;
    /// The newest `limit` versions, newest first.
    async fn price_book_versions(&self, limit: i64) -> Result<Vec<SavedVersion>>;
}

#[async_trait]
impl PriceBookHistoryStore for SqlStore {
    async fn record_price_book(
        &self,
        book: &PriceBook,
        saved_by: Option<UserId>,
        now: OffsetDateTime,
    ) -> Result<()> {
        let json = serde_json::to_string(book).map_err(StoreError::other)?;
        self.db()
            .execute(
                Query::new(
                    "INSERT INTO price_book_versions (version, book, saved_by, saved_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (version) DO NOTHING",
                )
                .bind(book.version)
                .bind(json.as_str())
                .bind(saved_by)
                .bind(now),
            )
            .await?;
        Ok(())
    }

    async fn price_book_versions(&self, limit: i64) -> Result<Vec<SavedVersion>> {
        let rows = self
            .db()
            .fetch_all(
                Query::new(
                    "SELECT v.version, v.book, v.saved_by, v.saved_at, \
                         COALESCE(u.display_name, u.username) AS name \
                     FROM price_book_versions v LEFT JOIN users u ON u.id = v.saved_by \
                     ORDER BY v.version DESC LIMIT $1",
                )
                .bind(limit),
            )
            .await?;
        rows.iter()
            .map(|r| {
                let json: String = r.get("book")?;
                Ok(SavedVersion {
                    version: r.get("version")?,
                    book: serde_json::from_str(&json)
                        .map_err(|e| StoreError::corrupt("price book version", e))?,
                    saved_by: r.get("saved_by")?,
                    saved_by_name: r.get("name")?,
                    saved_at: r.get("saved_at")?,
                })
            })
            .collect()
    }
}

/// How a field changed between two versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Added(String),
    Removed(String),
    Changed { old: String, new: String },
}

/// What changed from `old` to `new`, per field (`parts.BOILER-X200.unit_price`),
/// in path order; the version number itself is left out. Money shows in
/// minor units as stored.
pub fn diff(old: &PriceBook, new: &PriceBook) -> Vec<(String, Change)> {
    let mut before = BTreeMap::new();
    let mut after = BTreeMap::new();
    flatten(
        "",
        &serde_json::to_value(old).unwrap_or(Value::Null),
        &mut before,
    );
    flatten(
        "",
        &serde_json::to_value(new).unwrap_or(Value::Null),
        &mut after,
    );
    before.remove("version");
    after.remove("version");
    let mut out = Vec::new();
    for (path, old) in &before {
        match after.get(path) {
            None => out.push((path.clone(), Change::Removed(old.clone()))),
            Some(new) if new != old => out.push((
                path.clone(),
                Change::Changed {
                    old: old.clone(),
                    new: new.clone(),
                },
            )),
            Some(_) => {}
        }
    }
    for (path, new) in &after {
        if !before.contains_key(path) {
            out.push((path.clone(), Change::Added(new.clone())));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, out);
            }
        }
        // An empty map is no field at all (an emptied section shows as
        // its entries removed).
        Value::Object(_) => {}
        Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        Value::Null => {
            out.insert(prefix.to_owned(), "none".into());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldsync_core::pricebook::LabourRate;

    #[test]
    fn a_diff_names_each_added_removed_and_changed_field() {
        let old = PriceBook {
            version: 1,
            currency: "EUR".into(),
            tax_rate_bps: 2000,
            callout_fee: fieldsync_core::Money(4500),
            parts: Default::default(),
            labour_rates: [(
                "standard".to_owned(),
                LabourRate {
                    name: "Standard".into(),
                    hourly: fieldsync_core::Money(6000),
                },
            )]
            .into(),
            contracts: Default::default(),
            extensions: Default::default(),
            refund_limits: Default::default(),
        };
        let mut new = old.clone();
        new.version = 2;
        new.tax_rate_bps = 2300;
        new.labour_rates.clear();
        new.labour_rates.insert(
            "overtime".into(),
            LabourRate {
                name: "Overtime".into(),
                hourly: fieldsync_core::Money(9000),
            },
        );
        let d = diff(&old, &new);
        assert_eq!(
            d,
            vec![
                (
                    "labour_rates.overtime.hourly".into(),
                    Change::Added("9000".into())
                ),
                (
                    "labour_rates.overtime.name".into(),
                    Change::Added("Overtime".into())
                ),
                (
                    "labour_rates.standard.hourly".into(),
                    Change::Removed("6000".into())
                ),
                (
                    "labour_rates.standard.name".into(),
                    Change::Removed("Standard".into())
                ),
                (
                    "tax_rate_bps".into(),
                    Change::Changed {
                        old: "2000".into(),
                        new: "2300".into()
                    }
                ),
            ]
        );
        assert!(diff(&old, &old).is_empty());
    }
}
