//! Wide-area presence end to end: two `llxmpp chat --json` nodes on two links joined by
//! a router that passes no multicast (network namespaces of the test's), a real BIND 9
//! on the router serving the zone. They find each other only through the zone, chat both
//! ways across the router, see a status change, and each other leave (a quit whose first
//! removal is lost sends it again before it exits); a wrong key and an open key file are
//! refused with the cause.

mod common;

use std::path::PathBuf;

use common::{is, netlab, ChatNode};
use serde_json::json;

const ZONE: &str = "example.test";

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("wide-{name}-{}", std::process::id()))
}

/// The two links, the router and its named; `None` where they cannot be made here.
fn network(tag: &str, net: u8) -> Option<(netlab::Routed, netlab::Bind)> {
    if !netlab::bind_for_tests() {
        return None;
    }
    let prefix = format!("w{tag}{}", std::process::id() % 100_000);
    let routed = match netlab::Routed::new(&prefix, net) {
        Ok(routed) => routed,
        Err(e) => {
            eprintln!("\n!!! WIDE-AREA TESTS NOT RUN: cannot make network namespaces: {e}\n");
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the wide-area tests"
            );
            return None;
        }
    };
    let (left, right) = (format!("10.{net}.1.254"), format!("10.{net}.2.254"));
    let named = netlab::Bind::start(
        Some(&routed.ns("r")),
        &dir(&format!("{tag}-bind")),
        ZONE,
        &[&left, &right],
        53,
        true,
        &[],
    )
    .expect("named starts on the router");
    Some((routed, named))
}

/// `llxmpp chat --json` as `name@host<side>` on side `a` or `b`, asking that side's
/// address of the router.
fn node(routed: &netlab::Routed, net: u8, side: &str, name: &str, extra: &[&str]) -> ChatNode {
    let server = format!("10.{net}.{}.254", if side == "a" { 1 } else { 2 });
    let mut command = netlab::in_namespace(&routed.ns(side), env!("CARGO_BIN_EXE_llxmpp"));
    command.args(netlab::chat_args(name, side));
    command.args(["--domain", ZONE, "--dns-server", &server]);
    command.args(extra);
    ChatNode::spawn(command, &format!("{name}-wide"))
}

fn dig(routed: &netlab::Routed, net: u8, name: &str, rtype: &str) -> String {
    let output = netlab::in_namespace(&routed.ns("a"), "dig")
        .args([&format!("@10.{net}.1.254"), "+short", name, rtype])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn two_nodes_on_different_links_find_each_other_in_the_zone_and_chat() {
    const NET: u8 = 86;
    let Some((routed, named)) = network("c", NET) else {
        return;
    };
    let key = named.key_file.to_str().unwrap();
    // Timers shortened: a poll a second, a life check every 2 s.
    let fast = ["--tsig-key", key, "--zone-poll", "1", "--zone-check", "2"];
    let mut alice = node(&routed, NET, "a", "alice", &fast);
    let mut bob = node(&routed, NET, "b", "bob", &fast);
    let registered = alice.expect(15, "alice registered", |e| is(e, "registered"));
    assert_eq!(registered["domain"], ZONE);
    assert_eq!(registered["instance"], "alice@hosta");
    bob.expect(15, "bob registered", |e| is(e, "registered"));
    // The zone holds her, as any DNS client sees it.
    let srv = dig(
        &routed,
        NET,
        "alice\\@hosta._presence._tcp.example.test",
        "SRV",
    );
    assert!(srv.contains("hosta-llxmpp.example.test."), "{srv}");

    // No multicast crosses the router: each finds the other in the zone.
    let seen = alice.expect(25, "bob online", |e| {
        is(e, "peer_online") && e["peer"] == "bob@hostb"
    });
    assert_eq!(seen["addresses"], json!([format!("10.{NET}.2.1")]));
    bob.expect(25, "alice online", |e| {
        is(e, "peer_online") && e["peer"] == "alice@hosta"
    });

    alice.command(
        json!({"cmd": "send", "to": "bob@hostb", "body": "across the router", "id": "a1"}),
    );
    bob.expect(10, "alice's message", |e| {
        is(e, "message") && e["body"] == "across the router" && e["from"] == "alice@hosta"
    });
    alice.expect(10, "a1 sent", |e| is(e, "sent") && e["id"] == "a1");
    bob.command(json!({"cmd": "send", "to": "alice@hosta", "body": "and back", "id": "b1"}));
    alice.expect(10, "bob's answer", |e| {
        is(e, "message") && e["body"] == "and back" && e["from"] == "bob@hostb"
    });

    // A status change crosses through the zone.
    bob.command(json!({"cmd": "status", "status": "dnd", "msg": "in the lab"}));
    alice.expect(25, "bob's status", |e| {
        is(e, "peer_changed") && e["peer"] == "bob@hostb" && e["status"] == "dnd"
    });

    // Erin is killed without a goodbye: the life checks remove her from the zone, and
    // so from Alice's roster.
    let mut erin = node(&routed, NET, "b", "erin", &fast);
    erin.expect(15, "erin registered", |e| is(e, "registered"));
    alice.expect(15, "erin online", |e| {
        is(e, "peer_online") && e["peer"] == "erin@hostb"
    });
    erin.child.kill().unwrap();
    let _ = erin.child.wait();
    alice.expect(30, "erin offline", |e| {
        is(e, "peer_offline") && e["peer"] == "erin@hostb"
    });
    let ptrs = dig(&routed, NET, "_presence._tcp.example.test", "PTR");
    assert!(!ptrs.contains("erin"), "{ptrs}");

    // Dave, who talks to no one, quits while the router drops the updates he sends to
    // the server, until it has dropped one: the update that removes his records is lost
    // once, and he sends it again (a second later) before he exits. His records are gone
    // the moment he has exited, before Alice's life checks (two failed connections 2 s
    // apart) could have removed them.
    let mut dave = node(&routed, NET, "b", "dave", &fast);
    dave.expect(15, "dave registered", |e| is(e, "registered"));
    let router = routed.ns("r");
    let nft = move |rule: &str| {
        let output = netlab::in_namespace(&router, "nft")
            .args(rule.split(' '))
            .output()
            .expect("nft (CI installs nftables)");
        assert!(output.status.success(), "nft {rule}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    nft("add table ip lossy");
    nft("add chain ip lossy input { type filter hook input priority 0 ; }");
    // DNS UPDATEs only (opcode 5, the four bits after the QR bit of the header's third
    // byte), from side b.
    nft(&format!(
        "add rule ip lossy input ip saddr 10.{NET}.2.1 udp dport 53 @th,81,4 5 counter drop"
    ));
    // Lifted as soon as the counter shows a drop (not after a fixed time, which a slow
    // Dave or a slow nft could miss either way); if none comes, the assertion below says so.
    let lift = std::thread::spawn(move || {
        let mut counted = String::new();
        let _ = netlab::wait_for(
            || {
                counted = nft("list table ip lossy");
                !counted.contains("packets 0 ")
            },
            "a dropped update",
        );
        nft("delete table ip lossy");
        counted
    });
    dave.quit();
    let ptrs = dig(&routed, NET, "_presence._tcp.example.test", "PTR");
    let counted = lift.join().unwrap();
    assert!(
        !counted.contains("packets 0 "),
        "no update was dropped: {counted}"
    );
    assert!(!ptrs.contains("dave"), "{ptrs}");

    // Bob quits: his records leave the zone, and Alice's roster.
    bob.quit();
    let ptrs = dig(&routed, NET, "_presence._tcp.example.test", "PTR");
    assert!(!ptrs.contains("bob"), "{ptrs}");
    alice.expect(25, "bob offline", |e| {
        is(e, "peer_offline") && e["peer"] == "bob@hostb"
    });
    assert!(ptrs.contains("alice"), "{ptrs}");
    alice.quit();
}

#[test]
fn a_wrong_key_is_one_error_with_the_cause_and_an_open_key_file_is_refused() {
    const NET: u8 = 87;
    let Some((routed, _named)) = network("k", NET) else {
        return;
    };
    let folder = dir("keys");
    std::fs::create_dir_all(&folder).unwrap();
    let wrong = folder.join("wrong.key");
    std::fs::write(
        &wrong,
        "key \"llxmpp-test.\" {\n\talgorithm hmac-sha256;\n\tsecret \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\";\n};\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut carol = node(
        &routed,
        NET,
        "a",
        "carol",
        &["--tsig-key", wrong.to_str().unwrap()],
    );
    let error = carol.expect(20, "the refusal", |e| is(e, "error"));
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("BADSIG") && message.contains(ZONE),
        "{message}"
    );
    // Nothing of hers in the zone, and she is on her link all the same.
    carol.expect(10, "ready", |e| is(e, "ready"));
    assert!(!carol.seen.iter().any(|e| is(e, "registered")));
    let ptrs = dig(&routed, NET, "_presence._tcp.example.test", "PTR");
    assert!(!ptrs.contains("carol"), "{ptrs}");
    carol.quit();

    // A key file others may read is refused before anything starts.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let output = netlab::in_namespace(&routed.ns("a"), env!("CARGO_BIN_EXE_llxmpp"))
        .args(netlab::chat_args("dave", "a"))
        .args(["--domain", ZONE, "--tsig-key", wrong.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("chmod 600"), "{said}");
}

#[test]
fn an_unreachable_server_and_a_domain_nobody_serves_are_each_an_error_naming_them() {
    const NET: u8 = 89;
    let Some((routed, named)) = network("u", NET) else {
        return;
    };
    let key = named.key_file.to_str().unwrap();
    let start = |name: &str, domain: &str, server: &str| {
        let mut command = netlab::in_namespace(&routed.ns("a"), env!("CARGO_BIN_EXE_llxmpp"));
        command.args(netlab::chat_args(name, "a"));
        command.args([
            "--domain",
            domain,
            "--dns-server",
            server,
            "--tsig-key",
            key,
        ]);
        ChatNode::spawn(command, &format!("{name}-wide"))
    };
    // Nothing answers at this address of the link.
    let mut frank = start("frank", ZONE, &format!("10.{NET}.1.77"));
    let error = frank.expect(20, "the unreachable server", |e| is(e, "error"));
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("no answer") && message.contains(ZONE),
        "{message}"
    );
    frank.expect(10, "ready on the link all the same", |e| is(e, "ready"));
    frank.quit();
    // The server serves no such zone: it refuses, and the user is told which.
    let mut gina = start("gina", "nowhere.test", &format!("10.{NET}.1.254"));
    let error = gina.expect(20, "the refusal", |e| {
        is(e, "error") && e["message"].as_str().unwrap().contains("update server")
    });
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("nowhere.test") && message.contains("REFUSED"),
        "{message}"
    );
    assert!(!gina.seen.iter().any(|e| is(e, "registered")));
    gina.quit();
}
