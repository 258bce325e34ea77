//! Dequantization factors (RFC 6386 §9.6, §14.1).

use crate::header::QuantIndices;
use crate::tables::{AC_QUANT, DC_QUANT};

/// DC and AC factors for the three kinds of block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DequantFactors {
    pub y: [i32; 2],
    pub y2: [i32; 2],
    pub uv: [i32; 2],
}

fn lookup(table: &[i32; 128], index: i32) -> i32 {
    table[index.clamp(0, 127) as usize]
}

impl DequantFactors {
    /// Factors for base quantizer index `q` (already adjusted by segment) and the header's
    /// per-block deltas.
    pub fn new(q: i32, deltas: &QuantIndices) -> Self {
        let y2_ac = lookup(&AC_QUANT, q + deltas.y2_ac_delta as i32) * 155 / 100;
        DequantFactors {
            y: [
                lookup(&DC_QUANT, q + deltas.y_dc_delta as i32),
                lookup(&AC_QUANT, q),
            ],
            y2: [
                lookup(&DC_QUANT, q + deltas.y2_dc_delta as i32) * 2,
                y2_ac.max(8),
            ],
            uv: [
                lookup(&DC_QUANT, q + deltas.uv_dc_delta as i32).min(132),
                lookup(&AC_QUANT, q + deltas.uv_ac_delta as i32),
            ],
        }
    }
}
