//! Decoded pictures: three 8-bit planes covering whole macroblocks, plus the display size.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// One 8-bit sample plane. `stride == width`; the size covers whole macroblocks.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub stride: usize,
    /// Serialized as one byte string: in bincode the same bytes as a sequence of `u8`,
    /// written and read in one copy rather than sample by sample.
    #[serde(with = "byte_string")]
    pub data: Vec<u8>,
}

/// `Vec<u8>` as a serde byte string. Reading asks for borrowed bytes, so with a borrowing
/// deserializer (the state loader uses one) a corrupt length can never make it allocate more
/// than the input holds; deserializers that hand over a sequence instead are read element by
/// element with serde's cautious preallocation.
pub(crate) mod byte_string {
    use alloc::vec::Vec;
    use core::fmt;
    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_bytes(Bytes)
    }

    struct Bytes;

    impl<'de> Visitor<'de> for Bytes {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Vec<u8>, E> {
            Ok(bytes.to_vec())
        }

        fn visit_byte_buf<E>(self, bytes: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(bytes)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(byte) = seq.next_element()? {
                bytes.push(byte);
            }
            Ok(bytes)
        }
    }
}

impl Plane {
    pub fn new(width: usize, height: usize) -> Self {
        Plane {
            width,
            height,
            stride: width,
            data: vec![0; width * height],
        }
    }

    /// The sample at (x, y) with coordinates clamped into the plane: the edge extension
    /// that motion vectors pointing outside the picture see (RFC 6386 §18.1).
    #[inline]
    pub fn clamped(&self, x: isize, y: isize) -> u8 {
        let x = x.clamp(0, self.width as isize - 1) as usize;
        let y = y.clamp(0, self.height as isize - 1) as usize;
        self.data[y * self.stride + x]
    }

    /// Appends the top-left `width` x `height` samples, row by row.
    pub fn write_cropped(&self, width: usize, height: usize, out: &mut Vec<u8>) {
        for row in self.data.chunks(self.stride).take(height) {
            out.extend_from_slice(&row[..width]);
        }
    }
}

impl core::fmt::Debug for Plane {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Plane({}x{})", self.width, self.height)
    }
}

/// A picture as the decoder reconstructs it: luma and two half-size chroma planes whose
/// sizes are whole macroblocks, and the display size the frame header declared.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Picture {
    pub display_width: usize,
    pub display_height: usize,
    pub y: Plane,
    pub u: Plane,
    pub v: Plane,
}

impl Picture {
    /// A black-initialised picture able to hold `width` x `height`, rounded up to macroblocks.
    pub fn new(width: usize, height: usize) -> Self {
        let mb_cols = width.div_ceil(16);
        let mb_rows = height.div_ceil(16);
        Picture {
            display_width: width,
            display_height: height,
            y: Plane::new(mb_cols * 16, mb_rows * 16),
            u: Plane::new(mb_cols * 8, mb_rows * 8),
            v: Plane::new(mb_cols * 8, mb_rows * 8),
        }
    }

    /// A picture from display-size I420 planes (as read from Y4M), edge-extended to whole
    /// macroblocks. `y` is `width*height`, `u` and `v` are `((width+1)/2)*((height+1)/2)`.
    pub fn from_i420(width: usize, height: usize, y: &[u8], u: &[u8], v: &[u8]) -> Self {
        let mut picture = Picture::new(width, height);
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        fill_extended(&mut picture.y, y, width, height);
        fill_extended(&mut picture.u, u, cw, ch);
        fill_extended(&mut picture.v, v, cw, ch);
        picture
    }

    /// Bytes of a packed display-size I420 picture: `width*height` of luma and two chroma
    /// planes of `ceil(width/2) x ceil(height/2)` (saturating, for absurd sizes).
    pub fn i420_len(width: usize, height: usize) -> usize {
        let chroma = width.div_ceil(2).saturating_mul(height.div_ceil(2));
        width
            .saturating_mul(height)
            .saturating_add(chroma.saturating_mul(2))
    }

    /// A picture from packed I420 bytes (Y, then U, then V, as [`Picture::to_i420`] writes
    /// them), edge-extended to whole macroblocks; `None` for an empty size or when `bytes`
    /// is not exactly [`Picture::i420_len`] long.
    pub fn from_packed_i420(width: usize, height: usize, bytes: &[u8]) -> Option<Self> {
        if width == 0 || height == 0 || bytes.len() != Self::i420_len(width, height) {
            return None;
        }
        let chroma = width.div_ceil(2) * height.div_ceil(2);
        let (y, rest) = bytes.split_at(width * height);
        let (u, v) = rest.split_at(chroma);
        Some(Picture::from_i420(width, height, y, u, v))
    }

    pub fn mb_cols(&self) -> usize {
        self.y.width / 16
    }

    pub fn mb_rows(&self) -> usize {
        self.y.height / 16
    }

    /// Width and height of the displayed chroma planes (rounded up for odd sizes).
    pub fn chroma_display_size(&self) -> (usize, usize) {
        (
            self.display_width.div_ceil(2),
            self.display_height.div_ceil(2),
        )
    }

    /// Appends the displayed picture as I420: Y, then U, then V, cropped to the display size.
    pub fn write_i420(&self, out: &mut Vec<u8>) {
        let (cw, ch) = self.chroma_display_size();
        out.reserve(self.display_width * self.display_height + 2 * cw * ch);
        self.y
            .write_cropped(self.display_width, self.display_height, out);
        self.u.write_cropped(cw, ch, out);
        self.v.write_cropped(cw, ch, out);
    }

    /// The displayed picture as I420 bytes.
    pub fn to_i420(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_i420(&mut out);
        out
    }

    /// `STREAM-WxH-NNNN.i420`: the name vpxdec's `--i420 -o STREAM-%wx%h-%4.i420` gives this
    /// picture when frame `index` (0-based, hidden frames counted) of `stream` shows it, and
    /// the name each line of a per-frame MD5 list carries.
    pub fn i420_file_name(&self, stream: &str, index: usize) -> String {
        alloc::format!(
            "{stream}-{}x{}-{:04}.i420",
            self.display_width,
            self.display_height,
            index + 1
        )
    }
}

fn fill_extended(plane: &mut Plane, src: &[u8], width: usize, height: usize) {
    for y in 0..plane.height {
        let src_row = &src[y.min(height - 1) * width..][..width];
        let row = &mut plane.data[y * plane.stride..][..plane.width];
        row[..width].copy_from_slice(src_row);
        let last = src_row[width - 1];
        row[width..].fill(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i420_round_trip_crops_to_display_size() {
        let (w, h) = (33, 17);
        let y: Vec<u8> = (0..w * h).map(|i| (i * 7) as u8).collect();
        let u: Vec<u8> = (0..17 * 9).map(|i| (i * 3) as u8).collect();
        let v: Vec<u8> = (0..17 * 9).map(|i| (i * 5) as u8).collect();
        let picture = Picture::from_i420(w, h, &y, &u, &v);
        assert_eq!((picture.y.width, picture.y.height), (48, 32));
        assert_eq!((picture.u.width, picture.u.height), (24, 16));
        let bytes = picture.to_i420();
        assert_eq!(bytes.len(), w * h + 2 * 17 * 9);
        assert_eq!(&bytes[..w * h], &y[..]);
        assert_eq!(&bytes[w * h..w * h + 153], &u[..]);
        assert_eq!(&bytes[w * h + 153..], &v[..]);
        // Extension repeats the last column and row.
        assert_eq!(picture.y.data[47], y[32]);
        assert_eq!(picture.y.data[31 * 48], y[16 * w]);
    }
}
