//! The loop's TCP on real loopback sockets: many connections, backpressure, resets,
//! connect timeouts, limits, commands, idle sleep and graceful stop.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use llxmpp_event_loop::{
    CloseReason, Config, ConnectOptions, ConnectionId, Context, EventLoop, Handler, Limits,
    LoopHandle, WriteState,
};

fn config(limits: Limits) -> Config {
    Config {
        limits,
        ..Config::loopback()
    }
}

/// Runs a loop with `handler` on its own thread; returns its port, a command handle and a
/// join handle that gives the handler back.
fn spawn<H: Handler<Command = Cmd> + Send + 'static>(
    limits: Limits,
    handler: H,
) -> (u16, LoopHandle<Cmd>, thread::JoinHandle<H>) {
    let (tx, rx) = mpsc::channel();
    let join = thread::spawn(move || {
        let mut handler = handler;
        let mut event_loop = EventLoop::new(config(limits)).unwrap();
        tx.send((event_loop.local_port().unwrap(), event_loop.handle()))
            .unwrap();
        event_loop.run(&mut handler).unwrap();
        handler
    });
    let (port, handle) = rx.recv().unwrap();
    (port, handle, join)
}

enum Cmd {
    Stop,
    Connect(SocketAddr, Duration),
    Write(usize),
    /// `.0` writes of `.1` bytes each, in one command.
    WriteMany(usize, usize),
}

fn stop_soon(ctx: &mut Context<'_>) {
    let deadline = ctx.now() + Duration::from_secs(2);
    ctx.stop(deadline);
}

/// Echoes everything back, with flow control: reading pauses while the write queue is
/// over the high watermark and resumes once it is writable again. Counts what happened.
#[derive(Default)]
struct Echo {
    accepted: usize,
    closed: Vec<String>,
    pauses: usize,
    refused_writes: usize,
    most_queued: usize,
}

impl Handler for Echo {
    type Command = Cmd;
    fn on_accepted(&mut self, _: &mut Context<'_>, _: ConnectionId, _: SocketAddr) {
        self.accepted += 1;
    }
    fn on_data(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, data: &[u8]) {
        match ctx.write(conn, data) {
            Ok(WriteState::Accepted) => {}
            Ok(WriteState::Backpressure) => {
                self.pauses += 1;
                ctx.pause_reading(conn);
            }
            Err(_) => self.refused_writes += 1,
        }
        self.most_queued = self.most_queued.max(ctx.queued(conn).unwrap_or(0));
    }
    fn on_writable(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        ctx.resume_reading(conn);
    }
    fn on_closed(&mut self, _: &mut Context<'_>, _: ConnectionId, reason: CloseReason) {
        self.closed.push(format!("{reason:?}"));
    }
    fn on_command(&mut self, ctx: &mut Context<'_>, command: Cmd) {
        if let Cmd::Stop = command {
            stop_soon(ctx);
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[test]
fn many_concurrent_connections_echo_with_partial_reads_and_writes() {
    let limits = Limits {
        max_connections_per_address: 1000,
        ..Limits::DEFAULT
    };
    let (port, handle, join) = spawn(limits, Echo::default());
    let clients: Vec<_> = (0..100u32)
        .map(|n| {
            thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let message: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + n) as u8).collect();
                let mut echoed = Vec::new();
                // Write in odd-sized pieces, reading back as we go.
                for piece in message.chunks(997 + n as usize) {
                    stream.write_all(piece).unwrap();
                    let mut buf = [0u8; 613];
                    let got = stream.read(&mut buf).unwrap();
                    echoed.extend_from_slice(&buf[..got]);
                }
                while echoed.len() < message.len() {
                    let mut buf = [0u8; 4096];
                    let got = stream.read(&mut buf).unwrap();
                    assert!(got > 0);
                    echoed.extend_from_slice(&buf[..got]);
                }
                assert_eq!(echoed, message);
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    handle.send(Cmd::Stop).ok().unwrap();
    let echo = join.join().unwrap();
    assert_eq!(echo.accepted, 100);
}

/// Writes a large payload to whoever connects, reporting backpressure, then stops.
struct Flood {
    payload: Vec<u8>,
    backpressure: usize,
    writable: usize,
}

impl Handler for Flood {
    type Command = Cmd;
    fn on_accepted(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, _: SocketAddr) {
        for chunk in self.payload.chunks(64 << 10) {
            if ctx.write(conn, chunk).unwrap() == WriteState::Backpressure {
                self.backpressure += 1;
            }
        }
        ctx.close(conn);
    }
    fn on_writable(&mut self, _: &mut Context<'_>, _: ConnectionId) {
        self.writable += 1;
    }
    fn on_closed(&mut self, ctx: &mut Context<'_>, _: ConnectionId, _: CloseReason) {
        let now = ctx.now();
        ctx.stop(now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[test]
fn a_slow_reader_hits_the_high_watermark_and_writing_resumes() {
    let limits = Limits {
        write_high_watermark: 256 << 10,
        write_low_watermark: 64 << 10,
        ..Limits::DEFAULT
    };
    let payload: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    let (port, _handle, join) = spawn(
        limits,
        Flood {
            payload: payload.clone(),
            backpressure: 0,
            writable: 0,
        },
    );
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    thread::sleep(Duration::from_millis(200));
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    assert!(
        received == payload,
        "{} of {} bytes",
        received.len(),
        payload.len()
    );
    let flood = join.join().unwrap();
    assert!(
        flood.backpressure > 0,
        "the queue passed the high watermark"
    );
    assert!(flood.writable >= 1, "and came back below the low one");
}

#[test]
fn pausing_reads_under_backpressure_bounds_the_queue_and_loses_nothing() {
    // A client that sends much more than the write queue may hold before it reads any of
    // the echo: without flow control the queue would overflow and bytes would be lost.
    let limits = Limits {
        write_high_watermark: 256 << 10,
        write_low_watermark: 64 << 10,
        max_write_queue: 1 << 20,
        ..Limits::DEFAULT
    };
    let payload: Vec<u8> = (0..24u32 << 20).map(|i| (i % 253) as u8).collect();
    let (port, handle, join) = spawn(limits, Echo::default());
    let mut writer = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut reader = writer.try_clone().unwrap();
    let sent = payload.clone();
    let writing = thread::spawn(move || writer.write_all(&sent).unwrap());
    thread::sleep(Duration::from_millis(500));
    // A read that waits this long means the loop stopped reading for good: a resumed
    // connection whose bytes were already waiting must be read without a new edge.
    reader
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut received = vec![0u8; payload.len()];
    let mut got = 0;
    while got < received.len() {
        match reader.read(&mut received[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => panic!(
                "the echo stalled after {got} of {} bytes: {e}",
                payload.len()
            ),
        }
    }
    writing.join().unwrap();
    assert!(
        received == payload,
        "{got} of {} bytes came back intact",
        payload.len()
    );
    handle.send(Cmd::Stop).ok().unwrap();
    let echo = join.join().unwrap();
    assert_eq!(echo.refused_writes, 0, "no write found the queue full");
    assert!(echo.pauses > 0, "the queue did pass the high watermark");
    assert!(
        echo.most_queued <= limits.write_high_watermark + limits.read_buffer,
        "the queue held {} bytes at most",
        echo.most_queued
    );
}

#[test]
fn stop_flushes_pending_writes_before_returning() {
    let payload = vec![7u8; 2 << 20];
    let (port, _handle, join) = spawn(
        Limits::DEFAULT,
        Flood {
            payload: payload.clone(),
            backpressure: 0,
            writable: 0,
        },
    );
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    assert_eq!(received.len(), payload.len());
    join.join().unwrap();
}

#[test]
fn a_reset_peer_is_an_event_and_the_loop_goes_on() {
    let (port, handle, join) = spawn(Limits::DEFAULT, Echo::default());
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    (&stream).write_all(b"hello").unwrap();
    drop(stream);
    thread::sleep(Duration::from_millis(100));
    // Still serving.
    let mut other = TcpStream::connect(("127.0.0.1", port)).unwrap();
    other.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    other.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    drop(other);
    thread::sleep(Duration::from_millis(100));
    handle.send(Cmd::Stop).ok().unwrap();
    let echo = join.join().unwrap();
    assert_eq!(echo.closed.len(), 2, "{:?}", echo.closed);
    assert!(
        echo.closed.iter().any(|c| c.contains("Error")),
        "the reset is an error: {:?}",
        echo.closed
    );
}

/// Opens `count` connections to `port` at once, writes a byte on each, and says how many
/// the loop serves (echoes) within one window of 3 s for all of them: a served one answers
/// at once, one the loop never accepted does not answer at all, so the window only has to
/// be long enough for a loaded machine (it was a fixed 200 ms pause, then 500 ms each).
fn served(port: u16, count: usize) -> usize {
    let mut streams: Vec<TcpStream> = (0..count)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for stream in &mut streams {
        stream.write_all(b"x").ok();
    }
    let window_end = Instant::now() + Duration::from_secs(3);
    streams
        .into_iter()
        .filter(|mut stream| {
            let left = window_end.saturating_duration_since(Instant::now());
            stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            matches!(stream.read(&mut [0u8; 1]), Ok(1))
        })
        .count()
}

#[test]
fn accepts_stop_at_the_per_address_limit() {
    let (port, handle, join) = spawn(
        Limits {
            max_connections_per_address: 3,
            ..Limits::DEFAULT
        },
        Echo::default(),
    );
    let open = served(port, 5);
    assert_eq!(open, 3);
    handle.send(Cmd::Stop).ok().unwrap();
    assert_eq!(join.join().unwrap().accepted, 3);
}

/// Connects where told; records the outcome.
#[derive(Default)]
struct Dialer {
    outcome: Option<String>,
    connected: Option<ConnectionId>,
}

impl Handler for Dialer {
    type Command = Cmd;
    fn on_command(&mut self, ctx: &mut Context<'_>, command: Cmd) {
        match command {
            Cmd::Connect(to, timeout) => {
                ctx.connect(
                    to,
                    ConnectOptions {
                        bind: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                        timeout,
                    },
                )
                .unwrap();
            }
            Cmd::Write(n) => {
                let conn = self.connected.unwrap();
                ctx.write(conn, &vec![b'z'; n]).unwrap();
                ctx.close(conn);
            }
            Cmd::WriteMany(..) => unreachable!("the dialer's tests do not send it"),
            Cmd::Stop => stop_soon(ctx),
        }
    }
    fn on_connected(&mut self, _: &mut Context<'_>, conn: ConnectionId) {
        self.connected = Some(conn);
        self.outcome = Some("connected".into());
    }
    fn on_closed(&mut self, _: &mut Context<'_>, _: ConnectionId, reason: CloseReason) {
        if self.outcome.is_none() {
            self.outcome = Some(format!("{reason:?}"));
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[test]
fn a_connect_that_never_completes_times_out() {
    // A listener that never accepts, its backlog filled: further SYNs are dropped.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let target = socket.local_addr().unwrap().as_socket().unwrap();
    let fillers: Vec<_> = (0..4)
        .filter_map(|_| TcpStream::connect_timeout(&target, Duration::from_millis(200)).ok())
        .collect();
    assert!(!fillers.is_empty());
    let (_port, handle, join) = spawn(Limits::DEFAULT, Dialer::default());
    handle
        .send(Cmd::Connect(target, Duration::from_millis(300)))
        .ok()
        .unwrap();
    thread::sleep(Duration::from_millis(800));
    handle.send(Cmd::Stop).ok().unwrap();
    assert_eq!(
        join.join().unwrap().outcome.as_deref(),
        Some("ConnectTimeout")
    );
}

#[test]
fn a_refused_connect_is_an_error_event() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (_port, handle, join) = spawn(Limits::DEFAULT, Dialer::default());
    handle
        .send(Cmd::Connect(free, Duration::from_secs(2)))
        .ok()
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    handle.send(Cmd::Stop).ok().unwrap();
    let outcome = join.join().unwrap().outcome;
    assert!(
        outcome
            .as_deref()
            .is_some_and(|o| o.contains("ConnectionRefused")),
        "{outcome:?}"
    );
}

#[test]
fn a_bound_connect_delivers_every_byte_then_closes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let (_port, handle, join) = spawn(Limits::DEFAULT, Dialer::default());
    handle
        .send(Cmd::Connect(target, Duration::from_secs(2)))
        .ok()
        .unwrap();
    let (mut accepted, peer) = listener.accept().unwrap();
    assert_eq!(
        peer.ip(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        "bound to the chosen local address"
    );
    thread::sleep(Duration::from_millis(100));
    handle.send(Cmd::Write(100_000)).ok().unwrap();
    let mut received = Vec::new();
    accepted.read_to_end(&mut received).unwrap();
    assert_eq!(received.len(), 100_000);
    handle.send(Cmd::Stop).ok().unwrap();
    assert_eq!(join.join().unwrap().outcome.as_deref(), Some("connected"));
}

/// Asks for a timeout every 100 ms and counts them.
struct Ticker {
    next: Instant,
    ticks: u32,
}

impl Handler for Ticker {
    type Command = Cmd;
    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        self.ticks += 1;
        self.next = ctx.now() + Duration::from_millis(100);
        if self.ticks == 10 {
            let now = ctx.now();
            ctx.stop(now);
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next)
    }
}

#[test]
fn an_idle_loop_sleeps_until_the_machines_timeout() {
    let mut event_loop: EventLoop<Cmd> = EventLoop::new(config(Limits::DEFAULT)).unwrap();
    let mut ticker = Ticker {
        next: Instant::now() + Duration::from_millis(100),
        ticks: 0,
    };
    let started = Instant::now();
    let stats = event_loop.run(&mut ticker).unwrap();
    assert_eq!(ticker.ticks, 10);
    assert!(started.elapsed() >= Duration::from_millis(1000));
    // One wake-up per tick, give or take a few early returns: not a busy loop.
    assert!(
        stats.wakeups <= 15,
        "{} wake-ups for 10 ticks",
        stats.wakeups
    );
}

#[test]
fn the_listener_takes_the_next_port_when_the_first_is_busy() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let config = Config {
        tcp_port: Some(port),
        ..config(Limits::DEFAULT)
    };
    let event_loop: EventLoop<Cmd> = EventLoop::new(config).unwrap();
    let got = event_loop.local_port().unwrap();
    assert!(got > port && got <= port + 20, "{got} after {port}");
}

/// Half-closes after a greeting; echoes what comes back.
struct HalfCloser;

impl Handler for HalfCloser {
    type Command = Cmd;
    fn on_accepted(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, _: SocketAddr) {
        ctx.write(conn, b"bye for now").unwrap();
        ctx.shutdown_write(conn);
    }
    fn on_data(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, data: &[u8]) {
        // Our sending side is shut: writes queue but never go out. Count them instead.
        let _ = (ctx, conn, data);
    }
    fn on_closed(&mut self, ctx: &mut Context<'_>, _: ConnectionId, _: CloseReason) {
        let now = ctx.now();
        ctx.stop(now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[test]
fn shutdown_write_half_closes_and_still_reads() {
    let (port, _handle, join) = spawn(Limits::DEFAULT, HalfCloser);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut greeting = Vec::new();
    // EOF after the greeting: the loop shut its sending side.
    stream.read_to_end(&mut greeting).unwrap();
    assert_eq!(greeting, b"bye for now");
    // Our side can still send; then we close and the loop sees it.
    stream.write_all(b"still here").unwrap();
    drop(stream);
    join.join().unwrap();
}

#[test]
fn accepts_stop_at_the_total_limit() {
    let limits = Limits {
        max_connections: 4,
        max_connections_per_address: 100,
        ..Limits::DEFAULT
    };
    let (port, handle, join) = spawn(limits, Echo::default());
    let open = served(port, 7);
    assert_eq!(open, 4);
    handle.send(Cmd::Stop).ok().unwrap();
    assert_eq!(join.join().unwrap().accepted, 4);
}

/// Writes on command to the one connection it has; records what the loop reported.
#[derive(Default)]
struct Batcher {
    conn: Option<ConnectionId>,
    queued_after_write: Vec<usize>,
    flushed: usize,
}

impl Handler for Batcher {
    type Command = Cmd;
    fn on_data(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, data: &[u8]) {
        self.conn = Some(conn);
        ctx.write(conn, data).unwrap();
    }
    fn on_flushed(&mut self, _: &mut Context<'_>, _: ConnectionId) {
        self.flushed += 1;
    }
    fn on_command(&mut self, ctx: &mut Context<'_>, command: Cmd) {
        match (command, self.conn) {
            (Cmd::Write(n), Some(conn)) => {
                ctx.write(conn, &vec![b'w'; n]).unwrap();
                self.queued_after_write.push(ctx.queued(conn).unwrap());
            }
            (Cmd::WriteMany(count, n), Some(conn)) => {
                for _ in 0..count {
                    ctx.write(conn, &vec![b'w'; n]).unwrap();
                    self.queued_after_write.push(ctx.queued(conn).unwrap());
                }
            }
            (Cmd::Stop, _) => stop_soon(ctx),
            _ => {}
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[test]
fn writes_made_by_a_batch_of_commands_go_out_together_and_their_flush_is_reported() {
    let (port, handle, join) = spawn(Limits::DEFAULT, Batcher::default());
    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    client.write_all(b"k").unwrap();
    client.read_exact(&mut [0u8; 1]).unwrap();
    for _ in 0..200 {
        handle.send(Cmd::Write(10)).ok().unwrap();
    }
    let mut got = vec![0u8; 2000];
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client.read_exact(&mut got).unwrap();
    assert!(got.iter().all(|&b| b == b'w'));
    handle.send(Cmd::Stop).ok().unwrap();
    let batcher = join.join().unwrap();
    assert_eq!(batcher.queued_after_write.len(), 200);
    // Inside a batch nothing is written yet: the queue holds every write so far.
    assert!(batcher.queued_after_write.iter().all(|&q| q >= 10));
    // Each batch's bytes left the queue after it, and the handler heard so.
    assert!(batcher.flushed >= 1, "{}", batcher.flushed);
    assert!(batcher.flushed <= 200, "{}", batcher.flushed);
}

#[test]
fn a_long_batch_of_writes_is_written_as_it_goes_not_held_back_whole() {
    let (port, handle, join) = spawn(Limits::DEFAULT, Batcher::default());
    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    client.write_all(b"k").unwrap();
    client.read_exact(&mut [0u8; 1]).unwrap();
    // 256 KiB from one command: more than a batch holds back (64 KiB).
    handle.send(Cmd::WriteMany(64, 4096)).ok().unwrap();
    let mut got = vec![0u8; 64 * 4096];
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client.read_exact(&mut got).unwrap();
    handle.send(Cmd::Stop).ok().unwrap();
    let batcher = join.join().unwrap();
    let queued = &batcher.queued_after_write;
    assert_eq!(queued.len(), 64);
    // Below 64 KiB a batch holds its writes back; from there it writes during the batch,
    // so the queue never holds the whole 256 KiB.
    assert_eq!(queued[14], 15 * 4096, "{queued:?}");
    assert!(queued.iter().all(|&q| q < 64 * 4096), "{queued:?}");
}

/// Logs the callbacks of one outgoing connection, in order.
#[derive(Default)]
struct FirstWords {
    log: Vec<String>,
    received: Vec<u8>,
}

impl Handler for FirstWords {
    type Command = Cmd;
    fn on_connected(&mut self, _: &mut Context<'_>, _: ConnectionId) {
        self.log.push("connected".into());
    }
    fn on_data(&mut self, _: &mut Context<'_>, _: ConnectionId, data: &[u8]) {
        self.log.push("data".into());
        self.received.extend_from_slice(data);
    }
    fn on_command(&mut self, ctx: &mut Context<'_>, command: Cmd) {
        match command {
            Cmd::Connect(to, timeout) => {
                ctx.connect(
                    to,
                    ConnectOptions {
                        bind: None,
                        timeout,
                    },
                )
                .unwrap();
                // The peer accepts and writes while the loop is busy here, so that the
                // connect's completion and the first bytes are reported together.
                thread::sleep(Duration::from_millis(300));
            }
            Cmd::Stop => stop_soon(ctx),
            _ => {}
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// iChat writes its stream header the moment it accepts: those bytes may be ready in the
/// same wake-up as the connect's completion, and must still come after `on_connected`.
#[test]
fn a_peer_that_speaks_first_is_heard_after_the_connect_completes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap();
    let (_port, handle, join) = spawn(Limits::DEFAULT, FirstWords::default());
    handle
        .send(Cmd::Connect(target, Duration::from_secs(2)))
        .ok()
        .unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    accepted.write_all(b"<stream:stream>").unwrap();
    thread::sleep(Duration::from_millis(600));
    handle.send(Cmd::Stop).ok().unwrap();
    let words = join.join().unwrap();
    assert_eq!(words.log.first().map(String::as_str), Some("connected"));
    assert_eq!(words.received, b"<stream:stream>");
}

/// Connects, writes `.0` bytes once connected, and reports the connection's send progress
/// every 10 ms.
struct Progress {
    bytes: usize,
    conn: Option<ConnectionId>,
    report: mpsc::Sender<llxmpp_event_loop::SendProgress>,
    next: Instant,
}

impl Handler for Progress {
    type Command = Cmd;
    fn on_command(&mut self, ctx: &mut Context<'_>, command: Cmd) {
        match command {
            Cmd::Connect(to, timeout) => {
                let options = ConnectOptions {
                    bind: None,
                    timeout,
                };
                self.conn = ctx.connect(to, options).ok();
            }
            _ => stop_soon(ctx),
        }
    }
    fn on_connected(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        ctx.write(conn, &vec![b'x'; self.bytes]).unwrap();
    }
    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        self.next = ctx.now() + Duration::from_millis(10);
        if let Some(progress) = self.conn.and_then(|c| ctx.send_progress(c)) {
            let _ = self.report.send(progress);
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next)
    }
}

/// Bytes the kernel took are not bytes the peer has: `acknowledged` stays behind while
/// the peer's window is shut, and reaches `written` once the peer reads.
#[cfg(target_os = "linux")]
#[test]
fn send_progress_counts_what_the_peer_acknowledged_not_what_the_kernel_took() {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .bind(&SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0).into())
        .unwrap();
    socket.listen(1).unwrap();
    let listener: std::net::TcpListener = socket.into();
    let to = listener.local_addr().unwrap();
    const BYTES: usize = 1 << 20;
    let (report, progress) = mpsc::channel();
    let handler = Progress {
        bytes: BYTES,
        conn: None,
        report,
        next: Instant::now(),
    };
    let (_, handle, join) = spawn(Limits::DEFAULT, handler);
    handle
        .send(Cmd::Connect(to, Duration::from_secs(5)))
        .map_err(|_| ())
        .unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    // The peer does not read: its window shuts with most of the bytes still ours. The
    // first report that says the kernel took them all (a report comes every 10 ms; a
    // loaded machine may take a while to give the first).
    let deadline = Instant::now() + Duration::from_secs(5);
    let stalled = loop {
        let report = progress.recv_timeout(Duration::from_secs(5)).unwrap();
        if report.written == BYTES as u64 || Instant::now() > deadline {
            break report;
        }
    };
    assert_eq!(stalled.written, BYTES as u64);
    let acknowledged = stalled.acknowledged.unwrap();
    assert!(acknowledged < BYTES as u64 / 2, "{stalled:?}");
    let mut got = vec![0u8; BYTES];
    peer.read_exact(&mut got).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let done = loop {
        let last = progress.recv_timeout(Duration::from_secs(1)).unwrap();
        if last.acknowledged == Some(BYTES as u64) || Instant::now() > deadline {
            break last;
        }
    };
    assert_eq!(done.acknowledged, Some(BYTES as u64), "{done:?}");
    assert_eq!(done.in_flight, Some(0));
    handle.send(Cmd::Stop).map_err(|_| ()).unwrap();
    join.join().unwrap();
}

/// Consumes slowly (as a handler that writes a file to disk): counts the bytes of the
/// first connection, and notes how many had come when the second one spoke.
#[derive(Default)]
struct SlowSink {
    first: Option<ConnectionId>,
    bulk_bytes: usize,
    bulk_bytes_when_other_spoke: Option<usize>,
}

impl Handler for SlowSink {
    type Command = Cmd;
    fn on_accepted(&mut self, _: &mut Context<'_>, conn: ConnectionId, _: SocketAddr) {
        self.first.get_or_insert(conn);
    }
    fn on_data(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, data: &[u8]) {
        if Some(conn) == self.first {
            self.bulk_bytes += data.len();
            thread::sleep(Duration::from_micros(100));
        } else if self.bulk_bytes_when_other_spoke.is_none() {
            self.bulk_bytes_when_other_spoke = Some(self.bulk_bytes);
            stop_soon(ctx);
        }
    }
    fn on_command(&mut self, ctx: &mut Context<'_>, _: Cmd) {
        stop_soon(ctx);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[test]
fn a_connection_that_never_runs_dry_does_not_starve_the_others() {
    let (port, handle, join) = spawn(Limits::DEFAULT, SlowSink::default());
    let address = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    // A bulk sender that keeps the first connection's socket full for seconds…
    let mut bulk = TcpStream::connect(address).unwrap();
    let writer = thread::spawn(move || {
        let chunk = vec![7u8; 64 << 10];
        for _ in 0..(512 << 20) / chunk.len() {
            if bulk.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    thread::sleep(Duration::from_millis(200));
    // …and a few bytes on a second one, which must be heard while the first still flows.
    let mut other = TcpStream::connect(address).unwrap();
    other.write_all(b"hello").unwrap();
    let sink = join.join().unwrap();
    let _ = handle.send(Cmd::Stop);
    drop(other);
    let _ = writer.join();
    let heard_at = sink
        .bulk_bytes_when_other_spoke
        .expect("the second connection was heard");
    assert!(
        heard_at < 256 << 20,
        "the second connection was heard only after {heard_at} bytes of the first"
    );
}
