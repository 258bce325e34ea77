//! The frame tag and the frame header (RFC 6386 §9, §19.1–19.2).

use crate::bool_decoder::BoolDecoder;
use crate::error::DecodeError;
use crate::state::EntropyProbabilities;
use crate::state::TokenProbabilities;
use crate::tables;

/// The 3-byte frame tag that starts every frame, plus the keyframe start code and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameTag {
    pub key_frame: bool,
    /// 0 to 3: reconstruction filter and loop-filter type hints (RFC 6386 §9.1).
    pub version: u8,
    pub show_frame: bool,
    pub first_partition_size: usize,
    /// Keyframes only: width, height and their 2-bit scaling codes.
    pub keyframe_size: Option<KeyframeSize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyframeSize {
    pub width: u16,
    pub horizontal_scale: u8,
    pub height: u16,
    pub vertical_scale: u8,
}

/// Segmentation fields of one frame header (RFC 6386 §9.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SegmentationHeader {
    pub enabled: bool,
    pub update_map: bool,
    /// `Some((absolute, quantizer, loop_filter))` when segment data is updated.
    pub update_data: Option<SegmentData>,
    /// Tree probabilities for the segment map; 255 where not transmitted.
    pub tree_probs: [u8; 3],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SegmentData {
    pub absolute_values: bool,
    pub quantizer: [i8; 4],
    pub loop_filter_level: [i8; 4],
}

/// Loop-filter delta updates of one header: `Some(value)` where a delta is replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LoopFilterDeltaUpdate {
    pub enabled: bool,
    pub reference_frame: [Option<i8>; 4],
    pub mode: [Option<i8>; 4],
}

/// Quantizer indices: the base and the five deltas (RFC 6386 §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct QuantIndices {
    pub y_ac: u8,
    pub y_dc_delta: i8,
    pub y2_dc_delta: i8,
    pub y2_ac_delta: i8,
    pub uv_dc_delta: i8,
    pub uv_ac_delta: i8,
}

/// Where golden or altref is copied from when the frame does not refresh it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BufferCopy {
    #[default]
    None,
    FromLast,
    /// From golden (for altref) or from altref (for golden).
    FromOther,
}

/// Everything the first partition's header says, in decoding order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub tag: FrameTag,
    /// Keyframes: color space bit and clamping type (0 = decoder must clamp).
    pub color_space: u8,
    pub clamping_type: u8,
    pub segmentation: SegmentationHeader,
    /// `false` = normal loop filter, `true` = simple.
    pub filter_simple: bool,
    pub loop_filter_level: u8,
    pub sharpness: u8,
    pub loop_filter_deltas: LoopFilterDeltaUpdate,
    /// 1, 2, 4 or 8 token partitions.
    pub partition_count: usize,
    pub quant: QuantIndices,
    pub refresh_golden: bool,
    pub refresh_altref: bool,
    pub copy_to_golden: BufferCopy,
    pub copy_to_altref: BufferCopy,
    pub sign_bias_golden: bool,
    pub sign_bias_altref: bool,
    pub refresh_entropy_probs: bool,
    pub refresh_last: bool,
    /// Coefficient probabilities after this header's updates.
    pub coefficient_probs: TokenProbabilities,
    /// `Some(prob_skip_false)` when macroblocks carry a skip flag.
    pub skip_prob: Option<u8>,
    /// Interframes only: probabilities of intra, last, golden.
    pub prob_intra: u8,
    pub prob_last: u8,
    pub prob_golden: u8,
    /// Interframes only: mode probability updates, `None` when not updated.
    pub y_mode_probs: Option<[u8; 4]>,
    pub uv_mode_probs: Option<[u8; 3]>,
    /// Motion-vector probabilities after this header's updates.
    pub mv_probs: [[u8; tables::MV_PROB_COUNT]; 2],
}

impl FrameHeader {
    pub fn is_key_frame(&self) -> bool {
        self.tag.key_frame
    }
}

/// Parses the 3-byte frame tag and, for keyframes, the start code and size (RFC 6386 §9.1).
pub fn parse_tag(data: &[u8]) -> Result<FrameTag, DecodeError> {
    if data.len() < 3 {
        return Err(DecodeError::Truncated {
            what: "frame tag",
            needed: 3,
            available: data.len(),
        });
    }
    let raw = u32::from_le_bytes([data[0], data[1], data[2], 0]);
    let key_frame = raw & 1 == 0;
    let version = ((raw >> 1) & 7) as u8;
    let show_frame = (raw >> 4) & 1 == 1;
    let first_partition_size = (raw >> 5) as usize;
    if version > 3 {
        return Err(DecodeError::InvalidField {
            field: "frame tag version",
            value: version as u32,
        });
    }
    let keyframe_size = if key_frame {
        if data.len() < 10 {
            return Err(DecodeError::Truncated {
                what: "keyframe header",
                needed: 10,
                available: data.len(),
            });
        }
        if data[3..6] != [0x9d, 0x01, 0x2a] {
            return Err(DecodeError::BadStartCode([data[3], data[4], data[5]]));
        }
        let w = u16::from_le_bytes([data[6], data[7]]);
        let h = u16::from_le_bytes([data[8], data[9]]);
        let size = KeyframeSize {
            width: w & 0x3fff,
            horizontal_scale: (w >> 14) as u8,
            height: h & 0x3fff,
            vertical_scale: (h >> 14) as u8,
        };
        if size.width == 0 || size.height == 0 {
            return Err(DecodeError::ZeroSize {
                width: size.width,
                height: size.height,
            });
        }
        Some(size)
    } else {
        None
    };
    Ok(FrameTag {
        key_frame,
        version,
        show_frame,
        first_partition_size,
        keyframe_size,
    })
}

impl FrameTag {
    /// Bytes before the first partition: the tag, plus start code and size on keyframes.
    pub fn header_len(&self) -> usize {
        if self.key_frame { 10 } else { 3 }
    }
}

/// Reads the frame header from the start of the first partition (RFC 6386 §19.2).
/// `probs` are the probabilities in force before this frame (the defaults on keyframes).
pub fn parse_header(
    tag: FrameTag,
    bd: &mut BoolDecoder<'_>,
    probs: &EntropyProbabilities,
) -> Result<FrameHeader, DecodeError> {
    let key_frame = tag.key_frame;
    let (color_space, clamping_type) = if key_frame {
        (bd.read_flag() as u8, bd.read_flag() as u8)
    } else {
        (0, 0)
    };

    let mut segmentation = SegmentationHeader {
        tree_probs: [255; 3],
        ..Default::default()
    };
    segmentation.enabled = bd.read_flag();
    if segmentation.enabled {
        segmentation.update_map = bd.read_flag();
        let update_data = bd.read_flag();
        if update_data {
            let absolute_values = bd.read_flag();
            let mut data = SegmentData {
                absolute_values,
                ..Default::default()
            };
            for q in &mut data.quantizer {
                *q = bd.read_optional_signed(7).unwrap_or(0) as i8;
            }
            for lf in &mut data.loop_filter_level {
                *lf = bd.read_optional_signed(6).unwrap_or(0) as i8;
            }
            segmentation.update_data = Some(data);
        }
        if segmentation.update_map {
            for p in &mut segmentation.tree_probs {
                *p = if bd.read_flag() {
                    bd.read_literal(8) as u8
                } else {
                    255
                };
            }
        }
    }

    let filter_simple = bd.read_flag();
    let loop_filter_level = bd.read_literal(6) as u8;
    let sharpness = bd.read_literal(3) as u8;
    let mut loop_filter_deltas = LoopFilterDeltaUpdate {
        enabled: bd.read_flag(),
        ..Default::default()
    };
    if loop_filter_deltas.enabled && bd.read_flag() {
        for d in &mut loop_filter_deltas.reference_frame {
            *d = bd.read_optional_signed(6).map(|v| v as i8);
        }
        for d in &mut loop_filter_deltas.mode {
            *d = bd.read_optional_signed(6).map(|v| v as i8);
        }
    }

    let partition_count = 1 << bd.read_literal(2);

    let y_ac = bd.read_literal(7) as u8;
    let mut delta = || bd.read_optional_signed(4).unwrap_or(0) as i8;
    let quant = QuantIndices {
        y_ac,
        y_dc_delta: delta(),
        y2_dc_delta: delta(),
        y2_ac_delta: delta(),
        uv_dc_delta: delta(),
        uv_ac_delta: delta(),
    };

    let mut header = FrameHeader {
        tag,
        color_space,
        clamping_type,
        segmentation,
        filter_simple,
        loop_filter_level,
        sharpness,
        loop_filter_deltas,
        partition_count,
        quant,
        refresh_golden: key_frame,
        refresh_altref: key_frame,
        copy_to_golden: BufferCopy::None,
        copy_to_altref: BufferCopy::None,
        sign_bias_golden: false,
        sign_bias_altref: false,
        refresh_entropy_probs: true,
        refresh_last: true,
        coefficient_probs: probs.coefficients,
        skip_prob: None,
        prob_intra: 0,
        prob_last: 0,
        prob_golden: 0,
        y_mode_probs: None,
        uv_mode_probs: None,
        mv_probs: probs.motion_vectors,
    };

    if key_frame {
        header.refresh_entropy_probs = bd.read_flag();
    } else {
        header.refresh_golden = bd.read_flag();
        header.refresh_altref = bd.read_flag();
        let copy = |bd: &mut BoolDecoder<'_>, field| match bd.read_literal(2) {
            0 => Ok(BufferCopy::None),
            1 => Ok(BufferCopy::FromLast),
            2 => Ok(BufferCopy::FromOther),
            value => Err(DecodeError::InvalidField { field, value }),
        };
        if !header.refresh_golden {
            header.copy_to_golden = copy(bd, "copy_buffer_to_golden")?;
        }
        if !header.refresh_altref {
            header.copy_to_altref = copy(bd, "copy_buffer_to_alternate")?;
        }
        header.sign_bias_golden = bd.read_flag();
        header.sign_bias_altref = bd.read_flag();
        header.refresh_entropy_probs = bd.read_flag();
        header.refresh_last = bd.read_flag();
    }

    // Token probability updates (RFC 6386 §13.4).
    for (i, plane) in header.coefficient_probs.iter_mut().enumerate() {
        for (j, band) in plane.iter_mut().enumerate() {
            for (k, context) in band.iter_mut().enumerate() {
                for (l, p) in context.iter_mut().enumerate() {
                    if bd.read_bool(tables::COEFF_UPDATE_PROBS[i][j][k][l]) {
                        *p = bd.read_literal(8) as u8;
                    }
                }
            }
        }
    }

    if bd.read_flag() {
        header.skip_prob = Some(bd.read_literal(8) as u8);
    }

    if !key_frame {
        header.prob_intra = bd.read_literal(8) as u8;
        header.prob_last = bd.read_literal(8) as u8;
        header.prob_golden = bd.read_literal(8) as u8;
        if bd.read_flag() {
            let mut p = [0u8; 4];
            p.iter_mut().for_each(|p| *p = bd.read_literal(8) as u8);
            header.y_mode_probs = Some(p);
        }
        if bd.read_flag() {
            let mut p = [0u8; 3];
            p.iter_mut().for_each(|p| *p = bd.read_literal(8) as u8);
            header.uv_mode_probs = Some(p);
        }
        // Motion-vector probability updates (RFC 6386 §17.2).
        for (component, update) in header.mv_probs.iter_mut().zip(&tables::MV_UPDATE_PROBS) {
            for (p, &update_prob) in component.iter_mut().zip(update) {
                if bd.read_bool(update_prob) {
                    let x = bd.read_literal(7) as u8;
                    *p = if x == 0 { 1 } else { x << 1 };
                }
            }
        }
    }
    Ok(header)
}

/// Parses a frame's tag and header without decoding it, for inspection tools.
/// Probability updates are applied to the defaults; every other field is exact.
pub fn inspect(data: &[u8]) -> Result<FrameHeader, DecodeError> {
    let tag = parse_tag(data)?;
    let start = tag.header_len();
    let end = start + tag.first_partition_size;
    if end > data.len() {
        return Err(DecodeError::Truncated {
            what: "first partition",
            needed: end,
            available: data.len(),
        });
    }
    let mut bd = BoolDecoder::new(&data[start..end]);
    parse_header(tag, &mut bd, &EntropyProbabilities::default())
}
