//! Chunk stream blobs: the compressed frames of one chunk in a minimal container, each with
//! the picture it codes.
//!
//! Layout, all integers little-endian:
//!
//! ```text
//! magic   8 bytes   "FLKCHNK2"
//! count   u32       number of frames
//! count times:
//!   source u32      which of the chunk's pictures the frame codes, from 0 in display order
//!   len    u32      frame length in bytes
//!   data   len bytes one VP8 frame, as it would go into an IVF frame record
//! ```
//!
//! Frames come in stream order. A shown frame codes the next picture not yet shown; a hidden
//! frame (an altref frame, RFC 6386 §9.1) codes a later picture ahead of its turn, which the
//! frame alone does not say, so the stream carries every frame's source: rebasing a frame
//! needs the picture it was made from; a long-term reference frame carries
//! [`LONG_TERM_SOURCE`] instead. Nothing may follow the last frame. Unlike IVF it has
//! no header fields to keep consistent (size, rate, timestamps): those belong to the job, not
//! to a chunk.

use crate::error::TaskError;

/// The source of a chunk stream's long-term reference frame
/// ([`crate::LongTermLink`]): it codes a picture beyond the chunk's, made once for the whole
/// batch and the same in every chunk, so a rebase keeps every coefficient of it
/// ([`codec_core::retoken`]) instead of coding it again from a picture.
pub const LONG_TERM_SOURCE: u32 = u32::MAX;

/// The first eight bytes of every chunk stream (version 2: a source per frame).
pub const CHUNK_MAGIC: &[u8; 8] = b"FLKCHNK2";

/// Bytes before each frame's data: its source and its length.
const FRAME_HEADER: usize = 8;

/// One frame of a chunk stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkFrame<'a> {
    /// The chunk picture the frame codes: its index in display order, from 0.
    pub source: u32,
    pub data: &'a [u8],
}

impl ChunkFrame<'_> {
    /// Whether a decoder shows the frame (RFC 6386 §9.1: bit 4 of the tag); an empty frame
    /// shows nothing.
    pub fn shown(&self) -> bool {
        self.data.first().is_some_and(|tag| tag & 0x10 != 0)
    }
}

/// Packs frames into a chunk stream.
///
/// # Panics
///
/// When there are more than `u32::MAX` frames or a frame is longer than `u32::MAX` bytes,
/// which no VP8 frame is (its first partition size has 19 bits).
pub fn pack_frames(frames: &[ChunkFrame<'_>]) -> Vec<u8> {
    let body: usize = frames.iter().map(|f| FRAME_HEADER + f.data.len()).sum();
    let mut out = Vec::with_capacity(CHUNK_MAGIC.len() + 4 + body);
    out.extend_from_slice(CHUNK_MAGIC);
    let count = u32::try_from(frames.len()).expect("at most u32::MAX frames in a chunk");
    out.extend_from_slice(&count.to_le_bytes());
    for frame in frames {
        let len = u32::try_from(frame.data.len()).expect("a VP8 frame is shorter than 4 GiB");
        out.extend_from_slice(&frame.source.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(frame.data);
    }
    out
}

/// Packs frames that code the chunk's pictures one each, in order, all shown.
pub fn pack_shown_frames<F: AsRef<[u8]>>(frames: &[F]) -> Vec<u8> {
    let frames: Vec<ChunkFrame<'_>> = (0u32..)
        .zip(frames)
        .map(|(source, data)| ChunkFrame {
            source,
            data: data.as_ref(),
        })
        .collect();
    pack_frames(&frames)
}

/// The frames of a chunk stream, borrowed from it.
///
/// # Errors
///
/// [`TaskError::MalformedBlob`] naming the byte offset where the stream stops making sense:
/// bad magic, a count or length that runs past the end, or bytes after the last frame.
pub fn unpack_frames(stream: &[u8]) -> Result<Vec<ChunkFrame<'_>>, TaskError> {
    let malformed = |reason: String| TaskError::MalformedBlob {
        input: "chunk stream".into(),
        reason,
    };
    let header = CHUNK_MAGIC.len() + 4;
    if stream.len() < header || &stream[..CHUNK_MAGIC.len()] != CHUNK_MAGIC {
        return Err(malformed(format!(
            "not a chunk stream: it does not start with {:?} and a frame count",
            String::from_utf8_lossy(CHUNK_MAGIC)
        )));
    }
    let count = read_u32(stream, CHUNK_MAGIC.len()) as usize;
    // Every frame takes at least its 8-byte header, so a count that cannot fit is rejected
    // before anything is allocated from it.
    let room = (stream.len() - header) / FRAME_HEADER;
    if count > room {
        return Err(malformed(format!(
            "frame count {count} cannot fit in the {} bytes after the header",
            stream.len() - header
        )));
    }
    let mut frames = Vec::with_capacity(count);
    let mut at = header;
    for index in 0..count {
        if stream.len() - at < FRAME_HEADER {
            return Err(malformed(format!(
                "frame {index}: source and length fields at byte {at} run past the end \
                 ({} bytes)",
                stream.len()
            )));
        }
        let source = read_u32(stream, at);
        let len = read_u32(stream, at + 4) as usize;
        at += FRAME_HEADER;
        if stream.len() - at < len {
            return Err(malformed(format!(
                "frame {index}: {len} bytes at byte {at} run past the end ({} bytes)",
                stream.len()
            )));
        }
        frames.push(ChunkFrame {
            source,
            data: &stream[at..at + len],
        });
        at += len;
    }
    if at != stream.len() {
        return Err(malformed(format!(
            "{} unexpected bytes after the last of {count} frames, at byte {at}",
            stream.len() - at
        )));
    }
    Ok(frames)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: [(u32, &[u8]); 3] = [(2, &[1, 2, 3]), (0, &[]), (1, &[9; 300])];

    fn sample() -> Vec<ChunkFrame<'static>> {
        SAMPLE
            .iter()
            .map(|&(source, data)| ChunkFrame { source, data })
            .collect()
    }

    #[test]
    fn round_trip() {
        let frames = sample();
        let packed = pack_frames(&frames);
        assert_eq!(&packed[..8], b"FLKCHNK2");
        assert_eq!(packed.len(), 12 + 3 * 8 + 303);
        assert_eq!(unpack_frames(&packed).unwrap(), frames);
        assert!(unpack_frames(&pack_frames(&[])).unwrap().is_empty());

        let packed = pack_shown_frames(&[vec![0x10], vec![0x11]]);
        let shown = unpack_frames(&packed).unwrap();
        assert_eq!(
            shown
                .iter()
                .map(|f| (f.source, f.shown()))
                .collect::<Vec<_>>(),
            [(0, true), (1, true)]
        );
        let hidden = ChunkFrame {
            source: 0,
            data: &[0x01],
        };
        assert!(!hidden.shown());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let packed = pack_frames(&sample());
        for len in 0..packed.len() {
            let err = unpack_frames(&packed[..len]).unwrap_err();
            assert!(
                matches!(err, TaskError::MalformedBlob { .. }),
                "{len}: {err}"
            );
        }
    }

    #[test]
    fn corrupt_headers_are_errors() {
        let packed = pack_frames(&sample());

        let mut bad_magic = packed.clone();
        bad_magic[0] = b'X';
        assert!(unpack_frames(&bad_magic).is_err());
        // A stream of the first version (no sources) is refused, not misread.
        let mut first_version = packed.clone();
        first_version[..8].copy_from_slice(b"FLKCHUNK");
        assert!(unpack_frames(&first_version).is_err());

        // A huge count must be refused without trying to reserve room for it.
        let mut huge_count = packed.clone();
        huge_count[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = unpack_frames(&huge_count).unwrap_err();
        assert!(err.to_string().contains("cannot fit"), "{err}");

        let mut huge_len = packed.clone();
        huge_len[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = unpack_frames(&huge_len).unwrap_err();
        assert!(err.to_string().contains("frame 0"), "{err}");

        let mut trailing = packed.clone();
        trailing.push(0);
        let err = unpack_frames(&trailing).unwrap_err();
        assert!(err.to_string().contains("unexpected bytes"), "{err}");

        let mut fewer = packed;
        fewer[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert!(unpack_frames(&fewer).is_err());
    }
}
