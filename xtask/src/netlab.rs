//! The test network: hosts in network namespaces joined by a bridge that
//! floods multicast, and Avahi with a private D-Bus on one of them.
//!
//! Shared by `cargo xtask interop` and the client's real-socket tests, which include this
//! file with `#[path]`. Needs root and iproute2 (and avahi-daemon, dbus for [`Avahi`]).

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `program`, to be run inside network namespace `ns` (`ip netns exec`).
pub fn in_namespace(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns]).arg(program);
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
            let ns = hosts.ns(name);
            let (inner, outer) = (format!("v{prefix}{name}i"), format!("v{prefix}{name}o"));
            run("ip", &["netns", "add", &ns])?;
            run(
                "ip",
                &[
                    "link", "add", &inner, "netns", &ns, "type", "veth", "peer", "name", &outer,
                    "netns", &br,
                ],
            )?;
            run("ip", &["-n", &br, "link", "set", &outer, "master", "br0"])?;
            run("ip", &["-n", &br, "link", "set", &outer, "up"])?;
            run("ip", &["-n", &ns, "link", "set", &inner, "name", "eth0"])?;
            run(
                "ip",
                &[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{subnet}.{}/24", n + 1),
                    "dev",
                    "eth0",
                ],
            )?;
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
            run("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
            run(
                "ip",
                &["-n", &ns, "route", "add", "224.0.0.0/4", "dev", "eth0"],
            )?;
        }
        Ok(hosts)
    }

    /// The namespace of host `name` (or of the bridge, `br`).
    pub fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

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
                "[server]\nhost-name={host_name}\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces=eth0\nenable-dbus=yes\n\
                 [wide-area]\nenable-wide-area=no\n[publish]\npublish-hinfo=no\npublish-workstation=no\n"
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
        let script = format!(
            "mount -t tmpfs tmpfs /run/avahi-daemon && exec avahi-daemon -f {} --no-drop-root --no-chroot --no-rlimits",
            avahi_conf.display()
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
                in_namespace(ns, "avahi-browse")
                    .args(["-a", "-t", "-p"])
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
