//! The SOCKS5 handshake as XEP-0065 (SOCKS5 Bytestreams) uses it, for both roles: no
//! authentication, one CONNECT to a domain name that is the stream's hash, port 0; after
//! the server's reply the connection carries the file's bytes, unframed.
//!
//! Both machines take bytes in any chunking and never read past the handshake: what
//! follows the last handshake byte in a chunk is the stream's first data, handed back
//! with [`Established::consumed`].

use std::fmt;

/// SOCKS protocol version 5.
const VERSION: u8 = 5;
/// The method "no authentication required" (RFC 1928 §3).
const NO_AUTHENTICATION: u8 = 0;
/// The reply "no acceptable methods" (RFC 1928 §3).
const NO_ACCEPTABLE_METHOD: u8 = 0xff;
/// The command CONNECT (RFC 1928 §4).
const CONNECT: u8 = 1;
/// Address types (RFC 1928 §4, §5).
const ATYP_IPV4: u8 = 1;
const ATYP_DOMAIN: u8 = 3;
const ATYP_IPV6: u8 = 4;
/// The reply "connection not allowed by ruleset" (RFC 1928 §6): a hash that is not the
/// stream's.
const NOT_ALLOWED: u8 = 2;
/// The reply "command not supported" (RFC 1928 §6).
const COMMAND_NOT_SUPPORTED: u8 = 7;
/// The reply "address type not supported" (RFC 1928 §6).
const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 8;

/// The domain name a XEP-0065 bytestream connects to: the hex SHA-1 of the stream id,
/// the initiator's JID and the target's JID, concatenated (XEP-0065 §5.3.2). In
/// link-local XMPP the JIDs are the instance names (`alice@host`).
pub fn stream_hash(sid: &str, initiator: &str, target: &str) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(sid.as_bytes());
    sha1.update(initiator.as_bytes());
    sha1.update(target.as_bytes());
    sha1.digest().to_string()
}

/// Why a handshake failed. After any of them the connection is of no further use.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Socks5Error {
    /// A message did not start with version 5.
    NotSocks5 {
        /// The version byte that came.
        version: u8,
    },
    /// The client offered no "no authentication" method (the server answered 0xFF).
    NoAcceptableMethod,
    /// The server chose a method other than "no authentication".
    UnexpectedMethod(u8),
    /// A command other than CONNECT.
    UnsupportedCommand(u8),
    /// An address type other than a domain name (server), or unknown (client).
    UnsupportedAddressType(u8),
    /// The domain name is not the stream's hash: not the peer we expect, or a guess.
    WrongHash,
    /// The domain name is longer than one length byte can say, or empty.
    BadAddress,
    /// The server refused the CONNECT, with this reply code (RFC 1928 §6).
    Refused(u8),
    /// The handshake was already over, or had failed.
    Finished,
}

impl fmt::Display for Socks5Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Socks5Error::NotSocks5 { version } => write!(f, "not SOCKS5 (version byte {version})"),
            Socks5Error::NoAcceptableMethod => {
                write!(
                    f,
                    "no acceptable SOCKS5 method: only \"no authentication\" is offered"
                )
            }
            Socks5Error::UnexpectedMethod(m) => write!(f, "the SOCKS5 server chose method {m}"),
            Socks5Error::UnsupportedCommand(c) => {
                write!(f, "SOCKS5 command {c} is not supported (only CONNECT)")
            }
            Socks5Error::UnsupportedAddressType(t) => {
                write!(f, "SOCKS5 address type {t} is not supported")
            }
            Socks5Error::WrongHash => write!(f, "the SOCKS5 address is not this stream's hash"),
            Socks5Error::BadAddress => write!(f, "the SOCKS5 address is empty or too long"),
            Socks5Error::Refused(code) => {
                write!(
                    f,
                    "the SOCKS5 server refused the connection (reply {code}: {})",
                    reply_text(*code)
                )
            }
            Socks5Error::Finished => write!(f, "the SOCKS5 handshake is over"),
        }
    }
}

impl std::error::Error for Socks5Error {}

/// RFC 1928 §6's words for a reply code.
fn reply_text(code: u8) -> &'static str {
    match code {
        0 => "succeeded",
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unassigned",
    }
}

/// The handshake is done: the connection now carries the stream's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Established {
    /// How many bytes of the last chunk belonged to the handshake; the rest of that
    /// chunk is the stream's first data (libpurple's server writes the file at once after
    /// its reply).
    pub consumed: usize,
}

/// Where a machine is after a chunk of input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// It needs more bytes (after sending what [`Socks5Client::take_transmit`] or
    /// [`Socks5Server::take_transmit`] holds).
    Pending,
    /// The handshake is over; see [`Established`].
    Established(Established),
}

/// Reads one length-prefixed or fixed-size field from the bytes gathered so far.
/// Handshake messages are short (at most 262 bytes), so they are gathered whole before
/// they are read; `want` says how many bytes the message has, given what is there.
#[derive(Debug, Default)]
struct Gather {
    bytes: Vec<u8>,
}

impl Gather {
    /// Appends from `input` until the message is complete, by `length` (the message's
    /// size once enough of it is there, `None` while it cannot be known yet). Returns
    /// how many bytes of `input` it took, and whether the message is complete.
    fn take(&mut self, input: &[u8], length: impl Fn(&[u8]) -> Option<usize>) -> (usize, bool) {
        let mut taken = 0;
        loop {
            let need = match length(&self.bytes) {
                Some(total) if self.bytes.len() >= total => return (taken, true),
                Some(total) => total - self.bytes.len(),
                // The length is not known yet: one more byte may tell.
                None => 1,
            };
            let rest = &input[taken..];
            if rest.is_empty() {
                return (taken, false);
            }
            let n = need.min(rest.len());
            self.bytes.extend_from_slice(&rest[..n]);
            taken += n;
        }
    }
}

impl Gather {
    /// Gathers one message from `input[*used..]` (advancing `used`), judging its version
    /// byte as soon as it comes: an HTTP client (`GET …`) would otherwise be waited on for
    /// its "methods". The whole message once it is there, `None` while it is not.
    fn message(
        &mut self,
        input: &[u8],
        used: &mut usize,
        length: impl Fn(&[u8]) -> Option<usize>,
    ) -> Result<Option<Vec<u8>>, Socks5Error> {
        let (n, complete) = self.take(&input[*used..], length);
        *used += n;
        if let Some(&version) = self.bytes.first() {
            if version != VERSION {
                return Err(Socks5Error::NotSocks5 { version });
            }
        }
        Ok(complete.then(|| std::mem::take(&mut self.bytes)))
    }
}

/// The size of a request or reply (VER, CMD or REP, RSV, then an address and a port),
/// once its first bytes are there.
fn command_length(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 4 {
        return None;
    }
    address_length(&bytes[3..]).map(|len| 3 + len)
}

/// The size of a SOCKS5 address with its type byte and port, once its first bytes (from
/// the type byte on) are there.
fn address_length(from_type: &[u8]) -> Option<usize> {
    match *from_type.first()? {
        ATYP_IPV4 => Some(1 + 4 + 2),
        ATYP_IPV6 => Some(1 + 16 + 2),
        ATYP_DOMAIN => from_type.get(1).map(|&len| 2 + usize::from(len) + 2),
        // Unknown: judged by the caller as soon as the type byte is read.
        _ => Some(1),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientState {
    /// Waiting for the method choice (2 bytes).
    Method,
    /// Waiting for the CONNECT reply.
    Reply,
    Done,
}

/// The side that connects to a streamhost: the target of an offer (libpurple's own
/// streamhost, or ours), which sends the greeting and the CONNECT at once and reads the
/// two replies.
#[derive(Debug)]
pub struct Socks5Client {
    state: ClientState,
    hash: String,
    transmit: Vec<u8>,
    gather: Gather,
}

impl Socks5Client {
    /// A handshake for the stream whose hash is `hash` ([`stream_hash`]). The greeting
    /// (`05 01 00`: one method, no authentication; libpurple's server reads exactly these
    /// three bytes) is ready to send at once.
    pub fn new(hash: &str) -> Result<Socks5Client, Socks5Error> {
        if hash.is_empty() || hash.len() > 255 {
            return Err(Socks5Error::BadAddress);
        }
        Ok(Socks5Client {
            state: ClientState::Method,
            hash: hash.to_owned(),
            transmit: vec![VERSION, 1, NO_AUTHENTICATION],
            gather: Gather::default(),
        })
    }

    /// The bytes to write to the connection now (empty if none).
    pub fn take_transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.transmit)
    }

    /// Feeds bytes read from the connection.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<Progress, Socks5Error> {
        let mut used = 0;
        loop {
            match self.state {
                ClientState::Done => return Err(Socks5Error::Finished),
                ClientState::Method => {
                    let message = self.gather.message(input, &mut used, |_| Some(2));
                    let reply = match message {
                        Ok(Some(reply)) => reply,
                        Ok(None) => return Ok(Progress::Pending),
                        Err(e) => return self.fail(e),
                    };
                    match reply[1] {
                        NO_AUTHENTICATION => {}
                        NO_ACCEPTABLE_METHOD => return self.fail(Socks5Error::NoAcceptableMethod),
                        other => return self.fail(Socks5Error::UnexpectedMethod(other)),
                    }
                    self.transmit
                        .extend_from_slice(&[VERSION, CONNECT, 0, ATYP_DOMAIN]);
                    self.transmit.push(self.hash.len() as u8);
                    self.transmit.extend_from_slice(self.hash.as_bytes());
                    self.transmit.extend_from_slice(&[0, 0]);
                    self.state = ClientState::Reply;
                }
                ClientState::Reply => {
                    // VER REP RSV, then an address of any type (libpurple answers with a
                    // domain name) and a port.
                    let message = self.gather.message(input, &mut used, command_length);
                    let reply = match message {
                        Ok(Some(reply)) => reply,
                        Ok(None) => return Ok(Progress::Pending),
                        Err(e) => return self.fail(e),
                    };
                    if !matches!(reply[3], ATYP_IPV4 | ATYP_DOMAIN | ATYP_IPV6) {
                        return self.fail(Socks5Error::UnsupportedAddressType(reply[3]));
                    }
                    if reply[1] != 0 {
                        return self.fail(Socks5Error::Refused(reply[1]));
                    }
                    self.state = ClientState::Done;
                    return Ok(Progress::Established(Established { consumed: used }));
                }
            }
        }
    }

    fn fail<T>(&mut self, error: Socks5Error) -> Result<T, Socks5Error> {
        self.state = ClientState::Done;
        Err(error)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ServerState {
    /// Waiting for the greeting (version, method count, methods).
    Greeting,
    /// Waiting for the request.
    Request,
    Done,
}

/// The side that accepts: our streamhost, to which the target of our offer connects.
/// It accepts only "no authentication", only CONNECT, only a domain name, and only the
/// stream's own hash (XEP-0065 §5.3.2: a connection that does not know the hash is not
/// the peer's), answering a refusal with the matching reply code before it fails.
#[derive(Debug)]
pub struct Socks5Server {
    state: ServerState,
    hashes: Vec<String>,
    admitted: Option<usize>,
    transmit: Vec<u8>,
    gather: Gather,
}

impl Socks5Server {
    /// A handshake that admits the stream whose hash is `hash` ([`stream_hash`]).
    pub fn new(hash: &str) -> Socks5Server {
        Socks5Server::admitting([hash])
    }

    /// A handshake that admits any of the streams whose hashes are given: a streamhost
    /// shared by several offers to the same peer learns which one a connection is for
    /// only from its request ([`Socks5Server::admitted`]).
    pub fn admitting<'h>(hashes: impl IntoIterator<Item = &'h str>) -> Socks5Server {
        Socks5Server {
            state: ServerState::Greeting,
            hashes: hashes.into_iter().map(str::to_ascii_lowercase).collect(),
            admitted: None,
            transmit: Vec::new(),
            gather: Gather::default(),
        }
    }

    /// The hash the connection asked for, once the handshake is established (lowercase).
    pub fn admitted(&self) -> Option<&str> {
        self.admitted.map(|i| self.hashes[i].as_str())
    }

    /// The bytes to write to the connection now (empty if none). After an error they
    /// hold the refusal, if the protocol has one: write them, then close.
    pub fn take_transmit(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.transmit)
    }

    /// Feeds bytes read from the connection.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<Progress, Socks5Error> {
        let mut used = 0;
        loop {
            match self.state {
                ServerState::Done => return Err(Socks5Error::Finished),
                ServerState::Greeting => {
                    let message = self.gather.message(input, &mut used, |bytes| {
                        bytes.get(1).map(|&count| 2 + usize::from(count))
                    });
                    let greeting = match message {
                        Ok(Some(greeting)) => greeting,
                        Ok(None) => return Ok(Progress::Pending),
                        Err(e) => return self.fail(e),
                    };
                    if !greeting[2..].contains(&NO_AUTHENTICATION) {
                        self.transmit
                            .extend_from_slice(&[VERSION, NO_ACCEPTABLE_METHOD]);
                        return self.fail(Socks5Error::NoAcceptableMethod);
                    }
                    self.transmit
                        .extend_from_slice(&[VERSION, NO_AUTHENTICATION]);
                    self.state = ServerState::Request;
                }
                ServerState::Request => {
                    let message = self.gather.message(input, &mut used, command_length);
                    let request = match message {
                        Ok(Some(request)) => request,
                        Ok(None) => return Ok(Progress::Pending),
                        Err(e) => return self.fail(e),
                    };
                    if request[1] != CONNECT {
                        self.refuse(COMMAND_NOT_SUPPORTED);
                        return self.fail(Socks5Error::UnsupportedCommand(request[1]));
                    }
                    if request[3] != ATYP_DOMAIN {
                        self.refuse(ADDRESS_TYPE_NOT_SUPPORTED);
                        return self.fail(Socks5Error::UnsupportedAddressType(request[3]));
                    }
                    let name = &request[5..request.len() - 2];
                    let Some(admitted) = self
                        .hashes
                        .iter()
                        .position(|hash| name.eq_ignore_ascii_case(hash.as_bytes()))
                    else {
                        self.refuse(NOT_ALLOWED);
                        return self.fail(Socks5Error::WrongHash);
                    };
                    self.admitted = Some(admitted);
                    // Succeeded: the bound address is the name asked for, port 0, as
                    // XEP-0065 peers answer.
                    self.transmit
                        .extend_from_slice(&[VERSION, 0, 0, ATYP_DOMAIN]);
                    self.transmit.push(name.len() as u8);
                    self.transmit.extend_from_slice(name);
                    self.transmit.extend_from_slice(&[0, 0]);
                    self.state = ServerState::Done;
                    return Ok(Progress::Established(Established { consumed: used }));
                }
            }
        }
    }

    /// Queues a failure reply with `code` (and an empty IPv4 address, port 0).
    fn refuse(&mut self, code: u8) {
        self.transmit
            .extend_from_slice(&[VERSION, code, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
    }

    fn fail<T>(&mut self, error: Socks5Error) -> Result<T, Socks5Error> {
        self.state = ServerState::Done;
        Err(error)
    }
}
