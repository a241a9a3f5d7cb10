"""The Mandarin generalisation check: tune on one half of the questions, read the other half's figure.

From 2026-11-30 evening, nlu_zh and nlu_zh_v2 are development data (the test is nlu_zh_v3, which the pack's
author never reads). To see whether a change generalises, nlu_zh_v2 is split by *question* (a hash of the robot
question's text, so every answer to one question lands in the same half): tune on nlu_zh (all of it) plus half
"tune" of nlu_zh_v2, and read half "check" only as a figure, never its lines.

    .venv/bin/python -m bench.nlu_zh_halves run              # figures: nlu_zh, v2 tune half, v2 check half
    .venv/bin/python -m bench.nlu_zh_halves errors           # the mistakes on the tuning data only
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from bench.nlu import evaluate
from bench.nlu_zh import decide, print_errors, slot_scores, summary

DATA = Path(__file__).resolve().parent / "data"


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name / "answers.jsonl").read_text().splitlines() if line.strip()]


def half(row: dict) -> str:
    return "tune" if hashlib.sha1(row["question"].encode(), usedforsecurity=False).digest()[0] % 2 == 0 else "check"


def sets() -> dict[str, list[dict]]:
    v2 = _rows("nlu_zh_v2")
    return {
        "nlu_zh": _rows("nlu_zh"),
        "v2 tune": [r for r in v2 if half(r) == "tune"],
        "v2 check": [r for r in v2 if half(r) == "check"],
    }


def run(_args) -> None:
    for name, rows in sets().items():
        print(f"{name:>9} ({len(rows)}): {summary(evaluate(rows, decide), slot_scores(rows))}")


def errors(args) -> None:
    """The tuning data's mistakes (never the check half)."""
    chosen = sets()
    for name in ("nlu_zh", "v2 tune"):
        print_errors(chosen[name], args.all)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run").set_defaults(func=run)
    p = sub.add_parser("errors")
    p.add_argument("--all", action="store_true", help="also the correct answers that were not acted on")
    p.set_defaults(func=errors)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
