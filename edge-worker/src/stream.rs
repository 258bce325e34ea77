//! Chunk stream blobs: the compressed frames of one chunk in a minimal container.
//!
//! Layout, all integers little-endian:
//!
//! ```text
//! magic   8 bytes   "FLKCHUNK"
//! count   u32       number of frames
//! count times:
//!   len   u32       frame length in bytes
//!   data  len bytes one VP8 frame, as it would go into an IVF frame record
//! ```
//!
//! Nothing may follow the last frame. Unlike IVF it has no header fields to keep consistent
//! (size, rate, timestamps): those belong to the job, not to a chunk.

use crate::error::TaskError;

/// The first eight bytes of every chunk stream.
pub const CHUNK_MAGIC: &[u8; 8] = b"FLKCHUNK";

/// Packs frames into a chunk stream.
///
/// # Panics
///
/// When there are more than `u32::MAX` frames or a frame is longer than `u32::MAX` bytes,
/// which no VP8 frame is (its first partition size has 19 bits).
pub fn pack_frames<F: AsRef<[u8]>>(frames: &[F]) -> Vec<u8> {
    let body: usize = frames.iter().map(|f| 4 + f.as_ref().len()).sum();
    let mut out = Vec::with_capacity(CHUNK_MAGIC.len() + 4 + body);
    out.extend_from_slice(CHUNK_MAGIC);
    let count = u32::try_from(frames.len()).expect("at most u32::MAX frames in a chunk");
    out.extend_from_slice(&count.to_le_bytes());
    for frame in frames {
        let frame = frame.as_ref();
        let len = u32::try_from(frame.len()).expect("a VP8 frame is shorter than 4 GiB");
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(frame);
    }
    out
}

/// The frames of a chunk stream, borrowed from it.
///
/// # Errors
///
/// [`TaskError::MalformedBlob`] naming the byte offset where the stream stops making sense:
/// bad magic, a count or length that runs past the end, or bytes after the last frame.
pub fn unpack_frames(stream: &[u8]) -> Result<Vec<&[u8]>, TaskError> {
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
    // Every frame takes at least its 4-byte length, so a count that cannot fit is rejected
    // before anything is allocated from it.
    let room = (stream.len() - header) / 4;
    if count > room {
        return Err(malformed(format!(
            "frame count {count} cannot fit in the {} bytes after the header",
            stream.len() - header
        )));
    }
    let mut frames = Vec::with_capacity(count);
    let mut at = header;
    for index in 0..count {
        if stream.len() - at < 4 {
            return Err(malformed(format!(
                "frame {index}: length field at byte {at} runs past the end ({} bytes)",
                stream.len()
            )));
        }
        let len = read_u32(stream, at) as usize;
        at += 4;
        if stream.len() - at < len {
            return Err(malformed(format!(
                "frame {index}: {len} bytes at byte {at} run past the end ({} bytes)",
                stream.len()
            )));
        }
        frames.push(&stream[at..at + len]);
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

    fn sample() -> Vec<Vec<u8>> {
        vec![vec![1, 2, 3], vec![], vec![9; 300]]
    }

    #[test]
    fn round_trip() {
        let frames = sample();
        let packed = pack_frames(&frames);
        assert_eq!(&packed[..8], b"FLKCHUNK");
        assert_eq!(packed.len(), 12 + 3 * 4 + 303);
        let unpacked = unpack_frames(&packed).unwrap();
        assert_eq!(
            unpacked,
            frames.iter().map(Vec::as_slice).collect::<Vec<_>>()
        );
        let empty: [&[u8]; 0] = [];
        assert!(unpack_frames(&pack_frames(&empty)).unwrap().is_empty());
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

        // A huge count must be refused without trying to reserve room for it.
        let mut huge_count = packed.clone();
        huge_count[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = unpack_frames(&huge_count).unwrap_err();
        assert!(err.to_string().contains("cannot fit"), "{err}");

        let mut huge_len = packed.clone();
        huge_len[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
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
