//! The price book: a server-authored document devices read to bill offline.
//!
//! Devices never write it; the sync server refuses any change to it from a
//! user. The server writes it with [`write_price_book`], which edits the
//! document in place (puts changed values, deletes removed entries) so a
//! device only downloads what changed.

use std::collections::BTreeMap;

use automerge::hydrate::Value;
use automerge::transaction::CommitOptions;
use automerge::{Automerge, ChangeHash, ROOT, ReadDoc, ScalarValue};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::error::{ActionError, InvalidValue, SchemaError};
use crate::hydrated::{MapRef, format_date};
use crate::ids::{Money, Sku, Timestamp};
use crate::write::{ensure_root_map, put_if_changed, sync_entries};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceBook {
    /// Raised by the server on every edit; invoices say which version priced them.
    pub version: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    /// Tax rate in basis points (2000 = 20%).
    pub tax_rate_bps: u32,
    /// Charged once per visit where the technician reached the site.
    pub callout_fee: Money,
    pub parts: BTreeMap<Sku, PartPrice>,
    /// Keyed by rate code (`standard`, `overtime`, ...).
    pub labour_rates: BTreeMap<String, LabourRate>,
    /// Service contracts keyed by reference.
    pub contracts: BTreeMap<String, Contract>,
    /// Warranty extensions on sale, keyed by offer code. Absent in books
    /// written before offers existed, which read as none.
    #[serde(default)]
    pub extensions: BTreeMap<String, ExtensionOffer>,
    /// What each role may refund without a supervisor's approval: the
    /// server's settings, which it writes here so devices know them
    /// offline (a client's value is ignored). Absent in older books: none.
    #[serde(default)]
    pub refund_limits: crate::job::RefundLimits,
}

/// A warranty extension sold for one product: `months` more of warranty
/// after the asset's current warranty end, for `price` (tax applies as for
/// any line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionOffer {
    /// The product (sku) whose assets it extends.
    pub sku: Sku,
    pub name: String,
    pub months: u32,
    pub price: Money,
    /// The terms the customer accepts, shown with the quote.
    pub terms: String,
}

/// The longest extension an offer may add (ten years).
pub const MAX_EXTENSION_MONTHS: u32 = 120;
/// The longest text of an offer's terms, in characters.
pub const MAX_TERMS_CHARS: usize = 10_000;

impl ExtensionOffer {
    /// The warranty end after this extension of a warranty that ends on
    /// `end` (the same day of the month `months` later, or that month's
    /// last day when it is shorter).
    pub fn extends(&self, end: Date) -> Option<Date> {
        add_months(end, self.months)
    }

    /// The warranty end if this offer is bought `on` a date, for a
    /// warranty that ends `current` (see [`warranty_end_after`]).
    pub fn warranty_end_after(&self, current: Option<Date>, on: Date) -> Option<Date> {
        warranty_end_after(current, on, self.months)
    }
}

/// The warranty end after `months` more bought `on` a date: counted from
/// the current end while the warranty runs (`current` on or after `on`),
/// else from `on` (an ended or unknown warranty restarts that day). The one
/// rule for the quote in the single view and on the device, and for the
/// extension the server applies when the job completes.
pub fn warranty_end_after(current: Option<Date>, on: Date, months: u32) -> Option<Date> {
    let from = current.filter(|end| *end >= on).unwrap_or(on);
    add_months(from, months)
}

/// `date` plus `months` calendar months, clamped to the month's last day.
pub fn add_months(date: Date, months: u32) -> Option<Date> {
    let index =
        i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1 + i64::from(months);
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = time::Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    let last = month.length(year);
    Date::from_calendar_date(year, month, date.day().min(last)).ok()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartPrice {
    pub name: String,
    pub unit_price: Money,
    /// Units carry serial numbers that are tracked one by one.
    #[serde(default)]
    pub serialized: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabourRate {
    pub name: String,
    /// Price of one hour; entries are billed per minute from it.
    pub hourly: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    pub name: String,
    pub covers_labour: bool,
    pub covers_parts: bool,
    pub covers_callout: bool,
    pub valid_from: Option<Date>,
    pub valid_until: Date,
}

impl Contract {
    pub fn covers_date(&self, date: Date) -> bool {
        self.valid_from.is_none_or(|from| from <= date) && date <= self.valid_until
    }
}

impl PriceBook {
    /// Checks what the types alone cannot: sensible rates and prices.
    pub fn check(&self) -> Result<(), InvalidValue> {
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(InvalidValue::new(
                "currency",
                "expected a 3-letter ISO 4217 code",
            ));
        }
        if self.tax_rate_bps > 10_000 {
            return Err(InvalidValue::new(
                "tax_rate_bps",
                "must be at most 10000 (100%)",
            ));
        }
        let negative = self.callout_fee.0 < 0
            || self.parts.values().any(|p| p.unit_price.0 < 0)
            || self.labour_rates.values().any(|r| r.hourly.0 < 0);
        if negative {
            return Err(InvalidValue::new("price", "must not be negative"));
        }
        if self.refund_limits.technician.0 < 0 || self.refund_limits.dispatcher.0 < 0 {
            return Err(InvalidValue::new("refund limit", "must not be negative"));
        }
        if self
            .labour_rates
            .keys()
            .any(|k| k.is_empty() || k.len() > 64)
        {
            return Err(InvalidValue::new(
                "labour rate code",
                "must be 1-64 characters",
            ));
        }
        for (code, offer) in &self.extensions {
            if code.is_empty() || code.len() > 64 {
                return Err(InvalidValue::new(
                    "extension offer code",
                    "must be 1-64 characters",
                ));
            }
            if offer.price.0 < 0 {
                return Err(InvalidValue::new("price", "must not be negative"));
            }
            if offer.months == 0 || offer.months > MAX_EXTENSION_MONTHS {
                return Err(InvalidValue::new(
                    "extension months",
                    format!("must be 1-{MAX_EXTENSION_MONTHS}"),
                ));
            }
            if offer.name.trim().is_empty() || offer.name.chars().count() > 200 {
                return Err(InvalidValue::new(
                    "extension name",
                    "must be 1-200 characters",
                ));
            }
            if offer.terms.chars().count() > MAX_TERMS_CHARS {
                return Err(InvalidValue::new(
                    "extension terms",
                    format!("must be at most {MAX_TERMS_CHARS} characters"),
                ));
            }
        }
        Ok(())
    }
}

const KIND: &str = "kind";
const REFUND_TECHNICIAN: &str = "refund_limit_technician";
const REFUND_DISPATCHER: &str = "refund_limit_dispatcher";
const KIND_PRICE_BOOK: &str = "price_book";

/// Writes `book` into `doc` (creating the structure on first use) as one
/// change holding only what differs; `None` when nothing did.
pub fn write_price_book(
    doc: &mut Automerge,
    book: &PriceBook,
    now: Timestamp,
) -> Result<Option<ChangeHash>, ActionError> {
    book.check()?;
    let mut tx = doc.transaction();
    let root = ROOT;
    put_if_changed(&mut tx, &root, KIND, KIND_PRICE_BOOK)?;
    put_if_changed(&mut tx, &root, "version", book.version)?;
    put_if_changed(&mut tx, &root, "currency", book.currency.as_str())?;
    put_if_changed(&mut tx, &root, "tax_rate_bps", i64::from(book.tax_rate_bps))?;
    put_if_changed(&mut tx, &root, "callout_fee", book.callout_fee.0)?;
    let parts = ensure_root_map(&mut tx, "parts")?;
    sync_entries(&mut tx, &parts, &book.parts, |tx, m, p| {
        put_if_changed(tx, m, "name", p.name.as_str())?;
        put_if_changed(tx, m, "unit_price", p.unit_price.0)?;
        put_if_changed(tx, m, "serialized", p.serialized)
    })?;
    let rates = ensure_root_map(&mut tx, "labour_rates")?;
    sync_entries(&mut tx, &rates, &book.labour_rates, |tx, m, r| {
        put_if_changed(tx, m, "name", r.name.as_str())?;
        put_if_changed(tx, m, "hourly", r.hourly.0)
    })?;
    let contracts = ensure_root_map(&mut tx, "contracts")?;
    sync_entries(&mut tx, &contracts, &book.contracts, |tx, m, c| {
        put_if_changed(tx, m, "name", c.name.as_str())?;
        put_if_changed(tx, m, "covers_labour", c.covers_labour)?;
        put_if_changed(tx, m, "covers_parts", c.covers_parts)?;
        put_if_changed(tx, m, "covers_callout", c.covers_callout)?;
        let from = c
            .valid_from
            .map_or(ScalarValue::Null, |d| format_date(d).into());
        put_if_changed(tx, m, "valid_from", from)?;
        put_if_changed(tx, m, "valid_until", format_date(c.valid_until))
    })?;
    // Only once there is an offer: books without any keep their shape.
    if !book.extensions.is_empty() || doc_has(&tx, "extensions") {
        let extensions = ensure_root_map(&mut tx, "extensions")?;
        sync_entries(&mut tx, &extensions, &book.extensions, |tx, m, o| {
            put_if_changed(tx, m, "sku", o.sku.as_str())?;
            put_if_changed(tx, m, "name", o.name.as_str())?;
            put_if_changed(tx, m, "months", i64::from(o.months))?;
            put_if_changed(tx, m, "price", o.price.0)?;
            put_if_changed(tx, m, "terms", o.terms.as_str())
        })?;
    }
    // Only once a limit is set: books without any keep their shape.
    let limits = book.refund_limits;
    if limits != crate::job::RefundLimits::default() || doc_has(&tx, REFUND_TECHNICIAN) {
        put_if_changed(&mut tx, &root, REFUND_TECHNICIAN, limits.technician.0)?;
        put_if_changed(&mut tx, &root, REFUND_DISPATCHER, limits.dispatcher.0)?;
    }
    let (hash, _) = tx.commit_with(
        CommitOptions::default()
            .with_message("price_book".to_owned())
            .with_time(now.0.div_euclid(1000)),
    );
    Ok(hash)
}

/// Reads the price book (current state or as of `heads`).
pub fn read_price_book(
    doc: &Automerge,
    heads: Option<&[ChangeHash]>,
) -> Result<PriceBook, SchemaError> {
    let Value::Map(root) = ReadDoc::hydrate(doc, ROOT, heads).unwrap_or(Value::map()) else {
        return Err(SchemaError::new("/", "root is not a map"));
    };
    let r = MapRef::new(&root, "");
    if r.str(KIND)? != KIND_PRICE_BOOK {
        return Err(r.err(KIND, "not a price book"));
    }
    let tax = r.int("tax_rate_bps")?;
    let book = PriceBook {
        version: r.int("version")?,
        currency: r.str("currency")?.to_owned(),
        tax_rate_bps: u32::try_from(tax).map_err(|_| r.err("tax_rate_bps", "out of range"))?,
        callout_fee: Money(r.int("callout_fee")?),
        parts: read_entries(&r, "parts", |k, m| {
            let sku: Sku = k.parse().map_err(|_| m.err("", "not a sku"))?;
            Ok((
                sku,
                PartPrice {
                    name: m.str("name")?.to_owned(),
                    unit_price: Money(m.int("unit_price")?),
                    serialized: m.bool_or_false("serialized")?,
                },
            ))
        })?,
        labour_rates: read_entries(&r, "labour_rates", |k, m| {
            Ok((
                k.to_owned(),
                LabourRate {
                    name: m.str("name")?.to_owned(),
                    hourly: Money(m.int("hourly")?),
                },
            ))
        })?,
        contracts: read_entries(&r, "contracts", |k, m| {
            Ok((
                k.to_owned(),
                Contract {
                    name: m.str("name")?.to_owned(),
                    covers_labour: m.bool_or_false("covers_labour")?,
                    covers_parts: m.bool_or_false("covers_parts")?,
                    covers_callout: m.bool_or_false("covers_callout")?,
                    valid_from: m.opt_date("valid_from")?,
                    valid_until: m
                        .opt_date("valid_until")?
                        .ok_or_else(|| m.err("valid_until", "required date missing"))?,
                },
            ))
        })?,
        extensions: read_entries(&r, "extensions", |k, m| {
            let sku = m.str("sku")?;
            let months = m.int("months")?;
            Ok((
                k.to_owned(),
                ExtensionOffer {
                    sku: sku.parse().map_err(|_| m.err("sku", "not a sku"))?,
                    name: m.str("name")?.to_owned(),
                    months: u32::try_from(months).map_err(|_| m.err("months", "out of range"))?,
                    price: Money(m.int("price")?),
                    terms: m.str("terms")?.to_owned(),
                },
            ))
        })?,
        refund_limits: crate::job::RefundLimits {
            technician: Money(r.opt_int(REFUND_TECHNICIAN)?.unwrap_or(0)),
            dispatcher: Money(r.opt_int(REFUND_DISPATCHER)?.unwrap_or(0)),
        },
    };
    book.check()
        .map_err(|e| SchemaError::new("/", e.to_string()))?;
    Ok(book)
}

/// Whether the transaction's document has `key` at the root.
fn doc_has(tx: &automerge::transaction::Transaction<'_>, key: &str) -> bool {
    tx.get(ROOT, key).ok().flatten().is_some()
}

pub(crate) fn read_entries<K: Ord, V>(
    r: &MapRef<'_>,
    key: &str,
    read: impl Fn(&str, MapRef<'_>) -> Result<(K, V), SchemaError>,
) -> Result<BTreeMap<K, V>, SchemaError> {
    let Some(map) = r.opt_map(key)? else {
        return Ok(BTreeMap::new());
    };
    map.iter()
        .map(|(k, v)| {
            let path = format!("/{key}/{k}");
            let Value::Map(m) = &v.value else {
                return Err(SchemaError::new(path, "expected a map"));
            };
            read(k, MapRef::new(m, &path))
        })
        .collect()
}
