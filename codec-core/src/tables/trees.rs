//! The coding trees of VP8 (RFC 6386 §8.1 format; see the [module docs](super)).

use super::mode::*;

/// A tree leaf holding `value` (RFC 6386 §8.1: a non-positive entry `v` is the leaf `-v`).
const fn leaf(value: u8) -> i8 {
    -(value as i8)
}

/// Interframe luma mode tree, `ymode_tree` (RFC 6386 §8.2, §16.1):
/// DC_PRED = "0", V_PRED = "100", H_PRED = "101", TM_PRED = "110", B_PRED = "111".
#[rustfmt::skip]
pub const YMODE_TREE: [i8; 8] = [
    leaf(DC_PRED), 2,             // 0: DC_PRED = "0"
    4, 6,                         // 2: "10..." and "11..." subtrees
    leaf(V_PRED), leaf(H_PRED),   // 4: V_PRED = "100", H_PRED = "101"
    leaf(TM_PRED), leaf(B_PRED),  // 6: TM_PRED = "110", B_PRED = "111"
];

/// Key-frame luma mode tree, `kf_ymode_tree` (RFC 6386 §8.2, §11.2):
/// B_PRED = "0", DC_PRED = "100", V_PRED = "101", H_PRED = "110", TM_PRED = "111".
#[rustfmt::skip]
pub const KF_YMODE_TREE: [i8; 8] = [
    leaf(B_PRED), 2,              // 0: B_PRED = "0"
    4, 6,                         // 2: "10..." and "11..." subtrees
    leaf(DC_PRED), leaf(V_PRED),  // 4: DC_PRED = "100", V_PRED = "101"
    leaf(H_PRED), leaf(TM_PRED),  // 6: H_PRED = "110", TM_PRED = "111"
];

/// Chroma mode tree, `uv_mode_tree` (RFC 6386 §8.2, §11.4), used in key frames and
/// interframes: DC_PRED = "0", V_PRED = "10", H_PRED = "110", TM_PRED = "111".
#[rustfmt::skip]
pub const UV_MODE_TREE: [i8; 6] = [
    leaf(DC_PRED), 2,             // 0: DC_PRED = "0"
    leaf(V_PRED), 4,              // 2: V_PRED = "10"
    leaf(H_PRED), leaf(TM_PRED),  // 4: H_PRED = "110", TM_PRED = "111"
];

/// Subblock intra mode tree, `bmode_tree` (RFC 6386 §11.2); leaves are the
/// `B_*_PRED` constants. (The RFC's comments give B_LD_PRED, B_VL_PRED, B_HD_PRED and
/// B_HU_PRED one bit too many; the array itself is normative and codes them "11110",
/// "111110", "1111110" and "1111111".)
#[rustfmt::skip]
pub const BMODE_TREE: [i8; 18] = [
    leaf(B_DC_PRED), 2,                // 0: B_DC_PRED = "0"
    leaf(B_TM_PRED), 4,                // 2: B_TM_PRED = "10"
    leaf(B_VE_PRED), 6,                // 4: B_VE_PRED = "110"
    8, 12,                             // 6: "1110..." and "1111..." subtrees
    leaf(B_HE_PRED), 10,               // 8: B_HE_PRED = "11100"
    leaf(B_RD_PRED), leaf(B_VR_PRED),  // 10: B_RD_PRED = "111010", B_VR_PRED = "111011"
    leaf(B_LD_PRED), 14,               // 12: B_LD_PRED = "11110"
    leaf(B_VL_PRED), 16,               // 14: B_VL_PRED = "111110"
    leaf(B_HD_PRED), leaf(B_HU_PRED),  // 16: B_HD_PRED = "1111110", B_HU_PRED = "1111111"
];

/// Macroblock inter mode tree, `mv_ref_tree` (RFC 6386 §16.2):
/// ZERO = "0", NEAREST = "10", NEAR = "110", NEW = "1110", SPLIT = "1111". Leaves are
/// [`NEAREST`] ..= [`SPLIT`] (RFC `mv_nearest` ..= `mv_split` minus 5).
#[rustfmt::skip]
pub const MV_REF_TREE: [i8; 8] = [
    leaf(ZERO), 2,           // 0: ZERO = "0"
    leaf(NEAREST), 4,        // 2: NEAREST = "10"
    leaf(NEAR), 6,           // 4: NEAR = "110"
    leaf(NEW), leaf(SPLIT),  // 6: NEW = "1110", SPLIT = "1111"
];

/// Split-MV subblock mode tree, `sub_mv_ref_tree` (RFC 6386 §16.4):
/// LEFT4X4 = "0", ABOVE4X4 = "10", ZERO4X4 = "110", NEW4X4 = "111".
#[rustfmt::skip]
pub const SUB_MV_REF_TREE: [i8; 6] = [
    leaf(LEFT4X4), 2,             // 0: LEFT4X4 = "0"
    leaf(ABOVE4X4), 4,            // 2: ABOVE4X4 = "10"
    leaf(ZERO4X4), leaf(NEW4X4),  // 4: ZERO4X4 = "110", NEW4X4 = "111"
];

/// Split-MV partitioning tree, `mvpartition_tree` (RFC 6386 §16.4):
/// MV_4X4 = "0", MV_QUARTERS = "10", MV_TOP_BOTTOM = "110", MV_LEFT_RIGHT = "111".
#[rustfmt::skip]
pub const MV_PARTITION_TREE: [i8; 6] = [
    leaf(MV_4X4), 2,                           // 0: MV_4X4 = "0"
    leaf(MV_QUARTERS), 4,                      // 2: MV_QUARTERS = "10"
    leaf(MV_TOP_BOTTOM), leaf(MV_LEFT_RIGHT),  // 4: MV_TOP_BOTTOM = "110", MV_LEFT_RIGHT = "111"
];

/// Segment id tree, `mb_segment_tree` (RFC 6386 §10): segment ids 0..=3
/// coded as the two-bit binary numbers "00" ..= "11"; read with the frame's three
/// `mb_segment_tree_probs`.
#[rustfmt::skip]
pub const SEGMENT_ID_TREE: [i8; 6] = [
    2, 4,              // 0: "0..." and "1..." subtrees
    leaf(0), leaf(1),  // 2: 0 = "00", 1 = "01"
    leaf(2), leaf(3),  // 4: 2 = "10", 3 = "11"
];

/// Coefficient token tree, `coeff_tree` (RFC 6386 §13.2); leaves are the
/// `DCT_*` token constants. After a DCT_0 token the decoder starts at index 2, skipping the
/// DCT_EOB branch.
#[rustfmt::skip]
pub const COEFF_TOKEN_TREE: [i8; 22] = [
    leaf(DCT_EOB), 2,                // 0: DCT_EOB = "0"
    leaf(DCT_0), 4,                  // 2: DCT_0 = "10"
    leaf(DCT_1), 6,                  // 4: DCT_1 = "110"
    8, 12,                           // 6: "1110..." and "1111..." subtrees
    leaf(DCT_2), 10,                 // 8: DCT_2 = "11100"
    leaf(DCT_3), leaf(DCT_4),        // 10: DCT_3 = "111010", DCT_4 = "111011"
    14, 16,                          // 12: "11110..." and "11111..." subtrees
    leaf(DCT_CAT1), leaf(DCT_CAT2),  // 14: DCT_CAT1 = "111100", DCT_CAT2 = "111101"
    18, 20,                          // 16: "111110..." and "111111..." subtrees
    leaf(DCT_CAT3), leaf(DCT_CAT4),  // 18: DCT_CAT3 = "1111100", DCT_CAT4 = "1111101"
    leaf(DCT_CAT5), leaf(DCT_CAT6),  // 20: DCT_CAT5 = "1111110", DCT_CAT6 = "1111111"
];

/// Tree for short motion vector magnitudes 0..=7, `small_mvtree` (RFC 6386
/// §17.1): each magnitude is coded as its 3-bit binary number, read with the
/// probabilities at [`MVP_SHORT`](super::MVP_SHORT) of the component's context.
#[rustfmt::skip]
pub const MV_SHORT_TREE: [i8; 14] = [
    2, 8,              // 0: "0..." and "1..." subtrees
    4, 6,              // 2: "00..." and "01..." subtrees
    leaf(0), leaf(1),  // 4: 0 = "000", 1 = "001"
    leaf(2), leaf(3),  // 6: 2 = "010", 3 = "011"
    10, 12,            // 8: "10..." and "11..." subtrees
    leaf(4), leaf(5),  // 10: 4 = "100", 5 = "101"
    leaf(6), leaf(7),  // 12: 6 = "110", 7 = "111"
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks `tree` along `bits` ("0"/"1" characters) and returns the leaf reached, or
    /// `None` if the bits run out early or continue past a leaf.
    fn decode(tree: &[i8], bits: &str) -> Option<u8> {
        let mut i = 0usize;
        let mut chars = bits.chars();
        loop {
            let b = match chars.next()? {
                '0' => 0,
                '1' => 1,
                _ => panic!("bad bit"),
            };
            let n = tree[i + b];
            if n <= 0 {
                return if chars.next().is_none() {
                    Some((-n) as u8)
                } else {
                    None
                };
            }
            i = n as usize;
        }
    }

    /// Checks that `tree` is a proper binary tree over its pairs (every internal node other
    /// than the root is referenced exactly once, by an even in-range index) whose leaves are
    /// exactly the values `0..tree.len() / 2 + 1`, each appearing once.
    fn check_tree(tree: &[i8]) {
        assert_eq!(tree.len() % 2, 0);
        let leaf_count = tree.len() / 2 + 1;
        let mut leaf_seen = [0u32; 32];
        let mut node_refs = [0u32; 32];
        for &n in tree {
            if n > 0 {
                assert_eq!(n % 2, 0, "node index must be even");
                assert!((n as usize) < tree.len(), "node index out of range");
                node_refs[n as usize] += 1;
            } else {
                let v = (-n) as usize;
                assert!(v < leaf_count, "leaf value {v} out of range");
                leaf_seen[v] += 1;
            }
        }
        assert_eq!(node_refs[0], 0, "the root must not be referenced");
        for i in (2..tree.len()).step_by(2) {
            assert_eq!(node_refs[i], 1, "node {i} must be referenced exactly once");
        }
        for (v, &count) in leaf_seen.iter().enumerate().take(leaf_count) {
            assert_eq!(count, 1, "leaf {v} must appear exactly once");
        }
        // Every node is reachable from the root: walk it and count the leaves.
        fn reach(tree: &[i8], i: usize) -> usize {
            (0..2)
                .map(|b| {
                    let n = tree[i + b];
                    if n > 0 { reach(tree, n as usize) } else { 1 }
                })
                .sum()
        }
        assert_eq!(reach(tree, 0), leaf_count);
    }

    #[test]
    fn trees_are_well_formed() {
        check_tree(&YMODE_TREE);
        check_tree(&KF_YMODE_TREE);
        check_tree(&UV_MODE_TREE);
        check_tree(&BMODE_TREE);
        check_tree(&MV_REF_TREE);
        check_tree(&SUB_MV_REF_TREE);
        check_tree(&MV_PARTITION_TREE);
        check_tree(&SEGMENT_ID_TREE);
        check_tree(&COEFF_TOKEN_TREE);
        check_tree(&MV_SHORT_TREE);
    }

    #[test]
    fn tree_codes_match_the_rfc() {
        assert_eq!(decode(&YMODE_TREE, "0"), Some(DC_PRED));
        assert_eq!(decode(&YMODE_TREE, "100"), Some(V_PRED));
        assert_eq!(decode(&YMODE_TREE, "101"), Some(H_PRED));
        assert_eq!(decode(&YMODE_TREE, "110"), Some(TM_PRED));
        assert_eq!(decode(&YMODE_TREE, "111"), Some(B_PRED));

        assert_eq!(decode(&KF_YMODE_TREE, "0"), Some(B_PRED));
        assert_eq!(decode(&KF_YMODE_TREE, "100"), Some(DC_PRED));
        assert_eq!(decode(&KF_YMODE_TREE, "111"), Some(TM_PRED));

        assert_eq!(decode(&UV_MODE_TREE, "0"), Some(DC_PRED));
        assert_eq!(decode(&UV_MODE_TREE, "10"), Some(V_PRED));
        assert_eq!(decode(&UV_MODE_TREE, "110"), Some(H_PRED));
        assert_eq!(decode(&UV_MODE_TREE, "111"), Some(TM_PRED));

        assert_eq!(decode(&BMODE_TREE, "0"), Some(B_DC_PRED));
        assert_eq!(decode(&BMODE_TREE, "10"), Some(B_TM_PRED));
        assert_eq!(decode(&BMODE_TREE, "110"), Some(B_VE_PRED));
        assert_eq!(decode(&BMODE_TREE, "11100"), Some(B_HE_PRED));
        assert_eq!(decode(&BMODE_TREE, "111010"), Some(B_RD_PRED));
        assert_eq!(decode(&BMODE_TREE, "111011"), Some(B_VR_PRED));
        assert_eq!(decode(&BMODE_TREE, "11110"), Some(B_LD_PRED));
        assert_eq!(decode(&BMODE_TREE, "111110"), Some(B_VL_PRED));
        assert_eq!(decode(&BMODE_TREE, "1111110"), Some(B_HD_PRED));
        assert_eq!(decode(&BMODE_TREE, "1111111"), Some(B_HU_PRED));

        assert_eq!(decode(&MV_REF_TREE, "0"), Some(ZERO));
        assert_eq!(decode(&MV_REF_TREE, "10"), Some(NEAREST));
        assert_eq!(decode(&MV_REF_TREE, "110"), Some(NEAR));
        assert_eq!(decode(&MV_REF_TREE, "1110"), Some(NEW));
        assert_eq!(decode(&MV_REF_TREE, "1111"), Some(SPLIT));

        assert_eq!(decode(&SUB_MV_REF_TREE, "0"), Some(LEFT4X4));
        assert_eq!(decode(&SUB_MV_REF_TREE, "10"), Some(ABOVE4X4));
        assert_eq!(decode(&SUB_MV_REF_TREE, "110"), Some(ZERO4X4));
        assert_eq!(decode(&SUB_MV_REF_TREE, "111"), Some(NEW4X4));

        assert_eq!(decode(&MV_PARTITION_TREE, "0"), Some(MV_4X4));
        assert_eq!(decode(&MV_PARTITION_TREE, "10"), Some(MV_QUARTERS));
        assert_eq!(decode(&MV_PARTITION_TREE, "110"), Some(MV_TOP_BOTTOM));
        assert_eq!(decode(&MV_PARTITION_TREE, "111"), Some(MV_LEFT_RIGHT));

        assert_eq!(decode(&COEFF_TOKEN_TREE, "0"), Some(DCT_EOB));
        assert_eq!(decode(&COEFF_TOKEN_TREE, "10"), Some(DCT_0));
        assert_eq!(decode(&COEFF_TOKEN_TREE, "110"), Some(DCT_1));
        assert_eq!(decode(&COEFF_TOKEN_TREE, "11100"), Some(DCT_2));
        assert_eq!(decode(&COEFF_TOKEN_TREE, "111010"), Some(DCT_3));
        assert_eq!(decode(&COEFF_TOKEN_TREE, "111011"), Some(DCT_4));
        assert_eq!(decode(&COEFF_TOKEN_TREE, "111100"), Some(DCT_CAT1));
        assert_eq!(decode(&COEFF_TOKEN_TREE, "111101"), Some(DCT_CAT2));
        assert_eq!(decode(&COEFF_TOKEN_TREE, "1111100"), Some(DCT_CAT3));
        assert_eq!(decode(&COEFF_TOKEN_TREE, "1111101"), Some(DCT_CAT4));
        assert_eq!(decode(&COEFF_TOKEN_TREE, "1111110"), Some(DCT_CAT5));
        assert_eq!(decode(&COEFF_TOKEN_TREE, "1111111"), Some(DCT_CAT6));
        // Skipping the EOB branch after a DCT_0: start at index 2.
        assert_eq!(decode(&COEFF_TOKEN_TREE[2..], "0"), Some(DCT_0));
    }

    #[test]
    fn segment_and_short_mv_trees_code_binary_numbers() {
        let bits = ["00", "01", "10", "11"];
        for (v, b) in bits.iter().enumerate() {
            assert_eq!(decode(&SEGMENT_ID_TREE, b), Some(v as u8));
        }
        let bits = ["000", "001", "010", "011", "100", "101", "110", "111"];
        for (v, b) in bits.iter().enumerate() {
            assert_eq!(decode(&MV_SHORT_TREE, b), Some(v as u8));
        }
    }
}
