//! `decode(state, frame) -> (state', picture)`: one VP8 frame, as a pure function
//! (RFC 6386 §5, §9).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use crate::bool_decoder::BoolDecoder;
use crate::error::DecodeError;
use crate::header::{self, BufferCopy, FrameHeader};
use crate::loop_filter;
use crate::modes::{self, LumaMode, ModeMap, RefFrame};
use crate::picture::Picture;
use crate::quantizer::DequantFactors;
use crate::reconstruct::{self, InterpolationMode, MacroblockWorkspace};
use crate::state::{
    DecoderState, EntropyProbabilities, FrameSize, FrameState, LoopFilterDeltas, References,
    Segmentation,
};
use crate::tokens::{self, EdgeContext, MacroblockCoefficients};
use crate::transform;

/// Bits a partition may be read past its end before the frame counts as truncated. libvpx
/// flags any; a little slack accepts encoders that flush their last bits loosely.
const OVERRUN_TOLERANCE: usize = 16;

/// Decodes one compressed frame from `state`, returning the state after it and, when the
/// frame is shown, its picture. A zero-length frame is a dropped frame: the state is
/// unchanged and nothing is shown, as in libvpx.
pub fn decode(
    state: &DecoderState,
    data: &[u8],
) -> Result<(DecoderState, Option<Arc<Picture>>), DecodeError> {
    if data.is_empty() {
        return Ok((state.clone(), None));
    }
    let (next, picture, shown) = decode_frame(state, data)?;
    Ok((next, shown.then_some(picture)))
}

/// A frame's first partition, parsed: its header and every macroblock's prediction record,
/// with the probabilities, segmentation and loop-filter deltas in force for it.
pub(crate) struct ParsedFrame<'a> {
    pub size: FrameSize,
    pub header: FrameHeader,
    /// The probabilities the frame started from (defaults for a keyframe).
    pub start_probs: EntropyProbabilities,
    /// The probabilities after the header's updates, which its macroblocks are coded with.
    pub probs: EntropyProbabilities,
    /// Segmentation and loop-filter deltas after the header's updates; the map holds the
    /// frame's segment ids.
    pub segmentation: Segmentation,
    pub loop_filter_deltas: LoopFilterDeltas,
    pub modes: ModeMap,
    /// The token partitions.
    pub partitions: Vec<&'a [u8]>,
}

/// What a decoder needs from its state to parse a frame's header and modes: everything
/// but the reference pictures. It is what [`rebase`](crate::rebase) needs to know about the
/// state a frame was made against, and it is cheap to carry along a stream, since
/// [`FrameContext::after`] parses a frame without reconstructing it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FrameContext {
    pub(crate) size: Option<FrameSize>,
    pub(crate) probabilities: EntropyProbabilities,
    pub(crate) segmentation: Segmentation,
    pub(crate) loop_filter_deltas: LoopFilterDeltas,
}

impl FrameContext {
    /// The context of a decoder in `state`.
    pub fn of(state: &DecoderState) -> FrameContext {
        FrameContext {
            size: state.frame.as_ref().map(|f| f.size),
            probabilities: state.probabilities.clone(),
            segmentation: state.segmentation.clone(),
            loop_filter_deltas: state.loop_filter_deltas,
        }
    }

    /// The frame size of the state's references; `None` before the first keyframe.
    pub fn size(&self) -> Option<FrameSize> {
        self.size
    }

    /// The context after `frame`: what [`FrameContext::of`] gives for the state that
    /// decoding `frame` from this context's state leads to. A zero-length (dropped) frame
    /// changes nothing.
    ///
    /// # Errors
    ///
    /// As [`decode`], for the frame tag, header and modes (the residual is not read).
    pub fn after(&self, frame: &[u8]) -> Result<FrameContext, DecodeError> {
        if frame.is_empty() {
            return Ok(self.clone());
        }
        let parsed = parse_frame(self, frame)?;
        Ok(FrameContext {
            size: Some(parsed.size),
            probabilities: if parsed.header.refresh_entropy_probs {
                parsed.probs
            } else {
                parsed.start_probs
            },
            segmentation: parsed.segmentation,
            loop_filter_deltas: parsed.loop_filter_deltas,
        })
    }
}

/// Parses a non-empty frame's header and modes as a decoder with context `context` would.
pub(crate) fn parse_frame<'a>(
    context: &FrameContext,
    data: &'a [u8],
) -> Result<ParsedFrame<'a>, DecodeError> {
    let tag = header::parse_tag(data)?;
    let size = match (tag.keyframe_size, context.size) {
        (Some(k), _) => FrameSize {
            width: k.width,
            height: k.height,
            horizontal_scale: k.horizontal_scale,
            vertical_scale: k.vertical_scale,
        },
        (None, Some(size)) => size,
        (None, None) => return Err(DecodeError::NoKeyframe),
    };

    let first_start = tag.header_len();
    let first_end = first_start + tag.first_partition_size;
    if first_end > data.len() {
        return Err(DecodeError::Truncated {
            what: "first partition",
            needed: first_end,
            available: data.len(),
        });
    }
    let mut bd = BoolDecoder::new(&data[first_start..first_end]);

    // Keyframes restore every default (RFC 6386 §9.11); otherwise start from the state.
    let (start_probs, mut segmentation, mut lf_deltas) = if tag.key_frame {
        (
            EntropyProbabilities::default(),
            Segmentation {
                map: context.segmentation.map.clone(),
                ..Default::default()
            },
            LoopFilterDeltas::default(),
        )
    } else {
        (
            context.probabilities.clone(),
            context.segmentation.clone(),
            context.loop_filter_deltas,
        )
    };
    let header = header::parse_header(tag, &mut bd, &start_probs)?;
    let partitions = split_partitions(data, first_end, header.partition_count)?;

    let mut probs = start_probs.clone();
    probs.coefficients = header.coefficient_probs;
    probs.motion_vectors = header.mv_probs;
    if let Some(p) = header.y_mode_probs {
        probs.y_mode = p;
    }
    if let Some(p) = header.uv_mode_probs {
        probs.uv_mode = p;
    }
    if let Some(data) = header.segmentation.update_data {
        segmentation.absolute_values = data.absolute_values;
        segmentation.quantizer = data.quantizer;
        segmentation.loop_filter_level = data.loop_filter_level;
    }
    for (delta, update) in lf_deltas
        .reference_frame
        .iter_mut()
        .zip(header.loop_filter_deltas.reference_frame)
        .chain(
            lf_deltas
                .mode
                .iter_mut()
                .zip(header.loop_filter_deltas.mode),
        )
    {
        if let Some(value) = update {
            *delta = value;
        }
    }

    let mb_cols = (size.width as usize).div_ceil(16);
    let mb_rows = (size.height as usize).div_ceil(16);
    let mut segment_map: Vec<u8> = if segmentation.map.len() == mb_cols * mb_rows {
        (*segmentation.map).clone()
    } else {
        vec![0; mb_cols * mb_rows]
    };
    let mode_map = modes::read_modes(
        &mut bd,
        &header,
        mb_cols,
        mb_rows,
        &mut segment_map,
        &probs.y_mode,
        &probs.uv_mode,
        OVERRUN_TOLERANCE,
    )?;
    segmentation.map = Arc::new(segment_map);
    // A valid first partition holds every macroblock's modes; zeros read far past its end
    // mean the frame was cut short or its size field is corrupt.
    if bd.bits_past_end() > OVERRUN_TOLERANCE {
        return Err(DecodeError::Truncated {
            what: "first partition (macroblock modes)",
            needed: tag.first_partition_size + bd.bits_past_end().div_ceil(8),
            available: tag.first_partition_size,
        });
    }
    Ok(ParsedFrame {
        size,
        header,
        start_probs,
        probs,
        segmentation,
        loop_filter_deltas: lf_deltas,
        modes: mode_map,
        partitions,
    })
}

/// Decodes a non-empty frame; returns the new state, the reconstructed picture (shown or
/// not) and whether the frame is shown.
pub(crate) fn decode_frame(
    state: &DecoderState,
    data: &[u8],
) -> Result<(DecoderState, Arc<Picture>, bool), DecodeError> {
    let parsed = parse_frame(&FrameContext::of(state), data)?;
    // Only now, with every mode read, is the picture worth allocating.
    let mut frame = Picture::new(parsed.size.width as usize, parsed.size.height as usize);
    let references = state.frame.as_ref().map(|f| &f.references);
    let skip_inner = reconstruct_frame(
        &mut frame,
        &parsed.header,
        &parsed.modes,
        &parsed.partitions,
        &parsed.segmentation,
        references,
        &parsed.probs,
    )?;
    Ok(finish_frame(state, parsed, frame, &skip_inner))
}

/// Loop-filters a reconstructed frame and returns the state after it, the picture and
/// whether it is shown. `skip_inner` says, per macroblock, whether the filter skips its
/// inner edges (no coefficients and a mode with Y2).
pub(crate) fn finish_frame(
    state: &DecoderState,
    parsed: ParsedFrame<'_>,
    mut frame: Picture,
    skip_inner: &[bool],
) -> (DecoderState, Arc<Picture>, bool) {
    let ParsedFrame {
        size,
        header,
        start_probs,
        probs,
        segmentation,
        loop_filter_deltas: lf_deltas,
        modes: mode_map,
        partitions: _,
    } = parsed;
    if header.loop_filter_level != 0 {
        let levels = filter_levels(&header, &mode_map, &segmentation, &lf_deltas);
        loop_filter::filter_frame(&mut frame, &header, &levels, skip_inner);
    }

    let frame = Arc::new(frame);
    let references = state.frame.as_ref().map(|f| &f.references);
    let references = update_references(&header, references, &frame);
    let next = DecoderState {
        frame: Some(FrameState { size, references }),
        probabilities: if header.refresh_entropy_probs {
            probs
        } else {
            start_probs
        },
        segmentation,
        loop_filter_deltas: lf_deltas,
    };
    (next, frame, header.tag.show_frame)
}

/// Splits the data after the first partition into the token partitions (RFC 6386 §9.5).
fn split_partitions(
    data: &[u8],
    first_end: usize,
    count: usize,
) -> Result<Vec<&[u8]>, DecodeError> {
    let sizes_len = 3 * (count - 1);
    let mut start = first_end + sizes_len;
    if start > data.len() {
        return Err(DecodeError::Truncated {
            what: "partition sizes",
            needed: start,
            available: data.len(),
        });
    }
    let mut partitions = Vec::with_capacity(count);
    for i in 0..count {
        let end = if i + 1 < count {
            let s = &data[first_end + 3 * i..];
            let size = u32::from_le_bytes([s[0], s[1], s[2], 0]) as usize;
            start + size
        } else {
            data.len()
        };
        if end > data.len() {
            return Err(DecodeError::Truncated {
                what: "token partition",
                needed: end,
                available: data.len(),
            });
        }
        partitions.push(&data[start..end]);
        start = end;
    }
    Ok(partitions)
}

/// The dequantization factors of each segment (all four equal without segmentation).
pub(crate) fn segment_factors(
    header: &FrameHeader,
    segmentation: &Segmentation,
) -> [DequantFactors; 4] {
    core::array::from_fn(|s| {
        let base = header.quant.y_ac as i32;
        let q = if !header.segmentation.enabled {
            base
        } else if segmentation.absolute_values {
            segmentation.quantizer[s] as i32
        } else {
            base + segmentation.quantizer[s] as i32
        };
        DequantFactors::new(q, &header.quant)
    })
}

/// Decodes residuals and reconstructs every macroblock. Returns, per macroblock, whether
/// the loop filter skips its inner edges (no coefficients and a mode with Y2).
fn reconstruct_frame(
    frame: &mut Picture,
    header: &FrameHeader,
    mode_map: &ModeMap,
    partitions: &[&[u8]],
    segmentation: &Segmentation,
    references: Option<&References>,
    probs: &EntropyProbabilities,
) -> Result<Vec<bool>, DecodeError> {
    let (mb_cols, mb_rows) = (mode_map.mb_cols, mode_map.mb_rows);
    let segment_factors = segment_factors(header, segmentation);
    let interp = InterpolationMode::for_version(header.tag.version);
    let mut decoders: Vec<BoolDecoder<'_>> =
        partitions.iter().map(|p| BoolDecoder::new(p)).collect();
    let mut above_ctx: Vec<EdgeContext> = vec![[false; 9]; mb_cols];
    let mut coeffs = MacroblockCoefficients::default();
    let mut ws = MacroblockWorkspace::default();
    let mut skip_inner = vec![false; mb_cols * mb_rows];

    for row in 0..mb_rows {
        let bd = &mut decoders[row % partitions.len()];
        let mut left_ctx: EdgeContext = [false; 9];
        for col in 0..mb_cols {
            let info = mode_map.get(row, col);
            let has_y2 = info.luma_mode.has_y2();
            coeffs.clear();
            if info.skip_coeff {
                tokens::skip_macroblock(has_y2, &mut above_ctx[col], &mut left_ctx);
            } else {
                let factors = &segment_factors[info.segment_id as usize];
                tokens::read_macroblock(
                    bd,
                    &probs.coefficients,
                    has_y2,
                    factors,
                    &mut above_ctx[col],
                    &mut left_ctx,
                    &mut coeffs,
                );
                if has_y2 && coeffs.any_nonzero {
                    distribute_y2(&mut coeffs);
                }
            }
            skip_inner[row * mb_cols + col] = has_y2 && !coeffs.any_nonzero;

            match info.ref_frame {
                RefFrame::Intra => {
                    reconstruct::intra_macroblock(frame, &mut ws, info, &coeffs, row, col)
                }
                rf => {
                    let refs = references.ok_or(DecodeError::NoKeyframe)?;
                    let reference = match rf {
                        RefFrame::Last => &refs.last,
                        RefFrame::Golden => &refs.golden,
                        _ => &refs.altref,
                    };
                    reconstruct::inter_macroblock(
                        frame, reference, &mut ws, info, &coeffs, row, col, interp,
                    );
                }
            }
        }
    }
    check_partitions(&decoders, partitions)?;
    Ok(skip_inner)
}

/// A token partition read far past its end: the frame was cut short or a size is corrupt.
fn check_partitions(decoders: &[BoolDecoder<'_>], partitions: &[&[u8]]) -> Result<(), DecodeError> {
    match decoders
        .iter()
        .enumerate()
        .find(|(_, bd)| bd.bits_past_end() > OVERRUN_TOLERANCE)
    {
        Some((i, bd)) => Err(DecodeError::TruncatedPartition {
            partition: i,
            needed: partitions[i].len() + bd.bits_past_end().div_ceil(8),
            available: partitions[i].len(),
        }),
        None => Ok(()),
    }
}

/// Every macroblock's quantized coefficient levels as the frame codes them (16 luma blocks,
/// 4 U, 4 V, then Y2, each in raster order; zeros where the macroblock skips its residual),
/// read from its token partitions without reconstructing anything.
pub(crate) fn read_levels(parsed: &ParsedFrame<'_>) -> Result<Vec<[[i16; 16]; 25]>, DecodeError> {
    let (mb_cols, mb_rows) = (parsed.modes.mb_cols, parsed.modes.mb_rows);
    // Unit factors: the tokens' values are the levels themselves.
    let unit = DequantFactors {
        y: [1, 1],
        y2: [1, 1],
        uv: [1, 1],
    };
    let partitions = &parsed.partitions;
    let mut decoders: Vec<BoolDecoder<'_>> =
        partitions.iter().map(|p| BoolDecoder::new(p)).collect();
    let mut above_ctx: Vec<EdgeContext> = vec![[false; 9]; mb_cols];
    let mut coeffs = MacroblockCoefficients::default();
    let mut levels = Vec::with_capacity(mb_cols * mb_rows);
    for row in 0..mb_rows {
        let bd = &mut decoders[row % partitions.len()];
        let mut left_ctx: EdgeContext = [false; 9];
        for (col, above) in above_ctx.iter_mut().enumerate() {
            let info = parsed.modes.get(row, col);
            let has_y2 = info.luma_mode.has_y2();
            coeffs.clear();
            if info.skip_coeff {
                tokens::skip_macroblock(has_y2, above, &mut left_ctx);
            } else {
                tokens::read_macroblock(
                    bd,
                    &parsed.probs.coefficients,
                    has_y2,
                    &unit,
                    above,
                    &mut left_ctx,
                    &mut coeffs,
                );
            }
            levels.push(coeffs.blocks);
        }
    }
    check_partitions(&decoders, partitions)?;
    Ok(levels)
}

/// Inverse-WHT of the Y2 block, whose outputs become the luma blocks' DC (RFC 6386 §14.3).
pub(crate) fn distribute_y2(coeffs: &mut MacroblockCoefficients) {
    let dc = if coeffs.has_ac[24] {
        transform::inverse_wht(&coeffs.blocks[24])
    } else {
        // Only a DC: every output is the same, (dc + 3) >> 3.
        [((coeffs.blocks[24][0] as i32 + 3) >> 3) as i16; 16]
    };
    for (block, &value) in coeffs.blocks[..16].iter_mut().zip(&dc) {
        block[0] = value;
    }
}

/// The loop-filter level of every macroblock (RFC 6386 §9.3, §9.6, §15.1).
pub(crate) fn filter_levels(
    header: &FrameHeader,
    mode_map: &ModeMap,
    segmentation: &Segmentation,
    deltas: &LoopFilterDeltas,
) -> Vec<u8> {
    let mut levels = Vec::with_capacity(mode_map.mb_cols * mode_map.mb_rows);
    for row in 0..mode_map.mb_rows {
        for col in 0..mode_map.mb_cols {
            let info = mode_map.get(row, col);
            let mut level = header.loop_filter_level as i32;
            if header.segmentation.enabled {
                let value = segmentation.loop_filter_level[info.segment_id as usize] as i32;
                level = if segmentation.absolute_values {
                    value
                } else {
                    level + value
                };
                level = level.clamp(0, 63);
            }
            if header.loop_filter_deltas.enabled {
                level += deltas.reference_frame[info.ref_frame as usize] as i32;
                let mode_delta = match info.luma_mode {
                    LumaMode::BPred => Some(0),
                    LumaMode::Zero => Some(1),
                    LumaMode::Split => Some(3),
                    LumaMode::Nearest | LumaMode::Near | LumaMode::New => Some(2),
                    _ => None,
                };
                if let Some(i) = mode_delta {
                    level += deltas.mode[i] as i32;
                }
                level = level.clamp(0, 63);
            }
            levels.push(level as u8);
        }
    }
    levels
}

/// The references after this frame: copies first (altref, then golden, as libvpx orders
/// them), then refreshes with the new picture (RFC 6386 §9.7–9.8).
fn update_references(
    header: &FrameHeader,
    before: Option<&References>,
    frame: &Arc<Picture>,
) -> References {
    let Some(before) = before.filter(|_| !header.is_key_frame()) else {
        return References {
            last: frame.clone(),
            golden: frame.clone(),
            altref: frame.clone(),
        };
    };
    let mut refs = before.clone();
    match header.copy_to_altref {
        BufferCopy::FromLast => refs.altref = refs.last.clone(),
        BufferCopy::FromOther => refs.altref = refs.golden.clone(),
        BufferCopy::None => {}
    }
    match header.copy_to_golden {
        BufferCopy::FromLast => refs.golden = refs.last.clone(),
        BufferCopy::FromOther => refs.golden = refs.altref.clone(),
        BufferCopy::None => {}
    }
    if header.refresh_golden {
        refs.golden = frame.clone();
    }
    if header.refresh_altref {
        refs.altref = frame.clone();
    }
    if header.refresh_last {
        refs.last = frame.clone();
    }
    refs
}
