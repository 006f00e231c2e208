//! Namespace names used by link-local XMPP.

/// The stream namespace (RFC 6120 §4.8.1).
pub const STREAMS: &str = "http://etherx.jabber.org/streams";
/// The content namespace of client streams, the one XEP-0174 streams use (RFC 6120 §4.8.2).
pub const JABBER_CLIENT: &str = "jabber:client";
/// Stream error conditions (RFC 6120 §4.9.3).
pub const STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// Stanza error conditions (RFC 6120 §8.3.3).
pub const STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// XHTML, the namespace of iChat's, Adium's and libpurple's `<html>` part (docs/PEERS.md).
pub const XHTML: &str = "http://www.w3.org/1999/xhtml";
/// The XEP-0071 XHTML-IM wrapper, used by telepathy-salut.
pub const XHTML_IM: &str = "http://jabber.org/protocol/xhtml-im";
/// XEP-0022 message events, the typing notifications of link-local peers.
pub const MESSAGE_EVENT: &str = "jabber:x:event";
/// XEP-0085 chat states.
pub const CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";
/// XEP-0030 service discovery, info.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0199 ping.
pub const PING: &str = "urn:xmpp:ping";
/// The `xml:` prefix's namespace.
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
/// STARTTLS (RFC 6120 §5).
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
