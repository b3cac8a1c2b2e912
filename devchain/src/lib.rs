//! A loopback chain that speaks subtensor's wire format, for running and testing the roles
//! where no subtensor node can run: Substrate JSON-RPC over HTTP and WebSocket on one port,
//! blocks at a fixed interval, and subtensor's storage SCALE-encoded under its real keys from
//! a genesis file, described by the vendored finney metadata.
//!
//! It applies the calls in `pool::APPLIED_CALLS` with subtensor's rules ([`dispatch`]),
//! reveals timelocked weight commits at the start of each block ([`reveal`]), and stores the
//! drand pulses it fetches from the beacon given with `--beacon.*` ([`pulses`]); without one
//! it has no pulses and reveals nothing.

pub mod account;
pub mod author;
pub mod dispatch;
pub mod events;
pub mod extrinsic;
pub mod genesis;
pub mod legacy_metadata;
pub mod pool;
pub mod pulses;
pub mod reveal;
pub mod rpc;
pub mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grail_chain::metadata::{checked_metadata, FINNEY_METADATA};
use grail_cli::beacon::BeaconArgs;
use jsonrpsee::server::{Server, ServerHandle};
use tokio::sync::{broadcast, mpsc};

use crate::genesis::Genesis;
use crate::pool::Pool;
use crate::pulses::Pulse;
use crate::rpc::Shared;
use crate::state::DevChain;

/// How the dev chain runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub block_time: Duration,
    pub finality_lag: u64,
    /// Finalized blocks whose state is kept (a pruned node's `--state-pruning`); `None` keeps
    /// all (an archive node). State reads at an older block fail as a pruned node's do.
    pub state_pruning: Option<u64>,
    /// Where drand pulses come from; none without (see [`pulses::enabled`]).
    pub beacon: Option<BeaconArgs>,
}

/// A running dev chain.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on (`ws://` and `http://` both).
    pub addr: SocketAddr,
    pub genesis_hash: [u8; 32],
    pub shared: Arc<Shared>,
    pub server: ServerHandle,
    pub producer: tokio::task::JoinHandle<()>,
    /// The task fetching drand pulses, when relays were given.
    pub pulses: Option<tokio::task::JoinHandle<()>>,
}

pub(crate) fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Builds the genesis block and starts serving and producing blocks.
pub async fn start(genesis: &Genesis, options: &Options) -> anyhow::Result<Running> {
    let beacon = match options.beacon.clone().filter(pulses::enabled) {
        Some(args) => {
            let trusted = args.trusted()?;
            Some((args, trusted))
        }
        None => {
            tracing::warn!(
                "no --beacon.* flags: the dev chain stores no drand pulses, so timelocked weight commits are never revealed"
            );
            None
        }
    };
    let metadata = checked_metadata(FINNEY_METADATA, "the vendored finney metadata")?;
    let (version_scale, version_json) =
        rpc::runtime_version(&metadata).map_err(|e| anyhow::anyhow!("runtime version: {e}"))?;
    let storage = genesis.storage(&metadata)?;
    let v16 = legacy_metadata::decode_v16(FINNEY_METADATA)?;
    let metadata_v14 = legacy_metadata::encode(frame_metadata::RuntimeMetadata::V14(
        legacy_metadata::v14_of(&v16)?,
    ));
    let metadata_v15 = legacy_metadata::encode(frame_metadata::RuntimeMetadata::V15(
        legacy_metadata::v15_of(&v16)?,
    ));
    let block_time_ms = options.block_time.as_millis().max(1) as u64;
    let chain = DevChain::new(metadata, storage, unix_ms(), block_time_ms, options.finality_lag)?;
    let genesis_hash = chain.best().hash;
    let num = |field: &str| {
        version_json[field]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| anyhow::anyhow!("runtime version: no {field}"))
    };
    let (spec_version, transaction_version) = (num("specVersion")?, num("transactionVersion")?);
    let (new_heads, _) = broadcast::channel(64);
    let (finalized_heads, _) = broadcast::channel(64);
    let shared = Arc::new(Shared {
        chain: Mutex::new(chain),
        metadata_bytes: FINNEY_METADATA.to_vec(),
        metadata_v14,
        metadata_v15,
        version_scale,
        version_json,
        chain_name: genesis.chain.clone(),
        genesis_hash,
        spec_version,
        transaction_version,
        new_heads,
        finalized_heads,
        pool: Mutex::new(Pool::default()),
        state_pruning: options.state_pruning,
    });
    let module = rpc::module(shared.clone()).map_err(|e| anyhow::anyhow!("rpc: {e}"))?;
    let server = Server::builder()
        .build(options.listen)
        .await
        .map_err(|e| anyhow::anyhow!("listen on {}: {e}", options.listen))?;
    let addr = server.local_addr()?;
    let server = server.start(module);
    let (pulse_tx, pulse_rx) = mpsc::unbounded_channel();
    let pulses = beacon.map(|(args, trusted)| {
        tokio::spawn(pulses::fetch(args, trusted, shared.clone(), pulse_tx))
    });
    let producer = tokio::spawn(produce(shared.clone(), options.block_time, pulse_rx));
    Ok(Running { addr, genesis_hash, shared, server, producer, pulses })
}

/// Produces a block every `interval`, with the pulses that arrived since the last, and
/// announces it.
async fn produce(
    shared: Arc<Shared>,
    interval: Duration,
    mut pulses: mpsc::UnboundedReceiver<Pulse>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut arrived = Vec::new();
        while let Ok(p) = pulses.try_recv() {
            arrived.push(p);
        }
        let produced = {
            let mut chain = shared.chain();
            let mut pool = shared.pool();
            let number = chain.best().header.number + 1;
            pool.build(&chain, number, &arrived).and_then(|mut built| {
                let extrinsics = std::mem::take(&mut built.extrinsics);
                let changes = std::mem::take(&mut built.changes);
                let block = chain.produce(changes, extrinsics, unix_ms())?;
                let (best, hash) = (block.header.clone(), block.hash);
                pool.included(built, number, hash);
                let finalized = chain.finalized().header.clone();
                pool.finalized(finalized.number);
                Ok((best, finalized))
            })
        };
        match produced {
            Ok((best, finalized)) => {
                tracing::debug!(block = best.number, "block produced");
                // No subscriber is not an error.
                let _ = shared.new_heads.send(best);
                let _ = shared.finalized_heads.send(finalized);
            }
            Err(e) => {
                tracing::error!(error = %e, "block production stopped");
                return;
            }
        }
    }
}
