//! Card numbers are never stored: the one test every free-text field passes,
//! on the device and on the server, whatever client sent the text.
//!
//! A card number is 13 to 19 digits passing the Luhn check, written plain or
//! in groups separated by single spaces or dashes ("4111 1111 1111 1111",
//! "4111-1111-1111-1111"). A grouped number can hide inside a longer grouped
//! run ("call 0123 4111 1111 1111 1111"), so every contiguous sequence of
//! groups is tried. An unbroken run of more than 19 digits is not a card
//! number (cards are never written that way), which keeps long serials and
//! meter readings usable.
//!
//! ```
//! use fieldsync_core::card::contains_card_number;
//! assert!(contains_card_number("paid with 4111 1111 1111 1111 thanks"));
//! assert!(!contains_card_number("INV-2024-0042"));
//! ```

use crate::error::InvalidValue;

const MIN_DIGITS: usize = 13;
const MAX_DIGITS: usize = 19;

/// Whether `text` contains something that reads as a card number.
///
/// A text that is exactly one id (a UUID, as a photo checklist answer names
/// its attachment) is none: its digit groups may happen to pass the Luhn
/// test (a random id about once in tens of thousands), and refusing it
/// would refuse a technician's photo at random.
pub fn contains_card_number(text: &str) -> bool {
    !is_uuid(text.trim()) && runs(text).iter().any(|groups| run_has_card(groups))
}

/// The canonical 8-4-4-4-12 hex form.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// `Err` naming `field` (never the number) when `text` holds a card number.
pub fn refuse_card_number(field: &'static str, text: &str) -> Result<(), InvalidValue> {
    if contains_card_number(text) {
        Err(InvalidValue::new(
            field,
            "looks like a card number; card numbers are never stored",
        ))
    } else {
        Ok(())
    }
}

/// Maximal runs of digit groups: digits joined by at most one space or dash.
/// Each run is its list of groups (the digits between separators).
fn runs(text: &str) -> Vec<Vec<Vec<u8>>> {
    let mut runs = Vec::new();
    let mut groups: Vec<Vec<u8>> = Vec::new();
    let mut group: Vec<u8> = Vec::new();
    // A separator seen right after a digit: it joins only if a digit follows.
    let mut pending_sep = false;
    for c in text.chars() {
        match c.to_digit(10) {
            Some(d) => {
                if pending_sep {
                    groups.push(std::mem::take(&mut group));
                    pending_sep = false;
                }
                group.push(d as u8);
            }
            None if matches!(c, ' ' | '-') && !group.is_empty() && !pending_sep => {
                pending_sep = true;
            }
            None => {
                if !group.is_empty() {
                    groups.push(std::mem::take(&mut group));
                }
                if !groups.is_empty() {
                    runs.push(std::mem::take(&mut groups));
                }
                pending_sep = false;
            }
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    if !groups.is_empty() {
        runs.push(groups);
    }
    runs
}

/// Tries every contiguous sequence of groups of 13-19 digits in all.
fn run_has_card(groups: &[Vec<u8>]) -> bool {
    (0..groups.len()).any(|start| {
        let mut digits: Vec<u8> = Vec::with_capacity(MAX_DIGITS);
        for g in &groups[start..] {
            if digits.len() + g.len() > MAX_DIGITS {
                break;
            }
            digits.extend_from_slice(g);
            if digits.len() >= MIN_DIGITS && luhn(&digits) {
                return true;
            }
        }
        false
    })
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_card_numbers_however_written() {
        for text in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "ref 4111-1111-1111-1111 ok",
            "paid:4111111111111111.",
            "call 0123 4111 1111 1111 1111",
            "378282246310005",       // 15-digit Amex
            "6011 0009 9013 9424",   // Discover
            "4222222222222",         // 13 digits
            "6759649826438453",      // Maestro
            "4111 1111 1111 1111 9", // card then a stray digit group
        ] {
            assert!(contains_card_number(text), "{text}");
        }
    }

    #[test]
    fn an_id_alone_is_no_card_number_but_a_card_beside_one_is() {
        // 4111-1111-1111-1111 hides in this id's digit groups.
        let id = "41111111-1111-1111-8000-000000000000";
        assert!(!contains_card_number(id));
        assert!(!contains_card_number(&format!(" {id} ")));
        assert!(contains_card_number(&format!("{id} 4111 1111 1111 1111")));
        assert!(contains_card_number("41111111-1111-1111"));
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in [
            "",
            "INV-2024-0042",
            "4111 1111 1111 1112", // fails Luhn
            "123456",
            "serial 12345678901234567890123", // one unbroken run of 23 digits
            "4111  1111  1111  1111",         // double spaces break the run
            "phone +351 912 345 678",
            "2024-11-30 10:15",
        ] {
            assert!(!contains_card_number(text), "{text}");
        }
    }

    #[test]
    fn refusal_names_the_field_not_the_number() {
        let err = refuse_card_number("reference", "4111 1111 1111 1111").unwrap_err();
        assert_eq!(err.what, "reference");
        assert!(!err.to_string().contains("4111"));
        assert!(refuse_card_number("reference", "cash").is_ok());
    }
}
