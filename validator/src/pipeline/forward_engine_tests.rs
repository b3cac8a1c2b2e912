//! [`verify_forward`] on the tiny model with rollouts the engine generated: the rollouts of two
//! problems interleaved in the file, verified with every batch size, give one verdict, the
//! failure of the first tampered rollout in file order.

#![allow(clippy::unwrap_used)]

use grail_fingerprint::{Device, EngineOptions, GroupRequest};
use grail_protocol::params::GROUP_SIZE;

use super::super::testutil::{tiny_dir, Fixture};
use super::*;

const MAX_NEW_TOKENS: u32 = 20;
/// Wide enough that some rollouts stop on one within the cap.
const STOPS: [u32; 12] = [0, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31];

struct Setup {
    fixture: Fixture,
    engine: Engine,
    generation: GenerationParams,
    key: CommitmentKey,
    params: VerifyParams,
}

impl Setup {
    fn new() -> Self {
        let options =
            EngineOptions { device: Device::Cpu, intra_threads: Some(1), ..Default::default() };
        let engine = Engine::load(&tiny_dir(), &options).unwrap();
        let fixture = Fixture::new(6);
        let key = CommitmentKey::derive(&fixture.seed, engine.spec().hidden_size).unwrap();
        let generation =
            GenerationParams { max_new_tokens: MAX_NEW_TOKENS, ..fixture.network.generation };
        Self { fixture, engine, generation, key, params: VerifyParams::default() }
    }

    /// Two problems' groups, generated as the miner does, interleaved rollout by rollout.
    fn file(&mut self) -> WindowFile {
        let hotkey = self.fixture.pair.hotkey();
        let mut groups = Vec::new();
        for j in 0..2u32 {
            let prompt: Vec<u32> = (0..9 + 4 * j).map(|t| 40 + (t * 17 + j * 5) % 400).collect();
            let request = GroupRequest {
                prompt: &prompt,
                streams: (0..GROUP_SIZE)
                    .map(|r| sample_stream(&self.fixture.seed, &hotkey, j, r))
                    .collect(),
                temperature: self.generation.temperature,
                max_new_tokens: MAX_NEW_TOKENS as usize,
                stop_ids: &STOPS,
                commitment: Some(&self.key),
            };
            let group = self.engine.generate_group(&request).unwrap();
            let rollouts: Vec<Rollout> = group
                .into_iter()
                .zip(0..)
                .map(|(g, r)| Rollout {
                    problem_index: j,
                    rollout_index: r,
                    prompt_tokens: prompt.clone(),
                    completion_tokens: g.tokens,
                    logprobs: g.logprobs,
                    commitments: g.commitments,
                    merkle_root: [0; 32],
                    reward: 0.0,
                    success: false,
                    advantage: 0.0,
                    signature: [0; 64],
                })
                .collect();
            groups.push(rollouts);
        }
        let rollouts =
            groups[0].iter().zip(&groups[1]).flat_map(|(a, b)| [a, b]).cloned().collect();
        WindowFile { header: self.fixture.header(), rollouts }
    }

    fn verify(
        &mut self,
        file: &WindowFile,
        checked: &[CheckedRollout],
        batch: usize,
    ) -> StageResult<ForwardStats> {
        let hotkey = self.fixture.pair.hotkey();
        let ctx = ForwardContext {
            window_seed: &self.fixture.seed,
            hotkey: &hotkey,
            generation: &self.generation,
            key: &self.key,
            stop_ids: &STOPS,
            params: &self.params,
        };
        verify_forward(&mut self.engine, file, checked, &ctx, batch).unwrap()
    }
}

/// Every rollout checked, at every position.
fn all(file: &WindowFile) -> Vec<CheckedRollout> {
    (0..file.rollouts.len())
        .map(|i| CheckedRollout {
            index: i as u32,
            positions: (0..file.rollouts[i].completion_tokens.len() as u32).collect(),
        })
        .collect()
}

#[test]
fn verdicts_do_not_depend_on_the_batch_or_the_interleaving() {
    let mut s = Setup::new();
    let file = s.file();
    let checked = all(&file);
    let stops = file
        .rollouts
        .iter()
        .filter(|r| r.completion_tokens.len() < MAX_NEW_TOKENS as usize)
        .count();
    assert!(stops > 0 && stops < file.rollouts.len(), "both endings: {stops}");

    // Honest: every batch size passes with the same totals.
    let one = s.verify(&file, &checked, 1).unwrap();
    assert_eq!(one.rollouts, 2 * GROUP_SIZE as u64);
    for batch in [3, 16, 64] {
        let other = s.verify(&file, &checked, batch).unwrap();
        assert_eq!(
            (other.rollouts, other.tokens, other.sampling_misses),
            (one.rollouts, one.tokens, one.sampling_misses)
        );
        assert!((other.worst_commit_distance - one.worst_commit_distance).abs() < 1e-6);
    }

    // Tampered: a later rollout of problem 0 and an earlier one of problem 1 (whose group runs
    // second), plus one more of problem 1 after both.
    let mut bad = file.clone();
    bad.rollouts[6].commitments.iter_mut().for_each(|c| *c = 0);
    let t = &mut bad.rollouts[3].completion_tokens[0];
    *t = 40 + (*t + 1) % 400;
    bad.rollouts[9].logprobs.iter_mut().for_each(|l| *l -= 1.0);
    // The reference: each rollout verified alone; the first failing one in file order.
    let expected =
        (0..bad.rollouts.len()).find_map(|i| s.verify(&bad, &checked[i..=i], 1).err()).unwrap();
    assert!(expected.reason.contains("rollout 3"), "{expected}");
    for batch in [1, 2, 16] {
        let got = s.verify(&bad, &checked, batch).unwrap_err();
        assert_eq!(got, expected, "batch {batch}");
    }
    // Only the rollouts checked count: without rollout 3, rollout 6 is the first.
    let skip3: Vec<CheckedRollout> = checked.iter().filter(|c| c.index != 3).cloned().collect();
    let got = s.verify(&bad, &skip3, 16).unwrap_err();
    assert_eq!(got.stage, Stage::Commitments, "{got}");
    assert!(got.reason.contains("rollout 6"), "{got}");
}

#[test]
fn chunks_group_by_prompt_in_order_of_first_appearance() {
    let (a, b, c): (&[u32], &[u32], &[u32]) = (&[1, 2], &[1, 3], &[1, 2, 3]);
    let prompts = [a, b, a, c, b, a, a];
    assert_eq!(
        shared_prompt_chunks(&prompts, 2),
        vec![vec![0, 2], vec![5, 6], vec![1, 4], vec![3]]
    );
    assert_eq!(shared_prompt_chunks(&prompts, 0), shared_prompt_chunks(&prompts, 1));
    assert_eq!(shared_prompt_chunks(&prompts, 1).len(), prompts.len());
    assert!(shared_prompt_chunks(&[], 4).is_empty());
}
