#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod http;
mod name;
pub mod si;
pub mod socks5;

pub use name::{numbered_name, safe_file_name, MAX_NAME_BYTES};
pub use si::{FileOffer, IqAddress, IqError, Refusal, SiError, StreamHost, TransferIq};
pub use socks5::{stream_hash, Established, Progress, Socks5Client, Socks5Error, Socks5Server};
