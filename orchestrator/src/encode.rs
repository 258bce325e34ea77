//! `flick encode`: Y4M pictures through `SequenceEncoder`, frames into an IVF file.
//!
//! The input is read one frame at a time ([`Y4mSource`]), so a long video never sits in memory
//! whole; the output is written through [`PartialIvf`], so a file named `OUT` is always a
//! complete stream.

use std::collections::VecDeque;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use codec_core::encoder::rate_control::RateMode;
use codec_core::encoder::sequence::{CodedFrame, SequenceConfig, SequenceEncoder};
use codec_core::{DecoderState, EncodedFrame, Picture, metrics};
use edge_worker::wire::InlinePolicy;
use md5::{Digest, Md5};

use crate::atomic_write::write_atomically;
use crate::backend::FaultPlan;
use crate::decode::load_state;
use crate::ivf_writer::{PartialIvf, ivf_header};
use crate::progress::progress_bar;
use crate::stream::hex;
use crate::y4m_source::Y4mSource;
use crate::{EncodeArgs, pipeline};

pub fn run(args: &EncodeArgs) -> Result<()> {
    if let Some(chunk_frames) = args.pipeline.chunk_frames {
        return crate::pipeline::run(&pipeline_config(args, chunk_frames));
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

    let ivf = PartialIvf::create(&args.output, ivf_header(&source, frame_rate)?)?;
    let name = args
        .output
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "frame".to_owned());
    // MD5 lines on the same terminal would tear the bar apart.
    let show_progress =
        io::stderr().is_terminal() && !(args.recon_md5 && io::stdout().is_terminal());
    let progress = progress_bar(show_progress, source.estimated_frames(limit), "frames");
    let mut out = Output {
        ivf,
        md5: args.recon_md5.then(|| BufWriter::new(io::stdout())),
        name,
        sources: VecDeque::new(),
        written: 0,
        summary: Summary::default(),
    };
    let started = Instant::now();

    let mut read = 0usize;
    while limit.is_none_or(|limit| read < limit) {
        let Some(picture) = source.next_picture()? else {
            break;
        };
        let picture = Arc::new(picture);
        out.sources.push_back(picture.clone());
        let coded = encoder.push(picture).map_err(|error| {
            anyhow!("cannot encode frame {read} of {}: {error}", source.describe)
        })?;
        read += 1;
        for frame in coded {
            out.emit(frame)?;
        }
        progress.set_message(format!(
            "{:.1} frames/s, {:.0} kb/s",
            out.summary.frames as f64 / started.elapsed().as_secs_f64().max(1e-9),
            out.summary.kilobits_per_second(frame_rate)
        ));
        progress.set_position(out.summary.frames as u64);
    }
    let coded = encoder.finish().map_err(|error| {
        anyhow!(
            "cannot encode the last {} frames of {}: {error}",
            encoder.pending(),
            source.describe
        )
    })?;
    for frame in coded {
        out.emit(frame)?;
    }
    progress.finish_and_clear();
    if let Some(md5) = &mut out.md5 {
        md5.flush().context("cannot write to standard output")?;
    }
    let Output {
        ivf,
        written,
        summary,
        ..
    } = out;
    if summary.frames == 0 {
        bail!(
            "{} holds no frames (only a Y4M header): nothing to encode",
            source.describe
        );
    }

    if let Some(path) = &args.save_state {
        write_atomically(path, &encoder.state().to_bytes())?;
    }
    let file_bytes = ivf.finish(written)?;
    summary.report(&args.output, file_bytes, frame_rate, started.elapsed());
    Ok(())
}

/// The encoder's settings from the command line; what is not given keeps the default.
fn sequence_config(args: &EncodeArgs, frame_rate: (u32, u32)) -> SequenceConfig {
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
        altref_interval: args.altref_interval.unwrap_or(defaults.altref_interval),
        ..defaults
    }
}

/// The parallel encoder's configuration from the command line.
fn pipeline_config(args: &EncodeArgs, chunk_frames: u32) -> pipeline::Config {
    let options = &args.pipeline;
    pipeline::Config {
        input: args.input.clone(),
        output: args.output.clone(),
        // The pipeline takes the frame rate from its input, and codes chunks without altref
        // groups unless told to.
        encoder: SequenceConfig {
            altref_interval: args
                .altref_interval
                .unwrap_or(edge_worker::CHUNK_ALTREF_INTERVAL),
            ..sequence_config(args, SequenceConfig::default().frame_rate)
        },
        limit: args.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        recon_md5: args.recon_md5,
        save_state: args.save_state.clone(),
        chunk_frames: chunk_frames as usize,
        batch: options.batch,
        long_term_chunks: options
            .long_term_chunks
            .unwrap_or(pipeline::LONG_TERM_CHUNKS) as usize,
        backend: options.backend,
        worker_wasm: options.worker_wasm.clone(),
        endpoints: options.endpoint.clone(),
        function: options.function.clone(),
        lambda_endpoint: options.lambda_endpoint.clone(),
        workers: match options.workers {
            Some(workers) => workers as usize,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
        store: options.store.clone(),
        s3_endpoint: options.s3_endpoint.clone(),
        inline: InlinePolicy::up_to(options.inline_limit),
        timeline: options.timeline.clone(),
        retries: options.retries,
        faults: options.inject_faults.map(|probability| FaultPlan {
            probability,
            seed: options.fault_seed,
        }),
        task_timeout: Some(options.task_timeout),
        straggler_factor: options.straggler_factor,
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

/// Where coded frames go: the IVF file, the MD5 lines of shown pictures, the summary.
struct Output {
    ivf: PartialIvf,
    md5: Option<BufWriter<io::Stdout>>,
    name: String,
    /// The pictures pushed whose shown frame has not come out yet, in order.
    sources: VecDeque<Arc<Picture>>,
    /// Frames written to the IVF file, hidden ones included.
    written: usize,
    summary: Summary,
}

impl Output {
    fn emit(&mut self, coded: CodedFrame) -> Result<()> {
        // A hidden frame takes the timestamp of the picture shown next, as vpxenc's do.
        let timestamp = self.summary.frames as u64;
        self.ivf.write_frame(timestamp, &coded.frame.data)?;
        self.written += 1;
        if !coded.shown {
            self.summary.payload += coded.frame.data.len() as u64;
            return Ok(());
        }
        let source = self
            .sources
            .pop_front()
            .context("internal error: the encoder showed more pictures than it was given")?;
        if let Some(out) = &mut self.md5
            && shows_picture(&coded.frame.data)
        {
            let digest = Md5::digest(coded.frame.picture.to_i420());
            writeln!(
                out,
                "{}  {}",
                hex(&digest),
                coded
                    .frame
                    .picture
                    .i420_file_name(&self.name, self.written - 1)
            )
            .context("cannot write to standard output")?;
        }
        self.summary.add(&source, &coded.frame);
        Ok(())
    }
}

/// Whether a frame's tag says it is shown (RFC 6386 §9.1); an empty frame shows nothing.
fn shows_picture(frame: &[u8]) -> bool {
    frame.first().is_some_and(|tag| tag & 0x10 != 0)
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(defaults.altref_interval, 16);
        assert_eq!(defaults.speed, 4);
        assert_eq!(defaults.token_partitions_log2, 0);
    }
}
