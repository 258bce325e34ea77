//! flick's worker as a WebAssembly component: [`edge_worker::wire::handle`] behind the
//! `flick:worker/handler` interface of `wit/worker.wit`, built for `wasm32-wasip2` by
//! `scripts/build-worker-wasm.sh` and run by `flick encode --backend wasmtime`, one sandbox
//! per task.
//!
//! The component only computes: it reads no files, clocks or environment, so the host gives
//! it an empty WASI context. Natively the crate is empty (the component's export names are
//! not symbols a native linker takes); the orchestrator's wasmtime tests exercise it.

#[cfg(target_family = "wasm")]
mod component {
    wit_bindgen::generate!({
        world: "worker",
        path: "wit",
    });

    use exports::flick::worker::handler::Guest;

    struct Worker;

    impl Guest for Worker {
        fn request_magic() -> String {
            String::from_utf8_lossy(edge_worker::wire::REQUEST_MAGIC).into_owned()
        }

        fn handle(request: Vec<u8>) -> Vec<u8> {
            edge_worker::wire::handle(&request)
        }
    }

    export!(Worker);
}
