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

/// The roster, fed with the browser's service events. Sans-IO.
#[derive(Clone, Debug, Default)]
pub struct Roster {
    peers: BTreeMap<String, Peer>,
    events: VecDeque<RosterEvent>,
}

impl Roster {
    /// An empty roster.
    pub fn new() -> Roster {
        Roster::default()
    }

    /// Takes in a service event; afterwards drain [`Roster::poll_event`].
    pub fn apply(&mut self, event: &ServiceEvent) {
        match event {
            ServiceEvent::Resolved(service) | ServiceEvent::Updated(service) => {
                let peer = Peer::from_service(service);
                match self.peers.insert(peer.instance.clone(), peer.clone()) {
                    None => self.events.push_back(RosterEvent::PeerOnline(peer)),
                    Some(old) if old != peer => {
                        self.events.push_back(RosterEvent::PresenceChanged(peer))
                    }
                    Some(_) => {}
                }
            }
            ServiceEvent::Removed { instance } => {
                if self.peers.remove(instance).is_some() {
                    self.events.push_back(RosterEvent::PeerOffline {
                        instance: instance.clone(),
                    });
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
