//! The feedback form's questions, as data. The form, its validation, the
//! storage (`feedback_answers`, one row per answer), the supervisor's alert
//! and the "low result" rule all read [`QUESTIONS`]: a new question is one
//! entry here (plus, if a report should aggregate it, a line in
//! [`super::stats`]). Stored answers stay readable when the list changes.

use std::collections::{BTreeMap, HashMap};

use fieldsync_core::card::refuse_card_number;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// How a question is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// "yes" or "no".
    YesNo,
    /// A whole number from `min` to `max`; the ends are labelled.
    Scale {
        min: u8,
        max: u8,
        low: &'static str,
        high: &'static str,
    },
    /// Free text, optional, at most `max_chars` characters (trimmed).
    Text { max_chars: usize },
}

/// When an answer makes the whole result low (a supervisor follows it up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Low {
    /// A "no".
    No,
    /// A score at or below this.
    AtMost(i64),
}

#[derive(Clone, Copy, Debug)]
pub struct Question {
    /// The form field, the JSON key and the stored `question`. Never reuse
    /// a retired key for a different question: old answers keep it.
    pub key: &'static str,
    pub kind: Kind,
    /// As the customer reads it; `{tech}` becomes the technician's first name.
    pub prompt: &'static str,
    /// Short name in alerts and reports.
    pub label: &'static str,
    /// Shown when the answer is missing or out of range.
    pub invalid: &'static str,
    /// When it makes a result low, and how the follow-up reason says so
    /// (`{}` becomes the answer).
    pub low: Option<(Low, &'static str)>,
}

pub const FIXED: &str = "fixed";
pub const RATING: &str = "rating";
pub const COURTESY: &str = "courtesy";
pub const RECOMMEND: &str = "recommend";
pub const COMMENT: &str = "comment";

/// Longest comment a customer can send.
pub const MAX_COMMENT: usize = 2000;

/// The form, in order.
pub const QUESTIONS: &[Question] = &[
    Question {
        key: FIXED,
        kind: Kind::YesNo,
        prompt: "Was the problem fixed?",
        label: "Fixed",
        invalid: "Please say whether the problem was fixed.",
        low: Some((Low::No, "not fixed")),
    },
    Question {
        key: RATING,
        kind: Kind::Scale {
            min: 1,
            max: 5,
            low: "very poor",
            high: "excellent",
        },
        prompt: "Overall, how was the visit?",
        label: "Rating",
        invalid: "Please choose an overall rating from 1 to 5.",
        low: Some((Low::AtMost(2), "rated {}/5")),
    },
    Question {
        key: COURTESY,
        kind: Kind::Scale {
            min: 1,
            max: 5,
            low: "very poor",
            high: "excellent",
        },
        prompt: "How courteous was {tech}?",
        label: "Courtesy",
        invalid: "Please rate the technician's courtesy from 1 to 5.",
        low: None,
    },
    Question {
        key: RECOMMEND,
        kind: Kind::Scale {
            min: 0,
            max: 10,
            low: "not at all likely",
            high: "extremely likely",
        },
        prompt: "How likely are you to recommend us to a friend?",
        label: "Recommend",
        invalid: "Please choose a number from 0 to 10.",
        low: None,
    },
    Question {
        key: COMMENT,
        kind: Kind::Text {
            max_chars: MAX_COMMENT,
        },
        prompt: "Anything else you would like to tell us? (optional)",
        label: "Comment",
        invalid: "Please keep the comment under 2000 characters.",
        low: None,
    },
];

pub fn question(key: &str) -> Option<&'static Question> {
    QUESTIONS.iter().find(|q| q.key == key)
}

/// One answer: a yes/no, a score, or text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Value {
    Yes(bool),
    Score(i64),
    Text(String),
}

impl Value {
    /// As stored: yes/no and scores as a number, text as text.
    pub fn to_columns(&self) -> (Option<i64>, Option<&str>) {
        match self {
            Value::Yes(b) => (Some(i64::from(*b)), None),
            Value::Score(n) => (Some(*n), None),
            Value::Text(t) => (None, Some(t)),
        }
    }

    /// From the stored columns, as `key`'s kind says (an unknown, retired
    /// key reads as a plain score or text).
    pub fn from_columns(key: &str, score: Option<i64>, text: Option<String>) -> Option<Value> {
        match (question(key).map(|q| q.kind), score, text) {
            (Some(Kind::YesNo), Some(n), _) => Some(Value::Yes(n != 0)),
            (_, Some(n), _) => Some(Value::Score(n)),
            (_, None, Some(t)) => Some(Value::Text(t)),
            (_, None, None) => None,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Yes(true) => f.write_str("yes"),
            Value::Yes(false) => f.write_str("no"),
            Value::Score(n) => n.fmt(f),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// A customer's answers, by question key. In JSON: `answered_at` and one
/// field per question (`"fixed": true, "rating": 4, "comment": "..."`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Answer {
    #[serde(with = "time::serde::rfc3339")]
    pub answered_at: OffsetDateTime,
    #[serde(flatten)]
    #[schema(value_type = Object, additional_properties)]
    pub values: BTreeMap<String, Value>,
}

impl Answer {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// A yes/no answer.
    pub fn yes(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Yes(b) => Some(*b),
            _ => None,
        }
    }

    /// A score.
    pub fn score(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Score(n) => Some(*n),
            _ => None,
        }
    }

    /// A text answer ("" if none).
    pub fn text(&self, key: &str) -> &str {
        match self.get(key) {
            Some(Value::Text(t)) => t,
            _ => "",
        }
    }

    /// The answers that make this result low, with their reasons.
    fn lows(&self) -> impl Iterator<Item = String> + '_ {
        QUESTIONS.iter().filter_map(|q| {
            let (rule, reason) = q.low?;
            let value = self.get(q.key)?;
            let low = match (rule, value) {
                (Low::No, Value::Yes(b)) => !b,
                (Low::AtMost(max), Value::Score(n)) => *n <= max,
                _ => false,
            };
            low.then(|| reason.replace("{}", &value.to_string()))
        })
    }

    /// A result a supervisor should follow up.
    pub fn is_low(&self) -> bool {
        self.lows().next().is_some()
    }

    /// Why it is low: "not fixed, rated 2/5".
    pub fn low_reason(&self) -> String {
        self.lows().collect::<Vec<_>>().join(", ")
    }
}

/// A text answer's error when it holds a card number (the message never
/// repeats the number; the form does not show the answer back either).
pub const CARD_NUMBER: &str = "Please leave card numbers out of your answer: we never store them. \
     Write it again without the number.";
/// A text answer's error when it holds a NUL character.
pub const UNUSUAL_CHARACTERS: &str = "Please remove the unusual characters from your answer.";

/// The answers a submitted form gives, or each invalid field with its message.
pub fn parse(
    fields: &HashMap<String, String>,
    answered_at: OffsetDateTime,
) -> Result<Answer, Vec<(&'static str, &'static str)>> {
    let mut values = BTreeMap::new();
    let mut errors = Vec::new();
    for q in QUESTIONS {
        let raw = fields.get(q.key).map(|v| v.trim());
        let value = match (q.kind, raw) {
            (Kind::YesNo, Some("yes")) => Some(Value::Yes(true)),
            (Kind::YesNo, Some("no")) => Some(Value::Yes(false)),
            (Kind::Scale { min, max, .. }, Some(v)) => v
                .parse::<u8>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .map(|n| Value::Score(i64::from(n))),
            (Kind::Text { max_chars }, v) => {
                let v = v.unwrap_or("");
                // A card number is never stored, and PostgreSQL cannot store a NUL.
                if refuse_card_number(q.key, v).is_err() {
                    errors.push((q.key, CARD_NUMBER));
                    continue;
                }
                if v.contains('\0') {
                    errors.push((q.key, UNUSUAL_CHARACTERS));
                    continue;
                }
                (v.chars().count() <= max_chars).then(|| Value::Text(v.to_owned()))
            }
            _ => None,
        };
        match value {
            Some(v) => {
                values.insert(q.key.to_owned(), v);
            }
            None => errors.push((q.key, q.invalid)),
        }
    }
    if errors.is_empty() {
        Ok(Answer {
            answered_at,
            values,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(pairs: &[(&str, Value)]) -> Answer {
        Answer {
            answered_at: OffsetDateTime::UNIX_EPOCH,
            values: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    #[test]
    fn low_results_and_their_reasons() {
        let a = answer(&[(FIXED, Value::Yes(false)), (RATING, Value::Score(2))]);
        assert_eq!(
            (a.is_low(), a.low_reason()),
            (true, "not fixed, rated 2/5".into())
        );
        let a = answer(&[(FIXED, Value::Yes(false)), (RATING, Value::Score(4))]);
        assert_eq!(a.low_reason(), "not fixed");
        let a = answer(&[(FIXED, Value::Yes(true)), (RATING, Value::Score(1))]);
        assert_eq!(a.low_reason(), "rated 1/5");
        let a = answer(&[(FIXED, Value::Yes(true)), (RATING, Value::Score(3))]);
        assert!(!a.is_low());
    }

    #[test]
    fn answers_keep_their_json_shape() {
        let a = answer(&[
            (FIXED, Value::Yes(true)),
            (RATING, Value::Score(4)),
            (COMMENT, Value::Text("ok".into())),
        ]);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["fixed"], true);
        assert_eq!(json["rating"], 4);
        assert_eq!(json["comment"], "ok");
        assert_eq!(json["answered_at"], "1970-01-01T00:00:00Z");
        assert_eq!(serde_json::from_value::<Answer>(json).unwrap(), a);
    }

    #[test]
    fn stored_columns_read_back_by_kind() {
        for v in [Value::Yes(false), Value::Score(7), Value::Text("x".into())] {
            let key = match v {
                Value::Yes(_) => FIXED,
                Value::Score(_) => RATING,
                Value::Text(_) => COMMENT,
            };
            let (score, text) = v.to_columns();
            assert_eq!(
                Value::from_columns(key, score, text.map(str::to_owned)),
                Some(v)
            );
        }
        assert_eq!(
            Value::from_columns("retired", Some(1), None),
            Some(Value::Score(1)),
            "a retired question's answers stay readable"
        );
    }
}
