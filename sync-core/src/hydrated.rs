//! Typed reads out of a hydrated automerge tree, with the path in every error.
//!
//! Documents arrive from untrusted peers, so every read checks the type and
//! reports where the document disagrees with the schema.

use automerge::ScalarValue;
use automerge::hydrate::{Map, Value};
use time::Date;

use crate::error::SchemaError;
use crate::ids::Timestamp;

/// A map in the tree plus its path, for error messages.
#[derive(Clone, Copy)]
pub(crate) struct MapRef<'a> {
    pub map: &'a Map,
    pub path: &'a str,
}

impl<'a> MapRef<'a> {
    pub fn new(map: &'a Map, path: &'a str) -> Self {
        Self { map, path }
    }

    pub fn err(&self, key: &str, problem: &'static str) -> SchemaError {
        SchemaError::new(format!("{}/{}", self.path, key), problem)
    }

    fn scalar(&self, key: &str) -> Result<Option<&'a ScalarValue>, SchemaError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::Scalar(ScalarValue::Null)) => Ok(None),
            Some(Value::Scalar(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(key, "expected a scalar")),
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>, SchemaError> {
        match self.scalar(key)? {
            None => Ok(None),
            Some(ScalarValue::Str(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.err(key, "expected a string")),
        }
    }

    pub fn str(&self, key: &str) -> Result<&'a str, SchemaError> {
        self.opt_str(key)?
            .ok_or_else(|| self.err(key, "required string missing"))
    }

    /// A non-empty, trimmed string or nothing.
    pub fn opt_text(&self, key: &str) -> Result<Option<String>, SchemaError> {
        Ok(self
            .opt_str(key)?
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned))
    }

    pub fn opt_int(&self, key: &str) -> Result<Option<i64>, SchemaError> {
        match self.scalar(key)? {
            None => Ok(None),
            Some(ScalarValue::Int(i)) => Ok(Some(*i)),
            Some(ScalarValue::Uint(u)) => i64::try_from(*u)
                .map(Some)
                .map_err(|_| self.err(key, "integer out of range")),
            Some(_) => Err(self.err(key, "expected an integer")),
        }
    }

    pub fn int(&self, key: &str) -> Result<i64, SchemaError> {
        self.opt_int(key)?
            .ok_or_else(|| self.err(key, "required integer missing"))
    }

    pub fn u32_in(&self, key: &str, min: u32, max: u32) -> Result<u32, SchemaError> {
        let v = self.int(key)?;
        u32::try_from(v)
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| self.err(key, "integer out of range"))
    }

    pub fn bool_or_false(&self, key: &str) -> Result<bool, SchemaError> {
        Ok(self.opt_bool(key)?.unwrap_or(false))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, SchemaError> {
        match self.scalar(key)? {
            None => Ok(None),
            Some(ScalarValue::Boolean(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(key, "expected a boolean")),
        }
    }

    pub fn timestamp(&self, key: &str) -> Result<Timestamp, SchemaError> {
        match self.scalar(key)? {
            Some(ScalarValue::Timestamp(t)) | Some(ScalarValue::Int(t)) => Ok(Timestamp(*t)),
            Some(_) => Err(self.err(key, "expected a timestamp")),
            None => Err(self.err(key, "required timestamp missing")),
        }
    }

    pub fn opt_date(&self, key: &str) -> Result<Option<Date>, SchemaError> {
        self.opt_str(key)?
            .map(|s| parse_date(s).ok_or_else(|| self.err(key, "expected a YYYY-MM-DD date")))
            .transpose()
    }

    pub fn opt_map(&self, key: &str) -> Result<Option<&'a Map>, SchemaError> {
        match self.map.get(key) {
            None | Some(Value::Scalar(ScalarValue::Null)) => Ok(None),
            Some(Value::Map(m)) => Ok(Some(m)),
            Some(_) => Err(self.err(key, "expected a map")),
        }
    }

    pub fn map(&self, key: &str) -> Result<&'a Map, SchemaError> {
        self.opt_map(key)?
            .ok_or_else(|| self.err(key, "required map missing"))
    }

    /// Strings in a list; anything else in it is a schema error.
    pub fn str_list(&self, key: &str) -> Result<Vec<String>, SchemaError> {
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(Value::List(list)) => list
                .iter()
                .map(|item| match &item.value {
                    Value::Scalar(ScalarValue::Str(s)) => Ok(s.to_string()),
                    _ => Err(self.err(key, "expected a list of strings")),
                })
                .collect(),
            Some(_) => Err(self.err(key, "expected a list")),
        }
    }

    pub fn text(&self, key: &str) -> Result<String, SchemaError> {
        match self.map.get(key) {
            None => Ok(String::new()),
            Some(Value::Text(t)) => Ok(t.to_string()),
            Some(_) => Err(self.err(key, "expected text")),
        }
    }

    /// Parses a required value with `FromStr`, reporting the field on failure.
    pub fn parsed<T: std::str::FromStr>(&self, key: &str) -> Result<T, SchemaError> {
        self.str(key)?
            .parse()
            .map_err(|_| self.err(key, "value does not parse"))
    }
}

pub(crate) fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

pub(crate) fn format_date(d: Date) -> String {
    d.format(time::macros::format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}
