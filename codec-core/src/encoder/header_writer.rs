//! The frame tag and the frame header, written as the exact mirror of
//! [`header::parse_header`](crate::header::parse_header) (RFC 6386 §9, §19.1–19.2).
//!
//! Every field is written in the order and with the coding the parser reads it, so a
//! header written here parses back to an equal [`FrameHeader`].

use alloc::format;
use alloc::vec::Vec;

use super::EncodeError;
use super::bool_encoder::EntropyWriter;
use crate::header::{BufferCopy, FrameHeader, FrameTag};
use crate::state::EntropyProbabilities;
use crate::tables;

/// The largest first partition the tag's 19-bit size field can describe (RFC 6386 §9.1).
pub const MAX_FIRST_PARTITION_SIZE: usize = (1 << 19) - 1;

/// The largest token partition a 3-byte size can describe (RFC 6386 §9.5).
const MAX_TOKEN_PARTITION_SIZE: usize = (1 << 24) - 1;

/// Whether `p` can be sent as a 7-bit motion-vector probability update (RFC 6386 §17.2:
/// the value `x` stands for `x << 1`, or 1 when `x` is 0).
pub fn is_representable_mv_prob(p: u8) -> bool {
    p == 1 || (p >= 2 && p.is_multiple_of(2))
}

/// Writes every field of the frame header that `parse_header` reads, in the same order
/// (RFC 6386 §19.2). `previous` holds the probabilities in force before this frame (the
/// defaults on keyframes): a token or motion-vector probability is sent only where the
/// header's value differs from it.
pub fn write_header<W: EntropyWriter>(
    w: &mut W,
    header: &FrameHeader,
    previous: &EntropyProbabilities,
) {
    let key_frame = header.is_key_frame();
    if key_frame {
        w.put_flag(header.color_space != 0);
        w.put_flag(header.clamping_type != 0);
    }

    write_segmentation(w, header);

    w.put_flag(header.filter_simple);
    w.put_literal(header.loop_filter_level as u32, 6);
    w.put_literal(header.sharpness as u32, 3);
    let deltas = &header.loop_filter_deltas;
    w.put_flag(deltas.enabled);
    if deltas.enabled {
        let update = deltas
            .reference_frame
            .iter()
            .chain(&deltas.mode)
            .any(Option::is_some);
        w.put_flag(update);
        if update {
            for d in deltas.reference_frame.iter().chain(&deltas.mode) {
                w.put_optional_signed(d.map(i32::from), 6);
            }
        }
    } else {
        debug_assert!(
            deltas
                .reference_frame
                .iter()
                .chain(&deltas.mode)
                .all(Option::is_none),
            "loop-filter delta updates need loop_filter_deltas.enabled"
        );
    }

    debug_assert!(
        matches!(header.partition_count, 1 | 2 | 4 | 8),
        "partition count {} is not 1, 2, 4 or 8",
        header.partition_count
    );
    w.put_literal(header.partition_count.trailing_zeros().min(3), 2);

    // The parser reads an absent delta as 0, so a zero delta costs one bit.
    let quant = &header.quant;
    w.put_literal(quant.y_ac as u32, 7);
    for delta in [
        quant.y_dc_delta,
        quant.y2_dc_delta,
        quant.y2_ac_delta,
        quant.uv_dc_delta,
        quant.uv_ac_delta,
    ] {
        w.put_optional_signed((delta != 0).then_some(delta as i32), 4);
    }

    if key_frame {
        w.put_flag(header.refresh_entropy_probs);
    } else {
        w.put_flag(header.refresh_golden);
        w.put_flag(header.refresh_altref);
        if !header.refresh_golden {
            w.put_literal(buffer_copy_code(header.copy_to_golden), 2);
        }
        if !header.refresh_altref {
            w.put_literal(buffer_copy_code(header.copy_to_altref), 2);
        }
        w.put_flag(header.sign_bias_golden);
        w.put_flag(header.sign_bias_altref);
        w.put_flag(header.refresh_entropy_probs);
        w.put_flag(header.refresh_last);
    }

    write_coefficient_updates(w, &header.coefficient_probs, &previous.coefficients);

    w.put_flag(header.skip_prob.is_some());
    if let Some(p) = header.skip_prob {
        w.put_literal(p as u32, 8);
    }

    if !key_frame {
        w.put_literal(header.prob_intra as u32, 8);
        w.put_literal(header.prob_last as u32, 8);
        w.put_literal(header.prob_golden as u32, 8);
        w.put_flag(header.y_mode_probs.is_some());
        for &p in header.y_mode_probs.iter().flatten() {
            w.put_literal(p as u32, 8);
        }
        w.put_flag(header.uv_mode_probs.is_some());
        for &p in header.uv_mode_probs.iter().flatten() {
            w.put_literal(p as u32, 8);
        }
        write_mv_updates(w, &header.mv_probs, &previous.motion_vectors);
    }
}

/// Segmentation fields (RFC 6386 §9.3, §19.2 `segmentation_enabled` onwards).
fn write_segmentation<W: EntropyWriter>(w: &mut W, header: &FrameHeader) {
    let seg = &header.segmentation;
    w.put_flag(seg.enabled);
    if !seg.enabled {
        return;
    }
    w.put_flag(seg.update_map);
    w.put_flag(seg.update_data.is_some());
    if let Some(data) = &seg.update_data {
        w.put_flag(data.absolute_values);
        // Absent values read as 0, so zeros are sent as absent.
        for &q in &data.quantizer {
            w.put_optional_signed((q != 0).then_some(q as i32), 7);
        }
        for &lf in &data.loop_filter_level {
            w.put_optional_signed((lf != 0).then_some(lf as i32), 6);
        }
    }
    if seg.update_map {
        // An absent tree probability reads as 255.
        for &p in &seg.tree_probs {
            w.put_flag(p != 255);
            if p != 255 {
                w.put_literal(p as u32, 8);
            }
        }
    }
}

/// The 2-bit `copy_buffer_to_*` code (RFC 6386 §9.7).
fn buffer_copy_code(copy: BufferCopy) -> u32 {
    match copy {
        BufferCopy::None => 0,
        BufferCopy::FromLast => 1,
        BufferCopy::FromOther => 2,
    }
}

/// One update flag per coefficient probability, then the new value where it changed
/// (RFC 6386 §13.4).
fn write_coefficient_updates<W: EntropyWriter>(
    w: &mut W,
    probs: &crate::state::TokenProbabilities,
    previous: &crate::state::TokenProbabilities,
) {
    let planes = probs.iter().zip(previous).zip(&tables::COEFF_UPDATE_PROBS);
    for ((plane, previous), update) in planes {
        let bands = plane.iter().zip(previous).zip(update);
        for ((band, previous), update) in bands {
            let contexts = band.iter().zip(previous).zip(update);
            for ((context, previous), update) in contexts {
                for ((&p, &old), &update_prob) in context.iter().zip(previous).zip(update) {
                    w.put(p != old, update_prob);
                    if p != old {
                        w.put_literal(p as u32, 8);
                    }
                }
            }
        }
    }
}

/// Motion-vector probability updates in their 7-bit form (RFC 6386 §17.2).
fn write_mv_updates<W: EntropyWriter>(
    w: &mut W,
    probs: &[[u8; tables::MV_PROB_COUNT]; 2],
    previous: &[[u8; tables::MV_PROB_COUNT]; 2],
) {
    for ((component, previous), update) in probs.iter().zip(previous).zip(&tables::MV_UPDATE_PROBS)
    {
        for ((&p, &old), &update_prob) in component.iter().zip(previous).zip(update) {
            w.put(p != old, update_prob);
            if p != old {
                debug_assert!(
                    is_representable_mv_prob(p),
                    "motion-vector probability {p} has no 7-bit form"
                );
                w.put_literal((p >> 1) as u32, 7);
            }
        }
    }
}

/// Assembles a frame (RFC 6386 §9.1, §9.5): the 3-byte tag with the first partition's
/// size, on keyframes the start code and dimensions, the first partition, the 3-byte
/// sizes of every token partition but the last, then the token partitions.
///
/// `tag.first_partition_size` is ignored: the size written is `first_partition.len()`.
pub fn write_frame(
    tag: &FrameTag,
    first_partition: &[u8],
    token_partitions: &[Vec<u8>],
) -> Result<Vec<u8>, EncodeError> {
    let invalid = |what: alloc::string::String| Err(EncodeError::InvalidParameter(what));
    if first_partition.len() > MAX_FIRST_PARTITION_SIZE {
        return invalid(format!(
            "first partition is {} bytes; the frame tag can describe at most {} (2^19 - 1)",
            first_partition.len(),
            MAX_FIRST_PARTITION_SIZE
        ));
    }
    if tag.version > 3 {
        return invalid(format!("frame tag version {} is not 0..=3", tag.version));
    }
    if !matches!(token_partitions.len(), 1 | 2 | 4 | 8) {
        return invalid(format!(
            "{} token partitions; VP8 allows 1, 2, 4 or 8",
            token_partitions.len()
        ));
    }
    let last = token_partitions.len() - 1;
    if let Some((i, p)) = token_partitions[..last]
        .iter()
        .enumerate()
        .find(|(_, p)| p.len() > MAX_TOKEN_PARTITION_SIZE)
    {
        return invalid(format!(
            "token partition {i} is {} bytes; its 3-byte size field holds at most {}",
            p.len(),
            MAX_TOKEN_PARTITION_SIZE
        ));
    }

    let header_len = if tag.key_frame { 10 } else { 3 };
    let total = header_len
        + first_partition.len()
        + 3 * last
        + token_partitions.iter().map(Vec::len).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    let raw = (!tag.key_frame) as u32
        | (tag.version as u32) << 1
        | (tag.show_frame as u32) << 4
        | (first_partition.len() as u32) << 5;
    out.extend_from_slice(&raw.to_le_bytes()[..3]);
    if tag.key_frame {
        let Some(size) = tag.keyframe_size else {
            return invalid("a keyframe tag needs keyframe_size".into());
        };
        let (w, h) = (size.width, size.height);
        if w == 0 || h == 0 || w > 0x3fff || h > 0x3fff {
            return invalid(format!("keyframe size {w}x{h} is outside 1..=16383"));
        }
        if size.horizontal_scale > 3 || size.vertical_scale > 3 {
            return invalid(format!(
                "keyframe scaling codes {} and {} are not 0..=3",
                size.horizontal_scale, size.vertical_scale
            ));
        }
        out.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        out.extend_from_slice(&(w | (size.horizontal_scale as u16) << 14).to_le_bytes());
        out.extend_from_slice(&(h | (size.vertical_scale as u16) << 14).to_le_bytes());
    }
    out.extend_from_slice(first_partition);
    for p in &token_partitions[..last] {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes()[..3]);
    }
    for p in token_partitions {
        out.extend_from_slice(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bool_decoder::BoolDecoder;
    use crate::encoder::bool_encoder::BoolEncoder;
    use crate::header::{
        self, KeyframeSize, LoopFilterDeltaUpdate, QuantIndices, SegmentData, SegmentationHeader,
    };
    use crate::test_rng::TestRng;

    /// A header as the parser would return it after reading what `write_header` wrote:
    /// fields the frame type does not carry keep the parser's defaults.
    fn random_header(
        rng: &mut TestRng,
        key_frame: bool,
        previous: &EntropyProbabilities,
    ) -> FrameHeader {
        let flag = |rng: &mut TestRng| rng.below(2) == 1;
        let tag = FrameTag {
            key_frame,
            version: rng.below(4) as u8,
            show_frame: flag(rng),
            first_partition_size: 0,
            keyframe_size: key_frame.then(|| KeyframeSize {
                width: rng.range(1, 0x3fff) as u16,
                horizontal_scale: rng.below(4) as u8,
                height: rng.range(1, 0x3fff) as u16,
                vertical_scale: rng.below(4) as u8,
            }),
        };
        let mut segmentation = SegmentationHeader {
            tree_probs: [255; 3],
            ..Default::default()
        };
        if flag(rng) {
            segmentation.enabled = true;
            segmentation.update_map = flag(rng);
            if flag(rng) {
                let mut data = SegmentData {
                    absolute_values: flag(rng),
                    ..Default::default()
                };
                for q in &mut data.quantizer {
                    *q = if flag(rng) {
                        rng.range(-127, 127) as i8
                    } else {
                        0
                    };
                }
                for lf in &mut data.loop_filter_level {
                    *lf = if flag(rng) {
                        rng.range(-63, 63) as i8
                    } else {
                        0
                    };
                }
                segmentation.update_data = Some(data);
            }
            if segmentation.update_map {
                for p in &mut segmentation.tree_probs {
                    *p = if flag(rng) {
                        rng.range(0, 255) as u8
                    } else {
                        255
                    };
                }
            }
        }
        let mut loop_filter_deltas = LoopFilterDeltaUpdate {
            enabled: flag(rng),
            ..Default::default()
        };
        if loop_filter_deltas.enabled && flag(rng) {
            let deltas = loop_filter_deltas.reference_frame.iter_mut();
            for d in deltas.chain(loop_filter_deltas.mode.iter_mut()) {
                *d = flag(rng).then(|| rng.range(-63, 63) as i8);
            }
        }
        let delta = |rng: &mut TestRng| {
            if rng.below(3) == 0 {
                0
            } else {
                rng.range(-15, 15) as i8
            }
        };
        let quant = QuantIndices {
            y_ac: rng.below(128) as u8,
            y_dc_delta: delta(rng),
            y2_dc_delta: delta(rng),
            y2_ac_delta: delta(rng),
            uv_dc_delta: delta(rng),
            uv_ac_delta: delta(rng),
        };
        let mut coefficient_probs = previous.coefficients;
        for p in coefficient_probs
            .as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut()
        {
            if rng.below(20) == 0 {
                *p = rng.range(1, 255) as u8;
            }
        }
        let mut header = FrameHeader {
            tag,
            color_space: 0,
            clamping_type: 0,
            segmentation,
            filter_simple: flag(rng),
            loop_filter_level: rng.below(64) as u8,
            sharpness: rng.below(8) as u8,
            loop_filter_deltas,
            partition_count: 1 << rng.below(4),
            quant,
            refresh_golden: true,
            refresh_altref: true,
            copy_to_golden: BufferCopy::None,
            copy_to_altref: BufferCopy::None,
            sign_bias_golden: false,
            sign_bias_altref: false,
            refresh_entropy_probs: flag(rng),
            refresh_last: true,
            coefficient_probs,
            skip_prob: flag(rng).then(|| rng.below(256) as u8),
            prob_intra: 0,
            prob_last: 0,
            prob_golden: 0,
            y_mode_probs: None,
            uv_mode_probs: None,
            mv_probs: previous.motion_vectors,
        };
        let copies = [
            BufferCopy::None,
            BufferCopy::FromLast,
            BufferCopy::FromOther,
        ];
        if key_frame {
            header.color_space = rng.below(2) as u8;
            header.clamping_type = rng.below(2) as u8;
        } else {
            header.refresh_golden = flag(rng);
            header.refresh_altref = flag(rng);
            if !header.refresh_golden {
                header.copy_to_golden = copies[rng.below(3) as usize];
            }
            if !header.refresh_altref {
                header.copy_to_altref = copies[rng.below(3) as usize];
            }
            header.sign_bias_golden = flag(rng);
            header.sign_bias_altref = flag(rng);
            header.refresh_last = flag(rng);
            header.prob_intra = rng.below(256) as u8;
            header.prob_last = rng.below(256) as u8;
            header.prob_golden = rng.below(256) as u8;
            if flag(rng) {
                header.y_mode_probs = Some(core::array::from_fn(|_| rng.range(1, 255) as u8));
            }
            if flag(rng) {
                header.uv_mode_probs = Some(core::array::from_fn(|_| rng.range(1, 255) as u8));
            }
            for p in header.mv_probs.as_flattened_mut() {
                if rng.below(4) == 0 {
                    let x = rng.below(128) as u8;
                    *p = if x == 0 { 1 } else { x << 1 };
                }
            }
        }
        header
    }

    fn round_trip(header: &FrameHeader, previous: &EntropyProbabilities) -> FrameHeader {
        let mut encoder = BoolEncoder::new();
        write_header(&mut encoder, header, previous);
        let bytes = encoder.finish();
        let mut bd = BoolDecoder::new(&bytes);
        let parsed = header::parse_header(header.tag, &mut bd, previous).expect("header parses");
        assert_eq!(bd.bits_past_end(), 0);
        parsed
    }

    #[test]
    fn random_headers_parse_back_equal() {
        let mut rng = TestRng(0x5eed_0001);
        let defaults = EntropyProbabilities::default();
        for i in 0..400 {
            let key_frame = i % 3 == 0;
            // Interframes start from probabilities an earlier frame may have changed.
            let previous = if key_frame {
                defaults.clone()
            } else {
                let mut p = defaults.clone();
                p.coefficients = random_header(&mut rng, true, &defaults).coefficient_probs;
                p
            };
            let header = random_header(&mut rng, key_frame, &previous);
            assert_eq!(round_trip(&header, &previous), header, "header {i}");
        }
    }

    #[test]
    fn extreme_headers_parse_back_equal() {
        let defaults = EntropyProbabilities::default();
        let mut rng = TestRng(3);
        let mut header = random_header(&mut rng, false, &defaults);
        header.segmentation = SegmentationHeader {
            enabled: true,
            update_map: true,
            update_data: Some(SegmentData {
                absolute_values: true,
                quantizer: [127, -127, 0, 1],
                loop_filter_level: [63, -63, 0, -1],
            }),
            tree_probs: [0, 1, 255],
        };
        header.loop_filter_deltas = LoopFilterDeltaUpdate {
            enabled: true,
            reference_frame: [Some(0), Some(63), Some(-63), None],
            mode: [None, None, None, Some(-1)],
        };
        header.quant = QuantIndices {
            y_ac: 127,
            y_dc_delta: 15,
            y2_dc_delta: -15,
            y2_ac_delta: 1,
            uv_dc_delta: -1,
            uv_ac_delta: 0,
        };
        header.refresh_golden = false;
        header.refresh_altref = false;
        header.copy_to_golden = BufferCopy::FromOther;
        header.copy_to_altref = BufferCopy::FromLast;
        header.coefficient_probs = [[[[255; 11]; 3]; 8]; 4];
        header.mv_probs = [[1; tables::MV_PROB_COUNT], [254; tables::MV_PROB_COUNT]];
        header.skip_prob = Some(0);
        header.y_mode_probs = Some([1, 255, 128, 2]);
        header.uv_mode_probs = Some([255, 1, 7]);
        header.partition_count = 8;
        assert_eq!(round_trip(&header, &defaults), header);

        // Nothing changed: every update flag is 0.
        let mut header = random_header(&mut rng, true, &defaults);
        header.coefficient_probs = defaults.coefficients;
        header.skip_prob = None;
        assert_eq!(round_trip(&header, &defaults), header);
    }

    #[test]
    fn representable_mv_probs() {
        assert!(is_representable_mv_prob(1));
        assert!(is_representable_mv_prob(2));
        assert!(is_representable_mv_prob(254));
        assert!(!is_representable_mv_prob(0));
        assert!(!is_representable_mv_prob(3));
        assert!(!is_representable_mv_prob(255));
    }

    #[test]
    fn frames_parse_back() {
        let mut rng = TestRng(77);
        for count in [1usize, 2, 4, 8] {
            for key_frame in [true, false] {
                let first: Vec<u8> = (0..rng.below(300)).map(|i| i as u8).collect();
                let partitions: Vec<Vec<u8>> = (0..count)
                    .map(|k| alloc::vec![k as u8; rng.below(100) as usize])
                    .collect();
                let tag = FrameTag {
                    key_frame,
                    version: rng.below(4) as u8,
                    show_frame: rng.below(2) == 1,
                    first_partition_size: first.len(),
                    keyframe_size: key_frame.then_some(KeyframeSize {
                        width: 16383,
                        horizontal_scale: 3,
                        height: 1,
                        vertical_scale: 2,
                    }),
                };
                let frame = write_frame(&tag, &first, &partitions).unwrap();
                assert_eq!(header::parse_tag(&frame).unwrap(), tag);
                let start = tag.header_len();
                assert_eq!(&frame[start..start + first.len()], &first[..]);
                // Walk the partition sizes as the decoder does (RFC 6386 §9.5).
                let sizes_at = start + first.len();
                let mut at = sizes_at + 3 * (count - 1);
                for (k, p) in partitions.iter().enumerate() {
                    let len = if k + 1 < count {
                        let s = &frame[sizes_at + 3 * k..];
                        u32::from_le_bytes([s[0], s[1], s[2], 0]) as usize
                    } else {
                        frame.len() - at
                    };
                    assert_eq!(&frame[at..at + len], &p[..], "partition {k}");
                    at += len;
                }
            }
        }
    }

    #[test]
    fn oversized_first_partition_is_refused() {
        let tag = FrameTag {
            key_frame: false,
            version: 0,
            show_frame: true,
            first_partition_size: 0,
            keyframe_size: None,
        };
        let first = alloc::vec![0u8; MAX_FIRST_PARTITION_SIZE + 1];
        let err = write_frame(&tag, &first, &[Vec::new()]).unwrap_err();
        assert!(matches!(err, EncodeError::InvalidParameter(ref m) if m.contains("2^19")));
        assert!(write_frame(&tag, &first[1..], &[Vec::new()]).is_ok());
        assert!(write_frame(&tag, &[], &[Vec::new(), Vec::new(), Vec::new()]).is_err());
    }

    /// A whole keyframe through every writer, decoded by the decoder: modes, tokens in
    /// several partitions, skipped macroblocks and the frame layout all line up.
    #[test]
    fn written_keyframes_decode() {
        use crate::encoder::mode_writer::write_macroblock_modes;
        use crate::encoder::token_writer::{
            MacroblockLevels, macroblock_is_empty, write_macroblock_tokens,
        };
        use crate::modes::{LumaMode, MacroblockInfo, ModeMap};
        use crate::state::DecoderState;

        let mut rng = TestRng(1234);
        let defaults = EntropyProbabilities::default();
        for frame_index in 0..8 {
            let (width, height) = (rng.range(1, 80) as usize, rng.range(1, 80) as usize);
            let (mb_cols, mb_rows) = (width.div_ceil(16), height.div_ceil(16));
            let mut header = random_header(&mut rng, true, &defaults);
            header.tag.keyframe_size = Some(KeyframeSize {
                width: width as u16,
                horizontal_scale: 0,
                height: height as u16,
                vertical_scale: 0,
            });
            header.segmentation.update_map &= frame_index % 2 == 0;
            if !header.segmentation.update_map {
                header.segmentation.tree_probs = [255; 3];
            }

            let mut first = BoolEncoder::new();
            write_header(&mut first, &header, &defaults);
            let mut partitions: Vec<BoolEncoder> = (0..header.partition_count)
                .map(|_| BoolEncoder::new())
                .collect();
            let mut map = ModeMap::new(mb_cols, mb_rows);
            let mut above = alloc::vec![[false; 9]; mb_cols];
            for row in 0..mb_rows {
                map.start_row();
                let mut left = [false; 9];
                for (col, above) in above.iter_mut().enumerate() {
                    let modes = [LumaMode::Dc, LumaMode::V, LumaMode::H, LumaMode::Tm];
                    let mut info = MacroblockInfo {
                        luma_mode: if rng.below(3) == 0 {
                            LumaMode::BPred
                        } else {
                            modes[rng.below(4) as usize]
                        },
                        chroma_mode: rng.below(4) as u8,
                        ..Default::default()
                    };
                    info.subblock_modes = if info.luma_mode == LumaMode::BPred {
                        core::array::from_fn(|_| rng.below(10) as u8)
                    } else {
                        [info.luma_mode.implied_subblock_mode(); 16]
                    };
                    if header.segmentation.update_map {
                        info.segment_id = rng.below(4) as u8;
                    }
                    let mut levels: MacroblockLevels = [[0; 16]; 25];
                    if rng.below(3) != 0 {
                        for v in levels.as_flattened_mut() {
                            if rng.below(4) == 0 {
                                *v = rng.range(-20, 20) as i16;
                            }
                        }
                    }
                    let has_y2 = info.luma_mode.has_y2();
                    info.skip_coeff =
                        header.skip_prob.is_some() && macroblock_is_empty(&levels, has_y2);
                    let probs = (&defaults.y_mode, &defaults.uv_mode);
                    write_macroblock_modes(
                        &mut first, &header, &map, row, col, &info, probs.0, probs.1,
                    );
                    if info.skip_coeff {
                        crate::tokens::skip_macroblock(has_y2, above, &mut left);
                    } else {
                        let w = &mut partitions[row % header.partition_count];
                        let probs = &header.coefficient_probs;
                        write_macroblock_tokens(w, probs, &levels, has_y2, above, &mut left);
                    }
                    map.push(info);
                }
            }
            let partitions: Vec<Vec<u8>> = partitions.into_iter().map(|p| p.finish()).collect();
            let frame = write_frame(&header.tag, &first.finish(), &partitions).unwrap();
            let (state, picture) = crate::decode(&DecoderState::new(), &frame)
                .unwrap_or_else(|e| panic!("frame {frame_index}: {e}"));
            assert_eq!(picture.is_some(), header.tag.show_frame);
            let mut parsed = header::inspect(&frame).unwrap();
            parsed.tag.first_partition_size = header.tag.first_partition_size;
            assert_eq!(parsed, header);
            if header.refresh_entropy_probs {
                assert_eq!(state.probabilities.coefficients, header.coefficient_probs);
            }
        }
    }
}
