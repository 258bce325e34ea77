//! End-to-end tests: the pipeline's three tasks on a small synthetic clip, directly and
//! through the wire format.

use std::sync::Arc;

use codec_core::encoder::sequence::REPLACED_KEYFRAME_BOOST;
use codec_core::{DecoderState, FrameContext, decode, rebase};

use crate::wire::{
    InlinePolicy, NamedBlobs, REQUEST_MAGIC, check_fetched, decode_request, decode_response,
    encode_request, encode_response, handle, handle_with,
};
use crate::*;

const FORMAT: PictureFormat = PictureFormat {
    width: 48,
    height: 32,
};
const CHUNK: usize = 4;

/// Twelve I420 frames of a diagonal gradient with a bright square, both moving.
fn clip(blobs: &mut Blobs) -> Vec<BlobId> {
    let (w, h) = (FORMAT.width as usize, FORMAT.height as usize);
    let (cw, ch) = FORMAT.chroma_size();
    (0..12)
        .map(|t| {
            let mut frame = Vec::with_capacity(FORMAT.i420_len());
            for y in 0..h {
                for x in 0..w {
                    let in_square = (x + 40 - 3 * t) % 48 < 10 && (y + t) % 32 < 8;
                    let gradient = (x * 3 + y * 2 + t * 4) as u8;
                    frame.push(if in_square { 235 } else { gradient });
                }
            }
            frame.extend((0..cw * ch).map(|i| (100 + (i + t) % 24) as u8));
            frame.extend((0..cw * ch).map(|i| (140 - (i * 3 + t) % 20) as u8));
            blobs.insert(frame)
        })
        .collect()
}

fn settings() -> EncodeSettings {
    EncodeSettings {
        rate: RateSetting::CqLevel(20),
        // With the default boost the anchors come out as scene cuts: so finely quantized,
        // intra prediction follows the clip's brightening gradient better than motion does,
        // and these tests want anchors that stay interframes.
        anchor_boost: 10,
        ..EncodeSettings::default()
    }
}

/// The encode of chunk `chunk`, all chunks in one batch: chunk 0 opens it, the keyframes of
/// the others are replaced by anchors.
fn encode_chunk_task(chunk: u32, frames: &[BlobId]) -> Task {
    Task::EncodeChunk {
        chunk,
        format: FORMAT,
        settings: settings(),
        opening: if chunk == 0 {
            Opening::Keyframe
        } else {
            Opening::Anchor {
                key_picture: frames[0],
                key_cq_level: None,
            }
        },
        frames: chunk_of(frames, chunk as usize).to_vec(),
        long_term: Vec::new(),
    }
}

/// Runs `task`, checks that the output names exactly the new blobs, and keeps them.
fn run(task: &Task, blobs: &mut Blobs) -> TaskOutput {
    let executed = execute(task, blobs).unwrap_or_else(|e| panic!("{}: {e}", task.kind()));
    let mut named = executed.output.blobs();
    named.sort();
    assert_eq!(executed.blobs.ids().copied().collect::<Vec<_>>(), named);
    blobs.extend(executed.blobs);
    executed.output
}

/// A request for `task` with every input inline.
fn inline_request(task: &Task, blobs: &Blobs) -> Result<Vec<u8>, TaskError> {
    encode_request(task, blobs, &[], InlinePolicy::DEFAULT)
}

fn stream_and_state(output: &TaskOutput) -> (BlobId, BlobId) {
    match output {
        TaskOutput::EncodeChunk {
            stream,
            final_state,
        }
        | TaskOutput::Rebase {
            stream,
            final_state,
        } => (*stream, *final_state),
        other => panic!("no stream in {other:?}"),
    }
}

fn state(blobs: &Blobs, id: &BlobId) -> DecoderState {
    DecoderState::from_bytes(blobs.get(id).unwrap()).unwrap()
}

/// The frames of a chunk stream, without their sources.
fn frame_data(stream: &[u8]) -> Vec<&[u8]> {
    let frames = unpack_frames(stream).unwrap();
    frames.into_iter().map(|frame| frame.data).collect()
}

/// Decodes `frames` from `start`, returning the pictures shown and the final state.
fn decode_all(start: &DecoderState, frames: &[&[u8]]) -> (usize, DecoderState) {
    let mut current = start.clone();
    let mut shown = 0;
    for (i, frame) in frames.iter().enumerate() {
        let (next, picture) = decode(&current, frame).unwrap_or_else(|e| panic!("frame {i}: {e}"));
        shown += usize::from(picture.is_some());
        current = next;
    }
    (shown, current)
}

#[test]
fn encode_chunk_decodes_to_its_final_state() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let output = run(&encode_chunk_task(0, &frames), &mut blobs);
    let (stream, final_state) = stream_and_state(&output);
    let coded = frame_data(blobs.get(&stream).unwrap());
    assert_eq!(coded.len(), CHUNK);
    assert!(is_key_frame(coded[0]));
    assert!(coded[1..].iter().all(|f| !is_key_frame(f)));
    let (shown, end) = decode_all(&DecoderState::new(), &coded);
    assert_eq!(shown, CHUNK);
    assert_eq!(end, state(&blobs, &final_state));
}

#[test]
fn execute_is_deterministic() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let task = encode_chunk_task(1, &frames);
    let first = execute(&task, &blobs).unwrap();
    let second = execute(&task, &blobs).unwrap();
    assert_eq!(first, second);
    assert_eq!(first.work.frames, CHUNK as u32);
}

/// Runs the given-state task of chunk `chunk` for picture `frame` from `state`: returns the
/// frame, the context it was made against and whether it is a scene cut.
fn given_state(
    chunk: u32,
    state: BlobId,
    frame: BlobId,
    blobs: &mut Blobs,
) -> (BlobId, BlobId, bool) {
    let task = Task::EncodeGivenState {
        chunk,
        format: FORMAT,
        settings: settings(),
        state,
        frame,
    };
    let TaskOutput::EncodeGivenState {
        frame,
        made_from,
        scene_cut,
    } = run(&task, blobs)
    else {
        panic!("wrong output kind");
    };
    (frame, made_from, scene_cut)
}

#[test]
fn encode_given_state_continues_the_previous_chunk() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let (_, s0) = stream_and_state(&run(&encode_chunk_task(0, &frames), &mut blobs));
    let (frame, made_from, scene_cut) = given_state(1, s0, frames[CHUNK], &mut blobs);
    assert!(!scene_cut);
    let frame = blobs.get(&frame).unwrap();
    assert!(!is_key_frame(frame));
    let (shown, after) = decode_all(&state(&blobs, &s0), &[frame]);
    assert_eq!(shown, 1);
    // An anchor leaves last and altref as the keyframe it stands in for would have, and
    // golden as it was: the batch keyframe.
    let refs = after.references().unwrap();
    assert!(Arc::ptr_eq(&refs.last, &refs.altref));
    let before = state(&blobs, &s0);
    assert_eq!(refs.golden, before.references().unwrap().golden);
    assert_ne!(refs.last, refs.golden);
    // The context it reports is the state's it was made against, without the pictures.
    let context = FrameContext::from_bytes(blobs.get(&made_from).unwrap()).unwrap();
    assert_eq!(context, FrameContext::of(&state(&blobs, &s0)));
    assert!(blobs.get(&made_from).unwrap().len() < blobs.get(&s0).unwrap().len());
}

#[test]
fn a_keyframe_an_anchor_replaces_gets_its_own_boost() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    // Coarse enough that neither boost reaches quantizer 0.
    let settings = EncodeSettings {
        rate: RateSetting::CqLevel(60),
        ..settings()
    };
    let mut keyframe_quantizer = |opening: Opening| {
        let task = Task::EncodeChunk {
            chunk: 1,
            format: FORMAT,
            settings: settings.clone(),
            opening,
            frames: chunk_of(&frames, 1).to_vec(),
            long_term: Vec::new(),
        };
        let (stream, _) = stream_and_state(&run(&task, &mut blobs));
        let frames = frame_data(blobs.get(&stream).unwrap());
        assert!(is_key_frame(frames[0]));
        i32::from(codec_core::header::inspect(frames[0]).unwrap().quant.y_ac)
    };
    let batch_keyframe = keyframe_quantizer(Opening::Keyframe);
    let replaced = keyframe_quantizer(Opening::Anchor {
        key_picture: frames[0],
        key_cq_level: None,
    });
    let config = settings.sequence_config().unwrap();
    assert_eq!(
        replaced - batch_keyframe,
        i32::from(config.keyframe_boost) - i32::from(REPLACED_KEYFRAME_BOOST)
    );
}

/// A chunk that an anchor opens holds its batch's keyframe as golden, exactly as the
/// batch's first chunk made it, so that the blocks its encode predicts from golden find the
/// same picture in the final stream; last and altref stay its own keyframe.
#[test]
fn chunks_hold_the_batch_keyframe_as_golden() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let (_, s0) = stream_and_state(&run(&encode_chunk_task(0, &frames), &mut blobs));
    let (own1, s1) = stream_and_state(&run(&encode_chunk_task(1, &frames), &mut blobs));
    let (first, second) = (state(&blobs, &s0), state(&blobs, &s1));
    let (r0, r1) = (first.references().unwrap(), second.references().unwrap());
    assert_eq!(r1.golden, r0.golden);
    assert_ne!(r1.golden, r1.last);
    // The chunk's own keyframe is where last and altref began; its interframes refresh only
    // last.
    let own = frame_data(blobs.get(&own1).unwrap());
    let (_, after_keyframe) = decode_all(&DecoderState::new(), &own[..1]);
    assert_eq!(r1.altref, after_keyframe.references().unwrap().last);
}

/// A chunk coded at a quality level of its own (a bitrate plan's) still holds its batch's
/// keyframe as golden, coded at the level the batch's first chunk had.
#[test]
fn a_chunk_at_its_own_level_holds_the_batch_keyframe_of_the_first_chunks_level() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let at_level = |level: u8, opening: Opening, blobs: &mut Blobs| {
        let task = Task::EncodeChunk {
            chunk: if opening == Opening::Keyframe { 0 } else { 1 },
            format: FORMAT,
            settings: EncodeSettings {
                rate: RateSetting::CqLevel(level),
                ..settings()
            },
            opening,
            frames: chunk_of(&frames, usize::from(opening != Opening::Keyframe)).to_vec(),
            long_term: Vec::new(),
        };
        let (_, end) = stream_and_state(&run(&task, blobs));
        state(blobs, &end).references().unwrap().golden.clone()
    };
    let batch_keyframe = at_level(20, Opening::Keyframe, &mut blobs);
    let anchored = |key_cq_level| Opening::Anchor {
        key_picture: frames[0],
        key_cq_level,
    };
    assert_eq!(at_level(40, anchored(Some(20)), &mut blobs), batch_keyframe);
    assert_ne!(at_level(40, anchored(None), &mut blobs), batch_keyframe);
    assert_ne!(at_level(40, anchored(Some(50)), &mut blobs), batch_keyframe);
}

/// Vertical stripes: nothing like the clip, so a scene cut after any of its frames.
fn stripes(blobs: &mut Blobs) -> BlobId {
    let (w, h) = (FORMAT.width as usize, FORMAT.height as usize);
    let (cw, ch) = FORMAT.chroma_size();
    let mut frame: Vec<u8> = (0..w * h)
        .map(|i| if (i % w / 3) % 2 == 0 { 16 } else { 240 })
        .collect();
    frame.extend(std::iter::repeat_n(40, cw * ch));
    frame.extend(std::iter::repeat_n(220, cw * ch));
    blobs.insert(frame)
}

#[test]
fn a_scene_cut_at_a_chunk_start_stays_a_keyframe_and_needs_no_target() {
    let mut blobs = Blobs::new();
    let mut frames = clip(&mut blobs);
    // Chunk 1 is another scene.
    let cut = stripes(&mut blobs);
    frames[CHUNK..2 * CHUNK].fill(cut);
    let (_, s0) = stream_and_state(&run(&encode_chunk_task(0, &frames), &mut blobs));
    let (own1, end1) = stream_and_state(&run(&encode_chunk_task(1, &frames), &mut blobs));
    let (first, made_from, scene_cut) = given_state(1, s0, frames[CHUNK], &mut blobs);
    assert!(scene_cut);
    assert!(is_key_frame(blobs.get(&first).unwrap()));
    let rebase_task = |target: Option<BlobId>, first_frame: BlobId| Task::Rebase {
        chunk: 1,
        format: FORMAT,
        target,
        first_frame,
        first_made_from: made_from,
        original: own1,
        frames: chunk_of(&frames, 1).to_vec(),
    };
    let (stream, end) = stream_and_state(&run(&rebase_task(None, first), &mut blobs));
    let rebased = frame_data(blobs.get(&stream).unwrap());
    assert_eq!(
        rebased[0],
        blobs.get(&first).unwrap(),
        "the keyframe is kept"
    );
    assert_eq!(rebased.iter().filter(|f| is_key_frame(f)).count(), 1);
    let (shown, decoded) = decode_all(&DecoderState::new(), &rebased);
    assert_eq!(shown, CHUNK);
    assert_eq!(decoded, state(&blobs, &end));
    // With a target, the keyframe is kept all the same, and the rest follows from it.
    let (same, _) = stream_and_state(&run(&rebase_task(Some(s0), first), &mut blobs));
    assert_eq!(same, stream);
    assert_ne!(
        end, end1,
        "the chunk now follows the cut's keyframe, not its own"
    );

    // Without a target, the first frame must be a keyframe.
    let inter = frame_data(blobs.get(&own1).unwrap())[1].to_vec();
    let inter = blobs.insert(inter);
    let err = execute(&rebase_task(None, inter), &blobs).unwrap_err();
    assert!(matches!(err, TaskError::BadTask(_)), "{err}");
}

/// The pictures of chunk `chunk` among a video's `frames`, in chunks of [`CHUNK`].
fn chunk_of(frames: &[BlobId], chunk: usize) -> &[BlobId] {
    &frames[chunk * CHUNK..(chunk + 1) * CHUNK]
}

/// Stage 2 and 3 of the pipeline for chunk `chunk` of pictures `pictures`: its first frame
/// encoded from the previous chunk's own final state `prev_own`, then the chunk rebased onto
/// `target`, the true state after the previous chunk. Returns the rebase task and its output.
fn join(
    chunk: u32,
    pictures: &[BlobId],
    own_stream: BlobId,
    prev_own: BlobId,
    target: BlobId,
    blobs: &mut Blobs,
) -> (Task, BlobId, BlobId) {
    let (first, made_from, _) = given_state(chunk, prev_own, pictures[0], blobs);
    let task = Task::Rebase {
        chunk,
        format: FORMAT,
        target: Some(target),
        first_frame: first,
        first_made_from: made_from,
        original: own_stream,
        frames: pictures.to_vec(),
    };
    let (stream, state) = stream_and_state(&run(&task, blobs));
    (task, stream, state)
}

#[test]
fn rebased_chunks_join_into_one_stream() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let own: Vec<(BlobId, BlobId)> = (0..3)
        .map(|chunk| stream_and_state(&run(&encode_chunk_task(chunk, &frames), &mut blobs)))
        .collect();
    // Chunk 0 opens the batch, so its own encode is final; chunk 1 is rebased onto a state
    // equal to the one its first frame was made against, chunk 2 onto a different one.
    let (_, stream1, t1) = join(
        1,
        chunk_of(&frames, 1),
        own[1].0,
        own[0].1,
        own[0].1,
        &mut blobs,
    );
    let (task2, stream2, t2) = join(2, chunk_of(&frames, 2), own[2].0, own[1].1, t1, &mut blobs);
    assert_ne!(
        t1, own[1].1,
        "chunk 1's true end state should differ from its own encode's"
    );

    let mut all = frame_data(blobs.get(&own[0].0).unwrap());
    for (stream, end_state) in [(stream1, t1), (stream2, t2)] {
        all.extend(frame_data(blobs.get(&stream).unwrap()));
        assert_eq!(all.iter().filter(|f| is_key_frame(f)).count(), 1);
        assert!(is_key_frame(all[0]));
        let (shown, end) = decode_all(&DecoderState::new(), &all);
        assert_eq!(shown, all.len());
        assert_eq!(end, state(&blobs, &end_state));
    }
    assert_eq!(all.len(), 12);

    // The same task through the wire gives the same answer.
    let request = inline_request(&task2, &blobs).unwrap();
    let remote = decode_response(&handle(&request)).unwrap();
    assert_eq!(remote.executed, execute(&task2, &blobs).unwrap());
}

/// `count` I420 frames of a still textured background with a small square crossing it: still
/// enough for altref groups to pay.
fn still_clip(blobs: &mut Blobs, count: usize) -> Vec<BlobId> {
    let (w, h) = (FORMAT.width as usize, FORMAT.height as usize);
    let (cw, ch) = FORMAT.chroma_size();
    (0..count)
        .map(|t| {
            let mut frame = Vec::with_capacity(FORMAT.i420_len());
            for y in 0..h {
                for x in 0..w {
                    let in_square = (x + 44 - t) % 48 < 6 && (12..18).contains(&y);
                    let texture = (x * 7 + y * 13 + (x * y) % 11 * 9) as u8;
                    frame.push(if in_square { 230 } else { texture / 2 + 40 });
                }
            }
            frame.extend((0..cw * ch).map(|i| (100 + i % 24) as u8));
            frame.extend((0..cw * ch).map(|i| (140 - (i * 3) % 20) as u8));
            blobs.insert(frame)
        })
        .collect()
}

/// Chunks with altref groups: each chunk's stream codes its last picture ahead as a hidden
/// frame; rebase keeps every frame where it was, hidden ones hidden, each rebased against
/// the picture it codes; the joined stream shows every picture once, in order.
#[test]
fn hidden_frames_go_through_rebase() {
    const LONG: usize = 8;
    let mut blobs = Blobs::new();
    let frames = still_clip(&mut blobs, 3 * LONG);
    let settings = EncodeSettings {
        altref_interval: LONG as u32,
        ..settings()
    };
    let pictures = |chunk: usize| frames[chunk * LONG..][..LONG].to_vec();
    let own: Vec<(BlobId, BlobId)> = (0..3u32)
        .map(|chunk| {
            let task = Task::EncodeChunk {
                chunk,
                format: FORMAT,
                settings: settings.clone(),
                opening: if chunk == 0 {
                    Opening::Keyframe
                } else {
                    Opening::Anchor {
                        key_picture: frames[0],
                        key_cq_level: None,
                    }
                },
                frames: pictures(chunk as usize),
                long_term: Vec::new(),
            };
            stream_and_state(&run(&task, &mut blobs))
        })
        .collect();
    let sources = |blobs: &Blobs, stream: &BlobId| -> Vec<(u32, bool)> {
        let frames = unpack_frames(blobs.get(stream).unwrap()).unwrap();
        frames.iter().map(|f| (f.source, f.shown())).collect()
    };
    // The keyframe, the group's last picture ahead and hidden, then the group in order.
    let grouped: Vec<(u32, bool)> = [(0, true), (7, false)]
        .into_iter()
        .chain((1..8).map(|source| (source, true)))
        .collect();
    for (stream, _) in &own {
        assert_eq!(sources(&blobs, stream), grouped);
    }

    let mut target = own[0].1;
    let mut streams = vec![own[0].0];
    for chunk in 1..3u32 {
        let c = chunk as usize;
        let pictures = pictures(c);
        let (_, stream, state) = join(chunk, &pictures, own[c].0, own[c - 1].1, target, &mut blobs);
        streams.push(stream);
        target = state;
    }
    let mut all = Vec::new();
    for stream in &streams {
        assert_eq!(sources(&blobs, stream), grouped);
        all.extend(frame_data(blobs.get(stream).unwrap()));
    }
    let (shown, end) = decode_all(&DecoderState::new(), &all);
    assert_eq!((shown, all.len()), (3 * LONG, 3 * (LONG + 1)));
    assert_eq!(end, state(&blobs, &target));

    // Each hidden frame was rebased against the picture it codes: what it leaves in the
    // altref reference is nearer that picture than the one shown after it.
    let picture = |index: usize| FORMAT.picture_from_i420(blobs.get(&frames[index]).unwrap());
    let mut current = DecoderState::new();
    let mut shown = 0;
    for frame in &all {
        let (next, picture_shown) = decode(&current, frame).unwrap();
        current = next;
        if picture_shown.is_some() {
            shown += 1;
            continue;
        }
        let altref = &current.references().unwrap().altref;
        let distance = |index: usize| -> u64 {
            codec_core::metrics::picture_sse(&picture(index).unwrap(), altref)
                .iter()
                .sum()
        };
        // It follows its chunk's first picture and codes its last.
        let (own, next_shown) = (shown + LONG - 2, shown);
        assert!(
            distance(own) < distance(next_shown),
            "hidden frame before picture {shown}"
        );
    }
}

/// A rebase refuses an original stream whose frames do not show the task's pictures once
/// each and in order.
#[test]
fn a_rebase_checks_what_the_original_frames_code() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let (_, s0) = stream_and_state(&run(&encode_chunk_task(0, &frames), &mut blobs));
    let (own1, _) = stream_and_state(&run(&encode_chunk_task(1, &frames), &mut blobs));
    let (first, made_from, _) = given_state(1, s0, frames[CHUNK], &mut blobs);
    let original = unpack_frames(blobs.get(&own1).unwrap()).unwrap();
    let with = |change: &dyn Fn(&mut Vec<ChunkFrame<'_>>)| {
        let mut frames = original.clone();
        change(&mut frames);
        pack_frames(&frames)
    };
    let cases = [
        (with(&|f| f.swap(1, 2)), "shows picture 2 where picture 1"),
        (with(&|f| f[0].source = 1), "does not start by showing"),
        (
            with(&|f| f.truncate(3)),
            "shows 3 pictures but the task names 4",
        ),
    ];
    for (stream, expected) in cases {
        let stream = blobs.insert(stream);
        let task = Task::Rebase {
            chunk: 1,
            format: FORMAT,
            target: Some(s0),
            first_frame: first,
            first_made_from: made_from,
            original: stream,
            frames: chunk_of(&frames, 1).to_vec(),
        };
        let err = execute(&task, &blobs).unwrap_err();
        assert!(
            matches!(err, TaskError::BadTask(_)) && err.to_string().contains(expected),
            "{err}"
        );
    }
}

/// The walk must parse each frame with the context of the state it was made against:
/// checked against rebasing by hand, with contexts taken from fully decoded states.
#[test]
fn rebase_walk_matches_a_walk_by_hand() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let own: Vec<(BlobId, BlobId)> = (0..3)
        .map(|chunk| stream_and_state(&run(&encode_chunk_task(chunk, &frames), &mut blobs)))
        .collect();
    let (_, _, t1) = join(
        1,
        chunk_of(&frames, 1),
        own[1].0,
        own[0].1,
        own[0].1,
        &mut blobs,
    );
    // Chunk 2's first frame is made against chunk 1's state with other mode probabilities
    // than the target's: this encoder leaves them at their defaults, and then a walk that
    // parsed with the target's context could not be told from one that does it right.
    let mut made_from = state(&blobs, &own[1].1);
    made_from.probabilities.y_mode = [200, 30, 60, 150];
    made_from.probabilities.uv_mode = [60, 200, 90];
    let made_from_id = blobs.insert(made_from.to_bytes());
    let (task, stream, t2) = join(
        2,
        chunk_of(&frames, 2),
        own[2].0,
        made_from_id,
        t1,
        &mut blobs,
    );
    let Task::Rebase { first_frame, .. } = task else {
        panic!("wrong task kind");
    };

    let pictures: Vec<_> = frames[2 * CHUNK..]
        .iter()
        .map(|id| FORMAT.picture_from_i420(blobs.get(id).unwrap()).unwrap())
        .collect();
    let original = frame_data(blobs.get(&own[2].0).unwrap());
    let first = rebase(
        &state(&blobs, &t1),
        &pictures[0],
        blobs.get(&first_frame).unwrap(),
        &FrameContext::of(&made_from),
    )
    .unwrap();
    let mut expected = vec![first.data];
    let mut current = first.state;
    let mut own_state = DecoderState::new();
    for k in 1..CHUNK {
        own_state = decode(&own_state, original[k - 1]).unwrap().0;
        let next = rebase(
            &current,
            &pictures[k],
            original[k],
            &FrameContext::of(&own_state),
        )
        .unwrap();
        expected.push(next.data);
        current = next.state;
    }
    assert_eq!(frame_data(blobs.get(&stream).unwrap()), expected);
    assert_eq!(state(&blobs, &t2), current);
}

#[test]
fn wire_round_trip_equals_direct_execute() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let task = encode_chunk_task(0, &frames);
    let request = inline_request(&task, &blobs).unwrap();
    let decoded = decode_request(&request).unwrap();
    assert_eq!(decoded.task, task);
    assert_eq!(decoded.inline.len(), CHUNK);
    assert!(decoded.named.is_empty());
    assert!(frames[..CHUNK].iter().all(|id| decoded.inline.contains(id)));

    let direct = execute(&task, &blobs).unwrap();
    let remote = decode_response(&handle(&request)).unwrap();
    assert_eq!(remote.executed, direct);
    assert!(remote.stored.is_empty());
    assert_eq!(
        decode_response(&encode_response(&Ok(remote.clone()))),
        Ok(remote)
    );
}

#[test]
fn task_errors_travel_back() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let mut task = encode_chunk_task(0, &frames);
    if let Task::EncodeChunk { settings, .. } = &mut task {
        settings.speed = 99;
    }
    let response = decode_response(&handle(&inline_request(&task, &blobs).unwrap()));
    let err = response.unwrap_err();
    assert!(matches!(err, TaskError::BadTask(_)), "{err}");
    assert!(!err.is_transport());
    let err = TaskError::Decode {
        chunk: 7,
        frame: 2,
        reason: "partition runs past the end".into(),
    };
    assert_eq!(
        decode_response(&encode_response(&Err(err.clone()))),
        Err(err)
    );
}

#[test]
fn missing_blobs_are_named() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let task = encode_chunk_task(0, &frames);
    let gone = frames[2];
    blobs.remove(&gone);
    let err = execute(&task, &blobs).unwrap_err();
    assert_eq!(
        err,
        TaskError::MissingBlob {
            input: "frames[2]".into(),
            id: gone
        }
    );
    assert!(err.to_string().contains(&gone.to_string()));
    assert!(matches!(
        inline_request(&task, &blobs),
        Err(TaskError::MissingBlob { id, .. }) if id == gone
    ));
}

#[test]
fn malformed_inputs_are_errors() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let (stream0, s0) = stream_and_state(&run(&encode_chunk_task(0, &frames), &mut blobs));
    let not_a_picture = blobs.insert(vec![1, 2, 3]);
    let mut task = encode_chunk_task(0, &frames);
    if let Task::EncodeChunk { frames, .. } = &mut task {
        frames[1] = not_a_picture;
    }
    let err = execute(&task, &blobs).unwrap_err();
    assert!(err.to_string().contains("frames[1]"), "{err}");

    // A state of another picture size must not quietly turn into a second keyframe.
    let small = PictureFormat {
        width: 32,
        height: 32,
    };
    let small_frame = blobs.insert(vec![0; small.i420_len()]);
    let task = Task::EncodeGivenState {
        chunk: 1,
        format: small,
        settings: settings(),
        state: s0,
        frame: small_frame,
    };
    let err = execute(&task, &blobs).unwrap_err();
    assert!(err.to_string().contains("48x32"), "{err}");

    // The original stream must have one frame per picture.
    let context = FrameContext::of(&state(&blobs, &s0)).to_bytes();
    let context = blobs.insert(context);
    let task = Task::Rebase {
        chunk: 1,
        format: FORMAT,
        target: Some(s0),
        first_frame: stream0,
        first_made_from: context,
        original: stream0,
        frames: frames[CHUNK..CHUNK + 3].to_vec(),
    };
    let err = execute(&task, &blobs).unwrap_err();
    assert!(matches!(err, TaskError::BadTask(_)), "{err}");

    // first_made_from is a frame context, not a whole state.
    let task = Task::Rebase {
        chunk: 1,
        format: FORMAT,
        target: Some(s0),
        first_frame: stream0,
        first_made_from: s0,
        original: stream0,
        frames: frames[CHUNK..CHUNK + 3].to_vec(),
    };
    let err = execute(&task, &blobs).unwrap_err();
    assert!(
        matches!(&err, TaskError::MalformedBlob { input, .. } if input.starts_with("first_made_from")),
        "{err}"
    );
}

/// One byte changed anywhere in a message, a blob's or a field's, fails its checksum: a
/// transport error, worth a retry, never a wrong answer.
#[test]
fn corrupted_messages_in_transit_are_rejected() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let task = encode_chunk_task(0, &frames);
    let request = inline_request(&task, &blobs).unwrap();
    let executed = execute(&task, &blobs).unwrap();
    let response = encode_response(&Ok(wire::Answer {
        executed,
        stored: Vec::new(),
    }));
    assert!(decode_response(&response).is_ok());
    let checksum_failure = |err: &TaskError| {
        matches!(err, TaskError::Wire(reason) if reason.contains("checksum")) && err.is_transport()
    };
    for at in (8..request.len()).step_by(request.len() / 13) {
        let mut damaged = request.clone();
        damaged[at] ^= 0x40;
        let err = decode_request(&damaged).unwrap_err();
        assert!(checksum_failure(&err), "byte {at}: {err}");
        let err = decode_response(&handle(&damaged)).unwrap_err();
        assert!(checksum_failure(&err), "byte {at}: {err}");
    }
    for at in (8..response.len()).step_by((response.len() / 13).max(1)) {
        let mut damaged = response.clone();
        damaged[at] ^= 0x01;
        let err = decode_response(&damaged).unwrap_err();
        assert!(checksum_failure(&err), "byte {at}: {err}");
    }
}

#[test]
fn garbage_requests_get_error_responses() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let request = inline_request(&encode_chunk_task(0, &frames), &blobs).unwrap();
    let mut cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"garbage".to_vec(),
        REQUEST_MAGIC.to_vec(),
        [&REQUEST_MAGIC[..], &[0xff; 9]].concat(),
        [&request[..], &[0]].concat(),
    ];
    cases.extend(
        (0..request.len())
            .step_by(97)
            .map(|n| request[..n].to_vec()),
    );
    for bytes in cases {
        let err = decode_response(&handle(&bytes)).unwrap_err();
        assert!(err.is_transport(), "{} bytes: {err}", bytes.len());
    }
    assert!(decode_response(b"nonsense").is_err());
    assert!(decode_response(&request).is_err());
}

/// A blob store in memory that counts what goes through it, and can be made to fail.
#[derive(Default)]
struct CountingStore {
    blobs: Blobs,
    fetched: usize,
    kept: usize,
    down: bool,
}

impl NamedBlobs for CountingStore {
    fn fetch(&mut self, blob: &BlobRef) -> Result<Vec<u8>, TaskError> {
        if self.down {
            return Err(TaskError::Store("connection refused".into()));
        }
        self.fetched += 1;
        self.blobs
            .get(&blob.id)
            .map(<[u8]>::to_vec)
            .ok_or(TaskError::MissingBlob {
                input: "named".into(),
                id: blob.id,
            })
    }

    fn keep(&mut self, id: &BlobId, bytes: &[u8]) -> Result<(), TaskError> {
        if self.down {
            return Err(TaskError::Store("connection refused".into()));
        }
        self.kept += 1;
        assert_eq!(*id, BlobId::of(bytes));
        self.blobs.insert(bytes.to_vec());
        Ok(())
    }
}

#[test]
fn inline_policy_fits_blobs_first_come_first_served() {
    let policy = InlinePolicy {
        max_blob: 10,
        max_total: 25,
    };
    assert_eq!(
        policy.split([5, 11, 10, 10, 1, 0]),
        [true, false, true, true, false, true]
    );
    assert!(
        InlinePolicy::EVERYTHING
            .split([u64::MAX / 2; 2])
            .iter()
            .all(|&b| b)
    );
    assert_eq!(InlinePolicy::up_to(0).split([0, 1]), [true, false]);
    // A 720p picture travels by name, a kilobyte of probabilities inline.
    assert_eq!(
        InlinePolicy::DEFAULT.split([1280 * 720 * 3 / 2, 1100]),
        [false, true]
    );
}

#[test]
fn named_blobs_are_fetched_and_large_outputs_kept() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let task = encode_chunk_task(0, &frames);
    let direct = execute(&task, &blobs).unwrap();
    let mut store = CountingStore {
        blobs: blobs.clone(),
        ..CountingStore::default()
    };
    // Every input by name, and an answer with nothing inline.
    let named: Vec<BlobRef> = task
        .inputs()
        .iter()
        .map(|id| BlobRef::of(blobs.get(id).unwrap()))
        .collect();
    let request = encode_request(&task, &Blobs::new(), &named, InlinePolicy::up_to(0)).unwrap();
    let answer = decode_response(&handle_with(&request, &mut store)).unwrap();
    assert_eq!((store.fetched, store.kept), (CHUNK, 2));
    assert!(answer.executed.blobs.is_empty());
    assert_eq!(answer.executed.output, direct.output);
    let mut stored: Vec<BlobId> = answer.stored.iter().map(|b| b.id).collect();
    stored.sort();
    assert_eq!(stored, direct.blobs.ids().copied().collect::<Vec<_>>());
    for blob in &answer.stored {
        let bytes = store.blobs.get(&blob.id).unwrap();
        check_fetched(blob, bytes).unwrap();
        assert_eq!(direct.blobs.get(&blob.id), Some(bytes));
    }

    // Some inline, some named: the same answer.
    let half = encode_request(&task, &blobs, &named[..2], InlinePolicy::DEFAULT).unwrap();
    let decoded = decode_request(&half).unwrap();
    assert_eq!(
        (decoded.inline.len(), decoded.named().len()),
        (CHUNK - 2, 2)
    );
    let answer = decode_response(&handle_with(&half, &mut store)).unwrap();
    assert_eq!(answer.executed, direct, "small outputs come back inline");
}

#[test]
fn a_store_that_fails_is_a_transport_error_and_a_missing_blob_is_not() {
    let mut blobs = Blobs::new();
    let frames = clip(&mut blobs);
    let task = encode_chunk_task(0, &frames);
    let named = [BlobRef::of(blobs.get(&frames[0]).unwrap())];
    let request = encode_request(&task, &blobs, &named, InlinePolicy::DEFAULT).unwrap();

    let mut down = CountingStore {
        blobs: blobs.clone(),
        down: true,
        ..CountingStore::default()
    };
    let err = decode_response(&handle_with(&request, &mut down)).unwrap_err();
    assert!(
        matches!(err, TaskError::Store(_)) && err.is_transport(),
        "{err}"
    );

    let err = decode_response(&handle_with(&request, &mut CountingStore::default())).unwrap_err();
    assert!(
        matches!(err, TaskError::MissingBlob { id, .. } if id == frames[0]),
        "{err}"
    );
    assert!(!err.is_transport());
    // A worker without a store cannot fetch either.
    let err = decode_response(&handle(&request)).unwrap_err();
    assert!(matches!(err, TaskError::MissingBlob { .. }), "{err}");

    // The store hands back other bytes than the request names.
    let mut wrong = CountingStore::default();
    wrong.blobs.insert(blobs.get(&frames[0]).unwrap().to_vec());
    let lying = [BlobRef {
        id: frames[0],
        len: named[0].len + 1,
    }];
    let request = encode_request(&task, &blobs, &lying, InlinePolicy::DEFAULT).unwrap();
    let err = decode_response(&handle_with(&request, &mut wrong)).unwrap_err();
    assert!(err.is_transport(), "{err}");
    assert!(err.to_string().contains("bytes"), "{err}");

    // An input neither inline nor named is refused by both sides.
    assert!(matches!(
        encode_request(&task, &Blobs::new(), &named, InlinePolicy::DEFAULT),
        Err(TaskError::MissingBlob { .. })
    ));
}
