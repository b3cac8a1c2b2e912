"""Window file: the signed digests and the wire format encoder (spec section 10)."""

import struct
from dataclasses import dataclass

from .errors import ProtocolError
from .floats import f32_bits
from .hashing import H, bool_part, float_part, int_part

MAGIC = b"GRAILWF\0"
FORMAT_VERSION = 2
REPEAT_PROMPT = 0xFFFFFFFF
GROUP_SIZE = 16


@dataclass
class Header:
    protocol_version: int
    window: int
    hotkey: bytes  # 32-byte public key
    model_id: bytes  # binary CID
    beacon_round: int
    beacon_randomness: bytes  # 32 B
    beacon_signature: bytes
    first_block_hash: bytes  # 32 B
    fingerprint: bytes  # 32 B
    environment_id: str
    environment_version: int
    temperature: float  # f32
    max_new_tokens: int
    eos_probability_floor: float  # f32
    signature: bytes  # 64 B


@dataclass
class Rollout:
    problem_index: int
    rollout_index: int
    prompt_tokens: list
    completion_tokens: list
    logprobs: list  # f32
    commitments: list  # u32
    merkle_root: bytes  # 32 B
    reward: float  # f32
    success: bool
    advantage: float  # f32
    signature: bytes  # 64 B


def header_digest(h: Header) -> bytes:
    return H(
        "grail/v1/header-sig",
        int_part(h.protocol_version), int_part(h.window), h.hotkey, h.model_id,
        int_part(h.beacon_round), h.beacon_randomness, h.beacon_signature,
        h.first_block_hash, h.fingerprint,
        h.environment_id.encode("utf-8"), int_part(h.environment_version),
        float_part(h.temperature), int_part(h.max_new_tokens), float_part(h.eos_probability_floor),
    )


def rollout_digest(hd: bytes, file_index: int, rollout_count: int, r: Rollout) -> bytes:
    p = b"".join(struct.pack(">I", t) for t in r.prompt_tokens)
    c = b"".join(struct.pack(">I", t) for t in r.completion_tokens)
    lp = b"".join(struct.pack(">I", f32_bits(x)) for x in r.logprobs)
    cm = b"".join(struct.pack(">I", x) for x in r.commitments)
    return H(
        "grail/v1/rollout-sig", hd, int_part(file_index), int_part(rollout_count),
        int_part(r.problem_index), int_part(r.rollout_index),
        p, c, lp, cm, r.merkle_root, float_part(r.reward), bool_part(r.success),
        float_part(r.advantage),
    )


# --- wire format (little-endian; vec<T> = u32 count + elements; floats are f32) ---

def _u8(n):
    return struct.pack("<B", n)


def _u32(n):
    return struct.pack("<I", n)


def _u64(n):
    return struct.pack("<Q", n)


def _f32(x):
    return struct.pack("<I", f32_bits(x))


def _fixed(b, n):
    if len(b) != n:
        raise ProtocolError(f"expected {n} bytes, got {len(b)}")
    return bytes(b)


def _bytes(b):
    return _u32(len(b)) + bytes(b)


def _vec(items, enc):
    return _u32(len(items)) + b"".join(enc(x) for x in items)


def encode_header(h: Header) -> bytes:
    return b"".join([
        _u32(h.protocol_version), _u64(h.window), _fixed(h.hotkey, 32), _bytes(h.model_id),
        _u64(h.beacon_round), _fixed(h.beacon_randomness, 32), _bytes(h.beacon_signature),
        _fixed(h.first_block_hash, 32), _fixed(h.fingerprint, 32),
        _bytes(h.environment_id.encode("utf-8")), _u32(h.environment_version),
        _f32(h.temperature), _u32(h.max_new_tokens), _f32(h.eos_probability_floor),
        _fixed(h.signature, 64),
    ])


def encode_rollout(r: Rollout, previous_prompt) -> bytes:
    if not r.rollout_index < GROUP_SIZE:
        raise ProtocolError("rollout_index out of range")
    n = len(r.completion_tokens)
    if len(r.logprobs) != n or len(r.commitments) != n:
        raise ProtocolError("logprobs/commitments counts differ from the completion's")
    if previous_prompt is not None and list(r.prompt_tokens) == list(previous_prompt):
        prompt = _u32(REPEAT_PROMPT)
    else:
        prompt = _vec(r.prompt_tokens, _u32)
    return b"".join([
        _u32(r.problem_index), _u32(r.rollout_index), prompt,
        _vec(r.completion_tokens, _u32), _vec(r.logprobs, _f32), _vec(r.commitments, _u32),
        _fixed(r.merkle_root, 32), _f32(r.reward), _u8(1 if r.success else 0), _f32(r.advantage),
        _fixed(r.signature, 64),
    ])


def encode(h: Header, rollouts: list) -> bytes:
    out = [MAGIC, _u32(FORMAT_VERSION), encode_header(h), _u32(len(rollouts))]
    previous = None
    for r in rollouts:
        out.append(encode_rollout(r, previous))
        previous = r.prompt_tokens
    return b"".join(out)
