//! DCT coefficient tokens, written as the exact mirror of
//! [`tokens::read_macroblock`](crate::tokens::read_macroblock) (RFC 6386 §13).
//!
//! Writing, counting and pricing share one walker over the coding decisions
//! ([`visit_macroblock`]), so the stream, the branch counts behind the probability update
//! and the rate the mode decision sees cannot disagree. [`TokenCostTable`] is the fast
//! pricing path; it is checked against the walker bit for bit.

use super::bool_encoder::{BIT_COST, EntropyWriter};
use crate::state::TokenProbabilities;
use crate::tables::{
    BLOCK_TYPE_UV, BLOCK_TYPE_Y_AFTER_Y2, BLOCK_TYPE_Y_WITH_DC, BLOCK_TYPE_Y2, COEFF_BANDS,
    DCT_CAT_BASE, DCT_CAT_PROBS, ZIGZAG,
};
use crate::tokens::EdgeContext;

/// Quantized levels (not dequantized) of one macroblock: 16 Y blocks, 4 U, 4 V, then Y2,
/// each in raster order within its 4x4 block.
pub type MacroblockLevels = [[i16; 16]; 25];

/// The largest magnitude a token can code: DCT_CAT6's base plus 11 extra bits
/// (RFC 6386 §13.2).
pub const MAX_LEVEL: i32 = DCT_CAT_BASE[5] + (1 << 11) - 1;

/// Probabilities of the nodes of the token tree for one block type, `[band][context][node]`.
pub type BlockTypeProbabilities = [[[u8; 11]; 3]; 8];

/// Token index (DCT_0 ..= DCT_CAT6) of a magnitude.
const fn token_of(magnitude: usize) -> usize {
    match magnitude {
        0..=4 => magnitude,
        5..=6 => 5,
        7..=10 => 6,
        11..=18 => 7,
        19..=34 => 8,
        35..=66 => 9,
        _ => 10,
    }
}

/// `bit_cost` as a `const fn`, so the value tables below are built at compile time.
const fn const_bit_cost(bit: bool, prob: u8) -> u32 {
    let p = if bit {
        256 - prob as usize
    } else {
        prob as usize
    };
    BIT_COST[if p > 255 { 255 } else { p }] as u32
}

/// Token of each magnitude 0..=MAX_LEVEL, looked up instead of branched on when pricing.
static VALUE_TOKEN: [u8; MAX_LEVEL as usize + 1] = {
    let mut t = [0u8; MAX_LEVEL as usize + 1];
    let mut m = 0;
    while m < t.len() {
        t[m] = token_of(m) as u8;
        m += 1;
    }
    t
};

/// Cost of what follows a nonzero token's tree path: the DCT_CAT extra bits and the sign
/// (RFC 6386 §13.2). These bits have fixed probabilities, so this does not change per frame.
static VALUE_EXTRA_COST: [u16; MAX_LEVEL as usize + 1] = {
    let mut t = [0u16; MAX_LEVEL as usize + 1];
    let mut m = 1;
    while m < t.len() {
        let mut cost = const_bit_cost(false, 128);
        let token = token_of(m);
        if token >= 5 {
            let cat = token - 5;
            let probs = DCT_CAT_PROBS[cat];
            let extra = m - DCT_CAT_BASE[cat] as usize;
            let mut j = 0;
            while j < probs.len() {
                let bit = (extra >> (probs.len() - 1 - j)) & 1 == 1;
                cost += const_bit_cost(bit, probs[j]);
                j += 1;
            }
        }
        t[m] = cost as u16;
        m += 1;
    }
    t
};

/// Receives the decisions of the token walker.
trait TokenVisitor {
    /// A bool of the token tree: `node` is the probability index 0..11 within
    /// `[block_type][band][ctx]`.
    fn branch(&mut self, block_type: usize, band: usize, ctx: usize, node: usize, bit: bool);
    /// A bool with a fixed probability (extra bits, sign).
    fn raw(&mut self, bit: bool, prob: u8);
}

/// Walks the tree path of `token` (DCT_0 ..= DCT_CAT6) below the end-of-block branch
/// (RFC 6386 §13.2, `coeff_tree`), calling `node(probability index, bit)` per bool.
#[inline]
fn visit_token_path(token: usize, mut node: impl FnMut(usize, bool)) {
    node(1, token != 0);
    if token == 0 {
        return;
    }
    node(2, token != 1);
    if token == 1 {
        return;
    }
    node(3, token >= 5);
    if token <= 4 {
        node(4, token != 2);
        if token != 2 {
            node(5, token == 4);
        }
        return;
    }
    let cat = token - 5;
    node(6, cat >= 2);
    if cat < 2 {
        node(7, cat == 1);
    } else {
        let high = cat >= 4;
        node(8, high);
        node(9 + high as usize, cat & 1 == 1);
    }
}

/// Walks one block's tokens from position `first` (RFC 6386 §13.2–13.3, the mirror of the
/// decoder's block loop). Returns whether any token other than an immediate end-of-block
/// was coded, which is the block's context for its neighbours.
#[inline]
fn visit_block<V: TokenVisitor>(
    v: &mut V,
    block_type: usize,
    ctx: usize,
    levels: &[i16; 16],
    first: usize,
) -> bool {
    let Some(last) = (first..16).rev().find(|&i| levels[ZIGZAG[i]] != 0) else {
        v.branch(block_type, COEFF_BANDS[first], ctx, 0, false);
        return false;
    };
    let mut ctx = ctx;
    let mut after_zero = false;
    for i in first..=last {
        let band = COEFF_BANDS[i];
        // After a DCT_0 the decoder does not read an end-of-block branch.
        if !after_zero {
            v.branch(block_type, band, ctx, 0, true);
        }
        let level = levels[ZIGZAG[i]];
        debug_assert!(
            (level as i32).abs() <= MAX_LEVEL,
            "level {level} is beyond the largest token value {MAX_LEVEL}"
        );
        let magnitude = (level.unsigned_abs() as usize).min(MAX_LEVEL as usize);
        let token = token_of(magnitude);
        visit_token_path(token, |node, bit| {
            v.branch(block_type, band, ctx, node, bit)
        });
        if token >= 5 {
            let cat = token - 5;
            let probs = DCT_CAT_PROBS[cat];
            let extra = magnitude - DCT_CAT_BASE[cat] as usize;
            for (j, &prob) in probs.iter().enumerate() {
                v.raw((extra >> (probs.len() - 1 - j)) & 1 == 1, prob);
            }
        }
        if magnitude != 0 {
            v.raw(level < 0, 128);
        }
        ctx = magnitude.min(2);
        after_zero = magnitude == 0;
    }
    if last < 15 {
        v.branch(block_type, COEFF_BANDS[last + 1], ctx, 0, false);
    }
    true
}

/// Visits a macroblock's blocks in the decoder's order with their contexts (RFC 6386
/// §13.3): Y2 (when present), 16 Y, 4 U, 4 V. `block(type, ctx, levels, first)` codes or
/// prices one block and returns whether it is nonzero.
#[inline]
fn for_each_block(
    levels: &MacroblockLevels,
    has_y2: bool,
    above: &mut EdgeContext,
    left: &mut EdgeContext,
    mut block: impl FnMut(usize, usize, &[i16; 16], usize) -> bool,
) {
    let (luma_type, first) = if has_y2 {
        let ctx = above[8] as usize + left[8] as usize;
        let nonzero = block(BLOCK_TYPE_Y2, ctx, &levels[24], 0);
        above[8] = nonzero;
        left[8] = nonzero;
        (BLOCK_TYPE_Y_AFTER_Y2, 1)
    } else {
        (BLOCK_TYPE_Y_WITH_DC, 0)
    };
    for (b, levels) in levels[..16].iter().enumerate() {
        let (x, y) = (b & 3, b >> 2);
        let nonzero = block(
            luma_type,
            above[x] as usize + left[y] as usize,
            levels,
            first,
        );
        above[x] = nonzero;
        left[y] = nonzero;
    }
    for (b, levels) in levels[16..24].iter().enumerate() {
        // U blocks use context slots 4-5, V blocks 6-7.
        let plane = b >> 2;
        let (x, y) = (4 + plane * 2 + (b & 1), 4 + plane * 2 + ((b >> 1) & 1));
        let nonzero = block(
            BLOCK_TYPE_UV,
            above[x] as usize + left[y] as usize,
            levels,
            0,
        );
        above[x] = nonzero;
        left[y] = nonzero;
    }
}

/// Walks every token of a macroblock, in the decoder's order.
fn visit_macroblock<V: TokenVisitor>(
    v: &mut V,
    levels: &MacroblockLevels,
    has_y2: bool,
    above: &mut EdgeContext,
    left: &mut EdgeContext,
) {
    for_each_block(
        levels,
        has_y2,
        above,
        left,
        |block_type, ctx, levels, first| visit_block(v, block_type, ctx, levels, first),
    );
}

struct Writing<'a, W> {
    w: &'a mut W,
    probs: &'a TokenProbabilities,
}

impl<W: EntropyWriter> TokenVisitor for Writing<'_, W> {
    #[inline]
    fn branch(&mut self, block_type: usize, band: usize, ctx: usize, node: usize, bit: bool) {
        self.w.put(bit, self.probs[block_type][band][ctx][node]);
    }
    #[inline]
    fn raw(&mut self, bit: bool, prob: u8) {
        self.w.put(bit, prob);
    }
}

/// Writes a macroblock's residual tokens as `read_macroblock` reads them, updating the
/// above and left contexts. Luma position 0 is not coded when `has_y2` (the Y2 block
/// carries it); block 24 is ignored without Y2. Levels must lie within ±[`MAX_LEVEL`].
pub fn write_macroblock_tokens<W: EntropyWriter>(
    w: &mut W,
    probs: &TokenProbabilities,
    levels: &MacroblockLevels,
    has_y2: bool,
    above: &mut EdgeContext,
    left: &mut EdgeContext,
) {
    visit_macroblock(&mut Writing { w, probs }, levels, has_y2, above, left);
}

/// Whether a macroblock codes no nonzero level (so it can be sent with a skip flag).
pub fn macroblock_is_empty(levels: &MacroblockLevels, has_y2: bool) -> bool {
    let luma_first = has_y2 as usize;
    levels[..16]
        .iter()
        .all(|b| b[luma_first..].iter().all(|&v| v == 0))
        && levels[16..24].iter().all(|b| b.iter().all(|&v| v == 0))
        && (!has_y2 || levels[24].iter().all(|&v| v == 0))
}

struct Costing<'a> {
    probs: &'a BlockTypeProbabilities,
    cost: u32,
}

impl TokenVisitor for Costing<'_> {
    #[inline]
    fn branch(&mut self, _: usize, band: usize, ctx: usize, node: usize, bit: bool) {
        self.cost += const_bit_cost(bit, self.probs[band][ctx][node]);
    }
    #[inline]
    fn raw(&mut self, bit: bool, prob: u8) {
        self.cost += const_bit_cost(bit, prob);
    }
}

/// Cost in 1/256 bit of one block's tokens with the probabilities of its block type, and
/// whether the block is nonzero (its context for the next blocks). Exactly what a
/// `BitCounter` adds up while writing it; [`TokenCostTable::block_cost`] is the fast path.
pub fn block_cost(
    probs: &BlockTypeProbabilities,
    ctx: usize,
    levels: &[i16; 16],
    first: usize,
) -> (u32, bool) {
    let mut costing = Costing { probs, cost: 0 };
    let nonzero = visit_block(&mut costing, 0, ctx, levels, first);
    (costing.cost, nonzero)
}

/// Token costs of one `[block type][band][context]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ContextCosts {
    /// Each token's tree path from the root, the "not end-of-block" branch included.
    token: [u32; 11],
    /// Each token's path after a DCT_0, where no end-of-block branch is coded.
    token_after_zero: [u32; 11],
    end_of_block: u32,
}

/// Costs of every token in every context for one frame's probabilities, so that pricing
/// a block is one lookup per coefficient (the rate-distortion search's inner loop).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenCostTable {
    costs: [[[ContextCosts; 3]; 8]; 4],
}

impl TokenCostTable {
    pub fn new(probs: &TokenProbabilities) -> Self {
        let mut costs = [[[ContextCosts::default(); 3]; 8]; 4];
        for (type_costs, type_probs) in costs.iter_mut().zip(probs) {
            for (band_costs, band_probs) in type_costs.iter_mut().zip(type_probs) {
                for (c, p) in band_costs.iter_mut().zip(band_probs) {
                    c.end_of_block = const_bit_cost(false, p[0]);
                    for token in 0..11 {
                        // Extra bits and sign are in VALUE_EXTRA_COST.
                        let mut path = 0;
                        visit_token_path(token, |node, bit| path += const_bit_cost(bit, p[node]));
                        c.token_after_zero[token] = path;
                        c.token[token] = path + const_bit_cost(true, p[0]);
                    }
                }
            }
        }
        TokenCostTable { costs }
    }

    /// Cost in 1/256 bit of one block's tokens and whether it is nonzero; equal to
    /// [`block_cost`] with the table's probabilities for `block_type`.
    #[inline]
    pub fn block_cost(
        &self,
        block_type: usize,
        ctx: usize,
        levels: &[i16; 16],
        first: usize,
    ) -> (u32, bool) {
        let costs = &self.costs[block_type];
        let Some(last) = (first..16).rev().find(|&i| levels[ZIGZAG[i]] != 0) else {
            return (costs[COEFF_BANDS[first]][ctx].end_of_block, false);
        };
        let mut cost = 0;
        let mut ctx = ctx;
        let mut after_zero = false;
        for i in first..=last {
            let magnitude = (levels[ZIGZAG[i]].unsigned_abs() as usize).min(MAX_LEVEL as usize);
            let c = &costs[COEFF_BANDS[i]][ctx];
            let token = VALUE_TOKEN[magnitude] as usize;
            cost += if after_zero {
                c.token_after_zero[token]
            } else {
                c.token[token]
            };
            cost += VALUE_EXTRA_COST[magnitude] as u32;
            ctx = magnitude.min(2);
            after_zero = magnitude == 0;
        }
        if last < 15 {
            cost += costs[COEFF_BANDS[last + 1]][ctx].end_of_block;
        }
        (cost, true)
    }

    /// Cost in 1/256 bit of coding a coefficient of `magnitude` (its token, extra bits and
    /// sign) at zigzag band `band` in context `ctx`; `after_zero` when the token before it
    /// was a DCT_0, so that no end-of-block branch is coded.
    #[inline]
    pub fn coefficient_cost(
        &self,
        block_type: usize,
        band: usize,
        ctx: usize,
        magnitude: usize,
        after_zero: bool,
    ) -> u32 {
        let c = &self.costs[block_type][band][ctx];
        let magnitude = magnitude.min(MAX_LEVEL as usize);
        let token = VALUE_TOKEN[magnitude] as usize;
        let path = if after_zero {
            c.token_after_zero[token]
        } else {
            c.token[token]
        };
        path + VALUE_EXTRA_COST[magnitude] as u32
    }

    /// Cost in 1/256 bit of an end-of-block token at band `band` in context `ctx`.
    #[inline]
    pub fn end_of_block_cost(&self, block_type: usize, band: usize, ctx: usize) -> u32 {
        self.costs[block_type][band][ctx].end_of_block
    }

    /// Cost in 1/256 bit of a whole macroblock's tokens, updating the contexts as
    /// [`write_macroblock_tokens`] does.
    pub fn macroblock_cost(
        &self,
        levels: &MacroblockLevels,
        has_y2: bool,
        above: &mut EdgeContext,
        left: &mut EdgeContext,
    ) -> u32 {
        let mut cost = 0;
        for_each_block(
            levels,
            has_y2,
            above,
            left,
            |block_type, ctx, levels, first| {
                let (block_cost, nonzero) = self.block_cost(block_type, ctx, levels, first);
                cost += block_cost;
                nonzero
            },
        );
        cost
    }
}

/// How often each token-tree branch went each way in a frame, `[block type][band]
/// [context][node][bit]`: the input to the coefficient probability update (RFC 6386 §13.4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub counts: [[[[[u32; 2]; 11]; 3]; 8]; 4],
}

impl TokenVisitor for TokenCounts {
    #[inline]
    fn branch(&mut self, block_type: usize, band: usize, ctx: usize, node: usize, bit: bool) {
        self.counts[block_type][band][ctx][node][bit as usize] += 1;
    }
    #[inline]
    fn raw(&mut self, _: bool, _: u8) {}
}

impl TokenCounts {
    /// Counts the decisions [`write_macroblock_tokens`] takes for this macroblock,
    /// updating the contexts the same way.
    pub fn add_macroblock(
        &mut self,
        levels: &MacroblockLevels,
        has_y2: bool,
        above: &mut EdgeContext,
        left: &mut EdgeContext,
    ) {
        visit_macroblock(self, levels, has_y2, above, left);
    }

    /// Adds another set of counts (from another slice of the frame).
    pub fn merge(&mut self, other: &TokenCounts) {
        let theirs = other.counts.as_flattened().as_flattened().as_flattened();
        let ours = self
            .counts
            .as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut();
        for (a, b) in ours.iter_mut().zip(theirs) {
            a[0] += b[0];
            a[1] += b[1];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bool_decoder::BoolDecoder;
    use crate::encoder::bool_encoder::{BitCounter, BoolEncoder};
    use crate::quantizer::DequantFactors;
    use crate::tables::DEFAULT_COEFF_PROBS;
    use crate::test_rng::TestRng;
    use crate::tokens::{self, MacroblockCoefficients};
    use alloc::vec;
    use alloc::vec::Vec;

    /// Levels shaped like real residuals: many empty blocks, small values, trailing
    /// zeros, DC-only blocks, and now and then the extremes.
    fn random_block(rng: &mut TestRng) -> [i16; 16] {
        let mut block = [0i16; 16];
        match rng.below(6) {
            0 | 1 => {}
            2 => block[0] = rng.range(-40, 40) as i16,
            _ => {
                let len = rng.range(1, 16) as usize;
                for &pos in &ZIGZAG[..len] {
                    block[pos] = match rng.below(20) {
                        0 => rng.range(-MAX_LEVEL, MAX_LEVEL) as i16,
                        1 => [MAX_LEVEL, -MAX_LEVEL, 67, -66, 35, 34][rng.below(6) as usize] as i16,
                        2..=4 => rng.range(-70, 70) as i16,
                        5..=10 => 0,
                        _ => rng.range(-3, 3) as i16,
                    };
                }
            }
        }
        block
    }

    fn random_levels(rng: &mut TestRng) -> MacroblockLevels {
        let mut levels = [[0i16; 16]; 25];
        if rng.below(5) != 0 {
            levels.iter_mut().for_each(|b| *b = random_block(rng));
        }
        levels
    }

    fn random_probs(rng: &mut TestRng) -> TokenProbabilities {
        let mut probs = DEFAULT_COEFF_PROBS;
        for p in probs
            .as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut()
        {
            if rng.below(3) == 0 {
                *p = rng.range(1, 255) as u8;
            }
        }
        probs
    }

    #[test]
    fn decoder_reads_back_levels_and_contexts() {
        let mut rng = TestRng(0x70c3);
        let factors = DequantFactors {
            y: [1, 1],
            y2: [1, 1],
            uv: [1, 1],
        };
        for frame in 0..30 {
            let probs = if frame == 0 {
                DEFAULT_COEFF_PROBS
            } else {
                random_probs(&mut rng)
            };
            let (mb_cols, mb_rows) = (4, 3);
            let mut written = Vec::new();
            let mut encoder = BoolEncoder::new();
            let mut counter = BitCounter::default();
            let mut priced = 0u32;
            let table = TokenCostTable::new(&probs);
            let mut above = vec![[false; 9]; mb_cols];
            let mut contexts = Vec::new();
            for _ in 0..mb_rows {
                let mut left = [false; 9];
                for above in &mut above {
                    let levels = random_levels(&mut rng);
                    let has_y2 = rng.below(3) != 0;
                    let (mut a, mut l) = (*above, left);
                    priced += table.macroblock_cost(&levels, has_y2, &mut a, &mut l);
                    let (mut ca, mut cl) = (*above, left);
                    write_macroblock_tokens(
                        &mut counter,
                        &probs,
                        &levels,
                        has_y2,
                        &mut ca,
                        &mut cl,
                    );
                    write_macroblock_tokens(
                        &mut encoder,
                        &probs,
                        &levels,
                        has_y2,
                        above,
                        &mut left,
                    );
                    assert_eq!((a, l), (*above, left));
                    assert_eq!((ca, cl), (*above, left));
                    contexts.push((*above, left));
                    written.push((levels, has_y2));
                }
            }
            assert_eq!(priced, counter.cost, "frame {frame}");
            let bytes = encoder.finish();

            let mut bd = BoolDecoder::new(&bytes);
            let mut above = vec![[false; 9]; mb_cols];
            let mut mb = 0;
            for _ in 0..mb_rows {
                let mut left = [false; 9];
                for above in &mut above {
                    let (levels, has_y2) = &written[mb];
                    let mut out = MacroblockCoefficients::default();
                    tokens::read_macroblock(
                        &mut bd, &probs, *has_y2, &factors, above, &mut left, &mut out,
                    );
                    assert_eq!(
                        (*above, left),
                        contexts[mb],
                        "frame {frame} mb {mb} contexts"
                    );
                    let mut expected = *levels;
                    for b in &mut expected[..16] {
                        if *has_y2 {
                            b[0] = 0;
                        }
                    }
                    if !has_y2 {
                        expected[24] = [0; 16];
                    }
                    assert_eq!(out.blocks, expected, "frame {frame} mb {mb} levels");
                    assert_eq!(out.any_nonzero, !macroblock_is_empty(levels, *has_y2));
                    mb += 1;
                }
            }
            assert_eq!(bd.bits_past_end(), 0);
        }
    }

    #[test]
    fn table_prices_blocks_exactly() {
        let mut rng = TestRng(11);
        for _ in 0..10 {
            let probs = random_probs(&mut rng);
            let table = TokenCostTable::new(&probs);
            for _ in 0..2000 {
                let levels = random_block(&mut rng);
                let block_type = rng.below(4) as usize;
                let ctx = rng.below(3) as usize;
                let first = if block_type == BLOCK_TYPE_Y_AFTER_Y2 {
                    1
                } else {
                    0
                };
                let walked = block_cost(&probs[block_type], ctx, &levels, first);
                assert_eq!(table.block_cost(block_type, ctx, &levels, first), walked);
                // And a BitCounter writing the block as part of a macroblock agrees.
                let mut counter = BitCounter::default();
                let mut writing = Writing {
                    w: &mut counter,
                    probs: &probs,
                };
                let nonzero = visit_block(&mut writing, block_type, ctx, &levels, first);
                assert_eq!((counter.cost, nonzero), walked);
            }
        }
    }

    #[test]
    fn counts_match_the_written_bools() {
        let mut rng = TestRng(12);
        let probs = DEFAULT_COEFF_PROBS;
        let mut counts = TokenCounts::default();
        // Price the counted branches and the raw bits separately; together they must give
        // the written cost.
        let mut counter = BitCounter::default();
        let mut raw = 0u32;
        struct Raw<'a>(&'a mut u32);
        impl TokenVisitor for Raw<'_> {
            fn branch(&mut self, _: usize, _: usize, _: usize, _: usize, _: bool) {}
            fn raw(&mut self, bit: bool, prob: u8) {
                *self.0 += const_bit_cost(bit, prob);
            }
        }
        let (mut above, mut left) = ([false; 9], [false; 9]);
        let (mut a2, mut l2) = (above, left);
        let (mut a3, mut l3) = (above, left);
        for _ in 0..200 {
            let levels = random_levels(&mut rng);
            let has_y2 = rng.below(2) == 0;
            counts.add_macroblock(&levels, has_y2, &mut above, &mut left);
            write_macroblock_tokens(&mut counter, &probs, &levels, has_y2, &mut a2, &mut l2);
            visit_macroblock(&mut Raw(&mut raw), &levels, has_y2, &mut a3, &mut l3);
            assert_eq!((above, left), (a2, l2));
        }
        let mut branches = 0u32;
        for (t, bands) in counts.counts.iter().enumerate() {
            for (band, ctxs) in bands.iter().enumerate() {
                for (ctx, nodes) in ctxs.iter().enumerate() {
                    for (node, c) in nodes.iter().enumerate() {
                        let p = probs[t][band][ctx][node];
                        branches +=
                            c[0] * const_bit_cost(false, p) + c[1] * const_bit_cost(true, p);
                    }
                }
            }
        }
        assert_eq!(branches + raw, counter.cost);

        let mut doubled = counts.clone();
        doubled.merge(&counts);
        assert_eq!(
            doubled.counts[1][0][0][0][0],
            2 * counts.counts[1][0][0][0][0]
        );
    }

    #[test]
    fn empty_macroblocks() {
        let mut levels = [[0i16; 16]; 25];
        assert!(macroblock_is_empty(&levels, true));
        levels[3][0] = 5;
        assert!(macroblock_is_empty(&levels, true));
        assert!(!macroblock_is_empty(&levels, false));
        levels[3][0] = 0;
        levels[24][7] = -1;
        assert!(!macroblock_is_empty(&levels, true));
        assert!(macroblock_is_empty(&levels, false));
        levels[24][7] = 0;
        levels[23][15] = 1;
        assert!(!macroblock_is_empty(&levels, true));
    }

    #[test]
    fn value_tables_cover_the_token_ranges() {
        assert_eq!(MAX_LEVEL, 2114);
        assert_eq!(VALUE_TOKEN[4], 4);
        assert_eq!(VALUE_TOKEN[5], 5);
        assert_eq!(VALUE_TOKEN[66], 9);
        assert_eq!(VALUE_TOKEN[67], 10);
        assert_eq!(VALUE_TOKEN[MAX_LEVEL as usize], 10);
        assert_eq!(VALUE_EXTRA_COST[0], 0);
        assert_eq!(VALUE_EXTRA_COST[1], 256);
    }
}
