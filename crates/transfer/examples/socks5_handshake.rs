//! Both sides of a XEP-0065 SOCKS5 handshake, in memory, fed one byte at a time (any
//! chunking works), then the first bytes of the file.

use llxmpp_transfer::{stream_hash, Progress, Socks5Client, Socks5Server};

/// Feeds `bytes` one at a time; the position of the first data byte once established.
fn feed_bytewise(
    mut handle: impl FnMut(&[u8]) -> Result<Progress, llxmpp_transfer::Socks5Error>,
    bytes: &[u8],
) -> Option<usize> {
    for (i, byte) in bytes.iter().enumerate() {
        match handle(std::slice::from_ref(byte)) {
            Ok(Progress::Pending) => {}
            Ok(Progress::Established(done)) => return Some(i + done.consumed),
            Err(e) => panic!("handshake failed: {e}"),
        }
    }
    None
}

fn main() {
    let (hash, first_data) = run();
    println!("stream {hash} open; first data: {first_data:?}");
}

/// The handshake, byte by byte: the stream's hash and the data seen after it.
fn run() -> (String, String) {
    let hash = stream_hash("s5b-42", "alice@hosta", "bob@hostb");
    let mut client = Socks5Client::new(&hash).expect("a 40-character hash");
    let mut server = Socks5Server::new(&hash);

    let greeting = client.take_transmit();
    assert_eq!(feed_bytewise(|b| server.handle_input(b), &greeting), None);
    let method = server.take_transmit();
    assert_eq!(feed_bytewise(|b| client.handle_input(b), &method), None);
    let connect = client.take_transmit();
    assert_eq!(
        feed_bytewise(|b| server.handle_input(b), &connect),
        Some(connect.len())
    );
    let mut reply = server.take_transmit();
    let handshake = reply.len();
    reply.extend_from_slice(b"file bytes");
    let data = feed_bytewise(|b| client.handle_input(b), &reply).expect("established");
    assert_eq!(data, handshake);
    (hash, String::from_utf8_lossy(&reply[data..]).into_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_handshake_completes_and_the_data_follows() {
        let (hash, data) = super::run();
        assert_eq!(hash.len(), 40);
        assert_eq!(data, "file bytes");
    }
}
