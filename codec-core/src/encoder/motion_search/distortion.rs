//! Block distortion kernels for the search: SAD and SSE over fixed-width rows the compiler
//! vectorises, and bounded variants that stop once a candidate can no longer win.

use super::MAX_SIZE;

/// Sum of squared differences between two `width`x`height` blocks (saturating at
/// `u32::MAX`, which no block of 256x256 or fewer samples reaches).
#[allow(clippy::too_many_arguments)]
pub fn sse(
    a: &[u8],
    a_pos: usize,
    a_stride: usize,
    b: &[u8],
    b_pos: usize,
    b_stride: usize,
    width: usize,
    height: usize,
) -> u32 {
    let blocks = (a, a_pos, a_stride, b, b_pos, b_stride);
    match width {
        16 => sse_rows::<16>(blocks, height),
        8 => sse_rows::<8>(blocks, height),
        4 => sse_rows::<4>(blocks, height),
        _ => {
            let mut total = 0u64;
            for r in 0..height {
                let ra = &a[a_pos + r * a_stride..][..width];
                let rb = &b[b_pos + r * b_stride..][..width];
                for (&p, &q) in ra.iter().zip(rb) {
                    total += u64::from(p.abs_diff(q)).pow(2);
                }
            }
            total.min(u64::from(u32::MAX)) as u32
        }
    }
}

/// Sum of absolute differences between two `width`x`height` blocks.
#[allow(clippy::too_many_arguments)]
pub fn sad(
    a: &[u8],
    a_pos: usize,
    a_stride: usize,
    b: &[u8],
    b_pos: usize,
    b_stride: usize,
    width: usize,
    height: usize,
) -> u32 {
    let blocks = (a, a_pos, a_stride, b, b_pos, b_stride);
    match width {
        16 => sad_rows::<16>(blocks, height),
        8 => sad_rows::<8>(blocks, height),
        4 => sad_rows::<4>(blocks, height),
        _ => {
            let mut total = 0u32;
            for r in 0..height {
                let ra = &a[a_pos + r * a_stride..][..width];
                let rb = &b[b_pos + r * b_stride..][..width];
                for (&p, &q) in ra.iter().zip(rb) {
                    total = total.saturating_add(u32::from(p.abs_diff(q)));
                }
            }
            total
        }
    }
}

/// Two blocks as `(a, a_pos, a_stride, b, b_pos, b_stride)`.
pub(super) type BlockPair<'a> = (&'a [u8], usize, usize, &'a [u8], usize, usize);

/// SAD of rows `W` samples wide: fixed-length rows, which compile to `psadbw` and the like.
#[inline(always)]
fn sad_rows<const W: usize>((a, a_pos, a_stride, b, b_pos, b_stride): BlockPair, h: usize) -> u32 {
    let mut total = 0u32;
    for r in 0..h {
        let ra = &a[a_pos + r * a_stride..][..W];
        let rb = &b[b_pos + r * b_stride..][..W];
        let mut row = 0u32;
        for i in 0..W {
            row += u32::from(ra[i].abs_diff(rb[i]));
        }
        total = total.saturating_add(row);
    }
    total
}

/// SSE of rows `W` samples wide, with one 32-bit accumulator per column so that the sum
/// stays in vector registers (`pmaddwd`) until the end. 16 rows sum to at most
/// 16 * 255² per column, well inside `i32`; taller blocks saturate.
#[inline(always)]
fn sse_rows<const W: usize>((a, a_pos, a_stride, b, b_pos, b_stride): BlockPair, h: usize) -> u32 {
    let mut total = 0u32;
    let mut r = 0;
    while r < h {
        let rows = (h - r).min(MAX_SIZE);
        let mut acc = [0i32; W];
        for k in r..r + rows {
            let ra = &a[a_pos + k * a_stride..][..W];
            let rb = &b[b_pos + k * b_stride..][..W];
            for i in 0..W {
                let d = i32::from(ra[i]) - i32::from(rb[i]);
                acc[i] += d * d;
            }
        }
        total = total.saturating_add(acc.iter().sum::<i32>() as u32);
        r += rows;
    }
    total
}

/// SAD that may stop early, after any group of four rows, once it reaches `limit`: the
/// exact SAD when that is below `limit`, otherwise some value at least `limit`.
pub(super) fn sad_bounded(blocks: BlockPair, w: usize, h: usize, limit: u32) -> u32 {
    match w {
        16 => bounded_rows(blocks, h, limit, sad_rows::<16>),
        8 => bounded_rows(blocks, h, limit, sad_rows::<8>),
        4 => bounded_rows(blocks, h, limit, sad_rows::<4>),
        _ => {
            let (a, a_pos, a_stride, b, b_pos, b_stride) = blocks;
            sad(a, a_pos, a_stride, b, b_pos, b_stride, w, h)
        }
    }
}

/// SSE that may stop early, as [`sad_bounded`].
pub(super) fn sse_bounded(blocks: BlockPair, w: usize, h: usize, limit: u32) -> u32 {
    match w {
        16 => bounded_rows(blocks, h, limit, sse_rows::<16>),
        8 => bounded_rows(blocks, h, limit, sse_rows::<8>),
        4 => bounded_rows(blocks, h, limit, sse_rows::<4>),
        _ => {
            let (a, a_pos, a_stride, b, b_pos, b_stride) = blocks;
            sse(a, a_pos, a_stride, b, b_pos, b_stride, w, h)
        }
    }
}

/// Sums `rows(blocks, n)` over groups of four rows until the total reaches `limit`.
#[inline(always)]
fn bounded_rows(
    blocks: BlockPair,
    h: usize,
    limit: u32,
    rows: impl Fn(BlockPair, usize) -> u32,
) -> u32 {
    let (a, a_pos, a_stride, b, b_pos, b_stride) = blocks;
    let mut total = 0u32;
    let mut r = 0;
    while r < h {
        let n = 4.min(h - r);
        let group = (
            a,
            a_pos + r * a_stride,
            a_stride,
            b,
            b_pos + r * b_stride,
            b_stride,
        );
        total = total.saturating_add(rows(group, n));
        if total >= limit {
            break;
        }
        r += n;
    }
    total
}
