//! The progress bar on standard error, drawn only when it is a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `len` things called `unit` ("frames") on standard error, or a hidden one.
pub(crate) fn progress_bar(show: bool, len: Option<u64>, unit: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    let template = if len.is_some() {
        format!("{{elapsed_precise}} [{{wide_bar}}] {{pos}}/{{len}} {unit}, {{msg}}, ETA {{eta}}")
    } else {
        format!("{{elapsed_precise}} {{spinner}} {{pos}} {unit}, {{msg}}")
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
