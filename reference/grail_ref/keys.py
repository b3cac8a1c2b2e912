"""sr25519 hotkeys and SS58 addresses (spec section 9).

sr25519 itself comes from py-sr25519-bindings (schnorrkel; mini secret expanded in Ed25519 mode,
signing context b"substrate"), the library Substrate/Bittensor Python tooling uses.
"""

import hashlib

import sr25519

from .errors import ProtocolError

HOTKEY_PREFIX = 42
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def public_key(mini_secret: bytes) -> bytes:
    if len(mini_secret) != 32:
        raise ProtocolError("a mini secret is 32 bytes")
    public, _secret = sr25519.pair_from_seed(bytes(mini_secret))
    return bytes(public)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(public) != 32 or len(signature) != 64:
        return False
    try:
        return bool(sr25519.verify(bytes(signature), bytes(message), bytes(public)))
    except ValueError:
        return False


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + out


def b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        i = B58.find(ch)
        if i < 0:
            raise ProtocolError(f"invalid base58 character {ch!r}")
        n = n * 58 + i
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + body


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(b"SS58PRE" + payload, digest_size=64).digest()[:2]


def ss58_encode(public: bytes, prefix: int = HOTKEY_PREFIX) -> str:
    if len(public) != 32 or not 0 <= prefix <= 255:
        raise ProtocolError("bad SS58 input")
    payload = bytes([prefix]) + bytes(public)
    return b58encode(payload + _checksum(payload))


def ss58_decode(address: str):
    """Returns (prefix, public key): a one-byte prefix (first byte < 64) or Substrate's two-byte
    form (first byte 64..127, 14 bits over both bytes), 32 key bytes, 2 checksum bytes."""
    raw = b58decode(address)
    if not raw:
        raise ProtocolError("empty SS58 address")
    if raw[0] < 64:
        prefix, n = raw[0], 1
    elif raw[0] < 128:
        if len(raw) < 2:
            raise ProtocolError("SS58 address too short")
        lower = ((raw[0] << 2) | (raw[1] >> 6)) & 0xFF
        prefix, n = lower | ((raw[1] & 0x3F) << 8), 2
    else:
        raise ProtocolError("reserved SS58 prefix byte")
    if len(raw) != n + 32 + 2:
        raise ProtocolError(f"SS58 address of {len(raw)} bytes")
    payload, check = raw[: n + 32], raw[n + 32:]
    if _checksum(payload) != check:
        raise ProtocolError("SS58 checksum mismatch")
    return prefix, payload[n:]


def parse_hotkey(address: str) -> bytes:
    prefix, public = ss58_decode(address)
    if prefix != HOTKEY_PREFIX:
        raise ProtocolError(f"SS58 prefix {prefix}, expected {HOTKEY_PREFIX}")
    return public
