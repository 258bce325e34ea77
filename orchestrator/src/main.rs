//! `flick`: the command line of the flick VP8 codec.
//!
//! For now it decodes IVF streams (to Y4M, raw I420 or per-frame MD5s), lists frame headers,
//! and writes the decoder state after any frame so that decoding can resume from it.
#![forbid(unsafe_code)]

mod decode;
mod info;
mod output;
mod state_cmd;
mod stream;

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "flick",
    version,
    about = "flick: a VP8 codec written as pure functions over an explicit decoder state",
    long_about = "flick: a VP8 codec written as pure functions over an explicit decoder state.\n\n\
                  Every decode step is `decode(state, frame) -> (state', picture)`, so a decode can \
                  start mid-stream from a state saved with `flick dump-state`.",
    after_help = "Examples:\n  \
                  flick decode clip.ivf -o clip.y4m\n  \
                  flick decode clip.ivf --frame-md5\n  \
                  flick dump-state clip.ivf --after 9 -o after9.state\n  \
                  flick decode clip.ivf --state after9.state --from 10 --frame-md5\n  \
                  flick info clip.ivf"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Decode a VP8 IVF stream to Y4M or raw I420, or print each shown frame's MD5.
    Decode(DecodeArgs),
    /// Decode frames 0..=N and write the decoder state after frame N to a file.
    DumpState(DumpStateArgs),
    /// Print one line per frame: type, visibility, size, quantizer, loop filter, references.
    Info(InfoArgs),
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
        Command::Decode(args) => decode::run(&args),
        Command::DumpState(args) => state_cmd::run(&args),
        Command::Info(args) => info::run(&args),
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
