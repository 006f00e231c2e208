//! The only crate of llxmpp that performs I/O.
//!
//! This crate will own the `mio` poll: mDNS multicast UDP sockets, the TCP listener and
//! streams, timers driven by the machines' `poll_timeout`, and a waker for commands from
//! other threads. It knows nothing of XMPP.
//!
//! Nothing is implemented yet; see the project's issue tracker.
#![warn(missing_docs)]
