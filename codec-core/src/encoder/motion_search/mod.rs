//! Motion estimation: the vector search for inter-predicted luma blocks.
//!
//! Vectors are in quarter luma samples (RFC 6386 §17). Every candidate that can win is
//! judged by the prediction the decoder would make from it (§18: edge extension outside the
//! reference, six-tap or bilinear interpolation of fractional positions), so the error the
//! search reports is exactly the error the encoder will code.
//!
//! The search runs in three stages:
//! 1. Whole samples, by SAD + √λ·rate (SAD is several times cheaper than SSE and ranks
//!    whole-sample positions about as well): every start, then from the best starts a
//!    pattern search — libvpx's n-step search with its restarts, or an iterated hexagon —
//!    finished by a step-1 descent; at speed 0 also an exhaustive ±2 window.
//! 2. The exact starts and the best whole-sample positions are ranked by the true cost
//!    `sse * 256 + λ * rate`, so the result never loses to a start within the bounds.
//! 3. Half- then quarter-sample steps around the winner, by the true cost. The candidates
//!    are windows of interpolated planes computed once around the winner
//!    (`SubpelCache`): the eight half-sample neighbours cost three filter passes.
//!
//! Candidates are compared with early exits (a SAD or SSE stops once it cannot win) and
//! remembered (`Memo`), so overlapping patterns cost nothing twice.
//!
//! Per speed (`Effort::for_speed`); "4+1" is libvpx's sub-sample step, the four axial
//! neighbours and then the diagonal between the better of each pair:
//!
//! | speed | pattern from | whole-sample pattern                       | half / quarter   |
//! |-------|--------------|--------------------------------------------|------------------|
//! | 0     | 3 best starts| n-step from `range`, all restarts; square; ±2 exhaustive | 8 / 8, then 4+1 while moving |
//! | 1     | 2            | n-step from `range`, all restarts; square  | 8 / 4+1, twice while moving |
//! | 2     | 2            | n-step from `range`/2, 3 passes; square    | 8 / 4+1, twice   |
//! | 3     | 1            | n-step from `range`/2, 2 passes; square    | 8 / 4+1, twice   |
//! | 4     | 1            | n-step from `range`/2, 2 passes; diamond   | 8 / 4+1          |
//! | 5     | 1            | n-step from `range`/4, 2 passes; diamond   | 8 / 4+1          |
//! | 6     | 1            | hexagon (≤ 16 moves); diamond              | 8 / 4+1          |
//! | 7     | 1            | hexagon (≤ 8 moves); diamond (≤ 8)         | 4+1 / 4+1        |
//! | 8     | 1            | hexagon (≤ 4 moves); diamond (≤ 4)         | 4+1 / none       |
//!
//! Speeds 0–2 also rank the runner-up whole-sample position by its true cost.

mod distortion;

pub use distortion::{sad, sse};
use distortion::{sad_bounded, sse_bounded};

use crate::modes::MotionVector;
use crate::picture::Plane;
use crate::predict_inter::{bilinear_predict, sixtap_predict};
use crate::tables::{BILINEAR_FILTERS, SIXTAP_FILTERS};

/// How hard to search.
#[derive(Clone, Copy, Debug)]
pub struct SearchConfig {
    /// Full-sample search radius around each start point.
    pub range: i32,
    /// Refine to quarter samples (with the six-tap or bilinear filter, as the decoder predicts).
    pub subpel: bool,
    /// The frame's interpolation filter: bilinear (versions 1-3) instead of six-tap.
    pub bilinear: bool,
    /// 0 = most thorough .. 8 = fastest (fewer start points, smaller patterns, no subpel
    /// refinement beyond half-pel at the fastest).
    pub speed: u8,
}

/// Cost of coding a vector, in 1/256 bit (the caller captures probabilities and the
/// predicted vector).
pub trait VectorCost {
    fn cost(&self, mv: MotionVector) -> u32;
}

/// The best vector found for one block, and its error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchResult {
    pub mv: MotionVector,
    /// Sum of squared errors of the decoder's prediction with `mv`.
    pub sse: u32,
    /// `sse * 256 + lambda * vector_cost.cost(mv)` (saturating at `u64::MAX - 1`), as used
    /// for the decision.
    pub cost: u64,
}

/// The vectors a search may return, in quarter samples, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchBounds {
    pub min_row: i32,
    pub max_row: i32,
    pub min_col: i32,
    pub max_col: i32,
}

impl SearchBounds {
    pub fn contains(&self, mv: MotionVector) -> bool {
        (self.min_row..=self.max_row).contains(&i32::from(mv.row))
            && (self.min_col..=self.max_col).contains(&i32::from(mv.col))
    }

    /// The bounds limited to what a [`MotionVector`] holds; an empty range collapses onto
    /// its minimum, so that a search always has somewhere to be.
    fn sanitized(&self) -> SearchBounds {
        let (lo, hi) = (i32::from(i16::MIN), i32::from(i16::MAX));
        let min_row = self.min_row.clamp(lo, hi);
        let min_col = self.min_col.clamp(lo, hi);
        SearchBounds {
            min_row,
            max_row: self.max_row.clamp(min_row, hi),
            min_col,
            max_col: self.max_col.clamp(min_col, hi),
        }
    }

    /// The whole-sample vectors inside these (quarter-sample) bounds, as a window in whole
    /// samples; empty in a dimension whose range holds no multiple of 4.
    fn whole_samples(&self) -> Window {
        let ceil = |v: i32| -((-v).div_euclid(4));
        Window {
            min_row: ceil(self.min_row),
            max_row: self.max_row.div_euclid(4),
            min_col: ceil(self.min_col),
            max_col: self.max_col.div_euclid(4),
        }
    }

    fn clamp(&self, row: i32, col: i32) -> MotionVector {
        MotionVector {
            row: row.clamp(self.min_row, self.max_row) as i16,
            col: col.clamp(self.min_col, self.max_col) as i16,
        }
    }
}

/// Searches `reference` for the `width`x`height` luma block of `source` whose top-left is
/// (x, y) (whole samples, inside the planes), starting from each of `starts` (quarter-sample
/// vectors; duplicates allowed). Minimises `sse * 256 + lambda * vector_cost.cost(mv)` where
/// sse is the sum of squared errors between the source block and the prediction the decoder
/// would make with that vector (edge extension outside the reference, exact six-tap or
/// bilinear interpolation for fractional vectors). Vectors stay within `bounds` (quarter
/// samples, inclusive; the caller derives them from the frame edges and from the 1023 delta
/// limit); bounds are first limited to the `i16` range, and an empty range collapses onto
/// its minimum.
///
/// Blocks are at most 16x16 (larger sizes are cut to 16). With no starts the search starts
/// from the zero vector. The result is never worse than any start inside the bounds
/// (rounded to whole samples when `config.subpel` is off). When the bounds hold no
/// whole-sample vector in some dimension, the result is fractional even without `subpel`.
#[allow(clippy::too_many_arguments)]
pub fn search(
    source: &Plane,
    reference: &Plane,
    x: usize,
    y: usize,
    width: usize,
    height: usize,
    starts: &[MotionVector],
    bounds: &SearchBounds,
    vector_cost: &dyn VectorCost,
    lambda: u32,
    config: &SearchConfig,
) -> SearchResult {
    let bounds = bounds.sanitized();
    let (w, h) = (width.min(MAX_SIZE), height.min(MAX_SIZE));
    let zero = [MotionVector::ZERO];
    let starts = if starts.is_empty() { &zero[..] } else { starts };
    if w == 0 || h == 0 {
        let mv = bounds.clamp(i32::from(starts[0].row), i32::from(starts[0].col));
        let cost = u64::from(lambda).saturating_mul(u64::from(vector_cost.cost(mv)));
        return SearchResult { mv, sse: 0, cost };
    }
    let mut searcher = Searcher::new(
        source,
        reference,
        (x, y, w, h),
        bounds,
        vector_cost,
        lambda,
        config.bilinear,
    );
    searcher.run(starts, config)
}

/// The decoder's prediction for a luma block with vector `mv` (quarter samples), written to
/// `out` (row stride `out_stride`): exactly what reconstruct.rs produces, so the encoder can
/// compute residuals. (x, y) is the block's top-left in whole samples; width and height are
/// at most 16.
#[allow(clippy::too_many_arguments)]
pub fn predict_luma(
    reference: &Plane,
    x: usize,
    y: usize,
    width: usize,
    height: usize,
    mv: MotionVector,
    bilinear: bool,
    out: &mut [u8],
    out_stride: usize,
) {
    let mut fetch = [0u8; FETCH_LEN];
    predict_displaced(
        reference,
        (x as isize, y as isize, width, height),
        mv,
        bilinear,
        &mut fetch,
        out,
        out_stride,
    );
}

/// The largest block the search and prediction handle: a macroblock's luma.
const MAX_SIZE: usize = 16;
/// Row stride of the edge-extended scratch block: a 16x16 block and its filter taps.
const FETCH_STRIDE: usize = MAX_SIZE + 5;
const FETCH_LEN: usize = FETCH_STRIDE * FETCH_STRIDE;

/// Copies the `N` x `h` samples at (x0, y0) of `plane`, edge-extended (RFC 6386 §18.1)
/// where they fall outside it, to `out` (row stride `N`). Rows are always whole, so every
/// copy has a fixed size; the caller reads the part it needs.
fn fetch_extended<const N: usize>(
    plane: &Plane,
    (x0, y0): (isize, isize),
    h: usize,
    out: &mut [u8],
) {
    let max_y = plane.height as isize - 1;
    let mut previous_y = usize::MAX;
    let mut samples = [0u8; N];
    for (r, dst) in out.chunks_exact_mut(N).take(h).enumerate() {
        let sy = (y0 + r as isize).clamp(0, max_y) as usize;
        // Rows above or below the picture repeat the edge row.
        if sy != previous_y {
            extended_row(
                &plane.data[sy * plane.stride..][..plane.width],
                x0,
                &mut samples,
            );
            previous_y = sy;
        }
        dst.copy_from_slice(&samples);
    }
}

/// The `N` (at most 32) samples of `row` from column `x0` on, clamped into the row. Beside
/// the picture, the row's end is laid next to a run of its edge sample in a fixed-size
/// buffer, and the window is copied from there: no per-sample clamping.
#[inline(always)]
fn extended_row<const N: usize>(row: &[u8], x0: isize, out: &mut [u8; N]) {
    const PAD: usize = 32;
    let width = row.len() as isize;
    if x0 >= 0 && x0 + N as isize <= width {
        out.copy_from_slice(&row[x0 as usize..][..N]);
    } else if row.len() >= PAD && x0 < 0 {
        let mut extended = [row[0]; 2 * PAD];
        extended[PAD..].copy_from_slice(&row[..PAD]);
        let start = (PAD as isize + x0).max(0) as usize;
        out.copy_from_slice(&extended[start..][..N]);
    } else if row.len() >= PAD {
        let mut extended = [row[row.len() - 1]; 2 * PAD];
        extended[..PAD].copy_from_slice(&row[row.len() - PAD..]);
        let start = (x0 - (width - PAD as isize)).min((2 * PAD - N) as isize) as usize;
        out.copy_from_slice(&extended[start..][..N]);
    } else {
        for (c, d) in out.iter_mut().enumerate() {
            *d = row[(x0 + c as isize).clamp(0, width - 1) as usize];
        }
    }
}

/// Predicts the `w`x`h` block at (x, y) displaced by `mv` (quarter samples) into `out`, as
/// reconstruct.rs does: the decoder doubles the vector to eighth samples, moves the origin
/// by the whole part and filters with the fraction; blocks whose filter taps (two samples
/// before, three after) leave the plane read an edge-extended copy in `fetch`.
fn predict_displaced(
    plane: &Plane,
    (x, y, w, h): (isize, isize, usize, usize),
    mv: MotionVector,
    bilinear: bool,
    fetch: &mut [u8; FETCH_LEN],
    out: &mut [u8],
    out_stride: usize,
) {
    let bx = x + isize::from(mv.col >> 2);
    let by = y + isize::from(mv.row >> 2);
    let mx = 2 * (mv.col & 3) as usize;
    let my = 2 * (mv.row & 3) as usize;
    let inside = bx >= 2
        && by >= 2
        && bx + w as isize + 3 <= plane.width as isize
        && by + h as isize + 3 <= plane.height as isize;
    let (src, src_pos, src_stride): (&[u8], usize, usize) = if inside {
        (
            &plane.data,
            by as usize * plane.stride + bx as usize,
            plane.stride,
        )
    } else {
        fetch_extended::<FETCH_STRIDE>(plane, (bx - 2, by - 2), h + 5, fetch);
        (&fetch[..], 2 * FETCH_STRIDE + 2, FETCH_STRIDE)
    };
    if bilinear {
        bilinear_predict(src, src_pos, src_stride, out, 0, out_stride, w, h, mx, my);
    } else {
        sixtap_predict(src, src_pos, src_stride, out, 0, out_stride, w, h, mx, my);
    }
}

/// Interpolated planes around one whole-sample anchor, shared by the sub-sample candidates
/// near it. The decoder's prediction is the horizontal pass and then the vertical one, each
/// rounded to 8 bits, and a pass with fraction 0 is the identity (see predict_inter.rs);
/// so every candidate whose whole-sample part lies 0 or 1 sample above/left of the anchor
/// is a window of one of these planes: the reference itself, a horizontal pass per column
/// fraction, or a vertical pass of either per fraction pair. Each plane is computed once,
/// when first needed, one column and one row larger than the block; the eight half-sample
/// neighbours then cost three passes instead of eight two-pass predictions.
struct SubpelCache {
    /// Block origin in the reference at the anchor vector.
    origin: Option<(isize, isize)>,
    /// The anchor, in quarter samples.
    anchor: (i32, i32),
    /// An edge-extended copy of the reference from (origin.y - 5, origin.x - 3), used
    /// when that region is not wholly inside the plane.
    area_fetched: bool,
    area: [u8; AREA_LEN],
    /// Horizontal passes (fractions 2, 4, 6 eighths) of rows origin.y - 3 .. + h + 3 and
    /// columns origin.x - 1 ..= + w - 1, stored from column 2 of each row.
    horizontal: [[u8; HORIZONTAL_LEN]; 3],
    horizontal_ready: [bool; 3],
    /// Vertical passes (fractions 2, 4, 6) of the reference or of a horizontal pass
    /// (fractions 0, 2, 4, 6): rows origin.y - 1 ..= + h - 1, columns as above.
    vertical: [[u8; VERTICAL_LEN]; 12],
    vertical_ready: [bool; 12],
}

/// Plane rows carry two samples before and three after the ones computed: the margins
/// the filter kernels' contracts name.
const AREA_STRIDE: usize = MAX_SIZE + 8;
const AREA_ROWS: usize = MAX_SIZE + 11;
const AREA_LEN: usize = AREA_STRIDE * AREA_ROWS;
const HORIZONTAL_STRIDE: usize = MAX_SIZE + 6;
const HORIZONTAL_LEN: usize = HORIZONTAL_STRIDE * (MAX_SIZE + 6);
const VERTICAL_STRIDE: usize = MAX_SIZE + 1;
const VERTICAL_LEN: usize = VERTICAL_STRIDE * (MAX_SIZE + 1);

/// An interpolation pass, as the decoder's kernels compute it.
type Pass = fn(&[u8], usize, usize, &mut [u8], usize, usize, usize, usize, usize, usize);

impl SubpelCache {
    #[inline(always)]
    fn new() -> Self {
        SubpelCache {
            origin: None,
            anchor: (0, 0),
            area_fetched: false,
            area: [0; AREA_LEN],
            horizontal: [[0; HORIZONTAL_LEN]; 3],
            horizontal_ready: [false; 3],
            vertical: [[0; VERTICAL_LEN]; 12],
            vertical_ready: [false; 12],
        }
    }

    /// Anchors the cache at the whole-sample vector `anchor` (quarter samples, a multiple
    /// of 4) for the `w`x`h` block at (x, y).
    fn anchor(
        &mut self,
        plane: &Plane,
        (x, y, w, h): (isize, isize, usize, usize),
        anchor: (i32, i32),
    ) {
        let (bx, by) = (x + (anchor.1 >> 2) as isize, y + (anchor.0 >> 2) as isize);
        self.origin = Some((bx, by));
        self.anchor = anchor;
        let inside = bx >= 3
            && by >= 5
            && bx + w as isize + 5 <= plane.width as isize
            && by + h as isize + 6 <= plane.height as isize;
        self.area_fetched = !inside;
        if !inside {
            fetch_extended::<AREA_STRIDE>(plane, (bx - 3, by - 5), h + 11, &mut self.area);
        }
        self.horizontal_ready = [false; 3];
        self.vertical_ready = [false; 12];
    }

    /// The offsets of `mv` from the anchor, when the cache covers it.
    fn covers(&self, mv: MotionVector) -> Option<(i32, i32)> {
        self.origin?;
        let dr = i32::from(mv.row) - self.anchor.0;
        let dc = i32::from(mv.col) - self.anchor.1;
        ((-4..4).contains(&dr) && (-4..4).contains(&dc)).then_some((dr, dc))
    }

    /// The prediction for the `w`x`h` block with vector `(dr, dc)` quarter samples from the
    /// anchor (as [`Self::covers`] returned): a buffer, the block's top-left in it and its
    /// stride.
    fn window<'p>(
        &'p mut self,
        plane: &'p Plane,
        (dr, dc): (i32, i32),
        (w, h): (usize, usize),
        bilinear: bool,
    ) -> (&'p [u8], usize, usize) {
        let (kr, fr) = ((dr >> 2) as isize, (2 * (dr & 3)) as usize);
        let (kc, fc) = ((dc >> 2) as isize, (2 * (dc & 3)) as usize);
        let (bx, by) = self.origin.unwrap_or((0, 0));
        // The reference from (by - 5, bx - 3) on.
        let (area, area_pos, area_stride): (&[u8], usize, usize) = if self.area_fetched {
            (&self.area, 0, AREA_STRIDE)
        } else {
            let pos = (by - 5) as usize * plane.stride + (bx - 3) as usize;
            (&plane.data, pos, plane.stride)
        };
        let pass: Pass = if bilinear {
            bilinear_predict
        } else {
            sixtap_predict
        };
        if fc != 0 && !self.horizontal_ready[fc / 2 - 1] {
            let out = &mut self.horizontal[fc / 2 - 1];
            let src_pos = area_pos + 2 * area_stride + 2;
            let rows = h + 6;
            pass(
                area,
                src_pos,
                area_stride,
                out,
                2,
                HORIZONTAL_STRIDE,
                w,
                rows,
                fc,
                0,
            );
            // The extra column, at w.
            let taps = Taps::new(bilinear, fc);
            for r in 0..rows {
                let at = src_pos + r * area_stride + w;
                out[2 + r * HORIZONTAL_STRIDE + w] = taps.apply(area, at, 1);
            }
            self.horizontal_ready[fc / 2 - 1] = true;
        }
        if fr == 0 {
            return if fc == 0 {
                let pos = area_pos + (5 + kr) as usize * area_stride + (3 + kc) as usize;
                (area, pos, area_stride)
            } else {
                let pos = (3 + kr) as usize * HORIZONTAL_STRIDE + (3 + kc) as usize;
                (&self.horizontal[fc / 2 - 1], pos, HORIZONTAL_STRIDE)
            };
        }
        let index = (fc / 2) * 3 + fr / 2 - 1;
        if !self.vertical_ready[index] {
            let out = &mut self.vertical[index];
            let (src, src_pos, src_stride): (&[u8], usize, usize) = if fc == 0 {
                (area, area_pos + 4 * area_stride + 2, area_stride)
            } else {
                let src = &self.horizontal[fc / 2 - 1];
                (src, 2 * HORIZONTAL_STRIDE + 2, HORIZONTAL_STRIDE)
            };
            pass(
                src,
                src_pos,
                src_stride,
                out,
                0,
                VERTICAL_STRIDE,
                w,
                h + 1,
                0,
                fr,
            );
            let taps = Taps::new(bilinear, fr);
            for r in 0..=h {
                let at = src_pos + r * src_stride + w;
                out[r * VERTICAL_STRIDE + w] = taps.apply(src, at, src_stride);
            }
            self.vertical_ready[index] = true;
        }
        let pos = (1 + kr) as usize * VERTICAL_STRIDE + (1 + kc) as usize;
        (&self.vertical[index], pos, VERTICAL_STRIDE)
    }
}

/// One filter of RFC 6386 §18.3 for single samples: the column the kernels' fast widths
/// leave out of a plane one sample wider than the block (a 1-wide kernel call costs as
/// much as a 16-wide one). The cache test checks it against the kernels.
struct Taps {
    taps: [i32; 6],
    bilinear: bool,
}

impl Taps {
    fn new(bilinear: bool, fraction: usize) -> Taps {
        let taps = if bilinear {
            let [a, b] = BILINEAR_FILTERS[fraction];
            [a, b, 0, 0, 0, 0]
        } else {
            SIXTAP_FILTERS[fraction]
        };
        Taps { taps, bilinear }
    }

    /// The filtered sample at `src[at]`, the taps `step` apart.
    #[inline(always)]
    fn apply(&self, src: &[u8], at: usize, step: usize) -> u8 {
        let t = &self.taps;
        let sum = if self.bilinear {
            t[0] * i32::from(src[at]) + t[1] * i32::from(src[at + step])
        } else {
            let s = &src[at - 2 * step..=at + 3 * step];
            let sample = |k: usize| i32::from(s[k * step]);
            t[0] * sample(0)
                + t[1] * sample(1)
                + t[2] * sample(2)
                + t[3] * sample(3)
                + t[4] * sample(4)
                + t[5] * sample(5)
        };
        ((sum + 64) >> 7).clamp(0, 255) as u8
    }
}

/// A rectangle of whole-sample vectors, inclusive; empty when a minimum exceeds its maximum.
#[derive(Clone, Copy, Debug)]
struct Window {
    min_row: i32,
    max_row: i32,
    min_col: i32,
    max_col: i32,
}

impl Window {
    fn is_empty(&self) -> bool {
        self.min_row > self.max_row || self.min_col > self.max_col
    }

    fn contains(&self, row: i32, col: i32) -> bool {
        (self.min_row..=self.max_row).contains(&row) && (self.min_col..=self.max_col).contains(&col)
    }

    /// The part of this window within `radius` of (row, col).
    fn around(&self, row: i32, col: i32, radius: i32) -> Window {
        Window {
            min_row: self.min_row.max(row.saturating_sub(radius)),
            max_row: self.max_row.min(row.saturating_add(radius)),
            min_col: self.min_col.max(col.saturating_sub(radius)),
            max_col: self.max_col.min(col.saturating_add(radius)),
        }
    }
}

/// The eight neighbours, axial ones first (as (row, col) steps).
const SQUARE: [(i32, i32); 8] = [
    (-1, 0),
    (0, -1),
    (0, 1),
    (1, 0),
    (-1, -1),
    (-1, 1),
    (1, -1),
    (1, 1),
];
const DIAMOND: [(i32, i32); 4] = [(-1, 0), (0, -1), (0, 1), (1, 0)];
const HEXAGON: [(i32, i32); 6] = [(0, -2), (-2, -1), (-2, 1), (0, 2), (2, 1), (2, -1)];

/// The large pattern of the whole-sample stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pattern {
    /// Eight neighbours at step sizes halving from `range >> shift` down to 1, once each;
    /// then again from the start with the first step halved, up to `passes` passes.
    NStep { shift: u32, passes: usize },
    /// The hexagon, moved until its centre wins or after `max_moves` moves.
    Hexagon { max_moves: usize },
}

/// Sub-sample neighbours examined per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SubpelPattern {
    All8,
    /// Four axial neighbours, then the diagonal between the better of each pair.
    FourPlusOne,
}

/// What one speed level does; see the table in the module documentation.
#[derive(Clone, Copy, Debug)]
struct Effort {
    /// How many of the best (distinct, whole-sample) starts get a pattern search.
    pattern_starts: usize,
    pattern: Pattern,
    /// The step-1 descent that finishes each pattern search.
    descent: &'static [(i32, i32)],
    descent_moves: usize,
    /// Radius of the exhaustive window around the best whole-sample vector; 0 for none.
    exhaustive: i32,
    /// Whole-sample vectors re-ranked by their true cost.
    true_candidates: usize,
    half: SubpelPattern,
    /// The first quarter-sample step.
    quarter: Option<SubpelPattern>,
    /// Quarter-sample steps in all, the later ones four-plus-one and only while the
    /// previous one moved.
    quarter_rounds: usize,
}

impl Effort {
    fn for_speed(speed: u8) -> Effort {
        let thorough = Effort {
            pattern_starts: 3,
            pattern: Pattern::NStep {
                shift: 0,
                passes: usize::MAX,
            },
            descent: &SQUARE,
            descent_moves: 16,
            exhaustive: 2,
            true_candidates: 2,
            half: SubpelPattern::All8,
            quarter: Some(SubpelPattern::All8),
            quarter_rounds: 2,
        };
        let quick = Effort {
            pattern_starts: 1,
            pattern: Pattern::NStep {
                shift: 1,
                passes: 2,
            },
            descent: &DIAMOND,
            exhaustive: 0,
            true_candidates: 1,
            quarter: Some(SubpelPattern::FourPlusOne),
            quarter_rounds: 1,
            ..thorough
        };
        match speed {
            0 => thorough,
            1 => Effort {
                pattern_starts: 2,
                exhaustive: 0,
                quarter: Some(SubpelPattern::FourPlusOne),
                ..thorough
            },
            2 => Effort {
                pattern_starts: 2,
                pattern: Pattern::NStep {
                    shift: 1,
                    passes: 3,
                },
                exhaustive: 0,
                quarter: Some(SubpelPattern::FourPlusOne),
                ..thorough
            },
            3 => Effort {
                descent: &SQUARE,
                quarter_rounds: 2,
                ..quick
            },
            4 => quick,
            5 => Effort {
                pattern: Pattern::NStep {
                    shift: 2,
                    passes: 2,
                },
                ..quick
            },
            6 => Effort {
                pattern: Pattern::Hexagon { max_moves: 16 },
                ..quick
            },
            7 => Effort {
                pattern: Pattern::Hexagon { max_moves: 8 },
                descent_moves: 8,
                half: SubpelPattern::FourPlusOne,
                ..quick
            },
            _ => Effort {
                pattern: Pattern::Hexagon { max_moves: 4 },
                descent_moves: 4,
                half: SubpelPattern::FourPlusOne,
                quarter: None,
                ..quick
            },
        }
    }
}

/// A whole-sample position and its SAD-stage cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Whole {
    row: i32,
    col: i32,
    cost: u64,
}

/// A vector and its true cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scored {
    mv: MotionVector,
    cost: u64,
    sse: u32,
}

const NONE: Scored = Scored {
    mv: MotionVector::ZERO,
    cost: u64::MAX,
    sse: u32::MAX,
};

/// A direct-mapped cache of exact costs (and SSEs), so that overlapping patterns and
/// windows do not evaluate a position twice.
struct Memo<const N: usize> {
    keys: [u32; N],
    values: [(u64, u32); N],
}

impl<const N: usize> Memo<N> {
    /// The vector (-32768, -32768): never stored.
    const EMPTY: u32 = 0x8000_8000;

    #[inline(always)]
    fn new() -> Self {
        Memo {
            keys: [Self::EMPTY; N],
            values: [(0, 0); N],
        }
    }

    fn key(row: i32, col: i32) -> u32 {
        (u32::from(row as u16) << 16) | u32::from(col as u16)
    }

    fn slot(key: u32) -> usize {
        (key.wrapping_mul(0x9e37_79b1) >> 24) as usize % N
    }

    fn get(&self, key: u32) -> Option<(u64, u32)> {
        let slot = Self::slot(key);
        (self.keys[slot] == key && key != Self::EMPTY).then_some(self.values[slot])
    }

    fn put(&mut self, key: u32, value: (u64, u32)) {
        let slot = Self::slot(key);
        self.keys[slot] = key;
        self.values[slot] = value;
    }
}

const WHOLE_MEMO: usize = 64;
const TRUE_MEMO: usize = 32;

/// Weight of one unit of SAD in the whole-sample stage: 256 (as SSE in the true cost)
/// times 16, the fixed-point scale of [`Searcher::lambda_sad`].
const SAD_SCALE: u64 = 256 * 16;

/// One block's search: the block, its reference, and the costs found so far.
struct Searcher<'a> {
    reference: &'a Plane,
    /// The source block, row stride [`MAX_SIZE`].
    source: [u8; MAX_SIZE * MAX_SIZE],
    x: isize,
    y: isize,
    w: usize,
    h: usize,
    bounds: SearchBounds,
    vector_cost: &'a dyn VectorCost,
    lambda: u64,
    /// 16·√λ: SAD grows about as the square root of SSE, so the SAD stage trades rate
    /// against SAD at √λ (x264 and libvpx's per-bit SAD tables follow the same rule).
    lambda_sad: u64,
    bilinear: bool,
    whole_memo: Memo<WHOLE_MEMO>,
    true_memo: Memo<TRUE_MEMO>,
    fetch: [u8; FETCH_LEN],
    prediction: [u8; MAX_SIZE * MAX_SIZE],
    subpel: SubpelCache,
    /// The best and second-best exactly evaluated whole-sample positions.
    top_whole: [Whole; 2],
}

impl<'a> Searcher<'a> {
    #[inline(always)]
    fn new(
        source: &Plane,
        reference: &'a Plane,
        (x, y, w, h): (usize, usize, usize, usize),
        bounds: SearchBounds,
        vector_cost: &'a dyn VectorCost,
        lambda: u32,
        bilinear: bool,
    ) -> Self {
        let mut block = [0u8; MAX_SIZE * MAX_SIZE];
        // Whole rows where the plane has them: fixed-size copies, no calls.
        let copy = if x + MAX_SIZE <= source.width {
            MAX_SIZE
        } else {
            w
        };
        for (r, row) in block.chunks_exact_mut(MAX_SIZE).take(h).enumerate() {
            row[..copy].copy_from_slice(&source.data[(y + r) * source.stride + x..][..copy]);
        }
        let lambda = u64::from(lambda);
        let unset = Whole {
            row: 0,
            col: 0,
            cost: u64::MAX,
        };
        Searcher {
            reference,
            source: block,
            x: x as isize,
            y: y as isize,
            w,
            h,
            bounds,
            vector_cost,
            lambda,
            lambda_sad: (lambda << 8).isqrt(),
            bilinear,
            whole_memo: Memo::new(),
            true_memo: Memo::new(),
            fetch: [0; FETCH_LEN],
            prediction: [0; MAX_SIZE * MAX_SIZE],
            subpel: SubpelCache::new(),
            top_whole: [unset; 2],
        }
    }

    fn run(&mut self, starts: &[MotionVector], config: &SearchConfig) -> SearchResult {
        let effort = Effort::for_speed(config.speed);
        let whole = self.bounds.whole_samples();
        let subpel = config.subpel || whole.is_empty();
        let mut best = NONE;

        // The exact starts, so that the result never loses to one of them.
        for &start in starts {
            let mv = if subpel {
                start
            } else {
                let (row, col) = round_to_whole(start);
                MotionVector {
                    row: (row * 4) as i16,
                    col: (col * 4) as i16,
                }
            };
            if self.bounds.contains(mv) {
                self.consider(&mut best, mv);
            }
        }

        if !whole.is_empty() {
            for candidate in self.search_whole(starts, whole, config.range.max(0), &effort) {
                if candidate.cost != u64::MAX {
                    let mv = MotionVector {
                        row: (candidate.row * 4) as i16,
                        col: (candidate.col * 4) as i16,
                    };
                    self.consider(&mut best, mv);
                }
            }
        }
        if best.cost == u64::MAX {
            // Nothing lay inside the bounds: start from the clamped first start.
            let first = starts[0];
            let mv = self
                .bounds
                .clamp(i32::from(first.row), i32::from(first.col));
            self.consider(&mut best, mv);
        }

        if subpel {
            let anchor = (i32::from(best.mv.row) & !3, i32::from(best.mv.col) & !3);
            self.subpel
                .anchor(self.reference, (self.x, self.y, self.w, self.h), anchor);
            best = self.refine(best, 2, effort.half);
            if let Some(first) = effort.quarter {
                let mut pattern = first;
                for _ in 0..effort.quarter_rounds {
                    let before = best.mv;
                    best = self.refine(best, 1, pattern);
                    if best.mv == before {
                        break;
                    }
                    pattern = SubpelPattern::FourPlusOne;
                }
            }
        }
        SearchResult {
            mv: best.mv,
            sse: best.sse,
            cost: best.cost,
        }
    }

    /// The whole-sample stage; returns the best positions found (cost `u64::MAX` if unset).
    fn search_whole(
        &mut self,
        starts: &[MotionVector],
        whole: Window,
        range: i32,
        effort: &Effort,
    ) -> [Whole; 2] {
        // Every start, rounded and clamped; keep the best few distinct ones.
        let mut ranked: [Option<Whole>; 3] = [None; 3];
        for &start in starts {
            let (row, col) = round_to_whole(start);
            let row = row.clamp(whole.min_row, whole.max_row);
            let col = col.clamp(whole.min_col, whole.max_col);
            if ranked
                .iter()
                .flatten()
                .any(|p| (p.row, p.col) == (row, col))
            {
                continue;
            }
            let cost = self.whole_cost(row, col, u64::MAX);
            let candidate = Whole { row, col, cost };
            insert_ranked(&mut ranked, candidate);
        }

        let mut best = ranked[0].unwrap_or(Whole {
            row: 0,
            col: 0,
            cost: u64::MAX,
        });
        for start in ranked.iter().take(effort.pattern_starts).flatten() {
            let window = whole.around(start.row, start.col, range);
            let mut point = *start;
            point = match effort.pattern {
                Pattern::NStep { shift, passes } => {
                    self.n_step(point, window, range >> shift, passes)
                }
                Pattern::Hexagon { max_moves } => self.descend(point, window, &HEXAGON, max_moves),
            };
            point = self.descend(point, window, effort.descent, effort.descent_moves);
            if point.cost < best.cost {
                best = point;
            }
        }
        if effort.exhaustive > 0 {
            best = self.exhaustive(best, whole.around(best.row, best.col, effort.exhaustive));
        }
        let mut top = self.top_whole;
        if effort.true_candidates < 2 {
            top[1].cost = u64::MAX;
        }
        if best.cost < top[0].cost {
            top[0] = best;
        }
        top
    }

    /// The SAD-stage cost of the whole-sample vector (row, col): `sad * SAD_SCALE +
    /// lambda_sad * rate`, exact when below `limit`, otherwise some value at least `limit`.
    fn whole_cost(&mut self, row: i32, col: i32, limit: u64) -> u64 {
        let key = Memo::<WHOLE_MEMO>::key(row, col);
        if let Some((cost, _)) = self.whole_memo.get(key) {
            return cost;
        }
        let mv = MotionVector {
            row: (row * 4) as i16,
            col: (col * 4) as i16,
        };
        let rate = self
            .lambda_sad
            .saturating_mul(u64::from(self.vector_cost.cost(mv)));
        if rate >= limit {
            return rate;
        }
        let sad_limit = (limit - rate).div_ceil(SAD_SCALE).min(u64::from(u32::MAX)) as u32;
        let (bx, by) = (self.x + col as isize, self.y + row as isize);
        let (w, h) = (self.w, self.h);
        let plane = self.reference;
        let columns_inside = bx >= 0 && bx + w as isize <= plane.width as isize;
        let rows_inside = by >= 0 && by + h as isize <= plane.height as isize;
        let sad = if columns_inside && rows_inside {
            let pos = by as usize * plane.stride + bx as usize;
            let blocks = (
                &self.source[..],
                0,
                MAX_SIZE,
                &plane.data[..],
                pos,
                plane.stride,
            );
            sad_bounded(blocks, w, h, sad_limit)
        } else if columns_inside {
            // Above or below the picture: rows clamp, and each is still a plain slice.
            let max_y = plane.height as isize - 1;
            let mut total = 0;
            for r in 0..h {
                let sy = (by + r as isize).clamp(0, max_y) as usize;
                let pos = sy * plane.stride + bx as usize;
                total += sad(
                    &self.source,
                    r * MAX_SIZE,
                    MAX_SIZE,
                    &plane.data,
                    pos,
                    0,
                    w,
                    1,
                );
                if total >= sad_limit {
                    break;
                }
            }
            total
        } else {
            fetch_extended::<FETCH_STRIDE>(plane, (bx, by), h, &mut self.fetch);
            let blocks = (
                &self.source[..],
                0,
                MAX_SIZE,
                &self.fetch[..],
                0,
                FETCH_STRIDE,
            );
            sad_bounded(blocks, w, h, sad_limit)
        };
        let cost = (u64::from(sad) * SAD_SCALE).saturating_add(rate);
        if sad < sad_limit {
            self.whole_memo.put(key, (cost, 0));
            let found = Whole { row, col, cost };
            if cost < self.top_whole[0].cost {
                self.top_whole = [found, self.top_whole[0]];
            } else if cost < self.top_whole[1].cost
                && (row, col) != (self.top_whole[0].row, self.top_whole[0].col)
            {
                self.top_whole[1] = found;
            }
        }
        cost
    }

    /// Moves `best` to (row, col) if that lies in `window` and costs less.
    fn try_whole(&mut self, best: &mut Whole, row: i32, col: i32, window: Window) {
        if window.contains(row, col) {
            let cost = self.whole_cost(row, col, best.cost);
            if cost < best.cost {
                *best = Whole { row, col, cost };
            }
        }
    }

    /// libvpx's NSTEP with its restarts: passes from `start` whose first steps halve from
    /// `first_step` (rounded down to a power of two), at most `passes` of them. A single
    /// pass with long steps can settle in a distant basin; the shorter restarts catch
    /// motion near the start. A pass that stayed at the start for its first k steps makes
    /// the next k passes redundant (libvpx's `num00`).
    fn n_step(&mut self, start: Whole, window: Window, first_step: i32, passes: usize) -> Whole {
        if first_step <= 0 {
            return start;
        }
        let mut best = start;
        let mut pass_step = 1 << first_step.ilog2();
        let mut redundant = 0;
        for _ in 0..passes {
            if pass_step == 0 {
                break;
            }
            if redundant > 0 {
                redundant -= 1;
            } else {
                let (found, unmoved) = self.n_step_pass(start, window, pass_step);
                redundant = unmoved;
                if found.cost < best.cost {
                    best = found;
                }
            }
            pass_step /= 2;
        }
        best
    }

    /// One NSTEP pass: the eight neighbours at distance `step`, moving to the best, then at
    /// half that distance, down to 1. Also returns how many steps left it at the start.
    fn n_step_pass(&mut self, start: Whole, window: Window, mut step: i32) -> (Whole, usize) {
        let mut best = start;
        let mut unmoved = 0;
        while step > 0 {
            let center = best;
            for (dr, dc) in SQUARE {
                self.try_whole(
                    &mut best,
                    center.row + dr * step,
                    center.col + dc * step,
                    window,
                );
            }
            if best == start {
                unmoved += 1;
            }
            step /= 2;
        }
        (best, unmoved)
    }

    /// Moves the pattern to its best point until its centre wins (at most `max_moves` times).
    fn descend(
        &mut self,
        mut best: Whole,
        window: Window,
        pattern: &[(i32, i32)],
        max_moves: usize,
    ) -> Whole {
        for _ in 0..max_moves {
            let center = best;
            for &(dr, dc) in pattern {
                self.try_whole(&mut best, center.row + dr, center.col + dc, window);
            }
            if best == center {
                break;
            }
        }
        best
    }

    /// Every position of `window`.
    fn exhaustive(&mut self, mut best: Whole, window: Window) -> Whole {
        for row in window.min_row..=window.max_row {
            for col in window.min_col..=window.max_col {
                self.try_whole(&mut best, row, col, window);
            }
        }
        best
    }

    /// The true cost of `mv` (inside the bounds): `sse * 256 + lambda * rate`, exact when
    /// below `limit`, otherwise some value at least `limit` (with an unknown SSE).
    fn true_cost(&mut self, mv: MotionVector, limit: u64) -> (u64, u32) {
        let key = Memo::<TRUE_MEMO>::key(i32::from(mv.row), i32::from(mv.col));
        if let Some(found) = self.true_memo.get(key) {
            return found;
        }
        let rate = self
            .lambda
            .saturating_mul(u64::from(self.vector_cost.cost(mv)));
        if rate >= limit {
            return (rate, u32::MAX);
        }
        let (w, h) = (self.w, self.h);
        let (bx, by) = (
            self.x + isize::from(mv.col >> 2),
            self.y + isize::from(mv.row >> 2),
        );
        let plane = self.reference;
        let whole_inside = (mv.row | mv.col) & 3 == 0
            && bx >= 0
            && by >= 0
            && bx + w as isize <= plane.width as isize
            && by + h as isize <= plane.height as isize;
        let (prediction, pos, stride) = match self.subpel.covers(mv) {
            // A whole-sample prediction is the reference itself.
            _ if whole_inside => (
                &plane.data[..],
                by as usize * plane.stride + bx as usize,
                plane.stride,
            ),
            Some(offsets) => self
                .subpel
                .window(self.reference, offsets, (w, h), self.bilinear),
            None => {
                predict_displaced(
                    self.reference,
                    (self.x, self.y, w, h),
                    mv,
                    self.bilinear,
                    &mut self.fetch,
                    &mut self.prediction,
                    MAX_SIZE,
                );
                (&self.prediction[..], 0, MAX_SIZE)
            }
        };
        let sse_limit = (limit - rate).div_ceil(256).min(u64::from(u32::MAX)) as u32;
        let blocks = (&self.source[..], 0, MAX_SIZE, prediction, pos, stride);
        let sse = sse_bounded(blocks, w, h, sse_limit);
        // Capped below u64::MAX, which marks "nothing found yet".
        let cost = (u64::from(sse) * 256)
            .saturating_add(rate)
            .min(u64::MAX - 1);
        if sse < sse_limit {
            self.true_memo.put(key, (cost, sse));
        }
        (cost, sse)
    }

    /// Replaces `best` by `mv` if that costs less.
    fn consider(&mut self, best: &mut Scored, mv: MotionVector) {
        let (cost, sse) = self.true_cost(mv, best.cost);
        if cost < best.cost {
            *best = Scored { mv, cost, sse };
        }
    }

    /// Like [`Self::consider`] for (row, col) when that lies inside the bounds; returns
    /// its cost (`u64::MAX` outside), exact if `exact`, else only when it wins.
    fn consider_at(&mut self, best: &mut Scored, row: i32, col: i32, exact: bool) -> u64 {
        let mv = MotionVector {
            row: row as i16,
            col: col as i16,
        };
        let inside = (self.bounds.min_row..=self.bounds.max_row).contains(&row)
            && (self.bounds.min_col..=self.bounds.max_col).contains(&col);
        if !inside {
            return u64::MAX;
        }
        let limit = if exact { u64::MAX } else { best.cost };
        let (cost, sse) = self.true_cost(mv, limit);
        if cost < best.cost {
            *best = Scored { mv, cost, sse };
        }
        cost
    }

    /// One sub-sample step of `step` quarter samples around `best`.
    fn refine(&mut self, mut best: Scored, step: i32, pattern: SubpelPattern) -> Scored {
        let (row, col) = (i32::from(best.mv.row), i32::from(best.mv.col));
        match pattern {
            SubpelPattern::All8 => {
                for (dr, dc) in SQUARE {
                    self.consider_at(&mut best, row + dr * step, col + dc * step, false);
                }
            }
            SubpelPattern::FourPlusOne => {
                // The diagonal goes where the axial costs point, so those must be exact.
                let up = self.consider_at(&mut best, row - step, col, true);
                let down = self.consider_at(&mut best, row + step, col, true);
                let left = self.consider_at(&mut best, row, col - step, true);
                let right = self.consider_at(&mut best, row, col + step, true);
                let dr = if up < down { -step } else { step };
                let dc = if left < right { -step } else { step };
                self.consider_at(&mut best, row + dr, col + dc, false);
            }
        }
        best
    }
}

/// A quarter-sample vector rounded to the nearest whole sample, as (row, col).
fn round_to_whole(mv: MotionVector) -> (i32, i32) {
    ((i32::from(mv.row) + 2) >> 2, (i32::from(mv.col) + 2) >> 2)
}

/// Inserts `candidate` into `ranked` (best first), dropping the worst.
fn insert_ranked(ranked: &mut [Option<Whole>], candidate: Whole) {
    let mut carry = Some(candidate);
    for slot in ranked.iter_mut() {
        match (*slot, carry) {
            (None, _) => {
                *slot = carry;
                return;
            }
            (Some(current), Some(c)) if c.cost < current.cost => {
                *slot = Some(c);
                carry = Some(current);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
