//! STARTTLS between two sessions in memory (docs/DESIGN.md, Encryption): encrypted where
//! both encrypt, exactly today's stream where one does not, and every refusal.

use std::sync::Arc;
use std::time::{Duration, Instant};

use llxmpp::session::{CloseReason, Encryption, MustEncrypt, Session, SessionConfig, SessionEvent};
use llxmpp_framer::Message;
use llxmpp_secure::{Identity, TlsContext};

fn context() -> Arc<TlsContext> {
    Arc::new(TlsContext::new(&Identity::generate().unwrap()).unwrap())
}

fn prefer(tls: &Arc<TlsContext>, pinned: &'static [&'static str]) -> Encryption {
    Encryption::Prefer {
        tls: Arc::clone(tls),
        must_encrypt: MustEncrypt(Arc::new(move |peer| pinned.contains(&peer))),
    }
}

fn config(name: &str, encryption: Encryption) -> SessionConfig {
    SessionConfig {
        encryption,
        ..SessionConfig::new(name)
    }
}

/// Everything each side said, and every event, until nothing moves. Keys are accepted
/// as they come unless `judge` says otherwise.
struct Pair {
    a: Session,
    b: Session,
    wire: Vec<u8>,
    events_a: Vec<SessionEvent>,
    events_b: Vec<SessionEvent>,
}

impl Pair {
    fn new(a: SessionConfig, b: SessionConfig, now: Instant) -> Pair {
        Pair {
            a: Session::initiator(a, "bob@b", now),
            b: Session::responder(b, now),
            wire: Vec::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
        }
    }

    fn run(&mut self, now: Instant, accept: bool) {
        for _ in 0..50 {
            let mut moved = false;
            if let Some(bytes) = self.a.poll_transmit() {
                self.wire.extend_from_slice(&bytes);
                self.b.handle_input(now, &bytes);
                moved = true;
            }
            if let Some(bytes) = self.b.poll_transmit() {
                self.wire.extend_from_slice(&bytes);
                self.a.handle_input(now, &bytes);
                moved = true;
            }
            for (session, events) in [
                (&mut self.a, &mut self.events_a),
                (&mut self.b, &mut self.events_b),
            ] {
                while let Some(event) = session.poll_event() {
                    if let SessionEvent::Secured { .. } = event {
                        if accept {
                            session.accept_key(now);
                        } else {
                            session.refuse_key("refused by the test");
                        }
                        moved = true;
                    }
                    events.push(event);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the sessions never settled");
    }
}

fn texts(events: &[SessionEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            SessionEvent::Message(m) => m.text().map(str::to_owned),
            _ => None,
        })
        .collect()
}

fn closed(events: &[SessionEvent]) -> Option<&CloseReason> {
    events.iter().find_map(|e| match e {
        SessionEvent::Closed(reason) => Some(reason),
        _ => None,
    })
}

#[test]
fn two_encrypting_sessions_chat_encrypted_and_learn_each_others_key() {
    let now = Instant::now();
    let (ta, tb) = (context(), context());
    let mut pair = Pair::new(
        config("alice@a", prefer(&ta, &[])),
        config("bob@b", prefer(&tb, &[])),
        now,
    );
    pair.a.send_message(
        "m1",
        Message::chat("alice@a", "bob@b", "swordfish from alice"),
    );
    pair.run(now, true);
    pair.b.send_message(
        "m2",
        Message::chat("bob@b", "alice@a", "swordfish from bob"),
    );
    pair.run(now, true);
    assert_eq!(texts(&pair.events_b), ["swordfish from alice"]);
    assert_eq!(texts(&pair.events_a), ["swordfish from bob"]);
    assert!(pair.a.is_encrypted() && pair.b.is_encrypted());
    assert_eq!(pair.a.peer_key(), Some(tb.ours()));
    assert_eq!(pair.b.peer_key(), Some(ta.ours()));
    assert!(!pair.wire.windows(9).any(|w| w == b"swordfish"));
    // The plaintext part is the negotiation alone.
    let wire = String::from_utf8_lossy(&pair.wire);
    assert!(wire.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
    assert!(wire.contains("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
}

#[test]
fn a_session_that_does_not_encrypt_sees_todays_stream_and_chats_in_plaintext() {
    let now = Instant::now();
    let tb = context();
    // Initiator off (an older llxmpp), responder prefers: it offers, the initiator speaks.
    let mut pair = Pair::new(
        config("alice@a", Encryption::Off),
        config("bob@b", prefer(&tb, &[])),
        now,
    );
    pair.a
        .send_message("m1", Message::chat("alice@a", "bob@b", "plain hello"));
    pair.run(now, true);
    assert_eq!(texts(&pair.events_b), ["plain hello"]);
    assert!(pair.events_b.contains(&SessionEvent::Plaintext));
    assert!(!pair.b.is_encrypted());
    // Initiator prefers, responder off: it offers nothing, the initiator goes plaintext.
    let ta = context();
    let mut pair = Pair::new(
        config("alice@a", prefer(&ta, &[])),
        config("bob@b", Encryption::Off),
        now,
    );
    pair.a
        .send_message("m1", Message::chat("alice@a", "bob@b", "plain again"));
    pair.run(now, true);
    assert_eq!(texts(&pair.events_b), ["plain again"]);
    assert!(pair.events_a.contains(&SessionEvent::Plaintext));
    assert!(!String::from_utf8_lossy(&pair.wire).contains("starttls"));
}

#[test]
fn a_peer_that_must_encrypt_and_does_not_is_refused_both_ways() {
    let now = Instant::now();
    // Bob is pinned at Alice's: a responder that offers no STARTTLS (a relay stripped it).
    let ta = context();
    let mut pair = Pair::new(
        config("alice@a", prefer(&ta, &["bob@b"])),
        config("bob@b", Encryption::Off),
        now,
    );
    pair.a
        .send_message("m1", Message::chat("alice@a", "bob@b", "secret"));
    pair.run(now, true);
    assert!(
        matches!(closed(&pair.events_a), Some(CloseReason::Encryption(_))),
        "{:?}",
        pair.events_a
    );
    assert!(texts(&pair.events_b).is_empty());
    assert!(!pair.wire.windows(6).any(|w| w == b"secret"));
    // Alice is pinned at Bob's, and she comes without STARTTLS.
    let tb = context();
    let mut pair = Pair::new(
        config("alice@a", Encryption::Off),
        config("bob@b", prefer(&tb, &["alice@a"])),
        now,
    );
    pair.a
        .send_message("m1", Message::chat("alice@a", "bob@b", "hello"));
    pair.run(now, true);
    assert!(
        matches!(closed(&pair.events_b), Some(CloseReason::Encryption(_))),
        "{:?}",
        pair.events_b
    );
    assert!(texts(&pair.events_b).is_empty());
    // `require` refuses a peer without version 1.0 (libpurple's header) at once.
    let mut bob = Session::responder(config("bob@b", Encryption::Require { tls: context() }), now);
    bob.handle_input(
        now,
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='purple@p' to='bob@b'><message to='bob@b' from='purple@p'><body>hi</body></message>",
    );
    let events: Vec<_> = std::iter::from_fn(|| bob.poll_event()).collect();
    assert!(
        matches!(closed(&events), Some(CloseReason::Encryption(_))),
        "{events:?}"
    );
    assert!(texts(&events).is_empty());
    let out = String::from_utf8(bob.poll_transmit().unwrap()).unwrap();
    assert!(out.contains("policy-violation"), "{out}");
}

#[test]
fn a_refused_key_ends_the_stream_before_a_byte_of_chat() {
    let now = Instant::now();
    let (ta, tb) = (context(), context());
    let mut pair = Pair::new(
        config("alice@a", prefer(&ta, &[])),
        config("bob@b", prefer(&tb, &[])),
        now,
    );
    pair.a
        .send_message("m1", Message::chat("alice@a", "bob@b", "for bob only"));
    pair.run(now, false);
    assert!(matches!(
        closed(&pair.events_a),
        Some(CloseReason::Encryption(_))
    ));
    assert!(texts(&pair.events_b).is_empty());
    assert!(!pair
        .events_a
        .iter()
        .any(|e| matches!(e, SessionEvent::Written { .. })));
}

#[test]
fn a_responder_that_says_1_0_and_sends_no_features_gets_plaintext_after_the_wait() {
    let now = Instant::now();
    let mut alice = Session::initiator(config("alice@a", prefer(&context(), &[])), "gajim@g", now);
    alice.send_message("m1", Message::chat("alice@a", "gajim@g", "hi"));
    let _ = alice.poll_transmit();
    alice.handle_input(
        now,
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='gajim@g' version='1.0'>",
    );
    assert!(
        alice.poll_transmit().is_none(),
        "nothing before the features"
    );
    let later = now + Duration::from_secs(3);
    assert!(alice.poll_timeout().unwrap() <= later);
    alice.handle_timeout(later);
    let out = String::from_utf8(alice.poll_transmit().unwrap()).unwrap();
    assert!(out.contains("<body>hi</body>"), "{out}");
}

/// A header that names no one, with no version (iChat's shape): plaintext, until the
/// peer is named. Named by its first stanza or by the node (its address), a peer that
/// must encrypt is refused there, and nothing it said is a message.
#[test]
fn a_nameless_plaintext_stream_is_refused_once_named_as_a_peer_that_must_encrypt() {
    let now = Instant::now();
    const NAMELESS: &[u8] = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='alice@a'>";
    let responder = || Session::responder(config("alice@a", prefer(&context(), &["bob@b"])), now);

    // Named by its first stanza.
    let mut alice = responder();
    alice.handle_input(now, NAMELESS);
    alice.handle_input(
        now,
        b"<message from='bob@b' to='alice@a'><body>it is me</body></message>",
    );
    let events: Vec<_> = std::iter::from_fn(|| alice.poll_event()).collect();
    assert!(texts(&events).is_empty(), "{events:?}");
    assert!(
        matches!(closed(&events), Some(CloseReason::Encryption(_))),
        "{events:?}"
    );
    let out = String::from_utf8(alice.poll_transmit().unwrap()).unwrap();
    assert!(out.contains("policy-violation"), "{out}");

    // Named by the node, from its address.
    let mut alice = responder();
    alice.handle_input(now, NAMELESS);
    assert!(alice.identified("bob@b").is_err());
    // Another peer, not pinned, stays in plaintext.
    let mut alice = responder();
    alice.handle_input(now, NAMELESS);
    assert_eq!(alice.identified("carol@c"), Ok(()));
    alice.handle_input(now, b"<message to='alice@a'><body>hello</body></message>");
    let events: Vec<_> = std::iter::from_fn(|| alice.poll_event()).collect();
    assert_eq!(texts(&events), ["hello"]);

    // A stream still negotiating is not judged yet: named now, it must encrypt later.
    let mut alice = responder();
    alice.handle_input(
        now,
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
    );
    assert_eq!(alice.identified("bob@b"), Ok(()));
    alice.handle_input(
        now,
        b"<message to='alice@a'><body>skipping TLS</body></message>",
    );
    let events: Vec<_> = std::iter::from_fn(|| alice.poll_event()).collect();
    assert!(texts(&events).is_empty(), "{events:?}");
    assert!(
        matches!(closed(&events), Some(CloseReason::Encryption(_))),
        "{events:?}"
    );
}
