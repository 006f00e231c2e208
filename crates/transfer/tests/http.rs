//! The HTTP side of XEP-0066 OOB: request and response heads in any chunking, every
//! refusal, and both readers against real programs on loopback (curl fetching from our
//! server loop, our reader taking a file from Python's http.server).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};

use llxmpp_transfer::http::{
    error_head, ok_head, request_head, HttpError, Request, RequestReader, Response, ResponseReader,
    MAX_HEAD_BYTES,
};
use proptest::prelude::*;

/// Feeds `bytes` cut at `cuts`; the outcome and where the head ended in `bytes`.
fn feed<T>(
    mut handle: impl FnMut(&[u8]) -> Result<Option<T>, HttpError>,
    bytes: &[u8],
    cuts: &[usize],
) -> Result<Option<(T, usize)>, HttpError> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.push(bytes.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut from = 0;
    for to in cuts {
        if let Some(found) = handle(&bytes[from..to])? {
            return Ok(Some((found, from)));
        }
        from = to;
    }
    Ok(None)
}

proptest! {
    /// A GET with the first body-like bytes behind it, cut anywhere: the same request,
    /// and the head's end exactly where it is.
    #[test]
    fn a_request_in_any_chunking_is_the_same_request(
        cuts in proptest::collection::vec(0usize..120, 0..6),
    ) {
        let mut bytes = request_head("10.0.0.1:8010", "/k3y/photo%20one.jpg");
        let head = bytes.len();
        bytes.extend_from_slice(b"XYZ");
        let mut reader = RequestReader::new();
        let (request, from) = feed(|b| reader.handle_input(b), &bytes, &cuts).unwrap().unwrap();
        prop_assert_eq!(from + request.consumed, head);
        prop_assert_eq!(request, Request {
            head_only: false,
            path: "/k3y/photo%20one.jpg".into(),
            consumed: head - from,
        });
    }

    #[test]
    fn a_response_in_any_chunking_gives_its_length_and_leaves_the_body(
        cuts in proptest::collection::vec(0usize..120, 0..6),
        length in 0u64..u64::MAX,
    ) {
        let mut bytes = ok_head(length, "application/octet-stream");
        let head = bytes.len();
        bytes.extend_from_slice(b"body");
        let mut reader = ResponseReader::new();
        let (response, from) = feed(|b| reader.handle_input(b), &bytes, &cuts).unwrap().unwrap();
        prop_assert_eq!(from + response.consumed, head);
        prop_assert_eq!(response.content_length, length);
    }

    /// Any bytes, in any pieces: an outcome, never a panic, never more consumed than given.
    #[test]
    fn no_input_makes_a_reader_panic(
        input in proptest::collection::vec(any::<u8>(), 0..600),
        cuts in proptest::collection::vec(0usize..600, 0..8),
    ) {
        let mut requests = RequestReader::new();
        let _ = feed(|b| {
            let r = requests.handle_input(b)?;
            if let Some(r) = &r { assert!(r.consumed <= b.len()); }
            Ok(r)
        }, &input, &cuts);
        let mut responses = ResponseReader::new();
        let _ = feed(|b| {
            let r = responses.handle_input(b)?;
            if let Some(r) = &r { assert!(r.consumed <= b.len()); }
            Ok(r)
        }, &input, &cuts);
    }
}

#[test]
fn a_server_refuses_what_it_does_not_serve_with_the_right_status() {
    let request = |bytes: &[u8]| RequestReader::new().handle_input(bytes);
    let head = request(b"HEAD /k3y/a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap()
        .unwrap();
    assert!(head.head_only);
    let post = request(b"POST /k3y/a.txt HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_err();
    assert_eq!(post, HttpError::MethodNotAllowed("POST".into()));
    assert_eq!(post.status(), Some(405));
    let garbage = request(b"\x05\x01\x00 hello\r\n\r\n").unwrap_err();
    assert_eq!(garbage.status(), Some(400), "{garbage}");
    // A head that never ends within the bound.
    let mut reader = RequestReader::new();
    let mut long = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
    long.resize(MAX_HEAD_BYTES - 1, b'a');
    assert_eq!(reader.handle_input(&long), Ok(None));
    assert_eq!(reader.handle_input(b"aa"), Err(HttpError::HeadTooLarge));
    assert_eq!(HttpError::HeadTooLarge.status(), Some(431));
    // Too many fields.
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..40 {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(request(&many), Err(HttpError::HeadTooLarge));
    // After its head, a reader takes nothing more.
    let mut reader = RequestReader::new();
    reader
        .handle_input(&request_head("h", "/"))
        .unwrap()
        .unwrap();
    assert_eq!(reader.handle_input(b"GET"), Err(HttpError::Finished));
}

#[test]
fn a_client_refuses_what_it_cannot_read_to_the_end() {
    let response = |bytes: &[u8]| ResponseReader::new().handle_input(bytes);
    assert_eq!(response(&error_head(404)), Err(HttpError::Status(404)));
    assert_eq!(
        response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Err(HttpError::Chunked)
    );
    for head in [
        &b"HTTP/1.1 200 OK\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    ] {
        assert_eq!(response(head), Err(HttpError::NoContentLength));
    }
    assert_eq!(
        response(b"HTTP/1.0 200 OK\r\ncontent-length: 12\r\n\r\n"),
        Ok(Some(Response {
            content_length: 12,
            consumed: 39
        }))
    );
}

/// Whether `program` runs here; under CI it must.
fn have(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        eprintln!("\n!!! {program} is not installed: its test is not run\n");
        assert!(std::env::var_os("CI").is_none(), "CI must have {program}");
    }
    found
}

/// Serves `body` at `path` on loopback, one connection per request, with our reader and
/// heads; a guessed path gets 404.
fn serve(listener: TcpListener, path: &'static str, body: Vec<u8>, connections: usize) {
    for _ in 0..connections {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = RequestReader::new();
        let mut buf = [0u8; 512];
        let request = loop {
            let n = stream.read(&mut buf).unwrap();
            if let Some(request) = reader.handle_input(&buf[..n]).unwrap() {
                break request;
            }
        };
        if request.path == path {
            stream
                .write_all(&ok_head(body.len() as u64, "application/octet-stream"))
                .unwrap();
            if !request.head_only {
                stream.write_all(&body).unwrap();
            }
        } else {
            stream.write_all(&error_head(404)).unwrap();
        }
    }
}

#[test]
fn curl_fetches_a_file_from_our_server_and_a_guessed_url_is_not_found() {
    if !have("curl") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let served = body.clone();
    let server = std::thread::spawn(move || serve(listener, "/k3y/file.bin", served, 2));
    let fetch = |path: &str| {
        Command::new("curl")
            .args(["--silent", "--fail", "--max-time", "10"])
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .unwrap()
    };
    let got = fetch("/k3y/file.bin");
    assert!(got.status.success(), "{got:?}");
    assert_eq!(got.stdout, body);
    let guessed = fetch("/k3x/file.bin");
    assert_eq!(guessed.status.code(), Some(22), "curl's --fail on a 4xx");
    server.join().unwrap();
}

#[test]
fn our_reader_takes_a_file_from_pythons_http_server() {
    if !have("python3") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("llxmpp-oob-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let body: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.join("file.bin"), &body).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut python = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stream = None;
    for _ in 0..100 {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    let mut stream = stream.expect("python's server listens");
    stream
        .write_all(&request_head(&format!("127.0.0.1:{port}"), "/file.bin"))
        .unwrap();
    let mut reader = ResponseReader::new();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let mut length = None;
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        match length {
            None => {
                if let Some(response) = reader.handle_input(&buf[..n]).unwrap() {
                    length = Some(response.content_length);
                    received.extend_from_slice(&buf[response.consumed..n]);
                }
            }
            Some(_) => received.extend_from_slice(&buf[..n]),
        }
    }
    let _ = python.kill();
    let _ = python.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(length, Some(body.len() as u64));
    assert_eq!(received, body);
}
