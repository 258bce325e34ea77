//! Intra prediction (RFC 6386 §12).
//!
//! Predictors work in a macroblock workspace: a small buffer whose first row holds the
//! edge above the block (with the above-left sample at column 0 and, for luma, the four
//! above-right samples after the sixteen above ones) and whose first column holds the
//! edge to the left. The block itself starts at [`WS_ORIGIN`].

use crate::modes::LumaMode;
use crate::tables;

/// Row stride of a workspace.
pub const WS_STRIDE: usize = 32;
/// Index of the block's top-left sample in a workspace.
pub const WS_ORIGIN: usize = WS_STRIDE + 1;
/// Size of a workspace: one edge row plus sixteen block rows.
pub const WS_LEN: usize = WS_STRIDE * 17;

pub type Workspace = [u8; WS_LEN];

/// Whole-block prediction for 16x16 luma (`size` 16) or 8x8 chroma (`size` 8), RFC 6386
/// §12.2–12.3. DC prediction averages only the edges inside the frame; the other modes use
/// the edge values as given (127 above the frame, 129 left of it).
pub fn predict_block(
    ws: &mut Workspace,
    size: usize,
    mode: LumaMode,
    have_above: bool,
    have_left: bool,
) {
    let above_left = ws[WS_ORIGIN - WS_STRIDE - 1] as i32;
    let mut above = [0u8; 16];
    above[..size].copy_from_slice(&ws[WS_ORIGIN - WS_STRIDE..WS_ORIGIN - WS_STRIDE + size]);
    let mut left = [0u8; 16];
    for (i, l) in left[..size].iter_mut().enumerate() {
        *l = ws[WS_ORIGIN + i * WS_STRIDE - 1];
    }
    let shift = if size == 16 { 3 } else { 2 };
    for r in 0..size {
        let row = &mut ws[WS_ORIGIN + r * WS_STRIDE..WS_ORIGIN + r * WS_STRIDE + size];
        match mode {
            LumaMode::V => row.copy_from_slice(&above[..size]),
            LumaMode::H => row.fill(left[r]),
            LumaMode::Tm => {
                for (c, x) in row.iter_mut().enumerate() {
                    *x = (left[r] as i32 + above[c] as i32 - above_left).clamp(0, 255) as u8;
                }
            }
            _ => {
                let sum_above: u32 = above[..size].iter().map(|&v| v as u32).sum();
                let sum_left: u32 = left[..size].iter().map(|&v| v as u32).sum();
                let dc = match (have_above, have_left) {
                    (true, true) => (sum_above + sum_left + size as u32) >> (shift + 2),
                    (true, false) => (sum_above + (size as u32 >> 1)) >> (shift + 1),
                    (false, true) => (sum_left + (size as u32 >> 1)) >> (shift + 1),
                    (false, false) => 128,
                };
                row.fill(dc as u8);
            }
        }
    }
}

#[inline]
fn avg2(x: u8, y: u8) -> u8 {
    ((x as u16 + y as u16 + 1) >> 1) as u8
}

#[inline]
fn avg3(x: u8, y: u8, z: u8) -> u8 {
    ((x as u16 + 2 * y as u16 + z as u16 + 2) >> 2) as u8
}

/// Predicts the 4x4 subblock whose top-left sample is `ws[pos]` with subblock mode `mode`
/// (RFC 6386 §12.3). The samples above (eight, including above-right), to the left and
/// above-left of it must already be in the workspace.
pub fn predict_subblock(ws: &mut Workspace, pos: usize, mode: u8) {
    let s = WS_STRIDE;
    let p = ws[pos - s - 1];
    let mut a = [0u8; 8];
    a.copy_from_slice(&ws[pos - s..pos - s + 8]);
    let l = [
        ws[pos - 1],
        ws[pos + s - 1],
        ws[pos + 2 * s - 1],
        ws[pos + 3 * s - 1],
    ];
    // The edge from bottom-left, through the corner, to top-right (the spec's E).
    let e = [l[3], l[2], l[1], l[0], p, a[0], a[1], a[2], a[3]];
    let mut b = [[0u8; 4]; 4];
    match mode {
        tables::B_DC_PRED => {
            let sum: u32 = a[..4].iter().chain(&l).map(|&v| v as u32).sum();
            b = [[((sum + 4) >> 3) as u8; 4]; 4];
        }
        tables::B_TM_PRED => {
            for (r, row) in b.iter_mut().enumerate() {
                for (c, x) in row.iter_mut().enumerate() {
                    *x = (l[r] as i32 + a[c] as i32 - p as i32).clamp(0, 255) as u8;
                }
            }
        }
        tables::B_VE_PRED => {
            let above = [p, a[0], a[1], a[2], a[3], a[4]];
            let row = [
                avg3(above[0], above[1], above[2]),
                avg3(above[1], above[2], above[3]),
                avg3(above[2], above[3], above[4]),
                avg3(above[3], above[4], above[5]),
            ];
            b = [row; 4];
        }
        tables::B_HE_PRED => {
            let v = [
                avg3(p, l[0], l[1]),
                avg3(l[0], l[1], l[2]),
                avg3(l[1], l[2], l[3]),
                avg3(l[2], l[3], l[3]),
            ];
            for (row, &v) in b.iter_mut().zip(&v) {
                *row = [v; 4];
            }
        }
        tables::B_LD_PRED => {
            for (r, row) in b.iter_mut().enumerate() {
                for (c, x) in row.iter_mut().enumerate() {
                    let i = r + c;
                    *x = if i == 6 {
                        avg3(a[6], a[7], a[7])
                    } else {
                        avg3(a[i], a[i + 1], a[i + 2])
                    };
                }
            }
        }
        tables::B_RD_PRED => {
            for (r, row) in b.iter_mut().enumerate() {
                for (c, x) in row.iter_mut().enumerate() {
                    let i = 3 - r + c;
                    *x = avg3(e[i], e[i + 1], e[i + 2]);
                }
            }
        }
        tables::B_VR_PRED => {
            b[3][0] = avg3(e[1], e[2], e[3]);
            b[2][0] = avg3(e[2], e[3], e[4]);
            b[3][1] = avg3(e[3], e[4], e[5]);
            b[1][0] = b[3][1];
            b[2][1] = avg2(e[4], e[5]);
            b[0][0] = b[2][1];
            b[3][2] = avg3(e[4], e[5], e[6]);
            b[1][1] = b[3][2];
            b[2][2] = avg2(e[5], e[6]);
            b[0][1] = b[2][2];
            b[3][3] = avg3(e[5], e[6], e[7]);
            b[1][2] = b[3][3];
            b[2][3] = avg2(e[6], e[7]);
            b[0][2] = b[2][3];
            b[1][3] = avg3(e[6], e[7], e[8]);
            b[0][3] = avg2(e[7], e[8]);
        }
        tables::B_VL_PRED => {
            b[0][0] = avg2(a[0], a[1]);
            b[1][0] = avg3(a[0], a[1], a[2]);
            b[2][0] = avg2(a[1], a[2]);
            b[0][1] = b[2][0];
            b[1][1] = avg3(a[1], a[2], a[3]);
            b[3][0] = b[1][1];
            b[2][1] = avg2(a[2], a[3]);
            b[0][2] = b[2][1];
            b[3][1] = avg3(a[2], a[3], a[4]);
            b[1][2] = b[3][1];
            b[2][2] = avg2(a[3], a[4]);
            b[0][3] = b[2][2];
            b[3][2] = avg3(a[3], a[4], a[5]);
            b[1][3] = b[3][2];
            b[2][3] = avg3(a[4], a[5], a[6]);
            b[3][3] = avg3(a[5], a[6], a[7]);
        }
        tables::B_HD_PRED => {
            b[3][0] = avg2(e[0], e[1]);
            b[3][1] = avg3(e[0], e[1], e[2]);
            b[2][0] = avg2(e[1], e[2]);
            b[3][2] = b[2][0];
            b[2][1] = avg3(e[1], e[2], e[3]);
            b[3][3] = b[2][1];
            b[2][2] = avg2(e[2], e[3]);
            b[1][0] = b[2][2];
            b[2][3] = avg3(e[2], e[3], e[4]);
            b[1][1] = b[2][3];
            b[1][2] = avg2(e[3], e[4]);
            b[0][0] = b[1][2];
            b[1][3] = avg3(e[3], e[4], e[5]);
            b[0][1] = b[1][3];
            b[0][2] = avg3(e[4], e[5], e[6]);
            b[0][3] = avg3(e[5], e[6], e[7]);
        }
        _ => {
            // B_HU_PRED
            b[0][0] = avg2(l[0], l[1]);
            b[0][1] = avg3(l[0], l[1], l[2]);
            b[0][2] = avg2(l[1], l[2]);
            b[1][0] = b[0][2];
            b[0][3] = avg3(l[1], l[2], l[3]);
            b[1][1] = b[0][3];
            b[1][2] = avg2(l[2], l[3]);
            b[2][0] = b[1][2];
            b[1][3] = avg3(l[2], l[3], l[3]);
            b[2][1] = b[1][3];
            b[2][2] = l[3];
            b[2][3] = l[3];
            b[3] = [l[3]; 4];
        }
    }
    for (r, row) in b.iter().enumerate() {
        ws[pos + r * s..pos + r * s + 4].copy_from_slice(row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_with_edges(above: &[u8], left: &[u8], above_left: u8) -> Workspace {
        let mut ws = [0u8; WS_LEN];
        ws[WS_ORIGIN - WS_STRIDE - 1] = above_left;
        ws[WS_ORIGIN - WS_STRIDE..WS_ORIGIN - WS_STRIDE + above.len()].copy_from_slice(above);
        for (i, &l) in left.iter().enumerate() {
            ws[WS_ORIGIN + i * WS_STRIDE - 1] = l;
        }
        ws
    }

    #[test]
    fn dc_prediction_uses_only_available_edges() {
        let above = [10u8; 16];
        let left = [30u8; 16];
        let mut ws = workspace_with_edges(&above, &left, 0);
        predict_block(&mut ws, 16, LumaMode::Dc, true, true);
        assert_eq!(ws[WS_ORIGIN], 20);
        predict_block(&mut ws, 16, LumaMode::Dc, false, true);
        assert_eq!(ws[WS_ORIGIN + 5 * WS_STRIDE + 7], 30);
        predict_block(&mut ws, 16, LumaMode::Dc, false, false);
        assert_eq!(ws[WS_ORIGIN + 15 * WS_STRIDE + 15], 128);
    }

    #[test]
    fn tm_prediction_clamps() {
        let mut ws = workspace_with_edges(&[250; 8], &[250; 8], 10);
        predict_block(&mut ws, 8, LumaMode::Tm, true, true);
        assert_eq!(ws[WS_ORIGIN], 255);
        let mut ws = workspace_with_edges(&[5; 8], &[5; 8], 200);
        predict_block(&mut ws, 8, LumaMode::Tm, true, true);
        assert_eq!(ws[WS_ORIGIN + WS_STRIDE], 0);
    }

    #[test]
    fn subblock_diagonals_follow_their_edges() {
        let above: [u8; 8] = [10, 20, 30, 40, 50, 60, 70, 80];
        let left: [u8; 4] = [15, 25, 35, 45];
        let mut ws = workspace_with_edges(&above, &left, 5);
        predict_subblock(&mut ws, WS_ORIGIN, tables::B_LD_PRED);
        // Down-left: constant along anti-diagonals, last one uses A[7] twice.
        assert_eq!(ws[WS_ORIGIN + 3], ws[WS_ORIGIN + 3 * WS_STRIDE]);
        assert_eq!(ws[WS_ORIGIN + 3 * WS_STRIDE + 3], avg3(70, 80, 80));
        predict_subblock(&mut ws, WS_ORIGIN, tables::B_RD_PRED);
        assert_eq!(ws[WS_ORIGIN], avg3(15, 5, 10));
        assert_eq!(ws[WS_ORIGIN + 3 * WS_STRIDE], avg3(45, 35, 25));
        predict_subblock(&mut ws, WS_ORIGIN, tables::B_HU_PRED);
        assert_eq!(ws[WS_ORIGIN + 3 * WS_STRIDE + 3], 45);
    }
}
