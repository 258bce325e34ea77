//! The boolean entropy encoder (RFC 6386 §7.3) and its counting twin.
//!
//! Mode decision prices every choice with the same code that later writes it: the
//! [`EntropyWriter`] trait has a backend that produces bytes ([`BoolEncoder`]) and one that
//! only adds up the cost in 1/256 bits ([`BitCounter`]), so estimate and stream never disagree.

use alloc::vec::Vec;

/// Cost in 1/256 bit of coding a 0 with probability `p / 256`: `-log2(p / 256) * 256`,
/// rounded. Entry 0 is never a valid probability and is priced as very unlikely.
#[rustfmt::skip]
pub const BIT_COST: [u16; 256] = [
    4096, 2048, 1792, 1642, 1536, 1454, 1386, 1329, 1280, 1236, 1198, 1162, 1130, 1101, 1073, 1048,
    1024, 1002, 980, 961, 942, 924, 906, 890, 874, 859, 845, 831, 817, 804, 792, 780,
    768, 757, 746, 735, 724, 714, 705, 695, 686, 676, 668, 659, 650, 642, 634, 626,
    618, 611, 603, 596, 589, 582, 575, 568, 561, 555, 548, 542, 536, 530, 524, 518,
    512, 506, 501, 495, 490, 484, 479, 474, 468, 463, 458, 453, 449, 444, 439, 434,
    430, 425, 420, 416, 412, 407, 403, 399, 394, 390, 386, 382, 378, 374, 370, 366,
    362, 358, 355, 351, 347, 343, 340, 336, 333, 329, 326, 322, 319, 315, 312, 309,
    305, 302, 299, 296, 292, 289, 286, 283, 280, 277, 274, 271, 268, 265, 262, 259,
    256, 253, 250, 247, 245, 242, 239, 236, 234, 231, 228, 226, 223, 220, 218, 215,
    212, 210, 207, 205, 202, 200, 197, 195, 193, 190, 188, 185, 183, 181, 178, 176,
    174, 171, 169, 167, 164, 162, 160, 158, 156, 153, 151, 149, 147, 145, 143, 140,
    138, 136, 134, 132, 130, 128, 126, 124, 122, 120, 118, 116, 114, 112, 110, 108,
    106, 104, 102, 101, 99, 97, 95, 93, 91, 89, 87, 86, 84, 82, 80, 78,
    77, 75, 73, 71, 70, 68, 66, 64, 63, 61, 59, 58, 56, 54, 53, 51,
    49, 48, 46, 44, 43, 41, 40, 38, 36, 35, 33, 32, 30, 28, 27, 25,
    24, 22, 21, 19, 18, 16, 15, 13, 12, 10, 9, 7, 6, 4, 3, 1,
];

/// Cost in 1/256 bit of coding `bit` with probability `prob` of a zero.
#[inline]
pub fn bit_cost(bit: bool, prob: u8) -> u32 {
    let p = if bit {
        256 - prob as usize
    } else {
        prob as usize
    };
    BIT_COST[p.min(255)] as u32
}

/// Something bools can be written to: a real encoder or a cost counter.
pub trait EntropyWriter {
    /// Writes one bool whose probability of being 0 is `prob / 256`.
    fn put(&mut self, bit: bool, prob: u8);

    /// An evenly distributed bit.
    fn put_flag(&mut self, bit: bool) {
        self.put(bit, 128);
    }

    /// A `bits`-bit unsigned literal, most significant bit first (RFC 6386 `L(n)`).
    fn put_literal(&mut self, value: u32, bits: u32) {
        for i in (0..bits).rev() {
            self.put_flag((value >> i) & 1 == 1);
        }
    }

    /// A magnitude of `bits` bits followed by a sign bit.
    fn put_signed(&mut self, value: i32, bits: u32) {
        self.put_literal(value.unsigned_abs(), bits);
        self.put_flag(value < 0);
    }

    /// A presence flag, then the signed value when present.
    fn put_optional_signed(&mut self, value: Option<i32>, bits: u32) {
        self.put_flag(value.is_some());
        if let Some(v) = value {
            self.put_signed(v, bits);
        }
    }

    /// Writes `leaf` with a tree in the RFC's array form (RFC 6386 §8.1).
    fn put_tree(&mut self, tree: &[i8], probs: &[u8], leaf: u8) {
        self.put_tree_from(tree, probs, leaf, 0);
    }

    /// Like [`put_tree`](Self::put_tree) but starting at node `start`.
    fn put_tree_from(&mut self, tree: &[i8], probs: &[u8], leaf: u8, start: usize) {
        let mut path = [(0usize, false); 16];
        let len = tree_path(tree, leaf, start, &mut path)
            .unwrap_or_else(|| panic!("leaf {leaf} is not in the tree"));
        for &(node, bit) in &path[..len] {
            self.put(bit, probs[node >> 1]);
        }
    }
}

/// The nodes and branches from `start` to `leaf`; returns the path length.
fn tree_path(tree: &[i8], leaf: u8, start: usize, path: &mut [(usize, bool); 16]) -> Option<usize> {
    fn walk(
        tree: &[i8],
        leaf: u8,
        node: usize,
        depth: usize,
        path: &mut [(usize, bool); 16],
    ) -> Option<usize> {
        for bit in [false, true] {
            path[depth] = (node, bit);
            let next = tree[node + bit as usize];
            if next <= 0 {
                if (-next) as u8 == leaf {
                    return Some(depth + 1);
                }
            } else if let Some(len) = walk(tree, leaf, next as usize, depth + 1, path) {
                return Some(len);
            }
        }
        None
    }
    walk(tree, leaf, start, 0, path)
}

/// Writes bools into bytes (RFC 6386 §7.3).
pub struct BoolEncoder {
    out: Vec<u8>,
    range: u32,
    low: u32,
    /// Bits until the next byte is complete, offset by -24 as in the spec's encoder.
    count: i32,
}

impl Default for BoolEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl BoolEncoder {
    pub fn new() -> Self {
        BoolEncoder {
            out: Vec::new(),
            range: 255,
            low: 0,
            count: -24,
        }
    }

    /// Flushes the pending bits and returns the bytes. Padding with 32 evenly
    /// distributed zeros lets any decoder read ahead without running off the end.
    pub fn finish(mut self) -> Vec<u8> {
        for _ in 0..32 {
            self.put(false, 128);
        }
        self.out
    }

    fn carry(&mut self) {
        for byte in self.out.iter_mut().rev() {
            if *byte == 0xff {
                *byte = 0;
            } else {
                *byte += 1;
                return;
            }
        }
    }
}

impl EntropyWriter for BoolEncoder {
    #[inline]
    fn put(&mut self, bit: bool, prob: u8) {
        let split = 1 + (((self.range - 1) * prob as u32) >> 8);
        if bit {
            self.low = self.low.wrapping_add(split);
            self.range -= split;
        } else {
            self.range = split;
        }
        let mut shift = self.range.leading_zeros() as i32 - 24;
        self.range <<= shift;
        self.count += shift;
        if self.count >= 0 {
            let offset = shift - self.count;
            if (self.low << (offset - 1)) & 0x8000_0000 != 0 {
                self.carry();
            }
            self.out.push((self.low >> (24 - offset)) as u8);
            self.low = (self.low << offset) & 0xff_ffff;
            shift = self.count;
            self.count -= 8;
        }
        self.low <<= shift;
    }
}

/// Adds up the cost, in 1/256 bit, of what would be written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BitCounter {
    pub cost: u32,
}

impl EntropyWriter for BitCounter {
    #[inline]
    fn put(&mut self, bit: bool, prob: u8) {
        self.cost += bit_cost(bit, prob);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bool_decoder::BoolDecoder;
    use crate::tables;
    use crate::test_rng::TestRng;

    #[test]
    fn decoder_reads_back_what_the_encoder_wrote() {
        let mut rng = TestRng(42);
        let mut expected = Vec::new();
        let mut encoder = BoolEncoder::new();
        for i in 0..20_000 {
            let prob = (rng.below(255) + 1) as u8;
            // Mostly follow the probability, sometimes fight it, to exercise carries.
            let bit = if i % 5 == 0 {
                rng.below(2) == 1
            } else {
                rng.below(256) >= prob as u32
            };
            encoder.put(bit, prob);
            expected.push((bit, prob));
        }
        encoder.put_literal(0x2a5, 10);
        encoder.put_tree(&tables::BMODE_TREE, &tables::BMODE_PROBS, tables::B_HU_PRED);
        let bytes = encoder.finish();
        let mut decoder = BoolDecoder::new(&bytes);
        for (i, &(bit, prob)) in expected.iter().enumerate() {
            assert_eq!(decoder.read_bool(prob), bit, "bool {i}");
        }
        assert_eq!(decoder.read_literal(10), 0x2a5);
        assert_eq!(
            decoder.read_tree(&tables::BMODE_TREE, &tables::BMODE_PROBS),
            tables::B_HU_PRED
        );
        assert_eq!(decoder.bits_past_end(), 0);
    }

    #[test]
    fn counted_cost_tracks_the_real_size() {
        let mut rng = TestRng(7);
        let mut encoder = BoolEncoder::new();
        let mut counter = BitCounter::default();
        for _ in 0..50_000 {
            let prob = (rng.below(250) + 3) as u8;
            let bit = rng.below(256) >= prob as u32;
            encoder.put(bit, prob);
            counter.put(bit, prob);
        }
        let real_bits = (encoder.finish().len() * 8) as f64 - 32.0;
        let counted_bits = counter.cost as f64 / 256.0;
        assert!(
            (real_bits - counted_bits).abs() / real_bits < 0.01,
            "{real_bits} vs {counted_bits}"
        );
    }

    #[test]
    fn every_tree_leaf_is_writable() {
        for leaf in 0..10 {
            let mut counter = BitCounter::default();
            counter.put_tree(&tables::BMODE_TREE, &tables::BMODE_PROBS, leaf);
            assert!(counter.cost > 0);
        }
    }
}
