//! Driving a sans-IO machine with the event loop.
//!
//! `LineEcho` is a tiny protocol machine in the project's style: it owns no socket and
//! reads no clock. It takes bytes (`handle_input`) and time (`handle_timeout`), and hands
//! back bytes to send (`poll_transmit`) and when it next wants the time (`poll_timeout`):
//! it echoes each line upper-cased and closes a connection idle for 10 seconds. The
//! `Handler` is the glue: one machine per connection, the loop's callbacks feed them.
//!
//! Run it, then talk to it: `cargo run -p llxmpp-event-loop --example line_echo`, and
//! `nc 127.0.0.1 <port>` with the port it prints.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use llxmpp_event_loop::{CloseReason, Config, ConnectionId, Context, EventLoop, Handler};

/// The sans-IO machine of one connection.
struct LineEcho {
    pending: Vec<u8>,
    out: Vec<u8>,
    idle_deadline: Instant,
    closed: bool,
}

impl LineEcho {
    const IDLE: Duration = Duration::from_secs(10);

    fn new(now: Instant) -> LineEcho {
        LineEcho {
            pending: Vec::new(),
            out: Vec::new(),
            idle_deadline: now + Self::IDLE,
            closed: false,
        }
    }

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        self.idle_deadline = now + Self::IDLE;
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.out.extend(line.to_ascii_uppercase());
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.idle_deadline {
            self.out.extend_from_slice(b"idle, bye\n");
            self.closed = true;
        }
    }

    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (!self.closed).then_some(self.idle_deadline)
    }
}

/// The glue between the loop and the machines.
#[derive(Default)]
struct Server {
    machines: HashMap<ConnectionId, LineEcho>,
}

impl Server {
    fn drain(&mut self, ctx: &mut Context<'_>, conn: ConnectionId) {
        let Some(machine) = self.machines.get_mut(&conn) else {
            return;
        };
        while let Some(bytes) = machine.poll_transmit() {
            let _ = ctx.write(conn, &bytes);
        }
        if machine.closed {
            ctx.close(conn);
        }
    }
}

impl Handler for Server {
    type Command = ();

    fn on_start(&mut self, ctx: &mut Context<'_>) {
        println!(
            "line_echo listening on 127.0.0.1:{}",
            ctx.local_port().unwrap_or(0)
        );
    }

    fn on_accepted(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, peer: SocketAddr) {
        println!("{peer} connected");
        self.machines.insert(conn, LineEcho::new(ctx.now()));
    }

    fn on_data(&mut self, ctx: &mut Context<'_>, conn: ConnectionId, data: &[u8]) {
        if let Some(machine) = self.machines.get_mut(&conn) {
            machine.handle_input(ctx.now(), data);
        }
        self.drain(ctx, conn);
    }

    fn on_closed(&mut self, _: &mut Context<'_>, conn: ConnectionId, reason: CloseReason) {
        println!("connection closed: {reason:?}");
        self.machines.remove(&conn);
    }

    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        let due: Vec<ConnectionId> = self
            .machines
            .iter()
            .filter(|(_, m)| m.poll_timeout().is_some_and(|t| t <= now))
            .map(|(c, _)| *c)
            .collect();
        for conn in due {
            if let Some(machine) = self.machines.get_mut(&conn) {
                machine.handle_timeout(now);
            }
            self.drain(ctx, conn);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.machines
            .values()
            .filter_map(LineEcho::poll_timeout)
            .min()
    }
}

fn main() -> std::io::Result<()> {
    let mut event_loop: EventLoop<()> = EventLoop::new(Config::loopback())?;
    event_loop.run(&mut Server::default())?;
    Ok(())
}
