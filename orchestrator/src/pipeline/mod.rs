//! `flick encode --chunk-frames N`: the parallel encoder, ExCamera[N, x] (DESIGN.md §2-3).
//!
//! The input is read a picture at a time into the blob store as the tasks need it, the task
//! graph grows and runs on a backend ([`scheduler`]), and each chunk's final stream goes, in
//! order, to the output stream as soon as it exists ([`assemble`]), where it is decoded once
//! more, which checks that it plays and measures its quality against the source. A blob
//! leaves memory once nothing reads it any more ([`pool`]), so the pictures and states held
//! are those of the chunks in progress, not of the whole video. A store that outlives the run
//! (a directory, a bucket) keeps every blob and each task's result until the run ends well,
//! and the scheduler takes a kept result instead of running its task again: the same command
//! resumes a run that was stopped. The output gets its name only once the whole stream is in
//! it.

mod assemble;
pub(crate) mod graph;
mod pool;
mod rate_plan;
mod scheduler;
mod summary;

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::{Arc, mpsc as sync_mpsc};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use codec_core::encoder::sequence::SequenceConfig;
use edge_worker::wire::InlinePolicy;
use edge_worker::{BlobId, EncodeSettings, PictureFormat};
use tokio::sync::mpsc;

use crate::atomic_write::write_atomically;
use crate::backend::{Backend, BackendKind, BackendSetup, FaultPlan, FaultyBackend};
use crate::blob_store::BlobStore;
use crate::ivf_writer::{PartialIvf, ivf_header};
use crate::output::{Md5Lines, Sinks};
use crate::progress::progress_bar;
use crate::timeline::write_timeline;
use crate::y4m_source::Y4mSource;
use assemble::{Assembled, Assembler};
use edge_worker::s3::S3Location;
pub use graph::{Batch, parse_batch};
use graph::{ChunkGraph, Layout};
use pool::BlobPool;
use scheduler::{PictureIn, Run, Schedule, Stopped};
use summary::{RebaseQuality, Summary};

/// Chunks per long-term reference group unless told otherwise (`--long-term-chunks`). With
/// six-frame chunks (ExCamera[6,16], `--cq-level` 12..48), groups of three (anchors of linked
/// groups plain, their replaced keyframes 12 steps finer) brought the pipeline to the serial
/// encoder from +16.5 to +1.5% BD-rate at equal SSIM and from +12.7 to +0.6% at equal PSNR
/// on the real clip at 360p; its small crop from +26.0/+20.3 to +7.2/+6.6, a synthetic zoom
/// from +22.8/+8.8 to +0.9/+2.8; a pan, a zoom and strong grain hold too little still for any
/// link and come out as before; a still picture with light grain lost (-6.4/-4.4 to
/// +6.4/+3.1), spliced scenes stayed about the same (+10.1/+0.5 to +9.8/+0.7). Groups of two
/// did worse than three on the small crop (+16.7/+14.9 against +14.5/+13.3, anchors boosted
/// as before; issue 10's notes). With a target bitrate the rate plan sizes each link as an
/// interframe of its picture against the link's before, spread over its group: ExCamera[6,16]
/// against the serial encoder at the same targets went on the real clip at 360p from
/// +19.6/+20.5% (SSIM/PSNR, no links) to +11.2/+11.7%, on the small crop from +20.7/+18.2%
/// to +3.9/+5.1%, on the synthetic zoom from +18.1/+7.9% to -5.1/-3.8% (levels a step of
/// two apart from chunk to chunk as well; unsized, the links overshot the real clip's lower
/// targets by 65 and 106%).
pub const LONG_TERM_CHUNKS: u32 = 3;

/// Everything a parallel encode is told, as plain values.
#[derive(Clone, Debug)]
pub struct Config {
    /// The Y4M input ("-" for standard input).
    pub input: PathBuf,
    /// The IVF output.
    pub output: PathBuf,
    /// The encoder's settings; the frame rate is the input's, whatever this says.
    pub encoder: SequenceConfig,
    /// Encode at most this many frames.
    pub limit: Option<usize>,
    /// Print the MD5 line of each reconstructed picture on standard output.
    pub recon_md5: bool,
    /// Write the decoder state after the last frame here.
    pub save_state: Option<PathBuf>,
    /// Frames per chunk (at least 1).
    pub chunk_frames: usize,
    pub batch: Batch,
    /// Chunks per long-term reference group (`ChunkGraph::set_long_term_chunks`); 0: none.
    pub long_term_chunks: usize,
    pub backend: BackendKind,
    /// The wasmtime backend's worker component (`None`: where it is built).
    pub worker_wasm: Option<PathBuf>,
    /// The http backend's worker URLs.
    pub endpoints: Vec<String>,
    /// The lambda backend's function, and its Invoke API when it is not AWS's.
    pub function: Option<String>,
    pub lambda_endpoint: Option<String>,
    /// Requests in flight at once on the backend (at least 1).
    pub workers: usize,
    /// The blob store's directory or `s3://` location; `None` keeps blobs in memory.
    pub store: Option<PathBuf>,
    /// The S3 server of an `s3://` store, when it is not AWS's.
    pub s3_endpoint: Option<String>,
    /// Which blobs travel inside requests and responses; the others go through the store.
    pub inline: InlinePolicy,
    /// Write one record per task attempt here.
    pub timeline: Option<PathBuf>,
    /// Attempts after the first for a task that got no response.
    pub retries: u32,
    /// Make attempts fail on purpose (`--inject-faults`), to test that nothing is lost.
    pub faults: Option<FaultPlan>,
    /// How long one attempt may take before it is given up and tried again.
    pub task_timeout: Option<Duration>,
    /// An attempt running past this many times the median of its kind is launched again
    /// beside it; 0 never; `None`: [`DEFAULT_STRAGGLER_FACTOR`] where the backend's workers
    /// vary, never where they are this machine's threads.
    pub straggler_factor: Option<f64>,
}

/// How many times its kind's median an attempt may run before it is launched again, on
/// backends whose workers vary.
pub const DEFAULT_STRAGGLER_FACTOR: f64 = 3.0;

/// Descriptors a run needs besides one a request in flight: the input, the output, the
/// store's files, the runtime's own.
const DESCRIPTORS_BESIDES: u64 = 256;

/// Each request in flight may hold a connection (http, lambda) or a file of the store: the
/// soft limit on open descriptors is raised, as far as the hard limit allows, to leave room
/// for `workers` of them. A limit too low for that is a warning: connections beyond it fail,
/// and are retried.
fn make_room_for(workers: usize) {
    #[cfg(unix)]
    {
        let wanted = 2 * workers as u64 + DESCRIPTORS_BESIDES;
        match rlimit::increase_nofile_limit(wanted) {
            Ok(got) if got < workers as u64 + DESCRIPTORS_BESIDES => eprintln!(
                "flick: warning: {workers} workers may need {wanted} open files, and the \
                 limit is {got} (raise it with ulimit -n)"
            ),
            Ok(_) => {}
            Err(error) => eprintln!(
                "flick: warning: cannot raise the limit on open files for {workers} workers: \
                 {error}"
            ),
        }
    }
}

/// Encodes `config.input` with the parallel pipeline.
///
/// # Errors
///
/// When the input cannot be read, a task fails for good, the stream does not check out, or
/// an output cannot be written; no stream is left behind then.
pub fn run(config: &Config) -> Result<()> {
    if config.output.as_os_str() == "-" {
        bail!("-o -: the IVF output must be a file, since its frame count is written last");
    }
    // Blocking threads: the backend's own (the local worker's), the input's reader, the
    // output stream, and a few for the store's file I/O. Every thread keeps its own malloc
    // arena, so an unbounded pool would hold on to freed picture buffers many times over.
    let blocking = config.backend.blocking_threads(config.workers.max(1)) + 4;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(blocking)
        .thread_name("flick-pipeline")
        .enable_time()
        // Sockets, for the backends that reach their workers over a network.
        .enable_io()
        .build()
        .context("cannot start the pipeline's runtime")?;
    let result = runtime.block_on(encode(config));
    // The input's reader may still wait on a slow standard input: do not wait for it.
    runtime.shutdown_background();
    result
}

async fn encode(config: &Config) -> Result<()> {
    let started = Instant::now();
    let source = Y4mSource::open(&config.input)?;
    let frame_rate = source.frame_rate();
    let encoder = SequenceConfig {
        frame_rate,
        ..config.encoder.clone()
    };
    let format = PictureFormat {
        width: u32::try_from(source.header.width).context("picture too wide")?,
        height: u32::try_from(source.header.height).context("picture too tall")?,
    };
    let header = ivf_header(&source, frame_rate)?;
    let describe = source.describe.clone();
    let chunk_frames = config.chunk_frames.max(1);
    let estimated_tasks = source
        .estimated_frames(config.limit)
        .map(|frames| Layout::new(frames as usize, chunk_frames, config.batch).task_count() as u64);

    let s3 = config
        .store
        .as_ref()
        .and_then(|store| S3Location::parse(&store.to_string_lossy()))
        .transpose()
        .map_err(|e| anyhow!("--store {e}"))?;
    if config.s3_endpoint.is_some() && s3.is_none() {
        bail!("--s3-endpoint is for an s3:// store (--store s3://BUCKET/PREFIX)");
    }
    let store = Arc::new(match (&config.store, s3) {
        (_, Some(location)) => BlobStore::s3(&location, config.s3_endpoint.as_deref())?,
        (Some(dir), None) => BlobStore::directory(dir)?,
        (None, None) => BlobStore::in_memory(),
    });
    let workers = config.workers.max(1);
    make_room_for(workers);
    let backend = config
        .backend
        .open(&BackendSetup {
            workers,
            store: Arc::clone(&store),
            worker_wasm: config.worker_wasm.clone(),
            task_timeout: config.task_timeout,
            endpoints: config.endpoints.clone(),
            function: config.function.clone(),
            lambda_endpoint: config.lambda_endpoint.clone(),
        })
        .await?;
    let backend = match config.faults {
        Some(plan) if plan.probability > 0.0 => {
            Arc::new(FaultyBackend::new(backend, plan)) as Arc<dyn Backend>
        }
        _ => backend,
    };
    let inline = if backend.reaches_store() {
        config.inline
    } else {
        InlinePolicy::EVERYTHING
    };
    let mut pool = BlobPool::new(Arc::clone(&store), inline);
    let mut graph = ChunkGraph::new(
        chunk_frames,
        config.batch,
        format,
        EncodeSettings::from_config(&encoder),
    );
    graph.set_long_term_chunks(config.long_term_chunks);
    graph.expect_frames(
        source
            .estimated_frames(config.limit)
            .and_then(|frames| usize::try_from(frames).ok()),
    );

    // A chunk's pictures read ahead at most while the scheduler is busy elsewhere.
    let (pictures_in, pictures) = mpsc::channel(chunk_frames);
    let limit = config.limit;
    tokio::task::spawn_blocking(move || read_pictures(source, limit, &pictures_in));

    let ivf = PartialIvf::create(&config.output, header)?;
    let name = config
        .output
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "frame".to_owned());
    let sinks = Sinks::new(None, config.recon_md5.then(|| Md5Lines::new(&name)));
    let (output, chunks_out) = sync_mpsc::channel();
    let batch = config.batch;
    let assembly = tokio::task::spawn_blocking(move || -> Result<Assembled> {
        let mut assembler = Assembler::new(ivf, sinks, format, batch);
        for chunk in chunks_out {
            assembler.add(chunk)?;
        }
        assembler.finish()
    });

    let progress = progress_bar(io::stderr().is_terminal(), estimated_tasks, "tasks");
    let epoch = Instant::now();
    let outcome = scheduler::run(
        Run {
            graph: &mut graph,
            pool: &mut pool,
            backend: Arc::clone(&backend),
            pictures,
            output,
            progress: &progress,
            epoch,
        },
        Schedule {
            limit: workers,
            retries: config.retries,
            timeout: config.task_timeout,
            straggler_factor: config
                .straggler_factor
                .or(backend.workers_vary().then_some(DEFAULT_STRAGGLER_FACTOR))
                .filter(|factor| *factor > 0.0),
        },
    )
    .await;
    progress.finish_and_clear();
    let pipeline_time = epoch.elapsed();
    let assembled = assembly
        .await
        .map_err(|error| anyhow!("the output stream's thread failed: {error}"))
        .and_then(|assembled| assembled);
    let layout = graph.layout();
    let timeline = match &config.timeline {
        Some(path) => write_timeline(path, &outcome.records),
        None => Ok(()),
    };
    // A failed run's own error says more than a timeline that could not be written. A store
    // that outlives the run keeps what was done, for the same command to resume from.
    let kept = if store.keeps_results() {
        format!(
            "; what was done is kept in {}: the same command resumes from it",
            store.describe()
        )
    } else {
        String::new()
    };
    match outcome.result {
        Ok(()) => {}
        Err(Stopped::Input(error)) => return Err(error),
        Err(Stopped::Output) => {
            return Err(assembled
                .err()
                .unwrap_or_else(|| anyhow!("the output stream stopped taking chunks")));
        }
        Err(Stopped::Tasks(error)) => {
            return Err(error.context(format!(
                "cannot encode {describe} in chunks: stopped after {} of {} tasks{kept}",
                outcome.tasks_run + outcome.resumed,
                layout.task_count()
            )));
        }
    }
    let assembled = assembled?;
    timeline?;
    if let Some(path) = &config.save_state {
        write_atomically(path, &assembled.state.to_bytes())?;
    }
    let file_bytes = assembled.ivf.finish(assembled.frames)?;
    // The output is whole: what was kept for a resume can go. A store that cannot be cleared
    // does not make the output less whole, so that is a warning.
    if let Err(error) = store.clear_run().await {
        eprintln!("flick: warning: {error}; what is left there can be deleted");
    }

    Summary {
        output: &config.output,
        layout,
        workers,
        backend: backend.name(),
        frame_rate,
        file_bytes,
        payload: assembled.payload,
        quality: assembled.quality,
        scene_cuts: assembled.scene_cuts,
        scene_cut_chunks: graph.scene_cut_chunks(),
        rebase_quality: RebaseQuality::measure(&outcome.coded, format.i420_len() as u64),
        records: &outcome.records,
        tasks_run: outcome.tasks_run,
        resumed: outcome.resumed,
        retried: outcome.retried,
        retried_by: &outcome.retried_by,
        relaunched: outcome.relaunched,
        store: store.describe(),
        stored: store.stats(),
        held: pool.peak(),
        pipeline_time,
        total_time: started.elapsed(),
        peak_memory: summary::peak_memory(),
    }
    .report();
    Ok(())
}

/// Reads pictures (at most `limit`) as raw I420 blobs into `pictures`, until the input ends,
/// fails, or no one takes them any more.
fn read_pictures(mut source: Y4mSource, limit: Option<usize>, pictures: &mpsc::Sender<PictureIn>) {
    let mut read = 0;
    while limit.is_none_or(|limit| read < limit) {
        let picture = match source.next_picture() {
            Ok(Some(picture)) => picture,
            Ok(None) => break,
            Err(error) => {
                let _ = pictures.blocking_send(Err(error));
                return;
            }
        };
        let bytes = picture.to_i420();
        let id = BlobId::of(&bytes);
        if pictures
            .blocking_send(Ok((id, Bytes::from(bytes))))
            .is_err()
        {
            return;
        }
        read += 1;
    }
    if read == 0 {
        let _ = pictures.blocking_send(Err(anyhow!(
            "{} holds no frames (only a Y4M header): nothing to encode",
            source.describe
        )));
    }
}

#[cfg(test)]
mod tests {
    use codec_core::encoder::rate_control::RateMode;
    use codec_core::encoder::sequence::SequenceConfig;
    use edge_worker::RateSetting;

    use super::*;

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
        let pipeline_default = SequenceConfig {
            altref_interval: edge_worker::CHUNK_ALTREF_INTERVAL,
            ..SequenceConfig::default()
        };
        assert_eq!(
            EncodeSettings::from_config(&pipeline_default),
            EncodeSettings::default()
        );
        let grouped = SequenceConfig {
            altref_interval: 8,
            ..SequenceConfig::default()
        };
        assert_eq!(EncodeSettings::from_config(&grouped).altref_interval, 8);
    }
}
