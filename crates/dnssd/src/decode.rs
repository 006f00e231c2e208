//! Reading mDNS messages off the wire, record by record.
//!
//! simple-dns 0.13 parses a packet whole or not at all, and takes the extended RCODE from
//! the low byte of an EDNS0 OPT record's TTL (RFC 6891 §6.1.3 puts it in the high byte);
//! real responders defeat both. Apple's mDNSResponder puts an OPT record (the Owner
//! option, TTL 4500) in nearly every packet it sends, and python-zeroconf 0.47 sends NSEC
//! records with a malformed type bitmap (tests/vectors). So this reader walks the sections
//! itself:
//!
//! - only the header's OPCODE and 4-bit RCODE decide whether a message is taken (RFC 6762
//!   §18.3, §18.11); an OPT record is stepped over, never fatal;
//! - a record whose data does not decode for its type is stepped over by its RDLENGTH and
//!   counted in [`Message::skipped_records`]; the rest of the packet is kept;
//! - a record header that cannot be read ends the walk: what came before it is kept, and
//!   every record announced but not read is counted as skipped;
//! - only a short header or an unreadable question section drops the datagram.
//!
//! Names follow compression pointers (RFC 1035 §4.1.4) only backwards, to an offset before
//! the pointer itself, so a name is read in a bounded number of steps. Nothing here
//! indexes out of bounds or panics, whatever the bytes.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::name::DnsName;
use crate::record::{rtype, DecodeError, Message, Question, Record, RecordData, MAX_PACKET};
use crate::txt::TxtRecord;

/// OPT, the EDNS0 pseudo-record (RFC 6891 §6.1).
const OPT: u16 = 41;
/// Class IN; ANY is allowed in questions.
const CLASS_IN: u16 = 1;
const CLASS_ANY: u16 = 255;
/// The top bit of a question's class (QU) or a record's class (cache flush).
const CLASS_TOP_BIT: u16 = 0x8000;
/// The longest name on the wire, length bytes and root included (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;

/// Decodes an mDNS message; see the module's documentation for what is kept.
pub(crate) fn message(bytes: &[u8]) -> Result<Message, DecodeError> {
    if bytes.len() > MAX_PACKET {
        return Err(DecodeError::TooLarge);
    }
    let (message, flags) = walk(bytes)?;
    let opcode = (flags >> 11) & 0x0F;
    let rcode = flags & 0x0F;
    if opcode != 0 || rcode != 0 {
        return Err(DecodeError::Unsupported);
    }
    Ok(message)
}

/// Decodes a unicast DNS reply (any OPCODE and RCODE, up to 65,535 bytes over TCP), kept
/// as [`message`] keeps records; with the header's flags, for the caller to judge.
pub(crate) fn reply(bytes: &[u8]) -> Result<(Message, u16), DecodeError> {
    walk(bytes)
}

/// Where the last record of a message starts, and its owner, type and class; `None` if
/// the message has no record or cannot be walked to it. A TSIG record is always the
/// last (RFC 8945 §5.1).
pub(crate) fn last_record(bytes: &[u8]) -> Option<LastRecord> {
    let mut reader = Reader { bytes, at: 12 };
    let counts: Vec<u16> = (0..4)
        .map(|i| {
            bytes
                .get(4 + 2 * i..6 + 2 * i)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
        })
        .collect::<Option<_>>()?;
    for _ in 0..counts[0] {
        reader.question()?;
    }
    let records: usize = counts[1..].iter().map(|&c| usize::from(c)).sum();
    let mut last = None;
    for _ in 0..records {
        let start = reader.at;
        let header = reader.record_header()?;
        reader.at = header.data_end;
        last = Some(LastRecord {
            start,
            name: header.name,
            rtype: header.rtype,
            class: header.class,
            ttl: header.ttl,
            data: header.data_start..header.data_end,
        });
    }
    last.filter(|_| reader.at == bytes.len())
}

/// The last record of a message, located ([`last_record`]).
pub(crate) struct LastRecord {
    /// Where its owner name starts.
    pub start: usize,
    pub name: DnsName,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    /// Where its data lies.
    pub data: std::ops::Range<usize>,
}

/// Reads a name inside `bytes` at `at` (compression pointers followed backwards); the
/// name and the offset just past it.
pub(crate) fn name_at(bytes: &[u8], at: usize) -> Option<(DnsName, usize)> {
    let mut reader = Reader { bytes, at };
    let name = reader.name()?;
    Some((name, reader.at))
}

/// Walks a message's sections; the message and its header's flags.
fn walk(bytes: &[u8]) -> Result<(Message, u16), DecodeError> {
    let mut reader = Reader { bytes, at: 0 };
    let header = (|| {
        Some((
            reader.u16()?,
            reader.u16()?,
            [reader.u16()?, reader.u16()?, reader.u16()?, reader.u16()?],
        ))
    })();
    let Some((id, flags, [qdcount, ancount, nscount, arcount])) = header else {
        return Err(DecodeError::Malformed("shorter than a DNS header".into()));
    };
    let mut message = Message {
        id,
        is_response: flags & 0x8000 != 0,
        truncated: flags & 0x0200 != 0,
        ..Message::default()
    };
    for _ in 0..qdcount {
        let question = reader
            .question()
            .ok_or_else(|| DecodeError::Malformed("unreadable question".into()))?;
        if let Some(question) = question {
            message.questions.push(question);
        }
    }
    let sections = [
        (ancount, &mut message.answers),
        (nscount, &mut message.authority),
        (arcount, &mut message.additional),
    ];
    let mut unread = usize::from(ancount) + usize::from(nscount) + usize::from(arcount);
    let mut skipped = 0;
    'sections: for (count, records) in sections {
        for _ in 0..count {
            let Some(header) = reader.record_header() else {
                // Nothing after this can be found: the rest is lost.
                skipped += unread;
                break 'sections;
            };
            unread -= 1;
            match reader.record(&header) {
                Kept::Record(record) => records.push(record),
                Kept::NotOurs => {}
                Kept::Undecodable => skipped += 1,
            }
            reader.at = header.data_end;
        }
    }
    message.skipped_records = skipped;
    Ok((message, flags))
}

/// A position in a message.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// A resource record's fixed part (RFC 1035 §4.1.3), its data located but not read.
struct RecordHeader {
    name: DnsName,
    rtype: u16,
    class: u16,
    ttl: u32,
    data_start: usize,
    data_end: usize,
}

/// What became of one record.
enum Kept {
    Record(Record),
    /// Understood and not for us: OPT, or a class other than IN.
    NotOurs,
    /// Its data is not what its type requires.
    Undecodable,
}

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn u16(&mut self) -> Option<u16> {
        let bytes = self.take(2)?;
        Some(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        let bytes = self.take(4)?;
        Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn take(&mut self, len: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(len)?;
        let slice = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(slice)
    }

    /// A name at the current position, compression pointers followed; the position moves
    /// past the name's bytes in place (up to and including its first pointer).
    fn name(&mut self) -> Option<DnsName> {
        let mut labels: Vec<&[u8]> = Vec::new();
        let mut wire_len = 1;
        let mut at = self.at;
        let mut resume = None;
        loop {
            let len = *self.bytes.get(at)?;
            match len & 0xC0 {
                0x00 if len == 0 => {
                    self.at = resume.unwrap_or(at + 1);
                    return Some(DnsName::from_labels(labels));
                }
                0x00 => {
                    let label = self.bytes.get(at + 1..at + 1 + usize::from(len))?;
                    wire_len += label.len() + 1;
                    if wire_len > MAX_NAME {
                        return None;
                    }
                    labels.push(label);
                    at += 1 + label.len();
                }
                0xC0 => {
                    let low = *self.bytes.get(at + 1)?;
                    let target = usize::from(u16::from_be_bytes([len & 0x3F, low]));
                    // Strictly backwards: each jump lowers `at`, so the loop ends.
                    if target >= at {
                        return None;
                    }
                    resume.get_or_insert(at + 2);
                    at = target;
                }
                // 0x40 and 0x80: extended label types (RFC 6891 §5), unused in mDNS.
                _ => return None,
            }
        }
    }

    /// A question; `Some(None)` for one of a class other than IN or ANY, `None` if it
    /// cannot be read.
    fn question(&mut self) -> Option<Option<Question>> {
        let name = self.name()?;
        let qtype = self.u16()?;
        let class = self.u16()?;
        Some(
            matches!(class & !CLASS_TOP_BIT, CLASS_IN | CLASS_ANY).then_some(Question {
                name,
                qtype,
                unicast_response: class & CLASS_TOP_BIT != 0,
            }),
        )
    }

    /// A record's owner, type, class, TTL and where its data lies; `None` if it cannot be
    /// read or its data runs past the end of the message.
    fn record_header(&mut self) -> Option<RecordHeader> {
        let name = self.name()?;
        let rtype = self.u16()?;
        let class = self.u16()?;
        let ttl = self.u32()?;
        let len = usize::from(self.u16()?);
        let data_start = self.at;
        let data_end = data_start + len;
        if data_end > self.bytes.len() {
            return None;
        }
        Some(RecordHeader {
            name,
            rtype,
            class,
            ttl,
            data_start,
            data_end,
        })
    }

    /// The record whose header is `header`, its data read from `header.data_start`.
    fn record(&mut self, header: &RecordHeader) -> Kept {
        if header.rtype == OPT || header.class & !CLASS_TOP_BIT != CLASS_IN {
            return Kept::NotOurs;
        }
        self.at = header.data_start;
        let data = &self.bytes[header.data_start..header.data_end];
        let decoded = match header.rtype {
            rtype::A => <[u8; 4]>::try_from(data)
                .ok()
                .map(|ip| RecordData::A(Ipv4Addr::from(ip))),
            rtype::AAAA => <[u8; 16]>::try_from(data)
                .ok()
                .map(|ip| RecordData::Aaaa(Ipv6Addr::from(ip))),
            rtype::PTR => self
                .name()
                .filter(|_| self.at == header.data_end)
                .map(RecordData::Ptr),
            rtype::SRV => self.srv().filter(|_| self.at == header.data_end),
            rtype::TXT => txt(data).map(RecordData::Txt),
            rtype::NULL => Some(RecordData::Null(data.to_vec())),
            rtype::NSEC => self.nsec(header.data_end),
            rtype::SOA => self.soa().filter(|_| self.at == header.data_end),
            other => Some(RecordData::Other(other)),
        };
        match decoded {
            Some(data) => Kept::Record(Record {
                name: header.name.clone(),
                ttl: header.ttl,
                cache_flush: header.class & CLASS_TOP_BIT != 0,
                data,
            }),
            None => Kept::Undecodable,
        }
    }

    fn srv(&mut self) -> Option<RecordData> {
        let priority = self.u16()?;
        let weight = self.u16()?;
        let port = self.u16()?;
        let target = self.name()?;
        Some(RecordData::Srv {
            priority,
            weight,
            port,
            target,
        })
    }

    fn soa(&mut self) -> Option<RecordData> {
        let mname = self.name()?;
        let rname = self.name()?;
        let [serial, refresh, retry, expire, minimum] = [
            self.u32()?,
            self.u32()?,
            self.u32()?,
            self.u32()?,
            self.u32()?,
        ];
        Some(RecordData::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        })
    }

    /// NSEC data up to `end`, if well formed (RFC 4034 §4.1): a next name, then window
    /// blocks in increasing order, each with 1 to 32 bitmap bytes, filling the data.
    fn nsec(&mut self, end: usize) -> Option<RecordData> {
        let next = self.name().filter(|_| self.at <= end)?;
        let mut types = Vec::new();
        let mut previous = None;
        while self.at < end {
            let (window, len) = (self.u8()?, self.u8()?);
            if previous.is_some_and(|p| window <= p) || !(1..=32).contains(&len) {
                return None;
            }
            let bitmap = self.take(usize::from(len))?;
            for (byte, bits) in bitmap.iter().enumerate() {
                for bit in 0..8 {
                    if bits & (0x80 >> bit) != 0 {
                        types.push(u16::from_be_bytes([window, (byte * 8 + bit) as u8]));
                    }
                }
            }
            previous = Some(window);
        }
        (self.at == end).then_some(RecordData::Nsec { next, types })
    }
}

/// TXT data: character strings that fill it exactly (RFC 1035 §3.3.14); none at all is an
/// empty record.
fn txt(mut data: &[u8]) -> Option<TxtRecord> {
    let mut strings = Vec::new();
    while let [len, rest @ ..] = data {
        let len = usize::from(*len);
        strings.push(rest.get(..len)?);
        data = &rest[len..];
    }
    Some(TxtRecord::from_strings(strings))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with the given flags and counts.
    fn header(flags: u16, counts: [u16; 4]) -> Vec<u8> {
        let mut out = vec![0, 0];
        out.extend(flags.to_be_bytes());
        for count in counts {
            out.extend(count.to_be_bytes());
        }
        out
    }

    /// `_presence._tcp.local` PTR `a@b._presence._tcp.local`, its owner at offset 12.
    fn ptr_record(out: &mut Vec<u8>) {
        out.extend(b"\x09_presence\x04_tcp\x05local\x00\x00\x0c\x00\x01\x00\x00\x11\x94");
        out.extend(b"\x00\x06\x03a@b\xc0\x0c");
    }

    /// An OPT record whose TTL has its extended-RCODE byte set, beside mDNSResponder's
    /// (TTL 4500, which simple-dns 0.13 misread as an extended RCODE).
    fn opt_records(out: &mut Vec<u8>) {
        out.extend(b"\x00\x00\x29\x05\xa0\xff\x00\x00\x00\x00\x00");
        out.extend(b"\x00\x00\x29\x05\xa0\x00\x00\x11\x94\x00\x00");
    }

    #[test]
    fn an_opt_record_with_extended_rcode_bits_is_left_out_and_the_rest_kept() {
        let mut bytes = header(0x8400, [0, 1, 0, 2]);
        ptr_record(&mut bytes);
        opt_records(&mut bytes);
        let message = message(&bytes).unwrap();
        assert_eq!(message.answers.len(), 1);
        assert!(message.additional.is_empty());
        assert_eq!(message.skipped_records, 0);
    }

    #[test]
    fn only_the_headers_opcode_and_rcode_refuse_a_message() {
        for flags in [0x8401, 0x8403, 0x8c00, 0x9000] {
            let mut bytes = header(flags, [0, 1, 0, 0]);
            ptr_record(&mut bytes);
            assert_eq!(message(&bytes), Err(DecodeError::Unsupported), "{flags:#x}");
        }
    }

    #[test]
    fn a_record_with_bad_data_is_skipped_by_its_length_and_counted() {
        let mut bytes = header(0x8400, [0, 3, 0, 0]);
        ptr_record(&mut bytes);
        // An A record of 3 bytes, then a good one, both owned by the PTR's target.
        bytes.extend(b"\xc0\x2c\x00\x01\x80\x01\x00\x00\x00\x78\x00\x03\x0a\x00\x00");
        bytes.extend(b"\xc0\x2c\x00\x01\x80\x01\x00\x00\x00\x78\x00\x04\x0a\x00\x00\x01");
        let message = message(&bytes).unwrap();
        assert_eq!(message.skipped_records, 1);
        assert_eq!(message.answers.len(), 2);
        assert_eq!(
            message.answers[1].data,
            RecordData::A(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(message.answers[1].name.labels()[0], b"a@b");
        assert!(message.answers[1].cache_flush);
    }

    #[test]
    fn records_cut_off_are_counted_and_what_came_before_kept() {
        let mut bytes = header(0x8400, [0, 2, 1, 2]);
        ptr_record(&mut bytes);
        bytes.extend(b"\xc0\x0c\x00\x0c\x00\x01\x00\x00\x11\x94\x00\x09");
        let message = message(&bytes).unwrap();
        assert_eq!(message.answers.len(), 1);
        assert_eq!(message.skipped_records, 4);
    }

    #[test]
    fn pointers_that_loop_or_point_forward_are_unreadable_names() {
        // A question whose name points at itself, then one that points forward.
        for name in [&b"\xc0\x0c"[..], b"\x01a\xc0\x12\x00"] {
            let mut bytes = header(0, [1, 0, 0, 0]);
            bytes.extend(name);
            bytes.extend(b"\x00\x0c\x00\x01");
            assert!(matches!(message(&bytes), Err(DecodeError::Malformed(_))));
        }
    }

    #[test]
    fn nsec_data_is_checked_against_rfc_4034() {
        let nsec = |data: &[u8]| {
            let mut bytes = header(0x8400, [0, 1, 0, 0]);
            bytes.extend(b"\x01h\x05local\x00\x00\x2f\x80\x01\x00\x00\x00\x78");
            bytes.extend((data.len() as u16).to_be_bytes());
            bytes.extend(data);
            message(&bytes).unwrap()
        };
        // mDNSResponder's: next name by pointer, window 0 with TXT and SRV.
        let good = nsec(b"\xc0\x0c\x00\x05\x00\x00\x80\x00\x40");
        assert!(matches!(good.answers[0].data, RecordData::Nsec { .. }));
        assert_eq!(good.skipped_records, 0);
        // python-zeroconf 0.47's: an empty window 0, then window 0 again.
        let bad = nsec(b"\xc0\x0c\x00\x00\x00\x04\x00\x00\x00\x08");
        assert!(bad.answers.is_empty());
        assert_eq!(bad.skipped_records, 1);
    }
}
