//! A simulated LAN for the sans-IO mDNS machines: a virtual clock, a virtual multicast
//! link that delivers every datagram to every node (the sender too, as multicast loop
//! does), and nodes that each run a responder and a browser.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use llxmpp_dnssd::{
    Browser, BrowserConfig, Destination, InterfaceAddr, Message, Responder, ResponderConfig,
    ResponderEvent, ServiceEvent, ServiceInfo, Transmit, TxtRecord,
};

/// One host on the link.
pub struct Node {
    pub address: SocketAddr,
    pub responder: Option<Responder>,
    pub browser: Browser,
    pub service_events: Vec<(Duration, ServiceEvent)>,
    pub responder_events: Vec<(Duration, ResponderEvent)>,
    /// Whether the node is on the link (an unplugged node neither sends nor receives).
    pub online: bool,
}

struct InFlight {
    at: Instant,
    seq: u64,
    from: usize,
    transmit: Transmit,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The link and its clock.
pub struct Lan {
    pub start: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    /// One-way delay of the link.
    pub latency: Duration,
    /// Datagrams and bytes sent, per node.
    pub sent: Vec<(u64, u64)>,
    /// Of those datagrams, the ones sent to one node (answers to QU questions, RFC 6762
    /// §5.4), per node.
    pub sent_unicast: Vec<u64>,
    /// Each node's next timeout as of its last step (`None` when it has none or is
    /// offline): finding the next timer scans this vector, not every node's machines.
    timeouts: Vec<Option<Instant>>,
}

impl Lan {
    pub fn new() -> Lan {
        let start = Instant::now();
        Lan {
            start,
            now: start,
            nodes: Vec::new(),
            in_flight: BinaryHeap::new(),
            seq: 0,
            latency: Duration::from_millis(1),
            sent: Vec::new(),
            sent_unicast: Vec::new(),
            timeouts: Vec::new(),
        }
    }

    /// The service a test node publishes: `user<n>@host<n>` with a few TXT keys.
    pub fn service(n: usize, instance: &str) -> ServiceInfo {
        let mut txt = TxtRecord::new();
        txt.insert("txtvers", "1").unwrap();
        txt.insert("status", "avail").unwrap();
        txt.insert("port.p2pj", "5298").unwrap();
        ServiceInfo {
            instance: instance.to_owned(),
            host: format!("host{n}"),
            port: 5298,
            addresses: vec![InterfaceAddr {
                interface: 1,
                ip: Self::ip(n),
            }],
            txt,
            avatar: None,
        }
    }

    pub fn ip(n: usize) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(
            169,
            254,
            (n / 250) as u8 + 1,
            (n % 250) as u8 + 1,
        ))
    }

    /// Adds a node publishing `service` (or only browsing, with `None`), starting now.
    pub fn add_node(&mut self, service: Option<ServiceInfo>) -> usize {
        let n = self.nodes.len();
        let seed = 0x5EED_0000 + n as u64;
        let mut browser = Browser::new(BrowserConfig::default(), self.now, seed);
        let responder = service.map(|s| {
            browser.set_own_instance(Some(s.instance.clone()));
            Responder::new(s, ResponderConfig::default(), self.now, seed ^ 0xABCD).unwrap()
        });
        self.nodes.push(Node {
            address: SocketAddr::new(Self::ip(n), 5353),
            responder,
            browser,
            service_events: Vec::new(),
            responder_events: Vec::new(),
            online: true,
        });
        self.sent.push((0, 0));
        self.sent_unicast.push(0);
        self.timeouts.push(None);
        n
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Runs the link until `until` (virtual time since start).
    pub fn run_until(&mut self, until: Duration) {
        let end = self.start + until;
        for n in 0..self.nodes.len() {
            self.collect(n);
        }
        loop {
            let next_packet = self.in_flight.peek().map(|p| p.0.at);
            let next_timer = self.timeouts.iter().flatten().min().copied();
            let Some(next) = next_packet.into_iter().chain(next_timer).min() else {
                break;
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            while self.in_flight.peek().is_some_and(|p| p.0.at <= self.now) {
                let Reverse(packet) = self.in_flight.pop().unwrap();
                self.deliver(packet);
            }
            for n in 0..self.nodes.len() {
                if self.timeouts[n].is_none_or(|t| t > self.now) {
                    continue;
                }
                let node = &mut self.nodes[n];
                if node.browser.poll_timeout().is_some_and(|t| t <= self.now) {
                    node.browser.handle_timeout(self.now);
                }
                if let Some(responder) = &mut node.responder {
                    if responder.poll_timeout().is_some_and(|t| t <= self.now) {
                        responder.handle_timeout(self.now);
                    }
                }
                self.collect(n);
            }
        }
        self.now = self.now.max(end);
    }

    fn node_timeout(node: &Node) -> Option<Instant> {
        let responder = node.responder.as_ref().and_then(|r| r.poll_timeout());
        node.browser
            .poll_timeout()
            .into_iter()
            .chain(responder)
            .min()
    }

    fn deliver(&mut self, packet: InFlight) {
        let from = self.nodes[packet.from].address;
        let targets: Vec<usize> = match packet.transmit.destination {
            Destination::Multicast => (0..self.nodes.len()).collect(),
            Destination::Unicast(to) => self
                .nodes
                .iter()
                .position(|n| n.address.ip() == to.ip())
                .into_iter()
                .collect(),
        };
        // Decoding is a pure function of the bytes, so one decode serves every receiver
        // (a real node decodes once for both its machines, as here).
        let decoded = Message::decode(&packet.transmit.payload);
        for n in targets {
            let node = &mut self.nodes[n];
            if !node.online {
                continue;
            }
            match &decoded {
                Ok(message) => {
                    node.browser.handle_message(self.now, from, 1, message);
                    if let Some(responder) = &mut node.responder {
                        responder.handle_message(self.now, from, 1, message);
                    }
                }
                Err(_) => {
                    node.browser
                        .handle_input(self.now, from, 1, &packet.transmit.payload);
                    if let Some(responder) = &mut node.responder {
                        responder.handle_input(self.now, from, 1, &packet.transmit.payload);
                    }
                }
            }
            self.collect(n);
        }
    }

    /// Takes a node's transmits onto the link and its events into its log.
    fn collect(&mut self, n: usize) {
        let elapsed = self.now - self.start;
        let node = &mut self.nodes[n];
        let mut outgoing = Vec::new();
        while let Some(t) = node.browser.poll_transmit() {
            outgoing.push(t);
        }
        while let Some(e) = node.browser.poll_event() {
            node.service_events.push((elapsed, e));
        }
        if let Some(responder) = &mut node.responder {
            while let Some(t) = responder.poll_transmit() {
                outgoing.push(t);
            }
            while let Some(e) = responder.poll_event() {
                // As a node does: our browser must not report ourselves under a new name.
                if let ResponderEvent::InstanceRenamed { to, .. } = &e {
                    node.browser.set_own_instance(Some(to.clone()));
                }
                node.responder_events.push((elapsed, e));
            }
        }
        if !node.online {
            self.timeouts[n] = None;
            return;
        }
        self.timeouts[n] = Self::node_timeout(node);
        for transmit in outgoing {
            self.sent[n].0 += 1;
            self.sent[n].1 += transmit.payload.len() as u64;
            if matches!(transmit.destination, Destination::Unicast(_)) {
                self.sent_unicast[n] += 1;
            }
            self.seq += 1;
            self.in_flight.push(Reverse(InFlight {
                at: self.now + self.latency,
                seq: self.seq,
                from: n,
                transmit,
            }));
        }
    }

    /// The instances node `n`'s browser holds now.
    pub fn seen_by(&self, n: usize) -> Vec<String> {
        let mut seen: Vec<String> = self.nodes[n]
            .browser
            .services()
            .map(|s| s.instance.clone())
            .collect();
        seen.sort();
        seen
    }
}
