//! `flick simulate`: what a job would take on many more workers than this machine has.
//!
//! The task costs come from a timeline that a real run wrote (`flick encode --timeline`):
//! for each kind of task, the seconds of its successful attempts per pixel of every picture
//! it coded, and the bytes it moved per such pixel. The job to predict (by default the one
//! measured) is cut into the graph of ExCamera[N, x] that the pipeline runs (DESIGN.md §2),
//! and that graph is replayed, event by event, on W workers with the scheduler's own
//! priorities: rebases first, then given-state encodes, then chunk encodes, each in chunk
//! order. Each attempt costs its compute, the platform's latency per invocation, the time
//! its bytes take at the given bandwidth, and, the first time a worker runs anything, a
//! cold start; at most `--concurrency-limit` run at once, whatever W is. With `--cores`, the
//! workers share that many CPUs with the orchestrator's own work (`--host-load`), as a local
//! run on one machine does, and each running attempt goes at its share (all of its time is
//! taken for work on the CPUs then: a local run has no latency or cold start to add).
//!
//! What it leaves out: reading the input (every chunk's pictures are there at the start),
//! retries, stragglers and scene cuts (each batch is one serial walk of rebases).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use plotters::prelude::*;

use crate::atomic_write::write_atomically;
use crate::pipeline::graph::{Batch, Layout, Step, parse_batch};
use crate::plot::{FONT_FAMILY, drawing_error, encode_png, load_font};
use crate::timeline::{TimelineRecord, read_timeline};

/// AWS Lambda's list prices for arm64 functions in us-east-1: per GB-second of memory held
/// while running, and per request.
const LAMBDA_GB_S_USD: f64 = 0.000_013_333_4;
const LAMBDA_REQUEST_USD: f64 = 0.000_000_2;
/// The function's memory in deploy/lambda/template.yaml.
const LAMBDA_MEMORY_MB: f64 = 1769.0;
/// An on-demand arm64 vCPU-hour (EC2 c7g, us-east-1), for a fleet of W one-vCPU workers
/// held for the whole wall time.
const VM_VCPU_HOUR_USD: f64 = 0.036_25;

#[derive(Args, Debug)]
#[command(
    after_help = "Prints what the timeline measured, the job it predicts, then one line per \
                  worker count: `workers W wall_s S worker_s T lambda_usd L vm_usd V`, where \
                  worker_s is the time billed on all workers together (compute, latency, \
                  transfer, cold starts), lambda_usd what AWS Lambda would bill for it \
                  (arm64, the function's memory, per request), and vm_usd a fleet of W \
                  one-vCPU machines held for the wall time.\n\n\
                  Task costs are measured with whatever the measured backend spent moving \
                  bytes; a timeline from the local backend measures compute alone, to which \
                  --bandwidth, --invoke-latency and --cold-start then add a platform's costs.\n\n\
                  Reading the input, retries, stragglers and scene cuts are left out."
)]
pub struct SimulateArgs {
    /// A timeline written by `flick encode --timeline`: where the task costs come from.
    pub timeline: PathBuf,

    /// The worker counts to predict, comma-separated.
    #[arg(long, value_name = "W,...", value_delimiter = ',', default_value = "1,10,100,1000,10000",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub workers: Vec<u64>,

    /// The job's frames; by default the measured job's.
    #[arg(long, value_name = "F", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub frames: Option<u64>,

    /// The job's picture width and height; by default the measured job's.
    #[arg(long, value_name = "PX", requires = "height",
          value_parser = clap::value_parser!(u32).range(1..=16383))]
    pub width: Option<u32>,
    #[arg(long, value_name = "PX", requires = "width",
          value_parser = clap::value_parser!(u32).range(1..=16383))]
    pub height: Option<u32>,

    /// Frames per chunk (N of ExCamera[N, x]); by default the measured job's.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub chunk_frames: Option<u64>,

    /// Chunks per batch, or `whole` (x of ExCamera[N, x]); by default the measured job's.
    #[arg(long, value_name = "X", value_parser = parse_batch)]
    pub batch: Option<Batch>,

    /// Seconds a worker takes to start, paid by each worker before its first task.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0, value_parser = parse_non_negative)]
    pub cold_start: f64,

    /// Seconds each invocation adds, on top of its work.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0, value_parser = parse_non_negative)]
    pub invoke_latency: f64,

    /// Megabytes a second each worker moves its bytes in and out at; by default moving
    /// bytes costs nothing beyond what the measured run spent.
    #[arg(long, value_name = "MB/S", value_parser = parse_positive)]
    pub bandwidth: Option<f64>,

    /// At most this many tasks run at once, whatever the worker count (a platform's
    /// concurrency quota).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrency_limit: Option<u64>,

    /// The workers share this many CPUs, as on one machine (a local run), rather than having
    /// one each: attempts beyond them, and the orchestrator's own work (--host-load), slow
    /// every running attempt down alike.
    #[arg(long, value_name = "C", value_parser = parse_positive)]
    pub cores: Option<f64>,

    /// CPUs' worth of work the orchestrator does beside the tasks on the --cores CPUs
    /// (reading the input, checking the output), e.g. 0.2.
    #[arg(long, value_name = "H", default_value_t = 0.0, value_parser = parse_non_negative,
          requires = "cores")]
    pub host_load: f64,

    /// Draw wall time against worker count as a PNG here.
    #[arg(long, value_name = "FILE.png")]
    pub plot: Option<PathBuf>,

    /// A TrueType or OpenType font for the plot's text, instead of a system sans-serif font.
    #[arg(long, value_name = "FILE", requires = "plot")]
    pub font: Option<PathBuf>,
}

fn parse_non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value >= 0.0 && value.is_finite() => Ok(value),
        Ok(_) => Err(format!("{text} is not a number of seconds >= 0")),
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

fn parse_positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value.is_finite() => Ok(value),
        Ok(_) => Err(format!("{text} is not above 0")),
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

/// The task kinds, in the order the figures print them.
const KINDS: [&str; 3] = ["encode_chunk", "encode_given_state", "rebase"];

/// What one kind of task costs per pixel of the pictures it codes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KindCost {
    /// Successful attempts measured.
    pub tasks: usize,
    pub seconds_per_pixel: f64,
    pub bytes_per_pixel: f64,
}

/// The measured job and its costs.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    pub job: Job,
    pub costs: BTreeMap<&'static str, KindCost>,
    /// The measured run's wall time: its last attempt's end.
    pub wall_s: f64,
    /// The most attempts that ran at once in the measured run.
    pub workers: usize,
}

/// A job: its pictures and its cut.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    pub frames: usize,
    pub pixels: u64,
    pub chunk_frames: usize,
    pub batch: Batch,
}

impl Job {
    fn layout(&self) -> Layout {
        Layout::new(self.frames, self.chunk_frames, self.batch)
    }
}

/// What a platform adds to each attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Platform {
    pub cold_start_s: f64,
    pub invoke_latency_s: f64,
    /// Bytes a second; `None`: free.
    pub bandwidth: Option<f64>,
    pub concurrency_limit: Option<usize>,
    /// CPUs the workers share (a single machine's), if they do; each worker has one of
    /// its own otherwise.
    pub cores: Option<f64>,
    /// CPUs' worth of the orchestrator's own work on those shared CPUs.
    pub host_load: f64,
}

/// The least share of the CPUs the running attempts are given, however loaded the host.
const MIN_SHARE: f64 = 0.05;

/// A prediction for one worker count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    pub workers: usize,
    pub wall_s: f64,
    /// Time billed on all workers together.
    pub worker_s: f64,
    pub tasks: usize,
}

impl Prediction {
    pub fn lambda_usd(&self) -> f64 {
        self.worker_s * LAMBDA_MEMORY_MB / 1024.0 * LAMBDA_GB_S_USD
            + self.tasks as f64 * LAMBDA_REQUEST_USD
    }

    pub fn vm_usd(&self, platform: &Platform) -> f64 {
        let held = platform
            .concurrency_limit
            .map_or(self.workers, |limit| limit.min(self.workers));
        held as f64 * self.wall_s / 3600.0 * VM_VCPU_HOUR_USD
    }
}

/// Reads the job and its costs off a timeline's successful attempts.
///
/// # Errors
///
/// When the timeline holds no successful chunk encode, or was written before records kept
/// their pictures and pixels.
pub fn measure(records: &[TimelineRecord]) -> Result<Measured> {
    let done: Vec<&TimelineRecord> = records.iter().filter(|r| r.ok).collect();
    if done.iter().any(|r| r.frames == 0 || r.pixels == 0) {
        bail!(
            "the timeline does not say how many pictures each task coded (it was written by \
             an older flick): encode again with --timeline"
        );
    }
    let mut chunk_frames: BTreeMap<u32, u32> = BTreeMap::new();
    let mut rebased = BTreeSet::new();
    let mut pixels = None;
    for record in &done {
        match record.kind.as_str() {
            "encode_chunk" => {
                chunk_frames.insert(record.chunk, record.frames);
            }
            "encode_given_state" | "rebase" => {
                rebased.insert(record.chunk);
            }
            other => bail!("the timeline holds a task of an unknown kind, {other:?}"),
        }
        match pixels {
            None => pixels = Some(record.pixels),
            Some(p) if p != record.pixels => bail!(
                "the timeline's tasks read pictures of {p} and of {} pixels: one job's \
                 pictures have one size",
                record.pixels
            ),
            Some(_) => {}
        }
    }
    let Some(pixels) = pixels.filter(|_| !chunk_frames.is_empty()) else {
        bail!("the timeline holds no successful chunk encode to measure");
    };
    let chunks = chunk_frames
        .keys()
        .max()
        .map_or(0, |last| *last as usize + 1);
    if chunk_frames.len() != chunks {
        bail!(
            "the timeline holds encodes of {} chunks out of {chunks}: not a whole run",
            chunk_frames.len()
        );
    }
    let frames = chunk_frames.values().map(|&n| n as usize).sum();
    let longest = chunk_frames.values().copied().max().unwrap_or(1) as usize;
    // The first chunk after the first that is not rebased opens the second batch.
    let batch = match (1..chunks).find(|chunk| !rebased.contains(&(*chunk as u32))) {
        Some(second) => Batch::Chunks(second),
        None => Batch::Whole,
    };
    let mut costs = BTreeMap::new();
    for kind in KINDS {
        let of_kind: Vec<&&TimelineRecord> = done.iter().filter(|r| r.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let pixels_coded: f64 = of_kind
            .iter()
            .map(|r| f64::from(r.frames) * r.pixels as f64)
            .sum();
        let seconds: f64 = of_kind.iter().map(|r| (r.end_s - r.start_s).max(0.0)).sum();
        let bytes: f64 = of_kind
            .iter()
            .map(|r| (r.bytes_in + r.bytes_out) as f64)
            .sum();
        costs.insert(
            kind,
            KindCost {
                tasks: of_kind.len(),
                seconds_per_pixel: seconds / pixels_coded,
                bytes_per_pixel: bytes / pixels_coded,
            },
        );
    }
    Ok(Measured {
        job: Job {
            frames,
            pixels,
            chunk_frames: longest,
            batch,
        },
        costs,
        wall_s: records.iter().map(|r| r.end_s).fold(0.0, f64::max),
        workers: most_at_once(records),
    })
}

/// The most attempts that overlapped in time.
fn most_at_once(records: &[TimelineRecord]) -> usize {
    let mut edges: Vec<(f64, i32)> = records
        .iter()
        .flat_map(|r| [(r.start_s, 1), (r.end_s, -1)])
        .collect();
    // Ends before starts at one instant: back-to-back attempts do not overlap.
    edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, change) in edges {
        now += change;
        most = most.max(now);
    }
    most as usize
}

/// The tasks a step waits for, in the graph the pipeline runs (without scene cuts).
fn waits_for(step: Step, batch: Batch) -> Vec<Step> {
    match step {
        Step::Encode(_) => Vec::new(),
        Step::GivenState(chunk) => vec![Step::Encode(chunk - 1)],
        Step::Rebase(chunk) => {
            let previous = if batch.first_in_batch(chunk - 1) {
                Step::Encode(chunk - 1)
            } else {
                Step::Rebase(chunk - 1)
            };
            vec![Step::GivenState(chunk), Step::Encode(chunk), previous]
        }
    }
}

/// Replays `job`'s task graph on `workers` workers.
///
/// # Errors
///
/// When the measured run had no task of a kind the job needs.
pub fn simulate(
    job: &Job,
    costs: &BTreeMap<&'static str, KindCost>,
    platform: &Platform,
    workers: usize,
) -> Result<Prediction> {
    let layout = job.layout();
    let chunks = layout.chunks();
    let frames_of = |chunk: usize| {
        let start = chunk * layout.chunk_frames;
        (job.frames.min(start + layout.chunk_frames) - start) as f64
    };
    let mut steps = Vec::with_capacity(layout.task_count());
    for chunk in 0..chunks {
        steps.push(Step::Encode(chunk));
        if !job.batch.first_in_batch(chunk) {
            steps.push(Step::GivenState(chunk));
            steps.push(Step::Rebase(chunk));
        }
    }
    let cost_of = |step: Step| -> Result<f64> {
        let kind = step.kind();
        let Some(cost) = costs.get(kind) else {
            bail!("the job needs {kind} tasks, and the measured run had none to measure");
        };
        ensure!(
            cost.seconds_per_pixel.is_finite() && cost.bytes_per_pixel.is_finite(),
            "the measured cost of {kind} is not a number"
        );
        let frames = match step {
            Step::GivenState(_) => 1.0,
            Step::Encode(chunk) | Step::Rebase(chunk) => frames_of(chunk),
        };
        let pixels = frames * job.pixels as f64;
        let transfer = platform
            .bandwidth
            .map_or(0.0, |rate| cost.bytes_per_pixel * pixels / rate);
        Ok(cost.seconds_per_pixel * pixels + platform.invoke_latency_s + transfer)
    };

    // Outstanding inputs per step, and who waits on whom.
    let mut pending: BTreeMap<Step, usize> = BTreeMap::new();
    let mut waiters: BTreeMap<Step, Vec<Step>> = BTreeMap::new();
    let mut ready = BTreeSet::new();
    for &step in &steps {
        let inputs = waits_for(step, job.batch);
        if inputs.is_empty() {
            ready.insert(step);
        }
        for input in &inputs {
            waiters.entry(*input).or_default().push(step);
        }
        pending.insert(step, inputs.len());
    }

    let lanes = platform
        .concurrency_limit
        .map_or(workers, |limit| limit.min(workers))
        .max(1);
    // On shared CPUs, every running attempt gets an equal share of what the host's own work
    // leaves, at most one CPU each.
    let rate = |running: usize| match platform.cores {
        Some(cores) => ((cores - platform.host_load).max(MIN_SHARE) / running as f64).min(1.0),
        None => 1.0,
    };
    // Workers never used yet (each pays a cold start), and warm ones free now.
    let mut cold = lanes;
    let mut warm = 0usize;
    // Running attempts: the step, the seconds of work left (at a whole CPU), its start.
    let mut running: Vec<(Step, f64, f64)> = Vec::new();
    let (mut now, mut worker_s) = (0.0f64, 0.0f64);
    let mut done = 0usize;
    loop {
        while warm + cold > 0 {
            let Some(step) = ready.pop_first() else {
                break;
            };
            let mut seconds = cost_of(step)?;
            if warm > 0 {
                warm -= 1;
            } else {
                cold -= 1;
                seconds += platform.cold_start_s;
            }
            running.push((step, seconds, now));
        }
        let Some(least) = running.iter().map(|r| r.1).min_by(f64::total_cmp) else {
            break;
        };
        // Time runs on to the next end; every attempt has done `least` more of its work.
        now += least / rate(running.len());
        let mut finished = Vec::new();
        running.retain_mut(|(step, left, started)| {
            *left -= least;
            if *left <= least * 1e-9 {
                finished.push(*step);
                worker_s += now - *started;
                false
            } else {
                true
            }
        });
        // In the scheduler's order, as it would take them back.
        finished.sort();
        for step in finished {
            warm += 1;
            done += 1;
            for waiter in waiters.remove(&step).unwrap_or_default() {
                let left = pending.get_mut(&waiter).expect("every step is pending");
                *left -= 1;
                if *left == 0 {
                    ready.insert(waiter);
                }
            }
        }
    }
    if done != steps.len() {
        bail!(
            "{} of {} tasks never got their inputs (a bug in the simulated graph)",
            steps.len() - done,
            steps.len()
        );
    }
    Ok(Prediction {
        workers,
        wall_s: now,
        worker_s,
        tasks: steps.len(),
    })
}

fn describe_batch(batch: Batch) -> String {
    match batch {
        Batch::Chunks(n) => n.to_string(),
        Batch::Whole => "whole".to_owned(),
    }
}

pub fn run(args: &SimulateArgs) -> Result<()> {
    let records = read_timeline(&args.timeline)?;
    let measured = measure(&records).with_context(|| args.timeline.display().to_string())?;
    let job = Job {
        frames: args.frames.map_or(measured.job.frames, |f| f as usize),
        pixels: match (args.width, args.height) {
            (Some(w), Some(h)) => u64::from(w) * u64::from(h),
            _ => measured.job.pixels,
        },
        chunk_frames: args
            .chunk_frames
            .map_or(measured.job.chunk_frames, |n| n as usize),
        batch: args.batch.unwrap_or(measured.job.batch),
    };
    let platform = Platform {
        cold_start_s: args.cold_start,
        invoke_latency_s: args.invoke_latency,
        bandwidth: args.bandwidth.map(|mb| mb * 1e6),
        concurrency_limit: args.concurrency_limit.map(|n| n as usize),
        cores: args.cores,
        host_load: args.host_load,
    };

    let mut out = String::new();
    let m = &measured.job;
    let _ = writeln!(
        out,
        "measured {}: {} frames of {} pixels, ExCamera[{}, {}], {} workers, wall_s {:.3}",
        args.timeline.display(),
        m.frames,
        m.pixels,
        m.chunk_frames,
        describe_batch(m.batch),
        measured.workers,
        measured.wall_s
    );
    for (kind, cost) in &measured.costs {
        let _ = writeln!(
            out,
            "cost {kind}: {} tasks, {:.3} s per megapixel coded, {:.3} bytes per pixel moved",
            cost.tasks,
            cost.seconds_per_pixel * 1e6,
            cost.bytes_per_pixel
        );
    }
    let layout = job.layout();
    let _ = writeln!(
        out,
        "job: {} frames of {} pixels, ExCamera[{}, {}]: {} chunks in {} batches, {} tasks; \
         cold start {} s, invocation latency {} s, bandwidth {}, concurrency limit {}",
        job.frames,
        job.pixels,
        job.chunk_frames,
        describe_batch(job.batch),
        layout.chunks(),
        layout.batches(),
        layout.task_count(),
        platform.cold_start_s,
        platform.invoke_latency_s,
        args.bandwidth
            .map_or_else(|| "free".to_owned(), |mb| format!("{mb} MB/s")),
        platform
            .concurrency_limit
            .map_or_else(|| "none".to_owned(), |n| n.to_string()),
    );
    let mut predictions = Vec::new();
    for &workers in &args.workers {
        let prediction = simulate(&job, &measured.costs, &platform, workers as usize)?;
        let _ = writeln!(
            out,
            "workers {} wall_s {:.3} worker_s {:.3} lambda_usd {:.4} vm_usd {:.4}",
            prediction.workers,
            prediction.wall_s,
            prediction.worker_s,
            prediction.lambda_usd(),
            prediction.vm_usd(&platform)
        );
        predictions.push(prediction);
    }
    print!("{out}");
    if let Some(path) = &args.plot {
        load_font(args.font.as_deref())?;
        let title = format!(
            "{} frames, ExCamera[{}, {}]: wall time by workers",
            job.frames,
            job.chunk_frames,
            describe_batch(job.batch)
        );
        let png = draw(&predictions, &title)?;
        write_atomically(path, &png)?;
    }
    Ok(())
}

const PLOT_SIZE: (u32, u32) = (900, 600);

/// Wall time against workers, both on log scales, with perfect scaling from one worker for
/// reference.
fn draw(predictions: &[Prediction], title: &str) -> Result<Vec<u8>> {
    let (width, height) = PLOT_SIZE;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        let most = predictions.iter().map(|p| p.workers).max().unwrap_or(1) as f64;
        let fewest = predictions.iter().map(|p| p.workers).min().unwrap_or(1) as f64;
        let slowest = predictions.iter().map(|p| p.wall_s).fold(1e-6, f64::max);
        let fastest = predictions
            .iter()
            .map(|p| p.wall_s)
            .fold(slowest, f64::min)
            .max(1e-6);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT_FAMILY, 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (fewest * 0.8..most * 1.25).log_scale(),
                (fastest * 0.5..slowest * 2.0).log_scale(),
            )
            .map_err(drawing_error)?;
        chart
            .configure_mesh()
            .x_desc("workers")
            .y_desc("wall time (s)")
            .label_style((FONT_FAMILY, 14))
            .axis_desc_style((FONT_FAMILY, 14))
            .draw()
            .map_err(drawing_error)?;
        let blue = RGBColor(31, 119, 180);
        chart
            .draw_series(LineSeries::new(
                predictions.iter().map(|p| (p.workers as f64, p.wall_s)),
                blue.stroke_width(2),
            ))
            .map_err(drawing_error)?
            .label("predicted wall time")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], blue.stroke_width(2)));
        chart
            .draw_series(
                predictions
                    .iter()
                    .map(|p| Circle::new((p.workers as f64, p.wall_s), 4, blue.filled())),
            )
            .map_err(drawing_error)?;
        if let Some(first) = predictions.iter().min_by_key(|p| p.workers) {
            let grey = RGBColor(150, 150, 150);
            let serial = first.wall_s * first.workers as f64;
            chart
                .draw_series(LineSeries::new(
                    predictions
                        .iter()
                        .map(|p| (p.workers as f64, serial / p.workers as f64))
                        .filter(|(_, s)| *s >= fastest * 0.5),
                    grey.stroke_width(1),
                ))
                .map_err(drawing_error)?
                .label("perfect scaling")
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], grey));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT_FAMILY, 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(drawing_error)?;
        root.present().map_err(drawing_error)?;
    }
    encode_png(&rgb, width, height)
}

#[cfg(test)]
#[path = "simulate_tests.rs"]
mod tests;
