//! The responder and browser on a simulated LAN: probing races, discovery at scale,
//! goodbyes, expiry and updates, in virtual time.

mod sim;

use std::time::Duration;

use llxmpp_dnssd::{avatar_phsh, ResponderEvent, ServiceEvent, TxtRecord};
use sim::Lan;

#[test]
fn two_nodes_claiming_one_name_end_with_one_renamed() {
    let mut lan = Lan::new();
    let a = lan.add_node(Some(Lan::service(0, "juliet@pronto")));
    let b = lan.add_node(Some(Lan::service(1, "juliet@pronto")));
    lan.run_until(Duration::from_secs(10));
    let instances: Vec<String> = [a, b]
        .iter()
        .map(|&n| {
            lan.nodes[n]
                .responder
                .as_ref()
                .unwrap()
                .instance()
                .to_owned()
        })
        .collect();
    assert!(
        instances.contains(&"juliet@pronto".to_owned()),
        "{instances:?}"
    );
    assert!(
        instances.contains(&"juliet@pronto (2)".to_owned()),
        "{instances:?}"
    );
    let renames: usize = [a, b]
        .iter()
        .map(|&n| {
            lan.nodes[n]
                .responder_events
                .iter()
                .filter(|(_, e)| matches!(e, ResponderEvent::InstanceRenamed { .. }))
                .count()
        })
        .sum();
    assert_eq!(renames, 1);
    for n in [a, b] {
        assert!(lan.nodes[n].responder.as_ref().unwrap().is_established());
    }
    // Each sees the other under its final name.
    assert_eq!(lan.seen_by(a), vec![instances[1].clone()]);
    assert_eq!(lan.seen_by(b), vec![instances[0].clone()]);
}

#[test]
fn a_name_taken_long_ago_is_defended() {
    let mut lan = Lan::new();
    let a = lan.add_node(Some(Lan::service(0, "romeo@montague")));
    lan.run_until(Duration::from_secs(5));
    let b = lan.add_node(Some(Lan::service(1, "romeo@montague")));
    lan.run_until(Duration::from_secs(15));
    assert_eq!(
        lan.nodes[a].responder.as_ref().unwrap().instance(),
        "romeo@montague"
    );
    assert_eq!(
        lan.nodes[b].responder.as_ref().unwrap().instance(),
        "romeo@montague (2)"
    );
    assert_eq!(lan.seen_by(a), vec!["romeo@montague (2)".to_owned()]);
}

#[test]
fn two_hundred_nodes_all_discover_each_other() {
    let mut lan = Lan::new();
    let count = 200;
    for n in 0..count {
        lan.add_node(Some(Lan::service(n, &format!("user{n}@host{n}"))));
    }
    lan.run_until(Duration::from_secs(10));
    for n in 0..count {
        assert_eq!(lan.seen_by(n).len(), count - 1, "node {n}");
    }
}

#[test]
fn a_goodbye_removes_the_peer_within_a_second() {
    let mut lan = Lan::new();
    let a = lan.add_node(Some(Lan::service(0, "alice@a")));
    let b = lan.add_node(Some(Lan::service(1, "bob@b")));
    lan.run_until(Duration::from_secs(5));
    assert_eq!(lan.seen_by(a), vec!["bob@b".to_owned()]);
    let quit_at = lan.elapsed();
    let now = lan.now;
    lan.nodes[b].responder.as_mut().unwrap().shutdown(now);
    lan.run_until(Duration::from_secs(8));
    let removed = lan.nodes[a]
        .service_events
        .iter()
        .find(|(_, e)| {
            *e == ServiceEvent::Removed {
                instance: "bob@b".into(),
            }
        })
        .map(|(t, _)| *t)
        .expect("bob removed");
    assert!(
        removed - quit_at <= Duration::from_millis(1010),
        "removed {:?} after quit",
        removed - quit_at
    );
    assert!(
        removed - quit_at >= Duration::from_secs(1),
        "RFC 6762 §10.1 keeps a goodbye one second"
    );
}

#[test]
fn a_silent_peer_expires_at_its_ttl() {
    let mut lan = Lan::new();
    let a = lan.add_node(Some(Lan::service(0, "alice@a")));
    let b = lan.add_node(Some(Lan::service(1, "bob@b")));
    lan.run_until(Duration::from_secs(5));
    let last_heard = lan.elapsed();
    lan.nodes[b].online = false;
    lan.run_until(Duration::from_secs(200));
    let (removed, _) = lan.nodes[a]
        .service_events
        .iter()
        .find(|(_, e)| matches!(e, ServiceEvent::Removed { .. }))
        .cloned()
        .expect("bob expired");
    // The SRV and A records live 120 s; bob's last announcement came within the first
    // five seconds. The refresh queries at 80–95 % went unanswered.
    let ttl = Duration::from_secs(u64::from(llxmpp_dnssd::HOST_TTL));
    assert!(removed <= last_heard + ttl, "removed at {removed:?}");
    assert!(removed >= ttl, "removed at {removed:?}");
}

#[test]
fn a_txt_update_reaches_every_browser() {
    let mut lan = Lan::new();
    let nodes: Vec<usize> = (0..10)
        .map(|n| lan.add_node(Some(Lan::service(n, &format!("u{n}@h{n}")))))
        .collect();
    lan.run_until(Duration::from_secs(5));
    let mut txt = TxtRecord::new();
    txt.insert("txtvers", "1").unwrap();
    txt.insert("status", "dnd").unwrap();
    txt.insert("msg", "in a meeting").unwrap();
    let now = lan.now;
    lan.nodes[0]
        .responder
        .as_mut()
        .unwrap()
        .set_txt(now, txt.clone())
        .unwrap();
    lan.run_until(Duration::from_secs(7));
    for &n in &nodes[1..] {
        let update = lan.nodes[n]
            .service_events
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                ServiceEvent::Updated(s) if s.instance == "u0@h0" => Some(s.txt.clone()),
                _ => None,
            });
        assert_eq!(update, Some(txt.clone()), "node {n}");
    }
}

#[test]
fn a_name_just_announced_is_defended_against_a_prober() {
    // A probe within a second of our last announcement must still be answered (RFC 6762
    // §6 allows a quarter second when defending against a probe); otherwise the prober
    // claims the name after its 750 ms of silence and both end in a conflict.
    let mut lan = Lan::new();
    let a = lan.add_node(Some(Lan::service(0, "mercutio@verona")));
    let mut at = Duration::ZERO;
    while !lan.nodes[a].responder.as_ref().unwrap().is_established() {
        at += Duration::from_millis(5);
        lan.run_until(at);
    }
    lan.run_until(at + Duration::from_millis(50));
    let b = lan.add_node(Some(Lan::service(1, "mercutio@verona")));
    lan.run_until(Duration::from_secs(15));
    let renamed = |n: usize| {
        lan.nodes[n]
            .responder_events
            .iter()
            .filter(|(_, e)| matches!(e, ResponderEvent::InstanceRenamed { .. }))
            .count()
    };
    assert_eq!(renamed(a), 0, "the holder lost its name");
    assert_eq!(renamed(b), 1);
    assert_eq!(
        lan.nodes[b].responder.as_ref().unwrap().instance(),
        "mercutio@verona (2)"
    );
    assert_eq!(lan.seen_by(a), vec!["mercutio@verona (2)".to_owned()]);
}

#[test]
fn a_peer_that_joins_late_fetches_an_avatar_and_sees_it_change() {
    let mut lan = Lan::new();
    let first = b"first avatar image".repeat(100);
    let mut service = Lan::service(0, "alice@h0");
    service.txt.insert("phsh", avatar_phsh(&first)).unwrap();
    service.avatar = Some(first.clone());
    let alice = lan.add_node(Some(service.clone()));
    // Alice's announcements (which carry the NULL record) are over when bob starts: he
    // learns of the avatar from her TXT and must ask for it.
    lan.run_until(Duration::from_secs(5));
    let bob = lan.add_node(None);
    lan.run_until(Duration::from_secs(7));
    let avatar_seen = |lan: &Lan| {
        lan.nodes[bob]
            .browser
            .services()
            .find(|s| s.instance == "alice@h0")
            .and_then(|s| s.avatar.clone())
    };
    assert_eq!(avatar_seen(&lan), Some(first));

    let second = b"second avatar image".repeat(100);
    let mut txt = service.txt.clone();
    txt.insert("phsh", avatar_phsh(&second)).unwrap();
    let now = lan.now;
    let responder = lan.nodes[alice].responder.as_mut().unwrap();
    responder.set_avatar(now, Some(second.clone())).unwrap();
    responder.set_txt(now, txt).unwrap();
    lan.run_until(Duration::from_secs(9));
    assert_eq!(avatar_seen(&lan), Some(second));
}
