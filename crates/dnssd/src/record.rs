//! DNS messages as plain values, decoded from the wire by our own reader (decode.rs) and
//! encoded to it with simple-dns.
//!
//! simple-dns is the view level when encoding; these are the owned values the responder,
//! the browser and their users work with (the smoltcp `Packet`/`Repr` split). Decoding
//! walks the sections itself, because simple-dns refuses a whole packet for one record it
//! does not like, and every packet of Apple's mDNSResponder for its OPT record.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::{NsecTypeBitMap, RData, A, AAAA, NSEC, NULL, PTR, SRV, TXT};
use simple_dns::{CharacterString, Packet, PacketFlag, ResourceRecord, CLASS, QCLASS, QTYPE};

use crate::name::DnsName;
use crate::txt::TxtRecord;

/// The largest mDNS message, IP and UDP headers included (RFC 6762 §17).
pub const MAX_PACKET: usize = 9000;

/// Record type codes used here.
pub mod rtype {
    /// A, an IPv4 address.
    pub const A: u16 = 1;
    /// SOA, the start of a zone's authority (unicast DNS: its primary and serial).
    pub const SOA: u16 = 6;
    /// NULL, opaque bytes (XEP-0174 avatars).
    pub const NULL: u16 = 10;
    /// PTR, a pointer to a name.
    pub const PTR: u16 = 12;
    /// TXT, attribute strings.
    pub const TXT: u16 = 16;
    /// AAAA, an IPv6 address.
    pub const AAAA: u16 = 28;
    /// SRV, a service's host and port.
    pub const SRV: u16 = 33;
    /// NSEC, the types a name has (RFC 6762 §6.1: and so which it has not).
    pub const NSEC: u16 = 47;
    /// ANY, in questions only.
    pub const ANY: u16 = 255;
}

/// What a resource record holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RecordData {
    /// PTR: the name pointed to.
    Ptr(DnsName),
    /// SRV (RFC 2782).
    Srv {
        /// Priority (0 for XEP-0174).
        priority: u16,
        /// Weight (0 for XEP-0174).
        weight: u16,
        /// The port the service listens on.
        port: u16,
        /// The host the service runs on.
        target: DnsName,
    },
    /// TXT.
    Txt(TxtRecord),
    /// A.
    A(Ipv4Addr),
    /// AAAA.
    Aaaa(Ipv6Addr),
    /// NULL: opaque bytes.
    Null(Vec<u8>),
    /// NSEC (RFC 4034 §4): every type that exists at the owner name, so that a querier
    /// knows the others do not (RFC 6762 §6.1). In mDNS `next` is the owner name itself.
    Nsec {
        /// The next name; in mDNS, the owner name.
        next: DnsName,
        /// The types present, in ascending order.
        types: Vec<u16>,
    },
    /// SOA (RFC 1035 §3.3.13), met in unicast DNS: a zone's primary server and serial.
    Soa {
        /// The zone's primary server.
        mname: DnsName,
        /// The mailbox of the zone's keeper.
        rname: DnsName,
        /// The zone's version: any change raises it.
        serial: u32,
        /// Secondaries' refresh interval, in seconds.
        refresh: u32,
        /// Secondaries' retry interval, in seconds.
        retry: u32,
        /// When secondaries stop answering without the primary, in seconds.
        expire: u32,
        /// The TTL of negative answers (RFC 2308), in seconds.
        minimum: u32,
    },
    /// Any other type, kept only by its code.
    Other(u16),
}

impl RecordData {
    /// The record type code.
    pub fn rtype(&self) -> u16 {
        match self {
            RecordData::Ptr(_) => rtype::PTR,
            RecordData::Srv { .. } => rtype::SRV,
            RecordData::Txt(_) => rtype::TXT,
            RecordData::A(_) => rtype::A,
            RecordData::Aaaa(_) => rtype::AAAA,
            RecordData::Null(_) => rtype::NULL,
            RecordData::Nsec { .. } => rtype::NSEC,
            RecordData::Soa { .. } => rtype::SOA,
            RecordData::Other(code) => *code,
        }
    }

    /// The record data as it goes on the wire without name compression: what RFC 6762
    /// §8.2 compares when two probes collide, and what identifies a record in a cache.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Names lowered as they are written: RFC 6762 §16 compares them without case.
        self.wire_bytes(true)
    }

    /// The record data as it goes on the wire, names uncompressed and as spelled (DNS
    /// UPDATE: the instance a PTR names keeps its case).
    pub(crate) fn uncompressed_bytes(&self) -> Vec<u8> {
        self.wire_bytes(false)
    }

    fn wire_bytes(&self, lowercase: bool) -> Vec<u8> {
        let name = |out: &mut Vec<u8>, name: &DnsName| {
            for label in name.labels() {
                out.push(label.len() as u8);
                if lowercase {
                    out.extend(label.iter().map(u8::to_ascii_lowercase));
                } else {
                    out.extend_from_slice(label);
                }
            }
            out.push(0);
        };
        let mut out = Vec::new();
        match self {
            RecordData::Ptr(target) => name(&mut out, target),
            RecordData::Srv {
                priority,
                weight,
                port,
                target,
            } => {
                out.extend_from_slice(&priority.to_be_bytes());
                out.extend_from_slice(&weight.to_be_bytes());
                out.extend_from_slice(&port.to_be_bytes());
                name(&mut out, target);
            }
            RecordData::Txt(txt) => {
                for string in txt.to_strings() {
                    out.push(string.len() as u8);
                    out.extend_from_slice(&string);
                }
                if out.is_empty() {
                    out.push(0);
                }
            }
            RecordData::A(ip) => out.extend_from_slice(&ip.octets()),
            RecordData::Aaaa(ip) => out.extend_from_slice(&ip.octets()),
            RecordData::Null(bytes) => out.extend_from_slice(bytes),
            RecordData::Nsec { next, types } => {
                name(&mut out, next);
                for (window, bitmap) in type_bitmaps(types) {
                    out.push(window);
                    out.push(bitmap.len() as u8);
                    out.extend_from_slice(&bitmap);
                }
            }
            RecordData::Soa {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => {
                name(&mut out, mname);
                name(&mut out, rname);
                for value in [serial, refresh, retry, expire, minimum] {
                    out.extend_from_slice(&value.to_be_bytes());
                }
            }
            RecordData::Other(_) => {}
        }
        out
    }
}

/// The type bit maps of NSEC data (RFC 4034 §4.1.2): a window per 256 types, each with
/// the bytes up to its last type present.
fn type_bitmaps(types: &[u16]) -> Vec<(u8, Vec<u8>)> {
    let mut windows: Vec<(u8, Vec<u8>)> = Vec::new();
    for &rtype in types {
        let [window, low] = rtype.to_be_bytes();
        if windows.last().is_none_or(|(w, _)| *w != window) {
            windows.push((window, Vec::new()));
        }
        if let Some((_, bitmap)) = windows.last_mut() {
            let byte = usize::from(low / 8);
            if bitmap.len() <= byte {
                bitmap.resize(byte + 1, 0);
            }
            bitmap[byte] |= 0x80 >> (low % 8);
        }
    }
    windows
}

/// A resource record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// The owner name.
    pub name: DnsName,
    /// Time to live in seconds; 0 is a goodbye (RFC 6762 §10.1).
    pub ttl: u32,
    /// The cache-flush bit: this is a unique record whose set replaces what caches hold
    /// (RFC 6762 §10.2).
    pub cache_flush: bool,
    /// The data.
    pub data: RecordData,
}

/// A question.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Question {
    /// The name asked about.
    pub name: DnsName,
    /// The type asked for (`rtype::ANY` for all).
    pub qtype: u16,
    /// The QU bit: the asker would like a unicast reply (RFC 6762 §5.4).
    pub unicast_response: bool,
}

impl Question {
    /// Whether `record` answers this question (by name and type).
    pub fn is_answered_by(&self, record: &Record) -> bool {
        (self.qtype == rtype::ANY || self.qtype == record.data.rtype()) && self.name == record.name
    }
}

/// A DNS message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// The ID: 0 in multicast mDNS, echoed in legacy unicast replies (RFC 6762 §6.7, §18.1).
    pub id: u16,
    /// Whether this is a response (QR bit).
    pub is_response: bool,
    /// The TC bit: more known answers follow in another packet (RFC 6762 §7.2).
    pub truncated: bool,
    /// Questions.
    pub questions: Vec<Question>,
    /// Answers (in a query: known answers, RFC 6762 §7.1).
    pub answers: Vec<Record>,
    /// Authority records (in a probe: the records proposed, RFC 6762 §8.2).
    pub authority: Vec<Record>,
    /// Additional records.
    pub additional: Vec<Record>,
    /// Records of a received message that were left out because they could not be
    /// decoded: data malformed for its type (python-zeroconf 0.47's NSEC records, say), or
    /// announced by the header but cut off or unreadable. Always 0 in a message we build;
    /// [`Message::encode`] ignores it.
    pub skipped_records: usize,
}

/// Why bytes were not accepted as an mDNS message. Such packets are dropped and counted,
/// never answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Larger than [`MAX_PACKET`].
    TooLarge,
    /// Not a DNS message: the header or a question cannot be read.
    Malformed(String),
    /// A non-zero OPCODE or RCODE, which mDNS ignores (RFC 6762 §18.3, §18.11).
    Unsupported,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TooLarge => write!(f, "mDNS packet larger than {MAX_PACKET} bytes"),
            DecodeError::Malformed(reason) => write!(f, "malformed DNS message: {reason}"),
            DecodeError::Unsupported => f.write_str("DNS message with a non-zero OPCODE or RCODE"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a message could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeError(String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot encode DNS message: {}", self.0)
    }
}

impl std::error::Error for EncodeError {}

impl Message {
    /// Decodes an mDNS message. Never panics, whatever the bytes.
    ///
    /// Only a short header, a non-zero OPCODE or RCODE in the header, or an unreadable
    /// question section refuse the whole datagram. An EDNS0 OPT record (which Apple's
    /// mDNSResponder sends in every packet) and records of classes other than IN are left
    /// out; a record whose data is not what its type requires is left out and counted in
    /// [`Message::skipped_records`], and the rest of the packet is kept (RFC 6762 §18).
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        crate::decode::message(bytes)
    }

    /// Encodes the message with name compression. Responses get the AA bit (RFC 6762 §18.4).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut packet = if self.is_response {
            let mut packet = Packet::new_reply(self.id);
            packet.set_flags(PacketFlag::AUTHORITATIVE_ANSWER);
            packet
        } else {
            Packet::new_query(self.id)
        };
        if self.truncated {
            packet.set_flags(PacketFlag::TRUNCATION);
        }
        for question in &self.questions {
            let qtype = QTYPE::try_from(question.qtype).map_err(|e| EncodeError(e.to_string()))?;
            packet.questions.push(simple_dns::Question::new(
                question.name.to_simple(),
                qtype,
                QCLASS::CLASS(CLASS::IN),
                question.unicast_response,
            ));
        }
        let records: Vec<&Record> = self
            .answers
            .iter()
            .chain(&self.authority)
            .chain(&self.additional)
            .collect();
        // TXT strings are built first so that the borrowed simple-dns records can point
        // into them.
        let strings: Vec<Vec<Vec<u8>>> = records
            .iter()
            .map(|r| match &r.data {
                RecordData::Txt(txt) => txt.to_strings(),
                _ => Vec::new(),
            })
            .collect();
        let mut encoded = Vec::with_capacity(records.len());
        for (record, strings) in records.iter().zip(&strings) {
            encoded.push(encode_record(record, strings)?);
        }
        let mut encoded = encoded.into_iter();
        packet.answers = encoded.by_ref().take(self.answers.len()).collect();
        packet.name_servers = encoded.by_ref().take(self.authority.len()).collect();
        packet.additional_records = encoded.collect();
        packet
            .build_bytes_vec_compressed()
            .map_err(|e| EncodeError(e.to_string()))
    }
}

/// Builds a simple-dns record; `txt_strings` are the record's TXT strings when it is TXT
/// (kept by the caller so that the borrowed record can point into them).
fn encode_record<'a>(
    record: &'a Record,
    txt_strings: &'a [Vec<u8>],
) -> Result<ResourceRecord<'a>, EncodeError> {
    let error = |e: simple_dns::SimpleDnsError| EncodeError(e.to_string());
    let rdata = match &record.data {
        RecordData::Ptr(target) => RData::PTR(PTR(target.to_simple())),
        RecordData::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::SRV(SRV {
            priority: *priority,
            weight: *weight,
            port: *port,
            target: target.to_simple(),
        }),
        RecordData::Txt(_) => {
            let mut txt = TXT::new();
            for string in txt_strings {
                txt.add_char_string(CharacterString::new(string).map_err(error)?);
            }
            RData::TXT(txt)
        }
        RecordData::A(ip) => RData::A(A {
            address: u32::from(*ip),
        }),
        RecordData::Aaaa(ip) => RData::AAAA(AAAA {
            address: u128::from(*ip),
        }),
        RecordData::Null(bytes) => RData::NULL(rtype::NULL, NULL::new(bytes).map_err(error)?),
        RecordData::Nsec { next, types } => RData::NSEC(NSEC {
            next_name: next.to_simple(),
            type_bit_maps: type_bitmaps(types)
                .into_iter()
                .map(|(window_block, bitmap)| NsecTypeBitMap {
                    window_block,
                    bitmap: bitmap.into(),
                })
                .collect(),
        }),
        RecordData::Soa { .. } | RecordData::Other(_) => {
            let code = record.data.rtype();
            return Err(EncodeError(format!("record type {code} cannot be encoded")));
        }
    };
    Ok(
        ResourceRecord::new(record.name.to_simple(), CLASS::IN, record.ttl, rdata)
            .with_cache_flush(record.cache_flush),
    )
}
