//! Properties: TXT and records survive the wire; no byte string upsets the machines.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use llxmpp_dnssd::{
    Browser, BrowserConfig, DnsName, InterfaceAddr, Message, Question, Record, RecordData,
    Responder, ResponderConfig, ServiceEvent, ServiceInfo, TxtRecord,
};
use proptest::prelude::*;

fn txt() -> impl Strategy<Value = TxtRecord> {
    prop::collection::vec(
        (
            "[!-<>-~][ -<>-~]{0,8}",
            prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        ),
        0..8,
    )
    .prop_map(|entries| {
        let mut txt = TxtRecord::new();
        for (key, value) in entries {
            match value {
                Some(value) => txt.insert(&key, value).unwrap(),
                None => txt.insert_flag(&key).unwrap(),
            }
        }
        txt
    })
}

fn label() -> impl Strategy<Value = String> {
    // Opaque labels, as instance names are: dots, spaces, `@`, `#`, `(`, `\`, UTF-8.
    "[a-zA-Z0-9 .@#()\\\\é_-]{1,20}"
}

fn record() -> impl Strategy<Value = Record> {
    let data = prop_oneof![
        label().prop_map(|l| RecordData::Ptr(DnsName::instance(&l))),
        (any::<u16>(), label()).prop_map(|(port, host)| RecordData::Srv {
            priority: 0,
            weight: 0,
            port,
            target: DnsName::host(&host)
        }),
        txt().prop_map(RecordData::Txt),
        any::<u32>().prop_map(|ip| RecordData::A(Ipv4Addr::from(ip))),
        any::<u128>().prop_map(|ip| RecordData::Aaaa(Ipv6Addr::from(ip))),
        prop::collection::vec(any::<u8>(), 1..100).prop_map(RecordData::Null),
    ];
    (label(), any::<u32>(), any::<bool>(), data).prop_map(|(name, ttl, cache_flush, data)| Record {
        name: DnsName::instance(&name),
        ttl: ttl & 0x7FFF_FFFF,
        cache_flush,
        data,
    })
}

fn service(instance: &str, n: u8) -> ServiceInfo {
    let mut txt = TxtRecord::new();
    txt.insert("txtvers", "1").unwrap();
    ServiceInfo {
        instance: instance.into(),
        host: format!("h{n}"),
        port: 5298,
        addresses: vec![InterfaceAddr {
            interface: 1,
            ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)),
        }],
        txt,
        avatar: None,
    }
}

const FROM: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(169, 254, 3, 3)), 5353);

proptest! {
    #[test]
    fn txt_round_trips(txt in txt()) {
        prop_assert_eq!(TxtRecord::from_strings(txt.to_strings()), txt);
    }

    #[test]
    fn records_round_trip(answers in prop::collection::vec(record(), 0..6), additional in prop::collection::vec(record(), 0..3), is_response in any::<bool>()) {
        let message = Message { id: 0, is_response, truncated: false, questions: vec![Question { name: DnsName::service_type(), qtype: 12, unicast_response: true }], answers, authority: Vec::new(), additional, skipped_records: 0 };
        let decoded = Message::decode(&message.encode().unwrap()).unwrap();
        prop_assert_eq!(decoded, message);
    }

    #[test]
    fn garbage_leaves_the_machines_working(garbage in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 1..20)) {
        let start = Instant::now();
        let mut responder = Responder::new(service("me@here", 1), ResponderConfig::default(), start, 9).unwrap();
        let mut browser = Browser::new(BrowserConfig::default(), start, 9);
        let mut now = start;
        for bytes in &garbage {
            responder.handle_input(now, FROM, 1, bytes);
            browser.handle_input(now, FROM, 1, bytes);
            now += Duration::from_millis(50);
            for _ in 0..3 {
                if let Some(at) = responder.poll_timeout() { if at <= now { responder.handle_timeout(now); } }
                if let Some(at) = browser.poll_timeout() { if at <= now { browser.handle_timeout(now); } }
            }
            while responder.poll_transmit().is_some() {}
            while browser.poll_transmit().is_some() {}
        }
        // The browser still resolves a real announcement, and the responder still gets
        // its name (unless the garbage happened to be a conflicting response for it).
        let peer = service("peer@there", 2);
        let mut announcer = Responder::new(peer, ResponderConfig::default(), now, 1).unwrap();
        let end = now + Duration::from_secs(5);
        while let Some(at) = announcer.poll_timeout().filter(|&at| at <= end) {
            announcer.handle_timeout(at);
            while let Some(t) = announcer.poll_transmit() {
                browser.handle_input(at, FROM, 1, &t.payload);
            }
        }
        let resolved = std::iter::from_fn(|| browser.poll_event()).any(|e| matches!(e, ServiceEvent::Resolved(s) if s.instance == "peer@there"));
        prop_assert!(resolved);
        while let Some(at) = responder.poll_timeout().filter(|&at| at <= end) {
            responder.handle_timeout(at);
        }
        prop_assert!(responder.is_established());
        prop_assert!(browser.cached_records() <= BrowserConfig::default().max_records);
    }
}
