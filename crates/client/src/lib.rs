//! The reference XEP-0174 client, in the making.
//!
//! What stands: [`presence`], which publishes our `_presence._tcp` service and browses the
//! link's over the event loop. What is to come (see the project's issues): the roster
//! model, per-connection XMPP sessions, the `Node` that composes them, and the `llxmpp`
//! binary whose command line and JSON-lines contract DESIGN.md defines.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod caps;
pub mod presence;
pub mod session;
