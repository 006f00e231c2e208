//! Accepting when out of file descriptors (EMFILE) backs off instead of spinning, and
//! resumes when descriptors are free again. A test file of its own: it lowers this
//! process's descriptor limit.

use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use llxmpp_event_loop::{Config, ConnectionId, Context, EventLoop, Handler, Limits};

struct Counter {
    accepted: usize,
    report: mpsc::Sender<usize>,
}

impl Handler for Counter {
    type Command = ();
    fn on_accepted(&mut self, _: &mut Context<'_>, _: ConnectionId, _: SocketAddr) {
        self.accepted += 1;
        let _ = self.report.send(self.accepted);
    }
    fn on_command(&mut self, ctx: &mut Context<'_>, (): ()) {
        let now = ctx.now();
        ctx.stop(now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[test]
fn emfile_backs_off_and_accepting_resumes() {
    let (tx, rx) = mpsc::channel();
    let (port_tx, port_rx) = mpsc::channel();
    let join = thread::spawn(move || {
        let limits = Limits {
            accept_backoff: Duration::from_millis(50),
            ..Limits::DEFAULT
        };
        let config = Config {
            limits,
            ..Config::loopback()
        };
        let mut event_loop: EventLoop<()> = EventLoop::new(config).unwrap();
        port_tx
            .send((event_loop.local_port().unwrap(), event_loop.handle()))
            .unwrap();
        let stats = event_loop
            .run(&mut Counter {
                accepted: 0,
                report: tx,
            })
            .unwrap();
        stats.wakeups
    });
    let (port, handle) = port_rx.recv().unwrap();
    // Use up descriptors until the process has only a handful left.
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
    let mut hog = Vec::new();
    while let Ok(file) = std::fs::File::open("/dev/null") {
        hog.push(file);
        if hog.len() > soft as usize {
            break;
        }
    }
    // Free two: one for our client socket, one for... nothing: the loop's accept fails.
    hog.pop();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let started = Instant::now();
    thread::sleep(Duration::from_millis(500));
    assert!(
        rx.try_recv().is_err(),
        "nothing accepted while out of descriptors"
    );
    // Free descriptors: the loop accepts at its next attempt.
    hog.clear();
    let accepted = rx
        .recv_timeout(Duration::from_secs(2))
        .expect("accepted after the backoff");
    assert_eq!(accepted, 1);
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(client);
    handle.send(()).ok().unwrap();
    let wakeups = join.join().unwrap();
    // Backing off every 50 ms for half a second is about ten wake-ups, not a busy loop.
    assert!(wakeups < 100, "{wakeups} wake-ups");
    let _ = rlimit::Resource::NOFILE.set(soft, hard);
}
