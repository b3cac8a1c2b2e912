//! Progress of the calibration's long phases on stderr: a bar while a phase runs (on a
//! terminal only), and an `info` line with its duration when it ends.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One phase: `total` items of `unit`.
pub(crate) struct Phase {
    bar: ProgressBar,
    name: String,
    unit: &'static str,
    started: Instant,
}

impl Phase {
    pub(crate) fn start(name: impl Into<String>, total: usize, unit: &'static str) -> Self {
        let name = name.into();
        let bar = ProgressBar::new(total as u64);
        if !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let template =
            format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{elapsed}}, eta {{eta}})");
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(name.clone());
        bar.enable_steady_tick(Duration::from_millis(500));
        Phase { bar, name, unit, started: Instant::now() }
    }

    /// `n` more items done.
    pub(crate) fn advance(&self, n: usize) {
        self.bar.inc(n as u64);
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
        tracing::info!(
            phase = %self.name,
            done = self.bar.position(),
            unit = self.unit,
            seconds = format!("{:.1}", self.started.elapsed().as_secs_f64()),
            "calibration phase ended"
        );
    }
}
