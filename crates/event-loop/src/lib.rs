//! The only crate of llxmpp that performs I/O: a `mio` event loop that drives sans-IO
//! machines.
//!
//! It owns the sockets — mDNS multicast UDP per interface ([`mdns`] explains the choice),
//! a TCP listener on IPv4 and IPv6, outgoing and accepted TCP streams with bounded reads
//! and write queues with backpressure, and reading that a handler can pause while a queue
//! drains ([`Context::pause_reading`]) — and sleeps in `mio::Poll::poll` until the earliest
//! of socket readiness and the handler's [`Handler::poll_timeout`]. Other threads give it
//! commands through a [`LoopHandle`] (a channel and a `mio::Waker`). It knows nothing of
//! XMPP or DNS: the [`Handler`] feeds whatever machines it holds.
//!
//! Nothing a peer does panics the loop: resets, refused connections, timeouts and I/O
//! errors arrive as [`CloseReason`]s; limits ([`Limits`]) bound connections and memory.
#![warn(missing_docs)]

mod event_loop;
mod interfaces;
mod limits;
pub mod mdns;

pub use event_loop::{
    CloseReason, Config, ConnectOptions, ConnectionError, ConnectionId, Context, Datagram,
    EventLoop, Handler, LoopHandle, LoopStats, Target, WriteState,
};
pub use interfaces::{enumerate, InterfaceInfo, InterfaceSelection};
pub use limits::Limits;
