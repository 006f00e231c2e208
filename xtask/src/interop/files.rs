//! File transfer against real peers, and its figures (issue #23): the scenarios with
//! libpurple's Bonjour plugin both ways (XEP-0095/0096 offers, XEP-0065 SOCKS5), and
//! `cargo xtask transfer-bench`, which moves one file between two hosts of the lab by
//! each method beside the floor: a plain TCP copy, disk to disk, 64 KiB at a time
//! (`socat -u -b 65536`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::{event, json, prepare, target_dir, Lab};

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

/// The peak resident memory (VmHWM) of a process, in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
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

/// llxmpp on host a sends `source` to llxmpp on host b, which saves it in `into`; the
/// time from bob's `accept` to bob's `file_done`, and each side's peak RSS. Chat
/// messages from alice every 20 ms while the file moves give the median time a message
/// takes to reach bob during a transfer.
fn llxmpp_to_llxmpp(
    lab: &Lab,
    source: &Path,
    into: &Path,
) -> Result<(Duration, u64, u64, f64), String> {
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
        &serde_json::json!({"cmd": "send_file", "to": "bob@hostb", "path": source, "id": "bench"})
            .to_string(),
    )?;
    let offer = bob.expect(10.0, "the offer", event("file_offer"))?;
    let id = json(&offer)["id"].as_str().unwrap_or_default().to_owned();
    let started = Instant::now();
    bob.say(&serde_json::json!({"cmd": "accept", "id": id, "dir": into}).to_string())?;
    let mut sent_at = Vec::new();
    let mut latencies = Vec::new();
    let done_at = loop {
        let n = sent_at.len();
        alice.say(
            &serde_json::json!({"cmd": "send", "to": "bob@hostb", "body": format!("ping {n}")})
                .to_string(),
        )?;
        sent_at.push(Instant::now());
        let deadline = Instant::now() + Duration::from_millis(20);
        let mut finished = None;
        while Instant::now() < deadline {
            let Ok((at, line)) = bob.lines.recv_timeout(Duration::from_millis(5)) else {
                continue;
            };
            let value = json(&line);
            if value["event"] == "message" {
                if let Some(k) = value["body"]
                    .as_str()
                    .and_then(|b| b.strip_prefix("ping "))
                    .and_then(|k| k.parse::<usize>().ok())
                {
                    latencies.push(super::millis(sent_at[k], at));
                }
            } else if value["event"] == "file_done" || value["event"] == "file_failed" {
                finished = Some((at, value));
            }
        }
        if let Some((at, value)) = finished {
            if value["event"] != "file_done" {
                return Err(format!("the transfer failed: {value}"));
            }
            break at;
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err("the transfer took over 5 minutes".into());
        }
    };
    let took = done_at.saturating_duration_since(started);
    let rss = (
        peak_rss(alice.child.id()).unwrap_or(0),
        peak_rss(bob.child.id()).unwrap_or(0),
    );
    alice.expect(10.0, "alice's file_done", event("file_done"))?;
    for peer in [&mut alice, &mut bob] {
        let _ = peer.say(r#"{"cmd":"quit"}"#);
        let _ = peer.child.wait();
    }
    Ok((took, rss.0, rss.1, super::median(&mut latencies)))
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

    let floor_took = floor(&lab, &source, &lab.dir.join("floor.bin"))?;
    println!(
        "xtask: floor (socat -u -b 65536): {:.0} MB/s",
        mb_per_s(bytes, floor_took)
    );
    figures.insert("floor_mb_per_s".into(), mb_per_s(bytes, floor_took).into());

    let (took, alice_rss, bob_rss, latency) =
        llxmpp_to_llxmpp(&lab, &source, &lab.dir.join("inbox"))?;
    println!(
        "xtask: llxmpp -> llxmpp: {:.0} MB/s ({:.0} % of the floor), peak RSS sender {:.1} MiB, receiver {:.1} MiB, chat during the transfer {latency:.2} ms median",
        mb_per_s(bytes, took),
        100.0 * floor_took.as_secs_f64() / took.as_secs_f64(),
        alice_rss as f64 / 1048576.0,
        bob_rss as f64 / 1048576.0
    );
    figures.insert("llxmpp_mb_per_s".into(), mb_per_s(bytes, took).into());
    figures.insert("llxmpp_sender_peak_rss_bytes".into(), alice_rss.into());
    figures.insert("llxmpp_receiver_peak_rss_bytes".into(), bob_rss.into());
    figures.insert("llxmpp_chat_during_transfer_ms".into(), latency.into());
    println!("{}", serde_json::Value::Object(figures));
    Ok(())
}
