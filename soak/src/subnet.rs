//! The soak's subnet: keys, the local beacon, the dev chain, the roles' command lines, and
//! validator 1's small disk.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::args;
use crate::procs::Proc;

/// Upload grace of the windows, seconds.
const GRACE: u64 = 2;

/// Windows in the validators' scoring span: a window's weights depend on the verdicts of this
/// many windows ending with it.
pub(crate) const WEIGHTS_SPAN: u64 = 4;

/// Where the roles reach the beacon, the chain and the store.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    /// Drand relay URL.
    pub(crate) drand: String,
    /// Chain endpoint `host:port` (WebSocket for miners, HTTP for validators).
    pub(crate) chain: String,
    /// S3 endpoint URL.
    pub(crate) store: String,
    pub(crate) bucket: String,
}

impl Endpoints {
    fn storage(&self) -> Vec<OsString> {
        args![
            "--storage.url",
            format!("s3://{}", self.bucket),
            "--storage.endpoint",
            &self.store,
            "--storage.allow-http",
            "--storage.region",
            "us-east-1",
            "--storage.access-key-id",
            "soak",
            "--storage.secret-access-key",
            "soak",
        ]
    }
}

pub(crate) struct Subnet {
    bin: PathBuf,
    work: PathBuf,
    model: PathBuf,
    blocks: u64,
    /// The subnet owner's hotkey, then the miners'.
    hotkeys: Vec<String>,
    /// The beacon and the chain, killed when the subnet is dropped.
    services: Vec<Proc>,
}

impl Subnet {
    pub(crate) fn new(bin: &Path, work: &Path, model: &Path, blocks: u64) -> anyhow::Result<Self> {
        if work.exists() {
            std::fs::remove_dir_all(work).with_context(|| format!("clear {}", work.display()))?;
        }
        std::fs::create_dir_all(work.join("logs"))
            .with_context(|| format!("create {}", work.display()))?;
        if !model.join("model.onnx").is_file() {
            bail!("--model {}: no model.onnx there", model.display());
        }
        Ok(Self {
            bin: bin.to_path_buf(),
            work: work.to_path_buf(),
            model: model.to_path_buf(),
            blocks,
            hotkeys: Vec::new(),
            services: Vec::new(),
        })
    }

    fn program(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.bin.join(name);
        if !path.is_file() {
            bail!("{} is not built (cargo build --workspace --bins)", path.display());
        }
        Ok(path)
    }

    fn logs(&self) -> PathBuf {
        self.work.join("logs")
    }

    /// Hotkeys `owner` and `miner0`..: `grail-miner keygen`.
    pub(crate) fn keys(&mut self, miners: usize) -> anyhow::Result<()> {
        let names =
            std::iter::once("owner".to_owned()).chain((0..miners).map(|i| format!("miner{i}")));
        for name in names {
            let out = Command::new(self.program("grail-miner")?)
                .args(["keygen", "--wallet.name", "soak", "--wallet.hotkey", &name])
                .arg("--wallet.path")
                .arg(self.work.join("wallets"))
                .output()
                .context("grail-miner keygen")?;
            if !out.status.success() {
                bail!("keygen {name}: {}", String::from_utf8_lossy(&out.stderr));
            }
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            let ss58 = v["ss58"].as_str().context("keygen printed no ss58")?;
            self.hotkeys.push(ss58.to_owned());
        }
        Ok(())
    }

    /// Starts the local beacon (1 s rounds); its URL.
    pub(crate) fn start_beacon(&mut self) -> anyhow::Result<String> {
        let mut p = Proc::new("beacon", &self.program("grail-beacon")?, &self.logs());
        p.start(args!["--listen", "127.0.0.1:0", "--period", "1", "--log.level", "warn"])?;
        let text = wait_for_output(&p, "the beacon's address")?;
        let v: serde_json::Value = serde_json::from_str(text.trim())?;
        let url = v["url"].as_str().context("the beacon printed no url")?.to_owned();
        self.services.push(p);
        Ok(url)
    }

    /// Starts the dev chain (1 s blocks, netuid 1, the owner at uid 0 and every miner
    /// registered from genesis); its address.
    pub(crate) fn start_devchain(&mut self, beacon: &str) -> anyhow::Result<SocketAddr> {
        let neurons: Vec<_> = self
            .hotkeys
            .iter()
            .map(|h| serde_json::json!({"hotkey": h, "stake": 1_000_000_000u64}))
            .collect();
        let balances: Vec<_> = self
            .hotkeys
            .iter()
            .map(|h| serde_json::json!({"account": h, "free": 1_000_000_000u64}))
            .collect();
        let genesis = serde_json::json!({
            "netuid": 1, "owner": self.hotkeys.first().context("keys first")?,
            "tempo": self.blocks - 1, "weights_rate_limit": 0,
            "neurons": neurons, "balances": balances,
        });
        let path = self.work.join("genesis.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&genesis)?)?;
        let mut p = Proc::new("devchain", &self.program("grail-devchain")?, &self.logs());
        p.start(args![
            "--genesis",
            &path,
            "--listen",
            "127.0.0.1:0",
            "--block-time-ms",
            "1000",
            "--beacon.chain",
            "local",
            "--beacon.relays",
            beacon,
            "--log.level",
            "info",
        ])?;
        // grail-devchain: listening on ws://ADDR and http://ADDR, genesis 0x…, …
        let text = wait_for_output(&p, "the dev chain's address")?;
        let addr = text
            .split_whitespace()
            .find_map(|w| w.strip_prefix("ws://"))
            .context("the dev chain printed no ws:// address")?;
        let addr: SocketAddr = addr.parse().with_context(|| format!("dev chain address {addr}"))?;
        self.services.push(p);
        Ok(addr)
    }

    pub(crate) fn miners(&self, n: usize) -> Vec<Proc> {
        let program = self.bin.join("grail-miner");
        (0..n).map(|i| Proc::new(&format!("miner{i}"), &program, &self.logs())).collect()
    }

    pub(crate) fn validators(&self, n: usize) -> Vec<Proc> {
        let program = self.bin.join("grail-validator");
        (1..=n).map(|i| Proc::new(&format!("validator{i}"), &program, &self.logs())).collect()
    }

    pub(crate) fn reference(&self) -> Proc {
        Proc::new("reference", &self.bin.join("grail-validator"), &self.logs())
    }

    fn window_flags(&self) -> Vec<OsString> {
        args![
            "--netuid",
            "1",
            "--chain.block-time",
            "1",
            "--window.blocks",
            self.blocks.to_string(),
            "--window.grace",
            GRACE.to_string(),
            "--beacon.chain",
            "local",
            "--max-new-tokens",
            "16",
            "--threads",
            "1",
            "--model",
            &self.model,
        ]
    }

    /// Miner `i` mining windows `from..=until` (one problem each).
    pub(crate) fn miner_args(
        &self,
        i: usize,
        from: u64,
        until: u64,
        at: &Endpoints,
    ) -> Vec<OsString> {
        let mut a = args!["mine", "--wallet.name", "soak", "--wallet.hotkey", format!("miner{i}")];
        a.extend(args!["--wallet.path", self.work.join("wallets")]);
        a.extend(self.window_flags());
        a.extend(args![
            "--subtensor.chain_endpoint",
            format!("ws://{}", at.chain),
            "--beacon.relays",
            &at.drand,
            "--problems",
            "1",
            "--from-window",
            from.to_string(),
            "--until-window",
            until.to_string(),
        ]);
        a.extend(at.storage());
        a
    }

    /// `grail-validator replay TRANSCRIPT` on this subnet's model.
    pub(crate) fn replay_command(&self, transcript: &Path) -> Command {
        let mut c = Command::new(self.bin.join("grail-validator"));
        c.arg("replay").arg(transcript).arg("--model").arg(&self.model);
        c
    }

    /// A validator over windows `from..=until` with data folder `data`.
    pub(crate) fn validator_args(
        &self,
        data: &Path,
        from: u64,
        until: u64,
        at: &Endpoints,
    ) -> Vec<OsString> {
        let mut a = args!["run", "--data", data];
        a.extend(self.window_flags());
        a.extend(args![
            "--subtensor.chain_endpoint",
            format!("http://{}", at.chain),
            "--beacon.relays",
            &at.drand,
            "--window.challenge-buffer",
            "2",
            "--from-window",
            from.to_string(),
            "--until-window",
            until.to_string(),
            "--storage.trust-store-times",
            "--transcripts",
            "--weights.span",
            WEIGHTS_SPAN.to_string(),
            "--weights.cap",
            "16",
            "--weights.burn-bps",
            "5000",
            "--weights.on-chain",
            "false",
            "--log.level",
            "info",
        ]);
        a.extend(at.storage());
        a
    }
}

/// The first output line of a starting service.
fn wait_for_output(p: &Proc, what: &str) -> anyhow::Result<String> {
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(p.stdout_path()) {
            if text.ends_with('\n') {
                return Ok(text);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("no {what} after 30 s; see {}", p.stderr_path().display())
}

/// The chain's best block number (`chain_getHeader` over HTTP).
pub(crate) async fn best_block(chain: SocketAddr) -> anyhow::Result<u64> {
    let body =
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "chain_getHeader", "params": []});
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{chain}"))
        .json(&body)
        .timeout(Duration::from_secs(5))
        .send()
        .await?
        .json()
        .await?;
    let number = answer["result"]["number"].as_str().context("chain_getHeader: no number")?;
    Ok(u64::from_str_radix(number.trim_start_matches("0x"), 16)?)
}

/// Validator 1's data folder: a tmpfs of a few MB when the soak runs as root, so that it can
/// be filled; else a plain folder and no disk fault.
pub(crate) struct Disk {
    path: PathBuf,
    mounted: Result<u64, String>,
}

impl Disk {
    pub(crate) fn mount(path: &Path, mb: u64) -> Self {
        let mounted = (|| {
            std::fs::create_dir_all(path).map_err(|e| format!("create {}: {e}", path.display()))?;
            if mb == 0 {
                return Err("--disk-mb 0".to_owned());
            }
            let out = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
                .arg(path)
                .output()
                .map_err(|e| format!("mount: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "mount -t tmpfs (needs root): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(mb)
        })();
        Self { path: path.to_path_buf(), mounted }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn mounted(&self) -> bool {
        self.mounted.is_ok()
    }

    pub(crate) fn describe(&self) -> String {
        match &self.mounted {
            Ok(mb) => format!("validator 1's data folder on a {mb} MB tmpfs"),
            Err(why) => format!("no disk fault: {why}"),
        }
    }

    fn ballast(&self) -> PathBuf {
        self.path.join("ballast")
    }

    /// Fills the disk: a file grown until the disk refuses more.
    pub(crate) fn fill(&self) -> anyhow::Result<()> {
        let mut f = std::fs::File::create(self.ballast()).context("create the ballast file")?;
        let chunk = vec![0u8; 1 << 20];
        while f.write_all(&chunk).is_ok() {}
        // The last partial chunk: bytes until none fit.
        while f.write_all(&[0u8; 512]).is_ok() {}
        Ok(())
    }

    pub(crate) fn free(&self) -> anyhow::Result<()> {
        std::fs::remove_file(self.ballast()).context("remove the ballast file")
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        if self.mounted.is_ok() {
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}
