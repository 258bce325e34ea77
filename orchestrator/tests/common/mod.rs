//! Running the built `flick` binary as a user would, and what its output must look like.
#![allow(dead_code)] // Each test file uses its own subset.

pub mod faults;
pub mod moto;
pub mod serve;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn flick<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_flick"))
        .args(args)
        .output()
        .expect("the flick binary runs")
}

pub fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs flick and expects success; returns its standard output lines.
pub fn flick_ok<I, S>(args: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let output = flick(&args);
    assert!(
        output.status.success(),
        "flick {args:?} failed ({}): {}",
        output.status,
        stderr(&output)
    );
    stdout_lines(&output)
}

/// A failure as flick must report it: non-zero exit, no panic, and exactly one line on
/// stderr, `flick: error: ...`, that contains every one of `needles`.
pub fn assert_clean_error(output: &Output, needles: &[&str]) {
    let err = stderr(output);
    assert!(!err.contains("panicked"), "flick panicked: {err}");
    assert!(
        !output.status.success(),
        "flick succeeded, expected an error"
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "exit status {}: {err}",
        output.status
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got: {err}");
    assert!(
        lines[0].starts_with("flick: error: "),
        "not an error line: {err}"
    );
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "error line lacks {needle:?}: {err}"
        );
    }
}

/// Either success, or a clean error (the last stderr line; warnings may precede it).
pub fn assert_ok_or_clean_error(output: &Output) {
    let err = stderr(output);
    assert!(!err.contains("panicked"), "flick panicked: {err}");
    if !output.status.success() {
        assert_eq!(
            output.status.code(),
            Some(1),
            "exit status {}: {err}",
            output.status
        );
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("flick: error: "),
            "not an error line: {err}"
        );
    }
}

/// `before`, then `path`, then `after`, as one argument list.
pub fn with_path(
    before: &[&str],
    path: &std::path::Path,
    after: &[&str],
) -> Vec<std::ffi::OsString> {
    before
        .iter()
        .map(|a| a.into())
        .chain([path.as_os_str().to_owned()])
        .chain(after.iter().map(|a| a.into()))
        .collect()
}

/// A worker component built by scripts/build-worker-wasm.sh (`worker_wasm` or `worker_http`)
/// in the target directory of the flick binary under test.
pub fn built_component(name: &str) -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_flick"));
    let target = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/flick");
    let path = target.join(format!("wasm32-wasip2/release/{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-worker-wasm.sh",
        path.display()
    );
    path
}
