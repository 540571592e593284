//! Names of the automerge documents a device can hold.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::InvalidValue;
use crate::ids::{JobId, LocationId};

/// One document: a job (written by technician and office), the price book
/// or a van's stock (both written only by the server).
///
/// On the wire a document id is a string: `job/<uuid>`, `pricebook`, `van/<uuid>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DocId {
    Job(JobId),
    PriceBook,
    VanStock(LocationId),
}

impl DocId {
    /// Devices only read server-authored documents.
    pub fn is_server_authored(&self) -> bool {
        !matches!(self, DocId::Job(_))
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocId::Job(id) => write!(f, "job/{id}"),
            DocId::PriceBook => f.write_str("pricebook"),
            DocId::VanStock(id) => write!(f, "van/{id}"),
        }
    }
}

impl FromStr for DocId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            InvalidValue::new(
                "document id",
                "expected job/<uuid>, pricebook or van/<uuid>",
            )
        };
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
        let van = DocId::VanStock(LocationId::from_bytes([2; 16]));
        for d in [job, van, DocId::PriceBook] {
            assert_eq!(d.to_string().parse::<DocId>().unwrap(), d);
        }
        for bad in ["", "job/", "job/xyz", "van", "price", "other/1"] {
            assert!(bad.parse::<DocId>().is_err(), "{bad}");
        }
    }
}
