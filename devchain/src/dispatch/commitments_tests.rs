#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use grail_chain::commitment::BoundedBytes;
use grail_chain::metadata::{checked_metadata, FINNEY_METADATA};
use grail_protocol::keys::Hotkey;
use serde_json::json;

use super::*;
use crate::genesis::Genesis;

const NETUID: u16 = 3;
const TEMPO: u16 = 10;

/// The name of a module error, as the metadata gives it.
fn name(md: &Metadata, f: DispatchFailure) -> String {
    let DispatchFailure::Module(e) = f else { panic!("internal: {f:?}") };
    let p = md.pallets().find(|p| p.error_index() == e.pallet).unwrap();
    p.error_variants().unwrap().iter().find(|v| v.index == e.error).unwrap().name.clone()
}

#[test]
fn every_error_name_used_is_in_the_metadata() {
    let md = checked_metadata(FINNEY_METADATA, "finney").unwrap();
    for e in ["AccountNotAllowedCommit", "TooManyFieldsInCommitmentInfo", "SpaceLimitExceeded"] {
        assert!(matches!(module_error(&md, COMMITMENTS, e), DispatchFailure::Module(_)), "{e}");
    }
    assert!(matches!(
        module_error(&md, "Balances", "InsufficientBalance"),
        DispatchFailure::Module(_)
    ));
    for entry in [
        "CommitmentOf",
        "LastCommitment",
        "LastBondsReset",
        "UsedSpaceOf",
        "MaxSpace",
        "TimelockedIndex",
    ] {
        let keys: Vec<Vec<u8>> = match entry {
            "MaxSpace" | "TimelockedIndex" => vec![],
            _ => vec![NETUID.encode(), hk(1).to_vec()],
        };
        let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
        storage_key(&md, COMMITMENTS, entry, &keys).unwrap();
    }
    assert_eq!(constant::<u32>(&md, "MaxFields").unwrap(), 3);
    let get = |_: &[u8]| None;
    assert_eq!(
        item::<u32>(&md, &get, "MaxSpace", &[]).unwrap(),
        Some(3100),
        "the metadata's default"
    );
}

fn hk(i: u8) -> [u8; 32] {
    [i; 32]
}

struct Chain {
    md: Metadata,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Chain {
    /// hk(1) and hk(2) registered on `NETUID`.
    fn new() -> Self {
        let md = checked_metadata(FINNEY_METADATA, "finney").unwrap();
        let neurons: Vec<_> =
            [1u8, 2].iter().map(|i| json!({"hotkey": Hotkey(hk(*i)).to_ss58()})).collect();
        let g: Genesis =
            serde_json::from_value(json!({"netuid": NETUID, "tempo": TEMPO, "neurons": neurons}))
                .unwrap();
        let state = g.storage(&md).unwrap();
        Self { md, state }
    }

    fn commit(&mut self, who: u8, fields: Vec<Data>, block: u64) -> Result<(), String> {
        let args = (NETUID, fields).encode();
        let get = |k: &[u8]| self.state.get(k).cloned();
        match set_commitment(&self.md, &get, &hk(who), &args, block) {
            Ok(changes) => {
                for (k, v) in changes {
                    match v {
                        Some(v) => self.state.insert(k, v),
                        None => self.state.remove(&k),
                    };
                }
                Ok(())
            }
            Err(f) => Err(name(&self.md, f)),
        }
    }

    fn read<T: Decode>(&self, entry: &str, who: u8) -> Option<T> {
        let get = |k: &[u8]| self.state.get(k).cloned();
        optional(&self.md, &get, entry, &[&NETUID.encode(), &hk(who)]).unwrap()
    }

    fn index(&self) -> Vec<(u16, [u8; 32])> {
        let get = |k: &[u8]| self.state.get(k).cloned();
        item(&self.md, &get, "TimelockedIndex", &[]).unwrap().unwrap_or_default()
    }
}

fn raw(s: &str) -> Data {
    Data::raw(s.as_bytes()).unwrap()
}

#[test]
fn a_registered_hotkeys_commitment_is_stored_with_its_block() {
    let mut c = Chain::new();
    c.commit(1, vec![raw("grail1 s3://b")], 5).unwrap();
    let r: Registration = c.read("CommitmentOf", 1).unwrap();
    assert_eq!(
        r,
        Registration {
            deposit: 0,
            block: 5,
            info: CommitmentInfo { fields: vec![raw("grail1 s3://b")] }
        }
    );
    assert_eq!(c.read::<u32>("LastCommitment", 1), Some(5));
    // 13 bytes count as 100; the epoch of block 5 is (5 + 3 + 1) / 11 = 0.
    assert_eq!(c.read("UsedSpaceOf", 1), Some(UsageTracker { last_epoch: 0, used_space: 100 }));
    assert!(c.read::<u32>("LastBondsReset", 1).is_none());

    c.commit(1, vec![raw("grail1 s3://c"), raw(""), raw("a:b")], 6).unwrap();
    let r: Registration = c.read("CommitmentOf", 1).unwrap();
    assert_eq!((r.block, r.info.fields.len()), (6, 3));
    assert_eq!(c.read("UsedSpaceOf", 1), Some(UsageTracker { last_epoch: 0, used_space: 200 }));
}

#[test]
fn the_pallets_refusals() {
    let mut c = Chain::new();
    assert_eq!(c.commit(9, vec![raw("grail1 s3://b")], 5), Err("AccountNotAllowedCommit".into()));
    let four = vec![Data::None, Data::None, Data::None, Data::None];
    assert_eq!(c.commit(1, four.clone(), 5), Err("TooManyFieldsInCommitmentInfo".into()));
    // A signed extrinsic with four fields does not even decode.
    assert!(decode_checked(&(NETUID, four).encode()).is_err());
    assert!(decode_checked(&(NETUID, vec![Data::None; 3]).encode()).is_ok());
    assert!(c.read::<Registration>("CommitmentOf", 9).is_none());
}

#[test]
fn space_is_limited_per_epoch() {
    let mut c = Chain::new();
    let big = |n: usize| Data::BigRaw(BoundedBytes::new(vec![0; n]).unwrap());
    // 3 · 512 = 1536 twice fits in 3100, a third time not, in the same epoch (blocks 0..=6).
    c.commit(2, vec![big(512), big(512), big(512)], 1).unwrap();
    c.commit(2, vec![big(512), big(512), big(512)], 2).unwrap();
    assert_eq!(c.commit(2, vec![raw("x")], 3), Err("SpaceLimitExceeded".into()));
    assert_eq!(c.read("UsedSpaceOf", 2), Some(UsageTracker { last_epoch: 0, used_space: 3072 }));
    // The next epoch starts at block 7 ((7 + 4) / 11 = 1): the count starts over.
    c.commit(2, vec![raw("x")], 7).unwrap();
    assert_eq!(c.read("UsedSpaceOf", 2), Some(UsageTracker { last_epoch: 1, used_space: 100 }));
}

#[test]
fn timelocked_fields_enter_the_index_and_leave_it() {
    let mut c = Chain::new();
    let tle = Data::TimelockEncrypted {
        encrypted: BoundedBytes::new(vec![1; 10]).unwrap(),
        reveal_round: 9,
    };
    c.commit(2, vec![tle.clone()], 1).unwrap();
    c.commit(1, vec![tle, Data::ResetBondsFlag], 2).unwrap();
    assert_eq!(c.index(), vec![(NETUID, hk(1)), (NETUID, hk(2))]);
    assert_eq!(c.read::<u32>("LastBondsReset", 1), Some(2));
    c.commit(2, vec![raw("grail1 s3://b")], 3).unwrap();
    assert_eq!(c.index(), vec![(NETUID, hk(1))]);
}
