//! The codec in a real browser: web-demo is built (web-demo/build.sh), then driven in Debian's
//! headless Chromium by web-demo/test/browser-test.mjs, and everything the pages report is
//! checked against the native codec here:
//! - the self-test page decodes all 18 conformance vectors to their MD5 lists, which are also
//!   the native decoder's;
//! - the rebase preview, on real footage, encodes and rebases byte for byte as codec-core does
//!   natively, and each rebased frame decodes to what rebase reconstructed;
//! - a file cut short and a frame cut short end the self-test with an error that names
//!   where, keeping the lines of the frames before it; a dropped frame shows nothing;
//! - the player, given the footage through its file picker, plays it and its screenshot is
//!   not blank; the state its inspector saves after the last frame is byte for byte the
//!   native decoder's.
//!
//! Needs Chromium, Node.js, wasm-bindgen-cli and web-demo's npm packages:
//! scripts/setup-web.sh installs them (scripts/test.sh runs it). Without them this test fails
//! and says so; it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use codec_core::encoder::EncodeParams;
use codec_core::{DecoderState, FrameContext};
use flick_tests::{
    Source, all_vectors, decode_file, decode_from, make_y4m, md5_hex, md5_list_path,
    read_ivf_frames, read_md5_list, require_tools, run_tool, vpxenc, write_ivf,
};
use serde_json::Value;

/// The rebase preview's chunk: frames AT.. of the footage, LENGTH of them.
const AT: usize = 12;
const LENGTH: usize = 6;
const QUANTIZER: u8 = 32;
/// Speed 1 searches split MVs down to 4x4 and B_PRED in interframes: on this chunk the five
/// interframes hold 401 SPLITMV and 5 B_PRED macroblocks (counted once; speed 4 has no
/// SPLITMV), so rebase meets every kind of decision.
const SPEED: u8 = 1;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

fn require_browser_tools(root: &Path) {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let checks = [
        (Path::new(&chromium).exists(), "Chromium"),
        (
            Command::new("node").arg("--version").output().is_ok(),
            "Node.js",
        ),
        (
            root.join("web-demo/node_modules/playwright-core").is_dir(),
            "web-demo's npm packages",
        ),
    ];
    let missing: Vec<&str> = checks
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, what)| *what)
        .collect();
    assert!(
        missing.is_empty(),
        "missing {}: run scripts/setup-web.sh (scripts/test.sh does)",
        missing.join(", ")
    );
}

#[test]
fn the_browser_decodes_encodes_and_rebases_exactly_as_native() {
    require_tools();
    let root = workspace_root();
    let build = run_tool(&mut Command::new(root.join("web-demo/build.sh")));
    let build = String::from_utf8_lossy(&build.stdout);
    println!("{}", build.lines().last().unwrap_or_default());
    require_browser_tools(&root);

    // Real footage for the rebase preview and the player.
    let dir = tempfile::tempdir().unwrap();
    let y4m = dir.path().join("footage.y4m");
    let footage = dir.path().join("footage.ivf");
    make_y4m(Source::Clip, 320, 180, 24, &y4m);
    vpxenc(
        &y4m,
        &footage,
        &["--good", "--cpu-used=4", "--end-usage=q", "--cq-level=20"],
    );

    // Bad input: the file cut in the middle of its last frame, and frame 5 cut to 10 bytes.
    let first = &all_vectors()[0];
    let whole = std::fs::read(first).unwrap();
    let cut_file = dir.path().join("cut-file.ivf");
    std::fs::write(&cut_file, &whole[..whole.len() - 7]).unwrap();
    let mut frames = read_ivf_frames(first);
    frames[5].truncate(10);
    let cut_frame = dir.path().join("cut-frame.ivf");
    write_ivf(&cut_frame, 176, 144, &frames);
    // A dropped (zero-length) frame, as encoders write when they skip one, at index 3.
    let mut frames = read_ivf_frames(first);
    frames.insert(3, Vec::new());
    let dropped = dir.path().join("dropped.ivf");
    write_ivf(&dropped, 176, 144, &frames);

    let out = dir.path().join("browser");
    let vectors = all_vectors();
    assert_eq!(vectors.len(), 18);
    let mut node = Command::new("node");
    node.arg(root.join("web-demo/test/browser-test.mjs"))
        .arg("--dist")
        .arg(root.join("web-demo/dist"))
        .arg("--out")
        .arg(&out);
    for vector in vectors.iter().chain([&cut_file, &cut_frame, &dropped]) {
        node.arg("--selftest").arg(vector);
    }
    node.arg("--rebase")
        .arg(&footage)
        .args(["--at", &AT.to_string(), "--length", &LENGTH.to_string()])
        .args(["--q", &QUANTIZER.to_string(), "--speed", &SPEED.to_string()])
        .arg("--screenshot")
        .arg(&footage);
    let output = run_tool(&mut node);
    print!("{}", String::from_utf8_lossy(&output.stdout));
    let results: Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["errors"], Value::Array(vec![]), "page errors");
    println!("browser: {}", results["userAgent"]);

    check_vectors(&results, &vectors);
    check_bad_input(&results, first);
    check_rebase(&results, &footage);
    check_player(&results, &out, &footage);
}

fn lines_of(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list of lines: {value}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

/// Every vector's MD5 lines from the browser equal its .md5 list and the native decoder's.
fn check_vectors(results: &Value, vectors: &[PathBuf]) {
    let (mut browser_ms, mut native_ms, mut frames) = (0.0, 0.0, 0);
    for vector in vectors {
        let file = vector.file_name().unwrap().to_str().unwrap();
        let report = &results["selftest"][file];
        assert_eq!(report["title"], "selftest:done", "{file}");
        let browser = lines_of(&report["lines"]);
        let expected = read_md5_list(&md5_list_path(vector));
        let started = Instant::now();
        let native = decode_file(vector).expect("native decode").lines;
        native_ms += started.elapsed().as_secs_f64() * 1e3;
        assert_eq!(native, expected, "{file}: native decoder");
        assert_eq!(browser, expected, "{file}: browser decoder");
        browser_ms += report["decodeMs"].as_f64().unwrap();
        frames += report["frames"].as_u64().unwrap();
    }
    println!(
        "18 vectors, {frames} frames: browser {browser_ms:.1} ms, native (this test's build) \
         {native_ms:.1} ms; scripts/bench-browser.sh measures speed properly"
    );
}

/// Bad input ends the self-test with an error naming the frame, after the good frames' lines.
fn check_bad_input(results: &Value, original: &Path) {
    let expected = read_md5_list(&md5_list_path(original));
    let name = |line: &str| line.replace("vp80-00-comprehensive-001", "NAME");
    for (file, kept, says) in [
        (
            "cut-file.ivf",
            expected.len() - 1,
            "selftest:error:IVF frame 28 at byte",
        ),
        ("cut-frame.ivf", 5, "selftest:error:frame 5: "),
    ] {
        let report = &results["selftest"][file];
        let title = report["title"].as_str().unwrap();
        assert!(title.starts_with(says), "{file}: {title}");
        let stem = file.trim_end_matches(".ivf");
        let lines: Vec<String> = lines_of(&report["lines"])
            .iter()
            .map(|l| l.replace(stem, "NAME"))
            .collect();
        let wanted: Vec<String> = expected[..kept].iter().map(|l| name(l)).collect();
        assert_eq!(lines, wanted, "{file}: the frames before the error");
        println!("{file}: {title}");
    }

    // The dropped frame shows nothing and changes nothing: the lines after it are the
    // original's, numbered one further on.
    let report = &results["selftest"]["dropped.ivf"];
    assert_eq!(report["title"], "selftest:done");
    let wanted: Vec<String> = expected
        .iter()
        .enumerate()
        .map(|(k, line)| {
            let (digest, name) = line.split_once("  ").unwrap();
            let number = if k < 3 { k + 1 } else { k + 2 };
            let size = name.rsplit('-').nth(1).unwrap();
            format!("{digest}  dropped-{size}-{number:04}.i420")
        })
        .collect();
    assert_eq!(lines_of(&report["lines"]), wanted, "dropped.ivf");
}

/// The rebase preview's encoded and rebased frames are byte-identical to codec-core's, each
/// rebased frame decoded in the browser as rebase said, and the state it rebased onto has
/// the native state's content hash.
fn check_rebase(results: &Value, footage: &Path) {
    let report = &results["rebase"];
    assert_eq!(report["title"], "rebasetest:done", "{report}");
    let browser = lines_of(&report["lines"]);

    let frames = read_ivf_frames(footage);
    let decoded = decode_from("footage", &frames, 0, &DecoderState::new()).unwrap();
    let target = decoded.states[AT - 1].clone();
    let sources: Vec<_> = decoded
        .pictures
        .iter()
        .filter(|(index, _)| *index >= AT)
        .take(LENGTH)
        .collect();
    assert_eq!(sources.len(), LENGTH);

    let mut expected = Vec::new();
    let mut made = DecoderState::new();
    let mut onto = target;
    for (k, (index, source)) in sources.into_iter().enumerate() {
        let params = EncodeParams {
            quantizer: QUANTIZER,
            speed: SPEED,
            keyframe: k == 0,
            ..EncodeParams::default()
        };
        let made_from = FrameContext::of(&made);
        let encoded = codec_core::encode(&made, source, &params).unwrap();
        let rebased = codec_core::rebase(&onto, source, &encoded.data, &made_from).unwrap();
        let (_, shown) = codec_core::decode(&onto, &rebased.data).unwrap();
        let verified = shown.as_deref() == Some(&*rebased.picture);
        expected.push(format!("encode {index} {}", md5_hex(&encoded.data)));
        expected.push(format!("rebase {index} {}", md5_hex(&rebased.data)));
        expected.push(format!("verified {index} {verified}"));
        made = encoded.state;
        onto = rebased.state;
    }
    let target_hash: String = decoded.states[AT - 1]
        .content_hash()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected.push(format!("target {} {target_hash}", AT - 1));
    let browser: Vec<String> = browser
        .into_iter()
        .filter(|l| !l.starts_with("psnr "))
        .collect();
    assert_eq!(browser, expected, "browser encode/rebase against native");
    assert!(expected.iter().all(|l| !l.ends_with(" false")));
    println!("rebase preview: {}", report["summary"]);
}

/// The player reached the last frame and its screenshot shows a picture, not a blank canvas.
fn check_player(results: &Value, out: &Path, footage: &Path) {
    let saved = std::fs::read(out.join("player.state")).unwrap();
    let native = decode_file(footage).unwrap();
    assert!(
        saved == native.states.last().unwrap().to_bytes(),
        "the state the page saved after the last frame differs from the native decoder's"
    );

    let report = &results["screenshot"];
    assert_eq!(report["position"], "frame 24 / 24", "{report}");
    let file = std::fs::File::open(out.join("player.png")).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let luma: Vec<f64> = pixels
        .iter()
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let mean = luma.iter().sum::<f64>() / luma.len() as f64;
    let deviation =
        (luma.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / luma.len() as f64).sqrt();
    let mut colours: Vec<&[u8]> = pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    println!(
        "player screenshot: {}x{}, mean luma {mean:.1}, deviation {deviation:.1}, {} colours; {}",
        info.width,
        info.height,
        colours.len(),
        report["speed"]
    );
    assert!(info.width >= 320 && info.height >= 180);
    assert!(
        deviation > 10.0 && colours.len() > 500,
        "the player's screenshot looks blank"
    );
}
