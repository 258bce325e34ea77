//! `rebase` against libvpx: every frame of the 18 conformance vectors (segmentation, golden
//! and altref with sign bias, hidden frames, several token partitions, bilinear and
//! full-sample versions, odd sizes) is rebased onto a different history — the stream's
//! first picture coded again by flick at another quality — and vpxdec must decode the
//! rebased stream to exactly the pictures rebase returned. And frames flick encoded from
//! real footage, rebased onto a neighbouring chunk's state, play in vpxdec as rebase says.

use std::sync::Arc;

use codec_core::encoder::rate_control::{FrameKind, RateMode};
use codec_core::encoder::sequence::{SequenceConfig, SequenceEncoder};
use codec_core::{
    DecoderState, EncodeParams, EncodedFrame, FrameContext, Picture, RebaseError, encode, rebase,
};
use flick_tests::{
    Source, all_vectors, first_difference, make_y4m, md5_line, raw_tag, read_ivf_frames, read_y4m,
    require_tools, stream_name, vpxdec_md5_lines, write_ivf,
};

/// The picture a frame made, shown or not: the reference it refreshed.
fn made_picture(state: &DecoderState, frame: &[u8]) -> Arc<Picture> {
    let refs = state
        .references()
        .expect("a decoded frame leaves references");
    let tag = codec_core::header::parse_tag(frame).expect("a decoded frame has a tag");
    if tag.key_frame {
        return refs.last.clone();
    }
    // The refresh flags come before anything that depends on the probabilities.
    let header = codec_core::header::inspect(frame).ok();
    match header {
        Some(h) if !h.refresh_last && h.refresh_altref => refs.altref.clone(),
        Some(h) if !h.refresh_last && h.refresh_golden => refs.golden.clone(),
        _ => refs.last.clone(),
    }
}

/// Rebases every frame of `frames` (after the first) onto the history that starts with
/// `first`, a keyframe of the stream's first picture; checks vpxdec against the result.
fn check_rebased_stream(name: &str, frames: &[Vec<u8>], first: EncodedFrame) {
    // The stream as made, with the state before every frame.
    let mut made_states = vec![DecoderState::new()];
    for (i, frame) in frames.iter().enumerate() {
        let before = made_states.last().unwrap();
        let (next, _) = codec_core::decode(before, frame)
            .unwrap_or_else(|e| panic!("{name}: frame {i} does not decode: {e}"));
        made_states.push(next);
    }

    let (width, height) = (first.picture.display_width, first.picture.display_height);
    let mut out = vec![first.data.clone()];
    let mut expected = vec![md5_line(name, 0, &first.picture)];
    let mut target = first.state.clone();
    let mut context = FrameContext::default().after(&frames[0]).unwrap();
    for (i, frame) in frames.iter().enumerate().skip(1) {
        if frame.is_empty() {
            out.push(Vec::new());
            continue;
        }
        let source = made_picture(&made_states[i + 1], frame);
        let rebased = match rebase(&target, &source, frame, &context) {
            Err(RebaseError::SizeMismatch { .. }) => {
                // A keyframe of a new size starts a new history.
                rebase(&DecoderState::new(), &source, frame, &context)
            }
            other => other,
        }
        .unwrap_or_else(|e| panic!("{name}: frame {i} does not rebase: {e}"));
        if raw_tag(&rebased.data).is_some_and(|t| t.show_frame) {
            expected.push(md5_line(name, i, &rebased.picture));
        }
        context = context.after(frame).unwrap();
        target = rebased.state.clone();
        out.push(rebased.data);
    }

    let dir = tempfile::tempdir().unwrap();
    let ivf = dir.path().join(format!("{name}.ivf"));
    write_ivf(&ivf, width, height, &out);
    let vpxdec = vpxdec_md5_lines(&ivf, name);
    if let Some(diff) = first_difference(&expected, &vpxdec) {
        panic!("{name}: vpxdec vs rebase's pictures: {diff}");
    }
}

#[test]
fn every_conformance_vector_rebased_onto_another_history_plays_in_vpxdec() {
    require_tools();
    for path in all_vectors() {
        let name = stream_name(&path);
        let frames = read_ivf_frames(&path);
        let (state, _) = codec_core::decode(&DecoderState::new(), &frames[0]).unwrap();
        let picture = state.references().unwrap().last.clone();
        let first = encode(
            &DecoderState::new(),
            &picture,
            &EncodeParams {
                quantizer: 60,
                keyframe: true,
                speed: 8,
                ..EncodeParams::default()
            },
        )
        .unwrap_or_else(|e| panic!("{name}: cannot encode the first picture: {e}"));
        check_rebased_stream(&name, &frames, first);
    }
}

#[test]
fn a_chunk_of_real_footage_rebased_onto_its_neighbour_plays_in_vpxdec() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 160, 96, 12, &y4m);
    let (_, pictures) = read_y4m(&y4m);
    let config = SequenceConfig {
        rate: RateMode::ConstantQuality { cq_level: 24 },
        speed: 6,
        scene_cut_keyframes: false,
        ..SequenceConfig::default()
    };
    let encode_chunk = |pictures: &[Picture]| -> Vec<EncodedFrame> {
        let mut encoder = SequenceEncoder::new(config.clone());
        pictures
            .iter()
            .map(|p| encoder.encode_next(p).unwrap())
            .collect()
    };
    let first = encode_chunk(&pictures[..6]);
    let second = encode_chunk(&pictures[6..]);
    let end_of_first = first.last().unwrap().state.clone();

    // The second chunk's first picture, coded again from the first chunk's state.
    let mut resumed = SequenceEncoder::from_state(end_of_first.clone(), config.clone());
    let given = resumed
        .encode_next_as(&pictures[6], FrameKind::Golden)
        .unwrap();
    let mut rebased = vec![
        rebase(
            &end_of_first,
            &pictures[6],
            &given.data,
            &FrameContext::of(&end_of_first),
        )
        .unwrap(),
    ];
    let mut context = FrameContext::default().after(&second[0].data).unwrap();
    for (k, original) in second.iter().enumerate().skip(1) {
        let target = &rebased.last().unwrap().state;
        rebased.push(rebase(target, &pictures[6 + k], &original.data, &context).unwrap());
        context = context.after(&original.data).unwrap();
    }
    // Onto the state it was made from, the given-state frame is unchanged.
    assert_eq!(rebased[0].data, given.data);

    let frames: Vec<Vec<u8>> = first
        .iter()
        .chain(&rebased)
        .map(|f| f.data.clone())
        .collect();
    let keyframes = frames
        .iter()
        .filter(|f| raw_tag(f).is_some_and(|t| t.key_frame))
        .count();
    assert_eq!(keyframes, 1);
    let ivf = dir.path().join("chunks.ivf");
    write_ivf(&ivf, 160, 96, &frames);
    let expected: Vec<String> = first
        .iter()
        .chain(&rebased)
        .enumerate()
        .map(|(i, f)| md5_line("chunks", i, &f.picture))
        .collect();
    let vpxdec = vpxdec_md5_lines(&ivf, "chunks");
    if let Some(diff) = first_difference(&expected, &vpxdec) {
        panic!("vpxdec vs rebase's pictures: {diff}");
    }
}
