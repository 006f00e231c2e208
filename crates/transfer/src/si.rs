//! The IQs of a file offer: XEP-0095 Stream Initiation with the XEP-0096 file profile,
//! and the XEP-0065 streamhost exchange that follows an accepted offer, read and written
//! the way libpurple's Bonjour plugin and Gajim exchange them.
//!
//! [`TransferIq::parse`] reads an IQ (an [`OwnedStanza`] from the framer) into what it
//! means for a transfer; the `write_*` functions append ours to a buffer. Everything is
//! text in, text out: no I/O.
//!
//! What the peers do that the XEPs do not say (docs/PEERS.md, file transfer):
//! - libpurple uses the offer's IQ id as its stream id (SID) and declines an offer with an
//!   IQ error whose `id` is the SID: [`TransferIq::Error`] is matched by either.
//! - libpurple's streamhosts carry the SID in `jid`, and list an IPv6 link-local address
//!   without its zone first: [`StreamHost::address`] scopes it from what the caller knows
//!   of the peer, or skips it.
//! - A `size` of 0 means "unknown" to libpurple: the sender half-closes after the last
//!   byte, and an announced 0 is a complete empty file.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

use llxmpp_framer::{escape_attribute, escape_text, ns as xmpp_ns, OwnedStanza};

/// The namespaces of a file offer.
pub mod ns {
    /// XEP-0095 Stream Initiation.
    pub const SI: &str = "http://jabber.org/protocol/si";
    /// XEP-0096, the SI file-transfer profile.
    pub const FILE_TRANSFER: &str = "http://jabber.org/protocol/si/profile/file-transfer";
    /// XEP-0020 feature negotiation.
    pub const FEATURE_NEG: &str = "http://jabber.org/protocol/feature-neg";
    /// XEP-0004 data forms.
    pub const DATA: &str = "jabber:x:data";
    /// XEP-0065 SOCKS5 Bytestreams: the stream method we offer and take.
    pub const BYTESTREAMS: &str = "http://jabber.org/protocol/bytestreams";
    /// XEP-0047 In-Band Bytestreams (recognised in offers, not taken).
    pub const IBB: &str = "http://jabber.org/protocol/ibb";
    /// XEP-0066 Out of Band Data, the IQ form: iChat, Adium and telepathy-salut offer
    /// files this way, as a URL to GET.
    pub const OOB: &str = "jabber:iq:oob";
}

/// The longest stream id, file name, MIME type or description taken from an offer, in
/// bytes: the framer bounds the stanza already; this bounds what a transfer keeps.
pub const MAX_FIELD_BYTES: usize = 1024;
/// The most streamhosts read from one IQ (libpurple lists one per local address).
pub const MAX_STREAM_HOSTS: usize = 16;

/// A file offered (XEP-0096 `<file/>` in an XEP-0095 `<si/>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOffer {
    /// The stream id (`si/@id`).
    pub sid: String,
    /// The file's name as offered: never a path to trust (see [`crate::safe_file_name`]).
    pub name: String,
    /// Its size in bytes; 0 may mean "unknown" (libpurple).
    pub size: u64,
    /// Its MIME type, if given.
    pub mime_type: Option<String>,
    /// Its description, if given.
    pub description: Option<String>,
    /// The stream methods offered (`stream-method` options), in order.
    pub methods: Vec<String>,
}

/// One streamhost of a bytestreams IQ: where the target connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamHost {
    /// `jid`: a JID in XMPP at large; libpurple puts the SID there.
    pub jid: String,
    /// `host`: an address (a host name is not resolved here).
    pub host: String,
    /// `port`.
    pub port: u16,
}

impl StreamHost {
    /// Where to connect: the host as an IP address and the port. An IPv6 link-local
    /// address needs its zone: a `%zone` written in `host` is not a number we can use, so
    /// the zone comes from `scope` (the interface on which the caller learned that the
    /// peer has this address); without one the streamhost is unusable (`None`), as is a
    /// host name, port 0 or an unspecified, multicast or broadcast address.
    pub fn address(&self, scope: impl Fn(Ipv6Addr) -> Option<u32>) -> Option<SocketAddr> {
        if self.port == 0 {
            return None;
        }
        let host = self.host.split('%').next().unwrap_or_default();
        let ip: IpAddr = host.parse().ok()?;
        if ip.is_unspecified() || ip.is_multicast() {
            return None;
        }
        match ip {
            IpAddr::V4(v4) if v4.is_broadcast() => None,
            IpAddr::V4(_) => Some(SocketAddr::new(ip, self.port)),
            IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
                let zone = scope(v6)?;
                Some(SocketAddr::V6(SocketAddrV6::new(v6, self.port, 0, zone)))
            }
            IpAddr::V6(_) => Some(SocketAddr::new(ip, self.port)),
        }
    }
}

/// An IQ error's meaning, as far as a transfer needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IqError {
    /// The defined condition's name (`forbidden`, `item-not-found`…), if one is there.
    pub condition: Option<String>,
    /// The legacy `code` attribute (libpurple writes 403 and 404), if there.
    pub code: Option<String>,
    /// The human-readable text, if any.
    pub text: Option<String>,
}

impl std::fmt::Display for IqError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let condition = self.condition.as_deref().or(self.code.as_deref());
        match (condition, &self.text) {
            (Some(c), Some(t)) => write!(f, "{c}: {t}"),
            (Some(c), None) => f.write_str(c),
            (None, Some(t)) => f.write_str(t),
            (None, None) => f.write_str("an error without a condition"),
        }
    }
}

/// What an IQ means for a file transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferIq {
    /// A file offered to us (`set` with `<si profile=file-transfer>`).
    Offer {
        /// The IQ's id, for our answer.
        id: String,
        /// The offer.
        offer: FileOffer,
    },
    /// Our offer accepted (`result` with `<si>`): the stream method the peer chose.
    Accepted {
        /// The IQ's id (our offer's).
        id: String,
        /// The chosen method (XEP-0065's namespace when the peer named none).
        method: String,
    },
    /// The streamhosts of an accepted offer (`set` with a bytestreams `<query>`).
    StreamHosts {
        /// The IQ's id, for `streamhost-used`.
        id: String,
        /// The stream id.
        sid: String,
        /// The streamhosts, in the order given (at most [`MAX_STREAM_HOSTS`]).
        hosts: Vec<StreamHost>,
    },
    /// The target connected to a streamhost of ours (`result` with `<streamhost-used>`).
    StreamHostUsed {
        /// The IQ's id (our streamhosts IQ's).
        id: String,
        /// The streamhost's `jid`.
        jid: String,
    },
    /// A file offered as a URL to GET (XEP-0066 `jabber:iq:oob`, as iChat sends it).
    OobOffer {
        /// The IQ's id: the answer (a result once the file is here, an error if not)
        /// tells the sender it may stop serving.
        id: String,
        /// The URL, without the line break iChat may put before it.
        url: String,
        /// The size iChat announces on `<url size='…'>`, if any.
        size: Option<u64>,
        /// The description, if any.
        description: Option<String>,
    },
    /// A `result` with nothing of the above in it.
    Result {
        /// The IQ's id.
        id: String,
    },
    /// An `error`: a refusal or a failure, to be matched by `id` against an offer's IQ
    /// id or its SID (libpurple declines with the SID).
    Error {
        /// The IQ's id.
        id: String,
        /// What it says.
        error: IqError,
    },
}

/// Why an IQ that is about a transfer could not be read: answer a `set` with
/// `bad-request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiError {
    /// The stanza is not well-formed or not an IQ with an id and a type.
    NotIq(String),
    /// A required attribute is missing or empty.
    Missing(&'static str),
    /// An attribute that must be a number is not one (or is too large).
    NotNumber(&'static str),
    /// A field is longer than [`MAX_FIELD_BYTES`].
    TooLong(&'static str),
}

impl std::fmt::Display for SiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SiError::NotIq(why) => write!(f, "not an IQ: {why}"),
            SiError::Missing(what) => write!(f, "missing {what}"),
            SiError::NotNumber(what) => write!(f, "{what} is not a number"),
            SiError::TooLong(what) => write!(f, "{what} is longer than {MAX_FIELD_BYTES} bytes"),
        }
    }
}

impl std::error::Error for SiError {}

/// The routing attributes of an IQ we write.
#[derive(Clone, Copy, Debug)]
pub struct IqAddress<'a> {
    /// `id`.
    pub id: &'a str,
    /// `from`: our instance name.
    pub from: &'a str,
    /// `to`: the peer's instance name.
    pub to: &'a str,
}

impl TransferIq {
    /// Reads an IQ. `Ok(None)`: not an IQ about a transfer (disco, ping, a message…).
    pub fn parse(stanza: &OwnedStanza) -> Result<Option<TransferIq>, SiError> {
        let document = stanza
            .document()
            .map_err(|e| SiError::NotIq(e.to_string()))?;
        let Some(iq) = document.root_element().first_element_child() else {
            return Err(SiError::NotIq("no element".into()));
        };
        if iq.tag_name().name() != "iq" || iq.tag_name().namespace() != Some(xmpp_ns::JABBER_CLIENT)
        {
            return Ok(None);
        }
        let id = bounded(iq.attribute("id"), "iq id")?.ok_or(SiError::Missing("iq id"))?;
        let kind = iq.attribute("type").ok_or(SiError::Missing("iq type"))?;
        let payload = iq
            .children()
            .find(|c| c.is_element() && !is(*c, xmpp_ns::JABBER_CLIENT, "error"));
        match kind {
            "set" => match payload {
                Some(si) if is(si, ns::SI, "si") => {
                    if si.attribute("profile") != Some(ns::FILE_TRANSFER) {
                        return Ok(None);
                    }
                    Ok(Some(TransferIq::Offer {
                        id,
                        offer: read_offer(si)?,
                    }))
                }
                Some(query) if is(query, ns::BYTESTREAMS, "query") => {
                    let sid =
                        bounded(query.attribute("sid"), "sid")?.ok_or(SiError::Missing("sid"))?;
                    let hosts = query
                        .children()
                        .filter(|c| is(*c, ns::BYTESTREAMS, "streamhost"))
                        .filter_map(read_stream_host)
                        .take(MAX_STREAM_HOSTS)
                        .collect();
                    Ok(Some(TransferIq::StreamHosts { id, sid, hosts }))
                }
                Some(query) if is(query, ns::OOB, "query") => {
                    let url = query
                        .children()
                        .find(|c| is(*c, ns::OOB, "url"))
                        .ok_or(SiError::Missing("url"))?;
                    let text = url.text().unwrap_or_default().trim();
                    let text = bounded(Some(text), "url")?.ok_or(SiError::Missing("url"))?;
                    let size = match url.attribute("size") {
                        None | Some("") => None,
                        Some(size) => Some(
                            size.trim()
                                .parse::<u64>()
                                .map_err(|_| SiError::NotNumber("url size"))?,
                        ),
                    };
                    let description = match query.children().find(|c| is(*c, ns::OOB, "desc")) {
                        Some(desc) => bounded(desc.text(), "desc")?,
                        None => None,
                    };
                    Ok(Some(TransferIq::OobOffer {
                        id,
                        url: text,
                        size,
                        description,
                    }))
                }
                _ => Ok(None),
            },
            "result" => match payload {
                Some(si) if is(si, ns::SI, "si") => {
                    let method = chosen_method(si).unwrap_or_else(|| ns::BYTESTREAMS.to_owned());
                    Ok(Some(TransferIq::Accepted { id, method }))
                }
                Some(query) if is(query, ns::BYTESTREAMS, "query") => {
                    let used = query
                        .children()
                        .find(|c| is(*c, ns::BYTESTREAMS, "streamhost-used"));
                    match used {
                        Some(used) => Ok(Some(TransferIq::StreamHostUsed {
                            id,
                            jid: bounded(used.attribute("jid"), "jid")?.unwrap_or_default(),
                        })),
                        None => Ok(Some(TransferIq::Result { id })),
                    }
                }
                _ => Ok(Some(TransferIq::Result { id })),
            },
            "error" => {
                let error = iq
                    .children()
                    .find(|c| c.is_element() && c.tag_name().name() == "error");
                Ok(Some(TransferIq::Error {
                    id,
                    error: read_error(error),
                }))
            }
            _ => Ok(None),
        }
    }
}

fn is(node: roxmltree::Node<'_, '_>, namespace: &str, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace() == Some(namespace)
}

/// An attribute or text, at most [`MAX_FIELD_BYTES`]; empty counts as absent.
fn bounded(value: Option<&str>, what: &'static str) -> Result<Option<String>, SiError> {
    match value {
        None | Some("") => Ok(None),
        Some(v) if v.len() > MAX_FIELD_BYTES => Err(SiError::TooLong(what)),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

fn read_offer(si: roxmltree::Node<'_, '_>) -> Result<FileOffer, SiError> {
    let sid = bounded(si.attribute("id"), "si id")?.ok_or(SiError::Missing("si id"))?;
    let file = si
        .children()
        .find(|c| is(*c, ns::FILE_TRANSFER, "file"))
        .ok_or(SiError::Missing("file"))?;
    let name =
        bounded(file.attribute("name"), "file name")?.ok_or(SiError::Missing("file name"))?;
    let size = match file.attribute("size") {
        // libpurple writes 0 for "unknown"; a missing size is the same.
        None => 0,
        Some(size) => size
            .trim()
            .parse::<u64>()
            .map_err(|_| SiError::NotNumber("file size"))?,
    };
    let description = match file.children().find(|c| is(*c, ns::FILE_TRANSFER, "desc")) {
        Some(desc) => bounded(desc.text(), "file description")?,
        None => None,
    };
    let methods = si
        .children()
        .filter(|c| is(*c, ns::FEATURE_NEG, "feature"))
        .flat_map(|f| f.children().filter(|c| is(*c, ns::DATA, "x")))
        .flat_map(|x| {
            x.children()
                .filter(|c| c.is_element() && c.attribute("var") == Some("stream-method"))
        })
        .flat_map(|field| {
            field
                .descendants()
                .filter(|c| c.is_element() && c.tag_name().name() == "value")
        })
        .filter_map(|value| value.text().map(|t| t.trim().to_owned()))
        .filter(|t| !t.is_empty() && t.len() <= MAX_FIELD_BYTES)
        .take(MAX_STREAM_HOSTS)
        .collect();
    Ok(FileOffer {
        sid,
        name,
        size,
        // XEP-0095 puts it on <si/>.
        mime_type: bounded(si.attribute("mime-type"), "mime-type")?,
        description,
        methods,
    })
}

/// The `stream-method` value of an accepting `<si/>`.
fn chosen_method(si: roxmltree::Node<'_, '_>) -> Option<String> {
    si.descendants()
        .filter(|c| c.is_element() && c.attribute("var") == Some("stream-method"))
        .flat_map(|field| {
            field
                .children()
                .filter(|c| c.is_element() && c.tag_name().name() == "value")
        })
        .find_map(|value| value.text().map(|t| t.trim().to_owned()))
        .filter(|t| !t.is_empty() && t.len() <= MAX_FIELD_BYTES)
}

fn read_stream_host(node: roxmltree::Node<'_, '_>) -> Option<StreamHost> {
    let jid = node.attribute("jid").unwrap_or_default();
    let host = node.attribute("host")?;
    let port = node.attribute("port")?.trim().parse().ok()?;
    (jid.len() <= MAX_FIELD_BYTES && host.len() <= MAX_FIELD_BYTES).then(|| StreamHost {
        jid: jid.to_owned(),
        host: host.to_owned(),
        port,
    })
}

fn read_error(error: Option<roxmltree::Node<'_, '_>>) -> IqError {
    let Some(error) = error else {
        return IqError {
            condition: None,
            code: None,
            text: None,
        };
    };
    let in_stanzas = |c: &roxmltree::Node<'_, '_>| {
        c.is_element() && c.tag_name().namespace() == Some(xmpp_ns::STANZA_ERRORS)
    };
    let limit = |s: &str| s.chars().take(200).collect::<String>();
    IqError {
        condition: error
            .children()
            .find(|c| in_stanzas(c) && c.tag_name().name() != "text")
            .map(|c| limit(c.tag_name().name())),
        code: error.attribute("code").map(limit),
        text: error
            .children()
            .find(|c| in_stanzas(c) && c.tag_name().name() == "text")
            .and_then(|t| t.text())
            .map(limit),
    }
}

/// `<iq type='…' id='…' from='…' to='…'`, the start of every IQ we write.
fn open_iq(out: &mut String, kind: &str, address: IqAddress<'_>) {
    out.push_str("<iq type='");
    out.push_str(kind);
    out.push_str("' id='");
    escape_attribute(out, address.id);
    out.push_str("' from='");
    escape_attribute(out, address.from);
    out.push_str("' to='");
    escape_attribute(out, address.to);
    out.push('\'');
}

/// Appends our offer of a file: XEP-0095 `<si>` with the XEP-0096 profile, offering
/// SOCKS5 Bytestreams only (as libpurple does; it takes nothing else).
pub fn write_offer(out: &mut String, address: IqAddress<'_>, offer: &FileOffer) {
    open_iq(out, "set", address);
    out.push_str("><si xmlns='");
    out.push_str(ns::SI);
    out.push_str("' profile='");
    out.push_str(ns::FILE_TRANSFER);
    out.push_str("' id='");
    escape_attribute(out, &offer.sid);
    if let Some(mime) = &offer.mime_type {
        out.push_str("' mime-type='");
        escape_attribute(out, mime);
    }
    out.push_str("'><file xmlns='");
    out.push_str(ns::FILE_TRANSFER);
    out.push_str("' name='");
    escape_attribute(out, &offer.name);
    out.push_str("' size='");
    out.push_str(&offer.size.to_string());
    out.push('\'');
    match &offer.description {
        Some(desc) => {
            out.push_str("><desc>");
            escape_text(out, desc);
            out.push_str("</desc></file>");
        }
        None => out.push_str("/>"),
    }
    out.push_str("<feature xmlns='");
    out.push_str(ns::FEATURE_NEG);
    out.push_str("'><x xmlns='");
    out.push_str(ns::DATA);
    out.push_str("' type='form'><field var='stream-method' type='list-single'>");
    for method in &offer.methods {
        out.push_str("<option><value>");
        escape_text(out, method);
        out.push_str("</value></option>");
    }
    out.push_str("</field></x></feature></si></iq>");
}

/// Appends our acceptance of an offer with `method` (the answer to its IQ id).
pub fn write_accept(out: &mut String, address: IqAddress<'_>, method: &str) {
    open_iq(out, "result", address);
    out.push_str("><si xmlns='");
    out.push_str(ns::SI);
    out.push_str("'><feature xmlns='");
    out.push_str(ns::FEATURE_NEG);
    out.push_str("'><x xmlns='");
    out.push_str(ns::DATA);
    out.push_str("' type='submit'><field var='stream-method'><value>");
    escape_text(out, method);
    out.push_str("</value></field></x></feature></si></iq>");
}

/// Why we answer an IQ of a transfer with an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The user declined the offer (XEP-0095 §3.2: `forbidden`, "Offer Declined"; code
    /// 403, which libpurple reads).
    Declined,
    /// None of the offered stream methods is one we take (XEP-0095 §3.2:
    /// `bad-request` with `<no-valid-streams/>`).
    NoValidStreams,
    /// We could connect to none of the streamhosts (XEP-0065 §5.3.2: `item-not-found`;
    /// code 404), or the IQ names no transfer we know.
    NotFound,
    /// The IQ could not be read.
    BadRequest,
}

/// Appends an IQ error answering `address.id` for `refusal`, with `text` if given.
pub fn write_refusal(
    out: &mut String,
    address: IqAddress<'_>,
    refusal: Refusal,
    text: Option<&str>,
) {
    let (code, kind, condition) = match refusal {
        Refusal::Declined => ("403", "cancel", "forbidden"),
        Refusal::NoValidStreams => ("400", "cancel", "bad-request"),
        Refusal::NotFound => ("404", "cancel", "item-not-found"),
        Refusal::BadRequest => ("400", "modify", "bad-request"),
    };
    open_iq(out, "error", address);
    out.push_str("><error code='");
    out.push_str(code);
    out.push_str("' type='");
    out.push_str(kind);
    out.push_str("'><");
    out.push_str(condition);
    out.push_str(" xmlns='");
    out.push_str(xmpp_ns::STANZA_ERRORS);
    out.push_str("'/>");
    if refusal == Refusal::NoValidStreams {
        out.push_str("<no-valid-streams xmlns='");
        out.push_str(ns::SI);
        out.push_str("'/>");
    }
    let text = text.or((refusal == Refusal::Declined).then_some("Offer Declined"));
    if let Some(text) = text {
        out.push_str("<text xmlns='");
        out.push_str(xmpp_ns::STANZA_ERRORS);
        out.push_str("'>");
        escape_text(out, text);
        out.push_str("</text>");
    }
    out.push_str("</error></iq>");
}

/// Appends our streamhosts for stream `sid`: each of `hosts` with its port, `jid` our
/// instance name (XEP-0065; libpurple reads only `host` and `port`).
pub fn write_stream_hosts(
    out: &mut String,
    address: IqAddress<'_>,
    sid: &str,
    hosts: &[SocketAddr],
) {
    open_iq(out, "set", address);
    out.push_str("><query xmlns='");
    out.push_str(ns::BYTESTREAMS);
    out.push_str("' sid='");
    escape_attribute(out, sid);
    out.push_str("' mode='tcp'>");
    for host in hosts {
        out.push_str("<streamhost jid='");
        escape_attribute(out, address.from);
        out.push_str("' host='");
        out.push_str(&host.ip().to_string());
        out.push_str("' port='");
        out.push_str(&host.port().to_string());
        out.push_str("'/>");
    }
    out.push_str("</query></iq>");
}

/// Appends the `streamhost-used` result: we connected to the streamhost `jid`.
pub fn write_stream_host_used(out: &mut String, address: IqAddress<'_>, jid: &str) {
    open_iq(out, "result", address);
    out.push_str("><query xmlns='");
    out.push_str(ns::BYTESTREAMS);
    out.push_str("'><streamhost-used jid='");
    escape_attribute(out, jid);
    out.push_str("'/></query></iq>");
}

/// Appends our offer of a file as a URL to GET (XEP-0066 `jabber:iq:oob`), the way iChat
/// writes it: the size and an octal POSIX mode on `<url type='file'>`.
pub fn write_oob_offer(
    out: &mut String,
    address: IqAddress<'_>,
    url: &str,
    size: u64,
    description: Option<&str>,
) {
    open_iq(out, "set", address);
    out.push_str("><query xmlns='");
    out.push_str(ns::OOB);
    out.push_str("'><url type='file' size='");
    out.push_str(&size.to_string());
    out.push_str("' posixflags='000001A4' mimeType='application/octet-stream'>");
    escape_text(out, url);
    out.push_str("</url>");
    if let Some(desc) = description {
        out.push_str("<desc>");
        escape_text(out, desc);
        out.push_str("</desc>");
    }
    out.push_str("</query></iq>");
}

/// Appends an empty `result` answering `address.id` (the file of an OOB offer is here).
pub fn write_result(out: &mut String, address: IqAddress<'_>) {
    open_iq(out, "result", address);
    out.push_str("/>");
}

/// The parts of an `http://` URL that an OOB offer may carry: the server's address (an
/// IP literal: a link-local peer has no DNS name we could trust) and the request target.
/// `None` for anything else (https, a host name, user info, a bad port).
pub fn http_url(url: &str) -> Option<(SocketAddr, String)> {
    let rest = url.trim().strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(port) => port.parse().ok()?,
                None if after.is_empty() => 80,
                None => return None,
            };
            // A zone (`%25eth0`) names an interface of the sender's: not ours to use.
            (host.split('%').next()?.to_owned(), port)
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), port.parse().ok()?),
            None => (authority.to_owned(), 80),
        },
    };
    let ip: IpAddr = host.parse().ok()?;
    if port == 0 || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some((SocketAddr::new(ip, port), path.to_owned()))
}

/// The file name an OOB URL gives: its last path segment, percent-decoded (UTF-8, lossy).
/// Not yet safe to save under: see [`crate::safe_file_name`].
pub fn url_file_name(path: &str) -> String {
    let segment = path.split(['?', '#']).next().unwrap_or_default();
    let segment = segment.rsplit('/').next().unwrap_or_default();
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                decoded.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// A file name as a URL path segment: unreserved characters kept, every other byte
/// percent-encoded (RFC 3986 §2).
pub fn url_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
