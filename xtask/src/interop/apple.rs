//! Apple's mDNSResponder as a real peer: host d is a "Mac" (host name `hostd`) running
//! `mdnsd`, with services registered by Apple's `dns-sd -R` and through `libdns_sd.so`
//! (DNSServiceRegister, DNSServiceUpdateRecord, by xtask/driver/dnssd_register.py), and
//! Apple's `dns-sd -B/-L/-G` looking for llxmpp.
//!
//! The binaries (`mdnsd`, `dns-sd`, `libdns_sd.so`, a Linux build of mDNSResponder) come
//! from `--mdnsresponder DIR`, else from `../shared/peers/mdnsresponder` beside the
//! workspace. When neither holds them, the scenarios are skipped with the reason, and
//! counted as failed when the environment variable `CI` is set: CI must run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{event, json, Lab, Outcome, Peer};
use crate::netlab;

/// What mDNSResponder's binaries need at run time (Debian 12).
pub const RUNTIME_PACKAGES: [&str; 3] = ["libmbedtls14", "libmbedcrypto7", "libmbedx509-1"];

/// The scenarios' names, also reported when they cannot run.
pub const SCENARIOS: [&str; 7] = [
    "10 mDNSResponder: a service registered with Apple's dns-sd -R appears in llxmpp (chat roster and `llxmpp peers --json`) with its TXT status and address",
    "11 mDNSResponder: a TXT record updated in place (DNSServiceUpdateRecord) is a status change in llxmpp",
    "12 mDNSResponder: its goodbyes (dns-sd -R killed, a registration deallocated) take the peers offline in llxmpp",
    "13 mDNSResponder: Apple's dns-sd -B finds llxmpp, -L resolves its SRV and TXT, -G v4 its host's address",
    "14 mDNSResponder: a newcomer loses the probe to an established Mac: llxmpp started twice as bob@hostd, which the Mac holds and has announced, renames itself; the Mac keeps its name",
    "15 mDNSResponder: chat both ways with an iChat-style peer on the Mac (writes its header first, names itself nowhere); with a second service on its address, its unattributable stream is refused aloud",
    "16 mDNSResponder: a Mac that registers the name llxmpp holds renames itself (`name (2)`), llxmpp keeps it; llxmpp's goodbye is a removal in Apple's dns-sd -B within 2 s",
];

/// The folder holding mDNSResponder's binaries: `given`, else the shared one beside the
/// workspace. `Err` says where it looked.
pub fn locate(root: &Path, given: Option<&Path>) -> Result<PathBuf, String> {
    let dir = match given {
        Some(dir) => dir.to_owned(),
        None => root.join("../shared/peers/mdnsresponder"),
    };
    let missing: Vec<&str> = ["mdnsd", "dns-sd", "libdns_sd.so"]
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "mDNSResponder not found: {} lacks {} (give its folder with --mdnsresponder DIR)",
            dir.display(),
            missing.join(", ")
        ));
    }
    std::fs::canonicalize(&dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Installs the runtime libraries when `mdnsd` lacks one.
pub fn prepare(dir: &Path) -> Result<(), String> {
    let lacks_library = || {
        Command::new("ldd")
            .arg(dir.join("mdnsd"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("not found"))
            .unwrap_or(true)
    };
    if !lacks_library() {
        return Ok(());
    }
    println!("xtask: installing {}", RUNTIME_PACKAGES.join(" "));
    super::run("apt-get", &["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(RUNTIME_PACKAGES);
    let status = Command::new("apt-get")
        .args(&install)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() || lacks_library() {
        return Err(format!(
            "mDNSResponder's libraries are missing; apt-get install {}",
            RUNTIME_PACKAGES.join(" ")
        ));
    }
    Ok(())
}

/// mDNSResponder running on host d.
pub struct Mac {
    dir: PathBuf,
    /// The daemon's pid: its clients enter its mount namespace, where its socket is.
    pid: u32,
}

impl Mac {
    /// Starts `mdnsd` on host d of `lab`, with its own `/var/run` (a tmpfs in a private
    /// mount namespace: the daemon's socket and pid file are fixed paths there) and its
    /// own host name, `hostd`; waits until it answers `dns-sd -V`.
    pub fn start(lab: &mut Lab, dir: &Path) -> Result<Mac, String> {
        Mac::start_on(lab, dir, "d")
    }

    /// As [`Mac::start`], on `host` of `lab`, with the host name `host<host>`.
    fn start_on(lab: &mut Lab, dir: &Path, host: &str) -> Result<Mac, String> {
        let script = format!(
            "mount -t tmpfs tmpfs /var/run && hostname host{host} && exec {} -debug",
            dir.join("mdnsd").display()
        );
        let log = std::fs::File::create(lab.dir.join(format!("mdnsd-{host}.log")))
            .map_err(|e| e.to_string())?;
        let child = netlab::in_namespace(&lab.ns(host), "unshare")
            .args(["-m", "-u", "--propagation", "private", "sh", "-c", &script])
            .env("LD_LIBRARY_PATH", dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("mdnsd: {e}"))?;
        let mac = Mac {
            dir: dir.to_owned(),
            pid: child.id(),
        };
        lab.daemons.push(child);
        netlab::wait_for(
            || {
                mac.command("dns-sd", &["-V"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            },
            "mdnsd",
        )?;
        Ok(mac)
    }

    /// `program` (a file of the mDNSResponder folder, or a path) run on the Mac, in the
    /// daemon's namespaces.
    pub fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = match self.dir.join(program) {
            local if local.is_file() => local,
            _ => PathBuf::from(program),
        };
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &self.pid.to_string(), "-m", "-u", "-n"])
            .arg(program)
            .args(args)
            .env("LD_LIBRARY_PATH", &self.dir);
        command
    }

    /// Ends the daemon (SIGTERM: it says its goodbyes) and waits until it
    /// has exited (a zombie until the lab reaps it), so that another can take its host;
    /// 10 s at most.
    fn stop(self) {
        let _ = run_kill(self.pid);
        let stat = format!("/proc/{}/stat", self.pid);
        let _ = netlab::wait_for(
            || {
                std::fs::read_to_string(&stat).map_or(true, |s| {
                    s.rsplit(')')
                        .next()
                        .is_some_and(|r| r.trim_start().starts_with('Z'))
                })
            },
            "mdnsd's exit",
        );
    }

    /// Apple's `dns-sd -B _presence._tcp` on the Mac, once it has listed `instance`.
    fn browse_until(&self, lab: &Lab, name: &str, instance: &str) -> Result<Peer, String> {
        let mut browse = self.spawn(lab, name, "dns-sd", &["-B", "_presence._tcp", "local"])?;
        browse.expect(10.0, &format!("{instance} in dns-sd -B"), |l| {
            l.contains(" Add ") && l.ends_with(instance)
        })?;
        Ok(browse)
    }

    fn spawn(&self, lab: &Lab, name: &str, program: &str, args: &[&str]) -> Result<Peer, String> {
        let log = lab.dir.join(format!("{}.log", name.replace(' ', "-")));
        Peer::spawn(name, self.command(program, args), &log)
    }
}

/// Runs the scenarios against the Mac, with llxmpp nodes on hosts a and c.
pub fn scenarios(lab: &mut Lab, dir: &Path, root: &Path) -> Vec<(&'static str, Outcome)> {
    let mac = match Mac::start(lab, dir) {
        Ok(mac) => mac,
        Err(e) => return SCENARIOS.iter().map(|s| (*s, Err(e.clone()))).collect(),
    };
    let mut ivy = match lab.llxmpp_chat("a", "ivy", &["--first", "Ivy"]) {
        Ok(ivy) => ivy,
        Err(e) => return SCENARIOS.iter().map(|s| (*s, Err(e.clone()))).collect(),
    };
    let helper = root.join("xtask/driver/dnssd_register.py");
    let mut results = Vec::new();
    let mut bob = None;
    let mut carl_gone = false;
    let peer_event = |kind: &'static str, peer: &'static str| {
        move |l: &str| json(l)["event"] == kind && json(l)["peer"] == peer
    };

    results.push((
        SCENARIOS[0],
        (|| {
            ivy.expect(10.0, "ready", event("ready"))?;
            let mut registered = mac.spawn(
                lab,
                "dns-sd -R bob",
                "dns-sd",
                &[
                    "-R",
                    "bob@hostd",
                    "_presence._tcp",
                    "local",
                    "5298",
                    "txtvers=1",
                    "status=away",
                    "1st=Bob",
                    "msg=on a Mac",
                ],
            )?;
            registered.expect(10.0, "the registration", |l| {
                l.contains("Name now registered and active")
            })?;
            let seen = json(&ivy.expect(
                10.0,
                "bob@hostd online",
                peer_event("peer_online", "bob@hostd"),
            )?);
            bob = Some(registered);
            let has_address = |peer: &serde_json::Value| {
                peer["addresses"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a == "10.83.0.4"))
            };
            if seen["status"] != "away"
                || seen["first"] != "Bob"
                || seen["msg"] != "on a Mac"
                || seen["port"] != 5298
                || !has_address(&seen)
            {
                return Err(format!("llxmpp saw {seen}"));
            }
            // A browser that starts now learns it from mDNSResponder's answers to its
            // queries rather than from announcements.
            let out = lab
                .in_host(
                    "c",
                    &lab.llxmpp,
                    &["peers", "--json", "--wait", "3", "--interface", "eth0"],
                )
                .output()
                .map_err(|e| e.to_string())?;
            let out = String::from_utf8_lossy(&out.stdout);
            let listed = out
                .lines()
                .flat_map(|l| json(l)["peers"].as_array().cloned().unwrap_or_default())
                .find(|p| p["peer"] == "bob@hostd")
                .ok_or(format!(
                    "`llxmpp peers --json` did not list bob@hostd: {out}"
                ))?;
            if listed["status"] != "away" || !has_address(&listed) {
                return Err(format!("`llxmpp peers --json` listed {listed}"));
            }
            Ok(())
        })(),
    ));

    results.push((
        SCENARIOS[1],
        (|| {
            let helper = helper.display().to_string();
            let library = dir.join("libdns_sd.so").display().to_string();
            let mut registered = mac.spawn(
                lab,
                "dns_sd carl",
                "/usr/bin/python3",
                &[
                    &helper,
                    &library,
                    "carl@hostd",
                    "5299",
                    "txtvers=1",
                    "status=avail",
                ],
            )?;
            registered.expect(10.0, "the registration", |l| l.starts_with("REGISTERED"))?;
            let seen = json(&ivy.expect(
                10.0,
                "carl@hostd online",
                peer_event("peer_online", "carl@hostd"),
            )?);
            if seen["status"] != "avail" {
                return Err(format!("llxmpp saw {seen}"));
            }
            registered.say("txt txtvers=1 status=dnd msg=busy")?;
            registered.expect(5.0, "the update", |l| l == "UPDATED")?;
            let changed = json(&ivy.expect(
                5.0,
                "carl@hostd changed",
                peer_event("peer_changed", "carl@hostd"),
            )?);
            if changed["status"] != "dnd" || changed["msg"] != "busy" {
                return Err(format!("llxmpp saw {changed}"));
            }
            // Scenario 12 looks for the goodbye this sends.
            registered.say("quit")?;
            registered.expect(5.0, "the deallocation", |l| l == "GONE")?;
            carl_gone = true;
            Ok(())
        })(),
    ));

    results.push((
        SCENARIOS[2],
        (|| {
            let mut bob = bob
                .take()
                .ok_or("not reached (scenario 10 failed before it)")?;
            if !carl_gone {
                return Err("not reached (scenario 11 failed before it)".into());
            }
            ivy.expect(
                5.0,
                "carl@hostd offline",
                peer_event("peer_offline", "carl@hostd"),
            )?;
            run_kill(bob.child.id())?;
            let _ = bob.child.wait();
            ivy.expect(
                5.0,
                "bob@hostd offline",
                peer_event("peer_offline", "bob@hostd"),
            )?;
            Ok(())
        })(),
    ));

    results.push((
        SCENARIOS[3],
        (|| {
            let _browse = mac.browse_until(lab, "dns-sd -B", "ivy@hosta")?;
            let mut resolve = mac.spawn(
                lab,
                "dns-sd -L",
                "dns-sd",
                &["-L", "ivy@hosta", "_presence._tcp", "local"],
            )?;
            // `… can be reached at <host>.local.:<port> (interface N)`
            let reached = resolve.expect(10.0, "ivy@hosta resolved by dns-sd -L", |l| {
                l.contains("ivy@hosta._presence._tcp.local. can be reached at ")
            })?;
            let target = reached
                .split(" can be reached at ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .and_then(|t| t.rsplit_once(':'))
                .filter(|(_, port)| *port == "5298")
                .map(|(host, _)| host.to_owned())
                .ok_or(format!("dns-sd -L printed {reached:?}"))?;
            let txt = resolve.expect(5.0, "ivy@hosta's TXT in dns-sd -L", |l| {
                l.contains("txtvers=1")
            })?;
            if !txt.contains("status=avail") || !txt.contains("1st=Ivy") {
                return Err(format!("dns-sd -L printed the TXT {txt:?}"));
            }
            let mut address = mac.spawn(lab, "dns-sd -G", "dns-sd", &["-G", "v4", &target])?;
            address.expect(10.0, "the SRV target's address from dns-sd -G v4", |l| {
                l.contains(&target) && l.contains(" 10.83.0.1 ")
            })?;
            Ok(())
        })(),
    ));

    results.push((
        SCENARIOS[4],
        (|| {
            let mut registered = mac.spawn(
                lab,
                "dns-sd -R bob again",
                "dns-sd",
                &[
                    "-R",
                    "bob@hostd",
                    "_presence._tcp",
                    "local",
                    "5298",
                    "txtvers=1",
                ],
            )?;
            registered.expect(10.0, "the registration", |l| {
                l.contains("Name now registered and active")
            })?;
            // mDNSResponder reports the name registered with its last probe and announces
            // it 250 ms later; a newcomer probing in between meets a prober, not an owner,
            // and the simultaneous-probe tiebreak decides (left to the probing work: see
            // the report of issue 14). Here the Mac is established: it has announced.
            std::thread::sleep(std::time::Duration::from_millis(1500));
            for run in 1..=2 {
                let args = [
                    "chat",
                    "--json",
                    "--name",
                    "bob",
                    "--host",
                    "hostd",
                    "--interface",
                    "eth0",
                ];
                let mut command = lab.in_host("c", &lab.llxmpp, &args);
                command.env("RUST_LOG", lab.log_level);
                let mut newcomer = Peer::spawn(
                    "llxmpp bob@hostd (newcomer)",
                    command,
                    &lab.dir.join(format!("newcomer-{run}.log")),
                )?;
                let ready = json(&newcomer.expect(10.0, "ready", event("ready"))?);
                newcomer.quit()?;
                if ready["instance"] == "bob@hostd" {
                    return Err(format!("run {run}: llxmpp took the Mac's name: {ready}"));
                }
            }
            // A renamed Mac would say so: `Got a reply for service bob@hostd (2)…`.
            std::thread::sleep(std::time::Duration::from_secs(1));
            registered.forget_into_seen();
            if let Some((_, renamed)) = registered
                .seen
                .iter()
                .find(|(_, l)| l.contains("Got a reply") && !l.contains(" bob@hostd._presence"))
            {
                return Err(format!("the Mac renamed itself: {renamed}"));
            }
            Ok(())
        })(),
    ));

    results.push((
        SCENARIOS[5],
        (|| {
            let library = dir.join("libdns_sd.so").display().to_string();
            let register = helper.display().to_string();
            let driver = root
                .join("xtask/driver/ichat_peer.py")
                .display()
                .to_string();
            let mut ichat = mac.spawn(
                lab,
                "iChat-style peer",
                "/usr/bin/python3",
                &[&driver, "5400"],
            )?;
            ichat.expect(5.0, "the peer listening", |l| l == "LISTENING")?;
            let mut presence = mac.spawn(
                lab,
                "dns_sd mac",
                "/usr/bin/python3",
                &[
                    &register,
                    &library,
                    "mac@hostd",
                    "5400",
                    "txtvers=1",
                    "status=avail",
                ],
            )?;
            presence.expect(10.0, "the registration", |l| l.starts_with("REGISTERED"))?;
            ivy.expect(
                10.0,
                "mac@hostd online",
                peer_event("peer_online", "mac@hostd"),
            )?;
            // The earlier scenarios' services on the Mac must be gone: the next stream
            // is attributed by its address alone.
            alone_at_the_macs_address(&mut ivy, "mac@hostd")?;

            ivy.say(r#"{"cmd":"send","to":"mac@hostd","body":"hello Mac","id":"m1"}"#)?;
            ivy.expect(10.0, "sent m1", |l| {
                json(l)["event"] == "sent" && json(l)["id"] == "m1"
            })?;
            ichat.expect(10.0, "our message at the Mac", |l| l == "GOT hello Mac")?;

            let port = json(&ivy.expect(10.0, "ready", event("ready"))?)["port"].clone();
            ichat.say(&format!("send 10.83.0.1 {port} hello from iChat"))?;
            let message = json(&ivy.expect(10.0, "the Mac's message", |l| {
                json(l)["event"] == "message" && json(l)["body"] == "hello from iChat"
            })?);
            if message["from"] != "mac@hostd" {
                return Err(format!("attributed to {}", message["from"]));
            }
            // Its stream stays open: the answer is our header alone, once the peer tires.
            ichat.expect(5.0, "the first answer", |l| l.starts_with("ANSWER"))?;
            ichat.seen.retain(|(_, l)| !l.starts_with("ANSWER"));

            // A second service on the same address (Adium beside iChat): nothing names
            // the sender any more, and silence is the one wrong answer.
            let mut adium = mac.spawn(
                lab,
                "dns_sd adium",
                "/usr/bin/python3",
                &[
                    &register,
                    &library,
                    "adium@hostd",
                    "5401",
                    "txtvers=1",
                    "status=avail",
                ],
            )?;
            adium.expect(10.0, "the registration", |l| l.starts_with("REGISTERED"))?;
            ivy.expect(
                10.0,
                "adium@hostd online",
                peer_event("peer_online", "adium@hostd"),
            )?;
            ichat.say(&format!("send 10.83.0.1 {port} who am I"))?;
            let answer = ichat.expect(10.0, "ivy's answer", |l| l.starts_with("ANSWER"))?;
            if !answer.contains("<improper-addressing") {
                return Err(format!("the peer was answered {answer:?}"));
            }
            ivy.expect(10.0, "an error event naming the address", |l| {
                json(l)["event"] == "error"
                    && json(l)["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("10.83.0.4"))
            })?;
            if ivy.seen.iter().any(|(_, l)| json(l)["body"] == "who am I") {
                return Err("an unattributable message was reported as someone's".into());
            }
            for registration in [&mut presence, &mut adium] {
                registration.say("quit")?;
                registration.expect(5.0, "the deallocation", |l| l == "GONE")?;
            }
            let _ = ichat.say("quit");
            Ok(())
        })(),
    ));

    results.push((
        SCENARIOS[6],
        (|| {
            let mut browse = mac.browse_until(lab, "dns-sd -B again", "ivy@hosta")?;
            let mut newcomer = mac.spawn(
                lab,
                "dns-sd -R ivy",
                "dns-sd",
                &[
                    "-R",
                    "ivy@hosta",
                    "_presence._tcp",
                    "local",
                    "5999",
                    "txtvers=1",
                ],
            )?;
            let registered = newcomer.expect(10.0, "the Mac's registration", |l| {
                l.contains("Name now registered and active")
            })?;
            if !registered.contains("ivy@hosta (2)") {
                return Err(format!("the Mac registered {registered:?}"));
            }
            ivy.forget_into_seen();
            if ivy
                .seen
                .iter()
                .filter(|(_, l)| json(l)["event"] == "ready")
                .count()
                != 1
            {
                return Err("llxmpp renamed itself".into());
            }
            drop(newcomer);
            ivy.say(&serde_json::json!({"cmd": "quit"}).to_string())?;
            let quit = std::time::Instant::now();
            let (at, _) = browse.expect_at(3.0, "ivy@hosta removed in dns-sd -B", |l| {
                l.contains(" Rmv ") && l.ends_with("ivy@hosta")
            })?;
            let took = at.saturating_duration_since(quit);
            if took > std::time::Duration::from_secs(2) {
                return Err(format!("dns-sd -B saw the goodbye after {took:?}"));
            }
            Ok(())
        })(),
    ));

    let _ = ivy.quit();
    results
}

/// Waits (up to 10 s) until `peer` is the only peer at the Mac's address in the roster of
/// `node` (an `llxmpp chat --json`), as earlier scenarios' services say goodbye.
fn alone_at_the_macs_address(node: &mut Peer, peer: &str) -> Result<(), String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        node.say(r#"{"cmd":"peers"}"#)?;
        node.seen.retain(|(_, l)| json(l)["event"] != "peers");
        let roster = json(&node.expect(5.0, "the roster", event("peers"))?);
        let at_the_mac: Vec<String> = roster["peers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| {
                p["addresses"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|a| a == "10.83.0.4"))
            })
            .map(|p| p["peer"].to_string())
            .collect();
        if at_the_mac == [format!("\"{peer}\"")] {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("still at the Mac's address: {at_the_mac:?}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Ends a process with SIGTERM, as a user's `kill` would.
fn run_kill(pid: u32) -> Result<(), String> {
    super::run("kill", &["-TERM", &pid.to_string()])
}

/// How many services the Mac holds in the discovery benchmark.
pub const AT_SCALE: usize = 100;

/// `cargo xtask bench`'s discovery at scale (issue 14): a Mac (mDNSResponder on host d)
/// holds [`AT_SCALE`] `_presence._tcp` services; each run, three browsers start cold, one
/// after the other, and each is timed from its start until it has every service with its
/// TXT (and, for llxmpp and Avahi, an address):
/// - `discovery_100_ms`: `llxmpp chat --json` on host a, to its hundredth `peer_online`;
/// - `discovery_100_dnssd_ms`: Apple's `dns-sd -Z _presence._tcp` (browse, then SRV and
///   TXT of each) on a second mDNSResponder on host c, from the daemon's start;
/// - `discovery_100_avahi_ms`: `avahi-browse -r -p` on host b, from the start of its
///   daemon, started afresh.
///
/// `discovery_100_complete_runs` counts the runs in which llxmpp saw all of them.
pub fn discovery_at_scale(
    lab: &mut Lab,
    dir: &Path,
    root: &Path,
    runs: usize,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    use std::collections::BTreeSet;
    use std::time::{Duration, Instant};

    let mac = Mac::start(lab, dir)?;
    let helper = root.join("xtask/driver/dnssd_register.py");
    let mut command = mac.command(
        "/usr/bin/python3",
        &[
            &helper.display().to_string(),
            &dir.join("libdns_sd.so").display().to_string(),
            "user{i}@hostd",
            "6000",
            "txtvers=1",
            "status=avail",
        ],
    );
    command.env("COUNT", AT_SCALE.to_string());
    let mut services = Peer::spawn(
        "dns_sd 100 services",
        command,
        &lab.dir.join("dns_sd-100.log"),
    )?;
    for _ in 0..AT_SCALE {
        services.expect(30.0, "a registration", |l| l.starts_with("REGISTERED"))?;
        services.seen.clear();
    }
    let wanted = |name: &str| name.starts_with("user") && name.ends_with("@hostd");
    let (mut ours, mut apple, mut avahi) = (Vec::new(), Vec::new(), Vec::new());
    let mut complete = 0;
    for run in 0..runs {
        // llxmpp, cold.
        let start = Instant::now();
        let mut node = lab.llxmpp_chat("a", &format!("bench{run}"), &[])?;
        let mut seen = BTreeSet::new();
        let (mut first, mut last) = (start, start);
        while seen.len() < AT_SCALE {
            let Ok((at, line)) = node.expect_at(20.0, "the hundredth peer", |l| {
                let e = json(l);
                e["event"] == "peer_online"
                    && e["peer"].as_str().is_some_and(wanted)
                    && e["status"] == "avail"
                    && e["addresses"].as_array().is_some_and(|a| !a.is_empty())
            }) else {
                break;
            };
            node.seen.retain(|(_, l)| *l != line);
            if seen.insert(json(&line)["peer"].to_string()) {
                last = at;
                if seen.len() == 1 {
                    first = at;
                }
            }
        }
        let first_ms = super::millis(start, first);
        if seen.len() == AT_SCALE {
            complete += 1;
            ours.push(super::millis(start, last));
        }
        node.quit()?;

        // Apple's browser on a second Mac, cold.
        let start = Instant::now();
        let browser = Mac::start_on(lab, dir, "c")?;
        let dns_sd = dir.join("dns-sd").display().to_string();
        // Its -Z output is block-buffered into a pipe: line by line, it is timed.
        let zone_of = |browser: &Mac| {
            browser.spawn(
                lab,
                "dns-sd -Z",
                "stdbuf",
                &["-oL", &dns_sd, "-Z", "_presence._tcp", "local"],
            )
        };
        let mut zone = zone_of(&browser)?;
        let (mut srv, mut txt) = (BTreeSet::new(), BTreeSet::new());
        let mut last = start;
        while srv.len() < AT_SCALE || txt.len() < AT_SCALE {
            // `user1@hostd._presence._tcp  SRV  0 0 6000 hostd.local. ; …`, in columns.
            let record = |l: &str| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                match fields.as_slice() {
                    [name, kind, ..] if *kind == "SRV" || *kind == "TXT" => {
                        let instance = name.split("._presence._tcp").next()?.replace('\\', "");
                        wanted(&instance).then(|| (instance, *kind == "SRV"))
                    }
                    _ => None,
                }
            };
            let Ok((at, line)) = zone.expect_at(1.0, "every SRV and TXT", |l| record(l).is_some())
            else {
                // A daemon just started may still refuse clients (ServiceNotRunning, and
                // dns-sd exits): ask again, the clock running.
                if zone.child.try_wait().is_ok_and(|s| s.is_some()) {
                    zone = zone_of(&browser)?;
                }
                if start.elapsed() > Duration::from_secs(20) {
                    break;
                }
                continue;
            };
            zone.seen.retain(|(_, l)| *l != line);
            let Some((instance, is_srv)) = record(&line) else {
                continue;
            };
            let set = if is_srv { &mut srv } else { &mut txt };
            if set.insert(instance) {
                last = at;
            }
        }
        if srv.len() == AT_SCALE && txt.len() == AT_SCALE {
            apple.push(super::millis(start, last));
        }
        drop(zone);
        browser.stop();

        // Avahi, timed from its daemon's start (which browses every type, ours included,
        // to see that it is up).
        let start = Instant::now();
        lab.restart_avahi()?;
        let mut browse = Peer::spawn(
            "avahi-browse -r",
            lab.in_host(
                "b",
                Path::new("avahi-browse"),
                &["-r", "-p", "_presence._tcp"],
            ),
            &lab.dir.join("avahi-browse-100.log"),
        )?;
        let mut resolved = BTreeSet::new();
        let mut last = start;
        while resolved.len() < AT_SCALE {
            let Ok((at, line)) = browse.expect_at(20.0, "every service resolved", |l| {
                l.starts_with("=;") && l.contains("IPv4")
            }) else {
                break;
            };
            browse.seen.retain(|(_, l)| *l != line);
            let name = line
                .split(';')
                .nth(3)
                .unwrap_or_default()
                .replace("\\064", "@");
            if wanted(&name) && resolved.insert(name) {
                last = at;
            }
        }
        if resolved.len() == AT_SCALE {
            avahi.push(super::millis(start, last));
        }
        // This run's time of each, when it saw all of them.
        let this_run = |all: bool, times: &[f64]| {
            if all {
                format!("{:.0} ms", times.last().copied().unwrap_or(f64::NAN))
            } else {
                "-".to_owned()
            }
        };
        println!(
            "xtask: run {}: 100 services: llxmpp {} in {} (the first after {:.0} ms); dns-sd -Z {}+{} in {}; avahi-browse -r {} in {}",
            run + 1,
            seen.len(),
            this_run(seen.len() == AT_SCALE, &ours),
            first_ms,
            srv.len(),
            txt.len(),
            this_run(srv.len() == AT_SCALE && txt.len() == AT_SCALE, &apple),
            resolved.len(),
            this_run(resolved.len() == AT_SCALE, &avahi),
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let _ = services.say("quit");
    let mut figures = serde_json::Map::new();
    for (key, values) in [
        ("discovery_100_ms", &mut ours),
        ("discovery_100_dnssd_ms", &mut apple),
        ("discovery_100_avahi_ms", &mut avahi),
    ] {
        figures.insert(key.into(), super::median(values).into());
    }
    figures.insert("discovery_100_complete_runs".into(), complete.into());
    figures.insert("discovery_100_runs".into(), runs.into());
    Ok(figures)
}
