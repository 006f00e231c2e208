//! What the sans-IO machines ask the event loop to send.

use std::net::{IpAddr, SocketAddr};

/// The mDNS port (RFC 6762 §22).
pub const MDNS_PORT: u16 = 5353;

/// Where a datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Destination {
    /// The mDNS group of the family the interface uses (224.0.0.251 or ff02::fb, port 5353).
    Multicast,
    /// One host: a QU or legacy-unicast reply (RFC 6762 §5.4, §6.7).
    Unicast(SocketAddr),
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: Destination,
    /// The interface (index) to send on; `None`: every interface the loop uses.
    pub interface: Option<u32>,
    /// The DNS message.
    pub payload: Vec<u8>,
}

/// One of our addresses and the interface it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InterfaceAddr {
    /// The interface index (the scope of an IPv6 link-local address); 0 if unknown.
    pub interface: u32,
    /// The address.
    pub ip: IpAddr,
}

/// Counters of what a machine received and dropped, for diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams given to `handle_input`.
    pub received: u64,
    /// Datagrams dropped as malformed, oversized or unsupported.
    pub malformed: u64,
    /// Records dropped because a cache bound was reached.
    pub dropped_records: u64,
    /// Datagrams queued for sending.
    pub sent: u64,
}
