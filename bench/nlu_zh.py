"""Mandarin answer understanding on bench/data/nlu_zh (a language pack's held-out set; see its PROTOCOL.md).

    .venv/bin/python -m bench.nlu_zh run --split dev      # tune on this only
    .venv/bin/python -m bench.nlu_zh errors               # dev mistakes, for error analysis
    .venv/bin/python -m bench.nlu_zh run --split test     # once per language-pack change; logged
    .venv/bin/python -m bench.nlu_zh --set nlu_zh_v2 run --split test   # the independently written set

Metrics are bench.nlu's (the same `evaluate`): `accuracy` is the top label, `decision_accuracy` what the robot
does (an answer not acted on counts as unknown), plus digits exactness and callback-time resolution against the
fixed call time of the protocol (Wednesday 2026-03-04 10:00 Asia/Shanghai).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import zoneinfo
from pathlib import Path

from bench.nlu import evaluate

SETS = Path(__file__).resolve().parent / "data"
DATA = SETS / "nlu_zh"  # --set nlu_zh_v2: the set another author wrote (test only; its PROTOCOL.md)
RESULTS = DATA / "results"
LANGUAGE = "zh-CN"
NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))


def load(split: str) -> list[dict]:
    rows = [json.loads(line) for line in (DATA / "answers.jsonl").read_text().splitlines() if line.strip()]
    return [row for row in rows if row["split"] == split]


def decide(text: str) -> dict:
    """What the conversation does with the answer: act, confirm an opt-out, or re-ask."""
    from pipeline import nlp

    intent = nlp.classify(text, NOW, language=LANGUAGE)
    acted = intent.name != nlp.UNKNOWN and intent.confidence >= nlp.MIN_CONFIDENCE
    confirm = not (acted and intent.name == "opt_out") and nlp.opt_out_probability(intent) >= nlp.OPT_OUT_CONFIRM
    if confirm:
        acted = False
    label = {"label": intent.name, "action": "act" if acted else "re-ask", "confirm": confirm, "p": intent.confidence}
    return {**label, "slots": intent.slots}


def slot_scores(rows: list[dict]) -> dict:
    from pipeline import nlp

    digits = [r for r in rows if "digits" in r]
    times = [r for r in rows if "callback_at" in r]
    digits_ok = sum(nlp.classify(r["text"], NOW, language=LANGUAGE).slots.get("digits") == r["digits"] for r in digits)
    times_ok = 0
    for row in times:
        got = nlp.pack(LANGUAGE).resolve_callback_time(nlp.clean(row["text"], nlp.pack(LANGUAGE)), NOW)
        times_ok += bool(got) and got.strftime("%Y-%m-%dT%H:%M") == row["callback_at"][:16]
    return {"digits_exact": f"{digits_ok}/{len(digits)}", "callback_time_exact": f"{times_ok}/{len(times)}"}


def version() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "pipeline/nlp.py", "pipeline/languages", "pipeline/embeddings.py"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head + ("+uncommitted" if dirty else "")


def run(args) -> None:
    rows = load(args.split)
    result = {
        "split": args.split,
        "lines": len(rows),
        "version": version(),
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": ".venv/bin/python -m bench.nlu_zh " + shlex.join(sys.argv[1:]),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "result": evaluate(rows, decide),
        "slots": slot_scores(rows),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.split}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    r = result["result"]
    line = (
        f"{args.split}: accuracy {r['accuracy']:.3f} decision {r['decision_accuracy']:.3f} "
        f"wrong action {r['wrong_action']:.3f} re-asked {r['reasked']:.3f} opt-out recall {r['opt_out_recall']:.3f} "
        f"caught {r['opt_out_caught']:.3f} digits {result['slots']['digits_exact']} "
        f"callback times {result['slots']['callback_time_exact']}"
    )
    if args.split == "test":
        with (RESULTS / "test-runs.log").open("a") as log:
            log.write(f"{result['when']} version {result['version']}: {line}\n")
    print(line)


def errors(args) -> None:
    """Dev only: the mistakes, for error analysis (never the test split)."""
    for row in load("dev"):
        d = decide(row["text"])
        effective = d["label"] if d["action"] == "act" else "unknown"
        if d["label"] != row["intent"] or (args.all and effective != row["intent"]):
            print(f"{row['intent']:>16} -> {d['label']:<16} {d['p']:.2f} {d['action']:<6} {row['text']}")


def main() -> None:
    global DATA, RESULTS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", default="nlu_zh", choices=["nlu_zh", "nlu_zh_v2"], help="which evaluation set")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--split", choices=["dev", "test"], default="dev")
    p.set_defaults(func=run)
    p = sub.add_parser("errors")
    p.add_argument("--all", action="store_true", help="also the correct answers that were not acted on")
    p.set_defaults(func=errors)
    args = parser.parse_args()
    DATA = SETS / args.set
    RESULTS = DATA / "results"
    args.func(args)


if __name__ == "__main__":
    main()
