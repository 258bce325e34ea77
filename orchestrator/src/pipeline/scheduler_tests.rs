//! The scheduler on small graphs: with the local worker, and with test backends that count,
//! fail, stall or answer without computing.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use edge_worker::wire::{InlinePolicy, decode_request, encode_response};
use edge_worker::{Blobs, EncodeSettings, Executed, PictureFormat, Task, TaskError, WorkStats};
use futures::future::BoxFuture;

use super::*;
use crate::backend::{LocalBackend, TransportError};
use crate::blob_store::BlobStore;
use crate::pipeline::graph::Batch;

const FORMAT: PictureFormat = PictureFormat {
    width: 16,
    height: 16,
};

/// Two tiny pictures a chunk.
fn picture(frame: usize) -> Bytes {
    Bytes::from(vec![(40 + 20 * frame) as u8; FORMAT.i420_len()])
}

/// What a run left behind.
struct Ran {
    outcome: Outcome,
    /// The chunks the output stream got, in the order it got them.
    chunks: Vec<usize>,
    pool: BlobPool,
    store: Arc<BlobStore>,
}

struct Setup {
    chunks: usize,
    batch: Batch,
    schedule: Schedule,
    policy: InlinePolicy,
    /// The picture of each frame.
    picture: fn(usize) -> Bytes,
}

fn setup(chunks: usize, limit: usize, retries: u32) -> Setup {
    Setup {
        chunks,
        batch: Batch::Chunks(1),
        schedule: Schedule {
            limit,
            retries,
            timeout: None,
            straggler_factor: None,
        },
        policy: InlinePolicy::DEFAULT,
        picture,
    }
}

/// Runs `chunks` chunks of two pictures on `backend` (or the local worker over the run's
/// store, when `None`).
async fn run_on(backend: Option<Arc<dyn Backend>>, setup: Setup) -> Ran {
    let store = Arc::new(BlobStore::in_memory());
    let backend = backend
        .unwrap_or_else(|| Arc::new(LocalBackend::new(Arc::clone(&store), setup.schedule.limit)));
    // As the pipeline does: a backend that cannot reach the store gets every blob inline.
    let policy = if backend.reaches_store() {
        setup.policy
    } else {
        InlinePolicy::EVERYTHING
    };
    let mut pool = BlobPool::new(Arc::clone(&store), policy);
    let mut graph = ChunkGraph::new(2, setup.batch, FORMAT, EncodeSettings::default());
    let (pictures_in, pictures) = mpsc::channel(2);
    let frames = 2 * setup.chunks;
    let picture = setup.picture;
    tokio::spawn(async move {
        for frame in 0..frames {
            let bytes = picture(frame);
            let _ = pictures_in.send(Ok((BlobId::of(&bytes), bytes))).await;
        }
    });
    let (output, chunks_out) = sync_mpsc::channel();
    let outcome = run(
        Run {
            graph: &mut graph,
            pool: &mut pool,
            backend,
            pictures,
            output,
            progress: &ProgressBar::hidden(),
            epoch: Instant::now(),
        },
        setup.schedule,
    )
    .await;
    let chunks = chunks_out.try_iter().map(|chunk| chunk.chunk).collect();
    Ran {
        outcome,
        chunks,
        pool,
        store,
    }
}

/// The local worker, except that calls whose number (from 0) `fail` selects go wrong as
/// `how` says.
struct Flaky {
    local: LocalBackend,
    calls: AtomicUsize,
    fail: fn(usize) -> bool,
    how: Failing,
    /// How long a call that does not fail waits before it runs.
    ok_delay: Duration,
}

#[derive(Clone, Copy)]
enum Failing {
    Transport,
    Panic,
    Garbage,
    TaskFails,
    Stall,
}

impl Backend for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }

    fn reaches_store(&self) -> bool {
        false
    }

    fn call(&self, request: Bytes) -> BoxFuture<'_, Result<Bytes, TransportError>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if !(self.fail)(call) {
            return Box::pin(async move {
                tokio::time::sleep(self.ok_delay).await;
                self.local.call(request).await
            });
        }
        Box::pin(async move {
            match self.how {
                Failing::Transport => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Err(TransportError("the network is down".into()))
                }
                Failing::Panic => panic!("worker fell over"),
                Failing::Garbage => Ok(Bytes::from_static(b"not a response")),
                Failing::TaskFails => Ok(Bytes::from(encode_response(&Err(TaskError::BadTask(
                    "speed 99 is above 8".into(),
                ))))),
                Failing::Stall => std::future::pending().await,
            }
        })
    }
}

/// A flaky backend over a store of its own, not the run's: every blob travels inline.
fn flaky(fail: fn(usize) -> bool, how: Failing) -> Arc<dyn Backend> {
    Arc::new(Flaky {
        local: LocalBackend::new(Arc::new(BlobStore::in_memory()), 2),
        calls: AtomicUsize::new(0),
        fail,
        how,
        ok_delay: Duration::ZERO,
    })
}

#[tokio::test]
async fn every_task_runs_once_on_a_sound_backend() {
    let ran = run_on(None, setup(3, 2, 2)).await;
    let outcome = ran.outcome;
    outcome.result.unwrap();
    assert_eq!((outcome.tasks_run, outcome.retried), (3, 0));
    assert_eq!(ran.chunks, [0, 1, 2], "every chunk to the output, in order");
    assert_eq!(outcome.records.len(), 3);
    for record in &outcome.records {
        assert!(record.ok && record.attempt == 1 && record.worker < 2);
        assert!(record.end_s >= record.start_s);
        assert!(record.bytes_in > 0 && record.bytes_out > 0);
        assert_eq!(record.kind, "encode_chunk");
    }
}

#[tokio::test]
async fn an_attempt_without_a_response_is_retried() {
    for how in [Failing::Transport, Failing::Panic, Failing::Garbage] {
        let ran = run_on(Some(flaky(|call| call == 0, how)), setup(2, 1, 2)).await;
        let outcome = ran.outcome;
        outcome.result.unwrap();
        assert_eq!((outcome.tasks_run, outcome.retried), (2, 1));
        let attempts: Vec<(u32, u32, bool)> = outcome
            .records
            .iter()
            .map(|r| (r.chunk, r.attempt, r.ok))
            .collect();
        // One worker: chunk 0 fails, is ready again first, and succeeds.
        assert_eq!(attempts, [(0, 1, false), (0, 2, true), (1, 1, true)]);
    }
}

#[tokio::test]
async fn a_task_that_keeps_failing_fails_the_run_naming_it() {
    let ran = run_on(Some(flaky(|_| true, Failing::Transport)), setup(2, 1, 2)).await;
    let message = ran.outcome.result.unwrap_err().to_string();
    assert!(
        message.contains("encode_chunk of chunk 0")
            && message.contains("3 attempts")
            && message.contains("the network is down"),
        "{message}"
    );
    // Nothing new starts after the failure.
    assert_eq!(ran.outcome.records.len(), 3);
    assert!(ran.outcome.records.iter().all(|r| !r.ok && r.chunk == 0));

    let ran = run_on(
        Some(flaky(|call| call == 1, Failing::Garbage)),
        setup(2, 1, 0),
    )
    .await;
    let message = ran.outcome.result.unwrap_err().to_string();
    assert!(
        message.contains("of chunk 1 failed (1 attempt)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_task_that_fails_is_not_retried() {
    let ran = run_on(
        Some(flaky(|call| call == 0, Failing::TaskFails)),
        setup(2, 1, 2),
    )
    .await;
    let message = ran.outcome.result.unwrap_err().to_string();
    assert!(
        message.contains("task encode_chunk of chunk 0 failed (1 attempt, not retried")
            && message.contains("speed 99 is above 8"),
        "{message}"
    );
    assert_eq!(ran.outcome.retried, 0);
    assert_eq!(ran.outcome.records.len(), 1);
}

#[tokio::test]
async fn an_attempt_past_its_deadline_is_tried_again() {
    let mut stalls = setup(2, 1, 1);
    stalls.schedule.timeout = Some(Duration::from_millis(100));
    let ran = run_on(Some(flaky(|call| call == 0, Failing::Stall)), stalls).await;
    ran.outcome.result.unwrap();
    assert_eq!(ran.outcome.retried, 1);
    let first = &ran.outcome.records[0];
    assert!(!first.ok && first.end_s - first.start_s >= 0.1, "{first:?}");

    let mut always = setup(1, 1, 1);
    always.schedule.timeout = Some(Duration::from_millis(20));
    let ran = run_on(Some(flaky(|_| true, Failing::Stall)), always).await;
    let message = ran.outcome.result.unwrap_err().to_string();
    assert!(
        message.contains("(2 attempts)") && message.contains("no response within 0.0 s"),
        "{message}"
    );
}

#[tokio::test]
async fn running_tasks_are_waited_for_after_a_failure() {
    // Two workers: chunk 0 fails for good while chunk 1 is running; its record is kept.
    let ran = run_on(
        Some(flaky(|call| call == 0, Failing::Transport)),
        setup(2, 2, 0),
    )
    .await;
    assert!(ran.outcome.result.is_err());
    assert_eq!(ran.outcome.records.len(), 2);
    assert_eq!(ran.outcome.tasks_run, 1);
}

/// Answers every chunk encode with made-up blobs, counting how many calls are in flight at
/// the most. The first `limit` calls wait for each other, so that they are all in flight at
/// once however slowly the scheduler gets to them; the others pause a little.
struct Counting {
    in_flight: AtomicUsize,
    most: AtomicUsize,
    started: AtomicUsize,
    first: tokio::sync::Barrier,
    limit: usize,
    calls: Mutex<Vec<u32>>,
}

impl Counting {
    fn new(limit: usize) -> Counting {
        Counting {
            in_flight: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            first: tokio::sync::Barrier::new(limit),
            limit,
            calls: Mutex::new(Vec::new()),
        }
    }
}

impl Backend for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }

    fn reaches_store(&self) -> bool {
        false
    }

    fn call(&self, request: Bytes) -> BoxFuture<'_, Result<Bytes, TransportError>> {
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            if self.started.fetch_add(1, Ordering::SeqCst) < self.limit {
                self.first.wait().await;
            } else {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let task = decode_request(&request).unwrap().task;
            self.calls.lock().unwrap().push(task.chunk());
            Ok(made_up_answer(&task))
        })
    }
}

/// A response to a chunk encode with made-up blobs, computed from nothing.
fn made_up_answer(task: &Task) -> Bytes {
    let mut blobs = Blobs::new();
    let stream = blobs.insert(format!("stream {}", task.chunk()).into_bytes());
    let final_state = blobs.insert(format!("state {}", task.chunk()).into_bytes());
    assert!(matches!(task, Task::EncodeChunk { .. }));
    let executed = Executed {
        output: edge_worker::TaskOutput::EncodeChunk {
            stream,
            final_state,
        },
        blobs,
        work: WorkStats::default(),
    };
    Bytes::from(encode_response(&Ok(edge_worker::wire::Answer {
        executed,
        stored: Vec::new(),
    })))
}

#[tokio::test]
async fn the_concurrency_limit_holds() {
    for limit in [1, 3, 7] {
        let counting = Arc::new(Counting::new(limit));
        let ran = run_on(Some(counting.clone()), setup(20, limit, 0)).await;
        ran.outcome.result.unwrap();
        assert_eq!(counting.most.load(Ordering::SeqCst), limit);
        assert!(
            ran.outcome
                .records
                .iter()
                .all(|r| (r.worker as usize) < limit)
        );
        assert_eq!(counting.calls.lock().unwrap().len(), 20);
    }
}

/// A thousand requests in flight on a runtime of one thread: in flight is not a thread each.
#[tokio::test(flavor = "current_thread")]
async fn a_thousand_requests_in_flight_on_one_thread() {
    let counting = Arc::new(Counting::new(1000));
    let ran = run_on(Some(counting.clone()), setup(1000, 1000, 0)).await;
    ran.outcome.result.unwrap();
    assert_eq!(counting.most.load(Ordering::SeqCst), 1000);
    assert_eq!(ran.chunks.len(), 1000);
}

#[tokio::test]
async fn blobs_are_dropped_once_nothing_reads_them() {
    // Batches of two chunks (so re-encodes and rebases too), everything through the store.
    let mut stored = setup(8, 1, 0);
    stored.batch = Batch::Chunks(2);
    stored.policy = InlinePolicy::up_to(0);
    let ran = run_on(None, stored).await;
    ran.outcome.result.unwrap();
    assert_eq!(ran.outcome.tasks_run, 8 + 4 + 4);
    assert_eq!(ran.chunks, (0..8).collect::<Vec<_>>());
    assert_eq!(ran.pool.len(), 0, "the pool is empty at the end");
    let stats = ran.store.stats();
    assert_eq!((stats.blobs, stats.bytes), (0, 0), "and so is the store");
    // 16 pictures and 2 blobs out of each of 16 tasks went through; a few at a time stayed.
    let peak = ran.pool.peak();
    assert!(peak.blobs <= 12, "{peak:?}");
    assert!(stats.peak_blobs <= 12, "{stats:?}");
    assert!(
        stats.peak_blobs >= 4,
        "pictures and states did go through the store: {stats:?}"
    );
}

#[tokio::test]
async fn a_whole_video_batch_lets_go_of_its_keyframe_picture_at_the_end() {
    let mut whole = setup(5, 2, 0);
    whole.batch = Batch::Whole;
    let ran = run_on(None, whole).await;
    ran.outcome.result.unwrap();
    assert_eq!(ran.chunks, (0..5).collect::<Vec<_>>());
    assert_eq!(ran.pool.len(), 0, "the pool is empty at the end");
}

/// The local worker, noting the keyframe boost of every chunk encode it runs and the anchor
/// boost of every given-state encode.
struct Boosts {
    local: LocalBackend,
    seen: Mutex<BTreeMap<u32, u8>>,
    anchors: Mutex<BTreeMap<u32, u8>>,
}

impl Boosts {
    /// Two local worker threads, nothing seen yet.
    fn new() -> Arc<Boosts> {
        Arc::new(Boosts {
            local: LocalBackend::new(Arc::new(BlobStore::in_memory()), 2),
            seen: Mutex::new(BTreeMap::new()),
            anchors: Mutex::new(BTreeMap::new()),
        })
    }
}

impl Backend for Boosts {
    fn name(&self) -> &'static str {
        "boosts"
    }

    fn reaches_store(&self) -> bool {
        false
    }

    fn call(&self, request: Bytes) -> BoxFuture<'_, Result<Bytes, TransportError>> {
        match decode_request(&request).map(|decoded| decoded.task) {
            Ok(Task::EncodeChunk {
                chunk, settings, ..
            }) => {
                self.seen
                    .lock()
                    .unwrap()
                    .insert(chunk, settings.keyframe_boost);
            }
            Ok(Task::EncodeGivenState {
                chunk, settings, ..
            }) => {
                self.anchors
                    .lock()
                    .unwrap()
                    .insert(chunk, settings.anchor_boost);
            }
            _ => {}
        }
        self.local.call(request)
    }
}

/// A batch keyframe gets the serial encoder's boost where the batch's first chunk holds
/// still against it, and the smaller one where it moves, in every chunk of the batch.
#[tokio::test]
async fn batch_keyframes_are_planned_from_the_first_chunk() {
    // Stripes that move by a few samples a frame from chunk 1 on: batch 0 holds still,
    // batch 1 (chunks 2 and 3) moves.
    fn stripes(frame: usize) -> Bytes {
        let shift = if frame < 4 { 0 } else { 3 * frame };
        let width = FORMAT.width as usize;
        let mut bytes = vec![128u8; FORMAT.i420_len()];
        for (i, sample) in bytes[..width * FORMAT.height as usize]
            .iter_mut()
            .enumerate()
        {
            *sample = if ((i % width + shift) / 2).is_multiple_of(2) {
                30
            } else {
                220
            };
        }
        Bytes::from(bytes)
    }
    let boosts = Boosts::new();
    let mut two = setup(4, 2, 0);
    two.batch = Batch::Chunks(2);
    two.picture = stripes;
    let ran = run_on(Some(boosts.clone()), two).await;
    ran.outcome.result.unwrap();
    let full = EncodeSettings::default().keyframe_boost;
    let seen = boosts.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        BTreeMap::from([
            (0, full),
            (1, full),
            (2, edge_worker::CHUNK_KEYFRAME_BOOST),
            (3, edge_worker::CHUNK_KEYFRAME_BOOST)
        ])
    );
}

/// Each anchor gets the job's boost where its chunk's pictures predict each other, and none
/// where they do not (grain).
#[tokio::test]
async fn anchors_are_planned_from_their_chunks() {
    // Chunks 0 and 1 hold a texture still, chunk 2 is grain that changes every frame,
    // chunk 3 holds still again.
    fn pictures(frame: usize) -> Bytes {
        let seed = if (4..6).contains(&frame) { frame } else { 0 };
        let mut bytes = vec![128u8; FORMAT.i420_len()];
        let mut state = 0x9e37_79b9_u32.wrapping_mul(seed as u32 + 1);
        for sample in &mut bytes[..(FORMAT.width * FORMAT.height) as usize] {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *sample = 64 + (state % 128) as u8;
        }
        Bytes::from(bytes)
    }
    let boosts = Boosts::new();
    let mut four = setup(4, 2, 0);
    four.batch = Batch::Whole;
    four.picture = pictures;
    let ran = run_on(Some(boosts.clone()), four).await;
    ran.outcome.result.unwrap();
    let full = EncodeSettings::default().anchor_boost;
    assert!(full > 0);
    let anchors = boosts.anchors.lock().unwrap().clone();
    assert_eq!(anchors, BTreeMap::from([(1, full), (2, 0), (3, full)]));
}

/// Chunk encodes of 100 ms, except that the first attempt of one chunk in twenty (7, 27,
/// 47, ...) lands on a worker ten times slower; other attempts are quick, or, with
/// `relaunch_fails`, the second attempt of those chunks gets no response.
struct Slow {
    attempts: Mutex<HashMap<u32, u32>>,
    relaunch_fails: bool,
}

impl Backend for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }

    fn reaches_store(&self) -> bool {
        false
    }

    fn call(&self, request: Bytes) -> BoxFuture<'_, Result<Bytes, TransportError>> {
        Box::pin(async move {
            let task = decode_request(&request).unwrap().task;
            let attempt = {
                let mut attempts = self.attempts.lock().unwrap();
                let attempt = attempts.entry(task.chunk()).or_insert(0);
                *attempt += 1;
                *attempt
            };
            let slow = task.chunk() % 20 == 7 && attempt == 1;
            if self.relaunch_fails && task.chunk() % 20 == 7 && attempt == 2 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(TransportError("the second worker fell over".into()));
            }
            tokio::time::sleep(Duration::from_millis(if slow { 1000 } else { 100 })).await;
            Ok(made_up_answer(&task))
        })
    }
}

/// Sixty chunk encodes on four workers, on the paused clock: how long they take, and what
/// the run did.
async fn sixty_on_slow_workers(straggler_factor: Option<f64>, slow: bool) -> (Duration, Ran) {
    let attempts = if slow {
        HashMap::new()
    } else {
        // Every first attempt already made: all quick.
        (0..60).map(|chunk| (chunk, 1)).collect()
    };
    let backend = Arc::new(Slow {
        attempts: Mutex::new(attempts),
        relaunch_fails: false,
    });
    run_sixty(backend, straggler_factor).await
}

async fn run_sixty(backend: Arc<dyn Backend>, straggler_factor: Option<f64>) -> (Duration, Ran) {
    let mut setup = setup(60, 4, 0);
    setup.schedule.straggler_factor = straggler_factor;
    let started = tokio::time::Instant::now();
    let ran = run_on(Some(backend), setup).await;
    (started.elapsed(), ran)
}

#[tokio::test(start_paused = true)]
async fn stragglers_are_launched_again_and_the_first_result_wins() {
    let (clean, ran) = sixty_on_slow_workers(Some(3.0), false).await;
    ran.outcome.result.unwrap();
    assert_eq!(ran.outcome.relaunched, 0, "no straggler in a clean run");
    let (unaided, ran) = sixty_on_slow_workers(None, true).await;
    ran.outcome.result.unwrap();
    let (aided, ran) = sixty_on_slow_workers(Some(3.0), true).await;
    let outcome = ran.outcome;
    outcome.result.unwrap();
    let ratio = |time: Duration| time.as_secs_f64() / clean.as_secs_f64();
    eprintln!(
        "clean {clean:?}, slow workers alone {unaided:?} ({:.2}x), stragglers launched again \
         {aided:?} ({:.2}x)",
        ratio(unaided),
        ratio(aided)
    );
    assert!(
        ratio(unaided) > 1.5,
        "the slow workers do slow the run down"
    );
    assert!(ratio(aided) <= 1.3, "within 1.3x of a clean run");
    assert_eq!(ran.chunks, (0..60).collect::<Vec<_>>());
    assert_eq!((outcome.tasks_run, outcome.relaunched), (60, 3));
    let superseded: Vec<(u32, u32)> = outcome
        .records
        .iter()
        .filter(|r| r.cause.as_deref() == Some(SUPERSEDED))
        .map(|r| (r.chunk, r.attempt))
        .collect();
    assert_eq!(
        superseded,
        [(7, 1), (27, 1), (47, 1)],
        "the slow attempts lost"
    );
    let won: Vec<(u32, u32)> = outcome
        .records
        .iter()
        .filter(|r| r.ok && r.chunk % 20 == 7)
        .map(|r| (r.chunk, r.attempt))
        .collect();
    assert_eq!(won, [(7, 2), (27, 2), (47, 2)]);
    assert!(
        !outcome
            .records
            .iter()
            .any(|r| !r.ok && r.cause.as_deref() != Some(SUPERSEDED))
    );
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_fails_beside_a_running_one_is_not_retried_but_its_twin_is_watched() {
    // The second attempts of the stragglers fail while the first ones still run: those
    // failures launch nothing, but the first attempts, still straggling, are launched again
    // (a third attempt, quick), and that one wins.
    let backend = Arc::new(Slow {
        attempts: Mutex::new(HashMap::new()),
        relaunch_fails: true,
    });
    let (_, ran) = run_sixty(backend, Some(3.0)).await;
    let outcome = ran.outcome;
    outcome.result.unwrap();
    assert_eq!(ran.chunks.len(), 60);
    assert_eq!((outcome.relaunched, outcome.retried), (6, 3));
    assert_eq!(outcome.retried_by, BTreeMap::from([("transport", 3)]));
    let chunk_7: Vec<(u32, bool, Option<&str>)> = outcome
        .records
        .iter()
        .filter(|r| r.chunk == 7)
        .map(|r| (r.attempt, r.ok, r.cause.as_deref()))
        .collect();
    assert_eq!(
        chunk_7,
        [
            (2, false, Some("transport")),
            (3, true, None),
            (1, false, Some(SUPERSEDED))
        ]
    );
}
