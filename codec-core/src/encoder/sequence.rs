//! The stateful driver around the pure [`encode`]: which frames are keyframes, which refresh
//! the golden reference, and which quantizer each frame gets.
//!
//! Because `encode` is pure, trying a frame costs only time: the driver encodes a picture as
//! an interframe and, if most macroblocks chose intra prediction, takes that as a scene cut
//! and encodes it again as a keyframe; in SSIM mode it tries several quantizers and keeps
//! only the state of the encode it chose.
//!
//! With a lookahead ([`SequenceEncoder::push`], [`SequenceConfig::altref_interval`]) the
//! driver codes the stream in groups: the group's last picture first, as a hidden frame at a
//! finer quantizer that refreshes only the altref reference, then the group's pictures in
//! order, each predicted from the past and from that future picture, and last the hidden
//! picture's own turn, an overlay that mostly copies the altref and makes it the golden
//! reference of the next group.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::decoder::FrameContext;
use crate::encoder::rate_control::{
    FrameKind, RateController, RateMode, SSIM_DEFAULT_SLOPE, SsimSearch, cq_level_to_quantizer,
};
use crate::encoder::rebase::{RebaseError, retoken};
use crate::encoder::{EncodeError, EncodeParams, EncodedFrame, ReferenceUpdate, encode};
use crate::metrics;
use crate::picture::{Picture, Plane};
use crate::state::DecoderState;

/// How a sequence is encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceConfig {
    pub rate: RateMode,
    /// Frames per second as (numerator, denominator), for the bitrate budget.
    pub frame_rate: (u32, u32),
    /// At most this many frames from one keyframe to the next; 0 = only the first frame and
    /// scene cuts.
    pub keyframe_interval: u32,
    /// Search effort passed to every encode: 0 (slowest, best) ..= 8 (fastest).
    pub speed: u8,
    /// log2 of the number of token partitions, 0 ..= 3.
    pub token_partitions_log2: u8,
    /// Refresh the golden reference every this many frames; 0 = only at keyframes.
    pub golden_interval: u32,
    /// Quantizer-index reduction for keyframes and golden frames in the constant-quality and
    /// SSIM modes: frames predicted from for a long time are worth coding better. (The
    /// bitrate mode gives them larger budgets instead.)
    pub golden_boost: u8,
    /// Quantizer index reduction for keyframes: every frame until the next keyframe is
    /// predicted from them, so their quality pays off many times.
    pub keyframe_boost: u8,
    /// Quantizer-index reduction for anchor frames ([`FrameKind::Anchor`]), the stand-ins
    /// for a pipeline chunk's keyframe, in the constant-quality and SSIM modes (the bitrate
    /// mode budgets them as golden frames).
    pub anchor_boost: u8,
    /// The first frame is a keyframe that an anchor frame will replace in the final stream
    /// (a pipeline chunk that does not open its batch), so its bits are thrown away and only
    /// its reconstruction counts, as the reference the chunk's other frames are decided
    /// against: it is coded finer ([`REPLACED_KEYFRAME_BOOST`]) in the constant-quality and
    /// SSIM modes. The bitrate mode codes it as any first keyframe.
    pub first_frame_replaced: bool,
    /// Code a picture as a keyframe when most of its macroblocks choose intra prediction.
    pub scene_cut_keyframes: bool,
    /// Quantizer-index reduction of a first keyframe that an anchor replaces
    /// (`first_frame_replaced`), in the constant-quality and SSIM modes.
    pub replaced_keyframe_boost: u8,
    /// Whether an anchor frame refreshes altref as well as last, as the keyframe it stands
    /// for did; `false` where a chain of long-term references ([`encode_long_term`]) holds
    /// golden and altref, which an anchor must then leave alone.
    pub anchor_refreshes_altref: bool,
    /// Pictures per altref group with [`SequenceEncoder::push`]: the encoder holds this many
    /// back, codes the group's last one ahead as a hidden altref frame, and refreshes golden
    /// with each group's overlay instead of every `golden_interval` frames. 0: no altref
    /// frames, every picture coded as it comes.
    pub altref_interval: u32,
    /// Quantizer-index reduction of altref frames in the constant-quality and SSIM modes.
    pub altref_boost: u8,
    /// A group gets its altref frame only when, on average over the group's other pictures,
    /// at least this percentage of their area could be copied from the group's last picture
    /// without motion ([`stillness`]); otherwise its pictures are coded as they come, with a
    /// golden frame every `golden_interval`. 0: every group gets one.
    pub altref_min_stillness: u8,
}

impl Default for SequenceConfig {
    fn default() -> Self {
        SequenceConfig {
            // Quantizer index 43: a middle quality, about what vpxenc reaches at ~1 bit per
            // 20 pixels on ordinary video.
            rate: RateMode::ConstantQuality { cq_level: 32 },
            frame_rate: (30, 1),
            keyframe_interval: 120,
            speed: EncodeParams::default().speed,
            token_partitions_log2: 0,
            golden_interval: 16,
            // On five clips of the test set in the constant-quality mode, 20 and 40 saved 9.3
            // points of BD-rate at equal SSIM and 3.9 at equal PSNR over 10 and 24 (a static
            // camera, a small crop, a synthetic zoom and a zoom gained; a pan lost 0.4 and
            // 2.0); 16 and 48 did worse than 20 and 40 (issue 14's notes).
            golden_boost: 20,
            keyframe_boost: 40,
            anchor_boost: ANCHOR_BOOST,
            first_frame_replaced: false,
            scene_cut_keyframes: true,
            replaced_keyframe_boost: REPLACED_KEYFRAME_BOOST,
            anchor_refreshes_altref: true,
            // Groups of 16, each given its altref frame only where it holds still enough
            // (`altref_min_stillness`): on five clips of the test set in the constant-quality
            // mode this saved 12.5 points of BD-rate at equal SSIM and 7.4 at equal PSNR (the
            // real clip at 360p 25 and 19, its small crop 28 and 16, a synthetic zoom 12 and
            // 5; a pan unchanged; a zoom lost 3.4 and 3.6). Altref frames in every group cost
            // a pan and a zoom 16 to 29 points instead (issue 14's notes).
            altref_interval: 16,
            altref_boost: ALTREF_BOOST,
            altref_min_stillness: ALTREF_MIN_STILLNESS,
        }
    }
}

/// The default [`SequenceConfig::altref_boost`]. With golden and altref searched at the
/// default speed, on five clips of the test set in the constant-quality mode, 32 saved 4.7
/// points of BD-rate at equal SSIM and 3.1 at equal PSNR over 20 (the real clip at 360p 2
/// and 3, its small crop 8 and 6, a synthetic zoom 15 and 8; a zoom lost 1.3 and 1.8); 40
/// saved 1.6 and 0.2 more on average, but lost 1 point on the real clip and 2 on the zoom
/// (issue 14's notes).
pub const ALTREF_BOOST: u8 = 32;

/// The default [`SequenceConfig::altref_min_stillness`]. Measured with groups of 16 on the
/// test set's clips, a pan and a zoom reach 1 to 8%, where an altref frame costs more than it
/// brings (issue 14's notes); the real clip at 360p, its small crop and a synthetic zoom 16
/// to 84%, where it pays.
pub const ALTREF_MIN_STILLNESS: u8 = 12;

/// Groups shorter than this get no altref frame: its bits would be shared by too few frames.
const MIN_ALTREF_GROUP: usize = 4;

/// Codes `picture` as a hidden long-term reference frame after `state`: it predicts only
/// from golden and altref (and within itself), never from last; the old altref moves to
/// golden and the frame becomes altref. So it decodes the same from every state whose golden
/// and altref are `state`'s, whatever their last picture: a pipeline codes a chain of them,
/// each from the one before, from its batch's keyframe on, and every chunk task can code
/// the chain again for itself and hold exactly the references the final stream will have
/// ([`SequenceEncoder::keep_long_term`], [`SequenceEncoder::splice`]). `quantizer` is the
/// frame's own (already boosted).
///
/// Without `from_altref` the frame predicts from golden alone and leaves golden as it is: it
/// decodes the same whatever the state's altref (a chunk's own anchor, where the chain held
/// no altref for a while).
///
/// # Errors
///
/// As [`encode`]; and [`EncodeError::SizeMismatch`] when `state` has no references of the
/// picture's size (a long-term frame is never a keyframe).
pub fn encode_long_term(
    state: &DecoderState,
    picture: &Picture,
    quantizer: u8,
    speed: u8,
    from_altref: bool,
) -> Result<EncodedFrame, EncodeError> {
    let size = state
        .size()
        .map(|size| (usize::from(size.width), usize::from(size.height)));
    if size != Some((picture.display_width, picture.display_height)) {
        return Err(EncodeError::SizeMismatch {
            state: size.unwrap_or((0, 0)),
            picture: (picture.display_width, picture.display_height),
        });
    }
    let params = EncodeParams {
        quantizer: quantizer.min(127),
        speed,
        references: ReferenceUpdate {
            last: false,
            golden: false,
            altref: true,
            golden_to_altref: false,
            altref_to_golden: from_altref,
        },
        show: false,
        predict_from_last: false,
        ..EncodeParams::default()
    };
    if from_altref {
        return encode(state, picture, &params);
    }
    // Altref as golden: the encoder searches one reference where both are the same picture.
    let mut golden_only = state.clone();
    if let Some(frame) = &mut golden_only.frame {
        frame.references.altref = Arc::clone(&frame.references.golden);
    }
    encode(&golden_only, picture, &params)
}

/// A picture the lookahead holds.
#[derive(Clone, Debug)]
struct Pending {
    /// Its index among the pictures pushed.
    index: u64,
    picture: Arc<Picture>,
    /// Whether it looks like the first picture of a new scene ([`looks_like_a_cut`]).
    cut_before: bool,
}

/// One frame of a sequence coded with a lookahead, in stream order.
#[derive(Clone, Debug)]
pub struct CodedFrame {
    pub frame: EncodedFrame,
    /// Which picture it codes: its index among the pictures pushed, from 0.
    pub source: u64,
    /// Whether a decoder shows it; a hidden frame codes a later picture ahead of its time.
    pub shown: bool,
}

/// The default [`SequenceConfig::anchor_boost`]. An anchor is the finest reference its
/// chunk's frames have (golden holds the batch's keyframe, further back), so it pays as an
/// altref frame does: on seven clips of the pipeline's test set, against the 10 anchors had
/// before, ExCamera[6,16] came 0.4 to 12 points of BD-rate closer to the serial encoder at
/// equal SSIM with 24 (the real clip at 360p 26.5 to 16.5, its small crop 38.3 to 26.0, a
/// synthetic zoom 30.8 to 22.8), and on the real clip 0.8 and 8.9 better than with 20 and
/// 32; strong grain lost 13, where a pipeline plans no boost (issue 10's notes).
pub const ANCHOR_BOOST: u8 = 24;

/// Quantizer-index reduction of a keyframe beyond [`SequenceConfig::keyframe_boost`] where
/// the pictures after it hold still ([`SequenceEncoder::holds_still_after`]), at most half
/// the quantizer left after that boost. On the test set in the constant-quality mode,
/// against vpxenc at equal SSIM and equal PSNR: the real clip at 360p 9.4 and 5.9 points of
/// BD-rate better, a small crop 6.7 and 3.1, spliced scenes 14.1 and 5.7, a synthetic zoom
/// 8.1 and 3.1, a static scene 2.1 and 0.5, strong grain 1.8 and -3.1 (lost); the real
/// clip at 720p lost 0.7 and 2.0; a pan and a zoom do not hold still. Without the cap (16
/// always) the 720p clip's keyframes at cq 39 went from q17 to q1, 96 to 222 KB, and it
/// lost 9 and 11 points (issue 14's notes).
pub const STILL_KEYFRAME_BOOST: u8 = 16;

/// Quantizer-index reduction of a pipeline chunk's keyframe that an anchor frame
/// ([`FrameKind::Anchor`]) replaces. The chunk's frames are decided against it and then
/// rebased onto the anchor, so it must be about as good a reference as the anchor: an
/// interframe at a quantizer keeps far more of the past's
/// detail than a keyframe at the same quantizer (on real 360p footage at cq 36, 38.0 dB
/// against 35.6 dB at quantizer 45). Its bits are thrown away, so only quality counts: on
/// four clips of the pipeline's test set, a reduction of 10 (the anchor's) left
/// ExCamera[6,16] 2 to 10% behind the serial encoder, 24 (a batch keyframe's) 1 to 6%
/// and 32 about 1% better again, with little further from 40.
pub const REPLACED_KEYFRAME_BOOST: u8 = 32;

/// Share of intra macroblocks in an interframe above which the picture is taken as a scene
/// cut and coded as a keyframe (which also resets the golden and altref references).
const SCENE_CUT_INTRA_PERCENT: usize = 70;

/// At most this many encodes per frame when searching a quantizer for an SSIM target (not
/// counting a scene cut's discarded interframe, a golden frame's boosted encode, or the
/// encode at quantizer 0 when no try reached the target).
const MAX_SSIM_ENCODES: u32 = 5;

/// Encodes a sequence of pictures, one call per picture, carrying the decoder state and the
/// rate-control memory from frame to frame.
#[derive(Clone, Debug)]
pub struct SequenceEncoder {
    config: SequenceConfig,
    state: DecoderState,
    frames_encoded: u64,
    /// Frames coded since the last keyframe, and since the last golden refresh (or keyframe).
    since_key: u64,
    since_golden: u64,
    rate: Option<RateController>,
    /// The quantizer the last SSIM search settled on (before any golden boost): where the
    /// next search starts, since neighbouring frames need similar quantizers.
    last_ssim_quantizer: Option<u8>,
    /// SSIM dB per quantizer step that recent SSIM searches measured.
    ssim_slope: f64,
    /// Pictures pushed and not yet coded, with their indices.
    pending: VecDeque<Pending>,
    pushed: u64,
    /// Shown frames left in the current altref group, the last of them its overlay; 0 when
    /// no group is under way.
    group_left: usize,
    /// Pictures left to code as they come because their group was found not to pay for an
    /// altref frame; the next group is planned after them.
    plain_left: usize,
    /// The golden reference, and perhaps the altref, to hold after the next keyframe instead
    /// of the keyframe itself ([`SequenceEncoder::keep_golden`],
    /// [`SequenceEncoder::keep_long_term`]).
    kept_golden: Option<(Arc<Picture>, Option<Arc<Picture>>)>,
}

impl SequenceEncoder {
    /// A sequence that starts from nothing: its first frame is a keyframe.
    pub fn new(config: SequenceConfig) -> Self {
        SequenceEncoder::from_state(DecoderState::new(), config)
    }

    /// A sequence that continues after someone else's frames: its first frame is an
    /// interframe predicted from `state` when the picture size matches the state's.
    pub fn from_state(state: DecoderState, config: SequenceConfig) -> Self {
        let rate = match config.rate {
            RateMode::TargetBitrate { kbps } => Some(RateController::new(kbps, config.frame_rate)),
            _ => None,
        };
        SequenceEncoder {
            config,
            state,
            frames_encoded: 0,
            since_key: 0,
            since_golden: 0,
            rate,
            last_ssim_quantizer: None,
            ssim_slope: SSIM_DEFAULT_SLOPE,
            pending: VecDeque::new(),
            pushed: 0,
            group_left: 0,
            plain_left: 0,
            kept_golden: None,
        }
    }

    /// Holds `golden` as the golden reference after the next keyframe, instead of the
    /// keyframe itself; ignored if its size is not the keyframe's. A pipeline chunk whose
    /// keyframe an anchor frame ([`FrameKind::Anchor`]) replaces is decided against the
    /// references the final stream will have there: the anchor refreshes last and altref,
    /// and golden holds the batch's keyframe, which any task can code again exactly from its
    /// picture. The frame returned for the keyframe carries the state it makes, golden
    /// included; [`SequenceEncoder::state`] holds `golden`.
    pub fn keep_golden(&mut self, golden: Arc<Picture>) {
        self.kept_golden = Some((golden, None));
    }

    /// Holds `golden` and `altref` as the long-term references after the next keyframe,
    /// instead of the keyframe itself; ignored if their size is not the keyframe's. A
    /// pipeline chunk in a chain of long-term references ([`encode_long_term`]) is decided
    /// against the golden and altref the final stream has there, which any task can code
    /// again exactly; only last (the keyframe, in the final stream the anchor) differs.
    pub fn keep_long_term(&mut self, golden: Arc<Picture>, altref: Arc<Picture>) {
        self.kept_golden = Some((golden, Some(altref)));
    }

    /// Puts `frame`, a frame made against a state whose context is `made_from`, into the
    /// sequence as its next frame, every decision and coefficient kept ([`retoken`]): a
    /// long-term reference frame that [`encode_long_term`] coded from the same golden and
    /// altref as this sequence holds decodes here exactly as it was made. Returns the frame
    /// as it is coded in this sequence.
    ///
    /// # Errors
    ///
    /// As [`retoken`]; the sequence's state is unchanged on error.
    pub fn splice(
        &mut self,
        frame: &[u8],
        made_from: &FrameContext,
    ) -> Result<EncodedFrame, RebaseError> {
        let spliced = retoken(&self.state, frame, made_from)?;
        self.state = spliced.state.clone();
        self.frames_encoded += 1;
        Ok(spliced)
    }

    /// The decoder state after the frames encoded so far.
    pub fn state(&self) -> &DecoderState {
        &self.state
    }

    pub fn frames_encoded(&self) -> u64 {
        self.frames_encoded
    }

    pub fn config(&self) -> &SequenceConfig {
        &self.config
    }

    /// Queues the next picture and codes what the lookahead allows: the frames made, in
    /// stream order (none while the lookahead fills; a hidden altref frame and the pictures
    /// of its group at once when a group is planned). [`finish`](Self::finish) codes the
    /// pictures still held.
    ///
    /// # Errors
    ///
    /// As [`SequenceEncoder::encode_next`]; the pictures not yet coded stay queued.
    pub fn push(&mut self, picture: Arc<Picture>) -> Result<Vec<CodedFrame>, EncodeError> {
        // Only pictures held for a group need the look for cuts.
        let cut_before = self.config.altref_interval > 0
            && self
                .pending
                .back()
                .is_some_and(|before| looks_like_a_cut(&before.picture, &picture));
        self.pending.push_back(Pending {
            index: self.pushed,
            picture,
            cut_before,
        });
        self.pushed += 1;
        let mut out = Vec::new();
        while self.group_left > 0 && !self.pending.is_empty()
            || self.pending.len() > self.config.altref_interval as usize
        {
            self.step(&mut out)?;
        }
        Ok(out)
    }

    /// Codes the pictures the lookahead still holds.
    ///
    /// # Errors
    ///
    /// As [`SequenceEncoder::push`].
    pub fn finish(&mut self) -> Result<Vec<CodedFrame>, EncodeError> {
        let mut out = Vec::new();
        while !self.pending.is_empty() {
            self.step(&mut out)?;
        }
        Ok(out)
    }

    /// Pictures pushed and not yet coded.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Codes the next frame of the stream from the queue: a frame of the group under way, a
    /// new group's altref frame, or a picture outside any group.
    fn step(&mut self, out: &mut Vec<CodedFrame>) -> Result<(), EncodeError> {
        let Some(Pending {
            index,
            picture,
            cut_before,
        }) = self.pending.front().cloned()
        else {
            return Ok(());
        };
        let kind = if self.group_left > 0 {
            if self.group_left == 1 {
                FrameKind::Overlay
            } else {
                FrameKind::Inter
            }
        } else {
            let planned = self.planned_kind(&picture);
            let group = self.group_length();
            // A picture after a cut is coded first on its own, so that the scene-cut test
            // can make it a keyframe before a group plans around it.
            let possible = self.plain_left == 0
                && !cut_before
                && planned != FrameKind::Key
                && group >= MIN_ALTREF_GROUP;
            if possible && !self.altref_pays(group) {
                self.plain_left = group;
            } else if possible {
                let ahead = self.pending[group - 1].clone();
                if let Some(rate) = &mut self.rate {
                    rate.begin_group(group, self.config.altref_boost);
                }
                let (frame, _) = self.code(&ahead.picture, FrameKind::AltRef)?;
                self.group_left = group;
                out.push(CodedFrame {
                    frame,
                    source: ahead.index,
                    shown: false,
                });
                return Ok(());
            }
            planned
        };
        let (frame, coded) = self.code(&picture, kind)?;
        if self.group_left == 0 {
            self.plain_left = self.plain_left.saturating_sub(1);
        }
        // A scene cut ends the group: its references belong to the old scene.
        self.group_left = match coded {
            FrameKind::Key => 0,
            _ => self.group_left.saturating_sub(1),
        };
        self.pending.pop_front();
        out.push(CodedFrame {
            frame,
            source: index,
            shown: true,
        });
        Ok(())
    }

    /// Whether the group of the queue's first `group` pictures is still enough to pay for
    /// an altref frame ([`SequenceConfig::altref_min_stillness`]).
    fn altref_pays(&self, group: usize) -> bool {
        let least = u32::from(self.config.altref_min_stillness);
        if least == 0 {
            return true;
        }
        let ahead = &self.pending[group - 1].picture;
        holds_still(
            ahead,
            self.pending.iter().take(group - 1).map(|p| &*p.picture),
            group - 1,
            least,
        )
    }

    /// Pictures in the next altref group: up to the interval, the queue's length, and the
    /// frame before the next scheduled keyframe.
    fn group_length(&self) -> usize {
        let mut length = (self.config.altref_interval as usize).min(self.pending.len());
        // A group never spans a cut: its altref picture would belong to the next scene.
        if let Some(cut) = self.pending.iter().skip(1).position(|p| p.cut_before) {
            length = length.min(cut + 1);
        }
        let key_interval = u64::from(self.config.keyframe_interval);
        if key_interval > 0 {
            // The queue's first picture is `since_key + 1` frames after the last keyframe.
            let before_key = key_interval.saturating_sub(self.since_key + 1);
            length = length.min(usize::try_from(before_key).unwrap_or(usize::MAX));
        }
        length
    }

    /// Encodes the next picture of the sequence and moves the sequence's state past it.
    ///
    /// # Errors
    ///
    /// An SSIM target outside 0 < S <= 1, and whatever [`encode`] reports (an invalid
    /// picture size or parameter); the sequence's state is unchanged on error.
    pub fn encode_next(&mut self, picture: &Picture) -> Result<EncodedFrame, EncodeError> {
        let kind = self.planned_kind(picture);
        self.encode_next_as(picture, kind)
    }

    /// Encodes the next picture as `kind` instead of what the schedule plans, e.g. an
    /// anchor frame where a chunked encode starts a chunk from another chunk's state. A
    /// keyframe is still made when the state cannot predict the picture, and a scene cut
    /// may still turn an interframe into a keyframe (see
    /// [`SequenceConfig::scene_cut_keyframes`]).
    ///
    /// # Errors
    ///
    /// As [`SequenceEncoder::encode_next`].
    pub fn encode_next_as(
        &mut self,
        picture: &Picture,
        kind: FrameKind,
    ) -> Result<EncodedFrame, EncodeError> {
        self.code(picture, kind).map(|(frame, _)| frame)
    }

    /// Codes `picture` as `kind` (or a keyframe, as [`encode_next_as`](Self::encode_next_as)
    /// says) and moves the state past it; returns the frame and the kind it became.
    fn code(
        &mut self,
        picture: &Picture,
        kind: FrameKind,
    ) -> Result<(EncodedFrame, FrameKind), EncodeError> {
        let kind = if self.can_predict(picture) {
            kind
        } else {
            FrameKind::Key
        };
        let (frame, kind) = match self.config.rate {
            RateMode::ConstantQuality { cq_level } => {
                self.encode_constant_quality(picture, kind, cq_level_to_quantizer(cq_level))?
            }
            RateMode::TargetSsim { ssim } => {
                if !(ssim > 0.0 && ssim <= 1.0) {
                    return Err(EncodeError::InvalidParameter(alloc::format!(
                        "SSIM target {ssim} is outside 0 < S <= 1"
                    )));
                }
                self.encode_target_ssim(picture, kind, ssim)?
            }
            RateMode::TargetBitrate { .. } => self.encode_target_bitrate(picture, kind)?,
        };
        self.state = frame.state.clone();
        if kind == FrameKind::Key
            && let Some((golden, altref)) = self.kept_golden.take()
            && let Some(frame) = &mut self.state.frame
            && (golden.display_width, golden.display_height)
                == (
                    usize::from(frame.size.width),
                    usize::from(frame.size.height),
                )
        {
            frame.references.golden = golden;
            if let Some(altref) = altref.filter(|altref| {
                (altref.display_width, altref.display_height)
                    == (
                        usize::from(frame.size.width),
                        usize::from(frame.size.height),
                    )
            }) {
                frame.references.altref = altref;
            }
        }
        self.frames_encoded += 1;
        match kind {
            FrameKind::Key => {
                self.since_key = 0;
                self.since_golden = 0;
            }
            FrameKind::Golden | FrameKind::Anchor => {
                self.since_key += 1;
                self.since_golden = 0;
            }
            FrameKind::Overlay => {
                self.since_key += 1;
                self.since_golden = 0;
            }
            // A hidden frame takes no place in display order.
            FrameKind::AltRef => {}
            FrameKind::Inter => {
                self.since_key += 1;
                self.since_golden += 1;
            }
        }
        Ok((frame, kind))
    }

    /// What the schedule makes of the next picture, before any scene-cut check.
    fn planned_kind(&self, picture: &Picture) -> FrameKind {
        let size_matches = self.can_predict(picture);
        let key_interval = u64::from(self.config.keyframe_interval);
        let golden_interval = u64::from(self.config.golden_interval);
        if !size_matches || (key_interval > 0 && self.since_key + 1 >= key_interval) {
            FrameKind::Key
        } else if golden_interval > 0 && self.since_golden + 1 >= golden_interval {
            // (Inside an altref group the group decides; its overlay refreshes golden.)
            FrameKind::Golden
        } else {
            FrameKind::Inter
        }
    }

    /// Whether the state holds references of the picture's size.
    fn can_predict(&self, picture: &Picture) -> bool {
        self.state.size().is_some_and(|size| {
            (usize::from(size.width), usize::from(size.height))
                == (picture.display_width, picture.display_height)
        })
    }

    /// Whether this interframe encode (`kind`) should be redone as a keyframe; a hidden
    /// frame never is.
    fn is_scene_cut(&self, frame: &EncodedFrame, kind: FrameKind) -> bool {
        self.config.scene_cut_keyframes
            && !matches!(kind, FrameKind::Key | FrameKind::AltRef)
            && is_scene_cut(frame)
    }

    /// Whether the next frame, if a keyframe, is the one an anchor will replace.
    fn replaced(&self) -> bool {
        self.config.first_frame_replaced && self.frames_encoded == 0
    }

    fn params(&self, quantizer: u8, kind: FrameKind) -> EncodeParams {
        let references = match kind {
            // The old golden moves to altref, so the encoder can predict from the newest
            // picture, a recent sharp one, and an older sharp one.
            FrameKind::Golden => ReferenceUpdate {
                last: true,
                golden: true,
                altref: false,
                golden_to_altref: true,
                altref_to_golden: false,
            },
            // A keyframe's stand-in leaves last and altref as the keyframe would have; golden
            // keeps the batch keyframe, as the chunk's own encode did (`keep_golden`).
            FrameKind::Anchor => ReferenceUpdate {
                last: true,
                golden: false,
                altref: self.config.anchor_refreshes_altref,
                golden_to_altref: false,
                altref_to_golden: false,
            },
            FrameKind::AltRef => ReferenceUpdate {
                last: false,
                golden: false,
                altref: true,
                golden_to_altref: false,
                altref_to_golden: false,
            },
            // The overlay's picture is the altref's: as golden it serves the next group.
            FrameKind::Overlay => ReferenceUpdate {
                last: true,
                golden: true,
                altref: false,
                golden_to_altref: false,
                altref_to_golden: false,
            },
            FrameKind::Key | FrameKind::Inter => ReferenceUpdate::default(),
        };
        EncodeParams {
            quantizer: quantizer.min(127),
            keyframe: kind == FrameKind::Key,
            speed: self.config.speed,
            token_partitions_log2: self.config.token_partitions_log2,
            references,
            show: kind != FrameKind::AltRef,
            // Inside a group, before its overlay, the altref lies ahead.
            sign_bias_altref: kind == FrameKind::Inter && self.group_left > 1,
            ..EncodeParams::default()
        }
    }

    fn encode_as(
        &self,
        picture: &Picture,
        quantizer: u8,
        kind: FrameKind,
    ) -> Result<EncodedFrame, EncodeError> {
        encode(&self.state, picture, &self.params(quantizer, kind))
    }

    /// The boosted quantizer of frames that are predicted from for long.
    fn boosted(&self, picture: &Picture, quantizer: u8, kind: FrameKind) -> u8 {
        match kind {
            FrameKind::Key if self.replaced() => {
                quantizer.saturating_sub(self.config.replaced_keyframe_boost)
            }
            FrameKind::Key if self.holds_still_after(picture) => {
                let boosted = quantizer.saturating_sub(self.config.keyframe_boost);
                boosted - STILL_KEYFRAME_BOOST.min(boosted / 2)
            }
            FrameKind::Key => quantizer.saturating_sub(self.config.keyframe_boost),
            FrameKind::Golden => quantizer.saturating_sub(self.config.golden_boost),
            FrameKind::Anchor => quantizer.saturating_sub(self.config.anchor_boost),
            FrameKind::AltRef => quantizer.saturating_sub(self.config.altref_boost),
            FrameKind::Inter | FrameKind::Overlay => quantizer,
        }
    }

    /// Whether the pictures the lookahead holds after `picture` (the queue's first, about to
    /// be coded) could be copied from it without motion over at least
    /// [`SequenceConfig::altref_min_stillness`] percent of their area on average: its content
    /// stays in view, so what a keyframe spends on it keeps paying.
    fn holds_still_after(&self, picture: &Picture) -> bool {
        let Some(first) = self.pending.front() else {
            return false;
        };
        let ahead = self
            .pending
            .len()
            .min(self.config.altref_interval as usize)
            .saturating_sub(1);
        if !core::ptr::eq(&*first.picture, picture) || ahead + 1 < MIN_ALTREF_GROUP {
            return false;
        }
        // Pictures past a cut count as not still at all.
        let before_cut = self
            .pending
            .iter()
            .skip(1)
            .take(ahead)
            .take_while(|p| !p.cut_before);
        let least = u32::from(self.config.altref_min_stillness.max(1));
        holds_still(picture, before_cut.map(|p| &*p.picture), ahead, least)
    }

    fn encode_constant_quality(
        &self,
        picture: &Picture,
        kind: FrameKind,
        quantizer: u8,
    ) -> Result<(EncodedFrame, FrameKind), EncodeError> {
        let frame = self.encode_as(picture, self.boosted(picture, quantizer, kind), kind)?;
        if self.is_scene_cut(&frame, kind) {
            let key = self.encode_as(
                picture,
                self.boosted(picture, quantizer, FrameKind::Key),
                FrameKind::Key,
            )?;
            return Ok((key, FrameKind::Key));
        }
        Ok((frame, kind))
    }

    fn encode_target_bitrate(
        &mut self,
        picture: &Picture,
        kind: FrameKind,
    ) -> Result<(EncodedFrame, FrameKind), EncodeError> {
        // Work on a copy, so that an error leaves the controller as it was.
        let Some(mut rate) = self.rate.clone() else {
            return Err(EncodeError::InvalidParameter(
                "bitrate mode without a rate controller".into(),
            ));
        };
        let result = self.encode_with_controller(picture, kind, &mut rate)?;
        self.rate = Some(rate);
        Ok(result)
    }

    fn encode_with_controller(
        &self,
        picture: &Picture,
        mut kind: FrameKind,
        rate: &mut RateController,
    ) -> Result<(EncodedFrame, FrameKind), EncodeError> {
        let mut hint = self.complexity(picture, kind);
        let mut quantizer = rate.quantizer_for(kind, hint);
        let mut frame = self.encode_as(picture, quantizer, kind)?;
        if self.is_scene_cut(&frame, kind) {
            kind = FrameKind::Key;
            hint = self.complexity(picture, kind);
            quantizer = rate.quantizer_for(kind, hint);
            frame = self.encode_as(picture, quantizer, kind)?;
        }
        // The first keyframe's and golden frame's quantizers are guesses: learn from them
        // and, when a guess was far off, encode again at the quantizer the model now gives.
        if kind != FrameKind::Inter && !rate.is_calibrated(kind) {
            rate.calibrate_with_complexity(kind, quantizer, frame.data.len(), hint);
            let better = rate.quantizer_for(kind, hint);
            if better.abs_diff(quantizer) > 2 {
                quantizer = better;
                frame = self.encode_as(picture, quantizer, kind)?;
            }
        }
        rate.update_with_complexity(kind, quantizer, frame.data.len(), hint);
        Ok((frame, kind))
    }

    /// A measure of how many bits the picture will need as `kind`, for the rate model:
    /// the luma difference from the last reference for interframes, the luma gradients for
    /// keyframes.
    fn complexity(&self, picture: &Picture, kind: FrameKind) -> Option<u64> {
        let (w, h) = (picture.display_width, picture.display_height);
        match (kind, self.state.references()) {
            (FrameKind::Key, _) => Some(spatial_activity(&picture.y, w, h)),
            (_, Some(references)) => {
                Some(temporal_difference(&picture.y, &references.last.y, w, h))
            }
            (_, None) => None,
        }
    }

    fn encode_target_ssim(
        &mut self,
        picture: &Picture,
        kind: FrameKind,
        target: f64,
    ) -> Result<(EncodedFrame, FrameKind), EncodeError> {
        let start = self
            .last_ssim_quantizer
            .unwrap_or_else(|| cq_level_to_quantizer(32));
        let mut search = SsimSearch::new(target, self.ssim_slope);
        let (frame, kind, found) = self.search_ssim(picture, kind, &mut search, start)?;
        let boosted = self.boosted(picture, found, kind);
        let mut chosen = frame;
        if boosted != found {
            let better = self.encode_as(picture, boosted, kind)?;
            // A finer quantizer nearly always keeps the target, but not by construction.
            if metrics::ssim(picture, &better.picture) >= target {
                chosen = better;
            }
        }
        self.last_ssim_quantizer = Some(found);
        if let Some(slope) = search.local_slope() {
            self.ssim_slope += 0.5 * (slope - self.ssim_slope);
        }
        Ok((chosen, kind))
    }

    /// Runs `search` from `start`: returns the chosen encode, its kind (a scene cut turns an
    /// interframe into a keyframe) and its quantizer. When no quantizer tried reaches the
    /// target, the encode at quantizer 0.
    fn search_ssim(
        &self,
        picture: &Picture,
        mut kind: FrameKind,
        search: &mut SsimSearch,
        start: u8,
    ) -> Result<(EncodedFrame, FrameKind, u8), EncodeError> {
        let mut passing: Option<(u8, EncodedFrame)> = None;
        let mut at_zero: Option<EncodedFrame> = None;
        let mut next = Some(start.min(127));
        let mut attempts = 0;
        while let Some(quantizer) = next {
            let mut frame = self.encode_as(picture, quantizer, kind)?;
            if attempts == 0 && self.is_scene_cut(&frame, kind) {
                kind = FrameKind::Key;
                frame = self.encode_as(picture, quantizer, kind)?;
            }
            attempts += 1;
            let ssim = metrics::ssim(picture, &frame.picture);
            search.record(quantizer, ssim);
            if ssim >= search.target() {
                if passing.as_ref().is_none_or(|(q, _)| quantizer > *q) {
                    passing = Some((quantizer, frame));
                }
            } else if quantizer == 0 {
                at_zero = Some(frame);
            }
            next = search.next(MAX_SSIM_ENCODES.saturating_sub(attempts));
        }
        if let Some((q, frame)) = passing {
            return Ok((frame, kind, q));
        }
        match at_zero {
            Some(frame) => Ok((frame, kind, 0)),
            None => Ok((self.encode_as(picture, 0, kind)?, kind, 0)),
        }
    }
}

/// Whether `pictures` could be copied from `reference` without motion over at least `least`
/// percent of their area on average over `count` pictures (those missing count as moving).
fn holds_still<'a>(
    reference: &Picture,
    pictures: impl Iterator<Item = &'a Picture>,
    count: usize,
    least: u32,
) -> bool {
    let total: f64 = pictures.map(|p| stillness(reference, p)).sum();
    total * 100.0 >= f64::from(least) * count as f64
}

/// Whether an interframe coded most macroblocks with intra prediction: the picture has
/// little to do with the references, so a keyframe costs about the same and gives the
/// frames after it a clean start.
fn is_scene_cut(frame: &EncodedFrame) -> bool {
    let stats = &frame.stats;
    !stats.key_frame
        && stats.macroblocks > 0
        && stats.intra_macroblocks * 100 > stats.macroblocks * SCENE_CUT_INTRA_PERCENT
}

/// Share of a picture's macroblocks, in percent, that must find a better match in the
/// picture before than in their own mean for [`looks_like_a_cut`] to see one scene.
const CUT_INTER_PERCENT: usize = 40;

/// Whether `picture` looks like the start of a new scene after `before`, cheaply, from the
/// pictures alone: fewer than [`CUT_INTER_PERCENT`] percent of its whole luma macroblocks
/// match some block of `before` at least as well as they match their own mean
/// ([`GridMatch`]). A false cut only shortens an altref group; keyframes are still decided
/// by coding ([`SequenceConfig::scene_cut_keyframes`]).
pub fn looks_like_a_cut(before: &Picture, picture: &Picture) -> bool {
    if (before.display_width, before.display_height)
        != (picture.display_width, picture.display_height)
    {
        return true;
    }
    let (cols, rows) = (picture.display_width / 16, picture.display_height / 16);
    if cols == 0 || rows == 0 {
        return false;
    }
    let mut matched = 0;
    for row in 0..rows {
        for col in 0..cols {
            // The search stops as soon as some position matches: only that is counted.
            let found = GridMatch::search(before, picture, col * 16, row * 16, true);
            matched += usize::from(found.best <= found.own);
        }
    }
    matched * 100 < cols * rows * CUT_INTER_PERCENT
}

/// How well `picture` is predicted from `before` with motion, from 0 to 1: per whole luma
/// macroblock, one less the ratio of its best match's difference to its own activity
/// ([`GridMatch`]), floored at 0; the mean over half the macroblocks, those of one colour
/// of a checkerboard (a pipeline's scheduler measures every picture, so it is kept cheap:
/// about 1 ms for a 640x360 picture here). What a finely coded picture spends carries into
/// the pictures after it only where they predict from it: footage still or moving smoothly
/// reaches 0.5 to 0.95 per chunk on the test set, strong temporal grain 0.3. Pictures of
/// different sizes share nothing. A pipeline plans its anchor frames' boost with it.
pub fn predictability(before: &Picture, picture: &Picture) -> f64 {
    predict(before, picture).predictability
}

/// What a cheap look at `picture` against the picture `before` it tells of its coding, on
/// the macroblocks [`predictability`] measures.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// [`predictability`].
    pub predictability: f64,
    /// Per macroblock measured, what an interframe has left to code: the absolute luma
    /// error of the cheaper of its best motion match and its own mean, summed over
    /// [`GridMatch`]'s 64 samples ([`rate_control::planned_frame_bits`] sizes a frame from
    /// these). For pictures of different sizes, [`intra_errors`].
    ///
    /// [`rate_control::planned_frame_bits`]: crate::encoder::rate_control::planned_frame_bits
    pub errors: Vec<u16>,
}

/// [`predictability`] and the coding errors of `picture` after `before`, from one search.
pub fn predict(before: &Picture, picture: &Picture) -> Prediction {
    let Some((cols, rows)) = shared_macroblocks(before, picture) else {
        return Prediction {
            predictability: 0.0,
            errors: intra_errors(picture),
        };
    };
    let mut total = 0.0;
    let mut errors = Vec::with_capacity(cols * rows / 2 + 1);
    for row in 0..rows {
        for col in (row % 2..cols).step_by(2) {
            let found = GridMatch::search(before, picture, col * 16, row * 16, false);
            total += (1.0 - f64::from(found.best) / f64::from(found.own)).max(0.0);
            errors.push(grid_error(found.best.min(found.own - GRID_SAMPLES)));
        }
    }
    // At least one: the first row's first macroblock.
    Prediction {
        predictability: total / errors.len() as f64,
        errors,
    }
}

/// Per macroblock that [`predictability`] measures, what a keyframe has to code: the
/// absolute deviation of the luma from the macroblock's mean, over [`GridMatch`]'s 64
/// samples, in the unit of [`Prediction::errors`]. Empty for a picture without a whole
/// macroblock.
pub fn intra_errors(picture: &Picture) -> Vec<u16> {
    let (cols, rows) = (picture.display_width / 16, picture.display_height / 16);
    let mut errors = Vec::with_capacity(cols * rows / 2 + 1);
    for row in 0..rows {
        for col in (row % 2..cols).step_by(2) {
            errors.push(grid_error(GridMatch::deviation(
                picture,
                col * 16,
                row * 16,
            )));
        }
    }
    errors
}

/// A difference over [`GridMatch`]'s grid, which is at most 64 * 255.
fn grid_error(difference: u32) -> u16 {
    u16::try_from(difference).unwrap_or(u16::MAX)
}

/// The whole luma macroblocks (columns, rows) that two pictures of one size share; `None`
/// for pictures of different sizes or without a whole macroblock.
fn shared_macroblocks(a: &Picture, b: &Picture) -> Option<(usize, usize)> {
    let (width, height) = (b.display_width, b.display_height);
    let (cols, rows) = (width / 16, height / 16);
    ((a.display_width, a.display_height) == (width, height) && cols > 0 && rows > 0)
        .then_some((cols, rows))
}

/// A whole luma macroblock of a picture against the picture before it, cheaply: on a grid
/// of every other sample, its sum of absolute differences from the best block of the
/// picture before within 14 samples (a three-step search of steps 8, 4 and 2), and from its
/// own mean.
struct GridMatch {
    /// The best match's difference.
    best: u32,
    /// The difference from the block's own mean, plus one per grid sample (64) so that flat
    /// blocks count only a near-exact match: at least 64.
    own: u32,
}

/// Samples of a macroblock on [`GridMatch`]'s grid.
const GRID_SAMPLES: u32 = 64;

impl GridMatch {
    /// The absolute deviation of the grid samples of the macroblock at (`x`, `y`) of
    /// `picture` from their mean.
    fn deviation(picture: &Picture, x: usize, y: usize) -> u32 {
        let b = &picture.y;
        let mut sum = 0u32;
        for r in (0..16).step_by(2) {
            let rb = &b.data[(y + r) * b.stride + x..];
            sum += (0..16).step_by(2).map(|c| u32::from(rb[c])).sum::<u32>();
        }
        // Deviation from the mean, in 1/64 units to stay in integers.
        let mut deviation64 = 0u32;
        for r in (0..16).step_by(2) {
            let rb = &b.data[(y + r) * b.stride + x..];
            deviation64 += (0..16)
                .step_by(2)
                .map(|c| (u32::from(rb[c]) * GRID_SAMPLES).abs_diff(sum))
                .sum::<u32>();
        }
        deviation64 / GRID_SAMPLES
    }

    /// Searches for the macroblock at (`x`, `y`) of `picture` (of `before`'s size) in
    /// `before`, stopping at the first position within [`GridMatch::own`] if `first_fit`.
    fn search(before: &Picture, picture: &Picture, x: usize, y: usize, first_fit: bool) -> Self {
        let (width, height) = (picture.display_width, picture.display_height);
        let (a, b) = (&before.y, &picture.y);
        // SAD of the macroblock at (x, y) in `picture` against `before` at (x + dx, y + dy).
        let sad = |dx: isize, dy: isize| -> Option<u32> {
            let (bx, by) = (x.checked_add_signed(dx)?, y.checked_add_signed(dy)?);
            if bx + 16 > width || by + 16 > height {
                return None;
            }
            let mut total = 0;
            for r in (0..16).step_by(2) {
                let (ra, rb) = (
                    &a.data[(by + r) * a.stride + bx..],
                    &b.data[(y + r) * b.stride + x..],
                );
                for c in (0..16).step_by(2) {
                    total += u32::from(ra[c].abs_diff(rb[c]));
                }
            }
            Some(total)
        };
        let own = Self::deviation(picture, x, y) + GRID_SAMPLES;
        let (mut best, mut centre) = (sad(0, 0).unwrap_or(u32::MAX), (0, 0));
        for step in [8isize, 4, 2] {
            if first_fit && best <= own {
                break;
            }
            let (cx, cy) = centre;
            for (dx, dy) in [
                (-1, -1),
                (0, -1),
                (1, -1),
                (-1, 0),
                (1, 0),
                (-1, 1),
                (0, 1),
                (1, 1),
            ] {
                let v = (cx + dx * step, cy + dy * step);
                if let Some(cost) = sad(v.0, v.1).filter(|&c| c < best) {
                    (best, centre) = (cost, v);
                }
            }
        }
        GridMatch { best, own }
    }
}

/// How much of `picture` could be copied from `reference` without motion, from 0 to 1: per
/// whole luma macroblock, one less the ratio of their absolute difference to the picture's
/// own activity there (its absolute deviation from the block's mean, plus one per sample so
/// that flat blocks count only a near-exact copy), floored at 0; the mean over macroblocks.
/// Pictures of different sizes share nothing. The encoder's altref groups and still
/// keyframes ask for a mean of at least [`SequenceConfig::altref_min_stillness`] percent
/// over the pictures ahead; a pipeline plans its batches' keyframes with it.
pub fn stillness(reference: &Picture, picture: &Picture) -> f64 {
    let (a, b) = (&reference.y, &picture.y);
    let Some((cols, rows)) = shared_macroblocks(reference, picture) else {
        return 0.0;
    };
    let mut total = 0.0;
    for row in 0..rows {
        for col in 0..cols {
            let at = |plane: &Plane, y: usize| (row * 16 + y) * plane.stride + col * 16;
            let (mut sum, mut difference) = (0u32, 0u32);
            for y in 0..16 {
                let (ra, rb) = (&a.data[at(a, y)..][..16], &b.data[at(b, y)..][..16]);
                sum += rb.iter().map(|&v| u32::from(v)).sum::<u32>();
                difference += ra
                    .iter()
                    .zip(rb)
                    .map(|(&p, &q)| u32::from(p.abs_diff(q)))
                    .sum::<u32>();
            }
            // Deviation from the mean, in 1/256 units to stay in integers.
            let mean256 = sum;
            let mut activity256 = 0u32;
            for y in 0..16 {
                let rb = &b.data[at(b, y)..][..16];
                activity256 += rb
                    .iter()
                    .map(|&v| (u32::from(v) * 256).abs_diff(mean256))
                    .sum::<u32>();
            }
            let activity = f64::from(activity256) / 256.0 + 256.0;
            total += (1.0 - f64::from(difference) / activity).max(0.0);
        }
    }
    total / (cols * rows) as f64
}

/// Sum of absolute luma differences between two pictures over the displayed area.
fn temporal_difference(a: &Plane, b: &Plane, width: usize, height: usize) -> u64 {
    let width = width.min(a.width).min(b.width);
    let height = height.min(a.height).min(b.height);
    (0..height)
        .map(|y| {
            let (row_a, row_b) = (
                &a.data[y * a.stride..][..width],
                &b.data[y * b.stride..][..width],
            );
            row_a
                .iter()
                .zip(row_b)
                .map(|(&p, &q)| u64::from(p.abs_diff(q)))
                .sum::<u64>()
        })
        .sum()
}

/// Sum of absolute horizontal and vertical luma gradients over the displayed area.
fn spatial_activity(plane: &Plane, width: usize, height: usize) -> u64 {
    let width = width.min(plane.width);
    let height = height.min(plane.height);
    let mut total = 0u64;
    for y in 0..height {
        let row = &plane.data[y * plane.stride..][..width];
        total += row
            .windows(2)
            .map(|pair| u64::from(pair[0].abs_diff(pair[1])))
            .sum::<u64>();
        if y > 0 {
            let above = &plane.data[(y - 1) * plane.stride..][..width];
            total += row
                .iter()
                .zip(above)
                .map(|(&p, &q)| u64::from(p.abs_diff(q)))
                .sum::<u64>();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode;
    use crate::test_rng::TestRng;
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    const WIDTH: usize = 64;
    const HEIGHT: usize = 48;

    /// Frame `t` of a textured gradient moving right and down by (2, 1) samples per frame.
    fn moving_gradient(t: usize) -> Picture {
        let (cw, ch) = (WIDTH.div_ceil(2), HEIGHT.div_ceil(2));
        // A fixed texture, so that motion (not just a flat ramp) has something to find.
        let mut rng = TestRng(0x5eed);
        let texture: Vec<u8> = (0..256 * 256).map(|_| rng.below(24) as u8).collect();
        let luma = |x: usize, y: usize| {
            let (sx, sy) = (x + 256 - 2 * t % 256, y + 256 - t % 256);
            ((sx * 2 + sy * 3) % 200) as u8 + texture[(sy % 256) * 256 + sx % 256]
        };
        let y: Vec<u8> = (0..WIDTH * HEIGHT)
            .map(|i| luma(i % WIDTH, i / WIDTH))
            .collect();
        let u: Vec<u8> = (0..cw * ch)
            .map(|i| (96 + (i % cw + t) % 64) as u8)
            .collect();
        let v: Vec<u8> = (0..cw * ch)
            .map(|i| (160 - (i / cw + t) % 48) as u8)
            .collect();
        Picture::from_i420(WIDTH, HEIGHT, &y, &u, &v)
    }

    /// A different scene: vertical stripes, which intra prediction codes far better than
    /// anything predicted from the gradient.
    fn stripes() -> Picture {
        let (cw, ch) = (WIDTH.div_ceil(2), HEIGHT.div_ceil(2));
        let y: Vec<u8> = (0..WIDTH * HEIGHT)
            .map(|i| {
                if ((i % WIDTH) / 3).is_multiple_of(2) {
                    20
                } else {
                    235
                }
            })
            .collect();
        let u = alloc::vec![40; cw * ch];
        let v = alloc::vec![220; cw * ch];
        Picture::from_i420(WIDTH, HEIGHT, &y, &u, &v)
    }

    fn config(rate: RateMode) -> SequenceConfig {
        SequenceConfig {
            rate,
            keyframe_interval: 100,
            golden_interval: 0,
            speed: 8,
            ..SequenceConfig::default()
        }
    }

    fn encode_all(encoder: &mut SequenceEncoder, pictures: &[Picture]) -> Vec<EncodedFrame> {
        pictures
            .iter()
            .enumerate()
            .map(|(i, p)| {
                encoder
                    .encode_next(p)
                    .unwrap_or_else(|e| panic!("frame {i}: {e}"))
            })
            .collect()
    }

    /// The frames a sequence configured with `cfg` makes of pictures `0..count` of `pictures`,
    /// pushed one by one and then finished.
    fn push_all(
        cfg: SequenceConfig,
        count: usize,
        pictures: &dyn Fn(usize) -> Picture,
    ) -> Vec<CodedFrame> {
        let mut encoder = SequenceEncoder::new(cfg);
        let mut coded = Vec::new();
        for t in 0..count {
            coded.extend(encoder.push(Arc::new(pictures(t))).unwrap());
        }
        coded.extend(encoder.finish().unwrap());
        coded
    }

    /// Decodes the frames from `start` and checks that every frame's state and picture are
    /// what a decoder gets: the encoder kept the state of the encode it chose.
    fn check_decodes(start: &DecoderState, frames: &[EncodedFrame]) {
        let mut state = start.clone();
        for (i, frame) in frames.iter().enumerate() {
            let (next, picture) = decode(&state, &frame.data).unwrap();
            assert_eq!(next, frame.state, "frame {i}: state");
            // A hidden frame shows nothing; its picture is the reference it leaves.
            let shown = frame.data[0] & 0x10 != 0;
            assert_eq!(
                picture.as_deref(),
                shown.then_some(&*frame.picture),
                "frame {i}: picture"
            );
            state = next;
        }
    }

    #[test]
    fn keyframes_at_the_interval() {
        let mut cfg = config(RateMode::ConstantQuality { cq_level: 20 });
        cfg.keyframe_interval = 4;
        let mut encoder = SequenceEncoder::new(cfg);
        let pictures: Vec<Picture> = (0..10).map(moving_gradient).collect();
        let frames = encode_all(&mut encoder, &pictures);
        let keys: Vec<usize> = (0..10).filter(|&i| frames[i].stats.key_frame).collect();
        assert_eq!(keys, [0, 4, 8]);
        assert_eq!(encoder.frames_encoded(), 10);
        assert_eq!(encoder.state(), &frames[9].state);
        check_decodes(&DecoderState::new(), &frames);
    }

    #[test]
    fn golden_refresh_at_its_interval_keeps_the_old_golden_as_altref() {
        let mut cfg = config(RateMode::ConstantQuality { cq_level: 20 });
        cfg.golden_interval = 3;
        cfg.golden_boost = 6;
        cfg.keyframe_boost = 9;
        let inter_q = cq_level_to_quantizer(20);
        let mut encoder = SequenceEncoder::new(cfg);
        let pictures: Vec<Picture> = (0..10).map(moving_gradient).collect();
        let frames = encode_all(&mut encoder, &pictures);
        check_decodes(&DecoderState::new(), &frames);
        for (i, frame) in frames.iter().enumerate() {
            let golden_frame = i > 0 && i.is_multiple_of(3);
            let refs = frame.state.references().unwrap();
            let before = i
                .checked_sub(1)
                .map(|j| frames[j].state.references().unwrap());
            assert!(Arc::ptr_eq(&refs.last, &frame.picture) || *refs.last == *frame.picture);
            let q = frame.stats.quantizer;
            if i == 0 {
                assert!(frame.stats.key_frame);
                assert_eq!(q, inter_q - 9, "keyframes are boosted by their own amount");
            } else if golden_frame {
                let before = before.unwrap();
                assert_eq!(*refs.golden, *frame.picture, "frame {i}: golden refreshed");
                assert_eq!(*refs.altref, *before.golden, "frame {i}: old golden kept");
                assert_eq!(q, inter_q - 6, "frame {i}: golden frames are boosted");
            } else {
                let before = before.unwrap();
                assert_eq!(*refs.golden, *before.golden, "frame {i}: golden kept");
                assert_eq!(*refs.altref, *before.altref, "frame {i}: altref kept");
                assert_eq!(q, inter_q, "frame {i}");
            }
        }
    }

    #[test]
    fn a_scene_cut_becomes_a_keyframe() {
        let mut encoder = SequenceEncoder::new(config(RateMode::ConstantQuality { cq_level: 16 }));
        let mut pictures: Vec<Picture> = (0..4).map(moving_gradient).collect();
        pictures.push(stripes());
        pictures.push(stripes());
        let frames = encode_all(&mut encoder, &pictures);
        let keys: Vec<usize> = (0..6).filter(|&i| frames[i].stats.key_frame).collect();
        assert_eq!(keys, [0, 4]);
        check_decodes(&DecoderState::new(), &frames);
    }

    #[test]
    fn ssim_target_is_met_on_every_frame() {
        for target in [0.9, 0.98] {
            let mut cfg = config(RateMode::TargetSsim { ssim: target });
            cfg.golden_interval = 4;
            let mut encoder = SequenceEncoder::new(cfg);
            let pictures: Vec<Picture> = (0..10).map(moving_gradient).collect();
            let frames = encode_all(&mut encoder, &pictures);
            for (i, (picture, frame)) in pictures.iter().zip(&frames).enumerate() {
                let ssim = metrics::ssim(picture, &frame.picture);
                assert!(
                    ssim >= target || frame.stats.quantizer == 0,
                    "target {target}, frame {i}: SSIM {ssim} at q {}",
                    frame.stats.quantizer
                );
            }
            check_decodes(&DecoderState::new(), &frames);
        }
        // A looser target must not cost more bits than a tighter one.
        let sizes = [0.85, 0.97].map(|target| {
            let mut encoder = SequenceEncoder::new(config(RateMode::TargetSsim { ssim: target }));
            let pictures: Vec<Picture> = (0..6).map(moving_gradient).collect();
            encode_all(&mut encoder, &pictures)
                .iter()
                .map(|f| f.data.len())
                .sum::<usize>()
        });
        assert!(sizes[0] < sizes[1], "{sizes:?}");
    }

    #[test]
    fn bitrate_mode_lands_near_the_target() {
        let fps = (30, 1);
        for kbps in [60, 200] {
            let mut cfg = config(RateMode::TargetBitrate { kbps });
            cfg.frame_rate = fps;
            cfg.golden_interval = 16;
            let mut encoder = SequenceEncoder::new(cfg);
            let pictures: Vec<Picture> = (0..90).map(moving_gradient).collect();
            let frames = encode_all(&mut encoder, &pictures);
            let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
            let actual = bytes as f64 * 8.0 / (frames.len() as f64 / 30.0) / 1000.0;
            let error = (actual - f64::from(kbps)).abs() / f64::from(kbps);
            assert!(error < 0.25, "target {kbps} kb/s, got {actual:.1} kb/s");
        }
    }

    #[test]
    fn continuing_from_a_state_starts_with_an_interframe() {
        let cfg = config(RateMode::ConstantQuality { cq_level: 24 });
        let pictures: Vec<Picture> = (0..6).map(moving_gradient).collect();
        let mut first = SequenceEncoder::new(cfg.clone());
        let head = encode_all(&mut first, &pictures[..3]);
        let mut second = SequenceEncoder::from_state(first.state().clone(), cfg.clone());
        let tail = encode_all(&mut second, &pictures[3..]);
        assert!(!tail[0].stats.key_frame);
        check_decodes(&DecoderState::new(), &[head, tail].concat());

        // A state of another size cannot predict the picture: the first frame is a keyframe.
        let mut other = SequenceEncoder::new(cfg.clone());
        let small = Picture::from_i420(16, 16, &[128; 256], &[128; 64], &[128; 64]);
        other.encode_next(&small).unwrap();
        let mut resized = SequenceEncoder::from_state(other.state().clone(), cfg);
        assert!(resized.encode_next(&pictures[0]).unwrap().stats.key_frame);
    }

    #[test]
    fn push_without_a_lookahead_codes_each_picture_as_it_comes() {
        let mut cfg = config(RateMode::ConstantQuality { cq_level: 24 });
        cfg.golden_interval = 4;
        cfg.altref_interval = 0;
        let pictures: Vec<Picture> = (0..9).map(moving_gradient).collect();
        let mut one_by_one = SequenceEncoder::new(cfg.clone());
        let expected = encode_all(&mut one_by_one, &pictures);
        let mut pushed = SequenceEncoder::new(cfg);
        for (i, picture) in pictures.iter().enumerate() {
            let out = pushed.push(Arc::new(picture.clone())).unwrap();
            assert_eq!(out.len(), 1, "frame {i}");
            assert_eq!((out[0].source, out[0].shown), (i as u64, true));
            assert_eq!(out[0].frame.data, expected[i].data, "frame {i}");
        }
        assert!(pushed.finish().unwrap().is_empty());
    }

    #[test]
    fn altref_groups_hold_pictures_back_and_boost_the_hidden_frame() {
        let mut cfg = config(RateMode::ConstantQuality { cq_level: 24 });
        cfg.altref_interval = 5;
        cfg.altref_boost = 12;
        // The gradient moves: only a group that must have an altref frame gets one.
        cfg.altref_min_stillness = 0;
        cfg.scene_cut_keyframes = false;
        let q = cq_level_to_quantizer(24);
        let mut encoder = SequenceEncoder::new(cfg);
        let mut coded = Vec::new();
        for t in 0..8 {
            let out = encoder.push(Arc::new(moving_gradient(t))).unwrap();
            // The keyframe comes once five pictures wait behind it; the group of 1..=5
            // once a sixth does.
            let expected = match t {
                5 => 1,
                6 => 6,
                _ => 0,
            };
            assert_eq!(out.len(), expected, "after picture {t}");
            coded.extend(out);
        }
        assert_eq!(encoder.pending(), 2);
        coded.extend(encoder.finish().unwrap());
        let order: Vec<(u64, bool)> = coded.iter().map(|c| (c.source, c.shown)).collect();
        assert_eq!(
            order,
            [
                (0, true),
                (5, false),
                (1, true),
                (2, true),
                (3, true),
                (4, true),
                (5, true),
                (6, true),
                (7, true)
            ]
        );
        assert_eq!(
            coded[1].frame.stats.quantizer,
            q - 12,
            "the hidden frame is boosted"
        );
        assert_eq!(coded[2].frame.stats.quantizer, q);
        // The overlay makes the hidden frame's picture golden for the next group.
        let after_overlay = coded[6].frame.state.references().unwrap();
        assert_eq!(*after_overlay.golden, *coded[6].frame.picture);
        let frames: Vec<EncodedFrame> = coded.into_iter().map(|c| c.frame).collect();
        check_decodes(&DecoderState::new(), &frames);
    }

    /// In the bitrate mode each group after the first (planned before any ordinary frame
    /// was coded, so left to the frame-by-frame control) gets one quantizer for its shown
    /// frames, which moves at most a step a frame as the buffer asks, its hidden frame
    /// boosted below it.
    #[test]
    fn bitrate_mode_plans_each_altref_group() {
        let kbps = 150;
        let mut cfg = config(RateMode::TargetBitrate { kbps });
        cfg.frame_rate = (30, 1);
        cfg.altref_interval = 8;
        cfg.altref_boost = 12;
        cfg.altref_min_stillness = 0;
        cfg.scene_cut_keyframes = false;
        let coded = push_all(cfg, 34, &moving_gradient);
        let order: Vec<(u64, bool)> = coded.iter().take(3).map(|c| (c.source, c.shown)).collect();
        assert_eq!(order, [(0, true), (8, false), (1, true)]);
        let hidden: Vec<usize> = (0..coded.len()).filter(|&i| !coded[i].shown).collect();
        assert_eq!(hidden.len(), 4, "groups from pictures 1, 9, 17 and 25");
        for &at in &hidden[1..] {
            let quantizer = |c: &CodedFrame| c.frame.stats.quantizer;
            let group: Vec<u8> = coded[at + 1..at + 9].iter().map(quantizer).collect();
            let planned = quantizer(&coded[at]) + 12;
            assert!(
                group[0].abs_diff(planned) <= 1
                    && group.windows(2).all(|w| w[0].abs_diff(w[1]) <= 1),
                "group after frame {at}, planned {planned}: {group:?}"
            );
        }
        let bytes: usize = coded.iter().map(|c| c.frame.data.len()).sum();
        let actual = bytes as f64 * 8.0 / (34.0 / 30.0) / 1000.0;
        let error = (actual - f64::from(kbps)).abs() / f64::from(kbps);
        assert!(error < 0.25, "target {kbps} kb/s, got {actual:.1} kb/s");
        let frames: Vec<EncodedFrame> = coded.into_iter().map(|c| c.frame).collect();
        check_decodes(&DecoderState::new(), &frames);
    }

    #[test]
    fn golden_and_altref_get_new_vectors_at_the_default_speed() {
        // Golden and altref hold the gradient; last holds another scene.
        let state = state_after(&moving_gradient(0), &stripes());
        let params = EncodeParams {
            quantizer: 40,
            ..EncodeParams::default()
        };
        let frame = encode(&state, &moving_gradient(3), &params).unwrap();
        let parsed =
            crate::decoder::parse_frame(&crate::decoder::FrameContext::of(&state), &frame.data)
                .unwrap();
        let mut moved = 0;
        for row in 0..parsed.modes.mb_rows {
            for col in 0..parsed.modes.mb_cols {
                let info = parsed.modes.get(row, col);
                moved += usize::from(
                    info.luma_mode == crate::modes::LumaMode::New
                        && info.ref_frame != crate::modes::RefFrame::Last,
                );
            }
        }
        assert!(
            moved > 0,
            "no macroblock found the gradient's motion in golden or altref"
        );
    }

    /// The state after a keyframe of `first` and an interframe of `second` that refreshes
    /// only last.
    fn state_after(first: &Picture, second: &Picture) -> DecoderState {
        let key = encode(
            &DecoderState::new(),
            first,
            &EncodeParams {
                quantizer: 20,
                keyframe: true,
                ..EncodeParams::default()
            },
        )
        .unwrap();
        let inter = encode(
            &key.state,
            second,
            &EncodeParams {
                quantizer: 20,
                ..EncodeParams::default()
            },
        )
        .unwrap();
        inter.state
    }

    #[test]
    fn long_term_frames_decode_the_same_after_any_last_picture() {
        let key = encode(
            &DecoderState::new(),
            &moving_gradient(0),
            &EncodeParams {
                quantizer: 20,
                keyframe: true,
                ..EncodeParams::default()
            },
        )
        .unwrap();
        let chain = encode_long_term(&key.state, &moving_gradient(6), 16, 4, true).unwrap();
        // Decoded where it was made: hidden, the old altref (the keyframe) now golden.
        let (made, shown) = decode(&key.state, &chain.data).unwrap();
        assert_eq!(shown, None, "a long-term frame is hidden");
        let refs = made.references().unwrap();
        assert_eq!(refs.altref, chain.picture);
        assert_eq!(refs.golden, key.picture);
        assert_eq!(refs.last, key.picture);
        // The same frame after another last picture predicts nothing from it.
        let mut other_last = key.state.clone();
        if let Some(frame) = &mut other_last.frame {
            frame.references.last = Arc::new(moving_gradient(9));
        }
        let (elsewhere, _) = decode(&other_last, &chain.data).unwrap();
        assert_eq!(elsewhere.references().unwrap().altref, chain.picture);

        // A chunk that goes its own way (three interframes refresh last and the
        // probabilities) takes the frame in, retokened, and holds exactly the same altref.
        let mut chunk = key.state.clone();
        for t in 1..4 {
            chunk = encode(
                &chunk,
                &moving_gradient(t),
                &EncodeParams {
                    quantizer: 40,
                    ..EncodeParams::default()
                },
            )
            .unwrap()
            .state;
        }
        assert_ne!(chunk.probabilities, key.state.probabilities);
        let spliced = retoken(&chunk, &chain.data, &FrameContext::of(&key.state)).unwrap();
        assert_eq!(spliced.picture, chain.picture);
        let (decoded, _) = decode(&chunk, &spliced.data).unwrap();
        assert_eq!(decoded, spliced.state);
        let refs = decoded.references().unwrap();
        assert_eq!((&refs.golden, &refs.altref), (&key.picture, &chain.picture));
        assert_eq!(refs.last, chunk.references().unwrap().last);
        // From golden alone, the frame decodes the same whatever altref holds, and keeps golden.
        let mut other_altref = chunk.clone();
        if let Some(frame) = &mut other_altref.frame {
            frame.references.altref = Arc::new(moving_gradient(11));
        }
        let golden_only =
            encode_long_term(&other_altref, &moving_gradient(7), 16, 4, false).unwrap();
        for state in [&chunk, &other_altref] {
            let spliced =
                retoken(state, &golden_only.data, &FrameContext::of(&other_altref)).unwrap();
            assert_eq!(spliced.picture, golden_only.picture);
            let refs = spliced.state.references().unwrap();
            assert_eq!(
                (&refs.golden, &refs.altref),
                (&key.picture, &golden_only.picture)
            );
        }
        // A keyframe is no long-term frame, and a state of another size none to code after.
        assert!(retoken(&chunk, &key.data, &FrameContext::default()).is_err());
        let small = Picture::new(32, 32);
        assert!(encode_long_term(&key.state, &small, 16, 4, true).is_err());
    }

    #[test]
    fn stillness_measures_what_a_zero_vector_could_copy() {
        let still = moving_gradient(0);
        assert_eq!(stillness(&still, &still), 1.0);
        let moved = stillness(&still, &moving_gradient(4));
        assert!((0.0..0.5).contains(&moved), "{moved}");
        assert!(stillness(&still, &stripes()) < 0.05, "another scene");
        let small = Picture::from_i420(16, 16, &[9; 256], &[128; 64], &[128; 64]);
        assert_eq!(stillness(&still, &small), 0.0);
        let tiny = Picture::from_i420(8, 8, &[9; 64], &[128; 16], &[128; 16]);
        assert_eq!(stillness(&tiny, &tiny), 0.0, "no whole macroblock");
    }

    #[test]
    fn predictability_follows_motion_but_not_grain() {
        let still = moving_gradient(0);
        assert_eq!(predictability(&still, &still), 1.0);
        // Moved right by 8 samples: a zero vector copies little, the search finds it (but
        // for the first column of macroblocks, whose match lies outside the picture: a third
        // of the six measured).
        let mut moved = still.clone();
        for row in moved.y.data.chunks_mut(still.y.stride) {
            row.copy_within(..WIDTH - 8, 8);
        }
        let (followed, copied) = (predictability(&still, &moved), stillness(&still, &moved));
        assert!(followed > 0.6 && copied < 0.5, "{followed} {copied}");
        // Independent grain on each picture: nothing the first one codes carries over.
        let grainy = |seed: u64| {
            let mut rng = TestRng(seed);
            let mut picture = moving_gradient(0);
            for v in &mut picture.y.data {
                *v = v.saturating_add(rng.below(48) as u8);
            }
            picture
        };
        let grain = predictability(&grainy(1), &grainy(2));
        assert!(grain < 0.5, "{grain}");
        let other = predictability(&still, &stripes());
        assert!(other < 0.25, "another scene: {other}");
        let small = Picture::from_i420(16, 16, &[9; 256], &[128; 64], &[128; 64]);
        assert_eq!(predictability(&still, &small), 0.0);
        let tiny = Picture::from_i420(8, 8, &[9; 64], &[128; 16], &[128; 16]);
        assert_eq!(predictability(&tiny, &tiny), 0.0, "no whole macroblock");
    }

    #[test]
    fn altref_frames_only_where_the_group_holds_still() {
        let coded_with = |pictures: &dyn Fn(usize) -> Picture| {
            let mut cfg = config(RateMode::ConstantQuality { cq_level: 24 });
            cfg.altref_interval = 5;
            cfg.golden_interval = 4;
            cfg.scene_cut_keyframes = false;
            let coded = push_all(cfg, 11, pictures);
            let frames: Vec<EncodedFrame> = coded.iter().map(|c| c.frame.clone()).collect();
            check_decodes(&DecoderState::new(), &frames);
            coded
        };
        // A still picture with a little change: every group of five gets its hidden frame.
        let still = coded_with(&|t| {
            let mut p = moving_gradient(0);
            p.y.data[t * 7] ^= 0x10;
            p
        });
        let hidden: Vec<u64> = still
            .iter()
            .filter(|c| !c.shown)
            .map(|c| c.source)
            .collect();
        assert_eq!(hidden, [5, 10]);
        // A moving picture: none, and golden refreshes every four frames instead.
        let moving = coded_with(&|t| moving_gradient(t * 4));
        assert!(moving.iter().all(|c| c.shown));
        assert_eq!(moving.len(), 11);
        let golden: Vec<u64> = moving
            .iter()
            .filter(|c| {
                let refs = c.frame.state.references().unwrap();
                !c.frame.stats.key_frame && Arc::ptr_eq(&refs.golden, &refs.last)
            })
            .map(|c| c.source)
            .collect();
        assert_eq!(golden, [4, 8]);
    }

    /// A keyframe whose scene holds still in the lookahead is coded finer than one whose
    /// scene moves on; without a lookahead it gets the plain boost.
    #[test]
    fn keyframes_of_still_scenes_get_the_larger_boost() {
        let cq_level = 40;
        let first_quantizer = |pictures: &dyn Fn(usize) -> Picture, lookahead: u32| {
            let mut cfg = config(RateMode::ConstantQuality { cq_level });
            cfg.altref_interval = lookahead;
            let coded = push_all(cfg, 8, pictures);
            assert!(coded[0].frame.stats.key_frame);
            coded[0].frame.stats.quantizer
        };
        let q = cq_level_to_quantizer(cq_level);
        let boost = SequenceConfig::default().keyframe_boost;
        let still = |t: usize| {
            let mut p = moving_gradient(0);
            p.y.data[t * 7] ^= 0x10;
            p
        };
        let moving = |t: usize| moving_gradient(t * 4);
        let boosted = q - boost;
        assert_eq!(
            first_quantizer(&still, 6),
            boosted - STILL_KEYFRAME_BOOST.min(boosted / 2)
        );
        assert!(first_quantizer(&still, 6) < boosted);
        assert_eq!(first_quantizer(&moving, 6), q - boost);
        assert_eq!(first_quantizer(&still, 0), q - boost);
    }

    #[test]
    fn invalid_ssim_targets_are_errors() {
        for ssim in [0.0, -1.0, 1.5, f64::NAN] {
            let mut encoder = SequenceEncoder::new(config(RateMode::TargetSsim { ssim }));
            let result = encoder.encode_next(&moving_gradient(0));
            assert!(
                matches!(result, Err(EncodeError::InvalidParameter(_))),
                "{ssim}"
            );
            assert_eq!(encoder.frames_encoded(), 0);
        }
    }

    #[test]
    fn complexity_measures() {
        let a = moving_gradient(0);
        assert_eq!(temporal_difference(&a.y, &a.y, WIDTH, HEIGHT), 0);
        assert!(temporal_difference(&a.y, &moving_gradient(1).y, WIDTH, HEIGHT) > 0);
        let flat = Picture::from_i420(16, 16, &[9; 256], &[128; 64], &[128; 64]);
        assert_eq!(spatial_activity(&flat.y, 16, 16), 0);
        assert!(spatial_activity(&stripes().y, WIDTH, HEIGHT) > spatial_activity(&a.y, 8, 8));
    }
}
