//! Coding the residual of one macroblock's predictions, and pricing it: distortion against
//! the source and rate in 1/256 bit, with the same token costs the writer will pay.
//!
//! Every reconstruction here is made with the decoder's own transforms, so the pictures a
//! decision is based on are the pictures a decoder will show.

use crate::encoder::bool_encoder::bit_cost;
use crate::encoder::frame::probability;
use crate::encoder::quantize::{self, BlockQuantizer, MacroblockQuantizer};
use crate::encoder::token_writer::TokenCostTable;
use crate::intra::{WS_ORIGIN, WS_STRIDE, Workspace};
use crate::reconstruct::add_residual;
use crate::tokens::EdgeContext;
use crate::transform;

/// Block types selecting token probabilities (RFC 6386 §13.3).
pub const TYPE_Y_AFTER_Y2: usize = 0;
pub const TYPE_Y2: usize = 1;
pub const TYPE_CHROMA: usize = 2;
pub const TYPE_Y_WITH_DC: usize = 3;

/// Rate-distortion weighting: cost = sse * 256 + lambda * rate (rate in 1/256 bit), i.e.
/// lambda squared-error units per bit.
#[derive(Clone, Copy, Debug)]
pub struct RdWeight {
    pub lambda: u64,
    /// Quantize residuals by rate-distortion cost ([`BlockQuantizer::quantize_rd`]) rather
    /// than with the plain dead zone.
    pub trellis: bool,
}

impl RdWeight {
    #[inline]
    pub fn cost(&self, sse: u64, rate: u32) -> u64 {
        sse * 256 + self.lambda * rate as u64
    }
}

/// What a macroblock's skip flag costs, in 1/256 bit (RFC 6386 §19.3, `mb_skip_coeff`): a
/// macroblock without a nonzero level is sent as the flag alone, with no end-of-block
/// tokens, and any other pays the flag besides its tokens.
#[derive(Clone, Copy, Debug)]
pub struct SkipCosts {
    pub coded: u32,
    pub skipped: u32,
}

impl SkipCosts {
    /// The costs at the skip probability that `coded` and `skipped` macroblocks call for,
    /// each count starting from one so that neither flag is free.
    pub fn from_counts(coded: usize, skipped: usize) -> Self {
        let prob = probability(coded + 1, skipped + 1);
        SkipCosts {
            coded: bit_cost(false, prob),
            skipped: bit_cost(true, prob),
        }
    }

    /// The rate of a macroblock whose residual tokens cost `tokens`.
    #[inline]
    pub fn rate(&self, nonzero: bool, tokens: u32) -> u32 {
        if nonzero {
            tokens + self.coded
        } else {
            self.skipped
        }
    }
}

/// Quantizes one block's coefficients as `rd` asks: by trellis or by the dead zone alone.
#[allow(clippy::too_many_arguments)]
#[inline]
fn quantize(
    quant: &BlockQuantizer,
    coeffs: &[i16; 16],
    first: usize,
    costs: &TokenCostTable,
    block_type: usize,
    ctx: usize,
    rd: RdWeight,
    levels: &mut [i16; 16],
    dequant: &mut [i16; 16],
) -> bool {
    if rd.trellis {
        quant.quantize_rd(
            coeffs, first, costs, block_type, ctx, rd.lambda, levels, dequant,
        )
    } else {
        quant.quantize(coeffs, first, levels, dequant)
    }
}

/// A source block in its plane.
#[derive(Clone, Copy)]
pub struct SourceBlock<'a> {
    pub data: &'a [u8],
    pub pos: usize,
    pub stride: usize,
}

impl SourceBlock<'_> {
    fn at(&self, x: usize, y: usize) -> usize {
        self.pos + y * self.stride + x
    }
}

/// The coded residual of a 16x16 luma block, or of the four 4x4 blocks of one chroma plane.
#[derive(Clone)]
pub struct ResidualCoding {
    /// Quantized levels per 4x4 block (16 luma, or 4 chroma), raster order within a block.
    pub levels: [[i16; 16]; 16],
    /// Y2 levels when the luma block is coded with a Y2 block.
    pub y2: [i16; 16],
    pub sse: u64,
    pub rate: u32,
    /// Whether any level is nonzero.
    pub nonzero: bool,
}

fn sse_block(src: &SourceBlock<'_>, recon: &Workspace, size: usize) -> u64 {
    let mut total = 0u64;
    for y in 0..size {
        let s = &src.data[src.at(0, y)..src.at(0, y) + size];
        let r = &recon[WS_ORIGIN + y * WS_STRIDE..WS_ORIGIN + y * WS_STRIDE + size];
        total += s
            .iter()
            .zip(r)
            .map(|(&a, &b)| {
                let d = a as i32 - b as i32;
                (d * d) as u32
            })
            .sum::<u32>() as u64;
    }
    total
}

/// SSE of the prediction alone, to rank candidates before coding them.
pub fn prediction_sse(src: &SourceBlock<'_>, pred: &Workspace, size: usize) -> u64 {
    sse_block(src, pred, size)
}

/// Codes a 16x16 luma prediction (in `ws`) with a Y2 block: the workspace becomes the
/// reconstruction. `above`/`left` are the token contexts around the macroblock; they are
/// updated to what follows this coding.
pub fn code_luma_with_y2(
    src: &SourceBlock<'_>,
    ws: &mut Workspace,
    q: &MacroblockQuantizer,
    costs: &TokenCostTable,
    rd: RdWeight,
    above: &mut EdgeContext,
    left: &mut EdgeContext,
) -> ResidualCoding {
    let mut coeffs = [[0i16; 16]; 16];
    let mut dcs = [0i16; 16];
    for b in 0..16 {
        let (bx, by) = ((b & 3) * 4, (b >> 2) * 4);
        let r = quantize::residual(
            src.data,
            src.at(bx, by),
            src.stride,
            ws,
            WS_ORIGIN + by * WS_STRIDE + bx,
            WS_STRIDE,
        );
        coeffs[b] = quantize::forward(&r);
        dcs[b] = coeffs[b][0];
    }
    let mut out = ResidualCoding {
        levels: [[0; 16]; 16],
        y2: [0; 16],
        sse: 0,
        rate: 0,
        nonzero: false,
    };
    let mut y2_deq = [0i16; 16];
    let y2_nonzero =
        q.y2.quantize(&transform::forward_wht(&dcs), 0, &mut out.y2, &mut y2_deq);
    let (y2_rate, y2_ctx) =
        costs.block_cost(TYPE_Y2, above[8] as usize + left[8] as usize, &out.y2, 0);
    above[8] = y2_ctx;
    left[8] = y2_ctx;
    out.rate += y2_rate;
    let mut deq = [[0i16; 16]; 16];
    let mut any = y2_nonzero;
    for b in 0..16 {
        let (x, y) = (b & 3, b >> 2);
        let ctx = above[x] as usize + left[y] as usize;
        any |= quantize(
            &q.y,
            &coeffs[b],
            1,
            costs,
            TYPE_Y_AFTER_Y2,
            ctx,
            rd,
            &mut out.levels[b],
            &mut deq[b],
        );
        let (rate, nz) = costs.block_cost(TYPE_Y_AFTER_Y2, ctx, &out.levels[b], 1);
        above[x] = nz;
        left[y] = nz;
        out.rate += rate;
    }
    out.nonzero = any;
    if any {
        // The decoder's order: inverse WHT gives each block's DC, then each block's IDCT.
        let dc = transform::inverse_wht(&y2_deq);
        for b in 0..16 {
            deq[b][0] = dc[b];
            let pos = WS_ORIGIN + (b >> 2) * 4 * WS_STRIDE + (b & 3) * 4;
            add_residual(ws, pos, &deq[b], deq[b][1..].iter().any(|&v| v != 0));
        }
    }
    out.sse = sse_block(src, ws, 16);
    out
}

/// Codes one 4x4 block predicted in `ws` at `pos` (no Y2: DC included), reconstructing it in
/// place. Returns levels, rate and whether the block is nonzero.
#[allow(clippy::too_many_arguments)]
pub fn code_block(
    src: &SourceBlock<'_>,
    src_x: usize,
    src_y: usize,
    ws: &mut Workspace,
    pos: usize,
    quant: &BlockQuantizer,
    costs: &TokenCostTable,
    block_type: usize,
    ctx: usize,
    rd: RdWeight,
    levels: &mut [i16; 16],
) -> (u32, bool) {
    let r = quantize::residual(
        src.data,
        src.at(src_x, src_y),
        src.stride,
        ws,
        pos,
        WS_STRIDE,
    );
    let coeffs = quantize::forward(&r);
    let mut deq = [0i16; 16];
    let nonzero = quantize(
        quant, &coeffs, 0, costs, block_type, ctx, rd, levels, &mut deq,
    );
    let (empty_rate, _) = costs.block_cost(block_type, ctx, &[0; 16], 0);
    if !nonzero {
        return (empty_rate, false);
    }
    // Keep the residual only if it pays for its bits (a one-step trellis).
    let predicted_sse = block_sse(src, src_x, src_y, ws, pos);
    let mut coded = *ws;
    add_residual(&mut coded, pos, &deq, deq[1..].iter().any(|&v| v != 0));
    let coded_sse = block_sse(src, src_x, src_y, &coded, pos);
    let (rate, nz) = costs.block_cost(block_type, ctx, levels, 0);
    if rd.cost(coded_sse, rate) < rd.cost(predicted_sse, empty_rate) {
        for y in 0..4 {
            let row = pos + y * WS_STRIDE;
            ws[row..row + 4].copy_from_slice(&coded[row..row + 4]);
        }
        (rate, nz)
    } else {
        *levels = [0; 16];
        (empty_rate, false)
    }
}

/// SSE of one 4x4 block of the workspace against the source.
pub fn block_sse(
    src: &SourceBlock<'_>,
    src_x: usize,
    src_y: usize,
    ws: &Workspace,
    pos: usize,
) -> u64 {
    let mut total = 0u64;
    for y in 0..4 {
        for x in 0..4 {
            let d =
                src.data[src.at(src_x + x, src_y + y)] as i32 - ws[pos + y * WS_STRIDE + x] as i32;
            total += (d * d) as u64;
        }
    }
    total
}

/// Codes a 16x16 luma prediction without Y2 (SPLITMV): sixteen blocks with their DC.
pub fn code_luma_without_y2(
    src: &SourceBlock<'_>,
    ws: &mut Workspace,
    q: &MacroblockQuantizer,
    costs: &TokenCostTable,
    rd: RdWeight,
    above: &mut EdgeContext,
    left: &mut EdgeContext,
) -> ResidualCoding {
    let mut out = ResidualCoding {
        levels: [[0; 16]; 16],
        y2: [0; 16],
        sse: 0,
        rate: 0,
        nonzero: false,
    };
    for b in 0..16 {
        let (x, y) = (b & 3, b >> 2);
        let pos = WS_ORIGIN + y * 4 * WS_STRIDE + x * 4;
        let ctx = above[x] as usize + left[y] as usize;
        let (rate, nz) = code_block(
            src,
            x * 4,
            y * 4,
            ws,
            pos,
            &q.y,
            costs,
            TYPE_Y_WITH_DC,
            ctx,
            rd,
            &mut out.levels[b],
        );
        above[x] = nz;
        left[y] = nz;
        out.rate += rate;
        out.nonzero |= nz;
    }
    out.sse = sse_block(src, ws, 16);
    out
}

/// Codes an 8x8 chroma prediction of one plane (`plane` 0 = U, 1 = V): four blocks.
#[allow(clippy::too_many_arguments)]
pub fn code_chroma(
    src: &SourceBlock<'_>,
    ws: &mut Workspace,
    plane: usize,
    q: &MacroblockQuantizer,
    costs: &TokenCostTable,
    rd: RdWeight,
    above: &mut EdgeContext,
    left: &mut EdgeContext,
) -> ResidualCoding {
    let mut out = ResidualCoding {
        levels: [[0; 16]; 16],
        y2: [0; 16],
        sse: 0,
        rate: 0,
        nonzero: false,
    };
    for i in 0..4 {
        let (x, y) = (i & 1, i >> 1);
        let (ax, ly) = (4 + plane * 2 + x, 4 + plane * 2 + y);
        let pos = WS_ORIGIN + y * 4 * WS_STRIDE + x * 4;
        let ctx = above[ax] as usize + left[ly] as usize;
        let (rate, nz) = code_block(
            src,
            x * 4,
            y * 4,
            ws,
            pos,
            &q.uv,
            costs,
            TYPE_CHROMA,
            ctx,
            rd,
            &mut out.levels[i],
        );
        above[ax] = nz;
        left[ly] = nz;
        out.rate += rate;
        out.nonzero |= nz;
    }
    out.sse = sse_block(src, ws, 8);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_flags_cost_what_the_counts_call_for() {
        let mostly_skipped = SkipCosts::from_counts(10, 90);
        assert!(mostly_skipped.skipped < 256 && mostly_skipped.coded > 3 * 256);
        let mostly_coded = SkipCosts::from_counts(90, 10);
        assert!(mostly_coded.coded < 256 && mostly_coded.skipped > 3 * 256);
        let unknown = SkipCosts::from_counts(0, 0);
        assert_eq!(unknown.coded, unknown.skipped, "no counts, an even guess");
        // An empty macroblock pays the flag instead of its end-of-block tokens.
        assert_eq!(mostly_skipped.rate(false, 5000), mostly_skipped.skipped);
        assert_eq!(mostly_skipped.rate(true, 5000), 5000 + mostly_skipped.coded);
    }
}
