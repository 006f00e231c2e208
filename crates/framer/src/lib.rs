#![doc = include_str!("../README.md")]
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
