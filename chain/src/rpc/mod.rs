//! A subtensor node over JSON-RPC (WebSocket or HTTP), on subxt's RPC layer: the
//! [`ChainSource`] of a real chain, and the subnet's state from its storage.
//!
//! What it asks the node (Substrate's legacy RPC methods, which every subtensor node serves):
//! `chain_getBlockHash`, `chain_getHeader`, `chain_getFinalizedHead`,
//! `chain_subscribeFinalizedHeads` (WebSocket; polled over HTTP), `state_getRuntimeVersion`,
//! `state_call` (`Metadata_metadata_at_version`, falling back to `state_getMetadata`),
//! `state_getStorage`, `state_queryStorageAt` and `system_chain`.
//!
//! Nothing it hands out is computed locally: a block hash is the node's answer, accepted only
//! for a finalized block and only if the header the node gives for it has that number and
//! hashes (blake2-256 of its SCALE encoding) to it.

pub mod commitments;
mod heads;
mod http;
pub mod submit;
pub mod weights;

use std::sync::Arc;
use std::time::Duration;

use grail_protocol::hash::Hash32;
use grail_protocol::window::ChainClock;
use parity_scale_codec::{Decode, Encode};
use subxt::config::substrate::SubstrateHeader;
use subxt::config::RpcConfigFor;
use subxt::rpcs::client::reconnecting_rpc_client::ExponentialBackoff;
use subxt::rpcs::client::ReconnectingRpcClient;
use subxt::rpcs::methods::LegacyRpcMethods;
use subxt::rpcs::RpcClient;
use subxt::utils::H256;
use subxt::SubstrateConfig;
use subxt_metadata::Metadata;

use crate::metadata::checked_metadata;
use crate::network::{transport_of, Transport};
use crate::storage_key::storage_key;
use crate::subnet::SubnetState;
use crate::{anchored_clock, ChainError, ChainSource};

pub use heads::Head;

/// The RPC configuration of subtensor (Substrate's: H256 hashes, 32-byte account ids).
pub type Rpc = LegacyRpcMethods<RpcConfigFor<SubstrateConfig>>;
/// A subtensor block header.
pub type Header = SubstrateHeader<H256>;

/// The hash of a header: blake2-256 of its SCALE encoding.
pub fn header_hash(header: &Header) -> Hash32 {
    sp_crypto_hashing::blake2_256(&header.encode())
}

/// How to reach a node.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `ws://`, `wss://`, `http://` or `https://`.
    pub endpoint: String,
    /// The network's nominal seconds per block (window lengths are counted in it).
    pub block_time_s: u64,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// Refuse a node on another chain.
    pub expected_genesis: Option<Hash32>,
}

/// Which chain a node is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainInfo {
    /// `system_chain`.
    pub chain: String,
    /// Hash of block 0.
    pub genesis: Hash32,
    /// The runtime's `specName`.
    pub spec_name: String,
    pub spec_version: u32,
    pub transaction_version: u32,
    /// The metadata version served (16 through the runtime API; 14 from `state_getMetadata`).
    pub metadata_version: u32,
}

/// A connected subtensor node.
#[derive(Debug, Clone)]
pub struct SubtensorClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoint: String,
    rpc: Rpc,
    metadata: Arc<Metadata>,
    info: ChainInfo,
    block_time_s: u64,
    timeout: Duration,
    heads: tokio::sync::watch::Receiver<Option<Head>>,
    tracker: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.tracker.abort();
    }
}

impl SubtensorClient {
    /// Connects to `options.endpoint`, reads which chain and runtime it is, and checks its
    /// metadata for everything the roles use. Needs a tokio runtime.
    pub async fn connect(options: ClientOptions) -> Result<Self, ChainError> {
        let endpoint = options.endpoint.clone();
        let unavailable =
            |detail: String| ChainError::Unavailable { source_name: endpoint.clone(), detail };
        if options.block_time_s == 0 {
            return Err(ChainError::ZeroBlockTime);
        }
        let transport = transport_of(&endpoint).map_err(&unavailable)?;
        let client: RpcClient = match transport {
            Transport::WebSocket => {
                // Reconnects forever, 200 ms, 400 ms, ... up to 5 s apart: a node back after
                // any outage is used again. The first connection gets one request timeout.
                let policy = ExponentialBackoff::from_millis(2)
                    .factor(100)
                    .max_delay(Duration::from_secs(5));
                let connect = ReconnectingRpcClient::builder()
                    .retry_policy(policy)
                    .request_timeout(options.request_timeout)
                    .connection_timeout(options.request_timeout)
                    .build(&endpoint);
                let ws = tokio::time::timeout(options.request_timeout, connect)
                    .await
                    .map_err(|_| {
                        unavailable(format!(
                            "no WebSocket connection within {:.1} s (refused, or no answer)",
                            options.request_timeout.as_secs_f64()
                        ))
                    })?
                    .map_err(|e| unavailable(format!("cannot connect: {e}")))?;
                RpcClient::new(ws)
            }
            Transport::Http => RpcClient::new(
                http::HttpRpc::new(&endpoint, options.request_timeout).map_err(&unavailable)?,
            ),
        };
        let rpc = Rpc::new(client);
        let timeout = options.request_timeout;
        let call = Caller { endpoint: &endpoint, timeout };
        let genesis = call.run("chain_getBlockHash(0)", rpc.genesis_hash()).await?.0;
        if let Some(want) = options.expected_genesis {
            if want != genesis {
                return Err(unavailable(format!(
                    "genesis hash 0x{} is not the expected 0x{}",
                    hex::encode(genesis),
                    hex::encode(want)
                )));
            }
        }
        let chain = call.run("system_chain", rpc.system_chain()).await?;
        let version =
            call.run("state_getRuntimeVersion", rpc.state_get_runtime_version(None)).await?;
        let spec_name =
            version.other.get("specName").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let (bytes, metadata_version) = fetch_metadata(&rpc, &call).await?;
        let metadata = Arc::new(checked_metadata(&bytes, &endpoint)?);
        let info = ChainInfo {
            chain,
            genesis,
            spec_name,
            spec_version: version.spec_version,
            transaction_version: version.transaction_version,
            metadata_version,
        };
        let (tx, heads) = tokio::sync::watch::channel(None);
        let tracker = heads::Tracker {
            endpoint: endpoint.clone(),
            rpc: rpc.clone(),
            metadata: metadata.clone(),
            timeout,
            block_time_s: options.block_time_s,
            transport,
        };
        let tracker = tokio::spawn(tracker.run(tx));
        let inner = Inner {
            endpoint,
            rpc,
            metadata,
            info,
            block_time_s: options.block_time_s,
            timeout,
            heads,
            tracker,
        };
        let client = Self { inner: Arc::new(inner) };
        client.wait_for_head(timeout * 3).await?;
        Ok(client)
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Which chain and runtime the node is on.
    pub fn info(&self) -> &ChainInfo {
        &self.inner.info
    }

    /// The node's runtime metadata (checked at connection).
    pub fn metadata(&self) -> &Metadata {
        &self.inner.metadata
    }

    /// The latest finalized head seen, if any.
    pub fn finalized(&self) -> Option<Head> {
        *self.inner.heads.borrow()
    }

    /// The node's best block number (`chain_getHeader` of the best block).
    pub async fn best_block(&self) -> Result<u64, ChainError> {
        let header =
            self.call().run("chain_getHeader", self.inner.rpc.chain_get_header(None)).await?;
        header.map(|h| h.number).ok_or_else(|| self.unavailable("no best header".into()))
    }

    /// Waits until the tracker has a finalized head.
    async fn wait_for_head(&self, limit: Duration) -> Result<Head, ChainError> {
        let mut rx = self.inner.heads.clone();
        let waited = tokio::time::timeout(limit, rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(head)) => head.ok_or_else(|| self.unavailable("no finalized head".into())),
            _ => Err(self.unavailable(format!("no finalized head in {} s", limit.as_secs()))),
        }
    }

    fn call(&self) -> Caller<'_> {
        Caller { endpoint: &self.inner.endpoint, timeout: self.inner.timeout }
    }

    fn unavailable(&self, detail: String) -> ChainError {
        ChainError::Unavailable { source_name: self.inner.endpoint.clone(), detail }
    }

    /// The node's hash of finalized block `block`, checked against its header.
    pub async fn verified_hash(&self, block: u64) -> Result<Hash32, ChainError> {
        let finalized = match self.finalized() {
            Some(head) => head,
            None => self.wait_for_head(self.inner.timeout).await?,
        };
        if block > finalized.number {
            return Err(ChainError::NotYetProduced { block, latest: Some(finalized.number) });
        }
        let rpc = &self.inner.rpc;
        let number = subxt::rpcs::methods::legacy::NumberOrHex::Number(block);
        let hash = self
            .call()
            .run("chain_getBlockHash", rpc.chain_get_block_hash(Some(number)))
            .await?
            .ok_or_else(|| {
                self.unavailable(format!(
                    "no hash for block {block}, though block {} is finalized",
                    finalized.number
                ))
            })?;
        let header = self
            .call()
            .run("chain_getHeader", rpc.chain_get_header(Some(hash)))
            .await?
            .ok_or_else(|| self.unavailable(format!("no header for block {block}'s hash")))?;
        check_header(&header, block, hash.0)
            .map_err(|d| self.unavailable(format!("chain_getHeader: {d}")))?;
        Ok(hash.0)
    }

    /// `Timestamp.Now` (unix ms) at the block with hash `at`.
    pub async fn timestamp_at(&self, at: Hash32) -> Result<u64, ChainError> {
        timestamp_at(&self.inner.rpc, &self.inner.metadata, &self.call(), at).await
    }

    /// Reads raw storage values of `keys` at block `at` in one request (`None`: absent).
    pub async fn storage_at(
        &self,
        keys: &[Vec<u8>],
        at: Hash32,
    ) -> Result<Vec<Option<Vec<u8>>>, ChainError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rpc = &self.inner.rpc;
        let sets = self
            .call()
            .run(
                "state_queryStorageAt",
                rpc.state_query_storage_at(keys.iter().map(Vec::as_slice), Some(H256(at))),
            )
            .await?;
        let mut found = std::collections::HashMap::new();
        for set in sets {
            for (key, value) in set.changes {
                found.insert(key.0, value.map(|v| v.0));
            }
        }
        keys.iter()
            .map(|k| {
                found.remove(k).ok_or_else(|| {
                    self.unavailable(format!(
                        "state_queryStorageAt left out key 0x{}",
                        hex::encode(k)
                    ))
                })
            })
            .collect()
    }

    /// The subnet `netuid` at finalized block `at`, read in three batched requests.
    pub async fn subnet_at(&self, netuid: u16, at: Hash32) -> Result<SubnetState, ChainError> {
        let md = &self.inner.metadata;
        let mut values = std::collections::HashMap::new();
        let keys = crate::subnet::fixed_keys(md, netuid)?;
        self.fetch_into(&keys, at, &mut values).await?;
        let n =
            crate::subnet::neuron_count(md, netuid, &mut |k| Ok(values.get(k).cloned().flatten()))?;
        let keys = crate::subnet::hotkey_keys(md, netuid, n)?;
        self.fetch_into(&keys, at, &mut values).await?;
        let keys = crate::subnet::stake_keys(md, netuid, &keys, &mut |k| {
            Ok(values.get(k).cloned().flatten())
        })?;
        self.fetch_into(&keys, at, &mut values).await?;
        SubnetState::read(md, netuid, |k| match values.get(k) {
            Some(v) => Ok(v.clone()),
            None => Err(self.unavailable(format!("key 0x{} was not fetched", hex::encode(k)))),
        })
    }

    /// `SubnetOwnerHotkey(netuid)` at block `at`, if set.
    pub async fn subnet_owner(
        &self,
        netuid: u16,
        at: Hash32,
    ) -> Result<Option<[u8; 32]>, ChainError> {
        let key = storage_key(
            &self.inner.metadata,
            "SubtensorModule",
            "SubnetOwnerHotkey",
            &[&netuid.encode()],
        )?;
        let value = self.storage_at(&[key], at).await?.pop().flatten();
        value
            .map(|v| {
                <[u8; 32]>::decode(&mut v.as_slice()).map_err(|e| ChainError::BadStorage {
                    item: format!("SubtensorModule.SubnetOwnerHotkey({netuid})"),
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    async fn fetch_into(
        &self,
        keys: &[Vec<u8>],
        at: Hash32,
        values: &mut std::collections::HashMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Result<(), ChainError> {
        for chunk in keys.chunks(STORAGE_BATCH) {
            let got = self.storage_at(chunk, at).await?;
            values.extend(chunk.iter().cloned().zip(got));
        }
        Ok(())
    }
}

/// Keys per `state_queryStorageAt` request.
const STORAGE_BATCH: usize = 256;

/// Checks that `header` is block `block` and hashes to `hash`.
pub fn check_header(header: &Header, block: u64, hash: Hash32) -> Result<(), String> {
    if header.number != block {
        return Err(format!(
            "the header given for block {block} (hash 0x{}) is block {}",
            hex::encode(hash),
            header.number
        ));
    }
    let computed = header_hash(header);
    if computed != hash {
        return Err(format!(
            "the header given for block {block} hashes to 0x{}, not the node's 0x{}",
            hex::encode(computed),
            hex::encode(hash)
        ));
    }
    Ok(())
}

/// Runs one request with the timeout, naming the endpoint and the method in errors.
#[derive(Debug, Clone, Copy)]
struct Caller<'a> {
    endpoint: &'a str,
    timeout: Duration,
}

impl Caller<'_> {
    async fn run<T>(
        &self,
        method: &str,
        request: impl std::future::Future<Output = Result<T, subxt::rpcs::Error>>,
    ) -> Result<T, ChainError> {
        self.try_run(method, request).await?.map_err(|e| {
            if state_discarded(&e) {
                return ChainError::StateDiscarded {
                    source_name: self.endpoint.into(),
                    method: method.into(),
                    message: e.message,
                };
            }
            let e = subxt::rpcs::Error::User(e);
            ChainError::Unavailable {
                source_name: self.endpoint.into(),
                detail: format!("{method}: {e}"),
            }
        })
    }

    /// [`Caller::run`] that hands back the node's error answer (code, message, data) for the
    /// caller to judge; no answer or a transport failure is `Unavailable`.
    async fn try_run<T>(
        &self,
        method: &str,
        request: impl std::future::Future<Output = Result<T, subxt::rpcs::Error>>,
    ) -> Result<Result<T, subxt::rpcs::UserError>, ChainError> {
        let unavailable =
            |detail: String| ChainError::Unavailable { source_name: self.endpoint.into(), detail };
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(v)) => Ok(Ok(v)),
            Ok(Err(subxt::rpcs::Error::User(e))) => Ok(Err(e)),
            Ok(Err(e)) => Err(unavailable(format!("{method}: {e}"))),
            Err(_) => Err(unavailable(format!(
                "{method}: no answer in {:.1} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }
}

/// A node's answer to a state read at a block whose state it pruned. Substrate's client says
/// `UnknownBlock: State already discarded for 0x…` (older releases: `Api called for an unknown
/// Block: State already discarded for …`), in a client error (4003) from the state methods.
fn state_discarded(e: &subxt::rpcs::UserError) -> bool {
    e.message.contains("State already discarded")
}

async fn fetch_metadata(rpc: &Rpc, call: &Caller<'_>) -> Result<(Vec<u8>, u32), ChainError> {
    let version = 16u32.encode();
    let at_version = rpc.state_call("Metadata_metadata_at_version", Some(&version), None);
    if let Ok(raw) = call.run("state_call(Metadata_metadata_at_version)", at_version).await {
        if let Ok(Some(bytes)) = Option::<Vec<u8>>::decode(&mut raw.as_slice()) {
            return Ok((bytes, 16));
        }
    }
    let v14 = call.run("state_getMetadata", rpc.state_get_metadata(None)).await?;
    Ok((v14.into_raw(), 14))
}

async fn timestamp_at(
    rpc: &Rpc,
    md: &Metadata,
    call: &Caller<'_>,
    at: Hash32,
) -> Result<u64, ChainError> {
    let key = storage_key(md, "Timestamp", "Now", &[])?;
    let raw = call
        .run("state_getStorage(Timestamp.Now)", rpc.state_get_storage(&key, Some(H256(at))))
        .await?;
    let item = || format!("Timestamp.Now at 0x{}", hex::encode(at));
    let raw =
        raw.ok_or_else(|| ChainError::BadStorage { item: item(), reason: "absent".into() })?;
    let mut input = raw.as_slice();
    match u64::decode(&mut input) {
        Ok(ms) if input.is_empty() => Ok(ms),
        _ => Err(ChainError::BadStorage {
            item: item(),
            reason: format!("{} bytes are not a u64", raw.len()),
        }),
    }
}

impl ChainSource for SubtensorClient {
    fn describe(&self) -> String {
        let i = &self.inner.info;
        format!("{} ({}, genesis 0x{})", self.inner.endpoint, i.chain, hex::encode(i.genesis))
    }

    fn estimated_clock(&self) -> ChainClock {
        let block_time_s = self.inner.block_time_s;
        let anchored = self
            .finalized()
            .and_then(|h| anchored_clock(h.number, h.timestamp_ms, block_time_s).ok());
        anchored.unwrap_or(ChainClock { genesis_unix: 0, block_time_s })
    }

    async fn current_block(&self, _now_unix: u64) -> Result<Option<u64>, ChainError> {
        match self.finalized() {
            Some(head) => Ok(Some(head.number)),
            None => self.wait_for_head(self.inner.timeout).await.map(|h| Some(h.number)),
        }
    }

    async fn block_hash(&self, block: u64) -> Result<Hash32, ChainError> {
        self.verified_hash(block).await
    }

    async fn window_clock(
        &self,
        window: u64,
        blocks_per_window: u64,
    ) -> Result<ChainClock, ChainError> {
        let first = window
            .checked_mul(blocks_per_window)
            .ok_or(ChainError::NotYetProduced { block: u64::MAX, latest: None })?;
        let hash = self.verified_hash(first).await?;
        let t_ms = self.timestamp_at(hash).await?;
        anchored_clock(first, t_ms, self.inner.block_time_s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use subxt::config::substrate::{Digest, DigestItem};

    fn header(number: u64) -> Header {
        Header {
            parent_hash: H256([7; 32]),
            number,
            state_root: H256([1; 32]),
            extrinsics_root: H256([2; 32]),
            digest: Digest { logs: vec![DigestItem::PreRuntime(*b"aura", vec![1, 2, 3])] },
        }
    }

    #[test]
    fn headers_are_checked_for_number_and_hash() {
        let h = header(42);
        let hash = header_hash(&h);
        check_header(&h, 42, hash).unwrap();
        assert!(check_header(&h, 41, hash).unwrap_err().contains("is block 42"));
        let err = check_header(&h, 42, [0; 32]).unwrap_err();
        assert!(err.contains("hashes to"), "{err}");
    }

    #[test]
    fn the_header_hash_is_blake2_of_its_encoding() {
        // Block numbers are compact-encoded: the same bytes whether the chain's are u32 or u64.
        let h = header(5);
        let enc = h.encode();
        assert_eq!(&enc[32..33], &[5 << 2]);
        assert_eq!(header_hash(&h), sp_crypto_hashing::blake2_256(&enc));
    }
}
