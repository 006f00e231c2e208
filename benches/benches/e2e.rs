//! Two llxmpp nodes chatting over loopback TCP, discovered over mDNS on `lo`, in a network
//! namespace this benchmark makes (it needs root; without, it says so and measures
//! nothing). Figures: sustained messages per second on one stream (100-byte bodies, sender
//! command to receiver event), and latency percentiles at 10,000 messages/s. Adds the keys
//! `e2e_msgs_per_s`, `e2e_latency_p50_us` and `e2e_latency_p99_us` to
//! `target/bench-summary.json`.

use std::process::Command;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use llxmpp::node::{Node, NodeCommand, NodeConfig, NodeEvent};
use llxmpp_event_loop::{Config, EventLoop, InterfaceSelection, LoopHandle};
use llxmpp_roster::Presence;

const SUSTAIN: Duration = Duration::from_secs(5);

fn start(name: &str, port: u16) -> (LoopHandle<NodeCommand>, mpsc::Receiver<NodeEvent>) {
    let config = NodeConfig {
        name: name.into(),
        host: "bench".into(),
        presence: Presence::default(),
        accept_unknown: false,
        idle_timeout: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(5),
        bind: Vec::new(),
    };
    let loop_config = Config {
        mdns: Some(InterfaceSelection::Named(vec!["lo".into()])),
        tcp_port: Some(port),
        ipv6: false,
        ..Config::default()
    };
    let mut event_loop: EventLoop<NodeCommand> = EventLoop::new(loop_config).expect("sockets");
    let handle = event_loop.handle();
    let (tx, rx) = mpsc::channel();
    let seed = u64::from(port);
    thread::spawn(move || {
        let mut node = Node::new(config, tx, seed);
        event_loop.run(&mut node).expect("loop");
    });
    (handle, rx)
}

fn wait_for(events: &mpsc::Receiver<NodeEvent>, want: impl Fn(&NodeEvent) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Ok(event) = events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if want(&event) {
            return;
        }
    }
    panic!("timed out");
}

/// Inside the namespace: the measurement itself. Prints `RESULT <msgs/s> <p50 µs> <p99 µs>`.
fn inner() {
    let (alice, alice_events) = start("alice", 5298);
    let (_bob, bob_events) = start("bob", 5299);
    wait_for(
        &alice_events,
        |e| matches!(e, NodeEvent::PeerOnline(p) if p.instance == "bob@bench"),
    );
    wait_for(
        &bob_events,
        |e| matches!(e, NodeEvent::PeerOnline(p) if p.instance == "alice@bench"),
    );
    let body = "x".repeat(100);
    // Warm the stream up.
    alice
        .send(NodeCommand::Send {
            to: "bob@bench".into(),
            body: body.clone(),
            id: "warm".into(),
        })
        .ok();
    wait_for(&bob_events, |e| matches!(e, NodeEvent::Message { .. }));

    // Throughput: keep a window of messages in flight for SUSTAIN.
    let start = Instant::now();
    let (mut sent, mut received) = (0u64, 0u64);
    while start.elapsed() < SUSTAIN {
        while sent - received < 20_000 {
            alice
                .send(NodeCommand::Send {
                    to: "bob@bench".into(),
                    body: body.clone(),
                    id: sent.to_string(),
                })
                .ok();
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
    let msgs_per_s = received as f64 / elapsed;
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
        let padded = format!("{stamp} {}", "y".repeat(90));
        alice
            .send(NodeCommand::Send {
                to: "bob@bench".into(),
                body: padded,
                id: format!("l{n}"),
            })
            .ok();
    }
    let mut latencies = receiver.join().unwrap();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "RESULT {msgs_per_s:.0} {} {} {}",
        percentile(0.5),
        percentile(0.99),
        latencies.len()
    );
    alice.send(NodeCommand::Quit).ok();
}

fn main() {
    if std::env::var_os("LLXMPP_E2E_INNER").is_some() {
        inner();
        return;
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
        .env("LLXMPP_E2E_INNER", "1")
        .output()
        .expect("run inside the namespace");
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(result) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
        println!(
            "e2e: no result\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    };
    let values: Vec<f64> = result
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [msgs, p50, p99, count] = values[..] else {
        return;
    };
    println!(
        "{:<44} {:>12}",
        "end to end, two nodes over loopback", "value"
    );
    println!(
        "{:<44} {:>12.0}",
        "messages/s, one stream, 100-byte bodies", msgs
    );
    println!("{:<44} {:>12.0}", "latency p50 at 10,000 msg/s (µs)", p50);
    println!("{:<44} {:>12.0}", "latency p99 at 10,000 msg/s (µs)", p99);
    println!("{:<44} {:>12.0}", "latency samples", count);
    let mut entries = serde_json::Map::new();
    entries.insert("e2e_msgs_per_s".into(), msgs.into());
    entries.insert("e2e_latency_p50_us".into(), p50.into());
    entries.insert("e2e_latency_p99_us".into(), p99.into());
    if let Err(error) = llxmpp_benches::add_to_summary(entries) {
        eprintln!("cannot write the summary: {error}");
    }
}
