//! Why a task failed. Errors are values that travel back from a remote worker, so they carry
//! text rather than the codec's error types.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::blob::BlobId;

/// Why a task could not be run, or its request or response could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskError {
    /// An input blob the task names is not available.
    MissingBlob {
        /// Which input, e.g. `frames[3]`.
        input: String,
        id: BlobId,
    },
    /// An input blob is present but is not what the input must be.
    MalformedBlob {
        /// Which input, e.g. `original`, or the kind of blob when not known.
        input: String,
        reason: String,
    },
    /// Blob bytes received over the wire do not hash to the id they were sent under.
    BlobMismatch { claimed: BlobId, actual: BlobId },
    /// Settings or task fields out of range, or inputs that do not fit together.
    BadTask(String),
    /// The encoder refused a frame; `frame` counts from the chunk's first frame.
    Encode {
        chunk: u32,
        frame: u32,
        reason: String,
    },
    /// Rebase refused a frame; `frame` counts from the chunk's first frame.
    Rebase {
        chunk: u32,
        frame: u32,
        reason: String,
    },
    /// A frame of a chunk stream did not parse; `frame` counts from the chunk's first frame.
    Decode {
        chunk: u32,
        frame: u32,
        reason: String,
    },
    /// A request or response is not valid wire format.
    Wire(String),
    /// The blob store could not be reached, or gave back the wrong bytes.
    Store(String),
}

impl TaskError {
    /// Whether the failure may be the transport's fault (corrupted or truncated bytes, a blob
    /// store that could not be reached), so that sending the same task again can succeed. Every other error is a property of the
    /// task and its inputs: a pure task fails the same way every time.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            TaskError::Wire(_) | TaskError::BlobMismatch { .. } | TaskError::Store(_)
        )
    }

    /// The same error, naming `input` (and its id) as the blob that was malformed.
    pub(crate) fn in_input(self, input: &str, id: &BlobId) -> TaskError {
        match self {
            TaskError::MalformedBlob { reason, .. } => TaskError::MalformedBlob {
                input: format!("{input} ({})", id.short()),
                reason,
            },
            other => other,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::MissingBlob { input, id } => {
                write!(f, "input {input}: blob {id} is not available")
            }
            TaskError::MalformedBlob { input, reason } => {
                write!(f, "input {input} is malformed: {reason}")
            }
            TaskError::BlobMismatch { claimed, actual } => write!(
                f,
                "blob sent as {claimed} has content hashing to {actual} (corrupted in transit?)"
            ),
            TaskError::BadTask(why) => write!(f, "bad task: {why}"),
            TaskError::Encode {
                chunk,
                frame,
                reason,
            } => write!(f, "chunk {chunk}, frame {frame}: encode failed: {reason}"),
            TaskError::Rebase {
                chunk,
                frame,
                reason,
            } => write!(f, "chunk {chunk}, frame {frame}: rebase failed: {reason}"),
            TaskError::Decode {
                chunk,
                frame,
                reason,
            } => write!(f, "chunk {chunk}, frame {frame}: does not parse: {reason}"),
            TaskError::Wire(why) => write!(f, "wire format: {why}"),
            TaskError::Store(why) => write!(f, "blob store: {why}"),
        }
    }
}

impl std::error::Error for TaskError {}
