//! `encode(state, picture, params) -> (frame, state')`: one VP8 frame predicted from any
//! given decoder state, as a pure function.
//!
//! The encoder decides modes, motion vectors and quantized coefficients, reconstructing
//! each macroblock with the decoder's own prediction and transform code, writes the frame,
//! and returns the state a decoder is in after it. Everything it writes is standard VP8.

pub mod bool_encoder;
pub mod frame;
pub mod header_writer;
pub mod inter_decision;
pub mod intra_decision;
pub mod macroblock;
pub mod mode_writer;
pub mod motion_search;
pub mod prob_update;
pub mod quantize;
pub mod rate_control;
pub mod rebase;
pub mod sequence;
pub mod size_model;
pub mod token_writer;

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::picture::Picture;
use crate::state::DecoderState;

/// Which references an interframe refreshes, and the copies made when it does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReferenceUpdate {
    pub last: bool,
    pub golden: bool,
    pub altref: bool,
    /// When golden is refreshed, first keep the old golden as altref.
    pub golden_to_altref: bool,
    /// When altref is refreshed, first keep the old altref as golden.
    pub altref_to_golden: bool,
}

impl Default for ReferenceUpdate {
    fn default() -> Self {
        ReferenceUpdate {
            last: true,
            golden: false,
            altref: false,
            golden_to_altref: false,
            altref_to_golden: false,
        }
    }
}

/// How to encode one frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodeParams {
    /// Base quantizer index, 0 (finest) ..= 127.
    pub quantizer: u8,
    /// Emit a keyframe even when the state could predict this picture.
    pub keyframe: bool,
    /// Search effort: 0 (slowest, best) ..= 8 (fastest).
    pub speed: u8,
    /// log2 of the number of token partitions, 0 ..= 3.
    pub token_partitions_log2: u8,
    /// Loop-filter level 0 ..= 63, or `None` to choose it from the frame.
    pub loop_filter_level: Option<u8>,
    /// Loop-filter sharpness 0 ..= 7.
    pub sharpness: u8,
    /// Reference refreshes for interframes (keyframes refresh all three).
    pub references: ReferenceUpdate,
    /// `false` for frames decoded only to serve as a reference.
    pub show: bool,
    /// Whether the golden and the altref reference lie ahead of this frame in display order
    /// (a hidden altref coded ahead of its time): their neighbours' vectors point the other
    /// way and are negated in vector prediction (RFC 6386 §9.7, §18.3).
    pub sign_bias_golden: bool,
    pub sign_bias_altref: bool,
    /// `false`: no macroblock predicts from the last picture, only from golden, altref or
    /// within the frame. Such a frame decodes the same from any state whose golden and altref
    /// are the same pictures, whatever its last is.
    pub predict_from_last: bool,
}

impl Default for EncodeParams {
    fn default() -> Self {
        EncodeParams {
            quantizer: 40,
            keyframe: false,
            speed: 4,
            token_partitions_log2: 0,
            loop_filter_level: None,
            sharpness: 0,
            references: ReferenceUpdate::default(),
            show: true,
            sign_bias_golden: false,
            sign_bias_altref: false,
            predict_from_last: true,
        }
    }
}

/// Why a picture could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The picture's size differs from the state's and no keyframe was asked for.
    SizeMismatch {
        state: (usize, usize),
        picture: (usize, usize),
    },
    /// A picture larger than VP8 can code (16383x16383) or empty.
    InvalidSize { width: usize, height: usize },
    /// A parameter outside its range.
    InvalidParameter(String),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::SizeMismatch { state, picture } => write!(
                f,
                "picture is {}x{} but the state's frames are {}x{}; encode a keyframe to change size",
                picture.0, picture.1, state.0, state.1
            ),
            EncodeError::InvalidSize { width, height } => write!(
                f,
                "picture size {width}x{height} is outside what VP8 codes (1x1 to 16383x16383)"
            ),
            EncodeError::InvalidParameter(what) => write!(f, "invalid parameter: {what}"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// One encoded frame and what it leads to.
#[derive(Clone, Debug)]
pub struct EncodedFrame {
    /// The compressed frame, ready for an IVF container.
    pub data: Vec<u8>,
    /// The state a decoder is in after decoding `data` from the input state.
    pub state: DecoderState,
    /// The reconstructed picture, exactly as any decoder shows it.
    pub picture: Arc<Picture>,
    pub stats: FrameStats,
}

/// Facts about an encoded frame, for rate control and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    pub key_frame: bool,
    pub quantizer: u8,
    pub loop_filter_level: u8,
    /// Macroblocks coded with intra prediction, and all macroblocks.
    pub intra_macroblocks: usize,
    pub macroblocks: usize,
    /// Sum of squared differences between source and reconstruction, per plane (Y, U, V),
    /// over the displayed area.
    pub sse: [u64; 3],
}

/// Encodes `picture` as one frame predicted from `state` (a keyframe when the state has
/// no frame yet, when the size changes with `params.keyframe` set, or when asked).
pub fn encode(
    state: &DecoderState,
    picture: &Picture,
    params: &EncodeParams,
) -> Result<EncodedFrame, EncodeError> {
    frame::encode_frame(state, picture, params)
}
