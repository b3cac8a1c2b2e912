//! The forward checks on synthetic rows: a rollout sampled from them the way the engine samples
//! passes, and each kind of tampering fails at its own check.

#![allow(clippy::unwrap_used)]

use grail_protocol::hash::DomainHasher;
use grail_protocol::sampler::sample;

use super::*;

const VOCAB: usize = 32;
const HIDDEN: usize = 16;
const STOP: u32 = 0;

struct Rows {
    logits: Vec<Vec<f32>>,
    hidden: Vec<Vec<f32>>,
}

impl PositionRows for Rows {
    fn positions(&self) -> usize {
        self.logits.len()
    }
    fn logits_at(&self, t: usize) -> Option<&[f32]> {
        self.logits.get(t).map(Vec::as_slice)
    }
    fn hidden_at(&self, t: usize) -> Option<&[f32]> {
        self.hidden.get(t).map(Vec::as_slice)
    }
}

fn values(tag: u64, t: usize, n: usize, scale: f64) -> Vec<f32> {
    let mut rng = DomainHasher::new("grail/v1/test-rows").u64(tag).u64(t as u64).stream();
    (0..n).map(|_| ((uniform_f64(&mut rng) - 0.5) * scale) as f32).collect()
}

struct Setup {
    seed: Hash32,
    hotkey: Hotkey,
    generation: GenerationParams,
    key: CommitmentKey,
    params: VerifyParams,
}

impl Setup {
    fn new(max_new_tokens: u32) -> Self {
        let seed = [9u8; 32];
        Self {
            seed,
            hotkey: Hotkey([5; 32]),
            generation: GenerationParams {
                temperature: 0.7,
                max_new_tokens,
                eos_probability_floor: 0.0,
            },
            key: CommitmentKey::derive(&seed, HIDDEN).unwrap(),
            params: VerifyParams::default(),
        }
    }

    fn ctx(&self) -> ForwardContext<'_> {
        ForwardContext {
            window_seed: &self.seed,
            hotkey: &self.hotkey,
            generation: &self.generation,
            key: &self.key,
            stop_ids: &[STOP],
            params: &self.params,
        }
    }

    /// Generates like the engine: at each step the row's logits pick the token with the next
    /// `u_t`. With `eos_from = Some(s)` the stop token is likely (above every other logit)
    /// from position `s` on and impossible before; with `None` it is impossible throughout.
    fn generate(&self, tag: u64, eos_from: Option<usize>) -> (Rows, Rollout) {
        let mut stream = sample_stream(&self.seed, &self.hotkey, 0, 0);
        let mut rows = Rows { logits: Vec::new(), hidden: Vec::new() };
        let mut r = Rollout {
            problem_index: 0,
            rollout_index: 0,
            prompt_tokens: vec![1],
            completion_tokens: Vec::new(),
            logprobs: Vec::new(),
            commitments: Vec::new(),
            merkle_root: [0; 32],
            reward: 0.0,
            success: false,
            advantage: 0.0,
            signature: [0; 64],
        };
        for t in 0..self.generation.max_new_tokens as usize {
            let mut logits = values(tag, t, VOCAB, 6.0);
            logits[STOP as usize] = match eos_from {
                Some(s) if t >= s => 3.5,
                _ => -100.0,
            };
            let hidden = values(tag + 1000, t, HIDDEN, 4.0);
            let s = sample(&logits, self.generation.temperature, uniform_f64(&mut stream)).unwrap();
            r.completion_tokens.push(s.token);
            r.logprobs.push(s.logprob);
            r.commitments.push(self.key.commit(&hidden).unwrap());
            rows.logits.push(logits);
            rows.hidden.push(hidden);
            if s.token == STOP {
                break;
            }
        }
        (rows, r)
    }

    fn run(&self, rows: &Rows, r: &Rollout) -> StageResult<()> {
        let all: Vec<u32> = (0..r.completion_tokens.len() as u32).collect();
        let mut stats = ForwardStats::default();
        check_rollout_forward(3, rows, r, &all, &self.ctx(), &mut stats).unwrap()
    }
}

/// A token other than `token` that is not the stop token.
fn other(token: u32) -> u32 {
    1 + (token + 7) % (VOCAB as u32 - 1)
}

#[test]
fn honest_rollouts_pass_both_ways_of_ending() {
    let s = Setup::new(12);
    let mut eos = 0;
    for tag in 0..40 {
        let (rows, r) = s.generate(tag, Some(10));
        s.run(&rows, &r).unwrap();
        eos += usize::from(r.completion_tokens.last() == Some(&STOP));
    }
    // Both endings were exercised.
    assert!(eos > 0 && eos < 40, "{eos}");
}

#[test]
fn a_changed_token_fails_sampling() {
    let s = Setup::new(16);
    let (rows, mut r) = s.generate(1, None);
    r.completion_tokens[4] = other(r.completion_tokens[4]);
    let err = s.run(&rows, &r).unwrap_err();
    assert_eq!(err.stage, Stage::Sampling, "{err}");
    assert!(err.reason.contains("rollout 3") && err.reason.contains("position 4"), "{err}");
}

#[test]
fn misses_within_tolerance_are_counted_not_failed() {
    let pass = |misses: Vec<(usize, f64)>| SamplingPass {
        misses,
        recomputed: vec![],
        worst_exact_distance: 0.0,
    };
    // The defaults allow no miss at all.
    let none = check_sampling(0, &pass(vec![(2, 5e-4)]), &VerifyParams::default()).unwrap_err();
    assert!(none.reason.contains("1 sampling misses"), "{none}");
    // A network that allows one counts it, and still fails two or a far one.
    let p = VerifyParams { max_sampling_misses: 1, ..VerifyParams::default() };
    check_sampling(0, &pass(vec![(2, 5e-4)]), &p).unwrap();
    let two = check_sampling(0, &pass(vec![(2, 5e-4), (7, -2e-4)]), &p).unwrap_err();
    assert!(two.reason.contains("2 sampling misses"), "{two}");
    let far = check_sampling(0, &pass(vec![(2, 0.3)]), &p).unwrap_err();
    assert!(far.reason.contains("position 2"), "{far}");
}

#[test]
fn shifted_logprobs_fail_on_the_robust_statistic() {
    let s = Setup::new(16);
    let (rows, r) = s.generate(2, None);
    // One wild position is tolerated by the median but not by the 95% quantile of 16.
    let mut one = r.clone();
    one.logprobs[3] -= 0.5;
    let err = s.run(&rows, &one).unwrap_err();
    assert_eq!(err.stage, Stage::Logprobs, "{err}");
    assert!(err.reason.contains("quantile"), "{err}");
    // Every position off by a little: the median catches it.
    let mut all = r;
    for l in &mut all.logprobs {
        *l -= 0.005;
    }
    let err = s.run(&rows, &all).unwrap_err();
    assert!(err.reason.contains("median"), "{err}");
}

#[test]
fn logprob_statistics_are_lower_median_and_nearest_rank() {
    let claimed = [0.0f32; 10];
    let recomputed: Vec<f32> = (1..=10).map(|i| -(i as f32)).collect();
    let (median, q) = logprob_statistics(&claimed, &recomputed, 0.95);
    assert_eq!((median, q), (5.0, 10.0));
    let (_, q90) = logprob_statistics(&claimed, &recomputed, 0.9);
    assert_eq!(q90, 9.0);
    let (m, _) = logprob_statistics(&[f32::NAN], &[0.0], 0.5);
    assert!(m.is_infinite());
    assert_eq!(logprob_statistics(&[], &[], 0.95), (0.0, 0.0));
}

#[test]
fn zeroed_commitments_fail_at_commitments() {
    let s = Setup::new(16);
    let (rows, mut r) = s.generate(3, None);
    r.commitments.iter_mut().for_each(|c| *c = 0);
    let err = s.run(&rows, &r).unwrap_err();
    assert_eq!(err.stage, Stage::Commitments, "{err}");
    // Only the challenged positions are looked at.
    let mut late = s.generate(3, None).1;
    late.commitments[10] = 0;
    let mut stats = ForwardStats::default();
    let early: Vec<u32> = (0..8).collect();
    check_rollout_forward(0, &rows, &late, &early, &s.ctx(), &mut stats).unwrap().unwrap();
    assert_eq!(stats.rollouts, 1);
    assert_eq!(stats.tokens, 16);
}

#[test]
fn termination_needs_a_likely_stop_or_the_full_length() {
    let s = Setup::new(16);
    let ctx = s.ctx();
    let (rows, r) = s.generate(4, None);
    assert_eq!(r.completion_tokens.len(), 16);
    // Cut short without a stop token.
    let mut short = r.clone();
    short.completion_tokens.truncate(10);
    short.logprobs.truncate(10);
    short.commitments.truncate(10);
    let short_rows =
        Rows { logits: rows.logits[..10].to_vec(), hidden: rows.hidden[..10].to_vec() };
    let pass = sampling_pass(&short_rows, &short, &ctx).unwrap();
    let err = check_termination(0, &short_rows, &short, &pass, &ctx).unwrap().unwrap_err();
    assert!(err.reason.contains("short of max_new_tokens"), "{err}");
    // Ends on a stop token the model gave almost no mass: not the sample of its u_t.
    let mut stop = r;
    *stop.completion_tokens.last_mut().unwrap() = STOP;
    let pass = sampling_pass(&rows, &stop, &ctx).unwrap();
    assert_eq!(pass.misses.len(), 1, "exactly one miss, the count the allowance permits");
    let err = check_termination(0, &rows, &stop, &pass, &ctx).unwrap().unwrap_err();
    assert_eq!(err.stage, Stage::Termination);
    assert!(err.reason.contains("no miss is allowed at a stop"), "{err}");
    // The floor still applies where a network sets one: an honest, likely stop passes it,
    // and the same stop fails a floor above its probability.
    let (rows, honest) = s.generate(6, Some(3));
    assert_eq!(honest.completion_tokens.last(), Some(&STOP));
    let pass = sampling_pass(&rows, &honest, &ctx).unwrap();
    assert!(pass.misses.is_empty());
    check_termination(0, &rows, &honest, &pass, &ctx).unwrap().unwrap();
    let mut strict = Setup::new(16);
    strict.generation.eos_probability_floor = 0.999;
    let err = check_termination(0, &rows, &honest, &pass, &strict.ctx()).unwrap().unwrap_err();
    assert!(err.reason.contains("below the floor"), "{err}");
}

#[test]
fn the_worst_exact_distance_counts_positions_the_widening_accepts() {
    let mut s = Setup::new(16);
    let (rows, honest) = s.generate(7, None);
    // Honest tokens: every u_t inside its exact interval.
    assert_eq!(sampling_pass(&rows, &honest, &s.ctx()).unwrap().worst_exact_distance, 0.0);
    // A wrong last token: its distance from the exact interval is reported, whether the
    // widening rejects it (a miss) or is wide enough to accept it (no miss).
    let mut wrong = honest;
    let last = wrong.completion_tokens.len() - 1;
    wrong.completion_tokens[last] = (wrong.completion_tokens[last] + 1) % VOCAB as u32;
    let narrow = sampling_pass(&rows, &wrong, &s.ctx()).unwrap();
    let &(t, d) = narrow.misses.first().unwrap();
    assert_eq!(t, last);
    assert!(d != 0.0 && narrow.worst_exact_distance == d.abs());
    s.params.sampling_tolerance = 1.0;
    let wide = sampling_pass(&rows, &wrong, &s.ctx()).unwrap();
    assert!(wide.misses.is_empty());
    assert_eq!(wide.worst_exact_distance, d.abs());
}
