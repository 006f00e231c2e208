//! DNS-SD over multicast DNS for XEP-0174 link-local presence (`_presence._tcp.local`).
//!
//! - [`TxtRecord`]: the TXT codec (RFC 6763 §6).
//! - [`Message`], [`Record`], [`Question`]: DNS messages as values, on `simple-dns`.
//!
//! Like every protocol crate of llxmpp it does no networking and reads no clock: time is
//! an argument. Nothing here panics on any input.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod name;
mod record;
mod txt;

pub use name::{DnsName, SERVICES_ENUMERATION, SERVICE_TYPE};
pub use record::{
    rtype, DecodeError, EncodeError, Message, Question, Record, RecordData, MAX_PACKET,
};
pub use txt::{TxtEntry, TxtError, TxtRecord, TxtValue, MAX_STRING};
