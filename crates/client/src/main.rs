//! `llxmpp`: chat with XEP-0174 link-local peers (iChat/Messages "Bonjour", Pidgin, Adium,
//! Gajim's zeroconf) from a terminal or a script.
//!
//! The command line and the JSON-lines protocol are the contract of docs/CONTRACT.md:
//! scripts rely on them. The JSON lines are written and read by [`llxmpp::cli::json`].
//! Events go to stdout; logs go to stderr (`RUST_LOG`).

use std::io::{BufRead, IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use llxmpp::cli::{self, SendIds};
use llxmpp::node::{
    EncryptMode, EncryptionConfig, Events, Method, Node, NodeCommand, NodeConfig, NodeEvent,
    TransferConfig,
};
use llxmpp::wide_area::{system_resolver, WideArea, WideAreaConfig, WideAreaEvent};
use llxmpp_dnssd::unicast::TsigKey;
use llxmpp_dnssd::MAX_AVATAR_BYTES;
use llxmpp_event_loop::{Config, ConnectionId, EventLoop, InterfaceSelection, LoopHandle};
use llxmpp_roster::{Peer, Presence, Status};

#[derive(Parser)]
#[command(
    name = "llxmpp",
    version,
    about = "Serverless XMPP (XEP-0174) on the local link"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Publish our presence, show peers and messages, read commands on stdin.
    Chat {
        #[command(flatten)]
        identity: Identity,
        #[command(flatten)]
        files: Files,
        /// One JSON object a line, both ways.
        #[arg(long)]
        json: bool,
    },
    /// Browse the link, print the roster, exit.
    Peers {
        /// How long to browse, in seconds.
        #[arg(long, default_value_t = 3.0)]
        wait: f64,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
        /// Interfaces to browse on (default: all but loopback).
        #[arg(long = "interface")]
        interfaces: Vec<String>,
        #[command(flatten)]
        zone: Zone,
    },
    /// Publish, send one message, close cleanly; exit 0 only if it was written.
    Send {
        /// The peer's instance name.
        peer: String,
        /// The text.
        text: String,
        #[command(flatten)]
        identity: Identity,
        /// How long to wait for the peer to show up, in seconds.
        #[arg(long, default_value_t = 10.0)]
        wait: f64,
    },
    /// Publish, offer one file, wait until the peer has it all; exit 0 only then.
    SendFile {
        /// The peer's instance name.
        peer: String,
        /// The file.
        path: std::path::PathBuf,
        #[command(flatten)]
        identity: Identity,
        /// How long to wait for the peer to show up, in seconds.
        #[arg(long, default_value_t = 10.0)]
        wait: f64,
        /// How to offer it: si (XEP-0095 + SOCKS5: libpurple, Gajim, llxmpp) or oob
        /// (XEP-0066 over HTTP: iChat, Adium); default: by what the peer's TXT says.
        #[arg(long, value_parser = ["si", "oob"])]
        method: Option<String>,
    },
}

#[derive(Args, Clone)]
struct Files {
    /// Where accepted files are saved (default: $XDG_DOWNLOAD_DIR, else ~/Downloads).
    #[arg(long, value_name = "DIR")]
    downloads: Option<std::path::PathBuf>,
    /// Refuse offers of files larger than this many bytes.
    #[arg(long, value_name = "BYTES")]
    max_file_size: Option<u64>,
    /// File transfers at once, both ways; offers past it are refused.
    #[arg(long, value_name = "N", default_value_t = 8)]
    max_transfers: usize,
}

impl Files {
    fn config(&self) -> TransferConfig {
        let mut config = TransferConfig::default();
        if let Some(dir) = &self.downloads {
            config.downloads = dir.clone();
        }
        config.max_file_size = self.max_file_size;
        config.max_transfers = self.max_transfers;
        config
    }
}

/// A wide-area zone to browse (and register in, with a key) as well as the link.
#[derive(Args, Clone)]
struct Zone {
    /// Also take part in this wide-area DNS-SD zone (RFC 6763 over unicast DNS).
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,
    /// The DNS server to ask about the zone (ADDR or ADDR:PORT; default: the first
    /// nameserver of /etc/resolv.conf).
    #[arg(long, value_name = "ADDR[:PORT]")]
    dns_server: Option<String>,
    /// How often the zone's serial is asked for, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 15.0)]
    zone_poll: f64,
    /// How often, once registered, a few of the zone's services are checked for life (a
    /// service that does not answer twice is removed from the zone), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    zone_check: f64,
}

impl Zone {
    /// The wide-area configuration asked for, with `key` to register.
    fn config(&self, key: Option<TsigKey>) -> Result<Option<WideAreaConfig>, String> {
        let Some(domain) = &self.domain else {
            if key.is_some() {
                return Err("--tsig-key needs --domain (the zone to register in)".into());
            }
            return Ok(None);
        };
        let zone = llxmpp_dnssd::unicast::zone(domain);
        if zone.labels().is_empty() {
            return Err(format!("--domain {domain:?} names no zone"));
        }
        let server = match &self.dns_server {
            Some(text) => text
                .parse::<SocketAddr>()
                .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| format!("--dns-server {text:?} is not ADDR or ADDR:PORT"))?,
            None => {
                let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
                system_resolver(&text).ok_or(
                    "no DNS server: /etc/resolv.conf names no nameserver; give --dns-server",
                )?
            }
        };
        let seconds = |value: f64, flag: &str| {
            Duration::try_from_secs_f64(value)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or(format!("{flag} {value} is not a number of seconds above 0"))
        };
        let mut config = WideAreaConfig::new(zone, server, key);
        config.poll_interval = seconds(self.zone_poll, "--zone-poll")?;
        config.check_interval = seconds(self.zone_check, "--zone-check")?;
        Ok(Some(config))
    }
}

/// The TSIG key in `path` (what `tsig-keygen` writes), refused unless only its owner can
/// read it, as ssh refuses an open private key.
fn read_tsig_key(path: &std::path::Path) -> Result<TsigKey, String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|e| format!("the key {shown}: {e}"))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "the key {shown} can be read by others (mode {mode:03o}): `chmod 600 {shown}`"
        ));
    }
    if metadata.len() > llxmpp_dnssd::unicast::MAX_KEY_FILE as u64 {
        return Err(format!("the key {shown} is too large to be a key file"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("the key {shown}: {e}"))?;
    TsigKey::parse(&text).map_err(|e| format!("the key {shown}: {e}"))
}

#[derive(Args, Clone)]
struct Identity {
    /// Our user name: the instance name is NAME@HOST.
    #[arg(long)]
    name: String,
    /// The machine part of the instance name (default: this host's name).
    #[arg(long)]
    host: Option<String>,
    /// Nickname (`nick`).
    #[arg(long)]
    nick: Option<String>,
    /// Given name (`1st`), published only when set.
    #[arg(long)]
    first: Option<String>,
    /// Family name (`last`), published only when set.
    #[arg(long)]
    last: Option<String>,
    /// avail, away or dnd. A user's away is published as `dnd`, which Apple-era peers show
    /// as Away.
    #[arg(long, default_value = "avail")]
    status: String,
    /// Status message.
    #[arg(long)]
    msg: Option<String>,
    /// TCP port to listen on (the next free one if taken; 0: any).
    #[arg(long, default_value_t = 5298)]
    port: u16,
    /// Publish and connect from this address only (repeatable).
    #[arg(long)]
    bind: Vec<IpAddr>,
    /// Run on these interfaces only (repeatable; default: all but loopback).
    #[arg(long = "interface")]
    interfaces: Vec<String>,
    /// Accept chat from peers we cannot identify, marked unknown, instead of closing.
    #[arg(long)]
    accept_unknown: bool,
    /// Publish this image (JPEG or PNG, at most 8 KiB) as our avatar.
    #[arg(long, value_name = "FILE")]
    avatar: Option<std::path::PathBuf>,
    /// Encrypt streams (STARTTLS, TLS 1.3) with peers that can: off (plaintext, as every
    /// other link-local client), prefer (encrypted with llxmpp peers, plaintext with the
    /// others, never with a peer whose key is known), require (encrypted or not at all).
    #[arg(long, value_name = "MODE", default_value = "off", value_parser = ["off", "prefer", "require"])]
    encrypt: String,
    /// Where our key and the peers' known keys are kept (default: $XDG_CONFIG_HOME/llxmpp,
    /// else ~/.config/llxmpp).
    #[arg(long, value_name = "DIR")]
    keys: Option<std::path::PathBuf>,
    #[command(flatten)]
    zone: Zone,
    /// Register in the --domain zone with this TSIG key (the file `tsig-keygen` writes,
    /// readable by its owner only).
    #[arg(long, value_name = "FILE")]
    tsig_key: Option<std::path::PathBuf>,
}

/// The encryption that `identity` asks for: our key (made on first use) and the peers'
/// known keys, from the keys folder.
fn encryption(identity: &Identity) -> Result<Option<EncryptionConfig>, String> {
    let mode = match identity.encrypt.as_str() {
        "prefer" => EncryptMode::Prefer,
        "require" => EncryptMode::Require,
        _ => return Ok(None),
    };
    let dir = identity
        .keys
        .clone()
        .or_else(llxmpp::keys::default_dir)
        .ok_or("no folder for keys: set --keys DIR, or HOME")?;
    let key = llxmpp::keys::load_or_create_identity(&dir)?;
    let (known_keys, file) = llxmpp::keys::load_known_keys(&dir)?;
    Ok(Some(EncryptionConfig {
        mode,
        identity: key,
        known_keys,
        known_keys_file: Some(file),
    }))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(cli::terminal::LogLine::default)
        // Colours only for a person: a log file or a pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // The line editor logs every keystroke at debug level: private text, never logged.
        .with_env_filter(
            tracing_subscriber::EnvFilter::from_default_env()
                .add_directive("rustyline=off".parse().expect("a valid directive")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Chat {
            identity,
            files,
            json,
        } => chat(identity, files, json),
        Command::Peers {
            wait,
            json,
            interfaces,
            zone,
        } => peers(wait, json, interfaces, zone),
        Command::Send {
            peer,
            text,
            identity,
            wait,
        } => send(peer, text, identity, wait),
        Command::SendFile {
            peer,
            path,
            identity,
            wait,
            method,
        } => send_file(
            peer,
            path,
            identity,
            wait,
            method.as_deref().and_then(Method::from_name),
        ),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("llxmpp: {message}");
            ExitCode::from(2)
        }
    }
}

fn selection(interfaces: &[String]) -> InterfaceSelection {
    if interfaces.is_empty() {
        InterfaceSelection::AllButLoopback
    } else {
        InterfaceSelection::Named(interfaces.to_vec())
    }
}

fn node_config(identity: &Identity) -> Result<NodeConfig, String> {
    let status = Status::from_user(&identity.status)
        .ok_or_else(|| format!("unknown status {:?}: avail, away or dnd", identity.status))?;
    let host = match &identity.host {
        Some(host) => host.clone(),
        None => std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into()),
    };
    if identity.name.is_empty() || identity.name.len() + host.len() + 1 > 63 {
        return Err("NAME@HOST must be 1 to 63 bytes (one DNS label)".into());
    }
    let avatar = match &identity.avatar {
        None => None,
        Some(path) => {
            let image = std::fs::read(path)
                .map_err(|e| format!("cannot read the avatar {}: {e}", path.display()))?;
            if image.len() > MAX_AVATAR_BYTES {
                return Err(format!(
                    "the avatar {} is {} bytes; peers take at most {MAX_AVATAR_BYTES} (it must \
                     fit one mDNS packet): make it smaller",
                    path.display(),
                    image.len()
                ));
            }
            Some(image)
        }
    };
    Ok(NodeConfig {
        name: identity.name.clone(),
        host,
        presence: Presence {
            status,
            msg: identity.msg.clone(),
            nick: identity.nick.clone(),
            first: identity.first.clone(),
            last: identity.last.clone(),
            ..Presence::default()
        },
        accept_unknown: identity.accept_unknown,
        idle_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
        bind: identity.bind.clone(),
        avatar,
        max_unread_event_bytes: llxmpp::node::DEFAULT_MAX_UNREAD_EVENT_BYTES,
    })
}

/// A running node: its command handle, its events, its thread.
type Running = (LoopHandle<NodeCommand>, Events, thread::JoinHandle<()>);

/// Starts a node on its own thread.
fn start(
    config: NodeConfig,
    files: TransferConfig,
    identity: &Identity,
) -> Result<Running, String> {
    let (port, interfaces) = (Some(identity.port), &identity.interfaces);
    let encryption = encryption(identity)?;
    let key = identity
        .tsig_key
        .as_deref()
        .map(read_tsig_key)
        .transpose()?;
    let wide_area = identity.zone.config(key)?;
    let loop_config = Config {
        mdns: Some(selection(interfaces)),
        tcp_port: port,
        ..Config::default()
    };
    let mut event_loop: EventLoop<NodeCommand> =
        EventLoop::new(loop_config).map_err(|e| format!("cannot open sockets: {e}"))?;
    let handle = event_loop.handle();
    let (events_tx, events) = llxmpp::node::events();
    // Random per process (std seeds RandomState from the OS), so that nodes started at the
    // same moment draw different mDNS delays; the process id alone repeats across hosts
    // and containers.
    let seed = {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.finish()
    };
    let thread = thread::spawn(move || {
        let errors = events_tx.clone();
        let mut node = Node::new(config, events_tx, seed);
        node.set_transfer_config(files);
        if let Some(wide_area) = wide_area {
            node.set_wide_area(wide_area);
        }
        if let Some(encryption) = encryption {
            if let Err(e) = node.set_encryption(encryption) {
                errors.send(NodeEvent::Error(format!("encryption is off: {e}")));
            }
        }
        if let Err(e) = event_loop.run(&mut node) {
            errors.send(NodeEvent::Error(format!("event loop: {e}")));
        }
    });
    // SIGINT and SIGTERM quit cleanly: goodbyes, closed streams.
    let signals = handle.clone();
    if let Ok(mut registered) = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        thread::spawn(move || {
            if registered.forever().next().is_some() {
                let _ = signals.send(NodeCommand::Quit);
            }
        });
    }
    Ok((handle, events, thread))
}

fn print(out: &mut impl Write, event: &NodeEvent, json: bool) {
    let line = if json {
        cli::json::event_line(event)
    } else {
        cli::plain::event_text(event)
    };
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Parses a command line of the chat protocol; `Err` is the message for an `error` event.
fn parse_command(line: &str, json: bool, ids: &mut SendIds) -> Result<Option<NodeCommand>, String> {
    if json {
        return cli::json::parse_command(line, ids).map(Some);
    }
    cli::plain::parse_command(line, ids)
}

fn chat(identity: Identity, files: Files, json: bool) -> Result<ExitCode, String> {
    let config = node_config(&identity)?;
    let (handle, events, thread) = start(config, files.config(), &identity)?;
    // A person at a terminal gets the line editor; pipes and scripts get lines as before.
    if !json && std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        cli::terminal::run(handle, events, thread)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Commands from stdin; end of input quits.
    let commands = handle.clone();
    let (errors_tx, errors) = mpsc::channel::<String>();
    thread::spawn(move || {
        let mut ids = SendIds::new();
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            match parse_command(&line, json, &mut ids) {
                Ok(Some(command)) => {
                    if commands.send(command).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(message) => {
                    let _ = errors_tx.send(message);
                }
            }
        }
        let _ = commands.send(NodeCommand::Quit);
    });
    let mut out = std::io::stdout().lock();
    loop {
        while let Ok(message) = errors.try_recv() {
            print(&mut out, &NodeEvent::Error(message), json);
        }
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(NodeEvent::Stopped) => break,
            Ok(event) => print(&mut out, &event, json),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = thread.join();
    Ok(ExitCode::SUCCESS)
}

fn peers(wait: f64, json: bool, interfaces: Vec<String>, zone: Zone) -> Result<ExitCode, String> {
    let wide_area = zone.config(None)?;
    let mut event_loop: EventLoop<()> = EventLoop::new(Config {
        mdns: Some(selection(&interfaces)),
        tcp_port: None,
        ..Config::default()
    })
    .map_err(|e| format!("cannot open sockets: {e}"))?;
    let mut browser = Browse {
        wide_area_config: wide_area,
        wide_area: None,
        presence: None,
        roster: llxmpp_roster::Roster::new(),
        end: Instant::now() + Duration::from_secs_f64(wait.max(0.0)),
    };
    event_loop.run(&mut browser).map_err(|e| e.to_string())?;
    let peers: Vec<Peer> = browser.roster.peers().cloned().collect();
    print(
        &mut std::io::stdout().lock(),
        &NodeEvent::Peers(peers),
        json,
    );
    Ok(ExitCode::SUCCESS)
}

/// Browse-only handler for `llxmpp peers`: nothing is published.
struct Browse {
    wide_area_config: Option<WideAreaConfig>,
    wide_area: Option<WideArea>,
    presence: Option<llxmpp::presence::Presence>,
    roster: llxmpp_roster::Roster,
    end: Instant,
}

impl Browse {
    fn drain(&mut self) {
        if let Some(wide_area) = &mut self.wide_area {
            while let Some(event) = wide_area.poll_event() {
                match event {
                    WideAreaEvent::Service(event) => {
                        self.roster.apply_from(llxmpp_roster::Source::Zone, &event);
                        while self.roster.poll_event().is_some() {}
                    }
                    WideAreaEvent::Error(why) => eprintln!("llxmpp: {why}"),
                    WideAreaEvent::Registered(_) | WideAreaEvent::Deregistered => {}
                }
            }
        }
        let Some(presence) = &mut self.presence else {
            return;
        };
        while let Some(event) = presence.poll_event() {
            if let llxmpp::presence::PresenceEvent::Service(event) = event {
                self.roster.apply(&event);
                while self.roster.poll_event().is_some() {}
            }
        }
    }
}

impl llxmpp_event_loop::Handler for Browse {
    type Command = ();
    fn on_start(&mut self, ctx: &mut llxmpp_event_loop::Context<'_>) {
        self.presence =
            llxmpp::presence::Presence::new(None, ctx.now(), std::process::id() as u64).ok();
        if let Some(config) = self.wide_area_config.take() {
            let mut wide_area = WideArea::new(config, ctx.now(), std::process::id() as u64);
            wide_area.handle_timeout(ctx);
            self.wide_area = Some(wide_area);
        }
    }
    fn on_unicast_datagram(
        &mut self,
        ctx: &mut llxmpp_event_loop::Context<'_>,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        if let Some(wide_area) = &mut self.wide_area {
            wide_area.handle_datagram(ctx, from, bytes);
        }
        self.drain();
    }
    fn on_connected(&mut self, ctx: &mut llxmpp_event_loop::Context<'_>, conn: ConnectionId) {
        if let Some(wide_area) = &mut self.wide_area {
            wide_area.on_connected(ctx, conn);
        }
    }
    fn on_data(
        &mut self,
        ctx: &mut llxmpp_event_loop::Context<'_>,
        conn: ConnectionId,
        data: &[u8],
    ) {
        if let Some(wide_area) = &mut self.wide_area {
            wide_area.on_data(ctx, conn, data);
        }
        self.drain();
    }
    fn on_closed(
        &mut self,
        ctx: &mut llxmpp_event_loop::Context<'_>,
        conn: ConnectionId,
        reason: llxmpp_event_loop::CloseReason,
    ) {
        if let Some(wide_area) = &mut self.wide_area {
            wide_area.on_closed(ctx, conn, &format!("{reason:?}"));
        }
        self.drain();
    }
    fn on_datagram(
        &mut self,
        ctx: &mut llxmpp_event_loop::Context<'_>,
        datagram: llxmpp_event_loop::Datagram<'_>,
    ) {
        if let Some(presence) = &mut self.presence {
            presence.handle_datagram(ctx, datagram.from, datagram.interface, datagram.bytes);
        }
        self.drain();
    }
    fn on_timeout(&mut self, ctx: &mut llxmpp_event_loop::Context<'_>) {
        let now = ctx.now();
        if now >= self.end {
            ctx.stop(now);
            return;
        }
        if let Some(presence) = &mut self.presence {
            presence.handle_timeout(ctx);
        }
        if let Some(wide_area) = &mut self.wide_area {
            if wide_area.poll_timeout().is_some_and(|t| t <= now) {
                wide_area.handle_timeout(ctx);
            }
        }
        self.drain();
    }
    fn poll_timeout(&self) -> Option<Instant> {
        let presence = self
            .presence
            .as_ref()
            .and_then(llxmpp::presence::Presence::poll_timeout);
        let wide_area = self.wide_area.as_ref().and_then(WideArea::poll_timeout);
        [presence, wide_area, Some(self.end)]
            .into_iter()
            .flatten()
            .min()
    }
}

fn send(peer: String, text: String, identity: Identity, wait: f64) -> Result<ExitCode, String> {
    let command = NodeCommand::Send {
        to: peer.clone(),
        body: text,
        id: "m1".into(),
    };
    one_shot(&peer, command, identity, wait, |event| match event {
        NodeEvent::Sent { id, .. } if id == "m1" => Some(Ok(())),
        NodeEvent::SendFailed { id, reason, .. } if id == "m1" => Some(Err(reason.clone())),
        _ => None,
    })
}

fn send_file(
    peer: String,
    path: std::path::PathBuf,
    identity: Identity,
    wait: f64,
    method: Option<Method>,
) -> Result<ExitCode, String> {
    // Before anything is published: a file we cannot read fails at once.
    if let Err(e) = std::fs::File::open(&path) {
        eprintln!("llxmpp: not sent: cannot read {}: {e}", path.display());
        return Ok(ExitCode::FAILURE);
    }
    let command = NodeCommand::SendFile {
        to: peer.clone(),
        path,
        id: "f1".into(),
        method,
    };
    one_shot(&peer, command, identity, wait, |event| match event {
        NodeEvent::FileDone { id, .. } if id == "f1" => Some(Ok(())),
        NodeEvent::FileFailed { id, reason } if id == "f1" => Some(Err(reason.clone())),
        _ => None,
    })
}

/// `send` and `send-file`: publishes us, waits up to `wait` seconds for `peer`, gives the
/// node `command` once it is online, and quits when `outcome` says how it ended; exit 0
/// only for `Ok`, else 1 with `llxmpp: not sent: REASON` on standard error.
fn one_shot(
    peer: &str,
    command: NodeCommand,
    identity: Identity,
    wait: f64,
    outcome: impl Fn(&NodeEvent) -> Option<Result<(), String>>,
) -> Result<ExitCode, String> {
    let config = node_config(&identity)?;
    let (handle, events, thread) = start(config, TransferConfig::default(), &identity)?;
    let deadline = Instant::now() + Duration::from_secs_f64(wait.max(0.0));
    let mut command = Some(command);
    let mut result = Err(format!("{peer} did not show up within {wait} s"));
    loop {
        let timeout = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(10));
        match events.recv_timeout(timeout) {
            Ok(NodeEvent::PeerOnline(p)) if p.instance == peer && command.is_some() => {
                if let Some(command) = command.take() {
                    let _ = handle.send(command);
                }
            }
            Ok(NodeEvent::Stopped) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Ok(NodeEvent::Error(message)) => eprintln!("llxmpp: {message}"),
            Ok(event) => {
                if let Some(ended) = outcome(&event) {
                    result = ended;
                    let _ = handle.send(NodeCommand::Quit);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // The peer never came: give up (once; the node then stops).
                if command.take().is_some() {
                    let _ = handle.send(NodeCommand::Quit);
                }
            }
        }
    }
    let _ = thread.join();
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(reason) => {
            eprintln!("llxmpp: not sent: {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}
