//! `flick dump-state`: the decoder state after frame N, written to a file.

use std::io::{self, Write};

use anyhow::{Context, Result};
use codec_core::DecoderState;

use crate::DumpStateArgs;
use crate::decode::{Tally, decode_frames};
use crate::output::Sinks;
use crate::stream::{Stream, hex};

pub fn run(args: &DumpStateArgs) -> Result<()> {
    let stream = Stream::open(&args.input)?;
    let mut tally = Tally::default();
    let state = decode_frames(
        &stream,
        DecoderState::new(),
        0,
        Some(args.after + 1),
        &mut Sinks::new(None, None),
        &mut tally,
    )?;
    if tally.decoded <= args.after {
        anyhow::bail!(
            "--after {} is past the end of {}, which has {} frames",
            args.after,
            stream.path.display(),
            tally.decoded
        );
    }

    let bytes = state.to_bytes();
    std::fs::write(&args.output, &bytes)
        .with_context(|| format!("cannot write {}", args.output.display()))?;

    let size = match state.size() {
        Some(size) => format!(
            "{}x{} (scale {},{})",
            size.width, size.height, size.horizontal_scale, size.vertical_scale
        ),
        None => "no keyframe yet".to_owned(),
    };
    writeln!(
        io::stdout(),
        "state after frame {} of {}: {size}, {} bytes, content hash {} -> {}",
        args.after,
        stream.path.display(),
        bytes.len(),
        &hex(&state.content_hash())[..16],
        args.output.display()
    )
    .context("cannot write to standard output")
}
