//! The XEP-0174 stream state machine against real peers' bytes and every header quirk in
//! docs/PEERS.md.

use std::time::{Duration, Instant};

use llxmpp::session::{CloseReason, Session, SessionConfig, SessionEvent};
use llxmpp_framer::{Condition, Frame, Framer, Message, Parsed};

fn config() -> SessionConfig {
    SessionConfig::new("me@here")
}

fn events(session: &mut Session) -> Vec<SessionEvent> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn output(session: &mut Session) -> String {
    let mut out = Vec::new();
    while let Some(bytes) = session.poll_transmit() {
        out.extend(bytes);
    }
    String::from_utf8(out).unwrap()
}

/// Frames what a session wrote, as a peer would read it.
fn frames(xml: &str) -> (Option<llxmpp_framer::StreamHeader>, Vec<Parsed>, bool) {
    let mut framer = Framer::new();
    framer.feed(xml.as_bytes());
    let (mut header, mut stanzas, mut closed) = (None, Vec::new(), false);
    while let Some(frame) = framer.next_frame().unwrap() {
        match frame {
            Frame::StreamOpen(h) => header = Some(*h),
            Frame::Stanza(s) => stanzas.push(s.parse().unwrap()),
            Frame::StreamClose => closed = true,
            Frame::Keepalive => {}
        }
    }
    (header, stanzas, closed)
}

#[test]
fn libpurple_stream_without_version_delivers_its_messages() {
    let now = Instant::now();
    let mut session = Session::responder(config(), now);
    session.handle_input(now, include_bytes!("data/libpurple-initiator.xml"));
    let events = events(&mut session);
    let SessionEvent::Opened(header) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(header.version, None);
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Message(m) => m.text(),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["hello from libpurple", "echo: thanks"]);
    assert_eq!(
        events.last(),
        Some(&SessionEvent::Closed(CloseReason::Clean))
    );
    assert_eq!(session.peer(), Some("echobot@hosta"));
    // Our answer: a header to echobot, no features (it sent no version), then our close.
    let (ours, stanzas, closed) = frames(&output(&mut session));
    let ours = ours.unwrap();
    assert_eq!(
        (
            ours.from.as_deref(),
            ours.to.as_deref(),
            ours.version.as_deref()
        ),
        (Some("me@here"), Some("echobot@hosta"), Some("1.0"))
    );
    assert!(
        stanzas.is_empty(),
        "no features to a peer without version 1.0"
    );
    assert!(closed);
}

#[test]
fn header_quirks_are_all_accepted() {
    let headers = [
        // iChat: no to, no from, no version.
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
        // Adium: to an IP address.
        "<?xml version='1.0' encoding='UTF-8' ?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='127.0.0.1' from='adium@mac'>",
        // No XML declaration, version 1.0 (Gajim, Salut).
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='g@h' to='me@here' version='1.0'>",
    ];
    for header in headers {
        let now = Instant::now();
        let mut session = Session::responder(config(), now);
        session.handle_input(now, header.as_bytes());
        assert!(session.is_open(), "{header}");
        let (ours, stanzas, _) = frames(&output(&mut session));
        assert!(ours.is_some());
        let features = matches!(stanzas.first(), Some(Parsed::StreamFeatures(_)));
        let stream_tag = header.split("<stream:stream").nth(1).unwrap();
        assert_eq!(features, stream_tag.contains("version='1.0'"), "{header}");
    }
}

#[test]
fn ichat_without_from_is_identified_by_its_first_stanza() {
    let now = Instant::now();
    let mut session = Session::responder(config(), now);
    session.handle_input(now, b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><message from='ichat@mac' type='chat'><body>hi</body></message>");
    assert_eq!(session.peer(), Some("ichat@mac"));
}

#[test]
fn features_from_the_initiator_and_typing_notifications_are_not_messages() {
    let now = Instant::now();
    let mut session = Session::initiator(config(), "salut@box", now);
    session.handle_input(
        now,
        concat!(
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='salut@box' version='1.0'>",
            "<stream:features/>",
            "<message from='salut@box'><body>hel</body><x xmlns='jabber:x:event'><composing/><id>m1</id></x></message>",
            "<message from='salut@box'><x xmlns='jabber:x:event'><id>m1</id></x></message>",
            "<message from='salut@box' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
        )
        .as_bytes(),
    );
    let events = events(&mut session);
    let typing: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Typing { state, .. } => Some(state.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(typing, ["composing", "stopped", "composing"]);
    assert!(!events.iter().any(|e| matches!(e, SessionEvent::Message(_))));
}

#[test]
fn messages_wait_for_both_headers_then_go_out_as_peers_expect() {
    let now = Instant::now();
    let mut session = Session::initiator(config(), "peer@there", now);
    session.send_message("m1", Message::chat("me@here", "peer@there", "a < b & c"));
    let (header, stanzas, _) = frames(&output(&mut session));
    assert_eq!(header.unwrap().to.as_deref(), Some("peer@there"));
    assert!(stanzas.is_empty(), "queued until the peer's header");
    assert!(events(&mut session).is_empty());
    session.handle_input(now, b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='peer@there'>");
    assert!(events(&mut session).contains(&SessionEvent::Written { id: "m1".into() }));
    let written = output(&mut session);
    assert!(
        written.contains(
            "<html xmlns='http://www.w3.org/1999/xhtml'><body><font>a &lt; b &amp; c</font></body></html>"
        ),
        "{written}"
    );
    assert!(
        written.contains("<x xmlns='jabber:x:event'><composing/></x>"),
        "{written}"
    );
    assert!(
        written.contains("type='chat'")
            && written.contains("from='me@here'")
            && written.contains("id='m1'")
    );
}

#[test]
fn transmit_with_hands_out_what_poll_transmit_would_and_keeps_nothing() {
    let now = Instant::now();
    let header = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='peer@there'>";
    let mut polled = Session::initiator(config(), "peer@there", now);
    let mut handed = Session::initiator(config(), "peer@there", now);
    let mut written = Vec::new();
    for session in [&mut polled, &mut handed] {
        session.handle_input(now, header);
        session.send_message("m1", Message::chat("me@here", "peer@there", "one"));
    }
    let first = output(&mut polled);
    assert_eq!(
        handed.transmit_with(|bytes| written.extend_from_slice(bytes)),
        Some(())
    );
    assert_eq!(String::from_utf8(written.clone()).unwrap(), first);
    assert_eq!(
        handed.transmit_with(|_| ()),
        None,
        "nothing left once handed out"
    );
    // The next write starts afresh in the kept buffer.
    for session in [&mut polled, &mut handed] {
        session.send_message("m2", Message::chat("me@here", "peer@there", "two"));
    }
    written.clear();
    handed.transmit_with(|bytes| written.extend_from_slice(bytes));
    assert_eq!(String::from_utf8(written).unwrap(), output(&mut polled));
}

#[test]
fn bad_input_gets_the_right_stream_error_and_a_close() {
    let cases: [(&[u8], Condition); 4] = [
        (b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><!-- x -->", Condition::RestrictedXml),
        (b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><message>\xff</message>", Condition::NotWellFormed),
        (b"garbage", Condition::NotWellFormed),
        (b"<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>", Condition::InvalidNamespace),
    ];
    for (input, condition) in cases {
        let now = Instant::now();
        let mut session = Session::responder(config(), now);
        session.handle_input(now, input);
        assert_eq!(
            events(&mut session).last(),
            Some(&SessionEvent::Closed(CloseReason::StreamError(condition)))
        );
        let written = output(&mut session);
        assert!(
            written.contains(&format!(
                "<{} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
                condition.name()
            )),
            "{written}"
        );
        assert!(written.ends_with("</stream:stream>"), "{written}");
    }
    // An oversize stanza is a policy violation.
    let now = Instant::now();
    let mut session = Session::responder(
        SessionConfig {
            limits: llxmpp_framer::Limits {
                max_stanza_bytes: 100,
                ..Default::default()
            },
            ..config()
        },
        now,
    );
    session.handle_input(
        now,
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    session.handle_input(
        now,
        format!("<message><body>{}</body></message>", "x".repeat(200)).as_bytes(),
    );
    assert_eq!(
        events(&mut session).last(),
        Some(&SessionEvent::Closed(CloseReason::StreamError(
            Condition::PolicyViolation
        )))
    );
}

#[test]
fn a_peer_that_never_sends_its_header_is_dropped_after_the_handshake_timeout() {
    let now = Instant::now();
    let mut session = Session::responder(config(), now);
    session.handle_input(now, b"<stream:stre");
    let deadline = session.poll_timeout().unwrap();
    assert_eq!(deadline - now, Duration::from_secs(10));
    session.handle_timeout(deadline);
    assert_eq!(
        events(&mut session).last(),
        Some(&SessionEvent::Closed(CloseReason::StreamError(
            Condition::ConnectionTimeout
        )))
    );
}

#[test]
fn close_handshake_and_eof_without_close_are_clean() {
    let header = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='p@q'>";
    let now = Instant::now();
    let mut session = Session::initiator(config(), "p@q", now);
    session.handle_input(now, header);
    session.close(now);
    assert!(output(&mut session).ends_with("</stream:stream>"));
    // A stanza arriving after our close is still delivered; then the peer's close ends it.
    session.handle_input(
        now,
        b"<message from='p@q'><body>late</body></message></stream:stream>",
    );
    let events_now = events(&mut session);
    assert!(events_now
        .iter()
        .any(|e| matches!(e, SessionEvent::Message(m) if m.text() == Some("late"))));
    assert_eq!(
        events_now.last(),
        Some(&SessionEvent::Closed(CloseReason::Clean))
    );
    // EOF without a close tag (libpurple, Gajim) is a clean end too.
    let mut other = Session::responder(config(), now);
    other.handle_input(now, header);
    other.handle_eof(now);
    assert_eq!(
        events(&mut other).last(),
        Some(&SessionEvent::Closed(CloseReason::Clean))
    );
    // Idle streams close after the idle timeout with our close tag.
    let mut idle = Session::initiator(config(), "p@q", now);
    idle.handle_input(now, header);
    let _ = output(&mut idle);
    let at = idle.poll_timeout().unwrap();
    assert_eq!(at - now, Duration::from_secs(30));
    idle.handle_timeout(at);
    assert_eq!(output(&mut idle), "</stream:stream>");
    idle.handle_eof(at);
    assert_eq!(
        events(&mut idle).last(),
        Some(&SessionEvent::Closed(CloseReason::Idle))
    );
}

#[test]
fn iqs_get_answers_and_unknown_ones_service_unavailable() {
    let now = Instant::now();
    let mut session = Session::responder(config(), now);
    session.handle_input(now, b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='p@q'>");
    let _ = output(&mut session);
    session.handle_input(
        now,
        concat!(
            "<iq type='get' id='1' from='p@q'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
            "<iq type='get' id='2' from='p@q'><ping xmlns='urn:xmpp:ping'/></iq>",
            "<iq type='get' id='3' from='p@q'><query xmlns='jabber:iq:version'/></iq>",
            "<iq type='result' id='4' from='p@q'/>",
        )
        .as_bytes(),
    );
    let written = output(&mut session);
    let wrapped = format!("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>{written}");
    let (_, stanzas, _) = frames(&wrapped);
    assert_eq!(stanzas.len(), 3, "{written}");
    assert!(written.contains("<identity category='client' type='pc' name='llxmpp'/>"));
    assert!(written.contains("<feature var='urn:xmpp:ping'/>"));
    assert!(written.contains("id='2'") && written.contains("<service-unavailable"));
}

#[test]
fn the_caps_hash_we_publish_is_the_one_of_our_disco_reply() {
    use base64::Engine;
    let now = Instant::now();
    let mut session = Session::responder(config(), now);
    session.handle_input(now, b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='p@q'>");
    let _ = output(&mut session);
    session.handle_input(now, b"<iq type='get' id='d' from='p@q'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    let reply = output(&mut session);
    // Recompute the XEP-0115 §5.1 string from the reply itself.
    let owned = llxmpp_framer::OwnedStanza::from_xml(&reply);
    let document = owned.document().unwrap();
    let query = document
        .descendants()
        .find(|n| n.has_tag_name("query"))
        .unwrap();
    let mut identities: Vec<String> = query
        .children()
        .filter(|n| n.has_tag_name("identity"))
        .map(|n| {
            format!(
                "{}/{}/{}/{}",
                n.attribute("category").unwrap(),
                n.attribute("type").unwrap(),
                n.attribute("xml:lang").unwrap_or(""),
                n.attribute("name").unwrap_or("")
            )
        })
        .collect();
    identities.sort();
    let mut features: Vec<&str> = query
        .children()
        .filter(|n| n.has_tag_name("feature"))
        .filter_map(|n| n.attribute("var"))
        .collect();
    features.sort();
    let mut s = String::new();
    for part in identities.iter().map(String::as_str).chain(features) {
        s.push_str(part);
        s.push('<');
    }
    let ver = base64::engine::general_purpose::STANDARD
        .encode(sha1_smol::Sha1::from(s.as_bytes()).digest().bytes());
    assert_eq!(ver, llxmpp::caps::ver());
    assert_eq!(
        query.attribute("node"),
        Some(format!("{}#{ver}", llxmpp::caps::NODE).as_str())
    );
}

#[test]
fn typing_goes_out_as_each_peer_understands_it() {
    use llxmpp_framer::ChatState;
    let header = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='p@q'>";
    let now = Instant::now();
    // A peer that asked for XEP-0022 events (as Pidgin, Adium and iChat messages do).
    let mut asked = Session::initiator(config(), "p@q", now);
    asked.handle_input(now, header);
    asked.handle_input(now, b"<message from='p@q' type='chat'><body>hi</body><x xmlns='jabber:x:event'><composing/></x></message>");
    let _ = output(&mut asked);
    assert!(asked.send_typing(ChatState::Composing));
    let xml = output(&mut asked);
    assert!(
        xml.contains("<x xmlns='jabber:x:event'><composing/><id/></x>") && xml.contains("<body/>"),
        "{xml}"
    );
    assert!(
        !xml.contains("type="),
        "XEP-0022 notifications carry no type: {xml}"
    );
    assert!(asked.send_typing(ChatState::Paused));
    assert!(output(&mut asked).contains("<x xmlns='jabber:x:event'><id/></x>"));
    // A peer that uses XEP-0085 chat states.
    let mut states = Session::initiator(config(), "p@q", now);
    states.handle_input(now, header);
    states.handle_input(now, b"<message from='p@q' type='chat'><active xmlns='http://jabber.org/protocol/chatstates'/><body>hi</body></message>");
    let _ = output(&mut states);
    assert!(states.send_typing(ChatState::Composing));
    assert!(
        output(&mut states).contains("<composing xmlns='http://jabber.org/protocol/chatstates'/>")
    );
    // A peer that showed neither gets nothing.
    let mut silent = Session::initiator(config(), "p@q", now);
    silent.handle_input(now, header);
    let _ = output(&mut silent);
    assert!(!silent.send_typing(ChatState::Composing));
    assert_eq!(output(&mut silent), "");
}

/// A peer whose caps take XEP-0085 chat states gets them before it has sent any, and a
/// notification asked for while the stream opens goes out once it is open (§5.1).
#[test]
fn typing_waits_for_the_stream_when_caps_promise_chat_states() {
    use llxmpp_framer::ChatState;
    let header = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='p@q'>";
    let now = Instant::now();
    let mut session = Session::initiator(config(), "p@q", now);
    let _ = output(&mut session);
    assert!(
        !session.send_typing(ChatState::Composing),
        "no caps, no states"
    );
    session.peer_takes_chat_states();
    assert!(session.send_typing(ChatState::Composing));
    assert_eq!(output(&mut session), "", "waits for the peer's header");
    session.handle_input(now, header);
    assert!(
        output(&mut session).contains("<composing xmlns='http://jabber.org/protocol/chatstates'/>")
    );
}
