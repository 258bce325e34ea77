//! Backends: what carries a task's request bytes to a worker and the response bytes back
//! (DESIGN.md §3). The scheduler hands a backend the bytes of `edge_worker::wire::encode_request`
//! and reads what comes back with `edge_worker::wire::decode_response`; blobs too large to
//! travel inline are named, and the worker reaches the [`BlobStore`] for them. A backend that
//! ships bytes elsewhere (a wasm sandbox, an HTTP endpoint, a Lambda function) fits behind the
//! same trait: one file each beside this one.
//!
//! Calls are futures, so a backend can have many requests in flight without a thread for
//! each; how many is the scheduler's concurrency limit (`--workers`).

mod faults;
mod http;
#[cfg(feature = "lambda")]
mod lambda;
mod local;
#[cfg(feature = "wasmtime")]
mod wasm;

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use clap::ValueEnum;
use edge_worker::TaskError;
use edge_worker::wire::{Answer, decode_response};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::blob_store::BlobStore;
pub use faults::{FaultPlan, FaultyBackend};
pub use local::LocalBackend;

/// Runs worker requests.
pub trait Backend: Send + Sync {
    /// A short name for messages and the summary ("local").
    fn name(&self) -> &'static str;

    /// Whether the workers fetch named blobs from the run's [`BlobStore`] and keep large
    /// outputs there. A backend whose workers cannot reach it gets every blob inline.
    fn reaches_store(&self) -> bool;

    /// Whether one worker can be slow while the others are not (machines elsewhere, each with
    /// its own load and network), so that an attempt launched again on another worker may
    /// finish first. Threads of this machine are all alike: a second attempt there only
    /// takes a CPU from the other tasks. Decides whether stragglers are launched again when
    /// `--straggler-factor` is not given.
    fn workers_vary(&self) -> bool {
        false
    }

    /// Carries `request` (the bytes of one task, its inline blobs and the names of the others)
    /// to a worker and returns the worker's response bytes. A task that failed is still a
    /// response (it carries the error); `Err` is for a request that never got one: the worker
    /// could not be reached, or it died. The scheduler bounds the time a call may take and
    /// drops the future past it.
    fn call(&self, request: Bytes) -> BoxFuture<'_, Result<Bytes, TransportError>>;
}

/// One of a backend's `threads`, for a computation on this machine (`who` names the backend
/// in messages).
pub(crate) async fn thread(
    threads: &Arc<Semaphore>,
    who: &str,
) -> Result<OwnedSemaphorePermit, TransportError> {
    Arc::clone(threads)
        .acquire_owned()
        .await
        .map_err(|_| TransportError(format!("the {who} worker pool is closed")))
}

/// Runs `work` on tokio's blocking pool. The permit goes with it and comes back only when the
/// computation ends: a call the scheduler gave up on (past its deadline) still holds its
/// thread, so a retry cannot put one more task on the CPUs. A panic is a lost response.
pub(crate) async fn compute<T: Send + 'static>(
    permit: OwnedSemaphorePermit,
    who: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TransportError> {
    tokio::task::spawn_blocking(move || {
        let _thread = permit;
        work()
    })
    .await
    .map_err(|error| match error.try_into_panic() {
        Ok(payload) => TransportError(format!(
            "the {who} worker panicked: {}",
            local::panic_message(payload.as_ref())
        )),
        Err(_) => TransportError(format!("the {who} worker was cancelled")),
    })
}

/// A request that got no response: worth sending again.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// How an attempt of a task went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// No response: the worker could not be reached, died, or answered with bytes that are
    /// not a valid response. Worth another attempt.
    #[error("no response from the worker: {0}")]
    Transport(TransportError),
    /// A response that does not verify: damaged in transit, or a worker that garbled it.
    /// Worth another attempt.
    #[error("a damaged response from the worker: {0}")]
    Corrupt(TaskError),
    /// No response by the task's deadline. Worth another attempt.
    #[error("no response within {:.1} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// The worker answered that the task failed. Deterministic: a pure task fails the same
    /// way every time, so it is not tried again.
    #[error("{0}")]
    Task(TaskError),
}

impl Failure {
    /// Whether another attempt may succeed.
    pub fn is_retried(&self) -> bool {
        !matches!(self, Failure::Task(_))
    }

    /// The cause as the timeline and the summary count it.
    pub fn cause(&self) -> &'static str {
        match self {
            Failure::Transport(_) => "transport",
            Failure::Corrupt(_) => "corrupt",
            Failure::Timeout(_) => "timeout",
            Failure::Task(_) => "task",
        }
    }
}

/// One attempt: `request` through `backend`, given up past `deadline`, and the response
/// read. Returns the answer or how the attempt failed, and the bytes that came back (the
/// response and the blobs the worker stored). A backend that panics has failed to answer.
pub async fn attempt(
    backend: &dyn Backend,
    request: Bytes,
    deadline: Option<Duration>,
) -> (Result<Answer, Failure>, u64) {
    let call = AssertUnwindSafe(async { backend.call(request).await }).catch_unwind();
    let called = match deadline {
        Some(deadline) => tokio::time::timeout(deadline, call)
            .await
            .map_err(|_| Failure::Timeout(deadline)),
        None => Ok(call.await),
    };
    let response = match called {
        Ok(Ok(Ok(response))) => response,
        Ok(Ok(Err(error))) => return (Err(Failure::Transport(error)), 0),
        Ok(Err(panic)) => {
            let message = format!(
                "the backend panicked: {}",
                local::panic_message(panic.as_ref())
            );
            return (Err(Failure::Transport(TransportError(message))), 0);
        }
        Err(timeout) => return (Err(timeout), 0),
    };
    let bytes = response.len() as u64;
    match decode_response(&response) {
        Ok(answer) => {
            let stored: u64 = answer.stored.iter().map(|blob| blob.len).sum();
            (Ok(answer), bytes + stored)
        }
        Err(error @ (TaskError::Wire(_) | TaskError::BlobMismatch { .. })) => {
            (Err(Failure::Corrupt(error)), bytes)
        }
        Err(error) if error.is_transport() => (
            Err(Failure::Transport(TransportError(error.to_string()))),
            bytes,
        ),
        Err(error) => (Err(Failure::Task(error)), bytes),
    }
}

/// What opening a backend may need.
#[derive(Clone, Debug)]
pub struct BackendSetup {
    /// Requests in flight at once (`--workers`); for the local backend, threads.
    pub workers: usize,
    /// Where named blobs are, for workers that reach the store directly.
    pub store: Arc<BlobStore>,
    /// The wasmtime backend's worker component; `None` for the default place
    /// (`crate::wasm_worker::WasmWorker::default_path`).
    #[cfg_attr(not(feature = "wasmtime"), allow(dead_code))]
    pub worker_wasm: Option<PathBuf>,
    /// How long one attempt may take; a sandbox is stopped past it.
    #[cfg_attr(not(feature = "wasmtime"), allow(dead_code))]
    pub task_timeout: Option<Duration>,
    /// The http backend's workers: base URLs, `POST URL/task` each.
    pub endpoints: Vec<String>,
    /// The lambda backend's function (a name or an ARN).
    #[cfg_attr(not(feature = "lambda"), allow(dead_code))]
    pub function: Option<String>,
    /// The Invoke API when it is not AWS's.
    #[cfg_attr(not(feature = "lambda"), allow(dead_code))]
    pub lambda_endpoint: Option<String>,
}

/// The backends `--backend` can choose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// Threads of this process, each running the worker library on the request bytes.
    #[default]
    Local,
    /// The worker compiled to WebAssembly (the worker-wasm component) in this process, a
    /// fresh wasmtime sandbox per task (in a build with the `wasmtime` feature).
    Wasmtime,
    /// Workers reached over HTTP (`--endpoint`): the worker-http component under
    /// `wasmtime serve` or Spin, every request signed with FLICK_WORKER_SECRET.
    Http,
    /// The worker as an AWS Lambda function (`--function`), invoked through the AWS SDK; it
    /// reads and writes large blobs in the run's S3 store (in a build with the `lambda`
    /// feature).
    Lambda,
}

impl BackendKind {
    /// Threads of the runtime's blocking pool that this backend computes on with `workers`
    /// requests in flight: one each for the local worker, none for a backend whose workers
    /// are elsewhere.
    pub fn blocking_threads(self, workers: usize) -> usize {
        match self {
            BackendKind::Local | BackendKind::Wasmtime => workers,
            BackendKind::Http | BackendKind::Lambda => 0,
        }
    }

    /// The backend of this kind.
    ///
    /// # Errors
    ///
    /// When the backend cannot be set up.
    pub async fn open(self, setup: &BackendSetup) -> Result<Arc<dyn Backend>> {
        match self {
            BackendKind::Local => Ok(Arc::new(LocalBackend::new(
                Arc::clone(&setup.store),
                setup.workers,
            ))),
            BackendKind::Wasmtime => open_wasmtime(setup),
            BackendKind::Http => Ok(Arc::new(http::HttpBackend::new(&setup.endpoints)?)),
            BackendKind::Lambda => open_lambda(setup).await,
        }
    }
}

#[cfg(feature = "lambda")]
async fn open_lambda(setup: &BackendSetup) -> Result<Arc<dyn Backend>> {
    let backend = lambda::LambdaBackend::new(
        setup.function.as_deref(),
        setup.lambda_endpoint.as_deref(),
        setup.store.describe(),
    )
    .await?;
    Ok(Arc::new(backend))
}

#[cfg(not(feature = "lambda"))]
async fn open_lambda(_setup: &BackendSetup) -> Result<Arc<dyn Backend>> {
    anyhow::bail!(
        "--backend lambda: this flick was built without it; build it with \
         `cargo build --release -p orchestrator --features lambda`"
    )
}

#[cfg(feature = "wasmtime")]
fn open_wasmtime(setup: &BackendSetup) -> Result<Arc<dyn Backend>> {
    use crate::wasm_worker::{SandboxLimits, WasmWorker};
    let path = setup
        .worker_wasm
        .clone()
        .unwrap_or_else(WasmWorker::default_path);
    let mut limits = SandboxLimits::default();
    if let Some(timeout) = setup.task_timeout {
        // The sandbox stops computing when the scheduler stops waiting.
        limits.deadline = timeout;
    }
    let worker = WasmWorker::load(&path, limits)?;
    Ok(Arc::new(wasm::WasmtimeBackend::new(worker, setup.workers)))
}

#[cfg(not(feature = "wasmtime"))]
fn open_wasmtime(_setup: &BackendSetup) -> Result<Arc<dyn Backend>> {
    anyhow::bail!(
        "--backend wasmtime: this flick was built without it; build it with \
         `cargo build --release -p orchestrator --features wasmtime`"
    )
}
