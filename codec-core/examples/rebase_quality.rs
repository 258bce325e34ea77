//! Measures what rebase costs and what it does to quality, on a Y4M clip.
//!
//! The clip is cut into chunks of N frames. Each chunk after the first is encoded on its
//! own (keyframe first), its first picture is encoded again from the previous chunk's
//! state, and the chunk is rebased onto the true state at the end of the previous chunk, as
//! flick's pipeline does. Printed per chunk and in total: each rebased frame's PSNR beside
//! the PSNR of the frame it was made from (same quantizer), and the time rebase took per
//! frame beside the time the chunk's encode took per frame.
//!
//! ```text
//! cargo run --release -p codec-core --example rebase_quality -- CLIP.y4m [N] [CQ] [SPEED]
//! ```

use std::time::{Duration, Instant};

use codec_core::container::y4m::parse_y4m;
use codec_core::encoder::rate_control::{FrameKind, RateMode};
use codec_core::encoder::sequence::{SequenceConfig, SequenceEncoder};
use codec_core::metrics::{picture_sse, psnr};
use codec_core::{DecoderState, FrameContext, Picture, decode, rebase};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: rebase_quality CLIP.y4m [CHUNK_FRAMES=6] [CQ_LEVEL=32] [SPEED=4]");
        std::process::exit(2);
    };
    let number = |i: usize, default: u32| -> u32 {
        args.get(i).map_or(default, |a| {
            a.parse().unwrap_or_else(|_| {
                eprintln!("argument {i} ({a}) is not a number");
                std::process::exit(2)
            })
        })
    };
    let (chunk_frames, cq_level, speed) = (number(2, 6) as usize, number(3, 32), number(4, 4));
    let data = std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("cannot read {path}: {e}");
        std::process::exit(1)
    });
    let (header, frames) = parse_y4m(&data).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(1)
    });
    let pictures: Vec<Picture> = frames
        .map(|f| {
            let f = f.unwrap_or_else(|e| {
                eprintln!("{path}: {e}");
                std::process::exit(1)
            });
            Picture::from_i420(header.width, header.height, f.y, f.u, f.v)
        })
        .collect();
    let config = SequenceConfig {
        rate: RateMode::ConstantQuality {
            cq_level: cq_level.min(63) as u8,
        },
        speed: speed.min(8) as u8,
        keyframe_interval: 0,
        golden_interval: 0,
        // One keyframe per run: the pipeline's scene-cut keyframes are not rebased.
        scene_cut_keyframes: false,
        ..SequenceConfig::default()
    };
    let samples = |p: &Picture| -> u64 {
        let (w, h) = (p.display_width as u64, p.display_height as u64);
        w * h + 2 * w.div_ceil(2) * h.div_ceil(2)
    };
    let frame_psnr = |source: &Picture, picture: &Picture| -> f64 {
        psnr(picture_sse(source, picture).iter().sum(), samples(source))
    };

    let chunks: Vec<&[Picture]> = pictures.chunks(chunk_frames).collect();
    let mut encode_time = Duration::ZERO;
    let mut encoded_frames = 0usize;
    let mut rebase_time = Duration::ZERO;
    let mut rebased_frames = 0usize;
    let mut deltas: Vec<f64> = Vec::new();
    let (mut original_bytes, mut rebased_bytes) = (0usize, 0usize);
    let mut true_state = DecoderState::new();
    let mut previous_end = DecoderState::new();
    println!("chunk  frame  original dB  rebased dB  delta dB  original B  rebased B");
    for (c, chunk) in chunks.iter().enumerate() {
        let start = Instant::now();
        // A chunk whose keyframe an anchor frame replaces codes it as finely as the pipeline.
        let chunk_config = if c == 0 {
            config.clone()
        } else {
            SequenceConfig {
                first_frame_replaced: true,
                ..config.clone()
            }
        };
        let mut encoder = SequenceEncoder::new(chunk_config);
        let originals: Vec<_> = chunk
            .iter()
            .map(|p| encoder.encode_next(p).expect("the chunk encodes"))
            .collect();
        let given = (c > 0).then(|| {
            SequenceEncoder::from_state(previous_end.clone(), config.clone())
                .encode_next_as(&chunk[0], FrameKind::Anchor)
                .expect("the first picture encodes from the state")
        });
        encode_time += start.elapsed();
        encoded_frames += chunk.len();
        let end = originals.last().unwrap().state.clone();
        let Some(given) = given else {
            true_state = end.clone();
            previous_end = end;
            continue;
        };

        let start = Instant::now();
        let mut target = true_state.clone();
        let mut rebased = Vec::with_capacity(chunk.len());
        let first = rebase(
            &target,
            &chunk[0],
            &given.data,
            &FrameContext::of(&previous_end),
        )
        .expect("the first frame rebases");
        target = first.state.clone();
        rebased.push(first);
        let mut context = FrameContext::default().after(&originals[0].data).unwrap();
        for (k, original) in originals.iter().enumerate().skip(1) {
            let r = rebase(&target, &chunk[k], &original.data, &context).expect("rebases");
            context = context.after(&original.data).unwrap();
            target = r.state.clone();
            rebased.push(r);
        }
        rebase_time += start.elapsed();
        rebased_frames += chunk.len();

        // The first frame's original is the frame encoded from the neighbour's state.
        for (k, r) in rebased.iter().enumerate() {
            let original = if k == 0 { &given } else { &originals[k] };
            let (a, b) = (
                frame_psnr(&chunk[k], &original.picture),
                frame_psnr(&chunk[k], &r.picture),
            );
            deltas.push(b - a);
            original_bytes += original.data.len();
            rebased_bytes += r.data.len();
            println!(
                "{c:5}  {k:5}  {a:11.3}  {b:10.3}  {:+8.3}  {:10}  {:9}",
                b - a,
                original.data.len(),
                r.data.len()
            );
            // Whatever rebase says, a decoder must see.
            let before = if k == 0 {
                &true_state
            } else {
                &rebased[k - 1].state
            };
            let (_, shown) = decode(before, &r.data).expect("a rebased frame decodes");
            assert_eq!(*shown.expect("shown"), *r.picture, "chunk {c} frame {k}");
        }
        true_state = target;
        previous_end = end;
    }
    if deltas.is_empty() {
        println!("one chunk only: nothing was rebased");
        return;
    }
    let mean = deltas.iter().sum::<f64>() / deltas.len() as f64;
    let worst = deltas.iter().copied().fold(f64::INFINITY, f64::min);
    let per = |d: Duration, n: usize| d.as_secs_f64() * 1000.0 / n as f64;
    println!(
        "\n{} frames rebased: PSNR change mean {mean:+.3} dB, worst {worst:+.3} dB; bytes {} -> {} ({:+.2}%)",
        deltas.len(),
        original_bytes,
        rebased_bytes,
        (rebased_bytes as f64 / original_bytes as f64 - 1.0) * 100.0
    );
    println!(
        "work per frame: encode {:.2} ms, rebase {:.2} ms: rebase/encode = {:.4} (1/{:.1})",
        per(encode_time, encoded_frames),
        per(rebase_time, rebased_frames),
        per(rebase_time, rebased_frames) / per(encode_time, encoded_frames),
        per(encode_time, encoded_frames) / per(rebase_time, rebased_frames),
    );
}
