//! The task graph of ExCamera[N, x] (DESIGN.md §2): which tasks a video needs, which outputs
//! each one waits for, and which chunk streams make up the final stream.
//!
//! Chunk `i` holds frames `[i*N, min((i+1)*N, F))`; batch `b` holds chunks `[b*x, (b+1)*x)`.
//! Every chunk is encoded alone (`E_i`). A chunk that is not first in its batch also gets its
//! first picture re-encoded from `E_{i-1}`'s final state (`G_i`), and is rebased (`R_i`) onto
//! the true state at the end of chunk `i-1`: `E_{i-1}`'s when chunk `i-1` opens the batch,
//! `R_{i-1}`'s otherwise. That last dependency is the serial walk along each batch, which
//! starts anew at a chunk whose first frame `G_i` found to be a scene cut: a keyframe needs no
//! state.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use anyhow::{Result, bail};
use codec_core::encoder::sequence::ALTREF_BOOST;
use edge_worker::{
    BlobId, CHUNK_KEYFRAME_BOOST, EncodeSettings, FrameFacts, LongTermLink, Opening, PictureFormat,
    RateSetting, Task, TaskOutput,
};

use super::rate_plan::{ChunkCost, RatePlan};

/// How many chunks a batch holds: a number, or every chunk of the video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// At most this many chunks per batch (at least 1).
    Chunks(usize),
    /// One batch: a single keyframe for the whole video.
    Whole,
}

impl Batch {
    /// Whether chunk `chunk` opens its batch (so it keeps its keyframe and needs no rebase).
    pub fn first_in_batch(self, chunk: usize) -> bool {
        match self {
            Batch::Chunks(n) => chunk.is_multiple_of(n.max(1)),
            Batch::Whole => chunk == 0,
        }
    }
}

/// Parses `--batch`: a positive number of chunks, or `whole`.
pub fn parse_batch(text: &str) -> Result<Batch, String> {
    if text.eq_ignore_ascii_case("whole") {
        return Ok(Batch::Whole);
    }
    match text.parse::<usize>() {
        Ok(0) => Err("a batch holds at least 1 chunk (or say `whole`)".to_owned()),
        Ok(chunks) => Ok(Batch::Chunks(chunks)),
        Err(_) => Err(format!(
            "'{text}' is neither a number of chunks nor `whole`"
        )),
    }
}

/// How a video of `frames` frames is cut into chunks and batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub frames: usize,
    pub chunk_frames: usize,
    /// Chunks per batch (the last batch may hold fewer).
    pub batch_chunks: usize,
}

impl Layout {
    /// The layout of `frames` frames (at least 1) in chunks of `chunk_frames` (at least 1).
    pub fn new(frames: usize, chunk_frames: usize, batch: Batch) -> Layout {
        let chunk_frames = chunk_frames.max(1);
        let chunks = frames.div_ceil(chunk_frames).max(1);
        let batch_chunks = match batch {
            Batch::Chunks(n) => n.clamp(1, chunks),
            Batch::Whole => chunks,
        };
        Layout {
            frames,
            chunk_frames,
            batch_chunks,
        }
    }

    /// Number of chunks (the last may be short).
    pub fn chunks(&self) -> usize {
        self.frames.div_ceil(self.chunk_frames)
    }

    /// Number of batches, which is the number of keyframes in the final stream.
    pub fn batches(&self) -> usize {
        self.chunks().div_ceil(self.batch_chunks)
    }

    /// The batch that chunk `chunk` belongs to.
    pub fn batch_of(&self, chunk: usize) -> usize {
        chunk / self.batch_chunks
    }

    /// Chunks that are not first in their batch: each needs a re-encode and a rebase.
    pub fn rebased_chunks(&self) -> usize {
        self.chunks() - self.batches()
    }

    /// Tasks in the graph: one encode per chunk, plus a re-encode and a rebase for each chunk
    /// that is not first in its batch.
    pub fn task_count(&self) -> usize {
        self.chunks() + 2 * self.rebased_chunks()
    }
}

/// One task of the graph. The derived order is the scheduler's priority: rebases first (they
/// are the serial critical path), then re-encodes, then chunk encodes, each in chunk order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// `R_i`: rebase chunk i onto the true state at the end of chunk i-1 (none when its first
    /// frame is a scene cut's keyframe).
    Rebase(usize),
    /// `G_i`: re-encode chunk i's first picture from `E_{i-1}`'s final state.
    GivenState(usize),
    /// `E_i`: encode chunk i on its own.
    Encode(usize),
}

impl Step {
    /// The task kind as the worker and the timeline name it.
    pub fn kind(self) -> &'static str {
        match self {
            Step::Rebase(_) => "rebase",
            Step::GivenState(_) => "encode_given_state",
            Step::Encode(_) => "encode_chunk",
        }
    }

    /// The chunk the task belongs to.
    pub fn chunk(self) -> usize {
        match self {
            Step::Rebase(chunk) | Step::GivenState(chunk) | Step::Encode(chunk) => chunk,
        }
    }
}

/// A chunk stream and the decoder state after its last frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ChunkResult {
    stream: BlobId,
    final_state: BlobId,
}

/// A chunk's first frame encoded from the previous chunk's state, the frame context of
/// that state, and whether the frame is a keyframe (a scene cut).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct GivenResult {
    frame: BlobId,
    made_from: BlobId,
    scene_cut: bool,
}

/// Who may still read a blob: a task of the graph, or the output stream, which takes each
/// chunk's final stream and pictures (to check the stream against them) in chunk order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reader {
    Task(Step),
    /// The final stream of this chunk, and its pictures.
    Output(usize),
    /// The chunks of this batch still to come, whose encodes read the picture of the
    /// batch's keyframe ([`Opening::Anchor`]): the batch holds it for them until it can take
    /// no more chunks.
    Batch(usize),
}

/// What a chunk that joins the graph changes among the readers of its batch keyframe's
/// picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPictureClaims {
    /// The picture, and the chunk's encode, which reads it.
    pub claim: Option<(BlobId, Reader)>,
    /// The batch takes no more chunks: it lets go of the picture.
    pub release: Option<Reader>,
}

/// Below this [`predictability`] of a chunk's pictures its anchor gets no boost: on the test
/// set, strong temporal grain measures 0.28 to 0.36 per chunk, and with its anchors coded as
/// plain interframes ExCamera[6,16] came out 1.8 and 3.3 points of BD-rate better at equal
/// SSIM and PSNR than with the boost of 10 that every anchor had, and 15 better than with 24
/// (issue 10's notes).
///
/// [`predictability`]: codec_core::encoder::sequence::predictability
const ANCHOR_PREDICTABILITY_NONE: f64 = 0.40;

/// From this [`predictability`] on a chunk's anchor gets the job's whole boost
/// ([`ANCHOR_BOOST`] unless told otherwise); in between it grows linearly, so that footage
/// near the edge is not split by a step. Footage still or moving smoothly measures 0.52 to
/// 0.98 per chunk on the test set.
///
/// [`predictability`]: codec_core::encoder::sequence::predictability
/// [`ANCHOR_BOOST`]: codec_core::encoder::sequence::ANCHOR_BOOST
const ANCHOR_PREDICTABILITY_FULL: f64 = 0.55;

/// The boost of an anchor frame in a long-term group with its link: the link is the fine
/// reference the group's frames predict from, as a serial encoder's altref frame, and the
/// anchor a plain interframe, as the frames of a serial altref group are. Against the
/// planned boost (up to 24), with groups of three six-frame chunks at `--cq-level` 12..48,
/// ExCamera[6,16] came out at equal SSIM 4.5 points of BD-rate closer to the serial encoder
/// on the real clip at 360p (+8.1 to +3.6), 3.7 on its small crop, 4.5 on a synthetic zoom,
/// and 1 to 8 points worse at equal SSIM on a still picture with grain (issue 10's notes).
const LONG_TERM_ANCHOR_BOOST: u8 = 0;

/// The boost of an anchor frame whose chunk's pictures have `predictability`, of `full` at
/// most ([`ANCHOR_PREDICTABILITY_NONE`], [`ANCHOR_PREDICTABILITY_FULL`]).
fn anchor_boost(full: u8, predictability: f64) -> u8 {
    let share = ((predictability - ANCHOR_PREDICTABILITY_NONE)
        / (ANCHOR_PREDICTABILITY_FULL - ANCHOR_PREDICTABILITY_NONE))
        .clamp(0.0, 1.0);
    // Within 0 ..= full, which fits u8.
    (f64::from(full) * share).round() as u8
}

/// The graph of one video, and the outputs of the tasks done so far. It grows as the input
/// is read: a chunk's tasks join the graph once its pictures are in (all N, or the last ones
/// at the end of the input), so the video never has to be read whole before tasks start.
#[derive(Clone, Debug)]
pub struct ChunkGraph {
    chunk_frames: usize,
    batch: Batch,
    format: PictureFormat,
    settings: EncodeSettings,
    /// One raw I420 picture blob per frame read so far.
    pictures: Vec<BlobId>,
    /// Set once the input has ended: the last chunk is then complete, however short.
    ended: bool,
    encoded: Vec<Option<ChunkResult>>,
    given: Vec<Option<GivenResult>>,
    rebased: Vec<Option<ChunkResult>>,
    /// Batches whose first chunk did not hold still against their keyframe, which is then
    /// boosted as one that serves a chunk ([`Self::plan_batch_keyframe`]).
    moving_batches: BTreeSet<usize>,
    /// Each chunk's anchor boost as planned from its pictures ([`Self::plan_anchor`]); `None`:
    /// the job's.
    anchor_boosts: Vec<Option<u8>>,
    /// In the bitrate mode, the plan of each chunk's quality level ([`RatePlan`]).
    rate_plan: Option<RatePlan>,
    /// Chunks per group of the batches' long-term chains ([`Self::set_long_term_chunks`]);
    /// 0: none.
    long_term_chunks: usize,
    /// Whether each long-term group (by its first chunk) holds still enough for a link
    /// ([`Self::plan_long_term`]).
    long_term_still: BTreeMap<usize, bool>,
    /// In the bitrate mode, the costs of chunks measured but not yet in the plan: a chunk
    /// joins it once whether its group has a link is known, which sets its anchor's boost
    /// and whether it carries the link ([`Self::plan_rate`]).
    pending_rate: BTreeMap<usize, ChunkCost>,
    /// In the bitrate mode, the measured errors of each planned link's picture against the
    /// one it is coded from, and the macroblocks they stand for ([`Self::plan_link_size`]).
    link_errors: BTreeMap<usize, (Vec<u16>, usize)>,
}

impl ChunkGraph {
    /// An empty graph for chunks of `chunk_frames` (at least 1) in batches of `batch`.
    pub fn new(
        chunk_frames: usize,
        batch: Batch,
        format: PictureFormat,
        settings: EncodeSettings,
    ) -> ChunkGraph {
        let chunk_frames = chunk_frames.max(1);
        let rate_plan = Self::rate_plan(&settings, chunk_frames, batch, None);
        ChunkGraph {
            chunk_frames,
            batch,
            format,
            settings,
            pictures: Vec::new(),
            ended: false,
            encoded: Vec::new(),
            given: Vec::new(),
            rebased: Vec::new(),
            moving_batches: BTreeSet::new(),
            anchor_boosts: Vec::new(),
            rate_plan,
            long_term_chunks: 0,
            long_term_still: BTreeMap::new(),
            pending_rate: BTreeMap::new(),
            link_errors: BTreeMap::new(),
        }
    }

    /// Gives each batch a chain of long-term reference frames, one per group of `chunks`
    /// chunks (0: none): the group's first chunk carries a hidden frame of the group's last
    /// picture, coded from golden and altref alone, so that every chunk task can code the
    /// chain again and decide its frames against the golden and altref the final stream
    /// really has (`LongTermLink`). Only where batches hold several chunks, and not with an
    /// SSIM target (a chain frame needs a quality level).
    pub fn set_long_term_chunks(&mut self, chunks: usize) {
        let possible = self.batches_share_keyframes()
            && self.settings.altref_interval == 0
            && !matches!(self.settings.rate, RateSetting::TargetSsim(_));
        self.long_term_chunks = if possible { chunks } else { 0 };
    }

    /// The long-term group that picture `frame` lies in: its first chunk and the frame of
    /// its link's picture (the group's last); `None` without long-term chains.
    pub fn long_term_group_at(&self, frame: usize) -> Option<(usize, usize)> {
        let first = self.long_term_groups(self.chunk_of(frame)).last()?;
        Some((first, self.long_term_frame(first)))
    }

    /// Plans whether the long-term group that chunk `first` opens gets its link, from how
    /// still its pictures hold against the group's last (`holds_still`, as the serial
    /// encoder plans its altref groups): a pan or strong grain gets none, and its chunks'
    /// anchors refresh altref instead.
    pub fn plan_long_term(&mut self, first: usize, holds_still: bool) {
        self.long_term_still.insert(first, holds_still);
        self.flush_rate();
    }

    /// In the bitrate mode, sizes the link of the long-term group that chunk `first` opens,
    /// before it is planned ([`Self::plan_long_term`]): `errors` of its picture measured
    /// against the picture of the link before it (or the batch keyframe's), standing for
    /// `macroblocks` (see [`codec_core::encoder::size_model::planned_bits_by_level`]).
    pub fn plan_link_size(&mut self, first: usize, errors: Vec<u16>, macroblocks: usize) {
        if self.rate_plan.is_some() {
            self.link_errors.insert(first, (errors, macroblocks));
        }
    }

    /// Whether the long-term group of chunk `chunk` has its link; `None` while that is not
    /// known (its last picture not read, or not planned yet).
    fn group_has_link(&self, chunk: usize) -> Option<bool> {
        let first = self.long_term_groups(chunk).last()?;
        if self.long_term_frame(first) >= self.pictures.len() {
            return self.ended.then_some(false);
        }
        self.long_term_still.get(&first).copied()
    }

    /// The frame whose picture the long-term frame of the group that chunk `first` opens
    /// codes: the group's last, within the batch.
    fn long_term_frame(&self, first: usize) -> usize {
        let mut last = first + self.long_term_chunks - 1;
        if let Batch::Chunks(n) = self.batch {
            last = last.min(self.first_chunk_of_batch(first) + n.max(1) - 1);
        }
        (last + 1) * self.chunk_frames - 1
    }

    /// The chunks that open the long-term groups of chunk `chunk`'s batch, up to its own.
    fn long_term_groups(&self, chunk: usize) -> impl Iterator<Item = usize> + use<> {
        let step = self.long_term_chunks.max(1);
        let first = self.first_chunk_of_batch(chunk);
        let groups = if self.long_term_chunks == 0 {
            0
        } else {
            (chunk - first) / step + 1
        };
        (0..groups).map(move |group| first + group * step)
    }

    /// The long-term chain that chunk `chunk`'s encode holds; `None` while a picture it
    /// codes is not read yet or, in the bitrate mode, a group's level is not planned. A
    /// group whose last picture lies past the end of the video has no link.
    fn long_term_links(&self, chunk: usize) -> Option<Vec<LongTermLink>> {
        let mut links = Vec::new();
        // The batch keyframe is golden and altref at first.
        let mut holds_altref = true;
        for first in self.long_term_groups(chunk) {
            if !self.group_has_link(first)? {
                holds_altref = false;
                continue;
            }
            links.push(LongTermLink {
                chunk: u32::try_from(first).ok()?,
                picture: self.pictures[self.long_term_frame(first)],
                cq_level: match (&self.rate_plan, self.settings.rate) {
                    (Some(plan), _) => plan.level(first)?,
                    (None, RateSetting::CqLevel(level)) => level,
                    _ => return None,
                },
                from_altref: holds_altref,
            });
            holds_altref = true;
        }
        Some(links)
    }

    /// Whether chunk `chunk`'s encode waits for a picture of its long-term chain that the
    /// input has not given yet: the input must then be read on, however many encodes wait.
    pub fn awaits_pictures(&self, chunk: usize) -> bool {
        !self.ended
            && self
                .long_term_groups(chunk)
                .any(|first| self.long_term_frame(first) >= self.pictures.len())
    }

    /// The pictures of the long-term links before chunk `chunk`'s group, which its encode
    /// reads and its batch has held for it.
    pub fn long_term_claims(&self, chunk: usize) -> Vec<BlobId> {
        self.long_term_groups(chunk)
            .filter(|&first| self.long_term_frame(first) < chunk * self.chunk_frames)
            .filter(|&first| self.long_term_still.get(&first) == Some(&true))
            .filter_map(|first| self.pictures.get(self.long_term_frame(first)).copied())
            .collect()
    }

    /// The bitrate plan of a job with `settings`, if they set a bitrate.
    fn rate_plan(
        settings: &EncodeSettings,
        chunk_frames: usize,
        batch: Batch,
        expected_frames: Option<usize>,
    ) -> Option<RatePlan> {
        let RateSetting::TargetBitrate(kbps) = settings.rate else {
            return None;
        };
        let batch_chunks = match batch {
            Batch::Chunks(chunks) => Some(chunks),
            Batch::Whole => None,
        };
        Some(RatePlan::new(
            kbps,
            settings.frame_rate,
            chunk_frames,
            batch_chunks,
            expected_frames,
        ))
    }

    /// Tells the graph, before any picture, how many frames the video holds (where the input
    /// says): a bitrate plan spreads each batch's keyframe over the frames that follow it.
    pub fn expect_frames(&mut self, frames: Option<usize>) {
        if self.pictures.is_empty() {
            self.rate_plan = Self::rate_plan(&self.settings, self.chunk_frames, self.batch, frames);
        }
    }

    /// The graph of a whole video at once, and all its steps.
    #[cfg(test)]
    pub fn of_pictures(
        chunk_frames: usize,
        batch: Batch,
        format: PictureFormat,
        settings: EncodeSettings,
        pictures: &[BlobId],
    ) -> ChunkGraph {
        let mut graph = ChunkGraph::new(chunk_frames, batch, format, settings);
        for &picture in pictures {
            graph.add_picture(picture);
        }
        graph.end_input();
        graph
    }

    /// Adds the next picture of the video. Returns the steps of the chunk it completes, if it
    /// does.
    pub fn add_picture(&mut self, picture: BlobId) -> Vec<Step> {
        debug_assert!(!self.ended, "a picture after the end of the input");
        self.pictures.push(picture);
        if self.pictures.len().is_multiple_of(self.chunk_frames) {
            self.open_chunk()
        } else {
            Vec::new()
        }
    }

    /// The input has ended. Returns the steps of the short last chunk, if there is one.
    pub fn end_input(&mut self) -> Vec<Step> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        // Groups whose last picture never came have no link.
        self.flush_rate();
        if self.pictures.len().is_multiple_of(self.chunk_frames) {
            Vec::new()
        } else {
            self.open_chunk()
        }
    }

    /// Whether the input has ended.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Frames per chunk.
    pub fn chunk_frames(&self) -> usize {
        self.chunk_frames
    }

    /// Pictures added so far.
    pub fn frames(&self) -> usize {
        self.pictures.len()
    }

    /// A chunk's pictures are all in: its steps join the graph.
    fn open_chunk(&mut self) -> Vec<Step> {
        let chunk = self.encoded.len();
        self.encoded.push(None);
        self.given.push(None);
        self.rebased.push(None);
        self.anchor_boosts.push(None);
        if self.batch.first_in_batch(chunk) {
            vec![Step::Encode(chunk)]
        } else {
            vec![
                Step::Encode(chunk),
                Step::GivenState(chunk),
                Step::Rebase(chunk),
            ]
        }
    }

    /// Chunks whose pictures are all in.
    fn chunks(&self) -> usize {
        self.encoded.len()
    }

    /// The layout of the pictures added so far; the video's once the input has ended.
    pub fn layout(&self) -> Layout {
        Layout::new(self.pictures.len(), self.chunk_frames, self.batch)
    }

    /// The frames of chunk `chunk`, as far as they are in.
    pub fn frames_of(&self, chunk: usize) -> Range<usize> {
        let start = (chunk * self.chunk_frames).min(self.pictures.len());
        start..((chunk + 1) * self.chunk_frames).min(self.pictures.len())
    }

    /// The pictures of chunk `chunk`.
    pub fn pictures_of(&self, chunk: usize) -> &[BlobId] {
        &self.pictures[self.frames_of(chunk)]
    }

    /// Chunks whose first frame is a scene cut's keyframe, so that their rebase waits for no
    /// other: each starts a serial walk of its own.
    pub fn scene_cut_chunks(&self) -> BTreeSet<usize> {
        (0..self.chunks())
            .filter(|&chunk| self.given[chunk].is_some_and(|given| given.scene_cut))
            .collect()
    }

    /// What stands first in chunk `chunk` in the final stream.
    fn opening(&self, chunk: usize) -> Option<Opening> {
        Some(match self.key_picture(chunk) {
            None => Opening::Keyframe,
            Some(key_picture) => Opening::Anchor {
                key_picture,
                key_cq_level: match &self.rate_plan {
                    Some(plan) => Some(plan.level(self.first_chunk_of_batch(chunk))?),
                    None => None,
                },
            },
        })
    }

    /// Where picture `frame` lies in the first chunk of a batch whose keyframe later chunks
    /// share: the frame of that keyframe's picture, against which the chunk's other pictures
    /// are measured for [`Self::plan_batch_keyframe`].
    pub fn batch_keyframe_of(&self, frame: usize) -> Option<usize> {
        let chunk = self.chunk_of(frame);
        (self.batches_share_keyframes() && self.batch.first_in_batch(chunk))
            .then_some(chunk * self.chunk_frames)
    }

    /// Plans the keyframe of the batch that chunk `chunk` opens, before the chunk's steps
    /// run: if the chunk's other pictures hold still against it, as golden along the batch it
    /// keeps paying and gets the serial encoder's boost; if not, it serves about one chunk
    /// and gets [`CHUNK_KEYFRAME_BOOST`].
    pub fn plan_batch_keyframe(&mut self, chunk: usize, holds_still: bool) {
        let batch = self.batch_index(chunk);
        if holds_still {
            self.moving_batches.remove(&batch);
        } else {
            self.moving_batches.insert(batch);
        }
    }

    /// Whether chunk `chunk` opens its batch, with the batch's keyframe.
    pub fn opens_batch(&self, chunk: usize) -> bool {
        self.batch.first_in_batch(chunk)
    }

    /// The chunk that picture `frame` lies in.
    pub fn chunk_of(&self, frame: usize) -> usize {
        frame / self.chunk_frames
    }

    /// Whether picture `frame` lies in a chunk that an anchor frame opens, whose boost is
    /// planned from the chunk's pictures ([`Self::plan_anchor`]).
    pub fn in_anchored_chunk(&self, frame: usize) -> bool {
        !self.batch.first_in_batch(self.chunk_of(frame))
    }

    /// Plans the boost of chunk `chunk`'s anchor frame, before its steps run, from how well
    /// the chunk's pictures predict each other (`predictability`, the mean of
    /// [`codec_core::encoder::sequence::predictability`] over each picture after the first
    /// against the one before it): the job's where they predict well, none where they do not,
    /// so that what the anchor codes finely carries into the chunk's frames, and is not spent
    /// on grain that the next picture does not keep ([`anchor_boost`]).
    pub fn plan_anchor(&mut self, chunk: usize, predictability: f64) {
        if let Some(slot) = self.anchor_boosts.get_mut(chunk) {
            *slot = Some(anchor_boost(self.settings.anchor_boost, predictability));
        }
    }

    /// Whether the job's target is a bitrate, which the graph plans as a quality level per
    /// chunk ([`Self::plan_rate`]).
    pub fn plans_rate(&self) -> bool {
        self.rate_plan.is_some()
    }

    /// Records the planned cost of chunk `chunk`'s frames, measured from its pictures, before
    /// its steps run, for the plan of its quality level ([`RatePlan`]). Chunks come in order.
    /// Its keyframe's boost and its anchor's are planned first ([`Self::plan_batch_keyframe`],
    /// [`Self::plan_anchor`]).
    /// With long-term chains a chunk joins the plan once its group's link is planned.
    pub fn plan_rate(&mut self, chunk: usize, cost: ChunkCost) {
        if self.rate_plan.is_some() {
            self.pending_rate.insert(chunk, cost);
            self.flush_rate();
        }
    }

    /// Moves the chunks measured into the bitrate plan, in order, as far as whether their
    /// long-term groups have links is known: a linked group's anchors are plain and its
    /// first chunk carries the link's size.
    fn flush_rate(&mut self) {
        loop {
            let Some(next) = self.rate_plan.as_ref().map(RatePlan::chunks) else {
                return;
            };
            if !self.pending_rate.contains_key(&next) {
                return;
            }
            let linked = if self.long_term_chunks > 0 {
                match self.group_has_link(next) {
                    Some(linked) => linked,
                    None => return,
                }
            } else {
                false
            };
            let Some(mut cost) = self.pending_rate.remove(&next) else {
                return;
            };
            let boost = if self.batch.first_in_batch(next) {
                self.keyframe_boost_of(next)
            } else if linked {
                LONG_TERM_ANCHOR_BOOST
            } else {
                self.anchor_boosts
                    .get(next)
                    .copied()
                    .flatten()
                    .unwrap_or(self.settings.anchor_boost)
            };
            let group = self.long_term_groups(next).last();
            let link = match group {
                Some(first) if linked => {
                    if first == next
                        && let Some((errors, macroblocks)) = self.link_errors.remove(&next)
                    {
                        cost.add_link(&errors, macroblocks, ALTREF_BOOST);
                    }
                    let span = self.long_term_frame(first) + 1 - first * self.chunk_frames;
                    Some((first, span))
                }
                _ => None,
            };
            let key_chunk = self.first_chunk_of_batch(next);
            if let Some(plan) = &mut self.rate_plan {
                plan.add_chunk(next, key_chunk, cost, boost, link);
            }
        }
    }

    /// Takes what a successful `step` coded (its frames' sizes): the final frames of the
    /// bitrate plan's sample chunks (a batch's first chunk's encode, another chunk's rebase)
    /// calibrate the plan. Returns the steps that may have become ready by it: the encodes
    /// and given-state encodes of the chunks whose level waited for that.
    pub fn record_coded(&mut self, step: Step, coded: &[FrameFacts]) -> Vec<Step> {
        let chunk = step.chunk();
        let is_final = match step {
            Step::Encode(_) => self.batch.first_in_batch(chunk),
            Step::Rebase(_) => !self.batch.first_in_batch(chunk),
            Step::GivenState(_) => false,
        };
        let Some(plan) = &mut self.rate_plan else {
            return Vec::new();
        };
        if !is_final {
            return Vec::new();
        }
        let Some(from) = plan.record(chunk, coded) else {
            return Vec::new();
        };
        (from..self.chunks())
            .flat_map(|chunk| [Step::Encode(chunk), Step::GivenState(chunk)])
            .collect()
    }

    /// The settings of chunk `chunk`'s tasks: the job's, with its batch keyframe's boost,
    /// the smaller one where the keyframe serves about one chunk (a batch of one chunk, or
    /// one that moves), and in the bitrate mode the chunk's planned quality level; `None`
    /// while the plan has none for it.
    fn settings_of(&self, chunk: usize) -> Option<EncodeSettings> {
        let mut settings = self.settings.clone();
        settings.keyframe_boost = self.keyframe_boost_of(chunk);
        if let Some(plan) = &self.rate_plan {
            settings.rate = RateSetting::CqLevel(plan.level(chunk)?);
        }
        if self.long_term_chunks > 0 {
            settings.long_term_chain = self.group_has_link(chunk)?;
        }
        Some(settings)
    }

    /// The boost of chunk `chunk`'s batch keyframe: the job's, or the smaller one where the
    /// keyframe serves about one chunk (a batch of one chunk, or one that moves).
    /// The boost of a keyframe coded at a scene cut, inside a chunk or opening one.
    pub fn cut_keyframe_boost(&self) -> u8 {
        self.settings.keyframe_boost
    }

    fn keyframe_boost_of(&self, chunk: usize) -> u8 {
        let boost = self.settings.keyframe_boost;
        if !self.batches_share_keyframes() || self.moving_batches.contains(&self.batch_index(chunk))
        {
            boost.min(CHUNK_KEYFRAME_BOOST)
        } else {
            boost
        }
    }

    /// The format of the pictures.
    pub fn format(&self) -> PictureFormat {
        self.format
    }

    /// The batch that chunk `chunk` belongs to.
    pub fn batch_index(&self, chunk: usize) -> usize {
        match self.batch {
            Batch::Chunks(n) => chunk / n.max(1),
            Batch::Whole => 0,
        }
    }

    /// The picture of the keyframe that opens chunk `chunk`'s batch, for a chunk that does
    /// not open it.
    fn key_picture(&self, chunk: usize) -> Option<BlobId> {
        if self.batch.first_in_batch(chunk) {
            return None;
        }
        self.pictures
            .get(self.first_chunk_of_batch(chunk) * self.chunk_frames)
            .copied()
    }

    /// The chunk that opens chunk `chunk`'s batch.
    pub fn first_chunk_of_batch(&self, chunk: usize) -> usize {
        match self.batch {
            Batch::Chunks(n) => self.batch_index(chunk) * n.max(1),
            Batch::Whole => 0,
        }
    }

    /// Whether batches hold more than one chunk, so that later chunks read the picture of
    /// their batch's keyframe.
    fn batches_share_keyframes(&self) -> bool {
        self.batch != Batch::Chunks(1)
    }

    /// What chunk `chunk` joining the graph (its steps just returned by
    /// [`Self::add_picture`] or [`Self::end_input`]) changes among the readers of its batch
    /// keyframe's picture: its encode reads it, and when the chunk fills its batch, the
    /// batch lets go.
    pub fn key_picture_claims(&self, chunk: usize) -> KeyPictureClaims {
        let claim = self
            .key_picture(chunk)
            .map(|id| (id, Reader::Task(Step::Encode(chunk))));
        let release = (self.batches_share_keyframes() && self.batch.first_in_batch(chunk + 1))
            .then(|| Reader::Batch(self.batch_index(chunk)));
        KeyPictureClaims { claim, release }
    }

    /// Every step of the chunks whose pictures are in.
    #[cfg(test)]
    pub fn steps(&self) -> Vec<Step> {
        let chunks = self.chunks();
        let mut steps: Vec<Step> = (0..chunks).map(Step::Encode).collect();
        for chunk in (0..chunks).filter(|&c| !self.batch.first_in_batch(c)) {
            steps.push(Step::GivenState(chunk));
            steps.push(Step::Rebase(chunk));
        }
        steps
    }

    /// The task for `step` once every output it needs exists; `None` until then (and for a
    /// step that is not in the graph).
    pub fn task(&self, step: Step) -> Option<Task> {
        let chunk = step.chunk();
        if chunk >= self.chunks() {
            return None;
        }
        let frames = self.frames_of(chunk);
        let chunk_id = u32::try_from(chunk).ok()?;
        if !matches!(step, Step::Encode(_)) && self.batch.first_in_batch(chunk) {
            return None;
        }
        match step {
            Step::Encode(_) => Some(Task::EncodeChunk {
                chunk: chunk_id,
                format: self.format,
                settings: self.settings_of(chunk)?,
                opening: self.opening(chunk)?,
                frames: self.pictures[frames].to_vec(),
                long_term: self.long_term_links(chunk)?,
            }),
            Step::GivenState(_) => {
                let previous = self.encoded[chunk - 1]?;
                let mut settings = self.settings_of(chunk)?;
                if let Some(boost) = self.anchor_boosts[chunk] {
                    settings.anchor_boost = boost;
                }
                if settings.long_term_chain {
                    settings.anchor_boost = LONG_TERM_ANCHOR_BOOST;
                }
                Some(Task::EncodeGivenState {
                    chunk: chunk_id,
                    format: self.format,
                    settings,
                    state: previous.final_state,
                    frame: self.pictures[frames.start],
                })
            }
            Step::Rebase(_) => {
                let given = self.given[chunk]?;
                // A scene cut's keyframe needs no state, so the serial walk starts anew.
                let target = if given.scene_cut {
                    None
                } else if self.batch.first_in_batch(chunk - 1) {
                    Some(self.encoded[chunk - 1]?.final_state)
                } else {
                    Some(self.rebased[chunk - 1]?.final_state)
                };
                Some(Task::Rebase {
                    chunk: chunk_id,
                    format: self.format,
                    target,
                    first_frame: given.frame,
                    first_made_from: given.made_from,
                    original: self.encoded[chunk]?.stream,
                    frames: self.pictures[frames].to_vec(),
                })
            }
        }
    }

    /// Records the output of `step`; returns the steps that may have become ready by it.
    ///
    /// # Errors
    ///
    /// When the output is not of the step's kind, or the step already has one.
    pub fn complete(&mut self, step: Step, output: &TaskOutput) -> Result<Vec<Step>> {
        let chunk = step.chunk();
        if chunk >= self.chunks() {
            bail!("{} of chunk {chunk}: no such chunk", step.kind());
        }
        let slot_taken = match (step, output) {
            (
                Step::Encode(_),
                TaskOutput::EncodeChunk {
                    stream,
                    final_state,
                },
            ) => self.encoded[chunk]
                .replace(ChunkResult {
                    stream: *stream,
                    final_state: *final_state,
                })
                .is_some(),
            (
                Step::GivenState(_),
                TaskOutput::EncodeGivenState {
                    frame,
                    made_from,
                    scene_cut,
                },
            ) => self.given[chunk]
                .replace(GivenResult {
                    frame: *frame,
                    made_from: *made_from,
                    scene_cut: *scene_cut,
                })
                .is_some(),
            (
                Step::Rebase(_),
                TaskOutput::Rebase {
                    stream,
                    final_state,
                },
            ) => self.rebased[chunk]
                .replace(ChunkResult {
                    stream: *stream,
                    final_state: *final_state,
                })
                .is_some(),
            _ => bail!(
                "{} of chunk {chunk} returned the output of another kind of task",
                step.kind()
            ),
        };
        if slot_taken {
            bail!("{} of chunk {chunk} completed twice", step.kind());
        }
        let next = match step {
            Step::Encode(_) => vec![
                Step::GivenState(chunk + 1),
                Step::Rebase(chunk),
                Step::Rebase(chunk + 1),
            ],
            Step::GivenState(_) => vec![Step::Rebase(chunk)],
            Step::Rebase(_) => vec![Step::Rebase(chunk + 1)],
        };
        Ok(next
            .into_iter()
            .filter(|next| next.chunk() < self.chunks())
            .filter(|next| {
                matches!(next, Step::Encode(_)) || !self.batch.first_in_batch(next.chunk())
            })
            .collect())
    }

    /// Who reads picture `frame` (a frame index): its chunk's encode, re-encode (the first
    /// picture only) and rebase, and the output stream; a batch's first picture, its
    /// keyframe's, is also held for the batch's chunks to come
    /// ([`Self::key_picture_claims`]).
    pub fn picture_readers(&self, frame: usize) -> Vec<Reader> {
        let chunk = self.chunk_of(frame);
        let mut readers = vec![Reader::Task(Step::Encode(chunk)), Reader::Output(chunk)];
        if self.batches_share_keyframes()
            && self.batch.first_in_batch(chunk)
            && frame.is_multiple_of(self.chunk_frames)
        {
            readers.push(Reader::Batch(self.batch_index(chunk)));
        }
        if !self.batch.first_in_batch(chunk) {
            readers.push(Reader::Task(Step::Rebase(chunk)));
            if frame.is_multiple_of(self.chunk_frames) {
                readers.push(Reader::Task(Step::GivenState(chunk)));
            }
        }
        // A long-term frame's picture (its group planned before it joins): the encodes of
        // its group read it, and the batch holds it for the chunks after, which code the
        // chain again.
        if let Some(first) = self.long_term_groups(chunk).find(|&first| {
            self.long_term_frame(first) == frame && self.long_term_still.get(&first) == Some(&true)
        }) {
            readers.extend((first..chunk).map(|c| Reader::Task(Step::Encode(c))));
            if !self.batch.first_in_batch(chunk + 1) {
                readers.push(Reader::Batch(self.batch_index(chunk)));
            }
        }
        readers
    }

    /// Who reads each blob of `output`, the output of `step` (recorded with
    /// [`Self::complete`]). A blob no one reads is not worth keeping.
    pub fn output_readers(&self, step: Step, output: &TaskOutput) -> Vec<(BlobId, Vec<Reader>)> {
        let chunk = step.chunk();
        let next = chunk + 1;
        // Whether chunk `next` continues this batch (while the input lasts, it may yet).
        let next_continues =
            (!self.ended || next < self.chunks()) && !self.batch.first_in_batch(next);
        let stream_readers = |rebased: bool| {
            if rebased || self.batch.first_in_batch(chunk) {
                vec![Reader::Output(chunk)]
            } else {
                vec![Reader::Task(Step::Rebase(chunk))]
            }
        };
        match *output {
            TaskOutput::EncodeChunk {
                stream,
                final_state,
            } => {
                let mut state_readers = Vec::new();
                if next_continues {
                    state_readers.push(Reader::Task(Step::GivenState(next)));
                    if self.batch.first_in_batch(chunk) {
                        state_readers.push(Reader::Task(Step::Rebase(next)));
                    }
                }
                vec![
                    (stream, stream_readers(false)),
                    (final_state, state_readers),
                ]
            }
            TaskOutput::EncodeGivenState {
                frame, made_from, ..
            } => {
                let rebase = vec![Reader::Task(Step::Rebase(chunk))];
                vec![(frame, rebase.clone()), (made_from, rebase)]
            }
            TaskOutput::Rebase {
                stream,
                final_state,
            } => {
                let cut = self
                    .given
                    .get(next)
                    .copied()
                    .flatten()
                    .is_some_and(|given| given.scene_cut);
                let state_readers = if next_continues && !cut {
                    vec![Reader::Task(Step::Rebase(next))]
                } else {
                    Vec::new()
                };
                vec![(stream, stream_readers(true)), (final_state, state_readers)]
            }
        }
    }

    /// Readers that blobs were kept for while the input lasted, for chunks that turned out
    /// not to exist: the re-encode and rebase of the chunk after the last, and the last
    /// batch's chunks to come.
    pub fn readers_past_the_end(&self) -> [Reader; 3] {
        let past = self.chunks();
        [
            Reader::Task(Step::GivenState(past)),
            Reader::Task(Step::Rebase(past)),
            Reader::Batch(self.batch_index(past.saturating_sub(1))),
        ]
    }

    /// The stream of chunk `chunk` as it goes into the final stream, once it exists: the
    /// chunk's own encode when it opens its batch, its rebase otherwise.
    pub fn final_stream(&self, chunk: usize) -> Option<BlobId> {
        if chunk >= self.chunks() {
            return None;
        }
        let result = if self.batch.first_in_batch(chunk) {
            self.encoded[chunk]
        } else {
            self.rebased[chunk]
        };
        result.map(|result| result.stream)
    }

    /// The stream of every chunk, in order, as it goes into the final stream.
    ///
    /// # Errors
    ///
    /// When a task the final stream needs has not run.
    #[cfg(test)]
    pub fn final_streams(&self) -> Result<Vec<BlobId>> {
        (0..self.chunks())
            .map(|chunk| match self.final_stream(chunk) {
                Some(stream) => Ok(stream),
                None => bail!("chunk {chunk} has no final stream: its tasks did not all run"),
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "graph_tests.rs"]
mod tests;
