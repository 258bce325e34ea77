//! The task graph of ExCamera[N, x] (DESIGN.md §2): which tasks a video needs, which outputs
//! each one waits for, and which chunk streams make up the final stream.
//!
//! Chunk `i` holds frames `[i*N, min((i+1)*N, F))`; batch `b` holds chunks `[b*x, (b+1)*x)`.
//! Every chunk is encoded alone (`E_i`). A chunk that is not first in its batch also gets its
//! first picture re-encoded from `E_{i-1}`'s final state (`G_i`), and is rebased (`R_i`) onto
//! the true state at the end of chunk `i-1`: `E_{i-1}`'s when chunk `i-1` opens the batch,
//! `R_{i-1}`'s otherwise. That last dependency is the serial walk along each batch, which
//! starts anew at a chunk whose first frame `G_i` found to be a scene cut: a keyframe needs no
//! state.

use std::collections::BTreeSet;
use std::ops::Range;

use anyhow::{Result, bail};
use edge_worker::{BlobId, EncodeSettings, Opening, PictureFormat, Task, TaskOutput};

/// How many chunks a batch holds: a number, or every chunk of the video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Batch {
    /// At most this many chunks per batch (at least 1).
    Chunks(usize),
    /// One batch: a single keyframe for the whole video.
    Whole,
}

impl Batch {
    /// Whether chunk `chunk` opens its batch (so it keeps its keyframe and needs no rebase).
    pub fn first_in_batch(self, chunk: usize) -> bool {
        match self {
            Batch::Chunks(n) => chunk.is_multiple_of(n.max(1)),
            Batch::Whole => chunk == 0,
        }
    }
}

/// Parses `--batch`: a positive number of chunks, or `whole`.
pub fn parse_batch(text: &str) -> Result<Batch, String> {
    if text.eq_ignore_ascii_case("whole") {
        return Ok(Batch::Whole);
    }
    match text.parse::<usize>() {
        Ok(0) => Err("a batch holds at least 1 chunk (or say `whole`)".to_owned()),
        Ok(chunks) => Ok(Batch::Chunks(chunks)),
        Err(_) => Err(format!(
            "'{text}' is neither a number of chunks nor `whole`"
        )),
    }
}

/// How a video of `frames` frames is cut into chunks and batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub frames: usize,
    pub chunk_frames: usize,
    /// Chunks per batch (the last batch may hold fewer).
    pub batch_chunks: usize,
}

impl Layout {
    /// The layout of `frames` frames (at least 1) in chunks of `chunk_frames` (at least 1).
    pub fn new(frames: usize, chunk_frames: usize, batch: Batch) -> Layout {
        let chunk_frames = chunk_frames.max(1);
        let chunks = frames.div_ceil(chunk_frames).max(1);
        let batch_chunks = match batch {
            Batch::Chunks(n) => n.clamp(1, chunks),
            Batch::Whole => chunks,
        };
        Layout {
            frames,
            chunk_frames,
            batch_chunks,
        }
    }

    /// Number of chunks (the last may be short).
    pub fn chunks(&self) -> usize {
        self.frames.div_ceil(self.chunk_frames)
    }

    /// Number of batches, which is the number of keyframes in the final stream.
    pub fn batches(&self) -> usize {
        self.chunks().div_ceil(self.batch_chunks)
    }

    /// The batch that chunk `chunk` belongs to.
    pub fn batch_of(&self, chunk: usize) -> usize {
        chunk / self.batch_chunks
    }

    /// Chunks that are not first in their batch: each needs a re-encode and a rebase.
    pub fn rebased_chunks(&self) -> usize {
        self.chunks() - self.batches()
    }

    /// Tasks in the graph: one encode per chunk, plus a re-encode and a rebase for each chunk
    /// that is not first in its batch.
    pub fn task_count(&self) -> usize {
        self.chunks() + 2 * self.rebased_chunks()
    }
}

/// One task of the graph. The derived order is the scheduler's priority: rebases first (they
/// are the serial critical path), then re-encodes, then chunk encodes, each in chunk order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// `R_i`: rebase chunk i onto the true state at the end of chunk i-1 (none when its first
    /// frame is a scene cut's keyframe).
    Rebase(usize),
    /// `G_i`: re-encode chunk i's first picture from `E_{i-1}`'s final state.
    GivenState(usize),
    /// `E_i`: encode chunk i on its own.
    Encode(usize),
}

impl Step {
    /// The task kind as the worker and the timeline name it.
    pub fn kind(self) -> &'static str {
        match self {
            Step::Rebase(_) => "rebase",
            Step::GivenState(_) => "encode_given_state",
            Step::Encode(_) => "encode_chunk",
        }
    }

    /// The chunk the task belongs to.
    pub fn chunk(self) -> usize {
        match self {
            Step::Rebase(chunk) | Step::GivenState(chunk) | Step::Encode(chunk) => chunk,
        }
    }
}

/// A chunk stream and the decoder state after its last frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ChunkResult {
    stream: BlobId,
    final_state: BlobId,
}

/// A chunk's first frame encoded from the previous chunk's state, the frame context of
/// that state, and whether the frame is a keyframe (a scene cut).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct GivenResult {
    frame: BlobId,
    made_from: BlobId,
    scene_cut: bool,
}

/// Who may still read a blob: a task of the graph, or the output stream, which takes each
/// chunk's final stream and pictures (to check the stream against them) in chunk order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reader {
    Task(Step),
    /// The final stream of this chunk, and its pictures.
    Output(usize),
}

/// The graph of one video, and the outputs of the tasks done so far. It grows as the input
/// is read: a chunk's tasks join the graph once its pictures are in (all N, or the last ones
/// at the end of the input), so the video never has to be read whole before tasks start.
#[derive(Clone, Debug)]
pub struct ChunkGraph {
    chunk_frames: usize,
    batch: Batch,
    format: PictureFormat,
    settings: EncodeSettings,
    /// One raw I420 picture blob per frame read so far.
    pictures: Vec<BlobId>,
    /// Set once the input has ended: the last chunk is then complete, however short.
    ended: bool,
    encoded: Vec<Option<ChunkResult>>,
    given: Vec<Option<GivenResult>>,
    rebased: Vec<Option<ChunkResult>>,
}

impl ChunkGraph {
    /// An empty graph for chunks of `chunk_frames` (at least 1) in batches of `batch`.
    pub fn new(
        chunk_frames: usize,
        batch: Batch,
        format: PictureFormat,
        settings: EncodeSettings,
    ) -> ChunkGraph {
        ChunkGraph {
            chunk_frames: chunk_frames.max(1),
            batch,
            format,
            settings,
            pictures: Vec::new(),
            ended: false,
            encoded: Vec::new(),
            given: Vec::new(),
            rebased: Vec::new(),
        }
    }

    /// The graph of a whole video at once, and all its steps.
    #[cfg(test)]
    pub fn of_pictures(
        chunk_frames: usize,
        batch: Batch,
        format: PictureFormat,
        settings: EncodeSettings,
        pictures: &[BlobId],
    ) -> ChunkGraph {
        let mut graph = ChunkGraph::new(chunk_frames, batch, format, settings);
        for &picture in pictures {
            graph.add_picture(picture);
        }
        graph.end_input();
        graph
    }

    /// Adds the next picture of the video. Returns the steps of the chunk it completes, if it
    /// does.
    pub fn add_picture(&mut self, picture: BlobId) -> Vec<Step> {
        debug_assert!(!self.ended, "a picture after the end of the input");
        self.pictures.push(picture);
        if self.pictures.len().is_multiple_of(self.chunk_frames) {
            self.open_chunk()
        } else {
            Vec::new()
        }
    }

    /// The input has ended. Returns the steps of the short last chunk, if there is one.
    pub fn end_input(&mut self) -> Vec<Step> {
        if self.ended {
            return Vec::new();
        }
        self.ended = true;
        if self.pictures.len().is_multiple_of(self.chunk_frames) {
            Vec::new()
        } else {
            self.open_chunk()
        }
    }

    /// Whether the input has ended.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Pictures added so far.
    pub fn frames(&self) -> usize {
        self.pictures.len()
    }

    /// A chunk's pictures are all in: its steps join the graph.
    fn open_chunk(&mut self) -> Vec<Step> {
        let chunk = self.encoded.len();
        self.encoded.push(None);
        self.given.push(None);
        self.rebased.push(None);
        if self.batch.first_in_batch(chunk) {
            vec![Step::Encode(chunk)]
        } else {
            vec![
                Step::Encode(chunk),
                Step::GivenState(chunk),
                Step::Rebase(chunk),
            ]
        }
    }

    /// Chunks whose pictures are all in.
    fn chunks(&self) -> usize {
        self.encoded.len()
    }

    /// The layout of the pictures added so far; the video's once the input has ended.
    pub fn layout(&self) -> Layout {
        Layout::new(self.pictures.len(), self.chunk_frames, self.batch)
    }

    /// The frames of chunk `chunk`, as far as they are in.
    pub fn frames_of(&self, chunk: usize) -> Range<usize> {
        let start = (chunk * self.chunk_frames).min(self.pictures.len());
        start..((chunk + 1) * self.chunk_frames).min(self.pictures.len())
    }

    /// The pictures of chunk `chunk`.
    pub fn pictures_of(&self, chunk: usize) -> &[BlobId] {
        &self.pictures[self.frames_of(chunk)]
    }

    /// Chunks whose first frame is a scene cut's keyframe, so that their rebase waits for no
    /// other: each starts a serial walk of its own.
    pub fn scene_cut_chunks(&self) -> BTreeSet<usize> {
        (0..self.chunks())
            .filter(|&chunk| self.given[chunk].is_some_and(|given| given.scene_cut))
            .collect()
    }

    /// What stands first in chunk `chunk` in the final stream.
    fn opening(&self, chunk: usize) -> Opening {
        if self.batch.first_in_batch(chunk) {
            Opening::Keyframe
        } else {
            Opening::Anchor
        }
    }

    /// Every step of the chunks whose pictures are in.
    #[cfg(test)]
    pub fn steps(&self) -> Vec<Step> {
        let chunks = self.chunks();
        let mut steps: Vec<Step> = (0..chunks).map(Step::Encode).collect();
        for chunk in (0..chunks).filter(|&c| !self.batch.first_in_batch(c)) {
            steps.push(Step::GivenState(chunk));
            steps.push(Step::Rebase(chunk));
        }
        steps
    }

    /// The task for `step` once every output it needs exists; `None` until then (and for a
    /// step that is not in the graph).
    pub fn task(&self, step: Step) -> Option<Task> {
        let chunk = step.chunk();
        if chunk >= self.chunks() {
            return None;
        }
        let frames = self.frames_of(chunk);
        let chunk_id = u32::try_from(chunk).ok()?;
        if !matches!(step, Step::Encode(_)) && self.batch.first_in_batch(chunk) {
            return None;
        }
        match step {
            Step::Encode(_) => Some(Task::EncodeChunk {
                chunk: chunk_id,
                format: self.format,
                settings: self.settings.clone(),
                opening: self.opening(chunk),
                frames: self.pictures[frames].to_vec(),
            }),
            Step::GivenState(_) => {
                let previous = self.encoded[chunk - 1]?;
                Some(Task::EncodeGivenState {
                    chunk: chunk_id,
                    format: self.format,
                    settings: self.settings.clone(),
                    state: previous.final_state,
                    frame: self.pictures[frames.start],
                })
            }
            Step::Rebase(_) => {
                let given = self.given[chunk]?;
                // A scene cut's keyframe needs no state, so the serial walk starts anew.
                let target = if given.scene_cut {
                    None
                } else if self.batch.first_in_batch(chunk - 1) {
                    Some(self.encoded[chunk - 1]?.final_state)
                } else {
                    Some(self.rebased[chunk - 1]?.final_state)
                };
                Some(Task::Rebase {
                    chunk: chunk_id,
                    format: self.format,
                    target,
                    first_frame: given.frame,
                    first_made_from: given.made_from,
                    original: self.encoded[chunk]?.stream,
                    frames: self.pictures[frames].to_vec(),
                })
            }
        }
    }

    /// Records the output of `step`; returns the steps that may have become ready by it.
    ///
    /// # Errors
    ///
    /// When the output is not of the step's kind, or the step already has one.
    pub fn complete(&mut self, step: Step, output: &TaskOutput) -> Result<Vec<Step>> {
        let chunk = step.chunk();
        if chunk >= self.chunks() {
            bail!("{} of chunk {chunk}: no such chunk", step.kind());
        }
        let slot_taken = match (step, output) {
            (
                Step::Encode(_),
                TaskOutput::EncodeChunk {
                    stream,
                    final_state,
                },
            ) => self.encoded[chunk]
                .replace(ChunkResult {
                    stream: *stream,
                    final_state: *final_state,
                })
                .is_some(),
            (
                Step::GivenState(_),
                TaskOutput::EncodeGivenState {
                    frame,
                    made_from,
                    scene_cut,
                },
            ) => self.given[chunk]
                .replace(GivenResult {
                    frame: *frame,
                    made_from: *made_from,
                    scene_cut: *scene_cut,
                })
                .is_some(),
            (
                Step::Rebase(_),
                TaskOutput::Rebase {
                    stream,
                    final_state,
                },
            ) => self.rebased[chunk]
                .replace(ChunkResult {
                    stream: *stream,
                    final_state: *final_state,
                })
                .is_some(),
            _ => bail!(
                "{} of chunk {chunk} returned the output of another kind of task",
                step.kind()
            ),
        };
        if slot_taken {
            bail!("{} of chunk {chunk} completed twice", step.kind());
        }
        let next = match step {
            Step::Encode(_) => vec![
                Step::GivenState(chunk + 1),
                Step::Rebase(chunk),
                Step::Rebase(chunk + 1),
            ],
            Step::GivenState(_) => vec![Step::Rebase(chunk)],
            Step::Rebase(_) => vec![Step::Rebase(chunk + 1)],
        };
        Ok(next
            .into_iter()
            .filter(|next| next.chunk() < self.chunks())
            .filter(|next| {
                matches!(next, Step::Encode(_)) || !self.batch.first_in_batch(next.chunk())
            })
            .collect())
    }

    /// Who reads picture `frame` (a frame index): its chunk's encode, re-encode (the first
    /// picture only) and rebase, and the output stream.
    pub fn picture_readers(&self, frame: usize) -> Vec<Reader> {
        let chunk = frame / self.chunk_frames;
        let mut readers = vec![Reader::Task(Step::Encode(chunk)), Reader::Output(chunk)];
        if !self.batch.first_in_batch(chunk) {
            readers.push(Reader::Task(Step::Rebase(chunk)));
            if frame.is_multiple_of(self.chunk_frames) {
                readers.push(Reader::Task(Step::GivenState(chunk)));
            }
        }
        readers
    }

    /// Who reads each blob of `output`, the output of `step` (recorded with
    /// [`Self::complete`]). A blob no one reads is not worth keeping.
    pub fn output_readers(&self, step: Step, output: &TaskOutput) -> Vec<(BlobId, Vec<Reader>)> {
        let chunk = step.chunk();
        let next = chunk + 1;
        // Whether chunk `next` continues this batch (while the input lasts, it may yet).
        let next_continues =
            (!self.ended || next < self.chunks()) && !self.batch.first_in_batch(next);
        let stream_readers = |rebased: bool| {
            if rebased || self.batch.first_in_batch(chunk) {
                vec![Reader::Output(chunk)]
            } else {
                vec![Reader::Task(Step::Rebase(chunk))]
            }
        };
        match *output {
            TaskOutput::EncodeChunk {
                stream,
                final_state,
            } => {
                let mut state_readers = Vec::new();
                if next_continues {
                    state_readers.push(Reader::Task(Step::GivenState(next)));
                    if self.batch.first_in_batch(chunk) {
                        state_readers.push(Reader::Task(Step::Rebase(next)));
                    }
                }
                vec![
                    (stream, stream_readers(false)),
                    (final_state, state_readers),
                ]
            }
            TaskOutput::EncodeGivenState {
                frame, made_from, ..
            } => {
                let rebase = vec![Reader::Task(Step::Rebase(chunk))];
                vec![(frame, rebase.clone()), (made_from, rebase)]
            }
            TaskOutput::Rebase {
                stream,
                final_state,
            } => {
                let cut = self
                    .given
                    .get(next)
                    .copied()
                    .flatten()
                    .is_some_and(|given| given.scene_cut);
                let state_readers = if next_continues && !cut {
                    vec![Reader::Task(Step::Rebase(next))]
                } else {
                    Vec::new()
                };
                vec![(stream, stream_readers(true)), (final_state, state_readers)]
            }
        }
    }

    /// Readers that outputs were kept for while the input lasted, for a chunk that turned out
    /// not to exist: the re-encode and rebase of the chunk after the last.
    pub fn readers_past_the_end(&self) -> [Reader; 2] {
        let past = self.chunks();
        [
            Reader::Task(Step::GivenState(past)),
            Reader::Task(Step::Rebase(past)),
        ]
    }

    /// The stream of chunk `chunk` as it goes into the final stream, once it exists: the
    /// chunk's own encode when it opens its batch, its rebase otherwise.
    pub fn final_stream(&self, chunk: usize) -> Option<BlobId> {
        if chunk >= self.chunks() {
            return None;
        }
        let result = if self.batch.first_in_batch(chunk) {
            self.encoded[chunk]
        } else {
            self.rebased[chunk]
        };
        result.map(|result| result.stream)
    }

    /// The stream of every chunk, in order, as it goes into the final stream.
    ///
    /// # Errors
    ///
    /// When a task the final stream needs has not run.
    #[cfg(test)]
    pub fn final_streams(&self) -> Result<Vec<BlobId>> {
        (0..self.chunks())
            .map(|chunk| match self.final_stream(chunk) {
                Some(stream) => Ok(stream),
                None => bail!("chunk {chunk} has no final stream: its tasks did not all run"),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_values() {
        assert_eq!(parse_batch("16"), Ok(Batch::Chunks(16)));
        assert_eq!(parse_batch("whole"), Ok(Batch::Whole));
        assert_eq!(parse_batch("Whole"), Ok(Batch::Whole));
        assert!(parse_batch("0").unwrap_err().contains("at least 1"));
        assert!(parse_batch("lots").unwrap_err().contains("'lots'"));
        assert!(parse_batch("-2").is_err());
    }

    #[test]
    fn layout_of_20_frames_in_chunks_of_3_batches_of_2() {
        let layout = Layout::new(20, 3, Batch::Chunks(2));
        assert_eq!(layout.chunks(), 7);
        assert_eq!(layout.batches(), 4);
        let firsts: Vec<bool> = (0..7).map(|c| Batch::Chunks(2).first_in_batch(c)).collect();
        assert_eq!(firsts, [true, false, true, false, true, false, true]);
        assert_eq!(layout.rebased_chunks(), 3);
        assert_eq!(layout.task_count(), 7 + 6);
        assert_eq!(layout.batch_of(5), 2);

        let whole = Layout::new(20, 3, Batch::Whole);
        assert_eq!((whole.batches(), whole.rebased_chunks()), (1, 6));
        // A batch larger than the video is the whole video.
        assert_eq!(Layout::new(20, 3, Batch::Chunks(100)), whole);
        let plain = Layout::new(20, 3, Batch::Chunks(1));
        assert_eq!((plain.batches(), plain.task_count()), (7, 7));
        // Chunks longer than the video: one chunk.
        assert_eq!(Layout::new(5, 50, Batch::Chunks(16)).chunks(), 1);
    }

    #[test]
    fn step_order_is_the_priority() {
        let mut steps = vec![
            Step::Encode(0),
            Step::GivenState(1),
            Step::Rebase(3),
            Step::Encode(1),
            Step::Rebase(1),
        ];
        steps.sort();
        assert_eq!(
            steps,
            [
                Step::Rebase(1),
                Step::Rebase(3),
                Step::GivenState(1),
                Step::Encode(0),
                Step::Encode(1)
            ]
        );
    }

    fn id(label: &str) -> BlobId {
        BlobId::of(label.as_bytes())
    }

    fn graph(frames: usize, chunk_frames: usize, batch: Batch) -> ChunkGraph {
        let pictures: Vec<BlobId> = (0..frames).map(|f| id(&format!("picture {f}"))).collect();
        ChunkGraph::of_pictures(
            chunk_frames,
            batch,
            FORMAT,
            EncodeSettings::default(),
            &pictures,
        )
    }

    const FORMAT: PictureFormat = PictureFormat {
        width: 16,
        height: 16,
    };

    fn encoded(chunk: usize) -> TaskOutput {
        TaskOutput::EncodeChunk {
            stream: id(&format!("E{chunk} stream")),
            final_state: id(&format!("E{chunk} state")),
        }
    }

    fn rebased(chunk: usize) -> TaskOutput {
        TaskOutput::Rebase {
            stream: id(&format!("R{chunk} stream")),
            final_state: id(&format!("R{chunk} state")),
        }
    }

    #[test]
    fn tasks_wait_for_their_inputs_and_chain_along_the_batch() {
        // Chunks 0..3 in one batch.
        let mut graph = graph(9, 3, Batch::Whole);
        assert_eq!(graph.steps().len(), 3 + 2 * 2);
        assert!(graph.task(Step::Encode(2)).is_some());
        assert!(graph.task(Step::GivenState(1)).is_none());
        assert!(
            graph.task(Step::Rebase(0)).is_none(),
            "the batch opener is never rebased"
        );

        let next = graph.complete(Step::Encode(0), &encoded(0)).unwrap();
        assert_eq!(next, [Step::GivenState(1), Step::Rebase(1)]);
        let Some(Task::EncodeGivenState { state, frame, .. }) = graph.task(Step::GivenState(1))
        else {
            panic!("G1 is ready once E0 is done");
        };
        assert_eq!(state, id("E0 state"));
        assert_eq!(frame, id("picture 3"));
        assert!(
            graph.task(Step::Rebase(1)).is_none(),
            "R1 also needs E1 and G1"
        );

        graph.complete(Step::Encode(1), &encoded(1)).unwrap();
        graph.complete(Step::Encode(2), &encoded(2)).unwrap();
        let next = graph
            .complete(
                Step::GivenState(1),
                &TaskOutput::EncodeGivenState {
                    frame: id("G1"),
                    made_from: id("G1 context"),
                    scene_cut: false,
                },
            )
            .unwrap();
        assert_eq!(next, [Step::Rebase(1)]);
        let Some(Task::Rebase {
            target,
            first_frame,
            first_made_from,
            original,
            frames,
            ..
        }) = graph.task(Step::Rebase(1))
        else {
            panic!("R1 is ready");
        };
        assert_eq!(
            target,
            Some(id("E0 state")),
            "chunk 0 opens the batch: its state is true"
        );
        assert_eq!(first_frame, id("G1"));
        assert_eq!(
            first_made_from,
            id("G1 context"),
            "G1 reports the context of E0's state, which G1 was made against"
        );
        assert_eq!(original, id("E1 stream"));
        assert_eq!(frames, [id("picture 3"), id("picture 4"), id("picture 5")]);

        graph
            .complete(
                Step::GivenState(2),
                &TaskOutput::EncodeGivenState {
                    frame: id("G2"),
                    made_from: id("G2 context"),
                    scene_cut: false,
                },
            )
            .unwrap();
        assert!(graph.task(Step::Rebase(2)).is_none(), "R2 waits for R1");
        assert!(graph.final_streams().is_err());
        graph.complete(Step::Rebase(1), &rebased(1)).unwrap();
        let Some(Task::Rebase {
            target,
            first_made_from,
            ..
        }) = graph.task(Step::Rebase(2))
        else {
            panic!("R2 is ready");
        };
        assert_eq!(target, Some(id("R1 state")));
        assert_eq!(first_made_from, id("G2 context"));
        graph.complete(Step::Rebase(2), &rebased(2)).unwrap();
        assert_eq!(
            graph.final_streams().unwrap(),
            [id("E0 stream"), id("R1 stream"), id("R2 stream")]
        );
    }

    #[test]
    fn a_scene_cut_starts_the_serial_walk_anew() {
        let mut graph = graph(9, 3, Batch::Whole);
        for chunk in 0..3 {
            graph
                .complete(Step::Encode(chunk), &encoded(chunk))
                .unwrap();
        }
        let given = |chunk: usize, scene_cut: bool| TaskOutput::EncodeGivenState {
            frame: id(&format!("G{chunk}")),
            made_from: id(&format!("G{chunk} context")),
            scene_cut,
        };
        graph
            .complete(Step::GivenState(1), &given(1, false))
            .unwrap();
        graph
            .complete(Step::GivenState(2), &given(2, true))
            .unwrap();
        // R2 starts with a keyframe: it needs no target, so it does not wait for R1.
        let Some(Task::Rebase { target, .. }) = graph.task(Step::Rebase(2)) else {
            panic!("R2 is ready before R1 ran");
        };
        assert_eq!(target, None);
        graph.complete(Step::Rebase(2), &rebased(2)).unwrap();
        graph.complete(Step::Rebase(1), &rebased(1)).unwrap();
        assert_eq!(
            graph.final_streams().unwrap(),
            [id("E0 stream"), id("R1 stream"), id("R2 stream")]
        );
    }

    #[test]
    fn chunks_join_the_graph_as_their_pictures_come_in() {
        let mut graph = ChunkGraph::new(3, Batch::Chunks(2), FORMAT, EncodeSettings::default());
        let mut added = Vec::new();
        for f in 0..7 {
            added.push(graph.add_picture(id(&format!("picture {f}"))));
        }
        assert_eq!(added[2], [Step::Encode(0)]);
        assert_eq!(
            added[5],
            [Step::Encode(1), Step::GivenState(1), Step::Rebase(1)]
        );
        assert!(added[6].is_empty(), "chunk 2 is not whole yet");
        assert!(graph.task(Step::Encode(2)).is_none());
        assert_eq!(graph.end_input(), [Step::Encode(2)]);
        assert!(graph.end_input().is_empty());
        assert_eq!(graph.layout(), Layout::new(7, 3, Batch::Chunks(2)));
        let Some(Task::EncodeChunk { frames, .. }) = graph.task(Step::Encode(2)) else {
            panic!("the short last chunk is ready");
        };
        assert_eq!(frames, [id("picture 6")]);
        assert_eq!(graph.pictures_of(2), [id("picture 6")]);

        // Whole batches have one opener while the input lasts, whatever its length.
        let mut whole = ChunkGraph::new(1, Batch::Whole, FORMAT, EncodeSettings::default());
        assert_eq!(whole.add_picture(id("a")), [Step::Encode(0)]);
        assert_eq!(whole.add_picture(id("b")).len(), 3);
    }

    #[test]
    fn every_blob_is_claimed_by_the_steps_that_read_it() {
        let mut graph = graph(9, 3, Batch::Whole);
        let task = |graph: &ChunkGraph, step| graph.task(step).unwrap();
        let readers_of = |graph: &ChunkGraph, blob: BlobId| -> BTreeSet<Reader> {
            (0..graph.frames())
                .filter(|&f| graph.pictures_of(f / 3)[f % 3] == blob)
                .flat_map(|f| graph.picture_readers(f))
                .collect()
        };
        // Every picture a task reads names that task among its readers.
        for step in graph
            .steps()
            .into_iter()
            .filter(|s| matches!(s, Step::Encode(_)))
        {
            for input in task(&graph, step).inputs() {
                assert!(readers_of(&graph, input).contains(&Reader::Task(step)));
            }
        }
        assert_eq!(
            graph.picture_readers(3),
            [
                Reader::Task(Step::Encode(1)),
                Reader::Output(1),
                Reader::Task(Step::Rebase(1)),
                Reader::Task(Step::GivenState(1))
            ]
        );
        assert_eq!(graph.picture_readers(1).len(), 2, "chunk 0 is not rebased");

        graph.complete(Step::Encode(0), &encoded(0)).unwrap();
        let readers = graph.output_readers(Step::Encode(0), &encoded(0));
        assert_eq!(
            readers,
            [
                (id("E0 stream"), vec![Reader::Output(0)]),
                (
                    id("E0 state"),
                    vec![
                        Reader::Task(Step::GivenState(1)),
                        Reader::Task(Step::Rebase(1))
                    ]
                ),
            ]
        );
        graph.complete(Step::Encode(1), &encoded(1)).unwrap();
        let readers = graph.output_readers(Step::Encode(1), &encoded(1));
        assert_eq!(
            readers[0],
            (id("E1 stream"), vec![Reader::Task(Step::Rebase(1))])
        );
        assert_eq!(
            readers[1],
            (id("E1 state"), vec![Reader::Task(Step::GivenState(2))]),
            "R2 rebases onto R1's state, not E1's"
        );
        // The last chunk's states have no reader once the input has ended.
        graph.complete(Step::Encode(2), &encoded(2)).unwrap();
        assert!(
            graph.output_readers(Step::Encode(2), &encoded(2))[1]
                .1
                .is_empty()
        );
        assert!(
            graph.output_readers(Step::Rebase(2), &rebased(2))[1]
                .1
                .is_empty()
        );
        assert_eq!(
            graph.output_readers(Step::Rebase(1), &rebased(1))[1],
            (id("R1 state"), vec![Reader::Task(Step::Rebase(2))])
        );
        assert_eq!(
            graph.readers_past_the_end(),
            [
                Reader::Task(Step::GivenState(3)),
                Reader::Task(Step::Rebase(3))
            ]
        );

        // While the input lasts, a chunk after the last may still come.
        let mut open = ChunkGraph::new(3, Batch::Whole, FORMAT, EncodeSettings::default());
        for f in 0..3 {
            open.add_picture(id(&format!("picture {f}")));
        }
        open.complete(Step::Encode(0), &encoded(0)).unwrap();
        assert_eq!(
            open.output_readers(Step::Encode(0), &encoded(0))[1].1.len(),
            2
        );
    }

    #[test]
    fn wrong_or_repeated_outputs_are_errors() {
        let mut graph = graph(4, 2, Batch::Chunks(1));
        assert_eq!(graph.steps(), [Step::Encode(0), Step::Encode(1)]);
        let error = graph.complete(Step::Encode(0), &rebased(0)).unwrap_err();
        assert!(error.to_string().contains("another kind"), "{error}");
        assert!(
            graph
                .complete(Step::Encode(0), &encoded(0))
                .unwrap()
                .is_empty()
        );
        let error = graph.complete(Step::Encode(0), &encoded(0)).unwrap_err();
        assert!(error.to_string().contains("twice"), "{error}");
        assert!(graph.complete(Step::Encode(5), &encoded(5)).is_err());
        graph.complete(Step::Encode(1), &encoded(1)).unwrap();
        assert_eq!(
            graph.final_streams().unwrap(),
            [id("E0 stream"), id("E1 stream")]
        );
    }
}
