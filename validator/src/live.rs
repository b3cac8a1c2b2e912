//! The live validator loop (DESIGN.md 3.8-3.10): for each window in turn, wait until its
//! challenge round is due, fetch both beacons (verified, by round) and the first block hash,
//! take the files the store watcher ([`crate::intake`], a task beside the loop) held before the
//! window's cutoff, verify, commit the verdicts in one transaction, compute the span's
//! weights, emit them, and publish the status.
//!
//! Crash safety: a window is either committed whole ([`State::record_window`]) or not at all,
//! and the loop resumes after [`State::last_processed`], so a validator killed anywhere
//! re-verifies its unfinished window from scratch and never counts one twice. Weights are a
//! function of the committed state: a window committed but whose weights were not yet emitted
//! gets them at the next start ([`Validator::emit_pending_weights`]). The transcript is written
//! before the commit, so every committed window has one. The watcher's files are on disk
//! before they count, so a restart keeps what was read; they are dropped once their window is
//! committed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use grail_chain::{ChainError, ChainSource};
use grail_drand::{unix_now, DrandClient};
use grail_protocol::keys::Hotkey;
use grail_protocol::params::NetworkParams;
use grail_protocol::verify_params::VerifyParams;
use grail_weights::{compute_weights, Weights, WeightsConfig};
use serde::Serialize;

use crate::archive::{keep_passed, Archive};
use crate::error::{PipelineError, Result, ValidatorError};
use crate::http::LiveStatus;
use crate::intake::{backfill, cutoff_ms, MinerStores, Progress, Spool, Watched, Watcher};
use crate::metagraph::{Metagraph, MetagraphSource};
use crate::models::WindowModels;
use crate::pace::{Pace, PaceConfig};
use crate::pipeline::{verify_window_observed, window_schedule, ModelVerifier, WindowInputs};
use crate::scoring::window_weights;
use crate::sink::{FileSink, WeightsSink};
use crate::state::{State, Verdict, VerdictResult};
use crate::transcript::{Transcript, TranscriptParts};

/// How the loop runs; see `grail-validator run --help` for each setting.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub network: NetworkParams,
    pub verify: VerifyParams,
    /// Scoring; its `burn_uid` is replaced by the metagraph's.
    pub weights: WeightsConfig,
    /// Data folder: state, weights files, transcripts.
    pub data_dir: PathBuf,
    /// Where the metagraph comes from; read again for every window.
    pub metagraph: MetagraphSource,
    /// Write one transcript per window into `data_dir/transcripts/`.
    pub transcripts: bool,
    /// First window when the state is empty (default: the chain's current window).
    pub from_window: Option<u64>,
    /// Stop after processing this window.
    pub until_window: Option<u64>,
    /// How long to keep asking relays for a beacon once its round is due, per attempt.
    pub beacon_timeout: Duration,
    /// Pause between the store watcher's polling rounds.
    pub poll_interval: Duration,
    /// For a window no watcher polled before its cutoff, take files from the validator's own
    /// store by the store's last-modified times ([`crate::intake::backfill`]).
    pub trust_store_times: bool,
    /// Windows of verified files kept for export (`DATA/verified/`): a window's files go once
    /// this many newer windows are committed; 0 keeps none.
    pub retain_windows: u64,
    /// Fraction of the window's length verifying a window may take ([`crate::pace`]); 0 checks
    /// `verify.miners_checked` every window.
    pub pace_fraction: f64,
    /// Fewest miners fully checked per window when pacing.
    pub min_miners: u32,
}

impl LiveConfig {
    /// How the miners checked per window are sized.
    pub fn pace(&self) -> PaceConfig {
        PaceConfig {
            fraction: self.pace_fraction,
            floor: self.min_miners,
            cap: self.verify.miners_checked,
            window_s: (self.network.blocks_per_window * self.network.block_time_s) as f64,
        }
    }
}

/// What the loop tells its caller as it goes: each processed window's line, and the moment a
/// verified window is about to be committed (everything before it is undone by a crash,
/// nothing after it is).
pub trait LoopObserver: Send {
    /// A window was committed and its weights emitted.
    fn window_done(&mut self, line: &WindowLine);

    /// `window` is verified, its transcript written, and its commit comes next.
    fn before_commit(&mut self, window: u64) {
        let _ = window;
    }
}

impl<F: FnMut(&WindowLine) + Send> LoopObserver for F {
    fn window_done(&mut self, line: &WindowLine) {
        self(line);
    }
}

/// What the loop prints for each window: one JSON line on stdout.
#[derive(Debug, Clone, Serialize)]
pub struct WindowLine {
    pub window: u64,
    pub verdicts: Vec<Verdict>,
    pub weights: Weights,
}

/// A running validator and everything it holds.
#[derive(Debug)]
pub struct Validator<C: ChainSource> {
    pub config: LiveConfig,
    pub verifier: ModelVerifier,
    /// Which model each window runs under (the trainer's checkpoints).
    pub models: WindowModels,
    pub drand: DrandClient,
    pub chain: C,
    /// Where each miner's file is read.
    pub stores: MinerStores,
    pub state: State,
    pub sink: FileSink,
    pub live: LiveStatus,
    /// Miners to fully check per window, from the measured pace.
    pub pace: Pace,
    /// Told the window of each emitted weights (the task putting weights on chain listens).
    pub emitted: Option<tokio::sync::watch::Sender<u64>>,
}

impl<C: ChainSource + Clone + 'static> Validator<C> {
    /// Processes windows from where the state stopped until `until_window` (or forever),
    /// telling `observer` about each window. A beacon, chain or store failure is retried
    /// with backoff (never replaced by anything); any other error ends the loop.
    pub async fn run(&mut self, observer: &mut impl LoopObserver) -> Result<()> {
        self.live.restore(&self.state)?;
        let pace = self.pace.estimate();
        self.live.pace(pace.miners, pace.per_miner_s);
        self.emit_pending_weights().await?;
        let mut next = self.first_window()?;
        let spool = Spool::new(&self.config.data_dir);
        spool.remove_before(next)?;
        let watcher = Watcher {
            stores: self.stores.clone(),
            spool: spool.clone(),
            metagraph: self.config.metagraph.clone(),
            network: self.config.network.clone(),
            verify: self.config.verify,
            chain: self.chain.clone(),
            first_window: next,
            interval: self.config.poll_interval,
            live: self.live.clone(),
        };
        let (mut progress, handle) = watcher.spawn();
        let _stop = AbortOnDrop(handle);
        if let Some(current) = self.current_window().await.filter(|c| *c > next) {
            tracing::info!(
                from = next,
                to = current - 1,
                current,
                "catching up: processing the windows behind the chain's current one in order"
            );
        }
        let mut backoff = Duration::from_secs(1);
        loop {
            if self.config.until_window.is_some_and(|u| next > u) {
                return Ok(());
            }
            if let Some(current) = self.current_window().await {
                self.live.set_current_window(current);
            }
            match self.process_window(next, &spool, &mut progress, observer).await {
                Ok(line) => {
                    observer.window_done(&line);
                    next += 1;
                    if let Err(e) = spool.remove_before(next) {
                        tracing::warn!(error = %e, "could not clear committed windows' files");
                    }
                    backoff = Duration::from_secs(1);
                }
                Err(ValidatorError::Unwatched { window, reason }) => {
                    tracing::warn!(window, reason, "window not verified; going on to the next");
                    next += 1;
                    if let Err(e) = spool.remove_before(next) {
                        tracing::warn!(error = %e, "could not clear skipped windows' files");
                    }
                }
                Err(ValidatorError::StatePruned { block, reason }) => {
                    tracing::warn!(
                        window = next,
                        block,
                        reason,
                        "window not verified: the chain node has pruned the state at the \
                         window's first block, so its clock and metagraph cannot be read (an \
                         archive node can verify it); going on to the next"
                    );
                    next += 1;
                    if let Err(e) = spool.remove_before(next) {
                        tracing::warn!(error = %e, "could not clear skipped windows' files");
                    }
                }
                Err(e) if retryable(&e) => {
                    self.live.error_retried(error_source(&e));
                    tracing::warn!(window = next, error = %e, retry_s = backoff.as_secs(), "retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The window to process next: after the last committed one, else `from_window`, else the
    /// chain's current window. `from_window` later than the state's next window skips ahead.
    fn first_window(&self) -> Result<u64> {
        let start = match self.state.last_processed()? {
            Some(last) => {
                let next = last + 1;
                tracing::info!(last, next, "resuming after the last committed window");
                self.config.from_window.map_or(next, |f| f.max(next))
            }
            None => match self.config.from_window {
                Some(f) => f,
                None => {
                    let clock = self.chain.estimated_clock();
                    let l = self.config.network.blocks_per_window;
                    clock.window_at(unix_now(), l).ok().flatten().unwrap_or(0)
                }
            },
        };
        Ok(start)
    }

    async fn current_window(&self) -> Option<u64> {
        let block = self.chain.current_block(unix_now()).await.ok().flatten()?;
        Some(block / self.config.network.blocks_per_window)
    }

    /// Emits the weights of the last committed window if a crash came between its commit and
    /// its emission.
    pub async fn emit_pending_weights(&mut self) -> Result<()> {
        let Some(last) = self.state.last_processed()? else { return Ok(()) };
        if self.state.latest_weights()?.is_some_and(|(w, _)| w >= last) {
            return Ok(());
        }
        let metagraph = self.config.metagraph.load().await?;
        let config = self.weights_config(&metagraph);
        let records = self.state.miner_records(last, config.span_windows, &metagraph.by_uid())?;
        let weights = compute_weights(&config, last, &records)?;
        self.emit(last, &weights)?;
        tracing::info!(window = last, "emitted the weights of the last committed window");
        Ok(())
    }

    fn weights_config(&self, metagraph: &Metagraph) -> WeightsConfig {
        WeightsConfig { burn_uid: metagraph.burn_uid, ..self.config.weights }
    }

    fn emit(&mut self, window: u64, weights: &Weights) -> Result<()> {
        self.sink.emit(window, weights)?;
        self.state.record_weights(window, weights)?;
        self.live.weights_emitted(window, weights);
        if let Some(tx) = &self.emitted {
            tx.send_replace(window);
        }
        Ok(())
    }

    /// Verifies, commits, scores and emits one window.
    pub async fn process_window(
        &mut self,
        window: u64,
        spool: &Spool,
        progress: &mut Progress,
        observer: &mut impl LoopObserver,
    ) -> Result<WindowLine> {
        let base = self.config.network.clone();
        let model = self.models.prepare(window, &base, &mut self.verifier).await?;
        let cfg = &self.config;
        let drand = self.drand.chain().clone();
        let l = cfg.network.blocks_per_window;
        let first = window.saturating_mul(l);
        let clock = self.chain.window_clock(window, l).await.map_err(|e| match e {
            e @ ChainError::StateDiscarded { .. } => ValidatorError::StatePruned {
                block: first,
                reason: format!("the clock of window {window} (its first block {first}): {e}"),
            },
            e => PipelineError::Chain {
                reason: format!("the clock of window {window} (its first block {first}): {e}"),
            }
            .into(),
        })?;
        let times = window_schedule(window, &cfg.network, &clock, &drand)?;
        let beacon_err = |which: &'static str, e: &dyn std::fmt::Display| PipelineError::Beacon {
            which,
            window,
            reason: e.to_string(),
        };
        let due = drand.time_of(times.challenge_round).unwrap_or(0);
        tracing::info!(
            window,
            round = times.challenge_round,
            due_in_s = due.saturating_sub(unix_now()),
            "waiting for the challenge beacon"
        );
        let challenge = self
            .drand
            .wait_for_round(times.challenge_round, cfg.beacon_timeout)
            .await
            .map_err(|e| beacon_err("challenge", &e))?;
        let mining = self
            .drand
            .fetch_round(times.mining_round)
            .await
            .map_err(|e| beacon_err("mining", &e))?;
        let first_block = times.first_block;
        let first_block_hash = self.chain.block_hash(first_block).await.map_err(|e| {
            PipelineError::Chain { reason: format!("hash of block {first_block}: {e}") }
        })?;
        let metagraph = cfg.metagraph.load_at(Some((first_block, first_block_hash))).await?;
        let miners = metagraph.miners();
        let cutoff = cutoff_ms(window, &cfg.network, &cfg.verify, &clock)?;
        progress.wait_past(cutoff).await?;
        let watched = spool.watched(window).filter(|w| w.from_ms < cutoff);
        let gap = match watched {
            None => Some(format!(
                "no watcher of this validator polled the store before the window's cutoff \
                 ({cutoff} ms; this run's watcher started at {} ms, and a first poll that ran \
                 past the cutoff counts as none), so no file can be shown to predate the \
                 challenge beacon",
                progress.started_ms
            )),
            Some(Watched { from_ms, closed_ms: None }) => Some(format!(
                "the validator was down at the window's cutoff ({cutoff} ms): a watcher polled \
                 the store from {from_ms} ms but stopped before the cutoff, and this run's \
                 started at {} ms, so files uploaded in between were not read",
                progress.started_ms
            )),
            Some(_) => None,
        };
        if let Some(reason) = gap {
            if !cfg.trust_store_times {
                return Err(ValidatorError::Unwatched {
                    window,
                    reason: format!(
                        "{reason} (--storage.trust-store-times takes the store's own times)"
                    ),
                });
            }
            let got = backfill(&self.stores, spool, window, cutoff, &miners, &cfg.verify).await?;
            tracing::info!(
                window,
                taken = got.taken,
                late = got.late,
                own_store = got.own_store,
                refused = got.refused,
                reason,
                "window not watched through its cutoff: files taken by the store's times"
            );
        } else if let Some(from) =
            watched.map(|w| w.from_ms).filter(|from| *from > times.start_unix.saturating_mul(1000))
        {
            tracing::warn!(
                window,
                watched_from_ms = from,
                window_start_unix = times.start_unix,
                "the store was not watched for this whole window: files uploaded before the \
                 watcher started count from when it first read them, none after the cutoff"
            );
        }
        let objects = spool.load(window, &miners)?;
        let mut excluded = BTreeSet::<Hotkey>::new();
        for hotkey in miners.keys() {
            if self.state.excluded(hotkey, window)?.is_some() {
                excluded.insert(*hotkey);
            }
        }

        let pace = self.pace.estimate();
        // The count this window checks; the transcript records it, so a replay checks the same.
        let verify = VerifyParams { miners_checked: pace.miners, ..cfg.verify };
        tracing::info!(
            window,
            files = objects.len(),
            miners = miners.len(),
            checking_up_to = pace.miners,
            seconds_per_checked_miner = pace.per_miner_s.map(|s| format!("{s:.2}")),
            budget_s = format!("{:.0}", pace.budget_s),
            "verifying window"
        );
        let started = Instant::now();
        let model_id = self.verifier.model_id().to_vec();
        let inputs = WindowInputs {
            window,
            network: &model.network,
            verify: &verify,
            clock,
            drand: &drand,
            mining_beacon: &mining,
            challenge_beacon: &challenge,
            first_block_hash,
            model_id: &model_id,
            miners: &miners,
            excluded: &excluded,
            objects: &objects,
            processed_at_unix: unix_now(),
        };
        let verifier = &mut self.verifier;
        let live = &self.live;
        let mut on_checked = |checked, selected| live.checking(window, checked, selected);
        let report = tokio::task::block_in_place(|| {
            verify_window_observed(verifier, &inputs, &mut on_checked)
        })?;
        let seconds = started.elapsed().as_secs_f64();
        let tokens = report.forward.values().map(|f| f.tokens).sum();
        self.live.checks_done(tokens, &report.stage_seconds);
        self.pace.observe(report.selected, report.checked_seconds(), seconds);
        let next = self.pace.estimate();
        self.live.pace(next.miners, next.per_miner_s);
        if seconds > pace.budget_s && pace.budget_s > 0.0 {
            tracing::warn!(
                window,
                seconds = format!("{seconds:.1}"),
                budget_s = format!("{:.0}", pace.budget_s),
                checked = report.selected,
                next_window_checks = next.miners,
                "verifying the window took longer than its budget"
            );
        }

        let weights_config = WeightsConfig { burn_uid: metagraph.burn_uid, ..cfg.weights };
        let by_uid = metagraph.by_uid();
        // Before the commit the state holds exactly the span's earlier windows.
        let prior = self.state.miner_records(window, weights_config.span_windows, &by_uid)?;
        let (records, weights) =
            window_weights(&weights_config, window, &prior, &report.outcome.verdicts)?;
        if cfg.transcripts {
            let parts = TranscriptParts {
                metagraph: &metagraph,
                checkpoint: model.checkpoint.as_ref().map(|c| &c.manifest),
                weights_config: &weights_config,
                prior_records: &prior,
                report: &report,
                weights: &weights,
            };
            let path = Transcript::new(&inputs, parts)?.write_to(&cfg.data_dir)?;
            tracing::debug!(window, path = %path.display(), "transcript written");
        }
        let kept = match cfg.retain_windows {
            0 => Vec::new(),
            _ => keep_passed(&Archive::new(&cfg.data_dir), &report, &objects)?,
        };
        tokio::task::block_in_place(|| observer.before_commit(window));
        self.state.record_window_kept(&report.outcome, &kept)?;
        self.forget_old_files(window);
        // Replay recomputes weights from the transcript's records; they must be the state's.
        let committed = self.state.miner_records(window, weights_config.span_windows, &by_uid)?;
        if committed != records {
            return Err(ValidatorError::InvalidOutcome {
                window,
                field: "miner records",
                reason: "the committed span differs from prior records plus this window".into(),
            });
        }
        self.emit(window, &weights)?;
        self.live.window_processed(&report.outcome, seconds);
        log_window(window, &report.outcome.verdicts, &weights, seconds);
        Ok(WindowLine { window, verdicts: report.outcome.verdicts, weights })
    }
}

impl<C: ChainSource + Clone + 'static> Validator<C> {
    /// Drops the kept files of windows `retain_windows` or more before `window`: their rows,
    /// then the files no row names any more. A failure is logged and the loop goes on; a file
    /// whose removal failed stays on disk, named by no row.
    fn forget_old_files(&mut self, window: u64) {
        let keep = self.config.retain_windows;
        let Some(before) = window.checked_sub(keep.saturating_sub(1)).filter(|_| keep > 0) else {
            return;
        };
        let archive = Archive::new(&self.config.data_dir);
        let dropped = self
            .state
            .forget_kept_before(before)
            .and_then(|cids| archive.remove(&cids).map(|()| cids.len()));
        match dropped {
            Ok(0) => {}
            Ok(n) => tracing::debug!(before, files = n, "kept files past retention removed"),
            Err(e) => {
                tracing::warn!(before, error = %e, "could not remove kept files past retention")
            }
        }
    }
}

/// Aborts the watcher task when the loop ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn log_window(window: u64, verdicts: &[Verdict], weights: &Weights, seconds: f64) {
    let count = |r: VerdictResult| verdicts.iter().filter(|v| v.result == r).count();
    let failed: Vec<String> = verdicts
        .iter()
        .filter(|v| v.result == VerdictResult::Fail)
        .map(|v| format!("uid {} at {}", v.uid, v.stage.as_str()))
        .collect();
    tracing::info!(
        window,
        pass = count(VerdictResult::Pass),
        fail = count(VerdictResult::Fail),
        unchecked = count(VerdictResult::Unchecked),
        absent = count(VerdictResult::Absent),
        failed = failed.join(", "),
        uids = ?weights.uids,
        weights = ?weights.weights,
        seconds = format!("{seconds:.2}"),
        "window processed"
    );
}

/// Failures that may heal: the validator's sources (beacons, the chain, the store), its own
/// file I/O (out of file handles, a full disk) and a metagraph file being rewritten.
/// Where a retried error came from, for the metrics.
fn error_source(e: &ValidatorError) -> &'static str {
    match e {
        ValidatorError::Pipeline(PipelineError::Beacon { .. }) => "beacon",
        ValidatorError::Pipeline(PipelineError::Store { .. }) => "store",
        ValidatorError::Pipeline(PipelineError::Chain { .. })
        | ValidatorError::StatePruned { .. }
        | ValidatorError::Metagraph { .. }
        | ValidatorError::Json { .. } => "chain",
        _ => "disk",
    }
}

fn retryable(e: &ValidatorError) -> bool {
    matches!(
        e,
        ValidatorError::Pipeline(
            PipelineError::Beacon { .. }
                | PipelineError::Chain { .. }
                | PipelineError::Store { .. }
                | PipelineError::Checkpoint { .. }
        ) | ValidatorError::Io { .. }
            | ValidatorError::Durable(_)
            | ValidatorError::Metagraph { .. }
            | ValidatorError::Json { what: "metagraph", .. }
    ) || disk_full(e)
}

/// The state database could not write because its disk is full: nothing was committed, and
/// the window is retried once space is freed.
fn disk_full(e: &ValidatorError) -> bool {
    matches!(
        e,
        ValidatorError::Sqlite { source: rusqlite::Error::SqliteFailure(f, _), .. }
            if f.code == rusqlite::ErrorCode::DiskFull
    )
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
