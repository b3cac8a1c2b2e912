//! Several groups in one batch against each group alone: on the tiny fixture model, every
//! token, logprob, commitment and stop reason of [`Engine::generate_groups`] is bitwise what
//! [`Engine::generate_group`] makes of the same group, whatever the batch's size; and the same
//! scheduler without aligned padding is not, which shows the comparison can fail.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use grail_fingerprint::{
    BatchStats, Device, Engine, EngineOptions, GeneratedRollout, GroupJob, GroupRequest,
    GroupSettings,
};
use grail_protocol::commitment::CommitmentKey;
use grail_protocol::keys::Hotkey;
use grail_protocol::seeds::sample_stream;

const SEED: [u8; 32] = [0x3c; 32];
const MAX_NEW: usize = 40;
/// Wide enough that completions end at many different lengths.
const STOPS: [u32; 16] = [0, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47];

fn engine(pad_alignment: usize, drop_finished: usize) -> Engine {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny");
    let options =
        EngineOptions { device: Device::Cpu, intra_threads: Some(1), drop_finished, pad_alignment };
    Engine::load(&dir, &options).unwrap()
}

/// Prompts of 5 to 27 tokens, so groups join batches of every length residue.
fn prompt(j: u32) -> Vec<u32> {
    let mut p = vec![1];
    p.extend((0..3 + (j * 7) % 23).map(|i| 60 + (j * 53 + i * 29) % 440));
    p.push(2);
    p
}

fn job(j: u32) -> GroupJob {
    let streams = (0..16).map(|r| sample_stream(&SEED, &Hotkey([9; 32]), j, r)).collect();
    GroupJob { prompt: prompt(j), streams }
}

fn alone(e: &mut Engine, key: &CommitmentKey, j: u32) -> Vec<GeneratedRollout> {
    let job = job(j);
    e.generate_group(&GroupRequest {
        prompt: &job.prompt,
        streams: job.streams,
        temperature: 1.0,
        max_new_tokens: MAX_NEW,
        stop_ids: &STOPS,
        commitment: Some(key),
    })
    .unwrap()
}

fn together(
    e: &mut Engine,
    key: &CommitmentKey,
    groups: u32,
    rows: usize,
) -> (Vec<Vec<GeneratedRollout>>, BatchStats) {
    let settings = GroupSettings {
        temperature: 1.0,
        max_new_tokens: MAX_NEW,
        stop_ids: &STOPS,
        commitment: Some(key),
    };
    let mut next = 0;
    let mut out: Vec<Option<Vec<GeneratedRollout>>> = vec![None; groups as usize];
    let stats = e
        .generate_groups::<grail_fingerprint::Error, _, _>(
            &settings,
            rows,
            || {
                if next == groups {
                    return Ok(None);
                }
                next += 1;
                Ok(Some(job(next - 1)))
            },
            |id, rollouts| {
                assert!(out[id].replace(rollouts).is_none(), "group {id} handed out twice");
                Ok(())
            },
        )
        .unwrap();
    (out.into_iter().map(Option::unwrap).collect(), stats)
}

/// Rollouts (of all groups) that are not bitwise the same.
fn differing(a: &[Vec<GeneratedRollout>], b: &[Vec<GeneratedRollout>]) -> usize {
    assert_eq!(
        a.iter().map(Vec::len).collect::<Vec<_>>(),
        b.iter().map(Vec::len).collect::<Vec<_>>()
    );
    a.iter().flatten().zip(b.iter().flatten()).filter(|(x, y)| !x.same_bits(y)).count()
}

#[test]
fn groups_batched_together_are_bitwise_the_groups_alone() {
    const GROUPS: u32 = 10;
    let key = CommitmentKey::derive(&SEED, 64).unwrap();
    let mut e = engine(16, 4);
    let single: Vec<_> = (0..GROUPS).map(|j| alone(&mut e, &key, j)).collect();
    let lengths: Vec<usize> = single.iter().flatten().map(|r| r.tokens.len()).collect();
    assert!(lengths.iter().min() < lengths.iter().max(), "completions all of one length");
    for (rows, drop) in [(32, 4), (48, 1), (80, 0), (160, 4)] {
        e.set_drop_finished(drop);
        let (batched, stats) = together(&mut e, &key, GROUPS, rows);
        println!("rows {rows}, drop_finished {drop}: {stats:?}");
        assert_eq!(stats.groups, GROUPS as usize);
        assert!(stats.most_groups_at_once >= 2, "groups never shared a batch: {stats:?}");
        assert!(stats.padded_joins >= 1, "no group joined with padding: {stats:?}");
        assert!(stats.row_steps <= rows.max(16) * stats.steps);
        assert_eq!(differing(&single, &batched), 0, "rows {rows}: batching changed rollouts");
    }
}

#[test]
fn padding_that_is_not_aligned_changes_the_results() {
    const GROUPS: u32 = 6;
    let key = CommitmentKey::derive(&SEED, 64).unwrap();
    let mut e = engine(1, 4);
    let single: Vec<_> = (0..GROUPS).map(|j| alone(&mut e, &key, j)).collect();
    let (batched, stats) = together(&mut e, &key, GROUPS, 64);
    let differ = differing(&single, &batched);
    println!("alignment 1: {differ} of {} rollouts differ; {stats:?}", single.len() * 16);
    assert!(stats.padded_joins >= 1);
    assert!(differ > 0, "unaligned padding left every rollout unchanged: the test cannot fail");
}
