//! Progress on stderr for long work (extracting, cloning); silent when stderr is not a terminal.

use std::time::Duration;

use ferry_source::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress display that adapts to what is happening.
pub struct Reporter {
    bar: ProgressBar,
}

impl Reporter {
    /// A hidden-until-needed reporter on stderr.
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Reporter { bar }
    }

    /// Updates the display.
    pub fn update(&self, progress: Progress) {
        match progress {
            Progress::Extracting { done, total } => {
                self.bar
                    .set_message(format!("extracting {done}/{total} entries"));
            }
            Progress::Cloning(url) => self.bar.set_message(format!("cloning {url}")),
        }
    }

    /// A phase message.
    pub fn message(&self, text: &str) {
        self.bar.set_message(text.to_string());
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
