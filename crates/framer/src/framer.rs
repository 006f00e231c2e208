//! [`Framer`]: bytes in, in any chunking; stream header, stanzas, keepalives and close out.

use crate::chars::find_forbidden_char;
use crate::header::StreamHeader;
use crate::scan::{Found, Scanner};
use crate::stanza::{Stanza, StreamContext};
use crate::{Error, Limits};

/// One unit of an XMPP stream, as [`Framer::next_frame`] hands it out.
#[derive(Debug)]
pub enum Frame<'a> {
    /// The peer's `<stream:stream …>` header (also kept in [`Framer::header`]).
    StreamOpen(StreamHeader),
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
/// stream error to send: UTF-8 only, XML 1.0 well-formedness including namespace prefixes,
/// RFC 6120 §11 restricted XML (no comments, processing instructions other than the
/// leading XML declaration, DTDs or entities beyond the predefined five), only whitespace
/// between stanzas, the stream namespace, and every bound of [`Limits`].
///
/// It never panics on any input.
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    buf: Vec<u8>,
    /// Stream bytes dropped from the front of `buf`.
    offset: u64,
    scanner: Scanner,
    header: Option<StreamHeader>,
    context: StreamContext,
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
            buf: Vec::new(),
            offset: 0,
            scanner: Scanner::new(),
            header: None,
            context: StreamContext::default(),
            failed: None,
            validated: 0,
        }
    }

    /// Appends bytes received from the peer. Frames they complete come out of
    /// [`next_frame`](Framer::next_frame); call it until it returns `Ok(None)` before
    /// feeding more, or the buffer holds every byte fed in between.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or the error that
    /// ends the stream (returned again on every later call).
    ///
    /// The frame borrows the framer; it is valid until the next call of a `&mut self`
    /// method.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        if let Some(error) = self.failed {
            self.buf = Vec::new();
            return Err(error);
        }
        let found = match self.scanner.scan(&self.buf, self.offset, &self.limits) {
            Ok(found) => found,
            Err(error) => return Err(self.fail(error)),
        };
        match found {
            None => Ok(None),
            Some(Found::Keepalive) => Ok(Some(Frame::Keepalive)),
            Some(Found::Close) => Ok(Some(Frame::StreamClose)),
            Some(Found::Header) => match self.read_header() {
                Ok(header) => Ok(Some(Frame::StreamOpen(header))),
                Err(error) => Err(self.fail(error)),
            },
            Some(Found::Stanza) => {
                let item = &self.buf[self.scanner.item_start..self.scanner.pos];
                self.validated += item.len() as u64;
                // The scanner reads only markup bytes: text is validated here, once.
                let checked = match std::str::from_utf8(item) {
                    Ok(xml) => match find_forbidden_char(xml.as_bytes()) {
                        None => Ok(xml),
                        Some(_) => Err(Error::InvalidChar),
                    },
                    Err(_) => Err(Error::InvalidUtf8),
                };
                match checked {
                    Ok(xml) => Ok(Some(Frame::Stanza(Stanza::new(
                        xml,
                        &self.scanner.tokens,
                        &self.scanner.attrs,
                        self.scanner.stanza_has_prefix,
                        &self.context,
                    )))),
                    Err(error) => {
                        // Not `fail`: `item` still borrows the buffer on the other arm.
                        self.failed = Some(error);
                        Err(error)
                    }
                }
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
        self.buf.len() - self.scanner.keep_from().min(self.buf.len())
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
        self.buf = Vec::new();
        error
    }

    /// Drops the bytes no frame needs any more.
    fn compact(&mut self) {
        let keep = self.scanner.keep_from().min(self.buf.len());
        if keep == 0 {
            return;
        }
        self.buf.drain(..keep);
        self.scanner.shift(keep);
        self.offset += keep as u64;
    }

    fn read_header(&mut self) -> Result<StreamHeader, Error> {
        let item = &self.buf[self.scanner.item_start..self.scanner.pos];
        self.validated += item.len() as u64;
        let item = std::str::from_utf8(item).map_err(|_| Error::InvalidUtf8)?;
        if find_forbidden_char(item.as_bytes()).is_some() {
            return Err(Error::InvalidChar);
        }
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

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}
