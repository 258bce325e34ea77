//! Macroblock reconstruction: prediction (intra or inter) plus the inverse-transformed
//! residual (RFC 6386 §12, §14, §18), written into the frame being decoded.

use crate::intra::{self, WS_LEN, WS_ORIGIN, WS_STRIDE, Workspace};
use crate::modes::{LumaMode, MacroblockInfo, MotionVector};
use crate::picture::{Picture, Plane};
use crate::predict_inter;
use crate::tokens::MacroblockCoefficients;
use crate::transform;

/// How inter prediction interpolates, from the frame tag's version (RFC 6386 §9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterpolationMode {
    pub bilinear: bool,
    /// Chroma vectors are rounded down to whole samples (version 3).
    pub full_pixel_chroma: bool,
}

impl InterpolationMode {
    pub fn for_version(version: u8) -> Self {
        InterpolationMode {
            bilinear: version != 0,
            full_pixel_chroma: version == 3,
        }
    }

    /// A chroma vector in eighth samples as this version applies it.
    fn chroma(self, (row, col): (i32, i32)) -> (i32, i32) {
        if self.full_pixel_chroma {
            (row & !7, col & !7)
        } else {
            (row, col)
        }
    }
}

/// A luma vector in eighth samples: quarter samples doubled, as libvpx stores them.
fn luma_eighths(mv: MotionVector) -> (i32, i32) {
    (2 * mv.row as i32, 2 * mv.col as i32)
}

/// Scratch buffers reused across macroblocks.
pub struct MacroblockWorkspace {
    pub(crate) luma: Workspace,
    pub(crate) u: Workspace,
    pub(crate) v: Workspace,
    /// Edge-extended copy of a reference block that reaches outside the picture.
    fetch: [u8; 21 * 21],
}

impl Default for MacroblockWorkspace {
    fn default() -> Self {
        MacroblockWorkspace {
            luma: [0; WS_LEN],
            u: [0; WS_LEN],
            v: [0; WS_LEN],
            fetch: [0; 21 * 21],
        }
    }
}

/// Loads the edges above and left of macroblock (row, col) into a workspace, with 127
/// above the picture and 129 left of it. For luma, the four above-right samples follow;
/// on the last column they repeat the last above sample, as libvpx extends its rows.
pub(crate) fn load_edges(ws: &mut Workspace, plane: &Plane, row: usize, col: usize, size: usize) {
    let stride = plane.stride;
    let (x0, y0) = (col * size, row * size);
    let edge_len = if size == 16 { 21 } else { 9 };
    if row == 0 {
        ws[..edge_len].fill(127);
    } else {
        let above = &plane.data[(y0 - 1) * stride..y0 * stride];
        ws[0] = if col == 0 { 129 } else { above[x0 - 1] };
        ws[1..1 + size].copy_from_slice(&above[x0..x0 + size]);
        if size == 16 {
            if x0 + 16 < plane.width {
                ws[17..21].copy_from_slice(&above[x0 + 16..x0 + 20]);
            } else {
                ws[17..21].fill(above[x0 + 15]);
            }
        }
    }
    for i in 0..size {
        ws[WS_ORIGIN - 1 + i * WS_STRIDE] = if col == 0 {
            129
        } else {
            plane.data[(y0 + i) * stride + x0 - 1]
        };
    }
}

pub(crate) fn store(ws: &Workspace, plane: &mut Plane, row: usize, col: usize, size: usize) {
    let stride = plane.stride;
    for i in 0..size {
        let dst = (row * size + i) * stride + col * size;
        plane.data[dst..dst + size]
            .copy_from_slice(&ws[WS_ORIGIN + i * WS_STRIDE..WS_ORIGIN + i * WS_STRIDE + size]);
    }
}

/// Adds one block's residual to the prediction at `ws[pos]`.
#[inline]
pub(crate) fn add_residual(ws: &mut Workspace, pos: usize, coeffs: &[i16; 16], has_ac: bool) {
    if has_ac {
        transform::idct_add(coeffs, ws, pos, WS_STRIDE);
    } else if coeffs[0] != 0 {
        transform::idct_dc_add(coeffs[0], ws, pos, WS_STRIDE);
    }
}

/// Reconstructs one intra-predicted macroblock into `frame`.
pub fn intra_macroblock(
    frame: &mut Picture,
    ws: &mut MacroblockWorkspace,
    info: &MacroblockInfo,
    coeffs: &MacroblockCoefficients,
    row: usize,
    col: usize,
) {
    load_edges(&mut ws.luma, &frame.y, row, col, 16);
    if info.luma_mode == LumaMode::BPred {
        // Subblocks on the right edge below the top row reuse the macroblock's
        // above-right samples (RFC 6386 §12.3).
        for r in [4, 8, 12] {
            let (src, dst) = (17, r * WS_STRIDE + 17);
            ws.luma.copy_within(src..src + 4, dst);
        }
        for b in 0..16 {
            let pos = WS_ORIGIN + (b >> 2) * 4 * WS_STRIDE + (b & 3) * 4;
            intra::predict_subblock(&mut ws.luma, pos, info.subblock_modes[b]);
            add_residual(&mut ws.luma, pos, &coeffs.blocks[b], coeffs.has_ac[b]);
        }
    } else {
        intra::predict_block(&mut ws.luma, 16, info.luma_mode, row > 0, col > 0);
        add_luma_residual(&mut ws.luma, coeffs);
    }
    store(&ws.luma, &mut frame.y, row, col, 16);

    let chroma_mode = match info.chroma_mode {
        1 => LumaMode::V,
        2 => LumaMode::H,
        3 => LumaMode::Tm,
        _ => LumaMode::Dc,
    };
    for (plane, ws_c, first) in [(&mut frame.u, &mut ws.u, 16), (&mut frame.v, &mut ws.v, 20)] {
        load_edges(ws_c, plane, row, col, 8);
        intra::predict_block(ws_c, 8, chroma_mode, row > 0, col > 0);
        add_chroma_residual(ws_c, coeffs, first);
        store(ws_c, plane, row, col, 8);
    }
}

fn add_luma_residual(ws: &mut Workspace, coeffs: &MacroblockCoefficients) {
    if !coeffs.any_nonzero {
        return;
    }
    for b in 0..16 {
        let pos = WS_ORIGIN + (b >> 2) * 4 * WS_STRIDE + (b & 3) * 4;
        add_residual(ws, pos, &coeffs.blocks[b], coeffs.has_ac[b]);
    }
}

fn add_chroma_residual(ws: &mut Workspace, coeffs: &MacroblockCoefficients, first: usize) {
    if !coeffs.any_nonzero {
        return;
    }
    for i in 0..4 {
        let pos = WS_ORIGIN + (i >> 1) * 4 * WS_STRIDE + (i & 1) * 4;
        add_residual(ws, pos, &coeffs.blocks[first + i], coeffs.has_ac[first + i]);
    }
}

/// Reconstructs one inter-predicted macroblock into `frame` from `reference`.
#[allow(clippy::too_many_arguments)]
pub fn inter_macroblock(
    frame: &mut Picture,
    reference: &Picture,
    ws: &mut MacroblockWorkspace,
    info: &MacroblockInfo,
    coeffs: &MacroblockCoefficients,
    row: usize,
    col: usize,
    interp: InterpolationMode,
) {
    predict_inter(reference, ws, info, row, col, interp);
    add_luma_residual(&mut ws.luma, coeffs);
    store(&ws.luma, &mut frame.y, row, col, 16);
    add_chroma_residual(&mut ws.u, coeffs, 16);
    store(&ws.u, &mut frame.u, row, col, 8);
    add_chroma_residual(&mut ws.v, coeffs, 20);
    store(&ws.v, &mut frame.v, row, col, 8);
}

/// The inter prediction of macroblock (row, col), left in the workspace's luma, U and V
/// blocks (at `WS_ORIGIN`, stride `WS_STRIDE`).
pub(crate) fn predict_inter(
    reference: &Picture,
    ws: &mut MacroblockWorkspace,
    info: &MacroblockInfo,
    row: usize,
    col: usize,
    interp: InterpolationMode,
) {
    let (x, y) = (col as isize * 16, row as isize * 16);
    if info.luma_mode == LumaMode::Split {
        for b in 0..16 {
            let (bx, by) = ((b & 3) * 4, (b >> 2) * 4);
            predict_displaced(
                &reference.y,
                &mut ws.fetch,
                &mut ws.luma,
                WS_ORIGIN + by * WS_STRIDE + bx,
                x + bx as isize,
                y + by as isize,
                4,
                luma_eighths(info.mvs[b]),
                interp.bilinear,
            );
        }
        for i in 0..4 {
            let (bx, by) = ((i & 1) * 4, (i >> 1) * 4);
            // The chroma vector averages the four luma vectors it covers (RFC 6386 §18.1).
            let first = (i >> 1) * 8 + (i & 1) * 2;
            let (mut sum_row, mut sum_col) = (0i32, 0i32);
            for b in [first, first + 1, first + 4, first + 5] {
                sum_row += info.mvs[b].row as i32;
                sum_col += info.mvs[b].col as i32;
            }
            let cmv = interp.chroma((average_chroma(sum_row), average_chroma(sum_col)));
            let (cx, cy) = (
                col as isize * 8 + bx as isize,
                row as isize * 8 + by as isize,
            );
            let pos = WS_ORIGIN + by * WS_STRIDE + bx;
            for (plane, ws_c) in [(&reference.u, &mut ws.u), (&reference.v, &mut ws.v)] {
                predict_displaced(
                    plane,
                    &mut ws.fetch,
                    ws_c,
                    pos,
                    cx,
                    cy,
                    4,
                    cmv,
                    interp.bilinear,
                );
            }
        }
    } else {
        let mv = info.mv;
        let luma = luma_eighths(mv);
        predict_displaced(
            &reference.y,
            &mut ws.fetch,
            &mut ws.luma,
            WS_ORIGIN,
            x,
            y,
            16,
            luma,
            interp.bilinear,
        );
        // A luma vector in quarter samples is the chroma vector in eighth samples.
        let cmv = interp.chroma((mv.row as i32, mv.col as i32));
        let (cx, cy) = (col as isize * 8, row as isize * 8);
        for (plane, ws_c) in [(&reference.u, &mut ws.u), (&reference.v, &mut ws.v)] {
            predict_displaced(
                plane,
                &mut ws.fetch,
                ws_c,
                WS_ORIGIN,
                cx,
                cy,
                8,
                cmv,
                interp.bilinear,
            );
        }
    }
}

/// Average of four doubled luma vector components, rounded half away from zero, in eighth
/// chroma samples (RFC 6386 §18.1).
fn average_chroma(sum_quarter: i32) -> i32 {
    let s = 2 * sum_quarter;
    if s >= 0 {
        (s + 4) >> 3
    } else {
        -((-s + 4) >> 3)
    }
}

/// Predicts a block displaced by `(row, col)` in eighth samples of its plane: the origin
/// moves by the whole part, the filters take the fraction (RFC 6386 §18.3).
#[allow(clippy::too_many_arguments)]
fn predict_displaced(
    plane: &Plane,
    fetch: &mut [u8; 21 * 21],
    ws: &mut Workspace,
    dst_pos: usize,
    x: isize,
    y: isize,
    size: usize,
    (row, col): (i32, i32),
    bilinear: bool,
) {
    let (row, col) = (row as isize, col as isize);
    let frac = ((col & 7) as usize, (row & 7) as usize);
    predict_block(
        plane,
        fetch,
        ws,
        dst_pos,
        x + (col >> 3),
        y + (row >> 3),
        size,
        frac,
        bilinear,
    );
}

/// Predicts a `size`x`size` block whose whole-sample origin in the reference is (x, y)
/// with fractional offset `(mx, my)` in eighths. Blocks whose filter taps reach outside the
/// reference read an edge-extended copy, which is what libvpx's bordered and clamped
/// reference buffers amount to.
#[allow(clippy::too_many_arguments)]
fn predict_block(
    plane: &Plane,
    fetch: &mut [u8; 21 * 21],
    ws: &mut Workspace,
    dst_pos: usize,
    x: isize,
    y: isize,
    size: usize,
    (mx, my): (usize, usize),
    bilinear: bool,
) {
    const FETCH_STRIDE: usize = 21;
    let inside = x >= 2
        && y >= 2
        && x + size as isize + 3 <= plane.width as isize
        && y + size as isize + 3 <= plane.height as isize;
    let (src, src_pos, src_stride): (&[u8], usize, usize) = if inside {
        (
            &plane.data,
            y as usize * plane.stride + x as usize,
            plane.stride,
        )
    } else {
        let n = size + 5;
        for r in 0..n {
            for c in 0..n {
                fetch[r * FETCH_STRIDE + c] = plane.clamped(x + c as isize - 2, y + r as isize - 2);
            }
        }
        (&fetch[..], 2 * FETCH_STRIDE + 2, FETCH_STRIDE)
    };
    if bilinear {
        predict_inter::bilinear_predict(
            src, src_pos, src_stride, ws, dst_pos, WS_STRIDE, size, size, mx, my,
        );
    } else {
        predict_inter::sixtap_predict(
            src, src_pos, src_stride, ws, dst_pos, WS_STRIDE, size, size, mx, my,
        );
    }
}
