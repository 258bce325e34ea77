//! codec-core's SSIM and PSNR against ffmpeg's `ssim` and `psnr` filters on the same frames.
//!
//! Rate control aims at SSIM values that users check with ffmpeg, so the two must agree.
//! Needs ffmpeg on PATH (`bash .ci/run` installs it). A missing ffmpeg fails the test:
//! skipping would let a drifting metric pass.

use std::path::{Path, PathBuf};
use std::process::Command;

use codec_core::Picture;
use codec_core::container::y4m::parse_y4m;
use codec_core::metrics::{picture_samples, picture_sse, psnr, ssim};

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("flick-metrics-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ffmpeg(args: &[&str]) -> String {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-y"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run ffmpeg: {e}; run `bash .ci/run` (it installs ffmpeg) or `apt-get install ffmpeg`")
        });
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "ffmpeg {args:?} failed:\n{stderr}");
    stderr
}

fn read_pictures(path: &Path) -> Vec<Picture> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (header, frames) = parse_y4m(&data).unwrap();
    frames
        .map(|f| {
            let f = f.unwrap();
            Picture::from_i420(header.width, header.height, f.y, f.u, f.v)
        })
        .collect()
}

/// Values of `key:` on each line of an ffmpeg stats file.
fn stats_values(path: &Path, key: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|line| {
            let field = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {line:?}"));
            field.parse().unwrap()
        })
        .collect()
}

/// Makes `frames` frames of testsrc2 at `size` and a distorted copy with `filter`, and
/// compares our per-frame SSIM ("All") and PSNR ("psnr_avg") with ffmpeg's.
fn check_against_ffmpeg(name: &str, size: &str, filter: &str, frames: usize) {
    let scratch = Scratch::new(name);
    let path = |f: &str| scratch.0.join(f);
    let (reference, distorted) = (path("ref.y4m"), path("dist.y4m"));
    let source = format!("testsrc2=size=320x240:rate=25,scale={size}");
    let count = frames.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &source,
        "-frames:v",
        &count,
        "-pix_fmt",
        "yuv420p",
        reference.to_str().unwrap(),
    ]);
    ffmpeg(&[
        "-i",
        reference.to_str().unwrap(),
        "-vf",
        filter,
        "-pix_fmt",
        "yuv420p",
        distorted.to_str().unwrap(),
    ]);
    let (ssim_log, psnr_log) = (path("ssim.log"), path("psnr.log"));
    // ffmpeg's stats_file option takes a filter-graph string: keep the paths free of ':'.
    let graph = format!(
        "[0:v]split[a][b];[1:v]split[c][d];[a][c]ssim=stats_file={};[b][d]psnr=stats_file={}",
        ssim_log.display(),
        psnr_log.display()
    );
    ffmpeg(&[
        "-i",
        distorted.to_str().unwrap(),
        "-i",
        reference.to_str().unwrap(),
        "-lavfi",
        &graph,
        "-f",
        "null",
        "-",
    ]);

    let ours_ref = read_pictures(&reference);
    let ours_dist = read_pictures(&distorted);
    assert_eq!(ours_ref.len(), frames);
    assert_eq!(ours_dist.len(), frames);
    let ffmpeg_ssim = stats_values(&ssim_log, "All:");
    let ffmpeg_psnr = stats_values(&psnr_log, "psnr_avg:");
    assert_eq!(ffmpeg_ssim.len(), frames);
    for (i, (a, b)) in ours_ref.iter().zip(&ours_dist).enumerate() {
        let ours = ssim(a, b);
        // ffmpeg prints six decimals; its float sums add a little more noise.
        assert!(
            (ours - ffmpeg_ssim[i]).abs() < 1e-4,
            "{name} frame {i}: our SSIM {ours:.6}, ffmpeg's {:.6}",
            ffmpeg_ssim[i]
        );
        assert!(ours < 1.0, "{name} frame {i}: the distortion did nothing");
        let sse: u64 = picture_sse(a, b).iter().sum();
        let samples: u64 = picture_samples(a, b).iter().sum();
        let ours = psnr(sse, samples);
        // ffmpeg prints two decimals.
        assert!(
            (ours - ffmpeg_psnr[i]).abs() < 0.006,
            "{name} frame {i}: our PSNR {ours:.3}, ffmpeg's {:.2}",
            ffmpeg_psnr[i]
        );
    }
}

#[test]
fn ssim_and_psnr_match_ffmpeg_with_light_noise() {
    check_against_ffmpeg("noise", "320:240", "noise=alls=4:allf=t", 3);
}

#[test]
fn ssim_and_psnr_match_ffmpeg_on_blur_at_an_odd_size() {
    // Odd sizes check the rounded-up chroma planes and the partial 4x4 blocks at the edges.
    check_against_ffmpeg("blur", "321:181", "gblur=sigma=0.7,noise=alls=2:allf=t", 2);
}

#[test]
fn ssim_and_psnr_match_ffmpeg_after_rescaling() {
    // Lost detail, structured like a codec's, rather than independent noise.
    check_against_ffmpeg(
        "rescale",
        "352:288",
        "scale=176:144,scale=352:288:flags=bilinear",
        2,
    );
}
