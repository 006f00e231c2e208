//! What we can do, for XEP-0030 disco#info and the XEP-0115 caps we publish in TXT.

use base64::Engine;

/// Our XEP-0115 `node`.
pub const NODE: &str = "https://llxmpp.invalid/caps";

/// Our identity: (category, type, name).
pub const IDENTITY: (&str, &str, &str) = ("client", "pc", "llxmpp");

/// The features we support, sorted as XEP-0115 §5.1 sorts them.
pub const FEATURES: [&str; 5] = [
    "http://jabber.org/protocol/chatstates",
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/xhtml-im",
    "jabber:x:event",
    "urn:xmpp:ping",
];

/// The XEP-0115 §5.1 verification string `ver` (SHA-1, base64) of our identity and
/// features, published in TXT with `hash=sha-1` and `node`.
pub fn ver() -> String {
    let (category, kind, name) = IDENTITY;
    let mut s = format!("{category}/{kind}//{name}<");
    for feature in FEATURES {
        s.push_str(feature);
        s.push('<');
    }
    base64::engine::general_purpose::STANDARD
        .encode(sha1_smol::Sha1::from(s.as_bytes()).digest().bytes())
}

/// The `<query/>` of our disco#info result.
pub fn disco_info_query(node: &str) -> String {
    let (category, kind, name) = IDENTITY;
    let mut xml = format!(
        "<query xmlns='http://jabber.org/protocol/disco#info' node='{node}#{}'>",
        ver()
    );
    xml.push_str(&format!(
        "<identity category='{category}' type='{kind}' name='{name}'/>"
    ));
    for feature in FEATURES {
        xml.push_str(&format!("<feature var='{feature}'/>"));
    }
    xml.push_str("</query>");
    xml
}

#[cfg(test)]
mod tests {
    #[test]
    fn ver_follows_xep_0115_example() {
        // XEP-0115 §5.2's example string hashes to this published value.
        let example = "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<";
        let digest = sha1_smol::Sha1::from(example.as_bytes()).digest().bytes();
        use base64::Engine;
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(digest),
            "QgayPKawpkPSDYmwT/WM94uAlu0="
        );
        assert_eq!(super::ver().len(), 28);
    }
}
