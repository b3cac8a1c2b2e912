//! The per-window loop (DESIGN.md 3.1-3.7): wait for the window's verified mining beacon,
//! derive the window seed, the commitment key and the weights' fingerprint, generate complete
//! groups for problems 0, 1, 2, ... while the window allows (several at a time in one batch),
//! then sign, encode and upload the window file before the deadline.
//!
//! Generation is synchronous (the engine is); the few network calls (drand, the store, a
//! chain node) run on a small tokio runtime owned by the [`Miner`]. The only clock reads are
//! at this edge ([`unix_now_f64`]); the decisions themselves ([`should_start_group`], the
//! protocol's [`WindowSchedule`]) are pure functions of the time passed in.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use grail_chain::{ChainError, ChainSource};
use grail_challenges::assembly::{seal, window_header, HeaderFields, Scorer};
use grail_challenges::env::{Environment, Problem};
use grail_challenges::prompt::PromptRenderer;
use grail_drand::{DrandClient, VerifiedBeacon};
use grail_fingerprint::{Engine, GroupJob, GroupSettings};
use grail_protocol::codec::Limits;
use grail_protocol::commitment::CommitmentKey;
use grail_protocol::keys::HotkeyPair;
use grail_protocol::params::{EnvironmentSpec, NetworkParams, GROUP_SIZE};
use grail_protocol::seeds::{group_streams, problem_seed, window_seed};
use grail_protocol::window::WindowSchedule;
use grail_protocol::window_file::{window_file_key, Rollout};
use grail_storage::WindowStore;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::checkpoints::MinerCheckpoints;

/// Which windows [`Miner::run`] mines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Windows {
    /// The first window; `None`: the current one.
    pub first: Option<u64>,
    /// The last window; `None`: no end.
    pub last: Option<u64>,
}

/// How many problems to mine in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Exactly this many, whatever the clock says (one-shot mode, tests, demos).
    Problems(u32),
    /// As many complete groups as fit before the upload deadline minus the safety margin.
    UntilDeadline,
}

/// Whether to start one more group at `now` (unix seconds): only if the estimated time of a
/// group still ends before `deadline − margin`. Without an estimate yet, only `now` is checked.
pub fn should_start_group(now: f64, deadline: f64, margin: f64, estimate: Option<f64>) -> bool {
    now + estimate.unwrap_or(0.0) <= deadline - margin
}

/// Upper bound on the encoded size of one rollout with `prompt` prompt tokens and at most
/// `completion` completion tokens (the wire format of protocol/README.md section 10: fixed
/// fields 129 bytes, 4 per prompt token, 12 per completion token: token, logprob and
/// commitment, 4 bytes each).
pub fn rollout_bytes_bound(prompt: usize, completion: usize) -> u64 {
    129 + 4 * prompt as u64 + 12 * completion as u64
}

/// Room left for the header (model_id, beacon signature, environment id are all bounded).
const HEADER_BYTES_BOUND: u64 = 4096;

/// Whether one more group fits the decoder's limits the validator applies: the rollout count,
/// the file size (with every completion at its cap), and the per-rollout token counts. `Err`
/// names the limit a group can never fit.
pub fn group_fits_limits(
    limits: &Limits,
    rollouts_so_far: usize,
    bytes_so_far: u64,
    prompt: usize,
    max_new_tokens: usize,
) -> Result<bool, String> {
    if prompt > limits.max_prompt_tokens as usize {
        return Err(format!(
            "a prompt of {prompt} tokens is over the limit of {}",
            limits.max_prompt_tokens
        ));
    }
    if max_new_tokens > limits.max_completion_tokens as usize {
        return Err(format!(
            "max_new_tokens {max_new_tokens} is over the completion limit of {}",
            limits.max_completion_tokens
        ));
    }
    let group = GROUP_SIZE as usize;
    let group_bytes = group as u64 * rollout_bytes_bound(prompt, max_new_tokens);
    Ok(rollouts_so_far + group <= limits.max_rollouts as usize
        && HEADER_BYTES_BOUND + bytes_so_far + group_bytes <= limits.max_file_bytes)
}

/// What one window's mining did: one JSON line on stdout, and a log line.
#[derive(Debug, Clone, Serialize)]
pub struct WindowReport {
    /// Window number.
    pub window: u64,
    /// Storage key of the file, in the miner's own part of the store (`{hotkey}/`).
    pub key: String,
    /// The miner's hotkey (SS58).
    pub hotkey: String,
    /// drand round of the mining beacon.
    pub beacon_round: u64,
    /// Problems mined (`0..problems`).
    pub problems: u32,
    /// Rollouts in the file.
    pub rollouts: usize,
    /// Rollouts that solved their problem.
    pub successes: usize,
    /// Completion tokens over all rollouts.
    pub completion_tokens: usize,
    /// Encoded file size.
    pub bytes: usize,
    /// `bytes / completion_tokens`.
    pub bytes_per_completion_token: f64,
    /// Seconds spent generating.
    pub generation_s: f64,
    /// Seconds for the whole window (beacon wait excluded).
    pub seconds: f64,
    /// Completion tokens per second of generation.
    pub tokens_per_s: f64,
    /// The store's last-modified time (unix s): the upload time.
    pub uploaded_unix: u64,
    /// The upload deadline (unix s).
    pub deadline_unix: u64,
}

/// Everything a miner needs, loaded once.
#[derive(Debug)]
pub struct Miner<C: ChainSource> {
    /// The model.
    pub engine: Engine,
    /// `model.onnx` of the model folder (for the fingerprint).
    pub model_file: PathBuf,
    /// Binary CIDv1 of the weights.
    pub model_id: Vec<u8>,
    /// Tokenizer and chat template.
    pub renderer: PromptRenderer,
    /// The network's environment.
    pub env: Box<dyn Environment>,
    /// The hotkey that signs.
    pub pair: HotkeyPair,
    /// Where files go.
    pub store: WindowStore,
    /// Verified drand client.
    pub drand: DrandClient,
    /// Block numbers and hashes.
    pub chain: C,
    /// Network parameters.
    pub params: NetworkParams,
    /// Seconds kept free before the deadline for signing, encoding and upload.
    pub safety_margin_s: f64,
    /// Rows decoding together; several groups share a batch when it holds more than one.
    pub batch_rows: usize,
    /// Runtime for the network calls.
    pub runtime: tokio::runtime::Runtime,
    /// The trainer's checkpoints, when the miner follows them (`--checkpoint.*`).
    pub checkpoints: Option<MinerCheckpoints>,
}

/// The window's randomness and keys, ready to mine with.
struct Prepared {
    times: WindowSchedule,
    beacon: VerifiedBeacon,
    block_hash: [u8; 32],
    seed: [u8; 32],
    key: CommitmentKey,
    fingerprint: [u8; 32],
}

/// Unix time now, in seconds with a fraction (the loop's only clock).
pub fn unix_now_f64() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

impl<C: ChainSource> Miner<C> {
    /// Mines one window and uploads its file. With [`Budget::UntilDeadline`] a window in which
    /// not even one group fits uploads nothing and returns `Ok(None)`.
    pub fn mine_window(
        &mut self,
        window: u64,
        budget: Budget,
    ) -> anyhow::Result<Option<WindowReport>> {
        self.switch_model(window)?;
        let prepared = self.prepare(window)?;
        let started = Instant::now();
        let (rollouts, problems, generation_s) = self.generate(window, &prepared, budget)?;
        if problems == 0 {
            tracing::warn!(
                window,
                "no complete group fitted before the deadline; nothing uploaded"
            );
            return Ok(None);
        }
        let header = window_header(HeaderFields {
            window,
            hotkey: self.pair.hotkey(),
            model_id: self.model_id.clone(),
            beacon: prepared.beacon.record(),
            first_block_hash: prepared.block_hash,
            fingerprint: prepared.fingerprint,
            environment: EnvironmentSpec { id: self.env.id().into(), version: self.env.version() },
            generation: self.params.generation,
        });
        let (file, bytes) =
            seal(&self.pair, header, rollouts).context("signing the window file")?;
        let key = window_file_key(window, &self.pair.hotkey());
        let size = bytes.len();
        let upload = Instant::now();
        let info = self
            .runtime
            .block_on(self.store.put(&key, bytes))
            .with_context(|| format!("uploading {key} to {}", self.store.description()))?;
        let upload_s = upload.elapsed().as_secs_f64();
        let uploaded = info.last_modified_unix();
        if uploaded > prepared.times.deadline_unix {
            tracing::warn!(
                window,
                uploaded,
                deadline = prepared.times.deadline_unix,
                "uploaded after the deadline"
            );
        }
        let completion_tokens: usize =
            file.rollouts.iter().map(|r| r.completion_tokens.len()).sum();
        let report = WindowReport {
            window,
            key,
            hotkey: self.pair.hotkey().to_ss58(),
            beacon_round: prepared.beacon.round(),
            problems,
            rollouts: file.rollouts.len(),
            successes: file.rollouts.iter().filter(|r| r.success).count(),
            completion_tokens,
            bytes: size,
            bytes_per_completion_token: size as f64 / completion_tokens.max(1) as f64,
            generation_s,
            seconds: started.elapsed().as_secs_f64(),
            tokens_per_s: completion_tokens as f64 / generation_s.max(1e-9),
            uploaded_unix: uploaded,
            deadline_unix: prepared.times.deadline_unix,
        };
        tracing::info!(
            window,
            problems,
            rollouts = report.rollouts,
            successes = report.successes,
            tokens = completion_tokens,
            bytes = size,
            bytes_per_token = format!("{:.2}", report.bytes_per_completion_token),
            seconds = format!("{:.1}", report.seconds),
            store = self.store.description(),
            "window file uploaded"
        );
        crate::metrics::window_mined(&report, upload_s);
        Ok(Some(report))
    }

    /// The schedule of `window`: its clock anchored at the timestamp of its first block,
    /// which is waited for while the chain has not finalized it (until the window's estimated
    /// deadline).
    pub fn schedule(&self, window: u64) -> anyhow::Result<WindowSchedule> {
        let rounds = self.drand.chain().round_clock();
        let l = self.params.blocks_per_window;
        let estimate = self.chain.estimated_clock();
        let give_up = estimate.upload_deadline(window, l, self.params.grace_period_s).unwrap_or(0);
        let poll = Duration::from_millis((estimate.block_time_s * 250).clamp(100, 3000));
        let clock = loop {
            match self.runtime.block_on(self.chain.window_clock(window, l)) {
                Ok(clock) => break clock,
                Err(ChainError::NotYetProduced { .. }) if (unix_now_f64() as u64) < give_up => {
                    std::thread::sleep(poll);
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("the first block of window {window} on {}", self.chain.describe())
                    })
                }
            }
        };
        WindowSchedule::of(window, &self.params, &clock, &rounds)
            .with_context(|| format!("the schedule of window {window}"))
    }

    /// Mines window after window: from `windows.first` (default: the current window), each
    /// once its start has come, up to `windows.last` (default: forever). Each window's report goes to `on_report`. In an
    /// open-ended run a window that fails (no beacon, upload error) is logged and skipped,
    /// never filled with anything unverified; in a bounded run it ends the run with its error.
    pub fn run(
        &mut self,
        windows: Windows,
        budget: Budget,
        mut on_report: impl FnMut(&WindowReport),
    ) -> anyhow::Result<()> {
        let l = self.params.blocks_per_window;
        let mut next = windows.first;
        loop {
            let clock = self.chain.estimated_clock();
            let now = unix_now_f64();
            let Some(current) = clock.window_at(now as u64, l)? else {
                let wait = clock.genesis_unix as f64 - now;
                tracing::info!(wait_s = wait, "waiting for the chain's genesis");
                std::thread::sleep(Duration::from_secs_f64(wait.clamp(0.1, 60.0)));
                continue;
            };
            let window = next.unwrap_or(current);
            if windows.last.is_some_and(|last| window > last) {
                return Ok(());
            }
            let start = clock.window_start(window, l)? as f64;
            if start > now {
                // The wait before a window fetches its checkpoint, so its start only loads it.
                self.prefetch_checkpoints();
                let now = unix_now_f64();
                if start > now {
                    std::thread::sleep(Duration::from_secs_f64(start - now));
                }
            }
            match self.mine_window(window, budget) {
                Ok(Some(report)) => on_report(&report),
                Ok(None) => {}
                Err(e) => {
                    crate::metrics::window_failed(&e);
                    if windows.last.is_some() {
                        return Err(e.context(format!("window {window}")));
                    }
                    tracing::error!(window, error = format!("{e:#}"), "window skipped");
                }
            }
            // A bounded run mines every window it names; an open-ended one keeps up with the
            // chain and skips the windows that passed while it mined.
            let clock = self.chain.estimated_clock();
            let current = clock.window_at(unix_now_f64() as u64, l)?.unwrap_or(window);
            next =
                Some(if windows.last.is_some() { window + 1 } else { (window + 1).max(current) });
        }
    }

    /// Beacon, block hash, seed, commitment key and fingerprint of `window`.
    fn prepare(&mut self, window: u64) -> anyhow::Result<Prepared> {
        let times = self.schedule(window)?;
        let round = times.mining_round;
        let now = unix_now_f64() as u64;
        // Wait until the deadline for the beacon, but at least a minute (a one-shot run of an
        // old window still needs its beacon fetched).
        let give_up = Duration::from_secs(times.deadline_unix.saturating_sub(now).max(60));
        tracing::info!(window, round, "waiting for the mining beacon");
        let beacon = self
            .runtime
            .block_on(self.drand.wait_for_round(round, give_up))
            .with_context(|| format!("mining beacon (drand round {round}) of window {window}"))?;
        let block_hash = self.first_block_hash(times)?;
        let seed = window_seed(window, beacon.randomness(), &block_hash);
        let key = CommitmentKey::derive(&seed, self.engine.spec().hidden_size)
            .context("deriving the commitment key")?;
        let t = Instant::now();
        let fingerprint = grail_fingerprint::fingerprint(&self.model_file, beacon.randomness())
            .with_context(|| format!("fingerprinting {}", self.model_file.display()))?;
        tracing::info!(
            window,
            round,
            seconds = format!("{:.2}", t.elapsed().as_secs_f64()),
            "beacon verified, weights fingerprinted"
        );
        Ok(Prepared { times, beacon, block_hash, seed, key, fingerprint })
    }

    /// The hash of the window's first block, waiting while the chain has not produced it.
    fn first_block_hash(&self, times: WindowSchedule) -> anyhow::Result<[u8; 32]> {
        let block_time = Duration::from_secs(self.chain.estimated_clock().block_time_s.max(1));
        loop {
            match self.runtime.block_on(self.chain.block_hash(times.first_block)) {
                Ok(h) => return Ok(h),
                Err(ChainError::NotYetProduced { .. })
                    if (unix_now_f64() as u64) < times.deadline_unix =>
                {
                    std::thread::sleep(block_time);
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("hash of block {}", times.first_block))
                }
            }
        }
    }

    /// Complete groups for problems `0..n`, several decoding together in batches of up to
    /// `batch_rows` rows; returns the rollouts in problem order, `n`, and generation seconds.
    fn generate(
        &mut self,
        window: u64,
        p: &Prepared,
        budget: Budget,
    ) -> anyhow::Result<(Vec<Rollout>, u32, f64)> {
        let hotkey = self.pair.hotkey();
        let stop_ids = self.engine.config().stop_token_ids.clone();
        let generation = self.params.generation;
        let max_new = generation.max_new_tokens as usize;
        let bar = progress_bar(window, budget);
        let started = Instant::now();
        let settings = GroupSettings {
            temperature: generation.temperature,
            max_new_tokens: max_new,
            stop_ids: &stop_ids,
            commitment: Some(&p.key),
        };
        let (env, renderer, margin) = (self.env.as_ref(), &self.renderer, self.safety_margin_s);
        let scorer = Scorer { env, renderer, stop_ids: &stop_ids };
        // Shared by the source (which starts groups) and the sink (which takes them back).
        let ledger = RefCell::new(Ledger::default());
        let source = || -> anyhow::Result<Option<GroupJob>> {
            let mut l = ledger.borrow_mut();
            let j = l.started.len() as u32;
            match budget {
                Budget::Problems(n) if j >= n => return Ok(None),
                Budget::Problems(_) => {}
                Budget::UntilDeadline => {
                    let deadline = p.times.deadline_unix as f64;
                    if !should_start_group(unix_now_f64(), deadline, margin, l.longest_s) {
                        return Ok(None);
                    }
                }
            }
            let problem = env.generate(problem_seed(&p.seed, &hotkey, j));
            let prompt = renderer
                .problem_tokens(&problem)
                .with_context(|| format!("rendering problem {j}"))?;
            // Groups still decoding count at their worst-case size.
            let fits = group_fits_limits(
                &Limits::default(),
                l.rollouts + l.reserved_rollouts,
                l.bytes + l.reserved_bytes,
                prompt.len(),
                max_new,
            )
            .map_err(|e| anyhow::anyhow!("problem {j}: {e}"))?;
            if !fits {
                match budget {
                    Budget::Problems(n) => bail!(
                        "{n} problems do not fit one window file: problem {j} would pass the \
                         validator's size limits"
                    ),
                    Budget::UntilDeadline => {
                        tracing::info!(window, problems = j, "window file is full");
                        return Ok(None);
                    }
                }
            }
            let group = GROUP_SIZE as usize;
            l.reserved_rollouts += group;
            l.reserved_bytes += group as u64 * rollout_bytes_bound(prompt.len(), max_new);
            l.started.push((Instant::now(), problem, prompt.clone()));
            Ok(Some(GroupJob { prompt, streams: group_streams(&p.seed, &hotkey, j) }))
        };
        let sink = |id: usize, generated| -> anyhow::Result<()> {
            let mut l = ledger.borrow_mut();
            let j = id as u32;
            let (since, problem, prompt) =
                l.started.get(id).with_context(|| format!("group {id} was never started"))?;
            let (s, prompt_len) = (since.elapsed().as_secs_f64(), prompt.len());
            let group = scorer
                .assemble_group(j, prompt, problem, generated)
                .with_context(|| format!("assembling the group of problem {j}"))?;
            let tokens: usize = group.iter().map(|r| r.completion_tokens.len()).sum();
            let solved = group.iter().filter(|r| r.success).count();
            let group_size = GROUP_SIZE as usize;
            l.reserved_rollouts -= group_size;
            l.reserved_bytes -= group_size as u64 * rollout_bytes_bound(prompt_len, max_new);
            l.bytes += group
                .iter()
                .map(|r| rollout_bytes_bound(r.prompt_tokens.len(), r.completion_tokens.len()))
                .sum::<u64>();
            l.rollouts += group.len();
            l.tokens += tokens;
            l.longest_s = Some(l.longest_s.map_or(s, |x: f64| x.max(s)));
            let rate = l.tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
            if bar.is_hidden() {
                // No terminal (a process manager's log): a line per group instead of the bar.
                tracing::info!(
                    window,
                    problem = j,
                    tokens,
                    solved,
                    rollouts = l.rollouts,
                    seconds = format!("{s:.2}"),
                    tokens_per_s = format!("{rate:.0}"),
                    "group mined"
                );
            }
            l.done.insert(j, group);
            bar.inc(1);
            bar.set_message(format!("{} rollouts, {rate:.0} tok/s", l.rollouts));
            Ok(())
        };
        self.engine.generate_groups(&settings, self.batch_rows, source, sink)?;
        bar.finish_and_clear();
        let l = ledger.into_inner();
        let n = u32::try_from(l.started.len()).context("problem index overflow")?;
        if l.done.len() != l.started.len() {
            bail!("{} groups were started but {} came back", l.started.len(), l.done.len());
        }
        let rollouts = l.done.into_values().flatten().collect();
        Ok((rollouts, n, started.elapsed().as_secs_f64()))
    }
}

/// What [`Miner::generate`]'s groups have used so far: finished groups at their real size,
/// groups still decoding at their worst case.
#[derive(Default)]
struct Ledger {
    /// Start time, problem and prompt of every group started, by problem index.
    started: Vec<(Instant, Problem, Vec<u32>)>,
    /// Finished groups by problem index.
    done: BTreeMap<u32, Vec<Rollout>>,
    rollouts: usize,
    bytes: u64,
    tokens: usize,
    reserved_rollouts: usize,
    reserved_bytes: u64,
    /// The longest a group has taken from its start to its end, so far.
    longest_s: Option<f64>,
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
fn progress_bar(window: u64, budget: Budget) -> ProgressBar {
    let bar = match budget {
        Budget::Problems(n) => ProgressBar::new(u64::from(n)),
        Budget::UntilDeadline => ProgressBar::new_spinner(),
    };
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let template = match budget {
        Budget::Problems(_) => "window {prefix} [{bar:30}] {pos}/{len} problems {msg} ({elapsed})",
        Budget::UntilDeadline => "window {prefix} {spinner} {pos} problems {msg} ({elapsed})",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(window.to_string());
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// Checks that the network's environment is the one loaded (id and version).
pub fn check_environment(env: &dyn Environment, params: &NetworkParams) -> anyhow::Result<()> {
    if env.id() != params.environment.id || env.version() != params.environment.version {
        bail!(
            "environment {} v{} is loaded but the network uses {} v{}",
            env.id(),
            env.version(),
            params.environment.id,
            params.environment.version
        );
    }
    Ok(())
}

#[cfg(test)]
#[path = "window_loop_tests.rs"]
mod tests;
