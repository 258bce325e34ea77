//! The pipeline's timeline: one record per task attempt (which worker ran it, when, and how
//! many bytes went in and came out), written as JSON and plotted by `flick plot-timeline`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// One task attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineRecord {
    /// The task kind: `encode_chunk`, `encode_given_state` or `rebase`.
    pub kind: String,
    /// The chunk the task belongs to (0-based).
    pub chunk: u32,
    /// The worker that ran it (0-based).
    pub worker: u32,
    /// Start and end, in seconds since the pipeline started.
    pub start_s: f64,
    pub end_s: f64,
    /// Bytes that went to the worker (the request, and the blobs it names, which the worker
    /// fetches from the store) and came back (the response, and the blobs the worker stored).
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// 1 for the first attempt, 2 for the first retry, ...
    #[serde(default = "first_attempt")]
    pub attempt: u32,
    /// Whether the attempt succeeded.
    #[serde(default = "succeeded")]
    pub ok: bool,
    /// Why a failed attempt failed: `transport`, `corrupt`, `timeout` or `task`; or
    /// `superseded` for one aborted because another attempt of its task won.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// The pictures the task codes, and the pixels of each (width times height): what its
    /// cost scales with (`flick simulate`). 0 in timelines written before they were kept.
    #[serde(default)]
    pub frames: u32,
    #[serde(default)]
    pub pixels: u64,
}

fn first_attempt() -> u32 {
    1
}

fn succeeded() -> bool {
    true
}

/// Writes the records as a JSON array.
pub fn write_timeline(path: &Path, records: &[TimelineRecord]) -> Result<()> {
    let json = serde_json::to_vec_pretty(records).context("cannot serialize the timeline")?;
    std::fs::write(path, json)
        .with_context(|| format!("cannot write the timeline to {}", path.display()))
}

/// Reads a timeline written by [`write_timeline`].
pub fn read_timeline(path: &Path) -> Result<Vec<TimelineRecord>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the timeline {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a flick timeline (a JSON array of task records)",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_with_the_documented_keys() {
        let record = TimelineRecord {
            kind: "rebase".into(),
            chunk: 3,
            worker: 1,
            start_s: 0.5,
            end_s: 0.75,
            bytes_in: 100,
            bytes_out: 40,
            attempt: 1,
            ok: true,
            cause: None,
            frames: 6,
            pixels: 1280 * 720,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        write_timeline(&path, std::slice::from_ref(&record)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for key in [
            "kind",
            "chunk",
            "worker",
            "start_s",
            "end_s",
            "bytes_in",
            "bytes_out",
            "frames",
            "pixels",
        ] {
            assert!(
                text.contains(&format!("\"{key}\"")),
                "{key} missing from {text}"
            );
        }
        assert_eq!(read_timeline(&path).unwrap(), vec![record]);
    }

    #[test]
    fn a_file_that_is_not_a_timeline_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, b"{\"not\": \"a list\"}").unwrap();
        let message = format!("{:#}", read_timeline(&path).unwrap_err());
        assert!(message.contains("bad.json"), "{message}");
    }
}
