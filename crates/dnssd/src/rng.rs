//! A small deterministic random source for the RFC 6762 delays: sans-IO machines take a
//! seed instead of reading the system's randomness, so simulated runs repeat exactly.

use std::time::Duration;

/// xorshift64*: enough to spread delays between hosts; not for anything secret.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // splitmix64's finaliser first, so that seeds one apart (1 and 0, 2 and 3) start
        // apart: `seed | 1` alone made them the same. Zero is the one state xorshift
        // never leaves.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A duration uniformly in `[low, high]`, at millisecond granularity.
    pub fn between(&mut self, low: Duration, high: Duration) -> Duration {
        let span = (high.saturating_sub(low)).as_millis() as u64;
        low + Duration::from_millis(self.next_u64() % (span + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_one_apart_draw_apart() {
        for seed in [0u64, 1, 2, 3, 1000, u64::MAX - 1] {
            assert_ne!(
                Rng::new(seed).next_u64(),
                Rng::new(seed + 1).next_u64(),
                "{seed}"
            );
        }
    }
}
