//! DNS-SD costs per packet: encoding and decoding a full `_presence._tcp` response
//! (PTR + SRV + TXT with 8 keys + A + AAAA), and a browser taking one in.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use llxmpp_dnssd::{Browser, BrowserConfig, DnsName, Message, Record, RecordData, TxtRecord};

fn full_response(n: u32) -> Message {
    let instance = DnsName::instance(&format!("user{n}@machine{n}"));
    let host = DnsName::host(&format!("machine{n}"));
    let txt = TxtRecord::from_strings([
        "txtvers=1",
        "1st=Juliet",
        "last=Capulet",
        "nick=jules",
        "status=avail",
        "msg=on the balcony",
        "port.p2pj=5298",
        "vc=!",
    ]);
    let record = |name: &DnsName, ttl, cache_flush, data| Record {
        name: name.clone(),
        ttl,
        cache_flush,
        data,
    };
    Message {
        is_response: true,
        answers: vec![record(
            &DnsName::service_type(),
            4500,
            false,
            RecordData::Ptr(instance.clone()),
        )],
        additional: vec![
            record(
                &instance,
                120,
                true,
                RecordData::Srv {
                    priority: 0,
                    weight: 0,
                    port: 5298,
                    target: host.clone(),
                },
            ),
            record(&instance, 4500, true, RecordData::Txt(txt)),
            record(
                &host,
                120,
                true,
                RecordData::A(Ipv4Addr::from(0xA9FE_0000 + n)),
            ),
            record(
                &host,
                120,
                true,
                RecordData::Aaaa(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n as u16)),
            ),
        ],
        ..Message::default()
    }
}

fn bench(c: &mut Criterion) {
    let message = full_response(1);
    let bytes = message.encode().unwrap();
    let mut group = c.benchmark_group("dnssd");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_response", |b| {
        b.iter(|| black_box(&message).encode().unwrap())
    });
    group.bench_function("decode_response", |b| {
        b.iter(|| Message::decode(black_box(&bytes)).unwrap())
    });
    // A real announcement of Apple's mDNSResponder: PTR, SRV, TXT, A, AAAA and the
    // reverse-mapping PTRs, with NSEC and OPT records (416 bytes).
    let apple =
        include_bytes!("../../crates/dnssd/tests/vectors/mdnsresponder-announce-with-reverse.bin");
    group.bench_function("decode_mdnsresponder_announcement", |b| {
        b.iter(|| Message::decode(black_box(apple)))
    });
    // A browser that already knows 100 peers takes in one more peer's announcement;
    // each iteration is a fresh peer, so the work includes resolving it.
    let packets: Vec<Vec<u8>> = (0..20_000)
        .map(|n| full_response(n).encode().unwrap())
        .collect();
    let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(169, 254, 0, 1)), 5353);
    group.bench_function("browser_handle_input", |b| {
        let start = Instant::now();
        let mut browser = Browser::new(
            BrowserConfig {
                max_records: 1 << 20,
                max_records_per_name: 32,
                max_services: 1 << 20,
            },
            start,
            1,
        );
        for packet in &packets[..100] {
            browser.handle_input(start, from, 1, packet);
        }
        let mut next = 100;
        b.iter(|| {
            browser.handle_input(start, from, 1, &packets[next % packets.len()]);
            next += 1;
            while browser.poll_event().is_some() {}
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
