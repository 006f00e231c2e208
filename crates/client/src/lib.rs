//! The reference XEP-0174 client: library and the `llxmpp` binary.
//!
//! - [`presence`]: our `_presence._tcp` responder and the browser over the event loop;
//! - [`session`]: one XEP-0174 XML stream, sans-IO;
//! - [`node`]: presence, roster and sessions composed over the event loop;
//! - the `llxmpp` binary (`src/main.rs`): the command line and JSON-lines contract of
//!   DESIGN.md.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod caps;
pub mod cli;
pub mod node;
pub mod presence;
pub mod session;
