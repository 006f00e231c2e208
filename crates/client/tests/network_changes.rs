//! The network changes under running `llxmpp chat --json` nodes with a conversation open
//! (network namespaces this test makes): a new lease, an interface replaced, a cable out
//! and in, two links on one host. Each checks that peers learn the change within the
//! goal (2 s) and that no message ends in `sent` without reaching its peer. IPv4 only
//! (IPv6 is turned off on these hosts), so that no stream escapes a change by running
//! over an IPv6 link-local address. Needs root and iproute2, which CI has.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

use common::{is, netlab, quit_all, ChatNode, Lab};

/// `ip -n <ns> <args>`, which must succeed.
fn ip(ns: &str, args: &[&str]) {
    let mut all = vec!["-n", ns];
    all.extend(args);
    netlab::run("ip", &all).unwrap();
}

/// Turns IPv6 off on every host of the lab (also on interfaces made later).
fn ipv4_only(lab: &Lab, hosts: &[&str]) {
    for host in hosts {
        let status = netlab::in_namespace(&lab.hosts.ns(host), "sysctl")
            .args([
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// Whether `event` says `peer` is at exactly `addresses`.
fn at(event: &Value, peer: &str, addresses: &[&str]) -> bool {
    (is(event, "peer_online") || is(event, "peer_changed"))
        && event["peer"] == peer
        && event["addresses"].as_array().is_some_and(|a| {
            a.iter()
                .map(|v| v.as_str())
                .eq(addresses.iter().copied().map(Some))
        })
}

/// Every message sent so far, and what became of it at both ends.
#[derive(Default)]
struct Ledger {
    /// id → (from node, to peer, body)
    sent: BTreeMap<String, (usize, String, String)>,
}

impl Ledger {
    fn send(&mut self, nodes: &mut [&mut ChatNode], from: usize, to: &str, id: &str) {
        let body = format!("message {id}");
        nodes[from].command(json!({"cmd": "send", "to": to, "body": body, "id": id}));
        self.sent.insert(id.into(), (from, to.into(), body));
    }

    /// Waits until every message has ended in `sent` or `send_failed`, then checks that
    /// each `sent` one reached its peer (within 10 s more). The ids that ended `sent`.
    fn settle(&self, nodes: &mut [&mut ChatNode], names: &[&str], secs: u64) -> BTreeSet<String> {
        let mut delivered = BTreeSet::new();
        for (id, (from, to, body)) in &self.sent {
            let outcome = nodes[*from].expect(secs, &format!("the outcome of {id}"), |e| {
                (is(e, "sent") || is(e, "send_failed")) && e["id"] == id.as_str()
            });
            if !is(&outcome, "sent") {
                continue;
            }
            let to = names.iter().position(|n| n == to).unwrap();
            let sender = names[*from];
            nodes[to].expect(10, &format!("{id}, reported sent"), |e| {
                is(e, "message") && e["from"] == sender && e["body"] == body.as_str()
            });
            delivered.insert(id.clone());
        }
        delivered
    }
}

/// Alice (a) and Bob (b), IPv4 only, with a conversation open both ways.
fn talking(lab: &Lab, bob_args: &[&str]) -> (ChatNode, ChatNode) {
    ipv4_only(lab, &["a", "b"]);
    let mut alice = ChatNode::start(lab, "a", "alice", &[]);
    let mut bob = ChatNode::start(lab, "b", "bob", bob_args);
    alice.expect(10, "bob online", |e| at(e, "bob@hostb", &["10.80.0.2"]));
    bob.expect(10, "alice online", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });
    let mut ledger = Ledger::default();
    let names = ["alice@hosta", "bob@hostb"];
    ledger.send(&mut [&mut alice, &mut bob], 0, names[1], "open-a");
    ledger.send(&mut [&mut alice, &mut bob], 1, names[0], "open-b");
    let delivered = ledger.settle(&mut [&mut alice, &mut bob], &names, 10);
    assert_eq!(delivered.len(), 2);
    (alice, bob)
}

/// After a change that Alice learned in `learned`: a message each way arrives, the
/// change was learned within the goal (2 s), and Bob's goodbye from where he is now takes
/// him offline for her (1.0 s).
fn goes_on(mut alice: ChatNode, mut bob: ChatNode, learned: Duration) {
    eprintln!("learned after {learned:?}");
    let names = ["alice@hosta", "bob@hostb"];
    let mut ledger = Ledger::default();
    ledger.send(&mut [&mut alice, &mut bob], 0, names[1], "after-a");
    ledger.send(&mut [&mut alice, &mut bob], 1, names[0], "after-b");
    let delivered = ledger.settle(&mut [&mut alice, &mut bob], &names, 20);
    assert_eq!(delivered.len(), 2, "both messages after the change arrive");
    assert!(
        learned < Duration::from_secs(2),
        "learned after {learned:?}"
    );
    // Bob's goodbye, from where he is now, takes him offline at once.
    let quit = Instant::now();
    bob.quit();
    alice.expect(3, "bob offline", |e| {
        is(e, "peer_offline") && e["peer"] == "bob@hostb"
    });
    eprintln!("offline after {:?}", quit.elapsed());
    alice.quit();
}

/// A new lease on Bob's host: Alice learns the new address within 2 s, the stream to
/// the old one is dropped, and the next messages both ways arrive.
#[test]
fn a_new_lease_is_learned_within_two_seconds_and_the_conversation_goes_on() {
    let Some(lab) = Lab::new("nl") else { return };
    let (mut alice, bob) = talking(&lab, &[]);
    let b = lab.hosts.ns("b");
    let changed = Instant::now();
    ip(&b, &["addr", "del", "10.80.0.2/24", "dev", "eth0"]);
    ip(&b, &["addr", "add", "10.80.0.12/24", "dev", "eth0"]);
    alice.expect(5, "bob at his new address", |e| {
        at(e, "bob@hostb", &["10.80.0.12"])
    });
    goes_on(alice, bob, changed.elapsed());
}

/// Bob's eth0 goes and an eth1 on the same link comes with another address: he announces
/// on eth1, Alice learns it within 2 s, and the conversation goes on both ways.
#[test]
fn an_interface_replaced_is_announced_on_and_the_conversation_goes_on() {
    let Some(lab) = Lab::new("ir") else { return };
    let (mut alice, bob) = talking(&lab, &["--interface", "eth1"]);
    let (b, br) = (lab.hosts.ns("b"), lab.hosts.ns("br"));
    let outer = format!("{b}x");
    netlab::run(
        "ip",
        &[
            "link", "add", "eth1", "netns", &b, "type", "veth", "peer", "name", &outer, "netns",
            &br,
        ],
    )
    .unwrap();
    ip(&br, &["link", "set", &outer, "master", "br0"]);
    ip(&br, &["link", "set", &outer, "up"]);
    let changed = Instant::now();
    ip(&b, &["link", "del", "eth0"]);
    ip(&b, &["addr", "add", "10.80.0.22/24", "dev", "eth1"]);
    ip(&b, &["link", "set", "eth1", "up"]);
    ip(&b, &["route", "add", "224.0.0.0/4", "dev", "eth1"]);
    alice.expect(5, "bob on his new interface", |e| {
        at(e, "bob@hostb", &["10.80.0.22"])
    });
    goes_on(alice, bob, changed.elapsed());
}

/// Bob's cable out for 5 s: what Alice sends meanwhile is never reported `sent` (its
/// bytes are never acknowledged; it ends in `send_failed` once retried), and Bob's status
/// changed in the dark reaches her within 2 s of the cable going back in (RFC 6762 §8.3:
/// he announces again on link-up). Then the conversation goes on.
#[test]
fn a_cable_out_loses_no_message_silently_and_bob_announces_again_when_it_is_back() {
    let Some(lab) = Lab::new("co") else { return };
    let (mut alice, mut bob) = talking(&lab, &[]);
    // Alice's browser asks the link at 0, 1, 3, 7, 15, 31 s… after her start,
    // and Bob's answers would carry his new status too: the cable goes back in between
    // two of those (about 20 s), so that only Bob's own announcement can tell her.
    std::thread::sleep(Duration::from_secs(12));
    let br = lab.hosts.ns("br");
    let cable = format!("v{}bo", lab.hosts.ns(""));
    ip(&br, &["link", "set", &cable, "down"]);
    let names = ["alice@hosta", "bob@hostb"];
    let mut dark = Ledger::default();
    dark.send(&mut [&mut alice, &mut bob], 0, names[1], "in-the-dark");
    std::thread::sleep(Duration::from_secs(1));
    bob.command(json!({"cmd": "status", "status": "away", "msg": "unplugged"}));
    std::thread::sleep(Duration::from_secs(4));
    let plugged = Instant::now();
    ip(&br, &["link", "set", &cable, "up"]);
    alice.expect(5, "bob's status from the dark", |e| {
        is(e, "peer_changed") && e["peer"] == "bob@hostb" && e["msg"] == "unplugged"
    });
    let learned = plugged.elapsed();
    eprintln!("re-announced after {learned:?}");
    // Sent while nothing could arrive: a failure, said aloud, or (if the retry came after
    // the cable was back) a delivery; never a `sent` without the message.
    let _ = dark.settle(&mut [&mut alice, &mut bob], &names, 20);
    let mut after = Ledger::default();
    after.send(&mut [&mut alice, &mut bob], 0, names[1], "after-a");
    after.send(&mut [&mut alice, &mut bob], 1, names[0], "after-b");
    let delivered = after.settle(&mut [&mut alice, &mut bob], &names, 20);
    assert_eq!(
        delivered.len(),
        2,
        "both messages after the cable is back arrive"
    );
    assert!(
        learned < Duration::from_secs(2),
        "re-announced after {learned:?}"
    );
    quit_all([&mut alice, &mut bob]);
}

/// Bob starts with his cable out and plugs in 20 s later, on a link where Alice has been
/// browsing all along (her queries backed off to 16 s apart): he announces (probing the
/// link first), she sees him, and he finds her within 2 s too, because a link that comes
/// starts his browse over at once instead of at his next backed-off query.
#[test]
fn a_node_that_arrives_on_a_link_finds_who_is_there_at_once() {
    let Some(lab) = Lab::new("ar") else { return };
    ipv4_only(&lab, &["a", "b"]);
    let b = lab.hosts.ns("b");
    ip(&b, &["link", "set", "eth0", "down"]);
    let mut alice = ChatNode::start(&lab, "a", "alice", &[]);
    let mut bob = ChatNode::start(&lab, "b", "bob", &[]);
    alice.expect(10, "ready", |e| is(e, "ready"));
    std::thread::sleep(Duration::from_secs(20));
    let plugged = Instant::now();
    ip(&b, &["link", "set", "eth0", "up"]);
    ip(&b, &["route", "add", "224.0.0.0/4", "dev", "eth0"]);
    bob.expect(5, "alice, found", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });
    let found = plugged.elapsed();
    alice.expect(5, "bob, announced", |e| at(e, "bob@hostb", &["10.80.0.2"]));
    let announced = plugged.elapsed();
    eprintln!("bob found alice after {found:?}; alice saw bob after {announced:?}");
    assert!(
        found < Duration::from_secs(2),
        "bob found alice after {found:?}"
    );
    assert!(
        announced < Duration::from_secs(2),
        "alice saw bob after {announced:?}"
    );
    quit_all([&mut alice, &mut bob]);
}

/// Another program holds UDP 5353 on Bob's host without sharing it, for six seconds: Bob
/// says at once that he cannot use mDNS on his link (before, he said nothing and heard
/// nothing), and once the port is free he opens it at the next interface recheck and
/// finds Alice, and she him.
#[test]
fn a_node_that_cannot_open_port_5353_says_so_and_joins_once_it_can() {
    let Some(lab) = Lab::new("pt") else { return };
    ipv4_only(&lab, &["a", "b"]);
    let mut holder = netlab::in_namespace(&lab.hosts.ns("b"), "python3")
        .args([
            "-c",
            "import socket, sys, time\n\
             s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             s.bind(('0.0.0.0', 5353))\n\
             print('bound', flush=True)\n\
             time.sleep(6)",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut bound = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut bound,
    )
    .unwrap();
    assert_eq!(bound.trim(), "bound");
    let mut alice = ChatNode::start(&lab, "a", "alice", &[]);
    let mut bob = ChatNode::start(&lab, "b", "bob", &[]);
    let error = bob.expect(5, "an error naming the link", |e| is(e, "error"));
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("cannot use mDNS on eth0 (IPv4, port 5353)") && message.contains("in use"),
        "{message}"
    );
    assert!(holder.wait().unwrap().success());
    let freed = Instant::now();
    // Opened at the next recheck (every 5 s), then browsed, probed and announced at once.
    bob.expect(10, "alice, found", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });
    alice.expect(5, "bob, announced", |e| {
        is(e, "peer_online") && e["peer"] == "bob@hostb"
    });
    let joined = freed.elapsed();
    eprintln!("bob and alice saw each other {joined:?} after the port was free");
    // At most one recheck period (5 s) plus a probe and an announcement (~1 s) with the
    // rejoin; without it bob's browse waits for its query at 15 s after his start (9 s
    // after the port was free) and alice hears of him no sooner. 8 s keeps both margins.
    assert!(joined < Duration::from_secs(8), "{joined:?}");
    assert_eq!(
        bob.seen.iter().filter(|e| is(e, "error")).count(),
        1,
        "one error, not one per recheck: {:#?}",
        bob.seen
    );
    quit_all([&mut alice, &mut bob]);
}

/// Bob's host leaves without a word (its cable out for good) while Alice writes to him
/// over an open stream: the bytes are never acknowledged, the stream is given up after
/// the ack timeout (5 s), the message is tried once more on a fresh connection, and ends
/// in `send_failed`, never in `sent`.
#[test]
fn a_peer_gone_without_a_word_gets_no_message_reported_sent() {
    let Some(lab) = Lab::new("gw") else { return };
    let (mut alice, mut bob) = talking(&lab, &[]);
    let cable = format!("v{}bo", lab.hosts.ns(""));
    ip(&lab.hosts.ns("br"), &["link", "set", &cable, "down"]);
    let asked = Instant::now();
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "anyone?", "id": "gone"}));
    let outcome = alice.expect(20, "the outcome", |e| {
        (is(e, "sent") || is(e, "send_failed")) && e["id"] == "gone"
    });
    assert!(is(&outcome, "send_failed"), "{outcome}");
    // The ack timeout, then a connect timeout (5 s each), and not much more.
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(15),
        "{took:?}"
    );
    let _ = bob.child.kill();
    alice.quit();
}

/// Bob stopped (SIGSTOP) while Alice writes: his host's TCP still takes the bytes, so
/// they are `sent` (delivered to his host, as the contract says), and once he runs again
/// (SIGCONT) every one of them is read, in order.
#[test]
fn messages_to_a_stopped_peer_are_delivered_when_it_runs_again() {
    let Some(lab) = Lab::new("ss") else { return };
    let (mut alice, mut bob) = talking(&lab, &[]);
    let pid = bob.child.id().to_string();
    // `ip netns exec` runs llxmpp as its child: stop that one.
    let llxmpp = netlab::run("pgrep", &["-P", &pid]).unwrap_or(pid);
    let llxmpp = llxmpp.trim().to_owned();
    netlab::run("kill", &["-STOP", &llxmpp]).unwrap();
    let names = ["alice@hosta", "bob@hostb"];
    let mut ledger = Ledger::default();
    for n in 0..3 {
        ledger.send(
            &mut [&mut alice, &mut bob],
            0,
            names[1],
            &format!("stopped-{n}"),
        );
    }
    for n in 0..3 {
        alice.expect(15, "sent", |e| {
            is(e, "sent") && e["id"] == format!("stopped-{n}")
        });
    }
    netlab::run("kill", &["-CONT", &llxmpp]).unwrap();
    let delivered = ledger.settle(&mut [&mut alice, &mut bob], &names, 10);
    assert_eq!(delivered.len(), 3);
    let bodies: Vec<&str> = bob
        .seen
        .iter()
        .filter(|e| is(e, "message") && e["from"] == "alice@hosta")
        .filter_map(|e| e["body"].as_str())
        .filter(|b| b.contains("stopped"))
        .collect();
    assert_eq!(
        bodies,
        [
            "message stopped-0",
            "message stopped-1",
            "message stopped-2"
        ]
    );
    quit_all([&mut alice, &mut bob]);
}

/// Bob on two links (eth0 with Alice, eth1 with Carol, other subnets): each peer learns
/// only the address of its own link (RFC 6762 §15), and Bob chats with both, both ways.
#[test]
fn a_host_on_two_links_gives_each_link_its_own_address_and_chats_on_both() {
    let Some(lab) = Lab::new("tl") else { return };
    ipv4_only(&lab, &["a", "b", "c"]);
    let (b, c, br) = (lab.hosts.ns("b"), lab.hosts.ns("c"), lab.hosts.ns("br"));
    // Link 2: a bridge of its own, Carol's cable moved onto it, a second cable for Bob.
    let br2 = format!("{br}2");
    netlab::run("ip", &["netns", "add", &br2]).unwrap();
    let _link2 = DeleteOnDrop(br2.clone());
    ip(
        &br2,
        &[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ],
    );
    ip(&br2, &["link", "set", "br0", "up"]);
    let carols = format!("v{}co", lab.hosts.ns(""));
    ip(&br, &["link", "set", &carols, "netns", &br2]);
    ip(&br2, &["link", "set", &carols, "master", "br0"]);
    ip(&br2, &["link", "set", &carols, "up"]);
    ip(&c, &["addr", "flush", "dev", "eth0"]);
    ip(&c, &["addr", "add", "10.81.0.3/24", "dev", "eth0"]);
    let bobs = format!("{b}2");
    netlab::run(
        "ip",
        &[
            "link", "add", "eth1", "netns", &b, "type", "veth", "peer", "name", &bobs, "netns",
            &br2,
        ],
    )
    .unwrap();
    ip(&br2, &["link", "set", &bobs, "master", "br0"]);
    ip(&br2, &["link", "set", &bobs, "up"]);
    ip(&b, &["addr", "add", "10.81.0.2/24", "dev", "eth1"]);
    ip(&b, &["link", "set", "eth1", "up"]);

    let mut alice = ChatNode::start(&lab, "a", "alice", &[]);
    let mut bob = ChatNode::start(&lab, "b", "bob", &["--interface", "eth1"]);
    let mut carol = ChatNode::start(&lab, "c", "carol", &[]);
    alice.expect(10, "bob at his link-1 address", |e| {
        at(e, "bob@hostb", &["10.80.0.2"])
    });
    carol.expect(10, "bob at his link-2 address", |e| {
        at(e, "bob@hostb", &["10.81.0.2"])
    });
    bob.expect(10, "alice", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });
    bob.expect(10, "carol", |e| {
        is(e, "peer_online") && e["peer"] == "carol@hostc"
    });
    let names = ["alice@hosta", "bob@hostb", "carol@hostc"];
    let mut ledger = Ledger::default();
    let mut nodes = [&mut alice, &mut bob, &mut carol];
    ledger.send(&mut nodes, 1, names[0], "bob-to-alice");
    ledger.send(&mut nodes, 1, names[2], "bob-to-carol");
    ledger.send(&mut nodes, 0, names[1], "alice-to-bob");
    ledger.send(&mut nodes, 2, names[1], "carol-to-bob");
    let delivered = ledger.settle(&mut nodes, &names, 20);
    assert_eq!(delivered.len(), 4, "every message on both links arrives");
    // Nobody ever heard the other link's address.
    for (node, other) in [(&alice, "10.81.0.2"), (&carol, "10.80.0.2")] {
        assert!(
            !node.seen.iter().any(|e| e["peer"] == "bob@hostb"
                && e["addresses"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|v| v == other))),
            "{other} reached the other link"
        );
    }
    quit_all([&mut alice, &mut bob, &mut carol]);
}

/// Removes a network namespace when dropped.
struct DeleteOnDrop(String);

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        let _ = netlab::run("ip", &["netns", "del", &self.0]);
    }
}
