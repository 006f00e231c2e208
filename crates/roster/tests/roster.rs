//! TXT semantics of XEP-0174 and the roster's events.

use std::net::{IpAddr, Ipv4Addr};

use llxmpp_dnssd::{InterfaceAddr, ServiceEvent, ServiceInstance, TxtRecord};
use llxmpp_roster::{Presence, Roster, RosterEvent, Status};
use proptest::prelude::*;

fn service(instance: &str, txt: &[&str]) -> ServiceInstance {
    ServiceInstance {
        instance: instance.into(),
        host: "h".into(),
        port: 5298,
        addresses: vec![InterfaceAddr {
            interface: 1,
            ip: IpAddr::V4(Ipv4Addr::new(169, 254, 0, 9)),
        }],
        txt: TxtRecord::from_strings(txt),
        avatar: None,
    }
}

#[test]
fn libpurple_txt_reads_with_empty_values_absent() {
    // What libpurple published in the captures (Avahi sends it reversed).
    let txt = TxtRecord::from_strings([
        "vc=!",
        "ver=2.14.12",
        "node=libpurple",
        "status=avail",
        "port.p2pj=5298",
        "last=Bot",
        "1st=Echo",
        "txtvers=1",
        "email=",
        "nick=",
    ]);
    let presence = Presence::from_txt(&txt);
    assert_eq!(presence.status, Status::Available);
    assert_eq!(
        (presence.first.as_deref(), presence.last.as_deref()),
        (Some("Echo"), Some("Bot"))
    );
    assert_eq!(presence.nick, None);
    assert_eq!(presence.email, None);
    assert_eq!(presence.port_p2pj, Some(5298));
    assert_eq!(presence.caps.node.as_deref(), Some("libpurple"));
    assert_eq!(presence.caps.ver.as_deref(), Some("2.14.12"));
    assert_eq!(presence.display_name("echobot@hosta"), "Echo Bot");
}

#[test]
fn status_words_follow_both_conventions() {
    assert_eq!(Status::from_txt(None), Status::Available);
    assert_eq!(Status::from_txt(Some("")), Status::Available);
    assert_eq!(Status::from_txt(Some("DND")), Status::Dnd);
    assert_eq!(Status::from_txt(Some("away")), Status::Away);
    // A user's "away" is published as dnd, which Apple-era peers show as Away.
    assert_eq!(Status::from_user("away"), Some(Status::Dnd));
    assert_eq!(Status::from_user("idle"), Some(Status::Away));
    assert_eq!(
        Status::from_user("avail").map(Status::txt_value),
        Some("avail")
    );
}

#[test]
fn our_txt_has_txtvers_first_status_port_and_only_what_was_set() {
    let presence = Presence {
        status: Status::Dnd,
        msg: Some("lunch".into()),
        nick: Some("jules".into()),
        ..Presence::default()
    };
    let txt = presence.to_txt(5300).unwrap();
    let strings: Vec<String> = txt
        .to_strings()
        .into_iter()
        .map(|s| String::from_utf8(s).unwrap())
        .collect();
    assert_eq!(
        strings,
        [
            "txtvers=1",
            "port.p2pj=5300",
            "status=dnd",
            "nick=jules",
            "msg=lunch"
        ]
    );
    assert!(txt.get("1st").is_none() && txt.get("email").is_none() && txt.get("jid").is_none());
}

#[test]
fn the_key_hint_of_an_encrypting_peer_goes_out_last_and_reads_back() {
    let key = "sha256:q1HhVd2hX0b3w1qjk0vxQm1e6b7H1lVw1i1Yf0dP9Yk";
    let presence = Presence {
        tls: Some(key.into()),
        ..Presence::default()
    };
    let txt = presence.to_txt(5298).unwrap();
    let last = txt.to_strings().pop().unwrap();
    assert_eq!(String::from_utf8(last).unwrap(), format!("tls={key}"));
    assert_eq!(Presence::from_txt(&txt).tls.as_deref(), Some(key));
    assert_eq!(
        Presence::from_txt(&Presence::default().to_txt(1).unwrap()).tls,
        None
    );
}

#[test]
fn display_name_prefers_nick_then_names_then_instance() {
    let mut p = Presence::default();
    assert_eq!(p.display_name("x@y"), "x@y");
    p.first = Some("Ann".into());
    assert_eq!(p.display_name("x@y"), "Ann");
    p.last = Some("Lee".into());
    assert_eq!(p.display_name("x@y"), "Ann Lee");
    p.nick = Some("annie".into());
    assert_eq!(p.display_name("x@y"), "annie");
}

#[test]
fn roster_events_online_changed_offline_and_rename() {
    let mut roster = Roster::new();
    roster.apply(&ServiceEvent::Resolved(service(
        "a@x",
        &["txtvers=1", "status=avail"],
    )));
    let Some(RosterEvent::PeerOnline(peer)) = roster.poll_event() else {
        panic!()
    };
    assert_eq!(peer.instance, "a@x");
    // An update that changes nothing the roster holds is no event.
    roster.apply(&ServiceEvent::Updated(service(
        "a@x",
        &["status=avail", "txtvers=1"],
    )));
    assert_eq!(roster.poll_event(), None);
    roster.apply(&ServiceEvent::Updated(service(
        "a@x",
        &["txtvers=1", "status=dnd", "msg=busy"],
    )));
    let Some(RosterEvent::PresenceChanged(peer)) = roster.poll_event() else {
        panic!()
    };
    assert_eq!(
        (peer.presence.status, peer.presence.msg.as_deref()),
        (Status::Dnd, Some("busy"))
    );
    assert_eq!(
        roster
            .peers_at(IpAddr::V4(Ipv4Addr::new(169, 254, 0, 9)))
            .count(),
        1
    );
    // A rename: the old name goes offline, the new one comes online.
    roster.apply(&ServiceEvent::Removed {
        instance: "a@x".into(),
    });
    roster.apply(&ServiceEvent::Resolved(service("a@x-2", &["txtvers=1"])));
    assert_eq!(
        roster.poll_event(),
        Some(RosterEvent::PeerOffline {
            instance: "a@x".into()
        })
    );
    assert!(
        matches!(roster.poll_event(), Some(RosterEvent::PeerOnline(p)) if p.instance == "a@x-2")
    );
    assert!(roster.get("a@x").is_none());
}

proptest! {
    #[test]
    fn rendered_presence_reads_back(
        status in prop::sample::select(vec![Status::Available, Status::Away, Status::Dnd]),
        msg in prop::option::of("[^\u{0}]{1,40}"),
        nick in prop::option::of("[a-zA-Z ]{1,10}"),
        first in prop::option::of("[a-zA-Zé]{1,10}"),
        port in 1u16..,
    ) {
        let presence = Presence { status, msg, nick, first, port_p2pj: Some(port), ..Presence::default() };
        let txt = presence.to_txt(port).unwrap();
        prop_assert_eq!(Presence::from_txt(&txt), presence);
    }
}
