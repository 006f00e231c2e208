//! Unicast UDP (wide-area DNS): datagrams sent from the loop's own ephemeral socket to a
//! server on loopback, the server's answers delivered to the handler, large ones whole;
//! a stopping loop that waits for an answer its handler awaits.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use llxmpp_event_loop::{Config, Context, EventLoop, Handler};

/// Sends three datagrams (one of 60,000 bytes) to `server` at start, keeps what comes back,
/// and stops at `give_up` if an answer never comes (the test then says which).
struct Asker {
    server: SocketAddr,
    answers: Vec<(SocketAddr, Vec<u8>)>,
    give_up: Instant,
}

impl Handler for Asker {
    type Command = ();

    fn on_start(&mut self, ctx: &mut Context<'_>) {
        for payload in [vec![1u8; 10], vec![2; 60_000], vec![3; 1]] {
            ctx.send_unicast(self.server, &payload).unwrap();
        }
    }

    fn on_unicast_datagram(&mut self, ctx: &mut Context<'_>, from: SocketAddr, bytes: &[u8]) {
        self.answers.push((from, bytes.to_vec()));
        if self.answers.len() == 3 {
            ctx.stop(ctx.now());
        }
    }

    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        if ctx.now() >= self.give_up {
            ctx.stop(ctx.now());
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.give_up)
    }
}

#[test]
fn unicast_datagrams_go_out_and_their_answers_come_back_whole() {
    let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let address = server.local_addr().unwrap();
    let echo = std::thread::spawn(move || {
        let mut buffer = vec![0; 65_535];
        let mut sources = Vec::new();
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for _ in 0..3 {
            let (len, from) = server.recv_from(&mut buffer).unwrap();
            // The answer is the question, backwards.
            let answer: Vec<u8> = buffer[..len].iter().rev().map(|b| b + 10).collect();
            server.send_to(&answer, from).unwrap();
            sources.push(from);
        }
        sources
    });
    let mut event_loop: EventLoop<()> = EventLoop::new(Config::loopback()).unwrap();
    let mut asker = Asker {
        server: address,
        answers: Vec::new(),
        give_up: Instant::now() + Duration::from_secs(10),
    };
    event_loop.run(&mut asker).unwrap();
    let sources = echo.join().unwrap();
    // One socket for all three.
    assert!(sources.windows(2).all(|w| w[0] == w[1]), "{sources:?}");
    let mut lengths: Vec<usize> = asker.answers.iter().map(|(_, b)| b.len()).collect();
    lengths.sort_unstable();
    assert_eq!(lengths, [1, 10, 60_000]);
    assert!(asker.answers.iter().all(|(from, _)| *from == address));
    assert!(asker
        .answers
        .iter()
        .any(|(_, b)| b.len() == 60_000 && b.iter().all(|&x| x == 12)));
}

/// Stops at start and sends a goodbye datagram; awaits its answer if `awaits`.
struct Leaver {
    server: SocketAddr,
    awaits: bool,
    answered: Option<Instant>,
}

impl Handler for Leaver {
    type Command = ();

    fn on_start(&mut self, ctx: &mut Context<'_>) {
        ctx.send_unicast(self.server, b"goodbye").unwrap();
        ctx.stop(ctx.now() + Duration::from_secs(5));
    }

    fn on_unicast_datagram(&mut self, _: &mut Context<'_>, _: SocketAddr, _: &[u8]) {
        self.answered = Some(Instant::now());
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    fn stop_pending(&self) -> bool {
        self.awaits && self.answered.is_none()
    }
}

/// A server that answers the first datagram after `delay`.
fn slow_server(delay: Duration) -> SocketAddr {
    let server = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let address = server.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buffer = [0; 64];
        server
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        if let Ok((_, from)) = server.recv_from(&mut buffer) {
            std::thread::sleep(delay);
            let _ = server.send_to(b"removed", from);
        }
    });
    address
}

/// Runs a [`Leaver`] against a server that answers after `delay`: what it heard, and
/// how long the loop ran.
fn leave(awaits: bool, delay: Duration) -> (Leaver, Instant) {
    let mut event_loop: EventLoop<()> = EventLoop::new(Config::loopback()).unwrap();
    let mut leaver = Leaver {
        server: slow_server(delay),
        awaits,
        answered: None,
    };
    let started = Instant::now();
    event_loop.run(&mut leaver).unwrap();
    (leaver, started)
}

#[test]
fn a_stopping_loop_runs_on_while_its_handler_awaits_an_answer() {
    let delay = Duration::from_millis(300);
    let (leaver, started) = leave(true, delay);
    let answered = leaver
        .answered
        .expect("the answer came before the loop returned");
    assert!(answered.duration_since(started) >= delay);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it waited for the deadline"
    );

    // A handler that awaits nothing: the loop returns without the answer.
    let (leaver, started) = leave(false, delay);
    assert!(leaver.answered.is_none());
    assert!(started.elapsed() < delay);
}
