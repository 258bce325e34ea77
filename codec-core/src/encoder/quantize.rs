//! Forward transform and quantization of residual blocks, with the dequantized values the
//! decoder will see (RFC 6386 §14.1), so that the encoder's reconstruction is the decoder's.

use crate::encoder::token_writer::TokenCostTable;
use crate::quantizer::DequantFactors;
use crate::tables::{COEFF_BANDS, ZIGZAG};
use crate::transform;

/// Quantizer for one kind of block: step sizes and dead-zone, DC then AC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockQuantizer {
    pub step: [i32; 2],
    /// Magnitudes below this quantize to zero.
    zero_bin: [i32; 2],
    /// Added before dividing by the step (a rounding offset below one half).
    rounding: [i32; 2],
}

impl BlockQuantizer {
    fn new(step: [i32; 2]) -> Self {
        BlockQuantizer {
            step,
            zero_bin: step.map(|q| (q * 11) >> 4),
            rounding: step.map(|q| (q * 3) >> 3),
        }
    }

    /// Quantizes `coeffs` (raster order) from position `first`: returns the levels and the
    /// dequantized coefficients exactly as the decoder computes them.
    #[inline]
    pub fn quantize(
        &self,
        coeffs: &[i16; 16],
        first: usize,
        levels: &mut [i16; 16],
        dequant: &mut [i16; 16],
    ) -> bool {
        let mut nonzero = false;
        for i in 0..16 {
            let k = (i > 0) as usize;
            let c = coeffs[i] as i32;
            let x = c.abs();
            let level = if i < first || x < self.zero_bin[k] {
                0
            } else {
                ((x + self.rounding[k]) / self.step[k]).min(MAX_LEVEL)
            };
            let level = if c < 0 { -level } else { level };
            levels[i] = level as i16;
            // The decoder multiplies in 16 bits (see tokens.rs).
            dequant[i] = level.wrapping_mul(self.step[k]) as i16;
            nonzero |= level != 0;
        }
        nonzero
    }
}

impl BlockQuantizer {
    /// Quantizes `coeffs` (raster order) from position `first` for the least rate-distortion
    /// cost of the whole block, a trellis over the token contexts: each coefficient may take
    /// its dead-zone level ([`quantize`](Self::quantize)'s) or one less, and the end of block
    /// may come at any position.
    /// Rates are the token costs the writer will pay for a block of `block_type` whose
    /// neighbours give context `ctx`; distortion is measured on the coefficients, whose
    /// squared error is four times the pixels' (the forward DCT scales by two). Returns
    /// whether any level is nonzero; `levels` and `dequant` as [`quantize`](Self::quantize).
    #[allow(clippy::too_many_arguments)]
    pub fn quantize_rd(
        &self,
        coeffs: &[i16; 16],
        first: usize,
        costs: &TokenCostTable,
        block_type: usize,
        ctx: usize,
        lambda: u64,
        levels: &mut [i16; 16],
        dequant: &mut [i16; 16],
    ) -> bool {
        // The dead zone's levels bound the search: past its last nonzero level every level
        // stays zero, and a block it leaves empty stays empty.
        if !self.quantize(coeffs, first, levels, dequant) {
            return false;
        }
        let last = (first..16)
            .rev()
            .find(|&i| levels[ZIGZAG[i]] != 0)
            .unwrap_or(first);
        const UNREACHED: u64 = u64::MAX;
        // States: the context of the next token after a DCT_0 (0, which also forbids an end
        // of block), a one (1) or more (2); 3 is the block's start, in context `ctx`.
        const START: usize = 3;
        // Cost units: coefficient error squared times 64 (pixel error times 256) plus
        // lambda times the rate in 1/256 bit, as `RdWeight::cost`. `zeroed[i]`: the error of
        // leaving positions i..=last at zero.
        let mut zeroed = [0u64; 17];
        for i in (first..=last).rev() {
            let c = i64::from(coeffs[ZIGZAG[i]]);
            zeroed[i] = zeroed[i + 1] + (c * c) as u64 * 64;
        }
        let mut cost = [UNREACHED; 4];
        cost[START] = 0;
        // For each position and state reached after it: the state before and the magnitude.
        let mut back = [[(0u8, 0u16); 3]; 16];
        // The best end: its cost, the position of the end of block (16: none) and the state
        // before it.
        let mut end = (UNREACHED, first, START);
        let try_end = |end: &mut (u64, usize, usize), cost: &[u64; 4], i: usize| {
            for (s, &c) in cost.iter().enumerate().skip(1) {
                if c == UNREACHED {
                    continue;
                }
                let eob = if i == 16 {
                    0
                } else {
                    let context = if s == START { ctx } else { s };
                    lambda * u64::from(costs.end_of_block_cost(block_type, COEFF_BANDS[i], context))
                };
                let total = c + zeroed[i] + eob;
                if total < end.0 {
                    *end = (total, i, s);
                }
            }
        };
        for i in first..=last {
            try_end(&mut end, &cost, i);
            let band = COEFF_BANDS[i];
            let k = (i > 0) as usize;
            let step = self.step[k];
            let x = i32::from(coeffs[ZIGZAG[i]]).abs();
            // The dead zone's level and one less: the trellis only ever lowers levels, since
            // a finer level pays off in later frames too, which the costs here cannot see.
            let plain = i32::from(levels[ZIGZAG[i]]).abs();
            let candidates = [plain, (plain - 1).max(0)];
            let tried = if plain >= 1 { 2 } else { 1 };
            let mut next = [UNREACHED; 4];
            for (s, &before) in cost.iter().enumerate() {
                if before == UNREACHED {
                    continue;
                }
                let context = if s == START { ctx } else { s };
                for &m in &candidates[..tried] {
                    let err = i64::from(x - m * step);
                    let rate =
                        costs.coefficient_cost(block_type, band, context, m as usize, s == 0);
                    let total = before + (err * err) as u64 * 64 + lambda * u64::from(rate);
                    let to = m.min(2) as usize;
                    if total < next[to] {
                        next[to] = total;
                        back[i][to] = (s as u8, m as u16);
                    }
                }
            }
            cost = next;
        }
        // After the last level: an end of block (none after position 15), not after a DCT_0.
        cost[START] = UNREACHED;
        try_end(&mut end, &cost, last + 1);
        *levels = [0; 16];
        *dequant = [0; 16];
        let (_, mut i, mut s) = end;
        let nonzero = i > first;
        while i > first {
            i -= 1;
            let (before, m) = back[i][s];
            let z = ZIGZAG[i];
            let level = if coeffs[z] < 0 {
                -i32::from(m)
            } else {
                i32::from(m)
            };
            levels[z] = level as i16;
            // The decoder multiplies in 16 bits (see tokens.rs).
            dequant[z] = level.wrapping_mul(self.step[(i > 0) as usize]) as i16;
            s = before as usize;
        }
        nonzero
    }
}

/// The largest magnitude a token can code (DCT_CAT6: 67 + 2^11 - 1).
pub const MAX_LEVEL: i32 = 2114;

/// Quantizers for the three kinds of block of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacroblockQuantizer {
    pub y: BlockQuantizer,
    pub y2: BlockQuantizer,
    pub uv: BlockQuantizer,
}

impl MacroblockQuantizer {
    pub fn new(factors: &DequantFactors) -> Self {
        MacroblockQuantizer {
            y: BlockQuantizer::new(factors.y),
            y2: BlockQuantizer::new(factors.y2),
            uv: BlockQuantizer::new(factors.uv),
        }
    }
}

/// Residual of a 4x4 block: `src - pred`, both read with their strides.
#[inline]
pub fn residual(
    src: &[u8],
    src_pos: usize,
    src_stride: usize,
    pred: &[u8],
    pred_pos: usize,
    pred_stride: usize,
) -> [i16; 16] {
    let mut r = [0i16; 16];
    for y in 0..4 {
        for x in 0..4 {
            r[y * 4 + x] = src[src_pos + y * src_stride + x] as i16
                - pred[pred_pos + y * pred_stride + x] as i16;
        }
    }
    r
}

/// The forward DCT of a 4x4 residual.
#[inline]
pub fn forward(residual: &[i16; 16]) -> [i16; 16] {
    transform::forward_dct(residual)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::DEFAULT_COEFF_PROBS;
    use crate::test_rng::TestRng;

    #[test]
    fn dequantized_values_are_level_times_step() {
        let q = BlockQuantizer::new([8, 20]);
        let mut rng = TestRng(3);
        for _ in 0..1000 {
            let mut c = [0i16; 16];
            for v in &mut c {
                *v = rng.range(-2000, 2000) as i16;
            }
            let (mut levels, mut deq) = ([0; 16], [0; 16]);
            q.quantize(&c, 0, &mut levels, &mut deq);
            for i in 0..16 {
                let step = if i == 0 { 8 } else { 20 };
                assert_eq!(deq[i] as i32, levels[i] as i32 * step);
                // Quantization error stays within one step.
                assert!(
                    (c[i] as i32 - deq[i] as i32).abs() <= step,
                    "{} {}",
                    c[i],
                    deq[i]
                );
            }
        }
    }

    /// Coefficient error squared times 64 plus lambda times the block's token rate: the
    /// cost `quantize_rd` minimizes.
    #[allow(clippy::too_many_arguments)]
    fn rd_cost(
        q: &BlockQuantizer,
        coeffs: &[i16; 16],
        levels: &[i16; 16],
        first: usize,
        costs: &TokenCostTable,
        block_type: usize,
        ctx: usize,
        lambda: u64,
    ) -> u64 {
        let err: u64 = (first..16)
            .map(|i| {
                let z = ZIGZAG[i];
                let e = i64::from(coeffs[z])
                    - i64::from(levels[z]) * i64::from(q.step[(i > 0) as usize]);
                (e * e) as u64 * 64
            })
            .sum();
        err + lambda * u64::from(costs.block_cost(block_type, ctx, levels, first).0)
    }

    fn random_coeffs(rng: &mut TestRng, first: usize) -> [i16; 16] {
        let mut c = [0i16; 16];
        // Mostly small values that fall near the dead zone, some large, some blocks empty.
        let spread = [4, 30, 200, 2000][rng.below(4) as usize];
        for v in &mut c[first..] {
            if rng.below(3) > 0 {
                *v = rng.range(-spread, spread + 1) as i16;
            }
        }
        c
    }

    #[test]
    fn trellis_is_never_worse_than_plain_quantization() {
        let mut rng = TestRng(11);
        for round in 0..3000 {
            let mut probs = DEFAULT_COEFF_PROBS;
            for p in probs
                .as_flattened_mut()
                .as_flattened_mut()
                .as_flattened_mut()
            {
                if rng.below(3) == 0 {
                    *p = rng.range(1, 255) as u8;
                }
            }
            let costs = TokenCostTable::new(&probs);
            let q = BlockQuantizer::new([rng.range(4, 158), rng.range(4, 158)]);
            let first = (round % 2) as usize;
            let block_type = if first == 1 {
                0
            } else {
                [2, 3][rng.below(2) as usize]
            };
            let ctx = rng.below(3) as usize;
            let lambda = [0, 1, 30, 300, 3000][rng.below(5) as usize];
            let coeffs = random_coeffs(&mut rng, first);
            let (mut plain, mut plain_deq) = ([0; 16], [0; 16]);
            q.quantize(&coeffs, first, &mut plain, &mut plain_deq);
            let (mut rd, mut rd_deq) = ([0; 16], [0; 16]);
            let nonzero = q.quantize_rd(
                &coeffs,
                first,
                &costs,
                block_type,
                ctx,
                lambda,
                &mut rd,
                &mut rd_deq,
            );
            assert_eq!(nonzero, rd.iter().any(|&l| l != 0));
            for i in 0..16 {
                let step = q.step[(i > 0) as usize];
                assert_eq!(rd_deq[i] as i32, rd[i] as i32 * step);
                assert!(i >= first || rd[i] == 0);
                // The dead zone's level, one less, or zero (an earlier end of block), never
                // a flipped sign.
                let (r, p) = (rd[i].abs(), plain[i].abs());
                assert!(r == p || r + 1 == p || r == 0, "{r} from {p}");
                assert!(rd[i] == 0 || (rd[i] < 0) == (coeffs[i] < 0));
            }
            let cost =
                |l: &[i16; 16]| rd_cost(&q, &coeffs, l, first, &costs, block_type, ctx, lambda);
            assert!(
                cost(&rd) <= cost(&plain),
                "round {round}: trellis {} > plain {}",
                cost(&rd),
                cost(&plain)
            );
            if lambda == 0 {
                // Distortion alone: the dead zone's levels, except where one less is nearer.
                let mut nearest = plain;
                for i in first..16 {
                    let step = q.step[(i > 0) as usize];
                    let m = plain[i].unsigned_abs() as i32;
                    if m > 0 && coeffs[i].unsigned_abs() as i32 * 2 < (2 * m - 1) * step {
                        nearest[i] -= plain[i].signum();
                    }
                }
                assert_eq!(cost(&rd), cost(&nearest), "round {round}");
            }
        }
    }

    #[test]
    fn trellis_drops_a_lone_small_coefficient_when_bits_are_dear() {
        let costs = TokenCostTable::new(&DEFAULT_COEFF_PROBS);
        let q = BlockQuantizer::new([20, 20]);
        // One coefficient above the dead zone, far down the zigzag: worth a level only when
        // bits are nearly free.
        let mut coeffs = [0i16; 16];
        coeffs[15] = 14;
        let (mut levels, mut deq) = ([0; 16], [0; 16]);
        assert!(q.quantize_rd(&coeffs, 0, &costs, 3, 0, 0, &mut levels, &mut deq));
        assert_eq!(levels[15], 1);
        assert!(!q.quantize_rd(&coeffs, 0, &costs, 3, 0, 400, &mut levels, &mut deq));
        assert_eq!(levels, [0; 16]);
    }

    #[test]
    fn small_coefficients_fall_in_the_dead_zone() {
        let q = BlockQuantizer::new([16, 16]);
        let c = [5i16; 16];
        let (mut levels, mut deq) = ([0; 16], [0; 16]);
        assert!(!q.quantize(&c, 0, &mut levels, &mut deq));
        assert_eq!(levels, [0; 16]);
    }
}
