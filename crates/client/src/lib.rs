//! The reference XEP-0174 client: it will compose the roster, DNS-SD, framer and event
//! loop crates into a `Node` with per-peer sessions, and ship the `llxmpp` binary whose
//! command line and JSON-lines contract DESIGN.md defines.
//!
//! Nothing is implemented yet; see the project's issue tracker.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
