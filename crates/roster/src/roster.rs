//! The roster: peers seen on the link, by instance name.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use llxmpp_dnssd::{InterfaceAddr, ServiceEvent, ServiceInstance};

use crate::presence::Presence;

/// A peer on the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its instance name: its XEP-0174 address, byte for byte.
    pub instance: String,
    /// The host label its SRV record names.
    pub host: String,
    /// The port to connect to (the SRV port, XEP-0174 §3.2).
    pub port: u16,
    /// Every address it was seen with, in the order to try them.
    pub addresses: Vec<InterfaceAddr>,
    /// What its TXT record says.
    pub presence: Presence,
    /// Its avatar image (an 8 KiB JPEG or PNG, as peers publish it), held once its SHA-1
    /// matches `presence.phsh`.
    pub avatar: Option<Vec<u8>>,
}

impl Peer {
    fn from_service(service: &ServiceInstance) -> Peer {
        Peer {
            instance: service.instance.clone(),
            host: service.host.clone(),
            port: service.port,
            addresses: service.addresses.clone(),
            presence: Presence::from_txt(&service.txt),
            avatar: service.avatar.clone(),
        }
    }

    /// The name to show: nick, else "1st last", else the instance name.
    pub fn display_name(&self) -> String {
        self.presence.display_name(&self.instance)
    }
}

/// A change in the roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RosterEvent {
    /// A peer came online.
    PeerOnline(Peer),
    /// A peer's presence, port or addresses changed.
    PresenceChanged(Peer),
    /// A peer went offline (goodbye or expiry). A rename is an offline then an online.
    PeerOffline {
        /// Its instance name.
        instance: String,
    },
}

/// Where a service was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// On the link, by multicast DNS.
    Link,
    /// In a wide-area zone, by unicast DNS.
    Zone,
}

/// The roster, fed with the browsers' service events. Sans-IO.
///
/// A peer seen both on the link and in a zone is one peer: its TXT, port and host are
/// the link's while it is on the link, and its addresses are the link's first, then the
/// zone's; it goes offline when neither source has it.
#[derive(Clone, Debug, Default)]
pub struct Roster {
    peers: BTreeMap<String, Peer>,
    /// What each source says of each instance.
    seen: BTreeMap<String, [Option<ServiceInstance>; 2]>,
    events: VecDeque<RosterEvent>,
}

impl Roster {
    /// An empty roster.
    pub fn new() -> Roster {
        Roster::default()
    }

    /// Takes in a service event of the link's browser; afterwards drain
    /// [`Roster::poll_event`].
    pub fn apply(&mut self, event: &ServiceEvent) {
        self.apply_from(Source::Link, event);
    }

    /// Takes in a service event seen by `source`; afterwards drain
    /// [`Roster::poll_event`].
    pub fn apply_from(&mut self, source: Source, event: &ServiceEvent) {
        let slot = match source {
            Source::Link => 0,
            Source::Zone => 1,
        };
        let instance = match event {
            ServiceEvent::Resolved(service) | ServiceEvent::Updated(service) => {
                let views = self.seen.entry(service.instance.clone()).or_default();
                views[slot] = Some(service.clone());
                service.instance.clone()
            }
            ServiceEvent::Removed { instance } => {
                if let Some(views) = self.seen.get_mut(instance) {
                    views[slot] = None;
                    if views.iter().all(Option::is_none) {
                        self.seen.remove(instance);
                    }
                }
                instance.clone()
            }
        };
        let merged = self.seen.get(&instance).and_then(|[link, zone]| {
            let mut peer = Peer::from_service(link.as_ref().or(zone.as_ref())?);
            if let (Some(_), Some(zone)) = (link, zone) {
                for address in &zone.addresses {
                    if !peer.addresses.iter().any(|a| a.ip == address.ip) {
                        peer.addresses.push(*address);
                    }
                }
            }
            Some(peer)
        });
        match merged {
            Some(peer) => match self.peers.insert(instance, peer.clone()) {
                None => self.events.push_back(RosterEvent::PeerOnline(peer)),
                Some(old) if old != peer => {
                    self.events.push_back(RosterEvent::PresenceChanged(peer))
                }
                Some(_) => {}
            },
            None => {
                if self.peers.remove(&instance).is_some() {
                    self.events.push_back(RosterEvent::PeerOffline { instance });
                }
            }
        }
    }

    /// The next roster event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<RosterEvent> {
        self.events.pop_front()
    }

    /// The peer with this instance name.
    pub fn get(&self, instance: &str) -> Option<&Peer> {
        self.peers.get(instance)
    }

    /// Every peer, by instance name.
    pub fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.peers.values()
    }

    /// The peers that have `ip` among their addresses (XEP-0174 peers are told apart by
    /// source address when a stream does not say who it is).
    pub fn peers_at(&self, ip: IpAddr) -> impl Iterator<Item = &Peer> {
        self.peers
            .values()
            .filter(move |p| p.addresses.iter().any(|a| a.ip == ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llxmpp_dnssd::TxtRecord;

    fn service(status: &str, ip: &str, port: u16) -> ServiceInstance {
        ServiceInstance {
            instance: "bob@hostb".into(),
            host: "hostb".into(),
            port,
            addresses: vec![InterfaceAddr {
                interface: 0,
                ip: ip.parse().unwrap(),
            }],
            txt: TxtRecord::from_strings([format!("status={status}").into_bytes()]),
            avatar: None,
        }
    }

    #[test]
    fn a_peer_on_the_link_and_in_a_zone_is_one_peer_until_both_lose_it() {
        let mut roster = Roster::new();
        roster.apply_from(
            Source::Zone,
            &ServiceEvent::Resolved(service("away", "192.0.2.7", 6000)),
        );
        assert!(matches!(roster.poll_event(), Some(RosterEvent::PeerOnline(p)) if p.port == 6000));
        // On the link too: the link's word, and both addresses, link first.
        roster.apply_from(
            Source::Link,
            &ServiceEvent::Resolved(service("avail", "10.0.0.2", 5298)),
        );
        let Some(RosterEvent::PresenceChanged(peer)) = roster.poll_event() else {
            panic!("no change");
        };
        assert_eq!(peer.port, 5298);
        assert_eq!(peer.presence.status.txt_value(), "avail");
        let ips: Vec<String> = peer.addresses.iter().map(|a| a.ip.to_string()).collect();
        assert_eq!(ips, ["10.0.0.2", "192.0.2.7"]);
        assert!(roster.poll_event().is_none());
        // Off the link: still in the zone, as the zone says.
        roster.apply(&ServiceEvent::Removed {
            instance: "bob@hostb".into(),
        });
        assert!(
            matches!(roster.poll_event(), Some(RosterEvent::PresenceChanged(p)) if p.port == 6000)
        );
        roster.apply_from(
            Source::Zone,
            &ServiceEvent::Removed {
                instance: "bob@hostb".into(),
            },
        );
        assert_eq!(
            roster.poll_event(),
            Some(RosterEvent::PeerOffline {
                instance: "bob@hostb".into()
            })
        );
        assert!(roster.get("bob@hostb").is_none());
    }
}
