//! The worker proper: one pure function from a task and its input blobs to its output blobs.

use codec_core::encoder::rate_control::FrameKind;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use codec_core::encoder::rate_control::cq_level_to_quantizer;
use codec_core::encoder::sequence::{CodedFrame, SequenceEncoder, encode_long_term};
use codec_core::state::FrameSize;
use codec_core::{DecoderState, FrameContext, Picture, rebase, retoken};

use crate::blob::{BlobId, BlobSource, Blobs};
use crate::error::TaskError;
use crate::picture_io::PictureFormat;
use crate::stream::{ChunkFrame, LONG_TERM_SOURCE, pack_frames, unpack_frames};
use crate::task::{
    EncodeSettings, Executed, FrameFacts, LONG_TERM_REPLACED_KEYFRAME_BOOST, LongTermLink, Opening,
    RateSetting, Task, TaskOutput, WorkStats,
};

/// Runs `task` on blobs read from `blobs`. Pure and deterministic: the same task on the same
/// inputs gives byte-identical output blobs, wherever it runs.
///
/// # Errors
///
/// A [`TaskError`] naming the missing or malformed input, the bad setting, or the frame of
/// the chunk that could not be encoded, parsed or rebased.
pub fn execute(task: &Task, blobs: &impl BlobSource) -> Result<Executed, TaskError> {
    task.format().validate()?;
    match task {
        Task::EncodeChunk {
            chunk,
            format,
            settings,
            opening,
            frames,
            long_term,
        } => encode_chunk(*chunk, format, settings, *opening, frames, long_term, blobs),
        Task::EncodeGivenState {
            chunk,
            format,
            settings,
            state,
            frame,
        } => encode_given_state(*chunk, format, settings, state, frame, blobs),
        Task::Rebase {
            chunk,
            format,
            target,
            first_frame,
            first_made_from,
            original,
            frames,
        } => rebase_chunk(
            *chunk,
            format,
            target,
            first_frame,
            first_made_from,
            original,
            frames,
            blobs,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn encode_chunk(
    chunk: u32,
    format: &PictureFormat,
    settings: &EncodeSettings,
    opening: Opening,
    frames: &[BlobId],
    long_term: &[LongTermLink],
    blobs: &impl BlobSource,
) -> Result<Executed, TaskError> {
    let mut config = settings.sequence_config()?;
    if frames.is_empty() {
        return Err(TaskError::BadTask(format!("chunk {chunk} has no frames")));
    }
    let frame_count = frame_count(chunk, frames.len())?;
    let encode_error = |frame: u32| {
        move |e: codec_core::EncodeError| TaskError::Encode {
            chunk,
            frame,
            reason: e.to_string(),
        }
    };
    check_links(chunk, settings, long_term)?;
    // The batch keyframe as the batch's first chunk coded it: the same picture and
    // settings give the same keyframe, with no state needed. (With altref groups in chunks,
    // `--altref-interval`, the first chunk's keyframe may take the still-scene boost from
    // its lookahead, which this encode does not see: golden is then near the batch
    // keyframe rather than equal to it, which costs compression, not correctness.)
    let (key_picture, key_settings) = match opening {
        Opening::Keyframe => (frames[0], settings.clone()),
        Opening::Anchor {
            key_picture,
            key_cq_level,
        } => (
            key_picture,
            match key_cq_level {
                Some(level) => EncodeSettings {
                    rate: RateSetting::CqLevel(level),
                    ..settings.clone()
                },
                None => settings.clone(),
            },
        ),
    };
    let key = if matches!(opening, Opening::Anchor { .. }) || !long_term.is_empty() {
        let key_config = key_settings.sequence_config()?;
        Some(batch_keyframe(&key_picture, format, &key_settings, || {
            let picture = read_picture(blobs, format, "key_picture", &key_picture)?;
            let key = SequenceEncoder::new(key_config)
                .encode_next(&picture)
                .map_err(encode_error(0))?;
            Ok(Arc::new(key.state))
        })?)
    } else {
        None
    };
    // The long-term chain as the final stream holds it before this chunk, and this chunk's
    // own link.
    let (before, here) = match &key {
        Some(key) if !long_term.is_empty() => {
            let memo_key = keyframe_key(&key_picture, format, &key_settings);
            let (before, here) = long_term_chain(
                chunk,
                key,
                memo_key,
                long_term,
                format,
                (settings.speed, config.altref_boost),
                blobs,
            )?;
            (Some(before), here)
        }
        _ => (None, None),
    };
    config.first_frame_replaced = matches!(opening, Opening::Anchor { .. });
    if settings.long_term_chain {
        config.replaced_keyframe_boost = LONG_TERM_REPLACED_KEYFRAME_BOOST;
    }
    let mut encoder = SequenceEncoder::new(config);
    // Golden (and where the chain holds it, altref) as the final stream has them here: the
    // chain's before this chunk, else the batch keyframe's.
    if let Some(refs) = before
        .as_ref()
        .or(key.as_ref())
        .and_then(|s| s.references())
    {
        if settings.long_term_chain {
            encoder.keep_long_term(Arc::clone(&refs.golden), Arc::clone(&refs.altref));
        } else {
            encoder.keep_golden(Arc::clone(&refs.golden));
        }
    }
    // Frames in stream order, each with the picture it codes: with altref groups a hidden
    // frame codes a later picture ahead of its turn.
    let mut made: Vec<CodedFrame> = Vec::with_capacity(frames.len() + 1);
    for (index, id) in (0u32..).zip(frames) {
        let picture = read_picture(blobs, format, &format!("frames[{index}]"), id)?;
        let coded = encoder
            .push(Arc::new(picture))
            .map_err(encode_error(index))?;
        made.extend(coded);
        if index == 0
            && let Some(step) = &here
        {
            // The chunk's link right after its first frame, as the final stream has it.
            let spliced =
                encoder
                    .splice(&step.frame, &step.made_from)
                    .map_err(|e| TaskError::Encode {
                        chunk,
                        frame: 0,
                        reason: format!("its long-term frame does not fit: {e}"),
                    })?;
            made.push(CodedFrame {
                frame: spliced,
                source: u64::from(LONG_TERM_SOURCE),
                shown: false,
            });
        }
    }
    made.extend(
        encoder
            .finish()
            .map_err(encode_error(frame_count.saturating_sub(1)))?,
    );
    let coded = made
        .iter()
        .map(|made| FrameFacts::coded(made.frame.data.len(), made.frame.stats.sse))
        .collect();
    let compressed: Vec<ChunkFrame<'_>> = made
        .iter()
        .map(|made| ChunkFrame {
            // Below the chunk's picture count, which fits in u32 (`frame_count`), or the
            // long-term frame's mark.
            source: made.source as u32,
            data: &made.frame.data,
        })
        .collect();
    let mut out = Blobs::new();
    let stream = out.insert(pack_frames(&compressed));
    let final_state = out.insert(encoder.state().to_bytes());
    Ok(Executed {
        output: TaskOutput::EncodeChunk {
            stream,
            final_state,
        },
        blobs: out,
        work: WorkStats {
            frames: frame_count,
            coded,
        },
    })
}

/// Checks a chunk encode's long-term links: in chunk order, none after the chunk's own, and
/// only where the chunk's frames are coded as they come (an altref group within the chunk
/// would refresh the altref the chain holds) at a constant quality.
fn check_links(
    chunk: u32,
    settings: &EncodeSettings,
    links: &[LongTermLink],
) -> Result<(), TaskError> {
    let bad = |why: String| Err(TaskError::BadTask(format!("chunk {chunk}: {why}")));
    if links.is_empty() {
        return Ok(());
    }
    if settings.altref_interval > 0 {
        return bad(
            "a long-term chain and altref groups within the chunk exclude each other".into(),
        );
    }
    if !matches!(settings.rate, RateSetting::CqLevel(_)) {
        return bad("a long-term chain needs a constant quality level".into());
    }
    if let Some(link) = links.iter().find(|link| link.cq_level > 63) {
        return bad(format!(
            "long-term link of chunk {} has cq level {} above 63",
            link.chunk, link.cq_level
        ));
    }
    if links.windows(2).any(|pair| pair[0].chunk >= pair[1].chunk) {
        return bad("its long-term links are not one per chunk in chunk order".into());
    }
    if links.last().is_some_and(|link| link.chunk > chunk) {
        return bad("a long-term link of a later chunk".into());
    }
    Ok(())
}

/// A long-term frame of a batch's chain, with the context of the state it was coded after
/// and the state it leads to.
struct LongTermStep {
    frame: Vec<u8>,
    made_from: FrameContext,
    after: Arc<DecoderState>,
}

/// Search effort of long-term frames, in speed steps finer than the job's: they are few and
/// every chunk of their group predicts from them.
const LONG_TERM_SPEED_STEPS: u8 = 2;

/// The long-term chain from the batch keyframe's state `key` along `links`: the state after
/// the links of chunks before `chunk` (the references this chunk starts from), and this
/// chunk's own link, if it has one. Each link is coded once per process for all the chunks
/// that need it ([`LONG_TERM_FRAMES`]). `job`: the job's speed and altref boost.
fn long_term_chain(
    chunk: u32,
    key: &Arc<DecoderState>,
    mut memo_key: Vec<u8>,
    links: &[LongTermLink],
    format: &PictureFormat,
    (job_speed, altref_boost): (u8, u8),
    blobs: &impl BlobSource,
) -> Result<(Arc<DecoderState>, Option<Arc<LongTermStep>>), TaskError> {
    let speed = job_speed.saturating_sub(LONG_TERM_SPEED_STEPS);
    let mut state = Arc::clone(key);
    let mut here = None;
    for (index, link) in links.iter().enumerate() {
        memo_key.extend(link.picture.0);
        memo_key.push(link.cq_level);
        memo_key.push(speed);
        memo_key.push(u8::from(link.from_altref));
        let made_from = Arc::clone(&state);
        let step = memoized(
            &LONG_TERM_FRAMES,
            LONG_TERM_FRAMES_KEPT,
            memo_key.clone(),
            || {
                let input = format!("long_term[{index}]");
                let picture = read_picture(blobs, format, &input, &link.picture)?;
                let quantizer = cq_level_to_quantizer(link.cq_level).saturating_sub(altref_boost);
                let coded =
                    encode_long_term(&made_from, &picture, quantizer, speed, link.from_altref)
                        .map_err(|e| TaskError::Encode {
                            chunk: link.chunk,
                            frame: 0,
                            reason: format!("its long-term frame: {e}"),
                        })?;
                Ok(Arc::new(LongTermStep {
                    frame: coded.data,
                    made_from: FrameContext::of(&made_from),
                    after: Arc::new(coded.state),
                }))
            },
        )?;
        if link.chunk == chunk {
            here = Some(step);
        } else {
            state = Arc::clone(&step.after);
        }
    }
    Ok((state, here))
}

/// A memo of a pure function's results in this process: its key, and once made, the
/// result, locked while it is being made.
type Memo<T> = Mutex<VecDeque<(Vec<u8>, Arc<Mutex<Option<T>>>)>>;

/// Batch keyframes coded lately in this process (the decoder state after each), newest last.
static BATCH_KEYFRAMES: Memo<Arc<DecoderState>> = Mutex::new(VecDeque::new());

/// How many batch keyframes [`BATCH_KEYFRAMES`] keeps: as many batches as a process works
/// on at once, about.
const BATCH_KEYFRAMES_KEPT: usize = 4;

/// Long-term frames coded lately in this process, newest last.
static LONG_TERM_FRAMES: Memo<Arc<LongTermStep>> = Mutex::new(VecDeque::new());

/// How many long-term frames [`LONG_TERM_FRAMES`] keeps: the chains of a few batches.
const LONG_TERM_FRAMES_KEPT: usize = 32;

/// What makes a batch keyframe: its picture, the picture size and the settings.
fn keyframe_key(
    key_picture: &BlobId,
    format: &PictureFormat,
    settings: &EncodeSettings,
) -> Vec<u8> {
    let mut key = key_picture.0.to_vec();
    key.extend(format.width.to_le_bytes());
    key.extend(format.height.to_le_bytes());
    // What anchors refresh does not change a keyframe.
    let settings = EncodeSettings {
        long_term_chain: false,
        ..settings.clone()
    };
    // Settings always encode; were they not to, the key would still name the picture.
    if let Ok(bytes) = bincode::serde::encode_to_vec(&settings, bincode::config::standard()) {
        key.extend(bytes);
    }
    key
}

/// The state after the keyframe coded from `key_picture` with `settings`, as `code` makes
/// it. Every anchor-opened chunk of a batch codes the same keyframe, which costs as much as
/// a few interframes; tasks that run in one process (the local backend's threads, a warm
/// function instance) code it once. Memoizing a pure function: the result is the same
/// either way, only the work is not.
fn batch_keyframe(
    key_picture: &BlobId,
    format: &PictureFormat,
    settings: &EncodeSettings,
    code: impl FnOnce() -> Result<Arc<DecoderState>, TaskError>,
) -> Result<Arc<DecoderState>, TaskError> {
    let key = keyframe_key(key_picture, format, settings);
    memoized(&BATCH_KEYFRAMES, BATCH_KEYFRAMES_KEPT, key, code)
}

/// `code()`'s result, from `memo` under `key` if this process made it lately; `kept`
/// results at most, the oldest forgotten first.
fn memoized<T: Clone>(
    memo: &Memo<T>,
    kept: usize,
    key: Vec<u8>,
    code: impl FnOnce() -> Result<T, TaskError>,
) -> Result<T, TaskError> {
    let slot = {
        let mut memo = memo.lock().unwrap_or_else(|poison| poison.into_inner());
        match memo.iter().find(|(k, _)| *k == key) {
            Some((_, slot)) => Arc::clone(slot),
            None => {
                let slot = Arc::new(Mutex::new(None));
                if memo.len() >= kept {
                    memo.pop_front();
                }
                memo.push_back((key, Arc::clone(&slot)));
                slot
            }
        }
    };
    // Another task making the same result holds the slot until it is done.
    let mut made = slot.lock().unwrap_or_else(|poison| poison.into_inner());
    if let Some(made) = &*made {
        return Ok(made.clone());
    }
    let result = code()?;
    *made = Some(result.clone());
    Ok(result)
}

fn encode_given_state(
    chunk: u32,
    format: &PictureFormat,
    settings: &EncodeSettings,
    state: &BlobId,
    frame: &BlobId,
    blobs: &impl BlobSource,
) -> Result<Executed, TaskError> {
    let config = settings.sequence_config()?;
    let state = read_state(blobs, format, "state", state)?;
    let picture = read_picture(blobs, format, "frame", frame)?;
    let made_from = FrameContext::of(&state).to_bytes();
    let encoded = SequenceEncoder::from_state(state, config)
        .encode_next_as(&picture, FrameKind::Anchor)
        .map_err(|e| TaskError::Encode {
            chunk,
            frame: 0,
            reason: e.to_string(),
        })?;
    let scene_cut = encoded.stats.key_frame;
    let coded = vec![FrameFacts::coded(encoded.data.len(), encoded.stats.sse)];
    let mut out = Blobs::new();
    let frame = out.insert(encoded.data);
    let made_from = out.insert(made_from);
    Ok(Executed {
        output: TaskOutput::EncodeGivenState {
            frame,
            made_from,
            scene_cut,
        },
        blobs: out,
        work: WorkStats { frames: 1, coded },
    })
}

#[allow(clippy::too_many_arguments)]
fn rebase_chunk(
    chunk: u32,
    format: &PictureFormat,
    target: &Option<BlobId>,
    first_frame: &BlobId,
    first_made_from: &BlobId,
    original: &BlobId,
    frames: &[BlobId],
    blobs: &impl BlobSource,
) -> Result<Executed, TaskError> {
    if frames.is_empty() {
        return Err(TaskError::BadTask(format!("chunk {chunk} has no frames")));
    }
    let frame_count = frame_count(chunk, frames.len())?;
    let first_frame = read_blob(blobs, "first_frame", first_frame)?;
    let target = match target {
        Some(id) => read_state(blobs, format, "target", id)?,
        None if is_key_frame(first_frame) => DecoderState::new(),
        None => {
            return Err(TaskError::BadTask(format!(
                "chunk {chunk}: a rebase without a target needs a keyframe first, \
                 which first_frame is not"
            )));
        }
    };
    let first_made_from = read_context(blobs, format, "first_made_from", first_made_from)?;
    let original_id = original;
    let original = unpack_frames(read_blob(blobs, "original", original_id)?)
        .map_err(|e| e.in_input("original", original_id))?;
    check_sources(chunk, &original, frames.len())?;

    let decode_error = |frame: u32| {
        move |e: codec_core::DecodeError| TaskError::Decode {
            chunk,
            frame,
            reason: e.to_string(),
        }
    };
    let mut rebased = Vec::with_capacity(original.len());
    let mut coded = Vec::with_capacity(original.len());
    let mut current = target;
    let mut made_from = first_made_from;
    for (index, made) in (0u32..).zip(&original) {
        let frame = if index == 0 { first_frame } else { made.data };
        let (data, state, facts) = if is_key_frame(frame) {
            // A keyframe (a scene cut) stays as it is, which is what the serial encoder
            // would have put there. Decoded from the state before it, as any decoder does: a
            // keyframe keeps the segment map.
            let (state, _) = codec_core::decode(&current, frame).map_err(decode_error(index))?;
            (frame.to_vec(), state, FrameFacts::kept(frame.len()))
        } else if made.source == LONG_TERM_SOURCE {
            // Coded once for the batch from golden and altref alone, which the target holds
            // as the chunk's encode did: every coefficient stays.
            let next = retoken(&current, frame, &made_from).map_err(|e| TaskError::Rebase {
                chunk,
                frame: index,
                reason: e.to_string(),
            })?;
            let facts = FrameFacts::kept(next.data.len());
            (next.data, next.state, facts)
        } else {
            let source = made.source as usize;
            let picture =
                read_picture(blobs, format, &format!("frames[{source}]"), &frames[source])?;
            let next =
                rebase(&current, &picture, frame, &made_from).map_err(|e| TaskError::Rebase {
                    chunk,
                    frame: index,
                    reason: e.to_string(),
                })?;
            let facts = FrameFacts::coded(next.data.len(), next.stats.sse);
            (next.data, next.state, facts)
        };
        // Frames 1.. were made against the chunk's own encode, which started from nothing.
        let own = if index == 0 {
            FrameContext::of(&DecoderState::new())
        } else {
            made_from
        };
        made_from = own.after(made.data).map_err(decode_error(index))?;
        rebased.push(data);
        coded.push(facts);
        current = state;
    }
    let rebased: Vec<ChunkFrame<'_>> = original
        .iter()
        .zip(&rebased)
        .map(|(made, data)| ChunkFrame {
            source: made.source,
            data,
        })
        .collect();

    let mut out = Blobs::new();
    let stream = out.insert(pack_frames(&rebased));
    let final_state = out.insert(current.to_bytes());
    Ok(Executed {
        output: TaskOutput::Rebase {
            stream,
            final_state,
        },
        blobs: out,
        work: WorkStats {
            frames: frame_count,
            coded,
        },
    })
}

/// Checks that a chunk stream's frames code the task's `pictures` pictures as an encode makes
/// them: the first frame shows the first picture (the given-state frame stands in for it),
/// the shown frames show every picture once and in order, and each hidden frame codes a
/// picture still to be shown.
fn check_sources(chunk: u32, frames: &[ChunkFrame<'_>], pictures: usize) -> Result<(), TaskError> {
    let bad = |why: String| Err(TaskError::BadTask(format!("chunk {chunk}: {why}")));
    if frames
        .first()
        .is_none_or(|first| first.source != 0 || !first.shown())
    {
        return bad(
            "the original stream does not start by showing the chunk's first picture".into(),
        );
    }
    let mut shown = 0usize;
    for (index, frame) in frames.iter().enumerate() {
        let source = frame.source as usize;
        if frame.shown() {
            if source != shown {
                return bad(format!(
                    "frame {index} of the original stream shows picture {source} where picture \
                     {shown} comes next"
                ));
            }
            shown += 1;
        } else if frame.source != LONG_TERM_SOURCE && (source < shown || source >= pictures) {
            return bad(format!(
                "hidden frame {index} of the original stream codes picture {source}, which \
                 is not among the {} pictures still to be shown",
                pictures.saturating_sub(shown)
            ));
        }
    }
    if shown != pictures {
        return bad(format!(
            "the original stream shows {shown} pictures but the task names {pictures}"
        ));
    }
    Ok(())
}

/// Whether a compressed frame is a keyframe (RFC 6386 §9.1: bit 0 of the tag is 0).
pub fn is_key_frame(frame: &[u8]) -> bool {
    frame.first().is_some_and(|tag| tag & 1 == 0)
}

fn frame_count(chunk: u32, frames: usize) -> Result<u32, TaskError> {
    u32::try_from(frames)
        .map_err(|_| TaskError::BadTask(format!("chunk {chunk} has {frames} frames")))
}

fn read_blob<'a>(
    blobs: &'a impl BlobSource,
    input: &str,
    id: &BlobId,
) -> Result<&'a [u8], TaskError> {
    blobs.blob(id).ok_or_else(|| TaskError::MissingBlob {
        input: input.into(),
        id: *id,
    })
}

fn read_picture(
    blobs: &impl BlobSource,
    format: &PictureFormat,
    input: &str,
    id: &BlobId,
) -> Result<Picture, TaskError> {
    format
        .picture_from_i420(read_blob(blobs, input, id)?)
        .map_err(|e| e.in_input(input, id))
}

/// A state blob, which must hold pictures of the task's size: an encoder handed a state of
/// another size would silently start a new keyframe, breaking the one-keyframe-per-batch
/// promise.
fn read_state(
    blobs: &impl BlobSource,
    format: &PictureFormat,
    input: &str,
    id: &BlobId,
) -> Result<DecoderState, TaskError> {
    read_sized(
        blobs,
        format,
        input,
        id,
        DecoderState::from_bytes,
        DecoderState::size,
    )
}

/// A frame-context blob, which must describe a state of the task's size, as [`read_state`].
fn read_context(
    blobs: &impl BlobSource,
    format: &PictureFormat,
    input: &str,
    id: &BlobId,
) -> Result<FrameContext, TaskError> {
    read_sized(
        blobs,
        format,
        input,
        id,
        FrameContext::from_bytes,
        FrameContext::size,
    )
}

/// Loads blob `id` with `load` and checks that `size` of it is the task's picture size.
fn read_sized<T>(
    blobs: &impl BlobSource,
    format: &PictureFormat,
    input: &str,
    id: &BlobId,
    load: impl FnOnce(&[u8]) -> Result<T, codec_core::StateError>,
    size: impl FnOnce(&T) -> Option<FrameSize>,
) -> Result<T, TaskError> {
    let value =
        load(read_blob(blobs, input, id)?).map_err(|e| malformed(input, id, e.to_string()))?;
    check_size(size(&value), format).map_err(|reason| malformed(input, id, reason))?;
    Ok(value)
}

fn malformed(input: &str, id: &BlobId, reason: String) -> TaskError {
    TaskError::MalformedBlob {
        input: format!("{input} ({})", id.short()),
        reason,
    }
}

/// Whether a state (or its context) of `size` belongs to a task reading `format` pictures.
fn check_size(size: Option<FrameSize>, format: &PictureFormat) -> Result<(), String> {
    match size {
        Some(size)
            if u32::from(size.width) == format.width && u32::from(size.height) == format.height =>
        {
            Ok(())
        }
        Some(size) => Err(format!(
            "the state holds {}x{} pictures but the task's are {}x{}",
            size.width, size.height, format.width, format.height
        )),
        None => Err("the state has no reference pictures (no frame decoded yet)".into()),
    }
}
