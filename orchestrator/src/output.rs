//! Where decoded pictures go: a Y4M or raw I420 file, and MD5 lines on standard output.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use codec_core::Picture;
use codec_core::container::y4m::{Y4mHeader, write_y4m_frame, write_y4m_header};
use md5::{Digest, Md5};

use crate::OutputFormat;
use crate::stream::hex;

/// Everything a decode writes, one shown picture at a time.
pub struct Sinks {
    pictures: Option<PictureFile>,
    md5_lines: Option<Md5Lines>,
    /// The shown picture as I420, reused from frame to frame.
    i420: Vec<u8>,
}

impl Sinks {
    pub fn new(pictures: Option<PictureFile>, md5_lines: Option<Md5Lines>) -> Sinks {
        Sinks {
            pictures,
            md5_lines,
            i420: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pictures.is_none() && self.md5_lines.is_none()
    }

    /// Writes the picture that frame `index` (0-based, counting every frame) shows.
    pub fn write(&mut self, index: usize, picture: &Picture) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        self.i420.clear();
        picture.write_i420(&mut self.i420);
        if let Some(lines) = &mut self.md5_lines {
            lines.write(index, picture, &self.i420)?;
        }
        if let Some(file) = &mut self.pictures {
            file.write(index, picture, &self.i420)?;
        }
        Ok(())
    }

    /// Flushes everything written so far; called after errors too, so that the frames
    /// decoded before a corrupt one are kept.
    pub fn finish(&mut self) -> Result<()> {
        let md5 = self.md5_lines.as_mut().map_or(Ok(()), |lines| {
            lines.out.flush().context("cannot write to standard output")
        });
        let file = self.pictures.as_mut().map_or(Ok(()), |file| file.finish());
        md5.and(file)
    }
}

/// Shown frames as `<md5>  <name>-<W>x<H>-<NNNN>.i420`, the format vpxdec prints for
/// `--i420 --md5 -o <name>-%wx%h-%4.i420`: NNNN is the 1-based number of the input frame that
/// showed the picture, so a hidden frame leaves a gap, and a decode resumed at frame M numbers
/// its lines exactly as a full decode does.
pub struct Md5Lines {
    name: String,
    out: BufWriter<io::Stdout>,
}

impl Md5Lines {
    pub fn new(name: &str) -> Md5Lines {
        Md5Lines {
            name: name.to_owned(),
            out: BufWriter::new(io::stdout()),
        }
    }

    fn write(&mut self, index: usize, picture: &Picture, i420: &[u8]) -> Result<()> {
        let digest = Md5::digest(i420);
        writeln!(
            self.out,
            "{}  {}",
            hex(&digest),
            picture.i420_file_name(&self.name, index)
        )
        .context("cannot write to standard output")
    }
}

/// A Y4M or raw I420 output file (or standard output).
pub struct PictureFile {
    format: OutputFormat,
    frame_rate: (u32, u32),
    /// The size of the first picture written: Y4M cannot change size mid-stream.
    size: Option<(usize, usize)>,
    out: BufWriter<Box<dyn Write + Send>>,
    /// Bytes of one Y4M frame, reused.
    buffer: Vec<u8>,
    describe: String,
}

impl PictureFile {
    /// Opens `path` ("-" for standard output). The format comes from `format`, else from the
    /// name: `.yuv` and `.i420` are raw I420, anything else Y4M.
    pub fn create(
        path: &Path,
        format: Option<OutputFormat>,
        frame_rate: (u32, u32),
    ) -> Result<PictureFile> {
        let format = format.unwrap_or_else(|| match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("yuv") || e.eq_ignore_ascii_case("i420") => {
                OutputFormat::I420
            }
            _ => OutputFormat::Y4m,
        });
        let (out, describe): (Box<dyn Write + Send>, String) = if path.as_os_str() == "-" {
            (Box::new(io::stdout()), "standard output".to_owned())
        } else {
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            (Box::new(file), path.display().to_string())
        };
        Ok(PictureFile {
            format,
            frame_rate,
            size: None,
            out: BufWriter::with_capacity(1 << 20, out),
            buffer: Vec::new(),
            describe,
        })
    }

    fn write(&mut self, index: usize, picture: &Picture, i420: &[u8]) -> Result<()> {
        let size = (picture.display_width, picture.display_height);
        match (self.format, self.size) {
            (OutputFormat::Y4m, Some(first)) if first != size => bail!(
                "frame {index} is {}x{} but the Y4M output started at {}x{}; Y4M cannot change \
                 size mid-stream: write raw I420 (-o OUT.yuv) or use --frame-md5",
                size.0,
                size.1,
                first.0,
                first.1
            ),
            (OutputFormat::Y4m, None) => {
                self.buffer.clear();
                let header = Y4mHeader::new(size.0, size.1, self.frame_rate);
                write_y4m_header(&mut self.buffer, &header);
                self.out.write_all(&self.buffer)
            }
            _ => Ok(()),
        }
        .with_context(|| format!("cannot write to {}", self.describe))?;
        self.size = Some(size);
        let result = match self.format {
            OutputFormat::Y4m => {
                let luma = size.0 * size.1;
                let (cw, ch) = picture.chroma_display_size();
                let (y, chroma) = i420.split_at(luma);
                let (u, v) = chroma.split_at(cw * ch);
                self.buffer.clear();
                write_y4m_frame(&mut self.buffer, y, u, v);
                self.out.write_all(&self.buffer)
            }
            OutputFormat::I420 => self.out.write_all(i420),
        };
        result.with_context(|| format!("cannot write to {}", self.describe))
    }

    fn finish(&mut self) -> Result<()> {
        self.out
            .flush()
            .with_context(|| format!("cannot write to {}", self.describe))
    }
}
