//! `grail-validator run`: the live validator loop (see [`crate::live`]). One JSON line per
//! window on stdout (`{"window", "verdicts", "weights"}`), a log line per window on stderr (at
//! `--log.level info`), `/weights`, `/status` and `/metrics` on `--http.listen`. Every setting
//! is a flag (with its `GRAIL_*` variable) or a key of the `--config` file; the example file
//! is `docs/config/validator.toml`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use grail_chain::rpc::submit::ERA_PERIOD;
use grail_chain::tlock::RoundSchedule;
use grail_cli::beacon::BeaconArgs;
use grail_cli::chain::ChainArgs;
use grail_cli::checkpoint::CheckpointArgs;
use grail_cli::config::ConfigArgs;
use grail_cli::http::{HttpArgs, MetricsArgs};
use grail_cli::model::ModelArgs;
use grail_cli::network::NetworkArgs;
use grail_cli::storage::StorageArgs;
use grail_cli::wallet::WalletArgs;
use grail_cli::windows::WindowRangeArgs;
use grail_protocol::verify_params::{
    VerifyParams, DEFAULT_EXCLUSION_WINDOWS, DEFAULT_MAX_FILE_BYTES, DEFAULT_MINERS_CHECKED,
    DEFAULT_ROLLOUTS_CHECKED,
};
use grail_weights::{
    WeightsConfig, DEFAULT_BURN_BPS, DEFAULT_CAP_PER_WINDOW, DEFAULT_EXPONENT,
    DEFAULT_SPAN_WINDOWS, DEFAULT_VERSION_KEY,
};

use crate::http::{metrics_router, router, LiveStatus};
use crate::intake::{CommitmentPolicy, MinerStores};
use crate::live::{LiveConfig, LoopObserver, Validator, WindowLine};
use crate::metagraph::MetagraphSource;
use crate::models::WindowModels;
use crate::onchain::{OnChain, OnChainConfig};
use crate::pace::{Pace, DEFAULT_MIN_MINERS, DEFAULT_PACE_FRACTION};
use crate::pipeline::ModelVerifier;
use crate::sink::FileSink;
use crate::state::State;

/// `run`'s flags.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub validator: ValidatorArgs,
    #[command(flatten)]
    pub beacon: BeaconArgs,
    /// Seconds to keep asking relays for a due beacon before retrying the window.
    #[arg(
        id = "beacon.timeout",
        long = "beacon.timeout",
        env = "GRAIL_BEACON_TIMEOUT",
        default_value_t = 60,
        help_heading = "Beacon"
    )]
    pub beacon_timeout: u64,
    /// Milliseconds between two reads of every registered miner's key while a window's uploads
    /// are open; a file must be read before the cutoff to count, so it lands this long before.
    #[arg(
        id = "storage.poll_interval_ms",
        long = "storage.poll-interval-ms",
        env = "GRAIL_STORAGE_POLL_INTERVAL_MS",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(50..=60_000),
        help_heading = "Storage"
    )]
    pub poll_interval_ms: u64,
    /// For a window no run of this validator watched before its cutoff (started late, or
    /// down): take a miner's file from its part of this validator's store if the store's
    /// last-modified time is before the cutoff. Only where no miner can set that time (S3, R2:
    /// the provider sets it); miners' committed stores are never read this way. Off: such a
    /// window is not verified, and the log says why.
    #[arg(
        id = "storage.trust_store_times",
        long = "storage.trust-store-times",
        env = "GRAIL_STORAGE_TRUST_STORE_TIMES",
        help_heading = "Storage"
    )]
    pub trust_store_times: bool,
    /// Accept miners' commitments that name a local folder (`file://`) or a plain-HTTP
    /// endpoint: for a dev chain or tests on one machine, never on a public subnet (a miner
    /// could point the validator at its own disk or network).
    #[arg(
        id = "commitments.allow_local",
        long = "commitments.allow-local",
        env = "GRAIL_COMMITMENTS_ALLOW_LOCAL",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new(),
        help_heading = "Storage"
    )]
    pub commitments_allow_local: bool,
    #[command(flatten)]
    pub chain: ChainArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub checkpoint: CheckpointArgs,
    #[command(flatten)]
    pub verify: VerifyArgs,
    #[command(flatten)]
    pub weights: WeightsArgs,
    #[command(flatten)]
    pub wallet: WalletArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub windows: WindowRangeArgs,
}

/// The validator's own files.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Validator")]
pub struct ValidatorArgs {
    /// Data folder: validator.sqlite, weights/, transcripts/.
    #[arg(id = "data", long = "data", env = "GRAIL_DATA", default_value = "grail-validator-data")]
    pub data: PathBuf,
    /// Metagraph JSON for offline runs (no subtensor node): {"netuid", "burn_uid", "neurons":
    /// [{"uid", "hotkey"}]}; read per window. On a node the metagraph is the chain's.
    #[arg(id = "metagraph", long = "metagraph", env = "GRAIL_METAGRAPH", value_name = "FILE")]
    pub metagraph: Option<PathBuf>,
    /// Write one transcript per window into DATA/transcripts/ (a bare flag means true).
    #[arg(
        id = "transcripts",
        long = "transcripts",
        env = "GRAIL_TRANSCRIPTS",
        value_name = "BOOL",
        value_parser = clap::builder::BoolishValueParser::new(),
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true"
    )]
    pub transcripts: bool,
    /// Windows of verified window files kept in DATA/verified/ for `grail-validator export`
    /// and GET /rollouts: a window's files go once this many newer windows are committed; 0
    /// keeps none.
    #[arg(
        id = "export.retain_windows",
        long = "export.retain-windows",
        env = "GRAIL_EXPORT_RETAIN_WINDOWS",
        value_name = "WINDOWS",
        default_value_t = 240
    )]
    pub retain_windows: u64,
}

/// How much each window is checked.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Verification")]
pub struct VerifyArgs {
    /// Rollouts per file whose forward pass is checked.
    #[arg(
        id = "verify.rollouts",
        long = "verify.rollouts",
        env = "GRAIL_VERIFY_ROLLOUTS",
        default_value_t = DEFAULT_ROLLOUTS_CHECKED
    )]
    pub rollouts: u32,
    /// Most miners fully checked per window (the others are `unchecked`); fewer when
    /// `--verify.pace` says the machine cannot check this many within the window.
    #[arg(
        id = "verify.miners",
        long = "verify.miners",
        env = "GRAIL_VERIFY_MINERS",
        default_value_t = DEFAULT_MINERS_CHECKED
    )]
    pub miners: u32,
    /// Fewest miners fully checked per window, however slow the machine.
    #[arg(
        id = "verify.min_miners",
        long = "verify.min-miners",
        env = "GRAIL_VERIFY_MIN_MINERS",
        default_value_t = DEFAULT_MIN_MINERS,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub min_miners: u32,
    /// Fraction of the window's length that verifying a window may take: the miners checked
    /// per window are sized from this validator's measured seconds per miner. 0 turns this
    /// off and checks `--verify.miners` every window.
    #[arg(
        id = "verify.pace",
        long = "verify.pace",
        env = "GRAIL_VERIFY_PACE",
        default_value_t = DEFAULT_PACE_FRACTION,
        value_parser = parse_pace
    )]
    pub pace: f64,
    /// Windows a failing miner is excluded for when every miner with a file is checked; times
    /// ⌈miners with a file / miners checked⌉ when fewer are.
    #[arg(
        id = "verify.exclusion_windows",
        long = "verify.exclusion-windows",
        env = "GRAIL_VERIFY_EXCLUSION_WINDOWS",
        default_value_t = DEFAULT_EXCLUSION_WINDOWS
    )]
    pub exclusion_windows: u64,
    /// Largest window file, in bytes.
    #[arg(
        id = "verify.max_file_bytes",
        long = "verify.max-file-bytes",
        env = "GRAIL_VERIFY_MAX_FILE_BYTES",
        default_value_t = DEFAULT_MAX_FILE_BYTES
    )]
    pub max_file_bytes: u64,
}

/// A pace fraction: a number in `[0, 1]`.
fn parse_pace(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("{text:?} is not a number: {e}"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is outside 0 to 1 (the fraction of a window's length)"))
    }
}

impl VerifyArgs {
    /// The verification parameters, validated.
    pub fn params(&self) -> anyhow::Result<VerifyParams> {
        let params = VerifyParams {
            rollouts_checked: self.rollouts,
            miners_checked: self.miners,
            exclusion_windows: self.exclusion_windows,
            max_file_bytes: self.max_file_bytes,
            ..VerifyParams::default()
        };
        params.validate().context("verification parameters")?;
        Ok(params)
    }
}

/// How the span is scored.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Weights")]
pub struct WeightsArgs {
    /// Windows in the scoring span.
    #[arg(
        id = "weights.span",
        long = "weights.span",
        env = "GRAIL_WEIGHTS_SPAN",
        default_value_t = DEFAULT_SPAN_WINDOWS
    )]
    pub span: u64,
    /// Unique completions that count per window.
    #[arg(
        id = "weights.cap",
        long = "weights.cap",
        env = "GRAIL_WEIGHTS_CAP",
        default_value_t = DEFAULT_CAP_PER_WINDOW
    )]
    pub cap: u64,
    /// Superlinear exponent of the span score.
    #[arg(
        id = "weights.exponent",
        long = "weights.exponent",
        env = "GRAIL_WEIGHTS_EXPONENT",
        default_value_t = DEFAULT_EXPONENT
    )]
    pub exponent: u32,
    /// Burned fraction in basis points (9000 = 90 %).
    #[arg(
        id = "weights.burn_bps",
        long = "weights.burn-bps",
        env = "GRAIL_WEIGHTS_BURN_BPS",
        default_value_t = DEFAULT_BURN_BPS
    )]
    pub burn_bps: u32,
    /// The chain's weights version key.
    #[arg(
        id = "weights.version_key",
        long = "weights.version-key",
        env = "GRAIL_WEIGHTS_VERSION_KEY",
        default_value_t = DEFAULT_VERSION_KEY
    )]
    pub version_key: u64,
    /// On a subtensor node, put the weights on chain once per epoch, signed by the wallet's
    /// hotkey (a timelocked commit where commit-reveal is on, else `set_weights`); off
    /// chain, or with false, they go only to DATA/weights/ and `GET /weights`.
    #[arg(
        id = "weights.on_chain",
        long = "weights.on-chain",
        env = "GRAIL_WEIGHTS_ON_CHAIN",
        value_name = "BOOL",
        value_parser = clap::builder::BoolishValueParser::new(),
        num_args = 0..=1,
        default_value = "true",
        default_missing_value = "true"
    )]
    pub on_chain: bool,
}

impl WeightsArgs {
    /// The weights configuration, validated (its burn uid is the metagraph's, set per window).
    pub fn config(&self) -> anyhow::Result<WeightsConfig> {
        let config = WeightsConfig {
            span_windows: self.span,
            cap_per_window: self.cap,
            exponent: self.exponent,
            burn_bps: self.burn_bps,
            version_key: self.version_key,
            ..WeightsConfig::default()
        };
        config.validate().context("weights configuration")?;
        Ok(config)
    }
}

impl RunArgs {
    /// The loop's configuration, with the metagraph from `metagraph`.
    pub fn live_config(&self, metagraph: MetagraphSource) -> anyhow::Result<LiveConfig> {
        self.windows.check().map_err(anyhow::Error::msg)?;
        Ok(LiveConfig {
            network: self.network.params(self.chain.block_time)?,
            verify: self.verify.params()?,
            weights: self.weights.config()?,
            data_dir: self.validator.data.clone(),
            metagraph,
            transcripts: self.validator.transcripts,
            from_window: self.windows.from_window,
            until_window: self.windows.until_window,
            beacon_timeout: Duration::from_secs(self.beacon_timeout),
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            trust_store_times: self.trust_store_times,
            retain_windows: self.validator.retain_windows,
            pace_fraction: self.verify.pace,
            min_miners: self.verify.min_miners,
        })
    }
}

/// How long a node that cannot be reached at start is retried.
const CHAIN_PATIENCE: Duration = Duration::from_secs(120);

/// The binary's observer: one JSON line per window on stdout.
#[derive(Debug, Clone, Copy)]
pub struct PrintLines;

impl LoopObserver for PrintLines {
    fn window_done(&mut self, line: &WindowLine) {
        match serde_json::to_string(line) {
            Ok(text) => println!("{text}"),
            Err(e) => tracing::error!(error = %e, "cannot print the window line"),
        }
    }
}

/// Runs `run` with `observer` told of each window.
pub fn run(args: RunArgs, observer: &mut impl LoopObserver) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(args, observer))
}

async fn run_async(args: RunArgs, observer: &mut impl LoopObserver) -> anyhow::Result<()> {
    args.windows.check().map_err(anyhow::Error::msg)?;
    let chain = args.chain.connect(CHAIN_PATIENCE).await?;
    let source = match (chain.subtensor(), &args.validator.metagraph) {
        (Some(_), Some(path)) => anyhow::bail!(
            "--metagraph {} is for offline runs; on a subtensor node the metagraph is the chain's",
            path.display()
        ),
        (Some(client), None) => {
            MetagraphSource::chain(client.clone(), args.chain.require_netuid()?)
        }
        (None, Some(path)) => MetagraphSource::File(path.clone()),
        (None, None) => anyhow::bail!(
            "--metagraph FILE is needed without a subtensor node (--subtensor.network or \
             --subtensor.chain_endpoint)"
        ),
    };
    let config = args.live_config(source)?;
    // Read once here so a bad source fails at start; the loop reads it again per window.
    let metagraph = config
        .metagraph
        .load()
        .await
        .with_context(|| format!("the metagraph ({})", config.metagraph.describe()))?;
    tracing::info!(
        source = %config.metagraph.describe(),
        miners = metagraph.neurons.len(),
        burn_uid = metagraph.burn_uid,
        "metagraph read"
    );
    let store = args.storage.open().context("opening the storage")?;
    // On a node each miner is read from the store its commitment names.
    let stores = match chain.subtensor() {
        Some(client) => MinerStores::committed(
            store,
            client.clone(),
            args.chain.require_netuid()?,
            CommitmentPolicy { allow_local: args.commitments_allow_local },
            Duration::from_secs(args.storage.timeout),
        ),
        None => MinerStores::shared(store),
    };
    let drand = args.beacon.connect().await?;
    grail_protocol::window::check_timing(
        &config.network,
        drand.chain().period(),
        config.verify.upload_grace_s,
    )
    .context("--window.challenge-buffer and --window.grace against the beacon's period")?;
    let dir = &args.model.dir;
    let options = args.model.engine_options();
    let verifier = tokio::task::block_in_place(|| ModelVerifier::load(dir, &options))
        .with_context(|| format!("loading the model {}", dir.display()))?;
    let data = &config.data_dir;
    let checkpoints = args.checkpoint.source(&data.join("checkpoints"))?.map(|source| {
        tracing::info!(
            store = source.store.description(),
            trainer = %source.trainer,
            cache = %source.cache.display(),
            "windows run under the trainer's checkpoints once published"
        );
        grail_checkpoint::Checkpoints::new(source)
    });
    let models = WindowModels::new(dir.clone(), options, checkpoints);
    let state =
        State::open(data).with_context(|| format!("opening the state in {}", data.display()))?;
    let live = LiveStatus::new(metagraph.netuid).with_history(data.clone());
    if let Some(addr) = &args.http.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--http.listen {addr}"))?;
        let local = listener.local_addr().context("the HTTP listener's address")?;
        tracing::info!(
            url = %format!("http://{local}"),
            "serving /weights, /status, /metrics, /health, /verdicts/HOTKEY"
        );
        let limits = grail_cli::serve::ServeLimits {
            max_connections: args.http.max_connections as usize,
            header_timeout: Duration::from_secs(args.http.header_timeout),
            connection_timeout: Duration::from_secs(args.http.connection_timeout),
        };
        tokio::spawn(grail_cli::serve::serve(listener, router(live.clone()), limits));
    }
    if let Some(addr) = &args.metrics.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--metrics.listen {addr}"))?;
        let local = listener.local_addr().context("the metrics listener's address")?;
        tracing::info!(url = %format!("http://{local}/metrics"), "serving metrics");
        let app = metrics_router(live.clone());
        tokio::spawn(grail_cli::serve::serve(listener, app, MetricsArgs::limits()));
    }
    tracing::info!(
        model = %dir.display(),
        stores = stores.describe(),
        beacon = %drand.chain().label(),
        data = %data.display(),
        "validator ready"
    );
    live.set_ready();
    let emitted = match (chain.subtensor(), args.weights.on_chain) {
        (Some(client), true) => {
            let signer = args.wallet.load().with_context(|| {
                "the validator's hotkey signs its weights on chain (pass --weights.on-chain \
                 false to keep them off chain)"
            })?;
            let beacon = drand.chain();
            let config = OnChainConfig {
                netuid: args.chain.require_netuid()?,
                signer,
                tlock_key: beacon.public_key().to_vec(),
                schedule: RoundSchedule {
                    genesis_time: beacon.genesis_time(),
                    period: beacon.period(),
                },
                block_time_s: args.chain.block_time as f64,
                poll: Duration::from_secs(args.chain.block_time.max(1)),
            };
            let state = State::open(data)
                .with_context(|| format!("opening the state in {}", data.display()))?;
            let (tx, rx) = tokio::sync::watch::channel(0);
            let (finish_tx, finish_rx) = tokio::sync::watch::channel(false);
            let task = OnChain { client: client.clone(), config, state, live: live.clone() };
            tracing::info!(
                hotkey = %task.config.signer.hotkey(),
                timelock_key = %beacon.label(),
                "weights go on chain once per epoch"
            );
            let handle = tokio::spawn(task.run(rx, finish_rx));
            Some((tx, finish_tx, handle))
        }
        _ => None,
    };
    let sink = FileSink::new(data, metagraph.netuid);
    let (emitted, on_chain) = match emitted {
        Some((tx, finish, handle)) => (Some(tx), Some((finish, handle))),
        None => (None, None),
    };
    let pace = Pace::new(config.pace());
    let mut validator = Validator {
        config,
        verifier,
        models,
        drand,
        chain,
        stores,
        state,
        sink,
        live,
        pace,
        emitted,
    };
    validator.run(observer).await.context("validator loop")?;
    if let Some((finish, handle)) = on_chain {
        // The last window's weights still go on chain before the process ends.
        let patience = Duration::from_secs(args.chain.block_time.max(1) * (ERA_PERIOD + 8));
        finish.send_replace(true);
        tracing::info!(
            limit_s = patience.as_secs(),
            "putting the last weights on chain before stopping"
        );
        match tokio::time::timeout(patience, handle).await {
            Ok(joined) => joined.context("the weights-on-chain task")?,
            Err(_) => anyhow::bail!(
                "the last weights were not settled on chain within {} s",
                patience.as_secs()
            ),
        }
    }
    Ok(())
}
