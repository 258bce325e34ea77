//! End to end through the `flick` binary: resuming a decode from a dumped state prints exactly
//! the tail of a straight decode; outputs hold the same frames the MD5 lines describe; and
//! damaged inputs give one clean error line after the output of the good frames.

mod common;

use std::path::{Path, PathBuf};

use common::{
    assert_clean_error, assert_ok_or_clean_error, flick, flick_ok, stdout_lines, with_path,
};
use flick_tests::{
    Source, line_frame_index, make_y4m, md5_hex, md5_list_path, read_md5_list, require_tools,
    vector, vpxdec_md5_lines, vpxenc,
};

/// `flick decode --frame-md5` of the whole file.
fn straight_lines(ivf: &Path) -> Vec<String> {
    flick_ok(with_path(&["decode"], ivf, &["--frame-md5"]))
}

/// Dumps the state after each of `splits` and checks that resuming from it prints the tail of
/// `straight`.
fn check_resume(ivf: &Path, straight: &[String], splits: &[usize], dir: &Path) {
    for &n in splits {
        let state = dir.join(format!("after-{n}.state"));
        let mut args = with_path(&["dump-state"], ivf, &["--after", &n.to_string(), "-o"]);
        args.push(state.clone().into_os_string());
        let summary = flick_ok(&args);
        assert_eq!(summary.len(), 1, "dump-state prints one line: {summary:?}");
        assert!(
            summary[0].contains(&format!("after frame {n}")) && summary[0].contains("content hash"),
            "{summary:?}"
        );

        let mut args = with_path(
            &["decode"],
            ivf,
            &["--frame-md5", "--from", &(n + 1).to_string()],
        );
        args.extend(["--state".into(), state.into_os_string()]);
        let resumed = flick_ok(&args);
        let tail: Vec<String> = straight
            .iter()
            .filter(|line| line_frame_index(line) > n)
            .cloned()
            .collect();
        assert!(
            !tail.is_empty(),
            "split after {n} leaves nothing to compare"
        );
        assert_eq!(resumed, tail, "{}: resumed after frame {n}", ivf.display());
    }
}

#[test]
fn resume_conformance_vector_with_a_hidden_frame() {
    let dir = tempfile::tempdir().unwrap();
    let ivf = vector(18);
    let straight = straight_lines(&ivf);
    assert_eq!(straight, read_md5_list(&md5_list_path(&ivf)));
    // Frame 0 is a hidden keyframe: resuming right after it must still number from 0002.
    check_resume(&ivf, &straight, &[0, 1, 7, 27], dir.path());
}

#[test]
fn resume_vpxenc_stream_with_altref() {
    require_tools();
    let dir = tempfile::tempdir().unwrap();
    let y4m = dir.path().join("clip.y4m");
    let ivf = dir.path().join("altref.ivf");
    make_y4m(Source::Clip, 320, 180, 40, &y4m);
    vpxenc(
        &y4m,
        &ivf,
        &[
            "--good",
            "--cpu-used=4",
            "--passes=2",
            "--auto-alt-ref=1",
            "--lag-in-frames=16",
        ],
    );
    let straight = straight_lines(&ivf);
    assert_eq!(straight, vpxdec_md5_lines(&ivf, "altref"));
    let frames = straight.len();
    assert!(
        line_frame_index(straight.last().unwrap()) + 1 > frames,
        "the stream has no hidden frame"
    );
    check_resume(
        &ivf,
        &straight,
        &[0, 1, 2, frames / 2, frames - 2],
        dir.path(),
    );
}

#[test]
fn y4m_and_raw_outputs_hold_the_frames_the_md5_lines_describe() {
    let dir = tempfile::tempdir().unwrap();
    let ivf = vector(6); // 175x143: odd chroma sizes
    let expected = read_md5_list(&md5_list_path(&ivf));
    let (width, height, chroma) = (175, 143, 88 * 72);
    let frame_len = width * height + 2 * chroma;

    let y4m = dir.path().join("out.y4m");
    let mut args = with_path(&["decode"], &ivf, &["-o"]);
    args.push(y4m.clone().into_os_string());
    flick_ok(&args);
    let bytes = std::fs::read(&y4m).unwrap();
    let header_end = bytes.iter().position(|&b| b == b'\n').unwrap();
    let header = std::str::from_utf8(&bytes[..header_end]).unwrap();
    assert!(header.starts_with("YUV4MPEG2 W175 H143 F24:1"), "{header}");
    let mut frames = &bytes[header_end + 1..];
    let mut md5s = Vec::new();
    while !frames.is_empty() {
        let line_end = frames.iter().position(|&b| b == b'\n').unwrap();
        assert!(frames.starts_with(b"FRAME"), "no FRAME marker");
        let picture = &frames[line_end + 1..line_end + 1 + frame_len];
        md5s.push(md5_hex(picture));
        frames = &frames[line_end + 1 + frame_len..];
    }
    let expected_md5s: Vec<&str> = expected.iter().map(|l| &l[..32]).collect();
    assert_eq!(md5s, expected_md5s);

    let raw = dir.path().join("out.yuv");
    let mut args = with_path(&["decode"], &ivf, &["-o"]);
    args.push(raw.clone().into_os_string());
    flick_ok(&args);
    let raw_md5s: Vec<String> = std::fs::read(&raw)
        .unwrap()
        .chunks(frame_len)
        .map(md5_hex)
        .collect();
    assert_eq!(raw_md5s, expected_md5s);
}

#[test]
fn info_lists_every_frame() {
    let lines = flick_ok(with_path(&["info"], &vector(18), &[]));
    assert_eq!(lines.len(), 1 + 29, "a header row and one line per frame");
    assert!(lines[0].starts_with("frame"));
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&first[..2], &["0", "32"]);
    assert!(
        lines[1].contains("key") && lines[1].contains("hidden"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains("refresh=last,golden,altref"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("inter") && lines[2].contains("shown"),
        "{}",
        lines[2]
    );
}

/// Vector 001 with `edit` applied to its bytes, written to `dir/case/` under its own name so
/// that MD5 lines compare equal to the vector's list.
fn damaged(dir: &Path, case: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(vector(1)).unwrap();
    edit(&mut bytes);
    let path = dir.join(case).join("vp80-00-comprehensive-001.ivf");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Byte offset of frame `index`'s 12-byte IVF header in `bytes`.
fn frame_offset(bytes: &[u8], index: usize) -> usize {
    let mut offset = 32;
    for _ in 0..index {
        let size = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap());
        offset += 12 + size as usize;
    }
    offset
}

#[test]
fn truncated_stream_keeps_the_good_frames() {
    let dir = tempfile::tempdir().unwrap();
    let expected = read_md5_list(&md5_list_path(&vector(1)));
    let ivf = damaged(dir.path(), "cut", |bytes| {
        let end = frame_offset(bytes, 10) + 30;
        bytes.truncate(end);
    });
    let output = flick(with_path(&["decode"], &ivf, &["--frame-md5"]));
    assert_clean_error(&output, &["truncated", "frame 10"]);
    assert_eq!(stdout_lines(&output), expected[..10]);

    let y4m = dir.path().join("cut.y4m");
    let mut args = with_path(&["decode"], &ivf, &["-o"]);
    args.push(y4m.clone().into_os_string());
    assert_clean_error(&flick(&args), &["frame 10"]);
    let written = std::fs::read(&y4m).unwrap();
    let frames = written.windows(6).filter(|w| w == b"FRAME\n").count();
    assert_eq!(frames, 10, "the Y4M output holds the 10 good frames");
}

#[test]
fn partition_size_past_the_end_of_a_frame() {
    let dir = tempfile::tempdir().unwrap();
    let expected = read_md5_list(&md5_list_path(&vector(1)));
    // Set the top bits of frame 5's first_partition_size (19 bits from bit 5 of the tag).
    let ivf = damaged(dir.path(), "flipped", |bytes| {
        let tag = frame_offset(bytes, 5) + 12;
        bytes[tag + 2] |= 0xf0;
    });
    let output = flick(with_path(&["decode"], &ivf, &["--frame-md5"]));
    assert_clean_error(&output, &["frame 5", "byte offset"]);
    assert_eq!(stdout_lines(&output), expected[..5]);
}

#[test]
fn random_bit_flips_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..24 {
        let flips: Vec<u64> = (0..1 + round % 4).map(|_| next()).collect();
        let ivf = damaged(dir.path(), &format!("flip{round}"), |bytes| {
            for r in flips {
                // Only frame data, past the 32-byte file header and frame 0's header.
                let at = 44 + (r as usize) % (bytes.len() - 44);
                bytes[at] ^= 1 << (r >> 60 & 7);
            }
        });
        assert_ok_or_clean_error(&flick(with_path(&["decode"], &ivf, &["--frame-md5"])));
        assert_ok_or_clean_error(&flick(with_path(&["info"], &ivf, &[])));
    }
}

#[test]
fn huge_keyframe_that_ends_early() {
    let dir = tempfile::tempdir().unwrap();
    // A shown keyframe, first partition of 100 bytes, start code, 16383x16383, then nothing.
    let size = 100u32 << 5 | 1 << 4;
    let mut frame = vec![
        size as u8,
        (size >> 8) as u8,
        (size >> 16) as u8,
        0x9d,
        0x01,
        0x2a,
    ];
    frame.extend_from_slice(&[0xff, 0x3f, 0xff, 0x3f]);
    let mut file = std::fs::read(vector(1)).unwrap()[..32].to_vec();
    file[24..28].copy_from_slice(&1u32.to_le_bytes());
    file.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    file.extend_from_slice(&0u64.to_le_bytes());
    file.extend_from_slice(&frame);
    let ivf = dir.path().join("huge.ivf");
    std::fs::write(&ivf, file).unwrap();
    let output = flick(with_path(&["decode"], &ivf, &["--frame-md5"]));
    assert_clean_error(&output, &["frame 0", "byte offset 32"]);
    assert!(stdout_lines(&output).is_empty());
    let state = dir.path().join("huge.state");
    let mut args = with_path(&["dump-state"], &ivf, &["--after", "0", "-o"]);
    args.push(state.into_os_string());
    assert_clean_error(&flick(&args), &["frame 0"]);
}

/// Dumps the state of `ivf` after frame `n` into `dir` and returns its path.
fn dump(ivf: &Path, n: usize, dir: &Path, name: &str) -> PathBuf {
    let state = dir.join(name);
    let mut args = with_path(&["dump-state"], ivf, &["--after", &n.to_string(), "-o"]);
    args.push(state.clone().into_os_string());
    flick_ok(&args);
    state
}

fn decode_from_state(ivf: &Path, state: &Path, from: usize) -> std::process::Output {
    let mut args = with_path(
        &["decode"],
        ivf,
        &["--frame-md5", "--from", &from.to_string()],
    );
    args.extend(["--state".into(), state.as_os_str().to_owned()]);
    flick(&args)
}

#[test]
fn state_from_another_stream() {
    let dir = tempfile::tempdir().unwrap();
    // Another size (1432x888), and the same size (176x144) but other pictures.
    let big = dump(&vector(8), 0, dir.path(), "big.state");
    let same_size = dump(&vector(2), 3, dir.path(), "same-size.state");
    for state in [big, same_size] {
        assert_ok_or_clean_error(&decode_from_state(&vector(1), &state, 4));
    }
}

#[test]
fn damaged_state_files() {
    let dir = tempfile::tempdir().unwrap();
    let good = dump(&vector(1), 3, dir.path(), "good.state");
    let bytes = std::fs::read(&good).unwrap();
    let write = |name: &str, contents: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    };
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x08;
    let cases = [
        (write("flipped.state", &flipped), "checksum"),
        (write("cut.state", &bytes[..bytes.len() / 3]), "truncated"),
        (
            write("ivf.state", &std::fs::read(vector(1)).unwrap()),
            "not a flick state",
        ),
        (write("empty.state", b""), "not a flick state"),
    ];
    for (state, needle) in cases {
        let output = decode_from_state(&vector(1), &state, 4);
        assert_clean_error(&output, &["cannot load state", needle]);
        assert!(stdout_lines(&output).is_empty());
    }
    let output = decode_from_state(&vector(1), &dir.path().join("missing.state"), 4);
    assert_clean_error(&output, &["cannot read state"]);
}

#[test]
fn past_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let output = flick(with_path(
        &["decode"],
        &vector(1),
        &["--frame-md5", "--from", "29"],
    ));
    assert_clean_error(&output, &["past the end", "29 frames"]);
    let mut args = with_path(&["dump-state"], &vector(1), &["--after", "29", "-o"]);
    args.push(dir.path().join("s").into_os_string());
    assert_clean_error(&flick(&args), &["past the end"]);
}

#[test]
fn dropped_frames_show_nothing_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let expected = read_md5_list(&md5_list_path(&vector(1)));
    // A zero-length frame inserted as frame 4.
    let ivf = damaged(dir.path(), "dropped", |bytes| {
        let at = frame_offset(bytes, 4);
        let mut empty = vec![0u8; 12];
        empty[4..12].copy_from_slice(&bytes[at + 4..at + 12]);
        bytes.splice(at..at, empty);
    });
    let lines = flick_ok(with_path(&["decode"], &ivf, &["--frame-md5"]));
    assert_eq!(
        lines.len(),
        expected.len(),
        "the dropped frame shows nothing"
    );
    assert_eq!(lines[..4], expected[..4]);
    for (line, want) in lines[4..].iter().zip(&expected[4..]) {
        // Same picture as before the insertion, numbered one later.
        assert_eq!(line[..32], want[..32]);
        assert_eq!(line_frame_index(line), line_frame_index(want) + 1);
    }
    let info = flick_ok(with_path(&["info"], &ivf, &[]));
    assert!(info[1 + 4].contains("dropped"), "{}", info[5]);
}
