#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![deny(unsafe_code)]

mod event_loop;
mod interfaces;
mod limits;
pub mod mdns;
mod send_queue;
mod watch;

pub use event_loop::{
    CloseReason, Config, ConnectOptions, ConnectionError, ConnectionId, Context, Datagram,
    EventLoop, Handler, LoopHandle, LoopStats, MdnsSocketError, SendProgress, Target, WriteState,
};
pub use interfaces::{enumerate, InterfaceInfo, InterfaceSelection};
pub use limits::Limits;
