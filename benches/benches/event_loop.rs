//! The event loop under load, on loopback: memory per idle connection with 10,000 open
//! at once, and echo throughput on one connection. Not criterion: each figure is one
//! measurement of a steady state. Adds its keys to `target/bench-summary.json`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use llxmpp_event_loop::{
    Config, ConnectionId, Context, EventLoop, Handler, Limits, LoopHandle, WriteState,
};

const IDLE_CONNECTIONS: usize = 10_000;

/// Echoes with flow control: a queue over the high watermark pauses reading until it
/// drains, so no write ever finds the queue full (which would lose bytes and leave the
/// echo short).
struct Echo;

impl Handler for Echo {
    type Command = ();
    fn on_data(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, data: &[u8]) {
        match ctx.write(conn, data) {
            Ok(WriteState::Accepted) => {}
            Ok(WriteState::Backpressure) => ctx.pause_reading(conn),
            Err(error) => panic!("echo write refused: {error}"),
        }
    }
    fn on_writable(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        ctx.resume_reading(conn);
    }
    fn on_command(&mut self, ctx: &mut Context<'_>, (): ()) {
        let now = ctx.now();
        ctx.stop(now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

fn start_loop() -> (u16, LoopHandle<()>, thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let join = thread::spawn(move || {
        let limits = Limits {
            max_connections: IDLE_CONNECTIONS + 100,
            max_connections_per_address: IDLE_CONNECTIONS + 100,
            ..Limits::DEFAULT
        };
        let config = Config {
            limits,
            ..Config::loopback()
        };
        let mut event_loop = EventLoop::new(config).expect("loop");
        tx.send((event_loop.local_port().unwrap(), event_loop.handle()))
            .unwrap();
        event_loop.run(&mut Echo).expect("run");
    });
    let (port, handle) = rx.recv().unwrap();
    (port, handle, join)
}

/// The client side of the idle test, in a process of its own so that only the loop's
/// side of each connection counts in the measured process (and each process gets its
/// own descriptor limit): opens the connections, says READY, holds them until stdin ends.
fn clients(address: &str, count: usize) {
    llxmpp_benches::raise_descriptor_limit(count as u64 + 64);
    let streams: Vec<TcpStream> = (0..count)
        .map_while(|_| TcpStream::connect(address).ok())
        .collect();
    println!("READY {}", streams.len());
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

fn main() {
    if let Ok(spec) = std::env::var("LLXMPP_BENCH_CLIENTS") {
        let (address, count) = spec.rsplit_once('/').expect("address/count");
        clients(address, count.parse().expect("count"));
        return;
    }
    llxmpp_benches::raise_descriptor_limit(IDLE_CONNECTIONS as u64 + 256);

    let (port, handle, join) = start_loop();
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    // Warm the allocator and the loop with one round trip first.
    let mut probe = TcpStream::connect(address).unwrap();
    probe.write_all(b"x").unwrap();
    probe.read_exact(&mut [0u8; 1]).unwrap();
    thread::sleep(Duration::from_millis(200));
    let before = llxmpp_benches::rss_bytes(None);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(
            "LLXMPP_BENCH_CLIENTS",
            format!("{address}/{IDLE_CONNECTIONS}"),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("client process");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    let idle: usize = ready
        .trim()
        .strip_prefix("READY ")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // Let the loop accept them all, then prove it still serves.
    thread::sleep(Duration::from_millis(1500));
    probe.write_all(b"y").unwrap();
    probe.read_exact(&mut [0u8; 1]).unwrap();
    let after = llxmpp_benches::rss_bytes(None);
    // Only the loop's side of the connections lives in this process.
    let per_connection = after.saturating_sub(before) / idle.max(1) as u64;

    // Echo throughput: one connection, 256 MiB in 64 KiB writes, read back concurrently.
    let total: usize = 256 << 20;
    let mut writer = TcpStream::connect(address).unwrap();
    let mut reader = writer.try_clone().unwrap();
    // A stalled echo fails the bench with the count instead of hanging it.
    reader
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let read_thread = thread::spawn(move || {
        let mut got = 0;
        let mut buf = vec![0u8; 256 << 10];
        while got < total {
            match reader.read(&mut buf) {
                Ok(0) => panic!("the echo closed after {got} of {total} bytes"),
                Ok(n) => got += n,
                Err(error) => panic!("the echo stalled after {got} of {total} bytes: {error}"),
            }
        }
    });
    let chunk = vec![0x5Au8; 64 << 10];
    for _ in 0..total / chunk.len() {
        writer.write_all(&chunk).unwrap();
    }
    read_thread.join().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let echo_mb_per_s = total as f64 / seconds / 1e6;

    drop(child.stdin.take());
    let _ = child.wait();
    handle.send(()).ok();
    join.join().unwrap();

    println!("{:<40} {:>12}", "event loop", "value");
    println!("{:<40} {:>12}", "idle connections held", idle);
    println!(
        "{:<40} {:>12}",
        "RSS per idle connection (bytes)", per_connection
    );
    println!(
        "{:<40} {:>12.1}",
        "echo throughput, one stream (MB/s)", echo_mb_per_s
    );
    let mut entries = serde_json::Map::new();
    entries.insert(
        "event_loop".into(),
        serde_json::json!({
            "idle_connections": idle,
            "idle_rss_per_connection_bytes": per_connection,
            "echo_mb_per_s": echo_mb_per_s,
        }),
    );
    if let Err(error) = llxmpp_benches::add_to_summary(entries) {
        eprintln!("cannot write the summary: {error}");
    }
}
