//! Finding the server that takes updates for a zone, sans-IO: the SRV
//! `_dns-update._udp.ZONE` (the convention of Apple's and Avahi's wide-area DNS-SD) and
//! its target's address; else the zone's SOA MNAME (RFC 2136 §4), at port 53.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::update::{Rcode, Reply};
use super::{query, update_server_in};
use crate::name::DnsName;
use crate::record::{rtype, RecordData};
use crate::rng::Rng;

/// How long each try of a question waits: three tries.
const RETRANSMITS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Srv,
    Soa,
    Address {
        name: DnsName,
        port: u16,
        qtype: u16,
    },
}

/// Finds a zone's update server; see the module's documentation.
pub struct UpdateServerFinder {
    zone: DnsName,
    server: SocketAddr,
    rng: Rng,
    step: Step,
    id: u16,
    bytes: Vec<u8>,
    tries: usize,
    deadline: Instant,
    outgoing: Option<Vec<u8>>,
    result: Option<Result<SocketAddr, String>>,
}

impl UpdateServerFinder {
    /// Starts asking `server` (the resolver) about `zone`.
    pub fn new(zone: DnsName, server: SocketAddr, now: Instant, seed: u64) -> UpdateServerFinder {
        let mut finder = UpdateServerFinder {
            zone,
            server,
            rng: Rng::new(seed),
            step: Step::Srv,
            id: 0,
            bytes: Vec::new(),
            tries: 0,
            deadline: now,
            outgoing: None,
            result: None,
        };
        finder.ask(now, Step::Srv);
        finder
    }

    fn ask(&mut self, now: Instant, step: Step) {
        let (name, qtype) = match &step {
            Step::Srv => (update_server_in(&self.zone), rtype::SRV),
            Step::Soa => (self.zone.clone(), rtype::SOA),
            Step::Address { name, qtype, .. } => (name.clone(), *qtype),
        };
        self.step = step;
        self.id = self.rng.next_u64() as u16;
        self.bytes = query(self.id, &name, qtype);
        self.outgoing = Some(self.bytes.clone());
        self.tries = 1;
        self.deadline = now + RETRANSMITS[0];
    }

    fn done(&mut self, result: Result<SocketAddr, String>) {
        self.result = Some(result.map_err(|why| {
            format!(
                "finding the update server of {} through {}: {why}",
                self.zone, self.server
            )
        }));
        self.outgoing = None;
    }

    /// The result, once known: the update server, or why there is none.
    pub fn result(&self) -> Option<&Result<SocketAddr, String>> {
        self.result.as_ref()
    }

    /// An answer from the network.
    pub fn handle_answer(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.result.is_some() || from != self.server {
            return;
        }
        let Ok(reply) = Reply::decode(bytes) else {
            return;
        };
        let question = &self.bytes[12..];
        let echoed = bytes.get(12..12 + question.len());
        if reply.id != self.id || !echoed.is_some_and(|e| e.eq_ignore_ascii_case(question)) {
            return;
        }
        if !matches!(reply.rcode, Rcode::NoError | Rcode::NameError) {
            return self.done(Err(format!("the resolver answered {}", reply.rcode)));
        }
        let records: Vec<_> = reply
            .message
            .answers
            .iter()
            .chain(&reply.message.authority)
            .chain(&reply.message.additional)
            .collect();
        match self.step.clone() {
            Step::Srv => {
                let srv = records.iter().find_map(|r| match &r.data {
                    RecordData::Srv { port, target, .. } => Some((*port, target.clone())),
                    _ => None,
                });
                match srv {
                    Some((port, target)) => self.address_of(now, &records, target, port),
                    None => self.ask(now, Step::Soa),
                }
            }
            Step::Soa => {
                let mname = records.iter().find_map(|r| match &r.data {
                    RecordData::Soa { mname, .. } if r.name == self.zone => Some(mname.clone()),
                    _ => None,
                });
                match mname {
                    Some(mname) => self.address_of(now, &records, mname, 53),
                    None => self.done(Err(format!(
                        "no {} SRV and no zone {} (its SOA)",
                        update_server_in(&self.zone),
                        self.zone
                    ))),
                }
            }
            Step::Address { name, port, qtype } => {
                let found = records.iter().find_map(|r| match r.data {
                    RecordData::A(ip) if r.name == name => Some(IpAddr::V4(ip)),
                    RecordData::Aaaa(ip) if r.name == name => Some(IpAddr::V6(ip)),
                    _ => None,
                });
                match (found, qtype) {
                    (Some(ip), _) => self.done(Ok(SocketAddr::new(ip, port))),
                    (None, rtype::A) => self.ask(
                        now,
                        Step::Address {
                            name,
                            port,
                            qtype: rtype::AAAA,
                        },
                    ),
                    (None, _) => self.done(Err(format!("{name} has no address"))),
                }
            }
        }
    }

    /// The address of `name` from `records` if there, else asked for.
    fn address_of(
        &mut self,
        now: Instant,
        records: &[&crate::record::Record],
        name: DnsName,
        port: u16,
    ) {
        let given = records.iter().find_map(|r| match r.data {
            RecordData::A(ip) if r.name == name => Some(IpAddr::V4(ip)),
            RecordData::Aaaa(ip) if r.name == name => Some(IpAddr::V6(ip)),
            _ => None,
        });
        match given {
            Some(ip) => self.done(Ok(SocketAddr::new(ip, port))),
            None => self.ask(
                now,
                Step::Address {
                    name,
                    port,
                    qtype: rtype::A,
                },
            ),
        }
    }

    /// Retransmissions.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.result.is_some() || now < self.deadline {
            return;
        }
        if self.tries >= RETRANSMITS.len() {
            return self.done(Err("no answer".into()));
        }
        self.deadline = now + RETRANSMITS[self.tries];
        self.tries += 1;
        self.outgoing = Some(self.bytes.clone());
    }

    /// The next question to send to the resolver.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.outgoing.take().map(|bytes| (self.server, bytes))
    }

    /// When [`UpdateServerFinder::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.result.is_none().then_some(self.deadline)
    }
}
