//! Tasks as values: what the orchestrator asks a worker to do, and what comes back.
//!
//! A task names its inputs by [`BlobId`] and is a pure function of them, so it can be
//! retried, run twice, or run anywhere, and its outputs checked by hash.

use codec_core::encoder::rate_control::RateMode;
use codec_core::encoder::sequence::SequenceConfig;
use serde::{Deserialize, Serialize};

use crate::blob::{BlobId, Blobs};
use crate::error::TaskError;
use crate::picture_io::PictureFormat;

/// How the encoder spends bits.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateSetting {
    /// One quality level on vpxenc's `--cq-level` scale, 0 (best) ..= 63.
    CqLevel(u8),
    /// The coarsest quantizer per frame that keeps this SSIM, 0 < S <= 1.
    TargetSsim(f64),
    /// An average bitrate in kilobits per second.
    TargetBitrate(u32),
}

/// Encoder settings shared by every task of a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EncodeSettings {
    pub rate: RateSetting,
    /// Frames per second as (numerator, denominator); the bitrate mode budgets with it.
    pub frame_rate: (u32, u32),
    /// Search effort: 0 (slowest, best) ..= 8 (fastest).
    pub speed: u8,
    /// log2 of the number of token partitions, 0 ..= 3.
    pub token_partitions_log2: u8,
    /// Quantizer-index reduction for keyframes.
    pub keyframe_boost: u8,
    /// Quantizer-index reduction for the anchor frames that stand in for a chunk's keyframe.
    pub anchor_boost: u8,
    /// Pictures per altref group within a chunk ([`SequenceConfig::altref_interval`]), at
    /// most [`MAX_ALTREF_INTERVAL`]; 0: none, every picture coded as it comes.
    pub altref_interval: u32,
    /// Whether a chain of long-term reference frames ([`Task::EncodeChunk`]'s `long_term`)
    /// holds altref in this chunk, which its anchor then leaves alone (it refreshes only
    /// last); otherwise the anchor refreshes altref, as the keyframe it stands for did, and
    /// golden alone is the chain's (or the batch keyframe).
    pub long_term_chain: bool,
}

/// The largest [`EncodeSettings::altref_interval`]: the encoder holds that many pictures
/// back (the command line's limit too).
pub const MAX_ALTREF_INTERVAL: u32 = 64;

impl Default for EncodeSettings {
    /// The codec's own defaults, with the pipeline's altref interval
    /// ([`CHUNK_ALTREF_INTERVAL`]).
    fn default() -> Self {
        EncodeSettings {
            altref_interval: CHUNK_ALTREF_INTERVAL,
            ..EncodeSettings::from_config(&SequenceConfig::default())
        }
    }
}

/// Altref groups per chunk where a pipeline is not told otherwise: none. In chunks of 6
/// frames (ExCamera[6,16], `--cq-level` 12..48) groups of 5 pictures made the pipeline's
/// streams larger at equal quality on every clip of five from the test set that got any: by 4%
/// (the real clip at 360p, equal SSIM) to 52% (a static scene), against the same pipeline
/// without them (issue 14's notes): each chunk's altref frame is coded almost as finely as a
/// keyframe and serves only the chunk's few frames.
pub const CHUNK_ALTREF_INTERVAL: u32 = 0;

/// Quantizer-index reduction of a chunk's replaced keyframe where a long-term chain holds
/// altref (`EncodeSettings::long_term_chain`): the anchor that stands for it is then a plain
/// interframe, so the keyframe the chunk's frames are decided against should not be much
/// finer than the anchor they are rebased onto. Against the 32 of other chunks
/// (`REPLACED_KEYFRAME_BOOST`), with groups of three six-frame chunks at `--cq-level`
/// 12..48, ExCamera[6,16] came out at equal SSIM and PSNR 3.1 and 3.2 points of BD-rate
/// closer to the serial encoder on the real clip at 360p (+4.7/+3.7 to +1.5/+0.6), 3.8 and
/// 4.0 on its small crop, 2.3 and 0.8 on a synthetic zoom; a still picture with light grain
/// lost 0.7 at equal SSIM (issue 10's notes).
pub const LONG_TERM_REPLACED_KEYFRAME_BOOST: u8 = 12;

/// Quantizer-index reduction of a batch keyframe that pays over about one chunk: in
/// batches of one chunk (plain chunked encoding, ExCamera[N,1]), and where the batch's
/// first chunk does not hold still against it, so that golden soon holds little in view.
/// Against the serial encoder's 40 (which the other batch keyframes get), ExCamera[6,1]
/// came out 0.5 to 14 points of BD-rate better at equal PSNR on five clips of the test set
/// with 24, and ExCamera[6,16] on a pan 2.6 and 4.1 better at equal SSIM and PSNR (issue
/// 10's notes).
pub const CHUNK_KEYFRAME_BOOST: u8 = 24;

impl EncodeSettings {
    /// The settings of a serial encoder configured with `config`; the chunk-level choices
    /// (keyframe and golden intervals, scene cuts) are the pipeline's, so they are not kept.
    /// Its altref interval is kept: the caller picks it (see [`CHUNK_ALTREF_INTERVAL`]).
    pub fn from_config(config: &SequenceConfig) -> EncodeSettings {
        EncodeSettings {
            rate: match config.rate {
                RateMode::ConstantQuality { cq_level } => RateSetting::CqLevel(cq_level),
                RateMode::TargetSsim { ssim } => RateSetting::TargetSsim(ssim),
                RateMode::TargetBitrate { kbps } => RateSetting::TargetBitrate(kbps),
            },
            frame_rate: config.frame_rate,
            speed: config.speed,
            token_partitions_log2: config.token_partitions_log2,
            // The batch keyframe stays golden along its batch, so the serial encoder's boost
            // pays there too: with it, ExCamera[6,16] came 6 to 13 points closer to the
            // serial encoder at equal SSIM on four clips of five from the test set than with
            // the 24 it had while anchors refreshed golden; on a pan, where golden soon
            // holds nothing in view, it lost 2.6, so the pipeline plans each batch's
            // keyframe ([`CHUNK_KEYFRAME_BOOST`]; issue 10's notes).
            keyframe_boost: config.keyframe_boost,
            anchor_boost: config.anchor_boost,
            altref_interval: config.altref_interval,
            long_term_chain: !config.anchor_refreshes_altref,
        }
    }

    /// The encoder configuration for one chunk: a keyframe where a sequence starts from
    /// nothing and at scene cuts, as the serial encoder puts them, but none by interval and
    /// no golden refreshes by interval: the batches place those (one keyframe each, and an
    /// anchor frame at every other chunk's start).
    ///
    /// # Errors
    ///
    /// [`TaskError::BadTask`] for a value out of range: cq level above 63, SSIM outside
    /// 0 < S <= 1, zero bitrate, a zero frame rate term, speed above 8, partitions above 3,
    /// an altref interval above [`MAX_ALTREF_INTERVAL`].
    pub fn sequence_config(&self) -> Result<SequenceConfig, TaskError> {
        let bad = |why: String| Err(TaskError::BadTask(why));
        let rate = match self.rate {
            RateSetting::CqLevel(cq_level) if cq_level <= 63 => {
                RateMode::ConstantQuality { cq_level }
            }
            RateSetting::CqLevel(cq) => return bad(format!("cq level {cq} is above 63")),
            RateSetting::TargetSsim(ssim) if ssim > 0.0 && ssim <= 1.0 => {
                RateMode::TargetSsim { ssim }
            }
            RateSetting::TargetSsim(ssim) => {
                return bad(format!("SSIM target {ssim} is outside 0 < S <= 1"));
            }
            RateSetting::TargetBitrate(kbps) if kbps > 0 => RateMode::TargetBitrate { kbps },
            RateSetting::TargetBitrate(_) => return bad("target bitrate is 0 kbps".into()),
        };
        let (num, den) = self.frame_rate;
        if num == 0 || den == 0 {
            return bad(format!("frame rate {num}/{den} has a zero term"));
        }
        if self.speed > 8 {
            return bad(format!("speed {} is above 8", self.speed));
        }
        if self.token_partitions_log2 > 3 {
            return bad(format!(
                "token partitions log2 {} is above 3",
                self.token_partitions_log2
            ));
        }
        if self.altref_interval > MAX_ALTREF_INTERVAL {
            return bad(format!(
                "altref interval {} is above {MAX_ALTREF_INTERVAL}",
                self.altref_interval
            ));
        }
        Ok(SequenceConfig {
            rate,
            frame_rate: self.frame_rate,
            keyframe_interval: 0,
            speed: self.speed,
            token_partitions_log2: self.token_partitions_log2,
            golden_interval: 0,
            golden_boost: SequenceConfig::default().golden_boost,
            keyframe_boost: self.keyframe_boost,
            anchor_boost: self.anchor_boost,
            first_frame_replaced: false,
            scene_cut_keyframes: true,
            replaced_keyframe_boost: SequenceConfig::default().replaced_keyframe_boost,
            anchor_refreshes_altref: !self.long_term_chain,
            altref_interval: self.altref_interval,
            altref_boost: SequenceConfig::default().altref_boost,
            altref_min_stillness: SequenceConfig::default().altref_min_stillness,
        })
    }
}

/// How a chunk begins in the final stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Opening {
    /// The chunk opens its batch: its own keyframe goes into the final stream.
    Keyframe,
    /// The chunk's keyframe is replaced by an anchor frame encoded from the previous chunk's
    /// state ([`Task::EncodeGivenState`]), so the keyframe only serves to decide the chunk's
    /// other frames against. The anchor refreshes last and altref; golden keeps the batch's
    /// keyframe, whose picture is `key_picture`: the task codes it again (a keyframe needs no
    /// state, so it comes out as the batch's first chunk made it) to hold it as golden, at
    /// `key_cq_level` where the batch's first chunk had a quality level of its own (a
    /// bitrate plan gives each chunk one), else with the task's settings.
    Anchor {
        key_picture: BlobId,
        key_cq_level: Option<u8>,
    },
}

/// One frame of a batch's chain of long-term references
/// ([`codec_core::encoder::sequence::encode_long_term`]): a hidden frame of `picture`, coded
/// at `cq_level` less the altref boost from the golden and altref the chain held before it
/// (from the batch keyframe on), which goes into the final stream right after the first
/// frame of chunk `chunk`. `from_altref`: the chain held altref up to it; otherwise (the
/// group before had no link, and its anchors refreshed altref) it predicts from golden
/// alone and keeps golden.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongTermLink {
    pub chunk: u32,
    pub picture: BlobId,
    pub cq_level: u8,
    pub from_altref: bool,
}

/// One unit of work. Every task belongs to a chunk (its number within the job) and reads
/// pictures of one size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Encode a chunk on its own: a keyframe, then interframes with the full mode and motion
    /// search. `frames` are the chunk's raw I420 pictures. A keyframe that an anchor will
    /// replace (`opening`) is coded finer, as good a reference as the anchor will be, and
    /// the batch's keyframe stands beside it as golden.
    EncodeChunk {
        chunk: u32,
        format: PictureFormat,
        settings: EncodeSettings,
        opening: Opening,
        frames: Vec<BlobId>,
        /// The batch's long-term chain up to this chunk, in order: the task codes it again
        /// from the batch keyframe (whose picture is `key_picture`, or this chunk's first
        /// where it opens the batch) and holds its golden and altref as the final stream
        /// will; a link of this very chunk goes into its stream after the first frame.
        /// Empty: none, golden holds the batch keyframe.
        long_term: Vec<LongTermLink>,
    },
    /// Encode one picture (a chunk's first) as an anchor frame predicted from `state` (the
    /// previous chunk's final state from its own encode): an interframe that refreshes all
    /// three references, as the chunk's keyframe did, so that every decision the chunk's
    /// other frames made against the keyframe finds its stand-in in the same place.
    EncodeGivenState {
        chunk: u32,
        format: PictureFormat,
        settings: EncodeSettings,
        state: BlobId,
        frame: BlobId,
    },
    /// Rewrite a chunk's frames to decode from `target`, the true state at the end of the
    /// previous chunk: `first_frame` (made against a state whose `FrameContext` is
    /// `first_made_from`, as the given-state task reports it) stands for the chunk's
    /// keyframe, then the interframes of `original` follow, each made against the chunk's
    /// own encode. Keyframes (scene cuts) are kept as they are: they need no state, so a
    /// chunk whose first frame is one has no `target` and need not wait for the chunk
    /// before it.
    Rebase {
        chunk: u32,
        format: PictureFormat,
        target: Option<BlobId>,
        first_frame: BlobId,
        first_made_from: BlobId,
        original: BlobId,
        frames: Vec<BlobId>,
    },
}

impl Task {
    /// A short name for the kind of task, for logs and timelines.
    pub fn kind(&self) -> &'static str {
        match self {
            Task::EncodeChunk { .. } => "encode_chunk",
            Task::EncodeGivenState { .. } => "encode_given_state",
            Task::Rebase { .. } => "rebase",
        }
    }

    /// The chunk the task works on.
    pub fn chunk(&self) -> u32 {
        match self {
            Task::EncodeChunk { chunk, .. }
            | Task::EncodeGivenState { chunk, .. }
            | Task::Rebase { chunk, .. } => *chunk,
        }
    }

    /// How many pictures the task codes: its chunk's, or one for a given-state encode.
    pub fn frames(&self) -> usize {
        match self {
            Task::EncodeChunk { frames, .. } | Task::Rebase { frames, .. } => frames.len(),
            Task::EncodeGivenState { .. } => 1,
        }
    }

    /// The picture size the task reads.
    pub fn format(&self) -> PictureFormat {
        match self {
            Task::EncodeChunk { format, .. }
            | Task::EncodeGivenState { format, .. }
            | Task::Rebase { format, .. } => *format,
        }
    }

    /// Every blob the task reads, each once, in the order the task first names them.
    pub fn inputs(&self) -> Vec<BlobId> {
        let named: Vec<BlobId> = match self {
            Task::EncodeChunk {
                frames,
                opening,
                long_term,
                ..
            } => {
                let key = match opening {
                    Opening::Keyframe => None,
                    Opening::Anchor { key_picture, .. } => Some(*key_picture),
                };
                frames
                    .iter()
                    .copied()
                    .chain(key)
                    .chain(long_term.iter().map(|link| link.picture))
                    .collect()
            }
            Task::EncodeGivenState { state, frame, .. } => vec![*state, *frame],
            Task::Rebase {
                target,
                first_frame,
                first_made_from,
                original,
                frames,
                ..
            } => target
                .iter()
                .copied()
                .chain([*first_frame, *first_made_from, *original])
                .chain(frames.iter().copied())
                .collect(),
        };
        let mut seen = std::collections::HashSet::with_capacity(named.len());
        named.into_iter().filter(|id| seen.insert(*id)).collect()
    }
}

/// What a task produced, as blob ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskOutput {
    /// The chunk's frames as a chunk stream, and the decoder state after them.
    EncodeChunk { stream: BlobId, final_state: BlobId },
    /// The single compressed frame (raw VP8 bytes, not a chunk stream), and the
    /// `FrameContext` of the state it was made against (`FrameContext::to_bytes`): all that
    /// rebasing the frame needs to know of that state. `scene_cut` when the picture had
    /// so little to do with that state that the frame is a keyframe, as the serial encoder
    /// would have made it.
    EncodeGivenState {
        frame: BlobId,
        made_from: BlobId,
        scene_cut: bool,
    },
    /// The rebased frames as a chunk stream, and the decoder state after them.
    Rebase { stream: BlobId, final_state: BlobId },
}

impl TaskOutput {
    /// Every blob the output names.
    pub fn blobs(&self) -> Vec<BlobId> {
        match self {
            TaskOutput::EncodeChunk {
                stream,
                final_state,
            }
            | TaskOutput::Rebase {
                stream,
                final_state,
            } => vec![*stream, *final_state],
            TaskOutput::EncodeGivenState {
                frame, made_from, ..
            } => vec![*frame, *made_from],
        }
    }
}

/// How much work a task did, for progress and timelines, and what came of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkStats {
    /// Frames encoded or rebased.
    pub frames: u32,
    /// Each frame the task put out, in order.
    pub coded: Vec<FrameFacts>,
}

/// One frame a task put out: its size and its distortion, which let the orchestrator hold a
/// rebased frame against the frame it was made from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameFacts {
    /// Compressed bytes.
    pub bytes: u32,
    /// Sum of squared differences from the source picture over the three planes' displayed
    /// area; 0 for a frame the task kept without coding it.
    pub sse: u64,
    /// Carried over as it was (a keyframe that a rebase keeps), not coded by the task.
    pub kept: bool,
}

impl FrameFacts {
    /// The facts of a frame the task coded.
    pub fn coded(bytes: usize, sse: [u64; 3]) -> FrameFacts {
        FrameFacts {
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            sse: sse.iter().sum(),
            kept: false,
        }
    }

    /// The facts of a frame the task kept as it was.
    pub fn kept(bytes: usize) -> FrameFacts {
        FrameFacts {
            bytes: u32::try_from(bytes).unwrap_or(u32::MAX),
            sse: 0,
            kept: true,
        }
    }
}

/// A finished task: its output, the new blobs that the output names, and its work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    pub output: TaskOutput,
    pub blobs: Blobs,
    pub work: WorkStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_map_to_a_chunked_sequence_config() {
        let settings = EncodeSettings {
            rate: RateSetting::TargetSsim(0.95),
            speed: 2,
            token_partitions_log2: 1,
            ..EncodeSettings::default()
        };
        let config = settings.sequence_config().unwrap();
        assert_eq!(config.rate, RateMode::TargetSsim { ssim: 0.95 });
        assert_eq!(config.keyframe_interval, 0);
        assert_eq!(config.golden_interval, 0);
        assert!(config.scene_cut_keyframes);
        assert_eq!((config.speed, config.token_partitions_log2), (2, 1));
        assert_eq!(config.altref_interval, settings.altref_interval);
    }

    #[test]
    fn out_of_range_settings_are_rejected() {
        let base = EncodeSettings::default();
        assert!(base.sequence_config().is_ok());
        let cases = [
            EncodeSettings {
                rate: RateSetting::CqLevel(64),
                ..base.clone()
            },
            EncodeSettings {
                rate: RateSetting::TargetSsim(0.0),
                ..base.clone()
            },
            EncodeSettings {
                rate: RateSetting::TargetSsim(f64::NAN),
                ..base.clone()
            },
            EncodeSettings {
                rate: RateSetting::TargetBitrate(0),
                ..base.clone()
            },
            EncodeSettings {
                frame_rate: (30, 0),
                ..base.clone()
            },
            EncodeSettings {
                speed: 9,
                ..base.clone()
            },
            EncodeSettings {
                altref_interval: MAX_ALTREF_INTERVAL + 1,
                ..base.clone()
            },
            EncodeSettings {
                token_partitions_log2: 4,
                ..base.clone()
            },
        ];
        for settings in cases {
            let err = settings.sequence_config().unwrap_err();
            assert!(matches!(err, TaskError::BadTask(_)), "{settings:?}: {err}");
        }
    }

    #[test]
    fn inputs_are_deduplicated_in_order() {
        let [a, b, c] = [b"a", b"b", b"c"].map(|x| BlobId::of(x));
        let task = Task::Rebase {
            chunk: 3,
            format: PictureFormat {
                width: 16,
                height: 16,
            },
            target: Some(a),
            first_frame: b,
            first_made_from: a,
            original: c,
            frames: vec![b, c, a],
        };
        assert_eq!(task.inputs(), vec![a, b, c]);
        assert_eq!((task.kind(), task.chunk()), ("rebase", 3));
    }

    #[test]
    fn tasks_read_well_as_json() {
        let id = BlobId::of(b"frame");
        let task = Task::EncodeChunk {
            chunk: 2,
            format: PictureFormat {
                width: 64,
                height: 48,
            },
            settings: EncodeSettings::default(),
            opening: Opening::Anchor {
                key_picture: id,
                key_cq_level: Some(30),
            },
            frames: vec![id],
            long_term: Vec::new(),
        };
        let json = serde_json::to_string(&task).unwrap();
        assert!(json.starts_with(r#"{"encode_chunk":{"chunk":2,"#), "{json}");
        assert!(json.contains(&format!(r#""frames":["{id}"]"#)), "{json}");
        assert_eq!(serde_json::from_str::<Task>(&json).unwrap(), task);
        let output = TaskOutput::EncodeGivenState {
            frame: id,
            made_from: id,
            scene_cut: false,
        };
        let json = serde_json::to_string(&output).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"encode_given_state":{{"frame":"{id}","made_from":"{id}","scene_cut":false}}}}"#
            )
        );
    }
}
