"""Merkle tree over a completion: leaves, root, inclusion proofs (spec section 8)."""

from .floats import f32_bits
from .hashing import H, int_part


def leaf(position: int, token: int, logprob: float, commitment: int) -> bytes:
    return H("grail/v1/leaf", int_part(position), int_part(token), int_part(f32_bits(logprob)),
             int_part(commitment))


def node(left: bytes, right: bytes) -> bytes:
    return H("grail/v1/node", left, right)


def levels(leaves: list) -> list:
    """All levels bottom up; the last node of an odd level is promoted unchanged."""
    out = [list(leaves)]
    while len(out[-1]) > 1:
        cur = out[-1]
        nxt = [node(cur[i], cur[i + 1]) for i in range(0, len(cur) - 1, 2)]
        if len(cur) % 2 == 1:
            nxt.append(cur[-1])
        out.append(nxt)
    return out


def root(leaves: list) -> bytes:
    if not leaves:
        return H("grail/v1/empty")
    return levels(leaves)[-1][0]


def proof(leaves: list, index: int) -> list:
    """Siblings of leaf `index`, bottom up (none at a level where it is promoted)."""
    siblings = []
    idx = index
    for level in levels(leaves)[:-1]:
        if not (idx % 2 == 0 and idx + 1 == len(level)):
            siblings.append(level[idx ^ 1])
        idx //= 2
    return siblings


def verify(leaf_hash: bytes, index: int, n: int, siblings: list, expected_root: bytes) -> bool:
    idx, width, acc, rest = index, n, leaf_hash, list(siblings)
    while width > 1:
        if not (idx % 2 == 0 and idx + 1 == width):
            if not rest:
                return False
            s = rest.pop(0)
            acc = node(acc, s) if idx % 2 == 0 else node(s, acc)
        idx //= 2
        width = (width + 1) // 2
    return not rest and acc == expected_root
