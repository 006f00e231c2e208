//! Encrypted links between two `llxmpp chat --json --encrypt prefer` nodes on hosts of
//! their own (network namespaces): the link carries no message text, keys are pinned on
//! first use, a changed key is refused loudly, and a peer without encryption still
//! chats in plaintext, reported as such.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{is, quit_all, ChatNode, Lab};
use serde_json::json;

fn folder(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("encryption-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn node(lab: &Lab, host: &str, name: &str, keys: &Path) -> ChatNode {
    ChatNode::start(
        lab,
        host,
        name,
        &["--encrypt", "prefer", "--keys", keys.to_str().unwrap()],
    )
}

fn online(node: &mut ChatNode, peer: &str) {
    node.expect(15, &format!("{peer} online"), |e| {
        is(e, "peer_online") && e["peer"] == peer
    });
}

/// tcpdump on host `host`'s link, writing every packet whole to `file`.
fn capture(lab: &Lab, host: &str, file: &Path) -> Child {
    let child = common::netlab::in_namespace(&lab.hosts.ns(host), "tcpdump")
        .args(["-i", "eth0", "--immediate-mode", "-U", "-s", "0", "-w"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("tcpdump (CI installs it)");
    std::thread::sleep(Duration::from_millis(500));
    child
}

fn stop(mut child: Child) {
    // What the kernel has captured reaches the file first.
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn two_encrypting_nodes_chat_with_no_text_on_the_link_and_a_changed_key_is_refused() {
    let Some(lab) = Lab::new("en") else { return };
    let (alice_keys, bob_keys) = (folder("alice"), folder("bob"));
    let pcap = folder("capture").join("link.pcap");
    let tcpdump = capture(&lab, "a", &pcap);
    let mut alice = node(&lab, "a", "alice", &alice_keys);
    let mut bob = node(&lab, "b", "bob", &bob_keys);
    online(&mut alice, "bob@hostb");
    online(&mut bob, "alice@hosta");

    alice.command(
        json!({"cmd": "send", "to": "bob@hostb", "body": "the password is swordfish", "id": "a1"}),
    );
    bob.expect(10, "alice's message", |e| {
        is(e, "message") && e["body"] == "the password is swordfish"
    });
    alice.expect(10, "a1 sent", |e| is(e, "sent") && e["id"] == "a1");
    bob.command(json!({"cmd": "send", "to": "alice@hosta", "body": "swordfish it is", "id": "b1"}));
    alice.expect(10, "bob's answer", |e| {
        is(e, "message") && e["body"] == "swordfish it is"
    });
    // Both learned the other's key, new: pinned on first use, and the key files are
    // the owner's alone.
    let link = alice.expect(10, "the link", |e| {
        is(e, "link") && e["peer"] == "bob@hostb"
    });
    assert_eq!(link["encrypted"], true);
    assert_eq!(link["key_status"], "new");
    let bob_key = link["key"].as_str().unwrap().to_owned();
    let link = bob.expect(10, "the link", |e| {
        is(e, "link") && e["peer"] == "alice@hosta"
    });
    assert_eq!(link["encrypted"], true);
    let known = std::fs::read_to_string(alice_keys.join("known_peers")).unwrap();
    assert!(
        known.contains(&format!("bob@hostb\t{bob_key}\tknown")),
        "{known}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(alice_keys.join("key.der"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The verification code is the same on both sides.
    alice.command(json!({"cmd": "code", "peer": "bob@hostb"}));
    bob.command(json!({"cmd": "code", "peer": "alice@hosta"}));
    let code_a = alice.expect(10, "the code", |e| is(e, "code"))["code"].clone();
    let code_b = bob.expect(10, "the code", |e| is(e, "code"))["code"].clone();
    assert_eq!(code_a, code_b);
    assert_eq!(code_a.as_str().unwrap().split(' ').count(), 8);
    quit_all([&mut alice, &mut bob]);
    stop(tcpdump);
    let captured = std::fs::read(&pcap).unwrap();
    // The capture saw the link (mDNS names our service) but not one word of the chat.
    assert!(contains(&captured, "_presence"), "the capture saw nothing");
    assert!(contains(&captured, "urn:ietf:params:xml:ns:xmpp-tls"));
    assert!(
        !contains(&captured, "swordfish"),
        "message text on the link"
    );

    // Bob again with the same key: known. Then Bob with another key (a new keys folder,
    // as a man in the middle would present): refused, loudly, and nothing is sent.
    let mut alice = node(&lab, "a", "alice", &alice_keys);
    let mut bob = node(&lab, "b", "bob", &bob_keys);
    online(&mut alice, "bob@hostb");
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "again", "id": "a2"}));
    bob.expect(10, "again", |e| is(e, "message") && e["body"] == "again");
    let link = alice.expect(10, "the link", |e| {
        is(e, "link") && e["peer"] == "bob@hostb"
    });
    assert_eq!(link["key_status"], "known");
    bob.quit();
    alice.expect(10, "bob gone", |e| is(e, "peer_offline"));
    let mut mallory = node(&lab, "b", "bob", &folder("mallory"));
    alice.seen.clear();
    online(&mut alice, "bob@hostb");
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "for bob only", "id": "a3"}));
    let changed = alice.expect(10, "the key change", |e| is(e, "key_changed"));
    assert_eq!(changed["pinned"], bob_key.as_str());
    assert_ne!(changed["key"], bob_key.as_str());
    let failed = alice.expect(10, "a3 failed", |e| is(e, "send_failed") && e["id"] == "a3");
    assert!(
        failed["reason"].as_str().unwrap().contains("pinned"),
        "{failed}"
    );
    assert!(!mallory.seen.iter().any(|e| is(e, "message")));
    std::thread::sleep(Duration::from_millis(300));
    while let Ok(event) = mallory.events.try_recv() {
        assert!(!is(&event, "message"), "{event}");
    }
    // The user checked with Bob and trusts the new key: it goes through.
    let new_key = changed["key"].as_str().unwrap().to_owned();
    alice.command(json!({"cmd": "trust", "peer": "bob@hostb", "key": new_key}));
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "now for you", "id": "a4"}));
    mallory.expect(10, "the message", |e| {
        is(e, "message") && e["body"] == "now for you"
    });
    quit_all([&mut alice, &mut mallory]);
}

#[test]
fn an_encrypting_node_and_a_plaintext_one_chat_in_plaintext_and_say_so() {
    let Some(lab) = Lab::new("ep") else { return };
    let mut alice = node(&lab, "a", "alice", &folder("plain-alice"));
    let mut bob = ChatNode::start(&lab, "b", "bob", &[]);
    online(&mut alice, "bob@hostb");
    online(&mut bob, "alice@hosta");
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "hi bob", "id": "a1"}));
    bob.expect(10, "the message", |e| {
        is(e, "message") && e["body"] == "hi bob"
    });
    let link = alice.expect(10, "the link", |e| is(e, "link"));
    assert_eq!(link["encrypted"], false);
    assert_eq!(link["key"], serde_json::Value::Null);
    bob.command(json!({"cmd": "send", "to": "alice@hosta", "body": "hi alice", "id": "b1"}));
    alice.expect(10, "the answer", |e| {
        is(e, "message") && e["body"] == "hi alice"
    });
    quit_all([&mut alice, &mut bob]);
}

/// A peer on host c, published with python-zeroconf as `liar@hostc`, whose TXT says it
/// encrypts (`tls=`) but whose stream offers nothing (no `version`, as libpurple's):
/// a downgrade. It prints what it reads.
const PLAINTEXT_WITH_KEY_HINT: &str = r#"
import socket, sys, time
from zeroconf import ServiceInfo, Zeroconf
zc = Zeroconf(interfaces=["10.80.0.3"])
info = ServiceInfo("_presence._tcp.local.", "liar@hostc._presence._tcp.local.",
    addresses=[socket.inet_aton("10.80.0.3")], port=5400, server="hostc-liar.local.",
    properties={"txtvers": "1", "status": "avail", "port.p2pj": "5400",
                "tls": "sha256:q1HhVd2hX0b3w1qjk0vxQm1e6b7H1lVw1i1Yf0dP9Yk"})
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("10.80.0.3", 5400))
listener.listen(4)
zc.register_service(info)
listener.settimeout(20)
s, _ = listener.accept()
s.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' from='liar@hostc' to='alice@hosta'>")
s.settimeout(3)
got = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
except OSError:
    pass
sys.stdout.write(got.decode("utf-8", "replace"))
sys.stdout.flush()
zc.unregister_service(info)
zc.close()
"#;

#[test]
fn a_peer_whose_txt_says_it_encrypts_is_refused_in_plaintext() {
    let Some(lab) = Lab::new("eh") else { return };
    let mut alice = node(&lab, "a", "alice", &folder("hint-alice"));
    let liar = common::netlab::in_namespace(&lab.hosts.ns("c"), "/usr/bin/python3")
        .args(["-c", PLAINTEXT_WITH_KEY_HINT])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    online(&mut alice, "liar@hostc");
    alice.command(
        json!({"cmd": "send", "to": "liar@hostc", "body": "the password is swordfish", "id": "a1"}),
    );
    let refused = alice.expect(10, "the refusal", |e| is(e, "link_refused"));
    assert_eq!(refused["peer"], "liar@hostc");
    let failed = alice.expect(10, "a1 failed", |e| is(e, "send_failed") && e["id"] == "a1");
    assert!(
        failed["reason"].as_str().unwrap().contains("encrypt"),
        "{failed}"
    );
    let heard = liar.wait_with_output().unwrap();
    let heard = String::from_utf8_lossy(&heard.stdout);
    assert!(heard.contains("policy-violation"), "{heard}");
    assert!(!heard.contains("swordfish"), "{heard}");
    alice.quit();
}
