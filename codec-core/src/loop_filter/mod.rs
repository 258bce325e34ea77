//! The loop filter's per-edge kernels and control parameters (RFC 6386 §15.2–15.4).
//!
//! Which edges of which macroblock get filtered, in which order and with which level, is the
//! frame-level traversal's business; this module filters one edge at a time.
//!
//! Geometry shared by the edge functions: the edge lies between sample `pos - across` and
//! sample `pos`, so `pos` is the first sample after the edge ("q0") and `pos - across` the
//! last before it ("p0"). `across` steps perpendicular to the edge (1 for a vertical edge,
//! the stride for a horizontal edge) and `along` steps along it (the stride for a vertical
//! edge, 1 for a horizontal edge). `count` segments are filtered, the i-th centred on
//! `pos + i * along`. The segments along one edge are disjoint, so their order is immaterial
//! (§15.1); the kernels process up to 16 of them at once, lane by lane, which lets the
//! compiler vectorise the arithmetic. (A made-up geometry whose segments overlap, which no
//! real edge has, gives unspecified samples but still never panics within bounds.)
//!
//! The arithmetic is the spec's (and libvpx's) exactly: samples are converted to signed
//! values by flipping the top bit ("u2s"), intermediate sums are clamped to -128..=127
//! ("c", here saturating 8-bit arithmetic), and divisions by 8 are arithmetic shifts that
//! round towards negative infinity. Every operation saturates or provably stays in range,
//! so no sample values can overflow or panic.

/// Lanes processed per kernel call: a luma edge is 16 segments long.
const LANES: usize = 16;

/// The thresholds for one kind of edge (RFC 6386 §15.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgeParams {
    /// "E": an edge is filtered only where `|p0 - q0| * 2 + |p1 - q1| / 2 <= edge_limit`.
    /// It already includes the interior limit: `(level + 2) * 2 + interior_limit` for
    /// macroblock edges, `level * 2 + interior_limit` for subblock edges. The simple filter
    /// uses the same value (§15.4: "Both the simple and normal filters ...").
    pub edge_limit: u8,
    /// "I": the normal filter is disabled where any adjacent pair among p3..p0 or q0..q3
    /// differs by more than this.
    pub interior_limit: u8,
    /// The normal filter treats a segment as having high edge variance where `|p1 - p0|` or
    /// `|q1 - q0|` exceeds this.
    pub hev_threshold: u8,
}

/// The parameters for both kinds of edge at one loop-filter level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterParams {
    /// For the edges between macroblocks (the left and top edges of each macroblock).
    pub mb_edge: EdgeParams,
    /// For the edges between subblocks inside a macroblock.
    pub sub_edge: EdgeParams,
}

/// The largest loop-filter level the 6-bit header fields can express.
const MAX_LEVEL: u8 = 63;
/// The largest sharpness the 3-bit header field can express.
const MAX_SHARPNESS: u8 = 7;

/// Derives the thresholds for a (segment- and delta-adjusted) loop-filter `level`, the
/// frame's `sharpness`, and whether the frame is a key frame (RFC 6386 §15.4).
///
/// The caller must skip filtering entirely where `level` is 0 (§15); the values returned
/// for 0 are merely well-defined. `level` above 63 and `sharpness` above 7 cannot come
/// from a header and are clamped to those maxima, as libvpx clamps levels, so the limits
/// always fit in a `u8`.
///
/// The simple filter uses only the two `edge_limit`s; they depend on the sharpness through
/// the interior limit exactly as for the normal filter (this is what libvpx does; §15.2
/// only says "a limit value").
pub fn frame_filter_params(level: u8, sharpness: u8, key_frame: bool) -> FilterParams {
    let level = level.min(MAX_LEVEL);
    let sharpness = sharpness.min(MAX_SHARPNESS);

    let mut interior_limit = level;
    if sharpness > 0 {
        // Sharper pictures tolerate less smoothing of texture next to an edge.
        interior_limit >>= if sharpness > 4 { 2 } else { 1 };
        interior_limit = interior_limit.min(9 - sharpness);
    }
    let interior_limit = interior_limit.max(1);

    // Interframes get a higher threshold at the same level: more of their edges are
    // treated as smooth, so the wider filters apply more often.
    let hev_threshold = if key_frame {
        match level {
            40.. => 2,
            15.. => 1,
            _ => 0,
        }
    } else {
        match level {
            40.. => 3,
            20.. => 2,
            15.. => 1,
            _ => 0,
        }
    };

    // At most (63 + 2) * 2 + 63 = 193: no overflow.
    FilterParams {
        mb_edge: EdgeParams {
            edge_limit: (level + 2) * 2 + interior_limit,
            interior_limit,
            hev_threshold,
        },
        sub_edge: EdgeParams {
            edge_limit: level * 2 + interior_limit,
            interior_limit,
            hev_threshold,
        },
    }
}

/// The normal filter across a macroblock edge (RFC 6386 §15.3, `MBfilter`): modifies up to
/// three samples on each side (p2..q2) of each of the `count` segments. See the module
/// documentation for `pos`, `across` and `along`.
///
/// Requires `pos >= 4 * across` and every `pos + i * along + 3 * across` (for
/// `i < count`) to be inside `buf`.
pub fn normal_mb_edge(
    buf: &mut [u8],
    pos: usize,
    across: usize,
    along: usize,
    count: usize,
    p: EdgeParams,
) {
    filter_edge::<8>(buf, pos, across, along, count, 1..7, |lanes| {
        mb_kernel(lanes, p)
    });
}

/// The normal filter across a subblock edge inside a macroblock (RFC 6386 §15.3,
/// `subblock_filter`): modifies up to two samples on each side (p1..q1) of each of the
/// `count` segments. See the module documentation for `pos`, `across` and `along`.
///
/// Requires `pos >= 4 * across` and every `pos + i * along + 3 * across` (for
/// `i < count`) to be inside `buf`.
pub fn normal_sub_edge(
    buf: &mut [u8],
    pos: usize,
    across: usize,
    along: usize,
    count: usize,
    p: EdgeParams,
) {
    filter_edge::<8>(buf, pos, across, along, count, 2..6, |lanes| {
        sub_kernel(lanes, p)
    });
}

/// The simple filter across any luma edge (RFC 6386 §15.2, `simple_segment`): modifies p0
/// and q0 of each of the `count` segments where `|p0 - q0| * 2 + |p1 - q1| / 2` is at most
/// `edge_limit` (the `edge_limit` of [`frame_filter_params`]' macroblock or subblock
/// parameters). See the module documentation for `pos`, `across` and `along`.
///
/// Requires `pos >= 2 * across` and every `pos + i * along + across` (for `i < count`)
/// to be inside `buf`.
pub fn simple_edge(
    buf: &mut [u8],
    pos: usize,
    across: usize,
    along: usize,
    count: usize,
    edge_limit: u8,
) {
    filter_edge::<4>(buf, pos, across, along, count, 1..3, |lanes| {
        simple_kernel(lanes, edge_limit)
    });
}

/// Gathers the `TAPS` samples straddling the edge for up to [`LANES`] segments at a time
/// into lane arrays (lane array `k` holds the k-th sample across the edge, p-most first),
/// runs `kernel` on them and writes back the lane arrays in `written`.
#[inline(always)]
fn filter_edge<const TAPS: usize>(
    buf: &mut [u8],
    pos: usize,
    across: usize,
    along: usize,
    count: usize,
    written: core::ops::Range<usize>,
    kernel: impl Fn(&mut [[u8; LANES]; TAPS]),
) {
    let base = pos - TAPS / 2 * across;
    let mut start = 0;
    while start < count {
        let n = LANES.min(count - start);
        let first = base + start * along;
        // Lanes past `n` stay zero: a flat segment, which every kernel leaves alone, and
        // which is never written back anyway.
        let mut lanes = [[0u8; LANES]; TAPS];

        if along == 1 {
            // Horizontal edge: each lane array is a contiguous piece of one row. The
            // full-width case gets fixed-size copies instead of calls to memcpy.
            for (k, lane) in lanes.iter_mut().enumerate() {
                let row = &buf[first + k * across..];
                if n == LANES {
                    lane.copy_from_slice(&row[..LANES]);
                } else {
                    lane[..n].copy_from_slice(&row[..n]);
                }
            }
            kernel(&mut lanes);
            for k in written.clone() {
                let row = &mut buf[first + k * across..];
                if n == LANES {
                    row[..LANES].copy_from_slice(&lanes[k]);
                } else {
                    row[..n].copy_from_slice(&lanes[k][..n]);
                }
            }
        } else if across == 1 && along >= 8 && TAPS == 8 {
            // Vertical edge, normal filters: each segment is 8 contiguous samples of one
            // row. Transposing whole words is much cheaper than moving single bytes; word
            // `[i][h]` holds segment `8 * h + i`, and after the transpose lane `k`. Slicing
            // the edge's span once leaves one cheap length check per segment.
            let span = &mut buf[first..first + (n - 1) * along + 8];
            let mut words = [[0u64; 2]; 8];
            for (j, seg) in span.chunks(along).enumerate().take(LANES) {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(&seg[..8]);
                words[j % 8][j / 8] = u64::from_le_bytes(bytes);
            }
            let words = transpose8x8_pair(words);
            for (lane, [lo, hi]) in lanes.iter_mut().zip(words) {
                lane[..8].copy_from_slice(&lo.to_le_bytes());
                lane[8..].copy_from_slice(&hi.to_le_bytes());
            }
            kernel(&mut lanes);
            let mut words = [[0u64; 2]; 8];
            for (pair, lane) in words.iter_mut().zip(&lanes) {
                let (mut lo, mut hi) = ([0u8; 8], [0u8; 8]);
                lo.copy_from_slice(&lane[..8]);
                hi.copy_from_slice(&lane[8..]);
                *pair = [u64::from_le_bytes(lo), u64::from_le_bytes(hi)];
            }
            let words = transpose8x8_pair(words);
            // Writing all 8 samples back is harmless: the kernel leaves p3 and q3 (and,
            // for subblock edges, p2 and q2) as they were.
            for (j, seg) in span.chunks_mut(along).enumerate().take(LANES) {
                seg[..8].copy_from_slice(&words[j % 8][j / 8].to_le_bytes());
            }
        } else {
            for j in 0..n {
                for (k, lane) in lanes.iter_mut().enumerate() {
                    lane[j] = buf[first + j * along + k * across];
                }
            }
            kernel(&mut lanes);
            for j in 0..n {
                for k in written.clone() {
                    buf[first + j * along + k * across] = lanes[k][j];
                }
            }
        }
        start += n;
    }
}

/// Transposes two 8x8 byte matrices side by side, each held as eight little-endian words
/// (byte `j` of word `[i][h]` moves to byte `i` of word `[j][h]`), by swapping ever larger
/// blocks across the diagonal: single bytes within 2x2 blocks, then 2x2 blocks within 4x4
/// blocks, then 4x4 blocks. The two matrices go through identical steps, which the
/// compiler turns into 128-bit vector operations.
#[inline(always)]
fn transpose8x8_pair(mut r: [[u64; 2]; 8]) -> [[u64; 2]; 8] {
    for (step, mask) in [
        (1, 0x00ff_00ff_00ff_00ff_u64),
        (2, 0x0000_ffff_0000_ffff),
        (4, 0x0000_0000_ffff_ffff),
    ] {
        let shift = 8 * step as u32;
        for i in (0..8).filter(|i| i & step == 0) {
            let (mut a, mut b) = (r[i], r[i + step]);
            for (x, y) in a.iter_mut().zip(&mut b) {
                let t = ((*x >> shift) ^ *y) & mask;
                *y ^= t;
                *x ^= t << shift;
            }
            r[i] = a;
            r[i + step] = b;
        }
    }
    r
}

// The kernels work on 8-bit lanes, as libvpx's SIMD code does, so that 16 segments fit one
// 128-bit vector. The spec's `c(x + y)` on signed 8-bit operands is exactly
// `x.saturating_add(y)`, and its `c(f + 3 * (q0 - p0))` is exactly `f` plus three
// saturating additions of `d = c(q0 - p0)`: the partial sums move one way from an in-range
// start, so once one saturates the exact sum lies beyond the same bound; and where `d`
// itself was clamped, `3 * 127` already carries any start past that bound.

/// `u2s()` of §15.2: a sample as a signed value centred on 128.
#[inline(always)]
fn u2s(v: u8) -> i8 {
    (v ^ 0x80) as i8
}

/// `s2u()` of §15.2, for a value already within the signed 8-bit range.
#[inline(always)]
fn s2u(v: i8) -> u8 {
    (v as u8) ^ 0x80
}

/// `c(f + 3 * (q0 - p0))` of §15.2 `common_adjust`.
#[inline(always)]
fn add_3x_edge_difference(f: i8, p0: i8, q0: i8) -> i8 {
    let d = q0.saturating_sub(p0);
    f.saturating_add(d).saturating_add(d).saturating_add(d)
}

/// The edge-difference test shared by all filters (§15.2 `simple_segment`, §15.3
/// `filter_yes`): `<=`, so a difference exactly at the limit is still filtered. In 16
/// bits: the sum reaches 637, and saturating it at 255 would wrongly pass an edge whose
/// limit is 255.
#[inline(always)]
fn edge_within(p1: u8, p0: u8, q0: u8, q1: u8, edge_limit: u8) -> bool {
    u16::from(p0.abs_diff(q0)) * 2 + u16::from(p1.abs_diff(q1)) / 2 <= u16::from(edge_limit)
}

/// §15.3 `filter_yes`: the edge test plus every adjacent interior difference within `I`.
/// Takes the samples one by one (an array here costs the vectorised loop a repacking) and
/// uses non-short-circuit `&` so the lane loops stay branch-free.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn filter_yes(
    p3: u8,
    p2: u8,
    p1: u8,
    p0: u8,
    q0: u8,
    q1: u8,
    q2: u8,
    q3: u8,
    p: &EdgeParams,
) -> bool {
    let i = p.interior_limit;
    edge_within(p1, p0, q0, q1, p.edge_limit)
        & (p3.abs_diff(p2) <= i)
        & (p2.abs_diff(p1) <= i)
        & (p1.abs_diff(p0) <= i)
        & (q1.abs_diff(q0) <= i)
        & (q2.abs_diff(q1) <= i)
        & (q3.abs_diff(q2) <= i)
}

/// §15.3 `hev`: high edge variance, strictly above the threshold.
#[inline(always)]
fn hev(p1: u8, p0: u8, q0: u8, q1: u8, threshold: u8) -> bool {
    (p1.abs_diff(p0) > threshold) | (q1.abs_diff(q0) > threshold)
}

/// The simple filter (§15.2) on lanes `[p1, p0, q0, q1]`.
///
/// Written branch-free (a disabled segment gets a zero adjustment, which leaves p0 and q0
/// unchanged because `c(0 + 4) >> 3 == c(0 + 3) >> 3 == 0`) so the loop vectorises.
#[inline(always)]
fn simple_kernel(l: &mut [[u8; LANES]; 4], edge_limit: u8) {
    let [lp1, lp0, lq0, lq1] = l;
    for j in 0..LANES {
        let (p1, p0, q0, q1) = (lp1[j], lp0[j], lq0[j], lq1[j]);
        let (sp1, sp0, sq0, sq1) = (u2s(p1), u2s(p0), u2s(q0), u2s(q1));
        // common_adjust(use_outer_taps = 1)
        let a = add_3x_edge_difference(sp1.saturating_sub(sq1), sp0, sq0);
        let a = if edge_within(p1, p0, q0, q1, edge_limit) {
            a
        } else {
            0
        };
        // Rounding +4 on one side and +3 on the other splits an exact half unevenly
        // rather than moving both samples by the same rounded amount.
        let f1 = a.saturating_add(4) >> 3;
        let f2 = a.saturating_add(3) >> 3;
        lq0[j] = s2u(sq0.saturating_sub(f1));
        lp0[j] = s2u(sp0.saturating_add(f2));
    }
}

/// The normal subblock-edge filter (§15.3 `subblock_filter`) on lanes p3..q3.
///
/// With high edge variance this is the simple filter's adjustment (outer taps included);
/// otherwise the outer taps are left out of the edge adjustment and p1/q1 are moved by
/// half of it, rounded. Branch-free for vectorisation, as in [`simple_kernel`].
#[inline(always)]
fn sub_kernel(l: &mut [[u8; LANES]; 8], p: EdgeParams) {
    let [lp3, lp2, lp1, lp0, lq0, lq1, lq2, lq3] = l;
    for j in 0..LANES {
        let (p3, p2, p1, p0) = (lp3[j], lp2[j], lp1[j], lp0[j]);
        let (q0, q1, q2, q3) = (lq0[j], lq1[j], lq2[j], lq3[j]);
        let (sp1, sp0, sq0, sq1) = (u2s(p1), u2s(p0), u2s(q0), u2s(q1));
        let high = hev(p1, p0, q0, q1, p.hev_threshold);

        // common_adjust(use_outer_taps = hev)
        let outer = if high { sp1.saturating_sub(sq1) } else { 0 };
        let a = add_3x_edge_difference(outer, sp0, sq0);
        let a = if filter_yes(p3, p2, p1, p0, q0, q1, q2, q3, &p) {
            a
        } else {
            0
        };
        let f1 = a.saturating_add(4) >> 3;
        let f2 = a.saturating_add(3) >> 3;
        lq0[j] = s2u(sq0.saturating_sub(f1));
        lp0[j] = s2u(sp0.saturating_add(f2));

        // f1 lies in -16..=15, so `f1 + 1` cannot overflow.
        let half = if high { 0 } else { (f1 + 1) >> 1 };
        lq1[j] = s2u(sq1.saturating_sub(half));
        lp1[j] = s2u(sp1.saturating_add(half));
    }
}

/// The normal macroblock-edge filter (§15.3 `MBfilter`) on lanes p3..q3.
///
/// With high edge variance this is the simple filter's adjustment; otherwise the edge
/// difference `w` is spread over three samples each side with weights 27, 18 and 9 (about
/// 3/7, 2/7 and 1/7 of it). Branch-free for vectorisation: exactly one of the two
/// adjustments is non-zero, and a zero one changes nothing (`(0 * k + 63) >> 7 == 0`), so
/// applying both in sequence, each saturating, equals the spec's either/or.
#[inline(always)]
fn mb_kernel(l: &mut [[u8; LANES]; 8], p: EdgeParams) {
    let [lp3, lp2, lp1, lp0, lq0, lq1, lq2, lq3] = l;
    for j in 0..LANES {
        let (p3, p2, p1, p0) = (lp3[j], lp2[j], lp1[j], lp0[j]);
        let (q0, q1, q2, q3) = (lq0[j], lq1[j], lq2[j], lq3[j]);
        let (sp2, sp1, sp0) = (u2s(p2), u2s(p1), u2s(p0));
        let (sq0, sq1, sq2) = (u2s(q0), u2s(q1), u2s(q2));
        let high = hev(p1, p0, q0, q1, p.hev_threshold);

        let w = add_3x_edge_difference(sp1.saturating_sub(sq1), sp0, sq0);
        let w = if filter_yes(p3, p2, p1, p0, q0, q1, q2, q3, &p) {
            w
        } else {
            0
        };

        // High edge variance: common_adjust(use_outer_taps = 1) on p0/q0 only.
        let wh = if high { w } else { 0 };
        let f1 = wh.saturating_add(4) >> 3;
        let f2 = wh.saturating_add(3) >> 3;
        let sq0 = sq0.saturating_sub(f1);
        let sp0 = sp0.saturating_add(f2);

        // Low edge variance: the wide filter. |w| <= 128 keeps every weighted value within
        // -27..=27, so the spec's clamp of it is a no-op.
        let wl = if high { 0 } else { i16::from(w) };
        let a0 = ((27 * wl + 63) >> 7) as i8;
        let a1 = ((18 * wl + 63) >> 7) as i8;
        let a2 = ((9 * wl + 63) >> 7) as i8;
        lq0[j] = s2u(sq0.saturating_sub(a0));
        lp0[j] = s2u(sp0.saturating_add(a0));
        lq1[j] = s2u(sq1.saturating_sub(a1));
        lp1[j] = s2u(sp1.saturating_add(a1));
        lq2[j] = s2u(sq2.saturating_sub(a2));
        lp2[j] = s2u(sp2.saturating_add(a2));
    }
}

mod frame;

pub use frame::filter_frame;

#[cfg(test)]
mod tests;
