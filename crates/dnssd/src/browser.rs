//! The `_presence._tcp` browser: continuous querying, a bounded record cache, and service
//! events (RFC 6762 §5.2, §7, §10; RFC 6763 §12).
//!
//! Sans-IO, like [`Responder`](crate::Responder): feed datagrams and timeouts, drain
//! [`Browser::poll_transmit`] and [`Browser::poll_event`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::ops::{Range, RangeInclusive};
use std::time::{Duration, Instant};

use crate::name::DnsName;
use crate::record::{rtype, Message, Question, Record, RecordData, MAX_PACKET};
use crate::responder::MAX_AVATAR_BYTES;
use crate::rng::Rng;
use crate::transmit::{Destination, InterfaceAddr, Stats, Transmit, MDNS_PORT};
use crate::txt::TxtRecord;

/// Bounds on the browser's cache, so that a flood cannot grow memory without bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrowserConfig {
    /// Records held in all. Default 4096.
    pub max_records: usize,
    /// Records held for one owner name (addresses of one host, say), except the service
    /// type's PTRs, which `max_services` bounds. Default 32.
    pub max_records_per_name: usize,
    /// Service instances (PTR records of `_presence._tcp.local`) held. Default 1024.
    pub max_services: usize,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        BrowserConfig {
            max_records: 4096,
            max_records_per_name: 32,
            max_services: 1024,
        }
    }
}

/// A resolved `_presence._tcp` service instance: everything needed to show a peer and
/// connect to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInstance {
    /// The instance label (the peer's XEP-0174 name), exactly as published.
    pub instance: String,
    /// The host label of the SRV target.
    pub host: String,
    /// The SRV port.
    pub port: u16,
    /// Every address of the host seen on any interface, IPv4 first, in order.
    pub addresses: Vec<InterfaceAddr>,
    /// The TXT record.
    pub txt: TxtRecord,
    /// The avatar: the NULL record at the instance name (XEP-0174's buddy icons), only once
    /// its SHA-1 matches the TXT `phsh`. The browser asks for it when `phsh` appears or
    /// changes.
    pub avatar: Option<Vec<u8>>,
}

/// A change in the services seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceEvent {
    /// A service became fully known: PTR, SRV, TXT and at least one address.
    Resolved(ServiceInstance),
    /// A known service changed (TXT, port, host or addresses).
    Updated(ServiceInstance),
    /// A service left: goodbye, expiry, or it lost its last address.
    Removed {
        /// The instance label.
        instance: String,
    },
}

#[derive(Clone, Debug)]
struct CacheEntry {
    record: Record,
    interface: u32,
    received: Instant,
    expires: Instant,
    /// Refresh queries already sent for this record (at 80, 85, 90, 95 % of its TTL).
    refreshes: u8,
    /// Jitter for the refresh times, 0 to 2 % of the TTL (RFC 6762 §5.2).
    jitter_permille: u16,
}

impl CacheEntry {
    fn refresh_at(&self) -> Option<Instant> {
        if self.refreshes >= 4 || self.record.ttl == 0 {
            return None;
        }
        let permille = 800 + 50 * u64::from(self.refreshes) + u64::from(self.jitter_permille);
        Some(self.received + Duration::from_millis(u64::from(self.record.ttl) * permille))
    }

    fn remaining_ttl(&self, now: Instant) -> u32 {
        self.expires.saturating_duration_since(now).as_secs() as u32
    }

    /// When the browser must next look at this record: a refresh or its expiry.
    fn deadline(&self) -> Instant {
        self.refresh_at()
            .map_or(self.expires, |r| r.min(self.expires))
    }
}

/// A cache entry's key: the owner name in a canonical, prefix-free form (its label count,
/// then each label lowered with its length), the type, then the data's canonical bytes.
/// Keys compare as bytes, in one `memcmp`, and in that order the records of a name, or of
/// a name and type, are neighbours. (Names with several labels each in a `Vec` made the
/// cache's B-tree searches most of a large link's cost.)
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct CacheKey(Vec<u8>);

impl CacheKey {
    fn of(record: &Record) -> CacheKey {
        let mut key = name_key(&record.name);
        key.extend_from_slice(&record.data.rtype().to_be_bytes());
        key.extend_from_slice(&record.data.canonical_bytes());
        CacheKey(key)
    }

    /// The keys of a name's records whose types are in `types` (below 65535).
    fn range(name: &DnsName, types: RangeInclusive<u16>) -> Range<CacheKey> {
        let name = name_key(name);
        let mut start = name.clone();
        start.extend_from_slice(&types.start().to_be_bytes());
        let mut end = name;
        end.extend_from_slice(&types.end().saturating_add(1).to_be_bytes());
        CacheKey(start)..CacheKey(end)
    }
}

/// A name as the first part of a [`CacheKey`], and the key of the per-name record counts.
/// Lengths are four bytes so that no label, however long, makes two names' forms ambiguous.
fn name_key(name: &DnsName) -> Vec<u8> {
    let labels = name.labels();
    let mut key = Vec::with_capacity(4 + labels.iter().map(|l| 4 + l.len()).sum::<usize>() + 64);
    key.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    for label in labels {
        key.extend_from_slice(&(label.len() as u32).to_be_bytes());
        key.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    key
}

/// Browses `_presence._tcp.local` and reports services as they come, change and go.
#[derive(Debug)]
pub struct Browser {
    config: BrowserConfig,
    /// Our own instance's name, never reported.
    own_name: Option<DnsName>,
    cache: BTreeMap<CacheKey, CacheEntry>,
    /// Every cache entry's deadline, so the next one is found without a scan.
    deadlines: BTreeSet<(Instant, CacheKey)>,
    /// Records held per owner name (by [`name_key`]), for the per-name bounds.
    per_name: HashMap<Vec<u8>, usize>,
    /// Hosts named by SRV records, with the instances that point at them.
    hosts: HashMap<DnsName, BTreeSet<DnsName>>,
    next_browse: Instant,
    /// Whether the first browse query went out: it asks for a unicast answer.
    browsed: bool,
    /// The interfaces we listen on, once told ([`Browser::set_interfaces`]).
    interfaces: Option<BTreeSet<u32>>,
    /// When the resolutions asked for by the answers now arriving go out together: the
    /// packets of one response (a Mac sends a hundred pointers in several) make one batch.
    resolve_batch: Option<Instant>,
    browse_interval: Duration,
    /// Instances (canonical instance names) whose SRV, TXT or addresses are missing, with
    /// when to ask next and the interval after that.
    resolving: HashMap<DnsName, (Instant, Duration)>,
    /// The earliest of `resolving`'s times, kept so that `poll_timeout`, which an event
    /// loop calls after every input, does not scan them.
    next_resolve: Option<Instant>,
    emitted: HashMap<DnsName, ServiceInstance>,
    /// Resolved instances whose TXT names an avatar (`phsh`) that the cache lacks.
    avatar_fetches: HashMap<DnsName, AvatarFetch>,
    /// The earliest time an avatar fetch is due, as `next_resolve` is for resolutions.
    next_avatar_fetch: Option<Instant>,
    dirty: BTreeSet<Vec<Vec<u8>>>,
    rng: Rng,
    transmits: VecDeque<Transmit>,
    events: VecDeque<ServiceEvent>,
    stats: Stats,
}

const FIRST_QUERY_DELAY: (Duration, Duration) =
    (Duration::from_millis(20), Duration::from_millis(120));
/// The most question bytes in one query packet: Apple's mDNSResponder's own size, which
/// keeps a query within one Ethernet frame (a response can carry a hundred pointers, and
/// the questions they call for would otherwise make one fragmented 9 KB datagram).
const QUESTION_BUDGET: usize = 1440;
const MAX_BROWSE_INTERVAL: Duration = Duration::from_secs(3600);
const MAX_RESOLVE_INTERVAL: Duration = Duration::from_secs(60);
/// The interval after a name's first resolution query (doubling up to the maximum).
const RESOLVE_FIRST_INTERVAL: Duration = Duration::from_secs(1);
/// Queries for one avatar before the browser gives up on that `phsh` (at 0, 1, 3 and 7 s):
/// XEP-0174 peers fetch an avatar when its hash changes, never on a schedule.
const AVATAR_QUERIES: u8 = 4;

/// A pending avatar fetch: the hash wanted, when to ask next, the interval after that,
/// and how many queries are left.
#[derive(Clone, Debug)]
struct AvatarFetch {
    phsh: String,
    next: Instant,
    interval: Duration,
    left: u8,
}
/// How long a goodbye or a flushed record lingers (RFC 6762 §10.1, §10.2).
const LINGER: Duration = Duration::from_secs(1);
/// How long records learned on an interface that went are kept unless heard again: a
/// cable out and back in, or a Wi-Fi roam, within it loses no peer.
pub const GONE_INTERFACE_GRACE: Duration = Duration::from_secs(5);

impl Browser {
    /// Starts browsing: the first query goes out at once, as Apple's mDNSResponder sends
    /// a new question's first query (RFC 6762 §5.2 suggests 20–120 ms against hosts that
    /// all start at one instant; a user starting a chat client is not such an instant,
    /// and a Mac's own answer already waits 20–120 ms).
    pub fn new(config: BrowserConfig, now: Instant, seed: u64) -> Browser {
        let rng = Rng::new(seed);
        Browser {
            config,
            own_name: None,
            cache: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            per_name: HashMap::new(),
            hosts: HashMap::new(),
            next_browse: now,
            browsed: false,
            interfaces: None,
            resolve_batch: None,
            browse_interval: Duration::from_secs(1),
            resolving: HashMap::new(),
            next_resolve: None,
            emitted: HashMap::new(),
            avatar_fetches: HashMap::new(),
            next_avatar_fetch: None,
            dirty: BTreeSet::new(),
            rng,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Sets our own instance label, which is never reported (XEP-0174 §3: filter self).
    pub fn set_own_instance(&mut self, instance: Option<String>) {
        self.own_name = instance.as_deref().map(DnsName::instance);
        if let Some(own) = instance {
            let name = DnsName::instance(&own).canonical();
            if self.emitted.remove(&name).is_some() {
                self.events
                    .push_back(ServiceEvent::Removed { instance: own });
            }
        }
    }

    /// The interfaces we listen on now (their indices, as datagrams are tagged with). On
    /// one that came (an interface up, a cable in) the browse starts over at once, its
    /// first query asking for unicast answers, as at start and as mDNSResponder restarts
    /// its questions when an interface comes up: peers on a new link are found in a
    /// moment, not at the next query of a backed-off series (up to an hour away). Records
    /// last heard on an interface that went expire within [`GONE_INTERFACE_GRACE`] unless
    /// heard again, and if other interfaces remain the browse starts over there too, so
    /// what is still reachable is heard again. The first call only records the set.
    pub fn set_interfaces(&mut self, now: Instant, interfaces: &[u32]) {
        let now_set: BTreeSet<u32> = interfaces.iter().copied().collect();
        let Some(before) = self.interfaces.replace(now_set.clone()) else {
            return;
        };
        let came = now_set.difference(&before).next().is_some();
        let gone: Vec<u32> = before.difference(&now_set).copied().collect();
        if !gone.is_empty() {
            let learned_there: Vec<CacheKey> = self
                .cache
                .iter()
                .filter(|(_, e)| gone.contains(&e.interface))
                .map(|(k, _)| k.clone())
                .collect();
            // No refresh queries for them: the browse that starts over asks anew.
            for key in learned_there {
                self.expire_within(now, key, GONE_INTERFACE_GRACE);
            }
        }
        if came || (!gone.is_empty() && !now_set.is_empty()) {
            self.browse_again(now);
        }
    }

    /// Browses again at once, from a first query with QU, as for a link that came: our
    /// socket on a link opened only now (it had failed to), so nothing we asked there was
    /// heard.
    pub fn link_reopened(&mut self, now: Instant) {
        self.browse_again(now);
    }

    fn browse_again(&mut self, now: Instant) {
        self.next_browse = now;
        self.browse_interval = Duration::from_secs(1);
        self.browsed = false;
    }

    /// Feeds a datagram received from `from` on interface `interface`. Malformed ones
    /// are counted in [`Browser::stats`] and otherwise ignored.
    pub fn handle_input(&mut self, now: Instant, from: SocketAddr, interface: u32, bytes: &[u8]) {
        // Queries (QR bit clear) tell a browser nothing: skip decoding them.
        if bytes.get(2).is_some_and(|flags| flags & 0x80 == 0) {
            self.stats.received += 1;
            return;
        }
        match Message::decode(bytes) {
            Ok(message) => self.handle_message(now, from, interface, &message),
            Err(_) => {
                self.stats.received += 1;
                self.stats.malformed += 1;
            }
        }
    }

    /// Feeds a message already decoded (a node that runs a responder too decodes once).
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        interface: u32,
        message: &Message,
    ) {
        self.stats.received += 1;
        // Only responses from port 5353 are mDNS answers (RFC 6762 §6, §11).
        if !message.is_response || from.port() != MDNS_PORT {
            return;
        }
        for record in message.answers.iter().chain(&message.additional) {
            self.insert(now, interface, record);
        }
        self.update_services(now);
    }

    /// Expires records, sends due queries. Call it when [`Browser::poll_timeout`] is
    /// reached.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire(now);
        self.update_services(now);
        let mut questions: Vec<Question> = Vec::new();
        let mut known: Vec<Record> = Vec::new();
        if self.next_browse <= now {
            // RFC 6762 §5.4: our cache is empty at first, and a responder that multicast
            // its answers less than a second ago would not multicast them again (§6);
            // asked for a unicast answer, it replies to us alone. mDNSResponder's own
            // browser does the same.
            questions.push(Question {
                name: DnsName::service_type(),
                qtype: rtype::PTR,
                unicast_response: !self.browsed,
            });
            self.browsed = true;
            // Known answers with more than half their TTL left (RFC 6762 §7.1).
            known.extend(
                self.cache
                    .range(CacheKey::range(
                        &DnsName::service_type(),
                        rtype::PTR..=rtype::PTR,
                    ))
                    .map(|(_, e)| e)
                    .filter(|e| u64::from(e.remaining_ttl(now)) * 2 > u64::from(e.record.ttl))
                    .map(|e| Record {
                        ttl: e.remaining_ttl(now),
                        ..e.record.clone()
                    }),
            );
            self.next_browse = now + self.browse_interval;
            self.browse_interval = (self.browse_interval * 2).min(MAX_BROWSE_INTERVAL);
        }
        let due: Vec<DnsName> = self
            .resolving
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            // The first query for a name asks for a unicast answer, as the first browse
            // query does, and for the same reason.
            let first = self
                .resolving
                .get(&name)
                .is_some_and(|(_, interval)| *interval == RESOLVE_FIRST_INTERVAL);
            questions.extend(self.missing_questions(&name).into_iter().map(|q| Question {
                unicast_response: first,
                ..q
            }));
            if let Some((at, interval)) = self.resolving.get_mut(&name) {
                *at = now + *interval;
                *interval = (*interval * 2).min(MAX_RESOLVE_INTERVAL);
            }
        }
        self.settle_next_resolve();
        for (instance, fetch) in &mut self.avatar_fetches {
            if fetch.left > 0 && fetch.next <= now {
                questions.push(Question {
                    name: instance.clone(),
                    qtype: rtype::NULL,
                    unicast_response: false,
                });
                fetch.left -= 1;
                fetch.next = now + fetch.interval;
                fetch.interval *= 2;
            }
        }
        self.settle_next_avatar_fetch();
        let mut refreshed = Vec::new();
        let due: Vec<CacheKey> = self
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, k)| k.clone())
            .collect();
        for key in due {
            let Some(mut entry) = self.cache.get(&key).cloned() else {
                continue;
            };
            if entry.refresh_at().is_some_and(|at| at <= now) {
                entry.refreshes += 1;
                refreshed.push((entry.record.name.canonical(), entry.record.data.rtype()));
                self.put(key, entry);
            }
        }
        for (name, qtype) in refreshed {
            if self.wanted(&name, qtype) {
                questions.push(Question {
                    name,
                    qtype,
                    unicast_response: false,
                });
            }
        }
        questions.dedup();
        if !questions.is_empty() {
            self.send_query(questions, known);
        }
    }

    /// Sends questions with their known answers; answers that do not fit one packet go in
    /// follow-ups, every packet but the last with the TC bit (RFC 6762 §7.2). Questions
    /// beyond [`QUESTION_BUDGET`] go in further queries of their own, after those.
    fn send_query(&mut self, questions: Vec<Question>, known: Vec<Record>) {
        let mut packets: Vec<Vec<Question>> = vec![Vec::new()];
        let mut used = 12;
        for question in questions {
            let size = question.name.wire_len() + 4;
            if used + size > QUESTION_BUDGET && !packets.last().is_some_and(Vec::is_empty) {
                packets.push(Vec::new());
                used = 12;
            }
            used += size;
            packets.last_mut().expect("never empty").push(question);
        }
        let mut packets = packets.into_iter();
        self.send_query_packets(packets.next().unwrap_or_default(), known);
        for questions in packets {
            self.send_query_packets(questions, Vec::new());
        }
    }

    /// One query, its known answers spread over as many packets as they need.
    fn send_query_packets(&mut self, questions: Vec<Question>, known: Vec<Record>) {
        // Uncompressed sizes overestimate, so a packet built to this budget fits.
        const BUDGET: usize = MAX_PACKET - 100;
        let question_bytes: usize = questions.iter().map(|q| q.name.wire_len() + 4).sum();
        let mut batches: Vec<Vec<Record>> = vec![Vec::new()];
        let mut used = 12 + question_bytes;
        for record in known {
            let size = record.name.wire_len() + 10 + record.data.canonical_bytes().len();
            if used + size > BUDGET && !batches.last().is_some_and(Vec::is_empty) {
                batches.push(Vec::new());
                used = 12;
            }
            used += size;
            batches.last_mut().expect("never empty").push(record);
        }
        let last = batches.len() - 1;
        for (i, answers) in batches.into_iter().enumerate() {
            let message = Message {
                truncated: i < last,
                questions: if i == 0 {
                    questions.clone()
                } else {
                    Vec::new()
                },
                answers,
                ..Message::default()
            };
            if let Ok(payload) = message.encode() {
                self.stats.sent += 1;
                self.transmits.push_back(Transmit {
                    destination: Destination::Multicast,
                    interface: None,
                    payload,
                });
            }
        }
    }

    /// The next datagram to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next service event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServiceEvent> {
        self.events.pop_front()
    }

    /// When to call [`Browser::handle_timeout`] next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let cache = self.deadlines.first().map(|(at, _)| *at);
        cache
            .into_iter()
            .chain(self.next_resolve)
            .chain(self.next_avatar_fetch)
            .chain([self.next_browse])
            .min()
    }

    /// The services resolved now.
    pub fn services(&self) -> impl Iterator<Item = &ServiceInstance> {
        self.emitted.values()
    }

    /// Records held in the cache.
    pub fn cached_records(&self) -> usize {
        self.cache.len()
    }

    /// Counters of received and dropped datagrams and records.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn is_own(&self, instance: &DnsName) -> bool {
        self.own_name.as_ref() == Some(instance)
    }

    fn insert(&mut self, now: Instant, interface: u32, record: &Record) {
        if !self.relevant(record) {
            return;
        }
        let key = CacheKey::of(record);
        let rtype = record.data.rtype();
        if record.cache_flush && record.ttl > 0 {
            // RFC 6762 §10.2: other records of this name and type older than a second go.
            let stale: Vec<CacheKey> = self
                .cache
                .range(CacheKey::range(&record.name, rtype..=rtype))
                .filter(|(k, e)| {
                    **k != key
                        && now.duration_since(e.received) > LINGER
                        && e.expires > now + LINGER
                })
                .map(|(k, _)| k.clone())
                .collect();
            for stale_key in stale {
                self.linger(now, stale_key);
            }
        }
        if record.ttl == 0 {
            self.linger(now, key);
            return;
        }
        let expires = now + Duration::from_secs(u64::from(record.ttl));
        let jitter_permille = (self.rng.next_u64() % 21) as u16;
        if let Some(old) = self.cache.get_mut(&key) {
            // The common case on a busy link: a record heard again. Refresh it in place.
            let old_deadline = old.deadline();
            let changed = old.record.data != record.data;
            old.record.ttl = record.ttl;
            old.record.cache_flush = record.cache_flush;
            if changed {
                old.record.data = record.data.clone();
            }
            old.interface = interface;
            old.received = now;
            old.expires = expires;
            old.refreshes = 0;
            old.jitter_permille = jitter_permille;
            let new_deadline = old.deadline();
            if new_deadline != old_deadline {
                let mut indexed = (old_deadline, key);
                self.deadlines.remove(&indexed);
                indexed.0 = new_deadline;
                self.deadlines.insert(indexed);
            }
            if changed {
                self.mark_dirty(&record.name, record);
            }
            return;
        }
        // Only PTRs are relevant at the service type's name, so its count is theirs.
        let limit = if rtype == rtype::PTR {
            self.config.max_services
        } else {
            self.config.max_records_per_name
        };
        let name = name_key(&record.name);
        let full = self.per_name.get(&name).copied().unwrap_or(0) >= limit;
        if full || self.cache.len() >= self.config.max_records {
            self.stats.dropped_records += 1;
            return;
        }
        *self.per_name.entry(name).or_insert(0) += 1;
        let entry = CacheEntry {
            record: record.clone(),
            interface,
            received: now,
            expires,
            refreshes: 0,
            jitter_permille,
        };
        if let RecordData::Srv { target, .. } = &record.data {
            self.hosts
                .entry(target.canonical())
                .or_default()
                .insert(record.name.canonical());
        }
        self.put(key, entry);
        self.mark_dirty(&record.name, record);
    }

    /// Stores an entry and keeps the deadline index in step.
    fn put(&mut self, key: CacheKey, entry: CacheEntry) {
        if let Some(old) = self.cache.get(&key) {
            self.deadlines.remove(&(old.deadline(), key.clone()));
        }
        self.deadlines.insert((entry.deadline(), key.clone()));
        self.cache.insert(key, entry);
    }

    /// Lets a record go in one second (a goodbye, or flushed by a newer set).
    fn linger(&mut self, now: Instant, key: CacheKey) {
        self.expire_within(now, key, LINGER);
    }

    /// Lets a record go within `within` unless it is heard again, asking nothing for it
    /// meanwhile (no refresh queries).
    fn expire_within(&mut self, now: Instant, key: CacheKey, within: Duration) {
        let Some(mut entry) = self.cache.get(&key).cloned() else {
            return;
        };
        entry.expires = entry.expires.min(now + within);
        entry.refreshes = 4;
        self.put(key, entry);
    }

    fn remove(&mut self, key: &CacheKey) -> Option<CacheEntry> {
        let entry = self.cache.remove(key)?;
        self.deadlines.remove(&(entry.deadline(), key.clone()));
        let name = name_key(&entry.record.name);
        if let Some(count) = self.per_name.get_mut(&name) {
            *count -= 1;
            if *count == 0 {
                self.per_name.remove(&name);
            }
        }
        if let RecordData::Srv { target, .. } = &entry.record.data {
            let target = target.canonical();
            if let Some(instances) = self.hosts.get_mut(&target) {
                let still_pointed = self.cache.range(CacheKey::range(&entry.record.name, rtype::SRV..=rtype::SRV)).any(|(_, e)| matches!(&e.record.data, RecordData::Srv { target: t, .. } if t.canonical() == target));
                if !still_pointed {
                    instances.remove(&entry.record.name.canonical());
                }
                if instances.is_empty() {
                    self.hosts.remove(&target);
                }
            }
        }
        Some(entry)
    }

    /// Whether a record belongs to browsing `_presence._tcp`: PTRs of the service type,
    /// SRV/TXT/NULL of an instance, A/AAAA of a `.local` host. Our own instance is not.
    fn relevant(&self, record: &Record) -> bool {
        match &record.data {
            RecordData::Ptr(target) => {
                record.name.is_service_type() && target.is_instance() && !self.is_own(target)
            }
            RecordData::Srv { .. } | RecordData::Txt(_) => {
                record.name.is_instance() && !self.is_own(&record.name)
            }
            RecordData::Null(avatar) => {
                avatar.len() <= MAX_AVATAR_BYTES
                    && record.name.is_instance()
                    && !self.is_own(&record.name)
            }
            RecordData::A(_) | RecordData::Aaaa(_) => record.name.is_host(),
            _ => false,
        }
    }

    /// Whether a refresh of (name, type) is still useful.
    fn wanted(&self, name: &DnsName, qtype: u16) -> bool {
        match qtype {
            rtype::PTR => name.is_service_type(),
            rtype::SRV | rtype::TXT => self.has_pointer_to(name),
            // A held avatar is kept fresh like the SRV and TXT beside it.
            rtype::NULL => self.has_pointer_to(name),
            rtype::A | rtype::AAAA => self.hosts.contains_key(&name.canonical()),
            _ => false,
        }
    }

    fn has_pointer_to(&self, instance: &DnsName) -> bool {
        let pointer = Record {
            name: DnsName::service_type(),
            ttl: 0,
            cache_flush: false,
            data: RecordData::Ptr(instance.clone()),
        };
        self.cache.contains_key(&CacheKey::of(&pointer))
    }

    fn mark_dirty(&mut self, name: &DnsName, record: &Record) {
        match &record.data {
            RecordData::Ptr(target) => {
                self.dirty.insert(target.canonical().labels().to_vec());
            }
            RecordData::A(_) | RecordData::Aaaa(_) => {
                let instances: Vec<Vec<Vec<u8>>> = self
                    .hosts
                    .get(&name.canonical())
                    .into_iter()
                    .flatten()
                    .map(|instance| instance.labels().to_vec())
                    .collect();
                self.dirty.extend(instances);
            }
            _ => {
                self.dirty.insert(name.canonical().labels().to_vec());
            }
        }
    }

    fn expire(&mut self, now: Instant) {
        let gone: Vec<CacheKey> = self
            .deadlines
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter(|(_, key)| self.cache.get(key).is_some_and(|e| e.expires <= now))
            .map(|(_, key)| key.clone())
            .collect();
        for key in gone {
            if let Some(entry) = self.remove(&key) {
                self.mark_dirty(&entry.record.name, &entry.record);
            }
        }
    }

    /// What the cache says of an instance now.
    fn view(&self, instance: &DnsName) -> Option<ServiceInstance> {
        if !self.has_pointer_to(instance) {
            return None;
        }
        let newest = |rtype: u16| {
            self.cache
                .range(CacheKey::range(instance, rtype..=rtype))
                .map(|(_, e)| e)
                .max_by_key(|e| e.received)
        };
        let RecordData::Srv { port, target, .. } = &newest(rtype::SRV)?.record.data else {
            return None;
        };
        let RecordData::Txt(txt) = &newest(rtype::TXT)?.record.data else {
            return None;
        };
        let mut addresses: Vec<InterfaceAddr> = self
            .cache
            .range(CacheKey::range(target, rtype::A..=rtype::AAAA))
            .map(|(_, e)| e)
            .filter_map(|e| match e.record.data {
                RecordData::A(v4) => Some(InterfaceAddr {
                    interface: e.interface,
                    ip: IpAddr::V4(v4),
                }),
                RecordData::Aaaa(v6) => Some(InterfaceAddr {
                    interface: e.interface,
                    ip: IpAddr::V6(v6),
                }),
                _ => None,
            })
            .collect();
        addresses.sort_by_key(|a| (a.ip.is_ipv6(), a.ip, a.interface));
        addresses.dedup();
        let avatar = announced_avatar_hash(txt).and_then(|phsh| {
            self.cache
                .range(CacheKey::range(instance, rtype::NULL..=rtype::NULL))
                .map(|(_, e)| e)
                .filter_map(|e| match &e.record.data {
                    RecordData::Null(bytes) if avatar_phsh(bytes).eq_ignore_ascii_case(phsh) => {
                        Some((e.received, bytes))
                    }
                    _ => None,
                })
                .max_by_key(|(received, _)| *received)
                .map(|(_, bytes)| bytes.clone())
        });
        Some(ServiceInstance {
            instance: instance.instance_label()?,
            host: target.host_label().unwrap_or_else(|| target.to_string()),
            port: *port,
            addresses,
            txt: txt.clone(),
            avatar,
        })
    }

    /// Turns changes of dirty instances into events, and schedules queries for whatever
    /// of a pointed-to instance is missing.
    fn update_services(&mut self, now: Instant) {
        let dirty = std::mem::take(&mut self.dirty);
        if dirty.is_empty() {
            return;
        }
        for labels in dirty {
            let name = DnsName::from_labels(&labels);
            let view = self.view(&name).filter(|v| !v.addresses.is_empty());
            let before = self.emitted.get(&name);
            let event = match (before, &view) {
                (None, Some(now_seen)) => Some(ServiceEvent::Resolved(now_seen.clone())),
                (Some(old), Some(now_seen)) if old != now_seen => {
                    Some(ServiceEvent::Updated(now_seen.clone()))
                }
                (Some(old), None) => Some(ServiceEvent::Removed {
                    instance: old.instance.clone(),
                }),
                _ => None,
            };
            self.want_avatar(now, &name, view.as_ref());
            match view {
                Some(view) => {
                    self.emitted.insert(name.clone(), view);
                    self.resolving.remove(&name);
                }
                None => {
                    self.emitted.remove(&name);
                    if self.has_pointer_to(&name) {
                        // Something of it changed and it is still incomplete: what it
                        // lacks now is asked for at once, as when it first appeared,
                        // unless a question is due sooner anyway. Typically an SRV came
                        // without its host's address: a responder leaves out additional
                        // records it multicast within the last second (Avahi does), and
                        // the address question, new, must not wait for the backed-off
                        // schedule of the SRV and TXT questions, nor be forgotten.
                        let soon = self.resolve_batch_time(now);
                        let due_sooner =
                            self.resolving.get(&name).is_some_and(|(at, _)| *at <= soon);
                        if !due_sooner {
                            self.resolving
                                .insert(name.clone(), (soon, RESOLVE_FIRST_INTERVAL));
                        }
                    } else {
                        self.resolving.remove(&name);
                    }
                }
            }
            if let Some(event) = event {
                self.events.push_back(event);
            }
        }
        self.settle_next_resolve();
        self.settle_next_avatar_fetch();
    }

    /// When a resolution asked for now goes out: with the batch already waiting, or after
    /// the random 20–120 ms of RFC 6762 §5.2 (every browser on the link heard the same
    /// answer; the delay keeps them from asking in lockstep). One delay per batch, not
    /// per name, so a hundred names are asked for in one burst, which a Mac answers in
    /// one burst too.
    fn resolve_batch_time(&mut self, now: Instant) -> Instant {
        match self.resolve_batch {
            Some(at) if at > now => at,
            _ => {
                let at = now + self.rng.between(FIRST_QUERY_DELAY.0, FIRST_QUERY_DELAY.1);
                self.resolve_batch = Some(at);
                at
            }
        }
    }

    fn settle_next_resolve(&mut self) {
        self.next_resolve = self.resolving.values().map(|(at, _)| *at).min();
    }

    fn settle_next_avatar_fetch(&mut self) {
        self.next_avatar_fetch = self
            .avatar_fetches
            .values()
            .filter(|fetch| fetch.left > 0)
            .map(|fetch| fetch.next)
            .min();
    }

    /// Starts fetching the avatar of a resolved instance whose TXT names one (`phsh`) that
    /// the cache does not hold, once for each hash; forgets the fetch otherwise.
    fn want_avatar(&mut self, now: Instant, instance: &DnsName, view: Option<&ServiceInstance>) {
        let wanted = view
            .filter(|v| v.avatar.is_none())
            .and_then(|v| announced_avatar_hash(&v.txt));
        let Some(phsh) = wanted else {
            self.avatar_fetches.remove(instance);
            return;
        };
        if self
            .avatar_fetches
            .get(instance)
            .is_some_and(|fetch| fetch.phsh == phsh)
        {
            return;
        }
        let fetch = AvatarFetch {
            phsh: phsh.to_owned(),
            next: now + self.rng.between(FIRST_QUERY_DELAY.0, FIRST_QUERY_DELAY.1),
            interval: Duration::from_secs(1),
            left: AVATAR_QUERIES,
        };
        self.avatar_fetches.insert(instance.clone(), fetch);
    }

    /// Questions for what an instance lacks: SRV, TXT, or its host's addresses.
    fn missing_questions(&self, instance: &DnsName) -> Vec<Question> {
        let question = |name: &DnsName, qtype| Question {
            name: name.clone(),
            qtype,
            unicast_response: false,
        };
        let has = |name: &DnsName, t: u16| {
            self.cache
                .range(CacheKey::range(name, t..=t))
                .next()
                .is_some()
        };
        let mut questions = Vec::new();
        if !has(instance, rtype::SRV) {
            questions.push(question(instance, rtype::SRV));
        }
        if !has(instance, rtype::TXT) {
            questions.push(question(instance, rtype::TXT));
        }
        for (_, entry) in self
            .cache
            .range(CacheKey::range(instance, rtype::SRV..=rtype::SRV))
        {
            if let RecordData::Srv { target, .. } = &entry.record.data {
                if !has(target, rtype::A) && !has(target, rtype::AAAA) {
                    questions.push(question(target, rtype::A));
                    questions.push(question(target, rtype::AAAA));
                }
            }
        }
        questions
    }
}

/// The avatar hash a TXT record announces (`phsh`), if any.
fn announced_avatar_hash(txt: &TxtRecord) -> Option<&str> {
    txt.get_str("phsh").filter(|phsh| !phsh.is_empty())
}

/// The TXT `phsh` value for an avatar: the lowercase hexadecimal SHA-1 of its bytes.
pub fn avatar_phsh(avatar: &[u8]) -> String {
    sha1_smol::Sha1::from(avatar).digest().to_string()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;

    fn record(labels: &[Vec<u8>], rtype: u16, data: u8) -> Record {
        let data = match rtype {
            rtype::A => RecordData::A(Ipv4Addr::new(10, 0, 0, data)),
            rtype::PTR => RecordData::Ptr(DnsName::from_labels([vec![data], b"local".to_vec()])),
            _ => RecordData::Null(vec![data]),
        };
        Record {
            name: DnsName::from_labels(labels),
            ttl: 120,
            cache_flush: false,
            data,
        }
    }

    #[test]
    fn an_avatars_phsh_is_its_lowercase_hex_sha1() {
        // FIPS 180 test vector.
        assert_eq!(
            avatar_phsh(b"abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    proptest! {
        /// The cache finds a name's records of some types by a key range: that range must
        /// hold exactly those records, whatever bytes (lengths, zeros, case) the labels hold.
        #[test]
        fn a_names_key_range_holds_exactly_its_records_of_those_types(
            names in prop::collection::vec(
                prop::collection::vec(
                    // Bytes that also occur in lengths and type codes, and a letter in both cases.
                    prop::collection::vec(prop::sample::select(vec![0u8, 1, 4, 10, 12, b'a', b'A']), 0..4),
                    0..4,
                ),
                1..6,
            ),
            picks in prop::collection::vec((0usize..6, prop::sample::select(vec![rtype::A, rtype::NULL, rtype::PTR]), 0u8..3), 1..30),
            asked in 0usize..6,
            types in prop::sample::select(vec![(rtype::A, rtype::A), (rtype::NULL, rtype::PTR), (rtype::A, rtype::AAAA)]),
        ) {
            let records: Vec<Record> = picks
                .iter()
                .map(|&(n, t, d)| record(&names[n % names.len()], t, d))
                .collect();
            let cache: BTreeMap<CacheKey, &Record> =
                records.iter().map(|r| (CacheKey::of(r), r)).collect();
            let name = DnsName::from_labels(&names[asked % names.len()]);
            let in_range: BTreeSet<&CacheKey> = cache
                .range(CacheKey::range(&name, types.0..=types.1))
                .map(|(k, _)| k)
                .collect();
            let expected: BTreeSet<&CacheKey> = cache
                .iter()
                .filter(|(_, r)| r.name == name && (types.0..=types.1).contains(&r.data.rtype()))
                .map(|(k, _)| k)
                .collect();
            prop_assert_eq!(in_range, expected);
        }
    }
}
