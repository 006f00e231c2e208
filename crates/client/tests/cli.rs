//! The `llxmpp` binary end to end, as scripts use it (docs/CONTRACT.md): nodes on
//! three hosts (network namespaces this test makes, joined by a bridge) discover each
//! other, chat both ways, see status changes and quits; `send` and `peers` work one-shot.
//! It needs root and iproute2, which CI has.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

use common::{alice_and_bob, is, netlab, quit_all, ChatNode, Lab};

/// Opens a TCP connection from `host` to `to` (`ip:port`), writes each part (a pause
/// between them), and returns everything read until the node closes the connection.
fn raw_stream(lab: &Lab, host: &str, to: &str, parts: &[&str]) -> String {
    let (ip, port) = to.rsplit_once(':').unwrap();
    let parts = serde_json::to_string(parts).unwrap();
    let script = format!(
        "import json,socket,sys,time\n\
         s=socket.create_connection(('{ip}',{port}),timeout=10)\n\
         for part in json.loads({parts:?}):\n    s.sendall(part.encode())\n    time.sleep(0.3)\n\
         data=b''\n\
         while True:\n    chunk=s.recv(4096)\n    if not chunk: break\n    data+=chunk\n\
         sys.stdout.write(data.decode())\n"
    );
    let raw = netlab::in_namespace(&lab.hosts.ns(host), "/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        raw.status.success(),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    String::from_utf8_lossy(&raw.stdout).into_owned()
}

#[test]
fn three_nodes_discover_chat_change_status_and_quit() {
    let Some(lab) = Lab::new("t") else { return };
    let mut alice = ChatNode::start(&lab, "a", "alice", &[]);
    let mut bob = ChatNode::start(&lab, "b", "bob", &["--status", "away", "--msg", "at lunch"]);
    let mut carol = ChatNode::start(&lab, "c", "carol", &["--nick", "caz"]);
    for node in [&mut alice, &mut bob, &mut carol] {
        let ready = node.expect(10, "ready", |e| is(e, "ready"));
        assert_eq!(ready["port"], 5298);
    }
    // Discovery both ways, with presence. A user's "away" is published as dnd.
    let bob_seen = alice.expect(10, "bob online", |e| {
        is(e, "peer_online") && e["peer"] == "bob@hostb"
    });
    assert_eq!(
        (
            bob_seen["status"].as_str(),
            bob_seen["msg"].as_str(),
            bob_seen["first"].as_str()
        ),
        (Some("dnd"), Some("at lunch"), Some("Test"))
    );
    // His IPv4 address, and his IPv6 link-local one (the link has both).
    let addresses: Vec<&str> = bob_seen["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(addresses.contains(&"10.80.0.2"), "{addresses:?}");
    assert!(
        addresses.iter().any(|a| a.starts_with("fe80:")),
        "{addresses:?}"
    );
    assert!(
        addresses
            .iter()
            .all(|a| *a == "10.80.0.2" || a.starts_with("fe80:")),
        "{addresses:?}"
    );
    bob.expect(10, "alice online", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });
    let caz = alice.expect(10, "carol online", |e| {
        is(e, "peer_online") && e["peer"] == "carol@hostc"
    });
    assert_eq!(caz["nick"], "caz");
    carol.expect(10, "bob online", |e| {
        is(e, "peer_online") && e["peer"] == "bob@hostb"
    });

    // Messages both ways, markup and UTF-8 intact; every send ends in `sent`.
    let text = "hi <b>bob</b> & é ✓ \"quoted\"";
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": text, "id": "a1"}));
    let got = bob.expect(10, "alice's message", |e| is(e, "message"));
    assert_eq!(
        (got["from"].as_str(), got["body"].as_str()),
        (Some("alice@hosta"), Some(text))
    );
    alice.expect(10, "sent a1", |e| {
        is(e, "sent") && e["id"] == "a1" && e["to"] == "bob@hostb"
    });
    bob.command(json!({"cmd": "send", "to": "alice@hosta", "body": "hello back", "id": "b1"}));
    let back = alice.expect(10, "bob's reply", |e| {
        is(e, "message") && e["from"] == "bob@hostb"
    });
    assert_eq!(back["body"], "hello back");
    bob.expect(10, "sent b1", |e| is(e, "sent") && e["id"] == "b1");
    let long = "x".repeat(3000);
    carol.command(json!({"cmd": "send", "to": "alice@hosta", "body": long, "id": "c1"}));
    let carols = alice.expect(10, "carol's long message", |e| {
        is(e, "message") && e["from"] == "carol@hostc"
    });
    assert_eq!(carols["body"].as_str().map(str::len), Some(3000));

    // A send to nobody fails, once.
    alice.command(json!({"cmd": "send", "to": "nobody@nowhere", "body": "?", "id": "a2"}));
    alice.expect(5, "send_failed a2", |e| {
        is(e, "send_failed") && e["id"] == "a2"
    });

    // A status change reaches the others.
    bob.command(json!({"cmd": "status", "status": "avail", "msg": "back"}));
    let changed = alice.expect(10, "bob's new status", |e| {
        is(e, "peer_changed") && e["peer"] == "bob@hostb" && e["msg"] == "back"
    });
    assert_eq!(changed["status"], "avail");

    // The roster on demand.
    alice.command(json!({"cmd": "peers"}));
    let peers = alice.expect(5, "peers", |e| is(e, "peers"));
    let mut names: Vec<&str> = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["peer"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["bob@hostb", "carol@hostc"]);

    // Bob quits: goodbyes, so the others see him offline within about a second.
    let quit_at = Instant::now();
    bob.quit();
    alice.expect(5, "bob offline", |e| {
        is(e, "peer_offline") && e["peer"] == "bob@hostb"
    });
    assert!(
        quit_at.elapsed() < Duration::from_secs(3),
        "offline after {:?}",
        quit_at.elapsed()
    );

    // Bad commands are errors, not crashes.
    writeln!(alice.stdin, "not json").unwrap();
    alice.stdin.flush().unwrap();
    alice.expect(5, "error", |e| is(e, "error"));
    quit_all([&mut alice, &mut carol]);
}

#[test]
fn send_and_peers_are_one_shot_commands() {
    let Some(lab) = Lab::new("o") else { return };
    let mut bob = ChatNode::start(&lab, "b", "bob", &[]);
    bob.expect(10, "ready", |e| is(e, "ready"));
    let output = lab
        .command(
            "a",
            &[
                "send",
                "bob@hostb",
                "one shot",
                "--name",
                "alice",
                "--host",
                "hosta",
                "--interface",
                "eth0",
            ],
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got = bob.expect(10, "the one-shot message", |e| is(e, "message"));
    assert_eq!(
        (got["from"].as_str(), got["body"].as_str()),
        (Some("alice@hosta"), Some("one shot"))
    );
    // Nobody called carol is on the link: exit status 1.
    let output = lab
        .command(
            "a",
            &[
                "send",
                "carol@hostc",
                "?",
                "--name",
                "alice",
                "--host",
                "hosta",
                "--interface",
                "eth0",
                "--wait",
                "2",
            ],
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    // `peers` browses and prints the roster.
    let output = lab
        .command(
            "c",
            &["peers", "--json", "--wait", "3", "--interface", "eth0"],
        )
        .output()
        .unwrap();
    let peers: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(peers["event"], "peers");
    assert_eq!(peers["peers"][0]["peer"], "bob@hostb");
    bob.quit();
}

#[test]
fn both_sides_opening_streams_at_once_lose_nothing() {
    let Some(lab) = Lab::new("r") else { return };
    let (mut alice, mut bob) = alice_and_bob(&lab);
    // Both connect to each other at the same moment: two streams between one pair.
    for n in 0..5 {
        alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": format!("a{n}"), "id": format!("a{n}")}));
        bob.command(json!({"cmd": "send", "to": "alice@hosta", "body": format!("b{n}"), "id": format!("b{n}")}));
    }
    for n in 0..5 {
        bob.expect(10, "alice's message", |e| {
            is(e, "message") && e["body"] == format!("a{n}")
        });
        alice.expect(10, "bob's message", |e| {
            is(e, "message") && e["body"] == format!("b{n}")
        });
        alice.expect(10, "sent", |e| is(e, "sent") && e["id"] == format!("a{n}"));
        bob.expect(10, "sent", |e| is(e, "sent") && e["id"] == format!("b{n}"));
    }
    for node in [&alice, &bob] {
        assert!(
            !node.seen.iter().any(|e| is(e, "send_failed")),
            "{:#?}",
            node.seen
        );
    }
    quit_all([&mut alice, &mut bob]);
}

#[test]
fn a_peer_sending_bad_xml_gets_a_stream_error_and_the_node_carries_on() {
    let Some(lab) = Lab::new("x") else { return };
    let (mut alice, mut bob) = alice_and_bob(&lab);
    // From bob's host (an address alice knows), a raw stream that turns hostile.
    let answer = raw_stream(
        &lab,
        "b",
        "10.80.0.1:5298",
        &[
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='bob@hostb' to='alice@hosta'>",
            "<message><!-- hostile --></message>",
        ],
    );
    assert!(
        answer.contains("<restricted-xml xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"),
        "{answer}"
    );
    assert!(answer.ends_with("</stream:stream>"), "{answer}");
    // The node and bob's real stream go on.
    bob.command(json!({"cmd": "send", "to": "alice@hosta", "body": "still there?", "id": "b1"}));
    alice.expect(10, "bob's message", |e| {
        is(e, "message") && e["body"] == "still there?"
    });
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "yes", "id": "a1"}));
    bob.expect(10, "alice's answer", |e| {
        is(e, "message") && e["body"] == "yes"
    });
    quit_all([&mut alice, &mut bob]);
}

#[test]
fn typing_reaches_a_peer_that_asked_for_it() {
    let Some(lab) = Lab::new("y") else { return };
    let (mut alice, mut bob) = alice_and_bob(&lab);
    // Bob's message asks for XEP-0022 events, as every llxmpp message does.
    bob.command(json!({"cmd": "send", "to": "alice@hosta", "body": "hi", "id": "b1"}));
    alice.expect(10, "bob's message", |e| is(e, "message"));
    alice.command(json!({"cmd": "typing", "to": "bob@hostb", "state": "composing"}));
    let typing = bob.expect(10, "typing", |e| is(e, "typing"));
    assert_eq!(
        (typing["from"].as_str(), typing["state"].as_str()),
        (Some("alice@hosta"), Some("composing"))
    );
    assert!(
        !bob.seen
            .iter()
            .any(|e| is(e, "message") && e["from"] == "alice@hosta"),
        "a notification is never a message"
    );
    quit_all([&mut alice, &mut bob]);
}

/// XEP-0085 §5.1: another llxmpp's caps (its TXT `ver`) say it takes chat states, so the
/// first keystroke of a conversation reaches it, before either side has written: a stream
/// is opened for it. Then paused, on the same stream.
#[test]
fn typing_opens_a_conversation_with_a_peer_whose_caps_take_chat_states() {
    let Some(lab) = Lab::new("k") else { return };
    let (mut alice, mut bob) = alice_and_bob(&lab);
    alice.command(json!({"cmd": "typing", "to": "bob@hostb", "state": "composing"}));
    let typing = bob.expect(10, "composing", |e| is(e, "typing"));
    assert_eq!(
        (typing["from"].as_str(), typing["state"].as_str()),
        (Some("alice@hosta"), Some("composing"))
    );
    alice.command(json!({"cmd": "typing", "to": "bob@hostb", "state": "paused"}));
    bob.expect(10, "paused", |e| is(e, "typing") && e["state"] == "paused");
    assert!(!bob.seen.iter().any(|e| is(e, "message")));
    quit_all([&mut alice, &mut bob]);
}

/// Files alice's outcome for one of the test's messages (ids `m…`): sent, or failed with
/// its reason.
fn record_outcome(event: &Value, sent: &mut BTreeSet<String>, failed: &mut Vec<(String, String)>) {
    let id = event["id"].as_str().unwrap_or_default().to_owned();
    if !id.starts_with('m') {
        return;
    }
    if is(event, "sent") {
        assert!(sent.insert(id), "two outcomes for one message");
    } else if is(event, "send_failed") {
        let reason = event["reason"].as_str().unwrap_or_default().to_owned();
        failed.push((id, reason));
    }
}

#[test]
fn a_peer_that_stops_reading_makes_sends_wait_or_fail_clearly_and_none_vanish() {
    let Some(lab) = Lab::new("s") else { return };
    let (mut alice, mut bob) = alice_and_bob(&lab);
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "first", "id": "first"}));
    bob.expect(10, "the first message", |e| is(e, "message"));
    alice.expect(10, "sent first", |e| is(e, "sent") && e["id"] == "first");
    // Bob's process stops: nothing reads his socket any more.
    let bob_pid = bob.child.id().to_string();
    let signal = |which: &str| {
        assert!(Command::new("kill")
            .args([which, &bob_pid])
            .status()
            .unwrap()
            .success());
    };
    signal("-STOP");
    // 32 MB for him: more than both kernels' socket buffers, the loop's queue and what
    // alice holds for a slow peer.
    let total = 8000;
    let body = "y".repeat(4000);
    for i in 0..total {
        alice.command(
            json!({"cmd": "send", "to": "bob@hostb", "body": body, "id": format!("m{i}")}),
        );
    }
    let mut sent = BTreeSet::new();
    let mut failed = Vec::new();
    // While he is stopped, the sends past what can wait fail at once, with the reason.
    let deadline = Instant::now() + Duration::from_secs(30);
    while failed.is_empty() && Instant::now() < deadline {
        if let Ok(event) = alice.events.recv_timeout(Duration::from_millis(100)) {
            record_outcome(&event, &mut sent, &mut failed);
        }
    }
    signal("-CONT");
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent.len() + failed.len() < total && Instant::now() < deadline {
        if let Ok(event) = alice.events.recv_timeout(Duration::from_millis(100)) {
            record_outcome(&event, &mut sent, &mut failed);
        }
    }
    assert_eq!(
        sent.len() + failed.len(),
        total,
        "every send has one outcome"
    );
    assert!(!failed.is_empty());
    for (id, reason) in &failed {
        assert!(reason.contains("is not reading"), "{id}: {reason}");
        assert!(!sent.contains(id), "{id} both sent and failed");
    }
    // Everything reported sent reached bob, once: the connection was never torn down.
    let mut received = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.len() < sent.len() && Instant::now() < deadline {
        if let Ok(event) = bob.events.recv_timeout(Duration::from_millis(100)) {
            if is(&event, "message") {
                let id = event["id"].as_str().unwrap_or_default().to_owned();
                assert!(received.insert(id), "a message arrived twice");
            }
        }
    }
    assert_eq!(received, sent);
    quit_all([&mut alice, &mut bob]);
}

#[test]
fn on_a_link_with_only_ipv6_link_local_addresses_nodes_find_each_other_and_chat() {
    let Some(lab) = Lab::new("6") else { return };
    for host in ["a", "b"] {
        let ns = lab.hosts.ns(host);
        // No IPv4 on the link: only the fe80:: address the kernel gives eth0.
        netlab::run("ip", &["-n", &ns, "-4", "addr", "flush", "dev", "eth0"]).unwrap();
        netlab::wait_for(
            || {
                netlab::run("ip", &["-n", &ns, "-6", "addr", "show", "dev", "eth0"])
                    .is_ok_and(|out| out.contains("fe80:") && !out.contains("tentative"))
            },
            "an IPv6 link-local address",
        )
        .unwrap();
    }
    let (mut alice, mut bob) = alice_and_bob(&lab);
    let bob_seen = alice.expect(1, "bob online", |e| {
        is(e, "peer_online") && e["peer"] == "bob@hostb"
    });
    let addresses = bob_seen["addresses"].as_array().unwrap();
    // Link-local, with the zone (eth0's index) that makes it usable: `fe80::…%N`.
    assert!(
        !addresses.is_empty()
            && addresses.iter().all(|a| a.as_str().is_some_and(|a| {
                a.starts_with("fe80:")
                    && a.rsplit_once('%')
                        .is_some_and(|(_, zone)| zone.parse::<u32>().is_ok())
            })),
        "{addresses:?}"
    );
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "over IPv6", "id": "v6"}));
    let got = bob.expect(10, "alice's message", |e| is(e, "message"));
    assert_eq!(got["body"], "over IPv6");
    alice.expect(10, "sent v6", |e| is(e, "sent") && e["id"] == "v6");
    bob.command(json!({"cmd": "send", "to": "alice@hosta", "body": "back", "id": "b6"}));
    alice.expect(10, "bob's reply", |e| {
        is(e, "message") && e["body"] == "back"
    });
    quit_all([&mut alice, &mut bob]);
}

#[test]
fn an_avatar_published_by_one_node_is_seen_checked_and_read_by_another() {
    let Some(lab) = Lab::new("v") else { return };
    let image: Vec<u8> = (0..6000u32).map(|i| (i * 7 % 251) as u8).collect();
    let path = std::env::temp_dir().join(format!("llxmpp-avatar-{}.png", std::process::id()));
    std::fs::write(&path, &image).unwrap();
    let sha1 = sha1_smol::Sha1::from(&image).digest().to_string();
    let mut alice = ChatNode::start(&lab, "a", "alice", &["--avatar", path.to_str().unwrap()]);
    alice.expect(10, "ready", |e| is(e, "ready"));
    let mut bob = ChatNode::start(&lab, "b", "bob", &[]);
    let seen = bob.expect(10, "alice with her avatar", |e| {
        (is(e, "peer_online") || is(e, "peer_changed"))
            && e["peer"] == "alice@hosta"
            && e["avatar"].is_string()
    });
    assert_eq!(seen["avatar"], sha1.as_str());
    bob.command(json!({"cmd": "avatar", "peer": "alice@hosta"}));
    let avatar = bob.expect(10, "the avatar", |e| is(e, "avatar"));
    assert_eq!(avatar["sha1"], sha1.as_str());
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(avatar["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, image);
    // Alice has no avatar of bob's to give, and says so.
    alice.command(json!({"cmd": "avatar", "peer": "bob@hostb"}));
    let none = alice.expect(10, "no avatar", |e| is(e, "avatar"));
    assert_eq!(
        (none["peer"].as_str(), &none["data"]),
        (Some("bob@hostb"), &Value::Null)
    );
    quit_all([&mut alice, &mut bob]);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn an_avatar_too_large_for_one_mdns_packet_is_refused_with_the_reason() {
    let path = std::env::temp_dir().join(format!("llxmpp-big-avatar-{}.jpg", std::process::id()));
    std::fs::write(&path, vec![0u8; 9000]).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_llxmpp"))
        .args(["chat", "--name", "x", "--host", "y", "--avatar"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("9000 bytes") && stderr.contains("at most 8192"),
        "{stderr}"
    );
}

/// Two services on one address (a Mac with two accounts) and a stream that names neither
/// (iChat omits `from`): identified by its first stanza's `from` when it has one, refused
/// with a stream error the peer sees and an error event for the user when nothing names a
/// sender; a `from` that is not a peer at that address is refused too. Never silence.
#[test]
fn a_stream_from_a_shared_address_is_identified_by_its_stanza_or_refused_aloud() {
    let Some(lab) = Lab::new("m") else { return };
    let mut ann = ChatNode::start(&lab, "a", "ann", &[]);
    let mut amy = ChatNode::start(&lab, "a", "amy", &[]);
    let mut bea = ChatNode::start(&lab, "b", "bea", &[]);
    for peer in ["ann@hosta", "amy@hosta"] {
        bea.expect(10, peer, |e| is(e, "peer_online") && e["peer"] == peer);
    }
    const HEADER: &str = "<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='bea@hostb'>";

    // The first stanza names amy: the message is hers.
    raw_stream(
        &lab,
        "a",
        "10.80.0.2:5298",
        &[
            HEADER,
            "<message from='amy@hosta' type='chat'><body>from amy</body></message>",
            "</stream:stream>",
        ],
    );
    let message = bea.expect(10, "amy's message", |e| {
        is(e, "message") && e["body"] == "from amy"
    });
    assert_eq!(message["from"], "amy@hosta");

    // Nothing names the sender: the peer is told, and so is the user.
    let answer = raw_stream(
        &lab,
        "a",
        "10.80.0.2:5298",
        &[
            HEADER,
            "<message type='chat'><body>who am I?</body></message>",
        ],
    );
    assert!(
        answer.contains("<improper-addressing xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"),
        "{answer}"
    );
    assert!(answer.ends_with("</stream:stream>"), "{answer}");
    let error = bea.expect(10, "an error event", |e| is(e, "error"));
    let text = error["message"].as_str().unwrap();
    assert!(
        text.contains("10.80.0.1") && text.contains("amy@hosta") && text.contains("ann@hosta"),
        "{text}"
    );
    assert!(
        !bea.seen
            .iter()
            .any(|e| is(e, "message") && e["body"] == "who am I?"),
        "an unattributed message must not be reported as anyone's"
    );

    // A `from` that is not a peer at that address.
    let answer = raw_stream(
        &lab,
        "a",
        "10.80.0.2:5298",
        &[&HEADER.replace(" to=", " from='bea@hostb' to=")],
    );
    assert!(
        answer.contains("<invalid-from xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"),
        "{answer}"
    );
    bea.expect(10, "a second error event", |e| {
        is(e, "error") && e["message"].as_str().unwrap().contains("bea@hostb")
    });

    // Real streams from both services still work.
    ann.command(json!({"cmd": "send", "to": "bea@hostb", "body": "ann here", "id": "n1"}));
    amy.command(json!({"cmd": "send", "to": "bea@hostb", "body": "amy here", "id": "m1"}));
    for (body, from) in [("ann here", "ann@hosta"), ("amy here", "amy@hosta")] {
        let message = bea.expect(10, body, |e| is(e, "message") && e["body"] == body);
        assert_eq!(message["from"], from);
    }
    quit_all([&mut ann, &mut amy, &mut bea]);
}
