//! DNS-SD over multicast DNS for XEP-0174 link-local presence (`_presence._tcp.local`).
//!
//! This crate will hold the `_presence._tcp` record encoding (on `simple-dns`), the TXT
//! codec, and the sans-IO mDNS responder and browser described in DESIGN.md. Like every
//! protocol crate of llxmpp it does no networking and reads no clock: time is an argument.
//!
//! Nothing is implemented yet; see the project's issue tracker.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
