//! The rules that need more than one field: the whole job, or the price
//! book the job bills with. One function per rule; the device's actions
//! and the server's validator both call it, so a client that is not our
//! library meets exactly the rules the app does.
//!
//! - [`unanswered_required`]: completion needs every required checklist
//!   item answered (through [`Job::completion_blocker`]);
//! - [`serials_per_unit`]: a serialized sku takes one serial per unit;
//! - [`known_part`], [`known_labour_rate`]: skus and labour rates must be in
//!   the price book the job bills with, so nothing bills at zero.
//!
//! ```
//! use fieldsync_core::rules::serials_per_unit;
//! use fieldsync_core::{Quantity, RejectCode};
//! let two = Quantity::new(2).unwrap();
//! assert!(serials_per_unit(true, two, &["A1".into(), "A2".into()]).is_ok());
//! let refused = serials_per_unit(true, two, &[]).unwrap_err();
//! assert_eq!(refused.code, RejectCode::Serials);
//! assert!(serials_per_unit(false, two, &[]).is_ok());
//! ```

use crate::ids::{Quantity, Sku};
use crate::job::{ChecklistItem, Job};
use crate::pricebook::{LabourRate, PartPrice, PriceBook};
use crate::validate::{RejectCode, Rejection};

/// The required checklist items that have no answer yet.
pub fn unanswered_required(job: &Job) -> impl Iterator<Item = &ChecklistItem> {
    job.checklist
        .iter()
        .filter(|c| c.required && c.answer.is_none())
}

/// A part line of a serialized sku names one serial per unit. (That the
/// serials given are distinct and one per unit is the line's own shape,
/// checked when it is read.)
pub fn serials_per_unit(
    serialized: bool,
    quantity: Quantity,
    serials: &[String],
) -> Result<(), Rejection> {
    if serialized && serials.len() != quantity.get() as usize {
        return Err(Rejection::new(
            RejectCode::Serials,
            format!(
                "this sku is serialized: one serial number per unit is required ({} for {})",
                serials.len(),
                quantity.get()
            ),
        ));
    }
    Ok(())
}

/// The price book's entry for `sku`; a clear rejection when it has none.
pub fn known_part<'b>(book: &'b PriceBook, sku: &Sku) -> Result<&'b PartPrice, Rejection> {
    book.parts.get(sku).ok_or_else(|| {
        Rejection::new(
            RejectCode::NotInPriceBook,
            format!(
                "part {sku} is not in the price book (version {})",
                book.version
            ),
        )
    })
}

/// The price book's labour rate `code`; a clear rejection when it has none.
pub fn known_labour_rate<'b>(book: &'b PriceBook, code: &str) -> Result<&'b LabourRate, Rejection> {
    book.labour_rates.get(code).ok_or_else(|| {
        // Not echoed: the rate is free text in the document.
        Rejection::new(
            RejectCode::NotInPriceBook,
            format!(
                "this labour rate is not in the price book (version {})",
                book.version
            ),
        )
    })
}
