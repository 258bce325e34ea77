//! flick's VP8 codec core (RFC 6386), written as pure functions over an explicit state.
//!
//! `decode(&DecoderState, frame) -> (DecoderState, picture)` never mutates its input: a
//! task can start mid-stream from a state another task computed, and the same state can be
//! decoded forward twice with the same answer. The crate is `no_std` + `alloc` so the very same
//! code runs natively, in WebAssembly sandboxes and in the browser.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod bool_decoder;
pub mod container;
pub mod decoder;
pub mod encoder;
pub mod error;
pub mod header;
pub mod intra;
pub mod loop_filter;
pub mod metrics;
pub mod modes;
pub mod picture;
pub mod predict_inter;
pub mod quantizer;
pub mod reconstruct;
pub mod state;
pub mod tables;
#[cfg(test)]
mod test_rng;
pub mod tokens;
pub mod transform;

pub use decoder::{FrameContext, decode};
pub use encoder::rebase::{RebaseError, rebase, retoken};
pub use encoder::{EncodeError, EncodeParams, EncodedFrame, encode};
pub use error::DecodeError;
pub use header::{FrameHeader, FrameTag};
pub use picture::{Picture, Plane};
pub use state::{DecoderState, StateError};
