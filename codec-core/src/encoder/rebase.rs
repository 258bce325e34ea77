//! `rebase(state, picture, frame) -> (frame', state')`: rewrite an interframe made against
//! one state so that it decodes correctly from another (DESIGN.md §1).
//!
//! Every decision of the frame is kept: each macroblock's intra or inter choice, reference
//! frame, luma and chroma modes, B_PRED submodes, every motion vector (split ones too) and
//! segment id, and the header's quantizers, loop-filter settings and reference updates.
//! What depends on the references is computed again against the new state: the prediction,
//! the residual against the source picture, its quantization (with the encoder's own
//! rate-distortion rules), the skip flags, and the probabilities the new statistics call
//! for. There is no search of any kind, which is what makes rebase cheap enough to be the
//! serial step of a chunked encode.
//!
//! Parsing an interframe needs the mode and motion-vector probabilities it was coded with,
//! which belong to the state it was made against, not to the target: the caller passes that
//! state's [`FrameContext`] (cheap to carry along a stream with [`FrameContext::after`]).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::decoder::{FrameContext, ParsedFrame, finish_frame, parse_frame, segment_factors};
use crate::encoder::frame::{
    Decided, frame_statistics, frame_stats, lambda_for, probability, write_bitstream,
};
use crate::encoder::inter_decision::source_blocks;
use crate::encoder::macroblock::{
    RdWeight, SkipCosts, TYPE_Y_WITH_DC, code_block, code_chroma, code_luma_with_y2,
    code_luma_without_y2, prediction_sse,
};
use crate::encoder::quantize::MacroblockQuantizer;
use crate::encoder::token_writer::{MacroblockLevels, TokenCostTable, macroblock_is_empty};
use crate::encoder::{EncodeError, EncodedFrame};
use crate::error::DecodeError;
use crate::header::{
    BufferCopy, FrameHeader, FrameTag, KeyframeSize, LoopFilterDeltaUpdate, SegmentData,
    SegmentationHeader,
};
use crate::intra::{self, WS_LEN, WS_ORIGIN, WS_STRIDE, Workspace};
use crate::modes::{LumaMode, MacroblockInfo, RefFrame};
use crate::picture::Picture;
use crate::reconstruct::{self, InterpolationMode, MacroblockWorkspace, load_edges, store};
use crate::state::{DecoderState, EntropyProbabilities, LoopFilterDeltas};
use crate::tables;
use crate::tokens::EdgeContext;

/// Why a frame cannot be rebased.
#[derive(Clone, Debug, PartialEq)]
pub enum RebaseError {
    /// The frame does not parse with the context it was said to be made against.
    Parse(DecodeError),
    /// The target state has no references (and the frame is not a keyframe), or its
    /// pictures have another size than the frame's.
    SizeMismatch {
        target: Option<(usize, usize)>,
        frame: (usize, usize),
    },
    /// The source picture has another size than the frame's.
    SourceSize {
        source: (usize, usize),
        frame: (usize, usize),
    },
    /// The rewritten frame could not be produced.
    Encode(EncodeError),
}

impl fmt::Display for RebaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RebaseError::Parse(e) => write!(f, "the frame does not parse: {e}"),
            RebaseError::SizeMismatch {
                target: None,
                frame,
            } => write!(
                f,
                "a {}x{} interframe cannot be rebased onto a state without references",
                frame.0, frame.1
            ),
            RebaseError::SizeMismatch {
                target: Some(t),
                frame,
            } => write!(
                f,
                "a {}x{} frame cannot be rebased onto a state of {}x{} pictures",
                frame.0, frame.1, t.0, t.1
            ),
            RebaseError::SourceSize { source, frame } => write!(
                f,
                "the source picture is {}x{} but the frame is {}x{}",
                source.0, source.1, frame.0, frame.1
            ),
            RebaseError::Encode(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for RebaseError {}

/// Rewrites `frame`, made against a state whose context is `made_from`, so that it decodes
/// from `target`, coding the residual against `source` (the picture the frame was made
/// from). Returns the new frame, the state after it, and its reconstruction.
///
/// A keyframe is rewritten as an interframe that refreshes every reference (its intra
/// decisions kept), unless `target` holds no references, in which case it stays a keyframe.
/// Rebasing a frame made by flick's encoder onto the very state it was made against gives
/// the same frame back.
///
/// # Errors
///
/// [`RebaseError::Parse`] when the frame does not parse with `made_from`,
/// [`RebaseError::SizeMismatch`] when `target` cannot predict a frame of its size, and
/// [`RebaseError::SourceSize`] when `source` has another size.
pub fn rebase(
    target: &DecoderState,
    source: &Picture,
    frame: &[u8],
    made_from: &FrameContext,
) -> Result<EncodedFrame, RebaseError> {
    let parsed = parse_frame(made_from, frame).map_err(RebaseError::Parse)?;
    let frame_size = (parsed.size.width as usize, parsed.size.height as usize);
    let source_size = (source.display_width, source.display_height);
    if source_size != frame_size {
        return Err(RebaseError::SourceSize {
            source: source_size,
            frame: frame_size,
        });
    }
    let target_size = target.size().map(|s| (s.width as usize, s.height as usize));
    let key_frame = match target_size {
        None if parsed.header.is_key_frame() => true,
        Some(size) if size == frame_size => false,
        _ => {
            return Err(RebaseError::SizeMismatch {
                target: target_size,
                frame: frame_size,
            });
        }
    };
    let start = if key_frame {
        EntropyProbabilities::default()
    } else {
        target.probabilities.clone()
    };

    let (mut decided, recon) = code_macroblocks(target, source, &parsed, &start);
    let (header, data, skip_inner) = rewrite(target, &parsed, key_frame, &start, &mut decided)?;
    // The state after the frame: its own header and modes, as a decoder parses them, on
    // the reconstruction made while coding (the decoder's own arithmetic).
    let written = parse_frame(&FrameContext::of(target), &data).map_err(|e| {
        RebaseError::Encode(EncodeError::InvalidParameter(alloc::format!(
            "internal error: the rebased frame does not parse: {e}"
        )))
    })?;
    let (state, picture, _) = finish_frame(target, written, recon, &skip_inner);
    let stats = frame_stats(&header, &decided, source, &picture);
    Ok(EncodedFrame {
        data,
        state,
        picture,
        stats,
    })
}

/// `retoken(state, frame) -> frame'`: rewrite an interframe made against one state so that
/// it decodes from `target` with every decision *and every quantized coefficient* kept;
/// only the entropy coding (probabilities, skip flags, tokens) is made again for `target`.
///
/// Where the frame's references are the same pictures in both states, the new frame
/// reconstructs exactly as the original did. That holds for a frame that predicts nothing
/// from last (see [`EncodeParams::predict_from_last`]) onto any state with the same golden
/// and altref: a pipeline's long-term reference frames, coded once and then carried into
/// chunks whose last pictures differ. Elsewhere the reconstruction drifts by whatever the
/// references differ, uncorrected; [`rebase`] corrects it.
///
/// The returned stats carry no coding error (`sse` zero): without a source picture there
/// is nothing to measure against, and the frame's quality is the original's.
///
/// [`EncodeParams::predict_from_last`]: crate::encoder::EncodeParams::predict_from_last
///
/// # Errors
///
/// [`RebaseError::Parse`] when the frame does not parse with `made_from` (or is a
/// keyframe, which needs no rewriting), and [`RebaseError::SizeMismatch`] when `target`
/// cannot predict a frame of its size.
pub fn retoken(
    target: &DecoderState,
    frame: &[u8],
    made_from: &FrameContext,
) -> Result<EncodedFrame, RebaseError> {
    let parsed = parse_frame(made_from, frame).map_err(RebaseError::Parse)?;
    if parsed.header.is_key_frame() {
        return Err(RebaseError::Parse(DecodeError::Unsupported(
            "a keyframe decodes from any state as it is; only interframes are retokened".into(),
        )));
    }
    let frame_size = (parsed.size.width as usize, parsed.size.height as usize);
    let target_size = target.size().map(|s| (s.width as usize, s.height as usize));
    if target_size != Some(frame_size) {
        return Err(RebaseError::SizeMismatch {
            target: target_size,
            frame: frame_size,
        });
    }
    let levels = crate::decoder::read_levels(&parsed).map_err(RebaseError::Parse)?;
    let mut decided: Vec<Decided> = levels
        .into_iter()
        .enumerate()
        .map(|(index, levels)| {
            let mut info = parsed
                .modes
                .get(index / parsed.modes.mb_cols, index % parsed.modes.mb_cols)
                .clone();
            info.skip_coeff = false;
            Decided { info, levels }
        })
        .collect();
    let start = target.probabilities.clone();
    let (header, data, _) = rewrite(target, &parsed, false, &start, &mut decided)?;
    let (state, picture, _) = crate::decoder::decode_frame(target, &data).map_err(|e| {
        RebaseError::Encode(EncodeError::InvalidParameter(alloc::format!(
            "internal error: the retokened frame does not decode: {e}"
        )))
    })?;
    // Measured against itself: no source, no error.
    let stats = frame_stats(&header, &decided, &picture, &picture);
    Ok(EncodedFrame {
        data,
        state,
        picture,
        stats,
    })
}

/// The frame's new header (see [`rebased_header`]) and bitstream for `decided`, the header's
/// skip-inner flags too.
fn rewrite(
    target: &DecoderState,
    parsed: &ParsedFrame<'_>,
    key_frame: bool,
    start: &EntropyProbabilities,
    decided: &mut [Decided],
) -> Result<(FrameHeader, Vec<u8>, Vec<bool>), RebaseError> {
    let (header, skip_inner) = rebased_header(target, parsed, key_frame, start, decided);
    let data = write_bitstream(
        &header,
        start,
        decided,
        parsed.modes.mb_cols,
        parsed.modes.mb_rows,
    )
    .map_err(RebaseError::Encode)?;
    Ok((header, data, skip_inner))
}

/// Per-segment quantizers and rate-distortion weights.
pub(crate) struct SegmentCoding {
    pub quant: MacroblockQuantizer,
    pub rd: RdWeight,
}

/// Codes every macroblock's residual for its kept decisions, predicting from `target`'s
/// references and from the reconstruction of the macroblocks before it.
fn code_macroblocks(
    target: &DecoderState,
    source: &Picture,
    parsed: &ParsedFrame<'_>,
    start: &EntropyProbabilities,
) -> (Vec<Decided>, Picture) {
    let (mb_cols, mb_rows) = (parsed.modes.mb_cols, parsed.modes.mb_rows);
    let segments =
        segment_factors(&parsed.header, &parsed.segmentation).map(|factors| SegmentCoding {
            quant: MacroblockQuantizer::new(&factors),
            rd: RdWeight {
                lambda: lambda_for(factors.y[0]),
                // As the frame encoder's final coding.
                trellis: true,
            },
        });
    let costs = TokenCostTable::new(&start.coefficients);
    let interp = InterpolationMode::for_version(parsed.header.tag.version);
    let references: Vec<(RefFrame, Arc<Picture>)> = match target.references() {
        Some(refs) => vec![
            (RefFrame::Last, refs.last.clone()),
            (RefFrame::Golden, refs.golden.clone()),
            (RefFrame::AltRef, refs.altref.clone()),
        ],
        None => Vec::new(),
    };

    let mut recon = Picture::new(source.display_width, source.display_height);
    let mut ws = MacroblockWorkspace::default();
    let mut decided = Vec::with_capacity(mb_cols * mb_rows);
    let mut above_ctx: Vec<EdgeContext> = vec![[false; 9]; mb_cols];
    // Skip flags are priced as the frame encoder prices them, from the macroblocks before.
    let mut skipped = 0;
    for row in 0..mb_rows {
        let mut left: EdgeContext = [false; 9];
        for (col, above) in above_ctx.iter_mut().enumerate() {
            let mut info = parsed.modes.get(row, col).clone();
            info.skip_coeff = false;
            let segment = &segments[usize::from(info.segment_id.min(3))];
            let skip = SkipCosts::from_counts(decided.len() - skipped, skipped);
            let levels = code_macroblock(
                source,
                &mut recon,
                &mut ws,
                &references,
                interp,
                &info,
                segment,
                &costs,
                skip,
                (row, col),
                (above, &mut left),
            );
            if macroblock_is_empty(&levels, info.luma_mode.has_y2()) {
                skipped += 1;
            }
            decided.push(Decided { info, levels });
        }
    }
    (decided, recon)
}

/// Codes the residual of macroblock (row, col) for its decided prediction `info`, predicting
/// from `references` and from `recon`, where its reconstruction goes; returns its levels and
/// moves the token contexts past it. The frame encoder's final coding of each macroblock and
/// rebase's both come through here, which is why a frame rebased onto the state it was made
/// from comes back the same.
#[allow(clippy::too_many_arguments)]
pub(crate) fn code_macroblock(
    source: &Picture,
    recon: &mut Picture,
    ws: &mut MacroblockWorkspace,
    references: &[(RefFrame, Arc<Picture>)],
    interp: InterpolationMode,
    info: &MacroblockInfo,
    segment: &SegmentCoding,
    costs: &TokenCostTable,
    skip: SkipCosts,
    (row, col): (usize, usize),
    (above, left): (&mut EdgeContext, &mut EdgeContext),
) -> MacroblockLevels {
    match info.ref_frame {
        RefFrame::Intra => code_intra(source, recon, info, segment, costs, row, col, above, left),
        kind => {
            let reference = &references
                .iter()
                .find(|(k, _)| *k == kind)
                .expect("an inter macroblock implies references")
                .1;
            reconstruct::predict_inter(reference, ws, info, row, col, interp);
            let levels = code_inter(
                source, ws, info, segment, costs, skip, row, col, above, left,
            );
            // The coding left the reconstruction in the workspace.
            store(&ws.luma, &mut recon.y, row, col, 16);
            store(&ws.u, &mut recon.u, row, col, 8);
            store(&ws.v, &mut recon.v, row, col, 8);
            levels
        }
    }
}

/// Levels of an intra macroblock coded with its kept modes, as the encoder codes them.
#[allow(clippy::too_many_arguments)]
fn code_intra(
    source: &Picture,
    recon: &mut Picture,
    info: &MacroblockInfo,
    segment: &SegmentCoding,
    costs: &TokenCostTable,
    row: usize,
    col: usize,
    above: &mut EdgeContext,
    left: &mut EdgeContext,
) -> MacroblockLevels {
    let (y, u, v) = source_blocks(source, row, col);
    let mut levels: MacroblockLevels = [[0; 16]; 25];
    let mut luma: Workspace = [0; WS_LEN];
    load_edges(&mut luma, &recon.y, row, col, 16);
    if info.luma_mode == LumaMode::BPred {
        // Subblocks on the right edge below the top row see the macroblock's above-right.
        for r in [4, 8, 12] {
            luma.copy_within(17..21, r * WS_STRIDE + 17);
        }
        for (b, block_levels) in levels[..16].iter_mut().enumerate() {
            let (bx, by) = (b & 3, b >> 2);
            let pos = WS_ORIGIN + by * 4 * WS_STRIDE + bx * 4;
            intra::predict_subblock(&mut luma, pos, info.subblock_modes[b]);
            let ctx = above[bx] as usize + left[by] as usize;
            let (_, nz) = code_block(
                &y,
                bx * 4,
                by * 4,
                &mut luma,
                pos,
                &segment.quant.y,
                costs,
                TYPE_Y_WITH_DC,
                ctx,
                segment.rd,
                block_levels,
            );
            above[bx] = nz;
            left[by] = nz;
        }
    } else {
        intra::predict_block(&mut luma, 16, info.luma_mode, row > 0, col > 0);
        let coding = code_luma_with_y2(
            &y,
            &mut luma,
            &segment.quant,
            costs,
            segment.rd,
            above,
            left,
        );
        levels[..16].copy_from_slice(&coding.levels);
        levels[24] = coding.y2;
    }
    store(&luma, &mut recon.y, row, col, 16);
    let chroma_mode = match info.chroma_mode {
        tables::mode::DC_PRED => LumaMode::Dc,
        tables::mode::V_PRED => LumaMode::V,
        tables::mode::H_PRED => LumaMode::H,
        _ => LumaMode::Tm,
    };
    for (plane, src) in [&u, &v].into_iter().enumerate() {
        let recon_plane = if plane == 0 {
            &mut recon.u
        } else {
            &mut recon.v
        };
        let mut ws: Workspace = [0; WS_LEN];
        load_edges(&mut ws, recon_plane, row, col, 8);
        intra::predict_block(&mut ws, 8, chroma_mode, row > 0, col > 0);
        let coding = code_chroma(
            src,
            &mut ws,
            plane,
            &segment.quant,
            costs,
            segment.rd,
            above,
            left,
        );
        store(&ws, recon_plane, row, col, 8);
        levels[16 + plane * 4..20 + plane * 4].copy_from_slice(&coding.levels[..4]);
    }
    levels
}

/// Levels of an inter macroblock whose prediction is in `ws`, as the encoder codes them:
/// the residual, or none at all where the prediction alone costs less once the skip flag
/// replaces the tokens (the reconstruction is then the prediction).
#[allow(clippy::too_many_arguments)]
fn code_inter(
    source: &Picture,
    ws: &mut MacroblockWorkspace,
    info: &MacroblockInfo,
    segment: &SegmentCoding,
    costs: &TokenCostTable,
    skip: SkipCosts,
    row: usize,
    col: usize,
    above: &mut EdgeContext,
    left: &mut EdgeContext,
) -> MacroblockLevels {
    let (y, u, v) = source_blocks(source, row, col);
    let (q, rd) = (&segment.quant, segment.rd);
    let prediction = (ws.luma, ws.u, ws.v);
    let contexts = (*above, *left);
    let mut levels: MacroblockLevels = [[0; 16]; 25];
    let has_y2 = info.luma_mode.has_y2();
    let luma = if has_y2 {
        code_luma_with_y2(&y, &mut ws.luma, q, costs, rd, above, left)
    } else {
        code_luma_without_y2(&y, &mut ws.luma, q, costs, rd, above, left)
    };
    let cu = code_chroma(&u, &mut ws.u, 0, q, costs, rd, above, left);
    let cv = code_chroma(&v, &mut ws.v, 1, q, costs, rd, above, left);
    if luma.nonzero || cu.nonzero || cv.nonzero {
        let coded = rd.cost(
            luma.sse + cu.sse + cv.sse,
            skip.rate(true, luma.rate + cu.rate + cv.rate),
        );
        let predicted = prediction_sse(&y, &prediction.0, 16)
            + prediction_sse(&u, &prediction.1, 8)
            + prediction_sse(&v, &prediction.2, 8);
        if rd.cost(predicted, skip.rate(false, 0)) <= coded {
            (ws.luma, ws.u, ws.v) = prediction;
            (*above, *left) = contexts;
            crate::tokens::skip_macroblock(has_y2, above, left);
            return levels;
        }
    }
    levels[..16].copy_from_slice(&luma.levels);
    if has_y2 {
        levels[24] = luma.y2;
    }
    levels[16..20].copy_from_slice(&cu.levels[..4]);
    levels[20..24].copy_from_slice(&cv.levels[..4]);
    levels
}

/// The rebased frame's header: the original's settings, with the probabilities and flags
/// the new coding calls for (and sets the macroblocks' skip flags).
fn rebased_header(
    target: &DecoderState,
    parsed: &ParsedFrame<'_>,
    key_frame: bool,
    start: &EntropyProbabilities,
    decided: &mut [Decided],
) -> (FrameHeader, Vec<bool>) {
    let original = &parsed.header;
    // A keyframe becoming an interframe refreshes every reference, as the keyframe did,
    // and has no sign bias.
    let converted = original.is_key_frame() && !key_frame;
    let sign_bias = [
        false,
        false,
        original.sign_bias_golden && !converted,
        original.sign_bias_altref && !converted,
    ];
    let stats = frame_statistics(decided, &parsed.modes, start, key_frame, &sign_bias);

    // Loop-filter deltas: the frame's own updates, and those values it was filtered with
    // that the target's deltas would not give.
    let base = if key_frame {
        LoopFilterDeltas::default()
    } else {
        target.loop_filter_deltas
    };
    let wanted = parsed.loop_filter_deltas;
    let sent = original.loop_filter_deltas;
    let update = |sent: [Option<i8>; 4], want: [i8; 4], have: [i8; 4]| -> [Option<i8>; 4] {
        core::array::from_fn(|i| sent[i].or((want[i] != have[i]).then_some(want[i])))
    };
    let loop_filter_deltas = if sent.enabled {
        LoopFilterDeltaUpdate {
            enabled: true,
            reference_frame: update(
                sent.reference_frame,
                wanted.reference_frame,
                base.reference_frame,
            ),
            mode: update(sent.mode, wanted.mode, base.mode),
        }
    } else {
        LoopFilterDeltaUpdate::default()
    };

    // Segmentation, when used, is sent in full: the map the target carries is not the one
    // the frame was made with.
    let segmentation = if original.segmentation.enabled {
        let mut counts = [0usize; 4];
        for d in decided.iter() {
            counts[usize::from(d.info.segment_id.min(3))] += 1;
        }
        SegmentationHeader {
            enabled: true,
            update_map: true,
            update_data: Some(SegmentData {
                absolute_values: parsed.segmentation.absolute_values,
                quantizer: parsed.segmentation.quantizer,
                loop_filter_level: parsed.segmentation.loop_filter_level,
            }),
            tree_probs: segment_tree_probs(&counts),
        }
    } else {
        SegmentationHeader {
            tree_probs: [255; 3],
            ..Default::default()
        }
    };

    let header = FrameHeader {
        tag: FrameTag {
            key_frame,
            version: original.tag.version,
            show_frame: original.tag.show_frame,
            first_partition_size: 0,
            keyframe_size: key_frame.then_some(KeyframeSize {
                width: parsed.size.width,
                horizontal_scale: parsed.size.horizontal_scale,
                height: parsed.size.height,
                vertical_scale: parsed.size.vertical_scale,
            }),
        },
        color_space: original.color_space,
        clamping_type: original.clamping_type,
        segmentation,
        filter_simple: original.filter_simple,
        loop_filter_level: original.loop_filter_level,
        sharpness: original.sharpness,
        loop_filter_deltas,
        partition_count: original.partition_count,
        quant: original.quant,
        refresh_golden: original.refresh_golden || converted,
        refresh_altref: original.refresh_altref || converted,
        copy_to_golden: if converted {
            BufferCopy::None
        } else {
            original.copy_to_golden
        },
        copy_to_altref: if converted {
            BufferCopy::None
        } else {
            original.copy_to_altref
        },
        sign_bias_golden: sign_bias[2],
        sign_bias_altref: sign_bias[3],
        refresh_entropy_probs: original.refresh_entropy_probs,
        refresh_last: original.refresh_last || converted,
        coefficient_probs: stats.coefficient_probs,
        skip_prob: stats.skip_prob,
        prob_intra: stats.prob_intra,
        prob_last: stats.prob_last,
        prob_golden: stats.prob_golden,
        y_mode_probs: stats.y_mode_probs,
        uv_mode_probs: stats.uv_mode_probs,
        mv_probs: stats.mv_probs,
    };
    (header, stats.skip_inner)
}

/// Probabilities of the segment-id tree (RFC 6386 §9.3: {0,1} vs {2,3}, then 0 vs 1, then
/// 2 vs 3) from counts of each id.
fn segment_tree_probs(counts: &[usize; 4]) -> [u8; 3] {
    [
        probability(counts[0] + counts[1], counts[2] + counts[3]),
        probability(counts[0], counts[1]),
        probability(counts[2], counts[3]),
    ]
}

#[cfg(test)]
mod tests;
