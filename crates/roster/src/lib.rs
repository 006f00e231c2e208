//! The link-local presence and roster model of XEP-0174.
//!
//! This crate will turn DNS-SD service events into a roster of peers with their presence
//! (`status`, `msg`, `nick`, `1st`/`last`, caps) and render our own presence to a TXT
//! record. It is sans-IO: it depends on `llxmpp-dnssd` for record types only.
//!
//! Nothing is implemented yet; see the project's issue tracker.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
