#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod code;
mod fingerprint;
pub mod known;

pub use code::{verification_code, CODE_GROUPS};
pub use fingerprint::{BadFingerprint, Fingerprint};
pub use known::{KeyStatus, KnownKeys, KnownKeysError, Pin};
