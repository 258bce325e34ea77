//! Helpers shared by flick's cross-crate tests (`tests/*.rs` here) and by the `flick` CLI tests
//! in `orchestrator/tests/`: where the test data is, MD5 lines in vpxdec's format, decoding a
//! whole stream with codec-core, and running ffmpeg, vpxenc and vpxdec.
//!
//! Everything here panics with a message on failure: it is test code.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use codec_core::container::ivf::parse_ivf;
use codec_core::{DecodeError, DecoderState, Picture};
use md5::{Digest, Md5};

/// The VP8 conformance vectors (`vp80-00-comprehensive-NNN.ivf` and their `.ivf.md5` lists).
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/vp8"
    ))
}

/// The real clip the interop tests and scripts encode from.
pub fn clip_path() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/clips/bigbuckbunny.mp4"
    ))
}

/// A conformance vector by number, e.g. `vector(18)` for vp80-00-comprehensive-018.ivf.
pub fn vector(number: u32) -> PathBuf {
    vectors_dir().join(format!("vp80-00-comprehensive-{number:03}.ivf"))
}

/// All 18 conformance vectors, sorted; panics if any is missing.
pub fn all_vectors() -> Vec<PathBuf> {
    let vectors: Vec<PathBuf> = (1..=18).map(vector).collect();
    let missing: Vec<String> = vectors
        .iter()
        .flat_map(|v| [v.clone(), md5_list_path(v)])
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "conformance test data missing (expected in {}): {}",
        vectors_dir().display(),
        missing.join(", ")
    );
    vectors
}

/// `x.ivf` -> `x.ivf.md5`.
pub fn md5_list_path(ivf: &Path) -> PathBuf {
    let mut name = ivf.as_os_str().to_owned();
    name.push(".md5");
    PathBuf::from(name)
}

/// The lines of an `.md5` list, as written (`<md5>  <name>-<W>x<H>-<NNNN>.i420`).
pub fn read_md5_list(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The file stem that names frames in MD5 lines.
pub fn stream_name(path: &Path) -> String {
    path.file_stem()
        .and_then(OsStr::to_str)
        .expect("stream path has a UTF-8 file stem")
        .to_owned()
}

/// Lowercase hex MD5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The MD5 line vpxdec prints (`--i420 --md5 -o <name>-%wx%h-%4.i420`) for the picture that
/// input frame `index` (0-based) shows: the number is `index + 1`, so hidden frames leave gaps.
pub fn md5_line(name: &str, index: usize, picture: &Picture) -> String {
    format!(
        "{}  {}",
        md5_hex(&picture.to_i420()),
        picture.i420_file_name(name, index)
    )
}

/// The frame index an MD5 line names (its `NNNN`, minus one).
pub fn line_frame_index(line: &str) -> usize {
    let number = line
        .strip_suffix(".i420")
        .and_then(|l| l.rsplit('-').next())
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("not an MD5 line: {line:?}"));
    number - 1
}

/// The frames of an IVF file, read with codec-core's container reader.
pub fn read_ivf_frames(path: &Path) -> Vec<Vec<u8>> {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (_, frames) = parse_ivf(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    frames
        .map(|f| {
            f.unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .data
                .to_vec()
        })
        .collect()
}

/// What decoding frames `first..` of a stream produced.
#[derive(Debug)]
pub struct Decoded {
    /// One MD5 line per shown frame, numbered as vpxdec numbers them.
    pub lines: Vec<String>,
    /// The state after every frame decoded: `states[i]` follows frame `first + i`.
    pub states: Vec<DecoderState>,
    /// The pictures shown, with the index of the frame that showed each.
    pub pictures: Vec<(usize, Arc<Picture>)>,
}

/// A decode that failed at frame `index`, with what was decoded before it.
#[derive(Debug)]
pub struct DecodeFailure {
    pub index: usize,
    pub error: DecodeError,
    pub before: Decoded,
}

/// Decodes `frames[first..]` starting from `state` with `codec_core::decode`.
pub fn decode_from(
    name: &str,
    frames: &[Vec<u8>],
    first: usize,
    state: &DecoderState,
) -> Result<Decoded, Box<DecodeFailure>> {
    let mut decoded = Decoded {
        lines: Vec::new(),
        states: Vec::new(),
        pictures: Vec::new(),
    };
    let mut state = state.clone();
    for (index, frame) in frames.iter().enumerate().skip(first) {
        match codec_core::decode(&state, frame) {
            Ok((next, picture)) => {
                if let Some(picture) = picture {
                    decoded.lines.push(md5_line(name, index, &picture));
                    decoded.pictures.push((index, picture));
                }
                decoded.states.push(next.clone());
                state = next;
            }
            Err(error) => {
                return Err(Box::new(DecodeFailure {
                    index,
                    error,
                    before: decoded,
                }));
            }
        }
    }
    Ok(decoded)
}

/// Decodes a whole IVF file from an empty state.
pub fn decode_file(path: &Path) -> Result<Decoded, Box<DecodeFailure>> {
    decode_from(
        &stream_name(path),
        &read_ivf_frames(path),
        0,
        &DecoderState::new(),
    )
}

/// `None` when `actual` equals `expected` line for line, else what differs first.
pub fn first_difference(expected: &[String], actual: &[String]) -> Option<String> {
    for (k, (want, got)) in expected.iter().zip(actual).enumerate() {
        if want != got {
            return Some(format!(
                "shown frame #{} differs (input frame {}): expected `{want}`, got `{got}`",
                k + 1,
                line_frame_index(want)
            ));
        }
    }
    (expected.len() != actual.len()).then(|| {
        format!(
            "{} shown frames expected, {} produced",
            expected.len(),
            actual.len()
        )
    })
}

/// The frame tag's key/show bits and a keyframe's declared size, read straight from the bytes
/// (RFC 6386 §9.1) so that the tests can check what an encoder produced without trusting the
/// decoder under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawTag {
    pub key_frame: bool,
    /// The 3-bit version field (0 to 3 in valid streams).
    pub version: u8,
    pub show_frame: bool,
    /// Keyframes: (width, height) without the scaling bits.
    pub size: Option<(u16, u16)>,
}

pub fn raw_tag(frame: &[u8]) -> Option<RawTag> {
    let first = *frame.first()?;
    let key_frame = first & 1 == 0;
    let size = if key_frame {
        let b = frame.get(6..10)?;
        Some((
            u16::from_le_bytes([b[0], b[1]]) & 0x3fff,
            u16::from_le_bytes([b[2], b[3]]) & 0x3fff,
        ))
    } else {
        None
    };
    Some(RawTag {
        key_frame,
        version: (first >> 1) & 7,
        show_frame: first & 0x10 != 0,
        size,
    })
}

/// The external tools the interop tests need; panics (failing the test, never skipping it)
/// when one is missing.
pub fn require_tools() {
    let missing: Vec<&str> = [
        ("ffmpeg", "-version"),
        ("vpxenc", "--help"),
        ("vpxdec", "--help"),
    ]
    .into_iter()
    .filter(|(tool, arg)| Command::new(tool).arg(arg).output().is_err())
    .map(|(tool, _)| tool)
    .collect();
    assert!(
        missing.is_empty(),
        "missing {}: run `bash .ci/run` (it installs them) or `apt-get install vpx-tools ffmpeg`",
        missing.join(", ")
    );
}

/// Runs `command`, panicking with its stderr if it cannot start or fails.
pub fn run_tool(command: &mut Command) -> Output {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("cannot run {command:?}: {e} (run `bash .ci/run` to install the tools)")
    });
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Where a raw Y4M source comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// An ffmpeg lavfi generator (`testsrc2`, `mandelbrot`, `smptebars`), cropped exactly to
    /// the size (lavfi rounds odd sizes).
    Synthetic(&'static str),
    /// The first frames of the real clip, scaled.
    Clip,
}

/// Writes `frames` frames of `source` at `width` x `height` as 4:2:0 Y4M to `out`.
pub fn make_y4m(source: Source, width: u32, height: u32, frames: u32, out: &Path) {
    let mut ffmpeg = Command::new("ffmpeg");
    ffmpeg.args(["-hide_banner", "-loglevel", "error", "-nostdin"]);
    match source {
        Source::Synthetic(generator) => {
            let (w, h) = (width.next_multiple_of(2), height.next_multiple_of(2));
            ffmpeg
                .args(["-f", "lavfi", "-i"])
                .arg(format!("{generator}=size={w}x{h}:rate=30"))
                .arg("-vf")
                .arg(format!("crop={width}:{height}:0:0:exact=1"));
        }
        Source::Clip => {
            ffmpeg
                .arg("-i")
                .arg(clip_path())
                .arg("-vf")
                .arg(format!("scale={width}:{height}"));
        }
    }
    ffmpeg
        .arg("-frames:v")
        .arg(frames.to_string())
        .args(["-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-y"])
        .arg(out);
    run_tool(&mut ffmpeg);
}

/// Encodes `y4m` to the IVF file `out` with vpxenc (VP8) and `args`.
pub fn vpxenc(y4m: &Path, out: &Path, args: &[&str]) {
    run_tool(
        Command::new("vpxenc")
            .args([
                "--codec=vp8",
                "--ivf",
                "--quiet",
                "--disable-warning-prompt",
            ])
            .args(args)
            .arg("-o")
            .arg(out)
            .arg(y4m),
    );
}

/// vpxdec's MD5 line for every shown frame of `ivf`, frames named `name` (vpxdec writes no
/// file in this mode: with `--md5` and a pattern it only prints).
pub fn vpxdec_md5_lines(ivf: &Path, name: &str) -> Vec<String> {
    let output = run_tool(
        Command::new("vpxdec")
            .args(["--codec=vp8", "--i420", "--md5", "-o"])
            .arg(format!("{name}-%wx%h-%4.i420"))
            .arg(ivf),
    );
    String::from_utf8(output.stdout)
        .expect("vpxdec prints ASCII")
        .lines()
        .map(str::to_owned)
        .collect()
}

// ---- Helpers for the encoder's tests (tests/interop_encode.rs, orchestrator/tests/cli_encode.rs).

/// The header and pictures of a Y4M file, read with codec-core's container reader.
pub fn read_y4m(path: &Path) -> (codec_core::container::Y4mHeader, Vec<Picture>) {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (header, frames) = codec_core::container::parse_y4m(&bytes)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let pictures = frames
        .map(|f| {
            let f = f.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Picture::from_i420(header.width, header.height, f.y, f.u, f.v)
        })
        .collect();
    (header, pictures)
}

/// Writes `pictures` as a Y4M file of `frame_rate` (their display size).
pub fn write_y4m(path: &Path, frame_rate: (u32, u32), pictures: &[&Picture]) {
    use codec_core::container::y4m::{Y4mHeader, write_y4m_frame, write_y4m_header};
    let first = pictures.first().expect("at least one picture");
    let mut out = Vec::new();
    write_y4m_header(
        &mut out,
        &Y4mHeader::new(first.display_width, first.display_height, frame_rate),
    );
    for picture in pictures {
        let i420 = picture.to_i420();
        let luma = picture.display_width * picture.display_height;
        let (cw, ch) = picture.chroma_display_size();
        let (y, chroma) = i420.split_at(luma);
        let (u, v) = chroma.split_at(cw * ch);
        write_y4m_frame(&mut out, y, u, v);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Writes `frames` as a VP8 IVF file (timestamps 0, 1, 2, ... in a 1/30 s timebase).
pub fn write_ivf(path: &Path, width: usize, height: usize, frames: &[Vec<u8>]) {
    use codec_core::container::ivf::{IvfHeader, VP8_FOURCC, write_ivf_frame, write_ivf_header};
    let mut out = Vec::new();
    write_ivf_header(
        &mut out,
        &IvfHeader {
            fourcc: VP8_FOURCC,
            width: u16::try_from(width).expect("width fits IVF"),
            height: u16::try_from(height).expect("height fits IVF"),
            timebase_denominator: 30,
            timebase_numerator: 1,
            frame_count: u32::try_from(frames.len()).expect("frame count fits IVF"),
        },
    );
    for (timestamp, frame) in frames.iter().enumerate() {
        write_ivf_frame(&mut out, timestamp as u64, frame);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// The MD5 part of an MD5 line.
pub fn line_md5(line: &str) -> &str {
    line.split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("not an MD5 line: {line:?}"))
}

/// The MD5 of every picture ffmpeg's own VP8 decoder (not libvpx) shows for `ivf`, its
/// pictures being `width` x `height`. Panics when ffmpeg says anything on stderr at
/// `-v error`: a valid stream decodes without a complaint.
pub fn ffmpeg_frame_md5s(ivf: &Path, width: usize, height: usize) -> Vec<String> {
    let output = run_tool(
        Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-nostdin",
                "-v",
                "error",
                "-c:v",
                "vp8",
                "-i",
            ])
            .arg(ivf)
            .args([
                "-fps_mode",
                "passthrough",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "yuv420p",
                "-",
            ]),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.trim().is_empty(),
        "ffmpeg complained while decoding {}:\n{stderr}",
        ivf.display()
    );
    let frame_len = width * height + 2 * width.div_ceil(2) * height.div_ceil(2);
    assert!(
        output.stdout.len().is_multiple_of(frame_len),
        "ffmpeg wrote {} bytes for {}, not a whole number of {width}x{height} frames",
        output.stdout.len(),
        ivf.display()
    );
    output.stdout.chunks(frame_len).map(md5_hex).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_index_of_md5_line() {
        let line = "83c78b5db579710f61f9354d5c51e8c8  vp80-00-comprehensive-001-176x144-0029.i420";
        assert_eq!(line_frame_index(line), 28);
    }

    #[test]
    fn first_difference_names_the_frame() {
        let a = vec![
            "x  s-2x2-0001.i420".to_owned(),
            "y  s-2x2-0002.i420".to_owned(),
        ];
        let b = vec![
            "x  s-2x2-0001.i420".to_owned(),
            "z  s-2x2-0002.i420".to_owned(),
        ];
        assert_eq!(first_difference(&a, &a), None);
        let diff = first_difference(&a, &b).unwrap();
        assert!(
            diff.contains("#2") && diff.contains("input frame 1"),
            "{diff}"
        );
        assert!(
            first_difference(&a, &a[..1])
                .unwrap()
                .contains("2 shown frames expected")
        );
    }

    #[test]
    fn raw_tag_of_a_keyframe() {
        // Keyframe, shown, then start code and 176x144 with scale bits set on the width.
        let frame = [0x10, 0, 0, 0x9d, 0x01, 0x2a, 176, 0x40, 144, 0];
        let tag = raw_tag(&frame).unwrap();
        assert!(tag.key_frame && tag.show_frame);
        assert_eq!(tag.size, Some((176, 144)));
        assert_eq!(raw_tag(&[0x01]).unwrap().size, None);
    }
}
