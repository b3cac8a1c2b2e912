#!/usr/bin/env python3
"""Recompute every golden vector in protocol/vectors/*.json from its inputs and compare bytes.

For each file: parse it, recompute every case's expected output from the case's input (the
file's own inputs, names, descriptions and signatures are kept), serialize the whole document as
the Rust writer does (serde_json::to_string_pretty + "\\n") and compare with the file's bytes.
Prints one line per file; exits 1 on any difference, unknown file or missing file.
"""

import argparse
import json
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grail_ref import challenge, commitment, merkle, sampler, seeds  # noqa: E402
from grail_ref import checkpoint, keys, window_file  # noqa: E402
from grail_ref.cid import cid_bytes, cid_string  # noqa: E402
from grail_ref.errors import ProtocolError  # noqa: E402
from grail_ref.hashing import H, Stream  # noqa: E402
from grail_ref.jsonfmt import dumps, lines  # noqa: E402
from grail_ref.window import Network, schedule  # noqa: E402

# The seeds layout lists this many draws of each stream (the count is not an input).
SEED_STREAM_DRAWS = 3


def unhex(s: str) -> bytes:
    return bytes.fromhex(s)


# --- hash.json ------------------------------------------------------------------------------

def domain_hash(i):
    return {"hash": H(i["domain"], *map(unhex, i["parts"])).hex()}


def stream(i):
    seed = H(i["domain"], *map(unhex, i["parts"]))
    a, b, c = Stream(seed), Stream(seed), Stream(seed)  # each list starts a fresh stream
    return {
        "next_u64": [str(a.next_u64()) for _ in range(i["count"])],
        "uniform_f64": [b.uniform_f64() for _ in range(i["count"])],
        "uniform_below": [str(c.uniform_below(int(bound))) for bound in i["bounds"]],
    }


# --- window.json ----------------------------------------------------------------------------

def window(i):
    net = Network(i["blocks_per_window"], i["block_time_s"], i["grace_period_s"],
                  i["challenge_buffer_s"], i["genesis_unix"])
    w = i["window"]
    return {
        "block_at_time": net.block_at(i["time"]),
        "window_at_time": net.window_at(i["time"]),
        "window_of_block": net.window_of_block(i["block"]),
        "first_block_of_window": net.first_block_of_window(w),
        "window_start": net.window_start(w),
        "upload_deadline": net.upload_deadline(w),
        "challenge_time": net.challenge_time(w),
    }


def window_schedule(i):
    net = Network(i["blocks_per_window"], i["block_time_s"], i["grace_period_s"],
                  i["challenge_buffer_s"], i["genesis_unix"])
    try:
        return schedule(net, i["window"], i["drand_genesis"], i["drand_period"])
    except ProtocolError:
        return {"error": True}


# --- seeds.json -----------------------------------------------------------------------------

def seeds_case(i):
    hotkey = unhex(i["hotkey"])
    s_w = seeds.window_seed(i["window"], unhex(i["beacon_randomness"]), unhex(i["first_block_hash"]))
    p = seeds.problem_seed(s_w, hotkey, i["problem_index"])
    s = seeds.sample_seed(s_w, hotkey, i["problem_index"], i["rollout_index"])
    ps, ss = Stream(p), Stream(s)
    return {
        "window_seed": s_w.hex(),
        "problem_seed": p.hex(),
        "problem_stream_next_u64": [str(ps.next_u64()) for _ in range(SEED_STREAM_DRAWS)],
        "sample_seed": s.hex(),
        "sample_stream_uniforms": [ss.uniform_f64() for _ in range(SEED_STREAM_DRAWS)],
    }


# --- challenge.json -------------------------------------------------------------------------

def challenge_rollouts(i):
    return {"indices": challenge.rollouts_checked(unhex(i["randomness"]), unhex(i["cid"]),
                                                  i["rollouts_in_file"], i["checked"])}


def challenge_positions(i):
    return {"positions": challenge.positions_checked(unhex(i["randomness"]), unhex(i["cid"]),
                                                     i["file_index"], i["completion_len"], i["k"])}


def challenge_miners(i):
    chosen = challenge.miners_checked(unhex(i["randomness"]), [unhex(h) for h in i["hotkeys"]],
                                      i["checked"])
    return {"selected": [h.hex() for h in chosen]}


# --- sampler.json ---------------------------------------------------------------------------

def sample(i):
    token, logprob = sampler.sample(i["logits"], i["temperature"], i["u"])
    return {"logprob": logprob, "token": token}


def sample_stream(i):
    rng = Stream(unhex(i["seed"]))
    uniforms = [rng.uniform_f64() for _ in range(i["steps"])]
    tokens = [sampler.sample(i["logits"], i["temperature"], u)[0] for u in uniforms]
    return {"tokens": tokens, "uniforms": uniforms}


def check_sample(i):
    return sampler.check(i["logits"], i["temperature"], i["u"], i["token"], i["tol"])


def eos_probability(i):
    return {"probability": sampler.eos_probability(i["logits"], i["temperature"], i["eos"])}


def argmax(i):
    return {"token": sampler.argmax(i["logits"])}


# --- merkle.json ----------------------------------------------------------------------------

def merkle_tree(i):
    leaves = [merkle.leaf(l["position"], l["token"], l["logprob"], int(l["commitment"]))
              for l in i["leaves"]]
    root = merkle.root(leaves)
    proofs = []
    for index in range(len(leaves)):
        siblings = merkle.proof(leaves, index)
        if not merkle.verify(leaves[index], index, len(leaves), siblings, root):
            raise AssertionError(f"proof of leaf {index} does not verify")
        proofs.append({"index": index, "siblings": [s.hex() for s in siblings]})
    return {"leaf_hashes": [l.hex() for l in leaves], "proofs": proofs, "root": root.hex()}


# --- keys.json ------------------------------------------------------------------------------

def ss58(i):
    public = keys.public_key(unhex(i["mini_secret"]))
    return {"public_key": public.hex(), "ss58": keys.ss58_encode(public)}


def ss58_decode(i):
    prefix, public = keys.ss58_decode(i["address"])
    return {"prefix": prefix, "public_key": public.hex()}


def verify(i):
    public = keys.parse_hotkey(i["ss58"])
    return {"valid": keys.verify(public, unhex(i["message"]), unhex(i["signature"]))}


# --- window_file.json -----------------------------------------------------------------------

def window_file_case(i):
    h, g = i["header"], i["header"]["generation"]
    header = window_file.Header(
        protocol_version=h["protocol_version"], window=h["window"],
        hotkey=keys.parse_hotkey(h["hotkey"]), model_id=unhex(h["model_id"]),
        beacon_round=h["beacon"]["round"], beacon_randomness=unhex(h["beacon"]["randomness"]),
        beacon_signature=unhex(h["beacon"]["signature"]),
        first_block_hash=unhex(h["first_block_hash"]), fingerprint=unhex(h["fingerprint"]),
        environment_id=h["environment"]["id"], environment_version=h["environment"]["version"],
        temperature=g["temperature"], max_new_tokens=g["max_new_tokens"],
        eos_probability_floor=g["eos_probability_floor"], signature=unhex(h["signature"]),
    )
    rollouts = [
        window_file.Rollout(
            problem_index=r["problem_index"], rollout_index=r["rollout_index"],
            prompt_tokens=r["prompt_tokens"], completion_tokens=r["completion_tokens"],
            logprobs=r["logprobs"], commitments=[int(c) for c in r["commitments"]],
            merkle_root=unhex(r["merkle_root"]), reward=r["reward"], success=r["success"],
            advantage=r["advantage"], signature=unhex(r["signature"]),
        )
        for r in i["rollouts"]
    ]
    hd = window_file.header_digest(header)
    digests = [window_file.rollout_digest(hd, i, len(rollouts), r) for i, r in enumerate(rollouts)]
    valid = keys.verify(header.hotkey, hd, header.signature) and all(
        keys.verify(header.hotkey, d, r.signature) for d, r in zip(digests, rollouts))
    roots = [
        merkle.root([merkle.leaf(t, tok, lp, cm) for t, (tok, lp, cm) in
                     enumerate(zip(r.completion_tokens, r.logprobs, r.commitments))])
        for r in rollouts
    ]
    encoded = window_file.encode(header, rollouts)
    cid = cid_bytes(encoded)
    return {
        "cid": cid_string(cid),
        "cid_bytes": cid.hex(),
        "computed_merkle_roots": [r.hex() for r in roots],
        "encoded": encoded.hex(),
        "header_digest": hd.hex(),
        "rollout_digests": [d.hex() for d in digests],
        "signatures_valid": valid,
    }


# --- commitment.json ------------------------------------------------------------------------

def commitment_case(i):
    signs = commitment.key_signs(unhex(i["window_seed"]), i["hidden_size"])
    ps = commitment.projections(signs, i["hidden"])
    c = commitment.pack(ps)
    checks = []
    for claim in i["claims"]:
        accepted, worst = commitment.check(signs, i["hidden"], int(claim, 16), i["tol"])
        checks.append({"accepted": accepted, "worst_distance": worst})
    return {
        "checks": checks,
        "commitment": f"{c:08x}",
        "commitment_halves": commitment.halves(c),
        "projections": ps,
        "signs": signs,
    }


# --- checkpoint.json ------------------------------------------------------------------------

def checkpoint_case(i):
    m = i["manifest"]
    return {
        "digest": checkpoint.manifest_digest(m).hex(),
        "signature_valid": checkpoint.signature_valid(m, i["trainer"]),
    }


# file name -> {kind: handler}; commitment.json has no kinds (its cases are name/input/output).
FILES = {
    "hash.json": {"domain_hash": domain_hash, "stream": stream},
    "window.json": {"window": window, "schedule": window_schedule},
    "seeds.json": {"seeds": seeds_case},
    "challenge.json": {"challenge_rollouts": challenge_rollouts,
                       "challenge_positions": challenge_positions,
                       "challenge_miners": challenge_miners},
    "sampler.json": {"sample": sample, "sample_stream": sample_stream,
                     "check_sample": check_sample, "eos_probability": eos_probability,
                     "argmax": argmax, "sampler_error": sample},
    "merkle.json": {"merkle_tree": merkle_tree},
    "keys.json": {"ss58": ss58, "ss58_decode": ss58_decode, "verify": verify},
    "window_file.json": {"window_file": window_file_case},
    "checkpoint.json": {"checkpoint": checkpoint_case},
    "commitment.json": None,
}


def run(handler, inputs):
    """A handler's output, or {"error": true} where the specification rejects the input."""
    try:
        return handler(inputs)
    except ProtocolError:
        return {"error": True}


def recompute(name: str, doc: dict) -> dict:
    kinds = FILES[name]
    cases = []
    for case in doc["cases"]:
        if kinds is None:
            cases.append({"input": case["input"], "name": case["name"],
                          "output": run(commitment_case, case["input"])})
            continue
        if case["kind"] not in kinds:
            raise KeyError(f"case {case['name']!r}: unknown kind {case['kind']!r}")
        cases.append({"expected": run(kinds[case["kind"]], case["input"]), "input": case["input"],
                      "kind": case["kind"], "name": case["name"]})
    return {"cases": cases, "description": doc["description"]}


def case_at(doc: dict, line_no: int):
    """The name of the case whose lines (1-based) contain line_no in dumps(doc)."""
    start = 3  # line 1 "{", line 2 '  "cases": [' ("cases" sorts before "description")
    for case in doc["cases"]:
        n = len(lines(case, 2))
        if start <= line_no < start + n:
            return case.get("name")
        start += n
    return None


def check_file(path: Path) -> bool:
    text = path.read_bytes().decode("utf-8")
    doc = json.loads(text)
    try:
        mine = dumps(recompute(path.name, doc))
    except Exception as exc:  # a bug or a malformed file: report it as a failure
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        print(f"{path.name}: FAIL: could not recompute: {detail}")
        return False
    if mine == text:
        print(f"{path.name}: ok ({len(doc['cases'])} cases)")
        return True
    want, got = text.split("\n"), mine.split("\n")
    for n in range(max(len(want), len(got))):
        a = want[n] if n < len(want) else "<end of file>"
        b = got[n] if n < len(got) else "<end of file>"
        if a != b:
            name = case_at(doc, n + 1)
            where = f" (case {name!r})" if name is not None else ""
            print(f"{path.name}: FAIL at line {n + 1}{where}:\n"
                  f"    file:       {a.strip()}\n    recomputed: {b.strip()}")
            return False
    print(f"{path.name}: FAIL: bytes differ (line endings?)")
    return False


def main() -> int:
    default = Path(__file__).resolve().parent.parent / "protocol" / "vectors"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=default, help="folder of vector files")
    args = ap.parse_args()
    ok = True
    present = sorted(p.name for p in args.dir.glob("*.json"))
    for name in present:
        if name not in FILES:
            print(f"{name}: FAIL: unknown vector file (the checker does not know it)")
            ok = False
        elif not check_file(args.dir / name):
            ok = False
    for name in sorted(set(FILES) - set(present)):
        print(f"{name}: FAIL: missing from {args.dir}")
        ok = False
    print("all vector files match" if ok else "vector check FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
