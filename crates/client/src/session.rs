//! One XEP-0174 XML stream over one TCP connection, sans-IO (XEP-0174 §5; docs/PEERS.md).
//!
//! Feed it the connection's bytes ([`Session::handle_input`]), its end
//! ([`Session::handle_eof`]) and time ([`Session::handle_timeout`] when
//! [`Session::poll_timeout`] says); write out what [`Session::poll_transmit`] gives; read
//! [`Session::poll_event`].
//!
//! Behaviour for real peers: our header has the XML declaration, the literal `stream:`
//! prefix, `from` our instance byte for byte, `to` the peer's, `version='1.0'`; we send
//! `<stream:features/>` only when both headers said 1.0, and never wait for features, TLS
//! or SASL; we accept headers without `to`, `from`, `version` or declaration, and
//! features from the initiator (Salut). Stanzas wait until both headers are exchanged. A
//! `</stream:stream>` is answered with ours; EOF without one is a clean end (libpurple,
//! Gajim). Bad XML gets a `<stream:error>` with its RFC 6120 condition, then the close.

use std::collections::VecDeque;
use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llxmpp_secure::{Fingerprint, TlsContext};

use llxmpp_framer::{
    escape_attribute, ns, write_empty_features, write_message, write_stream_close,
    write_stream_error, write_stream_header, ChatState, Condition, Frame, Framer, IqType, Limits,
    Message, MessageEvent, MessageType, OwnedStanza, Parsed, StanzaKind, StreamHeader,
};

/// Which side opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We connected: we send our header first.
    Initiator,
    /// The peer connected: we answer its header.
    Responder,
}

/// Settings of a session.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// Our instance name, the `from` of everything we send.
    pub our_instance: String,
    /// How long the peer may take to send its header. Default 10 s.
    pub handshake_timeout: Duration,
    /// How long a stream may stay silent before we close it. Default 30 s.
    pub idle_timeout: Duration,
    /// The framer's limits.
    pub limits: Limits,
    /// The `node` of our XEP-0115 caps, reported in disco#info.
    pub caps_node: String,
    /// Encryption of the stream (STARTTLS, RFC 6120 §5) and what plaintext is allowed.
    pub encryption: Encryption,
}

/// Whether streams are encrypted: STARTTLS inside the XEP-0174 stream, offered only to
/// and by peers whose header says `version='1.0'` (libpurple, iChat and Adium send none
/// and see the stream they always saw).
#[derive(Clone, Default)]
pub enum Encryption {
    /// Plaintext, as every other link-local peer: no `<starttls/>` offered or asked for.
    #[default]
    Off,
    /// Encrypt where the peer can; plaintext with the others, except the peers that
    /// `must_encrypt` names (pinned keys: refused in plaintext, a downgrade).
    Prefer {
        /// Our key and certificate.
        tls: Arc<TlsContext>,
        /// Whether a peer (by instance name) may only be spoken to encrypted.
        must_encrypt: MustEncrypt,
    },
    /// Encrypted or not at all.
    Require {
        /// Our key and certificate.
        tls: Arc<TlsContext>,
    },
}

/// Says whether a peer, by its instance name, may only be spoken to encrypted (the node
/// answers from its pinned keys).
#[derive(Clone)]
pub struct MustEncrypt(pub Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl fmt::Debug for MustEncrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MustEncrypt(..)")
    }
}

impl fmt::Debug for Encryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encryption::Off => "Off",
            Encryption::Prefer { .. } => "Prefer",
            Encryption::Require { .. } => "Require",
        })
    }
}

impl Encryption {
    fn context(&self) -> Option<&Arc<TlsContext>> {
        match self {
            Encryption::Off => None,
            Encryption::Prefer { tls, .. } | Encryption::Require { tls } => Some(tls),
        }
    }

    /// Whether plaintext with `peer` (its name, if known) is refused.
    fn plaintext_refused(&self, peer: Option<&str>) -> bool {
        match self {
            Encryption::Off => false,
            Encryption::Prefer { must_encrypt, .. } => peer.is_some_and(|p| (must_encrypt.0)(p)),
            Encryption::Require { .. } => true,
        }
    }
}

impl SessionConfig {
    /// The defaults, for `our_instance`.
    pub fn new(our_instance: &str) -> SessionConfig {
        SessionConfig {
            our_instance: our_instance.to_owned(),
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            limits: Limits::DEFAULT,
            caps_node: crate::caps::NODE.to_owned(),
            encryption: Encryption::Off,
        }
    }
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The stream was closed by one side and the other answered, or the peer's EOF.
    Clean,
    /// The peer's header did not come in time.
    HandshakeTimeout,
    /// Nothing was exchanged for the idle timeout.
    Idle,
    /// The peer sent something we could not accept: the stream error we sent.
    StreamError(Condition),
    /// The peer sent us a stream error.
    PeerError(String),
    /// Encryption failed or was refused: the TLS handshake or a record failed, the peer
    /// would not encrypt where we require it, or its key was refused.
    Encryption(String),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Clean => f.write_str("closed"),
            CloseReason::HandshakeTimeout => f.write_str("no stream header in time"),
            CloseReason::Idle => f.write_str("idle"),
            CloseReason::StreamError(c) => write!(f, "we sent stream error {c}"),
            CloseReason::PeerError(c) => write!(f, "peer sent stream error {c}"),
            CloseReason::Encryption(why) => write!(f, "encryption: {why}"),
        }
    }
}

/// What happened on the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The peer's header arrived.
    Opened(StreamHeader),
    /// A chat message (never a typing notification).
    Message(Message),
    /// A typing notification: XEP-0022 (`composing` true or false) or XEP-0085.
    Typing {
        /// The sender's `from`, if given.
        from: Option<String>,
        /// `composing`, `paused`, `active`, `inactive`, `gone`, or `stopped` (XEP-0022
        /// without `<composing/>`).
        state: String,
    },
    /// An IQ for the node: a `set` of a file offer (XEP-0095 SI, XEP-0065 bytestreams,
    /// XEP-0066 OOB),
    /// or any `result` or `error` (answers to what the node sent). Other gets and sets
    /// are answered by the session itself.
    Iq {
        /// Its routing attributes and type.
        iq: llxmpp_framer::Iq,
        /// The whole stanza, to read its payload.
        stanza: OwnedStanza,
    },
    /// The TLS handshake is done: the peer holds the private key of `key`. The stream
    /// waits (nothing is read or written on it) until [`Session::accept_key`] or
    /// [`Session::refuse`].
    Secured {
        /// The peer's key.
        key: Fingerprint,
    },
    /// The stream opened in plaintext, though we encrypt where peers can: the peer did
    /// not offer or ask for STARTTLS (libpurple, iChat, Adium; or a relay that strips it).
    Plaintext,
    /// A message or stanza we queued was written to the transmit buffer.
    Written {
        /// Its id.
        id: String,
    },
    /// The stream is over; the connection should close once the transmit buffer is empty.
    Closed(CloseReason),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the peer's header.
    Opening,
    Open,
    /// We sent our close and wait for the peer's (or EOF).
    Closing,
    Closed,
}

/// Where STARTTLS stands (RFC 6120 §5.4). The stream is usable ([`State::Open`]) only
/// at `None` (plaintext) or `Secured`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Negotiation {
    /// No STARTTLS on this stream: plaintext.
    None,
    /// Initiator: the responder said version 1.0; its features tell whether it encrypts.
    AwaitFeatures,
    /// Initiator: our `<starttls/>` is out; `<proceed/>` is awaited.
    AwaitProceed,
    /// Responder: `<starttls/>` is offered; the initiator's first element decides.
    Offered,
    /// The TLS handshake.
    Handshaking,
    /// The handshake is done; the node judges the peer's key.
    Verifying,
    /// The key is accepted; the stream restarts inside TLS (new headers).
    Restarting,
    /// Encrypted and open.
    Secured,
}

/// How long an initiator waits for the features of a responder that said version 1.0
/// before it speaks plaintext (where allowed): our own and Salut send them at once.
const FEATURES_WAIT: Duration = Duration::from_secs(2);

/// Decrypted bytes read from TLS at a time.
const PLAINTEXT_CHUNK: usize = 16 << 10;

/// What waits for the stream to open. Messages are the common case: not boxed.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Queued {
    Message(Message),
    /// A stanza the node wrote itself (an IQ of a file transfer).
    Stanza(String),
}

/// One XEP-0174 stream.
#[derive(Debug)]
pub struct Session {
    role: Role,
    config: SessionConfig,
    framer: Framer,
    state: State,
    peer_header: Option<StreamHeader>,
    /// The peer's instance name: known from discovery for an initiator, from its header
    /// (or first stanza) for a responder.
    peer: Option<String>,
    /// Whether the peer asked for XEP-0022 composing events in a message.
    wants_composing_events: bool,
    /// Whether the peer sends XEP-0085 chat states, or its caps say it takes them.
    uses_chat_states: bool,
    /// A typing notification asked for before the stream was open: the latest goes out
    /// once it is.
    pending_typing: Option<ChatState>,
    queued: VecDeque<(String, Queued)>,
    /// What is to be written to the connection; kept between writes with its capacity.
    out: String,
    events: VecDeque<SessionEvent>,
    deadline: Instant,
    closing_reason: Option<CloseReason>,
    negotiation: Negotiation,
    /// The TLS connection once STARTTLS proceeded: every byte in and out passes it.
    tls: Option<Box<llxmpp_secure::rustls::Connection>>,
    /// Bytes for the connection, ready: plaintext written before TLS began, then TLS
    /// records.
    wire: Vec<u8>,
    /// The peer's key, once the handshake is done.
    peer_key: Option<Fingerprint>,
}

impl Session {
    /// A session we opened to `peer` (its instance name): our header goes out at once.
    pub fn initiator(config: SessionConfig, peer: &str, now: Instant) -> Session {
        let mut session = Session::new(Role::Initiator, config, now);
        session.peer = Some(peer.to_owned());
        session.write_header();
        session
    }

    /// A session the peer opened: we answer its header.
    pub fn responder(config: SessionConfig, now: Instant) -> Session {
        Session::new(Role::Responder, config, now)
    }

    fn new(role: Role, config: SessionConfig, now: Instant) -> Session {
        Session {
            role,
            framer: Framer::with_limits(config.limits),
            deadline: now + config.handshake_timeout,
            config,
            state: State::Opening,
            peer_header: None,
            peer: None,
            wants_composing_events: false,
            uses_chat_states: false,
            pending_typing: None,
            queued: VecDeque::new(),
            out: String::new(),
            events: VecDeque::new(),
            closing_reason: None,
            negotiation: Negotiation::None,
            tls: None,
            wire: Vec::new(),
            peer_key: None,
        }
    }

    /// Feeds bytes from the connection.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        if self.state != State::Opening {
            self.deadline = now + self.config.idle_timeout;
        }
        if self.tls.is_some() {
            match self.decrypt(bytes) {
                Ok(true) => {}
                // The peer ended TLS (close_notify): as an EOF.
                Ok(false) => {
                    self.read_frames(now);
                    return self.handle_eof(now);
                }
                Err(why) => return self.fail_encryption(why),
            }
            if self.negotiation == Negotiation::Handshaking
                && self.tls.as_ref().is_some_and(|tls| !tls.is_handshaking())
            {
                self.handshake_done();
            }
        } else {
            self.framer.feed(bytes);
        }
        self.read_frames(now);
    }

    /// Passes TLS records through the TLS connection and their plaintext to the framer.
    /// `Ok(false)`: the peer closed TLS.
    fn decrypt(&mut self, mut bytes: &[u8]) -> Result<bool, String> {
        let Some(tls) = self.tls.as_deref_mut() else {
            return Ok(true);
        };
        let mut plain = [0u8; PLAINTEXT_CHUNK];
        while !bytes.is_empty() {
            tls.read_tls(&mut bytes)
                .map_err(|e| format!("TLS records: {e}"))?;
            // On an error rustls has queued the alert that tells the peer why.
            tls.process_new_packets().map_err(|e| format!("TLS: {e}"))?;
            loop {
                match tls.reader().read(&mut plain) {
                    Ok(0) => return Ok(false),
                    Ok(n) => self.framer.feed(&plain[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("TLS: {e}")),
                }
            }
        }
        Ok(true)
    }

    /// Hands out the frames the framer has, as far as the stream's state lets it.
    fn read_frames(&mut self, now: Instant) {
        loop {
            if self.state == State::Closed || self.negotiation == Negotiation::Verifying {
                return;
            }
            let frame = match self.framer.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => {
                    self.refuse(error.condition(), &error.to_string());
                    return;
                }
            };
            match frame {
                Frame::StreamOpen(header) => self.on_header(now, *header),
                Frame::Stanza(stanza) => {
                    let raw_from = stanza.attribute("from");
                    // An IQ is kept whole: the node reads the payload of some.
                    let owned = (stanza.kind() == StanzaKind::Iq).then(|| stanza.to_owned());
                    let parsed = match &owned {
                        Some(owned) => owned.parse(),
                        None => stanza.parse(),
                    };
                    // A stanza that is well-formed XML but not a valid stanza (an IQ
                    // without an id, say) is ignored, as RFC 6120 lets a peer do.
                    if let Ok(parsed) = parsed {
                        if self.negotiate(now, &parsed) {
                            continue;
                        }
                        self.on_stanza(parsed, raw_from, owned);
                    }
                }
                Frame::Keepalive => {}
                Frame::StreamClose => {
                    if self.state == State::Closing {
                        self.finish_closing();
                    } else {
                        // Answer the peer's close with ours (XEP-0174 §5).
                        write_stream_close(&mut self.out);
                        self.finish(CloseReason::Clean);
                    }
                    return;
                }
            }
        }
    }

    /// An element while STARTTLS is being negotiated; true if it was negotiation's.
    fn negotiate(&mut self, now: Instant, parsed: &Parsed) -> bool {
        let tls_element = match parsed {
            Parsed::Other { namespace, name } if namespace == ns::TLS => Some(name.as_str()),
            _ => None,
        };
        match (self.negotiation, parsed, tls_element) {
            (Negotiation::AwaitFeatures, Parsed::StreamFeatures(features), _) => {
                let offered = features
                    .features
                    .iter()
                    .any(|(namespace, name)| namespace == ns::TLS && name == "starttls");
                if offered {
                    self.out.push_str("<starttls xmlns='");
                    self.out.push_str(ns::TLS);
                    self.out.push_str("'/>");
                    self.negotiation = Negotiation::AwaitProceed;
                    self.deadline = now + self.config.handshake_timeout;
                } else {
                    self.go_plaintext(now);
                }
                true
            }
            // Anything else before the features: the responder will not offer any.
            (Negotiation::AwaitFeatures, _, _) => {
                self.go_plaintext(now);
                false
            }
            (Negotiation::AwaitProceed, _, Some("proceed")) => {
                self.start_tls(now);
                true
            }
            (Negotiation::AwaitProceed, _, Some("failure")) => {
                self.fail_encryption("the peer could not start TLS".into());
                true
            }
            (Negotiation::AwaitProceed, _, _) => {
                self.refuse(
                    Condition::NotAuthorized,
                    "a stanza where <proceed/> was expected",
                );
                true
            }
            (Negotiation::Offered, _, Some("starttls")) => {
                self.out.push_str("<proceed xmlns='");
                self.out.push_str(ns::TLS);
                self.out.push_str("'/>");
                self.start_tls(now);
                true
            }
            // The initiator speaks without STARTTLS: plaintext, where allowed.
            (Negotiation::Offered, _, _) => {
                self.go_plaintext(now);
                self.state == State::Closed
            }
            _ => false,
        }
    }

    /// STARTTLS proceeds: TLS takes every byte from here; the stream restarts inside it
    /// once the handshake is done and the node has accepted the peer's key.
    fn start_tls(&mut self, now: Instant) {
        if self.framer.buffered_len() > 0 {
            // The peer cannot have sent TLS before our <proceed/> (or before its own
            // <starttls/> was answered): something is in the way.
            return self.fail_encryption("bytes between STARTTLS and the TLS handshake".into());
        }
        let Some(context) = self.config.encryption.context() else {
            return;
        };
        match context.start(self.role == Role::Initiator) {
            Ok(tls) => {
                // What was said in plaintext (our <proceed/>) goes out before TLS.
                self.wire.extend_from_slice(self.out.as_bytes());
                self.out.clear();
                self.tls = Some(Box::new(tls));
                self.framer = Framer::with_limits(self.config.limits);
                self.negotiation = Negotiation::Handshaking;
                self.deadline = now + self.config.handshake_timeout;
            }
            Err(e) => self.fail_encryption(format!("cannot start TLS: {e}")),
        }
    }

    fn handshake_done(&mut self) {
        let key = self
            .tls
            .as_ref()
            .and_then(|tls| tls.peer_certificates())
            .and_then(|certificates| certificates.first())
            .map(|certificate| llxmpp_secure::certificate_key(certificate));
        match key {
            Some(Ok(key)) => {
                self.peer_key = Some(key);
                self.negotiation = Negotiation::Verifying;
                self.events.push_back(SessionEvent::Secured { key });
            }
            Some(Err(e)) => self.fail_encryption(format!("the peer's certificate: {e}")),
            None => self.fail_encryption("the peer presented no certificate".into()),
        }
    }

    /// The node accepts the peer's key ([`SessionEvent::Secured`]): the stream restarts
    /// inside TLS and opens.
    pub fn accept_key(&mut self, now: Instant) {
        if self.negotiation != Negotiation::Verifying || self.state == State::Closed {
            return;
        }
        self.negotiation = Negotiation::Restarting;
        if self.role == Role::Initiator {
            // RFC 6120 §5.4.3.3: the initiator opens a new stream over TLS.
            self.write_header();
        }
        self.read_frames(now);
    }

    /// The node refuses the peer's key ([`SessionEvent::Secured`]): TLS is closed (the
    /// peer gets its close alert) and the stream ends with `why`.
    pub fn refuse_key(&mut self, why: &str) {
        if self.negotiation == Negotiation::Verifying {
            self.fail_encryption(why.to_owned());
        }
    }

    /// The peer's key, once a TLS handshake is done.
    pub fn peer_key(&self) -> Option<Fingerprint> {
        self.peer_key
    }

    /// Whether the stream is encrypted (TLS done and the key accepted).
    pub fn is_encrypted(&self) -> bool {
        matches!(
            self.negotiation,
            Negotiation::Restarting | Negotiation::Secured
        )
    }

    /// The node attributed this stream to `peer` (by its address, where neither the
    /// header nor a stanza named it): from now on plaintext is judged by that name. A
    /// stream already open in plaintext with a peer that must encrypt is an error, with
    /// the reason: the caller refuses the stream (nothing of it is the peer's).
    pub fn identified(&mut self, peer: &str) -> Result<(), String> {
        if self.peer.is_none() {
            self.peer = Some(peer.to_owned());
        }
        match self.plaintext_refusal() {
            Some(why) if self.is_plaintext() => Err(why),
            _ => Ok(()),
        }
    }

    /// Whether the stream is open in plaintext.
    fn is_plaintext(&self) -> bool {
        self.negotiation == Negotiation::None && self.state == State::Open
    }

    /// Why plaintext is refused with the peer (as far as the session knows it), if it is.
    fn plaintext_refusal(&self) -> Option<String> {
        if !self
            .config
            .encryption
            .plaintext_refused(self.peer.as_deref())
        {
            return None;
        }
        Some(match self.peer.as_deref() {
            Some(peer) => format!("{peer} would not encrypt, and it must"),
            None => "the peer would not encrypt, and it must".to_owned(),
        })
    }

    /// Ends the stream because plaintext is refused with its peer.
    fn refuse_plaintext(&mut self, why: String) {
        write_stream_error(&mut self.out, Condition::PolicyViolation, Some(&why));
        write_stream_close(&mut self.out);
        self.finish(CloseReason::Encryption(why));
    }

    /// No STARTTLS with this peer: the stream opens in plaintext if we allow that with
    /// it, and is refused otherwise.
    fn go_plaintext(&mut self, now: Instant) {
        self.negotiation = Negotiation::None;
        if let Some(why) = self.plaintext_refusal() {
            return self.refuse_plaintext(why);
        }
        if self.config.encryption.context().is_some() {
            self.events.push_back(SessionEvent::Plaintext);
        }
        self.open(now);
    }

    fn fail_encryption(&mut self, why: String) {
        if self.state == State::Closed {
            return;
        }
        tracing::info!(peer = ?self.peer, %why, "encryption failed");
        self.finish(CloseReason::Encryption(why));
    }

    fn open(&mut self, now: Instant) {
        self.state = State::Open;
        self.deadline = now + self.config.idle_timeout;
        self.flush_queue();
    }

    /// The connection's read side ended (EOF). Without a close tag this is still a clean
    /// end: libpurple and Gajim just close.
    pub fn handle_eof(&mut self, _now: Instant) {
        match self.state {
            State::Closing => self.finish_closing(),
            State::Closed => {}
            State::Opening | State::Open => self.finish(CloseReason::Clean),
        }
    }

    /// Handshake and idle timeouts.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed || now < self.deadline {
            return;
        }
        match self.state {
            State::Opening => match self.negotiation {
                // A responder that said 1.0 and sent no features, or an initiator that
                // was offered STARTTLS and said nothing: plaintext, where allowed.
                Negotiation::AwaitFeatures | Negotiation::Offered => self.go_plaintext(now),
                Negotiation::None => {
                    self.refuse(Condition::ConnectionTimeout, "no stream header in time")
                }
                _ => self.fail_encryption("the TLS handshake did not finish in time".into()),
            },
            State::Open => self.close_with(now, CloseReason::Idle),
            State::Closing => self.finish_closing(),
            State::Closed => {}
        }
    }

    /// Queues a message; it goes out once both headers are exchanged, and
    /// [`SessionEvent::Written`] reports it. Its `from` is set to our instance.
    pub fn send_message(&mut self, id: &str, mut message: Message) {
        message.from = Some(self.config.our_instance.clone());
        if message.to.is_none() {
            message.to = self.peer.clone();
        }
        message.id = Some(id.to_owned());
        self.queued
            .push_back((id.to_owned(), Queued::Message(message)));
        self.flush_queue();
    }

    /// Queues a stanza written by the caller (`from` ours, `to` the peer's); it goes out
    /// once both headers are exchanged, and [`SessionEvent::Written`] reports it under
    /// `id`.
    pub fn send_stanza(&mut self, id: &str, xml: String) {
        self.queued.push_back((id.to_owned(), Queued::Stanza(xml)));
        self.flush_queue();
    }

    /// Sends a typing notification the way this peer understands it: XEP-0022 (`<x
    /// xmlns='jabber:x:event'>` with `<id/>`, in a message with an empty body and no type,
    /// as Adium sends them) if it asked for composing events, else a XEP-0085 chat state if
    /// it sends chat states itself or [`Session::peer_takes_chat_states`] said so; nothing
    /// otherwise. Says whether anything was sent. While the stream is still opening, the
    /// latest notification waits and goes out once it is open (if the peer takes them).
    pub fn send_typing(&mut self, state: ChatState) -> bool {
        match self.state {
            State::Open => {}
            State::Opening if self.wants_composing_events || self.uses_chat_states => {
                self.pending_typing = Some(state);
                return true;
            }
            _ => return false,
        }
        let mut notification = Message {
            to: self.peer.clone(),
            from: Some(self.config.our_instance.clone()),
            ..Message::default()
        };
        if self.wants_composing_events {
            notification.body = Some(String::new());
            notification.event = Some(MessageEvent {
                composing: state == ChatState::Composing,
                id: Some(String::new()),
            });
        } else if self.uses_chat_states {
            notification.kind = Some(MessageType::Chat);
            notification.chat_state = Some(state);
        } else {
            return false;
        }
        write_message(&mut self.out, &notification);
        true
    }

    /// The peer's capabilities (XEP-0115, in its TXT) include XEP-0085 chat states: they
    /// may go out before it has sent any (XEP-0085 §5.1), at the start of a conversation.
    pub fn peer_takes_chat_states(&mut self) {
        self.uses_chat_states = true;
    }

    /// Closes the stream: our `</stream:stream>` goes out and we wait for the peer's, or
    /// EOF, for two seconds at most.
    pub fn close(&mut self, now: Instant) {
        self.close_with(now, CloseReason::Clean);
    }

    /// Refuses the stream: a stream error with `condition` and `text`, our close, and the
    /// end (RFC 6120 §4.9); our header goes first if the peer has not had it. For what the
    /// session cannot judge itself, such as a peer the node cannot identify. A closed
    /// stream is left as it is.
    pub fn refuse(&mut self, condition: Condition, text: &str) {
        if self.state == State::Closed {
            return;
        }
        if self.role == Role::Responder && self.peer_header.is_none() {
            // A stream error must follow a stream header (RFC 6120 §4.9.1.1).
            self.write_header();
        }
        write_stream_error(&mut self.out, condition, Some(text));
        write_stream_close(&mut self.out);
        self.finish(CloseReason::StreamError(condition));
    }

    fn close_with(&mut self, now: Instant, reason: CloseReason) {
        if !matches!(self.state, State::Opening | State::Open) {
            return;
        }
        if !self.header_sent() {
            self.write_header();
        }
        write_stream_close(&mut self.out);
        self.state = State::Closing;
        self.closing_reason = Some(reason);
        self.deadline = now + Duration::from_secs(2);
    }

    /// Bytes to write to the connection, in a new buffer. [`Session::transmit_with`] does
    /// the same without allocating.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.seal();
        (!self.wire.is_empty()).then(|| std::mem::take(&mut self.wire))
    }

    /// Hands the bytes to write to the connection to `write`, if there are any, and
    /// forgets them; returns what `write` returned. The session's buffers keep their
    /// capacity, so a busy stream writes without allocating.
    pub fn transmit_with<R>(&mut self, write: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.seal();
        if self.wire.is_empty() {
            return None;
        }
        let result = write(&self.wire);
        self.wire.clear();
        Some(result)
    }

    /// Moves what was written into the bytes for the connection: through TLS once it
    /// has begun.
    fn seal(&mut self) {
        let Some(tls) = self.tls.as_deref_mut() else {
            self.wire.extend_from_slice(self.out.as_bytes());
            self.out.clear();
            return;
        };
        if !self.out.is_empty() {
            // The buffer limit is lifted when TLS starts: the write takes it all.
            if let Err(e) = tls.writer().write_all(self.out.as_bytes()) {
                tracing::warn!(%e, "cannot encrypt");
            }
            self.out.clear();
        }
        while tls.wants_write() {
            if tls.write_tls(&mut self.wire).is_err() {
                break;
            }
        }
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// When to call [`Session::handle_timeout`].
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.state != State::Closed).then_some(self.deadline)
    }

    /// The peer's instance name, once known.
    pub fn peer(&self) -> Option<&str> {
        self.peer.as_deref()
    }

    /// Which side opened the connection.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether both headers are exchanged and the stream is usable.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the stream is over.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Messages queued and not yet written.
    pub fn queued(&self) -> impl Iterator<Item = &str> {
        self.queued.iter().map(|(id, _)| id.as_str())
    }

    fn header_sent(&self) -> bool {
        self.role == Role::Initiator || self.peer_header.is_some()
    }

    fn write_header(&mut self) {
        let header = StreamHeader {
            from: Some(self.config.our_instance.clone()),
            to: self.peer.clone(),
            version: Some("1.0".into()),
            ..StreamHeader::new()
        };
        write_stream_header(&mut self.out, &header);
    }

    fn on_header(&mut self, now: Instant, header: StreamHeader) {
        let restarted = self.negotiation == Negotiation::Restarting;
        let encrypting = self.config.encryption.context().is_some();
        if restarted {
            // The stream over TLS must be the same peer's.
            if let (Some(first), Some(now_from)) = (&self.peer, &header.from) {
                if first != now_from {
                    let why = format!("{now_from} over TLS after {first} in plaintext");
                    return self.refuse(Condition::PolicyViolation, &why);
                }
            }
        }
        if self.role == Role::Responder {
            // Identify the peer by its header; `to` in ours is its `from`.
            if self.peer.is_none() {
                self.peer = header.from.clone().filter(|f| !f.is_empty());
            }
            self.write_header();
            if !restarted && encrypting && header.supports_features() {
                self.out.push_str("<stream:features><starttls xmlns='");
                self.out.push_str(ns::TLS);
                self.out.push_str("'>");
                if self
                    .config
                    .encryption
                    .plaintext_refused(self.peer.as_deref())
                {
                    self.out.push_str("<required/>");
                }
                self.out.push_str("</starttls></stream:features>");
                self.negotiation = Negotiation::Offered;
            } else if header.supports_features() {
                write_empty_features(&mut self.out);
            }
        }
        let first = self.peer_header.is_none();
        self.peer_header = Some(header.clone());
        if first {
            self.events.push_back(SessionEvent::Opened(header.clone()));
        }
        match (self.role, self.negotiation) {
            // The initiator's first element decides; the handshake clock runs.
            (Role::Responder, Negotiation::Offered) => {
                self.deadline = now + self.config.handshake_timeout;
            }
            (_, Negotiation::Restarting) => {
                self.negotiation = Negotiation::Secured;
                self.open(now);
            }
            (Role::Initiator, Negotiation::None) if encrypting && header.supports_features() => {
                self.negotiation = Negotiation::AwaitFeatures;
                self.deadline = now + FEATURES_WAIT;
            }
            // A peer without version 1.0 (libpurple, iChat, Adium) cannot encrypt.
            (_, Negotiation::None) if encrypting => self.go_plaintext(now),
            _ => self.open(now),
        }
    }

    fn on_stanza(&mut self, parsed: Parsed, raw_from: Option<String>, owned: Option<OwnedStanza>) {
        if self.peer.is_none() {
            // No `from` in the header (iChat): the first stanza's `from` names the peer.
            self.peer = raw_from.filter(|f| !f.is_empty());
            if let Some(why) = self.plaintext_refusal().filter(|_| self.is_plaintext()) {
                // A name that must encrypt, said in plaintext: nothing of it is taken.
                return self.refuse_plaintext(why);
            }
        }
        match parsed {
            Parsed::Message(message) => self.on_message(message),
            Parsed::Iq(iq) => self.on_iq(iq, owned),
            Parsed::StreamError(error) => {
                let condition = error
                    .condition_name
                    .unwrap_or_else(|| "undefined-condition".into());
                self.finish(CloseReason::PeerError(condition));
            }
            // Features (from either side, Salut sends them as initiator too) and
            // presence stanzas carry nothing for link-local chat.
            Parsed::StreamFeatures(_) | Parsed::Presence(_) | Parsed::Other { .. } => {}
        }
    }

    fn on_message(&mut self, message: Message) {
        if let Some(event) = &message.event {
            if event.id.is_some() {
                // A XEP-0022 notification, never a message: iChat puts the partial text
                // in its body (docs/PEERS.md, iChat).
                let state = if event.composing {
                    "composing"
                } else {
                    "stopped"
                };
                self.events.push_back(SessionEvent::Typing {
                    from: message.from.clone(),
                    state: state.into(),
                });
                return;
            }
            if event.composing {
                self.wants_composing_events = true;
            }
        }
        if message.chat_state.is_some() {
            self.uses_chat_states = true;
        }
        if message.text().is_some_and(|t| !t.is_empty()) {
            self.events.push_back(SessionEvent::Message(message));
        } else if let Some(state) = message.chat_state {
            self.events.push_back(SessionEvent::Typing {
                from: message.from.clone(),
                state: state.name().into(),
            });
        }
    }

    /// Answers IQs: disco#info and ping as XEP-0030/0199 say; hands file-transfer sets
    /// and every result and error to the node ([`SessionEvent::Iq`]); any other get or set
    /// gets `service-unavailable` (RFC 6120 §8.4: peers send IQs we do not serve).
    fn on_iq(&mut self, iq: llxmpp_framer::Iq, owned: Option<OwnedStanza>) {
        let for_node = match iq.kind {
            IqType::Result | IqType::Error => true,
            IqType::Set => matches!(
                iq.payload_namespace.as_deref(),
                Some(
                    llxmpp_transfer::si::ns::SI
                        | llxmpp_transfer::si::ns::BYTESTREAMS
                        | llxmpp_transfer::si::ns::OOB
                )
            ),
            IqType::Get => false,
        };
        if for_node {
            if let Some(stanza) = owned {
                self.events.push_back(SessionEvent::Iq { iq, stanza });
            }
            return;
        }
        let mut xml = String::from("<iq type='");
        let payload = (
            iq.kind,
            iq.payload_namespace.as_deref(),
            iq.payload_name.as_deref(),
        );
        let reply = match payload {
            (IqType::Get, Some(ns::DISCO_INFO), Some("query")) => {
                Some(crate::caps::disco_info_query(&self.config.caps_node))
            }
            (IqType::Get, Some(ns::PING), Some("ping")) => None,
            _ => {
                xml.push_str("error");
                push_iq_attributes(
                    &mut xml,
                    &iq.id,
                    iq.from.as_deref(),
                    &self.config.our_instance,
                );
                xml.push_str("><error type='cancel'><service-unavailable xmlns='");
                xml.push_str(ns::STANZA_ERRORS);
                xml.push_str("'/></error></iq>");
                self.out.push_str(&xml);
                return;
            }
        };
        xml.push_str("result");
        push_iq_attributes(
            &mut xml,
            &iq.id,
            iq.from.as_deref(),
            &self.config.our_instance,
        );
        match reply {
            Some(payload) => {
                xml.push('>');
                xml.push_str(&payload);
                xml.push_str("</iq>");
            }
            None => xml.push_str("/>"),
        }
        self.out.push_str(&xml);
    }

    fn flush_queue(&mut self) {
        if self.state != State::Open {
            return;
        }
        if let Some(state) = self.pending_typing.take() {
            self.send_typing(state);
        }
        while let Some((id, queued)) = self.queued.pop_front() {
            match queued {
                Queued::Message(message) => write_message(&mut self.out, &message),
                Queued::Stanza(xml) => self.out.push_str(&xml),
            }
            self.events.push_back(SessionEvent::Written { id });
        }
    }

    fn finish_closing(&mut self) {
        let reason = self.closing_reason.take().unwrap_or(CloseReason::Clean);
        self.finish(reason);
    }

    fn finish(&mut self, reason: CloseReason) {
        if let Some(tls) = self.tls.as_deref_mut() {
            tls.send_close_notify();
        }
        self.state = State::Closed;
        self.events.push_back(SessionEvent::Closed(reason));
    }
}

fn push_iq_attributes(xml: &mut String, id: &str, to: Option<&str>, from: &str) {
    xml.push_str("' id='");
    escape_attribute(xml, id);
    if let Some(to) = to {
        xml.push_str("' to='");
        escape_attribute(xml, to);
    }
    xml.push_str("' from='");
    escape_attribute(xml, from);
    xml.push('\'');
}
