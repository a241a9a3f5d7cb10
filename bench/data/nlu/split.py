#!/usr/bin/env python3
"""Assign each record of answers_raw.jsonl to 'dev' (~40 %) or 'test' (~60 %),
stratified by intent, with a fixed seed; write answers.jsonl (same order, plus "split").

Usage: python3 split.py [--seed N]   (default seed 13). Re-running gives the same split.
"""

import argparse
import collections
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEV_FRACTION = 0.40


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args()
    recs = [json.loads(line) for line in (ROOT / "answers_raw.jsonl").read_text().splitlines() if line.strip()]
    by_intent = collections.defaultdict(list)
    for r in recs:
        by_intent[r["intent"]].append(r["id"])
    rng = random.Random(args.seed)
    dev = set()
    for intent in sorted(by_intent):
        ids = sorted(by_intent[intent])
        rng.shuffle(ids)
        dev.update(ids[: round(len(ids) * DEV_FRACTION)])
    with open(ROOT / "answers.jsonl", "w") as f:
        for r in recs:
            r["split"] = "dev" if r["id"] in dev else "test"
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    c = collections.Counter(r["split"] for r in recs)
    print(f"dev={c['dev']} test={c['test']} (seed {args.seed})")


if __name__ == "__main__":
    main()
