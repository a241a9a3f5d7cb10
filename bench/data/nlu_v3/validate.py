"""Check answers.jsonl (NLU set v3) and print counts per intent and tag. Standard library only."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections import Counter
from pathlib import Path

PATH = Path(__file__).resolve().parent / "answers.jsonl"
INTENTS = [
    "affirm",
    "deny",
    "opt_out",
    "callback_request",
    "wrong_person",
    "ask_repeat",
    "question",
    "digits",
    "unknown",
]
TAGS = [
    "asr_error",
    "filler",
    "hedge",
    "idiom",
    "mixed",
    "negation",
    "noise",
    "number",
    "other_language",
    "polite",
    "ramble",
    "sarcasm",
    "short",
    "time",
]
REQUIRED = ["id", "question", "text", "intent", "tags", "split"]
OPTIONAL = ["digits", "time_phrase"]
# Words that often name a time; a line with one and no time_phrase is listed as a warning.
TIMEISH = re.compile(
    r"\b(today|tomorrow|tonight|yesterday|monday|tuesday|wednesday|thursday|friday|saturday"
    r"|sunday|morning|afternoon|evening|weekend|later|week|month|year|o.clock)\b|\d\s*(am|pm)\b"
)


def main() -> int:
    errors: list[str] = []
    warnings: list[str] = []
    ids: set[str] = set()
    texts: set[str] = set()
    prev = ""
    by_intent: Counter[str] = Counter()
    by_tag: Counter[str] = Counter()
    tag_intent: Counter[tuple[str, str]] = Counter()
    n = 0
    for n, raw in enumerate(PATH.read_text("utf-8").splitlines(), 1):
        rec = json.loads(raw)
        where = f"line {n}"
        keys = list(rec)
        if keys[:6] != REQUIRED or set(keys[6:]) - set(OPTIONAL):
            errors.append(f"{where}: bad fields {keys}")
            continue
        text, intent = rec["text"], rec["intent"]
        if not isinstance(text, str) or not text.strip() or not rec["question"].strip():
            errors.append(f"{where}: empty text or question")
        want = "x" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        if rec["id"] != want:
            errors.append(f"{where}: id {rec['id']} != {want}")
        if rec["id"] <= prev:
            errors.append(f"{where}: not sorted by id")
        prev = rec["id"]
        if rec["id"] in ids:
            errors.append(f"{where}: duplicate id")
        if text in texts:
            errors.append(f"{where}: duplicate text")
        ids.add(rec["id"])
        texts.add(text)
        if intent not in INTENTS:
            errors.append(f"{where}: unknown intent {intent}")
        if rec["split"] != "test":
            errors.append(f"{where}: split must be test")
        tags = rec["tags"]
        if tags != sorted(set(tags)) or set(tags) - set(TAGS):
            errors.append(f"{where}: bad tags {tags}")
        if (intent == "digits") != ("digits" in rec):
            errors.append(f"{where}: digits field must be present exactly on digits lines")
        if "digits" in rec and not re.fullmatch(r"\d+", rec["digits"]):
            errors.append(f"{where}: digits not numeric")
        tp = rec.get("time_phrase")
        if tp is not None and tp not in text:
            errors.append(f"{where}: time_phrase not a substring")
        if ("time" in tags) != (tp is not None):
            errors.append(f"{where}: tag time disagrees with time_phrase")
        if tp is None and TIMEISH.search(text.lower()):
            warnings.append(f"{where}: time word but no time_phrase: {text!r}")
        by_intent[intent] += 1
        for t in tags:
            by_tag[t] += 1
            tag_intent[(t, intent)] += 1
    for w in warnings:
        print("warning:", w)
    for e in errors:
        print("ERROR:", e)
    print(f"\n{n} records")
    print(f"{'intent':18}{'count':>7}{'share':>8}")
    for i in INTENTS:
        print(f"{i:18}{by_intent[i]:>7}{by_intent[i] / max(n, 1):>8.1%}")
    print(f"\n{'tag':16}{'all':>5} " + " ".join(f"{i[:6]:>6}" for i in INTENTS))
    for t in TAGS:
        row = " ".join(f"{tag_intent[(t, i)]:>6}" for i in INTENTS)
        print(f"{t:16}{by_tag[t]:>5} {row}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
