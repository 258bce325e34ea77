//! The closing lines of a parallel encode: the stream as the serial encoder describes it, then
//! what the pipeline did and where its time went.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use codec_core::metrics;
use edge_worker::FrameFacts;

use super::graph::{Layout, Step};
use super::pool::PoolPeak;
use crate::blob_store::StoreStats;
use crate::timeline::TimelineRecord;

/// Per-frame quality of the decoded stream against the source, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quality {
    frames: usize,
    psnr_sum: f64,
    ssim_sum: f64,
}

impl Quality {
    /// Adds one shown frame's PSNR (the three planes together) and SSIM.
    pub fn add(&mut self, psnr: f64, ssim: f64) {
        self.frames += 1;
        self.psnr_sum += psnr;
        self.ssim_sum += ssim;
    }

    fn average_psnr(&self) -> f64 {
        self.psnr_sum / self.frames.max(1) as f64
    }

    fn average_ssim(&self) -> f64 {
        self.ssim_sum / self.frames.max(1) as f64
    }
}

/// Rebased frames held against the frames they were made from: a chunk's anchor frame as the
/// given-state task coded it and its other frames as its own encode did, each beside what
/// rebase made of it on the state the final stream really decodes it from. Keyframes a
/// rebase keeps are left out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RebaseQuality {
    pub frames: usize,
    /// Sum over the frames of rebased PSNR minus original PSNR.
    psnr_delta_sum: f64,
    /// The largest loss: its PSNR change, chunk and frame within the chunk.
    pub worst: (f64, usize, usize),
    pub original_bytes: u64,
    pub rebased_bytes: u64,
}

impl RebaseQuality {
    /// From the frames every task put out; `samples` per picture (luma and chroma), to
    /// turn distortion into PSNR. `None` when nothing was rebased.
    pub fn measure(coded: &BTreeMap<Step, Vec<FrameFacts>>, samples: u64) -> Option<Self> {
        let mut quality: Option<RebaseQuality> = None;
        for (step, rebased) in coded {
            let Step::Rebase(chunk) = *step else { continue };
            let (Some(given), Some(own)) = (
                coded.get(&Step::GivenState(chunk)),
                coded.get(&Step::Encode(chunk)),
            ) else {
                continue;
            };
            let originals = given.iter().take(1).chain(own.iter().skip(1));
            for (frame, (original, rebased)) in originals.zip(rebased).enumerate() {
                if rebased.kept {
                    continue;
                }
                let delta =
                    metrics::psnr(rebased.sse, samples) - metrics::psnr(original.sse, samples);
                let q = quality.get_or_insert(RebaseQuality {
                    frames: 0,
                    psnr_delta_sum: 0.0,
                    worst: (f64::INFINITY, chunk, frame),
                    original_bytes: 0,
                    rebased_bytes: 0,
                });
                q.frames += 1;
                q.psnr_delta_sum += delta;
                if delta < q.worst.0 {
                    q.worst = (delta, chunk, frame);
                }
                q.original_bytes += u64::from(original.bytes);
                q.rebased_bytes += u64::from(rebased.bytes);
            }
        }
        quality
    }

    pub fn mean_psnr_delta(&self) -> f64 {
        self.psnr_delta_sum / self.frames.max(1) as f64
    }

    /// Rebased bytes against original bytes, in percent.
    pub fn bytes_change(&self) -> f64 {
        100.0 * (self.rebased_bytes as f64 / self.original_bytes.max(1) as f64 - 1.0)
    }

    fn text(&self) -> String {
        let (worst, chunk, frame) = self.worst;
        format!(
            "rebased {} frames: PSNR {:+.3} dB on average against the frames they were made \
             from (worst {worst:+.3} dB, frame {frame} of chunk {chunk}), bytes {:+.2}%",
            self.frames,
            self.mean_psnr_delta(),
            self.bytes_change()
        )
    }
}

/// Everything the summary reports.
pub struct Summary<'a> {
    pub output: &'a Path,
    pub layout: Layout,
    pub workers: usize,
    pub backend: &'static str,
    pub frame_rate: (u32, u32),
    pub file_bytes: u64,
    /// Bytes of frame data, without the IVF headers.
    pub payload: u64,
    pub quality: Quality,
    /// Keyframes beyond the batches' own: scene cuts.
    pub scene_cuts: usize,
    /// Chunks whose first frame is a scene cut, where a serial walk starts anew.
    pub scene_cut_chunks: BTreeSet<usize>,
    pub rebase_quality: Option<RebaseQuality>,
    pub records: &'a [TimelineRecord],
    pub tasks_run: usize,
    pub retried: usize,
    /// Retries by cause.
    pub retried_by: &'a BTreeMap<&'static str, usize>,
    /// Tasks whose result an earlier run had kept in the store.
    pub resumed: usize,
    /// Stragglers launched again.
    pub relaunched: usize,
    /// The blob store ("memory" or its directory), what it held at most, and the most blobs
    /// held at one time, in the store or (small ones) in memory.
    pub store: &'a str,
    pub stored: StoreStats,
    pub held: PoolPeak,
    /// From the first task's start to the last task's end.
    pub pipeline_time: Duration,
    /// From opening the input to the output's rename.
    pub total_time: Duration,
    /// The most memory flick held at once (resident), where the system tells.
    pub peak_memory: Option<u64>,
}

/// The most resident memory this process has held, where the system tells (Linux's
/// `VmHWM`).
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

impl Summary<'_> {
    /// Writes the summary to standard error.
    pub fn report(&self) {
        let _ = writeln!(io::stderr(), "{}", self.text());
    }

    /// Two lines, the stream, then the pipeline; and a third on rebase's quality when
    /// anything was rebased.
    fn text(&self) -> String {
        let layout = &self.layout;
        let frames = layout.frames;
        let seconds = frames as f64 * f64::from(self.frame_rate.1) / f64::from(self.frame_rate.0);
        let kbps = self.payload as f64 * 8.0 / 1000.0 / seconds.max(1e-9);
        let total = self.total_time.as_secs_f64();
        let batches = layout.batches();
        let keyframes = batches + self.scene_cuts;
        let cuts = match self.scene_cuts {
            0 => String::new(),
            1 => ", 1 at a scene cut".to_owned(),
            n => format!(", {n} at scene cuts"),
        };
        let stream = format!(
            "{}: encoded {frames} frames ({keyframes} keyframe{}{cuts}), {} bytes, {kbps:.1} kb/s \
             at {}/{} fps, average PSNR {:.2} dB, SSIM {:.4}, in {total:.2} s ({:.1} frames/s)",
            self.output.display(),
            if keyframes == 1 { "" } else { "s" },
            self.file_bytes,
            self.frame_rate.0,
            self.frame_rate.1,
            self.quality.average_psnr(),
            self.quality.average_ssim(),
            frames as f64 / total.max(1e-9),
        );

        let busy = task_seconds(self.records);
        let all_tasks: f64 = busy.values().sum();
        let per_kind = ["encode_chunk", "encode_given_state", "rebase"]
            .iter()
            .map(|kind| format!("{kind} {:.2} s", busy.get(kind).copied().unwrap_or(0.0)))
            .collect::<Vec<_>>()
            .join(", ");
        let rebase = busy.get("rebase").copied().unwrap_or(0.0);
        let walk = longest_rebase_walk(self.records, layout, &self.scene_cut_chunks);
        let wall = self.pipeline_time.as_secs_f64();
        let by_cause = if self.retried_by.is_empty() {
            String::new()
        } else {
            let causes: Vec<String> = self
                .retried_by
                .iter()
                .map(|(cause, n)| format!("{n} {cause}"))
                .collect();
            format!(": {}", causes.join(", "))
        };
        let resumed = match self.resumed {
            0 => String::new(),
            n => format!(", {n} more resumed from the store"),
        };
        let relaunched = match self.relaunched {
            0 => String::new(),
            1 => ", 1 straggler launched again".to_owned(),
            n => format!(", {n} stragglers launched again"),
        };
        let peak = self.peak_memory.map_or_else(String::new, |bytes| {
            format!("; peak memory {:.1} MB", bytes as f64 / 1e6)
        });
        let pipeline = format!(
            "{}: ExCamera[{}, {}]: {} chunks in {batches} batch{}, {} {} worker{}, {} tasks run \
             ({} retried{by_cause}{resumed}{relaunched}) in {wall:.2} s; task time {per_kind}; rebase is {:.1}% of task time, \
             its longest serial walk {walk:.2} s ({:.1}% of the pipeline's wall time); \
             blobs held at most {} at once ({:.1} MB), {} of them ({:.1} MB) in store {}{peak}",
            self.output.display(),
            layout.chunk_frames,
            layout.batch_chunks,
            layout.chunks(),
            if batches == 1 { "" } else { "es" },
            self.workers,
            self.backend,
            if self.workers == 1 { "" } else { "s" },
            self.tasks_run,
            self.retried,
            100.0 * rebase / all_tasks.max(1e-9),
            100.0 * walk / wall.max(1e-9),
            self.held.blobs,
            self.held.bytes as f64 / 1e6,
            self.stored.peak_blobs,
            self.stored.peak_bytes as f64 / 1e6,
            self.store,
        );
        match &self.rebase_quality {
            Some(quality) => format!(
                "{stream}\n{pipeline}\n{}: {}",
                self.output.display(),
                quality.text()
            ),
            None => format!("{stream}\n{pipeline}"),
        }
    }
}

/// Seconds spent per task kind, every attempt counted.
fn task_seconds(records: &[TimelineRecord]) -> BTreeMap<&str, f64> {
    let mut busy = BTreeMap::new();
    for record in records {
        *busy.entry(record.kind.as_str()).or_insert(0.0) += record.end_s - record.start_s;
    }
    busy
}

/// The longest time one serial walk spent rebasing: the successful rebases along a batch,
/// from its start or from a scene cut (`cuts`, whose rebase waits for no other) to the next,
/// which cannot overlap, so this is a lower bound on the pipeline's wall time.
fn longest_rebase_walk(records: &[TimelineRecord], layout: &Layout, cuts: &BTreeSet<usize>) -> f64 {
    let mut walks: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    for record in records.iter().filter(|r| r.ok && r.kind == "rebase") {
        let chunk = record.chunk as usize;
        let batch = layout.batch_of(chunk);
        let start = cuts
            .range(..=chunk)
            .next_back()
            .copied()
            .filter(|&cut| layout.batch_of(cut) == batch)
            .unwrap_or(0);
        *walks.entry((batch, start)).or_insert(0.0) += record.end_s - record.start_s;
    }
    walks.into_values().fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::super::graph::Batch;
    use super::*;

    fn record(kind: &str, chunk: u32, start_s: f64, end_s: f64, ok: bool) -> TimelineRecord {
        TimelineRecord {
            kind: kind.into(),
            chunk,
            worker: 0,
            start_s,
            end_s,
            bytes_in: 1,
            bytes_out: 1,
            attempt: 1,
            ok,
            cause: (!ok).then(|| "transport".to_owned()),
            frames: 1,
            pixels: 64,
        }
    }

    #[test]
    fn a_scene_cut_starts_a_serial_walk_of_its_own() {
        let layout = Layout::new(24, 3, Batch::Whole);
        let records = [
            record("rebase", 1, 0.0, 1.0, true),
            record("rebase", 2, 1.0, 2.0, true),
            record("rebase", 3, 0.5, 1.0, true),
            record("rebase", 4, 2.0, 2.5, false),
        ];
        assert_eq!(
            longest_rebase_walk(&records, &layout, &BTreeSet::new()),
            2.5
        );
        let cuts = BTreeSet::from([3]);
        assert_eq!(longest_rebase_walk(&records, &layout, &cuts), 2.0);
    }

    #[test]
    fn rebased_frames_are_held_against_the_frames_they_were_made_from() {
        let facts = |bytes: u32, sse: u64| FrameFacts {
            bytes,
            sse,
            kept: false,
        };
        let kept = FrameFacts {
            bytes: 500,
            sse: 0,
            kept: true,
        };
        // 100 samples a picture: an SSE of 65025 is 0 dB, a tenth of it 10 dB.
        let coded = BTreeMap::from([
            (Step::Encode(0), vec![facts(900, 1); 2]),
            // Chunk 1's own keyframe is replaced by G1's anchor.
            (Step::Encode(1), vec![facts(800, 1), facts(100, 65025)]),
            (Step::GivenState(1), vec![facts(200, 6502)]),
            (Step::Rebase(1), vec![facts(190, 6502), facts(130, 6502)]),
            // Chunk 2 starts at a scene cut: its keyframe is kept, not rebased.
            (Step::Encode(2), vec![facts(800, 1), facts(100, 6502)]),
            (Step::GivenState(2), vec![facts(500, 0)]),
            (Step::Rebase(2), vec![kept, facts(100, 65025)]),
        ]);
        let quality = RebaseQuality::measure(&coded, 100).unwrap();
        assert_eq!(quality.frames, 3);
        assert_eq!((quality.original_bytes, quality.rebased_bytes), (400, 420));
        assert!((quality.bytes_change() - 5.0).abs() < 1e-9);
        assert!(
            (quality.mean_psnr_delta() - 0.0).abs() < 1e-3,
            "{quality:?}"
        );
        let (worst, chunk, frame) = quality.worst;
        assert!(
            (worst + 10.0).abs() < 1e-3 && (chunk, frame) == (2, 1),
            "{quality:?}"
        );
        assert!(
            quality.text().contains("rebased 3 frames"),
            "{}",
            quality.text()
        );
        assert_eq!(RebaseQuality::measure(&BTreeMap::new(), 100), None);
    }

    #[test]
    fn summary_names_the_output_rate_quality_and_pipeline() {
        let layout = Layout::new(20, 3, Batch::Chunks(2));
        let records = [
            record("encode_chunk", 0, 0.0, 2.0, true),
            record("encode_given_state", 1, 2.0, 2.5, true),
            record("rebase", 1, 2.5, 3.0, false),
            record("rebase", 1, 3.0, 3.5, true),
            record("rebase", 3, 3.0, 3.25, true),
        ];
        let mut quality = Quality::default();
        quality.add(40.0, 0.98);
        quality.add(30.0, 0.96);
        let summary = Summary {
            output: Path::new("out.ivf"),
            layout,
            workers: 2,
            backend: "local",
            frame_rate: (20, 1),
            file_bytes: 1100,
            payload: 1000,
            quality,
            scene_cuts: 1,
            scene_cut_chunks: BTreeSet::new(),
            rebase_quality: None,
            records: &records,
            tasks_run: 4,
            retried: 1,
            retried_by: &BTreeMap::from([("timeout", 1)]),
            resumed: 0,
            relaunched: 2,
            store: "memory",
            stored: StoreStats {
                blobs: 0,
                bytes: 0,
                peak_blobs: 10,
                peak_bytes: 3_400_000,
            },
            held: PoolPeak {
                blobs: 12,
                bytes: 3_456_000,
            },
            pipeline_time: Duration::from_secs(4),
            total_time: Duration::from_secs(5),
            peak_memory: Some(81_500_000),
        };
        let text = summary.text();
        for needle in [
            "out.ivf: encoded 20 frames (5 keyframes, 1 at a scene cut), 1100 bytes, 8.0 kb/s at 20/1",
            "average PSNR 35.00 dB, SSIM 0.9700, in 5.00 s (4.0 frames/s)",
            "ExCamera[3, 2]: 7 chunks in 4 batches, 2 local workers, 4 tasks run (1 retried: 1 timeout, 2 stragglers launched again)",
            "encode_chunk 2.00 s, encode_given_state 0.50 s, rebase 1.25 s",
            "rebase is 33.3% of task time",
            "longest serial walk 0.50 s (12.5% of",
            "blobs held at most 12 at once (3.5 MB), 10 of them (3.4 MB) in store memory; peak memory 81.5 MB",
        ] {
            assert!(text.contains(needle), "{needle:?} not in {text}");
        }
    }
}
