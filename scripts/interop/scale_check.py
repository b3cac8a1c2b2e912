"""Decodes what a subtensor node (here the dev chain) serves with Polkascan's `scalecodec`,
driven by the node's own V14 metadata (`state_getMetadata`), independently of the Rust code:

- storage keys computed here from the metadata's pallet prefixes and hashers (xxhash, blake2),
  and the values at a block decoded with the entry's value type;
- the block's header SCALE-encoded here and hashed (blake2b-256): it must be the block hash;
- one extrinsic of the block's body decoded: signer, call, arguments, nonce, era, tip.

    python scale_check.py URL BLOCK_HASH QUERIES_JSON EXTRINSIC_INDEX

QUERIES_JSON is a list of {"name", "pallet", "entry", "keys": [{"type", "value"}]} with key
types as scalecodec type strings (`u16`, `AccountId`: 32-byte hex). Prints one JSON object.
"""

import hashlib
import json
import sys
import urllib.request

import xxhash
from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset


def rpc(url, method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    answer = json.load(urllib.request.urlopen(req, timeout=30))
    if "error" in answer:
        raise SystemExit(f"{method}: {answer['error']}")
    return answer["result"]


def twox128(data):
    return xxhash.xxh64(data, seed=0).digest()[::-1] + xxhash.xxh64(data, seed=1).digest()[::-1]


def hashed(hasher, data):
    if hasher == "Blake2_128Concat":
        return hashlib.blake2b(data, digest_size=16).digest() + data
    if hasher == "Twox64Concat":
        return xxhash.xxh64(data, seed=0).digest()[::-1] + data
    if hasher == "Identity":
        return data
    if hasher == "Blake2_128":
        return hashlib.blake2b(data, digest_size=16).digest()
    if hasher == "Blake2_256":
        return hashlib.blake2b(data, digest_size=32).digest()
    if hasher == "Twox128":
        return twox128(data)
    raise SystemExit(f"hasher {hasher} not handled")


def jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def main():
    url, block_hash, queries, index = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    rc = RuntimeConfigurationObject(ss58_format=42)
    rc.update_type_registry(load_type_registry_preset("core"))
    metadata = rc.create_scale_object("MetadataVersioned", data=ScaleBytes(rpc(url, "state_getMetadata", [block_hash])))
    metadata.decode()
    rc.add_portable_registry(metadata)
    version, body = next(iter(metadata.value[1].items()))
    pallets = {p["name"]: p for p in body["pallets"]}
    out = {"metadata_version": version, "storage": {}}

    for q in queries:
        pallet = pallets[q["pallet"]]
        entry = next(e for e in pallet["storage"]["entries"] if e["name"] == q["entry"])
        key = twox128(pallet["storage"]["prefix"].encode()) + twox128(q["entry"].encode())
        ty = entry["type"]
        if "Plain" in ty:
            value_ty = ty["Plain"]
        else:
            m = ty["Map"]
            value_ty = m["value"]
            for hasher, k in zip(m["hashers"], q["keys"]):
                encoded = rc.create_scale_object(k["type"]).encode(k["value"]).data
                key += hashed(hasher, bytes(encoded))
        raw = rpc(url, "state_getStorage", ["0x" + key.hex(), block_hash])
        if raw is None:
            out["storage"][q["name"]] = None
            continue
        obj = rc.create_scale_object(f"scale_info::{value_ty}", data=ScaleBytes(raw))
        out["storage"][q["name"]] = {"key": "0x" + key.hex(), "value": jsonable(obj.decode())}

    header = rpc(url, "chain_getHeader", [block_hash])
    compact = lambda n: bytes(rc.create_scale_object("Compact<u32>").encode(n).data)
    encoded = bytes.fromhex(header["parentHash"][2:])
    encoded += compact(int(header["number"], 16))
    encoded += bytes.fromhex(header["stateRoot"][2:]) + bytes.fromhex(header["extrinsicsRoot"][2:])
    logs = header["digest"]["logs"]
    encoded += compact(len(logs)) + b"".join(bytes.fromhex(log[2:]) for log in logs)
    out["header"] = {"number": int(header["number"], 16), "hash": "0x" + hashlib.blake2b(encoded, digest_size=32).hexdigest()}

    block = rpc(url, "chain_getBlock", [block_hash])
    xt = rc.create_scale_object("Extrinsic", data=ScaleBytes(block["block"]["extrinsics"][index]), metadata=metadata)
    value = xt.decode()
    address = value.get("address")
    out["extrinsic"] = {
        "address": address,
        "signature": jsonable(value.get("signature")),
        "nonce": value.get("nonce"),
        "era": jsonable(value.get("era")),
        "tip": value.get("tip"),
        "call_module": value["call"]["call_module"],
        "call_function": value["call"]["call_function"],
        "call_args": {a["name"]: jsonable(a["value"]) for a in value["call"]["call_args"]},
        "extrinsic_hash": jsonable(value.get("extrinsic_hash")),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
