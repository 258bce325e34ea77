//! Per-macroblock prediction records: segment id, skip flag, intra modes, reference frame
//! and motion vectors (RFC 6386 §10, §11, §16, §17).

use alloc::vec;
use alloc::vec::Vec;

use crate::bool_decoder::BoolDecoder;
use crate::error::DecodeError;
use crate::header::FrameHeader;
use crate::tables;

/// Luma prediction mode of a macroblock: the five intra modes, then the five inter modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LumaMode {
    #[default]
    Dc,
    V,
    H,
    Tm,
    BPred,
    Nearest,
    Near,
    Zero,
    New,
    Split,
}

impl LumaMode {
    fn from_intra_leaf(leaf: u8) -> Self {
        match leaf {
            tables::DC_PRED => LumaMode::Dc,
            tables::V_PRED => LumaMode::V,
            tables::H_PRED => LumaMode::H,
            tables::TM_PRED => LumaMode::Tm,
            _ => LumaMode::BPred,
        }
    }

    fn from_inter_leaf(leaf: u8) -> Self {
        match leaf {
            tables::NEAREST => LumaMode::Nearest,
            tables::NEAR => LumaMode::Near,
            tables::ZERO => LumaMode::Zero,
            tables::NEW => LumaMode::New,
            _ => LumaMode::Split,
        }
    }

    /// The leaf of the intra mode trees for this mode (intra modes only).
    pub fn intra_leaf(self) -> u8 {
        match self {
            LumaMode::V => tables::V_PRED,
            LumaMode::H => tables::H_PRED,
            LumaMode::Tm => tables::TM_PRED,
            LumaMode::BPred => tables::B_PRED,
            _ => tables::DC_PRED,
        }
    }

    /// The leaf of the mv_ref tree for this mode (inter modes only).
    pub fn inter_leaf(self) -> u8 {
        match self {
            LumaMode::Nearest => tables::NEAREST,
            LumaMode::Near => tables::NEAR,
            LumaMode::New => tables::NEW,
            LumaMode::Split => tables::SPLIT,
            _ => tables::ZERO,
        }
    }

    pub fn is_inter(self) -> bool {
        matches!(
            self,
            LumaMode::Nearest | LumaMode::Near | LumaMode::Zero | LumaMode::New | LumaMode::Split
        )
    }

    /// The subblock mode a whole-macroblock intra mode implies for its neighbours'
    /// contexts on keyframes (RFC 6386 §11.3).
    pub fn implied_subblock_mode(self) -> u8 {
        match self {
            LumaMode::V => tables::B_VE_PRED,
            LumaMode::H => tables::B_HE_PRED,
            LumaMode::Tm => tables::B_TM_PRED,
            _ => tables::B_DC_PRED,
        }
    }

    /// Whether the macroblock has a Y2 block (every mode but B_PRED and SPLITMV).
    pub fn has_y2(self) -> bool {
        !matches!(self, LumaMode::BPred | LumaMode::Split)
    }
}

/// Which picture a macroblock is predicted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RefFrame {
    #[default]
    Intra,
    Last,
    Golden,
    AltRef,
}

/// A motion vector in quarter luma samples (RFC 6386 §17.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct MotionVector {
    pub row: i16,
    pub col: i16,
}

impl MotionVector {
    pub const ZERO: MotionVector = MotionVector { row: 0, col: 0 };

    pub fn is_zero(self) -> bool {
        self == Self::ZERO
    }
}

/// Everything the first partition says about one macroblock.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MacroblockInfo {
    pub luma_mode: LumaMode,
    /// Chroma intra mode (DC, V, H, TM as `tables` numbers); unused for inter macroblocks.
    pub chroma_mode: u8,
    pub ref_frame: RefFrame,
    pub segment_id: u8,
    /// The macroblock's skip flag as coded: no residual follows.
    pub skip_coeff: bool,
    /// The macroblock's vector (for SPLITMV, that of subblock 15).
    pub mv: MotionVector,
    /// B_PRED subblock modes; for other intra modes the implied ones (keyframe contexts).
    pub subblock_modes: [u8; 16],
    /// SPLITMV subblock vectors; for other inter modes all equal to `mv`.
    pub mvs: [MotionVector; 16],
    /// SPLITMV partitioning (`tables::MV_TOP_BOTTOM` ..= `tables::MV_4X4`).
    pub partitioning: u8,
}

/// Mode information for a frame, with a border row above and a border column to the left
/// that read as intra macroblocks with zero vectors (RFC 6386 §16.3).
pub struct ModeMap {
    pub mb_cols: usize,
    pub mb_rows: usize,
    stride: usize,
    infos: Vec<MacroblockInfo>,
}

impl ModeMap {
    /// An empty map holding only its border row; rows are appended with [`start_row`]
    /// and [`push`], so memory follows the data actually present.
    ///
    /// [`start_row`]: ModeMap::start_row
    /// [`push`]: ModeMap::push
    pub fn new(mb_cols: usize, mb_rows: usize) -> Self {
        let stride = mb_cols + 1;
        ModeMap {
            mb_cols,
            mb_rows,
            stride,
            infos: vec![MacroblockInfo::default(); stride],
        }
    }

    fn index(&self, row: usize, col: usize) -> usize {
        row.wrapping_add(1) * self.stride + col.wrapping_add(1)
    }

    pub fn get(&self, row: usize, col: usize) -> &MacroblockInfo {
        &self.infos[self.index(row, col)]
    }

    /// Begins a new macroblock row (its left border entry).
    pub fn start_row(&mut self) {
        self.infos.push(MacroblockInfo::default());
    }

    /// Appends the next macroblock of the current row.
    pub fn push(&mut self, info: MacroblockInfo) {
        self.infos.push(info);
    }
}

/// Reads the prediction records of all macroblocks, in raster order, from the first
/// partition after the frame header. `segment_map` is the persistent map, updated in place
/// when the header says so. Stops with an error as soon as more than `overrun_limit` bits
/// past the partition's end have been consumed.
#[allow(clippy::too_many_arguments)]
pub fn read_modes(
    bd: &mut BoolDecoder<'_>,
    header: &FrameHeader,
    mb_cols: usize,
    mb_rows: usize,
    segment_map: &mut [u8],
    y_mode_probs: &[u8; 4],
    uv_mode_probs: &[u8; 3],
    overrun_limit: usize,
) -> Result<ModeMap, DecodeError> {
    let mut map = ModeMap::new(mb_cols, mb_rows);
    let key_frame = header.is_key_frame();
    let sign_bias = [
        false,
        false,
        header.sign_bias_golden,
        header.sign_bias_altref,
    ];
    for row in 0..mb_rows {
        if bd.bits_past_end() > overrun_limit {
            return Err(DecodeError::Truncated {
                what: "first partition (macroblock modes)",
                needed: bd.position() + bd.bits_past_end().div_ceil(8),
                available: bd.position(),
            });
        }
        map.start_row();
        for col in 0..mb_cols {
            let mb_index = row * mb_cols + col;
            let mut info = MacroblockInfo::default();
            if header.segmentation.update_map {
                segment_map[mb_index] =
                    bd.read_tree(&tables::SEGMENT_ID_TREE, &header.segmentation.tree_probs);
            } else if key_frame {
                segment_map[mb_index] = 0;
            }
            info.segment_id = segment_map[mb_index];
            info.skip_coeff = match header.skip_prob {
                Some(p) => bd.read_bool(p),
                None => false,
            };
            if key_frame {
                read_keyframe_modes(bd, &map, row, col, &mut info);
            } else if bd.read_bool(header.prob_intra) {
                info.ref_frame = if !bd.read_bool(header.prob_last) {
                    RefFrame::Last
                } else if !bd.read_bool(header.prob_golden) {
                    RefFrame::Golden
                } else {
                    RefFrame::AltRef
                };
                read_inter_modes(bd, header, &map, row, col, &sign_bias, &mut info);
            } else {
                read_intra_modes(bd, y_mode_probs, uv_mode_probs, &mut info);
            }
            map.push(info);
        }
    }
    Ok(map)
}

fn read_keyframe_modes(
    bd: &mut BoolDecoder<'_>,
    map: &ModeMap,
    row: usize,
    col: usize,
    info: &mut MacroblockInfo,
) {
    let mode =
        LumaMode::from_intra_leaf(bd.read_tree(&tables::KF_YMODE_TREE, &tables::KF_YMODE_PROBS));
    info.luma_mode = mode;
    if mode == LumaMode::BPred {
        let above = map.get(row.wrapping_sub(1), col).subblock_modes;
        let left = map.get(row, col.wrapping_sub(1)).subblock_modes;
        for b in 0..16 {
            let a = if b < 4 {
                above[b + 12]
            } else {
                info.subblock_modes[b - 4]
            };
            let l = if b & 3 == 0 {
                left[b + 3]
            } else {
                info.subblock_modes[b - 1]
            };
            info.subblock_modes[b] = bd.read_tree(
                &tables::BMODE_TREE,
                &tables::KF_BMODE_PROBS[a as usize][l as usize],
            );
        }
    } else {
        info.subblock_modes = [mode.implied_subblock_mode(); 16];
    }
    info.chroma_mode = bd.read_tree(&tables::UV_MODE_TREE, &tables::KF_UV_MODE_PROBS);
}

/// The above and left subblock modes that select subblock `b`'s probabilities on a
/// keyframe (RFC 6386 §11.3); `modes` holds this macroblock's modes decided so far.
pub fn keyframe_subblock_context(
    map: &ModeMap,
    row: usize,
    col: usize,
    modes: &[u8; 16],
    b: usize,
) -> (u8, u8) {
    let above = if b < 4 {
        map.get(row.wrapping_sub(1), col).subblock_modes[b + 12]
    } else {
        modes[b - 4]
    };
    let left = if b & 3 == 0 {
        map.get(row, col.wrapping_sub(1)).subblock_modes[b + 3]
    } else {
        modes[b - 1]
    };
    (above, left)
}

fn read_intra_modes(
    bd: &mut BoolDecoder<'_>,
    y_mode_probs: &[u8; 4],
    uv_mode_probs: &[u8; 3],
    info: &mut MacroblockInfo,
) {
    let mode = LumaMode::from_intra_leaf(bd.read_tree(&tables::YMODE_TREE, y_mode_probs));
    info.luma_mode = mode;
    if mode == LumaMode::BPred {
        for m in &mut info.subblock_modes {
            *m = bd.read_tree(&tables::BMODE_TREE, &tables::BMODE_PROBS);
        }
    } else {
        info.subblock_modes = [mode.implied_subblock_mode(); 16];
    }
    info.chroma_mode = bd.read_tree(&tables::UV_MODE_TREE, uv_mode_probs);
}

/// Clamping bounds for predicted vectors: a block may reach at most one macroblock past
/// the frame's edge (RFC 6386 §16.3), in quarter samples.
pub struct MvBounds {
    pub to_left: i32,
    pub to_right: i32,
    pub to_top: i32,
    pub to_bottom: i32,
}

impl MvBounds {
    pub fn new(map: &ModeMap, row: usize, col: usize) -> Self {
        MvBounds {
            to_left: -((col as i32 + 1) * 64),
            to_right: (map.mb_cols - col) as i32 * 64,
            to_top: -((row as i32 + 1) * 64),
            to_bottom: (map.mb_rows - row) as i32 * 64,
        }
    }

    pub fn clamp(&self, mv: MotionVector) -> MotionVector {
        MotionVector {
            col: (mv.col as i32).clamp(self.to_left, self.to_right) as i16,
            row: (mv.row as i32).clamp(self.to_top, self.to_bottom) as i16,
        }
    }
}

/// The reference vectors and mode probabilities for an inter macroblock, from the census
/// of its above, left and above-left neighbours (RFC 6386 §16.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NearMvs {
    /// Base for NEWMV and NEW4x4 vectors, clamped.
    pub best: MotionVector,
    /// The NEARESTMV vector, clamped.
    pub nearest: MotionVector,
    /// The NEARMV vector, clamped.
    pub near: MotionVector,
    /// Probabilities of the mv_ref tree's four nodes.
    pub mode_probs: [u8; 4],
}

/// Surveys the neighbours of macroblock (row, col) predicted from `ref_frame`.
pub fn find_near_mvs(
    map: &ModeMap,
    row: usize,
    col: usize,
    ref_frame: RefFrame,
    sign_bias: &[bool; 4],
) -> NearMvs {
    let above = map.get(row.wrapping_sub(1), col);
    let left = map.get(row, col.wrapping_sub(1));
    let above_left = map.get(row.wrapping_sub(1), col.wrapping_sub(1));

    let mut near_mvs = [MotionVector::ZERO; 4];
    let mut counts = [0u8; 4];
    let mut n = 0;
    let this_bias = sign_bias[ref_frame as usize];
    for (neighbour, weight) in [(above, 2), (left, 2), (above_left, 1)] {
        if neighbour.ref_frame == RefFrame::Intra {
            continue;
        }
        if neighbour.mv.is_zero() {
            counts[0] += weight;
            continue;
        }
        let mut mv = neighbour.mv;
        if sign_bias[neighbour.ref_frame as usize] != this_bias {
            mv = MotionVector {
                row: mv.row.wrapping_neg(),
                col: mv.col.wrapping_neg(),
            };
        }
        if n == 0 || mv != near_mvs[n] {
            n += 1;
            near_mvs[n] = mv;
        }
        counts[n] += weight;
    }
    // With three distinct vectors, the above-left one may merge with the nearest.
    if counts[3] > 0 && near_mvs[n] == near_mvs[1] {
        counts[1] += 1;
    }
    counts[3] = (above.luma_mode == LumaMode::Split) as u8 * 2
        + (left.luma_mode == LumaMode::Split) as u8 * 2
        + (above_left.luma_mode == LumaMode::Split) as u8;
    if counts[2] > counts[1] {
        counts.swap(1, 2);
        near_mvs.swap(1, 2);
    }
    if counts[1] >= counts[0] {
        near_mvs[0] = near_mvs[1];
    }
    let bounds = MvBounds::new(map, row, col);
    NearMvs {
        best: bounds.clamp(near_mvs[0]),
        nearest: bounds.clamp(near_mvs[1]),
        near: bounds.clamp(near_mvs[2]),
        mode_probs: [
            tables::MODE_CONTEXTS[counts[0] as usize][0],
            tables::MODE_CONTEXTS[counts[1] as usize][1],
            tables::MODE_CONTEXTS[counts[2] as usize][2],
            tables::MODE_CONTEXTS[counts[3] as usize][3],
        ],
    }
}

fn read_inter_modes(
    bd: &mut BoolDecoder<'_>,
    header: &FrameHeader,
    map: &ModeMap,
    row: usize,
    col: usize,
    sign_bias: &[bool; 4],
    info: &mut MacroblockInfo,
) {
    let near = find_near_mvs(map, row, col, info.ref_frame, sign_bias);
    let mode = LumaMode::from_inter_leaf(bd.read_tree(&tables::MV_REF_TREE, &near.mode_probs));
    info.luma_mode = mode;
    let mv = match mode {
        LumaMode::Nearest => near.nearest,
        LumaMode::Near => near.near,
        LumaMode::New => {
            let delta = read_mv(bd, &header.mv_probs);
            MotionVector {
                row: near.best.row.wrapping_add(delta.row),
                col: near.best.col.wrapping_add(delta.col),
            }
        }
        LumaMode::Split => {
            let above = map.get(row.wrapping_sub(1), col);
            let left = map.get(row, col.wrapping_sub(1));
            read_split_mvs(bd, header, above, left, near.best, info);
            info.mvs[15]
        }
        _ => MotionVector::ZERO,
    };
    info.mv = mv;
    if mode != LumaMode::Split {
        info.mvs = [mv; 16];
    }
}

/// SPLITMV: a partitioning and one vector per partition (RFC 6386 §16.4).
fn read_split_mvs(
    bd: &mut BoolDecoder<'_>,
    header: &FrameHeader,
    above: &MacroblockInfo,
    left: &MacroblockInfo,
    best: MotionVector,
    info: &mut MacroblockInfo,
) {
    let partitioning =
        bd.read_tree(&tables::MV_PARTITION_TREE, &tables::MV_PARTITION_PROBS) as usize;
    info.partitioning = partitioning as u8;
    let layout = &tables::MV_PARTITIONS[partitioning];
    for part in 0..tables::MV_PARTITION_COUNTS[partitioning] {
        let first = layout.iter().position(|&p| p as usize == part).unwrap_or(0);
        let (left_mv, above_mv) = split_neighbours(above, left, &info.mvs, first);
        let context = split_context(left_mv, above_mv);
        let mv = match bd.read_tree(&tables::SUB_MV_REF_TREE, &tables::SUB_MV_REF_PROBS[context]) {
            tables::LEFT4X4 => left_mv,
            tables::ABOVE4X4 => above_mv,
            tables::ZERO4X4 => MotionVector::ZERO,
            _ => {
                let delta = read_mv(bd, &header.mv_probs);
                MotionVector {
                    row: best.row.wrapping_add(delta.row),
                    col: best.col.wrapping_add(delta.col),
                }
            }
        };
        for (b, &p) in layout.iter().enumerate() {
            if p as usize == part {
                info.mvs[b] = mv;
            }
        }
    }
}

/// The left and above vectors of subblock `b` in a SPLITMV macroblock whose vectors decided
/// so far are `mvs`: outside the macroblock they come from its neighbours, inside from
/// subblocks of earlier partitions (RFC 6386 §16.4).
pub fn split_neighbours(
    above: &MacroblockInfo,
    left: &MacroblockInfo,
    mvs: &[MotionVector; 16],
    b: usize,
) -> (MotionVector, MotionVector) {
    let left_mv = if b & 3 == 0 {
        left.mvs[b + 3]
    } else {
        mvs[b - 1]
    };
    let above_mv = if b < 4 { above.mvs[b + 12] } else { mvs[b - 4] };
    (left_mv, above_mv)
}

/// The probability context of a sub-vector mode from its left and above vectors
/// (RFC 6386 §16.4, `vp8_mvCont`).
pub fn split_context(left: MotionVector, above: MotionVector) -> usize {
    if left == above {
        if left.is_zero() {
            tables::SUBMVREF_LEFT_ABOVE_ZED
        } else {
            tables::SUBMVREF_LEFT_ABOVE_SAME
        }
    } else if above.is_zero() {
        tables::SUBMVREF_ABOVE_ZED
    } else if left.is_zero() {
        tables::SUBMVREF_LEFT_ZED
    } else {
        tables::SUBMVREF_NORMAL
    }
}

fn read_mv(bd: &mut BoolDecoder<'_>, probs: &[[u8; tables::MV_PROB_COUNT]; 2]) -> MotionVector {
    let row = read_mv_component(bd, &probs[0]);
    let col = read_mv_component(bd, &probs[1]);
    MotionVector { row, col }
}

/// One vector component (RFC 6386 §17.1).
fn read_mv_component(bd: &mut BoolDecoder<'_>, p: &[u8; tables::MV_PROB_COUNT]) -> i16 {
    let mut a: i16 = 0;
    if bd.read_bool(p[tables::MVP_IS_SHORT]) {
        for i in 0..3 {
            a += (bd.read_bool(p[tables::MVP_LONG + i]) as i16) << i;
        }
        for i in (4..tables::MV_LONG_BITS).rev() {
            a += (bd.read_bool(p[tables::MVP_LONG + i]) as i16) << i;
        }
        // Bit 3 is implicit when no higher bit is set: the value is at least 8.
        if a & !0xf == 0 || bd.read_bool(p[tables::MVP_LONG + 3]) {
            a += 8;
        }
    } else {
        a = bd.read_tree(
            &tables::MV_SHORT_TREE,
            &p[tables::MVP_SHORT..tables::MVP_SHORT + 7],
        ) as i16;
    }
    if a != 0 && bd.read_bool(p[tables::MVP_SIGN]) {
        -a
    } else {
        a
    }
}
