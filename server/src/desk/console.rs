//! The desk's console pages.
