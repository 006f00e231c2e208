//! The link-local presence and roster model of XEP-0174.
//!
//! [`Presence`] reads and renders the TXT record (status, message, names, caps…), with
//! the peers' two conventions for `status` documented on [`Status`]. [`Roster`] turns the
//! DNS-SD browser's service events into a roster of [`Peer`]s and [`RosterEvent`]s. Sans-IO:
//! it depends on `llxmpp-dnssd` for its record types only.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod presence;
mod roster;

pub use presence::{Caps, Presence, Status};
pub use roster::{Peer, Roster, RosterEvent};
