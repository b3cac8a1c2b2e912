//! Window arithmetic: window `w` covers blocks `[w·L, (w+1)·L)`.
//!
//! Everything is u64 integer arithmetic; an overflow is an error, never a wrap, because window
//! numbers come from miners' files.

use serde::{Deserialize, Serialize};

use crate::error::ProtocolError;
use crate::params::NetworkParams;

/// The window that contains `block`: `floor(block / L)`.
pub fn window_of_block(block: u64, blocks_per_window: u64) -> Result<u64, ProtocolError> {
    block
        .checked_div(blocks_per_window)
        .ok_or(ProtocolError::ZeroParameter { name: "blocks_per_window" })
}

/// The first block of window `w`: `w·L`.
pub fn first_block_of_window(window: u64, blocks_per_window: u64) -> Result<u64, ProtocolError> {
    if blocks_per_window == 0 {
        return Err(ProtocolError::ZeroParameter { name: "blocks_per_window" });
    }
    window
        .checked_mul(blocks_per_window)
        .ok_or(ProtocolError::Overflow { what: "first block of window" })
}

/// A chain whose block `b` starts at `genesis_unix + b·block_time_s` (unix seconds).
///
/// This is the embedded local clock and the arithmetic every role uses to turn windows into
/// deadlines; a real chain's block numbers map onto it through its own genesis time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainClock {
    /// Unix time (s) at which block 0 starts.
    pub genesis_unix: u64,
    /// Seconds per block.
    pub block_time_s: u64,
}

impl ChainClock {
    /// Start time of `block`.
    pub fn block_start(&self, block: u64) -> Result<u64, ProtocolError> {
        block
            .checked_mul(self.block_time_s)
            .and_then(|t| t.checked_add(self.genesis_unix))
            .ok_or(ProtocolError::Overflow { what: "block start time" })
    }

    /// The block in progress at unix time `t`; `None` before genesis.
    pub fn block_at(&self, t: u64) -> Result<Option<u64>, ProtocolError> {
        if self.block_time_s == 0 {
            return Err(ProtocolError::ZeroParameter { name: "block_time_s" });
        }
        Ok(t.checked_sub(self.genesis_unix).map(|dt| dt / self.block_time_s))
    }

    /// The window in progress at unix time `t`; `None` before genesis.
    pub fn window_at(&self, t: u64, blocks_per_window: u64) -> Result<Option<u64>, ProtocolError> {
        match self.block_at(t)? {
            Some(b) => window_of_block(b, blocks_per_window).map(Some),
            None => Ok(None),
        }
    }

    /// Start time of window `w`: the start of its first block.
    pub fn window_start(&self, window: u64, blocks_per_window: u64) -> Result<u64, ProtocolError> {
        self.block_start(first_block_of_window(window, blocks_per_window)?)
    }

    /// Upload deadline of window `w`: the start of window `w+1` plus the grace period.
    pub fn upload_deadline(
        &self,
        window: u64,
        blocks_per_window: u64,
        grace_period_s: u64,
    ) -> Result<u64, ProtocolError> {
        let next = window.checked_add(1).ok_or(ProtocolError::Overflow { what: "next window" })?;
        self.window_start(next, blocks_per_window)?
            .checked_add(grace_period_s)
            .ok_or(ProtocolError::Overflow { what: "upload deadline" })
    }

    /// The time whose drand round is window `w`'s challenge beacon: the upload deadline plus
    /// the challenge buffer (`round_at` of this time, in the challenges crate).
    pub fn challenge_time(
        &self,
        window: u64,
        blocks_per_window: u64,
        grace_period_s: u64,
        challenge_buffer_s: u64,
    ) -> Result<u64, ProtocolError> {
        self.upload_deadline(window, blocks_per_window, grace_period_s)?
            .checked_add(challenge_buffer_s)
            .ok_or(ProtocolError::Overflow { what: "challenge time" })
    }
}

/// A drand chain's round clock: round `r ≥ 1` is produced at `genesis_time + (r − 1)·period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundClock {
    /// Unix time (s) of round 1.
    pub genesis_time: u64,
    /// Seconds between rounds (> 0).
    pub period: u64,
}

impl RoundClock {
    /// `round_at(t) = floor((t − genesis_time) / period) + 1`: the latest round produced at
    /// unix time `t`; an error before genesis.
    pub fn round_at(&self, t: u64) -> Result<u64, ProtocolError> {
        let since =
            t.checked_sub(self.genesis_time).ok_or_else(|| ProtocolError::InvalidValue {
                field: "time".into(),
                reason: format!("{t} is before the drand genesis {}", self.genesis_time),
            })?;
        since
            .checked_div(self.period)
            .ok_or(ProtocolError::ZeroParameter { name: "period" })?
            .checked_add(1)
            .ok_or(ProtocolError::Overflow { what: "drand round" })
    }
}

/// When window `w` happens and which drand rounds it uses: the one schedule both roles follow.
///
/// - `start_unix`: the start of the window's first block `w·L`;
/// - `deadline_unix`: the start of window `w+1` plus the grace period (the network's upload
///   deadline; a validator may add its own slack, the same on every validator);
/// - `challenge_unix`: the deadline plus the challenge buffer;
/// - `mining_round` = `round_at(start_unix)`: the beacon the window is mined with;
/// - `challenge_round` = `round_at(challenge_unix)`: the beacon that picks what is checked,
///   produced only after every upload is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSchedule {
    /// The window.
    pub window: u64,
    /// Its first block, `w·L` (the window seed takes its hash).
    pub first_block: u64,
    /// Start of the window, unix seconds.
    pub start_unix: u64,
    /// The network's upload deadline, unix seconds.
    pub deadline_unix: u64,
    /// The time whose round is the challenge beacon, unix seconds.
    pub challenge_unix: u64,
    /// drand round of the mining beacon.
    pub mining_round: u64,
    /// drand round of the challenge beacon.
    pub challenge_round: u64,
}

impl WindowSchedule {
    /// The schedule of `window` on chain clock `clock` and drand clock `rounds`.
    pub fn of(
        window: u64,
        network: &NetworkParams,
        clock: &ChainClock,
        rounds: &RoundClock,
    ) -> Result<Self, ProtocolError> {
        let l = network.blocks_per_window;
        let start_unix = clock.window_start(window, l)?;
        let deadline_unix = clock.upload_deadline(window, l, network.grace_period_s)?;
        let challenge_unix =
            clock.challenge_time(window, l, network.grace_period_s, network.challenge_buffer_s)?;
        Ok(Self {
            window,
            first_block: first_block_of_window(window, l)?,
            start_unix,
            deadline_unix,
            challenge_unix,
            mining_round: rounds.round_at(start_unix)?,
            challenge_round: rounds.round_at(challenge_unix)?,
        })
    }
}

/// Checks that the challenge round of every window is published strictly after the last
/// on-time instant, so no upload that counts can be chosen knowing the challenge: the round
/// holding `challenge_unix` is published after `challenge_unix − period`, hence after the end
/// of the last on-time second (`deadline + upload_grace_s + 1`, the validator's cutoff) when
/// `challenge_buffer_s ≥ period + 1 + upload_grace_s`. Also refuses a zero grace period (the
/// upload of a window would have to land inside its own last block).
pub fn check_timing(
    network: &NetworkParams,
    drand_period_s: u64,
    upload_grace_s: u64,
) -> Result<(), ProtocolError> {
    network.validate()?;
    if network.grace_period_s == 0 {
        return Err(ProtocolError::InvalidValue {
            field: "grace_period_s".into(),
            reason: "must be at least 1 s: uploads land after the window's last block".into(),
        });
    }
    let min = drand_period_s.saturating_add(1).saturating_add(upload_grace_s);
    if network.challenge_buffer_s < min {
        return Err(ProtocolError::InvalidValue {
            field: "challenge_buffer_s".into(),
            reason: format!(
                "{} s is below the minimum {min} s (the beacon period {drand_period_s} s + 1 s + \
                 the validator's upload grace {upload_grace_s} s): the challenge round could be \
                 published while uploads still count",
                network.challenge_buffer_s
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOCK: ChainClock = ChainClock { genesis_unix: 1_700_000_000, block_time_s: 12 };

    #[test]
    fn the_challenge_round_is_published_after_the_last_on_time_second() {
        let net = |buffer| NetworkParams { challenge_buffer_s: buffer, ..Default::default() };
        let err = check_timing(&net(0), 3, 0).unwrap_err().to_string();
        assert!(err.contains("challenge_buffer_s") && err.contains("minimum 4 s"), "{err}");
        assert!(check_timing(&net(3), 3, 0).is_err());
        check_timing(&net(4), 3, 0).unwrap();
        assert!(check_timing(&net(4), 3, 1).is_err(), "the upload grace counts too");
        let zero_grace = NetworkParams { grace_period_s: 0, ..Default::default() };
        assert!(check_timing(&zero_grace, 3, 0).unwrap_err().to_string().contains("grace"));
        // For every window start and drand genesis: the round is published after the cutoff.
        for genesis in 0..7u64 {
            for start in 100..130u64 {
                let (period, grace) = (3u64, 2u64);
                let n = NetworkParams {
                    challenge_buffer_s: period + 1 + grace,
                    grace_period_s: 1,
                    ..Default::default()
                };
                let deadline = start + n.grace_period_s;
                let challenge = deadline + n.challenge_buffer_s;
                let rounds = RoundClock { genesis_time: genesis, period };
                let round = rounds.round_at(challenge).unwrap();
                let published = genesis + (round - 1) * period;
                assert!(published > deadline + grace + 1, "start {start} genesis {genesis}");
            }
        }
    }

    #[test]
    fn windows_partition_blocks() {
        for block in 0..200u64 {
            let w = window_of_block(block, 30).unwrap();
            let first = first_block_of_window(w, 30).unwrap();
            assert!(first <= block && block < first + 30);
        }
        assert!(window_of_block(5, 0).is_err());
        assert!(first_block_of_window(5, 0).is_err());
    }

    #[test]
    fn deadline_is_next_window_start_plus_grace() {
        let start = CLOCK.window_start(10, 30).unwrap();
        assert_eq!(start, 1_700_000_000 + 10 * 30 * 12);
        let deadline = CLOCK.upload_deadline(10, 30, 30).unwrap();
        assert_eq!(deadline, CLOCK.window_start(11, 30).unwrap() + 30);
        assert_eq!(CLOCK.challenge_time(10, 30, 30, 30).unwrap(), deadline + 30);
        assert_eq!(CLOCK.window_at(start, 30).unwrap(), Some(10));
        assert_eq!(CLOCK.window_at(start - 1, 30).unwrap(), Some(9));
        assert_eq!(CLOCK.window_at(CLOCK.genesis_unix - 1, 30).unwrap(), None);
    }

    #[test]
    fn the_schedule_follows_the_clocks() {
        let network = NetworkParams::default();
        let rounds = RoundClock { genesis_time: 1_700_000_000 - 7, period: 3 };
        let s = WindowSchedule::of(10, &network, &CLOCK, &rounds).unwrap();
        assert_eq!(s.first_block, 300);
        assert_eq!(s.start_unix, CLOCK.window_start(10, 30).unwrap());
        assert_eq!(s.deadline_unix, CLOCK.upload_deadline(10, 30, 30).unwrap());
        assert_eq!(s.challenge_unix, s.deadline_unix + 30);
        assert_eq!(s.mining_round, (s.start_unix - rounds.genesis_time) / 3 + 1);
        assert_eq!(s.challenge_round, (s.challenge_unix - rounds.genesis_time) / 3 + 1);
        assert_eq!(rounds.round_at(rounds.genesis_time).unwrap(), 1);
        assert_eq!(rounds.round_at(rounds.genesis_time + 2).unwrap(), 1);
        assert_eq!(rounds.round_at(rounds.genesis_time + 3).unwrap(), 2);
        assert!(rounds.round_at(rounds.genesis_time - 1).is_err());
        assert!(RoundClock { genesis_time: 0, period: 0 }.round_at(5).is_err());
        let late = RoundClock { genesis_time: u64::MAX, period: 3 };
        assert!(WindowSchedule::of(10, &network, &CLOCK, &late).is_err());
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert!(first_block_of_window(u64::MAX, 30).is_err());
        assert!(CLOCK.upload_deadline(u64::MAX, 1, 0).is_err());
        assert!(CLOCK.block_start(u64::MAX / 12).is_err());
        let zero = ChainClock { genesis_unix: 0, block_time_s: 0 };
        assert!(zero.block_at(5).is_err());
    }
}
