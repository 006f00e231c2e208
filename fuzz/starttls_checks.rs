//! The property of the `starttls` fuzz target, shared with the client test that replays
//! its seeds: whatever a peer sends into a stream that negotiates STARTTLS, the session
//! never panics, and where plaintext is refused (`require`, or a peer that must encrypt)
//! no message of the peer's is taken and none of ours is written in the clear.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use llxmpp::session::{Encryption, MustEncrypt, Session, SessionConfig, SessionEvent};
use llxmpp_framer::{Condition, Message};
use llxmpp_secure::{Identity, TlsContext};

fn context() -> Arc<TlsContext> {
    static CONTEXT: OnceLock<Arc<TlsContext>> = OnceLock::new();
    CONTEXT
        .get_or_init(|| {
            let identity = Identity::generate().expect("a key");
            Arc::new(TlsContext::new(&identity).expect("a TLS configuration"))
        })
        .clone()
}

/// `starttls` target: the first byte picks the role (bit 0: initiator), whether
/// plaintext is refused (bit 1: `require`; bit 2: the peer must encrypt) and how the rest
/// is cut (bits 3–7: chunk size); the rest is what the peer sends.
pub fn check_starttls(data: &[u8]) {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let initiator = control & 1 == 1;
    let require = control & 2 == 2;
    let pinned = control & 4 == 4;
    let chunk = usize::from(control >> 3) + 1;
    let encryption = if require {
        Encryption::Require { tls: context() }
    } else {
        Encryption::Prefer {
            tls: context(),
            must_encrypt: MustEncrypt(Arc::new(move |_| pinned)),
        }
    };
    let config = SessionConfig {
        encryption,
        ..SessionConfig::new("me@here")
    };
    let now = Instant::now();
    let mut session = if initiator {
        Session::initiator(config, "peer@there", now)
    } else {
        Session::responder(config, now)
    };
    let secret = || Message::chat("me@here", "peer@there", "SECRET-BODY");
    if initiator {
        session.send_message("m1", secret());
    }
    let refuses_plaintext = require || pinned;
    let mut written = Vec::new();
    let mut later = now;
    'input: for piece in input.chunks(chunk) {
        session.handle_input(later, piece);
        later += Duration::from_millis(700);
        session.handle_timeout(later);
        while let Some(event) = session.poll_event() {
            match event {
                // As the node does: a responder's stream is given to a peer once opened
                // (by its address when it names no one), and only then used to send.
                SessionEvent::Opened(_) if !initiator => {
                    if let Err(why) = session.identified("peer@there") {
                        assert!(refuses_plaintext, "refused without a reason: {why}");
                        session.refuse(Condition::PolicyViolation, &why);
                        while session.poll_event().is_some() {}
                        break 'input;
                    }
                    session.send_message("m1", secret());
                }
                // Random bytes never complete a TLS handshake with our key...
                SessionEvent::Secured { .. } => session.accept_key(later),
                // ...so where plaintext is refused, nothing of the peer's is a message.
                SessionEvent::Message(_) | SessionEvent::Typing { .. } => {
                    assert!(!refuses_plaintext || session.is_encrypted());
                }
                _ => {}
            }
        }
        if let Some(bytes) = session.poll_transmit() {
            written.extend_from_slice(&bytes);
        }
    }
    if let Some(bytes) = session.poll_transmit() {
        written.extend_from_slice(&bytes);
    }
    if refuses_plaintext && !session.is_encrypted() {
        assert!(
            !written.windows(11).any(|w| w == b"SECRET-BODY"),
            "a message written in the clear where plaintext is refused"
        );
    }
}
