//! Measures the dev chain and the client over loopback: blocks produced per second at a given
//! block time, and the time to read a 256-uid subnet (`SubtensorClient::subnet_at`: three
//! batched `state_queryStorageAt`) over WebSocket and HTTP. Prints one JSON line.
//!
//! `cargo run -p grail-devchain --example rpc_bench [-- BLOCK_MS READS]` (defaults 100, 20).

use std::time::{Duration, Instant};

use grail_chain::rpc::{ClientOptions, SubtensorClient};
use grail_devchain::genesis::Genesis;
use grail_devchain::Options;
use grail_protocol::keys::Hotkey;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let block_ms: u64 = args.next().map_or(Ok(100), |a| a.parse())?;
    let reads: u32 = args.next().map_or(Ok(20), |a| a.parse())?;
    let neurons: Vec<serde_json::Value> = (0..256u16)
        .map(|i| {
            let mut b = [3u8; 32];
            b[..2].copy_from_slice(&i.to_le_bytes());
            serde_json::json!({"hotkey": Hotkey(b), "stake": 1_000 + u64::from(i)})
        })
        .collect();
    let genesis: Genesis =
        serde_json::from_value(serde_json::json!({"netuid": 81, "neurons": neurons}))?;
    let options = Options {
        listen: "127.0.0.1:0".parse()?,
        block_time: Duration::from_millis(block_ms),
        finality_lag: 0,
        state_pruning: None,
        beacon: None,
    };
    let chain = grail_devchain::start(&genesis, &options).await?;
    let mut out = serde_json::json!({"bench": "devchain_rpc", "block_ms": block_ms, "uids": 256, "reads": reads});
    for scheme in ["ws", "http"] {
        let client = SubtensorClient::connect(ClientOptions {
            endpoint: format!("{scheme}://{}", chain.addr),
            block_time_s: 1,
            request_timeout: Duration::from_secs(10),
            expected_genesis: None,
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(block_ms * 2)).await;
        let at = client.finalized().map(|h| h.hash).ok_or_else(|| anyhow::anyhow!("no head"))?;
        let mut times = Vec::new();
        for _ in 0..reads {
            let t = Instant::now();
            let subnet = client.subnet_at(81, at).await?;
            anyhow::ensure!(subnet.neurons.len() == 256, "read {} neurons", subnet.neurons.len());
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        out[format!("metagraph_ms_{scheme}_median")] = serde_json::json!(times[times.len() / 2]);
        out[format!("metagraph_ms_{scheme}_max")] = serde_json::json!(times[times.len() - 1]);
    }
    let first = chain.shared.chain().best().header.number;
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let last = chain.shared.chain().best().header.number;
    let rate = (last - first) as f64 / t.elapsed().as_secs_f64();
    out["blocks_per_s"] = serde_json::json!(rate);
    out["blocks_per_s_nominal"] = serde_json::json!(1000.0 / block_ms as f64);
    println!("{out}");
    Ok(())
}
