//! File transfer between two `llxmpp chat --json` nodes on hosts of their own (network
//! namespaces), through the contract's commands and events: XEP-0095/0096 offers and a
//! XEP-0065 SOCKS5 bytestream to the sender's listening port.

mod common;

use std::path::{Path, PathBuf};

use common::{alice_and_bob, is, quit_all, ChatNode, Lab};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A folder of its own for each test, under the target folder.
fn folder(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `len` bytes that do not repeat (xorshift), so that a byte out of place shows.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `from` offers `path` to `to` (on host `to_host`), `to` accepts into `into`; both
/// ends report done with the same size and SHA-256, and the file arrives whole.
fn moves(
    from: &mut ChatNode,
    to: &mut ChatNode,
    to_instance: &str,
    path: &Path,
    id: &str,
    into: &Path,
) -> Value {
    let bytes = std::fs::read(path).unwrap();
    // Only what comes from now on: an earlier transfer's events are alike.
    from.seen.clear();
    to.seen.clear();
    from.command(json!({"cmd": "send_file", "to": to_instance, "path": path, "id": id}));
    let offer = to.expect(10, "the offer", |e| {
        is(e, "file_offer") && e["name"] == path.file_name().unwrap().to_str().unwrap()
    });
    assert_eq!(offer["size"], bytes.len() as u64);
    assert_eq!(offer["method"], "si-socks5");
    let their = offer["id"].as_str().unwrap().to_owned();
    to.command(json!({"cmd": "accept", "id": their, "dir": into}));
    let received = to.expect(30, "received", |e| {
        (is(e, "file_done") || is(e, "file_failed")) && e["id"] == their.as_str()
    });
    assert!(is(&received, "file_done"), "{received}");
    let sent = from.expect(30, "sent", |e| {
        (is(e, "file_done") || is(e, "file_failed")) && e["id"] == id
    });
    assert!(is(&sent, "file_done"), "{sent}");
    let digest = sha256_hex(&bytes);
    assert_eq!(received["sha256"], digest.as_str());
    assert_eq!(sent["sha256"], digest.as_str());
    assert_eq!(received["bytes"], bytes.len() as u64);
    let saved = std::fs::read(received["path"].as_str().unwrap()).unwrap();
    assert!(saved == bytes, "the saved file differs");
    received
}

#[test]
fn files_move_both_ways_byte_for_byte_and_never_overwrite() {
    let Some(lab) = Lab::new("f") else { return };
    let (mut alice, mut bob) = alice_and_bob(&lab);
    let outbox = folder("out");
    let inbox = folder("in");

    let big = outbox.join("naïve file.bin");
    std::fs::write(&big, random_bytes(3 << 20, 7)).unwrap();
    let first = moves(&mut alice, &mut bob, "bob@hostb", &big, "f1", &inbox);
    assert_eq!(
        first["path"],
        inbox.join("naïve file.bin").to_str().unwrap()
    );
    // The same again: saved beside it, the first one untouched.
    let second = moves(&mut alice, &mut bob, "bob@hostb", &big, "f2", &inbox);
    assert_eq!(
        second["path"],
        inbox.join("naïve file (1).bin").to_str().unwrap()
    );

    // The other way: empty (announced as size 0) and one byte.
    let empty = outbox.join("empty");
    std::fs::write(&empty, b"").unwrap();
    moves(&mut bob, &mut alice, "alice@hosta", &empty, "f1", &inbox);
    let one = outbox.join("one.txt");
    std::fs::write(&one, b"x").unwrap();
    moves(&mut bob, &mut alice, "alice@hosta", &one, "f2", &inbox);

    // No partial file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&inbox)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    quit_all([&mut alice, &mut bob]);
}

/// Waits for the end of transfer `id` on `node`: its `file_done` or `file_failed`.
fn outcome(node: &mut ChatNode, secs: u64, id: &str) -> Value {
    node.expect(secs, &format!("the end of {id}"), |e| {
        (is(e, "file_done") || is(e, "file_failed")) && e["id"] == id
    })
}

#[test]
fn refusals_and_cancels_end_both_sides_and_leave_no_partial_file() {
    let Some(lab) = Lab::new("g") else { return };
    throttle(&lab, "a");
    let (mut alice, mut bob) = alice_and_bob(&lab);
    let outbox = folder("cancel-out");
    let inbox = folder("cancel-in");
    let file = outbox.join("big.bin");
    std::fs::write(&file, random_bytes(16 << 20, 3)).unwrap();

    // Refused: the sender hears it at once.
    alice.command(json!({"cmd": "send_file", "to": "bob@hostb", "path": file, "id": "no"}));
    let offer = bob.expect(10, "the offer", |e| is(e, "file_offer"));
    let started = std::time::Instant::now();
    bob.command(json!({"cmd": "reject", "id": offer["id"]}));
    let refused = outcome(&mut alice, 10, "no");
    assert!(is(&refused, "file_failed"), "{refused}");
    assert!(
        refused["reason"].as_str().unwrap().contains("refused"),
        "{refused}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let rejected = outcome(&mut bob, 5, offer["id"].as_str().unwrap());
    assert_eq!(rejected["reason"], "rejected");

    // Cancelled by the receiver once bytes move; then by the sender.
    for (canceller, id) in [("bob", "c1"), ("alice", "c2")] {
        alice.seen.clear();
        bob.seen.clear();
        alice.command(json!({"cmd": "send_file", "to": "bob@hostb", "path": file, "id": id}));
        let offer = bob.expect(10, "the offer", |e| is(e, "file_offer"));
        let theirs = offer["id"].as_str().unwrap().to_owned();
        bob.command(json!({"cmd": "accept", "id": theirs, "dir": inbox}));
        bob.expect(10, "bytes moving", |e| {
            is(e, "file_progress") && e["id"] == theirs.as_str()
        });
        match canceller {
            "bob" => bob.command(json!({"cmd": "cancel", "id": theirs})),
            _ => alice.command(json!({"cmd": "cancel", "id": id})),
        }
        let sender = outcome(&mut alice, 10, id);
        let receiver = outcome(&mut bob, 10, &theirs);
        assert!(is(&sender, "file_failed"), "{sender}");
        assert!(is(&receiver, "file_failed"), "{receiver}");
        let cancelled = if canceller == "bob" {
            &receiver
        } else {
            &sender
        };
        assert_eq!(cancelled["reason"], "cancelled");
        let left: Vec<_> = std::fs::read_dir(&inbox).unwrap().collect();
        assert!(left.is_empty(), "{canceller}'s cancel left {left:?}");
    }

    // Chat still works after all that.
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "still here", "id": "m"}));
    bob.expect(10, "the message", |e| {
        is(e, "message") && e["body"] == "still here"
    });
    quit_all([&mut alice, &mut bob]);
}

#[test]
fn limits_refuse_offers_at_once() {
    let Some(lab) = Lab::new("h") else { return };
    let mut alice = ChatNode::start(&lab, "a", "alice", &[]);
    let mut bob = ChatNode::start(&lab, "b", "bob", &["--max-file-size", "1000"]);
    alice.expect(10, "bob online", |e| {
        is(e, "peer_online") && e["peer"] == "bob@hostb"
    });
    let outbox = folder("limits");
    let file = outbox.join("too big.bin");
    std::fs::write(&file, random_bytes(1001, 5)).unwrap();
    alice.command(json!({"cmd": "send_file", "to": "bob@hostb", "path": file, "id": "big"}));
    let offer = bob.expect(10, "the offer", |e| is(e, "file_offer"));
    let theirs = outcome(&mut bob, 5, offer["id"].as_str().unwrap());
    assert!(
        theirs["reason"].as_str().unwrap().contains("limit"),
        "{theirs}"
    );
    let ours = outcome(&mut alice, 5, "big");
    assert!(
        ours["reason"].as_str().unwrap().contains("refused"),
        "{ours}"
    );

    // A file that cannot be read, a peer that is not there: failed at once.
    alice.command(
        json!({"cmd": "send_file", "to": "bob@hostb", "path": outbox.join("missing"), "id": "m"}),
    );
    assert!(outcome(&mut alice, 5, "m")["reason"]
        .as_str()
        .unwrap()
        .contains("cannot read"));
    alice.command(json!({"cmd": "send_file", "to": "nobody@nowhere", "path": file, "id": "n"}));
    assert!(outcome(&mut alice, 5, "n")["reason"]
        .as_str()
        .unwrap()
        .contains("not on the link"));
    quit_all([&mut alice, &mut bob]);
}

#[test]
fn send_file_exits_0_only_when_the_peer_has_the_file() {
    let Some(lab) = Lab::new("i") else { return };
    let mut bob = ChatNode::start(&lab, "b", "bob", &[]);
    let outbox = folder("send-file");
    let inbox = folder("send-file-in");
    let file = outbox.join("report.pdf");
    std::fs::write(&file, random_bytes(200_000, 9)).unwrap();
    let path = file.to_str().unwrap();
    let run = |lab: &Lab| {
        lab.command(
            "a",
            &[
                "send-file",
                "bob@hostb",
                path,
                "--name",
                "alice",
                "--host",
                "hosta",
                "--interface",
                "eth0",
            ],
        )
        .output()
        .unwrap()
    };

    let sender = std::thread::scope(|s| {
        let sending = s.spawn(|| run(&lab));
        let offer = bob.expect(15, "the offer", |e| is(e, "file_offer"));
        bob.command(json!({"cmd": "accept", "id": offer["id"], "dir": inbox}));
        sending.join().unwrap()
    });
    assert!(
        sender.status.success(),
        "{}",
        String::from_utf8_lossy(&sender.stderr)
    );
    // The receiver saved the file before it closed the bytestream that told the sender.
    assert_eq!(
        std::fs::read(inbox.join("report.pdf")).unwrap(),
        std::fs::read(&file).unwrap()
    );

    bob.seen.clear();
    let refused = std::thread::scope(|s| {
        let sending = s.spawn(|| run(&lab));
        let offer = bob.expect(15, "the offer", |e| is(e, "file_offer"));
        bob.command(json!({"cmd": "reject", "id": offer["id"]}));
        sending.join().unwrap()
    });
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not sent") && stderr.contains("refused"),
        "{stderr}"
    );
    bob.quit();
}

/// What `host` sends goes at 50 Mbit/s: a file is still moving when the test acts on it.
fn throttle(lab: &Lab, host: &str) {
    common::netlab::throttle(&lab.hosts.ns(host), true).unwrap();
}

fn signal(node: &ChatNode, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &node.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Alice offers a 16 MiB file, Bob accepts into `inbox`; returns Bob's id once bytes move.
fn start_moving(alice: &mut ChatNode, bob: &mut ChatNode, file: &Path, inbox: &Path) -> String {
    alice.command(json!({"cmd": "send_file", "to": "bob@hostb", "path": file, "id": "s"}));
    let offer = bob.expect(10, "the offer", |e| is(e, "file_offer"));
    let theirs = offer["id"].as_str().unwrap().to_owned();
    bob.command(json!({"cmd": "accept", "id": theirs, "dir": inbox}));
    bob.expect(10, "bytes moving", |e| {
        is(e, "file_progress") && e["id"] == theirs.as_str()
    });
    theirs
}

#[test]
fn a_sender_that_stalls_or_vanishes_fails_the_transfer_and_leaves_no_partial_file() {
    let Some(lab) = Lab::new("j") else { return };
    throttle(&lab, "a");
    let (mut alice, mut bob) = alice_and_bob(&lab);
    let outbox = folder("stall-out");
    let inbox = folder("stall-in");
    let file = outbox.join("big.bin");
    std::fs::write(&file, random_bytes(16 << 20, 11)).unwrap();

    // Stopped (a laptop lid closed): no byte for the stall timeout.
    let theirs = start_moving(&mut alice, &mut bob, &file, &inbox);
    signal(&alice, "STOP");
    let stalled = outcome(&mut bob, 45, &theirs);
    signal(&alice, "CONT");
    assert!(is(&stalled, "file_failed"), "{stalled}");
    assert!(
        stalled["reason"]
            .as_str()
            .unwrap()
            .contains("no byte moved"),
        "{stalled}"
    );
    assert!(is(&outcome(&mut alice, 45, "s"), "file_failed"));
    assert_eq!(std::fs::read_dir(&inbox).unwrap().count(), 0);

    // Killed: the bytestream ends short of the size.
    alice.seen.clear();
    bob.seen.clear();
    let theirs = start_moving(&mut alice, &mut bob, &file, &inbox);
    alice.child.kill().unwrap();
    let _ = alice.child.wait();
    let vanished = outcome(&mut bob, 10, &theirs);
    assert!(is(&vanished, "file_failed"), "{vanished}");
    assert!(
        vanished["reason"]
            .as_str()
            .unwrap()
            .contains("closed after"),
        "{vanished}"
    );
    assert_eq!(std::fs::read_dir(&inbox).unwrap().count(), 0);
    bob.quit();
}

#[test]
fn files_move_over_oob_http_and_a_guessed_url_gets_nothing() {
    let Some(lab) = Lab::new("k") else { return };
    let (mut alice, mut bob) = alice_and_bob(&lab);
    let outbox = folder("oob-out");
    let inbox = folder("oob-in");
    for (name, len) in [("photo 1.jpg", 2 << 20), ("empty", 0), ("one", 1)] {
        let file = outbox.join(name);
        std::fs::write(&file, random_bytes(len, 13)).unwrap();
        alice.seen.clear();
        bob.seen.clear();
        alice.command(json!({"cmd": "send_file", "to": "bob@hostb", "path": file, "id": name, "method": "oob"}));
        let offer = bob.expect(10, "the offer", |e| is(e, "file_offer"));
        assert_eq!(offer["method"], "oob-http");
        assert_eq!(offer["name"], name);
        assert_eq!(offer["size"], len as u64);
        let theirs = offer["id"].as_str().unwrap().to_owned();
        bob.command(json!({"cmd": "accept", "id": theirs, "dir": inbox}));
        let received = outcome(&mut bob, 30, &theirs);
        let sent = outcome(&mut alice, 30, name);
        assert!(is(&received, "file_done"), "{received}");
        assert!(is(&sent, "file_done"), "{sent}");
        assert_eq!(received["sha256"], sent["sha256"]);
        assert_eq!(
            std::fs::read(inbox.join(name)).unwrap(),
            std::fs::read(&file).unwrap()
        );
    }

    // An offer waits; a guess at its URL from the peer's host gets 404, a host that is
    // no peer's is cut off before a byte (curl's 000), and the offer stays.
    let file = outbox.join("secret.txt");
    std::fs::write(&file, b"not for you").unwrap();
    alice.seen.clear();
    bob.seen.clear();
    alice.command(json!({"cmd": "send_file", "to": "bob@hostb", "path": file, "id": "secret", "method": "oob"}));
    let offer = bob.expect(10, "the offer", |e| is(e, "file_offer"));
    for (host, code) in [("b", "404"), ("c", "000")] {
        let url = "http://10.80.0.1:5298/guess/secret.txt";
        let out = common::netlab::in_namespace(&lab.hosts.ns(host), "curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            code,
            "from host {host}"
        );
    }
    bob.command(json!({"cmd": "accept", "id": offer["id"], "dir": inbox}));
    assert!(is(&outcome(&mut alice, 10, "secret"), "file_done"));
    quit_all([&mut alice, &mut bob]);
}

#[test]
fn a_full_disk_fails_the_transfer_and_strangers_at_our_port_touch_nothing() {
    let Some(lab) = Lab::new("m") else { return };
    // Bob saves into a 1 MiB file system: the disk fills halfway. Mounted before the nodes
    // start: `ip netns exec` gives each a copy of the mounts of that moment.
    let full = folder("full-disk");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&full)
        .status()
        .unwrap();
    assert!(mounted.success());
    let _unmount = Unmount(full.clone());
    let (mut alice, mut bob) = alice_and_bob(&lab);
    let outbox = folder("full-out");
    let file = outbox.join("big.bin");
    std::fs::write(&file, random_bytes(2 << 20, 17)).unwrap();
    alice.command(json!({"cmd": "send_file", "to": "bob@hostb", "path": file, "id": "full"}));
    let offer = bob.expect(10, "the offer", |e| is(e, "file_offer"));
    let theirs = offer["id"].as_str().unwrap().to_owned();
    bob.command(json!({"cmd": "accept", "id": theirs, "dir": full}));
    let failed = outcome(&mut bob, 10, &theirs);
    let left: Vec<_> = std::fs::read_dir(&full).unwrap().collect();
    assert!(is(&failed, "file_failed"), "{failed}");
    assert!(
        failed["reason"].as_str().unwrap().contains("No space left"),
        "{failed}"
    );
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(is(&outcome(&mut alice, 10, "full"), "file_failed"));

    // While an offer of Alice's waits for its bytestream: a SOCKS5 stranger from host c
    // is cut off before a byte, and one from Bob's own address that does not know the
    // stream's hash gets SOCKS5's "not allowed"; the transfer then goes through.
    let inbox = folder("strangers-in");
    alice.seen.clear();
    bob.seen.clear();
    alice.command(json!({"cmd": "send_file", "to": "bob@hostb", "path": file, "id": "ok"}));
    bob.expect(10, "the offer", |e| is(e, "file_offer"));
    let knock = |host: &str| {
        let script = "import socket,sys\n\
            s=socket.create_connection(('10.80.0.1',5298),timeout=5)\n\
            s.sendall(bytes([5,1,0])+bytes([5,1,0,3,40])+b'0'*40+bytes([0,0]))\n\
            got=b''\n\
            try:\n\
            \x20   while len(got)<12:\n\
            \x20       c=s.recv(64)\n\
            \x20       if not c: break\n\
            \x20       got+=c\n\
            except OSError: pass\n\
            sys.stdout.write(got.hex())\n";
        let out = common::netlab::in_namespace(&lab.hosts.ns(host), "/usr/bin/python3")
            .args(["-c", script])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(knock("c"), "", "a host that is no peer's");
    assert!(knock("b").starts_with("05000502"), "a guessed hash");
    let offer = bob
        .seen
        .iter()
        .find(|e| is(e, "file_offer"))
        .unwrap()
        .clone();
    bob.command(json!({"cmd": "accept", "id": offer["id"], "dir": inbox}));
    assert!(is(
        &outcome(&mut bob, 10, offer["id"].as_str().unwrap()),
        "file_done"
    ));
    assert!(is(&outcome(&mut alice, 10, "ok"), "file_done"));
    quit_all([&mut alice, &mut bob]);
}

/// Unmounts a test's file system when the test ends, however it ends.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_receiver_that_stops_reading_fails_the_sender_after_the_stall_timeout() {
    let Some(lab) = Lab::new("n") else { return };
    throttle(&lab, "a");
    let (mut alice, mut bob) = alice_and_bob(&lab);
    let outbox = folder("slow-out");
    let inbox = folder("slow-in");
    let file = outbox.join("big.bin");
    std::fs::write(&file, random_bytes(64 << 20, 29)).unwrap();
    let theirs = start_moving(&mut alice, &mut bob, &file, &inbox);
    // Bob stops (a reader that never reads): queues fill, Alice's writes stop.
    signal(&bob, "STOP");
    let stalled = outcome(&mut alice, 45, "s");
    signal(&bob, "CONT");
    assert!(is(&stalled, "file_failed"), "{stalled}");
    assert!(
        stalled["reason"]
            .as_str()
            .unwrap()
            .contains("no byte moved"),
        "{stalled}"
    );
    // Her side reset the bytestream: Bob's transfer ends too, without a partial file.
    assert!(is(&outcome(&mut bob, 10, &theirs), "file_failed"));
    assert_eq!(std::fs::read_dir(&inbox).unwrap().count(), 0);
    // And both nodes still chat.
    alice.command(json!({"cmd": "send", "to": "bob@hostb", "body": "awake?", "id": "m"}));
    bob.expect(10, "the message", |e| {
        is(e, "message") && e["body"] == "awake?"
    });
    quit_all([&mut alice, &mut bob]);
}

/// A sender that lies, on host c: published with python-zeroconf as `rogue@hostc`, it
/// offers `x.bin` (1,000 bytes) to bob@hostb over XEP-0095, serves the streamhost itself
/// and writes 3,000 bytes into it. Prints `ACCEPTED` when Bob accepts, `SENT` once it has
/// written.
const ROGUE_SENDER: &str = r#"
import socket, time
from zeroconf import ServiceInfo, Zeroconf
zc = Zeroconf(interfaces=["10.80.0.3"])
info = ServiceInfo("_presence._tcp.local.", "rogue@hostc._presence._tcp.local.",
    addresses=[socket.inet_aton("10.80.0.3")], port=5400, server="hostc-rogue.local.",
    properties={"txtvers": "1", "status": "avail", "port.p2pj": "5400"})
zc.register_service(info)
time.sleep(3)
streamhost = socket.socket()
streamhost.bind(("10.80.0.3", 0))
streamhost.listen(1)
port = streamhost.getsockname()[1]
s = socket.create_connection(("10.80.0.2", 5298), timeout=20)
s.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' from='rogue@hostc' "
          b"to='bob@hostb'>"
          b"<iq type='set' id='o1' from='rogue@hostc' to='bob@hostb'>"
          b"<si xmlns='http://jabber.org/protocol/si' id='o1' "
          b"profile='http://jabber.org/protocol/si/profile/file-transfer'>"
          b"<file xmlns='http://jabber.org/protocol/si/profile/file-transfer' name='x.bin' size='1000'/>"
          b"<feature xmlns='http://jabber.org/protocol/feature-neg'><x xmlns='jabber:x:data' type='form'>"
          b"<field var='stream-method' type='list-single'><option>"
          b"<value>http://jabber.org/protocol/bytestreams</value></option></field></x></feature>"
          b"</si></iq>")
got = b""
while b"type='result'" not in got:
    chunk = s.recv(4096)
    if not chunk:
        raise SystemExit("closed")
    got += chunk
print("ACCEPTED", flush=True)
s.sendall(("<iq type='set' id='h1' from='rogue@hostc' to='bob@hostb'>"
           "<query xmlns='http://jabber.org/protocol/bytestreams' sid='o1'>"
           "<streamhost jid='rogue@hostc' host='10.80.0.3' port='%d'/></query></iq>" % port).encode())
conn, _ = streamhost.accept()
conn.recv(3)
conn.sendall(bytes([5, 0]))
conn.recv(47)
conn.sendall(bytes([5, 0, 0, 3, 40]) + b"0" * 40 + bytes([0, 0]))
try:
    conn.sendall(b"y" * 3000)
except OSError:
    pass
print("SENT", flush=True)
time.sleep(3)
zc.unregister_service(info)
zc.close()
"#;

#[test]
fn more_bytes_than_announced_fail_the_transfer_and_leave_nothing() {
    let Some(lab) = Lab::new("q") else { return };
    let mut bob = ChatNode::start(&lab, "b", "bob", &[]);
    bob.expect(10, "ready", |e| is(e, "ready"));
    let mut rogue = common::netlab::in_namespace(&lab.hosts.ns("c"), "/usr/bin/python3")
        .args(["-c", ROGUE_SENDER])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let offer = bob.expect(20, "the rogue's offer", |e| is(e, "file_offer"));
    assert_eq!(offer["from"], "rogue@hostc");
    assert_eq!(offer["size"], 1000);
    let inbox = folder("rogue-in");
    bob.command(json!({"cmd": "accept", "id": offer["id"], "dir": inbox}));
    let failed = outcome(&mut bob, 20, offer["id"].as_str().unwrap());
    assert!(is(&failed, "file_failed"), "{failed}");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("more than the 1000 bytes announced"),
        "{failed}"
    );
    assert_eq!(std::fs::read_dir(&inbox).unwrap().count(), 0);
    let _ = rogue.wait();
    bob.quit();
}

/// A receiver that does not save, on host c: published with python-zeroconf as
/// `rogue@hostc`, it accepts every SI offer and connects to the streamhost. With `reset`
/// it reads every byte, then resets the bytestream (SO_LINGER 0) instead of closing it;
/// with `silent` it reads nothing and never closes: its kernel takes (and acknowledges)
/// the bytes, the application never has them. Prints `CONNECTED` once the SOCKS5
/// handshake is done.
const ROGUE_RECEIVER: &str = r#"
import hashlib, re, socket, struct, sys, time
from zeroconf import ServiceInfo, Zeroconf
mode = sys.argv[1]
zc = Zeroconf(interfaces=["10.80.0.3"])
info = ServiceInfo("_presence._tcp.local.", "rogue@hostc._presence._tcp.local.",
    addresses=[socket.inet_aton("10.80.0.3")], port=5400, server="hostc-rogue.local.",
    properties={"txtvers": "1", "status": "avail", "port.p2pj": "5400"})
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("10.80.0.3", 5400))
listener.listen(4)
zc.register_service(info)
s, _ = listener.accept()
got = b""
def until(pattern):
    global got
    while True:
        m = re.search(pattern, got, re.S)
        if m:
            got = got[m.end():]
            return m
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("closed")
        got += chunk
until(rb"<stream:stream[^>]*>")
s.sendall(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' from='rogue@hostc' to='alice@hosta'>")
offer = until(rb"<iq[^>]*?id='([^']+)'[^>]*>\s*<si .*?</iq>")
iq_id = offer.group(1).decode()
initiator = re.search(rb"from='([^']+)'", offer.group(0)).group(1).decode()
sid = re.search(rb"<si [^>]*id='([^']+)'", offer.group(0)).group(1).decode()
s.sendall(("<iq type='result' id='%s' from='rogue@hostc' to='%s'>"
           "<si xmlns='http://jabber.org/protocol/si'><feature xmlns='http://jabber.org/protocol/feature-neg'>"
           "<x xmlns='jabber:x:data' type='submit'><field var='stream-method'>"
           "<value>http://jabber.org/protocol/bytestreams</value></field></x></feature></si></iq>"
           % (iq_id, initiator)).encode())
hosts = until(rb"<query[^>]*bytestreams.*?</iq>").group(0)
host = re.search(rb"host='([^']+)' port='(\d+)'", hosts)
b = socket.create_connection((host.group(1).decode(), int(host.group(2))), timeout=20)
b.sendall(bytes([5, 1, 0]))
b.recv(2)
digest = hashlib.sha1((sid + initiator + "rogue@hostc").encode()).hexdigest().encode()
b.sendall(bytes([5, 1, 0, 3, 40]) + digest + bytes([0, 0]))
reply = b""
while len(reply) < 47:
    reply += b.recv(47 - len(reply))
print("CONNECTED", flush=True)
if mode == "reset":
    time.sleep(1)
    while True:
        b.settimeout(2)
        try:
            if not b.recv(65536):
                break
        except socket.timeout:
            break
    b.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    b.close()
    time.sleep(5)
else:
    time.sleep(45)
zc.unregister_service(info)
zc.close()
"#;

/// Alice sends 64 KiB (fewer than the receiver's socket buffers take unread) to a rogue receiver
/// behaving as `mode`; returns her outcome (`None`: no namespaces here, outside CI).
fn send_to_rogue_receiver(lab_name: &str, mode: &str, secs: u64) -> Option<Value> {
    let lab = Lab::new(lab_name)?;
    let mut alice = ChatNode::start(&lab, "a", "alice", &[]);
    let mut rogue = common::netlab::in_namespace(&lab.hosts.ns("c"), "/usr/bin/python3")
        .args(["-c", ROGUE_RECEIVER, mode])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    alice.expect(20, "the rogue online", |e| {
        is(e, "peer_online") && e["peer"] == "rogue@hostc"
    });
    let outbox = folder(&format!("rogue-{mode}-out"));
    let file = outbox.join("small.bin");
    std::fs::write(&file, random_bytes(64 << 10, 31)).unwrap();
    alice.command(
        json!({"cmd": "send_file", "to": "rogue@hostc", "path": file, "id": "r", "method": "si"}),
    );
    let result = outcome(&mut alice, secs, "r");
    let _ = rogue.kill();
    let _ = rogue.wait();
    alice.quit();
    Some(result)
}

#[test]
fn a_receiver_that_resets_the_bytestream_has_not_got_the_file() {
    // Every byte was acknowledged by its TCP, and read: without its clean close, nothing
    // says the file was saved (a receiver whose disk filled resets the same way).
    let Some(failed) = send_to_rogue_receiver("rr", "reset", 20) else {
        return;
    };
    assert!(is(&failed, "file_failed"), "{failed}");
    assert!(
        failed["reason"].as_str().unwrap().contains("reset"),
        "{failed}"
    );
}

#[test]
fn a_receiver_that_never_closes_has_not_got_the_file() {
    // Its kernel holds every byte (acknowledged), its application none.
    let Some(failed) = send_to_rogue_receiver("rs", "silent", 45) else {
        return;
    };
    assert!(is(&failed, "file_failed"), "{failed}");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("did not close the bytestream"),
        "{failed}"
    );
}
