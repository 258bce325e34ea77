use super::*;
use alloc::vec;
use alloc::vec::Vec;

use crate::test_rng::TestRng as Rng;

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
