#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod presence;
mod roster;

pub use presence::{Caps, Presence, Status};
pub use roster::{Peer, Roster, RosterEvent, Source};
