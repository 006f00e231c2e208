//! The browser's cache and queries, one rule of RFC 6762 at a time, in virtual time.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use llxmpp_dnssd::{
    avatar_phsh, rtype, Browser, BrowserConfig, DnsName, InterfaceAddr, Message, Question, Record,
    RecordData, ServiceEvent, TxtRecord,
};

const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(169, 254, 7, 7)), 5353);

fn record(name: DnsName, ttl: u32, data: RecordData) -> Record {
    let cache_flush = !matches!(data, RecordData::Ptr(_));
    Record {
        name,
        ttl,
        cache_flush,
        data,
    }
}

fn txt(status: &str) -> TxtRecord {
    TxtRecord::from_strings(["txtvers=1".to_owned(), format!("status={status}")])
}

/// A full answer for `instance` on host `host` at `ip`.
fn service(instance: &str, host: &str, ip: IpAddr, status: &str) -> Message {
    let name = DnsName::instance(instance);
    let address = match ip {
        IpAddr::V4(v4) => RecordData::A(v4),
        IpAddr::V6(v6) => RecordData::Aaaa(v6),
    };
    Message {
        is_response: true,
        answers: vec![record(
            DnsName::service_type(),
            4500,
            RecordData::Ptr(name.clone()),
        )],
        additional: vec![
            record(
                name.clone(),
                120,
                RecordData::Srv {
                    priority: 0,
                    weight: 0,
                    port: 5298,
                    target: DnsName::host(host),
                },
            ),
            record(name, 4500, RecordData::Txt(txt(status))),
            record(DnsName::host(host), 120, address),
        ],
        ..Message::default()
    }
}

fn feed(
    browser: &mut Browser,
    now: Instant,
    interface: u32,
    message: &Message,
) -> Vec<ServiceEvent> {
    browser.handle_input(now, PEER, interface, &message.encode().unwrap());
    std::iter::from_fn(|| browser.poll_event()).collect()
}

/// When each query of the browser went out from `start` up to `until` after it, and
/// whether its first question asked for a unicast answer (QU).
fn query_times(browser: &mut Browser, start: Instant, until: Duration) -> Vec<(Duration, bool)> {
    queries(browser, start, until)
        .iter()
        .map(|(at, query)| (*at, query.questions[0].unicast_response))
        .collect()
}

fn queries(browser: &mut Browser, start: Instant, until: Duration) -> Vec<(Duration, Message)> {
    let mut out = Vec::new();
    while let Some(at) = browser.poll_timeout().filter(|&at| at <= start + until) {
        browser.handle_timeout(at);
        while let Some(t) = browser.poll_transmit() {
            out.push((at - start, Message::decode(&t.payload).unwrap()));
        }
    }
    out
}

#[test]
fn ptr_queries_back_off_from_one_second_doubling() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    let sent = queries(&mut browser, start, Duration::from_secs(40));
    let times: Vec<Duration> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        times[0],
        Duration::ZERO,
        "the first query at once, as a Mac's"
    );
    let gaps: Vec<u64> = times.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert_eq!(gaps, vec![1, 2, 4, 8, 16]);
    assert!(sent
        .iter()
        .all(|(_, m)| m.questions[0].name == DnsName::service_type()
            && m.questions[0].qtype == rtype::PTR));
}

#[test]
fn a_full_answer_resolves_with_every_address_merged() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    let v4 = IpAddr::V4(Ipv4Addr::new(169, 254, 7, 7));
    let events = feed(
        &mut browser,
        start,
        2,
        &service("x #2", "hostx", v4, "avail"),
    );
    let [ServiceEvent::Resolved(s)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        (s.instance.as_str(), s.host.as_str(), s.port),
        ("x #2", "hostx", 5298)
    );
    // The same host's IPv6 link-local address on another interface joins the instance.
    let v6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 7));
    let more = Message {
        is_response: true,
        answers: vec![record(
            DnsName::host("hostx"),
            120,
            RecordData::Aaaa(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 7)),
        )],
        ..Message::default()
    };
    let events = feed(&mut browser, start, 3, &more);
    let [ServiceEvent::Updated(s)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        s.addresses,
        vec![
            InterfaceAddr {
                interface: 2,
                ip: v4
            },
            InterfaceAddr {
                interface: 3,
                ip: v6
            }
        ]
    );
}

#[test]
fn own_instance_is_filtered_out() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    browser.set_own_instance(Some("Me@Here".into()));
    let events = feed(
        &mut browser,
        start,
        1,
        &service("me@here", "here", IpAddr::V4(Ipv4Addr::LOCALHOST), "avail"),
    );
    assert!(events.is_empty());
}

#[test]
fn a_new_txt_with_the_cache_flush_bit_replaces_the_old_one() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    let ip = IpAddr::V4(Ipv4Addr::new(169, 254, 7, 7));
    feed(&mut browser, start, 1, &service("bob@b", "b", ip, "avail"));
    let later = start + Duration::from_secs(5);
    let events = feed(&mut browser, later, 1, &service("bob@b", "b", ip, "dnd"));
    let [ServiceEvent::Updated(s)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(s.txt.get_str("status"), Some("dnd"));
    // The old TXT lingers one second, then only the new one is held.
    browser.handle_timeout(later + Duration::from_secs(2));
    let s = browser.services().next().unwrap();
    assert_eq!(s.txt.get_str("status"), Some("dnd"));
}

#[test]
fn missing_records_are_asked_for() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    let ptr_only = Message {
        is_response: true,
        answers: vec![record(
            DnsName::service_type(),
            4500,
            RecordData::Ptr(DnsName::instance("carol@c")),
        )],
        ..Message::default()
    };
    assert!(feed(&mut browser, start, 1, &ptr_only).is_empty());
    let sent = queries(&mut browser, start, Duration::from_millis(200));
    let asked: Vec<(DnsName, u16)> = sent
        .iter()
        .flat_map(|(_, m)| m.questions.iter().map(|q| (q.name.clone(), q.qtype)))
        .collect();
    assert!(asked.contains(&(DnsName::instance("carol@c"), rtype::SRV)));
    assert!(asked.contains(&(DnsName::instance("carol@c"), rtype::TXT)));
}

#[test]
fn known_answers_ride_along_and_records_are_refreshed_before_they_expire() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    feed(
        &mut browser,
        start,
        1,
        &service(
            "dave@d",
            "d",
            IpAddr::V4(Ipv4Addr::new(169, 254, 7, 8)),
            "avail",
        ),
    );
    let sent = queries(&mut browser, start, Duration::from_secs(119));
    let first_ptr_query = &sent[0].1;
    assert_eq!(
        first_ptr_query.answers.len(),
        1,
        "the cached PTR is a known answer"
    );
    // Refreshes of the 120 s SRV and A: at 80, 85, 90 and 95 % (+ up to 2 %).
    let srv_refreshes: Vec<Duration> = sent
        .iter()
        .filter(|(_, m)| m.questions.iter().any(|q| q.qtype == rtype::SRV))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(srv_refreshes.len(), 4, "{srv_refreshes:?}");
    for (t, percent) in srv_refreshes.iter().zip([80, 85, 90, 95]) {
        let low = Duration::from_millis(120 * 10 * percent);
        assert!(
            *t >= low && *t <= low + Duration::from_millis(2400),
            "{t:?} for {percent} %"
        );
    }
    browser.handle_timeout(start + Duration::from_secs(121));
    let events: Vec<ServiceEvent> = std::iter::from_fn(|| browser.poll_event()).collect();
    assert_eq!(
        events,
        vec![ServiceEvent::Removed {
            instance: "dave@d".into()
        }]
    );
}

#[test]
fn a_flood_of_services_is_bounded() {
    let start = Instant::now();
    let config = BrowserConfig {
        max_records: 100,
        max_records_per_name: 4,
        max_services: 20,
    };
    let mut browser = Browser::new(config, start, 1);
    for n in 0..200u8 {
        let message = service(
            &format!("f{n}@x"),
            &format!("x{n}"),
            IpAddr::V4(Ipv4Addr::new(10, 1, 0, n)),
            "avail",
        );
        browser.handle_input(start, PEER, 1, &message.encode().unwrap());
    }
    assert!(browser.cached_records() <= 100);
    assert!(browser.services().count() <= 20);
    assert!(browser.stats().dropped_records > 0);
    // One host with many addresses is bounded too.
    let many = Message {
        is_response: true,
        answers: (0..50u8)
            .map(|n| {
                record(
                    DnsName::host("x1"),
                    120,
                    RecordData::A(Ipv4Addr::new(10, 2, 0, n)),
                )
            })
            .collect(),
        ..Message::default()
    };
    browser.handle_input(start, PEER, 1, &many.encode().unwrap());
    let x1 = browser
        .services()
        .find(|s| s.host == "x1")
        .map(|s| s.addresses.len());
    assert!(x1.unwrap_or(0) <= 4);
}

#[test]
fn responses_from_other_ports_and_queries_are_not_cached() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    let message = service(
        "eve@e",
        "e",
        IpAddr::V4(Ipv4Addr::new(169, 254, 7, 9)),
        "avail",
    );
    browser.handle_input(
        start,
        SocketAddr::new(PEER.ip(), 12345),
        1,
        &message.encode().unwrap(),
    );
    let mut as_query = message.clone();
    as_query.is_response = false;
    browser.handle_input(start, PEER, 1, &as_query.encode().unwrap());
    assert_eq!(browser.cached_records(), 0);
}

/// A service whose TXT announces an avatar by its hash (`phsh`), without the NULL record.
fn service_with_avatar_hash(instance: &str, phsh: &str) -> Message {
    let mut message = service(
        instance,
        "pronto",
        IpAddr::V4(Ipv4Addr::new(169, 254, 3, 3)),
        "avail",
    );
    let mut txt = txt("avail");
    txt.insert("phsh", phsh).unwrap();
    message.additional[1].data = RecordData::Txt(txt);
    message
}

fn avatar_record(instance: &str, bytes: &[u8]) -> Message {
    Message {
        is_response: true,
        answers: vec![record(
            DnsName::instance(instance),
            120,
            RecordData::Null(bytes.to_vec()),
        )],
        ..Message::default()
    }
}

fn null_questions(sent: &[(Duration, Message)], instance: &str) -> Vec<Duration> {
    sent.iter()
        .filter(|(_, m)| {
            m.questions
                .iter()
                .any(|q| q.qtype == rtype::NULL && q.name == DnsName::instance(instance))
        })
        .map(|(at, _)| *at)
        .collect()
}

#[test]
fn an_avatar_announced_by_its_hash_is_asked_for_and_reported_once_it_matches() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 7);
    let image = b"\x89PNG\r\n\x1a\n not really an image".repeat(50);
    let phsh = avatar_phsh(&image);
    let events = feed(
        &mut browser,
        start,
        1,
        &service_with_avatar_hash("alice@pronto", &phsh),
    );
    let [ServiceEvent::Resolved(resolved)] = events.as_slice() else {
        panic!("expected one Resolved, got {events:?}");
    };
    assert_eq!(resolved.avatar, None);

    let sent = queries(&mut browser, start, Duration::from_millis(500));
    let asked = null_questions(&sent, "alice@pronto");
    assert_eq!(
        asked.len(),
        1,
        "one query for the NULL record soon: {sent:?}"
    );
    assert!(asked[0] <= Duration::from_millis(120));

    // A NULL record that does not match the hash is not the avatar.
    let now = start + Duration::from_millis(600);
    assert_eq!(
        feed(
            &mut browser,
            now,
            1,
            &avatar_record("alice@pronto", b"something else")
        ),
        []
    );
    let now = start + Duration::from_millis(700);
    let events = feed(&mut browser, now, 1, &avatar_record("alice@pronto", &image));
    let [ServiceEvent::Updated(updated)] = events.as_slice() else {
        panic!("expected one Updated, got {events:?}");
    };
    assert_eq!(updated.avatar.as_deref(), Some(&image[..]));
    let later = queries(&mut browser, start, Duration::from_secs(30));
    assert_eq!(
        null_questions(&later, "alice@pronto"),
        [],
        "asked again after it came"
    );
}

#[test]
fn an_avatar_that_never_comes_is_asked_for_a_few_times_then_left_until_its_hash_changes() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 7);
    feed(
        &mut browser,
        start,
        1,
        &service_with_avatar_hash("bob@pronto", "00ff"),
    );
    let sent = queries(&mut browser, start, Duration::from_secs(60));
    let asked = null_questions(&sent, "bob@pronto");
    assert_eq!(asked.len(), 4, "{asked:?}");
    // A new hash is a new avatar: asked for again.
    let now = start + Duration::from_secs(61);
    feed(
        &mut browser,
        now,
        1,
        &service_with_avatar_hash("bob@pronto", "11ee"),
    );
    let sent = queries(&mut browser, start, Duration::from_secs(62));
    assert_eq!(null_questions(&sent, "bob@pronto").len(), 1);
}

/// RFC 6762 §5.4: the first browse query asks for a unicast answer (a responder that
/// multicast its pointers less than a second ago answers it anyway, to us alone); the
/// ones after it do not.
#[test]
fn the_first_browse_query_asks_for_a_unicast_answer() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    let sent = queries(&mut browser, start, Duration::from_secs(10));
    let qu: Vec<bool> = sent
        .iter()
        .map(|(_, m)| m.questions[0].unicast_response)
        .collect();
    assert_eq!(qu, vec![true, false, false, false]);
}

/// A pointer-only response for `instances`, as a Mac holding many services sends.
fn pointers(instances: impl IntoIterator<Item = String>) -> Message {
    Message {
        is_response: true,
        answers: instances
            .into_iter()
            .map(|i| {
                record(
                    DnsName::service_type(),
                    4500,
                    RecordData::Ptr(DnsName::instance(&i)),
                )
            })
            .collect(),
        ..Message::default()
    }
}

/// A hundred pointers in three packets a millisecond apart (as mDNSResponder sends them):
/// their SRV and TXT are asked for in one burst, 20–120 ms after the first packet, each
/// name once, first asking for unicast answers, in queries that fit an Ethernet frame;
/// names still unanswered are asked again a second later, without QU.
#[test]
fn a_hundred_pointers_in_several_packets_are_resolved_in_one_burst() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    // Past the first browse query.
    let _ = queries(&mut browser, start, Duration::from_millis(200));
    let names: Vec<String> = (1..=100).map(|i| format!("user{i}@hostd")).collect();
    let arrived = start + Duration::from_millis(300);
    for (n, chunk) in names.chunks(40).enumerate() {
        let at = arrived + Duration::from_millis(n as u64);
        assert!(feed(&mut browser, at, 1, &pointers(chunk.to_vec())).is_empty());
    }
    let mut burst: Vec<(Instant, Vec<u8>)> = Vec::new();
    while let Some(at) = browser
        .poll_timeout()
        .filter(|&at| at <= arrived + Duration::from_millis(500))
    {
        browser.handle_timeout(at);
        burst.extend(std::iter::from_fn(|| browser.poll_transmit()).map(|t| (at, t.payload)));
    }
    let resolving: Vec<&(Instant, Vec<u8>)> = burst
        .iter()
        .filter(|(_, p)| {
            Message::decode(p)
                .unwrap()
                .questions
                .iter()
                .any(|q| q.qtype == rtype::SRV)
        })
        .collect();
    assert!(resolving.len() > 1, "more than one frame's worth");
    let at = resolving[0].0;
    assert!(resolving.iter().all(|(t, _)| *t == at), "one burst");
    let delay = at - arrived;
    assert!(delay >= Duration::from_millis(20) && delay <= Duration::from_millis(120));
    let mut asked: Vec<(DnsName, u16)> = Vec::new();
    for (_, payload) in &resolving {
        assert!(payload.len() <= 1440, "{} bytes", payload.len());
        for q in Message::decode(payload).unwrap().questions {
            assert!(q.unicast_response, "{q:?}");
            asked.push((q.name, q.qtype));
        }
    }
    let wanted: Vec<(DnsName, u16)> = names
        .iter()
        .flat_map(|n| {
            [
                (DnsName::instance(n), rtype::SRV),
                (DnsName::instance(n), rtype::TXT),
            ]
        })
        .collect();
    asked.sort_by_key(|(n, t)| (n.to_string(), *t));
    let mut wanted_sorted = wanted.clone();
    wanted_sorted.sort_by_key(|(n, t)| (n.to_string(), *t));
    assert_eq!(asked, wanted_sorted);
    // No answer came: asked once more a second later, as plain multicast questions.
    let again = queries(&mut browser, at, Duration::from_millis(1100));
    let retried: Vec<&Question> = again
        .iter()
        .flat_map(|(_, m)| m.questions.iter())
        .filter(|q| q.qtype == rtype::SRV)
        .collect();
    assert_eq!(retried.len(), 100);
    assert!(retried.iter().all(|q| !q.unicast_response));
}

/// A link that comes (an interface up, a cable in) restarts the browse at once, its first
/// query asking for unicast answers, instead of waiting for the next query of a series
/// backed off to 16 s (up to an hour later on).
#[test]
fn a_link_that_comes_restarts_the_browse_at_once() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    browser.set_interfaces(start, &[2]);
    let _ = queries(&mut browser, start, Duration::from_secs(20));
    let came = start + Duration::from_secs(20);
    browser.set_interfaces(came, &[2, 3]);
    assert_eq!(
        query_times(&mut browser, came, Duration::from_secs(4)),
        vec![
            (Duration::ZERO, true),
            (Duration::from_secs(1), false),
            (Duration::from_secs(3), false)
        ]
    );
    // The same set again changes nothing.
    browser.set_interfaces(came + Duration::from_secs(4), &[3, 2]);
    let next = browser.poll_timeout().unwrap();
    assert!(next >= came + Duration::from_secs(7), "{:?}", next - came);
}

/// A socket that opens only now on a link we had (it had failed to) restarts the browse
/// at once with QU, as a link that came does: what we asked there before was never heard.
#[test]
fn a_link_reopened_restarts_the_browse_at_once() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    browser.set_interfaces(start, &[2]);
    let _ = queries(&mut browser, start, Duration::from_secs(20));
    let reopened = start + Duration::from_secs(20);
    browser.link_reopened(reopened);
    assert_eq!(
        query_times(&mut browser, reopened, Duration::from_secs(2)),
        vec![(Duration::ZERO, true), (Duration::from_secs(1), false)]
    );
}

/// A peer last heard on a link that went is gone 5 s later unless heard again, and the
/// browse starts over on the links that remain; a peer on a remaining link stays. A cable
/// out and back in within those 5 s loses no one: the browse starts over on link-up and
/// the answers keep the peers.
#[test]
fn peers_of_a_link_that_went_go_unless_heard_again() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    browser.set_interfaces(start, &[2, 3]);
    let v4 = |d| IpAddr::V4(Ipv4Addr::new(169, 254, 7, d));
    feed(
        &mut browser,
        start,
        2,
        &service("ann@a", "a", v4(1), "avail"),
    );
    feed(
        &mut browser,
        start,
        3,
        &service("bea@b", "b", v4(2), "avail"),
    );
    let _ = queries(&mut browser, start, Duration::from_secs(10));
    let went = start + Duration::from_secs(10);
    browser.set_interfaces(went, &[2]);
    let mut removed = Vec::new();
    let mut asked_at_once = false;
    while let Some(at) = browser
        .poll_timeout()
        .filter(|&at| at <= went + Duration::from_secs(6))
    {
        browser.handle_timeout(at);
        while let Some(t) = browser.poll_transmit() {
            asked_at_once |=
                at == went && Message::decode(&t.payload).unwrap().questions[0].qtype == rtype::PTR;
        }
        while let Some(event) = browser.poll_event() {
            if let ServiceEvent::Removed { instance } = event {
                removed.push((at - went, instance));
            }
        }
    }
    assert!(
        asked_at_once,
        "the browse starts over on the link that remains"
    );
    assert_eq!(removed, vec![(Duration::from_secs(5), "bea@b".to_owned())]);

    // Cable out and in within the grace: heard again, never removed.
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    browser.set_interfaces(start, &[2]);
    feed(
        &mut browser,
        start,
        2,
        &service("ann@a", "a", v4(1), "avail"),
    );
    let _ = queries(&mut browser, start, Duration::from_secs(10));
    browser.set_interfaces(went, &[]);
    let back = went + Duration::from_secs(3);
    browser.set_interfaces(back, &[2]);
    let sent = queries(&mut browser, back, Duration::ZERO);
    assert!(
        sent[0].1.questions[0].unicast_response,
        "asked at once on link-up"
    );
    // The known answers leave ann out: she must answer again.
    assert!(sent[0].1.answers.is_empty(), "{:?}", sent[0].1.answers);
    let events = feed(
        &mut browser,
        back + Duration::from_millis(50),
        2,
        &service("ann@a", "a", v4(1), "avail"),
    );
    assert!(events.is_empty(), "{events:?}");
    let mut later = Vec::new();
    while let Some(at) = browser
        .poll_timeout()
        .filter(|&at| at <= back + Duration::from_secs(20))
    {
        browser.handle_timeout(at);
        while browser.poll_transmit().is_some() {}
        later.extend(std::iter::from_fn(|| browser.poll_event()));
    }
    assert!(later.is_empty(), "{later:?}");
}

/// Avahi, asked for the SRV and TXT of a service on a host whose address it multicast
/// less than a second before (for another service of that host), answers them without
/// the address (RFC 6762 §6: not again within a second). Interop scenario 7 caught it: the
/// browser then stopped resolving the service for good.
#[test]
fn an_srv_that_comes_without_its_hosts_address_is_followed_by_a_question_for_it() {
    let start = Instant::now();
    let mut browser = Browser::new(BrowserConfig::default(), start, 1);
    let instance = DnsName::instance("echobot@hostb");
    let host = DnsName::host("hostb");
    let ptr_only = Message {
        is_response: true,
        answers: vec![record(
            DnsName::service_type(),
            4500,
            RecordData::Ptr(instance.clone()),
        )],
        ..Message::default()
    };
    assert!(feed(&mut browser, start, 1, &ptr_only).is_empty());
    let asked_for_srv = queries(&mut browser, start, Duration::from_millis(200));
    assert!(asked_for_srv
        .iter()
        .any(|(_, m)| m.questions.iter().any(|q| q.qtype == rtype::SRV)));
    let arrived = start + Duration::from_millis(200);
    let srv_and_txt = Message {
        is_response: true,
        answers: vec![
            record(
                instance.clone(),
                120,
                RecordData::Srv {
                    priority: 0,
                    weight: 0,
                    port: 5298,
                    target: host.clone(),
                },
            ),
            record(instance, 4500, RecordData::Txt(txt("avail"))),
        ],
        ..Message::default()
    };
    assert!(feed(&mut browser, arrived, 1, &srv_and_txt).is_empty());
    let sent = queries(&mut browser, start, Duration::from_secs(5));
    let address_questions: Vec<(Duration, u16, bool)> = sent
        .iter()
        .flat_map(|(at, m)| {
            m.questions
                .iter()
                .filter(|q| q.name == host)
                .map(move |q| (*at, q.qtype, q.unicast_response))
        })
        .collect();
    let first = address_questions
        .first()
        .unwrap_or_else(|| panic!("no question for {host} in {sent:?}"));
    assert!(
        first.0 <= Duration::from_millis(200 + 120),
        "asked for the address {:?} after the SRV came",
        first.0 - Duration::from_millis(200)
    );
    assert!(address_questions
        .iter()
        .any(|(at, qtype, _)| *at == first.0 && *qtype == rtype::A));
    assert!(
        first.2,
        "the first question for a new name asks for a unicast answer"
    );
    let answered = start + Duration::from_secs(5);
    let address = Message {
        is_response: true,
        answers: vec![record(
            host,
            120,
            RecordData::A(Ipv4Addr::new(10, 83, 0, 2)),
        )],
        ..Message::default()
    };
    let events = feed(&mut browser, answered, 1, &address);
    assert!(
        matches!(&events[..], [ServiceEvent::Resolved(s)] if s.instance == "echobot@hostb"
            && s.addresses.iter().any(|a| a.ip == IpAddr::V4(Ipv4Addr::new(10, 83, 0, 2)))),
        "{events:?}"
    );
}
