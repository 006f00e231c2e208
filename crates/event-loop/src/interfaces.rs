//! Network interfaces and their addresses, as the mDNS sockets need them.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;

/// One interface with its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// The name (`eth0`).
    pub name: String,
    /// The index: the scope id of its IPv6 link-local addresses.
    pub index: u32,
    /// Its addresses.
    pub addresses: Vec<IpAddr>,
    /// Whether it is a loopback interface.
    pub loopback: bool,
}

impl InterfaceInfo {
    /// Its first IPv4 address, which IPv4 multicast membership and sending use.
    pub fn ipv4(&self) -> Option<std::net::Ipv4Addr> {
        self.addresses.iter().find_map(|a| match a {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(_) => None,
        })
    }

    /// Whether it has an IPv6 address.
    pub fn has_ipv6(&self) -> bool {
        self.addresses.iter().any(IpAddr::is_ipv6)
    }
}

/// Which interfaces mDNS runs on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum InterfaceSelection {
    /// Every interface that is up and has an address, loopback excepted.
    #[default]
    AllButLoopback,
    /// Only the interfaces with these names (loopback included if named).
    Named(Vec<String>),
}

/// The interfaces that are up, with their addresses, filtered by `selection`, sorted by
/// index.
pub fn enumerate(selection: &InterfaceSelection) -> io::Result<Vec<InterfaceInfo>> {
    let mut by_index: BTreeMap<u32, InterfaceInfo> = BTreeMap::new();
    for interface in if_addrs::get_if_addrs()? {
        let Some(index) = interface.index else {
            continue;
        };
        let wanted = match selection {
            InterfaceSelection::AllButLoopback => !interface.is_loopback(),
            InterfaceSelection::Named(names) => names.contains(&interface.name),
        };
        if !wanted || !interface.is_oper_up() && !interface.is_loopback() {
            continue;
        }
        let entry = by_index.entry(index).or_insert_with(|| InterfaceInfo {
            name: interface.name.clone(),
            index,
            addresses: Vec::new(),
            loopback: interface.is_loopback(),
        });
        entry.addresses.push(interface.ip());
    }
    Ok(by_index.into_values().collect())
}
