//! Decoder errors. Every variant names what was wrong and where in the frame.

use alloc::string::String;
use core::fmt;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame ended before a structure it declares (what, bytes needed, bytes present).
    Truncated {
        what: &'static str,
        needed: usize,
        available: usize,
    },
    /// A token partition whose macroblocks read far past its end.
    TruncatedPartition {
        partition: usize,
        needed: usize,
        available: usize,
    },
    /// A keyframe without the start code 9d 01 2a (RFC 6386 §9.1).
    BadStartCode([u8; 3]),
    /// A keyframe that declares a zero width or height.
    ZeroSize { width: u16, height: u16 },
    /// A header field with a value the format does not allow.
    InvalidField { field: &'static str, value: u32 },
    /// An interframe arrived while the state holds no keyframe.
    NoKeyframe,
    /// A feature this decoder refuses, with the reason.
    Unsupported(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "truncated {what}: needs {needed} bytes, only {available} present"
            ),
            DecodeError::TruncatedPartition {
                partition,
                needed,
                available,
            } => write!(
                f,
                "truncated token partition {partition}: its macroblocks need about {needed} bytes, only {available} present"
            ),
            DecodeError::BadStartCode(code) => write!(
                f,
                "keyframe start code is {:02x} {:02x} {:02x}, expected 9d 01 2a",
                code[0], code[1], code[2]
            ),
            DecodeError::ZeroSize { width, height } => {
                write!(f, "keyframe declares an empty picture {width}x{height}")
            }
            DecodeError::InvalidField { field, value } => {
                write!(f, "invalid value {value} for {field}")
            }
            DecodeError::NoKeyframe => {
                write!(f, "interframe without a preceding keyframe in the state")
            }
            DecodeError::Unsupported(why) => write!(f, "unsupported: {why}"),
        }
    }
}

impl core::error::Error for DecodeError {}
