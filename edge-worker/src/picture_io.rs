//! Raw picture blobs: one picture as planar I420 at its display size (Y, then U, then V, rows
//! packed without padding; chroma planes are `ceil(w/2) x ceil(h/2)`), the layout Y4M and
//! `ffmpeg -pix_fmt yuv420p -f rawvideo` use for one frame.

use codec_core::Picture;
use serde::{Deserialize, Serialize};

use crate::error::TaskError;

/// The largest width or height VP8 codes (14-bit size fields, RFC 6386 §9.1).
pub const MAX_DIMENSION: u32 = 16383;

/// The display size of every picture of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PictureFormat {
    pub width: u32,
    pub height: u32,
}

impl PictureFormat {
    /// Checks that both dimensions are in `1..=16383`.
    ///
    /// # Errors
    ///
    /// [`TaskError::BadTask`] naming the size.
    pub fn validate(&self) -> Result<(), TaskError> {
        let ok = |d: u32| (1..=MAX_DIMENSION).contains(&d);
        if ok(self.width) && ok(self.height) {
            Ok(())
        } else {
            Err(TaskError::BadTask(format!(
                "picture size {}x{} is outside 1x1 ..= {MAX_DIMENSION}x{MAX_DIMENSION}",
                self.width, self.height
            )))
        }
    }

    /// Width and height of each chroma plane.
    pub fn chroma_size(&self) -> (usize, usize) {
        (
            self.width.div_ceil(2) as usize,
            self.height.div_ceil(2) as usize,
        )
    }

    /// Bytes in one I420 picture of this size (saturating, for sizes that fail
    /// [`Self::validate`] on 32-bit targets).
    pub fn i420_len(&self) -> usize {
        Picture::i420_len(self.width as usize, self.height as usize)
    }

    /// The picture that an I420 blob of this size holds, edge-extended to whole macroblocks
    /// as the encoder wants it.
    ///
    /// # Errors
    ///
    /// [`TaskError::BadTask`] for a size outside `1..=16383`, and
    /// [`TaskError::MalformedBlob`] when `bytes` is not exactly [`Self::i420_len`] long.
    pub fn picture_from_i420(&self, bytes: &[u8]) -> Result<Picture, TaskError> {
        self.validate()?;
        Picture::from_packed_i420(self.width as usize, self.height as usize, bytes).ok_or_else(
            || TaskError::MalformedBlob {
                input: "I420 picture".into(),
                reason: format!(
                    "{} bytes, but a {}x{} I420 picture is {} bytes",
                    bytes.len(),
                    self.width,
                    self.height,
                    self.i420_len()
                ),
            },
        )
    }

    /// Whether `picture`'s display size is this format's.
    pub fn matches(&self, picture: &Picture) -> bool {
        picture.display_width == self.width as usize
            && picture.display_height == self.height as usize
    }
}

/// The displayed part of `picture` as an I420 blob (the macroblock padding is dropped).
pub fn i420_from_picture(picture: &Picture) -> Vec<u8> {
    picture.to_i420()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(seed) >> 3) as u8)
            .collect()
    }

    #[test]
    fn odd_size_round_trip() {
        for (w, h) in [(33, 17), (1, 1), (16, 16), (17, 3)] {
            let format = PictureFormat {
                width: w,
                height: h,
            };
            let bytes = pattern(format.i420_len(), 2_654_435_761);
            let picture = format.picture_from_i420(&bytes).unwrap();
            assert!(format.matches(&picture));
            assert_eq!(picture.y.width % 16, 0);
            assert_eq!(i420_from_picture(&picture), bytes, "{w}x{h}");
        }
        let format = PictureFormat {
            width: 33,
            height: 17,
        };
        assert_eq!(format.i420_len(), 33 * 17 + 2 * 17 * 9);
    }

    #[test]
    fn wrong_length_and_absurd_sizes_are_rejected() {
        let format = PictureFormat {
            width: 33,
            height: 17,
        };
        let short = vec![0; format.i420_len() - 1];
        let err = format.picture_from_i420(&short).unwrap_err();
        assert!(matches!(err, TaskError::MalformedBlob { .. }), "{err}");
        let long = vec![0; format.i420_len() + 1];
        assert!(format.picture_from_i420(&long).is_err());
        for (w, h) in [(0, 16), (16, 0), (16384, 16), (u32::MAX, u32::MAX)] {
            let format = PictureFormat {
                width: w,
                height: h,
            };
            let err = format.picture_from_i420(&[]).unwrap_err();
            assert!(matches!(err, TaskError::BadTask(_)), "{w}x{h}: {err}");
        }
    }
}
