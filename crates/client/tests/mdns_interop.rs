//! Our mDNS responder and browser on real sockets against real third-party stacks: Avahi
//! (with `avahi-publish` and `avahi-browse`) and python-zeroconf, each on its own host.
//!
//! The hosts are network namespaces this test makes itself, joined by a bridge (the
//! topology of xtask/src/netlab.rs): `a` runs our node (this test binary again, role
//! `our_node`), `b` runs a private D-Bus, avahi-daemon and the avahi tools, `c` runs
//! python-zeroconf. It needs root, iproute2, avahi-daemon, avahi-utils, dbus and
//! python3-zeroconf; CI installs them.
//!
//! Shown: we resolve a service published by `avahi-publish -s` under the instance name
//! `x #2` (a space and `#`), with a boolean key and an empty value, and one published by
//! python-zeroconf; `avahi-browse -r` and python-zeroconf both resolve ours with its TXT.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use llxmpp::presence::{Presence, PresenceEvent};
use llxmpp_dnssd::{InterfaceAddr, ServiceEvent, ServiceInfo, TxtRecord, TxtValue};
use llxmpp_event_loop::{
    Config, Context, Datagram, EventLoop, Handler, InterfaceInfo, InterfaceSelection,
};

const PYTHON: &str = "/usr/bin/python3";
const OUR_INSTANCE: &str = "llxmpp-test@hosta";
/// How long the test waits for all of it: Avahi and python-zeroconf resolving us, and us
/// resolving both of theirs. On an idle machine each takes one to three seconds.
const STEP_DEADLINE: Duration = Duration::from_secs(40);

#[allow(dead_code)] // Not every part of the shared lab is used here.
#[path = "../../../xtask/src/netlab.rs"]
mod netlab;

use netlab::{run, Avahi, Hosts};

/// The test's hosts and processes; everything is ended and removed when dropped (the
/// processes first: fields drop in order).
struct Lab {
    children: Vec<Child>,
    avahi: Option<Avahi>,
    hosts: Hosts,
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Lab {
    fn ns(&self, host: &str) -> String {
        self.hosts.ns(host)
    }

    fn bus(&self) -> String {
        netlab::bus_address(&self.dir)
    }

    /// Hosts a, b, c on a bridge in namespace `br`: 10.79.0.1, .2, .3.
    fn new() -> Result<Lab, String> {
        for tool in [
            "ip",
            "avahi-daemon",
            "avahi-publish",
            "avahi-browse",
            "dbus-daemon",
            "unshare",
        ] {
            run("sh", &["-c", &format!("command -v {tool}")])
                .map_err(|_| format!("{tool} is not installed"))?;
        }
        run(PYTHON, &["-c", "import zeroconf"])
            .map_err(|_| "python3-zeroconf is not installed".to_owned())?;
        let dir = std::env::temp_dir().join(format!("llxmpp-mdns-interop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let hosts = Hosts::bridged(
            &format!("lm{}", std::process::id() % 100_000),
            &["a", "b", "c"],
            "10.79.0",
        )?;
        Ok(Lab {
            children: Vec::new(),
            avahi: None,
            hosts,
            dir,
        })
    }

    fn spawn(&mut self, host: &str, args: &[&str]) -> Result<(), String> {
        let child = netlab::in_namespace(&self.ns(host), args[0])
            .args(&args[1..])
            .env("DBUS_SYSTEM_BUS_ADDRESS", self.bus())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        self.children.push(child);
        Ok(())
    }

    /// A private system bus and avahi-daemon (host name `hostb`) in namespace b.
    fn start_avahi(&mut self) -> Result<(), String> {
        self.avahi = Some(Avahi::start(&self.ns("b"), &self.dir, "hostb")?);
        Ok(())
    }

    fn python(&self, name: &str, source: &str) -> Result<PathBuf, String> {
        let path = self.dir.join(name);
        std::fs::write(&path, source).map_err(|e| e.to_string())?;
        Ok(path)
    }
}

const PYTHON_PUBLISH: &str = r#"
import socket, sys, time
from zeroconf import ServiceInfo, Zeroconf
zc = Zeroconf(interfaces=["10.79.0.3"])
info = ServiceInfo("_presence._tcp.local.", "pyz@hostp._presence._tcp.local.",
    addresses=[socket.inet_aton("10.79.0.3")], port=5299, server="hostp-py.local.",
    properties={"txtvers": "1", "status": "dnd", "msg": "python here"})
zc.register_service(info)
time.sleep(float(sys.argv[1]))
zc.unregister_service(info)
zc.close()
"#;

const PYTHON_RESOLVE: &str = r#"
import sys, time
from zeroconf import ServiceBrowser, ServiceInfo, Zeroconf
zc = Zeroconf(interfaces=["10.79.0.3"])
name = sys.argv[1] + "._presence._tcp.local."
info = ServiceInfo("_presence._tcp.local.", name)
ok = info.request(zc, 6000)
if ok:
    props = {k.decode(): (v.decode() if v is not None else None) for k, v in info.properties.items()}
    print("RESOLVED", info.port, sorted(info.parsed_addresses()), sorted(props.items()))
else:
    print("NOT RESOLVED")
zc.close()
"#;

#[test]
fn avahi_and_python_zeroconf_see_us_and_we_see_them() {
    let mut lab = match Lab::new() {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("\n!!! mDNS INTEROP TEST NOT RUN: {e}\n!!! (it needs root, iproute2, avahi-daemon, avahi-utils, dbus, python3-zeroconf)\n");
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the mDNS interop test: {e}"
            );
            return;
        }
    };
    lab.start_avahi().unwrap();
    lab.spawn(
        "b",
        &[
            "avahi-publish",
            "-s",
            "x #2",
            "_presence._tcp",
            "5298",
            "txtvers=1",
            "status=avail",
            "flag",
            "key=",
        ],
    )
    .unwrap();
    let publish = lab
        .python("publish.py", PYTHON_PUBLISH)
        .unwrap()
        .display()
        .to_string();
    // Ended with the lab, as every process here.
    lab.spawn("c", &[PYTHON, &publish, "120"]).unwrap();

    // Our node in a: publishes, browses, prints each service it resolves as it comes. It
    // lives until the lab ends it (the bound is only for a lab that never does).
    let exe = std::env::current_exe().unwrap();
    let mut ours = netlab::in_namespace(&lab.ns("a"), exe)
        .args([
            "--exact",
            "our_node",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("LLXMPP_OUR_NODE_SECS", "120")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = ours.stdout.take().unwrap();
    lab.children.push(ours);
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    // Each step below waits for its answer, asking again until then: no fixed sleep
    // stands for "long enough" on a slow machine.
    let deadline = Instant::now() + STEP_DEADLINE;

    // avahi-browse resolves us with our TXT.
    let our_line = loop {
        let output = netlab::avahi_browse_once(&lab.ns("b"), &["-r", "-t", "-p", "_presence._tcp"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", lab.bus())
            .output()
            .unwrap();
        let browse = String::from_utf8_lossy(&output.stdout);
        if let Some(line) = browse
            .lines()
            .find(|l| l.starts_with("=;") && l.contains("llxmpp-test\\064hosta"))
        {
            break line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "avahi-browse did not resolve us within {STEP_DEADLINE:?}:\n{browse}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    for expected in [
        "\"txtvers=1\"",
        "\"status=avail\"",
        "\"1st=Test\"",
        "\"port.p2pj=5298\"",
        ";10.79.0.1;5298;",
    ] {
        assert!(
            our_line.contains(expected),
            "{expected} missing in {our_line}"
        );
    }

    // python-zeroconf resolves us with our TXT.
    let resolve = lab
        .python("resolve.py", PYTHON_RESOLVE)
        .unwrap()
        .display()
        .to_string();
    let python = loop {
        let output = netlab::in_namespace(&lab.ns("c"), PYTHON)
            .args([&resolve, OUR_INSTANCE])
            .output()
            .unwrap();
        let python = String::from_utf8_lossy(&output.stdout).into_owned();
        if python.starts_with("RESOLVED") || Instant::now() >= deadline {
            break python;
        }
    };
    assert!(
        python.contains("RESOLVED 5298 ['10.79.0.1']"),
        "python-zeroconf: {python}"
    );
    for expected in ["('status', 'avail')", "('1st', 'Test')", "('txtvers', '1')"] {
        assert!(python.contains(expected), "{expected} missing in {python}");
    }

    // We resolved Avahi's `x #2` and python's service (the last word on each counts).
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut heard = Vec::new();
    let complete = |seen: &BTreeMap<String, String>| {
        seen.get("x #2")
            .is_some_and(|x2| x2.contains("key:empty") && x2.contains("10.79.0.2"))
            && seen
                .get("pyz@hostp")
                .is_some_and(|pyz| pyz.contains("msg=python here") && pyz.contains("10.79.0.3"))
    };
    while !complete(&seen) {
        let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            break;
        };
        if let Some((instance, rest)) = line
            .find("SEEN ")
            .and_then(|at| line[at + 5..].split_once('|'))
        {
            seen.insert(instance.to_owned(), rest.to_owned());
        }
        heard.push(line);
    }
    let stdout = heard.join("\n");
    let x2 = seen
        .get("x #2")
        .unwrap_or_else(|| panic!("we did not resolve Avahi's `x #2`: {stdout}"));
    assert!(x2.contains("port=5298") && x2.contains("10.79.0.2"), "{x2}");
    assert!(
        x2.contains("status=avail") && x2.contains("flag:flag") && x2.contains("key:empty"),
        "{x2}"
    );
    let pyz = seen
        .get("pyz@hostp")
        .unwrap_or_else(|| panic!("we did not resolve python's service: {stdout}"));
    assert!(
        pyz.contains("port=5299") && pyz.contains("10.79.0.3") && pyz.contains("msg=python here"),
        "{pyz}"
    );
    drop(lab);
}

/// Our node's role in namespace a: publish `llxmpp-test@hosta`, browse, print each
/// service as it is resolved or changes, `SEEN instance|port=…,addresses,txt…`, until
/// ended (or `LLXMPP_OUR_NODE_SECS` have passed).
#[test]
#[ignore = "run by avahi_and_python_zeroconf_see_us_and_we_see_them inside a namespace"]
fn our_node() {
    let secs: u64 = std::env::var("LLXMPP_OUR_NODE_SECS")
        .expect("run by the interop test")
        .parse()
        .unwrap();
    let config = Config {
        mdns: Some(InterfaceSelection::Named(vec!["eth0".into()])),
        tcp_port: None,
        ipv6: false,
        ..Config::default()
    };
    let mut event_loop: EventLoop<()> = EventLoop::new(config).unwrap();
    let mut node = OurNode {
        presence: None,
        end: Instant::now() + Duration::from_secs(secs),
        seen: BTreeMap::new(),
    };
    event_loop.run(&mut node).unwrap();
}

struct OurNode {
    presence: Option<Presence>,
    end: Instant,
    seen: BTreeMap<String, String>,
}

impl OurNode {
    fn drain(&mut self) {
        let Some(presence) = &mut self.presence else {
            return;
        };
        while let Some(event) = presence.poll_event() {
            if let PresenceEvent::Service(ServiceEvent::Resolved(s) | ServiceEvent::Updated(s)) =
                event
            {
                let mut parts = vec![format!("port={}", s.port)];
                parts.extend(s.addresses.iter().map(|a| a.ip.to_string()));
                for entry in s.txt.entries() {
                    parts.push(match &entry.value {
                        TxtValue::Flag => format!("{}:flag", entry.key),
                        TxtValue::Bytes(v) if v.is_empty() => format!("{}:empty", entry.key),
                        TxtValue::Bytes(v) => {
                            format!("{}={}", entry.key, String::from_utf8_lossy(v))
                        }
                    });
                }
                let line = parts.join(",");
                if self.seen.get(&s.instance) != Some(&line) {
                    // A line of its own: the harness may have printed on this line.
                    println!("\nSEEN {}|{line}", s.instance);
                    self.seen.insert(s.instance.clone(), line);
                }
            }
        }
    }
}

impl Handler for OurNode {
    type Command = ();
    fn on_interfaces(&mut self, ctx: &mut Context<'_>, interfaces: &[InterfaceInfo]) {
        if self.presence.is_some() {
            return;
        }
        let addresses = interfaces
            .iter()
            .flat_map(|i| {
                i.addresses.iter().map(move |ip| InterfaceAddr {
                    interface: i.index,
                    ip: *ip,
                })
            })
            .filter(|a| a.ip == IpAddr::V4(Ipv4Addr::new(10, 79, 0, 1)))
            .collect();
        let mut txt = TxtRecord::new();
        for (key, value) in [
            ("txtvers", "1"),
            ("1st", "Test"),
            ("last", "Node"),
            ("port.p2pj", "5298"),
            ("status", "avail"),
        ] {
            txt.insert(key, value).unwrap();
        }
        let service = ServiceInfo {
            instance: OUR_INSTANCE.into(),
            host: "hosta-llxmpp".into(),
            port: 5298,
            addresses,
            txt,
            avatar: None,
        };
        self.presence = Some(Presence::new(Some(service), ctx.now(), 42).unwrap());
    }
    fn on_datagram(&mut self, ctx: &mut Context<'_>, datagram: Datagram<'_>) {
        if let Some(presence) = &mut self.presence {
            presence.handle_datagram(ctx, datagram.from, datagram.interface, datagram.bytes);
        }
        self.drain();
    }
    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        if now >= self.end {
            if let Some(presence) = &mut self.presence {
                presence.shutdown(ctx);
            }
            ctx.stop(now);
            return;
        }
        if let Some(presence) = &mut self.presence {
            presence.handle_timeout(ctx);
        }
        self.drain();
    }
    fn poll_timeout(&self) -> Option<Instant> {
        let presence = self.presence.as_ref().and_then(Presence::poll_timeout);
        Some(presence.map_or(self.end, |t| t.min(self.end)))
    }
}
