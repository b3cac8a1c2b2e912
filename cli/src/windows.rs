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
