//! Warranty extensions sold on a job (issue 15 item 3): the quote the
//! device and the office show, and the rules a sale meets, one function
//! each, called by the action, the office route and the validator alike.
//!
//! A sale is the job's `warranty_extension` map (written whole, once): the
//! price book's offer code with the months and price quoted from it, who
//! sold it and their clock. It is billed as one invoice line
//! ([`crate::billing`]); once the job completes the server adds the months
//! to the asset's warranty, once ([`crate::pricebook::warranty_end_after`]).
//!
//! - [`sold_asset`]: the job was made from a registry asset whose product
//!   the job knows;
//! - [`offer_for`]: the offer is in the price book, is for that product, and
//!   its months and price are the ones the sale records (a device quoting
//!   from an older book is told to sync and quote again).
//!
//! ```
//! use fieldsync_core::pricebook::warranty_end_after;
//! use time::macros::date;
//! // Running: counted from the current end. Ended: from the day of the sale.
//! assert_eq!(warranty_end_after(Some(date!(2031-01-31)), date!(2026-11-30), 13), Some(date!(2032-02-29)));
//! assert_eq!(warranty_end_after(Some(date!(2025-01-31)), date!(2026-11-30), 12), Some(date!(2027-11-30)));
//! ```

use automerge::{Automerge, ChangeHash, ROOT, ReadDoc};
use serde::{Deserialize, Serialize};
use time::Date;
use uuid::Uuid;

use crate::billing::round_half_up;
use crate::ids::{Money, Sku};
use crate::job::keys as k;
use crate::job::{ExtensionSale, Job, JobAction, read_job};
use crate::pricebook::{ExtensionOffer, PriceBook};
use crate::validate::{Context, RejectCode, Rejection};

/// One offer as the customer is shown it: its price before and with tax
/// (this line alone; the invoice rounds its tax once on the subtotal) and
/// the warranty end it would give.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub code: String,
    pub name: String,
    pub months: u32,
    pub terms: String,
    pub price: Money,
    pub tax: Money,
    pub price_with_tax: Money,
    pub currency: String,
    pub tax_rate_bps: u32,
    /// `None` only past the calendar's end.
    pub warranty_end_after: Option<Date>,
    pub price_book_version: i64,
}

fn refused(code: RejectCode, why: impl Into<String>) -> Rejection {
    Rejection::new(code, why)
}

/// The registry asset a sale on `job` extends, and its product.
pub fn sold_asset(job: &Job) -> Result<(Uuid, &Sku), Rejection> {
    match (job.registry.asset, &job.registry.asset_sku) {
        (Some(asset), Some(sku)) => Ok((asset, sku)),
        (Some(_), None) => Err(refused(
            RejectCode::Forbidden,
            "this job's asset snapshot does not name its product: the office makes a new job from the registry asset",
        )),
        (None, _) => Err(refused(
            RejectCode::Forbidden,
            "a warranty extension is sold on a job made from a registry asset; this job names none",
        )),
    }
}

/// The offer `sale` names, checked against `book` for an asset of `sku`.
pub fn offer_for<'b>(
    book: &'b PriceBook,
    sku: &Sku,
    offer: &str,
    months: u32,
    price: Money,
) -> Result<&'b ExtensionOffer, Rejection> {
    let Some(found) = book.extensions.get(offer) else {
        return Err(refused(
            RejectCode::NotInPriceBook,
            format!(
                "warranty extension offer {offer:?} is not in the price book (version {})",
                book.version
            ),
        ));
    };
    if found.sku != *sku {
        return Err(refused(
            RejectCode::Forbidden,
            format!(
                "warranty extension offer {offer:?} is for {}, not for this asset's product {sku}",
                found.sku
            ),
        ));
    }
    if found.months != months || found.price != price {
        return Err(refused(
            RejectCode::NotInPriceBook,
            format!(
                "warranty extension offer {offer:?} is now {} months for {} (price book version {}): sync and quote again",
                found.months,
                found.price.minor_units(),
                book.version
            ),
        ));
    }
    Ok(found)
}

/// The offers of `book` that fit `job`'s asset, quoted on `on` (UTC date).
pub fn quotes(job: &Job, book: &PriceBook, on: Date) -> Result<Vec<Quote>, Rejection> {
    let (_, sku) = sold_asset(job)?;
    Ok(book
        .extensions
        .iter()
        .filter(|(_, o)| o.sku == *sku)
        .map(|(code, o)| {
            let tax = round_half_up(
                i128::from(o.price.minor_units()) * i128::from(book.tax_rate_bps),
                10_000,
            );
            // Bounded: a price is i64 and the rate at most 100%.
            let tax = Money(i64::try_from(tax).unwrap_or(i64::MAX));
            Quote {
                code: code.clone(),
                name: o.name.clone(),
                months: o.months,
                terms: o.terms.clone(),
                price: o.price,
                tax,
                price_with_tax: Money(o.price.minor_units().saturating_add(tax.minor_units())),
                currency: book.currency.clone(),
                tax_rate_bps: book.tax_rate_bps,
                warranty_end_after: o.warranty_end_after(job.asset.warranty_end, on),
                price_book_version: book.version,
            }
        })
        .collect())
}

/// The action that sells offer `code` of `book` on `job`, with the terms
/// quoted from the book; refused as the validator would refuse it.
pub fn sale(job: &Job, book: &PriceBook, code: &str) -> Result<JobAction, Rejection> {
    let (_, sku) = sold_asset(job)?;
    let offer = book.extensions.get(code).ok_or_else(|| {
        refused(
            RejectCode::NotInPriceBook,
            format!(
                "warranty extension offer {code:?} is not in the price book (version {})",
                book.version
            ),
        )
    })?;
    offer_for(book, sku, code, offer.months, offer.price)?;
    Ok(JobAction::SellExtension {
        offer: code.to_owned(),
        months: offer.months,
        price: offer.price,
    })
}

/// A change that wrote `warranty_extension`: the first sale on the job, on
/// a job made from a registry asset, of an offer of the price book (when
/// `ctx` has it) for the asset's product, at the book's terms.
pub(crate) fn check_sale(
    doc: &Automerge,
    deps: &[ChangeHash],
    at: &[ChangeHash],
    ctx: &Context,
) -> Result<(), Rejection> {
    if doc
        .get_at(ROOT, k::WARRANTY_EXTENSION, deps)
        .ok()
        .flatten()
        .is_some()
    {
        return Err(refused(
            RejectCode::Forbidden,
            "this job already sells a warranty extension: one per job",
        ));
    }
    let job = read_job(doc, Some(at))?;
    let Some(sold) = &job.warranty_extension else {
        return Err(refused(
            RejectCode::Schema,
            "warranty_extension is a map of the sale",
        ));
    };
    let (_, sku) = sold_asset(&job)?;
    if let Some(book) = &ctx.price_book {
        offer_for(book, sku, &sold.offer, sold.months, sold.price)?;
    }
    Ok(())
}

/// The invoice line's description of a sale (the offer's name while the
/// book has it).
pub(crate) fn describe(sale: &ExtensionSale, book: &PriceBook) -> String {
    let name = book
        .extensions
        .get(&sale.offer)
        .map_or(sale.offer.as_str(), |o| o.name.as_str());
    format!(
        "Warranty extension: {name} ({} months, {})",
        sale.months, sale.offer
    )
}
