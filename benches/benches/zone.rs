//! Wide-area DNS-SD at scale, against a real BIND 9 on loopback (issue 24): 1,000
//! services registered from one process (each by its own `Registrar`, signed with TSIG,
//! all on one socket), then one `ZoneBrowser` building the roster of 1,000 with addresses
//! and TXT (the list over TCP), then the queries it sends per poll while the zone does not
//! change. One run of each (they are seconds long, not microseconds); the figures go to
//! the bench summary. Not measured where `named` is not installed.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use llxmpp_dnssd::unicast::{
    self, Registrar, RegistrarConfig, RegistrarEvent, Registration, TsigKey, ZoneBrowser,
    ZoneBrowserConfig, ZoneBrowserEvent, REFRESH_INTERVAL,
};
use llxmpp_dnssd::TxtRecord;

#[path = "../../crates/dnssd/tests/support/zone_driver.rs"]
mod zone_driver;
use zone_driver::ZoneDriver;

#[path = "../../xtask/src/netlab.rs"]
#[allow(dead_code)] // The BIND part is what this uses.
mod netlab;

const ZONE: &str = "example.test";
const SERVICES: usize = 1000;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Registers `SERVICES` services; the time until the server took every one.
fn register_all(server: SocketAddr, key: &TsigKey) -> Duration {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let start = Instant::now();
    let mut registrars: Vec<Registrar> = (0..SERVICES)
        .map(|n| {
            let registration = Registration {
                zone: unicast::zone(ZONE),
                instance: format!("user{n}@host{n}"),
                host: format!("host{n}"),
                port: 5298,
                txt: TxtRecord::from_strings([&b"txtvers=1"[..], b"status=avail"]),
                addresses: vec![
                    format!("10.{}.{}.{}", 90 + n / 65536, (n / 256) % 256, n % 256)
                        .parse()
                        .unwrap(),
                ],
                ttl: 60,
            };
            let config = RegistrarConfig {
                registration,
                key: key.clone(),
                server,
                refresh_interval: REFRESH_INTERVAL,
            };
            Registrar::new(config, start, unix_now(), n as u64)
        })
        .collect();
    // IDs are 16 bits: a thousand registrars share some; each checks the answer's MAC.
    let mut by_id: HashMap<u16, Vec<usize>> = HashMap::new();
    let mut registered = 0;
    let mut reports = 0;
    let mut buffer = vec![0; 65_535];
    let deadline = start + Duration::from_secs(120);
    while registered < SERVICES {
        if Instant::now() >= deadline {
            let now = Instant::now();
            let waiting = registrars.iter().filter(|r| !r.is_registered()).count();
            let timers: Vec<_> = registrars
                .iter()
                .filter(|r| !r.is_registered())
                .take(5)
                .map(|r| r.poll_timeout().map(|t| t.saturating_duration_since(now)))
                .collect();
            panic!("only {registered} registered; {waiting} waiting, timers {timers:?}");
        }
        for (n, registrar) in registrars.iter_mut().enumerate() {
            while let Some((to, bytes)) = registrar.poll_transmit() {
                let senders = by_id
                    .entry(u16::from_be_bytes([bytes[0], bytes[1]]))
                    .or_default();
                if !senders.contains(&n) {
                    senders.push(n);
                }
                let _ = socket.send_to(&bytes, to);
            }
        }
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        while let Ok((len, from)) = socket.recv_from(&mut buffer) {
            let id = u16::from_be_bytes([buffer[0], buffer[1]]);
            for &n in by_id.get(&id).into_iter().flatten() {
                let registrar = &mut registrars[n];
                registrar.handle_datagram(Instant::now(), from, &buffer[..len]);
                registered += count_registered(registrar, &mut reports);
            }
            socket.set_nonblocking(true).unwrap();
        }
        socket.set_nonblocking(false).unwrap();
        let now = Instant::now();
        for registrar in &mut registrars {
            if registrar.poll_timeout().is_some_and(|t| t <= now) {
                registrar.handle_timeout(now);
                registered += count_registered(registrar, &mut reports);
            }
        }
    }
    if reports > 0 {
        println!("zone: {reports} failures reported on the way (each tried again)");
    }
    start.elapsed()
}

/// `Registered` events of `registrar` now; failures (a busy or silent server, tried
/// again) counted in `reports`.
fn count_registered(registrar: &mut Registrar, reports: &mut usize) -> usize {
    let mut registered = 0;
    while let Some(event) = registrar.poll_event() {
        match event {
            RegistrarEvent::Registered { .. } => registered += 1,
            RegistrarEvent::Failed { .. } => *reports += 1,
            other => panic!("{other:?}"),
        }
    }
    registered
}

fn main() {
    let present = ["/usr/sbin/named", "/usr/sbin/tsig-keygen", "/usr/bin/dig"]
        .iter()
        .all(|p| Path::new(p).exists());
    if !present {
        println!(
            "zone: BIND 9 is not installed (apt-get install bind9 bind9-dnsutils): not measured"
        );
        return;
    }
    let dir = llxmpp_benches::target_dir().join("zone-bench");
    let port = netlab::free_loopback_port();
    let named = netlab::Bind::start(None, &dir, ZONE, &["127.0.0.1"], port, true, &[])
        .expect("named starts");
    let key = TsigKey::parse(&named.key_text).unwrap();
    let server = SocketAddr::from((Ipv4Addr::LOCALHOST, port));

    let registering = register_all(server, &key);

    let mut driver = ZoneDriver::new();
    let poll = Duration::from_millis(200);
    let config = ZoneBrowserConfig {
        zone: unicast::zone(ZONE),
        server,
        poll_interval: poll,
    };
    let start = Instant::now();
    let mut browser = ZoneBrowser::new(config, start, 11);
    driver.browse(&mut browser, Duration::from_secs(120), |events| {
        if let Some(ZoneBrowserEvent::Unreachable { reason }) = events.last() {
            panic!("{reason}");
        }
        events.len() >= SERVICES
    });
    let roster = start.elapsed();
    let first_read = browser.queries_sent();
    // Quiet: the zone does not change for ten polls.
    let quiet_start = browser.queries_sent();
    let until = Instant::now() + poll * 10;
    let changes = driver.browse(&mut browser, poll * 20, |_| Instant::now() >= until);
    assert!(changes.is_empty(), "the zone changed: {changes:?}");
    let per_poll = (browser.queries_sent() - quiet_start) as f64 / 10.0;

    println!(
        "{:<48} {:>12}",
        "wide-area zone, BIND 9 on loopback", "value"
    );
    println!(
        "{:<48} {:>10.2} s  (goal <= 10)",
        format!("{SERVICES} services registered"),
        registering.as_secs_f64()
    );
    println!(
        "{:<48} {:>10.2} s  (goal <= 2)",
        format!("roster of {SERVICES} read by one browser"),
        roster.as_secs_f64()
    );
    println!("{:<48} {:>12}", "queries of that first read", first_read);
    println!(
        "{:<48} {:>12.1}  (goal <= 1)",
        "queries a poll, zone unchanged", per_poll
    );
    let mut entries = serde_json::Map::new();
    for (key, value) in [
        ("zone_register_1000_s", registering.as_secs_f64()),
        ("zone_roster_1000_s", roster.as_secs_f64()),
        ("zone_first_read_queries", first_read as f64),
        ("zone_queries_per_quiet_poll", per_poll),
    ] {
        entries.insert(key.into(), serde_json::json!(value));
    }
    if let Err(error) = llxmpp_benches::add_to_summary(entries) {
        println!("zone: cannot write the summary: {error}");
    }
    drop(named);
}
