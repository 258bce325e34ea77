//! `--inject-faults` on the local backend: a fifth of the attempts fail (the worker errors,
//! answers damaged bytes, hangs past the deadline, or its answer is lost), and the output is
//! the very bytes of a clean run, with every failure in the timeline. The other backends'
//! tests do the same through their own servers.

mod common;

use common::faults::{FAULTS, PIPELINE, assert_faults_lost_nothing};
use common::{flick, stderr};
use flick_tests::{Source, make_y4m};
use tempfile::TempDir;

#[test]
fn faults_on_the_local_backend_lose_nothing() {
    let dir = TempDir::new().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 96, 64, 14, &y4m);
    let clean = dir.path().join("clean.ivf");
    let faulty = dir.path().join("faulty.ivf");
    let timeline = dir.path().join("timeline.json");
    let run = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["encode", y4m.to_str().unwrap(), "-o", out.to_str().unwrap()];
        args.extend(PIPELINE);
        args.extend(extra);
        let output = flick(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        stderr(&output)
    };
    run(&clean, &[]);
    let mut extra = FAULTS.to_vec();
    extra.extend(["--timeline", timeline.to_str().unwrap()]);
    let summary = run(&faulty, &extra);
    assert_faults_lost_nothing(&clean, &faulty, &timeline, &summary);
}

#[test]
fn a_fault_rate_out_of_range_is_refused() {
    for rate in ["1", "-0.1", "often"] {
        let rate = format!("--inject-faults={rate}");
        let output = flick([
            "encode",
            "in.y4m",
            "-o",
            "out.ivf",
            "--chunk-frames",
            "2",
            &rate,
        ]);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{text}");
        assert!(
            text.contains("invalid value") && text.contains("--inject-faults"),
            "{text}"
        );
        assert!(!text.contains("panicked"), "{text}");
    }
}
