//! Replays the `mdns` fuzz target's seeds and regressions (fuzz/seeds/mdns,
//! fuzz/regressions/mdns) through its own check, so `cargo test` exercises it.

#[path = "../../../fuzz/mdns_checks.rs"]
mod mdns_checks;
#[path = "../../../fuzz/replay.rs"]
mod replay;

#[test]
fn mdns_seeds_pass() {
    let count = replay::replay(env!("CARGO_MANIFEST_DIR"), "mdns", mdns_checks::check_mdns);
    assert!(count >= 10, "only {count} seeds");
}

#[path = "../../../fuzz/unicast_checks.rs"]
mod unicast_checks;

#[test]
fn unicast_seeds_pass() {
    let count = replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "unicast",
        unicast_checks::check_unicast,
    );
    assert!(count >= 9, "only {count} seeds");
}

/// The signed seeds were made by a separate implementation of RFC 8945 (Python's hmac):
/// ours accepts the good one and tells the server's errors apart.
#[test]
fn the_signed_unicast_seeds_verify_as_made() {
    use llxmpp_dnssd::rtype;
    use llxmpp_dnssd::unicast::{query, sign, verify_reply, zone, TsigError, TsigKey};
    let seed = |name: &str| {
        std::fs::read(format!(
            "{}/../../fuzz/seeds/unicast/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()[1..]
            .to_vec()
    };
    let key = TsigKey::new(unicast_checks::KEY_NAME, unicast_checks::SECRET.to_vec()).unwrap();
    let request = sign(
        &query(7, &zone("example.test"), rtype::SOA),
        &key,
        unicast_checks::TIME,
    );
    let at = unicast_checks::TIME;
    assert!(verify_reply(&seed("signed_soa_answer"), &key, &request.mac, at).is_ok());
    assert_eq!(
        verify_reply(&seed("signed_badtime"), &key, &request.mac, at),
        Err(TsigError::BadTime {
            server_time: Some(at + 4000)
        })
    );
    assert_eq!(
        verify_reply(&seed("unsigned_badsig"), &key, &request.mac, at),
        Err(TsigError::BadSignature)
    );
}
