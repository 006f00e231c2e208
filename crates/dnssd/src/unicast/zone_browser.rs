//! The zone browser: the `_presence._tcp` services of a zone, read by unicast queries,
//! sans-IO.
//!
//! Every [`ZoneBrowserConfig::poll_interval`] it asks for the zone's SOA. Only when the
//! serial differs from the one of its last complete read does it read the zone again:
//! the PTRs at `_presence._tcp.ZONE`, then each instance's SRV and TXT, then the
//! addresses of each SRV target (taken from the SRV answer's additional section when the
//! server puts them there, as BIND does). So a zone that does not change costs one query
//! per poll. Queries go over UDP, at most [`WINDOW`] at a time, each retransmitted after
//! 1 and 2 s; an answer truncated (TC) is asked again over TCP. A read that cannot be
//! finished changes nothing (the services known stay) and is one
//! [`ZoneBrowserEvent::Unreachable`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::update::{Rcode, Reply};
use super::{instance_of, query, service_type_in};
use crate::browser::{ServiceEvent, ServiceInstance};
use crate::name::DnsName;
use crate::record::{rtype, RecordData};
use crate::rng::Rng;
use crate::transmit::InterfaceAddr;
use crate::txt::TxtRecord;

/// The default [`ZoneBrowserConfig::poll_interval`].
pub const POLL_INTERVAL: Duration = Duration::from_secs(15);
/// Queries outstanding at once.
pub const WINDOW: usize = 64;
/// How long each try of a query waits: three tries.
const RETRANSMITS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Which zone, through which server, how often.
#[derive(Clone, Debug)]
pub struct ZoneBrowserConfig {
    /// The zone browsed.
    pub zone: DnsName,
    /// The server asked: the system's resolver, or the zone's own server.
    pub server: SocketAddr,
    /// How often the zone's SOA serial is asked for.
    pub poll_interval: Duration,
}

/// What the zone browser reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneBrowserEvent {
    /// A service came, changed or left (the mDNS browser's events: addresses carry
    /// interface 0, and no avatar is fetched).
    Service(ServiceEvent),
    /// The zone could not be read: why. What was known stays known.
    Unreachable {
        /// Why, for the user.
        reason: String,
    },
}

/// A datagram (or, for an answer too large for one, a TCP exchange) to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnicastTransmit {
    /// Where.
    pub to: SocketAddr,
    /// The DNS message (over TCP the caller prefixes its two-byte length).
    pub bytes: Vec<u8>,
    /// Over TCP: connect, write, read one length-prefixed answer and hand it to
    /// [`ZoneBrowser::handle_answer`].
    pub tcp: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Purpose {
    Soa,
    Ptr,
    Srv(String),
    Txt(String),
    Address(String, u16),
}

struct Pending {
    purpose: Purpose,
    bytes: Vec<u8>,
    tcp: bool,
    tries: usize,
    deadline: Instant,
}

#[derive(Default)]
struct Partial {
    srv: Option<(u16, DnsName)>,
    txt: Option<TxtRecord>,
    v4: Option<Vec<IpAddr>>,
    v6: Option<Vec<IpAddr>>,
    /// No SRV, or no TXT: not a whole service (yet).
    broken: bool,
}

/// Browses one zone; see the module's documentation.
pub struct ZoneBrowser {
    config: ZoneBrowserConfig,
    rng: Rng,
    known: BTreeMap<String, ServiceInstance>,
    /// The serial of the last complete read.
    serial: Option<u32>,
    /// A read under way: the serial it reads, and what it has so far.
    reading: Option<(u32, BTreeMap<String, Partial>)>,
    waiting: VecDeque<(Purpose, DnsName, u16)>,
    pending: HashMap<u16, Pending>,
    next_poll: Option<Instant>,
    transmits: VecDeque<UnicastTransmit>,
    events: VecDeque<ZoneBrowserEvent>,
    /// Queries sent, for the benchmark's load figure.
    queries_sent: u64,
}

impl ZoneBrowser {
    /// A browser that asks at once; `seed` spreads the query IDs.
    pub fn new(config: ZoneBrowserConfig, now: Instant, seed: u64) -> ZoneBrowser {
        let mut browser = ZoneBrowser {
            config,
            rng: Rng::new(seed),
            known: BTreeMap::new(),
            serial: None,
            reading: None,
            waiting: VecDeque::new(),
            pending: HashMap::new(),
            next_poll: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            queries_sent: 0,
        };
        browser.poll(now);
        browser
    }

    /// The services known, by instance.
    pub fn services(&self) -> impl Iterator<Item = &ServiceInstance> {
        self.known.values()
    }

    /// Queries sent so far (retransmissions included).
    pub fn queries_sent(&self) -> u64 {
        self.queries_sent
    }

    fn poll(&mut self, now: Instant) {
        self.next_poll = None;
        let zone = self.config.zone.clone();
        self.ask(now, Purpose::Soa, zone, rtype::SOA);
    }

    fn ask(&mut self, now: Instant, purpose: Purpose, name: DnsName, qtype: u16) {
        self.waiting.push_back((purpose, name, qtype));
        self.send_waiting(now);
    }

    fn send_waiting(&mut self, now: Instant) {
        while self.pending.len() < WINDOW {
            let Some((purpose, name, qtype)) = self.waiting.pop_front() else {
                return;
            };
            let id = self.free_id();
            let bytes = query(id, &name, qtype);
            self.send(id, purpose, bytes, false, now);
        }
    }

    fn free_id(&mut self) -> u16 {
        loop {
            let id = self.rng.next_u64() as u16;
            if !self.pending.contains_key(&id) {
                return id;
            }
        }
    }

    fn send(&mut self, id: u16, purpose: Purpose, bytes: Vec<u8>, tcp: bool, now: Instant) {
        self.transmits.push_back(UnicastTransmit {
            to: self.config.server,
            bytes: bytes.clone(),
            tcp,
        });
        self.queries_sent += 1;
        self.pending.insert(
            id,
            Pending {
                purpose,
                bytes,
                tcp,
                tries: 1,
                // TCP: the whole exchange, connection included.
                deadline: now
                    + if tcp {
                        Duration::from_secs(5)
                    } else {
                        RETRANSMITS[0]
                    },
            },
        );
    }

    /// An answer, from a datagram or a TCP exchange (without its length prefix).
    pub fn handle_answer(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if from != self.config.server {
            return;
        }
        let Ok(reply) = Reply::decode(bytes) else {
            return;
        };
        let Some(pending) = self.pending.get(&reply.id) else {
            return;
        };
        // The answer must be to the question asked (its name in any case).
        let question = &pending.bytes[12..];
        let echoed = bytes.get(12..12 + question.len());
        if !echoed.is_some_and(|echoed| echoed.eq_ignore_ascii_case(question)) {
            return;
        }
        let Some(pending) = self.pending.remove(&reply.id) else {
            return;
        };
        if reply.truncated && !pending.tcp {
            // Too large for a datagram: the same question over TCP.
            self.send(reply.id, pending.purpose, pending.bytes, true, now);
            return;
        }
        match reply.rcode {
            Rcode::NoError | Rcode::NameError => self.take(now, pending.purpose, &reply),
            rcode => self.abandon(now, format!("the server answered {rcode}")),
        }
        self.send_waiting(now);
        self.finish_read_if_done(now);
    }

    fn take(&mut self, now: Instant, purpose: Purpose, reply: &Reply) {
        let answers = &reply.message.answers;
        match purpose {
            Purpose::Soa => {
                let serial = answers.iter().find_map(|r| match &r.data {
                    RecordData::Soa { serial, .. } if r.name == self.config.zone => Some(*serial),
                    _ => None,
                });
                match serial {
                    Some(serial) if Some(serial) == self.serial => self.schedule(now),
                    Some(serial) => {
                        self.reading = Some((serial, BTreeMap::new()));
                        let list = service_type_in(&self.config.zone);
                        self.ask(now, Purpose::Ptr, list, rtype::PTR);
                    }
                    None => {
                        self.abandon(now, format!("the server has no zone {}", self.config.zone))
                    }
                }
            }
            Purpose::Ptr => {
                let list = service_type_in(&self.config.zone);
                let instances: Vec<(String, DnsName)> = answers
                    .iter()
                    .filter(|r| r.name == list)
                    .filter_map(|r| match &r.data {
                        RecordData::Ptr(target) => {
                            instance_of(target, &self.config.zone).map(|i| (i, target.clone()))
                        }
                        _ => None,
                    })
                    .collect();
                for (instance, name) in instances {
                    if let Some((_, partials)) = &mut self.reading {
                        if partials.contains_key(&instance) {
                            continue;
                        }
                        partials.insert(instance.clone(), Partial::default());
                    }
                    self.ask(
                        now,
                        Purpose::Srv(instance.clone()),
                        name.clone(),
                        rtype::SRV,
                    );
                    self.ask(now, Purpose::Txt(instance), name, rtype::TXT);
                }
            }
            Purpose::Srv(instance) => {
                let srv = answers.iter().find_map(|r| match &r.data {
                    RecordData::Srv { port, target, .. } => Some((*port, target.clone())),
                    _ => None,
                });
                let Some((port, target)) = srv else {
                    return self.mark_broken(&instance);
                };
                // BIND adds the target's addresses: no need to ask for them.
                let records = reply.message.additional.iter().chain(answers);
                let (mut v4, mut v6) = (Vec::new(), Vec::new());
                for record in records.filter(|r| r.name == target) {
                    match record.data {
                        RecordData::A(ip) => v4.push(IpAddr::V4(ip)),
                        RecordData::Aaaa(ip) => v6.push(IpAddr::V6(ip)),
                        _ => {}
                    }
                }
                let given = !v4.is_empty() || !v6.is_empty();
                if let Some(partial) = self.partial(&instance) {
                    partial.srv = Some((port, target.clone()));
                    if given {
                        partial.v4 = Some(v4);
                        partial.v6 = Some(v6);
                    }
                }
                if !given {
                    self.ask(
                        now,
                        Purpose::Address(instance.clone(), rtype::A),
                        target.clone(),
                        rtype::A,
                    );
                    self.ask(
                        now,
                        Purpose::Address(instance, rtype::AAAA),
                        target,
                        rtype::AAAA,
                    );
                }
            }
            Purpose::Txt(instance) => {
                let txt = answers.iter().find_map(|r| match &r.data {
                    RecordData::Txt(txt) => Some(txt.clone()),
                    _ => None,
                });
                match txt {
                    Some(txt) => {
                        if let Some(partial) = self.partial(&instance) {
                            partial.txt = Some(txt);
                        }
                    }
                    None => self.mark_broken(&instance),
                }
            }
            Purpose::Address(instance, qtype) => {
                let found: Vec<IpAddr> = answers
                    .iter()
                    .filter_map(|r| match r.data {
                        RecordData::A(ip) if qtype == rtype::A => Some(IpAddr::V4(ip)),
                        RecordData::Aaaa(ip) if qtype == rtype::AAAA => Some(IpAddr::V6(ip)),
                        _ => None,
                    })
                    .collect();
                if let Some(partial) = self.partial(&instance) {
                    if qtype == rtype::A {
                        partial.v4 = Some(found);
                    } else {
                        partial.v6 = Some(found);
                    }
                }
            }
        }
    }

    fn partial(&mut self, instance: &str) -> Option<&mut Partial> {
        self.reading.as_mut()?.1.get_mut(instance)
    }

    fn mark_broken(&mut self, instance: &str) {
        if let Some(partial) = self.partial(instance) {
            partial.broken = true;
        }
    }

    /// The read (or the poll) cannot finish: nothing changes, and the next poll tries
    /// again.
    fn abandon(&mut self, now: Instant, why: String) {
        self.reading = None;
        self.waiting.clear();
        self.pending.clear();
        self.events.push_back(ZoneBrowserEvent::Unreachable {
            reason: format!(
                "reading the zone {} from {}: {why}",
                self.config.zone, self.config.server
            ),
        });
        self.schedule(now);
    }

    fn schedule(&mut self, now: Instant) {
        self.next_poll = Some(now + self.config.poll_interval);
    }

    fn finish_read_if_done(&mut self, now: Instant) {
        if self.reading.is_none() || !self.pending.is_empty() || !self.waiting.is_empty() {
            return;
        }
        let Some((serial, partials)) = self.reading.take() else {
            return;
        };
        let mut seen = BTreeMap::new();
        for (instance, partial) in partials {
            let (Some((port, target)), Some(txt), false) =
                (partial.srv, partial.txt, partial.broken)
            else {
                continue;
            };
            let addresses: Vec<InterfaceAddr> = partial
                .v4
                .into_iter()
                .flatten()
                .chain(partial.v6.into_iter().flatten())
                .map(|ip| InterfaceAddr { interface: 0, ip })
                .collect();
            if addresses.is_empty() {
                continue;
            }
            let host = target
                .labels()
                .first()
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .unwrap_or_default();
            seen.insert(
                instance.clone(),
                ServiceInstance {
                    instance,
                    host,
                    port,
                    addresses,
                    txt,
                    avatar: None,
                },
            );
        }
        let gone: Vec<String> = self
            .known
            .keys()
            .filter(|k| !seen.contains_key(*k))
            .cloned()
            .collect();
        for instance in gone {
            self.known.remove(&instance);
            self.events
                .push_back(ZoneBrowserEvent::Service(ServiceEvent::Removed {
                    instance,
                }));
        }
        for (instance, service) in seen {
            let event = match self.known.get(&instance) {
                None => Some(ServiceEvent::Resolved(service.clone())),
                Some(old) if *old != service => Some(ServiceEvent::Updated(service.clone())),
                Some(_) => None,
            };
            if let Some(event) = event {
                self.events.push_back(ZoneBrowserEvent::Service(event));
            }
            self.known.insert(instance, service);
        }
        self.serial = Some(serial);
        self.schedule(now);
    }

    /// Retransmissions and polls.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, p)| now >= p.deadline)
            .map(|(&id, _)| id)
            .collect();
        for id in due {
            let Some(pending) = self.pending.get_mut(&id) else {
                continue;
            };
            if pending.tcp || pending.tries >= RETRANSMITS.len() {
                let how = if pending.tcp { "over TCP" } else { "over UDP" };
                return self.abandon(now, format!("no answer {how}"));
            }
            pending.deadline = now + RETRANSMITS[pending.tries];
            pending.tries += 1;
            let bytes = pending.bytes.clone();
            self.transmits.push_back(UnicastTransmit {
                to: self.config.server,
                bytes,
                tcp: false,
            });
            self.queries_sent += 1;
        }
        if self.next_poll.is_some_and(|t| now >= t) {
            self.poll(now);
        }
    }

    /// A TCP exchange asked for failed (no connection, or no whole answer).
    pub fn handle_tcp_failure(&mut self, now: Instant, why: &str) {
        if self.pending.values().any(|p| p.tcp) {
            self.abandon(now, format!("over TCP: {why}"));
        }
    }

    /// The next thing to send.
    pub fn poll_transmit(&mut self) -> Option<UnicastTransmit> {
        self.transmits.pop_front()
    }

    /// When [`ZoneBrowser::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|p| p.deadline)
            .chain(self.next_poll)
            .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ZoneBrowserEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unicast::zone;
    use std::net::Ipv4Addr;

    fn browser(now: Instant) -> ZoneBrowser {
        let config = ZoneBrowserConfig {
            zone: zone("example.test"),
            server: SocketAddr::from((Ipv4Addr::LOCALHOST, 53)),
            poll_interval: POLL_INTERVAL,
        };
        ZoneBrowser::new(config, now, 9)
    }

    #[test]
    fn an_unanswered_poll_is_retried_then_reported_once_and_polled_again_later() {
        let start = Instant::now();
        let mut browser = browser(start);
        let first = browser.poll_transmit().unwrap();
        assert!(!first.tcp);
        let mut at = start;
        for wait in [1, 1] {
            at += Duration::from_secs(wait);
            browser.handle_timeout(at);
            assert_eq!(browser.poll_transmit(), Some(first.clone()));
        }
        at += Duration::from_secs(2);
        browser.handle_timeout(at);
        let Some(ZoneBrowserEvent::Unreachable { reason }) = browser.poll_event() else {
            panic!("no report");
        };
        assert!(
            reason.contains("example.test") && reason.contains("no answer"),
            "{reason}"
        );
        assert!(browser.poll_event().is_none());
        assert_eq!(browser.poll_timeout(), Some(at + POLL_INTERVAL));
        browser.handle_timeout(at + POLL_INTERVAL);
        assert!(browser.poll_transmit().is_some());
    }

    #[test]
    fn an_answer_to_another_question_is_not_taken() {
        let start = Instant::now();
        let mut browser = browser(start);
        let sent = browser.poll_transmit().unwrap();
        // Same ID, another name asked: not ours.
        let mut other = query(
            u16::from_be_bytes([sent.bytes[0], sent.bytes[1]]),
            &zone("evil.test"),
            rtype::SOA,
        );
        other[2] |= 0x80;
        browser.handle_answer(start, sent.to, &other);
        assert_eq!(browser.pending.len(), 1);
        // The right one, truncated: asked again over TCP.
        let mut truncated = sent.bytes.clone();
        truncated[2] |= 0x82;
        browser.handle_answer(start, sent.to, &truncated);
        assert!(browser
            .poll_transmit()
            .is_some_and(|t| t.tcp && t.bytes == sent.bytes));
    }
}
