#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod code;
mod fingerprint;
pub mod known;
mod tls;

pub use code::{verification_code, CODE_GROUPS};
pub use fingerprint::{BadFingerprint, Fingerprint};
pub use known::{KeyStatus, KnownKeys, KnownKeysError, Pin};
pub use tls::{certificate_key, Identity, TlsContext, TlsSetupError};

/// The TLS library the connections come from ([`TlsContext::start`]).
pub use rustls;
