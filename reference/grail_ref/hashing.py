"""Domain hash H and ChaCha20 streams (spec section 1)."""

import hashlib

from Crypto.Cipher import ChaCha20

from .floats import f32_bits

U64_MAX = (1 << 64) - 1


def u64be(n: int) -> bytes:
    if not 0 <= n <= U64_MAX:
        raise ValueError(f"{n} is not a u64")
    return n.to_bytes(8, "big")


def int_part(n: int) -> bytes:
    """An integer part: 8-byte big-endian (u32 values zero-extended)."""
    return u64be(n)


def float_part(x: float) -> bytes:
    """A float part: the f32 bit pattern zero-extended to 8 bytes, big-endian."""
    return u64be(f32_bits(x))


def bool_part(b: bool) -> bytes:
    return int_part(1 if b else 0)


def H(domain: str, *parts: bytes) -> bytes:
    """SHA-256(u64be(len(domain)) || domain || u64be(len(p1)) || p1 || ...)."""
    h = hashlib.sha256()
    d = domain.encode("ascii")
    h.update(u64be(len(d)) + d)
    for p in parts:
        p = bytes(p)
        h.update(u64be(len(p)) + p)
    return h.digest()


class Stream:
    """stream(seed): the ChaCha20 keystream, key = seed, 64-bit counter from 0, 64-bit nonce 0."""

    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise ValueError("a stream seed is 32 bytes")
        self._cipher = ChaCha20.new(key=bytes(seed), nonce=bytes(8))

    def next_u64(self) -> int:
        return int.from_bytes(self._cipher.encrypt(bytes(8)), "little")

    def uniform_f64(self) -> float:
        return (self.next_u64() >> 11) * 2.0**-53

    def uniform_below(self, bound: int) -> int:
        if bound <= 1:
            return 0
        zone = U64_MAX - (U64_MAX % bound)
        while True:
            x = self.next_u64()
            if x < zone:
                return x % bound
