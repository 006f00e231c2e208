//! Presence in a wide-area zone (`--domain`): the zone browser and, with a key, the
//! registrar, driven by the event loop; the glue between `llxmpp_dnssd::unicast` and
//! [`llxmpp_event_loop`], as `presence` is for the link.
//!
//! Queries go to the DNS server given (`--dns-server`, else the first `nameserver` of
//! `/etc/resolv.conf`). Updates go to the zone's update server, found first
//! ([`UpdateServerFinder`]). A TCP exchange the browser asks for (an answer too large for
//! a datagram) is one connection of the loop.
//!
//! Stale services: BIND ignores the update-lease option, so a client killed without its
//! goodbye would stay in the zone for good. Every registered node is also a cleaner:
//! every [`WideAreaConfig::check_interval`] it connects to a few of the zone's services
//! (the next ones in the zone's order, from a place of its own), and one that refused or
//! did not answer twice in a row is removed from the zone, provided its SRV is still the
//! one seen ([`llxmpp_dnssd::unicast::removal`]). The zone's serial then changes, and
//! every browser drops it at its next poll. A live client wrongly removed (a partition)
//! puts itself back at its next refresh.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use llxmpp_dnssd::unicast::{
    Registrar, RegistrarConfig, RegistrarEvent, Registration, TsigKey, UnicastTransmit,
    UpdateServerFinder, ZoneBrowser, ZoneBrowserConfig, ZoneBrowserEvent, POLL_INTERVAL,
    REFRESH_INTERVAL,
};
use llxmpp_dnssd::{DnsName, ServiceEvent, TxtRecord};
use llxmpp_event_loop::{ConnectOptions, ConnectionId, Context};

/// The wide-area zone to take part in.
#[derive(Clone, Debug)]
pub struct WideAreaConfig {
    /// The zone (`--domain`).
    pub zone: DnsName,
    /// Where queries go.
    pub dns_server: SocketAddr,
    /// The key to register with; without it the node only browses.
    pub key: Option<TsigKey>,
    /// How often the zone's serial is asked for.
    pub poll_interval: Duration,
    /// How often, once registered, a few of the zone's services are checked for life.
    pub check_interval: Duration,
}

/// The default [`WideAreaConfig::check_interval`].
pub const CHECK_INTERVAL: Duration = Duration::from_secs(120);
/// Services checked a round.
const CHECKS_PER_ROUND: usize = 5;
/// Failed checks in a row before a service is removed.
const FAILURES_TO_REMOVE: u8 = 2;
/// How long a check's connection may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

impl WideAreaConfig {
    /// Browsing (and registering, with `key`) in `zone` through `dns_server`.
    pub fn new(zone: DnsName, dns_server: SocketAddr, key: Option<TsigKey>) -> WideAreaConfig {
        WideAreaConfig {
            zone,
            dns_server,
            key,
            poll_interval: POLL_INTERVAL,
            check_interval: CHECK_INTERVAL,
        }
    }
}

/// What happened in the zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WideAreaEvent {
    /// A peer's service in the zone.
    Service(ServiceEvent),
    /// Our service is in the zone under this name.
    Registered(String),
    /// Our service left the zone.
    Deregistered,
    /// Something failed: why, for the user. The node goes on, on the link.
    Error(String),
}

/// The first nameserver of `/etc/resolv.conf`'s text, at port 53.
pub fn system_resolver(resolv_conf: &str) -> Option<SocketAddr> {
    resolv_conf.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            return None;
        }
        let ip: IpAddr = words.next()?.parse().ok()?;
        Some(SocketAddr::new(ip, 53))
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A TCP exchange of the browser's: connection, question, what came back.
struct TcpExchange {
    conn: ConnectionId,
    to: SocketAddr,
    question: Vec<u8>,
    answer: Vec<u8>,
}

/// Presence in one zone; see the module's documentation.
pub struct WideArea {
    config: WideAreaConfig,
    browser: ZoneBrowser,
    finder: Option<UpdateServerFinder>,
    registrar: Option<Registrar>,
    /// What to register once the update server is known.
    registration: Option<Registration>,
    tcp: Option<TcpExchange>,
    tcp_waiting: VecDeque<UnicastTransmit>,
    events: VecDeque<WideAreaEvent>,
    seed: u64,
    stopped: bool,
    /// The next round of life checks, once registered.
    next_check: Option<Instant>,
    /// Where the next round starts in the zone's order.
    check_cursor: usize,
    /// Checks under way: the service's instance, port and SRV target.
    checks: HashMap<ConnectionId, (String, u16, DnsName)>,
    /// Failed checks in a row, by instance.
    failures: HashMap<String, u8>,
}

impl WideArea {
    /// Starts browsing; registering waits for [`WideArea::register`].
    pub fn new(config: WideAreaConfig, now: Instant, seed: u64) -> WideArea {
        let browser = ZoneBrowser::new(
            ZoneBrowserConfig {
                zone: config.zone.clone(),
                server: config.dns_server,
                poll_interval: config.poll_interval,
            },
            now,
            seed,
        );
        WideArea {
            config,
            browser,
            finder: None,
            registrar: None,
            registration: None,
            tcp: None,
            tcp_waiting: VecDeque::new(),
            events: VecDeque::new(),
            seed,
            stopped: false,
            next_check: None,
            check_cursor: seed as usize,
            checks: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    /// Registers our service, or brings its registration up to date (TXT, addresses).
    /// Without a key, nothing: the node only browses.
    pub fn register(&mut self, ctx: &mut Context<'_>, registration: Registration) {
        if self.config.key.is_none() || self.stopped || registration.addresses.is_empty() {
            return;
        }
        let now = ctx.now();
        match &mut self.registrar {
            Some(registrar) => {
                registrar.set_txt(now, registration.txt.clone());
                registrar.set_addresses(now, registration.addresses.clone());
            }
            None => {
                self.registration = Some(registration);
                if self.finder.is_none() {
                    self.finder = Some(UpdateServerFinder::new(
                        self.config.zone.clone(),
                        self.config.dns_server,
                        now,
                        self.seed.rotate_left(7),
                    ));
                }
                self.found(now);
            }
        }
        self.flush(ctx);
    }

    /// Our TXT changed (a status change).
    pub fn set_txt(&mut self, ctx: &mut Context<'_>, txt: TxtRecord) {
        match (&mut self.registrar, &mut self.registration) {
            (Some(registrar), _) => registrar.set_txt(ctx.now(), txt),
            (None, Some(registration)) => registration.txt = txt,
            (None, None) => {}
        }
        self.flush(ctx);
    }

    /// Leaving: our records are removed (the update goes out at once).
    pub fn shutdown(&mut self, ctx: &mut Context<'_>) {
        self.stopped = true;
        self.registration = None;
        if let Some(registrar) = &mut self.registrar {
            registrar.shutdown(ctx.now());
        }
        self.flush(ctx);
    }

    /// After [`WideArea::shutdown`]: whether the removal of our records still waits for
    /// the server's answer (it is retransmitted meanwhile).
    pub fn removal_pending(&self) -> bool {
        self.registrar.as_ref().is_some_and(|r| !r.is_done())
    }

    /// The instance our service holds (or tries) in the zone.
    pub fn our_instance(&self) -> Option<&str> {
        self.registrar.as_ref().map(Registrar::instance)
    }

    /// Once the finder knows the update server: the registrar starts, or the error is
    /// told.
    fn found(&mut self, now: Instant) {
        let Some(result) = self.finder.as_ref().and_then(|f| f.result().cloned()) else {
            return;
        };
        let (Some(registration), Some(key)) = (self.registration.take(), self.config.key.clone())
        else {
            return;
        };
        match result {
            Ok(server) => {
                tracing::info!(%server, zone = %self.config.zone, "the zone's update server");
                self.registrar = Some(Registrar::new(
                    RegistrarConfig {
                        registration,
                        key,
                        server,
                        refresh_interval: REFRESH_INTERVAL,
                    },
                    now,
                    unix_now(),
                    self.seed.rotate_left(29),
                ));
            }
            Err(why) => {
                self.events.push_back(WideAreaEvent::Error(format!(
                    "not registered in {}: {why}",
                    self.config.zone
                )));
                // Tried again with the next registration (an address or status change).
                self.finder = None;
            }
        }
    }

    /// A datagram on the loop's unicast socket.
    pub fn handle_datagram(&mut self, ctx: &mut Context<'_>, from: SocketAddr, bytes: &[u8]) {
        let now = ctx.now();
        if let Some(finder) = &mut self.finder {
            finder.handle_answer(now, from, bytes);
        }
        self.found(now);
        if let Some(registrar) = &mut self.registrar {
            registrar.handle_datagram(now, from, bytes);
        }
        self.browser.handle_answer(now, from, bytes);
        self.flush(ctx);
    }

    /// Timers.
    pub fn handle_timeout(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        if let Some(finder) = &mut self.finder {
            finder.handle_timeout(now);
        }
        self.found(now);
        if let Some(registrar) = &mut self.registrar {
            registrar.handle_timeout(now);
        }
        self.browser.handle_timeout(now);
        let registered = self
            .registrar
            .as_ref()
            .is_some_and(Registrar::is_registered);
        if !registered || self.stopped {
            self.next_check = None;
        } else if self.next_check.is_none() {
            self.next_check = Some(now + self.config.check_interval);
        } else if self.next_check.is_some_and(|t| now >= t) {
            self.next_check = Some(now + self.config.check_interval);
            self.check_round(ctx);
        }
        self.flush(ctx);
    }

    /// When [`WideArea::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let finder = self
            .finder
            .as_ref()
            .and_then(UpdateServerFinder::poll_timeout);
        let registrar = self.registrar.as_ref().and_then(Registrar::poll_timeout);
        [
            finder,
            registrar,
            self.browser.poll_timeout(),
            self.next_check,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether `conn` is one of our TCP exchanges or life checks.
    pub fn owns(&self, conn: ConnectionId) -> bool {
        self.tcp.as_ref().is_some_and(|t| t.conn == conn) || self.checks.contains_key(&conn)
    }

    /// A round of life checks: the next services in the zone's order, ours aside.
    fn check_round(&mut self, ctx: &mut Context<'_>) {
        let ours = self.our_instance().map(str::to_owned);
        let services: Vec<_> = self
            .browser
            .services()
            .filter(|s| Some(&s.instance) != ours.as_ref())
            .cloned()
            .collect();
        if services.is_empty() {
            return;
        }
        let take = CHECKS_PER_ROUND.min(services.len());
        for k in 0..take {
            let service = &services[(self.check_cursor + k) % services.len()];
            let Some(address) = service.addresses.first() else {
                continue;
            };
            let target = llxmpp_dnssd::unicast::zone(&service.host);
            let target = DnsName::from_labels(
                target
                    .labels()
                    .iter()
                    .chain(self.config.zone.labels())
                    .cloned(),
            );
            let options = ConnectOptions {
                bind: None,
                timeout: CHECK_TIMEOUT,
            };
            let entry = (service.instance.clone(), service.port, target);
            match ctx.connect(SocketAddr::new(address.ip, service.port), options) {
                Ok(conn) => {
                    self.checks.insert(conn, entry);
                }
                Err(e) => tracing::debug!(?e, "a life check could not start"),
            }
        }
        self.check_cursor = self.check_cursor.wrapping_add(take);
    }

    /// A life check ended: connected (alive) or not.
    fn checked(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, alive: bool) {
        let Some((instance, port, target)) = self.checks.remove(&conn) else {
            return;
        };
        if alive {
            self.failures.remove(&instance);
            ctx.close(conn);
            return;
        }
        let failures = self.failures.entry(instance.clone()).or_insert(0);
        *failures += 1;
        tracing::info!(%instance, failures = *failures, "a zone service did not answer");
        if *failures >= FAILURES_TO_REMOVE {
            self.failures.remove(&instance);
            let removal =
                llxmpp_dnssd::unicast::removal(&self.config.zone, &instance, port, &target);
            if let Some(registrar) = &mut self.registrar {
                registrar.remove_other(ctx.now(), &instance, removal);
            }
            self.flush(ctx);
        }
    }

    /// Our TCP exchange is connected: the question goes, length first.
    pub fn on_connected(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        if self.checks.contains_key(&conn) {
            return self.checked(ctx, conn, true);
        }
        let Some(tcp) = self.tcp.as_ref().filter(|t| t.conn == conn) else {
            return;
        };
        let mut framed = (tcp.question.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&tcp.question);
        if let Err(e) = ctx.write(conn, &framed) {
            tracing::info!(%e, "cannot ask over TCP");
            ctx.abort(conn);
        }
    }

    /// Bytes of our TCP exchange: once the whole answer is in, it goes to the browser.
    pub fn on_data(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, data: &[u8]) {
        let Some(tcp) = self.tcp.as_mut().filter(|t| t.conn == conn) else {
            return;
        };
        tcp.answer.extend_from_slice(data);
        let Some(&[high, low]) = tcp.answer.get(..2) else {
            return;
        };
        let len = usize::from(u16::from_be_bytes([high, low]));
        if tcp.answer.len() < 2 + len {
            return;
        }
        let answer = tcp.answer[2..2 + len].to_vec();
        let to = tcp.to;
        self.tcp = None;
        ctx.close(conn);
        self.browser.handle_answer(ctx.now(), to, &answer);
        self.flush(ctx);
    }

    /// Our TCP exchange ended: without a whole answer, the browser is told. A life check
    /// that ends before it connected is a failure.
    pub fn on_closed(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, why: &str) {
        if self.checks.contains_key(&conn) {
            return self.checked(ctx, conn, false);
        }
        if self.tcp.as_ref().is_some_and(|t| t.conn == conn) {
            self.tcp = None;
            self.browser.handle_tcp_failure(ctx.now(), why);
            self.tcp_waiting.clear();
            self.flush(ctx);
        }
    }

    /// Sends what the machines want sent.
    fn flush(&mut self, ctx: &mut Context<'_>) {
        let mut datagrams = Vec::new();
        if let Some(finder) = &mut self.finder {
            datagrams.extend(std::iter::from_fn(|| finder.poll_transmit()));
        }
        if let Some(registrar) = &mut self.registrar {
            datagrams.extend(std::iter::from_fn(|| registrar.poll_transmit()));
            while let Some(event) = registrar.poll_event() {
                self.events.push_back(match event {
                    RegistrarEvent::Registered { instance } => WideAreaEvent::Registered(instance),
                    RegistrarEvent::Renamed { from, to } => {
                        tracing::warn!(%from, %to, "our name in the zone is taken: renamed");
                        continue;
                    }
                    RegistrarEvent::Failed { reason } => WideAreaEvent::Error(reason),
                    RegistrarEvent::Deregistered => WideAreaEvent::Deregistered,
                    RegistrarEvent::Removed { instance } => {
                        tracing::info!(%instance, "removed from the zone: it no longer answers");
                        continue;
                    }
                });
            }
        }
        while let Some(transmit) = self.browser.poll_transmit() {
            if transmit.tcp {
                self.tcp_waiting.push_back(transmit);
            } else {
                datagrams.push((transmit.to, transmit.bytes));
            }
        }
        for (to, bytes) in datagrams {
            if let Err(e) = ctx.send_unicast(to, &bytes) {
                tracing::info!(%to, %e, "a DNS datagram could not be sent");
            }
        }
        if self.tcp.is_none() {
            if let Some(transmit) = self.tcp_waiting.pop_front() {
                match ctx.connect(transmit.to, ConnectOptions::default()) {
                    Ok(conn) => {
                        self.tcp = Some(TcpExchange {
                            conn,
                            to: transmit.to,
                            question: transmit.bytes,
                            answer: Vec::new(),
                        })
                    }
                    Err(e) => self
                        .browser
                        .handle_tcp_failure(ctx.now(), &format!("cannot connect: {e:?}")),
                }
            }
        }
        while let Some(event) = self.browser.poll_event() {
            self.events.push_back(match event {
                ZoneBrowserEvent::Service(event) => WideAreaEvent::Service(event),
                ZoneBrowserEvent::Unreachable { reason } => WideAreaEvent::Error(reason),
            });
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<WideAreaEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_resolver_is_the_first_nameserver() {
        let text = "# generated\nsearch example.test\nnameserver 10.0.0.53\nnameserver 10.0.0.54\n";
        assert_eq!(system_resolver(text), Some("10.0.0.53:53".parse().unwrap()));
        assert_eq!(
            system_resolver("nameserver fd00::53"),
            Some("[fd00::53]:53".parse().unwrap())
        );
        assert_eq!(system_resolver("search x\n"), None);
    }
}
