//! `--inject-faults`: what every backend's fault test runs and checks.

use std::fs;
use std::path::Path;

/// One frame a chunk, so a 14-frame clip makes 40 tasks: at a fault rate of 0.2 some of each
/// kind of fault come (the seed fixes which), and 12 retries make a task failing for good
/// improbable. A hang waits out the 2-second deadline.
pub const PIPELINE: [&str; 6] = ["--chunk-frames", "1", "--batch", "whole", "--workers", "2"];
/// The deadline comes last, for a test that needs another.
pub const FAULTS: [&str; 8] = [
    "--inject-faults",
    "0.2",
    "--fault-seed",
    "5",
    "--retries",
    "12",
    "--task-timeout",
    "2",
];

/// Checks a run with faults against a clean one: the very bytes, every failure in the
/// timeline as a failed attempt with its cause, and the summary's retries counted by cause.
/// An attempt that another attempt of its task beat (a hang launched again as a straggler,
/// say) is recorded as superseded, and is no failure.
pub fn assert_faults_lost_nothing(clean: &Path, faulty: &Path, timeline: &Path, summary: &str) {
    assert_eq!(
        fs::read(clean).unwrap(),
        fs::read(faulty).unwrap(),
        "faults changed the output"
    );
    let records: Vec<serde_json::Value> =
        serde_json::from_slice(&fs::read(timeline).unwrap()).unwrap();
    let superseded = records
        .iter()
        .filter(|r| r["ok"] == false && r["cause"] == "superseded")
        .count();
    if superseded > 0 {
        assert!(summary.contains("launched again"), "{summary}");
    }
    let failed: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["ok"] == false && r["cause"] != "superseded")
        .collect();
    assert!(failed.len() >= 2, "{} failed attempts", failed.len());
    let mut by_cause = std::collections::BTreeMap::new();
    for record in &failed {
        let cause = record["cause"]
            .as_str()
            .expect("a failed attempt names its cause");
        assert!(
            ["transport", "corrupt", "timeout"].contains(&cause),
            "{cause}"
        );
        *by_cause.entry(cause.to_owned()).or_insert(0usize) += 1;
    }
    let counted: Vec<String> = by_cause.iter().map(|(c, n)| format!("{n} {c}")).collect();
    let expected = format!("({} retried: {}", failed.len(), counted.join(", "));
    assert!(summary.contains(&expected), "{expected:?} not in {summary}");
}
