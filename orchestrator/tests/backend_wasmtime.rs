//! `flick encode --backend wasmtime`: the pipeline's tasks in WebAssembly sandboxes give the
//! very bytes of the local backend, and a missing or foreign worker component is one clean
//! error. Needs the component (scripts/build-worker-wasm.sh; scripts/test.sh builds it).
#![cfg(feature = "wasmtime")]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{assert_clean_error, built_component, flick, flick_ok};
use flick_tests::{Source, make_y4m};
use tempfile::TempDir;

/// The component a flick built in this checkout finds by default.
fn component() -> PathBuf {
    if let Some(path) = std::env::var_os("FLICK_WORKER_WASM") {
        return PathBuf::from(path);
    }
    built_component("worker_wasm")
}

fn encode(y4m: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "encode".into(),
        y4m.display().to_string(),
        "-o".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    flick_ok(&args)
}

#[test]
fn wasmtime_gives_the_bytes_of_local() {
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 96, 64, 14, &y4m);
    let wasm = component();
    for batch in ["2", "whole"] {
        let local = dir.path().join(format!("local-{batch}.ivf"));
        let sandboxed = dir.path().join(format!("wasmtime-{batch}.ivf"));
        let pipeline = ["--chunk-frames", "3", "--batch", batch, "--workers", "2"];
        encode(&y4m, &local, &pipeline);
        let mut extra = pipeline.to_vec();
        let wasm_arg = wasm.display().to_string();
        extra.extend(["--backend", "wasmtime", "--worker-wasm", &wasm_arg]);
        encode(&y4m, &sandboxed, &extra);
        assert_eq!(
            fs::read(&local).unwrap(),
            fs::read(&sandboxed).unwrap(),
            "--batch {batch}: wasmtime and local streams differ"
        );
    }
}

#[test]
fn faults_on_the_wasmtime_backend_lose_nothing() {
    use common::faults::{FAULTS, PIPELINE, assert_faults_lost_nothing};
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 96, 64, 14, &y4m);
    let (clean, faulty) = (dir.path().join("clean.ivf"), dir.path().join("faulty.ivf"));
    let timeline = dir.path().join("timeline.json");
    encode(&y4m, &clean, &PIPELINE);
    let wasm = component().display().to_string();
    let mut extra = PIPELINE.to_vec();
    extra.extend(FAULTS);
    extra.extend(["--backend", "wasmtime", "--worker-wasm", &wasm]);
    extra.extend(["--timeline", timeline.to_str().unwrap()]);
    let mut args = vec![
        "encode",
        y4m.to_str().unwrap(),
        "-o",
        faulty.to_str().unwrap(),
    ];
    args.extend(extra);
    let output = common::flick(&args);
    assert!(output.status.success(), "{}", common::stderr(&output));
    let summary = common::stderr(&output);
    assert_faults_lost_nothing(&clean, &faulty, &timeline, &summary);
}

#[test]
fn a_missing_or_foreign_component_is_one_clean_error() {
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 32, 32, 2, &y4m);
    let out = dir.path().join("out.ivf");
    let foreign = dir.path().join("foreign.wasm");
    fs::write(&foreign, b"\0asm\x01\0\0\0").unwrap();
    let missing = dir.path().join("nowhere.wasm");
    for (wasm, needles) in [
        (&missing, ["nowhere.wasm", "build-worker-wasm.sh"]),
        (&foreign, ["foreign.wasm", "not a WebAssembly component"]),
    ] {
        let output = flick([
            "encode".as_ref(),
            y4m.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "--chunk-frames".as_ref(),
            "2".as_ref(),
            "--backend".as_ref(),
            "wasmtime".as_ref(),
            "--worker-wasm".as_ref(),
            wasm.as_os_str(),
        ]);
        assert_clean_error(&output, &needles);
        assert!(!out.exists(), "no stream is left behind");
    }
}
