"""Window, problem and sampling seeds (spec section 4)."""

from .hashing import H, int_part


def window_seed(window: int, beacon_randomness: bytes, first_block_hash: bytes) -> bytes:
    assert len(beacon_randomness) == 32 and len(first_block_hash) == 32
    return H("grail/v1/window", int_part(window), beacon_randomness, first_block_hash)


def problem_seed(s_w: bytes, hotkey: bytes, problem_index: int) -> bytes:
    return H("grail/v1/problem", s_w, hotkey, int_part(problem_index))


def sample_seed(s_w: bytes, hotkey: bytes, problem_index: int, rollout_index: int) -> bytes:
    return H("grail/v1/sample", s_w, hotkey, int_part(problem_index), int_part(rollout_index))
