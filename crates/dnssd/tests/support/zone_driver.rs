//! A blocking driver for the sans-IO `ZoneBrowser`, shared by the wide-area tests and the
//! zone benchmark (which include this file with `#[path]`): datagrams on a socket of its
//! own, and a TCP exchange whenever the browser asks for one.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use llxmpp_dnssd::unicast::{ZoneBrowser, ZoneBrowserEvent};

/// The browser's socket, and the TCP exchanges made so far.
pub struct ZoneDriver {
    socket: UdpSocket,
    /// TCP exchanges made (answers too large for a datagram).
    pub tcp_exchanges: usize,
}

impl ZoneDriver {
    /// A driver on a new socket of 127.0.0.1.
    pub fn new() -> ZoneDriver {
        ZoneDriver {
            socket: UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap(),
            tcp_exchanges: 0,
        }
    }

    /// Runs `browser` until `enough` says so of every event seen (`limit` at most, then
    /// a panic with what was seen); the events.
    pub fn browse(
        &mut self,
        browser: &mut ZoneBrowser,
        limit: Duration,
        enough: impl Fn(&[ZoneBrowserEvent]) -> bool,
    ) -> Vec<ZoneBrowserEvent> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        let mut buffer = vec![0; 65_535];
        loop {
            while let Some(transmit) = browser.poll_transmit() {
                if !transmit.tcp {
                    self.socket.send_to(&transmit.bytes, transmit.to).unwrap();
                    continue;
                }
                self.tcp_exchanges += 1;
                let mut stream = TcpStream::connect(transmit.to).unwrap();
                let mut framed = (transmit.bytes.len() as u16).to_be_bytes().to_vec();
                framed.extend(&transmit.bytes);
                stream.write_all(&framed).unwrap();
                let mut len = [0; 2];
                stream.read_exact(&mut len).unwrap();
                let mut answer = vec![0; usize::from(u16::from_be_bytes(len))];
                stream.read_exact(&mut answer).unwrap();
                browser.handle_answer(Instant::now(), transmit.to, &answer);
            }
            seen.extend(std::iter::from_fn(|| browser.poll_event()));
            if enough(&seen) {
                return seen;
            }
            assert!(
                Instant::now() < deadline,
                "not enough within {limit:?}: {} events, the last {:?}",
                seen.len(),
                seen.last()
            );
            let wait = browser
                .poll_timeout()
                .map_or(Duration::from_millis(20), |t| {
                    t.saturating_duration_since(Instant::now())
                })
                .clamp(Duration::from_millis(1), Duration::from_millis(20));
            self.socket.set_read_timeout(Some(wait)).unwrap();
            if let Ok((len, from)) = self.socket.recv_from(&mut buffer) {
                browser.handle_answer(Instant::now(), from, &buffer[..len]);
                // Everything else already here, without waiting.
                self.socket.set_nonblocking(true).unwrap();
                while let Ok((len, from)) = self.socket.recv_from(&mut buffer) {
                    browser.handle_answer(Instant::now(), from, &buffer[..len]);
                }
                self.socket.set_nonblocking(false).unwrap();
            }
            browser.handle_timeout(Instant::now());
        }
    }
}
