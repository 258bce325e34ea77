//! `flick`: the command line of the flick VP8 codec.
//!
//! It encodes Y4M video to VP8 (from scratch, or continuing a stream from a saved state),
//! decodes IVF streams (to Y4M, raw I420 or per-frame MD5s), lists frame headers, and writes
//! the decoder state after any frame so that decoding or encoding can resume from it.
#![forbid(unsafe_code)]

mod atomic_write;
mod backend;
mod blob_store;
mod decode;
mod encode;
mod info;
mod ivf_writer;
mod output;
mod pipeline;
mod plot;
mod progress;
mod simulate;
mod state_cmd;
mod stream;
mod timeline;
#[cfg(feature = "wasmtime")]
mod wasm_worker;
mod y4m_source;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use edge_worker::wire::InlinePolicy;

#[derive(Parser, Debug)]
#[command(
    name = "flick",
    version,
    about = "flick: a VP8 codec written as pure functions over an explicit decoder state",
    long_about = "flick: a VP8 codec written as pure functions over an explicit decoder state.\n\n\
                  Every decode step is `decode(state, frame) -> (state', picture)`, so a decode can \
                  start mid-stream from a state saved with `flick dump-state`.",
    after_help = "Examples:\n  \
                  flick encode clip.y4m -o clip.ivf --cq-level 20\n  \
                  flick decode clip.ivf -o clip.y4m\n  \
                  flick decode clip.ivf --frame-md5\n  \
                  flick dump-state clip.ivf --after 9 -o after9.state\n  \
                  flick decode clip.ivf --state after9.state --from 10 --frame-md5\n  \
                  flick info clip.ivf\n  \
                  flick plot-timeline timeline.json -o timeline.png"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Encode a Y4M video (8-bit 4:2:0) to a VP8 IVF stream, optionally continuing from a state.
    Encode(Box<EncodeArgs>),
    /// Decode a VP8 IVF stream to Y4M or raw I420, or print each shown frame's MD5.
    Decode(DecodeArgs),
    /// Decode frames 0..=N and write the decoder state after frame N to a file.
    DumpState(DumpStateArgs),
    /// Print one line per frame: type, visibility, size, quantizer, loop filter, references.
    Info(InfoArgs),
    /// Draw a pipeline timeline (JSON) as a PNG: one lane per worker, one bar per task attempt.
    PlotTimeline(plot::PlotTimelineArgs),
    /// Predict a job's wall time and cost on 1 to thousands of workers, from the task costs a
    /// real run's timeline measured.
    Simulate(simulate::SimulateArgs),
}

#[derive(Args, Debug)]
#[command(
    group(ArgGroup::new("rate").args(["cq_level", "target_ssim", "target_bitrate"])),
    after_help = "Rate control: one of --cq-level (by default, --cq-level 32), --target-ssim \
                  or --target-bitrate.\n\n\
                  Continuing a stream: `flick dump-state IN.ivf --after N -o S` (or \
                  `flick encode ... --save-state S`) saves the decoder state after a frame; \
                  `flick encode MORE.y4m --state S -o TAIL.ivf` then codes its first frame as an \
                  interframe predicted from that state, so TAIL.ivf is not playable alone: \
                  concatenate its frames after the frames the state was dumped from (frames 0..=N \
                  of IN.ivf) and the result is one valid VP8 stream. The pictures must have the \
                  state's size.\n\n\
                  The output is written as OUT.partial and renamed to OUT only once complete; on \
                  an error it is removed, so an OUT that exists is always a whole stream.\n\n\
                  Parallel encoding: --chunk-frames N cuts the video into chunks of N frames and \
                  encodes them as tasks on --workers workers (ExCamera[N, x]); batches of \
                  --batch chunks each start with one keyframe. Pictures are read as tasks need \
                  them and kept in memory only until no task needs them; a --store (a directory \
                  or s3://BUCKET/PREFIX) keeps them, and each task's result, until the encode \
                  ends well, so that the same command resumes a run that was stopped. \
                  The stream is decoded again before it is named OUT, and the summary adds \
                  where the task time went."
)]
struct EncodeArgs {
    /// The input video: YUV4MPEG2 (Y4M), 8-bit 4:2:0 ("-" for standard input).
    input: PathBuf,

    /// Where to write the VP8 stream (IVF, fourcc VP80, timebase from the Y4M frame rate); a
    /// file, since its frame count is written last.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,

    /// Constant quality: 0 (best) ..= 63 (smallest), as vpxenc's --cq-level.
    #[arg(long, value_name = "Q", value_parser = clap::value_parser!(u8).range(0..=63))]
    cq_level: Option<u8>,

    /// Choose each frame's quantizer to reach this SSIM (0 < S <= 1, e.g. 0.95), as
    /// `ffmpeg -lavfi ssim` measures it.
    #[arg(long, value_name = "S", value_parser = parse_ssim)]
    target_ssim: Option<f64>,

    /// Average bitrate to aim for, in kilobits per second. With --chunk-frames, each chunk
    /// is coded at a constant quality level planned for it from the pictures and the first
    /// two chunks' sizes.
    #[arg(long, value_name = "KBPS", value_parser = clap::value_parser!(u32).range(1..))]
    target_bitrate: Option<u32>,

    /// A keyframe at least every N frames (default 120); 0: only the first frame and scene
    /// cuts.
    #[arg(long, value_name = "N")]
    keyframe_interval: Option<u32>,

    /// Search effort: 0 (slowest, smallest) ..= 8 (fastest); default 4.
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u8).range(0..=8))]
    speed: Option<u8>,

    /// log2 of the number of token partitions: 0 ..= 3 for 1, 2, 4 or 8 (as vpxenc's
    /// --token-parts); default 0.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u8).range(0..=3))]
    token_partitions: Option<u8>,

    /// Refresh the golden reference every N frames (default 16) outside altref groups;
    /// 0: only at keyframes and overlays.
    #[arg(long, value_name = "N")]
    golden_interval: Option<u32>,

    /// Code the video in groups of up to N frames (default 16), each group's last picture
    /// first as a hidden altref frame that the group's frames predict from, where the group
    /// holds still enough for it to pay; its overlay refreshes golden. The encoder holds N
    /// pictures back. 0: no altref frames, golden refreshed every --golden-interval frames.
    /// With --chunk-frames, groups within each chunk, and none unless this is given.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=64))]
    altref_interval: Option<u32>,

    /// Print one line per frame, `<md5>  <name>-<W>x<H>-<NNNN>.i420`, for the reconstructed
    /// picture, exactly as `flick decode OUT --frame-md5` (and vpxdec --md5) print it; <name>
    /// is OUT's file stem, NNNN counts frames of OUT from 1.
    #[arg(long)]
    recon_md5: bool,

    /// Continue the stream a decoder state came from (written by `flick dump-state` or
    /// --save-state): the first frame is an interframe predicted from it, so OUT's frames are
    /// meant to follow the frames the state was dumped from (see below).
    #[arg(long, value_name = "STATE")]
    state: Option<PathBuf>,

    /// After the last frame, write the decoder state here (as `flick dump-state` would after
    /// decoding OUT).
    #[arg(long, value_name = "STATE")]
    save_state: Option<PathBuf>,

    /// Encode at most this many frames.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,

    #[command(flatten)]
    pipeline: PipelineArgs,
}

/// The parallel encoder's options; `--chunk-frames` turns it on.
#[derive(Args, Debug)]
#[command(next_help_heading = "Parallel encoding (ExCamera[N, x])")]
struct PipelineArgs {
    /// Encode in parallel: cut the video into chunks of N frames, encode every chunk on its
    /// own, then rebase each chunk onto the end of the one before it, so that a batch of X
    /// chunks keeps a single keyframe (see --batch). Not with --state, --keyframe-interval or
    /// --golden-interval: keyframes are where batches start (and at scene cuts), and golden
    /// holds the batch's keyframe.
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..),
        conflicts_with_all = ["state", "keyframe_interval", "golden_interval"]
    )]
    chunk_frames: Option<u32>,

    /// Chunks per batch, each batch starting with a keyframe: a number (1 is plain chunked
    /// encoding, every chunk a keyframe) or `whole` (one keyframe for the whole video).
    #[arg(
        long,
        value_name = "X|whole",
        value_parser = pipeline::parse_batch,
        default_value = "16",
        requires = "chunk_frames"
    )]
    batch: pipeline::Batch,

    /// Chunks per long-term reference group: each group of G chunks in a batch that holds
    /// still enough gets a hidden frame of its last picture, coded from golden and altref
    /// alone, which the group's chunks predict from (as a serial encoder's altref frames);
    /// every chunk task codes the batch's chain again, so they all decide against the
    /// references the final stream has. 0: none, golden holds the batch keyframe and each
    /// anchor refreshes altref. Default: 3 (with a target bitrate too: the rate plan sizes
    /// the hidden frames).
    #[arg(long, value_name = "G", requires = "chunk_frames")]
    long_term_chunks: Option<u32>,

    /// Tasks in flight at once on the backend; for `local`, the threads that run them.
    /// Default: the number of CPUs.
    #[arg(
        long,
        value_name = "W",
        value_parser = clap::value_parser!(u32).range(1..),
        requires = "chunk_frames"
    )]
    workers: Option<u32>,

    /// Where tasks run.
    #[arg(long, value_enum, default_value_t, requires = "chunk_frames")]
    backend: backend::BackendKind,

    /// The worker component for `--backend wasmtime` (default: $FLICK_WORKER_WASM, else the
    /// one scripts/build-worker-wasm.sh builds in this binary's target directory).
    #[arg(long, value_name = "FILE.wasm", requires = "chunk_frames")]
    worker_wasm: Option<PathBuf>,

    /// The workers for `--backend http`: base URLs, each taking `POST URL/task`; requests
    /// go to them in turn. Every request is signed with $FLICK_WORKER_SECRET.
    #[arg(
        long,
        value_name = "URL,...",
        value_delimiter = ',',
        requires = "chunk_frames"
    )]
    endpoint: Vec<String>,

    /// The worker function for `--backend lambda`: its name or ARN. Credentials and region
    /// come from the standard AWS chain (environment, profile, role).
    #[arg(long, value_name = "NAME", requires = "chunk_frames")]
    function: Option<String>,

    /// The Lambda Invoke API to call, when it is not AWS's (e.g. `cargo lambda watch` on
    /// http://127.0.0.1:9000).
    #[arg(long, value_name = "URL", requires = "function")]
    lambda_endpoint: Option<String>,

    /// Keep the blobs that travel by name (pictures, decoder states) as files in this
    /// directory, or as objects in S3 (`s3://BUCKET[/PREFIX]`, credentials and region from
    /// the AWS_* environment variables or an instance role), instead of in memory. Such a
    /// store also keeps each task's result until the encode ends well: the same command,
    /// after a run that was killed or failed, skips every task already done and ends with the
    /// same bytes. One encode at a time per store.
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX", requires = "chunk_frames")]
    store: Option<PathBuf>,

    /// The S3 server for an `s3://` store, when it is not AWS's (e.g. http://127.0.0.1:9000);
    /// addressed path-style.
    #[arg(long, value_name = "URL", requires = "store")]
    s3_endpoint: Option<String>,

    /// Blobs up to this many bytes travel inside the requests and responses, larger ones
    /// through the store (within 4 MiB a message).
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = InlinePolicy::DEFAULT.max_blob,
        requires = "chunk_frames"
    )]
    inline_limit: u64,

    /// Give up an attempt of a task after this many seconds and try again (see --retries).
    #[arg(
        long,
        value_name = "SECONDS",
        value_parser = parse_seconds,
        default_value = "900",
        requires = "chunk_frames"
    )]
    task_timeout: Duration,

    /// Write one JSON record per task attempt here (kind, chunk, worker, start_s, end_s,
    /// bytes_in, bytes_out, attempt, ok); plot it with `flick plot-timeline`.
    #[arg(long, value_name = "FILE.json", requires = "chunk_frames")]
    timeline: Option<PathBuf>,

    /// Try a task that got no response (the worker could not be reached, or was past the
    /// deadline) this many more times before giving up; a task that failed is not retried.
    #[arg(long, value_name = "R", default_value_t = 2, requires = "chunk_frames")]
    retries: u32,

    /// Launch an attempt again on another worker once it has run this many times the median
    /// of its kind's attempts so far (at least 50 ms, after three of the kind): the first
    /// result wins, the other is aborted. 0 never does. Default: 3 on the http and lambda
    /// backends, whose workers are machines of their own; 0 on local and wasmtime, whose
    /// threads are all alike.
    #[arg(
        long,
        value_name = "F",
        value_parser = parse_factor,
        requires = "chunk_frames"
    )]
    straggler_factor: Option<f64>,

    /// Make each task attempt fail with probability P (0 <= P < 1), to check that faults
    /// lose nothing: the worker errors, its response comes back damaged, it hangs past
    /// --task-timeout, or the connection drops mid-response. Raise --retries with it, and
    /// lower --task-timeout, which each hang waits out.
    #[arg(long, value_name = "P", value_parser = parse_probability, requires = "chunk_frames")]
    inject_faults: Option<f64>,

    /// The seed that decides which attempts --inject-faults fails, and how.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        requires = "inject_faults"
    )]
    fault_seed: u64,
}

/// A probability in [0, 1).
fn parse_probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..1.0).contains(&p) => Ok(p),
        Ok(_) => Err(format!("{text} is not in [0, 1)")),
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

/// 0, or a factor above 1 and at most 1000.
fn parse_factor(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f == 0.0 || (f > 1.0 && f <= 1000.0) => Ok(f),
        Ok(_) => Err(format!(
            "{text} is neither 0 (off) nor a factor above 1 (and at most 1000)"
        )),
        Err(_) => Err(format!("'{text}' is not a number")),
    }
}

/// A positive number of seconds.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if seconds > 0.0 && seconds.is_finite() {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(format!("{seconds} is not a positive number of seconds"))
    }
}

/// An SSIM target: 0 < S <= 1.
fn parse_ssim(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if value > 0.0 && value <= 1.0 {
        Ok(value)
    } else {
        Err(format!("{value} is not in 0 < S <= 1"))
    }
}

#[derive(Args, Debug)]
#[command(
    after_help = "Without -o, --frame-md5 or --summary, flick decodes every frame, \
                        writes nothing and prints a summary with the decode speed.\n\
                        Frame numbers count every frame in the file from 0, shown or not; \
                        MD5 lines number frames from 1, as vpxdec does, so a decode resumed with \
                        --state/--from prints exactly the tail of a full decode's lines."
)]
struct DecodeArgs {
    /// The input stream (IVF, fourcc VP80).
    input: PathBuf,

    /// Write the shown frames here ("-" for standard output).
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,

    /// Output format; by default raw I420 for names ending in .yuv or .i420, Y4M otherwise.
    /// Y4M cannot change picture size mid-stream; raw I420 can.
    #[arg(long, value_enum)]
    format: Option<OutputFormat>,

    /// Print one line per shown frame: `<md5>  <name>-<W>x<H>-<NNNN>.i420`, the format of
    /// `vpxdec --i420 --md5 -o <name>-%wx%h-%4.i420` and of the conformance .md5 files.
    #[arg(long)]
    frame_md5: bool,

    /// Start from this decoder state (written by `flick dump-state`) instead of an empty one.
    #[arg(long, value_name = "STATE", requires = "from")]
    state: Option<PathBuf>,

    /// Start decoding at this frame index (0-based; counts every frame in the file).
    #[arg(long, value_name = "M", default_value_t = 0)]
    from: usize,

    /// Decode at most this many frames.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,

    /// Print a summary (frames, time, frames per second) on standard error.
    #[arg(long)]
    summary: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// YUV4MPEG2 with the IVF frame rate.
    Y4m,
    /// Raw I420 frames, one after another.
    I420,
}

#[derive(Args, Debug)]
struct DumpStateArgs {
    /// The input stream (IVF, fourcc VP80).
    input: PathBuf,

    /// Decode frames 0..=N (indices count every frame, shown or not).
    #[arg(long, value_name = "N")]
    after: usize,

    /// Where to write the state.
    #[arg(short, long, value_name = "STATE")]
    output: PathBuf,
}

#[derive(Args, Debug)]
struct InfoArgs {
    /// The input stream (IVF, fourcc VP80).
    input: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Encode(args) => encode::run(&args),
        Command::Decode(args) => decode::run(&args),
        Command::DumpState(args) => state_cmd::run(&args),
        Command::Info(args) => info::run(&args),
        Command::PlotTimeline(args) => plot::run(&args),
        Command::Simulate(args) => simulate::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever the chain of causes: `a: b: c`.
            let message = format!("{error:#}").replace('\n', " ");
            let _ = writeln!(io::stderr(), "flick: error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A reader that closed our standard output early (`flick info x.ivf | head`) is not an error.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
