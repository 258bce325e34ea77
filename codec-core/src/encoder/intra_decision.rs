//! Intra mode decision: 16x16 luma modes, B_PRED with its ten subblock modes, and chroma
//! modes, each priced by rate-distortion cost with real token and mode costs
//! (RFC 6386 §11, §12, §16.1).

use crate::encoder::bool_encoder::{BitCounter, EntropyWriter};
use crate::encoder::macroblock::{
    self, RdWeight, SourceBlock, TYPE_Y_WITH_DC, block_sse, code_block,
};
use crate::encoder::quantize::MacroblockQuantizer;
use crate::encoder::token_writer::TokenCostTable;
use crate::intra::{self, WS_ORIGIN, WS_STRIDE, Workspace};
use crate::modes::{self, LumaMode, ModeMap};
use crate::picture::Picture;
use crate::reconstruct::load_edges;
use crate::tables;
use crate::tokens::EdgeContext;

/// Costs of intra modes for one frame, in 1/256 bit: keyframes use fixed tables and B_PRED
/// contexts, interframes the frame's probabilities.
pub struct ModeCosts {
    luma: [u32; 5],
    chroma: [u32; 4],
    /// `[above][left][mode]`; interframes have no context, so every row is the same.
    subblock: [[[u32; 10]; 10]; 10],
}

fn tree_costs<const N: usize>(tree: &[i8], probs: &[u8]) -> [u32; N] {
    core::array::from_fn(|leaf| {
        let mut c = BitCounter::default();
        c.put_tree(tree, probs, leaf as u8);
        c.cost
    })
}

impl ModeCosts {
    pub fn keyframe() -> Self {
        ModeCosts {
            luma: tree_costs(&tables::KF_YMODE_TREE, &tables::KF_YMODE_PROBS),
            chroma: tree_costs(&tables::UV_MODE_TREE, &tables::KF_UV_MODE_PROBS),
            subblock: core::array::from_fn(|a| {
                core::array::from_fn(|l| {
                    tree_costs(&tables::BMODE_TREE, &tables::KF_BMODE_PROBS[a][l])
                })
            }),
        }
    }

    pub fn interframe(y_mode: &[u8; 4], uv_mode: &[u8; 3]) -> Self {
        let subblock = tree_costs(&tables::BMODE_TREE, &tables::BMODE_PROBS);
        ModeCosts {
            luma: tree_costs(&tables::YMODE_TREE, y_mode),
            chroma: tree_costs(&tables::UV_MODE_TREE, uv_mode),
            subblock: [[subblock; 10]; 10],
        }
    }

    fn luma(&self, mode: LumaMode) -> u32 {
        self.luma[mode.intra_leaf() as usize]
    }

    fn chroma(&self, mode: u8) -> u32 {
        self.chroma[mode as usize]
    }

    fn subblock(&self, above: u8, left: u8, mode: u8) -> u32 {
        self.subblock[above as usize][left as usize][mode as usize]
    }
}

/// Everything the frame encoder needs to price and code intra macroblocks.
pub struct IntraContext<'a> {
    pub source: &'a Picture,
    pub quant: &'a MacroblockQuantizer,
    pub costs: &'a TokenCostTable,
    pub rd: RdWeight,
    pub mode_costs: ModeCosts,
    /// Try every subblock mode (slow speeds) or the six most useful ones.
    pub exhaustive: bool,
    /// How many whole-block luma modes, ranked by prediction error, are fully coded.
    pub whole_block_tries: usize,
}

/// The chosen luma coding of an intra macroblock.
pub struct IntraLuma {
    pub mode: LumaMode,
    pub subblock_modes: [u8; 16],
    /// Rate-distortion cost including the mode bits.
    pub cost: u64,
    /// The residual's token rate within `cost`, and whether it has a nonzero level.
    pub tokens: u32,
    pub nonzero: bool,
}

/// The chosen chroma coding.
pub struct IntraChroma {
    pub mode: u8,
    /// Rate-distortion cost including the mode bits.
    pub cost: u64,
    /// The residual's token rate within `cost`, and whether it has a nonzero level.
    pub tokens: u32,
    pub nonzero: bool,
}

fn luma_source<'a>(source: &'a Picture, row: usize, col: usize) -> SourceBlock<'a> {
    SourceBlock {
        data: &source.y.data,
        pos: row * 16 * source.y.stride + col * 16,
        stride: source.y.stride,
    }
}

/// Best 16x16 or B_PRED luma coding for macroblock (row, col) given the reconstruction so far.
#[allow(clippy::too_many_arguments)]
pub fn decide_luma(
    ctx: &IntraContext<'_>,
    recon: &Picture,
    map: &ModeMap,
    row: usize,
    col: usize,
    above: &EdgeContext,
    left: &EdgeContext,
    allow_bpred: bool,
) -> IntraLuma {
    let src = luma_source(ctx.source, row, col);
    let mut edges: Workspace = [0; intra::WS_LEN];
    load_edges(&mut edges, &recon.y, row, col, 16);

    // Rank the whole-block modes by prediction error; code the promising ones.
    let modes = [LumaMode::Dc, LumaMode::V, LumaMode::H, LumaMode::Tm];
    let mut ranked: [(u64, LumaMode); 4] = modes.map(|m| {
        let mut ws = edges;
        intra::predict_block(&mut ws, 16, m, row > 0, col > 0);
        (
            macroblock::prediction_sse(&src, &ws, 16) * 256
                + ctx.rd.lambda * ctx.mode_costs.luma(m) as u64,
            m,
        )
    });
    ranked.sort_by_key(|r| r.0);
    let tries = ctx.whole_block_tries;
    let mut best: Option<IntraLuma> = None;
    for &(_, mode) in &ranked[..tries] {
        let mut ws = edges;
        intra::predict_block(&mut ws, 16, mode, row > 0, col > 0);
        let (mut a, mut l) = (*above, *left);
        let coding = macroblock::code_luma_with_y2(
            &src, &mut ws, ctx.quant, ctx.costs, ctx.rd, &mut a, &mut l,
        );
        let cost = ctx
            .rd
            .cost(coding.sse, coding.rate + ctx.mode_costs.luma(mode));
        if best.as_ref().is_none_or(|b| cost < b.cost) {
            best = Some(IntraLuma {
                mode,
                subblock_modes: [mode.implied_subblock_mode(); 16],
                cost,
                tokens: coding.rate,
                nonzero: coding.nonzero,
            });
        }
    }
    let mut best = best.expect("at least one mode is tried");
    if allow_bpred {
        let bpred = decide_bpred(ctx, &src, &edges, map, row, col, above, left, best.cost);
        if let Some(b) = bpred.filter(|b| b.cost < best.cost) {
            best = b;
        }
    }
    best
}

/// The best mode found so far for one B_PRED subblock, with its reconstruction.
struct SubblockChoice {
    cost: u64,
    mode: u8,
    pixels: [u8; 16],
    nonzero: bool,
    rate: u32,
}

/// B_PRED: each subblock's mode chosen in raster order on the reconstruction of the ones
/// before it. Gives up as soon as the running cost exceeds `budget`.
#[allow(clippy::too_many_arguments)]
fn decide_bpred(
    ctx: &IntraContext<'_>,
    src: &SourceBlock<'_>,
    edges: &Workspace,
    map: &ModeMap,
    row: usize,
    col: usize,
    above: &EdgeContext,
    left: &EdgeContext,
    budget: u64,
) -> Option<IntraLuma> {
    let mut ws = *edges;
    // Subblocks on the right edge below the top row see the macroblock's above-right.
    for r in [4, 8, 12] {
        ws.copy_within(17..21, r * WS_STRIDE + 17);
    }
    let (mut a, mut l) = (*above, *left);
    let mut modes = [tables::B_DC_PRED; 16];
    let (mut tokens, mut nonzero) = (0, false);
    let mut total = ctx.rd.cost(0, ctx.mode_costs.luma(LumaMode::BPred));
    let candidates: &[u8] = if ctx.exhaustive {
        &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    } else {
        &[
            tables::B_DC_PRED,
            tables::B_TM_PRED,
            tables::B_VE_PRED,
            tables::B_HE_PRED,
            tables::B_LD_PRED,
            tables::B_RD_PRED,
        ]
    };
    for b in 0..16 {
        let (bx, by) = (b & 3, b >> 2);
        let pos = WS_ORIGIN + by * 4 * WS_STRIDE + bx * 4;
        let (ctx_above, ctx_left) = modes::keyframe_subblock_context(map, row, col, &modes, b);
        let token_ctx = a[bx] as usize + l[by] as usize;
        let mut best: Option<SubblockChoice> = None;
        for &mode in candidates {
            let mut trial = ws;
            intra::predict_subblock(&mut trial, pos, mode);
            let mut levels = [0i16; 16];
            let (rate, nz) = code_block(
                src,
                bx * 4,
                by * 4,
                &mut trial,
                pos,
                &ctx.quant.y,
                ctx.costs,
                TYPE_Y_WITH_DC,
                token_ctx,
                ctx.rd,
                &mut levels,
            );
            let sse = block_sse(src, bx * 4, by * 4, &trial, pos);
            let mode_rate = ctx.mode_costs.subblock(ctx_above, ctx_left, mode);
            let cost = ctx.rd.cost(sse, rate + mode_rate);
            if best.as_ref().is_none_or(|b| cost < b.cost) {
                let mut pixels = [0u8; 16];
                for y in 0..4 {
                    pixels[y * 4..y * 4 + 4]
                        .copy_from_slice(&trial[pos + y * WS_STRIDE..pos + y * WS_STRIDE + 4]);
                }
                best = Some(SubblockChoice {
                    cost,
                    mode,
                    pixels,
                    nonzero: nz,
                    rate,
                });
            }
        }
        let SubblockChoice {
            cost,
            mode,
            pixels,
            nonzero: nz,
            rate,
        } = best.expect("candidates are tried");
        for y in 0..4 {
            ws[pos + y * WS_STRIDE..pos + y * WS_STRIDE + 4]
                .copy_from_slice(&pixels[y * 4..y * 4 + 4]);
        }
        modes[b] = mode;
        tokens += rate;
        nonzero |= nz;
        a[bx] = nz;
        l[by] = nz;
        total += cost;
        if total >= budget {
            return None;
        }
    }
    Some(IntraLuma {
        mode: LumaMode::BPred,
        subblock_modes: modes,
        cost: total,
        tokens,
        nonzero,
    })
}

/// Best chroma mode for macroblock (row, col).
pub fn decide_chroma(
    ctx: &IntraContext<'_>,
    recon: &Picture,
    row: usize,
    col: usize,
    above: &EdgeContext,
    left: &EdgeContext,
) -> IntraChroma {
    let mut edges_u: Workspace = [0; intra::WS_LEN];
    let mut edges_v: Workspace = [0; intra::WS_LEN];
    load_edges(&mut edges_u, &recon.u, row, col, 8);
    load_edges(&mut edges_v, &recon.v, row, col, 8);
    let src_u = SourceBlock {
        data: &ctx.source.u.data,
        pos: row * 8 * ctx.source.u.stride + col * 8,
        stride: ctx.source.u.stride,
    };
    let src_v = SourceBlock {
        data: &ctx.source.v.data,
        pos: row * 8 * ctx.source.v.stride + col * 8,
        stride: ctx.source.v.stride,
    };
    let mut best: Option<IntraChroma> = None;
    for (mode, luma_mode) in [
        (0u8, LumaMode::Dc),
        (1, LumaMode::V),
        (2, LumaMode::H),
        (3, LumaMode::Tm),
    ] {
        let (mut wu, mut wv) = (edges_u, edges_v);
        intra::predict_block(&mut wu, 8, luma_mode, row > 0, col > 0);
        intra::predict_block(&mut wv, 8, luma_mode, row > 0, col > 0);
        let (mut a, mut l) = (*above, *left);
        let u = macroblock::code_chroma(
            &src_u, &mut wu, 0, ctx.quant, ctx.costs, ctx.rd, &mut a, &mut l,
        );
        let v = macroblock::code_chroma(
            &src_v, &mut wv, 1, ctx.quant, ctx.costs, ctx.rd, &mut a, &mut l,
        );
        let cost = ctx
            .rd
            .cost(u.sse + v.sse, u.rate + v.rate + ctx.mode_costs.chroma(mode));
        if best.as_ref().is_none_or(|b| cost < b.cost) {
            best = Some(IntraChroma {
                mode,
                cost,
                tokens: u.rate + v.rate,
                nonzero: u.nonzero || v.nonzero,
            });
        }
    }
    best.expect("four modes are tried")
}
