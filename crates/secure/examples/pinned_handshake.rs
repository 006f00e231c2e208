//! Two identities shake hands in memory (no sockets), each learns the other's key, the
//! first use pins it, and both compute the same verification code.
//!
//! `cargo run -p llxmpp-secure --example pinned_handshake`

use std::io::{Read, Write};

use llxmpp_secure::rustls::Connection;
use llxmpp_secure::{
    certificate_key, verification_code, Identity, KeyStatus, KnownKeys, TlsContext,
};

/// Moves every pending TLS byte from `from` to `to`.
fn pass(from: &mut Connection, to: &mut Connection) -> Result<(), Box<dyn std::error::Error>> {
    let mut wire = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut wire)?;
    }
    let mut bytes = wire.as_slice();
    while !bytes.is_empty() {
        to.read_tls(&mut bytes)?;
        to.process_new_packets()?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (alice, bob) = (Identity::generate()?, Identity::generate()?);
    let mut client = TlsContext::new(&alice)?.start(true)?;
    let mut server = TlsContext::new(&bob)?.start(false)?;
    while client.is_handshaking() || server.is_handshaking() {
        pass(&mut client, &mut server)?;
        pass(&mut server, &mut client)?;
    }
    let peer = |c: &Connection| -> Result<_, Box<dyn std::error::Error>> {
        let certificate = c
            .peer_certificates()
            .and_then(|c| c.first())
            .ok_or("no certificate")?;
        Ok(certificate_key(certificate)?)
    };
    let (bob_seen, alice_seen) = (peer(&client)?, peer(&server)?);
    assert_eq!(bob_seen, bob.fingerprint());
    assert_eq!(alice_seen, alice.fingerprint());

    let mut known = KnownKeys::new();
    assert_eq!(known.status("bob@hostb", &bob_seen), KeyStatus::New);
    known.remember("bob@hostb", bob_seen);
    assert_eq!(known.status("bob@hostb", &bob_seen), KeyStatus::Known);
    assert_eq!(known.status("bob@hostb", &alice_seen), KeyStatus::Changed);

    client.writer().write_all(b"hello, bob")?;
    pass(&mut client, &mut server)?;
    let mut text = [0u8; 32];
    let n = server.reader().read(&mut text)?;
    assert_eq!(&text[..n], b"hello, bob");

    let code = verification_code(&alice.fingerprint(), &bob_seen);
    assert_eq!(code, verification_code(&bob.fingerprint(), &alice_seen));
    println!("alice's key {}", alice.fingerprint());
    println!("bob's key   {}", bob.fingerprint());
    println!("known_peers:\n{}", known.to_text());
    println!("the code both see: {code}");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_example_runs_to_its_end() {
        super::main().unwrap();
    }
}
