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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 16) as u32
        }
        fn below(&mut self, n: u32) -> u32 {
            self.next() % n
        }
    }

    // ---- A literal transcription of the RFC 6386 §15.2–15.3 C code, one segment at a
    // ---- time, with the branches as written there: the reference for the lane kernels.

    fn rc(v: i32) -> i32 {
        v.clamp(-128, 127)
    }
    fn ru2s(v: u8) -> i32 {
        i32::from(v) - 128
    }
    fn rs2u(v: i32) -> u8 {
        (rc(v) + 128) as u8
    }

    /// `seg[0..4]` = P1, P0, Q0, Q1; returns `a`.
    fn ref_common_adjust(use_outer_taps: bool, seg: &mut [u8; 4]) -> i32 {
        let p1 = ru2s(seg[0]);
        let p0 = ru2s(seg[1]);
        let q0 = ru2s(seg[2]);
        let q1 = ru2s(seg[3]);
        let mut a = rc(if use_outer_taps { rc(p1 - q1) } else { 0 } + 3 * (q0 - p0));
        let b = rc(a + 3) >> 3;
        a = rc(a + 4) >> 3;
        seg[2] = rs2u(q0 - a);
        seg[1] = rs2u(p0 + b);
        a
    }

    fn ref_simple_segment(edge_limit: u8, seg: &mut [u8; 4]) {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).abs();
        if d(seg[1], seg[2]) * 2 + d(seg[0], seg[3]) / 2 <= i32::from(edge_limit) {
            ref_common_adjust(true, seg);
        }
    }

    fn ref_filter_yes(i: u8, e: u8, s: &[i32; 8]) -> bool {
        let (i, e) = (i32::from(i), i32::from(e));
        let [p3, p2, p1, p0, q0, q1, q2, q3] = *s;
        (p0 - q0).abs() * 2 + (p1 - q1).abs() / 2 <= e
            && (p3 - p2).abs() <= i
            && (p2 - p1).abs() <= i
            && (p1 - p0).abs() <= i
            && (q3 - q2).abs() <= i
            && (q2 - q1).abs() <= i
            && (q1 - q0).abs() <= i
    }

    fn ref_hev(t: u8, p1: i32, p0: i32, q0: i32, q1: i32) -> bool {
        (p1 - p0).abs() > i32::from(t) || (q1 - q0).abs() > i32::from(t)
    }

    fn ref_subblock_filter(p: EdgeParams, seg: &mut [u8; 8]) {
        let s: [i32; 8] = core::array::from_fn(|k| ru2s(seg[k]));
        let [_, _, p1, p0, q0, q1, _, _] = s;
        if ref_filter_yes(p.interior_limit, p.edge_limit, &s) {
            let hv = ref_hev(p.hev_threshold, p1, p0, q0, q1);
            let mut mid = [seg[2], seg[3], seg[4], seg[5]];
            let a = (ref_common_adjust(hv, &mut mid) + 1) >> 1;
            seg[3] = mid[1];
            seg[4] = mid[2];
            if !hv {
                seg[5] = rs2u(q1 - a);
                seg[2] = rs2u(p1 + a);
            }
        }
    }

    fn ref_mb_filter(p: EdgeParams, seg: &mut [u8; 8]) {
        let s: [i32; 8] = core::array::from_fn(|k| ru2s(seg[k]));
        let [_, p2, p1, p0, q0, q1, q2, _] = s;
        if ref_filter_yes(p.interior_limit, p.edge_limit, &s) {
            if !ref_hev(p.hev_threshold, p1, p0, q0, q1) {
                let w = rc(rc(p1 - q1) + 3 * (q0 - p0));
                let mut a = rc((27 * w + 63) >> 7);
                seg[4] = rs2u(q0 - a);
                seg[3] = rs2u(p0 + a);
                a = rc((18 * w + 63) >> 7);
                seg[5] = rs2u(q1 - a);
                seg[2] = rs2u(p1 + a);
                a = rc((9 * w + 63) >> 7);
                seg[6] = rs2u(q2 - a);
                seg[1] = rs2u(p2 + a);
            } else {
                let mut mid = [seg[2], seg[3], seg[4], seg[5]];
                ref_common_adjust(true, &mut mid);
                seg[3] = mid[1];
                seg[4] = mid[2];
            }
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Mb,
        Sub,
        Simple,
    }

    /// Applies the reference filter segment by segment with explicit index arithmetic.
    #[allow(clippy::too_many_arguments)]
    fn reference_edge(
        kind: Kind,
        buf: &mut [u8],
        pos: usize,
        across: usize,
        along: usize,
        count: usize,
        p: EdgeParams,
    ) {
        for i in 0..count {
            let q0 = pos + i * along;
            match kind {
                Kind::Simple => {
                    let idx: [usize; 4] = core::array::from_fn(|k| q0 + k * across - 2 * across);
                    let mut seg = idx.map(|x| buf[x]);
                    ref_simple_segment(p.edge_limit, &mut seg);
                    for (x, v) in idx.into_iter().zip(seg) {
                        buf[x] = v;
                    }
                }
                Kind::Mb | Kind::Sub => {
                    let idx: [usize; 8] = core::array::from_fn(|k| q0 + k * across - 4 * across);
                    let mut seg = idx.map(|x| buf[x]);
                    if let Kind::Mb = kind {
                        ref_mb_filter(p, &mut seg);
                    } else {
                        ref_subblock_filter(p, &mut seg);
                    }
                    for (x, v) in idx.into_iter().zip(seg) {
                        buf[x] = v;
                    }
                }
            }
        }
    }

    fn run(
        kind: Kind,
        buf: &mut [u8],
        pos: usize,
        across: usize,
        along: usize,
        count: usize,
        p: EdgeParams,
    ) {
        match kind {
            Kind::Mb => normal_mb_edge(buf, pos, across, along, count, p),
            Kind::Sub => normal_sub_edge(buf, pos, across, along, count, p),
            Kind::Simple => simple_edge(buf, pos, across, along, count, p.edge_limit),
        }
    }

    /// A 24x24 image whose samples wander by small random steps around a random base, with
    /// an occasional big jump: most segments pass the limits, some do not.
    fn textured(rng: &mut Rng) -> Vec<u8> {
        let spread = [2, 4, 8, 16, 40, 256][rng.below(6) as usize];
        let base = rng.below(256) as i32;
        let step = rng.below(60) as i32 - 30;
        (0..24 * 24usize)
            .map(|i| {
                let x = (i % 24) as i32;
                let jump = if x >= 12 { step } else { 0 };
                let noise = rng.below(spread) as i32 - (spread / 2) as i32;
                (base + jump + noise).clamp(0, 255) as u8
            })
            .collect()
    }

    #[test]
    fn saturating_form_of_common_adjust_is_exact() {
        for f in -128..=127i32 {
            for p0 in 0..=255u8 {
                for q0 in 0..=255u8 {
                    let exact = rc(f + 3 * (ru2s(q0) - ru2s(p0)));
                    let fast = add_3x_edge_difference(f as i8, u2s(p0), u2s(q0));
                    assert_eq!(i32::from(fast), exact, "f {f} p0 {p0} q0 {q0}");
                }
            }
        }
    }

    #[test]
    fn kernels_match_the_spec_transcription() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let mut filtered = 0usize;
        for round in 0..60_000 {
            let img = textured(&mut rng);
            let level = rng.below(64) as u8;
            let sharp = rng.below(8) as u8;
            let fp = frame_filter_params(level, sharp, rng.below(2) == 0);
            let mut p = if rng.below(2) == 0 {
                fp.mb_edge
            } else {
                fp.sub_edge
            };
            if round % 5 == 0 {
                // Arbitrary limits reach corners the derived ones do not.
                p = EdgeParams {
                    edge_limit: rng.next() as u8,
                    interior_limit: rng.next() as u8,
                    hev_threshold: rng.below(8) as u8,
                };
            }
            let kind = [Kind::Mb, Kind::Sub, Kind::Simple][rng.below(3) as usize];
            let count = [16, 8, 1, 5, 20, 33][rng.below(6) as usize];
            // A vertical edge at x = 12 or a horizontal edge at y = 12 (transposed source
            // keeps the jump across the edge), or an odd geometry.
            let (img, pos, across, along, count) = match rng.below(3) {
                0 => (img, 12 + 4 * 24, 1, 24, count.min(20)),
                1 => {
                    let t: Vec<u8> = (0..24 * 24).map(|i| img[(i % 24) * 24 + i / 24]).collect();
                    (t, 12 * 24 + 4, 24, 1, count.min(20))
                }
                _ => (img, 12 + 4 * 24, 2, 25, count.min(18)),
            };
            let mut got = img.clone();
            let mut want = img.clone();
            run(kind, &mut got, pos, across, along, count, p);
            reference_edge(kind, &mut want, pos, across, along, count, p);
            assert_eq!(
                got, want,
                "{kind:?} {p:?} pos {pos} across {across} along {along}"
            );
            filtered += usize::from(got != img);
        }
        // Make sure the comparison exercised the filters, not just the "skip" path.
        assert!(filtered > 20_000, "only {filtered} rounds changed anything");
    }

    /// One row of 8 samples across a vertical edge between index 3 and 4.
    fn filter_row(kind: Kind, row: [u8; 8], p: EdgeParams) -> [u8; 8] {
        let mut buf = row.to_vec();
        run(kind, &mut buf, 4, 1, 8, 1, p);
        buf.try_into().unwrap()
    }

    fn params(edge_limit: u8, interior_limit: u8, hev_threshold: u8) -> EdgeParams {
        EdgeParams {
            edge_limit,
            interior_limit,
            hev_threshold,
        }
    }

    const STEP: [u8; 8] = [100, 100, 100, 100, 110, 110, 110, 110];

    #[test]
    fn simple_filter_on_a_step() {
        // Edge value |100-110|*2 + |100-110|/2 = 25; a = c(-10 + 3*10) = 20,
        // q0 -= (20+4)>>3 = 3, p0 += (20+3)>>3 = 2.
        let want = [100, 100, 100, 102, 107, 110, 110, 110];
        assert_eq!(filter_row(Kind::Simple, STEP, params(25, 0, 0)), want);
        assert_eq!(filter_row(Kind::Simple, STEP, params(255, 0, 0)), want);
        // One below the edge value: untouched (the comparison is `<=`).
        assert_eq!(filter_row(Kind::Simple, STEP, params(24, 0, 0)), STEP);
    }

    #[test]
    fn subblock_filter_on_a_step() {
        // No hev: a = 3*10 = 30, f1 = 34>>3 = 4, f2 = 33>>3 = 4; p1/q1 move (4+1)>>1 = 2.
        let want = [100, 100, 102, 104, 106, 108, 110, 110];
        assert_eq!(filter_row(Kind::Sub, STEP, params(25, 0, 0)), want);
        assert_eq!(filter_row(Kind::Sub, STEP, params(24, 0, 0)), STEP);
    }

    #[test]
    fn mb_filter_on_a_step() {
        // No hev: w = c(-10 + 30) = 20; (27*20+63)>>7 = 4, (18*20+63)>>7 = 3,
        // (9*20+63)>>7 = 1.
        let want = [100, 101, 103, 104, 106, 107, 109, 110];
        assert_eq!(filter_row(Kind::Mb, STEP, params(25, 0, 0)), want);
        assert_eq!(filter_row(Kind::Mb, STEP, params(24, 0, 0)), STEP);
    }

    #[test]
    fn high_edge_variance_changes_which_samples_move() {
        // |p1 - p0| = 4. Edge value 20 + |96-110|/2 = 27.
        let row = [96, 96, 96, 100, 110, 110, 110, 110];

        // hev (4 > 2): outer taps used, a = c(-14 + 30) = 16, q0 -= 20>>3 = 2,
        // p0 += 19>>3 = 2, nothing else moves.
        let hev_want = [96, 96, 96, 102, 108, 110, 110, 110];
        assert_eq!(filter_row(Kind::Sub, row, params(30, 10, 2)), hev_want);
        assert_eq!(filter_row(Kind::Mb, row, params(30, 10, 2)), hev_want);

        // No hev (4 > 4 is false).
        // Subblock: a = 30, f1 = f2 = 4, p1/q1 move 2.
        assert_eq!(
            filter_row(Kind::Sub, row, params(30, 10, 4)),
            [96, 96, 98, 104, 106, 108, 110, 110]
        );
        // Macroblock: w = c(-14 + 30) = 16; 27*16+63 = 495 >> 7 = 3; 18*16+63 = 351 >> 7 = 2;
        // 9*16+63 = 207 >> 7 = 1.
        assert_eq!(
            filter_row(Kind::Mb, row, params(30, 10, 4)),
            [96, 97, 98, 103, 107, 108, 109, 110]
        );
    }

    #[test]
    fn any_interior_difference_above_the_limit_disables_the_normal_filter() {
        let p = params(255, 5, 0);
        // Move each sample except p0/q0 by 6 so exactly its neighbour difference(s)
        // exceed 5 while the edge test still passes.
        for k in [0, 1, 2, 5, 6, 7] {
            let mut row = STEP;
            row[k] += 6;
            assert_eq!(filter_row(Kind::Mb, row, p), row, "mb, sample {k}");
            assert_eq!(filter_row(Kind::Sub, row, p), row, "sub, sample {k}");
            // At exactly the limit it filters.
            let mut row = STEP;
            row[k] += 5;
            assert_ne!(filter_row(Kind::Mb, row, p), row, "mb, sample {k}");
            assert_ne!(filter_row(Kind::Sub, row, p), row, "sub, sample {k}");
        }
    }

    #[test]
    fn flat_areas_stay_flat() {
        for v in [0u8, 1, 127, 128, 200, 255] {
            let row = [v; 8];
            for kind in [Kind::Mb, Kind::Sub, Kind::Simple] {
                assert_eq!(filter_row(kind, row, params(255, 255, 0)), row);
            }
        }
    }

    #[test]
    fn extreme_samples_saturate_without_panicking() {
        let p = params(255, 255, 0);
        for kind in [Kind::Mb, Kind::Sub, Kind::Simple] {
            for row in [
                [0, 0, 0, 0, 255, 255, 255, 255],
                [255, 255, 255, 255, 0, 0, 0, 0],
                [0, 255, 0, 255, 0, 255, 0, 255],
                [255, 0, 255, 0, 255, 0, 255, 0],
            ] {
                let mut want = row.to_vec();
                reference_edge(kind, &mut want, 4, 1, 8, 1, p);
                assert_eq!(filter_row(kind, row, p).to_vec(), want);
            }
        }
    }

    #[test]
    fn vertical_and_horizontal_edges_agree_and_stay_in_place() {
        let mut rng = Rng(5);
        let stride = 20;
        let img: Vec<u8> = (0..stride * 20)
            .map(|i| 100 + (rng.below(5) as u8) + if i % stride >= 8 { 9 } else { 0 })
            .collect();
        let transposed: Vec<u8> = (0..stride * 20)
            .map(|i| img[(i % stride) * stride + i / stride])
            .collect();
        let p = frame_filter_params(30, 0, true).mb_edge;
        for kind in [Kind::Mb, Kind::Sub, Kind::Simple] {
            // Vertical edge at x = 8, rows 2..18.
            let mut v = img.clone();
            run(kind, &mut v, 2 * stride + 8, 1, stride, 16, p);
            // The same edge transposed: horizontal at y = 8, columns 2..18.
            let mut h = transposed.clone();
            run(kind, &mut h, 8 * stride + 2, stride, 1, 16, p);
            let back: Vec<u8> = (0..stride * 20)
                .map(|i| h[(i % stride) * stride + i / stride])
                .collect();
            assert_eq!(v, back, "{kind:?}");
            // Only rows 2..18, columns 4..12 (mb: 5..11 modified) may differ.
            for (i, (&a, &b)) in img.iter().zip(&v).enumerate() {
                let (x, y) = (i % stride, i / stride);
                if !(2..18).contains(&y) || !(4..12).contains(&x) {
                    assert_eq!(a, b, "{kind:?} changed ({x}, {y})");
                }
            }
            assert_ne!(img, v, "{kind:?} did nothing");
        }
    }

    #[test]
    fn control_parameters_follow_section_15_4() {
        // level 0: interior limit forced to 1.
        let p = frame_filter_params(0, 0, true);
        assert_eq!(p.mb_edge, params(5, 1, 0));
        assert_eq!(p.sub_edge, params(1, 1, 0));
        // No sharpness: interior = level.
        let p = frame_filter_params(32, 0, true);
        assert_eq!(p.mb_edge, params(34 * 2 + 32, 32, 1));
        assert_eq!(p.sub_edge, params(64 + 32, 32, 1));
        // Sharpness 3: level >> 1 = 16, capped at 9 - 3 = 6.
        let p = frame_filter_params(32, 3, false);
        assert_eq!(p.mb_edge, params(68 + 6, 6, 2));
        assert_eq!(p.sub_edge, params(64 + 6, 6, 2));
        // Sharpness 5: level >> 2 = 2, under the cap of 4.
        let p = frame_filter_params(9, 5, false);
        assert_eq!(p.sub_edge, params(18 + 2, 2, 0));
        // Sharpness 7 on level 3: 3 >> 2 = 0, raised to 1.
        assert_eq!(frame_filter_params(3, 7, true).sub_edge.interior_limit, 1);
        // Maximum level stays within u8; out-of-range inputs clamp.
        let p = frame_filter_params(63, 0, false);
        assert_eq!(p.mb_edge, params(130 + 63, 63, 3));
        assert_eq!(
            frame_filter_params(255, 255, false),
            frame_filter_params(63, 7, false)
        );

        // hev thresholds at every boundary.
        let hev = |level, key| frame_filter_params(level, 0, key).mb_edge.hev_threshold;
        let key: Vec<u8> = [14, 15, 39, 40, 63].iter().map(|&l| hev(l, true)).collect();
        assert_eq!(key, vec![0, 1, 1, 2, 2]);
        let inter: Vec<u8> = [14, 15, 19, 20, 39, 40, 63]
            .iter()
            .map(|&l| hev(l, false))
            .collect();
        assert_eq!(inter, vec![0, 1, 1, 2, 2, 3, 3]);
    }
}
