//! The typed views other than messages, the stream error writer, and the quirks of real
//! peers' messages (docs/PEERS.md).

mod common;

use common::stream;
use llxmpp_framer::{
    write_empty_features, write_stream_close, write_stream_error, Condition, Frame, Framer, Iq,
    IqType, Message, OwnedStanza, Parsed, Presence, StanzaKind, StreamErrorView, StreamFeatures,
    XhtmlNamespace,
};

/// Frames `body` after the test header and parses each stanza.
fn parse(body: &str) -> Vec<(StanzaKind, Parsed)> {
    let mut framer = Framer::new();
    framer.feed(&stream(body));
    let mut out = Vec::new();
    while let Some(frame) = framer.next_frame().unwrap() {
        if let Frame::Stanza(stanza) = frame {
            out.push((stanza.kind(), stanza.parse().unwrap()));
        }
    }
    out
}

fn message(body: &str) -> Message {
    match parse(body).pop() {
        Some((StanzaKind::Message, Parsed::Message(message))) => message,
        other => panic!("not a message: {other:?}"),
    }
}

#[test]
fn disco_iq_reports_its_payload() {
    let parsed = parse("<iq type='get' id='d1' from='a@x'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    assert_eq!(
        parsed,
        vec![(
            StanzaKind::Iq,
            Parsed::Iq(Iq {
                to: None,
                from: Some("a@x".into()),
                id: "d1".into(),
                kind: IqType::Get,
                payload_namespace: Some("http://jabber.org/protocol/disco#info".into()),
                payload_name: Some("query".into()),
            })
        )]
    );
}

#[test]
fn iq_without_id_or_with_bad_type_is_an_error() {
    let mut framer = Framer::new();
    framer.feed(&stream("<iq type='get'/><iq id='1' type='fetch'/>"));
    let mut errors = Vec::new();
    while let Some(frame) = framer.next_frame().unwrap() {
        if let Frame::Stanza(stanza) = frame {
            errors.push(stanza.parse().unwrap_err().to_string());
        }
    }
    assert_eq!(
        errors,
        [
            "stanza lacks the `id` attribute",
            "stanza has a bad `type` attribute"
        ]
    );
}

#[test]
fn presence_features_and_errors_parse() {
    let parsed = parse(concat!(
        "<presence type='unavailable'><show>away</show><status>out</status></presence>",
        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>",
    ));
    assert_eq!(
        parsed[0].1,
        Parsed::Presence(Presence {
            to: None,
            from: None,
            kind: Some("unavailable".into()),
            show: Some("away".into()),
            status: Some("out".into()),
        })
    );
    assert_eq!(parsed[1].0, StanzaKind::StreamFeatures);
    assert_eq!(
        parsed[1].1,
        Parsed::StreamFeatures(StreamFeatures {
            features: vec![("urn:ietf:params:xml:ns:xmpp-tls".into(), "starttls".into())]
        })
    );
}

#[test]
fn written_stream_errors_parse_back_for_every_condition() {
    for condition in Condition::ALL {
        let mut xml = String::new();
        write_stream_error(&mut xml, condition, Some("why & how"));
        let parsed = parse(&xml);
        assert_eq!(parsed[0].0, StanzaKind::StreamError);
        assert_eq!(
            parsed[0].1,
            Parsed::StreamError(StreamErrorView {
                condition: Some(condition),
                condition_name: Some(condition.name().into()),
                text: Some("why & how".into()),
            })
        );
    }
}

#[test]
fn features_and_close_are_written_literally() {
    let mut xml = String::new();
    write_empty_features(&mut xml);
    write_stream_close(&mut xml);
    assert_eq!(xml, "<stream:features/></stream:stream>");
}

#[test]
fn ichat_typing_notification_with_partial_body_is_not_a_message() {
    let m = message(
        "<message><body>hel</body><x xmlns='jabber:x:event'><composing/><id>m1</id></x></message>",
    );
    assert!(m.is_typing_notification());
    assert_eq!(m.event.unwrap().id.as_deref(), Some("m1"));
    let m = message(
        "<message type='chat'><body>hi</body><x xmlns='jabber:x:event'><composing/></x></message>",
    );
    assert!(!m.is_typing_notification());
}

#[test]
fn xhtml_only_messages_give_their_text_in_either_namespace() {
    let ichat = message(concat!(
        "<message><html xmlns='http://www.w3.org/1999/xhtml'><body ichatballooncolor='#7BB5EE'>",
        "<font face='Helvetica' ABSZ='12'>hi <b>there</b></font><br></br></body></html></message>"
    ));
    assert_eq!(ichat.body, None);
    assert_eq!(ichat.text(), Some("hi there"));
    let salut = message(concat!(
        "<message><html xmlns='http://jabber.org/protocol/xhtml-im'>",
        "<body xmlns='http://www.w3.org/1999/xhtml'><p>yo</p></body></html></message>"
    ));
    assert_eq!(
        salut.xhtml.as_ref().unwrap().namespace,
        XhtmlNamespace::XhtmlIm
    );
    assert_eq!(salut.text(), Some("yo"));
    // The plain body wins when both are there.
    let both = message("<message><body>plain</body><html xmlns='http://www.w3.org/1999/xhtml'><body>rich</body></html></message>");
    assert_eq!(both.text(), Some("plain"));
    // An empty body gives way to the XHTML text; with nothing else it is the text.
    let empty_body = message("<message><body/><html xmlns='http://www.w3.org/1999/xhtml'><body>rich</body></html></message>");
    assert_eq!(empty_body.text(), Some("rich"));
    let only_empty = message("<message><body/></message>");
    assert_eq!(only_empty.text(), Some(""));
    assert_eq!(message("<message/>").text(), None);
    // Taking the text out gives the same.
    for m in [
        ichat,
        salut,
        both,
        empty_body,
        only_empty,
        message("<message/>"),
    ] {
        let text = m.text().map(str::to_owned);
        assert_eq!(m.into_text(), text);
    }
}

#[test]
fn prefixed_message_takes_the_roxmltree_path_with_the_same_result() {
    let m = message("<message xmlns:c='jabber:client'><c:body>x &amp; y</c:body></message>");
    assert_eq!(m.body.as_deref(), Some("x & y"));
}

#[test]
fn owned_stanza_parses_without_a_stream() {
    let owned = OwnedStanza::from_xml("<message from='p@h'><body>hey</body></message>");
    let Parsed::Message(m) = owned.parse().unwrap() else {
        panic!()
    };
    assert_eq!(
        (m.from.as_deref(), m.body.as_deref()),
        (Some("p@h"), Some("hey"))
    );
}
