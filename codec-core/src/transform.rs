//! The 4x4 inverse transforms of RFC 6386 §14.3–14.5 (and forward transforms for the encoder).
//!
//! The inverse transforms must be bit-exact with libvpx, so they follow the RFC's integer
//! arithmetic exactly: 32-bit temporaries inside a pass, but the values handed from the first
//! (vertical) pass to the second (horizontal) pass are stored as 16-bit integers, as libvpx
//! stores them in `short` arrays. Streams can carry coefficients whose sums do not fit 16 bits;
//! libvpx then wraps, and so do we (`as i16` truncation), which also means no input can panic.
//!
//! All 32-bit arithmetic here is overflow-free for every `i16` input: the largest product is
//! `-32768 * 35468`, about -1.16e9.

/// `sqrt(2) * cos(pi/8) - 1` in 16-bit fixed point (RFC 6386 §14.4). The constant is stored
/// minus one because `sqrt(2) * cos(pi/8)` itself exceeds 1.0 and would not keep 16
/// fractional bits in the same multiply.
const COS_PI8_SQRT2_MINUS1: i32 = 20091;
/// `sqrt(2) * sin(pi/8)` in 16-bit fixed point (RFC 6386 §14.4).
const SIN_PI8_SQRT2: i32 = 35468;

/// One 1-D inverse DCT over the four inputs (RFC 6386 §14.4), without final rounding.
#[inline(always)]
fn idct_1d(i0: i32, i1: i32, i2: i32, i3: i32) -> [i32; 4] {
    let a1 = i0 + i2;
    let b1 = i0 - i2;
    let c1 = ((i1 * SIN_PI8_SQRT2) >> 16) - (i3 + ((i3 * COS_PI8_SQRT2_MINUS1) >> 16));
    let d1 = (i1 + ((i1 * COS_PI8_SQRT2_MINUS1) >> 16)) + ((i3 * SIN_PI8_SQRT2) >> 16);
    [a1 + d1, b1 + c1, b1 - c1, a1 - d1]
}

/// The inverse DCT of one 4x4 block (RFC 6386 §14.4): dequantized coefficients in raster
/// order in, residue in raster order out.
///
/// The first pass runs down the columns and the second along the rows, with `(x + 4) >> 3`
/// rounding at the end, exactly as libvpx's `vp8_short_idct4x4llm_c` does; the order matters
/// for bit-exactness because of the truncating `>> 16` multiplies.
pub fn inverse_dct(coeffs: &[i16; 16]) -> [i16; 16] {
    let mut tmp = [0i16; 16];
    for c in 0..4 {
        let col = idct_1d(
            i32::from(coeffs[c]),
            i32::from(coeffs[4 + c]),
            i32::from(coeffs[8 + c]),
            i32::from(coeffs[12 + c]),
        );
        for (r, v) in col.into_iter().enumerate() {
            // libvpx keeps the intermediate in a `short`: wrap exactly as it does.
            tmp[4 * r + c] = v as i16;
        }
    }
    let mut out = [0i16; 16];
    for (src, dst) in tmp.chunks_exact(4).zip(out.chunks_exact_mut(4)) {
        let row = idct_1d(
            i32::from(src[0]),
            i32::from(src[1]),
            i32::from(src[2]),
            i32::from(src[3]),
        );
        for (d, v) in dst.iter_mut().zip(row) {
            *d = ((v + 4) >> 3) as i16;
        }
    }
    out
}

/// Adds a 4x4 residue to the prediction at `dst[pos..]`, saturating each sample to 0..=255
/// (RFC 6386 §14.5).
///
/// Requires `pos + 3 * stride + 4 <= dst.len()`.
#[inline]
fn add_residue(residue: &[i16; 16], dst: &mut [u8], pos: usize, stride: usize) {
    for (r, res) in residue.chunks_exact(4).enumerate() {
        let row = &mut dst[pos + r * stride..][..4];
        for (px, &d) in row.iter_mut().zip(res) {
            *px = (i32::from(*px) + i32::from(d)).clamp(0, 255) as u8;
        }
    }
}

/// Inverse-transforms `coeffs` (raster order, already dequantized) and adds the residue to
/// the 4x4 prediction whose top-left sample is `dst[pos]`, rows `stride` apart, saturating
/// to 0..=255 (RFC 6386 §14.4, §14.5).
///
/// Requires `pos + 3 * stride + 4 <= dst.len()`.
pub fn idct_add(coeffs: &[i16; 16], dst: &mut [u8], pos: usize, stride: usize) {
    add_residue(&inverse_dct(coeffs), dst, pos, stride);
}

/// [`idct_add`] for a block whose only non-zero coefficient is the DC: every residue sample is
/// then `(dc + 4) >> 3` (RFC 6386 §14.4 with the other inputs zero; libvpx's
/// `vp8_dc_only_idct_add_c`). Gives exactly the same result as `idct_add` with only
/// `coeffs[0] = dc`.
///
/// Requires `pos + 3 * stride + 4 <= dst.len()`.
pub fn idct_dc_add(dc: i16, dst: &mut [u8], pos: usize, stride: usize) {
    let delta = (i32::from(dc) + 4) >> 3;
    for r in 0..4 {
        let row = &mut dst[pos + r * stride..][..4];
        for px in row {
            *px = (i32::from(*px) + delta).clamp(0, 255) as u8;
        }
    }
}

/// The inverse Walsh-Hadamard transform of the Y2 block (RFC 6386 §14.3).
///
/// `input` is the dequantized Y2 block in raster order; `output[i]` is the DC coefficient of
/// luma subblock `i` (subblocks in raster order). As in libvpx's `vp8_short_inv_walsh4x4_c`
/// the first pass runs down the columns, its results are stored as 16-bit values, and the
/// second pass along the rows rounds with `(x + 3) >> 3`. With only `input[0]` non-zero this
/// reduces to `(input[0] + 3) >> 3` everywhere, so no separate DC-only version is needed.
pub fn inverse_wht(input: &[i16; 16]) -> [i16; 16] {
    let mut tmp = [0i16; 16];
    for c in 0..4 {
        let i0 = i32::from(input[c]);
        let i1 = i32::from(input[4 + c]);
        let i2 = i32::from(input[8 + c]);
        let i3 = i32::from(input[12 + c]);
        let a1 = i0 + i3;
        let b1 = i1 + i2;
        let c1 = i1 - i2;
        let d1 = i0 - i3;
        // Stored as `short` in libvpx: wrap identically on hostile input.
        tmp[c] = (a1 + b1) as i16;
        tmp[4 + c] = (c1 + d1) as i16;
        tmp[8 + c] = (a1 - b1) as i16;
        tmp[12 + c] = (d1 - c1) as i16;
    }
    let mut out = [0i16; 16];
    for (src, dst) in tmp.chunks_exact(4).zip(out.chunks_exact_mut(4)) {
        let i0 = i32::from(src[0]);
        let i1 = i32::from(src[1]);
        let i2 = i32::from(src[2]);
        let i3 = i32::from(src[3]);
        let a1 = i0 + i3;
        let b1 = i1 + i2;
        let c1 = i1 - i2;
        let d1 = i0 - i3;
        dst[0] = ((a1 + b1 + 3) >> 3) as i16;
        dst[1] = ((c1 + d1 + 3) >> 3) as i16;
        dst[2] = ((a1 - b1 + 3) >> 3) as i16;
        dst[3] = ((d1 - c1 + 3) >> 3) as i16;
    }
    out
}

/// `4096 * sqrt(2) * sin(pi/8)`, rounded: the odd-part rotation of the forward DCT.
const FDCT_SIN: i32 = 2217;
/// `4096 * sqrt(2) * cos(pi/8)`, rounded.
const FDCT_COS: i32 = 5352;

/// The forward DCT of a 4x4 residue block (raster order in, coefficients in raster order
/// out), scaled so that [`inverse_dct`] approximately inverts it (round trip within ±1 per
/// sample for residues in -255..=255).
///
/// This is the arithmetic of libvpx's `vp8_short_fdct4x4_c`: rows first with the input
/// scaled by 8 for precision, the odd part rotated by the 12-bit constants above, then the
/// columns with the scale removed (`>> 4` on the even part, `>> 16` on the odd part). The
/// rounding offsets (14500, 7500, 12000, 51000 and the `+ 1` for a non-zero `d1`) are
/// libvpx's, kept so that an encoder built on this makes the same decisions libvpx would;
/// they can bias a coefficient by one unit (even a zero block gets a 1 in coefficient 1),
/// which every quantizer step absorbs. Only needs to be good, not bit-exact; inputs far
/// outside the residue range wrap instead of panicking.
pub fn forward_dct(input: &[i16; 16]) -> [i16; 16] {
    let mut tmp = [0i16; 16];
    for (src, dst) in input.chunks_exact(4).zip(tmp.chunks_exact_mut(4)) {
        let a1 = (i32::from(src[0]) + i32::from(src[3])) * 8;
        let b1 = (i32::from(src[1]) + i32::from(src[2])) * 8;
        let c1 = (i32::from(src[1]) - i32::from(src[2])) * 8;
        let d1 = (i32::from(src[0]) - i32::from(src[3])) * 8;
        dst[0] = (a1 + b1) as i16;
        dst[2] = (a1 - b1) as i16;
        // Only hostile inputs (|x| > 4095) can overflow these products; wrap rather than panic.
        dst[1] = (c1
            .wrapping_mul(FDCT_SIN)
            .wrapping_add(d1.wrapping_mul(FDCT_COS))
            .wrapping_add(14500)
            >> 12) as i16;
        dst[3] = (d1
            .wrapping_mul(FDCT_SIN)
            .wrapping_sub(c1.wrapping_mul(FDCT_COS))
            .wrapping_add(7500)
            >> 12) as i16;
    }
    let mut out = [0i16; 16];
    for c in 0..4 {
        let i0 = i32::from(tmp[c]);
        let i1 = i32::from(tmp[4 + c]);
        let i2 = i32::from(tmp[8 + c]);
        let i3 = i32::from(tmp[12 + c]);
        let a1 = i0 + i3;
        let b1 = i1 + i2;
        let c1 = i1 - i2;
        let d1 = i0 - i3;
        out[c] = ((a1 + b1 + 7) >> 4) as i16;
        out[8 + c] = ((a1 - b1 + 7) >> 4) as i16;
        out[4 + c] = (((c1 * FDCT_SIN + d1 * FDCT_COS + 12000) >> 16) + i32::from(d1 != 0)) as i16;
        out[12 + c] = ((d1 * FDCT_SIN - c1 * FDCT_COS + 51000) >> 16) as i16;
    }
    out
}

/// The forward Walsh-Hadamard transform of the 16 luma DC coefficients (raster order of the
/// subblocks), scaled so that [`inverse_wht`] approximately inverts it.
///
/// The 1-D butterfly of §14.3 is the symmetric matrix `H` (rows `++++`, `++--`, `+--+`,
/// `+-+-`) with `H * H = 4 * I`. The inverse computes `(H * Y * H) / 8`, so the forward
/// transform is `Y = (H * X * H) / 2`, rounded to nearest with ties away from zero so that
/// positive and negative blocks behave alike. Saturates to the `i16` range.
pub fn forward_wht(input: &[i16; 16]) -> [i16; 16] {
    #[inline(always)]
    fn butterfly(x0: i32, x1: i32, x2: i32, x3: i32) -> [i32; 4] {
        let a1 = x0 + x3;
        let b1 = x1 + x2;
        let c1 = x1 - x2;
        let d1 = x0 - x3;
        [a1 + b1, c1 + d1, a1 - b1, d1 - c1]
    }
    let mut tmp = [0i32; 16];
    for c in 0..4 {
        let col = butterfly(
            i32::from(input[c]),
            i32::from(input[4 + c]),
            i32::from(input[8 + c]),
            i32::from(input[12 + c]),
        );
        for (r, v) in col.into_iter().enumerate() {
            tmp[4 * r + c] = v;
        }
    }
    let mut out = [0i16; 16];
    for (src, dst) in tmp.chunks_exact(4).zip(out.chunks_exact_mut(4)) {
        // Sums of 16 i16 values: at most 2^19 in magnitude, no overflow.
        let row = butterfly(src[0], src[1], src[2], src[3]);
        for (d, v) in dst.iter_mut().zip(row) {
            let half = (v.abs() + 1) >> 1;
            let rounded = if v < 0 { -half } else { half };
            *d = rounded.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rng::TestRng as Rng;

    /// A literal transcription of the RFC 6386 §14.4 C code (`short` stores included), kept
    /// deliberately naive as an independent reference.
    fn reference_idct(input: &[i16; 16]) -> [i16; 16] {
        let mut output = [0i16; 16];
        for i in 0..4 {
            let ip = |k: usize| i32::from(input[i + k]);
            let a1 = ip(0) + ip(8);
            let b1 = ip(0) - ip(8);
            let temp1 = (ip(4) * 35468) >> 16;
            let temp2 = ip(12) + ((ip(12) * 20091) >> 16);
            let c1 = temp1 - temp2;
            let temp1 = ip(4) + ((ip(4) * 20091) >> 16);
            let temp2 = (ip(12) * 35468) >> 16;
            let d1 = temp1 + temp2;
            output[i] = (a1 + d1) as i16;
            output[12 + i] = (a1 - d1) as i16;
            output[4 + i] = (b1 + c1) as i16;
            output[8 + i] = (b1 - c1) as i16;
        }
        let mid = output;
        for i in 0..4 {
            let ip = |k: usize| i32::from(mid[4 * i + k]);
            let a1 = ip(0) + ip(2);
            let b1 = ip(0) - ip(2);
            let temp1 = (ip(1) * 35468) >> 16;
            let temp2 = ip(3) + ((ip(3) * 20091) >> 16);
            let c1 = temp1 - temp2;
            let temp1 = ip(1) + ((ip(1) * 20091) >> 16);
            let temp2 = (ip(3) * 35468) >> 16;
            let d1 = temp1 + temp2;
            output[4 * i] = ((a1 + d1 + 4) >> 3) as i16;
            output[4 * i + 3] = ((a1 - d1 + 4) >> 3) as i16;
            output[4 * i + 1] = ((b1 + c1 + 4) >> 3) as i16;
            output[4 * i + 2] = ((b1 - c1 + 4) >> 3) as i16;
        }
        output
    }

    /// A literal transcription of the RFC 6386 §14.3 C code.
    fn reference_iwht(input: &[i16; 16]) -> [i16; 16] {
        let mut output = [0i16; 16];
        for i in 0..4 {
            let ip = |k: usize| i32::from(input[i + k]);
            let a1 = ip(0) + ip(12);
            let b1 = ip(4) + ip(8);
            let c1 = ip(4) - ip(8);
            let d1 = ip(0) - ip(12);
            output[i] = (a1 + b1) as i16;
            output[4 + i] = (c1 + d1) as i16;
            output[8 + i] = (a1 - b1) as i16;
            output[12 + i] = (d1 - c1) as i16;
        }
        let mid = output;
        for i in 0..4 {
            let ip = |k: usize| i32::from(mid[4 * i + k]);
            let a1 = ip(0) + ip(3);
            let b1 = ip(1) + ip(2);
            let c1 = ip(1) - ip(2);
            let d1 = ip(0) - ip(3);
            output[4 * i] = ((a1 + b1 + 3) >> 3) as i16;
            output[4 * i + 1] = ((c1 + d1 + 3) >> 3) as i16;
            output[4 * i + 2] = ((a1 - b1 + 3) >> 3) as i16;
            output[4 * i + 3] = ((d1 - c1 + 3) >> 3) as i16;
        }
        output
    }

    fn random_block(rng: &mut Rng, lo: i32, hi: i32) -> [i16; 16] {
        core::array::from_fn(|_| rng.range(lo, hi) as i16)
    }

    #[test]
    fn idct_matches_reference_on_random_and_extreme_input() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for round in 0..200_000 {
            let block = match round % 4 {
                0 => random_block(&mut rng, -2048, 2047),
                1 => random_block(&mut rng, -32768, 32767),
                2 => {
                    core::array::from_fn(|_| [i16::MIN, i16::MAX, 0, -1][rng.range(0, 3) as usize])
                }
                _ => random_block(&mut rng, -64, 64),
            };
            assert_eq!(inverse_dct(&block), reference_idct(&block), "{block:?}");
        }
    }

    #[test]
    fn idct_of_zero_is_zero_and_adds_nothing() {
        assert_eq!(inverse_dct(&[0; 16]), [0; 16]);
        let mut buf = [7u8; 64];
        idct_add(&[0; 16], &mut buf, 9, 8);
        assert_eq!(buf, [7u8; 64]);
    }

    #[test]
    fn idct_add_places_rows_by_stride_and_saturates() {
        let mut coeffs = [0i16; 16];
        coeffs[0] = 800; // residue 100 everywhere
        let mut buf = [0u8; 48];
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i * 6) as u8;
        }
        let before = buf;
        idct_add(&coeffs, &mut buf, 11, 10);
        for (i, (&b, &a)) in before.iter().zip(&buf).enumerate() {
            let inside = i >= 11 && (i - 11) % 10 < 4 && (i - 11) / 10 < 4;
            if inside {
                assert_eq!(a, (b as u32 + 100).min(255) as u8, "sample {i}");
            } else {
                assert_eq!(a, b, "sample {i} outside the block changed");
            }
        }
        let mut low = [3u8; 16];
        coeffs[0] = -800;
        idct_add(&coeffs, &mut low, 0, 4);
        assert_eq!(low, [0u8; 16]);
    }

    #[test]
    fn dc_only_shortcut_equals_full_idct_for_every_dc() {
        let mut rng = Rng(42);
        for dc in i16::MIN..=i16::MAX {
            let pred: [u8; 16] = core::array::from_fn(|_| rng.next() as u8);
            let mut full = pred;
            let mut short = pred;
            let mut coeffs = [0i16; 16];
            coeffs[0] = dc;
            idct_add(&coeffs, &mut full, 0, 4);
            idct_dc_add(dc, &mut short, 0, 4);
            assert_eq!(full, short, "dc {dc}");
        }
    }

    #[test]
    fn iwht_matches_reference_and_dc_only_form() {
        let mut rng = Rng(0xfeed_beef_0bad_cafe);
        for round in 0..200_000 {
            let block = if round % 2 == 0 {
                random_block(&mut rng, -32768, 32767)
            } else {
                random_block(&mut rng, -4096, 4096)
            };
            assert_eq!(inverse_wht(&block), reference_iwht(&block), "{block:?}");
        }
        for dc in i16::MIN..=i16::MAX {
            let mut block = [0i16; 16];
            block[0] = dc;
            let expect = ((i32::from(dc) + 3) >> 3) as i16;
            assert_eq!(inverse_wht(&block), [expect; 16], "dc {dc}");
        }
    }

    #[test]
    fn iwht_output_is_in_subblock_raster_order() {
        // Row 0, column 1 of the Y2 block is the first horizontal AC basis function; with the
        // sign pattern of H's second row (+ + - -) along each row of subblocks.
        let mut block = [0i16; 16];
        block[1] = 80;
        let out = inverse_wht(&block);
        for r in 0..4 {
            assert_eq!(&out[4 * r..4 * r + 4], &[10, 10, -10, -10]);
        }
        let mut block = [0i16; 16];
        block[4] = 80;
        let out = inverse_wht(&block);
        assert_eq!(&out[0..4], &[10; 4]);
        assert_eq!(&out[4..8], &[10; 4]);
        assert_eq!(&out[8..12], &[-10; 4]);
        assert_eq!(&out[12..16], &[-10; 4]);
    }

    #[test]
    fn forward_then_inverse_dct_round_trips_within_one() {
        let mut rng = Rng(7);
        for round in 0..200_000 {
            let residue = if round % 2 == 0 {
                random_block(&mut rng, -255, 255)
            } else {
                random_block(&mut rng, -20, 20)
            };
            let back = inverse_dct(&forward_dct(&residue));
            for (a, b) in residue.iter().zip(&back) {
                assert!((a - b).abs() <= 1, "{residue:?} -> {back:?}");
            }
        }
    }

    #[test]
    fn forward_dct_of_flat_block_is_essentially_dc_only() {
        let out = forward_dct(&[10; 16]);
        // Unitary DC would be 40; VP8's scaling doubles it (§14.4) and the IDCT divides by 8.
        assert_eq!(out[0], 80);
        // libvpx's rounding bias (+14500 before >> 12) leaves a 1 in coefficient 1 even for
        // flat input; every quantizer step (>= 4 for AC) rounds it away.
        assert!(out[1..].iter().all(|&c| c.abs() <= 1), "{out:?}");
        assert_eq!(inverse_dct(&out), [10; 16]);
    }

    #[test]
    fn forward_then_inverse_wht_round_trips_within_one() {
        let mut rng = Rng(99);
        for round in 0..200_000 {
            // DC coefficients of luma blocks lie within ±8 * 255 * 16 / 16 (§14.4 scaling).
            let dcs = if round % 2 == 0 {
                random_block(&mut rng, -2040, 2040)
            } else {
                random_block(&mut rng, -30, 30)
            };
            let back = inverse_wht(&forward_wht(&dcs));
            for (a, b) in dcs.iter().zip(&back) {
                assert!((a - b).abs() <= 1, "{dcs:?} -> {back:?}");
            }
        }
        assert_eq!(inverse_wht(&forward_wht(&[0; 16])), [0; 16]);
        assert_eq!(inverse_wht(&forward_wht(&[64; 16])), [64; 16]);
        assert_eq!(inverse_wht(&forward_wht(&[-64; 16])), [-64; 16]);
    }

    #[test]
    fn forward_transforms_never_panic_on_extremes() {
        for v in [i16::MIN, i16::MAX, -1, 0, 1] {
            let _ = forward_dct(&[v; 16]);
            let _ = forward_wht(&[v; 16]);
            let alt: [i16; 16] = core::array::from_fn(|i| if i % 3 == 0 { v } else { !v });
            let _ = forward_dct(&alt);
            let _ = forward_wht(&alt);
        }
    }
}
