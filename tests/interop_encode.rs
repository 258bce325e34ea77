//! Interop of what flick's encoder writes: every stream made with `codec_core::encode` (or the
//! `SequenceEncoder` around it) must decode in libvpx's `vpxdec`, in ffmpeg's own VP8 decoder
//! and in codec-core's decoder to exactly the pictures the encoder says it reconstructed
//! (`EncodedFrame::picture`, MD5 per frame), and codec-core's decoder must end in the very
//! state the encoder returned (`EncodedFrame::state`).
//!
//! Needs ffmpeg, vpxenc and vpxdec on PATH (`bash .ci/run` installs them); a missing tool fails
//! the test. Pictures are small so that the whole file runs in seconds.

use std::sync::Arc;

use codec_core::encoder::ReferenceUpdate;
use codec_core::encoder::rate_control::RateMode;
use codec_core::encoder::sequence::{CodedFrame, SequenceConfig, SequenceEncoder};
use codec_core::header::inspect;
use codec_core::{DecoderState, EncodeParams, EncodedFrame, Picture, encode};
use flick_tests::{
    Source, decode_from, ffmpeg_frame_md5s, first_difference, line_frame_index, line_md5, make_y4m,
    md5_line, raw_tag, read_ivf_frames, read_y4m, require_tools, vpxdec_md5_lines, vpxenc,
    write_ivf,
};
use tempfile::TempDir;

/// `frames` frames of `source` at `width` x `height`.
fn pictures(dir: &TempDir, source: Source, width: u32, height: u32, frames: u32) -> Vec<Picture> {
    let y4m = dir.path().join(format!("{source:?}-{width}x{height}.y4m"));
    make_y4m(source, width, height, frames, &y4m);
    let (_, pictures) = read_y4m(&y4m);
    assert_eq!(
        pictures.len(),
        frames as usize,
        "ffmpeg made too few frames"
    );
    pictures
}

/// Encodes `pictures` one after another from `state`, frame `i` with `params(i)`.
fn encode_all(
    state: &DecoderState,
    pictures: &[Picture],
    params: impl Fn(usize) -> EncodeParams,
) -> Vec<EncodedFrame> {
    let mut state = state.clone();
    let mut encoded = Vec::with_capacity(pictures.len());
    for (i, picture) in pictures.iter().enumerate() {
        let frame = encode(&state, picture, &params(i))
            .unwrap_or_else(|e| panic!("cannot encode frame {i}: {e}"));
        state = frame.state.clone();
        encoded.push(frame);
    }
    encoded
}

/// Default parameters, a keyframe first.
fn keyframe_first(i: usize) -> EncodeParams {
    EncodeParams {
        keyframe: i == 0,
        ..EncodeParams::default()
    }
}

/// Writes `prefix` (frames from another encoder, possibly none) then `encoded` as one IVF
/// stream named `name`, and checks that vpxdec, ffmpeg and codec-core all decode the encoded
/// frames to exactly the encoder's pictures, that all three agree on the prefix, and that
/// codec-core's decoder ends every encoded frame in the encoder's state.
fn check_decoders(dir: &TempDir, name: &str, prefix: &[Vec<u8>], encoded: &[EncodedFrame]) {
    let first = &encoded.first().expect("something was encoded").picture;
    let (width, height) = (first.display_width, first.display_height);
    let frames: Vec<Vec<u8>> = prefix
        .iter()
        .cloned()
        .chain(encoded.iter().map(|f| f.data.clone()))
        .collect();
    let ivf = dir.path().join(format!("{name}.ivf"));
    write_ivf(&ivf, width, height, &frames);

    // What the encoder says a decoder shows, numbered as vpxdec numbers frames.
    let expected: Vec<String> = encoded
        .iter()
        .enumerate()
        .filter(|(_, f)| raw_tag(&f.data).is_some_and(|t| t.show_frame))
        .map(|(i, f)| md5_line(name, prefix.len() + i, &f.picture))
        .collect();

    let vpxdec = vpxdec_md5_lines(&ivf, name);
    let tail: Vec<String> = vpxdec
        .iter()
        .filter(|l| line_frame_index(l) >= prefix.len())
        .cloned()
        .collect();
    if let Some(diff) = first_difference(&expected, &tail) {
        panic!("{name}: vpxdec vs the encoder's pictures: {diff}");
    }

    let ffmpeg = ffmpeg_frame_md5s(&ivf, width, height);
    let vpxdec_md5s: Vec<&str> = vpxdec.iter().map(|l| line_md5(l)).collect();
    assert_eq!(
        ffmpeg, vpxdec_md5s,
        "{name}: ffmpeg's pictures differ from vpxdec's (and so from the encoder's)"
    );

    let decoded = decode_from(name, &frames, 0, &DecoderState::new()).unwrap_or_else(|f| {
        panic!(
            "{name}: codec-core cannot decode frame {}: {}",
            f.index, f.error
        )
    });
    if let Some(diff) = first_difference(&vpxdec, &decoded.lines) {
        panic!("{name}: codec-core's decoder vs vpxdec: {diff}");
    }
    for (i, frame) in encoded.iter().enumerate() {
        assert!(
            decoded.states[prefix.len() + i] == frame.state,
            "{name}: after frame {}, codec-core's decoder is not in the state the encoder returned",
            prefix.len() + i
        );
    }
}

/// Pictures of `width` x `height` from testsrc2, keyframe first, then interframes.
fn check_size(width: u32, height: u32, frames: u32) {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let pictures = pictures(&dir, Source::Synthetic("testsrc2"), width, height, frames);
    let encoded = encode_all(&DecoderState::new(), &pictures, keyframe_first);
    assert!(encoded[0].stats.key_frame, "the first frame is a keyframe");
    for frame in &encoded {
        let picture = &frame.picture;
        assert_eq!(
            (picture.display_width, picture.display_height),
            (width as usize, height as usize)
        );
        let tag = raw_tag(&frame.data).expect("a frame tag");
        if tag.key_frame {
            assert_eq!(tag.size, Some((width as u16, height as u16)));
        }
    }
    check_decoders(&dir, &format!("size-{width}x{height}"), &[], &encoded);
}

#[test]
fn odd_size_33x17() {
    check_size(33, 17, 4);
}

#[test]
fn odd_size_175x143() {
    check_size(175, 143, 3);
}

#[test]
fn tiny_size_2x2() {
    check_size(2, 2, 4);
}

#[test]
fn tiny_size_1x1() {
    check_size(1, 1, 4);
}

#[test]
fn size_not_a_multiple_of_16_100x60() {
    check_size(100, 60, 4);
}

#[test]
fn one_frame_video() {
    check_size(64, 48, 1);
}

/// A keyframe then an interframe at every quantizer index, all in one stream so that each
/// decoder runs once.
#[test]
fn every_quantizer_index() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let source = pictures(&dir, Source::Synthetic("testsrc2"), 48, 32, 2);
    let pairs: Vec<Picture> = (0..=127).flat_map(|_| source.iter().cloned()).collect();
    let encoded = encode_all(&DecoderState::new(), &pairs, |i| EncodeParams {
        quantizer: (i / 2) as u8,
        keyframe: i % 2 == 0,
        ..EncodeParams::default()
    });
    for (i, frame) in encoded.iter().enumerate() {
        let q = (i / 2) as u8;
        let header = inspect(&frame.data)
            .unwrap_or_else(|e| panic!("frame {i} (q {q}): header does not parse: {e}"));
        assert_eq!(header.is_key_frame(), i % 2 == 0, "frame {i} (q {q})");
        assert_eq!(header.quant.y_ac, q, "frame {i}: base quantizer index");
        assert_eq!(frame.stats.quantizer, q, "frame {i}: stats.quantizer");
    }
    check_decoders(&dir, "every-q", &[], &encoded);
}

/// Two unrelated sources back to back, coded with a single keyframe: the cut must be coded
/// (mostly intra) as an interframe that still decodes everywhere.
#[test]
fn scene_cut_without_a_keyframe() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let mut cut = pictures(&dir, Source::Synthetic("testsrc2"), 64, 48, 4);
    cut.extend(pictures(&dir, Source::Synthetic("mandelbrot"), 64, 48, 4));
    let encoded = encode_all(&DecoderState::new(), &cut, keyframe_first);
    assert!(
        encoded[1..].iter().all(|f| !f.stats.key_frame),
        "only the first frame was asked to be a keyframe"
    );
    check_decoders(&dir, "scene-cut", &[], &encoded);
}

/// The same picture again and again: once the first interframe has refined it, nothing is
/// left to code, and interframes must be a small fraction of the keyframe.
#[test]
fn static_content_gives_small_interframes() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let still = pictures(&dir, Source::Synthetic("smptebars"), 64, 48, 1).remove(0);
    let repeated = vec![still; 6];
    let encoded = encode_all(&DecoderState::new(), &repeated, keyframe_first);
    let key = encoded[0].data.len();
    for (i, frame) in encoded.iter().enumerate().skip(2) {
        assert!(
            frame.data.len() * 4 < key,
            "static frame {i} takes {} bytes, the keyframe {key}",
            frame.data.len()
        );
    }
    check_decoders(&dir, "static", &[], &encoded);
}

fn check_speed(speed: u8) {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let clip = pictures(&dir, Source::Clip, 64, 48, 6);
    let encoded = encode_all(&DecoderState::new(), &clip, |i| EncodeParams {
        speed,
        ..keyframe_first(i)
    });
    check_decoders(&dir, &format!("speed-{speed}"), &[], &encoded);
}

#[test]
fn slowest_speed_0() {
    check_speed(0);
}

#[test]
fn fastest_speed_8() {
    check_speed(8);
}

#[test]
fn token_partitions_2_4_8() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    // Nine macroblock rows, so that even eight partitions each get a row.
    let clip = pictures(&dir, Source::Clip, 80, 144, 3);
    for log2 in 1..=3u8 {
        let encoded = encode_all(&DecoderState::new(), &clip, |i| EncodeParams {
            token_partitions_log2: log2,
            ..keyframe_first(i)
        });
        for (i, frame) in encoded.iter().enumerate() {
            let header = inspect(&frame.data).expect("header parses");
            assert_eq!(header.partition_count, 1 << log2, "frame {i}");
        }
        check_decoders(&dir, &format!("partitions-{}", 1 << log2), &[], &encoded);
    }
}

/// Golden and altref refreshes, the golden-to-altref and altref-to-golden copies, and a hidden
/// altref frame coded from a future picture (shown by no decoder, used as a reference
/// afterwards).
#[test]
fn golden_and_altref_refresh_with_a_hidden_frame() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let clip = pictures(&dir, Source::Clip, 64, 48, 8);
    // Frame order: 0..=5 as they come, then picture 7 hidden as altref, then 6 and 7.
    let order = [0, 1, 2, 3, 4, 5, 7, 6, 7];
    let sequence: Vec<Picture> = order.iter().map(|&k| clip[k].clone()).collect();
    let update = |i: usize| match i {
        3 => ReferenceUpdate {
            golden: true,
            ..ReferenceUpdate::default()
        },
        5 => ReferenceUpdate {
            golden: true,
            golden_to_altref: true,
            ..ReferenceUpdate::default()
        },
        // The hidden frame also moves the old altref to golden, as a pipeline's long-term
        // frames do.
        6 => ReferenceUpdate {
            last: false,
            golden: false,
            altref: true,
            golden_to_altref: false,
            altref_to_golden: true,
        },
        _ => ReferenceUpdate::default(),
    };
    let encoded = encode_all(&DecoderState::new(), &sequence, |i| EncodeParams {
        references: update(i),
        show: i != 6,
        ..keyframe_first(i)
    });
    for (i, frame) in encoded.iter().enumerate().skip(1) {
        let header = inspect(&frame.data).expect("header parses");
        let asked = update(i);
        assert_eq!(
            (
                header.refresh_last,
                header.refresh_golden,
                header.refresh_altref
            ),
            (asked.last, asked.golden, asked.altref),
            "frame {i}: refresh flags"
        );
        assert_eq!(header.tag.show_frame, i != 6, "frame {i}: show_frame");
    }
    check_decoders(&dir, "golden-altref", &[], &encoded);
}

/// Encodes source frames from the state a libvpx stream leaves after `decoded` frames, and
/// checks the stream made of those libvpx frames then flick's.
fn continue_libvpx_stream(
    name: &str,
    vpxenc_args: &[&str],
    source_frames: u32,
    decoded: usize,
    hidden_before: bool,
) {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = dir.path().join(format!("{name}.y4m"));
    let ivf = dir.path().join(format!("{name}-libvpx.ivf"));
    make_y4m(Source::Clip, 96, 64, source_frames, &y4m);
    vpxenc(&y4m, &ivf, vpxenc_args);
    let (_, clip) = read_y4m(&y4m);
    let libvpx_frames = read_ivf_frames(&ivf);
    assert!(libvpx_frames.len() > decoded, "vpxenc made too few frames");

    let prefix = &libvpx_frames[..decoded];
    let hidden = prefix
        .iter()
        .any(|f| raw_tag(f).is_some_and(|t| !t.show_frame));
    assert_eq!(
        hidden, hidden_before,
        "{name}: hidden frames among the first {decoded} libvpx frames"
    );
    let before = decode_from(name, prefix, 0, &DecoderState::new())
        .unwrap_or_else(|f| panic!("cannot decode libvpx frame {}: {}", f.index, f.error));
    let state = before.states.last().expect("frames were decoded").clone();
    // Every shown frame showed the next source picture, so the rest starts here.
    let next = before.pictures.len();
    let rest = &clip[next..(next + 5).min(clip.len())];
    assert!(!rest.is_empty(), "no source frames left to encode");

    let encoded = encode_all(&state, rest, |_| EncodeParams::default());
    assert!(
        !encoded[0].stats.key_frame,
        "the first frame after a state must be an interframe"
    );
    check_decoders(&dir, name, prefix, &encoded);
}

#[test]
fn continues_a_libvpx_stream() {
    continue_libvpx_stream(
        "after-libvpx",
        &[
            "--good",
            "--cpu-used=4",
            "--auto-alt-ref=0",
            "--lag-in-frames=0",
        ],
        12,
        6,
        false,
    );
}

#[test]
fn continues_a_libvpx_stream_with_altref() {
    // Two passes with a lag let vpxenc code hidden altref frames, so the state's three
    // references all differ.
    continue_libvpx_stream(
        "after-libvpx-altref",
        &[
            "--good",
            "--cpu-used=4",
            "--passes=2",
            "--auto-alt-ref=1",
            "--lag-in-frames=16",
        ],
        24,
        14,
        true,
    );
}

/// `SequenceEncoder` in each rate mode, with keyframes and golden refreshes on a schedule.
fn check_sequence(name: &str, rate: RateMode) {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let clip = pictures(&dir, Source::Clip, 64, 48, 10);
    let mut encoder = SequenceEncoder::new(SequenceConfig {
        rate,
        frame_rate: (30, 1),
        keyframe_interval: 4,
        speed: 6,
        token_partitions_log2: 1,
        golden_interval: 3,
        ..SequenceConfig::default()
    });
    let encoded: Vec<EncodedFrame> = clip
        .iter()
        .enumerate()
        .map(|(i, p)| {
            encoder
                .encode_next(p)
                .unwrap_or_else(|e| panic!("{name}: cannot encode frame {i}: {e}"))
        })
        .collect();
    assert!(
        encoded[0].stats.key_frame,
        "{name}: first frame is a keyframe"
    );
    let keyframes = encoded.iter().filter(|f| f.stats.key_frame).count();
    assert!(
        keyframes >= 3,
        "{name}: a keyframe interval of 4 over 10 frames gives at least 3 keyframes, got {keyframes}"
    );
    check_decoders(&dir, name, &[], &encoded);
    let last: &Arc<Picture> = &encoded.last().unwrap().picture;
    assert_eq!((last.display_width, last.display_height), (64, 48));
}

#[test]
fn sequence_constant_quality() {
    check_sequence("seq-cq", RateMode::ConstantQuality { cq_level: 20 });
}

#[test]
fn sequence_target_ssim() {
    check_sequence("seq-ssim", RateMode::TargetSsim { ssim: 0.95 });
}

#[test]
fn sequence_target_bitrate() {
    check_sequence("seq-bitrate", RateMode::TargetBitrate { kbps: 200 });
}

/// `SequenceEncoder` with altref groups of 4 (`push`/`finish`): each group's last picture is
/// coded ahead as a hidden frame with the altref's sign bias set in the frames before its
/// overlay, and the stream plays in vpxdec and ffmpeg exactly as the encoder reconstructed it.
fn check_altref_groups(name: &str, rate: RateMode) {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let clip = pictures(&dir, Source::Clip, 64, 48, 14);
    let mut encoder = SequenceEncoder::new(SequenceConfig {
        rate,
        frame_rate: (30, 1),
        speed: 6,
        altref_interval: 4,
        // The clip's pictures are small and busy: no frame may turn into a keyframe.
        scene_cut_keyframes: false,
        ..SequenceConfig::default()
    });
    let mut coded: Vec<CodedFrame> = Vec::new();
    for (i, picture) in clip.iter().enumerate() {
        let out = encoder
            .push(Arc::new(picture.clone()))
            .unwrap_or_else(|e| panic!("{name}: cannot encode frame {i}: {e}"));
        coded.extend(out);
    }
    coded.extend(encoder.finish().expect("the last frames encode"));
    assert_eq!(encoder.pending(), 0);

    // Keyframe 0; groups 1..=4, 5..=8, 9..=12, each opened by its last picture hidden; 13
    // alone (a group of one gets no altref frame).
    let order: Vec<(u64, bool)> = coded.iter().map(|c| (c.source, c.shown)).collect();
    let mut expected = vec![(0, true)];
    for group in [1u64, 5, 9] {
        expected.push((group + 3, false));
        expected.extend((group..group + 4).map(|k| (k, true)));
    }
    expected.push((13, true));
    assert_eq!(order, expected, "{name}: frames in stream order");
    for (i, c) in coded.iter().enumerate() {
        let header = inspect(&c.frame.data).expect("header parses");
        assert_eq!(
            header.tag.show_frame, c.shown,
            "{name}: frame {i}: show_frame"
        );
        // Frames between a hidden frame and its overlay predict from a future picture.
        let ahead = coded[..i]
            .iter()
            .rev()
            .find(|h| !h.shown)
            .is_some_and(|h| c.shown && h.source > c.source);
        assert_eq!(
            header.sign_bias_altref, ahead,
            "{name}: frame {i}: altref sign bias"
        );
        if !c.shown {
            assert!(header.refresh_altref && !header.refresh_last && !header.refresh_golden);
        }
    }
    // Each hidden frame's picture is the altref of the frames that follow it.
    for (i, c) in coded.iter().enumerate().filter(|(_, c)| !c.shown) {
        let references = coded[i].frame.state.references().expect("references");
        assert_eq!(
            *references.altref, *c.frame.picture,
            "{name}: frame {i}: altref"
        );
    }
    let frames: Vec<EncodedFrame> = coded.into_iter().map(|c| c.frame).collect();
    check_decoders(&dir, name, &[], &frames);
}

#[test]
fn sequence_with_altref_groups_constant_quality() {
    check_altref_groups("altref-cq", RateMode::ConstantQuality { cq_level: 20 });
}

#[test]
fn sequence_with_altref_groups_target_bitrate() {
    check_altref_groups("altref-bitrate", RateMode::TargetBitrate { kbps: 200 });
}

/// A sequence continued from the state another sequence ended in: the second part's frames
/// decode after the first part's.
#[test]
fn sequence_from_state() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let clip = pictures(&dir, Source::Clip, 64, 48, 8);
    let config = SequenceConfig {
        frame_rate: (30, 1),
        ..SequenceConfig::default()
    };
    let mut first = SequenceEncoder::new(config.clone());
    let head: Vec<EncodedFrame> = clip[..4]
        .iter()
        .map(|p| first.encode_next(p).expect("encodes"))
        .collect();
    let mut second = SequenceEncoder::from_state(first.state().clone(), config);
    let tail: Vec<EncodedFrame> = clip[4..]
        .iter()
        .map(|p| second.encode_next(p).expect("encodes"))
        .collect();
    assert!(!tail[0].stats.key_frame, "continues with an interframe");
    let prefix: Vec<Vec<u8>> = head.iter().map(|f| f.data.clone()).collect();
    check_decoders(&dir, "seq-from-state", &prefix, &tail);
}

/// The checks above would pass vacuously if `check_decoders` ignored its input: make sure it
/// catches a picture that differs from what the stream decodes to.
#[test]
#[should_panic(expected = "vpxdec vs the encoder's pictures")]
fn check_decoders_catches_a_wrong_picture() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let pictures = pictures(&dir, Source::Synthetic("testsrc2"), 32, 32, 2);
    let mut encoded = encode_all(&DecoderState::new(), &pictures, keyframe_first);
    let mut wrong = (*encoded[1].picture).clone();
    wrong.y.data[0] ^= 0x55;
    encoded[1].picture = Arc::new(wrong);
    check_decoders(&dir, "wrong", &[], &encoded);
}
