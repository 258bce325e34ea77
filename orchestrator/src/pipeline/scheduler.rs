//! Runs a [`ChunkGraph`] on a [`Backend`] with a fixed number of workers.
//!
//! One thread per worker calls the backend; this thread owns the graph and the blob store, so
//! neither needs a lock. It builds each task's request with `edge_worker::wire::encode_request`,
//! reads each response with `edge_worker::wire::decode_response` (which checks every blob against
//! its hash), and picks the next task when a worker falls idle: rebases first, since their
//! walk along each batch is the serial critical path, then re-encodes, then chunk encodes,
//! each in chunk order (the order of [`Step`]). A failed attempt (an error response, a backend
//! error, or a panic on the worker thread) is tried again up to `retries` times; after that no
//! new task starts, the running ones are waited for, and the run fails naming the task.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use edge_worker::wire::{InlinePolicy, decode_response, encode_request};
use edge_worker::{Blobs, FrameFacts};
use indicatif::ProgressBar;

use super::backend::Backend;
use super::graph::{ChunkGraph, Step};
use crate::timeline::TimelineRecord;

/// How many workers run tasks at once, and how often a failed task is tried again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub workers: usize,
    pub retries: u32,
}

/// What a run did, whether or not it succeeded.
#[derive(Debug)]
pub struct Outcome {
    /// One record per attempt, in the order they ended.
    pub records: Vec<TimelineRecord>,
    /// Tasks that succeeded.
    pub tasks_run: usize,
    /// Failed attempts that were tried again.
    pub retried: usize,
    /// The frames each successful task put out.
    pub coded: BTreeMap<Step, Vec<FrameFacts>>,
    /// `Ok` once every task of the graph succeeded.
    pub result: Result<()>,
}

/// One attempt of a task, on its way to a worker.
struct Job {
    step: Step,
    attempt: u32,
    request: Vec<u8>,
}

/// One attempt, back from a worker.
struct Done {
    worker: usize,
    step: Step,
    attempt: u32,
    start: Duration,
    end: Duration,
    bytes_in: u64,
    /// The response bytes, or why there are none.
    response: Result<Vec<u8>>,
}

/// Runs every task of `graph`; new blobs go into `store`, which must hold the graph's
/// pictures. Times in the records count from `epoch`.
pub fn run(
    graph: &mut ChunkGraph,
    store: &mut Blobs,
    backend: &dyn Backend,
    schedule: Schedule,
    progress: &ProgressBar,
    epoch: Instant,
) -> Outcome {
    let mut driver = Driver::new(graph, store, schedule.retries, progress);
    let result = thread::scope(|scope| -> Result<()> {
        let (done_tx, done_rx) = mpsc::channel();
        let mut jobs = Vec::new();
        for worker in 0..schedule.workers.max(1) {
            let (job_tx, job_rx) = mpsc::channel();
            let done_tx = done_tx.clone();
            thread::Builder::new()
                .name(format!("flick-worker-{worker}"))
                .spawn_scoped(scope, move || {
                    work(worker, backend, &job_rx, &done_tx, epoch);
                })
                .with_context(|| format!("cannot start worker thread {worker}"))?;
            jobs.push(job_tx);
        }
        drop(done_tx);
        // Dropping `jobs` on return ends the worker threads; the scope joins them.
        driver.drive(&jobs, &done_rx)
    });
    Outcome {
        records: driver.records,
        tasks_run: driver.tasks_run,
        retried: driver.retried,
        coded: driver.coded,
        result,
    }
}

/// A worker thread: runs jobs until the scheduler hangs up.
fn work(
    worker: usize,
    backend: &dyn Backend,
    jobs: &Receiver<Job>,
    done: &Sender<Done>,
    epoch: Instant,
) {
    for job in jobs {
        let bytes_in = job.request.len() as u64;
        let start = epoch.elapsed();
        let response = panic::catch_unwind(AssertUnwindSafe(|| backend.run(worker, job.request)))
            .unwrap_or_else(|payload| {
                Err(anyhow!(
                    "the worker panicked: {}",
                    panic_message(payload.as_ref())
                ))
            });
        let end = epoch.elapsed();
        let sent = done.send(Done {
            worker,
            step: job.step,
            attempt: job.attempt,
            start,
            end,
            bytes_in,
            response,
        });
        if sent.is_err() {
            break;
        }
    }
}

/// The text a panic was raised with, when it is text.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// The scheduler's side of a run.
struct Driver<'a> {
    graph: &'a mut ChunkGraph,
    store: &'a mut Blobs,
    retries: u32,
    progress: &'a ProgressBar,
    /// Tasks whose inputs exist, in priority order.
    ready: BTreeSet<Step>,
    /// Tasks still waiting for inputs.
    waiting: BTreeSet<Step>,
    /// Attempts started so far, per task.
    attempts: BTreeMap<Step, u32>,
    records: Vec<TimelineRecord>,
    tasks_run: usize,
    retried: usize,
    coded: BTreeMap<Step, Vec<FrameFacts>>,
    /// The first task that failed for good; once set, nothing new starts.
    failure: Option<anyhow::Error>,
}

impl<'a> Driver<'a> {
    fn new(
        graph: &'a mut ChunkGraph,
        store: &'a mut Blobs,
        retries: u32,
        progress: &'a ProgressBar,
    ) -> Driver<'a> {
        let (ready, waiting) = graph
            .steps()
            .into_iter()
            .partition(|&step| graph.task(step).is_some());
        Driver {
            graph,
            store,
            retries,
            progress,
            ready,
            waiting,
            attempts: BTreeMap::new(),
            records: Vec::new(),
            tasks_run: 0,
            retried: 0,
            coded: BTreeMap::new(),
            failure: None,
        }
    }

    /// Hands ready tasks to idle workers and takes results back until the graph is done or
    /// a task failed for good (and every running task has come back).
    fn drive(&mut self, jobs: &[Sender<Job>], done: &Receiver<Done>) -> Result<()> {
        let mut idle: Vec<usize> = (0..jobs.len()).rev().collect();
        let mut running = 0;
        loop {
            while self.failure.is_none() {
                let Some(&worker) = idle.last() else { break };
                let Some(step) = self.ready.pop_first() else {
                    break;
                };
                match self.job(step) {
                    Ok(job) => {
                        if jobs[worker].send(job).is_err() {
                            self.failure = Some(anyhow!("worker thread {worker} stopped"));
                            break;
                        }
                        idle.pop();
                        running += 1;
                    }
                    Err(error) => self.failure = Some(error),
                }
            }
            self.progress
                .set_message(format!("{running} running, {} retried", self.retried));
            if running == 0 {
                break;
            }
            let finished = done
                .recv()
                .context("every worker thread stopped with tasks still running")?;
            running -= 1;
            idle.push(finished.worker);
            self.finish(finished);
        }
        if let Some(error) = self.failure.take() {
            return Err(error);
        }
        if let Some(step) = self.waiting.iter().chain(&self.ready).next() {
            bail!(
                "{} of chunk {} never got its inputs (a bug in the task graph)",
                step.kind(),
                step.chunk()
            );
        }
        Ok(())
    }

    /// The next attempt of `step`, its request built from the store.
    fn job(&mut self, step: Step) -> Result<Job> {
        let what = || format!("{} of chunk {}", step.kind(), step.chunk());
        let task = self
            .graph
            .task(step)
            .ok_or_else(|| anyhow!("{} was scheduled before its inputs existed", what()))?;
        let request = encode_request(&task, &*self.store, &[], InlinePolicy::EVERYTHING)
            .map_err(|error| anyhow!("cannot build the request for {}: {error}", what()))?;
        let attempt = self.attempts.entry(step).or_insert(0);
        *attempt += 1;
        Ok(Job {
            step,
            attempt: *attempt,
            request,
        })
    }

    /// Takes one attempt's result: its outputs into the graph and the store, or a retry, or
    /// the run's failure.
    fn finish(&mut self, done: Done) {
        let mut bytes_out = 0;
        let accepted = done.response.and_then(|response| {
            bytes_out = response.len() as u64;
            self.accept(done.step, &response)
        });
        self.records.push(TimelineRecord {
            kind: done.step.kind().to_owned(),
            chunk: u32::try_from(done.step.chunk()).unwrap_or(u32::MAX),
            worker: u32::try_from(done.worker).unwrap_or(u32::MAX),
            start_s: done.start.as_secs_f64(),
            end_s: done.end.as_secs_f64(),
            bytes_in: done.bytes_in,
            bytes_out,
            attempt: done.attempt,
            ok: accepted.is_ok(),
        });
        match accepted {
            Ok(next) => {
                self.tasks_run += 1;
                self.progress.inc(1);
                for step in next {
                    if self.waiting.contains(&step) && self.graph.task(step).is_some() {
                        self.waiting.remove(&step);
                        self.ready.insert(step);
                    }
                }
            }
            Err(_) if done.attempt <= self.retries => {
                self.retried += 1;
                self.ready.insert(done.step);
            }
            Err(error) => {
                if self.failure.is_none() {
                    let attempts = done.attempt;
                    self.failure = Some(error.context(format!(
                        "task {} of chunk {} failed ({attempts} attempt{})",
                        done.step.kind(),
                        done.step.chunk(),
                        if attempts == 1 { "" } else { "s" }
                    )));
                }
            }
        }
    }

    /// Reads a response: its blobs into the store, its outputs into the graph. Returns the
    /// tasks that may have become ready.
    fn accept(&mut self, step: Step, response: &[u8]) -> Result<Vec<Step>> {
        // This checks every blob against its id, and that the output's blobs came along.
        let executed = decode_response(response)
            .map_err(|error| anyhow!(error))?
            .executed;
        let next = self.graph.complete(step, &executed.output)?;
        self.store.extend(executed.blobs);
        self.coded.insert(step, executed.work.coded);
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use edge_worker::{EncodeSettings, PictureFormat};

    use super::*;
    use crate::pipeline::backend::LocalBackend;
    use crate::pipeline::graph::{Batch, Layout};

    /// A graph of 4 tiny pictures in 2 chunks of 2, each its own batch (no rebase), and the
    /// store holding the pictures.
    fn plain_graph(chunks: usize) -> (ChunkGraph, Blobs) {
        let format = PictureFormat {
            width: 16,
            height: 16,
        };
        let mut store = Blobs::new();
        let frames = 2 * chunks;
        let pictures = (0..frames)
            .map(|f| store.insert(vec![(40 + 20 * f) as u8; 16 * 16 + 2 * 8 * 8]))
            .collect();
        let layout = Layout::new(frames, 2, Batch::Chunks(1));
        let graph = ChunkGraph::new(layout, format, EncodeSettings::default(), pictures);
        (graph, store)
    }

    /// The local worker, except that calls whose number (from 0) `fail` selects go wrong as
    /// `how` says.
    struct Flaky<F: Fn(usize) -> bool + Sync> {
        calls: AtomicUsize,
        fail: F,
        how: Failure,
    }

    #[derive(Clone, Copy)]
    enum Failure {
        Error,
        Panic,
        Garbage,
    }

    impl<F: Fn(usize) -> bool + Sync> Backend for Flaky<F> {
        fn name(&self) -> &'static str {
            "flaky"
        }

        fn run(&self, worker: usize, request: Vec<u8>) -> Result<Vec<u8>> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            if !(self.fail)(call) {
                return LocalBackend.run(worker, request);
            }
            match self.how {
                Failure::Error => bail!("the network is down"),
                Failure::Panic => panic!("worker fell over"),
                Failure::Garbage => Ok(b"not a response".to_vec()),
            }
        }
    }

    fn flaky<F: Fn(usize) -> bool + Sync>(fail: F, how: Failure) -> Flaky<F> {
        Flaky {
            calls: AtomicUsize::new(0),
            fail,
            how,
        }
    }

    fn run_on(backend: &dyn Backend, chunks: usize, workers: usize, retries: u32) -> Outcome {
        let (mut graph, mut store) = plain_graph(chunks);
        let schedule = Schedule { workers, retries };
        let outcome = run(
            &mut graph,
            &mut store,
            backend,
            schedule,
            &ProgressBar::hidden(),
            Instant::now(),
        );
        if outcome.result.is_ok() {
            for stream in graph.final_streams().unwrap() {
                assert!(
                    store.contains(&stream),
                    "the final streams are in the store"
                );
            }
        }
        outcome
    }

    #[test]
    fn every_task_runs_once_on_a_sound_backend() {
        let outcome = run_on(&LocalBackend, 3, 2, 2);
        outcome.result.unwrap();
        assert_eq!((outcome.tasks_run, outcome.retried), (3, 0));
        assert_eq!(outcome.records.len(), 3);
        for record in &outcome.records {
            assert!(record.ok && record.attempt == 1 && record.worker < 2);
            assert!(record.end_s >= record.start_s);
            assert!(record.bytes_in > 0 && record.bytes_out > 0);
            assert_eq!(record.kind, "encode_chunk");
        }
    }

    #[test]
    fn a_failed_attempt_is_retried() {
        for how in [Failure::Error, Failure::Panic, Failure::Garbage] {
            let backend = flaky(|call| call == 0, how);
            let outcome = run_on(&backend, 2, 1, 2);
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

    #[test]
    fn a_task_that_keeps_failing_fails_the_run_naming_it() {
        let backend = flaky(|_| true, Failure::Error);
        let outcome = run_on(&backend, 2, 1, 2);
        let message = format!("{:#}", outcome.result.unwrap_err());
        assert!(
            message.contains("encode_chunk of chunk 0")
                && message.contains("3 attempts")
                && message.contains("the network is down"),
            "{message}"
        );
        // Nothing new starts after the failure.
        assert_eq!(outcome.records.len(), 3);
        assert!(outcome.records.iter().all(|r| !r.ok && r.chunk == 0));

        let outcome = run_on(&flaky(|call| call == 1, Failure::Garbage), 2, 1, 0);
        let message = format!("{:#}", outcome.result.unwrap_err());
        assert!(
            message.contains("of chunk 1 failed (1 attempt)"),
            "{message}"
        );
    }

    #[test]
    fn running_tasks_are_waited_for_after_a_failure() {
        // Two workers: chunk 0 fails for good while chunk 1 is running; its record is kept.
        let backend = flaky(|call| call == 0, Failure::Error);
        let outcome = run_on(&backend, 2, 2, 0);
        assert!(outcome.result.is_err());
        assert_eq!(outcome.records.len(), 2);
        assert_eq!(outcome.tasks_run, 1);
    }
}
