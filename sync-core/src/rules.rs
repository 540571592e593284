//! The rules that need more than one field: the whole job, or the price
//! book the job bills with. One function per rule; the device's actions
//! and the server's validator both call it, so a client that is not our
//! library meets exactly the rules the app does.
//!
//! - [`unanswered_required`]: completion needs every required checklist
//!   item answered (through [`Job::completion_blocker`]); a photo item is
//!   answered only by an image attachment of the job ([`photo_answer`]);
//! - [`signature_attachment`]: a `signature` attachment is the image whose
//!   SHA-256 the job's signature holds;
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

use crate::ids::{LineId, Quantity, Sku};
use crate::job::{Attachment, AttachmentKind, ChecklistItem, ChecklistKind, Job};
use crate::pricebook::{LabourRate, PartPrice, PriceBook};
use crate::validate::{RejectCode, Rejection};

/// The required checklist items that have no answer yet. A photo item
/// whose answer names no image attachment of the job (the office made a
/// text item a photo item after it was answered) counts as unanswered.
pub fn unanswered_required(job: &Job) -> impl Iterator<Item = &ChecklistItem> {
    job.checklist.iter().filter(|c| {
        c.required
            && c.answer
                .as_ref()
                .is_none_or(|a| photo_answer(job, c, &a.value).is_err())
    })
}

/// An answer `value` to checklist `item`: anything for a text item; for a
/// photo item, the id of an image attachment of the job.
pub fn photo_answer(job: &Job, item: &ChecklistItem, value: &str) -> Result<(), Rejection> {
    if item.kind != ChecklistKind::Photo {
        return Ok(());
    }
    let refused = |why: &str| Err(Rejection::new(RejectCode::PhotoAnswer, why));
    let Ok(id) = value.trim().parse::<LineId>() else {
        return refused("a photo checklist item is answered with the id of an attachment");
    };
    match job.attachments.iter().find(|a| a.id == id) {
        None => refused("the answer names no attachment of this job: attach the photo first"),
        Some(a) if !a.media_type.starts_with("image/") => {
            refused("a photo checklist item is answered with an image, not a document")
        }
        Some(_) => Ok(()),
    }
}

/// A `signature` attachment carries the image whose SHA-256 the job's
/// signature holds, so the stored image proves the signature. Other kinds
/// pass.
pub fn signature_attachment(job: &Job, attachment: &Attachment) -> Result<(), Rejection> {
    if attachment.kind != AttachmentKind::Signature {
        return Ok(());
    }
    match &job.signature {
        None => Err(Rejection::new(
            RejectCode::SignatureMismatch,
            "a signature image is attached after the signature is captured",
        )),
        Some(s) if !s.image_sha256.eq_ignore_ascii_case(&attachment.sha256) => Err(Rejection::new(
            RejectCode::SignatureMismatch,
            "the signature image's SHA-256 differs from the one the job's signature holds",
        )),
        Some(_) => Ok(()),
    }
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
