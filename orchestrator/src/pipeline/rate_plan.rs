//! The pipeline's bitrate mode: `--target-bitrate` turned into a quality level per chunk.
//!
//! A chunk's encode cannot steer a bitrate on its own: it sees six frames, and a controller
//! that starts afresh in every chunk learns nothing before the chunk ends (its keyframe is
//! charged though an anchor replaces it, and its quantizers swing from one chunk to the next).
//! So the orchestrator plans: every chunk is coded at a constant quality level, the level at
//! which the size model ([`codec_core::encoder::size_model`]) puts the mean frame of the last
//! [`WINDOW`] chunks at the target, each keyframe spread over the frames of its batch (as it
//! came out, once coded), each long-term link over the frames of its group, and a scene
//! cut's keyframe counted as a keyframe where it comes. The model is calibrated on the first
//! two chunks as the final stream has them, a secant step: the first is coded at the
//! uncalibrated model's level; its sizes calibrate the second's, within
//! [`SECOND_LEVEL_REACH`] of the first's; the two, at two levels, calibrate every later
//! chunk, keyframes and anchor frames by a factor each, interframes and links by one that
//! follows the level. A later chunk's level lies within [`MAX_LEVEL_STEP`] of the chunk's
//! before it. So the second chunk's encode waits for the first's, and the later chunks' for
//! the second's rebase: about one chunk's time at the start of a job, whatever its length.
//! A chunk's level depends only on the pictures up to its own, on the first two chunks'
//! results and on the levels before it, so the same input and settings give the same
//! stream on any number of workers.

use codec_core::encoder::size_model::{LEVELS, PlannedFrame, planned_bits_by_level};
use edge_worker::FrameFacts;
use std::sync::OnceLock;

/// Chunks whose frames a chunk's level is planned over: its own and those before it, about
/// four seconds of 6-frame chunks at 25 frames a second, so that the level follows the
/// footage without jumping from one chunk to the next.
pub const WINDOW: usize = 16;

/// The chunks whose sizes in the final stream calibrate the model: two, for two levels, and
/// so that an anchor and rebased interframes are among them where batches hold more than one
/// chunk.
pub const SAMPLE_CHUNKS: usize = 2;

/// The calibration of a kind of frame stays within this factor of the model either way: a
/// sample that codes next to nothing (a still picture) must not make every later chunk plan
/// as if the model were a hundred times off.
const MAX_CALIBRATION: f64 = 16.0;

/// What the pictures of a chunk measured, for its planned size: its interframes' sizes at
/// each level, the errors of its first frame (a keyframe or an anchor frame), whose size
/// waits for the boost it is coded with, the sizes of the keyframes it codes at scene cuts,
/// and the size of the long-term link it carries, if it opens a group that has one.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkCost {
    frames: usize,
    first: Option<(PlannedFrame, Vec<u16>, usize)>,
    inter: [f64; LEVELS],
    cuts: [f64; LEVELS],
    link: Option<[f64; LEVELS]>,
}

impl ChunkCost {
    /// A chunk with no frames measured yet.
    pub fn new() -> ChunkCost {
        ChunkCost {
            frames: 0,
            first: None,
            inter: [0.0; LEVELS],
            cuts: [0.0; LEVELS],
            link: None,
        }
    }

    /// Adds a picture that the chunk codes as a keyframe at a scene cut (at its start or
    /// inside it), whose macroblocks have intra `errors`, of `macroblocks` in all, coded
    /// `boost` quantizer indices finer than the level. It would cost several times what an
    /// anchor or an interframe there is planned at, and a plan that missed it would code the
    /// chunks after a cut too fine.
    pub fn add_cut(&mut self, errors: &[u16], macroblocks: usize, boost: u8) {
        add_bits(
            &mut self.cuts,
            planned_bits_by_level(PlannedFrame::Key, errors, macroblocks, boost),
        );
        self.frames += 1;
    }

    /// Adds the long-term link that the chunk carries right after its first frame: a hidden
    /// frame whose measured macroblocks have `errors` against the picture of the link before
    /// it (or the batch keyframe's), of `macroblocks` in all, coded `boost` quantizer indices
    /// finer than the level. It shows nothing, so it adds bits but no frame.
    pub fn add_link(&mut self, errors: &[u16], macroblocks: usize, boost: u8) {
        self.link = Some(planned_bits_by_level(
            PlannedFrame::Inter,
            errors,
            macroblocks,
            boost,
        ));
    }

    /// Adds a frame of `kind` whose measured macroblocks have `errors` (see
    /// [`planned_bits_by_level`]), of `macroblocks` in all: the chunk's first frame, a
    /// keyframe or an anchor, then interframes.
    pub fn add(&mut self, kind: PlannedFrame, errors: &[u16], macroblocks: usize) {
        match kind {
            PlannedFrame::Key | PlannedFrame::Anchor => {
                self.first = Some((kind, errors.to_vec(), macroblocks));
            }
            PlannedFrame::Inter => {
                add_bits(
                    &mut self.inter,
                    planned_bits_by_level(kind, errors, macroblocks, 0),
                );
            }
        }
        self.frames += 1;
    }

    /// The chunk's planned sizes, its first frame (a keyframe or an anchor) coded `boost`
    /// quantizer indices finer than the level.
    fn planned(self, boost: u8) -> Planned {
        let mut planned = Planned {
            frames: self.frames,
            key: None,
            anchor: None,
            inter: self.inter,
            cuts: self.cuts,
            link: self.link,
        };
        if let Some((kind, errors, macroblocks)) = self.first {
            let bits = planned_bits_by_level(kind, &errors, macroblocks, boost);
            match kind {
                PlannedFrame::Key => planned.key = Some(bits),
                _ => planned.anchor = Some(bits),
            }
        }
        planned
    }
}

/// Adds `bits` to `into`, level by level.
fn add_bits(into: &mut [f64; LEVELS], bits: [f64; LEVELS]) {
    for (into, bits) in into.iter_mut().zip(bits) {
        *into += bits;
    }
}

impl Default for ChunkCost {
    fn default() -> Self {
        ChunkCost::new()
    }
}

/// A chunk's planned size, in bits at each quality level, by kind of frame.
#[derive(Clone, Debug, PartialEq)]
struct Planned {
    frames: usize,
    /// The keyframe that opens the chunk's batch, if the chunk does.
    key: Option<[f64; LEVELS]>,
    /// Its anchor frame, if one opens it.
    anchor: Option<[f64; LEVELS]>,
    /// Its interframes.
    inter: [f64; LEVELS],
    /// Its keyframes at scene cuts.
    cuts: [f64; LEVELS],
    /// The long-term link it carries after its first frame, if it does.
    link: Option<[f64; LEVELS]>,
}

/// How far the model is off, as the sample chunks measured it: true size over planned size,
/// one factor for keyframes and one for anchor frames, and for interframes and long-term
/// links a factor that follows the level (its logarithm linear in the level through the
/// sample's two points). A link is an interframe, and calibrated as one: on the real clip at
/// 360p a factor of its own, measured at one level, planned the links at a finer level at a
/// quarter of their size.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Calibration {
    key: f64,
    anchor: f64,
    /// The natural logarithm of the interframes' factor at `level`, and its change per
    /// level.
    inter_ln: f64,
    level: f64,
    slope: f64,
}

impl Calibration {
    const NONE: Calibration = Calibration {
        key: 1.0,
        anchor: 1.0,
        inter_ln: 0.0,
        level: 0.0,
        slope: 0.0,
    };

    /// The factor of interframes at `level`.
    fn inter(&self, level: usize) -> f64 {
        let ln = self.inter_ln + self.slope * (level as f64 - self.level);
        ln.clamp(-MAX_CALIBRATION.ln(), MAX_CALIBRATION.ln()).exp()
    }
}

/// How far the second chunk's level may lie from the first's, and the later chunks' from
/// the second's. Sizes do not follow the level alike on all footage (strong grain falls off
/// far faster at coarse levels than the model does), so a calibration is trusted only this
/// far from where it was measured: on grain, two chunks at levels 0 and 8 planned the rest
/// at 28 for a target that wanted about 14, and the stream came out smaller than at a lower
/// target.
const SECOND_LEVEL_REACH: usize = 8;
const LATER_LEVEL_REACH: usize = 12;

/// How far a later chunk's level may lie from the chunk's before it. The window's mean
/// follows the footage, and a level that jumps with every window costs more bits for the
/// quality than one that drifts: at equal rate a constant quality is the cheapest, and each
/// chunk predicts from its neighbour's pictures; and the calibration, two points, is noisy.
/// BD-rate against the serial encoder at the same targets (SSIM/PSNR): on the real clip at
/// 360p +17.2/+17.3% with no limit, +11.2/+11.7% with a step of 2, +13.7/+14.3% with 4;
/// strong grain, which carries no long-term links, +9.9/+12.6% to -15.9/-12.3%. Letting the
/// first calibrated chunk go where the plan put it, or letting steps grow while the level
/// keeps moving one way, did worse on the real clip (+26.6/+26.8%, +13.3/+14.2%).
const MAX_LEVEL_STEP: usize = 2;

/// The range of the interframes' calibration's change with the level, in natural logarithm
/// per level. The model's sizes fall by 0.05 to 0.1 a level, about as fast as true sizes on
/// the test set (its calibrated error drifts by about 0.01 a level at most): a sample that
/// measures more is noise, and a calibration rising faster than the model falls would have
/// sizes grow with the level.
const SLOPE_RANGE: (f64, f64) = (-0.05, 0.02);

/// What the plan knows of one chunk.
#[derive(Clone, Debug, PartialEq)]
struct Chunk {
    /// The chunk whose keyframe opens its batch, and the frames that keyframe serves.
    key_chunk: usize,
    key_span: usize,
    /// The chunk that carries the long-term link of its group, and the frames of the group
    /// it serves, if the group has one.
    link: Option<(usize, usize)>,
    cost: Planned,
    /// A sample chunk's frames as the final stream has them, once they are coded.
    coded: Option<Vec<FrameFacts>>,
    /// Its level, once known.
    level: OnceLock<u8>,
}

/// The bits of `frames`.
fn bits(frames: &[FrameFacts]) -> f64 {
    frames
        .iter()
        .map(|frame| f64::from(frame.bytes) * 8.0)
        .sum()
}

/// The plan of one job's quality levels.
#[derive(Clone, Debug, PartialEq)]
pub struct RatePlan {
    /// The target, in bits per frame.
    frame_bits: f64,
    chunk_frames: usize,
    /// Frames per batch.
    batch_frames: usize,
    /// The video's frames, where the input says.
    expected_frames: Option<usize>,
    chunks: Vec<Chunk>,
}

impl RatePlan {
    /// A plan for `kbps` kilobits per second at `frame_rate` frames per second (numerator,
    /// denominator; a zero term counts as 30 fps), for chunks of `chunk_frames` in batches
    /// of `batch_chunks` (`None`: one batch), of a video of `expected_frames` where known.
    pub fn new(
        kbps: u32,
        frame_rate: (u32, u32),
        chunk_frames: usize,
        batch_chunks: Option<usize>,
        expected_frames: Option<usize>,
    ) -> RatePlan {
        let fps = if frame_rate.0 == 0 || frame_rate.1 == 0 {
            30.0
        } else {
            f64::from(frame_rate.0) / f64::from(frame_rate.1)
        };
        let chunk_frames = chunk_frames.max(1);
        let batch_frames = match (batch_chunks, expected_frames) {
            (Some(chunks), _) => chunks.max(1) * chunk_frames,
            (None, Some(frames)) => frames,
            (None, None) => WINDOW * chunk_frames,
        };
        RatePlan {
            frame_bits: f64::from(kbps) * 1000.0 / fps,
            chunk_frames,
            batch_frames: batch_frames.max(1),
            expected_frames,
            chunks: Vec::new(),
        }
    }

    /// The chunks recorded so far ([`Self::add_chunk`]).
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Records the cost of the next chunk, which shares the keyframe of the chunk
    /// `key_chunk` (itself if it opens a batch), and whose keyframe or anchor frame is coded
    /// with `boost`; `link`: the chunk that carries the long-term link of its group (itself
    /// if it opens the group, with the link's size in `cost`) and the frames the group
    /// spans, if the group has one. Chunks come in order; another is ignored.
    pub fn add_chunk(
        &mut self,
        chunk: usize,
        key_chunk: usize,
        cost: ChunkCost,
        boost: u8,
        link: Option<(usize, usize)>,
    ) {
        if chunk != self.chunks.len()
            || key_chunk > chunk
            || link.is_some_and(|(link_chunk, span)| link_chunk > chunk || span == 0)
        {
            return;
        }
        // The frames from the batch's start to its end or the video's.
        let start = key_chunk * self.chunk_frames;
        let left = self
            .expected_frames
            .map_or(usize::MAX, |frames| frames.saturating_sub(start));
        let key_span = self.batch_frames.min(left).max(self.chunk_frames);
        self.chunks.push(Chunk {
            key_chunk,
            key_span,
            link,
            cost: cost.planned(boost),
            coded: None,
            level: OnceLock::new(),
        });
    }

    /// Takes sample chunk `chunk`'s frames as the final stream has them (its encode's when
    /// it opens a batch, else its rebase's: an anchor, then interframes; its long-term link
    /// second, if it carries one). Returns the chunks
    /// from which on levels became known by it: 1 once the first chunk is in, which
    /// calibrates the second chunk's level, and [`SAMPLE_CHUNKS`] once the second is too.
    pub fn record(&mut self, chunk: usize, coded: &[FrameFacts]) -> Option<usize> {
        if chunk >= SAMPLE_CHUNKS {
            return None;
        }
        let slot = self.chunks.get_mut(chunk)?;
        if slot.coded.is_some() {
            return None;
        }
        slot.coded = Some(coded.to_vec());
        let coded = |index: usize| self.chunks.get(index).is_some_and(|c| c.coded.is_some());
        match chunk {
            0 => Some(1),
            _ if coded(0) => Some(SAMPLE_CHUNKS),
            _ => None,
        }
    }

    /// The calibration that chunk `chunk` is planned with: none for the first chunk, the
    /// first chunk's for the second, both's for the others; `None` until they are coded.
    fn calibration(&self, chunk: usize) -> Option<Calibration> {
        if chunk == 0 {
            return Some(Calibration::NONE);
        }
        // Per kind, the natural logarithms of true over planned size, and for interframes
        // with their level.
        let (mut keys, mut anchors, mut inters) = (Vec::new(), Vec::new(), Vec::new());
        let ln_ratio = |coded: f64, planned: f64| {
            (coded > 0.0 && planned > 0.0).then(|| {
                let limit = MAX_CALIBRATION.ln();
                (coded / planned).ln().clamp(-limit, limit)
            })
        };
        // Each sample's level, and its frames split into its first (a keyframe or an
        // anchor, where one is planned: a cut's keyframe is among the others) and the
        // others.
        let mut samples = Vec::new();
        for (index, sample) in self.chunks[..chunk.min(SAMPLE_CHUNKS)].iter().enumerate() {
            let frames = sample.coded.as_deref()?;
            let level = usize::from(self.level(index)?);
            let cost = &sample.cost;
            let opened = cost.key.is_some() || cost.anchor.is_some();
            let (first, others) = frames.split_at(if opened { frames.len().min(1) } else { 0 });
            match (cost.key, cost.anchor) {
                (Some(key), _) => keys.extend(ln_ratio(bits(first), key[level])),
                (None, Some(anchor)) => anchors.extend(ln_ratio(bits(first), anchor[level])),
                (None, None) => {}
            }
            samples.push((level, cost, others));
        }
        let mean = |values: &[f64]| {
            (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
        };
        let key_ln = mean(&keys);
        // The other frames, the chunk's link among them if it carries one, less its
        // keyframes at cuts as keyframes came out.
        for (level, cost, others) in samples {
            let cuts = key_ln.unwrap_or(0.0).exp() * cost.cuts[level];
            let planned = cost.inter[level] + cost.link.map_or(0.0, |link| link[level]);
            inters.extend(ln_ratio(bits(others) - cuts, planned).map(|ln| (level as f64, ln)));
        }
        let (level, inter_ln, slope) = match inters.as_slice() {
            [] => (0.0, key_ln.unwrap_or(0.0), 0.0),
            [(level, ln)] => (*level, *ln, 0.0),
            [(l0, ln0), .., (l1, ln1)] => {
                let slope = if (l1 - l0).abs() >= 2.0 {
                    ((ln1 - ln0) / (l1 - l0)).clamp(SLOPE_RANGE.0, SLOPE_RANGE.1)
                } else {
                    0.0
                };
                // Through the later point, whose level is the better plan's.
                (*l1, *ln1, slope)
            }
        };
        // An anchor not yet measured is taken to be off as interframes are.
        let anchor_ln = mean(&anchors).unwrap_or(inter_ln);
        Some(Calibration {
            key: key_ln.unwrap_or(inter_ln).exp(),
            anchor: anchor_ln.exp(),
            inter_ln,
            level,
            slope,
        })
    }

    /// The quality level of chunk `chunk`: the level at which its window's mean frame comes
    /// nearest the target, with the model calibrated by the sample chunks before it, and
    /// within [`MAX_LEVEL_STEP`] of the chunk before; `None` until the samples are coded, or
    /// for a chunk not recorded. A level once known stays: it depends only on the costs of
    /// chunks up to its own, on the samples' results and on the levels before it, none of
    /// which changes later.
    pub fn level(&self, chunk: usize) -> Option<u8> {
        let slot = self.chunks.get(chunk)?;
        if let Some(&level) = slot.level.get() {
            return Some(level);
        }
        if chunk < SAMPLE_CHUNKS {
            let level = self.plan_level(chunk, None)?;
            return Some(*slot.level.get_or_init(|| level));
        }
        // A later chunk steps from the one before: the chunks from the first whose level is
        // not yet known are planned in order, rather than recursing through them.
        let first = (SAMPLE_CHUNKS..chunk)
            .rev()
            .find(|&index| self.chunks[index].level.get().is_some())
            .map_or(SAMPLE_CHUNKS, |known| known + 1);
        let mut level = self.level(first - 1)?;
        for index in first..=chunk {
            level = self.plan_level(index, Some(level))?;
            let _ = self.chunks[index].level.set(level);
        }
        Some(level)
    }

    /// Plans chunk `chunk`'s level (see [`Self::level`]), the chunk before it at `previous`
    /// where it is a later chunk.
    fn plan_level(&self, chunk: usize, previous: Option<u8>) -> Option<u8> {
        let calibration = self.calibration(chunk)?;
        let window = &self.chunks[chunk.saturating_sub(WINDOW - 1)..=chunk];
        let frames: usize = window.iter().map(|c| c.cost.frames).sum();
        if frames == 0 {
            return Some(0);
        }
        // A keyframe already coded is spent: it counts as it came out, spread over its
        // batch, whatever the level planned now.
        let planned = |level: usize| -> f64 {
            let inter_factor = calibration.inter(level);
            let mut total = 0.0;
            for planned in window {
                let key_chunk = &self.chunks[planned.key_chunk];
                let key = match key_chunk.coded.as_deref() {
                    Some(frames) if planned.key_chunk < chunk => {
                        bits(&frames[..frames.len().min(1)])
                    }
                    _ => calibration.key * key_chunk.cost.key.map_or(0.0, |key| key[level]),
                };
                total += key * planned.cost.frames as f64 / planned.key_span as f64
                    + calibration.anchor * planned.cost.anchor.map_or(0.0, |anchor| anchor[level])
                    + calibration.key * planned.cost.cuts[level]
                    + inter_factor * planned.cost.inter[level];
                // A link serves its group's frames, as a keyframe its batch's, and is spent
                // once coded.
                if let Some((link_chunk, span)) = planned.link {
                    let owner = &self.chunks[link_chunk];
                    let link = match (owner.coded.as_deref(), owner.cost.link) {
                        (Some(frames), Some(_)) if link_chunk < chunk => {
                            bits(frames.get(1..2).unwrap_or_default())
                        }
                        (_, Some(link)) => inter_factor * link[level],
                        (_, None) => 0.0,
                    };
                    total += link * planned.cost.frames as f64 / span as f64;
                }
            }
            total / frames as f64
        };
        // Sizes fall as the level rises: the level whose mean frame lies nearest the target.
        let distance = |level: usize| (planned(level) / self.frame_bits).ln().abs();
        // A model calibrated at a level is trusted only near it: the second chunk, planned
        // from one point, stays near the first's level, and the others near the second's.
        let near = |level: u8, reach: usize| {
            let level = usize::from(level);
            level.saturating_sub(reach)..(level + reach + 1).min(LEVELS)
        };
        let levels = match chunk {
            0 => 0..LEVELS,
            1 => near(self.level(0)?, SECOND_LEVEL_REACH),
            _ => {
                let (reach, step) = (
                    near(self.level(1)?, LATER_LEVEL_REACH),
                    near(previous?, MAX_LEVEL_STEP),
                );
                reach.start.max(step.start)..reach.end.min(step.end)
            }
        };
        levels
            .min_by(|&a, &b| distance(a).total_cmp(&distance(b)))
            .map(|level| level as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk of `frames` frames whose macroblocks all have error `error`, opening a batch
    /// with a keyframe if `key`.
    fn chunk(frames: usize, error: u16, key: bool) -> ChunkCost {
        let mut cost = ChunkCost::new();
        let errors = [error; 100];
        for frame in 0..frames {
            let kind = match frame {
                0 if key => PlannedFrame::Key,
                0 => PlannedFrame::Anchor,
                _ => PlannedFrame::Inter,
            };
            cost.add(kind, &errors, 200);
        }
        cost
    }

    fn facts(bytes: &[u32]) -> Vec<FrameFacts> {
        bytes
            .iter()
            .map(|&bytes| FrameFacts::coded(bytes as usize, [0; 3]))
            .collect()
    }

    /// A plan at `kbps` of 6-frame chunks in batches of 16, its first `chunks` chunks in
    /// one batch with error `error`.
    fn plan(kbps: u32, chunks: usize, error: u16) -> RatePlan {
        let mut plan = RatePlan::new(kbps, (25, 1), 6, Some(16), None);
        for index in 0..chunks {
            plan.add_chunk(index, 0, chunk(6, error, index == 0), 0, None);
        }
        plan
    }

    /// A plan as [`plan`] of the two sample chunks, both coded as planned.
    fn sampled(kbps: u32, error: u16) -> RatePlan {
        let mut plan = plan(kbps, SAMPLE_CHUNKS, error);
        for index in 0..SAMPLE_CHUNKS {
            plan.record(index, &as_planned(&plan.clone(), index, 1.0));
        }
        plan
    }

    /// The frames of sample chunk `index` as the plan expects them at its level, times
    /// `factor`.
    fn as_planned(plan: &RatePlan, index: usize, factor: f64) -> Vec<FrameFacts> {
        let level = usize::from(plan.level(index).unwrap());
        let cost = &plan.chunks[index].cost;
        let first = cost.key.or(cost.anchor).map_or(0.0, |first| first[level]);
        let inter = cost.inter[level] / 5.0;
        let bytes = |bits: f64| (bits * factor / 8.0) as u32;
        let mut frames = vec![bytes(first)];
        frames.extend([bytes(inter); 5]);
        facts(&frames)
    }

    #[test]
    fn a_higher_target_plans_a_finer_level() {
        let levels: Vec<u8> = [100, 400, 1600, 6400]
            .into_iter()
            .map(|kbps| plan(kbps, 1, 2000).level(0).unwrap())
            .collect();
        assert!(levels.windows(2).all(|w| w[0] > w[1]), "{levels:?}");
    }

    #[test]
    fn each_sample_chunk_waits_for_the_one_before_and_the_others_for_both() {
        let plan = plan(500, 4, 1500);
        assert!(plan.level(0).is_some());
        assert_eq!(plan.level(1), None);
        assert_eq!(plan.level(9), None);
        // The model was exact: the sample comes out as planned, and the plan holds.
        let mut exact = plan.clone();
        assert_eq!(
            exact.record(0, &as_planned(&exact.clone(), 0, 1.0)),
            Some(1)
        );
        assert_eq!(exact.level(2), None, "the sample is two chunks");
        assert_eq!(
            exact.record(1, &as_planned(&exact.clone(), 1, 1.0)),
            Some(2)
        );
        assert_eq!(exact.record(1, &facts(&[1, 1])), None, "recorded once");
        assert_eq!(exact.record(2, &facts(&[1, 1])), None, "not a sample chunk");
        let calibration = exact.calibration(3).unwrap();
        assert!((calibration.key - 1.0).abs() < 0.02, "{calibration:?}");
        assert!(
            (calibration.inter(20) - 1.0).abs() < 0.02,
            "{calibration:?}"
        );
        // The model was 4 times short: later chunks are planned coarser.
        let mut short = plan.clone();
        short.record(0, &as_planned(&short.clone(), 0, 4.0));
        short.record(1, &as_planned(&short.clone(), 1, 4.0));
        let (exact_level, short_level) = (exact.level(2).unwrap(), short.level(2).unwrap());
        assert!(short_level > exact_level, "{short_level} vs {exact_level}");
        assert!(short.level(1).unwrap() > exact.level(1).unwrap());
        // The first chunk's level is what it was coded at, whatever came after.
        assert_eq!(short.level(0), plan.level(0));
    }

    #[test]
    fn two_levels_measure_how_sizes_follow_the_level() {
        // The model is 4 times over at the first chunk's level, so the second is planned
        // finer, where it turns out exact: the factor of the other frames follows the level
        // between them.
        let mut plan = plan(500, 4, 1500);
        plan.record(0, &as_planned(&plan.clone(), 0, 0.25));
        plan.record(1, &as_planned(&plan.clone(), 1, 1.0));
        let (l0, l1) = (plan.level(0).unwrap(), plan.level(1).unwrap());
        assert!(l1 + 2 <= l0, "{l1} vs {l0}");
        let calibration = plan.calibration(2).unwrap();
        let (at0, at1) = (
            calibration.inter(usize::from(l0)),
            calibration.inter(usize::from(l1)),
        );
        assert!((at1 - 1.0).abs() < 0.02, "{at1} at {l1}");
        assert!(at0 < 0.75, "{at0} at {l0}");
    }

    #[test]
    fn harder_footage_gets_a_coarser_level() {
        let mut plan = sampled(800, 800);
        for index in 2..40 {
            let error = if index < 20 { 800 } else { 6000 };
            plan.add_chunk(index, 0, chunk(6, error, false), 0, None);
        }
        let (calm, busy) = (plan.level(18).unwrap(), plan.level(39).unwrap());
        assert!(busy > calm, "{busy} vs {calm}");
        // Planned over a window: the first busy chunk moves less than the window does.
        let first_busy = plan.level(20).unwrap();
        assert!(
            first_busy >= calm && first_busy < busy,
            "{calm} {first_busy} {busy}"
        );
    }

    #[test]
    fn later_levels_move_a_step_at_a_time_and_stay_once_known() {
        let mut plan = sampled(800, 800);
        for index in 2..12 {
            plan.add_chunk(index, 0, chunk(6, 800, false), 0, None);
        }
        let known = plan.level(11).unwrap();
        for index in 12..60 {
            plan.add_chunk(index, 0, chunk(6, 20000, false), 0, None);
        }
        assert_eq!(
            plan.level(11),
            Some(known),
            "a later chunk moves no earlier level"
        );
        let levels: Vec<u8> = (1..60).map(|index| plan.level(index).unwrap()).collect();
        assert!(
            levels
                .windows(2)
                .all(|w| w[0].abs_diff(w[1]) <= MAX_LEVEL_STEP as u8),
            "{levels:?}"
        );
        assert!(levels[58] > known + 2 * MAX_LEVEL_STEP as u8, "{levels:?}");
        // Planned from the last chunk first, the levels come out the same.
        let mut fresh = plan.clone();
        for chunk in &mut fresh.chunks[2..] {
            chunk.level = OnceLock::new();
        }
        assert_eq!(fresh.level(59), plan.level(59));
    }

    #[test]
    fn a_link_is_paid_for_by_the_frames_of_its_group() {
        // Chunks 2..4 form a group whose first chunk carries a costly link.
        let level = |link: bool| {
            let mut plan = sampled(800, 800);
            let mut cost = chunk(6, 800, false);
            if link {
                cost.add_link(&[6000; 100], 200, 0);
            }
            plan.add_chunk(2, 0, cost, 0, Some((2, 18)));
            plan.add_chunk(3, 0, chunk(6, 800, false), 0, Some((2, 18)));
            (plan.level(2).unwrap(), plan.level(3).unwrap())
        };
        let (without, with) = (level(false), level(true));
        assert!(
            with.0 > without.0 && with.1 > without.1,
            "{with:?} vs {without:?}"
        );
    }

    #[test]
    fn a_scene_cut_is_planned_as_a_keyframe() {
        let level = |cut: bool| {
            let mut plan = sampled(800, 800);
            let mut cost = chunk(5, 800, false);
            if cut {
                cost.add_cut(&[8000; 100], 200, 40);
            } else {
                cost.add(PlannedFrame::Inter, &[800; 100], 200);
            }
            plan.add_chunk(2, 0, cost, 0, None);
            plan.level(2).unwrap()
        };
        assert!(
            level(true) > level(false),
            "{} vs {}",
            level(true),
            level(false)
        );
    }

    #[test]
    fn a_keyframe_is_spread_over_the_frames_it_serves() {
        // The same chunk, in a video of 12 frames or of a thousand: a coarser level where the
        // keyframe is paid for by 12 frames.
        let level = |expected| {
            let mut plan = RatePlan::new(300, (25, 1), 6, Some(16), Some(expected));
            let mut cost = chunk(5, 300, false);
            cost.add(PlannedFrame::Key, &[8000; 100], 200);
            plan.add_chunk(0, 0, cost, 0, None);
            plan.level(0).unwrap()
        };
        assert!(level(12) > level(1000), "{} vs {}", level(12), level(1000));
    }

    #[test]
    fn chunks_out_of_order_are_not_recorded() {
        let mut plan = plan(800, 0, 800);
        plan.add_chunk(1, 0, chunk(6, 800, false), 0, None);
        assert_eq!(plan.level(0), None);
        plan.add_chunk(0, 0, chunk(6, 800, true), 0, None);
        plan.add_chunk(0, 0, chunk(6, 800, true), 0, None);
        assert_eq!(plan.chunks.len(), 1);
    }
}
