//! Real packets of Apple's mDNSResponder and python-zeroconf 0.47 (tests/vectors, captured
//! as its README says) decode into the records a browser needs. Before our own section
//! walker, every mDNSResponder packet was refused (its EDNS0 OPT record read as a non-zero
//! RCODE) and every python-zeroconf packet with an NSEC record was refused whole.

use std::net::{Ipv4Addr, Ipv6Addr};

use llxmpp_dnssd::{rtype, DnsName, Message, Record, RecordData};

macro_rules! vector {
    ($name:literal) => {
        Message::decode(include_bytes!(concat!("vectors/", $name)))
            .unwrap_or_else(|e| panic!("{}: {e}", $name))
    };
}

fn records(message: &Message) -> impl Iterator<Item = &Record> {
    message
        .answers
        .iter()
        .chain(&message.authority)
        .chain(&message.additional)
}

fn find(message: &Message, name: &DnsName, rtype: u16) -> Option<RecordData> {
    records(message)
        .find(|r| &r.name == name && r.data.rtype() == rtype)
        .map(|r| r.data.clone())
}

fn status(message: &Message, instance: &DnsName) -> Option<String> {
    match find(message, instance, rtype::TXT)? {
        RecordData::Txt(txt) => txt.get_str("status").map(str::to_owned),
        _ => None,
    }
}

/// The Mac's addresses in the captures.
const MAC_V4: Ipv4Addr = Ipv4Addr::new(10, 84, 0, 4);
const MAC_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0xd8f9, 0x9fff, 0xfe31, 0x424f);

/// The whole service as a browser needs it: PTR, SRV, TXT with status, A and AAAA.
fn assert_whole_service(message: &Message, instance: &str, status_is: &str) {
    let name = DnsName::instance(instance);
    let host = DnsName::host("hostd");
    assert!(records(message)
        .any(|r| r.name.is_service_type() && r.data == RecordData::Ptr(name.clone())));
    assert_eq!(
        find(message, &name, rtype::SRV),
        Some(RecordData::Srv {
            priority: 0,
            weight: 0,
            port: 5298,
            target: host.clone()
        })
    );
    assert_eq!(status(message, &name).as_deref(), Some(status_is));
    assert_eq!(find(message, &host, rtype::A), Some(RecordData::A(MAC_V4)));
    assert_eq!(
        find(message, &host, rtype::AAAA),
        Some(RecordData::Aaaa(MAC_V6))
    );
}

#[test]
fn mdnsresponder_announcements_carry_the_whole_service() {
    for message in [
        vector!("mdnsresponder-announce.bin"),
        vector!("mdnsresponder-announce-with-reverse.bin"),
    ] {
        assert!(message.is_response);
        assert_whole_service(&message, "bob@hostd", "avail");
        assert_eq!(message.skipped_records, 0);
        // Its NSEC records (RFC 6762 §6.1) are well formed and kept by their type.
        assert!(records(&message).any(|r| matches!(r.data, RecordData::Nsec { .. })));
    }
    let message = vector!("mdnsresponder-dns-sd-R-announce.bin");
    assert_whole_service(&message, "bob", "avail");
}

#[test]
fn mdnsresponder_answers_to_queries_decode() {
    // A multicast PTR question: the PTR, with SRV, TXT, A and AAAA as additional records.
    let ptr = vector!("mdnsresponder-answer-ptr.bin");
    assert_whole_service(&ptr, "bob@hostd", "avail");
    // A QU question: the same, unicast.
    let unicast = vector!("mdnsresponder-answer-qu-unicast.bin");
    assert_whole_service(&unicast, "bob@hostd", "avail");
    let srv_txt = vector!("mdnsresponder-answer-srv-txt.bin");
    assert!(find(&srv_txt, &DnsName::instance("bob@hostd"), rtype::SRV).is_some());
    assert_eq!(
        status(&srv_txt, &DnsName::instance("bob@hostd")).as_deref(),
        Some("avail")
    );
    let addresses = vector!("mdnsresponder-answer-a-aaaa.bin");
    assert_eq!(
        find(&addresses, &DnsName::host("hostd"), rtype::A),
        Some(RecordData::A(MAC_V4))
    );
    for message in [ptr, unicast, srv_txt, addresses] {
        assert_eq!(message.skipped_records, 0);
    }
}

#[test]
fn mdnsresponder_txt_update_in_place_is_the_new_status() {
    let message = vector!("mdnsresponder-txt-update.bin");
    let name = DnsName::instance("bob@hostd");
    assert_eq!(status(&message, &name).as_deref(), Some("away"));
    let Some(RecordData::Txt(txt)) = find(&message, &name, rtype::TXT) else {
        panic!("no TXT");
    };
    assert_eq!(txt.get_str("msg"), Some("gone_fishing"));
    assert!(message.answers[0].cache_flush);
}

#[test]
fn mdnsresponder_goodbyes_are_a_ptr_with_ttl_zero() {
    for (message, instance) in [
        (vector!("mdnsresponder-goodbye.bin"), "bob@hostd"),
        (vector!("mdnsresponder-dns-sd-R-goodbye.bin"), "bob"),
    ] {
        assert_eq!(message.answers.len(), 1, "{message:?}");
        let goodbye = &message.answers[0];
        assert!(goodbye.name.is_service_type());
        assert_eq!(goodbye.data, RecordData::Ptr(DnsName::instance(instance)));
        assert_eq!(goodbye.ttl, 0);
    }
}

#[test]
fn mdnsresponder_queries_decode_with_their_qu_bit_and_known_answers() {
    let probe = vector!("mdnsresponder-probe.bin");
    assert!(!probe.is_response);
    assert!(probe
        .questions
        .iter()
        .all(|q| q.unicast_response && q.qtype == rtype::ANY));
    assert_eq!(probe.authority.len(), 3);
    let browse = vector!("mdnsresponder-browse-query.bin");
    assert!(browse.questions[0].name.is_service_type() && browse.questions[0].unicast_response);
    assert_eq!(browse.answers.len(), 2, "two known answers");
    assert_eq!(vector!("mdnsresponder-reverse-ptr.bin").answers.len(), 2);
}

#[test]
fn python_zeroconf_packets_keep_their_records_beside_a_malformed_nsec() {
    let instance = DnsName::instance("pyz@hostp");
    let host = DnsName::host("hostp");
    // Window 0 empty, then window 0 again: RFC 4034 §4.1.2 allows neither; skipped.
    let ptr = vector!("zeroconf-answer-ptr-nsec.bin");
    assert_eq!(ptr.skipped_records, 1);
    assert!(ptr
        .answers
        .iter()
        .any(|r| r.data == RecordData::Ptr(instance.clone())));
    assert_eq!(status(&ptr, &instance).as_deref(), Some("dnd"));
    assert!(matches!(
        find(&ptr, &instance, rtype::SRV),
        Some(RecordData::Srv { port: 5303, .. })
    ));
    let srv_txt = vector!("zeroconf-answer-srv-txt-nsec.bin");
    assert_eq!(srv_txt.skipped_records, 1);
    assert_eq!(
        find(&srv_txt, &host, rtype::A),
        Some(RecordData::A(Ipv4Addr::new(10, 84, 0, 5)))
    );
    let a = vector!("zeroconf-answer-a-nsec.bin");
    assert_eq!((a.answers.len(), a.skipped_records), (1, 1));
    let nsec_only = vector!("zeroconf-answer-nsec.bin");
    assert_eq!((nsec_only.answers.len(), nsec_only.skipped_records), (0, 1));
}

#[test]
fn python_zeroconf_announcement_query_and_goodbye_decode() {
    let announce = vector!("zeroconf-announce.bin");
    assert_eq!(
        status(&announce, &DnsName::instance("pyz@hostp")).as_deref(),
        Some("dnd")
    );
    let goodbye = vector!("zeroconf-goodbye.bin");
    assert!(goodbye.answers.iter().all(|r| r.ttl == 0));
    let query = vector!("zeroconf-query-qu.bin");
    assert!(query.questions[0].unicast_response);
    for message in [announce, goodbye, query] {
        assert_eq!(message.skipped_records, 0);
    }
}

/// What a browser reports, in order, for the datagrams given at the times given.
fn browse(datagrams: &[(u64, &[u8])]) -> Vec<llxmpp_dnssd::ServiceEvent> {
    use std::net::{IpAddr, SocketAddr};
    use std::time::{Duration, Instant};

    use llxmpp_dnssd::{Browser, BrowserConfig};

    let start = Instant::now();
    let config = BrowserConfig {
        max_records: 256,
        max_records_per_name: 16,
        max_services: 16,
    };
    let mut browser = Browser::new(config, start, 7);
    let from = SocketAddr::new(IpAddr::V4(MAC_V4), 5353);
    let mut events = Vec::new();
    let drive = |browser: &mut Browser, until: Instant| {
        while let Some(at) = browser.poll_timeout().filter(|&at| at <= until) {
            browser.handle_timeout(at);
            while browser.poll_transmit().is_some() {}
        }
    };
    for &(ms, bytes) in datagrams {
        let now = start + Duration::from_millis(ms);
        drive(&mut browser, now);
        browser.handle_input(now, from, 1, bytes);
        while let Some(event) = browser.poll_event() {
            events.push(event);
        }
    }
    drive(&mut browser, start + Duration::from_secs(60));
    while let Some(event) = browser.poll_event() {
        events.push(event);
    }
    assert_eq!(browser.stats().malformed, 0);
    events
}

#[test]
fn a_browser_follows_a_mac_from_announcement_through_txt_update_to_goodbye() {
    use llxmpp_dnssd::ServiceEvent;

    let events = browse(&[
        (0, include_bytes!("vectors/mdnsresponder-announce.bin")),
        (1000, include_bytes!("vectors/mdnsresponder-txt-update.bin")),
        (2000, include_bytes!("vectors/mdnsresponder-goodbye.bin")),
    ]);
    let [ServiceEvent::Resolved(online), ServiceEvent::Updated(changed), ServiceEvent::Removed { instance }] =
        &events[..]
    else {
        panic!("{events:#?}");
    };
    assert_eq!(
        (online.instance.as_str(), online.host.as_str(), online.port),
        ("bob@hostd", "hostd", 5298)
    );
    assert_eq!(online.txt.get_str("status"), Some("avail"));
    assert_eq!(online.addresses[0].ip, MAC_V4);
    assert_eq!(changed.txt.get_str("status"), Some("away"));
    assert_eq!(instance, "bob@hostd");
}

#[test]
fn a_browser_resolves_python_zeroconf_from_packets_with_its_nsec() {
    use llxmpp_dnssd::ServiceEvent;

    let events = browse(&[(0, include_bytes!("vectors/zeroconf-answer-ptr-nsec.bin"))]);
    let Some(ServiceEvent::Resolved(pyz)) = events.first() else {
        panic!("{events:#?}");
    };
    assert_eq!((pyz.instance.as_str(), pyz.port), ("pyz@hostp", 5303));
    assert_eq!(pyz.txt.get_str("msg"), Some("python here"));
}
