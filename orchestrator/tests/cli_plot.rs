//! `flick plot-timeline` run as a user runs it: a small timeline becomes a PNG of the size
//! asked for with its bars drawn in their kinds' colours, and bad input gives one clean error
//! line and leaves no picture behind.

mod common;

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use common::{assert_clean_error, flick, flick_ok, with_path};
use tempfile::TempDir;

/// The colours `flick plot-timeline` gives the three task kinds and failed attempts.
const ENCODE_CHUNK: [u8; 3] = [31, 119, 180];
const ENCODE_GIVEN_STATE: [u8; 3] = [255, 127, 14];
const REBASE: [u8; 3] = [44, 160, 44];
const FAILED: [u8; 3] = [180, 0, 0];

/// Two workers, each kind of task, and one failed attempt retried on the other worker.
const SMALL_TIMELINE: &str = r#"[
  {"kind": "encode_chunk", "chunk": 0, "worker": 0, "start_s": 0.0, "end_s": 2.0, "bytes_in": 10, "bytes_out": 900},
  {"kind": "encode_chunk", "chunk": 1, "worker": 1, "start_s": 0.1, "end_s": 2.2, "bytes_in": 10, "bytes_out": 950},
  {"kind": "encode_given_state", "chunk": 1, "worker": 1, "start_s": 2.3, "end_s": 2.9, "bytes_in": 900, "bytes_out": 400, "attempt": 1, "ok": false},
  {"kind": "encode_given_state", "chunk": 1, "worker": 0, "start_s": 3.0, "end_s": 3.6, "bytes_in": 900, "bytes_out": 400, "attempt": 2, "ok": true},
  {"kind": "rebase", "chunk": 1, "worker": 0, "start_s": 3.7, "end_s": 4.0, "bytes_in": 400, "bytes_out": 380},
  {"kind": "rebase", "chunk": 2, "worker": 1, "start_s": 3.2, "end_s": 3.5, "bytes_in": 400, "bytes_out": 380}
]"#;

struct Png {
    width: u32,
    height: u32,
    colours: HashSet<[u8; 3]>,
}

fn read_png(path: &Path) -> Png {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane PNG size")];
    let frame = reader.next_frame(&mut pixels).expect("PNG pixels");
    assert_eq!(frame.color_type, png::ColorType::Rgb);
    assert_eq!(frame.bit_depth, png::BitDepth::Eight);
    let colours = pixels[..frame.buffer_size()]
        .chunks_exact(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Png {
        width: frame.width,
        height: frame.height,
        colours,
    }
}

fn partial(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_small_timeline_plots_to_a_png_of_the_size_asked_with_every_kind_drawn() {
    let dir = TempDir::new().unwrap();
    let json = write(&dir, "small.json", SMALL_TIMELINE);
    let out = dir.path().join("small.png");
    let mut args = with_path(&["plot-timeline"], &json, &["-o"]);
    args.push(out.as_os_str().to_owned());
    args.extend(["--width", "640", "--height", "360", "--title", "small"].map(Into::into));
    flick_ok(&args);

    assert!(!partial(&out).exists(), "the .partial file was renamed");
    let png = read_png(&out);
    assert_eq!((png.width, png.height), (640, 360));
    assert!(
        png.colours.len() >= 3,
        "{} colours: blank",
        png.colours.len()
    );
    for (what, colour) in [
        ("encode_chunk", ENCODE_CHUNK),
        ("encode_given_state", ENCODE_GIVEN_STATE),
        ("rebase", REBASE),
        ("failed attempt", FAILED),
    ] {
        assert!(png.colours.contains(&colour), "no {what} bar ({colour:?})");
    }
}

#[test]
fn by_default_the_plot_is_1200_wide_and_replaces_an_old_one() {
    let dir = TempDir::new().unwrap();
    let json = write(&dir, "small.json", SMALL_TIMELINE);
    let out = write(&dir, "old.png", "not a picture");
    let mut args = with_path(&["plot-timeline"], &json, &["-o"]);
    args.push(out.as_os_str().to_owned());
    flick_ok(&args);
    let png = read_png(&out);
    assert_eq!(png.width, 1200);
    assert!(png.height >= 200, "{}", png.height);
}

fn plot_error(json: &Path, out: &Path, extra: &[&str], needles: &[&str]) {
    let mut args = with_path(&["plot-timeline"], json, &["-o"]);
    args.push(out.as_os_str().to_owned());
    args.extend(extra.iter().map(Into::into));
    assert_clean_error(&flick(&args), needles);
    assert!(!out.exists(), "no picture after an error");
    assert!(!partial(out).exists(), "no .partial after an error");
}

#[test]
fn bad_timelines_give_one_clean_error_naming_the_problem() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.png");
    let record = |worker: &str, start: &str, end: &str| {
        format!(
            r#"{{"kind": "rebase", "chunk": 4, "worker": {worker}, "start_s": {start}, "end_s": {end}, "bytes_in": 0, "bytes_out": 0}}"#
        )
    };
    let good = record("0", "0.0", "1.0");
    let cases: [(&str, String, &[&str]); 6] = [
        (
            "text.json",
            "this is not JSON".into(),
            &["text.json", "not a flick timeline"],
        ),
        (
            "object.json",
            r#"{"kind": "rebase"}"#.into(),
            &["object.json", "not a flick timeline"],
        ),
        ("empty.json", "[]".into(), &["empty.json", "no tasks"]),
        (
            "backwards.json",
            format!("[{good}, {}]", record("1", "2.5", "2.0")),
            &["backwards.json", "record 1", "before it starts"],
        ),
        (
            "negative.json",
            format!("[{}]", record("0", "-1.0", "1.0")),
            &["record 0", "start_s"],
        ),
        (
            "far.json",
            format!("[{good}, {good}, {}]", record("100000", "0.0", "1.0")),
            &["record 2", "worker 100000", "4096"],
        ),
    ];
    for (name, text, needles) in cases {
        let json = write(&dir, name, &text);
        plot_error(&json, &out, &[], needles);
    }
    plot_error(
        &dir.path().join("missing.json"),
        &out,
        &[],
        &["missing.json"],
    );
}

#[test]
fn an_unwritable_output_or_a_bad_font_gives_one_clean_error() {
    let dir = TempDir::new().unwrap();
    let json = write(&dir, "small.json", SMALL_TIMELINE);
    let nowhere = dir.path().join("no-such-dir").join("out.png");
    plot_error(&json, &nowhere, &[], &["cannot write", "no-such-dir"]);

    let out = dir.path().join("out.png");
    let json_arg = json.to_str().unwrap();
    plot_error(&json, &out, &["--font", json_arg], &["not a TrueType"]);
    plot_error(
        &json,
        &out,
        &["--font", "/no/such/font.ttf"],
        &["cannot read the font", "/no/such/font.ttf"],
    );
}
