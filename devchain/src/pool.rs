//! The transaction pool and block building. An extrinsic is admitted when its checks hold
//! (`extrinsic::check`), its call is one the dev chain applies with arguments the runtime
//! decodes, its nonce is not below the account's (`Stale`) and the account can pay
//! (`Payment`: the dev chain charges no fee, but an account with nothing is refused as a node
//! refuses it).
//!
//! A block first reveals the timelocked commits that are due (`reveal`, subtensor's
//! `on_initialize`) and stores the drand pulses that arrived (`pulses`), then takes the
//! admitted extrinsics whose nonce is next, in arrival order, applies them (the nonce is spent
//! even when the call fails), writes `System.Events`, and puts them in its body; one with a
//! nonce ahead waits, one whose era ended is dropped.

use std::collections::BTreeMap;

use grail_chain::storage_key::storage_key;
use grail_chain::ChainError;
use serde_json::{json, Value};

use crate::dispatch::{self, layered, DispatchFailure, InBlock};
use crate::events::{encode_events, ModuleError};
use crate::extrinsic::{Checked, TxError, PAYMENT, STALE, UNEXPECTED_CALL};
use crate::pulses::{self, Pulse};
use crate::reveal;
use crate::state::DevChain;

/// Where a watched extrinsic's status updates go (`author_extrinsicUpdate` payloads).
pub type Watcher = tokio::sync::mpsc::UnboundedSender<Value>;

/// The calls the dev chain applies.
pub const APPLIED_CALLS: &[(&str, &str)] = &[
    ("SubtensorModule", "burned_register"),
    ("SubtensorModule", "set_weights"),
    ("SubtensorModule", "commit_timelocked_weights"),
    ("Commitments", "set_commitment"),
];

#[derive(Debug)]
struct Pending {
    checked: Checked,
    watcher: Option<Watcher>,
}

/// Admitted extrinsics, and included ones whose watchers wait for finality.
#[derive(Debug, Default)]
pub struct Pool {
    pending: Vec<Pending>,
    awaiting_finality: Vec<(u64, [u8; 32], Watcher)>,
}

/// What building a block produced.
#[derive(Debug, Default)]
pub struct Built {
    pub changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    pub extrinsics: Vec<Vec<u8>>,
    included: Vec<Option<Watcher>>,
}

impl Pool {
    /// Admits `checked` (validated against the best block of `chain`).
    pub fn admit(
        &mut self,
        chain: &DevChain,
        checked: Checked,
        watcher: Option<Watcher>,
    ) -> Result<(), TxError> {
        if !APPLIED_CALLS.contains(&(checked.pallet.as_str(), checked.call.as_str())) {
            return Err(TxError::invalid(UNEXPECTED_CALL));
        }
        dispatch::check_args(&checked).map_err(TxError::bad_format)?;
        if self.pending.iter().any(|p| p.checked.hash == checked.hash) {
            return Err(TxError {
                code: 1013,
                message: "Transaction Already Imported".into(),
                data: None,
            });
        }
        let md = chain.metadata();
        let best = chain.best().header.number;
        let get = |k: &[u8]| chain.get(k, best).map(<[u8]>::to_vec);
        let account = dispatch::account(md, &get, &checked.signer).map_err(|e| internal(&e))?;
        if u64::from(account.nonce) > checked.nonce {
            return Err(TxError::invalid(STALE));
        }
        if account.providers == 0 && account.data.free == 0 {
            return Err(TxError::invalid(PAYMENT));
        }
        let same_slot =
            |p: &Pending| p.checked.signer == checked.signer && p.checked.nonce == checked.nonce;
        if self.pending.iter().any(same_slot) {
            return Err(TxError {
                code: 1014,
                message: "Priority is too low".into(),
                data: Some("a transaction with the same sender and nonce is in the pool".into()),
            });
        }
        self.pending.push(Pending { checked, watcher });
        Ok(())
    }

    /// `system_accountNextIndex`: the account's nonce, past its pooled consecutive nonces.
    pub fn next_index(&self, chain: &DevChain, who: &[u8; 32]) -> Result<u64, ChainError> {
        let best = chain.best().header.number;
        let get = |k: &[u8]| chain.get(k, best).map(<[u8]>::to_vec);
        let mut next = u64::from(dispatch::account(chain.metadata(), &get, who)?.nonce);
        while self.pending.iter().any(|p| &p.checked.signer == who && p.checked.nonce == next) {
            next += 1;
        }
        Ok(next)
    }

    /// The pooled extrinsics (`author_pendingExtrinsics`).
    pub fn pending(&self) -> Vec<Vec<u8>> {
        self.pending.iter().map(|p| p.checked.bytes.clone()).collect()
    }

    /// Builds the body and storage changes of block `number` on top of the best block, storing
    /// `pulses`.
    pub fn build(
        &mut self,
        chain: &DevChain,
        number: u64,
        pulses: &[Pulse],
    ) -> Result<Built, ChainError> {
        let md = chain.metadata();
        let best = chain.best().header.number;
        let mut overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        let mut built = Built::default();
        let mut outcomes: Vec<Result<(), ModuleError>> = Vec::new();
        let mut block = InBlock { number, registrations: 0 };
        let on_best = |k: &[u8]| chain.get(k, best).map(<[u8]>::to_vec);
        // The reveal sees the state before the block; pulses stored now are read from the next.
        let keys = |prefix: &[u8]| chain.keys_paged(prefix, usize::MAX, None, best);
        match reveal::reveal_block(md, &on_best, &keys, number) {
            Ok(changes) => overlay.extend(changes),
            // The dev chain's own fault: no reveal in this block, the chain goes on.
            Err(e) => {
                tracing::error!(error = %e, block = number, "timelocked commits not revealed")
            }
        }
        let view = |k: &[u8]| overlay.get(k).map_or_else(|| on_best(k), Clone::clone);
        let stored = pulses::write(md, &view, pulses)?;
        overlay.extend(stored);
        // Expired eras first: dropped, their watchers told.
        self.pending.retain(|p| {
            let live = p.checked.last_valid >= number;
            if !live {
                if let Some(w) = &p.watcher {
                    let _ = w.send(json!("invalid"));
                }
            }
            live
        });
        loop {
            let get = |k: &[u8]| overlay.get(k).map_or_else(|| on_best(k), Clone::clone);
            let mut next = None;
            for (i, p) in self.pending.iter().enumerate() {
                let account = dispatch::account(md, &get, &p.checked.signer)?;
                if u64::from(account.nonce) == p.checked.nonce {
                    next = Some((i, account));
                    break;
                }
            }
            let Some((i, mut account)) = next else { break };
            let p = self.pending.remove(i);
            account.nonce = account.nonce.saturating_add(1);
            let mut changes = vec![dispatch::put_account(md, &p.checked.signer, &account)?];
            let result = dispatch::apply(md, &layered(&changes, &get), &p.checked, &mut block);
            let outcome = match result {
                Ok(more) => {
                    changes.extend(more);
                    Ok(())
                }
                Err(DispatchFailure::Module(e)) => Err(e),
                Err(DispatchFailure::Internal(e)) => {
                    // The dev chain's own fault: the extrinsic is dropped, the chain goes on.
                    tracing::error!(error = %e, tx = %hex::encode(p.checked.hash), "extrinsic dropped");
                    if let Some(w) = &p.watcher {
                        let _ = w.send(json!("invalid"));
                    }
                    continue;
                }
            };
            overlay.extend(changes);
            outcomes.push(outcome);
            built.extrinsics.push(p.checked.bytes);
            built.included.push(p.watcher);
        }
        let events = encode_events(md, &outcomes).map_err(|e| ChainError::BadStorage {
            item: "System.Events".into(),
            reason: e.to_string(),
        })?;
        overlay.insert(storage_key(md, "System", "Events", &[])?, Some(events));
        built.changes = overlay.into_iter().collect();
        Ok(built)
    }

    /// Tells the watchers of block `number` (`hash`) that their extrinsics are in it.
    pub fn included(&mut self, built: Built, number: u64, hash: [u8; 32]) {
        for w in built.included.into_iter().flatten() {
            if w.send(json!({"inBlock": format!("0x{}", hex::encode(hash))})).is_ok() {
                self.awaiting_finality.push((number, hash, w));
            }
        }
    }

    /// Tells the watchers of blocks up to `finalized` that their block is final, and closes
    /// their subscriptions.
    pub fn finalized(&mut self, finalized: u64) {
        self.awaiting_finality.retain(|(n, hash, w)| {
            if *n > finalized {
                return true;
            }
            let _ = w.send(json!({"finalized": format!("0x{}", hex::encode(hash))}));
            false
        });
    }
}

fn internal(e: &ChainError) -> TxError {
    TxError { code: 1002, message: format!("Verification Error: {e}"), data: None }
}
