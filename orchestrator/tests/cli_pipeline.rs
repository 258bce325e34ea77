//! `flick encode --chunk-frames N` (the parallel ExCamera[N, x] pipeline) run as a user runs
//! it: the stream decodes in `flick decode` and in vpxdec to exactly the pictures
//! `--recon-md5` announced, has a keyframe per batch and at each scene cut, the timeline
//! records every task, and bad input gives one clean error and never leaves a stream behind.

mod common;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use common::{assert_clean_error, flick, flick_ok, stderr, with_path};
use flick_tests::{
    Source, ffmpeg_frame_md5s, line_md5, make_y4m, raw_tag, read_ivf_frames, require_tools,
    vpxdec_md5_lines,
};
use tempfile::TempDir;

/// `encode IN -o OUT EXTRA...` as arguments.
fn encode_args(input: &Path, output: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut args = with_path(&["encode"], input, &["-o"]);
    args.push(output.as_os_str().to_owned());
    args.extend(extra.iter().map(OsString::from));
    args
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

fn partial(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// The first `frames` frames of the real clip at 64x48.
fn clip(dir: &TempDir, frames: u32) -> PathBuf {
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 64, 48, frames, &y4m);
    y4m
}

/// Encodes with `--recon-md5` and `extra`, checks that flick's decoder and vpxdec print
/// exactly the announced lines and that the stream shows `frames` frames; returns the
/// indices of the pictures its keyframes show.
fn encode_and_check(y4m: &Path, ivf: &Path, extra: &[&str], frames: usize) -> Vec<usize> {
    let mut args = encode_args(y4m, ivf, extra);
    args.push("--recon-md5".into());
    let recon = flick_ok(&args);
    assert_eq!(recon.len(), frames, "one --recon-md5 line per frame");
    let first = format!("{}-64x48-0001.i420", stem(ivf));
    assert!(recon[0].ends_with(&first), "{recon:?}");
    assert!(!partial(ivf).exists(), "the .partial file was renamed");
    let decoded = flick_ok(with_path(&["decode"], ivf, &["--frame-md5"]));
    assert_eq!(decoded, recon, "flick decode --frame-md5 vs --recon-md5");
    assert_eq!(
        vpxdec_md5_lines(ivf, &stem(ivf)),
        recon,
        "vpxdec --md5 vs --recon-md5"
    );
    let tags: Vec<_> = read_ivf_frames(ivf)
        .iter()
        .map(|frame| raw_tag(frame).expect("a frame tag"))
        .collect();
    assert_eq!(tags.iter().filter(|t| t.show_frame).count(), frames);
    // Keyframes by the picture they show: a hidden altref frame takes no place.
    let mut keyframes = Vec::new();
    let mut picture = 0;
    for tag in tags {
        if tag.key_frame {
            keyframes.push(picture);
        }
        picture += usize::from(tag.show_frame);
    }
    keyframes
}

#[test]
fn batches_of_two_chunks_decode_to_the_recon_md5s() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = clip(&dir, 20);
    let ivf = dir.path().join("pipeline.ivf");
    let extra = ["--chunk-frames", "3", "--batch", "2", "--workers", "2"];
    // 7 chunks of 3 frames (the last has 2), 4 batches: ceil(7 / 2) keyframes.
    let keys = encode_and_check(&y4m, &ivf, &extra, 20);
    assert_eq!(keys, [0, 6, 12, 18]);
}

#[test]
fn whole_and_single_chunk_batches() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = clip(&dir, 20);
    let whole = dir.path().join("whole.ivf");
    let keys = encode_and_check(
        &y4m,
        &whole,
        &["--chunk-frames", "3", "--batch", "whole", "--workers", "2"],
        20,
    );
    assert_eq!(keys, [0], "one batch, one keyframe");

    // Batches of one chunk are plain chunked encoding: a keyframe per chunk.
    let plain = dir.path().join("plain.ivf");
    let keys = encode_and_check(
        &y4m,
        &plain,
        &["--chunk-frames", "3", "--batch", "1", "--workers", "2"],
        20,
    );
    assert_eq!(keys, [0, 3, 6, 9, 12, 15, 18]);
    // Rebasing spends fewer bits than coding a keyframe per chunk.
    let size = |path: &Path| fs::metadata(path).unwrap().len();
    assert!(
        size(&whole) < size(&plain),
        "{} vs {}",
        size(&whole),
        size(&plain)
    );
}

/// Altref groups inside chunks: each chunk codes its group's last picture ahead as a hidden
/// frame, rebase carries the hidden frames into the final stream, and flick, vpxdec and
/// ffmpeg all show every picture as the pipeline's reconstruction announced.
/// For each hidden frame of `ivf`, how many pictures the stream has shown before it.
fn hidden_frames_before(ivf: &Path) -> Vec<usize> {
    let mut shown = 0;
    let mut hidden_before = Vec::new();
    for frame in read_ivf_frames(ivf) {
        if raw_tag(&frame).unwrap().show_frame {
            shown += 1;
        } else {
            hidden_before.push(shown);
        }
    }
    hidden_before
}

#[test]
fn hidden_altref_frames_go_through_the_pipeline() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = clip(&dir, 24);
    let ivf = dir.path().join("altref.ivf");
    let extra = [
        "--chunk-frames",
        "8",
        "--batch",
        "whole",
        "--altref-interval",
        "8",
        "--cq-level",
        "30",
        "--workers",
        "2",
    ];
    let keys = encode_and_check(&y4m, &ivf, &extra, 24);
    assert_eq!(keys, [0]);
    // The pictures each hidden frame comes before: in rebased chunks (from picture 8) too.
    let hidden_before = hidden_frames_before(&ivf);
    assert!(
        hidden_before.iter().any(|&picture| picture >= 8),
        "hidden frames before pictures {hidden_before:?}"
    );
    let recon = flick_ok(with_path(&["decode"], &ivf, &["--frame-md5"]));
    let md5s: Vec<&str> = recon.iter().map(|line| line_md5(line)).collect();
    assert_eq!(ffmpeg_frame_md5s(&ivf, 64, 48), md5s, "ffmpeg vs flick");
}

/// Frames of `parts` (Y4M files of one size) one after another, under the first one's header.
fn splice(parts: &[PathBuf], out: &Path) {
    let mut spliced = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let data = fs::read(part).unwrap();
        let body = data.iter().position(|&b| b == b'\n').unwrap() + 1;
        spliced.extend_from_slice(if index == 0 { &data } else { &data[body..] });
    }
    fs::write(out, spliced).unwrap();
}

#[test]
fn scene_cuts_get_keyframes_where_the_serial_encoder_puts_them() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let part = |name: &str, source: Source, frames: u32| {
        let path = dir.path().join(name);
        make_y4m(source, 64, 48, frames, &path);
        path
    };
    // Cuts at frame 12, where chunk 4 starts, and at 19, inside chunk 6 (frames 18..21).
    let y4m = dir.path().join("spliced.y4m");
    let parts = [
        part("a.y4m", Source::Clip, 12),
        part("b.y4m", Source::Synthetic("mandelbrot"), 7),
        part("c.y4m", Source::Synthetic("testsrc2"), 5),
    ];
    splice(&parts, &y4m);
    let serial = encode_and_check(&y4m, &dir.path().join("serial.ivf"), &[], 24);
    assert_eq!(serial, [0, 12, 19], "the serial encoder finds both cuts");
    for batch in ["whole", "2", "1"] {
        let ivf = dir.path().join(format!("batch-{batch}.ivf"));
        let extra = ["--chunk-frames", "3", "--batch", batch, "--workers", "2"];
        let keys = encode_and_check(&y4m, &ivf, &extra, 24);
        let mut expected: Vec<usize> = match batch {
            "whole" => vec![0],
            "2" => (0..24).step_by(6).collect(),
            _ => (0..24).step_by(3).collect(),
        };
        expected.extend([12, 19]);
        expected.sort();
        expected.dedup();
        assert_eq!(
            keys, expected,
            "--batch {batch}: batch starts and both cuts"
        );
    }
    // Long-term groups of two chunks: the groups across the cuts (chunks 4-5, 6-7) hold no
    // link, so both cuts still get their keyframes, and the stream plays as announced.
    let ivf = dir.path().join("long-term.ivf");
    let extra = [
        "--chunk-frames",
        "3",
        "--batch",
        "whole",
        "--long-term-chunks",
        "2",
        "--workers",
        "2",
    ];
    assert_eq!(encode_and_check(&y4m, &ivf, &extra, 24), [0, 12, 19]);
}

#[test]
fn odd_size_quality_options_limit_and_save_state() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = dir.path().join("odd.y4m");
    make_y4m(Source::Synthetic("testsrc2"), 33, 17, 9, &y4m);
    let ivf = dir.path().join("odd.ivf");
    let state = dir.path().join("odd.state");
    let extra = [
        "--chunk-frames",
        "2",
        "--batch",
        "whole",
        "--workers",
        "3",
        "--cq-level",
        "40",
        "--speed",
        "8",
        "--token-partitions",
        "1",
        "--limit",
        "7",
        "--save-state",
        state.to_str().unwrap(),
    ];
    let mut args = encode_args(&y4m, &ivf, &extra);
    args.push("--recon-md5".into());
    let recon = flick_ok(&args);
    assert_eq!(recon.len(), 7, "--limit 7");
    assert!(recon[0].ends_with("odd-33x17-0001.i420"), "{recon:?}");
    assert_eq!(vpxdec_md5_lines(&ivf, "odd"), recon);
    let keys = read_ivf_frames(&ivf)
        .iter()
        .filter(|f| raw_tag(f).unwrap().key_frame)
        .count();
    assert_eq!(keys, 1);

    // --save-state writes what dump-state computes after the last frame (of the stream's
    // frames, hidden ones too).
    let dumped = dir.path().join("dumped.state");
    let last = (read_ivf_frames(&ivf).len() - 1).to_string();
    let mut args = with_path(&["dump-state"], &ivf, &["--after", &last, "-o"]);
    args.push(dumped.clone().into_os_string());
    flick_ok(&args);
    assert_eq!(fs::read(&state).unwrap(), fs::read(&dumped).unwrap());
}

#[test]
fn timeline_records_every_task_and_the_summary_names_the_pipeline() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = clip(&dir, 20);
    let ivf = dir.path().join("timed.ivf");
    let timeline = dir.path().join("timeline.json");
    let args = encode_args(
        &y4m,
        &ivf,
        &[
            "--chunk-frames",
            "3",
            "--batch",
            "2",
            "--workers",
            "2",
            "--timeline",
            timeline.to_str().unwrap(),
        ],
    );
    let output = flick(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(output.stdout.is_empty(), "stdout is for --recon-md5 only");
    let summary = stderr(&output);
    for needle in [
        "timed.ivf: encoded 20 frames (4 keyframes)",
        "kb/s",
        "PSNR",
        "SSIM",
        "ExCamera[3, 2]: 7 chunks in 4 batches, 2 local workers, 13 tasks run (0 retried)",
        "encode_given_state",
        "rebase is",
    ] {
        assert!(
            summary.contains(needle),
            "summary lacks {needle:?}: {summary}"
        );
    }

    let text = fs::read_to_string(&timeline).unwrap();
    let records: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    // 7 chunk encodes; chunks 1, 3 and 5 are not first in their batch.
    assert_eq!(records.len(), 7 + 3 + 3);
    let count = |kind: &str| records.iter().filter(|r| r["kind"] == kind).count();
    assert_eq!(count("encode_chunk"), 7);
    assert_eq!(count("encode_given_state"), 3);
    assert_eq!(count("rebase"), 3);
    for record in &records {
        for key in [
            "kind",
            "chunk",
            "worker",
            "start_s",
            "end_s",
            "bytes_in",
            "bytes_out",
            "attempt",
            "ok",
            "frames",
            "pixels",
        ] {
            assert!(record.get(key).is_some(), "{key} missing from {record}");
        }
        assert_eq!(record["pixels"], 64 * 48, "{record}");
        let frames = if record["kind"] == "encode_given_state" {
            1
        } else if record["chunk"] == 6 {
            2
        } else {
            3
        };
        assert_eq!(record["frames"], frames, "{record}");
        let (start, end) = (
            record["start_s"].as_f64().unwrap(),
            record["end_s"].as_f64().unwrap(),
        );
        assert!(0.0 <= start && start <= end, "{record}");
        assert!(record["worker"].as_u64().unwrap() < 2, "{record}");
        assert!(record["chunk"].as_u64().unwrap() < 7, "{record}");
        assert!(record["bytes_in"].as_u64().unwrap() > 0, "{record}");
        assert!(record["bytes_out"].as_u64().unwrap() > 0, "{record}");
        assert_eq!(record["attempt"], 1);
        assert_eq!(record["ok"], true);
        if record["kind"] == "rebase" {
            assert_eq!(record["chunk"].as_u64().unwrap() % 2, 1, "{record}");
        }
    }
    // Each rebase starts after its chunk's re-encode has ended.
    let end_of = |kind: &str, chunk: u64| {
        records
            .iter()
            .find(|r| r["kind"] == kind && r["chunk"] == chunk)
            .map(|r| r["end_s"].as_f64().unwrap())
            .unwrap()
    };
    for record in records.iter().filter(|r| r["kind"] == "rebase") {
        let chunk = record["chunk"].as_u64().unwrap();
        assert!(record["start_s"].as_f64().unwrap() >= end_of("encode_given_state", chunk));
    }
}

/// `flick simulate` replays the measured job: one worker takes the sum of the task times,
/// more take less, the work stays the same, a bigger job takes longer, and the plot is a PNG.
#[test]
fn simulate_replays_a_measured_timeline() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = clip(&dir, 20);
    let ivf = dir.path().join("timed.ivf");
    let timeline = dir.path().join("timeline.json");
    let pipeline = ["--chunk-frames", "3", "--batch", "2", "--workers", "1"];
    let mut extra = pipeline.to_vec();
    extra.extend(["--timeline", timeline.to_str().unwrap()]);
    flick_ok(encode_args(&y4m, &ivf, &extra));
    let records: Vec<serde_json::Value> =
        serde_json::from_slice(&fs::read(&timeline).unwrap()).unwrap();
    let task_seconds: f64 = records
        .iter()
        .map(|r| r["end_s"].as_f64().unwrap() - r["start_s"].as_f64().unwrap())
        .sum();

    let plot = dir.path().join("scale.png");
    let mut args = with_path(
        &["simulate"],
        &timeline,
        &["--workers", "1,2,100", "--plot"],
    );
    args.push(plot.clone().into_os_string());
    let lines = flick_ok(&args);
    assert!(
        lines[0].contains("20 frames of 3072 pixels, ExCamera[3, 2], 1 workers"),
        "{lines:?}"
    );
    let figures: Vec<(u64, f64, f64)> = lines
        .iter()
        .filter(|line| line.starts_with("workers "))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(
                [words[2], words[4], words[6], words[8]],
                ["wall_s", "worker_s", "lambda_usd", "vm_usd"],
                "{line}"
            );
            (
                words[1].parse().unwrap(),
                words[3].parse().unwrap(),
                words[5].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(figures.len(), 3, "{lines:?}");
    let (one, two, many) = (figures[0], figures[1], figures[2]);
    assert_eq!((one.0, two.0, many.0), (1, 2, 100));
    assert!(
        (one.1 - task_seconds).abs() < 2e-3,
        "{one:?} vs {task_seconds}"
    );
    assert!(two.1 < one.1 && many.1 <= two.1, "{figures:?}");
    assert!((one.2 - many.2).abs() < 2e-3, "the same work: {figures:?}");
    assert_eq!(&fs::read(&plot).unwrap()[..4], b"\x89PNG");

    // Four times the frames, in 4K: longer, and more so with a platform's costs.
    let scaled = |extra: &[&str]| -> f64 {
        let mut args = with_path(
            &["simulate"],
            &timeline,
            &["--workers", "4", "--frames", "80"],
        );
        args.extend(extra.iter().map(OsString::from));
        let lines = flick_ok(&args);
        let line = lines.iter().find(|l| l.starts_with("workers 4 ")).unwrap();
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    };
    let plain = scaled(&[]);
    let big = scaled(&["--width", "3840", "--height", "2160"]);
    let on_a_platform = scaled(&["--cold-start", "1", "--invoke-latency", "0.1"]);
    assert!(big > 100.0 * plain, "{big} vs {plain}");
    assert!(on_a_platform > plain + 1.0, "{on_a_platform} vs {plain}");

    let output = flick(with_path(&["simulate"], &y4m, &[]));
    assert_clean_error(&output, &["not a flick timeline"]);
    let output = flick(with_path(&["simulate"], &timeline, &["--workers", "0"]));
    assert!(!output.status.success());
}

#[test]
fn a_store_directory_gives_the_same_stream_and_is_empty_at_the_end() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = clip(&dir, 20);
    let pipeline = ["--chunk-frames", "3", "--batch", "3", "--workers", "3"];
    let in_memory = dir.path().join("memory.ivf");
    let memory_lines = encode_and_check(&y4m, &in_memory, &pipeline, 20);
    let store = dir.path().join("store");
    let on_disk = dir.path().join("disk.ivf");
    let mut extra = pipeline.to_vec();
    // Every blob by name, so that every picture and state goes through the directory.
    extra.extend(["--store", store.to_str().unwrap(), "--inline-limit", "0"]);
    let output = flick(encode_args(&y4m, &on_disk, &extra));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(fs::read(&on_disk).unwrap(), fs::read(&in_memory).unwrap());
    let summary = stderr(&output);
    assert!(
        summary.contains(&format!("in store {}", store.display())),
        "{summary}"
    );
    // Blobs are deleted once no task reads them: none is left.
    let left: Vec<_> = walk(&store);
    assert!(left.is_empty(), "blobs left behind: {left:?}");

    // The directory's name is a file: a clean error, no stream.
    let blocked = dir.path().join("blocked.ivf");
    let file = dir.path().join("a-file");
    fs::write(&file, b"not a directory").unwrap();
    let mut extra = pipeline.to_vec();
    extra.extend(["--store", file.to_str().unwrap()]);
    assert_clean_error(&flick(encode_args(&y4m, &blocked, &extra)), &["a-file"]);
    assert!(!blocked.exists() && !partial(&blocked).exists());
    assert_eq!(memory_lines, [0, 9, 18]);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn help_documents_the_pipeline() {
    let help = flick_ok(["encode", "--help"]).join("\n");
    for needle in [
        "--chunk-frames",
        "--batch",
        "whole",
        "--workers",
        "--backend",
        "local",
        "--timeline",
        "--retries",
        "--store",
        "--inline-limit",
        "--task-timeout",
        "[default: 16]",
        "[default: 2]",
        "[default: 262144]",
        "[default: 900]",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}:\n{help}");
    }
}

/// A usage error: clap's exit status 2, no panic, the message naming `needle`, no output.
fn expect_usage_error(input: &Path, output: &Path, extra: &[&str], needle: &str) {
    let result = flick(encode_args(input, output, extra));
    let err = stderr(&result);
    assert_eq!(result.status.code(), Some(2), "{extra:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(needle),
        "{extra:?}: error lacks {needle:?}: {err}"
    );
    assert!(!output.exists() && !partial(output).exists());
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.y4m");
    let mut data = b"YUV4MPEG2 W16 H16 F30:1\nFRAME\n".to_vec();
    data.extend([128u8; 384]);
    fs::write(&input, data).unwrap();
    let output = dir.path().join("out.ivf");
    let cases: &[(&[&str], &str)] = &[
        (&["--chunk-frames", "0"], "--chunk-frames"),
        (&["--chunk-frames", "3", "--workers", "0"], "--workers"),
        (&["--chunk-frames", "3", "--batch", "0"], "--batch"),
        (&["--chunk-frames", "3", "--batch", "lots"], "'lots'"),
        (&["--chunk-frames", "3", "--retries", "many"], "--retries"),
        (&["--chunk-frames", "3", "--backend", "cloud"], "--backend"),
        (&["--batch", "2"], "--chunk-frames"),
        (&["--workers", "2"], "--chunk-frames"),
        (&["--store", "dir"], "--chunk-frames"),
        (
            &["--chunk-frames", "3", "--task-timeout", "0"],
            "--task-timeout",
        ),
        (
            &["--chunk-frames", "3", "--task-timeout", "soon"],
            "--task-timeout",
        ),
        (
            &["--chunk-frames", "3", "--inline-limit", "lots"],
            "--inline-limit",
        ),
        (&["--chunk-frames", "3", "--state", "s.state"], "--state"),
        (
            &["--chunk-frames", "3", "--keyframe-interval", "5"],
            "--keyframe-interval",
        ),
        (
            &["--chunk-frames", "3", "--golden-interval", "4"],
            "--golden-interval",
        ),
    ];
    for (extra, needle) in cases {
        expect_usage_error(&input, &output, extra, needle);
    }
}

/// Runs a pipeline encode expecting a clean error naming `needles`, and checks that
/// neither the output nor its `.partial` is left behind.
fn expect_failure(input: &Path, output: &Path, needles: &[&str]) {
    let extra = ["--chunk-frames", "2", "--batch", "2", "--workers", "2"];
    assert_clean_error(&flick(encode_args(input, output, &extra)), needles);
    assert!(!output.exists(), "{} left behind", output.display());
    assert!(!partial(output).exists());
}

#[test]
fn bad_input_is_a_clean_error_and_leaves_no_output() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = clip(&dir, 5);
    let mut data = fs::read(&y4m).unwrap();
    data.truncate(data.len() - 100);
    let cut = dir.path().join("cut.y4m");
    fs::write(&cut, data).unwrap();
    expect_failure(&cut, &dir.path().join("cut.ivf"), &["cut.y4m", "frame 4"]);

    let empty = dir.path().join("noframes.y4m");
    fs::write(&empty, b"YUV4MPEG2 W16 H16 F30:1 Ip C420jpeg\n").unwrap();
    expect_failure(
        &empty,
        &dir.path().join("empty.ivf"),
        &["noframes.y4m", "no frames"],
    );

    let garbage = dir.path().join("garbage.y4m");
    fs::write(&garbage, b"this is not a video\n").unwrap();
    expect_failure(
        &garbage,
        &dir.path().join("garbage.ivf"),
        &["garbage.y4m", "Y4M"],
    );

    // An existing output survives a failed encode.
    let kept = dir.path().join("kept.ivf");
    fs::write(&kept, b"an older file").unwrap();
    let extra = ["--chunk-frames", "2"];
    assert_clean_error(&flick(encode_args(&cut, &kept, &extra)), &["cut.y4m"]);
    assert_eq!(fs::read(&kept).unwrap(), b"an older file");
    assert!(!partial(&kept).exists());

    // The timeline cannot be written: no stream either.
    let out = dir.path().join("no-timeline.ivf");
    let bad_timeline = dir.path().join("no/such/dir/t.json");
    let extra = [
        "--chunk-frames",
        "2",
        "--timeline",
        bad_timeline.to_str().unwrap(),
    ];
    assert_clean_error(&flick(encode_args(&y4m, &out, &extra)), &["t.json"]);
    assert!(!out.exists() && !partial(&out).exists());
}

/// `--target-bitrate` in the pipeline: a quality level per chunk, planned from the pictures
/// and the first chunks' sizes, so the stream plays as announced, follows the target, and
/// comes out the same on any number of workers.
#[test]
fn a_target_bitrate_is_planned_per_chunk_and_the_same_on_any_number_of_workers() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = clip(&dir, 36);
    let kbps_of = |ivf: &Path| {
        let bytes: usize = read_ivf_frames(ivf).iter().map(Vec::len).sum();
        // 36 frames at the clip's 25 frames a second.
        bytes as f64 * 8.0 / (36.0 / 25.0) / 1000.0
    };
    let mut reached = Vec::new();
    for kbps in ["60", "240"] {
        let ivf = dir.path().join(format!("bitrate-{kbps}.ivf"));
        let extra = |workers| {
            [
                "--chunk-frames",
                "3",
                "--batch",
                "4",
                "--target-bitrate",
                kbps,
                "--workers",
                workers,
            ]
        };
        let keys = encode_and_check(&y4m, &ivf, &extra("3"), 36);
        assert_eq!(keys, [0, 12, 24]);
        let one = dir.path().join(format!("bitrate-{kbps}-one-worker.ivf"));
        flick_ok(encode_args(&y4m, &one, &extra("1")));
        assert_eq!(
            fs::read(&ivf).unwrap(),
            fs::read(&one).unwrap(),
            "{kbps} kb/s"
        );
        reached.push(kbps_of(&ivf));
    }
    assert!(reached[1] > 2.0 * reached[0], "{reached:?}");
    for (target, got) in [60.0, 240.0].into_iter().zip(&reached) {
        assert!(
            *got > target / 2.0 && *got < target * 2.0,
            "{got:.0} kb/s for {target}"
        );
    }
}

#[test]
fn long_term_chains_put_one_hidden_frame_per_group_and_play_as_announced() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = clip(&dir, 36);
    let ivf = dir.path().join("long-term.ivf");
    let extra = |workers| {
        [
            "--chunk-frames",
            "3",
            "--batch",
            "6",
            "--long-term-chunks",
            "2",
            "--cq-level",
            "30",
            "--workers",
            workers,
        ]
    };
    let keys = encode_and_check(&y4m, &ivf, &extra("3"), 36);
    assert_eq!(keys, [0, 18]);
    // Groups of two chunks: each group's first chunk carries its hidden frame right after
    // its first picture, in rebased chunks too (pictures 6 and 12 open anchored chunks).
    let hidden_before = hidden_frames_before(&ivf);
    assert_eq!(hidden_before, [1, 7, 13, 19, 25, 31]);
    let recon = flick_ok(with_path(&["decode"], &ivf, &["--frame-md5"]));
    let md5s: Vec<&str> = recon.iter().map(|line| line_md5(line)).collect();
    assert_eq!(ffmpeg_frame_md5s(&ivf, 64, 48), md5s, "ffmpeg vs flick");
    // Each task codes the chain again for itself: the stream does not depend on who ran what.
    let one = dir.path().join("long-term-one-worker.ivf");
    flick_ok(encode_args(&y4m, &one, &extra("1")));
    assert_eq!(fs::read(&ivf).unwrap(), fs::read(&one).unwrap());
}
