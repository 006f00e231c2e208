//! The property of the `unicast` fuzz target, shared with the dnssd crate's test that
//! replays its seeds: whatever a DNS server (or someone forging its answers) sends to a
//! wide-area client, and whatever a key file holds, reading it never panics; a reply is
//! taken as signed only whole, and what is left of it once its TSIG is cut off is the
//! reply as sent, without that record.

use llxmpp_dnssd::rtype;
use llxmpp_dnssd::unicast::{query, sign, verify_reply, zone, Reply, TsigKey};

/// The key and time the seeds of the signed replies were made with.
pub const KEY_NAME: &str = "llxmpp-fuzz.";
pub const SECRET: [u8; 32] = [7; 32];
pub const TIME: u64 = 1_700_000_000;

/// `unicast` target: the first byte picks what the rest is (0: a key file, 1: an unsigned
/// reply, 2: a reply to a signed SOA query of ID 7 for `example.test`).
pub fn check_unicast(data: &[u8]) {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    match control % 3 {
        0 => {
            if let Ok(text) = std::str::from_utf8(input) {
                if let Ok(key) = TsigKey::parse(text) {
                    // Its name, written, reads back as the same name.
                    let again = TsigKey::new(&key.name(), vec![1]).expect("a name it wrote");
                    assert_eq!(again.name(), key.name());
                }
            }
        }
        1 => {
            if let Ok(reply) = Reply::decode(input) {
                assert!(reply.message.answers.len() <= input.len() / 11);
            }
        }
        _ => {
            let key = TsigKey::new(KEY_NAME, SECRET.to_vec()).expect("a good name");
            let request = sign(&query(7, &zone("example.test"), rtype::SOA), &key, TIME);
            if let Ok(stripped) = verify_reply(input, &key, &request.mac, TIME) {
                assert!(stripped.len() < input.len());
                assert_eq!(stripped[..10], input[..10]);
                assert_eq!(stripped[12..], input[12..stripped.len()]);
                let _ = Reply::decode(&stripped);
            }
        }
    }
}
