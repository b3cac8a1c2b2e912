//! `commit`: publishes where this miner's window files are and how to read them, with
//! `Commitments.set_commitment(netuid, fields)` signed by the hotkey (format in
//! [`grail_chain::commitment`]). The store URL defaults to the miner's own part of the
//! `--storage.*` store (`{url or folder}/{hotkey}`), where `mine` writes; the read keys are
//! the `--commit.read-*` ones, never the storage's write keys (refused if they are the same).
//! Skips sending when the chain already holds these fields. Prints `{"netuid", "hotkey",
//! "store_url", "fields", "sent", ...}`; with `--commit.dry-run`, the fields only, no node needed.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use grail_chain::commitment::MinerCommitment;
use grail_chain::rpc::submit::Call;
use grail_cli::chain::ChainArgs;
use grail_cli::storage::StorageArgs;
use grail_cli::wallet::WalletArgs;
use serde_json::{json, Value};

#[derive(Debug, Args)]
pub struct CommitArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    #[command(flatten)]
    chain: ChainArgs,
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    commit: CommitFlags,
}

/// What goes into the commitment besides the store's location.
#[derive(Clone, Default, Args)]
#[command(next_help_heading = "Commitment")]
pub struct CommitFlags {
    /// The store URL validators read this miner's files from (`s3://bucket[/prefix]` or
    /// `file:///folder`, its root holding `windows/`); default: this hotkey's part of the
    /// --storage.* store.
    #[arg(id = "commit.url", long = "commit.url", env = "GRAIL_COMMIT_URL")]
    pub url: Option<String>,
    /// The S3 endpoint validators use (`https://host[:port]`); default: --storage.endpoint.
    #[arg(id = "commit.endpoint", long = "commit.endpoint", env = "GRAIL_COMMIT_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Read-only access key id published for validators (public once on chain); unset:
    /// anonymous reads of a public bucket.
    #[arg(
        id = "commit.read_access_key_id",
        long = "commit.read-access-key-id",
        env = "GRAIL_COMMIT_READ_ACCESS_KEY_ID"
    )]
    pub read_access_key_id: Option<String>,
    /// Its secret (public once on chain: it must grant reads only).
    #[arg(
        id = "commit.read_secret_access_key",
        long = "commit.read-secret-access-key",
        env = "GRAIL_COMMIT_READ_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub read_secret_access_key: Option<String>,
    /// Print the fields and send nothing (no node needed).
    #[arg(id = "commit.dry_run", long = "commit.dry-run", env = "GRAIL_COMMIT_DRY_RUN")]
    pub dry_run: bool,
}

impl std::fmt::Debug for CommitFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitFlags")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("read_access_key_id", &self.read_access_key_id)
            .field("dry_run", &self.dry_run)
            .finish_non_exhaustive()
    }
}

/// The commitment of `hotkey` (SS58) for `storage` and `flags`, checked; `write_env` is the
/// environment's `(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)`, which the store may write with.
pub fn commitment(
    storage: &StorageArgs,
    flags: &CommitFlags,
    hotkey: &str,
    write_env: &(Option<String>, Option<String>),
) -> anyhow::Result<MinerCommitment> {
    let store_url = match (&flags.url, &storage.url) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        (None, Some(url)) => format!("{}/{hotkey}", url.trim_end_matches('/')),
        (None, None) => {
            let folder = absolute(&storage.path)?;
            format!("file://{}/{hotkey}", folder.trim_end_matches('/'))
        }
    };
    let s3 = store_url.starts_with("s3://");
    let endpoint = flags.endpoint.clone().or_else(|| storage.endpoint.clone()).filter(|_| s3);
    let read_credentials = match (&flags.read_access_key_id, &flags.read_secret_access_key) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        (None, None) => None,
        _ => bail!(
            "--commit.read-access-key-id and --commit.read-secret-access-key go together \
             (or neither, for a public bucket)"
        ),
    };
    if let Some((id, secret)) = &read_credentials {
        let write_ids = [storage.access_key_id.as_ref(), write_env.0.as_ref()];
        let write_secrets = [storage.secret_access_key.as_ref(), write_env.1.as_ref()];
        if write_ids.contains(&Some(id)) || write_secrets.contains(&Some(secret)) {
            bail!(
                "--commit.read-*: these are the store's write credentials; a commitment is \
                 public, so publish keys that can only read"
            );
        }
    }
    let c = MinerCommitment {
        allow_http: endpoint.as_deref().is_some_and(|e| e.starts_with("http://")),
        endpoint,
        region: s3.then(|| storage.region.clone()),
        read_credentials,
        store_url,
    };
    c.to_fields().context("the commitment")?;
    Ok(c)
}

/// `path` as an absolute path in UTF-8.
fn absolute(path: &Path) -> anyhow::Result<String> {
    let abs = std::path::absolute(path)
        .with_context(|| format!("--storage.path {}: no absolute path", path.display()))?;
    abs.to_str()
        .map(str::to_owned)
        .with_context(|| format!("--storage.path {}: not UTF-8", abs.display()))
}

pub fn run(args: &CommitArgs) -> anyhow::Result<()> {
    let pair = args.wallet.load()?;
    let hotkey = pair.hotkey();
    let write_env =
        (std::env::var("AWS_ACCESS_KEY_ID").ok(), std::env::var("AWS_SECRET_ACCESS_KEY").ok());
    let c = commitment(&args.storage, &args.commit, &hotkey.to_ss58(), &write_env)?;
    let fields = c.to_fields()?;
    let shown: Vec<String> =
        fields.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let mut line = json!({"hotkey": hotkey.to_ss58(), "store_url": c.store_url, "fields": shown});
    if args.commit.dry_run {
        line["sent"] = Value::Bool(false);
        println!("{line}");
        return Ok(());
    }
    let netuid = args.chain.require_netuid()?;
    line["netuid"] = json!(netuid);
    if args.chain.node_endpoint().is_none() {
        bail!(
            "commit needs a subtensor node: give --subtensor.network or --subtensor.chain_endpoint"
        );
    }
    if let Some(folder) = c.store_url.strip_prefix("file://") {
        // Validators open a committed folder only once it exists.
        std::fs::create_dir_all(folder).with_context(|| format!("creating {folder}"))?;
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async {
        let chain = args.chain.connect(Duration::from_secs(60)).await?;
        let client = chain.subtensor().context("commit needs a subtensor node")?;
        let head = client.finalized().context("the node has no finalized block")?;
        let subnet = client.subnet_at(netuid, head.hash).await?;
        if !subnet.neurons.iter().any(|n| n.hotkey == hotkey.0) {
            bail!(
                "hotkey {hotkey} is not registered on netuid {netuid}: run `grail-miner register` \
                 first"
            );
        }
        let current = client.commitment_of(netuid, &hotkey.0, head.hash).await?;
        if current.as_ref().and_then(|r| r.raw_fields().ok()).as_ref() == Some(&fields) {
            tracing::info!(%hotkey, netuid, "the chain already holds this commitment");
            line["sent"] = Value::Bool(false);
            line["block"] = json!(current.map(|r| r.block));
            println!("{line}");
            return Ok(());
        }
        let store = &c.store_url;
        tracing::info!(%hotkey, netuid, store, "committing the store (set_commitment)");
        let inclusion = client
            .submit(&Call::set_commitment(netuid, &fields), &pair)
            .await
            .with_context(|| format!("set_commitment of {hotkey} on netuid {netuid}"))?;
        let stored = client.commitment_of(netuid, &hotkey.0, inclusion.block_hash).await?;
        let stored =
            stored.context("included, but the chain holds no commitment for the hotkey")?;
        if stored.raw_fields().ok().as_ref() != Some(&fields) {
            bail!("included, but the chain holds other fields: {:?}", stored.info.fields);
        }
        line["sent"] = Value::Bool(true);
        line["block"] = json!(inclusion.block);
        line["block_hash"] = json!(format!("0x{}", hex::encode(inclusion.block_hash)));
        line["tx_hash"] = json!(format!("0x{}", hex::encode(inclusion.tx_hash)));
        println!("{line}");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        commit: CommitFlags,
    }

    fn parse(args: &[&str]) -> Flags {
        Flags::try_parse_from(std::iter::once("x").chain(args.iter().copied())).expect("flags")
    }

    const HK: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";

    #[test]
    fn the_default_url_is_the_miners_part_and_write_keys_stay_private() {
        let f = parse(&["--storage.path", "/srv/grail"]);
        let c = commitment(&f.storage, &f.commit, HK, &(None, None)).expect("local");
        assert_eq!(c.store_url, format!("file:///srv/grail/{HK}"));
        assert_eq!(c.to_fields().expect("fields").len(), 1);

        let s3 = [
            "--storage.url",
            "s3://bucket/miners/",
            "--storage.endpoint",
            "http://127.0.0.1:9000",
            "--storage.access-key-id",
            "WRITEID",
            "--storage.secret-access-key",
            "WRITESECRET",
        ];
        let f = parse(&s3);
        let c = commitment(&f.storage, &f.commit, HK, &(None, None)).expect("anonymous");
        assert_eq!(c.store_url, format!("s3://bucket/miners/{HK}"));
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(c.allow_http && c.read_credentials.is_none());
        let text = format!("{:?}", c.to_fields().expect("fields"));
        assert!(!text.contains("WRITE"), "write keys never go into the fields: {text}");

        let read = ["--commit.read-access-key-id", "READID", "--commit.read-secret-access-key"];
        let f = parse(&[&s3[..], &read[..], &["READSECRET"]].concat());
        let c = commitment(&f.storage, &f.commit, HK, &(None, None)).expect("read keys");
        assert_eq!(c.read_credentials, Some(("READID".into(), "READSECRET".into())));

        for (flags, env) in [
            (parse(&[&s3[..], &read[..], &["WRITESECRET"]].concat()), (None, None)),
            (parse(&[&read[..], &["ENVSECRET"]].concat()), (None, Some("ENVSECRET".into()))),
        ] {
            let err = commitment(&flags.storage, &flags.commit, HK, &env).unwrap_err().to_string();
            assert!(err.contains("write credentials"), "{err}");
        }
        let half = parse(&["--commit.read-access-key-id", "READID"]);
        let err = commitment(&half.storage, &half.commit, HK, &(None, None)).unwrap_err();
        assert!(err.to_string().contains("go together"), "{err}");
        let bad = parse(&["--commit.url", "ftp://x"]);
        let err = commitment(&bad.storage, &bad.commit, HK, &(None, None)).unwrap_err();
        assert!(format!("{err:#}").contains("unknown scheme"), "{err:#}");
    }
}
