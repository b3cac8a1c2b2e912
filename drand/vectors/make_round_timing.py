#!/usr/bin/env python3
"""Writes round_timing.json: drand round arithmetic computed independently of the Rust code.

round_at(t) = floor((t - genesis) / period) + 1           (t >= genesis; earlier: error)
time_of(r)  = genesis + (r - 1) * period                   (r >= 1)
first_round_at_or_after(t) = ceil((t - genesis) / period) + 1, and 1 for t <= genesis
Run from this folder: python3 make_round_timing.py
"""
import json

CHAINS = {"quicknet": (1692803367, 3), "mainnet": (1595431050, 30)}

cases = []
for name, (g, p) in CHAINS.items():
    for t in [g - 1, g, g + 1, g + p - 1, g + p, g + p + 1, g + 1000 * p, g + 1000 * p + 1, 1_750_000_000]:
        case = {"chain": name, "time": t}
        if t >= g:
            case["round_at"] = (t - g) // p + 1
        else:
            case["round_at"] = None
        case["first_round_at_or_after"] = 1 if t <= g else -(-(t - g) // p) + 1
        cases.append(case)
    for r in [1, 2, 1000, 12_345_678]:
        cases.append({"chain": name, "round": r, "time_of": g + (r - 1) * p})

with open("round_timing.json", "w") as f:
    json.dump({"_about": "drand round timing (round_at, time_of, first_round_at_or_after; formulas in make_round_timing.py), computed independently of the Rust code", "cases": cases}, f, indent=1)
    f.write("\n")
