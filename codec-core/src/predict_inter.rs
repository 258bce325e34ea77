//! Sub-pixel interpolation of inter-prediction blocks (RFC 6386 §18.3).
//!
//! Both filters run as two one-dimensional passes, horizontal first, each rounding with
//! `(sum + 64) >> 7` and saturating to 0..=255 before the next pass reads the result, as
//! libvpx does; the intermediate rounding makes the order of the passes part of the format.
//! A pass whose fractional offset is 0 uses the filter `[.., 128, ..]`, an exact identity
//! on 8-bit samples, so it is skipped: the result is the same, as long as the other pass
//! reads the same rows and columns.
//!
//! Blocks are processed in tiles of at most 16x16 (every VP8 prediction block fits in one);
//! each output sample depends only on source samples at fixed offsets from it, so tiling
//! does not change the result.

use crate::tables::{BILINEAR_FILTERS, SIXTAP_FILTERS};

/// The largest tile the kernels handle in one go: a macroblock's luma.
const TILE: usize = 16;
/// Rows the six-tap horizontal pass produces for a full tile: two above, three below.
const SIXTAP_ROWS: usize = TILE + 5;
/// Rows the bilinear horizontal pass produces for a full tile: one below.
const BILINEAR_ROWS: usize = TILE + 1;

/// [`SIXTAP_FILTERS`] as tap magnitudes, for arithmetic in unsigned 16-bit lanes (twice as
/// many per vector as 32-bit ones). In every filter taps 1 and 4 are never positive and the
/// others never negative, so a sum is "positive part minus negative part", and the
/// positive part stays below 2^16 for 8-bit samples; both facts are checked when this
/// constant is evaluated, so a table that broke them would not compile.
const SIXTAP_MAGNITUDES: [[u16; 6]; 8] = sixtap_magnitudes();

/// [`BILINEAR_FILTERS`] as `u16`, checked the same way (non-negative, sums in 16 bits).
const BILINEAR_MAGNITUDES: [[u16; 2]; 8] = bilinear_magnitudes();

/// Taps of a six-tap filter that subtract (the others add).
const fn is_negative_tap(k: usize) -> bool {
    k == 1 || k == 4
}

const fn sixtap_magnitudes() -> [[u16; 6]; 8] {
    let mut out = [[0u16; 6]; 8];
    let mut i = 0;
    while i < 8 {
        let mut positive_bound = 64;
        let mut k = 0;
        while k < 6 {
            let tap = SIXTAP_FILTERS[i][k];
            assert!(if is_negative_tap(k) {
                tap <= 0
            } else {
                tap >= 0
            });
            if !is_negative_tap(k) {
                positive_bound += tap * 255;
            }
            out[i][k] = tap.unsigned_abs() as u16;
            k += 1;
        }
        assert!(positive_bound <= u16::MAX as i32);
        i += 1;
    }
    out
}

const fn bilinear_magnitudes() -> [[u16; 2]; 8] {
    let mut out = [[0u16; 2]; 8];
    let mut i = 0;
    while i < 8 {
        let [a, b] = BILINEAR_FILTERS[i];
        assert!(a >= 0 && b >= 0 && (a + b) * 255 + 64 <= u16::MAX as i32);
        out[i] = [a as u16, b as u16];
        i += 1;
    }
    out
}

/// Predicts a `width` x `height` block with the six-tap ("bicubic") filters, used by
/// bitstream version 0 (RFC 6386 §18.3).
///
/// `src_pos` is the block's integer-sample top-left in `src`; `mx` and `my` are the
/// horizontal and vertical fractional offsets in eighths of a sample (only their low three
/// bits are used). Writes rows `dst_pos + r * dst_stride` for `r < height`, `width` samples
/// each. With both offsets zero this is a plain copy.
///
/// The caller guarantees that every sample from row -2, column -2 to row `height + 2`,
/// column `width + 2` relative to `src_pos` lies inside `src` (libvpx's frame borders
/// provide this), and that the destination rows fit in `dst`.
#[allow(clippy::too_many_arguments)]
pub fn sixtap_predict(
    src: &[u8],
    src_pos: usize,
    src_stride: usize,
    dst: &mut [u8],
    dst_pos: usize,
    dst_stride: usize,
    width: usize,
    height: usize,
    mx: usize,
    my: usize,
) {
    for_each_tile(width, height, |x, y, w, h| {
        let block = Block {
            src_pos: src_pos + y * src_stride + x,
            src_stride,
            dst_pos: dst_pos + y * dst_stride + x,
            dst_stride,
            h,
            mx: mx & 7,
            my: my & 7,
        };
        match w {
            16 => sixtap_tile(src, dst, &block, 16),
            8 => sixtap_tile(src, dst, &block, 8),
            4 => sixtap_tile(src, dst, &block, 4),
            _ => sixtap_tile_any_width(src, dst, &block, w),
        }
    });
}

/// Predicts a `width` x `height` block with the bilinear filters, used by bitstream
/// versions 1 and 2 (RFC 6386 §18.3; version 3 uses whole-sample motion, i.e. offsets 0).
///
/// Parameters as for [`sixtap_predict`]. The caller guarantees that rows 0..=`height` and
/// columns 0..=`width` relative to `src_pos` lie inside `src` (the filters read one sample
/// beyond the block to the right and below).
#[allow(clippy::too_many_arguments)]
pub fn bilinear_predict(
    src: &[u8],
    src_pos: usize,
    src_stride: usize,
    dst: &mut [u8],
    dst_pos: usize,
    dst_stride: usize,
    width: usize,
    height: usize,
    mx: usize,
    my: usize,
) {
    for_each_tile(width, height, |x, y, w, h| {
        let block = Block {
            src_pos: src_pos + y * src_stride + x,
            src_stride,
            dst_pos: dst_pos + y * dst_stride + x,
            dst_stride,
            h,
            mx: mx & 7,
            my: my & 7,
        };
        match w {
            16 => bilinear_tile(src, dst, &block, 16),
            8 => bilinear_tile(src, dst, &block, 8),
            4 => bilinear_tile(src, dst, &block, 4),
            _ => bilinear_tile_any_width(src, dst, &block, w),
        }
    });
}

/// One tile of at most [`TILE`] x [`TILE`] samples; the width travels separately so that
/// the common widths can be passed as constants.
struct Block {
    src_pos: usize,
    src_stride: usize,
    dst_pos: usize,
    dst_stride: usize,
    h: usize,
    mx: usize,
    my: usize,
}

/// Calls `f(x, y, w, h)` for tiles of at most `TILE` x `TILE` covering the block.
#[inline(always)]
fn for_each_tile(width: usize, height: usize, mut f: impl FnMut(usize, usize, usize, usize)) {
    let mut y = 0;
    while y < height {
        let h = TILE.min(height - y);
        let mut x = 0;
        while x < width {
            let w = TILE.min(width - x);
            f(x, y, w, h);
            x += w;
        }
        y += h;
    }
}

/// Copies `h` rows of `w` samples: the whole-sample motion case.
#[inline(always)]
fn copy_block(src: &[u8], dst: &mut [u8], b: &Block, w: usize) {
    for r in 0..b.h {
        dst[b.dst_pos + r * b.dst_stride..][..w]
            .copy_from_slice(&src[b.src_pos + r * b.src_stride..][..w]);
    }
}

/// One six-tap output sample from the six inputs around it, the third being the sample at
/// the output position: `clamp255((sum of taps * inputs + 64) >> 7)` (§18.3 `interp`),
/// computed as positive part minus negative part so that everything stays in `u16`
/// (see [`SIXTAP_MAGNITUDES`]); a negative total saturates to 0 in the subtraction.
#[inline(always)]
fn sixtap_sample(a0: u8, a1: u8, a2: u8, a3: u8, a4: u8, a5: u8, t: &[u16; 6]) -> u8 {
    let positive = u16::from(a0) * t[0]
        + u16::from(a2) * t[2]
        + u16::from(a3) * t[3]
        + u16::from(a5) * t[5]
        + 64;
    let negative = u16::from(a1) * t[1] + u16::from(a4) * t[4];
    (positive.saturating_sub(negative) >> 7).min(255) as u8
}

/// The six-tap filter along one row: `out[x]` from `s[x..x + 6]`, where `s` starts two
/// samples left of the first output position.
#[inline(always)]
fn sixtap_row(s: &[u8], out: &mut [u8], w: usize, t: &[u16; 6]) {
    let s = &s[..w + 5];
    let out = &mut out[..w];
    for (x, o) in out.iter_mut().enumerate() {
        *o = sixtap_sample(s[x], s[x + 1], s[x + 2], s[x + 3], s[x + 4], s[x + 5], t);
    }
}

/// The six-tap filter down the columns: `out[x]` from rows `top`, `top + stride`, ...,
/// `top + 5 * stride` of `buf` at column `x`, where `top` is two rows above the output row.
#[inline(always)]
fn sixtap_column(buf: &[u8], top: usize, stride: usize, out: &mut [u8], w: usize, t: &[u16; 6]) {
    let r0 = &buf[top..][..w];
    let r1 = &buf[top + stride..][..w];
    let r2 = &buf[top + 2 * stride..][..w];
    let r3 = &buf[top + 3 * stride..][..w];
    let r4 = &buf[top + 4 * stride..][..w];
    let r5 = &buf[top + 5 * stride..][..w];
    let out = &mut out[..w];
    for (x, o) in out.iter_mut().enumerate() {
        *o = sixtap_sample(r0[x], r1[x], r2[x], r3[x], r4[x], r5[x], t);
    }
}

/// One six-tap tile of width `w` (at most [`TILE`]). Inlined into callers that pass a
/// constant `w`, so the inner loops get fixed trip counts and vectorise.
#[inline(always)]
fn sixtap_tile(src: &[u8], dst: &mut [u8], b: &Block, w: usize) {
    match (b.mx, b.my) {
        (0, 0) => copy_block(src, dst, b, w),
        (mx, 0) => {
            let f = &SIXTAP_MAGNITUDES[mx];
            for r in 0..b.h {
                let s = &src[b.src_pos + r * b.src_stride - 2..];
                sixtap_row(s, &mut dst[b.dst_pos + r * b.dst_stride..], w, f);
            }
        }
        (0, my) => {
            let f = &SIXTAP_MAGNITUDES[my];
            let top = b.src_pos - 2 * b.src_stride;
            for r in 0..b.h {
                let out = &mut dst[b.dst_pos + r * b.dst_stride..];
                sixtap_column(src, top + r * b.src_stride, b.src_stride, out, w, f);
            }
        }
        (mx, my) => {
            // Rows -2 ..= h + 2 filtered horizontally, kept as 8-bit samples like libvpx.
            let mut tmp = [0u8; TILE * SIXTAP_ROWS];
            let hf = &SIXTAP_MAGNITUDES[mx];
            let top = b.src_pos - 2 * b.src_stride - 2;
            for (r, row) in tmp.chunks_exact_mut(TILE).take(b.h + 5).enumerate() {
                sixtap_row(&src[top + r * b.src_stride..], row, w, hf);
            }
            let vf = &SIXTAP_MAGNITUDES[my];
            for r in 0..b.h {
                let out = &mut dst[b.dst_pos + r * b.dst_stride..];
                sixtap_column(&tmp, r * TILE, TILE, out, w, vf);
            }
        }
    }
}

/// [`sixtap_tile`] for the unusual widths, kept out of line.
#[inline(never)]
fn sixtap_tile_any_width(src: &[u8], dst: &mut [u8], b: &Block, w: usize) {
    sixtap_tile(src, dst, b, w);
}

/// One bilinear output sample: `(a * t0 + b * t1 + 64) >> 7`. The taps are non-negative
/// and sum to 128, so the result is already a sample value; `min` only states it.
#[inline(always)]
fn bilinear_sample(a: u8, b: u8, t: &[u16; 2]) -> u8 {
    ((u16::from(a) * t[0] + u16::from(b) * t[1] + 64) >> 7).min(255) as u8
}

/// The bilinear filter along one row: `out[x]` from `s[x]` and `s[x + 1]`.
#[inline(always)]
fn bilinear_row(s: &[u8], out: &mut [u8], w: usize, t: &[u16; 2]) {
    let s = &s[..w + 1];
    let out = &mut out[..w];
    for (x, o) in out.iter_mut().enumerate() {
        *o = bilinear_sample(s[x], s[x + 1], t);
    }
}

/// The bilinear filter down the columns: `out[x]` from `a[x]` and `b[x]`, vertically
/// adjacent rows.
#[inline(always)]
fn bilinear_column(a: &[u8], b: &[u8], out: &mut [u8], w: usize, t: &[u16; 2]) {
    let (a, b, out) = (&a[..w], &b[..w], &mut out[..w]);
    for (x, o) in out.iter_mut().enumerate() {
        *o = bilinear_sample(a[x], b[x], t);
    }
}

/// One bilinear tile of width `w` (at most [`TILE`]); see [`sixtap_tile`].
#[inline(always)]
fn bilinear_tile(src: &[u8], dst: &mut [u8], b: &Block, w: usize) {
    match (b.mx, b.my) {
        (0, 0) => copy_block(src, dst, b, w),
        (mx, 0) => {
            let f = &BILINEAR_MAGNITUDES[mx];
            for r in 0..b.h {
                let s = &src[b.src_pos + r * b.src_stride..];
                bilinear_row(s, &mut dst[b.dst_pos + r * b.dst_stride..], w, f);
            }
        }
        (0, my) => {
            let f = &BILINEAR_MAGNITUDES[my];
            for r in 0..b.h {
                let above = &src[b.src_pos + r * b.src_stride..];
                let below = &src[b.src_pos + (r + 1) * b.src_stride..];
                bilinear_column(above, below, &mut dst[b.dst_pos + r * b.dst_stride..], w, f);
            }
        }
        (mx, my) => {
            // Rows 0 ..= h filtered horizontally first.
            let mut tmp = [0u8; TILE * BILINEAR_ROWS];
            let hf = &BILINEAR_MAGNITUDES[mx];
            for (r, row) in tmp.chunks_exact_mut(TILE).take(b.h + 1).enumerate() {
                bilinear_row(&src[b.src_pos + r * b.src_stride..], row, w, hf);
            }
            let vf = &BILINEAR_MAGNITUDES[my];
            for r in 0..b.h {
                let (above, below) = (&tmp[r * TILE..], &tmp[(r + 1) * TILE..]);
                let out = &mut dst[b.dst_pos + r * b.dst_stride..];
                bilinear_column(above, below, out, w, vf);
            }
        }
    }
}

/// [`bilinear_tile`] for the unusual widths, kept out of line.
#[inline(never)]
fn bilinear_tile_any_width(src: &[u8], dst: &mut [u8], b: &Block, w: usize) {
    bilinear_tile(src, dst, b, w);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    use crate::test_rng::TestRng as Rng;

    type Predict = fn(&[u8], usize, usize, &mut [u8], usize, usize, usize, usize, usize, usize);

    /// The RFC 6386 §18.3 `interp`: six taps around `p`, `s` apart, starting two back.
    fn interp(fil: &[i32; 6], buf: &[u8], p: usize, s: usize) -> u8 {
        let mut a = 0i32;
        for (i, &t) in fil.iter().enumerate() {
            a += i32::from(buf[p + i * s - 2 * s]) * t;
        }
        ((a + 64) >> 7).clamp(0, 255) as u8
    }

    /// §18.3 `Hinterp` + `Vinterp` generalised to any block size, always running both
    /// passes (the identity filter included) over rows -2 ..= h + 2.
    #[allow(clippy::too_many_arguments)]
    fn reference_sixtap(
        src: &[u8],
        pos: usize,
        stride: usize,
        w: usize,
        h: usize,
        mx: usize,
        my: usize,
    ) -> Vec<u8> {
        let mut temp = vec![0u8; (h + 5) * w];
        for r in 0..h + 5 {
            for c in 0..w {
                let p = pos + r * stride + c - 2 * stride;
                temp[r * w + c] = interp(&SIXTAP_FILTERS[mx], src, p, 1);
            }
        }
        let mut out = vec![0u8; h * w];
        for r in 0..h {
            for c in 0..w {
                out[r * w + c] = interp(&SIXTAP_FILTERS[my], &temp, (r + 2) * w + c, w);
            }
        }
        out
    }

    /// The bilinear version: both 2-tap passes always, first over rows 0 ..= h.
    fn reference_bilinear(
        src: &[u8],
        pos: usize,
        stride: usize,
        w: usize,
        h: usize,
        mx: usize,
        my: usize,
    ) -> Vec<u8> {
        let [h0, h1] = BILINEAR_FILTERS[mx];
        let [v0, v1] = BILINEAR_FILTERS[my];
        let mut temp = vec![0i32; (h + 1) * w];
        for r in 0..=h {
            for c in 0..w {
                let a = i32::from(src[pos + r * stride + c]);
                let b = i32::from(src[pos + r * stride + c + 1]);
                temp[r * w + c] = (a * h0 + b * h1 + 64) >> 7;
            }
        }
        (0..h * w)
            .map(|i| ((temp[i] * v0 + temp[i + w] * v1 + 64) >> 7) as u8)
            .collect()
    }

    const SIZES: [(usize, usize); 10] = [
        (16, 16),
        (8, 8),
        (4, 4),
        (16, 8),
        (8, 16),
        (8, 4),
        (4, 8),
        (3, 5),
        (1, 1),
        (20, 33),
    ];

    /// Runs `f` on a source that holds exactly the region the caller must guarantee and
    /// nothing more, so an out-of-contract read would panic.
    #[allow(clippy::too_many_arguments)]
    fn run_exact(
        predict: Predict,
        big: &[u8],
        pos: usize,
        stride: usize,
        margin: (usize, usize),
        w: usize,
        h: usize,
        mx: usize,
        my: usize,
    ) -> Vec<u8> {
        let (before, after) = margin;
        let start = pos - before * stride - before;
        let end = pos + (h - 1 + after) * stride + (w - 1 + after);
        let src = &big[start..=end];
        let dst_stride = w + 3;
        let mut dst = vec![0xa5u8; 2 + h * dst_stride];
        predict(
            src,
            pos - start,
            stride,
            &mut dst,
            2,
            dst_stride,
            w,
            h,
            mx,
            my,
        );
        // Nothing outside the block was written.
        assert_eq!(&dst[..2], &[0xa5, 0xa5]);
        let mut out = Vec::new();
        for r in 0..h {
            let row = &dst[2 + r * dst_stride..][..dst_stride];
            out.extend_from_slice(&row[..w]);
            assert!(row[w..].iter().all(|&v| v == 0xa5));
        }
        out
    }

    #[test]
    fn sixtap_matches_the_spec_transcription() {
        let mut rng = Rng(0x5eed_0000_0000_0001);
        let stride = 48;
        for round in 0..40 {
            // Alternate noise (exercises clamping) with smooth content.
            let big: Vec<u8> = (0..stride * 48)
                .map(|i| {
                    if round % 2 == 0 {
                        rng.next() as u8
                    } else {
                        ((i % stride) * 3 + (i / stride) * 2) as u8 / 2 + (rng.next() % 4) as u8
                    }
                })
                .collect();
            for &(w, h) in &SIZES {
                for mx in 0..8 {
                    for my in 0..8 {
                        let pos = 3 * stride + 3 + (rng.next() % 5) as usize;
                        let got =
                            run_exact(sixtap_predict, &big, pos, stride, (2, 3), w, h, mx, my);
                        let want = reference_sixtap(&big, pos, stride, w, h, mx, my);
                        assert_eq!(got, want, "{w}x{h} mx {mx} my {my}");
                    }
                }
            }
        }
    }

    #[test]
    fn bilinear_matches_the_two_pass_definition() {
        let mut rng = Rng(77);
        let stride = 40;
        for _ in 0..40 {
            let big: Vec<u8> = (0..stride * 40).map(|_| rng.next() as u8).collect();
            for &(w, h) in &SIZES {
                for mx in 0..8 {
                    for my in 0..8 {
                        let pos = stride + 1 + (rng.next() % 5) as usize;
                        let got =
                            run_exact(bilinear_predict, &big, pos, stride, (0, 1), w, h, mx, my);
                        let want = reference_bilinear(&big, pos, stride, w, h, mx, my);
                        assert_eq!(got, want, "{w}x{h} mx {mx} my {my}");
                    }
                }
            }
        }
    }

    #[test]
    fn whole_sample_motion_copies() {
        let stride = 24;
        let big: Vec<u8> = (0..stride * 24).map(|i| (i * 7 % 251) as u8).collect();
        let pos = 4 * stride + 5;
        for predict in [sixtap_predict as Predict, bilinear_predict] {
            // Exactly the block, no margin: a copy must not read around it.
            let got = run_exact(predict, &big, pos, stride, (0, 0), 8, 8, 0, 0);
            let want: Vec<u8> = (0..8)
                .flat_map(|r| big[pos + r * stride..][..8].to_vec())
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn offsets_use_only_their_low_three_bits() {
        let mut rng = Rng(11);
        let img: Vec<u8> = (0..32 * 32).map(|_| rng.next() as u8).collect();
        for predict in [sixtap_predict as Predict, bilinear_predict] {
            for (mx, my) in [(8, 0), (9, 10), (15, 23), (usize::MAX, 3)] {
                let mut a = [0u8; 64];
                let mut b = [0u8; 64];
                predict(&img, 8 * 32 + 8, 32, &mut a, 0, 8, 8, 8, mx, my);
                predict(&img, 8 * 32 + 8, 32, &mut b, 0, 8, 8, 8, mx & 7, my & 7);
                assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn constant_source_gives_constant_output() {
        for v in [0u8, 1, 77, 128, 254, 255] {
            let big = vec![v; 32 * 32];
            for mx in 0..8 {
                for my in 0..8 {
                    for predict in [sixtap_predict as Predict, bilinear_predict] {
                        let mut dst = [0u8; 16 * 16];
                        predict(&big, 8 * 32 + 8, 32, &mut dst, 0, 16, 16, 16, mx, my);
                        assert!(dst.iter().all(|&d| d == v), "{v} mx {mx} my {my}");
                    }
                }
            }
        }
    }

    #[test]
    fn bilinear_interpolates_ramps_exactly() {
        // A slope of 8 per sample: an offset of k/8 adds exactly k.
        let stride = 24;
        let horizontal: Vec<u8> = (0..stride * 24).map(|i| (8 * (i % stride)) as u8).collect();
        let vertical: Vec<u8> = (0..stride * 24).map(|i| (8 * (i / stride)) as u8).collect();
        let diagonal: Vec<u8> = (0..stride * 24)
            .map(|i| (8 * (i % stride) + 8 * (i / stride)) as u8)
            .collect();
        for k in 0..8 {
            let mut dst = [0u8; 16];
            bilinear_predict(
                &horizontal,
                2 * stride + 3,
                stride,
                &mut dst,
                0,
                4,
                4,
                4,
                k,
                0,
            );
            for (i, &d) in dst.iter().enumerate() {
                assert_eq!(usize::from(d), 8 * (3 + i % 4) + k);
            }
            bilinear_predict(
                &vertical,
                2 * stride + 3,
                stride,
                &mut dst,
                0,
                4,
                4,
                4,
                0,
                k,
            );
            for (i, &d) in dst.iter().enumerate() {
                assert_eq!(usize::from(d), 8 * (2 + i / 4) + k);
            }
            for j in 0..8 {
                bilinear_predict(
                    &diagonal,
                    2 * stride + 3,
                    stride,
                    &mut dst,
                    0,
                    4,
                    4,
                    4,
                    k,
                    j,
                );
                for (i, &d) in dst.iter().enumerate() {
                    assert_eq!(usize::from(d), 8 * (3 + i % 4) + 8 * (2 + i / 4) + k + j);
                }
            }
        }
        // Half-sample between 10 and 11 rounds up: (10*64 + 11*64 + 64) >> 7 = 11.
        let pair = [10u8, 11, 11, 11];
        let mut dst = [0u8; 1];
        bilinear_predict(&pair, 0, 2, &mut dst, 0, 1, 1, 1, 4, 0);
        assert_eq!(dst, [11]);
    }

    #[test]
    fn sixtap_horizontal_by_hand() {
        // A 4x1 block on row 2 of a 6-row source (rows -2..=3 around it), column 2.
        let row = [200u8, 0, 255, 255, 0, 100, 50, 7, 9, 0, 0];
        let stride = row.len();
        let mut src = vec![0u8; 6 * stride];
        src[2 * stride..3 * stride].copy_from_slice(&row);
        let mut dst = [0u8; 4];
        // Half-sample filter [3, -16, 77, 77, -16, 3] over windows of row[x..x + 6]:
        //   x=0 [200, 0, 255, 255, 0, 100]: 600 + 19635 + 19635 + 300 = 40170
        //       -> (40170 + 64) >> 7 = 314 -> 255
        //   x=1 [0, 255, 255, 0, 100, 50]: -4080 + 19635 - 1600 + 150 = 14105 -> 110
        //   x=2 [255, 255, 0, 100, 50, 7]: 765 - 4080 + 7700 - 800 + 21 = 3606 -> 28
        //   x=3 [255, 0, 100, 50, 7, 9]: 765 + 7700 + 3850 - 112 + 27 = 12230 -> 96
        sixtap_predict(&src, 2 * stride + 2, stride, &mut dst, 0, 4, 4, 1, 4, 0);
        assert_eq!(dst, [255, 110, 28, 96]);

        // A negative sum clamps to 0: window [0, 255, 0, 0, 255, 0] is -8160 -> -64 -> 0.
        let row = [0u8, 255, 0, 0, 255, 0, 0, 0, 0];
        let mut src = vec![0u8; 6 * row.len()];
        src[2 * row.len()..3 * row.len()].copy_from_slice(&row);
        let mut one = [9u8; 1];
        sixtap_predict(
            &src,
            2 * row.len() + 2,
            row.len(),
            &mut one,
            0,
            1,
            1,
            1,
            4,
            0,
        );
        assert_eq!(one, [0]);

        // Quarter-sample filter [2, -11, 108, 36, -8, 1] on a ramp of slope 10: the taps
        // add 2*-20 - 11*-10 + 36*10 - 8*20 + 1*30 = 300, so v -> (128v + 364) >> 7 = v + 2.
        let ramp: Vec<u8> = (0..12u8).map(|x| 10 * x).collect();
        let mut src = vec![0u8; 6 * 12];
        src[24..36].copy_from_slice(&ramp);
        let mut dst = [0u8; 4];
        sixtap_predict(&src, 24 + 3, 12, &mut dst, 0, 4, 4, 1, 2, 0);
        assert_eq!(dst, [32, 42, 52, 62]);
    }

    #[test]
    fn sixtap_vertical_equals_horizontal_on_the_transpose() {
        let mut rng = Rng(3);
        let n = 24;
        let img: Vec<u8> = (0..n * n).map(|_| rng.next() as u8).collect();
        let t: Vec<u8> = (0..n * n).map(|i| img[(i % n) * n + i / n]).collect();
        for f in 1..8 {
            let mut a = [0u8; 64];
            let mut b = [0u8; 64];
            sixtap_predict(&img, 5 * n + 7, n, &mut a, 0, 8, 8, 8, f, 0);
            sixtap_predict(&t, 7 * n + 5, n, &mut b, 0, 8, 8, 8, 0, f);
            let bt: Vec<u8> = (0..64).map(|i| b[(i % 8) * 8 + i / 8]).collect();
            assert_eq!(a.to_vec(), bt, "filter {f}");
        }
    }
}
