//! One window, all miners: the stages in order, the duplicates across files, the scores'
//! inputs, and the [`WindowOutcome`] for [`crate::state::State::record_window`].
//!
//! Deterministic: every input is in [`WindowInputs`] (no clock is read for what it returns,
//! `processed_at_unix` included; only the progress lines are timed), miners are visited in
//! hotkey byte order, and every selection comes from the challenge beacon and the files' CIDs.
//! An `Err` is the validator's own failure (its beacons, its model, its configuration); a
//! miner's fault is always a verdict.

use std::collections::{BTreeMap, BTreeSet};

use grail_challenges::assembly::Scorer;
use grail_challenges::env::{environment_by_id, Environment};
use grail_drand::{ChainInfo, VerifiedBeacon};
use grail_protocol::commitment::CommitmentKey;
use grail_protocol::hash::Hash32;
use grail_protocol::keys::Hotkey;
use grail_protocol::params::NetworkParams;
use grail_protocol::seeds::window_seed;
use grail_protocol::verify_params::VerifyParams;
use grail_protocol::window::{ChainClock, WindowSchedule};

use super::duplicates::{completion_hash, unique_estimated, unique_verified, Candidate};
use super::fetch::{check_file, hotkey_of_key, FetchedObject, ParsedFile};
use super::forward::{verify_forward, ForwardContext, ForwardStats};
use super::header::{check_header, HeaderExpectations};
use super::progress::CheckProgress;
use super::reward::check_rewards;
use super::select::{exclusion_windows, miners_to_check, rollouts_to_check};
use super::signatures::check_signatures;
use super::structure::{check_structure, StructureContext};
use super::{Failure, ModelVerifier};
use crate::error::PipelineError;
use crate::state::{Exclusion, Stage, Verdict, VerdictResult, WindowOutcome};
use crate::ValidatorError;

/// Everything one window's verdicts depend on besides the model.
#[derive(Debug, Clone, Copy)]
pub struct WindowInputs<'a> {
    /// The window.
    pub window: u64,
    /// The network's parameters.
    pub network: &'a NetworkParams,
    /// The verification parameters.
    pub verify: &'a VerifyParams,
    /// Block times of the chain (window start, deadline, challenge time).
    pub clock: ChainClock,
    /// The drand chain (its key and round clock).
    pub drand: &'a ChainInfo,
    /// The beacon of the round at the window's start, verified under `drand`'s key.
    pub mining_beacon: &'a VerifiedBeacon,
    /// The beacon of the round at the challenge time, verified under `drand`'s key.
    pub challenge_beacon: &'a VerifiedBeacon,
    /// Hash of the window's first block, from the chain source.
    pub first_block_hash: Hash32,
    /// The network's `model_id` for this window (binary CID); must be the loaded model's.
    pub model_id: &'a [u8],
    /// Registered miners: hotkey to uid. Files of other hotkeys are ignored.
    pub miners: &'a BTreeMap<Hotkey, u16>,
    /// Miners under an exclusion covering this window.
    pub excluded: &'a BTreeSet<Hotkey>,
    /// What [`super::fetch_window`] found under `windows/{w}/`.
    pub objects: &'a [FetchedObject],
    /// Recorded as the outcome's processing time (an input, so replays match).
    pub processed_at_unix: u64,
}

/// An object under `windows/{w}/` that names no registered miner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredObject {
    /// Its key.
    pub key: String,
    /// Why it was ignored.
    pub reason: &'static str,
}

/// A passed miner's file: its CID (binary) and the indices of the rollouts checked in it,
/// ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedFile {
    pub cid: Vec<u8>,
    pub rollouts: Vec<u32>,
}

/// What [`verify_window`] returns.
#[derive(Debug, Clone)]
pub struct WindowReport {
    /// Verdicts and exclusions, ready for [`crate::state::State::record_window`].
    pub outcome: WindowOutcome,
    /// Forward-pass totals of each miner that reached stage 5 and passed it.
    pub forward: BTreeMap<Hotkey, ForwardStats>,
    /// Each passed miner's file: its CID and the rollouts checked in it.
    pub checked: BTreeMap<Hotkey, CheckedFile>,
    /// Objects that name no registered miner.
    pub ignored: Vec<IgnoredObject>,
    /// Wall seconds of each checked miner's file through each stage it reached (`header`,
    /// `signatures`, `rollouts`, `forward`, `reward`), for the metrics only.
    pub stage_seconds: Vec<(&'static str, f64)>,
    /// Miners selected for the full checks.
    pub selected: usize,
}

impl WindowReport {
    /// Wall seconds of the selected miners' checks past the header stage (the first header
    /// check computes the window's fingerprint, a cost of the window, not of the miner).
    pub fn checked_seconds(&self) -> f64 {
        self.stage_seconds.iter().filter(|(stage, _)| *stage != "header").map(|(_, s)| s).sum()
    }
}

/// The protocol's schedule of `window` on these clocks (what the live loop fetches, and when).
pub fn window_schedule(
    window: u64,
    network: &NetworkParams,
    clock: &ChainClock,
    drand: &ChainInfo,
) -> Result<WindowSchedule, ValidatorError> {
    WindowSchedule::of(window, network, clock, &drand.round_clock()).map_err(|e| {
        PipelineError::Setup { reason: format!("schedule of window {window}: {e}") }.into()
    })
}

/// The last upload second that counts: the network's deadline plus the validator's slack.
pub fn upload_deadline(schedule: &WindowSchedule, verify: &VerifyParams) -> u64 {
    schedule.deadline_unix.saturating_add(verify.upload_grace_s)
}

/// A beacon given for `window` must be of the round its schedule names.
fn check_round(
    which: &'static str,
    window: u64,
    beacon: &VerifiedBeacon,
    round: u64,
) -> Result<(), PipelineError> {
    if beacon.round() == round {
        return Ok(());
    }
    Err(PipelineError::Beacon {
        which,
        window,
        reason: format!("round {} given, the window needs round {round}", beacon.round()),
    })
}

/// The window's setup shared by every miner.
struct Shared<'a> {
    inputs: &'a WindowInputs<'a>,
    env: Box<dyn Environment>,
    mining: &'a VerifiedBeacon,
    challenge: &'a VerifiedBeacon,
    seed: Hash32,
    key: CommitmentKey,
    stop_ids: Vec<u32>,
    deadline_unix: u64,
}

/// Verifies one window for every registered miner.
pub fn verify_window(
    verifier: &mut ModelVerifier,
    inputs: &WindowInputs<'_>,
) -> Result<WindowReport, ValidatorError> {
    verify_window_observed(verifier, inputs, &mut |_, _| {})
}

/// [`verify_window`], telling `on_checked(checked, selected)` before the first selected
/// miner's checks and after each (progress only: nothing it does changes the outcome).
pub fn verify_window_observed(
    verifier: &mut ModelVerifier,
    inputs: &WindowInputs<'_>,
    on_checked: &mut dyn FnMut(usize, usize),
) -> Result<WindowReport, ValidatorError> {
    let shared = prepare(verifier, inputs)?;
    let w = inputs.window;
    let mut ignored = Vec::new();
    let mut files: BTreeMap<Hotkey, &FetchedObject> = BTreeMap::new();
    for o in inputs.objects {
        match hotkey_of_key(&o.key, w) {
            None => {
                ignored.push(IgnoredObject { key: o.key.clone(), reason: "not a window file name" })
            }
            Some(h) if !inputs.miners.contains_key(&h) => {
                ignored.push(IgnoredObject { key: o.key.clone(), reason: "hotkey not registered" })
            }
            Some(h) => {
                files.insert(h, o);
            }
        }
    }
    // Stage 1 for every registered, non-excluded miner with an object: attributed or absent.
    let limits = inputs.verify.limits();
    let attributed: BTreeMap<Hotkey, Result<ParsedFile, String>> = files
        .iter()
        .filter(|(h, _)| !inputs.excluded.contains(*h))
        .map(|(h, o)| (*h, check_file(o, *h, w, shared.deadline_unix, &limits)))
        .collect();
    let candidates: Vec<Hotkey> =
        attributed.iter().filter(|(_, p)| p.is_ok()).map(|(h, _)| *h).collect();
    let selected = miners_to_check(shared.challenge.randomness(), &candidates, inputs.verify);
    let excluded_for = exclusion_windows(inputs.verify, candidates.len(), selected.len());

    let mut verdicts = Vec::with_capacity(inputs.miners.len());
    let mut exclusions = Vec::new();
    let mut passed: Vec<(usize, Candidate)> = Vec::new();
    let mut forward = BTreeMap::new();
    let mut checked = BTreeMap::new();
    let mut progress = CheckProgress::start(w, selected.len());
    let mut checked_so_far = 0;
    on_checked(0, selected.len());
    let mut stage_seconds = Vec::new();
    for (&hotkey, &uid) in inputs.miners {
        let mut v = Verdict {
            hotkey,
            uid,
            stage: Stage::File,
            result: VerdictResult::Absent,
            reason: None,
            rollouts_in_file: 0,
            rollouts_checked: 0,
            unique_verified: 0,
            unique_estimated: 0,
        };
        if inputs.excluded.contains(&hotkey) {
            v.stage = Stage::Excluded;
            v.result = VerdictResult::Unchecked;
            v.reason = Some("excluded after an earlier failure".into());
        } else if let Some(file) = attributed.get(&hotkey) {
            match file {
                Err(why) => v.reason = Some(format!("no file of this miner: {why}")),
                Ok(parsed) => {
                    v.rollouts_in_file = parsed.file.rollouts.len() as u64;
                    if !selected.contains(&hotkey) {
                        v.result = VerdictResult::Unchecked;
                        v.reason = Some("not selected for checking this window".into());
                    } else {
                        let started = std::time::Instant::now();
                        match check_miner(verifier, &shared, parsed, &mut stage_seconds)? {
                            Err(f) => fail(&mut v, &mut exclusions, w, excluded_for, f),
                            Ok((candidate, stats, indices)) => {
                                v.rollouts_checked = candidate.checked.len() as u64;
                                forward.insert(hotkey, stats);
                                checked.insert(
                                    hotkey,
                                    CheckedFile { cid: parsed.cid.clone(), rollouts: indices },
                                );
                                passed.push((verdicts.len(), candidate));
                            }
                        }
                        progress.checked(&v, &hotkey, started);
                        checked_so_far += 1;
                        on_checked(checked_so_far, selected.len());
                    }
                }
            }
        }
        verdicts.push(v);
    }

    let owned: Vec<Candidate> = passed.iter().map(|(_, c)| c.clone()).collect();
    let unique = unique_verified(&owned);
    for (index, c) in &passed {
        let v = &mut verdicts[*index];
        v.stage = Stage::Duplicates;
        v.result = VerdictResult::Pass;
        v.unique_verified = unique.get(&c.hotkey).copied().unwrap_or(0);
        v.unique_estimated =
            unique_estimated(v.unique_verified, v.rollouts_checked, v.rollouts_in_file);
    }

    let outcome = WindowOutcome {
        window: w,
        beacon_round: shared.challenge.round(),
        randomness: *shared.challenge.randomness(),
        processed_at_unix: inputs.processed_at_unix,
        files: inputs.objects.len() as u64,
        verdicts,
        exclusions,
    };
    let selected = selected.len();
    Ok(WindowReport { outcome, forward, checked, ignored, stage_seconds, selected })
}

/// Records failure `f` in `v`; a failure that is not a mismatch excludes the miner for the
/// `excluded_for` windows after `window`.
fn fail(
    v: &mut Verdict,
    exclusions: &mut Vec<Exclusion>,
    window: u64,
    excluded_for: u64,
    f: Failure,
) {
    v.stage = f.stage;
    v.rollouts_checked = 0;
    if f.mismatch {
        // A misconfigured miner: this window scores nothing, no exclusion follows.
        v.result = VerdictResult::Mismatch;
        v.reason = Some(f.reason);
        return;
    }
    v.result = VerdictResult::Fail;
    let from = window.saturating_add(1);
    exclusions.push(Exclusion {
        hotkey: v.hotkey,
        from_window: from,
        until_window: from.saturating_add(excluded_for),
        reason: format!("window {window}: {f}"),
    });
    v.reason = Some(f.reason);
}

fn prepare<'a>(
    verifier: &ModelVerifier,
    inputs: &'a WindowInputs<'a>,
) -> Result<Shared<'a>, ValidatorError> {
    let w = inputs.window;
    let setup = |reason: String| PipelineError::Setup { reason };
    inputs.network.validate().map_err(|e| setup(format!("network parameters: {e}")))?;
    inputs.verify.validate().map_err(|e| setup(format!("verification parameters: {e}")))?;
    if inputs.model_id != verifier.model_id() {
        return Err(setup(format!(
            "window {w} names model_id {} but the loaded model's is {}",
            hex::encode(inputs.model_id),
            hex::encode(verifier.model_id())
        ))
        .into());
    }
    let spec = &inputs.network.environment;
    let env = environment_by_id(&spec.id).map_err(|e| setup(e.to_string()))?;
    if env.version() != spec.version {
        return Err(setup(format!(
            "the network's environment {} is version {}, this validator has {}",
            spec.id,
            spec.version,
            env.version()
        ))
        .into());
    }
    let times = window_schedule(w, inputs.network, &inputs.clock, inputs.drand)?;
    let (mining, challenge) = (inputs.mining_beacon, inputs.challenge_beacon);
    check_round("mining", w, mining, times.mining_round)?;
    check_round("challenge", w, challenge, times.challenge_round)?;
    let seed = window_seed(w, mining.randomness(), &inputs.first_block_hash);
    let key = CommitmentKey::derive(&seed, verifier.hidden_size())
        .map_err(|e| setup(format!("commitment key: {e}")))?;
    Ok(Shared {
        inputs,
        env,
        mining,
        challenge,
        seed,
        key,
        stop_ids: verifier.stop_ids().to_vec(),
        deadline_unix: upload_deadline(&times, inputs.verify),
    })
}

/// A file that passed stages 2-6: its candidate for duplicates, its forward-pass totals and
/// the indices of the rollouts checked.
type Checked = (Candidate, ForwardStats, Vec<u32>);

/// Stages 2-6 of one selected miner's parsed file; each stage's wall seconds go to `timed`.
fn check_miner(
    verifier: &mut ModelVerifier,
    shared: &Shared<'_>,
    parsed: &ParsedFile,
    timed: &mut Vec<(&'static str, f64)>,
) -> Result<Result<Checked, Failure>, ValidatorError> {
    let inputs = shared.inputs;
    let file = &parsed.file;
    let expected = HeaderExpectations {
        window: inputs.window,
        model_id: inputs.model_id,
        mining_beacon: shared.mining,
        first_block_hash: &inputs.first_block_hash,
        network: inputs.network,
    };
    let randomness = *shared.mining.randomness();
    let mut clock = StageClock::start(timed);
    if let Err(f) =
        check_header(&file.header, &parsed.hotkey, &expected, || verifier.fingerprint(&randomness))?
    {
        return Ok(Err(f));
    }
    clock.lap("header");
    if let Err(f) = check_signatures(file) {
        return Ok(Err(f));
    }
    clock.lap("signatures");
    let structure = StructureContext {
        window_seed: &shared.seed,
        env: shared.env.as_ref(),
        renderer: verifier.renderer(),
        vocab_size: verifier.vocab_size(),
        max_new_tokens: inputs.network.generation.max_new_tokens,
        stop_ids: &shared.stop_ids,
    };
    let problems = match check_structure(file, &structure)? {
        Ok(p) => p,
        Err(f) => return Ok(Err(f)),
    };
    clock.lap("rollouts");
    let checked =
        rollouts_to_check(shared.challenge.randomness(), &parsed.cid, file, inputs.verify);
    let ctx = ForwardContext {
        window_seed: &shared.seed,
        hotkey: &parsed.hotkey,
        generation: &inputs.network.generation,
        key: &shared.key,
        stop_ids: &shared.stop_ids,
        params: inputs.verify,
    };
    let batch = verifier.prefill_batch();
    let stats = match verify_forward(verifier.engine_mut(), file, &checked, &ctx, batch)? {
        Ok(s) => s,
        Err(f) => return Ok(Err(f)),
    };
    clock.lap("forward");
    let reward = Scorer {
        env: shared.env.as_ref(),
        renderer: verifier.renderer(),
        stop_ids: &shared.stop_ids,
    };
    if let Err(f) = check_rewards(file, &problems, &reward) {
        return Ok(Err(f));
    }
    clock.lap("reward");
    let hashes: Vec<Hash32> =
        file.rollouts.iter().map(|r| completion_hash(&r.completion_tokens)).collect();
    let candidate = Candidate {
        hotkey: parsed.hotkey,
        uploaded_unix: parsed.uploaded_unix,
        checked: checked.iter().map(|c| hashes[c.index as usize]).collect(),
        all: hashes,
    };
    let indices = checked.iter().map(|c| c.index).collect();
    Ok(Ok((candidate, stats, indices)))
}

/// Times consecutive stages into a list (a failing stage is not timed).
struct StageClock<'a> {
    laps: &'a mut Vec<(&'static str, f64)>,
    since: std::time::Instant,
}

impl<'a> StageClock<'a> {
    fn start(laps: &'a mut Vec<(&'static str, f64)>) -> Self {
        Self { laps, since: std::time::Instant::now() }
    }

    fn lap(&mut self, stage: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((stage, now.duration_since(self.since).as_secs_f64()));
        self.since = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::testutil::pair;

    fn verdict() -> Verdict {
        Verdict {
            hotkey: pair(1).hotkey(),
            uid: 1,
            stage: Stage::File,
            result: VerdictResult::Absent,
            reason: None,
            rollouts_in_file: 16,
            rollouts_checked: 16,
            unique_verified: 0,
            unique_estimated: 0,
        }
    }

    #[test]
    fn a_mismatch_scores_nothing_without_exclusion_and_a_forgery_is_excluded() {
        let (mut v, mut exclusions) = (verdict(), Vec::new());
        fail(&mut v, &mut exclusions, 7, 12, Failure::mismatch(Stage::Header, "temperature"));
        assert_eq!(
            (v.result, v.stage, v.rollouts_checked),
            (VerdictResult::Mismatch, Stage::Header, 0)
        );
        assert!(exclusions.is_empty());
        let (mut v, mut exclusions) = (verdict(), Vec::new());
        fail(&mut v, &mut exclusions, 7, 12, Failure::new(Stage::Sampling, "token"));
        assert_eq!(v.result, VerdictResult::Fail);
        assert_eq!(exclusions.len(), 1);
        assert_eq!((exclusions[0].from_window, exclusions[0].until_window), (8, 8 + 12));
    }
}
