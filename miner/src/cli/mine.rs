//! `grail-miner mine`: the window loop, or one window (`--window W --problems N`).
//!
//! Settings come from flags (each with a `GRAIL_*` variable) over an optional TOML file
//! (`--config FILE`, every key optional, sections mirroring the dotted flag names):
//!
//! ```toml
//! model = "models/smollm2-135m"
//! device = "cpu"          # or "cuda", "cuda:1"
//! threads = 2
//! env = "sat"
//! temperature = 0.7
//! max_new_tokens = 512
//! [wallet]
//! path = "~/.bittensor/wallets"
//! name = "default"
//! hotkey = "default"
//! [beacon]
//! chain = "quicknet"      # quicknet | mainnet | local
//! relays = ["https://api.drand.sh"]
//! [chain]
//! genesis = 0             # unix s of block 0 of the local clock chain
//! block_time = 12
//! [window]
//! blocks = 30
//! grace = 30
//! margin = 15             # seconds kept free before the deadline
//! [storage]
//! path = "grail-storage"  # or url = "s3://bucket/prefix", endpoint, region, ...
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use grail_challenges::chain::LocalClockChain;
use grail_challenges::drand::{ClientOptions, PinnedChain};
use grail_challenges::env::environment_by_id;
use grail_challenges::prompt::PromptRenderer;
use grail_challenges::store::{StorageArgs, StorageConfig, WindowStore};
use grail_fingerprint::{Device, Engine, EngineOptions};
use grail_miner::wallet::{self, WalletLocation};
use grail_miner::window_loop::{check_environment, Budget, Miner, WindowReport};
use grail_protocol::params::NetworkParams;
use serde::Deserialize;

const DEFAULT_SAFETY_MARGIN_S: f64 = 15.0;

/// Mine windows: wait for each window's verified beacon, generate complete groups, upload.
#[derive(Debug, Args)]
pub(crate) struct MineArgs {
    /// TOML config file; flags override its values.
    #[arg(long, env = "GRAIL_CONFIG")]
    config: Option<PathBuf>,
    /// Model folder (model.onnx, config.json, tokenizer.json, chat_template.jinja).
    #[arg(long, env = "GRAIL_MODEL")]
    model: Option<PathBuf>,
    /// Folder of Bittensor wallets [default: ~/.bittensor/wallets].
    #[arg(long = "wallet.path", env = "GRAIL_WALLET_PATH")]
    wallet_path: Option<PathBuf>,
    /// Wallet (coldkey) name [default: default].
    #[arg(long = "wallet.name", env = "GRAIL_WALLET_NAME")]
    wallet_name: Option<String>,
    /// Hotkey name [default: default].
    #[arg(long = "wallet.hotkey", env = "GRAIL_WALLET_HOTKEY")]
    wallet_hotkey: Option<String>,
    /// drand chain of the mining beacons [default: quicknet].
    #[arg(long = "beacon.chain", env = "GRAIL_BEACON_CHAIN", value_enum)]
    beacon_chain: Option<PinnedChain>,
    /// drand relay base URL (repeat, or comma-separate in the variable).
    #[arg(long = "beacon.relay", env = "GRAIL_BEACON_RELAYS", value_delimiter = ',')]
    beacon_relays: Vec<String>,
    /// Unix time (s) of block 0 of the local clock chain [default: 0].
    #[arg(long = "chain.genesis", env = "GRAIL_CHAIN_GENESIS")]
    chain_genesis: Option<u64>,
    /// Seconds per block [default: 12].
    #[arg(long = "chain.block-time", env = "GRAIL_CHAIN_BLOCK_TIME")]
    chain_block_time: Option<u64>,
    /// Blocks per window, L [default: 30].
    #[arg(long = "window.blocks", env = "GRAIL_WINDOW_BLOCKS")]
    window_blocks: Option<u64>,
    /// Upload grace period after the next window starts, in seconds [default: 30].
    #[arg(long = "window.grace", env = "GRAIL_WINDOW_GRACE")]
    window_grace: Option<u64>,
    /// Seconds kept free before the upload deadline for signing and upload [default: 15].
    #[arg(long = "window.margin", env = "GRAIL_WINDOW_MARGIN")]
    window_margin: Option<f64>,
    /// Problem environment: sat or arith [default: sat].
    #[arg(long = "env", env = "GRAIL_ENV")]
    env: Option<String>,
    /// Sampling temperature [default: 0.7].
    #[arg(long, env = "GRAIL_TEMPERATURE")]
    temperature: Option<f32>,
    /// Completion length cap in tokens [default: 512].
    #[arg(long = "max-new-tokens", env = "GRAIL_MAX_NEW_TOKENS")]
    max_new_tokens: Option<u32>,
    #[command(flatten)]
    storage: StorageArgs,
    /// cpu, cuda or cuda:N [default: cpu].
    #[arg(long, env = "GRAIL_DEVICE")]
    device: Option<String>,
    /// ONNX Runtime intra-op threads [default: chosen by ONNX Runtime].
    #[arg(long, env = "GRAIL_THREADS")]
    threads: Option<usize>,
    /// One-shot: mine only this window (with --problems), upload, print its report, exit.
    #[arg(long, env = "GRAIL_WINDOW", requires = "problems")]
    window: Option<u64>,
    /// One-shot: exactly this many problems (complete groups of 16).
    #[arg(long, env = "GRAIL_PROBLEMS", requires = "window")]
    problems: Option<u32>,
    /// TEST ONLY (demos and fixtures): after each upload, rewrite the file with a forgery,
    /// Merkle roots and advantages recomputed and signed again; see [`Tamper`].
    #[arg(long = "test.tamper", value_enum, hide = true)]
    tamper: Option<Tamper>,
}

/// TEST ONLY: what `--test.tamper` forges in every rollout of the uploaded file. The file is
/// re-signed, so the validator rejects it at the stage named here, not at `signatures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Tamper {
    /// The middle completion token, replaced by one half the vocabulary away (stage `sampling`).
    Token,
    /// Reward raised by 0.5 (stage `reward`).
    Reward,
    /// Every hidden-state commitment zeroed (stage `commitments`).
    Commitments,
}

/// The TOML file; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct MineConfig {
    model: Option<PathBuf>,
    device: Option<String>,
    threads: Option<usize>,
    env: Option<String>,
    temperature: Option<f32>,
    max_new_tokens: Option<u32>,
    wallet: WalletConfig,
    beacon: BeaconConfig,
    chain: ChainConfig,
    window: WindowConfig,
    storage: StorageConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WalletConfig {
    path: Option<PathBuf>,
    name: Option<String>,
    hotkey: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct BeaconConfig {
    chain: Option<PinnedChain>,
    relays: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ChainConfig {
    genesis: Option<u64>,
    block_time: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WindowConfig {
    blocks: Option<u64>,
    grace: Option<u64>,
    margin: Option<f64>,
}

fn read_config(path: Option<&Path>) -> anyhow::Result<MineConfig> {
    let Some(path) = path else { return Ok(MineConfig::default()) };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))
}

/// `--device`, parsed as `grail-miner generate` does.
fn parse_device(s: &str) -> anyhow::Result<Device> {
    super::generate::parse_device(s).map_err(|e| anyhow::anyhow!("--device: {e}"))
}

pub(crate) fn run(args: MineArgs) -> anyhow::Result<()> {
    let file = read_config(args.config.as_deref())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;

    // Network parameters: defaults, then the file, then the flags.
    let mut params = NetworkParams::default();
    let env_id = args.env.or(file.env).unwrap_or_else(|| params.environment.id.clone());
    let env = environment_by_id(&env_id).context("--env")?;
    params.environment.id = env.id().into();
    params.environment.version = env.version();
    if let Some(v) = args.window_blocks.or(file.window.blocks) {
        params.blocks_per_window = v;
    }
    if let Some(v) = args.chain_block_time.or(file.chain.block_time) {
        params.block_time_s = v;
    }
    if let Some(v) = args.window_grace.or(file.window.grace) {
        params.grace_period_s = v;
    }
    if let Some(v) = args.temperature.or(file.temperature) {
        params.generation.temperature = v;
    }
    if let Some(v) = args.max_new_tokens.or(file.max_new_tokens) {
        params.generation.max_new_tokens = v;
    }
    params.validate().context("network parameters")?;
    check_environment(env.as_ref(), &params)?;
    let chain = LocalClockChain::new(
        args.chain_genesis.or(file.chain.genesis).unwrap_or(0),
        params.block_time_s,
    )
    .context("--chain.block-time")?;

    let location = WalletLocation {
        path: wallet::expand_tilde(
            &args.wallet_path.or(file.wallet.path).unwrap_or_else(|| "~/.bittensor/wallets".into()),
        ),
        name: args.wallet_name.or(file.wallet.name).unwrap_or_else(|| "default".into()),
        hotkey: args.wallet_hotkey.or(file.wallet.hotkey).unwrap_or_else(|| "default".into()),
    };
    let pair = wallet::read_hotkey_file(&location.hotkey_file())?.pair;

    let store =
        WindowStore::open(&args.storage.over(file.storage)).context("opening the storage")?;

    let beacon_chain = args.beacon_chain.or(file.beacon.chain).unwrap_or(PinnedChain::Quicknet);
    let relays =
        if args.beacon_relays.is_empty() { file.beacon.relays } else { args.beacon_relays };
    let opts =
        ClientOptions { request_timeout: Duration::from_secs(5), ..ClientOptions::default() };
    let drand = runtime
        .block_on(beacon_chain.connect(relays, opts))
        .with_context(|| format!("connecting to the {beacon_chain} drand beacon's relays"))?;

    let model_dir = args.model.or(file.model).context("no model: pass --model DIR")?;
    let device = parse_device(&args.device.or(file.device).unwrap_or_else(|| "cpu".into()))?;
    let options = EngineOptions {
        device,
        intra_threads: args.threads.or(file.threads),
        ..EngineOptions::default()
    };
    let engine = Engine::load(&model_dir, &options)
        .with_context(|| format!("loading the model {}", model_dir.display()))?;
    let renderer = PromptRenderer::from_model_dir(&model_dir)
        .with_context(|| format!("loading the tokenizer of {}", model_dir.display()))?;
    let model_file = model_dir.join(grail_fingerprint::engine::MODEL_FILE);
    let model_id = grail_fingerprint::model_id(&model_file)
        .with_context(|| format!("computing the model_id of {}", model_file.display()))?;
    tracing::info!(
        model = %model_dir.display(),
        model_id = %model_id,
        hotkey = %pair.hotkey(),
        store = store.description(),
        beacon = %drand.chain().label(),
        "miner ready"
    );

    let mut miner = Miner {
        engine,
        model_file,
        model_id: model_id.to_bytes(),
        renderer,
        env,
        pair,
        store,
        drand,
        chain,
        params,
        safety_margin_s: args
            .window_margin
            .or(file.window.margin)
            .unwrap_or(DEFAULT_SAFETY_MARGIN_S),
        runtime,
    };
    // TEST ONLY: a tampering miner rewrites each file right after uploading it.
    let tamper = match args.tamper {
        Some(kind) => Some(Tamperer::new(kind, &miner)?),
        None => None,
    };
    let after_upload = |report: &WindowReport| {
        if let Some(t) = &tamper {
            if let Err(e) = t.rewrite(&report.key) {
                tracing::error!(error = format!("{e:#}"), "test.tamper failed");
            }
        }
        print_report(report);
    };
    match (args.window, args.problems) {
        (Some(window), Some(problems)) => {
            match miner.mine_window(window, Budget::Problems(problems))? {
                Some(report) => after_upload(&report),
                None => bail!("window {window}: no problems mined"),
            }
            Ok(())
        }
        _ => miner.run(after_upload),
    }
}

/// TEST ONLY: rewrites uploaded files with the forgery `kind` (see [`Tamper`]).
struct Tamperer {
    kind: Tamper,
    store: WindowStore,
    pair: grail_protocol::keys::HotkeyPair,
    vocab_size: u32,
    stop_ids: Vec<u32>,
    runtime: tokio::runtime::Runtime,
}

impl Tamperer {
    fn new<C: grail_challenges::chain::ChainSource>(
        kind: Tamper,
        miner: &Miner<C>,
    ) -> anyhow::Result<Self> {
        tracing::warn!(?kind, "test.tamper: this miner uploads forged files");
        Ok(Self {
            kind,
            store: miner.store.clone(),
            pair: miner.pair.clone(),
            vocab_size: u32::try_from(miner.engine.spec().vocab_size).context("vocabulary")?,
            stop_ids: miner.engine.config().stop_token_ids.clone(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the tamper runtime")?,
        })
    }

    fn rewrite(&self, key: &str) -> anyhow::Result<()> {
        use grail_protocol::codec::{decode, encode, Limits};
        let bytes = self.runtime.block_on(self.store.get_bounded(key, u64::MAX))?;
        let mut file = decode(&bytes, &Limits::default())?;
        for r in &mut file.rollouts {
            match self.kind {
                Tamper::Token => {
                    let t = r.completion_tokens.len() / 2;
                    let Some(&old) = r.completion_tokens.get(t) else { continue };
                    let mut new = (old + self.vocab_size / 2) % self.vocab_size;
                    while new == old || self.stop_ids.contains(&new) {
                        new = (new + 1) % self.vocab_size;
                    }
                    r.completion_tokens[t] = new;
                }
                Tamper::Reward => r.reward += 0.5,
                Tamper::Commitments => r.commitments.iter_mut().for_each(|c| *c = 0),
            }
            r.merkle_root = r.compute_merkle_root()?;
        }
        for group in file.rollouts.chunks_mut(grail_protocol::params::GROUP_SIZE as usize) {
            let rewards: Vec<f32> = group.iter().map(|r| r.reward).collect();
            let advantages = grail_challenges::env::grpo_advantages(&rewards)?;
            group.iter_mut().zip(advantages).for_each(|(r, a)| r.advantage = a);
        }
        grail_protocol::signing::sign_window_file(&self.pair, &mut file)?;
        self.runtime.block_on(self.store.put(key, encode(&file)?))?;
        tracing::warn!(key, kind = ?self.kind, "test.tamper: forged file uploaded");
        Ok(())
    }
}

fn print_report(report: &WindowReport) {
    match serde_json::to_string(report) {
        Ok(line) => println!("{line}"),
        Err(e) => tracing::error!(error = %e, "cannot print the window report"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_errors_name_the_flag() {
        let err = parse_device("gpu").map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("--device") && err.contains("gpu"), "{err}");
    }

    #[test]
    fn config_file_sections_parse_and_unknown_keys_fail() -> anyhow::Result<()> {
        let c: MineConfig = toml::from_str(
            "model = \"m\"\nthreads = 2\n[wallet]\nname = \"w\"\n[beacon]\nchain = \"local\"\n\
             [window]\nblocks = 4\n[storage]\npath = \"s\"",
        )?;
        assert_eq!(c.model, Some(PathBuf::from("m")));
        assert_eq!(c.wallet.name.as_deref(), Some("w"));
        assert_eq!(c.beacon.chain, Some(PinnedChain::Local));
        assert_eq!(c.window.blocks, Some(4));
        assert_eq!(c.storage.path, Some(PathBuf::from("s")));
        assert!(toml::from_str::<MineConfig>("modle = \"m\"").is_err());
        Ok(())
    }
}
