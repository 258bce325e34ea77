//! The input of `flick encode`: a Y4M file (or standard input) read one frame at a time, so
//! that a long video never sits in memory whole.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, anyhow};
use codec_core::Picture;
use codec_core::container::ContainerError;
use codec_core::container::y4m::{Y4M_MAX_FRAME_LINE, Y4M_MAX_HEADER_LINE, Y4mHeader, parse_y4m};

/// A Y4M file read one frame at a time. Each frame is checked by codec-core's own Y4M reader
/// (given the header line and that one frame), so the rules and messages are the same as for
/// a file in memory.
pub(crate) struct Y4mSource {
    reader: Box<dyn BufRead + Send>,
    /// The file name, or "standard input".
    pub(crate) describe: String,
    pub(crate) header: Y4mHeader,
    header_len: usize,
    /// The file's size, when known, to estimate the frame count.
    file_len: Option<u64>,
    /// The header line, then the frame being read.
    buffer: Vec<u8>,
    /// Byte offset in the file of the next frame, and its index.
    offset: usize,
    index: usize,
}

impl Y4mSource {
    pub(crate) fn open(path: &Path) -> Result<Y4mSource> {
        let (reader, describe, file_len): (Box<dyn Read + Send>, String, Option<u64>) =
            if path.as_os_str() == "-" {
                (Box::new(io::stdin()), "standard input".to_owned(), None)
            } else {
                let file =
                    File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
                let len = file.metadata().ok().map(|m| m.len());
                (Box::new(file), path.display().to_string(), len)
            };
        let mut reader: Box<dyn BufRead + Send> =
            Box::new(BufReader::with_capacity(1 << 20, reader));
        let mut buffer = Vec::new();
        // One byte past the limit, so that the reader can tell "too long" from "cut short".
        (&mut reader)
            .take(Y4M_MAX_HEADER_LINE as u64 + 1)
            .read_until(b'\n', &mut buffer)
            .with_context(|| format!("cannot read {describe}"))?;
        let (header, _) =
            parse_y4m(&buffer).with_context(|| format!("{describe} is not a readable Y4M file"))?;
        Ok(Y4mSource {
            reader,
            describe,
            header_len: buffer.len(),
            header,
            file_len,
            buffer,
            offset: 0,
            index: 0,
        })
    }

    /// The Y4M frame rate, or 30:1 (with a warning) when it says 0.
    pub(crate) fn frame_rate(&self) -> (u32, u32) {
        match self.header.frame_rate {
            (0, _) | (_, 0) => {
                let _ = writeln!(
                    io::stderr(),
                    "flick: warning: {} declares a frame rate of 0; using 30 frames/s",
                    self.describe
                );
                (30, 1)
            }
            rate => rate,
        }
    }

    /// How many frames the file holds, assuming bare "FRAME" lines; `None` when unknown.
    pub(crate) fn estimated_frames(&self, limit: Option<usize>) -> Option<u64> {
        let frame_len = self.header.frame_len()? as u64 + b"FRAME\n".len() as u64;
        let estimate = self
            .file_len
            .map(|len| len.saturating_sub(self.header_len as u64) / frame_len);
        match (estimate, limit) {
            (Some(frames), Some(limit)) => Some(frames.min(limit as u64)),
            (Some(frames), None) => Some(frames),
            (None, limit) => limit.map(|l| l as u64),
        }
    }

    /// The next picture, `None` at the end of the file.
    pub(crate) fn next_picture(&mut self) -> Result<Option<Picture>> {
        self.buffer.truncate(self.header_len);
        let start = self.buffer.len();
        (&mut self.reader)
            .take(Y4M_MAX_FRAME_LINE as u64)
            .read_until(b'\n', &mut self.buffer)
            .with_context(|| format!("cannot read {}", self.describe))?;
        if self.buffer.len() == start {
            return Ok(None);
        }
        if self.buffer.ends_with(b"\n") {
            let planes = self.header.frame_len().unwrap_or(0) as u64;
            (&mut self.reader)
                .take(planes)
                .read_to_end(&mut self.buffer)
                .with_context(|| format!("cannot read {}", self.describe))?;
        }
        let (header, mut frames) = parse_y4m(&self.buffer).expect("header was checked in open");
        let frame = match frames.next() {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => {
                let error = relocate(error, self.index, self.offset + self.header_len);
                return Err(anyhow!("{}: {error}", self.describe));
            }
            None => unreachable!("a frame line was read"),
        };
        self.offset += self.buffer.len() - self.header_len;
        self.index += 1;
        Ok(Some(Picture::from_i420(
            header.width,
            header.height,
            frame.y,
            frame.u,
            frame.v,
        )))
    }
}

/// A frame error from parsing one frame alone, with the frame's true index and offset.
fn relocate(error: ContainerError, index: usize, offset: usize) -> ContainerError {
    match error {
        ContainerError::Y4mFrameMarker { found, .. } => ContainerError::Y4mFrameMarker {
            index,
            offset,
            found,
        },
        ContainerError::Y4mFrameLineUnterminated { scanned, .. } => {
            ContainerError::Y4mFrameLineUnterminated {
                index,
                offset,
                scanned,
            }
        }
        ContainerError::Y4mFrameTruncated {
            needed, available, ..
        } => ContainerError::Y4mFrameTruncated {
            index,
            offset,
            needed,
            available,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relocate_names_the_frame_in_the_file() {
        let error = ContainerError::Y4mFrameTruncated {
            index: 0,
            offset: 40,
            needed: 100,
            available: 7,
        };
        assert_eq!(
            relocate(error, 3, 1000),
            ContainerError::Y4mFrameTruncated {
                index: 3,
                offset: 1000,
                needed: 100,
                available: 7
            }
        );
    }
}
