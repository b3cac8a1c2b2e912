//! Weights on chain: a task beside the validator loop that puts the latest weights on the
//! subnet once per epoch, signed by the validator's hotkey.
//!
//! - With commit-reveal on (subtensor's default) it sends `commit_timelocked_weights`: the
//!   weights timelock-encrypted ([`grail_chain::tlock`]) to the round the chain reveals them
//!   at, under the beacon key the chain decrypts with (drand quicknet on finney, the local
//!   beacon on the dev chain). With it off it sends `set_weights`.
//! - Before sending it checks what the chain would refuse: registration, validator permit (or
//!   subnet ownership), the version key, the weights rate limit, `MinAllowedWeights` (too few
//!   weights are padded with zero weights of other uids, which the chain counts) and
//!   `MaxWeightsLimit`.
//! - Each attempt is written to the state before it leaves and settled from the chain: the
//!   uid's `LastUpdate` moving past the attempt's signing block is the chain's record that it
//!   landed (and, for a commit, the epoch's `TimelockedWeightCommits` holding it). An attempt
//!   whose outcome is unknown (a dropped connection) is never sent again before its mortal era
//!   has ended, so a restart or a lost answer neither sends twice nor skips an epoch.

use std::time::Duration;

use grail_chain::rpc::submit::{Call, ERA_PERIOD};
use grail_chain::rpc::SubtensorClient;
use grail_chain::subnet::SubnetState;
use grail_chain::tlock::{
    encrypt_weights, reveal_round, Epochs, RoundSchedule, WeightsTlockPayload,
};
use grail_chain::ChainError;
use grail_drand::unix_now;
use grail_protocol::keys::HotkeyPair;
use grail_weights::Weights;
use tokio::sync::watch;

use crate::http::LiveStatus;
use crate::state::{NewSubmission, Settlement, State, Submission, SubmissionStatus};

/// Blocks past an attempt's era, counted from the best block when it was written, before it
/// is taken as dropped: the extrinsic is signed a moment later, at a block that may be a few
/// past that one.
pub const ERA_SLACK: u64 = 8;

/// Failed attempts per epoch after which the task waits for the next epoch.
pub const MAX_FAILED_PER_EPOCH: usize = 3;

/// What the task needs besides the chain.
#[derive(Debug)]
pub struct OnChainConfig {
    pub netuid: u16,
    pub signer: HotkeyPair,
    /// The beacon public key commits are encrypted under (96-byte compressed G2).
    pub tlock_key: Vec<u8>,
    /// The beacon's rounds.
    pub schedule: RoundSchedule,
    /// Seconds per block, for projecting the reveal block onto the beacon's clock.
    pub block_time_s: f64,
    /// Pause between two looks at the chain.
    pub poll: Duration,
}

/// What one look at the chain led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// This epoch's weights are on chain.
    Done { epoch: u64 },
    /// No weights have been computed yet.
    NoWeights,
    /// Not yet: an attempt in flight, the rate limit, failures this epoch.
    Waiting(String),
    /// The chain would refuse the weights; the reason says what to change.
    Blocked(String),
    /// An attempt was sent and settled.
    Settled(Box<Submission>),
}

/// Errors of the task (the chain, the state, encryption); each look is retried.
#[derive(Debug, thiserror::Error)]
pub enum OnChainError {
    #[error(transparent)]
    Chain(#[from] ChainError),
    #[error(transparent)]
    State(#[from] crate::error::ValidatorError),
    #[error(transparent)]
    Tlock(#[from] grail_chain::tlock::TlockError),
}

/// The task: its chain client, its own handle on the state, and the status it publishes.
#[derive(Debug)]
pub struct OnChain {
    pub client: SubtensorClient,
    pub config: OnChainConfig,
    pub state: State,
    pub live: LiveStatus,
}

impl OnChain {
    /// Runs a look at the chain after every `wake` change (new weights) and every `poll`.
    /// Once `finish` turns true (the loop is done) it keeps looking until this epoch's
    /// weights are on chain or cannot go, then returns.
    pub async fn run(mut self, mut wake: watch::Receiver<u64>, mut finish: watch::Receiver<bool>) {
        let mut last_note = String::new();
        loop {
            let step = self.step().await;
            let settled =
                matches!(step, Ok(Step::Done { .. } | Step::Settled(_) | Step::Blocked(_)));
            let note = match step {
                Ok(Step::Settled(s)) => {
                    tracing::info!(
                        epoch = s.epoch,
                        window = s.window,
                        call = %s.call,
                        status = ?s.status,
                        block = ?s.block,
                        error = ?s.error,
                        "weights submission settled"
                    );
                    String::new()
                }
                Ok(Step::Done { epoch }) => format!("epoch {epoch}: weights on chain"),
                Ok(Step::NoWeights) => "no weights computed yet".into(),
                Ok(Step::Waiting(why)) => why,
                Ok(Step::Blocked(why)) => {
                    if why != last_note {
                        tracing::error!(reason = %why, "weights cannot go on chain");
                    }
                    why
                }
                Err(e) => {
                    self.live.error_retried("chain");
                    tracing::warn!(error = %e, "weights on chain: retrying");
                    e.to_string()
                }
            };
            if note != last_note && !note.is_empty() {
                tracing::info!(note = %note, "weights on chain");
            }
            last_note = note;
            if *finish.borrow() && settled {
                return;
            }
            tokio::select! {
                changed = wake.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(self.config.poll).await;
                    }
                }
                _ = finish.changed() => {}
                () = tokio::time::sleep(self.config.poll) => {}
            }
        }
    }

    /// One look at the chain: settle what was sent, then send this epoch's weights if due.
    pub async fn step(&mut self) -> Result<Step, OnChainError> {
        let Some(head) = self.client.finalized() else {
            return Ok(Step::Waiting("no finalized head yet".into()));
        };
        let netuid = self.config.netuid;
        let subnet = self.client.subnet_at(netuid, head.hash).await?;
        let hotkey = self.config.signer.hotkey();
        let Some(me) = subnet.neurons.iter().find(|n| n.hotkey == hotkey.0) else {
            return Ok(Step::Blocked(format!(
                "hotkey {hotkey} is not registered on netuid {netuid}"
            )));
        };
        let uid = me.uid;
        let h = &subnet.hyperparameters;
        let epochs = Epochs { tempo: h.tempo, netuid };
        let epoch = epochs.epoch_of(head.number);
        // The epoch an inclusion in `block` counts for: a commit in the block where the epoch
        // runs is queued under the next one.
        let counts_for = |block: u64| {
            if h.commit_reveal_enabled {
                epochs.commit_epoch(block)
            } else {
                epochs.epoch_of(block)
            }
        };
        let last_update = self.client.last_update(netuid, head.hash).await?;
        let updated = last_update.get(usize::from(uid)).copied().unwrap_or(0);

        for s in self.state.unsettled_submissions(netuid)? {
            if updated > s.sent_block {
                let settled = self.settle(
                    &s,
                    SubmissionStatus::Included,
                    counts_for(updated),
                    Some(updated),
                    None,
                    None,
                )?;
                self.live.weights_submission(&settled);
            } else if head.number > s.sent_block + ERA_PERIOD + ERA_SLACK {
                let why = format!("not on chain by block {}, past its era", head.number);
                let settled =
                    self.settle(&s, SubmissionStatus::Dropped, s.epoch, None, None, Some(why))?;
                self.live.weights_submission(&settled);
            } else {
                return Ok(Step::Waiting(format!(
                    "attempt {} (signed at block {}) awaits inclusion",
                    s.id, s.sent_block
                )));
            }
        }
        let attempts = self.state.submissions_in_epoch(netuid, epoch)?;
        if attempts.iter().any(|s| s.status == SubmissionStatus::Included) {
            return Ok(Step::Done { epoch });
        }
        if attempts.iter().filter(|s| s.status == SubmissionStatus::Failed).count()
            >= MAX_FAILED_PER_EPOCH
        {
            return Ok(Step::Waiting(format!(
                "{MAX_FAILED_PER_EPOCH} attempts failed in epoch {epoch}; waiting for the next"
            )));
        }
        let Some((window, weights)) = self.state.latest_weights()? else {
            return Ok(Step::NoWeights);
        };
        if updated != 0 && head.number < updated + h.weights_rate_limit {
            return Ok(Step::Waiting(format!(
                "rate limit: last weights at block {updated}, next from block {}",
                updated + h.weights_rate_limit
            )));
        }
        let owner = self.client.subnet_owner(netuid, head.hash).await?;
        let (uids, values) = match chain_ready(&weights, &subnet, uid, owner == Some(hotkey.0)) {
            Ok(v) => v,
            Err(why) => return Ok(Step::Blocked(why)),
        };
        let (call, reveal) = if h.commit_reveal_enabled {
            let target = reveal_round(
                epochs,
                h.reveal_period_epochs,
                head.number,
                unix_now() as f64,
                self.config.block_time_s,
                self.config.schedule,
            );
            let payload = WeightsTlockPayload {
                hotkey: hotkey.0.to_vec(),
                uids,
                values,
                version_key: weights.version_key,
            };
            let mut rng =
                <rand_chacha_03::ChaCha20Rng as rand_core_06::SeedableRng>::from_entropy();
            let commit =
                encrypt_weights(&self.config.tlock_key, target.reveal_round, &payload, &mut rng)?;
            let call = Call::commit_timelocked_weights(
                netuid,
                &commit,
                target.reveal_round,
                h.commit_reveal_version,
            );
            (call, Some((target.reveal_round, commit)))
        } else {
            (Call::set_weights(netuid, &uids, &values, weights.version_key), None)
        };
        // The best block bounds the era's start from above: the extrinsic lands after it,
        // and its era is over once the finalized head is an era past it.
        let best = self.client.best_block().await?;
        let new = NewSubmission {
            netuid,
            epoch,
            window,
            call: call.name,
            reveal_round: reveal.as_ref().map(|(r, _)| *r),
            sent_block: best.max(head.number),
            sent_at: unix_now(),
        };
        let sent = self.state.submission_sent(&new)?;
        self.live.weights_submission(&sent);
        tracing::info!(epoch, window, call = %call.label(), reveal_round = ?new.reveal_round, "sending weights");
        let settled = match self.client.submit(&call, &self.config.signer).await {
            Ok(inclusion) => {
                let at = inclusion.block_hash;
                let written = self.client.last_update(netuid, at).await?;
                let mut stored = written.get(usize::from(uid)) == Some(&inclusion.block);
                let included_epoch = counts_for(inclusion.block);
                if let Some((_, commit)) = &reveal {
                    let queue = self.client.timelocked_commits(netuid, included_epoch, at).await?;
                    stored &= queue.iter().any(|c| c.who == hotkey.0 && &c.commit == commit);
                }
                let (status, error) = if stored {
                    (SubmissionStatus::Included, None)
                } else {
                    let why = "included, but the chain's storage does not hold it".to_owned();
                    (SubmissionStatus::Failed, Some(why))
                };
                self.settle(
                    &sent,
                    status,
                    included_epoch,
                    Some(inclusion.block),
                    Some(inclusion.tx_hash),
                    error,
                )?
            }
            Err(ChainError::DispatchFailed { error, block, .. }) => {
                self.settle(&sent, SubmissionStatus::Failed, epoch, Some(block), None, Some(error))?
            }
            Err(e @ ChainError::Rejected { .. }) => self.settle(
                &sent,
                SubmissionStatus::Failed,
                epoch,
                None,
                None,
                Some(e.to_string()),
            )?,
            // Unknown outcome: it stays `sent` and is settled from the chain later.
            Err(e) => return Err(e.into()),
        };
        self.live.weights_submission(&settled);
        Ok(Step::Settled(Box::new(settled)))
    }

    fn settle(
        &mut self,
        s: &Submission,
        status: SubmissionStatus,
        epoch: u64,
        block: Option<u64>,
        tx_hash: Option<[u8; 32]>,
        error: Option<String>,
    ) -> Result<Submission, OnChainError> {
        let how = Settlement {
            status,
            epoch,
            block,
            tx_hash,
            error: error.clone(),
            settled_at: unix_now(),
        };
        self.state.submission_settled(s.id, &how)?;
        Ok(Submission {
            status,
            epoch,
            block,
            tx_hash: tx_hash.map(|h| format!("0x{}", hex::encode(h))),
            error,
            settled_at: Some(how.settled_at),
            ..s.clone()
        })
    }
}

/// The weights as the chain will take them from `uid`, or why it would refuse them.
pub fn chain_ready(
    weights: &Weights,
    subnet: &SubnetState,
    uid: u16,
    is_owner: bool,
) -> Result<(Vec<u16>, Vec<u16>), String> {
    let h = &subnet.hyperparameters;
    let netuid = subnet.netuid;
    let me = subnet.neurons.iter().find(|n| n.uid == uid);
    if !is_owner && !me.is_some_and(|n| n.validator_permit) {
        return Err(format!("uid {uid} has no validator permit on netuid {netuid}"));
    }
    if h.weights_version_key != 0 && weights.version_key < h.weights_version_key {
        return Err(format!(
            "--weights.version-key {} is below the chain's WeightsVersionKey {} on netuid {netuid}",
            weights.version_key, h.weights_version_key
        ));
    }
    let n = subnet.neurons.len();
    let mut pairs: Vec<(u16, u16)> = weights
        .uids
        .iter()
        .copied()
        .zip(weights.weights.iter().copied())
        .filter(|(u, _)| usize::from(*u) < n)
        .collect();
    if pairs.len() != weights.uids.len() {
        return Err(format!(
            "the weights name uids the chain does not have (netuid {netuid} has {n} uids)"
        ));
    }
    let self_weight = pairs.len() == 1 && pairs[0].0 == uid;
    if h.max_weights_limit != u16::MAX && !self_weight {
        return Err(format!(
            "MaxWeightsLimit on netuid {netuid} is {}: the chain max-upscales the largest weight \
             to 65535, so it refuses any spread of weights",
            h.max_weights_limit
        ));
    }
    let needed = usize::from(h.min_allowed_weights).min(n);
    if pairs.len() < needed && !self_weight {
        // Zero weights count towards the minimum: pad with the lowest uids not yet named.
        let named: Vec<u16> = pairs.iter().map(|(u, _)| *u).collect();
        let missing = needed - pairs.len();
        let pad = (0..n as u16).filter(|u| !named.contains(u)).take(missing);
        pairs.extend(pad.map(|u| (u, 0)));
        pairs.sort_unstable();
    }
    Ok(pairs.into_iter().unzip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use grail_chain::subnet::{Hyperparameters, SubnetNeuron};
    use grail_weights::{compute_weights, MinerRecord, WeightsConfig, WindowRecord};

    fn subnet(n: u16, min_allowed: u16) -> SubnetState {
        SubnetState {
            netuid: 2,
            neurons: (0..n)
                .map(|uid| SubnetNeuron {
                    uid,
                    hotkey: [uid as u8; 32],
                    validator_permit: uid == 0,
                    stake: 0,
                })
                .collect(),
            hyperparameters: Hyperparameters {
                tempo: 10,
                commit_reveal_enabled: true,
                reveal_period_epochs: 1,
                weights_version_key: 0,
                weights_rate_limit: 0,
                commit_reveal_version: 4,
                min_allowed_weights: min_allowed,
                max_weights_limit: u16::MAX,
            },
        }
    }

    fn weights() -> Weights {
        let miner = |uid: u16, unique| MinerRecord {
            uid,
            hotkey: format!("hk{uid}"),
            windows: vec![WindowRecord { window: 5, unique, hard_failure: false, checked: true }],
        };
        compute_weights(
            &WeightsConfig {
                burn_uid: 0,
                cap_per_window: 100,
                burn_bps: 0,
                ..WeightsConfig::default()
            },
            5,
            &[miner(3, 100), miner(4, 50)],
        )
        .expect("weights")
    }

    #[test]
    fn weights_pass_through_and_too_few_are_padded_with_zeros() {
        let w = weights();
        let (uids, values) = chain_ready(&w, &subnet(6, 1), 0, false).expect("ready");
        assert_eq!((uids, values), (w.uids.clone(), w.weights.clone()));
        let needed = w.uids.len() + 2;
        let (uids, values) = chain_ready(&w, &subnet(8, needed as u16), 0, false).expect("ready");
        assert_eq!(uids.len(), needed);
        assert!(uids.windows(2).all(|p| p[0] < p[1]), "{uids:?}");
        for (u, v) in w.uids.iter().zip(&w.weights) {
            let i = uids.iter().position(|x| x == u).expect("kept");
            assert_eq!(values[i], *v);
        }
        assert_eq!(values.iter().filter(|v| **v == 0).count(), 2);
        // The minimum is capped at the number of uids.
        let (uids, _) = chain_ready(&w, &subnet(5, 64), 0, false).expect("ready");
        assert_eq!(uids.len(), 5);
    }

    #[test]
    fn what_the_chain_refuses_is_named() {
        let w = weights();
        let err = chain_ready(&w, &subnet(6, 1), 1, false).unwrap_err();
        assert!(err.contains("no validator permit"), "{err}");
        assert!(chain_ready(&w, &subnet(6, 1), 1, true).is_ok(), "the owner needs no permit");
        let mut s = subnet(6, 1);
        s.hyperparameters.weights_version_key = w.version_key + 1;
        let err = chain_ready(&w, &s, 0, false).unwrap_err();
        assert!(err.contains("WeightsVersionKey"), "{err}");
        let mut s = subnet(6, 1);
        s.hyperparameters.max_weights_limit = 1000;
        assert!(chain_ready(&w, &s, 0, false).unwrap_err().contains("MaxWeightsLimit"));
        let err = chain_ready(&w, &subnet(3, 1), 0, false).unwrap_err();
        assert!(err.contains("uids the chain does not have"), "{err}");
    }
}
