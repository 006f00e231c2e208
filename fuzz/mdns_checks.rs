//! The property of the `mdns` fuzz target, shared with the dnssd tests that replay its
//! seeds: arbitrary datagrams into a responder and a browser never panic, keep the
//! browser's cache within its bounds, and leave both working.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use llxmpp_dnssd::{
    Browser, BrowserConfig, InterfaceAddr, Message, Responder, ResponderConfig, ServiceInfo,
    TxtRecord,
};

/// `mdns` target: the input is a sequence of datagrams, each prefixed by a length byte and
/// a byte whose low bit picks the source port (5353 or a legacy one).
pub fn check_mdns(data: &[u8]) {
    let start = Instant::now();
    let mut txt = TxtRecord::new();
    let _ = txt.insert("txtvers", "1");
    let service = ServiceInfo {
        instance: "fuzz@host".into(),
        host: "host".into(),
        port: 5298,
        addresses: vec![InterfaceAddr {
            interface: 1,
            ip: IpAddr::V4(Ipv4Addr::new(169, 254, 0, 1)),
        }],
        txt,
        avatar: None,
    };
    let config = BrowserConfig {
        max_records: 64,
        max_records_per_name: 8,
        max_services: 16,
    };
    let mut responder =
        Responder::new(service, ResponderConfig::default(), start, 1).expect("valid service");
    let mut browser = Browser::new(config, start, 1);
    let mut now = start;
    let mut rest = data;
    while let [len, flags, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (datagram, after) = tail.split_at(len);
        rest = after;
        let port = if flags & 1 == 0 { 5353 } else { 40000 };
        let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(169, 254, 0, 2)), port);
        responder.handle_input(now, from, 1, datagram);
        browser.handle_input(now, from, 1, datagram);
        if let Ok(message) = Message::decode(datagram) {
            // What decodes must encode and decode to itself, less what was skipped.
            if let Ok(bytes) = message.encode() {
                let kept = Message {
                    skipped_records: 0,
                    ..message
                };
                assert_eq!(Message::decode(&bytes).as_ref(), Ok(&kept));
            }
        }
        now += Duration::from_millis(u64::from(*flags >> 1) * 10);
        for _ in 0..4 {
            if let Some(at) = responder.poll_timeout().filter(|&at| at <= now) {
                responder.handle_timeout(at);
            }
            if let Some(at) = browser.poll_timeout().filter(|&at| at <= now) {
                browser.handle_timeout(at);
            }
        }
        while responder.poll_transmit().is_some() {}
        while browser.poll_transmit().is_some() {}
        while browser.poll_event().is_some() {}
        assert!(browser.cached_records() <= config.max_records);
        assert!(browser.services().count() <= config.max_services);
    }
}
