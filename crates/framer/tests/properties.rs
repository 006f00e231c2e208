//! Properties: chunking never changes frames or errors, written messages parse back to
//! themselves, the token fast path agrees with roxmltree, and scanning is linear.

mod common;

use common::{frame_bytewise, frame_whole, frame_with_cuts, stream, Owned, HEADER};
use llxmpp_framer::{
    write_message, write_stream_header, ChatState, Frame, Framer, Limits, Message, MessageEvent,
    MessageType, Parsed, StanzaError, StreamHeader, Xhtml, XhtmlNamespace,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// Text of any XML characters, biased towards what needs escaping.
fn xml_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z <>&'\"\\]\r\n\t]{0,12}",
        "[^\u{0}-\u{8}\u{B}\u{C}\u{E}-\u{1F}\u{FFFE}\u{FFFF}]{0,12}",
    ]
}

fn escape(text: &str) -> String {
    let mut out = String::new();
    llxmpp_framer::escape_text(&mut out, text);
    out
}

fn escape_attr(text: &str) -> String {
    let mut out = String::new();
    llxmpp_framer::escape_attribute(&mut out, text);
    out
}

/// A random well-formed element: names from a small set so that namespaces, prefixes and
/// message children all occur, with text, CDATA and references.
fn element() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        xml_text().prop_map(|t| escape(&t)),
        // `]` only at the end of the content, so that it never holds `]]>`.
        "[a-z<&> ]{0,6}\\]{0,2}".prop_map(|t| format!("<![CDATA[{t}]]>")),
        Just("&#x1F600;&#65;&lt;".to_owned()),
        Just("<composing/>".to_owned()),
        Just("<id>7</id>".to_owned()),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        (
            prop::sample::select(vec![
                "body",
                "html",
                "x",
                "thread",
                "subject",
                "p:q",
                "font",
                "id",
                "composing",
                "active",
                "ڝody",
                "été",
                "p:é",
            ]),
            prop::sample::select(vec![
                "",
                " xmlns='http://www.w3.org/1999/xhtml'",
                " xmlns='jabber:x:event'",
                " xmlns='http://jabber.org/protocol/xhtml-im'",
                " xmlns='http://jabber.org/protocol/chatstates'",
                " xmlns:p='urn:p'",
            ]),
            xml_text(),
            prop::collection::vec(inner, 0..4),
        )
            .prop_map(|(name, ns, attr, children)| {
                let ns = if name.starts_with("p:") {
                    " xmlns:p='urn:p'"
                } else {
                    ns
                };
                let attr = escape_attr(&attr);
                if children.is_empty() {
                    format!("<{name}{ns} a='{attr}'/>")
                } else {
                    format!(
                        "<{name}{ns} a=\"{}\">{}</{name}>",
                        attr.replace('"', "&quot;"),
                        children.concat()
                    )
                }
            })
    })
}

/// A stanza: a message with random children, or another top-level element.
fn stanza() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["message", "iq", "presence", "stream:features"]),
        xml_text(),
        prop::collection::vec(element(), 0..4),
    )
        .prop_map(|(name, to, children)| {
            format!(
                "<{name} to='{}' type='chat' id='i1'>{}</{name}>",
                escape_attr(&to),
                children.concat()
            )
        })
}

/// A valid stream: header, stanzas with whitespace between them, maybe the close.
fn valid_stream() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((stanza(), "[ \n\t]{0,2}"), 0..5),
        any::<bool>(),
    )
        .prop_map(|(items, close)| {
            let mut body = String::new();
            for (stanza, space) in items {
                body.push_str(&stanza);
                body.push_str(&space);
            }
            if close {
                body.push_str("</stream:stream>");
            }
            stream(&body)
        })
}

/// Cut offsets for an input of `len` bytes.
fn cuts(indices: &[Index], len: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = indices.iter().map(|i| i.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

/// A mutation of a valid stream: a byte replaced, inserted or removed.
#[derive(Clone, Debug)]
enum Mutation {
    Replace(Index, u8),
    Insert(Index, u8),
    Remove(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![
        prop::sample::select(b"<>&;'\"/!?-[]=: \x00\x01\xC3\xFF\x80".to_vec()),
        any::<u8>()
    ];
    prop_oneof![
        (any::<Index>(), byte.clone()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<Index>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Remove),
    ]
}

fn apply(mut input: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    match *mutation {
        Mutation::Replace(i, b) => {
            let at = i.index(input.len());
            input[at] = b;
        }
        Mutation::Insert(i, b) => input.insert(i.index(input.len() + 1), b),
        Mutation::Remove(i) => {
            input.remove(i.index(input.len()));
        }
    }
    input
}

fn message() -> impl Strategy<Value = Message> {
    let opt = || prop::option::of(xml_text());
    let kind = prop::option::of(prop_oneof![
        Just(MessageType::Chat),
        Just(MessageType::Normal),
        Just(MessageType::Groupchat),
        Just(MessageType::Headline),
        Just(MessageType::Error),
        "x-[a-z]{1,5}".prop_map(MessageType::Other),
    ]);
    let xhtml = prop::option::of(
        (
            prop::sample::select(vec![XhtmlNamespace::Xhtml, XhtmlNamespace::XhtmlIm]),
            xml_text(),
        )
            .prop_map(|(namespace, text)| Xhtml { namespace, text }),
    );
    let event = prop::option::of(
        (any::<bool>(), prop::option::of(xml_text()))
            .prop_map(|(composing, id)| MessageEvent { composing, id }),
    );
    let state = prop::option::of(prop::sample::select(vec![
        ChatState::Active,
        ChatState::Composing,
        ChatState::Paused,
        ChatState::Inactive,
        ChatState::Gone,
    ]));
    (
        (opt(), opt(), kind, opt()),
        (opt(), opt(), opt()),
        (xhtml, event, state),
    )
        .prop_map(
            |((to, from, kind, id), (thread, subject, body), (xhtml, event, chat_state))| Message {
                to,
                from,
                kind,
                id,
                thread,
                subject,
                body,
                xhtml,
                event,
                chat_state,
            },
        )
}

/// Frames `input` and parses every stanza both ways: the fast path and roxmltree must
/// agree. Returns what each stanza parsed to.
fn parse_all(input: &[u8]) -> Vec<Result<Parsed, StanzaError>> {
    let mut framer = Framer::new();
    framer.feed(input);
    let mut parsed = Vec::new();
    while let Some(frame) = framer.next_frame().expect("valid stream") {
        if let Frame::Stanza(stanza) = frame {
            let fast = stanza.parse();
            let slow = stanza.to_owned().parse();
            assert_eq!(
                fast,
                slow,
                "fast path and roxmltree disagree on {}",
                stanza.as_str()
            );
            parsed.push(fast);
        }
    }
    parsed
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn split_anywhere_yields_same_frames(input in valid_stream(), indices in prop::collection::vec(any::<Index>(), 0..8)) {
        let (whole, error) = frame_whole(&input);
        prop_assert_eq!(error, None);
        prop_assert!(!whole.is_empty());
        let split = frame_with_cuts(&input, &cuts(&indices, input.len()), Limits::DEFAULT);
        prop_assert_eq!(split, (whole, None));
    }

    #[test]
    fn split_anywhere_yields_same_error(
        input in valid_stream(),
        mutations in prop::collection::vec(mutation(), 1..3),
        indices in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let input = mutations.iter().fold(input, apply);
        let whole = frame_whole(&input);
        let split = frame_with_cuts(&input, &cuts(&indices, input.len()), Limits::DEFAULT);
        prop_assert_eq!(&split, &whole);
        prop_assert_eq!(frame_bytewise(&input, Limits::DEFAULT), whole);
    }

    #[test]
    fn written_message_parses_back(message in message()) {
        let mut xml = String::new();
        write_message(&mut xml, &message);
        let parsed = parse_all(&stream(&xml));
        prop_assert_eq!(parsed, vec![Ok(Parsed::Message(message))]);
    }

    #[test]
    fn written_header_parses_back(
        from in prop::option::of(xml_text()),
        to in prop::option::of(xml_text()),
        version in prop::option::of(Just("1.0".to_owned())),
        id in prop::option::of(xml_text()),
        lang in prop::option::of("[a-z]{2}"),
    ) {
        let header = StreamHeader { from, to, version, id, lang, ..StreamHeader::new() };
        let mut xml = String::new();
        write_stream_header(&mut xml, &header);
        let (frames, error) = frame_whole(xml.as_bytes());
        prop_assert_eq!(error, None);
        prop_assert_eq!(frames, vec![Owned::Open(header)]);
    }

    #[test]
    fn fast_path_agrees_with_roxmltree(input in valid_stream()) {
        parse_all(&input);
    }
}

#[test]
fn a_megabyte_body_fed_bytewise_is_scanned_linearly() {
    let body = "é".repeat(500_000);
    let input = stream(&format!("<message><body>{body}</body></message>"));
    let mut framer = Framer::new();
    let mut stanzas = 0;
    for byte in &input {
        framer.feed(std::slice::from_ref(byte));
        while let Some(frame) = framer.next_frame().unwrap() {
            if let Frame::Stanza(stanza) = frame {
                let Ok(Parsed::Message(message)) = stanza.parse() else {
                    panic!()
                };
                assert_eq!(message.body.as_deref(), Some(body.as_str()));
                stanzas += 1;
            }
        }
    }
    assert_eq!(stanzas, 1);
    let fed = input.len() as u64;
    // Each byte is validated once (plus at most three re-checks of a split character)
    // and scanned once: a rescan from the stanza start on every push would be ~10^11.
    assert!(
        framer.bytes_examined() <= 3 * fed,
        "{} examined for {fed} fed",
        framer.bytes_examined()
    );
    assert!(framer.bytes_examined() >= fed);
}

#[test]
fn a_megabyte_attribute_fed_bytewise_is_scanned_linearly() {
    let value = "a&amp;".repeat(150_000);
    let input = stream(&format!("<message to='{value}'/>"));
    let mut framer = Framer::new();
    for byte in &input {
        framer.feed(std::slice::from_ref(byte));
        while framer.next_frame().unwrap().is_some() {}
    }
    let fed = input.len() as u64;
    assert!(
        framer.bytes_examined() <= 3 * fed,
        "{} examined for {fed} fed",
        framer.bytes_examined()
    );
}

#[test]
fn keepalives_are_reported_once_per_whitespace_run() {
    let (frames, _) = frame_whole(&stream("  \n<presence/>\t<presence/><presence/>"));
    let keepalives = frames.iter().filter(|f| **f == Owned::Keepalive).count();
    assert_eq!(keepalives, 2, "{frames:?}");
    let (bytewise, _) = frame_bytewise(
        &stream("  \n<presence/>\t<presence/><presence/>"),
        Limits::DEFAULT,
    );
    assert_eq!(bytewise, frames);
    assert!(HEADER.ends_with('>'));
}
