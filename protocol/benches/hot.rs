//! Criterion micro-benchmarks of the protocol's hot pure functions, at SmolLM2-135M's sizes:
//! the sampler over a 49,152-token vocabulary, the commitment projections of a 576-wide hidden
//! state, one 128-token completion's Merkle root, and the codec and signatures of a window file
//! of the default benchmark workload (4 groups of 16 rollouts, 317 prompt and 128 completion
//! tokens each).
//!
//! `cargo bench -p grail-protocol --bench hot [-- criterion options, e.g. --quick or a filter]`.
//! Criterion prints its report on stdout and keeps its history under `target/criterion`; after
//! it, one JSON line per benchmark measured: `name`, `mean_ns` with its 95% interval,
//! `median_ns`, and `per_s` in the benchmark's `unit` (`grep '^{'` keeps only those lines).

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{BatchSize, Criterion, Throughput};
use grail_protocol::codec::{decode, encode, Limits};
use grail_protocol::commitment::{CommitmentKey, DEFAULT_COMMIT_TOLERANCE};
use grail_protocol::hash::{uniform_f64, DomainHasher};
use grail_protocol::keys::HotkeyPair;
use grail_protocol::merkle::{completion_leaves, merkle_root, MerkleTree};
use grail_protocol::params::{
    EnvironmentSpec, GenerationParams, DEFAULT_TEMPERATURE, GROUP_SIZE, PROTOCOL_VERSION,
};
use grail_protocol::sampler::{check_sample, logprob, sample};
use grail_protocol::seeds::sample_stream;
use grail_protocol::signing::{sign_window_file, verify_window_file};
use grail_protocol::window_file::{BeaconRecord, Rollout, WindowFile, WindowHeader};

const VOCAB: usize = 49_152;
const HIDDEN: usize = 576;
const PROMPT_TOKENS: usize = 317;
const COMPLETION_TOKENS: usize = 128;
const GROUPS: u32 = 4;

/// A benchmark's id and what one iteration processes, for the JSON summary.
struct Entry {
    group: &'static str,
    name: &'static str,
    unit: &'static str,
    per_iter: u64,
}

fn values(domain: u64, n: usize, scale: f64) -> Vec<f32> {
    let mut rng = DomainHasher::new("grail/v1/bench").u64(domain).stream();
    (0..n).map(|_| ((uniform_f64(&mut rng) * 2.0 - 1.0) * scale) as f32).collect()
}

fn window_file(pair: &HotkeyPair) -> Result<WindowFile, Box<dyn std::error::Error>> {
    let mut rollouts = Vec::new();
    for j in 0..GROUPS {
        for r in 0..GROUP_SIZE {
            let seed = u64::from(j * GROUP_SIZE + r);
            let completion_tokens: Vec<u32> =
                (0..COMPLETION_TOKENS as u32).map(|t| (t * 7919 + r) % VOCAB as u32).collect();
            let logprobs = values(seed, COMPLETION_TOKENS, 3.0);
            let commitments: Vec<u32> =
                (0..COMPLETION_TOKENS as u32).map(|t| t.wrapping_mul(0x9e37_79b9)).collect();
            let mut rollout = Rollout {
                problem_index: j,
                rollout_index: r,
                prompt_tokens: (0..PROMPT_TOKENS as u32)
                    .map(|t| (t * 31 + j) % VOCAB as u32)
                    .collect(),
                completion_tokens,
                logprobs,
                commitments,
                merkle_root: [0; 32],
                reward: 0.5,
                success: r % 2 == 0,
                advantage: 0.25,
                signature: [0; 64],
            };
            rollout.merkle_root = rollout.compute_merkle_root()?;
            rollouts.push(rollout);
        }
    }
    let mut file = WindowFile {
        header: WindowHeader {
            protocol_version: PROTOCOL_VERSION,
            window: 1000,
            hotkey: pair.hotkey(),
            model_id: grail_protocol::cid::cid_of_bytes(b"model").to_bytes(),
            beacon: BeaconRecord { round: 1, randomness: [0x5a; 32], signature: vec![9; 48] },
            first_block_hash: [0x33; 32],
            fingerprint: [4; 32],
            environment: EnvironmentSpec::default(),
            generation: GenerationParams::default(),
            signature: [0; 64],
        },
        rollouts,
    };
    sign_window_file(pair, &mut file)?;
    Ok(file)
}

fn run(c: &mut Criterion) -> Result<Vec<Entry>, Box<dyn std::error::Error>> {
    let mut entries = Vec::new();
    let t = DEFAULT_TEMPERATURE;
    let logits = values(1, VOCAB, 12.0);
    let u = 0.618_033_988_749_894_9;
    let token = sample(&logits, t, u)?.token;

    let mut g = c.benchmark_group("sampler");
    g.throughput(Throughput::Elements(VOCAB as u64));
    g.bench_function("sample", |b| b.iter(|| sample(black_box(&logits), t, black_box(u))));
    g.bench_function("check_sample", |b| {
        b.iter(|| check_sample(black_box(&logits), t, black_box(u), token, 1e-4))
    });
    g.bench_function("logprob", |b| b.iter(|| logprob(black_box(&logits), t, token)));
    g.finish();
    for name in ["sample", "check_sample", "logprob"] {
        entries.push(Entry { group: "sampler", name, unit: "logits", per_iter: VOCAB as u64 });
    }

    let seed = [7u8; 32];
    let hidden = values(2, HIDDEN, 2.0);
    let key = CommitmentKey::derive(&seed, HIDDEN)?;
    let claimed = key.commit(&hidden)?;
    let mut g = c.benchmark_group("commitment");
    g.bench_function("derive_key", |b| b.iter(|| CommitmentKey::derive(black_box(&seed), HIDDEN)));
    g.throughput(Throughput::Elements(1));
    g.bench_function("commit", |b| b.iter(|| key.commit(black_box(&hidden))));
    g.bench_function("check", |b| {
        b.iter(|| key.check(black_box(&hidden), claimed, DEFAULT_COMMIT_TOLERANCE))
    });
    g.finish();
    entries.push(Entry { group: "commitment", name: "derive_key", unit: "keys", per_iter: 1 });
    for name in ["commit", "check"] {
        entries.push(Entry { group: "commitment", name, unit: "positions", per_iter: 1 });
    }

    let pair = HotkeyPair::from_mini_secret(&[7u8; 32])?;
    let file = window_file(&pair)?;
    let one = &file.rollouts[0];
    let leaves = completion_leaves(&one.completion_tokens, &one.logprobs, &one.commitments)?;
    let tree = MerkleTree::new(leaves.clone());
    let mut g = c.benchmark_group("merkle");
    g.throughput(Throughput::Elements(COMPLETION_TOKENS as u64));
    g.bench_function("completion_root", |b| {
        b.iter(|| {
            let leaves = completion_leaves(
                black_box(&one.completion_tokens),
                &one.logprobs,
                &one.commitments,
            );
            leaves.map(|l| merkle_root(&l))
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("proof_and_verify", |b| {
        b.iter(|| {
            let root = tree.root();
            tree.proof(black_box(77)).map(|p| p.verify(&leaves[77], &root))
        })
    });
    g.finish();
    entries.push(Entry {
        group: "merkle",
        name: "completion_root",
        unit: "leaves",
        per_iter: COMPLETION_TOKENS as u64,
    });
    entries.push(Entry { group: "merkle", name: "proof_and_verify", unit: "proofs", per_iter: 1 });

    let bytes = encode(&file)?;
    let size = bytes.len() as u64;
    let limits = Limits::default();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Bytes(size));
    g.bench_function("encode", |b| b.iter(|| encode(black_box(&file))));
    g.bench_function("decode", |b| b.iter(|| decode(black_box(&bytes), &limits)));
    g.finish();
    for name in ["encode", "decode"] {
        entries.push(Entry { group: "codec", name, unit: "bytes", per_iter: size });
    }

    let rollouts = file.rollouts.len() as u64;
    let mut g = c.benchmark_group("signing");
    g.throughput(Throughput::Elements(rollouts));
    g.bench_function("sign_window_file", |b| {
        b.iter_batched(
            || file.clone(),
            |mut f| sign_window_file(&pair, &mut f),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("verify_window_file", |b| b.iter(|| verify_window_file(black_box(&file))));
    g.finish();
    for name in ["sign_window_file", "verify_window_file"] {
        entries.push(Entry { group: "signing", name, unit: "rollouts", per_iter: rollouts });
    }

    let hotkey = pair.hotkey();
    let mut g = c.benchmark_group("seeds");
    g.throughput(Throughput::Elements(COMPLETION_TOKENS as u64));
    g.bench_function("sample_stream_uniforms", |b| {
        b.iter(|| {
            let mut rng = sample_stream(black_box(&seed), &hotkey, 3, 5);
            (0..COMPLETION_TOKENS).map(|_| uniform_f64(&mut rng)).sum::<f64>()
        })
    });
    g.finish();
    entries.push(Entry {
        group: "seeds",
        name: "sample_stream_uniforms",
        unit: "uniforms",
        per_iter: COMPLETION_TOKENS as u64,
    });
    Ok(entries)
}

/// `mean` and `median` of criterion's `estimates.json`, if this run measured the benchmark.
fn summary(dir: &Path, entry: &Entry) -> Option<serde_json::Value> {
    let path = dir.join(entry.group).join(entry.name).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let mean = json.get("mean")?;
    let point = mean.get("point_estimate")?.as_f64()?;
    let interval = mean.get("confidence_interval")?;
    let median = json.get("median")?.get("point_estimate")?.as_f64()?;
    Some(serde_json::json!({
        "bench": "protocol",
        "name": format!("{}/{}", entry.group, entry.name),
        "mean_ns": point,
        "mean_lo_ns": interval.get("lower_bound")?.as_f64()?,
        "mean_hi_ns": interval.get("upper_bound")?.as_f64()?,
        "median_ns": median,
        "unit": entry.unit,
        "per_iter": entry.per_iter,
        "per_s": entry.per_iter as f64 * 1e9 / point,
    }))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("criterion");
    let mut c = Criterion::default().output_directory(&dir).configure_from_args();
    // A run's estimates.json files stay behind; only those this run rewrote are reported.
    let started = std::time::SystemTime::now();
    let entries = run(&mut c)?;
    c.final_summary();
    for entry in &entries {
        let path = dir.join(entry.group).join(entry.name).join("new/estimates.json");
        let fresh = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified >= started);
        if let (true, Some(line)) = (fresh, summary(&dir, entry)) {
            println!("{line}");
        }
    }
    Ok(())
}
