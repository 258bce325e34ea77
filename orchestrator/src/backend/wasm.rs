//! `--backend wasmtime`: every task in a WebAssembly sandbox of its own
//! ([`crate::wasm_worker::WasmWorker`]), on tokio's blocking pool, at most `threads` at once.
//! The sandbox has no store access, so requests carry every blob inline.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::Semaphore;

use super::{Backend, TransportError, compute, thread};
use crate::wasm_worker::WasmWorker;

pub struct WasmtimeBackend {
    worker: Arc<WasmWorker>,
    /// As the local backend's: a permit stays with its sandbox until the computation ends.
    threads: Arc<Semaphore>,
}

impl WasmtimeBackend {
    pub fn new(worker: WasmWorker, threads: usize) -> WasmtimeBackend {
        WasmtimeBackend {
            worker: Arc::new(worker),
            threads: Arc::new(Semaphore::new(threads.max(1))),
        }
    }

    async fn serve(&self, request: Bytes) -> Result<Bytes, TransportError> {
        let permit = thread(&self.threads, "wasmtime").await?;
        let worker = Arc::clone(&self.worker);
        let ran = compute(permit, "wasmtime", move || worker.run(&request)).await?;
        // A trap or a deadline leaves no response: the scheduler tries the task again.
        ran.map(Bytes::from)
            .map_err(|error| TransportError(error.to_string()))
    }
}

impl Backend for WasmtimeBackend {
    fn name(&self) -> &'static str {
        "wasmtime"
    }

    fn reaches_store(&self) -> bool {
        false
    }

    fn call(&self, request: Bytes) -> BoxFuture<'_, Result<Bytes, TransportError>> {
        Box::pin(self.serve(request))
    }
}
