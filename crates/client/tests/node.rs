//! The `Node` in a real event loop, reached over loopback TCP by raw XMPP streams: its
//! timeouts, kept per stream in a deadline index, close exactly the idle streams.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use llxmpp::node::{Events, Node, NodeCommand, NodeConfig, NodeEvent, EVENT_OVERHEAD_BYTES};
use llxmpp_event_loop::{Config, EventLoop, Limits};
use llxmpp_roster::Presence;

const IDLE: Duration = Duration::from_millis(600);

fn start_node(
    max_unread_event_bytes: usize,
) -> (u16, llxmpp_event_loop::LoopHandle<NodeCommand>, Events) {
    let config = NodeConfig {
        name: "idle".into(),
        host: "test".into(),
        presence: Presence::default(),
        accept_unknown: true,
        idle_timeout: IDLE,
        connect_timeout: Duration::from_secs(5),
        bind: Vec::new(),
        avatar: None,
        max_unread_event_bytes,
    };
    let mut event_loop: EventLoop<NodeCommand> = EventLoop::new(Config::loopback()).unwrap();
    let port = event_loop.local_port().unwrap();
    let handle = event_loop.handle();
    let (tx, rx) = llxmpp::node::events();
    thread::spawn(move || {
        let mut node = Node::new(config, tx, 7);
        event_loop.run(&mut node).unwrap();
    });
    (port, handle, rx)
}

fn open_stream(port: u16, k: usize) -> TcpStream {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    write!(
        stream,
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
         from='peer{k}@test' to='idle@test' version='1.0'>"
    )
    .unwrap();
    stream.set_nonblocking(true).unwrap();
    stream
}

/// Reads what is there; `true` once the node has closed the stream (its stream close,
/// or the connection's end).
fn closed_by_node(stream: &mut TcpStream, seen: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return seen.ends_with(b"</stream:stream>"),
        }
    }
}

#[test]
fn idle_streams_close_at_their_own_timeouts_and_a_busy_one_stays() {
    let (port, handle, events) = start_node(llxmpp::node::DEFAULT_MAX_UNREAD_EVENT_BYTES);
    let started = Instant::now();
    // Ten idle streams opened 100 ms apart, and one that keeps sending messages.
    let mut busy = open_stream(port, 0);
    let mut idle: Vec<(Instant, TcpStream, Vec<u8>, Option<Instant>)> = Vec::new();
    let mut busy_seen = Vec::new();
    let mut sent = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        if idle.len() < 10 && started.elapsed() >= Duration::from_millis(100) * idle.len() as u32 {
            idle.push((
                Instant::now(),
                open_stream(port, idle.len() + 1),
                Vec::new(),
                None,
            ));
        }
        write!(
            busy,
            "<message to='idle@test' from='peer0@test' type='chat'><body>{sent}</body></message>"
        )
        .unwrap();
        sent += 1;
        assert!(
            !closed_by_node(&mut busy, &mut busy_seen),
            "the busy stream was closed"
        );
        for (_, stream, seen, closed_at) in &mut idle {
            if closed_at.is_none() && closed_by_node(stream, seen) {
                *closed_at = Some(Instant::now());
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    for (opened, _, seen, closed_at) in &idle {
        let closed_at = closed_at.expect("an idle stream was never closed");
        let after = closed_at - *opened;
        // Closed once idle for the timeout: not before it, and not long after.
        assert!(after >= IDLE, "closed after {after:?}");
        assert!(
            after < IDLE + Duration::from_millis(500),
            "closed after {after:?}"
        );
        let text = String::from_utf8_lossy(seen);
        assert!(text.ends_with("</stream:stream>"), "{text}");
    }
    // Every message on the busy stream arrived.
    let mut messages = 0;
    while messages < sent {
        match events.recv_timeout(Duration::from_secs(5)) {
            Ok(NodeEvent::Message { .. }) => messages += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(messages, sent);
    handle.send(NodeCommand::Quit).ok();
}

#[test]
fn an_application_that_reads_no_events_stops_the_peers_not_the_memory() {
    const BOUND: usize = 64 << 10;
    let (port, handle, events) = start_node(BOUND);
    let mut stream = open_stream(port, 1);
    // Send messages, reading no event, until the node stops taking them: once the
    // application is BOUND behind, the node stops reading and TCP pushes back.
    let padding = "x".repeat(100);
    let mut out = Vec::new();
    let mut messages = 0usize;
    let mut last_progress = Instant::now();
    loop {
        if out.is_empty() {
            write!(
                out,
                "<message to='idle@test' from='peer1@test' type='chat'><body>{messages} {padding}</body></message>"
            )
            .unwrap();
            messages += 1;
        }
        match stream.write(&out) {
            Ok(n) => {
                out.drain(..n);
                last_progress = Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if last_progress.elapsed() > Duration::from_millis(500) {
                    break;
                }
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("the node closed the stream: {e}"),
        }
        assert!(
            messages < 1_000_000,
            "the node took a million messages that nobody read ({} bytes unread)",
            events.unread_bytes()
        );
    }
    let unread = events.unread_bytes();
    // The node looks at the bound between reads, so the events of one read (at most
    // read_buffer bytes: as many messages as fit, and one begun in the read before) may
    // land after it is passed. Each counts for its strings and EVENT_OVERHEAD_BYTES, more
    // than its bytes on the wire.
    let wire = format!(
        "<message to='idle@test' from='peer1@test' type='chat'><body>{messages} {padding}</body></message>"
    )
    .len();
    let per_event =
        "peer1@test".len() + format!("{messages} {padding}").len() + EVENT_OVERHEAD_BYTES;
    let one_read = (Limits::DEFAULT.read_buffer / wire + 1) * per_event;
    assert!(
        unread > BOUND && unread <= BOUND + one_read,
        "{unread} bytes of events unread with a bound of {BOUND} (one read's events: {one_read})"
    );
    // The application stays behind for longer than the idle timeout: a stream the node
    // stopped reading is not idle, and must not be closed with messages waiting in it.
    thread::sleep(IDLE * 2);
    // The rest of the last message, written once the node reads again.
    stream.set_nonblocking(false).unwrap();
    let writer = thread::spawn(move || {
        stream.write_all(&out).unwrap();
        stream
    });
    // Now the application reads: every message arrives, in order.
    let mut received = 0;
    while received < messages {
        match events.recv_timeout(Duration::from_secs(10)) {
            Ok(NodeEvent::Message { body, .. }) => {
                assert_eq!(body, format!("{received} {padding}"));
                received += 1;
            }
            Ok(_) => {}
            Err(e) => panic!("{received} of {messages} messages, then {e:?}"),
        }
    }
    let mut stream = writer.join().unwrap();
    stream.set_nonblocking(true).unwrap();
    let mut seen = Vec::new();
    assert!(
        !closed_by_node(&mut stream, &mut seen),
        "the node closed a stream it had only stopped reading: {}",
        String::from_utf8_lossy(&seen)
    );
    handle.send(NodeCommand::Quit).ok();
}
