use super::*;

const BEACONS: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/drand/beacons.json"));
const ROUND_TIMING: &str = include_str!("../vectors/round_timing.json");

fn fixture() -> serde_json::Value {
    serde_json::from_str(BEACONS).unwrap()
}

fn fixture_info(name: &str) -> serde_json::Value {
    fixture()[name]["info"].clone()
}

fn parse(v: &serde_json::Value) -> Result<ChainInfo, DrandError> {
    ChainInfo::from_json(&serde_json::to_vec(v).unwrap())
}

#[test]
fn pinned_chains_equal_the_real_chain_info() {
    for (name, pinned, hash) in [
        ("quicknet", ChainInfo::quicknet(), QUICKNET_HASH),
        ("mainnet", ChainInfo::mainnet(), MAINNET_HASH),
    ] {
        let info = fixture_info(name);
        let parsed = parse(&info).unwrap();
        assert_eq!(parsed, pinned, "{name}");
        // The hash is recomputed from the fields with drand's formula, so this checks it.
        assert_eq!(hex::encode(pinned.compute_hash()), hash);
        assert_eq!(info["hash"], hash);
        assert_eq!(pinned.label(), name);
        assert_eq!(ChainInfo::pinned(name).unwrap(), pinned);
    }
    assert!(ChainInfo::pinned("testnet").is_none());
}

#[test]
fn drand_info_format_round_trips() {
    for chain in [ChainInfo::quicknet(), ChainInfo::mainnet()] {
        let json = chain.to_json();
        assert!(json["metadata"]["beaconID"].is_string());
        assert_eq!(parse(&json).unwrap(), chain);
    }
}

#[test]
fn info_whose_hash_does_not_match_its_fields_is_rejected() {
    let mut info = fixture_info("quicknet");
    info["genesis_time"] = serde_json::json!(1_692_803_368u64);
    assert!(matches!(parse(&info), Err(DrandError::ChainHashMismatch { .. })));

    let mut info = fixture_info("mainnet");
    info["period"] = serde_json::json!(25);
    assert!(matches!(parse(&info), Err(DrandError::ChainHashMismatch { .. })));
}

#[test]
fn info_errors_name_the_field() {
    let mut info = fixture_info("quicknet");
    info["public_key"] = serde_json::json!("zz");
    let err = parse(&info).unwrap_err();
    assert!(matches!(err, DrandError::BadHex { field: "public_key", .. }), "{err}");

    let mut info = fixture_info("quicknet");
    info["public_key"] = serde_json::json!("83cf0f28");
    let err = parse(&info).unwrap_err();
    assert!(matches!(
        err,
        DrandError::WrongLength { field: "public_key", expected: 96, actual: 4 }
    ));

    let mut info = fixture_info("quicknet");
    info["schemeID"] = serde_json::json!("bls-unchained-on-g1");
    assert!(matches!(parse(&info), Err(DrandError::UnsupportedScheme(_))));

    let mut info = fixture_info("quicknet");
    info["period"] = serde_json::json!(0);
    assert!(matches!(parse(&info), Err(DrandError::BadPeriod { got: 0, .. })));

    assert!(matches!(ChainInfo::from_json(b"{"), Err(DrandError::Json { what: "chain info", .. })));
}

#[test]
fn ensure_same_names_the_differing_field() {
    let quicknet = ChainInfo::quicknet();
    quicknet.ensure_same(&ChainInfo::quicknet(), "relay").unwrap();
    let other_period = ChainInfo::new(
        quicknet.public_key().to_vec(),
        quicknet.genesis_time(),
        4,
        quicknet.scheme(),
        quicknet.group_hash.clone(),
        quicknet.beacon_id(),
    )
    .unwrap();
    let err = quicknet.ensure_same(&other_period, "http://relay").unwrap_err();
    assert!(matches!(err, DrandError::InfoMismatch { field: "period", .. }), "{err}");
    let err = quicknet.ensure_same(&ChainInfo::mainnet(), "http://relay").unwrap_err();
    assert!(matches!(err, DrandError::InfoMismatch { field: "public_key", .. }), "{err}");
}

#[test]
fn round_timing_matches_golden_vectors() {
    let v: serde_json::Value = serde_json::from_str(ROUND_TIMING).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() > 20);
    for case in cases {
        let chain = ChainInfo::pinned(case["chain"].as_str().unwrap()).unwrap();
        if let Some(t) = case["time"].as_u64() {
            match case["round_at"].as_u64() {
                Some(r) => assert_eq!(chain.round_at(t).unwrap(), r, "{case}"),
                None => assert!(matches!(chain.round_at(t), Err(DrandError::BeforeGenesis { .. }))),
            }
            let first = case["first_round_at_or_after"].as_u64().unwrap();
            assert_eq!(chain.first_round_at_or_after(t).unwrap(), first, "{case}");
        } else {
            let round = case["round"].as_u64().unwrap();
            assert_eq!(chain.time_of(round).unwrap(), case["time_of"].as_u64().unwrap(), "{case}");
        }
    }
}

#[test]
fn round_timing_is_consistent() {
    let chain = ChainInfo::quicknet();
    for round in [1u64, 2, 77, 1_000_000] {
        let t = chain.time_of(round).unwrap();
        assert_eq!(chain.round_at(t).unwrap(), round);
        assert_eq!(chain.first_round_at_or_after(t).unwrap(), round);
        // One second later the round is still current, but its randomness already existed.
        assert_eq!(chain.round_at(t + 1).unwrap(), round);
        assert_eq!(chain.first_round_at_or_after(t + 1).unwrap(), round + 1);
    }
    assert!(matches!(chain.time_of(0), Err(DrandError::RoundZero)));
    assert!(matches!(chain.time_of(u64::MAX), Err(DrandError::Overflow { .. })));
}

#[test]
fn scheme_ids_round_trip() {
    for s in
        [Scheme::PedersenBlsChained, Scheme::PedersenBlsUnchained, Scheme::BlsUnchainedG1Rfc9380]
    {
        assert_eq!(Scheme::from_id(s.id()).unwrap(), s);
        assert_eq!(s.public_key_len() + s.signature_len(), 144);
    }
}
