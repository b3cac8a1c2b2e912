#![allow(clippy::unwrap_used)]

use std::path::Path;

use grail_protocol::codec::{decode, Limits};
use grail_protocol::signing::verify_window_file;

use super::*;
use crate::env::sat::format_bits;
use crate::env::{AnswerKey, SatEnv};

const STOP_IDS: &[u32] = &[0, 2];

fn renderer() -> PromptRenderer {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/tiny");
    PromptRenderer::from_model_dir(&dir).unwrap()
}

fn planted_text(problem: &Problem) -> String {
    let AnswerKey::Sat(key) = &problem.answer else { panic!("not a SAT problem") };
    format!("ok <SOLUTION>{}</SOLUTION>", format_bits(&key.planted))
}

/// A completion: its tokens, made-up logprobs and commitments, and the stop reason.
fn generated(tokens: Vec<u32>) -> GeneratedRollout {
    let n = tokens.len();
    let stop = if tokens.last().is_some_and(|t| STOP_IDS.contains(t)) {
        StopReason::Eos
    } else {
        StopReason::Length
    };
    GeneratedRollout {
        logprobs: (0..n).map(|i| -0.01 * i as f32).collect(),
        commitments: (0..n as u32).map(|i| i.wrapping_mul(0x9e37_79b9)).collect(),
        tokens,
        stop,
    }
}

/// A group in which rollouts 0, 5 and 9 answer correctly (one with the stop token at the end),
/// the others write junk.
fn group(renderer: &PromptRenderer, problem: &Problem) -> Vec<GeneratedRollout> {
    let right = renderer.encode(&planted_text(problem)).unwrap();
    let wrong = renderer.encode("<SOLUTION>maybe</SOLUTION> and more").unwrap();
    (0..GROUP_SIZE)
        .map(|r| match r {
            0 => generated([right.clone(), vec![2]].concat()),
            5 | 9 => generated(right.clone()),
            3 => generated(vec![7, 8, 0]),
            _ => generated(wrong.clone()),
        })
        .collect()
}

#[test]
fn a_group_is_scored_and_committed_as_the_validator_recomputes_it() {
    let renderer = renderer();
    let scorer = Scorer { env: &SatEnv, renderer: &renderer, stop_ids: STOP_IDS };
    let problem = SatEnv.generate([5; 32]);
    let prompt = renderer.problem_tokens(&problem).unwrap();
    let gen = group(&renderer, &problem);
    let rollouts = scorer.assemble_group(3, &prompt, &problem, gen.clone()).unwrap();

    assert_eq!(rollouts.len(), GROUP_SIZE as usize);
    let mut rewards = Vec::new();
    for (r, (ro, g)) in rollouts.iter().zip(&gen).enumerate() {
        assert_eq!((ro.problem_index, ro.rollout_index), (3, r as u32));
        assert_eq!(ro.prompt_tokens, prompt);
        assert_eq!((&ro.completion_tokens, &ro.logprobs), (&g.tokens, &g.logprobs));
        assert_eq!(ro.commitments, g.commitments);
        assert_eq!(ro.merkle_root, ro.compute_merkle_root().unwrap());
        // Scored from the text without the final stop token.
        let text = renderer.decode_completion(&g.tokens, STOP_IDS).unwrap();
        let want = SatEnv.score(&problem, &text).unwrap();
        assert_eq!((ro.reward.to_bits(), ro.success), (want.reward.to_bits(), want.success));
        rewards.push(ro.reward);
    }
    assert!(rollouts[0].success && rollouts[5].success && rollouts[9].success);
    assert!(!rollouts[1].success);
    // The stop token does not cost the "nothing after the closing tag" credit.
    assert_eq!(rollouts[0].reward, rollouts[5].reward);
    let advantages: Vec<f32> = rollouts.iter().map(|r| r.advantage).collect();
    assert_eq!(advantages, grpo_advantages(&rewards).unwrap());
    assert!(advantages[0] > 0.0 && advantages[1] < 0.0);
}

#[test]
fn malformed_groups_are_refused() {
    let renderer = renderer();
    let scorer = Scorer { env: &SatEnv, renderer: &renderer, stop_ids: STOP_IDS };
    let problem = SatEnv.generate([6; 32]);
    let mut gen = group(&renderer, &problem);
    gen.pop();
    let err = scorer.assemble_group(0, &[1], &problem, gen).unwrap_err();
    assert!(matches!(err, AssemblyError::GroupSize { got: 15, want: 16, .. }), "{err}");

    let mut gen = group(&renderer, &problem);
    gen[4].commitments.pop();
    let err = scorer.assemble_group(0, &[1], &problem, gen).unwrap_err();
    assert!(matches!(err, AssemblyError::Lengths { rollout: 4, .. }), "{err}");

    let mut gen = group(&renderer, &problem);
    gen[2].stop = StopReason::Eos;
    let err = scorer.assemble_group(0, &[1], &problem, gen).unwrap_err();
    assert!(matches!(err, AssemblyError::BadStop { rollout: 2, .. }), "{err}");

    let mut gen = group(&renderer, &problem);
    gen[7].tokens[0] = 100_000;
    let err = scorer.assemble_group(0, &[1], &problem, gen).unwrap_err();
    assert!(matches!(err, AssemblyError::Decode { rollout: 7, .. }), "{err}");

    let arith = crate::env::ArithEnv.generate([1; 32]);
    let err = scorer.assemble_group(0, &[1], &arith, group(&renderer, &problem)).unwrap_err();
    assert!(matches!(err, AssemblyError::Environment { .. }), "{err}");
}

#[test]
fn sealed_file_verifies_and_decodes_to_itself() {
    let renderer = renderer();
    let scorer = Scorer { env: &SatEnv, renderer: &renderer, stop_ids: STOP_IDS };
    let pair = HotkeyPair::from_mini_secret(&[3; 32]).unwrap();
    let mut rollouts = Vec::new();
    for j in 0..2u32 {
        let problem = SatEnv.generate([j as u8; 32]);
        let prompt = renderer.problem_tokens(&problem).unwrap();
        let gen = group(&renderer, &problem);
        rollouts.extend(scorer.assemble_group(j, &prompt, &problem, gen).unwrap());
    }
    let header = window_header(HeaderFields {
        window: 9,
        hotkey: pair.hotkey(),
        model_id: grail_protocol::cid::cid_of_bytes(b"m").to_bytes(),
        beacon: BeaconRecord { round: 12, randomness: [1; 32], signature: vec![2; 48] },
        first_block_hash: [3; 32],
        fingerprint: [4; 32],
        environment: EnvironmentSpec { id: "sat".into(), version: 1 },
        generation: GenerationParams::default(),
    });
    assert_eq!(header.protocol_version, PROTOCOL_VERSION);
    let (file, bytes) = seal(&pair, header.clone(), rollouts).unwrap();
    verify_window_file(&file).unwrap();
    assert_eq!(decode(&bytes, &Limits::default()).unwrap(), file);
    assert_eq!(file.rollouts.len(), 2 * GROUP_SIZE as usize);

    let other = HotkeyPair::from_mini_secret(&[4; 32]).unwrap();
    assert!(seal(&other, header, file.rollouts.clone()).is_err());

    // Resealing an honest file changes nothing but the (randomized) signatures.
    let mut again = file.clone();
    reseal(&pair, &mut again).unwrap();
    verify_window_file(&again).unwrap();
    for (a, b) in again.rollouts.iter().zip(&file.rollouts) {
        assert_eq!((a.merkle_root, a.advantage.to_bits()), (b.merkle_root, b.advantage.to_bits()));
    }
    // After an edit it recomputes what depends on the edited field, and signs again.
    let mut edited = file.clone();
    edited.rollouts[17].reward += 0.5;
    edited.rollouts[3].completion_tokens[0] ^= 1;
    reseal(&pair, &mut edited).unwrap();
    verify_window_file(&edited).unwrap();
    assert_ne!(edited.rollouts[3].merkle_root, file.rollouts[3].merkle_root);
    assert_eq!(edited.rollouts[3].merkle_root, edited.rollouts[3].compute_merkle_root().unwrap());
    assert_ne!(edited.rollouts[16].advantage, file.rollouts[16].advantage, "group 1 re-scored");
    assert_eq!(edited.rollouts[0].advantage, file.rollouts[0].advantage, "group 0 unchanged");
    // Only the file's own hotkey can sign it.
    assert!(reseal(&other, &mut edited).is_err());
}
