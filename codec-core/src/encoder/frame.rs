//! One frame: decide every macroblock, measure the frame's statistics to choose its
//! probabilities, choose the loop-filter level, write the frame, and decode it to obtain
//! the state a decoder is in afterwards (RFC 6386 §9, §19).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use crate::decoder::{decode_frame, filter_levels};
use crate::encoder::bool_encoder::BoolEncoder;
use crate::encoder::header_writer::{write_frame, write_header};
use crate::encoder::inter_decision::{self, InterContext, ReferenceCosts};
use crate::encoder::intra_decision::{self, IntraContext, ModeCosts};
use crate::encoder::macroblock::{RdWeight, SkipCosts};
use crate::encoder::mode_writer::{MvCostTable, MvCounts, write_macroblock_modes};
use crate::encoder::motion_search::SearchConfig;
use crate::encoder::prob_update::{choose_coefficient_probs, choose_mode_probs, choose_mv_probs};
use crate::encoder::quantize::MacroblockQuantizer;
use crate::encoder::rebase::{self, SegmentCoding};
use crate::encoder::token_writer::{
    MacroblockLevels, TokenCostTable, TokenCounts, macroblock_is_empty, write_macroblock_tokens,
};
use crate::encoder::{EncodeError, EncodeParams, EncodedFrame, FrameStats};
use crate::header::{
    BufferCopy, FrameHeader, FrameTag, KeyframeSize, LoopFilterDeltaUpdate, QuantIndices,
    SegmentationHeader,
};
use crate::loop_filter;
use crate::metrics::{picture_sse, plane_sse_rows};
use crate::modes::{self, LumaMode, MacroblockInfo, ModeMap, MotionVector, RefFrame};
use crate::picture::Picture;
use crate::quantizer::DequantFactors;
use crate::reconstruct::{InterpolationMode, MacroblockWorkspace};
use crate::state::{
    DecoderState, EntropyProbabilities, LoopFilterDeltas, Segmentation, TokenProbabilities,
};
use crate::tables;
use crate::tokens::{self, EdgeContext};

/// The bitstream version flick writes: six-tap interpolation and the normal loop filter.
const VERSION: u8 = 0;

/// Lambda for rate-distortion decisions at the luma DC step, in squared error per bit:
/// dc^2 / 34.5, libvpx's VP8 shape (2.8 times the DC step squared in its units), equal to
/// the AC-step rule flick had before (ac^2 / 51) at quantizer index 35 and below it at the
/// coarse end, where the AC step grows far faster than the DC step (at index 120 it is
/// 0.45 of it). On four clips of the test set in the constant-quality mode this saved 1.8
/// points of BD-rate at equal PSNR on average (bbb360 +0.2, pan360 -1.9, zoom360 -0.9,
/// grain360 -4.6).
pub(crate) fn lambda_for(dc_step: i32) -> u64 {
    ((dc_step * dc_step) as u64 * 29).div_ceil(1000)
}

/// The frame's sign bias per reference (intra, last, golden, altref): keyframes have none.
fn sign_bias(params: &EncodeParams, key_frame: bool) -> [bool; 4] {
    [
        false,
        false,
        params.sign_bias_golden && !key_frame,
        params.sign_bias_altref && !key_frame,
    ]
}

/// Search effort by speed level.
fn search_config(speed: u8) -> SearchConfig {
    const RANGE: [i32; 9] = [64, 48, 32, 32, 24, 16, 16, 12, 8];
    SearchConfig {
        range: RANGE[speed.min(8) as usize],
        subpel: speed < 8,
        bilinear: VERSION != 0,
        speed,
    }
}

/// A decided macroblock: its prediction record and quantized levels.
pub(crate) struct Decided {
    pub info: MacroblockInfo,
    pub levels: MacroblockLevels,
}

pub(crate) fn encode_frame(
    state: &DecoderState,
    source: &Picture,
    params: &EncodeParams,
) -> Result<EncodedFrame, EncodeError> {
    check_params(source, params)?;
    let (width, height) = (source.display_width, source.display_height);
    let state_size = state.size().map(|s| (s.width as usize, s.height as usize));
    let key_frame = params.keyframe || state_size.is_none();
    if !key_frame && state_size != Some((width, height)) {
        return Err(EncodeError::SizeMismatch {
            state: state_size.unwrap_or((0, 0)),
            picture: (width, height),
        });
    }
    let start_probs = if key_frame {
        EntropyProbabilities::default()
    } else {
        state.probabilities.clone()
    };
    let (mb_cols, mb_rows) = (source.mb_cols(), source.mb_rows());
    let q = params.quantizer;
    let quant_indices = QuantIndices {
        y_ac: q,
        ..Default::default()
    };
    let factors = DequantFactors::new(q as i32, &quant_indices);
    let quant = MacroblockQuantizer::new(&factors);
    let rd = RdWeight {
        lambda: lambda_for(factors.y[0]),
        trellis: false,
    };
    let final_coding = SegmentCoding {
        quant,
        rd: RdWeight {
            trellis: true,
            ..rd
        },
    };
    let token_costs = TokenCostTable::new(&start_probs.coefficients);
    let mv_costs = MvCostTable::new(&start_probs.motion_vectors);
    let interp = InterpolationMode::for_version(VERSION);

    let references: Vec<(RefFrame, Arc<Picture>)> = match (key_frame, state.references()) {
        (false, Some(refs)) => {
            let mut distinct: Vec<(RefFrame, Arc<Picture>)> = Vec::with_capacity(3);
            if params.predict_from_last {
                distinct.push((RefFrame::Last, refs.last.clone()));
            }
            for (kind, picture) in [
                (RefFrame::Golden, &refs.golden),
                (RefFrame::AltRef, &refs.altref),
            ] {
                if !distinct.iter().any(|(_, p)| Arc::ptr_eq(p, picture)) {
                    distinct.push((kind, picture.clone()));
                }
            }
            distinct
        }
        _ => Vec::new(),
    };
    let intra_ctx = IntraContext {
        source,
        quant: &quant,
        costs: &token_costs,
        rd,
        mode_costs: if key_frame {
            ModeCosts::keyframe()
        } else {
            ModeCosts::interframe(&start_probs.y_mode, &start_probs.uv_mode)
        },
        exhaustive: params.speed <= 2,
        whole_block_tries: match (key_frame, params.speed) {
            (_, 0..=1) => 4,
            (true, _) | (false, 2..=3) => 2,
            _ => 1,
        },
    };
    let mut inter_ctx = InterContext {
        source,
        references: &references,
        quant: &quant,
        costs: &token_costs,
        mv_costs: &mv_costs,
        rd,
        reference_costs: ReferenceCosts::from_counts([0; 4]),
        sign_bias: sign_bias(params, key_frame),
        interp,
        search: search_config(params.speed),
        search_all_references: params.speed < 4,
        // On five clips of the test set in the constant-quality mode, a short search in
        // golden and altref saved 8.6 points of BD-rate at equal SSIM and 7.7 at equal
        // PSNR (the real clip 14 and 15, a synthetic zoom 20 and 14) for a third more
        // instructions; without quarter samples it cost a fifth and saved 2 points less
        // on the real clip (issue 14's notes).
        light_search: (params.speed < 6).then_some(SearchConfig {
            range: 8,
            speed: 7,
            ..search_config(params.speed)
        }),
        skip: SkipCosts::from_counts(0, 0),
        split_partitionings: match params.speed {
            0..=1 => &[
                tables::MV_TOP_BOTTOM,
                tables::MV_LEFT_RIGHT,
                tables::MV_QUARTERS,
                tables::MV_4X4,
            ],
            2..=3 => &[
                tables::MV_TOP_BOTTOM,
                tables::MV_LEFT_RIGHT,
                tables::MV_QUARTERS,
            ],
            _ => &[],
        },
        full_tries: match params.speed {
            0 => 4,
            1..=3 => 2,
            _ => 1,
        },
    };

    // Decide every macroblock on the reconstruction of the ones before it.
    let mut recon = Picture::new(width, height);
    let mut map = ModeMap::new(mb_cols, mb_rows);
    let mut decided: Vec<Decided> = Vec::with_capacity(mb_cols * mb_rows);
    let mut above_ctx: Vec<EdgeContext> = vec![[false; 9]; mb_cols];
    let mut ws = MacroblockWorkspace::default();
    let allow_bpred_inter = params.speed <= 4;
    let mut skipped = 0;
    let mut references_used = [0usize; 4];
    for row in 0..mb_rows {
        map.start_row();
        let mut left_ctx: EdgeContext = [false; 9];
        for (col, above_slot) in above_ctx.iter_mut().enumerate() {
            let (above, left) = (*above_slot, left_ctx);
            let inter = if key_frame {
                None
            } else {
                inter_decision::decide(&inter_ctx, &mut ws, &map, row, col, &above, &left)
            };
            let inter_cost = inter.as_ref().map_or(u64::MAX, |c| c.cost);
            // B_PRED is tried on interframes only where whole-block intra comes close.
            let luma = intra_decision::decide_luma(
                &intra_ctx, &recon, &map, row, col, &above, &left, key_frame,
            );
            let luma = if !key_frame
                && allow_bpred_inter
                && luma.cost < inter_cost.saturating_add(inter_cost / 4)
            {
                intra_decision::decide_luma(&intra_ctx, &recon, &map, row, col, &above, &left, true)
            } else {
                luma
            };
            let intra_luma_cost = luma.cost
                + rd.lambda * inter_ctx.reference_costs.intra as u64 * (!key_frame) as u64;
            let chroma = if key_frame || intra_luma_cost < inter_cost {
                Some(intra_decision::decide_chroma(
                    &intra_ctx, &recon, row, col, &above, &left,
                ))
            } else {
                None
            };
            // The skip flag replaces the end-of-block tokens of an empty macroblock.
            let intra_cost = chroma.as_ref().map_or(u64::MAX, |c| {
                let tokens = luma.tokens + c.tokens;
                let rate = inter_ctx.skip.rate(luma.nonzero || c.nonzero, tokens);
                intra_luma_cost + c.cost - rd.lambda * u64::from(tokens)
                    + rd.lambda * u64::from(rate)
            });
            let info = match (inter, chroma) {
                (Some(choice), _) if choice.cost < intra_cost => choice.info,
                (_, chroma) => {
                    let chroma = chroma.expect("intra chroma is decided whenever intra can win");
                    MacroblockInfo {
                        luma_mode: luma.mode,
                        chroma_mode: chroma.mode,
                        ref_frame: RefFrame::Intra,
                        subblock_modes: luma.subblock_modes,
                        ..Default::default()
                    }
                }
            };
            // The decisions were priced with plain quantization; the macroblock is coded
            // once more for them with the trellis, as rebase codes it.
            let levels = rebase::code_macroblock(
                source,
                &mut recon,
                &mut ws,
                &references,
                interp,
                &info,
                &final_coding,
                &token_costs,
                inter_ctx.skip,
                (row, col),
                (above_slot, &mut left_ctx),
            );
            if macroblock_is_empty(&levels, info.luma_mode.has_y2()) {
                skipped += 1;
            }
            references_used[info.ref_frame as usize] += 1;
            map.push(info.clone());
            decided.push(Decided { info, levels });
            // The skip probability the frame is heading for prices the next decisions.
            inter_ctx.skip = SkipCosts::from_counts(decided.len() - skipped, skipped);
            inter_ctx.reference_costs = ReferenceCosts::from_counts(references_used);
        }
    }

    let header = build_header(
        params,
        key_frame,
        width,
        height,
        state,
        &start_probs,
        &mut decided,
        &map,
        source,
        &recon,
    );
    let data = write_bitstream(&header, &start_probs, &decided, mb_cols, mb_rows)?;

    let (next, picture, _) = decode_frame(state, &data).map_err(|e| {
        EncodeError::InvalidParameter(alloc::format!(
            "internal error: the written frame does not decode: {e}"
        ))
    })?;
    let stats = frame_stats(&header, &decided, source, &picture);
    Ok(EncodedFrame {
        data,
        state: next,
        picture,
        stats,
    })
}

/// What the written frame is: its type, quantizer, filter level, intra share and error.
pub(crate) fn frame_stats(
    header: &FrameHeader,
    decided: &[Decided],
    source: &Picture,
    picture: &Picture,
) -> FrameStats {
    FrameStats {
        key_frame: header.is_key_frame(),
        quantizer: header.quant.y_ac,
        loop_filter_level: header.loop_filter_level,
        intra_macroblocks: decided
            .iter()
            .filter(|d| d.info.ref_frame == RefFrame::Intra)
            .count(),
        macroblocks: decided.len(),
        sse: picture_sse(source, picture),
    }
}

fn check_params(source: &Picture, params: &EncodeParams) -> Result<(), EncodeError> {
    let (w, h) = (source.display_width, source.display_height);
    if w == 0 || h == 0 || w > 0x3fff || h > 0x3fff {
        return Err(EncodeError::InvalidSize {
            width: w,
            height: h,
        });
    }
    let bad = |what: &str| Err(EncodeError::InvalidParameter(what.into()));
    if params.quantizer > 127 {
        return bad("quantizer index above 127");
    }
    if params.speed > 8 {
        return bad("speed above 8");
    }
    if params.token_partitions_log2 > 3 {
        return bad("more than 8 token partitions");
    }
    if params.loop_filter_level.is_some_and(|l| l > 63) {
        return bad("loop-filter level above 63");
    }
    if params.sharpness > 7 {
        return bad("sharpness above 7");
    }
    Ok(())
}

/// Chooses the frame's probabilities and filter level from its decisions.
#[allow(clippy::too_many_arguments)]
fn build_header(
    params: &EncodeParams,
    key_frame: bool,
    width: usize,
    height: usize,
    state: &DecoderState,
    start: &EntropyProbabilities,
    decided: &mut [Decided],
    map: &ModeMap,
    source: &Picture,
    recon: &Picture,
) -> FrameHeader {
    let sign_bias = sign_bias(params, key_frame);
    let stats = frame_statistics(decided, map, start, key_frame, &sign_bias);
    let refs = params.references;
    let mut header = FrameHeader {
        tag: FrameTag {
            key_frame,
            version: VERSION,
            show_frame: params.show || key_frame,
            first_partition_size: 0,
            keyframe_size: key_frame.then_some(KeyframeSize {
                width: width as u16,
                horizontal_scale: 0,
                height: height as u16,
                vertical_scale: 0,
            }),
        },
        color_space: 0,
        clamping_type: 0,
        segmentation: SegmentationHeader {
            tree_probs: [255; 3],
            ..Default::default()
        },
        filter_simple: false,
        loop_filter_level: 0,
        sharpness: params.sharpness,
        // Keyframes send libvpx's adjustments (stronger filtering for intra, B_PRED and
        // SPLITMV, weaker for ZEROMV and the long-term references); later frames keep them.
        loop_filter_deltas: LoopFilterDeltaUpdate {
            enabled: true,
            reference_frame: if key_frame {
                DEFAULT_REF_LF_DELTAS.map(Some)
            } else {
                [None; 4]
            },
            mode: if key_frame {
                DEFAULT_MODE_LF_DELTAS.map(Some)
            } else {
                [None; 4]
            },
        },
        partition_count: 1 << params.token_partitions_log2,
        quant: QuantIndices {
            y_ac: params.quantizer,
            ..Default::default()
        },
        refresh_golden: key_frame || refs.golden,
        refresh_altref: key_frame || refs.altref,
        copy_to_golden: if !key_frame && refs.altref_to_golden && !refs.golden {
            BufferCopy::FromOther
        } else {
            BufferCopy::None
        },
        copy_to_altref: if !key_frame && refs.golden_to_altref && !refs.altref {
            BufferCopy::FromOther
        } else {
            BufferCopy::None
        },
        sign_bias_golden: sign_bias[2],
        sign_bias_altref: sign_bias[3],
        refresh_entropy_probs: true,
        refresh_last: key_frame || refs.last,
        coefficient_probs: stats.coefficient_probs,
        skip_prob: stats.skip_prob,
        prob_intra: stats.prob_intra,
        prob_last: stats.prob_last,
        prob_golden: stats.prob_golden,
        y_mode_probs: stats.y_mode_probs,
        uv_mode_probs: stats.uv_mode_probs,
        mv_probs: stats.mv_probs,
    };
    let skip_inner = stats.skip_inner;
    let deltas = if key_frame {
        LoopFilterDeltas {
            reference_frame: DEFAULT_REF_LF_DELTAS,
            mode: DEFAULT_MODE_LF_DELTAS,
        }
    } else {
        state.loop_filter_deltas
    };
    header.loop_filter_level = match params.loop_filter_level {
        Some(level) => level,
        None => choose_filter_level(
            &header,
            map,
            &deltas,
            source,
            recon,
            &skip_inner,
            params.speed,
        ),
    };
    header
}

/// What a frame's decisions call for in its header: skip flags (set in `decided`) and
/// their probability, coefficient, mode and motion-vector probabilities chosen against
/// `start`, and the reference-frame probabilities.
pub(crate) struct FrameStatistics {
    pub skip_prob: Option<u8>,
    pub coefficient_probs: TokenProbabilities,
    pub prob_intra: u8,
    pub prob_last: u8,
    pub prob_golden: u8,
    pub y_mode_probs: Option<[u8; 4]>,
    pub uv_mode_probs: Option<[u8; 3]>,
    pub mv_probs: [[u8; tables::MV_PROB_COUNT]; 2],
    /// Per macroblock: whether the loop filter skips its inner edges.
    pub skip_inner: Vec<bool>,
}

/// Measures the decided frame and sets each macroblock's skip flag. `sign_bias` is the
/// frame's (none, last, golden, altref) sign bias, which the vector prediction uses.
pub(crate) fn frame_statistics(
    decided: &mut [Decided],
    map: &ModeMap,
    start: &EntropyProbabilities,
    key_frame: bool,
    sign_bias: &[bool; 4],
) -> FrameStatistics {
    let (mb_cols, mb_rows) = (map.mb_cols, map.mb_rows);
    // Skip flags pay for themselves whenever some macroblock has no residual.
    let empty: Vec<bool> = decided
        .iter()
        .map(|d| macroblock_is_empty(&d.levels, d.info.luma_mode.has_y2()))
        .collect();
    let skipped = empty.iter().filter(|&&e| e).count();
    let skip_prob = (skipped > 0).then(|| probability(decided.len() - skipped, skipped));
    for (d, &e) in decided.iter_mut().zip(&empty) {
        d.info.skip_coeff = skip_prob.is_some() && e;
    }

    // Token statistics, with contexts exactly as they will be written.
    let mut counts = TokenCounts::default();
    walk_coded_macroblocks(decided, mb_cols, mb_rows, |_, d, above, left| {
        counts.add_macroblock(&d.levels, d.info.luma_mode.has_y2(), above, left);
    });
    let coefficient_probs = choose_coefficient_probs(&start.coefficients, &counts);

    // Reference and mode statistics (interframes).
    let (mut n_intra, mut n_last, mut n_golden, mut n_altref) = (0usize, 0usize, 0usize, 0usize);
    let mut y_leaves = [0u32; 5];
    let mut uv_leaves = [0u32; 4];
    let mut mv_counts = MvCounts::default();
    for row in 0..mb_rows {
        for col in 0..mb_cols {
            let info = map.get(row, col);
            match info.ref_frame {
                RefFrame::Intra => {
                    n_intra += 1;
                    y_leaves[info.luma_mode.intra_leaf() as usize] += 1;
                    uv_leaves[info.chroma_mode as usize] += 1;
                }
                RefFrame::Last => n_last += 1,
                RefFrame::Golden => n_golden += 1,
                RefFrame::AltRef => n_altref += 1,
            }
            if info.luma_mode == LumaMode::New {
                let near = modes::find_near_mvs(map, row, col, info.ref_frame, sign_bias);
                mv_counts.add(MotionVector {
                    row: info.mv.row.wrapping_sub(near.best.row),
                    col: info.mv.col.wrapping_sub(near.best.col),
                });
            }
        }
    }
    let (y_mode_probs, uv_mode_probs, mv_probs) = if key_frame {
        (None, None, start.motion_vectors)
    } else {
        (
            choose_mode_probs(&start.y_mode, &tables::YMODE_TREE, &y_leaves),
            choose_mode_probs(&start.uv_mode, &tables::UV_MODE_TREE, &uv_leaves),
            choose_mv_probs(&start.motion_vectors, &mv_counts),
        )
    };

    FrameStatistics {
        skip_prob,
        coefficient_probs,
        prob_intra: probability(n_intra, n_last + n_golden + n_altref),
        prob_last: probability(n_last, n_golden + n_altref),
        prob_golden: probability(n_golden, n_altref),
        y_mode_probs,
        uv_mode_probs,
        mv_probs,
        skip_inner: decided
            .iter()
            .zip(&empty)
            .map(|(d, &e)| d.info.luma_mode.has_y2() && e)
            .collect(),
    }
}

/// Loop-filter level adjustments by reference frame (intra, last, golden, altref) and by
/// mode (B_PRED, ZEROMV, other vectors, SPLITMV), as libvpx's encoder sets them.
const DEFAULT_REF_LF_DELTAS: [i8; 4] = [2, 0, -2, -2];
const DEFAULT_MODE_LF_DELTAS: [i8; 4] = [4, -2, 2, 4];

/// Probability of a zero, from counts of zeros and ones (1..=255; 128 without data).
pub(crate) fn probability(zeros: usize, ones: usize) -> u8 {
    let total = zeros + ones;
    if total == 0 {
        return 128;
    }
    ((zeros * 256 + total / 2) / total).clamp(1, 255) as u8
}

/// The loop-filter level minimising the luma error of the filtered reconstruction,
/// measured on a sample of the frame to keep the search cheap: pairs of adjacent
/// macroblock rows, stacked, where only the second row of each pair (below a real edge,
/// above the next pair's artificial one) is measured.
#[allow(clippy::too_many_arguments)]
fn choose_filter_level(
    header: &FrameHeader,
    map: &ModeMap,
    deltas: &LoopFilterDeltas,
    source: &Picture,
    recon: &Picture,
    skip_inner: &[bool],
    speed: u8,
) -> u8 {
    let q = header.quant.y_ac as i32;
    let guess = ((q * 5) / 16).clamp(0, 63) as u8;
    if speed >= 7 {
        return guess;
    }
    let mb_cols = recon.mb_cols();
    let (source, recon, skip_inner, measured_rows, rows) = sample_rows(source, recon, skip_inner);
    let no_segments = Segmentation::default();
    let mut cache: [Option<u64>; 64] = [None; 64];
    let mut error_at = |level: u8| -> u64 {
        *cache[level as usize].get_or_insert_with(|| {
            let measured = |picture: &Picture| -> u64 {
                measured_rows
                    .iter()
                    .map(|&(y0, y1)| {
                        let width = source.display_width;
                        plane_sse_rows(&source.y, &picture.y, width, y0..y1)
                    })
                    .sum()
            };
            if level == 0 {
                return measured(&recon);
            }
            let mut filtered = recon.clone();
            let mut header = header.clone();
            header.loop_filter_level = level;
            let all = filter_levels(&header, map, &no_segments, deltas);
            let levels: Vec<u8> = rows
                .iter()
                .flat_map(|&row| all[row * mb_cols..(row + 1) * mb_cols].iter().copied())
                .collect();
            loop_filter::filter_frame(&mut filtered, &header, &levels, &skip_inner);
            measured(&filtered)
        })
    };
    // Coarse-to-fine descent from the guess.
    let mut best = guess;
    let mut best_error = error_at(best);
    let mut step = if speed >= 4 { 4i32 } else { 8 };
    while step > 0 {
        let mut improved = false;
        for candidate in [best as i32 - step, best as i32 + step] {
            if (0..=63).contains(&candidate) {
                let e = error_at(candidate as u8);
                if e < best_error {
                    best_error = e;
                    best = candidate as u8;
                    improved = true;
                }
            }
        }
        if !improved {
            step /= 2;
        }
    }
    best
}

/// Pairs of adjacent macroblock rows (every fourth pair start) of source and
/// reconstruction, stacked into smaller pictures, with their inner-edge flags and the
/// sample rows to measure. Small frames are used whole.
#[allow(clippy::type_complexity)]
fn sample_rows(
    source: &Picture,
    recon: &Picture,
    skip_inner: &[bool],
) -> (Picture, Picture, Vec<bool>, Vec<(usize, usize)>, Vec<usize>) {
    let (mb_cols, mb_rows) = (recon.mb_cols(), recon.mb_rows());
    if mb_rows < 8 {
        let measured = vec![(0, source.display_height)];
        let all = (0..mb_rows).collect();
        return (
            source.clone(),
            recon.clone(),
            skip_inner.to_vec(),
            measured,
            all,
        );
    }
    let rows: Vec<usize> = (0..mb_rows - 1)
        .step_by(4)
        .flat_map(|r| [r, r + 1])
        .collect();
    let width = source.display_width;
    let height = rows.len() * 16;
    let mut sampled = [Picture::new(width, height), Picture::new(width, height)];
    for (dst, src) in sampled.iter_mut().zip([source, recon]) {
        for (i, &row) in rows.iter().enumerate() {
            for (d, s, size) in [
                (&mut dst.y, &src.y, 16),
                (&mut dst.u, &src.u, 8),
                (&mut dst.v, &src.v, 8),
            ] {
                let len = s.stride * size;
                d.data[i * len..(i + 1) * len].copy_from_slice(&s.data[row * len..(row + 1) * len]);
            }
        }
    }
    let skip = rows
        .iter()
        .flat_map(|&row| {
            skip_inner[row * mb_cols..(row + 1) * mb_cols]
                .iter()
                .copied()
        })
        .collect();
    // The second row of each pair, less the three sample rows the next pair's artificial
    // edge may change; the last real row of the frame may be partly outside the display.
    let measured = (0..rows.len() / 2)
        .map(|pair| {
            let y0 = (2 * pair + 1) * 16;
            (y0, y0 + 13)
        })
        .collect();
    let [source, recon] = sampled;
    (source, recon, skip, measured, rows)
}

/// Visits the macroblocks whose residual is coded, in raster order, with their token
/// contexts; skipped ones only reset the contexts, as the decoder does. Counting and
/// writing both walk this way, so their contexts cannot differ.
fn walk_coded_macroblocks(
    decided: &[Decided],
    mb_cols: usize,
    mb_rows: usize,
    mut visit: impl FnMut(usize, &Decided, &mut EdgeContext, &mut EdgeContext),
) {
    let mut above_ctx: Vec<EdgeContext> = vec![[false; 9]; mb_cols];
    for row in 0..mb_rows {
        let mut left: EdgeContext = [false; 9];
        for (col, above) in above_ctx.iter_mut().enumerate() {
            let d = &decided[row * mb_cols + col];
            if d.info.skip_coeff {
                tokens::skip_macroblock(d.info.luma_mode.has_y2(), above, &mut left);
            } else {
                visit(row, d, above, &mut left);
            }
        }
    }
}

/// Writes header, modes and tokens, and assembles the frame.
pub(crate) fn write_bitstream(
    header: &FrameHeader,
    start: &EntropyProbabilities,
    decided: &[Decided],
    mb_cols: usize,
    mb_rows: usize,
) -> Result<Vec<u8>, EncodeError> {
    let y_mode_probs = header.y_mode_probs.unwrap_or(start.y_mode);
    let uv_mode_probs = header.uv_mode_probs.unwrap_or(start.uv_mode);
    let mut first = BoolEncoder::new();
    write_header(&mut first, header, start);
    let mut map = ModeMap::new(mb_cols, mb_rows);
    for row in 0..mb_rows {
        map.start_row();
        for col in 0..mb_cols {
            let info = &decided[row * mb_cols + col].info;
            write_macroblock_modes(
                &mut first,
                header,
                &map,
                row,
                col,
                info,
                &y_mode_probs,
                &uv_mode_probs,
            );
            map.push(info.clone());
        }
    }
    let mut partitions: Vec<BoolEncoder> = (0..header.partition_count)
        .map(|_| BoolEncoder::new())
        .collect();
    let count = header.partition_count;
    walk_coded_macroblocks(decided, mb_cols, mb_rows, |row, d, above, left| {
        let has_y2 = d.info.luma_mode.has_y2();
        let w = &mut partitions[row % count];
        write_macroblock_tokens(w, &header.coefficient_probs, &d.levels, has_y2, above, left);
    });
    let partitions: Vec<Vec<u8>> = partitions.into_iter().map(BoolEncoder::finish).collect();
    write_frame(&header.tag, &first.finish(), &partitions)
}
