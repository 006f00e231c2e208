#![doc = include_str!("../README.md")]
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
pub mod unicast;

pub use browser::{
    avatar_phsh, Browser, BrowserConfig, ServiceEvent, ServiceInstance, GONE_INTERFACE_GRACE,
};
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
