//! Reading a VP8 IVF file and the errors that name where in it something went wrong.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use codec_core::container::ivf::{IvfFrame, IvfHeader, VP8_FOURCC, parse_ivf};

/// A whole IVF file in memory, its header already checked.
pub struct Stream {
    pub path: PathBuf,
    /// The file stem, used to name frames in MD5 lines (`<name>-<W>x<H>-<NNNN>.i420`).
    pub name: String,
    pub header: IvfHeader,
    data: Vec<u8>,
}

/// Something wrong with one frame: the message, the frame index and its byte offset in the
/// file (of the frame's 12-byte IVF header).
#[derive(Debug)]
pub struct FrameError {
    pub message: String,
    pub index: usize,
    pub offset: usize,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (frame {}, byte offset {})",
            self.message, self.index, self.offset
        )
    }
}

impl std::error::Error for FrameError {}

impl Stream {
    /// Reads `path` and checks that it is an IVF file holding VP8.
    pub fn open(path: &Path) -> Result<Stream> {
        let data = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let (header, _) = parse_ivf(&data)
            .with_context(|| format!("{} is not a readable IVF file", path.display()))?;
        if header.fourcc != VP8_FOURCC {
            bail!(
                "{} holds fourcc '{}', not VP8 ('VP80')",
                path.display(),
                header.fourcc.escape_ascii()
            );
        }
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| "frame".to_owned());
        Ok(Stream {
            path: path.to_owned(),
            name,
            header,
            data,
        })
    }

    /// The frames in file order. A container error (a truncated frame) ends the iteration
    /// with one `Err` naming the frame and its offset.
    pub fn frames(&self) -> impl Iterator<Item = Result<IvfFrame<'_>, FrameError>> {
        let (_, frames) = parse_ivf(&self.data).expect("header was checked in Stream::open");
        let path = self.path.display().to_string();
        frames.map(move |item| {
            item.map_err(|error| {
                let (index, offset) = match error {
                    codec_core::container::ContainerError::IvfFrameHeaderTruncated {
                        index,
                        offset,
                        ..
                    }
                    | codec_core::container::ContainerError::IvfFrameTruncated {
                        index,
                        offset,
                        ..
                    } => (index, offset),
                    _ => (0, 0),
                };
                FrameError {
                    message: format!("{path} is truncated: {error}"),
                    index,
                    offset,
                }
            })
        })
    }

    /// A frame error at `frame`, with the file name in front of `message`.
    pub fn frame_error(&self, frame: &IvfFrame<'_>, message: impl fmt::Display) -> FrameError {
        FrameError {
            message: format!("{}: {message}", self.path.display()),
            index: frame.index,
            offset: frame.offset,
        }
    }

    /// The frame rate for Y4M: the IVF timebase's denominator over its numerator, as vpxenc
    /// writes them, reduced; 30:1 when either is zero.
    pub fn frame_rate(&self) -> (u32, u32) {
        let (rate, scale) = (
            self.header.timebase_denominator,
            self.header.timebase_numerator,
        );
        if rate == 0 || scale == 0 {
            return (30, 1);
        }
        let divisor = gcd(rate, scale);
        (rate / divisor, scale / divisor)
    }
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcd_reduces_vpxenc_timebases() {
        assert_eq!(gcd(30000, 1000), 1000);
        assert_eq!(gcd(30000, 1001), 1);
        assert_eq!(gcd(7, 0), 7);
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab]), "000fab");
    }
}
