//! mDNS multicast on real sockets, in network namespaces this test makes itself (it needs
//! root and `ip`; CI runs as root). Each node is this test binary run again inside a
//! namespace (`ip netns exec`), in the role `node_in_namespace` below.
//!
//! - two loops on one host (one namespace) share port 5353 and see each other;
//! - across namespaces joined by veth pairs, datagrams cross, and each is reported with
//!   the index of the interface it arrived on (a host with two links tells them apart).

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use llxmpp_event_loop::{
    Config, Context, Datagram, EventLoop, Handler, InterfaceInfo, InterfaceSelection, Target,
};

/// Network namespaces made by this test, removed when dropped (also on failure).
struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Makes namespaces `<prefix>a`, `<prefix>b` and `<prefix>c`: `a` has `eth0` (10.77.1.1)
/// joined by a veth pair to `b`'s `eth0` (10.77.1.2), and `eth1` (10.77.2.1) joined to
/// `c`'s `eth0` (10.77.2.2), each with a multicast route. `None` (said loudly) if this
/// machine cannot, which fails the test under CI.
fn make_namespaces(prefix: &str) -> Option<Namespaces> {
    let [a, b, c] = ["a", "b", "c"].map(|n| format!("{prefix}{n}"));
    let namespaces = Namespaces(vec![a.clone(), b.clone(), c.clone()]);
    let mut result = [&a, &b, &c]
        .iter()
        .try_for_each(|ns| ip(&["netns", "add", ns]));
    for (far, near_name, subnet) in [(&b, "eth0", 1), (&c, "eth1", 2)] {
        let (near_veth, far_veth) = (
            format!("vl{prefix}{subnet}n"),
            format!("vl{prefix}{subnet}f"),
        );
        result = result.and_then(|()| {
            ip(&[
                "link", "add", &near_veth, "netns", &a, "type", "veth", "peer", "name", &far_veth,
                "netns", far,
            ])
        });
        for (ns, veth, name, host) in [(&a, &near_veth, near_name, 1), (far, &far_veth, "eth0", 2)]
        {
            let address = format!("10.77.{subnet}.{host}/24");
            result = result
                .and_then(|()| ip(&["-n", ns, "link", "set", veth, "name", name]))
                .and_then(|()| ip(&["-n", ns, "addr", "add", &address, "dev", name]))
                .and_then(|()| ip(&["-n", ns, "link", "set", name, "up"]))
                .and_then(|()| ip(&["-n", ns, "link", "set", "lo", "up"]));
        }
    }
    // Multicast leaves b and c by their eth0; a sends on both of its interfaces itself.
    for ns in [&a, &b, &c] {
        result =
            result.and_then(|()| ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0"]));
    }
    match result {
        Ok(()) => Some(namespaces),
        Err(e) => {
            eprintln!("\n!!! MULTICAST TESTS NOT RUN: cannot make network namespaces here: {e}\n!!! (they need root and iproute2)\n");
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the multicast tests"
            );
            None
        }
    }
}

/// Runs this binary's `node_in_namespace` in namespace `ns` as node `name` for `millis`.
/// The node stops a second after it has heard every node in `expect`, or after `millis`.
fn spawn_node(
    ns: &str,
    name: &str,
    interfaces: &str,
    expect: &str,
    millis: u64,
) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(exe)
        .args([
            "--exact",
            "node_in_namespace",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("LLXMPP_NODE", name)
        .env("LLXMPP_NODE_INTERFACES", interfaces)
        .env("LLXMPP_NODE_EXPECT", expect)
        .env("LLXMPP_NODE_MILLIS", millis.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// What a node reported: (sender name, arrival interface index) pairs, and its interfaces
/// by name.
fn report(output: Output) -> (BTreeSet<(String, u32)>, BTreeMap<String, u32>) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut received = BTreeSet::new();
    let mut interfaces = BTreeMap::new();
    for line in stdout.lines() {
        // libtest prints `test node_in_namespace ... ` without a newline before output.
        let line = ["RECV ", "IFINDEX "]
            .iter()
            .find_map(|k| line.find(k).map(|at| &line[at..]))
            .unwrap_or("");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["RECV", from, index] => {
                received.insert((from.to_string(), index.parse().unwrap()));
            }
            ["IFINDEX", name, index] => {
                interfaces.insert(name.to_string(), index.parse().unwrap());
            }
            _ => {}
        }
    }
    (received, interfaces)
}

#[test]
fn multicast_crosses_namespaces_tagged_with_the_arrival_interface() {
    let prefix = format!("ll{}", std::process::id() % 100_000);
    let Some(namespaces) = make_namespaces(&prefix) else {
        return;
    };
    let [a, b, c] = [0, 1, 2].map(|i| namespaces.0[i].clone());
    // Two loops in `a` share port 5353; `b` and `c` sit on a's two links.
    let nodes = [
        spawn_node(&a, "a1", "eth0,eth1", "a1,a2,b1,c1", 10_000),
        spawn_node(&a, "a2", "eth0,eth1", "a1,a2,b1,c1", 10_000),
        spawn_node(&b, "b1", "eth0", "a1,a2,b1", 10_000),
        spawn_node(&c, "c1", "eth0", "a1,a2,c1", 10_000),
    ];
    let reports: Vec<_> = nodes
        .into_iter()
        .map(|n| report(n.wait_with_output().unwrap()))
        .collect();
    for (name, (received, interfaces)) in ["a1", "a2"].iter().zip(&reports) {
        let (eth0, eth1) = (interfaces["eth0"], interfaces["eth1"]);
        assert_ne!(eth0, eth1);
        // From b only on eth0, from c only on eth1, from the other loop on this host on both.
        let on = |from: &str| {
            received
                .iter()
                .filter(|(f, _)| f == from)
                .map(|(_, i)| *i)
                .collect::<BTreeSet<u32>>()
        };
        assert_eq!(on("b1"), BTreeSet::from([eth0]), "{name}: {received:?}");
        assert_eq!(on("c1"), BTreeSet::from([eth1]), "{name}: {received:?}");
        let other = if *name == "a1" { "a2" } else { "a1" };
        assert_eq!(
            on(other),
            BTreeSet::from([eth0, eth1]),
            "{name}: {received:?}"
        );
    }
    for (name, (received, interfaces)) in ["b1", "c1"].iter().zip(&reports[2..]) {
        let senders: BTreeSet<&str> = received.iter().map(|(from, _)| from.as_str()).collect();
        assert_eq!(
            senders,
            BTreeSet::from(["a1", "a2", *name]),
            "{name}: {received:?}"
        );
        assert!(received.iter().all(|(_, i)| *i == interfaces["eth0"]));
    }
}

/// The role of a node in a namespace; only run by the test above, through `ip netns exec`.
#[test]
#[ignore = "run by multicast_crosses_namespaces_tagged_with_the_arrival_interface inside a namespace"]
fn node_in_namespace() {
    let name = std::env::var("LLXMPP_NODE").expect("run by the multicast test");
    let millis: u64 = std::env::var("LLXMPP_NODE_MILLIS")
        .unwrap()
        .parse()
        .unwrap();
    let names = std::env::var("LLXMPP_NODE_INTERFACES")
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let config = Config {
        mdns: Some(InterfaceSelection::Named(names)),
        tcp_port: None,
        ipv6: false,
        ..Config::default()
    };
    let mut event_loop: EventLoop<()> = EventLoop::new(config).unwrap();
    let start = Instant::now();
    let expect = std::env::var("LLXMPP_NODE_EXPECT")
        .unwrap()
        .split(',')
        .map(str::to_owned)
        .collect();
    let mut node = Node {
        name,
        next_send: start,
        end: start + Duration::from_millis(millis),
        expect,
        heard_all: None,
        received: BTreeSet::new(),
    };
    event_loop.run(&mut node).unwrap();
    for (from, index) in &node.received {
        println!("RECV {from} {index}");
    }
}

struct Node {
    name: String,
    next_send: Instant,
    end: Instant,
    expect: BTreeSet<String>,
    heard_all: Option<Instant>,
    received: BTreeSet<(String, u32)>,
}

impl Handler for Node {
    type Command = ();
    fn on_interfaces(&mut self, _: &mut Context<'_>, interfaces: &[InterfaceInfo]) {
        for interface in interfaces {
            assert!(interface.ipv4().is_some());
            println!("\nIFINDEX {} {}", interface.name, interface.index);
        }
    }
    fn on_datagram(&mut self, _: &mut Context<'_>, datagram: Datagram<'_>) {
        if let Some(from) = std::str::from_utf8(datagram.bytes)
            .ok()
            .and_then(|t| t.strip_prefix("hello from "))
        {
            self.received.insert((from.to_owned(), datagram.interface));
        }
    }
    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        if self.heard_all.is_none()
            && self
                .expect
                .iter()
                .all(|e| self.received.iter().any(|(f, _)| f == e))
        {
            // Keep talking a second more, so that everyone hears us too.
            self.heard_all = Some(now);
            self.end = self.end.min(now + Duration::from_secs(1));
        }
        if now >= self.end {
            ctx.stop(now);
            return;
        }
        let failures = ctx.send_datagram(
            Target::Multicast(None),
            format!("hello from {}", self.name).as_bytes(),
        );
        assert_eq!(failures, 0);
        self.next_send = now + Duration::from_millis(100);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next_send.min(self.end))
    }
}

/// Interfaces and addresses that come, change and go are heard from the kernel at once
/// (rtnetlink): the periodic re-read is set to a minute here, so every report that comes
/// within the test's two seconds came from the kernel's word.
#[cfg(target_os = "linux")]
#[test]
fn interfaces_that_come_and_go_are_joined_and_left() {
    let prefix = format!("li{}", std::process::id() % 100_000);
    let [x, y] = ["x", "y"].map(|n| format!("{prefix}{n}"));
    let namespaces = Namespaces(vec![x.clone(), y.clone()]);
    if let Err(e) = ip(&["netns", "add", &x]).and_then(|()| ip(&["netns", "add", &y])) {
        eprintln!("\n!!! INTERFACE TEST NOT RUN: cannot make network namespaces here: {e}\n");
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the interface test"
        );
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &x])
        .arg(exe)
        .args([
            "--exact",
            "interfaces_in_namespace",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("LLXMPP_RECHECK_MILLIS", "60000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Follow the watcher's reports as they come, and change the links between them.
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(at) = line.find("INTERFACES") {
                let _ = lines_tx.send(line[at + "INTERFACES".len()..].trim().to_owned());
            }
        }
    });
    // The first report that says `expected`, and how long it took to come.
    let report_of = |expected: &str| -> Duration {
        let asked = Instant::now();
        loop {
            let report = lines
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no report {expected:?} within 10 s"));
            if report == expected {
                return asked.elapsed();
            }
        }
    };
    let mut delays = vec![("start", report_of(""))];
    let (near, far) = (format!("vw{prefix}n"), format!("vw{prefix}f"));
    ip(&[
        "link", "add", &near, "netns", &x, "type", "veth", "peer", "name", &far, "netns", &y,
    ])
    .unwrap();
    ip(&["-n", &x, "addr", "add", "10.78.0.1/24", "dev", &near]).unwrap();
    ip(&["-n", &x, "link", "set", &near, "up"]).unwrap();
    ip(&["-n", &y, "link", "set", &far, "up"]).unwrap();
    delays.push(("up", report_of(&format!("{near}:10.78.0.1:sockets=1"))));
    // A new lease: the socket that sent from the old address is opened anew.
    ip(&["-n", &x, "addr", "del", "10.78.0.1/24", "dev", &near]).unwrap();
    ip(&["-n", &x, "addr", "add", "10.78.0.2/24", "dev", &near]).unwrap();
    delays.push((
        "new address",
        report_of(&format!("{near}:10.78.0.2:sockets=1")),
    ));
    // Cable out.
    ip(&["-n", &y, "link", "set", &far, "down"]).unwrap();
    delays.push(("carrier lost", report_of("")));
    ip(&["-n", &y, "link", "set", &far, "up"]).unwrap();
    delays.push((
        "carrier back",
        report_of(&format!("{near}:10.78.0.2:sockets=1")),
    ));
    ip(&["-n", &x, "link", "del", &near]).unwrap();
    delays.push(("deleted", report_of("")));
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for (change, delay) in delays {
        assert!(
            delay < Duration::from_secs(2),
            "{change}: seen after {delay:?}"
        );
    }
    drop(namespaces);
}

/// The role of the watcher in `interfaces_that_come_and_go_are_joined_and_left`.
#[test]
#[ignore = "run by interfaces_that_come_and_go_are_joined_and_left inside a namespace"]
fn interfaces_in_namespace() {
    let millis: u64 = std::env::var("LLXMPP_RECHECK_MILLIS")
        .expect("run by the interface test")
        .parse()
        .unwrap();
    let config = Config {
        mdns: Some(InterfaceSelection::AllButLoopback),
        tcp_port: None,
        ipv6: false,
        interface_recheck: Duration::from_millis(millis),
        ..Config::default()
    };
    let mut event_loop: EventLoop<()> = EventLoop::new(config).unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    event_loop
        .run(&mut Watcher {
            end,
            reports: 0,
            gone: 0,
        })
        .unwrap();
}

/// Reports the interfaces at start and at each change; done when they are gone the
/// second time after the start (carrier lost, then deleted), or after 30 s.
struct Watcher {
    end: Instant,
    reports: usize,
    gone: usize,
}

impl Handler for Watcher {
    type Command = ();
    fn on_interfaces(&mut self, ctx: &mut Context<'_>, interfaces: &[InterfaceInfo]) {
        let listed: Vec<String> = interfaces
            .iter()
            .map(|i| {
                format!(
                    "{}:{}:sockets={}",
                    i.name,
                    i.ipv4().map(|a| a.to_string()).unwrap_or_default(),
                    ctx.mdns_sockets(i.index)
                )
            })
            .collect();
        println!("\nINTERFACES {}", listed.join(" "));
        self.reports += 1;
        if self.reports > 1 && interfaces.is_empty() {
            self.gone += 1;
            if self.gone == 2 {
                self.end = ctx.now();
            }
        }
    }
    fn on_timeout(&mut self, ctx: &mut Context<'_>) {
        let now = ctx.now();
        ctx.stop(now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.end)
    }
}
