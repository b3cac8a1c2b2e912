//! Interoperability with an independent SCALE implementation: Polkascan's `scalecodec` (pip,
//! in the venv `scripts/scalecodec-venv.sh` makes), driven by the V14 metadata the dev chain
//! serves, computes storage keys from the metadata's hashers and decodes the values, hashes
//! the header it re-encodes, and decodes the `burned_register` and `set_commitment` extrinsics
//! the client signed and the `CommitmentOf` value the dev chain stored (pallet-commitments'
//! hand-written `Data` codec, `RawN` variants); each field must agree with what the Rust side
//! wrote or signed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use grail_chain::rpc::submit::Call;
use grail_devchain::genesis::Genesis;
use grail_protocol::keys::HotkeyPair;
use serde_json::{json, Value};

const FUNDS: u64 = 1_000_000_000;
const BURN: u64 = 100_000_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn python() -> PathBuf {
    let out = Command::new("bash").arg(root().join("scripts/scalecodec-venv.sh")).output().unwrap();
    assert!(out.status.success(), "scalecodec-venv.sh: {}", String::from_utf8_lossy(&out.stderr));
    root().join(".venv-scalecodec/bin/python")
}

fn pair(seed: u8) -> HotkeyPair {
    HotkeyPair::from_mini_secret(&[seed; 32]).unwrap()
}

fn hex0x(b: &[u8]) -> String {
    format!("0x{}", hex::encode(b))
}

#[path = "support/chain.rs"]
mod support_chain;
use support_chain::start_with_client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scalecodec_decodes_the_dev_chain_and_the_clients_extrinsic_as_the_rust_side_means_it() {
    let python = python();
    let neurons: Vec<Value> = (0..3u8)
        .map(|i| json!({"hotkey": pair(50 + i).hotkey(), "stake": 7 + u64::from(i)}))
        .collect();
    let genesis: Genesis = serde_json::from_value(json!({
        "netuid": 5,
        "tempo": 99,
        "neurons": neurons,
        "balances": [{"account": pair(1).hotkey(), "free": FUNDS}],
    }))
    .unwrap();
    let (chain, client) = start_with_client(&genesis, 200, None).await;
    let (cold, hot) = (pair(1), pair(2));
    let inclusion = client.submit(&Call::burned_register(5, &hot.hotkey()), &cold).await.unwrap();
    let block = chain.shared.chain().block(inclusion.block).unwrap().clone();

    let account = |pk: [u8; 32]| json!({"type": "AccountId", "value": hex0x(&pk)});
    let queries = json!([
        {"name": "n", "pallet": "SubtensorModule", "entry": "SubnetworkN", "keys": [{"type": "u16", "value": 5}]},
        {"name": "key3", "pallet": "SubtensorModule", "entry": "Keys", "keys": [{"type": "u16", "value": 5}, {"type": "u16", "value": 3}]},
        {"name": "uid", "pallet": "SubtensorModule", "entry": "Uids", "keys": [{"type": "u16", "value": 5}, account(hot.hotkey().0)]},
        {"name": "stake1", "pallet": "SubtensorModule", "entry": "TotalHotkeyAlpha", "keys": [account(pair(51).hotkey().0), {"type": "u16", "value": 5}]},
        {"name": "tempo", "pallet": "SubtensorModule", "entry": "Tempo", "keys": [{"type": "u16", "value": 5}]},
        {"name": "account", "pallet": "System", "entry": "Account", "keys": [account(cold.hotkey().0)]},
        {"name": "now", "pallet": "Timestamp", "entry": "Now", "keys": []},
        {"name": "number", "pallet": "System", "entry": "Number", "keys": []},
    ]);
    let out = Command::new(&python)
        .arg(root().join("scripts/interop/scale_check.py"))
        .arg(format!("http://{}", chain.addr))
        .arg(hex0x(&inclusion.block_hash))
        .arg(queries.to_string())
        .arg(inclusion.index.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let py: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(py["metadata_version"], "V14", "{py}");

    // Storage: keys from the metadata's hashers and values, as the Rust side wrote them.
    let s = &py["storage"];
    let md = client.metadata();
    let rust_key = grail_chain::storage_key::storage_key(
        md,
        "SubtensorModule",
        "Keys",
        &[&5u16.to_le_bytes(), &3u16.to_le_bytes()],
    )
    .unwrap();
    assert_eq!(s["key3"]["key"], hex0x(&rust_key));
    assert_eq!(s["n"]["value"], 4);
    let ss58 = |p: &HotkeyPair| p.hotkey().to_ss58();
    let as_account = |v: &Value| -> String {
        // scalecodec prints an AccountId in SS58 (format 42) or as hex
        let t = v.as_str().unwrap();
        match t.strip_prefix("0x") {
            Some(h) => {
                grail_protocol::keys::Hotkey(hex::decode(h).unwrap().try_into().unwrap()).to_ss58()
            }
            None => t.to_owned(),
        }
    };
    assert_eq!(as_account(&s["key3"]["value"]), ss58(&hot));
    assert_eq!(s["uid"]["value"], 3);
    assert_eq!(s["stake1"]["value"], 8);
    assert_eq!(s["tempo"]["value"], 99);
    assert_eq!(s["account"]["value"]["nonce"], 1);
    assert_eq!(s["account"]["value"]["providers"], 1);
    assert_eq!(s["account"]["value"]["data"]["free"], FUNDS - BURN);
    assert_eq!(s["number"]["value"], inclusion.block);
    let ts = client.timestamp_at(inclusion.block_hash).await.unwrap();
    assert_eq!(s["now"]["value"], ts);

    // The header, re-encoded there, hashes to the block hash.
    assert_eq!(py["header"]["number"], block.header.number);
    assert_eq!(py["header"]["hash"], hex0x(&inclusion.block_hash));

    // The extrinsic the client signed, field by field.
    let x = &py["extrinsic"];
    assert_eq!(x["call_module"], "SubtensorModule", "{x}");
    assert_eq!(x["call_function"], "burned_register", "{x}");
    assert_eq!(x["call_args"]["netuid"], 5, "{x}");
    assert_eq!(as_account(&x["call_args"]["hotkey"]), ss58(&hot), "{x}");
    let address = &x["address"];
    let address = address.get("Id").unwrap_or(address);
    assert_eq!(as_account(address), ss58(&cold), "{x}");
    assert_eq!(x["nonce"], 0, "{x}");
    assert_eq!(x["tip"], 0, "{x}");
    assert!(x["signature"].get("Sr25519").is_some(), "{x}");
    assert_eq!(x["extrinsic_hash"], hex0x(&inclusion.tx_hash), "{x}");
    // Mortal for 64 blocks from a birth block at or before the inclusion: [period, phase].
    let era = x["era"].as_array().unwrap();
    assert_eq!(era[0], 64, "{x}");
    assert!(era[1].as_u64().unwrap() <= inclusion.block.min(63), "{x}");
    // The signature is the one in the bytes: compact length, 0x84, MultiAddress::Id (33 bytes),
    // MultiSignature::Sr25519 (1 + 64 bytes).
    assert_eq!(block.extrinsics.len(), 1);
    let bytes = &block.extrinsics[0];
    let mut rest = bytes.as_slice();
    let len = <parity_scale_codec::Compact<u32> as parity_scale_codec::Decode>::decode(&mut rest)
        .unwrap();
    assert_eq!(len.0 as usize, rest.len());
    let start = bytes.len() - rest.len();
    assert_eq!(bytes[start], 0x84, "a signed v4 extrinsic");
    assert_eq!(bytes[start + 1..start + 34], [&[0u8][..], &cold.hotkey().0[..]].concat()[..]);
    assert_eq!(bytes[start + 34], 1);
    assert_eq!(x["signature"]["Sr25519"], hex0x(&bytes[start + 35..start + 99]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scalecodec_decodes_a_stored_commitment_and_the_set_commitment_extrinsic() {
    use grail_chain::commitment::MinerCommitment;

    let python = python();
    let miner = pair(60);
    let genesis: Genesis = serde_json::from_value(json!({
        "netuid": 6,
        "neurons": [{"hotkey": miner.hotkey()}],
        "balances": [{"account": miner.hotkey(), "free": FUNDS}],
    }))
    .unwrap();
    let (chain, client) = start_with_client(&genesis, 200, None).await;
    let commitment = MinerCommitment {
        store_url: "s3://grail-miner-60/w".into(),
        endpoint: None,
        region: Some("us-east-1".into()),
        allow_http: false,
        read_credentials: Some(("ID".into(), "SECRET".into())),
    };
    let fields = commitment.to_fields().unwrap();
    let call = Call::set_commitment(6, &fields);
    let inclusion = client.submit(&call, &miner).await.unwrap();

    let queries = json!([{
        "name": "commitment", "pallet": "Commitments", "entry": "CommitmentOf",
        "keys": [{"type": "u16", "value": 6}, {"type": "AccountId", "value": hex0x(&miner.hotkey().0)}],
    }]);
    let out = Command::new(&python)
        .arg(root().join("scripts/interop/scale_check.py"))
        .arg(format!("http://{}", chain.addr))
        .arg(hex0x(&inclusion.block_hash))
        .arg(queries.to_string())
        .arg(inclusion.index.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let py: Value = serde_json::from_str(stdout.trim()).unwrap();

    // Registration { deposit, block, info: { fields: [Data] } }, each field a RawN variant.
    let key =
        grail_chain::rpc::commitments::commitment_key(client.metadata(), 6, &miner.hotkey().0)
            .unwrap();
    assert_eq!(py["storage"]["commitment"]["key"], hex0x(&key));
    let v = &py["storage"]["commitment"]["value"];
    assert_eq!(v["deposit"], 0, "{v}");
    assert_eq!(v["block"], inclusion.block, "{v}");
    let data = v["info"]["fields"].as_array().unwrap();
    assert_eq!(data.len(), fields.len(), "{v}");
    // scalecodec prints `[u8; N]` as 0x-hex, or as text where it is printable.
    let bytes_of = |x: &Value| -> Vec<u8> {
        let s = x.as_str().unwrap();
        match s.strip_prefix("0x").map(hex::decode) {
            Some(Ok(b)) => b,
            _ => s.as_bytes().to_vec(),
        }
    };
    for (d, f) in data.iter().zip(&fields) {
        let name = format!("Raw{}", f.len());
        let inner = d.get(&name).unwrap_or_else(|| panic!("{name} in {d}"));
        if !f.is_empty() {
            assert_eq!(&bytes_of(inner), f, "{d}");
        }
    }

    let x = &py["extrinsic"];
    assert_eq!(x["call_module"], "Commitments", "{x}");
    assert_eq!(x["call_function"], "set_commitment", "{x}");
    assert_eq!(x["call_args"]["netuid"], 6, "{x}");
    let sent = x["call_args"]["info"]["fields"].as_array().unwrap();
    assert_eq!(sent, data, "the call's fields are the stored fields");
}
