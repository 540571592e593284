//! No card numbers, anywhere: each request body the server stores text
//! from says which of its fields are free text ([`FreeText`]), and the JSON
//! and console-form extractors refuse the whole request when any of them
//! holds something that reads as a card number. The test is sync-core's
//! [`refuse_card_number`], the one the device library and the sync
//! validator run too. Nothing is stored; the error names the field, never
//! the number.
//!
//! Identifiers are not free text: SKUs, serial numbers, ids, usernames and
//! passwords are left alone. A serial may well be a 15-digit IMEI, which
//! passes the Luhn check by design; refusing it would refuse real work.

use fieldsync_core::InvalidValue;
use fieldsync_core::card::refuse_card_number;
use fieldsync_core::pricebook::PriceBook;

/// A request body's free-text fields, as (field name, text).
pub trait FreeText {
    fn free_text(&self) -> Vec<(&'static str, &str)>;
}

/// `Err` naming the first free-text field of `body` that holds a card number.
pub fn refuse_card_numbers(body: &impl FreeText) -> Result<(), InvalidValue> {
    body.free_text()
        .into_iter()
        .try_for_each(|(field, text)| refuse_card_number(field, text))
}

/// For bodies with optional fields: the present ones.
pub fn present<'a>(
    fields: impl IntoIterator<Item = (&'static str, Option<&'a str>)>,
) -> Vec<(&'static str, &'a str)> {
    fields
        .into_iter()
        .filter_map(|(name, text)| text.map(|t| (name, t)))
        .collect()
}

/// The price book's names, codes and references (SKUs are identifiers).
impl FreeText for PriceBook {
    fn free_text(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![("currency", self.currency.as_str())];
        out.extend(self.parts.values().map(|p| ("parts.name", p.name.as_str())));
        for (code, rate) in &self.labour_rates {
            out.push(("labour_rates (code)", code.as_str()));
            out.push(("labour_rates.name", rate.name.as_str()));
        }
        for (reference, contract) in &self.contracts {
            out.push(("contracts (reference)", reference.as_str()));
            out.push(("contracts.name", contract.name.as_str()));
        }
        for (code, offer) in &self.extensions {
            out.push(("extensions (code)", code.as_str()));
            out.push(("extensions.name", offer.name.as_str()));
            out.push(("extensions.terms", offer.terms.as_str()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Body {
        name: String,
        note: Option<String>,
    }

    impl FreeText for Body {
        fn free_text(&self) -> Vec<(&'static str, &str)> {
            present([
                ("name", Some(self.name.as_str())),
                ("note", self.note.as_deref()),
            ])
        }
    }

    #[test]
    fn the_refusal_names_the_field_and_never_the_number() {
        let ok = Body {
            name: "Van 12".into(),
            note: Some("serial 12345678901234567890123".into()),
        };
        assert!(refuse_card_numbers(&ok).is_ok());
        let card = Body {
            name: "Van 12".into(),
            note: Some("paid 4111-1111-1111-1111".into()),
        };
        let e = refuse_card_numbers(&card).unwrap_err();
        assert_eq!(e.what, "note");
        assert!(!e.to_string().contains("4111"), "{e}");
        let absent = Body {
            name: "4111 1111 1111 1111".into(),
            note: None,
        };
        assert_eq!(refuse_card_numbers(&absent).unwrap_err().what, "name");
    }
}
