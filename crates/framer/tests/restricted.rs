//! One case per restricted construct, per syntax rule and per limit: the error and the
//! stream-error condition it maps to, the same whatever the chunking.

mod common;

use common::{frame_bytewise, frame_whole, stream, Owned, HEADER};
use llxmpp_framer::{Condition, Error, Framer, Limits};

/// Asserts that `input` fails with `error`, fed whole and fed byte by byte.
fn assert_fails(input: &[u8], error: Error) {
    let (_, whole) = frame_whole(input);
    assert_eq!(
        whole,
        Some(error),
        "whole: {}",
        String::from_utf8_lossy(input)
    );
    let (_, bytewise) = frame_bytewise(input, Limits::DEFAULT);
    assert_eq!(
        bytewise,
        Some(error),
        "bytewise: {}",
        String::from_utf8_lossy(input)
    );
}

/// Asserts that `input` frames without error, whole and byte by byte, and returns the
/// frames.
fn assert_accepts(input: &[u8]) -> Vec<Owned> {
    let (frames, error) = frame_whole(input);
    assert_eq!(error, None, "{}", String::from_utf8_lossy(input));
    assert_eq!(
        frame_bytewise(input, Limits::DEFAULT),
        (frames.clone(), None)
    );
    frames
}

#[test]
fn restricted_constructs_are_restricted_xml() {
    let cases: &[(&str, Error)] = &[
        ("<!-- hi -->", Error::Comment),
        ("<message><!-- hi --></message>", Error::Comment),
        ("<?pi data?>", Error::ProcessingInstruction),
        ("<message><?pi?></message>", Error::ProcessingInstruction),
        (
            "<message><body>&nbsp;</body></message>",
            Error::UndefinedEntity,
        ),
        ("<message to='&foo;'/>", Error::UndefinedEntity),
        ("<!DOCTYPE message>", Error::Doctype),
    ];
    for &(body, error) in cases {
        assert_fails(&stream(body), error);
        assert_eq!(error.condition(), Condition::RestrictedXml);
    }
    assert_fails(b"<!DOCTYPE stream><stream:stream>", Error::Doctype);
    assert_fails(b"<!-- x --><stream:stream>", Error::Comment);
    assert_fails(
        b"<?xml-stylesheet href='x'?><stream:stream>",
        Error::ProcessingInstruction,
    );
    assert_fails(
        b"  <?xml version='1.0'?><stream:stream>",
        Error::ProcessingInstruction,
    );
}

#[test]
fn end_tags_repeat_their_start_tags_name_byte_for_byte() {
    // The framer reads an end tag that is the open element's name and `>` by comparing
    // bytes; each case here is one that comparison must not wave through, or must not turn
    // away. Each is tried as written and with long text before its end tags and more
    // stanzas after, where the end tag is read straight from the text's blocks.
    let mismatched = [
        "<message><body></bodx></message>",
        "<message><body></Body></message>",
        "<message><body></bodyx></message>",
        "<message><body></bod></message>",
        "<message><body></bod ></message>",
        "<message><a:b xmlns:a='u'></a:c></message>",
        "<message><é></è></message>",
        "<message><body></message></body>",
    ];
    let matching = [
        "<message><body>x</body ></message>",
        "<message><body>x</body\r\n\t></message >",
        "<message><é>x</é></message>",
        "<message><a:b xmlns:a='u'>x</a:b></message>",
        "<message><body><body>x</body></body></message>",
    ];
    let long = |body: &str| {
        let text = "y".repeat(80);
        let more = "<presence/>".repeat(10);
        format!("{}{more}", body.replace("></", &format!(">{text}</")))
    };
    for body in mismatched {
        assert_fails(&stream(body), Error::MismatchedEndTag);
        assert_fails(&stream(&long(body)), Error::MismatchedEndTag);
    }
    assert_fails(&stream("<message><body></body/></message>"), Error::Syntax);
    for body in matching {
        let frames = assert_accepts(&stream(&long(body)));
        assert_eq!(frames.len(), 12, "{body}");
        let frames = assert_accepts(&stream(body));
        assert_eq!(
            frames.last(),
            Some(&Owned::Stanza(body.to_owned())),
            "{body}"
        );
    }
}

#[test]
fn references_and_text_ends_are_judged_at_every_offset_of_a_text_block() {
    // Fed whole, long text is read 64 bytes a block with its references judged together;
    // fed byte by byte, it is searched from one mark to the next. Each reference, good or
    // bad, and each `>` is put at every offset of two blocks and across their boundaries,
    // alone and next to another reference, and both readings must agree with the verdict.
    let good = [
        "&amp;",
        "&lt;",
        "&gt;",
        "&quot;",
        "&apos;",
        "&#233;",
        "&#x1F642;",
        ">",
    ];
    let bad: &[(&str, Error)] = &[
        ("&bogus;", Error::UndefinedEntity),
        ("&am;", Error::UndefinedEntity),
        ("&amp ", Error::BadReference),
        ("&lt", Error::BadReference),
        ("&;", Error::BadReference),
        ("&#0;", Error::BadReference),
        ("]]>", Error::CdataEndInText),
    ];
    for at in 0..140 {
        let before = "é".repeat(at / 2) + &"a".repeat(at % 2);
        let after = "z".repeat(90);
        for reference in good {
            for next in ["", "&lt;"] {
                let text = format!("{before}{reference}{next}{after}");
                let stanza = format!("<message><body>{text}</body></message>");
                let frames = assert_accepts(&stream(&stanza));
                assert_eq!(frames.last(), Some(&Owned::Stanza(stanza)), "{text}");
            }
        }
        for &(reference, error) in bad {
            for next in ["", "&lt;"] {
                let text = format!("{before}{next}{reference}{after}");
                assert_fails(
                    &stream(&format!("<message><body>{text}</body></message>")),
                    error,
                );
            }
        }
    }
}

#[test]
fn duplicate_attributes_are_found_among_many() {
    // Names alike in length and first and last bytes, which the framer compares in full,
    // and a repeat anywhere among many names, which it must compare with every one before.
    let names = [
        "abc", "axc", "a-c", "to", "from", "type", "id", "xml:lang", "x", "y", "z",
    ];
    let attrs: String = names.iter().map(|name| format!(" {name}='v'")).collect();
    assert_accepts(&stream(&format!("<message{attrs}/>")));
    for repeated in names {
        for at in 0..=names.len() {
            let mut list: Vec<&str> = names.to_vec();
            list.insert(at, repeated);
            let attrs: String = list.iter().map(|name| format!(" {name}='v'")).collect();
            assert_fails(
                &stream(&format!("<message{attrs}/>")),
                Error::DuplicateAttribute,
            );
        }
    }
}

#[test]
fn malformed_xml_is_not_well_formed() {
    let cases: &[(&str, Error)] = &[
        ("<message></body>", Error::MismatchedEndTag),
        ("<message a='1' a='2'/>", Error::DuplicateAttribute),
        ("<message a='1'b='2'/>", Error::Syntax),
        ("<message a=1/>", Error::Syntax),
        ("<message a='<'/>", Error::Syntax),
        // Past the first 32 bytes of a value, which are searched apart from the rest.
        (
            "<message a='0123456789abcdef0123456789abcdef0123456789<'/>",
            Error::Syntax,
        ),
        (
            "<message><body>a ]]> b</body></message>",
            Error::CdataEndInText,
        ),
        ("<message><body>&#0;</body></message>", Error::BadReference),
        (
            "<message><body>&#xD800;</body></message>",
            Error::BadReference,
        ),
        ("<message><body>& </body></message>", Error::BadReference),
        (
            "<message><body>&#x1g;</body></message>",
            Error::BadReference,
        ),
        (
            "<message><body>&#12a;</body></message>",
            Error::BadReference,
        ),
        (
            "<message><body>&#xxmlns</body></message>",
            Error::BadReference,
        ),
        ("<message><x:body/></message>", Error::UndeclaredPrefix),
        ("<message x:a='1'/>", Error::UndeclaredPrefix),
        (
            "<message><a:b:c xmlns:a='u'/></message>",
            Error::BadQualifiedName,
        ),
        // A colon as a name's first character: names are read from that character on.
        ("<message><:body/></message>", Error::BadQualifiedName),
        ("<message :a='1'/>", Error::BadQualifiedName),
        ("<message xmlns:p=''/>", Error::BadQualifiedName),
        (
            "<message xmlns='http://www.w3.org/XML/1998/namespace'/>",
            Error::BadQualifiedName,
        ),
        (
            "<message xmlns:xml='urn:not-xml'/>",
            Error::BadQualifiedName,
        ),
        ("hello", Error::TextOutsideStanza),
        ("<![CDATA[x]]>", Error::TextOutsideStanza),
        ("<1message/>", Error::Syntax),
        ("</stream:stream> <message/>", Error::DataAfterClose),
        ("</stream>", Error::MismatchedEndTag),
        ("<message>\u{1}</message>", Error::InvalidChar),
        ("<message>\u{FFFE}</message>", Error::InvalidChar),
    ];
    for &(body, error) in cases {
        assert_fails(&stream(body), error);
        assert_eq!(error.condition(), Condition::NotWellFormed);
    }
}

/// A namespace declaration is judged as soon as its attribute has been read, never when
/// the tag ends (which may be much later, or never): `xmlns:xmlns` at its name, the others
/// at the end of their value, with references resolved, wherever the declaration stands.
#[test]
fn namespace_declarations_are_judged_when_their_attribute_ends() {
    // None of these tags ends.
    let unfinished = [
        "<message xmlns:xmlns=",
        "<message xmlns:xmlns='http://w>",
        "<message xmlns:p='' ",
        "<message xmlns:xml='urn:not-xml' ",
        "<message xmlns:p='http://www.w3.org/XML/1998/namespace' ",
        "<message xmlns:p='http://www.w3.org/2000/xmlns/'",
        "<message xmlns='http://www.w3.org/XML/1998/namespace' ",
        "<message xmlns='http://www.w3.org/2000/xmlns/'",
        "<message><body xmlns:p='http://www.w3.org/XML/1998/namespac&#x65;'",
        "<message><body xmlns:xml='http://www.w3.org/XML/1998/namespac&#x64;' ",
    ];
    for body in unfinished {
        assert_fails(&stream(body), Error::BadQualifiedName);
    }
    // The stream header's declarations follow the same rules.
    assert_fails(
        b"<stream:stream xmlns:xml='urn:x' xmlns:stream='http://etherx.jabber.org/streams'>",
        Error::BadQualifiedName,
    );
    // A reference can spell the XML namespace, and then it is the XML namespace.
    assert_accepts(&stream(
        "<message xmlns:xml='http://www.w3.org/XML/1998/namespac&#101;'/>",
    ));
    assert_accepts(&stream("<message xmlns:p='urn:&amp;'/>"));
}

#[test]
fn invalid_utf8_is_not_well_formed_even_split_across_chunks() {
    let mut input = stream("<message><body>caf");
    input.extend_from_slice(&[0xC3, 0x28]);
    input.extend_from_slice(b"</body></message>");
    assert_fails(&input, Error::InvalidUtf8);
    // An overlong encoding, a lone continuation byte, a surrogate, a cut sequence; in text,
    // in an attribute value, in a name.
    for bad in [
        &[0xC0, 0xAF][..],
        &[0x80],
        &[0xED, 0xA0, 0x80],
        &[0xE2, 0x82],
    ] {
        for (before, after) in [
            ("<message>", "</message>"),
            ("<message to='", "'/>"),
            ("<m", "/>"),
        ] {
            let mut input = stream(before);
            input.extend_from_slice(bad);
            input.extend_from_slice(after.as_bytes());
            assert_fails(&input, Error::InvalidUtf8);
        }
    }
    // Every byte is checked as it arrives: a bad one is reported at once, in a name, in
    // text, in an unfinished CDATA section, with nothing after it.
    for (before, bad) in [
        ("<m", &[0x80][..]),
        ("<message>caf", &[0xFF]),
        ("<message><![CDATA[x", &[0xC3, 0x28]),
        // Cut, but already wrong: no byte could complete them.
        ("<message>", &[0xE2, b'A']),
        ("<message>", &[0xF5]),
        ("<message>", &[0xC0]),
        ("<message>", &[0xE0, 0x80]),
        ("<message>", &[0xED, 0xA0]),
    ] {
        let mut input = stream(before);
        input.extend_from_slice(bad);
        assert_fails(&input, Error::InvalidUtf8);
    }
    // A character cut by the end of the input waits for the rest.
    let mut cut = stream("<message>caf");
    cut.push(0xC3);
    assert_eq!(frame_bytewise(&cut, Limits::DEFAULT).1, None);
    assert_eq!(frame_whole(&cut).1, None);
    // What came before the bad byte is framed first; what comes after it is not looked at.
    let mut input = stream("<presence/>");
    input.extend_from_slice(b"<message>\xFF</wrong>");
    let (frames, error) = frame_whole(&input);
    assert_eq!(
        (frames.len(), error),
        (2, Some(Error::InvalidUtf8)),
        "{frames:?}"
    );
    assert_eq!(Error::InvalidUtf8.condition(), Condition::NotWellFormed);
}

#[test]
fn other_encodings_are_unsupported() {
    assert_fails(
        b"<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>",
        Error::UnsupportedEncoding,
    );
    assert_fails(&[0xFF, 0xFE, b'<', 0], Error::UnsupportedEncoding);
    assert_eq!(
        Error::UnsupportedEncoding.condition(),
        Condition::UnsupportedEncoding
    );
    let accepted = format!(
        "\u{FEFF}<?xml version='1.0' encoding='utf-8'?>{}",
        &HEADER[38..]
    );
    assert_accepts(accepted.as_bytes());
}

#[test]
fn wrong_namespaces_are_invalid_namespace() {
    let cases = [
        "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>",
        "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>",
        "<message xmlns='jabber:client'>",
        "<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='urn:other'>",
    ];
    for header in cases {
        assert_fails(header.as_bytes(), Error::InvalidNamespace);
    }
    assert_eq!(
        Error::InvalidNamespace.condition(),
        Condition::InvalidNamespace
    );
    // Another prefix for the stream namespace is fine, and the close tag must repeat it.
    let frames = assert_accepts(
        b"<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'><message/></s:stream>",
    );
    assert_eq!(frames.last(), Some(&Owned::Close));
}

#[test]
fn allowed_constructs_pass() {
    let frames = assert_accepts(&stream(concat!(
        "<message a='x>y' b=\"it's\"><body><![CDATA[<b> & ]] ]]]></body>",
        "<body>&lt;&gt;&amp;&quot;&apos;&#65;&#x1F600;</body>",
        "<html xmlns='http://www.w3.org/1999/xhtml'><p:q xmlns:p='urn:p' p:a='1'/></html></message>",
        " \n\t\r<presence/>"
    )));
    assert_eq!(frames.len(), 4, "{frames:?}");
    assert_eq!(frames[2], Owned::Keepalive);
    // Spaces around `=` in every place and kind, and none.
    let frames = assert_accepts(&stream(
        "<message a = 'x' b\t=\"y\" c\r\n=\n'z' d='w' e=\"v\"/>",
    ));
    assert_eq!(frames.len(), 2, "{frames:?}");
    for bad in [
        "<message a = = 'x'/>",
        "<message a='x' b 'y'/>",
        "<message a= x/>",
        "<message a=\t/>",
    ] {
        assert_fails(&stream(bad), Error::Syntax);
    }
}

fn limits() -> Limits {
    // The test header has five attributes.
    Limits {
        max_stanza_bytes: 100,
        max_depth: 4,
        max_attributes: 5,
        max_header_bytes: 300,
        max_text_bytes: 20,
    }
}

fn assert_limit(input: &[u8], error: Error) {
    let (_, whole) = common::frame_with_cuts(input, &[], limits());
    assert_eq!(whole, Some(error));
    assert_eq!(frame_bytewise(input, limits()).1, Some(error));
    assert_eq!(error.condition(), Condition::PolicyViolation);
}

fn assert_within_limits(input: &[u8]) {
    assert_eq!(common::frame_with_cuts(input, &[], limits()).1, None);
    assert_eq!(frame_bytewise(input, limits()).1, None);
}

#[test]
fn stanza_size_limit_is_exact() {
    // Text nodes of at most 20 bytes, the text limit, between empty elements.
    let filler = |n| format!("{}{}", "aaaaaaaaaaaaaaaaaaaa<b/>".repeat(3), "a".repeat(n));
    let fits = format!("<message>{}</message>", filler(9));
    assert_eq!(fits.len(), 100);
    assert_within_limits(&stream(&fits));
    let over = format!("<message>{}</message>", filler(10));
    assert_limit(&stream(&over), Error::StanzaTooLarge);
    // Reported as soon as the limit is passed, without waiting for the stanza to end.
    assert_limit(
        &stream(&format!("<message>{}", "a".repeat(200))),
        Error::StanzaTooLarge,
    );
}

#[test]
fn text_limit_is_exact() {
    // One text node runs from tag to tag: its references as written and its CDATA
    // sections, markup included, count (2 + 5 + 13 bytes here).
    let text = |n| format!("{}&amp;<![CDATA[x]]>", "a".repeat(n));
    assert_within_limits(&stream(&format!(
        "<message><body>{}</body></message>",
        text(2)
    )));
    assert_limit(
        &stream(&format!("<message><body>{}</body></message>", text(3))),
        Error::TextTooLarge,
    );
    // A child element ends one text node and starts another.
    let twenty = "a".repeat(20);
    assert_within_limits(&stream(&format!(
        "<message><body>{twenty}<b/>{twenty}</body></message>"
    )));
    assert_limit(
        &stream(&format!(
            "<message><body>{twenty}<b/>{twenty}a</body></message>"
        )),
        Error::TextTooLarge,
    );
}

#[test]
fn depth_limit_is_exact() {
    assert_within_limits(&stream("<a><b><c><d/></c></b></a>"));
    assert_limit(&stream("<a><b><c><d><e/></d></c></b></a>"), Error::TooDeep);
}

#[test]
fn attribute_limit_is_exact() {
    assert_within_limits(&stream("<a x='1' y='2' z='3' v='4' xmlns='u'/>"));
    assert_limit(
        &stream("<a x='1' y='2' z='3' v='4' xmlns='u' w='6'/>"),
        Error::TooManyAttributes,
    );
    let header_over = HEADER.replace(" version='1.0'>", " id='i' version='1.0'>");
    assert_limit(header_over.as_bytes(), Error::TooManyAttributes);
}

#[test]
fn header_limit_counts_the_declaration() {
    assert_within_limits(HEADER.as_bytes());
    let long = HEADER.replace("from='a@x'", &format!("from='{}'", "a".repeat(200)));
    assert_limit(long.as_bytes(), Error::HeaderTooLarge);
}

#[test]
fn memory_stays_bounded_by_the_stanza_limit() {
    let mut framer = Framer::with_limits(limits());
    framer.feed(&stream(""));
    while let Ok(Some(_)) = framer.next_frame() {}
    framer.feed(b"<message>");
    let mut result = Ok(false);
    for _ in 0..1000 {
        framer.feed(b"aaaaaaaaaa");
        result = framer.next_frame().map(|f| f.is_some());
        if result.is_err() {
            break;
        }
        assert!(framer.buffered_len() <= 100 + 10);
    }
    assert_eq!(result, Err(Error::StanzaTooLarge));
    // The error sticks and nothing more is held.
    framer.feed(b"<message/>");
    assert!(matches!(framer.next_frame(), Err(Error::StanzaTooLarge)));
    assert_eq!(framer.buffered_len(), 0);
}

#[test]
fn a_tag_before_the_header_survives_every_cut() {
    // Found by the `framer` fuzz target: bytes of an end tag in the prolog were dropped
    // between two feeds.
    let input = b"</eam0xmcli:s\xFFre";
    let (_, whole) = frame_whole(input);
    assert_eq!(whole, Some(Error::InvalidUtf8));
    for cut in 1..input.len() {
        assert_eq!(
            common::frame_with_cuts(input, &[cut], Limits::DEFAULT).1,
            whole,
            "cut at {cut}"
        );
    }
}
