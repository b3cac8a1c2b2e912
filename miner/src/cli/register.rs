//! `register`: registers the wallet's hotkey on the subnet with
//! `SubtensorModule.burned_register(netuid, hotkey)`, signed by the hotkey itself as the owning
//! account (which pays the burn), and waits until a finalized block includes it. Prints
//! `{"netuid", "hotkey", "uid", "block", "block_hash", "tx_hash"}`.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use grail_chain::rpc::submit::Call;
use grail_cli::chain::ChainArgs;
use grail_cli::wallet::WalletArgs;
use serde_json::json;

#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    wallet: WalletArgs,
    #[command(flatten)]
    chain: ChainArgs,
}

pub fn run(args: &RegisterArgs) -> anyhow::Result<()> {
    let pair = args.wallet.load()?;
    let netuid = args.chain.require_netuid()?;
    if args.chain.node_endpoint().is_none() {
        anyhow::bail!(
            "register needs a subtensor node: give --subtensor.network or --subtensor.chain_endpoint"
        );
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async {
        let chain = args.chain.connect(Duration::from_secs(60)).await?;
        let client = chain.subtensor().context("register needs a subtensor node")?;
        let hotkey = pair.hotkey();
        let at = client.finalized().map(|h| h.hash);
        if let Some(at) = at {
            let subnet = client.subnet_at(netuid, at).await?;
            if let Some(n) = subnet.neurons.iter().find(|n| n.hotkey == hotkey.0) {
                anyhow::bail!(
                    "hotkey {hotkey} is already registered on netuid {netuid} as uid {}",
                    n.uid
                );
            }
        }
        tracing::info!(%hotkey, netuid, "registering (burned_register)");
        let inclusion = client
            .submit(&Call::burned_register(netuid, &hotkey), &pair)
            .await
            .with_context(|| format!("registering hotkey {hotkey} on netuid {netuid}"))?;
        let subnet = client.subnet_at(netuid, inclusion.block_hash).await?;
        let uid = subnet.neurons.iter().find(|n| n.hotkey == hotkey.0).map(|n| n.uid).context(
            "the registration was included but the hotkey is not in the subnet's storage",
        )?;
        println!(
            "{}",
            json!({
                "netuid": netuid,
                "hotkey": hotkey.to_ss58(),
                "uid": uid,
                "block": inclusion.block,
                "block_hash": format!("0x{}", hex::encode(inclusion.block_hash)),
                "tx_hash": format!("0x{}", hex::encode(inclusion.tx_hash)),
            })
        );
        Ok(())
    })
}
