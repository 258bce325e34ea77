//! Runs a [`ChunkGraph`] on a [`Backend`], at most `limit` requests in flight.
//!
//! One task of the async runtime owns the graph and the blob pool, so neither needs a lock;
//! each attempt is a spawned future that calls the backend (a local thread, a remote worker:
//! the scheduler does not know) and reads the response. Pictures come in from the input as
//! they are needed, a chunk ahead while fewer than `limit` chunk encodes wait, and each
//! chunk's final stream goes to the output stream (with its pictures) as soon as it exists;
//! every blob is dropped once its last reader is done ([`BlobPool`]).
//!
//! When a worker falls idle the next task is the first ready one in the order of [`Step`]:
//! rebases first, since their walk along each batch is the serial critical path, then
//! re-encodes, then chunk encodes, each in chunk order. An attempt that got no response (a
//! transport failure, a worker that died, or no answer by the deadline) is tried again up to
//! `retries` times; a task that failed is not, since a pure task fails the same way every
//! time. After a failure for good no new task starts, the running ones are waited for, and
//! the run fails naming the task, its chunk and the cause.
//!
//! A straggler, an attempt still running after `straggler_factor` times the median time of
//! its kind's successful attempts so far, is launched again in the next free slot (once per
//! attempt, and only once that kind has a median of [`MEDIAN_AFTER`] attempts). The first
//! attempt to succeed wins; the others are aborted and recorded as superseded. A task's
//! attempts are pure, so which one wins does not change a byte.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, mpsc as sync_mpsc};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use bytes::Bytes;
use codec_core::encoder::sequence::{
    ALTREF_MIN_STILLNESS, intra_errors, looks_like_a_cut, predict, stillness,
};
use codec_core::encoder::size_model::PlannedFrame;
use edge_worker::wire::{Answer, decode_response, encode_response, task_key};
use edge_worker::{BlobId, BlobRef, Blobs, FrameFacts, Task, TaskOutput};
use indicatif::ProgressBar;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, Id as AttemptId, JoinError, JoinSet};
use tokio::time::Instant as Clock;

use super::assemble::ChunkOutput;
use super::graph::{ChunkGraph, Reader, Step};
use super::pool::BlobPool;
use super::rate_plan::ChunkCost;
use crate::backend::{Backend, Failure, attempt};
use crate::timeline::TimelineRecord;

/// How many requests are in flight at once, how often a failed one is tried again, how long
/// one may take, and when a slow one is launched again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub limit: usize,
    pub retries: u32,
    pub timeout: Option<Duration>,
    /// An attempt running past this many times the median of its kind is launched again;
    /// `None` never does.
    pub straggler_factor: Option<f64>,
}

/// Successful attempts of a kind before its median says what a straggler is.
pub const MEDIAN_AFTER: usize = 3;

/// However short a kind's median, an attempt is not a straggler before this: launching a
/// task of a few milliseconds again gains nothing and doubles the work.
pub const STRAGGLER_FLOOR: Duration = Duration::from_millis(50);

/// The cause recorded for an attempt aborted because another attempt of its task won.
pub const SUPERSEDED: &str = "superseded";

/// A picture read from the input (its id and I420 bytes), or why the input could not be read.
pub type PictureIn = Result<(BlobId, Bytes)>;

/// What a run is given: the graph to grow and run, its blobs, where tasks run, where the
/// pictures come from and where the chunks' final streams go.
pub struct Run<'a> {
    pub graph: &'a mut ChunkGraph,
    pub pool: &'a mut BlobPool,
    pub backend: Arc<dyn Backend>,
    pub pictures: mpsc::Receiver<PictureIn>,
    pub output: sync_mpsc::Sender<ChunkOutput>,
    pub progress: &'a ProgressBar,
    /// Times in the records count from here.
    pub epoch: Instant,
}

/// Why a run stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
    /// The input could not be read.
    #[error("{0:#}")]
    Input(anyhow::Error),
    /// A task failed for good, or its result could not be kept.
    #[error("{0:#}")]
    Tasks(anyhow::Error),
    /// The output stream stopped taking chunks (its own error says why).
    #[error("the output stream stopped")]
    Output,
}

/// What a run did, whether or not it succeeded.
#[derive(Debug)]
pub struct Outcome {
    /// One record per attempt, in the order they ended.
    pub records: Vec<TimelineRecord>,
    /// Tasks that succeeded.
    pub tasks_run: usize,
    /// Failed attempts that the run came through: tried again, or with another attempt of
    /// their task still running.
    pub retried: usize,
    /// Those, by cause ([`Failure::cause`]).
    pub retried_by: BTreeMap<&'static str, usize>,
    /// Tasks whose result an earlier run had kept in the store: not run again.
    pub resumed: usize,
    /// Stragglers launched again.
    pub relaunched: usize,
    /// The frames each successful task put out.
    pub coded: BTreeMap<Step, Vec<FrameFacts>>,
    /// `Ok` once every task of the graph succeeded and every chunk went to the output.
    pub result: Result<(), Stopped>,
}

/// One attempt, back from a worker.
struct Done {
    /// The slot (0..limit) it ran in: the timeline's worker.
    lane: usize,
    step: Step,
    attempt: u32,
    /// The task's key, when the store keeps results for a resume.
    key: Option<BlobId>,
    start: Duration,
    end: Duration,
    bytes_in: u64,
    bytes_out: u64,
    /// How long it took on the runtime's clock, which the straggler deadlines use.
    took: Duration,
    size: Size,
    result: Result<Answer, Failure>,
}

/// What a task's cost scales with: the pictures it codes, and their size.
#[derive(Clone, Copy, Debug)]
struct Size {
    frames: u32,
    pixels: u64,
}

impl Size {
    fn of(task: &Task) -> Size {
        let format = task.format();
        Size {
            frames: u32::try_from(task.frames()).unwrap_or(u32::MAX),
            pixels: u64::from(format.width) * u64::from(format.height),
        }
    }
}

/// Runs every task of the graph as the input fills it.
pub async fn run(run: Run<'_>, schedule: Schedule) -> Outcome {
    let Run {
        graph,
        pool,
        backend,
        mut pictures,
        output,
        progress,
        epoch,
    } = run;
    let limit = schedule.limit.max(1);
    let mut driver = Driver {
        graph,
        pool,
        backend,
        schedule,
        progress,
        epoch,
        output,
        next_output: 0,
        ready: BTreeSet::new(),
        waiting: BTreeSet::new(),
        attempts: BTreeMap::new(),
        lanes: (0..limit).rev().collect(),
        running: JoinSet::new(),
        records: Vec::new(),
        tasks_run: 0,
        retried: 0,
        retried_by: BTreeMap::new(),
        resumed: 0,
        relaunched: 0,
        in_flight: HashMap::new(),
        superseded: HashMap::new(),
        failures: BTreeMap::new(),
        durations: BTreeMap::new(),
        coded: BTreeMap::new(),
        stop: None,
        keyframe_plan: None,
        anchor_plan: None,
        long_term_samples: Vec::new(),
        long_term_cut: None,
        long_term_reference: None,
        rate_cost: None,
        previous: None,
    };
    driver.drive(&mut pictures).await;
    let result = match driver.stop.take() {
        Some(stop) => Err(stop),
        None => driver.check_done().map_err(Stopped::Tasks),
    };
    Outcome {
        records: driver.records,
        tasks_run: driver.tasks_run,
        retried: driver.retried,
        retried_by: driver.retried_by,
        resumed: driver.resumed,
        relaunched: driver.relaunched,
        coded: driver.coded,
        result,
    }
}

/// What the scheduler waits for.
enum Event {
    Done(Box<Result<(AttemptId, Done), JoinError>>),
    Picture(Option<PictureIn>),
    /// An attempt may have become a straggler.
    Straggling,
    Idle,
}

/// An attempt in flight.
struct InFlight {
    step: Step,
    lane: usize,
    attempt: u32,
    /// When it started, on the runtime's clock (which tests can pause), and for the
    /// timeline.
    since: Clock,
    start: Duration,
    bytes_in: u64,
    /// Whether another attempt was launched beside it already.
    relaunched: bool,
    handle: AbortHandle,
    size: Size,
}

/// The scheduler's side of a run.
struct Driver<'a> {
    graph: &'a mut ChunkGraph,
    pool: &'a mut BlobPool,
    backend: Arc<dyn Backend>,
    schedule: Schedule,
    progress: &'a ProgressBar,
    epoch: Instant,
    output: sync_mpsc::Sender<ChunkOutput>,
    /// The next chunk the output stream takes.
    next_output: usize,
    /// Tasks whose inputs exist, in priority order.
    ready: BTreeSet<Step>,
    /// Tasks still waiting for inputs.
    waiting: BTreeSet<Step>,
    /// Attempts started so far, per task.
    attempts: BTreeMap<Step, u32>,
    /// Slots free for an attempt.
    lanes: Vec<usize>,
    running: JoinSet<Done>,
    records: Vec<TimelineRecord>,
    tasks_run: usize,
    retried: usize,
    retried_by: BTreeMap<&'static str, usize>,
    resumed: usize,
    relaunched: usize,
    /// Every attempt running.
    in_flight: HashMap<AttemptId, InFlight>,
    /// Attempts aborted because another attempt of their task won, not yet back.
    superseded: HashMap<AttemptId, InFlight>,
    /// Failed attempts per task, against `retries`.
    failures: BTreeMap<Step, u32>,
    /// How long each kind's successful attempts took, in order: their median says what a
    /// straggler is.
    durations: BTreeMap<&'static str, Vec<Duration>>,
    coded: BTreeMap<Step, Vec<FrameFacts>>,
    /// Why the run stops; once set, nothing new starts.
    stop: Option<Stopped>,
    /// The batch keyframe being planned: its picture, and the stillness of the pictures
    /// after it in its chunk so far.
    keyframe_plan: Option<KeyframePlan>,
    /// The anchor being planned: its chunk's pictures so far.
    anchor_plan: Option<AnchorPlan>,
    /// In the bitrate mode, the planned cost of the chunk being read so far.
    rate_cost: Option<(usize, ChunkCost)>,
    /// The last picture measured, and its frame: the next one is measured against it.
    previous: Option<(usize, codec_core::Picture)>,
    /// Pictures of the long-term group being read, sampled every
    /// [`LONG_TERM_SAMPLE_STEP`] frames, each with the group's first chunk: they are
    /// measured against the group's last picture once it comes ([`ChunkGraph::plan_long_term`]).
    long_term_samples: Vec<(usize, codec_core::Picture)>,
    /// The batch in which a scene cut was seen (after its first picture): its chain takes no
    /// more links.
    long_term_cut: Option<usize>,
    /// In the bitrate mode, the picture the next link of the chain is sized against: the
    /// last link's, or the batch keyframe's.
    long_term_reference: Option<codec_core::Picture>,
}

/// Every how many pictures a long-term group's stillness is sampled: the samples are held
/// until the group's last picture comes, up to a few chunks later.
const LONG_TERM_SAMPLE_STEP: usize = 3;

/// How well a chunk's pictures so far predict each other, for the plan of its anchor
/// frame's boost ([`ChunkGraph::plan_anchor`]).
struct AnchorPlan {
    chunk: usize,
    /// Sum of [`predictability`] over `count` pictures, each against the one before it.
    ///
    /// [`predictability`]: codec_core::encoder::sequence::predictability
    total: f64,
    count: usize,
}

/// A batch keyframe's picture and how still the pictures after it are
/// ([`ChunkGraph::plan_batch_keyframe`]).
struct KeyframePlan {
    key: codec_core::Picture,
    /// Sum of [`stillness`] over `count` pictures.
    total: f64,
    count: usize,
}

impl KeyframePlan {
    /// At most this many pictures are measured, as many as the serial encoder's lookahead
    /// looks at for a still keyframe.
    const PICTURES: usize = 15;

    /// Whether the pictures measured hold still on average, as the serial encoder asks of
    /// a scene before it spends on its keyframe or an altref frame.
    fn holds_still(&self) -> bool {
        self.count > 0 && self.total * 100.0 >= f64::from(ALTREF_MIN_STILLNESS) * self.count as f64
    }
}

impl Driver<'_> {
    /// Starts ready tasks in free slots, takes pictures in while encodes run short, and takes
    /// results back, until the graph is done or the run stopped (and every running attempt
    /// has come back).
    async fn drive(&mut self, pictures: &mut mpsc::Receiver<PictureIn>) {
        loop {
            // Stragglers first: everything after them waits for them.
            if let Err(error) = self.relaunch_stragglers().await {
                self.fail(Stopped::Tasks(error));
            }
            while self.stop.is_none() && !self.lanes.is_empty() {
                let Some(step) = self.ready.pop_first() else {
                    break;
                };
                if let Err(error) = self.start(step).await {
                    self.fail(Stopped::Tasks(error));
                }
            }
            self.progress.set_message(format!(
                "{} running, {} retried, {} relaunched",
                self.running.len(),
                self.retried,
                self.relaunched
            ));
            let want_input = self.stop.is_none()
                && !self.graph.ended()
                && self.queued_encodes() < self.schedule.limit.max(1);
            if self.running.is_empty() && !want_input {
                break;
            }
            // Only worth waking for while a slot is free to launch a straggler in; otherwise
            // the next attempt back frees one, and the loop looks again.
            let straggling = self
                .next_straggler()
                .filter(|_| self.stop.is_none() && !self.lanes.is_empty());
            let event = tokio::select! {
                Some(done) = self.running.join_next_with_id(), if !self.running.is_empty() => {
                    Event::Done(Box::new(done))
                }
                picture = pictures.recv(), if want_input => Event::Picture(picture),
                () = tokio::time::sleep_until(straggling.unwrap_or_else(Clock::now)),
                    if straggling.is_some() => Event::Straggling,
                else => Event::Idle,
            };
            match event {
                Event::Done(done) => self.finish(*done).await,
                Event::Picture(picture) => self.ingest(picture).await,
                Event::Straggling => {}
                Event::Idle => break,
            }
        }
    }

    /// Chunk encodes not started, ready or waiting for the bitrate plan: the input is read
    /// ahead while these run short.
    fn queued_encodes(&self) -> usize {
        self.ready
            .iter()
            .chain(&self.waiting)
            .filter(
                |step| matches!(step, Step::Encode(chunk) if !self.graph.awaits_pictures(*chunk)),
            )
            .count()
    }

    fn fail(&mut self, stop: Stopped) {
        if self.stop.is_none() {
            self.stop = Some(stop);
        }
    }

    /// Takes the next picture in, or the end of the input.
    async fn ingest(&mut self, picture: Option<PictureIn>) {
        match picture {
            Some(Ok((id, bytes))) => {
                let frame = self.graph.frames();
                if let Err(error) = self.measure(frame, &bytes) {
                    return self.fail(Stopped::Input(error));
                }
                let steps = self.graph.add_picture(id);
                self.plan_chunks(&steps);
                let readers = self.graph.picture_readers(frame);
                if let Err(error) = self.pool.add(id, bytes, &readers).await {
                    return self.fail(Stopped::Tasks(
                        error.context(format!("cannot keep picture {frame}")),
                    ));
                }
                if let Err(error) = self.claim_key_pictures(&steps).await {
                    return self.fail(Stopped::Tasks(error));
                }
                self.admit(steps);
                self.wake_waiting();
            }
            Some(Err(error)) => self.fail(Stopped::Input(error)),
            None => {
                if self.graph.frames() == 0 {
                    return self.fail(Stopped::Input(anyhow!("the input holds no frames")));
                }
                let steps = self.graph.end_input();
                self.plan_chunks(&steps);
                if let Err(error) = self.claim_key_pictures(&steps).await {
                    return self.fail(Stopped::Tasks(error));
                }
                self.admit(steps);
                self.wake_waiting();
                self.progress
                    .set_length(self.graph.layout().task_count() as u64);
                for reader in self.graph.readers_past_the_end() {
                    if let Err(error) = self.pool.release(reader).await {
                        return self.fail(Stopped::Tasks(error));
                    }
                }
            }
        }
    }

    /// Measures picture `frame` for the plans of its chunk: of its batch's keyframe, if it
    /// lies in a batch's first chunk (the keyframe's picture starts a plan, the others add
    /// their stillness against it); of the chunk's anchor, if one opens it (each picture
    /// after the first adds its predictability from the one before); and in the bitrate
    /// mode of its quality level (each picture adds its planned size, from its errors
    /// against the picture before, or its own for a keyframe).
    fn measure(&mut self, frame: usize, bytes: &[u8]) -> Result<()> {
        let key_frame = self.graph.batch_keyframe_of(frame);
        let for_keyframe = key_frame.is_some_and(|key_frame| {
            frame == key_frame
                || self
                    .keyframe_plan
                    .as_ref()
                    .is_some_and(|plan| plan.count < KeyframePlan::PICTURES)
        });
        let for_anchor = self.graph.in_anchored_chunk(frame);
        let for_rate = self.graph.plans_rate();
        let long_term = self.graph.long_term_group_at(frame);
        let for_long_term = long_term.is_some();
        if !for_keyframe && !for_anchor && !for_rate && !for_long_term {
            return Ok(());
        }
        let picture = self
            .graph
            .format()
            .picture_from_i420(bytes)
            .map_err(|e| anyhow!("picture {frame}: {e}"))?;
        let chunk = self.graph.chunk_of(frame);
        let opens_chunk = self.graph.frames_of(chunk).start == frame;
        let opens_batch = opens_chunk && self.graph.opens_batch(chunk);
        let before = self
            .previous
            .take()
            .filter(|(at, _)| at + 1 == frame)
            .map(|(_, before)| before);
        // Against the picture before: for the anchor's plan within its chunk, and for the
        // rate's everywhere but at a keyframe.
        let prediction = before
            .as_ref()
            .filter(|_| (for_anchor && !opens_chunk) || (for_rate && !opens_batch))
            .map(|before| predict(before, &picture));
        // A batch's first chunk, whose keyframe is planned, opens with no anchor.
        if for_keyframe {
            match &mut self.keyframe_plan {
                Some(plan) if key_frame != Some(frame) => {
                    plan.total += stillness(&plan.key, &picture);
                    plan.count += 1;
                }
                _ => {
                    self.keyframe_plan = Some(KeyframePlan {
                        key: picture.clone(),
                        total: 0.0,
                        count: 0,
                    })
                }
            }
        } else if for_anchor {
            match (&mut self.anchor_plan, &prediction) {
                (Some(plan), Some(prediction)) if plan.chunk == chunk && !opens_chunk => {
                    plan.total += prediction.predictability;
                    plan.count += 1;
                }
                _ => {
                    self.anchor_plan = Some(AnchorPlan {
                        chunk,
                        total: 0.0,
                        count: 0,
                    })
                }
            }
        }
        // Whether the picture looks like a scene cut after the one before (`None` without
        // one), for both plans that ask.
        let cut = (for_rate || for_long_term)
            .then(|| {
                before
                    .as_ref()
                    .map(|before| looks_like_a_cut(before, &picture))
            })
            .flatten();
        if for_rate {
            let macroblocks = picture.mb_cols() * picture.mb_rows();
            let cost = match &mut self.rate_cost {
                Some((at, cost)) if *at == chunk => cost,
                slot => &mut slot.insert((chunk, ChunkCost::new())).1,
            };
            match prediction {
                // A scene cut is coded as a keyframe, where it comes.
                Some(_) if cut == Some(true) => {
                    cost.add_cut(
                        &intra_errors(&picture),
                        macroblocks,
                        self.graph.cut_keyframe_boost(),
                    );
                }
                Some(prediction) if !opens_batch => {
                    let kind = if opens_chunk {
                        PlannedFrame::Anchor
                    } else {
                        PlannedFrame::Inter
                    };
                    cost.add(kind, &prediction.errors, macroblocks);
                }
                _ => cost.add(PlannedFrame::Key, &intra_errors(&picture), macroblocks),
            }
        }
        if let Some((first, last)) = long_term {
            let start = first * self.graph.chunk_frames();
            let batch = self.graph.batch_index(first);
            // No link after a cut in the batch, nor in a group across one (as the serial
            // encoder's altref groups never span a cut): the keyframe at the cut resets golden
            // and altref in the final stream, so a later link, coded from the chain's, would
            // not decode as it was made; and a link across a cut would code the next scene.
            if frame > self.graph.first_chunk_of_batch(first) * self.graph.chunk_frames()
                && cut != Some(false)
            {
                self.long_term_cut = Some(batch);
            }
            if for_rate && opens_batch {
                self.long_term_reference = Some(picture.clone());
            }
            if frame == last {
                let samples: Vec<&codec_core::Picture> = self
                    .long_term_samples
                    .iter()
                    .filter(|(group, _)| *group == first)
                    .map(|(_, sample)| sample)
                    .collect();
                let total: f64 = samples.iter().map(|s| stillness(&picture, s)).sum();
                let still = !samples.is_empty()
                    && self.long_term_cut != Some(batch)
                    && total * 100.0 >= f64::from(ALTREF_MIN_STILLNESS) * samples.len() as f64;
                if still && let Some(reference) = self.long_term_reference.replace(picture.clone())
                {
                    let macroblocks = picture.mb_cols() * picture.mb_rows();
                    let errors = predict(&reference, &picture).errors;
                    self.graph.plan_link_size(first, errors, macroblocks);
                }
                self.graph.plan_long_term(first, still);
                self.long_term_samples.clear();
            } else if (frame - start).is_multiple_of(LONG_TERM_SAMPLE_STEP) {
                self.long_term_samples.retain(|(group, _)| *group == first);
                self.long_term_samples.push((first, picture.clone()));
            }
        }
        if for_anchor || for_rate || for_long_term {
            self.previous = Some((frame, picture));
        }
        Ok(())
    }

    /// Plans the keyframe of each batch that a chunk among `steps` opens, the anchor of each
    /// chunk that one opens, and in the bitrate mode each chunk's cost, from the pictures
    /// measured, before their tasks are made.
    fn plan_chunks(&mut self, steps: &[Step]) {
        for step in steps {
            let Step::Encode(chunk) = *step else {
                continue;
            };
            if let Some(plan) = self.anchor_plan.take_if(|plan| plan.chunk == chunk)
                && plan.count > 0
            {
                self.graph
                    .plan_anchor(chunk, plan.total / plan.count as f64);
            }
            // A chunk opens a batch that shares its keyframe when its first picture is that
            // keyframe's.
            let start = self.graph.frames_of(chunk).start;
            if self.graph.batch_keyframe_of(start) == Some(start) {
                let still = self
                    .keyframe_plan
                    .take()
                    .is_some_and(|plan| plan.holds_still());
                self.graph.plan_batch_keyframe(chunk, still);
            }
            // With the boosts of its keyframe or anchor planned.
            if let Some((_, cost)) = self.rate_cost.take_if(|(at, _)| *at == chunk) {
                self.graph.plan_rate(chunk, cost);
            }
        }
    }

    /// The encodes of chunks that just joined the graph read their batch keyframe's
    /// picture, which their batch has held for them; a full batch lets go of it.
    async fn claim_key_pictures(&mut self, steps: &[Step]) -> Result<()> {
        for step in steps {
            let Step::Encode(chunk) = *step else {
                continue;
            };
            for id in self.graph.long_term_claims(chunk) {
                if !self.pool.claim(id, &[Reader::Task(*step)]) {
                    bail!(
                        "a picture of chunk {chunk}'s long-term chain ({}) is no longer held",
                        id.short()
                    );
                }
            }
            let claims = self.graph.key_picture_claims(chunk);
            if let Some((id, reader)) = claims.claim
                && !self.pool.claim(id, &[reader])
            {
                bail!(
                    "the picture of chunk {chunk}'s batch keyframe ({}) is no longer held",
                    id.short()
                );
            }
            if let Some(reader) = claims.release {
                self.pool.release(reader).await?;
            }
        }
        Ok(())
    }

    /// New steps of the graph: ready, or waiting for inputs.
    fn admit(&mut self, steps: Vec<Step>) {
        for step in steps {
            if self.graph.task(step).is_some() {
                self.ready.insert(step);
            } else {
                self.waiting.insert(step);
            }
        }
    }

    /// Starts the next attempt of `step` in a free slot, unless an earlier run kept its
    /// result.
    async fn start(&mut self, step: Step) -> Result<()> {
        let task = self.task(step)?;
        let store = self.pool.store();
        if store.keeps_results()
            && let Some(answer) = self.kept_result(&task_key(&task)).await?
        {
            self.resumed += 1;
            self.progress.inc(1);
            match self.accept(step, answer, None).await {
                Ok(next) => self.wake(next),
                Err(stop) => self.fail(stop),
            }
            return Ok(());
        }
        self.launch(step, task).await
    }

    /// The task of `step`, whose inputs exist.
    fn task(&self, step: Step) -> Result<Task> {
        self.graph.task(step).ok_or_else(|| {
            anyhow!(
                "{} of chunk {} was scheduled before its inputs existed",
                step.kind(),
                step.chunk()
            )
        })
    }

    /// Sends an attempt of `task` from a free slot.
    async fn launch(&mut self, step: Step, task: Task) -> Result<()> {
        let key = self.pool.store().keeps_results().then(|| task_key(&task));
        let request = self.pool.request(&task).await?;
        let attempt_number = self.attempts.entry(step).or_insert(0);
        *attempt_number += 1;
        let attempt_number = *attempt_number;
        let lane = self.lanes.pop().expect("a free slot was checked");
        let backend = Arc::clone(&self.backend);
        let (epoch, deadline) = (self.epoch, self.schedule.timeout);
        let bytes_in = request.bytes.len() as u64 + request.named_bytes;
        let size = Size::of(&task);
        let launched_at = self.epoch.elapsed();
        let handle = self.running.spawn(async move {
            let start = epoch.elapsed();
            let since = Clock::now();
            let (result, bytes_out) = attempt(backend.as_ref(), request.bytes, deadline).await;
            let took = since.elapsed();
            Done {
                lane,
                step,
                attempt: attempt_number,
                key,
                start,
                end: epoch.elapsed(),
                bytes_in,
                bytes_out,
                took,
                size,
                result,
            }
        });
        self.in_flight.insert(
            handle.id(),
            InFlight {
                step,
                lane,
                attempt: attempt_number,
                since: Clock::now(),
                start: launched_at,
                bytes_in,
                relaunched: false,
                handle,
                size,
            },
        );
        Ok(())
    }

    /// How long an attempt of `kind` may run before it is a straggler, once the kind has a
    /// median.
    fn straggler_after(&self, kind: &'static str) -> Option<Duration> {
        let factor = self.schedule.straggler_factor?;
        let times = self.durations.get(kind)?;
        if times.len() < MEDIAN_AFTER {
            return None;
        }
        let median = times[times.len() / 2];
        let after = Duration::try_from_secs_f64(median.as_secs_f64() * factor).ok()?;
        Some(after.max(STRAGGLER_FLOOR))
    }

    /// When `attempt` becomes a straggler, if it can: not once its task has a second attempt
    /// running, so that a task slow by nature gets one twin, not a chain of them.
    fn straggles_at(&self, attempt: &InFlight) -> Option<Clock> {
        if attempt.relaunched || self.attempts_running(attempt.step) > 1 {
            return None;
        }
        attempt
            .since
            .checked_add(self.straggler_after(attempt.step.kind())?)
    }

    /// When the next attempt becomes a straggler, if any can.
    fn next_straggler(&self) -> Option<Clock> {
        self.in_flight
            .values()
            .filter_map(|attempt| self.straggles_at(attempt))
            .min()
    }

    /// Launches every straggler again, oldest first, while slots are free.
    async fn relaunch_stragglers(&mut self) -> Result<()> {
        if self.stop.is_some() || self.lanes.is_empty() || self.schedule.straggler_factor.is_none()
        {
            return Ok(());
        }
        let now = Clock::now();
        let mut due: Vec<(Clock, AttemptId)> = self
            .in_flight
            .iter()
            .filter(|(_, attempt)| self.straggles_at(attempt).is_some_and(|at| at <= now))
            .map(|(id, attempt)| (attempt.since, *id))
            .collect();
        due.sort();
        for (_, id) in due {
            if self.lanes.is_empty() {
                break;
            }
            let Some(straggler) = self.in_flight.get_mut(&id) else {
                continue;
            };
            straggler.relaunched = true;
            let step = straggler.step;
            let task = self.task(step)?;
            self.launch(step, task).await?;
            self.relaunched += 1;
        }
        Ok(())
    }

    /// How many attempts of `step` are running (not counting superseded ones).
    fn attempts_running(&self, step: Step) -> usize {
        self.in_flight
            .values()
            .filter(|attempt| attempt.step == step)
            .count()
    }

    /// Aborts every attempt of `step` still running: another one won. Each comes back
    /// aborted (or with a result, ignored, if it ended first), and is recorded then.
    fn supersede(&mut self, step: Step) {
        let losers: Vec<AttemptId> = self
            .in_flight
            .iter()
            .filter(|(_, attempt)| attempt.step == step)
            .map(|(id, _)| *id)
            .collect();
        for id in losers {
            if let Some(loser) = self.in_flight.remove(&id) {
                loser.handle.abort();
                self.superseded.insert(id, loser);
            }
        }
    }

    /// Takes one attempt's result: its outputs into the graph and the pool, or a retry, or
    /// the run's failure; or, for an attempt another one beat, only its record.
    async fn finish(&mut self, joined: Result<(AttemptId, Done), JoinError>) {
        let (id, done) = match joined {
            Ok(done) => done,
            Err(error) if error.is_cancelled() && self.superseded.contains_key(&error.id()) => {
                let loser = self.superseded.remove(&error.id()).expect("just checked");
                self.lanes.push(loser.lane);
                let end = self.epoch.elapsed();
                self.records.push(TimelineRecord {
                    kind: loser.step.kind().to_owned(),
                    chunk: u32::try_from(loser.step.chunk()).unwrap_or(u32::MAX),
                    worker: u32::try_from(loser.lane).unwrap_or(u32::MAX),
                    start_s: loser.start.as_secs_f64(),
                    end_s: end.as_secs_f64(),
                    bytes_in: loser.bytes_in,
                    bytes_out: 0,
                    attempt: loser.attempt,
                    ok: false,
                    cause: Some(SUPERSEDED.to_owned()),
                    frames: loser.size.frames,
                    pixels: loser.size.pixels,
                });
                return;
            }
            // An attempt catches its backend's panics, so this is the runtime shutting down.
            Err(error) => {
                return self.fail(Stopped::Tasks(anyhow!("an attempt was lost: {error}")));
            }
        };
        self.lanes.push(done.lane);
        let step = done.step;
        let lost_the_race = self.superseded.remove(&id).is_some();
        self.in_flight.remove(&id);
        self.records.push(TimelineRecord {
            kind: step.kind().to_owned(),
            chunk: u32::try_from(step.chunk()).unwrap_or(u32::MAX),
            worker: u32::try_from(done.lane).unwrap_or(u32::MAX),
            start_s: done.start.as_secs_f64(),
            end_s: done.end.as_secs_f64(),
            bytes_in: done.bytes_in,
            bytes_out: done.bytes_out,
            attempt: done.attempt,
            ok: done.result.is_ok() && !lost_the_race,
            cause: if lost_the_race {
                Some(SUPERSEDED.to_owned())
            } else {
                done.result.as_ref().err().map(|f| f.cause().to_owned())
            },
            frames: done.size.frames,
            pixels: done.size.pixels,
        });
        if lost_the_race {
            // It ended before its abort took: another attempt's result is already in.
            return;
        }
        match done.result {
            Ok(answer) => {
                let times = self.durations.entry(step.kind()).or_default();
                let at = times.partition_point(|time| *time <= done.took);
                times.insert(at, done.took);
                self.supersede(step);
                match self.accept(step, answer, done.key).await {
                    Ok(next) => {
                        self.tasks_run += 1;
                        self.progress.inc(1);
                        self.wake(next);
                    }
                    Err(stop) => self.fail(stop),
                }
            }
            Err(failure) if failure.is_retried() => {
                let failures = self.failures.entry(step).or_insert(0);
                *failures += 1;
                let again = *failures <= self.schedule.retries;
                let other_running = self.attempts_running(step) > 0;
                if again || other_running {
                    self.retried += 1;
                    *self.retried_by.entry(failure.cause()).or_insert(0) += 1;
                }
                if other_running {
                    // Another attempt of the task carries on, and may straggle in turn.
                    for attempt in self.in_flight.values_mut() {
                        if attempt.step == step {
                            attempt.relaunched = false;
                        }
                    }
                } else if again {
                    self.ready.insert(step);
                } else {
                    self.fail_task(step, failure);
                }
            }
            Err(failure) => self.fail_task(step, failure),
        }
    }

    /// Ends the run with `step`'s failure, naming how many attempts it had.
    fn fail_task(&mut self, step: Step, failure: Failure) {
        let attempts = self.attempts.get(&step).copied().unwrap_or(1);
        let why = if failure.is_retried() {
            ""
        } else {
            ", not retried: a task fails the same way every time"
        };
        let error = anyhow!(failure).context(format!(
            "task {} of chunk {} failed ({attempts} attempt{}{why})",
            step.kind(),
            step.chunk(),
            if attempts == 1 { "" } else { "s" },
        ));
        self.fail(Stopped::Tasks(error));
    }

    /// Steps that wait, some perhaps for the picture just read (a long-term chain codes
    /// pictures ahead of the chunk and plans each group from its last) or for the end of the
    /// input.
    fn wake_waiting(&mut self) {
        let waiting: Vec<Step> = self.waiting.iter().copied().collect();
        self.wake(waiting);
    }

    /// Tasks that may have become ready: those whose inputs now all exist move on.
    fn wake(&mut self, next: Vec<Step>) {
        for step in next {
            if self.waiting.contains(&step) && self.graph.task(step).is_some() {
                self.waiting.remove(&step);
                self.ready.insert(step);
            }
        }
    }

    /// The result that an earlier attempt (of this run or of one stopped part-way) kept in the
    /// store for the task whose key is `key`, if it is whole: it reads as a response, and
    /// every blob it names is still in the store. Anything less, and the task runs again.
    async fn kept_result(&self, key: &BlobId) -> Result<Option<Answer>> {
        let store = self.pool.store();
        let Some(bytes) = store.result(key).await? else {
            return Ok(None);
        };
        let Ok(answer) = decode_response(&bytes) else {
            return Ok(None);
        };
        for blob in &answer.stored {
            if !store.contains(&blob.id).await? {
                return Ok(None);
            }
        }
        Ok(Some(answer))
    }

    /// Records a successful answer: kept in the store as the task's result (under `key`, when
    /// the store keeps results), its outputs into the graph, its blobs into the pool for their
    /// readers, the inputs it held released, and finished chunks to the output. Returns the
    /// tasks that may have become ready.
    async fn accept(
        &mut self,
        step: Step,
        answer: Answer,
        key: Option<BlobId>,
    ) -> Result<Vec<Step>, Stopped> {
        if let Some(key) = key {
            // Kept before the task lets go of its inputs, so that whatever a resume needs
            // is either this result or still in the store.
            let response = Bytes::from(encode_response(&Ok(answer.clone())));
            self.pool
                .store()
                .put_result(&key, response)
                .await
                .map_err(|error| {
                    Stopped::Tasks(anyhow!(error).context(format!(
                        "cannot keep the result of {} of chunk {}",
                        step.kind(),
                        step.chunk()
                    )))
                })?;
        }
        let executed = answer.executed;
        let mut next = self
            .graph
            .complete(step, &executed.output)
            .map_err(Stopped::Tasks)?;
        next.extend(self.graph.record_coded(step, &executed.work.coded));
        self.keep_outputs(step, &executed.output, executed.blobs, &answer.stored)
            .await
            .map_err(|error| {
                Stopped::Tasks(error.context(format!(
                    "cannot keep the outputs of {} of chunk {}",
                    step.kind(),
                    step.chunk()
                )))
            })?;
        self.coded.insert(step, executed.work.coded);
        self.hand_over().await?;
        Ok(next)
    }

    /// Puts a task's output blobs into the pool for their readers, and lets go of its inputs.
    async fn keep_outputs(
        &mut self,
        step: Step,
        output: &TaskOutput,
        inline: Blobs,
        stored: &[BlobRef],
    ) -> Result<()> {
        let mut inline: HashMap<BlobId, Bytes> = inline
            .into_iter()
            .map(|(id, bytes)| (id, Bytes::from(Arc::unwrap_or_clone(bytes))))
            .collect();
        for (id, readers) in self.graph.output_readers(step, output) {
            if let Some(bytes) = inline.remove(&id) {
                self.pool.add(id, bytes, &readers).await?;
            } else if let Some(blob) = stored.iter().find(|blob| blob.id == id) {
                self.pool.adopt(*blob, &readers).await?;
            } else {
                bail!("output blob {id} came neither inline nor stored");
            }
        }
        // What a worker stored beyond its output is not read by anyone.
        for blob in stored {
            if !output.blobs().contains(&blob.id) {
                self.pool.adopt(*blob, &[]).await?;
            }
        }
        self.pool.release(Reader::Task(step)).await
    }

    /// The output of chunk `chunk`: its final stream `stream` and its pictures.
    async fn gather(&self, chunk: usize, stream: BlobId) -> Result<ChunkOutput> {
        let stream = (stream, self.pool.bytes(&stream).await?);
        let mut pictures = Vec::new();
        for id in self.graph.pictures_of(chunk) {
            pictures.push((*id, self.pool.bytes(id).await?));
        }
        Ok(ChunkOutput {
            chunk,
            stream,
            pictures,
        })
    }

    /// Hands every chunk whose final stream now exists, in order, to the output stream, and
    /// lets go of its stream and pictures.
    async fn hand_over(&mut self) -> Result<(), Stopped> {
        while let Some(stream) = self.graph.final_stream(self.next_output) {
            let chunk = self.next_output;
            let output = self.gather(chunk, stream).await.map_err(|error| {
                Stopped::Tasks(error.context(format!("cannot gather chunk {chunk}'s output")))
            })?;
            self.output.send(output).map_err(|_| Stopped::Output)?;
            self.pool
                .release(Reader::Output(chunk))
                .await
                .map_err(Stopped::Tasks)?;
            self.next_output += 1;
        }
        Ok(())
    }

    /// After a run that did not stop: every task ran and every chunk went to the output.
    fn check_done(&self) -> Result<()> {
        if let Some(step) = self.waiting.iter().chain(&self.ready).next() {
            bail!(
                "{} of chunk {} never got its inputs (a bug in the task graph)",
                step.kind(),
                step.chunk()
            );
        }
        let chunks = self.graph.layout().chunks();
        if self.next_output != chunks {
            bail!(
                "chunk {} never got its final stream (a bug in the task graph)",
                self.next_output
            );
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
