//! `cargo xtask interop`: llxmpp against real third-party peers, in network namespaces.
//!
//! Topology: hosts `a`, `b`, `c`, `d` joined by a bridge in a fifth namespace
//! (multicast flooded), 10.83.0.1–4. `b` runs a private D-Bus and avahi-daemon (host name
//! `hostb`), the libpurple driver (`echobot@hostb`, protocol `prpl-bonjour`) and the avahi
//! tools; `a` and `c` run llxmpp nodes (`alice@hosta`, `carol@hostc`); `d` is a "Mac"
//! running Apple's mDNSResponder for the last scenarios (interop/apple.rs, which says
//! where its binaries come from and what happens without them). Everything this task
//! starts is ended, and the namespaces removed, at the end, failures included.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::netlab::{self, Avahi, Hosts};

mod apple;
mod files;
mod wide_area;

pub use files::transfer_bench;

const PACKAGES: [&str; 9] = [
    "avahi-daemon",
    "avahi-utils",
    "dbus",
    "libpurple-dev",
    "libglib2.0-dev",
    "python3-zeroconf",
    "iproute2",
    "gcc",
    "pkg-config",
];

/// A process whose stdout lines we follow.
struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    /// Lines with the time each arrived.
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
    /// Where its stderr goes: a failed expectation quotes its end, since CI keeps only
    /// what interop prints.
    log: PathBuf,
}

impl Peer {
    /// Runs `command`, its stderr kept in `log` for when a scenario fails.
    fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Peer, String> {
        let stderr = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("{name}: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        Ok(Peer {
            name: name.into(),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
            log: log.to_path_buf(),
        })
    }

    fn say(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{}: {e}", self.name))
    }

    /// Waits up to `secs` for a line for which `want` is true.
    fn expect(
        &mut self,
        secs: f64,
        what: &str,
        want: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        self.expect_at(secs, what, want).map(|(_, line)| line)
    }

    /// As [`Peer::expect`], with the time the line arrived.
    fn expect_at(
        &mut self,
        secs: f64,
        what: &str,
        want: impl Fn(&str) -> bool,
    ) -> Result<(Instant, String), String> {
        if let Some(found) = self.seen.iter().find(|(_, l)| want(l)) {
            return Ok(found.clone());
        }
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        while let Ok((at, line)) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push((at, line.clone()));
            if want(&line) {
                return Ok((at, line));
            }
        }
        let tail: Vec<&String> = self.seen.iter().rev().take(8).map(|(_, l)| l).collect();
        Err(format!(
            "{}: no {what} within {secs} s (last lines: {tail:?}){}{}",
            self.name,
            process_report(self.child.id()),
            log_tail(&self.log, LOG_TAIL_LINES)
        ))
    }

    /// Asks this llxmpp node to quit, then [`Peer::exited`].
    fn quit(&mut self) -> Result<(), String> {
        self.say(r#"{"cmd":"quit"}"#)?;
        self.exited()
    }

    /// Waits (up to [`netlab::wait_for`]'s 10 s: a goodbye goes out at once, a wide-area
    /// one waits at most 2 s for the server) for the process to exit with status 0, as
    /// CONTRACT.md says a node does after a quit. One still running then is killed and
    /// reported with the end of its log: an unbounded wait would hang the whole run
    /// instead, with no word of where.
    fn exited(&mut self) -> Result<(), String> {
        let mut status = None;
        let _ = netlab::wait_for(
            || {
                status = self.child.try_wait().ok().flatten();
                status.is_some()
            },
            "the exit",
        );
        let ending = match status {
            Some(status) if status.success() => return Ok(()),
            Some(status) => format!("exited with {status}"),
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                "still running 10 s after it was told to quit".to_owned()
            }
        };
        Err(format!(
            "{}: {ending}{}",
            self.name,
            log_tail(&self.log, LOG_TAIL_LINES)
        ))
    }

    /// Takes every line that has arrived into `seen`, without waiting.
    fn forget_into_seen(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    fn forget(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        self.seen.clear();
    }
}

/// What a process that kept silent was doing, read from `/proc`: its state and the CPU
/// time it used (a spinning loop shows much; a waiting one little), and its UDP sockets,
/// beside every other socket of its namespace on one of their ports, each with the bytes
/// queued unread and the datagrams the kernel dropped. A node that stopped reading shows a
/// queue on its socket; a node nothing reached shows neither queue nor drops, and the
/// other sockets on port 5353 show who got the datagrams instead. Empty once the process
/// has gone.
fn process_report(pid: u32) -> String {
    let proc = PathBuf::from(format!("/proc/{pid}"));
    let Ok(stat) = std::fs::read_to_string(proc.join("stat")) else {
        return String::new();
    };
    // After the command's name in parentheses: state, then utime and stime are the 12th
    // and 13th fields, in clock ticks.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let field = |i: usize| fields.get(i).copied().unwrap_or("?");
    let mut report = format!(
        "\n    process {pid}: state {}, {} + {} clock ticks of CPU (user + system)",
        field(0),
        field(11),
        field(12)
    );
    let ours: Vec<String> = std::fs::read_dir(proc.join("fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            let inode = link.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_owned())
        })
        .collect();
    for table in ["udp", "udp6"] {
        let Ok(text) = std::fs::read_to_string(proc.join("net").join(table)) else {
            continue;
        };
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|r| r.len() >= 13)
            .collect();
        let port = |r: &Vec<&str>| r[1].rsplit(':').next().unwrap_or("").to_owned();
        let our_ports: Vec<String> = rows
            .iter()
            .filter(|r| ours.iter().any(|i| i == r[9]))
            .map(port)
            .collect();
        for row in rows.iter().filter(|r| our_ports.contains(&port(r))) {
            let whose = if ours.iter().any(|i| i == row[9]) {
                "its"
            } else {
                "another's"
            };
            let rx_queue = row[4].split(':').nth(1).unwrap_or("?");
            let port = u16::from_str_radix(&port(row), 16).unwrap_or(0);
            report.push_str(&format!(
                "\n      {table} port {port}, {whose} socket (inode {}): {} bytes unread, {} dropped",
                row[9],
                u64::from_str_radix(rx_queue, 16).unwrap_or(0),
                row[12]
            ));
        }
    }
    report
}

/// How many lines of a process's stderr a failed expectation quotes.
const LOG_TAIL_LINES: usize = 25;

/// The last `lines` lines of the log at `path` (each cut to 400 characters), indented
/// under a heading, or nothing if it is empty or unreadable.
fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(text) = std::fs::read_to_string(path) else {
        return String::new();
    };
    let all: Vec<&str> = text.lines().collect();
    if all.is_empty() {
        return String::new();
    }
    let mut tail = format!("\n    the end of {}:", path.display());
    for line in &all[all.len().saturating_sub(lines)..] {
        let cut: String = line.chars().take(400).collect();
        tail.push_str("\n      ");
        tail.push_str(&cut);
    }
    tail
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Lab {
    /// Processes this task started (ended first: fields drop in order).
    daemons: Vec<Child>,
    avahi: Option<Avahi>,
    hosts: Hosts,
    dir: PathBuf,
    llxmpp: PathBuf,
    driver: PathBuf,
    /// `RUST_LOG` for the llxmpp nodes: debug for interop's logs, info when measuring.
    log_level: &'static str,
    /// `--encrypt` for every llxmpp chat node (`None`: the default, off), each with a
    /// keys folder of its own in the lab.
    encrypt: Option<String>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.daemons {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    netlab::run(program, args).map(drop)
}

impl Lab {
    fn ns(&self, host: &str) -> String {
        self.hosts.ns(host)
    }

    fn bus(&self) -> String {
        netlab::bus_address(&self.dir)
    }

    fn in_host(&self, host: &str, program: &Path, args: &[&str]) -> Command {
        let mut command = netlab::in_namespace(&self.ns(host), program);
        command
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.bus());
        command
    }

    /// The hosts, with logs and state in `dir` (emptied first).
    fn new(dir: PathBuf, llxmpp: PathBuf, driver: PathBuf) -> Result<Lab, String> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("purple")).map_err(|e| e.to_string())?;
        let prefix = format!("xi{}", std::process::id() % 100_000);
        let hosts = Hosts::bridged(&prefix, &["a", "b", "c", "d"], "10.83.0")?;
        Ok(Lab {
            daemons: Vec::new(),
            avahi: None,
            hosts,
            dir,
            llxmpp,
            driver,
            log_level: "debug",
            encrypt: None,
        })
    }

    /// A private system bus and avahi-daemon (host name `hostb`) in host b.
    fn start_avahi(&mut self) -> Result<(), String> {
        self.avahi = Some(Avahi::start(&self.ns("b"), &self.dir, "hostb")?);
        Ok(())
    }

    /// Ends the bus and avahi-daemon of host b, if running, and starts them again, with
    /// an empty cache.
    fn restart_avahi(&mut self) -> Result<(), String> {
        self.avahi = None;
        let _ = std::fs::remove_file(self.dir.join("bus"));
        self.start_avahi()
    }

    fn llxmpp_chat(&self, host: &str, name: &str, extra: &[&str]) -> Result<Peer, String> {
        let host_name = format!("host{host}");
        let mut args = netlab::chat_args(name, host);
        args.extend(extra.iter().map(|a| a.to_string()));
        // A scenario's own --encrypt wins over the run's.
        let chosen = extra.contains(&"--encrypt");
        if let Some(mode) = self.encrypt.as_ref().filter(|_| !chosen) {
            let keys = self.dir.join(format!("keys-{name}-{host}"));
            args.extend(["--encrypt".to_owned(), mode.clone(), "--keys".to_owned()]);
            args.push(keys.display().to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut command = self.in_host(host, &self.llxmpp, &args);
        command.env("RUST_LOG", self.log_level);
        Peer::spawn(
            &format!("llxmpp {name}@{host_name}"),
            command,
            &self.dir.join(format!("{name}.log")),
        )
    }

    fn purple(&self) -> Result<Peer, String> {
        let dir = self.dir.join("purple").display().to_string();
        let mut command = self.in_host(
            "b",
            &self.driver,
            &["echobot@hostb", &dir, "Echo", "Bot", "--echo"],
        );
        command.env("HOME", &dir);
        Peer::spawn(
            "libpurple echobot@hostb",
            command,
            &self.dir.join("libpurple.log"),
        )
    }

    /// `avahi-browse -r` on host b, following every service as it comes and goes (given
    /// half a second to start, so that what follows is timed from a browsing Avahi).
    fn watch_avahi(&self) -> Result<Peer, String> {
        let watch = Peer::spawn(
            "avahi-browse",
            self.in_host(
                "b",
                Path::new("avahi-browse"),
                &["-r", "-p", "_presence._tcp"],
            ),
            &self.dir.join("avahi-watch.log"),
        )?;
        std::thread::sleep(Duration::from_millis(500));
        Ok(watch)
    }

    /// Polls `avahi-resolve -4 -n host` on host b (every 50 ms) until Avahi's answer is
    /// `address`, for at most `within`.
    fn avahi_resolves(&self, host: &str, address: &str, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        while Instant::now() < deadline {
            let out = self
                .in_host("b", Path::new("avahi-resolve"), &["-4", "-n", host])
                .output()
                .map_err(|e| format!("avahi-resolve: {e}"))?;
            last = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if last.split_whitespace().nth(1) == Some(address) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "Avahi did not resolve {host} to {address} within {within:?} (last: {last:?})"
        ))
    }

    fn avahi_browse(&self) -> String {
        let out = netlab::avahi_browse_once(&self.ns("b"), &["-r", "-t", "-p", "_presence._tcp"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.bus())
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

/// Dana (`llxmpp chat --json`) on host d, once she and libpurple's echobot on host b have
/// seen each other.
fn dana_beside_echobot(lab: &Lab, purple: &mut Peer) -> Result<Peer, String> {
    // What libpurple said of an earlier dana must not stand for this one.
    purple.forget();
    let mut dana = lab.llxmpp_chat("d", "dana", &[])?;
    dana.expect(10.0, "ready", event("ready"))?;
    // BUDDY_ON, or BUDDY_STATUS when libpurple kept her buddy from an earlier run.
    purple.expect(15.0, "dana online in libpurple", |l| {
        l.starts_with("BUDDY_ON dana@hostd|") || l.starts_with("BUDDY_STATUS dana@hostd|")
    })?;
    dana.expect(15.0, "peer_online echobot", |l| {
        json(l)["event"] == "peer_online" && json(l)["peer"] == "echobot@hostb"
    })?;
    Ok(dana)
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or(serde_json::Value::Null)
}

fn event<'a>(kind: &'a str) -> impl Fn(&str) -> bool + 'a {
    move |line| json(line)["event"] == kind
}

/// The workspace's target directory (`$CARGO_TARGET_DIR`, or `target/`).
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// What running real peers needs: root, the Debian packages (installed when missing), the
/// `llxmpp` binary (debug or release build) and the libpurple driver, built. Returns the
/// paths of the two programs.
fn prepare(root: &Path, release: bool) -> Result<(PathBuf, PathBuf), String> {
    if !crate::is_root() {
        return Err("real peers need root: network namespaces and avahi-daemon".into());
    }
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("dpkg")
                .args(["-s", p])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if !missing.is_empty() {
        println!("xtask: installing {}", missing.join(" "));
        run("apt-get", &["update", "-qq"])?;
        let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
        install.extend(&missing);
        let status = Command::new("apt-get")
            .args(&install)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("could not install {missing:?}"));
        }
    }
    let mut build = vec!["build", "--quiet", "--package", "llxmpp"];
    if release {
        build.push("--release");
    }
    let status = Command::new("cargo")
        .current_dir(root)
        .args(&build)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("cargo build failed".into());
    }
    let target = target_dir(root);
    let llxmpp = target.join(if release {
        "release/llxmpp"
    } else {
        "debug/llxmpp"
    });
    let driver = target.join("purple_driver");
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "purple", "glib-2.0"])
        .output()
        .map_err(|e| e.to_string())?;
    let flags = String::from_utf8_lossy(&flags.stdout).into_owned();
    let mut gcc = vec!["-O2", "-Wall", "-o"];
    let driver_path = driver.display().to_string();
    let source = root
        .join("xtask/driver/purple_driver.c")
        .display()
        .to_string();
    gcc.push(&driver_path);
    gcc.push(&source);
    gcc.extend(flags.split_whitespace());
    run("gcc", &gcc)?;

    Ok((llxmpp, driver))
}

/// Checks, installs what is missing, builds, and runs every scenario.
pub fn interop(root: &Path, args: &[String]) -> Result<(), String> {
    let mut capture = None;
    let mut mdnsresponder = None;
    let mut encrypt = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = rest.next();
        match (arg.as_str(), value) {
            ("--capture", Some(dir)) => capture = Some(PathBuf::from(dir)),
            ("--mdnsresponder", Some(dir)) => mdnsresponder = Some(PathBuf::from(dir)),
            ("--encrypt", Some(mode)) => encrypt = Some(mode.clone()),
            _ => {
                return Err(format!(
                "usage: cargo xtask interop [--capture DIR] [--mdnsresponder DIR] [--encrypt MODE] (got {args:?})"
            ))
            }
        }
    }
    let (llxmpp, driver) = prepare(root, false)?;
    let apple = apple::locate(root, mdnsresponder.as_deref())
        .and_then(|dir| apple::prepare(&dir).map(|()| dir));
    let mut lab = Lab::new(target_dir(root).join("interop"), llxmpp, driver)?;
    if let Some(mode) = encrypt {
        println!("xtask: every llxmpp chat node with --encrypt {mode}");
        lab.encrypt = Some(mode);
    }
    if let Some(dir) = &capture {
        // A pcap of the bridge, for debugging: every frame of every host crosses it.
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let file = std::fs::canonicalize(dir)
            .map_err(|e| e.to_string())?
            .join("interop.pcapng");
        if Command::new("tshark")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            run(
                "apt-get",
                &["install", "-y", "-qq", "--no-install-recommends", "tshark"],
            )?;
        }
        let br = lab.ns("br");
        let child = netlab::in_namespace(&br, "tshark")
            .args(["-q", "-i", "br0", "-w"])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("tshark: {e}"))?;
        lab.daemons.push(child);
        std::thread::sleep(Duration::from_millis(1500));
        println!("xtask: capturing the bridge to {}", file.display());
    }
    lab.start_avahi()?;
    let mut results = scenarios(&mut lab);
    results.extend(files::ichat_scenarios(&lab, root));
    let mut skipped = Vec::new();
    match &apple {
        Ok(dir) => results.extend(apple::scenarios(&mut lab, dir, root)),
        // CI must run every peer: there a missing one fails.
        Err(reason) if std::env::var_os("CI").is_some() => {
            results.extend(apple::SCENARIOS.map(|s| (s, Err(reason.clone()))))
        }
        Err(reason) => skipped.extend(apple::SCENARIOS.map(|s| (s, reason.clone()))),
    }
    let wide = wide_area::scenarios(&lab);
    for (name, result) in wide {
        match result {
            // Without BIND here (not in CI), skipped as mDNSResponder's are.
            Err(reason) if reason.contains("not installed") && std::env::var_os("CI").is_none() => {
                skipped.push((name, reason))
            }
            outcome => results.push((name, outcome)),
        }
    }
    drop(lab);
    let mut failed = 0;
    for (name, result) in &results {
        match result {
            Ok(()) => println!("PASS {name}"),
            Err(reason) => {
                failed += 1;
                println!("FAIL {name}: {reason}");
            }
        }
    }
    for (name, reason) in &skipped {
        println!("SKIP {name}: {reason}");
    }
    println!(
        "{} passed, {failed} failed, {} skipped",
        results.len() - failed,
        skipped.len()
    );
    if failed == 0 {
        Ok(())
    } else {
        Err(format!("{failed} interop scenarios failed"))
    }
}

type Outcome = Result<(), String>;

/// python-zeroconf in host c: publishes `pyz@hostc` (dnd, "python here"), resolves the
/// instance given as argument, prints `RESOLVED port [addresses] [txt]`, then stays up.
const PYTHON_ZEROCONF: &str = r#"
import socket, sys, time
from zeroconf import ServiceInfo, Zeroconf
zc = Zeroconf(interfaces=["10.83.0.3"])
mine = ServiceInfo("_presence._tcp.local.", "pyz@hostc._presence._tcp.local.",
    addresses=[socket.inet_aton("10.83.0.3")], port=5303, server="hostc-py.local.",
    properties={"txtvers": "1", "status": "dnd", "msg": "python here"})
zc.register_service(mine)
deadline = time.time() + 20
while time.time() < deadline:
    info = ServiceInfo("_presence._tcp.local.", sys.argv[1] + "._presence._tcp.local.")
    if info.request(zc, 2000):
        props = sorted((k.decode(), v.decode() if v is not None else None) for k, v in info.properties.items())
        print("RESOLVED", info.port, sorted(info.parsed_addresses()), props, flush=True)
        break
else:
    print("NOT RESOLVED", flush=True)
time.sleep(30)
"#;

/// Two 2×2 PNG images for the avatar scenario, one for each side.
const GRACE_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08\x02\x00\x00\x00\xfd\xd4\x9a\x73\x00\x00\x00\x10IDAT\x78\x9c\x63\x38\x21\x27\x07\x44\x0c\x10\x0a\x00\x1f\x26\x04\x11\xa2\x8f\x22\xaf\x00\x00\x00\x00IEND\xae\x42\x60\x82";
const ECHOBOT_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x02\x00\x00\x00\x02\x08\x02\x00\x00\x00\xfd\xd4\x9a\x73\x00\x00\x00\x10IDAT\x78\x9c\x63\x90\x93\x3b\x01\x44\x0c\x10\x0a\x00\x19\xd6\x04\x11\x4a\x10\x52\x1c\x00\x00\x00\x00IEND\xae\x42\x60\x82";

fn scenarios(lab: &mut Lab) -> Vec<(&'static str, Outcome)> {
    let mut results: Vec<(&'static str, Outcome)> = Vec::new();
    let mut purple = match lab.purple() {
        Ok(p) => p,
        Err(e) => return vec![("libpurple starts", Err(e))],
    };
    if let Err(e) = purple.expect(15.0, "SIGNED_ON", |l| l.starts_with("SIGNED_ON")) {
        return vec![("libpurple signs on", Err(e))];
    }
    // Watch Avahi on host b from before alice starts, to time her discovery.
    let mut watch = match lab.watch_avahi() {
        Ok(p) => p,
        Err(e) => return vec![("avahi-browse starts", Err(e))],
    };
    let started = Instant::now();
    let mut alice = match lab.llxmpp_chat("a", "alice", &["--first", "Alice", "--last", "Liddell"])
    {
        Ok(p) => p,
        Err(e) => return vec![("llxmpp starts", Err(e))],
    };
    let mut state: HashMap<&str, String> = HashMap::new();

    results.push((
        "1 libpurple and llxmpp see each other online",
        (|| {
            alice.expect(10.0, "ready", event("ready"))?;
            let line = purple.expect(15.0, "BUDDY_ON alice", |l| {
                l.starts_with("BUDDY_ON alice@hosta|")
            })?;
            if !line.contains("|Alice Liddell|available|") {
                return Err(format!("libpurple saw {line}"));
            }
            let (avahi_at, _) = watch.expect_at(5.0, "alice resolved by Avahi", |l| {
                l.starts_with("=;") && l.contains("alice\\064hosta")
            })?;
            let (purple_at, _) = purple.expect_at(0.0, "BUDDY_ON alice", |l| l.starts_with("BUDDY_ON alice@hosta|"))?;
            // From her start, mDNS probing (0.75–1 s) included.
            println!(
                "  discovery: Avahi on host b resolved alice {} ms after she started; libpurple reported her online after {} ms",
                avahi_at.duration_since(started).as_millis(),
                purple_at.duration_since(started).as_millis()
            );
            let seen = json(&alice.expect(15.0, "peer_online echobot", |l| {
                json(l)["event"] == "peer_online" && json(l)["peer"] == "echobot@hostb"
            })?);
            if (
                seen["status"].as_str(),
                seen["first"].as_str(),
                seen["last"].as_str(),
            ) != (Some("avail"), Some("Echo"), Some("Bot"))
            {
                return Err(format!("llxmpp saw {seen}"));
            }
            Ok(())
        })(),
    ));

    results.push(("2 llxmpp -> libpurple, markup, UTF-8 and 3,000 characters, reply on the same stream", (|| {
        let text = "<b>bold?</b> & 'quotes' \"too\" é ✓ 日本";
        alice.say(&serde_json::json!({"cmd": "send", "to": "echobot@hostb", "body": text, "id": "s2"}).to_string())?;
        alice.expect(10.0, "sent s2", |l| json(l)["event"] == "sent" && json(l)["id"] == "s2")?;
        let got = purple.expect(10.0, "RECV from alice", |l| l.starts_with("RECV alice@hosta|"))?;
        if got != format!("RECV alice@hosta|{text}") {
            return Err(format!("libpurple got {got:?}"));
        }
        let echo = json(&alice.expect(10.0, "the echo", |l| json(l)["event"] == "message")?);
        if echo["body"] != format!("echo: {text}") || echo["from"] != "echobot@hostb" {
            return Err(format!("llxmpp got {echo}"));
        }
        let long: String = "0123456789".repeat(300);
        alice.say(&serde_json::json!({"cmd": "send", "to": "echobot@hostb", "body": long, "id": "s2b"}).to_string())?;
        let got = purple.expect(10.0, "the long message", |l| l.starts_with("RECV alice@hosta|0123"))?;
        if got.len() != "RECV alice@hosta|".len() + 3000 {
            return Err(format!("libpurple got {} bytes", got.len()));
        }
        Ok(())
    })()));

    results.push(("3 libpurple -> llxmpp on a connection libpurple opens", (|| {
        let mut carol = lab.llxmpp_chat("c", "carol", &[])?;
        carol.expect(10.0, "ready", event("ready"))?;
        purple.expect(15.0, "BUDDY_ON carol", |l| l.starts_with("BUDDY_ON carol@hostc|"))?;
        carol.expect(15.0, "peer_online echobot", |l| json(l)["event"] == "peer_online" && json(l)["peer"] == "echobot@hostb")?;
        purple.say("SEND carol@hostc hello from libpurple <&>")?;
        let got = json(&carol.expect(10.0, "libpurple's message", |l| json(l)["event"] == "message")?);
        if got["body"] != "hello from libpurple <&>" || got["from"] != "echobot@hostb" {
            return Err(format!("carol got {got}"));
        }
        state.insert("carol", "up".into());
        // Scenario 8 on the way: two llxmpp nodes on different hosts chat both ways.
        carol.expect(15.0, "peer_online alice", |l| json(l)["event"] == "peer_online" && json(l)["peer"] == "alice@hosta")?;
        carol.say(&serde_json::json!({"cmd": "send", "to": "alice@hosta", "body": "hi alice", "id": "c1"}).to_string())?;
        alice.expect(10.0, "carol's message", |l| json(l)["event"] == "message" && json(l)["from"] == "carol@hostc")?;
        alice.say(&serde_json::json!({"cmd": "send", "to": "carol@hostc", "body": "hi carol", "id": "a8"}).to_string())?;
        carol.expect(10.0, "alice's message", |l| json(l)["event"] == "message" && json(l)["from"] == "alice@hosta")?;
        state.insert("llxmpp both ways", "ok".into());
        carol.quit()?;
        Ok(())
    })()));

    results.push((
        "4 a status change (dnd, with a message) reaches libpurple and avahi-browse",
        (|| {
            purple.forget();
            alice.say(
                &serde_json::json!({"cmd": "status", "status": "dnd", "msg": "in a meeting"})
                    .to_string(),
            )?;
            let line = purple.expect(10.0, "BUDDY_STATUS alice", |l| {
                l.starts_with("BUDDY_STATUS alice@hosta|")
            })?;
            if !line.contains("|unavailable|in a meeting") && !line.contains("|away|in a meeting") {
                return Err(format!("libpurple saw {line}"));
            }
            std::thread::sleep(Duration::from_millis(500));
            let browse = lab.avahi_browse();
            let ours = browse
                .lines()
                .find(|l| l.starts_with("=;") && l.contains("alice\\064hosta"))
                .ok_or(format!("avahi-browse did not resolve alice:\n{browse}"))?;
            if !ours.contains("\"status=dnd\"") || !ours.contains("\"msg=in a meeting\"") {
                return Err(format!("avahi-browse: {ours}"));
            }
            Ok(())
        })(),
    ));

    results.push(("5 llxmpp quits: libpurple takes it offline (goodbye) within 2 s, and so does Avahi", (|| {
        let mut browse = Peer::spawn("avahi-browse", lab.in_host("b", Path::new("avahi-browse"), &["-p", "_presence._tcp"]), &lab.dir.join("avahi-browse.log"))?;
        browse.expect(10.0, "alice in avahi-browse", |l| l.starts_with("+;") && l.contains("alice\\064hosta"))?;
        purple.forget();
        alice.say(&serde_json::json!({"cmd": "quit"}).to_string())?;
        let quit = Instant::now();
        // The Bonjour plugin removes a buddy it added on discovery (BUDDY_GONE) rather than
        // signing it off; a buddy the user saved would be signed off (BUDDY_OFF).
        let (purple_at, _) = purple.expect_at(3.0, "alice offline in libpurple", |l| {
            l == "BUDDY_GONE alice@hosta" || l == "BUDDY_OFF alice@hosta"
        })?;
        let (avahi_at, _) = browse.expect_at(3.0, "alice removed by Avahi", |l| l.starts_with("-;") && l.contains("alice\\064hosta"))?;
        alice.exited()?;
        let took = purple_at.saturating_duration_since(quit);
        println!(
            "  goodbye: libpurple took alice offline {} ms after quit; Avahi removed her after {} ms",
            took.as_millis(),
            avahi_at.saturating_duration_since(quit).as_millis()
        );
        if took > Duration::from_secs(2) {
            return Err(format!("libpurple took her offline after {took:?}"));
        }
        Ok(())
    })()));

    results.push(("6 llxmpp resolves avahi-publish (x #2, flags, empty values) and python-zeroconf; python-zeroconf resolves llxmpp", (|| {
        let publish = Peer::spawn(
            "avahi-publish",
            lab.in_host("b", Path::new("avahi-publish"), &["-s", "x #2", "_presence._tcp", "5301", "txtvers=1", "status=avail", "flag", "key="]),
            &lab.dir.join("avahi-publish.log"),
        )?;
        let script = lab.dir.join("pypeer.py");
        std::fs::write(&script, PYTHON_ZEROCONF).map_err(|e| e.to_string())?;
        let mut python = Peer::spawn("python-zeroconf", lab.in_host("c", Path::new("/usr/bin/python3"), &[&script.display().to_string(), "frank@hosta"]), &lab.dir.join("zeroconf.log"))?;
        let mut frank = lab.llxmpp_chat("a", "frank", &["--port", "5302", "--first", "Frank"])?;
        frank.expect(10.0, "ready", event("ready"))?;
        let x2 = json(&frank.expect(15.0, "x #2 online", |l| json(l)["event"] == "peer_online" && json(l)["peer"] == "x #2")?);
        if x2["port"] != 5301 || x2["status"] != "avail" {
            return Err(format!("llxmpp saw {x2}"));
        }
        let py = json(&frank.expect(15.0, "pyz online", |l| json(l)["event"] == "peer_online" && json(l)["peer"] == "pyz@hostc")?);
        if py["msg"] != "python here" || py["status"] != "dnd" {
            return Err(format!("llxmpp saw {py}"));
        }
        let resolved = python.expect(20.0, "python's resolution of frank", |l| l.starts_with("RESOLVED") || l.starts_with("NOT RESOLVED"))?;
        if !resolved.contains("RESOLVED 5302") || !resolved.contains("('1st', 'Frank')") || !resolved.contains("('status', 'avail')") {
            return Err(format!("python-zeroconf: {resolved}"));
        }
        frank.quit()?;
        // Ends avahi-publish (and its service) before the next scenario.
        drop(publish);
        Ok(())
    })()));

    results.push((
        "7 coexistence: llxmpp on a host where Avahi owns 5353; both work",
        (|| {
            let mut dave = lab.llxmpp_chat("b", "dave", &["--port", "5299"])?;
            dave.expect(10.0, "ready", event("ready"))?;
            dave.expect(15.0, "peer_online echobot", |l| {
                json(l)["event"] == "peer_online" && json(l)["peer"] == "echobot@hostb"
            })?;
            purple.expect(15.0, "BUDDY_ON dave", |l| {
                l.starts_with("BUDDY_ON dave@hostb|")
            })?;
            let browse = lab.avahi_browse();
            if !browse
                .lines()
                .any(|l| l.starts_with("=;") && l.contains("dave\\064hostb"))
            {
                return Err(format!(
                    "avahi-browse on the same host did not resolve dave:\n{browse}"
                ));
            }
            // A second llxmpp node on the same host sees the first.
            let mut erin = lab.llxmpp_chat("b", "erin", &["--port", "5300"])?;
            erin.expect(15.0, "peer_online dave", |l| {
                json(l)["event"] == "peer_online" && json(l)["peer"] == "dave@hostb"
            })?;
            dave.expect(15.0, "peer_online erin", |l| {
                json(l)["event"] == "peer_online" && json(l)["peer"] == "erin@hostb"
            })?;
            for node in [&mut dave, &mut erin] {
                node.quit()?;
            }
            Ok(())
        })()
        // The other two parties on host b speak for themselves too.
        .map_err(|e| {
            format!(
                "{e}{}{}",
                log_tail(&lab.dir.join(netlab::AVAHI_LOG), LOG_TAIL_LINES),
                log_tail(&purple.log, LOG_TAIL_LINES)
            )
        }),
    ));

    results.push((
        "8 two llxmpp nodes on different hosts chat both ways",
        match state.get("llxmpp both ways") {
            Some(_) => Ok(()),
            None => Err("not reached (scenario 3 failed before it)".into()),
        },
    ));
    results.push((
        "9 avatars both ways: libpurple shows llxmpp's, llxmpp fetches and checks libpurple's",
        (|| {
            let ours = lab.dir.join("grace.png");
            let theirs = lab.dir.join("echobot.png");
            std::fs::write(&ours, GRACE_PNG).map_err(|e| e.to_string())?;
            std::fs::write(&theirs, ECHOBOT_PNG).map_err(|e| e.to_string())?;
            purple.say(&format!("ICON {}", theirs.display()))?;
            let mut grace =
                lab.llxmpp_chat("c", "grace", &["--avatar", &ours.display().to_string()])?;
            let theirs_sha1 = sha1_smol::Sha1::from(ECHOBOT_PNG).digest().to_string();
            let seen = json(&grace.expect(15.0, "echobot with its avatar", |l| {
                let e = json(l);
                (e["event"] == "peer_online" || e["event"] == "peer_changed")
                    && e["peer"] == "echobot@hostb"
                    && e["avatar"].is_string()
            })?);
            if seen["avatar"] != theirs_sha1.as_str() {
                return Err(format!(
                    "llxmpp saw {seen}; the icon's SHA-1 is {theirs_sha1}"
                ));
            }
            let ours_sha1 = sha1_smol::Sha1::from(GRACE_PNG).digest().to_string();
            purple.expect(15.0, "grace's icon in libpurple", |l| {
                l == format!("BUDDY_ICON grace@hostc|{ours_sha1}")
            })?;
            grace.quit()?;
            Ok(())
        })(),
    ));

    results.push((
        "17 a new lease under a running llxmpp: Avahi resolves the new address within 2 s, libpurple chats to it, and her goodbye from there takes her offline",
        {
            let d = lab.ns("d");
            let outcome = (|| {
                let mut dana = dana_beside_echobot(lab, &mut purple)?;
                let host = "hostd-llxmpp.local";
                lab.avahi_resolves(host, "10.83.0.4", Duration::from_secs(5))?;
                let changed = Instant::now();
                run("ip", &["-n", &d, "addr", "del", "10.83.0.4/24", "dev", "eth0"])?;
                run("ip", &["-n", &d, "addr", "add", "10.83.0.14/24", "dev", "eth0"])?;
                lab.avahi_resolves(host, "10.83.0.14", Duration::from_secs(5))?;
                let took = changed.elapsed();
                println!(
                    "  new lease: Avahi on host b resolved dana's host at its new address {} ms after the change (goal 2,000 ms)",
                    took.as_millis()
                );
                if took > Duration::from_secs(2) {
                    return Err(format!("Avahi learned the new address after {took:?}"));
                }
                // libpurple hears of it through its own Avahi resolver, a little later, and
                // a conversation it starts before then goes to the old address only.
                let log = lab.dir.join("libpurple.log");
                let deadline = Instant::now() + Duration::from_secs(5);
                while !std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains("name:dana@hostd ip:10.83.0.14")
                {
                    if Instant::now() > deadline {
                        return Err("libpurple did not resolve dana's new address within 5 s".into());
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                println!(
                    "  new lease: libpurple had the new address {} ms after the change",
                    changed.elapsed().as_millis()
                );
                // Both ways over the new address.
                purple.say("SEND dana@hostd after the new lease")?;
                let got = json(&dana.expect(10.0, "libpurple's message", event("message"))?);
                if got["body"] != "after the new lease" || got["from"] != "echobot@hostb" {
                    return Err(format!("dana got {got}"));
                }
                let send = serde_json::json!({"cmd": "send", "to": "echobot@hostb", "body": "still here", "id": "l1"});
                dana.say(&send.to_string())?;
                dana.expect(10.0, "sent l1", |l| json(l)["event"] == "sent" && json(l)["id"] == "l1")?;
                purple.expect(10.0, "dana's message", |l| l == "RECV dana@hostd|still here")?;
                // Her goodbye, from her new address, takes her offline in libpurple.
                dana.quit()?;
                purple.expect(3.0, "dana offline in libpurple", |l| {
                    l == "BUDDY_GONE dana@hostd" || l == "BUDDY_OFF dana@hostd"
                })?;
                Ok(())
            })();
            // Host d gets its address back whatever happened: the Mac's scenarios use it.
            let _ = run("ip", &["-n", &d, "addr", "del", "10.83.0.14/24", "dev", "eth0"]);
            let _ = run("ip", &["-n", &d, "addr", "add", "10.83.0.4/24", "dev", "eth0"]);
            outcome
        },
    ));

    results.push((
        "18 a cable out and in under a running llxmpp: what she sent in the dark is never reported sent without reaching libpurple, and her status changed in the dark is announced when the link is probed again and reaches libpurple",
        {
            let cable = format!("v{}do", lab.ns(""));
            let br = lab.ns("br");
            let outcome = (|| {
                let mut dana = dana_beside_echobot(lab, &mut purple)?;
                run("ip", &["-n", &br, "link", "set", &cable, "down"])?;
                let send = serde_json::json!({"cmd": "send", "to": "echobot@hostb", "body": "from the dark", "id": "dark"});
                dana.say(&send.to_string())?;
                std::thread::sleep(Duration::from_millis(500));
                let status = serde_json::json!({"cmd": "status", "status": "away", "msg": "unplugged"});
                dana.say(&status.to_string())?;
                std::thread::sleep(Duration::from_secs(3));
                let plugged = Instant::now();
                run("ip", &["-n", &br, "link", "set", &cable, "up"])?;
                let (at, _) = purple.expect_at(5.0, "dana's status from the dark", |l| {
                    l.starts_with("BUDDY_STATUS dana@hostd|") && l.ends_with("|unplugged")
                })?;
                // Our share is the link's probing (RFC 6762 §8.1: 0-250 ms, then three
                // probes 250 ms apart) before the announcement: 0.75-1.0 s. A capture on
                // host b saw our announcement 873 ms after link-up and libpurple's status
                // change 1,874 ms after it: libpurple, through Avahi, shows a replaced TXT
                // about a second after it is on the wire. 1.87-1.95 s in our runs, so
                // the bound here is 3 s.
                let took = at.duration_since(plugged);
                println!(
                    "  cable in: libpurple had dana's status from the dark {} ms after link-up",
                    took.as_millis()
                );
                if took > Duration::from_secs(3) {
                    return Err(format!("libpurple heard the new status after {took:?}"));
                }
                // The message from the dark: a failure said aloud, or delivered.
                let outcome = json(&dana.expect(20.0, "the outcome of the message from the dark", |l| {
                    let e = json(l);
                    (e["event"] == "sent" || e["event"] == "send_failed") && e["id"] == "dark"
                })?);
                println!("  cable in: the message from the dark ended in {}", outcome["event"]);
                if outcome["event"] == "sent" {
                    purple.expect(10.0, "the message reported sent", |l| {
                        l == "RECV dana@hostd|from the dark"
                    })?;
                }
                // And the conversation goes on, both ways.
                let after = serde_json::json!({"cmd": "send", "to": "echobot@hostb", "body": "back again", "id": "back"});
                dana.say(&after.to_string())?;
                dana.expect(10.0, "sent back", |l| json(l)["event"] == "sent" && json(l)["id"] == "back")?;
                purple.expect(10.0, "dana's message", |l| l == "RECV dana@hostd|back again")?;
                dana.expect(10.0, "libpurple's echo", |l| {
                    json(l)["event"] == "message" && json(l)["body"] == "echo: back again"
                })?;
                dana.quit()?;
                Ok(())
            })();
            // The cable goes back in whatever happened.
            let _ = run("ip", &["-n", &br, "link", "set", &cable, "up"]);
            outcome
        },
    ));

    results.extend(files::libpurple_scenarios(lab, &mut purple));

    results.push((
        "25 --encrypt require refuses libpurple both ways: link_refused, our message failed with the reason and never at libpurple, libpurple's never taken",
        encrypt_require_refuses_libpurple(lab, &mut purple),
    ));

    let _ = purple.say("QUIT");
    results
}

/// Scenario 25: a node that requires encryption refuses libpurple both ways, aloud.
fn encrypt_require_refuses_libpurple(lab: &Lab, purple: &mut Peer) -> Outcome {
    let keys = lab.dir.join("keys-rita").display().to_string();
    let mut rita = lab.llxmpp_chat("c", "rita", &["--encrypt", "require", "--keys", &keys])?;
    rita.expect(10.0, "ready", event("ready"))?;
    rita.expect(15.0, "peer_online echobot", |l| {
        json(l)["event"] == "peer_online" && json(l)["peer"] == "echobot@hostb"
    })?;
    purple.expect(15.0, "BUDDY_ON rita", |l| {
        l.starts_with("BUDDY_ON rita@hostc|")
    })?;
    purple.forget();
    let send = serde_json::json!({"cmd": "send", "to": "echobot@hostb", "body": "not in the clear", "id": "r1"});
    rita.say(&send.to_string())?;
    let refused = json(&rita.expect(10.0, "link_refused", event("link_refused"))?);
    if refused["peer"] != "echobot@hostb" {
        return Err(format!("rita reported {refused}"));
    }
    let failed = json(&rita.expect(10.0, "r1 failed", |l| {
        json(l)["event"] == "send_failed" && json(l)["id"] == "r1"
    })?);
    if !failed["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("encrypt")
    {
        return Err(format!("rita reported {failed}"));
    }
    // libpurple speaks first, on a stream of its own. It is given a moment to read our
    // refusal of the stream above and close its end: a message it sent before then would
    // go down that closed stream (libpurple's own loss) and open no new one.
    std::thread::sleep(Duration::from_millis(500));
    rita.forget();
    purple.say("SEND rita@hostc hello in plaintext")?;
    let refused = rita
        .expect(
            10.0,
            "link_refused (libpurple's stream)",
            event("link_refused"),
        )
        .map_err(|e| format!("{e}{}", log_tail(&purple.log, LOG_TAIL_LINES)))?;
    let refused = json(&refused);
    println!(
        "  require: libpurple's stream refused: {}",
        refused["reason"]
    );
    std::thread::sleep(Duration::from_secs(1));
    rita.forget_into_seen();
    purple.forget_into_seen();
    if let Some((_, taken)) = rita
        .seen
        .iter()
        .find(|(_, l)| json(l)["event"] == "message")
    {
        return Err(format!("rita took {taken}"));
    }
    if let Some((_, heard)) = purple
        .seen
        .iter()
        .find(|(_, l)| l.contains("not in the clear"))
    {
        return Err(format!("libpurple heard {heard}"));
    }
    rita.quit()?;
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn millis(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// `cargo xtask discovery [--runs N]`: only the discovery of 100 services held by a Mac
/// (see [`apple::discovery_at_scale`]), printed as JSON; `cargo xtask bench` measures it
/// too, beside its other figures.
pub fn discovery(root: &Path, args: &[String]) -> Result<(), String> {
    let runs = match args {
        [] => 3,
        [flag, n] if flag == "--runs" => n.parse().map_err(|_| format!("--runs {n}?"))?,
        other => return Err(format!("discovery takes --runs N (got {other:?})")),
    };
    let dir = apple::locate(root, None)?;
    apple::prepare(&dir)?;
    let (llxmpp, driver) = prepare(root, true)?;
    let mut lab = Lab::new(target_dir(root).join("discovery-bench"), llxmpp, driver)?;
    lab.log_level = "info";
    lab.start_avahi()?;
    let figures = apple::discovery_at_scale(&mut lab, &dir, root, runs)?;
    println!("{}", serde_json::Value::Object(figures));
    Ok(())
}

/// `cargo xtask bench`'s figures against real peers, in interop's topology (Avahi and
/// the libpurple driver, echoing, on host b; the release `llxmpp` binary on host a):
/// - `discovery_ms`: from llxmpp's start (full RFC 6762 probing) until Avahi on host b
///   resolves it, median of `runs` starts; `discovery_libpurple_ms`: until libpurple
///   reports it online; `discovery_avahi_publish_ms`: Avahi's own, from `avahi-publish`
///   until llxmpp reports the service (the same probing, by another implementation);
/// - `goodbye_ms`: from `quit` until libpurple takes it offline; `goodbye_avahi_ms`: until
///   Avahi removes it;
/// - `libpurple_msgs_per_s`: messages into libpurple and its echoes back to llxmpp on one
///   stream, 200 in flight, for `spell`;
/// - `libpurple_idle_rss_bytes`, `libpurple_rss_growth_bytes_per_msg`: the driver's RSS
///   before the flood, and its growth per message echoed.
pub fn peer_figures(
    root: &Path,
    runs: usize,
    spell: Duration,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let (llxmpp, driver) = prepare(root, true)?;
    let mut lab = Lab::new(target_dir(root).join("peer-bench"), llxmpp, driver)?;
    lab.log_level = "info";
    lab.start_avahi()?;
    let mut purple = lab.purple()?;
    purple.expect(15.0, "SIGNED_ON", |l| l.starts_with("SIGNED_ON"))?;
    let mut watch = lab.watch_avahi()?;
    let mut discovery = Vec::new();
    let mut discovery_purple = Vec::new();
    let mut discovery_avahi = Vec::new();
    let mut goodbye = Vec::new();
    let mut goodbye_avahi = Vec::new();
    let mut figures = serde_json::Map::new();
    for run in 0..runs {
        purple.forget();
        watch.forget();
        let started = Instant::now();
        let mut alice = lab.llxmpp_chat("a", "alice", &[])?;
        let (resolved_at, _) = watch.expect_at(10.0, "alice resolved by Avahi", |l| {
            l.starts_with("=;") && l.contains("alice\\064hosta")
        })?;
        let (online_at, _) = purple.expect_at(10.0, "BUDDY_ON alice", |l| {
            l.starts_with("BUDDY_ON alice@hosta|")
        })?;
        discovery.push(millis(started, resolved_at));
        discovery_purple.push(millis(started, online_at));
        // The same, the other way round, for Avahi's own publishing: from
        // `avahi-publish` on host b until llxmpp on host a reports the service.
        let name = format!("pub{run}");
        let published = Instant::now();
        let publish = Peer::spawn(
            "avahi-publish",
            lab.in_host(
                "b",
                Path::new("avahi-publish"),
                &["-s", &name, "_presence._tcp", "5399", "txtvers=1"],
            ),
            &lab.dir.join("avahi-publish.log"),
        )?;
        let (seen_at, _) = alice.expect_at(10.0, "avahi-publish's service", |l| {
            json(l)["event"] == "peer_online" && json(l)["peer"] == name.as_str()
        })?;
        discovery_avahi.push(millis(published, seen_at));
        // Ends avahi-publish: its service goes before the next start.
        drop(publish);
        if run + 1 == runs {
            figures.extend(libpurple_flood(&mut alice, &mut purple, spell)?);
        }
        watch.forget();
        purple.forget();
        alice.say(&serde_json::json!({"cmd": "quit"}).to_string())?;
        let quit = Instant::now();
        let (gone_at, _) = purple.expect_at(5.0, "alice offline in libpurple", |l| {
            l == "BUDDY_GONE alice@hosta" || l == "BUDDY_OFF alice@hosta"
        })?;
        let (removed_at, _) = watch.expect_at(5.0, "alice removed by Avahi", |l| {
            l.starts_with("-;") && l.contains("alice\\064hosta")
        })?;
        goodbye.push(millis(quit, gone_at));
        goodbye_avahi.push(millis(quit, removed_at));
        alice.exited()?;
        println!(
            "xtask: run {}: discovery {:.0} ms (libpurple {:.0} ms; avahi-publish seen by llxmpp after {:.0} ms), goodbye {:.0} ms (Avahi {:.0} ms)",
            run + 1,
            discovery[run],
            discovery_purple[run],
            discovery_avahi[run],
            goodbye[run],
            goodbye_avahi[run]
        );
    }
    let _ = purple.say("QUIT");
    for (key, values) in [
        ("discovery_ms", &mut discovery),
        ("discovery_libpurple_ms", &mut discovery_purple),
        ("discovery_avahi_publish_ms", &mut discovery_avahi),
        ("goodbye_ms", &mut goodbye),
        ("goodbye_avahi_ms", &mut goodbye_avahi),
    ] {
        figures.insert(key.into(), median(values).into());
    }
    figures.insert("peer_runs".into(), runs.into());
    drop(watch);
    drop(purple);
    match apple::locate(root, None) {
        Ok(dir) => {
            apple::prepare(&dir)?;
            figures.extend(apple::discovery_at_scale(
                &mut lab,
                &dir,
                root,
                runs.min(5),
            )?);
        }
        Err(reason) => println!("xtask: discovery of 100 services not measured: {reason}"),
    }
    Ok(figures)
}

/// Messages from llxmpp into libpurple, which echoes each back, with 200 in flight.
fn libpurple_flood(
    alice: &mut Peer,
    purple: &mut Peer,
    spell: Duration,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    alice.expect(15.0, "peer_online echobot", |l| {
        json(l)["event"] == "peer_online" && json(l)["peer"] == "echobot@hostb"
    })?;
    let pid = purple.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let idle = llxmpp_benches::rss_bytes(Some(pid));
    let body = "x".repeat(100);
    let is_echo = |line: &str| line.contains(r#""event":"message""#);
    let (mut sent, mut echoed) = (0u64, 0u64);
    let started = Instant::now();
    while started.elapsed() < spell {
        while sent - echoed < 200 {
            alice.say(
                &serde_json::json!({"cmd": "send", "to": "echobot@hostb", "body": body, "id": sent.to_string()})
                    .to_string(),
            )?;
            sent += 1;
        }
        while let Ok((_, line)) = alice.lines.recv_timeout(Duration::from_millis(1)) {
            echoed += u64::from(is_echo(&line));
        }
        // libpurple's RECV and SENT lines: read, so that its pipe never fills.
        purple.forget();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = echoed as f64 / elapsed;
    // The rest in flight, then the driver's memory.
    let deadline = Instant::now() + Duration::from_secs(10);
    while echoed < sent && Instant::now() < deadline {
        if let Ok((_, line)) = alice.lines.recv_timeout(Duration::from_millis(100)) {
            echoed += u64::from(is_echo(&line));
        }
        purple.forget();
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = llxmpp_benches::rss_bytes(Some(pid));
    println!(
        "xtask: libpurple echoed {echoed} of {sent} messages, {rate:.0}/s; its RSS {idle} -> {after} bytes"
    );
    let mut figures = serde_json::Map::new();
    figures.insert("libpurple_msgs_per_s".into(), rate.into());
    figures.insert("libpurple_idle_rss_bytes".into(), idle.into());
    figures.insert(
        "libpurple_rss_growth_bytes_per_msg".into(),
        (after.saturating_sub(idle) as f64 / echoed.max(1) as f64).into(),
    );
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::process_report;

    #[test]
    fn the_process_report_shows_a_socket_that_nobody_reads() {
        let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = quiet.local_addr().unwrap().port();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..3 {
            sender.send_to(&[7; 100], ("127.0.0.1", port)).unwrap();
        }
        let report = process_report(std::process::id());
        let line = report
            .lines()
            .find(|l| l.contains(&format!("udp port {port}, its socket")))
            .unwrap_or_else(|| panic!("no line for port {port} in {report}"));
        // Each datagram is counted with the kernel's overhead, so more than 300 bytes.
        let unread: u64 = line
            .split(": ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert!(unread >= 300, "{line}");
        assert!(line.ends_with(", 0 dropped"), "{line}");
        assert!(report.contains("clock ticks of CPU"), "{report}");
        // The sender's socket is the process's too, on a port of its own.
        assert!(report.contains(", its socket"), "{report}");
        drop(sender);
    }

    #[test]
    fn the_process_report_of_a_process_gone_is_empty() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(process_report(pid), "");
    }
}
