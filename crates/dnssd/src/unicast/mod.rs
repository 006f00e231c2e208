//! Wide-area DNS-SD (RFC 6763 over unicast DNS): `_presence._tcp` services registered in
//! an ordinary zone by DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945), and read back
//! with unicast queries. Sans-IO like the rest of the crate: these build the bytes to
//! send and read the bytes received; the caller owns the sockets and the clock.
//!
//! A service in zone `Z` is the records an mDNS responder would publish under `local`,
//! under `Z` instead:
//!
//! | owner | record |
//! |---|---|
//! | `_services._dns-sd._udp.Z` | PTR `_presence._tcp.Z` |
//! | `_presence._tcp.Z` | PTR `INSTANCE._presence._tcp.Z` |
//! | `INSTANCE._presence._tcp.Z` | SRV `0 0 PORT HOST.Z`, TXT |
//! | `HOST.Z` | A, AAAA |

mod finder;
mod registrar;
mod tsig;
mod update;
mod zone_browser;

use std::net::IpAddr;

pub use finder::UpdateServerFinder;
pub use registrar::{Registrar, RegistrarConfig, RegistrarEvent, REFRESH_INTERVAL};
pub use tsig::{
    sign, verify_reply, KeyFileError, Signed, TsigError, TsigKey, FUDGE, HMAC_SHA256, MAX_KEY_FILE,
};
pub use update::{Change, Prerequisite, Rcode, Reply, TooLarge, Update};
pub use zone_browser::{
    UnicastTransmit, ZoneBrowser, ZoneBrowserConfig, ZoneBrowserEvent, POLL_INTERVAL, WINDOW,
};

use crate::name::DnsName;
use crate::record::{rtype, Record, RecordData};
use crate::txt::TxtRecord;

/// A zone's name from its text (`example.test`, a final dot allowed).
pub fn zone(text: &str) -> DnsName {
    DnsName::from_labels(text.split('.').filter(|l| !l.is_empty()))
}

/// `LABELS.ZONE`.
fn under(labels: &[&[u8]], zone: &DnsName) -> DnsName {
    DnsName::from_labels(
        labels
            .iter()
            .map(|l| l.to_vec())
            .chain(zone.labels().iter().cloned()),
    )
}

/// `_presence._tcp.ZONE`: where the zone's services are listed.
pub fn service_type_in(zone: &DnsName) -> DnsName {
    under(&[b"_presence", b"_tcp"], zone)
}

/// `INSTANCE._presence._tcp.ZONE`: the owner of a service's SRV and TXT.
pub fn instance_in(instance: &str, zone: &DnsName) -> DnsName {
    under(&[instance.as_bytes(), b"_presence", b"_tcp"], zone)
}

/// If `name` is `INSTANCE._presence._tcp.ZONE`, the instance (as UTF-8, lossily).
pub fn instance_of(name: &DnsName, zone: &DnsName) -> Option<String> {
    let (first, rest) = name.labels().split_first()?;
    (DnsName::from_labels(rest) == service_type_in(zone))
        .then(|| String::from_utf8_lossy(first).into_owned())
}

/// `_services._dns-sd._udp.ZONE`: the zone's service types (RFC 6763 §9).
pub fn services_in(zone: &DnsName) -> DnsName {
    under(&[b"_services", b"_dns-sd", b"_udp"], zone)
}

/// `_dns-update._udp.ZONE`: the SRV that names the server taking updates for the zone
/// (the convention of Apple's and Avahi's wide-area DNS-SD; else the SOA's primary).
pub fn update_server_in(zone: &DnsName) -> DnsName {
    under(&[b"_dns-update", b"_udp"], zone)
}

/// One `_presence._tcp` service to register in a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The zone.
    pub zone: DnsName,
    /// The instance name (`alice@hosta`).
    pub instance: String,
    /// The host's label in the zone (`hosta`): its A and AAAA are at `HOST.ZONE`.
    pub host: String,
    /// The port of the service.
    pub port: u16,
    /// The TXT record.
    pub txt: TxtRecord,
    /// The host's addresses, reachable from the zone's other clients.
    pub addresses: Vec<IpAddr>,
    /// The TTL of every record, in seconds: how long a resolver may serve one after it is
    /// gone.
    pub ttl: u32,
}

impl Registration {
    /// `INSTANCE._presence._tcp.ZONE`.
    pub fn instance_name(&self) -> DnsName {
        instance_in(&self.instance, &self.zone)
    }

    /// `HOST.ZONE`.
    pub fn host_name(&self) -> DnsName {
        under(&[self.host.as_bytes()], &self.zone)
    }

    fn record(&self, name: DnsName, data: RecordData) -> Record {
        Record {
            name,
            ttl: self.ttl,
            cache_flush: false,
            data,
        }
    }

    fn ptrs(&self) -> [Record; 2] {
        [
            self.record(
                services_in(&self.zone),
                RecordData::Ptr(service_type_in(&self.zone)),
            ),
            self.record(
                service_type_in(&self.zone),
                RecordData::Ptr(self.instance_name()),
            ),
        ]
    }

    fn srv_and_txt(&self) -> [Record; 2] {
        [
            self.record(
                self.instance_name(),
                RecordData::Srv {
                    priority: 0,
                    weight: 0,
                    port: self.port,
                    target: self.host_name(),
                },
            ),
            self.record(self.instance_name(), RecordData::Txt(self.txt.clone())),
        ]
    }

    fn address_records(&self) -> Vec<Record> {
        self.addresses
            .iter()
            .map(|ip| {
                let data = match ip {
                    IpAddr::V4(v4) => RecordData::A(*v4),
                    IpAddr::V6(v6) => RecordData::Aaaa(*v6),
                };
                self.record(self.host_name(), data)
            })
            .collect()
    }

    /// The first registration: only if nobody holds the instance name (RFC 2136 §2.4.5),
    /// so that two clients never overwrite each other; a `NameExists` answer means
    /// choosing another name, as a conflict on the link does. The host's addresses
    /// replace what was at its name.
    pub fn register(&self) -> Update {
        let mut update = Update::new(self.zone.clone());
        update
            .prerequisites
            .push(Prerequisite::NameNotInUse(self.instance_name()));
        self.put_everything(&mut update);
        update
    }

    /// The registration again, unconditionally: what a refresh sends, and what puts back
    /// records that were removed while we still hold the name (a cleaner that took us for
    /// stale). It replaces the SRV, TXT and addresses.
    pub fn refresh(&self) -> Update {
        let mut update = Update::new(self.zone.clone());
        for rtype in [rtype::SRV, rtype::TXT] {
            update.changes.push(Change::DeleteRrset {
                name: self.instance_name(),
                rtype,
            });
        }
        self.put_everything(&mut update);
        update
    }

    fn put_everything(&self, update: &mut Update) {
        for rtype in [rtype::A, rtype::AAAA] {
            update.changes.push(Change::DeleteRrset {
                name: self.host_name(),
                rtype,
            });
        }
        update.changes.extend(
            self.ptrs()
                .into_iter()
                .chain(self.srv_and_txt())
                .chain(self.address_records())
                .map(Change::Add),
        );
    }

    /// The registration sent again on condition that the name's SRV is exactly ours
    /// (RFC 2136 §2.4.2): after a `NameExists`, this tells our own earlier copy (an
    /// answer lost and the update sent again, or this service before a restart) from
    /// another client's, which the server refuses with `RrsetMissing`.
    pub fn claim(&self) -> Update {
        let mut update = self.refresh();
        let [srv, _] = self.srv_and_txt();
        update
            .prerequisites
            .push(Prerequisite::RrsetIs(Record { ttl: 0, ..srv }));
        update
    }

    /// The TXT replaced in place (a status change).
    pub fn update_txt(&self) -> Update {
        let mut update = Update::new(self.zone.clone());
        update
            .prerequisites
            .push(Prerequisite::NameInUse(self.instance_name()));
        update.changes.push(Change::DeleteRrset {
            name: self.instance_name(),
            rtype: rtype::TXT,
        });
        let [_, txt] = self.srv_and_txt();
        update.changes.push(Change::Add(txt));
        update
    }

    /// Everything of ours removed: our PTR (the zone's other services keep theirs), the
    /// instance's name, and our addresses at the host's name. The service-type PTR in
    /// `_services._dns-sd._udp` stays: other services of the type may need it.
    pub fn deregister(&self) -> Update {
        let mut update = Update::new(self.zone.clone());
        let [_, ours] = self.ptrs();
        update.changes.push(Change::Delete(ours));
        update
            .changes
            .push(Change::DeleteName(self.instance_name()));
        update
            .changes
            .extend(self.address_records().into_iter().map(Change::Delete));
        update
    }
}

/// The removal of another client's service, found dead: its PTR in the zone's list and
/// everything at its instance name, provided its SRV is still the one seen (`port`,
/// `target`); if it came back with another, the server answers `RrsetMissing` and
/// nothing is removed. Its host's addresses stay: another service may share the host.
pub fn removal(zone: &DnsName, instance: &str, port: u16, target: &DnsName) -> Update {
    let name = instance_in(instance, zone);
    let mut update = Update::new(zone.clone());
    update.prerequisites.push(Prerequisite::RrsetIs(Record {
        name: name.clone(),
        ttl: 0,
        cache_flush: false,
        data: RecordData::Srv {
            priority: 0,
            weight: 0,
            port,
            target: target.clone(),
        },
    }));
    update.changes.push(Change::Delete(Record {
        name: service_type_in(zone),
        ttl: 0,
        cache_flush: false,
        data: RecordData::Ptr(name.clone()),
    }));
    update.changes.push(Change::DeleteName(name));
    update
}

/// A query for `name`'s records of type `qtype` (recursion desired: it may go through the
/// system's resolver).
pub fn query(id: u16, name: &DnsName, qtype: u16) -> Vec<u8> {
    let mut out = id.to_be_bytes().to_vec();
    out.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.labels() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
    out.extend(qtype.to_be_bytes());
    out.extend(1u16.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn alice() -> Registration {
        Registration {
            zone: zone("example.test."),
            instance: "Alice@hosta".into(),
            host: "hosta".into(),
            port: 5298,
            txt: TxtRecord::from_strings([&b"txtvers=1"[..], b"status=avail"]),
            addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))],
            ttl: 120,
        }
    }

    #[test]
    fn a_registration_puts_the_records_an_mdns_responder_would_under_the_zone() {
        let update = alice().register();
        assert_eq!(
            update.prerequisites,
            [Prerequisite::NameNotInUse(zone(
                "Alice@hosta._presence._tcp.example.test"
            ))]
        );
        let added: Vec<String> = update
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Add(r) => Some(format!("{} {:?}", r.name, r.data.rtype())),
                _ => None,
            })
            .collect();
        assert_eq!(
            added,
            [
                "_services._dns-sd._udp.example.test 12",
                "_presence._tcp.example.test 12",
                "Alice@hosta._presence._tcp.example.test 33",
                "Alice@hosta._presence._tcp.example.test 16",
                "hosta.example.test 1",
            ]
        );
    }

    #[test]
    fn a_deregistration_removes_only_what_is_ours() {
        let update = alice().deregister();
        assert!(update.prerequisites.is_empty());
        assert!(matches!(
            &update.changes[0],
            Change::Delete(Record { data: RecordData::Ptr(target), .. })
                if *target == zone("Alice@hosta._presence._tcp.example.test")
        ));
        assert_eq!(
            update.changes[1],
            Change::DeleteName(zone("Alice@hosta._presence._tcp.example.test"))
        );
        assert!(matches!(
            &update.changes[2],
            Change::Delete(Record {
                data: RecordData::A(_),
                ..
            })
        ));
    }

    #[test]
    fn a_query_asks_for_recursion() {
        let bytes = query(3, &zone("example.test"), rtype::SOA);
        assert_eq!(&bytes[..4], &[0, 3, 1, 0]);
        assert!(bytes.ends_with(b"\x07example\x04test\x00\x00\x06\x00\x01"));
    }
}
