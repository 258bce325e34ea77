//! Backends: what carries a task's request bytes to a worker and the response bytes back
//! (DESIGN.md §3). The scheduler only ever hands a backend the bytes of
//! `edge_worker::wire::encode_request` and reads what comes back with `edge_worker::wire::decode_response`,
//! so a backend that ships bytes elsewhere (a wasm sandbox, an HTTP endpoint, a Lambda
//! function) fits behind the same trait.

use std::path::Path;

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
    /// The worker compiled to WebAssembly (the worker-wasm component), run in this process by
    /// wasmtime in a fresh sandbox per task (a build with the `wasmtime` feature).
    Wasmtime,
}

impl BackendKind {
    /// The backend of this kind; `worker_wasm` names the wasmtime backend's component (by
    /// default [`crate::wasm_worker::WasmWorker::default_path`]).
    pub fn open(self, worker_wasm: Option<&Path>) -> Result<Box<dyn Backend>> {
        match self {
            BackendKind::Local => Ok(Box::new(LocalBackend)),
            BackendKind::Wasmtime => open_wasmtime(worker_wasm),
        }
    }
}

#[cfg(feature = "wasmtime")]
fn open_wasmtime(worker_wasm: Option<&Path>) -> Result<Box<dyn Backend>> {
    use crate::wasm_worker::{SandboxLimits, WasmWorker};
    let path = worker_wasm.map_or_else(WasmWorker::default_path, Path::to_path_buf);
    let worker = WasmWorker::load(&path, SandboxLimits::default())?;
    Ok(Box::new(WasmtimeBackend { worker }))
}

#[cfg(not(feature = "wasmtime"))]
fn open_wasmtime(_worker_wasm: Option<&Path>) -> Result<Box<dyn Backend>> {
    anyhow::bail!(
        "--backend wasmtime: this flick was built without it; build with \
         `cargo build --release -p orchestrator --features wasmtime`"
    )
}

/// The worker component in wasmtime: every request in a sandbox of its own.
#[cfg(feature = "wasmtime")]
pub struct WasmtimeBackend {
    worker: crate::wasm_worker::WasmWorker,
}

#[cfg(feature = "wasmtime")]
impl Backend for WasmtimeBackend {
    fn name(&self) -> &'static str {
        "wasmtime"
    }

    fn run(&self, _worker: usize, request: Vec<u8>) -> Result<Vec<u8>> {
        Ok(self.worker.run(&request)?)
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
