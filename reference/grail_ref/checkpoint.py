"""Checkpoint manifest: the signed digest and its verification (spec section 11)."""

from .cid import cid_from_string
from .hashing import H, float_part, int_part
from .keys import parse_hotkey, verify


def manifest_digest(m: dict) -> bytes:
    parts = [
        int_part(m["version"]), int_part(m["from_window"]), cid_from_string(m["model_id"]),
        m["location"].encode("utf-8"), int_part(len(m["files"])),
    ]
    for f in m["files"]:
        parts += [f["name"].encode("utf-8"), cid_from_string(f["cid"]), int_part(f["bytes"])]
    g, e = m["generation"], m["environment"]
    parts += [
        e["id"].encode("utf-8"), int_part(e["version"]),
        float_part(g["temperature"]), int_part(g["max_new_tokens"]),
        float_part(g["eos_probability_floor"]),
        parse_hotkey(m["trainer"]),
    ]
    return H("grail/v1/checkpoint-sig", *parts)


def signature_valid(m: dict, trainer: str) -> bool:
    if parse_hotkey(m["trainer"]) != parse_hotkey(trainer):
        return False
    return verify(parse_hotkey(trainer), manifest_digest(m), bytes.fromhex(m["signature"]))
