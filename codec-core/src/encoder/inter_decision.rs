//! Inter mode decision: for each distinct reference picture, the neighbours' vectors
//! (NEAREST, NEAR, ZERO) and a searched NEWMV, each predicted exactly as the decoder will,
//! coded, and priced by rate-distortion cost (RFC 6386 §16, §18).

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::encoder::bool_encoder::{BitCounter, EntropyWriter};
use crate::encoder::frame::probability;
use crate::encoder::macroblock::{self, RdWeight, SkipCosts, SourceBlock};
use crate::encoder::mode_writer::{MvCostTable, sub_mv_label};
use crate::encoder::motion_search::{self, SearchBounds, SearchConfig, VectorCost};
use crate::encoder::quantize::MacroblockQuantizer;
use crate::encoder::token_writer::TokenCostTable;
use crate::modes::{self, LumaMode, MacroblockInfo, ModeMap, MotionVector, MvBounds, RefFrame};
use crate::picture::Picture;
use crate::reconstruct::{self, InterpolationMode, MacroblockWorkspace};
use crate::tables;
use crate::tokens::EdgeContext;

/// Costs of the reference-frame flags while deciding, in 1/256 bit; the real probabilities
/// are measured from the decisions afterwards.
#[derive(Clone, Copy, Debug)]
pub struct ReferenceCosts {
    pub intra: u32,
    pub last: u32,
    pub golden: u32,
    pub altref: u32,
}

impl ReferenceCosts {
    pub fn estimate(prob_intra: u8, prob_last: u8, prob_golden: u8) -> Self {
        let bit = |b, p| crate::encoder::bool_encoder::bit_cost(b, p);
        ReferenceCosts {
            intra: bit(false, prob_intra),
            last: bit(true, prob_intra) + bit(false, prob_last),
            golden: bit(true, prob_intra) + bit(true, prob_last) + bit(false, prob_golden),
            altref: bit(true, prob_intra) + bit(true, prob_last) + bit(true, prob_golden),
        }
    }

    /// The costs at the probabilities that `counts` of macroblocks so far (intra, last,
    /// golden, altref) call for, after [`REFERENCE_PRIOR`] macroblocks assumed.
    pub fn from_counts(counts: [usize; 4]) -> Self {
        let [intra, last, golden, altref] =
            core::array::from_fn(|i| counts[i] + REFERENCE_PRIOR[i]);
        ReferenceCosts::estimate(
            probability(intra, last + golden + altref),
            probability(last, golden + altref),
            probability(golden, altref),
        )
    }

    pub fn of(&self, reference: RefFrame) -> u32 {
        match reference {
            RefFrame::Intra => self.intra,
            RefFrame::Last => self.last,
            RefFrame::Golden => self.golden,
            RefFrame::AltRef => self.altref,
        }
    }
}

/// Macroblocks (intra, last, golden, altref) assumed before a frame's first, so that the
/// first decisions see about what an ordinary interframe's flags cost: one in eight intra,
/// three in four of the rest from last.
pub const REFERENCE_PRIOR: [usize; 4] = [4, 21, 4, 3];

/// What the frame encoder provides for inter decisions.
pub struct InterContext<'a> {
    pub source: &'a Picture,
    /// The distinct reference pictures this frame may use.
    pub references: &'a [(RefFrame, Arc<Picture>)],
    pub quant: &'a MacroblockQuantizer,
    pub costs: &'a TokenCostTable,
    pub mv_costs: &'a MvCostTable,
    pub rd: RdWeight,
    /// The reference flags' costs where the macroblock is decided.
    pub reference_costs: ReferenceCosts,
    pub sign_bias: [bool; 4],
    pub interp: InterpolationMode,
    pub search: SearchConfig,
    /// How many candidate predictions, ranked by prediction error, are fully coded.
    pub full_tries: usize,
    /// SPLITMV partitionings tried (`tables::MV_TOP_BOTTOM` ..= `tables::MV_4X4`).
    pub split_partitionings: &'a [u8],
    /// Search for a new vector in every reference, or only in the last frame (faster;
    /// golden and altref then offer their neighbours' vectors).
    pub search_all_references: bool,
    /// Where golden and altref get no full search: a short one around their predicted
    /// vectors, if any.
    pub light_search: Option<SearchConfig>,
    /// The skip flag's costs where the macroblock is decided.
    pub skip: SkipCosts,
}

/// The best inter coding found for one macroblock.
pub struct InterChoice {
    pub info: MacroblockInfo,
    /// Rate-distortion cost including the mode and vector bits.
    pub cost: u64,
}

struct NewMvCost<'a> {
    table: &'a MvCostTable,
    best: MotionVector,
}

impl VectorCost for NewMvCost<'_> {
    fn cost(&self, mv: MotionVector) -> u32 {
        self.table.cost(MotionVector {
            row: mv.row.wrapping_sub(self.best.row),
            col: mv.col.wrapping_sub(self.best.col),
        })
    }
}

fn mode_cost(near: &modes::NearMvs, mode: LumaMode) -> u32 {
    let mut c = BitCounter::default();
    c.put_tree(&tables::MV_REF_TREE, &near.mode_probs, mode.inter_leaf());
    c.cost
}

/// Codes the macroblock predicted with `info` (a non-split inter mode) and returns the
/// rate-distortion cost of its residual, excluding mode bits.
#[allow(clippy::too_many_arguments)]
fn code_prediction(
    ctx: &InterContext<'_>,
    reference: &Picture,
    ws: &mut MacroblockWorkspace,
    info: &MacroblockInfo,
    row: usize,
    col: usize,
    above: &EdgeContext,
    left: &EdgeContext,
) -> u64 {
    reconstruct::predict_inter(reference, ws, info, row, col, ctx.interp);
    let (y, u, v) = source_blocks(ctx.source, row, col);
    let (mut a, mut l) = (*above, *left);
    let luma = macroblock::code_luma_with_y2(
        &y,
        &mut ws.luma,
        ctx.quant,
        ctx.costs,
        ctx.rd,
        &mut a,
        &mut l,
    );
    let cu = macroblock::code_chroma(
        &u, &mut ws.u, 0, ctx.quant, ctx.costs, ctx.rd, &mut a, &mut l,
    );
    let cv = macroblock::code_chroma(
        &v, &mut ws.v, 1, ctx.quant, ctx.costs, ctx.rd, &mut a, &mut l,
    );
    let nonzero = luma.nonzero || cu.nonzero || cv.nonzero;
    ctx.rd.cost(
        luma.sse + cu.sse + cv.sse,
        ctx.skip.rate(nonzero, luma.rate + cu.rate + cv.rate),
    )
}

fn inter_info(reference: RefFrame, mode: LumaMode, mv: MotionVector) -> MacroblockInfo {
    MacroblockInfo {
        luma_mode: mode,
        ref_frame: reference,
        mv,
        mvs: [mv; 16],
        ..Default::default()
    }
}

/// Luma plus chroma error of the prediction in the workspace.
fn prediction_sse(source: &Picture, ws: &MacroblockWorkspace, row: usize, col: usize) -> u64 {
    let (y, u, v) = source_blocks(source, row, col);
    macroblock::prediction_sse(&y, &ws.luma, 16)
        + macroblock::prediction_sse(&u, &ws.u, 8)
        + macroblock::prediction_sse(&v, &ws.v, 8)
}

/// Best inter coding of macroblock (row, col), or `None` if no reference exists.
#[allow(clippy::too_many_arguments)]
pub fn decide(
    ctx: &InterContext<'_>,
    ws: &mut MacroblockWorkspace,
    map: &ModeMap,
    row: usize,
    col: usize,
    above: &EdgeContext,
    left: &EdgeContext,
) -> Option<InterChoice> {
    let mut best: Option<InterChoice> = None;
    let bounds = MvBounds::new(map, row, col);
    for (reference, picture) in ctx.references {
        let near = modes::find_near_mvs(map, row, col, *reference, &ctx.sign_bias);
        let ref_cost = ctx.reference_costs.of(*reference);

        // NEWMV: search around the predicted vectors.
        let search_bounds = new_vector_bounds(&bounds, near.best);
        let starts = [near.best, near.nearest, near.near, MotionVector::ZERO];
        let config = if ctx.search_all_references || *reference == RefFrame::Last {
            Some(&ctx.search)
        } else {
            ctx.light_search.as_ref()
        };
        let searched = config.map(|config| {
            motion_search::search(
                &ctx.source.y,
                &picture.y,
                col * 16,
                row * 16,
                16,
                16,
                &starts,
                &search_bounds,
                &NewMvCost {
                    table: ctx.mv_costs,
                    best: near.best,
                },
                ctx.rd.lambda as u32,
                config,
            )
        });

        // Rank every (mode, vector) by prediction error plus its rate; each distinct vector's
        // prediction is made once.
        let candidates: [(LumaMode, MotionVector); 4] = [
            (LumaMode::Zero, MotionVector::ZERO),
            (LumaMode::Nearest, near.nearest),
            (LumaMode::Near, near.near),
            (LumaMode::New, searched.map_or(MotionVector::ZERO, |f| f.mv)),
        ];
        let mut ranked: Vec<(u64, LumaMode, MotionVector, u32)> = Vec::with_capacity(4);
        let mut predicted: Vec<(MotionVector, u64)> = Vec::with_capacity(4);
        for (mode, mv) in candidates {
            // NEWMV naming a vector another mode gives for free is never worth it.
            if mode == LumaMode::New
                && (searched.is_none()
                    || [MotionVector::ZERO, near.nearest, near.near].contains(&mv))
            {
                continue;
            }
            let mut rate = mode_cost(&near, mode) + ref_cost;
            if mode == LumaMode::New {
                rate += ctx.mv_costs.cost(MotionVector {
                    row: mv.row.wrapping_sub(near.best.row),
                    col: mv.col.wrapping_sub(near.best.col),
                });
            }
            let sse = match predicted.iter().find(|(v, _)| *v == mv) {
                Some(&(_, sse)) => sse,
                None => {
                    let info = inter_info(*reference, LumaMode::Zero, mv);
                    reconstruct::predict_inter(picture, ws, &info, row, col, ctx.interp);
                    let sse = prediction_sse(ctx.source, ws, row, col);
                    predicted.push((mv, sse));
                    sse
                }
            };
            ranked.push((ctx.rd.cost(sse, rate), mode, mv, rate));
        }
        ranked.sort_by_key(|r| r.0);
        for &(_, mode, mv, rate) in ranked.iter().take(ctx.full_tries) {
            let info = inter_info(*reference, mode, mv);
            let cost = code_prediction(ctx, picture, ws, &info, row, col, above, left);
            let total = cost + ctx.rd.lambda * rate as u64;
            if best.as_ref().is_none_or(|b| total < b.cost) {
                best = Some(InterChoice { info, cost: total });
            }
        }
    }
    // SPLITMV on the reference the whole-block search liked best.
    if let Some(whole) = best
        .as_ref()
        .filter(|_| !ctx.split_partitionings.is_empty())
    {
        let reference = whole.info.ref_frame;
        let whole_mv = whole.info.mv;
        let picture = &ctx.references.iter().find(|(k, _)| *k == reference)?.1;
        for &partitioning in ctx.split_partitionings {
            let split = decide_split(
                ctx,
                ws,
                map,
                row,
                col,
                above,
                left,
                reference,
                picture,
                partitioning,
                whole_mv,
            );
            if let Some(split) = split.filter(|s| best.as_ref().is_none_or(|b| s.cost < b.cost)) {
                best = Some(split);
            }
        }
    }
    best
}

/// Where a new vector may point: within one macroblock of the frame (the decoder's
/// clamping zone, as libvpx's encoder keeps to) and within the largest delta from `best`
/// that can be coded (1023 quarter samples, RFC 6386 §17.1).
fn new_vector_bounds(bounds: &MvBounds, best: MotionVector) -> SearchBounds {
    let limit = |center: i16, lo: i32, hi: i32| {
        (
            (center as i32 - 1023).max(lo),
            (center as i32 + 1023).min(hi),
        )
    };
    let (min_row, max_row) = limit(best.row, bounds.to_top, bounds.to_bottom);
    let (min_col, max_col) = limit(best.col, bounds.to_left, bounds.to_right);
    SearchBounds {
        min_row,
        max_row,
        min_col,
        max_col,
    }
}

/// Sizes (width, height) of each partitioning's pieces.
const PIECE_SIZE: [(usize, usize); 4] = [(16, 8), (8, 16), (8, 8), (4, 4)];

/// SPLITMV with one partitioning: a vector searched per piece, each labelled as the writer
/// will label it (left, above, zero or new), priced and coded (RFC 6386 §16.4).
#[allow(clippy::too_many_arguments)]
fn decide_split(
    ctx: &InterContext<'_>,
    ws: &mut MacroblockWorkspace,
    map: &ModeMap,
    row: usize,
    col: usize,
    above: &EdgeContext,
    left: &EdgeContext,
    reference: RefFrame,
    picture: &Picture,
    partitioning: u8,
    whole_mv: MotionVector,
) -> Option<InterChoice> {
    let near = modes::find_near_mvs(map, row, col, reference, &ctx.sign_bias);
    let above_mb = map.get(row.wrapping_sub(1), col);
    let left_mb = map.get(row, col.wrapping_sub(1));
    let layout = &tables::MV_PARTITIONS[partitioning as usize];
    let (w, h) = PIECE_SIZE[partitioning as usize];
    let search_bounds = new_vector_bounds(&MvBounds::new(map, row, col), near.best);
    let search = SearchConfig {
        range: ctx.search.range.min(8),
        ..ctx.search
    };

    let mut mvs = [MotionVector::ZERO; 16];
    let mut counter = BitCounter::default();
    counter.put_tree(
        &tables::MV_REF_TREE,
        &near.mode_probs,
        LumaMode::Split.inter_leaf(),
    );
    counter.put_tree(
        &tables::MV_PARTITION_TREE,
        &tables::MV_PARTITION_PROBS,
        partitioning,
    );
    let mut rate = counter.cost + ctx.reference_costs.of(reference);
    for piece in 0..tables::MV_PARTITION_COUNTS[partitioning as usize] {
        let first = layout.iter().position(|&p| p as usize == piece)?;
        let (px, py) = ((first & 3) * 4, (first >> 2) * 4);
        let (left_mv, above_mv) = modes::split_neighbours(above_mb, left_mb, &mvs, first);
        let found = motion_search::search(
            &ctx.source.y,
            &picture.y,
            col * 16 + px,
            row * 16 + py,
            w,
            h,
            &[whole_mv, left_mv, above_mv, near.best],
            &search_bounds,
            &NewMvCost {
                table: ctx.mv_costs,
                best: near.best,
            },
            ctx.rd.lambda as u32,
            &search,
        );
        // The label the writer will give this vector, and its price.
        let mv = found.mv;
        let label = sub_mv_label(mv, left_mv, above_mv);
        let mut c = BitCounter::default();
        let context = modes::split_context(left_mv, above_mv);
        c.put_tree(
            &tables::SUB_MV_REF_TREE,
            &tables::SUB_MV_REF_PROBS[context],
            label,
        );
        rate += c.cost;
        if label == tables::NEW4X4 {
            rate += ctx.mv_costs.cost(MotionVector {
                row: mv.row.wrapping_sub(near.best.row),
                col: mv.col.wrapping_sub(near.best.col),
            });
        }
        for (b, &p) in layout.iter().enumerate() {
            if p as usize == piece {
                mvs[b] = mv;
            }
        }
    }
    let info = MacroblockInfo {
        luma_mode: LumaMode::Split,
        ref_frame: reference,
        mv: mvs[15],
        mvs,
        partitioning,
        ..Default::default()
    };
    reconstruct::predict_inter(picture, ws, &info, row, col, ctx.interp);
    let (y, u, v) = source_blocks(ctx.source, row, col);
    let (mut a, mut l) = (*above, *left);
    let (q, costs, rd) = (ctx.quant, ctx.costs, ctx.rd);
    let luma = macroblock::code_luma_without_y2(&y, &mut ws.luma, q, costs, rd, &mut a, &mut l);
    let cu = macroblock::code_chroma(&u, &mut ws.u, 0, q, costs, rd, &mut a, &mut l);
    let cv = macroblock::code_chroma(&v, &mut ws.v, 1, q, costs, rd, &mut a, &mut l);
    let nonzero = luma.nonzero || cu.nonzero || cv.nonzero;
    let cost = rd.cost(
        luma.sse + cu.sse + cv.sse,
        ctx.skip.rate(nonzero, luma.rate + cu.rate + cv.rate) + rate,
    );
    Some(InterChoice { info, cost })
}

/// The macroblock's luma, U and V blocks in the source.
pub(crate) fn source_blocks(
    source: &Picture,
    row: usize,
    col: usize,
) -> (SourceBlock<'_>, SourceBlock<'_>, SourceBlock<'_>) {
    fn block(
        plane: &crate::picture::Plane,
        row: usize,
        col: usize,
        size: usize,
    ) -> SourceBlock<'_> {
        SourceBlock {
            data: &plane.data,
            pos: row * size * plane.stride + col * size,
            stride: plane.stride,
        }
    }
    (
        block(&source.y, row, col, 16),
        block(&source.u, row, col, 8),
        block(&source.v, row, col, 8),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_costs_follow_the_frame_so_far() {
        let start = ReferenceCosts::from_counts([0; 4]);
        assert!(start.last < start.golden && start.last < start.altref && start.last < start.intra);
        // A frame whose macroblocks so far mostly chose the altref frame.
        let altref = ReferenceCosts::from_counts([2, 20, 3, 200]);
        assert!(altref.altref < altref.last && altref.altref < start.altref);
        let intra = ReferenceCosts::from_counts([300, 10, 0, 0]);
        assert!(intra.intra < intra.last && intra.intra < 128);
    }
}
