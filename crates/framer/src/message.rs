//! The typed message view (RFC 6120 §8, XEP-0174 §6; the peers' habits in docs/PEERS.md).
//!
//! Two readers give the same [`Message`]: a fast one over the framer's token table, for
//! the common message without namespace prefixes, and one over a roxmltree element for
//! everything else. A property test holds them equal.

use crate::chars::{decode_attribute, push_decoded_text};
use crate::ns;
use crate::scan::{Attr, Token};
use crate::stanza::Stanza;

/// A `<message/>` stanza, reduced to what link-local chat uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// `to`. Peers put an instance name, an IP address or nothing here: do not trust it.
    pub to: Option<String>,
    /// `from`. iChat sends none: the stream tells who the sender is.
    pub from: Option<String>,
    /// `type`.
    pub kind: Option<MessageType>,
    /// `id`.
    pub id: Option<String>,
    /// Text of the first `<thread/>`.
    pub thread: Option<String>,
    /// Text of the first `<subject/>`.
    pub subject: Option<String>,
    /// Text of the first `<body/>` in `jabber:client`.
    pub body: Option<String>,
    /// The formatted part, `<html/>` in either namespace peers use.
    pub xhtml: Option<Xhtml>,
    /// The XEP-0022 `jabber:x:event` element.
    pub event: Option<MessageEvent>,
    /// A XEP-0085 chat state.
    pub chat_state: Option<ChatState>,
}

impl Message {
    /// A chat message as link-local peers expect one (docs/PEERS.md): `type`
    /// chat, the body, the same text as an XHTML part, and a XEP-0022 composing request.
    pub fn chat(from: &str, to: &str, body: &str) -> Message {
        Message {
            to: Some(to.to_owned()),
            from: Some(from.to_owned()),
            kind: Some(MessageType::Chat),
            body: Some(body.to_owned()),
            xhtml: Some(Xhtml {
                namespace: XhtmlNamespace::Xhtml,
                text: body.to_owned(),
            }),
            event: Some(MessageEvent {
                composing: true,
                id: None,
            }),
            ..Message::default()
        }
    }

    /// Whether this is a XEP-0022 typing notification (its event carries `<id/>`), which
    /// must never be shown as a message even if it has a body: iChat puts the partly typed
    /// text there.
    pub fn is_typing_notification(&self) -> bool {
        self.event.as_ref().is_some_and(|event| event.id.is_some())
    }

    /// The text to show: the plain body when it has any, else the XHTML part's text.
    pub fn text(&self) -> Option<&str> {
        match (&self.body, &self.xhtml) {
            (Some(body), _) if !body.is_empty() => Some(body),
            (_, Some(xhtml)) if !xhtml.text.is_empty() => Some(&xhtml.text),
            (Some(body), _) => Some(body),
            _ => None,
        }
    }

    /// [`Message::text`], taken out of the message rather than copied.
    pub fn into_text(self) -> Option<String> {
        match (self.body, self.xhtml) {
            (Some(body), _) if !body.is_empty() => Some(body),
            (_, Some(xhtml)) if !xhtml.text.is_empty() => Some(xhtml.text),
            (body, _) => body,
        }
    }

    /// Reads a message from the framer's token table, or `None` when it needs the full
    /// namespace machinery (prefixed names) and must go through roxmltree.
    pub(crate) fn from_tokens(stanza: &Stanza<'_>) -> Option<Message> {
        if stanza.has_prefix {
            return None;
        }
        let reader = TokenReader {
            xml: stanza.as_str(),
            tokens: stanza.tokens,
            attrs: stanza.attrs,
        };
        let default_ns = stanza
            .context()
            .namespace(None)
            .unwrap_or(ns::JABBER_CLIENT);
        let root_ns = reader.namespace(0, default_ns);
        let mut message = Message::default();
        for attr in stanza.root_attrs() {
            let value = || Some(decode_attribute(&reader.xml[attr.value.range()]).into_owned());
            match &reader.xml[attr.name.range()] {
                "to" => message.to = value(),
                "from" => message.from = value(),
                "type" => message.kind = value().map(|v| MessageType::from_name(&v)),
                "id" => message.id = value(),
                _ => {}
            }
        }
        let mut i = 1;
        while i < reader.tokens.len() {
            let end = reader.element_end(i);
            if let Token::Start { .. } = reader.tokens[i] {
                let child = TokenChild {
                    reader: &reader,
                    start: i,
                    end,
                    namespace: reader.namespace(i, root_ns),
                };
                message.read_child(child.namespace, reader.name(i), &child);
            }
            i = end + 1;
        }
        Some(message)
    }

    /// Reads a message from a roxmltree `<message/>` element.
    pub(crate) fn from_element(element: roxmltree::Node<'_, '_>) -> Message {
        let mut message = Message::default();
        let attribute = |name: &str| element.attribute(name).map(str::to_owned);
        message.to = attribute("to");
        message.from = attribute("from");
        message.kind = element.attribute("type").map(MessageType::from_name);
        message.id = attribute("id");
        for child in element.children().filter(|n| n.is_element()) {
            let tag = child.tag_name();
            message.read_child(tag.namespace().unwrap_or(""), tag.name(), &child);
        }
        message
    }

    /// Fills in the field that a child element in `namespace` named `name` stands for.
    fn read_child(&mut self, namespace: &str, name: &str, child: &impl ChildElement) {
        match (namespace, name) {
            (ns::JABBER_CLIENT, "body") if self.body.is_none() => self.body = Some(child.text()),
            (ns::JABBER_CLIENT, "subject") if self.subject.is_none() => {
                self.subject = Some(child.text())
            }
            (ns::JABBER_CLIENT, "thread") if self.thread.is_none() => {
                self.thread = Some(child.text())
            }
            (ns::XHTML | ns::XHTML_IM, "html") if self.xhtml.is_none() => {
                let namespace = if namespace == ns::XHTML {
                    XhtmlNamespace::Xhtml
                } else {
                    XhtmlNamespace::XhtmlIm
                };
                let text = child.xhtml_body_text().unwrap_or_default();
                self.xhtml = Some(Xhtml { namespace, text });
            }
            (ns::MESSAGE_EVENT, "x") if self.event.is_none() => self.event = Some(child.event()),
            (ns::CHAT_STATES, state) if self.chat_state.is_none() => {
                self.chat_state = ChatState::from_name(state);
            }
            _ => {}
        }
    }
}

/// A child element of `<message/>` in whichever tree is being read: what
/// [`Message::read_child`] needs from it.
trait ChildElement {
    /// All text inside the element, decoded, in document order.
    fn text(&self) -> String;
    /// All text inside the element's first XHTML `<body/>` child.
    fn xhtml_body_text(&self) -> Option<String>;
    /// The XEP-0022 flags among the element's children.
    fn event(&self) -> MessageEvent;
}

impl ChildElement for roxmltree::Node<'_, '_> {
    fn text(&self) -> String {
        self.descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect()
    }

    fn xhtml_body_text(&self) -> Option<String> {
        self.children()
            .find(|n| {
                n.is_element()
                    && n.tag_name().namespace() == Some(ns::XHTML)
                    && n.tag_name().name() == "body"
            })
            .map(|body| ChildElement::text(&body))
    }

    fn event(&self) -> MessageEvent {
        let mut event = MessageEvent {
            composing: false,
            id: None,
        };
        for flag in self.children().filter(|n| n.is_element()) {
            if flag.tag_name().namespace() != Some(ns::MESSAGE_EVENT) {
                continue;
            }
            match flag.tag_name().name() {
                "composing" => event.composing = true,
                "id" if event.id.is_none() => event.id = Some(ChildElement::text(&flag)),
                _ => {}
            }
        }
        event
    }
}

/// A child element in a token table: tokens `start..=end`.
struct TokenChild<'r, 'a> {
    reader: &'r TokenReader<'a>,
    start: usize,
    end: usize,
    namespace: &'a str,
}

impl TokenChild<'_, '_> {
    fn child_elements(&self) -> impl Iterator<Item = TokenChild<'_, '_>> + '_ {
        self.reader
            .children(self.start, self.end)
            .map(|(start, end)| TokenChild {
                reader: self.reader,
                start,
                end,
                namespace: self.reader.namespace(start, self.namespace),
            })
    }
}

impl ChildElement for TokenChild<'_, '_> {
    fn text(&self) -> String {
        self.reader.text(self.start, self.end)
    }

    fn xhtml_body_text(&self) -> Option<String> {
        self.child_elements()
            .find(|c| c.namespace == ns::XHTML && self.reader.name(c.start) == "body")
            .map(|body| body.text())
    }

    fn event(&self) -> MessageEvent {
        let mut event = MessageEvent {
            composing: false,
            id: None,
        };
        for flag in self.child_elements() {
            if flag.namespace != ns::MESSAGE_EVENT {
                continue;
            }
            match self.reader.name(flag.start) {
                "composing" => event.composing = true,
                "id" if event.id.is_none() => event.id = Some(flag.text()),
                _ => {}
            }
        }
        event
    }
}

/// A walk over one stanza's token table.
struct TokenReader<'a> {
    xml: &'a str,
    tokens: &'a [Token],
    attrs: &'a [Attr],
}

impl<'a> TokenReader<'a> {
    /// The index of the `End` matching the `Start` at `start`.
    /// Any other token is its own end.
    fn element_end(&self, start: usize) -> usize {
        if !matches!(self.tokens.get(start), Some(Token::Start { .. })) {
            return start;
        }
        let mut depth = 0usize;
        for (i, token) in self.tokens.iter().enumerate().skip(start) {
            match token {
                Token::Start { .. } => depth += 1,
                Token::End => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            }
        }
        self.tokens.len()
    }

    /// The child elements of the element spanning `start..=end`, as (start, end) pairs.
    fn children(&self, start: usize, end: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut i = start + 1;
        std::iter::from_fn(move || {
            while i < end {
                let at = i;
                if let Token::Start { .. } = self.tokens[at] {
                    let child_end = self.element_end(at);
                    i = child_end + 1;
                    return Some((at, child_end));
                }
                i += 1;
            }
            None
        })
    }

    fn name(&self, start: usize) -> &'a str {
        match self.tokens[start] {
            Token::Start { name, .. } => &self.xml[name.range()],
            _ => "",
        }
    }

    /// The element's namespace: its own `xmlns`, else its parent's (`inherited`). With no
    /// prefixes in the stanza, that is all namespace resolution needs.
    fn namespace(&self, start: usize, inherited: &'a str) -> &'a str {
        let Token::Start {
            first_attr,
            end_attr,
            ..
        } = self.tokens[start]
        else {
            return inherited;
        };
        self.attrs[first_attr as usize..end_attr as usize]
            .iter()
            .find(|attr| &self.xml[attr.name.range()] == "xmlns")
            .map_or(inherited, |attr| &self.xml[attr.value.range()])
    }

    /// All text between tokens `start` and `end`, decoded.
    fn text(&self, start: usize, end: usize) -> String {
        let tokens = &self.tokens[start..end];
        // Decoding never lengthens text (a reference is at least as long as its character),
        // so one allocation of the raw length holds it: growing as it goes cost more than
        // the decoding itself.
        let raw_len = tokens
            .iter()
            .map(|token| match *token {
                Token::Text(span) | Token::Cdata(span) => span.range().len(),
                _ => 0,
            })
            .sum();
        let mut text = String::with_capacity(raw_len);
        for token in tokens {
            match *token {
                Token::Text(span) => push_decoded_text(&mut text, &self.xml[span.range()]),
                Token::Cdata(span) => push_decoded_text_cdata(&mut text, &self.xml[span.range()]),
                _ => {}
            }
        }
        text
    }
}

/// CDATA content needs line-end normalisation only: `&` in it is literal.
fn push_decoded_text_cdata(out: &mut String, raw: &str) {
    let mut rest = raw;
    while let Some(cr) = rest.find('\r') {
        out.push_str(&rest[..cr]);
        out.push('\n');
        rest = &rest[cr + 1..];
        if rest.starts_with('\n') {
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
}

/// The `type` of a message (RFC 6120 §5.2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// `chat`: what link-local peers send.
    Chat,
    /// `normal`.
    Normal,
    /// `groupchat`.
    Groupchat,
    /// `headline`.
    Headline,
    /// `error`.
    Error,
    /// Any other value, kept as sent.
    Other(String),
}

impl MessageType {
    /// The type named `name`.
    pub fn from_name(name: &str) -> MessageType {
        match name {
            "chat" => MessageType::Chat,
            "normal" => MessageType::Normal,
            "groupchat" => MessageType::Groupchat,
            "headline" => MessageType::Headline,
            "error" => MessageType::Error,
            other => MessageType::Other(other.to_owned()),
        }
    }

    /// The attribute value.
    pub fn name(&self) -> &str {
        match self {
            MessageType::Chat => "chat",
            MessageType::Normal => "normal",
            MessageType::Groupchat => "groupchat",
            MessageType::Headline => "headline",
            MessageType::Error => "error",
            MessageType::Other(name) => name,
        }
    }
}

/// The namespace of a message's `<html/>` part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XhtmlNamespace {
    /// `<html xmlns='http://www.w3.org/1999/xhtml'>`: iChat, Adium, libpurple.
    Xhtml,
    /// The XEP-0071 wrapper `<html xmlns='http://jabber.org/protocol/xhtml-im'>` with an
    /// XHTML `<body/>` inside: telepathy-salut.
    XhtmlIm,
}

/// A message's formatted part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xhtml {
    /// Which namespace the `<html/>` element was in.
    pub namespace: XhtmlNamespace,
    /// All text inside its XHTML `<body/>`, markup removed.
    pub text: String,
}

/// A XEP-0022 `<x xmlns='jabber:x:event'/>` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageEvent {
    /// `<composing/>`: in a message, a request for typing notifications; in a
    /// notification, the peer is typing (its absence: stopped).
    pub composing: bool,
    /// `<id/>`: present only in notifications; the id of the message they refer to.
    pub id: Option<String>,
}

/// A XEP-0085 chat state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatState {
    /// `<active/>`.
    Active,
    /// `<composing/>`.
    Composing,
    /// `<paused/>`.
    Paused,
    /// `<inactive/>`.
    Inactive,
    /// `<gone/>`.
    Gone,
}

impl ChatState {
    /// The state whose element is named `name`.
    pub fn from_name(name: &str) -> Option<ChatState> {
        Some(match name {
            "active" => ChatState::Active,
            "composing" => ChatState::Composing,
            "paused" => ChatState::Paused,
            "inactive" => ChatState::Inactive,
            "gone" => ChatState::Gone,
            _ => return None,
        })
    }

    /// The element name.
    pub fn name(self) -> &'static str {
        match self {
            ChatState::Active => "active",
            ChatState::Composing => "composing",
            ChatState::Paused => "paused",
            ChatState::Inactive => "inactive",
            ChatState::Gone => "gone",
        }
    }
}
