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
