//! Signed extrinsics: built and signed offline with subxt's transaction builder against the
//! node's metadata, runtime version and genesis (mortal from the finalized head, nonce from
//! `system_accountNextIndex`), submitted with `author_submitExtrinsic`, found in a block body,
//! and judged by that block's `System.Events`. A stale nonce is refetched and the extrinsic
//! signed again; every other refusal is returned with the node's code and reason.

use std::time::{Duration, Instant};

use grail_protocol::keys::{Hotkey, HotkeyPair};
use subxt::client::OfflineClient;
use subxt::config::substrate::SpecVersionForRange;
use subxt::config::{SubstrateConfig, SubstrateExtrinsicParamsBuilder};
use subxt::dynamic::Value;
use subxt::tx::Signer;
use subxt::utils::{AccountId32, MultiSignature, H256};

use super::SubtensorClient;
use crate::events::{extrinsic_outcome, Outcome};
use crate::storage_key::storage_key;
use crate::{ChainError, Hash32};

/// Blocks a submitted extrinsic stays valid for (its mortal era's period).
pub const ERA_PERIOD: u64 = 64;

/// How many times a stale nonce is refetched before giving up.
const STALE_RETRIES: usize = 3;

/// A hotkey as subxt's signer (sr25519, the Substrate signing context).
#[derive(Debug)]
pub struct HotkeySigner<'a>(pub &'a HotkeyPair);

impl Signer<SubstrateConfig> for HotkeySigner<'_> {
    fn account_id(&self) -> AccountId32 {
        AccountId32(self.0.hotkey().0)
    }

    fn sign(&self, signer_payload: &[u8]) -> MultiSignature {
        MultiSignature::Sr25519(self.0.sign(signer_payload))
    }
}

/// A call by pallet and name with its arguments as values (checked against the metadata
/// when signed).
#[derive(Debug, Clone)]
pub struct Call {
    pub pallet: &'static str,
    pub name: &'static str,
    pub args: Vec<Value>,
}

impl Call {
    /// `Pallet.name`.
    pub fn label(&self) -> String {
        format!("{}.{}", self.pallet, self.name)
    }

    /// `SubtensorModule.burned_register(netuid, hotkey)`, signed by the coldkey that will own
    /// the hotkey and pays the burn.
    pub fn burned_register(netuid: u16, hotkey: &Hotkey) -> Self {
        Self {
            pallet: "SubtensorModule",
            name: "burned_register",
            args: vec![Value::u128(u128::from(netuid)), Value::from_bytes(hotkey.0)],
        }
    }
}

/// Where an extrinsic landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inclusion {
    /// blake2-256 of the extrinsic.
    pub tx_hash: Hash32,
    pub block: u64,
    pub block_hash: Hash32,
    /// Its index in the block's body.
    pub index: u32,
}

impl SubtensorClient {
    /// `system_accountNextIndex` of `account`.
    pub async fn account_next_index(&self, account: &Hotkey) -> Result<u64, ChainError> {
        let id = AccountId32(account.0);
        self.call()
            .run("system_accountNextIndex", self.inner.rpc.system_account_next_index(&id))
            .await
    }

    /// The encoded extrinsic of `call` signed by `signer` with `nonce`, mortal for
    /// `ERA_PERIOD` blocks from block `birth` (number, hash).
    pub fn sign(
        &self,
        call: &Call,
        signer: &HotkeyPair,
        nonce: u64,
        birth: (u64, Hash32),
    ) -> Result<Vec<u8>, ChainError> {
        let info = self.info();
        let bad = |detail: String| self.unavailable(format!("signing {}: {detail}", call.label()));
        let config = SubstrateConfig::builder()
            .set_genesis_hash(H256(info.genesis))
            .set_spec_version_for_block_ranges([SpecVersionForRange {
                block_range: 0..u64::MAX,
                spec_version: info.spec_version,
                transaction_version: info.transaction_version,
            }])
            .set_metadata_for_spec_versions([(info.spec_version, self.inner.metadata.clone())])
            .build();
        let client = OfflineClient::new_with_config(config);
        let at = client.at_block(birth.0).map_err(|e| bad(e.to_string()))?;
        let payload = subxt::dynamic::tx(call.pallet, call.name, call.args.clone());
        let params = SubstrateExtrinsicParamsBuilder::<SubstrateConfig>::new()
            .nonce(nonce)
            .mortal_from_unchecked(ERA_PERIOD, birth.0, H256(birth.1))
            .build();
        let mut signable =
            at.tx().create_v4_signable_offline(&payload, params).map_err(|e| bad(e.to_string()))?;
        let tx = signable.sign(&HotkeySigner(signer)).map_err(|e| bad(e.to_string()))?;
        Ok(tx.into_encoded())
    }

    /// Signs, submits and follows `call` until a finalized block includes it; an error if the
    /// node refuses it, its era ends first, or it fails in the runtime.
    pub async fn submit(&self, call: &Call, signer: &HotkeyPair) -> Result<Inclusion, ChainError> {
        let mut attempt = 0;
        let (bytes, tx_hash, from_block) = loop {
            attempt += 1;
            let nonce = self.account_next_index(&signer.hotkey()).await?;
            let head = match self.finalized() {
                Some(h) => h,
                None => self.wait_for_head(self.inner.timeout).await?,
            };
            let bytes = self.sign(call, signer, nonce, (head.number, head.hash))?;
            let submitted = self
                .call()
                .try_run("author_submitExtrinsic", self.inner.rpc.author_submit_extrinsic(&bytes))
                .await?;
            let e = match submitted {
                Ok(hash) => break (bytes, hash.0, head.number),
                Err(e) => e,
            };
            let data = e.data.as_ref().map(|d| {
                serde_json::from_str::<String>(d.get()).unwrap_or_else(|_| d.get().to_owned())
            });
            if data.as_deref() == Some("Transaction is outdated") && attempt <= STALE_RETRIES {
                tracing::warn!(call = %call.label(), nonce, "stale nonce: refetching it and signing again");
                continue;
            }
            return Err(ChainError::Rejected {
                source_name: self.endpoint().to_owned(),
                call: call.label(),
                code: e.code,
                message: e.message,
                data,
            });
        };
        tracing::info!(call = %call.label(), tx = %hex::encode(tx_hash), "extrinsic submitted");
        let inclusion = self.find_inclusion(&bytes, tx_hash, from_block).await?;
        let events_key = storage_key(self.metadata(), "System", "Events", &[])?;
        let events = self
            .storage_at(&[events_key], inclusion.block_hash)
            .await?
            .pop()
            .flatten()
            .unwrap_or_default();
        match extrinsic_outcome(self.metadata(), &events, inclusion.index)? {
            Outcome::Success => Ok(inclusion),
            Outcome::Failed(error) => Err(ChainError::DispatchFailed {
                source_name: self.endpoint().to_owned(),
                call: call.label(),
                block: inclusion.block,
                error,
            }),
        }
    }

    /// Scans finalized blocks after `from_block` for `bytes`, until its era ends.
    async fn find_inclusion(
        &self,
        bytes: &[u8],
        tx_hash: Hash32,
        from_block: u64,
    ) -> Result<Inclusion, ChainError> {
        let last = from_block + ERA_PERIOD;
        let mut next = from_block + 1;
        let poll = Duration::from_millis((self.inner.block_time_s * 250).clamp(100, 3000));
        let patience = Duration::from_secs(self.inner.block_time_s * (ERA_PERIOD + 2))
            + self.inner.timeout * 4;
        let started = Instant::now();
        while next <= last {
            let finalized = self.finalized().map_or(0, |h| h.number);
            if next > finalized {
                if started.elapsed() > patience {
                    break;
                }
                tokio::time::sleep(poll).await;
                continue;
            }
            let block_hash = self.verified_hash(next).await?;
            let block = self
                .call()
                .run("chain_getBlock", self.inner.rpc.chain_get_block(Some(H256(block_hash))))
                .await?
                .ok_or_else(|| self.unavailable(format!("no body for finalized block {next}")))?;
            if let Some(i) = block.block.extrinsics.iter().position(|x| x.0 == bytes) {
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                return Ok(Inclusion { tx_hash, block: next, block_hash, index });
            }
            next += 1;
        }
        Err(self.unavailable(format!(
            "extrinsic 0x{} was not in a finalized block up to block {last}, where its era ends",
            hex::encode(tx_hash)
        )))
    }
}
