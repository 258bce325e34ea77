//! Per-macroblock prediction records, written as the exact mirror of
//! [`modes::read_modes`](crate::modes::read_modes): segment id, skip flag, intra modes,
//! reference frame and motion vectors (RFC 6386 §10, §11, §16, §17).
//!
//! Motion vectors are coded, priced and counted by one walker over the coding decisions
//! ([`visit_mv_component`]), so the cost the search sees, the counts the probability update
//! sees and the bits in the stream cannot disagree.

use alloc::vec::Vec;

use super::bool_encoder::{EntropyWriter, bit_cost};
use crate::header::FrameHeader;
use crate::modes::{
    LumaMode, MacroblockInfo, ModeMap, MotionVector, RefFrame, find_near_mvs,
    keyframe_subblock_context, split_context, split_neighbours,
};
use crate::tables::{self, MV_PROB_COUNT};

/// The largest motion-vector component magnitude the long form can code (RFC 6386 §17.1:
/// ten magnitude bits).
pub const MV_MAX_MAGNITUDE: i32 = (1 << tables::MV_LONG_BITS) - 1;

/// Writes the prediction record of macroblock (`row`, `col`) as `read_modes` reads it
/// (RFC 6386 §19.3). `map` holds the macroblocks before this one in raster order, exactly
/// as the decoder's map does when it reaches this macroblock; `y_mode_probs` and
/// `uv_mode_probs` are the interframe mode probabilities in force for this frame.
///
/// `info` must be self-consistent the way the decoder fills it: for NEARESTMV and NEARMV
/// the vector is the one [`find_near_mvs`] implies, and for SPLITMV `mvs` holds every
/// subblock's vector laid out by `info.partitioning`.
#[allow(clippy::too_many_arguments)]
pub fn write_macroblock_modes<W: EntropyWriter>(
    w: &mut W,
    header: &FrameHeader,
    map: &ModeMap,
    row: usize,
    col: usize,
    info: &MacroblockInfo,
    y_mode_probs: &[u8; 4],
    uv_mode_probs: &[u8; 3],
) {
    if header.segmentation.update_map {
        debug_assert!(info.segment_id < 4, "segment id {}", info.segment_id);
        w.put_tree(
            &tables::SEGMENT_ID_TREE,
            &header.segmentation.tree_probs,
            info.segment_id.min(3),
        );
    }
    if let Some(p) = header.skip_prob {
        w.put(info.skip_coeff, p);
    } else {
        debug_assert!(!info.skip_coeff, "a skip flag needs header.skip_prob");
    }

    if header.is_key_frame() {
        write_keyframe_modes(w, map, row, col, info);
        return;
    }
    let inter = info.ref_frame != RefFrame::Intra;
    w.put(inter, header.prob_intra);
    if !inter {
        write_intra_modes(w, info, y_mode_probs, uv_mode_probs);
        return;
    }
    w.put(info.ref_frame != RefFrame::Last, header.prob_last);
    if info.ref_frame != RefFrame::Last {
        w.put(info.ref_frame == RefFrame::AltRef, header.prob_golden);
    }

    let sign_bias = [
        false,
        false,
        header.sign_bias_golden,
        header.sign_bias_altref,
    ];
    let near = find_near_mvs(map, row, col, info.ref_frame, &sign_bias);
    debug_assert!(
        info.luma_mode.is_inter(),
        "inter macroblock with an intra mode"
    );
    w.put_tree(
        &tables::MV_REF_TREE,
        &near.mode_probs,
        info.luma_mode.inter_leaf(),
    );
    match info.luma_mode {
        LumaMode::New => write_mv(w, mv_sub(info.mv, near.best), &header.mv_probs),
        LumaMode::Split => {
            debug_assert_eq!(info.mv, info.mvs[15], "SPLITMV vector is subblock 15's");
            let above = map.get(row.wrapping_sub(1), col);
            let left = map.get(row, col.wrapping_sub(1));
            write_split_mvs(w, header, above, left, near.best, info);
        }
        LumaMode::Nearest => debug_assert_eq!(info.mv, near.nearest, "NEARESTMV vector"),
        LumaMode::Near => debug_assert_eq!(info.mv, near.near, "NEARMV vector"),
        _ => debug_assert!(info.mv.is_zero(), "ZEROMV vector"),
    }
}

/// Keyframe modes: fixed probabilities, subblock modes in their neighbours' context
/// (RFC 6386 §11.2–11.4).
fn write_keyframe_modes<W: EntropyWriter>(
    w: &mut W,
    map: &ModeMap,
    row: usize,
    col: usize,
    info: &MacroblockInfo,
) {
    let mode = info.luma_mode;
    w.put_tree(
        &tables::KF_YMODE_TREE,
        &tables::KF_YMODE_PROBS,
        mode.intra_leaf(),
    );
    if mode == LumaMode::BPred {
        for (b, &m) in info.subblock_modes.iter().enumerate() {
            let (above, left) = keyframe_subblock_context(map, row, col, &info.subblock_modes, b);
            let probs = &tables::KF_BMODE_PROBS[above as usize][left as usize];
            w.put_tree(&tables::BMODE_TREE, probs, m);
        }
    }
    w.put_tree(
        &tables::UV_MODE_TREE,
        &tables::KF_UV_MODE_PROBS,
        info.chroma_mode,
    );
}

/// Intra modes of an interframe macroblock (RFC 6386 §16.1).
fn write_intra_modes<W: EntropyWriter>(
    w: &mut W,
    info: &MacroblockInfo,
    y_mode_probs: &[u8; 4],
    uv_mode_probs: &[u8; 3],
) {
    let mode = info.luma_mode;
    debug_assert!(!mode.is_inter(), "intra macroblock with an inter mode");
    w.put_tree(&tables::YMODE_TREE, y_mode_probs, mode.intra_leaf());
    if mode == LumaMode::BPred {
        for &m in &info.subblock_modes {
            w.put_tree(&tables::BMODE_TREE, &tables::BMODE_PROBS, m);
        }
    }
    w.put_tree(&tables::UV_MODE_TREE, uv_mode_probs, info.chroma_mode);
}

/// SPLITMV: the partitioning, then per partition the sub-vector mode that decodes back
/// to its vector, preferring the cheapest-coded references (RFC 6386 §16.4).
fn write_split_mvs<W: EntropyWriter>(
    w: &mut W,
    header: &FrameHeader,
    above: &MacroblockInfo,
    left: &MacroblockInfo,
    best: MotionVector,
    info: &MacroblockInfo,
) {
    debug_assert!(info.partitioning <= tables::MV_4X4);
    let partitioning = info.partitioning.min(tables::MV_4X4);
    w.put_tree(
        &tables::MV_PARTITION_TREE,
        &tables::MV_PARTITION_PROBS,
        partitioning,
    );
    let layout = &tables::MV_PARTITIONS[partitioning as usize];
    for part in 0..tables::MV_PARTITION_COUNTS[partitioning as usize] {
        let first = layout.iter().position(|&p| p as usize == part).unwrap_or(0);
        // The neighbours of a partition's first subblock lie outside the macroblock or in
        // earlier partitions, so the finished `mvs` give what the decoder sees.
        let (left_mv, above_mv) = split_neighbours(above, left, &info.mvs, first);
        let probs = &tables::SUB_MV_REF_PROBS[split_context(left_mv, above_mv)];
        let mv = info.mvs[first];
        debug_assert!(
            layout
                .iter()
                .zip(&info.mvs)
                .all(|(&p, &v)| p as usize != part || v == mv),
            "SPLITMV partition {part} holds different vectors"
        );
        let leaf = sub_mv_label(mv, left_mv, above_mv);
        w.put_tree(&tables::SUB_MV_REF_TREE, probs, leaf);
        if leaf == tables::NEW4X4 {
            write_mv(w, mv_sub(mv, best), &header.mv_probs);
        }
    }
}

/// `a - b`, componentwise, as the decoder's wrapping addition undoes it.
#[inline]
fn mv_sub(a: MotionVector, b: MotionVector) -> MotionVector {
    MotionVector {
        row: a.row.wrapping_sub(b.row),
        col: a.col.wrapping_sub(b.col),
    }
}

/// Walks the coding decisions of one vector component (RFC 6386 §17.1, the mirror of
/// `read_mvcomponent`), calling `visit(probability index, bit)` for each bool. Magnitudes
/// above [`MV_MAX_MAGNITUDE`] cannot be coded and are clamped.
#[inline]
fn visit_mv_component(value: i16, mut visit: impl FnMut(usize, bool)) {
    let a = (value.unsigned_abs() as usize).min(MV_MAX_MAGNITUDE as usize);
    if a < 8 {
        visit(tables::MVP_IS_SHORT, false);
        // MV_SHORT_TREE codes the magnitude as a 3-bit binary number, high bit first.
        let mut node = 0usize;
        for shift in (0..3).rev() {
            let bit = (a >> shift) & 1 == 1;
            visit(tables::MVP_SHORT + (node >> 1), bit);
            node = tables::MV_SHORT_TREE[node + bit as usize].max(0) as usize;
        }
    } else {
        visit(tables::MVP_IS_SHORT, true);
        for i in 0..3 {
            visit(tables::MVP_LONG + i, (a >> i) & 1 == 1);
        }
        for i in (4..tables::MV_LONG_BITS).rev() {
            visit(tables::MVP_LONG + i, (a >> i) & 1 == 1);
        }
        // Bit 3 is implicit (set) unless a higher bit is set.
        if a & !0xf != 0 {
            visit(tables::MVP_LONG + 3, (a >> 3) & 1 == 1);
        }
    }
    if a != 0 {
        visit(tables::MVP_SIGN, value < 0);
    }
}

/// Writes a motion-vector difference, row then column (RFC 6386 §17.1). Components must
/// lie within ±[`MV_MAX_MAGNITUDE`].
pub fn write_mv<W: EntropyWriter>(
    w: &mut W,
    delta: MotionVector,
    probs: &[[u8; MV_PROB_COUNT]; 2],
) {
    for (value, p) in [delta.row, delta.col].into_iter().zip(probs) {
        debug_assert!(
            (value as i32).abs() <= MV_MAX_MAGNITUDE,
            "motion-vector component {value} is beyond ±1023"
        );
        visit_mv_component(value, |i, bit| w.put(bit, p[i]));
    }
}

/// Cost in 1/256 bit of one component.
fn component_cost(value: i16, p: &[u8; MV_PROB_COUNT]) -> u32 {
    let mut cost = 0;
    visit_mv_component(value, |i, bit| cost += bit_cost(bit, p[i]));
    cost
}

/// Cost in 1/256 bit of writing `delta` with [`write_mv`]. For many calls with the same
/// probabilities, [`MvCostTable`] is faster.
pub fn mv_cost(delta: MotionVector, probs: &[[u8; MV_PROB_COUNT]; 2]) -> u32 {
    component_cost(delta.row, &probs[0]) + component_cost(delta.col, &probs[1])
}

/// Costs of every codable vector component for one set of probabilities, so motion
/// search prices a vector with two loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MvCostTable {
    /// Cost of each row component, indexed by value + [`MV_MAX_MAGNITUDE`].
    row: Vec<u32>,
    /// Cost of each column component, likewise.
    col: Vec<u32>,
}

impl MvCostTable {
    pub fn new(probs: &[[u8; MV_PROB_COUNT]; 2]) -> Self {
        let table = |p: &[u8; MV_PROB_COUNT]| {
            (-MV_MAX_MAGNITUDE..=MV_MAX_MAGNITUDE)
                .map(|v| component_cost(v as i16, p))
                .collect()
        };
        MvCostTable {
            row: table(&probs[0]),
            col: table(&probs[1]),
        }
    }

    /// Cost in 1/256 bit of `delta`, equal to [`mv_cost`]. Components beyond ±1023 cannot
    /// be coded; they are priced as if clamped.
    #[inline]
    pub fn cost(&self, delta: MotionVector) -> u32 {
        let index =
            |v: i16| (v as i32).clamp(-MV_MAX_MAGNITUDE, MV_MAX_MAGNITUDE) + MV_MAX_MAGNITUDE;
        self.row[index(delta.row) as usize] + self.col[index(delta.col) as usize]
    }
}

/// How often each motion-vector probability's branch went each way in a frame: the
/// input to the probability update (RFC 6386 §17.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MvCounts {
    /// `[component (row, column)][probability index][bit]`.
    pub counts: [[[u32; 2]; MV_PROB_COUNT]; 2],
}

impl MvCounts {
    /// Counts the decisions [`write_mv`] takes to write `delta`.
    pub fn add(&mut self, delta: MotionVector) {
        for (value, counts) in [delta.row, delta.col].into_iter().zip(&mut self.counts) {
            visit_mv_component(value, |i, bit| counts[i][bit as usize] += 1);
        }
    }

    /// Adds another set of counts (from another slice of the frame).
    pub fn merge(&mut self, other: &MvCounts) {
        let ours = self.counts.as_flattened_mut();
        for (a, b) in ours.iter_mut().zip(other.counts.as_flattened()) {
            a[0] += b[0];
            a[1] += b[1];
        }
    }
}

/// The sub-vector mode that decodes to `mv` for a SPLITMV partition whose left and above
/// neighbours carry `left` and `above`: the cheapest-to-signal of LEFT4X4, ABOVE4X4,
/// ZERO4X4, then NEW4X4 (RFC 6386 §16.4). Decision and writer both use it, so they agree.
pub fn sub_mv_label(mv: MotionVector, left: MotionVector, above: MotionVector) -> u8 {
    if mv == left {
        tables::LEFT4X4
    } else if mv == above {
        tables::ABOVE4X4
    } else if mv.is_zero() {
        tables::ZERO4X4
    } else {
        tables::NEW4X4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bool_decoder::BoolDecoder;
    use crate::encoder::bool_encoder::{BitCounter, BoolEncoder};
    use crate::encoder::header_writer::write_header;
    use crate::header::{self, FrameTag, KeyframeSize};
    use crate::modes::read_modes;
    use crate::state::EntropyProbabilities;
    use crate::test_rng::TestRng;

    fn test_header(
        rng: &mut TestRng,
        key_frame: bool,
        mb_cols: usize,
        mb_rows: usize,
    ) -> FrameHeader {
        let mut bytes = alloc::vec![0u8; 10];
        bytes[0] = !key_frame as u8;
        bytes[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
        bytes[6..8].copy_from_slice(&(mb_cols as u16 * 16).to_le_bytes());
        bytes[8..10].copy_from_slice(&(mb_rows as u16 * 16).to_le_bytes());
        let tag = FrameTag {
            keyframe_size: key_frame.then_some(KeyframeSize {
                width: mb_cols as u16 * 16,
                horizontal_scale: 0,
                height: mb_rows as u16 * 16,
                vertical_scale: 0,
            }),
            ..header::parse_tag(&bytes).unwrap()
        };
        // Parse an all-zero header, then set the fields this test exercises.
        let mut header =
            header::parse_header(tag, &mut BoolDecoder::new(&[0; 64]), &Default::default())
                .unwrap();
        header.segmentation.enabled = rng.below(2) == 1;
        header.segmentation.update_map = header.segmentation.enabled && rng.below(2) == 1;
        if header.segmentation.update_map {
            header.segmentation.tree_probs = core::array::from_fn(|_| rng.range(1, 255) as u8);
        }
        header.skip_prob = (rng.below(3) != 0).then(|| rng.range(1, 254) as u8);
        if !key_frame {
            header.prob_intra = rng.range(1, 255) as u8;
            header.prob_last = rng.range(1, 255) as u8;
            header.prob_golden = rng.range(1, 255) as u8;
            header.sign_bias_golden = rng.below(2) == 1;
            header.sign_bias_altref = rng.below(2) == 1;
            header.y_mode_probs = Some(core::array::from_fn(|_| rng.range(1, 255) as u8));
            for p in header.mv_probs.as_flattened_mut() {
                *p = rng.range(1, 127) as u8 * 2;
            }
        }
        header
    }

    fn random_intra(rng: &mut TestRng, info: &mut MacroblockInfo) {
        let modes = [
            LumaMode::Dc,
            LumaMode::V,
            LumaMode::H,
            LumaMode::Tm,
            LumaMode::BPred,
        ];
        info.luma_mode = modes[rng.below(5) as usize];
        info.subblock_modes = if info.luma_mode == LumaMode::BPred {
            core::array::from_fn(|_| rng.below(10) as u8)
        } else {
            [info.luma_mode.implied_subblock_mode(); 16]
        };
        info.chroma_mode = rng.below(4) as u8;
    }

    /// A vector the generator picks for a NEWMV or NEW4x4: usually near `best`, sometimes
    /// as far as the code reaches.
    fn random_new(rng: &mut TestRng, best: MotionVector) -> MotionVector {
        let reach = if rng.below(8) == 0 {
            MV_MAX_MAGNITUDE
        } else {
            200
        };
        MotionVector {
            row: best.row + rng.range(-reach, reach) as i16,
            col: best.col + rng.range(-reach, reach) as i16,
        }
    }

    /// A random macroblock that decodes to itself: implied vectors are the implied ones.
    fn random_info(
        rng: &mut TestRng,
        header: &FrameHeader,
        map: &ModeMap,
        row: usize,
        col: usize,
    ) -> MacroblockInfo {
        let mut info = MacroblockInfo::default();
        if header.segmentation.update_map {
            info.segment_id = rng.below(4) as u8;
        }
        info.skip_coeff = header.skip_prob.is_some() && rng.below(2) == 1;
        if header.is_key_frame() || rng.below(4) == 0 {
            random_intra(rng, &mut info);
            return info;
        }
        let refs = [RefFrame::Last, RefFrame::Golden, RefFrame::AltRef];
        info.ref_frame = refs[rng.below(3) as usize];
        let sign_bias = [
            false,
            false,
            header.sign_bias_golden,
            header.sign_bias_altref,
        ];
        let near = find_near_mvs(map, row, col, info.ref_frame, &sign_bias);
        let modes = [
            LumaMode::Nearest,
            LumaMode::Near,
            LumaMode::Zero,
            LumaMode::New,
            LumaMode::Split,
        ];
        info.luma_mode = modes[rng.below(5) as usize];
        info.mv = match info.luma_mode {
            LumaMode::Nearest => near.nearest,
            LumaMode::Near => near.near,
            LumaMode::Zero => MotionVector::ZERO,
            LumaMode::New => random_new(rng, near.best),
            _ => {
                let above = map.get(row.wrapping_sub(1), col);
                let left = map.get(row, col.wrapping_sub(1));
                info.partitioning = rng.below(4) as u8;
                let layout = &tables::MV_PARTITIONS[info.partitioning as usize];
                for part in 0..tables::MV_PARTITION_COUNTS[info.partitioning as usize] {
                    let first = layout.iter().position(|&p| p as usize == part).unwrap();
                    let (l, a) = split_neighbours(above, left, &info.mvs, first);
                    let mv = match rng.below(4) {
                        0 => l,
                        1 => a,
                        2 => MotionVector::ZERO,
                        _ => random_new(rng, near.best),
                    };
                    for (b, &p) in layout.iter().enumerate() {
                        if p as usize == part {
                            info.mvs[b] = mv;
                        }
                    }
                }
                info.mvs[15]
            }
        };
        if info.luma_mode != LumaMode::Split {
            info.mvs = [info.mv; 16];
        }
        info
    }

    fn round_trip_frame(seed: u64, key_frame: bool) {
        let mut rng = TestRng(seed);
        let (mb_cols, mb_rows) = (rng.range(1, 7) as usize, rng.range(1, 6) as usize);
        let header = test_header(&mut rng, key_frame, mb_cols, mb_rows);
        let previous = EntropyProbabilities::default();
        let y_mode_probs = header.y_mode_probs.unwrap_or(previous.y_mode);
        let uv_mode_probs = previous.uv_mode;

        let mut encoder = BoolEncoder::new();
        write_header(&mut encoder, &header, &previous);
        let mut map = ModeMap::new(mb_cols, mb_rows);
        for row in 0..mb_rows {
            map.start_row();
            for col in 0..mb_cols {
                let info = random_info(&mut rng, &header, &map, row, col);
                write_macroblock_modes(
                    &mut encoder,
                    &header,
                    &map,
                    row,
                    col,
                    &info,
                    &y_mode_probs,
                    &uv_mode_probs,
                );
                map.push(info);
            }
        }
        let bytes = encoder.finish();

        let mut bd = BoolDecoder::new(&bytes);
        let parsed = header::parse_header(header.tag, &mut bd, &previous).unwrap();
        assert_eq!(parsed, header);
        let mut segment_map = alloc::vec![0u8; mb_cols * mb_rows];
        let decoded = read_modes(
            &mut bd,
            &parsed,
            mb_cols,
            mb_rows,
            &mut segment_map,
            &y_mode_probs,
            &uv_mode_probs,
            0,
        )
        .unwrap();
        for row in 0..mb_rows {
            for col in 0..mb_cols {
                let written = map.get(row, col);
                // read_modes does not record the SPLITMV partitioning; `mvs` carries it.
                let got = MacroblockInfo {
                    partitioning: written.partitioning,
                    ..decoded.get(row, col).clone()
                };
                assert_eq!(&got, written, "seed {seed} macroblock ({row}, {col})");
                assert_eq!(segment_map[row * mb_cols + col], written.segment_id);
            }
        }
    }

    #[test]
    fn keyframe_modes_read_back() {
        for seed in 1..40 {
            round_trip_frame(seed, true);
        }
    }

    #[test]
    fn interframe_modes_read_back() {
        for seed in 100..300 {
            round_trip_frame(seed, false);
        }
    }

    #[test]
    fn mv_costs_agree_with_the_counter() {
        let mut rng = TestRng(9);
        let mut probs = tables::DEFAULT_MV_PROBS;
        for _ in 0..4 {
            let table = MvCostTable::new(&probs);
            for v in -MV_MAX_MAGNITUDE..=MV_MAX_MAGNITUDE {
                let delta = MotionVector {
                    row: v as i16,
                    col: rng.range(-1023, 1023) as i16,
                };
                let mut counter = BitCounter::default();
                write_mv(&mut counter, delta, &probs);
                assert_eq!(mv_cost(delta, &probs), counter.cost, "{delta:?}");
                assert_eq!(table.cost(delta), counter.cost, "{delta:?}");
            }
            for p in probs.as_flattened_mut() {
                *p = rng.range(1, 255) as u8;
            }
        }
    }

    #[test]
    fn mv_counts_follow_the_written_bools() {
        // Counting with the probabilities a counter would need: each count is one bool.
        let mut counts = MvCounts::default();
        let mut bools = 0u32;
        struct Tally<'a>(&'a mut u32);
        impl EntropyWriter for Tally<'_> {
            fn put(&mut self, _: bool, _: u8) {
                *self.0 += 1;
            }
        }
        let mut rng = TestRng(5);
        for _ in 0..1000 {
            let delta = MotionVector {
                row: rng.range(-1023, 1023) as i16,
                col: rng.range(-20, 20) as i16,
            };
            counts.add(delta);
            write_mv(&mut Tally(&mut bools), delta, &tables::DEFAULT_MV_PROBS);
        }
        let total: u32 = counts
            .counts
            .as_flattened()
            .iter()
            .map(|c| c[0] + c[1])
            .sum();
        assert_eq!(total, bools);
        // Zero takes the short form with no sign; 8..=15 leaves bit 3 implicit.
        let mut zero = MvCounts::default();
        zero.add(MotionVector::ZERO);
        assert_eq!(zero.counts[0][tables::MVP_IS_SHORT], [1, 0]);
        assert_eq!(zero.counts[0][tables::MVP_SIGN], [0, 0]);
        let mut eight = MvCounts::default();
        eight.add(MotionVector { row: -8, col: 16 });
        assert_eq!(eight.counts[0][tables::MVP_LONG + 3], [0, 0]);
        assert_eq!(eight.counts[0][tables::MVP_SIGN], [0, 1]);
        assert_eq!(eight.counts[1][tables::MVP_LONG + 3], [1, 0]);
    }
}
