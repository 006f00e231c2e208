//! llxmpp nodes end to end over loopback TCP, discovered over mDNS on `lo`, in a network
//! namespace this benchmark makes (it needs root; without, it says so and measures
//! nothing). Not criterion: each figure is one measurement of a steady state.
//!
//! - `e2e_msgs_per_s`: two nodes, one stream, 100-byte bodies, sender command to receiver
//!   event, sustained for 5 s; `e2e_latency_p50_us` / `e2e_latency_p99_us` at a paced
//!   10,000 messages/s.
//! - `e2e_scaling_msgs_per_s_{1,10,100}`: one receiving node fed by 1, 10 and 100
//!   concurrent peer streams at once (raw streams written by one thread, so the node's
//!   side is what is measured).
//! - `idle_stream_rss_bytes`: a node (in a process of its own) holding 10,000 concurrent
//!   idle XMPP streams, header exchanged; its RSS growth divided by the streams.
//! - `idle_rss_bytes`, `rss_growth_bytes_per_1m_msgs`: the `llxmpp` binary itself
//!   (`chat --json`, release build: `$LLXMPP_BIN` or `target/release/llxmpp`) at idle,
//!   and its RSS growth after receiving one million messages.
//!
//! - `e2e_encrypted_msgs_per_s` / `e2e_plaintext_msgs_per_s`: as `e2e_msgs_per_s`, two
//!   other pairs of nodes in the same run, one pair with `--encrypt prefer` (STARTTLS,
//!   TLS 1.3), for 3 s each, one after the other.
//! - `e2e_first_message_{plaintext,encrypted}_us`: from the send command, with no stream
//!   open, to the receiver's event (TCP connect, headers, and for the encrypted pair
//!   STARTTLS and the handshake), the median of 20 (streams close after 100 ms idle).
//! - `session_idle_bytes_{plaintext,encrypted}`: 1,000 pairs of `Session`s in memory,
//!   opened (and encrypted) and idle; this process's RSS growth per session.
//!
//! Every figure goes to `target/bench-summary.json`.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use llxmpp::node::{
    EncryptMode, EncryptionConfig, Events, Node, NodeCommand, NodeConfig, NodeEvent,
};
use llxmpp::session::{Encryption, MustEncrypt, Session, SessionConfig, SessionEvent};
use llxmpp_event_loop::{Config, EventLoop, InterfaceSelection, Limits, LoopHandle};
use llxmpp_roster::Presence;
use llxmpp_secure::{Identity, KnownKeys, TlsContext};

const SUSTAIN: Duration = Duration::from_secs(5);
const SCALING_STREAMS: [usize; 3] = [1, 10, 100];
const SCALING_SPELL: Duration = Duration::from_secs(3);
const IDLE_STREAMS: usize = 10_000;
const GROWTH_MESSAGES: u64 = 1_000_000;
/// Messages a sender keeps in flight: enough to keep the stream full, bounded so that
/// the measured receiver is never buried.
const WINDOW: u64 = 20_000;

/// How a node of this benchmark is set up.
struct NodeSetup {
    name: &'static str,
    port: u16,
    /// Run mDNS on `lo` (the nodes that discover each other) or not at all.
    mdns: bool,
    accept_unknown: bool,
    limits: Limits,
    /// STARTTLS with peers that can (`--encrypt prefer`), with a key made for the run.
    encrypt: bool,
    idle_timeout: Duration,
}

impl NodeSetup {
    fn chatting(name: &'static str, port: u16) -> NodeSetup {
        NodeSetup {
            name,
            port,
            mdns: true,
            accept_unknown: false,
            limits: Limits::DEFAULT,
            encrypt: false,
            idle_timeout: Duration::from_secs(600),
        }
    }

    fn encrypted(mut self) -> NodeSetup {
        self.encrypt = true;
        self
    }

    fn idle_after(mut self, idle: Duration) -> NodeSetup {
        self.idle_timeout = idle;
        self
    }

    /// A node that takes streams from anyone, up to `streams` of them, without mDNS.
    fn receiving(name: &'static str, port: u16, streams: usize) -> NodeSetup {
        NodeSetup {
            name,
            port,
            mdns: false,
            accept_unknown: true,
            limits: Limits {
                max_connections: streams + 100,
                max_connections_per_address: streams + 100,
                ..Limits::DEFAULT
            },
            encrypt: false,
            idle_timeout: Duration::from_secs(600),
        }
    }

    fn start(self) -> (LoopHandle<NodeCommand>, Events) {
        let config = NodeConfig {
            name: self.name.into(),
            host: "bench".into(),
            presence: Presence::default(),
            accept_unknown: self.accept_unknown,
            idle_timeout: self.idle_timeout,
            connect_timeout: Duration::from_secs(5),
            bind: Vec::new(),
            avatar: None,
            max_unread_event_bytes: llxmpp::node::DEFAULT_MAX_UNREAD_EVENT_BYTES,
        };
        let loop_config = Config {
            mdns: self
                .mdns
                .then(|| InterfaceSelection::Named(vec!["lo".into()])),
            tcp_port: Some(self.port),
            port_search: 0,
            ipv6: false,
            limits: self.limits,
            ..Config::default()
        };
        let mut event_loop: EventLoop<NodeCommand> = EventLoop::new(loop_config).expect("sockets");
        let handle = event_loop.handle();
        let (tx, rx) = llxmpp::node::events();
        let seed = u64::from(self.port);
        let encryption = self.encrypt.then(|| EncryptionConfig {
            mode: EncryptMode::Prefer,
            identity: Identity::generate().expect("a key"),
            known_keys: KnownKeys::new(),
            known_keys_file: None,
        });
        thread::spawn(move || {
            let mut node = Node::new(config, tx, seed);
            if let Some(encryption) = encryption {
                node.set_encryption(encryption).expect("encryption");
            }
            event_loop.run(&mut node).expect("loop");
        });
        (handle, rx)
    }
}

fn wait_for(events: &Events, want: impl Fn(&NodeEvent) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Ok(event) = events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if want(&event) {
            return;
        }
    }
    panic!("timed out");
}

fn result(key: &str, value: f64) {
    println!("RESULT {key} {value}");
}

fn send(node: &LoopHandle<NodeCommand>, to: &str, body: String, id: String) {
    node.send(NodeCommand::Send {
        to: to.into(),
        body,
        id,
    })
    .ok();
}

/// Two nodes over one stream: sustained throughput, then latency at a paced rate.
fn two_nodes(alice: &LoopHandle<NodeCommand>, alice_events: &Events) {
    let (_bob, bob_events) = NodeSetup::chatting("bob", 5299).start();
    wait_for(
        alice_events,
        |e| matches!(e, NodeEvent::PeerOnline(p) if p.instance == "bob@bench"),
    );
    wait_for(
        &bob_events,
        |e| matches!(e, NodeEvent::PeerOnline(p) if p.instance == "alice@bench"),
    );
    let body = "x".repeat(100);
    // Warm the stream up.
    send(alice, "bob@bench", body.clone(), "warm".into());
    wait_for(&bob_events, |e| matches!(e, NodeEvent::Message { .. }));

    // Throughput: keep a window of messages in flight for SUSTAIN.
    let start = Instant::now();
    let (mut sent, mut received) = (0u64, 0u64);
    while start.elapsed() < SUSTAIN {
        while sent - received < WINDOW {
            send(alice, "bob@bench", body.clone(), sent.to_string());
            sent += 1;
        }
        while let Ok(event) = bob_events.recv_timeout(Duration::from_millis(1)) {
            if matches!(event, NodeEvent::Message { .. }) {
                received += 1;
            }
        }
        while alice_events.try_recv().is_ok() {}
    }
    let elapsed = start.elapsed().as_secs_f64();
    result("e2e_msgs_per_s", received as f64 / elapsed);
    // Drain what is in flight.
    while received < sent {
        match bob_events.recv_timeout(Duration::from_secs(10)) {
            Ok(NodeEvent::Message { .. }) => received += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    while alice_events.try_recv().is_ok() {}

    // Latency at 10,000 messages/s for 2 s: the body carries the send time.
    let origin = Instant::now();
    let total = 20_000u64;
    let receiver = thread::spawn(move || {
        let mut latencies = Vec::with_capacity(total as usize);
        while (latencies.len() as u64) < total {
            match bob_events.recv_timeout(Duration::from_secs(10)) {
                Ok(NodeEvent::Message { body, .. }) => {
                    let sent_at: u64 = body
                        .split(' ')
                        .next()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0);
                    let now = origin.elapsed().as_micros() as u64;
                    latencies.push(now.saturating_sub(sent_at));
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        latencies
    });
    for n in 0..total {
        let due = Duration::from_micros(n * 100);
        while origin.elapsed() < due {
            std::hint::spin_loop();
        }
        let stamp = origin.elapsed().as_micros();
        send(
            alice,
            "bob@bench",
            format!("{stamp} {}", "y".repeat(90)),
            format!("l{n}"),
        );
    }
    let mut latencies = receiver.join().unwrap();
    while alice_events.try_recv().is_ok() {}
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0) as f64
    };
    result("e2e_latency_p50_us", percentile(0.5));
    result("e2e_latency_p99_us", percentile(0.99));
    result("e2e_latency_samples", latencies.len() as f64);
}

/// The opening a peer `k` writes: stream header, as libpurple writes it.
fn peer_header(k: usize, to: &str) -> String {
    format!(
        "<?xml version='1.0' encoding='UTF-8' ?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' from='peer{k}@bench' to='{to}' \
         version='1.0'>"
    )
}

/// One receiving node, `streams` peers writing to it at once: messages per second the
/// node reports.
fn flood(streams: usize, port: u16, to: &str, events: &Events) -> f64 {
    let mut sockets = Vec::new();
    for k in 0..streams {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        socket
            .write_all(peer_header(k, to).as_bytes())
            .expect("header");
        socket.set_nonblocking(true).expect("nonblocking");
        sockets.push(socket);
    }
    // Each peer repeats a batch of 256 messages with 100-byte bodies.
    let batches: Vec<Vec<u8>> = (0..streams)
        .map(|k| {
            (0..256)
                .map(|i| {
                    format!(
                        "<message to='{to}' from='peer{k}@bench' type='chat' id='{i}'>\
                         <body>{}</body></message>",
                        "x".repeat(100)
                    )
                })
                .collect::<String>()
                .into_bytes()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut offsets = vec![0usize; streams];
            let mut sink = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                let mut progress = false;
                for (k, socket) in sockets.iter_mut().enumerate() {
                    // The node's stream header: read and dropped.
                    let _ = socket.read(&mut sink);
                    match socket.write(&batches[k][offsets[k]..]) {
                        Ok(n) => {
                            progress = true;
                            offsets[k] = (offsets[k] + n) % batches[k].len();
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Err(e) => panic!("peer {k}: {e}"),
                    }
                }
                if !progress {
                    thread::sleep(Duration::from_micros(50));
                }
            }
            sockets
        })
    };
    let count_for = |spell: Duration| {
        let end = Instant::now() + spell;
        let mut count = 0u64;
        while let Ok(event) = events.recv_timeout(end.saturating_duration_since(Instant::now())) {
            if matches!(event, NodeEvent::Message { .. }) {
                count += 1;
            }
        }
        count
    };
    count_for(Duration::from_millis(500));
    let started = Instant::now();
    let count = count_for(SCALING_SPELL);
    let rate = count as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    drop(writer.join().expect("writer"));
    // Let the node report the rest and see the streams go.
    while events.recv_timeout(Duration::from_millis(300)).is_ok() {}
    rate
}

fn scaling() {
    let largest = SCALING_STREAMS[SCALING_STREAMS.len() - 1];
    let (_carol, carol_events) = NodeSetup::receiving("carol", 5300, largest).start();
    for streams in SCALING_STREAMS {
        let rate = flood(streams, 5300, "carol@bench", &carol_events);
        result(&format!("e2e_scaling_msgs_per_s_{streams}"), rate);
    }
}

/// Child role: a node that takes up to IDLE_STREAMS streams, says READY, and runs until
/// stdin ends.
fn idle_node() {
    llxmpp_benches::raise_descriptor_limit(IDLE_STREAMS as u64 + 256);
    let (handle, events) = NodeSetup::receiving("idle", 5301, IDLE_STREAMS).start();
    thread::spawn(move || for _ in events.iter() {});
    println!("READY");
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    handle.send(NodeCommand::Quit).ok();
}

fn idle_streams() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("LLXMPP_E2E_ROLE", "idle-node")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("idle node");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .expect("READY");
    let pid = child.id();
    // One stream first, so that what every stream shares is already there.
    let mut first = TcpStream::connect(("127.0.0.1", 5301)).expect("connect");
    first
        .write_all(peer_header(0, "idle@bench").as_bytes())
        .expect("header");
    first.read_exact(&mut [0u8; 1]).expect("the node's header");
    thread::sleep(Duration::from_millis(300));
    let before = llxmpp_benches::rss_bytes(Some(pid));
    let mut streams = Vec::with_capacity(IDLE_STREAMS);
    for k in 1..=IDLE_STREAMS {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", 5301)) else {
            break;
        };
        if stream
            .write_all(peer_header(k, "idle@bench").as_bytes())
            .is_err()
        {
            break;
        }
        streams.push(stream);
    }
    // Every stream answered with the node's header: it holds them all as XMPP streams.
    let mut answered = 0;
    for stream in &mut streams {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        if stream.read(&mut [0u8; 64]).is_ok_and(|n| n > 0) {
            answered += 1;
        }
    }
    thread::sleep(Duration::from_secs(1));
    let after = llxmpp_benches::rss_bytes(Some(pid));
    result("idle_streams_held", answered as f64);
    result(
        "idle_stream_rss_bytes",
        after.saturating_sub(before) as f64 / answered.max(1) as f64,
    );
    drop(child.stdin.take());
    let _ = child.wait();
}

/// The release `llxmpp` binary, if built.
fn llxmpp_binary() -> Option<std::path::PathBuf> {
    std::env::var_os("LLXMPP_BIN")
        .map(Into::into)
        .or_else(|| Some(llxmpp_benches::target_dir().join("release/llxmpp")))
        .filter(|path| path.exists())
}

/// The `llxmpp` binary as users run it: RSS at idle, and after a million messages.
fn binary_memory(alice: &LoopHandle<NodeCommand>, alice_events: &Events) {
    let Some(binary) = llxmpp_binary() else {
        println!(
            "NOTE the llxmpp binary is not built (cargo build --release -p llxmpp): \
             idle_rss_bytes and rss_growth_bytes_per_1m_msgs not measured"
        );
        return;
    };
    let mut dave = Command::new(binary)
        .args([
            "chat",
            "--json",
            "--name",
            "dave",
            "--host",
            "bench",
            "--interface",
            "lo",
            "--port",
            "5302",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("llxmpp binary");
    let received = Arc::new(AtomicU64::new(0));
    {
        let received = received.clone();
        let stdout = dave.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains(r#""event":"message""#) {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    wait_for(
        alice_events,
        |e| matches!(e, NodeEvent::PeerOnline(p) if p.instance == "dave@bench"),
    );
    thread::sleep(Duration::from_secs(1));
    let pid = dave.id();
    let idle = llxmpp_benches::rss_bytes(Some(pid));
    let body = "z".repeat(100);
    // A chat-like window: what is in flight is buffered, and a buffer's high-water mark
    // stays in RSS (the allocator keeps freed pages), so a 20,000-message window would
    // show as ~10 MB of "growth" that is no leak.
    let window = 1_000;
    let mut sent = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.load(Ordering::Relaxed) < GROWTH_MESSAGES && Instant::now() < deadline {
        while sent < GROWTH_MESSAGES && sent - received.load(Ordering::Relaxed) < window {
            send(alice, "dave@bench", body.clone(), sent.to_string());
            sent += 1;
        }
        while alice_events.try_recv().is_ok() {}
        thread::sleep(Duration::from_millis(1));
    }
    let got = received.load(Ordering::Relaxed);
    thread::sleep(Duration::from_secs(1));
    let after = llxmpp_benches::rss_bytes(Some(pid));
    result("idle_rss_bytes", idle as f64);
    result("rss_growth_messages", got as f64);
    result(
        "rss_growth_bytes_per_1m_msgs",
        after.saturating_sub(idle) as f64 * GROWTH_MESSAGES as f64 / got.max(1) as f64,
    );
    if let Some(stdin) = dave.stdin.as_mut() {
        let _ = writeln!(stdin, r#"{{"cmd":"quit"}}"#);
    }
    let _ = dave.wait();
}

/// Messages per second from `from` to `to` (`to_events`) over one warm stream, for `spell`.
fn sustained(
    from: &LoopHandle<NodeCommand>,
    from_events: &Events,
    to: &str,
    to_events: &Events,
    spell: Duration,
) -> f64 {
    let body = "x".repeat(100);
    send(from, to, body.clone(), "warm".into());
    wait_for(to_events, |e| matches!(e, NodeEvent::Message { .. }));
    let start = Instant::now();
    let (mut sent, mut received) = (0u64, 0u64);
    while start.elapsed() < spell {
        while sent - received < WINDOW {
            send(from, to, body.clone(), sent.to_string());
            sent += 1;
        }
        while let Ok(event) = to_events.recv_timeout(Duration::from_millis(1)) {
            if matches!(event, NodeEvent::Message { .. }) {
                received += 1;
            }
        }
        while from_events.try_recv().is_ok() {}
    }
    let rate = received as f64 / start.elapsed().as_secs_f64();
    while received < sent {
        match to_events.recv_timeout(Duration::from_secs(10)) {
            Ok(NodeEvent::Message { .. }) => received += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    while from_events.try_recv().is_ok() {}
    rate
}

/// Median microseconds from a send with no stream open to the receiver's event: the
/// streams close after `idle`, so each sample opens a new one.
fn first_message_us(
    from: &LoopHandle<NodeCommand>,
    from_events: &Events,
    to: &str,
    to_events: &Events,
    idle: Duration,
) -> f64 {
    let mut samples = Vec::new();
    for n in 0..20 {
        // The stream of the sample before is gone (both sides' idle timeouts).
        thread::sleep(idle * 4);
        while to_events.try_recv().is_ok() {}
        let start = Instant::now();
        send(from, to, "first".into(), format!("f{n}"));
        wait_for(to_events, |e| matches!(e, NodeEvent::Message { .. }));
        samples.push(start.elapsed().as_micros() as f64);
        while from_events.try_recv().is_ok() {}
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Two nodes that have seen each other: the sender's handle and events, the receiver's
/// instance name, handle and events.
type Pair = (
    LoopHandle<NodeCommand>,
    Events,
    String,
    LoopHandle<NodeCommand>,
    Events,
);

fn pair(
    names: (&'static str, &'static str),
    ports: (u16, u16),
    encrypt: bool,
    idle: Duration,
) -> Pair {
    let setup = |name, port| {
        let node = NodeSetup::chatting(name, port).idle_after(idle);
        if encrypt {
            node.encrypted()
        } else {
            node
        }
    };
    let (a, a_events) = setup(names.0, ports.0).start();
    let (b, b_events) = setup(names.1, ports.1).start();
    let (a_name, b_name) = (format!("{}@bench", names.0), format!("{}@bench", names.1));
    wait_for(
        &a_events,
        |e| matches!(e, NodeEvent::PeerOnline(p) if p.instance == b_name),
    );
    wait_for(
        &b_events,
        |e| matches!(e, NodeEvent::PeerOnline(p) if p.instance == a_name),
    );
    (a, a_events, b_name, b, b_events)
}

/// Plaintext and encrypted pairs of nodes, measured the same way in the same run.
fn encryption() {
    // Streams close after this long without input: each first-message sample then opens
    // a new one. The throughput pairs keep theirs (a sender hears nothing back while it
    // floods, and would close its stream on this timeout).
    const IDLE: Duration = Duration::from_millis(100);
    let mut rates = Vec::new();
    for (label, encrypt, base) in [("plaintext", false, 5310), ("encrypted", true, 5320)] {
        let names: [(&'static str, &'static str); 2] = if encrypt {
            [("encfirsta", "encfirstb"), ("encflooda", "encfloodb")]
        } else {
            [
                ("plainfirsta", "plainfirstb"),
                ("plainflooda", "plainfloodb"),
            ]
        };
        let (a, a_events, b_name, b, b_events) = pair(names[0], (base, base + 1), encrypt, IDLE);
        let first = first_message_us(&a, &a_events, &b_name, &b_events, IDLE);
        result(&format!("e2e_first_message_{label}_us"), first);
        a.send(NodeCommand::Quit).ok();
        b.send(NodeCommand::Quit).ok();
        let long = Duration::from_secs(600);
        let (a, a_events, b_name, b, b_events) =
            pair(names[1], (base + 2, base + 3), encrypt, long);
        let rate = sustained(&a, &a_events, &b_name, &b_events, Duration::from_secs(3));
        result(&format!("e2e_{label}_msgs_per_s"), rate);
        rates.push(rate);
        a.send(NodeCommand::Quit).ok();
        b.send(NodeCommand::Quit).ok();
    }
    result(
        "e2e_encrypted_of_plaintext_percent",
        rates[1] / rates[0] * 100.0,
    );
}

/// RSS growth per session of 1,000 pairs of sessions in memory, opened and idle.
fn idle_sessions() {
    const PAIRS: usize = 1000;
    let (ta, tb) = (
        Arc::new(TlsContext::new(&Identity::generate().expect("a key")).expect("tls")),
        Arc::new(TlsContext::new(&Identity::generate().expect("a key")).expect("tls")),
    );
    for encrypt in [false, true] {
        let config = |name: &str, tls: &Arc<TlsContext>| SessionConfig {
            encryption: if encrypt {
                Encryption::Prefer {
                    tls: Arc::clone(tls),
                    must_encrypt: MustEncrypt(Arc::new(|_| false)),
                }
            } else {
                Encryption::Off
            },
            ..SessionConfig::new(name)
        };
        let before = llxmpp_benches::rss_bytes(None);
        let now = Instant::now();
        let mut pairs = Vec::with_capacity(PAIRS);
        for _ in 0..PAIRS {
            let mut a = Session::initiator(config("a@bench", &ta), "b@bench", now);
            let mut b = Session::responder(config("b@bench", &tb), now);
            for _ in 0..10 {
                let mut moved = false;
                if let Some(bytes) = a.poll_transmit() {
                    b.handle_input(now, &bytes);
                    moved = true;
                }
                if let Some(bytes) = b.poll_transmit() {
                    a.handle_input(now, &bytes);
                    moved = true;
                }
                for session in [&mut a, &mut b] {
                    while let Some(event) = session.poll_event() {
                        if matches!(event, SessionEvent::Secured { .. }) {
                            session.accept_key(now);
                            moved = true;
                        }
                    }
                }
                if !moved {
                    break;
                }
            }
            assert!(a.is_open() && b.is_open() && a.is_encrypted() == encrypt);
            pairs.push((a, b));
        }
        let grown = llxmpp_benches::rss_bytes(None).saturating_sub(before);
        let label = if encrypt { "encrypted" } else { "plaintext" };
        result(
            &format!("session_idle_bytes_{label}"),
            grown as f64 / (2 * PAIRS) as f64,
        );
        drop(pairs);
    }
}

/// Inside the namespace: every measurement, as `RESULT <key> <value>` lines.
fn inner() {
    llxmpp_benches::raise_descriptor_limit(IDLE_STREAMS as u64 + 1024);
    let (alice, alice_events) = NodeSetup::chatting("alice", 5298).start();
    two_nodes(&alice, &alice_events);
    encryption();
    idle_sessions();
    scaling();
    idle_streams();
    binary_memory(&alice, &alice_events);
    alice.send(NodeCommand::Quit).ok();
}

fn main() {
    match std::env::var("LLXMPP_E2E_ROLE").as_deref() {
        Ok("inner") => return inner(),
        Ok("idle-node") => return idle_node(),
        _ => {}
    }
    let ns = format!("llbench{}", std::process::id());
    let made = Command::new("ip")
        .args(["netns", "add", &ns])
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        println!("e2e: cannot make a network namespace (needs root and iproute2): not measured");
        return;
    }
    let setup = [
        ["link", "set", "lo", "up"].as_slice(),
        &["link", "set", "lo", "multicast", "on"],
        &["route", "add", "224.0.0.0/4", "dev", "lo"],
    ];
    for args in setup {
        let mut all = vec!["-n", ns.as_str()];
        all.extend_from_slice(args);
        let _ = Command::new("ip").args(&all).status();
    }
    let output = Command::new("ip")
        .args(["netns", "exec", &ns])
        .arg(std::env::current_exe().unwrap())
        .env("LLXMPP_E2E_ROLE", "inner")
        .stderr(Stdio::inherit())
        .output()
        .expect("run inside the namespace");
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut entries = serde_json::Map::new();
    println!("{:<40} {:>14}", "end to end, over loopback", "value");
    for line in stdout.lines() {
        if let Some(note) = line.strip_prefix("NOTE ") {
            println!("{note}");
        }
        let Some((key, value)) = line.strip_prefix("RESULT ").and_then(|r| r.split_once(' '))
        else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        println!("{key:<40} {value:>14.0}");
        entries.insert(key.to_owned(), value.into());
    }
    if entries.is_empty() {
        println!("e2e: no result (exit {:?})\n{stdout}", output.status.code());
        return;
    }
    if let Err(error) = llxmpp_benches::add_to_summary(entries) {
        eprintln!("cannot write the summary: {error}");
    }
}
