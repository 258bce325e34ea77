//! A frame's size before it is coded, from a cheap look at its picture: what a pipeline's
//! bitrate plan chooses each chunk's quality level with, before any chunk has been coded.
//!
//! Per macroblock the model charges `c * log2(max(1, alpha * e / step))^g + o` bits, with `e`
//! the macroblock's coding error per sample ([`Prediction::errors`], [`intra_errors`]) and
//! `step` the AC quantizer step of RFC 6386 §14.1: nothing is coded where the error stays
//! under the step, and a little more for each doubling above it, as for a Laplacian source
//! at high rate; `o` is what a macroblock's modes cost whatever its residue. A frame coded
//! finer than its level (a keyframe, an anchor frame standing in for a chunk's keyframe) is
//! sized at the quantizer it is coded at. The constants were fitted to the pipeline's
//! streams (ExCamera[6,1] and [6,16], `--cq-level` 12, 24, 36, 48, eight clips of the test
//! set) with a free scale per clip for keyframes and one for interframes, as a plan that
//! calibrates each on coded chunks uses them: that way 23% rms from the true size. The scale
//! is then set so that the median clip needs none; uncalibrated, the model is off by a
//! factor of up to 2.1 for keyframes and 1.4 to 1/6 for interframes (a static scene), so a
//! plan calibrates.
//!
//! [`Prediction::errors`]: crate::encoder::sequence::Prediction::errors
//! [`intra_errors`]: crate::encoder::sequence::intra_errors

use crate::encoder::rate_control::cq_level_to_quantizer;
use crate::tables::AC_QUANT;

/// What a frame is to the size model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlannedFrame {
    /// A keyframe: its errors are [`intra_errors`](crate::encoder::sequence::intra_errors).
    Key,
    /// An anchor frame: an interframe that stands in for a chunk's keyframe, coded finer
    /// (its boost), sized as an interframe.
    Anchor,
    /// An ordinary interframe.
    Inter,
}

/// The model's constants for one kind of frame.
struct Constants {
    /// Bits per doubling of the error above the step (to the power [`EXPONENT`]).
    per_octave: f64,
    /// The error's weight against the quantizer step.
    alpha: f64,
    /// Bits every macroblock costs.
    overhead: f64,
}

const KEY: Constants = Constants {
    per_octave: 1003.0,
    alpha: 3.435,
    overhead: 66.0,
};
const INTER: Constants = Constants {
    per_octave: 300.0,
    alpha: 6.50,
    overhead: 10.5,
};
/// How a macroblock's bits grow with the octaves its error lies above the step.
const EXPONENT: f64 = 0.726;

/// Errors are binned in steps of 1/`BINS_PER_OCTAVE` of an octave: close enough for a plan,
/// and each level then costs a few hundred evaluations of the model, not one per macroblock.
const BINS_PER_OCTAVE: f64 = 8.0;
/// Bins from error 1 up to the largest, 64 * 255 (14 octaves).
const BINS: usize = 14 * 8 + 1;
/// Samples per error (the grid of [`Prediction::errors`]).
///
/// [`Prediction::errors`]: crate::encoder::sequence::Prediction::errors
const GRID_SAMPLES: f64 = 64.0;

/// Quality levels of `--cq-level`, 0 ..= 63.
pub const LEVELS: usize = 64;

/// The planned size in bits of a frame at each quality level 0 ..= 63 (vpxenc's scale, as
/// [`cq_level_to_quantizer`] maps it), coded `boost` quantizer indices finer than the level,
/// from the coding errors of the macroblocks measured, `errors`, which stand for
/// `macroblocks` in all.
pub fn planned_bits_by_level(
    kind: PlannedFrame,
    errors: &[u16],
    macroblocks: usize,
    boost: u8,
) -> [f64; LEVELS] {
    let mut bits = [0.0; LEVELS];
    if errors.is_empty() {
        return bits;
    }
    let constants = match kind {
        PlannedFrame::Key => &KEY,
        PlannedFrame::Anchor | PlannedFrame::Inter => &INTER,
    };
    // The errors by octave above 1 (a zero counts as 1: nothing to code either way).
    let mut counts = [0u32; BINS];
    for &error in errors {
        let octaves = libm::log2(f64::from(error.max(1)));
        let bin = libm::round(octaves * BINS_PER_OCTAVE) as usize;
        counts[bin.min(BINS - 1)] += 1;
    }
    let scale = macroblocks as f64 / errors.len() as f64;
    for (level, slot) in bits.iter_mut().enumerate() {
        let quantizer = cq_level_to_quantizer(level as u8).saturating_sub(boost);
        let step = f64::from(AC_QUANT[usize::from(quantizer)]);
        // log2(alpha * e / step) with e per sample: the bin's octaves less this.
        let floor = libm::log2(step * GRID_SAMPLES / constants.alpha);
        let mut total = 0.0;
        for (bin, &count) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let above = bin as f64 / BINS_PER_OCTAVE - floor;
            let coded = if above > 0.0 {
                constants.per_octave * libm::pow(above, EXPONENT)
            } else {
                0.0
            };
            total += f64::from(count) * (coded + constants.overhead);
        }
        *slot = total * scale;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_fall_with_the_level_and_grow_with_the_error() {
        let busy = [4000u16; 100];
        let calm = [300u16; 100];
        let busy_bits = planned_bits_by_level(PlannedFrame::Inter, &busy, 200, 0);
        let calm_bits = planned_bits_by_level(PlannedFrame::Inter, &calm, 200, 0);
        for level in 1..LEVELS {
            assert!(busy_bits[level] <= busy_bits[level - 1], "level {level}");
            assert!(calm_bits[level] <= calm_bits[level - 1], "level {level}");
            assert!(calm_bits[level] <= busy_bits[level], "level {level}");
        }
        assert!(busy_bits[0] > 5.0 * busy_bits[63]);
        // Half the macroblocks measured stand for all of them.
        let half = planned_bits_by_level(PlannedFrame::Inter, &busy[..50], 200, 0);
        assert!((half[30] - busy_bits[30]).abs() < 1e-6 * busy_bits[30]);
    }

    #[test]
    fn keyframes_and_boosted_frames_cost_more_than_interframes() {
        let errors = [1500u16; 64];
        let key = planned_bits_by_level(PlannedFrame::Key, &errors, 64, 0);
        let anchor = planned_bits_by_level(PlannedFrame::Anchor, &errors, 64, 24);
        let inter = planned_bits_by_level(PlannedFrame::Inter, &errors, 64, 0);
        for level in [12, 36, 48] {
            assert!(anchor[level] > inter[level], "level {level}");
        }
        for level in [12, 36] {
            assert!(key[level] > inter[level], "level {level}");
        }
        // A boost codes at a finer quantizer, which a finer level reaches too.
        let boosted = planned_bits_by_level(PlannedFrame::Inter, &errors, 64, 2);
        assert!(
            (boosted[40] - inter[39]).abs() < 1e-9,
            "quantizer 57 either way"
        );
    }

    #[test]
    fn an_error_below_every_step_costs_only_the_overhead() {
        let still = [0u16; 10];
        let bits = planned_bits_by_level(PlannedFrame::Inter, &still, 10, 0);
        assert!(
            bits.iter()
                .all(|&b| (b - 10.0 * INTER.overhead).abs() < 1e-9)
        );
        assert_eq!(
            planned_bits_by_level(PlannedFrame::Key, &[], 10, 0),
            [0.0; LEVELS]
        );
    }
}
