"""Reads an export of `grail-validator export` independently of the Rust code: the Parquet file
with pyarrow, the JSON Lines file with the standard library's json module. Prints one JSON
object: for each file, the row count, the schema (Parquet: Arrow field names, types and
nullability; JSONL: each line's sorted keys, which must be the same on every line) and every
row's identity, completion tokens and logprobs, for the caller to check against the window
files.

usage: export_check.py ROWS.parquet ROWS.jsonl
"""

import json
import sys

import pyarrow.parquet as pq


def identity(row):
    return [row["window"], row["hotkey"], row["problem_index"], row["rollout_index"]]


def parquet(path):
    table = pq.read_table(path)
    schema = [[f.name, str(f.type), f.nullable] for f in table.schema]
    rows = table.to_pylist()
    return {
        "rows": table.num_rows,
        "schema": schema,
        "row_groups": pq.ParquetFile(path).metadata.num_row_groups,
        "rollouts": [
            [identity(r), r["completion_tokens"], r["logprobs"], r["checked"]] for r in rows
        ],
    }


def jsonl(path):
    keys = None
    rollouts = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            row = json.loads(line)
            these = sorted(row)
            if keys is not None and these != keys:
                sys.exit(f"{path}:{n}: keys {these} differ from line 1's {keys}")
            keys = these
            rollouts.append([identity(row), row["completion_tokens"], row["logprobs"], row["checked"]])
    return {"rows": len(rollouts), "keys": keys or [], "rollouts": rollouts}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(json.dumps({"parquet": parquet(sys.argv[1]), "jsonl": jsonl(sys.argv[2])}))
