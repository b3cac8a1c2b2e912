//! `grail-miner mine`: the window loop. Every setting is a flag of `grail-cli`'s groups (with
//! its `GRAIL_*` variable) or a key of the `--config` file; the example file is
//! `docs/config/miner.toml`.

use anyhow::Context;
use clap::Args;
use std::time::Duration;

use grail_chain::any::AnyChain;
use grail_challenges::env::environment_by_id;
use grail_challenges::prompt::PromptRenderer;
use grail_cli::beacon::BeaconArgs;
use grail_cli::chain::ChainArgs;
use grail_cli::checkpoint::CheckpointArgs;
use grail_cli::config::ConfigArgs;
use grail_cli::model::ModelArgs;
use grail_cli::network::NetworkArgs;
use grail_cli::storage::StorageArgs;
use grail_cli::wallet::WalletArgs;
use grail_cli::windows::WindowRangeArgs;
use grail_fingerprint::Device;
use grail_protocol::keys::HotkeyPair;

use crate::checkpoints::MinerCheckpoints;
use crate::window_loop::{check_environment, Budget, Miner, WindowReport, Windows};

/// How long a node that cannot be reached at start is retried.
const CHAIN_PATIENCE: Duration = Duration::from_secs(120);

/// Default seconds kept free before the upload deadline.
pub const DEFAULT_SAFETY_MARGIN_S: f64 = 15.0;

/// Everything a miner is made of: model, hotkey, beacon, chain, network, storage.
#[derive(Debug, Clone, Args)]
pub struct MinerArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub wallet: WalletArgs,
    #[command(flatten)]
    pub beacon: BeaconArgs,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
    /// Seconds kept free before the upload deadline for signing, upload, and the validators' next
    /// read of the store (they read it about once a second; a file they have not read by the
    /// deadline does not count).
    #[arg(
        id = "window.margin",
        long = "window.margin",
        env = "GRAIL_WINDOW_MARGIN",
        default_value_t = DEFAULT_SAFETY_MARGIN_S,
        help_heading = "Network"
    )]
    pub margin: f64,
    /// Rows decoding together in one batch; groups of 16 share it when it holds more, and the
    /// results are bitwise those of one group at a time [default: 32 on a CPU, 128 on CUDA].
    #[arg(
        id = "batch_rows",
        long = "batch-rows",
        env = "GRAIL_BATCH_ROWS",
        value_parser = clap::value_parser!(u32).range(1..=4096),
        help_heading = "Model"
    )]
    pub batch_rows: Option<u32>,
}

/// Batch rows when `--batch-rows` is not given: on this project's 2-core CPU bare decoding is
/// fastest at 32 rows (`grail-audit bench miner`'s roofline sweep), and a GPU wants far more.
pub fn default_batch_rows(device: Device) -> usize {
    let group = grail_protocol::params::GROUP_SIZE as usize;
    match device {
        Device::Cpu => 2 * group,
        Device::Cuda { .. } => 8 * group,
    }
}

/// `mine`'s flags.
#[derive(Debug, Args)]
pub struct MineArgs {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    miner: MinerArgs,
    #[command(flatten)]
    windows: WindowRangeArgs,
    /// Mine exactly this many problems (complete groups of 16) in every window, whatever the
    /// clock says [default: as many as fit before the deadline].
    #[arg(
        id = "problems",
        long = "problems",
        env = "GRAIL_PROBLEMS",
        value_parser = clap::value_parser!(u32).range(1..),
        help_heading = "Windows"
    )]
    problems: Option<u32>,
    #[command(flatten)]
    metrics: grail_cli::http::MetricsArgs,
}

impl MinerArgs {
    /// Loads the model, reads the hotkey, opens the store and connects to the beacon.
    pub fn build(&self) -> anyhow::Result<Miner<AnyChain>> {
        let pair = self.wallet.load()?;
        self.build_with(pair)
    }

    /// [`MinerArgs::build`] signing with `pair` instead of the wallet's hotkey.
    pub fn build_with(&self, pair: HotkeyPair) -> anyhow::Result<Miner<AnyChain>> {
        // One worker thread keeps the chain's and the store's connections served while the
        // model runs on this one.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let chain = runtime.block_on(self.chain.connect(CHAIN_PATIENCE))?;
        let params = self.network.params(self.chain.block_time)?;
        let env = environment_by_id(&params.environment.id).context("--env")?;
        check_environment(env.as_ref(), &params)?;
        // The miner's own part of the store: `{hotkey}/windows/{w}/{hotkey}.grail`.
        let store = self
            .storage
            .open()
            .and_then(|root| root.for_miner(&pair.hotkey().to_ss58()))
            .context("opening the storage")?;
        let drand = runtime.block_on(self.beacon.connect())?;
        grail_protocol::window::check_timing(&params, drand.chain().period(), 0)
            .context("--window.challenge-buffer and --window.grace against the beacon's period")?;
        let dir = &self.model.dir;
        let engine =
            self.model.load().with_context(|| format!("loading the model {}", dir.display()))?;
        let renderer = PromptRenderer::from_model_dir(dir)
            .with_context(|| format!("loading the tokenizer of {}", dir.display()))?;
        let batch_rows =
            self.batch_rows.map_or_else(|| default_batch_rows(self.model.device), |r| r as usize);
        let model_file = self.model.model_file();
        let model_id = grail_fingerprint::model_id(&model_file)
            .with_context(|| format!("computing the model_id of {}", model_file.display()))?;
        let checkpoints =
            self.checkpoint.source(std::path::Path::new("grail-checkpoints"))?.map(|source| {
                tracing::info!(
                    store = source.store.description(),
                    trainer = %source.trainer,
                    cache = %source.cache.display(),
                    "windows are mined under the trainer's checkpoints once published"
                );
                MinerCheckpoints {
                    checkpoints: grail_checkpoint::Checkpoints::new(source),
                    base_dir: dir.clone(),
                    base_params: params.clone(),
                    options: self.model.engine_options(),
                    loaded: dir.clone(),
                }
            });
        tracing::info!(
            model = %dir.display(),
            model_id = %model_id,
            batch_rows,
            hotkey = %pair.hotkey(),
            store = store.description(),
            beacon = %drand.chain().label(),
            chain = %grail_chain::ChainSource::describe(&chain),
            "miner ready"
        );
        Ok(Miner {
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
            safety_margin_s: self.margin,
            batch_rows,
            runtime,
            checkpoints,
        })
    }
}

/// Runs `mine`.
pub fn run(args: &MineArgs) -> anyhow::Result<()> {
    args.windows.check().map_err(anyhow::Error::msg)?;
    let mut miner = args.miner.build()?;
    super::metrics::start(&args.metrics, &miner, &args.miner.model.device.to_string())?;
    let windows = Windows { first: args.windows.from_window, last: args.windows.until_window };
    let budget = args.problems.map_or(Budget::UntilDeadline, Budget::Problems);
    miner.run(windows, budget, print_report)
}

fn print_report(report: &WindowReport) {
    match serde_json::to_string(report) {
        Ok(line) => println!("{line}"),
        Err(e) => tracing::error!(error = %e, "cannot print the window report"),
    }
}
