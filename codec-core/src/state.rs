//! The decoder state as a value (RFC 6386 §9): everything a VP8 decoder carries from one
//! frame to the next. Cloning is cheap (pictures are shared behind `Arc`), states compare
//! with `Eq`, have a content hash, and serialize to a versioned, checksummed binary form.

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decoder::FrameContext;
use crate::picture::Picture;
use crate::tables;

/// Per-plane-type coefficient token probabilities `[block type][band][context][node]`
/// (RFC 6386 §13.3).
pub type TokenProbabilities = [[[[u8; 11]; 3]; 8]; 4];

/// The probabilities that persist between frames (RFC 6386 §9.7–9.10, §13.4, §16.2, §17.2).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct EntropyProbabilities {
    pub coefficients: TokenProbabilities,
    pub y_mode: [u8; 4],
    pub uv_mode: [u8; 3],
    pub motion_vectors: [[u8; tables::MV_PROB_COUNT]; 2],
}

impl Default for EntropyProbabilities {
    /// The probabilities every keyframe starts from.
    fn default() -> Self {
        EntropyProbabilities {
            coefficients: tables::DEFAULT_COEFF_PROBS,
            y_mode: tables::DEFAULT_YMODE_PROBS,
            uv_mode: tables::DEFAULT_UV_MODE_PROBS,
            motion_vectors: tables::DEFAULT_MV_PROBS,
        }
    }
}

/// Segment parameters and the persistent segment map (RFC 6386 §9.3, §10).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Segmentation {
    /// Segment values replace the frame's (`true`) or are added to them (`false`).
    pub absolute_values: bool,
    pub quantizer: [i8; 4],
    pub loop_filter_level: [i8; 4],
    /// One segment id per macroblock, raster order; kept when a frame does not update it.
    pub map: Arc<Vec<u8>>,
}

/// Loop-filter level adjustments by reference frame and by prediction mode (RFC 6386 §9.6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
pub struct LoopFilterDeltas {
    /// Indexed by intra, last, golden, altref.
    pub reference_frame: [i8; 4],
    /// Indexed by B_PRED, ZEROMV, NEAREST/NEAR/NEW, SPLITMV.
    pub mode: [i8; 4],
}

/// The frame size a keyframe declared, with its scaling bits (reported, not applied).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct FrameSize {
    pub width: u16,
    pub height: u16,
    pub horizontal_scale: u8,
    pub vertical_scale: u8,
}

/// The three reference pictures. Several may be the same picture, shared.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct References {
    pub last: Arc<Picture>,
    pub golden: Arc<Picture>,
    pub altref: Arc<Picture>,
}

/// Everything a VP8 decoder carries from one frame to the next.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DecoderState {
    /// Size and references; `None` until the first keyframe.
    pub frame: Option<FrameState>,
    pub probabilities: EntropyProbabilities,
    pub segmentation: Segmentation,
    pub loop_filter_deltas: LoopFilterDeltas,
}

/// The part of the state that exists once a keyframe has been decoded.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FrameState {
    pub size: FrameSize,
    pub references: References,
}

/// Why a serialized state could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    BadMagic,
    UnsupportedVersion(u32),
    Truncated { needed: usize, available: usize },
    ChecksumMismatch,
    Malformed(String),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::BadMagic => write!(f, "not a flick state file (bad magic bytes)"),
            StateError::UnsupportedVersion(v) => write!(
                f,
                "state format version {v} is not supported (this build reads version {STATE_VERSION})"
            ),
            StateError::Truncated { needed, available } => write!(
                f,
                "state file truncated: needs {needed} bytes, only {available} present"
            ),
            StateError::ChecksumMismatch => {
                write!(
                    f,
                    "state file corrupted: checksum does not match its contents"
                )
            }
            StateError::Malformed(why) => write!(f, "malformed state: {why}"),
        }
    }
}

impl core::error::Error for StateError {}

const STATE_MAGIC: &[u8; 8] = b"FLKSTATE";
const STATE_VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8;
const CHECKSUM_LEN: usize = 32;
const CONTEXT_MAGIC: &[u8; 8] = b"FLKFRCTX";

/// The envelope of both binary forms: magic, version, payload length, the payload (the
/// bincode encoding of `record`, written in place), SHA-256 of the payload.
fn seal(magic: &[u8; 8], record: &impl Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(magic);
    out.extend_from_slice(&STATE_VERSION.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    encode_payload(record, Appender(&mut out));
    let payload_len = (out.len() - HEADER_LEN) as u64;
    out[12..HEADER_LEN].copy_from_slice(&payload_len.to_le_bytes());
    let checksum = Sha256::digest(&out[HEADER_LEN..]);
    out.extend_from_slice(&checksum);
    out
}

/// Writes the bincode encoding of `record`, the payload of [`seal`], to `writer`.
fn encode_payload(record: &impl Serialize, writer: impl bincode::enc::write::Writer) {
    bincode::serde::encode_into_writer(record, writer, bincode::config::standard())
        .expect("in-memory serialization cannot fail");
}

/// Appends what bincode writes to a vector.
struct Appender<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for Appender<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Hashes what bincode writes, without keeping it.
struct Hashing(Sha256);

impl bincode::enc::write::Writer for &mut Hashing {
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.update(bytes);
        Ok(())
    }
}

/// Checks the envelope [`seal`] wrote and decodes its payload.
fn unseal<'a, T: Deserialize<'a>>(magic: &[u8; 8], bytes: &'a [u8]) -> Result<T, StateError> {
    if bytes.len() < 8 || &bytes[..8] != magic {
        return Err(StateError::BadMagic);
    }
    if bytes.len() < HEADER_LEN {
        return Err(StateError::Truncated {
            needed: HEADER_LEN,
            available: bytes.len(),
        });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    if version != STATE_VERSION {
        return Err(StateError::UnsupportedVersion(version));
    }
    let payload_len = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
    let needed = usize::try_from(payload_len)
        .ok()
        .and_then(|n| n.checked_add(HEADER_LEN + CHECKSUM_LEN))
        .ok_or(StateError::Truncated {
            needed: usize::MAX,
            available: bytes.len(),
        })?;
    if bytes.len() < needed {
        return Err(StateError::Truncated {
            needed,
            available: bytes.len(),
        });
    }
    if bytes.len() > needed {
        return Err(StateError::Malformed(alloc::format!(
            "{} unexpected bytes after the checksum",
            bytes.len() - needed
        )));
    }
    let payload = &bytes[HEADER_LEN..needed - CHECKSUM_LEN];
    if Sha256::digest(payload).as_slice() != &bytes[needed - CHECKSUM_LEN..] {
        return Err(StateError::ChecksumMismatch);
    }
    let config = bincode::config::standard().with_limit::<{ 1 << 30 }>();
    // Borrowing from the payload, a length field cannot claim more than the payload holds.
    let (record, used): (T, usize) = bincode::serde::borrow_decode_from_slice(payload, config)
        .map_err(|e| StateError::Malformed(e.to_string()))?;
    if used != payload.len() {
        return Err(StateError::Malformed(alloc::format!(
            "payload has {} trailing bytes",
            payload.len() - used
        )));
    }
    Ok(record)
}

/// The serialized layout: pictures stored once, references point into the list. Writing
/// borrows from the state; reading owns.
#[derive(Serialize, Deserialize)]
struct StateRecord<'a> {
    probabilities: Cow<'a, EntropyProbabilities>,
    segmentation: SegmentationRecord,
    loop_filter_deltas: LoopFilterDeltas,
    frame: Option<FrameRecord<'a>>,
}

#[derive(Serialize, Deserialize)]
struct SegmentationRecord {
    absolute_values: bool,
    quantizer: [i8; 4],
    loop_filter_level: [i8; 4],
    #[serde(with = "crate::picture::byte_string")]
    map: Vec<u8>,
}

impl SegmentationRecord {
    fn of(segmentation: &Segmentation) -> SegmentationRecord {
        SegmentationRecord {
            absolute_values: segmentation.absolute_values,
            quantizer: segmentation.quantizer,
            loop_filter_level: segmentation.loop_filter_level,
            map: (*segmentation.map).clone(),
        }
    }

    fn into_segmentation(self) -> Segmentation {
        Segmentation {
            absolute_values: self.absolute_values,
            quantizer: self.quantizer,
            loop_filter_level: self.loop_filter_level,
            map: Arc::new(self.map),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct FrameRecord<'a> {
    size: FrameSize,
    pictures: Vec<Cow<'a, Picture>>,
    /// Indices into `pictures` for last, golden, altref.
    references: [u8; 3],
}

impl DecoderState {
    /// The state before any frame: no references, default probabilities.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> Option<FrameSize> {
        self.frame.as_ref().map(|f| f.size)
    }

    pub fn references(&self) -> Option<&References> {
        self.frame.as_ref().map(|f| &f.references)
    }

    /// The state's versioned, checksummed binary form. Equal states give equal bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        seal(STATE_MAGIC, &self.record())
    }

    /// Loads a state written by [`DecoderState::to_bytes`], checking magic, version,
    /// length, checksum and the consistency of every field.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StateError> {
        let record: StateRecord = unseal(STATE_MAGIC, bytes)?;
        Self::from_record(record)
    }

    /// SHA-256 of the canonical serialized payload: equal states have equal hashes.
    pub fn content_hash(&self) -> [u8; 32] {
        let mut hashing = Hashing(Sha256::new());
        encode_payload(&self.record(), &mut hashing);
        hashing.0.finalize().into()
    }

    /// The state as serialized, borrowing its pictures.
    fn record(&self) -> StateRecord<'_> {
        let frame = self.frame.as_ref().map(|frame| {
            let refs = &frame.references;
            // Store each distinct picture once; references name them by index.
            let mut pictures: Vec<&Arc<Picture>> = Vec::with_capacity(3);
            let mut references = [0u8; 3];
            for (slot, p) in references
                .iter_mut()
                .zip([&refs.last, &refs.golden, &refs.altref])
            {
                let found = pictures
                    .iter()
                    .position(|q| Arc::ptr_eq(q, p) || q.as_ref() == p.as_ref());
                *slot = match found {
                    Some(i) => i as u8,
                    None => {
                        pictures.push(p);
                        (pictures.len() - 1) as u8
                    }
                };
            }
            FrameRecord {
                size: frame.size,
                pictures: pictures.into_iter().map(|p| Cow::Borrowed(&**p)).collect(),
                references,
            }
        });
        StateRecord {
            probabilities: Cow::Borrowed(&self.probabilities),
            segmentation: SegmentationRecord::of(&self.segmentation),
            loop_filter_deltas: self.loop_filter_deltas,
            frame,
        }
    }

    fn from_record(record: StateRecord) -> Result<Self, StateError> {
        let malformed = |why: String| StateError::Malformed(why);
        let seg = record.segmentation;
        let frame = match record.frame {
            None => {
                check_segment_map(&seg.map, None)?;
                None
            }
            Some(frame) => {
                let size = frame.size;
                check_size(size)?;
                let expected = Picture::new(size.width as usize, size.height as usize);
                if frame.pictures.is_empty() || frame.pictures.len() > 3 {
                    return Err(malformed(alloc::format!(
                        "{} reference pictures, expected 1 to 3",
                        frame.pictures.len()
                    )));
                }
                for (i, p) in frame.pictures.iter().enumerate() {
                    let planes_ok = [
                        (&p.y, &expected.y),
                        (&p.u, &expected.u),
                        (&p.v, &expected.v),
                    ]
                    .iter()
                    .all(|(a, b)| {
                        a.width == b.width
                            && a.height == b.height
                            && a.stride == b.stride
                            && a.data.len() == b.data.len()
                    });
                    if !planes_ok
                        || p.display_width != expected.display_width
                        || p.display_height != expected.display_height
                    {
                        return Err(malformed(alloc::format!(
                            "reference picture {i} does not match the frame size {}x{}",
                            size.width,
                            size.height
                        )));
                    }
                }
                check_segment_map(&seg.map, Some(size))?;
                if frame
                    .references
                    .iter()
                    .any(|&i| i as usize >= frame.pictures.len())
                {
                    return Err(malformed("reference index out of range".into()));
                }
                let shared: Vec<Arc<Picture>> = frame
                    .pictures
                    .into_iter()
                    .map(|p| Arc::new(p.into_owned()))
                    .collect();
                let [last, golden, altref] = frame.references.map(|i| shared[i as usize].clone());
                Some(FrameState {
                    size,
                    references: References {
                        last,
                        golden,
                        altref,
                    },
                })
            }
        };
        check_probabilities(&record.probabilities)?;
        Ok(DecoderState {
            frame,
            probabilities: record.probabilities.into_owned(),
            segmentation: seg.into_segmentation(),
            loop_filter_deltas: record.loop_filter_deltas,
        })
    }
}

/// A frame size a keyframe can declare.
fn check_size(size: FrameSize) -> Result<(), StateError> {
    if size.width == 0
        || size.height == 0
        || size.width > 0x3fff
        || size.height > 0x3fff
        || size.horizontal_scale > 3
        || size.vertical_scale > 3
    {
        return Err(StateError::Malformed(alloc::format!(
            "impossible frame size {}x{} (scale {}, {})",
            size.width,
            size.height,
            size.horizontal_scale,
            size.vertical_scale
        )));
    }
    Ok(())
}

/// A persistent segment map: none before the first keyframe, else one id in 0..=3 per
/// macroblock.
fn check_segment_map(map: &[u8], size: Option<FrameSize>) -> Result<(), StateError> {
    let Some(size) = size else {
        return if map.is_empty() {
            Ok(())
        } else {
            Err(StateError::Malformed(
                "segment map present without a frame size".into(),
            ))
        };
    };
    let mbs = usize::from(size.width).div_ceil(16) * usize::from(size.height).div_ceil(16);
    if map.len() != mbs || map.iter().any(|&id| id > 3) {
        return Err(StateError::Malformed(alloc::format!(
            "segment map has {} entries, expected {mbs} ids in 0..=3",
            map.len()
        )));
    }
    Ok(())
}

/// Coefficient probabilities a bool decoder can use: none is zero.
fn check_probabilities(probabilities: &EntropyProbabilities) -> Result<(), StateError> {
    let zero = probabilities
        .coefficients
        .iter()
        .flatten()
        .flatten()
        .flatten()
        .any(|&p| p == 0);
    if zero {
        return Err(StateError::Malformed(
            "a coefficient probability is zero".into(),
        ));
    }
    Ok(())
}

/// The serialized layout of a [`FrameContext`].
#[derive(Serialize, Deserialize)]
struct ContextRecord<'a> {
    size: Option<FrameSize>,
    probabilities: Cow<'a, EntropyProbabilities>,
    segmentation: SegmentationRecord,
    loop_filter_deltas: LoopFilterDeltas,
}

impl FrameContext {
    /// The context's versioned, checksummed binary form: about 1.2 kB of probabilities
    /// and deltas plus one byte per macroblock of segment map, where the state it comes from
    /// carries up to three pictures. It is all a rebase needs to know about the state a
    /// frame was made against.
    pub fn to_bytes(&self) -> Vec<u8> {
        let record = ContextRecord {
            size: self.size,
            probabilities: Cow::Borrowed(&self.probabilities),
            segmentation: SegmentationRecord::of(&self.segmentation),
            loop_filter_deltas: self.loop_filter_deltas,
        };
        seal(CONTEXT_MAGIC, &record)
    }

    /// Loads a context written by [`FrameContext::to_bytes`], checking magic, version,
    /// length, checksum and the consistency of every field, as
    /// [`DecoderState::from_bytes`] does.
    pub fn from_bytes(bytes: &[u8]) -> Result<FrameContext, StateError> {
        let record: ContextRecord = unseal(CONTEXT_MAGIC, bytes)?;
        if let Some(size) = record.size {
            check_size(size)?;
        }
        check_segment_map(&record.segmentation.map, record.size)?;
        check_probabilities(&record.probabilities)?;
        Ok(FrameContext {
            size: record.size,
            probabilities: record.probabilities.into_owned(),
            segmentation: record.segmentation.into_segmentation(),
            loop_filter_deltas: record.loop_filter_deltas,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plane as serialized, with its sample count but none of its samples.
    #[derive(Serialize)]
    struct HollowPlane {
        width: usize,
        height: usize,
        stride: usize,
        claimed_len: u64,
    }

    #[derive(Serialize)]
    struct HollowPicture {
        display_width: usize,
        display_height: usize,
        y: HollowPlane,
    }

    #[derive(Serialize)]
    struct HollowState {
        probabilities: EntropyProbabilities,
        segmentation: SegmentationRecord,
        loop_filter_deltas: LoopFilterDeltas,
        frame: Option<(FrameSize, Vec<HollowPicture>)>,
    }

    #[test]
    fn a_plane_claiming_more_samples_than_the_file_holds_is_refused() {
        // A checksum is no defence against a crafted file: it is valid here. The plane
        // claims 1 GiB - 1 of samples (inside bincode's limit) in a file of a few kB.
        let hollow = HollowState {
            probabilities: EntropyProbabilities::default(),
            segmentation: SegmentationRecord {
                absolute_values: false,
                quantizer: [0; 4],
                loop_filter_level: [0; 4],
                map: alloc::vec![0; 1],
            },
            loop_filter_deltas: LoopFilterDeltas::default(),
            frame: Some((
                FrameSize {
                    width: 16,
                    height: 16,
                    horizontal_scale: 0,
                    vertical_scale: 0,
                },
                alloc::vec![HollowPicture {
                    display_width: 16,
                    display_height: 16,
                    y: HollowPlane {
                        width: 16,
                        height: 16,
                        stride: 16,
                        claimed_len: (1 << 30) - 1,
                    },
                }],
            )),
        };
        let err = DecoderState::from_bytes(&seal(STATE_MAGIC, &hollow)).unwrap_err();
        assert!(matches!(err, StateError::Malformed(_)), "{err}");
    }
}
