//! DCT coefficient token decoding (RFC 6386 §13).

use crate::bool_decoder::BoolDecoder;
use crate::quantizer::DequantFactors;
use crate::state::TokenProbabilities;
use crate::tables::{COEFF_BANDS, DCT_CAT_BASE, DCT_CAT_PROBS, ZIGZAG};

/// Block types that select a probability set (RFC 6386 §13.3).
const TYPE_Y_AFTER_Y2: usize = 0;
const TYPE_Y2: usize = 1;
const TYPE_CHROMA: usize = 2;
const TYPE_Y_WITH_DC: usize = 3;

/// Per-macroblock "has coefficients" flags of the blocks along one edge: four luma, two U,
/// two V, then Y2 (RFC 6386 §13.3, third dimension of the probability table).
pub type EdgeContext = [bool; 9];

/// The dequantized coefficients of one macroblock: 16 luma blocks, 4 U, 4 V, then Y2,
/// each 16 values in raster order.
#[derive(Default)]
pub struct MacroblockCoefficients {
    pub blocks: [[i16; 16]; 25],
    /// Whether each block has a coefficient past the DC (decides the IDCT shortcut).
    pub has_ac: [bool; 25],
    /// Whether any token other than an immediate end-of-block was read.
    pub any_nonzero: bool,
}

impl MacroblockCoefficients {
    pub fn clear(&mut self) {
        if self.any_nonzero || self.has_ac.iter().any(|&b| b) {
            self.blocks = [[0; 16]; 25];
            self.has_ac = [false; 25];
        }
        self.any_nonzero = false;
    }
}

/// Reads the residual of one macroblock into `out` (which must be cleared), updating the
/// above and left contexts.
pub fn read_macroblock(
    bd: &mut BoolDecoder<'_>,
    probs: &TokenProbabilities,
    has_y2: bool,
    factors: &DequantFactors,
    above: &mut EdgeContext,
    left: &mut EdgeContext,
    out: &mut MacroblockCoefficients,
) {
    let mut any = false;
    let (luma_type, first) = if has_y2 {
        let ctx = above[8] as usize + left[8] as usize;
        let (nonzero, has_ac) =
            read_block(bd, &probs[TYPE_Y2], 0, ctx, factors.y2, &mut out.blocks[24]);
        above[8] = nonzero;
        left[8] = nonzero;
        out.has_ac[24] = has_ac;
        any |= nonzero;
        (TYPE_Y_AFTER_Y2, 1)
    } else {
        (TYPE_Y_WITH_DC, 0)
    };
    for b in 0..16 {
        let (x, y) = (b & 3, b >> 2);
        let ctx = above[x] as usize + left[y] as usize;
        let (nonzero, has_ac) = read_block(
            bd,
            &probs[luma_type],
            first,
            ctx,
            factors.y,
            &mut out.blocks[b],
        );
        above[x] = nonzero;
        left[y] = nonzero;
        out.has_ac[b] = has_ac;
        any |= nonzero;
    }
    for b in 16..24 {
        // U blocks use context slots 4-5, V blocks 6-7.
        let plane = (b - 16) >> 2;
        let (x, y) = (4 + plane * 2 + (b & 1), 4 + plane * 2 + ((b >> 1) & 1));
        let ctx = above[x] as usize + left[y] as usize;
        let (nonzero, has_ac) = read_block(
            bd,
            &probs[TYPE_CHROMA],
            0,
            ctx,
            factors.uv,
            &mut out.blocks[b],
        );
        above[x] = nonzero;
        left[y] = nonzero;
        out.has_ac[b] = has_ac;
        any |= nonzero;
    }
    out.any_nonzero = any;
}

/// Resets the contexts of a macroblock without residual. The Y2 slot is left alone for
/// modes without Y2, as libvpx does.
pub fn skip_macroblock(has_y2: bool, above: &mut EdgeContext, left: &mut EdgeContext) {
    above[..8].fill(false);
    left[..8].fill(false);
    if has_y2 {
        above[8] = false;
        left[8] = false;
    }
}

/// Reads one block's tokens starting at position `first`; returns whether any token other
/// than an immediate end-of-block was read, and whether a coefficient past DC was set.
#[inline]
fn read_block(
    bd: &mut BoolDecoder<'_>,
    probs: &[[[u8; 11]; 3]; 8],
    first: usize,
    ctx: usize,
    factors: [i32; 2],
    out: &mut [i16; 16],
) -> (bool, bool) {
    let mut i = first;
    let mut p = &probs[COEFF_BANDS[i]][ctx];
    if !bd.read_bool(p[0]) {
        return (false, false);
    }
    let mut has_ac = false;
    loop {
        // Here the token is known not to be end-of-block.
        if !bd.read_bool(p[1]) {
            // DCT_0: no end-of-block may follow directly.
            i += 1;
            if i == 16 {
                return (true, has_ac);
            }
            p = &probs[COEFF_BANDS[i]][0];
            continue;
        }
        let (magnitude, next_ctx) = if !bd.read_bool(p[2]) {
            (1, 1)
        } else {
            let v = if !bd.read_bool(p[3]) {
                if !bd.read_bool(p[4]) {
                    2
                } else {
                    3 + bd.read_bool(p[5]) as i32
                }
            } else if !bd.read_bool(p[6]) {
                let cat = bd.read_bool(p[7]) as usize;
                read_extra(bd, cat)
            } else {
                let high = bd.read_bool(p[8]) as usize;
                let low = bd.read_bool(p[9 + high]) as usize;
                read_extra(bd, 2 + 2 * high + low)
            };
            (v, 2)
        };
        let value = if bd.read_flag() {
            -magnitude
        } else {
            magnitude
        };
        let factor = factors[(i > 0) as usize];
        let position = ZIGZAG[i];
        // libvpx stores the product in 16 bits; corrupt streams may overflow it.
        out[position] = value.wrapping_mul(factor) as i16;
        has_ac |= position != 0;
        i += 1;
        if i == 16 {
            return (true, has_ac);
        }
        p = &probs[COEFF_BANDS[i]][next_ctx];
        if !bd.read_bool(p[0]) {
            return (true, has_ac);
        }
    }
}

/// The magnitude of a DCT_CAT token: its base plus extra bits, most significant first.
#[inline]
fn read_extra(bd: &mut BoolDecoder<'_>, category: usize) -> i32 {
    let mut extra = 0;
    for &prob in DCT_CAT_PROBS[category] {
        extra = (extra << 1) | bd.read_bool(prob) as i32;
    }
    DCT_CAT_BASE[category] + extra
}
