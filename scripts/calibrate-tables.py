#!/usr/bin/env python3
"""Renders the JSON of `grail-audit calibrate` as the Markdown tables of docs/SECURITY.md.

    grail-audit calibrate ... > cal.json
    scripts/calibrate-tables.py cal.json
"""
import json
import sys


def pct(x):
    return f"{100 * x:.2f}%"


def sci(x):
    return f"{x:.2e}"


def honest_table(d):
    t = d["tolerances"]
    out = [
        "| honest source | rollouts | positions | pipeline pass | hidden-state worst / τ | "
        "logprob worst median / max | logprob worst q95 / max | sampling worst miss / tol |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for h in d["honest"]:
        if "checks" not in h:
            out.append(f"| {h['source']} | – | – | {h.get('status', '')} | | | | |")
            continue
        c = h["checks"]
        hs, lp, sa = c["hidden_state"], c["logprob"], c["sampling"]
        out.append(
            f"| {h['source']} | {h['rollouts']} | {h['positions']} | {pct(h['pass_rate'])} "
            f"| {sci(hs['worst_distance'])} / {t['commit_tolerance']} ({hs['worst_over_tolerance']:.3f}) "
            f"| {sci(lp['worst_median'])} / {t['logprob_median_max']:g} "
            f"| {sci(lp['worst_quantile'])} / {t['logprob_quantile_max']:g} "
            f"| {sci(sa['worst_miss_distance'])} / {t['sampling_tolerance']:g} |"
        )
    return "\n".join(out)


def files(f):
    fl = f.get("files")
    if not fl:
        return "–"
    return (
        f"{fl['holding_a_forged_rollout_passed']} of {fl['holding_a_forged_rollout']} "
        f"(files of {fl['rollouts_per_file']}; all: {fl['passed']} of {fl['files']})"
    )


def forger_table(d):
    out = [
        "| forger | rollouts | hidden state: position / rollout | logprob: position / rollout | "
        "sampling: position / rollout | commit distance p10 / p50 | unchanged | **forged rollouts passed** | rollout pass (all) | files passed (with a forged rollout) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in d["forgers"]:
        c = f["checks"]
        q = f.get("commit_distance_quantiles", {})
        cells = " | ".join(
            f"{c[k]['position_pass_rate']:.4f} / {c[k]['rollout_pass_rate']:.4f}"
            for k in ("hidden_state", "logprob", "sampling")
        )
        out.append(
            f"| {f['name']} | {f['rollouts']} | {cells} | {q.get('p10', 0):.3g} / {q.get('p50', 0):.3g} "
            f"| {f['unchanged_rollouts']} | **{f['forged_rollouts_passed']} of {f['forged_rollouts']}** "
            f"| {pct(f['rollout_pass_rate'])} | {files(f)} |"
        )
    return "\n".join(out)


def summary(d):
    p, a, fb = d["params"], d["analytic_bound"], d["file_bound"]
    return (
        f"Counts: {p['rollouts']} honest rollouts ({p['groups']} groups, {p['completion_tokens']} "
        f"completion positions) on the standard path, {p.get('forger_rollouts', p['rollouts'])} of them "
        f"for every forger; the other honest sources "
        f"over the first {p['honest_source_rollouts']} rollouts ({p['honest_source_positions']} positions). "
        f"New tokens <= {p['new_tokens']}, temperature {p['temperature']:.2f}, threads {p['threads']}, "
        f"prefill batch {p['prefill_batch']}, D = {p['hidden_size']}, V = {p['vocab_size']}. "
        f"Shortest completion {p['shortest_completion']} token(s); {p['rollouts_shorter_than_k']} rollouts "
        f"shorter than K.\n\n"
        f"Analytic bound: measured max mass of a width-2τ interval per projection "
        f"{[round(x, 4) for x in a['measured_mass_per_projection']]} over {a['honest_positions']} positions; "
        f"with the margin {[round(x, 4) for x in a['upper_mass_per_projection']]}; per_projection_mass = "
        f"{a['per_projection_mass']:.4f}, k = {a['k']:g}, projections_used = {a['projections_used']}: "
        f"**analytic_forgery_bound_log2 = {d['analytic_forgery_bound_log2']:.1f}**; per file with every "
        f"checked rollout as short as the shortest ({fb['rollouts_checked']} × "
        f"min({fb['shortest_completion']}, {a['k']:g}) positions): "
        f"**file_forgery_bound_log2_shortest = {d['file_forgery_bound_log2_shortest']:.1f}**. "
        f"Max |correlation| between projections {a['max_abs_correlation']:.3f}, det R = "
        f"{a['correlation_determinant']:.3f}; the {a['projections']}-projection figure (Gaussian assumption) "
        f"is {a['all_projections_bound_log2']:.1f}."
    )


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: calibrate-tables.py CALIBRATE_JSON")
    d = json.load(open(sys.argv[1]))
    print(summary(d))
    print()
    print(honest_table(d))
    print()
    print(forger_table(d))


if __name__ == "__main__":
    main()
