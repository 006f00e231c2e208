//! XML 1.0 character classes, the stream-wide character check, and reference decoding.

use std::borrow::Cow;

use memchr::memchr;
use wide::u8x16;

use crate::Error;

const NAME_START: u8 = 1;
const NAME: u8 = 2;
const COLON: u8 = 4;

/// Class bits of every byte: `NAME_START` and/or `NAME` for ASCII name characters (XML 1.0
/// §2.3, namespaces aside: the colon is a name character here, marked `COLON` too, and
/// qualified names are checked apart); 0 for every other byte, non-ASCII ones included.
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c == b':' {
            table[b] = NAME_START | NAME | COLON;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            table[b] = NAME_START | NAME;
        } else if c.is_ascii_digit() || c == b'-' || c == b'.' {
            table[b] = NAME;
        }
        b += 1;
    }
    table
};

/// The offset of the first of `a`, `b` or `c` in `hay`.
///
/// The framer's searches are short (the next `<` or `&` in a body, the quote that ends an
/// attribute value): a run of text holds a reference every few dozen bytes. There a call
/// to memchr costs more than the search, so this one is inlined and reads sixteen bytes a
/// step as a `wide` vector (SSE2 on x86-64: three compares, one mask, the lowest set bit
/// the answer); the last, partial block is read as the final sixteen bytes of `hay`,
/// overlapping the block before, and only a haystack shorter than a block is read byte by
/// byte. Past [`LONG_RUN`] bytes memchr's vector search takes over.
#[inline(always)]
pub(crate) fn find_any3(hay: &[u8], a: u8, b: u8, c: u8) -> Option<usize> {
    let (sa, sb, sc) = (u8x16::splat(a), u8x16::splat(b), u8x16::splat(c));
    let found = |block: &[u8]| {
        let v = u8x16::new(block.try_into().unwrap_or_default());
        (v.cmp_eq(sa) | v.cmp_eq(sb) | v.cmp_eq(sc)).move_mask() as u32
    };
    if hay.len() < BLOCK {
        return hay.iter().position(|&x| (x == a) | (x == b) | (x == c));
    }
    let mut base = 0;
    while base + BLOCK <= hay.len() {
        let mask = found(&hay[base..base + BLOCK]);
        if mask != 0 {
            return Some(base + mask.trailing_zeros() as usize);
        }
        base += BLOCK;
        if base >= LONG_RUN {
            return memchr::memchr3(a, b, c, &hay[base..]).map(|i| base + i);
        }
    }
    if base == hay.len() {
        return None;
    }
    // The last block overlaps bytes already searched: drop their bits.
    let last = hay.len() - BLOCK;
    let mask = found(&hay[last..]) >> (base - last);
    (mask != 0).then(|| base + mask.trailing_zeros() as usize)
}

/// The bytes [`find_any3`] compares at once.
const BLOCK: usize = 16;

/// The bytes [`text_marks`] classifies at once.
pub(crate) const TEXT_BLOCK: usize = 64;

/// The marks in a block of character data: a bit for each `<` or `>` (where a text run
/// ends, or must be looked at), and a bit for each `&`, bit `i` for `block[i]`.
///
/// Chat text holds a reference every few words; searching from one to the next decides a
/// branch on every one (which byte was found, which entity it is), and those branches
/// follow the text, not a pattern. Marking a whole block at once lets the scanner judge
/// the block's references together and branch once per block instead.
#[inline(always)]
pub(crate) fn text_marks(block: &[u8; TEXT_BLOCK]) -> (u64, u64) {
    // `<` (0x3C) and `>` (0x3E) differ in one bit, and no other byte is 0x3E with that
    // bit set: one compare finds both.
    let (bit, gt, amp) = (u8x16::splat(0x02), u8x16::splat(b'>'), u8x16::splat(b'&'));
    let (mut stops, mut amps) = (0u64, 0u64);
    for (i, v) in quarters(block).into_iter().enumerate() {
        stops |= ((v | bit).cmp_eq(gt).move_mask() as u32 as u64) << (i * BLOCK);
        amps |= (v.cmp_eq(amp).move_mask() as u32 as u64) << (i * BLOCK);
    }
    (stops, amps)
}

/// Whether each `&` that `amps` marks (bit `i` for `buf[base + i]`) starts one of the five
/// predefined entities; every such `&` must have eight bytes after it in `buf`.
///
/// The eight bytes after each `&` are read as one word; its first two bytes pick the only
/// entity it can be (see [`ENTITY_WORDS`]), whose name and `;` it must start with. No
/// branch on which entity it is: nothing depends on the answer but the one branch on the
/// whole block's.
#[inline(always)]
pub(crate) fn all_predefined_entities(buf: &[u8], base: usize, mut amps: u64) -> bool {
    let mut all = true;
    while amps != 0 {
        let amp = base + amps.trailing_zeros() as usize;
        amps &= amps - 1;
        let Some(after) = buf.get(amp + 1..amp + 9) else {
            return false;
        };
        let w = u64::from_le_bytes(after.try_into().unwrap_or_default());
        let (name, mask) = ENTITY_WORDS[entity_slot(w)];
        all &= w & mask == name;
    }
    all
}

/// The slot in [`ENTITY_WORDS`] for a word whose first bytes may name an entity: bits 1 to
/// 3 of its first two bytes' XOR, which differ for `lt`, `gt`, `am`, `qu` and `ap`.
#[inline(always)]
const fn entity_slot(word: u64) -> usize {
    (((word ^ (word >> 8)) >> 1) & 7) as usize
}

/// The five predefined entities' names with their `;`, as little-endian words with the
/// mask of their bytes, each at its [`entity_slot`]; the empty slots match no word.
static ENTITY_WORDS: [(u64, u64); 8] = {
    const fn word(name: &[u8]) -> u64 {
        let mut word = 0u64;
        let mut i = 0;
        while i < name.len() {
            word |= (name[i] as u64) << (8 * i);
            i += 1;
        }
        word
    }
    // A name under a zero mask never matches.
    let mut words = [(1u64, 0u64); 8];
    let names: [&[u8]; 5] = [b"lt;", b"gt;", b"amp;", b"quot;", b"apos;"];
    let mut i = 0;
    while i < names.len() {
        let name = word(names[i]);
        words[entity_slot(name)] = (name, u64::MAX >> (64 - 8 * names[i].len()));
        i += 1;
    }
    words
};

/// How far [`find_any3`] searches block by block before it hands over to memchr.
const LONG_RUN: usize = 256;

/// XML whitespace (`S` of XML 1.0 §2.3).
#[inline]
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Whether an ASCII byte may start a name; non-ASCII bytes answer false.
#[inline]
pub(crate) fn is_ascii_name_start(b: u8) -> bool {
    BYTE_CLASS[b as usize] & NAME_START != 0
}

/// Whether an ASCII byte may continue a name; non-ASCII bytes answer false.
#[inline]
pub(crate) fn is_ascii_name(b: u8) -> bool {
    BYTE_CLASS[b as usize] & NAME != 0
}

/// The end of the run of ASCII name characters in `bytes` from `from` on, and whether a
/// colon is among them: the loop that nearly every name is read with.
#[inline]
pub(crate) fn ascii_name_run(bytes: &[u8], from: usize) -> (usize, bool) {
    let mut end = from;
    let mut seen = 0;
    while let Some(&b) = bytes.get(end) {
        let class = BYTE_CLASS[b as usize];
        if class & NAME == 0 {
            break;
        }
        seen |= class;
        end += 1;
    }
    (end, seen & COLON != 0)
}

/// `NameStartChar` of XML 1.0 §2.3 for a non-ASCII character.
pub(crate) fn is_name_start_char(c: char) -> bool {
    matches!(c as u32,
        0xC0..=0xD6 | 0xD8..=0xF6 | 0xF8..=0x2FF | 0x370..=0x37D | 0x37F..=0x1FFF
        | 0x200C..=0x200D | 0x2070..=0x218F | 0x2C00..=0x2FEF | 0x3001..=0xD7FF
        | 0xF900..=0xFDCF | 0xFDF0..=0xFFFD | 0x10000..=0xEFFFF)
        || (c.is_ascii() && is_ascii_name_start(c as u8))
}

/// `NameChar` of XML 1.0 §2.3.
pub(crate) fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c as u32, 0xB7 | 0x300..=0x36F | 0x203F..=0x2040)
        || (c.is_ascii() && is_ascii_name(c as u8))
}

/// `Char` of XML 1.0 §2.2.
pub(crate) fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// Whether `name` is an XML `Name`.
pub(crate) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start_char) && chars.all(is_name_char)
}

/// The length of the UTF-8 sequence that `lead` starts (1 for a byte that starts none:
/// the UTF-8 check then reports it).
#[inline]
pub(crate) fn utf8_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// The character starting at `bytes[0]` with its length; `Ok(None)` when `bytes` ends
/// inside it, an error when the bytes are not UTF-8.
#[inline]
pub(crate) fn decode_char(bytes: &[u8]) -> Result<Option<(char, usize)>, Error> {
    let Some(&lead) = bytes.first() else {
        return Ok(None);
    };
    let len = utf8_len(lead);
    let text = &bytes[..len.min(bytes.len())];
    match std::str::from_utf8(text) {
        Ok(s) => Ok(s.chars().next().map(|c| (c, len))),
        Err(e) if e.error_len().is_none() && text.len() < len => Ok(None),
        Err(_) => Err(Error::InvalidUtf8),
    }
}

/// The offset of the first character of already valid UTF-8 `bytes` that XML 1.0 forbids
/// (a C0 control other than tab, LF and CR; U+FFFE; U+FFFF).
pub(crate) fn find_forbidden_char(bytes: &[u8]) -> Option<usize> {
    // A pass over 64-byte blocks, sixteen bytes a `wide` vector, that only asks whether a
    // block holds a byte below space or 0xEF (the lead byte of U+FFFE and U+FFFF, EF BF
    // BE and EF BF BF): the lanes' minimum tells the first, four compares the second.
    // Both are rare in chat text but for line ends; only such a block is looked at closely.
    const BLOCK: usize = 64;
    let (below_space, ef) = (u8x16::splat(0x1F), u8x16::splat(0xEF));
    for (n, block) in bytes.chunks(BLOCK).enumerate() {
        let start = n * BLOCK;
        let Ok(block) = <&[u8; BLOCK]>::try_from(block) else {
            // The last, partial block.
            return (start..bytes.len()).find(|&at| is_forbidden_at(bytes, at));
        };
        let [a, b, c, d] = quarters(block);
        let low = a.min(b).min(c.min(d));
        let any_ef = a.cmp_eq(ef) | b.cmp_eq(ef) | c.cmp_eq(ef) | d.cmp_eq(ef);
        if (low.min(below_space).cmp_eq(low) | any_ef).move_mask() == 0 {
            continue;
        }
        let mut suspects = suspect_marks(block);
        while suspects != 0 {
            let at = start + suspects.trailing_zeros() as usize;
            if is_forbidden_at(bytes, at) {
                return Some(at);
            }
            suspects &= suspects - 1;
        }
    }
    None
}

/// A 64-byte block as four vectors.
#[inline(always)]
fn quarters(block: &[u8; 64]) -> [u8x16; 4] {
    let quarter = |i: usize| u8x16::new(block[i * 16..i * 16 + 16].try_into().unwrap_or_default());
    [quarter(0), quarter(1), quarter(2), quarter(3)]
}

/// A bit for each byte of `block` that is a forbidden control or 0xEF (which may start
/// U+FFFE or U+FFFF): tab, LF and CR, common in a suspect block, are not marked.
fn suspect_marks(block: &[u8; 64]) -> u64 {
    let (below_space, ef) = (u8x16::splat(0x1F), u8x16::splat(0xEF));
    let (tab, lf, cr) = (
        u8x16::splat(b'\t'),
        u8x16::splat(b'\n'),
        u8x16::splat(b'\r'),
    );
    let mut marks = 0u64;
    for (i, v) in quarters(block).into_iter().enumerate() {
        let allowed = v.cmp_eq(tab) | v.cmp_eq(lf) | v.cmp_eq(cr);
        let control = v.min(below_space).cmp_eq(v) & !allowed;
        marks |= ((control | v.cmp_eq(ef)).move_mask() as u32 as u64) << (i * 16);
    }
    marks
}

/// Whether the character at `bytes[at]` is one XML 1.0 forbids.
#[inline]
fn is_forbidden_at(bytes: &[u8], at: usize) -> bool {
    let b = bytes[at];
    let noncharacter = b == 0xEF
        && bytes.get(at + 1) == Some(&0xBF)
        && matches!(bytes.get(at + 2), Some(0xBE | 0xBF));
    is_forbidden_control(b) || noncharacter
}

#[inline]
fn is_forbidden_control(b: u8) -> bool {
    b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r'
}

/// What a `&…;` reference (given without `&` and `;`) stands for.
pub(crate) enum Reference {
    /// A character: one of the predefined entities or a character reference.
    Char(char),
    /// A well-formed reference to an entity XMPP forbids.
    Undefined,
    /// Not a reference at all.
    Malformed,
}

/// The predefined entity that `after_amp` (the bytes after a `&`) starts with, with the
/// length of its name and `;`: the common case, told apart without the general decoding.
#[inline]
pub(crate) fn predefined_entity(after_amp: &[u8]) -> Option<(char, usize)> {
    match after_amp {
        [b'l', b't', b';', ..] => Some(('<', 3)),
        [b'g', b't', b';', ..] => Some(('>', 3)),
        [b'a', b'm', b'p', b';', ..] => Some(('&', 4)),
        [b'q', b'u', b'o', b't', b';', ..] => Some(('"', 5)),
        [b'a', b'p', b'o', b's', b';', ..] => Some(('\'', 5)),
        _ => None,
    }
}

/// Decodes the body of an entity or character reference (XML 1.0 §4.1).
pub(crate) fn decode_reference(body: &[u8]) -> Reference {
    match body {
        b"lt" => return Reference::Char('<'),
        b"gt" => return Reference::Char('>'),
        b"amp" => return Reference::Char('&'),
        b"quot" => return Reference::Char('"'),
        b"apos" => return Reference::Char('\''),
        _ => {}
    }
    if let Some(number) = body.strip_prefix(b"#") {
        let (digits, radix) = match number.strip_prefix(b"x") {
            Some(hex) => (hex, 16),
            None => (number, 10),
        };
        if digits.is_empty() || digits.len() > 8 {
            return Reference::Malformed;
        }
        let mut value: u32 = 0;
        for &d in digits {
            match (d as char).to_digit(radix) {
                Some(v) => value = value * radix + v,
                None => return Reference::Malformed,
            }
        }
        return match char::from_u32(value) {
            Some(c) if is_xml_char(value) => Reference::Char(c),
            _ => Reference::Malformed,
        };
    }
    match std::str::from_utf8(body) {
        Ok(name) if is_name(name) && !name.contains(':') => Reference::Undefined,
        _ => Reference::Malformed,
    }
}

/// Appends character data decoded as an XML processor reports it: references resolved and
/// line ends normalised (XML 1.0 §2.11). The input must have passed the framer's scan, so
/// every reference in it is well formed; one that is not is kept as written.
pub(crate) fn push_decoded_text(out: &mut String, raw: &str) {
    let bytes = raw.as_bytes();
    let mut from = 0;
    // References come every few words in chat text: the inlined search, not memchr's call.
    while let Some(i) = find_any3(&bytes[from..], b'&', b'\r', b'\r') {
        let at = from + i;
        out.push_str(&raw[from..at]);
        if bytes[at] == b'\r' {
            out.push('\n');
            from = at + 1;
            if bytes.get(from) == Some(&b'\n') {
                from += 1;
            }
            continue;
        }
        from = push_reference(out, raw, at);
    }
    out.push_str(&raw[from..]);
}

/// Whether an attribute value as written differs from what [`decode_attribute`] makes of
/// it: it holds a reference, or whitespace that normalisation turns into spaces.
#[inline]
pub(crate) fn attribute_needs_decoding(raw: &[u8]) -> bool {
    // Values are short: one plain pass beats two calls to memchr.
    raw.iter()
        .any(|&b| matches!(b, b'&' | b'\r' | b'\n' | b'\t'))
}

/// Decodes an attribute value as an XML processor reports it: line ends normalised, then
/// literal whitespace turned into spaces, references resolved (XML 1.0 §3.3.3, CDATA type).
pub(crate) fn decode_attribute(raw: &str) -> Cow<'_, str> {
    let bytes = raw.as_bytes();
    if !attribute_needs_decoding(bytes) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut from = 0;
    while from < bytes.len() {
        let Some(i) = bytes[from..]
            .iter()
            .position(|&b| matches!(b, b'&' | b'\r' | b'\n' | b'\t'))
        else {
            break;
        };
        let at = from + i;
        out.push_str(&raw[from..at]);
        match bytes[at] {
            b'&' => from = push_reference(&mut out, raw, at),
            b'\r' => {
                out.push(' ');
                from = at + 1;
                if bytes.get(from) == Some(&b'\n') {
                    from += 1;
                }
            }
            _ => {
                out.push(' ');
                from = at + 1;
            }
        }
    }
    out.push_str(&raw[from..]);
    Cow::Owned(out)
}

/// Appends the character of the reference starting at `raw[amp]` and returns the offset
/// after its `;`.
fn push_reference(out: &mut String, raw: &str, amp: usize) -> usize {
    let bytes = raw.as_bytes();
    if let Some((c, len)) = predefined_entity(&bytes[amp + 1..]) {
        out.push(c);
        return amp + 1 + len;
    }
    if let Some(len) = memchr(b';', &bytes[amp..]) {
        if let Reference::Char(c) = decode_reference(&bytes[amp + 1..amp + len]) {
            out.push(c);
            return amp + len + 1;
        }
    }
    out.push('&');
    amp + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_chars_are_found_in_any_block() {
        let mut text = vec![b'a'; 100];
        assert_eq!(find_forbidden_char(&text), None);
        text[70] = 0x01;
        assert_eq!(find_forbidden_char(&text), Some(70));
        text[70] = b'\t';
        assert_eq!(find_forbidden_char(&text), None);
        let fffe = "ab\u{FFFE}".as_bytes();
        assert_eq!(find_forbidden_char(fffe), Some(2));
        assert_eq!(find_forbidden_char("\u{FFFD}\u{EFFF}".as_bytes()), None);
    }

    #[test]
    fn forbidden_chars_are_found_at_every_offset_across_block_boundaries() {
        // Two whole 64-byte blocks and a partial one; the first and last byte a control
        // test looks at (NUL, 0x1F) and its neighbours above (space, DEL, both allowed).
        for at in 0..140 {
            for (bad, found) in [
                ("\u{0}", true),
                ("\u{1}", true),
                (" ", false),
                ("\u{7F}", false),
                ("\u{1F}", true),
                ("\u{FFFE}", true),
                ("\u{FFFF}", true),
                ("\t\r\n", false),
                ("\u{FFFD}", false),
                ("\u{EFFF}", false),
            ] {
                let text = format!("{}{bad}{}", "a".repeat(at), "b".repeat(40));
                let expected = found.then_some(at);
                assert_eq!(
                    find_forbidden_char(text.as_bytes()),
                    expected,
                    "{bad:?} at {at}"
                );
            }
            // A line end makes a block suspect; what follows it in the block still counts.
            let text = format!("{}\r\n\t\u{EFFF}\u{B}{}", "a".repeat(at), "b".repeat(40));
            assert_eq!(
                find_forbidden_char(text.as_bytes()),
                Some(at + 6),
                "after {at}"
            );
        }
    }

    #[test]
    fn find_any3_finds_the_first_needle_as_a_plain_search_does() {
        // Every length and offset across the 16-byte steps, the overlapping last block and
        // the hand-over to memchr (LONG_RUN), each needle, and fillers one above and below
        // each needle and with the high bit set (where a faulty comparison would hit), with
        // and without a later needle.
        let (a, b, c) = (b'<', b'&', b'>');
        let fillers = [0x00, 0x3B, 0x3D, 0x25, 0x27, 0x3F, 0x80, 0xFF, b'x'];
        for len in 0..LONG_RUN + 40 {
            for filler in fillers {
                let mut hay = vec![filler; len];
                let naive = |hay: &[u8]| hay.iter().position(|&x| x == a || x == b || x == c);
                assert_eq!(find_any3(&hay, a, b, c), naive(&hay), "none in {len}");
                for at in 0..len {
                    for needle in [a, b, c] {
                        hay.fill(filler);
                        hay[at] = needle;
                        if at + 3 < len {
                            hay[at + 3] = a;
                        }
                        assert_eq!(
                            find_any3(&hay, a, b, c),
                            Some(at),
                            "{needle} at {at} of {len}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn each_predefined_entity_has_a_slot_of_its_own() {
        let names: [&[u8]; 5] = [b"lt;", b"gt;", b"amp;", b"quot;", b"apos;"];
        let all = |text: &[u8]| {
            let mut buf = text.to_vec();
            buf.extend_from_slice(&[b' '; 9]);
            let amps = buf.iter().enumerate().filter(|(_, &b)| b == b'&');
            let amps = amps.fold(0u64, |bits, (i, _)| bits | 1 << i);
            all_predefined_entities(&buf, 0, amps)
        };
        for name in &names {
            assert!(all(&[b"&", *name].concat()), "{name:?}");
            // One byte short, one byte off, or the `;` missing: no entity.
            for cut in 1..name.len() {
                assert!(
                    !all(&[b"&", &name[..cut]].concat()),
                    "{name:?} cut at {cut}"
                );
                let mut wrong = name.to_vec();
                wrong[cut] ^= 0x20;
                assert!(!all(&[b"&", &wrong[..]].concat()), "{wrong:?}");
            }
        }
        for other in [
            &b"&#65;"[..],
            b"&nbsp;",
            b"&;",
            b"&aps;",
            b"&lg;",
            b"& ",
            b"&&",
        ] {
            assert!(!all(other), "{other:?}");
        }
        assert!(all(b"&lt;&gt;&amp;&quot;&apos;x"));
    }

    #[test]
    fn predefined_entities_are_read_with_their_semicolon() {
        assert_eq!(predefined_entity(b"amp; x"), Some(('&', 4)));
        assert_eq!(predefined_entity(b"apos;"), Some(('\'', 5)));
        assert_eq!(predefined_entity(b"quot;"), Some(('"', 5)));
        assert_eq!(predefined_entity(b"lt;gt;"), Some(('<', 3)));
        assert_eq!(predefined_entity(b"gt;"), Some(('>', 3)));
        for other in [&b"amp"[..], b"ampx;", b"lt", b"#60;", b"nbsp;", b""] {
            assert_eq!(predefined_entity(other), None);
        }
    }

    #[test]
    fn references_decode_per_xml() {
        assert!(matches!(decode_reference(b"amp"), Reference::Char('&')));
        assert!(matches!(decode_reference(b"#x41"), Reference::Char('A')));
        assert!(matches!(decode_reference(b"#65"), Reference::Char('A')));
        assert!(matches!(decode_reference(b"#0"), Reference::Malformed));
        assert!(matches!(decode_reference(b"#xD800"), Reference::Malformed));
        assert!(matches!(decode_reference(b"#x"), Reference::Malformed));
        assert!(matches!(decode_reference(b"nbsp"), Reference::Undefined));
        assert!(matches!(decode_reference(b"1x"), Reference::Malformed));
    }

    #[test]
    fn text_and_attributes_normalise_like_xml() {
        let mut text = String::new();
        push_decoded_text(&mut text, "a&lt;b&#x263A;\r\nc\rd");
        assert_eq!(text, "a<b\u{263A}\nc\nd");
        assert_eq!(decode_attribute("a\tb\r\nc&#10;d"), "a b c\nd");
        assert!(matches!(decode_attribute("plain"), Cow::Borrowed(_)));
    }
}
