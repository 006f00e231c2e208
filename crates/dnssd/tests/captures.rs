//! Every mDNS packet of a real session (Avahi, python-zeroconf, libpurple through Avahi;
//! a capture of a real session, kept in tests/data) decodes into the records seen on
//! the wire, and survives our encoder.

use std::net::Ipv4Addr;

use llxmpp_dnssd::{DnsName, Message, Record, RecordData, TxtRecord};

/// The UDP payloads to or from port 5353 in a pcapng file of Ethernet frames.
fn mdns_payloads(pcapng: &[u8]) -> Vec<Vec<u8>> {
    let u32_at = |at: usize| u32::from_le_bytes(pcapng[at..at + 4].try_into().unwrap());
    let mut payloads = Vec::new();
    let mut at = 0;
    while at + 12 <= pcapng.len() {
        let (kind, len) = (u32_at(at), u32_at(at + 4) as usize);
        if kind == 6 {
            // Enhanced Packet Block: captured length at +20, data at +28.
            let captured = u32_at(at + 20) as usize;
            let frame = &pcapng[at + 28..at + 28 + captured];
            if let Some(payload) = udp_5353_payload(frame) {
                payloads.push(payload.to_vec());
            }
        }
        at += len;
    }
    payloads
}

fn udp_5353_payload(frame: &[u8]) -> Option<&[u8]> {
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let ip = &frame[14..];
    let (protocol, udp) = match ethertype {
        0x0800 => (ip[9], &ip[usize::from(ip[0] & 0x0F) * 4..]),
        0x86DD => (ip[6], &ip[40..]),
        _ => return None,
    };
    let ports = (
        u16::from_be_bytes([udp[0], udp[1]]),
        u16::from_be_bytes([udp[2], udp[3]]),
    );
    (protocol == 17 && (ports.0 == 5353 || ports.1 == 5353)).then(|| &udp[8..])
}

fn all_records(messages: &[Message]) -> Vec<Record> {
    messages
        .iter()
        .flat_map(|m| m.answers.iter().chain(&m.authority).chain(&m.additional))
        .cloned()
        .collect()
}

#[test]
fn every_packet_of_the_session_decodes_and_reencodes() {
    let payloads = mdns_payloads(include_bytes!("data/session.pcapng"));
    assert_eq!(payloads.len(), 39, "mdns-summary.txt lists 39 mDNS packets");
    for payload in &payloads {
        let message = Message::decode(payload).unwrap_or_else(|e| panic!("{e}: {payload:?}"));
        let again = Message::decode(&message.encode().unwrap()).unwrap();
        assert_eq!(again, message);
    }
}

#[test]
fn python_zeroconf_and_libpurple_services_come_out_right() {
    let messages: Vec<Message> = mdns_payloads(include_bytes!("data/session.pcapng"))
        .iter()
        .map(|p| Message::decode(p).unwrap())
        .collect();
    let records = all_records(&messages);
    let find = |name: &DnsName, rtype: u16| {
        records
            .iter()
            .find(|r| &r.name == name && r.data.rtype() == rtype)
            .cloned()
    };

    let pypeer = DnsName::instance("pypeer@hostc");
    assert!(records
        .iter()
        .any(|r| r.data == RecordData::Ptr(pypeer.clone()) && r.name == DnsName::service_type()));
    let srv = find(&pypeer, llxmpp_dnssd::rtype::SRV).unwrap();
    assert!(srv.cache_flush);
    assert_eq!(
        srv.data,
        RecordData::Srv {
            priority: 0,
            weight: 0,
            port: 5298,
            target: DnsName::host("hostc-py")
        }
    );
    let Some(Record {
        data: RecordData::Txt(txt),
        ..
    }) = find(&pypeer, llxmpp_dnssd::rtype::TXT)
    else {
        panic!()
    };
    let expected = TxtRecord::from_strings([
        "txtvers=1",
        "port.p2pj=5298",
        "status=avail",
        "1st=pypeer",
        "last=Py",
        "msg=python peer",
        "node=pypeer",
        "vc=!",
    ]);
    assert_eq!(txt, expected);
    let a = find(&DnsName::host("hostc-py"), llxmpp_dnssd::rtype::A).unwrap();
    assert_eq!(a.data, RecordData::A(Ipv4Addr::new(169, 254, 77, 3)));

    // libpurple publishes through Avahi, which sends the TXT strings in reverse order.
    let echobot = DnsName::instance("echobot@hosta");
    let Some(Record {
        data: RecordData::Txt(txt),
        ttl,
        ..
    }) = find(&echobot, llxmpp_dnssd::rtype::TXT)
    else {
        panic!()
    };
    assert_eq!(ttl, 4500);
    assert_eq!(txt.entries()[0].key, "txtvers");
    for (key, value) in [
        ("1st", "Echo"),
        ("last", "Bot"),
        ("port.p2pj", "5298"),
        ("status", "avail"),
        ("node", "libpurple"),
        ("ver", "2.14.12"),
        ("vc", "!"),
    ] {
        assert_eq!(txt.get_str(key), Some(value), "{key}");
    }
    let srv = find(&echobot, llxmpp_dnssd::rtype::SRV).unwrap();
    assert_eq!(
        (srv.ttl, &srv.data),
        (
            120,
            &RecordData::Srv {
                priority: 0,
                weight: 0,
                port: 5298,
                target: DnsName::host("hosta")
            }
        )
    );

    // Probes carry the proposed records in the authority section (RFC 6762 §8.2).
    let probe = messages
        .iter()
        .find(|m| !m.is_response && m.authority.iter().any(|r| r.name == echobot))
        .unwrap();
    assert!(probe
        .questions
        .iter()
        .any(|q| q.name == echobot && q.qtype == llxmpp_dnssd::rtype::ANY));
    // QU questions from python-zeroconf.
    assert!(messages
        .iter()
        .any(|m| m.questions.iter().any(|q| q.unicast_response)));
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for bytes in [&b""[..], b"\x00", &[0xFF; 12], &[0; 9001]] {
        assert!(Message::decode(bytes).is_err());
    }
}
