//! A progress bar for long runs: shown only when stdout is a terminal and the run is not
//! producing `--json`, so a harness or a pipe never sees it. Every executor ticks it once per
//! finished item.

use crate::console;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

#[derive(Clone, Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `total` items (hidden where nobody is watching).
    pub fn new(total: usize) -> Progress {
        let bar = if console::json() || !std::io::stdout().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} items {elapsed_precise}")
                    .expect("a valid template"),
            );
            bar
        };
        Progress { bar }
    }

    /// One more item finished.
    pub fn tick(&self) {
        self.bar.inc(1);
    }

    /// Take the bar off the screen.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
