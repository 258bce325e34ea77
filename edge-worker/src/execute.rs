//! The worker proper: one pure function from a task and its input blobs to its output blobs.

use codec_core::encoder::rate_control::FrameKind;
use codec_core::encoder::sequence::SequenceEncoder;
use codec_core::state::FrameSize;
use codec_core::{DecoderState, FrameContext, Picture, rebase};

use crate::blob::{BlobId, BlobSource, Blobs};
use crate::error::TaskError;
use crate::picture_io::PictureFormat;
use crate::stream::{pack_frames, unpack_frames};
use crate::task::{EncodeSettings, Executed, FrameFacts, Opening, Task, TaskOutput, WorkStats};

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
        } => encode_chunk(*chunk, format, settings, *opening, frames, blobs),
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

fn encode_chunk(
    chunk: u32,
    format: &PictureFormat,
    settings: &EncodeSettings,
    opening: Opening,
    frames: &[BlobId],
    blobs: &impl BlobSource,
) -> Result<Executed, TaskError> {
    let mut config = settings.sequence_config()?;
    config.first_frame_replaced = opening == Opening::Anchor;
    if frames.is_empty() {
        return Err(TaskError::BadTask(format!("chunk {chunk} has no frames")));
    }
    let frame_count = frame_count(chunk, frames.len())?;
    let mut encoder = SequenceEncoder::new(config);
    let mut compressed = Vec::with_capacity(frames.len());
    let mut coded = Vec::with_capacity(frames.len());
    for (index, id) in (0u32..).zip(frames) {
        let picture = read_picture(blobs, format, &format!("frames[{index}]"), id)?;
        let frame = encoder
            .encode_next(&picture)
            .map_err(|e| TaskError::Encode {
                chunk,
                frame: index,
                reason: e.to_string(),
            })?;
        coded.push(FrameFacts::coded(frame.data.len(), frame.stats.sse));
        compressed.push(frame.data);
    }
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
    if original.len() != frames.len() {
        return Err(TaskError::BadTask(format!(
            "chunk {chunk}: the original stream has {} frames but the task names {} pictures",
            original.len(),
            frames.len()
        )));
    }

    let decode_error = |frame: u32| {
        move |e: codec_core::DecodeError| TaskError::Decode {
            chunk,
            frame,
            reason: e.to_string(),
        }
    };
    let mut rebased = Vec::with_capacity(frames.len());
    let mut coded = Vec::with_capacity(frames.len());
    let mut current = target;
    let mut made_from = first_made_from;
    for (index, id) in (0u32..).zip(frames) {
        let frame = if index == 0 {
            first_frame
        } else {
            original[index as usize]
        };
        let (data, state, facts) = if is_key_frame(frame) {
            // A keyframe (a scene cut) stays as it is, which is what the serial encoder
            // would have put there. Decoded from the state before it, as any decoder does: a
            // keyframe keeps the segment map.
            let (state, _) = codec_core::decode(&current, frame).map_err(decode_error(index))?;
            (frame.to_vec(), state, FrameFacts::kept(frame.len()))
        } else {
            let picture = read_picture(blobs, format, &format!("frames[{index}]"), id)?;
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
        made_from = own
            .after(original[index as usize])
            .map_err(decode_error(index))?;
        rebased.push(data);
        coded.push(facts);
        current = state;
    }

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
