use super::*;
use crate::test_rng::TestRng as Rng;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;

struct ZeroCost;
impl VectorCost for ZeroCost {
    fn cost(&self, _: MotionVector) -> u32 {
        0
    }
}

/// One bit per quarter sample away from zero.
struct DistanceCost;
impl VectorCost for DistanceCost {
    fn cost(&self, mv: MotionVector) -> u32 {
        256 * (u32::from(mv.row.unsigned_abs()) + u32::from(mv.col.unsigned_abs()))
    }
}

/// Close to the largest rate there is, for every vector but zero: costs saturate.
struct HugeCost;
impl VectorCost for HugeCost {
    fn cost(&self, mv: MotionVector) -> u32 {
        if mv.is_zero() {
            0
        } else {
            u32::MAX - u32::from(mv.row.unsigned_abs())
        }
    }
}

/// Prices like `inner` and counts vectors priced outside `bounds`.
struct Recording<'a> {
    inner: &'a dyn VectorCost,
    bounds: SearchBounds,
    outside: Cell<usize>,
}
impl VectorCost for Recording<'_> {
    fn cost(&self, mv: MotionVector) -> u32 {
        if !self.bounds.contains(mv) {
            self.outside.set(self.outside.get() + 1);
        }
        self.inner.cost(mv)
    }
}

fn config(speed: u8, bilinear: bool) -> SearchConfig {
    SearchConfig {
        range: 16,
        subpel: true,
        bilinear,
        speed,
    }
}

fn mv(row: i16, col: i16) -> MotionVector {
    MotionVector { row, col }
}

const WIDE: SearchBounds = SearchBounds {
    min_row: -4 * 64,
    max_row: 4 * 64,
    min_col: -4 * 64,
    max_col: 4 * 64,
};

/// Blurred noise stretched to 0..=255: texture whose error surface is smooth enough for
/// descent searches, yet unique at every position.
fn textured(width: usize, height: usize, seed: u64) -> Plane {
    let mut rng = Rng(seed);
    let mut plane = Plane::new(width, height);
    let mut values: Vec<i32> = (0..width * height).map(|_| rng.below(256) as i32).collect();
    for _ in 0..3 {
        let mut blurred = vec![0; values.len()];
        for y in 0..height as isize {
            for x in 0..width as isize {
                let mut sum = 0;
                for dy in -2..=2isize {
                    for dx in -2..=2isize {
                        let sx = (x + dx).clamp(0, width as isize - 1) as usize;
                        let sy = (y + dy).clamp(0, height as isize - 1) as usize;
                        sum += values[sy * width + sx];
                    }
                }
                blurred[y as usize * width + x as usize] = sum;
            }
        }
        values = blurred;
    }
    let lo = *values.iter().min().unwrap();
    let hi = *values.iter().max().unwrap();
    for (d, &v) in plane.data.iter_mut().zip(&values) {
        *d = ((v - lo) * 255 / (hi - lo).max(1)) as u8;
    }
    plane
}

/// `plane`, with its samples moved so that (x, y) shows what was at (x + dx, y + dy).
fn shifted(plane: &Plane, dx: isize, dy: isize) -> Plane {
    let mut out = Plane::new(plane.width, plane.height);
    for y in 0..plane.height {
        for x in 0..plane.width {
            out.data[y * plane.stride + x] = plane.clamped(x as isize + dx, y as isize + dy);
        }
    }
    out
}

/// A source whose every macroblock is the decoder's prediction from `reference` with `mv`.
fn predicted(reference: &Plane, mv: MotionVector, bilinear: bool) -> Plane {
    let mut out = Plane::new(reference.width, reference.height);
    let mut block = [0u8; 256];
    for y in (0..reference.height).step_by(16) {
        for x in (0..reference.width).step_by(16) {
            predict_luma(reference, x, y, 16, 16, mv, bilinear, &mut block, 16);
            for r in 0..16 {
                out.data[(y + r) * out.stride + x..][..16].copy_from_slice(&block[r * 16..][..16]);
            }
        }
    }
    out
}

fn block_sse(source: &Plane, x: usize, y: usize, w: usize, h: usize, pred: &[u8]) -> u32 {
    let pos = y * source.stride + x;
    sse(&source.data, pos, source.stride, pred, 0, 16, w, h)
}

#[test]
fn motion_search_kernels_match_the_definitions() {
    let mut rng = Rng(5);
    let a: Vec<u8> = (0..40 * 40).map(|_| rng.next() as u8).collect();
    let b: Vec<u8> = (0..40 * 40).map(|_| rng.next() as u8).collect();
    for (w, h) in [
        (16, 16),
        (8, 8),
        (4, 4),
        (16, 8),
        (8, 16),
        (4, 8),
        (3, 5),
        (1, 1),
        (20, 33),
    ] {
        for _ in 0..20 {
            let (pa, pb) = (rng.below(100) as usize, rng.below(100) as usize);
            let (mut want_sad, mut want_sse) = (0u32, 0u32);
            for r in 0..h {
                for c in 0..w {
                    let d = i32::from(a[pa + r * 37 + c]) - i32::from(b[pb + r * 29 + c]);
                    want_sad += d.unsigned_abs();
                    want_sse += (d * d) as u32;
                }
            }
            assert_eq!(sad(&a, pa, 37, &b, pb, 29, w, h), want_sad, "{w}x{h}");
            assert_eq!(sse(&a, pa, 37, &b, pb, 29, w, h), want_sse, "{w}x{h}");
            let blocks = (&a[..], pa, 37, &b[..], pb, 29);
            assert_eq!(sad_bounded(blocks, w, h, u32::MAX), want_sad);
            assert!(sad_bounded(blocks, w, h, want_sad / 2) >= want_sad / 2);
        }
    }
}

#[test]
fn motion_search_predict_luma_matches_an_explicitly_extended_reference() {
    let mut rng = Rng(0x1234_5678);
    let plane = textured(48, 32, 3);
    let mut noisy = plane.clone();
    for v in noisy.data.iter_mut() {
        *v = v.wrapping_add(rng.below(40) as u8);
    }
    // The plane with a border wide enough for every vector below.
    const BORDER: usize = 200;
    let stride = noisy.width + 2 * BORDER;
    let padded: Vec<u8> = (0..(noisy.height + 2 * BORDER) * stride)
        .map(|i| {
            let (x, y) = ((i % stride) as isize, (i / stride) as isize);
            noisy.clamped(x - BORDER as isize, y - BORDER as isize)
        })
        .collect();
    let sizes = [(16, 16), (8, 8), (4, 4), (16, 8), (8, 16), (4, 8), (3, 5)];
    for round in 0..3000 {
        let (w, h) = sizes[round % sizes.len()];
        let x = rng.below((noisy.width - w + 1) as u32) as usize;
        let y = rng.below((noisy.height - h + 1) as u32) as usize;
        // Near the picture, or far outside it.
        let reach = if round % 3 == 0 { 4 * 150 } else { 4 * 24 };
        let v = mv(
            rng.range(-reach, reach) as i16,
            rng.range(-reach, reach) as i16,
        );
        let bilinear = round % 2 == 1;
        let mut got = [0u8; 16 * 16];
        predict_luma(&noisy, x, y, w, h, v, bilinear, &mut got, 16);

        let bx = (BORDER + x) as isize + isize::from(v.col >> 2);
        let by = (BORDER + y) as isize + isize::from(v.row >> 2);
        let pos = by as usize * stride + bx as usize;
        let (mx, my) = ((2 * i32::from(v.col)) & 7, (2 * i32::from(v.row)) & 7);
        let mut want = [0u8; 16 * 16];
        let predict = if bilinear {
            bilinear_predict
        } else {
            sixtap_predict
        };
        predict(
            &padded,
            pos,
            stride,
            &mut want,
            0,
            16,
            w,
            h,
            mx as usize,
            my as usize,
        );
        for r in 0..h {
            assert_eq!(
                got[r * 16..][..w],
                want[r * 16..][..w],
                "{w}x{h} at ({x}, {y}) {v:?}"
            );
        }
    }
}

#[test]
fn motion_search_subpel_cache_matches_predict_luma() {
    let mut rng = Rng(0xcafe);
    let reference = textured(48, 32, 12);
    let sizes = [(16, 16), (8, 8), (4, 4), (16, 8), (8, 16), (4, 8), (3, 5)];
    let mut cache = SubpelCache::new();
    for round in 0..400 {
        let (w, h) = sizes[round % sizes.len()];
        let x = rng.below((48 - w + 1) as u32) as usize;
        let y = rng.below((32 - h + 1) as u32) as usize;
        let reach = if round % 4 == 0 { 100 } else { 8 };
        let anchor = (4 * rng.range(-reach, reach), 4 * rng.range(-reach, reach));
        let bilinear = round % 2 == 1;
        let block = (x as isize, y as isize, w, h);
        cache.anchor(&reference, block, anchor);
        // Every covered vector, in an order that fills the planes in different ways.
        let mut offsets: Vec<(i32, i32)> =
            (-4..4).flat_map(|r| (-4..4).map(move |c| (r, c))).collect();
        for i in (1..offsets.len()).rev() {
            offsets.swap(i, rng.below(i as u32 + 1) as usize);
        }
        for (dr, dc) in offsets {
            let v = mv((anchor.0 + dr) as i16, (anchor.1 + dc) as i16);
            assert_eq!(cache.covers(v), Some((dr, dc)));
            let mut want = [0u8; 256];
            predict_luma(&reference, x, y, w, h, v, bilinear, &mut want, 16);
            let (buf, pos, stride) = cache.window(&reference, (dr, dc), (w, h), bilinear);
            for r in 0..h {
                assert_eq!(
                    buf[pos + r * stride..][..w],
                    want[r * 16..][..w],
                    "{w}x{h} at ({x}, {y}) anchor {anchor:?} {v:?} bilinear {bilinear}"
                );
            }
        }
        let outside = mv((anchor.0 + 4) as i16, anchor.1 as i16);
        assert_eq!(cache.covers(outside), None);
    }
}

#[test]
fn motion_search_whole_sample_cost_sees_the_edge_extension() {
    let mut rng = Rng(99);
    let reference = textured(32, 32, 8);
    let source = textured(32, 32, 9);
    for _ in 0..500 {
        let (x, y) = (rng.below(17) as usize, rng.below(17) as usize);
        let (w, h) = [(16, 16), (8, 8), (4, 4), (8, 16)][rng.below(4) as usize];
        let (y, x) = (y.min(32 - h), x.min(32 - w));
        let reach = 60;
        let (row, col) = (rng.range(-reach, reach), rng.range(-reach, reach));
        let mut searcher =
            Searcher::new(&source, &reference, (x, y, w, h), WIDE, &ZeroCost, 0, false);
        let got = searcher.whole_cost(row, col, u64::MAX);
        let mut pred = [0u8; 256];
        let v = mv((4 * row) as i16, (4 * col) as i16);
        predict_luma(&reference, x, y, w, h, v, false, &mut pred, 16);
        let pos = y * 32 + x;
        let want = sad(&source.data, pos, 32, &pred, 0, 16, w, h);
        assert_eq!(got, u64::from(want) * SAD_SCALE);
    }
}

#[test]
fn motion_search_finds_a_whole_sample_shift() {
    let reference = textured(128, 96, 1);
    // A shift near the zero start, and a larger one with a predictor a few samples off.
    let near_start = [MotionVector::ZERO];
    let predicted_start = [MotionVector::ZERO, mv(-7 * 4 + 1, 11 * 4 - 2)];
    for ((dy, dx), starts) in [
        ((3isize, -5isize), &near_start[..]),
        ((-9, 13), &predicted_start),
    ] {
        let source = shifted(&reference, dx, dy);
        for speed in 0..=8 {
            for bilinear in [false, true] {
                for (x, y) in [(32, 32), (48, 32), (64, 48), (80, 32)] {
                    let found = search(
                        &source,
                        &reference,
                        x,
                        y,
                        16,
                        16,
                        starts,
                        &WIDE,
                        &ZeroCost,
                        0,
                        &config(speed, bilinear),
                    );
                    let want = mv(4 * dy as i16, 4 * dx as i16);
                    assert_eq!(
                        found.mv, want,
                        "speed {speed} bilinear {bilinear} ({x}, {y})"
                    );
                    assert_eq!((found.sse, found.cost), (0, 0));
                }
            }
        }
    }
}

#[test]
fn motion_search_finds_a_quarter_sample_shift() {
    let reference = textured(128, 96, 2);
    for bilinear in [false, true] {
        for want in [mv(7, -5), mv(-2, 3), mv(-13, 10), mv(1, 1)] {
            let source = predicted(&reference, want, bilinear);
            // The fastest speed stops at half samples.
            for speed in 0..=7 {
                for (x, y) in [(32, 32), (64, 48), (80, 16)] {
                    for (w, h) in [(16, 16), (8, 8)] {
                        let found = search(
                            &source,
                            &reference,
                            x,
                            y,
                            w,
                            h,
                            &[MotionVector::ZERO],
                            &WIDE,
                            &ZeroCost,
                            0,
                            &config(speed, bilinear),
                        );
                        let context = (speed, bilinear, x, y, w, want);
                        assert_eq!(found.mv, want, "{context:?}");
                        assert_eq!(found.sse, 0, "{context:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn motion_search_prefers_the_cheap_vector_on_a_flat_plane() {
    let mut flat = Plane::new(64, 64);
    flat.data.fill(100);
    let far = [mv(40, -60), mv(13, 7), mv(-3, -90)];
    let with_zero = [mv(40, -60), MotionVector::ZERO, mv(-3, -90)];
    for speed in 0..=8 {
        for starts in [&far[..], &with_zero[..]] {
            if starts == far && speed > 4 {
                // Hexagons and short descents need not walk 20 samples on rate alone.
                continue;
            }
            let found = search(
                &flat,
                &flat,
                16,
                16,
                16,
                16,
                starts,
                &WIDE,
                &DistanceCost,
                5000,
                &config(speed, false),
            );
            assert_eq!(found.mv, MotionVector::ZERO, "speed {speed} {starts:?}");
            assert_eq!((found.sse, found.cost), (0, 0));
        }
    }
}

#[test]
fn motion_search_respects_the_bounds_and_never_loses_to_a_start() {
    let mut rng = Rng(0xb0b0);
    // Planes of macroblock sizes, one of them a single macroblock.
    let planes: Vec<(Plane, Plane)> = [(64, 48), (16, 16), (32, 16)]
        .iter()
        .enumerate()
        .map(|(i, &(w, h))| (textured(w, h, 4 + i as u64), textured(w, h, 40 + i as u64)))
        .collect();
    for round in 0..900 {
        let (reference, source) = &planes[round % planes.len()];
        let mut bound = |span: i32| {
            let lo = rng.range(-300, 300);
            // Mostly real ranges; sometimes a few quarter samples with no whole one.
            let hi = lo + rng.range(0, if round % 5 == 0 { 2 } else { span });
            (lo, hi)
        };
        let (min_row, max_row) = bound(200);
        let (min_col, max_col) = bound(200);
        let bounds = SearchBounds {
            min_row,
            max_row,
            min_col,
            max_col,
        };
        let (w, h) = [(16, 16), (8, 8), (4, 4), (16, 8), (8, 16), (3, 5)][round % 6];
        let x = rng.below((source.width - w + 1) as u32) as usize;
        let y = rng.below((source.height - h + 1) as u32) as usize;
        let starts: Vec<MotionVector> = (0..rng.range(0, 4))
            .map(|_| mv(rng.range(-400, 400) as i16, rng.range(-400, 400) as i16))
            .collect();
        let lambda = [0, 10, 300, 5000, u32::MAX][round % 5];
        let inner: &dyn VectorCost = match round % 4 {
            0 => &ZeroCost,
            1 => &HugeCost,
            _ => &DistanceCost,
        };
        let cost = Recording {
            inner,
            bounds,
            outside: Cell::new(0),
        };
        let config = SearchConfig {
            range: [0, 3, 16, 40, i32::MAX][round % 5],
            subpel: round % 7 != 0,
            bilinear: round % 2 == 0,
            speed: (round % 10) as u8,
        };
        let found = search(
            source, reference, x, y, w, h, &starts, &bounds, &cost, lambda, &config,
        );
        let context = (round, bounds, &starts, config);
        assert!(bounds.contains(found.mv), "{found:?} {context:?}");
        assert_eq!(cost.outside.get(), 0, "{context:?}");

        let true_cost = |v: MotionVector| {
            let mut pred = [0u8; 256];
            predict_luma(reference, x, y, w, h, v, config.bilinear, &mut pred, 16);
            let e = block_sse(source, x, y, w, h, &pred);
            let rate = u64::from(lambda) * u64::from(inner.cost(v));
            (
                e,
                (u64::from(e) * 256).saturating_add(rate).min(u64::MAX - 1),
            )
        };
        assert_eq!((found.sse, found.cost), true_cost(found.mv), "{context:?}");
        for &start in &starts {
            let start = if config.subpel {
                start
            } else {
                let (r, c) = round_to_whole(start);
                mv((4 * r) as i16, (4 * c) as i16)
            };
            if bounds.contains(start) {
                assert!(found.cost <= true_cost(start).1, "{start:?} {context:?}");
            }
        }
        if !config.subpel && !bounds.sanitized().whole_samples().is_empty() {
            assert_eq!((found.mv.row % 4, found.mv.col % 4), (0, 0), "{context:?}");
        }
    }
}

#[test]
fn motion_search_terminates_at_the_corner_with_starts_far_outside() {
    let reference = textured(64, 48, 6);
    let source = textured(64, 48, 7);
    let far = [
        mv(-30000, -30000),
        mv(i16::MAX, i16::MAX),
        mv(i16::MIN, i16::MAX),
        mv(2000, -2000),
    ];
    // As an encoder would bound the top-left macroblock, and with no bounds at all.
    let frame = SearchBounds {
        min_row: -4 * 19,
        max_row: 4 * (48 - 16 + 16),
        min_col: -4 * 19,
        max_col: 4 * (64 - 16 + 16),
    };
    let unbounded = SearchBounds {
        min_row: i32::MIN,
        max_row: i32::MAX,
        min_col: i32::MIN,
        max_col: i32::MAX,
    };
    for bounds in [frame, unbounded] {
        for speed in 0..=8 {
            for (x, y) in [(0, 0), (48, 32)] {
                let config = SearchConfig {
                    range: 64,
                    ..config(speed, speed % 2 == 1)
                };
                let found = search(
                    &source,
                    &reference,
                    x,
                    y,
                    16,
                    16,
                    &far,
                    &bounds,
                    &DistanceCost,
                    20,
                    &config,
                );
                assert!(bounds.sanitized().contains(found.mv), "{found:?}");
                let mut pred = [0u8; 256];
                predict_luma(
                    &reference,
                    x,
                    y,
                    16,
                    16,
                    found.mv,
                    config.bilinear,
                    &mut pred,
                    16,
                );
                assert_eq!(found.sse, block_sse(&source, x, y, 16, 16, &pred));
            }
        }
    }
}

#[test]
fn motion_search_timing_sanity() {
    extern crate std;
    let reference = textured(320, 240, 11);
    let mut source = predicted(&reference, mv(9, -14), false);
    let mut rng = Rng(12);
    for v in source.data.iter_mut() {
        *v = v.saturating_add(rng.below(6) as u8);
    }
    for speed in [0, 2, 4, 6, 8] {
        let start = std::time::Instant::now();
        let mut total = 0u64;
        for y in (0..240).step_by(16) {
            for x in (0..320).step_by(16) {
                let found = search(
                    &source,
                    &reference,
                    x,
                    y,
                    16,
                    16,
                    &[MotionVector::ZERO],
                    &WIDE,
                    &DistanceCost,
                    30,
                    &config(speed, false),
                );
                total += found.cost;
            }
        }
        let per_block = start.elapsed().as_secs_f64() * 1e6 / 300.0;
        std::println!("speed {speed}: {per_block:.2} us per 16x16 search, total cost {total}");
    }
}
