//! `flick encode --chunk-frames N`: the parallel encoder, ExCamera[N, x] (DESIGN.md §2-3).
//!
//! The whole video is read into an in-memory blob store (one raw I420 blob per picture), the
//! task graph is run on a backend's workers ([`scheduler`]), and the chunk streams are
//! concatenated into one IVF stream. Before the stream gets its name it is decoded once more,
//! which checks that it plays and measures its quality against the source.

mod backend;
mod graph;
mod scheduler;
mod summary;

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use codec_core::{DecoderState, metrics};
use edge_worker::{BlobId, Blobs, EncodeSettings, PictureFormat, is_key_frame, unpack_frames};

use crate::EncodeArgs;
use crate::atomic_write::write_atomically;
use crate::encode::sequence_config;
use crate::ivf_writer::{PartialIvf, ivf_header};
use crate::output::{Md5Lines, Sinks};
use crate::progress::progress_bar;
use crate::timeline::write_timeline;
use crate::y4m_source::Y4mSource;
pub use backend::BackendKind;
use graph::{Batch, ChunkGraph, Layout, parse_batch};
use scheduler::Schedule;
use summary::{Quality, RebaseQuality, Summary};

/// The parallel encoder's options; `--chunk-frames` turns it on.
#[derive(Args, Debug)]
#[command(next_help_heading = "Parallel encoding (ExCamera[N, x])")]
pub struct PipelineArgs {
    /// Encode in parallel: cut the video into chunks of N frames, encode every chunk on its
    /// own, then rebase each chunk onto the end of the one before it, so that a batch of X
    /// chunks keeps a single keyframe (see --batch). Not with --state, --keyframe-interval or
    /// --golden-interval: keyframes are where batches start (and at scene cuts), and every
    /// chunk's first frame refreshes golden.
    #[arg(
        long,
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..),
        conflicts_with_all = ["state", "keyframe_interval", "golden_interval"]
    )]
    pub chunk_frames: Option<u32>,

    /// Chunks per batch, each batch starting with a keyframe: a number (1 is plain chunked
    /// encoding, every chunk a keyframe) or `whole` (one keyframe for the whole video).
    #[arg(
        long,
        value_name = "X|whole",
        value_parser = parse_batch,
        default_value = "16",
        requires = "chunk_frames"
    )]
    pub batch: Batch,

    /// Tasks run at once; default: the number of CPUs.
    #[arg(
        long,
        value_name = "W",
        value_parser = clap::value_parser!(u32).range(1..),
        requires = "chunk_frames"
    )]
    pub workers: Option<u32>,

    /// Where tasks run.
    #[arg(long, value_enum, default_value_t, requires = "chunk_frames")]
    pub backend: BackendKind,

    /// Write one JSON record per task attempt here (kind, chunk, worker, start_s, end_s,
    /// bytes_in, bytes_out, attempt, ok); plot it with `flick plot-timeline`.
    #[arg(long, value_name = "FILE.json", requires = "chunk_frames")]
    pub timeline: Option<PathBuf>,

    /// Try a failed task this many more times before giving up.
    #[arg(long, value_name = "R", default_value_t = 2, requires = "chunk_frames")]
    pub retries: u32,
}

/// Encodes `args.input` with the parallel pipeline; `args.pipeline.chunk_frames` is set.
pub fn run(args: &EncodeArgs) -> Result<()> {
    let options = &args.pipeline;
    let chunk_frames = options
        .chunk_frames
        .context("the parallel encoder needs --chunk-frames")?;
    if args.output.as_os_str() == "-" {
        bail!("-o -: the IVF output must be a file, since its frame count is written last");
    }
    let started = Instant::now();
    let mut source = Y4mSource::open(&args.input)?;
    let frame_rate = source.frame_rate();
    let config = sequence_config(args, frame_rate);
    let format = PictureFormat {
        width: u32::try_from(source.header.width).context("picture too wide")?,
        height: u32::try_from(source.header.height).context("picture too tall")?,
    };
    let header = ivf_header(&source, frame_rate)?;
    let limit = args.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut store = Blobs::new();
    let pictures = read_pictures(&mut source, limit, &mut store)?;
    if pictures.is_empty() {
        bail!(
            "{} holds no frames (only a Y4M header): nothing to encode",
            source.describe
        );
    }

    let layout = Layout::new(pictures.len(), chunk_frames as usize, options.batch);
    let mut graph = ChunkGraph::new(
        layout,
        format,
        EncodeSettings::from_config(&config),
        pictures.clone(),
    );
    let workers = match options.workers {
        Some(workers) => workers as usize,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let backend = options.backend.open()?;
    let progress = progress_bar(
        io::stderr().is_terminal(),
        Some(layout.task_count() as u64),
        "tasks",
    );
    let epoch = Instant::now();
    let outcome = scheduler::run(
        &mut graph,
        &mut store,
        backend.as_ref(),
        Schedule {
            workers,
            retries: options.retries,
        },
        &progress,
        epoch,
    );
    progress.finish_and_clear();
    let pipeline_time = epoch.elapsed();
    let timeline = match &options.timeline {
        Some(path) => write_timeline(path, &outcome.records),
        None => Ok(()),
    };
    // A failed run's own error says more than a timeline that could not be written.
    outcome.result.with_context(|| {
        format!(
            "cannot encode {} in chunks: stopped after {} of {} tasks",
            source.describe,
            outcome.tasks_run,
            layout.task_count()
        )
    })?;
    timeline?;

    let frames = assemble(&graph, &store)?;
    let scene_cuts = check_keyframes(&layout, &frames)?;
    let mut ivf = PartialIvf::create(&args.output, header)?;
    for (index, frame) in frames.iter().enumerate() {
        ivf.write_frame(index as u64, frame)?;
    }
    let name = args
        .output
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "frame".to_owned());
    let md5_lines = args.recon_md5.then(|| Md5Lines::new(&name));
    let (quality, state) = verify(
        &frames,
        &pictures,
        &store,
        format,
        Sinks::new(None, md5_lines),
    )?;
    if let Some(path) = &args.save_state {
        write_atomically(path, &state.to_bytes())?;
    }
    let file_bytes = ivf.finish(frames.len())?;

    Summary {
        output: &args.output,
        layout,
        workers,
        backend: backend.name(),
        frame_rate,
        file_bytes,
        payload: frames.iter().map(|f| f.len() as u64).sum(),
        quality,
        scene_cuts,
        scene_cut_chunks: graph.scene_cut_chunks(),
        rebase_quality: RebaseQuality::measure(&outcome.coded, format.i420_len() as u64),
        records: &outcome.records,
        tasks_run: outcome.tasks_run,
        retried: outcome.retried,
        pipeline_time,
        total_time: started.elapsed(),
    }
    .report();
    Ok(())
}

/// Reads every picture (at most `limit`) into `store` as raw I420; returns their ids in order.
fn read_pictures(
    source: &mut Y4mSource,
    limit: Option<usize>,
    store: &mut Blobs,
) -> Result<Vec<BlobId>> {
    let mut pictures = Vec::new();
    while limit.is_none_or(|limit| pictures.len() < limit) {
        let Some(picture) = source.next_picture()? else {
            break;
        };
        pictures.push(store.insert(picture.to_i420()));
    }
    Ok(pictures)
}

/// The final stream's frames: every chunk's final stream, unpacked, in order.
fn assemble<'a>(graph: &ChunkGraph, store: &'a Blobs) -> Result<Vec<&'a [u8]>> {
    let layout = graph.layout();
    let mut frames = Vec::with_capacity(layout.frames);
    for (chunk, id) in graph.final_streams()?.into_iter().enumerate() {
        let bytes = store
            .get(&id)
            .ok_or_else(|| anyhow!("chunk {chunk}'s final stream {id} is not in the store"))?;
        let chunk_frames = unpack_frames(bytes)
            .map_err(|error| anyhow!("chunk {chunk}'s final stream: {error}"))?;
        let expected = layout.frames_of(chunk).len();
        if chunk_frames.len() != expected {
            bail!(
                "chunk {chunk}'s final stream holds {} frames, not its {expected}",
                chunk_frames.len()
            );
        }
        frames.extend(chunk_frames);
    }
    Ok(frames)
}

/// The stream must hold every frame and a keyframe where each batch starts; returns how many
/// other keyframes it holds (the scene cuts the encoder found, as the serial encoder would).
fn check_keyframes(layout: &Layout, frames: &[&[u8]]) -> Result<usize> {
    if frames.len() != layout.frames {
        bail!(
            "the chunks hold {} frames in all, not the video's {}",
            frames.len(),
            layout.frames
        );
    }
    let batch_frames = layout.chunk_frames * layout.batch_chunks;
    let mut scene_cuts = 0;
    for (index, frame) in frames.iter().enumerate() {
        let batch_start = index.is_multiple_of(batch_frames);
        match (batch_start, is_key_frame(frame)) {
            (true, false) => bail!(
                "frame {index} starts batch {} but is not a keyframe",
                index / batch_frames
            ),
            (false, true) => scene_cuts += 1,
            _ => {}
        }
    }
    Ok(scene_cuts)
}

/// Decodes the final stream, hands every shown picture to `sinks` and measures it against
/// its source picture. Returns the quality and the decoder state after the last frame.
fn verify(
    frames: &[&[u8]],
    pictures: &[BlobId],
    store: &Blobs,
    format: PictureFormat,
    mut sinks: Sinks,
) -> Result<(Quality, DecoderState)> {
    let mut state = DecoderState::new();
    let mut quality = Quality::default();
    for (index, (frame, source_id)) in frames.iter().zip(pictures).enumerate() {
        let (next, shown) = codec_core::decode(&state, frame).map_err(|error| {
            anyhow!("the encoded stream does not decode at frame {index}: {error}")
        })?;
        state = next;
        let Some(picture) = shown else {
            continue;
        };
        sinks.write(index, &picture)?;
        let source = store
            .get(source_id)
            .ok_or_else(|| anyhow!("picture {index} is not in the store"))
            .and_then(|bytes| {
                format
                    .picture_from_i420(bytes)
                    .map_err(|error| anyhow!("picture {index}: {error}"))
            })?;
        let sse = metrics::picture_sse(&source, &picture).iter().sum();
        let samples = metrics::picture_samples(&source, &picture).iter().sum();
        quality.add(
            metrics::psnr(sse, samples),
            metrics::ssim(&source, &picture),
        );
    }
    sinks.finish()?;
    Ok((quality, state))
}

#[cfg(test)]
mod tests {
    use codec_core::encoder::rate_control::RateMode;
    use codec_core::encoder::sequence::SequenceConfig;
    use edge_worker::RateSetting;

    use super::*;

    #[test]
    fn keyframes_only_where_batches_start() {
        let key: &[u8] = &[0x10, 0, 0];
        let inter: &[u8] = &[0x11, 0, 0];
        let layout = Layout::new(7, 2, Batch::Chunks(2));
        let good = [key, inter, inter, inter, key, inter, inter];
        assert_eq!(check_keyframes(&layout, &good).unwrap(), 0);
        let mut missing = good;
        missing[4] = inter;
        let error = check_keyframes(&layout, &missing).unwrap_err().to_string();
        assert!(error.contains("frame 4 starts batch 1"), "{error}");
        let mut cut = good;
        cut[2] = key;
        assert_eq!(check_keyframes(&layout, &cut).unwrap(), 1);
        let error = check_keyframes(&layout, &good[..6])
            .unwrap_err()
            .to_string();
        assert!(error.contains("6 frames"), "{error}");
        assert!(!is_key_frame(&[]));
    }

    #[test]
    fn settings_follow_the_serial_configuration() {
        let config = SequenceConfig {
            rate: RateMode::TargetSsim { ssim: 0.93 },
            speed: 1,
            ..SequenceConfig::default()
        };
        let settings = EncodeSettings::from_config(&config);
        assert_eq!(settings.rate, RateSetting::TargetSsim(0.93));
        assert_eq!(settings.speed, 1);
        assert_eq!(
            EncodeSettings::from_config(&SequenceConfig::default()),
            EncodeSettings::default()
        );
    }
}
