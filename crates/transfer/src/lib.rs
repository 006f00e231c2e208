#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod http;
pub mod socks5;

pub use socks5::{stream_hash, Established, Progress, Socks5Client, Socks5Error, Socks5Server};
