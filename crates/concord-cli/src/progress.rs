//! Progress bars for the client's long pipelines (hidden for `--json`, and for pipelines of one transaction).

use concord_client::chain::{Progress, ProgressTracker};
use indicatif::{ProgressBar, ProgressStyle};

/// Draws one bar per pipeline on stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bars;

struct Bar(ProgressBar);

impl Progress for Bars {
    fn start(&self, action: &str, total: u64) -> Box<dyn ProgressTracker> {
        if total < 2 {
            return Box::new(Bar(ProgressBar::hidden()));
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(action.to_string());
        Box::new(Bar(bar))
    }
}

impl ProgressTracker for Bar {
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
