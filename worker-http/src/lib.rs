//! flick's worker as a WASI-HTTP component: `POST /task` with a signed request body
//! (`edge_worker::wire`, signed as [`edge_worker::auth`] says) runs the task and answers with
//! its response bytes. It keeps to the `wasi:http/proxy` world (and the CLI environment for
//! its secret), so one build runs under `wasmtime serve -Scli` and under Spin
//! (`deploy/spin/spin.toml`).
//!
//! [`reply`] is the whole decision, a pure function over what the request says, so that the
//! refusals are tested natively; the `wasm` shell only moves bytes between it and wasi:http.
//! Every refusal is a status with a one-line reason, never a trap: an instance that
//! answered 401, 413 or 400 serves the next request as well.

use edge_worker::Blobs;
use edge_worker::auth::{self, AuthError};
use edge_worker::wire::{InlinePolicy, decode_request};

/// The largest request body taken, in bytes: a 6-frame 1080p chunk (18 MB of pictures) with
/// room for a 4K one (75 MB).
pub const MAX_REQUEST_BYTES: usize = 96 << 20;

/// What the worker answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    pub(crate) fn text(status: u16, line: impl Into<String>) -> Reply {
        let mut body = line.into().into_bytes();
        body.push(b'\n');
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }
}

/// A request's body, as far as it was read.
pub enum Body<'a> {
    /// The whole body.
    Complete(&'a [u8]),
    /// The body was longer than [`MAX_REQUEST_BYTES`] (by its length header, or as read).
    TooLarge,
}

/// What the request says, and the worker's secret and clock.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub body: Body<'a>,
    /// The worker's secret (`FLICK_WORKER_SECRET`), `None` when unset.
    pub secret: Option<&'a [u8]>,
    /// The worker's clock, seconds since the Unix epoch.
    pub now: u64,
}

/// The worker's answer to one request.
pub fn reply(request: &Incoming<'_>) -> Reply {
    match (request.method, request.path) {
        ("GET", "/health") => return Reply::text(200, "flick worker"),
        (_, "/health") => return Reply::text(405, "/health takes GET"),
        ("POST", "/task") => {}
        (_, "/task") => return Reply::text(405, "/task takes POST"),
        (_, path) => return Reply::text(404, format!("no {path} here: POST tasks to /task")),
    }
    let secret = match request.secret {
        None => {
            return Reply::text(
                500,
                format!("worker misconfigured: {} is not set", auth::SECRET_ENV),
            );
        }
        Some(secret) if secret.len() < auth::MIN_SECRET_LEN => {
            let weak = AuthError::WeakSecret(secret.len());
            return Reply::text(500, format!("worker misconfigured: {weak}"));
        }
        Some(secret) => secret,
    };
    let body = match request.body {
        Body::Complete(body) => body,
        Body::TooLarge => {
            return Reply::text(
                413,
                format!("request body over the worker's {MAX_REQUEST_BYTES}-byte limit"),
            );
        }
    };
    if let Err(refused) = auth::verify(
        secret,
        request.timestamp,
        request.signature,
        body,
        request.now,
    ) {
        return Reply::text(401, refused.to_string());
    }
    let mut request = match decode_request(body) {
        Ok(request) => request,
        Err(e) => return Reply::text(400, format!("malformed request: {e}")),
    };
    if let Some(blob) = request.named().first() {
        return Reply::text(
            400,
            format!(
                "the request names blob {} for the worker to fetch, but this worker has no \
                 blob store: send every blob inline",
                blob.id
            ),
        );
    }
    // Everything travels back in the response: there is no store to keep outputs in.
    request.reply = InlinePolicy::EVERYTHING;
    Reply {
        status: 200,
        content_type: "application/octet-stream",
        body: request.answer(&Blobs::new()).response,
    }
}

#[cfg(target_family = "wasm")]
mod wasm;

#[cfg(test)]
mod tests;
