//! Corrupt input never panics, hangs or allocates without bound: every mutated frame either
//! decodes or returns an error, and decoding goes on from whatever state results.

use codec_core::container::ivf::parse_ivf;
use codec_core::{DecodeError, DecoderState, decode};

fn vector(n: usize) -> Vec<u8> {
    let path = format!(
        "{}/../../shared/testdata/vp8/vp80-00-comprehensive-{n:03}.ivf",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (shared/ must sit beside the repo)"))
}

fn frames(data: &[u8]) -> Vec<Vec<u8>> {
    let (_, frames) = parse_ivf(data).unwrap();
    frames.map(|f| f.unwrap().data.to_vec()).collect()
}

/// A small deterministic generator so every failure names a reproducible case.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut XorShift, frame: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let bit = rng.below(out.len() * 8);
                out[bit / 8] ^= 1 << (bit % 8);
            }
        }
        1 => out.truncate(rng.below(out.len())),
        2 => {
            // Garbage after an intact tag, so the header parses but the body is noise.
            for b in out.iter_mut().skip(3) {
                *b = rng.next() as u8;
            }
        }
        3 => {
            let start = rng.below(out.len());
            out[start..].fill(0);
        }
        _ => {
            let start = rng.below(out.len());
            out[start..].fill(0xff);
        }
    }
    out
}

#[test]
fn mutated_frames_decode_or_fail_cleanly() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut errors = 0;
    let mut cases = 0;
    for n in [1, 3, 6, 8, 10, 14, 15, 17, 18] {
        let frames = frames(&vector(n));
        for trial in 0..12 {
            let target = rng.below(frames.len());
            let mut state = DecoderState::new();
            for (i, frame) in frames.iter().enumerate().take(target + 4) {
                let data = if i == target {
                    mutate(&mut rng, frame)
                } else {
                    frame.clone()
                };
                cases += 1;
                match decode(&state, &data) {
                    Ok((next, _)) => state = next,
                    Err(e) => {
                        errors += 1;
                        assert!(
                            !e.to_string().is_empty(),
                            "vector {n} trial {trial}: empty message"
                        );
                    }
                }
            }
        }
    }
    // Most mutations of a keyframe or header must be caught, not silently absorbed.
    assert!(
        errors > 0,
        "{cases} decodes of mutated streams produced no error at all"
    );
}

#[test]
fn huge_keyframe_that_ends_fails_fast() {
    // A keyframe declaring 16383x16383 with a header and nothing after it.
    let mut frame = vec![0u8; 10];
    let first_partition_size = 4u32;
    let tag = (first_partition_size << 5) | (1 << 4); // keyframe, version 0, shown
    frame[..3].copy_from_slice(&tag.to_le_bytes()[..3]);
    frame[3..6].copy_from_slice(&[0x9d, 0x01, 0x2a]);
    frame[6..8].copy_from_slice(&0x3fffu16.to_le_bytes());
    frame[8..10].copy_from_slice(&0x3fffu16.to_le_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    let start = std::time::Instant::now();
    let err = decode(&DecoderState::new(), &frame).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Truncated { .. } | DecodeError::TruncatedPartition { .. }
        ),
        "unexpected error {err}"
    );
    // Failing must not mean decoding a million macroblocks of zeros first.
    assert!(
        start.elapsed().as_secs_f64() < 1.0,
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn interframe_without_keyframe_is_refused() {
    let frames = frames(&vector(1));
    let err = decode(&DecoderState::new(), &frames[1]).unwrap_err();
    assert_eq!(err, DecodeError::NoKeyframe);
}

#[test]
fn truncated_frames_are_reported_as_truncated() {
    let frames = frames(&vector(1));
    let (state, _) = decode(&DecoderState::new(), &frames[0]).unwrap();
    for len in [0usize, 1, 2, 5, 9] {
        let result = decode(&DecoderState::new(), &frames[0][..len]);
        if len == 0 {
            // A zero-length frame is a dropped frame.
            assert!(result.is_ok());
        } else {
            assert!(result.is_err(), "keyframe cut to {len} bytes decoded");
        }
    }
    // Half a keyframe: its partitions no longer fit.
    let half = &frames[0][..frames[0].len() / 2];
    assert!(decode(&DecoderState::new(), half).is_err());
    // The good state still decodes the next frame.
    assert!(decode(&state, &frames[1]).is_ok());
}
