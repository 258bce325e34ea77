//! Backends: what carries a task's request bytes to a worker and the response bytes back
//! (DESIGN.md §3). The scheduler only ever hands a backend the bytes of
//! `edge_worker::wire::encode_request` and reads what comes back with `edge_worker::wire::decode_response`,
//! so a backend that ships bytes elsewhere (a wasm sandbox, an HTTP endpoint, a Lambda
//! function) fits behind the same trait.

use anyhow::Result;
use clap::ValueEnum;

/// Runs worker requests. Called from one scheduler thread per worker, so it must be `Sync`.
pub trait Backend: Sync {
    /// A short name for messages and the summary ("local").
    fn name(&self) -> &'static str;

    /// Runs `request` (the bytes of one task and its input blobs) on worker `worker`
    /// (`0..workers`) and returns the worker's response bytes. A task that failed is still a
    /// response (it carries the error); `Err` is for a request that never got one: the worker
    /// could not be reached, or it died.
    fn run(&self, worker: usize, request: Vec<u8>) -> Result<Vec<u8>>;
}

/// The backends `--backend` can choose.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// Threads of this process, each running the worker library on the request bytes.
    #[default]
    Local,
}

impl BackendKind {
    /// The backend of this kind.
    pub fn open(self) -> Result<Box<dyn Backend>> {
        match self {
            BackendKind::Local => Ok(Box::new(LocalBackend)),
        }
    }
}

/// The worker in-process: `edge_worker::wire::handle` on the caller's thread, bytes in, bytes out,
/// exactly as a remote worker would see them.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalBackend;

impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    fn run(&self, _worker: usize, request: Vec<u8>) -> Result<Vec<u8>> {
        Ok(edge_worker::wire::handle(&request))
    }
}
