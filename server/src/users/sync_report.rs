//! What a device says about itself on `POST /v1/sync`, in headers (the sync
//! body is the document exchange; these are optional and best effort):
//!
//! - `X-Fieldsync-App-Version`: the app's version, else the `User-Agent`
//!   (the mobile library sends `fieldsync-ffi/<version>`);
//! - `X-Fieldsync-Pending-Changes`: local changes the server had not
//!   acknowledged when the device's sync started (a count; the mobile
//!   library sends it on every request of a sync).
//!
//! A malformed value is ignored, never a failed sync: the sync itself
//! matters more than its report.

use axum::http::HeaderMap;
use axum::http::header::USER_AGENT;

pub const APP_VERSION: &str = "x-fieldsync-app-version";
pub const PENDING_CHANGES: &str = "x-fieldsync-pending-changes";

/// At most this many characters are kept.
const MAX_VERSION_CHARS: usize = 100;

pub fn app_version(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(APP_VERSION)
        .or_else(|| headers.get(USER_AGENT))?
        .to_str()
        .ok()?
        .trim();
    let printable = value.chars().all(|c| !c.is_control());
    (!value.is_empty() && printable && value.chars().count() <= MAX_VERSION_CHARS).then_some(value)
}

pub fn pending_changes(headers: &HeaderMap) -> Option<u32> {
    headers
        .get(PENDING_CHANGES)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_and_bad_values_ignored() {
        let mut h = HeaderMap::new();
        assert_eq!(app_version(&h), None);
        h.insert(USER_AGENT, "fieldsync-ffi/0.1.0".parse().unwrap());
        assert_eq!(app_version(&h), Some("fieldsync-ffi/0.1.0"));
        h.insert(APP_VERSION, "2.3.1 (android)".parse().unwrap());
        assert_eq!(app_version(&h), Some("2.3.1 (android)"));
        h.insert(APP_VERSION, "x".repeat(101).parse().unwrap());
        assert_eq!(app_version(&h), None);
        h.insert(PENDING_CHANGES, "12".parse().unwrap());
        assert_eq!(pending_changes(&h), Some(12));
        h.insert(PENDING_CHANGES, "-1".parse().unwrap());
        assert_eq!(pending_changes(&h), None);
    }
}
