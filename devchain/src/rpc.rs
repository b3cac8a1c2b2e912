//! The JSON-RPC methods the dev chain serves, with Substrate's names, parameters, answers and
//! error codes. One port speaks HTTP and WebSocket (jsonrpsee's server), as a node's does.

use std::sync::{Arc, Mutex, MutexGuard};

use grail_chain::rpc::Header;
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionMessage};
use parity_scale_codec::{Decode, Encode};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::pool::Pool;
use crate::state::DevChain;

/// Substrate's code for a client (state or block lookup) error.
const CLIENT_ERROR: i32 = 4003;
/// Substrate's code for a failed runtime call.
const CALL_ERROR: i32 = 1002;
/// JSON-RPC's invalid-params code.
const INVALID_PARAMS: i32 = -32602;

/// What every method sees.
#[derive(Debug)]
pub struct Shared {
    pub chain: Mutex<DevChain>,
    /// The metadata served: the vendored finney file (V16), and V14 (`state_getMetadata`,
    /// `Metadata_metadata`) and V15 derived from it.
    pub metadata_bytes: Vec<u8>,
    pub metadata_v14: Vec<u8>,
    pub metadata_v15: Vec<u8>,
    /// `System.Version` from the metadata: SCALE (for `Core_version`) and JSON.
    pub version_scale: Vec<u8>,
    pub version_json: Value,
    pub chain_name: String,
    pub genesis_hash: [u8; 32],
    pub spec_version: u32,
    pub transaction_version: u32,
    pub new_heads: broadcast::Sender<Header>,
    pub finalized_heads: broadcast::Sender<Header>,
    /// Admitted extrinsics; lock after `chain` when both are held.
    pub pool: Mutex<Pool>,
    /// Finalized blocks whose state is kept; `None` keeps all (see [`state_at`]).
    pub state_pruning: Option<u64>,
}

impl Shared {
    /// The chain, even if a panicking holder poisoned the lock.
    pub fn chain(&self) -> MutexGuard<'_, DevChain> {
        self.chain.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pool, even if a panicking holder poisoned the lock.
    pub fn pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A runtime version as Substrate encodes it.
#[derive(Debug, Decode)]
struct RuntimeVersion {
    spec_name: String,
    impl_name: String,
    authoring_version: u32,
    spec_version: u32,
    impl_version: u32,
    apis: Vec<([u8; 8], u32)>,
    transaction_version: u32,
    system_version: u8,
}

/// `System.Version` of `md` as SCALE and as `state_getRuntimeVersion` answers it.
pub fn runtime_version(md: &subxt_metadata::Metadata) -> Result<(Vec<u8>, Value), String> {
    let bytes = md
        .pallet_by_name("System")
        .and_then(|p| p.constant_by_name("Version"))
        .map(|c| c.value().to_vec())
        .ok_or("the metadata has no System.Version constant")?;
    let v = RuntimeVersion::decode(&mut bytes.as_slice()).map_err(|e| e.to_string())?;
    let apis: Vec<Value> =
        v.apis.iter().map(|(id, ver)| json!([format!("0x{}", hex::encode(id)), ver])).collect();
    let json = json!({
        "specName": v.spec_name,
        "implName": v.impl_name,
        "authoringVersion": v.authoring_version,
        "specVersion": v.spec_version,
        "implVersion": v.impl_version,
        "apis": apis,
        "transactionVersion": v.transaction_version,
        "systemVersion": v.system_version,
        "stateVersion": v.system_version,
    });
    Ok((bytes, json))
}

fn err(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn parse_hex(field: &str, s: &str) -> Result<Vec<u8>, ErrorObjectOwned> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(digits)
        .map_err(|e| err(INVALID_PARAMS, format!("Invalid params: {field} is not hex: {e}")))
}

fn parse_hash(field: &str, s: &str) -> Result<[u8; 32], ErrorObjectOwned> {
    parse_hex(field, s)?.try_into().map_err(|v: Vec<u8>| {
        err(INVALID_PARAMS, format!("Invalid params: {field} has {} bytes, not 32", v.len()))
    })
}

/// Positional parameters as JSON values (absent ones are `null`).
fn positional(params: &Params<'_>) -> Result<Vec<Value>, ErrorObjectOwned> {
    if params.as_str().is_none() {
        return Ok(Vec::new());
    }
    let v: Value =
        params.parse().map_err(|e| err(INVALID_PARAMS, format!("Invalid params: {e}")))?;
    match v {
        Value::Array(a) => Ok(a),
        Value::Null => Ok(Vec::new()),
        other => Ok(vec![other]),
    }
}

fn nth(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&Value::Null)
}

fn opt_str<'a>(
    args: &'a [Value],
    i: usize,
    field: &str,
) -> Result<Option<&'a str>, ErrorObjectOwned> {
    match nth(args, i) {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => {
            Err(err(INVALID_PARAMS, format!("Invalid params: {field} is {other}, not a string")))
        }
    }
}

/// The block whose state an `at` parameter names: the best block when absent. As on a
/// Substrate node, an unknown hash is `UnknownBlock`, and so is a block whose state was pruned:
/// with `pruning` = N, the state of blocks N or more below the finalized head is discarded.
fn state_at(
    chain: &DevChain,
    at: Option<&str>,
    pruning: Option<u64>,
) -> Result<u64, ErrorObjectOwned> {
    let Some(s) = at else { return Ok(chain.best().header.number) };
    let hash = parse_hash("block hash", s)?;
    let Some(block) = chain.by_hash(&hash) else {
        return Err(err(
            CLIENT_ERROR,
            format!("Client error: UnknownBlock: Header was not found in the local DB: {s}"),
        ));
    };
    let n = block.header.number;
    if pruning.is_some_and(|keep| n.saturating_add(keep) <= chain.finalized().header.number) {
        return Err(err(
            CLIENT_ERROR,
            format!("Client error: UnknownBlock: State already discarded for {}", hex0x(&hash)),
        ));
    }
    Ok(n)
}

/// A block number as Substrate takes it: a number or a hex string.
fn block_number(v: &Value) -> Result<Option<u64>, ErrorObjectOwned> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| err(INVALID_PARAMS, format!("Invalid params: block number {n}"))),
        Value::String(s) => {
            let digits = s.strip_prefix("0x").ok_or_else(|| {
                err(INVALID_PARAMS, format!("Invalid params: block number {s:?} is not 0x-hex"))
            })?;
            u64::from_str_radix(digits, 16).map(Some).map_err(|e| {
                err(INVALID_PARAMS, format!("Invalid params: block number {s:?}: {e}"))
            })
        }
        other => Err(err(INVALID_PARAMS, format!("Invalid params: block number {other}"))),
    }
}

type Answer = Result<Value, ErrorObjectOwned>;

fn to_json<T: serde::Serialize>(v: &T) -> Answer {
    serde_json::to_value(v).map_err(|e| err(-32603, e.to_string()))
}

/// Every method, registered on one module.
pub fn module(shared: Arc<Shared>) -> Result<RpcModule<Shared>, String> {
    let mut m = RpcModule::from_arc(shared);
    let mut names = register(&mut m).map_err(|e| e.to_string())?;
    names.extend(crate::author::register(&mut m).map_err(|e| e.to_string())?);
    let mut methods: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    methods.push("rpc_methods".into());
    methods.sort();
    m.register_method("rpc_methods", move |_, _, _| -> Answer {
        Ok(json!({ "version": 1, "methods": methods }))
    })
    .map_err(|e| e.to_string())?;
    Ok(m)
}

fn register(
    m: &mut RpcModule<Shared>,
) -> Result<Vec<&'static str>, jsonrpsee::core::RegisterMethodError> {
    let mut names = Vec::new();
    macro_rules! method {
        ($name:literal, |$args:ident, $s:ident| $body:expr) => {
            m.register_method($name, |params, ctx, _| -> Answer {
                let $args = positional(&params)?;
                let $s: &Shared = ctx;
                $body
            })?;
            names.push($name);
        };
    }
    method!("system_chain", |_a, s| Ok(json!(s.chain_name)));
    method!("system_name", |_a, _s| Ok(json!("grail-devchain")));
    method!("system_version", |_a, _s| Ok(json!(env!("CARGO_PKG_VERSION"))));
    method!("system_chainType", |_a, _s| Ok(json!("Development")));
    method!("system_properties", |_a, _s| {
        Ok(json!({"ss58Format": 42, "tokenDecimals": 9, "tokenSymbol": "TAO"}))
    });
    method!("system_health", |_a, _s| {
        Ok(json!({"peers": 0, "isSyncing": false, "shouldHavePeers": false}))
    });
    method!("chain_getBlockHash", |a, s| {
        let chain = s.chain();
        let one = |v: &Value| -> Answer {
            let n = block_number(v)?.unwrap_or(chain.best().header.number);
            Ok(chain.block(n).map_or(Value::Null, |b| json!(hex0x(&b.hash))))
        };
        match nth(&a, 0) {
            Value::Array(list) => {
                list.iter().map(one).collect::<Result<Vec<_>, _>>().map(Value::Array)
            }
            v => one(v),
        }
    });
    method!("chain_getFinalizedHead", |_a, s| Ok(json!(hex0x(&s.chain().finalized().hash))));
    method!("chain_getHeader", |a, s| {
        let chain = s.chain();
        let header = match opt_str(&a, 0, "block hash")? {
            None => Some(&chain.best().header),
            Some(h) => chain.by_hash(&parse_hash("block hash", h)?).map(|b| &b.header),
        };
        header.map_or(Ok(Value::Null), to_json)
    });
    method!("chain_getBlock", |a, s| {
        let chain = s.chain();
        let block = match opt_str(&a, 0, "block hash")? {
            None => Some(chain.best()),
            Some(h) => chain.by_hash(&parse_hash("block hash", h)?),
        };
        match block {
            None => Ok(Value::Null),
            Some(b) => Ok(json!({
                "block": {
                    "header": to_json(&b.header)?,
                    "extrinsics": b.extrinsics.iter().map(|x| hex0x(x)).collect::<Vec<_>>(),
                },
                "justifications": null,
            })),
        }
    });
    method!("state_getRuntimeVersion", |a, s| {
        state_at(&s.chain(), opt_str(&a, 0, "block hash")?, s.state_pruning)?;
        Ok(s.version_json.clone())
    });
    method!("state_getMetadata", |a, s| {
        state_at(&s.chain(), opt_str(&a, 0, "block hash")?, s.state_pruning)?;
        Ok(json!(hex0x(&s.metadata_v14)))
    });
    method!("state_call", |a, s| {
        let name = opt_str(&a, 0, "method")?.unwrap_or_default();
        let data = parse_hex("data", opt_str(&a, 1, "data")?.unwrap_or("0x"))?;
        state_at(&s.chain(), opt_str(&a, 2, "block hash")?, s.state_pruning)?;
        runtime_call(s, name, &data).map(|bytes| json!(hex0x(&bytes)))
    });
    method!("state_getStorage", |a, s| {
        let key = parse_hex("key", opt_str(&a, 0, "key")?.unwrap_or_default())?;
        let chain = s.chain();
        let n = state_at(&chain, opt_str(&a, 1, "block hash")?, s.state_pruning)?;
        Ok(chain.get(&key, n).map_or(Value::Null, |v| json!(hex0x(v))))
    });
    method!("state_getStorageHash", |a, s| {
        let key = parse_hex("key", opt_str(&a, 0, "key")?.unwrap_or_default())?;
        let chain = s.chain();
        let n = state_at(&chain, opt_str(&a, 1, "block hash")?, s.state_pruning)?;
        let hash = chain.get(&key, n).map(sp_crypto_hashing::blake2_256);
        Ok(hash.map_or(Value::Null, |h| json!(hex0x(&h))))
    });
    method!("state_getStorageSize", |a, s| {
        let key = parse_hex("key", opt_str(&a, 0, "key")?.unwrap_or_default())?;
        let chain = s.chain();
        let n = state_at(&chain, opt_str(&a, 1, "block hash")?, s.state_pruning)?;
        Ok(chain.get(&key, n).map_or(Value::Null, |v| json!(v.len())))
    });
    method!("state_queryStorageAt", |a, s| {
        let Value::Array(keys) = nth(&a, 0) else {
            return Err(err(INVALID_PARAMS, "Invalid params: keys must be an array"));
        };
        let chain = s.chain();
        let n = state_at(&chain, opt_str(&a, 1, "block hash")?, s.state_pruning)?;
        let mut changes = Vec::with_capacity(keys.len());
        for k in keys {
            let text = k.as_str().ok_or_else(|| err(INVALID_PARAMS, "Invalid params: key"))?;
            let key = parse_hex("key", text)?;
            let value = chain.get(&key, n).map_or(Value::Null, |v| json!(hex0x(v)));
            changes.push(json!([text, value]));
        }
        let hash = chain.block(n).map(|b| hex0x(&b.hash));
        Ok(json!([{ "block": hash, "changes": changes }]))
    });
    method!("state_getKeysPaged", |a, s| {
        let prefix = parse_hex("prefix", opt_str(&a, 0, "prefix")?.unwrap_or("0x"))?;
        let count = nth(&a, 1).as_u64().unwrap_or(1000).min(1000) as usize;
        let start = opt_str(&a, 2, "start key")?.map(|k| parse_hex("start key", k)).transpose()?;
        let chain = s.chain();
        let n = state_at(&chain, opt_str(&a, 3, "block hash")?, s.state_pruning)?;
        let keys = chain.keys_paged(&prefix, count, start.as_deref(), n);
        Ok(json!(keys.iter().map(|k| hex0x(k)).collect::<Vec<_>>()))
    });
    for (sub, notif, unsub, finalized) in [
        ("chain_subscribeNewHeads", "chain_newHead", "chain_unsubscribeNewHeads", false),
        ("chain_subscribeAllHeads", "chain_allHead", "chain_unsubscribeAllHeads", false),
        (
            "chain_subscribeFinalizedHeads",
            "chain_finalizedHead",
            "chain_unsubscribeFinalizedHeads",
            true,
        ),
    ] {
        m.register_subscription(sub, notif, unsub, move |_, pending, ctx, _| async move {
            follow_heads(pending, Arc::clone(&ctx), finalized).await
        })?;
        names.push(sub);
        names.push(unsub);
    }
    m.register_subscription(
        "state_subscribeRuntimeVersion",
        "state_runtimeVersion",
        "state_unsubscribeRuntimeVersion",
        |_, pending, ctx, _| async move {
            let sink = pending.accept().await?;
            let msg = serde_json::value::to_raw_value(&ctx.version_json)?;
            sink.send(SubscriptionMessage::from(msg)).await?;
            sink.closed().await;
            Ok(())
        },
    )?;
    names.extend(["state_subscribeRuntimeVersion", "state_unsubscribeRuntimeVersion"]);
    Ok(names)
}

type SubResult = jsonrpsee::core::SubscriptionResult;

/// Sends the current head, then every new one.
async fn follow_heads(
    pending: PendingSubscriptionSink,
    ctx: Arc<Shared>,
    finalized: bool,
) -> SubResult {
    let mut rx =
        if finalized { ctx.finalized_heads.subscribe() } else { ctx.new_heads.subscribe() };
    let current = {
        let chain = ctx.chain();
        if finalized {
            chain.finalized().header.clone()
        } else {
            chain.best().header.clone()
        }
    };
    let sink = pending.accept().await?;
    sink.send(SubscriptionMessage::from(serde_json::value::to_raw_value(&current)?)).await?;
    loop {
        tokio::select! {
            header = rx.recv() => match header {
                Ok(h) => sink.send(SubscriptionMessage::from(serde_json::value::to_raw_value(&h)?)).await?,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return Ok(()),
            },
            _ = sink.closed() => return Ok(()),
        }
    }
}

/// The runtime APIs served: metadata and version.
fn runtime_call(s: &Shared, name: &str, data: &[u8]) -> Result<Vec<u8>, ErrorObjectOwned> {
    match name {
        "Core_version" => Ok(s.version_scale.clone()),
        "Metadata_metadata_versions" => Ok(vec![14u32, 15, 16].encode()),
        "Metadata_metadata" => Ok(s.metadata_v14.encode()),
        "Metadata_metadata_at_version" => {
            let version = u32::decode(&mut &data[..]).map_err(|e| {
                err(CALL_ERROR, format!("Execution failed: Could not decode the version: {e}"))
            })?;
            let answer: Option<Vec<u8>> = match version {
                14 => Some(s.metadata_v14.clone()),
                15 => Some(s.metadata_v15.clone()),
                16 => Some(s.metadata_bytes.clone()),
                _ => None,
            };
            Ok(answer.encode())
        }
        other => Err(err(
            CALL_ERROR,
            format!("Execution failed: Other(\"Exported method {other} is not found\")"),
        )),
    }
}
