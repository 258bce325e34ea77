//! `flick info`: one line per frame from its header alone (`codec_core::header::inspect`).

use std::io::{self, BufWriter, Write};

use anyhow::{Context, Result};
use codec_core::FrameHeader;
use codec_core::header::{BufferCopy, inspect};

use crate::InfoArgs;
use crate::stream::Stream;

const HEADER_ROW: &str = "frame     offset    bytes  type   show     size        q   lf  sharp  filter  parts  references";

pub fn run(args: &InfoArgs) -> Result<()> {
    let stream = Stream::open(&args.input)?;
    let mut out = BufWriter::new(io::stdout().lock());
    let result = write_rows(&stream, &mut out);
    let flushed = out.flush().context("cannot write to standard output");
    result.and(flushed)
}

fn write_rows(stream: &Stream, out: &mut impl Write) -> Result<()> {
    writeln!(out, "{HEADER_ROW}").context("cannot write to standard output")?;
    for frame in stream.frames() {
        let frame = frame?;
        let row = if frame.data.is_empty() {
            format!(
                "{:>5}  {:>9}  {:>7}  -      dropped  -           -   -   -      -       -      -",
                frame.index, frame.offset, 0
            )
        } else {
            let header = inspect(frame.data).map_err(|error| {
                stream.frame_error(
                    &frame,
                    format_args!("cannot read the frame header: {error}"),
                )
            })?;
            describe(frame.index, frame.offset, frame.data.len(), &header)
        };
        writeln!(out, "{row}").context("cannot write to standard output")?;
    }
    Ok(())
}

/// One row of the table: where the frame is and what its header says.
fn describe(index: usize, offset: usize, bytes: usize, header: &FrameHeader) -> String {
    let tag = &header.tag;
    let size = tag.keyframe_size.map_or_else(
        || "-".to_owned(),
        |s| {
            let mut size = format!("{}x{}", s.width, s.height);
            if s.horizontal_scale != 0 || s.vertical_scale != 0 {
                size += &format!("/{}{}", s.horizontal_scale, s.vertical_scale);
            }
            size
        },
    );
    format!(
        "{index:>5}  {offset:>9}  {bytes:>7}  {:<5}  {:<7}  {size:<10}  {:>3}  {:>3}  {:>5}  {:<6}  {:>5}  {}",
        if tag.key_frame { "key" } else { "inter" },
        if tag.show_frame { "shown" } else { "hidden" },
        header.quant.y_ac,
        header.loop_filter_level,
        header.sharpness,
        if header.filter_simple {
            "simple"
        } else {
            "normal"
        },
        header.partition_count,
        references(header),
    )
}

/// `refresh=last,golden,altref` plus copies such as `golden<-last`; keyframes refresh all
/// three references (RFC 6386 §9.7, §9.8).
fn references(header: &FrameHeader) -> String {
    let key = header.tag.key_frame;
    let refreshed: Vec<&str> = [
        (key || header.refresh_last, "last"),
        (key || header.refresh_golden, "golden"),
        (key || header.refresh_altref, "altref"),
    ]
    .into_iter()
    .filter_map(|(refreshed, name)| refreshed.then_some(name))
    .collect();
    let mut text = if refreshed.is_empty() {
        "refresh=none".to_owned()
    } else {
        format!("refresh={}", refreshed.join(","))
    };
    if !key {
        let copies = [
            (
                header.refresh_golden,
                header.copy_to_golden,
                "golden",
                "altref",
            ),
            (
                header.refresh_altref,
                header.copy_to_altref,
                "altref",
                "golden",
            ),
        ];
        for (refreshed, copy, target, other) in copies {
            let source = match copy {
                BufferCopy::None => continue,
                BufferCopy::FromLast => "last",
                BufferCopy::FromOther => other,
            };
            // A refresh from this frame overrides the copy (RFC 6386 §9.7).
            if !refreshed {
                text += &format!(" {target}<-{source}");
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_row_names_every_column() {
        for column in ["frame", "type", "show", "q", "lf", "references"] {
            assert!(HEADER_ROW.split_whitespace().any(|c| c == column));
        }
    }
}
