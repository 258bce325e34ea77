//! Resume: with a store that outlives the run (`--store DIR`), an encode killed part-way
//! (SIGKILL, no chance to clean up) and started again with the same command skips every task
//! whose result the store kept, and writes the very bytes of a run that was never stopped.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use std::{fs, thread};

use common::stderr;
use flick_tests::{Source, make_y4m};
use tempfile::TempDir;

/// 24 frames in chunks of 2, batches of 4: 12 chunks, 3 batches, 12 + 2 * 9 = 30 tasks.
const PIPELINE: [&str; 10] = [
    "--chunk-frames",
    "2",
    "--batch",
    "4",
    "--workers",
    "1",
    // Every picture, state and stream by name: the store holds all a resume needs.
    "--inline-limit",
    "0",
    "--retries",
    "0",
];
const TASKS: usize = 30;

fn command(y4m: &Path, out: &Path, extra: &[&str]) -> Command {
    let mut flick = Command::new(env!("CARGO_BIN_EXE_flick"));
    flick
        .arg("encode")
        .arg(y4m)
        .arg("-o")
        .arg(out)
        .args(PIPELINE)
        .args(extra);
    flick
}

fn run(y4m: &Path, out: &Path, extra: &[&str]) -> Output {
    let output = command(y4m, out, extra).output().expect("flick runs");
    assert!(output.status.success(), "{}", stderr(&output));
    output
}

/// Whole files in `dir`: not the staging files (`NAME#N`) that a write renames into place.
fn files_in(dir: &Path) -> usize {
    fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|entry| !entry.file_name().to_string_lossy().contains('#'))
            .count()
    })
}

/// A running flick, killed (SIGKILL) when dropped, so a failed assertion leaves none behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The number before `what` in the summary ("7 tasks run", "5 more resumed").
fn count_before(text: &str, what: &str) -> Option<usize> {
    let at = text.find(what)?;
    text[..at].split_whitespace().last()?.parse().ok()
}

#[test]
fn a_killed_encode_resumes_from_the_store_with_the_same_bytes() {
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 256, 144, 24, &y4m);
    let clean = dir.path().join("clean.ivf");
    let output = run(&y4m, &clean, &[]);
    assert_eq!(count_before(&stderr(&output), " tasks run"), Some(TASKS));

    let store = dir.path().join("store");
    let results = store.join("tasks");
    let out = dir.path().join("out.ivf");
    let store_arg = store.to_str().unwrap();
    let mut first = Running(
        command(&y4m, &out, &["--store", store_arg])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("flick runs"),
    );
    // Kill it once a third of the tasks have kept their results.
    let started = Instant::now();
    while files_in(&results) < TASKS / 3 {
        assert!(
            first.0.try_wait().unwrap().is_none(),
            "the first run ended before it could be killed; make the clip longer"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        thread::sleep(Duration::from_millis(5));
    }
    drop(first); // SIGKILL
    let kept = files_in(&results);
    assert!(
        (TASKS / 3..TASKS).contains(&kept),
        "{kept} results kept at the kill"
    );
    assert!(!out.exists(), "a killed run leaves no output");

    let output = run(&y4m, &out, &["--store", store_arg]);
    let summary = stderr(&output);
    let ran = count_before(&summary, " tasks run").expect("a task count");
    let resumed = count_before(&summary, " more resumed from the store").unwrap_or(0);
    assert!(
        resumed >= kept,
        "{resumed} resumed of {kept} kept: {summary}"
    );
    assert_eq!(ran + resumed, TASKS, "{summary}");
    assert_eq!(
        fs::read(&out).unwrap(),
        fs::read(&clean).unwrap(),
        "the resumed run differs from the clean one"
    );
    assert_eq!(files_in(&results), 0, "the results are cleared at the end");
    // Even what the killed run's task in flight had stored, which no one heard of.
    assert_eq!(files_in(&store.join("blobs")), 0, "blobs left in the store");
}

#[test]
fn a_run_that_is_not_stopped_leaves_its_store_empty() {
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 64, 48, 8, &y4m);
    let store = dir.path().join("store");
    let out = dir.path().join("out.ivf");
    let output = run(&y4m, &out, &["--store", store.to_str().unwrap()]);
    assert!(!stderr(&output).contains("resumed"), "{}", stderr(&output));
    assert_eq!(files_in(&store.join("tasks")), 0);
    assert_eq!(files_in(&store.join("blobs")), 0);
}
