#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use grail_chain::metadata::{checked_metadata, FINNEY_METADATA};
use grail_protocol::keys::Hotkey;
use serde_json::json;

use super::*;
use crate::genesis::Genesis;

const NETUID: u16 = 3;

/// Every error name the dev chain's calls can refuse with.
pub(crate) const ERRORS: &[&str] = &[
    "SubnetNotExists",
    "TooManyRegistrationsThisBlock",
    "HotKeyAlreadyRegisteredInSubNet",
    "NonAssociatedColdKey",
    "NotEnoughBalanceToStake",
    "NoNeuronIdAvailable",
    "CommitRevealEnabled",
    "CanNotSetRootNetworkWeights",
    "WeightVecNotEqualSize",
    "MechanismDoesNotExist",
    "UidsLengthExceedUidsInSubNet",
    "HotKeyNotRegisteredInSubNet",
    "NotEnoughStakeToSetWeights",
    "IncorrectWeightVersionKey",
    "SettingWeightsTooFast",
    "NeuronNoValidatorPermit",
    "DuplicateUids",
    "UidVecContainInvalidOne",
    "WeightVecLengthIsLow",
    "MaxWeightExceeded",
    "CommitRevealDisabled",
    "IncorrectCommitRevealVersion",
    "CommittingWeightsTooFast",
    "TooManyUnrevealedCommits",
];

fn hk(i: u8) -> [u8; 32] {
    [i; 32]
}

struct Subnet {
    md: Metadata,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Subnet {
    /// uid 0 and 3 with a permit, uid 2 the owner, uid 1 neither; `extra` sets genesis fields.
    fn new(extra: &serde_json::Value) -> Self {
        let md = checked_metadata(FINNEY_METADATA, "finney").unwrap();
        let neurons: Vec<_> = [(1, true), (2, false), (3, false), (4, true)]
            .iter()
            .map(|(i, p)| json!({"hotkey": Hotkey(hk(*i)).to_ss58(), "validator_permit": p}))
            .collect();
        let mut g = json!({
            "netuid": NETUID, "tempo": 10, "owner": Hotkey(hk(3)).to_ss58(),
            "commit_reveal_enabled": false, "weights_version_key": 5,
            "weights_rate_limit": 10, "min_allowed_weights": 2, "neurons": neurons,
        });
        for (k, v) in extra.as_object().unwrap() {
            g[k] = v.clone();
        }
        let g: Genesis = serde_json::from_value(g).unwrap();
        let state = g.storage(&md).unwrap();
        Self { md, state }
    }

    fn get(&self) -> impl Fn(&[u8]) -> Option<Vec<u8>> + '_ {
        |k| self.state.get(k).cloned()
    }

    fn apply(&mut self, changes: Changes) {
        for (k, v) in changes {
            match v {
                Some(v) => self.state.insert(k, v),
                None => self.state.remove(&k),
            };
        }
    }

    fn set(&mut self, who: u8, uids: &[u16], values: &[u16], key: u64, block: u64) -> Outcome {
        let args = (NETUID, uids.to_vec(), values.to_vec(), key).encode();
        let r = set_weights(&self.md, &self.get(), &hk(who), &args, block);
        self.outcome(r)
    }

    fn commit(&mut self, who: u8, version: u16, block: u64) -> Outcome {
        let args = (NETUID, vec![1u8, 2, 3], 1000u64, version).encode();
        let r = commit_timelocked_weights(&self.md, &self.get(), &hk(who), &args, block);
        self.outcome(r)
    }

    fn outcome(&mut self, r: Result<Changes, DispatchFailure>) -> Outcome {
        match r {
            Ok(c) => {
                self.apply(c);
                Ok(())
            }
            Err(f) => Err(name(&self.md, f)),
        }
    }

    fn weights(&self, uid: u16) -> Vec<(u16, u16)> {
        value(&self.md, &self.get(), "Weights", &[&NETUID.encode(), &uid.encode()])
            .unwrap()
            .unwrap_or_default()
    }

    fn last_update(&self) -> Vec<u64> {
        value(&self.md, &self.get(), "LastUpdate", &[&NETUID.encode()]).unwrap().unwrap_or_default()
    }
}

type Outcome = Result<(), String>;

/// The name of a module error, as the metadata gives it.
pub(crate) fn name(md: &Metadata, f: DispatchFailure) -> String {
    let DispatchFailure::Module(e) = f else { panic!("internal: {f:?}") };
    let p = md.pallets().find(|p| p.error_index() == e.pallet).unwrap();
    p.error_variants().unwrap().iter().find(|v| v.index == e.error).unwrap().name.clone()
}

fn err(name: &str) -> Outcome {
    Err(name.to_owned())
}

#[test]
fn every_error_name_the_calls_use_is_in_the_metadata() {
    let md = checked_metadata(FINNEY_METADATA, "finney").unwrap();
    for e in ERRORS {
        assert!(matches!(module_error(&md, PALLET, e), DispatchFailure::Module(_)), "{e}");
    }
    assert!(matches!(module_error(&md, PALLET, "NoSuchError"), DispatchFailure::Internal(_)));
}

#[test]
fn max_upscale_follows_subtensors_fixed_point_arithmetic() {
    let cases: &[(&[u16], &[u16])] = &[
        (&[], &[]),
        (&[0, 0], &[0, 0]),
        (&[5], &[65535]),
        (&[100, 300], &[21845, 65535]),
        (&[1, 2], &[32768, 65535]),
        // 32767.5 both times; above 32768 the quotient 65535 / max is truncated first.
        (&[10000, 20000], &[32768, 65535]),
        (&[20000, 40000], &[32767, 65535]),
        (&[3, 7, 11], &[17873, 41704, 65535]),
        (&[65535, 1], &[65535, 1]),
    ];
    for (values, upscaled) in cases {
        assert_eq!(max_upscale(values), *upscaled, "{values:?}");
    }
    assert!(max_within(&[65535, 65535], 32768));
    assert!(!max_within(&[65535, 65535], 32767));
    assert!(max_within(&[0, 0], 0));
    assert!(max_within(&[], 0));
}

#[test]
fn set_weights_writes_the_upscaled_weights_and_last_update() {
    let mut s = Subnet::new(&json!({}));
    assert_eq!(s.set(1, &[1, 2], &[100, 300], 5, 7), Ok(()));
    assert_eq!(s.weights(0), vec![(1, 21845), (2, 65535)]);
    assert_eq!(s.last_update(), vec![7, 0, 0, 0], "sized to SubnetworkN");
    // The rate limit counts from block 7; a later version key passes.
    assert_eq!(s.set(1, &[1, 2], &[1, 1], 6, 16), err("SettingWeightsTooFast"));
    assert_eq!(s.set(1, &[1, 2], &[1, 1], 6, 17), Ok(()));
    assert_eq!(s.weights(0), vec![(1, 65535), (2, 65535)]);
    // A lone self-weight needs no permit and no minimum length; the owner needs no permit.
    assert_eq!(s.set(2, &[1], &[9], 5, 17), Ok(()));
    assert_eq!(s.weights(1), vec![(1, 65535)]);
    assert_eq!(s.set(3, &[0, 1], &[1, 1], 5, 17), Ok(()));
    assert_eq!(s.last_update(), vec![17, 17, 17, 0]);
}

#[test]
fn set_weights_refusals_come_in_subtensors_order() {
    let mut s = Subnet::new(&json!({"max_weights_limit": 40000}));
    type Check<'a> = (u8, &'a [u16], &'a [u16], u64, &'a str);
    let checks: &[Check<'_>] = &[
        (1, &[1, 2], &[1], 5, "WeightVecNotEqualSize"),
        (1, &[0, 1, 2, 3, 0], &[1; 5], 5, "UidsLengthExceedUidsInSubNet"),
        (9, &[1, 2], &[1, 1], 5, "HotKeyNotRegisteredInSubNet"),
        (1, &[1, 1], &[1, 1], 4, "IncorrectWeightVersionKey"),
        (2, &[1, 1], &[1, 1], 5, "NeuronNoValidatorPermit"),
        (1, &[1, 1], &[1, 1], 5, "DuplicateUids"),
        (1, &[1, 9], &[1, 1], 5, "UidVecContainInvalidOne"),
        (1, &[1], &[1], 5, "WeightVecLengthIsLow"),
        (1, &[1, 2], &[1, 3], 5, "MaxWeightExceeded"),
    ];
    for (who, uids, values, key, name) in checks {
        assert_eq!(s.set(*who, uids, values, *key, 3), err(name), "{uids:?} {values:?}");
    }
    assert_eq!(s.last_update(), Vec::<u64>::new(), "refusals write nothing");
    // A self-weight may exceed the limit.
    assert_eq!(s.set(1, &[0], &[1], 5, 3), Ok(()));

    let mut s = Subnet::new(&json!({"commit_reveal_enabled": true}));
    assert_eq!(s.set(1, &[1, 2], &[1, 1], 5, 3), err("CommitRevealEnabled"));
    // On a subnet that does not exist commit-reveal is on (the default) before anything.
    let args = (7u16, vec![1u16], vec![1u16], 0u64).encode();
    let other = set_weights(&s.md, &s.get(), &hk(1), &args, 3);
    assert_eq!(name(&s.md, other.unwrap_err()), "CommitRevealEnabled");
    let args = (7u16, vec![1u8], 1u64, 4u16).encode();
    let other = commit_timelocked_weights(&s.md, &s.get(), &hk(1), &args, 3);
    assert_eq!(name(&s.md, other.unwrap_err()), "MechanismDoesNotExist");
}

#[test]
fn commits_queue_under_the_blocks_epoch_and_take_the_rate_limit() {
    let mut s = Subnet::new(&json!({"commit_reveal_enabled": true, "weights_rate_limit": 0}));
    assert_eq!(s.commit(1, 3, 5), err("IncorrectCommitRevealVersion"));
    assert_eq!(s.commit(9, 4, 5), err("HotKeyNotRegisteredInSubNet"));
    let e = epochs(&s.md, &s.get(), NETUID).unwrap();
    // Netuid 3, tempo 10: the epoch runs at block 6, where (6 + 4) % 11 = 10.
    assert_eq!((e.epoch_of(6), e.commit_epoch(5), e.commit_epoch(6)), (0, 0, 1));
    for i in 0..10 {
        assert_eq!(s.commit(1, 4, 7 + i), Ok(()), "commit {i}");
    }
    assert_eq!(s.commit(1, 4, 16), err("TooManyUnrevealedCommits"));
    assert_eq!(s.commit(2, 4, 16), Ok(()), "the limit is per hotkey");
    assert_eq!(s.commit(1, 4, 17), Ok(()), "block 17 is in epoch 2");
    let queue = commits(&s.md, &s.get(), NETUID, 1).unwrap();
    assert_eq!(queue.len(), 11);
    assert_eq!(queue[0].who, hk(1));
    assert_eq!((queue[0].commit_block, queue[0].reveal_round), (7, 1000));
    assert_eq!(queue[0].commit, vec![1, 2, 3]);
    assert_eq!(commits(&s.md, &s.get(), NETUID, 2).unwrap().len(), 1);
    assert_eq!(s.last_update(), vec![17, 16, 0, 0]);

    // Rate limit 10 blocks.
    let mut s = Subnet::new(&json!({"commit_reveal_enabled": true}));
    assert_eq!(s.commit(1, 4, 5), Ok(()));
    assert_eq!(s.commit(1, 4, 14), err("CommittingWeightsTooFast"));
    assert_eq!(s.commit(1, 4, 15), Ok(()));
    let mut s = Subnet::new(&json!({}));
    assert_eq!(s.commit(1, 4, 5), err("CommitRevealDisabled"));
}

#[test]
fn commit_bytes_over_the_bound_do_not_decode() {
    let args = (NETUID, vec![0u8; MAX_COMMIT_BYTES + 1], 1u64, 4u16).encode();
    assert!(CommitArgs::decode_checked(&args).unwrap_err().contains("5001 bytes"));
    let args = (NETUID, vec![0u8; MAX_COMMIT_BYTES], 1u64, 4u16).encode();
    assert_eq!(CommitArgs::decode_checked(&args).unwrap().commit.len(), MAX_COMMIT_BYTES);
}
