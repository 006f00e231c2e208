#![doc = include_str!("../README.md")]
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
