//! Forward transform and quantization of residual blocks, with the dequantized values the
//! decoder will see (RFC 6386 §14.1), so that the encoder's reconstruction is the decoder's.

use crate::quantizer::DequantFactors;
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

    #[test]
    fn small_coefficients_fall_in_the_dead_zone() {
        let q = BlockQuantizer::new([16, 16]);
        let c = [5i16; 16];
        let (mut levels, mut deq) = ([0; 16], [0; 16]);
        assert!(!q.quantize(&c, 0, &mut levels, &mut deq));
        assert_eq!(levels, [0; 16]);
    }
}
