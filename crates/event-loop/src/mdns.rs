//! The mDNS sockets: one per interface and address family, all bound to port 5353.
//!
//! Why one socket per interface rather than one socket reading `IP_PKTINFO`: reading the
//! arrival interface from ancillary data needs `recvmsg` and hand-parsed control
//! messages, that is `unsafe` code; a socket per interface gets it from which socket read
//! the datagram. For that, each socket is bound to its device (`SO_BINDTOIFINDEX`) first
//! of all, before it joins the group or shares the port, and the kernel checks that on
//! every delivery. Membership alone does not do it: with `IP_MULTICAST_ALL` off a socket
//! still received its group from the host's other interface, and binding to the device
//! only after joining let the first datagrams through (both seen here on Linux 6.18 with
//! two veth links; the multicast test catches either). Binding to a device needs
//! `CAP_NET_RAW` on older kernels; where it is refused the socket stays unbound and its
//! interface tag is only best effort. `IP_MULTICAST_ALL` is off too, so a socket never sees
//! groups other sockets of the host joined. Every socket sets `SO_REUSEADDR` and
//! `SO_REUSEPORT` so that they, Avahi and other llxmpp nodes share port 5353; multicast
//! loop is on so that two nodes on one host see each other. A unicast datagram to port
//! 5353 (a QU or legacy reply) reaches only one of the sharing sockets.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use mio::net::UdpSocket;
use socket2::{Domain, Protocol, Socket, Type};

use crate::interfaces::InterfaceInfo;

/// The IPv4 mDNS group (RFC 6762 §3).
pub const MDNS_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
/// The IPv6 mDNS group (RFC 6762 §3).
pub const MDNS_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);
/// The mDNS port.
pub const MDNS_PORT: u16 = 5353;

/// One socket: an interface and a family.
#[derive(Debug)]
pub(crate) struct MdnsSocket {
    pub interface: u32,
    /// The IPv4 address it sends from (`IP_MULTICAST_IF`): a socket whose interface got
    /// another address is opened anew, or it would send from an address we lost.
    pub address: Option<Ipv4Addr>,
    pub socket: UdpSocket,
    pub v6: bool,
}

impl MdnsSocket {
    /// Opens the IPv4 socket of `interface` on `port` (5353, or another for tests).
    pub fn open_v4(interface: &InterfaceInfo, port: u16) -> io::Result<MdnsSocket> {
        let address = interface
            .ipv4()
            .ok_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, "no IPv4 address"))?;
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        #[cfg(target_os = "linux")]
        let _ = socket.bind_device_by_index_v4(std::num::NonZeroU32::new(interface.index));
        share_port(&socket)?;
        #[cfg(target_os = "linux")]
        socket.set_multicast_all_v4(false)?;
        socket.set_multicast_ttl_v4(255)?;
        socket.set_multicast_loop_v4(true)?;
        socket.set_multicast_if_v4(&address)?;
        socket.join_multicast_v4_n(
            &MDNS_V4,
            &socket2::InterfaceIndexOrAddress::Index(interface.index),
        )?;
        socket.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)).into())?;
        socket.set_nonblocking(true)?;
        Ok(MdnsSocket {
            interface: interface.index,
            address: Some(address),
            socket: UdpSocket::from_std(socket.into()),
            v6: false,
        })
    }

    /// Opens the IPv6 socket of `interface` on `port`.
    pub fn open_v6(interface: &InterfaceInfo, port: u16) -> io::Result<MdnsSocket> {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        #[cfg(target_os = "linux")]
        let _ = socket.bind_device_by_index_v6(std::num::NonZeroU32::new(interface.index));
        share_port(&socket)?;
        socket.set_only_v6(true)?;
        #[cfg(target_os = "linux")]
        socket.set_multicast_all_v6(false)?;
        socket.set_multicast_hops_v6(255)?;
        socket.set_multicast_loop_v6(true)?;
        socket.set_multicast_if_v6(interface.index)?;
        socket.join_multicast_v6(&MDNS_V6, interface.index)?;
        socket
            .bind(&SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)).into())?;
        socket.set_nonblocking(true)?;
        Ok(MdnsSocket {
            interface: interface.index,
            address: None,
            socket: UdpSocket::from_std(socket.into()),
            v6: true,
        })
    }

    /// The group address of this socket's family.
    pub fn group(&self, port: u16) -> SocketAddr {
        if self.v6 {
            SocketAddr::V6(SocketAddrV6::new(MDNS_V6, port, 0, self.interface))
        } else {
            SocketAddr::V4(SocketAddrV4::new(MDNS_V4, port))
        }
    }

    /// Whether `address` is of this socket's family.
    pub fn fits(&self, address: &IpAddr) -> bool {
        address.is_ipv6() == self.v6
    }
}

fn share_port(socket: &Socket) -> io::Result<()> {
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    Ok(())
}
