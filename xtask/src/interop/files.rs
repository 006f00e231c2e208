//! File transfer against real peers, and its figures (issue #23): the scenarios with
//! libpurple's Bonjour plugin both ways (XEP-0095/0096 offers, XEP-0065 SOCKS5), and
//! `cargo xtask transfer-bench`, which moves one file between two hosts of the lab by
//! each method beside the floor: a plain TCP copy, disk to disk, 64 KiB at a time
//! (`socat -u -b 65536`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{event, json, prepare, target_dir, Lab, Outcome, Peer};
use crate::netlab::{self, Avahi};

/// `len` bytes that do not repeat (xorshift): compression or a repeated block cannot
/// flatter a method, and a byte out of place shows in the SHA-256.
pub fn random_file(path: &Path, len: usize, seed: u64) -> Result<(), String> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// SHA-256 of a file, in lowercase hex (`sha256sum`, as the peers print it).
fn sha256_of(path: &Path) -> Result<String, String> {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .map_err(|e| format!("sha256sum: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// An iChat-style peer (xtask/driver/ichat_peer.py) on host c, `mac@hostc`, published by
/// Avahi on host b for host c's address with a TXT like iChat's: no caps `node`, so
/// llxmpp offers it files by OOB. `extra`: `--applesingle`, `--curl`.
fn ichat_on_host_c(lab: &Lab, root: &Path, extra: &[&str]) -> Result<(Peer, Vec<Peer>), String> {
    let driver = root
        .join("xtask/driver/ichat_peer.py")
        .display()
        .to_string();
    let mut args = vec![driver.as_str(), "5400"];
    args.extend(extra);
    let mut ichat = Peer::spawn(
        "iChat-style peer",
        lab.in_host("c", Path::new("/usr/bin/python3"), &args),
        &lab.dir.join("ichat-peer.log"),
    )?;
    ichat.expect(5.0, "the peer listening", |l| l == "LISTENING")?;
    let address = Peer::spawn(
        "avahi-publish -a",
        lab.in_host(
            "b",
            Path::new("avahi-publish"),
            &["-a", "-R", "mac-hostc.local", "10.83.0.3"],
        ),
        &lab.dir.join("avahi-publish-address.log"),
    )?;
    let service = Peer::spawn(
        "avahi-publish -s",
        lab.in_host(
            "b",
            Path::new("avahi-publish"),
            &[
                "-s",
                "-H",
                "mac-hostc.local",
                "mac@hostc",
                "_presence._tcp",
                "5400",
                "txtvers=1",
                "status=avail",
                "port.p2pj=5400",
                "1st=Mac",
            ],
        ),
        &lab.dir.join("avahi-publish-service.log"),
    )?;
    Ok((ichat, vec![address, service]))
}

/// The file scenarios with the iChat-style peer: llxmpp (dana on host d) sends it a file
/// by OOB, chosen from its TXT, which it GETs (AppleSingle asked, with its own client;
/// then with curl); it offers dana one, which she GETs; byte for byte both ways.
pub fn ichat_scenarios(lab: &Lab, root: &Path) -> Vec<(&'static str, Outcome)> {
    let mut results: Vec<(&'static str, Outcome)> = Vec::new();
    for (name, extra) in [
        (
            "19 files with an iChat-style OOB peer (AppleSingle asked), both ways, byte for byte: llxmpp picks OOB from its TXT, the peer GETs our URL; the peer's offer, we GET its URL",
            &["--applesingle"][..],
        ),
        (
            "20 curl fetches the URL llxmpp offers an iChat-style peer, byte for byte",
            &["--curl"][..],
        ),
    ] {
        let outcome = (|| {
            let (mut ichat, _published) = ichat_on_host_c(lab, root, extra)?;
            let mut dana = lab.llxmpp_chat("d", "dana", &[])?;
            dana.expect(15.0, "mac@hostc online", |l| {
                json(l)["event"] == "peer_online" && json(l)["peer"] == "mac@hostc"
            })?;
            let outbox = lab.dir.join("ichat-out");
            let inbox = lab.dir.join("ichat-in");
            let _ = std::fs::remove_dir_all(&inbox);
            std::fs::create_dir_all(&outbox).map_err(|e| e.to_string())?;
            let file = outbox.join("Screen Shot.png");
            random_file(&file, 3 << 20, 19)?;
            let digest = sha256_of(&file)?;
            dana.say(
                &serde_json::json!({"cmd": "send_file", "to": "mac@hostc", "path": file, "id": "m"})
                    .to_string(),
            )?;
            let fetched = ichat.expect(20.0, "the peer's GET", |l| l.starts_with("FETCHED"))?;
            if fetched != format!("FETCHED 200 {} {digest} -", 3 << 20) {
                return Err(format!("the peer reported {fetched:?}"));
            }
            let done = json(&dana.expect(10.0, "dana's end of it", |l| {
                let e = json(l);
                (e["event"] == "file_done" || e["event"] == "file_failed") && e["id"] == "m"
            })?);
            if done["event"] != "file_done" || done["sha256"] != digest.as_str() {
                return Err(format!("dana reported {done}"));
            }
            if extra.contains(&"--curl") {
                return Ok(());
            }
            // The other way: the peer serves, dana GETs.
            let theirs = outbox.join("from mac.bin");
            random_file(&theirs, 1 << 20, 23)?;
            let digest = sha256_of(&theirs)?;
            ichat.say(&format!("offer 10.83.0.4 5298 {}", theirs.display()))?;
            let offer = json(&dana.expect(10.0, "the peer's offer", event("file_offer"))?);
            if offer["method"] != "oob-http" || offer["name"] != "from mac.bin" || offer["from"] != "mac@hostc" {
                return Err(format!("dana saw {offer}"));
            }
            dana.say(&serde_json::json!({"cmd": "accept", "id": offer["id"], "dir": inbox}).to_string())?;
            let received = json(&dana.expect(20.0, "dana's file", |l| {
                let e = json(l);
                (e["event"] == "file_done" || e["event"] == "file_failed") && e["id"] == offer["id"]
            })?);
            if received["event"] != "file_done" || received["sha256"] != digest.as_str() {
                return Err(format!("dana reported {received}"));
            }
            if sha256_of(&inbox.join("from mac.bin"))? != digest {
                return Err("the saved file differs".into());
            }
            ichat.expect(10.0, "the answer to its offer", |l| l == "OFFER_ANSWER result")?;
            dana.quit()?;
            Ok(())
        })();
        results.push((name, outcome));
    }
    results
}

/// A driver line's `|`-separated fields after its word: `FILE_DONE 3|p|1|h` → `[3, p, 1, h]`.
fn fields(line: &str) -> Vec<String> {
    line.split_once(' ')
        .map(|(_, rest)| rest.split('|').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Sets the libpurple driver's answer to offers and waits until it is in force (its
/// `POLICY` line), so that the next offer meets it.
fn file_policy(purple: &mut Peer, words: &str) -> Result<(), String> {
    // An earlier policy's answer, already read, must not stand for this one's.
    purple.seen.retain(|(_, l)| !l.starts_with("POLICY "));
    purple.say(&format!("FILEPOLICY {words}"))?;
    let answer = format!("POLICY {words}");
    purple.expect(5.0, &answer, |l| l == answer)?;
    Ok(())
}

/// The end of libpurple's transfer `n`: its `FILE_DONE` or `FILE_FAILED` line.
fn purple_end(purple: &mut Peer, n: &str, secs: f64) -> Result<String, String> {
    let done = format!("FILE_DONE {n}|");
    let failed = format!("FILE_FAILED {n}|");
    purple.expect(secs, &format!("the end of libpurple's transfer {n}"), |l| {
        l.starts_with(&done) || l.starts_with(&failed)
    })
}

/// The end of llxmpp's transfer `id`: its `file_done` or `file_failed` event.
fn llxmpp_end(node: &mut Peer, id: &str, secs: f64) -> Result<serde_json::Value, String> {
    node.expect(secs, &format!("the end of llxmpp's transfer {id}"), |l| {
        let e = json(l);
        (e["event"] == "file_done" || e["event"] == "file_failed") && e["id"] == id
    })
    .map(|l| json(&l))
}

/// The file scenarios with libpurple's echobot on host b (XEP-0095 SI, XEP-0065
/// SOCKS5): dana (llxmpp on host d) and libpurple send each other files of 0 bytes, 1
/// byte and a few MiB with a UTF-8 name with spaces, byte for byte; each refuses the
/// other's offer; each cancels mid-transfer, as sender and as receiver.
pub fn libpurple_scenarios(lab: &Lab, purple: &mut Peer) -> Vec<(&'static str, Outcome)> {
    let mut results: Vec<(&'static str, Outcome)> = Vec::new();
    let outbox = lab.dir.join("files-out");
    let to_purple = lab.dir.join("files-libpurple");
    let to_dana = lab.dir.join("files-dana");
    let mut dana = match (|| {
        for dir in [&outbox, &to_purple, &to_dana] {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        super::dana_beside_echobot(lab, purple)
    })() {
        Ok(dana) => dana,
        Err(e) => return vec![("21 dana beside libpurple for files", Err(e))],
    };
    let files: Vec<(&str, usize)> =
        vec![("one byte", 1), ("naïve file ✓.bin", 4 << 20), ("empty", 0)];
    let setup = files
        .iter()
        .enumerate()
        .try_for_each(|(i, (name, len))| random_file(&outbox.join(name), *len, 100 + i as u64));

    results.push((
        "21 llxmpp -> libpurple files over SI + SOCKS5 (1 byte, 4 MiB with a UTF-8 name with spaces, 0 bytes), byte for byte",
        (|| {
            setup.clone()?;
            file_policy(purple, &format!("accept {}", to_purple.display()))?;
            for (i, (name, _)) in files.iter().enumerate() {
                purple.forget();
                let path = outbox.join(name);
                let digest = sha256_of(&path)?;
                let id = format!("p{i}");
                dana.say(&serde_json::json!({"cmd": "send_file", "to": "echobot@hostb", "path": path, "id": id}).to_string())?;
                let offer = purple.expect(10.0, "the offer in libpurple", |l| l.starts_with("FILE_OFFER "))?;
                let offered = fields(&offer);
                if offered.get(2).map(String::as_str) != Some(*name) {
                    return Err(format!("libpurple saw the offer {offer:?}"));
                }
                let ours = llxmpp_end(&mut dana, &id, 20.0)?;
                if ours["event"] != "file_done" || ours["sha256"] != digest.as_str() {
                    return Err(format!("dana reported {ours}"));
                }
                let theirs = purple_end(purple, &offered[0], 10.0)?;
                let saved = sha256_of(&to_purple.join(name))?;
                if name == &"empty" {
                    // libpurple takes size 0 as "unknown" and the end of the stream as the
                    // sender's cancel; the file it leaves is the empty file all the same.
                    if saved != digest {
                        return Err(format!("libpurple saved {saved} ({theirs})"));
                    }
                    continue;
                }
                if !theirs.starts_with("FILE_DONE") || fields(&theirs).get(3) != Some(&digest) || saved != digest {
                    return Err(format!("libpurple reported {theirs:?}, saved {saved}"));
                }
            }
            Ok(())
        })(),
    ));

    results.push((
        "22 libpurple -> llxmpp files over SI + SOCKS5 (1 byte, 4 MiB with a UTF-8 name with spaces, 0 bytes), byte for byte",
        (|| {
            setup.clone()?;
            for (name, _) in &files {
                dana.forget();
                purple.forget();
                let path = outbox.join(name);
                let digest = sha256_of(&path)?;
                purple.say(&format!("SENDFILE dana@hostd {}", path.display()))?;
                let sending = fields(&purple.expect(10.0, "FILE_SENDING", |l| l.starts_with("FILE_SENDING "))?);
                let offer = json(&dana.expect(10.0, "libpurple's offer", event("file_offer"))?);
                if offer["name"] != *name || offer["method"] != "si-socks5" || offer["from"] != "echobot@hostb" {
                    return Err(format!("dana saw {offer}"));
                }
                let id = offer["id"].as_str().unwrap_or_default().to_owned();
                dana.say(&serde_json::json!({"cmd": "accept", "id": id, "dir": to_dana}).to_string())?;
                let ours = llxmpp_end(&mut dana, &id, 20.0)?;
                if ours["event"] != "file_done" || ours["sha256"] != digest.as_str() || sha256_of(&to_dana.join(name))? != digest {
                    return Err(format!("dana reported {ours}"));
                }
                if name == &"empty" {
                    // libpurple's sender of an empty file never ends on its own.
                    purple.say(&format!("FILECANCEL {}", sending[0]))?;
                    continue;
                }
                let theirs = purple_end(purple, &sending[0], 10.0)?;
                if !theirs.starts_with("FILE_DONE") {
                    return Err(format!("libpurple reported {theirs:?}"));
                }
            }
            Ok(())
        })(),
    ));

    results.push((
        "23 refusals both ways: libpurple's is heard by llxmpp at once (matched by its SID), ours by libpurple",
        (|| {
            setup.clone()?;
            purple.forget();
            dana.forget();
            file_policy(purple, "reject")?;
            let path = outbox.join("one byte");
            let asked = Instant::now();
            dana.say(&serde_json::json!({"cmd": "send_file", "to": "echobot@hostb", "path": path, "id": "no"}).to_string())?;
            let ours = llxmpp_end(&mut dana, "no", 10.0)?;
            if ours["event"] != "file_failed" || !ours["reason"].as_str().unwrap_or_default().contains("refused") {
                return Err(format!("dana reported {ours}"));
            }
            println!("  files: libpurple's refusal reached llxmpp {:.1} ms after the offer", asked.elapsed().as_secs_f64() * 1000.0);
            purple.say(&format!("SENDFILE dana@hostd {}", path.display()))?;
            let sending = fields(&purple.expect(10.0, "FILE_SENDING", |l| l.starts_with("FILE_SENDING "))?);
            let offer = json(&dana.expect(10.0, "libpurple's offer", event("file_offer"))?);
            dana.say(&serde_json::json!({"cmd": "reject", "id": offer["id"]}).to_string())?;
            let theirs = purple_end(purple, &sending[0], 10.0)?;
            if !theirs.starts_with("FILE_FAILED") {
                return Err(format!("libpurple reported {theirs:?}"));
            }
            Ok(())
        })(),
    ));

    results.push((
        "24 cancels mid-transfer both ways, by sender and by receiver: the other side ends too, llxmpp leaves no partial file",
        (|| {
            // Hosts d and b send at 50 Mbit/s: 16 MiB take about 3 s either way, time to
            // cancel in the middle.
            for host in ["d", "b"] {
                netlab::throttle(&lab.ns(host), true)?;
            }
            let outcome = (|| {
                let big = outbox.join("big.bin");
                random_file(&big, 16 << 20, 7)?;
                file_policy(purple, &format!("accept {}", to_purple.display()))?;
                // llxmpp sends, cancels; then libpurple receives and cancels after 1 MiB.
                for (canceller, policy) in [("llxmpp", "accept"), ("libpurple", "cancel-after 1048576")] {
                    purple.forget();
                    dana.forget();
                    file_policy(purple, &format!("{policy} {}", to_purple.display()))?;
                    let id = format!("c-{canceller}");
                    dana.say(&serde_json::json!({"cmd": "send_file", "to": "echobot@hostb", "path": big, "id": id}).to_string())?;
                    let offer = fields(&purple.expect(10.0, "the offer", |l| l.starts_with("FILE_OFFER "))?);
                    // libpurple cancels on its own after 1 MiB (within our first quarter
                    // second: no progress is reported before).
                    if canceller == "llxmpp" {
                        dana.expect(10.0, "bytes moving", |l| json(l)["event"] == "file_progress")?;
                        dana.say(&serde_json::json!({"cmd": "cancel", "id": id}).to_string())?;
                    }
                    let ours = llxmpp_end(&mut dana, &id, 15.0)?;
                    let theirs = purple_end(purple, &offer[0], 15.0)?;
                    if ours["event"] != "file_failed" || !theirs.starts_with("FILE_FAILED") {
                        return Err(format!("{canceller} cancelled sending: dana {ours}, libpurple {theirs:?}"));
                    }
                }
                // libpurple sends and cancels; then llxmpp receives and cancels.
                for canceller in ["libpurple", "llxmpp"] {
                    purple.forget();
                    dana.forget();
                    purple.say(&format!("SENDFILE dana@hostd {}", big.display()))?;
                    let sending = fields(&purple.expect(10.0, "FILE_SENDING", |l| l.starts_with("FILE_SENDING "))?);
                    let offer = json(&dana.expect(10.0, "libpurple's offer", event("file_offer"))?);
                    let id = offer["id"].as_str().unwrap_or_default().to_owned();
                    dana.say(&serde_json::json!({"cmd": "accept", "id": id, "dir": to_dana}).to_string())?;
                    dana.expect(10.0, "bytes moving", |l| json(l)["event"] == "file_progress")?;
                    match canceller {
                        "libpurple" => purple.say(&format!("FILECANCEL {}", sending[0]))?,
                        _ => dana.say(&serde_json::json!({"cmd": "cancel", "id": id}).to_string())?,
                    }
                    let ours = llxmpp_end(&mut dana, &id, 15.0)?;
                    let theirs = purple_end(purple, &sending[0], 15.0)?;
                    if ours["event"] != "file_failed" || !theirs.starts_with("FILE_FAILED") {
                        return Err(format!("{canceller} cancelled receiving: dana {ours}, libpurple {theirs:?}"));
                    }
                    if to_dana.join("big.bin").exists() || to_dana.join("big.bin.part").exists() {
                        return Err("llxmpp left a file behind".into());
                    }
                }
                Ok(())
            })();
            for host in ["d", "b"] {
                let _ = netlab::throttle(&lab.ns(host), false);
            }
            outcome
        })(),
    ));

    let _ = dana.quit();
    let _ = purple.say("FILEPOLICY ask");
    results
}

/// The peak resident memory (VmHWM) of a process, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Between two measurements: the copies made so far are removed and written back
/// (`sync`), so that no method pays for the dirty pages of the one before it (with many
/// GiB written in a row, the kernel throttles writers and the later methods looked
/// slower), and the source stays in the page cache for all of them.
fn settle(lab: &Lab) {
    if let Ok(entries) = std::fs::read_dir(&lab.dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "source.bin" || !(path.is_dir() || name.to_string_lossy().ends_with(".bin"))
            {
                continue;
            }
            if path.is_dir() && name != "hostc" && name != "purple" {
                let _ = std::fs::remove_dir_all(&path);
            } else if path.is_file() {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let _ = Command::new("sync").status();
    std::thread::sleep(Duration::from_secs(1));
}

fn mb_per_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / took.as_secs_f64() / 1e6
}

/// The floor: `socat` copying `source` on host a into `into` on host b over TCP.
fn floor(lab: &Lab, source: &Path, into: &Path) -> Result<Duration, String> {
    let _ = std::fs::remove_file(into);
    let mut listener = lab
        .in_host(
            "b",
            Path::new("socat"),
            &[
                "-u",
                "-b",
                "65536",
                "TCP-LISTEN:6000,reuseaddr",
                &format!("CREATE:{}", into.display()),
            ],
        )
        .spawn()
        .map_err(|e| format!("socat: {e}"))?;
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let sent = lab
        .in_host(
            "a",
            Path::new("socat"),
            &[
                "-u",
                "-b",
                "65536",
                &format!("FILE:{}", source.display()),
                "TCP:10.83.0.2:6000",
            ],
        )
        .status()
        .map_err(|e| format!("socat: {e}"))?;
    let received = listener.wait().map_err(|e| e.to_string())?;
    let took = started.elapsed();
    if !sent.success() || !received.success() {
        return Err("the socat copy failed".into());
    }
    Ok(took)
}

/// How long the receiver took, from its `accept` (or from the offer, for a libpurple
/// that accepts on its own) to its end; each side's peak RSS; and the median time a chat
/// message from the sender took to reach the receiver while the file moved.
struct Moved {
    took: Duration,
    sender_rss: u64,
    receiver_rss: u64,
    chat_ms: f64,
}

/// Sends chat messages from `say` every 20 ms until `finished` sees the end in a line of
/// `watch`; the times the messages took to show in `watch` (by `heard`, which gives the
/// message's number), and the time of the end.
fn chat_while(
    mut say: impl FnMut(usize) -> Result<(), String>,
    watch: &mut Peer,
    heard: impl Fn(&str) -> Option<usize>,
    finished: impl Fn(&str) -> Option<Result<(), String>>,
) -> Result<(Instant, Vec<f64>), String> {
    let started = Instant::now();
    let mut sent_at = Vec::new();
    let mut latencies = Vec::new();
    loop {
        say(sent_at.len())?;
        sent_at.push(Instant::now());
        let deadline = Instant::now() + Duration::from_millis(20);
        while Instant::now() < deadline {
            let Ok((at, line)) = watch.lines.recv_timeout(Duration::from_millis(5)) else {
                continue;
            };
            if let Some(k) = heard(&line).filter(|k| *k < sent_at.len()) {
                latencies.push(super::millis(sent_at[k], at));
            }
            if let Some(end) = finished(&line) {
                end?;
                return Ok((at, latencies));
            }
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err("the transfer took over 5 minutes".into());
        }
    }
}

/// llxmpp on host a sends `source` to llxmpp on host b by `method`, which saves it in
/// `into`.
fn llxmpp_to_llxmpp(lab: &Lab, source: &Path, into: &Path, method: &str) -> Result<Moved, String> {
    let _ = std::fs::remove_dir_all(into);
    let mut alice = lab.llxmpp_chat("a", "alice", &[])?;
    let mut bob = lab.llxmpp_chat("b", "bob", &[])?;
    alice.expect(15.0, "bob online", |l| {
        json(l)["event"] == "peer_online" && json(l)["peer"] == "bob@hostb"
    })?;
    bob.expect(15.0, "alice online", |l| {
        json(l)["event"] == "peer_online" && json(l)["peer"] == "alice@hosta"
    })?;
    alice.say(
        &serde_json::json!({"cmd": "send_file", "to": "bob@hostb", "path": source, "id": "bench", "method": method})
            .to_string(),
    )?;
    let offer = bob.expect(10.0, "the offer", event("file_offer"))?;
    let id = json(&offer)["id"].as_str().unwrap_or_default().to_owned();
    let started = Instant::now();
    bob.say(&serde_json::json!({"cmd": "accept", "id": id, "dir": into}).to_string())?;
    let (done_at, mut latencies) = chat_while(
        |n| {
            alice.say(
                &serde_json::json!({"cmd": "send", "to": "bob@hostb", "body": format!("ping {n}")})
                    .to_string(),
            )
        },
        &mut bob,
        |line| {
            let e = json(line);
            (e["event"] == "message")
                .then(|| e["body"].as_str()?.strip_prefix("ping ")?.parse().ok())
                .flatten()
        },
        |line| {
            let e = json(line);
            match e["event"].as_str() {
                Some("file_done") => Some(Ok(())),
                Some("file_failed") => Some(Err(format!("the transfer failed: {e}"))),
                _ => None,
            }
        },
    )?;
    let moved = Moved {
        took: done_at.saturating_duration_since(started),
        sender_rss: peak_rss(alice.child.id()).unwrap_or(0),
        receiver_rss: peak_rss(bob.child.id()).unwrap_or(0),
        chat_ms: super::median(&mut latencies),
    };
    alice.expect(10.0, "alice's file_done", event("file_done"))?;
    for peer in [&mut alice, &mut bob] {
        peer.quit()?;
    }
    Ok(moved)
}

/// A second libpurple driver, `purple@hostc` on host c, with an avahi-daemon of its own.
fn purple_on_host_c(lab: &Lab) -> Result<(Peer, Avahi), String> {
    let dir = lab.dir.join("hostc");
    std::fs::create_dir_all(dir.join("purple")).map_err(|e| e.to_string())?;
    let avahi = Avahi::start(&lab.ns("c"), &dir, "hostc")?;
    let home = dir.join("purple").display().to_string();
    let mut command = netlab::in_namespace(&lab.ns("c"), &lab.driver);
    command
        .args(["purple@hostc", &home, "Purple", "C"])
        .env("DBUS_SYSTEM_BUS_ADDRESS", netlab::bus_address(&dir))
        .env("HOME", &home);
    let mut purple = Peer::spawn(
        "libpurple purple@hostc",
        command,
        &dir.join("libpurple.log"),
    )?;
    purple.expect(15.0, "SIGNED_ON", |l| l.starts_with("SIGNED_ON"))?;
    Ok((purple, avahi))
}

/// libpurple sends `source` to the other libpurple, which accepts on its own into `into`;
/// from its offer to its `FILE_DONE`. Chat from the sender to the receiver meanwhile.
fn purple_to_purple(
    sender: &mut Peer,
    sender_name: &str,
    receiver: &mut Peer,
    receiver_name: &str,
    source: &Path,
    into: &Path,
) -> Result<Moved, String> {
    let _ = std::fs::remove_dir_all(into);
    std::fs::create_dir_all(into).map_err(|e| e.to_string())?;
    file_policy(receiver, &format!("accept {}", into.display()))?;
    sender.forget();
    receiver.forget();
    sender.say(&format!("SENDFILE {receiver_name} {}", source.display()))?;
    let (started, _) = receiver.expect_at(10.0, "the offer", |l| l.starts_with("FILE_OFFER "))?;
    let (done_at, mut latencies) = chat_while(
        |n| sender.say(&format!("SEND {receiver_name} ping {n}")),
        receiver,
        |line| {
            line.strip_prefix(&format!("RECV {sender_name}|ping "))?
                .parse()
                .ok()
        },
        |line| {
            if line.starts_with("FILE_DONE ") {
                Some(Ok(()))
            } else if line.starts_with("FILE_FAILED ") {
                Some(Err(format!("libpurple: {line}")))
            } else {
                None
            }
        },
    )?;
    Ok(Moved {
        took: done_at.saturating_duration_since(started),
        sender_rss: peak_rss(sender.child.id()).unwrap_or(0),
        receiver_rss: peak_rss(receiver.child.id()).unwrap_or(0),
        chat_ms: super::median(&mut latencies),
    })
}

fn report(
    figures: &mut serde_json::Map<String, serde_json::Value>,
    key: &str,
    what: &str,
    moved: &Moved,
    bytes: u64,
    floor: Duration,
) {
    println!(
        "xtask: {what}: {:.0} MB/s ({:.0} % of the floor), peak RSS sender {:.1} MiB, receiver {:.1} MiB, chat during the transfer {:.2} ms median",
        mb_per_s(bytes, moved.took),
        100.0 * floor.as_secs_f64() / moved.took.as_secs_f64(),
        moved.sender_rss as f64 / 1048576.0,
        moved.receiver_rss as f64 / 1048576.0,
        moved.chat_ms
    );
    figures.insert(
        format!("{key}_mb_per_s"),
        mb_per_s(bytes, moved.took).into(),
    );
    figures.insert(
        format!("{key}_sender_peak_rss_bytes"),
        moved.sender_rss.into(),
    );
    figures.insert(
        format!("{key}_receiver_peak_rss_bytes"),
        moved.receiver_rss.into(),
    );
    figures.insert(
        format!("{key}_chat_during_transfer_ms"),
        moved.chat_ms.into(),
    );
}

/// `cargo xtask transfer-bench [--mib N]`: the figures of benches/README.md's file
/// transfer table, as JSON.
pub fn transfer_bench(root: &Path, args: &[String]) -> Result<(), String> {
    let mib: usize = match args {
        [] => 1024,
        [flag, n] if flag == "--mib" => n.parse().map_err(|_| format!("--mib {n}?"))?,
        other => return Err(format!("transfer-bench takes --mib N (got {other:?})")),
    };
    let (llxmpp, driver) = prepare(root, true)?;
    if !Command::new("socat")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        super::run("apt-get", &["install", "-y", "-qq", "socat"])?;
    }
    let mut lab = Lab::new(target_dir(root).join("transfer-bench"), llxmpp, driver)?;
    lab.log_level = "info";
    let source = lab.dir.join("source.bin");
    random_file(&source, mib << 20, 42)?;
    let bytes = (mib << 20) as u64;
    let mut figures = serde_json::Map::new();
    figures.insert("mib".into(), mib.into());

    settle(&lab);
    let floor_took = floor(&lab, &source, &lab.dir.join("floor.bin"))?;
    println!(
        "xtask: floor (socat -u -b 65536): {:.0} MB/s",
        mb_per_s(bytes, floor_took)
    );
    figures.insert("floor_mb_per_s".into(), mb_per_s(bytes, floor_took).into());

    for (method, key) in [("oob", "llxmpp_oob"), ("si", "llxmpp_si")] {
        settle(&lab);
        let moved = llxmpp_to_llxmpp(&lab, &source, &lab.dir.join("inbox"), method)?;
        report(
            &mut figures,
            key,
            &format!("llxmpp -> llxmpp ({method})"),
            &moved,
            bytes,
            floor_took,
        );
    }

    // libpurple: echobot on host b (with the lab's Avahi), purple@hostc on host c.
    lab.start_avahi()?;
    let mut echobot = lab.purple()?;
    echobot.expect(15.0, "SIGNED_ON", |l| l.starts_with("SIGNED_ON"))?;
    let (mut purple_c, _avahi_c) = purple_on_host_c(&lab)?;
    echobot.expect(20.0, "purple@hostc online", |l| {
        l.starts_with("BUDDY_ON purple@hostc|")
    })?;
    purple_c.expect(20.0, "echobot online", |l| {
        l.starts_with("BUDDY_ON echobot@hostb|")
    })?;
    settle(&lab);
    let moved = purple_to_purple(
        &mut echobot,
        "echobot@hostb",
        &mut purple_c,
        "purple@hostc",
        &source,
        &lab.dir.join("purple-in"),
    )?;
    report(
        &mut figures,
        "libpurple",
        "libpurple -> libpurple",
        &moved,
        bytes,
        floor_took,
    );

    // llxmpp and libpurple, both ways (alice on host a, echobot on host b).
    let mut alice = lab.llxmpp_chat("a", "alice", &[])?;
    alice.expect(15.0, "echobot online", |l| {
        json(l)["event"] == "peer_online" && json(l)["peer"] == "echobot@hostb"
    })?;
    echobot.expect(20.0, "alice online", |l| {
        l.starts_with("BUDDY_ON alice@hosta|")
    })?;
    settle(&lab);
    let into = lab.dir.join("purple-from-llxmpp");
    let _ = std::fs::remove_dir_all(&into);
    std::fs::create_dir_all(&into).map_err(|e| e.to_string())?;
    file_policy(&mut echobot, &format!("accept {}", into.display()))?;
    echobot.forget();
    alice.say(&serde_json::json!({"cmd": "send_file", "to": "echobot@hostb", "path": source, "id": "to-purple"}).to_string())?;
    let (started, _) = echobot.expect_at(10.0, "the offer", |l| l.starts_with("FILE_OFFER "))?;
    let (done_at, _) = echobot.expect_at(300.0, "libpurple's FILE_DONE", |l| {
        l.starts_with("FILE_DONE ") || l.starts_with("FILE_FAILED ")
    })?;
    let took = done_at.saturating_duration_since(started);
    println!(
        "xtask: llxmpp -> libpurple: {:.0} MB/s",
        mb_per_s(bytes, took)
    );
    figures.insert(
        "llxmpp_to_libpurple_mb_per_s".into(),
        mb_per_s(bytes, took).into(),
    );
    alice.expect(20.0, "alice's end", |l| json(l)["event"] == "file_done")?;

    settle(&lab);
    alice.forget();
    echobot.say(&format!("SENDFILE alice@hosta {}", source.display()))?;
    let offer = json(&alice.expect(10.0, "libpurple's offer", event("file_offer"))?);
    let started = Instant::now();
    let into = lab.dir.join("llxmpp-from-purple");
    alice.say(&serde_json::json!({"cmd": "accept", "id": offer["id"], "dir": into}).to_string())?;
    let (done_at, _) = alice.expect_at(300.0, "alice's file", |l| {
        json(l)["event"] == "file_done" || json(l)["event"] == "file_failed"
    })?;
    let took = done_at.saturating_duration_since(started);
    println!(
        "xtask: libpurple -> llxmpp: {:.0} MB/s",
        mb_per_s(bytes, took)
    );
    figures.insert(
        "libpurple_to_llxmpp_mb_per_s".into(),
        mb_per_s(bytes, took).into(),
    );
    let _ = alice.quit();
    let _ = echobot.say("QUIT");
    let _ = purple_c.say("QUIT");
    println!("{}", serde_json::Value::Object(figures));
    Ok(())
}
