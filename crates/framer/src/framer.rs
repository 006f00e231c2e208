//! [`Framer`]: bytes in, in any chunking; stream header, stanzas, keepalives and close out.

use crate::chars::{find_forbidden_char, utf8_len};
use crate::header::StreamHeader;
use crate::scan::{Found, Scanner};
use crate::stanza::{Stanza, StreamContext};
use crate::{Error, Limits};

/// One unit of an XMPP stream, as [`Framer::next_frame`] hands it out.
#[derive(Debug)]
pub enum Frame<'a> {
    /// The peer's `<stream:stream …>` header (also kept in [`Framer::header`]). Boxed: it
    /// comes once a stream, and unboxed it made every frame four times larger, so that
    /// each one returned was copied by `memcpy` rather than in registers.
    StreamOpen(Box<StreamHeader>),
    /// A complete top-level element: a stanza, `<stream:features/>` or `<stream:error/>`.
    Stanza(Stanza<'a>),
    /// Whitespace after the header or a stanza (RFC 6120 §4.6.1 keepalive). Reported once
    /// for each run of whitespace, when its first byte arrives.
    Keepalive,
    /// The peer's `</stream:stream>`.
    StreamClose,
}

/// An incremental, sans-IO XMPP stream framer (RFC 6120 §4, §11).
///
/// Give it bytes with [`feed`](Framer::feed) as they arrive, in chunks of any size, then
/// call [`next_frame`](Framer::next_frame) until it returns `Ok(None)`. The frames are the
/// same whatever the chunking, and so is the first error. Each byte is examined a bounded
/// number of times, so the work is linear in the input even when a large stanza arrives
/// one byte at a time ([`bytes_examined`](Framer::bytes_examined) counts it).
///
/// Checks, each failing with an [`Error`] whose [`condition`](Error::condition) is the
/// stream error to send: UTF-8 only and XML 1.0's character range (checked on every byte as
/// it is fed; the error comes once the frames before the bad byte are out), XML 1.0
/// well-formedness including namespace prefixes,
/// RFC 6120 §11 restricted XML (no comments, processing instructions other than the
/// leading XML declaration, DTDs or entities beyond the predefined five), only whitespace
/// between stanzas, the stream namespace, and every bound of [`Limits`].
///
/// It never panics on any input.
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    /// The stream's text not yet dropped: checked (UTF-8, XML characters) as it is fed,
    /// once, so that frames are slices of it with nothing left to validate.
    buf: String,
    /// The first bytes of a character cut by the end of the bytes fed so far.
    cut: [u8; 4],
    /// How many bytes of `cut` have arrived.
    cut_len: usize,
    /// Stream bytes dropped from the front of `buf`.
    offset: u64,
    scanner: Scanner,
    header: Option<StreamHeader>,
    context: StreamContext,
    /// The error found by the check at the end of `buf`, reported once the scanner has
    /// framed everything before it (so errors come in stream order, whatever the chunking).
    ahead: Option<Error>,
    failed: Option<Error>,
    validated: u64,
}

impl Framer {
    /// A framer with the default [`Limits`].
    pub fn new() -> Framer {
        Framer::with_limits(Limits::DEFAULT)
    }

    /// A framer with the given limits. Stanza and header sizes are capped at 4 GiB − 1,
    /// the most the framer's offsets hold.
    pub fn with_limits(mut limits: Limits) -> Framer {
        limits.max_stanza_bytes = limits.max_stanza_bytes.min(u32::MAX as usize);
        limits.max_header_bytes = limits.max_header_bytes.min(u32::MAX as usize);
        Framer {
            limits,
            buf: String::new(),
            cut: [0; 4],
            cut_len: 0,
            offset: 0,
            scanner: Scanner::new(),
            header: None,
            context: StreamContext::default(),
            ahead: None,
            failed: None,
            validated: 0,
        }
    }

    /// Appends bytes received from the peer. Frames they complete come out of
    /// [`next_frame`](Framer::next_frame); call it until it returns `Ok(None)` before
    /// feeding more, or the buffer holds every byte fed in between.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if self.failed.is_some() || self.ahead.is_some() {
            return;
        }
        self.compact();
        if self.offset == 0 && self.buf.is_empty() && self.cut_len == 0 {
            if let Some(0xFE | 0xFF) = bytes.first() {
                // A UTF-16 byte-order mark: these bytes never occur in UTF-8.
                self.ahead = Some(Error::UnsupportedEncoding);
                return;
            }
        }
        self.validated += bytes.len() as u64;
        if self.cut_len > 0 {
            // Complete the character the previous bytes ended in.
            let len = utf8_len(self.cut[0]);
            let take = (len - self.cut_len).min(bytes.len());
            self.cut[self.cut_len..self.cut_len + take].copy_from_slice(&bytes[..take]);
            self.cut_len += take;
            bytes = &bytes[take..];
            let (char_bytes, arrived) = (self.cut, self.cut_len);
            if arrived < len && is_cut_sequence(&char_bytes[..arrived]) {
                return;
            }
            // Whole, or already wrong: the check tells which.
            self.cut_len = 0;
            if !self.push_checked(&char_bytes[..arrived]) {
                return;
            }
        }
        let cut = cut_char_len(bytes);
        let (whole, tail) = bytes.split_at(bytes.len() - cut);
        if self.push_checked(whole) {
            self.cut[..cut].copy_from_slice(tail);
            self.cut_len = cut;
        }
    }

    /// Appends the longest prefix of `bytes` that is UTF-8 of XML characters; says whether
    /// that was all of them, else records the error at the first bad byte.
    fn push_checked(&mut self, bytes: &[u8]) -> bool {
        // simdutf8's SIMD check says only whether the bytes are UTF-8; where they are not
        // (once in a stream, at its error), std's finds how far they are.
        let (text, error) = match simdutf8::basic::from_utf8(bytes) {
            Ok(text) => (text, None),
            Err(_) => match std::str::from_utf8(bytes) {
                Ok(text) => (text, None),
                Err(e) => (
                    std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
                    Some(Error::InvalidUtf8),
                ),
            },
        };
        let (text, error) = match find_forbidden_char(text.as_bytes()) {
            Some(at) => (text.get(..at).unwrap_or_default(), Some(Error::InvalidChar)),
            None => (text, error),
        };
        self.buf.push_str(text);
        self.ahead = error;
        error.is_none()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or the error that
    /// ends the stream (returned again on every later call).
    ///
    /// The frame borrows the framer; it is valid until the next call of a `&mut self`
    /// method.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        if let Some(error) = self.failed {
            self.buf = String::new();
            return Err(error);
        }
        let found = match self
            .scanner
            .scan(self.buf.as_bytes(), self.offset, &self.limits)
        {
            Ok(found) => found,
            Err(error) => return Err(self.fail(error)),
        };
        match found {
            None => match self.ahead {
                // Everything before the bad byte is framed: its turn has come.
                Some(error) => Err(self.fail(error)),
                None => Ok(None),
            },
            Some(Found::Keepalive) => Ok(Some(Frame::Keepalive)),
            Some(Found::Close) => Ok(Some(Frame::StreamClose)),
            Some(Found::Header) => match self.read_header() {
                Ok(header) => Ok(Some(Frame::StreamOpen(Box::new(header)))),
                Err(error) => Err(self.fail(error)),
            },
            Some(Found::Stanza) => {
                let range = self.scanner.item_start..self.scanner.pos;
                // A stanza starts at `<` and ends after `>`: always character boundaries.
                if self.buf.get(range.clone()).is_none() {
                    return Err(self.fail(Error::InvalidUtf8));
                }
                let xml = self.buf.get(range).unwrap_or_default();
                Ok(Some(Frame::Stanza(Stanza::new(
                    xml,
                    &self.scanner.tokens,
                    &self.scanner.attrs,
                    self.scanner.stanza_has_prefix,
                    &self.context,
                ))))
            }
        }
    }

    /// The peer's stream header, once it has been read.
    pub fn header(&self) -> Option<&StreamHeader> {
        self.header.as_ref()
    }

    /// The limits this framer enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Bytes held: the stanza in progress and anything fed but not yet framed.
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.scanner.keep_from().min(self.buf.len()) + self.cut_len
    }

    /// How many stream bytes have been framed so far (the offset of the next byte to scan).
    pub fn position(&self) -> u64 {
        self.offset + self.scanner.pos as u64
    }

    /// How many times a byte has been examined, by the UTF-8 check and by the scanner
    /// together. At most a small constant times the bytes fed, whatever the chunking: the
    /// tests use it to show that scanning is linear.
    pub fn bytes_examined(&self) -> u64 {
        self.validated + self.scanner.examined
    }

    fn fail(&mut self, error: Error) -> Error {
        self.failed = Some(error);
        self.buf = String::new();
        error
    }

    /// Drops the bytes no frame needs any more.
    fn compact(&mut self) {
        let mut keep = self.scanner.keep_from().min(self.buf.len());
        // The scanner stops only at character boundaries; were it ever not to, keeping a
        // few bytes more is harmless where cutting a character would not be.
        while !self.buf.is_char_boundary(keep) {
            keep -= 1;
        }
        if keep == 0 {
            return;
        }
        self.buf.drain(..keep);
        self.scanner.shift(keep);
        self.offset += keep as u64;
    }

    fn read_header(&mut self) -> Result<StreamHeader, Error> {
        let item = self
            .buf
            .get(self.scanner.item_start..self.scanner.pos)
            .ok_or(Error::InvalidUtf8)?;
        let header = StreamHeader::from_tokens(item, &self.scanner.tokens, &self.scanner.attrs)?;
        self.scanner.stream_name = header.name.as_bytes().into();
        self.scanner.header_prefixes = header
            .namespaces
            .iter()
            .filter_map(|decl| decl.prefix.as_deref())
            .map(|prefix| prefix.as_bytes().into())
            .collect();
        self.context = StreamContext::from_header(&header);
        self.header = Some(header.clone());
        Ok(header)
    }
}

/// How many bytes at the end of `bytes` begin a character whose other bytes have not
/// arrived yet (0 to 3): they wait for the next bytes fed rather than failing the check.
fn cut_char_len(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 != 0x80 {
            // The last lead byte: its character is cut if it needs more than is here and
            // what is here can still become a character.
            let cut = utf8_len(b) > back && is_cut_sequence(&bytes[bytes.len() - back..]);
            return if cut { back } else { 0 };
        }
    }
    0
}

/// Whether `bytes` are the start of a UTF-8 character that more bytes can complete, as
/// std's check judges it (not an overlong form, a surrogate or past U+10FFFF so far).
fn is_cut_sequence(bytes: &[u8]) -> bool {
    matches!(std::str::from_utf8(bytes), Err(e) if e.valid_up_to() == 0 && e.error_len().is_none())
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

// Frames are returned and moved by value on every call of `next_frame`: kept small, they
// travel in registers instead of through `memcpy` (see `Frame::StreamOpen`).
const _: () = assert!(std::mem::size_of::<Result<Option<Frame<'static>>, Error>>() <= 64);
