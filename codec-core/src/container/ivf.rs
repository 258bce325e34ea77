//! IVF, the minimal container vpxenc writes and the VP8 conformance vectors use.
//!
//! Layout, all little-endian:
//!
//! ```text
//! file header (32 bytes):
//!   0  "DKIF"
//!   4  u16 version (0)
//!   6  u16 header length in bytes (32)
//!   8  [u8; 4] fourcc ("VP80")
//!  12  u16 width, 14 u16 height
//!  16  u32 timebase denominator (the rate), 20 u32 timebase numerator (the scale)
//!  24  u32 frame count
//!  28  u32 unused
//! then per frame: u32 size, u64 timestamp, `size` bytes of frame data
//! ```

use alloc::vec::Vec;
use core::iter::FusedIterator;

use super::ContainerError;

/// The fourcc of a VP8 stream. The reader accepts any fourcc; callers compare with this.
pub const VP8_FOURCC: [u8; 4] = *b"VP80";
/// Length of the IVF file header this module writes, and the minimum it accepts.
pub const IVF_HEADER_LEN: usize = 32;
/// Length of the header in front of each frame (u32 size, u64 timestamp).
pub const IVF_FRAME_HEADER_LEN: usize = 12;

const SIGNATURE: [u8; 4] = *b"DKIF";

/// The fields of an IVF file header that carry information.
///
/// The timebase is `timebase_numerator / timebase_denominator` seconds per timestamp tick,
/// stored as vpxenc stores it: the denominator (the "rate", bytes 16..20) comes first in the
/// file, then the numerator (the "scale", bytes 20..24). For a stream with one timestamp tick
/// per frame the frame rate is therefore `timebase_denominator / timebase_numerator` frames per
/// second, e.g. denominator 30, numerator 1 for 30 fps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IvfHeader {
    /// Codec identifier, e.g. `*b"VP80"` ([`VP8_FOURCC`]).
    pub fourcc: [u8; 4],
    /// Picture width in pixels, as the container declares it (the VP8 keyframe is authoritative).
    pub width: u16,
    /// Picture height in pixels, as the container declares it.
    pub height: u16,
    /// The "scale" (bytes 20..24): seconds per tick is numerator / denominator.
    pub timebase_numerator: u32,
    /// The "rate" (bytes 16..20): with one tick per frame, the frame rate is
    /// denominator / numerator.
    pub timebase_denominator: u32,
    /// Number of frames the header declares. Informational only: vpxenc writes 0 when it
    /// cannot seek back to patch it, so readers go by the data, not by this.
    pub frame_count: u32,
}

/// One frame of an IVF file, borrowing its data from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfFrame<'a> {
    /// Position in the file, counting from 0.
    pub index: usize,
    /// Byte offset of this frame's 12-byte header in the file.
    pub offset: usize,
    /// Presentation timestamp, in timebase ticks.
    pub timestamp: u64,
    /// The compressed frame.
    pub data: &'a [u8],
}

/// Iterator over the frames of an IVF file, from [`parse_ivf`].
///
/// Frames are read until the data ends, whatever the header's frame count says. A truncated
/// frame header or frame data yields one error, after which the iterator returns `None`.
#[derive(Debug, Clone)]
pub struct IvfFrames<'a> {
    data: &'a [u8],
    pos: usize,
    index: usize,
    done: bool,
}

/// Reads the IVF file header and returns it with an iterator over the frames.
///
/// # Errors
///
/// Rejects a file that does not start with "DKIF", a file shorter than its header, and a
/// declared header length below 32. A longer declared header is skipped (it must fit in the
/// data). Any fourcc and version are accepted: checking for "VP80" is the caller's call.
pub fn parse_ivf(data: &[u8]) -> Result<(IvfHeader, IvfFrames<'_>), ContainerError> {
    if let Some(sig) = data.first_chunk::<4>()
        && *sig != SIGNATURE
    {
        return Err(ContainerError::IvfSignature { found: *sig });
    }
    let Some(h) = data.first_chunk::<IVF_HEADER_LEN>() else {
        return Err(ContainerError::IvfHeaderTruncated {
            needed: IVF_HEADER_LEN,
            available: data.len(),
        });
    };
    let header_len = u16::from_le_bytes([h[6], h[7]]);
    if usize::from(header_len) < IVF_HEADER_LEN {
        return Err(ContainerError::IvfHeaderLength { length: header_len });
    }
    let header_len = usize::from(header_len);
    if header_len > data.len() {
        return Err(ContainerError::IvfHeaderTruncated {
            needed: header_len,
            available: data.len(),
        });
    }

    let header = IvfHeader {
        fourcc: [h[8], h[9], h[10], h[11]],
        width: u16::from_le_bytes([h[12], h[13]]),
        height: u16::from_le_bytes([h[14], h[15]]),
        timebase_denominator: u32::from_le_bytes([h[16], h[17], h[18], h[19]]),
        timebase_numerator: u32::from_le_bytes([h[20], h[21], h[22], h[23]]),
        frame_count: u32::from_le_bytes([h[24], h[25], h[26], h[27]]),
    };
    let frames = IvfFrames {
        data,
        pos: header_len,
        index: 0,
        done: false,
    };
    Ok((header, frames))
}

impl<'a> IvfFrames<'a> {
    /// Byte offset of the next frame header (the end of the data once iteration is over).
    #[must_use]
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn fail(&mut self, err: ContainerError) -> Option<Result<IvfFrame<'a>, ContainerError>> {
        self.done = true;
        Some(Err(err))
    }
}

impl<'a> Iterator for IvfFrames<'a> {
    type Item = Result<IvfFrame<'a>, ContainerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let offset = self.pos;
        let index = self.index;
        let rest = self.data.get(offset..).unwrap_or(&[]);
        if rest.is_empty() {
            self.done = true;
            return None;
        }
        let Some(fh) = rest.first_chunk::<IVF_FRAME_HEADER_LEN>() else {
            return self.fail(ContainerError::IvfFrameHeaderTruncated {
                index,
                offset,
                available: rest.len(),
            });
        };
        let size = u32::from_le_bytes([fh[0], fh[1], fh[2], fh[3]]);
        let timestamp =
            u64::from_le_bytes([fh[4], fh[5], fh[6], fh[7], fh[8], fh[9], fh[10], fh[11]]);
        let body = rest.get(IVF_FRAME_HEADER_LEN..).unwrap_or(&[]);
        // The size is only ever compared with what is present, never used to allocate.
        let frame_data = usize::try_from(size).ok().and_then(|len| body.get(..len));
        let Some(frame_data) = frame_data else {
            return self.fail(ContainerError::IvfFrameTruncated {
                index,
                offset,
                size,
                available: body.len(),
            });
        };
        // Every frame consumes at least its 12-byte header, so iteration always advances.
        self.pos = offset + IVF_FRAME_HEADER_LEN + frame_data.len();
        self.index += 1;
        Some(Ok(IvfFrame {
            index,
            offset,
            timestamp,
            data: frame_data,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        // Each frame takes at least 12 bytes; one error may follow the last frame.
        let remaining = self.data.len().saturating_sub(self.pos);
        (0, Some(remaining / IVF_FRAME_HEADER_LEN + 1))
    }
}

impl FusedIterator for IvfFrames<'_> {}

/// Appends a 32-byte IVF file header (version 0, header length 32).
///
/// When the number of frames is not known up front, write 0 here and patch it afterwards
/// with [`set_ivf_frame_count`].
pub fn write_ivf_header(out: &mut Vec<u8>, header: &IvfHeader) {
    out.reserve(IVF_HEADER_LEN);
    out.extend_from_slice(&SIGNATURE);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(IVF_HEADER_LEN as u16).to_le_bytes());
    out.extend_from_slice(&header.fourcc);
    out.extend_from_slice(&header.width.to_le_bytes());
    out.extend_from_slice(&header.height.to_le_bytes());
    out.extend_from_slice(&header.timebase_denominator.to_le_bytes());
    out.extend_from_slice(&header.timebase_numerator.to_le_bytes());
    out.extend_from_slice(&header.frame_count.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
}

/// Appends one frame: its 12-byte header, then `data`.
///
/// IVF stores frame sizes in 32 bits. A VP8 frame never comes near 4 GiB, but should `data`
/// be longer than `u32::MAX` bytes the size field saturates at `u32::MAX` rather than wrap,
/// and the resulting file will not read back correctly past that frame.
pub fn write_ivf_frame(out: &mut Vec<u8>, timestamp: u64, data: &[u8]) {
    let size = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.reserve(IVF_FRAME_HEADER_LEN + data.len());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&timestamp.to_le_bytes());
    out.extend_from_slice(data);
}

/// Patches the frame count (bytes 24..28) of an IVF file written with [`write_ivf_header`].
///
/// Does nothing if `file` is shorter than the 28 bytes that field needs.
pub fn set_ivf_frame_count(file: &mut [u8], count: u32) {
    if let Some(field) = file.get_mut(24..28) {
        field.copy_from_slice(&count.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use std::path::PathBuf;

    fn header(frame_count: u32) -> IvfHeader {
        IvfHeader {
            fourcc: VP8_FOURCC,
            width: 176,
            height: 144,
            timebase_numerator: 1,
            timebase_denominator: 30,
            frame_count,
        }
    }

    /// A file of three frames of different sizes, one of them empty.
    fn sample() -> Vec<u8> {
        let mut out = Vec::new();
        write_ivf_header(&mut out, &header(0));
        write_ivf_frame(&mut out, 0, &[1, 2, 3]);
        write_ivf_frame(&mut out, 1, &[]);
        write_ivf_frame(&mut out, 7, &[9; 100]);
        set_ivf_frame_count(&mut out, 3);
        out
    }

    #[test]
    fn round_trip() {
        let file = sample();
        assert_eq!(file.len(), 32 + 12 * 3 + 103);
        let (h, frames) = parse_ivf(&file).unwrap();
        assert_eq!(h, header(3));
        let frames: Vec<_> = frames.map(Result::unwrap).collect();
        assert_eq!(frames.len(), 3);
        assert_eq!(
            frames[0],
            IvfFrame {
                index: 0,
                offset: 32,
                timestamp: 0,
                data: &[1, 2, 3]
            }
        );
        assert_eq!((frames[1].index, frames[1].offset), (1, 47));
        assert!(frames[1].data.is_empty());
        assert_eq!((frames[2].offset, frames[2].timestamp), (59, 7));
        assert_eq!(frames[2].data, &[9; 100][..]);
    }

    #[test]
    fn header_field_order_matches_vpxenc() {
        let mut out = Vec::new();
        write_ivf_header(&mut out, &header(5));
        assert_eq!(&out[..4], b"DKIF");
        assert_eq!(&out[6..8], &[32, 0]);
        assert_eq!(&out[8..12], b"VP80");
        // Rate (denominator) before scale (numerator).
        assert_eq!(&out[16..20], &30u32.to_le_bytes());
        assert_eq!(&out[20..24], &1u32.to_le_bytes());
        assert_eq!(&out[24..28], &5u32.to_le_bytes());
    }

    #[test]
    fn frame_count_is_informational() {
        let mut file = sample();
        set_ivf_frame_count(&mut file, 0);
        let (h, frames) = parse_ivf(&file).unwrap();
        assert_eq!(h.frame_count, 0);
        assert_eq!(frames.count(), 3);
        // Patching a too-short slice is a no-op, not a panic.
        let mut short = [0u8; 10];
        set_ivf_frame_count(&mut short, 9);
        assert_eq!(short, [0; 10]);
    }

    #[test]
    fn empty_file_has_no_frames() {
        let mut file = Vec::new();
        write_ivf_header(&mut file, &header(0));
        let (_, mut frames) = parse_ivf(&file).unwrap();
        assert!(frames.next().is_none());
        assert!(frames.next().is_none());
    }

    #[test]
    fn bad_signature() {
        let mut file = sample();
        file[0] = b'R';
        let err = parse_ivf(&file).unwrap_err();
        assert_eq!(err, ContainerError::IvfSignature { found: *b"RKIF" });
        assert_eq!(
            err.to_string(),
            "IVF header: signature is 'RKIF', expected 'DKIF'"
        );
        // A signature check needs only four bytes: a short non-IVF file says so.
        assert_eq!(
            parse_ivf(b"RIFF").unwrap_err(),
            ContainerError::IvfSignature { found: *b"RIFF" }
        );
    }

    #[test]
    fn truncated_header() {
        let file = sample();
        for len in 0..32 {
            let err = parse_ivf(&file[..len]).unwrap_err();
            assert_eq!(
                err,
                ContainerError::IvfHeaderTruncated {
                    needed: 32,
                    available: len
                }
            );
        }
        let err = parse_ivf(&file[..20]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "IVF header: truncated, needs 32 bytes, only 20 present"
        );
    }

    #[test]
    fn header_length_checks() {
        let mut file = sample();
        file[6] = 31;
        assert_eq!(
            parse_ivf(&file).unwrap_err(),
            ContainerError::IvfHeaderLength { length: 31 }
        );
        // Longer than the file.
        file[6..8].copy_from_slice(&60000u16.to_le_bytes());
        let err = parse_ivf(&file).unwrap_err();
        assert_eq!(
            err,
            ContainerError::IvfHeaderTruncated {
                needed: 60000,
                available: file.len()
            }
        );
    }

    #[test]
    fn longer_header_is_skipped() {
        let mut file = Vec::new();
        write_ivf_header(&mut file, &header(1));
        file[6] = 40;
        file.extend_from_slice(&[0xAA; 8]);
        write_ivf_frame(&mut file, 3, b"abc");
        let (_, mut frames) = parse_ivf(&file).unwrap();
        let f = frames.next().unwrap().unwrap();
        assert_eq!((f.offset, f.timestamp, f.data), (40, 3, &b"abc"[..]));
        assert!(frames.next().is_none());
    }

    #[test]
    fn any_fourcc_and_version_accepted() {
        let mut file = sample();
        file[4] = 7;
        file[8..12].copy_from_slice(b"VP90");
        let (h, frames) = parse_ivf(&file).unwrap();
        assert_eq!(&h.fourcc, b"VP90");
        assert_eq!(frames.count(), 3);
    }

    #[test]
    fn truncated_frame_header() {
        let file = sample();
        // Cut 5 bytes into the third frame's header (at byte 59).
        let cut = &file[..64];
        let (_, mut frames) = parse_ivf(cut).unwrap();
        assert!(frames.next().unwrap().is_ok());
        assert!(frames.next().unwrap().is_ok());
        let err = frames.next().unwrap().unwrap_err();
        assert_eq!(
            err,
            ContainerError::IvfFrameHeaderTruncated {
                index: 2,
                offset: 59,
                available: 5
            }
        );
        assert_eq!(
            err.to_string(),
            "IVF frame 2 at byte 59: truncated frame header, needs 12 bytes, 5 remain"
        );
        // One error, then the iterator is over.
        assert!(frames.next().is_none());
        assert!(frames.next().is_none());
    }

    #[test]
    fn frame_beyond_end() {
        let file = sample();
        let cut = &file[..file.len() - 1];
        let (_, frames) = parse_ivf(cut).unwrap();
        let items: Vec<_> = frames.collect();
        assert_eq!(items.len(), 3);
        let err = items[2].clone().unwrap_err();
        assert_eq!(
            err,
            ContainerError::IvfFrameTruncated {
                index: 2,
                offset: 59,
                size: 100,
                available: 99
            }
        );
        assert_eq!(
            err.to_string(),
            "IVF frame 2 at byte 59 declares 100 bytes but only 99 remain"
        );
    }

    #[test]
    fn huge_frame_size_does_not_allocate_or_panic() {
        let mut file = Vec::new();
        write_ivf_header(&mut file, &header(1));
        file.extend_from_slice(&u32::MAX.to_le_bytes());
        file.extend_from_slice(&0u64.to_le_bytes());
        file.extend_from_slice(&[0; 16]);
        let (_, mut frames) = parse_ivf(&file).unwrap();
        let err = frames.next().unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            "IVF frame 0 at byte 32 declares 4294967295 bytes but only 16 remain"
        );
        assert!(frames.next().is_none());
    }

    fn vector_dir() -> PathBuf {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/testdata/vp8"
        ))
    }

    #[test]
    fn conformance_vectors() {
        let dir = vector_dir();
        if !dir.join("vp80-00-comprehensive-001.ivf").exists() {
            std::println!(
                "note: {} not found, skipping the IVF conformance-vector test",
                dir.display()
            );
            return;
        }
        // (number, width, height, frames) as SOURCES.txt lists them.
        let expected: [(u32, u16, u16, usize); 18] = [
            (1, 176, 144, 29),
            (2, 176, 144, 49),
            (3, 176, 144, 49),
            (4, 176, 144, 29),
            (5, 176, 144, 49),
            (6, 175, 143, 48),
            (7, 176, 144, 29),
            (8, 1432, 888, 2),
            (9, 176, 144, 49),
            (10, 320, 240, 57),
            (11, 176, 144, 29),
            (12, 176, 144, 29),
            (13, 176, 144, 29),
            (14, 175, 143, 49),
            (15, 320, 240, 260),
            (16, 176, 144, 29),
            (17, 176, 144, 29),
            (18, 176, 144, 29),
        ];
        for (n, w, h, count) in expected {
            let path = dir.join(format!("vp80-00-comprehensive-{n:03}.ivf"));
            let file = std::fs::read(&path).unwrap();
            let (header, frames) = parse_ivf(&file).unwrap();
            assert_eq!(header.fourcc, VP8_FOURCC, "{}", path.display());
            assert_eq!((header.width, header.height), (w, h), "{}", path.display());
            let frames: Vec<_> = frames.map(Result::unwrap).collect();
            assert_eq!(frames.len(), count, "{}", path.display());
            assert_eq!(frames.len(), header.frame_count as usize);
            let last = frames.last().unwrap();
            assert_eq!(last.offset + 12 + last.data.len(), file.len());
            for (i, f) in frames.iter().enumerate() {
                assert_eq!(f.index, i);
                assert!(!f.data.is_empty());
            }

            // Writing back what was read reproduces the file byte for byte.
            let mut again = Vec::new();
            write_ivf_header(&mut again, &header);
            for f in &frames {
                write_ivf_frame(&mut again, f.timestamp, f.data);
            }
            assert_eq!(again, file, "{}", path.display());
        }
    }

    #[test]
    fn error_is_core_error() {
        let err: &dyn core::error::Error = &ContainerError::IvfHeaderLength { length: 0 };
        assert_eq!(
            err.to_string(),
            "IVF header at byte 6: declares a header length of 0 bytes, at least 32 required"
        );
    }
}
