//! `--from-window`, `--until-window`: which windows a role works through.

/// The windows to work through.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Windows")]
pub struct WindowRangeArgs {
    /// First window [default: the current window, or after the last one done].
    #[arg(id = "from_window", long = "from-window", env = "GRAIL_FROM_WINDOW")]
    pub from_window: Option<u64>,
    /// Stop after this window [default: never].
    #[arg(id = "until_window", long = "until-window", env = "GRAIL_UNTIL_WINDOW")]
    pub until_window: Option<u64>,
}

impl WindowRangeArgs {
    /// Refuses a range that holds no window.
    pub fn check(&self) -> Result<(), String> {
        match (self.from_window, self.until_window) {
            (Some(from), Some(until)) if until < from => Err(format!(
                "--until-window {until} is below --from-window {from}: no window to work through"
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_range_is_refused() {
        let r = |from, until| WindowRangeArgs { from_window: from, until_window: until };
        let err = r(Some(5), Some(4)).check().unwrap_err();
        assert!(err.contains("--until-window 4") && err.contains("--from-window 5"), "{err}");
        for ok in [r(Some(5), Some(5)), r(None, Some(1)), r(Some(9), None), r(None, None)] {
            assert!(ok.check().is_ok());
        }
    }
}
