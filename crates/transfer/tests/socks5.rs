//! The XEP-0065 SOCKS5 handshake, both roles: any chunking, libpurple's habits, and every
//! refusal with the reply a peer sees.

use llxmpp_transfer::{
    stream_hash, Established, Progress, Socks5Client, Socks5Error, Socks5Server,
};
use proptest::prelude::*;

/// XEP-0065's own example values, hashed by an independent SHA-1 (Python's hashlib).
#[test]
fn the_stream_hash_is_the_sha1_of_sid_initiator_and_target() {
    assert_eq!(
        stream_hash(
            "vxf9n471bn46",
            "requester@example.com/foo",
            "target@example.org/bar"
        ),
        "98b8d688d0f5d895fd41c5e7309a2e9e33ba32ff"
    );
    assert_eq!(
        stream_hash("sid-1", "alice@hosta", "bob@hostb"),
        "e481e4a147fab8eb498c33d3cd5760964064592d"
    );
}

/// Feeds `bytes` in pieces cut at `cuts` (positions, any order); the position of the
/// first byte after the handshake once established.
fn feed_in_pieces(
    mut handle: impl FnMut(&[u8]) -> Result<Progress, Socks5Error>,
    bytes: &[u8],
    cuts: &[usize],
) -> Result<Option<usize>, Socks5Error> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.push(bytes.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut from = 0;
    for to in cuts {
        if let Progress::Established(Established { consumed }) = handle(&bytes[from..to])? {
            return Ok(Some(from + consumed));
        }
        from = to;
    }
    Ok(None)
}

const HASH: &str = "e481e4a147fab8eb498c33d3cd5760964064592d";

/// libpurple's reply to a CONNECT: a domain-type bound address (the hash), port 0.
fn domain_reply(code: u8) -> Vec<u8> {
    let mut reply = vec![5, code, 0, 3, HASH.len() as u8];
    reply.extend_from_slice(HASH.as_bytes());
    reply.extend_from_slice(&[0, 0]);
    reply
}

proptest! {
    /// Both directions of the handshake cut anywhere, with the file's first bytes right
    /// behind the server's reply (as libpurple writes them): the same outcome, and not a
    /// byte of data taken for handshake.
    #[test]
    fn any_chunking_gives_the_same_handshake_and_leaves_the_data(
        cuts in proptest::collection::vec(0usize..200, 0..6),
        data in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        let mut client = Socks5Client::new(HASH).unwrap();
        let mut server = Socks5Server::new(HASH);
        let greeting = client.take_transmit();
        prop_assert_eq!(greeting.clone(), vec![5, 1, 0]);
        prop_assert_eq!(feed_in_pieces(|b| server.handle_input(b), &greeting, &cuts).unwrap(), None);
        let method = server.take_transmit();
        prop_assert_eq!(method.clone(), vec![5, 0]);
        prop_assert_eq!(feed_in_pieces(|b| client.handle_input(b), &method, &cuts).unwrap(), None);
        let mut connect = client.take_transmit();
        let request_len = connect.len();
        prop_assert_eq!(request_len, 4 + 1 + 40 + 2);
        // A client may send data right behind its request: it is not the server's.
        connect.extend_from_slice(&data);
        prop_assert_eq!(
            feed_in_pieces(|b| server.handle_input(b), &connect, &cuts).unwrap(),
            Some(request_len)
        );
        let mut reply = server.take_transmit();
        prop_assert_eq!(reply.clone(), domain_reply(0));
        let reply_len = reply.len();
        reply.extend_from_slice(&data);
        prop_assert_eq!(
            feed_in_pieces(|b| client.handle_input(b), &reply, &cuts).unwrap(),
            Some(reply_len)
        );
    }

    /// Whatever a peer sends, in whatever pieces: an outcome, never a panic, and never
    /// more consumed than was given.
    #[test]
    fn no_input_makes_either_side_panic(
        input in proptest::collection::vec(any::<u8>(), 0..400),
        cuts in proptest::collection::vec(0usize..400, 0..8),
    ) {
        let mut server = Socks5Server::new(HASH);
        let _ = feed_in_pieces(|b| {
            let progress = server.handle_input(b)?;
            if let Progress::Established(done) = progress {
                assert!(done.consumed <= b.len());
            }
            Ok(progress)
        }, &input, &cuts);
        let mut client = Socks5Client::new(HASH).unwrap();
        let _ = feed_in_pieces(|b| {
            let progress = client.handle_input(b)?;
            if let Progress::Established(done) = progress {
                assert!(done.consumed <= b.len());
            }
            Ok(progress)
        }, &input, &cuts);
    }
}

/// A client past the method choice, its CONNECT taken.
fn client_awaiting_reply() -> Socks5Client {
    let mut client = Socks5Client::new(HASH).unwrap();
    let _ = client.take_transmit();
    assert_eq!(client.handle_input(&[5, 0]).unwrap(), Progress::Pending);
    let _ = client.take_transmit();
    client
}

#[test]
fn the_client_takes_replies_with_any_address_type() {
    for reply in [
        domain_reply(0),
        vec![5, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90],
        [&[5u8, 0, 0, 4][..], &[0; 16], &[0, 0]].concat(),
    ] {
        let mut client = client_awaiting_reply();
        assert_eq!(
            client.handle_input(&reply).unwrap(),
            Progress::Established(Established {
                consumed: reply.len()
            })
        );
        assert_eq!(client.handle_input(b"more"), Err(Socks5Error::Finished));
    }
}

#[test]
fn the_client_says_why_a_server_refused() {
    let mut client = client_awaiting_reply();
    let refused = client.handle_input(&domain_reply(5)).unwrap_err();
    assert_eq!(refused, Socks5Error::Refused(5));
    assert!(
        refused.to_string().contains("connection refused"),
        "{refused}"
    );

    let mut client = Socks5Client::new(HASH).unwrap();
    assert_eq!(
        client.handle_input(&[5, 0xff]),
        Err(Socks5Error::NoAcceptableMethod)
    );
    let mut client = Socks5Client::new(HASH).unwrap();
    assert_eq!(
        client.handle_input(&[5, 2]),
        Err(Socks5Error::UnexpectedMethod(2))
    );
    assert!(
        client.take_transmit().len() == 3,
        "nothing but the greeting went"
    );
    let mut client = client_awaiting_reply();
    assert_eq!(
        client.handle_input(&[5, 0, 0, 9]),
        Err(Socks5Error::UnsupportedAddressType(9))
    );
    // An HTTP server where a streamhost was announced.
    let mut client = Socks5Client::new(HASH).unwrap();
    assert_eq!(
        client.handle_input(b"HTTP/1.1 400 Bad Request\r\n"),
        Err(Socks5Error::NotSocks5 { version: b'H' })
    );
}

#[test]
fn the_client_refuses_an_address_one_length_byte_cannot_say() {
    assert_eq!(Socks5Client::new("").unwrap_err(), Socks5Error::BadAddress);
    assert_eq!(
        Socks5Client::new(&"a".repeat(256)).unwrap_err(),
        Socks5Error::BadAddress
    );
    assert!(Socks5Client::new(&"a".repeat(255)).is_ok());
}

/// A server past the greeting.
fn server_awaiting_request() -> Socks5Server {
    let mut server = Socks5Server::new(HASH);
    assert_eq!(server.handle_input(&[5, 1, 0]).unwrap(), Progress::Pending);
    assert_eq!(server.take_transmit(), vec![5, 0]);
    server
}

fn request(command: u8, address: &[u8]) -> Vec<u8> {
    [&[5, command, 0][..], address, &[0, 0]].concat()
}

fn domain(name: &str) -> Vec<u8> {
    [&[3, name.len() as u8][..], name.as_bytes()].concat()
}

#[test]
fn the_server_admits_only_the_streams_hash_and_says_why_to_anyone_else() {
    // The hash in capitals is the same hash.
    let mut server = server_awaiting_request();
    let upper = request(1, &domain(&HASH.to_ascii_uppercase()));
    assert!(matches!(
        server.handle_input(&upper).unwrap(),
        Progress::Established(_)
    ));

    // A guess: refused with "not allowed by ruleset".
    let mut server = server_awaiting_request();
    let other = stream_hash("sid-2", "alice@hosta", "bob@hostb");
    assert_eq!(
        server.handle_input(&request(1, &domain(&other))),
        Err(Socks5Error::WrongHash)
    );
    assert_eq!(server.take_transmit()[..2], [5, 2]);
    assert_eq!(server.handle_input(&[5]), Err(Socks5Error::Finished));

    // BIND, UDP ASSOCIATE: command not supported.
    for command in [2, 3] {
        let mut server = server_awaiting_request();
        assert_eq!(
            server.handle_input(&request(command, &domain(HASH))),
            Err(Socks5Error::UnsupportedCommand(command))
        );
        assert_eq!(server.take_transmit()[..2], [5, 7]);
    }

    // An IPv4 address instead of the hash: address type not supported.
    let mut server = server_awaiting_request();
    assert_eq!(
        server.handle_input(&request(1, &[1, 10, 0, 0, 1])),
        Err(Socks5Error::UnsupportedAddressType(1))
    );
    assert_eq!(server.take_transmit()[..2], [5, 8]);

    // An empty name.
    let mut server = server_awaiting_request();
    assert_eq!(
        server.handle_input(&request(1, &domain(""))),
        Err(Socks5Error::WrongHash)
    );
}

#[test]
fn the_server_wants_no_authentication_offered_and_socks5_spoken() {
    // Only username/password offered: "no acceptable methods".
    let mut server = Socks5Server::new(HASH);
    assert_eq!(
        server.handle_input(&[5, 1, 2]),
        Err(Socks5Error::NoAcceptableMethod)
    );
    assert_eq!(server.take_transmit(), vec![5, 0xff]);
    // Several methods, "no authentication" among them.
    let mut server = Socks5Server::new(HASH);
    assert_eq!(
        server.handle_input(&[5, 3, 2, 1, 0]).unwrap(),
        Progress::Pending
    );
    assert_eq!(server.take_transmit(), vec![5, 0]);
    // SOCKS4, or an HTTP client: not SOCKS5, and no reply.
    for (input, version) in [
        (&[4u8, 1, 0, 80][..], 4),
        (&b"GET / HTTP/1.1\r\n"[..], b'G'),
    ] {
        let mut server = Socks5Server::new(HASH);
        assert_eq!(
            server.handle_input(input),
            Err(Socks5Error::NotSocks5 { version })
        );
        assert!(server.take_transmit().is_empty());
    }
}

#[test]
fn a_server_for_several_streams_says_which_one_a_connection_asked_for() {
    let first = stream_hash("1", "alice@hosta", "bob@hostb");
    let second = stream_hash("2", "alice@hosta", "bob@hostb");
    let mut server = Socks5Server::admitting([first.as_str(), second.as_str()]);
    assert_eq!(server.admitted(), None);
    assert_eq!(server.handle_input(&[5, 1, 0]).unwrap(), Progress::Pending);
    let progress = server.handle_input(&request(1, &domain(&second))).unwrap();
    assert!(matches!(progress, Progress::Established(_)));
    assert_eq!(server.admitted(), Some(second.as_str()));

    // Nobody's hash: refused, and nothing admitted.
    let mut server = Socks5Server::admitting([first.as_str()]);
    server.handle_input(&[5, 1, 0]).unwrap();
    let guess = stream_hash("3", "alice@hosta", "bob@hostb");
    assert_eq!(
        server.handle_input(&request(1, &domain(&guess))),
        Err(Socks5Error::WrongHash)
    );
    assert_eq!(server.admitted(), None);
}
