//! The decoder state as a value: pure decoding, cheap sharing, a checksummed file format.

use std::sync::Arc;

use codec_core::container::ivf::parse_ivf;
use codec_core::{DecoderState, FrameContext, StateError, decode};

fn frames(n: usize) -> Vec<Vec<u8>> {
    let path = format!(
        "{}/../../shared/testdata/vp8/vp80-00-comprehensive-{n:03}.ivf",
        env!("CARGO_MANIFEST_DIR")
    );
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (_, frames) = parse_ivf(&data).unwrap();
    frames.map(|f| f.unwrap().data.to_vec()).collect()
}

fn state_after(frames: &[Vec<u8>], count: usize) -> DecoderState {
    frames[..count]
        .iter()
        .fold(DecoderState::new(), |s, f| decode(&s, f).unwrap().0)
}

#[test]
fn decoding_is_pure() {
    let frames = frames(3);
    let state = state_after(&frames, 10);
    let before = state.clone();
    let (a, pa) = decode(&state, &frames[10]).unwrap();
    let (b, pb) = decode(&state, &frames[10]).unwrap();
    assert_eq!(state, before, "decode mutated its input state");
    assert_eq!(a, b);
    assert_eq!(a.content_hash(), b.content_hash());
    assert_eq!(pa, pb);
    assert_ne!(a.content_hash(), state.content_hash());
}

#[test]
fn clones_share_pictures() {
    let frames = frames(1);
    let state = state_after(&frames, 1);
    let refs = state.references().unwrap();
    // After a keyframe all three references are the one new picture.
    assert!(Arc::ptr_eq(&refs.last, &refs.golden) && Arc::ptr_eq(&refs.last, &refs.altref));
    let copy = state.clone();
    assert!(Arc::ptr_eq(&copy.references().unwrap().last, &refs.last));
}

#[test]
fn serialization_round_trips_and_stores_shared_pictures_once() {
    let frames = frames(18);
    for count in [1, 2, 7, frames.len()] {
        let state = state_after(&frames, count);
        let bytes = state.to_bytes();
        let loaded = DecoderState::from_bytes(&bytes).unwrap();
        assert_eq!(loaded, state, "after {count} frames");
        assert_eq!(loaded.content_hash(), state.content_hash());
        assert_eq!(loaded.to_bytes(), bytes, "serialization is not canonical");
        // The loaded state decodes the rest of the stream identically.
        if count < frames.len() {
            assert_eq!(
                decode(&loaded, &frames[count]).unwrap(),
                decode(&state, &frames[count]).unwrap()
            );
        }
    }
    let key_only = state_after(&frames, 1);
    let picture_bytes = key_only.references().unwrap().last.to_i420().len();
    assert!(
        key_only.to_bytes().len() < 2 * picture_bytes,
        "three identical references were stored more than once"
    );
}

#[test]
fn damaged_state_files_fail_clearly() {
    let state = state_after(&frames(1), 3);
    let bytes = state.to_bytes();

    for len in [0, 4, 12, 19, bytes.len() / 2, bytes.len() - 1] {
        let err = DecoderState::from_bytes(&bytes[..len]).unwrap_err();
        assert!(
            matches!(err, StateError::BadMagic | StateError::Truncated { .. }),
            "cut to {len}: {err}"
        );
    }
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x10;
    assert_eq!(
        DecoderState::from_bytes(&flipped).unwrap_err(),
        StateError::ChecksumMismatch
    );

    let mut version = bytes.clone();
    version[8] = 99;
    assert_eq!(
        DecoderState::from_bytes(&version).unwrap_err(),
        StateError::UnsupportedVersion(99)
    );

    let foreign = b"DKIF\0\0 \0VP80 this is an IVF file, not a state".to_vec();
    assert_eq!(
        DecoderState::from_bytes(&foreign).unwrap_err(),
        StateError::BadMagic
    );

    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        DecoderState::from_bytes(&trailing).unwrap_err(),
        StateError::Malformed(_)
    ));
}

#[test]
fn empty_state_round_trips() {
    let empty = DecoderState::new();
    assert_eq!(DecoderState::from_bytes(&empty.to_bytes()).unwrap(), empty);
}

#[test]
fn frame_contexts_round_trip_and_are_small() {
    // 007 updates its segment map every frame; 010 turns segmentation on at frame 23.
    for (vector, count) in [(1, 10), (7, 6), (10, 30)] {
        let frames = frames(vector);
        let state = state_after(&frames, count);
        if vector != 1 {
            assert!(state.segmentation.map.iter().any(|&id| id != 0), "{vector}");
        }
        let context = FrameContext::of(&state);
        let bytes = context.to_bytes();
        assert_eq!(
            FrameContext::from_bytes(&bytes).unwrap(),
            context,
            "{vector}"
        );
        // Probabilities, deltas and one byte per macroblock: no pictures.
        let mbs = usize::from(state.size().unwrap().width).div_ceil(16)
            * usize::from(state.size().unwrap().height).div_ceil(16);
        assert!(bytes.len() < 1300 + mbs, "{vector}: {} bytes", bytes.len());
        // The context parses what follows exactly as the state's own does.
        let next = &frames[count];
        assert_eq!(
            FrameContext::from_bytes(&bytes)
                .unwrap()
                .after(next)
                .unwrap(),
            context.after(next).unwrap()
        );
    }
    let empty = FrameContext::of(&DecoderState::new());
    assert_eq!(FrameContext::from_bytes(&empty.to_bytes()).unwrap(), empty);
}

#[test]
fn damaged_frame_contexts_fail_clearly() {
    let state = state_after(&frames(1), 3);
    let bytes = FrameContext::of(&state).to_bytes();
    assert_eq!(
        FrameContext::from_bytes(&state.to_bytes()).unwrap_err(),
        StateError::BadMagic,
        "a state is not a context"
    );
    assert_eq!(
        DecoderState::from_bytes(&bytes).unwrap_err(),
        StateError::BadMagic,
        "nor a context a state"
    );
    for len in [0, 19, bytes.len() - 1] {
        let err = FrameContext::from_bytes(&bytes[..len]).unwrap_err();
        assert!(
            matches!(err, StateError::BadMagic | StateError::Truncated { .. }),
            "cut to {len}: {err}"
        );
    }
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x01;
    assert_eq!(
        FrameContext::from_bytes(&flipped).unwrap_err(),
        StateError::ChecksumMismatch
    );
}
