"""What bench.nlu and bench.nlu_zh share: which evaluation set, its lines, the robot's decision, the metrics.

An evaluation set is a folder under bench/data holding `answers.jsonl` (one JSON object per line: `id`,
`question`, `text`, `intent`, `tags`, `split`, optional `digits` / `time_phrase` / `callback_at`); `--set <folder>`
picks any of them, so a set that lands later (`--set nlu_v3`) needs no code. A line without `split` is a test line.
The set travels through the arguments (`EvalSet`), never through module globals.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shlex
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SETS = Path(__file__).resolve().parent / "data"
INTENTS = ["affirm", "deny", "opt_out", "callback_request", "wrong_person", "ask_repeat", "question", "digits"]
LABELS = [*INTENTS, "unknown"]
# Sets whose lines may be read and tuned on (docs/NLU.md, protocol notes of 2026-11-30 and 2026-12-01): every split
# of these. Any other set is held out: `errors` refuses it and `run` prints aggregates only.
DEVELOPMENT = {"nlu", "nlu_v2", "nlu_v3", "nlu_zh", "nlu_zh_v2", "nlu_zh_v3"}
CLASSIFIER_FILES = ["pipeline/nlp.py", "pipeline/languages", "pipeline/embeddings.py"]


@dataclass(frozen=True)
class EvalSet:
    name: str
    folder: Path

    @property
    def results(self) -> Path:
        return self.folder / "results"

    @property
    def development(self) -> bool:
        return self.name in DEVELOPMENT

    def load(self, split: str, part: str = "") -> list[dict]:
        """The lines of one split ("all": every split); `part` "a"/"b" keeps one half (by a hash of the id),
        so a round of tuning can use one half and check the other."""
        rows = []
        with (self.folder / "answers.jsonl").open() as handle:
            for line in handle:
                if not line.strip():
                    continue
                row = json.loads(line)
                if split != "all" and row.get("split", "test") != split:
                    continue
                if part and half(row) != part:
                    continue
                rows.append(row)
        return rows


def half(row: dict) -> str:
    digest = hashlib.sha256(str(row.get("id") or row["text"]).encode()).digest()
    return "a" if digest[0] % 2 == 0 else "b"


def eval_set(name: str) -> EvalSet:
    """The set in bench/data/<name>; exits with the folders that exist when there is no such set."""
    folder = SETS / name
    if "/" in name or name.startswith(".") or not (folder / "answers.jsonl").is_file():
        found = sorted(p.parent.name for p in SETS.glob("*/answers.jsonl"))
        sys.exit(f"no evaluation set {name!r} (bench/data/<set>/answers.jsonl); sets here: {', '.join(found)}")
    return EvalSet(name, folder)


def add_set_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--set", default=default, type=eval_set, help="folder under bench/data (default %(default)s)")


def version() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", *CLASSIFIER_FILES], capture_output=True, text=True
    ).stdout.strip()
    return head + ("+uncommitted" if dirty else "")


def command(module: str) -> str:
    return f".venv/bin/python -m {module} " + shlex.join(sys.argv[1:])


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def decide(
    text: str, now: dt.datetime, language: str = "en", asr_confidence: float = 1.0, expected: list | None = None
) -> dict:
    """What the conversation does with an answer (pipeline.conversation.Conversation._classify): act, confirm a
    possible opt-out ("Would you like us to stop calling this number?"), or re-ask."""
    from pipeline import nlp

    intent = nlp.classify(text, now, asr_confidence, language=language)
    acted = nlp.acts(intent, language=language)
    confirm = not (acted and intent.name == "opt_out") and nlp.opt_out_probability(intent) >= nlp.OPT_OUT_CONFIRM
    acted = acted and not confirm
    return {
        "label": intent.name,
        "action": "act" if acted else "re-ask",
        "confirm": confirm,
        "p": intent.confidence,
        "slots": intent.slots,
    }


def evaluate(rows: list[dict], decide_one: Callable[[str], dict]) -> dict:
    """Label accuracy, what the robot does, wrong actions, opt-out safety, per intent, confusion matrix."""
    decisions = [decide_one(row["text"]) for row in rows]
    gold = [row["intent"] for row in rows]
    n = len(rows)
    label = [d["label"] for d in decisions]
    acted = [d["action"] == "act" for d in decisions]
    effective = [d["label"] if a else "unknown" for d, a in zip(decisions, acted, strict=True)]
    per_intent = {}
    for name in LABELS:
        tp = sum(p == name and g == name for p, g in zip(label, gold, strict=True))
        predicted = sum(p == name for p in label)
        actual = sum(g == name for g in gold)
        per_intent[name] = {"precision": _ratio(tp, predicted), "recall": _ratio(tp, actual), "n": actual}
    opt_gold = [g == "opt_out" for g in gold]
    opt_acted = [a and d["label"] == "opt_out" for d, a in zip(decisions, acted, strict=True)]
    opt_caught = [o or d["confirm"] for o, d in zip(opt_acted, decisions, strict=True)]
    confusion = Counter(zip(gold, label, strict=True))
    hits = sum(a and g for a, g in zip(opt_acted, opt_gold, strict=True))
    return {
        "n": n,
        "accuracy": sum(p == g for p, g in zip(label, gold, strict=True)) / n,
        "decision_accuracy": sum(p == g for p, g in zip(effective, gold, strict=True)) / n,
        "wrong_action": sum(a and d["label"] != g for d, a, g in zip(decisions, acted, gold, strict=True)) / n,
        "reasked": sum(not a and g != "unknown" for a, g in zip(acted, gold, strict=True)) / n,
        "opt_out_recall": _ratio(hits, sum(opt_gold)) or 0.0,
        "opt_out_precision": _ratio(hits, sum(opt_acted)),
        "opt_out_caught": _ratio(sum(c and g for c, g in zip(opt_caught, opt_gold, strict=True)), sum(opt_gold)) or 0.0,
        "confirmations": sum(d["confirm"] for d in decisions),
        "confirmations_not_opt_out": sum(d["confirm"] and not g for d, g in zip(decisions, opt_gold, strict=True)),
        "per_intent": per_intent,
        "confusion": {f"{g}>{p}": c for (g, p), c in sorted(confusion.items())},
    }


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def write_result(data: EvalSet, name: str, result: dict) -> None:
    data.results.mkdir(exist_ok=True)
    (data.results / f"{name}.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")


def log_test_run(data: EvalSet, line: str) -> None:
    """Every run of a held-out split leaves a line, so the number of looks per version can be counted."""
    data.results.mkdir(exist_ok=True)
    with (data.results / "test-runs.log").open("a") as log:
        log.write(line + "\n")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered))) - 1))]
