//! YUV4MPEG2 ("Y4M"), raw pictures with a one-line text header, as ffmpeg writes it:
//!
//! ```text
//! YUV4MPEG2 W33 H17 F5:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED\n
//! FRAME\n<Y: W*H bytes><U: ((W+1)/2)*((H+1)/2) bytes><V: same>
//! FRAME\n...
//! ```
//!
//! Header tags are separated by single spaces; each is a letter and a value. flick codes 8-bit
//! 4:2:0 only, so the reader accepts the colour spaces `420jpeg`, `420mpeg2`, `420paldv` and
//! `420` (they differ only in chroma siting, which does not change the byte layout), and
//! rejects every other one rather than misread its planes.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::iter::FusedIterator;

use super::{ContainerError, snippet};

/// Largest width or height accepted: VP8 codes dimensions in 14 bits.
pub const Y4M_MAX_DIMENSION: usize = 16383;
/// Longest header line accepted, end of line included. ffmpeg's are under 100 bytes; the cap
/// keeps a file without a newline from being scanned to the end.
pub const Y4M_MAX_HEADER_LINE: usize = 4096;
/// Longest FRAME line accepted, end of line included.
pub const Y4M_MAX_FRAME_LINE: usize = 1024;
/// Colour spaces read, as written after the `C`.
pub const Y4M_COLOUR_SPACES: [&str; 4] = ["420jpeg", "420mpeg2", "420paldv", "420"];

const SIGNATURE: &[u8] = b"YUV4MPEG2";
const FRAME_MARKER: &[u8] = b"FRAME";
const DEFAULT_COLOUR_SPACE: &str = "420jpeg";
/// What ffmpeg assumes when the F tag is missing.
const DEFAULT_FRAME_RATE: (u32, u32) = (25, 1);

/// A Y4M stream header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Y4mHeader {
    /// Luma width in pixels, 1..=16383 when parsed.
    pub width: usize,
    /// Luma height in pixels, 1..=16383 when parsed.
    pub height: usize,
    /// Frames per second as (numerator, denominator); the denominator is never 0 when parsed.
    /// `(25, 1)` if the header has no F tag, as ffmpeg assumes.
    pub frame_rate: (u32, u32),
    /// `b'p'` progressive, `b't'` top field first, `b'b'` bottom field first, `b'm'` mixed,
    /// `b'?'` unknown or absent.
    pub interlace: u8,
    /// Pixel aspect ratio as (numerator, denominator); `(0, 0)` for unknown or absent.
    pub aspect: (u32, u32),
    /// The colour space as written after `C`, e.g. `"420jpeg"`; `"420jpeg"` if absent.
    pub colour_space: String,
    /// The X tags, without the `X`, in order (e.g. `"YSCSS=420JPEG"`). Bytes that are not
    /// UTF-8 are replaced with U+FFFD.
    pub comments: Vec<String>,
}

impl Y4mHeader {
    /// A progressive 4:2:0 header as ffmpeg writes one for ordinary video: `Ip A1:1 C420jpeg`,
    /// no comments.
    #[must_use]
    pub fn new(width: usize, height: usize, frame_rate: (u32, u32)) -> Self {
        Y4mHeader {
            width,
            height,
            frame_rate,
            interlace: b'p',
            aspect: (1, 1),
            colour_space: DEFAULT_COLOUR_SPACE.to_owned(),
            comments: Vec::new(),
        }
    }

    /// Width and height of each chroma plane: half the luma size, rounded up.
    #[must_use]
    pub fn chroma_size(&self) -> (usize, usize) {
        (self.width.div_ceil(2), self.height.div_ceil(2))
    }

    /// Bytes of picture data per frame (Y, U and V together), `None` on overflow (only
    /// possible for a hand-built header with absurd dimensions).
    #[must_use]
    pub fn frame_len(&self) -> Option<usize> {
        let (cw, ch) = self.chroma_size();
        let luma = self.width.checked_mul(self.height)?;
        let chroma = cw.checked_mul(ch)?.checked_mul(2)?;
        luma.checked_add(chroma)
    }
}

/// One frame of a Y4M file, borrowing its planes from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Y4mFrame<'a> {
    /// Position in the file, counting from 0.
    pub index: usize,
    /// Byte offset of the frame's "FRAME" line in the file.
    pub offset: usize,
    /// Luma, `width * height` bytes, rows top to bottom with no padding.
    pub y: &'a [u8],
    /// Cb, `((width+1)/2) * ((height+1)/2)` bytes.
    pub u: &'a [u8],
    /// Cr, same size as `u`.
    pub v: &'a [u8],
}

/// Iterator over the frames of a Y4M file, from [`parse_y4m`].
///
/// Yields frames until the data ends; anything that is not a whole frame (a wrong marker, an
/// unterminated FRAME line, short planes) yields one error, after which the iterator returns
/// `None`. Per-frame parameters on the FRAME line are skipped.
#[derive(Debug, Clone)]
pub struct Y4mFrames<'a> {
    data: &'a [u8],
    pos: usize,
    index: usize,
    luma_len: usize,
    chroma_len: usize,
    done: bool,
}

/// Reads the Y4M header line and returns it with an iterator over the frames.
///
/// # Errors
///
/// Errors on a missing signature, a header line without an end of line (or longer than
/// [`Y4M_MAX_HEADER_LINE`]), an empty tag, a missing, non-numeric or out-of-range W or H,
/// a malformed or zero-denominator F, a malformed I or A, a colour space other than 8-bit
/// 4:2:0, and a tag that does not start with a letter. Unknown letter tags are skipped, as
/// the format asks; a repeated tag overrides the earlier one.
pub fn parse_y4m(data: &[u8]) -> Result<(Y4mHeader, Y4mFrames<'_>), ContainerError> {
    let after_sig = data.get(SIGNATURE.len()).copied();
    if !data.starts_with(SIGNATURE) || !matches!(after_sig, Some(b' ' | b'\n')) {
        return Err(ContainerError::Y4mSignature {
            found: snippet(data.get(..SIGNATURE.len() + 1).unwrap_or(data)),
        });
    }
    let window = data.get(..Y4M_MAX_HEADER_LINE).unwrap_or(data);
    let Some(eol) = window.iter().position(|&b| b == b'\n') else {
        return Err(if data.len() > Y4M_MAX_HEADER_LINE {
            ContainerError::Y4mHeaderTooLong {
                limit: Y4M_MAX_HEADER_LINE,
            }
        } else {
            ContainerError::Y4mHeaderUnterminated {
                available: data.len(),
            }
        });
    };

    let mut width = None;
    let mut height = None;
    let mut header = Y4mHeader {
        width: 0,
        height: 0,
        frame_rate: DEFAULT_FRAME_RATE,
        interlace: b'?',
        aspect: (0, 0),
        colour_space: DEFAULT_COLOUR_SPACE.to_owned(),
        comments: Vec::new(),
    };

    // `after_sig` is a space here unless the line is just "YUV4MPEG2\n".
    let tags_start = SIGNATURE.len() + 1;
    let tags = data.get(tags_start..eol).unwrap_or(&[]);
    if after_sig == Some(b' ') {
        let mut offset = tags_start;
        for tag in tags.split(|&b| b == b' ') {
            parse_tag(tag, offset, &mut header, &mut width, &mut height)?;
            offset += tag.len() + 1;
        }
    }

    header.width = width.ok_or(ContainerError::Y4mMissingTag { tag: 'W' })?;
    header.height = height.ok_or(ContainerError::Y4mMissingTag { tag: 'H' })?;
    let (cw, ch) = header.chroma_size();
    // Dimensions are at most 16383, so these products fit even in a 32-bit usize.
    let frames = Y4mFrames {
        data,
        pos: eol + 1,
        index: 0,
        luma_len: header.width * header.height,
        chroma_len: cw * ch,
        done: false,
    };
    Ok((header, frames))
}

/// Applies one header tag (`tag` starts at byte `offset` of the file).
fn parse_tag(
    tag: &[u8],
    offset: usize,
    header: &mut Y4mHeader,
    width: &mut Option<usize>,
    height: &mut Option<usize>,
) -> Result<(), ContainerError> {
    let Some((&key, value)) = tag.split_first() else {
        return Err(ContainerError::Y4mEmptyTag { offset });
    };
    let invalid = |expected: &'static str| ContainerError::Y4mInvalidTag {
        offset,
        tag: snippet(tag),
        expected,
    };
    match key {
        b'W' | b'H' => {
            let (dimension, slot, expected) = if key == b'W' {
                ("width", &mut *width, "W<number>")
            } else {
                ("height", &mut *height, "H<number>")
            };
            let value = parse_u64(value).ok_or_else(|| invalid(expected))?;
            let in_range = usize::try_from(value)
                .ok()
                .filter(|v| (1..=Y4M_MAX_DIMENSION).contains(v));
            *slot =
                Some(in_range.ok_or(ContainerError::Y4mDimensionOutOfRange { dimension, value })?);
        }
        b'F' => {
            header.frame_rate = parse_ratio(value)
                .filter(|&(_, den)| den != 0)
                .ok_or_else(|| invalid("F<num>:<den> with a non-zero denominator"))?;
        }
        b'I' => match value {
            [c @ (b'p' | b't' | b'b' | b'm' | b'?')] => header.interlace = *c,
            _ => return Err(invalid("Ip, It, Ib, Im or I?")),
        },
        b'A' => {
            // 0:0 means unknown; any other ratio needs a denominator.
            header.aspect = parse_ratio(value)
                .filter(|&(num, den)| den != 0 || num == 0)
                .ok_or_else(|| invalid("A<num>:<den>, or A0:0 for unknown"))?;
        }
        b'C' => {
            let Some(cs) = Y4M_COLOUR_SPACES.iter().find(|cs| cs.as_bytes() == value) else {
                return Err(ContainerError::Y4mUnsupportedColourSpace { tag: snippet(tag) });
            };
            header.colour_space = (*cs).to_owned();
        }
        b'X' => header
            .comments
            .push(String::from_utf8_lossy(value).into_owned()),
        k if k.is_ascii_alphabetic() => {}
        _ => return Err(invalid("a tag starting with a letter")),
    }
    Ok(())
}

/// Decimal digits only (no sign, no spaces), `None` if empty, not a number, or over u64.
fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// `<u32>:<u32>`.
fn parse_ratio(value: &[u8]) -> Option<(u32, u32)> {
    let colon = value.iter().position(|&b| b == b':')?;
    let num = parse_u64(value.get(..colon)?)?;
    let den = parse_u64(value.get(colon + 1..)?)?;
    Some((u32::try_from(num).ok()?, u32::try_from(den).ok()?))
}

impl<'a> Y4mFrames<'a> {
    /// Byte offset of the next FRAME line (the end of the data once iteration is over).
    #[must_use]
    pub fn offset(&self) -> usize {
        self.pos
    }

    fn fail(&mut self, err: ContainerError) -> Option<Result<Y4mFrame<'a>, ContainerError>> {
        self.done = true;
        Some(Err(err))
    }
}

impl<'a> Iterator for Y4mFrames<'a> {
    type Item = Result<Y4mFrame<'a>, ContainerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let index = self.index;
        let offset = self.pos;
        let rest = self.data.get(offset..).unwrap_or(&[]);
        if rest.is_empty() {
            self.done = true;
            return None;
        }

        // "FRAME" then '\n' or ' ' and parameters. A file cut inside the marker itself is
        // reported as an unterminated line rather than as a wrong marker.
        let marker_ok = match rest.get(FRAME_MARKER.len()) {
            Some(&next) => rest.starts_with(FRAME_MARKER) && (next == b'\n' || next == b' '),
            None => FRAME_MARKER.starts_with(rest),
        };
        if !marker_ok {
            return self.fail(ContainerError::Y4mFrameMarker {
                index,
                offset,
                found: snippet(rest.get(..FRAME_MARKER.len() + 1).unwrap_or(rest)),
            });
        }
        let window = rest.get(..Y4M_MAX_FRAME_LINE).unwrap_or(rest);
        let Some(eol) = window.iter().position(|&b| b == b'\n') else {
            return self.fail(ContainerError::Y4mFrameLineUnterminated {
                index,
                offset,
                scanned: window.len(),
            });
        };

        let planes = rest.get(eol + 1..).unwrap_or(&[]);
        let needed = self.luma_len + 2 * self.chroma_len;
        let (Some(y), Some(u), Some(v)) = (
            planes.get(..self.luma_len),
            planes.get(self.luma_len..self.luma_len + self.chroma_len),
            planes.get(self.luma_len + self.chroma_len..needed),
        ) else {
            return self.fail(ContainerError::Y4mFrameTruncated {
                index,
                offset,
                needed,
                available: planes.len(),
            });
        };
        // The FRAME line's newline alone guarantees progress even for a 0-byte picture.
        self.pos = offset + eol + 1 + needed;
        self.index += 1;
        Some(Ok(Y4mFrame {
            index,
            offset,
            y,
            u,
            v,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        // A frame takes at least "FRAME\n" plus its planes; one error may follow the last.
        let per_frame = FRAME_MARKER.len() + 1 + self.luma_len + 2 * self.chroma_len;
        let remaining = self.data.len().saturating_sub(self.pos);
        (0, Some(remaining / per_frame + 1))
    }
}

impl FusedIterator for Y4mFrames<'_> {}

/// Appends a Y4M header line: `YUV4MPEG2 W H F I A C X...` and a newline.
///
/// Y4M cannot represent a space or newline inside a tag, so such characters in
/// `colour_space` or a comment are written as `_` to keep the file readable; an empty colour
/// space omits the C tag (read back as 420jpeg), and an `interlace` byte other than
/// p/t/b/m/? is written as `?`. Width, height and rates are written as given: the caller
/// keeps them valid.
pub fn write_y4m_header(out: &mut Vec<u8>, header: &Y4mHeader) {
    let interlace = match header.interlace {
        c @ (b'p' | b't' | b'b' | b'm' | b'?') => char::from(c),
        _ => '?',
    };
    let line = format!(
        "YUV4MPEG2 W{} H{} F{}:{} I{} A{}:{}",
        header.width,
        header.height,
        header.frame_rate.0,
        header.frame_rate.1,
        interlace,
        header.aspect.0,
        header.aspect.1,
    );
    out.extend_from_slice(line.as_bytes());
    if !header.colour_space.is_empty() {
        push_tag(out, b'C', &header.colour_space);
    }
    for comment in &header.comments {
        push_tag(out, b'X', comment);
    }
    out.push(b'\n');
}

fn push_tag(out: &mut Vec<u8>, key: u8, value: &str) {
    out.push(b' ');
    out.push(key);
    out.extend(
        value
            .bytes()
            .map(|b| if matches!(b, b' ' | b'\n') { b'_' } else { b }),
    );
}

/// Appends one frame: a bare `FRAME` line, then the Y, U and V planes.
///
/// The plane sizes are not checked here (the writer does not know the header); they must be
/// `width * height` and [`Y4mHeader::chroma_size`]'s product, or the file will not read back.
pub fn write_y4m_frame(out: &mut Vec<u8>, y: &[u8], u: &[u8], v: &[u8]) {
    out.reserve(FRAME_MARKER.len() + 1 + y.len() + u.len() + v.len());
    out.extend_from_slice(FRAME_MARKER);
    out.push(b'\n');
    out.extend_from_slice(y);
    out.extend_from_slice(u);
    out.extend_from_slice(v);
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    /// Planes filled with recognisable values: Y = 1.., U = 100.., V = 200.. (wrapping).
    fn planes(header: &Y4mHeader, frame: u8) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (cw, ch) = header.chroma_size();
        let fill = |len: usize, base: u8| -> Vec<u8> {
            (0..len)
                .map(|i| base.wrapping_add(frame).wrapping_add(i as u8))
                .collect()
        };
        (
            fill(header.width * header.height, 1),
            fill(cw * ch, 100),
            fill(cw * ch, 200),
        )
    }

    fn file(header: &Y4mHeader, frames: u8) -> Vec<u8> {
        let mut out = Vec::new();
        write_y4m_header(&mut out, header);
        for f in 0..frames {
            let (y, u, v) = planes(header, f);
            write_y4m_frame(&mut out, &y, &u, &v);
        }
        out
    }

    fn header_err(line: &str) -> ContainerError {
        let mut data = Vec::from(line.as_bytes());
        data.push(b'\n');
        parse_y4m(&data).unwrap_err()
    }

    fn header_ok(line: &str) -> Y4mHeader {
        let mut data = Vec::from(line.as_bytes());
        data.push(b'\n');
        parse_y4m(&data).unwrap().0
    }

    #[test]
    fn round_trip() {
        let mut header = Y4mHeader::new(8, 4, (30000, 1001));
        header.comments.push("YSCSS=420JPEG".to_string());
        let data = file(&header, 3);
        assert!(
            data.starts_with(
                b"YUV4MPEG2 W8 H4 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG\nFRAME\n"
            )
        );
        let (parsed, frames) = parse_y4m(&data).unwrap();
        assert_eq!(parsed, header);
        let header_len = b"YUV4MPEG2 W8 H4 F30000:1001 Ip A1:1 C420jpeg XYSCSS=420JPEG\n".len();
        let frame_len = 6 + 32 + 2 * 8;
        let frames: Vec<_> = frames.map(Result::unwrap).collect();
        assert_eq!(frames.len(), 3);
        for (i, f) in frames.iter().enumerate() {
            let (y, u, v) = planes(&header, i as u8);
            assert_eq!(f.index, i);
            assert_eq!(f.offset, header_len + i * frame_len);
            assert_eq!((f.y, f.u, f.v), (&y[..], &u[..], &v[..]));
        }
    }

    #[test]
    fn defaults_match_ffmpeg_progressive() {
        let h = Y4mHeader::new(1280, 720, (25, 1));
        let mut out = Vec::new();
        write_y4m_header(&mut out, &h);
        assert_eq!(out, b"YUV4MPEG2 W1280 H720 F25:1 Ip A1:1 C420jpeg\n");
        assert_eq!(h.frame_len(), Some(1280 * 720 * 3 / 2));
    }

    #[test]
    fn absent_tags_take_defaults() {
        let h = header_ok("YUV4MPEG2 W2 H2");
        assert_eq!(h.frame_rate, (25, 1));
        assert_eq!(h.interlace, b'?');
        assert_eq!(h.aspect, (0, 0));
        assert_eq!(h.colour_space, "420jpeg");
        assert!(h.comments.is_empty());
        // Unknown letter tags are skipped.
        assert_eq!(header_ok("YUV4MPEG2 W2 Zzz H2").height, 2);
    }

    #[test]
    fn accepted_colour_spaces() {
        for cs in ["420jpeg", "420mpeg2", "420paldv", "420"] {
            let h = header_ok(&format!("YUV4MPEG2 W4 H4 F25:1 C{cs}"));
            assert_eq!(h.colour_space, cs);
        }
    }

    #[test]
    fn rejected_colour_spaces() {
        let rejected = [
            "C422",
            "C444",
            "C420p10",
            "Cmono",
            "C444alpha",
            "C",
            "C420JPEG",
        ];
        for cs in rejected {
            let err = header_err(&format!("YUV4MPEG2 W4 H4 {cs} XYSCSS=420JPEG"));
            assert_eq!(
                err,
                ContainerError::Y4mUnsupportedColourSpace {
                    tag: cs.to_string()
                }
            );
        }
        assert_eq!(
            header_err("YUV4MPEG2 W4 H4 C444").to_string(),
            "Y4M header: unsupported colour space 'C444' (flick reads 8-bit 4:2:0 only)"
        );
    }

    #[test]
    fn interlace_aspect_comments() {
        let h = header_ok(
            "YUV4MPEG2 W4 H4 F50:1 It A128:117 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=LIMITED X",
        );
        assert_eq!(h.interlace, b't');
        assert_eq!(h.aspect, (128, 117));
        assert_eq!(h.frame_rate, (50, 1));
        assert_eq!(h.comments, ["YSCSS=420MPEG2", "COLORRANGE=LIMITED", ""]);
        for c in [b'p', b'b', b'm', b'?'] {
            let h = header_ok(&format!("YUV4MPEG2 W4 H4 I{}", char::from(c)));
            assert_eq!(h.interlace, c);
        }
        assert_eq!(header_ok("YUV4MPEG2 W4 H4 A0:0").aspect, (0, 0));
        for bad in ["Ix", "I", "Ipp"] {
            assert!(matches!(
                header_err(&format!("YUV4MPEG2 W4 H4 {bad}")),
                ContainerError::Y4mInvalidTag { .. }
            ));
        }
        let err = header_err("YUV4MPEG2 W4 H4 A1:0");
        assert_eq!(
            err.to_string(),
            "Y4M header: invalid tag 'A1:0' at byte 16, expected A<num>:<den>, or A0:0 for unknown"
        );
    }

    #[test]
    fn bad_dimensions() {
        let range = |line: &str| header_err(line).to_string();
        assert_eq!(
            range("YUV4MPEG2 W0 H4"),
            "Y4M header: width 0 is out of range, VP8 allows 1..=16383"
        );
        assert_eq!(
            range("YUV4MPEG2 W99999 H4"),
            "Y4M header: width 99999 is out of range, VP8 allows 1..=16383"
        );
        assert_eq!(
            range("YUV4MPEG2 W4 H16384"),
            "Y4M header: height 16384 is out of range, VP8 allows 1..=16383"
        );
        assert_eq!(header_ok("YUV4MPEG2 W16383 H1").width, 16383);
        let err = header_err("YUV4MPEG2 W4 F25:1");
        assert_eq!(err, ContainerError::Y4mMissingTag { tag: 'H' });
        assert_eq!(err.to_string(), "Y4M header: missing height tag 'H'");
        assert_eq!(
            header_err("YUV4MPEG2 H4"),
            ContainerError::Y4mMissingTag { tag: 'W' }
        );
        assert_eq!(
            parse_y4m(b"YUV4MPEG2\n").unwrap_err(),
            ContainerError::Y4mMissingTag { tag: 'W' }
        );
        for bad in ["W", "W-4", "W+4", "W4x", "W99999999999999999999999"] {
            let err = header_err(&format!("YUV4MPEG2 {bad} H4"));
            assert_eq!(
                err,
                ContainerError::Y4mInvalidTag {
                    offset: 10,
                    tag: bad.to_string(),
                    expected: "W<number>"
                }
            );
        }
    }

    #[test]
    fn bad_frame_rates_and_tags() {
        let err = header_err("YUV4MPEG2 W4 H4 F25:0");
        assert_eq!(
            err.to_string(),
            "Y4M header: invalid tag 'F25:0' at byte 16, expected F<num>:<den> with a non-zero denominator"
        );
        for bad in ["F25", "F:1", "F25:", "F1:2:3", "F4294967296:1"] {
            assert!(matches!(
                header_err(&format!("YUV4MPEG2 W4 H4 {bad}")),
                ContainerError::Y4mInvalidTag { .. }
            ));
        }
        assert_eq!(
            header_err("YUV4MPEG2 W4  H4"),
            ContainerError::Y4mEmptyTag { offset: 13 }
        );
        assert_eq!(
            header_err("YUV4MPEG2 W4 H4 "),
            ContainerError::Y4mEmptyTag { offset: 16 }
        );
        assert!(matches!(
            header_err("YUV4MPEG2 W4 H4 #junk"),
            ContainerError::Y4mInvalidTag { offset: 16, .. }
        ));
    }

    #[test]
    fn bad_signature_and_header_line() {
        let not_y4m = [
            &b""[..],
            b"YUV4",
            b"YUV4MPEG W4\n",
            b"YUV4MPEG2W4\n",
            b"RIFF1",
        ];
        for data in not_y4m {
            assert!(matches!(
                parse_y4m(data).unwrap_err(),
                ContainerError::Y4mSignature { .. }
            ));
        }
        assert_eq!(
            parse_y4m(b"RIFF\x00\x01").unwrap_err().to_string(),
            "Y4M header: file does not start with 'YUV4MPEG2 ' (found 'RIFF\\x00\\x01')"
        );
        assert_eq!(
            parse_y4m(b"YUV4MPEG2 W4 H4").unwrap_err(),
            ContainerError::Y4mHeaderUnterminated { available: 15 }
        );
        let mut long = Vec::from(&b"YUV4MPEG2 W4 H4 X"[..]);
        long.resize(Y4M_MAX_HEADER_LINE + 10, b'a');
        long.push(b'\n');
        assert_eq!(
            parse_y4m(&long).unwrap_err(),
            ContainerError::Y4mHeaderTooLong { limit: 4096 }
        );
        // Just under the limit is fine.
        long.truncate(Y4M_MAX_HEADER_LINE - 1);
        long.push(b'\n');
        assert_eq!(parse_y4m(&long).unwrap().0.comments[0].len(), 4096 - 18);
    }

    #[test]
    fn truncated_last_frame() {
        let header = Y4mHeader::new(176, 144, (30, 1));
        let data = file(&header, 4);
        let header_len = b"YUV4MPEG2 W176 H144 F30:1 Ip A1:1 C420jpeg\n".len();
        let frame_len = 6 + 38016;
        let cut = &data[..data.len() - 37016];
        let (_, mut frames) = parse_y4m(cut).unwrap();
        for _ in 0..3 {
            assert!(frames.next().unwrap().is_ok());
        }
        let err = frames.next().unwrap().unwrap_err();
        let offset = header_len + 3 * frame_len;
        assert_eq!(
            err,
            ContainerError::Y4mFrameTruncated {
                index: 3,
                offset,
                needed: 38016,
                available: 1000
            }
        );
        assert_eq!(
            err.to_string(),
            format!("Y4M frame 3 at byte {offset}: truncated, needs 38016 bytes, 1000 remain")
        );
        assert!(frames.next().is_none());
        assert!(frames.next().is_none());
    }

    #[test]
    fn damaged_frame_lines() {
        let header = Y4mHeader::new(2, 2, (1, 1));
        let good = file(&header, 1);
        let frame_at = good.len() - 12;
        assert_eq!(&good[frame_at..frame_at + 6], b"FRAME\n");

        // Cut inside the marker: an unterminated line, not a wrong marker.
        let (_, mut frames) = parse_y4m(&good[..frame_at + 3]).unwrap();
        assert_eq!(
            frames.next().unwrap().unwrap_err(),
            ContainerError::Y4mFrameLineUnterminated {
                index: 0,
                offset: frame_at,
                scanned: 3
            }
        );

        let mut bad = good.clone();
        bad[frame_at + 5] = b'X';
        let (_, mut frames) = parse_y4m(&bad).unwrap();
        let err = frames.next().unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Y4M frame 0 at byte {frame_at}: expected 'FRAME', found 'FRAMEX'")
        );
        assert!(frames.next().is_none());

        // Trailing garbage after the last whole frame is reported with the next index.
        let mut trailing = good.clone();
        trailing.push(b'\n');
        let (_, frames) = parse_y4m(&trailing).unwrap();
        let items: Vec<_> = frames.collect();
        assert_eq!(items.len(), 2);
        assert!(matches!(
            items[1],
            Err(ContainerError::Y4mFrameMarker { index: 1, .. })
        ));

        // FRAME parameters are skipped, but a FRAME line without a newline is bounded.
        let mut params = good[..frame_at].to_vec();
        params.extend_from_slice(b"FRAME Ixyz\n");
        params.extend_from_slice(&good[frame_at + 6..]);
        let (_, frames) = parse_y4m(&params).unwrap();
        assert_eq!(frames.map(Result::unwrap).count(), 1);
        let mut endless = good[..frame_at].to_vec();
        endless.extend_from_slice(b"FRAME ");
        endless.resize(endless.len() + 5000, b'a');
        let (_, mut frames) = parse_y4m(&endless).unwrap();
        assert_eq!(
            frames.next().unwrap().unwrap_err(),
            ContainerError::Y4mFrameLineUnterminated {
                index: 0,
                offset: frame_at,
                scanned: Y4M_MAX_FRAME_LINE
            }
        );
    }

    #[test]
    fn odd_sizes() {
        let header = Y4mHeader::new(33, 17, (5, 1));
        assert_eq!(header.chroma_size(), (17, 9));
        let data = file(&header, 2);
        let (_, frames) = parse_y4m(&data).unwrap();
        for f in frames {
            let f = f.unwrap();
            assert_eq!((f.y.len(), f.u.len(), f.v.len()), (33 * 17, 17 * 9, 17 * 9));
        }
        assert_eq!(Y4mHeader::new(1, 1, (1, 1)).frame_len(), Some(3));
    }

    #[test]
    fn writer_keeps_lines_parseable() {
        let mut h = Y4mHeader::new(4, 4, (1, 1));
        h.interlace = b'\n';
        h.colour_space = String::new();
        h.comments = vec!["two words".to_string(), "new\nline".to_string()];
        let mut out = Vec::new();
        write_y4m_header(&mut out, &h);
        assert_eq!(out, b"YUV4MPEG2 W4 H4 F1:1 I? A1:1 Xtwo_words Xnew_line\n");
        let (back, _) = parse_y4m(&out).unwrap();
        assert_eq!(back.colour_space, "420jpeg");
        assert_eq!(back.comments, ["two_words", "new_line"]);
    }

    #[test]
    fn ffmpeg_output() {
        use std::process::{Command, Stdio};
        let run = Command::new("ffmpeg")
            .args(
                "-v error -nostdin -f lavfi -i testsrc=size=33x17:rate=5 -frames:v 3 \
                 -pix_fmt yuv420p -f yuv4mpegpipe -"
                    .split_whitespace(),
            )
            .stdin(Stdio::null())
            .output();
        let output = match run {
            Ok(output) => output,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::println!("note: ffmpeg not on PATH, skipping the ffmpeg Y4M test");
                return;
            }
            Err(e) => panic!("running ffmpeg: {e}"),
        };
        assert!(
            output.status.success(),
            "ffmpeg failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let (header, frames) = parse_y4m(&output.stdout).unwrap();
        assert_eq!((header.width, header.height), (33, 17));
        assert_eq!(header.frame_rate, (5, 1));
        assert_eq!(header.interlace, b'p');
        assert_eq!(header.colour_space, "420jpeg");
        let frames: Vec<_> = frames.map(Result::unwrap).collect();
        assert_eq!(frames.len(), 3);
        for f in &frames {
            assert_eq!((f.y.len(), f.u.len(), f.v.len()), (561, 153, 153));
        }
        // testsrc moves, so consecutive frames differ.
        assert_ne!(frames[0].y, frames[1].y);

        // Writing back what was read reproduces ffmpeg's bytes.
        let mut again = Vec::new();
        write_y4m_header(&mut again, &header);
        for f in &frames {
            write_y4m_frame(&mut again, f.y, f.u, f.v);
        }
        assert_eq!(again, output.stdout);
    }
}
