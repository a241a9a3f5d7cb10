#!/usr/bin/env python3
"""Build answers.jsonl from src/: label-neutral ids, a seeded intent-stratified 40/60 dev/test split.

Usage: python3 build.py   (re-running gives the same file). See PROTOCOL.md.
"""

import collections
import hashlib
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEV_FRACTION = 0.40
SEED = 13


def main() -> None:
    questions = dict(
        line.split("\t", 1) for line in (ROOT / "src" / "questions.tsv").read_text().splitlines() if line.strip()
    )
    records = []
    # answers.txt is split 40/60; dev_extra.txt (written later, to tune on) is always dev.
    sources = [(name, line) for name in ("answers.txt", "dev_extra.txt") for line in (ROOT / "src" / name).read_text().splitlines()]
    for source, line in sources:
        if not line.strip() or line.startswith("#"):
            continue
        qkey, text, intent, *extra = line.split("|")
        record = {"id": "z" + hashlib.sha256(text.encode()).hexdigest()[:8], "question": questions[qkey]}
        record["source"] = source
        record.update(text=text, intent=intent)
        for field in extra:
            key, value = field.split("=", 1)
            record[{"d": "digits", "t": "time_phrase", "c": "callback_at"}[key]] = value
        records.append(record)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)), "duplicate answer text"
    by_intent = collections.defaultdict(list)
    for record in records:
        if record["source"] == "answers.txt":
            by_intent[record["intent"]].append(record["id"])
    always_dev = {r["id"] for r in records if r["source"] == "dev_extra.txt"}
    rng = random.Random(SEED)
    dev = set()
    for intent in sorted(by_intent):
        group = sorted(by_intent[intent])
        rng.shuffle(group)
        dev.update(group[: round(len(group) * DEV_FRACTION)])
    records.sort(key=lambda r: r["id"])
    with (ROOT / "answers.jsonl").open("w") as handle:
        for record in records:
            record["split"] = "dev" if record["id"] in dev | always_dev else "test"
            del record["source"]
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    counts = collections.Counter((r["split"]) for r in records)
    print(f"{len(records)} answers: dev={counts['dev']} test={counts['test']}")


if __name__ == "__main__":
    main()
