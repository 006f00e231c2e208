//! The DNS-SD TXT record codec (RFC 6763 §6): ordered key/value strings.

use std::fmt;

/// The longest string in a TXT record (`key=value` together), RFC 6763 §6.1.
pub const MAX_STRING: usize = 255;

/// A TXT value: `key` alone (a boolean attribute that is present) or `key=value`, where
/// the value may be empty (RFC 6763 §6.4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxtValue {
    /// `key` with no `=`.
    Flag,
    /// `key=` followed by the value's bytes (UTF-8 for text, RFC 6763 §6.5).
    Bytes(Vec<u8>),
}

impl TxtValue {
    /// The value as text: `None` for a flag or bytes that are not UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            TxtValue::Flag => None,
            TxtValue::Bytes(bytes) => std::str::from_utf8(bytes).ok(),
        }
    }
}

/// One TXT attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TxtEntry {
    /// The key, printable ASCII without `=`, spelled as sent.
    pub key: String,
    /// The value.
    pub value: TxtValue,
}

/// Why a key or value cannot go into a TXT record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxtError {
    /// The key is empty, or holds a byte outside printable ASCII, or `=`.
    BadKey,
    /// The key alone is longer than a TXT string can be.
    KeyTooLong,
}

impl fmt::Display for TxtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TxtError::BadKey => "TXT keys are printable ASCII without `=`, and not empty",
            TxtError::KeyTooLong => "TXT key longer than 254 bytes",
        })
    }
}

impl std::error::Error for TxtError {}

/// A TXT record: attributes in order, looked up by key without regard to ASCII case, the
/// first of duplicate keys winning. `txtvers`, when present, is kept first, as XEP-0174
/// and RFC 6763 §6.7 ask of what we send; what we receive is read in any order (libpurple
/// through Avahi sends `txtvers=1` last).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TxtRecord {
    entries: Vec<TxtEntry>,
}

impl TxtRecord {
    /// An empty record (sent as one zero byte, RFC 6763 §6.1).
    pub fn new() -> TxtRecord {
        TxtRecord::default()
    }

    /// Sets `key` to `value`, replacing an existing entry with that key (in any case). A
    /// value too long for one TXT string is cut at a UTF-8 character boundary.
    pub fn insert(&mut self, key: &str, value: impl Into<Vec<u8>>) -> Result<(), TxtError> {
        check_key(key)?;
        let mut value = value.into();
        let room = MAX_STRING - key.len() - 1;
        if value.len() > room {
            value.truncate(utf8_boundary(&value, room));
        }
        self.put(TxtEntry {
            key: key.to_owned(),
            value: TxtValue::Bytes(value),
        });
        Ok(())
    }

    /// Sets `key` as a boolean attribute (`key` alone).
    pub fn insert_flag(&mut self, key: &str) -> Result<(), TxtError> {
        check_key(key)?;
        self.put(TxtEntry {
            key: key.to_owned(),
            value: TxtValue::Flag,
        });
        Ok(())
    }

    /// Removes `key`; says whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| !e.key.eq_ignore_ascii_case(key));
        before != self.entries.len()
    }

    /// The value of `key`, in any case.
    pub fn get(&self, key: &str) -> Option<&TxtValue> {
        self.entries
            .iter()
            .find(|e| e.key.eq_ignore_ascii_case(key))
            .map(|e| &e.value)
    }

    /// The value of `key` as text, if it is `key=text` in UTF-8.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(TxtValue::as_str)
    }

    /// The attributes in order.
    pub fn entries(&self) -> &[TxtEntry] {
        &self.entries
    }

    /// Whether there is no attribute.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads a record from its strings as received. Empty strings and strings starting
    /// with `=` are ignored and the later of duplicate keys dropped (RFC 6763 §6.4); a
    /// string whose key is not printable ASCII is ignored too.
    pub fn from_strings<S: AsRef<[u8]>>(strings: impl IntoIterator<Item = S>) -> TxtRecord {
        let mut record = TxtRecord::new();
        for string in strings {
            let string = string.as_ref();
            let (key, value) = match string.iter().position(|&b| b == b'=') {
                Some(eq) => (&string[..eq], TxtValue::Bytes(string[eq + 1..].to_vec())),
                None => (string, TxtValue::Flag),
            };
            let Ok(key) = std::str::from_utf8(key) else {
                continue;
            };
            if check_key(key).is_err() || record.get(key).is_some() {
                continue;
            }
            record.put(TxtEntry {
                key: key.to_owned(),
                value,
            });
        }
        record
    }

    /// The strings to send, in order (`txtvers` first).
    pub fn to_strings(&self) -> Vec<Vec<u8>> {
        self.entries
            .iter()
            .map(|entry| {
                let mut string = entry.key.as_bytes().to_vec();
                if let TxtValue::Bytes(value) = &entry.value {
                    string.push(b'=');
                    string.extend_from_slice(value);
                }
                string
            })
            .collect()
    }

    /// The size of the record's data on the wire: each string with its length byte, and
    /// one zero byte for an empty record.
    pub fn wire_len(&self) -> usize {
        if self.entries.is_empty() {
            return 1;
        }
        self.to_strings().iter().map(|s| s.len() + 1).sum()
    }

    fn put(&mut self, entry: TxtEntry) {
        if let Some(existing) = self
            .entries
            .iter_mut()
            .find(|e| e.key.eq_ignore_ascii_case(&entry.key))
        {
            *existing = entry;
        } else if entry.key.eq_ignore_ascii_case("txtvers") {
            self.entries.insert(0, entry);
        } else {
            self.entries.push(entry);
        }
    }
}

fn check_key(key: &str) -> Result<(), TxtError> {
    if key.is_empty() || !key.bytes().all(|b| (0x20..=0x7E).contains(&b) && b != b'=') {
        return Err(TxtError::BadKey);
    }
    if key.len() >= MAX_STRING {
        return Err(TxtError::KeyTooLong);
    }
    Ok(())
}

/// The largest length ≤ `max` that does not cut a UTF-8 character of `bytes` (for bytes
/// that are not UTF-8, `max`).
fn utf8_boundary(bytes: &[u8], max: usize) -> usize {
    if std::str::from_utf8(bytes).is_err() {
        return max;
    }
    let mut end = max;
    // A continuation byte (10xxxxxx) cannot start a character.
    while end > 0 && bytes[end] & 0xC0 == 0x80 {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_empty_values_differ_and_keys_ignore_case() {
        let txt = TxtRecord::from_strings([
            &b"vc=!"[..],
            b"nick=",
            b"AIM",
            b"Nick=second",
            b"",
            b"=x",
            b"txtvers=1",
        ]);
        assert_eq!(txt.get("NICK"), Some(&TxtValue::Bytes(Vec::new())));
        assert_eq!(txt.get("aim"), Some(&TxtValue::Flag));
        assert_eq!(txt.get_str("vc"), Some("!"));
        assert_eq!(txt.entries()[0].key, "txtvers");
        assert_eq!(txt.entries().len(), 4);
    }

    #[test]
    fn long_values_are_cut_at_a_character_boundary() {
        let mut txt = TxtRecord::new();
        txt.insert("msg", "é".repeat(200)).unwrap();
        let strings = txt.to_strings();
        assert!(strings[0].len() <= MAX_STRING);
        assert_eq!(strings[0].len(), 4 + 250);
        assert!(txt.get_str("msg").is_some());
        assert_eq!(txt.insert("a=b", "x"), Err(TxtError::BadKey));
        assert_eq!(TxtRecord::new().wire_len(), 1);
    }
}
