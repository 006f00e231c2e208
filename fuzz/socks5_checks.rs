//! The property of the `socks5` fuzz target, shared with the transfer tests that replay
//! its seeds: whatever a peer sends, in whatever pieces, the XEP-0065 SOCKS5 machines of
//! both roles end in an outcome without panicking, never consume more than they are
//! given, and the server admits a connection only when the stream's hash was asked for.

use llxmpp_transfer::{Progress, Socks5Client, Socks5Server};

/// The hash both machines expect.
pub const HASH: &str = "e481e4a147fab8eb498c33d3cd5760964064592d";

/// `socks5` target: the first byte sets the piece size (1 to 256 bytes); the rest is what
/// the peer sends, fed to a server and, separately, to a client.
pub fn check_socks5(data: &[u8]) {
    let Some((&size, input)) = data.split_first() else {
        return;
    };
    let size = usize::from(size) + 1;

    let mut server = Socks5Server::new(HASH);
    let mut fed = 0;
    for piece in input.chunks(size) {
        match server.handle_input(piece) {
            Ok(Progress::Pending) => fed += piece.len(),
            Ok(Progress::Established(done)) => {
                assert!(done.consumed <= piece.len());
                let request = &input[..fed + done.consumed];
                assert!(
                    request
                        .windows(HASH.len())
                        .any(|w| w.eq_ignore_ascii_case(HASH.as_bytes())),
                    "admitted without the hash"
                );
                break;
            }
            Err(_) => {
                // Over: anything more is refused, not read.
                assert!(server.handle_input(b"\x05").is_err());
                break;
            }
        }
        let _ = server.take_transmit();
    }

    let mut client = Socks5Client::new(HASH).expect("a valid hash");
    let _ = client.take_transmit();
    for piece in input.chunks(size) {
        match client.handle_input(piece) {
            Ok(Progress::Pending) => {}
            Ok(Progress::Established(done)) => {
                assert!(done.consumed <= piece.len());
                break;
            }
            Err(_) => {
                assert!(client.handle_input(b"\x05").is_err());
                break;
            }
        }
        let _ = client.take_transmit();
    }
}
