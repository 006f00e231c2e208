//! The HTTP/1.1 side of XEP-0066 Out of Band Data, as iChat, Adium and telepathy-salut
//! use it: the sender serves the file at a URL, the receiver GETs it. Only what that
//! needs: one GET (or HEAD) per connection, a `Content-Length` body, no chunked
//! encoding. Heads are parsed with `httparse`; both readers take bytes in any chunking
//! and never read past the head: the rest is body.

use std::fmt;

/// The most bytes a request or response head may take, the blank line included.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// The most header fields a head may have.
pub const MAX_HEADERS: usize = 32;

/// Why a head was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// Not HTTP/1.x as `httparse` reads it.
    Malformed(String),
    /// The head is over [`MAX_HEAD_BYTES`] or has more than [`MAX_HEADERS`] fields.
    HeadTooLarge,
    /// A request method other than GET or HEAD.
    MethodNotAllowed(String),
    /// A response status other than 200.
    Status(u16),
    /// A response body in chunked encoding, which OOB peers never send.
    Chunked,
    /// A response without a (single, numeric) `Content-Length`.
    NoContentLength,
    /// The reader already has its head.
    Finished,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Malformed(why) => write!(f, "not an HTTP/1.1 head: {why}"),
            HttpError::HeadTooLarge => write!(
                f,
                "HTTP head over {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} fields"
            ),
            HttpError::MethodNotAllowed(m) => write!(f, "HTTP method {m} is not served"),
            HttpError::Status(code) => write!(f, "the HTTP server answered {code}"),
            HttpError::Chunked => write!(f, "a chunked HTTP body (a Content-Length is needed)"),
            HttpError::NoContentLength => write!(f, "an HTTP response without Content-Length"),
            HttpError::Finished => write!(f, "the HTTP head was already read"),
        }
    }
}

impl std::error::Error for HttpError {}

impl HttpError {
    /// The status a server answers this error with (400, 405 or 431), if it is one a
    /// server meets.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Malformed(_) => Some(400),
            HttpError::HeadTooLarge => Some(431),
            HttpError::MethodNotAllowed(_) => Some(405),
            _ => None,
        }
    }
}

/// A request head that was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// `true` for HEAD (send the head, not the body).
    pub head_only: bool,
    /// The request target as sent (`/a1b2c3/photo.jpg`), to be matched exactly against
    /// the URLs offered.
    pub path: String,
    /// How many bytes of the last chunk belonged to the head.
    pub consumed: usize,
}

/// A response head that was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The body's length, from `Content-Length`.
    pub content_length: u64,
    /// How many bytes of the last chunk belonged to the head; the rest is body.
    pub consumed: usize,
}

/// Gathers a head until its blank line, bounded by [`MAX_HEAD_BYTES`].
#[derive(Debug, Default)]
struct HeadBuffer {
    bytes: Vec<u8>,
    done: bool,
}

impl HeadBuffer {
    /// Appends `input` up to the head's end; `Some(consumed)` once the blank line is in.
    fn push(&mut self, input: &[u8]) -> Result<Option<usize>, HttpError> {
        if self.done {
            return Err(HttpError::Finished);
        }
        let before = self.bytes.len();
        // The blank line may straddle two chunks: look from three bytes back.
        let room = MAX_HEAD_BYTES - before;
        self.bytes
            .extend_from_slice(&input[..input.len().min(room)]);
        let from = before.saturating_sub(3);
        match blank_line_end(&self.bytes[from..]) {
            Some(end) => {
                let end = from + end;
                self.bytes.truncate(end);
                self.done = true;
                Ok(Some(end - before))
            }
            None if self.bytes.len() >= MAX_HEAD_BYTES => {
                self.done = true;
                Err(HttpError::HeadTooLarge)
            }
            None => Ok(None),
        }
    }
}

/// Where `\r\n\r\n` ends in `bytes`, if it is there.
fn blank_line_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

/// What `httparse` made of a head that ends in its blank line: it must be whole.
fn whole(parsed: httparse::Result<usize>) -> Result<(), HttpError> {
    match parsed {
        Ok(httparse::Status::Complete(_)) => Ok(()),
        Ok(httparse::Status::Partial) => Err(HttpError::Malformed("an incomplete head".into())),
        Err(httparse::Error::TooManyHeaders) => Err(HttpError::HeadTooLarge),
        Err(other) => Err(HttpError::Malformed(other.to_string())),
    }
}

/// Reads the request a receiver sends to our OOB URL.
#[derive(Debug, Default)]
pub struct RequestReader {
    head: HeadBuffer,
}

impl RequestReader {
    /// A reader waiting for the request head.
    pub fn new() -> RequestReader {
        RequestReader::default()
    }

    /// Feeds bytes read from the connection: `Ok(None)` while the head is not whole.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<Option<Request>, HttpError> {
        let Some(consumed) = self.head.push(input)? else {
            return Ok(None);
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        whole(request.parse(&self.head.bytes))?;
        let method = request.method.unwrap_or_default();
        let head_only = match method {
            "GET" => false,
            "HEAD" => true,
            other => return Err(HttpError::MethodNotAllowed(other.to_owned())),
        };
        Ok(Some(Request {
            head_only,
            path: request.path.unwrap_or_default().to_owned(),
            consumed,
        }))
    }
}

/// Reads the response to our GET of a peer's OOB URL.
#[derive(Debug, Default)]
pub struct ResponseReader {
    head: HeadBuffer,
}

impl ResponseReader {
    /// A reader waiting for the response head.
    pub fn new() -> ResponseReader {
        ResponseReader::default()
    }

    /// Feeds bytes read from the connection: `Ok(None)` while the head is not whole.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<Option<Response>, HttpError> {
        let Some(consumed) = self.head.push(input)? else {
            return Ok(None);
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        whole(response.parse(&self.head.bytes))?;
        let code = response.code.unwrap_or_default();
        if code != 200 {
            return Err(HttpError::Status(code));
        }
        let field = |name: &str| {
            response
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
                .collect::<Vec<&[u8]>>()
        };
        if field("transfer-encoding")
            .iter()
            .any(|v| !v.eq_ignore_ascii_case(b"identity"))
        {
            return Err(HttpError::Chunked);
        }
        let lengths = field("content-length");
        let content_length = match lengths.as_slice() {
            [one] => std::str::from_utf8(one)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(HttpError::NoContentLength)?,
            _ => return Err(HttpError::NoContentLength),
        };
        Ok(Some(Response {
            content_length,
            consumed,
        }))
    }
}

/// The head of our GET of `path` on `host` (an address, with its port).
pub fn request_head(host: &str, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
}

/// The head of a 200 response carrying `content_length` bytes of `content_type`.
pub fn ok_head(content_length: u64, content_type: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {content_length}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// The head of an error response with `status` (404 for a URL not offered, or a code
/// from [`HttpError::status`]), with no body.
pub fn error_head(status: u16) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .into_bytes()
}
