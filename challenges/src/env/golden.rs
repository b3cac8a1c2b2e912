//! Golden vectors for the environments and GRPO advantages: `challenges/vectors/env.json`.
//!
//! Regenerate (only when a version is bumped on purpose) with
//! `cargo test -p grail-challenges env::golden -- --ignored`.

use grail_protocol::hash::DomainHasher;
use serde::Serialize;

use super::*;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/env.json");

#[derive(Serialize)]
struct File {
    about: &'static str,
    environments: Vec<EnvVectors>,
    advantages: Vec<AdvantageCase>,
}

#[derive(Serialize)]
struct EnvVectors {
    env_id: &'static str,
    env_version: u32,
    cases: Vec<Case>,
}

#[derive(Serialize)]
struct Case {
    seed: String,
    problem: Problem,
    completions: Vec<Scored>,
}

#[derive(Serialize)]
struct Scored {
    text: String,
    reward: f32,
    reward_f32_bits: u32,
    success: bool,
    components: Vec<RewardComponent>,
}

#[derive(Serialize)]
struct AdvantageCase {
    rewards: Vec<f32>,
    advantages: Vec<f32>,
    advantages_f32_bits: Vec<u32>,
}

fn seeds() -> Vec<[u8; 32]> {
    let mut seeds = vec![[0u8; 32], [0xff; 32]];
    seeds.extend((0..4u64).map(|i| DomainHasher::new("grail/v1/test/env").u64(i).finish()));
    seeds
}

/// Fixed completions for a problem: correct, wrong and malformed ones.
fn completions(problem: &Problem) -> Vec<String> {
    match &problem.answer {
        AnswerKey::Sat(k) => {
            let good = sat::format_bits(&k.planted);
            let ones = sat::format_bits(&vec![true; k.num_vars as usize]);
            vec![
                format!("The clauses hold with\n<SOLUTION>{good}</SOLUTION>"),
                format!("<SOLUTION>{ones}</SOLUTION>"),
                format!("<SOLUTION>{good} 1</SOLUTION>"),
                format!("<SOLUTION>{good}</SOLUTION> is my answer"),
                format!("<SOLUTION>{good}</SOLUTION>\n<SOLUTION>{ones}</SOLUTION>"),
                format!("<SOLUTION>{}</SOLUTION>", good.replace('1', "T")),
                good,
            ]
        }
        AnswerKey::Arith(k) => {
            let a = k.answer;
            vec![
                format!("Step by step it is {a}.\n<ANSWER>{a}</ANSWER>"),
                format!("<ANSWER>{}</ANSWER>", a + 1),
                format!("<ANSWER>{a}</ANSWER> done"),
                format!("<ANSWER>+{a}</ANSWER>"),
                format!("<ANSWER>{a}</ANSWER><ANSWER>{a}</ANSWER>"),
                format!("{a}"),
            ]
        }
    }
}

fn build() -> File {
    let mut environments = Vec::new();
    let mut advantages = Vec::new();
    for id in ENVIRONMENT_IDS {
        let env = environment_by_id(id).expect("registered");
        let mut cases = Vec::new();
        for seed in seeds() {
            let problem = env.generate(seed);
            let scored: Vec<Scored> = completions(&problem)
                .into_iter()
                .map(|text| {
                    let r = env.score(&problem, &text).expect("own problem");
                    Scored {
                        text,
                        reward: r.reward,
                        reward_f32_bits: r.reward.to_bits(),
                        success: r.success,
                        components: r.components,
                    }
                })
                .collect();
            // One group of 16 rewards per case, cycling through the completions.
            let rewards: Vec<f32> = (0..16).map(|i| scored[i % scored.len()].reward).collect();
            let a = grpo_advantages(&rewards).expect("finite");
            advantages.push(AdvantageCase {
                advantages_f32_bits: a.iter().map(|x| x.to_bits()).collect(),
                rewards,
                advantages: a,
            });
            cases.push(Case { seed: hex::encode(seed), problem, completions: scored });
        }
        environments.push(EnvVectors { env_id: env.id(), env_version: env.version(), cases });
    }
    File {
        about: "grail-rs environments v1: problems generated from 32-byte seeds, rewards of fixed \
completions, and GRPO advantages of 16-reward groups (see challenges/src/env/*.rs docs)",
        environments,
        advantages,
    }
}

fn render() -> String {
    serde_json::to_string_pretty(&build()).expect("serializes") + "\n"
}

#[test]
fn env_vectors_match_file() {
    let expected = std::fs::read_to_string(VECTORS).expect("challenges/vectors/env.json exists");
    assert!(render() == expected, "env vectors changed; see {VECTORS}");
}

#[test]
fn vectors_cover_success_and_failure() {
    let file = build();
    for env in &file.environments {
        let all: Vec<&Scored> = env.cases.iter().flat_map(|c| &c.completions).collect();
        assert!(all.iter().any(|s| s.success) && all.iter().any(|s| !s.success));
    }
}

#[test]
#[ignore = "rewrites challenges/vectors/env.json"]
fn write_env_vectors() {
    std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors")).expect("mkdir");
    std::fs::write(VECTORS, render()).expect("write vectors");
}
