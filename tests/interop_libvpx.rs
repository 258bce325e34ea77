//! Interop with libvpx: streams made by `vpxenc` from synthetic and real sources, decoded by
//! codec-core and by `vpxdec`, must give the same MD5 for every shown frame.
//!
//! Needs ffmpeg, vpxenc and vpxdec on PATH (`bash .ci/run` installs them). A missing tool fails
//! the test: skipping would let a broken decoder pass.

use std::path::Path;

use flick_tests::{
    Source, all_vectors, decode_file, first_difference, make_y4m, md5_list_path, raw_tag,
    read_ivf_frames, read_md5_list, require_tools, stream_name, vpxdec_md5_lines, vpxenc,
};

/// What a case's stream must contain for the case to test what it claims to.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Nothing,
    /// At least one frame with show_frame = 0 (an altref).
    HiddenFrames,
    /// At least this many keyframes.
    Keyframes(usize),
    /// Keyframes of more than one size.
    SizeChange,
    /// Every frame has this many token partitions.
    Partitions(usize),
    /// Every frame's base quantizer index lies in this range.
    Quantizers(u8, u8),
    /// Every frame carries this bitstream version (vpxenc's `--profile`).
    Version(u8),
}

struct Case {
    name: &'static str,
    source: Source,
    width: u32,
    height: u32,
    frames: u32,
    args: &'static [&'static str],
    expect: Expect,
}

/// Fast encoder settings, used unless a case names its own deadline.
const GOOD: &[&str] = &["--good", "--cpu-used=4", "--passes=1"];

impl Case {
    fn run(&self) {
        require_tools();
        let dir = tempfile::tempdir().expect("temp dir");
        let y4m = dir.path().join(format!("{}.y4m", self.name));
        let ivf = dir.path().join(format!("{}.ivf", self.name));
        make_y4m(self.source, self.width, self.height, self.frames, &y4m);
        let deadline_given = self
            .args
            .iter()
            .any(|a| matches!(*a, "--good" | "--rt" | "--best"));
        let mut args: Vec<&str> = if deadline_given {
            Vec::new()
        } else {
            GOOD.to_vec()
        };
        args.extend_from_slice(self.args);
        vpxenc(&y4m, &ivf, &args);

        let expected = vpxdec_md5_lines(&ivf, self.name);
        assert!(!expected.is_empty(), "{}: vpxdec shows no frame", self.name);
        let produced = match decode_file(&ivf) {
            Ok(decoded) => decoded.lines,
            Err(failure) => panic!(
                "{} (vpxenc {}): decode error at frame {}: {}; {}",
                self.name,
                args.join(" "),
                failure.index,
                failure.error,
                first_difference(&expected, &failure.before.lines)
                    .unwrap_or_else(|| "the shown frames before it match vpxdec".to_owned())
            ),
        };
        if let Some(difference) = first_difference(&expected, &produced) {
            panic!(
                "{} (vpxenc {}): differs from vpxdec: {difference}",
                self.name,
                args.join(" ")
            );
        }
        self.check_coverage(&ivf);
    }

    /// Checks that vpxenc produced the feature the case is about, so that a passing case
    /// means something.
    fn check_coverage(&self, ivf: &Path) {
        let frames = read_ivf_frames(ivf);
        let tags: Vec<_> = frames.iter().filter_map(|f| raw_tag(f)).collect();
        match self.expect {
            Expect::Nothing => {}
            Expect::HiddenFrames => {
                let hidden = tags.iter().filter(|t| !t.show_frame).count();
                assert!(hidden > 0, "{}: vpxenc made no hidden frame", self.name);
                println!("{}: {hidden} hidden frames of {}", self.name, tags.len());
            }
            Expect::Keyframes(min) => {
                let keys = tags.iter().filter(|t| t.key_frame).count();
                assert!(keys >= min, "{}: {keys} keyframes, wanted {min}", self.name);
            }
            Expect::SizeChange => {
                let mut sizes: Vec<(u16, u16)> = tags.iter().filter_map(|t| t.size).collect();
                sizes.dedup();
                println!("{}: keyframe sizes in order: {sizes:?}", self.name);
                assert!(
                    sizes.len() > 1,
                    "{}: vpxenc did not change the frame size (sizes {sizes:?})",
                    self.name
                );
            }
            Expect::Partitions(count) => {
                for (index, header) in headers(&frames, self.name).iter().enumerate() {
                    assert_eq!(
                        header.partition_count, count,
                        "{}: frame {index}: partitions",
                        self.name
                    );
                }
            }
            Expect::Version(version) => {
                for (index, tag) in tags.iter().enumerate() {
                    assert_eq!(
                        tag.version, version,
                        "{}: frame {index}: version",
                        self.name
                    );
                }
            }
            Expect::Quantizers(low, high) => {
                for (index, header) in headers(&frames, self.name).iter().enumerate() {
                    let q = header.quant.y_ac;
                    assert!(
                        (low..=high).contains(&q),
                        "{}: frame {index}: quantizer index {q} outside {low}..={high}",
                        self.name
                    );
                }
            }
        }
    }
}

fn headers(frames: &[Vec<u8>], name: &str) -> Vec<codec_core::FrameHeader> {
    frames
        .iter()
        .enumerate()
        .map(|(index, frame)| {
            codec_core::header::inspect(frame)
                .unwrap_or_else(|e| panic!("{name}: frame {index}: header: {e}"))
        })
        .collect()
}

/// The harness itself: vpxdec's per-frame MD5 lines, as the tests collect them, reproduce the
/// conformance vectors' lists exactly (names, sizes, numbering across hidden frames).
#[test]
fn vpxdec_lines_reproduce_the_conformance_lists() {
    require_tools();
    for path in all_vectors() {
        let lines = vpxdec_md5_lines(&path, &stream_name(&path));
        let expected = read_md5_list(&md5_list_path(&path));
        if let Some(difference) = first_difference(&expected, &lines) {
            panic!("{}: vpxdec: {difference}", path.display());
        }
    }
}

const TESTSRC: Source = Source::Synthetic("testsrc2");
const MANDELBROT: Source = Source::Synthetic("mandelbrot");
const BARS: Source = Source::Synthetic("smptebars");
const CLIP: Source = Source::Clip;

macro_rules! cases {
    ($($name:ident: $source:expr, $w:expr, $h:expr, $frames:expr, $args:expr, $expect:expr;)*) => {
        $(
            #[test]
            fn $name() {
                Case {
                    name: stringify!($name),
                    source: $source,
                    width: $w,
                    height: $h,
                    frames: $frames,
                    args: $args,
                    expect: $expect,
                }
                .run();
            }
        )*
    };
}

cases! {
    odd_size_175x143: TESTSRC, 175, 143, 30, &["--target-bitrate=400"], Expect::Nothing;
    tiny_33x17_realtime: TESTSRC, 33, 17, 30, &["--rt", "--cpu-used=8"], Expect::Nothing;
    tiny_2x2: TESTSRC, 2, 2, 20, &[], Expect::Nothing;
    square_64x64: MANDELBROT, 64, 64, 30, &["--target-bitrate=200"], Expect::Nothing;
    best_deadline_64x64: MANDELBROT, 64, 64, 12, &["--best", "--passes=1"], Expect::Nothing;
    realtime_bars_175x143: BARS, 175, 143, 30, &["--rt", "--cpu-used=4"], Expect::Nothing;
    slow_search_640x360: CLIP, 640, 360, 12, &["--good", "--cpu-used=0", "--passes=1"], Expect::Nothing;
    token_parts_1: BARS, 320, 240, 20, &["--token-parts=1"], Expect::Partitions(2);
    token_parts_2: TESTSRC, 320, 240, 20, &["--token-parts=2"], Expect::Partitions(4);
    token_parts_3: CLIP, 320, 180, 20, &["--token-parts=3"], Expect::Partitions(8);
    error_resilient: CLIP, 320, 180, 30, &["--error-resilient=1"], Expect::Nothing;
    altref_hidden_frames: CLIP, 320, 180, 60,
        &["--good", "--cpu-used=4", "--passes=2", "--auto-alt-ref=1", "--lag-in-frames=16"],
        Expect::HiddenFrames;
    sharpness_3: TESTSRC, 175, 143, 20, &["--sharpness=3"], Expect::Nothing;
    sharpness_7: CLIP, 320, 180, 20, &["--sharpness=7"], Expect::Nothing;
    noise_sensitivity_3: CLIP, 320, 180, 20, &["--noise-sensitivity=3"], Expect::Nothing;
    static_threshold_1000: TESTSRC, 320, 240, 20, &["--static-thresh=1000"], Expect::Nothing;
    keyframe_every_5: CLIP, 320, 180, 20, &["--kf-max-dist=5"], Expect::Keyframes(4);
    spatial_resize: CLIP, 320, 180, 40,
        &["--end-usage=cbr", "--target-bitrate=20", "--resize-allowed=1", "--resize-up=60",
          "--resize-down=30", "--kf-max-dist=10", "--buf-sz=500", "--buf-initial-sz=100",
          "--buf-optimal-sz=200"],
        Expect::SizeChange;
    low_quantizer: CLIP, 320, 180, 15, &["--min-q=0", "--max-q=4"], Expect::Quantizers(0, 8);
    high_quantizer: CLIP, 320, 180, 30, &["--min-q=60", "--max-q=63"], Expect::Quantizers(100, 127);
    constrained_quality: CLIP, 320, 180, 30,
        &["--end-usage=cq", "--cq-level=30", "--target-bitrate=600"], Expect::Nothing;
    constant_quality_small: TESTSRC, 64, 64, 30, &["--end-usage=q", "--cq-level=10"], Expect::Nothing;
    version_1_bilinear_simple_filter: CLIP, 320, 180, 20, &["--profile=1"], Expect::Version(1);
    version_2_bilinear: TESTSRC, 175, 143, 20, &["--profile=2"], Expect::Version(2);
    version_3_full_pixel_chroma: CLIP, 320, 180, 20, &["--profile=3"], Expect::Version(3);
    clip_720p: CLIP, 1280, 720, 5, &["--good", "--cpu-used=8", "--passes=1"], Expect::Nothing;
}
