//! flick's task executor: the code every backend runs, from local threads to WebAssembly
//! sandboxes and edge functions.
//!
//! A [`Task`] (encode a chunk, encode a chunk's first frame from another chunk's state,
//! rebase a chunk onto the true state before it) names its inputs by content hash; [`execute`]
//! turns it and its input [`Blobs`] into a [`TaskOutput`] and new blobs, as a pure,
//! deterministic function. The [`wire`] module puts tasks and results into bytes, with small
//! blobs inline and large ones named ([`BlobRef`]) for the worker to fetch from a blob store
//! ([`wire::NamedBlobs`]); [`wire::handle_with`] is the whole worker as bytes in, bytes out.
//!
//! Blob kinds: raw pictures are I420 ([`PictureFormat`]), compressed chunks are chunk
//! streams ([`pack_frames`]), states are [`codec_core::DecoderState::to_bytes`], and a single
//! re-encoded frame is raw VP8 bytes.
#![forbid(unsafe_code)]

pub mod auth;
mod blob;
mod error;
mod execute;
pub mod lambda;
mod picture_io;
#[cfg(feature = "s3")]
pub mod s3;
mod stream;
mod task;
pub mod wire;

#[cfg(test)]
mod tests;

pub use blob::{BlobId, BlobRef, BlobSource, Blobs, ParseBlobIdError};
pub use error::TaskError;
pub use execute::{execute, is_key_frame};
pub use picture_io::{MAX_DIMENSION, PictureFormat, i420_from_picture};
pub use stream::{
    CHUNK_MAGIC, ChunkFrame, LONG_TERM_SOURCE, pack_frames, pack_shown_frames, unpack_frames,
};
pub use task::{
    CHUNK_ALTREF_INTERVAL, CHUNK_KEYFRAME_BOOST, EncodeSettings, Executed, FrameFacts,
    LongTermLink, MAX_ALTREF_INTERVAL, Opening, RateSetting, Task, TaskOutput, WorkStats,
};
