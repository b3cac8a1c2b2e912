"""serde_json::to_string_pretty layout with ryu float formatting.

Objects: keys sorted, 2-space indent, `"key": value`; `[]`/`{}` when empty; strings escaped as
JSON with non-ASCII kept; ints as ints; bools; None as null; floats as ryu's format64.
"""

import json
import math


def format_f64(v: float) -> str:
    """ryu::Buffer::format_finite layout of an f64 (non-finite -> null, as serde_json writes it)."""
    if not math.isfinite(v):
        return "null"
    sign = "-" if math.copysign(1.0, v) < 0 else ""
    a = abs(v)
    if a == 0.0:
        return sign + "0.0"
    # Shortest round-trip digits, from repr; value = int(digits) * 10**k.
    mant, _, exp = repr(a).partition("e")
    whole, _, frac = mant.partition(".")
    digits = (whole + frac).lstrip("0")
    k = (int(exp) if exp else 0) - len(frac)
    while digits.endswith("0"):
        digits = digits[:-1]
        k += 1
    n = len(digits)
    kk = k + n  # 10**(kk-1) <= a < 10**kk
    if 0 <= k and kk <= 16:
        s = digits + "0" * (kk - n) + ".0"
    elif 0 < kk <= 16:
        s = digits[:kk] + "." + digits[kk:]
    elif -5 < kk <= 0:
        s = "0." + "0" * (-kk) + digits
    elif n == 1:
        s = f"{digits}e{kk - 1}"
    else:
        s = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return sign + s


def dumps(value) -> str:
    """The whole document, as serde_json::to_string_pretty(&doc) + "\\n"."""
    return "\n".join(lines(value)) + "\n"


def scalar(value) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_f64(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def lines(value, indent: int = 0) -> list:
    """The pretty lines of `value`, its first line without indentation, the rest indented."""
    pad = "  " * (indent + 1)
    end = "  " * indent
    if isinstance(value, dict):
        if not value:
            return ["{}"]
        out = ["{"]
        keys = sorted(value)
        for i, key in enumerate(keys):
            sub = lines(value[key], indent + 1)
            sub[0] = pad + json.dumps(key, ensure_ascii=False) + ": " + sub[0]
            if i + 1 < len(keys):
                sub[-1] += ","
            out.extend(sub)
        out.append(end + "}")
        return out
    if isinstance(value, list):
        if not value:
            return ["[]"]
        out = ["["]
        for i, item in enumerate(value):
            sub = lines(item, indent + 1)
            sub[0] = pad + sub[0]
            if i + 1 < len(value):
                sub[-1] += ","
            out.extend(sub)
        out.append(end + "]")
        return out
    return [scalar(value)]
