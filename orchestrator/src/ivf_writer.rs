//! The output of `flick encode`: an IVF file written as `OUT.partial` and renamed to `OUT` only
//! once every frame and the frame count are in it, so a file named `OUT` is always a complete
//! stream.

use std::fs::{self, File};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use codec_core::container::ivf::{
    IvfHeader, VP8_FOURCC, set_ivf_frame_count, write_ivf_frame, write_ivf_header,
};

use crate::atomic_write::partial_path;
use crate::y4m_source::Y4mSource;

/// The IVF header of a stream of `source`'s pictures; its frame count is patched last.
pub(crate) fn ivf_header(source: &Y4mSource, frame_rate: (u32, u32)) -> Result<IvfHeader> {
    let (width, height) = (source.header.width, source.header.height);
    Ok(IvfHeader {
        fourcc: VP8_FOURCC,
        // Y4M dimensions are at most 16383, so they fit.
        width: u16::try_from(width).context("picture too wide for IVF")?,
        height: u16::try_from(height).context("picture too tall for IVF")?,
        timebase_denominator: frame_rate.0,
        timebase_numerator: frame_rate.1,
        frame_count: 0,
    })
}

/// An IVF file being written as `OUT.partial`, renamed to `OUT` by `finish` and removed if
/// dropped before that.
pub(crate) struct PartialIvf {
    path: PathBuf,
    partial: PathBuf,
    out: Option<BufWriter<File>>,
    header: Vec<u8>,
    bytes: u64,
    frame: Vec<u8>,
    /// Set once renamed to the final name.
    done: bool,
}

impl PartialIvf {
    pub(crate) fn create(path: &Path, header: IvfHeader) -> Result<PartialIvf> {
        let partial = partial_path(path);
        let file = File::create(&partial)
            .with_context(|| format!("cannot create {}", partial.display()))?;
        let mut ivf = PartialIvf {
            path: path.to_owned(),
            partial,
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            header: Vec::new(),
            bytes: 0,
            frame: Vec::new(),
            done: false,
        };
        write_ivf_header(&mut ivf.header, &header);
        let header = ivf.header.clone();
        ivf.write(&header)?;
        Ok(ivf)
    }

    pub(crate) fn write_frame(&mut self, timestamp: u64, data: &[u8]) -> Result<()> {
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        write_ivf_frame(&mut frame, timestamp, data);
        let written = self.write(&frame);
        self.frame = frame;
        written
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let out = self.out.as_mut().expect("written before finish");
        out.write_all(bytes)
            .with_context(|| format!("cannot write {}", self.partial.display()))?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Writes the frame count into the header, then renames the file to its final name.
    /// Returns the file's size.
    pub(crate) fn finish(mut self, frames: usize) -> Result<u64> {
        let out = self.out.as_mut().expect("finished once");
        set_ivf_frame_count(&mut self.header, u32::try_from(frames).unwrap_or(u32::MAX));
        let patched = out
            .seek(SeekFrom::Start(0))
            .and_then(|_| out.write_all(&self.header))
            .and_then(|()| out.flush());
        patched.with_context(|| format!("cannot write {}", self.partial.display()))?;
        // Close the file before renaming it.
        self.out.take();
        fs::rename(&self.partial, &self.path).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.partial.display(),
                self.path.display()
            )
        })?;
        self.done = true;
        Ok(self.bytes)
    }
}

impl Drop for PartialIvf {
    fn drop(&mut self) {
        // Still here means the encode failed: leave no stream behind that looks whole.
        if !self.done {
            self.out.take();
            let _ = fs::remove_file(&self.partial);
        }
    }
}
