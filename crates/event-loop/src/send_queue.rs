//! What the kernel still holds of a TCP connection's sent bytes: how far the peer's TCP
//! has acknowledged them.
//!
//! A write succeeds once the kernel took the bytes, which says nothing about the peer: a
//! peer whose address changed, whose host slept or left the link, takes nothing, and the
//! kernel retransmits for many minutes before it gives up. Linux tells, per socket, the
//! bytes not yet acknowledged (`SIOCOUTQ`) and, of those, the bytes not yet sent at all
//! (`SIOCOUTQNSD`); their difference is what is on the wire waiting for an ACK. Neither
//! `socket2`, `nix` nor `rustix` wraps these two ioctls, so this module holds the crate's
//! only `unsafe` code: two `ioctl` calls that write one `c_int`. Elsewhere the kernel's
//! queue is not known, and [`kernel_send_queue`] says so.

use std::io;

use mio::net::TcpStream;

/// The kernel's send queue of one TCP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KernelSendQueue {
    /// Bytes written to the socket that the peer's TCP has not acknowledged (sent or not).
    pub unacknowledged: usize,
    /// Of those, the bytes already sent (so waiting for an acknowledgement): more than zero
    /// while the peer's window is shut means nothing; it only grows when segments are out.
    pub in_flight: usize,
}

/// The kernel's send queue of `stream`; `None` where the system cannot tell.
#[cfg(target_os = "linux")]
pub(crate) fn kernel_send_queue(stream: &TcpStream) -> Option<KernelSendQueue> {
    use std::os::fd::AsRawFd;

    let fd = stream.as_raw_fd();
    let unacknowledged = ioctl_int(fd, libc::TIOCOUTQ as _).ok()?;
    // SIOCOUTQNSD (linux/sockios.h), which the libc crate defines for Android only.
    const SIOCOUTQNSD: u64 = 0x894B;
    let unsent = ioctl_int(fd, SIOCOUTQNSD as _).ok()?;
    Some(KernelSendQueue {
        unacknowledged,
        in_flight: unacknowledged.saturating_sub(unsent),
    })
}

/// Elsewhere the kernel's queue is not known.
#[cfg(not(target_os = "linux"))]
pub(crate) fn kernel_send_queue(_stream: &TcpStream) -> Option<KernelSendQueue> {
    None
}

/// An ioctl that writes one `int`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn ioctl_int(fd: std::os::fd::RawFd, request: libc::Ioctl) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    // SAFETY: `fd` is an open socket borrowed for the call; TIOCOUTQ and SIOCOUTQNSD on a
    // TCP socket write exactly one `int` through the pointer, which points at `value`,
    // alive and writable for the whole call.
    let result = unsafe { libc::ioctl(fd, request, &mut value as *mut libc::c_int) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(value).unwrap_or(0))
}
