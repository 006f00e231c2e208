//! Wide-area DNS-SD against a real BIND 9 (`named`, which CI installs), on loopback at a
//! port of the test's: signed updates register, rename on conflict, change the TXT in
//! place and deregister; queries read it all back; a wrong secret, an unknown key, an
//! unsigned update and a clock far off are each told apart; a registration made by
//! BIND's own `nsupdate` is read like ours.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use llxmpp_dnssd::unicast::{
    self, query, sign, verify_reply, Rcode, Registrar, RegistrarConfig, RegistrarEvent,
    Registration, Reply, TsigError, TsigKey, UpdateServerFinder, ZoneBrowser, ZoneBrowserConfig,
    ZoneBrowserEvent, REFRESH_INTERVAL,
};
use llxmpp_dnssd::ServiceEvent;
use llxmpp_dnssd::{rtype, RecordData, TxtRecord};

const ZONE: &str = "example.test";

#[path = "support/zone_driver.rs"]
mod zone_driver;
use zone_driver::ZoneDriver;

#[path = "../../../xtask/src/netlab.rs"]
#[allow(dead_code)] // The BIND part is what these tests use.
mod netlab;

/// A `named` of this test on loopback, killed when dropped.
struct Bind {
    _named: netlab::Bind,
    server: SocketAddr,
    key: TsigKey,
    key_file: PathBuf,
}

impl Bind {
    fn start(tag: &str) -> Option<Bind> {
        Bind::start_with(tag, true)
    }

    /// `update_srv`: whether the zone names its update server by SRV.
    fn start_with(tag: &str, update_srv: bool) -> Option<Bind> {
        if !netlab::bind_for_tests() {
            return None;
        }
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("bind-{tag}-{}", std::process::id()));
        let port = netlab::free_loopback_port();
        let named = netlab::Bind::start(None, &dir, ZONE, &["127.0.0.1"], port, update_srv, &[])
            .expect("named starts");
        let key = TsigKey::parse(&named.key_text).unwrap();
        Some(Bind {
            key_file: named.key_file.clone(),
            _named: named,
            server: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            key,
        })
    }

    /// Sends `update` signed with `key` at `time`; the reply checked and decoded, or why
    /// its signature was refused.
    fn update(
        &self,
        update: &unicast::Update,
        key: &TsigKey,
        time: u64,
    ) -> Result<Reply, TsigError> {
        let signed = sign(&update.to_bytes(0x4242).unwrap(), key, time);
        let reply = exchange(self.server, &signed.bytes).expect("named answers");
        let checked = verify_reply(&reply, key, &signed.mac, now())?;
        Ok(Reply::decode(&checked).unwrap())
    }

    fn ask(&self, name: &llxmpp_dnssd::DnsName, qtype: u16) -> Reply {
        let reply = exchange(self.server, &query(7, name, qtype)).expect("named answers");
        Reply::decode(&reply).unwrap()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One datagram out, its answer back (three tries, a second each).
fn exchange(server: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buffer = vec![0; 65_535];
    for _ in 0..3 {
        socket.send_to(bytes, server).unwrap();
        if let Ok((len, _)) = socket.recv_from(&mut buffer) {
            return Some(buffer[..len].to_vec());
        }
    }
    None
}

fn alice() -> Registration {
    Registration {
        zone: unicast::zone(ZONE),
        instance: "Alice Liddell@hosta".into(),
        host: "hosta".into(),
        port: 5298,
        txt: TxtRecord::from_strings([&b"txtvers=1"[..], b"status=avail", b"1st=Alice"]),
        addresses: vec!["10.80.0.1".parse().unwrap(), "fd00::1".parse().unwrap()],
        ttl: 60,
    }
}

#[test]
fn a_signed_registration_is_read_back_changed_in_place_and_removed() {
    let Some(bind) = Bind::start("life") else {
        return;
    };
    let alice = alice();
    let done = bind.update(&alice.register(), &bind.key, now()).unwrap();
    assert_eq!(done.rcode, Rcode::NoError);

    // The zone lists her, with her case and space kept, and the records resolve.
    let ptrs = bind.ask(&unicast::service_type_in(&alice.zone), rtype::PTR);
    let listed: Vec<_> = ptrs
        .message
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RecordData::Ptr(target) => unicast::instance_of(target, &alice.zone),
            _ => None,
        })
        .collect();
    assert_eq!(listed, ["Alice Liddell@hosta"]);
    let srv = bind.ask(&alice.instance_name(), rtype::SRV);
    assert!(matches!(
        &srv.message.answers[..],
        [r] if matches!(&r.data, RecordData::Srv { port: 5298, target, .. } if *target == alice.host_name())
    ));
    let a = bind.ask(&alice.host_name(), rtype::A);
    assert_eq!(
        a.message.answers[0].data,
        RecordData::A("10.80.0.1".parse().unwrap())
    );
    let aaaa = bind.ask(&alice.host_name(), rtype::AAAA);
    assert_eq!(
        aaaa.message.answers[0].data,
        RecordData::Aaaa("fd00::1".parse().unwrap())
    );
    let types = bind.ask(&unicast::services_in(&alice.zone), rtype::PTR);
    assert_eq!(types.message.answers.len(), 1);

    // A status change replaces the TXT in place.
    let mut away = alice.clone();
    away.txt = TxtRecord::from_strings([&b"txtvers=1"[..], b"status=away"]);
    assert_eq!(
        bind.update(&away.update_txt(), &bind.key, now())
            .unwrap()
            .rcode,
        Rcode::NoError
    );
    let txt = bind.ask(&alice.instance_name(), rtype::TXT);
    assert!(matches!(
        &txt.message.answers[..],
        [r] if matches!(&r.data, RecordData::Txt(t) if t.to_strings().contains(&b"status=away".to_vec()))
    ));

    // A refresh leaves one SRV and one TXT, not two.
    assert_eq!(
        bind.update(&away.refresh(), &bind.key, now())
            .unwrap()
            .rcode,
        Rcode::NoError
    );
    assert_eq!(
        bind.ask(&alice.instance_name(), rtype::TXT)
            .message
            .answers
            .len(),
        1
    );
    assert_eq!(
        bind.ask(&alice.instance_name(), rtype::SRV)
            .message
            .answers
            .len(),
        1
    );

    // Gone: no PTR to her, her name does not exist, her addresses are removed.
    assert_eq!(
        bind.update(&alice.deregister(), &bind.key, now())
            .unwrap()
            .rcode,
        Rcode::NoError
    );
    assert!(bind
        .ask(&unicast::service_type_in(&alice.zone), rtype::PTR)
        .message
        .answers
        .is_empty());
    assert_eq!(
        bind.ask(&alice.instance_name(), rtype::SRV).rcode,
        Rcode::NameError
    );
    assert!(bind
        .ask(&alice.host_name(), rtype::A)
        .message
        .answers
        .is_empty());
}

#[test]
fn a_name_held_by_another_client_is_not_overwritten() {
    let Some(bind) = Bind::start("conflict") else {
        return;
    };
    let first = alice();
    assert_eq!(
        bind.update(&first.register(), &bind.key, now())
            .unwrap()
            .rcode,
        Rcode::NoError
    );
    let mut second = alice();
    second.port = 6000;
    second.host = "hostz".into();
    let refused = bind.update(&second.register(), &bind.key, now()).unwrap();
    assert_eq!(refused.rcode, Rcode::NameExists);
    // Nothing of the second was written: the SRV is still the first's.
    let srv = bind.ask(&first.instance_name(), rtype::SRV);
    assert!(matches!(
        &srv.message.answers[0].data,
        RecordData::Srv { port: 5298, .. }
    ));
    assert!(bind
        .ask(&second.host_name(), rtype::A)
        .message
        .answers
        .is_empty());
}

#[test]
fn wrong_keys_unsigned_updates_and_clocks_far_off_are_told_apart() {
    let Some(bind) = Bind::start("refusals") else {
        return;
    };
    let update = alice().register();
    let wrong_secret = TsigKey::new("llxmpp-test.", vec![9; 32]).unwrap();
    assert_eq!(
        bind.update(&update, &wrong_secret, now()).unwrap_err(),
        TsigError::BadSignature
    );
    let unknown = TsigKey::new("nobody.", vec![9; 32]).unwrap();
    assert_eq!(
        bind.update(&update, &unknown, now()).unwrap_err(),
        TsigError::UnknownKey
    );
    let off = bind.update(&update, &bind.key, now() - 3600).unwrap_err();
    assert!(
        matches!(off, TsigError::BadTime { server_time: Some(t) } if t.abs_diff(now()) < 60),
        "{off:?}"
    );
    // Unsigned: refused, and the answer is unsigned.
    let reply = exchange(bind.server, &update.to_bytes(5).unwrap()).unwrap();
    assert_eq!(Reply::decode(&reply).unwrap().rcode, Rcode::Refused);
    // None of these wrote anything.
    assert!(bind
        .ask(&unicast::service_type_in(&unicast::zone(ZONE)), rtype::PTR)
        .message
        .answers
        .is_empty());
}

#[test]
fn a_registration_made_with_nsupdate_is_read_like_ours() {
    let Some(bind) = Bind::start("nsupdate") else {
        return;
    };
    let script = format!(
        "server 127.0.0.1 {port}\nzone {ZONE}\n\
         update add _presence._tcp.{ZONE}. 60 PTR bob\\@hostb._presence._tcp.{ZONE}.\n\
         update add bob\\@hostb._presence._tcp.{ZONE}. 60 SRV 0 0 5298 hostb.{ZONE}.\n\
         update add bob\\@hostb._presence._tcp.{ZONE}. 60 TXT \"txtvers=1\" \"status=dnd\"\n\
         update add hostb.{ZONE}. 60 A 10.80.0.2\nsend\n",
        port = bind.server.port()
    );
    let mut nsupdate = Command::new("nsupdate")
        .arg("-k")
        .arg(&bind.key_file)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    nsupdate
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    assert!(nsupdate.wait().unwrap().success());
    let ptrs = bind.ask(&unicast::service_type_in(&unicast::zone(ZONE)), rtype::PTR);
    let RecordData::Ptr(bob) = &ptrs.message.answers[0].data else {
        panic!("{ptrs:?}")
    };
    assert_eq!(
        unicast::instance_of(bob, &unicast::zone(ZONE)).as_deref(),
        Some("bob@hostb")
    );
    let txt = bind.ask(bob, rtype::TXT);
    assert!(matches!(
        &txt.message.answers[0].data,
        RecordData::Txt(t) if t.to_strings().contains(&b"status=dnd".to_vec())
    ));
}

/// Runs `registrar` on a socket of its own until an event matches `want` (10 s at most);
/// every event seen.
fn drive(
    registrar: &mut Registrar,
    socket: &UdpSocket,
    want: impl Fn(&RegistrarEvent) -> bool,
) -> Vec<RegistrarEvent> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let mut buffer = vec![0; 65_535];
    loop {
        while let Some((to, bytes)) = registrar.poll_transmit() {
            socket.send_to(&bytes, to).unwrap();
        }
        while let Some(event) = registrar.poll_event() {
            let done = want(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing wanted within 10 s: {seen:?}"
        );
        let wait = registrar
            .poll_timeout()
            .map_or(Duration::from_millis(100), |t| {
                t.saturating_duration_since(Instant::now())
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(100));
        socket.set_read_timeout(Some(wait)).unwrap();
        if let Ok((len, from)) = socket.recv_from(&mut buffer) {
            registrar.handle_datagram(Instant::now(), from, &buffer[..len]);
        }
        registrar.handle_timeout(Instant::now());
    }
}

fn registrar(bind: &Bind, registration: Registration, key: &TsigKey) -> (Registrar, UdpSocket) {
    let config = RegistrarConfig {
        registration,
        key: key.clone(),
        server: bind.server,
        refresh_interval: REFRESH_INTERVAL,
    };
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    (Registrar::new(config, Instant::now(), now(), 7), socket)
}

#[test]
fn the_registrar_registers_renames_on_a_conflict_changes_its_txt_and_leaves() {
    let Some(bind) = Bind::start("registrar") else {
        return;
    };
    let (mut first, first_socket) = registrar(&bind, alice(), &bind.key);
    let seen = drive(&mut first, &first_socket, |e| {
        matches!(e, RegistrarEvent::Registered { .. })
    });
    assert_eq!(
        seen,
        [RegistrarEvent::Registered {
            instance: "Alice Liddell@hosta".into()
        }]
    );
    // Another client with the same name takes the next one, as on the link.
    let mut twin = alice();
    twin.host = "hostz".into();
    let (mut second, second_socket) = registrar(&bind, twin, &bind.key);
    let seen = drive(&mut second, &second_socket, |e| {
        matches!(e, RegistrarEvent::Registered { .. })
    });
    assert_eq!(
        seen,
        [
            RegistrarEvent::Renamed {
                from: "Alice Liddell@hosta".into(),
                to: "Alice Liddell@hosta (2)".into()
            },
            RegistrarEvent::Registered {
                instance: "Alice Liddell@hosta (2)".into()
            }
        ]
    );
    let listed = bind.ask(&unicast::service_type_in(&unicast::zone(ZONE)), rtype::PTR);
    assert_eq!(listed.message.answers.len(), 2);

    // A status change: the TXT in place.
    first.set_txt(
        Instant::now(),
        TxtRecord::from_strings([&b"txtvers=1"[..], b"status=dnd"]),
    );
    let first_name = unicast::instance_in(first.instance(), &unicast::zone(ZONE));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let _ = drive_briefly(&mut first, &first_socket);
        let txt = bind.ask(&first_name, rtype::TXT);
        if matches!(&txt.message.answers[..], [r] if matches!(&r.data, RecordData::Txt(t) if t.to_strings().contains(&b"status=dnd".to_vec())))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the TXT never changed: {txt:?}");
    }

    // Both leave: nothing of theirs stays.
    first.shutdown(Instant::now());
    drive(&mut first, &first_socket, |e| {
        *e == RegistrarEvent::Deregistered
    });
    second.shutdown(Instant::now());
    drive(&mut second, &second_socket, |e| {
        *e == RegistrarEvent::Deregistered
    });
    assert!(first.is_done() && second.is_done());
    let listed = bind.ask(&unicast::service_type_in(&unicast::zone(ZONE)), rtype::PTR);
    assert!(listed.message.answers.is_empty(), "{listed:?}");
}

/// Lets `registrar` exchange for a moment (its update answered), returning what it said.
fn drive_briefly(registrar: &mut Registrar, socket: &UdpSocket) -> Vec<RegistrarEvent> {
    let mut seen = Vec::new();
    let mut buffer = vec![0; 65_535];
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        while let Some((to, bytes)) = registrar.poll_transmit() {
            socket.send_to(&bytes, to).unwrap();
        }
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        if let Ok((len, from)) = socket.recv_from(&mut buffer) {
            registrar.handle_datagram(Instant::now(), from, &buffer[..len]);
        }
        registrar.handle_timeout(Instant::now());
        seen.extend(std::iter::from_fn(|| registrar.poll_event()));
    }
    seen
}

#[test]
fn the_registrar_with_a_wrong_key_fails_once_with_the_cause_and_writes_nothing() {
    let Some(bind) = Bind::start("registrar-key") else {
        return;
    };
    let wrong = TsigKey::new("llxmpp-test.", vec![3; 32]).unwrap();
    let (mut registrar, socket) = registrar(&bind, alice(), &wrong);
    let seen = drive(&mut registrar, &socket, |e| {
        matches!(e, RegistrarEvent::Failed { .. })
    });
    let [RegistrarEvent::Failed { reason }] = &seen[..] else {
        panic!("{seen:?}");
    };
    assert!(reason.contains("BADSIG"), "{reason}");
    assert!(!registrar.is_registered());
    assert!(bind
        .ask(&unicast::service_type_in(&unicast::zone(ZONE)), rtype::PTR)
        .message
        .answers
        .is_empty());
}

fn zone_browser(bind: &Bind, poll: Duration) -> (ZoneBrowser, ZoneDriver) {
    let config = ZoneBrowserConfig {
        zone: unicast::zone(ZONE),
        server: bind.server,
        poll_interval: poll,
    };
    (
        ZoneBrowser::new(config, Instant::now(), 3),
        ZoneDriver::new(),
    )
}

fn resolved(events: &[ZoneBrowserEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, ZoneBrowserEvent::Service(ServiceEvent::Resolved(_))))
        .count()
}

#[test]
fn the_zone_browser_sees_services_come_change_and_go() {
    let Some(bind) = Bind::start("browse") else {
        return;
    };
    let alice = alice();
    let mut bob = alice.clone();
    bob.instance = "bob@hostb".into();
    bob.host = "hostb".into();
    bob.addresses = vec!["10.80.0.2".parse().unwrap()];
    for service in [&alice, &bob] {
        let done = bind.update(&service.register(), &bind.key, now()).unwrap();
        assert_eq!(done.rcode, Rcode::NoError);
    }
    let (mut browser, mut driver) = zone_browser(&bind, Duration::from_millis(300));
    let seen = driver.browse(&mut browser, Duration::from_secs(10), |e| resolved(e) == 2);
    let found: Vec<_> = seen
        .iter()
        .filter_map(|e| match e {
            ZoneBrowserEvent::Service(ServiceEvent::Resolved(s)) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let a = found
        .iter()
        .find(|s| s.instance == "Alice Liddell@hosta")
        .unwrap();
    assert_eq!((a.port, a.host.as_str()), (5298, "hosta"));
    let ips: Vec<String> = a.addresses.iter().map(|x| x.ip.to_string()).collect();
    assert_eq!(ips, ["10.80.0.1", "fd00::1"]);
    assert_eq!(a.txt.to_strings()[1], b"status=avail");

    // Nothing changes: one query (the SOA) a poll.
    let before = browser.queries_sent();
    let until = Instant::now() + Duration::from_millis(1000);
    let quiet = driver.browse(&mut browser, Duration::from_secs(10), |_| {
        Instant::now() >= until
    });
    assert!(quiet.is_empty(), "{quiet:?}");
    let polls_window = browser.queries_sent() - before;
    assert!(
        (2..=5).contains(&polls_window),
        "{polls_window} queries in about 3 polls"
    );

    // A status change, then Bob leaves.
    let mut away = alice.clone();
    away.txt = TxtRecord::from_strings([&b"txtvers=1"[..], b"status=away"]);
    bind.update(&away.update_txt(), &bind.key, now()).unwrap();
    let seen = driver.browse(&mut browser, Duration::from_secs(10), |e| !e.is_empty());
    assert!(
        matches!(
            &seen[..],
            [ZoneBrowserEvent::Service(ServiceEvent::Updated(s))]
                if s.instance == "Alice Liddell@hosta" && s.txt.to_strings()[1] == b"status=away"
        ),
        "{seen:?}"
    );
    bind.update(&bob.deregister(), &bind.key, now()).unwrap();
    let seen = driver.browse(&mut browser, Duration::from_secs(10), |e| !e.is_empty());
    assert_eq!(
        seen,
        [ZoneBrowserEvent::Service(ServiceEvent::Removed {
            instance: "bob@hostb".into()
        })]
    );
}

#[test]
fn a_zone_too_large_for_a_datagram_is_read_over_tcp() {
    let Some(bind) = Bind::start("tcp") else {
        return;
    };
    for n in 0..40 {
        let mut service = alice();
        service.instance = format!("user number {n}@host{n}");
        service.host = format!("host{n}");
        service.addresses = vec![format!("10.80.1.{n}").parse().unwrap()];
        assert_eq!(
            bind.update(&service.register(), &bind.key, now())
                .unwrap()
                .rcode,
            Rcode::NoError
        );
    }
    let (mut browser, mut driver) = zone_browser(&bind, Duration::from_secs(60));
    let seen = driver.browse(&mut browser, Duration::from_secs(10), |e| resolved(e) == 40);
    assert!(driver.tcp_exchanges > 0, "the list came over UDP");
    assert_eq!(seen.len(), 40, "{seen:?}");
    assert_eq!(browser.services().count(), 40);
}

/// Runs `finder` against the test's server until it has a result.
fn find(bind: &Bind) -> Result<SocketAddr, String> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut finder = UpdateServerFinder::new(unicast::zone(ZONE), bind.server, Instant::now(), 5);
    let mut buffer = vec![0; 65_535];
    let deadline = Instant::now() + Duration::from_secs(10);
    while finder.result().is_none() {
        assert!(Instant::now() < deadline);
        while let Some((to, bytes)) = finder.poll_transmit() {
            socket.send_to(&bytes, to).unwrap();
        }
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        if let Ok((len, from)) = socket.recv_from(&mut buffer) {
            finder.handle_answer(Instant::now(), from, &buffer[..len]);
        }
        finder.handle_timeout(Instant::now());
    }
    finder.result().unwrap().clone()
}

#[test]
fn the_update_server_is_found_by_srv_else_by_the_soa() {
    let Some(bind) = Bind::start("find-srv") else {
        return;
    };
    // The zone's SRV names ns1 at the test's port; ns1 is 127.0.0.1.
    assert_eq!(find(&bind), Ok(bind.server));
    drop(bind);
    let Some(bind) = Bind::start_with("find-soa", false) else {
        return;
    };
    // No SRV: the SOA's MNAME, ns1, at port 53.
    assert_eq!(find(&bind), Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, 53))));
}

#[test]
fn a_dead_clients_service_is_removed_only_if_its_srv_is_still_the_one_seen() {
    let Some(bind) = Bind::start("removal") else {
        return;
    };
    let alice = alice();
    bind.update(&alice.register(), &bind.key, now()).unwrap();
    let zone = unicast::zone(ZONE);
    // Seen with another port: it came back meanwhile; nothing is removed.
    let stale = unicast::removal(&zone, &alice.instance, 6000, &alice.host_name());
    let refused = bind.update(&stale, &bind.key, now()).unwrap();
    assert_eq!(refused.rcode, Rcode::RrsetMissing);
    assert_eq!(
        bind.ask(&alice.instance_name(), rtype::SRV)
            .message
            .answers
            .len(),
        1
    );
    // As seen: removed, PTR and all.
    let removal = unicast::removal(&zone, &alice.instance, 5298, &alice.host_name());
    assert_eq!(
        bind.update(&removal, &bind.key, now()).unwrap().rcode,
        Rcode::NoError
    );
    assert_eq!(
        bind.ask(&alice.instance_name(), rtype::SRV).rcode,
        Rcode::NameError
    );
    assert!(bind
        .ask(&unicast::service_type_in(&zone), rtype::PTR)
        .message
        .answers
        .is_empty());
}

#[test]
fn the_same_service_registering_again_keeps_its_name() {
    let Some(bind) = Bind::start("again") else {
        return;
    };
    // A node that died without its goodbye, restarted on the same host and port (or an
    // update whose answer was lost, sent again): its records are its own.
    let (mut before, before_socket) = registrar(&bind, alice(), &bind.key);
    drive(&mut before, &before_socket, |e| {
        matches!(e, RegistrarEvent::Registered { .. })
    });
    drop(before);
    let (mut after, after_socket) = registrar(&bind, alice(), &bind.key);
    let seen = drive(&mut after, &after_socket, |e| {
        matches!(e, RegistrarEvent::Registered { .. })
    });
    assert_eq!(
        seen,
        [RegistrarEvent::Registered {
            instance: "Alice Liddell@hosta".into()
        }]
    );
}
