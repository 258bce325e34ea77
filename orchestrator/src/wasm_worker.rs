//! The worker in a WebAssembly sandbox (`--backend wasmtime`): the `worker-wasm` component,
//! compiled once per run by wasmtime and instantiated afresh for every task from a
//! pre-instantiated template, with a memory limit and a deadline.
//!
//! Each task gets its own [`Store`]: nothing a task leaves in linear memory can reach the next
//! one, and a trap (out of memory, out of time, a bug) ends only that sandbox. The component
//! imports WASI (its standard library does) but is given an empty context: no files,
//! environment, arguments or network.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    world: "worker",
    path: "../worker-wasm/wit",
});

/// Where the component is built (`scripts/build-worker-wasm.sh`), relative to the target
/// directory that holds the `flick` binary's profile directory.
const BUILT_COMPONENT: &str = "wasm32-wasip2/release/worker_wasm.wasm";

/// How often the deadline clock ticks.
const TICK: Duration = Duration::from_millis(10);

/// Limits of one task's sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SandboxLimits {
    /// The most linear memory the task may grow to, in bytes.
    pub memory_bytes: usize,
    /// How long the task may run before it is stopped.
    pub deadline: Duration,
}

impl Default for SandboxLimits {
    /// 2 GiB and 10 minutes: a 4K chunk's pictures, states and streams fit with room, and a
    /// task that runs that long is stuck rather than slow.
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 2 << 30,
            deadline: Duration::from_secs(600),
        }
    }
}

/// Why a sandboxed task gave no response.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The task ran past its deadline.
    #[error("the task ran past its {0:?} deadline")]
    Deadline(Duration),
    /// The task trapped: out of memory, or a fault in the worker.
    #[error("the worker trapped: {0}")]
    Trap(String),
    /// The sandbox could not be set up.
    #[error("cannot start the sandbox: {0}")]
    Setup(String),
}

/// What a task's store holds: the (empty) WASI context and the memory limit.
struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The compiled worker, ready to run tasks from any thread.
pub struct WasmWorker {
    engine: Engine,
    template: WorkerPre<Sandbox>,
    limits: SandboxLimits,
    clock: Clock,
}

impl WasmWorker {
    /// Compiles the component at `path` and checks that it is a flick worker speaking this
    /// build's request format.
    ///
    /// # Errors
    ///
    /// A file that cannot be read, is not a component, does not export
    /// `flick:worker/handler`, or speaks another request format.
    pub fn load(path: &Path, limits: SandboxLimits) -> Result<WasmWorker> {
        let bytes = std::fs::read(path).with_context(|| {
            format!(
                "cannot read the worker component {} (build it with scripts/build-worker-wasm.sh, \
                 or name another with --worker-wasm)",
                path.display()
            )
        })?;
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| anyhow!("cannot set up wasmtime: {e:#}"))?;
        let component = Component::new(&engine, &bytes).map_err(|e| {
            anyhow!(
                "{} is not a WebAssembly component wasmtime can compile: {e:#}",
                path.display()
            )
        })?;
        let mut linker = Linker::<Sandbox>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| anyhow!("cannot link WASI: {e:#}"))?;
        let pre = linker.instantiate_pre(&component).map_err(|e| {
            anyhow!(
                "{} is not a flick worker: it needs imports this host does not give ({e:#})",
                path.display()
            )
        })?;
        let template = WorkerPre::new(pre).map_err(|e| {
            anyhow!(
                "{} is not a flick worker: it does not export flick:worker/handler ({e:#})",
                path.display()
            )
        })?;
        let clock =
            Clock::start(engine.clone()).context("cannot start the sandboxes' deadline clock")?;
        let worker = WasmWorker {
            engine,
            template,
            limits,
            clock,
        };
        let magic = worker
            .with_instance(|store, instance| {
                instance
                    .flick_worker_handler()
                    .call_request_magic(store)
                    .map_err(|e| worker.fault(e))
            })
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let ours = String::from_utf8_lossy(edge_worker::wire::REQUEST_MAGIC);
        if magic != ours {
            bail!(
                "{} is a flick worker for requests {magic:?}, but this flick sends {ours:?}: \
                 rebuild it with scripts/build-worker-wasm.sh",
                path.display()
            );
        }
        Ok(worker)
    }

    /// The component `flick` uses when no path is given: `$FLICK_WORKER_WASM`, else the one
    /// `scripts/build-worker-wasm.sh` builds in the target directory the running binary is in.
    pub fn default_path() -> PathBuf {
        if let Some(path) = std::env::var_os("FLICK_WORKER_WASM") {
            return PathBuf::from(path);
        }
        let exe = std::env::current_exe().unwrap_or_default();
        // target/<profile>/flick, or target/<profile>/deps/<test binary>.
        let profile_dir = exe.parent().map(|dir| {
            if dir.ends_with("deps") {
                dir.parent().unwrap_or(dir)
            } else {
                dir
            }
        });
        match profile_dir.and_then(Path::parent) {
            Some(target) => target.join(BUILT_COMPONENT),
            None => PathBuf::from("target").join(BUILT_COMPONENT),
        }
    }

    /// Runs one task request in a fresh sandbox and returns the worker's response bytes.
    ///
    /// # Errors
    ///
    /// [`SandboxError`] when the sandbox gave no response.
    pub fn run(&self, request: &[u8]) -> Result<Vec<u8>, SandboxError> {
        self.with_instance(|store, instance| {
            instance
                .flick_worker_handler()
                .call_handle(store, request)
                .map_err(|e| self.fault(e))
        })
    }

    /// Instantiates the template in a new store with this worker's limits and calls `f`.
    fn with_instance<R>(
        &self,
        f: impl FnOnce(&mut Store<Sandbox>, &Worker) -> Result<R, SandboxError>,
    ) -> Result<R, SandboxError> {
        let sandbox = Sandbox {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, sandbox);
        store.limiter(|sandbox| &mut sandbox.limits);
        store.set_epoch_deadline(self.clock.ticks(self.limits.deadline));
        store.epoch_deadline_trap();
        let instance = self
            .template
            .instantiate(&mut store)
            .map_err(|e| SandboxError::Setup(format!("{e:#}")))?;
        f(&mut store, &instance)
    }

    fn fault(&self, error: wasmtime::Error) -> SandboxError {
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => SandboxError::Deadline(self.limits.deadline),
            _ => SandboxError::Trap(format!("{error:#}")),
        }
    }
}

/// Advances the engine's epoch every [`TICK`] while the worker lives.
struct Clock {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Clock {
    fn start(engine: Engine) -> std::io::Result<Clock> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::Builder::new()
            .name("wasm-deadline".into())
            .spawn(move || {
                let start = Instant::now();
                let mut ticks = 0u32;
                while !flag.load(Ordering::Relaxed) {
                    ticks += 1;
                    // Sleep to the next tick's time, so that ticks do not drift late.
                    if let Some(wait) = (TICK * ticks).checked_sub(start.elapsed()) {
                        thread::sleep(wait);
                    }
                    engine.increment_epoch();
                }
            })?;
        Ok(Clock {
            stop,
            thread: Some(thread),
        })
    }

    /// The epoch ticks in `deadline`, at least one.
    fn ticks(&self, deadline: Duration) -> u64 {
        (deadline.as_millis() / TICK.as_millis()).max(1) as u64
    }
}

impl Drop for Clock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_worker::wire::{InlinePolicy, decode_response, encode_request};
    use edge_worker::{Blobs, EncodeSettings, Opening, PictureFormat, Task, TaskError};

    fn worker(limits: SandboxLimits) -> WasmWorker {
        let path = WasmWorker::default_path();
        WasmWorker::load(&path, limits).unwrap_or_else(|e| {
            panic!("{e:#} (the tests need the component: scripts/build-worker-wasm.sh)")
        })
    }

    /// An encode of `frames` gray-and-gradient pictures of `width` x `height`.
    fn encode_request_of(width: u32, height: u32, frames: usize) -> Vec<u8> {
        let format = PictureFormat { width, height };
        let mut blobs = Blobs::new();
        let (w, h) = (width as usize, height as usize);
        let ids = (0..frames)
            .map(|t| {
                let mut i420 = vec![128u8; w * h * 3 / 2];
                for (i, px) in i420[..w * h].iter_mut().enumerate() {
                    *px = ((i % w + i / w + 3 * t) % 256) as u8;
                }
                blobs.insert(i420)
            })
            .collect();
        let task = Task::EncodeChunk {
            chunk: 0,
            format,
            settings: EncodeSettings::default(),
            opening: Opening::Keyframe,
            frames: ids,
            long_term: Vec::new(),
        };
        encode_request(&task, &blobs, &[], InlinePolicy::EVERYTHING).expect("the request encodes")
    }

    #[test]
    fn the_sandbox_answers_as_the_worker_library_does() {
        let worker = worker(SandboxLimits::default());
        let request = encode_request_of(64, 48, 3);
        let response = worker.run(&request).expect("the sandbox answers");
        assert_eq!(response, edge_worker::wire::handle(&request));
        assert!(decode_response(&response).is_ok());
    }

    #[test]
    fn a_malformed_request_is_an_error_response_and_the_next_task_runs() {
        let worker = worker(SandboxLimits::default());
        let mut garbage = edge_worker::wire::REQUEST_MAGIC.to_vec();
        garbage.extend_from_slice(b" and then garbage");
        let response = worker.run(&garbage).expect("an answer");
        assert!(matches!(
            decode_response(&response),
            Err(TaskError::Wire(_))
        ));
        let request = encode_request_of(32, 32, 1);
        assert!(decode_response(&worker.run(&request).unwrap()).is_ok());
    }

    #[test]
    fn a_task_over_the_memory_limit_traps_without_harming_the_next() {
        let tight = worker(SandboxLimits {
            memory_bytes: 4 << 20,
            deadline: Duration::from_secs(60),
        });
        match tight.run(&encode_request_of(640, 480, 2)) {
            Err(SandboxError::Trap(why)) => assert!(!why.is_empty()),
            other => panic!("expected a trap, got {other:?}"),
        }
        let small = encode_request_of(16, 16, 1);
        assert!(decode_response(&tight.run(&small).unwrap()).is_ok());
    }

    #[test]
    fn a_task_past_its_deadline_is_stopped() {
        let hurried = worker(SandboxLimits {
            memory_bytes: 1 << 30,
            deadline: Duration::from_millis(20),
        });
        let started = Instant::now();
        match hurried.run(&encode_request_of(640, 480, 30)) {
            Err(SandboxError::Deadline(d)) => assert_eq!(d, Duration::from_millis(20)),
            other => panic!("expected the deadline, got {other:?}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "stopped soon after"
        );
    }

    #[test]
    fn a_file_that_is_not_a_component_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let core_module = dir.path().join("core.wasm");
        std::fs::write(&core_module, b"\0asm\x01\0\0\0").unwrap();
        let error = WasmWorker::load(&core_module, SandboxLimits::default())
            .err()
            .expect("a core module is not a worker");
        let message = format!("{error:#}");
        assert!(
            message.contains("core.wasm") && message.contains("not a WebAssembly component"),
            "{message}"
        );
        let missing = dir.path().join("missing.wasm");
        let error = WasmWorker::load(&missing, SandboxLimits::default())
            .err()
            .expect("no file, no worker");
        let message = format!("{error:#}");
        assert!(
            message.contains("missing.wasm") && message.contains("build-worker-wasm.sh"),
            "{message}"
        );
    }
}
