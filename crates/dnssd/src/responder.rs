//! The mDNS responder for one `_presence._tcp` service (RFC 6762 §6–§10, RFC 6763).
//!
//! Sans-IO. The caller feeds it every mDNS datagram received ([`Responder::handle_input`])
//! and calls [`Responder::handle_timeout`] when [`Responder::poll_timeout`] says; after
//! either, it drains [`Responder::poll_transmit`] and [`Responder::poll_event`].

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::name::{DnsName, SERVICES_ENUMERATION};
use crate::record::{rtype, Message, Question, Record, RecordData, MAX_PACKET};
use crate::rng::Rng;
use crate::transmit::{Destination, InterfaceAddr, Stats, Transmit, MDNS_PORT};
use crate::txt::TxtRecord;

/// TTL of records that name a host or hold one (SRV, A, AAAA) and of NULL (RFC 6762 §10).
pub const HOST_TTL: u32 = 120;
/// TTL of the other records (PTR, TXT).
pub const OTHER_TTL: u32 = 4500;
/// The largest TXT record we publish, in bytes (RFC 6763 §6.2: larger is not recommended).
pub const MAX_TXT_BYTES: usize = 1300;
/// The largest avatar (NULL record) we publish: an mDNS packet must stay under 9000 bytes.
pub const MAX_AVATAR_BYTES: usize = 8192;

const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// How soon a record may be multicast again to defend our name against a probe (RFC 6762
/// §6); otherwise once a second.
const DEFENCE_INTERVAL: Duration = Duration::from_millis(250);
const PROBES: u8 = 3;
/// TTL cap in legacy-unicast replies (RFC 6762 §6.7).
const LEGACY_TTL: u32 = 10;
/// Within this many conflicts in ten seconds we keep renaming at once; past it, we wait
/// five seconds between attempts (RFC 6762 §8.1).
const CONFLICTS_BEFORE_BACKOFF: usize = 15;

/// What we publish: one XEP-0174 presence service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    /// The instance label, `user@machine` (XEP-0174 §3): opaque UTF-8, at most 63 bytes.
    pub instance: String,
    /// The host label the SRV record points to (`<host>.local`).
    pub host: String,
    /// The TCP port of the XMPP listener.
    pub port: u16,
    /// Our addresses, with their interfaces.
    pub addresses: Vec<InterfaceAddr>,
    /// The TXT record (XEP-0174 §3.3).
    pub txt: TxtRecord,
    /// Avatar bytes for the NULL record, if any (XEP-0174 §6).
    pub avatar: Option<Vec<u8>>,
}

/// Settings of a responder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponderConfig {
    /// Set the QU bit on every probe. Off by default: next to Avahi on port 5353, a
    /// unicast answer reaches only one of the sockets. The first probe of each round has
    /// it whatever this says (RFC 6762 §8.1, and what mDNSResponder does): an established
    /// Mac does not multicast a record again within a second of multicasting it, not even
    /// to defend it against a probe, so three multicast probes sent in the second after
    /// its announcement go unanswered, and the newcomer would take its name; its unicast
    /// answer to a QU probe is not held back.
    pub unicast_probes: bool,
    /// Announcements after probing, 2 to 8, one second apart then doubling (§8.3).
    pub announcements: u8,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        ResponderConfig {
            unicast_probes: false,
            announcements: 2,
        }
    }
}

/// Why a service cannot be published as given.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponderError {
    /// The instance or host label is empty or longer than 63 bytes.
    BadLabel(String),
    /// The TXT record is larger than [`MAX_TXT_BYTES`].
    TxtTooLarge(usize),
    /// The avatar is larger than [`MAX_AVATAR_BYTES`].
    AvatarTooLarge(usize),
}

impl std::fmt::Display for ResponderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponderError::BadLabel(label) => {
                write!(f, "DNS label {label:?} is empty or longer than 63 bytes")
            }
            ResponderError::TxtTooLarge(n) => {
                write!(f, "TXT record of {n} bytes; at most {MAX_TXT_BYTES}")
            }
            ResponderError::AvatarTooLarge(n) => {
                write!(f, "avatar of {n} bytes; at most {MAX_AVATAR_BYTES}")
            }
        }
    }
}

impl std::error::Error for ResponderError {}

/// What happened to our names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponderEvent {
    /// Probing succeeded: the names are ours and are being announced.
    Established {
        /// Our instance label.
        instance: String,
        /// Our host label.
        host: String,
    },
    /// Someone else holds our instance name: we took the next one and probe again.
    InstanceRenamed {
        /// The name we had.
        from: String,
        /// The name we probe now.
        to: String,
    },
    /// Someone else holds our host name: we took the next one and probe again.
    HostRenamed {
        /// The name we had.
        from: String,
        /// The name we probe now.
        to: String,
    },
    /// The goodbye was queued; the responder is done.
    Stopped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// `sent` probes are out; the next step is at `next`.
    Probing {
        sent: u8,
        next: Instant,
    },
    /// `sent` announcements are out; the next is at `next`.
    Announcing {
        sent: u8,
        next: Instant,
    },
    Established,
    Stopped,
}

/// Probing on one link that came while our names were already ours elsewhere (RFC 6762
/// §8: a link change means probing, then announcing, on that link).
#[derive(Clone, Copy, Debug)]
struct LinkProbe {
    interface: u32,
    /// Probes out on this link so far.
    sent: u8,
    next: Instant,
}

/// A multicast response being gathered before it goes out (RFC 6762 §6, §6.3).
#[derive(Debug)]
struct PendingResponse {
    at: Instant,
    interface: Option<u32>,
    answers: Vec<Record>,
    /// It answers a probe (a query with proposed records in its authority section): our
    /// defence, which may repeat a record after a quarter second, not a whole one.
    defends: bool,
    /// It answers a query whose known answers did not fit one packet (TC bit): the rest
    /// of them, in the next packets from this asker, still suppress answers (§7.2).
    known_answers_from: Option<SocketAddr>,
}

/// The responder of one service: probing, announcing, answering, defending, goodbye.
#[derive(Debug)]
pub struct Responder {
    config: ResponderConfig,
    service: ServiceInfo,
    base_instance: String,
    base_host: String,
    instance_attempt: u32,
    host_attempt: u32,
    phase: Phase,
    rng: Rng,
    conflicts: VecDeque<Instant>,
    pending: Vec<PendingResponse>,
    /// When each record (name, type, data) was last multicast on each interface.
    last_multicast: HashMap<(DnsName, u16, Vec<u8>, Option<u32>), Instant>,
    /// Addresses that left with their link: their goodbyes go out with the next
    /// announcements on the links that remain or come (the first goodbye may have had no
    /// link to go on), until those announcements are done.
    retracted: Vec<Record>,
    /// Links that came after we were established, probed before we announce on them or
    /// answer there.
    link_probes: Vec<LinkProbe>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ResponderEvent>,
    stats: Stats,
}

impl Responder {
    /// Starts publishing `service`: probing begins after a random 0–250 ms delay
    /// (RFC 6762 §8.1). `seed` drives the random delays.
    pub fn new(
        service: ServiceInfo,
        config: ResponderConfig,
        now: Instant,
        seed: u64,
    ) -> Result<Responder, ResponderError> {
        check_service(&service)?;
        let mut rng = Rng::new(seed);
        let first_probe = now + rng.between(Duration::ZERO, PROBE_INTERVAL);
        Ok(Responder {
            config: ResponderConfig {
                announcements: config.announcements.clamp(2, 8),
                ..config
            },
            base_instance: service.instance.clone(),
            base_host: service.host.clone(),
            service,
            instance_attempt: 1,
            host_attempt: 1,
            phase: Phase::Probing {
                sent: 0,
                next: first_probe,
            },
            rng,
            conflicts: VecDeque::new(),
            pending: Vec::new(),
            last_multicast: HashMap::new(),
            retracted: Vec::new(),
            link_probes: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    /// Feeds a datagram received on the mDNS port from `from` on interface `interface`.
    /// Malformed datagrams are counted in [`Responder::stats`] and otherwise ignored.
    /// Afterwards, drain [`Responder::poll_transmit`] and [`Responder::poll_event`].
    pub fn handle_input(&mut self, now: Instant, from: SocketAddr, interface: u32, bytes: &[u8]) {
        match Message::decode(bytes) {
            Ok(message) => self.handle_message(now, from, interface, &message),
            Err(_) => {
                self.stats.received += 1;
                self.stats.malformed += 1;
            }
        }
    }

    /// Feeds a message already decoded (a node that runs a browser too decodes once).
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        interface: u32,
        message: &Message,
    ) {
        self.stats.received += 1;
        if self.phase == Phase::Stopped {
            return;
        }
        if message.is_response {
            // Responses from another port are not mDNS responses (RFC 6762 §6).
            if from.port() == MDNS_PORT {
                self.check_response(now, interface, message);
            }
        } else {
            self.check_probe(now, interface, message);
            if matches!(self.phase, Phase::Announcing { .. } | Phase::Established) {
                self.take_known_answers(from, message);
                self.answer(now, from, interface, message);
            }
        }
    }

    /// Advances timers: probes, announcements, delayed answers. Call it when
    /// [`Responder::poll_timeout`] is reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Probing { sent, next } if next <= now => {
                if sent < PROBES {
                    self.send_probe();
                    self.phase = Phase::Probing {
                        sent: sent + 1,
                        next: now + PROBE_INTERVAL,
                    };
                } else {
                    self.events.push_back(ResponderEvent::Established {
                        instance: self.service.instance.clone(),
                        host: self.service.host.clone(),
                    });
                    self.announce(now);
                    self.phase = Phase::Announcing {
                        sent: 1,
                        next: now + Duration::from_secs(1),
                    };
                }
            }
            Phase::Announcing { sent, next } if next <= now => {
                self.announce(now);
                self.phase = if sent + 1 >= self.config.announcements {
                    self.retracted.clear();
                    Phase::Established
                } else {
                    Phase::Announcing {
                        sent: sent + 1,
                        next: now + Duration::from_secs(1 << sent),
                    }
                };
            }
            _ => {}
        }
        if self.is_public() {
            self.advance_link_probes(now);
        }
        let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|p| p.at <= now);
        self.pending = later;
        for response in due {
            let min_interval = if response.defends {
                DEFENCE_INTERVAL
            } else {
                Duration::from_secs(1)
            };
            self.send_multicast_answers(now, response.interface, response.answers, min_interval);
        }
    }

    /// Replaces the TXT record and announces it again (RFC 6762 §8.4).
    pub fn set_txt(&mut self, now: Instant, txt: TxtRecord) -> Result<(), ResponderError> {
        check_txt(&txt)?;
        if txt == self.service.txt {
            return Ok(());
        }
        self.service.txt = txt;
        self.reannounce(now);
        Ok(())
    }

    /// Replaces our addresses (after a new lease, an interface gone or come): goodbyes for
    /// the addresses that left, on the link that had them (RFC 6762 §10.1), then
    /// announcements on every link with its own addresses (§8.3, §15), at once and again a
    /// second later. A new address on a link we had is only announced (§8.4: the names are
    /// already ours); a link that came (an interface up, a cable in) is probed first, three
    /// probes 250 ms apart after a random 0–250 ms, and announced on when they meet no
    /// conflict (§8), while the other links go on as they were.
    pub fn set_addresses(&mut self, now: Instant, addresses: Vec<InterfaceAddr>) {
        if addresses == self.service.addresses {
            return;
        }
        let gone: Vec<InterfaceAddr> = self
            .service
            .addresses
            .iter()
            .filter(|old| !addresses.contains(old))
            .copied()
            .collect();
        // An address back (a cable in again) is ours again: no goodbye owed for it.
        self.retracted
            .retain(|r| !addresses.iter().any(|a| address_data(a.ip) == r.data));
        if self.is_public() {
            for address in gone {
                let record = Record {
                    name: self.host_name(),
                    ttl: HOST_TTL,
                    cache_flush: true,
                    data: address_data(address.ip),
                };
                if addresses.iter().any(|a| a.interface == address.interface) {
                    self.send_goodbye_on(Some(address.interface), vec![record]);
                } else {
                    // Its link is gone: peers that learned it there may hear us on another
                    // link of the same segment (Wi-Fi to Ethernet). The announcements
                    // below carry it, on every link.
                    self.retracted.push(record);
                }
            }
        }
        let had = |interface: u32| {
            self.service
                .addresses
                .iter()
                .any(|a| a.interface == interface)
        };
        let mut came: Vec<u32> = addresses
            .iter()
            .map(|a| a.interface)
            .filter(|&i| !had(i))
            .collect();
        came.sort_unstable();
        came.dedup();
        self.link_probes
            .retain(|p| addresses.iter().any(|a| a.interface == p.interface));
        if self.is_public() {
            for interface in came {
                // Our old addresses mean nothing there: say so now; a goodbye claims no
                // name, so it need not wait for the probes.
                if !self.retracted.is_empty() {
                    self.send_goodbye_on(Some(interface), self.retracted.clone());
                }
                self.probe_link(now, interface);
            }
        }
        self.service.addresses = addresses;
        self.reannounce(now);
    }

    /// Probes and announces on `interface` again, as on a link that came: our socket there
    /// opened only now (it had failed to), so nothing we sent there was heard. Nothing to
    /// do before our name is established (the first probes and announcements are still
    /// to come) or on a link where we have no address.
    pub fn link_reopened(&mut self, now: Instant, interface: u32) {
        let ours = self
            .service
            .addresses
            .iter()
            .any(|a| a.interface == interface);
        let probing = self.link_probes.iter().any(|p| p.interface == interface);
        if self.is_public() && ours && !probing {
            self.probe_link(now, interface);
        }
    }

    fn probe_link(&mut self, now: Instant, interface: u32) {
        let delay = self.rng.between(Duration::ZERO, PROBE_INTERVAL);
        self.link_probes.push(LinkProbe {
            interface,
            sent: 0,
            next: now + delay,
        });
    }

    /// Replaces the avatar (the NULL record) and announces it.
    pub fn set_avatar(
        &mut self,
        now: Instant,
        avatar: Option<Vec<u8>>,
    ) -> Result<(), ResponderError> {
        if let Some(bytes) = &avatar {
            if bytes.len() > MAX_AVATAR_BYTES {
                return Err(ResponderError::AvatarTooLarge(bytes.len()));
            }
        }
        if avatar == self.service.avatar {
            return Ok(());
        }
        if avatar.is_none() && self.is_public() {
            let gone: Vec<Record> = self
                .records()
                .into_iter()
                .filter(|r| r.data.rtype() == rtype::NULL)
                .collect();
            self.send_goodbye(gone);
        }
        self.service.avatar = avatar;
        self.reannounce(now);
        Ok(())
    }

    /// Sends goodbyes (TTL 0) for every record and stops (RFC 6762 §10.1). Nothing was
    /// public while probing, so then there is nothing to retract.
    pub fn shutdown(&mut self, _now: Instant) {
        if self.phase == Phase::Stopped {
            return;
        }
        if self.is_public() {
            self.send_goodbye(self.records());
        }
        self.pending.clear();
        self.phase = Phase::Stopped;
        self.events.push_back(ResponderEvent::Stopped);
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ResponderEvent> {
        self.events.pop_front()
    }

    /// When to call [`Responder::handle_timeout`] next; `None` when nothing is scheduled.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Probing { next, .. } | Phase::Announcing { next, .. } => Some(next),
            Phase::Established | Phase::Stopped => None,
        };
        let link_probes = self
            .link_probes
            .iter()
            .map(|p| p.next)
            .filter(|_| self.is_public());
        self.pending
            .iter()
            .map(|p| p.at)
            .chain(phase)
            .chain(link_probes)
            .min()
    }

    /// The instance label we publish (or probe) now, after any rename.
    pub fn instance(&self) -> &str {
        &self.service.instance
    }

    /// The host label we publish now.
    pub fn host(&self) -> &str {
        &self.service.host
    }

    /// What we publish.
    pub fn service(&self) -> &ServiceInfo {
        &self.service
    }

    /// Whether probing is over and the names are ours.
    pub fn is_established(&self) -> bool {
        matches!(self.phase, Phase::Announcing { .. } | Phase::Established)
    }

    /// Counters of received and dropped datagrams.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn is_public(&self) -> bool {
        self.is_established()
    }

    fn instance_name(&self) -> DnsName {
        DnsName::instance(&self.service.instance)
    }

    fn host_name(&self) -> DnsName {
        DnsName::host(&self.service.host)
    }

    /// Whether `name` owns any of [`Responder::records`]: a cheap test, made before those
    /// are built for every datagram on a busy link.
    fn owns(&self, name: &DnsName, instance: &DnsName, host: &DnsName) -> bool {
        name.is_service_type()
            || name == instance
            || name == host
            || *name == DnsName::from_labels(SERVICES_ENUMERATION)
    }

    /// Every record we publish, with its TTL and cache-flush bit (RFC 6762 §10, §10.2).
    /// Their owner names are those [`Responder::owns`] knows.
    fn records(&self) -> Vec<Record> {
        let instance = self.instance_name();
        let mut records = vec![
            Record {
                name: DnsName::service_type(),
                ttl: OTHER_TTL,
                cache_flush: false,
                data: RecordData::Ptr(instance.clone()),
            },
            Record {
                name: instance.clone(),
                ttl: HOST_TTL,
                cache_flush: true,
                data: RecordData::Srv {
                    priority: 0,
                    weight: 0,
                    port: self.service.port,
                    target: self.host_name(),
                },
            },
            Record {
                name: instance.clone(),
                ttl: OTHER_TTL,
                cache_flush: true,
                data: RecordData::Txt(self.service.txt.clone()),
            },
        ];
        if let Some(avatar) = &self.service.avatar {
            records.push(Record {
                name: instance,
                ttl: HOST_TTL,
                cache_flush: true,
                data: RecordData::Null(avatar.clone()),
            });
        }
        records.extend(self.address_records(None));
        records.push(Record {
            name: DnsName::from_labels(SERVICES_ENUMERATION),
            ttl: OTHER_TTL,
            cache_flush: false,
            data: RecordData::Ptr(DnsName::service_type()),
        });
        records
    }

    /// Every record we publish as one link hears it: the addresses those of `interface`
    /// (RFC 6762 §15; every address if `None`), after the other records.
    fn records_on(&self, interface: Option<u32>) -> Vec<Record> {
        self.records()
            .into_iter()
            .filter(|r| !is_address(r))
            .chain(self.address_records(interface))
            .collect()
    }

    /// A and AAAA records of our host; with an interface, those of that interface when it
    /// has any (RFC 6762 §15: answer with the addresses of the link asked on).
    fn address_records(&self, interface: Option<u32>) -> Vec<Record> {
        let on_interface: Vec<&InterfaceAddr> = match interface {
            Some(index) => self
                .service
                .addresses
                .iter()
                .filter(|a| a.interface == index)
                .collect(),
            None => Vec::new(),
        };
        let chosen: Vec<&InterfaceAddr> = if on_interface.is_empty() {
            self.service.addresses.iter().collect()
        } else {
            on_interface
        };
        let mut records: Vec<Record> = Vec::new();
        for address in chosen {
            let record = Record {
                name: self.host_name(),
                ttl: HOST_TTL,
                cache_flush: true,
                data: address_data(address.ip),
            };
            if !records.contains(&record) {
                records.push(record);
            }
        }
        records
    }

    /// Records in the authority section of our probes: the unique records of the names we
    /// probe, without the cache-flush bit; with an interface, the addresses of that link.
    fn proposed(&self, interface: Option<u32>) -> Vec<Record> {
        self.records_on(interface)
            .into_iter()
            .filter(|r| r.cache_flush)
            .map(|r| Record {
                cache_flush: false,
                ..r
            })
            .collect()
    }

    fn send_probe(&mut self) {
        let first = matches!(self.phase, Phase::Probing { sent: 0, .. });
        self.send_probe_on(None, first);
    }

    /// A probe for our names on `interface` (every link if `None`); the first of a round
    /// asks for a unicast answer.
    fn send_probe_on(&mut self, interface: Option<u32>, first: bool) {
        let qu = self.config.unicast_probes || first;
        let message = Message {
            questions: vec![
                Question {
                    name: self.instance_name(),
                    qtype: rtype::ANY,
                    unicast_response: qu,
                },
                Question {
                    name: self.host_name(),
                    qtype: rtype::ANY,
                    unicast_response: qu,
                },
            ],
            authority: self.proposed(interface),
            ..Message::default()
        };
        self.queue(Destination::Multicast, interface, &message);
    }

    /// Sends the probes due on links that came; a link probed three times without a
    /// conflict is announced on (and again with the next rounds on every link).
    fn advance_link_probes(&mut self, now: Instant) {
        let mut probed = Vec::new();
        for index in 0..self.link_probes.len() {
            let probe = self.link_probes[index];
            if probe.next > now {
                continue;
            }
            if probe.sent < PROBES {
                self.send_probe_on(Some(probe.interface), probe.sent == 0);
                self.link_probes[index].sent += 1;
                self.link_probes[index].next = now + PROBE_INTERVAL;
            } else {
                probed.push(probe.interface);
            }
        }
        if probed.is_empty() {
            return;
        }
        self.link_probes.retain(|p| !probed.contains(&p.interface));
        for interface in probed {
            self.announce_on(now, Some(interface));
        }
        self.phase = Phase::Announcing {
            sent: 1,
            next: now + Duration::from_secs(1),
        };
    }

    /// Whether `interface` is a link still being probed.
    fn probing_link(&self, interface: u32) -> bool {
        self.link_probes.iter().any(|p| p.interface == interface)
    }

    /// Multicasts every record on each link with that link's own addresses (RFC 6762
    /// §15): a peer on one link never learns an address of another, which it could not
    /// reach. With no address known on any link, once on every link.
    fn announce(&mut self, now: Instant) {
        for interface in self.links() {
            if !interface.is_some_and(|i| self.probing_link(i)) {
                self.announce_on(now, interface);
            }
        }
    }

    /// One announcement on `interface` (every link if `None`), after the goodbyes of
    /// retracted addresses.
    fn announce_on(&mut self, now: Instant, interface: Option<u32>) {
        if !self.retracted.is_empty() {
            self.send_goodbye_on(interface, self.retracted.clone());
        }
        let records = self.records_on(interface);
        for record in &records {
            self.last_multicast
                .insert(multicast_key(record, interface), now);
        }
        let message = Message {
            is_response: true,
            answers: records,
            ..Message::default()
        };
        self.queue(Destination::Multicast, interface, &message);
    }

    /// The links we have addresses on, each once; `[None]` (every link) when we know of
    /// none.
    fn links(&self) -> Vec<Option<u32>> {
        let mut links: Vec<Option<u32>> = Vec::new();
        for address in &self.service.addresses {
            if !links.contains(&Some(address.interface)) {
                links.push(Some(address.interface));
            }
        }
        if links.is_empty() {
            links.push(None);
        }
        links
    }

    fn reannounce(&mut self, now: Instant) {
        if self.is_public() {
            self.announce(now);
            self.phase = Phase::Announcing {
                sent: 1,
                next: now + Duration::from_secs(1),
            };
        }
    }

    fn send_goodbye(&mut self, records: Vec<Record>) {
        self.send_goodbye_on(None, records);
    }

    /// Multicasts `records` with TTL 0 on `interface` (every link if `None`).
    fn send_goodbye_on(&mut self, interface: Option<u32>, records: Vec<Record>) {
        let answers = records
            .into_iter()
            .map(|r| Record { ttl: 0, ..r })
            .collect();
        let message = Message {
            is_response: true,
            answers,
            ..Message::default()
        };
        self.queue(Destination::Multicast, interface, &message);
    }

    /// A response holding a record of one of our unique names with other data is a
    /// conflict (RFC 6762 §8.1 while probing, §9 afterwards).
    fn check_response(&mut self, now: Instant, interface: u32, message: &Message) {
        let instance = self.instance_name();
        let host = self.host_name();
        let about_us = |record: &Record| {
            record.ttl != 0
                && is_unique_type(record.data.rtype())
                && (record.name == instance || record.name == host)
        };
        if !message
            .answers
            .iter()
            .chain(&message.additional)
            .any(about_us)
        {
            return;
        }
        let ours = self.records();
        let mut instance_conflict = false;
        let mut host_conflict = false;
        for record in message.answers.iter().chain(&message.additional) {
            // A goodbye of someone else's record takes nothing from us.
            if record.ttl == 0 || !is_unique_type(record.data.rtype()) {
                continue;
            }
            let clash = |name: &DnsName| {
                record.name == *name
                    && !ours
                        .iter()
                        .any(|o| o.name == record.name && o.data == record.data)
            };
            instance_conflict |= clash(&instance);
            host_conflict |= clash(&host);
        }
        if !instance_conflict && !host_conflict {
            return;
        }
        match self.phase {
            Phase::Probing { .. } => self.rename(now, instance_conflict, host_conflict),
            // An answer to our probe on a link that came: the name is taken there.
            _ if self.probing_link(interface) => self.rename(now, instance_conflict, host_conflict),
            // §9: back to probing; if the conflict is real, probing renames.
            Phase::Announcing { .. } | Phase::Established => {
                self.restart_probing(now, Duration::ZERO)
            }
            Phase::Stopped => {}
        }
    }

    /// Simultaneous probes (RFC 6762 §8.2): compare their proposed records for our names
    /// with ours; the lexicographically later set wins, the loser waits one second.
    fn check_probe(&mut self, now: Instant, interface: u32, message: &Message) {
        if message.authority.is_empty() {
            return;
        }
        for name in [self.instance_name(), self.host_name()] {
            let asks = message.questions.iter().any(|q| q.name == name);
            if !asks {
                continue;
            }
            let mut theirs: Vec<(u16, Vec<u8>)> = message
                .authority
                .iter()
                .filter(|r| r.name == name)
                .map(|r| (r.data.rtype(), r.data.canonical_bytes()))
                .collect();
            let mut mine: Vec<(u16, Vec<u8>)> = self
                .proposed(self.probing_link(interface).then_some(interface))
                .iter()
                .filter(|r| r.name == name)
                .map(|r| (r.data.rtype(), r.data.canonical_bytes()))
                .collect();
            if theirs.is_empty() {
                continue;
            }
            theirs.sort();
            mine.sort();
            if theirs == mine {
                // Our own probe, looped back.
                continue;
            }
            match self.phase {
                Phase::Probing { .. } if theirs > mine => {
                    self.restart_probing(now, Duration::from_secs(1));
                    return;
                }
                // A link of ours still probing loses the same way: it waits a second
                // and probes again.
                _ if theirs > mine && self.probing_link(interface) => {
                    for probe in &mut self.link_probes {
                        if probe.interface == interface {
                            probe.sent = 0;
                            probe.next = now + Duration::from_secs(1);
                        }
                    }
                    return;
                }
                // Established: defending is answering the probe's ANY question, which
                // `answer` does with our unique records.
                _ => {}
            }
        }
    }

    fn rename(&mut self, now: Instant, instance: bool, host: bool) {
        if instance {
            self.instance_attempt += 1;
            // Apple's form, which Macs show and take themselves: `name (2)`.
            let to = numbered(
                &self.base_instance,
                &format!(" ({})", self.instance_attempt),
            );
            let from = std::mem::replace(&mut self.service.instance, to.clone());
            self.events
                .push_back(ResponderEvent::InstanceRenamed { from, to });
        }
        if host {
            self.host_attempt += 1;
            // Hosts as Apple's and Avahi's responders rename them: `host-2`.
            let to = numbered(&self.base_host, &format!("-{}", self.host_attempt));
            let from = std::mem::replace(&mut self.service.host, to.clone());
            self.events
                .push_back(ResponderEvent::HostRenamed { from, to });
        }
        self.conflicts.push_back(now);
        while self
            .conflicts
            .front()
            .is_some_and(|&t| now.duration_since(t) > Duration::from_secs(10))
        {
            self.conflicts.pop_front();
        }
        let delay = if self.conflicts.len() > CONFLICTS_BEFORE_BACKOFF {
            Duration::from_secs(5)
        } else {
            self.rng.between(Duration::ZERO, PROBE_INTERVAL)
        };
        self.restart_probing(now, delay);
    }

    fn restart_probing(&mut self, now: Instant, delay: Duration) {
        self.pending.clear();
        // Probing every link again covers the links that were being probed alone.
        self.link_probes.clear();
        self.phase = Phase::Probing {
            sent: 0,
            next: now + delay,
        };
    }

    /// Whether `record` was multicast on `interface` (or on every link) within a quarter
    /// of its TTL.
    fn multicast_recently(&self, now: Instant, record: &Record, interface: u32) -> bool {
        self.last_multicast
            .get(&multicast_key(record, Some(interface)))
            .or_else(|| self.last_multicast.get(&multicast_key(record, None)))
            .is_some_and(|&t| {
                now.duration_since(t) < Duration::from_secs(u64::from(record.ttl / 4))
            })
    }

    /// Known answers in a packet that continues a truncated query (RFC 6762 §7.2;
    /// mDNSResponder sends them as queries without questions) suppress what we were about
    /// to answer that asker.
    fn take_known_answers(&mut self, from: SocketAddr, message: &Message) {
        if message.answers.is_empty() {
            return;
        }
        for pending in &mut self.pending {
            if pending.known_answers_from != Some(from) {
                continue;
            }
            pending.answers.retain(|record| {
                !message.answers.iter().any(|known| {
                    known.name == record.name
                        && known.data == record.data
                        && known.ttl >= record.ttl / 2
                })
            });
        }
    }

    /// Answers a query (RFC 6762 §6): unique answers at once, shared ones after 20–120 ms;
    /// known answers suppress ours (§7.1); QU and legacy questions get unicast replies.
    fn answer(&mut self, now: Instant, from: SocketAddr, interface: u32, message: &Message) {
        // A link still being probed hears nothing from us yet (RFC 6762 §8.1).
        if self.probing_link(interface) {
            return;
        }
        let legacy = from.port() != MDNS_PORT;
        let (instance, host) = (self.instance_name(), self.host_name());
        if !message
            .questions
            .iter()
            .any(|q| self.owns(&q.name, &instance, &host))
        {
            return;
        }
        let records = self.records_on(Some(interface));
        let mut answers: Vec<Record> = Vec::new();
        let mut unicast = false;
        let mut shared = false;
        for question in &message.questions {
            let mut exists = false;
            for record in records.iter().filter(|r| question.is_answered_by(r)) {
                exists = true;
                let known = message.answers.iter().any(|k| {
                    k.name == record.name && k.data == record.data && k.ttl >= record.ttl / 2
                });
                if known || answers.contains(record) {
                    continue;
                }
                unicast |= question.unicast_response;
                shared |= !record.cache_flush;
                answers.push(record.clone());
            }
            // RFC 6762 §6.1: a name we own, asked for a type it does not have (AAAA of a
            // host with IPv4 only, NULL of a service without avatar), gets an NSEC saying
            // so, as mDNSResponder gives: the asker stops asking.
            let ours = question.name == instance || question.name == host;
            if ours && !exists && question.qtype != rtype::ANY {
                let nsec = negative_answer(&question.name, &records);
                if !answers.contains(&nsec) {
                    unicast |= question.unicast_response;
                    answers.push(nsec);
                }
            }
        }
        if answers.is_empty() {
            return;
        }
        if legacy {
            let answers = answers
                .into_iter()
                .map(|r| Record {
                    ttl: r.ttl.min(LEGACY_TTL),
                    cache_flush: false,
                    ..r
                })
                .collect();
            let additional = Vec::new();
            let reply = Message {
                id: message.id,
                is_response: true,
                questions: message.questions.clone(),
                answers,
                additional,
                ..Message::default()
            };
            self.queue(Destination::Unicast(from), Some(interface), &reply);
            return;
        }
        let defends = !message.authority.is_empty();
        if unicast {
            // RFC 6762 §5.4: a QU question gets a unicast reply, but a record not multicast
            // on this link within a quarter of its TTL is multicast, so that every cache
            // hears it. A probe's answer is our defence: multicast too, since a unicast
            // reply to a port several sockets share (Avahi beside us) reaches one of them.
            let (heard, unheard): (Vec<Record>, Vec<Record>) = answers
                .into_iter()
                .partition(|r| self.multicast_recently(now, r, interface));
            if !heard.is_empty() {
                let additional = self.additional_for(&heard, interface);
                let reply = Message {
                    is_response: true,
                    answers: heard.clone(),
                    additional,
                    ..Message::default()
                };
                self.queue(Destination::Unicast(from), Some(interface), &reply);
            }
            answers = if defends {
                unheard.into_iter().chain(heard).collect()
            } else {
                unheard
            };
            if answers.is_empty() {
                return;
            }
        }
        if message.truncated {
            // More known answers follow in the asker's next packets (RFC 6762 §7.2):
            // wait 400–500 ms for them, in a response of this asker's own.
            let at = now
                + self
                    .rng
                    .between(Duration::from_millis(400), Duration::from_millis(500));
            self.pending.push(PendingResponse {
                at,
                interface: Some(interface),
                answers,
                defends,
                known_answers_from: Some(from),
            });
            return;
        }
        let at = if shared {
            now + self
                .rng
                .between(Duration::from_millis(20), Duration::from_millis(120))
        } else {
            now
        };
        match self
            .pending
            .iter_mut()
            .find(|p| p.interface == Some(interface) && p.known_answers_from.is_none())
        {
            Some(pending) => {
                for answer in answers {
                    if !pending.answers.contains(&answer) {
                        pending.answers.push(answer);
                    }
                }
                pending.at = pending.at.min(at);
                pending.defends |= defends;
            }
            None => self.pending.push(PendingResponse {
                at,
                interface: Some(interface),
                answers,
                defends,
                known_answers_from: None,
            }),
        }
        if !shared {
            self.handle_timeout(now);
        }
    }

    /// Sends gathered answers, leaving out records multicast on that interface less than
    /// `min_interval` ago (RFC 6762 §6: at most once a second; a quarter second when
    /// defending against a probe).
    fn send_multicast_answers(
        &mut self,
        now: Instant,
        interface: Option<u32>,
        answers: Vec<Record>,
        min_interval: Duration,
    ) {
        let answers: Vec<Record> = answers
            .into_iter()
            .filter(|r| {
                let key = multicast_key(r, interface);
                let recent = self
                    .last_multicast
                    .get(&key)
                    .or_else(|| self.last_multicast.get(&multicast_key(r, None)))
                    .is_some_and(|&t| now.duration_since(t) < min_interval);
                !recent
            })
            .collect();
        if answers.is_empty() {
            return;
        }
        for record in &answers {
            self.last_multicast
                .insert(multicast_key(record, interface), now);
        }
        let additional = self.additional_for(&answers, interface.unwrap_or(0));
        let message = Message {
            is_response: true,
            answers,
            additional,
            ..Message::default()
        };
        self.queue(Destination::Multicast, interface, &message);
    }

    /// Additional records (RFC 6763 §12): SRV, TXT and addresses with a PTR answer,
    /// addresses with an SRV answer; none that is already an answer.
    fn additional_for(&self, answers: &[Record], interface: u32) -> Vec<Record> {
        let instance = self.instance_name();
        let mut wanted: Vec<Record> = Vec::new();
        let has = |t: u16| answers.iter().any(|r| r.data.rtype() == t);
        let points_to_us = answers
            .iter()
            .any(|r| r.data == RecordData::Ptr(instance.clone()));
        if points_to_us {
            wanted.extend(self.records().into_iter().filter(|r| {
                r.name == instance && matches!(r.data.rtype(), rtype::SRV | rtype::TXT)
            }));
        }
        if points_to_us || has(rtype::SRV) {
            wanted.extend(self.address_records(Some(interface)));
        }
        wanted.retain(|r| !answers.contains(r));
        wanted
    }

    fn queue(&mut self, destination: Destination, interface: Option<u32>, message: &Message) {
        let Ok(payload) = message.encode() else {
            return;
        };
        if payload.len() > MAX_PACKET {
            return;
        }
        self.stats.sent += 1;
        self.transmits.push_back(Transmit {
            destination,
            interface,
            payload,
        });
    }
}

fn check_service(service: &ServiceInfo) -> Result<(), ResponderError> {
    for label in [&service.instance, &service.host] {
        if label.is_empty() || label.len() > 63 {
            return Err(ResponderError::BadLabel(label.clone()));
        }
    }
    check_txt(&service.txt)?;
    match &service.avatar {
        Some(bytes) if bytes.len() > MAX_AVATAR_BYTES => {
            Err(ResponderError::AvatarTooLarge(bytes.len()))
        }
        _ => Ok(()),
    }
}

fn check_txt(txt: &TxtRecord) -> Result<(), ResponderError> {
    match txt.wire_len() {
        n if n > MAX_TXT_BYTES => Err(ResponderError::TxtTooLarge(n)),
        _ => Ok(()),
    }
}

fn is_unique_type(code: u16) -> bool {
    matches!(
        code,
        rtype::SRV | rtype::TXT | rtype::A | rtype::AAAA | rtype::NULL
    )
}

/// Whether `record` is one of our host's addresses (A or AAAA), which differ per link.
fn is_address(record: &Record) -> bool {
    matches!(record.data.rtype(), rtype::A | rtype::AAAA)
}

fn address_data(ip: IpAddr) -> RecordData {
    match ip {
        IpAddr::V4(v4) => RecordData::A(v4),
        IpAddr::V6(v6) => RecordData::Aaaa(v6),
    }
}

fn multicast_key(record: &Record, interface: Option<u32>) -> (DnsName, u16, Vec<u8>, Option<u32>) {
    (
        record.name.canonical(),
        record.data.rtype(),
        record.data.canonical_bytes(),
        interface,
    )
}

/// The NSEC record of `name` among `records` (RFC 6762 §6.1): the types it has; its next
/// name is itself.
fn negative_answer(name: &DnsName, records: &[Record]) -> Record {
    let mut types: Vec<u16> = records
        .iter()
        .filter(|r| r.name == *name)
        .map(|r| r.data.rtype())
        .collect();
    types.sort_unstable();
    types.dedup();
    Record {
        name: name.clone(),
        ttl: HOST_TTL,
        cache_flush: true,
        data: RecordData::Nsec {
            next: name.clone(),
            types,
        },
    }
}

/// `base` with `suffix` after it, cut at a character boundary so that the label stays
/// within 63 bytes.
pub(crate) fn numbered(base: &str, suffix: &str) -> String {
    let mut end = base.len().min(63 - suffix.len());
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &base[..end])
}
