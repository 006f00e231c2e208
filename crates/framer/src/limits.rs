//! The framer's limits: every bound on what a peer can make us hold.

/// Bounds on what one stream may make the framer hold or do.
///
/// Exceeding any of them is a `policy-violation` stream error. Memory held by a
/// [`Framer`](crate::Framer) is bounded by `max_stanza_bytes` (or `max_header_bytes`
/// before the header ends) plus the size of the chunk last given to
/// [`Framer::feed`](crate::Framer::feed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest stanza, from its `<` to its last `>`, in bytes. Default 1 MiB.
    pub max_stanza_bytes: usize,
    /// Deepest element nesting inside a stanza; the stanza itself is depth 1. Default 64.
    pub max_depth: usize,
    /// Most attributes (namespace declarations included) on one element. Default 64.
    pub max_attributes: usize,
    /// Largest stream header, counted from the first byte of the stream (so an XML
    /// declaration counts) to the header's `>`. Default 8 KiB.
    pub max_header_bytes: usize,
    /// Largest text node: the character data between two tags, as written (references
    /// undecoded, CDATA sections with their markup), in bytes; checked at the tag that
    /// ends it. Default 1 MiB, the stanza limit, so that by default the stanza limit alone
    /// bounds text (raising it above that changes nothing); set it lower to refuse long
    /// text in stanzas that may otherwise be large.
    pub max_text_bytes: usize,
}

impl Limits {
    /// The documented defaults: 1 MiB stanzas, depth 64, 64 attributes, 8 KiB header,
    /// 1 MiB text nodes.
    pub const DEFAULT: Limits = Limits {
        max_stanza_bytes: 1 << 20,
        max_depth: 64,
        max_attributes: 64,
        max_header_bytes: 8 << 10,
        max_text_bytes: 1 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
