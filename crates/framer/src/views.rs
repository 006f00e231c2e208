//! Typed views of the stanzas other than messages, read through roxmltree.

use crate::ns;
use crate::stanza::StanzaError;
use crate::Condition;

/// The `type` of an IQ (RFC 6120 §8.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IqType {
    /// `get`: a request for information.
    Get,
    /// `set`: a request to change something.
    Set,
    /// `result`: a successful answer.
    Result,
    /// `error`: a failed answer.
    Error,
}

impl IqType {
    /// The attribute value.
    pub fn name(self) -> &'static str {
        match self {
            IqType::Get => "get",
            IqType::Set => "set",
            IqType::Result => "result",
            IqType::Error => "error",
        }
    }

    fn from_name(name: &str) -> Option<IqType> {
        Some(match name {
            "get" => IqType::Get,
            "set" => IqType::Set,
            "result" => IqType::Result,
            "error" => IqType::Error,
            _ => return None,
        })
    }
}

/// An `<iq/>` stanza: its routing attributes and what its payload is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iq {
    /// `to`.
    pub to: Option<String>,
    /// `from`.
    pub from: Option<String>,
    /// `id` (required by RFC 6120 §8.2.3).
    pub id: String,
    /// `type` (required).
    pub kind: IqType,
    /// The first child element's namespace name (empty if it has none), if there is a child.
    pub payload_namespace: Option<String>,
    /// The first child element's local name, if there is a child.
    pub payload_name: Option<String>,
}

impl Iq {
    pub(crate) fn from_element(element: roxmltree::Node<'_, '_>) -> Result<Iq, StanzaError> {
        let id = element
            .attribute("id")
            .ok_or(StanzaError::MissingAttribute("id"))?;
        let kind = element
            .attribute("type")
            .ok_or(StanzaError::MissingAttribute("type"))?;
        let kind = IqType::from_name(kind).ok_or(StanzaError::BadAttribute("type"))?;
        let payload = element.first_element_child();
        Ok(Iq {
            to: element.attribute("to").map(str::to_owned),
            from: element.attribute("from").map(str::to_owned),
            id: id.to_owned(),
            kind,
            payload_namespace: payload.map(|p| p.tag_name().namespace().unwrap_or("").to_owned()),
            payload_name: payload.map(|p| p.tag_name().name().to_owned()),
        })
    }
}

/// A `<presence/>` stanza. Link-local peers publish presence in DNS-SD TXT records
/// (XEP-0174 §4) and do not send these in streams; they are read so they can be ignored
/// knowingly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    /// `to`.
    pub to: Option<String>,
    /// `from`.
    pub from: Option<String>,
    /// `type` (absent: available).
    pub kind: Option<String>,
    /// Text of `<show/>`.
    pub show: Option<String>,
    /// Text of `<status/>`.
    pub status: Option<String>,
}

impl Presence {
    pub(crate) fn from_element(element: roxmltree::Node<'_, '_>) -> Presence {
        let child_text = |name: &str| {
            element
                .children()
                .find(|n| {
                    n.tag_name().name() == name
                        && n.tag_name().namespace() == Some(ns::JABBER_CLIENT)
                })
                .map(|n| n.text().unwrap_or("").to_owned())
        };
        Presence {
            to: element.attribute("to").map(str::to_owned),
            from: element.attribute("from").map(str::to_owned),
            kind: element.attribute("type").map(str::to_owned),
            show: child_text("show"),
            status: child_text("status"),
        }
    }
}

/// `<stream:features/>` (RFC 6120 §4.3.2). Link-local peers send it empty, if at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamFeatures {
    /// Each feature's (namespace name, local name), in order.
    pub features: Vec<(String, String)>,
}

impl StreamFeatures {
    pub(crate) fn from_element(element: roxmltree::Node<'_, '_>) -> StreamFeatures {
        let features = element
            .children()
            .filter(|n| n.is_element())
            .map(|n| {
                (
                    n.tag_name().namespace().unwrap_or("").to_owned(),
                    n.tag_name().name().to_owned(),
                )
            })
            .collect();
        StreamFeatures { features }
    }
}

/// `<stream:error/>` (RFC 6120 §4.9): the peer is closing the stream because of an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamErrorView {
    /// The defined condition, if the element names one this crate knows.
    pub condition: Option<Condition>,
    /// The condition element's local name as sent (also for unknown conditions).
    pub condition_name: Option<String>,
    /// The human-readable `<text/>`, if any.
    pub text: Option<String>,
}

impl StreamErrorView {
    pub(crate) fn from_element(element: roxmltree::Node<'_, '_>) -> StreamErrorView {
        let in_ns = |n: &roxmltree::Node<'_, '_>| {
            n.is_element() && n.tag_name().namespace() == Some(ns::STREAM_ERRORS)
        };
        let condition_name = element
            .children()
            .find(|n| in_ns(n) && n.tag_name().name() != "text")
            .map(|n| n.tag_name().name().to_owned());
        let text = element
            .children()
            .find(|n| in_ns(n) && n.tag_name().name() == "text")
            .map(|n| n.text().unwrap_or("").to_owned());
        StreamErrorView {
            condition: condition_name.as_deref().and_then(Condition::from_name),
            condition_name,
            text,
        }
    }
}
