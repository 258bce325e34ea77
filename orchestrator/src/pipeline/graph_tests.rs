//! The task graph: layouts, step order, readiness, the serial walk, and who reads each blob.

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
    let Some(Task::EncodeGivenState { state, frame, .. }) = graph.task(Step::GivenState(1)) else {
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
    // A picture's readers: those it came with, and the encodes that claim it as their
    // batch keyframe's picture as their chunks join.
    let readers_of = |graph: &ChunkGraph, blob: BlobId| -> BTreeSet<Reader> {
        let claims = (0..3).filter_map(|chunk| graph.key_picture_claims(chunk).claim);
        (0..graph.frames())
            .filter(|&f| graph.pictures_of(f / 3)[f % 3] == blob)
            .flat_map(|f| graph.picture_readers(f))
            .chain(
                claims
                    .filter(|&(id, _)| id == blob)
                    .map(|(_, reader)| reader),
            )
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
    // The batch keyframe's picture is held for the batch's chunks to come, each of which
    // claims it; a whole-video batch never fills, so only the end of the input lets go.
    assert_eq!(
        graph.picture_readers(0),
        [
            Reader::Task(Step::Encode(0)),
            Reader::Output(0),
            Reader::Batch(0)
        ]
    );
    assert_eq!(
        graph.key_picture_claims(2),
        KeyPictureClaims {
            claim: Some((graph.pictures_of(0)[0], Reader::Task(Step::Encode(2)))),
            release: None
        }
    );
    assert_eq!(
        graph.key_picture_claims(0),
        KeyPictureClaims {
            claim: None,
            release: None
        }
    );

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
            Reader::Task(Step::Rebase(3)),
            Reader::Batch(0)
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

#[test]
fn a_batch_holds_its_keyframe_picture_until_it_is_full() {
    let mut pairs = graph(9, 2, Batch::Chunks(2));
    let key = pairs.pictures_of(2)[0];
    // Chunk 2 opens batch 1; chunk 3 reads its picture and fills the batch.
    assert!(pairs.picture_readers(4).contains(&Reader::Batch(1)));
    assert!(!pairs.picture_readers(5).contains(&Reader::Batch(1)));
    assert_eq!(
        pairs.key_picture_claims(2),
        KeyPictureClaims {
            claim: None,
            release: None
        }
    );
    assert_eq!(
        pairs.key_picture_claims(3),
        KeyPictureClaims {
            claim: Some((key, Reader::Task(Step::Encode(3)))),
            release: Some(Reader::Batch(1))
        }
    );
    let Some(Task::EncodeChunk { opening, .. }) = pairs.task(Step::Encode(3)) else {
        panic!("no encode task");
    };
    assert_eq!(
        opening,
        Opening::Anchor {
            key_picture: key,
            key_cq_level: None
        }
    );
    // Batches of one chunk share no keyframe.
    let single = graph(4, 2, Batch::Chunks(1));
    assert!(
        (0..4).all(|f| !single.picture_readers(f).contains(&Reader::Batch(f / 2))),
        "a batch of one chunk holds nothing for chunks to come"
    );
    // Their keyframes serve one chunk each, so they get less boost than a batch's.
    let boost = |graph: &ChunkGraph| match graph.task(Step::Encode(1)) {
        Some(Task::EncodeChunk { settings, .. }) => settings.keyframe_boost,
        _ => panic!("no encode task"),
    };
    assert_eq!(boost(&single), CHUNK_KEYFRAME_BOOST);
    assert_eq!(boost(&pairs), EncodeSettings::default().keyframe_boost);
    assert!(CHUNK_KEYFRAME_BOOST < EncodeSettings::default().keyframe_boost);
    // A batch whose first chunk moves gets the smaller boost, in every task of the batch.
    assert_eq!(pairs.batch_keyframe_of(1), Some(0));
    assert_eq!(pairs.batch_keyframe_of(5), Some(4));
    assert_eq!(
        pairs.batch_keyframe_of(6),
        None,
        "chunk 3 does not open its batch"
    );
    pairs.plan_batch_keyframe(0, false);
    assert_eq!(boost(&pairs), CHUNK_KEYFRAME_BOOST);
    let Some(Task::EncodeChunk { settings, .. }) = pairs.task(Step::Encode(2)) else {
        panic!("no encode task");
    };
    assert_eq!(
        settings.keyframe_boost,
        EncodeSettings::default().keyframe_boost
    );
    pairs.plan_batch_keyframe(0, true);
    assert_eq!(boost(&pairs), EncodeSettings::default().keyframe_boost);
}

#[test]
fn anchor_boosts_grow_with_predictability() {
    let boosts: Vec<u8> = [0.0, 0.3, 0.40, 0.475, 0.55, 0.9, 1.0]
        .into_iter()
        .map(|p| anchor_boost(24, p))
        .collect();
    assert_eq!(boosts, [0, 0, 0, 12, 24, 24, 24]);
    assert_eq!(anchor_boost(0, 0.9), 0);
}

#[test]
fn only_given_state_tasks_take_the_planned_anchor_boost() {
    let settings = EncodeSettings::default();
    let mut graph = ChunkGraph::new(2, Batch::Whole, FORMAT, settings.clone());
    for f in 0..4 {
        graph.add_picture(id(&format!("picture {f}")));
    }
    graph.plan_anchor(1, 0.2);
    graph
        .complete(Step::Encode(0), &encoded(0))
        .expect("chunk 0's encode");
    let Some(Task::EncodeGivenState {
        settings: given, ..
    }) = graph.task(Step::GivenState(1))
    else {
        panic!("chunk 1's given-state task is ready");
    };
    assert_eq!(given.anchor_boost, 0);
    let Some(Task::EncodeChunk { settings: own, .. }) = graph.task(Step::Encode(1)) else {
        panic!("chunk 1's encode is ready");
    };
    assert_eq!(
        own.anchor_boost, settings.anchor_boost,
        "one keyframe memo per batch"
    );
}

/// The planned cost of a chunk of `frames` frames, opening a batch if `key`.
fn planned_cost(frames: usize, key: bool) -> ChunkCost {
    use codec_core::encoder::size_model::PlannedFrame;
    let mut cost = ChunkCost::new();
    for frame in 0..frames {
        let kind = match frame {
            0 if key => PlannedFrame::Key,
            0 => PlannedFrame::Anchor,
            _ => PlannedFrame::Inter,
        };
        cost.add(kind, &[1500; 8], 16);
    }
    cost
}

#[test]
fn a_bitrate_is_planned_as_a_level_per_chunk_once_the_sample_is_back() {
    let settings = EncodeSettings {
        rate: RateSetting::TargetBitrate(400),
        ..EncodeSettings::default()
    };
    let mut graph = ChunkGraph::new(2, Batch::Chunks(2), FORMAT, settings);
    graph.expect_frames(Some(8));
    for f in 0..8 {
        let opened = graph.add_picture(id(&format!("picture {f}")));
        if let Some(&Step::Encode(chunk)) = opened.first() {
            graph.plan_rate(chunk, planned_cost(2, graph.opens_batch(chunk)));
        }
    }
    assert!(graph.plans_rate());
    let level = |task: Option<Task>| match task {
        Some(Task::EncodeChunk { settings, .. } | Task::EncodeGivenState { settings, .. }) => {
            match settings.rate {
                RateSetting::CqLevel(level) => level,
                other => panic!("a chunk task at {other:?}"),
            }
        }
        other => panic!("not a ready encode: {other:?}"),
    };
    // The first chunk is planned from the model alone; the second waits for the first's
    // sizes, the others for the second's too.
    let first = level(graph.task(Step::Encode(0)));
    assert!(graph.task(Step::Encode(1)).is_none());
    assert!(graph.task(Step::Encode(2)).is_none());
    let coded = |bytes: &[u32]| -> Vec<FrameFacts> {
        bytes
            .iter()
            .map(|&bytes| FrameFacts::coded(bytes as usize, [0; 3]))
            .collect()
    };
    graph
        .complete(Step::Encode(0), &encoded(0))
        .expect("chunk 0's encode");
    // Chunk 0's encode is final.
    assert_eq!(
        graph.record_coded(Step::Encode(0), &coded(&[30_000, 900])),
        [
            Step::Encode(1),
            Step::GivenState(1),
            Step::Encode(2),
            Step::GivenState(2),
            Step::Encode(3),
            Step::GivenState(3)
        ]
    );
    level(graph.task(Step::Encode(1)));
    assert!(graph.task(Step::Encode(2)).is_none());
    // Chunk 1 replays its batch's keyframe at the level chunk 0 coded it.
    let Some(Task::EncodeChunk { opening, .. }) = graph.task(Step::Encode(1)) else {
        panic!("no encode task");
    };
    assert_eq!(
        opening,
        Opening::Anchor {
            key_picture: id("picture 0"),
            key_cq_level: Some(first),
        }
    );
    // Chunk 1's frames are final once rebased.
    graph
        .complete(Step::Encode(1), &encoded(1))
        .expect("chunk 1's encode");
    assert_eq!(
        graph.record_coded(Step::Encode(1), &coded(&[30_000, 900])),
        []
    );
    assert_eq!(graph.record_coded(Step::GivenState(1), &coded(&[4000])), []);
    assert_eq!(
        graph.record_coded(Step::Rebase(1), &coded(&[4000, 1000])),
        [
            Step::Encode(2),
            Step::GivenState(2),
            Step::Encode(3),
            Step::GivenState(3)
        ]
    );
    assert_eq!(
        graph.record_coded(Step::Rebase(1), &coded(&[4000, 1000])),
        []
    );
    let Some(Task::EncodeChunk { opening, .. }) = graph.task(Step::Encode(2)) else {
        panic!("no encode task");
    };
    assert_eq!(opening, Opening::Keyframe, "chunk 2 opens batch 1");
    let third = level(graph.task(Step::Encode(3)));
    graph
        .complete(Step::Encode(2), &encoded(2))
        .expect("chunk 2's encode");
    assert_eq!(level(graph.task(Step::GivenState(3))), third);
    // The other modes plan nothing.
    let mut cq = ChunkGraph::new(2, Batch::Chunks(2), FORMAT, EncodeSettings::default());
    cq.add_picture(id("picture 0"));
    cq.add_picture(id("picture 1"));
    assert!(!cq.plans_rate());
    assert_eq!(cq.record_coded(Step::Encode(0), &coded(&[100])), []);
}

#[test]
fn long_term_links_name_each_still_groups_last_picture_once_it_is_read() {
    let settings = EncodeSettings {
        rate: RateSetting::CqLevel(30),
        ..EncodeSettings::default()
    };
    // Chunks of 2, batches of 6 chunks, groups of 2 chunks: links at pictures 3, 7 and 11.
    let mut graph = ChunkGraph::new(2, Batch::Chunks(6), FORMAT, settings);
    graph.set_long_term_chunks(2);
    let picture = |f: usize| id(&format!("picture {f}"));
    for f in 0..5 {
        graph.add_picture(picture(f));
    }
    let links = |graph: &ChunkGraph, chunk| match graph.task(Step::Encode(chunk)) {
        Some(Task::EncodeChunk { long_term, .. }) => Some(long_term),
        _ => None,
    };
    let link = |chunk: u32, f, from_altref| LongTermLink {
        chunk,
        picture: picture(f),
        cq_level: 30,
        from_altref,
    };
    assert_eq!(graph.long_term_group_at(3), Some((0, 3)));
    assert_eq!(graph.long_term_group_at(4), Some((2, 7)));
    // Picture 3 is read, but until its group is planned, no chunk of it is ready.
    assert_eq!(links(&graph, 0), None);
    graph.plan_long_term(0, true);
    assert_eq!(links(&graph, 0), Some(vec![link(0, 3, true)]));
    assert_eq!(links(&graph, 1), Some(vec![link(0, 3, true)]));
    assert_eq!(links(&graph, 2), None, "chunk 2 waits for picture 7");
    assert!(graph.awaits_pictures(2) && !graph.awaits_pictures(1));
    assert!(
        graph
            .picture_readers(3)
            .contains(&Reader::Task(Step::Encode(0)))
    );
    assert!(graph.picture_readers(3).contains(&Reader::Batch(0)));
    for f in 5..12 {
        if f == 7 {
            graph.plan_long_term(2, false);
        }
        if f == 11 {
            graph.plan_long_term(4, true);
        }
        graph.add_picture(picture(f));
    }
    // A group that does not hold still has no link: its anchors refresh altref, and the
    // next link predicts from golden alone. No one holds its last picture for the chain.
    assert!(
        !graph
            .picture_readers(7)
            .contains(&Reader::Task(Step::Encode(2)))
    );
    assert_eq!(links(&graph, 3), Some(vec![link(0, 3, true)]));
    assert_eq!(
        links(&graph, 5),
        Some(vec![link(0, 3, true), link(4, 11, false)])
    );
    assert_eq!(graph.long_term_claims(5), [picture(3)]);
    assert!(graph.settings_of(1).is_some_and(|s| s.long_term_chain));
    assert!(graph.settings_of(3).is_some_and(|s| !s.long_term_chain));
    assert!(graph.settings_of(5).is_some_and(|s| s.long_term_chain));
    // The batch ends with chunk 5: no later chunk reads picture 11; the next batch's chain
    // starts anew, its group cut short by the end of the input.
    assert!(!graph.picture_readers(11).contains(&Reader::Batch(1)));
    assert!(
        graph
            .picture_readers(11)
            .contains(&Reader::Task(Step::Encode(4)))
    );
    graph.add_picture(picture(12));
    assert_eq!(links(&graph, 6), None);
    graph.end_input();
    assert_eq!(links(&graph, 6), Some(Vec::new()));
    // Not with an SSIM target, which gives a chain frame no level.
    let mut ssim = ChunkGraph::new(
        2,
        Batch::Chunks(4),
        FORMAT,
        EncodeSettings {
            rate: RateSetting::TargetSsim(0.95),
            ..EncodeSettings::default()
        },
    );
    ssim.set_long_term_chunks(2);
    ssim.add_picture(picture(0));
    ssim.add_picture(picture(1));
    assert_eq!(links(&ssim, 0), Some(Vec::new()));
    assert_eq!(ssim.long_term_group_at(0), None);
}

#[test]
fn in_the_bitrate_mode_a_chunk_is_planned_once_its_group_is_and_pays_for_its_link() {
    // Chunks of 2 in one batch of 4, groups of 2 chunks: chunk 0 opens a group whose link is
    // picture 3.
    let level = |link: Option<u16>| {
        let settings = EncodeSettings {
            rate: RateSetting::TargetBitrate(400),
            ..EncodeSettings::default()
        };
        let mut graph = ChunkGraph::new(2, Batch::Chunks(4), FORMAT, settings);
        graph.set_long_term_chunks(2);
        graph.expect_frames(Some(8));
        for f in 0..4 {
            let opened = graph.add_picture(id(&format!("picture {f}")));
            if let Some(&Step::Encode(chunk)) = opened.first() {
                graph.plan_rate(chunk, planned_cost(2, graph.opens_batch(chunk)));
            }
        }
        assert!(
            graph.task(Step::Encode(0)).is_none(),
            "chunk 0 waits for its group's plan"
        );
        if let Some(error) = link {
            graph.plan_link_size(0, vec![error; 8], 16);
        }
        graph.plan_long_term(0, link.is_some());
        match graph.task(Step::Encode(0)) {
            Some(Task::EncodeChunk { settings, .. }) => match settings.rate {
                RateSetting::CqLevel(level) => level,
                other => panic!("a chunk task at {other:?}"),
            },
            other => panic!("not a ready encode: {other:?}"),
        }
    };
    let (without, with) = (level(None), level(Some(8000)));
    assert!(with > without, "{with} vs {without}");
}
