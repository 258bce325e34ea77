//! The bytes every backend moves: a request (task plus input blobs) in, a response (output
//! plus output blobs, or the error) out. [`handle`] is the whole worker as a function from
//! request bytes to response bytes, so a backend only has to carry bytes.
//!
//! Both messages are an 8-byte magic that names the message and its version, then bincode 2
//! (standard configuration) of:
//!
//! ```text
//! request:  { task: Task, blobs: [(BlobId, bytes)] }
//! response: Result<{ output: TaskOutput, blobs: [(BlobId, bytes)], work: WorkStats }, TaskError>
//! ```
//!
//! Receivers check every blob against its id, so corruption in transit is caught (and
//! reported as a transport error, see [`TaskError::is_transport`]) rather than computed on.

use serde::{Deserialize, Serialize};
use serde_bytes::Bytes;

use crate::blob::{BlobId, BlobSource, Blobs};
use crate::error::TaskError;
use crate::execute::execute;
use crate::task::{Executed, Task, TaskOutput, WorkStats};

/// First bytes of a request, version 1.
pub const REQUEST_MAGIC: &[u8; 8] = b"FLKREQ01";
/// First bytes of a response, version 1.
pub const RESPONSE_MAGIC: &[u8; 8] = b"FLKRES01";
/// The largest message either side decodes, and the most any length field in one may claim.
pub const MAX_MESSAGE_LEN: usize = 1 << 30;

/// What a worker answers: the executed task, or why it failed.
pub type Response = Result<Executed, TaskError>;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE_LEN>()
}

type WireBlobs<'a> = Vec<(BlobId, &'a Bytes)>;

#[derive(Serialize)]
struct RequestOut<'a> {
    task: &'a Task,
    blobs: WireBlobs<'a>,
}

#[derive(Deserialize)]
struct RequestIn<'a> {
    task: Task,
    #[serde(borrow)]
    blobs: WireBlobs<'a>,
}

#[derive(Serialize)]
struct ExecutedOut<'a> {
    output: &'a TaskOutput,
    blobs: WireBlobs<'a>,
    work: &'a WorkStats,
}

#[derive(Deserialize)]
struct ExecutedIn<'a> {
    output: TaskOutput,
    #[serde(borrow)]
    blobs: WireBlobs<'a>,
    work: WorkStats,
}

/// Encodes `task` with exactly the blobs it reads (`task.inputs()`), taken from `blobs`.
///
/// # Errors
///
/// [`TaskError::MissingBlob`] when `blobs` lacks an input, [`TaskError::Wire`] when the
/// message would be larger than [`MAX_MESSAGE_LEN`].
pub fn encode_request(task: &Task, blobs: &impl BlobSource) -> Result<Vec<u8>, TaskError> {
    let inputs = task.inputs();
    let mut carried = Vec::with_capacity(inputs.len());
    for id in inputs {
        let bytes = blobs.blob(&id).ok_or_else(|| TaskError::MissingBlob {
            input: format!("request for {} task of chunk {}", task.kind(), task.chunk()),
            id,
        })?;
        carried.push((id, Bytes::new(bytes)));
    }
    let message = RequestOut {
        task,
        blobs: carried,
    };
    encode_message(REQUEST_MAGIC, &message)
}

/// Decodes a request and checks that each blob hashes to its id.
///
/// # Errors
///
/// [`TaskError::Wire`] for bytes that are not a request, [`TaskError::BlobMismatch`] for a
/// blob whose content does not match its id.
pub fn decode_request(request: &[u8]) -> Result<(Task, Blobs), TaskError> {
    let message: RequestIn = decode_message(REQUEST_MAGIC, "request", request)?;
    Ok((message.task, verified(message.blobs)?))
}

/// Encodes a worker's answer. Never fails: an answer that cannot be encoded becomes an
/// encoded [`TaskError::Wire`] saying why.
pub fn encode_response(response: &Response) -> Vec<u8> {
    let message: Result<ExecutedOut, &TaskError> = match response {
        Ok(executed) => Ok(ExecutedOut {
            output: &executed.output,
            blobs: executed
                .blobs
                .iter()
                .map(|(id, bytes)| (*id, Bytes::new(bytes)))
                .collect(),
            work: &executed.work,
        }),
        Err(e) => Err(e),
    };
    encode_message(RESPONSE_MAGIC, &message).unwrap_or_else(|e| {
        let fallback: Result<(), TaskError> = Err(e);
        // An error with a short message always encodes; an empty answer would still be
        // reported as a wire error by `decode_response`.
        encode_message(RESPONSE_MAGIC, &fallback).unwrap_or_default()
    })
}

/// Decodes a worker's answer, checking each blob against its id and that every blob the
/// output names came with it.
///
/// # Errors
///
/// The worker's own [`TaskError`], or [`TaskError::Wire`] / [`TaskError::BlobMismatch`]
/// when the bytes are not a valid response.
pub fn decode_response(response: &[u8]) -> Response {
    let message: Result<ExecutedIn, TaskError> =
        decode_message(RESPONSE_MAGIC, "response", response)?;
    let executed = message?;
    let blobs = verified(executed.blobs)?;
    if let Some(missing) = executed
        .output
        .blobs()
        .into_iter()
        .find(|id| !blobs.contains(id))
    {
        return Err(TaskError::Wire(format!(
            "response names output blob {missing} but does not carry it"
        )));
    }
    Ok(Executed {
        output: executed.output,
        blobs,
        work: executed.work,
    })
}

/// The whole worker: request bytes in, response bytes out. Malformed requests and failed
/// tasks become error responses; this never panics on bad input.
pub fn handle(request: &[u8]) -> Vec<u8> {
    let response = decode_request(request).and_then(|(task, blobs)| execute(&task, &blobs));
    encode_response(&response)
}

fn encode_message(magic: &[u8; 8], message: &impl Serialize) -> Result<Vec<u8>, TaskError> {
    let mut out = magic.to_vec();
    bincode::serde::encode_into_std_write(message, &mut out, config())
        .map_err(|e| TaskError::Wire(format!("cannot encode: {e}")))?;
    if out.len() > MAX_MESSAGE_LEN {
        return Err(TaskError::Wire(format!(
            "message of {} bytes is over the {MAX_MESSAGE_LEN}-byte limit",
            out.len()
        )));
    }
    Ok(out)
}

/// Decodes a message, borrowing its blob bytes: a corrupt length can then only fail to fit
/// the input, never make the decoder allocate.
fn decode_message<'a, T: Deserialize<'a>>(
    magic: &[u8; 8],
    what: &str,
    bytes: &'a [u8],
) -> Result<T, TaskError> {
    let Some(body) = bytes.strip_prefix(magic.as_slice()) else {
        return Err(TaskError::Wire(format!(
            "not a flick {what}: it does not start with {:?}",
            String::from_utf8_lossy(magic)
        )));
    };
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(TaskError::Wire(format!(
            "{what} of {} bytes is over the {MAX_MESSAGE_LEN}-byte limit",
            bytes.len()
        )));
    }
    let (message, used) = bincode::serde::borrow_decode_from_slice(body, config())
        .map_err(|e| TaskError::Wire(format!("malformed {what}: {e}")))?;
    if used != body.len() {
        return Err(TaskError::Wire(format!(
            "{} unexpected bytes after the {what}",
            body.len() - used
        )));
    }
    Ok(message)
}

fn verified(blobs: WireBlobs) -> Result<Blobs, TaskError> {
    let mut out = Blobs::new();
    for (claimed, bytes) in blobs {
        let actual = BlobId::of(bytes);
        if actual != claimed {
            return Err(TaskError::BlobMismatch { claimed, actual });
        }
        out.insert_hashed(actual, bytes.to_vec());
    }
    Ok(out)
}
