//! The property of the `si` fuzz target, shared with the transfer tests that replay its
//! seeds: whatever IQ a peer sends, reading it never panics, what is read stays within the
//! documented bounds, and what we would write back from it reads back the same; the name
//! an offer gives is made safe, whatever it was.

use llxmpp_framer::OwnedStanza;
use llxmpp_transfer::si::{self, MAX_FIELD_BYTES, MAX_STREAM_HOSTS};
use llxmpp_transfer::{safe_file_name, IqAddress, TransferIq, MAX_NAME_BYTES};

const ADDRESS: IqAddress<'static> = IqAddress {
    id: "fuzz",
    from: "alice@hosta",
    to: "bob@hostb",
};

/// `si` target: the input, as text, is one stanza.
pub fn check_si(data: &[u8]) {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let name = safe_file_name(xml);
    assert!(!name.is_empty() && name.len() <= MAX_NAME_BYTES);
    assert!(!name.contains(['/', '\\']) && !name.starts_with('.'));
    assert!(!name.chars().any(char::is_control));

    let Ok(Some(parsed)) = TransferIq::parse(&OwnedStanza::from_xml(xml)) else {
        return;
    };
    let mut out = String::new();
    match &parsed {
        TransferIq::Offer { offer, .. } => {
            assert!(offer.sid.len() <= MAX_FIELD_BYTES && offer.name.len() <= MAX_FIELD_BYTES);
            assert!(offer.methods.len() <= MAX_STREAM_HOSTS);
            si::write_offer(&mut out, ADDRESS, offer);
            let Ok(Some(TransferIq::Offer { offer: again, .. })) =
                TransferIq::parse(&OwnedStanza::from_xml(&out))
            else {
                panic!("our offer does not read back: {out}");
            };
            // Text is read back trimmed and without characters XML cannot carry.
            assert_eq!(again.sid, offer.sid.replace(|c| !is_kept(c), "\u{FFFD}"));
            assert_eq!(again.size, offer.size);
        }
        TransferIq::StreamHosts { hosts, .. } => {
            assert!(hosts.len() <= MAX_STREAM_HOSTS);
            let usable: Vec<_> = hosts
                .iter()
                .filter_map(|h| h.address(|_| Some(1)))
                .collect();
            si::write_stream_hosts(&mut out, ADDRESS, "sid", &usable);
            let Ok(Some(TransferIq::StreamHosts { hosts: again, .. })) =
                TransferIq::parse(&OwnedStanza::from_xml(&out))
            else {
                panic!("our streamhosts do not read back: {out}");
            };
            let read: Vec<_> = again
                .iter()
                .filter_map(|h| h.address(|_| Some(1)))
                .collect();
            assert_eq!(read.len(), usable.len());
        }
        TransferIq::Accepted { method, .. } => {
            assert!(method.len() <= MAX_FIELD_BYTES);
        }
        TransferIq::StreamHostUsed { jid, .. } => assert!(jid.len() <= MAX_FIELD_BYTES),
        TransferIq::OobOffer { url, .. } => {
            assert!(url.len() <= MAX_FIELD_BYTES);
            if let Some((_, path)) = si::http_url(url) {
                let name = safe_file_name(&si::url_file_name(&path));
                assert!(!name.contains(['/', '\\']) && !name.starts_with('.'));
            }
        }
        TransferIq::Result { .. } | TransferIq::Error { .. } => {}
    }
}

/// Characters that XML 1.0 carries (the writer puts U+FFFD in place of the others).
fn is_kept(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
