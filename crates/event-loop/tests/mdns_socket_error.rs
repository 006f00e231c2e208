//! An mDNS socket that cannot be opened is reported to the handler, once, and opened at a
//! later interface recheck when the cause is gone. Before, the loop skipped it without a
//! word: a node that could not bind its port heard nothing and said nothing.
//!
//! On loopback: a plain socket bound without `SO_REUSEADDR` holds the test's port, so ours
//! cannot share it.

use std::io;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use llxmpp_event_loop::{
    Config, Context, EventLoop, Handler, InterfaceInfo, InterfaceSelection, MdnsSocketError,
};

#[derive(Default)]
struct Recorder {
    /// `lo`'s index, from the first interface report.
    lo: Option<u32>,
    errors: Vec<(String, bool, io::ErrorKind)>,
    /// The sockets reported opened after failing, and how many `lo` had then.
    opened: Vec<(u32, bool, usize)>,
    /// Dropped half a second after the first error (two rechecks that fail again), which
    /// frees the port.
    blocker: Option<UdpSocket>,
    free_at: Option<Instant>,
    end: Option<Instant>,
}

impl Handler for Recorder {
    type Command = ();
    fn on_mdns_socket_error(&mut self, ctx: &mut Context<'_>, error: &MdnsSocketError) {
        self.errors
            .push((error.name.clone(), error.ipv6, error.error.kind()));
        self.free_at
            .get_or_insert(ctx.now() + Duration::from_millis(500));
    }
    fn on_mdns_socket_opened(&mut self, ctx: &mut Context<'_>, interface: u32, ipv6: bool) {
        self.opened
            .push((interface, ipv6, ctx.mdns_sockets(interface)));
        let now = ctx.now();
        ctx.stop(now);
    }
    fn on_interfaces(&mut self, ctx: &mut Context<'_>, interfaces: &[InterfaceInfo]) {
        let lo = interfaces.iter().find(|i| i.name == "lo");
        self.lo = self.lo.or(lo.map(|i| i.index));
        assert_eq!(ctx.mdns_sockets(self.lo.unwrap()), 0, "the port is held");
    }
    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        if self.blocker.is_some() {
            self.blocker = None;
            self.end = Some(now + Duration::from_secs(5));
        } else {
            ctx.stop(now);
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        if self.blocker.is_some() {
            self.free_at
        } else {
            self.end
        }
    }
}

#[test]
fn a_socket_that_cannot_open_is_reported_once_then_opened_when_it_can() {
    let blocker = UdpSocket::bind("0.0.0.0:0").unwrap();
    let port = blocker.local_addr().unwrap().port();
    let config = Config {
        mdns: Some(InterfaceSelection::Named(vec!["lo".to_owned()])),
        mdns_port: port,
        tcp_port: None,
        ipv6: false,
        interface_recheck: Duration::from_millis(200),
        ..Config::default()
    };
    let mut event_loop: EventLoop<()> = EventLoop::new(config).unwrap();
    let mut recorder = Recorder {
        blocker: Some(blocker),
        ..Recorder::default()
    };
    event_loop.run(&mut recorder).unwrap();
    assert_eq!(
        recorder.errors,
        vec![("lo".to_owned(), false, io::ErrorKind::AddrInUse)],
        "one report of the port in use, not one per recheck"
    );
    // Once the port was free, the recheck opened the socket and said so.
    assert_eq!(recorder.opened, vec![(recorder.lo.unwrap(), false, 1)]);
}
