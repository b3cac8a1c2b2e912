"""CIDv1, codec raw (0x55), sha2-256 multihash, printed in base32 lower (spec section 1)."""

import base64
import hashlib


def cid_bytes(data: bytes) -> bytes:
    return bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()


def cid_string(binary_cid: bytes) -> str:
    """Multibase 'b' (base32 lower, no padding) of the binary CID."""
    return "b" + base64.b32encode(binary_cid).decode("ascii").lower().rstrip("=")


def cid_from_string(text: str) -> bytes:
    """The binary CID of its multibase 'b' text; raises ValueError on anything else."""
    if not text.startswith("b"):
        raise ValueError(f"{text!r} is not base32 lower multibase")
    body = text[1:].upper()
    return base64.b32decode(body + "=" * (-len(body) % 8))
