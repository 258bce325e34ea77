use codec_core::{DecoderState, Picture as CorePicture};
use flick_tests::{md5_list_path, read_ivf_frames, read_md5_list, stream_name, vector};

use crate::inspect::{frame_facts, md5_line, picture_md5, psnr, state_report, to_rgba};
use crate::options::encode_params;
use crate::split_ivf;

#[test]
fn split_ivf_finds_every_frame_and_keeps_them_before_a_cut() {
    let path = vector(1);
    let data = std::fs::read(&path).unwrap();
    let expected = read_ivf_frames(&path);
    let (header, frames, error) = split_ivf(&data).unwrap();
    assert_eq!((header.width, header.height), (176, 144));
    assert_eq!(error, None);
    let got: Vec<&[u8]> = frames.iter().map(|&(s, l)| &data[s..s + l]).collect();
    assert_eq!(got, expected.iter().map(Vec::as_slice).collect::<Vec<_>>());

    let cut = &data[..data.len() - 5];
    let (_, frames, error) = split_ivf(cut).unwrap();
    assert_eq!(frames.len(), expected.len() - 1);
    let error = error.unwrap();
    let last = expected.len() - 1;
    assert!(
        error.contains(&format!("IVF frame {last} at byte")),
        "{error}"
    );

    assert!(
        split_ivf(b"RIFF....")
            .unwrap_err()
            .contains("not an IVF file")
    );
    let mut other = data.clone();
    other[8..12].copy_from_slice(b"VP90");
    assert!(split_ivf(&other).unwrap_err().contains("VP90"));
}

#[test]
fn the_md5_of_each_picture_is_the_conformance_lists() {
    // 175x143: odd sizes crop chroma rounding up; 018 has a hidden frame.
    for number in [6, 18] {
        md5s_match(number);
    }
}

fn md5s_match(number: u32) {
    let path = vector(number);
    let name = stream_name(&path);
    let expected = read_md5_list(&md5_list_path(&path));
    let mut state = DecoderState::new();
    let mut got = Vec::new();
    for (index, frame) in read_ivf_frames(&path).iter().enumerate() {
        let (next, picture) = codec_core::decode(&state, frame).unwrap();
        state = next;
        got.extend(picture.map(|p| (picture_md5(&p), md5_line(&name, index, &p))));
    }
    let digests: Vec<&str> = got.iter().map(|(digest, _)| digest.as_str()).collect();
    let lines: Vec<&str> = got.iter().map(|(_, line)| line.as_str()).collect();
    assert_eq!(lines, expected);
    let expected: Vec<&str> = expected.iter().map(|l| &l[..32]).collect();
    assert_eq!(digests, expected);
}

#[test]
fn frame_facts_report_the_header() {
    let frames = read_ivf_frames(&vector(1));
    let key = frame_facts(&frames[0]).unwrap().unwrap();
    assert!(key.key_frame && key.show);
    assert_eq!((key.width, key.height), (Some(176), Some(144)));
    assert!(key.refresh_last && key.refresh_golden && key.refresh_altref);
    assert_eq!(key.bytes, frames[0].len());
    let inter = frame_facts(&frames[1]).unwrap().unwrap();
    assert!(!inter.key_frame);
    assert_eq!(inter.width, None);
    assert!(
        frame_facts(&[]).unwrap().is_none(),
        "a dropped frame has no facts"
    );
    assert!(frame_facts(&frames[1][..2]).is_err());
    let json = serde_json::to_value(&key).unwrap();
    assert_eq!(json["keyFrame"], true, "camelCase for the page");
}

#[test]
fn state_report_counts_changes_from_the_defaults() {
    let empty = state_report(&DecoderState::new());
    assert_eq!(empty.size, None);
    assert_eq!(empty.probabilities.coefficients_changed, [0; 4]);
    assert_eq!(empty.probabilities.coefficients_total, 4 * 8 * 3 * 11);
    assert_eq!(empty.references, None);

    let mut state = DecoderState::new();
    for frame in read_ivf_frames(&vector(1)).iter().take(10) {
        state = codec_core::decode(&state, frame).unwrap().0;
    }
    let report = state_report(&state);
    assert_eq!(
        report.size.as_ref().map(|s| (s.width, s.height)),
        Some((176, 144))
    );
    assert!(
        report
            .probabilities
            .coefficients_changed
            .iter()
            .sum::<usize>()
            > 0
    );
    assert!(report.probabilities.coefficients_mean_abs_diff > 0.0);
    assert_eq!(
        report.segmentation.macroblocks.iter().sum::<usize>(),
        11 * 9
    );
    assert_eq!(report.hash, crate::inspect::hex(&state.content_hash()));
    assert!(report.references.is_some());
}

#[test]
fn rgba_uses_studio_range() {
    let w = 3;
    let h = 2;
    let y = [16, 235, 126, 16, 235, 126];
    let u = [128, 128];
    let v = [128, 255];
    let picture = CorePicture::from_i420(w, h, &y, &u, &v);
    let rgba = to_rgba(&picture);
    assert_eq!(rgba.len(), w * h * 4);
    assert_eq!(&rgba[0..4], &[0, 0, 0, 255], "Y=16 is black");
    assert_eq!(&rgba[4..8], &[255, 255, 255, 255], "Y=235 is white");
    let grey = &rgba[8..12];
    assert!(
        grey[0] > 200 && grey[2] < grey[0],
        "V=255 turns it red: {grey:?}"
    );
}

#[test]
fn psnr_is_infinite_cap_for_equal_and_finite_otherwise() {
    let a = CorePicture::from_i420(16, 16, &[100; 256], &[128; 64], &[128; 64]);
    let b = CorePicture::from_i420(16, 16, &[110; 256], &[128; 64], &[128; 64]);
    let (same, _) = psnr(&a, &a);
    assert_eq!(same, codec_core::metrics::PSNR_MAX);
    let (all, luma) = psnr(&a, &b);
    // Luma: MSE 100 -> 28.13 dB; all planes: MSE 100 * 256 / 384.
    assert!((luma - 28.131).abs() < 0.01, "{luma}");
    assert!((all - 29.892).abs() < 0.01, "{all}");
}

#[test]
fn encode_options_default_and_reject_unknown_fields() {
    let defaults = encode_params("").unwrap();
    assert_eq!(defaults, codec_core::EncodeParams::default());
    let params = encode_params(
        r#"{"quantizer": 20, "speed": 8, "keyframe": true,
            "refresh": {"last": false, "golden": true, "altref": false}}"#,
    )
    .unwrap();
    assert_eq!(
        (params.quantizer, params.speed, params.keyframe),
        (20, 8, true)
    );
    assert!(!params.references.last && params.references.golden);
    let err = encode_params(r#"{"quantiser": 20}"#).unwrap_err();
    assert!(err.contains("quantiser"), "{err}");
    assert!(encode_params(r#"{"speed": "fast"}"#).is_err());
}
