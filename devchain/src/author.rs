//! The author and account RPC methods: `author_submitExtrinsic`,
//! `author_submitAndWatchExtrinsic` (updates `"ready"`, `{"inBlock": hash}`,
//! `{"finalized": hash}`, or `"invalid"` when its era ends first; `author_unwatchExtrinsic`),
//! `author_pendingExtrinsics`, and `system_accountNextIndex` (SS58 or hex account).

use std::sync::Arc;

use grail_protocol::keys::Hotkey;
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::{RpcModule, SubscriptionMessage};
use serde_json::{json, Value};

use crate::extrinsic::{check, Checked, Context, TxError};
use crate::pool::Watcher;
use crate::rpc::Shared;

fn rpc_error(e: TxError) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(e.code, e.message, e.data)
}

fn params_error(what: &str) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, format!("Invalid params: {what}"), None::<()>)
}

fn first_str(
    params: &jsonrpsee::types::Params<'_>,
    what: &str,
) -> Result<String, ErrorObjectOwned> {
    let v: Value = params.parse().map_err(|_| params_error(what))?;
    let s = match &v {
        Value::Array(a) => a.first().and_then(Value::as_str),
        Value::String(s) => Some(s.as_str()),
        _ => None,
    };
    s.map(str::to_owned).ok_or_else(|| params_error(what))
}

/// Checks and admits an extrinsic (hex) into the pool.
fn submit(s: &Shared, hex_bytes: &str, watcher: Option<Watcher>) -> Result<Checked, TxError> {
    let bytes = hex::decode(hex_bytes.strip_prefix("0x").unwrap_or(hex_bytes))
        .map_err(|e| TxError::bad_format(format!("not hex: {e}")))?;
    let chain = s.chain();
    let lookup = |n: u64| chain.block(n).map(|b| b.hash);
    let ctx = Context {
        metadata: chain.metadata(),
        genesis: s.genesis_hash,
        spec_version: s.spec_version,
        transaction_version: s.transaction_version,
        best: chain.best().header.number,
        block_hash: &lookup,
    };
    let checked = check(&bytes, &ctx)?;
    s.pool().admit(&chain, checked.clone(), watcher)?;
    tracing::info!(
        tx = %hex::encode(checked.hash),
        call = %format!("{}.{}", checked.pallet, checked.call),
        signer = %Hotkey(checked.signer).to_ss58(),
        nonce = checked.nonce,
        "extrinsic admitted"
    );
    Ok(checked)
}

/// Registers the methods on `m`; their names.
pub fn register(
    m: &mut RpcModule<Shared>,
) -> Result<Vec<&'static str>, jsonrpsee::core::RegisterMethodError> {
    m.register_method("author_submitExtrinsic", |params, s, _| {
        let hex_bytes = first_str(&params, "an extrinsic as hex")?;
        let checked = submit(s, &hex_bytes, None).map_err(rpc_error)?;
        Ok::<Value, ErrorObjectOwned>(json!(format!("0x{}", hex::encode(checked.hash))))
    })?;
    m.register_method("author_pendingExtrinsics", |_, s, _| {
        let list: Vec<String> =
            s.pool().pending().iter().map(|b| format!("0x{}", hex::encode(b))).collect();
        Ok::<Value, ErrorObjectOwned>(json!(list))
    })?;
    m.register_method("system_accountNextIndex", |params, s, _| {
        let who = first_str(&params, "an account (SS58 or hex)")?;
        let key = match Hotkey::from_ss58(&who) {
            Ok(k) => k.0,
            Err(_) => hex::decode(who.strip_prefix("0x").unwrap_or(&who))
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| params_error("an account (SS58 or 32-byte hex)"))?,
        };
        let chain = s.chain();
        let next = s
            .pool()
            .next_index(&chain, &key)
            .map_err(|e| ErrorObjectOwned::owned(4003, format!("Client error: {e}"), None::<()>))?;
        Ok::<Value, ErrorObjectOwned>(json!(next))
    })?;
    m.register_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        |params, pending, ctx, _| async move {
            let ctx: Arc<Shared> = ctx;
            let hex_bytes = match first_str(&params, "an extrinsic as hex") {
                Ok(h) => h,
                Err(e) => {
                    pending.reject(e).await;
                    return Ok(());
                }
            };
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            if let Err(e) = submit(&ctx, &hex_bytes, Some(tx)) {
                pending.reject(rpc_error(e)).await;
                return Ok(());
            }
            let sink = pending.accept().await?;
            sink.send(SubscriptionMessage::from(serde_json::value::to_raw_value(&json!("ready"))?))
                .await?;
            loop {
                tokio::select! {
                    update = rx.recv() => match update {
                        Some(u) => sink.send(SubscriptionMessage::from(serde_json::value::to_raw_value(&u)?)).await?,
                        None => return Ok(()),
                    },
                    _ = sink.closed() => return Ok(()),
                }
            }
        },
    )?;
    Ok(vec![
        "author_submitExtrinsic",
        "author_pendingExtrinsics",
        "system_accountNextIndex",
        "author_submitAndWatchExtrinsic",
        "author_unwatchExtrinsic",
    ])
}
