//! The IQs of a file offer, read and written: shapes as libpurple 2.14's Bonjour plugin
//! writes them (bonjour_ft.c), and ours read back.

use std::net::{Ipv6Addr, SocketAddr};

use llxmpp_framer::OwnedStanza;
use llxmpp_transfer::si::{self, ns};
use llxmpp_transfer::{FileOffer, IqAddress, Refusal, SiError, StreamHost, TransferIq};

fn parse(xml: &str) -> Result<Option<TransferIq>, SiError> {
    TransferIq::parse(&OwnedStanza::from_xml(xml))
}

const ADDRESS: IqAddress<'static> = IqAddress {
    id: "7",
    from: "alice@hosta",
    to: "bob@hostb",
};

#[test]
fn libpurples_offer_is_read() {
    // libpurple: the SI id is the IQ id (a counter); size 0 when unknown.
    let xml = "<iq type='set' id='0' to='bob@hostb' from='dana@hostd'>\
        <si xmlns='http://jabber.org/protocol/si' profile='http://jabber.org/protocol/si/profile/file-transfer' id='0'>\
        <file xmlns='http://jabber.org/protocol/si/profile/file-transfer' name='naïve file.bin' size='5242880'/>\
        <feature xmlns='http://jabber.org/protocol/feature-neg'><x xmlns='jabber:x:data' type='form'>\
        <field var='stream-method' type='list-single'><option><value>http://jabber.org/protocol/bytestreams</value></option></field>\
        </x></feature></si></iq>";
    let Some(TransferIq::Offer { id, offer }) = parse(xml).unwrap() else {
        panic!("not an offer");
    };
    assert_eq!(id, "0");
    assert_eq!(offer.sid, "0");
    assert_eq!(offer.name, "naïve file.bin");
    assert_eq!(offer.size, 5_242_880);
    assert_eq!(offer.methods, [ns::BYTESTREAMS]);
}

#[test]
fn our_offer_reads_back_with_everything_escaped() {
    let offer = FileOffer {
        sid: "s'1".into(),
        name: "a <b> & 'c'.txt".into(),
        size: u64::MAX,
        mime_type: Some("text/plain".into()),
        description: Some("for you & me".into()),
        methods: vec![ns::BYTESTREAMS.into()],
    };
    let mut out = String::new();
    si::write_offer(&mut out, ADDRESS, &offer);
    let Some(TransferIq::Offer { id, offer: read }) = parse(&out).unwrap() else {
        panic!("not an offer: {out}");
    };
    assert_eq!(id, "7");
    assert_eq!(read, offer);
}

#[test]
fn offers_that_cannot_be_taken_say_why() {
    let offer = |si_id: &str, file: &str| {
        format!(
            "<iq type='set' id='1'><si xmlns='{}' profile='{}'{si_id}>{file}</si></iq>",
            ns::SI,
            ns::FILE_TRANSFER
        )
    };
    let file = |attrs: &str| format!("<file xmlns='{}'{attrs}/>", ns::FILE_TRANSFER);
    assert_eq!(
        parse(&offer("", &file(" name='a' size='1'"))),
        Err(SiError::Missing("si id"))
    );
    assert_eq!(parse(&offer(" id='s'", "")), Err(SiError::Missing("file")));
    assert_eq!(
        parse(&offer(" id='s'", &file(" size='1'"))),
        Err(SiError::Missing("file name"))
    );
    assert_eq!(
        parse(&offer(" id='s'", &file(" name='a' size='-1'"))),
        Err(SiError::NotNumber("file size"))
    );
    assert_eq!(
        parse(&offer(
            " id='s'",
            &file(" name='a' size='18446744073709551616'")
        )),
        Err(SiError::NotNumber("file size"))
    );
    let long = "x".repeat(si::MAX_FIELD_BYTES + 1);
    assert_eq!(
        parse(&offer(" id='s'", &file(&format!(" name='{long}'")))),
        Err(SiError::TooLong("file name"))
    );
    // No size: unknown, as libpurple's 0.
    let Some(TransferIq::Offer { offer: read, .. }) =
        parse(&offer(" id='s'", &file(" name='a'"))).unwrap()
    else {
        panic!("not an offer");
    };
    assert_eq!(read.size, 0);
    assert!(read.methods.is_empty());
}

#[test]
fn iqs_that_are_not_about_transfers_are_left_alone() {
    for xml in [
        "<iq type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        "<iq type='set' id='p'><si xmlns='http://jabber.org/protocol/si' profile='urn:other' id='s'/></iq>",
        "<message to='x'><body>hi</body></message>",
    ] {
        assert_eq!(parse(xml), Ok(None), "{xml}");
    }
    assert!(matches!(
        parse("<iq type='set'/>"),
        Err(SiError::Missing("iq id"))
    ));
}

#[test]
fn libpurples_acceptance_and_ours_name_the_method() {
    // libpurple's xep_ft_si_result: no profile, a submitted form.
    let xml = "<iq type='result' id='4' to='alice@hosta' from='dana@hostd'>\
        <si xmlns='http://jabber.org/protocol/si'><feature xmlns='http://jabber.org/protocol/feature-neg'>\
        <x xmlns='jabber:x:data' type='submit'><field var='stream-method'>\
        <value>http://jabber.org/protocol/bytestreams</value></field></x></feature></si></iq>";
    assert_eq!(
        parse(xml).unwrap(),
        Some(TransferIq::Accepted {
            id: "4".into(),
            method: ns::BYTESTREAMS.into()
        })
    );
    let mut out = String::new();
    si::write_accept(&mut out, ADDRESS, ns::BYTESTREAMS);
    assert_eq!(
        parse(&out).unwrap(),
        Some(TransferIq::Accepted {
            id: "7".into(),
            method: ns::BYTESTREAMS.into()
        })
    );
}

#[test]
fn libpurples_refusal_and_ours_read_as_errors() {
    // libpurple's xep_ft_si_reject: the id is the SID, a legacy code, the condition.
    let xml = "<iq type='error' id='9' to='alice@hosta' from='dana@hostd'>\
        <error code='403' type='cancel'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
        <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Offer Declined</text></error></iq>";
    let Some(TransferIq::Error { id, error }) = parse(xml).unwrap() else {
        panic!("not an error");
    };
    assert_eq!(id, "9");
    assert_eq!(error.condition.as_deref(), Some("forbidden"));
    assert_eq!(error.code.as_deref(), Some("403"));
    assert_eq!(error.to_string(), "forbidden: Offer Declined");

    for (refusal, condition) in [
        (Refusal::Declined, "forbidden"),
        (Refusal::NoValidStreams, "bad-request"),
        (Refusal::NotFound, "item-not-found"),
        (Refusal::BadRequest, "bad-request"),
    ] {
        let mut out = String::new();
        si::write_refusal(&mut out, ADDRESS, refusal, None);
        let Some(TransferIq::Error { id, error }) = parse(&out).unwrap() else {
            panic!("not an error: {out}");
        };
        assert_eq!(id, "7");
        assert_eq!(error.condition.as_deref(), Some(condition), "{out}");
    }
    // An error with nothing in it still reads.
    assert!(matches!(
        parse("<iq type='error' id='e'/>").unwrap(),
        Some(TransferIq::Error { .. })
    ));
}

#[test]
fn libpurples_streamhosts_are_read_and_its_unscoped_link_local_one_needs_a_zone() {
    // libpurple: the SID in `jid`, an unscoped fe80:: first, a random port.
    let xml = "<iq type='set' id='0' to='bob@hostb' from='dana@hostd'>\
        <query xmlns='http://jabber.org/protocol/bytestreams' sid='0' mode='tcp'>\
        <streamhost jid='0' host='fe80::1' port='40123'/>\
        <streamhost jid='0' host='169.254.3.4' port='40123'/>\
        <streamhost jid='0' host='no-port'/>\
        </query></iq>";
    let Some(TransferIq::StreamHosts { id, sid, hosts }) = parse(xml).unwrap() else {
        panic!("not streamhosts");
    };
    assert_eq!((id.as_str(), sid.as_str()), ("0", "0"));
    assert_eq!(hosts.len(), 2);
    let no_zone = |_: Ipv6Addr| None;
    assert_eq!(hosts[0].address(no_zone), None);
    assert_eq!(
        hosts[0].address(|_| Some(3)),
        Some("[fe80::1%3]:40123".parse().unwrap())
    );
    assert_eq!(
        hosts[1].address(no_zone),
        Some("169.254.3.4:40123".parse().unwrap())
    );
    for (host, port) in [
        ("example.org", 1),
        ("0.0.0.0", 1),
        ("224.0.0.251", 1),
        ("10.0.0.1", 0),
    ] {
        let bad = StreamHost {
            jid: "j".into(),
            host: host.into(),
            port,
        };
        assert_eq!(bad.address(|_| Some(1)), None, "{host}:{port}");
    }

    let ours: Vec<SocketAddr> = vec![
        "169.254.1.1:5298".parse().unwrap(),
        "[fe80::2]:5298".parse().unwrap(),
    ];
    let mut out = String::new();
    si::write_stream_hosts(&mut out, ADDRESS, "s1", &ours);
    let Some(TransferIq::StreamHosts { sid, hosts, .. }) = parse(&out).unwrap() else {
        panic!("not streamhosts: {out}");
    };
    assert_eq!(sid, "s1");
    let read: Vec<SocketAddr> = hosts
        .iter()
        .filter_map(|h| h.address(|_| Some(0)))
        .collect();
    assert_eq!(read, ours);
    assert!(hosts.iter().all(|h| h.jid == "alice@hosta"));
}

#[test]
fn streamhost_used_reads_back() {
    let xml = "<iq type='result' id='5' to='alice@hosta' from='dana@hostd'>\
        <query xmlns='http://jabber.org/protocol/bytestreams'><streamhost-used jid='0'/></query></iq>";
    assert_eq!(
        parse(xml).unwrap(),
        Some(TransferIq::StreamHostUsed {
            id: "5".into(),
            jid: "0".into()
        })
    );
    let mut out = String::new();
    si::write_stream_host_used(&mut out, ADDRESS, "alice@hosta");
    assert_eq!(
        parse(&out).unwrap(),
        Some(TransferIq::StreamHostUsed {
            id: "7".into(),
            jid: "alice@hosta".into()
        })
    );
    assert_eq!(
        parse("<iq type='result' id='r'/>").unwrap(),
        Some(TransferIq::Result { id: "r".into() })
    );
}
