//! `flick plot-timeline`: the pipeline's timeline as a PNG, drawn like the figures of the
//! ExCamera paper (Fouladi et al., NSDI 2017): one lane per worker, time across, one bar per
//! task attempt coloured by its kind, failed attempts hatched.
//!
//! The text is drawn with a TrueType/OpenType font read at run time (DejaVu Sans by default,
//! as Debian's fonts-dejavu-core installs it), so building needs no font library.

use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::atomic_write::write_atomically;
use crate::timeline::{TimelineRecord, read_timeline};

/// More lanes than this cannot be told apart in any picture; a larger worker id is taken for a
/// corrupt record rather than drawn.
pub const MAX_LANES: u32 = 4096;

/// Image sides, in pixels: below the minimum nothing legible fits, above the maximum the
/// picture (3 bytes a pixel, held in memory) would be hundreds of megabytes.
const MIN_SIDE_PX: u32 = 200;
const MAX_SIDE_PX: u32 = 8192;

/// The family name the loaded font is registered under.
pub(crate) const FONT_FAMILY: &str = "sans-serif";

/// Where common sans-serif fonts live: Debian/Ubuntu (fonts-dejavu-core, fonts-liberation),
/// Fedora, Arch, macOS.
const FONT_CANDIDATES: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// Task kinds in legend order, with their colours; any other kind is drawn in `OTHER_KIND`.
const KIND_COLOURS: [(&str, RGBColor); 3] = [
    ("encode_chunk", RGBColor(31, 119, 180)),
    ("encode_given_state", RGBColor(255, 127, 14)),
    ("rebase", RGBColor(44, 160, 44)),
];
const OTHER_KIND: RGBColor = RGBColor(127, 127, 127);
/// Outline and hatching of failed attempts.
const FAILED: RGBColor = RGBColor(180, 0, 0);

/// Fraction of a lane's height left empty above and below its bars.
const LANE_GAP: f64 = 0.15;
/// Pixels between the hatch lines of a failed attempt.
const HATCH_SPACING_PX: i32 = 6;
/// Layout constants, in pixels.
const MARGIN_PX: u32 = 12;
const Y_LABEL_AREA_PX: u32 = 100;
const X_LABEL_AREA_PX: u32 = 44;
const CAPTION_PX: u32 = 20;
const LABEL_PX: u32 = 14;
const LEGEND_PX: u32 = 14;
/// Lanes at least this many pixels high have their bars outlined.
const MIN_OUTLINED_LANE_PX: u32 = 8;
/// Vertical pixels one lane label needs before the next may be drawn.
const LANE_LABEL_PITCH_PX: u32 = 18;

#[derive(Args, Debug)]
#[command(
    after_help = "One lane per worker (worker 0 at the top), time in seconds across, one bar per \
                  task attempt from its start to its end, coloured by task kind; failed attempts \
                  are hatched and outlined in red.\n\n\
                  The text needs a font: DejaVu Sans (Debian: fonts-dejavu-core) or Liberation \
                  Sans where installed, or the file given with --font.\n\n\
                  The PNG is written as OUT.partial and renamed to OUT once complete."
)]
pub struct PlotTimelineArgs {
    /// The timeline: a JSON array of task records, as the pipeline writes it.
    pub input: PathBuf,

    /// Where to write the PNG.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,

    /// The title; by default the file name, then the number of tasks, workers and seconds.
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,

    /// Image width in pixels.
    #[arg(long, value_name = "PX", default_value_t = 1200,
          value_parser = clap::value_parser!(u32).range(MIN_SIDE_PX as i64..=MAX_SIDE_PX as i64))]
    pub width: u32,

    /// Image height in pixels; by default it grows with the number of workers.
    #[arg(long, value_name = "PX",
          value_parser = clap::value_parser!(u32).range(MIN_SIDE_PX as i64..=MAX_SIDE_PX as i64))]
    pub height: Option<u32>,

    /// A TrueType or OpenType font file for the text, instead of a system sans-serif font.
    #[arg(long, value_name = "FILE")]
    pub font: Option<PathBuf>,
}

pub fn run(args: &PlotTimelineArgs) -> Result<()> {
    let records = read_timeline(&args.input)?;
    check_records(&records).with_context(|| format!("{}", args.input.display()))?;
    load_font(args.font.as_deref())?;

    let lanes = lane_count(&records);
    let height = args.height.unwrap_or_else(|| default_height(lanes));
    let title = match &args.title {
        Some(title) => title.clone(),
        None => default_title(&args.input, &records),
    };
    let plot = render(&records, &title, args.width, height)?;
    let png = encode_png(&plot.rgb, args.width, height)?;
    write_atomically(&args.output, &png)
}

/// Rejects what cannot be drawn, naming the record (0-based, in file order).
fn check_records(records: &[TimelineRecord]) -> Result<()> {
    if records.is_empty() {
        bail!("no tasks in the timeline");
    }
    for (index, record) in records.iter().enumerate() {
        let what = || format!("record {index} ({} of chunk {})", record.kind, record.chunk);
        for (name, value) in [("start_s", record.start_s), ("end_s", record.end_s)] {
            if !value.is_finite() || value < 0.0 {
                bail!("{}: {name} is {value}, not a time >= 0 s", what());
            }
        }
        if record.end_s < record.start_s {
            bail!(
                "{}: ends at {} s, before it starts at {} s",
                what(),
                record.end_s,
                record.start_s
            );
        }
        if record.worker >= MAX_LANES {
            bail!(
                "{}: worker {} is beyond the {MAX_LANES} lanes a plot can draw",
                what(),
                record.worker
            );
        }
    }
    Ok(())
}

/// Registers the font the text is drawn with: `explicit`, or the first common sans-serif font
/// found on this system.
pub(crate) fn load_font(explicit: Option<&Path>) -> Result<()> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => find_font(&FONT_CANDIDATES)?,
    };
    let bytes =
        fs::read(&path).with_context(|| format!("cannot read the font {}", path.display()))?;
    // plotters keeps fonts for the whole process; one font, read once per run.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font(FONT_FAMILY, FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{} is not a TrueType or OpenType font", path.display()))
}

/// The first of `candidates` that is a file.
fn find_font(candidates: &[&str]) -> Result<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .ok_or_else(|| {
            anyhow!(
                "no font to draw the plot's text with (looked for {}): install \
                 fonts-dejavu-core or pass --font FILE",
                candidates.join(", ")
            )
        })
}

/// One lane per worker id from 0 to the largest, so idle workers show as empty lanes.
fn lane_count(records: &[TimelineRecord]) -> u32 {
    records.iter().map(|r| r.worker + 1).max().unwrap_or(1)
}

/// Lane `worker`'s bar, as (bottom, top) on the y axis, where lane `l` of `lanes` spans
/// `lanes - 1 - l ..= lanes - l`: worker 0 at the top, as in a list of workers.
fn lane_bar(worker: u32, lanes: u32) -> (f64, f64) {
    let bottom = f64::from(lanes - 1 - worker);
    (bottom + LANE_GAP, bottom + 1.0 - LANE_GAP)
}

/// The worker whose lane holds `y`.
fn worker_at(y: f64, lanes: u32) -> Option<u32> {
    let from_bottom = y.floor();
    (0.0..f64::from(lanes))
        .contains(&from_bottom)
        .then(|| lanes - 1 - from_bottom as u32)
}

/// Where lane labels go: lane centres, every lane while they fit at `LANE_LABEL_PITCH_PX`,
/// else every k-th lane from worker 0.
fn lane_label_points(lanes: u32, plot_height_px: u32) -> Vec<f64> {
    let fits = (plot_height_px / LANE_LABEL_PITCH_PX).max(1);
    let step = lanes.div_ceil(fits).max(1);
    (0..lanes)
        .step_by(step as usize)
        .map(|worker| f64::from(lanes - 1 - worker) + 0.5)
        .collect()
}

/// `value` of `range` on the pixels from `limit.0` (at `range.start`) to `limit.1`, the way
/// plotters maps its numeric axes (so that bars and their hatching agree to the pixel).
fn linear_px(value: f64, range: &Range<f64>, limit: (i32, i32)) -> i32 {
    let fraction = (value - range.start) / (range.end - range.start);
    let length = f64::from(limit.1 - limit.0);
    if !fraction.is_finite() {
        return limit.0;
    }
    let offset = if length >= 0.0 {
        (length * fraction + 1e-3).floor()
    } else {
        (length * fraction - 1e-3).ceil()
    };
    limit.0 + offset as i32
}

/// The y axis: `lanes` lanes one unit high (see `lane_bar`), labelled "worker N" at the
/// points `labelled`.
#[derive(Clone, Debug)]
struct LaneAxis {
    lanes: u32,
    labelled: Vec<f64>,
}

impl Ranged for LaneAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        linear_px(*value, &self.range(), limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.labelled.clone()
    }

    fn range(&self) -> Range<f64> {
        0.0..f64::from(self.lanes)
    }
}

impl ValueFormatter<f64> for LaneAxis {
    fn format_ext(&self, y: &f64) -> String {
        worker_at(*y, self.lanes).map_or_else(String::new, |worker| format!("worker {worker}"))
    }
}

/// The time axis: from 0 to the last end, plus room on the right for the legend
/// (`legend_fraction` of the plot's width) so that it covers no bar.
fn time_range(records: &[TimelineRecord], legend_fraction: f64) -> Range<f64> {
    let last_end = records.iter().map(|r| r.end_s).fold(0.0, f64::max);
    let span = if last_end > 0.0 { last_end } else { 1.0 };
    0.0..span / (1.0 - legend_fraction.clamp(0.0, 0.5))
}

/// The legend's share of a plot `plot_width_px` wide, for labels up to `longest_label` chars.
fn legend_fraction(longest_label: usize, plot_width_px: u32) -> f64 {
    // A swatch, padding, and about 0.6 em a character.
    let legend_px = 60.0 + 0.6 * f64::from(LEGEND_PX) * longest_label as f64;
    (legend_px / f64::from(plot_width_px.max(1))).min(0.5)
}

/// About 30 pixels a lane, within bounds.
fn default_height(lanes: u32) -> u32 {
    (140 + 30 * lanes).clamp(360, 2000)
}

fn default_title(input: &Path, records: &[TimelineRecord]) -> String {
    let name = input.file_name().map_or_else(
        || input.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let mut workers: Vec<u32> = records.iter().map(|r| r.worker).collect();
    workers.sort_unstable();
    workers.dedup();
    let last_end = records.iter().map(|r| r.end_s).fold(0.0, f64::max);
    format!(
        "{name}: {} tasks, {} workers, {last_end:.2} s",
        records.len(),
        workers.len()
    )
}

fn kind_colour(kind: &str) -> RGBColor {
    KIND_COLOURS
        .iter()
        .find(|(name, _)| *name == kind)
        .map_or(OTHER_KIND, |&(_, colour)| colour)
}

/// The kinds present, known ones first in their fixed order, then the others by name.
fn kinds_present(records: &[TimelineRecord]) -> Vec<&str> {
    let mut kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
    let rank = |kind: &str| {
        KIND_COLOURS
            .iter()
            .position(|(name, _)| *name == kind)
            .unwrap_or(KIND_COLOURS.len())
    };
    kinds.sort_unstable_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    kinds.dedup();
    kinds
}

/// `colour` moved `amount` (0..=1) of the way to white.
fn lighten(colour: RGBColor, amount: f64) -> RGBColor {
    let mix = |c: u8| (f64::from(c) + (255.0 - f64::from(c)) * amount).round() as u8;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
}

/// `/` diagonals `spacing` pixels apart across the pixel rectangle `(x0, y0)..=(x1, y1)`,
/// clipped to it.
fn hatch_segments(
    (x0, y0): (i32, i32),
    (x1, y1): (i32, i32),
    spacing: i32,
) -> Vec<((i32, i32), (i32, i32))> {
    // Each line is x + y = s; it enters at the left or bottom edge and leaves at the top or
    // right edge.
    (x0 + y0..=x1 + y1)
        .step_by(spacing.max(1) as usize)
        .filter_map(|s| {
            let start_x = x0.max(s - y1);
            let end_x = x1.min(s - y0);
            (start_x <= end_x).then_some(((start_x, s - start_x), (end_x, s - end_x)))
        })
        .collect()
}

/// A plot in memory.
struct Plot {
    /// Pixels, 3 bytes (RGB) each, rows from the top.
    rgb: Vec<u8>,
    /// The plotting area inside the axes, in pixels: x, then y from the top.
    #[cfg_attr(not(test), allow(dead_code))]
    area: (Range<i32>, Range<i32>),
    /// The axes' ranges: seconds, and lanes (see `lane_bar`).
    #[cfg_attr(not(test), allow(dead_code))]
    ranges: (Range<f64>, Range<f64>),
}

/// Draws the records (already checked) into a `width` x `height` picture.
fn render(records: &[TimelineRecord], title: &str, width: u32, height: u32) -> Result<Plot> {
    let lanes = lane_count(records);
    let kinds = kinds_present(records);
    let any_failed = records.iter().any(|r| !r.ok);
    let failed_label = "failed attempt";

    let plot_width = width.saturating_sub(2 * MARGIN_PX + Y_LABEL_AREA_PX);
    let plot_height = height.saturating_sub(2 * MARGIN_PX + X_LABEL_AREA_PX + 2 * CAPTION_PX);
    let longest = kinds
        .iter()
        .map(|k| k.len())
        .chain(any_failed.then_some(failed_label.len()))
        .max()
        .unwrap_or(0);
    let x_range = time_range(records, legend_fraction(longest, plot_width));
    let lane_axis = LaneAxis {
        lanes,
        labelled: lane_label_points(lanes, plot_height),
    };
    let y_range = lane_axis.range();
    // Outlines part back-to-back bars in a lane; on lanes a few pixels high they would be all
    // that shows.
    let outline_bars = plot_height / lanes >= MIN_OUTLINED_LANE_PX;

    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    let (area, ranges) = {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT_FAMILY, CAPTION_PX))
            .margin(MARGIN_PX)
            .x_label_area_size(X_LABEL_AREA_PX)
            .y_label_area_size(Y_LABEL_AREA_PX)
            .build_cartesian_2d(x_range.clone(), lane_axis)
            .map_err(drawing_error)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc("time (s)")
            .label_style((FONT_FAMILY, LABEL_PX))
            .axis_desc_style((FONT_FAMILY, LABEL_PX))
            .draw()
            .map_err(drawing_error)?;

        let bar = |r: &TimelineRecord| {
            let (bottom, top) = lane_bar(r.worker, lanes);
            [(r.start_s, top), (r.end_s, bottom)]
        };
        for &kind in &kinds {
            let colour = kind_colour(kind);
            let outline = RGBColor(colour.0 / 2, colour.1 / 2, colour.2 / 2);
            let done = || records.iter().filter(|r| r.kind == kind && r.ok);
            chart
                .draw_series(done().map(|r| Rectangle::new(bar(r), colour.filled())))
                .map_err(drawing_error)?
                .label(if kind.is_empty() { "(no kind)" } else { kind })
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled())
                });
            if outline_bars {
                chart
                    .draw_series(done().map(|r| Rectangle::new(bar(r), outline.stroke_width(1))))
                    .map_err(drawing_error)?;
            }
        }

        // Failed attempts: a pale fill of their kind's colour, red hatching, a red outline.
        let failed: Vec<&TimelineRecord> = records.iter().filter(|r| !r.ok).collect();
        chart
            .draw_series(
                failed
                    .iter()
                    .map(|r| Rectangle::new(bar(r), lighten(kind_colour(&r.kind), 0.6).filled())),
            )
            .map_err(drawing_error)?;
        for r in &failed {
            let [top_left, bottom_right] = bar(r);
            let (x0, y0) = chart.backend_coord(&top_left);
            let (x1, y1) = chart.backend_coord(&bottom_right);
            let segments = hatch_segments((x0, y0), (x1, y1), HATCH_SPACING_PX);
            for (a, b) in segments {
                root.draw(&PathElement::new(vec![a, b], FAILED.stroke_width(1)))
                    .map_err(drawing_error)?;
            }
        }
        let outlines = chart
            .draw_series(
                failed
                    .iter()
                    .map(|r| Rectangle::new(bar(r), FAILED.stroke_width(2))),
            )
            .map_err(drawing_error)?;
        if any_failed {
            outlines.label(failed_label).legend(|(x, y)| {
                Rectangle::new([(x, y - 6), (x + 14, y + 6)], FAILED.stroke_width(2))
            });
        }

        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT_FAMILY, LEGEND_PX))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(drawing_error)?;
        root.present().map_err(drawing_error)?;
        (chart.plotting_area().get_pixel_range(), (x_range, y_range))
    };
    Ok(Plot { rgb, area, ranges })
}

pub(crate) fn drawing_error<E: std::fmt::Display>(error: E) -> anyhow::Error {
    anyhow!("cannot draw the plot: {error}")
}

pub(crate) fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("cannot encode the PNG")?;
    writer
        .write_image_data(rgb)
        .context("cannot encode the PNG")?;
    writer.finish().context("cannot encode the PNG")?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, worker: u32, start_s: f64, end_s: f64, ok: bool) -> TimelineRecord {
        TimelineRecord {
            kind: kind.into(),
            chunk: 0,
            worker,
            start_s,
            end_s,
            bytes_in: 0,
            bytes_out: 0,
            attempt: 1,
            ok,
            cause: None,
            frames: 1,
            pixels: 64,
        }
    }

    #[test]
    fn time_maps_linearly_onto_pixels_either_way_round() {
        let range = 0.0..10.0;
        assert_eq!(linear_px(0.0, &range, (100, 300)), 100);
        assert_eq!(linear_px(5.0, &range, (100, 300)), 200);
        assert_eq!(linear_px(10.0, &range, (100, 300)), 300);
        assert_eq!(
            linear_px(2.5, &range, (300, 100)),
            250,
            "y: pixel rows grow downwards"
        );
        assert_eq!(
            linear_px(1.0, &(2.0..2.0), (0, 50)),
            0,
            "an empty range maps to its start"
        );
    }

    #[test]
    fn lanes_put_worker_0_on_top_and_never_overlap() {
        let lanes = 3;
        assert_eq!(lane_bar(0, lanes), (2.0 + LANE_GAP, 3.0 - LANE_GAP));
        assert_eq!(lane_bar(2, lanes), (LANE_GAP, 1.0 - LANE_GAP));
        for worker in 0..lanes - 1 {
            let (bottom, _) = lane_bar(worker, lanes);
            let (_, next_top) = lane_bar(worker + 1, lanes);
            assert!(next_top < bottom, "lane {worker} overlaps the next");
            let (b, t) = lane_bar(worker, lanes);
            assert_eq!(worker_at((b + t) / 2.0, lanes), Some(worker));
        }
        assert_eq!(worker_at(3.0, lanes), None);
        assert_eq!(worker_at(-0.5, lanes), None);
    }

    #[test]
    fn one_lane_per_worker_id_up_to_the_largest() {
        let records = [
            record("rebase", 0, 0.0, 1.0, true),
            record("rebase", 4, 0.0, 1.0, true),
        ];
        assert_eq!(lane_count(&records), 5);
    }

    #[test]
    fn lane_labels_thin_out_when_they_would_collide() {
        assert_eq!(lane_label_points(3, 400), vec![2.5, 1.5, 0.5]);
        let points = lane_label_points(4096, 1800);
        assert!(points.len() <= (1800 / LANE_LABEL_PITCH_PX) as usize);
        assert_eq!(points[0], 4095.5, "worker 0 is always labelled");
    }

    #[test]
    fn the_time_axis_leaves_the_legend_room_after_the_last_task() {
        let records = [record("rebase", 0, 1.0, 4.0, true)];
        assert_eq!(time_range(&records, 0.0), 0.0..4.0);
        assert_eq!(time_range(&records, 0.2), 0.0..5.0);
        assert_eq!(
            time_range(&records, 0.9),
            0.0..8.0,
            "the legend takes at most half"
        );
        let instant = [record("rebase", 0, 0.0, 0.0, true)];
        assert_eq!(time_range(&instant, 0.0), 0.0..1.0);
    }

    #[test]
    fn hatching_stays_inside_its_bar() {
        let (top_left, bottom_right) = ((10, 20), (40, 30));
        let segments = hatch_segments(top_left, bottom_right, 6);
        assert_eq!(segments.len(), (30 + 10) / 6 + 1);
        for (a, b) in segments {
            for (x, y) in [a, b] {
                assert!(
                    (10..=40).contains(&x) && (20..=30).contains(&y),
                    "{a:?} {b:?}"
                );
            }
            assert_eq!(a.0 + a.1, b.0 + b.1, "a / diagonal");
        }
        assert_eq!(hatch_segments((5, 5), (5, 5), 6), vec![((5, 5), (5, 5))]);
    }

    #[test]
    fn bad_records_are_named_by_index() {
        let good = record("rebase", 0, 0.0, 1.0, true);
        let message =
            |records: &[TimelineRecord]| format!("{:#}", check_records(records).unwrap_err());
        assert!(message(&[]).contains("no tasks"));
        let backwards = [good.clone(), record("rebase", 1, 2.0, 1.0, true)];
        assert!(
            message(&backwards).contains("record 1"),
            "{}",
            message(&backwards)
        );
        for bad in [f64::NAN, -1.0, f64::INFINITY] {
            let m = message(&[record("rebase", 0, bad, 1.0, true)]);
            assert!(m.contains("record 0") && m.contains("start_s"), "{m}");
        }
        let far = message(&[record("rebase", MAX_LANES, 0.0, 1.0, true)]);
        assert!(far.contains("worker 4096"), "{far}");
        assert!(check_records(&[good]).is_ok());
    }

    #[test]
    fn a_missing_font_says_where_it_looked_and_what_to_install() {
        let message = format!("{:#}", find_font(&["/no/such/font.ttf"]).unwrap_err());
        assert!(message.contains("/no/such/font.ttf"), "{message}");
        assert!(message.contains("fonts-dejavu-core"), "{message}");
    }

    #[test]
    fn kinds_keep_their_order_and_colours() {
        let records = [
            record("zeta", 0, 0.0, 1.0, true),
            record("rebase", 0, 0.0, 1.0, true),
            record("encode_chunk", 0, 0.0, 1.0, true),
            record("rebase", 0, 0.0, 1.0, true),
        ];
        assert_eq!(kinds_present(&records), ["encode_chunk", "rebase", "zeta"]);
        assert_eq!(kind_colour("zeta"), OTHER_KIND);
        assert_ne!(kind_colour("rebase"), kind_colour("encode_chunk"));
    }

    /// Time to pixel, end to end: the middle of each bar, found with the axes' linear maps, is
    /// the colour of its kind, and the gap between two bars is not.
    #[test]
    fn bars_land_where_their_times_and_workers_say() {
        // Its error says what to install (scripts/setup.sh does).
        load_font(None).unwrap();
        let records = [
            record("encode_chunk", 0, 0.0, 2.0, true),
            record("rebase", 0, 3.0, 4.0, true),
            record("encode_given_state", 1, 1.0, 3.0, true),
        ];
        let (width, height) = (600, 300);
        let plot = render(&records, "test", width, height).unwrap();
        let (x_px, y_px) = &plot.area;
        let (x_range, y_range) = &plot.ranges;
        let pixel = |t: f64, y: f64| {
            // As plotters maps a chart's axes: to the last pixel inclusive, y upwards.
            let x = linear_px(t, x_range, (x_px.start, x_px.end - 1));
            let row = linear_px(y, y_range, (y_px.end - 1, y_px.start));
            let at = (row as usize * width as usize + x as usize) * 3;
            RGBColor(plot.rgb[at], plot.rgb[at + 1], plot.rgb[at + 2])
        };
        for r in &records {
            let (bottom, top) = lane_bar(r.worker, 2);
            let colour = pixel((r.start_s + r.end_s) / 2.0, (bottom + top) / 2.0);
            assert_eq!(colour, kind_colour(&r.kind), "{r:?}");
        }
        let (bottom, top) = lane_bar(0, 2);
        // Background or a light grid line, but no bar.
        let gap = pixel(2.5, (bottom + top) / 2.0);
        assert!(
            gap.0 > 200 && gap.1 > 200 && gap.2 > 200,
            "the gap in lane 0: {gap:?}"
        );
    }
}
