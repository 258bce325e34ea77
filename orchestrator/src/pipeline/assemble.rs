//! The output stream, built while the pipeline runs: each chunk's final stream, in chunk
//! order, as soon as it exists, is checked (every frame there, a keyframe where each batch
//! starts), written to the IVF file and decoded again, which checks that it plays and
//! measures it against its source pictures. A chunk handed over here needs nothing else from
//! the pipeline, so its pictures and stream can leave the blob store.

use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use codec_core::{DecoderState, metrics};
use edge_worker::{BlobId, PictureFormat, is_key_frame, unpack_frames};

use super::graph::Batch;
use super::summary::Quality;
use crate::ivf_writer::PartialIvf;
use crate::output::Sinks;

/// One chunk's final stream and its source pictures, with the ids they must hash to.
#[derive(Debug)]
pub struct ChunkOutput {
    pub chunk: usize,
    pub stream: (BlobId, Bytes),
    pub pictures: Vec<(BlobId, Bytes)>,
}

/// What the assembly made of the stream, once every chunk went through.
pub struct Assembled {
    /// The stream, whole but not yet renamed to its final name.
    pub ivf: PartialIvf,
    /// Frames written, hidden ones included.
    pub frames: usize,
    /// Bytes of frame data, without the IVF headers.
    pub payload: u64,
    pub quality: Quality,
    /// Keyframes beyond the batches' own: scene cuts.
    pub scene_cuts: usize,
    /// The decoder state after the last frame.
    pub state: DecoderState,
}

/// The output stream so far.
pub struct Assembler {
    ivf: PartialIvf,
    sinks: Sinks,
    format: PictureFormat,
    batch: Batch,
    next_chunk: usize,
    /// Frames written, hidden ones included.
    frames: usize,
    /// Frames written that a decoder shows.
    shown: usize,
    payload: u64,
    quality: Quality,
    scene_cuts: usize,
    state: DecoderState,
}

impl Assembler {
    /// An assembly into `ivf` (header written), handing shown pictures to `sinks`.
    pub fn new(ivf: PartialIvf, sinks: Sinks, format: PictureFormat, batch: Batch) -> Assembler {
        Assembler {
            ivf,
            sinks,
            format,
            batch,
            next_chunk: 0,
            frames: 0,
            shown: 0,
            payload: 0,
            quality: Quality::default(),
            scene_cuts: 0,
            state: DecoderState::new(),
        }
    }

    /// Appends the next chunk.
    ///
    /// # Errors
    ///
    /// When the chunk is out of order, a blob is not what its id says, the chunk holds the
    /// wrong number of frames, a batch does not start with a keyframe, a frame does not
    /// decode, or a file cannot be written.
    pub fn add(&mut self, output: ChunkOutput) -> Result<()> {
        let chunk = output.chunk;
        if chunk != self.next_chunk {
            bail!("chunk {chunk} came before chunk {}", self.next_chunk);
        }
        let (stream_id, stream) = &output.stream;
        check_blob(stream_id, stream, || {
            format!("chunk {chunk}'s final stream")
        })?;
        let frames = unpack_frames(stream)
            .map_err(|error| anyhow!("chunk {chunk}'s final stream: {error}"))?;
        let shown_frames = frames.iter().filter(|frame| frame.shown()).count();
        if shown_frames != output.pictures.len() {
            bail!(
                "chunk {chunk}'s final stream shows {shown_frames} frames, not its {}",
                output.pictures.len()
            );
        }
        let mut pictures = output.pictures.iter();
        for (position, frame) in frames.iter().enumerate() {
            let index = self.frames;
            let batch_start = position == 0 && self.batch.first_in_batch(chunk);
            match (batch_start, is_key_frame(frame.data)) {
                (true, false) => bail!(
                    "frame {index} starts batch {} but is not a keyframe",
                    self.batch_index(chunk)
                ),
                (false, true) => self.scene_cuts += 1,
                _ => {}
            }
            // A hidden frame takes the timestamp of the picture shown next, as the serial
            // encoder's and vpxenc's do.
            self.ivf.write_frame(self.shown as u64, frame.data)?;
            self.payload += frame.data.len() as u64;
            self.frames += 1;
            let (next, shown) = codec_core::decode(&self.state, frame.data).map_err(|error| {
                anyhow!("the encoded stream does not decode at frame {index}: {error}")
            })?;
            self.state = next;
            let Some(shown) = shown else {
                continue;
            };
            let picture_index = self.shown;
            self.shown += 1;
            let Some((picture_id, picture)) = pictures.next() else {
                bail!("chunk {chunk}'s frame {position} shows a picture it was not given");
            };
            self.sinks.write(index, &shown)?;
            check_blob(picture_id, picture, || format!("picture {picture_index}"))?;
            let source = self
                .format
                .picture_from_i420(picture)
                .map_err(|error| anyhow!("picture {picture_index}: {error}"))?;
            let sse = metrics::picture_sse(&source, &shown).iter().sum();
            let samples = metrics::picture_samples(&source, &shown).iter().sum();
            self.quality
                .add(metrics::psnr(sse, samples), metrics::ssim(&source, &shown));
        }
        self.next_chunk += 1;
        Ok(())
    }

    /// The batch of chunk `chunk`, for messages.
    fn batch_index(&self, chunk: usize) -> usize {
        match self.batch {
            Batch::Chunks(n) => chunk / n.max(1),
            Batch::Whole => 0,
        }
    }

    /// Flushes what was handed to the sinks and returns the whole stream.
    ///
    /// # Errors
    ///
    /// When the sinks cannot be written.
    pub fn finish(mut self) -> Result<Assembled> {
        self.sinks.finish()?;
        Ok(Assembled {
            ivf: self.ivf,
            frames: self.frames,
            payload: self.payload,
            quality: self.quality,
            scene_cuts: self.scene_cuts,
            state: self.state,
        })
    }
}

/// Blob bytes must hash to their id, wherever they were kept.
fn check_blob(id: &BlobId, bytes: &[u8], what: impl FnOnce() -> String) -> Result<()> {
    let actual = BlobId::of(bytes);
    if actual != *id {
        bail!(
            "{} should be blob {id} but its bytes hash to {actual}",
            what()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use edge_worker::pack_shown_frames;

    use super::*;

    const FORMAT: PictureFormat = PictureFormat {
        width: 16,
        height: 16,
    };

    fn blob(bytes: Vec<u8>) -> (BlobId, Bytes) {
        (BlobId::of(&bytes), Bytes::from(bytes))
    }

    fn assembler(dir: &tempfile::TempDir) -> Assembler {
        let header = codec_core::container::ivf::IvfHeader {
            fourcc: codec_core::container::ivf::VP8_FOURCC,
            width: 16,
            height: 16,
            timebase_denominator: 30,
            timebase_numerator: 1,
            frame_count: 0,
        };
        let ivf = PartialIvf::create(&dir.path().join("out.ivf"), header).unwrap();
        Assembler::new(ivf, Sinks::new(None, None), FORMAT, Batch::Chunks(2))
    }

    #[test]
    fn chunks_must_come_in_order_whole_and_opening_their_batches_with_keyframes() {
        let dir = tempfile::tempdir().unwrap();
        let inter: &[u8] = &[0x11, 0, 0];
        let picture = blob(vec![128; FORMAT.i420_len()]);
        let chunk = |chunk: usize, frames: &[&[u8]], pictures: usize| ChunkOutput {
            chunk,
            stream: blob(pack_shown_frames(
                &frames.iter().map(|f| f.to_vec()).collect::<Vec<_>>(),
            )),
            pictures: vec![picture.clone(); pictures],
        };

        let error = assembler(&dir).add(chunk(1, &[inter], 1)).unwrap_err();
        assert!(error.to_string().contains("before chunk 0"), "{error}");
        let error = assembler(&dir).add(chunk(0, &[inter], 2)).unwrap_err();
        assert!(
            error.to_string().contains("shows 1 frames, not its 2"),
            "{error}"
        );
        let error = assembler(&dir).add(chunk(0, &[inter], 1)).unwrap_err();
        assert!(
            error.to_string().contains("frame 0 starts batch 0"),
            "{error}"
        );
        let mut bad = chunk(0, &[inter], 1);
        bad.stream.1 = Bytes::from_static(b"other bytes");
        let error = assembler(&dir).add(bad).unwrap_err();
        assert!(error.to_string().contains("hash to"), "{error}");
    }
}
