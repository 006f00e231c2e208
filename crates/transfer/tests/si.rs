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

#[test]
fn ichats_oob_offer_is_read_and_ours_reads_back() {
    // iChat: the URL after a line break, size and POSIX flags on <url type='file'>.
    let xml = "<iq type='set' id='iChat_4E6F7A9B' to='bob@hostb' from='mac@studio'>\
        <query xmlns='jabber:iq:oob'><url type='file' size='1234' posixflags='000001A4' \
        mimeType='image/png'>\nhttp://169.254.7.7:50123/a1b2/Screen%20Shot.png</url></query></iq>";
    assert_eq!(
        parse(xml).unwrap(),
        Some(TransferIq::OobOffer {
            id: "iChat_4E6F7A9B".into(),
            url: "http://169.254.7.7:50123/a1b2/Screen%20Shot.png".into(),
            size: Some(1234),
            description: None,
        })
    );
    let mut out = String::new();
    si::write_oob_offer(
        &mut out,
        ADDRESS,
        "http://[fe80::1]:5298/x/a%20b.txt",
        99,
        Some("notes"),
    );
    assert_eq!(
        parse(&out).unwrap(),
        Some(TransferIq::OobOffer {
            id: "7".into(),
            url: "http://[fe80::1]:5298/x/a%20b.txt".into(),
            size: Some(99),
            description: Some("notes".into()),
        })
    );
    let no_url = "<iq type='set' id='1'><query xmlns='jabber:iq:oob'/></iq>";
    assert_eq!(parse(no_url), Err(SiError::Missing("url")));
    let bad_size = "<iq type='set' id='1'><query xmlns='jabber:iq:oob'><url size='x'>http://a/b</url></query></iq>";
    assert_eq!(parse(bad_size), Err(SiError::NotNumber("url size")));
}

#[test]
fn oob_urls_must_be_plain_http_to_an_address() {
    assert_eq!(
        si::http_url("http://169.254.7.7:50123/a1b2/Screen%20Shot.png"),
        Some((
            "169.254.7.7:50123".parse().unwrap(),
            "/a1b2/Screen%20Shot.png".into()
        ))
    );
    assert_eq!(
        si::http_url("http://[fe80::1%25en0]:80/f"),
        Some(("[fe80::1]:80".parse().unwrap(), "/f".into()))
    );
    assert_eq!(
        si::http_url("http://10.0.0.1"),
        Some(("10.0.0.1:80".parse().unwrap(), "/".into()))
    );
    for refused in [
        "https://10.0.0.1/f",
        "http://example.org/f",
        "http://user@10.0.0.1/f",
        "http://10.0.0.1:0/f",
        "http://10.0.0.1:99999/f",
        "http://10.0.0.1/a b",
        "ftp://10.0.0.1/f",
    ] {
        assert_eq!(si::http_url(refused), None, "{refused}");
    }
    assert_eq!(
        si::url_file_name("/a1b2/Screen%20Shot.png"),
        "Screen Shot.png"
    );
    assert_eq!(si::url_file_name("/x/na%C3%AFve.txt?x=1"), "naïve.txt");
    assert_eq!(si::url_file_name("/bad%zz%4"), "bad%zz%4");
    assert_eq!(si::url_segment("naïve file.txt"), "na%C3%AFve%20file.txt");
    assert_eq!(
        si::url_file_name(&format!("/{}", si::url_segment("a/b %.txt"))),
        "a/b %.txt"
    );
}
