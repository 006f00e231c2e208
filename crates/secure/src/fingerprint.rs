//! A key's identity: the SHA-256 of its public key, written `sha256:` and unpadded
//! base64url (RFC 4648 §5), as it goes in TXT and in the known-keys file.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The SHA-256 of a public key (of the certificate's SubjectPublicKeyInfo, DER).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(pub [u8; 32]);

/// The text before the base64url digest.
const PREFIX: &str = "sha256:";

impl Fingerprint {
    /// The fingerprint of a DER SubjectPublicKeyInfo.
    pub fn of_public_key(spki_der: &[u8]) -> Fingerprint {
        use sha2::{Digest, Sha256};
        Fingerprint(Sha256::digest(spki_der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a text is no fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadFingerprint;

impl fmt::Display for BadFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a key fingerprint (sha256: and 43 characters of base64url)")
    }
}

impl std::error::Error for BadFingerprint {}

impl FromStr for Fingerprint {
    type Err = BadFingerprint;

    fn from_str(text: &str) -> Result<Fingerprint, BadFingerprint> {
        let digest = text.strip_prefix(PREFIX).ok_or(BadFingerprint)?;
        // 32 bytes are 43 characters unpadded; the decoder also refuses non-canonical
        // trailing bits, so each fingerprint has one spelling.
        if digest.len() != 43 {
            return Err(BadFingerprint);
        }
        let bytes = URL_SAFE_NO_PAD.decode(digest).map_err(|_| BadFingerprint)?;
        bytes
            .try_into()
            .map(Fingerprint)
            .map_err(|_| BadFingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_has_one_spelling() {
        let fp = Fingerprint::of_public_key(b"a key");
        let text = fp.to_string();
        assert!(text.starts_with("sha256:"));
        assert_eq!(text.len(), 7 + 43);
        assert_eq!(text.parse::<Fingerprint>(), Ok(fp));
        for bad in [
            "",
            "sha256:",
            &text[7..],
            &text[..text.len() - 1],
            &format!("{text}A"),
            &text.replace("sha256:", "sha1:"),
            &format!("sha256:{}=", &text[7..]),
        ] {
            assert_eq!(bad.parse::<Fingerprint>(), Err(BadFingerprint), "{bad}");
        }
        // The last character carries 2 unused bits: only one value of them is accepted.
        let mut other = text.clone().into_bytes();
        let last = other.len() - 1;
        other[last] = if other[last] == b'A' { b'B' } else { b'A' };
        let other = String::from_utf8(other).unwrap();
        if let Ok(parsed) = other.parse::<Fingerprint>() {
            assert_ne!(parsed, fp);
        }
    }
}
