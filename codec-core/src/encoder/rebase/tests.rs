use super::*;
use crate::decode;
use crate::encoder::rate_control::{FrameKind, RateMode};
use crate::encoder::sequence::{SequenceConfig, SequenceEncoder};
use crate::quantizer::DequantFactors;
use crate::test_rng::TestRng;

const WIDTH: usize = 72;
const HEIGHT: usize = 40;

/// Frame `t` of a textured ramp moving by (3, 1) samples per frame, with a square that
/// moves the other way, so that vectors differ between macroblocks and some are split.
fn moving(t: usize) -> Picture {
    let (cw, ch) = (WIDTH.div_ceil(2), HEIGHT.div_ceil(2));
    let mut rng = TestRng(0xba5e);
    let texture: Vec<u8> = (0..128 * 128).map(|_| rng.below(40) as u8).collect();
    let luma = |x: usize, y: usize| {
        let in_square = (20 + 2 * t..36 + 2 * t).contains(&(x + 8)) && (8..24).contains(&y);
        if in_square {
            return 230 - texture[(y * 7 + x) % 128] / 2;
        }
        let (sx, sy) = (x + 384 - 3 * t, y + 128 - t);
        ((sx + sy * 2) % 160) as u8 + texture[(sy % 128) * 128 + sx % 128]
    };
    let y: Vec<u8> = (0..WIDTH * HEIGHT)
        .map(|i| luma(i % WIDTH, i / WIDTH))
        .collect();
    let u: Vec<u8> = (0..cw * ch)
        .map(|i| (90 + (i % cw + 2 * t) % 70) as u8)
        .collect();
    let v: Vec<u8> = (0..cw * ch)
        .map(|i| (170 - (i / cw + t) % 50) as u8)
        .collect();
    Picture::from_i420(WIDTH, HEIGHT, &y, &u, &v)
}

fn config(speed: u8, cq_level: u8) -> SequenceConfig {
    SequenceConfig {
        rate: RateMode::ConstantQuality { cq_level },
        speed,
        golden_interval: 3,
        ..SequenceConfig::default()
    }
}

/// Encodes `count` frames from `start`; returns each frame with the state it was made
/// against.
fn encode_run(
    config: SequenceConfig,
    first: usize,
    count: usize,
) -> Vec<(DecoderState, Picture, EncodedFrame)> {
    let mut encoder = SequenceEncoder::new(config);
    (first..first + count)
        .map(|t| {
            let before = encoder.state().clone();
            let picture = moving(t);
            let frame = encoder.encode_next(&picture).expect("encodes");
            (before, picture, frame)
        })
        .collect()
}

fn assert_same_bytes(a: &[u8], b: &[u8], what: &str) {
    if a != b {
        let at = a.iter().zip(b).position(|(x, y)| x != y);
        panic!(
            "{what}: {} bytes vs {}, first difference at {at:?}",
            a.len(),
            b.len()
        );
    }
}

#[test]
fn onto_the_state_it_was_made_from_gives_the_frame_back() {
    for speed in [0, 4, 8] {
        let run = encode_run(config(speed, 20), 0, 7);
        let mut splits = 0;
        let mut bpred = 0;
        for (i, (before, picture, frame)) in run.iter().enumerate() {
            let rebased = rebase(before, picture, &frame.data, &FrameContext::of(before))
                .unwrap_or_else(|e| panic!("speed {speed}, frame {i}: {e}"));
            if frame.stats.key_frame && before.size().is_some() {
                // A scene cut's keyframe: rebase makes it an interframe from the state.
                assert!(!rebased.stats.key_frame, "speed {speed}, frame {i}");
                let (_, shown) = decode(before, &rebased.data).unwrap();
                assert_eq!(*shown.unwrap(), *rebased.picture);
                continue;
            }
            assert_same_bytes(
                &rebased.data,
                &frame.data,
                &alloc::format!("speed {speed}, frame {i}"),
            );
            assert_eq!(rebased.state, frame.state, "speed {speed}, frame {i}");
            assert_eq!(*rebased.picture, *frame.picture, "speed {speed}, frame {i}");
            let parsed = parse_frame(&FrameContext::of(before), &frame.data).unwrap();
            for row in 0..parsed.modes.mb_rows {
                for col in 0..parsed.modes.mb_cols {
                    splits += (parsed.modes.get(row, col).luma_mode == LumaMode::Split) as u32;
                    bpred += (parsed.modes.get(row, col).luma_mode == LumaMode::BPred) as u32;
                }
            }
        }
        if speed == 0 {
            assert!(splits > 0, "the clip should exercise SPLITMV");
            assert!(bpred > 0, "the clip should exercise B_PRED");
        }
    }
}

/// Rebases frames 1.. of `run` one after another onto the states that follow `start`,
/// checking each against a decode; returns the frames and the final state.
fn rebase_chain(
    run: &[(DecoderState, Picture, EncodedFrame)],
    start: DecoderState,
) -> (Vec<EncodedFrame>, DecoderState) {
    let mut state = start;
    let mut out = Vec::new();
    for (i, (before, picture, frame)) in run.iter().enumerate() {
        let rebased = rebase(&state, picture, &frame.data, &FrameContext::of(before))
            .unwrap_or_else(|e| panic!("frame {i}: {e}"));
        let (decoded_state, shown) = decode(&state, &rebased.data).expect("decodes");
        assert_eq!(decoded_state, rebased.state, "frame {i}");
        assert_eq!(*shown.expect("shown"), *rebased.picture, "frame {i}");
        state = rebased.state.clone();
        out.push(rebased);
    }
    (out, state)
}

#[test]
fn onto_another_state_decodes_to_its_reconstruction_and_keeps_the_decisions() {
    // The same pictures encoded twice at different quality: rebase the second run's
    // interframes onto the first run's keyframe.
    let fine = encode_run(config(2, 12), 0, 6);
    let coarse = encode_run(config(2, 40), 0, 6);
    let target = fine[0].2.state.clone();
    let (rebased, _) = rebase_chain(&coarse[1..], target);
    for (i, (r, (before, _, original))) in rebased.iter().zip(&coarse[1..]).enumerate() {
        assert!(!r.stats.key_frame);
        let a = parse_frame(&FrameContext::of(before), &original.data).unwrap();
        let b_ctx = if i == 0 {
            FrameContext::of(&fine[0].2.state)
        } else {
            FrameContext::of(&rebased[i - 1].state)
        };
        let b = parse_frame(&b_ctx, &r.data).unwrap();
        assert_eq!(a.header.quant, b.header.quant);
        assert_eq!(a.header.loop_filter_level, b.header.loop_filter_level);
        assert_eq!(a.header.refresh_golden, b.header.refresh_golden);
        assert_eq!(a.header.copy_to_altref, b.header.copy_to_altref);
        for row in 0..a.modes.mb_rows {
            for col in 0..a.modes.mb_cols {
                let (x, y) = (a.modes.get(row, col), b.modes.get(row, col));
                assert_eq!(
                    (x.luma_mode, x.ref_frame, x.mv, x.mvs, x.chroma_mode),
                    (y.luma_mode, y.ref_frame, y.mv, y.mvs, y.chroma_mode),
                    "frame {i}, macroblock ({row}, {col})"
                );
                if x.luma_mode == LumaMode::BPred {
                    assert_eq!(x.subblock_modes, y.subblock_modes);
                }
            }
        }
    }
}

#[test]
fn a_keyframe_becomes_an_interframe_that_refreshes_every_reference() {
    let first = encode_run(config(6, 30), 0, 3);
    // A second run starting at frame 3 begins with a keyframe.
    let second = encode_run(config(6, 30), 3, 3);
    let target = first[2].2.state.clone();
    let (rebased, end) = rebase_chain(&second, target);
    assert!(!rebased[0].stats.key_frame);
    assert_eq!(rebased[0].data[0] & 1, 1, "the tag says interframe");
    let after = rebased[0].state.references().unwrap();
    assert!(Arc::ptr_eq(&after.last, &after.golden) && Arc::ptr_eq(&after.last, &after.altref));
    assert!(end.size().is_some());
}

#[test]
fn a_keyframe_onto_an_empty_state_stays_a_keyframe() {
    let run = encode_run(config(6, 30), 0, 1);
    let (_, picture, frame) = &run[0];
    let rebased = rebase(
        &DecoderState::new(),
        picture,
        &frame.data,
        &FrameContext::default(),
    )
    .unwrap();
    assert_same_bytes(&rebased.data, &frame.data, "keyframe");
}

#[test]
fn a_frame_encoded_as_golden_from_a_given_state_rebases() {
    // What a chunked encode does with a chunk's first picture: encode it from the
    // neighbour's state, then rebase it onto the true state.
    let run = encode_run(config(4, 30), 0, 4);
    let other = encode_run(config(4, 45), 0, 4);
    let mut encoder = SequenceEncoder::from_state(other[3].2.state.clone(), config(4, 30));
    let picture = moving(4);
    let golden = encoder.encode_next_as(&picture, FrameKind::Golden).unwrap();
    let made_from = FrameContext::of(&other[3].2.state);
    let rebased = rebase(&run[3].2.state, &picture, &golden.data, &made_from).unwrap();
    let (_, shown) = decode(&run[3].2.state, &rebased.data).unwrap();
    assert_eq!(*shown.unwrap(), *rebased.picture);
    assert!(!rebased.stats.key_frame);
}

#[test]
fn errors_name_what_is_wrong() {
    let run = encode_run(config(8, 30), 0, 2);
    let (before, picture, frame) = &run[1];
    let ctx = FrameContext::of(before);
    match rebase(&DecoderState::new(), picture, &frame.data, &ctx) {
        Err(e @ RebaseError::SizeMismatch { target: None, .. }) => {
            assert!(alloc::format!("{e}").contains("without references"));
        }
        other => panic!("{other:?}"),
    }
    let small = Picture::new(16, 16);
    assert!(matches!(
        rebase(before, &small, &frame.data, &ctx),
        Err(RebaseError::SourceSize { .. })
    ));
    assert!(matches!(
        rebase(before, picture, &frame.data[..2], &ctx),
        Err(RebaseError::Parse(_))
    ));
    // An interframe cannot be parsed without the context it was made against.
    assert!(matches!(
        rebase(before, picture, &frame.data, &FrameContext::default()),
        Err(RebaseError::Parse(DecodeError::NoKeyframe))
    ));
    // A state of another size.
    let mut other = SequenceEncoder::new(config(8, 30));
    let big = other.encode_next(&Picture::new(96, 64)).unwrap();
    assert!(matches!(
        rebase(&big.state, picture, &frame.data, &ctx),
        Err(RebaseError::SizeMismatch {
            target: Some((96, 64)),
            ..
        })
    ));
}

#[test]
fn mutated_frames_give_errors_or_frames_never_panics() {
    let run = encode_run(config(6, 30), 0, 3);
    let (before, picture, frame) = &run[2];
    let ctx = FrameContext::of(before);
    let mut rng = TestRng(0xfeed);
    for _ in 0..60 {
        let mut data = frame.data.clone();
        for _ in 0..3 {
            let at = rng.below(data.len() as u32) as usize;
            data[at] ^= 1 << rng.below(8);
        }
        if let Ok(r) = rebase(&run[1].2.state, picture, &data, &ctx) {
            let (_, shown) = decode(&run[1].2.state, &r.data).expect("a rebased frame decodes");
            assert_eq!(*shown.unwrap(), *r.picture);
        }
    }
}

#[test]
fn frame_context_after_matches_the_decoder() {
    let run = encode_run(config(6, 30), 0, 5);
    let mut ctx = FrameContext::default();
    for (before, _, frame) in &run {
        assert_eq!(ctx, FrameContext::of(before));
        ctx = ctx.after(&frame.data).unwrap();
    }
    assert_eq!(ctx, FrameContext::of(&run[4].2.state));
    assert_eq!(ctx.after(&[]).unwrap(), ctx);
}

/// A source that differs from a flat 16x16 prediction only by a faint bump in one luma
/// subblock, with that prediction in a workspace.
fn faint_bump() -> (Picture, MacroblockWorkspace) {
    let y: Vec<u8> = (0..16 * 16)
        .map(|i| {
            let bump = (4..8).contains(&(i % 16)) && (4..8).contains(&(i / 16));
            if bump { 112 } else { 100 }
        })
        .collect();
    let source = Picture::from_i420(16, 16, &y, &[80; 64], &[160; 64]);
    let mut ws = MacroblockWorkspace::default();
    for row in 0..16 {
        let at = WS_ORIGIN + row * WS_STRIDE;
        ws.luma[at..at + 16].fill(100);
        if row < 8 {
            ws.u[at..at + 8].fill(80);
            ws.v[at..at + 8].fill(160);
        }
    }
    (source, ws)
}

fn bump_coding(lambda: u64) -> SegmentCoding {
    let factors = DequantFactors::new(40, &Default::default());
    SegmentCoding {
        quant: MacroblockQuantizer::new(&factors),
        rd: RdWeight {
            lambda,
            trellis: true,
        },
    }
}

/// The faint bump coded by `code_inter` at weight `lambda`: whether any level is nonzero,
/// and the contexts after it.
fn code_faint_bump(lambda: u64) -> (bool, EdgeContext, EdgeContext) {
    let (source, mut ws) = faint_bump();
    let prediction = ws.luma;
    let costs = TokenCostTable::new(&crate::tables::DEFAULT_COEFF_PROBS);
    let info = MacroblockInfo {
        luma_mode: LumaMode::Zero,
        ref_frame: RefFrame::Last,
        ..Default::default()
    };
    let (mut above, mut left) = ([true; 9], [true; 9]);
    let levels = code_inter(
        &source,
        &mut ws,
        &info,
        &bump_coding(lambda),
        &costs,
        SkipCosts::from_counts(10, 90),
        0,
        0,
        &mut above,
        &mut left,
    );
    let nonzero = levels.iter().flatten().any(|&l| l != 0);
    assert!(
        nonzero || ws.luma == prediction,
        "an empty macroblock is reconstructed as its prediction"
    );
    (nonzero, above, left)
}

/// Whether the luma coding alone, block by block, keeps a level of the faint bump.
fn luma_keeps_the_bump(lambda: u64) -> bool {
    let (source, mut ws) = faint_bump();
    let (y, _, _) = source_blocks(&source, 0, 0);
    let costs = TokenCostTable::new(&crate::tables::DEFAULT_COEFF_PROBS);
    let segment = bump_coding(lambda);
    let (mut above, mut left) = ([true; 9], [true; 9]);
    code_luma_with_y2(
        &y,
        &mut ws.luma,
        &segment.quant,
        &costs,
        segment.rd,
        &mut above,
        &mut left,
    )
    .nonzero
}

#[test]
fn a_residual_worth_less_than_its_bits_is_skipped() {
    assert!(
        code_faint_bump(1).0,
        "with bits nearly free the bump is coded"
    );
    let (nonzero, above, left) = code_faint_bump(1 << 24);
    assert!(!nonzero, "with bits dear the macroblock is skipped");
    // A skipped macroblock with a Y2 block leaves every context empty, as the decoder's.
    assert_eq!((above, left), ([false; 9], [false; 9]));
    // In between, the skip flag's saving of every block's end of block makes the difference
    // where the blocks' own trellis would keep the bump.
    assert!(
        (0..24).any(|k| luma_keeps_the_bump(1 << k) && !code_faint_bump(1 << k).0),
        "somewhere the whole macroblock's choice differs from the blocks' own"
    );
}
