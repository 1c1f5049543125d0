//! FNV-1a (64 bits), fed incrementally: the checksum of every file rlx writes for resume (replay buffers here,
//! checkpoints in rlx-agents). Not cryptographic: it catches truncation, bit rot and stray writes, which is what a
//! resume must not silently continue from.

/// The running hash; [`Fnv1a::finish`] gives the value.
#[derive(Debug, Clone)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // The FNV-1a 64 test vectors (Fowler, Noll, Vo): "" and "a", "foobar".
        let hash = |s: &str| {
            let mut h = Fnv1a::new();
            h.update(s.as_bytes());
            h.finish()
        };
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
    }
}
