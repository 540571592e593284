//! Names of the automerge documents a device can hold.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::InvalidValue;
use crate::ids::{JobId, LocationId};

/// One document: a job (written by technician and office), the price book
/// or a van's stock (both written only by the server).
///
/// On the wire a document id is a string: `job/<uuid>`, `pricebook`,
/// `van/<uuid>`. A server-authored document whose history outgrew the
/// server's bound starts again as a fresh **generation** holding only its
/// current state: `pricebook/g2`, `van/<uuid>/g3`, ... (the plain ids are
/// generation 1). See docs/sync-protocol.md "Other documents".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DocId {
    Job(JobId),
    /// Generation 1 of the price book.
    PriceBook,
    /// Generation 1 of a van's stock.
    VanStock(LocationId),
    /// Generation 2 or later of a server-authored document (build it with
    /// [`DocId::generation_of`], which gives generation 1 its plain id).
    Regenerated(ServerDoc, u32),
}

/// A server-authored document, whatever its generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ServerDoc {
    PriceBook,
    VanStock(LocationId),
}

impl DocId {
    /// Devices only read server-authored documents.
    pub fn is_server_authored(&self) -> bool {
        !matches!(self, DocId::Job(_))
    }

    /// Generation `generation` of `doc` (1 and below: the plain id).
    pub fn generation_of(doc: ServerDoc, generation: u32) -> DocId {
        match (doc, generation) {
            (ServerDoc::PriceBook, 0 | 1) => DocId::PriceBook,
            (ServerDoc::VanStock(van), 0 | 1) => DocId::VanStock(van),
            (doc, g) => DocId::Regenerated(doc, g),
        }
    }

    /// The server-authored document this is a generation of, and which
    /// generation; `None` for a job.
    pub fn server_doc(&self) -> Option<(ServerDoc, u32)> {
        match *self {
            DocId::Job(_) => None,
            DocId::PriceBook => Some((ServerDoc::PriceBook, 1)),
            DocId::VanStock(van) => Some((ServerDoc::VanStock(van), 1)),
            DocId::Regenerated(doc, g) => Some((doc, g)),
        }
    }

    /// Whether this is the price book (any generation).
    pub fn is_price_book(&self) -> bool {
        matches!(self.server_doc(), Some((ServerDoc::PriceBook, _)))
    }

    /// The van whose stock this is (any generation).
    pub fn van(&self) -> Option<LocationId> {
        match self.server_doc() {
            Some((ServerDoc::VanStock(van), _)) => Some(van),
            _ => None,
        }
    }

    /// The generation after this one (`None` for a job).
    pub fn next_generation(&self) -> Option<DocId> {
        let (doc, g) = self.server_doc()?;
        Some(DocId::generation_of(doc, g.checked_add(1)?))
    }
}

impl ServerDoc {
    /// Its first generation's id (the key its generations are counted under).
    pub fn first(self) -> DocId {
        DocId::generation_of(self, 1)
    }
}

/// The newest generation of `doc` among `ids`, if any: a device that for a
/// moment holds two (the old one is dropped in the same response that
/// brings the new) reads the newer.
pub fn newest<'a>(ids: impl IntoIterator<Item = &'a DocId>, doc: ServerDoc) -> Option<DocId> {
    ids.into_iter()
        .filter_map(|id| {
            id.server_doc()
                .filter(|(d, _)| *d == doc)
                .map(|(_, g)| (g, *id))
        })
        .max_by_key(|(g, _)| *g)
        .map(|(_, id)| id)
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocId::Job(id) => write!(f, "job/{id}"),
            DocId::PriceBook => f.write_str("pricebook"),
            DocId::VanStock(id) => write!(f, "van/{id}"),
            DocId::Regenerated(doc, g) => write!(f, "{}/g{g}", doc.first()),
        }
    }
}

impl FromStr for DocId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            InvalidValue::new(
                "document id",
                "expected job/<uuid>, pricebook or van/<uuid>, optionally with /g<generation>",
            )
        };
        // A later generation: `<first id>/g<n>`, n >= 2 written plainly, so
        // each document has exactly one name.
        if let Some((first, g)) = s.rsplit_once("/g")
            && (first == "pricebook" || first.starts_with("van/"))
        {
            let n: u32 = g.parse().map_err(|_| bad())?;
            if n < 2 || g != n.to_string() {
                return Err(bad());
            }
            let doc = match first.parse()? {
                DocId::PriceBook => ServerDoc::PriceBook,
                DocId::VanStock(van) => ServerDoc::VanStock(van),
                _ => return Err(bad()),
            };
            return Ok(DocId::Regenerated(doc, n));
        }
        if s == "pricebook" {
            return Ok(DocId::PriceBook);
        }
        match s.split_once('/') {
            Some(("job", id)) => id.parse().map(DocId::Job).map_err(|_| bad()),
            Some(("van", id)) => id.parse().map(DocId::VanStock).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for DocId {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<DocId> for String {
    fn from(d: DocId) -> String {
        d.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_round_trip() {
        let job = DocId::Job(JobId::from_bytes([1; 16]));
        let loc = LocationId::from_bytes([2; 16]);
        let van = DocId::VanStock(loc);
        let van3 = DocId::generation_of(ServerDoc::VanStock(loc), 3);
        let book2 = DocId::generation_of(ServerDoc::PriceBook, 2);
        for d in [job, van, DocId::PriceBook, van3, book2] {
            assert_eq!(d.to_string().parse::<DocId>().unwrap(), d);
        }
        assert_eq!(book2.to_string(), "pricebook/g2");
        assert_eq!(van3.to_string(), format!("van/{loc}/g3"));
        for bad in [
            "",
            "job/",
            "job/xyz",
            "van",
            "price",
            "other/1",
            "pricebook/g1",
            "pricebook/g0",
            "pricebook/g02",
            "pricebook/g",
            "pricebook/gx",
            "van/xyz/g2",
        ] {
            assert!(bad.parse::<DocId>().is_err(), "{bad}");
        }
        let job_g2 = format!("{job}/g2");
        assert!(job_g2.parse::<DocId>().is_err(), "jobs have no generations");
    }

    #[test]
    fn generations_name_their_document() {
        let loc = LocationId::from_bytes([2; 16]);
        let van = ServerDoc::VanStock(loc);
        assert_eq!(DocId::generation_of(van, 1), DocId::VanStock(loc));
        let g2 = DocId::VanStock(loc).next_generation().unwrap();
        assert_eq!(g2.server_doc(), Some((van, 2)));
        assert_eq!(g2.van(), Some(loc));
        assert!(!g2.is_price_book() && g2.is_server_authored());
        assert!(DocId::generation_of(ServerDoc::PriceBook, 5).is_price_book());
        let ids = [DocId::PriceBook, g2, DocId::VanStock(loc)];
        assert_eq!(newest(&ids, van), Some(g2));
        assert_eq!(newest(&ids, ServerDoc::PriceBook), Some(DocId::PriceBook));
        assert_eq!(
            DocId::Job(JobId::from_bytes([1; 16])).next_generation(),
            None
        );
    }
}
