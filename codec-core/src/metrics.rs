//! Objective quality of a reconstruction against its source: SSE, PSNR and SSIM.
//!
//! SSIM is computed the way ffmpeg's `ssim` filter (after x264) computes it, so the numbers
//! flick's rate control aims at are the numbers a user measures with `ffmpeg -lavfi ssim`:
//! 8x8 windows built from 4x4 block sums, stepping 4 samples each way, the window SSIMs
//! averaged per plane, and the planes weighted by their sample counts (ffmpeg's "All").

use alloc::vec;

use crate::picture::{Picture, Plane};

/// PSNR reported for identical pictures, where the true value is infinite.
pub const PSNR_MAX: f64 = 100.0;

/// Sum of squared differences over the top-left `width` x `height` samples.
///
/// The area is clipped to both planes, so a size larger than either plane never panics.
pub fn plane_sse(a: &Plane, b: &Plane, width: usize, height: usize) -> u64 {
    plane_sse_rows(a, b, width, 0..height)
}

/// Sum of squared differences over the first `width` samples of rows `rows`, clipped to
/// both planes.
pub fn plane_sse_rows(a: &Plane, b: &Plane, width: usize, rows: core::ops::Range<usize>) -> u64 {
    let width = width.min(a.width).min(b.width);
    let end = rows.end.min(a.height).min(b.height);
    let mut sse = 0u64;
    for y in rows.start.min(end)..end {
        let row_a = &a.data[y * a.stride..][..width];
        let row_b = &b.data[y * b.stride..][..width];
        // A row's sum fits in u32 for any width VP8 codes (16383 * 255^2 < 2^32).
        let row: u32 = row_a
            .iter()
            .zip(row_b)
            .map(|(&p, &q)| {
                let d = u32::from(p.abs_diff(q));
                d * d
            })
            .sum();
        sse += u64::from(row);
    }
    sse
}

/// The displayed area both pictures share: luma size and chroma size.
fn common_display(a: &Picture, b: &Picture) -> ((usize, usize), (usize, usize)) {
    let width = a.display_width.min(b.display_width);
    let height = a.display_height.min(b.display_height);
    ((width, height), (width.div_ceil(2), height.div_ceil(2)))
}

/// Per-plane (Y, U, V) SSE over the displayed area; chroma covers `ceil(w/2) x ceil(h/2)`.
pub fn picture_sse(a: &Picture, b: &Picture) -> [u64; 3] {
    let ((w, h), (cw, ch)) = common_display(a, b);
    [
        plane_sse(&a.y, &b.y, w, h),
        plane_sse(&a.u, &b.u, cw, ch),
        plane_sse(&a.v, &b.v, cw, ch),
    ]
}

/// Number of samples [`picture_sse`] compares per plane, for [`psnr`].
pub fn picture_samples(a: &Picture, b: &Picture) -> [u64; 3] {
    let ((w, h), (cw, ch)) = common_display(a, b);
    let luma = (w * h) as u64;
    let chroma = (cw * ch) as u64;
    [luma, chroma, chroma]
}

/// Peak signal-to-noise ratio in dB of 8-bit samples: `10 log10(255^2 samples / sse)`,
/// capped at [`PSNR_MAX`] (identical pictures, or nothing compared).
pub fn psnr(sse: u64, samples: u64) -> f64 {
    if sse == 0 || samples == 0 {
        return PSNR_MAX;
    }
    let value = 10.0 * libm::log10(255.0 * 255.0 * samples as f64 / sse as f64);
    value.min(PSNR_MAX)
}

/// SSIM in dB, `-10 log10(1 - ssim)`, the scale on which quality differences add up;
/// capped at [`PSNR_MAX`].
pub fn ssim_db(ssim: f64) -> f64 {
    if ssim >= 1.0 {
        return PSNR_MAX;
    }
    (-10.0 * libm::log10(1.0 - ssim)).min(PSNR_MAX)
}

/// Sums over one 4x4 block: of a, of b, of a² + b², of a·b.
#[derive(Clone, Copy, Default)]
struct BlockSums {
    a: u32,
    b: u32,
    squares: u32,
    product: u32,
}

/// SSIM stabilising constants of ffmpeg (and x264) for 8-bit samples. They are the textbook
/// (0.01·255)² and (0.03·255)² scaled for sums over 64 samples, rounded to integers exactly
/// as ffmpeg rounds them; matching them keeps our values within float noise of ffmpeg's.
const SSIM_C1: i64 = 416; // (.01 * .01 * 255 * 255 * 64 + .5) as int
const SSIM_C2: i64 = 235_963; // (.03 * .03 * 255 * 255 * 64 * 63 + .5) as int

/// SSIM of one window from its sums over 64 samples.
fn window_ssim(s1: i64, s2: i64, ss: i64, s12: i64) -> f64 {
    let vars = ss * 64 - s1 * s1 - s2 * s2;
    let covar = s12 * 64 - s1 * s2;
    let num = (2 * s1 * s2 + SSIM_C1) as f64 * (2 * covar + SSIM_C2) as f64;
    let den = (s1 * s1 + s2 * s2 + SSIM_C1) as f64 * (vars + SSIM_C2) as f64;
    num / den
}

/// 4x4 block sums along block row `by`, for `blocks` blocks.
fn block_row(a: &Plane, b: &Plane, by: usize, blocks: usize, out: &mut [BlockSums]) {
    for (bx, sums) in out.iter_mut().enumerate().take(blocks) {
        let mut s = BlockSums::default();
        for y in by * 4..by * 4 + 4 {
            let row_a = &a.data[y * a.stride + bx * 4..][..4];
            let row_b = &b.data[y * b.stride + bx * 4..][..4];
            for (&p, &q) in row_a.iter().zip(row_b) {
                let (p, q) = (u32::from(p), u32::from(q));
                s.a += p;
                s.b += q;
                s.squares += p * p + q * q;
                s.product += p * q;
            }
        }
        *sums = s;
    }
}

/// SSIM of the top-left `width` x `height` samples, as ffmpeg's `ssim` filter computes it
/// for one plane: the mean over every 8x8 window whose corner lies on the 4-sample grid
/// (the last `width % 4` columns and `height % 4` rows are not looked at, as in ffmpeg).
///
/// ffmpeg has no value for planes under 8x8; here such a plane is one window over the whole
/// area, with the constants scaled to its sample count. The area is clipped to both planes.
pub fn ssim_plane(a: &Plane, b: &Plane, width: usize, height: usize) -> f64 {
    let width = width.min(a.width).min(b.width);
    let height = height.min(a.height).min(b.height);
    let (blocks_x, blocks_y) = (width / 4, height / 4);
    if blocks_x < 2 || blocks_y < 2 {
        return small_plane_ssim(a, b, width, height);
    }
    // Two rolling rows of block sums: each window row uses block rows y-1 and y.
    let mut above = vec![BlockSums::default(); blocks_x];
    let mut below = vec![BlockSums::default(); blocks_x];
    block_row(a, b, 0, blocks_x, &mut above);
    let mut total = 0.0f64;
    for by in 1..blocks_y {
        block_row(a, b, by, blocks_x, &mut below);
        let mut row_total = 0.0f64;
        for x in 0..blocks_x - 1 {
            let quad = [above[x], above[x + 1], below[x], below[x + 1]];
            let sum = |f: fn(&BlockSums) -> u32| quad.iter().map(|s| i64::from(f(s))).sum();
            row_total += window_ssim(
                sum(|s| s.a),
                sum(|s| s.b),
                sum(|s| s.squares),
                sum(|s| s.product),
            );
        }
        total += row_total;
        core::mem::swap(&mut above, &mut below);
    }
    total / ((blocks_x - 1) * (blocks_y - 1)) as f64
}

/// One SSIM window over a whole plane smaller than 8x8 samples.
fn small_plane_ssim(a: &Plane, b: &Plane, width: usize, height: usize) -> f64 {
    let n = (width * height) as f64;
    if n == 0.0 {
        return 1.0;
    }
    let (mut s1, mut s2, mut ss, mut s12) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for y in 0..height {
        for x in 0..width {
            let p = f64::from(a.data[y * a.stride + x]);
            let q = f64::from(b.data[y * b.stride + x]);
            s1 += p;
            s2 += q;
            ss += p * p + q * q;
            s12 += p * q;
        }
    }
    // The same formula as `window_ssim`, with 64 replaced by the sample count.
    let c1 = 0.01 * 0.01 * 255.0 * 255.0 * n;
    let c2 = 0.03 * 0.03 * 255.0 * 255.0 * n * (n - 1.0).max(1.0);
    let vars = ss * n - s1 * s1 - s2 * s2;
    let covar = s12 * n - s1 * s2;
    (2.0 * s1 * s2 + c1) * (2.0 * covar + c2) / ((s1 * s1 + s2 * s2 + c1) * (vars + c2))
}

/// SSIM of a picture: the per-plane SSIMs over the displayed areas weighted by their sample
/// counts, which is ffmpeg's "All" value for one 4:2:0 frame.
pub fn ssim(a: &Picture, b: &Picture) -> f64 {
    let planes = ssim_planes(a, b);
    let samples = picture_samples(a, b);
    let total: u64 = samples.iter().sum();
    if total == 0 {
        return 1.0;
    }
    planes
        .iter()
        .zip(samples)
        .map(|(&s, n)| s * n as f64)
        .sum::<f64>()
        / total as f64
}

/// Per-plane (Y, U, V) SSIM over the displayed areas.
pub fn ssim_planes(a: &Picture, b: &Picture) -> [f64; 3] {
    let ((w, h), (cw, ch)) = common_display(a, b);
    [
        ssim_plane(&a.y, &b.y, w, h),
        ssim_plane(&a.u, &b.u, cw, ch),
        ssim_plane(&a.v, &b.v, cw, ch),
    ]
}

/// Mean of per-frame values, for sequences; `None` when empty.
pub fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::TestRng;
    use alloc::vec::Vec;

    fn noisy(picture: &Picture, rng: &mut TestRng, amplitude: i32) -> Picture {
        let mut out = picture.clone();
        for plane in [&mut out.y, &mut out.u, &mut out.v] {
            for sample in &mut plane.data {
                let noise = rng.range(-amplitude, amplitude);
                *sample = (i32::from(*sample) + noise).clamp(0, 255) as u8;
            }
        }
        out
    }

    fn gradient(width: usize, height: usize) -> Picture {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let y: Vec<u8> = (0..width * height)
            .map(|i| ((i % width) * 3 + (i / width) * 2) as u8)
            .collect();
        let u: Vec<u8> = (0..cw * ch).map(|i| (i * 5) as u8).collect();
        let v: Vec<u8> = (0..cw * ch).map(|i| 255 - (i * 3) as u8).collect();
        Picture::from_i420(width, height, &y, &u, &v)
    }

    #[test]
    fn identical_pictures() {
        let p = gradient(37, 21);
        assert_eq!(picture_sse(&p, &p), [0, 0, 0]);
        assert_eq!(psnr(0, 100), PSNR_MAX);
        assert!((ssim(&p, &p) - 1.0).abs() < 1e-12);
        assert_eq!(ssim_db(1.0), PSNR_MAX);
    }

    #[test]
    fn sse_counts_only_the_displayed_area() {
        let a = gradient(17, 9);
        let mut b = a.clone();
        // Outside the display (x = 20 in luma, beyond chroma's 9 columns): not counted.
        b.y.data[20] ^= 0xff;
        b.u.data[9] ^= 0xff;
        assert_eq!(picture_sse(&a, &b), [0, 0, 0]);
        b.y.data[16] = a.y.data[16].wrapping_add(3);
        b.v.data[8] = a.v.data[8].wrapping_sub(2);
        assert_eq!(picture_sse(&a, &b), [9, 0, 4]);
        assert_eq!(picture_samples(&a, &b), [17 * 9, 45, 45]);
    }

    #[test]
    fn psnr_of_known_error() {
        // Every sample off by one: MSE 1, PSNR = 20 log10(255).
        let expected = 20.0 * libm::log10(255.0);
        assert!((psnr(1000, 1000) - expected).abs() < 1e-9);
        assert!((psnr(4000, 1000) - (expected - 10.0 * libm::log10(4.0))).abs() < 1e-9);
    }

    #[test]
    fn ssim_falls_with_noise_and_is_symmetric() {
        let a = gradient(64, 48);
        let mut rng = TestRng(7);
        let slight = noisy(&a, &mut rng, 2);
        let heavy = noisy(&a, &mut rng, 20);
        let s_slight = ssim(&a, &slight);
        let s_heavy = ssim(&a, &heavy);
        assert!(s_slight < 1.0 && s_heavy < s_slight, "{s_slight} {s_heavy}");
        assert!((ssim(&slight, &a) - s_slight).abs() < 1e-12);
    }

    #[test]
    fn ssim_of_tiny_planes_is_defined() {
        let a = gradient(5, 3);
        let mut rng = TestRng(3);
        let b = noisy(&a, &mut rng, 10);
        let s = ssim(&a, &b);
        assert!(s.is_finite() && s < 1.0, "{s}");
        assert!((ssim(&a, &a) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn oversized_areas_are_clipped() {
        let a = gradient(16, 16);
        assert_eq!(plane_sse(&a.y, &a.y, 1000, 1000), 0);
        assert!((ssim_plane(&a.y, &a.y, 1000, 1000) - 1.0).abs() < 1e-12);
    }
}
