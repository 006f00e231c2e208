//! A framed stanza, its namespace context, and parsing into typed views.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use crate::chars::decode_attribute;
use crate::header::StreamHeader;
use crate::message::Message;
use crate::ns;
use crate::scan::{Attr, Token};
use crate::views::{Iq, Presence, StreamErrorView, StreamFeatures};
use crate::writer::escape_attribute;

/// A complete top-level element borrowed from the [`Framer`](crate::Framer).
///
/// It is checked XML (well formed, restricted-XML rules, limits) and valid UTF-8; its
/// namespace prefixes resolve against the stream header's declarations.
#[derive(Clone, Copy)]
pub struct Stanza<'a> {
    xml: &'a str,
    pub(crate) tokens: &'a [Token],
    pub(crate) attrs: &'a [Attr],
    pub(crate) has_prefix: bool,
    context: &'a StreamContext,
}

/// What kind of top-level element a stanza is, by qualified name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StanzaKind {
    /// `<message/>` in `jabber:client`.
    Message,
    /// `<presence/>` in `jabber:client`.
    Presence,
    /// `<iq/>` in `jabber:client`.
    Iq,
    /// `<stream:features/>`.
    StreamFeatures,
    /// `<stream:error/>`.
    StreamError,
    /// Anything else.
    Other,
}

/// A stanza parsed into its typed view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A message.
    Message(Message),
    /// An IQ.
    Iq(Iq),
    /// A presence stanza (link-local peers publish presence over DNS-SD, not in streams).
    Presence(Presence),
    /// Stream features (RFC 6120 §4.3.2).
    StreamFeatures(StreamFeatures),
    /// A stream error (RFC 6120 §4.9).
    StreamError(StreamErrorView),
    /// Another element: its namespace and local name.
    Other {
        /// Namespace name, empty if none.
        namespace: String,
        /// Local name.
        name: String,
    },
}

/// Why a stanza could not be parsed into its typed view.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StanzaError {
    /// roxmltree rejected the stanza (only for what the framer does not check, such as
    /// two attributes that are the same name under different prefixes).
    Xml(String),
    /// A required attribute is missing (`id` or `type` of an IQ).
    MissingAttribute(&'static str),
    /// An attribute has a value the stanza's definition does not allow.
    BadAttribute(&'static str),
}

impl fmt::Display for StanzaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StanzaError::Xml(reason) => write!(f, "stanza is not valid XML: {reason}"),
            StanzaError::MissingAttribute(name) => write!(f, "stanza lacks the `{name}` attribute"),
            StanzaError::BadAttribute(name) => write!(f, "stanza has a bad `{name}` attribute"),
        }
    }
}

impl std::error::Error for StanzaError {}

impl<'a> Stanza<'a> {
    pub(crate) fn new(
        xml: &'a str,
        tokens: &'a [Token],
        attrs: &'a [Attr],
        has_prefix: bool,
        context: &'a StreamContext,
    ) -> Stanza<'a> {
        Stanza {
            xml,
            tokens,
            attrs,
            has_prefix,
            context,
        }
    }

    /// The stanza's bytes as received.
    pub fn as_str(&self) -> &'a str {
        self.xml
    }

    /// The root element's qualified name as written (`message`, `stream:features`…).
    pub fn name(&self) -> &'a str {
        match self.tokens.first() {
            Some(Token::Start { name, .. }) => &self.xml[name.range()],
            _ => "",
        }
    }

    /// The decoded value of the root element's attribute `name` (qualified as written).
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.root_attrs()
            .iter()
            .find(|attr| &self.xml[attr.name.range()] == name)
            .map(|attr| decode_attribute(&self.xml[attr.value.range()]).into_owned())
    }

    /// What kind of element this is.
    pub fn kind(&self) -> StanzaKind {
        let name = self.name();
        let (prefix, local) = match name.split_once(':') {
            Some((prefix, local)) => (Some(prefix), local),
            None => (None, name),
        };
        let namespace = self.root_namespace(prefix);
        match (namespace.as_deref(), local) {
            (Some(ns::JABBER_CLIENT), "message") => StanzaKind::Message,
            (Some(ns::JABBER_CLIENT), "presence") => StanzaKind::Presence,
            (Some(ns::JABBER_CLIENT), "iq") => StanzaKind::Iq,
            (Some(ns::STREAMS), "features") => StanzaKind::StreamFeatures,
            (Some(ns::STREAMS), "error") => StanzaKind::StreamError,
            _ => StanzaKind::Other,
        }
    }

    /// Parses the stanza into its typed view. Messages without namespace prefixes take a
    /// fast path over the framer's token table; everything else goes through roxmltree.
    pub fn parse(&self) -> Result<Parsed, StanzaError> {
        if self.kind() == StanzaKind::Message {
            if let Some(message) = Message::from_tokens(self) {
                return Ok(Parsed::Message(message));
            }
        }
        self.to_owned().parse()
    }

    /// Copies the stanza, with the stream's namespace context, into an owned value that
    /// roxmltree can parse. Line ends are normalised on the way (CR LF and lone CR become
    /// LF), as XML 1.0 §2.11 has every parser do before parsing: roxmltree 0.21 keeps a CR
    /// that stands before a reference.
    pub fn to_owned(&self) -> OwnedStanza {
        let context = self.context;
        let mut text =
            String::with_capacity(context.open.len() + self.xml.len() + context.close.len());
        text.push_str(&context.open);
        let start = text.len();
        if memchr::memchr(b'\r', self.xml.as_bytes()).is_some() {
            text.push_str(&self.xml.replace("\r\n", "\n").replace('\r', "\n"));
        } else {
            text.push_str(self.xml);
        }
        let range = start..text.len();
        text.push_str(&context.close);
        OwnedStanza { text, range }
    }

    pub(crate) fn root_attrs(&self) -> &'a [Attr] {
        match self.tokens.first() {
            Some(&Token::Start {
                first_attr,
                end_attr,
                ..
            }) => &self.attrs[first_attr as usize..end_attr as usize],
            _ => &[],
        }
    }

    pub(crate) fn context(&self) -> &'a StreamContext {
        self.context
    }

    /// The namespace of `prefix` at the root: declared on the root itself, else by the
    /// stream header.
    fn root_namespace(&self, prefix: Option<&str>) -> Option<Cow<'a, str>> {
        let declares = |name: &str| match prefix {
            Some(prefix) => name.strip_prefix("xmlns:") == Some(prefix),
            None => name == "xmlns",
        };
        let xml = self.xml;
        match self
            .root_attrs()
            .iter()
            .find(|attr| declares(&xml[attr.name.range()]))
        {
            Some(attr) => Some(decode_attribute(&xml[attr.value.range()])),
            None => self.context.namespace(prefix).map(Cow::Borrowed),
        }
    }
}

impl fmt::Debug for Stanza<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Stanza").field(&self.xml).finish()
    }
}

/// A stanza copied out of the framer, wrapped in the stream header's namespace
/// declarations so that it parses on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedStanza {
    text: String,
    range: Range<usize>,
}

impl OwnedStanza {
    /// Wraps `xml` (one element) in the default stream context (`jabber:client` as the
    /// default namespace, `stream` bound to the streams namespace). The text is not checked
    /// by the framer: parse errors come from roxmltree.
    pub fn from_xml(xml: &str) -> OwnedStanza {
        Stanza::new(xml, &[], &[], true, &StreamContext::default()).to_owned()
    }

    /// The stanza's text as received, line ends normalised.
    pub fn as_str(&self) -> &str {
        &self.text[self.range.clone()]
    }

    /// Parses the stanza with roxmltree. The document's root element is the synthetic
    /// stream element; [`OwnedStanza::parse`] and the typed views look at its first child.
    pub fn document(&self) -> Result<roxmltree::Document<'_>, StanzaError> {
        let options = roxmltree::ParsingOptions {
            allow_dtd: false,
            ..Default::default()
        };
        roxmltree::Document::parse_with_options(&self.text, options)
            .map_err(|e| StanzaError::Xml(e.to_string()))
    }

    /// Parses the stanza into its typed view, through roxmltree.
    pub fn parse(&self) -> Result<Parsed, StanzaError> {
        let document = self.document()?;
        let Some(root) = document.root_element().first_element_child() else {
            return Err(StanzaError::Xml("no element".to_owned()));
        };
        let tag = root.tag_name();
        Ok(match (tag.namespace().unwrap_or(""), tag.name()) {
            (ns::JABBER_CLIENT, "message") => Parsed::Message(Message::from_element(root)),
            (ns::JABBER_CLIENT, "iq") => Parsed::Iq(Iq::from_element(root)?),
            (ns::JABBER_CLIENT, "presence") => Parsed::Presence(Presence::from_element(root)),
            (ns::STREAMS, "features") => Parsed::StreamFeatures(StreamFeatures::from_element(root)),
            (ns::STREAMS, "error") => Parsed::StreamError(StreamErrorView::from_element(root)),
            (namespace, name) => Parsed::Other {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            },
        })
    }
}

/// The stream header's namespace declarations, as an element that wraps a stanza.
#[derive(Clone, Debug)]
pub(crate) struct StreamContext {
    open: String,
    close: String,
    namespaces: Vec<(Option<String>, String)>,
}

impl StreamContext {
    pub fn from_header(header: &StreamHeader) -> StreamContext {
        let mut open = format!("<{}", header.name);
        let mut namespaces: Vec<(Option<String>, String)> = header
            .namespaces
            .iter()
            .map(|d| (d.prefix.clone(), d.uri.clone()))
            .collect();
        if header.namespace(None).is_none() {
            // A header without a default namespace is taken to mean `jabber:client`.
            open.push_str(" xmlns='jabber:client'");
            namespaces.push((None, ns::JABBER_CLIENT.to_owned()));
        }
        for decl in &header.namespaces {
            match &decl.prefix {
                Some(prefix) => open.push_str(&format!(" xmlns:{prefix}='")),
                None => open.push_str(" xmlns='"),
            }
            escape_attribute(&mut open, &decl.uri);
            open.push('\'');
        }
        open.push('>');
        StreamContext {
            open,
            close: format!("</{}>", header.name),
            namespaces,
        }
    }

    /// The namespace the header binds `prefix` to (`None`: the default namespace).
    pub fn namespace(&self, prefix: Option<&str>) -> Option<&str> {
        self.namespaces
            .iter()
            .find(|(p, _)| p.as_deref() == prefix)
            .map(|(_, uri)| uri.as_str())
    }
}

impl Default for StreamContext {
    fn default() -> Self {
        StreamContext::from_header(&StreamHeader::new())
    }
}
