//! Progress of a window's checks: a bar on a terminal, an `info` line per miner checked
//! otherwise (a process manager's log), so a long window is never silent.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use grail_protocol::keys::Hotkey;
use indicatif::{ProgressBar, ProgressStyle};

use crate::state::{Verdict, VerdictResult};

/// The checks of one window's selected miners.
pub(crate) struct CheckProgress {
    window: u64,
    total: usize,
    done: usize,
    bar: Option<ProgressBar>,
}

impl CheckProgress {
    /// `total` miners of `window` to check.
    pub(crate) fn start(window: u64, total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            let template =
                "window {prefix} [{bar:30}] {pos}/{len} miners checked {msg} ({elapsed})";
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(window.to_string());
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Self { window, total, done: 0, bar }
    }

    /// One miner checked through stages 2-6, `since` it started; `v` holds its outcome.
    pub(crate) fn checked(&mut self, v: &Verdict, hotkey: &Hotkey, since: Instant) {
        self.done += 1;
        let seconds = since.elapsed().as_secs_f64();
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("(uid {} {:.1} s)", v.uid, seconds));
            return;
        }
        // A miner that passed stages 2-6 is judged on duplicates once all are checked.
        let (outcome, stage) = match v.result {
            VerdictResult::Fail => ("failed", v.stage.as_str()),
            VerdictResult::Mismatch => ("mismatch", v.stage.as_str()),
            _ => ("passed", "forward"),
        };
        tracing::info!(
            window = self.window,
            miner = format!("{}/{}", self.done, self.total),
            uid = v.uid,
            %hotkey,
            outcome,
            stage,
            reason = v.reason.as_deref().unwrap_or(""),
            rollouts = v.rollouts_checked,
            seconds = format!("{seconds:.2}"),
            "miner checked"
        );
    }
}

impl Drop for CheckProgress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
