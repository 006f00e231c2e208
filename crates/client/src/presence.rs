//! Presence on the link: our responder and our browser, driven by the event loop.
//!
//! The glue between the sans-IO DNS-SD machines and [`llxmpp_event_loop`]: one decode per
//! datagram for both machines, their transmits turned into the loop's sends, our own
//! instance kept out of what the browser reports (also after a conflict renames it).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use llxmpp_dnssd::{
    Browser, BrowserConfig, Destination, InterfaceAddr, Message, Responder, ResponderConfig,
    ResponderError, ResponderEvent, ServiceEvent, ServiceInfo, TxtRecord,
};
use llxmpp_event_loop::{Context, Target};

/// Something that happened to presence on the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresenceEvent {
    /// A peer's service appeared, changed or left.
    Service(ServiceEvent),
    /// Our own names: established, renamed, stopped.
    Own(ResponderEvent),
}

/// Our responder (if we publish) and browser, as one machine for the event loop.
#[derive(Debug)]
pub struct Presence {
    responder: Option<Responder>,
    browser: Browser,
    events: VecDeque<PresenceEvent>,
}

impl Presence {
    /// Starts browsing, and publishing `service` if given. `seed` drives the RFC 6762
    /// random delays.
    pub fn new(
        service: Option<ServiceInfo>,
        now: Instant,
        seed: u64,
    ) -> Result<Presence, ResponderError> {
        let mut browser = Browser::new(BrowserConfig::default(), now, seed);
        if let Some(service) = &service {
            browser.set_interfaces(now, &interfaces_of(&service.addresses));
        }
        let responder = match service {
            Some(service) => {
                browser.set_own_instance(Some(service.instance.clone()));
                Some(Responder::new(
                    service,
                    ResponderConfig::default(),
                    now,
                    seed.rotate_left(17),
                )?)
            }
            None => None,
        };
        Ok(Presence {
            responder,
            browser,
            events: VecDeque::new(),
        })
    }

    /// Feeds a datagram from the loop, then sends what the machines want sent.
    pub fn handle_datagram(
        &mut self,
        ctx: &mut Context<'_>,
        from: SocketAddr,
        interface: u32,
        bytes: &[u8],
    ) {
        let now = ctx.now();
        match Message::decode(bytes) {
            Ok(message) => {
                self.browser.handle_message(now, from, interface, &message);
                if let Some(responder) = &mut self.responder {
                    responder.handle_message(now, from, interface, &message);
                }
            }
            Err(_) => {
                // Let both count it.
                self.browser.handle_input(now, from, interface, bytes);
                if let Some(responder) = &mut self.responder {
                    responder.handle_input(now, from, interface, bytes);
                }
            }
        }
        self.flush(ctx);
    }

    /// Advances the machines' timers, then sends.
    pub fn handle_timeout(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        if self.browser.poll_timeout().is_some_and(|t| t <= now) {
            self.browser.handle_timeout(now);
        }
        if let Some(responder) = &mut self.responder {
            if responder.poll_timeout().is_some_and(|t| t <= now) {
                responder.handle_timeout(now);
            }
        }
        self.flush(ctx);
    }

    /// Replaces our TXT record (re-announced at once).
    pub fn set_txt(&mut self, ctx: &mut Context<'_>, txt: TxtRecord) -> Result<(), ResponderError> {
        if let Some(responder) = &mut self.responder {
            responder.set_txt(ctx.now(), txt)?;
        }
        self.flush(ctx);
        Ok(())
    }

    /// Replaces our addresses: goodbyes for those gone, announcements on every link.
    pub fn set_addresses(&mut self, ctx: &mut Context<'_>, addresses: Vec<InterfaceAddr>) {
        self.browser
            .set_interfaces(ctx.now(), &interfaces_of(&addresses));
        if let Some(responder) = &mut self.responder {
            responder.set_addresses(ctx.now(), addresses);
        }
        self.flush(ctx);
    }

    /// Our mDNS socket on `interface` opened after failing to: browse, probe and announce
    /// there again, since nothing sent there before was heard.
    pub fn link_reopened(&mut self, ctx: &mut Context<'_>, interface: u32) {
        self.browser.link_reopened(ctx.now());
        if let Some(responder) = &mut self.responder {
            responder.link_reopened(ctx.now(), interface);
        }
        self.flush(ctx);
    }

    /// Sends goodbyes for our records.
    pub fn shutdown(&mut self, ctx: &mut Context<'_>) {
        if let Some(responder) = &mut self.responder {
            responder.shutdown(ctx.now());
        }
        self.flush(ctx);
    }

    /// When to call [`Presence::handle_timeout`].
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let responder = self.responder.as_ref().and_then(Responder::poll_timeout);
        self.browser
            .poll_timeout()
            .into_iter()
            .chain(responder)
            .min()
    }

    /// The next presence event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<PresenceEvent> {
        self.events.pop_front()
    }

    /// Our instance label now (after any rename).
    pub fn instance(&self) -> Option<&str> {
        self.responder.as_ref().map(Responder::instance)
    }

    /// The browser, for the services it holds.
    pub fn browser(&self) -> &Browser {
        &self.browser
    }

    fn flush(&mut self, ctx: &mut Context<'_>) {
        if let Some(responder) = &mut self.responder {
            while let Some(event) = responder.poll_event() {
                if let ResponderEvent::InstanceRenamed { to, .. } = &event {
                    self.browser.set_own_instance(Some(to.clone()));
                }
                self.events.push_back(PresenceEvent::Own(event));
            }
            while let Some(transmit) = responder.poll_transmit() {
                send(ctx, transmit);
            }
        }
        while let Some(event) = self.browser.poll_event() {
            self.events.push_back(PresenceEvent::Service(event));
        }
        while let Some(transmit) = self.browser.poll_transmit() {
            send(ctx, transmit);
        }
    }
}

fn send(ctx: &mut Context<'_>, transmit: llxmpp_dnssd::Transmit) {
    let target = match transmit.destination {
        Destination::Multicast => Target::Multicast(transmit.interface),
        Destination::Unicast(to) => Target::Unicast(to),
    };
    // UDP: a datagram the system refuses is lost, as on the wire; the RFC 6762
    // schedule repeats queries and announcements.
    let failures = ctx.send_datagram(target, &transmit.payload);
    if failures > 0 {
        tracing::debug!(?target, failures, "an mDNS datagram was not sent");
    }
}

/// The interfaces that `addresses` are on, each once.
fn interfaces_of(addresses: &[InterfaceAddr]) -> Vec<u32> {
    let mut interfaces: Vec<u32> = addresses.iter().map(|a| a.interface).collect();
    interfaces.sort_unstable();
    interfaces.dedup();
    interfaces
}
