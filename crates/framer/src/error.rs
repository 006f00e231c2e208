//! The framer's error: a small `Copy` enum, each variant mapped to its RFC 6120 stream error.

use std::fmt;

/// Why the framer rejected a stream.
///
/// Every variant maps to the RFC 6120 §4.9.3 stream-error condition that a peer sending
/// it must receive ([`Error::condition`]). Once a [`Framer`](crate::Framer) returns an
/// error it returns the same error on every later call: the stream is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that are not UTF-8 (RFC 6120 §11.6).
    InvalidUtf8,
    /// A character XML 1.0 forbids: a C0 control other than tab, LF and CR, U+FFFE or U+FFFF.
    InvalidChar,
    /// A byte where XML syntax allows none: a broken tag, name or attribute.
    Syntax,
    /// An end tag whose name differs from the open element's.
    MismatchedEndTag,
    /// The same attribute twice on one element.
    DuplicateAttribute,
    /// A namespace prefix that no enclosing element (nor the stream header) declares.
    UndeclaredPrefix,
    /// A qualified name with an empty part or more than one colon.
    BadQualifiedName,
    /// A malformed entity or character reference, or one naming a forbidden character.
    BadReference,
    /// `]]>` in character data.
    CdataEndInText,
    /// Anything but whitespace between stanzas (RFC 6120 §11.7 allows only whitespace).
    TextOutsideStanza,
    /// Bytes after the stream's closing tag.
    DataAfterClose,
    /// An XML comment (RFC 6120 §11.1).
    Comment,
    /// A processing instruction other than the leading XML declaration (RFC 6120 §11.1).
    ProcessingInstruction,
    /// A document type declaration (RFC 6120 §11.1).
    Doctype,
    /// A reference to an entity other than the five predefined ones (RFC 6120 §11.1).
    UndefinedEntity,
    /// The first element is not `stream` in `http://etherx.jabber.org/streams`, or its
    /// content namespace is not `jabber:client`.
    InvalidNamespace,
    /// An XML declaration or byte-order mark naming an encoding other than UTF-8.
    UnsupportedEncoding,
    /// The stream header (with the XML declaration before it) exceeds
    /// [`Limits::max_header_bytes`](crate::Limits::max_header_bytes).
    HeaderTooLarge,
    /// A stanza exceeds [`Limits::max_stanza_bytes`](crate::Limits::max_stanza_bytes).
    StanzaTooLarge,
    /// Elements nest deeper than [`Limits::max_depth`](crate::Limits::max_depth).
    TooDeep,
    /// An element has more attributes than [`Limits::max_attributes`](crate::Limits::max_attributes).
    TooManyAttributes,
    /// A text node exceeds [`Limits::max_text_bytes`](crate::Limits::max_text_bytes).
    TextTooLarge,
}

impl Error {
    /// The RFC 6120 §4.9.3 defined condition to send in `<stream:error>` for this error.
    pub fn condition(self) -> Condition {
        use Error::*;
        match self {
            InvalidUtf8 | InvalidChar | Syntax | MismatchedEndTag | DuplicateAttribute
            | UndeclaredPrefix | BadQualifiedName | BadReference | CdataEndInText
            | TextOutsideStanza | DataAfterClose => Condition::NotWellFormed,
            Comment | ProcessingInstruction | Doctype | UndefinedEntity => Condition::RestrictedXml,
            InvalidNamespace => Condition::InvalidNamespace,
            UnsupportedEncoding => Condition::UnsupportedEncoding,
            HeaderTooLarge | StanzaTooLarge | TooDeep | TooManyAttributes | TextTooLarge => {
                Condition::PolicyViolation
            }
        }
    }

    fn description(self) -> &'static str {
        use Error::*;
        match self {
            InvalidUtf8 => "invalid UTF-8",
            InvalidChar => "character not allowed in XML",
            Syntax => "XML syntax error",
            MismatchedEndTag => "end tag does not match the open element",
            DuplicateAttribute => "duplicate attribute",
            UndeclaredPrefix => "undeclared namespace prefix",
            BadQualifiedName => "malformed qualified name",
            BadReference => "malformed entity or character reference",
            CdataEndInText => "`]]>` in character data",
            TextOutsideStanza => "text between stanzas",
            DataAfterClose => "data after the stream was closed",
            Comment => "XML comment (restricted in XMPP)",
            ProcessingInstruction => "processing instruction (restricted in XMPP)",
            Doctype => "document type declaration (restricted in XMPP)",
            UndefinedEntity => "entity other than the predefined five (restricted in XMPP)",
            InvalidNamespace => "wrong stream or content namespace",
            UnsupportedEncoding => "encoding other than UTF-8",
            HeaderTooLarge => "stream header exceeds the size limit",
            StanzaTooLarge => "stanza exceeds the size limit",
            TooDeep => "elements nest deeper than the limit",
            TooManyAttributes => "element has more attributes than the limit",
            TextTooLarge => "text node exceeds the size limit",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.condition().name())
    }
}

impl std::error::Error for Error {}

/// An RFC 6120 §4.9.3 stream-error condition.
///
/// The framer produces the first five; the others are here so that sessions built on the
/// framer can write any condition with [`write_stream_error`](crate::write_stream_error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Condition {
    /// `not-well-formed` (§4.9.3.13).
    NotWellFormed,
    /// `restricted-xml` (§4.9.3.18).
    RestrictedXml,
    /// `policy-violation` (§4.9.3.14).
    PolicyViolation,
    /// `invalid-namespace` (§4.9.3.10).
    InvalidNamespace,
    /// `unsupported-encoding` (§4.9.3.22).
    UnsupportedEncoding,
    /// `bad-format` (§4.9.3.1).
    BadFormat,
    /// `connection-timeout` (§4.9.3.4).
    ConnectionTimeout,
    /// `host-unknown` (§4.9.3.6).
    HostUnknown,
    /// `improper-addressing` (§4.9.3.7): a stanza lacks the `from` needed to place it.
    ImproperAddressing,
    /// `internal-server-error` (§4.9.3.8).
    InternalServerError,
    /// `invalid-from` (§4.9.3.9): the `from` names someone the sender is not.
    InvalidFrom,
    /// `not-authorized` (§4.9.3.12).
    NotAuthorized,
    /// `resource-constraint` (§4.9.3.17).
    ResourceConstraint,
    /// `system-shutdown` (§4.9.3.20).
    SystemShutdown,
    /// `undefined-condition` (§4.9.3.21).
    UndefinedCondition,
    /// `unsupported-stanza-type` (§4.9.3.24).
    UnsupportedStanzaType,
    /// `unsupported-version` (§4.9.3.25).
    UnsupportedVersion,
}

impl Condition {
    /// Every condition, in the order of this enum.
    pub const ALL: [Condition; 17] = [
        Condition::NotWellFormed,
        Condition::RestrictedXml,
        Condition::PolicyViolation,
        Condition::InvalidNamespace,
        Condition::UnsupportedEncoding,
        Condition::BadFormat,
        Condition::ConnectionTimeout,
        Condition::HostUnknown,
        Condition::ImproperAddressing,
        Condition::InternalServerError,
        Condition::InvalidFrom,
        Condition::NotAuthorized,
        Condition::ResourceConstraint,
        Condition::SystemShutdown,
        Condition::UndefinedCondition,
        Condition::UnsupportedStanzaType,
        Condition::UnsupportedVersion,
    ];

    /// The element name of the condition, as written inside `<stream:error>`.
    pub fn name(self) -> &'static str {
        match self {
            Condition::NotWellFormed => "not-well-formed",
            Condition::RestrictedXml => "restricted-xml",
            Condition::PolicyViolation => "policy-violation",
            Condition::InvalidNamespace => "invalid-namespace",
            Condition::UnsupportedEncoding => "unsupported-encoding",
            Condition::BadFormat => "bad-format",
            Condition::ConnectionTimeout => "connection-timeout",
            Condition::HostUnknown => "host-unknown",
            Condition::ImproperAddressing => "improper-addressing",
            Condition::InternalServerError => "internal-server-error",
            Condition::InvalidFrom => "invalid-from",
            Condition::NotAuthorized => "not-authorized",
            Condition::ResourceConstraint => "resource-constraint",
            Condition::SystemShutdown => "system-shutdown",
            Condition::UndefinedCondition => "undefined-condition",
            Condition::UnsupportedStanzaType => "unsupported-stanza-type",
            Condition::UnsupportedVersion => "unsupported-version",
        }
    }

    /// The condition with this element name, if it is one of [`Condition::ALL`].
    pub fn from_name(name: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
