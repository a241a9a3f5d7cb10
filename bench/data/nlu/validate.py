#!/usr/bin/env python3
"""Validate answers.jsonl (or a given file) and print counts.

Checks: valid JSON per line, required fields, intent in the list, tags in the list,
digits present (and only digits) for digits lines and absent otherwise, time_phrase is a
substring of text, 'time' tag <=> time_phrase, short/ramble consistent with word count,
no duplicate ids, no duplicate texts (case-insensitive, surrounding whitespace/punctuation
ignored), split in {dev,test} when present. Also warns about texts that contain a likely time
word but have no time_phrase (for manual review).
"""

import collections
import json
import re
import sys
from pathlib import Path

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
TAGS = {
    "negation",
    "hedge",
    "filler",
    "ramble",
    "time",
    "number",
    "other_language",
    "noise",
    "polite",
    "idiom",
    "sarcasm",
    "mixed",
    "short",
    "asr_error",
}
TIME_WORDS = re.compile(
    r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|"
    r"tonight|today|yesterday|morning|afternoon|evening|noon|o'clock|"
    r"next week|next month|weekend|minutes?|hours?|\d{1,2}(:\d\d)?\s*(am|pm))\b",
    re.I,
)


def norm(t):
    return re.sub(r"[^\w\s']", "", t.lower()).strip()


def main(path):
    errors, warnings = [], []
    recs = []
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {i}: invalid JSON ({e})")
            continue
        recs.append((i, r))
    seen_ids, seen_text = {}, {}
    for i, r in recs:
        for k in ("id", "question", "text", "intent", "tags"):
            if k not in r:
                errors.append(f"line {i}: missing {k}")
        if r.get("intent") not in INTENTS:
            errors.append(f"line {i}: bad intent {r.get('intent')}")
        bad = set(r.get("tags", [])) - TAGS
        if bad:
            errors.append(f"line {i}: bad tags {bad}")
        text = r.get("text", "")
        if not text.strip() or not r.get("question", "").strip():
            errors.append(f"line {i}: empty text/question")
        if r.get("intent") == "digits":
            d = r.get("digits")
            if not d or not re.fullmatch(r"\d+", d):
                errors.append(f"line {i}: digits line needs a digit string, got {d!r}")
        elif "digits" in r:
            errors.append(f"line {i}: digits field on non-digits line")
        tp = r.get("time_phrase")
        if tp is not None and (not tp or tp not in text):
            errors.append(f"line {i}: time_phrase {tp!r} not a substring of text")
        if ("time" in r.get("tags", [])) != (tp is not None):
            errors.append(f"line {i}: 'time' tag and time_phrase disagree")
        n = len(text.split())
        if ("short" in r["tags"]) != (n <= 2):
            errors.append(f"line {i}: short tag inconsistent with {n} words")
        if ("ramble" in r["tags"]) != (n >= 25):
            errors.append(f"line {i}: ramble tag inconsistent with {n} words")
        if "split" in r and r["split"] not in ("dev", "test"):
            errors.append(f"line {i}: bad split {r['split']}")
        if r.get("id") in seen_ids:
            errors.append(f"line {i}: duplicate id {r['id']}")
        seen_ids[r.get("id")] = i
        key = norm(text)
        if key in seen_text:
            errors.append(f"line {i}: duplicate text of line {seen_text[key]}: {text!r}")
        seen_text[key] = i
        if tp is None and TIME_WORDS.search(text):
            warnings.append(f"line {i}: [{r['intent']}] possible time word but no time_phrase: {text!r}")
    rs = [r for _, r in recs]
    print(f"records: {len(rs)}")
    print("per intent:", dict(collections.Counter(r["intent"] for r in rs)))
    print("per tag:", dict(sorted(collections.Counter(t for r in rs for t in r["tags"]).items())))
    if any("split" in r for r in rs):
        print("per split:", dict(collections.Counter(r.get("split") for r in rs)))
        tab = collections.Counter((r["intent"], r.get("split")) for r in rs)
        for it in INTENTS:
            print(f"  {it:17s} dev={tab[(it, 'dev')]:4d} test={tab[(it, 'test')]:4d}")
    print(f"with time_phrase: {sum('time_phrase' in r for r in rs)}")
    for w in warnings:
        print("WARN", w)
    for e in errors:
        print("ERROR", e)
    print("OK" if not errors else f"{len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent / "answers.jsonl"))
