//! Hearing from the kernel that interfaces or addresses changed (Linux: an rtnetlink
//! socket on the link and address groups), so that a new lease, an interface gone or come
//! and a cable out or in are acted on within milliseconds, as Avahi does, and not at the
//! next periodic re-read. What the messages say is not parsed: any of them means "read the
//! interfaces again", which is one `getifaddrs`. Elsewhere there is no watch, and the
//! periodic re-read ([`crate::Config::interface_recheck`]) is all.

#[cfg(target_os = "linux")]
mod linux {
    use std::io;

    use mio::{Interest, Registry, Token};
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

    /// An rtnetlink socket that hears link and address changes.
    pub(crate) struct InterfaceWatch {
        socket: Socket,
    }

    impl InterfaceWatch {
        pub(crate) fn open(registry: &Registry, token: Token) -> io::Result<InterfaceWatch> {
            let mut socket = Socket::new(NETLINK_ROUTE)?;
            let groups = libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR;
            socket.bind(&SocketAddr::new(0, groups as u32))?;
            socket.set_non_blocking(true)?;
            registry.register(&mut socket, token, Interest::READABLE)?;
            Ok(InterfaceWatch { socket })
        }

        /// Reads every waiting message; whether any came. An overrun (ENOBUFS: changes
        /// were lost) counts as a change.
        pub(crate) fn drain(&mut self) -> bool {
            let mut changed = false;
            let mut buffer = Vec::with_capacity(16 * 1024);
            loop {
                buffer.clear();
                match self.socket.recv(&mut buffer, 0) {
                    Ok(_) => changed = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return changed,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return true,
                }
            }
        }
    }
}

#[cfg(target_os = "linux")]
pub(crate) use linux::InterfaceWatch;

/// No watch here: the periodic re-read finds the changes.
#[cfg(not(target_os = "linux"))]
pub(crate) struct InterfaceWatch;

#[cfg(not(target_os = "linux"))]
impl InterfaceWatch {
    pub(crate) fn open(
        _registry: &mio::Registry,
        _token: mio::Token,
    ) -> std::io::Result<InterfaceWatch> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }

    pub(crate) fn drain(&mut self) -> bool {
        false
    }
}
