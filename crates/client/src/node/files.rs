//! File transfer in the node: XEP-0095/0096 offers answered over the chat stream, the
//! file over a XEP-0065 SOCKS5 bytestream of its own (docs/DESIGN.md, File transfer).
//!
//! The sender is the streamhost: the receiver connects to our listening port, and the
//! node tells a SOCKS5 connection from an XML stream by its first byte (`05`; a stream
//! starts with `<`, white space or a byte-order mark), so no second port is opened. The
//! receiver saves into a partial file (`NAME.part`) renamed to a name that is free only
//! once the announced size has come, never overwriting anything.
//!
//! Every transfer, ours or the peer's, ends in exactly one [`NodeEvent::FileDone`] or
//! [`NodeEvent::FileFailed`].

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use llxmpp_event_loop::{ConnectionId, Context, WriteState};
use llxmpp_framer::{Iq, OwnedStanza};
use llxmpp_transfer::http::{error_head, ok_head, request_head, RequestReader, ResponseReader};
use llxmpp_transfer::si::{self, ns};
use llxmpp_transfer::{
    numbered_name, safe_file_name, stream_hash, FileOffer, IqAddress, Progress, Refusal,
    Socks5Client, Socks5Server, TransferIq,
};
use sha2::{Digest, Sha256};

use super::{Node, NodeEvent, Outbound, Payload};

/// How long an offer waits for an answer: the peer's user, or ours, decides.
pub const OFFER_TIMEOUT: Duration = Duration::from_secs(300);
/// How long an accepted offer may take to get its bytestream connected.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a bytestream may move no byte before the transfer is given up.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often `file_progress` is reported, at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// Bytes read from a file at a time.
const CHUNK: usize = 16 << 10;
/// Chunks written in one turn before the loop serves the others: a receiver that keeps
/// up never pushes back, and without a bound one turn would send the whole file while
/// chat and mDNS wait.
const CHUNKS_PER_TURN: usize = 1;

/// Where files go and how many may move.
#[derive(Clone, Debug)]
pub struct TransferConfig {
    /// Where accepted files are saved unless the `accept` names a folder.
    pub downloads: PathBuf,
    /// Offers of larger files are refused (`None`: no limit).
    pub max_file_size: Option<u64>,
    /// Transfers at once, both ways, offers waiting for an answer included; an offer past
    /// it is refused, a send fails at once.
    pub max_transfers: usize,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            downloads: default_downloads(),
            max_file_size: None,
            max_transfers: 8,
        }
    }
}

/// `$XDG_DOWNLOAD_DIR`, else `~/Downloads`, else the current folder.
pub fn default_downloads() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DOWNLOAD_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Path::new(&home).join("Downloads"),
        None => PathBuf::from("."),
    }
}

/// Where a transfer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Ours: the offer is out, waiting for the peer. Theirs: waiting for our user.
    Offered,
    /// Accepted: ours waits for the receiver's SOCKS5 connection; theirs waits for the
    /// streamhosts, or connects to them.
    Connecting,
    /// Bytes move.
    Moving,
    /// Ours: every byte written and our side shut; waiting for the receiver to close.
    Draining,
}

/// How a file is offered and moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// XEP-0095/0096 offer, XEP-0065 SOCKS5 bytestream: libpurple, Gajim, llxmpp.
    Si,
    /// XEP-0066 `jabber:iq:oob`: a URL the receiver GETs over HTTP: iChat, Adium,
    /// telepathy-salut.
    Oob,
}

impl Method {
    /// The name `file_offer` and `send_file` use.
    pub fn name(self) -> &'static str {
        match self {
            Method::Si => "si-socks5",
            Method::Oob => "oob-http",
        }
    }

    /// The method a name stands for (`si`, `si-socks5`, `oob`, `oob-http`).
    pub fn from_name(name: &str) -> Option<Method> {
        match name {
            "si" | "si-socks5" => Some(Method::Si),
            "oob" | "oob-http" => Some(Method::Oob),
            _ => None,
        }
    }
}

/// What admits the receiver's connection to a file we send.
#[derive(Debug)]
enum Admit {
    /// The SOCKS5 request names the stream's hash.
    Socks5(String),
    /// The HTTP GET asks for this path (random, unguessable).
    Http(String),
}

#[derive(Debug)]
// A handful of transfers at most (`max_transfers`): boxing would only add indirection.
#[allow(clippy::large_enum_variant)]
enum Side {
    /// We send `file` (opened when the send was asked for).
    Send {
        path: PathBuf,
        file: File,
        admit: Admit,
    },
    /// We receive.
    Receive {
        /// Where to save (set when accepted).
        dir: Option<PathBuf>,
        /// The partial file and its path, once accepted.
        partial: Option<(File, PathBuf)>,
        /// The streamhosts' IQ id, for `streamhost-used` or our failure.
        hosts_iq: Option<String>,
        /// Streamhosts not tried yet: address, the interface it was learned on, `jid`.
        hosts: Vec<(SocketAddr, u32, String)>,
        /// The streamhost being tried and the handshake with it.
        trying: Option<(String, Socks5Client)>,
        last_error: String,
        /// An OOB offer: where to GET the file, and the response head's reader until
        /// the head has come.
        oob: Option<(SocketAddr, String, Option<ResponseReader>)>,
    },
}

#[derive(Debug)]
struct Transfer {
    peer: String,
    sid: String,
    /// The offer's IQ id.
    offer_iq: String,
    /// The name offered (ours: the file's name).
    name: String,
    size: u64,
    side: Side,
    step: Step,
    deadline: Instant,
    bytes: u64,
    hasher: Sha256,
    last_progress: Instant,
    conn: Option<ConnectionId>,
    /// A failure found where the loop's context was not at hand (a stanza of the
    /// transfer that could not be delivered): the transfer ends at once, at its deadline.
    failure: Option<String>,
}

/// An accepted connection that began as SOCKS5 or HTTP, before it names its file.
#[derive(Debug)]
enum Knock {
    Socks5 {
        server: Socks5Server,
        remote: IpAddr,
    },
    Http {
        reader: RequestReader,
        remote: IpAddr,
    },
}

/// A peer's offer, as either method makes it.
struct Incoming {
    iq_id: String,
    sid: String,
    name: String,
    size: u64,
    oob: Option<(SocketAddr, String, Option<ResponseReader>)>,
}

/// The node's transfers.
#[derive(Debug)]
pub(super) struct Transfers {
    config: TransferConfig,
    list: BTreeMap<String, Transfer>,
    /// Bytestream connections and the transfer each is for.
    conns: HashMap<ConnectionId, String>,
    knocks: HashMap<ConnectionId, Knock>,
    /// Transfers whose turn ended with the connection still taking bytes: pumped again
    /// in the next round, and the time they were put here (a time already come, so that
    /// the loop calls back without sleeping).
    pump_again: Vec<String>,
    pump_at: Option<Instant>,
    /// Numbers offers from peers (`r1`, `r2`…) and our stream ids.
    next: u64,
    buffer: Vec<u8>,
}

impl Transfers {
    pub(super) fn new() -> Transfers {
        Transfers {
            config: TransferConfig::default(),
            list: BTreeMap::new(),
            conns: HashMap::new(),
            knocks: HashMap::new(),
            pump_again: Vec::new(),
            pump_at: None,
            next: 0,
            buffer: Vec::new(),
        }
    }

    /// Whether `conn` is a bytestream (or a SOCKS5 handshake) of ours.
    pub(super) fn owns(&self, conn: ConnectionId) -> bool {
        self.conns.contains_key(&conn) || self.knocks.contains_key(&conn)
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let deadlines = self.list.values().map(|t| t.deadline).min();
        deadlines.into_iter().chain(self.pump_at).min()
    }
}

/// Whether an accepted connection's first bytes are a SOCKS5 greeting or an HTTP request
/// (`GET`, `HEAD`), not an XML stream (which starts with `<`, white space or a BOM).
pub(super) fn is_file_request(first: &[u8]) -> bool {
    matches!(first.first(), Some(5 | b'G' | b'H'))
}

/// Whether the receiver's TCP has acknowledged all `size` bytes of the bytestream `conn`.
fn every_byte_taken(ctx: &Context<'_>, conn: Option<ConnectionId>, size: u64) -> bool {
    conn.and_then(|c| ctx.send_progress(c))
        .and_then(|p| p.acknowledged)
        .is_some_and(|acknowledged| acknowledged >= size)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Node {
    /// Sets where files go and the limits of file transfer.
    pub fn set_transfer_config(&mut self, config: TransferConfig) {
        self.transfers.config = config;
    }

    fn address<'a>(&'a self, id: &'a str, to: &'a str) -> IqAddress<'a> {
        IqAddress {
            id,
            from: &self.instance,
            to,
        }
    }

    /// Sends a stanza of transfer `id` to `to` over the chat stream (opening one if
    /// needed); if it cannot be delivered, the transfer fails.
    fn send_transfer_stanza(&mut self, ctx: &mut Context<'_>, to: &str, id: &str, xml: String) {
        let message = Outbound {
            to: to.to_owned(),
            id: id.to_owned(),
            payload: Payload::Stanza(xml),
            retried: false,
        };
        self.send(ctx, message);
    }

    /// Answers the peer's IQ `iq_id` with an error (the answer belongs to no transfer).
    fn refuse_iq(
        &mut self,
        ctx: &mut Context<'_>,
        peer: &str,
        iq_id: &str,
        refusal: Refusal,
        text: Option<&str>,
    ) {
        let mut xml = String::new();
        si::write_refusal(&mut xml, self.address(iq_id, peer), refusal, text);
        self.send_transfer_stanza(ctx, peer, "", xml);
    }

    /// A stanza of transfer `id` could not be delivered.
    pub(super) fn transfer_stanza_lost(&mut self, id: &str, reason: &str) {
        // Without a context nothing can be closed here: the transfer is ended at its next
        // timeout, now.
        if let Some(t) = self.transfers.list.get_mut(id) {
            tracing::info!(%id, %reason, "a stanza of a transfer was not delivered");
            t.deadline = Instant::now();
            t.failure = Some(format!("cannot reach {}: {reason}", t.peer));
        }
    }

    /// `send_file`: offers `path` to `to`.
    pub(super) fn send_file(
        &mut self,
        ctx: &mut Context<'_>,
        to: String,
        path: PathBuf,
        id: String,
        method: Option<Method>,
    ) {
        let failed = |node: &mut Node, reason: String| {
            node.emit(NodeEvent::FileFailed {
                id: id.clone(),
                reason,
            });
        };
        if self.quitting {
            return failed(self, "quitting".into());
        }
        if self.transfers.list.contains_key(&id) {
            return failed(self, format!("the id {id} is already a transfer's"));
        }
        if self.transfers.list.len() >= self.transfers.config.max_transfers {
            return failed(
                self,
                format!(
                    "{} transfers already (the limit)",
                    self.transfers.list.len()
                ),
            );
        }
        if self.roster.get(&to).is_none() {
            return failed(self, format!("{to} is not on the link"));
        }
        let (file, size) = match File::open(&path).and_then(|f| {
            let meta = f.metadata()?;
            if !meta.is_file() {
                return Err(io::Error::other("not a regular file"));
            }
            Ok((f, meta.len()))
        }) {
            Ok(opened) => opened,
            Err(e) => return failed(self, format!("cannot read {}: {e}", path.display())),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        self.transfers.next += 1;
        // Unique across runs too: a peer may still know an offer of our last run.
        let sid = format!(
            "llxmpp-{}-{:x}",
            self.transfers.next,
            self.seed
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64)
        );
        let method = method.unwrap_or_else(|| self.method_for(&to));
        let mut xml = String::new();
        let admit = match method {
            Method::Si => {
                let offer = FileOffer {
                    sid: sid.clone(),
                    name: name.clone(),
                    size,
                    mime_type: None,
                    description: None,
                    methods: vec![ns::BYTESTREAMS.into()],
                };
                // The offer's IQ id is its SID, as libpurple does: its refusal names the
                // SID.
                si::write_offer(&mut xml, self.address(&sid, &to), &offer);
                Admit::Socks5(stream_hash(&sid, &self.instance, &to))
            }
            Method::Oob => {
                // Served on our XMPP port, at an address of ours on the peer's link, under
                // a path nobody can guess (the stream id holds 64 random bits).
                let Some(host) = self.our_address_for(&to) else {
                    return failed(self, format!("no address of ours is on {to}'s link"));
                };
                let url_path = format!("/{sid}/{}", si::url_segment(&name));
                let url = format!("http://{}{url_path}", SocketAddr::new(host, self.port));
                si::write_oob_offer(&mut xml, self.address(&sid, &to), &url, size, None);
                Admit::Http(url_path)
            }
        };
        let now = ctx.now();
        self.transfers.list.insert(
            id.clone(),
            Transfer {
                peer: to.clone(),
                sid: sid.clone(),
                offer_iq: sid,
                name,
                size,
                side: Side::Send { path, file, admit },
                step: Step::Offered,
                deadline: now + OFFER_TIMEOUT,
                bytes: 0,
                hasher: Sha256::new(),
                last_progress: now,
                conn: None,
                failure: None,
            },
        );
        self.send_transfer_stanza(ctx, &to, &id, xml);
    }

    /// How to offer a file to `peer`, by what its TXT says it is: SI for libpurple
    /// (`node=libpurple`), Gajim and llxmpp, whose caps name them; OOB for the others
    /// (iChat and Adium publish no caps node; telepathy-salut names itself and speaks OOB).
    fn method_for(&self, peer: &str) -> Method {
        let node = self
            .roster
            .get(peer)
            .and_then(|p| p.presence.caps.node.clone())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if ["libpurple", "gajim", "llxmpp", "pidgin"]
            .iter()
            .any(|known| node.contains(known))
        {
            Method::Si
        } else {
            Method::Oob
        }
    }

    /// An address of ours on a link where `peer` is (IPv4 first: it needs no zone).
    fn our_address_for(&self, peer: &str) -> Option<IpAddr> {
        let links: Vec<u32> = self
            .roster
            .get(peer)
            .map(|p| p.addresses.iter().map(|a| a.interface).collect())
            .unwrap_or_default();
        let mut ours: Vec<IpAddr> = self
            .addresses
            .iter()
            .filter(|a| links.contains(&a.interface))
            .map(|a| a.ip)
            .collect();
        ours.sort_by_key(|ip| ip.is_ipv6());
        ours.into_iter().next()
    }

    /// `accept`: takes a peer's offer, saving into `dir` (else the downloads folder).
    pub(super) fn accept_file(&mut self, ctx: &mut Context<'_>, id: &str, dir: Option<PathBuf>) {
        let downloads = self.transfers.config.downloads.clone();
        let Some(t) = self.transfers.list.get_mut(id) else {
            return self.emit(NodeEvent::Error(format!("no file offer {id}")));
        };
        let Side::Receive {
            dir: chosen,
            partial,
            oob,
            ..
        } = &mut t.side
        else {
            return self.emit(NodeEvent::Error(format!("{id} is our own offer")));
        };
        if t.step != Step::Offered {
            return self.emit(NodeEvent::Error(format!("{id} is already accepted")));
        }
        let dir = dir.unwrap_or(downloads);
        let opened = std::fs::create_dir_all(&dir).and_then(|()| create_partial(&dir, &t.name));
        let (peer, offer_iq) = (t.peer.clone(), t.offer_iq.clone());
        let file = match opened {
            Ok(file) => file,
            Err(e) => {
                // The sender is told we decline (fail_transfer answers the offer).
                let reason = format!("cannot save into {}: {e}", dir.display());
                return self.fail_transfer(ctx, id, reason);
            }
        };
        *partial = Some(file);
        *chosen = Some(dir);
        t.step = Step::Connecting;
        t.deadline = ctx.now() + CONNECT_TIMEOUT;
        match oob.as_ref().map(|(remote, _, _)| *remote) {
            // OOB: accepting is fetching the URL.
            Some(remote) => {
                let learned_on = self
                    .roster
                    .get(&peer)
                    .and_then(|p| p.addresses.iter().find(|a| a.ip == remote.ip()))
                    .map_or(0, |a| a.interface);
                let options = self.connect_options(remote, learned_on);
                match ctx.connect(remote, options) {
                    Ok(conn) => {
                        self.transfers.conns.insert(conn, id.to_owned());
                        if let Some(t) = self.transfers.list.get_mut(id) {
                            t.conn = Some(conn);
                        }
                    }
                    Err(e) => self.fail_transfer(ctx, id, format!("cannot fetch the file: {e}")),
                }
            }
            None => {
                let mut xml = String::new();
                si::write_accept(&mut xml, self.address(&offer_iq, &peer), ns::BYTESTREAMS);
                self.send_transfer_stanza(ctx, &peer, id, xml);
            }
        }
    }

    /// `reject`: declines a peer's offer.
    pub(super) fn reject_file(&mut self, ctx: &mut Context<'_>, id: &str) {
        match self.transfers.list.get(id) {
            Some(t) if matches!(t.side, Side::Receive { .. }) && t.step == Step::Offered => {
                self.fail_transfer(ctx, id, "rejected".into());
            }
            Some(_) => self.emit(NodeEvent::Error(format!(
                "{id} is not an offer waiting for an answer (cancel it instead)"
            ))),
            None => self.emit(NodeEvent::Error(format!("no file offer {id}"))),
        }
    }

    /// `cancel`: ends a transfer, either way, at any step.
    pub(super) fn cancel_file(&mut self, ctx: &mut Context<'_>, id: &str) {
        if self.transfers.list.contains_key(id) {
            self.fail_transfer(ctx, id, "cancelled".into());
        } else {
            self.emit(NodeEvent::Error(format!("no transfer {id}")));
        }
    }

    /// Ends a transfer as failed: its connection reset, its partial file removed, the
    /// peer told where the protocol has a word for it (an offer we never answered gets
    /// our refusal), and `file_failed`.
    pub(super) fn fail_transfer(&mut self, ctx: &mut Context<'_>, id: &str, reason: String) {
        let Some(t) = self.transfers.list.remove(id) else {
            return;
        };
        tracing::info!(%id, peer = %t.peer, %reason, "file transfer failed");
        if let Some(conn) = t.conn {
            self.transfers.conns.remove(&conn);
            ctx.abort(conn);
        }
        if let Side::Receive {
            partial,
            hosts_iq,
            oob,
            ..
        } = &t.side
        {
            if let Some((_, path)) = partial {
                let _ = std::fs::remove_file(path);
            }
            let answer = match (t.step, hosts_iq, oob) {
                (Step::Offered, _, _) => Some((t.offer_iq.as_str(), Refusal::Declined)),
                (Step::Connecting, Some(iq), None) => Some((iq.as_str(), Refusal::NotFound)),
                // An OOB offer is answered at the end, whatever it is: the sender may
                // then stop serving.
                (_, _, Some(_)) => Some((t.offer_iq.as_str(), Refusal::NotFound)),
                _ => None,
            };
            if let Some((iq, refusal)) = answer {
                self.refuse_iq(ctx, &t.peer, iq, refusal, None);
            }
        }
        self.emit(NodeEvent::FileFailed {
            id: id.to_owned(),
            reason,
        });
    }

    /// An IQ from `peer` that the session handed up.
    pub(super) fn on_transfer_iq(
        &mut self,
        ctx: &mut Context<'_>,
        peer: &str,
        iq: Iq,
        stanza: OwnedStanza,
    ) {
        let parsed = match TransferIq::parse(&stanza) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return,
            Err(e) => {
                if iq.kind == llxmpp_framer::IqType::Set {
                    tracing::info!(%peer, %e, "an unreadable transfer IQ");
                    let why = e.to_string();
                    self.refuse_iq(ctx, peer, &iq.id, Refusal::BadRequest, Some(&why));
                }
                return;
            }
        };
        tracing::debug!(%peer, ?parsed, "a file-transfer IQ");
        match parsed {
            TransferIq::Offer { id, offer } => self.on_offer(ctx, peer, id, offer),
            TransferIq::OobOffer { id, url, size, .. } => {
                self.on_oob_offer(ctx, peer, id, url, size)
            }
            TransferIq::Accepted { id, method } => {
                let found = self.find(peer, |t| {
                    t.offer_iq == id
                        && t.step == Step::Offered
                        && matches!(
                            t.side,
                            Side::Send {
                                admit: Admit::Socks5(_),
                                ..
                            }
                        )
                });
                let Some(tid) = found else {
                    return self.refuse_iq(ctx, peer, &id, Refusal::NotFound, None);
                };
                if method != ns::BYTESTREAMS {
                    return self.fail_transfer(
                        ctx,
                        &tid,
                        format!("{peer} chose a stream method we do not offer: {method}"),
                    );
                }
                self.offer_stream_hosts(ctx, &tid);
            }
            TransferIq::StreamHosts { id, sid, hosts } => {
                let found = self.find(peer, |t| {
                    t.sid == sid
                        && t.step == Step::Connecting
                        && matches!(t.side, Side::Receive { trying: None, .. })
                });
                let Some(tid) = found else {
                    return self.refuse_iq(ctx, peer, &id, Refusal::NotFound, None);
                };
                // Only the peer's own addresses: a streamhost elsewhere would have us
                // connect wherever an offer says (libpurple lists its addresses, and
                // an unscoped link-local one takes its zone from where we learned it).
                let known: Vec<(IpAddr, u32)> = self
                    .roster
                    .get(peer)
                    .map(|p| p.addresses.iter().map(|a| (a.ip, a.interface)).collect())
                    .unwrap_or_default();
                let usable: Vec<(SocketAddr, u32, String)> = hosts
                    .iter()
                    .filter_map(|h| {
                        let address = h.address(|v6| {
                            known
                                .iter()
                                .find(|(ip, _)| *ip == IpAddr::V6(v6))
                                .map(|(_, i)| *i)
                        })?;
                        let learned_on = known.iter().find(|(ip, _)| *ip == address.ip())?.1;
                        Some((address, learned_on, h.jid.clone()))
                    })
                    .collect();
                if let Some(t) = self.transfers.list.get_mut(&tid) {
                    t.deadline = ctx.now() + CONNECT_TIMEOUT;
                    if let Side::Receive {
                        hosts_iq,
                        hosts: list,
                        last_error,
                        ..
                    } = &mut t.side
                    {
                        *hosts_iq = Some(id);
                        *list = usable;
                        if list.is_empty() {
                            *last_error = format!(
                                "none of the {} streamhosts is at an address of {peer}",
                                hosts.len()
                            );
                        }
                    }
                }
                self.try_next_stream_host(ctx, &tid);
            }
            TransferIq::Error { id, error } => {
                // libpurple refuses with the SID as the id.
                let found = self.find(peer, |t| t.offer_iq == id || t.sid == id);
                if let Some(tid) = found {
                    let step = self.transfers.list.get(&tid).map(|t| t.step);
                    let reason = match step {
                        Some(Step::Offered) => format!("{peer} refused the offer ({error})"),
                        _ => format!("{peer} gave up ({error})"),
                    };
                    self.fail_transfer(ctx, &tid, reason);
                }
            }
            // The answer to our OOB offer: the receiver is done with the URL, fetched or
            // not (iChat answers a result even when it failed).
            TransferIq::Result { id } => {
                let found = self.find(peer, |t| {
                    t.offer_iq == id
                        && matches!(
                            t.side,
                            Side::Send {
                                admit: Admit::Http(_),
                                ..
                            }
                        )
                });
                let Some(tid) = found else { return };
                match self
                    .transfers
                    .list
                    .get(&tid)
                    .map(|t| (t.step, t.conn, t.size))
                {
                    Some((Step::Draining, conn, size))
                        if conn.is_none() || every_byte_taken(ctx, conn, size) =>
                    {
                        self.finish_send(ctx, &tid);
                    }
                    Some((Step::Offered, _, _)) => {
                        self.fail_transfer(
                            ctx,
                            &tid,
                            format!("{peer} answered without fetching the file"),
                        );
                    }
                    _ => {}
                }
            }
            // `streamhost-used`: the data already flows (libpurple ignores it as sender
            // too).
            TransferIq::StreamHostUsed { .. } => {}
        }
    }

    /// The transfer with `peer` for which `matches` holds.
    fn find(&self, peer: &str, matches: impl Fn(&Transfer) -> bool) -> Option<String> {
        self.transfers
            .list
            .iter()
            .find(|(_, t)| t.peer == peer && matches(t))
            .map(|(id, _)| id.clone())
    }

    fn on_offer(&mut self, ctx: &mut Context<'_>, peer: &str, iq_id: String, offer: FileOffer) {
        let refusal = (!offer.methods.iter().any(|m| m == ns::BYTESTREAMS)).then(|| {
            format!(
                "no stream method we take is offered ({})",
                offer.methods.join(", ")
            )
        });
        let incoming = Incoming {
            iq_id,
            sid: offer.sid,
            name: offer.name,
            size: offer.size,
            oob: None,
        };
        self.offered(ctx, peer, incoming, refusal);
    }

    /// An OOB offer (iChat's way): the file is at `url`, which must be plain HTTP to an
    /// address the peer has (anything else could have us fetch from a third host).
    fn on_oob_offer(
        &mut self,
        ctx: &mut Context<'_>,
        peer: &str,
        iq_id: String,
        url: String,
        size: Option<u64>,
    ) {
        let parsed = si::http_url(&url);
        let name = parsed
            .as_ref()
            .map(|(_, path)| si::url_file_name(path))
            .unwrap_or_default();
        let at_peer = parsed.as_ref().is_some_and(|(remote, _)| {
            self.roster
                .get(peer)
                .is_some_and(|p| p.addresses.iter().any(|a| a.ip == remote.ip()))
        });
        let refusal = match &parsed {
            None => Some(format!("not a plain HTTP URL at an address: {url}")),
            Some((remote, _)) if !at_peer => Some(format!(
                "the URL is at {}, not an address of {peer}",
                remote.ip()
            )),
            Some(_) => None,
        };
        let incoming = Incoming {
            sid: iq_id.clone(),
            iq_id,
            name,
            size: size.unwrap_or(0),
            oob: parsed.map(|(remote, path)| (remote, path, Some(ResponseReader::new()))),
        };
        self.offered(ctx, peer, incoming, refusal);
    }

    /// A peer's offer, of either kind: `file_offer`, then at once `file_failed` if it is
    /// refused (`refusal`, or a limit), else it waits for our user.
    fn offered(
        &mut self,
        ctx: &mut Context<'_>,
        peer: &str,
        offer: Incoming,
        refusal: Option<String>,
    ) {
        self.transfers.next += 1;
        let id = format!("r{}", self.transfers.next);
        let name = safe_file_name(&offer.name);
        let now = ctx.now();
        self.emit(NodeEvent::FileOffer {
            id: id.clone(),
            from: peer.to_owned(),
            name: name.clone(),
            size: offer.size,
            method: match offer.oob {
                Some(_) => Method::Oob,
                None => Method::Si,
            }
            .name()
            .into(),
        });
        let limits = &self.transfers.config;
        let refusal = refusal.or_else(|| {
            if self.transfers.list.len() >= limits.max_transfers {
                Some(format!(
                    "{} transfers already (the limit)",
                    self.transfers.list.len()
                ))
            } else if limits.max_file_size.is_some_and(|max| offer.size > max) {
                Some(format!(
                    "larger than the limit of {} bytes",
                    limits.max_file_size.unwrap_or_default()
                ))
            } else {
                None
            }
        });
        self.transfers.list.insert(
            id.clone(),
            Transfer {
                peer: peer.to_owned(),
                sid: offer.sid,
                offer_iq: offer.iq_id,
                name,
                size: offer.size,
                side: Side::Receive {
                    dir: None,
                    partial: None,
                    hosts_iq: None,
                    hosts: Vec::new(),
                    trying: None,
                    last_error: String::new(),
                    oob: offer.oob,
                },
                step: Step::Offered,
                deadline: now + OFFER_TIMEOUT,
                bytes: 0,
                hasher: Sha256::new(),
                last_progress: now,
                conn: None,
                failure: None,
            },
        );
        if let Some(reason) = refusal {
            self.fail_transfer(ctx, &id, reason);
        }
    }

    /// Our offer was accepted: our streamhosts go to the peer, and we wait for its
    /// SOCKS5 connection to our listening port.
    fn offer_stream_hosts(&mut self, ctx: &mut Context<'_>, id: &str) {
        let Some(t) = self.transfers.list.get(id) else {
            return;
        };
        let peer = t.peer.clone();
        let sid = t.sid.clone();
        // Our addresses on the links where the peer is; loopback only for a peer there.
        let links: Vec<u32> = self
            .roster
            .get(&peer)
            .map(|p| p.addresses.iter().map(|a| a.interface).collect())
            .unwrap_or_default();
        let mut hosts: Vec<SocketAddr> = self
            .addresses
            .iter()
            .filter(|a| links.contains(&a.interface))
            .map(|a| SocketAddr::new(a.ip, self.port))
            .collect();
        if hosts.is_empty() {
            hosts = self
                .addresses
                .iter()
                .map(|a| SocketAddr::new(a.ip, self.port))
                .collect();
        }
        hosts.sort_by_key(|h| h.is_ipv6());
        let iq_id = format!("{sid}-hosts");
        let mut xml = String::new();
        si::write_stream_hosts(&mut xml, self.address(&iq_id, &peer), &sid, &hosts);
        if let Some(t) = self.transfers.list.get_mut(id) {
            t.step = Step::Connecting;
            t.deadline = ctx.now() + CONNECT_TIMEOUT;
        }
        self.send_transfer_stanza(ctx, &peer, id, xml);
    }

    /// Connects to the next streamhost of a transfer we receive; with none left, the
    /// sender is told and the transfer fails.
    fn try_next_stream_host(&mut self, ctx: &mut Context<'_>, id: &str) {
        loop {
            let Some(t) = self.transfers.list.get_mut(id) else {
                return;
            };
            let hash = stream_hash(&t.sid, &t.peer, &self.instance);
            let Side::Receive {
                hosts, last_error, ..
            } = &mut t.side
            else {
                return;
            };
            if hosts.is_empty() {
                let reason = format!(
                    "could connect to no streamhost of {} ({last_error})",
                    t.peer
                );
                return self.fail_transfer(ctx, id, reason);
            }
            let (remote, learned_on, jid) = hosts.remove(0);
            let attempt = Socks5Client::new(&hash)
                .map_err(|e| e.to_string())
                .and_then(|client| {
                    let options = self.connect_options(remote, learned_on);
                    let conn = ctx
                        .connect(remote, options)
                        .map_err(|e| format!("{remote}: {e}"))?;
                    Ok((client, conn))
                });
            let Some(t) = self.transfers.list.get_mut(id) else {
                return;
            };
            let Side::Receive {
                trying, last_error, ..
            } = &mut t.side
            else {
                return;
            };
            match attempt {
                Ok((client, conn)) => {
                    *trying = Some((jid, client));
                    t.conn = Some(conn);
                    self.transfers.conns.insert(conn, id.to_owned());
                    return;
                }
                Err(e) => *last_error = e,
            }
        }
    }

    /// An accepted connection began with SOCKS5 or HTTP: the receiver of one of our
    /// offers.
    pub(super) fn transfer_knock(
        &mut self,
        ctx: &mut Context<'_>,
        conn: ConnectionId,
        remote: IpAddr,
        data: &[u8],
    ) {
        let knock = if data.first() == Some(&5) {
            // The streams this address may ask for: our accepted offers to the peers there.
            let hashes: Vec<String> = self
                .waiting_for(remote, Step::Connecting)
                .filter_map(|(_, t)| match &t.side {
                    Side::Send {
                        admit: Admit::Socks5(hash),
                        ..
                    } => Some(hash.clone()),
                    _ => None,
                })
                .collect();
            Knock::Socks5 {
                server: Socks5Server::admitting(hashes.iter().map(String::as_str)),
                remote,
            }
        } else {
            Knock::Http {
                reader: RequestReader::new(),
                remote,
            }
        };
        self.transfers.knocks.insert(conn, knock);
        self.transfer_knock_data(ctx, conn, data);
    }

    /// Our transfers at `step`, not yet connected, to a peer at `remote`.
    fn waiting_for(
        &self,
        remote: IpAddr,
        step: Step,
    ) -> impl Iterator<Item = (&String, &Transfer)> {
        self.transfers.list.iter().filter(move |(_, t)| {
            t.step == step
                && t.conn.is_none()
                && self
                    .roster
                    .get(&t.peer)
                    .is_some_and(|p| p.addresses.iter().any(|a| a.ip == remote))
        })
    }

    fn transfer_knock_data(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, data: &[u8]) {
        let Some(knock) = self.transfers.knocks.get_mut(&conn) else {
            return;
        };
        // The transfer the connection is for, once it has said which, and the bytes of
        // `data` that came after its request.
        let found: Result<Option<(String, usize)>, String> = match knock {
            Knock::Socks5 { server, remote } => {
                let progress = server.handle_input(data);
                let reply = server.take_transmit();
                if !reply.is_empty() {
                    let _ = ctx.write(conn, &reply);
                }
                match progress {
                    Ok(Progress::Pending) => return,
                    Ok(Progress::Established(established)) => {
                        let admitted = server.admitted().map(str::to_owned);
                        let remote = *remote;
                        Ok(self
                            .waiting_for(remote, Step::Connecting)
                            .find(|(_, t)| {
                                matches!(&t.side, Side::Send { admit: Admit::Socks5(hash), .. } if Some(hash) == admitted.as_ref())
                            })
                            .map(|(id, _)| (id.clone(), established.consumed)))
                    }
                    Err(e) => Err(format!("refused a SOCKS5 connection from {remote}: {e}")),
                }
            }
            Knock::Http { reader, remote } => match reader.handle_input(data) {
                Ok(None) => return,
                Ok(Some(request)) => {
                    let remote = *remote;
                    let found = self
                        .waiting_for(remote, Step::Offered)
                        .find(|(_, t)| {
                            matches!(&t.side, Side::Send { admit: Admit::Http(path), .. } if *path == request.path)
                        })
                        .map(|(id, t)| (id.clone(), t.size));
                    match found {
                        Some((id, size)) => {
                            let _ = ctx.write(conn, &ok_head(size, "application/octet-stream"));
                            if request.head_only {
                                // HEAD: the size, and the offer stays as it was.
                                self.transfers.knocks.remove(&conn);
                                ctx.close(conn);
                                return;
                            }
                            Ok(Some((id, request.consumed)))
                        }
                        None => {
                            let _ = ctx.write(conn, &error_head(404));
                            Err(format!(
                                "{remote} asked for {} (not a file we offered it)",
                                request.path
                            ))
                        }
                    }
                }
                Err(e) => {
                    let _ = ctx.write(conn, &error_head(e.status().unwrap_or(400)));
                    Err(format!("refused an HTTP request: {e}"))
                }
            },
        };
        self.transfers.knocks.remove(&conn);
        let id = match found {
            Ok(Some((id, _))) => id,
            Ok(None) => {
                ctx.abort(conn);
                return;
            }
            Err(why) => {
                // Not a file of ours (a guess, another host): refused, and no transfer is
                // touched.
                tracing::info!(%why, "refused a file request");
                ctx.close(conn);
                return;
            }
        };
        if let Some(t) = self.transfers.list.get_mut(&id) {
            t.conn = Some(conn);
            t.step = Step::Moving;
            t.deadline = ctx.now() + STALL_TIMEOUT;
            t.last_progress = ctx.now();
        }
        self.transfers.conns.insert(conn, id.clone());
        tracing::debug!(%id, ?conn, "the receiver connected; sending");
        self.pump_file(ctx, &id);
    }

    /// Writes the file into its bytestream until the connection pushes back; after the
    /// last byte, shuts our side (libpurple reads to our end when the size is 0).
    fn pump_file(&mut self, ctx: &mut Context<'_>, id: &str) {
        let mut buffer = std::mem::take(&mut self.transfers.buffer);
        buffer.resize(CHUNK, 0);
        let mut chunks = 0;
        let outcome = loop {
            let Some(t) = self.transfers.list.get_mut(id) else {
                break Ok(());
            };
            let (Some(conn), Side::Send { file, .. }) = (t.conn, &mut t.side) else {
                break Ok(());
            };
            if t.step != Step::Moving {
                break Ok(());
            }
            if chunks == CHUNKS_PER_TURN && t.bytes < t.size {
                if !self.transfers.pump_again.iter().any(|p| p == id) {
                    self.transfers.pump_again.push(id.to_owned());
                }
                self.transfers.pump_at.get_or_insert(ctx.now());
                break Ok(());
            }
            chunks += 1;
            if t.bytes >= t.size {
                tracing::debug!(%id, bytes = t.bytes, "every byte written; our side shut");
                ctx.shutdown_write(conn);
                t.step = Step::Draining;
                t.deadline = ctx.now() + STALL_TIMEOUT;
                break Ok(());
            }
            let want = CHUNK.min((t.size - t.bytes) as usize);
            let n = match file.read(&mut buffer[..want]) {
                Ok(0) => {
                    break Err(format!(
                    "the file is shorter than announced: {} of {} bytes (changed while sending)",
                    t.bytes, t.size
                ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(format!("cannot read the file: {e}")),
            };
            t.hasher.update(&buffer[..n]);
            t.bytes += n as u64;
            // Bytes leave: not stalled. A receiver that stops reading stops this (the
            // queue pushes back), and the deadline then comes.
            t.deadline = ctx.now() + STALL_TIMEOUT;
            match ctx.write(conn, &buffer[..n]) {
                Ok(WriteState::Accepted) => {}
                Ok(WriteState::Backpressure) => break Ok(()),
                Err(e) => break Err(format!("cannot write to the bytestream: {e}")),
            }
        };
        self.transfers.buffer = buffer;
        match outcome {
            Ok(()) => self.report_progress(ctx, id),
            Err(reason) => self.fail_transfer(ctx, id, reason),
        }
    }

    fn report_progress(&mut self, ctx: &mut Context<'_>, id: &str) {
        let now = ctx.now();
        let Some(t) = self.transfers.list.get_mut(id) else {
            return;
        };
        if now.saturating_duration_since(t.last_progress) < PROGRESS_EVERY {
            return;
        }
        t.last_progress = now;
        let (bytes, total) = (t.bytes, t.size);
        self.emit(NodeEvent::FileProgress {
            id: id.to_owned(),
            bytes,
            total,
        });
    }

    pub(super) fn transfer_connected(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        let Some(id) = self.transfers.conns.get(&conn).cloned() else {
            return;
        };
        if let Some(Transfer {
            side:
                Side::Receive {
                    trying: Some((_, client)),
                    ..
                },
            ..
        }) = self.transfers.list.get_mut(&id)
        {
            let greeting = client.take_transmit();
            if let Err(e) = ctx.write(conn, &greeting) {
                let reason = format!("cannot write to the streamhost: {e}");
                self.stream_host_failed(ctx, &id, conn, reason);
            }
        } else if let Some(Transfer {
            side:
                Side::Receive {
                    oob: Some((remote, path, Some(_))),
                    ..
                },
            ..
        }) = self.transfers.list.get(&id)
        {
            let head = request_head(&remote.to_string(), path);
            if let Err(e) = ctx.write(conn, &head) {
                self.fail_transfer(ctx, &id, format!("cannot ask for the file: {e}"));
            }
        }
    }

    /// The streamhost we tried did not work: the next one.
    fn stream_host_failed(
        &mut self,
        ctx: &mut Context<'_>,
        id: &str,
        conn: ConnectionId,
        reason: String,
    ) {
        self.transfers.conns.remove(&conn);
        ctx.abort(conn);
        if let Some(t) = self.transfers.list.get_mut(id) {
            t.conn = None;
            if let Side::Receive {
                trying, last_error, ..
            } = &mut t.side
            {
                *trying = None;
                *last_error = reason;
            }
        }
        self.try_next_stream_host(ctx, id);
    }

    pub(super) fn transfer_data(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, data: &[u8]) {
        if self.transfers.knocks.contains_key(&conn) {
            return self.transfer_knock_data(ctx, conn, data);
        }
        let Some(id) = self.transfers.conns.get(&conn).cloned() else {
            return;
        };
        let Some(t) = self.transfers.list.get_mut(&id) else {
            return;
        };
        let mut data = data;
        if let Side::Receive {
            oob: Some((_, _, reader @ Some(_))),
            ..
        } = &mut t.side
        {
            let Some(head) = reader.as_mut() else {
                return;
            };
            match head.handle_input(data) {
                Ok(None) => return,
                Ok(Some(response)) => {
                    *reader = None;
                    let length = response.content_length;
                    let refusal = if t.size != 0 && length != t.size {
                        Some(format!(
                            "{} announced {} bytes and serves {length}",
                            t.peer, t.size
                        ))
                    } else if self
                        .transfers
                        .config
                        .max_file_size
                        .is_some_and(|max| length > max)
                    {
                        Some(format!("{length} bytes: larger than the limit"))
                    } else {
                        None
                    };
                    if let Some(reason) = refusal {
                        return self.fail_transfer(ctx, &id, reason);
                    }
                    t.size = length;
                    t.step = Step::Moving;
                    t.deadline = ctx.now() + STALL_TIMEOUT;
                    t.last_progress = ctx.now();
                    data = &data[response.consumed..];
                }
                Err(e) => return self.fail_transfer(ctx, &id, format!("fetching the file: {e}")),
            }
        } else if let Side::Receive {
            trying: trying @ Some(_),
            hosts_iq,
            ..
        } = &mut t.side
        {
            let Some((jid, client)) = trying.as_mut() else {
                return;
            };
            match client.handle_input(data) {
                Ok(Progress::Pending) => {
                    let more = client.take_transmit();
                    if !more.is_empty() {
                        let _ = ctx.write(conn, &more);
                    }
                    return;
                }
                Ok(Progress::Established(established)) => {
                    let jid = jid.clone();
                    let hosts_iq = hosts_iq.clone().unwrap_or_default();
                    *trying = None;
                    t.step = Step::Moving;
                    t.deadline = ctx.now() + STALL_TIMEOUT;
                    t.last_progress = ctx.now();
                    data = &data[established.consumed..];
                    let peer = t.peer.clone();
                    let mut xml = String::new();
                    si::write_stream_host_used(&mut xml, self.address(&hosts_iq, &peer), &jid);
                    self.send_transfer_stanza(ctx, &peer, &id, xml);
                }
                Err(e) => {
                    let reason = format!(
                        "{}: {e}",
                        ctx.peer(conn).map(|p| p.to_string()).unwrap_or_default()
                    );
                    return self.stream_host_failed(ctx, &id, conn, reason);
                }
            }
        }
        self.receive_bytes(ctx, &id, data);
    }

    /// File bytes of a transfer we receive: into the partial file, up to the announced
    /// size (an announced 0 is an empty file: libpurple's "unknown").
    fn receive_bytes(&mut self, ctx: &mut Context<'_>, id: &str, data: &[u8]) {
        let Some(t) = self.transfers.list.get_mut(id) else {
            return;
        };
        let Side::Receive {
            partial: Some((file, _)),
            ..
        } = &mut t.side
        else {
            return;
        };
        if t.step != Step::Moving {
            return;
        }
        let room = t.size - t.bytes;
        if data.len() as u64 > room {
            let reason = format!("{} sent more than the {} bytes announced", t.peer, t.size);
            return self.fail_transfer(ctx, id, reason);
        }
        if let Err(e) = file.write_all(data) {
            let reason = format!("cannot write the file: {e}");
            return self.fail_transfer(ctx, id, reason);
        }
        t.hasher.update(data);
        t.bytes += data.len() as u64;
        t.deadline = ctx.now() + STALL_TIMEOUT;
        if t.bytes == t.size {
            self.finish_receive(ctx, id);
        } else {
            self.report_progress(ctx, id);
        }
    }

    /// Every announced byte is in: the file closed and given a free name, then the
    /// bytestream closed, which tells the sender (libpurple waits for the receiver to
    /// close first) that the file is saved; `file_done`. A file that cannot be saved
    /// resets the bytestream: the sender fails too.
    fn finish_receive(&mut self, ctx: &mut Context<'_>, id: &str) {
        let Some(t) = self.transfers.list.remove(id) else {
            return;
        };
        let Side::Receive {
            dir: Some(dir),
            partial: Some((file, partial)),
            oob,
            ..
        } = t.side
        else {
            return;
        };
        // Not synced to the disk first: as libpurple, browsers and `cp` do not; a sync
        // made the end of a 1 GiB transfer wait for the disk's writeback (seconds), and
        // a power cut is the only case it covers.
        drop(file);
        let saved = settle(&dir, &t.name, &partial);
        if oob.is_some() {
            // The sender of an OOB offer learns from our answer that it may stop serving.
            if saved.is_ok() {
                let mut xml = String::new();
                si::write_result(&mut xml, self.address(&t.offer_iq, &t.peer));
                self.send_transfer_stanza(ctx, &t.peer, "", xml);
            } else {
                self.refuse_iq(ctx, &t.peer, &t.offer_iq, Refusal::NotFound, None);
            }
        }
        if let Some(conn) = t.conn {
            self.transfers.conns.remove(&conn);
            match saved {
                Ok(_) => ctx.close(conn),
                Err(_) => ctx.abort(conn),
            }
        }
        match saved {
            Ok(path) => self.emit(NodeEvent::FileDone {
                id: id.to_owned(),
                path: path.display().to_string(),
                bytes: t.bytes,
                sha256: hex(&t.hasher.finalize()),
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                self.emit(NodeEvent::FileFailed {
                    id: id.to_owned(),
                    reason: format!("cannot save the file: {e}"),
                });
            }
        }
    }

    pub(super) fn transfer_writable(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        if let Some(id) = self.transfers.conns.get(&conn).cloned() {
            self.pump_file(ctx, &id);
        }
    }

    /// The other side shut its sending side (or the connection ended).
    pub(super) fn transfer_closed(
        &mut self,
        ctx: &mut Context<'_>,
        conn: ConnectionId,
        why: Option<String>,
    ) {
        if self.transfers.knocks.remove(&conn).is_some() {
            return;
        }
        let Some(id) = self.transfers.conns.remove(&conn) else {
            return;
        };
        let Some(t) = self.transfers.list.get_mut(&id) else {
            return;
        };
        tracing::debug!(%id, ?conn, step = ?t.step, ?why, "the bytestream closed");
        t.conn = None;
        match (&t.side, t.step) {
            (
                Side::Receive {
                    trying: Some(_), ..
                },
                _,
            ) => {
                let reason = why.unwrap_or_else(|| "closed during the SOCKS5 handshake".into());
                self.stream_host_failed(ctx, &id, conn, reason);
            }
            (Side::Send { .. }, Step::Draining) => match why {
                // The receiver closed after our last byte, as it does once the file is
                // saved (the loop's queue is flushed before it shuts our side).
                None => self.finish_send(ctx, &id),
                // A reset is no "saved", even when its TCP had acknowledged every byte:
                // a receiver whose disk filled, or that crashed, resets the same way.
                Some(why) => {
                    let reason = format!(
                        "the receiver reset the bytestream after our last byte ({why}): it did not say it saved the file"
                    );
                    self.fail_transfer(ctx, &id, reason);
                }
            },
            _ => {
                let reason = format!(
                    "the bytestream closed after {} of {} bytes{}",
                    t.bytes,
                    t.size,
                    why.map(|w| format!(" ({w})")).unwrap_or_default()
                );
                self.fail_transfer(ctx, &id, reason);
            }
        }
    }

    /// Our file is with the receiver: its bytestream, if still open, is closed, and
    /// `file_done`.
    fn finish_send(&mut self, ctx: &mut Context<'_>, id: &str) {
        let Some(t) = self.transfers.list.remove(id) else {
            return;
        };
        if let Some(conn) = t.conn {
            self.transfers.conns.remove(&conn);
            ctx.close(conn);
        }
        let Side::Send { path, .. } = t.side else {
            return;
        };
        self.emit(NodeEvent::FileDone {
            id: id.to_owned(),
            path: path.display().to_string(),
            bytes: t.bytes,
            sha256: hex(&t.hasher.finalize()),
        });
    }

    /// Transfers past their deadline: an offer unanswered, a bytestream that never came
    /// or stopped moving. A sender whose receiver does not close, though its TCP has
    /// every byte, is done.
    pub(super) fn transfer_timeouts(&mut self, ctx: &mut Context<'_>) {
        self.transfers.pump_at = None;
        for id in std::mem::take(&mut self.transfers.pump_again) {
            self.pump_file(ctx, &id);
        }
        let now = ctx.now();
        let due: Vec<String> = self
            .transfers
            .list
            .iter()
            .filter(|(_, t)| t.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let Some(t) = self.transfers.list.get(&id) else {
                continue;
            };
            if let Some(reason) = t.failure.clone() {
                self.fail_transfer(ctx, &id, reason);
                continue;
            }
            let reason = match t.step {
                Step::Offered => {
                    format!("{} did not answer the offer in {OFFER_TIMEOUT:?}", t.peer)
                }
                Step::Connecting => format!("no bytestream with {} in {CONNECT_TIMEOUT:?}", t.peer),
                Step::Moving => format!(
                    "no byte moved for {STALL_TIMEOUT:?} ({} of {} bytes)",
                    t.bytes, t.size
                ),
                // Its kernel may hold every byte (acknowledged) while its application
                // has none: only its close says the file is saved.
                Step::Draining => {
                    if every_byte_taken(ctx, t.conn, t.size) {
                        format!("the receiver took every byte but did not close the bytestream in {STALL_TIMEOUT:?}: it did not say it saved the file")
                    } else {
                        format!("the receiver did not take the last bytes in {STALL_TIMEOUT:?}")
                    }
                }
            };
            self.fail_transfer(ctx, &id, reason);
        }
    }

    /// Quitting: every transfer fails.
    pub(super) fn quit_transfers(&mut self, ctx: &mut Context<'_>) {
        let ids: Vec<String> = self.transfers.list.keys().cloned().collect();
        for id in ids {
            self.fail_transfer(ctx, &id, "quitting".into());
        }
        for (conn, _) in self.transfers.knocks.drain() {
            ctx.abort(conn);
        }
    }
}

/// Creates `NAME.part` in `dir` (numbered if taken), never opening a file that exists.
fn create_partial(dir: &Path, name: &str) -> io::Result<(File, PathBuf)> {
    for n in 0..1000 {
        let base = if n == 0 {
            name.to_owned()
        } else {
            numbered_name(name, n)
        };
        let path = dir.join(format!("{base}.part"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "a thousand partial files of that name",
    ))
}

/// Gives a complete partial file the offered name, or `name (n).ext` if that is taken:
/// never replacing a file, even one that appeared while the transfer ran.
fn settle(dir: &Path, name: &str, partial: &Path) -> io::Result<PathBuf> {
    for n in 0..1000 {
        let candidate = dir.join(if n == 0 {
            name.to_owned()
        } else {
            numbered_name(name, n)
        });
        // A hard link fails if the name exists: no window between a check and a rename.
        match std::fs::hard_link(partial, &candidate) {
            Ok(()) => {
                std::fs::remove_file(partial)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                // A file system without hard links: check, then rename.
                if candidate.symlink_metadata().is_ok() {
                    continue;
                }
                std::fs::rename(partial, &candidate)?;
                return Ok(candidate);
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "a thousand files of that name",
    ))
}
