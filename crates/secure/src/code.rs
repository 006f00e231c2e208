//! The verification code two people compare out of band: the same on both sides,
//! whichever side computes it, and different for any other pair of keys.

use sha2::{Digest, Sha256};

use crate::Fingerprint;

/// Groups of five digits in a code: 8 groups, each from 32 bits of a SHA-256, so the
/// code carries 8 × log2(100000) ≈ 133 bits.
pub const CODE_GROUPS: usize = 8;

/// The code of the link between the keys `a` and `b` (in either order): eight groups of
/// five digits separated by spaces.
pub fn verification_code(a: &Fingerprint, b: &Fingerprint) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut hasher = Sha256::new();
    hasher.update(b"llxmpp verification code v1\0");
    hasher.update(low.0);
    hasher.update(high.0);
    let digest = hasher.finalize();
    digest
        .chunks_exact(4)
        .take(CODE_GROUPS)
        .map(|chunk| {
            let value = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            format!("{:05}", value % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_get_the_same_code_and_other_keys_another() {
        let (a, b, c) = (
            Fingerprint([1; 32]),
            Fingerprint([2; 32]),
            Fingerprint([3; 32]),
        );
        let code = verification_code(&a, &b);
        assert_eq!(code, verification_code(&b, &a));
        assert_ne!(code, verification_code(&a, &c));
        assert_ne!(code, verification_code(&c, &b));
        let groups: Vec<&str> = code.split(' ').collect();
        assert_eq!(groups.len(), CODE_GROUPS);
        assert!(groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|d| d.is_ascii_digit())));
    }
}
