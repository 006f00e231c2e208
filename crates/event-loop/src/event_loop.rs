//! The loop: one `mio::Poll`, the sockets, timers, and a handler that drives the
//! sans-IO machines.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};
use socket2::{Domain, Protocol, Socket, Type};

use crate::interfaces::{enumerate, InterfaceInfo, InterfaceSelection};
use crate::limits::Limits;
use crate::mdns::{MdnsSocket, MDNS_PORT};
use crate::send_queue::kernel_send_queue;
use crate::watch::InterfaceWatch;

const WAKER: Token = Token(0);
/// What a batch of commands may queue on one connection before writing it anyway.
const CORK_LIMIT: usize = 64 * 1024;
const LISTENER_V4: Token = Token(1);
const LISTENER_V6: Token = Token(2);
const INTERFACE_WATCH: Token = Token(3);
/// The unicast UDP sockets (wide-area DNS), one per address family, opened on first use.
const UNICAST_V4: Token = Token(4);
const UNICAST_V6: Token = Token(5);
/// The largest unicast datagram received (a DNS answer over UDP is at most 65,535 bytes).
const MAX_UNICAST_DATAGRAM: usize = 65_535;
/// After the kernel says interfaces changed, how long to wait for the rest of the burst
/// (an address replaced is a removal and an addition) before reading them again.
const WATCH_SETTLE: Duration = Duration::from_millis(20);
/// Reads of one connection in one round (one read buffer, 64 KiB) before the others get
/// their turn: a peer that
/// sends faster than the handler consumes (a file, a flood) must not keep the loop from
/// every other socket (chat, mDNS), nor its clock from moving. What is left is read in
/// the next round, without waiting.
const READS_PER_ROUND: usize = 1;
const MDNS_BASE: usize = 16;
const MDNS_MAX: usize = 4096;
const CONNECTION_BASE: usize = MDNS_BASE + MDNS_MAX;
/// The largest mDNS datagram (RFC 6762 §17).
const MAX_DATAGRAM: usize = 9000;

/// Identifies a TCP connection for as long as it is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(usize);

/// How the loop is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// Open mDNS sockets on these interfaces (`None`: no mDNS).
    pub mdns: Option<InterfaceSelection>,
    /// The mDNS port: 5353, another only in tests.
    pub mdns_port: u16,
    /// Use IPv6 for mDNS and the listener as well as IPv4.
    pub ipv6: bool,
    /// The TCP port to listen on: `Some(5298)` (XEP-0174's customary port) by default,
    /// `Some(0)` for an ephemeral port, `None` for no listener.
    pub tcp_port: Option<u16>,
    /// When the port is taken, how many of the next ports to try.
    pub port_search: u16,
    /// Listen on this IPv4 address (default: all).
    pub listen_v4: Ipv4Addr,
    /// How often interfaces and addresses are read again. On Linux the kernel also says
    /// when they change (rtnetlink), and they are read again within milliseconds; this
    /// period is the fallback, and the only way elsewhere.
    pub interface_recheck: Duration,
    /// The limits.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mdns: Some(InterfaceSelection::default()),
            mdns_port: MDNS_PORT,
            ipv6: true,
            tcp_port: Some(5298),
            port_search: 20,
            listen_v4: Ipv4Addr::UNSPECIFIED,
            interface_recheck: Duration::from_secs(5),
            limits: Limits::DEFAULT,
        }
    }
}

impl Config {
    /// TCP only, on an ephemeral port of 127.0.0.1: no mDNS, no IPv6. For tests,
    /// benchmarks and tools that must not touch the network.
    pub fn loopback() -> Config {
        Config {
            mdns: None,
            tcp_port: Some(0),
            ipv6: false,
            listen_v4: Ipv4Addr::LOCALHOST,
            ..Config::default()
        }
    }
}

/// A datagram received on an mDNS socket.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// The sender.
    pub from: SocketAddr,
    /// The interface it came in on.
    pub interface: u32,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// Where an mDNS datagram goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The mDNS group, on one interface or (`None`) on all.
    Multicast(Option<u32>),
    /// One host.
    Unicast(SocketAddr),
}

/// Why a connection ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum CloseReason {
    /// We closed it (after flushing what was queued).
    Local,
    /// The peer closed its side and we then closed ours.
    PeerClosed,
    /// The connection attempt did not finish within its timeout.
    ConnectTimeout,
    /// The connection was refused or reset, or another I/O error ended it.
    Error(io::Error),
    /// The loop refused it: a connection limit.
    Limit,
    /// The loop is stopping.
    Shutdown,
}

/// What a write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteState {
    /// Queued (or written) below the high watermark.
    Accepted,
    /// Queued, and the queue is now above the high watermark: stop writing until
    /// [`Handler::on_writable`] is called.
    Backpressure,
}

/// How far a connection's written bytes have gone, counted from its first byte
/// ([`Context::send_progress`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendProgress {
    /// Bytes given to [`Context::write`] (queued or written).
    pub written: u64,
    /// Of those, the bytes the peer's TCP has acknowledged: they reached the peer's host.
    /// `None` where the system does not tell (only Linux does).
    pub acknowledged: Option<u64>,
    /// Bytes sent and waiting for the peer's acknowledgement. With the peer's window shut
    /// (alive but not reading) nothing is in flight; bytes in flight that stay
    /// unacknowledged mean a peer that is gone. `None` where the system does not tell.
    pub in_flight: Option<usize>,
}

/// Why a call on a connection failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectionError {
    /// No such connection (it closed).
    Unknown,
    /// The write would pass [`Limits::max_write_queue`]; nothing was queued.
    QueueFull,
    /// The loop's connection limit is reached.
    Limit,
    /// The operating system refused.
    Io(io::Error),
}

impl std::fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionError::Unknown => f.write_str("no such connection"),
            ConnectionError::QueueFull => f.write_str("write queue full"),
            ConnectionError::Limit => f.write_str("connection limit reached"),
            ConnectionError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConnectionError {}

/// Options of an outgoing connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnectOptions {
    /// Bind the socket to this local address first (XEP-0174 peers check that the source
    /// address is one we publish).
    pub bind: Option<IpAddr>,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            bind: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// An mDNS socket the loop could not open ([`Handler::on_mdns_socket_error`]).
#[derive(Debug)]
pub struct MdnsSocketError {
    /// The interface's index.
    pub interface: u32,
    /// The interface's name.
    pub name: String,
    /// Whether it is the interface's IPv6 socket (else IPv4).
    pub ipv6: bool,
    /// What the system said.
    pub error: io::Error,
}

/// What the loop calls back. Every callback gets a [`Context`] to act through. The loop
/// sleeps until the earliest of [`Handler::poll_timeout`] and socket readiness.
pub trait Handler {
    /// Commands sent from other threads through a [`LoopHandle`].
    type Command: Send + 'static;

    /// The loop is set up and about to run.
    fn on_start(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }
    /// An mDNS datagram arrived.
    fn on_datagram(&mut self, ctx: &mut Context<'_>, datagram: Datagram<'_>) {
        let _ = (ctx, datagram);
    }
    /// A datagram arrived on a unicast socket ([`Context::send_unicast`]): `from` sent
    /// `bytes`.
    fn on_unicast_datagram(&mut self, ctx: &mut Context<'_>, from: SocketAddr, bytes: &[u8]) {
        let _ = (ctx, from, bytes);
    }
    /// A peer connected to our listener.
    fn on_accepted(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, peer: SocketAddr) {
        let _ = (ctx, conn, peer);
    }
    /// An outgoing connection is established. It comes before any [`Handler::on_data`]
    /// of that connection, even when the peer wrote at once.
    fn on_connected(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        let _ = (ctx, conn);
    }
    /// Bytes arrived (at most [`Limits::read_buffer`] at a time).
    fn on_data(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, data: &[u8]) {
        let _ = (ctx, conn, data);
    }
    /// The peer closed its sending side. By default we close ours (after flushing).
    fn on_read_closed(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        ctx.close(conn);
    }
    /// The write queue went below the low watermark after having passed the high one.
    fn on_writable(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        let _ = (ctx, conn);
    }
    /// The write queue emptied after bytes had waited in it: they were queued during a
    /// batch of commands (written together once the batch is drained), or the socket took
    /// them later. A write that goes out at once is not reported: `Context::queued` is
    /// already 0 after it.
    fn on_flushed(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        let _ = (ctx, conn);
    }
    /// The connection is gone.
    fn on_closed(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, reason: CloseReason) {
        let _ = (ctx, conn, reason);
    }
    /// A command from another thread.
    fn on_command(&mut self, ctx: &mut Context<'_>, command: Self::Command) {
        let _ = (ctx, command);
    }
    /// An mDNS socket could not be opened: the loop hears nothing on that interface and
    /// family until it can. Reported once, when it fails; the loop tries again at each
    /// interface recheck ([`Config::interface_recheck`]) and calls
    /// [`Handler::on_mdns_socket_opened`] when it succeeds.
    fn on_mdns_socket_error(&mut self, ctx: &mut Context<'_>, error: &MdnsSocketError) {
        let _ = (ctx, error);
    }
    /// The mDNS socket of `interface` (IPv6 if `ipv6`) opened after failing to: the link
    /// is heard from now on, and what was sent there before was lost.
    fn on_mdns_socket_opened(&mut self, ctx: &mut Context<'_>, interface: u32, ipv6: bool) {
        let _ = (ctx, interface, ipv6);
    }
    /// The interfaces or their addresses changed (also called once at start).
    fn on_interfaces(&mut self, ctx: &mut Context<'_>, interfaces: &[InterfaceInfo]) {
        let _ = (ctx, interfaces);
    }
    /// The time [`Handler::poll_timeout`] asked for has come.
    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        let _ = ctx;
    }
    /// When the handler's machines want [`Handler::on_timeout`] next.
    fn poll_timeout(&self) -> Option<Instant>;

    /// After [`Context::stop`]: whether the handler still waits for something other than
    /// its connections, such as the answer to a datagram it sent on its way out (a DNS
    /// update that removes its records, retransmitted until answered). The loop goes on,
    /// timers and datagrams included, until this is false and every connection is closed,
    /// or until the stop's deadline. By default nothing is awaited.
    fn stop_pending(&self) -> bool {
        false
    }
}

/// A `Send + Clone` handle to give commands to a running loop from other threads.
pub struct LoopHandle<C> {
    sender: mpsc::Sender<C>,
    waker: Arc<Waker>,
    /// Set when a wake is on its way and the loop has not yet started draining: a burst
    /// of commands then costs one wake (one syscall), not one each.
    wake_pending: Arc<AtomicBool>,
}

impl<C> Clone for LoopHandle<C> {
    fn clone(&self) -> Self {
        LoopHandle {
            sender: self.sender.clone(),
            waker: self.waker.clone(),
            wake_pending: self.wake_pending.clone(),
        }
    }
}

impl<C: Send + 'static> LoopHandle<C> {
    /// Sends a command; the loop wakes and hands it to [`Handler::on_command`]. Fails if
    /// the loop is gone.
    pub fn send(&self, command: C) -> Result<(), C> {
        self.sender.send(command).map_err(|e| e.0)?;
        // The loop clears the flag before it drains the channel, so a command sent after
        // the clear wakes it again, and one sent before is drained.
        if !self.wake_pending.swap(true, Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
        Ok(())
    }
}

#[derive(Debug)]
enum ConnState {
    Connecting { deadline: Instant },
    Open,
}

#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    state: ConnState,
    peer: SocketAddr,
    accepted: bool,
    queue: VecDeque<u8>,
    above_high: bool,
    /// Close once the queue is flushed.
    closing: Option<CloseReasonKind>,
    /// Shut our sending side once the queue is flushed.
    shutdown_write: bool,
    write_shut: bool,
    /// Listed in `Inner::to_flush`.
    flush_listed: bool,
    /// The handler asked not to be given this connection's data for now.
    reading_paused: bool,
    /// Bytes given to `write`, ever.
    written: u64,
}

#[derive(Clone, Copy, Debug)]
enum CloseReasonKind {
    Local,
    PeerClosed,
    Shutdown,
}

/// Counters for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Times `mio::Poll::poll` returned.
    pub wakeups: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections refused for a limit.
    pub refused: u64,
    /// Datagrams received.
    pub datagrams: u64,
}

/// What the handler can do during a callback.
pub struct Context<'a> {
    now: Instant,
    inner: &'a mut Inner,
}

struct Inner {
    poll: Poll,
    config: Config,
    listeners: Vec<(Token, TcpListener)>,
    local_port: Option<u16>,
    mdns: Vec<Option<MdnsSocket>>,
    /// The mDNS sockets (interface, IPv6) that could not be opened, reported once each.
    mdns_failing: Vec<(u32, bool)>,
    /// Failures to report to the handler.
    mdns_errors: Vec<MdnsSocketError>,
    /// Sockets opened after failing, to report to the handler.
    mdns_opened: Vec<(u32, bool)>,
    /// Unicast UDP for wide-area DNS: IPv4 and IPv6, each on an ephemeral port.
    unicast: [Option<UdpSocket>; 2],
    interfaces: Vec<InterfaceInfo>,
    connections: Vec<Option<Connection>>,
    free: Vec<usize>,
    per_address: HashMap<IpAddr, usize>,
    /// Events for the handler produced inside Context calls, delivered after the callback.
    pending: VecDeque<(ConnectionId, Pending)>,
    stop_deadline: Option<Instant>,
    accept_paused_until: Option<Instant>,
    stats: LoopStats,
    /// The kernel's word that interfaces changed (Linux), if it could be opened.
    watch: Option<InterfaceWatch>,
    /// Set while a batch of commands is handled: writes are queued, and the connections
    /// listed in `to_flush` are written once the batch is done (one `write` for many
    /// messages instead of one each).
    corked: bool,
    to_flush: Vec<ConnectionId>,
    /// Connections whose reading was resumed: read at once, because the readiness edge
    /// that announced their waiting bytes has passed (mio is edge-triggered).
    to_read: Vec<ConnectionId>,
    /// Connections that had more to read when their round's reads ran out
    /// (`READS_PER_ROUND`): read again in the next round, which does not sleep.
    read_again: Vec<ConnectionId>,
}

#[derive(Debug)]
enum Pending {
    Closed(CloseReason),
    Writable,
    Connected,
    Flushed,
}

impl Context<'_> {
    /// The loop's time for this round of callbacks.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The port the TCP listener got (after any search for a free one).
    pub fn local_port(&self) -> Option<u16> {
        self.inner.local_port
    }

    /// The interfaces mDNS runs on now.
    pub fn interfaces(&self) -> &[InterfaceInfo] {
        &self.inner.interfaces
    }

    /// How many mDNS sockets are open on interface `index` (one per address family).
    pub fn mdns_sockets(&self, index: u32) -> usize {
        self.inner
            .mdns
            .iter()
            .flatten()
            .filter(|s| s.interface == index)
            .count()
    }

    /// Counters.
    pub fn stats(&self) -> LoopStats {
        self.inner.stats
    }

    /// Sends an mDNS datagram. Errors (no route, a full socket buffer) drop it, as UDP
    /// does; they are reported as the number of sockets it could not be sent on.
    pub fn send_datagram(&mut self, target: Target, payload: &[u8]) -> usize {
        let port = self.inner.config.mdns_port;
        let mut failures = 0;
        for socket in self.inner.mdns.iter().flatten() {
            let result = match target {
                Target::Multicast(interface) => {
                    if interface.is_some_and(|i| i != socket.interface) {
                        continue;
                    }
                    socket.socket.send_to(payload, socket.group(port))
                }
                Target::Unicast(address) => {
                    if !socket.fits(&address.ip()) {
                        continue;
                    }
                    let result = socket.socket.send_to(payload, address);
                    if result.is_ok() {
                        return failures;
                    }
                    result
                }
            };
            if result.is_err() {
                failures += 1;
            }
        }
        failures
    }

    /// Sends a unicast datagram (wide-area DNS) from a socket of its own, on an ephemeral
    /// port (opened at the first send to that address family); answers come to
    /// [`Handler::on_unicast_datagram`]. As UDP does, a datagram the system will not take
    /// is dropped: the error says why.
    pub fn send_unicast(&mut self, to: SocketAddr, payload: &[u8]) -> io::Result<()> {
        let (slot, token, bind) = match to {
            SocketAddr::V4(_) => (0, UNICAST_V4, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
            SocketAddr::V6(_) => (1, UNICAST_V6, SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))),
        };
        if self.inner.unicast[slot].is_none() {
            let mut socket = UdpSocket::bind(bind)?;
            self.inner
                .poll
                .registry()
                .register(&mut socket, token, Interest::READABLE)?;
            self.inner.unicast[slot] = Some(socket);
        }
        match &self.inner.unicast[slot] {
            Some(socket) => socket.send_to(payload, to).map(|_| ()),
            None => Err(io::Error::other("no unicast socket")),
        }
    }

    /// Opens a TCP connection; [`Handler::on_connected`] or [`Handler::on_closed`] follows.
    pub fn connect(
        &mut self,
        remote: SocketAddr,
        options: ConnectOptions,
    ) -> Result<ConnectionId, ConnectionError> {
        if self.inner.open_connections() >= self.inner.config.limits.max_connections {
            return Err(ConnectionError::Limit);
        }
        let domain = if remote.is_ipv6() {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        let socket =
            Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).map_err(ConnectionError::Io)?;
        socket.set_nonblocking(true).map_err(ConnectionError::Io)?;
        socket.set_tcp_nodelay(true).map_err(ConnectionError::Io)?;
        if let Some(local) = options.bind {
            socket
                .bind(&SocketAddr::new(local, 0).into())
                .map_err(ConnectionError::Io)?;
        }
        match socket.connect(&remote.into()) {
            Ok(()) => {}
            Err(e)
                if e.raw_os_error() == Some(libc_einprogress())
                    || e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(ConnectionError::Io(e)),
        }
        let stream = TcpStream::from_std(socket.into());
        let deadline = self.now + options.timeout;
        self.inner
            .add(stream, remote, false, ConnState::Connecting { deadline })
            .map_err(ConnectionError::Io)
    }

    /// Queues bytes for a connection and writes what the socket takes now.
    pub fn write(
        &mut self,
        conn: ConnectionId,
        bytes: &[u8],
    ) -> Result<WriteState, ConnectionError> {
        let limits = self.inner.config.limits;
        let corked = self.inner.corked;
        let Some(c) = self.inner.get(conn) else {
            return Err(ConnectionError::Unknown);
        };
        if c.queue.len() + bytes.len() > limits.max_write_queue {
            return Err(ConnectionError::QueueFull);
        }
        c.queue.extend(bytes);
        c.written += bytes.len() as u64;
        // A batch holds back at most CORK_LIMIT bytes a connection: a long batch must not
        // fill the queue to its cap before anything is written.
        if corked && c.queue.len() < CORK_LIMIT {
            if !c.flush_listed {
                c.flush_listed = true;
                self.inner.to_flush.push(conn);
            }
        } else if matches!(c.state, ConnState::Open) {
            self.inner.flush(conn);
        }
        let Some(c) = self.inner.get(conn) else {
            return Ok(WriteState::Accepted);
        };
        if c.queue.len() > limits.write_high_watermark {
            c.above_high = true;
            return Ok(WriteState::Backpressure);
        }
        Ok(WriteState::Accepted)
    }

    /// Stops reading from a connection: the kernel's receive buffer fills, then the
    /// peer's sends block (TCP flow control), until [`Context::resume_reading`]. A handler
    /// that relays a peer's bytes to a slower destination calls this when a write
    /// reports [`WriteState::Backpressure`], so that its queues stay bounded. While
    /// paused, the peer's close or reset is noticed only once reading resumes (or a write
    /// fails). Unknown connections are ignored.
    pub fn pause_reading(&mut self, conn: ConnectionId) {
        if let Some(c) = self.inner.get(conn) {
            c.reading_paused = true;
        }
    }

    /// Reads from a connection again after [`Context::pause_reading`]: what arrived
    /// meanwhile is delivered to [`Handler::on_data`] after this callback returns.
    pub fn resume_reading(&mut self, conn: ConnectionId) {
        if let Some(c) = self.inner.get(conn) {
            if c.reading_paused {
                c.reading_paused = false;
                self.inner.to_read.push(conn);
            }
        }
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self, conn: ConnectionId) -> Option<usize> {
        self.inner
            .connections
            .get(conn.0)?
            .as_ref()
            .map(|c| c.queue.len())
    }

    /// The peer's address.
    pub fn peer(&self, conn: ConnectionId) -> Option<SocketAddr> {
        self.inner.connections.get(conn.0)?.as_ref().map(|c| c.peer)
    }

    /// Our address on a connection (once connected).
    pub fn local_addr(&self, conn: ConnectionId) -> Option<SocketAddr> {
        let c = self.inner.connections.get(conn.0)?.as_ref()?;
        c.stream.local_addr().ok()
    }

    /// How far the bytes written to a connection have gone: into our queue, into the
    /// kernel, acknowledged by the peer's TCP. A handler that must know a message reached
    /// the peer's host compares its bytes' end with [`SendProgress::acknowledged`]; no
    /// callback announces acknowledgements, so it looks again on a timer.
    pub fn send_progress(&self, conn: ConnectionId) -> Option<SendProgress> {
        let c = self.inner.connections.get(conn.0)?.as_ref()?;
        let in_kernel = match c.state {
            ConnState::Open => kernel_send_queue(&c.stream),
            ConnState::Connecting { .. } => None,
        };
        let acknowledged = in_kernel.map(|k| {
            c.written
                .saturating_sub(c.queue.len() as u64)
                .saturating_sub(k.unacknowledged as u64)
        });
        Some(SendProgress {
            written: c.written,
            acknowledged: match c.state {
                ConnState::Connecting { .. } => Some(0),
                ConnState::Open => acknowledged,
            },
            in_flight: match c.state {
                ConnState::Connecting { .. } => Some(0),
                ConnState::Open => in_kernel.map(|k| k.in_flight),
            },
        })
    }

    /// Shuts our sending side once the queue is flushed (a half-close).
    pub fn shutdown_write(&mut self, conn: ConnectionId) {
        if let Some(c) = self.inner.get(conn) {
            c.shutdown_write = true;
        }
        self.inner.flush(conn);
    }

    /// Closes the connection once its queue is flushed; [`Handler::on_closed`] follows.
    pub fn close(&mut self, conn: ConnectionId) {
        if let Some(c) = self.inner.get(conn) {
            c.closing.get_or_insert(CloseReasonKind::Local);
        }
        self.inner.flush(conn);
    }

    /// Drops the connection at once, queued bytes and all, with a reset (`SO_LINGER` 0):
    /// the kernel neither keeps retransmitting to a peer that is gone nor lingers in
    /// `FIN_WAIT` for it.
    pub fn abort(&mut self, conn: ConnectionId) {
        if let Some(c) = self.inner.get(conn) {
            let _ = socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
        }
        self.inner.remove(conn, CloseReason::Local);
    }

    /// Stops the loop: no more accepting; it returns once every queue is flushed, every
    /// connection closed and the handler awaits nothing more ([`Handler::stop_pending`]),
    /// or at `deadline`, whichever comes first.
    pub fn stop(&mut self, deadline: Instant) {
        self.inner.stop_deadline = Some(deadline);
        for index in 0..self.inner.connections.len() {
            if let Some(c) = self.inner.connections[index].as_mut() {
                c.closing.get_or_insert(CloseReasonKind::Shutdown);
                self.inner.flush(ConnectionId(index));
            }
        }
    }
}

fn libc_einprogress() -> i32 {
    // EINPROGRESS on Linux and the BSDs (115 and 36); io::ErrorKind has no variant for it.
    if cfg!(target_os = "linux") {
        115
    } else {
        36
    }
}

impl Inner {
    fn open_connections(&self) -> usize {
        self.connections.len() - self.free.len()
    }

    fn get(&mut self, conn: ConnectionId) -> Option<&mut Connection> {
        self.connections.get_mut(conn.0)?.as_mut()
    }

    fn add(
        &mut self,
        mut stream: TcpStream,
        peer: SocketAddr,
        accepted: bool,
        state: ConnState,
    ) -> io::Result<ConnectionId> {
        let index = self.free.pop().unwrap_or_else(|| {
            self.connections.push(None);
            self.connections.len() - 1
        });
        let token = Token(CONNECTION_BASE + index);
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.free.push(index);
            return Err(e);
        }
        if accepted {
            *self.per_address.entry(peer.ip()).or_insert(0) += 1;
        }
        self.connections[index] = Some(Connection {
            stream,
            state,
            peer,
            accepted,
            queue: VecDeque::new(),
            above_high: false,
            closing: None,
            shutdown_write: false,
            write_shut: false,
            flush_listed: false,
            reading_paused: false,
            written: 0,
        });
        Ok(ConnectionId(index))
    }

    fn remove(&mut self, conn: ConnectionId, reason: CloseReason) {
        let Some(slot) = self.connections.get_mut(conn.0) else {
            return;
        };
        let Some(mut c) = slot.take() else { return };
        let _ = self.poll.registry().deregister(&mut c.stream);
        let _ = c.stream.shutdown(Shutdown::Both);
        if c.accepted {
            if let Some(count) = self.per_address.get_mut(&c.peer.ip()) {
                *count -= 1;
                if *count == 0 {
                    self.per_address.remove(&c.peer.ip());
                }
            }
        }
        self.free.push(conn.0);
        self.pending.push_back((conn, Pending::Closed(reason)));
    }

    /// [`Inner::flush`], and `on_flushed` for the handler if that emptied the queue.
    fn flush_and_report(&mut self, conn: ConnectionId) {
        let had_bytes = self.get(conn).is_some_and(|c| !c.queue.is_empty());
        self.flush(conn);
        if had_bytes && self.get(conn).is_some_and(|c| c.queue.is_empty()) {
            self.pending.push_back((conn, Pending::Flushed));
        }
    }

    /// Writes what the socket takes, until the queue is empty or it would block; then
    /// half-closes or closes if asked.
    fn flush(&mut self, conn: ConnectionId) {
        let low = self.config.limits.write_low_watermark;
        let Some(c) = self.get(conn) else { return };
        if !matches!(c.state, ConnState::Open) {
            return;
        }
        let mut failure = None;
        while !c.queue.is_empty() {
            let (front, _) = c.queue.as_slices();
            match c.stream.write(front) {
                Ok(0) => {
                    failure = Some(io::Error::from(io::ErrorKind::WriteZero));
                    break;
                }
                Ok(n) => {
                    c.queue.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            self.remove(conn, CloseReason::Error(e));
            return;
        }
        let drained = c.queue.is_empty();
        let mut writable = false;
        if c.above_high && c.queue.len() <= low {
            c.above_high = false;
            writable = true;
        }
        if drained && c.shutdown_write && !c.write_shut {
            c.write_shut = true;
            let _ = c.stream.shutdown(Shutdown::Write);
        }
        let close = if drained { c.closing } else { None };
        if writable {
            self.pending.push_back((conn, Pending::Writable));
        }
        if let Some(kind) = close {
            let reason = match kind {
                CloseReasonKind::Local => CloseReason::Local,
                CloseReasonKind::PeerClosed => CloseReason::PeerClosed,
                CloseReasonKind::Shutdown => CloseReason::Shutdown,
            };
            self.remove(conn, reason);
        }
    }
}

/// The event loop. Build it with [`EventLoop::new`], take [`EventLoop::handle`]s for other
/// threads, then [`EventLoop::run`] it with a handler.
pub struct EventLoop<C> {
    inner: Inner,
    receiver: mpsc::Receiver<C>,
    handle: LoopHandle<C>,
}

impl<C: Send + 'static> EventLoop<C> {
    /// Opens the listener (searching for a free port if the first is taken) and the mDNS
    /// sockets. Failing to open an mDNS socket on an interface is not fatal: that
    /// interface is skipped (and retried at the next re-check).
    pub fn new(config: Config) -> io::Result<EventLoop<C>> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (sender, receiver) = mpsc::channel();
        let mut inner = Inner {
            poll,
            config,
            listeners: Vec::new(),
            local_port: None,
            mdns: Vec::new(),
            mdns_failing: Vec::new(),
            mdns_errors: Vec::new(),
            mdns_opened: Vec::new(),
            unicast: [None, None],
            interfaces: Vec::new(),
            connections: Vec::new(),
            free: Vec::new(),
            per_address: HashMap::new(),
            pending: VecDeque::new(),
            stop_deadline: None,
            accept_paused_until: None,
            stats: LoopStats::default(),
            corked: false,
            to_flush: Vec::new(),
            to_read: Vec::new(),
            read_again: Vec::new(),
            watch: None,
        };
        if inner.config.mdns.is_some() {
            // Without it, the periodic re-read still finds every change, later.
            inner.watch = InterfaceWatch::open(inner.poll.registry(), INTERFACE_WATCH).ok();
        }
        open_listeners(&mut inner)?;
        refresh_interfaces(&mut inner)?;
        Ok(EventLoop {
            inner,
            receiver,
            handle: LoopHandle {
                sender,
                waker,
                wake_pending: Arc::new(AtomicBool::new(false)),
            },
        })
    }

    /// A handle to send commands from other threads.
    pub fn handle(&self) -> LoopHandle<C> {
        self.handle.clone()
    }

    /// The port the listener got.
    pub fn local_port(&self) -> Option<u16> {
        self.inner.local_port
    }

    /// Runs until a handler calls [`Context::stop`] and the connections are flushed, or
    /// the stop deadline passes.
    pub fn run<H: Handler<Command = C>>(&mut self, handler: &mut H) -> io::Result<LoopStats> {
        let mut events = Events::with_capacity(1024);
        let mut read_buffer = vec![0u8; self.inner.config.limits.read_buffer.max(1)];
        let mut datagram = vec![0u8; MAX_DATAGRAM];
        // Allocated at the first unicast datagram: most runs never have one.
        let mut unicast_datagram = Vec::new();
        let mut next_recheck = Instant::now() + self.inner.config.interface_recheck;
        {
            let mut ctx = Context {
                now: Instant::now(),
                inner: &mut self.inner,
            };
            handler.on_start(&mut ctx);
            let interfaces = ctx.inner.interfaces.clone();
            handler.on_interfaces(&mut ctx, &interfaces);
            report_mdns_sockets(&mut ctx, handler);
        }
        self.deliver_pending(handler, Instant::now());
        loop {
            let now = Instant::now();
            if let Some(deadline) = self.inner.stop_deadline {
                if now >= deadline
                    || (self.inner.open_connections() == 0 && !handler.stop_pending())
                {
                    let ids: Vec<usize> = (0..self.inner.connections.len())
                        .filter(|&i| self.inner.connections[i].is_some())
                        .collect();
                    for index in ids {
                        self.inner
                            .remove(ConnectionId(index), CloseReason::Shutdown);
                    }
                    self.deliver_pending(handler, now);
                    return Ok(self.inner.stats);
                }
            }
            let deadline = [
                handler.poll_timeout(),
                Some(next_recheck),
                self.inner.stop_deadline,
                self.inner.accept_paused_until,
                self.connect_deadline(),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = if self.inner.read_again.is_empty() {
                deadline.map(|d| d.saturating_duration_since(now))
            } else {
                Some(Duration::ZERO)
            };
            match self.inner.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            self.inner.stats.wakeups += 1;
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WAKER => {
                        self.handle.wake_pending.store(false, Ordering::SeqCst);
                        self.inner.corked = true;
                        while let Ok(command) = self.receiver.try_recv() {
                            let mut ctx = Context {
                                now,
                                inner: &mut self.inner,
                            };
                            handler.on_command(&mut ctx, command);
                        }
                        self.inner.corked = false;
                        for conn in std::mem::take(&mut self.inner.to_flush) {
                            if let Some(c) = self.inner.get(conn) {
                                c.flush_listed = false;
                            }
                            self.inner.flush_and_report(conn);
                        }
                    }
                    LISTENER_V4 | LISTENER_V6 => self.accept(handler, now, event.token()),
                    UNICAST_V4 | UNICAST_V6 => {
                        if unicast_datagram.is_empty() {
                            unicast_datagram = vec![0u8; MAX_UNICAST_DATAGRAM];
                        }
                        let slot = usize::from(event.token() == UNICAST_V6);
                        self.receive_unicast(handler, now, slot, &mut unicast_datagram);
                    }
                    INTERFACE_WATCH => {
                        if self.inner.watch.as_mut().is_some_and(InterfaceWatch::drain) {
                            next_recheck = next_recheck.min(now + WATCH_SETTLE);
                        }
                    }
                    Token(t) if (MDNS_BASE..CONNECTION_BASE).contains(&t) => {
                        self.receive_datagrams(handler, now, t - MDNS_BASE, &mut datagram)
                    }
                    Token(t) => {
                        let conn = ConnectionId(t - CONNECTION_BASE);
                        if event.is_writable() {
                            self.on_writable_event(conn);
                            // A connect that completes in this same wake-up is reported
                            // before the bytes that came with it: a peer that speaks
                            // first (iChat writes its header on accept) is heard by a
                            // handler that has set up its connection.
                            self.deliver_pending(handler, now);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(handler, now, conn, &mut read_buffer);
                        }
                    }
                }
                self.deliver_pending(handler, now);
            }
            self.expire_connects(now);
            if self.inner.accept_paused_until.is_some_and(|t| t <= now) {
                self.inner.accept_paused_until = None;
                self.accept(handler, now, LISTENER_V4);
                self.accept(handler, now, LISTENER_V6);
            }
            if next_recheck <= now {
                next_recheck = now + self.inner.config.interface_recheck;
                let before = self.inner.interfaces.clone();
                let refreshed = refresh_interfaces(&mut self.inner).is_ok();
                let mut ctx = Context {
                    now,
                    inner: &mut self.inner,
                };
                if refreshed && before != ctx.inner.interfaces {
                    let interfaces = ctx.inner.interfaces.clone();
                    handler.on_interfaces(&mut ctx, &interfaces);
                }
                report_mdns_sockets(&mut ctx, handler);
            }
            if handler.poll_timeout().is_some_and(|t| t <= now) {
                let mut ctx = Context {
                    now,
                    inner: &mut self.inner,
                };
                handler.on_timeout(&mut ctx);
            }
            self.deliver_pending(handler, now);
            self.read_resumed(handler, now, &mut read_buffer);
            for conn in std::mem::take(&mut self.inner.read_again) {
                self.read(handler, now, conn, &mut read_buffer);
                self.deliver_pending(handler, now);
            }
        }
    }

    /// Reads the connections whose reading the handler resumed (which may resume others).
    fn read_resumed<H: Handler<Command = C>>(
        &mut self,
        handler: &mut H,
        now: Instant,
        buffer: &mut [u8],
    ) {
        while let Some(conn) = self.inner.to_read.pop() {
            self.read(handler, now, conn, buffer);
            self.deliver_pending(handler, now);
        }
    }

    fn connect_deadline(&self) -> Option<Instant> {
        self.inner
            .connections
            .iter()
            .flatten()
            .filter_map(|c| match c.state {
                ConnState::Connecting { deadline } => Some(deadline),
                ConnState::Open => None,
            })
            .min()
    }

    fn expire_connects(&mut self, now: Instant) {
        let expired: Vec<usize> = (0..self.inner.connections.len())
            .filter(|&i| matches!(&self.inner.connections[i], Some(Connection { state: ConnState::Connecting { deadline }, .. }) if *deadline <= now))
            .collect();
        for index in expired {
            self.inner
                .remove(ConnectionId(index), CloseReason::ConnectTimeout);
        }
    }

    fn deliver_pending<H: Handler<Command = C>>(&mut self, handler: &mut H, now: Instant) {
        while let Some((conn, pending)) = self.inner.pending.pop_front() {
            let mut ctx = Context {
                now,
                inner: &mut self.inner,
            };
            match pending {
                Pending::Closed(reason) => handler.on_closed(&mut ctx, conn, reason),
                Pending::Writable => handler.on_writable(&mut ctx, conn),
                Pending::Connected => handler.on_connected(&mut ctx, conn),
                Pending::Flushed => handler.on_flushed(&mut ctx, conn),
            }
        }
    }

    fn accept<H: Handler<Command = C>>(&mut self, handler: &mut H, now: Instant, token: Token) {
        if self.inner.stop_deadline.is_some() || self.inner.accept_paused_until.is_some() {
            return;
        }
        let limits = self.inner.config.limits;
        loop {
            let Some(listener) = self
                .inner
                .listeners
                .iter()
                .find(|(t, _)| *t == token)
                .map(|(_, l)| l)
            else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    let per_address = self.inner.per_address.get(&peer.ip()).copied().unwrap_or(0);
                    if self.inner.open_connections() >= limits.max_connections
                        || per_address >= limits.max_connections_per_address
                    {
                        // Accepted and dropped at once, so the backlog does not fill up.
                        self.inner.stats.refused += 1;
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    self.inner.stats.accepted += 1;
                    if let Ok(conn) = self.inner.add(stream, peer, true, ConnState::Open) {
                        let mut ctx = Context {
                            now,
                            inner: &mut self.inner,
                        };
                        handler.on_accepted(&mut ctx, conn, peer);
                        self.deliver_pending(handler, now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // EMFILE and friends: back off instead of spinning on a ready listener.
                    self.inner.accept_paused_until = Some(now + limits.accept_backoff);
                    return;
                }
            }
        }
    }

    fn receive_datagrams<H: Handler<Command = C>>(
        &mut self,
        handler: &mut H,
        now: Instant,
        index: usize,
        buffer: &mut [u8],
    ) {
        loop {
            let Some(Some(socket)) = self.inner.mdns.get(index) else {
                return;
            };
            let interface = socket.interface;
            match socket.socket.recv_from(buffer) {
                Ok((len, from)) => {
                    self.inner.stats.datagrams += 1;
                    let mut ctx = Context {
                        now,
                        inner: &mut self.inner,
                    };
                    handler.on_datagram(
                        &mut ctx,
                        Datagram {
                            from,
                            interface,
                            bytes: &buffer[..len],
                        },
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // An ICMP error reported on the socket: not fatal for a UDP socket.
                Err(_) => continue,
            }
        }
    }

    fn receive_unicast<H: Handler<Command = C>>(
        &mut self,
        handler: &mut H,
        now: Instant,
        slot: usize,
        buffer: &mut [u8],
    ) {
        loop {
            let Some(socket) = &self.inner.unicast[slot] else {
                return;
            };
            match socket.recv_from(buffer) {
                Ok((len, from)) => {
                    self.inner.stats.datagrams += 1;
                    let mut ctx = Context {
                        now,
                        inner: &mut self.inner,
                    };
                    handler.on_unicast_datagram(&mut ctx, from, &buffer[..len]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // An ICMP error (port unreachable): the caller's retries handle it.
                Err(_) => continue,
            }
        }
    }

    fn on_writable_event(&mut self, conn: ConnectionId) {
        let Some(c) = self.inner.get(conn) else {
            return;
        };
        if let ConnState::Connecting { .. } = c.state {
            match c.stream.take_error() {
                Ok(None) => {}
                Ok(Some(e)) | Err(e) => {
                    self.inner.remove(conn, CloseReason::Error(e));
                    return;
                }
            }
            match c.stream.peer_addr() {
                Ok(_) => {
                    c.state = ConnState::Open;
                    self.inner.pending.push_back((conn, Pending::Connected));
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    self.inner.remove(conn, CloseReason::Error(e));
                    return;
                }
            }
        }
        self.inner.flush_and_report(conn);
    }

    fn read<H: Handler<Command = C>>(
        &mut self,
        handler: &mut H,
        now: Instant,
        conn: ConnectionId,
        buffer: &mut [u8],
    ) {
        let mut reads = 0;
        loop {
            let Some(c) = self.inner.get(conn) else {
                return;
            };
            if reads == READS_PER_ROUND {
                if !self.inner.read_again.contains(&conn) {
                    self.inner.read_again.push(conn);
                }
                return;
            }
            reads += 1;
            if c.reading_paused {
                // Left in the socket; `resume_reading` reads it.
                return;
            }
            if let ConnState::Connecting { .. } = c.state {
                // A failed connect shows up as readable with an error.
                if let Ok(Some(e)) | Err(e) = c.stream.take_error() {
                    self.inner.remove(conn, CloseReason::Error(e));
                }
                return;
            }
            match c.stream.read(buffer) {
                Ok(0) => {
                    if c.closing.is_none() {
                        let mut ctx = Context {
                            now,
                            inner: &mut self.inner,
                        };
                        handler.on_read_closed(&mut ctx, conn);
                        if let Some(c) = self.inner.get(conn) {
                            if matches!(c.closing, Some(CloseReasonKind::Local)) {
                                c.closing = Some(CloseReasonKind::PeerClosed);
                            }
                        }
                        self.inner.flush(conn);
                    }
                    return;
                }
                Ok(n) => {
                    let mut ctx = Context {
                        now,
                        inner: &mut self.inner,
                    };
                    handler.on_data(&mut ctx, conn, &buffer[..n]);
                    self.deliver_pending(handler, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.inner.remove(conn, CloseReason::Error(e));
                    return;
                }
            }
        }
    }
}

/// Binds the TCP listeners: IPv4, and IPv6-only on the same port, searching upwards from
/// the configured port when it is taken.
fn open_listeners(inner: &mut Inner) -> io::Result<()> {
    let Some(first) = inner.config.tcp_port else {
        return Ok(());
    };
    let attempts = if first == 0 {
        1
    } else {
        inner.config.port_search.max(1)
    };
    let mut last_error = None;
    for offset in 0..attempts {
        let port = first.saturating_add(offset);
        match bind_pair(inner.config.listen_v4, port, inner.config.ipv6) {
            Ok((v4, v6)) => {
                let port = v4.local_addr()?.port();
                let mut v4 = v4;
                inner
                    .poll
                    .registry()
                    .register(&mut v4, LISTENER_V4, Interest::READABLE)?;
                inner.listeners.push((LISTENER_V4, v4));
                if let Some(mut v6) = v6 {
                    inner
                        .poll
                        .registry()
                        .register(&mut v6, LISTENER_V6, Interest::READABLE)?;
                    inner.listeners.push((LISTENER_V6, v6));
                }
                inner.local_port = Some(port);
                return Ok(());
            }
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

fn bind_pair(
    v4: Ipv4Addr,
    port: u16,
    ipv6: bool,
) -> io::Result<(TcpListener, Option<TcpListener>)> {
    let listener_v4 = listen(SocketAddr::new(IpAddr::V4(v4), port), false)?;
    let port = listener_v4.local_addr()?.port();
    if !ipv6 {
        return Ok((listener_v4, None));
    }
    // A host without IPv6 still gets its IPv4 listener.
    let listener_v6 = match listen(
        SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        true,
    ) {
        Ok(listener) => Some(listener),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Err(e),
        Err(_) => None,
    };
    Ok((listener_v4, listener_v6))
}

fn listen(address: SocketAddr, v6_only: bool) -> io::Result<TcpListener> {
    let domain = if address.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    if v6_only {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Tells the handler of the mDNS sockets that failed to open, or opened after failing,
/// since the last call.
fn report_mdns_sockets<H: Handler>(ctx: &mut Context<'_>, handler: &mut H) {
    for error in std::mem::take(&mut ctx.inner.mdns_errors) {
        handler.on_mdns_socket_error(ctx, &error);
    }
    for (interface, ipv6) in std::mem::take(&mut ctx.inner.mdns_opened) {
        handler.on_mdns_socket_opened(ctx, interface, ipv6);
    }
}

/// Enumerates interfaces and opens or closes mDNS sockets to match.
fn refresh_interfaces(inner: &mut Inner) -> io::Result<()> {
    let Some(selection) = &inner.config.mdns else {
        return Ok(());
    };
    let interfaces = enumerate(selection)?;
    let port = inner.config.mdns_port;
    // Close the sockets of interfaces that vanished or lost their address family.
    for slot in inner.mdns.iter_mut() {
        let keep = slot.as_ref().is_some_and(|s| {
            interfaces.iter().any(|i| {
                i.index == s.interface
                    && if s.v6 {
                        i.has_ipv6()
                    } else {
                        i.ipv4().is_some() && i.ipv4() == s.address
                    }
            })
        });
        if !keep {
            if let Some(mut socket) = slot.take() {
                let _ = inner.poll.registry().deregister(&mut socket.socket);
            }
        }
    }
    for interface in &interfaces {
        let mut wanted = vec![false];
        if inner.config.ipv6 && interface.has_ipv6() {
            wanted.push(true);
        }
        for v6 in wanted {
            if inner
                .mdns
                .iter()
                .flatten()
                .any(|s| s.interface == interface.index && s.v6 == v6)
            {
                continue;
            }
            if !v6 && interface.ipv4().is_none() {
                continue;
            }
            let opened = if v6 {
                MdnsSocket::open_v6(interface, port)
            } else {
                MdnsSocket::open_v4(interface, port)
            };
            let failed = inner
                .mdns_failing
                .iter()
                .position(|&f| f == (interface.index, v6));
            let mut socket = match (opened, failed) {
                (Ok(socket), Some(at)) => {
                    inner.mdns_failing.swap_remove(at);
                    inner.mdns_opened.push((interface.index, v6));
                    socket
                }
                (Ok(socket), None) => socket,
                (Err(error), None) => {
                    inner.mdns_failing.push((interface.index, v6));
                    inner.mdns_errors.push(MdnsSocketError {
                        interface: interface.index,
                        name: interface.name.clone(),
                        ipv6: v6,
                        error,
                    });
                    continue;
                }
                // Said already; tried again at the next recheck.
                (Err(_), Some(_)) => continue,
            };
            let index = match inner.mdns.iter().position(Option::is_none) {
                Some(free) => free,
                None if inner.mdns.len() < MDNS_MAX => {
                    inner.mdns.push(None);
                    inner.mdns.len() - 1
                }
                None => continue,
            };
            if inner
                .poll
                .registry()
                .register(
                    &mut socket.socket,
                    Token(MDNS_BASE + index),
                    Interest::READABLE,
                )
                .is_ok()
            {
                inner.mdns[index] = Some(socket);
            }
        }
    }
    // An interface that went is reported anew if it comes back and fails again.
    inner
        .mdns_failing
        .retain(|(index, _)| interfaces.iter().any(|i| i.index == *index));
    inner.interfaces = interfaces;
    Ok(())
}
