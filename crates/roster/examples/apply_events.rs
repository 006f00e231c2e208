//! Feeding a `Roster` with service events, and reading its change events.
//!
//! The roster takes what a DNS-SD browser reports (`llxmpp_dnssd::ServiceEvent`) and tells
//! what changed for the user: a peer online, its presence changed, a peer offline. Here
//! the service events are built by hand, as `llxmpp_dnssd::Browser::poll_event` would hand
//! them out on a link with a libpurple user and an iChat user: no socket, no clock.
//!
//! ```text
//! cargo run -p llxmpp-roster --example apply_events
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use llxmpp_dnssd::{InterfaceAddr, ServiceEvent, ServiceInstance, TxtRecord};
use llxmpp_roster::{Roster, RosterEvent};

fn main() {
    for line in run() {
        println!("{line}");
    }
}

/// Applies a scripted browse to a roster; one line per service event and per roster event.
fn run() -> Vec<String> {
    let mut roster = Roster::new();
    let mut lines = Vec::new();
    for event in browse() {
        lines.push(format!("service: {}", describe_service(&event)));
        roster.apply(&event);
        while let Some(change) = roster.poll_event() {
            lines.push(format!("  roster: {}", describe_change(&change)));
        }
    }
    let online: Vec<String> = roster.peers().map(|p| p.display_name()).collect();
    lines.push(format!("online now: {}", online.join(", ")));
    lines
}

/// What a browser might report, in order.
fn browse() -> Vec<ServiceEvent> {
    // libpurple (through Avahi) publishes its TXT reversed, with empty values.
    let purple = |status: &str, msg: &str| ServiceInstance {
        instance: "echobot@hosta".into(),
        host: "hosta".into(),
        port: 5298,
        addresses: vec![InterfaceAddr {
            interface: 2,
            ip: IpAddr::V4(Ipv4Addr::new(169, 254, 10, 1)),
        }],
        txt: TxtRecord::from_strings([
            format!("msg={msg}"),
            "vc=!".into(),
            "ver=2.14.12".into(),
            "node=libpurple".into(),
            format!("status={status}"),
            "port.p2pj=5298".into(),
            "last=Bot".into(),
            "1st=Echo".into(),
            "txtvers=1".into(),
            "email=".into(),
            "nick=".into(),
        ]),
        avatar: None,
    };
    let ichat = ServiceInstance {
        instance: "juliet@pronto".into(),
        host: "pronto".into(),
        port: 49_152,
        addresses: vec![
            InterfaceAddr {
                interface: 2,
                ip: IpAddr::V4(Ipv4Addr::new(169, 254, 20, 2)),
            },
            InterfaceAddr {
                interface: 2,
                ip: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2)),
            },
        ],
        txt: TxtRecord::from_strings([
            "txtvers=1",
            "nick=Juliet",
            "status=dnd",
            "msg=At the balcony",
            "port.p2pj=49152",
        ]),
        avatar: None,
    };
    vec![
        ServiceEvent::Resolved(purple("avail", "")),
        ServiceEvent::Resolved(ichat),
        // A refresh that changes nothing the roster keeps: no roster event.
        ServiceEvent::Updated(purple("avail", "")),
        // libpurple's user went idle.
        ServiceEvent::Updated(purple("away", "I'm not here right now")),
        // iChat's goodbye.
        ServiceEvent::Removed {
            instance: "juliet@pronto".into(),
        },
        // A goodbye for a peer the roster never had: nothing to report.
        ServiceEvent::Removed {
            instance: "nobody@nowhere".into(),
        },
    ]
}

fn describe_service(event: &ServiceEvent) -> String {
    match event {
        ServiceEvent::Resolved(s) => format!("resolved {} at {}:{}", s.instance, s.host, s.port),
        ServiceEvent::Updated(s) => format!("updated {}", s.instance),
        ServiceEvent::Removed { instance } => format!("removed {instance}"),
    }
}

fn describe_change(event: &RosterEvent) -> String {
    match event {
        RosterEvent::PeerOnline(peer) | RosterEvent::PresenceChanged(peer) => {
            let what = match event {
                RosterEvent::PeerOnline(_) => "online",
                _ => "changed",
            };
            let addresses: Vec<String> = peer.addresses.iter().map(|a| a.ip.to_string()).collect();
            format!(
                "{what} {} ({}): {} {:?}, port {}, at {}",
                peer.instance,
                peer.display_name(),
                peer.presence.status.txt_value(),
                peer.presence.msg.as_deref().unwrap_or(""),
                peer.port,
                addresses.join(" ")
            )
        }
        RosterEvent::PeerOffline { instance } => format!("offline {instance}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browse_yields_online_changed_and_offline_only_for_real_changes() {
        let lines = run();
        let roster: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("  roster: "))
            .collect();
        assert_eq!(
            roster,
            [
                "online echobot@hosta (Echo Bot): avail \"\", port 5298, at 169.254.10.1",
                "online juliet@pronto (Juliet): dnd \"At the balcony\", port 49152, \
                 at 169.254.20.2 fe80::2",
                "changed echobot@hosta (Echo Bot): away \"I'm not here right now\", port 5298, \
                 at 169.254.10.1",
                "offline juliet@pronto",
            ]
        );
        assert_eq!(lines.last().unwrap(), "online now: Echo Bot");
    }
}
