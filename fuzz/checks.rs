//! The properties the fuzz targets check, shared with the framer's tests, which replay
//! the committed seed corpora (fuzz/seeds) through these same functions.
//!
//! Each function takes arbitrary bytes and panics only when a property fails.

use llxmpp_framer::{write_message, Error, Frame, Framer, Parsed};

/// The stream header every target puts before the fuzzed bytes (except `framer`, which
/// fuzzes the header too).
pub const HEADER: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='a@x' to='b@y' version='1.0'>";

/// A frame copied out of the framer, comparable across runs.
#[derive(Debug, PartialEq)]
pub enum Owned {
    Frame(String),
    Parsed(String),
}

/// Frames `input` in chunks of the given sizes (cycled), parsing every stanza; returns
/// what came out and the error that ended the stream, if any.
pub fn run_framer(input: &[u8], chunk_sizes: &[usize]) -> (Vec<Owned>, Option<Error>) {
    let mut framer = Framer::new();
    let mut out = Vec::new();
    let mut from = 0;
    let mut sizes = chunk_sizes.iter().copied().cycle();
    while from < input.len() {
        let size = sizes.next().unwrap_or(input.len()).max(1);
        let to = (from + size).min(input.len());
        framer.feed(&input[from..to]);
        from = to;
        loop {
            match framer.next_frame() {
                Ok(Some(frame)) => {
                    if let Frame::Stanza(stanza) = &frame {
                        check_stanza_paths(stanza);
                        out.push(Owned::Parsed(format!("{:?}", stanza.parse())));
                    }
                    out.push(Owned::Frame(format!("{frame:?}")));
                }
                Ok(None) => break,
                Err(error) => return (out, Some(error)),
            }
        }
    }
    (out, None)
}

/// The fast message path and roxmltree agree; a parsed message written again parses the
/// same.
fn check_stanza_paths(stanza: &llxmpp_framer::Stanza<'_>) {
    let fast = stanza.parse();
    let slow = stanza.to_owned().parse();
    assert_eq!(
        fast,
        slow,
        "fast path and roxmltree disagree on {:?}",
        stanza.as_str()
    );
    if let Ok(Parsed::Message(message)) = fast {
        let mut xml = String::new();
        write_message(&mut xml, &message);
        let mut input = HEADER.to_vec();
        input.extend_from_slice(xml.as_bytes());
        let mut framer = Framer::new();
        framer.feed(&input);
        let mut again = None;
        while let Ok(Some(frame)) = framer.next_frame() {
            if let Frame::Stanza(stanza) = frame {
                again = Some(stanza.parse());
            }
        }
        assert_eq!(
            again,
            Some(Ok(Parsed::Message(message))),
            "rewritten: {xml}"
        );
    }
}

/// `framer` target: the first byte picks chunk sizes; any chunking yields the same frames
/// and the same error as the whole input.
pub fn check_framer(data: &[u8]) {
    let Some((&seed, input)) = data.split_first() else {
        return;
    };
    let whole = run_framer(input, &[input.len()]);
    let mut state = u32::from(seed) | 1;
    let sizes: Vec<usize> = (0..16)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            1 + (state >> 16) as usize % 64
        })
        .collect();
    assert_eq!(run_framer(input, &sizes), whole, "chunk sizes {sizes:?}");
    assert_eq!(run_framer(input, &[1]), whole, "byte by byte");
}

/// `stanza` target: bytes after a fixed header; every stanza parses without panicking,
/// both parse paths agree, and messages survive a write and re-parse.
pub fn check_stanza(data: &[u8]) {
    let mut input = HEADER.to_vec();
    input.extend_from_slice(data);
    run_framer(&input, &[input.len()]);
}

/// What rxml says of a stream: `Some(error)` if it rejected it, `None` if it accepted
/// every byte (or needs more).
fn rxml_verdict(input: &[u8]) -> Option<String> {
    use rxml::{error::EndOrError, Parse, Parser};
    let mut parser = Parser::new();
    let mut rest = input;
    loop {
        match parser.parse(&mut rest, false) {
            Ok(Some(_)) => {}
            Ok(None) | Err(EndOrError::NeedMoreData) => return None,
            Err(EndOrError::Error(error)) => return Some(format!("{error:?}")),
        }
    }
}

/// Why our verdict may differ from rxml's on purpose (README of fuzz/ lists these).
fn intended_difference(error: Error) -> bool {
    matches!(
        error,
        // RFC 6120 §11.7: only whitespace between stanzas; rxml sees text in the root.
        Error::TextOutsideStanza
            // Our limits; rxml has none this small.
            | Error::TooDeep
            | Error::TooManyAttributes
            | Error::StanzaTooLarge
            | Error::TextTooLarge
    )
}

/// We check UTF-8 and XML's character range on every byte as it arrives; rxml holds back
/// the token it is reading (text, a CDATA section) and checks its bytes when it ends. So
/// where we reject a bad byte that rxml has not judged yet, std's UTF-8 check and XML's
/// character range, consulted here on the whole input, must find the same fault.
fn bad_bytes_confirmed(input: &[u8], ours: Error) -> bool {
    let has_forbidden_char = |text: &str| {
        text.chars().any(|c| {
            let c = c as u32;
            (c < 0x20 && c != 0x9 && c != 0xA && c != 0xD) || c == 0xFFFE || c == 0xFFFF
        })
    };
    match (ours, std::str::from_utf8(input)) {
        (Error::InvalidUtf8, Err(error)) => error.error_len().is_some(),
        (Error::InvalidChar, Ok(text)) => has_forbidden_char(text),
        // Both kinds of fault: the forbidden character comes first.
        (Error::InvalidChar, Err(error)) => {
            std::str::from_utf8(&input[..error.valid_up_to()]).is_ok_and(has_forbidden_char)
        }
        _ => false,
    }
}

/// We judge a character only once all its bytes have arrived; rxml may judge a cut
/// character by its first byte (a lead byte where XML allows nothing but `>`, say). So
/// where the input ends inside a character and rxml rejects while we wait, we must reject
/// the input once that character is completed.
fn rejected_once_the_cut_character_completes(input: &[u8]) -> bool {
    let Err(error) = std::str::from_utf8(input) else {
        return false;
    };
    if error.error_len().is_some() {
        return false;
    }
    let missing = match input[error.valid_up_to()] {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    } - (input.len() - error.valid_up_to());
    // The second byte's range depends on the lead byte (E0, ED, F0, F4); one of these fits.
    [0x80u8, 0x90, 0xA0].iter().any(|&second| {
        let mut completed = input.to_vec();
        for i in 0..missing {
            let continuation = input.len() - error.valid_up_to() + i == 1;
            completed.push(if continuation { second } else { 0x80 });
        }
        std::str::from_utf8(&completed).is_ok()
            && run_framer(&completed, &[completed.len()]).1.is_some()
    })
}

/// rxml holds back the token it is reading until something ends it, and judges it then;
/// we judge each byte as it comes. So where we reject and rxml is still waiting, rxml must
/// reject every way of going on that we try; if one of them is fine for rxml, we were
/// wrong to reject.
fn rxml_rejects_every_continuation(input: &[u8]) -> bool {
    // Each of these ends whatever token rxml may be holding back.
    const CONTINUATIONS: [&[u8]; 11] = [
        b" ", b">", b"/>", b"'", b"\"", b"='v'>", b";", b"]]>", b"-->", b"?>", b"</a>",
    ];
    CONTINUATIONS.iter().all(|more| {
        let mut longer = input.to_vec();
        longer.extend_from_slice(more);
        // Then something that ends a tag, text and an element, so rxml must decide.
        longer.extend_from_slice(b" >></a>");
        rxml_verdict(&longer).is_some()
    })
}

/// XML 1.0 (fifth edition, §2.3) allows U+FDF0 to U+FFFD in names; rxml 0.14 refuses them
/// wherever a name starts or goes on. We follow the specification.
fn rxml_refuses_high_name_chars(input: &[u8], theirs: &str) -> bool {
    let has_them = String::from_utf8_lossy(input)
        .chars()
        .any(|c| ('\u{FDF0}'..='\u{FFFD}').contains(&c));
    theirs.starts_with("UnexpectedChar") && has_them
}

/// rxml gives up on a reference after a few bytes without `;`; we wait for up to 64, and
/// reject it then (or at its `;`, or at a byte that cannot be in it).
fn ends_in_open_reference(input: &[u8]) -> bool {
    let Some(amp) = input.iter().rposition(|&b| b == b'&') else {
        return false;
    };
    input[amp + 1..].iter().all(|&b| {
        b.is_ascii_alphanumeric() || matches!(b, b'#' | b'_' | b'-' | b'.' | b':') || b >= 0x80
    })
}

/// XML 1.0 §2.11 turns a lone CR into LF anywhere, attribute values included; rxml 0.14
/// refuses a CR in an attribute value that no LF follows.
fn rxml_refuses_lone_cr_in_attribute(input: &[u8], theirs: &str) -> bool {
    let lone_cr =
        input.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n') || input.ends_with(b"\r");
    theirs.starts_with("InvalidChar(Some(AttributeValue)") && lone_cr
}

/// XML 1.0 §3.1 (Unique Att Spec) allows no attribute twice in a tag, `xmlns` included;
/// rxml 0.14 refuses a prefix declared twice but takes a repeated `xmlns`. Approximate on
/// purpose: it looks for a tag (up to its `>`) with two ` xmlns=`.
fn repeats_default_namespace(input: &[u8]) -> bool {
    String::from_utf8_lossy(input).split('<').any(|tag| {
        let tag = tag.split('>').next().unwrap_or_default();
        let declarations = tag
            .match_indices("xmlns")
            .filter(|&(at, _)| {
                let before = tag[..at].chars().next_back();
                let after = tag[at + "xmlns".len()..].trim_start_matches([' ', '\t', '\r', '\n']);
                before.is_some_and(|c| c.is_ascii_whitespace()) && after.starts_with('=')
            })
            .count();
        declarations >= 2
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `differential` target: on bytes after a fixed header, we reject exactly what rxml
/// rejects, except for the intended differences.
pub fn check_differential(data: &[u8]) {
    let mut input = HEADER.to_vec();
    input.extend_from_slice(data);
    let (_, ours) = run_framer(&input, &[input.len()]);
    let theirs = rxml_verdict(&input);
    match (ours, theirs) {
        (None, None) | (Some(_), Some(_)) => {}
        (Some(error), None) if intended_difference(error) => {}
        (Some(Error::BadQualifiedName), None)
            if contains(&input, b"http://www.w3.org/2000/xmlns/") => {}
        (Some(Error::DuplicateAttribute), None) if repeats_default_namespace(&input) => {}
        (None, Some(_)) if rejected_once_the_cut_character_completes(&input) => {}
        (None, Some(theirs)) if rxml_refuses_high_name_chars(&input, &theirs) => {}
        (None, Some(theirs)) if theirs == "UndeclaredEntity" && ends_in_open_reference(&input) => {}
        (None, Some(theirs)) if rxml_refuses_lone_cr_in_attribute(&input, &theirs) => {}
        (Some(error), None) if bad_bytes_confirmed(&input, error) => {}
        (Some(_), None) if rxml_rejects_every_continuation(&input) => {}
        (ours, theirs) => panic!(
            "framer and rxml disagree on {:?}: ours {ours:?}, rxml {theirs:?}",
            String::from_utf8_lossy(&input)
        ),
    }
}
