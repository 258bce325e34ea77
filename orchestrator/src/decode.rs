//! `flick decode`: frames through `codec_core::decode`, pictures to the sinks.

use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use codec_core::DecoderState;

use crate::DecodeArgs;
use crate::output::{Md5Lines, PictureFile, Sinks};
use crate::stream::Stream;

/// What a decode went through, for the summary line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub decoded: usize,
    pub shown: usize,
    pub hidden: usize,
    pub dropped: usize,
}

pub fn run(args: &DecodeArgs) -> Result<()> {
    if args.frame_md5 && args.output.as_deref() == Some(Path::new("-")) {
        bail!("-o - and --frame-md5 would both write to standard output; choose one");
    }
    let stream = Stream::open(&args.input)?;
    let state = match &args.state {
        Some(path) => load_state(path)?,
        None => DecoderState::new(),
    };
    warn_if_foreign(&stream, &state);

    let pictures = args
        .output
        .as_deref()
        .map(|path| PictureFile::create(path, args.format, stream.frame_rate()))
        .transpose()?;
    let md5_lines = args.frame_md5.then(|| Md5Lines::new(&stream.name));
    let mut sinks = Sinks::new(pictures, md5_lines);
    let quiet = sinks.is_empty();

    let started = Instant::now();
    let mut tally = Tally::default();
    let result = decode_frames(
        &stream, state, args.from, args.limit, &mut sinks, &mut tally,
    );
    // Keep what the good frames produced, then report the first failure.
    let flushed = sinks.finish();
    result?;
    flushed?;

    if args.summary || quiet {
        let seconds = started.elapsed().as_secs_f64();
        let _ = writeln!(
            io::stderr(),
            "{}: decoded {} frames ({} shown, {} hidden, {} dropped) in {seconds:.3} s, {:.1} frames/s",
            stream.path.display(),
            tally.decoded,
            tally.shown,
            tally.hidden,
            tally.dropped,
            tally.decoded as f64 / seconds.max(1e-9),
        );
    }
    Ok(())
}

/// Decodes frames `from..` (at most `limit` of them) starting at `state`, handing every shown
/// picture to `sinks`. Returns the state after the last frame decoded.
pub fn decode_frames(
    stream: &Stream,
    mut state: DecoderState,
    from: usize,
    limit: Option<usize>,
    sinks: &mut Sinks,
    tally: &mut Tally,
) -> Result<DecoderState> {
    let mut seen = 0;
    for frame in stream.frames() {
        let frame = frame?;
        seen = frame.index + 1;
        if frame.index < from {
            continue;
        }
        if limit.is_some_and(|limit| tally.decoded >= limit) {
            break;
        }
        let (next, picture) = codec_core::decode(&state, frame.data)
            .map_err(|error| stream.frame_error(&frame, format_args!("cannot decode: {error}")))?;
        state = next;
        tally.decoded += 1;
        match picture {
            Some(picture) => {
                tally.shown += 1;
                sinks.write(frame.index, &picture)?;
            }
            None if frame.data.is_empty() => tally.dropped += 1,
            None => tally.hidden += 1,
        }
    }
    if from > 0 && seen <= from {
        bail!(
            "--from {from} is past the end of {}, which has {seen} frames",
            stream.path.display()
        );
    }
    Ok(state)
}

/// Loads a state file written by `flick dump-state`.
pub fn load_state(path: &Path) -> Result<DecoderState> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read state {}", path.display()))?;
    DecoderState::from_bytes(&bytes)
        .with_context(|| format!("cannot load state {}", path.display()))
}

/// A state whose picture size differs from the stream's is probably from another stream.
/// Decoding from it is still allowed, so only warn; and not at all when the state's keyframe
/// declared scaling, as an encoder's spatial resampling does when it shrinks the pictures.
fn warn_if_foreign(stream: &Stream, state: &DecoderState) {
    if let Some(size) = state.size() {
        let declared = (stream.header.width, stream.header.height);
        let scaled = size.horizontal_scale != 0 || size.vertical_scale != 0;
        if (size.width, size.height) != declared && !scaled {
            let _ = writeln!(
                io::stderr(),
                "flick: warning: the state holds {}x{} pictures but {} declares {}x{}; \
                 is the state from another stream?",
                size.width,
                size.height,
                stream.path.display(),
                declared.0,
                declared.1
            );
        }
    }
}
