//! The resumable byte scanner under [`Framer`](crate::Framer).
//!
//! It walks the buffered stream once, byte by byte in markup and with `memchr` jumps in
//! character data and attribute values, and keeps its whole state between calls, so no
//! byte is examined twice however the input is chunked. While it scans a stanza it
//! records a flat token table (element starts and ends, attributes, text runs) that the
//! typed views read without scanning again.

use memchr::memchr;

use crate::chars::{
    all_predefined_entities, ascii_name_run, attribute_needs_decoding, decode_attribute,
    decode_char, decode_reference, find_any3, is_ascii_name, is_ascii_name_start, is_name_char,
    is_name_start_char, is_space, predefined_entity, text_marks, Reference, TEXT_BLOCK,
};
use crate::{Error, Limits};

/// A byte range relative to the start of the item (stanza or header) being scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// One entry of a stanza's token table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    /// An element starts; its attributes are `attrs[first_attr..end_attr]`.
    Start {
        name: Span,
        first_attr: u32,
        end_attr: u32,
    },
    /// The innermost open element ends.
    End,
    /// Character data as written (references not yet resolved).
    Text(Span),
    /// The content of a CDATA section.
    Cdata(Span),
}

/// One attribute: name and raw value (between the quotes) as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Attr {
    pub name: Span,
    pub value: Span,
}

/// What a call to [`Scanner::scan`] stopped for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// The stream header's `>`: its tokens and attributes are in the tables.
    Header,
    /// A stanza ended at the byte before `pos`: its tokens are in the tables.
    Stanza,
    /// The first whitespace after the header or a stanza.
    Keepalive,
    /// The stream's end tag.
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the stream header: an optional XML declaration, then whitespace.
    Prolog,
    /// Inside `<?xml … ?>` at the very start of the stream.
    XmlDecl,
    /// At depth 0 after the header; `ws_run` once whitespace has been reported.
    Between { ws_run: bool },
    /// Character data inside a stanza; the run started at `mark`.
    Text,
    /// After `<`.
    Lt,
    /// In a start tag's element name (started at `mark`).
    StartName,
    /// In a start tag after its name or an attribute; `ws` once whitespace was seen.
    InTag { ws: bool },
    /// In an attribute name (started at `mark`).
    AttrName,
    /// After an attribute name, before `=`.
    AfterAttrName,
    /// After `=`, before the opening quote.
    AfterEq,
    /// In an attribute value quoted with `quote` (started at `mark`).
    AttrValue { quote: u8 },
    /// After `/` in a start tag.
    EmptyTagEnd,
    /// In an end tag's name (started at `mark`).
    EndName,
    /// After an end tag's name, before `>`.
    AfterEndName,
    /// In a reference that started at `entity_start`; `quote` is the attribute's quote
    /// character, or 0 in character data.
    Reference { quote: u8 },
    /// After `<!`, having matched `matched` bytes of `[CDATA[`.
    Bang { matched: u8 },
    /// In a CDATA section (content started at `mark`); `brackets` is how many `]` end
    /// the content seen so far (0 to 2).
    Cdata { brackets: u8 },
    /// After the stream's end tag.
    Closed,
}

/// The scanner's state, everything it needs to resume at `pos`.
#[derive(Debug)]
pub(crate) struct Scanner {
    state: State,
    /// Next byte to examine, as an offset into the caller's buffer.
    pub pos: usize,
    /// Start of the current item (`<` of the header or stanza) in the buffer.
    pub item_start: usize,
    /// Start of the current name, value, text run or CDATA content.
    mark: usize,
    /// `&` of the reference being read.
    entity_start: usize,
    /// Start of the text node being read: character data, references and CDATA sections
    /// between two tags.
    text_start: usize,
    /// Whether the item in progress is the stream header.
    in_header: bool,
    /// Whether an item (header or stanza) is in progress.
    pub in_item: bool,
    /// Whether the XML declaration may still come (nothing but a BOM seen yet).
    at_stream_start: bool,
    /// Whether the stream header has been read.
    header_read: bool,
    /// Names of the open elements of the stanza, outermost first.
    stack: Vec<Span>,
    /// Prefixes declared inside the stanza: (prefix, depth of the declaring element).
    prefixes: Vec<(Span, usize)>,
    /// Prefixes declared on the stream header.
    pub header_prefixes: Vec<Box<[u8]>>,
    /// The header's qualified name, which the closing tag must repeat.
    pub stream_name: Box<[u8]>,
    /// Name of the element whose start tag is being read.
    tag_name: Span,
    /// Name of the attribute whose value is being read.
    attr_name: Span,
    /// Index in `attrs` of the first attribute of the current start tag.
    tag_first_attr: usize,
    /// What the current start tag's names say of prefixes: [`USES_PREFIX`] and
    /// [`DECLARES_PREFIX`]. One byte for both keeps the scanner, which every stream holds,
    /// a word smaller.
    tag_prefixes: u8,
    /// Whether any name in the current stanza has a prefix.
    pub stanza_has_prefix: bool,
    /// The stanza's (or header's) tokens.
    pub tokens: Vec<Token>,
    /// The stanza's (or header's) attributes.
    pub attrs: Vec<Attr>,
    /// Bytes examined so far, for the proof that scanning is linear.
    pub examined: u64,
}

/// In `Scanner::tag_prefixes`: a name of the tag has a prefix that must be declared.
const USES_PREFIX: u8 = 1;
/// In `Scanner::tag_prefixes`: an attribute of the tag declares a prefix (`xmlns:…`).
const DECLARES_PREFIX: u8 = 2;

/// Longest reference body (between `&` and `;`) accepted; a longer one is malformed.
const MAX_REFERENCE: usize = 64;
const CDATA_OPEN: &[u8] = b"[CDATA[";

impl Scanner {
    pub fn new() -> Scanner {
        Scanner {
            state: State::Prolog,
            pos: 0,
            item_start: 0,
            mark: 0,
            entity_start: 0,
            text_start: 0,
            in_header: false,
            in_item: false,
            at_stream_start: true,
            header_read: false,
            stack: Vec::new(),
            prefixes: Vec::new(),
            header_prefixes: Vec::new(),
            stream_name: Box::default(),
            tag_name: Span::default(),
            attr_name: Span::default(),
            tag_first_attr: 0,
            tag_prefixes: 0,
            stanza_has_prefix: false,
            tokens: Vec::new(),
            attrs: Vec::new(),
            examined: 0,
        }
    }

    /// Forgets the first `n` bytes of the buffer, which the caller has dropped. No offset
    /// the scanner still needs may lie before `n`.
    pub fn shift(&mut self, n: usize) {
        self.pos -= n;
        self.item_start = self.item_start.saturating_sub(n);
        self.mark = self.mark.saturating_sub(n);
        self.entity_start = self.entity_start.saturating_sub(n);
        self.text_start = self.text_start.saturating_sub(n);
    }

    /// The first offset the scanner may still read: what lies before can be dropped.
    pub fn keep_from(&self) -> usize {
        if self.in_item {
            self.item_start
        } else {
            self.pos
        }
    }

    /// Whether the header has been read.
    pub fn header_done(&self) -> bool {
        self.header_read
    }

    /// Scans `buf[pos..]` until something is found or the bytes run out. The caller has
    /// checked the bytes (UTF-8, XML characters) as they were fed; names are decoded here
    /// to judge their characters. `offset` is how many bytes of the stream came before
    /// `buf[0]`.
    pub fn scan(
        &mut self,
        buf: &[u8],
        offset: u64,
        limits: &Limits,
    ) -> Result<Option<Found>, Error> {
        let start_pos = self.pos;
        let result = self.scan_inner(buf, offset, limits);
        self.examined += (self.pos - start_pos) as u64;
        result
    }

    fn item_bound(&self, avail: usize, offset: u64, limits: &Limits) -> usize {
        if !self.in_item && self.header_done() {
            return avail;
        }
        if self.header_done() {
            return avail.min(self.item_start.saturating_add(limits.max_stanza_bytes));
        }
        let header_left = (limits.max_header_bytes as u64).saturating_sub(offset);
        avail.min(usize::try_from(header_left).unwrap_or(usize::MAX))
    }

    fn scan_inner(
        &mut self,
        buf: &[u8],
        offset: u64,
        limits: &Limits,
    ) -> Result<Option<Found>, Error> {
        let avail = buf.len();
        let mut bound = self.item_bound(avail, offset, limits);
        loop {
            if self.pos >= bound {
                if bound < avail {
                    return Err(self.limit_error());
                }
                return Ok(None);
            }
            let pos = self.pos;
            let b = buf[pos];
            match self.state {
                State::Prolog => {
                    if self.at_stream_start && offset + pos as u64 == 0 && b == 0xEF {
                        // A UTF-8 byte-order mark is allowed before everything.
                        if buf.len() < 3 {
                            return Ok(None);
                        }
                        if buf[..3] == [0xEF, 0xBB, 0xBF] {
                            self.pos = 3;
                            continue;
                        }
                        return Err(Error::Syntax);
                    }
                    if is_space(b) {
                        self.at_stream_start = false;
                        self.pos += 1;
                    } else if b == b'<' {
                        // The item (declaration or header) starts here: keep its bytes.
                        self.item_start = pos;
                        self.in_item = true;
                        self.state = State::Lt;
                        self.pos += 1;
                    } else {
                        return Err(Error::Syntax);
                    }
                }
                State::XmlDecl => match memchr(b'>', &buf[pos..bound]) {
                    None => self.pos = bound,
                    Some(i) => {
                        let gt = pos + i;
                        self.pos = gt + 1;
                        if gt > self.mark && buf[gt - 1] == b'?' {
                            check_xml_declaration(&buf[self.mark..gt - 1])?;
                            self.in_item = false;
                            self.state = State::Prolog;
                        }
                    }
                },
                State::Between { ws_run } => {
                    if is_space(b) {
                        self.pos += 1;
                        if !ws_run {
                            self.state = State::Between { ws_run: true };
                            return Ok(Some(Found::Keepalive));
                        }
                    } else if b == b'<' {
                        self.item_start = pos;
                        self.in_item = true;
                        self.tokens.clear();
                        self.attrs.clear();
                        self.stanza_has_prefix = false;
                        self.state = State::Lt;
                        self.pos += 1;
                        bound = self.item_bound(avail, offset, limits);
                    } else {
                        return Err(Error::TextOutsideStanza);
                    }
                }
                State::Closed => {
                    if !is_space(b) {
                        return Err(Error::DataAfterClose);
                    }
                    self.pos += 1;
                }
                State::Text => 'text: {
                    let mut at = pos;
                    // Whole blocks first, each with its references judged at once (see
                    // `text_marks`); a block with any other reference, and the last bytes
                    // before the bound, go through the search below, which judges them
                    // one by one and says what is wrong.
                    while at + TEXT_BLOCK + 8 <= bound {
                        // Between two tags there is most often no text at all: a `<` at
                        // once needs no block marked.
                        let (stops, amps) = if buf[at] == b'<' {
                            (1, 0)
                        } else {
                            text_marks(buf[at..at + TEXT_BLOCK].try_into().unwrap_or(&[0; 64]))
                        };
                        let before_stop = (stops & stops.wrapping_neg()).wrapping_sub(1);
                        if !all_predefined_entities(buf, at, amps & before_stop) {
                            break;
                        }
                        if stops == 0 {
                            at += TEXT_BLOCK;
                            continue;
                        }
                        let stop = at + stops.trailing_zeros() as usize;
                        if buf[stop] == b'<' {
                            self.end_text(stop, limits)?;
                            // The end tag that most often follows text is read here, and
                            // the content after it too, rather than through the states.
                            if buf[..bound].get(stop + 1) == Some(&b'/') {
                                match self.matching_end_tag(buf, stop + 2, bound) {
                                    Some(Some(found)) => return Ok(Some(found)),
                                    Some(None) => {
                                        at = self.pos;
                                        continue;
                                    }
                                    None => {}
                                }
                            }
                            break 'text;
                        }
                        self.gt_in_text(buf, stop)?;
                        at = stop + 1;
                    }
                    loop {
                        let Some(i) = find_any3(&buf[at..bound], b'<', b'&', b'>') else {
                            self.pos = bound;
                            break;
                        };
                        at += i;
                        match buf[at] {
                            b'<' => {
                                self.end_text(at, limits)?;
                                break;
                            }
                            b'&' => match reference_whole(buf, at, bound)? {
                                Some(end) => at = end,
                                None => {
                                    self.entity_start = at;
                                    self.pos = at + 1;
                                    self.state = State::Reference { quote: 0 };
                                    break;
                                }
                            },
                            _ => {
                                self.gt_in_text(buf, at)?;
                                at += 1;
                            }
                        }
                    }
                }
                State::Lt => match b {
                    b'/' => {
                        self.mark = pos + 1;
                        match self.end_tag_whole(buf, pos + 1, bound)? {
                            Whole::Done(Some(found)) => return Ok(Some(found)),
                            Whole::Done(None) => {}
                            Whole::Cut => {
                                self.examined += (bound - pos) as u64;
                                self.pos = pos + 1;
                                self.state = State::EndName;
                            }
                        }
                    }
                    b'?' => {
                        if self.at_stream_start && offset + pos as u64 <= 4 {
                            self.at_stream_start = false;
                            self.pos += 1;
                            self.mark = self.pos;
                            self.state = State::XmlDecl;
                        } else {
                            return Err(Error::ProcessingInstruction);
                        }
                    }
                    b'!' => {
                        self.pos += 1;
                        self.state = State::Bang { matched: 0 };
                    }
                    _ => {
                        let Some(len) = name_start_len(buf, pos)? else {
                            return Ok(None);
                        };
                        if !self.header_done() {
                            self.in_header = true;
                            self.in_item = true;
                            self.tokens.clear();
                            self.attrs.clear();
                            bound = self.item_bound(avail, offset, limits);
                        }
                        self.at_stream_start = false;
                        self.mark = pos;
                        self.tag_first_attr = self.attrs.len();
                        self.tag_prefixes = 0;
                        match self.start_tag_whole(buf, pos, bound, limits)? {
                            Whole::Done(Some(found)) => return Ok(Some(found)),
                            Whole::Done(None) => {}
                            Whole::Cut => {
                                // The attempt read at most up to the bound; count it.
                                self.examined += (bound - pos) as u64;
                                // Read it resumably from its name on.
                                self.attrs.truncate(self.tag_first_attr);
                                self.tag_prefixes = 0;
                                self.pos = pos + len;
                                self.state = State::StartName;
                            }
                        }
                    }
                },
                State::StartName => {
                    let end = match self.resume_name(buf, pos, bound, avail)? {
                        NameStep::Ended(end) => end,
                        NameStep::Moved => continue,
                        NameStep::Wait => return Ok(None),
                    };
                    self.tag_name = self.span(self.mark, end);
                    self.tag_prefixes |= u8::from(check_qname(&buf[self.mark..end])?) * USES_PREFIX;
                    self.state = State::InTag { ws: false };
                }
                State::InTag { ws } => {
                    if is_space(b) {
                        self.pos += 1;
                        self.state = State::InTag { ws: true };
                    } else if b == b'>' {
                        self.pos += 1;
                        if let Some(found) = self.end_start_tag(buf, false, limits)? {
                            return Ok(Some(found));
                        }
                    } else if b == b'/' {
                        self.pos += 1;
                        self.state = State::EmptyTagEnd;
                    } else {
                        let Some(len) = name_start_len(buf, pos)? else {
                            return Ok(None);
                        };
                        if !ws {
                            return Err(Error::Syntax);
                        }
                        if self.attrs.len() - self.tag_first_attr >= limits.max_attributes {
                            return Err(Error::TooManyAttributes);
                        }
                        self.mark = pos;
                        self.pos += len;
                        self.state = State::AttrName;
                    }
                }
                State::AttrName => {
                    let end = match self.resume_name(buf, pos, bound, avail)? {
                        NameStep::Ended(end) => end,
                        NameStep::Moved => continue,
                        NameStep::Wait => return Ok(None),
                    };
                    let name = &buf[self.mark..end];
                    self.tag_prefixes |= u8::from(check_attribute_name(name)?) * USES_PREFIX;
                    self.tag_prefixes |= u8::from(name.starts_with(b"xmlns:")) * DECLARES_PREFIX;
                    self.attr_name = self.span(self.mark, end);
                    for attr in &self.attrs[self.tag_first_attr..] {
                        if same_name(&buf[self.item_start..][attr.name.range()], name) {
                            return Err(Error::DuplicateAttribute);
                        }
                    }
                    self.state = State::AfterAttrName;
                }
                State::AfterAttrName => {
                    self.pos += 1;
                    if b == b'=' {
                        self.state = State::AfterEq;
                    } else if !is_space(b) {
                        return Err(Error::Syntax);
                    }
                }
                State::AfterEq => {
                    self.pos += 1;
                    if b == b'\'' || b == b'"' {
                        self.mark = self.pos;
                        self.state = State::AttrValue { quote: b };
                    } else if !is_space(b) {
                        return Err(Error::Syntax);
                    }
                }
                State::AttrValue { quote } => match attribute_value(buf, pos, bound, quote)? {
                    Value::Closed(end) => {
                        let item = self.item_start;
                        let name = &buf[item..][self.attr_name.range()];
                        check_declaration(name, &buf[self.mark..end])?;
                        let value = self.span(self.mark, end);
                        self.attrs.push(Attr {
                            name: self.attr_name,
                            value,
                        });
                        self.pos = end + 1;
                        self.state = State::InTag { ws: false };
                    }
                    Value::Reference(at) => {
                        self.entity_start = at;
                        self.pos = at + 1;
                        self.state = State::Reference { quote };
                    }
                    Value::Open => self.pos = bound,
                },
                State::EmptyTagEnd => {
                    if b != b'>' {
                        return Err(Error::Syntax);
                    }
                    self.pos += 1;
                    if let Some(found) = self.end_start_tag(buf, true, limits)? {
                        return Ok(Some(found));
                    }
                }
                State::EndName => {
                    if pos == self.mark {
                        let Some(len) = name_start_len(buf, pos)? else {
                            return Ok(None);
                        };
                        self.pos += len;
                        continue;
                    }
                    let end = match self.resume_name(buf, pos, bound, avail)? {
                        NameStep::Ended(end) => end,
                        NameStep::Moved => continue,
                        NameStep::Wait => return Ok(None),
                    };
                    self.tag_name = self.span(self.mark, end);
                    self.check_end_name(buf)?;
                    self.state = State::AfterEndName;
                }
                State::AfterEndName => {
                    self.pos += 1;
                    if b == b'>' {
                        if let Some(found) = self.end_tag() {
                            return Ok(Some(found));
                        }
                    } else if !is_space(b) {
                        return Err(Error::Syntax);
                    }
                }
                State::Reference { quote } => {
                    if b == b';' {
                        match decode_reference(&buf[self.entity_start + 1..pos]) {
                            Reference::Char(_) => {}
                            Reference::Undefined => return Err(Error::UndefinedEntity),
                            Reference::Malformed => return Err(Error::BadReference),
                        }
                        self.pos += 1;
                        self.state = if quote == 0 {
                            State::Text
                        } else {
                            State::AttrValue { quote }
                        };
                    } else if pos - self.entity_start > MAX_REFERENCE
                        || !reference_continues(&buf[self.entity_start + 1..pos], b)
                    {
                        return Err(Error::BadReference);
                    } else {
                        self.pos += 1;
                    }
                }
                State::Bang { matched } => {
                    if matched == 0 && b == b'-' {
                        return Err(Error::Comment);
                    }
                    if matched == 0 && b == b'D' {
                        return Err(Error::Doctype);
                    }
                    if b != CDATA_OPEN[matched as usize] {
                        return Err(Error::Syntax);
                    }
                    if self.stack.is_empty() {
                        // CDATA is character data, which depth 0 does not allow.
                        return Err(if self.header_done() {
                            Error::TextOutsideStanza
                        } else {
                            Error::Syntax
                        });
                    }
                    self.pos += 1;
                    if matched as usize + 1 == CDATA_OPEN.len() {
                        self.mark = self.pos;
                        self.state = State::Cdata { brackets: 0 };
                    } else {
                        self.state = State::Bang {
                            matched: matched + 1,
                        };
                    }
                }
                State::Cdata { brackets } => {
                    if brackets == 0 {
                        match memchr(b']', &buf[pos..bound]) {
                            None => self.pos = bound,
                            Some(i) => {
                                self.pos = pos + i + 1;
                                self.state = State::Cdata { brackets: 1 };
                            }
                        }
                        continue;
                    }
                    self.pos += 1;
                    self.state = match (brackets, b) {
                        (_, b']') => State::Cdata { brackets: 2 },
                        (2, b'>') => {
                            let span = self.span(self.mark, pos - 2);
                            self.tokens.push(Token::Cdata(span));
                            self.mark = self.pos;
                            State::Text
                        }
                        _ => State::Cdata { brackets: 0 },
                    };
                }
            }
        }
    }

    /// Reads a whole start tag from its name at `start` up to `bound` in one go: the fast
    /// path for tags that have fully arrived. It makes exactly the checks, in the same
    /// order, as the resumable states; on `Whole::Cut` nothing but `attrs` was touched and
    /// the caller reads the tag resumably instead (so each tag is tried whole once).
    fn start_tag_whole(
        &mut self,
        buf: &[u8],
        start: usize,
        bound: usize,
        limits: &Limits,
    ) -> Result<Whole, Error> {
        // From the name's start: its first character may be the colon.
        let scanned = scan_name(buf, start, bound)?;
        if !scanned.finished {
            return Ok(Whole::Cut);
        }
        let mut pos = scanned.end;
        let tag_name = self.span(start, pos);
        let mut has_prefix = scanned.colon && check_qname(&buf[start..pos])?;
        let item = self.item_start;
        let mut seen_names = 0u64;
        loop {
            let mut ws = false;
            while pos < bound && is_space(buf[pos]) {
                ws = true;
                pos += 1;
            }
            let Some(&b) = buf[..bound].get(pos) else {
                return Ok(Whole::Cut);
            };
            let empty = match b {
                b'>' => false,
                b'/' => match buf[..bound].get(pos + 1) {
                    None => return Ok(Whole::Cut),
                    Some(b'>') => {
                        pos += 1;
                        true
                    }
                    Some(_) => return Err(Error::Syntax),
                },
                _ => {
                    if name_start_len(&buf[..bound], pos)?.is_none() {
                        return Ok(Whole::Cut);
                    }
                    if !ws {
                        return Err(Error::Syntax);
                    }
                    if self.attrs.len() - self.tag_first_attr >= limits.max_attributes {
                        return Err(Error::TooManyAttributes);
                    }
                    let name_start = pos;
                    let scanned = scan_name(buf, name_start, bound)?;
                    if !scanned.finished {
                        return Ok(Whole::Cut);
                    }
                    let name_end = scanned.end;
                    let name = &buf[name_start..name_end];
                    if scanned.colon {
                        has_prefix |= check_attribute_name(name)?;
                        self.tag_prefixes |=
                            u8::from(name.starts_with(b"xmlns:")) * DECLARES_PREFIX;
                    }
                    // Names are compared only when one before has the same length and
                    // first and last bytes, which `seen_names` notes a bit for.
                    let bit = name_bit(name);
                    if seen_names & bit != 0 {
                        for attr in &self.attrs[self.tag_first_attr..] {
                            if same_name(&buf[item..][attr.name.range()], name) {
                                return Err(Error::DuplicateAttribute);
                            }
                        }
                    }
                    seen_names |= bit;
                    pos = name_end;
                    // Nearly always `='` or `="` at once; spaces around `=` are looked for
                    // only when it is not.
                    let quote = match buf[..bound].get(pos..pos + 2) {
                        Some(&[b'=', q]) if q == b'\'' || q == b'"' => {
                            pos += 1;
                            q
                        }
                        _ => {
                            while pos < bound && is_space(buf[pos]) {
                                pos += 1;
                            }
                            match buf[..bound].get(pos) {
                                None => return Ok(Whole::Cut),
                                Some(b'=') => pos += 1,
                                Some(_) => return Err(Error::Syntax),
                            }
                            while pos < bound && is_space(buf[pos]) {
                                pos += 1;
                            }
                            match buf[..bound].get(pos) {
                                None => return Ok(Whole::Cut),
                                Some(&q) if q == b'\'' || q == b'"' => q,
                                Some(_) => return Err(Error::Syntax),
                            }
                        }
                    };
                    let value_start = pos + 1;
                    let mut at = value_start;
                    let value_end = loop {
                        match attribute_value(buf, at, bound, quote)? {
                            Value::Closed(end) => break end,
                            Value::Reference(amp) => match reference_whole(buf, amp, bound)? {
                                Some(end) => at = end,
                                None => return Ok(Whole::Cut),
                            },
                            Value::Open => return Ok(Whole::Cut),
                        }
                    };
                    check_declaration(name, &buf[value_start..value_end])?;
                    let value = self.span(value_start, value_end);
                    self.attrs.push(Attr {
                        name: self.span(name_start, name_end),
                        value,
                    });
                    pos = value_end + 1;
                    continue;
                }
            };
            self.tag_name = tag_name;
            self.tag_prefixes |= u8::from(has_prefix) * USES_PREFIX;
            self.pos = pos + 1;
            return Ok(Whole::Done(self.end_start_tag(buf, empty, limits)?));
        }
    }

    /// Reads a whole end tag from its name at `start`; see [`Scanner::start_tag_whole`].
    fn end_tag_whole(&mut self, buf: &[u8], start: usize, bound: usize) -> Result<Whole, Error> {
        // Nearly every end tag is the open element's name and `>` at once: that name was
        // judged at its start tag, so the bytes need only match. Anything else (space
        // before `>`, another name, a tag cut short) takes the full reading below, which
        // judges it the same way either way.
        if let Some(found) = self.matching_end_tag(buf, start, bound) {
            return Ok(Whole::Done(found));
        }
        let Some(len) = name_start_len(&buf[..bound], start)? else {
            return Ok(Whole::Cut);
        };
        let scanned = scan_name(buf, start + len, bound)?;
        if !scanned.finished {
            return Ok(Whole::Cut);
        }
        let mut pos = scanned.end;
        self.tag_name = self.span(start, pos);
        self.check_end_name(buf)?;
        while pos < bound && is_space(buf[pos]) {
            pos += 1;
        }
        match buf[..bound].get(pos) {
            None => Ok(Whole::Cut),
            Some(b'>') => {
                self.pos = pos + 1;
                Ok(Whole::Done(self.end_tag()))
            }
            Some(_) => Err(Error::Syntax),
        }
    }

    /// Reads the end tag whose name starts at `start` if it is the open element's name and
    /// `>` at once, as nearly every one is: that name was judged at its start tag, so the
    /// bytes need only match. `None` when it is not (space before `>`, another name, a tag
    /// cut short): [`Scanner::end_tag_whole`] and the resumable states judge those.
    #[inline(always)]
    fn matching_end_tag(
        &mut self,
        buf: &[u8],
        start: usize,
        bound: usize,
    ) -> Option<Option<Found>> {
        let open = *self.stack.last()?;
        let len = (open.end - open.start) as usize;
        let end = start + len;
        let expected = self.item_start + open.start as usize;
        if buf[..bound].get(end) != Some(&b'>') || !same_bytes_at(buf, start, expected, len) {
            return None;
        }
        self.mark = start;
        self.tag_name = self.span(start, end);
        self.pos = end + 1;
        Some(self.end_tag())
    }

    /// Goes on reading the name whose characters continue at `pos` (resumable states).
    fn resume_name(
        &mut self,
        buf: &[u8],
        pos: usize,
        bound: usize,
        avail: usize,
    ) -> Result<NameStep, Error> {
        let NameScan { end, finished, .. } = scan_name(buf, pos, bound)?;
        self.pos = end;
        if finished {
            Ok(NameStep::Ended(end))
        } else if end > pos {
            Ok(NameStep::Moved)
        } else if bound < avail {
            // A character cut by the limit rather than by the end of the input.
            Err(self.limit_error())
        } else {
            Ok(NameStep::Wait)
        }
    }

    /// The error for an item that does not fit its size limit.
    fn limit_error(&self) -> Error {
        if self.header_done() {
            Error::StanzaTooLarge
        } else {
            Error::HeaderTooLarge
        }
    }

    /// Handles the `>` of a start tag (`pos` is after it).
    #[inline(always)]
    fn end_start_tag(
        &mut self,
        buf: &[u8],
        empty: bool,
        limits: &Limits,
    ) -> Result<Option<Found>, Error> {
        if self.in_header {
            if empty {
                return Err(Error::Syntax);
            }
            self.in_header = false;
            self.in_item = false;
            self.header_read = true;
            self.tokens.push(Token::Start {
                name: self.tag_name,
                first_attr: self.tag_first_attr as u32,
                end_attr: self.attrs.len() as u32,
            });
            self.state = State::Between { ws_run: false };
            return Ok(Some(Found::Header));
        }
        let depth = self.stack.len() + 1;
        if depth > limits.max_depth {
            return Err(Error::TooDeep);
        }
        // Nearly no tag declares a prefix: the flag spares the call.
        let uses_prefix = self.tag_prefixes & USES_PREFIX != 0;
        let declares_prefix =
            self.tag_prefixes & DECLARES_PREFIX != 0 && self.record_declarations(buf, depth);
        if uses_prefix {
            self.check_prefixes(buf)?;
        }
        self.stanza_has_prefix |= uses_prefix || declares_prefix;
        self.tokens.push(Token::Start {
            name: self.tag_name,
            first_attr: self.tag_first_attr as u32,
            end_attr: self.attrs.len() as u32,
        });
        if empty {
            self.tokens.push(Token::End);
            self.forget_prefixes_below(depth - 1);
            return Ok(self.after_element());
        }
        self.stack.push(self.tag_name);
        self.mark = self.pos;
        self.text_start = self.pos;
        self.state = State::Text;
        Ok(None)
    }

    /// Records the prefixes the current start tag declares (each declaration was checked
    /// when its value ended); says whether it declared any.
    fn record_declarations(&mut self, buf: &[u8], depth: usize) -> bool {
        let item = &buf[self.item_start..];
        let before = self.prefixes.len();
        for attr in &self.attrs[self.tag_first_attr..] {
            if item[attr.name.range()].starts_with(b"xmlns:") {
                self.prefixes.push((attr.name, depth));
            }
        }
        self.prefixes.len() > before
    }

    /// Forgets the prefixes declared deeper than `depth`: their elements have ended.
    #[inline]
    fn forget_prefixes_below(&mut self, depth: usize) {
        // Nearly every stanza declares none.
        if !self.prefixes.is_empty() {
            self.prefixes.retain(|&(_, d)| d <= depth);
        }
    }

    /// Checks that every prefix the current start tag uses is declared.
    fn check_prefixes(&self, buf: &[u8]) -> Result<(), Error> {
        let item = &buf[self.item_start..];
        let declared = |prefix: &[u8]| {
            prefix == b"xml"
                || self.header_prefixes.iter().any(|p| **p == *prefix)
                || self
                    .prefixes
                    .iter()
                    .any(|(decl, _)| item[decl.range()].strip_prefix(b"xmlns:") == Some(prefix))
        };
        let element = &item[self.tag_name.range()];
        if let Some(colon) = memchr(b':', element) {
            if !declared(&element[..colon]) {
                return Err(Error::UndeclaredPrefix);
            }
        }
        for attr in &self.attrs[self.tag_first_attr..] {
            let name = &item[attr.name.range()];
            if let Some(colon) = memchr(b':', name) {
                let prefix = &name[..colon];
                if prefix != b"xmlns" && !declared(prefix) {
                    return Err(Error::UndeclaredPrefix);
                }
            }
        }
        Ok(())
    }

    /// Handles the `>` of an end tag (`pos` is after it).
    fn end_tag(&mut self) -> Option<Found> {
        if self.stack.pop().is_none() {
            self.in_item = false;
            self.state = State::Closed;
            return Some(Found::Close);
        }
        self.tokens.push(Token::End);
        let depth = self.stack.len();
        self.forget_prefixes_below(depth);
        self.after_element()
    }

    /// Checks an end tag's name, as soon as it is read, against the open element (or, at
    /// depth 0, the stream header).
    fn check_end_name(&self, buf: &[u8]) -> Result<(), Error> {
        let name = &buf[self.item_start..][self.tag_name.range()];
        let expected = match self.stack.last() {
            Some(open) => &buf[self.item_start..][open.range()],
            None if self.header_done() => &*self.stream_name,
            None => return Err(Error::MismatchedEndTag),
        };
        if !same_name(name, expected) {
            return Err(Error::MismatchedEndTag);
        }
        Ok(())
    }

    /// Handles the `<` at `at` that ends a text run.
    #[inline(always)]
    fn end_text(&mut self, at: usize, limits: &Limits) -> Result<(), Error> {
        // A text node ends only at a tag, so this is where its length is known, whatever
        // the chunking.
        if at - self.text_start > limits.max_text_bytes {
            self.pos = at;
            return Err(Error::TextTooLarge);
        }
        if at > self.mark {
            let span = self.span(self.mark, at);
            self.tokens.push(Token::Text(span));
        }
        self.pos = at + 1;
        self.state = State::Lt;
        Ok(())
    }

    /// Judges the `>` at `at` in a text run: allowed, but not as the end of `]]>`.
    #[inline(always)]
    fn gt_in_text(&mut self, buf: &[u8], at: usize) -> Result<(), Error> {
        if at >= self.mark + 2 && &buf[at - 2..at] == b"]]" {
            self.pos = at;
            return Err(Error::CdataEndInText);
        }
        Ok(())
    }

    /// After an element closed: a stanza ends at depth 0, otherwise content resumes.
    fn after_element(&mut self) -> Option<Found> {
        if self.stack.is_empty() {
            self.in_item = false;
            self.state = State::Between { ws_run: false };
            return Some(Found::Stanza);
        }
        self.mark = self.pos;
        self.text_start = self.pos;
        self.state = State::Text;
        None
    }

    fn span(&self, start: usize, end: usize) -> Span {
        // Items are bounded by the limits, which `Framer` keeps within u32.
        Span {
            start: (start - self.item_start) as u32,
            end: (end - self.item_start) as u32,
        }
    }
}

/// Where reading a name stopped, in the resumable states.
enum NameStep {
    /// The name ends at this offset.
    Ended(usize),
    /// Some of it was read; look at the state again.
    Moved,
    /// A character is cut by the end of the input: wait for more bytes.
    Wait,
}

/// How a whole-token fast path ended.
enum Whole {
    /// The token was read; the scanner moved past it (and perhaps found something).
    Done(Option<Found>),
    /// The token does not end before the bound: read it resumably.
    Cut,
}

/// Where an attribute value's scan from some offset stopped.
enum Value {
    /// At the closing quote, at this offset.
    Closed(usize),
    /// At a `&`, at this offset.
    Reference(usize),
    /// At the bound, still open.
    Open,
}

/// Scans an attribute value quoted with `quote` from `pos` up to `bound`.
#[inline(always)]
fn attribute_value(buf: &[u8], pos: usize, bound: usize, quote: u8) -> Result<Value, Error> {
    // Most values are short (a JID, an id, a type): an inlined search finds their end.
    match find_any3(&buf[pos..bound], quote, b'<', b'&') {
        None => Ok(Value::Open),
        Some(i) => match buf[pos + i] {
            b'<' => Err(Error::Syntax),
            b'&' => Ok(Value::Reference(pos + i)),
            _ => Ok(Value::Closed(pos + i)),
        },
    }
}

/// Checks the reference whose `&` is at `amp` if it ends before `bound`, and returns the
/// offset after its `;`; `None` if it may still end once more bytes arrive. Judges exactly
/// as the resumable `Reference` state does.
///
/// The five predefined entities, nearly every reference in chat text, are told inline at
/// the search that found the `&`; anything else is judged out of line.
#[inline(always)]
fn reference_whole(buf: &[u8], amp: usize, bound: usize) -> Result<Option<usize>, Error> {
    match predefined_entity(&buf[amp + 1..bound]) {
        Some((_, len)) => Ok(Some(amp + 1 + len)),
        None => other_reference_whole(buf, amp, bound),
    }
}

/// [`reference_whole`] for a reference that is not one of the predefined entities.
#[inline(never)]
fn other_reference_whole(buf: &[u8], amp: usize, bound: usize) -> Result<Option<usize>, Error> {
    let window_end = (amp + 2 + MAX_REFERENCE).min(bound);
    let body = &buf[amp + 1..window_end];
    let end = memchr(b';', body).unwrap_or(body.len());
    // The resumable state rejects at the first byte that cannot go on; so do we.
    if (0..end).any(|i| !reference_continues(&body[..i], body[i])) {
        return Err(Error::BadReference);
    }
    if end == body.len() {
        if window_end == bound && body.len() <= MAX_REFERENCE {
            return Ok(None);
        }
        return Err(Error::BadReference);
    }
    match decode_reference(&body[..end]) {
        Reference::Char(_) => Ok(Some(amp + 1 + end + 1)),
        Reference::Undefined => Err(Error::UndefinedEntity),
        Reference::Malformed => Err(Error::BadReference),
    }
}

/// Whether `b` may follow `body` (what came after `&` so far) in a reference: digits
/// after `&#`, hexadecimal digits after `&#x`, name characters in an entity name.
fn reference_continues(body: &[u8], b: u8) -> bool {
    match body {
        [] => b == b'#' || is_ascii_name_start(b) || b >= 0x80,
        [b'#'] => b.is_ascii_digit() || b == b'x',
        [b'#', b'x', ..] => b.is_ascii_hexdigit(),
        [b'#', ..] => b.is_ascii_digit(),
        _ => is_ascii_name(b) || b >= 0x80,
    }
}

/// The length of the name-start character at `buf[pos]`, `None` if it is cut by the end
/// of `buf`, an error if it cannot start a name.
///
/// Inlined where names start (every tag and attribute), with the rare non-ASCII start out
/// of line: a call per name cost more than the check.
#[inline(always)]
fn name_start_len(buf: &[u8], pos: usize) -> Result<Option<usize>, Error> {
    match buf.get(pos) {
        Some(&b) if is_ascii_name_start(b) => Ok(Some(1)),
        Some(&b) if b < 0x80 => Err(Error::Syntax),
        Some(_) => non_ascii_name_start_len(&buf[pos..]),
        None => Ok(None),
    }
}

/// [`name_start_len`] for a character that is not ASCII, at `bytes[0]`.
#[inline(never)]
fn non_ascii_name_start_len(bytes: &[u8]) -> Result<Option<usize>, Error> {
    match decode_char(bytes)? {
        None => Ok(None),
        Some((c, len)) if is_name_start_char(c) => Ok(Some(len)),
        Some(_) => Err(Error::Syntax),
    }
}

/// Where reading a name stopped.
struct NameScan {
    /// The offset reached.
    end: usize,
    /// Whether the name ended there; when it did not, the bytes from `end` (up to the
    /// bound, perhaps a character cut by the end of the input) must be read again once
    /// more arrive.
    finished: bool,
    /// Whether a colon was among the characters read.
    colon: bool,
}

/// Reads name characters from `buf[pos]` up to `bound`.
///
/// Inlined where names are read, like [`name_start_len`]: nearly every name is an ASCII
/// run ended by an ASCII byte; any other goes on out of line.
#[inline(always)]
fn scan_name(buf: &[u8], pos: usize, bound: usize) -> Result<NameScan, Error> {
    let bytes = &buf[..bound];
    let (end, colon) = ascii_name_run(bytes, pos);
    match bytes.get(end) {
        Some(&b) if b < 0x80 => Ok(NameScan {
            end,
            finished: true,
            colon,
        }),
        _ => scan_name_on(bytes, end, colon),
    }
}

/// [`scan_name`] from `bytes[end]`, where its ASCII run ended at a non-ASCII byte or at the
/// bound; `colon` says whether the name so far holds one.
#[inline(never)]
fn scan_name_on(bytes: &[u8], mut end: usize, mut colon: bool) -> Result<NameScan, Error> {
    loop {
        let finished = match bytes.get(end) {
            None => false,
            Some(&b) if b < 0x80 => true,
            Some(_) => match decode_char(&bytes[end..])? {
                None => false,
                Some((c, len)) if is_name_char(c) => {
                    end += len;
                    let (ascii_end, ascii_colon) = ascii_name_run(bytes, end);
                    end = ascii_end;
                    colon |= ascii_colon;
                    continue;
                }
                Some(_) => true,
            },
        };
        return Ok(NameScan {
            end,
            finished,
            colon,
        });
    }
}

/// A bit standing for `name`'s length and first and last bytes: names with different bits
/// differ.
#[inline(always)]
fn name_bit(name: &[u8]) -> u64 {
    let (first, last) = (name.first().copied(), name.last().copied());
    let key = name.len() + 7 * usize::from(first.unwrap_or(0)) + 3 * usize::from(last.unwrap_or(0));
    1 << (key % 64)
}

/// Whether two names are the same bytes. Names are short, and most pairs compared (the
/// attributes of a tag) differ in length or first byte: those are told apart here without
/// a call to `memcmp`, which slice equality makes for every pair of equal length.
#[inline]
fn same_name(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.first() == b.first() && a.last() == b.last() && a == b
}

/// Whether `buf[a..a + len]` and `buf[b..b + len]` are the same bytes, both within `buf`.
/// For names of up to eight bytes with eight bytes readable at both places (an end tag and
/// its start tag's name, nearly always), one word each, compared under a mask: no call to
/// `memcmp`, which costs more than such a comparison.
#[inline]
fn same_bytes_at(buf: &[u8], a: usize, b: usize, len: usize) -> bool {
    if (1..=8).contains(&len) {
        if let (Some(x), Some(y)) = (buf.get(a..a + 8), buf.get(b..b + 8)) {
            let x = u64::from_le_bytes(x.try_into().unwrap_or_default());
            let y = u64::from_le_bytes(y.try_into().unwrap_or_default());
            return (x ^ y) & (u64::MAX >> (64 - 8 * len)) == 0;
        }
    }
    buf[a..a + len] == buf[b..b + len]
}

/// Checks a qualified name (Namespaces in XML §4) and says whether it has a prefix.
fn check_qname(name: &[u8]) -> Result<bool, Error> {
    // Names are short: a plain search beats memchr's call for them.
    let Some(colon) = name.iter().position(|&b| b == b':') else {
        return Ok(false);
    };
    let local = &name[colon + 1..];
    if colon == 0 || local.contains(&b':') {
        return Err(Error::BadQualifiedName);
    }
    match local.first() {
        Some(&b) if is_ascii_name_start(b) => Ok(true),
        Some(_) => match decode_char(local)? {
            Some((c, _)) if !c.is_ascii() && is_name_start_char(c) => Ok(true),
            _ => Err(Error::BadQualifiedName),
        },
        None => Err(Error::BadQualifiedName),
    }
}

/// Checks an attribute's qualified name as soon as it is read, and says whether its prefix
/// must be declared (`xmlns:` declares a prefix, it is not looked up). Namespaces in XML §3:
/// the prefix `xmlns` itself is never declared, whatever the value, so `xmlns:xmlns` is
/// refused at its name, as rxml does, not when its tag ends.
fn check_attribute_name(name: &[u8]) -> Result<bool, Error> {
    if !check_qname(name)? {
        return Ok(false);
    }
    if name == b"xmlns:xmlns" {
        return Err(Error::BadQualifiedName);
    }
    Ok(!name.starts_with(b"xmlns:"))
}

const XML_NS: &[u8] = b"http://www.w3.org/XML/1998/namespace";
const XMLNS_NS: &[u8] = b"http://www.w3.org/2000/xmlns/";

/// Checks a namespace declaration as soon as its value has been read (Namespaces in XML
/// §3), so the verdict does not wait for the tag's end: a prefix is never undeclared
/// (`xmlns:p=''`); `xml` is bound to its own namespace and nothing else is; the xmlns
/// namespace is bound to nothing; neither is the default namespace. The value is compared
/// as an XML processor reports it, references resolved.
#[inline]
fn check_declaration(name: &[u8], raw_value: &[u8]) -> Result<(), Error> {
    // Called for every attribute; only `xmlns` and `xmlns:…` go further.
    match name.strip_prefix(b"xmlns") {
        None => Ok(()),
        Some(rest) => check_namespace_value(rest, raw_value),
    }
}

/// [`check_declaration`] for a name that starts with `xmlns`, `rest` being what follows.
fn check_namespace_value(rest: &[u8], raw_value: &[u8]) -> Result<(), Error> {
    // Decoding never lengthens a value nor empties one: a value shorter than both reserved
    // namespaces can be neither, whatever its references, and is fine for any name but
    // `xmlns:xml` (which must be bound to one) as long as a prefix's is not empty.
    if raw_value.len() < XMLNS_NS.len().min(XML_NS.len()) {
        match rest.strip_prefix(b":") {
            None => return Ok(()),
            Some(prefix) if prefix != b"xml" && !raw_value.is_empty() => return Ok(()),
            Some(_) => {}
        }
    }
    // A value without references or whitespace to normalise is compared as it is written
    // (nearly every declaration); the others as an XML processor reports them.
    let decoded;
    let value: &[u8] = if attribute_needs_decoding(raw_value) {
        // The scanner only hands out whole characters; a value is always valid UTF-8.
        let raw_value = std::str::from_utf8(raw_value).map_err(|_| Error::InvalidUtf8)?;
        decoded = decode_attribute(raw_value);
        decoded.as_bytes()
    } else {
        raw_value
    };
    let bad = match rest.strip_prefix(b":") {
        Some(prefix) => {
            value.is_empty() || (prefix == b"xml") != (value == XML_NS) || value == XMLNS_NS
        }
        None => rest.is_empty() && (value == XML_NS || value == XMLNS_NS),
    };
    if bad {
        return Err(Error::BadQualifiedName);
    }
    Ok(())
}

/// Checks the content of `<?xml … ?>` (between `<?` and `?>`): it must be the XML
/// declaration, and any encoding it names must be UTF-8.
fn check_xml_declaration(decl: &[u8]) -> Result<(), Error> {
    let Some(rest) = decl.strip_prefix(b"xml") else {
        return Err(Error::ProcessingInstruction);
    };
    match rest.first() {
        Some(&b) if is_space(b) => {}
        // `<?xml-stylesheet …?>` and the like are processing instructions.
        Some(_) => return Err(Error::ProcessingInstruction),
        None => return Err(Error::Syntax),
    }
    let text = std::str::from_utf8(rest).map_err(|_| Error::InvalidUtf8)?;
    let mut seen_version = false;
    let mut rest = text.trim_start_matches([' ', '\t', '\r', '\n']);
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=').ok_or(Error::Syntax)?;
        let after = after.trim_start_matches([' ', '\t', '\r', '\n']);
        let quote = after
            .chars()
            .next()
            .filter(|&q| q == '\'' || q == '"')
            .ok_or(Error::Syntax)?;
        let (value, tail) = after[1..].split_once(quote).ok_or(Error::Syntax)?;
        match name.trim_end_matches([' ', '\t', '\r', '\n']) {
            "version" if !seen_version && value.starts_with("1.") => seen_version = true,
            "encoding" if seen_version => {
                if !value.eq_ignore_ascii_case("utf-8") && !value.eq_ignore_ascii_case("utf8") {
                    return Err(Error::UnsupportedEncoding);
                }
            }
            "standalone" if seen_version && (value == "yes" || value == "no") => {}
            _ => return Err(Error::Syntax),
        }
        if !tail.is_empty() && !tail.starts_with([' ', '\t', '\r', '\n']) {
            return Err(Error::Syntax);
        }
        rest = tail.trim_start_matches([' ', '\t', '\r', '\n']);
    }
    if !seen_version {
        return Err(Error::Syntax);
    }
    Ok(())
}
