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
import sys
import zoneinfo

from bench.nlu_sets import (
    EvalSet,
    add_set_argument,
    command,
    evaluate,
    loadavg,
    log_test_run,
    now_utc,
    version,
    write_result,
)
from bench.nlu_sets import decide as decide_in

LANGUAGE = "zh-CN"
NOW = dt.datetime(2026, 3, 4, 10, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))


def decide(text: str) -> dict:
    """What the conversation does with the answer: act, confirm an opt-out, or re-ask."""
    return decide_in(text, NOW, LANGUAGE)


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


def summary(r: dict, slots: dict) -> str:
    """One line of figures: `evaluate`'s result and `slot_scores`'."""
    return (
        f"accuracy {r['accuracy']:.3f} decision {r['decision_accuracy']:.3f} wrong action {r['wrong_action']:.3f} "
        f"re-asked {r['reasked']:.3f} opt-out recall {r['opt_out_recall']:.3f} caught {r['opt_out_caught']:.3f} "
        f"digits {slots['digits_exact']} callback times {slots['callback_time_exact']}"
    )


def run(args) -> None:
    data: EvalSet = args.set
    rows = data.load(args.split)
    result = {
        "split": args.split,
        "lines": len(rows),
        "version": version(),
        "when": now_utc(),
        "command": command("bench.nlu_zh"),
        "loadavg": loadavg().split(),
        "result": evaluate(rows, decide),
        "slots": slot_scores(rows),
    }
    write_result(data, args.split, result)
    line = f"{args.split}: {summary(result['result'], result['slots'])}"
    if args.split == "test":
        log_test_run(data, f"{result['when']} version {result['version']}: {line}")
    print(line)


def errors(args) -> None:
    """Dev only: the mistakes, for error analysis (never the test split)."""
    data: EvalSet = args.set
    if data.name != "nlu_zh":
        sys.exit(f"errors lists lines: {data.name} is held out")
    print_errors(data.load("dev"), args.all)


def print_errors(rows: list[dict], all_answers: bool) -> None:
    """Each answer labelled wrongly (and with `all_answers`, each right one not acted on), one line each."""
    for row in rows:
        d = decide(row["text"])
        effective = d["label"] if d["action"] == "act" else "unknown"
        if d["label"] != row["intent"] or (all_answers and effective != row["intent"]):
            print(f"{row['intent']:>16} -> {d['label']:<16} {d['p']:.2f} {d['action']:<6} {row['text']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_set_argument(parser, "nlu_zh")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--split", choices=["dev", "test"], default="dev")
    p.set_defaults(func=run)
    p = sub.add_parser("errors")
    p.add_argument("--all", action="store_true", help="also the correct answers that were not acted on")
    p.set_defaults(func=errors)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
