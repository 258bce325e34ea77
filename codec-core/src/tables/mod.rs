//! The constant tables of VP8 (RFC 6386): coding trees, fixed and default probabilities,
//! quantizer lookups and interpolation filters.
//!
//! Every table here was extracted mechanically from the text of RFC 6386 (page breaks and
//! comments stripped, shapes and internal consistency asserted), not typed by hand. Each one
//! cites the section it comes from. The trees live in [`trees`] and the coefficient-token
//! tables in [`coefficients`]; both are re-exported here, so every table is reachable as
//! `tables::NAME`.
//!
//! # Tree format
//!
//! Trees use the RFC's `tree_index` layout (§8.1): an array of `i8` holding pairs of entries,
//! one pair per internal node. Starting at `i = 0`, read a bool `b` with probability
//! `probs[i >> 1]` and continue at `i = tree[i + b]`; a positive entry is the index of the
//! next pair and an entry `<= 0` is a leaf whose value is `-entry`. The leaf values are the
//! RFC's enumeration values, given as constants in [`mode`] (and re-exported here).

pub mod coefficients;
pub mod trees;

pub use coefficients::{
    BLOCK_TYPE_UV, BLOCK_TYPE_Y_AFTER_Y2, BLOCK_TYPE_Y_WITH_DC, BLOCK_TYPE_Y2, BLOCK_TYPES,
    COEFF_BANDS, COEFF_UPDATE_PROBS, DCT_CAT_BASE, DCT_CAT_PROBS, DEFAULT_COEFF_PROBS, ZIGZAG,
};
pub use mode::*;
pub use trees::{
    BMODE_TREE, COEFF_TOKEN_TREE, KF_YMODE_TREE, MV_PARTITION_TREE, MV_REF_TREE, MV_SHORT_TREE,
    SEGMENT_ID_TREE, SUB_MV_REF_TREE, UV_MODE_TREE, YMODE_TREE,
};

/// Leaf values of the coding trees, in the order of the RFC's enumerations.
pub mod mode {
    // Macroblock-level intra modes, `intra_mbmode` (RFC 6386 §8.2). The first
    // four are also the chroma modes (`num_uv_modes = B_PRED`).
    pub const DC_PRED: u8 = 0;
    pub const V_PRED: u8 = 1;
    pub const H_PRED: u8 = 2;
    pub const TM_PRED: u8 = 3;
    pub const B_PRED: u8 = 4;

    // Subblock intra modes, `intra_bmode` (RFC 6386 §11.2).
    pub const B_DC_PRED: u8 = 0;
    pub const B_TM_PRED: u8 = 1;
    pub const B_VE_PRED: u8 = 2;
    pub const B_HE_PRED: u8 = 3;
    pub const B_LD_PRED: u8 = 4;
    pub const B_RD_PRED: u8 = 5;
    pub const B_VR_PRED: u8 = 6;
    pub const B_VL_PRED: u8 = 7;
    pub const B_HD_PRED: u8 = 8;
    pub const B_HU_PRED: u8 = 9;

    // Macroblock inter modes, `mv_ref` (RFC 6386 §16.2). The RFC numbers these from
    // `mv_nearest = num_ymodes`; here they are relative to `mv_nearest` (RFC value - 5).
    pub const NEAREST: u8 = 0;
    pub const NEAR: u8 = 1;
    pub const ZERO: u8 = 2;
    pub const NEW: u8 = 3;
    pub const SPLIT: u8 = 4;

    // Split-MV subblock modes, `sub_mv_ref` (RFC 6386 §16.4). The RFC numbers these
    // from `LEFT4x4 = num_intra_bmodes`; here they are relative to `LEFT4x4` (RFC value - 10).
    pub const LEFT4X4: u8 = 0;
    pub const ABOVE4X4: u8 = 1;
    pub const ZERO4X4: u8 = 2;
    pub const NEW4X4: u8 = 3;

    // Split-MV partitionings, `MVpartition` (RFC 6386 §16.4): 16x8, 8x16, 8x8 and
    // 4x4 pieces (the RFC calls the last one `MV_16`).
    pub const MV_TOP_BOTTOM: u8 = 0;
    pub const MV_LEFT_RIGHT: u8 = 1;
    pub const MV_QUARTERS: u8 = 2;
    pub const MV_4X4: u8 = 3;

    // Coefficient tokens, `dct_token` (RFC 6386 §13.2).
    pub const DCT_0: u8 = 0;
    pub const DCT_1: u8 = 1;
    pub const DCT_2: u8 = 2;
    pub const DCT_3: u8 = 3;
    pub const DCT_4: u8 = 4;
    pub const DCT_CAT1: u8 = 5;
    pub const DCT_CAT2: u8 = 6;
    pub const DCT_CAT3: u8 = 7;
    pub const DCT_CAT4: u8 = 8;
    pub const DCT_CAT5: u8 = 9;
    pub const DCT_CAT6: u8 = 10;
    pub const DCT_EOB: u8 = 11;
}

// ------------------------------------------------------------------------------------------
// Intra mode probabilities
// ------------------------------------------------------------------------------------------

/// Fixed key-frame luma mode probabilities for [`KF_YMODE_TREE`], `kf_ymode_prob`
/// (RFC 6386 §11.2).
pub const KF_YMODE_PROBS: [u8; 4] = [145, 156, 163, 128];

/// Default interframe luma mode probabilities for [`YMODE_TREE`], `ymode_prob`
/// (RFC 6386 §16.1), restored on every key frame and updatable by interframes.
pub const DEFAULT_YMODE_PROBS: [u8; 4] = [112, 86, 140, 37];

/// Fixed key-frame chroma mode probabilities for [`UV_MODE_TREE`], `kf_uv_mode_prob`
/// (RFC 6386 §11.4).
pub const KF_UV_MODE_PROBS: [u8; 3] = [142, 114, 183];

/// Default interframe chroma mode probabilities for [`UV_MODE_TREE`], `uv_mode_prob`
/// (RFC 6386 §16.1), restored on every key frame and updatable by interframes.
pub const DEFAULT_UV_MODE_PROBS: [u8; 3] = [162, 101, 204];

/// Key-frame subblock mode probabilities for [`BMODE_TREE`], `kf_bmode_prob`
/// (RFC 6386 §11.5, context described in §11.3).
///
/// Indexed `[above][left][node]`: the first index is the subblock mode of the subblock
/// *above* the current one, the second the mode of the subblock to its *left* (§11.3: "The
/// outer two dimensions of this array are indexed by the already-coded subblock modes above
/// and to the left of the current block, respectively", and the read is
/// `treed_read(d, bmode_tree, kf_bmode_prob [A] [L])`). Neighbours outside the frame count as
/// B_DC_PRED; 16x16-predicted neighbours count as the corresponding subblock mode
/// (DC_PRED -> B_DC_PRED, V_PRED -> B_VE_PRED, H_PRED -> B_HE_PRED, TM_PRED -> B_TM_PRED).
pub const KF_BMODE_PROBS: [[[u8; 9]; 10]; 10] = [
    // above = B_DC_PRED
    [
        [231, 120, 48, 89, 115, 113, 120, 152, 112], // left = B_DC_PRED
        [152, 179, 64, 126, 170, 118, 46, 70, 95],   // left = B_TM_PRED
        [175, 69, 143, 80, 85, 82, 72, 155, 103],    // left = B_VE_PRED
        [56, 58, 10, 171, 218, 189, 17, 13, 152],    // left = B_HE_PRED
        [144, 71, 10, 38, 171, 213, 144, 34, 26],    // left = B_LD_PRED
        [114, 26, 17, 163, 44, 195, 21, 10, 173],    // left = B_RD_PRED
        [121, 24, 80, 195, 26, 62, 44, 64, 85],      // left = B_VR_PRED
        [170, 46, 55, 19, 136, 160, 33, 206, 71],    // left = B_VL_PRED
        [63, 20, 8, 114, 114, 208, 12, 9, 226],      // left = B_HD_PRED
        [81, 40, 11, 96, 182, 84, 29, 16, 36],       // left = B_HU_PRED
    ],
    // above = B_TM_PRED
    [
        [134, 183, 89, 137, 98, 101, 106, 165, 148], // left = B_DC_PRED
        [72, 187, 100, 130, 157, 111, 32, 75, 80],   // left = B_TM_PRED
        [66, 102, 167, 99, 74, 62, 40, 234, 128],    // left = B_VE_PRED
        [41, 53, 9, 178, 241, 141, 26, 8, 107],      // left = B_HE_PRED
        [104, 79, 12, 27, 217, 255, 87, 17, 7],      // left = B_LD_PRED
        [74, 43, 26, 146, 73, 166, 49, 23, 157],     // left = B_RD_PRED
        [65, 38, 105, 160, 51, 52, 31, 115, 128],    // left = B_VR_PRED
        [87, 68, 71, 44, 114, 51, 15, 186, 23],      // left = B_VL_PRED
        [47, 41, 14, 110, 182, 183, 21, 17, 194],    // left = B_HD_PRED
        [66, 45, 25, 102, 197, 189, 23, 18, 22],     // left = B_HU_PRED
    ],
    // above = B_VE_PRED
    [
        [88, 88, 147, 150, 42, 46, 45, 196, 205], // left = B_DC_PRED
        [43, 97, 183, 117, 85, 38, 35, 179, 61],  // left = B_TM_PRED
        [39, 53, 200, 87, 26, 21, 43, 232, 171],  // left = B_VE_PRED
        [56, 34, 51, 104, 114, 102, 29, 93, 77],  // left = B_HE_PRED
        [107, 54, 32, 26, 51, 1, 81, 43, 31],     // left = B_LD_PRED
        [39, 28, 85, 171, 58, 165, 90, 98, 64],   // left = B_RD_PRED
        [34, 22, 116, 206, 23, 34, 43, 166, 73],  // left = B_VR_PRED
        [68, 25, 106, 22, 64, 171, 36, 225, 114], // left = B_VL_PRED
        [34, 19, 21, 102, 132, 188, 16, 76, 124], // left = B_HD_PRED
        [62, 18, 78, 95, 85, 57, 50, 48, 51],     // left = B_HU_PRED
    ],
    // above = B_HE_PRED
    [
        [193, 101, 35, 159, 215, 111, 89, 46, 111], // left = B_DC_PRED
        [60, 148, 31, 172, 219, 228, 21, 18, 111],  // left = B_TM_PRED
        [112, 113, 77, 85, 179, 255, 38, 120, 114], // left = B_VE_PRED
        [40, 42, 1, 196, 245, 209, 10, 25, 109],    // left = B_HE_PRED
        [100, 80, 8, 43, 154, 1, 51, 26, 71],       // left = B_LD_PRED
        [88, 43, 29, 140, 166, 213, 37, 43, 154],   // left = B_RD_PRED
        [61, 63, 30, 155, 67, 45, 68, 1, 209],      // left = B_VR_PRED
        [142, 78, 78, 16, 255, 128, 34, 197, 171],  // left = B_VL_PRED
        [41, 40, 5, 102, 211, 183, 4, 1, 221],      // left = B_HD_PRED
        [51, 50, 17, 168, 209, 192, 23, 25, 82],    // left = B_HU_PRED
    ],
    // above = B_LD_PRED
    [
        [125, 98, 42, 88, 104, 85, 117, 175, 82], // left = B_DC_PRED
        [95, 84, 53, 89, 128, 100, 113, 101, 45], // left = B_TM_PRED
        [75, 79, 123, 47, 51, 128, 81, 171, 1],   // left = B_VE_PRED
        [57, 17, 5, 71, 102, 57, 53, 41, 49],     // left = B_HE_PRED
        [115, 21, 2, 10, 102, 255, 166, 23, 6],   // left = B_LD_PRED
        [38, 33, 13, 121, 57, 73, 26, 1, 85],     // left = B_RD_PRED
        [41, 10, 67, 138, 77, 110, 90, 47, 114],  // left = B_VR_PRED
        [101, 29, 16, 10, 85, 128, 101, 196, 26], // left = B_VL_PRED
        [57, 18, 10, 102, 102, 213, 34, 20, 43],  // left = B_HD_PRED
        [117, 20, 15, 36, 163, 128, 68, 1, 26],   // left = B_HU_PRED
    ],
    // above = B_RD_PRED
    [
        [138, 31, 36, 171, 27, 166, 38, 44, 229], // left = B_DC_PRED
        [67, 87, 58, 169, 82, 115, 26, 59, 179],  // left = B_TM_PRED
        [63, 59, 90, 180, 59, 166, 93, 73, 154],  // left = B_VE_PRED
        [40, 40, 21, 116, 143, 209, 34, 39, 175], // left = B_HE_PRED
        [57, 46, 22, 24, 128, 1, 54, 17, 37],     // left = B_LD_PRED
        [47, 15, 16, 183, 34, 223, 49, 45, 183],  // left = B_RD_PRED
        [46, 17, 33, 183, 6, 98, 15, 32, 183],    // left = B_VR_PRED
        [65, 32, 73, 115, 28, 128, 23, 128, 205], // left = B_VL_PRED
        [40, 3, 9, 115, 51, 192, 18, 6, 223],     // left = B_HD_PRED
        [87, 37, 9, 115, 59, 77, 64, 21, 47],     // left = B_HU_PRED
    ],
    // above = B_VR_PRED
    [
        [104, 55, 44, 218, 9, 54, 53, 130, 226],  // left = B_DC_PRED
        [64, 90, 70, 205, 40, 41, 23, 26, 57],    // left = B_TM_PRED
        [54, 57, 112, 184, 5, 41, 38, 166, 213],  // left = B_VE_PRED
        [30, 34, 26, 133, 152, 116, 10, 32, 134], // left = B_HE_PRED
        [75, 32, 12, 51, 192, 255, 160, 43, 51],  // left = B_LD_PRED
        [39, 19, 53, 221, 26, 114, 32, 73, 255],  // left = B_RD_PRED
        [31, 9, 65, 234, 2, 15, 1, 118, 73],      // left = B_VR_PRED
        [88, 31, 35, 67, 102, 85, 55, 186, 85],   // left = B_VL_PRED
        [56, 21, 23, 111, 59, 205, 45, 37, 192],  // left = B_HD_PRED
        [55, 38, 70, 124, 73, 102, 1, 34, 98],    // left = B_HU_PRED
    ],
    // above = B_VL_PRED
    [
        [102, 61, 71, 37, 34, 53, 31, 243, 192],  // left = B_DC_PRED
        [69, 60, 71, 38, 73, 119, 28, 222, 37],   // left = B_TM_PRED
        [68, 45, 128, 34, 1, 47, 11, 245, 171],   // left = B_VE_PRED
        [62, 17, 19, 70, 146, 85, 55, 62, 70],    // left = B_HE_PRED
        [75, 15, 9, 9, 64, 255, 184, 119, 16],    // left = B_LD_PRED
        [37, 43, 37, 154, 100, 163, 85, 160, 1],  // left = B_RD_PRED
        [63, 9, 92, 136, 28, 64, 32, 201, 85],    // left = B_VR_PRED
        [86, 6, 28, 5, 64, 255, 25, 248, 1],      // left = B_VL_PRED
        [56, 8, 17, 132, 137, 255, 55, 116, 128], // left = B_HD_PRED
        [58, 15, 20, 82, 135, 57, 26, 121, 40],   // left = B_HU_PRED
    ],
    // above = B_HD_PRED
    [
        [164, 50, 31, 137, 154, 133, 25, 35, 218], // left = B_DC_PRED
        [51, 103, 44, 131, 131, 123, 31, 6, 158],  // left = B_TM_PRED
        [86, 40, 64, 135, 148, 224, 45, 183, 128], // left = B_VE_PRED
        [22, 26, 17, 131, 240, 154, 14, 1, 209],   // left = B_HE_PRED
        [83, 12, 13, 54, 192, 255, 68, 47, 28],    // left = B_LD_PRED
        [45, 16, 21, 91, 64, 222, 7, 1, 197],      // left = B_RD_PRED
        [56, 21, 39, 155, 60, 138, 23, 102, 213],  // left = B_VR_PRED
        [85, 26, 85, 85, 128, 128, 32, 146, 171],  // left = B_VL_PRED
        [18, 11, 7, 63, 144, 171, 4, 4, 246],      // left = B_HD_PRED
        [35, 27, 10, 146, 174, 171, 12, 26, 128],  // left = B_HU_PRED
    ],
    // above = B_HU_PRED
    [
        [190, 80, 35, 99, 180, 80, 126, 54, 45], // left = B_DC_PRED
        [85, 126, 47, 87, 176, 51, 41, 20, 32],  // left = B_TM_PRED
        [101, 75, 128, 139, 118, 146, 116, 128, 85], // left = B_VE_PRED
        [56, 41, 15, 176, 236, 85, 37, 9, 62],   // left = B_HE_PRED
        [146, 36, 19, 30, 171, 255, 97, 27, 20], // left = B_LD_PRED
        [71, 30, 17, 119, 118, 255, 17, 18, 138], // left = B_RD_PRED
        [101, 38, 60, 138, 55, 70, 43, 26, 142], // left = B_VR_PRED
        [138, 45, 61, 62, 219, 1, 81, 188, 64],  // left = B_VL_PRED
        [32, 41, 20, 117, 151, 142, 20, 21, 163], // left = B_HD_PRED
        [112, 19, 12, 61, 195, 128, 48, 4, 24],  // left = B_HU_PRED
    ],
];

/// Context-free subblock mode probabilities for [`BMODE_TREE`] in interframes, `bmode_prob`
/// (RFC 6386 §16.1). These are constant: interframes never update them.
pub const BMODE_PROBS: [u8; 9] = [120, 90, 79, 133, 87, 85, 80, 111, 151];

// ------------------------------------------------------------------------------------------
// Inter modes and motion vectors
// ------------------------------------------------------------------------------------------

/// Probabilities for [`MV_REF_TREE`], `vp8_mode_contexts` (RFC 6386 §16.3).
///
/// Indexed `[count][node]`: node `i`'s probability is `MODE_CONTEXTS[cnt[i]][i]`, where `cnt`
/// is the weighted census from `vp8_find_near_mvs` (zero, nearest, near, split-MV counts; each
/// count is at most 5).
pub const MODE_CONTEXTS: [[u8; 4]; 6] = [
    [7, 1, 1, 143],
    [14, 18, 14, 107],
    [135, 64, 57, 68],
    [60, 56, 128, 65],
    [159, 134, 128, 34],
    [234, 188, 128, 28],
];

// Contexts for split-MV subblock modes (RFC 6386 §16.4, `vp8_mvCont`), the
// first index of [`SUB_MV_REF_PROBS`]. With L and A the motion vectors of the subblocks to the
// left and above: L == A == 0 -> LEFT_ABOVE_ZED; else L == A -> LEFT_ABOVE_SAME; else A == 0
// -> ABOVE_ZED; else L == 0 -> LEFT_ZED; else NORMAL.
pub const SUBMVREF_NORMAL: usize = 0;
pub const SUBMVREF_LEFT_ZED: usize = 1;
pub const SUBMVREF_ABOVE_ZED: usize = 2;
pub const SUBMVREF_LEFT_ABOVE_SAME: usize = 3;
pub const SUBMVREF_LEFT_ABOVE_ZED: usize = 4;

/// Probabilities for [`SUB_MV_REF_TREE`], `sub_mv_ref_prob` (RFC 6386
/// §16.4), indexed `[context][node]` with the `SUBMVREF_*` contexts above.
pub const SUB_MV_REF_PROBS: [[u8; 3]; 5] = [
    [147, 136, 18],
    [106, 145, 1],
    [179, 121, 1],
    [223, 1, 34],
    [208, 1, 1],
];

/// Fixed probabilities for [`MV_PARTITION_TREE`], `mvpartition_probs`
/// (RFC 6386 §16.4).
pub const MV_PARTITION_PROBS: [u8; 3] = [110, 111, 150];

/// For each split-MV partitioning (`[MV_TOP_BOTTOM, MV_LEFT_RIGHT, MV_QUARTERS, MV_4X4]`),
/// the partition each luma subblock (raster order 0..16) belongs to (RFC 6386
/// §16.4, from the layouts given with the `MVpartition` enum). The partitions'
/// sub-MV modes are coded in partition order 0, 1, ...
pub const MV_PARTITIONS: [[u8; 16]; 4] = [
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1],
    [0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1],
    [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3],
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
];

/// Number of partitions (motion vectors) of each split-MV partitioning (RFC 6386
/// §16.4).
pub const MV_PARTITION_COUNTS: [usize; 4] = [2, 2, 4, 16];

/// Probabilities per motion vector component (RFC 6386 §17.1, `MVPcount`).
///
/// Layout of one component's context (`MVPindices`): [`MVP_IS_SHORT`] (short vs long),
/// [`MVP_SIGN`], then 7 probabilities for [`MV_SHORT_TREE`] from [`MVP_SHORT`], then
/// [`MV_LONG_BITS`] probabilities for the bits of long magnitudes from [`MVP_LONG`].
pub const MV_PROB_COUNT: usize = 19;
/// Index of the short/long flag's probability in a component's context (`mvpis_short`).
pub const MVP_IS_SHORT: usize = 0;
/// Index of the sign probability in a component's context (`MVPsign`).
pub const MVP_SIGN: usize = 1;
/// Index of the first [`MV_SHORT_TREE`] probability in a component's context (`MVPshort`).
pub const MVP_SHORT: usize = 2;
/// Index of the probability of bit 0 of a long magnitude in a component's context
/// (`MVPbits`); bit `i` uses `MVP_LONG + i`.
pub const MVP_LONG: usize = 9;
/// Number of bits of a long motion vector magnitude (RFC 6386 §17.1: magnitudes 8..=1023).
pub const MV_LONG_BITS: usize = 10;

/// Default motion vector probabilities, `default_mv_context` (RFC 6386 §17.2),
/// restored on every key frame. Index 0 is the row (vertical) component, 1 the column
/// (horizontal) component; the layout of each is described at [`MV_PROB_COUNT`].
pub const DEFAULT_MV_PROBS: [[u8; MV_PROB_COUNT]; 2] = [
    // row
    [
        162, // is short
        128, // sign
        225, 146, 172, 147, 214, 39, 156, // short tree
        128, 129, 132, 75, 145, 178, 206, 239, 254, 254, // long bits
    ],
    // column
    [
        164, // is short
        128, // sign
        204, 170, 119, 235, 140, 230, 228, // short tree
        128, 130, 130, 74, 148, 180, 203, 236, 254, 254, // long bits
    ],
];

/// Probabilities that each motion vector probability is updated in an interframe header,
/// `vp8_mv_update_probs` (RFC 6386 §17.2); same layout as [`DEFAULT_MV_PROBS`].
/// An update is a 7-bit value `x` and sets the probability to `x << 1`, or 1 if `x == 0`.
pub const MV_UPDATE_PROBS: [[u8; MV_PROB_COUNT]; 2] = [
    // row
    [
        237, // is short
        246, // sign
        253, 253, 254, 254, 254, 254, 254, // short tree
        254, 254, 254, 254, 254, 250, 250, 252, 254, 254, // long bits
    ],
    // column
    [
        231, // is short
        243, // sign
        245, 253, 254, 254, 254, 254, 254, // short tree
        254, 254, 254, 254, 254, 251, 251, 254, 254, 254, // long bits
    ],
];

// ------------------------------------------------------------------------------------------
// Dequantization
// ------------------------------------------------------------------------------------------

/// DC dequantization factor for each quantizer index 0..128, `dc_qlookup`
/// (RFC 6386 §14.1). Used directly for Y; Y2 and chroma scale or clamp it (§14.1).
pub const DC_QUANT: [i32; 128] = [
    4, 5, 6, 7, 8, 9, 10, 10, 11, 12, 13, 14, 15, 16, 17, 17, 18, 19, 20, 20, 21, 21, 22, 22, 23,
    23, 24, 25, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 37, 38, 39, 40, 41, 42, 43, 44,
    45, 46, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67,
    68, 69, 70, 71, 72, 73, 74, 75, 76, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91,
    93, 95, 96, 98, 100, 101, 102, 104, 106, 108, 110, 112, 114, 116, 118, 122, 124, 126, 128, 130,
    132, 134, 136, 138, 140, 143, 145, 148, 151, 154, 157,
];

/// AC dequantization factor for each quantizer index 0..128, `ac_qlookup`
/// (RFC 6386 §14.1). Used directly for Y; Y2 and chroma scale or clamp it (§14.1).
pub const AC_QUANT: [i32; 128] = [
    4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
    29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52,
    53, 54, 55, 56, 57, 58, 60, 62, 64, 66, 68, 70, 72, 74, 76, 78, 80, 82, 84, 86, 88, 90, 92, 94,
    96, 98, 100, 102, 104, 106, 108, 110, 112, 114, 116, 119, 122, 125, 128, 131, 134, 137, 140,
    143, 146, 149, 152, 155, 158, 161, 164, 167, 170, 173, 177, 181, 185, 189, 193, 197, 201, 205,
    209, 213, 217, 221, 225, 229, 234, 239, 245, 249, 254, 259, 264, 269, 274, 279, 284,
];

// ------------------------------------------------------------------------------------------
// Sub-pixel interpolation
// ------------------------------------------------------------------------------------------

/// Six-tap ("bicubic") interpolation filters, `filters` (RFC 6386 §18.3), indexed by
/// the fractional position in eighths of a pixel. Taps apply to the pixels at offsets
/// -2..=3 from the origin; each row sums to 128 (7-bit precision, result `(sum + 64) >> 7`).
pub const SIXTAP_FILTERS: [[i32; 6]; 8] = [
    [0, 0, 128, 0, 0, 0],
    [0, -6, 123, 12, -1, 0],
    [2, -11, 108, 36, -8, 1],
    [0, -9, 93, 50, -6, 0],
    [3, -16, 77, 77, -16, 3],
    [0, -6, 50, 93, -9, 0],
    [1, -8, 36, 108, -11, 2],
    [0, -1, 12, 123, -6, 0],
];

/// Bilinear interpolation filters, `BilinearFilters` (RFC 6386 §18.3), indexed by
/// the fractional position in eighths of a pixel. The RFC writes them as six-tap rows whose
/// only non-zero taps are the 3rd and 4th; these are those two taps, applied to the pixels
/// at offsets 0 and 1. Each row sums to 128.
pub const BILINEAR_FILTERS: [[i32; 2]; 8] = [
    [128, 0],
    [112, 16],
    [96, 32],
    [80, 48],
    [64, 64],
    [48, 80],
    [32, 96],
    [16, 112],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_numbering() {
        assert_eq!([DC_PRED, V_PRED, H_PRED, TM_PRED, B_PRED], [0, 1, 2, 3, 4]);
        assert_eq!(
            [B_DC_PRED, B_TM_PRED, B_VE_PRED, B_HE_PRED, B_LD_PRED],
            [0, 1, 2, 3, 4]
        );
        assert_eq!(
            [B_RD_PRED, B_VR_PRED, B_VL_PRED, B_HD_PRED, B_HU_PRED],
            [5, 6, 7, 8, 9]
        );
        assert_eq!([NEAREST, NEAR, ZERO, NEW, SPLIT], [0, 1, 2, 3, 4]);
        assert_eq!([LEFT4X4, ABOVE4X4, ZERO4X4, NEW4X4], [0, 1, 2, 3]);
        assert_eq!(
            [MV_TOP_BOTTOM, MV_LEFT_RIGHT, MV_QUARTERS, MV_4X4],
            [0, 1, 2, 3]
        );
        assert_eq!(
            [DCT_0, DCT_4, DCT_CAT1, DCT_CAT6, DCT_EOB],
            [0, 4, 5, 10, 11]
        );
        assert_eq!(
            [
                SUBMVREF_NORMAL,
                SUBMVREF_LEFT_ZED,
                SUBMVREF_ABOVE_ZED,
                SUBMVREF_LEFT_ABOVE_SAME,
                SUBMVREF_LEFT_ABOVE_ZED
            ],
            [0, 1, 2, 3, 4]
        );
    }

    fn all_valid_probs(probs: &[u8]) -> bool {
        probs.iter().all(|&p| p >= 1)
    }

    #[test]
    fn mode_probabilities() {
        assert_eq!(KF_YMODE_PROBS, [145, 156, 163, 128]);
        assert_eq!(DEFAULT_YMODE_PROBS, [112, 86, 140, 37]);
        assert_eq!(KF_UV_MODE_PROBS, [142, 114, 183]);
        assert_eq!(DEFAULT_UV_MODE_PROBS, [162, 101, 204]);
        assert_eq!(BMODE_PROBS, [120, 90, 79, 133, 87, 85, 80, 111, 151]);
        assert!(all_valid_probs(&BMODE_PROBS));
        for above in &KF_BMODE_PROBS {
            for probs in above {
                assert!(all_valid_probs(probs));
            }
        }
    }

    #[test]
    fn kf_bmode_probs_spot_values() {
        // First, second and last rows of §11.5, and the one at above = B_TM_PRED,
        // left = B_DC_PRED (the first row of the second block), which fixes the index order.
        assert_eq!(
            KF_BMODE_PROBS[0][0],
            [231, 120, 48, 89, 115, 113, 120, 152, 112]
        );
        assert_eq!(
            KF_BMODE_PROBS[0][1],
            [152, 179, 64, 126, 170, 118, 46, 70, 95]
        );
        assert_eq!(
            KF_BMODE_PROBS[B_TM_PRED as usize][B_DC_PRED as usize],
            [134, 183, 89, 137, 98, 101, 106, 165, 148]
        );
        assert_eq!(KF_BMODE_PROBS[9][9], [112, 19, 12, 61, 195, 128, 48, 4, 24]);
        assert_eq!(KF_BMODE_PROBS[4][5], [38, 33, 13, 121, 57, 73, 26, 1, 85]);
    }

    #[test]
    fn inter_mode_probabilities() {
        assert_eq!(MODE_CONTEXTS[0], [7, 1, 1, 143]);
        assert_eq!(MODE_CONTEXTS[5], [234, 188, 128, 28]);
        assert_eq!(SUB_MV_REF_PROBS[SUBMVREF_NORMAL], [147, 136, 18]);
        assert_eq!(SUB_MV_REF_PROBS[SUBMVREF_LEFT_ABOVE_ZED], [208, 1, 1]);
        assert_eq!(MV_PARTITION_PROBS, [110, 111, 150]);
        assert!(MODE_CONTEXTS.iter().all(|r| all_valid_probs(r)));
        assert!(SUB_MV_REF_PROBS.iter().all(|r| all_valid_probs(r)));
    }

    #[test]
    fn mv_partitions() {
        assert_eq!(MV_PARTITION_COUNTS, [2, 2, 4, 16]);
        for (layout, &count) in MV_PARTITIONS.iter().zip(&MV_PARTITION_COUNTS) {
            let mut sizes = [0usize; 16];
            for &p in layout {
                assert!((p as usize) < count);
                sizes[p as usize] += 1;
            }
            // Every partition is non-empty and all are the same size.
            for &s in &sizes[..count] {
                assert_eq!(s, 16 / count);
            }
            // Partitions are numbered in the raster order of their first subblock.
            let mut next = 0;
            for &p in layout {
                assert!(p as usize <= next);
                if p as usize == next {
                    next += 1;
                }
            }
        }
        // 16x8: top half, bottom half.
        assert_eq!(MV_PARTITIONS[MV_TOP_BOTTOM as usize][7], 0);
        assert_eq!(MV_PARTITIONS[MV_TOP_BOTTOM as usize][8], 1);
        // 8x16: left half, right half.
        assert_eq!(MV_PARTITIONS[MV_LEFT_RIGHT as usize][..4], [0, 0, 1, 1]);
        assert_eq!(MV_PARTITIONS[MV_LEFT_RIGHT as usize][12..], [0, 0, 1, 1]);
        // 8x8 quarters: {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15}.
        assert_eq!(
            MV_PARTITIONS[MV_QUARTERS as usize],
            [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]
        );
        for (i, &p) in MV_PARTITIONS[MV_4X4 as usize].iter().enumerate() {
            assert_eq!(p as usize, i);
        }
    }

    #[test]
    fn mv_probability_layout() {
        assert_eq!(MVP_SHORT + 7, MVP_LONG);
        assert_eq!(MVP_LONG + MV_LONG_BITS, MV_PROB_COUNT);
        assert_eq!(MV_PROB_COUNT, 19);
        // Long magnitudes 8..=1023 need exactly MV_LONG_BITS bits.
        assert_eq!(1usize << MV_LONG_BITS, 1024);
        assert_eq!(DEFAULT_MV_PROBS[0][MVP_IS_SHORT], 162);
        assert_eq!(DEFAULT_MV_PROBS[1][MVP_IS_SHORT], 164);
        assert_eq!(DEFAULT_MV_PROBS[0][MVP_SIGN], 128);
        assert_eq!(
            DEFAULT_MV_PROBS[0][MVP_SHORT..MVP_LONG],
            [225, 146, 172, 147, 214, 39, 156]
        );
        assert_eq!(
            DEFAULT_MV_PROBS[1][MVP_LONG..],
            [128, 130, 130, 74, 148, 180, 203, 236, 254, 254]
        );
        assert_eq!(MV_UPDATE_PROBS[0][..3], [237, 246, 253]);
        assert_eq!(
            MV_UPDATE_PROBS[1][MV_PROB_COUNT - 5..],
            [251, 251, 254, 254, 254]
        );
        for probs in DEFAULT_MV_PROBS.iter().chain(&MV_UPDATE_PROBS) {
            assert!(all_valid_probs(probs));
        }
    }

    #[test]
    fn quantizer_tables() {
        assert_eq!((DC_QUANT[0], DC_QUANT[127]), (4, 157));
        assert_eq!((AC_QUANT[0], AC_QUANT[127]), (4, 284));
        assert!(DC_QUANT.windows(2).all(|w| w[0] <= w[1]));
        assert!(AC_QUANT.windows(2).all(|w| w[0] < w[1]));
        // Spot values: the 7th/8th DC entries repeat; the 9th rows of the RFC's tables.
        assert_eq!(DC_QUANT[6..8], [10, 10]);
        assert_eq!((DC_QUANT[104], DC_QUANT[112]), (104, 122));
        assert_eq!(AC_QUANT[104..109], [181, 185, 189, 193, 197]);
    }

    #[test]
    fn interpolation_filters() {
        for row in &SIXTAP_FILTERS {
            assert_eq!(row.iter().sum::<i32>(), 128);
        }
        for row in &BILINEAR_FILTERS {
            assert_eq!(row.iter().sum::<i32>(), 128);
        }
        assert_eq!(SIXTAP_FILTERS[0], [0, 0, 128, 0, 0, 0]);
        assert_eq!(SIXTAP_FILTERS[2], [2, -11, 108, 36, -8, 1]);
        assert_eq!(SIXTAP_FILTERS[4], [3, -16, 77, 77, -16, 3]);
        // Position 8 - k is the mirror image of position k.
        for k in 1..8 {
            let mut mirrored = SIXTAP_FILTERS[8 - k];
            mirrored.reverse();
            assert_eq!(SIXTAP_FILTERS[k], mirrored);
        }
        for (k, row) in BILINEAR_FILTERS.iter().enumerate() {
            assert_eq!(*row, [128 - 16 * k as i32, 16 * k as i32]);
        }
    }
}
