//! The `Node`: presence, roster and XMPP sessions composed over the event loop.
//!
//! It publishes our `_presence._tcp` service, keeps the roster from what it browses, and
//! carries chat over one XEP-0174 stream per connection: outgoing ones it opens to a
//! peer's advertised addresses in turn, from an address it publishes (peers such as
//! libpurple close connections from addresses they do not know); incoming ones it accepts
//! from peers it can identify (docs/DESIGN.md, Peer identification). Every `send` ends in
//! exactly one [`NodeEvent::Sent`] or [`NodeEvent::SendFailed`].
//!
//! A peer that reads slower than we send: once its connection's queue passes the loop's
//! high watermark, messages for it wait in the node (up to 4 MiB of bodies or 10,000
//! messages) and go out when the queue drains; past that a send fails at once, saying the
//! peer is not reading. The connection is never given up for it.
//!
//! The other way round, an application that reads events slower than peers send: events
//! not yet taken from [`Events`] are counted, and past
//! [`NodeConfig::max_unread_event_bytes`] the node stops reading from its peers' streams
//! (TCP then slows the senders down) until the application has caught up to half of that.
//! Memory stays bounded and no message is dropped.

mod files;
mod links;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use llxmpp_dnssd::{InterfaceAddr, ResponderEvent, ServiceEvent, ServiceInfo};
use llxmpp_event_loop::{
    CloseReason as LoopClose, ConnectOptions, ConnectionId, Context, Datagram, Handler,
    InterfaceInfo, MdnsSocketError, WriteState,
};
use llxmpp_framer::{ChatState, Condition, Message};
use llxmpp_roster::{Caps, Peer, Presence as PeerPresence, Roster, RosterEvent, Source, Status};

use crate::presence::{Presence, PresenceEvent};
use crate::session::{CloseReason, Session, SessionConfig, SessionEvent};
use crate::wide_area::{WideArea, WideAreaConfig, WideAreaEvent};

pub use links::{EncryptMode, EncryptionConfig};

pub use files::{
    default_downloads, Method, TransferConfig, CONNECT_TIMEOUT as TRANSFER_CONNECT_TIMEOUT,
    OFFER_TIMEOUT, STALL_TIMEOUT,
};

/// Messages held for a peer that does not read fast enough (its connection's queue is over
/// the loop's high watermark), at most this many bytes of bodies…
const MAX_HELD_BYTES: usize = 4 << 20;
/// …and this many messages; past either, a send fails at once, with the reason.
const MAX_HELD_MESSAGES: usize = 10_000;

/// Who we are and how we behave.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The user part of our instance name (`user` in `user@machine`).
    pub name: String,
    /// The machine part of our instance name, and the base of our SRV host label.
    pub host: String,
    /// What our TXT record says (status, message, names). `1st`, `last`, `email` and
    /// `jid` are published only when set.
    pub presence: PeerPresence,
    /// Accept chat from peers we cannot identify (marked untrusted) instead of closing
    /// their connections, which is what libpurple does.
    pub accept_unknown: bool,
    /// Close streams idle this long.
    pub idle_timeout: Duration,
    /// Give up a connection attempt to one address after this long.
    pub connect_timeout: Duration,
    /// Publish only these addresses (and connect from them); empty: every address of the
    /// interfaces the loop runs mDNS on.
    pub bind: Vec<IpAddr>,
    /// Our avatar image (a small JPEG or PNG, at most
    /// [`MAX_AVATAR_BYTES`](llxmpp_dnssd::MAX_AVATAR_BYTES)), published as the NULL record
    /// with its SHA-1 as the TXT `phsh`, as peers expect.
    pub avatar: Option<Vec<u8>>,
    /// Bytes of events (bodies, names, ids, plus [`EVENT_OVERHEAD_BYTES`] each) that may
    /// wait for the application in [`Events`]; past it the node stops reading from peers
    /// until half of it is left. [`DEFAULT_MAX_UNREAD_EVENT_BYTES`] unless set.
    pub max_unread_event_bytes: usize,
}

/// The default of [`NodeConfig::max_unread_event_bytes`]: 16 MiB.
pub const DEFAULT_MAX_UNREAD_EVENT_BYTES: usize = 16 << 20;

/// What one event counts for in [`NodeConfig::max_unread_event_bytes`] besides its
/// strings: roughly its size in the channel.
pub const EVENT_OVERHEAD_BYTES: usize = 128;

/// How often a node that stopped reading looks whether the application has caught up.
const UNREAD_RECHECK: Duration = Duration::from_millis(5);
/// How often written messages are looked at again: they are reported `sent` once the
/// peer's TCP has acknowledged their bytes, which no socket event announces.
const UNCONFIRMED_RECHECK: Duration = Duration::from_millis(10);

/// The default of [`Node::set_ack_timeout`]: bytes sent to a peer and not acknowledged for
/// this long mean a peer that is gone (its address changed, its host slept or left).
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// What an event counts for in the unread bytes.
fn event_weight(event: &NodeEvent) -> usize {
    let strings = match event {
        NodeEvent::Message {
            from,
            body,
            id,
            thread,
        } => {
            from.len()
                + body.len()
                + id.as_ref().map_or(0, String::len)
                + thread.as_ref().map_or(0, String::len)
        }
        NodeEvent::Typing { from, state } => from.len() + state.len(),
        NodeEvent::Sent { to, id } => to.len() + id.len(),
        NodeEvent::SendFailed { to, id, reason } => to.len() + id.len() + reason.len(),
        NodeEvent::Avatar { peer, image } => peer.len() + image.as_ref().map_or(0, Vec::len),
        NodeEvent::Error(message) => message.len(),
        NodeEvent::FileOffer {
            id,
            from,
            name,
            method,
            ..
        } => id.len() + from.len() + name.len() + method.len(),
        NodeEvent::FileProgress { id, .. } => id.len(),
        NodeEvent::FileDone {
            id, path, sha256, ..
        } => id.len() + path.len() + sha256.len(),
        NodeEvent::FileFailed { id, reason } => id.len() + reason.len(),
        NodeEvent::Link { peer, .. } => peer.len() + 64,
        NodeEvent::KeyChanged { peer, .. } => peer.len() + 128,
        NodeEvent::LinkRefused { peer, reason } => {
            peer.as_ref().map_or(0, String::len) + reason.len()
        }
        NodeEvent::VerificationCode { peer, code } => peer.len() + code.len(),
        _ => 0,
    };
    strings + EVENT_OVERHEAD_BYTES
}

/// A channel for a node's events that counts what the application has not taken yet:
/// give the sender to [`Node::new`], read the receiver.
pub fn events() -> (EventSender, Events) {
    let (sender, receiver) = mpsc::channel();
    let unread = Arc::new(AtomicUsize::new(0));
    (
        EventSender {
            sender,
            unread: Arc::clone(&unread),
        },
        Events { receiver, unread },
    )
}

/// The node's side of [`events`].
#[derive(Clone, Debug)]
pub struct EventSender {
    sender: mpsc::Sender<NodeEvent>,
    unread: Arc<AtomicUsize>,
}

impl EventSender {
    /// Reports an event, counted as unread until [`Events`] gives it out. The node calls
    /// this; an application may too, for what happens around the node (such as its event
    /// loop failing). Dropped silently when the receiver is gone.
    pub fn send(&self, event: NodeEvent) {
        let weight = event_weight(&event);
        // Counted before it is sent, so that the receiver never takes more than was added.
        self.unread.fetch_add(weight, Ordering::Relaxed);
        if self.sender.send(event).is_err() {
            // Nobody is reading: nothing waits, so nothing is unread.
            self.unread.fetch_sub(weight, Ordering::Relaxed);
        }
    }

    fn unread_bytes(&self) -> usize {
        self.unread.load(Ordering::Relaxed)
    }
}

/// The application's side of [`events`]: a receiver that tells the node what it took.
#[derive(Debug)]
pub struct Events {
    receiver: mpsc::Receiver<NodeEvent>,
    unread: Arc<AtomicUsize>,
}

impl Events {
    fn taken(&self, event: NodeEvent) -> NodeEvent {
        self.unread
            .fetch_sub(event_weight(&event), Ordering::Relaxed);
        event
    }

    /// Waits for the next event; an error once the node is gone and all was read.
    pub fn recv(&self) -> Result<NodeEvent, mpsc::RecvError> {
        self.receiver.recv().map(|event| self.taken(event))
    }

    /// Waits at most `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<NodeEvent, mpsc::RecvTimeoutError> {
        self.receiver
            .recv_timeout(timeout)
            .map(|event| self.taken(event))
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<NodeEvent, mpsc::TryRecvError> {
        self.receiver.try_recv().map(|event| self.taken(event))
    }

    /// The events as they come, until the node is gone and all was read.
    pub fn iter(&self) -> impl Iterator<Item = NodeEvent> + '_ {
        std::iter::from_fn(|| self.recv().ok())
    }

    /// What the events waiting here count for (see [`NodeConfig::max_unread_event_bytes`]).
    pub fn unread_bytes(&self) -> usize {
        self.unread.load(Ordering::Relaxed)
    }
}

impl NodeConfig {
    /// Our instance name, `name@host`.
    pub fn instance(&self) -> String {
        format!("{}@{}", self.name, self.host)
    }
}

/// What the node reports, in the order it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// Our names are ours and published; the listener's port.
    Ready {
        /// Our instance name (after any rename).
        instance: String,
        /// The TCP port we listen on.
        port: u16,
    },
    /// Our service is registered in a wide-area zone (`--domain` with a key).
    Registered {
        /// The zone.
        domain: String,
        /// Our instance name there.
        instance: String,
    },
    /// A peer came online.
    PeerOnline(Peer),
    /// A peer's presence changed.
    PeerChanged(Peer),
    /// A peer went offline.
    PeerOffline {
        /// Its instance name.
        peer: String,
    },
    /// A chat message.
    Message {
        /// The sender's instance name (or `unknown@<address>` for an untrusted peer).
        from: String,
        /// The text.
        body: String,
        /// The message's id, if it had one.
        id: Option<String>,
        /// Its thread, if any.
        thread: Option<String>,
    },
    /// A typing notification.
    Typing {
        /// The sender.
        from: String,
        /// `composing`, `paused`, `stopped`…
        state: String,
    },
    /// A message of ours reached the peer's host: its TCP acknowledged the message's
    /// bytes (where the system cannot tell, as off Linux: they left our queue).
    Sent {
        /// The peer.
        to: String,
        /// The id the send was given.
        id: String,
    },
    /// A message of ours could not be delivered.
    SendFailed {
        /// The peer.
        to: String,
        /// The id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The roster, as asked for.
    Peers(Vec<Peer>),
    /// A peer's avatar, as asked for: `None` when the peer has none (or is not online).
    Avatar {
        /// The peer's instance name.
        peer: String,
        /// The image, whose SHA-1 matched the peer's `phsh`.
        image: Option<Vec<u8>>,
    },
    /// A peer offers us a file: answer with [`NodeCommand::AcceptFile`] or
    /// [`NodeCommand::RejectFile`]. It ends in [`NodeEvent::FileDone`] or
    /// [`NodeEvent::FileFailed`], as every transfer does.
    FileOffer {
        /// The transfer's id (`r1`, `r2`…).
        id: String,
        /// The peer.
        from: String,
        /// The file's name, made safe to save under (no path, no control character, no
        /// leading dot).
        name: String,
        /// Its size in bytes as announced (0 may mean unknown: the file is then empty).
        size: u64,
        /// How it comes: `si-socks5` (XEP-0095/0096 over XEP-0065).
        method: String,
    },
    /// Bytes moved, a few times a second while a file moves.
    FileProgress {
        /// The transfer.
        id: String,
        /// Bytes moved so far.
        bytes: u64,
        /// The file's size.
        total: u64,
    },
    /// A transfer is complete: received and saved under `path`, or sent and every byte
    /// taken by the receiver.
    FileDone {
        /// The transfer.
        id: String,
        /// Where the file is (ours: the file sent).
        path: String,
        /// Its size.
        bytes: u64,
        /// The SHA-256 of the bytes moved, in lowercase hex.
        sha256: String,
    },
    /// A transfer ended without the whole file (refused, cancelled, broken).
    FileFailed {
        /// The transfer.
        id: String,
        /// Why.
        reason: String,
    },
    /// A stream with a peer opened, with encryption on: whether it is encrypted, and
    /// the peer's key and what we knew of it (`new`: pinned now, `known`, `verified`).
    Link {
        /// The peer.
        peer: String,
        /// Whether the stream is encrypted.
        encrypted: bool,
        /// The peer's key (`sha256:…`), when encrypted.
        key: Option<String>,
        /// `new`, `known` or `verified`, when encrypted.
        key_status: Option<String>,
    },
    /// A peer presented another key than the one pinned for it: the stream was refused.
    /// Nothing goes to that peer until the user trusts the new key.
    KeyChanged {
        /// The peer.
        peer: String,
        /// The key it presented.
        key: String,
        /// The key pinned for it.
        pinned: String,
    },
    /// A stream was refused or ended for its encryption: a changed key, a peer that must
    /// encrypt and did not (a downgrade, or `require`), a failed handshake.
    LinkRefused {
        /// The peer, if known.
        peer: Option<String>,
        /// Why.
        reason: String,
    },
    /// The verification code of our link with a peer, as asked for.
    VerificationCode {
        /// The peer.
        peer: String,
        /// Eight groups of five digits, the same on both sides.
        code: String,
    },
    /// Something went wrong that is not about one message.
    Error(String),
    /// The node has stopped (after `Quit`).
    Stopped,
}

/// What other threads ask of the node, through the event loop's handle.
#[derive(Clone, Debug)]
pub enum NodeCommand {
    /// Send `body` to `to`, reporting under `id`.
    Send {
        /// The peer's instance name.
        to: String,
        /// The text.
        body: String,
        /// The id for `sent`/`send_failed`.
        id: String,
    },
    /// Change our status and message.
    Status {
        /// The new status.
        status: Status,
        /// The new message (`None` clears it).
        msg: Option<String>,
    },
    /// Tell a peer we are typing (or paused), if a stream to it is open and it asked for
    /// such notifications (XEP-0022) or uses them (XEP-0085).
    Typing {
        /// The peer's instance name.
        to: String,
        /// Composing or paused.
        state: llxmpp_framer::ChatState,
    },
    /// Report the roster.
    Peers,
    /// Report a peer's avatar.
    Avatar {
        /// The peer's instance name.
        peer: String,
    },
    /// Offer a file to a peer; it ends in [`NodeEvent::FileDone`] or
    /// [`NodeEvent::FileFailed`] under `id`.
    SendFile {
        /// The peer's instance name.
        to: String,
        /// The file.
        path: PathBuf,
        /// The transfer's id.
        id: String,
        /// How to offer it; `None`: by what the peer's TXT says it is.
        method: Option<Method>,
    },
    /// Accept a peer's offer ([`NodeEvent::FileOffer`]).
    AcceptFile {
        /// The offer's id.
        id: String,
        /// Where to save it (`None`: [`TransferConfig::downloads`]).
        dir: Option<PathBuf>,
    },
    /// Decline a peer's offer.
    RejectFile {
        /// The offer's id.
        id: String,
    },
    /// End a transfer, either way.
    CancelFile {
        /// The transfer's id.
        id: String,
    },
    /// Report the verification code of our link with `peer`
    /// ([`NodeEvent::VerificationCode`]).
    VerificationCode {
        /// The peer.
        peer: String,
    },
    /// The user's word on a peer's key: `key` (`sha256:…`) is to be trusted as the
    /// peer's (a changed key accepted), or, without it, the pinned key is `verified`.
    TrustKey {
        /// The peer.
        peer: String,
        /// The key to pin instead of the pinned one.
        key: Option<String>,
        /// Whether the user compared the verification code.
        verified: bool,
    },
    /// Send goodbyes, close streams, stop.
    Quit,
}

/// Hands a message to a connection's session; it is kept until its bytes are
/// acknowledged.
fn give(c: &mut Conn, instance: &str, message: Outbound) {
    if let Some(session) = &mut c.session {
        match &message.payload {
            Payload::Text(body) => {
                session.send_message(&message.id, Message::chat(instance, &message.to, body))
            }
            Payload::Stanza(xml) => session.send_stanza(&message.id, xml.clone()),
        }
        c.given.push(message);
    }
}

/// Whether a peer's XEP-0115 caps (in its TXT) promise XEP-0085 chat states: its `ver`
/// is the hash of a feature set known to include them, ours (another llxmpp). A `ver`
/// names one set of features exactly (XEP-0115 §5), so no disco#info is needed for it.
fn takes_chat_states(caps: &Caps) -> bool {
    caps.hash.as_deref() == Some("sha-1") && caps.ver.as_deref() == Some(&crate::caps::ver())
}

/// Who an incoming stream is from, as far as its header or first stanza tell.
#[derive(Debug)]
enum Attribution {
    /// This peer.
    Peer(String),
    /// Several peers share the address and nothing named one yet.
    Undecided,
    /// Nobody we know, let through untrusted (`NodeConfig::accept_unknown`).
    Unknown,
}

/// Why a stream is refused: the stream error the peer gets and the reason both sides read.
#[derive(Debug)]
struct Refusal {
    condition: Condition,
    reason: String,
}

/// A message of ours on its way, kept until the peer's TCP has acknowledged its bytes, so
/// that a stream found dead can hand it to a fresh one.
#[derive(Clone, Debug)]
struct Outbound {
    to: String,
    id: String,
    payload: Payload,
    /// Already given to a stream that died: a second death fails it.
    retried: bool,
}

/// What an [`Outbound`] carries.
#[derive(Clone, Debug)]
enum Payload {
    /// A chat message's text: its outcome is the application's `sent` or `send_failed`.
    Text(String),
    /// A stanza of the node's own (an IQ of a file transfer): its outcome is the
    /// transfer's.
    Stanza(String),
}

impl Outbound {
    /// What it counts for in the bytes held for a peer that does not read.
    fn size(&self) -> usize {
        match &self.payload {
            Payload::Text(body) | Payload::Stanza(body) => body.len(),
        }
    }
}

#[derive(Debug)]
struct Outgoing {
    peer: String,
    /// The peer's addresses not tried yet, each with the interface it was learned on.
    remaining: Vec<(SocketAddr, u32)>,
    last_error: String,
}

#[derive(Debug)]
struct Conn {
    session: Option<Session>,
    /// The peer's instance name once identified (known from the start for outgoing).
    peer: Option<String>,
    remote: SocketAddr,
    outgoing: Option<Outgoing>,
    /// Messages given to the session and not written yet.
    given: Vec<Outbound>,
    /// Messages written, with the end of their bytes in the stream, until the peer's TCP
    /// acknowledges them.
    unconfirmed: VecDeque<(Outbound, u64)>,
    /// Bytes written into the connection.
    bytes_written: u64,
    /// The peer's acknowledged bytes when last looked at, and since when that count has
    /// not moved while bytes were in flight.
    acknowledged: (u64, Instant),
    /// Why we gave the connection up while it still worked for the loop (a stale address,
    /// a peer that stopped acknowledging): its unconfirmed messages are retried.
    stale: Option<String>,
    trusted: bool,
    /// Why the connection was given up, if bytes could not be queued: what was written
    /// into it is then reported as failed, not sent.
    broken: Option<String>,
    /// The session's timeout as entered in `Node::deadlines`.
    deadline: Option<Instant>,
    /// The loop said the connection's queue is over its high watermark: messages wait in
    /// `held` until it says the queue is writable again.
    backpressured: bool,
    /// Messages not yet given to the session, and their bodies' bytes.
    held: VecDeque<Outbound>,
    held_bytes: usize,
    /// A typing notification for an outgoing connection still connecting.
    pending_typing: Option<ChatState>,
    /// Bytes have come on it (an accepted connection's first bytes tell a SOCKS5
    /// bytestream from an XML stream).
    heard: bool,
}

/// The node. Run it in an `EventLoop<NodeCommand>`.
pub struct Node {
    config: NodeConfig,
    instance: String,
    events: EventSender,
    /// Connections we stopped reading because the application has too many unread events.
    unread_paused: BTreeSet<ConnectionId>,
    /// When to look again at `unconfirmed` and `unread_paused` (see `arm_recheck`).
    recheck_at: Option<Instant>,
    presence: Option<Presence>,
    established: bool,
    roster: Roster,
    addresses: Vec<InterfaceAddr>,
    port: u16,
    conns: HashMap<ConnectionId, Conn>,
    /// Every session's next timeout, so that neither `poll_timeout` nor `on_timeout` visits
    /// every connection (a node may hold thousands of streams).
    deadlines: BTreeSet<(Instant, ConnectionId)>,
    /// Connections with written messages not yet reported `sent`.
    unconfirmed: BTreeSet<ConnectionId>,
    /// Messages waiting for a stream to their peer.
    waiting: VecDeque<Outbound>,
    /// See [`Node::set_ack_timeout`].
    ack_timeout: Duration,
    quitting: bool,
    seed: u64,
    transfers: files::Transfers,
    links: links::Links,
    /// Presence in a wide-area zone, if asked for ([`Node::set_wide_area`]).
    wide_area: Option<WideArea>,
    wide_area_config: Option<WideAreaConfig>,
}

impl Node {
    /// A node reporting to `events` (the sending half of [`events()`]). `seed` drives the
    /// mDNS random delays.
    pub fn new(config: NodeConfig, events: EventSender, seed: u64) -> Node {
        Node {
            instance: config.instance(),
            config,
            events,
            unread_paused: BTreeSet::new(),
            recheck_at: None,
            presence: None,
            established: false,
            roster: Roster::new(),
            addresses: Vec::new(),
            port: 0,
            conns: HashMap::new(),
            deadlines: BTreeSet::new(),
            unconfirmed: BTreeSet::new(),
            waiting: VecDeque::new(),
            ack_timeout: DEFAULT_ACK_TIMEOUT,
            quitting: false,
            seed,
            transfers: files::Transfers::new(),
            links: links::Links::new(),
            wide_area: None,
            wide_area_config: None,
        }
    }

    /// How long bytes sent to a peer may stay unacknowledged by its TCP before the stream
    /// is taken for dead ([`DEFAULT_ACK_TIMEOUT`] unless set): it is then reset, and its
    /// unconfirmed messages go once more on a fresh connection, to the peer's current
    /// addresses, before they end in [`NodeEvent::SendFailed`]. A peer that is alive but
    /// not reading shuts its window and acknowledges what it got: that is not a stall.
    pub fn set_ack_timeout(&mut self, timeout: Duration) {
        self.ack_timeout = timeout;
    }

    /// Takes part in a wide-area zone too: browses it, and registers there with a key.
    /// Call before running the node.
    pub fn set_wide_area(&mut self, config: WideAreaConfig) {
        self.wide_area_config = Some(config);
    }

    /// What our service is in the zone: as on the link, with the addresses others
    /// beyond the link can reach (no link-local ones).
    fn zone_registration(&self) -> Option<llxmpp_dnssd::unicast::Registration> {
        let config = self.wide_area_config.as_ref()?;
        let addresses: Vec<IpAddr> = self
            .addresses
            .iter()
            .map(|a| a.ip)
            .filter(|ip| match ip {
                IpAddr::V4(v4) => !v4.is_link_local() && !v4.is_loopback(),
                IpAddr::V6(v6) => !v6.is_unicast_link_local() && !v6.is_loopback(),
            })
            .collect();
        Some(llxmpp_dnssd::unicast::Registration {
            zone: config.zone.clone(),
            instance: self.instance.clone(),
            host: format!("{}-llxmpp", self.config.host),
            port: self.port,
            txt: self.our_txt(),
            addresses,
            ttl: 60,
        })
    }

    /// Our service in the zone, registered or brought up to date (once the link has
    /// given us our name: the zone takes the same).
    fn register_in_zone(&mut self, ctx: &mut Context<'_>) {
        if !self.established {
            return;
        }
        if let Some(registration) = self.zone_registration() {
            if let Some(wide_area) = &mut self.wide_area {
                wide_area.register(ctx, registration);
            }
        }
        self.drain_wide_area(ctx);
    }

    fn drain_wide_area(&mut self, ctx: &mut Context<'_>) {
        let Some(wide_area) = &mut self.wide_area else {
            return;
        };
        let ours = wide_area.our_instance().map(str::to_owned);
        let events: Vec<WideAreaEvent> = std::iter::from_fn(|| wide_area.poll_event()).collect();
        for event in events {
            match event {
                WideAreaEvent::Service(event) => {
                    let instance = match &event {
                        ServiceEvent::Resolved(s) | ServiceEvent::Updated(s) => &s.instance,
                        ServiceEvent::Removed { instance } => instance,
                    };
                    // Ourselves, in the zone: not a peer.
                    if *instance == self.instance || Some(instance) == ours.as_ref() {
                        continue;
                    }
                    self.apply_service(ctx, Source::Zone, &event);
                }
                WideAreaEvent::Registered(instance) => {
                    let domain = self
                        .wide_area_config
                        .as_ref()
                        .map(|c| c.zone.to_string())
                        .unwrap_or_default();
                    self.emit(NodeEvent::Registered { domain, instance });
                }
                WideAreaEvent::Deregistered => tracing::info!("our service left the zone"),
                WideAreaEvent::Error(why) => self.emit(NodeEvent::Error(why)),
            }
        }
    }

    fn emit(&self, event: NodeEvent) {
        self.events.send(event);
    }

    /// Stops reading `conn` while the application has too much unread.
    fn pause_if_unread(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        if self.events.unread_bytes() > self.config.max_unread_event_bytes
            && self.conns.contains_key(&conn)
            && self.unread_paused.insert(conn)
        {
            tracing::debug!(?conn, "the application is behind; reading paused");
            ctx.pause_reading(conn);
            self.reschedule(conn);
            self.arm_recheck(ctx.now());
        }
    }

    /// Reads again once the application has caught up to half the bound; returns the
    /// connections resumed, whose waiting bytes the loop reads after this callback.
    fn resume_if_read(&mut self, ctx: &mut Context<'_>) -> BTreeSet<ConnectionId> {
        if self.unread_paused.is_empty()
            || self.events.unread_bytes() > self.config.max_unread_event_bytes / 2
        {
            return BTreeSet::new();
        }
        let resumed = std::mem::take(&mut self.unread_paused);
        for &conn in &resumed {
            ctx.resume_reading(conn);
            self.reschedule(conn);
        }
        resumed
    }

    fn our_txt(&self) -> llxmpp_dnssd::TxtRecord {
        let mut presence = self.config.presence.clone();
        presence.caps = Caps {
            node: Some(crate::caps::NODE.into()),
            ver: Some(crate::caps::ver()),
            hash: Some("sha-1".into()),
            ext: None,
        };
        presence.phsh = self.config.avatar.as_deref().map(llxmpp_dnssd::avatar_phsh);
        // Peers that encrypt refuse plaintext with us from then on (a downgrade).
        presence.tls = self.our_key().map(|key| key.to_string());
        presence.to_txt(self.port).unwrap_or_default()
    }

    /// Publishes our service on the interfaces' addresses; after a change, tells the
    /// responder (goodbyes for addresses gone, announcements on every link) and gives up
    /// the streams that ran from an address we lost.
    fn update_presence(&mut self, ctx: &mut Context<'_>, interfaces: &[InterfaceInfo]) {
        let addresses: Vec<InterfaceAddr> = interfaces
            .iter()
            .flat_map(|i| {
                i.addresses.iter().map(move |ip| InterfaceAddr {
                    interface: i.index,
                    ip: *ip,
                })
            })
            .filter(|a| self.config.bind.is_empty() || self.config.bind.contains(&a.ip))
            .collect();
        let lost: Vec<IpAddr> = self
            .addresses
            .iter()
            .map(|a| a.ip)
            .filter(|ip| !addresses.iter().any(|a| a.ip == *ip))
            .collect();
        self.addresses = addresses;
        if !lost.is_empty() {
            let from_lost: Vec<(ConnectionId, IpAddr)> = self
                .conns
                .keys()
                .filter_map(|&conn| Some((conn, ctx.local_addr(conn)?.ip())))
                .filter(|(_, ip)| lost.contains(ip))
                .collect();
            for (conn, ip) in from_lost {
                self.give_up(ctx, conn, format!("our address {ip} is gone"));
            }
        }
        if let Some(presence) = &mut self.presence {
            presence.set_addresses(ctx, self.addresses.clone());
            return;
        }
        let service = ServiceInfo {
            instance: self.instance.clone(),
            host: format!("{}-llxmpp", self.config.host),
            port: self.port,
            addresses: self.addresses.clone(),
            txt: self.our_txt(),
            avatar: self.config.avatar.clone(),
        };
        match Presence::new(Some(service), ctx.now(), self.seed) {
            Ok(presence) => self.presence = Some(presence),
            Err(e) => self.emit(NodeEvent::Error(format!("cannot publish: {e}"))),
        }
    }

    fn drain_presence(&mut self, ctx: &mut Context<'_>) {
        let Some(presence) = &mut self.presence else {
            return;
        };
        let mut events = Vec::new();
        while let Some(event) = presence.poll_event() {
            events.push(event);
        }
        for event in events {
            match event {
                PresenceEvent::Own(ResponderEvent::Established { instance, .. }) => {
                    self.instance = instance.clone();
                    self.established = true;
                    self.emit(NodeEvent::Ready {
                        instance,
                        port: self.port,
                    });
                    self.dispatch_waiting(ctx);
                    self.register_in_zone(ctx);
                }
                PresenceEvent::Own(ResponderEvent::InstanceRenamed { from, to }) => {
                    tracing::warn!(%from, %to, "our instance name is taken: renamed");
                    self.instance = to;
                }
                PresenceEvent::Own(_) => {}
                PresenceEvent::Service(event) => self.apply_service(ctx, Source::Link, &event),
            }
        }
    }

    /// A service seen on the link or in a zone: the roster's changes reported.
    fn apply_service(&mut self, ctx: &mut Context<'_>, source: Source, event: &ServiceEvent) {
        // What the browsers said, for a log that explains a roster's changes.
        match event {
            ServiceEvent::Resolved(s) | ServiceEvent::Updated(s) => tracing::debug!(
                ?source,
                instance = %s.instance,
                port = s.port,
                addresses = ?s.addresses,
                "service resolved"
            ),
            ServiceEvent::Removed { instance } => {
                tracing::debug!(?source, %instance, "service removed")
            }
        }
        self.roster.apply_from(source, event);
        while let Some(change) = self.roster.poll_event() {
            match change {
                RosterEvent::PeerOnline(peer) => {
                    self.note_key_hint(&peer.instance, peer.presence.tls.is_some());
                    self.emit(NodeEvent::PeerOnline(peer))
                }
                RosterEvent::PresenceChanged(peer) => {
                    self.note_key_hint(&peer.instance, peer.presence.tls.is_some());
                    self.drop_streams_to_left_addresses(ctx, &peer);
                    self.emit(NodeEvent::PeerChanged(peer))
                }
                RosterEvent::PeerOffline { instance } => {
                    self.note_key_hint(&instance, false);
                    self.drop_streams_of(ctx, &instance, None);
                    self.emit(NodeEvent::PeerOffline { peer: instance })
                }
            }
        }
        self.dispatch_waiting(ctx);
    }

    /// Gives up the streams of a peer whose address is no longer among its addresses: what
    /// we write there goes nowhere (the address is another host's, or nobody's).
    fn drop_streams_to_left_addresses(&mut self, ctx: &mut Context<'_>, peer: &Peer) {
        self.drop_streams_of(ctx, &peer.instance, Some(peer));
    }

    /// Gives up the streams of `instance`: all of them (it went offline), or those at an
    /// address `now` no longer has.
    fn drop_streams_of(&mut self, ctx: &mut Context<'_>, instance: &str, now: Option<&Peer>) {
        let stale: Vec<(ConnectionId, IpAddr)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.peer.as_deref() == Some(instance) && c.stale.is_none())
            .map(|(&conn, c)| (conn, c.remote.ip()))
            .filter(|(_, ip)| now.is_none_or(|p| !p.addresses.iter().any(|a| a.ip == *ip)))
            .collect();
        for (conn, ip) in stale {
            let reason = match now {
                Some(_) => format!("{instance} is no longer at {ip}"),
                None => format!("{instance} went offline"),
            };
            self.give_up(ctx, conn, reason);
        }
    }

    /// Resets a connection the loop still holds but that leads nowhere; its messages not
    /// yet acknowledged are retried once (see `on_closed`).
    fn give_up(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, reason: String) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.stale.is_some() {
            return;
        }
        tracing::info!(peer = ?c.peer, remote = %c.remote, %reason, "giving the stream up");
        c.stale = Some(reason);
        ctx.abort(conn);
    }

    /// Sends or fails the messages that were waiting, once we are published.
    fn dispatch_waiting(&mut self, ctx: &mut Context<'_>) {
        if !self.established {
            return;
        }
        let waiting: Vec<_> = self.waiting.drain(..).collect();
        for message in waiting {
            self.send(ctx, message);
        }
    }

    fn send(&mut self, ctx: &mut Context<'_>, message: Outbound) {
        if !self.established {
            self.waiting.push_back(message);
            return;
        }
        let to = message.to.clone();
        // A stream to that peer, newest first, that is opening or open.
        let existing = self
            .conns
            .iter_mut()
            .filter(|(_, c)| c.peer.as_deref() == Some(&to) && c.stale.is_none())
            .filter(|(_, c)| {
                c.session
                    .as_ref()
                    .is_none_or(|s| !s.is_closed() && (s.is_open() || c.outgoing.is_some()))
            })
            .max_by_key(|(id, _)| **id);
        if let Some((&conn, c)) = existing {
            match &mut c.session {
                Some(_) if c.backpressured || !c.held.is_empty() => {
                    if c.held.len() >= MAX_HELD_MESSAGES
                        || c.held_bytes + message.size() > MAX_HELD_BYTES
                    {
                        let reason = format!(
                            "{to} is not reading: {} messages ({} bytes) wait for it already",
                            c.held.len(),
                            c.held_bytes
                        );
                        self.undelivered(message, reason);
                    } else {
                        c.held_bytes += message.size();
                        c.held.push_back(message);
                    }
                }
                Some(_) => {
                    give(c, &self.instance, message);
                    self.pump(ctx, conn);
                }
                // Still connecting: the message waits for the session.
                None => self.waiting.push_back(message),
            }
            return;
        }
        if self.roster.get(&to).is_none() {
            self.undelivered(message, "no such peer on the link".into());
            return;
        }
        self.waiting.push_back(message);
        self.connect_to(ctx, &to);
    }

    /// A message whose stream died before the peer acknowledged it: once more on a fresh
    /// stream, else failed with `why`.
    fn retry(&mut self, ctx: &mut Context<'_>, mut message: Outbound, why: &str) {
        if message.retried || self.quitting {
            self.undelivered(message, format!("{why}; not acknowledged by the peer"));
            return;
        }
        tracing::debug!(to = %message.to, id = %message.id, %why, "sending again");
        message.retried = true;
        self.send(ctx, message);
    }

    /// Opens a stream to `to`, a peer of the roster, trying its addresses in turn; the
    /// connection, if one could be started.
    fn connect_to(&mut self, ctx: &mut Context<'_>, to: &str) -> Option<ConnectionId> {
        let peer = self.roster.get(to)?;
        let remaining: Vec<(SocketAddr, u32)> = peer
            .addresses
            .iter()
            .map(|a| match a.ip {
                IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, peer.port, 0, a.interface)),
                IpAddr::V4(_) => SocketAddr::new(a.ip, peer.port),
            })
            .zip(peer.addresses.iter().map(|a| a.interface))
            .collect();
        self.connect_next(
            ctx,
            Outgoing {
                peer: to.to_owned(),
                remaining,
                last_error: String::new(),
            },
        )
    }

    /// Tries the next address of a peer, from one of our published addresses of the same
    /// family, on the interface the peer's address was learned on if we have one there
    /// (peers such as libpurple close connections from addresses they do not know, and an
    /// address of another link may not be routed back); when none is left, fails every
    /// message waiting for that peer. The connection, if one could be started.
    fn connect_next(
        &mut self,
        ctx: &mut Context<'_>,
        mut outgoing: Outgoing,
    ) -> Option<ConnectionId> {
        while !outgoing.remaining.is_empty() {
            let (remote, learned_on) = outgoing.remaining.remove(0);
            let options = self.connect_options(remote, learned_on);
            match ctx.connect(remote, options) {
                Ok(conn) => {
                    let peer = Some(outgoing.peer.clone());
                    self.conns.insert(
                        conn,
                        Conn {
                            session: None,
                            peer,
                            remote,
                            outgoing: Some(outgoing),
                            given: Vec::new(),
                            unconfirmed: VecDeque::new(),
                            bytes_written: 0,
                            acknowledged: (0, ctx.now()),
                            stale: None,
                            trusted: true,
                            broken: None,
                            deadline: None,
                            backpressured: false,
                            held: VecDeque::new(),
                            held_bytes: 0,
                            pending_typing: None,
                            heard: false,
                        },
                    );
                    return Some(conn);
                }
                Err(e) => outgoing.last_error = format!("{remote}: {e}"),
            }
        }
        self.fail_waiting(
            &outgoing.peer,
            &format!("cannot connect ({})", outgoing.last_error),
        );
        None
    }

    /// A message or stanza reached the peer's host: `sent` for a message; a transfer's
    /// stanza needs no word.
    fn delivered(&mut self, message: Outbound) {
        if let Payload::Text(_) = message.payload {
            self.emit(NodeEvent::Sent {
                to: message.to,
                id: message.id,
            });
        }
    }

    /// A message or stanza could not be delivered: `send_failed` for a message; the
    /// transfer a stanza was for fails.
    fn undelivered(&mut self, message: Outbound, reason: String) {
        match message.payload {
            Payload::Text(_) => self.emit(NodeEvent::SendFailed {
                to: message.to,
                id: message.id,
                reason,
            }),
            Payload::Stanza(_) => self.transfer_stanza_lost(&message.id, &reason),
        }
    }

    /// How to connect to a peer's `remote` address, learned on interface `learned_on`:
    /// from an IPv4 address we publish (a loopback one only to a loopback peer), on that
    /// interface if we have one there. IPv6 sources are left to the system: binding a
    /// link-local one needs its scope.
    fn connect_options(&self, remote: SocketAddr, learned_on: u32) -> ConnectOptions {
        let bind = self
            .addresses
            .iter()
            .filter(|a| a.ip.is_ipv4() && remote.is_ipv4())
            .filter(|a| a.ip.is_loopback() == remote.ip().is_loopback())
            .min_by_key(|a| a.interface != learned_on)
            .map(|a| a.ip);
        ConnectOptions {
            bind,
            timeout: self.config.connect_timeout,
        }
    }

    fn fail_waiting(&mut self, peer: &str, reason: &str) {
        let (failed, kept): (Vec<_>, Vec<_>) = self.waiting.drain(..).partition(|m| m.to == peer);
        self.waiting = kept.into();
        for message in failed {
            self.undelivered(message, reason.into());
        }
    }

    /// Moves a session's output to the connection and its events to ours, then files its
    /// next timeout.
    fn pump(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        self.pump_session(ctx, conn);
        self.reschedule(conn);
    }

    /// Keeps `deadlines` and `unconfirmed` in step with a connection after it changed.
    fn reschedule(&mut self, conn: ConnectionId) {
        // A stream we stopped reading is not idle: its timers wait until we read again.
        let paused = self.unread_paused.contains(&conn);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let next = if paused {
            None
        } else {
            c.session.as_ref().and_then(Session::poll_timeout)
        };
        if next != c.deadline {
            if let Some(old) = c.deadline {
                self.deadlines.remove(&(old, conn));
            }
            if let Some(new) = next {
                self.deadlines.insert((new, conn));
            }
            c.deadline = next;
        }
        if c.unconfirmed.is_empty() {
            self.unconfirmed.remove(&conn);
        } else {
            self.unconfirmed.insert(conn);
            self.arm_recheck(Instant::now());
        }
    }

    /// Sets the time to look again at what no socket event announces: the peer's TCP
    /// acknowledging written messages, and the application catching up with its events. Kept as an instant, not computed from the clock in `poll_timeout`,
    /// so that it comes due; arming again never postpones it.
    fn arm_recheck(&mut self, now: Instant) {
        let wait = if !self.unread_paused.is_empty() {
            UNREAD_RECHECK
        } else if !self.unconfirmed.is_empty() {
            UNCONFIRMED_RECHECK
        } else {
            return;
        };
        let at = now + wait;
        self.recheck_at = Some(self.recheck_at.map_or(at, |armed| armed.min(at)));
    }

    fn pump_session(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(session) = &mut c.session else {
            return;
        };
        let mut events = Vec::new();
        while let Some(event) = session.poll_event() {
            events.push(event);
        }
        let mut bytes_written = 0;
        let written = session.transmit_with(|bytes| {
            bytes_written += bytes.len() as u64;
            ctx.write(conn, bytes)
        });
        c.bytes_written += bytes_written;
        if let Some(written) = written {
            match written {
                Ok(WriteState::Backpressure) => c.backpressured = true,
                Ok(_) => {}
                Err(e) => {
                    // Bytes we cannot queue would be lost: give the connection up instead.
                    tracing::warn!(%e, "write failed; closing the connection");
                    c.broken = Some(format!("write failed: {e}"));
                    ctx.abort(conn);
                    return;
                }
            }
        }
        let ip = c.remote.ip();
        let mut close = false;
        let mut refusal = None;
        let mut iqs = Vec::new();
        let mut secured = None;
        for event in events {
            let Some(c) = self.conns.get_mut(&conn) else {
                break;
            };
            match event {
                SessionEvent::Opened(header) => {
                    if c.outgoing.is_none() {
                        if let Err(refused) = self.identify(conn, ip, header.from.as_deref()) {
                            refusal = Some(refused);
                            break;
                        }
                    }
                }
                SessionEvent::Message(mut message) => {
                    let from = match self.sender(conn, ip, message.from.as_deref()) {
                        Ok(from) => from,
                        Err(refused) => {
                            refusal = Some(refused);
                            break;
                        }
                    };
                    let (id, thread) = (message.id.take(), message.thread.take());
                    self.emit(NodeEvent::Message {
                        from,
                        body: message.into_text().unwrap_or_default(),
                        id,
                        thread,
                    });
                }
                SessionEvent::Typing { from, state } => {
                    match self.sender(conn, ip, from.as_deref()) {
                        Ok(from) => self.emit(NodeEvent::Typing { from, state }),
                        Err(refused) => {
                            refusal = Some(refused);
                            break;
                        }
                    }
                }
                SessionEvent::Iq { iq, stanza } => match &c.peer {
                    // Files only with a peer we know: a transfer connects to its addresses.
                    Some(peer) => iqs.push((peer.clone(), iq, stanza)),
                    None => tracing::info!(%ip, "a file-transfer IQ on an unattributed stream"),
                },
                SessionEvent::Written { id } => {
                    if let Some(at) = c.given.iter().position(|m| m.id == id) {
                        let message = c.given.remove(at);
                        if c.unconfirmed.is_empty() {
                            // The stall clock starts with the first bytes awaited.
                            c.acknowledged.1 = ctx.now();
                        }
                        c.unconfirmed.push_back((message, c.bytes_written));
                    }
                }
                SessionEvent::Secured { key } => secured = Some(key),
                SessionEvent::Plaintext => self.on_plaintext(conn),
                SessionEvent::Closed(reason) => {
                    if reason != CloseReason::Clean {
                        tracing::info!(peer = ?c.peer, %reason, "stream ended");
                    }
                    if let CloseReason::Encryption(why) = &reason {
                        // Nothing goes to this peer over this stream: what waited for it
                        // fails with the reason, not after a retry that meets it again.
                        let peer = c.peer.clone();
                        let waiting: Vec<Outbound> =
                            c.given.drain(..).chain(c.held.drain(..)).collect();
                        c.held_bytes = 0;
                        for message in waiting {
                            self.undelivered(message, format!("not encrypted: {why}"));
                        }
                        self.emit(NodeEvent::LinkRefused {
                            peer,
                            reason: why.clone(),
                        });
                    }
                    close = true;
                }
            }
        }
        if let Some(refused) = refusal {
            self.refuse(ctx, conn, refused);
            return;
        }
        if close {
            ctx.close(conn);
        }
        if let Some(key) = secured {
            self.on_secured(ctx, conn, key);
        }
        self.confirm(ctx, conn);
        for (peer, iq, stanza) in iqs {
            self.on_transfer_iq(ctx, &peer, iq, stanza);
        }
    }

    /// Refuses a stream we cannot attribute: the peer gets a stream error that says why,
    /// our user an `Error` event, and the connection closes once the error is written.
    /// Never silence: a peer left without an answer thinks its message went through.
    fn refuse(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, refused: Refusal) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let remote = c.remote.ip();
        tracing::info!(%remote, reason = %refused.reason, "refusing a stream");
        if let Some(session) = &mut c.session {
            session.refuse(refused.condition, &refused.reason);
            // What the session queued before the refusal (its events were read) goes
            // too; the refusal's `Closed` event is not needed: the connection ends here.
            while session.poll_event().is_some() {}
            if let Some(Err(e)) = session.transmit_with(|bytes| ctx.write(conn, bytes)) {
                tracing::warn!(%e, "cannot write the stream error");
            }
        }
        ctx.close(conn);
        self.emit(NodeEvent::Error(format!(
            "refused a stream from {remote}: {}",
            refused.reason
        )));
    }

    /// `sent` for the messages whose bytes the peer's TCP has acknowledged (where the
    /// system does not tell: whose bytes left our queue); a stream whose bytes in flight
    /// stay unacknowledged past the ack timeout is given up.
    fn confirm(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        let now = ctx.now();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.unconfirmed.is_empty() {
            return;
        }
        let progress = ctx.send_progress(conn);
        let queued = ctx.queued(conn).unwrap_or(0) as u64;
        let acknowledged = progress
            .and_then(|p| p.acknowledged)
            .unwrap_or_else(|| c.bytes_written.saturating_sub(queued));
        let mut confirmed = Vec::new();
        while c
            .unconfirmed
            .front()
            .is_some_and(|(_, end)| *end <= acknowledged)
        {
            if let Some((message, _)) = c.unconfirmed.pop_front() {
                confirmed.push(message);
            }
        }
        let in_flight = progress.and_then(|p| p.in_flight).unwrap_or(0);
        let stalled = if acknowledged > c.acknowledged.0 || in_flight == 0 {
            c.acknowledged = (acknowledged, now);
            None
        } else if !c.unconfirmed.is_empty()
            && now.saturating_duration_since(c.acknowledged.1) >= self.ack_timeout
        {
            Some(format!(
                "{} unacknowledged for {:?} ({in_flight} bytes in flight)",
                c.remote, self.ack_timeout
            ))
        } else {
            None
        };
        for message in confirmed {
            self.delivered(message);
        }
        if let Some(reason) = stalled {
            self.give_up(ctx, conn, reason);
        }
    }

    /// Who is at the other end of an incoming stream from `ip` (docs/DESIGN.md, Peer identification): the
    /// peer its `from` names, if that peer has this address; else the one peer at that
    /// address. With several there and no `from`, undecided: the first stanza's `from`
    /// decides (iChat names itself in neither its header nor, at times, its stanzas).
    fn attribute(&self, ip: IpAddr, from: Option<&str>) -> Result<Attribution, Refusal> {
        if let Some(from) = from {
            if self
                .roster
                .get(from)
                .is_some_and(|p| p.addresses.iter().any(|a| a.ip == ip))
            {
                return Ok(Attribution::Peer(from.to_owned()));
            }
        }
        let at: Vec<&Peer> = self.roster.peers_at(ip).collect();
        if let [only] = at.as_slice() {
            if from.is_none_or(|f| f == only.instance) {
                return Ok(Attribution::Peer(only.instance.clone()));
            }
        }
        if from.is_none() && !at.is_empty() {
            return Ok(Attribution::Undecided);
        }
        if self.config.accept_unknown {
            return Ok(Attribution::Unknown);
        }
        Err(match from {
            Some(from) => Refusal {
                condition: Condition::InvalidFrom,
                reason: format!("it says it is {from}, who is not a peer at {ip}"),
            },
            None => Refusal {
                condition: Condition::ImproperAddressing,
                reason: format!("no peer is at {ip} any more"),
            },
        })
    }

    /// Attributes an incoming stream by its header's `from` (see [`Node::attribute`]).
    fn identify(
        &mut self,
        conn: ConnectionId,
        ip: IpAddr,
        from: Option<&str>,
    ) -> Result<(), Refusal> {
        let found = self.attribute(ip, from)?;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Ok(());
        };
        match found {
            Attribution::Peer(peer) => {
                // The session learns the name too: a plaintext stream that its address
                // alone gave to a peer that must encrypt is a downgrade.
                let judged = c.session.as_mut().map_or(Ok(()), |s| s.identified(&peer));
                if let Err(why) = judged {
                    self.emit(NodeEvent::LinkRefused {
                        peer: Some(peer),
                        reason: why.clone(),
                    });
                    return Err(Refusal {
                        condition: Condition::PolicyViolation,
                        reason: why,
                    });
                }
                c.peer = Some(peer);
            }
            Attribution::Unknown => c.trusted = false,
            Attribution::Undecided => {}
        }
        Ok(())
    }

    /// The sender to report for a stanza on a stream from `ip`: the stream's peer, else
    /// the peer the stanza's `from` names. A stream that still cannot be attributed (several
    /// peers at its address, no `from` anywhere) is refused.
    fn sender(
        &mut self,
        conn: ConnectionId,
        ip: IpAddr,
        stanza_from: Option<&str>,
    ) -> Result<String, Refusal> {
        let Some(c) = self.conns.get(&conn) else {
            return Err(Refusal {
                condition: Condition::UndefinedCondition,
                reason: "its connection is gone".into(),
            });
        };
        if let Some(peer) = &c.peer {
            return Ok(peer.clone());
        }
        if c.trusted {
            self.identify(conn, ip, stanza_from)?;
            if let Some(peer) = self.conns.get(&conn).and_then(|c| c.peer.clone()) {
                return Ok(peer);
            }
        }
        if self.config.accept_unknown {
            return Ok(stanza_from.map_or_else(|| format!("unknown@{ip}"), str::to_owned));
        }
        let mut candidates: Vec<&str> = self
            .roster
            .peers_at(ip)
            .map(|p| p.instance.as_str())
            .collect();
        candidates.sort_unstable();
        Err(Refusal {
            condition: Condition::ImproperAddressing,
            reason: format!(
                "{} peers are at {ip} ({}) and neither the stream nor its first stanza says \
                 which one it is (no 'from')",
                candidates.len(),
                candidates.join(", ")
            ),
        })
    }

    fn session_config(&self) -> SessionConfig {
        SessionConfig {
            idle_timeout: self.config.idle_timeout,
            encryption: self.session_encryption(),
            ..SessionConfig::new(&self.instance)
        }
    }

    fn quit(&mut self, ctx: &mut Context<'_>) {
        if self.quitting {
            return;
        }
        self.quitting = true;
        if let Some(presence) = &mut self.presence {
            presence.shutdown(ctx);
        }
        if let Some(wide_area) = &mut self.wide_area {
            wide_area.shutdown(ctx);
        }
        let now = ctx.now();
        let conns: Vec<ConnectionId> = self.conns.keys().copied().collect();
        for conn in conns {
            if let Some(session) = self.conns.get_mut(&conn).and_then(|c| c.session.as_mut()) {
                session.close(now);
            }
            self.pump(ctx, conn);
            ctx.close(conn);
        }
        self.quit_transfers(ctx);
        let waiting: Vec<_> = self.waiting.drain(..).collect();
        for message in waiting {
            self.undelivered(message, "quitting".into());
        }
        ctx.stop(now + Duration::from_secs(2));
    }
}

impl Handler for Node {
    type Command = NodeCommand;

    fn on_start(&mut self, ctx: &mut Context<'_>) {
        self.port = ctx.local_port().unwrap_or(0);
        if let Some(config) = self.wide_area_config.clone() {
            self.wide_area = Some(WideArea::new(config, ctx.now(), self.seed.rotate_left(41)));
            if let Some(wide_area) = &mut self.wide_area {
                wide_area.handle_timeout(ctx);
            }
            self.drain_wide_area(ctx);
        }
    }

    fn on_interfaces(&mut self, ctx: &mut Context<'_>, interfaces: &[InterfaceInfo]) {
        self.update_presence(ctx, interfaces);
        self.drain_presence(ctx);
        self.register_in_zone(ctx);
    }

    fn on_mdns_socket_error(&mut self, _: &mut Context<'_>, error: &MdnsSocketError) {
        // Without it the node neither hears nor is heard on that link, and said nothing.
        let family = if error.ipv6 { "IPv6" } else { "IPv4" };
        tracing::warn!(interface = %error.name, family, error = %error.error, "no mDNS socket");
        self.emit(NodeEvent::Error(format!(
            "cannot use mDNS on {} ({family}, port 5353): {}; peers there neither see us nor are seen until it can (tried again every 5 s)",
            error.name, error.error
        )));
    }

    fn on_mdns_socket_opened(&mut self, ctx: &mut Context<'_>, interface: u32, ipv6: bool) {
        tracing::info!(interface, ipv6, "mDNS socket open after all");
        if let Some(presence) = &mut self.presence {
            presence.link_reopened(ctx, interface);
        }
        self.drain_presence(ctx);
    }

    fn on_unicast_datagram(&mut self, ctx: &mut Context<'_>, from: SocketAddr, bytes: &[u8]) {
        if let Some(wide_area) = &mut self.wide_area {
            wide_area.handle_datagram(ctx, from, bytes);
        }
        self.drain_wide_area(ctx);
    }

    fn on_datagram(&mut self, ctx: &mut Context<'_>, datagram: Datagram<'_>) {
        if let Some(presence) = &mut self.presence {
            presence.handle_datagram(ctx, datagram.from, datagram.interface, datagram.bytes);
        }
        self.drain_presence(ctx);
    }

    fn on_accepted(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, remote: SocketAddr) {
        let known = self.roster.peers_at(remote.ip()).next().is_some();
        if !known && !self.config.accept_unknown {
            // As libpurple does: a connection from an address no discovered peer has.
            tracing::info!(%remote, "closing a connection from an unknown address");
            ctx.abort(conn);
            return;
        }
        let session = Session::responder(self.session_config(), ctx.now());
        self.conns.insert(
            conn,
            Conn {
                session: Some(session),
                peer: None,
                remote,
                outgoing: None,
                given: Vec::new(),
                unconfirmed: VecDeque::new(),
                bytes_written: 0,
                acknowledged: (0, ctx.now()),
                stale: None,
                trusted: known,
                broken: None,
                deadline: None,
                backpressured: false,
                held: VecDeque::new(),
                held_bytes: 0,
                pending_typing: None,
                heard: false,
            },
        );
        self.reschedule(conn);
    }

    fn on_connected(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        if let Some(wide_area) = self.wide_area.as_mut().filter(|w| w.owns(conn)) {
            return wide_area.on_connected(ctx, conn);
        }
        if self.transfers.owns(conn) {
            return self.transfer_connected(ctx, conn);
        }
        let config = self.session_config();
        let peer = self
            .conns
            .get(&conn)
            .and_then(|c| c.peer.clone())
            .unwrap_or_default();
        let takes_chat_states = self
            .roster
            .get(&peer)
            .is_some_and(|p| takes_chat_states(&p.presence.caps));
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let mut session = Session::initiator(config, &peer, ctx.now());
        if takes_chat_states {
            session.peer_takes_chat_states();
        }
        if let Some(state) = c.pending_typing.take() {
            session.send_typing(state);
        }
        let (mine, others): (Vec<_>, Vec<_>) = self.waiting.drain(..).partition(|m| m.to == peer);
        self.waiting = others.into();
        c.session = Some(session);
        for message in mine {
            give(c, &self.instance, message);
        }
        self.pump(ctx, conn);
    }

    fn on_data(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, data: &[u8]) {
        if let Some(wide_area) = self.wide_area.as_mut().filter(|w| w.owns(conn)) {
            wide_area.on_data(ctx, conn, data);
            return self.drain_wide_area(ctx);
        }
        if self.transfers.owns(conn) {
            return self.transfer_data(ctx, conn, data);
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            let first = !std::mem::replace(&mut c.heard, true);
            if first && c.outgoing.is_none() && files::is_file_request(data) {
                // The receiver of one of our offers, at our streamhost or our HTTP
                // server (this port).
                let remote = c.remote.ip();
                if let Some(c) = self.conns.remove(&conn) {
                    if let Some(deadline) = c.deadline {
                        self.deadlines.remove(&(deadline, conn));
                    }
                }
                return self.transfer_knock(ctx, conn, remote, data);
            }
        }
        if let Some(session) = self.conns.get_mut(&conn).and_then(|c| c.session.as_mut()) {
            session.handle_input(ctx.now(), data);
        }
        self.pump(ctx, conn);
        self.pause_if_unread(ctx, conn);
    }

    fn on_read_closed(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        if self.wide_area.as_ref().is_some_and(|w| w.owns(conn)) {
            ctx.close(conn);
            return;
        }
        if self.transfers.owns(conn) {
            self.transfer_closed(ctx, conn, None);
            ctx.close(conn);
            return;
        }
        if let Some(session) = self.conns.get_mut(&conn).and_then(|c| c.session.as_mut()) {
            session.handle_eof(ctx.now());
        }
        self.pump(ctx, conn);
        ctx.close(conn);
    }

    fn on_writable(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        if self.transfers.owns(conn) {
            return self.transfer_writable(ctx, conn);
        }
        self.confirm(ctx, conn);
        // The queue drained below the low watermark: what was held goes out, until the
        // queue is full again.
        if let Some(c) = self.conns.get_mut(&conn) {
            c.backpressured = false;
        }
        while let Some(c) = self.conns.get_mut(&conn) {
            if c.backpressured {
                break;
            }
            if c.session.is_none() {
                break;
            }
            let Some(message) = c.held.pop_front() else {
                break;
            };
            c.held_bytes -= message.size();
            give(c, &self.instance, message);
            self.pump(ctx, conn);
        }
        self.reschedule(conn);
    }

    fn on_flushed(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        self.confirm(ctx, conn);
        self.reschedule(conn);
    }

    fn on_closed(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, reason: LoopClose) {
        if let Some(wide_area) = self.wide_area.as_mut().filter(|w| w.owns(conn)) {
            wide_area.on_closed(ctx, conn, &format!("{reason:?}"));
            return self.drain_wide_area(ctx);
        }
        if self.transfers.owns(conn) {
            let why = match reason {
                LoopClose::Local | LoopClose::PeerClosed | LoopClose::Shutdown => None,
                other => Some(format!("{other:?}")),
            };
            return self.transfer_closed(ctx, conn, why.or(Some("closed".into())));
        }
        let Some(mut c) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(deadline) = c.deadline {
            self.deadlines.remove(&(deadline, conn));
        }
        self.unconfirmed.remove(&conn);
        self.unread_paused.remove(&conn);
        // Why the stream failed, if it did: a stream we gave up, or one the system ended.
        let given_up = c.stale.is_some();
        let failure = c.stale.take().or_else(|| match &reason {
            LoopClose::Local | LoopClose::PeerClosed | LoopClose::Shutdown => None,
            other => Some(format!("{other:?}")),
        });
        // What was written and not acknowledged when the peer closed may be lost: a peer
        // that closed its socket resets what comes after, unread.
        let unconfirmed_lost = failure.clone().or_else(|| {
            matches!(reason, LoopClose::PeerClosed)
                .then(|| "the peer closed the stream first".to_owned())
        });
        for (message, _) in c.unconfirmed.drain(..).collect::<Vec<_>>() {
            match &unconfirmed_lost {
                Some(why) => self.retry(ctx, message, why),
                // We closed it after them: the kernel delivers what it holds.
                None => self.delivered(message),
            }
        }
        match &failure {
            Some(why) => {
                // Never written, or written into a stream that failed: once more.
                for message in c
                    .given
                    .drain(..)
                    .chain(c.held.drain(..))
                    .collect::<Vec<_>>()
                {
                    self.retry(ctx, message, why);
                }
            }
            None => {
                for message in c.held.drain(..) {
                    self.undelivered(
                        message,
                        format!(
                            "the connection closed ({reason:?}) while the peer was not reading"
                        ),
                    );
                }
                for message in c.given.drain(..) {
                    self.undelivered(message, "stream closed before it opened".into());
                }
            }
        }
        if c.session.is_none() && !self.quitting {
            // A connection attempt failed: try the peer's next address; one given up
            // because the peer left that address: its addresses as they are now.
            if let Some(mut outgoing) = c.outgoing.take() {
                if !given_up {
                    outgoing.last_error = format!("{}: {reason:?}", c.remote);
                    self.connect_next(ctx, outgoing);
                } else if self.connect_to(ctx, &outgoing.peer).is_none()
                    && self.roster.get(&outgoing.peer).is_none()
                {
                    self.fail_waiting(&outgoing.peer, "no such peer on the link");
                }
            }
        }
    }

    fn on_command(&mut self, ctx: &mut Context<'_>, command: NodeCommand) {
        match command {
            NodeCommand::Send { to, body, id } => {
                let message = Outbound {
                    to,
                    id,
                    payload: Payload::Text(body),
                    retried: false,
                };
                if self.quitting {
                    self.undelivered(message, "quitting".into());
                } else {
                    self.send(ctx, message);
                }
            }
            NodeCommand::Status { status, msg } => {
                self.config.presence.status = status;
                self.config.presence.msg = msg;
                let txt = self.our_txt();
                if let Some(wide_area) = &mut self.wide_area {
                    wide_area.set_txt(ctx, txt.clone());
                }
                self.drain_wide_area(ctx);
                if let Some(presence) = &mut self.presence {
                    if let Err(e) = presence.set_txt(ctx, txt) {
                        self.emit(NodeEvent::Error(format!("cannot publish that status: {e}")));
                    }
                }
            }
            NodeCommand::Typing { to, state } => {
                let takes_chat_states = self
                    .roster
                    .get(&to)
                    .is_some_and(|p| takes_chat_states(&p.presence.caps));
                let stream = self
                    .conns
                    .iter_mut()
                    .filter(|(_, c)| c.peer.as_deref() == Some(&to))
                    .filter(|(_, c)| match &c.session {
                        Some(s) => !s.is_closed() && (s.is_open() || c.outgoing.is_some()),
                        None => c.outgoing.is_some(),
                    })
                    .max_by_key(|(id, _)| **id);
                match stream {
                    Some((&conn, c)) => match &mut c.session {
                        Some(session) => {
                            if takes_chat_states {
                                session.peer_takes_chat_states();
                            }
                            session.send_typing(state);
                            self.pump(ctx, conn);
                        }
                        // Still connecting: the notification waits for the session.
                        None => c.pending_typing = Some(state),
                    },
                    // No stream yet: to a peer whose caps take chat states, typing is the
                    // start of a conversation (XEP-0085 §5.1), worth a stream of its own.
                    None if takes_chat_states && self.established => {
                        if let Some(conn) = self.connect_to(ctx, &to) {
                            if let Some(c) = self.conns.get_mut(&conn) {
                                c.pending_typing = Some(state);
                            }
                        }
                    }
                    None => {}
                }
            }
            NodeCommand::Peers => {
                self.emit(NodeEvent::Peers(self.roster.peers().cloned().collect()))
            }
            NodeCommand::Avatar { peer } => {
                let image = self.roster.get(&peer).and_then(|p| p.avatar.clone());
                self.emit(NodeEvent::Avatar { peer, image })
            }
            NodeCommand::SendFile {
                to,
                path,
                id,
                method,
            } => self.send_file(ctx, to, path, id, method),
            NodeCommand::AcceptFile { id, dir } => self.accept_file(ctx, &id, dir),
            NodeCommand::RejectFile { id } => self.reject_file(ctx, &id),
            NodeCommand::CancelFile { id } => self.cancel_file(ctx, &id),
            NodeCommand::VerificationCode { peer } => match self.verification_code(&peer) {
                Ok(code) => self.emit(NodeEvent::VerificationCode { peer, code }),
                Err(e) => self.emit(NodeEvent::Error(format!("no code for {peer}: {e}"))),
            },
            NodeCommand::TrustKey {
                peer,
                key,
                verified,
            } => {
                let key = match key.as_deref().map(str::parse) {
                    None => None,
                    Some(Ok(key)) => Some(key),
                    Some(Err(e)) => {
                        return self.emit(NodeEvent::Error(format!("{peer}'s key: {e}")));
                    }
                };
                match self.trust_key(&peer, key, verified) {
                    Ok(status) => tracing::info!(%peer, status = status.name(), "key trusted"),
                    Err(e) => self.emit(NodeEvent::Error(e)),
                }
            }
            NodeCommand::Quit => self.quit(ctx),
        }
    }

    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        if self.recheck_at.is_some_and(|t| t <= now) {
            self.recheck_at = None;
        }
        // Their timers may have passed while they were paused: read what waits first.
        let resumed = self.resume_if_read(ctx);
        if let Some(presence) = &mut self.presence {
            if presence.poll_timeout().is_some_and(|t| t <= now) {
                presence.handle_timeout(ctx);
            }
        }
        self.drain_presence(ctx);
        if let Some(wide_area) = &mut self.wide_area {
            if wide_area.poll_timeout().is_some_and(|t| t <= now) {
                wide_area.handle_timeout(ctx);
            }
        }
        self.drain_wide_area(ctx);
        if self.transfers.poll_timeout().is_some_and(|t| t <= now) {
            self.transfer_timeouts(ctx);
        }
        let mut due: Vec<ConnectionId> = self
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, conn)| *conn)
            .chain(self.unconfirmed.iter().copied())
            .filter(|conn| !resumed.contains(conn))
            .collect();
        due.sort_unstable();
        due.dedup();
        for conn in due {
            if let Some(session) = self.conns.get_mut(&conn).and_then(|c| c.session.as_mut()) {
                session.handle_timeout(now);
            }
            self.pump(ctx, conn);
        }
        self.arm_recheck(now);
    }

    /// A quit waits (up to its two seconds) for the zone's server to answer the update
    /// that removes our records, so that a lost datagram is sent again rather than leave
    /// us in the zone until another client's life check finds us gone.
    fn stop_pending(&self) -> bool {
        self.wide_area
            .as_ref()
            .is_some_and(WideArea::removal_pending)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let presence = self.presence.as_ref().and_then(Presence::poll_timeout);
        let sessions = self.deadlines.first().map(|(at, _)| *at);
        let wide_area = self.wide_area.as_ref().and_then(WideArea::poll_timeout);
        presence
            .into_iter()
            .chain(wide_area)
            .chain(sessions)
            .chain(self.recheck_at)
            .chain(self.transfers.poll_timeout())
            .min()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.emit(NodeEvent::Stopped);
    }
}
