//! The text fields (the notes) as of each change of a batch, read from the
//! document once per batch and carried forward by each change's own patches.
//!
//! Validation checks a text as it reads after every change and again after
//! the batch. Reading a text from an Automerge document at some heads walks
//! every operation the text ever had, so doing that per change cost more than
//! the rest of the text rules together. A change's patches (`diff(deps,
//! [change])`, which validation computes anyway) turn the text at its
//! dependencies into the text at the change exactly, so a batch that is a
//! chain of changes reads each touched text once and then edits a copy.
//! Whenever that does not apply (a change that merges branches, a patch that
//! is not a plain splice or deletion, an index this code cannot place) the
//! text is read from the document as before: same text, same checks.

use std::collections::BTreeMap;

use automerge::{
    Automerge, ChangeHash, ObjId, ObjType, Patch, PatchAction, Prop, ROOT, ReadDoc, TextEncoding,
};

use crate::error::SchemaError;

/// Texts known as of some heads, by field key.
#[derive(Default)]
pub(crate) struct BatchTexts {
    known: BTreeMap<&'static str, Known>,
}

struct Known {
    /// Sorted heads the text is as of.
    heads: Vec<ChangeHash>,
    obj: ObjId,
    text: String,
}

impl BatchTexts {
    /// Moves every known text from `deps` to the change `hash` by the
    /// change's patches; a text known at other heads, or that the patches
    /// cannot carry forward, is forgotten (read again when needed).
    pub(crate) fn advance(
        &mut self,
        doc: &Automerge,
        deps: &[ChangeHash],
        hash: ChangeHash,
        patches: &[Patch],
    ) {
        let deps = sorted(deps);
        let enc = doc.text_encoding();
        self.known.retain(|key, known| {
            if known.heads != deps {
                return false;
            }
            let mine = patches
                .iter()
                .filter(|p| matches!(p.path.first(), Some((_, Prop::Map(k))) if k == key));
            for patch in mine {
                if patch.path.len() != 1 || patch.obj != known.obj || !apply(known, patch, enc) {
                    return false;
                }
            }
            known.heads = vec![hash];
            true
        });
    }

    /// The text of the field `key` as of `heads` (or now): the carried copy
    /// when it is as of those heads, else read from the document.
    pub(crate) fn at(
        &mut self,
        doc: &Automerge,
        key: &'static str,
        heads: Option<&[ChangeHash]>,
    ) -> Result<&str, SchemaError> {
        let want = match heads {
            Some(h) => sorted(h),
            None => sorted(&doc.get_heads()),
        };
        if self.known.get(key).is_none_or(|k| k.heads != want) {
            let read = read_text(doc, key, heads)?;
            self.known.insert(key, read.with_heads(want));
        }
        Ok(self
            .known
            .get(key)
            .map(|k| k.text.as_str())
            .unwrap_or_default())
    }
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut h = heads.to_vec();
    h.sort_unstable();
    h
}

impl Known {
    fn with_heads(self, heads: Vec<ChangeHash>) -> Self {
        Self { heads, ..self }
    }
}

fn read_text(
    doc: &Automerge,
    key: &'static str,
    heads: Option<&[ChangeHash]>,
) -> Result<Known, SchemaError> {
    let found = match heads {
        Some(h) => doc.get_at(ROOT, key, h),
        None => doc.get(ROOT, key),
    }
    .ok()
    .flatten();
    let Some((automerge::Value::Object(ObjType::Text), obj)) = found else {
        return Err(SchemaError::new(format!("/{key}"), "expected text"));
    };
    let text = match heads {
        Some(h) => doc.text_at(&obj, h),
        None => doc.text(&obj),
    }
    .map_err(|e| SchemaError::new(format!("/{key}"), e.to_string()))?;
    Ok(Known {
        heads: Vec::new(),
        obj,
        text,
    })
}

/// Applies one patch of the text object; false when it cannot.
fn apply(known: &mut Known, patch: &Patch, enc: TextEncoding) -> bool {
    match &patch.action {
        PatchAction::SpliceText { index, value, .. } => {
            let Some(at) = byte_at(&known.text, *index, enc) else {
                return false;
            };
            known.text.insert_str(at, &value.make_string());
            true
        }
        PatchAction::DeleteSeq { index, length } => {
            let (Some(from), Some(to)) = (
                byte_at(&known.text, *index, enc),
                byte_at(&known.text, index + length, enc),
            ) else {
                return false;
            };
            known.text.replace_range(from..to, "");
            true
        }
        _ => false,
    }
}

/// The byte offset of the `index`-th unit of `text` in the document's text
/// encoding; `None` past the end, inside a character, or for an encoding
/// counted in grapheme clusters (not carried: the text is read instead).
fn byte_at(text: &str, index: usize, enc: TextEncoding) -> Option<usize> {
    let width: fn(char) -> usize = match enc {
        TextEncoding::UnicodeCodePoint => |_| 1,
        TextEncoding::Utf8CodeUnit => char::len_utf8,
        TextEncoding::Utf16CodeUnit => char::len_utf16,
        TextEncoding::GraphemeCluster => return None,
    };
    let mut units = 0;
    for (at, c) in text.char_indices() {
        if units == index {
            return Some(at);
        }
        units += width(c);
        if units > index {
            return None;
        }
    }
    (units == index).then_some(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    /// Carries a text through random chains of splices and deletions
    /// (multi-byte characters included) and through merges, and compares it
    /// with the text read from the document after every change.
    #[test]
    fn carried_text_matches_the_document_after_every_change() {
        let pieces = ["a", "é", "𝄞", "4111 ", "\n", "xyz", ""];
        let mut seed = 0x2545_f491_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let notes = tx.put_object(ROOT, "notes", ObjType::Text).unwrap();
        tx.commit();
        let mut other = doc.fork();
        let mut checked = 0;
        let mut carried = 0;
        for round in 0..200 {
            // Now and then, a concurrent edit merged in: a change whose
            // dependencies are two heads, read from the document.
            if round % 25 == 24 {
                other.merge(&mut doc).unwrap();
                let mut tx = other.transaction();
                tx.splice_text(&notes, 0, 0, "office ").unwrap();
                tx.commit();
                doc.merge(&mut other).unwrap();
            }
            let deps = doc.get_heads();
            let mut tx = doc.transaction();
            for _ in 0..1 + next(3) {
                let len = tx.length(&notes);
                if len > 0 && next(3) == 0 {
                    let at = next(len);
                    let del = 1 + next((len - at).min(4)) as isize;
                    tx.splice_text(&notes, at, del, "").unwrap();
                } else {
                    let at = next(len + 1);
                    tx.splice_text(&notes, at, 0, pieces[next(pieces.len())])
                        .unwrap();
                }
            }
            let Some(hash) = tx.commit().0 else { continue };
            let mut texts = BatchTexts::default();
            // As a batch would: the text known at the dependencies ...
            texts.at(&doc, "notes", Some(&deps)).unwrap();
            // ... then carried forward by the change's patches.
            texts.advance(&doc, &deps, hash, &doc.diff(&deps, &[hash]));
            if texts.known.contains_key("notes") {
                carried += 1;
            }
            let got = texts.at(&doc, "notes", Some(&[hash])).unwrap().to_owned();
            assert_eq!(got, doc.text_at(&notes, &[hash]).unwrap(), "round {round}");
            let now = texts.at(&doc, "notes", None).unwrap().to_owned();
            assert_eq!(now, doc.text(&notes).unwrap(), "round {round}");
            checked += 1;
        }
        assert!(checked > 150, "{checked}");
        // Most changes were carried, not read again (the point of it).
        assert!(carried * 10 > checked * 9, "{carried} of {checked}");
    }

    #[test]
    fn indexes_count_in_the_documents_encoding() {
        let s = "a𝄞b";
        assert_eq!(byte_at(s, 2, TextEncoding::UnicodeCodePoint), Some(5));
        assert_eq!(byte_at(s, 3, TextEncoding::UnicodeCodePoint), Some(6));
        assert_eq!(byte_at(s, 4, TextEncoding::UnicodeCodePoint), None);
        assert_eq!(byte_at(s, 5, TextEncoding::Utf8CodeUnit), Some(5));
        assert_eq!(byte_at(s, 2, TextEncoding::Utf8CodeUnit), None);
        assert_eq!(byte_at(s, 3, TextEncoding::Utf16CodeUnit), Some(5));
        assert_eq!(byte_at(s, 2, TextEncoding::Utf16CodeUnit), None);
        assert_eq!(byte_at(s, 0, TextEncoding::GraphemeCluster), None);
    }
}
