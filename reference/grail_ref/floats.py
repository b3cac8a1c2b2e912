"""IEEE-754 helpers: f32 rounding and bit patterns, binary16 packing (spec sections 1, 6, 7)."""

import math
import struct

HALF_MAX = 65504.0


def f32(x: float) -> float:
    """Round a number to the nearest f32 and return it as a Python float (f64)."""
    return struct.unpack("<f", struct.pack("<f", float(x)))[0]


def f32_bits(x: float) -> int:
    """The f32 bit pattern (u32) of x rounded to f32."""
    return struct.unpack("<I", struct.pack("<f", float(x)))[0]


def half_bits(x: float) -> int:
    """binary16 bits of x clamped to [-65504, 65504], rounded ties-to-even directly from the f64."""
    if math.isnan(x):
        raise ValueError("half of NaN")
    x = min(max(x, -HALF_MAX), HALF_MAX)
    return struct.unpack("<H", struct.pack("<e", x))[0]


def half_to_f64(bits: int) -> float:
    """The f64 value of a binary16 bit pattern (NaN/inf bits give NaN/inf)."""
    return struct.unpack("<e", struct.pack("<H", bits))[0]
