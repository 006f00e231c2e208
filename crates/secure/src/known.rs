//! Keys pinned on first use, SSH-style: the first key seen for a peer's name is
//! remembered; the same key later is accepted; another key is refused until the user
//! says otherwise.
//!
//! The file is text, a line a peer: the name, a tab, the fingerprint, a tab, `known` or
//! `verified` (compared out of band with the verification code). Lines starting with `#`
//! and empty lines are comments. A name holds no control character (so no tab or line
//! break), which keeps every name writable.

use std::collections::BTreeMap;
use std::fmt;

use crate::Fingerprint;

/// What we know of the key a peer presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// No key is pinned for this name: first use.
    New,
    /// The pinned key, not yet verified out of band.
    Known,
    /// The pinned key, verified out of band.
    Verified,
    /// Another key than the pinned one: refused until the user accepts it.
    Changed,
}

impl KeyStatus {
    /// The word the contract uses: `new`, `known`, `verified`, `changed`.
    pub fn name(self) -> &'static str {
        match self {
            KeyStatus::New => "new",
            KeyStatus::Known => "known",
            KeyStatus::Verified => "verified",
            KeyStatus::Changed => "changed",
        }
    }
}

/// A pinned key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The key.
    pub key: Fingerprint,
    /// Whether the user verified it out of band.
    pub verified: bool,
}

/// The pinned keys, by peer name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownKeys {
    pins: BTreeMap<String, Pin>,
}

/// A line of a known-keys file that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownKeysError {
    /// The line's number, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for KnownKeysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for KnownKeysError {}

/// Most bytes a peer name may have in the file (an instance name is one DNS label, at
/// most 63 bytes; longer ones are kept, up to this).
pub const MAX_NAME_BYTES: usize = 255;

/// Whether `name` can be pinned: non-empty, at most [`MAX_NAME_BYTES`], no control
/// character.
pub fn is_pinnable_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_BYTES && !name.chars().any(char::is_control)
}

impl KnownKeys {
    /// No key pinned.
    pub fn new() -> KnownKeys {
        KnownKeys::default()
    }

    /// Reads a known-keys file. The first unreadable line fails it all: a store that is
    /// half read would take a changed key for a new one.
    pub fn parse(text: &str) -> Result<KnownKeys, KnownKeysError> {
        let mut pins = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let fail = |reason| KnownKeysError {
                line: index + 1,
                reason,
            };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split('\t');
            let (Some(name), Some(key), Some(status), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(fail("not NAME, tab, KEY, tab, known or verified"));
            };
            if !is_pinnable_name(name) {
                return Err(fail(
                    "the name is empty, too long or holds a control character",
                ));
            }
            let key = key
                .parse::<Fingerprint>()
                .map_err(|_| fail("the key is no sha256: fingerprint"))?;
            let verified = match status {
                "known" => false,
                "verified" => true,
                _ => return Err(fail("the status is neither known nor verified")),
            };
            if pins
                .insert(name.to_owned(), Pin { key, verified })
                .is_some()
            {
                return Err(fail("a second line for the same name"));
            }
        }
        Ok(KnownKeys { pins })
    }

    /// The file's text, which [`KnownKeys::parse`] reads back.
    pub fn to_text(&self) -> String {
        let mut text = String::from(
            "# llxmpp: keys of peers, pinned on first use (name, key, known|verified)\n",
        );
        for (name, pin) in &self.pins {
            let status = if pin.verified { "verified" } else { "known" };
            text.push_str(&format!("{name}\t{}\t{status}\n", pin.key));
        }
        text
    }

    /// What `key` is for `peer`.
    pub fn status(&self, peer: &str, key: &Fingerprint) -> KeyStatus {
        match self.pins.get(peer) {
            None => KeyStatus::New,
            Some(pin) if pin.key != *key => KeyStatus::Changed,
            Some(pin) if pin.verified => KeyStatus::Verified,
            Some(_) => KeyStatus::Known,
        }
    }

    /// The pin of `peer`, if any.
    pub fn pin(&self, peer: &str) -> Option<&Pin> {
        self.pins.get(peer)
    }

    /// Pins `key` for `peer` on first use; returns false (and changes nothing) if another
    /// key is pinned for that name or the name cannot be pinned.
    pub fn remember(&mut self, peer: &str, key: Fingerprint) -> bool {
        if !is_pinnable_name(peer) {
            return false;
        }
        match self.pins.get(peer) {
            Some(pin) => pin.key == key,
            None => {
                self.pins.insert(
                    peer.to_owned(),
                    Pin {
                        key,
                        verified: false,
                    },
                );
                true
            }
        }
    }

    /// The user's word: `key` is `peer`'s, verified out of band (it replaces any other).
    pub fn verify(&mut self, peer: &str, key: Fingerprint) -> bool {
        if !is_pinnable_name(peer) {
            return false;
        }
        self.pins.insert(
            peer.to_owned(),
            Pin {
                key,
                verified: true,
            },
        );
        true
    }

    /// The user's word: `peer`'s key changed and the new one is to be trusted as on first
    /// use (not verified).
    pub fn replace(&mut self, peer: &str, key: Fingerprint) -> bool {
        if !is_pinnable_name(peer) {
            return false;
        }
        self.pins.insert(
            peer.to_owned(),
            Pin {
                key,
                verified: false,
            },
        );
        true
    }

    /// Pinned names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pins.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Fingerprint {
        Fingerprint([n; 32])
    }

    #[test]
    fn first_use_pins_and_a_changed_key_is_refused() {
        let mut known = KnownKeys::new();
        assert_eq!(known.status("bob@b", &key(1)), KeyStatus::New);
        assert!(known.remember("bob@b", key(1)));
        assert_eq!(known.status("bob@b", &key(1)), KeyStatus::Known);
        assert_eq!(known.status("bob@b", &key(2)), KeyStatus::Changed);
        assert!(!known.remember("bob@b", key(2)));
        assert_eq!(known.status("bob@b", &key(1)), KeyStatus::Known);
        assert!(known.verify("bob@b", key(1)));
        assert_eq!(known.status("bob@b", &key(1)), KeyStatus::Verified);
        assert!(known.replace("bob@b", key(2)));
        assert_eq!(known.status("bob@b", &key(2)), KeyStatus::Known);
        assert_eq!(known.status("bob@b", &key(1)), KeyStatus::Changed);
        assert!(!known.remember("bad\tname", key(3)));
        assert!(!known.remember("", key(3)));
    }

    #[test]
    fn the_file_reads_back_and_bad_lines_fail_it_whole() {
        let mut known = KnownKeys::new();
        known.remember("alice@host a", key(7));
        known.verify("bob@hostb", key(9));
        known.remember("zoë@h", key(11));
        let text = known.to_text();
        assert_eq!(KnownKeys::parse(&text), Ok(known.clone()));
        let good = format!("bob@b\t{}\tknown", key(1));
        for (bad, line) in [
            (format!("{good}\nbob@b\t{}\tknown\n", key(2)), 2),
            (format!("x\t{}\tmaybe", key(1)), 1),
            (format!("\n#c\nx\t{}", key(1)), 3),
            (format!("x\t{}\tknown\textra", key(1)), 1),
            ("x\tsha256:abc\tknown".to_owned(), 1),
            (format!("\t{}\tknown", key(1)), 1),
            (format!("a\u{7}b\t{}\tknown", key(1)), 1),
        ] {
            assert_eq!(KnownKeys::parse(&bad).unwrap_err().line, line, "{bad:?}");
        }
        assert_eq!(KnownKeys::parse("").unwrap(), KnownKeys::new());
        assert_eq!(
            KnownKeys::parse(&good).unwrap().status("bob@b", &key(1)),
            KeyStatus::Known
        );
    }
}
