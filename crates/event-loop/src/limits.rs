//! The event loop's limits.

use std::time::Duration;

/// Bounds on what the event loop holds, each with a documented default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// TCP connections open at once, accepted and outgoing together. Default 1024.
    pub max_connections: usize,
    /// Accepted connections from one remote address. Default 16.
    pub max_connections_per_address: usize,
    /// Bytes read from a connection in one go (the read buffer, one for the whole loop).
    /// Default 64 KiB: a file arrives in fewer calls.
    pub read_buffer: usize,
    /// Queued bytes above which a write reports backpressure. Default 1 MiB.
    pub write_high_watermark: usize,
    /// Queued bytes below which a connection over the high watermark is writable again.
    /// Default 256 KiB.
    pub write_low_watermark: usize,
    /// Queued bytes a connection may hold at all; a write past it fails. Default 8 MiB.
    pub max_write_queue: usize,
    /// Pause before accepting again after an accept error such as EMFILE. Default 100 ms.
    pub accept_backoff: Duration,
}

impl Limits {
    /// The documented defaults.
    pub const DEFAULT: Limits = Limits {
        max_connections: 1024,
        max_connections_per_address: 16,
        read_buffer: 64 << 10,
        write_high_watermark: 1 << 20,
        write_low_watermark: 256 << 10,
        max_write_queue: 8 << 20,
        accept_backoff: Duration::from_millis(100),
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
