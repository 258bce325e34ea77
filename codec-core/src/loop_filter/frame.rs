//! The loop filter's walk over a frame (RFC 6386 §15.1): macroblocks in raster order, for
//! each its left edge, inner vertical edges, top edge, then inner horizontal edges.

use super::FilterParams;
use crate::header::FrameHeader;
use crate::loop_filter;
use crate::picture::{Picture, Plane};

/// Filters `frame` in place. `levels` holds each macroblock's filter level, `skip_inner`
/// whether its inner (subblock) edges are left alone.
pub fn filter_frame(frame: &mut Picture, header: &FrameHeader, levels: &[u8], skip_inner: &[bool]) {
    let mb_cols = frame.mb_cols();
    let mb_rows = frame.mb_rows();
    let key_frame = header.is_key_frame();
    // Parameters depend only on the level: compute each once.
    let mut params: [Option<FilterParams>; 64] = [None; 64];
    for row in 0..mb_rows {
        for col in 0..mb_cols {
            let i = row * mb_cols + col;
            let level = levels[i];
            if level == 0 {
                continue;
            }
            let p = *params[level as usize].get_or_insert_with(|| {
                loop_filter::frame_filter_params(level, header.sharpness, key_frame)
            });
            let inner = !skip_inner[i];
            if header.filter_simple {
                filter_simple_mb(&mut frame.y, row, col, inner, &p);
            } else {
                filter_normal_mb(&mut frame.y, row, col, 16, inner, &p);
                filter_normal_mb(&mut frame.u, row, col, 8, inner, &p);
                filter_normal_mb(&mut frame.v, row, col, 8, inner, &p);
            }
        }
    }
}

fn filter_normal_mb(
    plane: &mut Plane,
    row: usize,
    col: usize,
    size: usize,
    inner: bool,
    p: &FilterParams,
) {
    let stride = plane.stride;
    let origin = row * size * stride + col * size;
    let buf = &mut plane.data;
    if col > 0 {
        loop_filter::normal_mb_edge(buf, origin, 1, stride, size, p.mb_edge);
    }
    if inner {
        for x in (4..size).step_by(4) {
            loop_filter::normal_sub_edge(buf, origin + x, 1, stride, size, p.sub_edge);
        }
    }
    if row > 0 {
        loop_filter::normal_mb_edge(buf, origin, stride, 1, size, p.mb_edge);
    }
    if inner {
        for y in (4..size).step_by(4) {
            loop_filter::normal_sub_edge(buf, origin + y * stride, stride, 1, size, p.sub_edge);
        }
    }
}

fn filter_simple_mb(plane: &mut Plane, row: usize, col: usize, inner: bool, p: &FilterParams) {
    let stride = plane.stride;
    let origin = row * 16 * stride + col * 16;
    let buf = &mut plane.data;
    if col > 0 {
        loop_filter::simple_edge(buf, origin, 1, stride, 16, p.mb_edge.edge_limit);
    }
    if inner {
        for x in [4, 8, 12] {
            loop_filter::simple_edge(buf, origin + x, 1, stride, 16, p.sub_edge.edge_limit);
        }
    }
    if row > 0 {
        loop_filter::simple_edge(buf, origin, stride, 1, 16, p.mb_edge.edge_limit);
    }
    if inner {
        for y in [4, 8, 12] {
            loop_filter::simple_edge(
                buf,
                origin + y * stride,
                stride,
                1,
                16,
                p.sub_edge.edge_limit,
            );
        }
    }
}
