//! Wide-area scenarios (issue 24): two links joined by a router that passes no
//! multicast, a real BIND 9 primary on the router (the zone `example.test`, updates signed
//! with a `tsig-keygen` key) and a secondary on link b kept by NOTIFY + IXFR; each link's
//! hosts ask their own server (llxmpp by `--dns-server`, Avahi by the namespace's
//! resolv.conf). `alice@hosta` (link a) and `bob@hostb` (link b) are llxmpp nodes, Avahi
//! runs on host b, and BIND's own `nsupdate` registers a service from host a.

use std::path::Path;
use std::time::Duration;

use super::{event, json, Lab, Outcome, Peer};
use crate::netlab::{self, Avahi, Bind, Routed};

pub const SCENARIOS: [&str; 4] = [
    "26 wide-area: llxmpp nodes on two links joined by a router without multicast, each asking its own link's server (BIND primary; secondary by NOTIFY + IXFR), register, see each other, chat both ways, and a status change crosses",
    "27 wide-area: Avahi on the other link (enable-wide-area, browse-domains, its link's secondary) resolves llxmpp's registration",
    "28 wide-area: llxmpp sees a registration made with BIND's nsupdate; a quit removes llxmpp's records from the zone (the secondary answers so)",
    "29 wide-area: a key the primary does not share (same name, another secret) is one error naming BADSIG; nothing is written, and the node stays ready on its link",
];

const NET: u8 = 88;
const ZONE: &str = "example.test";

/// Removes the namespace's resolv.conf when dropped.
struct ResolvConf(std::path::PathBuf);

impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn scenarios(lab: &Lab) -> Vec<(&'static str, Outcome)> {
    if !netlab::bind_installed() {
        let why = "BIND 9 is not installed (apt-get install bind9 bind9-dnsutils)".to_owned();
        return SCENARIOS.iter().map(|s| (*s, Err(why.clone()))).collect();
    }
    match run(lab) {
        Ok(results) => results,
        Err(e) => SCENARIOS.iter().map(|s| (*s, Err(e.clone()))).collect(),
    }
}

fn run(lab: &Lab) -> Result<Vec<(&'static str, Outcome)>, String> {
    let routed = Routed::new(&format!("xw{}", std::process::id() % 10_000), NET)?;
    let (router_a, host_b) = (format!("10.{NET}.1.254"), format!("10.{NET}.2.1"));
    let router_b = format!("10.{NET}.2.254");
    let primary = Bind::start(
        Some(&routed.ns("r")),
        &lab.dir.join("wide-primary"),
        ZONE,
        &[&router_a, &router_b],
        53,
        true,
        &[&host_b],
    )?;
    let _secondary = Bind::secondary(
        &routed.ns("b"),
        &lab.dir.join("wide-secondary"),
        ZONE,
        &host_b,
        &router_b,
    )?;
    // Host b's resolver is its link's secondary: what Avahi reads (ip netns exec mounts
    // /etc/netns/NS/resolv.conf over /etc/resolv.conf).
    let netns_dir = Path::new("/etc/netns").join(routed.ns("b"));
    std::fs::create_dir_all(&netns_dir).map_err(|e| e.to_string())?;
    let _resolv = ResolvConf(netns_dir.clone());
    std::fs::write(
        netns_dir.join("resolv.conf"),
        format!("nameserver {host_b}\n"),
    )
    .map_err(|e| e.to_string())?;
    let avahi_dir = lab.dir.join("wide-avahi");
    std::fs::create_dir_all(&avahi_dir).map_err(|e| e.to_string())?;
    let _avahi = Avahi::start_browsing(&routed.ns("b"), &avahi_dir, "hostb", Some(ZONE))?;

    let key = primary.key_file.display().to_string();
    let node = |host: &str, name: &str, server: &str| -> Result<Peer, String> {
        let mut command = netlab::in_namespace(&routed.ns(host), &lab.llxmpp);
        command
            .args(netlab::chat_args(name, host))
            .args(["--domain", ZONE, "--dns-server", server, "--tsig-key", &key])
            .args(["--zone-poll", "1"]);
        command.env("RUST_LOG", lab.log_level);
        Peer::spawn(
            &format!("llxmpp {name}@host{host}"),
            command,
            &lab.dir.join(format!("wide-{name}.log")),
        )
    };
    let mut alice = node("a", "alice", &router_a)?;
    let mut bob = node("b", "bob", &host_b)?;
    let mut results: Vec<(&'static str, Outcome)> = Vec::new();

    results.push((SCENARIOS[0], (|| {
        alice.expect(20.0, "alice registered", event("registered"))?;
        bob.expect(20.0, "bob registered", event("registered"))?;
        let seen = json(&alice.expect(30.0, "bob online at alice", |l| {
            json(l)["event"] == "peer_online" && json(l)["peer"] == "bob@hostb"
        })?);
        if seen["addresses"] != serde_json::json!([host_b]) {
            return Err(format!("alice saw {seen}"));
        }
        bob.expect(30.0, "alice online at bob", |l| {
            json(l)["event"] == "peer_online" && json(l)["peer"] == "alice@hosta"
        })?;
        let send = serde_json::json!({"cmd": "send", "to": "bob@hostb", "body": "over the router", "id": "w1"});
        alice.say(&send.to_string())?;
        bob.expect(10.0, "alice's message", |l| {
            json(l)["event"] == "message" && json(l)["body"] == "over the router"
        })?;
        let back = serde_json::json!({"cmd": "send", "to": "alice@hosta", "body": "and back", "id": "w2"});
        bob.say(&back.to_string())?;
        alice.expect(10.0, "bob's message", |l| {
            json(l)["event"] == "message" && json(l)["body"] == "and back"
        })?;
        bob.say(&serde_json::json!({"cmd": "status", "status": "away", "msg": "next door"}).to_string())?;
        // A user's away is published as dnd (what Apple-era peers show as Away).
        alice.expect(20.0, "bob's status", |l| {
            json(l)["event"] == "peer_changed" && json(l)["msg"] == "next door"
        })?;
        Ok(())
    })()));

    results.push((
        SCENARIOS[1],
        (|| {
            // Avahi's wide-area browser is its own: ask it to resolve alice in the zone.
            let bus = netlab::bus_address(&avahi_dir);
            let mut last = String::new();
            for _ in 0..20 {
                let output = netlab::avahi_browse_once(
                    &routed.ns("b"),
                    &["-r", "-t", "-p", "-d", ZONE, "_presence._tcp"],
                )
                .env("DBUS_SYSTEM_BUS_ADDRESS", &bus)
                .output()
                .map_err(|e| format!("avahi-browse: {e}"))?;
                last = String::from_utf8_lossy(&output.stdout).into_owned();
                let resolved = last.lines().any(|l| {
                    l.starts_with("=;")
                        && l.contains("alice\\064hosta")
                        && l.contains(&format!("10.{NET}.1.1"))
                });
                if resolved {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(format!(
                "avahi-browse -d {ZONE} never resolved alice: {last:?}"
            ))
        })(),
    ));

    results.push((SCENARIOS[2], (|| {
        let script = format!(
            "server {router_a}\nzone {ZONE}\n\
             update add _presence._tcp.{ZONE}. 60 PTR dave\\@hostd._presence._tcp.{ZONE}.\n\
             update add dave\\@hostd._presence._tcp.{ZONE}. 60 SRV 0 0 5298 hostd.{ZONE}.\n\
             update add dave\\@hostd._presence._tcp.{ZONE}. 60 TXT \"txtvers=1\" \"status=dnd\" \"1st=Dave\"\n\
             update add hostd.{ZONE}. 60 A 10.{NET}.1.4\nsend\n"
        );
        let mut nsupdate = netlab::in_namespace(&routed.ns("a"), "nsupdate")
            .arg("-k")
            .arg(&primary.key_file)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("nsupdate: {e}"))?;
        {
            use std::io::Write;
            let mut stdin = nsupdate.stdin.take().ok_or("nsupdate's stdin")?;
            stdin.write_all(script.as_bytes()).map_err(|e| e.to_string())?;
        }
        if !nsupdate.wait().map_err(|e| e.to_string())?.success() {
            return Err("nsupdate failed".into());
        }
        let dave = json(&bob.expect(20.0, "dave online at bob", |l| {
            json(l)["event"] == "peer_online" && json(l)["peer"] == "dave@hostd"
        })?);
        if dave["status"] != "dnd" || dave["first"] != "Dave" {
            return Err(format!("bob saw {dave}"));
        }
        alice.quit()?;
        bob.expect(20.0, "alice offline at bob", |l| {
            json(l)["event"] == "peer_offline" && json(l)["peer"] == "alice@hosta"
        })?;
        let output = netlab::in_namespace(&routed.ns("b"), "dig")
            .args([&format!("@{host_b}"), "+short", &format!("_presence._tcp.{ZONE}"), "PTR"])
            .output()
            .map_err(|e| format!("dig: {e}"))?;
        let listed = String::from_utf8_lossy(&output.stdout);
        if listed.contains("alice") || !listed.contains("bob") {
            return Err(format!("the secondary lists {listed:?}"));
        }
        Ok(())
    })()));

    results.push((SCENARIOS[3], (|| {
        let wrong = lab.dir.join("wide-wrong.key");
        std::fs::write(
            &wrong,
            "key \"llxmpp-test.\" {\n\talgorithm hmac-sha256;\n\tsecret \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\";\n};\n",
        )
        .map_err(|e| e.to_string())?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| e.to_string())?;
        }
        let mut command = netlab::in_namespace(&routed.ns("a"), &lab.llxmpp);
        command
            .args(netlab::chat_args("carol", "a"))
            .args(["--domain", ZONE, "--dns-server", &router_a])
            .arg("--tsig-key")
            .arg(&wrong);
        command.env("RUST_LOG", lab.log_level);
        let mut carol = Peer::spawn("llxmpp carol@hosta", command, &lab.dir.join("wide-carol.log"))?;
        let error = json(&carol.expect(20.0, "the refusal", event("error"))?);
        let message = error["message"].as_str().unwrap_or_default();
        if !message.contains("BADSIG") || !message.contains(ZONE) {
            return Err(format!("carol said {error}"));
        }
        carol.expect(10.0, "ready on the link", event("ready"))?;
        let output = netlab::in_namespace(&routed.ns("b"), "dig")
            .args([&format!("@{host_b}"), "+short", &format!("_presence._tcp.{ZONE}"), "PTR"])
            .output()
            .map_err(|e| format!("dig: {e}"))?;
        let listed = String::from_utf8_lossy(&output.stdout);
        if listed.contains("carol") {
            return Err(format!("the zone lists {listed:?}"));
        }
        carol.quit()?;
        Ok(())
    })()));

    let _ = bob.quit();
    Ok(results)
}
