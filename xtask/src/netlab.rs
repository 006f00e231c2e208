//! The test network: hosts in network namespaces joined by a bridge that
//! floods multicast, and Avahi with a private D-Bus on one of them; two links joined by
//! a router that passes no multicast, and a BIND 9 serving a zone, for wide-area DNS-SD.
//!
//! Shared by `cargo xtask interop` and the real-socket tests, which include this file
//! with `#[path]`. Needs root and iproute2 (and avahi-daemon, dbus for [`Avahi`]; bind9
//! and bind9-dnsutils for [`Bind`]).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `program`, to be run inside network namespace `ns` (`ip netns exec`).
pub fn in_namespace(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).arg(program);
    command
}

/// `avahi-browse ARGS` in `ns` (ARGS with `-t`: dump what is known, then end), stopped
/// with SIGTERM if it has not ended within 15 s; it still prints what it had (it flushes
/// every line and quits cleanly on SIGTERM).
///
/// Avahi's resolver gives up on a service after 5 s, so `-t` normally ends within about
/// six; but an avahi-browse 0.8 with `-r` was seen waiting forever (16 minutes, in CI,
/// scenario 7 of the interop run with `--encrypt prefer`) while a fresh one on the same
/// daemon ended at once: a service that goes away while it is being resolved seems never
/// to be counted as resolved. No wait of ours may rest on it ending by itself.
pub fn avahi_browse_once(ns: &str, args: &[&str]) -> Command {
    let mut command = in_namespace(ns, "timeout");
    command
        .args(["-s", "TERM", "15", "avahi-browse"])
        .args(args);
    command
}

/// The arguments of `llxmpp chat --json` as `<name>@host<host>` on the host's `eth0`.
pub fn chat_args(name: &str, host: &str) -> Vec<String> {
    [
        "chat",
        "--json",
        "--name",
        name,
        "--host",
        &format!("host{host}"),
        "--interface",
        "eth0",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Slows what the host in namespace `ns` sends on its `eth0` to 50 Mbit/s (Wi-Fi's pace),
/// so that a file is still moving when a test acts on it; `false` takes that back.
pub fn throttle(ns: &str, on: bool) -> Result<(), String> {
    let args: &[&str] = if on {
        &[
            "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "50mbit", "burst", "64kb",
            "latency", "400ms",
        ]
    } else {
        &["qdisc", "del", "dev", "eth0", "root"]
    };
    let status = in_namespace(ns, "tc")
        .args(args)
        .status()
        .map_err(|e| format!("tc: {e}"))?;
    if !status.success() {
        return Err(format!("tc {args:?} failed in {ns}"));
    }
    Ok(())
}

/// Runs a command to completion; its stdout, or why it failed.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Polls `ready` every 100 ms for up to 10 s.
pub fn wait_for(mut ready: impl FnMut() -> bool, what: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{what} did not come up"))
}

/// Makes namespace `ns` a host: `eth0`, one end of a veth whose other end is `outer` in
/// namespace `peer`, with `address` (CIDR), up, with `lo` up and a route for 224.0.0.0/4
/// on `eth0`.
fn add_host(ns: &str, peer: &str, outer: &str, address: &str) -> Result<(), String> {
    let inner = format!("{outer}-i");
    run("ip", &["netns", "add", ns])?;
    run(
        "ip",
        &[
            "link", "add", &inner, "netns", ns, "type", "veth", "peer", "name", outer, "netns",
            peer,
        ],
    )?;
    run("ip", &["-n", ns, "link", "set", &inner, "name", "eth0"])?;
    run("ip", &["-n", ns, "addr", "add", address, "dev", "eth0"])?;
    run("ip", &["-n", ns, "link", "set", "eth0", "up"])?;
    run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
    run(
        "ip",
        &["-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0"],
    )?;
    run("ip", &["-n", peer, "link", "set", outer, "up"])?;
    Ok(())
}

/// Whether BIND 9 and its tools are installed (`bind9`, `bind9-dnsutils`), for
/// [`Bind`] and the tests that query it.
pub fn bind_installed() -> bool {
    [
        "/usr/sbin/named",
        "/usr/sbin/tsig-keygen",
        "/usr/bin/dig",
        "/usr/bin/nsupdate",
    ]
    .iter()
    .all(|p| Path::new(p).exists())
}

/// For a test: whether BIND 9 is here; if not, says so loudly, and under CI (`CI` set)
/// fails, since CI installs it.
#[allow(dead_code)] // The tests', not interop's.
pub fn bind_for_tests() -> bool {
    let found = bind_installed();
    if !found {
        eprintln!(
            "\n!!! WIDE-AREA TESTS NOT RUN: BIND 9 is not installed (bind9, bind9-dnsutils)\n"
        );
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the wide-area tests"
        );
    }
    found
}

/// A port of 127.0.0.1 free for UDP and TCP alike (as far as one can tell before a
/// server binds it).
#[allow(dead_code)] // The tests' and benchmarks'.
pub fn free_loopback_port() -> u16 {
    use std::net::{Ipv4Addr, TcpListener, UdpSocket};
    loop {
        let Ok(udp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else {
            continue;
        };
        let Ok(address) = udp.local_addr() else {
            continue;
        };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, address.port())).is_ok() {
            return address.port();
        }
    }
}

/// The D-Bus address of the private system bus [`Avahi::start`] runs for `dir`.
pub fn bus_address(dir: &Path) -> String {
    format!("unix:path={}/bus", dir.display())
}

/// Hosts `<prefix><name>`, each with `eth0` on a bridge in `<prefix>br`; the namespaces
/// are removed when this is dropped.
pub struct Hosts {
    prefix: String,
    names: Vec<String>,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for name in self.names.iter().map(String::as_str).chain(["br"]) {
            let _ = Command::new("ip")
                .args(["netns", "del", &format!("{}{name}", self.prefix)])
                .status();
        }
    }
}

impl Hosts {
    /// Makes the hosts: the n-th (from 1) gets `<subnet>.n/24` (subnet like `10.80.0`),
    /// `lo` up and a route for 224.0.0.0/4 on `eth0`.
    pub fn bridged(prefix: &str, names: &[&str], subnet: &str) -> Result<Hosts, String> {
        let hosts = Hosts {
            prefix: prefix.to_owned(),
            names: names.iter().map(|n| n.to_string()).collect(),
        };
        let br = hosts.ns("br");
        run("ip", &["netns", "add", &br])?;
        run(
            "ip",
            &[
                "-n",
                &br,
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "mcast_snooping",
                "0",
            ],
        )?;
        run("ip", &["-n", &br, "link", "set", "br0", "up"])?;
        for (n, name) in names.iter().enumerate() {
            let outer = format!("v{prefix}{name}o");
            add_host(
                &hosts.ns(name),
                &br,
                &outer,
                &format!("{subnet}.{}/24", n + 1),
            )?;
            run("ip", &["-n", &br, "link", "set", &outer, "master", "br0"])?;
        }
        Ok(hosts)
    }

    /// The namespace of host `name` (or of the bridge, `br`).
    pub fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// The file, in the directory given to [`Avahi::start`], that avahi-daemon logs to.
pub const AVAHI_LOG: &str = "avahi-daemon.log";

/// A private system bus and avahi-daemon on one host; ended when dropped.
pub struct Avahi {
    children: Vec<Child>,
}

impl Drop for Avahi {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Avahi {
    /// Starts them in namespace `ns`, with files in `dir` (the bus at
    /// [`bus_address`]`(dir)`) and Avahi's host name `host_name`. avahi-daemon keeps its pid
    /// file and socket in /run/avahi-daemon: it gets a private tmpfs there, in a mount
    /// namespace of its own, so that it neither collides with nor disturbs the machine's.
    pub fn start(ns: &str, dir: &Path, host_name: &str) -> Result<Avahi, String> {
        Avahi::start_browsing(ns, dir, host_name, None)
    }

    /// As [`Avahi::start`], browsing the wide-area `domain` too (`enable-wide-area`,
    /// `browse-domains`), through the namespace's `/etc/resolv.conf`.
    pub fn start_browsing(
        ns: &str,
        dir: &Path,
        host_name: &str,
        domain: Option<&str>,
    ) -> Result<Avahi, String> {
        let conf = dir.join("dbus.conf");
        std::fs::write(
            &conf,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\" \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig><type>system</type><listen>unix:path={}/bus</listen><auth>EXTERNAL</auth>\
                 <policy context=\"default\"><allow user=\"*\"/><allow own=\"*\"/><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow receive_sender=\"*\"/><allow eavesdrop=\"true\"/></policy></busconfig>\n",
                dir.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let avahi_conf = dir.join("avahi.conf");
        std::fs::write(
            &avahi_conf,
            format!(
                "[server]\nhost-name={host_name}\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=eth0\nenable-dbus=yes\n{browse}\
                 [wide-area]\nenable-wide-area={wide}\n[publish]\npublish-hinfo=no\npublish-workstation=no\n",
                browse = domain.map_or(String::new(), |d| format!("browse-domains={d}\n")),
                wide = if domain.is_some() { "yes" } else { "no" },
            ),
        )
        .map_err(|e| e.to_string())?;
        let bus = bus_address(dir);
        let mut avahi = Avahi {
            children: Vec::new(),
        };
        let spawn = |args: &[&str]| {
            in_namespace(ns, args[0])
                .args(&args[1..])
                .env("DBUS_SYSTEM_BUS_ADDRESS", &bus)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("{}: {e}", args[0]))
        };
        avahi.children.push(spawn(&[
            "dbus-daemon",
            "--nofork",
            "--nopidfile",
            &format!("--config-file={}", conf.display()),
        ])?);
        wait_for(|| dir.join("bus").exists(), "the D-Bus socket")?;
        std::fs::create_dir_all("/run/avahi-daemon").map_err(|e| e.to_string())?;
        // Its log (--debug: registrations, conflicts, state changes) goes to
        // AVAHI_LOG in `dir`, for a failure to quote.
        let script = format!(
            "mount -t tmpfs tmpfs /run/avahi-daemon && exec avahi-daemon -f {} --no-drop-root --no-chroot --no-rlimits --debug 2>{}",
            avahi_conf.display(),
            dir.join(AVAHI_LOG).display()
        );
        avahi.children.push(spawn(&[
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
        ])?);
        wait_for(
            || {
                avahi_browse_once(ns, &["-a", "-t", "-p"])
                    .env("DBUS_SYSTEM_BUS_ADDRESS", &bus)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            },
            "avahi-daemon",
        )?;
        Ok(avahi)
    }
}

/// Two links joined by a router: host `<prefix>a` (`10.<n>.1.1/24`) and host `<prefix>b`
/// (`10.<n>.2.1/24`), each behind its own veth to `<prefix>r` (`.254` on both), which
/// forwards unicast and no multicast. The namespaces are removed when this is dropped.
pub struct Routed {
    prefix: String,
}

impl Drop for Routed {
    fn drop(&mut self) {
        for name in ["a", "b", "r"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &format!("{}{name}", self.prefix)])
                .status();
        }
    }
}

impl Routed {
    /// Makes the hosts and the router; `net` is the second octet (`10.<net>.…`).
    pub fn new(prefix: &str, net: u8) -> Result<Routed, String> {
        let routed = Routed {
            prefix: prefix.to_owned(),
        };
        let router = routed.ns("r");
        run("ip", &["netns", "add", &router])?;
        run("ip", &["-n", &router, "link", "set", "lo", "up"])?;
        run(
            "ip",
            &[
                "netns",
                "exec",
                &router,
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
            ],
        )?;
        for (side, host) in [(1, "a"), (2, "b")] {
            let outer = format!("v{prefix}{host}r");
            add_host(
                &routed.ns(host),
                &router,
                &outer,
                &format!("10.{net}.{side}.1/24"),
            )?;
            let gateway = format!("10.{net}.{side}.254");
            run(
                "ip",
                &[
                    "-n",
                    &routed.ns(host),
                    "route",
                    "add",
                    "default",
                    "via",
                    &gateway,
                ],
            )?;
            run(
                "ip",
                &[
                    "-n",
                    &router,
                    "addr",
                    "add",
                    &format!("{gateway}/24"),
                    "dev",
                    &outer,
                ],
            )?;
        }
        Ok(routed)
    }

    /// The namespace of host `a`, `b` or the router `r`.
    pub fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// A BIND 9 primary for one zone (`named` in the foreground), with a key made by
/// `tsig-keygen` that may update the zone's DNS-SD records (`_presence._tcp` PTR, SRV,
/// TXT; the service-type PTR; any host's A and AAAA). Killed when dropped.
pub struct Bind {
    child: Child,
    /// The key file, as `tsig-keygen` wrote it (mode 0600).
    pub key_file: PathBuf,
    /// The key file's text.
    #[allow(dead_code)] // The tests' and benchmarks' (interop hands nodes the file).
    pub key_text: String,
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bind {
    /// Starts `named` (in namespace `ns`, or here) with its files in `dir`, serving `zone`
    /// on `listen` (IPv4 addresses) at `port`; its primary `ns1.<zone>` is `listen[0]`, and
    /// with `update_srv` the zone names it by `_dns-update._udp` SRV. Returns once it
    /// answers for the zone. `max-records-per-type 0`: since 9.18.28 BIND holds at most
    /// 100 records in an RRset by default, so at most 100 services in a zone's list.
    pub fn start(
        ns: Option<&str>,
        dir: &Path,
        zone: &str,
        listen: &[&str],
        port: u16,
        update_srv: bool,
        notify: &[&str],
    ) -> Result<Bind, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let key_text = run(
            "/usr/sbin/tsig-keygen",
            &["-a", "hmac-sha256", "llxmpp-test."],
        )?;
        let key_file = dir.join("key.conf");
        std::fs::write(&key_file, &key_text).map_err(|e| e.to_string())?;
        {
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::Permissions::from_mode(0o600);
            std::fs::set_permissions(&key_file, private).map_err(|e| e.to_string())?;
        }
        let srv = if update_srv {
            format!("_dns-update._udp IN SRV 0 0 {port} ns1\n")
        } else {
            String::new()
        };
        std::fs::write(
            dir.join("zone.db"),
            format!(
                "$TTL 60\n@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n\
                 @ IN NS ns1\nns1 IN A {primary}\n\
                 b._dns-sd._udp IN PTR @\nlb._dns-sd._udp IN PTR @\n{srv}",
                primary = listen[0]
            ),
        )
        .map_err(|e| e.to_string())?;
        let d = dir.display();
        let listen_on: String = listen.iter().map(|a| format!("{a}; ")).collect();
        let secondaries: String = notify.iter().map(|a| format!("{a}; ")).collect();
        std::fs::write(
            dir.join("named.conf"),
            format!(
                "include \"{d}/key.conf\";\n\
                 options {{ directory \"{d}\"; pid-file none; lock-file none; session-keyfile none;\n\
                   listen-on port {port} {{ {listen_on}}}; listen-on-v6 {{ none; }};\n\
                   recursion no; dnssec-validation no;\n\
                   max-records-per-type 0; }};\n\
                 controls {{ }};\n\
                 zone \"{zone}\" {{ type primary; file \"{d}/zone.db\";\n\
                   allow-transfer {{ any; }}; also-notify {{ {secondaries}}};\n\
                   update-policy {{\n\
                     grant llxmpp-test. subdomain _presence._tcp.{zone}. PTR SRV TXT;\n\
                     grant llxmpp-test. name _services._dns-sd._udp.{zone}. PTR;\n\
                     grant llxmpp-test. wildcard *.{zone}. A AAAA;\n\
                   }}; }};\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let child = Bind::spawn(ns, dir)?;
        let bind = Bind {
            child,
            key_file,
            key_text,
        };
        bind.wait_answering(ns, listen[0], port, zone)?;
        Ok(bind)
    }

    /// A secondary of `zone` (in namespace `ns`), on `listen` at port 53, kept by the
    /// primary at `primary` (NOTIFY, then IXFR). Returns once it answers for the zone.
    pub fn secondary(
        ns: &str,
        dir: &Path,
        zone: &str,
        listen: &str,
        primary: &str,
    ) -> Result<Bind, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let d = dir.display();
        std::fs::write(
            dir.join("named.conf"),
            format!(
                "options {{ directory \"{d}\"; pid-file none; lock-file none; session-keyfile none;\n\
                   listen-on port 53 {{ {listen}; }}; listen-on-v6 {{ none; }};\n\
                   recursion no; dnssec-validation no; max-records-per-type 0; }};\n\
                 controls {{ }};\n\
                 zone \"{zone}\" {{ type secondary; primaries {{ {primary}; }}; file \"{d}/secondary.db\"; }};\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let child = Bind::spawn(Some(ns), dir)?;
        let bind = Bind {
            child,
            key_file: PathBuf::new(),
            key_text: String::new(),
        };
        bind.wait_answering(Some(ns), listen, 53, zone)?;
        Ok(bind)
    }

    /// `named` in the foreground (in namespace `ns`, or here) with `dir/named.conf`, its
    /// log in `dir/named.log`.
    fn spawn(ns: Option<&str>, dir: &Path) -> Result<Child, String> {
        let log = std::fs::File::create(dir.join("named.log")).map_err(|e| e.to_string())?;
        let mut command = match ns {
            Some(ns) => in_namespace(ns, "/usr/sbin/named"),
            None => Command::new("/usr/sbin/named"),
        };
        command
            .args(["-g", "-u", "root", "-c"])
            .arg(dir.join("named.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("named: {e}"))
    }

    fn wait_answering(
        &self,
        ns: Option<&str>,
        address: &str,
        port: u16,
        zone: &str,
    ) -> Result<(), String> {
        let server = format!("@{address}");
        let port = port.to_string();
        wait_for(
            || {
                let mut dig = match ns {
                    Some(ns) => in_namespace(ns, "dig"),
                    None => Command::new("dig"),
                };
                dig.args([
                    &server, "-p", &port, "+short", "+tries=1", "+time=1", zone, "SOA",
                ])
                .output()
                .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
            },
            "named",
        )
    }
}
