//! From a window's verdicts to the span's weights: one path, which the live loop and replay
//! both take, so a replay's weights are the live validator's by construction.

use std::collections::BTreeMap;

use grail_weights::{compute_weights, MinerRecord, Weights, WeightsConfig, WindowRecord};

use crate::error::Result;
use crate::state::{Verdict, VerdictResult};

/// The window record a verdict adds to a miner's span (as [`crate::state::State::miner_records`] maps it):
/// a pass counts its estimated unique completions, a failure is hard, a mismatch is checked
/// and scores nothing, an unchecked file is active, and an absent file adds nothing.
pub fn verdict_record(window: u64, v: &Verdict) -> Option<WindowRecord> {
    let (unique, hard_failure, checked) = match v.result {
        VerdictResult::Pass => (v.unique_estimated, false, true),
        VerdictResult::Fail => (0, true, true),
        VerdictResult::Mismatch => (0, false, true),
        VerdictResult::Unchecked => (0, false, false),
        VerdictResult::Absent => return None,
    };
    Some(WindowRecord { window, unique, hard_failure, checked })
}

/// The weights computed at `window`: `prior` (every miner's records for the span's earlier
/// windows) plus this window's `verdicts`, through [`compute_weights`]. The live loop and
/// replay both call this; the loop checks its records against the committed state.
pub fn window_weights(
    config: &WeightsConfig,
    window: u64,
    prior: &[MinerRecord],
    verdicts: &[Verdict],
) -> Result<(Vec<MinerRecord>, Weights)> {
    let by_hotkey: BTreeMap<String, &Verdict> =
        verdicts.iter().map(|v| (v.hotkey.to_ss58(), v)).collect();
    let mut records = prior.to_vec();
    for m in &mut records {
        if let Some(r) = by_hotkey.get(&m.hotkey).and_then(|v| verdict_record(window, v)) {
            m.windows.push(r);
        }
    }
    let weights = compute_weights(config, window, &records)?;
    Ok((records, weights))
}

#[cfg(test)]
pub(crate) mod tests {
    use grail_protocol::keys::{Hotkey, HotkeyPair};

    use super::*;
    use crate::state::{Stage, State, WindowOutcome};

    pub(crate) fn hk(i: u8) -> Hotkey {
        HotkeyPair::from_mini_secret(&[i; 32]).expect("key").hotkey()
    }

    pub(crate) fn verdict(i: u8, result: VerdictResult, unique: u64) -> Verdict {
        Verdict {
            hotkey: hk(i),
            uid: u16::from(i),
            stage: Stage::Duplicates,
            result,
            reason: None,
            rollouts_in_file: 16,
            rollouts_checked: if result == VerdictResult::Pass { 16 } else { 0 },
            unique_verified: unique,
            unique_estimated: unique,
        }
    }

    /// The records replay derives (prior + this window's verdicts) are the state's own, over
    /// several windows and every verdict result.
    #[test]
    fn window_weights_records_equal_the_states() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut state = State::open(dir.path()).expect("state");
        let metagraph: BTreeMap<u16, Hotkey> = (1..=4).map(|i| (u16::from(i), hk(i))).collect();
        let config = WeightsConfig { span_windows: 3, ..WeightsConfig::default() };
        let windows = [
            vec![
                verdict(1, VerdictResult::Pass, 10),
                verdict(2, VerdictResult::Unchecked, 0),
                verdict(3, VerdictResult::Absent, 0),
                verdict(4, VerdictResult::Pass, 4),
            ],
            vec![
                verdict(1, VerdictResult::Pass, 12),
                verdict(2, VerdictResult::Pass, 7),
                verdict(3, VerdictResult::Fail, 0),
                verdict(4, VerdictResult::Absent, 0),
            ],
            vec![verdict(1, VerdictResult::Pass, 3), verdict(2, VerdictResult::Pass, 9)],
            vec![verdict(1, VerdictResult::Unchecked, 0), verdict(4, VerdictResult::Pass, 1)],
        ];
        for (w, verdicts) in (10u64..).zip(windows) {
            let prior = state.miner_records(w, config.span_windows, &metagraph).expect("prior");
            let (records, weights) = window_weights(&config, w, &prior, &verdicts).expect("w");
            let outcome = WindowOutcome {
                window: w,
                beacon_round: 1,
                randomness: [0; 32],
                processed_at_unix: 0,
                files: 0,
                verdicts,
                exclusions: vec![],
            };
            state.record_window(&outcome).expect("record");
            let committed = state.miner_records(w, config.span_windows, &metagraph).expect("now");
            assert_eq!(records, committed, "window {w}");
            assert_eq!(weights, compute_weights(&config, w, &committed).expect("weights"));
        }
    }
}
