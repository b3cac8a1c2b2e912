"""The inverse-CDF sampler, its check, eos_probability and argmax (spec section 6).

All arithmetic in f64; every sum is accumulated one term at a time, left to right.
"""

import math

from .errors import ProtocolError
from .floats import f32


def _logits(logits) -> list:
    if len(logits) == 0:
        raise ProtocolError("empty logits")
    out = [f32(l) for l in logits]
    if any(not math.isfinite(l) for l in out):
        raise ProtocolError("non-finite logit")
    return out


def _temperature(t) -> float:
    t = f32(t)
    if not (math.isfinite(t) and t > 0.0):
        raise ProtocolError("temperature must be finite and > 0")
    return t


def _uniform(u: float) -> float:
    if not (0.0 <= u < 1.0):  # also rejects NaN
        raise ProtocolError("u must lie in [0, 1)")
    return u


class _Softmax:
    """x_i = f64(l_i) / f64(T), m = max x_i, e_i = exp(x_i - m), Z = e_0 + e_1 + ..."""

    def __init__(self, logits, temperature):
        t = _temperature(temperature)
        self.x = [l / t for l in _logits(logits)]
        self.m = max(self.x)
        self.e = [math.exp(xi - self.m) for xi in self.x]
        z = 0.0
        for ei in self.e:
            z += ei
        self.z = z

    def logprob(self, i: int) -> float:
        """f32((x_i - m) - ln Z), returned as the f64 value of that f32."""
        return f32((self.x[i] - self.m) - math.log(self.z))


def sample(logits, temperature, u: float):
    """Returns (token, logprob)."""
    s = _Softmax(logits, temperature)
    u = _uniform(u)
    target = u * s.z
    c = 0.0
    last_positive = None
    for i, ei in enumerate(s.e):
        c += ei
        if ei > 0.0:
            last_positive = i
            if c > target:
                return i, s.logprob(i)
    return last_positive, s.logprob(last_positive)


def check(logits, temperature, u: float, token: int, tol: float) -> dict:
    """The validator's check of a claimed token: accepted, distance, lo, hi, logprob."""
    s = _Softmax(logits, temperature)
    u = _uniform(u)
    if not 0 <= token < len(s.e):
        raise ProtocolError("token out of range")
    before = 0.0
    for i in range(token):
        before += s.e[i]
    lo = before / s.z
    hi = (before + s.e[token]) / s.z
    accepted = lo - tol <= u < hi + tol
    if u < lo:
        distance = u - lo
    elif u >= hi:
        distance = u - hi
    else:
        distance = 0.0
    return {"accepted": accepted, "distance": distance, "hi": hi, "lo": lo, "logprob": s.logprob(token)}


def eos_probability(logits, temperature, eos: int) -> float:
    s = _Softmax(logits, temperature)
    if not 0 <= eos < len(s.e):
        raise ProtocolError("eos token out of range")
    return s.e[eos] / s.z


def argmax(logits) -> int:
    """The first index of the largest logit."""
    ls = _logits(logits)
    best = 0
    for i, l in enumerate(ls):
        if l > ls[best]:
            best = i
    return best
