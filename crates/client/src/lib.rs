#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod caps;
pub mod cli;
pub mod keys;
pub mod node;
pub mod presence;
pub mod session;
pub mod wide_area;
