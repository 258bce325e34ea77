//! Choosing each frame's quantizer: vpxenc's quality scale, the rate modes, and a one-pass
//! bitrate controller.
//!
//! The controller models a frame's size as `bits = k * complexity / qstep(q)`, with `qstep`
//! the AC quantizer step of RFC 6386 §14.1 and one `k` per frame kind learned from the
//! frames already coded. A buffer of bits saved or overspent against the target steers each
//! frame's budget so the average converges on the target, keyframes and golden frames get
//! larger budgets because later frames predict from them, and the quantizer of ordinary
//! frames moves only a few steps per frame so quality does not flicker.

use crate::tables::AC_QUANT;

/// vpxenc's `--cq-level`, `--min-q` and `--max-q` scale (0..=63) to VP8 quantizer indices
/// (0..=127): libvpx's VP8 `q_trans` table (vp8/encoder/onyx_if.c).
pub const CQ_LEVEL_TO_QUANTIZER: [u8; 64] = [
    0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 15, 17, 18, 19, //
    20, 21, 23, 24, 25, 26, 27, 28, 29, 30, 31, 33, 35, 37, 39, 41, //
    43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 64, 67, 70, 73, 76, 79, //
    82, 85, 88, 91, 94, 97, 100, 103, 106, 109, 112, 115, 118, 121, 124, 127,
];

/// The quantizer index libvpx uses for a vpxenc quality level; levels above 63 act as 63.
pub fn cq_level_to_quantizer(level: u8) -> u8 {
    CQ_LEVEL_TO_QUANTIZER[usize::from(level.min(63))]
}

/// How a sequence's quantizers are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RateMode {
    /// One quality level for every frame, on vpxenc's 0..=63 scale (golden frames boosted).
    ConstantQuality { cq_level: u8 },
    /// The coarsest quantizer per frame whose reconstruction keeps this SSIM (ffmpeg's "All").
    TargetSsim { ssim: f64 },
    /// An average bitrate in kilobits per second, one pass.
    TargetBitrate { kbps: u32 },
}

/// What a frame is to the sequence, which decides how many bits it may spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A keyframe: intra only, and every later frame depends on it.
    Key,
    /// An interframe that refreshes the golden reference, predicted from for many frames.
    Golden,
    /// An ordinary interframe.
    Inter,
}

impl FrameKind {
    fn index(self) -> usize {
        match self {
            FrameKind::Key => 0,
            FrameKind::Golden => 1,
            FrameKind::Inter => 2,
        }
    }

    /// Budget relative to an ordinary frame's. Modest on purpose: the buffer pays the extra
    /// back over the following second, and a keyframe much sharper than its successors only
    /// makes them spend bits correcting towards the source.
    fn budget_weight(self) -> f64 {
        match self {
            FrameKind::Key => 5.0,
            FrameKind::Golden => 2.0,
            FrameKind::Inter => 1.0,
        }
    }
}

/// Quantizer used before anything is known about the video.
const FIRST_QUANTIZER: u8 = 40;
/// Largest change of an interframe's quantizer from the previous one: wider while the model
/// is young, narrower once it has seen enough frames that a jump means noise, not news.
const MAX_QUANTIZER_STEP_EARLY: u8 = 8;
const MAX_QUANTIZER_STEP: u8 = 4;
/// Interframes seen before the narrower step applies.
const EARLY_FRAMES: u32 = 8;
/// Until a kind has been observed, its `k` is the keyframe's divided by this (inter frames
/// typically cost a fifth to a tenth of a keyframe at the same quantizer).
const INTER_TO_KEY_GUESS: f64 = 6.0;

/// One-pass average-bitrate control: ask [`quantizer_for`](Self::quantizer_for) before
/// coding a frame, report its size with [`update`](Self::update) after.
#[derive(Clone, Debug, PartialEq)]
pub struct RateController {
    /// Target bits per frame.
    frame_bits: f64,
    /// Frames over which the buffer's surplus or debt is spread: about one second.
    horizon: f64,
    /// Bits saved (positive) or overspent (negative) against the target so far.
    buffer: f64,
    /// Per kind: bits × qstep per unit of complexity, and how many frames taught it.
    k: [f64; 3],
    observed: [u32; 3],
    /// Per kind: running mean of complexity hints, the unit that hints are measured in.
    hint_mean: [f64; 3],
    /// Per kind: the last quantizer used.
    last_quantizer: [Option<u8>; 3],
    min_quantizer: u8,
    max_quantizer: u8,
    frames: u64,
    total_bits: f64,
}

impl RateController {
    /// A controller for `kbps` kilobits per second at `frame_rate` (numerator, denominator)
    /// frames per second; a zero in the frame rate counts as 30 fps.
    pub fn new(kbps: u32, frame_rate: (u32, u32)) -> Self {
        let fps = if frame_rate.0 == 0 || frame_rate.1 == 0 {
            30.0
        } else {
            f64::from(frame_rate.0) / f64::from(frame_rate.1)
        };
        RateController {
            frame_bits: f64::from(kbps) * 1000.0 / fps,
            horizon: fps.clamp(8.0, 60.0),
            buffer: 0.0,
            k: [0.0; 3],
            observed: [0; 3],
            hint_mean: [0.0; 3],
            last_quantizer: [None; 3],
            min_quantizer: 0,
            max_quantizer: 127,
            frames: 0,
            total_bits: 0.0,
        }
    }

    /// Limits every quantizer this controller chooses to `min..=max` (swapped if reversed).
    pub fn set_quantizer_range(&mut self, min: u8, max: u8) {
        let (min, max) = (min.min(max).min(127), max.max(min).min(127));
        self.min_quantizer = min;
        self.max_quantizer = max;
    }

    /// Whether frames of this kind have been observed, so that its model is more than a guess.
    pub fn is_calibrated(&self, kind: FrameKind) -> bool {
        self.observed[kind.index()] > 0
    }

    /// Frames reported with [`update`](Self::update) so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Average bitrate of the frames reported so far, in kilobits per second.
    pub fn average_kbps(&self, frame_rate: (u32, u32)) -> f64 {
        if self.frames == 0 || frame_rate.1 == 0 {
            return 0.0;
        }
        let fps = f64::from(frame_rate.0) / f64::from(frame_rate.1);
        self.total_bits / self.frames as f64 * fps / 1000.0
    }

    /// The bits this frame may spend: its kind's share of the target plus a slice of the
    /// buffer, never less than a quarter of its share.
    pub fn frame_budget(&self, kind: FrameKind) -> f64 {
        let share = self.frame_bits * kind.budget_weight();
        (share + self.buffer / self.horizon).max(share * 0.25)
    }

    /// `k` for a kind: learned, else guessed from another kind, else unknown.
    fn model_k(&self, kind: FrameKind) -> Option<f64> {
        let i = kind.index();
        if self.observed[i] > 0 {
            return Some(self.k[i]);
        }
        let key = self.k[0];
        let (golden, inter) = (self.k[1], self.k[2]);
        match kind {
            FrameKind::Key if self.observed[2] > 0 => Some(inter * INTER_TO_KEY_GUESS),
            FrameKind::Key if self.observed[1] > 0 => Some(golden * INTER_TO_KEY_GUESS),
            FrameKind::Golden | FrameKind::Inter if self.observed[2] > 0 => Some(inter),
            FrameKind::Golden | FrameKind::Inter if self.observed[1] > 0 => Some(golden),
            FrameKind::Golden | FrameKind::Inter if self.observed[0] > 0 => {
                Some(key / INTER_TO_KEY_GUESS)
            }
            _ => None,
        }
    }

    /// Complexity of a frame relative to its kind's running mean (1 without a hint), kept
    /// within 1/4..4 so one odd measurement cannot swing the quantizer far.
    fn relative_complexity(&self, kind: FrameKind, hint: Option<u64>) -> f64 {
        let mean = self.hint_mean[kind.index()];
        match hint {
            Some(h) if mean > 0.0 => (h as f64 / mean).clamp(0.25, 4.0),
            _ => 1.0,
        }
    }

    /// The quantizer index for the next frame of `kind`. `complexity_hint` is any measure
    /// that grows with the bits a frame needs (e.g. the sum of absolute differences from the
    /// previous picture); it is compared only with earlier hints for the same kind.
    pub fn quantizer_for(&self, kind: FrameKind, complexity_hint: Option<u64>) -> u8 {
        let (lo, hi) = (self.min_quantizer, self.max_quantizer);
        let Some(k) = self.model_k(kind) else {
            return FIRST_QUANTIZER.clamp(lo, hi);
        };
        let budget = self.frame_budget(kind);
        let expected = k * self.relative_complexity(kind, complexity_hint);
        // The finest quantizer whose predicted size fits the budget.
        let mut q = (lo..=hi)
            .find(|&q| expected / f64::from(AC_QUANT[usize::from(q)]) <= budget)
            .unwrap_or(hi);

        let inter_last = self.last_quantizer[FrameKind::Inter.index()];
        let step = if self.observed[FrameKind::Inter.index()] < EARLY_FRAMES {
            MAX_QUANTIZER_STEP_EARLY
        } else {
            MAX_QUANTIZER_STEP
        };
        match kind {
            FrameKind::Inter => {
                if let Some(last) = inter_last {
                    q = q.clamp(last.saturating_sub(step), last.saturating_add(step));
                }
            }
            // Frames that others predict from are never much coarser than the ordinary ones.
            FrameKind::Golden | FrameKind::Key => {
                if let Some(last) = inter_last {
                    q = q.min(last.saturating_add(MAX_QUANTIZER_STEP));
                }
            }
        }
        q.clamp(lo, hi)
    }

    /// Teaches the model a frame's size without charging it to the buffer: for trial
    /// encodes whose result is thrown away.
    pub fn calibrate(&mut self, kind: FrameKind, quantizer: u8, bytes: usize) {
        self.calibrate_with_complexity(kind, quantizer, bytes, None);
    }

    /// [`calibrate`](Self::calibrate) with the complexity hint the frame was chosen with.
    pub fn calibrate_with_complexity(
        &mut self,
        kind: FrameKind,
        quantizer: u8,
        bytes: usize,
        complexity_hint: Option<u64>,
    ) {
        let i = kind.index();
        let relative = self.relative_complexity(kind, complexity_hint);
        let qstep = f64::from(AC_QUANT[usize::from(quantizer.min(127))]);
        // At least one byte, so a frame of skips cannot teach the model that bits are free.
        let k_observed = (bytes.max(1) * 8) as f64 * qstep / relative;
        // Learn fast at first, then average over a few frames to ride out noise.
        let weight = match self.observed[i] {
            0 => 1.0,
            1..=3 => 0.5,
            _ => 0.3,
        };
        self.k[i] += weight * (k_observed - self.k[i]);
        self.observed[i] = self.observed[i].saturating_add(1);
        if let Some(h) = complexity_hint {
            let mean = &mut self.hint_mean[i];
            *mean = if *mean > 0.0 {
                *mean + 0.2 * (h as f64 - *mean)
            } else {
                h as f64
            };
        }
    }

    /// Reports the frame actually coded: its kind, quantizer and size in bytes.
    pub fn update(&mut self, kind: FrameKind, quantizer: u8, bytes: usize) {
        self.update_with_complexity(kind, quantizer, bytes, None);
    }

    /// [`update`](Self::update) with the complexity hint the frame was chosen with, which
    /// lets the model separate "this frame was hard" from "this quantizer costs more".
    pub fn update_with_complexity(
        &mut self,
        kind: FrameKind,
        quantizer: u8,
        bytes: usize,
        complexity_hint: Option<u64>,
    ) {
        self.calibrate_with_complexity(kind, quantizer, bytes, complexity_hint);
        let bits = (bytes * 8) as f64;
        self.buffer += self.frame_bits - bits;
        // A buffer deeper than a few seconds would starve (or flood) the frames that follow.
        let limit = self.frame_bits * self.horizon * 4.0;
        self.buffer = self.buffer.clamp(-limit, limit);
        self.last_quantizer[kind.index()] = Some(quantizer);
        self.frames += 1;
        self.total_bits += bits;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;
    use alloc::vec::Vec;

    #[test]
    fn cq_levels_map_as_libvpx_does() {
        assert_eq!(cq_level_to_quantizer(0), 0);
        assert_eq!(cq_level_to_quantizer(6), 7);
        assert_eq!(cq_level_to_quantizer(32), 43);
        assert_eq!(cq_level_to_quantizer(42), 64);
        assert_eq!(cq_level_to_quantizer(63), 127);
        assert_eq!(cq_level_to_quantizer(200), 127);
        assert!(CQ_LEVEL_TO_QUANTIZER.windows(2).all(|w| w[0] < w[1]));
    }

    /// A synthetic "video": frame sizes follow `bits = c * complexity / qstep(q)` with the
    /// complexity drifting slowly, jumping at scene cuts, and some per-frame noise.
    struct SyntheticVideo {
        rng: TestRng,
        complexity: f64,
    }

    impl SyntheticVideo {
        fn frame(&mut self, index: u32, kind: FrameKind, q: u8) -> (usize, u64) {
            if index % 97 == 50 {
                self.complexity *= if self.rng.below(2) == 0 { 2.5 } else { 0.4 };
            }
            let drift = 1.0 + (self.rng.range(-30, 30) as f64) / 1000.0;
            // Kept where every target below is reachable within the quantizer range.
            self.complexity = (self.complexity * drift).clamp(1.5e6, 5e6);
            let noise = 1.0 + (self.rng.range(-150, 150) as f64) / 1000.0;
            let scale = match kind {
                FrameKind::Key => 8.0,
                FrameKind::Golden => 1.6,
                FrameKind::Inter => 1.0,
            };
            let qstep = f64::from(AC_QUANT[usize::from(q)]);
            let bits = scale * self.complexity * noise / qstep;
            ((bits / 8.0) as usize, self.complexity as u64)
        }
    }

    fn simulate(kbps: u32, frames: u32, use_hints: bool, seed: u64) -> (f64, Vec<u8>) {
        let fps = (30, 1);
        let mut rc = RateController::new(kbps, fps);
        let mut video = SyntheticVideo {
            rng: TestRng(seed),
            complexity: 2.5e6,
        };
        let mut quantizers = Vec::new();
        for i in 0..frames {
            let kind = if i.is_multiple_of(150) {
                FrameKind::Key
            } else if i.is_multiple_of(16) {
                FrameKind::Golden
            } else {
                FrameKind::Inter
            };
            // The hint is the complexity the frame will have (a real encoder measures it
            // from the source before coding); a frame's size is drawn after the choice.
            let mut peek = SyntheticVideo {
                rng: TestRng(video.rng.0),
                complexity: video.complexity,
            };
            let hint = use_hints.then(|| peek.frame(i, kind, 0).1);
            let q = rc.quantizer_for(kind, hint);
            let (bytes, _) = video.frame(i, kind, q);
            rc.update_with_complexity(kind, q, bytes, hint);
            quantizers.push(q);
        }
        (rc.average_kbps(fps), quantizers)
    }

    #[test]
    fn average_bitrate_converges_on_the_target() {
        for kbps in [800, 2000, 5000, 10_000] {
            for use_hints in [false, true] {
                for seed in [1, 2, 3] {
                    let (average, quantizers) = simulate(kbps, 600, use_hints, seed);
                    let error = (average - f64::from(kbps)).abs() / f64::from(kbps);
                    assert!(
                        error < 0.10,
                        "{kbps} kb/s (hints {use_hints}, seed {seed}): got {average:.1} kb/s"
                    );
                    assert!(quantizers.iter().all(|&q| q <= 127));
                }
            }
        }
    }

    #[test]
    fn interframe_quantizers_move_in_small_steps() {
        let (_, quantizers) = simulate(2000, 300, false, 9);
        for (i, pair) in quantizers.windows(2).enumerate() {
            let frame = i + 1;
            if frame.is_multiple_of(16)
                || frame.is_multiple_of(150)
                || (frame - 1).is_multiple_of(16)
            {
                continue; // golden and key frames, and the frame right after one
            }
            let step = pair[0].abs_diff(pair[1]);
            let limit = if frame < 12 {
                MAX_QUANTIZER_STEP_EARLY
            } else {
                MAX_QUANTIZER_STEP
            };
            assert!(step <= limit, "frame {frame}: {pair:?}");
        }
    }

    #[test]
    fn reference_frames_are_not_coarser_than_ordinary_ones() {
        let mut rc = RateController::new(1000, (25, 1));
        rc.update(FrameKind::Key, 40, 30_000);
        for _ in 0..20 {
            let q = rc.quantizer_for(FrameKind::Inter, None);
            rc.update(FrameKind::Inter, q, 5_000);
        }
        let inter = rc.quantizer_for(FrameKind::Inter, None);
        let golden = rc.quantizer_for(FrameKind::Golden, None);
        assert!(golden <= inter + MAX_QUANTIZER_STEP, "{golden} vs {inter}");
        assert!(rc.frame_budget(FrameKind::Golden) > rc.frame_budget(FrameKind::Inter));
        assert!(rc.frame_budget(FrameKind::Key) > rc.frame_budget(FrameKind::Golden));
    }

    #[test]
    fn quantizer_range_and_degenerate_settings() {
        let mut rc = RateController::new(0, (0, 0));
        rc.set_quantizer_range(90, 20);
        assert_eq!(rc.quantizer_for(FrameKind::Key, None), 40);
        rc.update(FrameKind::Key, 40, 0);
        let q = rc.quantizer_for(FrameKind::Inter, Some(0));
        assert!((20..=90).contains(&q));
        assert!(!rc.is_calibrated(FrameKind::Golden));
        assert!(rc.is_calibrated(FrameKind::Key));
        assert_eq!(rc.frames(), 1);
    }
}
