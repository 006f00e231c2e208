//! The responder's wire behaviour, one rule of RFC 6762 at a time, in virtual time.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use llxmpp_dnssd::{
    rtype, Destination, DnsName, InterfaceAddr, Message, Question, Record, RecordData, Responder,
    ResponderConfig, ResponderEvent, ServiceInfo, Transmit, TxtRecord, HOST_TTL, OTHER_TTL,
};

fn service() -> ServiceInfo {
    let mut txt = TxtRecord::new();
    txt.insert("status", "avail").unwrap();
    txt.insert("txtvers", "1").unwrap();
    ServiceInfo {
        instance: "juliet@pronto".into(),
        host: "pronto-xmpp".into(),
        port: 5298,
        addresses: vec![InterfaceAddr {
            interface: 2,
            ip: IpAddr::V4(Ipv4Addr::new(169, 254, 1, 2)),
        }],
        txt,
        avatar: None,
    }
}

const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(169, 254, 9, 9)), 5353);

/// Runs `responder` until `until`, returning every transmit with the time it was queued.
fn run(responder: &mut Responder, start: Instant, until: Duration) -> Vec<(Duration, Transmit)> {
    let mut out = Vec::new();
    while let Some(at) = responder.poll_timeout() {
        if at > start + until {
            break;
        }
        responder.handle_timeout(at);
        while let Some(t) = responder.poll_transmit() {
            out.push((at - start, t));
        }
    }
    out
}

fn established() -> (Responder, Instant) {
    let start = Instant::now();
    let mut responder = Responder::new(service(), ResponderConfig::default(), start, 7).unwrap();
    run(&mut responder, start, Duration::from_secs(5));
    assert!(responder.is_established());
    (responder, start + Duration::from_secs(5))
}

fn ask(
    responder: &mut Responder,
    now: Instant,
    from: SocketAddr,
    query: &Message,
) -> Vec<Transmit> {
    responder.handle_input(now, from, 2, &query.encode().unwrap());
    let mut out: Vec<Transmit> = std::iter::from_fn(|| responder.poll_transmit()).collect();
    // Shared answers wait 20–120 ms.
    responder.handle_timeout(now + Duration::from_millis(130));
    out.extend(std::iter::from_fn(|| responder.poll_transmit()));
    out
}

fn query(name: DnsName, qtype: u16) -> Message {
    Message {
        questions: vec![Question {
            name,
            qtype,
            unicast_response: false,
        }],
        ..Message::default()
    }
}

/// A response saying another host holds `instance` (an SRV to elsewhere).
fn taken_elsewhere(instance: &str) -> Message {
    Message {
        is_response: true,
        answers: vec![Record {
            name: DnsName::instance(instance),
            ttl: 120,
            cache_flush: true,
            data: RecordData::Srv {
                priority: 0,
                weight: 0,
                port: 1,
                target: DnsName::host("elsewhere"),
            },
        }],
        ..Message::default()
    }
}

fn decode(t: &Transmit) -> Message {
    Message::decode(&t.payload).unwrap()
}

#[test]
fn probes_three_times_then_announces_twice_with_ttls_and_flush_bits() {
    let start = Instant::now();
    let mut responder = Responder::new(service(), ResponderConfig::default(), start, 1).unwrap();
    let sent = run(&mut responder, start, Duration::from_secs(5));
    let probes: Vec<&(Duration, Transmit)> = sent
        .iter()
        .filter(|(_, t)| !decode(t).is_response)
        .collect();
    assert_eq!(probes.len(), 3);
    assert!(probes[0].0 <= Duration::from_millis(250));
    assert_eq!(probes[1].0 - probes[0].0, Duration::from_millis(250));
    assert_eq!(probes[2].0 - probes[1].0, Duration::from_millis(250));
    let probe = decode(&probes[0].1);
    assert_eq!(probe.questions.len(), 2);
    assert!(probe.questions.iter().all(|q| q.qtype == rtype::ANY));
    let authority_types: Vec<u16> = probe.authority.iter().map(|r| r.data.rtype()).collect();
    assert_eq!(authority_types, vec![rtype::SRV, rtype::TXT, rtype::A]);

    let announcements: Vec<&(Duration, Transmit)> =
        sent.iter().filter(|(_, t)| decode(t).is_response).collect();
    assert_eq!(announcements.len(), 2);
    assert_eq!(
        announcements[1].0 - announcements[0].0,
        Duration::from_secs(1)
    );
    assert!(announcements[0].0 - probes[2].0 >= Duration::from_millis(250));
    for record in decode(&announcements[0].1).answers {
        let (ttl, flush) = match record.data.rtype() {
            rtype::PTR => (OTHER_TTL, false),
            rtype::TXT => (OTHER_TTL, true),
            _ => (HOST_TTL, true),
        };
        assert_eq!((record.ttl, record.cache_flush), (ttl, flush), "{record:?}");
    }
    assert_eq!(
        responder.poll_event(),
        Some(ResponderEvent::Established {
            instance: "juliet@pronto".into(),
            host: "pronto-xmpp".into()
        })
    );
    // The TXT goes out with txtvers first.
    let txt = decode(&announcements[0].1)
        .answers
        .into_iter()
        .find_map(|r| match r.data {
            RecordData::Txt(txt) => Some(txt),
            _ => None,
        });
    assert_eq!(txt.unwrap().entries()[0].key, "txtvers");
}

#[test]
fn ptr_query_gets_srv_txt_and_address_as_additional_records_after_a_delay() {
    let (mut responder, now) = established();
    let later = now + Duration::from_secs(2);
    responder.handle_input(
        later,
        PEER,
        2,
        &query(DnsName::service_type(), rtype::PTR).encode().unwrap(),
    );
    assert_eq!(
        responder.poll_transmit(),
        None,
        "shared answers wait 20–120 ms"
    );
    let at = responder.poll_timeout().unwrap();
    assert!(at - later >= Duration::from_millis(20) && at - later <= Duration::from_millis(120));
    responder.handle_timeout(at);
    let reply = decode(&responder.poll_transmit().unwrap());
    assert_eq!(reply.answers.len(), 1);
    assert_eq!(
        reply.answers[0].data,
        RecordData::Ptr(DnsName::instance("juliet@pronto"))
    );
    let additional: Vec<u16> = reply.additional.iter().map(|r| r.data.rtype()).collect();
    assert_eq!(additional, vec![rtype::SRV, rtype::TXT, rtype::A]);
}

#[test]
fn unique_records_are_answered_at_once_and_not_twice_within_a_second() {
    let (mut responder, now) = established();
    let later = now + Duration::from_secs(3);
    let srv = query(DnsName::instance("juliet@pronto"), rtype::SRV);
    let first = ask(&mut responder, later, PEER, &srv);
    assert_eq!(first.len(), 1);
    assert_eq!(decode(&first[0]).additional[0].data.rtype(), rtype::A);
    let again = ask(
        &mut responder,
        later + Duration::from_millis(500),
        PEER,
        &srv,
    );
    assert!(again.is_empty(), "at most one multicast a second");
    let after = ask(
        &mut responder,
        later + Duration::from_millis(1600),
        PEER,
        &srv,
    );
    assert_eq!(after.len(), 1);
}

#[test]
fn known_answers_with_half_their_ttl_suppress_ours() {
    let (mut responder, now) = established();
    let later = now + Duration::from_secs(3);
    let mut q = query(DnsName::service_type(), rtype::PTR);
    let ptr = Record {
        name: DnsName::service_type(),
        ttl: OTHER_TTL / 2,
        cache_flush: false,
        data: RecordData::Ptr(DnsName::instance("juliet@pronto")),
    };
    q.answers.push(ptr.clone());
    assert!(ask(&mut responder, later, PEER, &q).is_empty());
    q.answers[0].ttl = OTHER_TTL / 2 - 1;
    assert_eq!(ask(&mut responder, later, PEER, &q).len(), 1);
}

#[test]
fn legacy_unicast_gets_echoed_id_question_and_short_ttls() {
    let (mut responder, now) = established();
    let legacy = SocketAddr::new(PEER.ip(), 40000);
    let mut q = query(DnsName::instance("juliet@pronto"), rtype::TXT);
    q.id = 0x1234;
    let out = ask(&mut responder, now, legacy, &q);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].destination, Destination::Unicast(legacy));
    let reply = decode(&out[0]);
    assert_eq!(reply.id, 0x1234);
    assert_eq!(reply.questions, q.questions);
    assert!(reply.answers.iter().all(|r| r.ttl <= 10 && !r.cache_flush));
}

#[test]
fn qu_questions_get_unicast_replies() {
    let (mut responder, now) = established();
    let mut q = query(DnsName::host("pronto-xmpp"), rtype::A);
    q.questions[0].unicast_response = true;
    let out = ask(&mut responder, now, PEER, &q);
    assert_eq!(out[0].destination, Destination::Unicast(PEER));
    assert_eq!(
        decode(&out[0]).answers[0].data,
        RecordData::A(Ipv4Addr::new(169, 254, 1, 2))
    );
}

#[test]
fn service_type_enumeration_is_answered() {
    let (mut responder, now) = established();
    let out = ask(
        &mut responder,
        now,
        PEER,
        &query(
            DnsName::from_labels(llxmpp_dnssd::SERVICES_ENUMERATION),
            rtype::PTR,
        ),
    );
    assert_eq!(
        decode(&out[0]).answers[0].data,
        RecordData::Ptr(DnsName::service_type())
    );
}

#[test]
fn txt_change_is_announced_and_shutdown_says_goodbye_with_ttl_zero() {
    let (mut responder, now) = established();
    let mut txt = TxtRecord::new();
    txt.insert("txtvers", "1").unwrap();
    txt.insert("status", "dnd").unwrap();
    responder.set_txt(now, txt.clone()).unwrap();
    let announcement = decode(&responder.poll_transmit().unwrap());
    assert!(announcement.is_response);
    assert!(announcement
        .answers
        .iter()
        .any(|r| r.data == RecordData::Txt(txt.clone())));
    responder.shutdown(now);
    let goodbye = decode(&responder.poll_transmit().unwrap());
    assert!(goodbye.answers.len() >= 4);
    assert!(goodbye.answers.iter().all(|r| r.ttl == 0));
    assert_eq!(responder.poll_timeout(), None);
}

/// Renames take the forms Macs show and use themselves: `name (2)` for a service
/// instance, `host-2` for a host; a long name is cut so that the label stays 63 bytes.
#[test]
fn renames_take_apples_forms_within_the_label_limit() {
    let start = Instant::now();
    let long = format!("{}@host", "é".repeat(29));
    assert_eq!(long.len(), 63);
    let mut responder = Responder::new(
        ServiceInfo {
            instance: long.clone(),
            ..service()
        },
        ResponderConfig::default(),
        start,
        3,
    )
    .unwrap();
    let taken = Message {
        is_response: true,
        answers: vec![
            Record {
                name: DnsName::instance(&long),
                ttl: 120,
                cache_flush: true,
                data: RecordData::Txt(TxtRecord::new()),
            },
            Record {
                name: DnsName::host("pronto-xmpp"),
                ttl: 120,
                cache_flush: true,
                data: RecordData::A(Ipv4Addr::new(169, 254, 7, 7)),
            },
        ],
        ..Message::default()
    };
    responder.handle_input(start, PEER, 2, &taken.encode().unwrap());
    assert_eq!(responder.host(), "pronto-xmpp-2");
    let instance = responder.instance();
    assert!(
        instance.ends_with(" (2)") && instance.len() <= 63,
        "{instance}"
    );
    assert!(long.starts_with(instance.strip_suffix(" (2)").unwrap()));
    let events: Vec<_> = std::iter::from_fn(|| responder.poll_event()).collect();
    assert!(events.contains(&ResponderEvent::HostRenamed {
        from: "pronto-xmpp".into(),
        to: "pronto-xmpp-2".into()
    }));
}

#[test]
fn a_conflicting_response_while_probing_renames_deterministically() {
    let start = Instant::now();
    let mut responder = Responder::new(service(), ResponderConfig::default(), start, 3).unwrap();
    for expected in ["juliet@pronto (2)", "juliet@pronto (3)"] {
        let taken = taken_elsewhere(responder.instance());
        responder.handle_input(start, PEER, 2, &taken.encode().unwrap());
        assert_eq!(responder.instance(), expected);
    }
    assert!(matches!(
        responder.poll_event(),
        Some(ResponderEvent::InstanceRenamed { .. })
    ));
}

#[test]
fn bad_services_are_refused() {
    let start = Instant::now();
    let mut long = service();
    long.instance = "x".repeat(64);
    assert!(Responder::new(long, ResponderConfig::default(), start, 0).is_err());
    let mut big = service();
    big.txt.insert("msg", "y".repeat(250)).unwrap();
    for n in 0..6 {
        big.txt.insert(&format!("k{n}"), "z".repeat(250)).unwrap();
    }
    assert!(Responder::new(big, ResponderConfig::default(), start, 0).is_err());
}

/// A query whose known answers fill more than one packet has the TC bit (RFC 6762 §7.2):
/// the answer waits 400–500 ms, and the known answers that come in the following packets
/// (queries without questions, as mDNSResponder sends them) suppress ours too.
#[test]
fn known_answers_spread_over_several_packets_suppress_ours() {
    let (mut responder, now) = established();
    let later = now + Duration::from_secs(3);
    let mut first = query(DnsName::service_type(), rtype::PTR);
    first.truncated = true;
    responder.handle_input(later, PEER, 2, &first.encode().unwrap());
    responder.handle_timeout(later + Duration::from_millis(130));
    assert!(
        responder.poll_transmit().is_none(),
        "a truncated query's answer waits for the rest of the known answers"
    );
    assert!(responder.poll_timeout().unwrap() >= later + Duration::from_millis(400));
    let rest = Message {
        answers: vec![Record {
            name: DnsName::service_type(),
            ttl: OTHER_TTL,
            cache_flush: false,
            data: RecordData::Ptr(DnsName::instance("juliet@pronto")),
        }],
        ..Message::default()
    };
    responder.handle_input(
        later + Duration::from_millis(200),
        PEER,
        2,
        &rest.encode().unwrap(),
    );
    responder.handle_timeout(later + Duration::from_millis(600));
    assert!(responder.poll_transmit().is_none(), "the asker knew it");

    // Without the continuation, the answer goes out after 400–500 ms.
    let later = later + Duration::from_secs(5);
    responder.handle_input(later, PEER, 2, &first.encode().unwrap());
    responder.handle_timeout(later + Duration::from_millis(399));
    assert!(responder.poll_transmit().is_none());
    responder.handle_timeout(later + Duration::from_millis(500));
    let answer = decode(&responder.poll_transmit().unwrap());
    assert!(answer
        .answers
        .iter()
        .any(|r| r.name == DnsName::service_type()));
}

/// RFC 6762 §5.4: a QU question is answered by multicast when the link has not heard the
/// record within a quarter of its TTL; a QU probe (mDNSResponder's) for a name we hold is
/// answered both ways, since a unicast reply to a shared port 5353 reaches one socket.
#[test]
fn qu_questions_are_multicast_when_unheard_lately_and_probes_both_ways() {
    let (mut responder, now) = established();
    let mut probe = query(DnsName::instance("juliet@pronto"), rtype::ANY);
    probe.questions[0].unicast_response = true;
    probe.authority.push(Record {
        name: DnsName::instance("juliet@pronto"),
        ttl: HOST_TTL,
        cache_flush: false,
        data: RecordData::Srv {
            priority: 0,
            weight: 0,
            port: 9,
            target: DnsName::host("rival"),
        },
    });
    let out = ask(&mut responder, now, PEER, &probe);
    assert!(out
        .iter()
        .any(|t| t.destination == Destination::Unicast(PEER)));
    assert!(out.iter().any(|t| t.destination == Destination::Multicast));

    // HOST_TTL / 4 = 30 s after the last announcement, the link has not heard our A record.
    let later = now + Duration::from_secs(31);
    let mut question = query(DnsName::host("pronto-xmpp"), rtype::A);
    question.questions[0].unicast_response = true;
    let out = ask(&mut responder, later, PEER, &question);
    assert!(!out.is_empty());
    assert!(out.iter().all(|t| t.destination == Destination::Multicast));
}

#[test]
fn a_newcomer_loses_its_probe_to_an_established_mac_and_never_announces_the_name() {
    // The Mac (mDNSResponder, 10.84.0.4) owns bob@hostd; we start as bob@hostd too. Its
    // defence is the real answer it gave to such a probe (tests/vectors), 54 ms after it.
    let defence = include_bytes!("vectors/mdnsresponder-probe-defence.bin");
    let mac = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 84, 0, 4)), 5353);
    let start = Instant::now();
    let mut ours = service();
    ours.instance = "bob@hostd".into();
    ours.host = "hostd-llxmpp".into();
    let mut responder = Responder::new(ours, ResponderConfig::default(), start, 11).unwrap();
    let mut sent = Vec::new();
    let mut first_probe = None;
    while first_probe.is_none() {
        let at = responder.poll_timeout().unwrap();
        responder.handle_timeout(at);
        while let Some(t) = responder.poll_transmit() {
            first_probe.get_or_insert(at);
            sent.push(t);
        }
    }
    let answered = first_probe.unwrap() + Duration::from_millis(54);
    responder.handle_input(answered, mac, 2, defence);
    assert_eq!(responder.instance(), "bob@hostd (2)");
    assert_eq!(
        responder.poll_event(),
        Some(ResponderEvent::InstanceRenamed {
            from: "bob@hostd".into(),
            to: "bob@hostd (2)".into()
        })
    );
    sent.extend(
        run(&mut responder, answered, Duration::from_secs(5))
            .into_iter()
            .map(|(_, t)| t),
    );
    assert!(responder.is_established());
    let taken = DnsName::instance("bob@hostd");
    for message in sent.iter().map(decode).filter(|m| m.is_response) {
        assert!(
            message
                .answers
                .iter()
                .chain(&message.additional)
                .all(|r| r.name != taken),
            "announced the Mac's name: {message:?}"
        );
    }
}

/// Two newcomers probing one name at once (RFC 6762 §8.2): the Mac's real probe for
/// `bob@hostd` arrives while we probe it too. mDNSResponder proposes the SRV alone (its
/// TXT is not probed); we propose TXT and SRV, and sorted by type our TXT (16) comes
/// before its SRV (33): our set is the earlier, so we lose, whatever the SRV holds, and
/// the Mac, comparing the same sets, wins. We wait a second and probe again, sending
/// nothing meanwhile; the Mac's announcement during our second round renames us.
#[test]
fn simultaneous_probes_with_a_mac_are_lost_by_us_and_we_rename_after_its_announcement() {
    let probe = include_bytes!("vectors/mdnsresponder-probe.bin");
    let announcement = include_bytes!("vectors/mdnsresponder-announce.bin");
    let mac = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 84, 0, 4)), 5353);
    let start = Instant::now();
    let mut ours = service();
    ours.instance = "bob@hostd".into();
    ours.host = "hostc-llxmpp".into();
    let mut responder = Responder::new(ours, ResponderConfig::default(), start, 5).unwrap();
    let mut first_probe = None;
    while first_probe.is_none() {
        let at = responder.poll_timeout().unwrap();
        responder.handle_timeout(at);
        if responder.poll_transmit().is_some() {
            first_probe = Some(at);
        }
    }
    let heard = first_probe.unwrap() + Duration::from_millis(10);
    responder.handle_input(heard, mac, 2, probe);
    assert!(
        responder.poll_transmit().is_none(),
        "a probe is not answered"
    );
    let sent = run(&mut responder, heard, Duration::from_millis(1600));
    let times: Vec<Duration> = sent.iter().map(|(at, _)| *at).collect();
    assert!(
        times.iter().all(|&at| at >= Duration::from_secs(1)),
        "silent for a second: {times:?}"
    );
    assert!(sent.iter().all(|(_, t)| is_probe(&decode(t))), "{sent:?}");
    assert!(!sent.is_empty(), "probing again after the second");
    assert!(!responder.is_established());
    // The Mac won and announces; our second round hears it and takes the next name.
    let announced = heard + Duration::from_millis(1100);
    responder.handle_input(announced, mac, 2, announcement);
    assert_eq!(
        responder.poll_event(),
        Some(ResponderEvent::InstanceRenamed {
            from: "bob@hostd".into(),
            to: "bob@hostd (2)".into()
        })
    );
    run(&mut responder, announced, Duration::from_secs(5));
    assert!(responder.is_established());
    assert_eq!(responder.instance(), "bob@hostd (2)");
}

#[test]
fn the_first_probe_of_each_round_asks_for_a_unicast_answer_and_the_others_do_not() {
    // RFC 6762 §8.1, and mDNSResponder's own probes (tests/vectors): a Mac that announced
    // its name less than a second ago answers a QU probe by unicast at once, while it
    // holds back multicast answers to QM ones.
    let start = Instant::now();
    let mut responder = Responder::new(service(), ResponderConfig::default(), start, 1).unwrap();
    let qu_bits = |sent: &[(Duration, Transmit)]| -> Vec<bool> {
        sent.iter()
            .map(|(_, t)| decode(t))
            .filter(|m| !m.is_response)
            .map(|m| m.questions.iter().all(|q| q.unicast_response))
            .collect()
    };
    let sent = run(&mut responder, start, Duration::from_secs(5));
    assert_eq!(qu_bits(&sent), [true, false, false]);
    // A conflict starts a new round, with a new first probe.
    let now = start + Duration::from_secs(5);
    let taken = taken_elsewhere("juliet@pronto");
    responder.handle_input(now, PEER, 2, &taken.encode().unwrap());
    let sent = run(&mut responder, now, Duration::from_secs(5));
    assert_eq!(qu_bits(&sent), [true, false, false]);
}

/// RFC 6762 §6.1: a type our names do not have is denied with an NSEC listing the types
/// they have (AAAA of an IPv4-only host, NULL of a service without avatar); it decodes
/// back as sent, and a type that exists gets no NSEC.
#[test]
fn a_type_our_names_lack_is_denied_with_nsec() {
    let (mut responder, now) = established();
    let nsec = |out: &[Transmit]| -> Vec<Record> {
        out.iter()
            .flat_map(|t| decode(t).answers)
            .filter(|r| r.data.rtype() == rtype::NSEC)
            .collect()
    };
    let host = DnsName::host("pronto-xmpp");
    let out = ask(&mut responder, now, PEER, &query(host.clone(), rtype::AAAA));
    assert_eq!(
        nsec(&out),
        [Record {
            name: host.clone(),
            ttl: HOST_TTL,
            cache_flush: true,
            data: RecordData::Nsec {
                next: host.clone(),
                types: vec![rtype::A],
            },
        }]
    );
    let instance = DnsName::instance("juliet@pronto");
    let later = now + Duration::from_secs(2);
    let out = ask(
        &mut responder,
        later,
        PEER,
        &query(instance.clone(), rtype::NULL),
    );
    let denied = nsec(&out);
    assert_eq!(denied.len(), 1);
    assert_eq!(
        denied[0].data,
        RecordData::Nsec {
            next: instance,
            types: vec![rtype::TXT, rtype::SRV],
        }
    );
    let later = later + Duration::from_secs(2);
    assert!(nsec(&ask(&mut responder, later, PEER, &query(host, rtype::A))).is_empty());
}

fn v4(a: u8, b: u8, c: u8, d: u8, interface: u32) -> InterfaceAddr {
    InterfaceAddr {
        interface,
        ip: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
    }
}

/// The addresses an announcement or goodbye holds for our host.
fn addresses_in(message: &Message) -> Vec<IpAddr> {
    message
        .answers
        .iter()
        .filter_map(|r| match r.data {
            RecordData::A(ip) => Some(IpAddr::V4(ip)),
            RecordData::Aaaa(ip) => Some(IpAddr::V6(ip)),
            _ => None,
        })
        .collect()
}

/// RFC 6762 §15: on a host with two links, each link hears only its own address, so a
/// peer never learns one it cannot reach.
#[test]
fn each_link_is_announced_with_its_own_address_only() {
    let start = Instant::now();
    let mut service = service();
    service.addresses = vec![v4(169, 254, 1, 2, 2), v4(10, 0, 3, 2, 3)];
    let mut responder = Responder::new(service, ResponderConfig::default(), start, 3).unwrap();
    let sent = run(&mut responder, start, Duration::from_secs(5));
    let announcements: Vec<&Transmit> = sent
        .iter()
        .map(|(_, t)| t)
        .filter(|t| decode(t).is_response)
        .collect();
    assert_eq!(announcements.len(), 4, "two rounds, one per link");
    for t in announcements {
        let message = decode(t);
        let expected = match t.interface {
            Some(2) => Ipv4Addr::new(169, 254, 1, 2),
            Some(3) => Ipv4Addr::new(10, 0, 3, 2),
            other => panic!("an announcement on {other:?}"),
        };
        assert_eq!(addresses_in(&message), vec![IpAddr::V4(expected)]);
        assert!(message.answers.iter().any(|r| r.data.rtype() == rtype::SRV));
    }
}

/// A new lease: the old address is retracted on its link, the new one announced there at
/// once (peers learn it without waiting for a cache to expire) and again a second later.
#[test]
fn a_replaced_address_is_retracted_on_its_link_and_the_new_one_announced_at_once() {
    let (mut responder, now) = established();
    responder.set_addresses(now, vec![v4(169, 254, 1, 3, 2)]);
    let at_once: Vec<Transmit> = std::iter::from_fn(|| responder.poll_transmit()).collect();
    assert_eq!(at_once.len(), 2, "{at_once:?}");
    let goodbye = decode(&at_once[0]);
    assert_eq!(at_once[0].interface, Some(2));
    assert_eq!(
        addresses_in(&goodbye),
        vec![IpAddr::V4(Ipv4Addr::new(169, 254, 1, 2))]
    );
    assert!(goodbye.answers.iter().all(|r| r.ttl == 0));
    let announcement = decode(&at_once[1]);
    assert_eq!(at_once[1].interface, Some(2));
    assert_eq!(
        addresses_in(&announcement),
        vec![IpAddr::V4(Ipv4Addr::new(169, 254, 1, 3))]
    );
    assert!(announcement.answers.iter().all(|r| r.ttl != 0));
    let again = run(&mut responder, now, Duration::from_secs(3));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].0, Duration::from_secs(1));
    assert_eq!(
        addresses_in(&decode(&again[0].1)),
        vec![IpAddr::V4(Ipv4Addr::new(169, 254, 1, 3))]
    );
}

/// Whether `message` is one of our probes: a query with our records in its authority.
fn is_probe(message: &Message) -> bool {
    !message.is_response && !message.authority.is_empty()
}

/// A socket that opens only now on a link where we have an address (it had failed to)
/// gets three probes and two announcements there, as a link that came; the other links
/// are not probed again. Before the name is ours, and on a link we have no address on, it
/// changes nothing.
#[test]
fn a_link_reopened_is_probed_and_announced_on_again() {
    let (mut responder, now) = established();
    while responder.poll_event().is_some() {}
    responder.set_addresses(now, vec![v4(169, 254, 1, 2, 2), v4(10, 0, 4, 2, 4)]);
    let later = now + Duration::from_secs(60);
    let _ = run(&mut responder, now, Duration::from_secs(60));
    responder.link_reopened(later, 4);
    responder.link_reopened(later, 7);
    let sent = run(&mut responder, later, Duration::from_secs(60));
    let on = |link: u32| -> Vec<Message> {
        sent.iter()
            .filter(|(_, t)| t.interface == Some(link))
            .map(|(_, t)| decode(t))
            .collect()
    };
    let again = on(4);
    assert_eq!(again.iter().filter(|m| is_probe(m)).count(), 3, "{again:?}");
    assert_eq!(
        again.iter().filter(|m| m.is_response).count(),
        2,
        "{again:?}"
    );
    assert!(on(7).is_empty(), "{sent:?}");
    assert!(!on(2).iter().any(is_probe), "{:?}", on(2));

    let start = Instant::now();
    let count = |reopen: bool| {
        let mut fresh = Responder::new(service(), ResponderConfig::default(), start, 7).unwrap();
        if reopen {
            fresh.link_reopened(start, 2);
        }
        run(&mut fresh, start, Duration::from_secs(60)).len()
    };
    assert_eq!(count(true), count(false));
}

/// An interface that came up (RFC 6762 §8: a link change) is probed before it is announced
/// on, three probes 250 ms apart with that link's own address; the link we had is
/// announced on at once, keeps its address and hears no goodbye; nothing is answered on
/// the new link while it is probed.
#[test]
fn a_new_interface_is_probed_then_announced_on_and_the_old_link_loses_nothing() {
    let (mut responder, now) = established();
    while responder.poll_event().is_some() {}
    responder.set_addresses(now, vec![v4(169, 254, 1, 2, 2), v4(10, 0, 4, 2, 4)]);
    let at_once: Vec<Transmit> = std::iter::from_fn(|| responder.poll_transmit()).collect();
    assert_eq!(at_once.len(), 1, "{at_once:?}");
    assert_eq!(at_once[0].interface, Some(2));
    assert_eq!(
        addresses_in(&decode(&at_once[0])),
        vec![IpAddr::V4(Ipv4Addr::new(169, 254, 1, 2))]
    );
    // A question on the new link while it is probed goes unanswered.
    responder.handle_input(
        now,
        PEER,
        4,
        &query(DnsName::instance("juliet@pronto"), rtype::SRV)
            .encode()
            .unwrap(),
    );
    assert!(responder.poll_transmit().is_none());

    let sent = run(&mut responder, now, Duration::from_secs(60));
    assert!(sent
        .iter()
        .all(|(_, t)| decode(t).answers.iter().all(|r| r.ttl != 0)));
    // No flood: a new link with no one on it costs what RFC 6762 asks and no more, three
    // probes (§8.1) and two announcements (§8.3), and the old link one announcement
    // after the one at once.
    let count = |link: u32| {
        sent.iter()
            .filter(|(_, t)| t.interface == Some(link))
            .count()
    };
    assert_eq!((count(4), count(2)), (5, 1), "{sent:?}");
    let on_new: Vec<(Duration, Message)> = sent
        .iter()
        .filter(|(_, t)| t.interface == Some(4))
        .map(|(at, t)| (*at, decode(t)))
        .collect();
    let probes: Vec<&(Duration, Message)> = on_new.iter().filter(|(_, m)| is_probe(m)).collect();
    assert_eq!(probes.len(), 3, "{on_new:?}");
    assert!(probes[0].1.questions.iter().all(|q| q.unicast_response));
    assert!(probes[1].1.questions.iter().all(|q| !q.unicast_response));
    for pair in probes.windows(2) {
        assert_eq!(pair[1].0 - pair[0].0, Duration::from_millis(250));
    }
    for (_, probe) in &probes {
        let proposed: Vec<IpAddr> = probe
            .authority
            .iter()
            .filter_map(|r| match r.data {
                RecordData::A(ip) => Some(IpAddr::V4(ip)),
                _ => None,
            })
            .collect();
        assert_eq!(proposed, vec![IpAddr::V4(Ipv4Addr::new(10, 0, 4, 2))]);
    }
    let announcements: Vec<&(Duration, Message)> =
        on_new.iter().filter(|(_, m)| m.is_response).collect();
    assert!(!announcements.is_empty(), "{on_new:?}");
    assert!(announcements[0].0 >= probes[2].0 + Duration::from_millis(250));
    for (_, announcement) in &announcements {
        assert_eq!(
            addresses_in(announcement),
            vec![IpAddr::V4(Ipv4Addr::new(10, 0, 4, 2))]
        );
    }
    // The old link only ever hears its own address, and no probe.
    for (_, t) in sent.iter().filter(|(_, t)| t.interface == Some(2)) {
        let message = decode(t);
        assert!(!is_probe(&message));
        assert_eq!(
            addresses_in(&message),
            vec![IpAddr::V4(Ipv4Addr::new(169, 254, 1, 2))]
        );
    }
    assert!(responder.poll_event().is_none(), "no second Established");
}

/// A host that holds our name on the new link answers our probe there: we take the next
/// name and probe every link with it (RFC 6762 §9), instead of announcing a name that
/// is not ours there.
#[test]
fn a_conflict_met_on_a_new_link_renames_us() {
    let (mut responder, now) = established();
    while responder.poll_event().is_some() {}
    responder.set_addresses(now, vec![v4(169, 254, 1, 2, 2), v4(10, 0, 4, 2, 4)]);
    while responder.poll_transmit().is_some() {}
    // The first probe on link 4 goes out within 250 ms; the owner there answers it.
    let sent = run(&mut responder, now, Duration::from_millis(250));
    assert!(sent
        .iter()
        .any(|(_, t)| t.interface == Some(4) && is_probe(&decode(t))));
    let later = now + Duration::from_millis(300);
    responder.handle_input(
        later,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 4, 9)), 5353),
        4,
        &taken_elsewhere("juliet@pronto").encode().unwrap(),
    );
    run(&mut responder, later, Duration::from_secs(3));
    let events: Vec<ResponderEvent> = std::iter::from_fn(|| responder.poll_event()).collect();
    assert!(
        events.contains(&ResponderEvent::InstanceRenamed {
            from: "juliet@pronto".into(),
            to: "juliet@pronto (2)".into(),
        }),
        "{events:?}"
    );
}

/// Wi-Fi to Ethernet: the address of a link that went is retracted on the link that
/// comes at once, before that link is probed, so that peers on the same segment drop the
/// old address at once; the link's own address is announced once the probes are done.
/// An address that comes back (a cable in again) is not retracted, and its link is
/// probed again before it is announced on.
#[test]
fn an_address_whose_link_went_is_retracted_on_the_link_that_comes() {
    let (mut responder, now) = established();
    responder.set_addresses(now, vec![]);
    let at_once: Vec<Transmit> = std::iter::from_fn(|| responder.poll_transmit()).collect();
    let goodbye = decode(&at_once[0]);
    assert_eq!(at_once[0].interface, None);
    assert!(goodbye.answers.iter().all(|r| r.ttl == 0));
    responder.set_addresses(now, vec![v4(10, 0, 3, 2, 3)]);
    let at_once: Vec<Transmit> = std::iter::from_fn(|| responder.poll_transmit()).collect();
    assert_eq!(at_once.len(), 1, "{at_once:?}");
    assert_eq!(at_once[0].interface, Some(3));
    let goodbye = decode(&at_once[0]);
    assert_eq!(
        addresses_in(&goodbye),
        vec![IpAddr::V4(Ipv4Addr::new(169, 254, 1, 2))]
    );
    assert!(goodbye.answers.iter().all(|r| r.ttl == 0));
    let sent: Vec<Message> = run(&mut responder, now, Duration::from_secs(2))
        .into_iter()
        .inspect(|(_, t)| assert_eq!(t.interface, Some(3)))
        .map(|(_, t)| decode(&t))
        .collect();
    assert_eq!(sent.iter().filter(|m| is_probe(m)).count(), 3, "{sent:?}");
    let announcement = sent
        .iter()
        .find(|m| m.is_response && m.answers.iter().all(|r| r.ttl != 0))
        .expect("an announcement after the probes");
    assert_eq!(
        addresses_in(announcement),
        vec![IpAddr::V4(Ipv4Addr::new(10, 0, 3, 2))]
    );

    // Cable out and in: the address is back, and no goodbye for it follows; the link is
    // probed again, then announced on.
    let (mut responder, now) = established();
    responder.set_addresses(now, vec![]);
    while responder.poll_transmit().is_some() {}
    responder.set_addresses(now, vec![v4(169, 254, 1, 2, 2)]);
    let back: Vec<(Duration, Message)> = run(&mut responder, now, Duration::from_secs(2))
        .into_iter()
        .map(|(at, t)| (at, decode(&t)))
        .collect();
    assert!(back
        .iter()
        .all(|(_, m)| m.answers.iter().all(|r| r.ttl != 0)));
    let first_announcement = back.iter().position(|(_, m)| m.is_response).unwrap();
    assert_eq!(first_announcement, 3, "three probes first: {back:?}");
    assert!(back[first_announcement].0 < Duration::from_secs(1));
}
