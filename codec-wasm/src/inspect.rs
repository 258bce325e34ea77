//! Facts about frames, states and pictures for the page, as plain values: JSON for the
//! frame and state reports, RGBA for the canvas. Nothing here touches JavaScript, so it is
//! all tested natively.

use std::sync::Arc;

use codec_core::header::{BufferCopy, FrameHeader};
use codec_core::state::EntropyProbabilities;
use codec_core::{DecodeError, DecoderState, Picture};
use serde::Serialize;

/// What one compressed frame's tag and header say.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FrameFacts {
    pub key_frame: bool,
    pub version: u8,
    pub show: bool,
    pub bytes: usize,
    pub first_partition_bytes: usize,
    /// Keyframes only: the coded size.
    pub width: Option<u16>,
    pub height: Option<u16>,
    /// The base quantizer index (y_ac_qi), 0..=127.
    pub quantizer: u8,
    pub loop_filter_level: u8,
    pub sharpness: u8,
    pub filter_simple: bool,
    pub partitions: usize,
    pub segmentation: bool,
    pub refresh_last: bool,
    pub refresh_golden: bool,
    pub refresh_altref: bool,
    /// "last", "altref" or null: what golden is copied from when not refreshed.
    pub copy_to_golden: Option<&'static str>,
    /// "last", "golden" or null.
    pub copy_to_altref: Option<&'static str>,
    pub sign_bias_golden: bool,
    pub sign_bias_altref: bool,
    pub refresh_entropy: bool,
}

/// Reads the facts of `frame`. A zero-length frame is a dropped frame and has none.
///
/// # Errors
///
/// When the tag or the first partition's header cannot be parsed.
pub fn frame_facts(frame: &[u8]) -> Result<Option<FrameFacts>, DecodeError> {
    if frame.is_empty() {
        return Ok(None);
    }
    let header = codec_core::header::inspect(frame)?;
    Ok(Some(facts_of(&header, frame.len())))
}

fn facts_of(header: &FrameHeader, bytes: usize) -> FrameFacts {
    let key = header.is_key_frame();
    let copy = |copy: BufferCopy, other: &'static str| match copy {
        BufferCopy::None => None,
        BufferCopy::FromLast => Some("last"),
        BufferCopy::FromOther => Some(other),
    };
    FrameFacts {
        key_frame: key,
        version: header.tag.version,
        show: header.tag.show_frame,
        bytes,
        first_partition_bytes: header.tag.first_partition_size,
        width: header.tag.keyframe_size.map(|s| s.width),
        height: header.tag.keyframe_size.map(|s| s.height),
        quantizer: header.quant.y_ac,
        loop_filter_level: header.loop_filter_level,
        sharpness: header.sharpness,
        filter_simple: header.filter_simple,
        partitions: header.partition_count,
        segmentation: header.segmentation.enabled,
        // A keyframe refreshes every reference whatever the (absent) flags would say.
        refresh_last: key || header.refresh_last,
        refresh_golden: key || header.refresh_golden,
        refresh_altref: key || header.refresh_altref,
        copy_to_golden: if key {
            None
        } else {
            copy(header.copy_to_golden, "altref")
        },
        copy_to_altref: if key {
            None
        } else {
            copy(header.copy_to_altref, "golden")
        },
        sign_bias_golden: header.sign_bias_golden,
        sign_bias_altref: header.sign_bias_altref,
        refresh_entropy: header.refresh_entropy_probs,
    }
}

/// A state, summarised: its size, how far its probabilities have moved from the defaults
/// every keyframe starts from, its segmentation and loop-filter deltas, and which reference
/// pictures are shared.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StateReport {
    pub size: Option<SizeReport>,
    /// SHA-256 of the state's contents, hex.
    pub hash: String,
    pub probabilities: ProbabilityReport,
    pub segmentation: SegmentationReport,
    pub loop_filter_deltas: DeltaReport,
    pub references: Option<SharingReport>,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SizeReport {
    pub width: u16,
    pub height: u16,
    pub horizontal_scale: u8,
    pub vertical_scale: u8,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProbabilityReport {
    /// Coefficient probabilities that differ from the defaults, per block type
    /// (0: Y beginning at 1, 1: Y2, 2: chroma, 3: Y with DC), of 264 each.
    pub coefficients_changed: [usize; 4],
    pub coefficients_total: usize,
    /// Mean absolute difference from the defaults over all coefficient probabilities.
    pub coefficients_mean_abs_diff: f64,
    pub y_mode: ProbsDiff,
    pub uv_mode: ProbsDiff,
    /// Vertical then horizontal motion-vector component probabilities.
    pub motion_vectors: [ProbsDiff; 2],
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ProbsDiff {
    pub values: Vec<u8>,
    pub defaults: Vec<u8>,
    pub changed: usize,
}

impl ProbsDiff {
    fn new(values: &[u8], defaults: &[u8]) -> ProbsDiff {
        ProbsDiff {
            values: values.to_vec(),
            defaults: defaults.to_vec(),
            changed: values.iter().zip(defaults).filter(|(a, b)| a != b).count(),
        }
    }
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SegmentationReport {
    pub absolute_values: bool,
    pub quantizer: [i8; 4],
    pub loop_filter_level: [i8; 4],
    /// Macroblocks in each segment, by the persistent map.
    pub macroblocks: [usize; 4],
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeltaReport {
    /// Intra, last, golden, altref.
    pub reference_frame: [i8; 4],
    /// B_PRED, ZEROMV, NEAREST/NEAR/NEW, SPLITMV.
    pub mode: [i8; 4],
}

/// Which reference slots hold the very same picture.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SharingReport {
    pub golden_is_last: bool,
    pub altref_is_last: bool,
    pub altref_is_golden: bool,
}

pub fn state_report(state: &DecoderState) -> StateReport {
    let probs = &state.probabilities;
    let defaults = EntropyProbabilities::default();
    let mut changed = [0usize; 4];
    let mut total = 0;
    let mut abs_diff = 0u64;
    for (kind, (ours, theirs)) in probs
        .coefficients
        .iter()
        .zip(&defaults.coefficients)
        .enumerate()
    {
        let ours = ours.iter().flatten().flatten();
        let theirs = theirs.iter().flatten().flatten();
        for (a, b) in ours.zip(theirs) {
            total += 1;
            changed[kind] += usize::from(a != b);
            abs_diff += u64::from(a.abs_diff(*b));
        }
    }
    let segmentation = &state.segmentation;
    let mut macroblocks = [0usize; 4];
    for &id in segmentation.map.iter() {
        macroblocks[usize::from(id & 3)] += 1;
    }
    StateReport {
        size: state.size().map(|s| SizeReport {
            width: s.width,
            height: s.height,
            horizontal_scale: s.horizontal_scale,
            vertical_scale: s.vertical_scale,
        }),
        hash: hex(&state.content_hash()),
        probabilities: ProbabilityReport {
            coefficients_changed: changed,
            coefficients_total: total,
            coefficients_mean_abs_diff: abs_diff as f64 / total.max(1) as f64,
            y_mode: ProbsDiff::new(&probs.y_mode, &defaults.y_mode),
            uv_mode: ProbsDiff::new(&probs.uv_mode, &defaults.uv_mode),
            motion_vectors: [
                ProbsDiff::new(&probs.motion_vectors[0], &defaults.motion_vectors[0]),
                ProbsDiff::new(&probs.motion_vectors[1], &defaults.motion_vectors[1]),
            ],
        },
        segmentation: SegmentationReport {
            absolute_values: segmentation.absolute_values,
            quantizer: segmentation.quantizer,
            loop_filter_level: segmentation.loop_filter_level,
            macroblocks,
        },
        loop_filter_deltas: DeltaReport {
            reference_frame: state.loop_filter_deltas.reference_frame,
            mode: state.loop_filter_deltas.mode,
        },
        references: state.references().map(|r| SharingReport {
            golden_is_last: same_picture(&r.golden, &r.last),
            altref_is_last: same_picture(&r.altref, &r.last),
            altref_is_golden: same_picture(&r.altref, &r.golden),
        }),
    }
}

/// The same picture: shared, or equal sample for sample (as the state's serialization
/// stores them once).
fn same_picture(a: &Arc<Picture>, b: &Arc<Picture>) -> bool {
    Arc::ptr_eq(a, b) || a == b
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The displayed picture as RGBA for a canvas, BT.601 studio range (what VP8 decoders hand
/// to displays), chroma upsampled by repetition.
pub fn to_rgba(picture: &Picture) -> Vec<u8> {
    let (w, h) = (picture.display_width, picture.display_height);
    let mut out = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        let luma = &picture.y.data[y * picture.y.stride..][..w];
        let u_row = &picture.u.data[(y / 2) * picture.u.stride..];
        let v_row = &picture.v.data[(y / 2) * picture.v.stride..];
        for (x, &l) in luma.iter().enumerate() {
            let c = 298 * (i32::from(l) - 16);
            let d = i32::from(u_row[x / 2]) - 128;
            let e = i32::from(v_row[x / 2]) - 128;
            let clamp = |v: i32| ((v + 128) >> 8).clamp(0, 255) as u8;
            out.extend_from_slice(&[
                clamp(c + 409 * e),
                clamp(c - 100 * d - 208 * e),
                clamp(c + 516 * d),
                255,
            ]);
        }
    }
    out
}

/// MD5 of the displayed picture as I420, hex: the digest `flick decode --frame-md5` and
/// vpxdec --md5 print for a frame.
pub fn picture_md5(picture: &Picture) -> String {
    use md5::{Digest, Md5};
    hex(&Md5::digest(picture.to_i420()))
}

/// The MD5 line `flick decode --frame-md5` prints for the picture that frame `index`
/// (0-based, counting hidden frames) of stream `name` shows.
pub fn md5_line(name: &str, index: usize, picture: &Picture) -> String {
    format!(
        "{}  {}",
        picture_md5(picture),
        picture.i420_file_name(name, index)
    )
}

/// PSNR in dB of `a` against `b` over all three planes together (total squared error over
/// total samples), and of luma alone.
pub fn psnr(a: &Picture, b: &Picture) -> (f64, f64) {
    use codec_core::metrics::{picture_samples, picture_sse, psnr};
    let sse = picture_sse(a, b);
    let samples = picture_samples(a, b);
    (
        psnr(sse.iter().sum(), samples.iter().sum()),
        psnr(sse[0], samples[0]),
    )
}
