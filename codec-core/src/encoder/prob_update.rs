//! Choosing the probability updates a frame header sends: coefficient (RFC 6386 §13.4),
//! motion-vector (§17.2) and interframe mode (§16.2) probabilities.
//!
//! Each choice weighs the bits the new probabilities save on this frame's counted
//! decisions against the bits the update itself costs in the header, so an update is
//! sent only when the frame comes out smaller with it.

use super::bool_encoder::bit_cost;
use super::header_writer::is_representable_mv_prob;
use super::mode_writer::MvCounts;
use super::token_writer::TokenCounts;
use crate::state::TokenProbabilities;
use crate::tables::{COEFF_UPDATE_PROBS, MV_PROB_COUNT, MV_UPDATE_PROBS};

/// Cost in 1/256 bit of coding `counts[0]` zeros and `counts[1]` ones with probability
/// `prob` of a zero.
#[inline]
fn branch_cost(counts: [u32; 2], prob: u8) -> u64 {
    counts[0] as u64 * bit_cost(false, prob) as u64 + counts[1] as u64 * bit_cost(true, prob) as u64
}

/// The probability of a zero that codes these counts in the fewest bits, `256 * c0 / total`
/// rounded into 1..=255; `None` when nothing was counted.
#[inline]
fn optimal_prob(counts: [u32; 2]) -> Option<u8> {
    let total = counts[0] as u64 + counts[1] as u64;
    if total == 0 {
        return None;
    }
    let p = (256 * counts[0] as u64 + total / 2) / total;
    Some(p.clamp(1, 255) as u8)
}

/// `candidate` if sending it (flag 1 with `update_prob`, then `value_bits` bits) plus
/// coding `counts` with it is cheaper than keeping `old` (flag 0), else `old`.
#[inline]
fn cheaper_of(old: u8, candidate: u8, counts: [u32; 2], update_prob: u8, value_bits: u32) -> u8 {
    if candidate == old {
        return old;
    }
    let keep = branch_cost(counts, old) + bit_cost(false, update_prob) as u64;
    let change = branch_cost(counts, candidate)
        + bit_cost(true, update_prob) as u64
        + 256 * value_bits as u64;
    if change < keep { candidate } else { old }
}

/// The coefficient probabilities for a frame whose token decisions were `counts`, given
/// those in force before it (RFC 6386 §13.4). Each of the 1056 probabilities is replaced by
/// the one that fits its counts only where that saves more bits than the 8-bit update and
/// its flag cost; unused probabilities keep their previous value.
pub fn choose_coefficient_probs(
    previous: &TokenProbabilities,
    counts: &TokenCounts,
) -> TokenProbabilities {
    let mut probs = *previous;
    let flat_probs = probs
        .as_flattened_mut()
        .as_flattened_mut()
        .as_flattened_mut();
    let flat_counts = counts.counts.as_flattened().as_flattened().as_flattened();
    let flat_update = COEFF_UPDATE_PROBS
        .as_flattened()
        .as_flattened()
        .as_flattened();
    for ((p, c), &update_prob) in flat_probs.iter_mut().zip(flat_counts).zip(flat_update) {
        if let Some(candidate) = optimal_prob(*c) {
            *p = cheaper_of(*p, candidate, *c, update_prob, 8);
        }
    }
    probs
}

/// The nearest probabilities to `p` that the 7-bit update can carry (1 and even values
/// 2..=254): the one at or below and the one at or above.
fn representable_neighbours(p: u8) -> [u8; 2] {
    let below = if p < 2 { 1 } else { p & !1 };
    let above = if p < 2 {
        p.max(1)
    } else {
        (p as u16 + 1).min(254) as u8 & !1
    };
    [below, above]
}

/// The motion-vector probabilities for a frame whose vector decisions were `counts`
/// (RFC 6386 §17.2). Updates carry 7 bits, so only 1 and even values 2..=254 are chosen.
pub fn choose_mv_probs(
    previous: &[[u8; MV_PROB_COUNT]; 2],
    counts: &MvCounts,
) -> [[u8; MV_PROB_COUNT]; 2] {
    let mut probs = *previous;
    let components = probs.iter_mut().zip(&counts.counts).zip(&MV_UPDATE_PROBS);
    for ((component, counts), update_probs) in components {
        for ((p, &c), &update_prob) in component.iter_mut().zip(counts).zip(update_probs) {
            let Some(ideal) = optimal_prob(c) else {
                continue;
            };
            let [below, above] = representable_neighbours(ideal);
            let candidate = if branch_cost(c, above) < branch_cost(c, below) {
                above
            } else {
                below
            };
            debug_assert!(is_representable_mv_prob(candidate));
            *p = cheaper_of(*p, candidate, c, update_prob, 7);
        }
    }
    probs
}

/// How often the leaves below tree entry `entry` were used.
fn leaves_below(tree: &[i8], entry: i8, counts_of_leaves: &[u32]) -> u64 {
    if entry <= 0 {
        counts_of_leaves
            .get((-entry) as usize)
            .copied()
            .unwrap_or(0) as u64
    } else {
        let node = entry as usize;
        leaves_below(tree, tree[node], counts_of_leaves)
            + leaves_below(tree, tree[node + 1], counts_of_leaves)
    }
}

/// An update of a whole mode-probability group (RFC 6386 §16.2: the interframe
/// `ymode_prob` with N = 4 and `YMODE_TREE`, `uv_mode_prob` with N = 3 and
/// `UV_MODE_TREE`), given how often each leaf was coded this frame. The group is sent
/// with one flag and 8 bits per probability; returns `Some` only when that saves bits on
/// this frame's modes compared with `previous`.
pub fn choose_mode_probs<const N: usize>(
    previous: &[u8; N],
    tree: &[i8],
    counts_of_leaves: &[u32],
) -> Option<[u8; N]> {
    debug_assert_eq!(
        tree.len(),
        2 * N,
        "a tree of {N} nodes has {} entries",
        2 * N
    );
    let mut probs = *previous;
    let mut node_counts = [[0u32; 2]; N];
    for (k, (p, c)) in probs.iter_mut().zip(&mut node_counts).enumerate() {
        let sum = |entry| leaves_below(tree, entry, counts_of_leaves).min(u32::MAX as u64) as u32;
        *c = [sum(tree[2 * k]), sum(tree[2 * k + 1])];
        if let Some(q) = optimal_prob(*c) {
            *p = q;
        }
    }
    let cost = |probs: &[u8; N]| -> u64 {
        probs
            .iter()
            .zip(&node_counts)
            .map(|(&p, &c)| branch_cost(c, p))
            .sum()
    };
    // The group flag costs one even bit either way.
    let keep = 256 + cost(previous);
    let change = 256 + 8 * 256 * N as u64 + cost(&probs);
    (probs != *previous && change < keep).then_some(probs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modes::MotionVector;
    use crate::tables::{self, DEFAULT_COEFF_PROBS, DEFAULT_MV_PROBS, DEFAULT_UV_MODE_PROBS};
    use crate::test_rng::TestRng;

    /// Cost of every counted token decision with `probs`, plus each update's header cost.
    fn token_frame_cost(
        probs: &TokenProbabilities,
        previous: &TokenProbabilities,
        counts: &TokenCounts,
    ) -> u64 {
        let flat = |p: &TokenProbabilities| p.as_flattened().as_flattened().as_flattened().to_vec();
        let (new, old) = (flat(probs), flat(previous));
        let counts = counts.counts.as_flattened().as_flattened().as_flattened();
        let update = COEFF_UPDATE_PROBS
            .as_flattened()
            .as_flattened()
            .as_flattened();
        let mut total = 0;
        for i in 0..new.len() {
            total += branch_cost(counts[i], new[i]);
            let changed = new[i] != old[i];
            total += bit_cost(changed, update[i]) as u64 + if changed { 8 * 256 } else { 0 };
        }
        total
    }

    #[test]
    fn skewed_token_counts_pay_for_their_updates() {
        let mut rng = TestRng(21);
        let mut counts = TokenCounts::default();
        let flat = counts
            .counts
            .as_flattened_mut()
            .as_flattened_mut()
            .as_flattened_mut();
        for c in flat.iter_mut() {
            if rng.below(4) == 0 {
                let n = rng.below(5000);
                let zeros = rng.below(n + 1);
                *c = [zeros, n - zeros];
            }
        }
        // One strongly skewed node that must be updated.
        counts.counts[1][0][0][0] = [5000, 5];
        let chosen = choose_coefficient_probs(&DEFAULT_COEFF_PROBS, &counts);
        assert!(chosen[1][0][0][0] > 250);
        let before = token_frame_cost(&DEFAULT_COEFF_PROBS, &DEFAULT_COEFF_PROBS, &counts);
        let after = token_frame_cost(&chosen, &DEFAULT_COEFF_PROBS, &counts);
        assert!(after < before, "{after} >= {before}");
        // Each update on its own pays for itself.
        let flat_chosen = chosen.as_flattened().as_flattened().as_flattened();
        let flat_default = DEFAULT_COEFF_PROBS
            .as_flattened()
            .as_flattened()
            .as_flattened();
        let flat_counts = counts.counts.as_flattened().as_flattened().as_flattened();
        let update = COEFF_UPDATE_PROBS
            .as_flattened()
            .as_flattened()
            .as_flattened();
        for i in 0..flat_chosen.len() {
            if flat_chosen[i] != flat_default[i] {
                let saved = branch_cost(flat_counts[i], flat_default[i])
                    - branch_cost(flat_counts[i], flat_chosen[i]);
                let paid =
                    (bit_cost(true, update[i]) + 8 * 256 - bit_cost(false, update[i])) as u64;
                assert!(saved > paid, "probability {i}");
            }
        }
    }

    #[test]
    fn nothing_counted_changes_nothing() {
        let chosen = choose_coefficient_probs(&DEFAULT_COEFF_PROBS, &TokenCounts::default());
        assert_eq!(chosen, DEFAULT_COEFF_PROBS);
        let chosen = choose_mv_probs(&DEFAULT_MV_PROBS, &MvCounts::default());
        assert_eq!(chosen, DEFAULT_MV_PROBS);
        let none = choose_mode_probs(&DEFAULT_UV_MODE_PROBS, &tables::UV_MODE_TREE, &[0; 4]);
        assert_eq!(none, None);
        // A few decisions never pay for an 8-bit update.
        let mut counts = TokenCounts::default();
        counts.counts[0][1][1][0] = [3, 1];
        let chosen = choose_coefficient_probs(&DEFAULT_COEFF_PROBS, &counts);
        assert_eq!(chosen, DEFAULT_COEFF_PROBS);
    }

    #[test]
    fn mv_probs_stay_representable_and_save_bits() {
        let mut rng = TestRng(31);
        let mut counts = MvCounts::default();
        for _ in 0..20_000 {
            // Mostly small positive rows, long negative columns: far from the defaults.
            let row = rng.range(0, 3) as i16;
            let col = -(rng.range(100, 900) as i16);
            counts.add(MotionVector { row, col });
        }
        let chosen = choose_mv_probs(&DEFAULT_MV_PROBS, &counts);
        assert_ne!(chosen, DEFAULT_MV_PROBS);
        let mut before = 0;
        let mut after = 0;
        for c in 0..2 {
            for i in 0..MV_PROB_COUNT {
                let (old, new) = (DEFAULT_MV_PROBS[c][i], chosen[c][i]);
                if new != old {
                    assert!(is_representable_mv_prob(new), "{new}");
                    after += bit_cost(true, MV_UPDATE_PROBS[c][i]) as u64 + 7 * 256;
                } else {
                    after += bit_cost(false, MV_UPDATE_PROBS[c][i]) as u64;
                }
                before += bit_cost(false, MV_UPDATE_PROBS[c][i]) as u64;
                before += branch_cost(counts.counts[c][i], old);
                after += branch_cost(counts.counts[c][i], new);
            }
        }
        assert!(after < before, "{after} >= {before}");
        for p in 0..=255u8 {
            for q in representable_neighbours(p) {
                assert!(is_representable_mv_prob(q), "{p} -> {q}");
                assert!(q.abs_diff(p.max(1)) <= 1);
            }
        }
    }

    #[test]
    fn mode_probs_update_only_when_it_pays() {
        // DC_PRED, V, H, TM, B_PRED: almost all DC.
        let leaves = [900, 5, 5, 5, 100];
        let previous = tables::DEFAULT_YMODE_PROBS;
        let chosen = choose_mode_probs(&previous, &tables::YMODE_TREE, &leaves).unwrap();
        let cost = |probs: &[u8; 4]| {
            let mut total = 0u64;
            for (leaf, &n) in leaves.iter().enumerate() {
                let mut counter = crate::encoder::bool_encoder::BitCounter::default();
                use crate::encoder::bool_encoder::EntropyWriter;
                counter.put_tree(&tables::YMODE_TREE, probs, leaf as u8);
                total += counter.cost as u64 * n as u64;
            }
            total
        };
        assert!(cost(&chosen) + 4 * 8 * 256 < cost(&previous));
        // A handful of modes cannot pay for 32 bits of probabilities.
        assert_eq!(
            choose_mode_probs(&previous, &tables::YMODE_TREE, &[3, 0, 1, 0, 1]),
            None
        );
    }
}
