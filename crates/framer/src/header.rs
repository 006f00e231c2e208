//! The stream header: `<stream:stream …>` and what it declares.

use crate::chars::decode_attribute;
use crate::ns;
use crate::scan::{Attr, Token};
use crate::Error;

/// A namespace declaration on the stream header (`xmlns='…'` or `xmlns:prefix='…'`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceDecl {
    /// The declared prefix, or `None` for the default namespace.
    pub prefix: Option<String>,
    /// The namespace name.
    pub uri: String,
}

/// The attributes of a peer's `<stream:stream>` (RFC 6120 §4.7, XEP-0174 §5).
///
/// Link-local peers differ: iChat sends neither `to` nor `from`, libpurple and Adium send
/// no `version`, Adium may send an IP address as `to` (docs/PEERS.md). Every attribute
/// is therefore optional, and values are reported decoded but otherwise as sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamHeader {
    /// The element's qualified name as written, normally `stream:stream`.
    pub name: String,
    /// `to`: the instance name the peer thinks it is talking to.
    pub to: Option<String>,
    /// `from`: the instance name the peer claims.
    pub from: Option<String>,
    /// `version`; `Some("1.0")` means the peer supports stream features.
    pub version: Option<String>,
    /// `id`, if the peer sent one.
    pub id: Option<String>,
    /// `xml:lang`.
    pub lang: Option<String>,
    /// The namespace declarations, in document order.
    pub namespaces: Vec<NamespaceDecl>,
}

impl StreamHeader {
    /// A header with our usual name and namespaces (`stream:stream`, `jabber:client`, the
    /// streams namespace) and no attributes, ready to be filled in and written.
    pub fn new() -> StreamHeader {
        StreamHeader {
            name: "stream:stream".to_owned(),
            to: None,
            from: None,
            version: None,
            id: None,
            lang: None,
            namespaces: vec![
                NamespaceDecl {
                    prefix: None,
                    uri: ns::JABBER_CLIENT.to_owned(),
                },
                NamespaceDecl {
                    prefix: Some("stream".to_owned()),
                    uri: ns::STREAMS.to_owned(),
                },
            ],
        }
    }

    /// Whether the peer announced XMPP 1.0, after which stream features may follow
    /// (RFC 6120 §4.7.5). Versions are compared by major number as the RFC says.
    pub fn supports_features(&self) -> bool {
        self.version
            .as_deref()
            .and_then(|v| v.split('.').next())
            .and_then(|major| major.parse::<u32>().ok())
            .is_some_and(|major| major >= 1)
    }

    /// The namespace bound to `prefix` (`None` for the default namespace) by this header.
    pub fn namespace(&self, prefix: Option<&str>) -> Option<&str> {
        self.namespaces
            .iter()
            .find(|decl| decl.prefix.as_deref() == prefix)
            .map(|decl| decl.uri.as_str())
    }

    /// Builds the header from the scanner's tables and checks its namespaces.
    pub(crate) fn from_tokens(
        item: &str,
        tokens: &[Token],
        attrs: &[Attr],
    ) -> Result<StreamHeader, Error> {
        let Some(&Token::Start {
            name,
            first_attr,
            end_attr,
        }) = tokens.first()
        else {
            return Err(Error::Syntax);
        };
        let mut header = StreamHeader {
            name: item[name.range()].to_owned(),
            to: None,
            from: None,
            version: None,
            id: None,
            lang: None,
            namespaces: Vec::new(),
        };
        for attr in &attrs[first_attr as usize..end_attr as usize] {
            let value = decode_attribute(&item[attr.value.range()]).into_owned();
            match &item[attr.name.range()] {
                "to" => header.to = Some(value),
                "from" => header.from = Some(value),
                "version" => header.version = Some(value),
                "id" => header.id = Some(value),
                "xml:lang" => header.lang = Some(value),
                "xmlns" => header.namespaces.push(NamespaceDecl {
                    prefix: None,
                    uri: value,
                }),
                other => {
                    if let Some(prefix) = other.strip_prefix("xmlns:") {
                        let prefix = Some(prefix.to_owned());
                        header.namespaces.push(NamespaceDecl { prefix, uri: value });
                    }
                }
            }
        }
        header.check_namespaces()?;
        Ok(header)
    }

    /// The root must be `stream` in the streams namespace; the content namespace, when
    /// declared, must be `jabber:client`. A missing default namespace is tolerated: no
    /// link-local peer omits it, and nothing is gained by refusing one that does.
    fn check_namespaces(&self) -> Result<(), Error> {
        let (prefix, local) = match self.name.split_once(':') {
            Some((prefix, local)) => (Some(prefix), local),
            None => (None, self.name.as_str()),
        };
        if local != "stream" || self.namespace(prefix) != Some(ns::STREAMS) {
            return Err(Error::InvalidNamespace);
        }
        match (prefix, self.namespace(None)) {
            (_, None) => Ok(()),
            (Some(_), Some(ns::JABBER_CLIENT)) => Ok(()),
            (None, Some(ns::STREAMS)) => Ok(()),
            _ => Err(Error::InvalidNamespace),
        }
    }
}

impl Default for StreamHeader {
    fn default() -> Self {
        StreamHeader::new()
    }
}
