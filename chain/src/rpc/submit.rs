//! Signed extrinsics: built and signed offline with subxt's transaction builder against the
//! node's metadata, runtime version and genesis (mortal from the finalized head, nonce from
//! `system_accountNextIndex`), submitted with `author_submitExtrinsic`, found in a block body,
//! and judged by that block's `System.Events`. A stale nonce is refetched and the extrinsic
//! signed again; every other refusal is returned with the node's code and reason.

use std::sync::Arc;
use std::time::{Duration, Instant};

use grail_protocol::keys::{Hotkey, HotkeyPair};
use subxt::client::OfflineClient;
use subxt::config::substrate::SpecVersionForRange;
use subxt::config::{SubstrateConfig, SubstrateExtrinsicParamsBuilder};
use subxt::dynamic::Value;
use subxt::tx::Signer;
use subxt::utils::{AccountId32, MultiSignature, H256};
use subxt_metadata::Metadata;

use super::{Head, SubtensorClient};
use crate::events::{extrinsic_outcome, Outcome};
use crate::storage_key::storage_key;
use crate::{ChainError, Hash32};

/// Blocks a submitted extrinsic stays valid for (its mortal era's period).
pub const ERA_PERIOD: u64 = 64;

/// How many times a stale nonce or an outdated era is refetched before giving up.
pub const STALE_RETRIES: usize = 3;

/// The pool's code for an extrinsic it already holds.
const ALREADY_IMPORTED: i32 = 1013;

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

    /// `SubtensorModule.set_weights(netuid, dests, weights, version_key)`, signed by the
    /// validator's hotkey; refused with `CommitRevealEnabled` where commit-reveal is on.
    pub fn set_weights(netuid: u16, uids: &[u16], weights: &[u16], version_key: u64) -> Self {
        Self {
            pallet: "SubtensorModule",
            name: "set_weights",
            args: vec![
                Value::u128(u128::from(netuid)),
                u16s(uids),
                u16s(weights),
                Value::u128(u128::from(version_key)),
            ],
        }
    }

    /// `SubtensorModule.commit_timelocked_weights(netuid, commit, reveal_round,
    /// commit_reveal_version)`, signed by the validator's hotkey: `commit` is a timelock
    /// ciphertext of the weights ([`crate::tlock`]).
    pub fn commit_timelocked_weights(
        netuid: u16,
        commit: &[u8],
        reveal_round: u64,
        commit_reveal_version: u16,
    ) -> Self {
        Self {
            pallet: "SubtensorModule",
            name: "commit_timelocked_weights",
            args: vec![
                Value::u128(u128::from(netuid)),
                Value::from_bytes(commit),
                Value::u128(u128::from(reveal_round)),
                Value::u128(u128::from(commit_reveal_version)),
            ],
        }
    }

    /// `Commitments.set_commitment(netuid, info)`, signed by a hotkey registered on the
    /// netuid: each field becomes a `Data::Raw` (the metadata's variant `Raw{len}`), as
    /// [`crate::commitment::MinerCommitment::to_fields`] writes them. A field over 128 bytes
    /// names no variant, so encoding the call fails; more than 3 fields encode, and the node
    /// refuses to decode them.
    pub fn set_commitment(netuid: u16, fields: &[Vec<u8>]) -> Self {
        let fields = fields.iter().map(|f| crate::commitment::raw_value(f));
        Self {
            pallet: "Commitments",
            name: "set_commitment",
            args: vec![Value::u128(u128::from(netuid)), crate::commitment::fields_value(fields)],
        }
    }

    /// The SCALE call data (pallet index, call index, arguments) against `metadata`: what a
    /// signed extrinsic carries as its call.
    pub fn call_data(&self, metadata: &Arc<Metadata>) -> Result<Vec<u8>, ChainError> {
        let bad = |detail: String| ChainError::MissingInMetadata {
            source_name: "call data".into(),
            missing: format!("{} with these arguments ({detail})", self.label()),
        };
        // The call's encoding depends on the metadata alone; genesis and versions are unused.
        let client = offline_client([0; 32], 0, 0, metadata.clone());
        let at = client.at_block(0u64).map_err(|e| bad(e.to_string()))?;
        let payload = subxt::dynamic::tx(self.pallet, self.name, self.args.clone());
        at.tx().call_data(&payload).map_err(|e| bad(e.to_string()))
    }
}

/// A client that signs and encodes without a node, for one runtime.
fn offline_client(
    genesis: Hash32,
    spec_version: u32,
    transaction_version: u32,
    metadata: Arc<Metadata>,
) -> OfflineClient<SubstrateConfig> {
    let config = SubstrateConfig::builder()
        .set_genesis_hash(H256(genesis))
        .set_spec_version_for_block_ranges([SpecVersionForRange {
            block_range: 0..u64::MAX,
            spec_version,
            transaction_version,
        }])
        .set_metadata_for_spec_versions([(spec_version, metadata)])
        .build();
    OfflineClient::new_with_config(config)
}

fn u16s(values: &[u16]) -> Value {
    Value::unnamed_composite(values.iter().map(|v| Value::u128(u128::from(*v))))
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
        let client = offline_client(
            info.genesis,
            info.spec_version,
            info.transaction_version,
            self.inner.metadata.clone(),
        );
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
            let head = self.birth_block().await?;
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
            if e.code == ALREADY_IMPORTED {
                // The same bytes reached the pool before (an answer lost on the way back).
                break (bytes.clone(), sp_crypto_hashing::blake2_256(&bytes), head.number);
            }
            let outdated = matches!(
                data.as_deref(),
                Some("Transaction is outdated" | "Transaction has an ancient birth block")
            );
            if outdated && attempt <= STALE_RETRIES {
                tracing::warn!(
                    call = %call.label(),
                    nonce,
                    reason = data.as_deref().unwrap_or(""),
                    "stale nonce or era: refetching both and signing again"
                );
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

    /// The block an extrinsic's era starts at: the finalized head, unless finality lags the
    /// best block by more than half an era (an era from there would be over, or nearly, by
    /// the time the node checks it), then the best block.
    async fn birth_block(&self) -> Result<Head, ChainError> {
        let finalized = match self.finalized() {
            Some(h) => h,
            None => self.wait_for_head(self.inner.timeout).await?,
        };
        let best = self
            .call()
            .run("chain_getHeader", self.inner.rpc.chain_get_header(None))
            .await?
            .ok_or_else(|| self.unavailable("no best header".into()))?;
        if best.number <= finalized.number + ERA_PERIOD / 2 {
            return Ok(finalized);
        }
        let hash = super::header_hash(&best);
        tracing::warn!(
            best = best.number,
            finalized = finalized.number,
            "finality lags: the extrinsic's era starts at the best block"
        );
        Ok(Head { number: best.number, hash, timestamp_ms: finalized.timestamp_ms })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::{checked_metadata, FINNEY_METADATA};

    fn finney() -> Arc<Metadata> {
        Arc::new(checked_metadata(FINNEY_METADATA, "finney").expect("metadata"))
    }

    fn indices(md: &Metadata, call: &str) -> (u8, u8) {
        let p = md.pallet_by_name("SubtensorModule").expect("pallet");
        (p.call_index(), p.call_variant_by_name(call).expect("call").index)
    }

    #[test]
    fn weights_call_data_is_the_calls_scale_encoding() {
        let md = finney();
        let (pallet, set) = indices(&md, "set_weights");
        let data = Call::set_weights(81, &[0, 7], &[65535, 300], 9).call_data(&md).expect("encode");
        let mut expected = vec![pallet, set, 81, 0, 0x08, 0, 0, 7, 0, 0x08, 0xff, 0xff, 0x2c, 0x01];
        expected.extend(9u64.to_le_bytes());
        assert_eq!(data, expected);

        let (_, commit) = indices(&md, "commit_timelocked_weights");
        assert_eq!(commit, 113, "subtensor's call index");
        let data = Call::commit_timelocked_weights(81, &[1, 2, 3], 1000, 4)
            .call_data(&md)
            .expect("encode");
        let mut expected = vec![pallet, 113, 81, 0, 0x0c, 1, 2, 3];
        expected.extend(1000u64.to_le_bytes());
        expected.extend(4u16.to_le_bytes());
        assert_eq!(data, expected);
    }

    #[test]
    fn commitment_call_data_is_the_calls_scale_encoding() {
        let md = finney();
        let p = md.pallet_by_name("Commitments").expect("pallet");
        let (pallet, call) = (p.call_index(), p.call_variant_by_name("set_commitment").unwrap());
        assert_eq!((pallet, call.index), (18, 0), "finney's Commitments pallet, call 0");
        let fields = vec![b"grail1 s3://b/p".to_vec(), Vec::new(), vec![0xab; 128]];
        let data = Call::set_commitment(81, &fields).call_data(&md).expect("encode");
        // pallet, call, netuid u16 LE, compact(3), then each Data: 1 + len, the bytes.
        let mut expected = vec![pallet, 0, 81, 0, 0x0c, 16];
        expected.extend(b"grail1 s3://b/p");
        expected.push(1);
        expected.push(129);
        expected.extend([0xab; 128]);
        assert_eq!(data, expected);

        let none = Call::set_commitment(2, &[]).call_data(&md).expect("encode");
        assert_eq!(none, vec![pallet, 0, 2, 0, 0]);
        // 129 bytes: there is no Raw129.
        let err = Call::set_commitment(2, &[vec![0; 129]]).call_data(&md).unwrap_err();
        assert!(err.to_string().contains("Commitments.set_commitment"), "{err}");
    }
}
