"""Hidden-state commitment: key signs, projections, half packing, check (spec section 7)."""

import math

from .errors import ProtocolError
from .floats import f32, half_bits, half_to_f64
from .hashing import H, Stream, int_part

PROJECTIONS = 2


def key_signs(window_seed: bytes, d: int) -> list:
    """Two sign vectors s_0, s_1 in {-1, +1}^D from stream(H("grail/v1/commit-key", S_w, D))."""
    if d == 0:
        raise ProtocolError("hidden size 0")
    rng = Stream(H("grail/v1/commit-key", window_seed, int_part(d)))
    signs = []
    for _ in range(PROJECTIONS):
        s = []
        word = 0
        for i in range(d):
            if i % 64 == 0:
                word = rng.next_u64()
            s.append(-1 if (word >> (i % 64)) & 1 else 1)
        signs.append(s)
    return signs


def _hidden(h, d: int) -> list:
    if len(h) != d:
        raise ProtocolError("hidden state of the wrong length")
    out = [f32(x) for x in h]
    if any(not math.isfinite(x) for x in out):
        raise ProtocolError("non-finite hidden state")
    return out


def projections(signs: list, h) -> list:
    """p_k = (sum_i s_k[i] * f64(h_i)) / sqrt(D), summed one term at a time in index order."""
    d = len(signs[0])
    h = _hidden(h, d)
    root = math.sqrt(float(d))
    out = []
    for s in signs:
        acc = 0.0
        for si, hi in zip(s, h):
            acc += si * hi
        out.append(acc / root)
    return out


def pack(ps: list) -> int:
    """c = sum_k half(p_k) << 16k, a u32."""
    c = 0
    for k, p in enumerate(ps):
        c |= half_bits(p) << (16 * k)
    return c


def halves(c: int) -> list:
    """The f64 values of the two halves of c (NaN/inf where the bits say so)."""
    return [half_to_f64((c >> (16 * k)) & 0xFFFF) for k in range(PROJECTIONS)]


def rms(h: list) -> float:
    acc = 0.0
    for x in h:
        acc += x * x
    return math.sqrt(acc / len(h))


def check(signs: list, h, claimed: int, tol: float):
    """Returns (accepted, worst): d_k = |q_k - p_k| / rms(h), worst = max_k d_k from 0."""
    ps = projections(signs, h)
    r = rms(_hidden(h, len(signs[0])))
    worst = 0.0
    for q, p in zip(halves(claimed), ps):
        e = abs(q - p)
        if not math.isfinite(e):
            dk = math.inf
        elif r == 0.0:
            dk = 0.0 if e == 0.0 else math.inf
        else:
            dk = e / r
        if dk > worst:
            worst = dk
    return worst <= tol, worst
