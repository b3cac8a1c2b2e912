//! `grail-validator run` settings: a flag, else its `GRAIL_*` variable, else the TOML file
//! (`--config FILE`), else the built-in default. Every file key is optional; sections mirror
//! the dotted flag names (`--window.blocks` is `blocks` under `[window]`, `-` becomes `_`):
//!
//! ```toml
//! model = "models/smollm2-135m"
//! metagraph = "metagraph.json"
//! data = "/var/lib/grail"
//! device = "cpu"            # or "cuda", "cuda:1"
//! threads = 2
//! transcripts = true
//! env = "sat"
//! temperature = 0.7
//! max_new_tokens = 512
//! [http]
//! listen = "127.0.0.1:9100"
//! [beacon]
//! chain = "quicknet"        # quicknet | mainnet | local
//! relays = ["https://api.drand.sh"]
//! timeout = 60
//! [chain]
//! genesis = 0
//! block_time = 12
//! [window]
//! blocks = 30
//! grace = 30
//! challenge_buffer = 30
//! [verify]
//! rollouts = 16
//! miners = 256
//! exclusion_windows = 12
//! max_file_bytes = 67108864
//! [weights]
//! span = 12
//! cap = 5000
//! exponent = 4
//! burn_bps = 9000
//! version_key = 1
//! [storage]
//! url = "s3://bucket/miners"  # or path = "grail-storage"; endpoint, region, ...
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use grail_challenges::drand::PinnedChain;
use grail_challenges::env::environment_by_id;
use grail_challenges::store::{StorageArgs, StorageConfig};
use grail_protocol::params::NetworkParams;
use grail_protocol::verify_params::VerifyParams;
use grail_validator::live::LiveConfig;
use grail_weights::WeightsConfig;
use serde::Deserialize;

const DEFAULT_DEVICE: &str = "cpu";
const DEFAULT_DATA: &str = "grail-validator-data";
const DEFAULT_BEACON_TIMEOUT_S: u64 = 60;

/// Verify windows as they close: verdicts, weights, status.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// TOML config file; flags and variables override its values.
    #[arg(long, env = "GRAIL_CONFIG")]
    config: Option<PathBuf>,
    /// Model folder (model.onnx, config.json, tokenizer.json, chat_template.jinja). Required
    /// here or in the config file.
    #[arg(long, env = "GRAIL_MODEL")]
    model: Option<PathBuf>,
    /// cpu, cuda or cuda:N [default: cpu].
    #[arg(long, env = "GRAIL_DEVICE")]
    device: Option<String>,
    /// ONNX Runtime intra-op threads [default: chosen by ONNX Runtime].
    #[arg(long, env = "GRAIL_THREADS")]
    threads: Option<usize>,
    /// Data folder: validator.sqlite, weights/, transcripts/ [default: grail-validator-data].
    #[arg(long, env = "GRAIL_DATA")]
    data: Option<PathBuf>,
    /// Metagraph JSON: {"netuid", "burn_uid", "neurons": [{"uid", "hotkey"}]}; read per window.
    /// Required here or in the config file.
    #[arg(long, env = "GRAIL_METAGRAPH")]
    metagraph: Option<PathBuf>,
    /// Serve /weights, /status and /metrics on this address (e.g. 127.0.0.1:8090).
    #[arg(long = "http.listen", env = "GRAIL_HTTP_LISTEN")]
    http_listen: Option<String>,
    /// Write one transcript per window into DATA/transcripts/ (`--transcripts false` turns a
    /// file's `true` off) [default: false].
    #[arg(
        long,
        env = "GRAIL_TRANSCRIPTS",
        value_name = "BOOL",
        value_parser = clap::builder::BoolishValueParser::new(),
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    transcripts: Option<bool>,
    /// First window when the state is empty [default: the current window].
    #[arg(long = "from-window", env = "GRAIL_FROM_WINDOW")]
    from_window: Option<u64>,
    /// Stop after processing this window.
    #[arg(long = "until-window", env = "GRAIL_UNTIL_WINDOW")]
    until_window: Option<u64>,
    /// drand chain of the beacons [default: quicknet].
    #[arg(long = "beacon.chain", env = "GRAIL_BEACON_CHAIN", value_enum)]
    beacon_chain: Option<PinnedChain>,
    /// drand relay base URL (repeat, or comma-separate in the variable) [default: the chain's
    /// public relays].
    #[arg(long = "beacon.relay", env = "GRAIL_BEACON_RELAYS", value_delimiter = ',')]
    beacon_relays: Vec<String>,
    /// Seconds to keep asking relays for a due beacon before retrying the window [default: 60].
    #[arg(long = "beacon.timeout", env = "GRAIL_BEACON_TIMEOUT")]
    beacon_timeout: Option<u64>,
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
    /// Seconds after the upload deadline whose drand round is the challenge beacon
    /// [default: 30].
    #[arg(long = "window.challenge-buffer", env = "GRAIL_WINDOW_CHALLENGE_BUFFER")]
    challenge_buffer: Option<u64>,
    /// Problem environment: sat or arith [default: sat].
    #[arg(long, env = "GRAIL_ENV")]
    env: Option<String>,
    /// Sampling temperature of the network [default: 0.7].
    #[arg(long, env = "GRAIL_TEMPERATURE")]
    temperature: Option<f32>,
    /// Completion length cap of the network, in tokens [default: 512].
    #[arg(long = "max-new-tokens", env = "GRAIL_MAX_NEW_TOKENS")]
    max_new_tokens: Option<u32>,
    /// Rollouts per file whose forward pass is checked [default: 16].
    #[arg(long = "verify.rollouts", env = "GRAIL_VERIFY_ROLLOUTS")]
    verify_rollouts: Option<u32>,
    /// Miners fully checked per window [default: 256].
    #[arg(long = "verify.miners", env = "GRAIL_VERIFY_MINERS")]
    verify_miners: Option<u32>,
    /// Windows a failing miner is excluded for [default: 12].
    #[arg(long = "verify.exclusion-windows", env = "GRAIL_VERIFY_EXCLUSION_WINDOWS")]
    exclusion_windows: Option<u64>,
    /// Largest window file, in bytes [default: 67108864].
    #[arg(long = "verify.max-file-bytes", env = "GRAIL_VERIFY_MAX_FILE_BYTES")]
    max_file_bytes: Option<u64>,
    /// Windows in the scoring span [default: 12].
    #[arg(long = "weights.span", env = "GRAIL_WEIGHTS_SPAN")]
    weights_span: Option<u64>,
    /// Unique completions that count per window [default: 5000].
    #[arg(long = "weights.cap", env = "GRAIL_WEIGHTS_CAP")]
    weights_cap: Option<u64>,
    /// Superlinear exponent of the span score [default: 4].
    #[arg(long = "weights.exponent", env = "GRAIL_WEIGHTS_EXPONENT")]
    weights_exponent: Option<u32>,
    /// Burned fraction in basis points (9000 = 90 %) [default: 9000].
    #[arg(long = "weights.burn-bps", env = "GRAIL_WEIGHTS_BURN_BPS")]
    weights_burn_bps: Option<u32>,
    /// The chain's weights version key [default: 1].
    #[arg(long = "weights.version-key", env = "GRAIL_WEIGHTS_VERSION_KEY")]
    weights_version_key: Option<u64>,
    #[command(flatten)]
    storage: StorageArgs,
    /// Test only: sleep this many ms between verifying a window and committing it.
    #[arg(long = "test.stall-before-commit-ms", hide = true)]
    stall_before_commit_ms: Option<u64>,
}

/// The TOML file; every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RunConfig {
    model: Option<PathBuf>,
    metagraph: Option<PathBuf>,
    data: Option<PathBuf>,
    device: Option<String>,
    threads: Option<usize>,
    transcripts: Option<bool>,
    from_window: Option<u64>,
    until_window: Option<u64>,
    env: Option<String>,
    temperature: Option<f32>,
    max_new_tokens: Option<u32>,
    http: HttpSection,
    beacon: BeaconSection,
    chain: ChainSection,
    window: WindowSection,
    verify: VerifySection,
    weights: WeightsSection,
    storage: StorageConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct HttpSection {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct BeaconSection {
    chain: Option<PinnedChain>,
    relays: Vec<String>,
    timeout: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ChainSection {
    genesis: Option<u64>,
    block_time: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WindowSection {
    blocks: Option<u64>,
    grace: Option<u64>,
    challenge_buffer: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct VerifySection {
    rollouts: Option<u32>,
    miners: Option<u32>,
    exclusion_windows: Option<u64>,
    max_file_bytes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct WeightsSection {
    span: Option<u64>,
    cap: Option<u64>,
    exponent: Option<u32>,
    burn_bps: Option<u32>,
    version_key: Option<u64>,
}

/// Everything `run` starts from, each source applied.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) model: PathBuf,
    pub(crate) device: String,
    pub(crate) threads: Option<usize>,
    pub(crate) http_listen: Option<String>,
    pub(crate) beacon_chain: PinnedChain,
    pub(crate) beacon_relays: Vec<String>,
    pub(crate) chain_genesis: u64,
    pub(crate) storage: StorageConfig,
    /// Network, verification and weights parameters, data folder, windows, timeouts.
    pub(crate) live: LiveConfig,
}

impl RunArgs {
    /// Reads `--config` (if any) and applies flags, file and defaults in that order.
    pub(crate) fn settings(self) -> anyhow::Result<Settings> {
        let file = read_config(self.config.as_deref())?;
        resolve(self, file)
    }
}

fn read_config(path: Option<&Path>) -> anyhow::Result<RunConfig> {
    let Some(path) = path else { return Ok(RunConfig::default()) };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))
}

/// Puts the first given of `flag` and `file` into `slot`; leaves the default otherwise.
fn set<T>(slot: &mut T, flag: Option<T>, file: Option<T>) {
    if let Some(v) = flag.or(file) {
        *slot = v;
    }
}

fn resolve(args: RunArgs, file: RunConfig) -> anyhow::Result<Settings> {
    let mut network = NetworkParams::default();
    if let Some(id) = args.env.or(file.env) {
        let env = environment_by_id(&id).context("--env")?;
        network.environment.id = env.id().into();
        network.environment.version = env.version();
    }
    set(&mut network.blocks_per_window, args.window_blocks, file.window.blocks);
    set(&mut network.block_time_s, args.chain_block_time, file.chain.block_time);
    set(&mut network.grace_period_s, args.window_grace, file.window.grace);
    set(&mut network.challenge_buffer_s, args.challenge_buffer, file.window.challenge_buffer);
    set(&mut network.generation.temperature, args.temperature, file.temperature);
    set(&mut network.generation.max_new_tokens, args.max_new_tokens, file.max_new_tokens);
    network.validate().context("network parameters")?;

    let mut verify = VerifyParams::default();
    set(&mut verify.rollouts_checked, args.verify_rollouts, file.verify.rollouts);
    set(&mut verify.miners_checked, args.verify_miners, file.verify.miners);
    set(&mut verify.exclusion_windows, args.exclusion_windows, file.verify.exclusion_windows);
    set(&mut verify.max_file_bytes, args.max_file_bytes, file.verify.max_file_bytes);
    verify.validate().context("verification parameters")?;

    let mut weights = WeightsConfig::default();
    set(&mut weights.span_windows, args.weights_span, file.weights.span);
    set(&mut weights.cap_per_window, args.weights_cap, file.weights.cap);
    set(&mut weights.exponent, args.weights_exponent, file.weights.exponent);
    set(&mut weights.burn_bps, args.weights_burn_bps, file.weights.burn_bps);
    set(&mut weights.version_key, args.weights_version_key, file.weights.version_key);
    weights.validate().context("weights configuration")?;

    let metagraph = args
        .metagraph
        .or(file.metagraph)
        .context("no metagraph: pass --metagraph FILE or set `metagraph` in the config file")?;
    let model = args
        .model
        .or(file.model)
        .context("no model: pass --model DIR or set `model` in the config file")?;
    let relays =
        if args.beacon_relays.is_empty() { file.beacon.relays } else { args.beacon_relays };
    Ok(Settings {
        model,
        device: args.device.or(file.device).unwrap_or_else(|| DEFAULT_DEVICE.into()),
        threads: args.threads.or(file.threads),
        http_listen: args.http_listen.or(file.http.listen),
        beacon_chain: args.beacon_chain.or(file.beacon.chain).unwrap_or(PinnedChain::Quicknet),
        beacon_relays: relays,
        chain_genesis: args.chain_genesis.or(file.chain.genesis).unwrap_or(0),
        storage: args.storage.over(file.storage),
        live: LiveConfig {
            network,
            verify,
            weights,
            data_dir: args.data.or(file.data).unwrap_or_else(|| DEFAULT_DATA.into()),
            metagraph,
            transcripts: args.transcripts.or(file.transcripts).unwrap_or(false),
            from_window: args.from_window.or(file.from_window),
            until_window: args.until_window.or(file.until_window),
            beacon_timeout: Duration::from_secs(
                args.beacon_timeout.or(file.beacon.timeout).unwrap_or(DEFAULT_BEACON_TIMEOUT_S),
            ),
            stall_before_commit: args.stall_before_commit_ms.map(Duration::from_millis),
        },
    })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    /// `RunArgs` as the `run` subcommand parses them.
    #[derive(Debug, Parser)]
    struct Run {
        #[command(flatten)]
        args: RunArgs,
    }

    fn args(flags: &[&str]) -> RunArgs {
        Run::try_parse_from(std::iter::once("run").chain(flags.iter().copied())).unwrap().args
    }

    fn file(text: &str) -> RunConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let cfg = file(
            "metagraph = \"g.json\"\ntranscripts = true\n[window]\nblocks = 4\n\
             [weights]\nspan = 3\ncap = 99\n[beacon]\nchain = \"local\"\n[storage]\npath = \"s\"",
        );
        let flags = ["--model", "m", "--weights.cap", "7", "--transcripts", "false"];
        let s = resolve(args(&flags), cfg).unwrap();
        assert_eq!(s.live.network.blocks_per_window, 4);
        assert_eq!(s.live.weights.span_windows, 3);
        assert_eq!(s.live.weights.cap_per_window, 7);
        assert!(!s.live.transcripts);
        assert_eq!(s.model, PathBuf::from("m"));
        assert_eq!(s.live.metagraph, PathBuf::from("g.json"));
        assert_eq!(s.beacon_chain, PinnedChain::Local);
        assert_eq!(s.storage.path, Some(PathBuf::from("s")));
        // Keys in neither place keep the built-in defaults.
        let defaults = NetworkParams::default();
        assert_eq!(s.live.network.grace_period_s, defaults.grace_period_s);
        assert_eq!(s.live.data_dir, PathBuf::from(DEFAULT_DATA));
        assert_eq!(s.device, DEFAULT_DEVICE);
    }

    #[test]
    fn a_bare_transcripts_flag_means_true() {
        let s = resolve(args(&["--model", "m", "--metagraph", "g", "--transcripts"]), file(""));
        assert!(s.unwrap().live.transcripts);
        let s = resolve(args(&["--model", "m", "--metagraph", "g"]), file(""));
        assert!(!s.unwrap().live.transcripts);
    }

    #[test]
    fn unknown_keys_fail_naming_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        for (text, key) in [("modle = \"m\"", "modle"), ("[window]\nblok = 4", "blok")] {
            let path = dir.path().join("validator.toml");
            std::fs::write(&path, text).unwrap();
            let err = format!("{:#}", read_config(Some(&path)).unwrap_err());
            assert!(err.contains(&path.display().to_string()) && err.contains(key), "{err}");
        }
    }

    #[test]
    fn a_missing_model_or_metagraph_is_named() {
        let err = resolve(args(&["--metagraph", "g"]), file("")).unwrap_err().to_string();
        assert!(err.contains("--model"), "{err}");
        let err = resolve(args(&[]), file("model = \"m\"")).unwrap_err().to_string();
        assert!(err.contains("--metagraph"), "{err}");
    }

    #[test]
    fn bad_values_name_their_setting() {
        let err = resolve(args(&["--model", "m", "--metagraph", "g"]), file("env = \"chess\""));
        assert!(format!("{:#}", err.unwrap_err()).contains("--env"));
        let err = resolve(args(&["--model", "m", "--metagraph", "g"]), file("[weights]\nspan = 0"));
        assert!(format!("{:#}", err.unwrap_err()).contains("weights"));
    }

    /// The `[default: ...]` in each flag's help is the value used when nothing sets it.
    #[test]
    fn help_defaults_are_the_defaults() {
        let s = resolve(args(&["--model", "m", "--metagraph", "g"]), file("")).unwrap();
        let (n, v, w) = (&s.live.network, &s.live.verify, &s.live.weights);
        let expected = [
            ("device", s.device.clone()),
            ("data", s.live.data_dir.display().to_string()),
            ("transcripts", s.live.transcripts.to_string()),
            ("beacon_chain", s.beacon_chain.to_string()),
            ("beacon_timeout", s.live.beacon_timeout.as_secs().to_string()),
            ("chain_genesis", s.chain_genesis.to_string()),
            ("chain_block_time", n.block_time_s.to_string()),
            ("window_blocks", n.blocks_per_window.to_string()),
            ("window_grace", n.grace_period_s.to_string()),
            ("challenge_buffer", n.challenge_buffer_s.to_string()),
            ("env", n.environment.id.clone()),
            ("temperature", n.generation.temperature.to_string()),
            ("max_new_tokens", n.generation.max_new_tokens.to_string()),
            ("verify_rollouts", v.rollouts_checked.to_string()),
            ("verify_miners", v.miners_checked.to_string()),
            ("exclusion_windows", v.exclusion_windows.to_string()),
            ("max_file_bytes", v.max_file_bytes.to_string()),
            ("weights_span", w.span_windows.to_string()),
            ("weights_cap", w.cap_per_window.to_string()),
            ("weights_exponent", w.exponent.to_string()),
            ("weights_burn_bps", w.burn_bps.to_string()),
            ("weights_version_key", w.version_key.to_string()),
        ];
        let cmd = Run::command();
        for (id, value) in expected {
            let arg = cmd.get_arguments().find(|a| a.get_id() == id).unwrap();
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(help.contains(&format!("[default: {value}]")), "{id}: {help:?}");
        }
    }
}
