"""Challenge selection: rollouts, positions, miners (spec section 5)."""

from .hashing import H, Stream, int_part


def distinct(rng: Stream, n: int, k: int) -> list:
    """k' = min(k, n) distinct indices of 0..n by a partial Fisher-Yates shuffle, sorted ascending."""
    kk = min(k, n)
    a = list(range(n))
    for i in range(kk):
        j = i + rng.uniform_below(n - i)
        a[i], a[j] = a[j], a[i]
    return sorted(a[:kk])


def rollouts_checked(randomness: bytes, cid: bytes, rollouts_in_file: int, checked: int) -> list:
    rng = Stream(H("grail/v1/challenge/rollouts", randomness, cid))
    return distinct(rng, rollouts_in_file, checked)


def positions_checked(randomness: bytes, cid: bytes, file_index: int, completion_len: int, k: int) -> list:
    if completion_len <= k:
        return list(range(completion_len))
    rng = Stream(H("grail/v1/challenge/positions", randomness, cid, int_part(file_index)))
    return distinct(rng, completion_len, k)


def miners_checked(randomness: bytes, hotkeys: list, checked: int) -> list:
    unique = sorted(set(bytes(h) for h in hotkeys))
    rng = Stream(H("grail/v1/challenge/miners", randomness))
    return [unique[i] for i in distinct(rng, len(unique), checked)]
