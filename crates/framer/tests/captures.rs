//! Real streams captured from libpurple and python peers (tests/data) frame and parse
//! into the stanzas they carried.

mod common;

use common::{frame_bytewise, frame_whole, Owned};
use llxmpp_framer::{
    Frame, Framer, Limits, Message, MessageEvent, MessageType, Parsed, Xhtml, XhtmlNamespace,
};

/// Frames a whole capture and parses its stanzas; also checks that feeding it one byte at
/// a time gives the same frames.
fn read_capture(bytes: &[u8]) -> (Vec<Owned>, Vec<Parsed>) {
    let (frames, error) = frame_whole(bytes);
    assert_eq!(error, None);
    assert_eq!(
        frame_bytewise(bytes, Limits::DEFAULT),
        (frames.clone(), None)
    );
    let mut framer = Framer::new();
    framer.feed(bytes);
    let mut parsed = Vec::new();
    while let Some(frame) = framer.next_frame().unwrap() {
        if let Frame::Stanza(stanza) = frame {
            parsed.push(stanza.parse().unwrap());
        }
    }
    (frames, parsed)
}

fn libpurple_chat(to: &str, from: &str, body: &str, html_text: &str) -> Parsed {
    Parsed::Message(Message {
        to: Some(to.into()),
        from: Some(from.into()),
        kind: Some(MessageType::Chat),
        body: Some(body.into()),
        xhtml: Some(Xhtml {
            namespace: XhtmlNamespace::Xhtml,
            text: html_text.into(),
        }),
        event: Some(MessageEvent {
            composing: true,
            id: None,
        }),
        ..Message::default()
    })
}

#[test]
fn python_initiator_stream_with_version_and_escapes() {
    let (frames, parsed) = read_capture(include_bytes!("data/capture0-initiator.xml"));
    let Owned::Open(header) = &frames[0] else {
        panic!("{frames:?}")
    };
    assert_eq!(header.from.as_deref(), Some("pypeer@hostc"));
    assert_eq!(header.to.as_deref(), Some("echobot@hosta"));
    assert!(header.supports_features());
    assert_eq!(frames.last(), Some(&Owned::Close));
    assert_eq!(
        parsed,
        vec![Parsed::Message(Message {
            to: Some("echobot@hosta".into()),
            from: Some("pypeer@hostc".into()),
            kind: Some(MessageType::Chat),
            body: Some("hi <&> from python".into()),
            ..Message::default()
        })]
    );
}

#[test]
fn libpurple_responder_header_has_no_version_and_a_newline_after_the_declaration() {
    let (frames, parsed) = read_capture(include_bytes!("data/capture0-responder.xml"));
    let Owned::Open(header) = &frames[0] else {
        panic!("{frames:?}")
    };
    assert_eq!(header.from.as_deref(), Some("echobot@hosta"));
    assert_eq!(header.version, None);
    assert!(!header.supports_features());
    assert_eq!(
        parsed,
        vec![libpurple_chat(
            "pypeer@hostc",
            "echobot@hosta",
            "echo: hi <&> from python",
            "echo: hi <&> from python"
        )]
    );
    assert_eq!(frames.len(), 3, "{frames:?}");
}

#[test]
fn libpurple_initiator_sends_two_messages_then_closes() {
    let (frames, parsed) = read_capture(include_bytes!("data/capture1-initiator.xml"));
    assert_eq!(
        parsed,
        vec![
            libpurple_chat(
                "pypeer@hostc",
                "echobot@hosta",
                "hello from libpurple",
                "hello from libpurple"
            ),
            libpurple_chat(
                "pypeer@hostc",
                "echobot@hosta",
                "echo: thanks",
                "echo: thanks"
            ),
        ]
    );
    assert_eq!(frames.last(), Some(&Owned::Close));
}

#[test]
fn python_responder_stream_without_close() {
    let (frames, parsed) = read_capture(include_bytes!("data/capture1-responder.xml"));
    assert_eq!(frames.len(), 2);
    let Parsed::Message(message) = &parsed[0] else {
        panic!()
    };
    assert_eq!(message.text(), Some("thanks"));
}

#[test]
fn libpurple_to_libpurple_empty_xhtml_body() {
    let (_, parsed) = read_capture(include_bytes!("data/capture2-libpurple.xml"));
    assert_eq!(
        parsed,
        vec![libpurple_chat(
            "echobot@hosta",
            "echobot@hostb",
            "ping bold & more",
            ""
        )]
    );
    let (_, parsed) = read_capture(include_bytes!("data/capture2-libpurple-responder.xml"));
    assert_eq!(
        parsed,
        vec![libpurple_chat(
            "echobot@hostb",
            "echobot@hosta",
            "echo: ping bold & more",
            "echo: ping bold & more"
        )]
    );
}
