//! `flick encode`: Y4M pictures through `SequenceEncoder`, frames into an IVF file.
//!
//! The input is read one frame at a time, so a long video never sits in memory whole. The
//! output is written as `OUT.partial` and renamed to `OUT` only once every frame and the frame
//! count are in it: a file named `OUT` is always a complete stream.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use codec_core::container::ContainerError;
use codec_core::container::ivf::{
    IvfHeader, VP8_FOURCC, set_ivf_frame_count, write_ivf_frame, write_ivf_header,
};
use codec_core::container::y4m::{Y4M_MAX_FRAME_LINE, Y4M_MAX_HEADER_LINE, Y4mHeader, parse_y4m};
use codec_core::encoder::rate_control::RateMode;
use codec_core::encoder::sequence::{SequenceConfig, SequenceEncoder};
use codec_core::{DecoderState, EncodedFrame, Picture, metrics};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use md5::{Digest, Md5};

use crate::EncodeArgs;
use crate::decode::load_state;
use crate::stream::hex;

pub fn run(args: &EncodeArgs) -> Result<()> {
    if args.pipeline.chunk_frames.is_some() {
        return crate::pipeline::run(args);
    }
    if args.output.as_os_str() == "-" {
        bail!("-o -: the IVF output must be a file, since its frame count is written last");
    }
    let limit = args.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut source = Y4mSource::open(&args.input)?;
    let frame_rate = source.frame_rate();

    let state = args.state.as_deref().map(load_state).transpose()?;
    if let (Some(state), Some(path)) = (&state, &args.state) {
        check_state_size(state, path, &source)?;
    }
    let config = sequence_config(args, frame_rate);
    let mut encoder = match state {
        Some(state) => SequenceEncoder::from_state(state, config),
        None => SequenceEncoder::new(config),
    };

    let mut ivf = PartialIvf::create(&args.output, ivf_header(&source, frame_rate)?)?;
    let name = args
        .output
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "frame".to_owned());
    let mut md5_out = args.recon_md5.then(|| BufWriter::new(io::stdout()));
    // MD5 lines on the same terminal would tear the bar apart.
    let show_progress =
        io::stderr().is_terminal() && !(args.recon_md5 && io::stdout().is_terminal());
    let progress = progress_bar(show_progress, source.estimated_frames(limit), "frames");
    let mut summary = Summary::default();
    let started = Instant::now();

    while limit.is_none_or(|limit| summary.frames < limit) {
        let Some(picture) = source.next_picture()? else {
            break;
        };
        let index = summary.frames;
        let frame = encoder.encode_next(&picture).map_err(|error| {
            anyhow!(
                "cannot encode frame {index} of {}: {error}",
                source.describe
            )
        })?;
        ivf.write_frame(index as u64, &frame.data)?;
        if let Some(out) = &mut md5_out
            && shows_picture(&frame.data)
        {
            let digest = Md5::digest(frame.picture.to_i420());
            writeln!(
                out,
                "{}  {}",
                hex(&digest),
                frame.picture.i420_file_name(&name, index)
            )
            .context("cannot write to standard output")?;
        }
        summary.add(&picture, &frame);
        progress.set_message(format!(
            "{:.1} frames/s, {:.0} kb/s",
            summary.frames as f64 / started.elapsed().as_secs_f64().max(1e-9),
            summary.kilobits_per_second(frame_rate)
        ));
        progress.inc(1);
    }
    progress.finish_and_clear();
    if let Some(out) = &mut md5_out {
        out.flush().context("cannot write to standard output")?;
    }
    if summary.frames == 0 {
        bail!(
            "{} holds no frames (only a Y4M header): nothing to encode",
            source.describe
        );
    }

    if let Some(path) = &args.save_state {
        write_atomically(path, &encoder.state().to_bytes())?;
    }
    let file_bytes = ivf.finish(summary.frames)?;
    summary.report(&args.output, file_bytes, frame_rate, started.elapsed());
    Ok(())
}

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

/// The encoder's settings from the command line; what is not given keeps the default.
pub(crate) fn sequence_config(args: &EncodeArgs, frame_rate: (u32, u32)) -> SequenceConfig {
    let defaults = SequenceConfig::default();
    let rate = if let Some(ssim) = args.target_ssim {
        RateMode::TargetSsim { ssim }
    } else if let Some(kbps) = args.target_bitrate {
        RateMode::TargetBitrate { kbps }
    } else if let Some(cq_level) = args.cq_level {
        RateMode::ConstantQuality { cq_level }
    } else {
        defaults.rate
    };
    SequenceConfig {
        rate,
        frame_rate,
        keyframe_interval: args.keyframe_interval.unwrap_or(defaults.keyframe_interval),
        speed: args.speed.unwrap_or(defaults.speed),
        token_partitions_log2: args
            .token_partitions
            .unwrap_or(defaults.token_partitions_log2),
        golden_interval: args.golden_interval.unwrap_or(defaults.golden_interval),
        ..defaults
    }
}

/// An encode from a state continues that state's stream: the pictures must have its size.
fn check_state_size(state: &DecoderState, path: &Path, source: &Y4mSource) -> Result<()> {
    let Some(size) = state.size() else {
        bail!(
            "the state {} holds no frame yet (it was dumped before any keyframe); \
             encode without --state instead",
            path.display()
        );
    };
    let picture = (source.header.width, source.header.height);
    if (usize::from(size.width), usize::from(size.height)) != picture {
        bail!(
            "the state {} holds {}x{} pictures but {} is {}x{}; a stream continued from a state \
             keeps its size",
            path.display(),
            size.width,
            size.height,
            source.describe,
            picture.0,
            picture.1
        );
    }
    Ok(())
}

/// Whether a frame's tag says it is shown (RFC 6386 §9.1); an empty frame shows nothing.
fn shows_picture(frame: &[u8]) -> bool {
    frame.first().is_some_and(|tag| tag & 0x10 != 0)
}

/// A bar over `len` things called `unit` ("frames") on standard error, or a hidden one.
pub(crate) fn progress_bar(show: bool, len: Option<u64>, unit: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    let template = if len.is_some() {
        format!("{{elapsed_precise}} [{{wide_bar}}] {{pos}}/{{len}} {unit}, {{msg}}, ETA {{eta}}")
    } else {
        format!("{{elapsed_precise}} {{spinner}} {{pos}} {unit}, {{msg}}")
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// What the encode produced, for the closing line.
#[derive(Debug, Default)]
struct Summary {
    frames: usize,
    key_frames: usize,
    /// Bytes of frame data, without the IVF headers.
    payload: u64,
    /// Per-frame PSNR and SSIM of the three planes together, summed.
    psnr_sum: f64,
    ssim_sum: f64,
}

impl Summary {
    fn add(&mut self, source: &Picture, frame: &EncodedFrame) {
        self.frames += 1;
        self.key_frames += usize::from(frame.stats.key_frame);
        self.payload += frame.data.len() as u64;
        // The encoder measured the squared error already; SSIM costs one more pass.
        let sse = frame.stats.sse.iter().sum();
        let samples = metrics::picture_samples(source, &frame.picture)
            .iter()
            .sum();
        self.psnr_sum += metrics::psnr(sse, samples);
        self.ssim_sum += metrics::ssim(source, &frame.picture);
    }

    fn kilobits_per_second(&self, frame_rate: (u32, u32)) -> f64 {
        let seconds = self.frames as f64 * f64::from(frame_rate.1) / f64::from(frame_rate.0);
        self.payload as f64 * 8.0 / 1000.0 / seconds.max(1e-9)
    }

    fn report(&self, output: &Path, file_bytes: u64, frame_rate: (u32, u32), elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let _ = writeln!(
            io::stderr(),
            "{}: encoded {} frames ({} keyframe{}), {file_bytes} bytes, {:.1} kb/s at {}/{} fps, \
             average PSNR {:.2} dB, SSIM {:.4}, in {seconds:.2} s ({:.1} frames/s)",
            output.display(),
            self.frames,
            self.key_frames,
            if self.key_frames == 1 { "" } else { "s" },
            self.kilobits_per_second(frame_rate),
            frame_rate.0,
            frame_rate.1,
            self.psnr_sum / self.frames.max(1) as f64,
            self.ssim_sum / self.frames.max(1) as f64,
            self.frames as f64 / seconds.max(1e-9),
        );
    }
}

/// A Y4M file read one frame at a time. Each frame is checked by codec-core's own Y4M reader
/// (given the header line and that one frame), so the rules and messages are the same as for
/// a file in memory.
pub(crate) struct Y4mSource {
    reader: Box<dyn BufRead>,
    /// The file name, or "standard input".
    pub(crate) describe: String,
    pub(crate) header: Y4mHeader,
    header_len: usize,
    /// The file's size, when known, to estimate the frame count.
    file_len: Option<u64>,
    /// The header line, then the frame being read.
    buffer: Vec<u8>,
    /// Byte offset in the file of the next frame, and its index.
    offset: usize,
    index: usize,
}

impl Y4mSource {
    pub(crate) fn open(path: &Path) -> Result<Y4mSource> {
        let (reader, describe, file_len): (Box<dyn Read>, String, Option<u64>) =
            if path.as_os_str() == "-" {
                (Box::new(io::stdin()), "standard input".to_owned(), None)
            } else {
                let file =
                    File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
                let len = file.metadata().ok().map(|m| m.len());
                (Box::new(file), path.display().to_string(), len)
            };
        let mut reader: Box<dyn BufRead> = Box::new(BufReader::with_capacity(1 << 20, reader));
        let mut buffer = Vec::new();
        // One byte past the limit, so that the reader can tell "too long" from "cut short".
        (&mut reader)
            .take(Y4M_MAX_HEADER_LINE as u64 + 1)
            .read_until(b'\n', &mut buffer)
            .with_context(|| format!("cannot read {describe}"))?;
        let (header, _) =
            parse_y4m(&buffer).with_context(|| format!("{describe} is not a readable Y4M file"))?;
        Ok(Y4mSource {
            reader,
            describe,
            header_len: buffer.len(),
            header,
            file_len,
            buffer,
            offset: 0,
            index: 0,
        })
    }

    /// The Y4M frame rate, or 30:1 (with a warning) when it says 0.
    pub(crate) fn frame_rate(&self) -> (u32, u32) {
        match self.header.frame_rate {
            (0, _) | (_, 0) => {
                let _ = writeln!(
                    io::stderr(),
                    "flick: warning: {} declares a frame rate of 0; using 30 frames/s",
                    self.describe
                );
                (30, 1)
            }
            rate => rate,
        }
    }

    /// How many frames the file holds, assuming bare "FRAME" lines; `None` when unknown.
    fn estimated_frames(&self, limit: Option<usize>) -> Option<u64> {
        let frame_len = self.header.frame_len()? as u64 + b"FRAME\n".len() as u64;
        let estimate = self
            .file_len
            .map(|len| len.saturating_sub(self.header_len as u64) / frame_len);
        match (estimate, limit) {
            (Some(frames), Some(limit)) => Some(frames.min(limit as u64)),
            (Some(frames), None) => Some(frames),
            (None, limit) => limit.map(|l| l as u64),
        }
    }

    /// The next picture, `None` at the end of the file.
    pub(crate) fn next_picture(&mut self) -> Result<Option<Picture>> {
        self.buffer.truncate(self.header_len);
        let start = self.buffer.len();
        (&mut self.reader)
            .take(Y4M_MAX_FRAME_LINE as u64)
            .read_until(b'\n', &mut self.buffer)
            .with_context(|| format!("cannot read {}", self.describe))?;
        if self.buffer.len() == start {
            return Ok(None);
        }
        if self.buffer.ends_with(b"\n") {
            let planes = self.header.frame_len().unwrap_or(0) as u64;
            (&mut self.reader)
                .take(planes)
                .read_to_end(&mut self.buffer)
                .with_context(|| format!("cannot read {}", self.describe))?;
        }
        let (header, mut frames) = parse_y4m(&self.buffer).expect("header was checked in open");
        let frame = match frames.next() {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => {
                let error = relocate(error, self.index, self.offset + self.header_len);
                return Err(anyhow!("{}: {error}", self.describe));
            }
            None => unreachable!("a frame line was read"),
        };
        self.offset += self.buffer.len() - self.header_len;
        self.index += 1;
        Ok(Some(Picture::from_i420(
            header.width,
            header.height,
            frame.y,
            frame.u,
            frame.v,
        )))
    }
}

/// A frame error from parsing one frame alone, with the frame's true index and offset.
fn relocate(error: ContainerError, index: usize, offset: usize) -> ContainerError {
    match error {
        ContainerError::Y4mFrameMarker { found, .. } => ContainerError::Y4mFrameMarker {
            index,
            offset,
            found,
        },
        ContainerError::Y4mFrameLineUnterminated { scanned, .. } => {
            ContainerError::Y4mFrameLineUnterminated {
                index,
                offset,
                scanned,
            }
        }
        ContainerError::Y4mFrameTruncated {
            needed, available, ..
        } => ContainerError::Y4mFrameTruncated {
            index,
            offset,
            needed,
            available,
        },
        other => other,
    }
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

/// `dir/name.ivf` -> `dir/name.ivf.partial`.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Writes `bytes` to `path` through `path.partial`, so that `path` is whole or absent.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = partial_path(path);
    let written = fs::write(&partial, bytes)
        .with_context(|| format!("cannot write {}", partial.display()))
        .and_then(|()| {
            fs::rename(&partial, path).with_context(|| {
                format!("cannot rename {} to {}", partial.display(), path.display())
            })
        });
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_path_appends_a_suffix() {
        assert_eq!(
            partial_path(Path::new("out/clip.ivf")),
            PathBuf::from("out/clip.ivf.partial")
        );
    }

    #[test]
    fn shown_bit_of_the_frame_tag() {
        assert!(shows_picture(&[0x10, 0, 0]));
        assert!(!shows_picture(&[0x00, 0, 0]));
        assert!(!shows_picture(&[]));
    }

    /// `flick encode --help` states these defaults.
    #[test]
    fn help_states_the_sequence_defaults() {
        let defaults = SequenceConfig::default();
        assert_eq!(defaults.rate, RateMode::ConstantQuality { cq_level: 32 });
        assert_eq!(defaults.keyframe_interval, 120);
        assert_eq!(defaults.golden_interval, 16);
        assert_eq!(defaults.speed, 4);
        assert_eq!(defaults.token_partitions_log2, 0);
    }

    #[test]
    fn relocate_names_the_frame_in_the_file() {
        let error = ContainerError::Y4mFrameTruncated {
            index: 0,
            offset: 40,
            needed: 100,
            available: 7,
        };
        assert_eq!(
            relocate(error, 3, 1000),
            ContainerError::Y4mFrameTruncated {
                index: 3,
                offset: 1000,
                needed: 100,
                available: 7
            }
        );
    }
}
