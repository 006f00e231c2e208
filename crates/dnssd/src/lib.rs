//! DNS-SD over multicast DNS for XEP-0174 link-local presence (`_presence._tcp.local`).
//!
//! - [`TxtRecord`]: the TXT codec (RFC 6763 §6).
//! - [`Message`], [`Record`], [`Question`]: DNS messages as values, on `simple-dns`.
//! - [`Responder`]: publishes one service: probing, announcing, answering, conflict
//!   renames, goodbyes (RFC 6762).
//! - [`Browser`]: browses `_presence._tcp`: continuous queries, a bounded cache, and
//!   [`ServiceEvent`]s (RFC 6762, RFC 6763), with each peer's avatar fetched when its TXT
//!   `phsh` appears or changes, and reported once its SHA-1 matches (XEP-0174's buddy
//!   icons).
//!
//! Both machines speak the project's sans-IO verbs: `handle_input(now, from, interface,
//! bytes)`, `handle_timeout(now)`, `poll_transmit()`, `poll_timeout()`, `poll_event()`.
//!
//! Like every protocol crate of llxmpp it does no networking and reads no clock: time is
//! an argument. Nothing here panics on any input.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod browser;
mod decode;
mod name;
mod record;
mod responder;
mod rng;
mod transmit;
mod txt;

pub use browser::{avatar_phsh, Browser, BrowserConfig, ServiceEvent, ServiceInstance};
pub use responder::{
    Responder, ResponderConfig, ResponderError, ResponderEvent, ServiceInfo, HOST_TTL,
    MAX_AVATAR_BYTES, MAX_TXT_BYTES, OTHER_TTL,
};
pub use transmit::{Destination, InterfaceAddr, Stats, Transmit, MDNS_PORT};

pub use name::{DnsName, SERVICES_ENUMERATION, SERVICE_TYPE};
pub use record::{
    rtype, DecodeError, EncodeError, Message, Question, Record, RecordData, MAX_PACKET,
};
pub use txt::{TxtEntry, TxtError, TxtRecord, TxtValue, MAX_STRING};
