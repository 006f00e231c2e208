//! Browsing `_presence._tcp` with the `Browser` machine and a plain `std::net::UdpSocket`.
//!
//! The crate does no I/O and reads no clock; this program is the whole of the I/O a
//! browser needs, in one thread and without `mio`:
//!
//! 1. bind a UDP socket to `0.0.0.0:5353`, sharing the port with the system's own mDNS
//!    daemon (`SO_REUSEADDR`, `SO_REUSEPORT`), and join `224.0.0.251`;
//! 2. give every datagram to `Browser::handle_input` with the current `Instant`;
//! 3. send whatever `Browser::poll_transmit` returns;
//! 4. sleep (in the socket's read timeout) until `Browser::poll_timeout`, then call
//!    `Browser::handle_timeout`;
//! 5. print what `Browser::poll_event` reports.
//!
//! ```text
//! cargo run -p llxmpp-dnssd --example browse -- [SECONDS] [INTERFACE_IPV4]
//! ```
//!
//! It browses for `SECONDS` (default 5), on the interface with address `INTERFACE_IPV4`
//! (default: the one the routing table picks for multicast), prints each peer as it is
//! resolved, changes or leaves, then the peers it holds and its counters, and exits. It
//! sends queries to the mDNS group of the link: run it on a link where that is welcome.
//! IPv4 only, to stay short; the browser itself takes IPv6 datagrams alike.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use llxmpp_dnssd::{Browser, BrowserConfig, Destination, ServiceEvent, ServiceInstance, MDNS_PORT};
use socket2::{Domain, Protocol, Socket, Type};

/// The IPv4 mDNS group (RFC 6762 §3).
const MDNS_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = match args.next() {
        Some(s) => s.parse().map_err(|_| usage())?,
        None => 5.0,
    };
    let interface: Ipv4Addr = match args.next() {
        Some(s) => s.parse().map_err(|_| usage())?,
        None => Ipv4Addr::UNSPECIFIED,
    };
    let socket = mdns_socket(interface)?;
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(seconds);
    let group = SocketAddr::V4(SocketAddrV4::new(MDNS_GROUP, MDNS_PORT));
    // Any seed will do: it only spreads the random delays of RFC 6762 across hosts.
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut browser = Browser::new(BrowserConfig::default(), start, seed);
    println!("browsing _presence._tcp.local for {seconds} s");

    let mut buf = vec![0u8; 9000];
    loop {
        // Send what the browser asks for.
        while let Some(transmit) = browser.poll_transmit() {
            let to = match transmit.destination {
                Destination::Multicast => group,
                Destination::Unicast(addr) => addr,
            };
            if let Err(e) = socket.send_to(&transmit.payload, to) {
                eprintln!("send to {to}: {e}");
            }
        }
        // Report what it found.
        while let Some(event) = browser.poll_event() {
            print_event(start.elapsed(), &event);
        }

        let now = Instant::now();
        if now >= until {
            break;
        }
        let wake = browser.poll_timeout().map_or(until, |t| t.min(until));
        if wake <= now {
            browser.handle_timeout(now);
            continue;
        }
        // Sleep until the browser's timeout, or until a datagram comes.
        socket.set_read_timeout(Some(wake - now))?;
        match socket.recv_from(&mut buf) {
            // One socket for all: the interface index is unknown (0).
            Ok((n, from)) => browser.handle_input(Instant::now(), from, 0, &buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if browser.poll_timeout().is_some_and(|t| t <= now) {
            browser.handle_timeout(now);
        }
    }

    let services: Vec<&ServiceInstance> = browser.services().collect();
    println!("{} peer(s) after {seconds} s:", services.len());
    for service in services {
        println!("  {}", describe(service));
    }
    let stats = browser.stats();
    println!(
        "datagrams received {}, malformed {}, sent {}; records cached {}",
        stats.received,
        stats.malformed,
        stats.sent,
        browser.cached_records()
    );
    Ok(())
}

/// A UDP socket on port 5353 that shares the port and has joined the mDNS group.
fn mdns_socket(interface: Ipv4Addr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, MDNS_PORT)).into())?;
    socket.join_multicast_v4(&MDNS_GROUP, &interface)?;
    if !interface.is_unspecified() {
        socket.set_multicast_if_v4(&interface)?;
    }
    // RFC 6762 §11: mDNS datagrams carry TTL 255; loop on, to see services of this host.
    socket.set_multicast_ttl_v4(255)?;
    socket.set_multicast_loop_v4(true)?;
    Ok(socket.into())
}

fn print_event(at: Duration, event: &ServiceEvent) {
    let at = at.as_secs_f64();
    match event {
        ServiceEvent::Resolved(service) => println!("{at:7.3}s resolved {}", describe(service)),
        ServiceEvent::Updated(service) => println!("{at:7.3}s updated  {}", describe(service)),
        ServiceEvent::Removed { instance } => println!("{at:7.3}s removed  {instance}"),
    }
}

/// `name at host:port [addresses] status=… msg=…`
fn describe(service: &ServiceInstance) -> String {
    let addresses: Vec<String> = service.addresses.iter().map(|a| a.ip.to_string()).collect();
    let mut line = format!(
        "{} at {}:{} [{}]",
        service.instance,
        service.host,
        service.port,
        addresses.join(" ")
    );
    for key in ["status", "msg", "nick", "1st", "last"] {
        if let Some(value) = service.txt.get_str(key).filter(|v| !v.is_empty()) {
            line.push_str(&format!(" {key}={value:?}"));
        }
    }
    line
}

fn usage() -> io::Error {
    eprintln!("usage: browse [SECONDS] [INTERFACE_IPV4]");
    io::Error::new(io::ErrorKind::InvalidInput, "bad arguments")
}
