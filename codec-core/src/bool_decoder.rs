//! The boolean entropy decoder (RFC 6386 §7).
//!
//! Bits are pulled into a 64-bit window so that the common case touches memory once per
//! several bools. Reading past the end of the data yields zeros, as libvpx does; the
//! number of such bytes is kept so callers can tell a frame that ran out of data.

/// Decodes bools from one partition.
#[derive(Clone)]
pub struct BoolDecoder<'a> {
    data: &'a [u8],
    pos: usize,
    /// Undecoded bits, left-aligned: the top 8 bits are compared against the split.
    value: u64,
    /// Bits in `value` below the top byte that are still valid.
    bit_count: i32,
    range: u32,
    /// Zero bytes loaded after the data ran out.
    overrun: usize,
}

impl<'a> BoolDecoder<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        let mut decoder = BoolDecoder {
            data,
            pos: 0,
            value: 0,
            bit_count: -8,
            range: 255,
            overrun: 0,
        };
        decoder.fill();
        decoder
    }

    /// Refills `value` so that at least one byte lies below the top byte.
    #[inline]
    fn fill(&mut self) {
        let mut shift = 48 - self.bit_count;
        if self.pos + 8 <= self.data.len() {
            // Fast path: whole bytes straight from an 8-byte load.
            let chunk = u64::from_be_bytes(self.data[self.pos..self.pos + 8].try_into().unwrap());
            let bytes = (shift / 8 + 1) as usize;
            self.value |= (chunk >> (64 - 8 * bytes)) << (shift - 8 * (bytes as i32 - 1));
            self.pos += bytes;
            self.bit_count += 8 * bytes as i32;
            return;
        }
        while shift >= 0 {
            if self.pos < self.data.len() {
                self.value |= (self.data[self.pos] as u64) << shift;
                self.pos += 1;
            } else {
                self.overrun += 1;
            }
            self.bit_count += 8;
            shift -= 8;
        }
    }

    /// Decodes one bool whose probability of being 0 is `prob / 256`.
    #[inline]
    pub fn read_bool(&mut self, prob: u8) -> bool {
        let split = 1 + (((self.range - 1) * prob as u32) >> 8);
        if self.bit_count < 0 {
            self.fill();
        }
        let big_split = (split as u64) << 56;
        let bit = if self.value >= big_split {
            self.range -= split;
            self.value -= big_split;
            true
        } else {
            self.range = split;
            false
        };
        // Renormalise so that range is back in 128..=255.
        let shift = self.range.leading_zeros() as i32 - 24;
        self.range <<= shift;
        self.value <<= shift;
        self.bit_count -= shift;
        bit
    }

    /// An evenly distributed bit (probability 128).
    #[inline]
    pub fn read_flag(&mut self) -> bool {
        self.read_bool(128)
    }

    /// An `bits`-bit unsigned literal, most significant bit first (RFC 6386 §8.1 `L(n)`).
    #[inline]
    pub fn read_literal(&mut self, bits: u32) -> u32 {
        let mut value = 0;
        for _ in 0..bits {
            value = (value << 1) | self.read_flag() as u32;
        }
        value
    }

    /// A magnitude of `bits` bits followed by a sign bit, as header deltas are coded.
    pub fn read_signed(&mut self, bits: u32) -> i32 {
        let magnitude = self.read_literal(bits) as i32;
        if self.read_flag() {
            -magnitude
        } else {
            magnitude
        }
    }

    /// `Some(signed value)` if the preceding flag is set (RFC 6386 §19.2 optional deltas).
    pub fn read_optional_signed(&mut self, bits: u32) -> Option<i32> {
        if self.read_flag() {
            Some(self.read_signed(bits))
        } else {
            None
        }
    }

    /// Walks a tree in the RFC's array form (RFC 6386 §8.1) and returns the leaf.
    #[inline]
    pub fn read_tree(&mut self, tree: &[i8], probs: &[u8]) -> u8 {
        self.read_tree_from(tree, probs, 0)
    }

    /// Like [`read_tree`](Self::read_tree) but starting at node `start` (used when the
    /// first branch has been decided by context, as for coefficient tokens).
    #[inline]
    pub fn read_tree_from(&mut self, tree: &[i8], probs: &[u8], start: usize) -> u8 {
        let mut i = start;
        loop {
            let next = tree[i + self.read_bool(probs[i >> 1]) as usize];
            if next <= 0 {
                return (-next) as u8;
            }
            i = next as usize;
        }
    }

    /// Bytes of data consumed so far (at most the data's length).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bits decoding has consumed beyond the end of the data (0 while within it). libvpx
    /// reports a stream error in the same situation.
    pub fn bits_past_end(&self) -> usize {
        let loaded = 8 * (self.pos + self.overrun) as i64;
        let unconsumed = self.bit_count as i64 + 8;
        (loaded - unconsumed - 8 * self.data.len() as i64).max(0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A minimal boolean encoder (RFC 6386 §7.3) to test the decoder against.
    struct Encoder {
        out: Vec<u8>,
        range: u32,
        bottom: u32,
        bit_count: i32,
    }

    impl Encoder {
        fn new() -> Self {
            Encoder {
                out: Vec::new(),
                range: 255,
                bottom: 0,
                bit_count: 24,
            }
        }
        fn add_one_to_output(&mut self) {
            let mut i = self.out.len();
            while i > 0 {
                i -= 1;
                if self.out[i] == 255 {
                    self.out[i] = 0;
                } else {
                    self.out[i] += 1;
                    break;
                }
            }
        }
        fn write(&mut self, prob: u8, bit: bool) {
            let split = 1 + (((self.range - 1) * prob as u32) >> 8);
            if bit {
                self.bottom = self.bottom.wrapping_add(split);
                self.range -= split;
            } else {
                self.range = split;
            }
            while self.range < 128 {
                self.range <<= 1;
                if self.bottom & (1 << 31) != 0 {
                    self.add_one_to_output();
                }
                self.bottom <<= 1;
                self.bit_count -= 1;
                if self.bit_count == 0 {
                    self.out.push((self.bottom >> 24) as u8);
                    self.bottom &= (1 << 24) - 1;
                    self.bit_count = 8;
                }
            }
        }
        fn finish(mut self) -> Vec<u8> {
            for _ in 0..32 {
                self.write(128, false);
            }
            self.out
        }
    }

    #[test]
    fn decodes_what_the_spec_encoder_wrote() {
        let mut encoder = Encoder::new();
        let mut expected = Vec::new();
        let mut seed = 12345u32;
        for i in 0..5000 {
            seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
            let prob = ((seed >> 16) % 255 + 1) as u8;
            let bit = (seed >> 8) % 256 >= prob as u32 || i % 7 == 0;
            encoder.write(prob, bit);
            expected.push((prob, bit));
        }
        let data = encoder.finish();
        let mut decoder = BoolDecoder::new(&data);
        for (i, &(prob, bit)) in expected.iter().enumerate() {
            assert_eq!(decoder.read_bool(prob), bit, "bool {i}");
        }
        assert_eq!(decoder.bits_past_end(), 0);
    }

    #[test]
    fn reads_zeros_past_the_end() {
        let mut decoder = BoolDecoder::new(&[]);
        for _ in 0..100 {
            assert!(!decoder.read_flag());
        }
        assert!(decoder.bits_past_end() > 0);
    }
}
