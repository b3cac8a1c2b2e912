#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use grail_beacon::LocalBeacon;
use grail_chain::metadata::{checked_metadata, FINNEY_METADATA};
use grail_chain::tlock::encrypt;
use grail_protocol::keys::Hotkey;
use rand_chacha_03::rand_core::SeedableRng;
use rand_chacha_03::ChaCha20Rng;
use serde_json::json;

use super::*;
use crate::dispatch::value;
use crate::dispatch::weights::commit_timelocked_weights;
use crate::genesis::Genesis;
use crate::pulses::{self, Pulse};

const NETUID: u16 = 3;
/// The local beacon's clock: round r is due at 1000 + (r − 1).
const BEACON_GENESIS: u64 = 1000;

fn hk(i: u8) -> [u8; 32] {
    [i; 32]
}

struct Chain {
    md: Metadata,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    beacon: LocalBeacon,
    rng: ChaCha20Rng,
}

impl Chain {
    /// Netuid 3, tempo 10 (epoch 1 is blocks 7–17), commit-reveal on, no rate limit; uids 0
    /// and 3 have a permit, uid 2 is the owner.
    fn new() -> Self {
        let md = checked_metadata(FINNEY_METADATA, "finney").unwrap();
        let neurons: Vec<_> = [(1, true), (2, false), (3, false), (4, true)]
            .iter()
            .map(|(i, p)| json!({"hotkey": Hotkey(hk(*i)).to_ss58(), "validator_permit": p}))
            .collect();
        let g: Genesis = serde_json::from_value(json!({
            "netuid": NETUID, "tempo": 10, "owner": Hotkey(hk(3)).to_ss58(),
            "commit_reveal_enabled": true, "weights_rate_limit": 0, "min_allowed_weights": 1,
            "neurons": neurons,
        }))
        .unwrap();
        let state = g.storage(&md).unwrap();
        let beacon = LocalBeacon::new(BEACON_GENESIS, 1).unwrap();
        Self { md, state, beacon, rng: ChaCha20Rng::from_seed([3; 32]) }
    }

    fn apply(&mut self, changes: Changes) {
        for (k, v) in changes {
            match v {
                Some(v) => self.state.insert(k, v),
                None => self.state.remove(&k),
            };
        }
    }

    fn commit(&mut self, who: u8, plain: &[u8], round: u64, block: u64) {
        let pk = grail_drand_key(&self.beacon);
        let ct = encrypt(&pk, round, plain, &mut self.rng).unwrap();
        self.commit_bytes(who, ct, round, block);
    }

    fn commit_bytes(&mut self, who: u8, ct: Vec<u8>, round: u64, block: u64) {
        let args = (NETUID, ct, round, 4u16).encode();
        let state = &self.state;
        let changes =
            commit_timelocked_weights(&self.md, &|k| state.get(k).cloned(), &hk(who), &args, block)
                .unwrap();
        self.apply(changes);
    }

    fn pulse(&mut self, round: u64) {
        let b = self.beacon.beacon_if_due(round, 1_000_000).unwrap();
        let p = Pulse { round, randomness: b.randomness.unwrap().to_vec(), signature: b.signature };
        let state = &self.state;
        let changes = pulses::write(&self.md, &|k| state.get(k).cloned(), &[p]).unwrap();
        self.apply(changes);
    }

    fn reveal(&mut self, block: u64) {
        let state = &self.state;
        let keys = |prefix: &[u8]| {
            state
                .range(prefix.to_vec()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, _)| k.clone())
                .collect()
        };
        let changes = reveal_block(&self.md, &|k| state.get(k).cloned(), &keys, block).unwrap();
        self.apply(changes);
    }

    fn weights(&self, uid: u16) -> Vec<(u16, u16)> {
        let get = |k: &[u8]| self.state.get(k).cloned();
        value(&self.md, &get, "Weights", &[&NETUID.encode(), &uid.encode()]).unwrap().unwrap()
    }

    fn queue(&self, epoch: u64) -> Option<Vec<u8>> {
        self.state.get(&commits_key(&self.md, NETUID, epoch).unwrap()).cloned()
    }

    fn queued_rounds(&self, epoch: u64) -> Vec<u64> {
        let get = |k: &[u8]| self.state.get(k).cloned();
        commits(&self.md, &get, NETUID, epoch).unwrap().iter().map(|c| c.reveal_round).collect()
    }
}

fn grail_drand_key(beacon: &LocalBeacon) -> Vec<u8> {
    beacon.info().public_key().to_vec()
}

fn payload(hotkey: [u8; 32], uids: &[u16], values: &[u16]) -> Vec<u8> {
    WeightsTlockPayload {
        hotkey: hotkey.to_vec(),
        uids: uids.to_vec(),
        values: values.to_vec(),
        version_key: 0,
    }
    .encode()
}

#[test]
fn due_commits_are_revealed_in_their_epoch_and_the_others_wait_or_drop() {
    let mut c = Chain::new();
    c.commit(1, &payload(hk(1), &[1, 2], &[1, 2]), 50, 7);
    // Uid 1's payload names another hotkey; uid 3's round has no pulse until later.
    c.commit(2, &payload(hk(9), &[1], &[1]), 50, 8);
    c.commit(4, &payload(hk(4), &[0, 1], &[3, 1]), 60, 9);
    // The owner's commit in the legacy payload, without a hotkey.
    let legacy = (vec![0u16, 1], vec![1u16, 1], 0u64).encode();
    c.commit(3, &legacy, 50, 10);
    // A commit that is no ciphertext, and one whose round never comes.
    c.commit_bytes(1, vec![1, 2, 3], 50, 11);
    c.commit(1, &payload(hk(1), &[2, 3], &[1, 1]), 999, 12);
    assert_eq!(c.queued_rounds(1), vec![50, 50, 60, 50, 50, 999]);
    c.pulse(50);

    // Block 17 is still epoch 1: nothing to reveal (epoch 0's queue is empty).
    c.reveal(17);
    assert_eq!(c.queued_rounds(1).len(), 6);
    assert_eq!(c.weights(0), vec![]);

    // Block 18 starts epoch 2, which reveals epoch 1.
    c.reveal(18);
    assert_eq!(c.weights(0), vec![(1, 32768), (2, 65535)]);
    assert_eq!(c.weights(1), vec![], "the payload's hotkey is not the committer");
    assert_eq!(c.weights(2), vec![(0, 65535), (1, 65535)], "the legacy payload");
    assert_eq!(c.weights(3), vec![], "no pulse yet");
    assert_eq!(c.queued_rounds(1), vec![60, 999]);

    c.pulse(60);
    c.reveal(19);
    assert_eq!(c.weights(3), vec![(0, 65535), (1, 21845)]);
    assert_eq!(c.queued_rounds(1), vec![999]);

    // Epoch 3 (from block 29) drops what epoch 1 left.
    c.reveal(28);
    assert!(c.queue(1).is_some());
    c.reveal(29);
    assert_eq!(c.queue(1), None);
    let get = |k: &[u8]| c.state.get(k).cloned();
    let last: Vec<u64> =
        value(&c.md, &get, "LastUpdate", &[&NETUID.encode()]).unwrap().unwrap_or_default();
    assert_eq!(last, vec![12, 8, 10, 9], "the commits' blocks; a reveal sets none");
}
