//! The bytes every backend moves: a request (task plus input blobs) in, a response (output
//! plus output blobs, or the error) out. [`handle`] and [`handle_with`] are the whole worker
//! as a function from request bytes to response bytes, so a backend only has to carry bytes.
//!
//! Both messages are an 8-byte magic that names the message and its version, then bincode 2
//! (standard configuration) of the fields below, then the SHA-256 of everything before it, so
//! that a message damaged anywhere in transit (not only in a blob) is caught:
//!
//! ```text
//! request:  { task: Task, inline: [(BlobId, bytes)], named: [BlobRef], reply: InlinePolicy }
//! response: Result<{ output: TaskOutput, inline: [(BlobId, bytes)], stored: [BlobRef],
//!                    work: WorkStats }, TaskError>
//! ```
//!
//! A blob travels *inline* (its bytes inside the message) or *by name* (a [`BlobRef`]: the
//! worker fetches it from the blob store, or has put it there). The sender's [`InlinePolicy`]
//! decides which, and a request carries the policy its response must follow, so a function
//! platform's payload limit holds both ways. Receivers check every blob against its id, so
//! corruption in transit is caught (and reported as a transport error, see
//! [`TaskError::is_transport`]) rather than computed on.
//!
//! A worker that can reach a blob store implements [`NamedBlobs`] and calls [`handle_with`];
//! a host that fetches asynchronously uses the steps it is made of: [`decode_request`], fetch
//! what [`Request::named`] lists (checking each with [`check_fetched`]), [`Request::answer`],
//! keep what it hands back, then send its response.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::blob::{BlobId, BlobRef, BlobSource, Blobs};
use crate::error::TaskError;
use crate::execute::execute;
use crate::task::{Executed, Task, TaskOutput, WorkStats};

/// First bytes of a request, version 7 (blobs inline or by name, a checksum at the end;
/// settings with an altref interval and whether long-term chains hold golden and altref; an
/// anchor-opened chunk names its batch's keyframe picture and the keyframe's quality level
/// where it has one of its own; a chunk encode names its batch's long-term chain).
pub const REQUEST_MAGIC: &[u8; 8] = b"FLKREQ07";
/// First bytes of a response, version 7.
pub const RESPONSE_MAGIC: &[u8; 8] = b"FLKRES07";
/// Bytes of the checksum that ends every message: the SHA-256 of the bytes before it.
const CHECKSUM_LEN: usize = 32;
/// The largest message either side decodes, and the most any length field in one may claim;
/// also the largest blob a worker fetches by name.
pub const MAX_MESSAGE_LEN: usize = 1 << 30;

/// Which blobs travel inside a message: each at most `max_blob` bytes, and all of them
/// together at most `max_total`; the others go by name through the blob store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlinePolicy {
    pub max_blob: u64,
    pub max_total: u64,
}

impl InlinePolicy {
    /// 256 KiB a blob, 4 MiB a message. Below 256 KiB a store round trip (a PUT by one side,
    /// a GET by the other, tens of milliseconds on object storage) costs more than carrying
    /// the bytes; above it the bytes dominate, and a stored blob is uploaded once however
    /// many tasks read it (a picture is read by its chunk's encode, re-encode and rebase, a
    /// state by the next chunk's re-encode and rebase). That sends compressed chunk streams
    /// and frame contexts inline, and raw pictures (1.4 MB at 720p) and decoder states (they
    /// hold reference pictures) by name. 4 MiB a message keeps a request and its response,
    /// base64-encoded as function platforms carry them (x4/3), under AWS Lambda's 6 MB.
    pub const DEFAULT: InlinePolicy = InlinePolicy {
        max_blob: 256 << 10,
        max_total: 4 << 20,
    };

    /// Everything inline, for a worker or a test with no blob store.
    pub const EVERYTHING: InlinePolicy = InlinePolicy {
        max_blob: u64::MAX,
        max_total: u64::MAX,
    };

    /// The policy that sends blobs of at most `max_blob` bytes inline, within the default
    /// message budget (or `max_blob` itself, if larger).
    pub fn up_to(max_blob: u64) -> InlinePolicy {
        InlinePolicy {
            max_blob,
            max_total: InlinePolicy::DEFAULT.max_total.max(max_blob),
        }
    }

    /// For blobs of these lengths, in order, whether each travels inline: the ones that fit,
    /// first come first served.
    pub fn split(&self, lens: impl IntoIterator<Item = u64>) -> Vec<bool> {
        let mut total = 0u64;
        lens.into_iter()
            .map(|len| {
                let fits = len <= self.max_blob && total.saturating_add(len) <= self.max_total;
                if fits {
                    total += len;
                }
                fits
            })
            .collect()
    }
}

impl Default for InlinePolicy {
    fn default() -> Self {
        InlinePolicy::DEFAULT
    }
}

/// Where a worker fetches the blobs a request names, and keeps the output blobs too large to
/// travel back inline: the blob store, reached however the worker's platform reaches it.
pub trait NamedBlobs {
    /// The bytes of `blob`; [`TaskError::MissingBlob`] when the store does not hold it,
    /// [`TaskError::Store`] when the store could not be reached.
    fn fetch(&mut self, blob: &BlobRef) -> Result<Vec<u8>, TaskError>;

    /// Puts `bytes` into the store under `id` (their hash); [`TaskError::Store`] on failure.
    fn keep(&mut self, id: &BlobId, bytes: &[u8]) -> Result<(), TaskError>;
}

/// A request as a worker reads it: the task, the blobs that came inline (checked against
/// their ids), the ones it must fetch, and how to answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub task: Task,
    pub inline: Blobs,
    pub named: Vec<BlobRef>,
    pub reply: InlinePolicy,
}

/// What a worker answered: the executed task with the output blobs that came back inline
/// (in `executed.blobs`), and those the worker put into the store instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub executed: Executed,
    pub stored: Vec<BlobRef>,
}

/// A worker's answer, or why the task failed.
pub type Response = Result<Answer, TaskError>;

/// A response ready to send, and the output blobs to keep in the store before it is sent.
#[derive(Debug)]
pub struct Reply {
    pub response: Vec<u8>,
    pub keep: Vec<(BlobId, Vec<u8>)>,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_MESSAGE_LEN>()
}

type WireBlobs<'a> = Vec<(BlobId, &'a Bytes)>;

#[derive(Serialize)]
struct RequestOut<'a> {
    task: &'a Task,
    inline: WireBlobs<'a>,
    named: &'a [BlobRef],
    reply: InlinePolicy,
}

#[derive(Deserialize)]
struct RequestIn<'a> {
    task: Task,
    #[serde(borrow)]
    inline: WireBlobs<'a>,
    named: Vec<BlobRef>,
    reply: InlinePolicy,
}

#[derive(Serialize)]
struct AnswerOut<'a> {
    output: &'a TaskOutput,
    inline: WireBlobs<'a>,
    stored: &'a [BlobRef],
    work: &'a WorkStats,
}

#[derive(Deserialize)]
struct AnswerIn<'a> {
    output: TaskOutput,
    #[serde(borrow)]
    inline: WireBlobs<'a>,
    stored: Vec<BlobRef>,
    work: WorkStats,
}

/// Encodes `task`: the inputs listed in `named` travel by name, every other input inline,
/// taken from `inline`; the response is to follow `reply`.
///
/// # Errors
///
/// [`TaskError::MissingBlob`] when an input is neither named nor in `inline`,
/// [`TaskError::Wire`] when the message would be larger than [`MAX_MESSAGE_LEN`].
pub fn encode_request(
    task: &Task,
    inline: &impl BlobSource,
    named: &[BlobRef],
    reply: InlinePolicy,
) -> Result<Vec<u8>, TaskError> {
    let by_name: HashSet<BlobId> = named.iter().map(|blob| blob.id).collect();
    let mut carried = Vec::new();
    for id in task.inputs().into_iter().filter(|id| !by_name.contains(id)) {
        let bytes = inline.blob(&id).ok_or_else(|| TaskError::MissingBlob {
            input: format!("request for {} task of chunk {}", task.kind(), task.chunk()),
            id,
        })?;
        carried.push((id, Bytes::new(bytes)));
    }
    let message = RequestOut {
        task,
        inline: carried,
        named,
        reply,
    };
    encode_message(REQUEST_MAGIC, &message)
}

/// Decodes a request, checks that each inline blob hashes to its id and that every input of
/// the task came inline or by name.
///
/// # Errors
///
/// [`TaskError::Wire`] for bytes that are not a request (or a named blob larger than
/// [`MAX_MESSAGE_LEN`]), [`TaskError::BlobMismatch`] for a blob whose content does not match
/// its id, [`TaskError::MissingBlob`] for an input that came neither way.
pub fn decode_request(request: &[u8]) -> Result<Request, TaskError> {
    let message: RequestIn = decode_message(REQUEST_MAGIC, "request", request)?;
    let inline = verified(message.inline)?;
    if let Some(blob) = message
        .named
        .iter()
        .find(|blob| blob.len > MAX_MESSAGE_LEN as u64)
    {
        return Err(TaskError::Wire(format!(
            "request names blob {} of {} bytes, over the {MAX_MESSAGE_LEN}-byte limit",
            blob.id, blob.len
        )));
    }
    let request = Request {
        task: message.task,
        inline,
        named: message.named,
        reply: message.reply,
    };
    if let Some(id) = request
        .task
        .inputs()
        .into_iter()
        .find(|id| !request.inline.contains(id) && !request.named.iter().any(|b| b.id == *id))
    {
        return Err(TaskError::MissingBlob {
            input: format!(
                "request for {} task of chunk {} (neither inline nor named)",
                request.task.kind(),
                request.task.chunk()
            ),
            id,
        });
    }
    Ok(request)
}

impl Request {
    /// The blobs to fetch before [`Request::answer`].
    pub fn named(&self) -> &[BlobRef] {
        &self.named
    }

    /// Runs the task on the inline blobs and `fetched` (the named ones, each checked with
    /// [`check_fetched`]), and answers: the outputs that `reply` lets travel inline go into
    /// the response, the others into [`Reply::keep`].
    pub fn answer(&self, fetched: &impl BlobSource) -> Reply {
        let blobs = Either {
            first: &self.inline,
            second: fetched,
        };
        match execute(&self.task, &blobs) {
            Ok(executed) => split_answer(executed, self.reply),
            Err(error) => Reply {
                response: encode_response(&Err(error)),
                keep: Vec::new(),
            },
        }
    }
}

/// The name of `task`'s result, for a store that keeps results so that a run stopped part-way
/// can resume: the SHA-256 of the wire version, this crate's version and the task, which names
/// its inputs by their hashes and holds every setting. Tasks are pure, so equal keys mean
/// equal results; a flick of another version does not take this one's results.
pub fn task_key(task: &Task) -> BlobId {
    let mut bytes = REQUEST_MAGIC.to_vec();
    bytes.extend_from_slice(concat!("edge-worker ", env!("CARGO_PKG_VERSION"), "\n").as_bytes());
    // A task is a few hundred bytes of ids and settings: it always encodes.
    bincode::serde::encode_into_std_write(task, &mut bytes, config()).expect("a task encodes");
    BlobId::of(&bytes)
}

/// Checks a blob fetched by name: its length and its hash must be what the request says.
///
/// # Errors
///
/// [`TaskError::Store`] for the wrong length, [`TaskError::BlobMismatch`] for the wrong
/// content; both are transport errors, worth a retry.
pub fn check_fetched(blob: &BlobRef, bytes: &[u8]) -> Result<(), TaskError> {
    if bytes.len() as u64 != blob.len {
        return Err(TaskError::Store(format!(
            "blob {} holds {} bytes, not the {} the request names",
            blob.id,
            bytes.len(),
            blob.len
        )));
    }
    let actual = BlobId::of(bytes);
    if actual != blob.id {
        return Err(TaskError::BlobMismatch {
            claimed: blob.id,
            actual,
        });
    }
    Ok(())
}

/// Two blob sources, looked up in order.
struct Either<'a, A, B> {
    first: &'a A,
    second: &'a B,
}

impl<A: BlobSource, B: BlobSource> BlobSource for Either<'_, A, B> {
    fn blob(&self, id: &BlobId) -> Option<&[u8]> {
        self.first.blob(id).or_else(|| self.second.blob(id))
    }
}

/// The response to an executed task under `policy`, and the output blobs it names but does
/// not carry.
fn split_answer(executed: Executed, policy: InlinePolicy) -> Reply {
    let Executed {
        output,
        blobs,
        work,
    } = executed;
    let lens: Vec<u64> = blobs.iter().map(|(_, b)| b.len() as u64).collect();
    let mut inline = Blobs::new();
    let mut stored = Vec::new();
    let mut keep = Vec::new();
    for ((id, bytes), fits) in blobs.into_iter().zip(policy.split(lens)) {
        if fits {
            inline.insert_shared(bytes);
        } else {
            stored.push(BlobRef {
                id,
                len: bytes.len() as u64,
            });
            keep.push((id, std::sync::Arc::unwrap_or_clone(bytes)));
        }
    }
    let answer = Answer {
        executed: Executed {
            output,
            blobs: inline,
            work,
        },
        stored,
    };
    Reply {
        response: encode_response(&Ok(answer)),
        keep,
    }
}

/// Encodes a worker's answer. Never fails: an answer that cannot be encoded becomes an
/// encoded [`TaskError::Wire`] saying why.
pub fn encode_response(response: &Response) -> Vec<u8> {
    let message: Result<AnswerOut, &TaskError> = match response {
        Ok(answer) => Ok(AnswerOut {
            output: &answer.executed.output,
            inline: answer
                .executed
                .blobs
                .iter()
                .map(|(id, bytes)| (*id, Bytes::new(bytes)))
                .collect(),
            stored: &answer.stored,
            work: &answer.executed.work,
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

/// Decodes a worker's answer, checking each inline blob against its id and that every blob
/// the output names came inline or was stored.
///
/// # Errors
///
/// The worker's own [`TaskError`], or [`TaskError::Wire`] / [`TaskError::BlobMismatch`]
/// when the bytes are not a valid response.
pub fn decode_response(response: &[u8]) -> Response {
    let message: Result<AnswerIn, TaskError> =
        decode_message(RESPONSE_MAGIC, "response", response)?;
    let answer = message?;
    let blobs = verified(answer.inline)?;
    if let Some(missing) = answer
        .output
        .blobs()
        .into_iter()
        .find(|id| !blobs.contains(id) && !answer.stored.iter().any(|b| b.id == *id))
    {
        return Err(TaskError::Wire(format!(
            "response names output blob {missing} but neither carries nor stored it"
        )));
    }
    Ok(Answer {
        executed: Executed {
            output: answer.output,
            blobs,
            work: answer.work,
        },
        stored: answer.stored,
    })
}

/// The whole worker with no blob store: request bytes in, response bytes out, every output
/// inline whatever the request's policy. Malformed requests, requests that name blobs, and
/// failed tasks become error responses; this never panics on bad input.
pub fn handle(request: &[u8]) -> Vec<u8> {
    serve(request, &mut NoStore, Some(InlinePolicy::EVERYTHING))
}

/// The whole worker, fetching named inputs from and keeping large outputs in `store`. A store
/// that fails turns into an error response ([`TaskError::Store`], a transport error).
pub fn handle_with(request: &[u8], store: &mut impl NamedBlobs) -> Vec<u8> {
    serve(request, store, None)
}

/// A request answered through `store`, under `reply` when given instead of the request's.
fn serve(request: &[u8], store: &mut impl NamedBlobs, reply: Option<InlinePolicy>) -> Vec<u8> {
    let answered = decode_request(request).and_then(|mut request| {
        let mut fetched = Blobs::new();
        for blob in &request.named {
            let bytes = store.fetch(blob)?;
            check_fetched(blob, &bytes)?;
            fetched.insert(bytes);
        }
        request.reply = reply.unwrap_or(request.reply);
        let reply = request.answer(&fetched);
        for (id, bytes) in &reply.keep {
            store.keep(id, bytes)?;
        }
        Ok(reply.response)
    });
    answered.unwrap_or_else(|error| encode_response(&Err(error)))
}

/// The store of a worker that has none.
struct NoStore;

impl NamedBlobs for NoStore {
    fn fetch(&mut self, blob: &BlobRef) -> Result<Vec<u8>, TaskError> {
        Err(TaskError::MissingBlob {
            input: "a named blob (this worker has no blob store)".into(),
            id: blob.id,
        })
    }

    fn keep(&mut self, _id: &BlobId, _bytes: &[u8]) -> Result<(), TaskError> {
        Err(TaskError::Store("this worker has no blob store".into()))
    }
}

fn encode_message(magic: &[u8; 8], message: &impl Serialize) -> Result<Vec<u8>, TaskError> {
    let mut out = magic.to_vec();
    bincode::serde::encode_into_std_write(message, &mut out, config())
        .map_err(|e| TaskError::Wire(format!("cannot encode: {e}")))?;
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
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
    let Some(at) = body.len().checked_sub(CHECKSUM_LEN) else {
        return Err(TaskError::Wire(format!(
            "{what} of {} bytes is too short to hold its checksum",
            bytes.len()
        )));
    };
    let (body, checksum) = body.split_at(at);
    if Sha256::digest(&bytes[..magic.len() + at]).as_slice() != checksum {
        return Err(TaskError::Wire(format!(
            "{what} of {} bytes fails its checksum: damaged in transit",
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
