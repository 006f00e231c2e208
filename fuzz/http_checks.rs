//! The property of the `http` fuzz target, shared with the transfer tests that replay its
//! seeds: whatever a peer sends, in whatever pieces, the OOB request and response readers
//! end in an outcome without panicking, never consume more than they are given, never
//! hold more than the head bound, and take nothing once done.

use llxmpp_transfer::http::{RequestReader, ResponseReader};

/// `http` target: the first byte sets the piece size (1 to 256 bytes); the rest is fed to
/// a request reader and, separately, to a response reader.
pub fn check_http(data: &[u8]) {
    let Some((&size, input)) = data.split_first() else {
        return;
    };
    let size = usize::from(size) + 1;
    let mut requests = RequestReader::new();
    for piece in input.chunks(size) {
        match requests.handle_input(piece) {
            Ok(None) => {}
            Ok(Some(request)) => {
                assert!(request.consumed <= piece.len());
                assert!(request.path.len() < llxmpp_transfer::http::MAX_HEAD_BYTES);
                assert!(requests.handle_input(b"x").is_err());
                break;
            }
            Err(_) => {
                assert!(requests.handle_input(b"x").is_err());
                break;
            }
        }
    }
    let mut responses = ResponseReader::new();
    for piece in input.chunks(size) {
        match responses.handle_input(piece) {
            Ok(None) => {}
            Ok(Some(response)) => {
                assert!(response.consumed <= piece.len());
                break;
            }
            Err(_) => break,
        }
    }
}
