//! The 18 VP8 conformance vectors decoded with codec-core, frame for frame against the MD5
//! lists libvpx's test uses; and the properties that make the decoder a pure function over a
//! state that can be shipped: determinism, an untouched input state, a lossless serialized
//! form, and resuming mid-stream from a serialized state.

use codec_core::DecoderState;
use flick_tests::{
    all_vectors, decode_file, decode_from, first_difference, md5_list_path, read_ivf_frames,
    read_md5_list, stream_name, vector,
};

#[test]
fn every_vector_matches_its_md5_list() {
    let mut failures = Vec::new();
    let mut passed = 0;
    for path in all_vectors() {
        let name = stream_name(&path);
        let expected = read_md5_list(&md5_list_path(&path));
        let produced = match decode_file(&path) {
            Ok(decoded) => decoded.lines,
            Err(failure) => {
                let matching = first_difference(&expected, &failure.before.lines)
                    .map_or("all shown frames before it match".to_owned(), |d| {
                        format!("before that: {d}")
                    });
                failures.push(format!(
                    "{name}: decode error at frame {}: {} ({matching})",
                    failure.index, failure.error
                ));
                continue;
            }
        };
        match first_difference(&expected, &produced) {
            Some(difference) => failures.push(format!("{name}: {difference}")),
            None => passed += 1,
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 18 vectors fail ({passed} pass):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// Vectors that cover a hidden frame (018), odd sizes (006, 014), a large picture (008),
/// and long inter runs (015).
const PROPERTY_VECTORS: [u32; 5] = [1, 6, 8, 15, 18];

#[test]
fn decode_is_deterministic_and_leaves_its_input_alone() {
    for number in PROPERTY_VECTORS {
        let path = vector(number);
        let frames = read_ivf_frames(&path);
        let mut state = DecoderState::new();
        for (index, frame) in frames.iter().enumerate() {
            let before = state.clone();
            let hash_before = state.content_hash();
            let first = codec_core::decode(&state, frame)
                .unwrap_or_else(|e| panic!("{}: frame {index}: {e}", path.display()));
            let second = codec_core::decode(&state, frame)
                .unwrap_or_else(|e| panic!("{}: frame {index} again: {e}", path.display()));
            assert_eq!(
                state,
                before,
                "{}: frame {index}: decode changed its input state",
                path.display()
            );
            assert_eq!(state.content_hash(), hash_before);
            assert_eq!(
                first.0,
                second.0,
                "{}: frame {index}: two decodes from one state disagree on the state",
                path.display()
            );
            assert_eq!(first.0.content_hash(), second.0.content_hash());
            assert_eq!(
                first.1,
                second.1,
                "{}: frame {index}: two decodes from one state disagree on the picture",
                path.display()
            );
            // A keyframe always moves the state on (a later frame may legally refresh nothing).
            if index == 0 {
                assert_ne!(
                    first.0,
                    state,
                    "{}: keyframe left the state empty",
                    path.display()
                );
            }
            state = first.0;
        }
        assert!(
            state.size().is_some(),
            "{}: no frame size after decoding",
            path.display()
        );
    }
}

#[test]
fn state_bytes_round_trip() {
    let empty = DecoderState::new();
    let back = DecoderState::from_bytes(&empty.to_bytes()).expect("empty state loads");
    assert_eq!(back, empty);

    for number in PROPERTY_VECTORS {
        let path = vector(number);
        let decoded = decode_file(&path).unwrap_or_else(|f| {
            panic!(
                "{}: decode error at frame {}: {}",
                path.display(),
                f.index,
                f.error
            )
        });
        let states = &decoded.states;
        let picks = [0, states.len() / 2, states.len() - 1];
        for index in picks {
            let state = &states[index];
            let bytes = state.to_bytes();
            let loaded = DecoderState::from_bytes(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{}: state after frame {index} does not load: {e}",
                    path.display()
                )
            });
            assert_eq!(&loaded, state, "{}: after frame {index}", path.display());
            assert_eq!(loaded.content_hash(), state.content_hash());
            assert_eq!(loaded.to_bytes(), bytes, "serialization is not canonical");
            assert_ne!(
                state.content_hash(),
                empty.content_hash(),
                "a decoded state hashes like the empty one"
            );

            // Damage is detected, never loaded as some other state.
            let mut flipped = bytes.clone();
            let middle = flipped.len() / 2;
            flipped[middle] ^= 0x40;
            assert!(
                DecoderState::from_bytes(&flipped).is_err(),
                "flipped byte accepted"
            );
            assert!(
                DecoderState::from_bytes(&bytes[..bytes.len() - 1]).is_err(),
                "truncated state accepted"
            );
        }
        // States after different frames differ (a hash that ignored the pictures would not).
        let first = states[0].content_hash();
        let last = states[states.len() - 1].content_hash();
        assert_ne!(
            first,
            last,
            "{}: first and last states hash alike",
            path.display()
        );
    }
}

#[test]
fn resuming_from_a_serialized_state_gives_the_tail_of_a_straight_decode() {
    // (vector, frames after which to split): 018's frame 0 is a hidden keyframe.
    let splits: [(u32, &[usize]); 4] = [
        (1, &[0, 5, 27]),
        (6, &[11, 46]),
        (15, &[100, 199]),
        (18, &[0, 1, 14]),
    ];
    for (number, after) in splits {
        let path = vector(number);
        let name = stream_name(&path);
        let frames = read_ivf_frames(&path);
        let straight = decode_from(&name, &frames, 0, &DecoderState::new())
            .unwrap_or_else(|f| panic!("{name}: decode error at frame {}: {}", f.index, f.error));
        for &n in after {
            let bytes = straight.states[n].to_bytes();
            let loaded = DecoderState::from_bytes(&bytes)
                .unwrap_or_else(|e| panic!("{name}: state after frame {n} does not load: {e}"));
            let resumed = decode_from(&name, &frames, n + 1, &loaded).unwrap_or_else(|f| {
                panic!(
                    "{name}: resumed after {n}: decode error at frame {}: {}",
                    f.index, f.error
                )
            });
            let tail: Vec<String> = straight
                .pictures
                .iter()
                .zip(&straight.lines)
                .filter(|((index, _), _)| *index > n)
                .map(|(_, line)| line.clone())
                .collect();
            assert!(
                !tail.is_empty(),
                "{name}: split after {n} leaves nothing to compare"
            );
            if let Some(difference) = first_difference(&tail, &resumed.lines) {
                panic!("{name}: resumed after frame {n}: {difference}");
            }
            assert_eq!(
                resumed.states.last(),
                straight.states.last(),
                "{name}: resumed after frame {n}: final states differ"
            );
        }
    }
}
