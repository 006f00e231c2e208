//! DNS UPDATE messages (RFC 2136), written whole and uncompressed, so that a TSIG
//! signature covers exactly the bytes sent, and their replies read.
//!
//! Written here rather than with simple-dns, which has no class ANY for records: RFC 2136
//! needs it to delete an RRset or a name (§2.5.2, §2.5.3) and to ask that a name be in
//! use (§2.4.4).

use std::fmt;

use crate::decode;
use crate::name::DnsName;
use crate::record::{rtype, DecodeError, Message, Record};

/// The UPDATE opcode.
const OPCODE_UPDATE: u16 = 5;
const CLASS_IN: u16 = 1;
const CLASS_NONE: u16 = 254;
const CLASS_ANY: u16 = 255;

/// A condition the server checks before making any change (RFC 2136 §2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prerequisite {
    /// No record of any type at this name (§2.4.5): nobody holds it.
    NameNotInUse(DnsName),
    /// Some record at this name (§2.4.4).
    NameInUse(DnsName),
    /// The RRset of this record's name and type is exactly this one record (§2.4.2,
    /// "value dependent"): nobody replaced it meanwhile.
    RrsetIs(Record),
}

/// One change (RFC 2136 §2.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Adds the record (to its RRset).
    Add(Record),
    /// Deletes every record of a type at a name.
    DeleteRrset {
        /// The owner.
        name: DnsName,
        /// The type.
        rtype: u16,
    },
    /// Deletes this one record (by its owner, type and data).
    Delete(Record),
    /// Deletes every record at a name.
    DeleteName(DnsName),
}

/// An UPDATE to one zone: prerequisites, then changes, all or nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The zone updated.
    pub zone: DnsName,
    /// What must hold first.
    pub prerequisites: Vec<Prerequisite>,
    /// The changes.
    pub changes: Vec<Change>,
}

fn put_name(out: &mut Vec<u8>, name: &DnsName) {
    for label in name.labels() {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

fn put_record(out: &mut Vec<u8>, name: &DnsName, rtype: u16, class: u16, ttl: u32, data: &[u8]) {
    put_name(out, name);
    out.extend(rtype.to_be_bytes());
    out.extend(class.to_be_bytes());
    out.extend(ttl.to_be_bytes());
    out.extend((data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// Why an update cannot be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooLarge(pub usize);

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the update would be {} bytes (65,535 at most)", self.0)
    }
}

impl std::error::Error for TooLarge {}

impl Update {
    /// An update to `zone` with nothing in it yet.
    pub fn new(zone: DnsName) -> Update {
        Update {
            zone,
            prerequisites: Vec::new(),
            changes: Vec::new(),
        }
    }

    /// The message, with ID `id`, ready to sign.
    pub fn to_bytes(&self, id: u16) -> Result<Vec<u8>, TooLarge> {
        let mut out = id.to_be_bytes().to_vec();
        out.extend((OPCODE_UPDATE << 11).to_be_bytes());
        for count in [1, self.prerequisites.len(), self.changes.len(), 0] {
            out.extend((count as u16).to_be_bytes());
        }
        // The zone section: the zone's name, type SOA, class IN (§2.3).
        put_name(&mut out, &self.zone);
        out.extend(rtype::SOA.to_be_bytes());
        out.extend(CLASS_IN.to_be_bytes());
        for prerequisite in &self.prerequisites {
            match prerequisite {
                Prerequisite::NameNotInUse(name) => {
                    put_record(&mut out, name, rtype::ANY, CLASS_NONE, 0, &[])
                }
                Prerequisite::NameInUse(name) => {
                    put_record(&mut out, name, rtype::ANY, CLASS_ANY, 0, &[])
                }
                Prerequisite::RrsetIs(record) => put_record(
                    &mut out,
                    &record.name,
                    record.data.rtype(),
                    CLASS_IN,
                    0,
                    &record.data.uncompressed_bytes(),
                ),
            }
        }
        for change in &self.changes {
            match change {
                Change::Add(record) => put_record(
                    &mut out,
                    &record.name,
                    record.data.rtype(),
                    CLASS_IN,
                    record.ttl,
                    &record.data.uncompressed_bytes(),
                ),
                Change::DeleteRrset { name, rtype } => {
                    put_record(&mut out, name, *rtype, CLASS_ANY, 0, &[])
                }
                Change::Delete(record) => put_record(
                    &mut out,
                    &record.name,
                    record.data.rtype(),
                    CLASS_NONE,
                    0,
                    &record.data.uncompressed_bytes(),
                ),
                Change::DeleteName(name) => {
                    put_record(&mut out, name, rtype::ANY, CLASS_ANY, 0, &[])
                }
            }
        }
        if out.len() > usize::from(u16::MAX) {
            return Err(TooLarge(out.len()));
        }
        Ok(out)
    }
}

/// The RCODE of a reply (RFC 1035 §4.1.1, RFC 2136 §2.2), as far as updates and queries
/// meet them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rcode {
    /// Done (NOERROR).
    NoError,
    /// The server could not read the request (FORMERR).
    FormatError,
    /// The server failed (SERVFAIL).
    ServerFailure,
    /// The name does not exist (NXDOMAIN); for an update, a name that should be in use
    /// is not.
    NameError,
    /// The server does not do this (NOTIMP).
    NotImplemented,
    /// Refused: not allowed (an unsigned update, or a key not granted this change).
    Refused,
    /// A name that should not exist does (YXDOMAIN): taken by someone else.
    NameExists,
    /// An RRset that should not exist does (YXRRSET).
    RrsetExists,
    /// An RRset that should exist does not (NXRRSET).
    RrsetMissing,
    /// The server is not authoritative for the zone, or the signature failed (NOTAUTH).
    NotAuthoritative,
    /// A name outside the zone (NOTZONE).
    NotZone,
    /// Another code.
    Other(u16),
}

impl Rcode {
    /// The RCODE of a header's flags.
    pub fn from_flags(flags: u16) -> Rcode {
        match flags & 0x0F {
            0 => Rcode::NoError,
            1 => Rcode::FormatError,
            2 => Rcode::ServerFailure,
            3 => Rcode::NameError,
            4 => Rcode::NotImplemented,
            5 => Rcode::Refused,
            6 => Rcode::NameExists,
            7 => Rcode::RrsetExists,
            8 => Rcode::RrsetMissing,
            9 => Rcode::NotAuthoritative,
            10 => Rcode::NotZone,
            other => Rcode::Other(other),
        }
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rcode::NoError => f.write_str("NOERROR"),
            Rcode::FormatError => f.write_str("FORMERR: the server could not read our request"),
            Rcode::ServerFailure => f.write_str("SERVFAIL: the server failed"),
            Rcode::NameError => f.write_str("NXDOMAIN: no such name"),
            Rcode::NotImplemented => f.write_str("NOTIMP: the server does not do this"),
            Rcode::Refused => f.write_str("REFUSED: the server does not allow it"),
            Rcode::NameExists => f.write_str("YXDOMAIN: the name is taken"),
            Rcode::RrsetExists => f.write_str("YXRRSET: the records exist"),
            Rcode::RrsetMissing => f.write_str("NXRRSET: the records do not exist"),
            Rcode::NotAuthoritative => {
                f.write_str("NOTAUTH: the server is not authoritative for the zone")
            }
            Rcode::NotZone => f.write_str("NOTZONE: a name outside the zone"),
            Rcode::Other(code) => write!(f, "RCODE {code}"),
        }
    }
}

/// A unicast reply: its header's ID, OPCODE and RCODE, and its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The ID, the request's.
    pub id: u16,
    /// The OPCODE (0 for a query, 5 for an update).
    pub opcode: u8,
    /// The outcome.
    pub rcode: Rcode,
    /// The TC bit: the answer did not fit in UDP; ask again over TCP.
    pub truncated: bool,
    /// The records, kept as [`Message::decode`] keeps them.
    pub message: Message,
}

impl Reply {
    /// Reads a reply (a TSIG record, if any, already checked and cut off by
    /// [`super::tsig::verify_reply`]).
    pub fn decode(bytes: &[u8]) -> Result<Reply, DecodeError> {
        if bytes.len() > usize::from(u16::MAX) {
            return Err(DecodeError::TooLarge);
        }
        let (message, flags) = decode::reply(bytes)?;
        if flags & 0x8000 == 0 {
            return Err(DecodeError::Malformed("a request, not a reply".into()));
        }
        Ok(Reply {
            id: message.id,
            opcode: ((flags >> 11) & 0x0F) as u8,
            rcode: Rcode::from_flags(flags),
            truncated: flags & 0x0200 != 0,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordData;
    use std::net::Ipv4Addr;

    fn name(text: &str) -> DnsName {
        DnsName::from_labels(text.split('.'))
    }

    #[test]
    fn an_update_is_laid_out_as_rfc_2136_says() {
        let mut update = Update::new(name("example.test"));
        update
            .prerequisites
            .push(Prerequisite::NameNotInUse(name("A.example.test")));
        update.changes.push(Change::Add(Record {
            name: name("h.example.test"),
            ttl: 120,
            cache_flush: false,
            data: RecordData::A(Ipv4Addr::new(10, 0, 0, 1)),
        }));
        update.changes.push(Change::DeleteRrset {
            name: name("h.example.test"),
            rtype: rtype::TXT,
        });
        let bytes = update.to_bytes(0xBEEF).unwrap();
        let mut want = vec![0xBE, 0xEF, 0x28, 0x00, 0, 1, 0, 1, 0, 2, 0, 0];
        want.extend(b"\x07example\x04test\x00\x00\x06\x00\x01");
        // The name kept as spelled: A, not a.
        want.extend(b"\x01A\x07example\x04test\x00\x00\xff\x00\xfe\x00\x00\x00\x00\x00\x00");
        want.extend(
            b"\x01h\x07example\x04test\x00\x00\x01\x00\x01\x00\x00\x00\x78\x00\x04\x0a\x00\x00\x01",
        );
        want.extend(b"\x01h\x07example\x04test\x00\x00\x10\x00\xff\x00\x00\x00\x00\x00\x00");
        assert_eq!(bytes, want);
    }

    #[test]
    fn a_reply_gives_its_rcode() {
        let mut bytes = Update::new(name("example.test")).to_bytes(9).unwrap();
        bytes[2] |= 0x80;
        bytes[3] |= 6;
        let reply = Reply::decode(&bytes).unwrap();
        assert_eq!(
            (reply.id, reply.opcode, reply.rcode),
            (9, 5, Rcode::NameExists)
        );
        // A request is no reply.
        let request = Update::new(name("example.test")).to_bytes(9).unwrap();
        assert!(Reply::decode(&request).is_err());
    }
}
