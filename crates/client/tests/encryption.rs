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

fn folder_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("encryption-{name}-{}", std::process::id()))
}

/// A new, empty folder of this test run.
fn folder(name: &str) -> PathBuf {
    let dir = folder_path(name);
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
    // The key Bob advertised (TXT tls=) is the one his TLS handshake proved.
    let seen = alice.expect(0, "bob online", |e| {
        is(e, "peer_online") && e["peer"] == "bob@hostb"
    });
    assert_eq!(seen["key"], bob_key.as_str());
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
    // The codes matched: Alice marks Bob's key verified, and it stays so.
    alice.command(json!({"cmd": "verify", "peer": "bob@hostb"}));
    quit_all([&mut alice, &mut bob]);
    let known = std::fs::read_to_string(alice_keys.join("known_peers")).unwrap();
    assert!(
        known.contains(&format!("bob@hostb\t{bob_key}\tverified")),
        "{known}"
    );
    stop(tcpdump);
    let captured = std::fs::read(&pcap).unwrap();
    // The capture saw the link (mDNS names our service) but not one word of the chat.
    assert!(contains(&captured, "_presence"), "the capture saw nothing");
    assert!(contains(&captured, "urn:ietf:params:xml:ns:xmpp-tls"));
    assert!(
        !contains(&captured, "swordfish"),
        "message text on the link"
    );

    // Again with the same keys: Bob's key verified at Alice's, as she marked it, and
    // Alice's known at Bob's. Then Bob with another key (a new keys folder, as a man in
    // the middle would present): refused, loudly, and nothing is sent.
    let mut alice = node(&lab, "a", "alice", &alice_keys);
    let mut bob = node(&lab, "b", "bob", &bob_keys);
    online(&mut alice, "bob@hostb");
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "again", "id": "a2"}));
    bob.expect(10, "again", |e| is(e, "message") && e["body"] == "again");
    let link = alice.expect(10, "the link", |e| {
        is(e, "link") && e["peer"] == "bob@hostb"
    });
    assert_eq!(link["key_status"], "verified");
    let link = bob.expect(10, "the link", |e| {
        is(e, "link") && e["peer"] == "alice@hosta"
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
    // Bob advertises no key; Alice does.
    let seen = alice.expect(0, "bob online", |e| is(e, "peer_online"));
    assert_eq!(seen["key"], serde_json::Value::Null);
    let seen = bob.expect(0, "alice online", |e| is(e, "peer_online"));
    assert!(
        seen["key"].as_str().unwrap().starts_with("sha256:"),
        "{seen}"
    );
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
if sys.argv[1] == "answer":
    listener.settimeout(20)
    s, _ = listener.accept()
    s.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
              b"xmlns:stream='http://etherx.jabber.org/streams' from='liar@hostc' to='alice@hosta'>")
else:
    # It speaks first, naming no one: its address alone says who it is.
    time.sleep(float(sys.argv[2]))
    s = socket.create_connection(("10.80.0.1", 5298), timeout=10)
    s.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
              b"xmlns:stream='http://etherx.jabber.org/streams' to='alice@hosta'>")
    time.sleep(0.5)
    s.sendall(b"<message to='alice@hosta' type='chat'><body>trust me, I am liar</body></message>")
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
        .args(["-c", PLAINTEXT_WITH_KEY_HINT, "answer"])
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

#[test]
fn a_plaintext_stream_that_only_its_address_gives_to_a_peer_that_encrypts_is_refused() {
    let Some(lab) = Lab::new("ei") else { return };
    let mut alice = node(&lab, "a", "alice", &folder("anon-alice"));
    // Alice must see its TXT (tls=) before it speaks: 3 s is well after its announcement.
    let liar = common::netlab::in_namespace(&lab.hosts.ns("c"), "/usr/bin/python3")
        .args(["-c", PLAINTEXT_WITH_KEY_HINT, "speak", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    online(&mut alice, "liar@hostc");
    let refused = alice.expect(15, "the refusal", |e| {
        assert!(!is(e, "message"), "a plaintext message taken: {e}");
        is(e, "link_refused")
    });
    assert_eq!(refused["peer"], "liar@hostc");
    assert!(
        refused["reason"].as_str().unwrap().contains("encrypt"),
        "{refused}"
    );
    let heard = liar.wait_with_output().unwrap();
    let heard = String::from_utf8_lossy(&heard.stdout);
    assert!(heard.contains("policy-violation"), "{heard}");
    assert!(!heard.contains("trust me"), "{heard}");
    alice.quit();
}

/// A relay on host a, where Alice's connections to Bob are sent by the host's own
/// netfilter (as a rogue access point or an ARP spoofer would). It connects on to Bob
/// from Alice's address on a socket marked 0x4d (`SO_MARK`), which the redirection spares.
/// (It spared source ports 40000-40999 once, but Alice's own ephemeral port falls there
/// about one connection in thirty, and hers then went straight to Bob.)
/// `strip`: forwards every byte, except that `<starttls/>` is cut out of Bob's features.
/// `mitm`: ends Alice's STARTTLS itself, with a key of its own (CERT and KEY, PEM), and
/// prints what it decrypted.
const RELAY: &str = r#"
import re, socket, ssl, sys, threading
mode = sys.argv[1]
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("10.80.0.1", 6000))
listener.listen(4)
print("LISTENING", flush=True)
listener.settimeout(30)
alice, _ = listener.accept()
if mode == "strip":
    bob = socket.socket()
    bob.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, 0x4D)
    bob.bind(("10.80.0.1", 0))
    bob.connect(("10.80.0.2", 5298))
    def pump(src, dst, strip):
        held = b""
        while True:
            try:
                chunk = src.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                if held:
                    dst.sendall(held)
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            if strip is None:
                dst.sendall(chunk)
                continue
            held += chunk
            if b"</stream:features>" in held or b"<stream:features/>" in held:
                held = re.sub(rb"<starttls[^>]*?(/>|>.*?</starttls>)", b"", held, flags=re.S)
                dst.sendall(held)
                held = b""
                strip = None
    t = threading.Thread(target=pump, args=(alice, bob, None))
    t.start()
    pump(bob, alice, True)
    t.join()
    print("RELAYED", flush=True)
else:
    # Bounded: an Alice who goes quiet or hangs up ends the relay (a timeout, or "EOF"),
    # and the test's wait for it with it, instead of a loop spinning on an empty read.
    alice.settimeout(20)
    def read_until(done, what):
        got = b""
        while not done(got):
            chunk = alice.recv(4096)
            if not chunk:
                print("EOF before", what, flush=True)
                sys.exit(1)
            got += chunk
    read_until(lambda got: b">" in got and b"<stream:stream" in got, "her stream header")
    alice.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  b"xmlns:stream='http://etherx.jabber.org/streams' from='bob@hostb' "
                  b"to='alice@hosta' version='1.0'><stream:features>"
                  b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>")
    read_until(lambda got: b"starttls" in got, "her starttls")
    alice.sendall(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    plain = b""
    try:
        tls = context.wrap_socket(alice, server_side=True)
        print("HANDSHAKE DONE", flush=True)
        tls.settimeout(3)
        while True:
            chunk = tls.recv(4096)
            if not chunk:
                break
            plain += chunk
    except (OSError, ssl.SSLError) as e:
        print("TLS ENDED", e, flush=True)
    print("DECRYPTED", plain.decode("utf-8", "replace"), flush=True)
"#;

/// Sends what host a writes to Bob (10.80.0.2:5298) to the relay on 10.80.0.1:6000,
/// except the relay's own connections.
fn redirect_to_relay(lab: &Lab) {
    let ns = lab.hosts.ns("a");
    for rule in [
        "add table ip mitm",
        "add chain ip mitm out { type nat hook output priority -100 ; }",
        "add rule ip mitm out ip daddr 10.80.0.2 tcp dport 5298 meta mark != 0x4d dnat to 10.80.0.1:6000",
    ] {
        let status = common::netlab::in_namespace(&ns, "nft")
            .args(rule.split(' '))
            .status()
            .expect("nft (CI installs nftables)");
        assert!(status.success(), "nft {rule}");
    }
}

fn relay(
    lab: &Lab,
    args: &[&str],
) -> (
    Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::io::BufRead;
    let mut child = common::netlab::in_namespace(&lab.hosts.ns("a"), "/usr/bin/python3")
        .arg("-c")
        .arg(RELAY)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "LISTENING");
    (child, lines)
}

/// Alice and Bob, each bound to its IPv4 address (the relay is IPv4), chat encrypted
/// once, so each has pinned the other's key.
fn pinned_pair(lab: &Lab, tag: &str) -> (ChatNode, ChatNode) {
    let (alice_keys, bob_keys) = (
        folder(&format!("{tag}-alice")),
        folder(&format!("{tag}-bob")),
    );
    let args = |keys: &Path, address: &str| {
        vec![
            "--encrypt".to_owned(),
            "prefer".into(),
            "--keys".into(),
            keys.display().to_string(),
            "--bind".into(),
            address.into(),
        ]
    };
    let alice_args = args(&alice_keys, "10.80.0.1");
    let bob_args = args(&bob_keys, "10.80.0.2");
    let mut alice = ChatNode::start(
        lab,
        "a",
        "alice",
        &alice_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut bob = ChatNode::start(
        lab,
        "b",
        "bob",
        &bob_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    online(&mut alice, "bob@hostb");
    online(&mut bob, "alice@hosta");
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "first", "id": "a0"}));
    bob.expect(10, "first", |e| is(e, "message") && e["body"] == "first");
    let link = alice.expect(10, "the link", |e| is(e, "link"));
    assert_eq!(link["encrypted"], true);
    // Streams end when idle; the next message opens a new one, through the relay.
    alice.quit();
    let alice = ChatNode::start(
        lab,
        "a",
        "alice",
        &alice_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    (alice, bob)
}

#[test]
fn a_relay_that_strips_starttls_between_pinned_peers_is_refused() {
    let Some(lab) = Lab::new("es") else { return };
    let (mut alice, mut bob) = pinned_pair(&lab, "strip");
    online(&mut alice, "bob@hostb");
    redirect_to_relay(&lab);
    let (mut relay, _lines) = relay(&lab, &["strip"]);
    alice.command(
        json!({"cmd": "send", "to": "bob@hostb", "body": "the password is swordfish", "id": "a1"}),
    );
    let refused = alice.expect(10, "the refusal", |e| is(e, "link_refused"));
    assert!(
        refused["reason"].as_str().unwrap().contains("encrypt"),
        "{refused}"
    );
    let failed = alice.expect(10, "a1 failed", |e| is(e, "send_failed") && e["id"] == "a1");
    assert!(
        failed["reason"].as_str().unwrap().contains("encrypt"),
        "{failed}"
    );
    std::thread::sleep(Duration::from_millis(500));
    while let Ok(event) = bob.events.try_recv() {
        assert!(
            !(is(&event, "message") && event["body"] == "the password is swordfish"),
            "{event}"
        );
    }
    let _ = relay.kill();
    let _ = relay.wait();
    quit_all([&mut alice, &mut bob]);
}

#[test]
fn a_relay_with_its_own_key_is_refused_and_the_user_told() {
    let Some(lab) = Lab::new("em") else { return };
    let (mut alice, mut bob) = pinned_pair(&lab, "mitm");
    let bob_key = std::fs::read_to_string(folder_path("mitm-alice").join("known_peers")).unwrap();
    online(&mut alice, "bob@hostb");
    let dir = folder("mitm-relay");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=bob",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    redirect_to_relay(&lab);
    let (mut relay, lines) = relay(
        &lab,
        &["mitm", cert.to_str().unwrap(), key.to_str().unwrap()],
    );
    alice.command(
        json!({"cmd": "send", "to": "bob@hostb", "body": "the password is swordfish", "id": "a1"}),
    );
    let changed = alice.expect(10, "the key change", |e| is(e, "key_changed"));
    assert!(
        bob_key.contains(changed["pinned"].as_str().unwrap()),
        "{changed} vs {bob_key}"
    );
    assert_ne!(changed["key"], changed["pinned"]);
    alice.expect(10, "a1 failed", |e| is(e, "send_failed") && e["id"] == "a1");
    let _ = relay.wait();
    let said: Vec<String> = lines.map_while(Result::ok).collect();
    // The relay did complete TLS with Alice: she refused it for its key alone.
    assert!(said.iter().any(|l| l == "HANDSHAKE DONE"), "{said:?}");
    let decrypted = said
        .iter()
        .find(|l| l.starts_with("DECRYPTED"))
        .cloned()
        .unwrap_or_default();
    assert!(!decrypted.contains("swordfish"), "{said:?}");
    assert!(!decrypted.contains("<message"), "{said:?}");
    quit_all([&mut alice, &mut bob]);
}
