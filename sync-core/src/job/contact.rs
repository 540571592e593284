//! Customer contacts on the job document (issue 17, the service desk).
//!
//! A technician on site logs a contact (the customer asks about a second
//! appliance, wants a quote, complains) offline; it travels with the job by
//! sync and the server projects it into the desk's contact log, where it is
//! routed to a team's queue. A contact is a plain record of the `contacts`
//! field (see [`super::schema`]): written once, in the technician's name,
//! its codes read from closed sets and its summary refused when it holds a
//! card number, on the device and again by the server's validator.

use super::keys as k;
use super::schema::{Column, Kind, column};

/// The longest contact summary, in characters.
pub const MAX_SUMMARY: usize = 2_000;

codes!(
    /// How the customer reached us (or we them).
    ContactChannel, CHANNELS {
        Phone = "phone", Email = "email", Sms = "sms", OnSite = "on_site", Web = "web",
        Feedback = "feedback",
    }
);
codes!(
    /// Who started the contact.
    ContactDirection, DIRECTIONS { Inbound = "inbound", Outbound = "outbound" }
);
codes!(
    /// What the contact is about: routing rules send it to a team by this.
    ContactCategory, CATEGORIES {
        Technical = "technical", Billing = "billing", Contract = "contract", Return = "return",
        Parts = "parts", SalesLead = "sales_lead", Complaint = "complaint",
    }
);

/// The columns of one logged contact.
pub const COLUMNS: &[Column] = &[
    column(k::BY, Kind::User),
    column(k::CHANNEL, Kind::Choice(CHANNELS)),
    column(k::DIRECTION, Kind::Choice(DIRECTIONS)),
    column(k::CATEGORY, Kind::Choice(CATEGORIES)),
    column(k::SUMMARY, Kind::Text),
    column(k::DEVICE_TIME, Kind::Time),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_do_not_parse() {
        for c in ContactCategory::ALL {
            assert_eq!(ContactCategory::parse(c.as_str()), Some(*c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert_eq!(
            ContactChannel::parse("on_site"),
            Some(ContactChannel::OnSite)
        );
        assert_eq!(ContactChannel::parse("pigeon"), None);
        assert_eq!(CATEGORIES.len(), ContactCategory::ALL.len());
    }
}
