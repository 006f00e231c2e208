//! Writing XMPP: stream header, messages, stream close and errors, and escaping.
//!
//! Output follows what the oldest link-local peers parse (docs/PEERS.md): the literal
//! `stream:` prefix with `xmlns:stream` declared on the root, and `xmlns='…'` written on
//! every extension element itself, because Adium's parser matches names and `xmlns`
//! attributes literally. Attributes are single-quoted, as libpurple writes them.
//!
//! Characters that XML 1.0 cannot carry (C0 controls other than tab, LF and CR, U+FFFE,
//! U+FFFF) are written as U+FFFD, so whatever a user types yields a well-formed stream.

use crate::chars::is_xml_char;
use crate::header::StreamHeader;
use crate::message::{Message, XhtmlNamespace};
use crate::{ns, Condition};

/// Appends `text` escaped for character data: `&`, `<`, `>` and CR (as `&#13;`, so that it
/// survives line-end normalisation) are escaped.
pub fn escape_text(out: &mut String, text: &str) {
    escape(out, text, false);
}

/// Appends `value` escaped for a single- or double-quoted attribute value: as
/// [`escape_text`], plus both quotes, and tab and LF as references so that attribute-value
/// normalisation keeps them.
pub fn escape_attribute(out: &mut String, value: &str) {
    escape(out, value, true);
}

fn escape(out: &mut String, text: &str, attribute: bool) {
    let mut from = 0;
    for (at, c) in text.char_indices() {
        let replacement = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '\r' => "&#13;",
            '\'' if attribute => "&apos;",
            '"' if attribute => "&quot;",
            '\t' if attribute => "&#9;",
            '\n' if attribute => "&#10;",
            c if !is_xml_char(c as u32) => "\u{FFFD}",
            _ => continue,
        };
        out.push_str(&text[from..at]);
        out.push_str(replacement);
        from = at + c.len_utf8();
    }
    out.push_str(&text[from..]);
}

/// Appends the XML declaration and our stream header (XEP-0174 §5; docs/PEERS.md):
/// `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'`
/// then `from`, `to`, `version`, `id` and `xml:lang` where set. The header's `name` and
/// `namespaces` are not consulted: we always write the standard ones.
pub fn write_stream_header(out: &mut String, header: &StreamHeader) {
    out.push_str("<?xml version='1.0' encoding='UTF-8'?><stream:stream xmlns='");
    out.push_str(ns::JABBER_CLIENT);
    out.push_str("' xmlns:stream='");
    out.push_str(ns::STREAMS);
    out.push('\'');
    push_attribute(out, "from", header.from.as_deref());
    push_attribute(out, "to", header.to.as_deref());
    push_attribute(out, "version", header.version.as_deref());
    push_attribute(out, "id", header.id.as_deref());
    push_attribute(out, "xml:lang", header.lang.as_deref());
    out.push('>');
}

/// Appends empty stream features, which a responder sends when both headers said
/// `version='1.0'` (XEP-0174 §5).
pub fn write_empty_features(out: &mut String) {
    out.push_str("<stream:features/>");
}

/// Appends the stream's closing tag.
pub fn write_stream_close(out: &mut String) {
    out.push_str("</stream:stream>");
}

/// Appends a stream error (RFC 6120 §4.9) with an optional human-readable text. The
/// stream must be closed after it.
pub fn write_stream_error(out: &mut String, condition: Condition, text: Option<&str>) {
    out.push_str("<stream:error><");
    out.push_str(condition.name());
    out.push_str(" xmlns='");
    out.push_str(ns::STREAM_ERRORS);
    out.push_str("'/>");
    if let Some(text) = text {
        out.push_str("<text xmlns='");
        out.push_str(ns::STREAM_ERRORS);
        out.push_str("'>");
        escape_text(out, text);
        out.push_str("</text>");
    }
    out.push_str("</stream:error>");
}

/// Appends a message. Children come in the order peers send them: body, subject, thread,
/// the XHTML part, the XEP-0022 event, the XEP-0085 chat state.
pub fn write_message(out: &mut String, message: &Message) {
    out.push_str("<message");
    push_attribute(out, "to", message.to.as_deref());
    push_attribute(out, "from", message.from.as_deref());
    push_attribute(out, "type", message.kind.as_ref().map(|k| k.name()));
    push_attribute(out, "id", message.id.as_deref());
    out.push('>');
    push_text_element(out, "body", message.body.as_deref());
    push_text_element(out, "subject", message.subject.as_deref());
    push_text_element(out, "thread", message.thread.as_deref());
    if let Some(xhtml) = &message.xhtml {
        match xhtml.namespace {
            XhtmlNamespace::Xhtml => {
                // As iChat and libpurple write it: libpurple takes `html/body/font` as
                // markup with its escapes kept, but a bare `html/body` as unescaped text,
                // which would turn a literal `<b>` typed by the user into bold.
                out.push_str("<html xmlns='");
                out.push_str(ns::XHTML);
                out.push_str("'>");
                if xhtml.text.is_empty() {
                    out.push_str("<body/>");
                } else {
                    out.push_str("<body><font>");
                    escape_text(out, &xhtml.text);
                    out.push_str("</font></body>");
                }
            }
            XhtmlNamespace::XhtmlIm => {
                out.push_str("<html xmlns='");
                out.push_str(ns::XHTML_IM);
                out.push_str("'><body xmlns='");
                out.push_str(ns::XHTML);
                out.push('\'');
                push_content(out, "body", &xhtml.text);
            }
        }
        out.push_str("</html>");
    }
    if let Some(event) = &message.event {
        out.push_str("<x xmlns='");
        out.push_str(ns::MESSAGE_EVENT);
        out.push_str("'>");
        if event.composing {
            out.push_str("<composing/>");
        }
        push_text_element(out, "id", event.id.as_deref());
        out.push_str("</x>");
    }
    if let Some(state) = message.chat_state {
        out.push('<');
        out.push_str(state.name());
        out.push_str(" xmlns='");
        out.push_str(ns::CHAT_STATES);
        out.push_str("'/>");
    }
    out.push_str("</message>");
}

fn push_attribute(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        out.push(' ');
        out.push_str(name);
        out.push_str("='");
        escape_attribute(out, value);
        out.push('\'');
    }
}

/// `<name>text</name>`, or `<name/>` for empty text, or nothing for `None`.
fn push_text_element(out: &mut String, name: &str, text: Option<&str>) {
    if let Some(text) = text {
        out.push('<');
        out.push_str(name);
        push_content(out, name, text);
    }
}

/// Ends a start tag already opened as `<name…` with its content and end tag.
fn push_content(out: &mut String, name: &str, text: &str) {
    if text.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    escape_text(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}
