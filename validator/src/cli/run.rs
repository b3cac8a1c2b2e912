//! `grail-validator run`: the live validator loop (see `grail_validator::live`). One JSON line
//! per window on stdout (`{"window", "verdicts", "weights"}`), a log line per window on stderr
//! (at `--log.level info`), `/weights`, `/status` and `/metrics` on `--http.listen`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use grail_challenges::chain::LocalClockChain;
use grail_challenges::drand::{ClientOptions, PinnedChain};
use grail_challenges::env::environment_by_id;
use grail_challenges::store::{StorageArgs, StorageConfig, WindowStore};
use grail_fingerprint::{Device, EngineOptions};
use grail_protocol::params::NetworkParams;
use grail_protocol::verify_params::VerifyParams;
use grail_validator::http::{router, LiveStatus};
use grail_validator::live::{LiveConfig, Validator, WindowLine};
use grail_validator::metagraph::Metagraph;
use grail_validator::pipeline::ModelVerifier;
use grail_validator::sink::FileSink;
use grail_validator::state::State;
use grail_weights::WeightsConfig;

/// Verify windows as they close: verdicts, weights, status.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Model folder (model.onnx, config.json, tokenizer.json, chat_template.jinja).
    #[arg(long, env = "GRAIL_MODEL")]
    model: PathBuf,
    /// cpu, cuda or cuda:N.
    #[arg(long, env = "GRAIL_DEVICE", default_value = "cpu")]
    device: String,
    /// ONNX Runtime intra-op threads [default: chosen by ONNX Runtime].
    #[arg(long, env = "GRAIL_THREADS")]
    threads: Option<usize>,
    /// Data folder: validator.sqlite, weights/, transcripts/.
    #[arg(long, env = "GRAIL_DATA", default_value = "grail-validator-data")]
    data: PathBuf,
    /// Metagraph JSON: {"netuid", "burn_uid", "neurons": [{"uid", "hotkey"}]}; read per window.
    #[arg(long, env = "GRAIL_METAGRAPH")]
    metagraph: PathBuf,
    /// Serve /weights, /status and /metrics on this address (e.g. 127.0.0.1:8090).
    #[arg(long = "http.listen", env = "GRAIL_HTTP_LISTEN")]
    http_listen: Option<String>,
    /// Write one transcript per window into DATA/transcripts/.
    #[arg(long, env = "GRAIL_TRANSCRIPTS")]
    transcripts: bool,
    /// First window when the state is empty [default: the current window].
    #[arg(long = "from-window", env = "GRAIL_FROM_WINDOW")]
    from_window: Option<u64>,
    /// Stop after processing this window.
    #[arg(long = "until-window", env = "GRAIL_UNTIL_WINDOW")]
    until_window: Option<u64>,
    /// drand chain of the beacons.
    #[arg(
        long = "beacon.chain",
        env = "GRAIL_BEACON_CHAIN",
        value_enum,
        default_value = "quicknet"
    )]
    beacon_chain: PinnedChain,
    /// drand relay base URL (repeat, or comma-separate in the variable).
    #[arg(long = "beacon.relay", env = "GRAIL_BEACON_RELAYS", value_delimiter = ',')]
    beacon_relays: Vec<String>,
    /// Seconds to keep asking relays for a due beacon before retrying the window.
    #[arg(long = "beacon.timeout", env = "GRAIL_BEACON_TIMEOUT", default_value_t = 60)]
    beacon_timeout: u64,
    /// Unix time (s) of block 0 of the local clock chain.
    #[arg(long = "chain.genesis", env = "GRAIL_CHAIN_GENESIS", default_value_t = 0)]
    chain_genesis: u64,
    /// Seconds per block.
    #[arg(long = "chain.block-time", env = "GRAIL_CHAIN_BLOCK_TIME")]
    chain_block_time: Option<u64>,
    /// Blocks per window, L.
    #[arg(long = "window.blocks", env = "GRAIL_WINDOW_BLOCKS")]
    window_blocks: Option<u64>,
    /// Upload grace period after the next window starts, in seconds.
    #[arg(long = "window.grace", env = "GRAIL_WINDOW_GRACE")]
    window_grace: Option<u64>,
    /// Seconds after the upload deadline whose drand round is the challenge beacon.
    #[arg(long = "window.challenge-buffer", env = "GRAIL_WINDOW_CHALLENGE_BUFFER")]
    challenge_buffer: Option<u64>,
    /// Problem environment: sat or arith.
    #[arg(long, env = "GRAIL_ENV")]
    env: Option<String>,
    /// Sampling temperature of the network.
    #[arg(long, env = "GRAIL_TEMPERATURE")]
    temperature: Option<f32>,
    /// Completion length cap of the network, in tokens.
    #[arg(long = "max-new-tokens", env = "GRAIL_MAX_NEW_TOKENS")]
    max_new_tokens: Option<u32>,
    /// Rollouts per file whose forward pass is checked.
    #[arg(long = "verify.rollouts", env = "GRAIL_VERIFY_ROLLOUTS")]
    verify_rollouts: Option<u32>,
    /// Miners fully checked per window.
    #[arg(long = "verify.miners", env = "GRAIL_VERIFY_MINERS")]
    verify_miners: Option<u32>,
    /// Windows a failing miner is excluded for.
    #[arg(long = "verify.exclusion-windows", env = "GRAIL_VERIFY_EXCLUSION_WINDOWS")]
    exclusion_windows: Option<u64>,
    /// Largest window file, in bytes.
    #[arg(long = "verify.max-file-bytes", env = "GRAIL_VERIFY_MAX_FILE_BYTES")]
    max_file_bytes: Option<u64>,
    /// Windows in the scoring span.
    #[arg(long = "weights.span", env = "GRAIL_WEIGHTS_SPAN")]
    weights_span: Option<u64>,
    /// Unique completions that count per window.
    #[arg(long = "weights.cap", env = "GRAIL_WEIGHTS_CAP")]
    weights_cap: Option<u64>,
    /// Superlinear exponent of the span score.
    #[arg(long = "weights.exponent", env = "GRAIL_WEIGHTS_EXPONENT")]
    weights_exponent: Option<u32>,
    /// Burned fraction in basis points (9000 = 90 %).
    #[arg(long = "weights.burn-bps", env = "GRAIL_WEIGHTS_BURN_BPS")]
    weights_burn_bps: Option<u32>,
    /// The chain's weights version key.
    #[arg(long = "weights.version-key", env = "GRAIL_WEIGHTS_VERSION_KEY")]
    weights_version_key: Option<u64>,
    #[command(flatten)]
    storage: StorageArgs,
    /// Test only: sleep this many ms between verifying a window and committing it.
    #[arg(long = "test.stall-before-commit-ms", hide = true)]
    stall_before_commit_ms: Option<u64>,
}

fn network_params(args: &RunArgs) -> anyhow::Result<NetworkParams> {
    let mut p = NetworkParams::default();
    if let Some(id) = &args.env {
        let env = environment_by_id(id).context("--env")?;
        p.environment.id = env.id().into();
        p.environment.version = env.version();
    }
    let set = |slot: &mut u64, v: Option<u64>| *slot = v.unwrap_or(*slot);
    set(&mut p.blocks_per_window, args.window_blocks);
    set(&mut p.block_time_s, args.chain_block_time);
    set(&mut p.grace_period_s, args.window_grace);
    set(&mut p.challenge_buffer_s, args.challenge_buffer);
    if let Some(t) = args.temperature {
        p.generation.temperature = t;
    }
    if let Some(n) = args.max_new_tokens {
        p.generation.max_new_tokens = n;
    }
    p.validate().context("network parameters")?;
    Ok(p)
}

fn verify_params(args: &RunArgs) -> anyhow::Result<VerifyParams> {
    let mut v = VerifyParams::default();
    v.rollouts_checked = args.verify_rollouts.unwrap_or(v.rollouts_checked);
    v.miners_checked = args.verify_miners.unwrap_or(v.miners_checked);
    v.exclusion_windows = args.exclusion_windows.unwrap_or(v.exclusion_windows);
    v.max_file_bytes = args.max_file_bytes.unwrap_or(v.max_file_bytes);
    v.validate().context("verification parameters")?;
    Ok(v)
}

fn weights_config(args: &RunArgs) -> anyhow::Result<WeightsConfig> {
    let mut w = WeightsConfig::default();
    w.span_windows = args.weights_span.unwrap_or(w.span_windows);
    w.cap_per_window = args.weights_cap.unwrap_or(w.cap_per_window);
    w.exponent = args.weights_exponent.unwrap_or(w.exponent);
    w.burn_bps = args.weights_burn_bps.unwrap_or(w.burn_bps);
    w.version_key = args.weights_version_key.unwrap_or(w.version_key);
    w.validate().context("weights configuration")?;
    Ok(w)
}

pub(crate) fn parse_device(s: &str) -> anyhow::Result<Device> {
    s.parse().map_err(|e: String| anyhow::anyhow!("--device: {e}"))
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    let network = network_params(&args)?;
    let verify = verify_params(&args)?;
    let weights = weights_config(&args)?;
    let chain = LocalClockChain::new(args.chain_genesis, network.block_time_s)
        .context("--chain.block-time")?;
    // Checked once here so a bad file fails at start; the loop reads it again per window.
    let metagraph = Metagraph::load(&args.metagraph)
        .with_context(|| format!("--metagraph {}", args.metagraph.display()))?;
    let store = WindowStore::open(&args.storage.over(StorageConfig::default()))
        .context("opening the storage")?;
    let opts =
        ClientOptions { request_timeout: Duration::from_secs(5), ..ClientOptions::default() };
    let drand = args.beacon_chain.connect(args.beacon_relays, opts).await.with_context(|| {
        format!("connecting to the {} drand beacon's relays", args.beacon_chain)
    })?;
    let options = EngineOptions {
        device: parse_device(&args.device)?,
        intra_threads: args.threads,
        ..EngineOptions::default()
    };
    let verifier = tokio::task::block_in_place(|| ModelVerifier::load(&args.model, &options))
        .with_context(|| format!("loading the model {}", args.model.display()))?;
    let state = State::open(&args.data)
        .with_context(|| format!("opening the state in {}", args.data.display()))?;
    let live = LiveStatus::new(metagraph.netuid);
    if let Some(addr) = &args.http_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--http.listen {addr}"))?;
        let local = listener.local_addr().context("the HTTP listener's address")?;
        tracing::info!(url = %format!("http://{local}"), "serving /weights, /status, /metrics");
        let app = router(live.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        });
    }
    tracing::info!(
        model = %args.model.display(),
        store = store.description(),
        beacon = %drand.chain().label(),
        data = %args.data.display(),
        "validator ready"
    );
    let mut validator = Validator {
        config: LiveConfig {
            network,
            verify,
            weights,
            data_dir: args.data.clone(),
            metagraph: args.metagraph.clone(),
            transcripts: args.transcripts,
            from_window: args.from_window,
            until_window: args.until_window,
            beacon_timeout: Duration::from_secs(args.beacon_timeout),
            stall_before_commit: args.stall_before_commit_ms.map(Duration::from_millis),
        },
        verifier,
        drand,
        chain,
        store,
        state,
        sink: FileSink::new(&args.data, metagraph.netuid),
        live,
    };
    validator.run(print_line).await.context("validator loop")
}

fn print_line(line: &WindowLine) {
    match serde_json::to_string(line) {
        Ok(text) => println!("{text}"),
        Err(e) => tracing::error!(error = %e, "cannot print the window line"),
    }
}
