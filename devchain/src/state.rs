//! The dev chain's blocks and storage: SCALE headers linked by parent hash, each hashed with
//! blake2-256 of its encoding, and a storage history readable at any block.
//!
//! Every block writes `Timestamp.Now` (unix ms), `System.Number`, `System.ParentHash` and
//! `System.BlockHash(n − 1)`, and carries an Aura pre-runtime digest with its slot, as a
//! subtensor block does. The genesis block holds the genesis file's subnet and, unlike a
//! real chain, a timestamp (the launch time), so that window 0 has a start.

use std::collections::BTreeMap;

use grail_chain::rpc::{header_hash, Header};
use grail_chain::storage_key::storage_key;
use grail_chain::ChainError;
use parity_scale_codec::Encode;
use subxt::config::substrate::{Digest, DigestItem};
use subxt::utils::H256;
use subxt_metadata::Metadata;

/// One produced block.
#[derive(Debug, Clone)]
pub struct Block {
    pub header: Header,
    pub hash: [u8; 32],
    /// The encoded extrinsics in the block's body.
    pub extrinsics: Vec<Vec<u8>>,
}

/// A key's values, each from its block on (`None`: deleted), ascending by block.
type Versions = Vec<(u64, Option<Vec<u8>>)>;

/// Blocks and storage.
#[derive(Debug)]
pub struct DevChain {
    metadata: Metadata,
    blocks: Vec<Block>,
    /// key -> (block, value from that block on; `None`: deleted).
    history: BTreeMap<Vec<u8>, Versions>,
    /// Blocks behind the best one that are finalized.
    pub finality_lag: u64,
    /// Milliseconds per block (the Aura slot).
    pub block_time_ms: u64,
    state_root: [u8; 32],
}

impl DevChain {
    /// The genesis block with `storage`, at unix ms `now_ms`.
    pub fn new(
        metadata: Metadata,
        storage: BTreeMap<Vec<u8>, Vec<u8>>,
        now_ms: u64,
        block_time_ms: u64,
        finality_lag: u64,
    ) -> Result<Self, ChainError> {
        let mut chain = Self {
            metadata,
            blocks: Vec::new(),
            history: BTreeMap::new(),
            finality_lag,
            block_time_ms: block_time_ms.max(1),
            state_root: [0; 32],
        };
        chain.append(
            storage.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            Vec::new(),
            now_ms,
        )?;
        Ok(chain)
    }

    /// The runtime metadata served.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Produces the next block at unix ms `now_ms` with the storage `changes` and these
    /// extrinsics in its body.
    pub fn produce(
        &mut self,
        changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        extrinsics: Vec<Vec<u8>>,
        now_ms: u64,
    ) -> Result<&Block, ChainError> {
        self.append(changes, extrinsics, now_ms)
    }

    fn append(
        &mut self,
        mut changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        extrinsics: Vec<Vec<u8>>,
        now_ms: u64,
    ) -> Result<&Block, ChainError> {
        let number = self.blocks.len() as u64;
        let parent = self.blocks.last().map_or([0; 32], |b| b.hash);
        let md = &self.metadata;
        let block_u32 = u32::try_from(number).map_err(|_| ChainError::BadStorage {
            item: "System.Number".into(),
            reason: "the chain passed u32::MAX blocks".into(),
        })?;
        changes.push((storage_key(md, "Timestamp", "Now", &[])?, Some(now_ms.encode())));
        changes.push((storage_key(md, "System", "Number", &[])?, Some(block_u32.encode())));
        changes.push((storage_key(md, "System", "ParentHash", &[])?, Some(parent.encode())));
        if let Some(prev) = block_u32.checked_sub(1) {
            let key = storage_key(md, "System", "BlockHash", &[&prev.encode()])?;
            changes.push((key, Some(parent.encode())));
        }
        let mut root_input = self.state_root.to_vec();
        for (key, value) in &changes {
            (key, value).encode_to(&mut root_input);
        }
        self.state_root = sp_crypto_hashing::blake2_256(&root_input);
        for (key, value) in changes {
            self.history.entry(key).or_default().push((number, value));
        }
        let slot = now_ms / self.block_time_ms;
        let header = Header {
            parent_hash: H256(parent),
            number,
            state_root: H256(self.state_root),
            // A node's root is a trie root; clients do not recompute it.
            extrinsics_root: H256(sp_crypto_hashing::blake2_256(&extrinsics.encode())),
            digest: Digest { logs: vec![DigestItem::PreRuntime(*b"aura", slot.encode())] },
        };
        let hash = header_hash(&header);
        self.blocks.push(Block { header, hash, extrinsics });
        Ok(&self.blocks[self.blocks.len() - 1])
    }

    /// The best block.
    pub fn best(&self) -> &Block {
        // The genesis block exists from construction on.
        &self.blocks[self.blocks.len() - 1]
    }

    /// The latest finalized block.
    pub fn finalized(&self) -> &Block {
        let n = self.best().header.number.saturating_sub(self.finality_lag);
        &self.blocks[n as usize]
    }

    /// Block `n`, if produced.
    pub fn block(&self, n: u64) -> Option<&Block> {
        usize::try_from(n).ok().and_then(|i| self.blocks.get(i))
    }

    /// The block with this hash, if any.
    pub fn by_hash(&self, hash: &[u8; 32]) -> Option<&Block> {
        self.blocks.iter().rev().find(|b| &b.hash == hash)
    }

    /// The value of `key` at block `n`.
    pub fn get(&self, key: &[u8], n: u64) -> Option<&[u8]> {
        let versions = self.history.get(key)?;
        let i = versions.partition_point(|(b, _)| *b <= n);
        versions[..i].last().and_then(|(_, v)| v.as_deref())
    }

    /// Up to `count` keys with `prefix` after `start` at block `n`, ascending.
    pub fn keys_paged(
        &self,
        prefix: &[u8],
        count: usize,
        start: Option<&[u8]>,
        n: u64,
    ) -> Vec<Vec<u8>> {
        use std::ops::Bound;
        let lower = match start {
            Some(s) if s >= prefix => Bound::Excluded(s.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        self.history
            .range((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| self.get(k, n).is_some())
            .take(count)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use grail_chain::metadata::{checked_metadata, FINNEY_METADATA};
    use parity_scale_codec::Decode;

    fn chain() -> DevChain {
        let md = checked_metadata(FINNEY_METADATA, "finney.scale").unwrap();
        let storage = BTreeMap::from([(b"k1".to_vec(), b"v1".to_vec())]);
        DevChain::new(md, storage, 1_700_000_000_000, 1000, 1).unwrap()
    }

    #[test]
    fn blocks_link_by_parent_hash_and_hash_their_encoding() {
        let mut c = chain();
        for i in 1..=3u64 {
            c.produce(vec![], vec![], 1_700_000_000_000 + i * 1000).unwrap();
        }
        for n in 1..=3u64 {
            let b = c.block(n).unwrap();
            assert_eq!(b.header.number, n);
            assert_eq!(b.header.parent_hash.0, c.block(n - 1).unwrap().hash);
            assert_eq!(b.hash, sp_crypto_hashing::blake2_256(&b.header.encode()));
        }
        assert_eq!(c.finalized().header.number, 2);
        let ts = storage_key(c.metadata(), "Timestamp", "Now", &[]).unwrap();
        let at2 = u64::decode(&mut c.get(&ts, 2).unwrap()).unwrap();
        assert_eq!(at2, 1_700_000_002_000);
    }

    #[test]
    fn storage_reads_see_the_value_at_each_block() {
        let mut c = chain();
        c.produce(vec![(b"k1".to_vec(), Some(b"v2".to_vec()))], vec![], 1).unwrap();
        c.produce(vec![(b"k1".to_vec(), None), (b"k2".to_vec(), Some(vec![9]))], vec![], 2)
            .unwrap();
        assert_eq!(c.get(b"k1", 0), Some(&b"v1"[..]));
        assert_eq!(c.get(b"k1", 1), Some(&b"v2"[..]));
        assert_eq!(c.get(b"k1", 2), None);
        assert_eq!(c.keys_paged(b"k", 10, None, 2), vec![b"k2".to_vec()]);
        assert_eq!(c.keys_paged(b"k", 10, None, 1), vec![b"k1".to_vec()]);
        assert_eq!(c.keys_paged(b"k", 10, Some(b"k1"), 2), vec![b"k2".to_vec()]);
    }
}
