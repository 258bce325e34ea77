//! Container formats around the codec: IVF (compressed VP8 frames, as vpxenc and the
//! conformance vectors store them) and Y4M (raw 8-bit 4:2:0 pictures, as ffmpeg writes them).
//!
//! Everything works on a byte slice already in memory and hands out borrowed slices, so the
//! crate stays `no_std` and a frame is never copied just to be looked at. Readers treat their
//! input as hostile: they never panic, never allocate from a length the file declares without
//! first checking it against the bytes actually present, and every iterator ends after at most
//! one error.

use alloc::string::String;
use core::fmt;

pub mod ivf;
pub mod y4m;

pub use ivf::{
    IVF_FRAME_HEADER_LEN, IVF_HEADER_LEN, IvfFrame, IvfFrames, IvfHeader, VP8_FOURCC, parse_ivf,
    set_ivf_frame_count, write_ivf_frame, write_ivf_header,
};
pub use y4m::{
    Y4M_MAX_DIMENSION, Y4mFrame, Y4mFrames, Y4mHeader, parse_y4m, write_y4m_frame, write_y4m_header,
};

/// Why an IVF or Y4M file could not be read.
///
/// Every variant carries where the problem is (a byte offset, a frame index, or the header
/// tag as written) so that the message alone is enough to find it in a hex dump.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContainerError {
    /// The file does not start with the IVF signature "DKIF" (the first four bytes found).
    IvfSignature { found: [u8; 4] },
    /// The file ends before the end of the IVF file header (32 bytes, or the larger length
    /// the header declares).
    IvfHeaderTruncated { needed: usize, available: usize },
    /// The IVF header declares a header length below the 32 bytes its fields take.
    IvfHeaderLength { length: u16 },
    /// The file ends inside the 12-byte header of a frame.
    IvfFrameHeaderTruncated {
        index: usize,
        offset: usize,
        available: usize,
    },
    /// A frame declares more data than is left in the file.
    IvfFrameTruncated {
        index: usize,
        offset: usize,
        size: u32,
        available: usize,
    },
    /// The file does not start with "YUV4MPEG2" followed by a space or end of line.
    Y4mSignature { found: String },
    /// The file ends before the end of the Y4M header line.
    Y4mHeaderUnterminated { available: usize },
    /// The Y4M header line is longer than the limit the reader accepts.
    Y4mHeaderTooLong { limit: usize },
    /// Two spaces in a row, or a trailing space, in the Y4M header (offset of the empty tag).
    Y4mEmptyTag { offset: usize },
    /// A Y4M header tag whose value cannot be read (the tag as written, and what was expected).
    Y4mInvalidTag {
        offset: usize,
        tag: String,
        expected: &'static str,
    },
    /// The Y4M header lacks a tag that has no default ('W' or 'H').
    Y4mMissingTag { tag: char },
    /// A Y4M width or height outside 1..=16383, the range VP8 can code.
    Y4mDimensionOutOfRange { dimension: &'static str, value: u64 },
    /// A Y4M colour space other than 8-bit 4:2:0 (the tag as written, 'C' included).
    Y4mUnsupportedColourSpace { tag: String },
    /// Something other than "FRAME" where a Y4M frame should start.
    Y4mFrameMarker {
        index: usize,
        offset: usize,
        found: String,
    },
    /// No end of line after "FRAME" within the bytes the reader looks at.
    Y4mFrameLineUnterminated {
        index: usize,
        offset: usize,
        scanned: usize,
    },
    /// The file ends inside a Y4M frame's planes (`needed` and `available` count the bytes
    /// after the FRAME line).
    Y4mFrameTruncated {
        index: usize,
        offset: usize,
        needed: usize,
        available: usize,
    },
}

impl fmt::Display for ContainerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContainerError::IvfSignature { found } => write!(
                f,
                "IVF header: signature is '{}', expected 'DKIF'",
                snippet(found)
            ),
            ContainerError::IvfHeaderTruncated { needed, available } => write!(
                f,
                "IVF header: truncated, needs {needed} bytes, only {available} present"
            ),
            ContainerError::IvfHeaderLength { length } => write!(
                f,
                "IVF header at byte 6: declares a header length of {length} bytes, at least 32 required"
            ),
            ContainerError::IvfFrameHeaderTruncated {
                index,
                offset,
                available,
            } => write!(
                f,
                "IVF frame {index} at byte {offset}: truncated frame header, needs 12 bytes, {available} remain"
            ),
            ContainerError::IvfFrameTruncated {
                index,
                offset,
                size,
                available,
            } => write!(
                f,
                "IVF frame {index} at byte {offset} declares {size} bytes but only {available} remain"
            ),
            ContainerError::Y4mSignature { found } => write!(
                f,
                "Y4M header: file does not start with 'YUV4MPEG2 ' (found '{found}')"
            ),
            ContainerError::Y4mHeaderUnterminated { available } => write!(
                f,
                "Y4M header: truncated, no end of line in the {available} bytes present"
            ),
            ContainerError::Y4mHeaderTooLong { limit } => write!(
                f,
                "Y4M header: no end of line in the first {limit} bytes (header line too long)"
            ),
            ContainerError::Y4mEmptyTag { offset } => write!(
                f,
                "Y4M header: empty tag at byte {offset} (two spaces in a row or a trailing space)"
            ),
            ContainerError::Y4mInvalidTag {
                offset,
                tag,
                expected,
            } => write!(
                f,
                "Y4M header: invalid tag '{tag}' at byte {offset}, expected {expected}"
            ),
            ContainerError::Y4mMissingTag { tag } => {
                let what = match tag {
                    'W' => "width",
                    'H' => "height",
                    _ => "required",
                };
                write!(f, "Y4M header: missing {what} tag '{tag}'")
            }
            ContainerError::Y4mDimensionOutOfRange { dimension, value } => write!(
                f,
                "Y4M header: {dimension} {value} is out of range, VP8 allows 1..=16383"
            ),
            ContainerError::Y4mUnsupportedColourSpace { tag } => write!(
                f,
                "Y4M header: unsupported colour space '{tag}' (flick reads 8-bit 4:2:0 only)"
            ),
            ContainerError::Y4mFrameMarker {
                index,
                offset,
                found,
            } => write!(
                f,
                "Y4M frame {index} at byte {offset}: expected 'FRAME', found '{found}'"
            ),
            ContainerError::Y4mFrameLineUnterminated {
                index,
                offset,
                scanned,
            } => write!(
                f,
                "Y4M frame {index} at byte {offset}: no end of the FRAME line in the {scanned} bytes looked at"
            ),
            ContainerError::Y4mFrameTruncated {
                index,
                offset,
                needed,
                available,
            } => write!(
                f,
                "Y4M frame {index} at byte {offset}: truncated, needs {needed} bytes, {available} remain"
            ),
        }
    }
}

impl core::error::Error for ContainerError {}

/// Bytes from an untrusted file, made safe to put in a message: at most 32 of them, printable
/// ASCII kept, everything else escaped, so a hostile file cannot inject control characters or
/// a megabyte of text into a log line.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    const MAX: usize = 32;
    let mut s = String::new();
    for &b in bytes.iter().take(MAX) {
        if b.is_ascii_graphic() || b == b' ' {
            s.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = fmt::Write::write_fmt(&mut s, format_args!("\\x{b:02x}"));
        }
    }
    if bytes.len() > MAX {
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    //! Robustness of both readers: damaged files give errors, never panics or endless loops.

    use super::*;
    use alloc::string::ToString;
    use alloc::vec::Vec;

    /// Deterministic xorshift, so a failure reproduces.
    fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// Damages 1 to 4 bytes of `base` (half the time with a byte that matters to the
    /// parsers), cuts it at a random length, and hands the result to `check`.
    fn mutate(base: &[u8], seed: u64, mut check: impl FnMut(&[u8])) {
        let mut rand = xorshift(seed);
        for _ in 0..5000 {
            let mut data = base.to_vec();
            for _ in 0..1 + rand() % 4 {
                let i = (rand() as usize) % data.len();
                let r = rand();
                data[i] = b" \n:09WCF"
                    .get((r % 18) as usize)
                    .copied()
                    .unwrap_or(r as u8);
            }
            let len = (rand() as usize) % (data.len() + 1);
            check(&data[..len]);
        }
    }

    #[test]
    fn damaged_ivf_never_panics() {
        let mut base = Vec::new();
        write_ivf_header(
            &mut base,
            &IvfHeader {
                fourcc: VP8_FOURCC,
                width: 16,
                height: 16,
                timebase_numerator: 1,
                timebase_denominator: 30,
                frame_count: 3,
            },
        );
        write_ivf_frame(&mut base, 0, &[1, 2, 3]);
        write_ivf_frame(&mut base, 1, &[]);
        write_ivf_frame(&mut base, 2, &[9; 40]);
        mutate(&base, 0x2545_f491_4f6c_dd1d, |data| {
            if let Ok((_, frames)) = parse_ivf(data) {
                // Each frame consumes at least its 12-byte header; one error may follow.
                let limit = data.len() / IVF_FRAME_HEADER_LEN + 1;
                let mut n = 0;
                for item in frames {
                    n += 1;
                    assert!(n <= limit, "IVF iterator does not advance");
                    let _ = item.map_err(|e| e.to_string());
                }
            }
        });
    }

    #[test]
    fn damaged_y4m_never_panics() {
        let mut header = Y4mHeader::new(3, 3, (25, 1));
        header.comments.push("YSCSS=420JPEG".to_string());
        let mut base = Vec::new();
        write_y4m_header(&mut base, &header);
        for f in 0..3u8 {
            write_y4m_frame(&mut base, &[f; 9], &[f + 1; 4], &[f + 2; 4]);
        }
        mutate(&base, 0x9e37_79b9_7f4a_7c15, |data| {
            if let Ok((_, frames)) = parse_y4m(data) {
                // Each frame consumes at least "FRAME\n"; one error may follow.
                let limit = data.len() / 6 + 1;
                let mut n = 0;
                for item in frames {
                    n += 1;
                    assert!(n <= limit, "Y4M iterator does not advance");
                    let _ = item.map_err(|e| e.to_string());
                }
            }
        });
    }

    #[test]
    fn snippet_bounds_and_escapes() {
        assert_eq!(snippet(b"C444"), "C444");
        assert_eq!(snippet(b"a\nb\xff"), "a\\x0ab\\xff");
        let long = snippet(&[b'x'; 100]);
        assert_eq!(long.len(), 35);
        assert!(long.ends_with("..."));
    }

    #[test]
    fn errors_are_core_errors() {
        let err: &dyn core::error::Error = &ContainerError::Y4mMissingTag { tag: 'W' };
        assert_eq!(err.to_string(), "Y4M header: missing width tag 'W'");
    }
}
