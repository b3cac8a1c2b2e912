"""CIDv1, codec raw (0x55), sha2-256 multihash, printed in base32 lower (spec section 1)."""

import base64
import hashlib


def cid_bytes(data: bytes) -> bytes:
    return bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()


def cid_string(binary_cid: bytes) -> str:
    """Multibase 'b' (base32 lower, no padding) of the binary CID."""
    return "b" + base64.b32encode(binary_cid).decode("ascii").lower().rstrip("=")
