#!/usr/bin/env python3
"""Golden vectors of the local clock chain (challenges/src/chain.rs), computed independently
from the spec in protocol/README.md section 1:

    H(domain, p1, ..., pn) = SHA-256(u64be(len(domain)) || domain || u64be(len(p1)) || p1 || ...)
    hash of block n  = H("grail/v1/local-block", u64be(genesis_unix), u64be(n))
    start of block n = genesis_unix + n * block_time_s

Run: python3 challenges/vectors/make_local_chain.py > challenges/vectors/local_chain.json
"""
import hashlib
import json
import struct


def u64(x):
    return struct.pack(">Q", x)


def domain_hash(domain, *parts):
    h = hashlib.sha256()
    h.update(u64(len(domain)) + domain)
    for p in parts:
        h.update(u64(len(p)) + p)
    return h.hexdigest()


cases = []
for genesis, block_time, block in [
    (0, 12, 0),
    (1_700_000_000, 12, 0),
    (1_700_000_000, 12, 30),
    (1_700_000_000, 12, 123_456),
    (1_717_171_717, 1, 2**40),
]:
    cases.append({
        "genesis_unix": genesis,
        "block_time_s": block_time,
        "block": block,
        "hash": domain_hash(b"grail/v1/local-block", u64(genesis), u64(block)),
        "block_start": genesis + block * block_time,
    })

print(json.dumps({
    "description": "Local clock chain: block hashes H('grail/v1/local-block', genesis_unix, n) "
                   "and block start times. Made by make_local_chain.py.",
    "cases": cases,
}, indent=2))
