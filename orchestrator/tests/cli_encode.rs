//! `flick encode` end to end, run as a user runs it: what it writes decodes in `flick decode`
//! and in vpxdec to exactly the pictures `--recon-md5` announced; a stream continued from a
//! saved state plays after the frames the state came from; and bad input gives one clean error
//! line and never leaves a stream behind.

mod common;

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use codec_core::Picture;
use codec_core::container::ivf::{VP8_FOURCC, parse_ivf};
use codec_core::header::inspect;
use common::{assert_clean_error, flick, flick_ok, stderr, with_path};
use flick_tests::{
    Source, ffmpeg_frame_md5s, line_md5, make_y4m, raw_tag, read_ivf_frames, read_y4m,
    require_tools, vector, vpxdec_md5_lines, vpxenc, write_ivf, write_y4m,
};
use tempfile::TempDir;

/// `flick encode IN -o OUT --recon-md5 EXTRA...`; returns the MD5 lines.
fn encode(input: &Path, output: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = with_path(&["encode"], input, &["--recon-md5", "-o"]);
    args.push(output.as_os_str().to_owned());
    args.extend(extra.iter().map(OsString::from));
    flick_ok(&args)
}

fn decode_md5(ivf: &Path) -> Vec<String> {
    flick_ok(with_path(&["decode"], ivf, &["--frame-md5"]))
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

fn md5s(lines: &[String]) -> Vec<&str> {
    lines.iter().map(|l| line_md5(l)).collect()
}

/// Encodes `y4m` and checks the stream: header, frame count, one shown frame per picture,
/// and that flick's decoder and vpxdec both print exactly the `--recon-md5` lines.
fn encode_and_check(y4m: &Path, ivf: &Path, extra: &[&str], frames: usize) -> Vec<String> {
    let recon = encode(y4m, ivf, extra);
    assert_eq!(recon.len(), frames, "one --recon-md5 line per frame");
    let (source, _) = read_y4m(y4m);

    let bytes = fs::read(ivf).unwrap();
    let (header, _) = parse_ivf(&bytes).unwrap();
    assert_eq!(header.fourcc, VP8_FOURCC);
    assert_eq!(
        (usize::from(header.width), usize::from(header.height)),
        (source.width, source.height)
    );
    // The count covers hidden altref frames too; the pictures shown are the source's.
    let stream = read_ivf_frames(ivf);
    assert_eq!(
        header.frame_count as usize,
        stream.len(),
        "frame count patched"
    );
    let shown = stream
        .iter()
        .filter(|f| raw_tag(f).unwrap().show_frame)
        .count();
    assert_eq!(shown, frames, "one shown frame per picture");
    assert_eq!(
        (header.timebase_denominator, header.timebase_numerator),
        source.frame_rate,
        "IVF rate/scale is the Y4M frame rate"
    );
    assert!(!partial(ivf).exists(), "the .partial file was renamed");

    let name = format!("{}-{}x{}-0001.i420", stem(ivf), source.width, source.height);
    assert!(recon[0].ends_with(&name), "{recon:?}");
    assert_eq!(
        decode_md5(ivf),
        recon,
        "flick decode --frame-md5 vs --recon-md5"
    );
    assert_eq!(
        vpxdec_md5_lines(ivf, &stem(ivf)),
        recon,
        "vpxdec --md5 vs --recon-md5"
    );
    recon
}

fn partial(ivf: &Path) -> PathBuf {
    let mut name = ivf.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn testsrc(dir: &TempDir, width: u32, height: u32, frames: u32) -> PathBuf {
    let y4m = dir.path().join(format!("testsrc-{width}x{height}.y4m"));
    make_y4m(Source::Synthetic("testsrc2"), width, height, frames, &y4m);
    y4m
}

#[test]
fn encode_64x48_decodes_to_the_recon_md5s() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = testsrc(&dir, 64, 48, 10);
    let ivf = dir.path().join("out.ivf");
    encode_and_check(&y4m, &ivf, &[], 10);
    let frames = read_ivf_frames(&ivf);
    assert!(raw_tag(&frames[0]).unwrap().key_frame);
}

#[test]
fn encode_odd_size_33x17() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = testsrc(&dir, 33, 17, 10);
    encode_and_check(&y4m, &dir.path().join("odd.ivf"), &[], 10);
}

#[test]
fn every_option_gives_a_stream_that_decodes() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 64, 48, 6, &y4m);
    let cases: &[&[&str]] = &[
        &["--cq-level", "40"],
        &["--target-ssim", "0.9"],
        &["--target-bitrate", "150"],
        &["--keyframe-interval", "3", "--golden-interval", "2"],
        &["--speed", "0"],
        &["--speed", "8", "--token-partitions", "2"],
    ];
    for (k, extra) in cases.iter().enumerate() {
        let ivf = dir.path().join(format!("case{k}.ivf"));
        encode_and_check(&y4m, &ivf, extra, 6);
        let frames = read_ivf_frames(&ivf);
        if extra.contains(&"--keyframe-interval") {
            let keys = frames
                .iter()
                .filter(|f| raw_tag(f).unwrap().key_frame)
                .count();
            assert!(keys >= 2, "{extra:?}: {keys} keyframes in 6 frames");
        }
        if extra.contains(&"--token-partitions") {
            for frame in &frames {
                assert_eq!(inspect(frame).unwrap().partition_count, 4, "{extra:?}");
            }
        }
    }
}

/// `--altref-interval`: hidden altref frames go into the stream with the frames they serve;
/// flick's decoder, vpxdec and ffmpeg show every picture exactly as `--recon-md5` announced,
/// numbered as vpxdec numbers them (a hidden frame leaves a gap).
#[test]
fn altref_groups_write_hidden_frames_that_play_everywhere() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 64, 48, 20, &y4m);
    let ivf = dir.path().join("altref.ivf");
    let recon = encode(&y4m, &ivf, &["--altref-interval", "6", "--cq-level", "30"]);
    assert_eq!(recon.len(), 20, "one --recon-md5 line per picture");
    let frames = read_ivf_frames(&ivf);
    let hidden = frames
        .iter()
        .filter(|f| !raw_tag(f).unwrap().show_frame)
        .count();
    assert!(
        hidden >= 2,
        "{hidden} hidden frames in groups of 6 over 20 pictures"
    );
    assert_eq!(frames.len(), 20 + hidden);
    let bytes = fs::read(&ivf).unwrap();
    let (header, _) = parse_ivf(&bytes).unwrap();
    assert_eq!(
        header.frame_count as usize,
        frames.len(),
        "frame count patched"
    );
    assert_eq!(
        decode_md5(&ivf),
        recon,
        "flick decode --frame-md5 vs --recon-md5"
    );
    assert_eq!(
        vpxdec_md5_lines(&ivf, &stem(&ivf)),
        recon,
        "vpxdec --md5 vs --recon-md5"
    );
    assert_eq!(
        ffmpeg_frame_md5s(&ivf, 64, 48),
        md5s(&recon),
        "ffmpeg vs --recon-md5"
    );
}

#[test]
fn frame_rate_limit_stdin_and_summary() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let (_, pictures) = read_y4m(&testsrc(&dir, 32, 32, 5));
    let y4m = dir.path().join("ntsc.y4m");
    write_y4m(&y4m, (30000, 1001), &pictures.iter().collect::<Vec<_>>());

    let ivf = dir.path().join("limited.ivf");
    let recon = encode_and_check(&y4m, &ivf, &["--limit", "3"], 3);
    // Y4M out of flick decode keeps the frame rate.
    let back = dir.path().join("back.y4m");
    flick_ok(with_path(
        &["decode"],
        &ivf,
        &["-o", back.to_str().unwrap()],
    ));
    assert_eq!(read_y4m(&back).0.frame_rate, (30000, 1001));

    // The summary goes to stderr, MD5 lines alone to stdout.
    let mut args = with_path(&["encode"], &y4m, &["-o"]);
    args.push(dir.path().join("summary.ivf").into_os_string());
    let output = flick(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(output.stdout.is_empty(), "stdout is for --recon-md5 only");
    let summary = stderr(&output);
    assert!(
        summary.contains("encoded 5 frames") && summary.contains("kb/s"),
        "{summary}"
    );

    // Standard input reads the same as the file.
    let piped = dir.path().join("limited2.ivf");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_flick"))
        .args(["encode", "-", "--recon-md5", "--limit", "3", "-o"])
        .arg(&piped)
        .stdin(fs::File::open(&y4m).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| l.replace("limited2", "limited"))
        .collect();
    assert_eq!(lines, recon);
    assert_eq!(fs::read(&piped).unwrap(), fs::read(&ivf).unwrap());
}

#[test]
fn help_documents_state_continuation() {
    let help = flick_ok(["encode", "--help"]).join("\n");
    for needle in [
        "--state",
        "--save-state",
        "dump-state",
        "concatenate its frames after the frames the state was dumped from",
        "--recon-md5",
    ] {
        assert!(help.contains(needle), "help lacks {needle:?}:\n{help}");
    }
}

/// Frames `from..` of a Y4M file as a Y4M file of their own.
fn y4m_tail(y4m: &Path, from: usize, out: &Path) {
    let (header, pictures) = read_y4m(y4m);
    write_y4m(
        out,
        header.frame_rate,
        &pictures[from..].iter().collect::<Vec<_>>(),
    );
}

/// `head` (an IVF) up to frame `frames`, then every frame of `tail`, as `out`; returns
/// vpxdec's MD5 lines of the result, after checking that flick's decoder agrees.
fn concatenate_and_decode(head: &Path, frames: usize, tail: &Path, out: &Path) -> Vec<String> {
    let bytes = fs::read(head).unwrap();
    let (header, _) = parse_ivf(&bytes).unwrap();
    let mut all = read_ivf_frames(head);
    all.truncate(frames);
    all.extend(read_ivf_frames(tail));
    write_ivf(
        out,
        usize::from(header.width),
        usize::from(header.height),
        &all,
    );
    let vpxdec = vpxdec_md5_lines(out, &stem(out));
    assert_eq!(decode_md5(out), vpxdec, "flick decode vs vpxdec");
    vpxdec
}

#[test]
fn save_state_then_continue_with_state() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = testsrc(&dir, 64, 48, 10);
    let head = dir.path().join("head.ivf");
    let saved = dir.path().join("head.state");
    let head_lines = encode_and_check(
        &y4m,
        &head,
        &["--limit", "6", "--save-state", saved.to_str().unwrap()],
        6,
    );

    // --save-state writes what dump-state computes from the stream, after its last frame
    // (the stream may hold hidden altref frames besides the six shown).
    let head_frames = read_ivf_frames(&head).len();
    let dumped = dir.path().join("dumped.state");
    let last = (head_frames - 1).to_string();
    let mut args = with_path(&["dump-state"], &head, &["--after", &last, "-o"]);
    args.push(dumped.clone().into_os_string());
    flick_ok(&args);
    assert_eq!(fs::read(&saved).unwrap(), fs::read(&dumped).unwrap());

    let rest = dir.path().join("rest.y4m");
    y4m_tail(&y4m, 6, &rest);
    let tail = dir.path().join("tail.ivf");
    let tail_lines = encode(&rest, &tail, &["--state", saved.to_str().unwrap()]);
    assert_eq!(tail_lines.len(), 4);
    assert!(
        !raw_tag(&read_ivf_frames(&tail)[0]).unwrap().key_frame,
        "the first frame after --state is an interframe"
    );
    // The tail alone decodes from the state, numbered as its own lines are.
    let mut args = with_path(&["decode"], &tail, &["--frame-md5", "--from", "0"]);
    args.extend(["--state".into(), saved.into_os_string()]);
    assert_eq!(flick_ok(&args), tail_lines);

    let whole = concatenate_and_decode(&head, head_frames, &tail, &dir.path().join("whole.ivf"));
    assert_eq!(whole.len(), 10);
    assert_eq!(md5s(&whole[..6]), md5s(&head_lines));
    assert_eq!(md5s(&whole[6..]), md5s(&tail_lines));
}

#[test]
fn continue_a_vpxenc_stream_from_dump_state() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = dir.path().join("clip.y4m");
    make_y4m(Source::Clip, 96, 64, 10, &y4m);
    let libvpx = dir.path().join("libvpx.ivf");
    vpxenc(
        &y4m,
        &libvpx,
        &[
            "--good",
            "--cpu-used=4",
            "--passes=1",
            "--auto-alt-ref=0",
            "--lag-in-frames=0",
        ],
    );
    assert_eq!(read_ivf_frames(&libvpx).len(), 10, "one frame per picture");
    let state = dir.path().join("after5.state");
    let mut args = with_path(&["dump-state"], &libvpx, &["--after", "5", "-o"]);
    args.push(state.clone().into_os_string());
    flick_ok(&args);

    let rest = dir.path().join("rest.y4m");
    y4m_tail(&y4m, 6, &rest);
    let tail = dir.path().join("tail.ivf");
    let tail_lines = encode(&rest, &tail, &["--state", state.to_str().unwrap()]);
    let whole = concatenate_and_decode(&libvpx, 6, &tail, &dir.path().join("whole.ivf"));
    assert_eq!(whole.len(), 10);
    assert_eq!(md5s(&whole[6..]), md5s(&tail_lines));
}

/// Runs `flick encode input -o output extra...` expecting a clean error naming `needles`, and
/// checks that neither `output` nor its `.partial` is left behind.
fn expect_failure(input: &Path, output: &Path, extra: &[&str], needles: &[&str]) {
    let mut args = with_path(&["encode"], input, &["-o"]);
    args.push(output.as_os_str().to_owned());
    args.extend(extra.iter().map(OsString::from));
    let result = flick(&args);
    assert_clean_error(&result, needles);
    assert!(!output.exists(), "{} left behind", output.display());
    assert!(
        !partial(output).exists(),
        "{} left behind",
        partial(output).display()
    );
}

#[test]
fn garbage_input_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("garbage.y4m");
    fs::write(&input, b"this is not a video\n\0\x01\x02").unwrap();
    expect_failure(
        &input,
        &dir.path().join("out.ivf"),
        &[],
        &["garbage.y4m", "Y4M"],
    );
    let empty = dir.path().join("empty.y4m");
    fs::write(&empty, b"").unwrap();
    expect_failure(&empty, &dir.path().join("out.ivf"), &[], &["empty.y4m"]);

    // A first frame cut short, and a damaged frame marker: named by frame and byte offset.
    let cut = dir.path().join("cut.y4m");
    let mut data = b"YUV4MPEG2 W16 H16 F30:1\nFRAME\n".to_vec();
    data.extend([128u8; 100]);
    fs::write(&cut, &data).unwrap();
    expect_failure(
        &cut,
        &dir.path().join("out.ivf"),
        &[],
        &["cut.y4m", "frame 0 at byte 24", "truncated"],
    );
    let marker = dir.path().join("marker.y4m");
    fs::write(&marker, b"YUV4MPEG2 W16 H16 F30:1\nFRAMX\n").unwrap();
    expect_failure(
        &marker,
        &dir.path().join("out.ivf"),
        &[],
        &["marker.y4m", "frame 0", "FRAME"],
    );
}

#[test]
fn non_420_input_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c444.y4m");
    let mut data = b"YUV4MPEG2 W8 H8 F30:1 Ip C444\nFRAME\n".to_vec();
    data.extend([128u8; 3 * 64]);
    fs::write(&input, data).unwrap();
    expect_failure(
        &input,
        &dir.path().join("out.ivf"),
        &[],
        &["c444.y4m", "C444", "4:2:0"],
    );
}

#[test]
fn header_only_input_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("noframes.y4m");
    fs::write(&input, b"YUV4MPEG2 W16 H16 F30:1 Ip C420jpeg\n").unwrap();
    expect_failure(
        &input,
        &dir.path().join("out.ivf"),
        &[],
        &["noframes.y4m", "no frames"],
    );
}

#[test]
fn truncated_input_keeps_an_older_output_and_leaves_no_partial() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = testsrc(&dir, 32, 32, 4);
    let mut data = fs::read(&y4m).unwrap();
    data.truncate(data.len() - 100);
    let cut = dir.path().join("cut.y4m");
    fs::write(&cut, data).unwrap();

    let output = dir.path().join("existing.ivf");
    fs::write(&output, b"an older file").unwrap();
    let mut args = with_path(&["encode"], &cut, &["-o"]);
    args.push(output.clone().into_os_string());
    assert_clean_error(&flick(&args), &["cut.y4m", "frame 3"]);
    assert_eq!(fs::read(&output).unwrap(), b"an older file");
    assert!(!partial(&output).exists());
}

#[test]
fn state_of_another_size_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    // Conformance vector 1 is 176x144.
    let state = dir.path().join("176x144.state");
    let mut args = with_path(&["dump-state"], &vector(1), &["--after", "0", "-o"]);
    args.push(state.clone().into_os_string());
    flick_ok(&args);
    let small = dir.path().join("small.y4m");
    write_y4m(&small, (30, 1), &[&Picture::new(33, 17)]);
    expect_failure(
        &small,
        &dir.path().join("small.ivf"),
        &["--state", state.to_str().unwrap()],
        &["176x144.state", "176x144", "33x17"],
    );
}

#[test]
fn unreadable_state_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.y4m");
    let mut data = b"YUV4MPEG2 W16 H16 F30:1\nFRAME\n".to_vec();
    data.extend([128u8; 384]);
    fs::write(&input, data).unwrap();
    let state = dir.path().join("bad.state");
    fs::write(&state, b"not a state").unwrap();
    expect_failure(
        &input,
        &dir.path().join("out.ivf"),
        &["--state", state.to_str().unwrap()],
        &["bad.state"],
    );
}

#[test]
fn output_in_a_missing_directory_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.y4m");
    let mut data = b"YUV4MPEG2 W16 H16 F30:1\nFRAME\n".to_vec();
    data.extend([128u8; 384]);
    fs::write(&input, data).unwrap();
    let output = dir.path().join("no/such/dir/out.ivf");
    expect_failure(&input, &output, &[], &["cannot create", "out.ivf"]);

    // An existing directory as output: the stream is encoded, but cannot take that name.
    let taken = dir.path().join("taken.ivf");
    fs::create_dir(&taken).unwrap();
    let mut args = with_path(&["encode"], &input, &["-o"]);
    args.push(taken.clone().into_os_string());
    assert_clean_error(&flick(&args), &["taken.ivf"]);
    assert!(taken.is_dir() && !partial(&taken).exists());

    // IVF needs a seekable file.
    let result = flick(with_path(&["encode"], &input, &["-o", "-"]));
    assert_clean_error(&result, &["-o -", "file"]);
    assert!(result.stdout.is_empty());
}
