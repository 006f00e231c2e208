//! The registrar: one `_presence._tcp` service kept registered in a zone, sans-IO.
//!
//! It sends signed updates to the zone's update server one at a time, retransmits one
//! that gets no answer (after 1, 2 and 4 s), renames on a conflict as the link does
//! (`name (2)`, Apple's form), refreshes the registration every
//! [`RegistrarConfig::refresh_interval`] (which also puts back records a cleaner removed),
//! replaces the TXT in place on a status change, and removes everything on
//! [`Registrar::shutdown`]. Every failure is one [`RegistrarEvent::Failed`] that says
//! what and why; the registrar then tries again at the next refresh.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::tsig::{sign, verify_reply, TsigError, TsigKey};
use super::update::{Rcode, Reply, Update};
use super::Registration;
use crate::responder::numbered;
use crate::rng::Rng;
use crate::txt::TxtRecord;

/// The default [`RegistrarConfig::refresh_interval`].
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(240);
/// How long each try of an update waits for its answer: three tries, 7 s in all.
const RETRANSMITS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// Renames tried before giving up (as many as `name (2)` … `name (16)`).
const MAX_RENAMES: u32 = 15;
/// SERVFAIL answers in a row taken as "busy" and tried again soon, before the failure is
/// reported: BIND answers SERVFAIL once more than `update-quota` (100) updates wait.
const BUSY_RETRIES: u32 = 6;

/// What a registrar keeps registered, where, and with which key.
#[derive(Clone, Debug)]
pub struct RegistrarConfig {
    /// The service and its zone.
    pub registration: Registration,
    /// The key the zone's server takes updates signed with.
    pub key: TsigKey,
    /// The server that takes updates for the zone.
    pub server: SocketAddr,
    /// How often the registration is sent again.
    pub refresh_interval: Duration,
}

/// What happened to the registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// The service is in the zone under this instance name.
    Registered {
        /// The instance name.
        instance: String,
    },
    /// The name was taken by another client: the service tries this one.
    Renamed {
        /// The name taken.
        from: String,
        /// The next name.
        to: String,
    },
    /// An update failed; nothing of it was written. The registrar tries again at the
    /// next refresh.
    Failed {
        /// What failed and why, for the user.
        reason: String,
    },
    /// The service is gone from the zone (after [`Registrar::shutdown`]).
    Deregistered,
    /// Another client's records, found dead, are removed.
    Removed {
        /// Its instance.
        instance: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Operation {
    Register,
    /// After `NameExists`: is the name's service ours (an earlier copy)?
    Claim,
    Refresh,
    UpdateTxt,
    Deregister,
    /// Another client's records, found dead ([`Registrar::remove_other`]).
    RemoveOther(String, Box<Update>),
}

impl Operation {
    /// What it does, for a message; `ours` is our instance.
    fn describe(&self, ours: &str) -> String {
        match self {
            Operation::Register | Operation::Claim => format!("registering {ours}"),
            Operation::Refresh => format!("refreshing the registration of {ours}"),
            Operation::UpdateTxt => format!("updating the TXT of {ours}"),
            Operation::Deregister => format!("removing the registration of {ours}"),
            Operation::RemoveOther(instance, _) => {
                format!("removing {instance} (it no longer answers)")
            }
        }
    }
}

/// An update on its way.
struct InFlight {
    operation: Operation,
    id: u16,
    bytes: Vec<u8>,
    mac: Vec<u8>,
    tries: usize,
    deadline: Instant,
}

/// Keeps one service registered in a zone; see the module's documentation.
pub struct Registrar {
    config: RegistrarConfig,
    base_instance: String,
    renames: u32,
    registered: bool,
    stopped: bool,
    /// The wall clock at `started`, in seconds since the Unix epoch (TSIG needs it).
    unix_at_start: u64,
    started: Instant,
    wanted: VecDeque<Operation>,
    in_flight: Option<InFlight>,
    next_refresh: Option<Instant>,
    /// After a busy answer: nothing is sent before this.
    hold_until: Option<Instant>,
    busy: u32,
    /// A failure was reported since the last success: a silent server is said once.
    reported: bool,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<RegistrarEvent>,
    rng: Rng,
}

impl Registrar {
    /// A registrar that registers at once. `unix_now` is the wall clock at `now`, in
    /// seconds since the Unix epoch; `seed` spreads the update IDs.
    pub fn new(config: RegistrarConfig, now: Instant, unix_now: u64, seed: u64) -> Registrar {
        let mut registrar = Registrar {
            base_instance: config.registration.instance.clone(),
            config,
            renames: 0,
            registered: false,
            stopped: false,
            unix_at_start: unix_now,
            started: now,
            wanted: VecDeque::from([Operation::Register]),
            in_flight: None,
            next_refresh: None,
            hold_until: None,
            busy: 0,
            reported: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            rng: Rng::new(seed),
        };
        registrar.send_next(now);
        registrar
    }

    /// The instance name registered or tried now.
    pub fn instance(&self) -> &str {
        &self.config.registration.instance
    }

    /// Whether the service is in the zone.
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// A new TXT (a status change): replaced in place in the zone.
    pub fn set_txt(&mut self, now: Instant, txt: TxtRecord) {
        if self.config.registration.txt == txt || self.stopped {
            return;
        }
        self.config.registration.txt = txt;
        if self.registered {
            self.want(now, Operation::UpdateTxt);
        }
    }

    /// New addresses for the host (a new lease): the registration is sent again.
    pub fn set_addresses(&mut self, now: Instant, addresses: Vec<IpAddr>) {
        if self.config.registration.addresses == addresses || self.stopped {
            return;
        }
        self.config.registration.addresses = addresses;
        if self.registered {
            self.want(now, Operation::Refresh);
        }
    }

    /// Removes the service from the zone; [`RegistrarEvent::Deregistered`] (or `Failed`)
    /// says when it is done, and nothing is sent after.
    pub fn shutdown(&mut self, now: Instant) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.next_refresh = None;
        self.wanted.clear();
        // What is in flight may have been written: remove it too.
        self.wanted.push_back(Operation::Deregister);
        if self.in_flight.is_none() {
            self.send_next(now);
        }
    }

    /// Sends `update`, which removes the records of `instance`, another client found
    /// dead; [`RegistrarEvent::Removed`] says when the server took it.
    pub fn remove_other(&mut self, now: Instant, instance: &str, update: Update) {
        if self.stopped {
            return;
        }
        self.want(
            now,
            Operation::RemoveOther(instance.to_owned(), Box::new(update)),
        );
    }

    /// Whether nothing is left to send or wait for after [`Registrar::shutdown`].
    pub fn is_done(&self) -> bool {
        self.stopped && self.in_flight.is_none() && self.wanted.is_empty()
    }

    fn want(&mut self, now: Instant, operation: Operation) {
        if !self.wanted.contains(&operation) {
            self.wanted.push_back(operation);
        }
        if self.in_flight.is_none() {
            self.send_next(now);
        }
    }

    fn unix(&self, now: Instant) -> u64 {
        self.unix_at_start + now.saturating_duration_since(self.started).as_secs()
    }

    fn send_next(&mut self, now: Instant) {
        if self.hold_until.is_some_and(|t| now < t) || self.in_flight.is_some() {
            return;
        }
        self.hold_until = None;
        let Some(operation) = self.wanted.pop_front() else {
            return;
        };
        let registration = &self.config.registration;
        let update: Update = match &operation {
            Operation::Register => registration.register(),
            Operation::Claim => registration.claim(),
            Operation::Refresh => registration.refresh(),
            Operation::UpdateTxt => registration.update_txt(),
            Operation::Deregister => registration.deregister(),
            Operation::RemoveOther(_, update) => (**update).clone(),
        };
        let id = self.rng.next_u64() as u16;
        let bytes = match update.to_bytes(id) {
            Ok(bytes) => bytes,
            Err(e) => {
                return self.fail(now, operation, e.to_string());
            }
        };
        let signed = sign(&bytes, &self.config.key, self.unix(now));
        self.transmits
            .push_back((self.config.server, signed.bytes.clone()));
        self.in_flight = Some(InFlight {
            operation,
            id,
            bytes: signed.bytes,
            mac: signed.mac,
            tries: 1,
            deadline: now + RETRANSMITS[0],
        });
    }

    /// `operation` again after a wait that doubles with each busy or silent answer in a
    /// row (from about a second, up to the refresh interval), drawn at random so that
    /// clients refused together do not come back together.
    fn hold(&mut self, now: Instant, operation: Operation) {
        self.busy += 1;
        let ceiling =
            Duration::from_millis(500u64 << self.busy.min(20)).min(self.config.refresh_interval);
        let wait = self.rng.between(ceiling / 2, ceiling);
        self.hold_until = Some(now + wait);
        self.wanted.push_front(operation);
    }

    fn report(&mut self, operation: &Operation, why: &str) {
        self.reported = true;
        self.events.push_back(RegistrarEvent::Failed {
            reason: format!(
                "{} in {} at {}: {why}",
                operation.describe(&self.config.registration.instance),
                self.config.registration.zone,
                self.config.server
            ),
        });
    }

    fn fail(&mut self, now: Instant, operation: Operation, why: String) {
        self.report(&operation, &why);
        if self.stopped {
            self.wanted.clear();
        } else {
            // The next refresh tries again: a register if we never got in.
            self.next_refresh = Some(now + self.config.refresh_interval);
        }
        self.send_next(now);
    }

    /// A datagram from the network; only the server's answer to the update in flight
    /// is taken.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if from != self.config.server {
            return;
        }
        let Some(flight) = &self.in_flight else {
            return;
        };
        if bytes.get(..2) != Some(&flight.id.to_be_bytes()[..]) {
            return;
        }
        let operation = flight.operation.clone();
        let checked = verify_reply(bytes, &self.config.key, &flight.mac, self.unix(now));
        let reply = match checked {
            Ok(stripped) => Reply::decode(&stripped),
            // Refused before our key was read: the answer says why, unsigned.
            Err(TsigError::Unsigned) => match Reply::decode(bytes) {
                Ok(reply) if reply.rcode != Rcode::NoError => Ok(reply),
                // An unsigned "done" is not the server's word: wait for its own.
                _ => return,
            },
            // Someone else's answer, or altered: the server's own may still come.
            Err(TsigError::ForgedReply | TsigError::Malformed(_)) => return,
            Err(e) => {
                self.in_flight = None;
                return self.fail(now, operation, format!("the server refused our key: {e}"));
            }
        };
        let Ok(reply) = reply else {
            return;
        };
        self.in_flight = None;
        if reply.rcode == Rcode::ServerFailure && self.busy < BUSY_RETRIES {
            // Busy (BIND's update quota, a mass restart): again soon, spread out.
            return self.hold(now, operation);
        }
        if reply.rcode != Rcode::ServerFailure {
            self.busy = 0;
            self.reported = false;
        }
        let first_registration =
            !self.registered || matches!(operation, Operation::Register | Operation::Claim);
        match (operation.clone(), reply.rcode) {
            (Operation::RemoveOther(instance, _), Rcode::NoError | Rcode::RrsetMissing) => {
                // RrsetMissing: it came back (another SRV) before we removed it.
                if reply.rcode == Rcode::NoError {
                    self.events.push_back(RegistrarEvent::Removed { instance });
                }
                self.send_next(now);
            }
            (Operation::Register | Operation::Claim | Operation::Refresh, Rcode::NoError) => {
                if first_registration {
                    self.events.push_back(RegistrarEvent::Registered {
                        instance: self.config.registration.instance.clone(),
                    });
                }
                self.registered = true;
                self.next_refresh = Some(now + self.config.refresh_interval);
                self.send_next(now);
            }
            (Operation::UpdateTxt, Rcode::NoError) => self.send_next(now),
            (Operation::Deregister, Rcode::NoError) => {
                self.registered = false;
                self.events.push_back(RegistrarEvent::Deregistered);
            }
            // The name is held: by our own earlier copy, or by another client?
            (Operation::Register, Rcode::NameExists) => {
                self.wanted.push_front(Operation::Claim);
                self.send_next(now);
            }
            (Operation::Claim, Rcode::RrsetMissing) if self.renames < MAX_RENAMES => {
                self.renames += 1;
                let to = numbered(&self.base_instance, &format!(" ({})", self.renames + 1));
                let from = std::mem::replace(&mut self.config.registration.instance, to.clone());
                self.events.push_back(RegistrarEvent::Renamed { from, to });
                self.wanted.push_front(Operation::Register);
                self.send_next(now);
            }
            // Our records vanished (a cleaner took us for gone): put them all back.
            (Operation::UpdateTxt, Rcode::NameError) => {
                self.wanted.push_front(Operation::Refresh);
                self.send_next(now);
            }
            (Operation::Register | Operation::Claim | Operation::Refresh, Rcode::ServerFailure) => {
                let why = "the server answered SERVFAIL again and again (BIND 9.18.28 and \
                           later hold at most 100 services in a zone unless its \
                           max-records-per-type is raised; its log says)";
                self.fail(now, operation, why.to_owned());
            }
            (_, rcode) => self.fail(now, operation, format!("the server answered {rcode}")),
        }
    }

    /// Retransmissions and refreshes.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.hold_until.is_some_and(|t| now >= t) {
            self.send_next(now);
        }
        if let Some(flight) = &mut self.in_flight {
            if now >= flight.deadline {
                if flight.tries < RETRANSMITS.len() {
                    let wait = RETRANSMITS[flight.tries];
                    flight.deadline = now + self.rng.between(wait * 3 / 4, wait * 5 / 4);
                    flight.tries += 1;
                    let bytes = flight.bytes.clone();
                    self.transmits.push_back((self.config.server, bytes));
                } else {
                    let operation = flight.operation.clone();
                    self.in_flight = None;
                    let waited: Duration = RETRANSMITS.iter().sum();
                    let why = format!("no answer in {} s", waited.as_secs());
                    if self.stopped {
                        self.fail(now, operation, why);
                    } else {
                        // Said once; tried again soon, spread out: a server that dropped
                        // a burst (many clients starting at once) answers the next try.
                        if !self.reported {
                            self.report(&operation, &why);
                        }
                        self.hold(now, operation);
                    }
                }
            }
        }
        if self.next_refresh.is_some_and(|t| now >= t) {
            self.next_refresh = None;
            let operation = if self.registered {
                Operation::Refresh
            } else {
                Operation::Register
            };
            self.want(now, operation);
        }
    }

    /// The next datagram to send, and where.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// When [`Registrar::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retransmit = self.in_flight.as_ref().map(|f| f.deadline);
        [retransmit, self.next_refresh, self.hold_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unicast::zone;
    use std::net::Ipv4Addr;

    fn config() -> RegistrarConfig {
        RegistrarConfig {
            registration: Registration {
                zone: zone("example.test"),
                instance: "alice@hosta".into(),
                host: "hosta".into(),
                port: 5298,
                txt: TxtRecord::from_strings([&b"txtvers=1"[..]]),
                addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))],
                ttl: 60,
            },
            key: TsigKey::new("k", vec![1; 32]).unwrap(),
            server: SocketAddr::from((Ipv4Addr::LOCALHOST, 53)),
            refresh_interval: REFRESH_INTERVAL,
        }
    }

    #[test]
    fn an_unanswered_update_is_sent_three_times_then_reported_once_and_tried_again_soon() {
        let start = Instant::now();
        let mut registrar = Registrar::new(config(), start, 1_700_000_000, 1);
        let first = registrar.poll_transmit().unwrap();
        assert!(registrar.poll_transmit().is_none());
        let mut at = start;
        for wait in [1, 2] {
            let due = registrar.poll_timeout().unwrap();
            assert!(
                due - at <= Duration::from_millis(wait * 1250),
                "{:?}",
                due - at
            );
            at = due;
            registrar.handle_timeout(at);
            // The same signed bytes again.
            assert_eq!(registrar.poll_transmit(), Some(first.clone()));
        }
        at = registrar.poll_timeout().unwrap();
        registrar.handle_timeout(at);
        assert!(registrar.poll_transmit().is_none());
        let Some(RegistrarEvent::Failed { reason }) = registrar.poll_event() else {
            panic!("no failure");
        };
        assert!(reason.contains("no answer in 7 s"), "{reason}");
        assert!(
            reason.contains("registering alice@hosta in example.test"),
            "{reason}"
        );
        // Tried again soon, and again, each wait at most the refresh interval; said once.
        let mut tries = 0;
        while tries < 10 {
            let due = registrar.poll_timeout().unwrap();
            assert!(due - at <= REFRESH_INTERVAL, "{:?}", due - at);
            at = due;
            registrar.handle_timeout(at);
            if registrar.poll_transmit().is_some() {
                tries += 1;
            }
            assert!(
                registrar.poll_event().is_none(),
                "a silent server is said once"
            );
        }
    }

    #[test]
    fn a_busy_server_is_asked_again_soon_and_only_a_lasting_failure_is_reported() {
        let start = Instant::now();
        let mut registrar = Registrar::new(config(), start, 1_700_000_000, 1);
        let mut at = start;
        for busy in 1..=BUSY_RETRIES + 1 {
            let (_, sent) = registrar.poll_transmit().expect("an update");
            let mut servfail = sent[..2].to_vec();
            servfail.extend([0xA8, 0x02, 0, 0, 0, 0, 0, 0, 0, 0]);
            registrar.handle_datagram(at, config().server, &servfail);
            if busy > BUSY_RETRIES {
                break;
            }
            assert!(
                registrar.poll_event().is_none(),
                "busy is not a failure yet"
            );
            assert!(registrar.poll_transmit().is_none(), "not at once");
            let again = registrar.poll_timeout().unwrap();
            let waited = again - at;
            assert!(waited <= Duration::from_millis(500 << busy), "{waited:?}");
            at = again;
            registrar.handle_timeout(at);
        }
        let Some(RegistrarEvent::Failed { reason }) = registrar.poll_event() else {
            panic!("no failure after {BUSY_RETRIES} busy answers");
        };
        assert!(
            reason.contains("SERVFAIL") && reason.contains("max-records-per-type"),
            "{reason}"
        );
    }

    #[test]
    fn answers_from_elsewhere_or_to_another_id_are_ignored() {
        let start = Instant::now();
        let mut registrar = Registrar::new(config(), start, 1_700_000_000, 1);
        let (_, sent) = registrar.poll_transmit().unwrap();
        let mut reply = sent.clone();
        reply[2] |= 0x80;
        let stranger = SocketAddr::from((Ipv4Addr::new(10, 9, 9, 9), 53));
        registrar.handle_datagram(start, stranger, &reply);
        reply[0] ^= 1;
        registrar.handle_datagram(start, config().server, &reply);
        // An unsigned "done" from the server's address is not believed either.
        let mut unsigned = sent[..2].to_vec();
        unsigned.extend([0xA8, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
        registrar.handle_datagram(start, config().server, &unsigned);
        // An unsigned refusal is: a server that refuses before reading our key.
        assert!(registrar.poll_event().is_none());
        assert!(!registrar.is_registered());
        assert!(registrar.poll_timeout().is_some(), "still waiting");
        unsigned[3] = 5;
        registrar.handle_datagram(start, config().server, &unsigned);
        let Some(RegistrarEvent::Failed { reason }) = registrar.poll_event() else {
            panic!("no failure");
        };
        assert!(reason.contains("REFUSED"), "{reason}");
    }
}
