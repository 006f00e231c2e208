//! An incremental, sans-IO XMPP stream framer for link-local (XEP-0174) chat.
//!
//! Bytes go in, in any chunking; out come the stream header, each complete top-level
//! stanza, whitespace keepalives and the stream close, with RFC 6120 §11's restricted
//! XML rules and explicit [`Limits`] enforced on the way. Stanzas parse into typed views
//! ([`Message`], [`Iq`], [`Presence`], [`StreamFeatures`], [`StreamErrorView`]); messages
//! take a fast path over the framer's own scan, everything else goes through `roxmltree`
//! with the stream header's namespace declarations in scope. A [writer](write_message)
//! produces what the oldest link-local peers parse.
//!
//! This crate does no networking, reads no clock and spawns nothing. No input makes it
//! panic: every problem with what a peer sends is an [`Error`] that maps to the RFC 6120
//! stream-error [`Condition`] to send back.
//!
//! ```
//! use llxmpp_framer::{Frame, Framer, Parsed};
//!
//! let mut framer = Framer::new();
//! framer.feed(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
//!     xmlns:stream='http://etherx.jabber.org/streams' from='juliet@pronto'>");
//! framer.feed(b"<message type='chat'><body>hi &amp; bye</body></message>");
//! let Ok(Some(Frame::StreamOpen(header))) = framer.next_frame() else { panic!() };
//! assert_eq!(header.from.as_deref(), Some("juliet@pronto"));
//! let Ok(Some(Frame::Stanza(stanza))) = framer.next_frame() else { panic!() };
//! let Ok(Parsed::Message(message)) = stanza.parse() else { panic!() };
//! assert_eq!(message.body.as_deref(), Some("hi & bye"));
//! assert!(matches!(framer.next_frame(), Ok(None)));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod chars;
mod error;
mod framer;
mod header;
mod limits;
mod message;
pub mod ns;
mod scan;
mod stanza;
mod views;
mod writer;

pub use error::{Condition, Error};
pub use framer::{Frame, Framer};
pub use header::{NamespaceDecl, StreamHeader};
pub use limits::Limits;
pub use message::{ChatState, Message, MessageEvent, MessageType, Xhtml, XhtmlNamespace};
pub use stanza::{OwnedStanza, Parsed, Stanza, StanzaError, StanzaKind};
pub use views::{Iq, IqType, Presence, StreamErrorView, StreamFeatures};
pub use writer::{
    escape_attribute, escape_text, write_empty_features, write_message, write_stream_close,
    write_stream_error, write_stream_header,
};
