//! NumPy's `np.random.default_rng(seed)`, draw for draw: the generator Gymnasium seeds every env and space with
//! (`gymnasium.utils.seeding.np_random`), so a seeded rlx env starts where the same seeded Gymnasium env starts, and
//! a seeded `Space::sample` draws what Gymnasium's does.
//!
//! - Seeding: `SeedSequence(seed)` (NumPy's entropy pool of 4 words with its hashmix/mix functions), whose
//!   `generate_state(4, uint64)` seeds PCG64 as `pcg_setseq_128_srandom_r(state = w0 w1, sequence = w2 w3)`.
//! - PCG64: the 128-bit LCG with XSL-RR output; that is `rand_pcg::Pcg64` (`Lcg128Xsl64`), whose `new(state,
//!   stream)` is the same initialization.
//! - Conversions: `random()` is `(next_u64 >> 11) * 2^-53`; `uniform(low, high)` is `low + (high - low) *
//!   random()`; `integers(0, n)` is Lemire's bounded method on 32-bit draws when `n <= 2^32` (NumPy keeps the
//!   unused half of a 64-bit draw for the next 32-bit one), on 64-bit draws otherwise.

use rand::RngCore;
use rand_pcg::Pcg64;

/// NumPy's `Generator(PCG64(SeedSequence(seed)))`. Also a `rand::RngCore`, for draws that need not match NumPy.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NpRandom {
    pub(crate) pcg: Pcg64,
    /// The upper half of the last 64-bit draw, kept for the next 32-bit one (NumPy's `has_uint32`/`uinteger`).
    pub(crate) buffered: Option<u32>,
}

// SeedSequence's constants (numpy/random/bit_generator.pyx).
const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;
const POOL_SIZE: usize = 4;

/// `SeedSequence(entropy).generate_state(n_words, np.uint32)` for entropy given as 32-bit words (little end first).
fn seed_sequence_words(entropy: &[u32], n_words: usize) -> Vec<u32> {
    let mut hash_const = INIT_A;
    let mut hashmix = |value: u32| {
        let mut value = value ^ hash_const;
        hash_const = hash_const.wrapping_mul(MULT_A);
        value = value.wrapping_mul(hash_const);
        value ^ (value >> XSHIFT)
    };
    let mix = |x: u32, y: u32| {
        let result = MIX_MULT_L.wrapping_mul(x).wrapping_sub(MIX_MULT_R.wrapping_mul(y));
        result ^ (result >> XSHIFT)
    };
    let mut pool = [0u32; POOL_SIZE];
    for (i, slot) in pool.iter_mut().enumerate() {
        *slot = hashmix(entropy.get(i).copied().unwrap_or(0));
    }
    for src in 0..POOL_SIZE {
        for dst in 0..POOL_SIZE {
            if src != dst {
                pool[dst] = mix(pool[dst], hashmix(pool[src]));
            }
        }
    }
    for &word in entropy.iter().skip(POOL_SIZE) {
        for slot in pool.iter_mut() {
            *slot = mix(*slot, hashmix(word));
        }
    }
    let mut hash_const = INIT_B;
    (0..n_words)
        .map(|i| {
            let mut value = pool[i % POOL_SIZE] ^ hash_const;
            hash_const = hash_const.wrapping_mul(MULT_B);
            value = value.wrapping_mul(hash_const);
            value ^ (value >> XSHIFT)
        })
        .collect()
}

/// `np.random.SeedSequence(seed).generate_state(n_words)` (32-bit words): what ale-py derives its generator's and
/// ALE's seeds from.
pub fn seed_sequence_state(seed: u64, n_words: usize) -> Vec<u32> {
    // NumPy splits an integer seed into 32-bit words, low first, with no zero words above the highest set one.
    let entropy: Vec<u32> = if seed >> 32 == 0 { vec![seed as u32] } else { vec![seed as u32, (seed >> 32) as u32] };
    seed_sequence_words(&entropy, n_words)
}

impl NpRandom {
    /// `np.random.default_rng(seed)`.
    pub fn from_seed(seed: u64) -> Self {
        let words = seed_sequence_state(seed, 8);
        let u64s: Vec<u64> = words.chunks(2).map(|w| w[0] as u64 | (w[1] as u64) << 32).collect();
        let state = (u64s[0] as u128) << 64 | u64s[1] as u128;
        let stream = (u64s[2] as u128) << 64 | u64s[3] as u128;
        NpRandom { pcg: Pcg64::new(state, stream), buffered: None }
    }

    /// A generator seeded from the OS (Gymnasium's `np_random(None)`).
    pub fn from_entropy() -> Self {
        let mut seed = [0u8; 8];
        rand::rng().fill_bytes(&mut seed);
        NpRandom::from_seed(u64::from_le_bytes(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.pcg.next_u64()
    }

    /// NumPy's `next_uint32`: the low half of a fresh 64-bit draw, then its high half.
    pub fn next_u32(&mut self) -> u32 {
        if let Some(high) = self.buffered.take() {
            return high;
        }
        let next = self.pcg.next_u64();
        self.buffered = Some((next >> 32) as u32);
        next as u32
    }

    /// `Generator.random()`: a float64 in [0, 1).
    pub fn random(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `Generator.uniform(low, high)`.
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.random()
    }

    /// `Generator.integers(0, n)` (`n >= 1`): an integer in [0, n).
    pub fn integers(&mut self, n: u64) -> u64 {
        assert!(n >= 1, "integers(0, {n})");
        let max = n - 1; // NumPy's `rng`: the inclusive range
        if max == 0 {
            return 0;
        }
        if max <= u32::MAX as u64 {
            if max == u32::MAX as u64 {
                return self.next_u32() as u64;
            }
            // Lemire's nearly divisionless method, 32-bit (buffered_bounded_lemire_uint32).
            let range = (max + 1) as u32;
            let mut m = self.next_u32() as u64 * range as u64;
            let mut leftover = m as u32;
            if leftover < range {
                let threshold = (u32::MAX - max as u32) % range;
                while leftover < threshold {
                    m = self.next_u32() as u64 * range as u64;
                    leftover = m as u32;
                }
            }
            return m >> 32;
        }
        if max == u64::MAX {
            return self.next_u64();
        }
        // 64-bit (bounded_lemire_uint64).
        let range = max + 1;
        let mut m = self.next_u64() as u128 * range as u128;
        let mut leftover = m as u64;
        if leftover < range {
            let threshold = (u64::MAX - max) % range;
            while leftover < threshold {
                m = self.next_u64() as u128 * range as u128;
                leftover = m as u64;
            }
        }
        (m >> 64) as u64
    }
}

impl RngCore for NpRandom {
    fn next_u32(&mut self) -> u32 {
        NpRandom::next_u32(self)
    }
    fn next_u64(&mut self) -> u64 {
        NpRandom::next_u64(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.pcg.fill_bytes(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_sequence_and_draws_match_numpy() {
        // NumPy 2.3.5: SeedSequence(0).generate_state(4), default_rng(0).random(3), three integers(0, 10),
        // default_rng(12345).integers(0, 2**40) then .uniform(-0.05, 0.05), default_rng(2**40 + 7).random().
        assert_eq!(seed_sequence_words(&[0], 4), [2_968_811_710, 3_677_149_159, 745_650_761, 2_884_920_346]);
        let mut rng = NpRandom::from_seed(0);
        let xs: Vec<f64> = (0..3).map(|_| rng.random()).collect();
        assert_eq!(xs, [0.6369616873214543, 0.2697867137638703, 0.04097352393619469]);
        let mut rng = NpRandom::from_seed(0);
        let ks: Vec<u64> = (0..3).map(|_| rng.integers(10)).collect();
        assert_eq!(ks, [8, 6, 5]);
        let mut rng = NpRandom::from_seed(12345);
        assert_eq!(rng.integers(1 << 40), 249_958_600_114);
        assert_eq!(rng.uniform(-0.05, 0.05), -0.018324166029024716);
        // A seed above 32 bits is two entropy words.
        assert_eq!(NpRandom::from_seed((1 << 40) + 7).random(), 0.829812891829413);
    }

    #[test]
    fn snapshots_round_trip() {
        let mut rng = NpRandom::from_seed(3);
        rng.next_u32();
        let text = serde_json::to_string(&rng).unwrap();
        assert_eq!(serde_json::from_str::<NpRandom>(&text).unwrap(), rng);
    }
}
