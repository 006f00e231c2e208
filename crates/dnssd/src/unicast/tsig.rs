//! TSIG (RFC 8945): a DNS message signed with a secret shared with the server, HMAC-SHA256
//! only (what `tsig-keygen` makes by default and BIND 9 takes).
//!
//! A request is signed over its exact bytes, then its TSIG record is appended (the last
//! record, counted in ARCOUNT). The server's reply is checked over the request's MAC, the
//! reply as it would be without its TSIG record, and the TSIG variables. BIND answers a
//! wrong secret (BADSIG) or an unknown key (BADKEY) unsigned, and a clock too far off
//! (BADTIME) signed: each is its own [`TsigError`], so the user can be told which.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::decode;
use crate::name::DnsName;

/// TSIG's record type.
pub(crate) const TSIG: u16 = 250;
/// Class ANY, which a TSIG record always has.
const CLASS_ANY: u16 = 255;
/// The one algorithm supported.
pub const HMAC_SHA256: &str = "hmac-sha256";
/// Seconds of clock difference allowed either way (RFC 8945 §10 recommends 300).
pub const FUDGE: u16 = 300;
/// The longest secret taken from a key file: HMAC-SHA256 keys longer than its block are
/// hashed first anyway, and `tsig-keygen` writes 32 bytes.
const MAX_SECRET: usize = 1024;
/// The largest key file read.
pub const MAX_KEY_FILE: usize = 64 * 1024;

/// A TSIG key: its name, as the server knows it, and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TsigKey {
    name: DnsName,
    secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    // Never the secret, even in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("name", &self.name.to_string())
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// Why a key file was not taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyFileError {
    /// The file holds no `key "NAME" { … };` block.
    NoKey,
    /// The key's algorithm is another than `hmac-sha256`.
    Algorithm(String),
    /// The key has no secret, or its secret is not base64.
    Secret(String),
    /// The file is not what `tsig-keygen` writes: the line and what was wrong there.
    Syntax {
        /// The line, from 1.
        line: usize,
        /// What was expected or found.
        what: String,
    },
    /// The file is larger than [`MAX_KEY_FILE`].
    TooLarge,
    /// The key's name is not a DNS name.
    Name(String),
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileError::NoKey => {
                f.write_str("no key \"NAME\" { algorithm ...; secret \"...\"; }; in it")
            }
            KeyFileError::Algorithm(algorithm) => write!(
                f,
                "its algorithm is {algorithm}; only {HMAC_SHA256} is supported \
                 (tsig-keygen -a hmac-sha256 NAME)"
            ),
            KeyFileError::Secret(why) => write!(f, "its secret {why}"),
            KeyFileError::Syntax { line, what } => write!(f, "line {line}: {what}"),
            KeyFileError::TooLarge => write!(f, "it is larger than {MAX_KEY_FILE} bytes"),
            KeyFileError::Name(why) => write!(f, "the key's name is not a DNS name: {why}"),
        }
    }
}

impl std::error::Error for KeyFileError {}

impl TsigKey {
    /// A key named `name` with `secret`. The name is in DNS presentation format: dots
    /// separate labels, a final dot is allowed, `\.` is a dot inside a label and `\\` a
    /// backslash (RFC 1035 §5.1), as named.conf writes names.
    pub fn new(name: &str, secret: Vec<u8>) -> Result<TsigKey, KeyFileError> {
        Ok(TsigKey {
            name: presentation_name(name).map_err(KeyFileError::Name)?,
            secret,
        })
    }

    /// The first key of a key file as `tsig-keygen` (or `ddns-confgen`) writes it, in
    /// named.conf's syntax: `key "NAME" { algorithm hmac-sha256; secret "BASE64"; };`,
    /// with `//`, `#` and `/* */` comments anywhere.
    pub fn parse(text: &str) -> Result<TsigKey, KeyFileError> {
        if text.len() > MAX_KEY_FILE {
            return Err(KeyFileError::TooLarge);
        }
        let tokens = tokens(text)?;
        let mut at = 0;
        while at < tokens.len() {
            if tokens[at].text == "key" {
                return key_block(&tokens, at + 1);
            }
            at = skip_statement(&tokens, at)?;
        }
        Err(KeyFileError::NoKey)
    }

    /// The key's name, as the server knows it, in presentation format (without a final
    /// dot): what [`TsigKey::new`] reads back to the same name.
    pub fn name(&self) -> String {
        let mut text = String::new();
        for (i, label) in self.name.labels().iter().enumerate() {
            if i > 0 {
                text.push('.');
            }
            for &byte in label {
                match byte {
                    b'.' | b'\\' => {
                        text.push('\\');
                        text.push(char::from(byte));
                    }
                    0x21..=0x7E => text.push(char::from(byte)),
                    _ => text.push_str(&format!("\\{byte:03}")),
                }
            }
        }
        text
    }
}

/// A name from its presentation format: labels of 1 to 63 bytes, 255 bytes in all on
/// the wire; `\DDD` is the byte DDD, `\X` the character X.
fn presentation_name(text: &str) -> Result<DnsName, String> {
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut label = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' if label.is_empty() => return Err(format!("{text:?} has an empty label")),
            '.' => labels.push(std::mem::take(&mut label)),
            '\\' => {
                let digits: String = chars.clone().take(3).collect();
                if digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit()) {
                    let byte: u16 = digits.parse().unwrap_or(256);
                    let byte = u8::try_from(byte)
                        .map_err(|_| format!("{text:?} has an escape above \\255"))?;
                    label.push(byte);
                    chars.nth(2);
                } else {
                    let escaped = chars
                        .next()
                        .ok_or_else(|| format!("{text:?} ends with a lone backslash"))?;
                    let mut buffer = [0; 4];
                    label.extend_from_slice(escaped.encode_utf8(&mut buffer).as_bytes());
                }
            }
            other => {
                let mut buffer = [0; 4];
                label.extend_from_slice(other.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    if !label.is_empty() {
        labels.push(label);
    }
    if labels.is_empty() {
        return Err("the key's name is empty".into());
    }
    if let Some(long) = labels.iter().find(|l| l.len() > 63) {
        return Err(format!("a label of {} bytes (63 at most)", long.len()));
    }
    let name = DnsName::from_labels(labels);
    if name.wire_len() > 255 {
        return Err(format!(
            "{} bytes on the wire (255 at most)",
            name.wire_len()
        ));
    }
    Ok(name)
}

/// A word, a quoted string or one of `{`, `}`, `;`, with its line.
struct Token<'a> {
    text: &'a str,
    quoted: bool,
    line: usize,
}

fn tokens(text: &str) -> Result<Vec<Token<'_>>, KeyFileError> {
    let mut tokens = Vec::new();
    let bytes = text.as_bytes();
    let (mut at, mut line) = (0, 1);
    while at < bytes.len() {
        let rest = &text[at..];
        match bytes[at] {
            b'\n' => {
                line += 1;
                at += 1;
            }
            b if b.is_ascii_whitespace() => at += 1,
            b'#' => at += rest.find('\n').unwrap_or(rest.len()),
            b'/' if rest.starts_with("//") => at += rest.find('\n').unwrap_or(rest.len()),
            b'/' if rest.starts_with("/*") => {
                let end = rest.find("*/").ok_or(KeyFileError::Syntax {
                    line,
                    what: "a comment that never ends".into(),
                })?;
                line += rest[..end].matches('\n').count();
                at += end + 2;
            }
            b'"' => {
                let end = rest[1..].find('"').ok_or(KeyFileError::Syntax {
                    line,
                    what: "a string that never ends".into(),
                })?;
                tokens.push(Token {
                    text: &rest[1..1 + end],
                    quoted: true,
                    line,
                });
                line += rest[1..1 + end].matches('\n').count();
                at += end + 2;
            }
            b'{' | b'}' | b';' => {
                tokens.push(Token {
                    text: &rest[..1],
                    quoted: false,
                    line,
                });
                at += 1;
            }
            _ => {
                let end = rest
                    .find(|c: char| c.is_ascii_whitespace() || "{};\"".contains(c))
                    .unwrap_or(rest.len());
                tokens.push(Token {
                    text: &rest[..end],
                    quoted: false,
                    line,
                });
                at += end;
            }
        }
    }
    Ok(tokens)
}

/// The index after the statement starting at `at`: up to its `;`, braces balanced.
fn skip_statement(tokens: &[Token<'_>], mut at: usize) -> Result<usize, KeyFileError> {
    let mut depth = 0usize;
    while let Some(token) = tokens.get(at) {
        at += 1;
        match (token.text, token.quoted) {
            ("{", false) => depth += 1,
            ("}", false) => {
                depth = depth.checked_sub(1).ok_or(KeyFileError::Syntax {
                    line: token.line,
                    what: "a '}' without its '{'".into(),
                })?
            }
            (";", false) if depth == 0 => return Ok(at),
            _ => {}
        }
    }
    let line = tokens.last().map_or(1, |t| t.line);
    Err(KeyFileError::Syntax {
        line,
        what: "the file ends inside a statement (a ';' or '}' is missing)".into(),
    })
}

/// `"NAME" { algorithm …; secret "…"; };` from `at` (just after `key`).
fn key_block(tokens: &[Token<'_>], at: usize) -> Result<TsigKey, KeyFileError> {
    let expect = |at: usize, what: &str| -> Result<&Token<'_>, KeyFileError> {
        tokens.get(at).ok_or_else(|| KeyFileError::Syntax {
            line: tokens.last().map_or(1, |t| t.line),
            what: format!("the file ends where {what} was expected"),
        })
    };
    let name = expect(at, "the key's name")?;
    if name.text.is_empty() || matches!(name.text, "{" | "}" | ";") && !name.quoted {
        return Err(KeyFileError::Syntax {
            line: name.line,
            what: "the key has no name".into(),
        });
    }
    let open = expect(at + 1, "'{'")?;
    if open.text != "{" || open.quoted {
        return Err(KeyFileError::Syntax {
            line: open.line,
            what: format!("'{{' expected after the key's name, found {:?}", open.text),
        });
    }
    let (mut algorithm, mut secret) = (None, None);
    let mut at = at + 2;
    loop {
        let token = expect(at, "'}'")?;
        match (token.text, token.quoted) {
            ("}", false) => break,
            ("algorithm", false) => {
                algorithm = Some(expect(at + 1, "the algorithm")?.text);
                at = statement_end(tokens, at + 2)?;
            }
            ("secret", false) => {
                secret = Some(expect(at + 1, "the secret")?.text);
                at = statement_end(tokens, at + 2)?;
            }
            _ => at = skip_statement(tokens, at)?,
        }
    }
    let algorithm = algorithm.unwrap_or(HMAC_SHA256);
    if !algorithm.eq_ignore_ascii_case(HMAC_SHA256) {
        return Err(KeyFileError::Algorithm(algorithm.to_owned()));
    }
    let secret = secret.ok_or_else(|| KeyFileError::Secret("is missing".into()))?;
    let secret: String = secret.split_whitespace().collect();
    let secret = STANDARD
        .decode(secret)
        .map_err(|e| KeyFileError::Secret(format!("is not base64: {e}")))?;
    if secret.is_empty() || secret.len() > MAX_SECRET {
        return Err(KeyFileError::Secret(format!(
            "has {} bytes (1 to {MAX_SECRET} taken)",
            secret.len()
        )));
    }
    TsigKey::new(name.text, secret)
}

/// The index after the `;` expected at `at`.
fn statement_end(tokens: &[Token<'_>], at: usize) -> Result<usize, KeyFileError> {
    match tokens.get(at) {
        Some(t) if t.text == ";" && !t.quoted => Ok(at + 1),
        Some(t) => Err(KeyFileError::Syntax {
            line: t.line,
            what: format!("';' expected, found {:?}", t.text),
        }),
        None => Err(KeyFileError::Syntax {
            line: tokens.last().map_or(1, |t| t.line),
            what: "the file ends where ';' was expected".into(),
        }),
    }
}

/// A name in canonical form (RFC 8945 §4.3.3: lowercase, uncompressed).
fn canonical(name: &DnsName, out: &mut Vec<u8>) {
    for label in name.labels() {
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
}

fn algorithm_name() -> DnsName {
    DnsName::from_labels([HMAC_SHA256])
}

/// A message signed: its bytes, TSIG record included, and the MAC its reply is checked
/// against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed {
    /// The message to send.
    pub bytes: Vec<u8>,
    /// Its MAC.
    pub mac: Vec<u8>,
}

/// The TSIG variables (RFC 8945 §4.3.3) as digested.
fn variables(key: &DnsName, time: u64, fudge: u16, error: u16, other: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    canonical(key, &mut out);
    out.extend(CLASS_ANY.to_be_bytes());
    out.extend(0u32.to_be_bytes());
    canonical(&algorithm_name(), &mut out);
    out.extend(&time.to_be_bytes()[2..]);
    out.extend(fudge.to_be_bytes());
    out.extend(error.to_be_bytes());
    out.extend((other.len() as u16).to_be_bytes());
    out.extend(other);
    out
}

fn hmac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!())
}

/// Signs `message` (a whole DNS message, at least its header) with `key` at
/// `time_signed` (seconds since the Unix epoch): its TSIG record appended and counted.
pub fn sign(message: &[u8], key: &TsigKey, time_signed: u64) -> Signed {
    let mut mac = hmac(&key.secret);
    mac.update(message);
    mac.update(&variables(&key.name, time_signed, FUDGE, 0, &[]));
    let mac = mac.finalize().into_bytes().to_vec();
    let mut bytes = message.to_vec();
    canonical(&key.name, &mut bytes);
    bytes.extend(TSIG.to_be_bytes());
    bytes.extend(CLASS_ANY.to_be_bytes());
    bytes.extend(0u32.to_be_bytes());
    let mut rdata = Vec::new();
    canonical(&algorithm_name(), &mut rdata);
    rdata.extend(&time_signed.to_be_bytes()[2..]);
    rdata.extend(FUDGE.to_be_bytes());
    rdata.extend((mac.len() as u16).to_be_bytes());
    rdata.extend(&mac);
    rdata.extend(message.get(..2).unwrap_or(&[0, 0]));
    rdata.extend(0u16.to_be_bytes());
    rdata.extend(0u16.to_be_bytes());
    bytes.extend((rdata.len() as u16).to_be_bytes());
    bytes.extend(rdata);
    if let Some(count) = bytes.get_mut(10..12) {
        let arcount = u16::from_be_bytes([count[0], count[1]]).wrapping_add(1);
        count.copy_from_slice(&arcount.to_be_bytes());
    }
    Signed { bytes, mac }
}

/// Why a reply's signature was not accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TsigError {
    /// The reply carries no TSIG record (a server that does not know TSIG, or one that
    /// refused the request before reading it).
    Unsigned,
    /// The server did not take our signature: our secret is not its (BADSIG).
    BadSignature,
    /// The server does not know our key's name (BADKEY).
    UnknownKey,
    /// Our clock and the server's differ by more than the fudge (BADTIME): the server's
    /// time, in seconds since the Unix epoch, when it said.
    BadTime {
        /// The server's clock, if the reply carried it.
        server_time: Option<u64>,
    },
    /// Another TSIG error code from the server.
    Other(u16),
    /// The reply's MAC is not what our key gives: not from the server that shares it.
    ForgedReply,
    /// The reply was signed too long before or after our clock (RFC 8945 §5.2.3).
    Stale,
    /// The reply's TSIG record is not as RFC 8945 lays it out, or signed with another
    /// key or algorithm than ours.
    Malformed(String),
}

impl fmt::Display for TsigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsigError::Unsigned => f.write_str("the server's answer is not signed"),
            TsigError::BadSignature => f.write_str(
                "the server refused our signature (BADSIG): the key's secret is not the server's",
            ),
            TsigError::UnknownKey => {
                f.write_str("the server does not know our key's name (BADKEY)")
            }
            TsigError::BadTime { server_time } => match server_time {
                Some(time) => write!(
                    f,
                    "our clock and the server's differ by more than {FUDGE} s \
                     (BADTIME; the server's clock says {time})"
                ),
                None => write!(
                    f,
                    "our clock and the server's differ by more than {FUDGE} s (BADTIME)"
                ),
            },
            TsigError::Other(code) => write!(f, "the server answered with TSIG error {code}"),
            TsigError::ForgedReply => {
                f.write_str("the answer's signature is not the server's: it was forged or altered")
            }
            TsigError::Stale => f.write_str("the answer was signed too far from our clock"),
            TsigError::Malformed(why) => write!(f, "the answer's signature is malformed: {why}"),
        }
    }
}

impl std::error::Error for TsigError {}

/// A TSIG record read from a message.
struct TsigRecord {
    /// Where the record starts: the message without it ends there.
    start: usize,
    key: DnsName,
    algorithm: DnsName,
    time: u64,
    fudge: u16,
    mac: Vec<u8>,
    original_id: [u8; 2],
    error: u16,
    other: Vec<u8>,
}

/// The TSIG record that ends `message`, if it has one.
fn read_tsig(message: &[u8]) -> Result<Option<TsigRecord>, TsigError> {
    let malformed = |why: &str| TsigError::Malformed(why.to_owned());
    let Some(last) = decode::last_record(message) else {
        return Ok(None);
    };
    if last.rtype != TSIG {
        return Ok(None);
    }
    if last.class != CLASS_ANY || last.ttl != 0 {
        return Err(malformed("not class ANY with TTL 0"));
    }
    let (algorithm, at) =
        decode::name_at(message, last.data.start).ok_or_else(|| malformed("no algorithm"))?;
    let data = message
        .get(at..last.data.end)
        .ok_or_else(|| malformed("short"))?;
    let field =
        |from: usize, len: usize| data.get(from..from + len).ok_or_else(|| malformed("short"));
    let time = field(0, 6)?
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let fudge = u16::from_be_bytes(field(6, 2)?.try_into().unwrap_or([0; 2]));
    let mac_len = usize::from(u16::from_be_bytes(
        field(8, 2)?.try_into().unwrap_or([0; 2]),
    ));
    let mac = field(10, mac_len)?.to_vec();
    let rest = 10 + mac_len;
    let original_id: [u8; 2] = field(rest, 2)?.try_into().unwrap_or([0; 2]);
    let error = u16::from_be_bytes(field(rest + 2, 2)?.try_into().unwrap_or([0; 2]));
    let other_len = usize::from(u16::from_be_bytes(
        field(rest + 4, 2)?.try_into().unwrap_or([0; 2]),
    ));
    let other = field(rest + 6, other_len)?.to_vec();
    if rest + 6 + other_len != data.len() {
        return Err(malformed("its data is longer than its fields"));
    }
    Ok(Some(TsigRecord {
        start: last.start,
        key: last.name,
        algorithm,
        time,
        fudge,
        mac,
        original_id,
        error,
        other,
    }))
}

/// Checks the TSIG of `reply`, the answer to a request signed with `key` whose MAC was
/// `request_mac`, at `now` (seconds since the Unix epoch). Gives the reply without its
/// TSIG record (ARCOUNT lowered), ready to decode.
pub fn verify_reply(
    reply: &[u8],
    key: &TsigKey,
    request_mac: &[u8],
    now: u64,
) -> Result<Vec<u8>, TsigError> {
    let tsig = read_tsig(reply)?.ok_or(TsigError::Unsigned)?;
    if tsig.key != key.name || tsig.algorithm != algorithm_name() {
        return Err(TsigError::Malformed(format!(
            "signed with {} ({}), not our key {} ({HMAC_SHA256})",
            tsig.key, tsig.algorithm, key.name
        )));
    }
    // BADSIG and BADKEY come unsigned (RFC 8945 §5.3.2): nothing to check them with.
    match tsig.error {
        16 if tsig.mac.is_empty() => return Err(TsigError::BadSignature),
        17 if tsig.mac.is_empty() => return Err(TsigError::UnknownKey),
        _ => {}
    }
    let mut unsigned = reply[..tsig.start].to_vec();
    unsigned[..2].copy_from_slice(&tsig.original_id);
    let arcount = u16::from_be_bytes([unsigned[10], unsigned[11]]).wrapping_sub(1);
    unsigned[10..12].copy_from_slice(&arcount.to_be_bytes());
    let mut mac = hmac(&key.secret);
    mac.update(&(request_mac.len() as u16).to_be_bytes());
    mac.update(request_mac);
    mac.update(&unsigned);
    mac.update(&variables(
        &tsig.key,
        tsig.time,
        tsig.fudge,
        tsig.error,
        &tsig.other,
    ));
    mac.verify_slice(&tsig.mac)
        .map_err(|_| TsigError::ForgedReply)?;
    match tsig.error {
        0 => {}
        16 => return Err(TsigError::BadSignature),
        17 => return Err(TsigError::UnknownKey),
        18 => {
            let server_time = <[u8; 6]>::try_from(tsig.other.as_slice())
                .ok()
                .map(|b| b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)));
            return Err(TsigError::BadTime { server_time });
        }
        other => return Err(TsigError::Other(other)),
    }
    if now.abs_diff(tsig.time) > u64::from(tsig.fudge) {
        return Err(TsigError::Stale);
    }
    // The reply as it was sent, without its TSIG record.
    let mut stripped = reply[..tsig.start].to_vec();
    stripped[10..12].copy_from_slice(&arcount.to_be_bytes());
    Ok(stripped)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYGEN: &str =
        "key \"llxmpp-key.\" {\n\talgorithm hmac-sha256;\n\tsecret \"vYJ+DqSHVNGxM413UjMxCIIlXXIMOnab1nm6AoxZPz0=\";\n};\n";

    #[test]
    fn the_file_tsig_keygen_writes_is_read() {
        let key = TsigKey::parse(KEYGEN).unwrap();
        assert_eq!(key.name(), "llxmpp-key");
        assert_eq!(key.secret.len(), 32);
        assert!(!format!("{key:?}").contains("vYJ"));
    }

    #[test]
    fn comments_and_other_statements_are_stepped_over() {
        let text = "# made by hand\n// a comment\noptions { directory \"/x\"; };\n/* a\nblock */ key Mixed.Case {\n  secret \"AAECAw==\"; # the secret\n  algorithm HMAC-SHA256;\n};";
        let key = TsigKey::parse(text).unwrap();
        assert_eq!(key.name(), "Mixed.Case");
        assert_eq!(key.secret, [0, 1, 2, 3]);
    }

    #[test]
    fn bad_key_files_say_what_is_wrong_and_where() {
        assert_eq!(TsigKey::parse(""), Err(KeyFileError::NoKey));
        assert_eq!(
            TsigKey::parse("key \"k\" { algorithm hmac-md5; secret \"AAAA\"; };"),
            Err(KeyFileError::Algorithm("hmac-md5".into()))
        );
        assert!(matches!(
            TsigKey::parse("key \"k\" { secret \"not base64!\"; };"),
            Err(KeyFileError::Secret(_))
        ));
        assert!(matches!(
            TsigKey::parse("key \"k\" { algorithm hmac-sha256; };"),
            Err(KeyFileError::Secret(_))
        ));
        assert_eq!(
            TsigKey::parse("key \"k\" {\n algorithm hmac-sha256\n secret \"AAAA\"; };"),
            Err(KeyFileError::Syntax {
                line: 3,
                what: "';' expected, found \"secret\"".into()
            })
        );
        assert!(matches!(
            TsigKey::parse("key \"k\" { secret \"AAAA\";"),
            Err(KeyFileError::Syntax { .. })
        ));
        assert!(matches!(
            TsigKey::parse("key \"k\" { secret \"AAAA"),
            Err(KeyFileError::Syntax { .. })
        ));
        assert_eq!(
            TsigKey::parse(&" ".repeat(MAX_KEY_FILE + 1)),
            Err(KeyFileError::TooLarge)
        );
    }

    #[test]
    fn key_names_are_read_in_presentation_format_and_written_back_so() {
        for (text, labels) in [
            ("llxmpp-key.", vec![&b"llxmpp-key"[..]]),
            ("a\\.b.c", vec![b"a.b", b"c"]),
            ("x\\032y\\\\", vec![b"x y\\"]),
        ] {
            let key = TsigKey::new(text, vec![1]).unwrap();
            let want: Vec<Vec<u8>> = labels.iter().map(|l| l.to_vec()).collect();
            assert_eq!(key.name.labels(), want.as_slice(), "{text}");
            assert_eq!(TsigKey::new(&key.name(), vec![1]).unwrap(), key);
        }
        for bad in [
            "",
            ".",
            "a..b",
            ".a",
            "a\\",
            "a\\300",
            &"x".repeat(64),
            &"abc.".repeat(64),
        ] {
            assert!(
                matches!(TsigKey::new(bad, vec![1]), Err(KeyFileError::Name(_))),
                "{bad:?}"
            );
        }
    }

    /// A query header with one question, `example.test SOA IN`.
    fn query(id: u16) -> Vec<u8> {
        let mut out = id.to_be_bytes().to_vec();
        out.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        out.extend(b"\x07example\x04test\x00\x00\x06\x00\x01");
        out
    }

    /// A server's answer to `request`, signed as RFC 8945 §4.3.1 says, with `error`.
    fn answer(request: &Signed, key: &TsigKey, time: u64, error: u16, other: &[u8]) -> Vec<u8> {
        let mut reply = request.bytes.clone();
        // The question back, flagged as a response, no records.
        let question_end = query(0).len();
        reply.truncate(question_end);
        reply[2] |= 0x80;
        reply[10..12].copy_from_slice(&[0, 0]);
        let mut mac = hmac(&key.secret);
        mac.update(&(request.mac.len() as u16).to_be_bytes());
        mac.update(&request.mac);
        mac.update(&reply);
        mac.update(&variables(&key.name, time, FUDGE, error, other));
        let mac = mac.finalize().into_bytes().to_vec();
        canonical(&key.name, &mut reply);
        reply.extend([0, 250, 0, 255, 0, 0, 0, 0]);
        let mut rdata = Vec::new();
        canonical(&algorithm_name(), &mut rdata);
        rdata.extend(&time.to_be_bytes()[2..]);
        rdata.extend(FUDGE.to_be_bytes());
        rdata.extend((mac.len() as u16).to_be_bytes());
        rdata.extend(&mac);
        rdata.extend(&request.bytes[..2]);
        rdata.extend(error.to_be_bytes());
        rdata.extend((other.len() as u16).to_be_bytes());
        rdata.extend(other);
        reply.extend((rdata.len() as u16).to_be_bytes());
        reply.extend(rdata);
        reply[11] = 1;
        reply
    }

    #[test]
    fn a_signed_request_carries_its_tsig_last_and_counted() {
        let key = TsigKey::parse(KEYGEN).unwrap();
        let signed = sign(&query(0x1234), &key, 1_700_000_000);
        assert_eq!(&signed.bytes[10..12], &[0, 1]);
        let tsig = read_tsig(&signed.bytes).unwrap().unwrap();
        assert_eq!(tsig.key, key.name);
        assert_eq!(tsig.time, 1_700_000_000);
        assert_eq!(tsig.mac, signed.mac);
        assert_eq!(tsig.original_id, [0x12, 0x34]);
        assert_eq!(tsig.start, query(0).len());
        // Another time, another MAC; another secret, another MAC.
        assert_ne!(sign(&query(0x1234), &key, 1_700_000_001).mac, signed.mac);
        let other = TsigKey::new("llxmpp-key", vec![7; 32]).unwrap();
        assert_ne!(sign(&query(0x1234), &other, 1_700_000_000).mac, signed.mac);
    }

    #[test]
    fn a_reply_is_checked_against_the_requests_mac_and_the_key() {
        let key = TsigKey::parse(KEYGEN).unwrap();
        let now = 1_700_000_000;
        let request = sign(&query(7), &key, now);
        let good = answer(&request, &key, now + 1, 0, &[]);
        let stripped = verify_reply(&good, &key, &request.mac, now + 2).unwrap();
        assert_eq!(stripped.len(), query(0).len());
        assert_eq!(&stripped[10..12], &[0, 0]);
        // One bit changed before the TSIG (the RCODE): forged.
        let mut altered = good.clone();
        altered[3] ^= 1;
        assert_eq!(
            verify_reply(&altered, &key, &request.mac, now),
            Err(TsigError::ForgedReply)
        );
        // Signed by someone with another secret.
        let mallory = TsigKey::new("llxmpp-key", vec![1; 32]).unwrap();
        let forged = answer(&request, &mallory, now, 0, &[]);
        assert_eq!(
            verify_reply(&forged, &key, &request.mac, now),
            Err(TsigError::ForgedReply)
        );
        // An answer to another request (a replay).
        let other = sign(&query(8), &key, now);
        assert_eq!(
            verify_reply(&good, &key, &other.mac, now),
            Err(TsigError::ForgedReply)
        );
        // Too old.
        assert_eq!(
            verify_reply(&good, &key, &request.mac, now + 1000),
            Err(TsigError::Stale)
        );
        // No TSIG at all.
        assert_eq!(
            verify_reply(&query(7), &key, &request.mac, now),
            Err(TsigError::Unsigned)
        );
    }

    #[test]
    fn the_servers_tsig_errors_are_told_apart() {
        let key = TsigKey::parse(KEYGEN).unwrap();
        let now = 1_700_000_000;
        let request = sign(&query(7), &key, now);
        // BADTIME comes signed, with the server's clock.
        let clock = (now + 4000).to_be_bytes()[2..].to_vec();
        let badtime = answer(&request, &key, now, 18, &clock);
        assert_eq!(
            verify_reply(&badtime, &key, &request.mac, now),
            Err(TsigError::BadTime {
                server_time: Some(now + 4000)
            })
        );
        // BADSIG and BADKEY come unsigned: a MAC of length 0.
        for (code, error) in [(16, TsigError::BadSignature), (17, TsigError::UnknownKey)] {
            let mut reply = query(7);
            reply[2] |= 0x80;
            canonical(&key.name, &mut reply);
            reply.extend([0, 250, 0, 255, 0, 0, 0, 0]);
            let mut rdata = Vec::new();
            canonical(&algorithm_name(), &mut rdata);
            rdata.extend(&now.to_be_bytes()[2..]);
            rdata.extend(FUDGE.to_be_bytes());
            rdata.extend([0, 0, 0, 7]);
            rdata.extend(u16::to_be_bytes(code));
            rdata.extend([0, 0]);
            reply.extend((rdata.len() as u16).to_be_bytes());
            reply.extend(rdata);
            reply[11] = 1;
            assert_eq!(verify_reply(&reply, &key, &request.mac, now), Err(error));
        }
    }

    #[test]
    fn truncated_tsig_records_are_malformed_never_a_panic() {
        let key = TsigKey::parse(KEYGEN).unwrap();
        let request = sign(&query(7), &key, 1);
        let good = answer(&request, &key, 1, 0, &[]);
        for cut in 0..good.len() {
            let _ = verify_reply(&good[..cut], &key, &request.mac, 1);
        }
    }
}
