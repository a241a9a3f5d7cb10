"""Assemble src/questions.tsv + src/<intent>.txt into answers.jsonl (test-only NLU set v3).

Standard library only and deterministic: the same sources always give the same bytes.
Source line format: ``qkey | text | hand tags | t=<time phrase>; d=<digits>``.
qkey ``*`` draws a yes/no question without a date or time (kinds ``yn``, ``yn_anon``),
``*anon`` one that does not say who is calling (kinds ``yn_anon``, ``anon``) and ``*id`` an
identity question, each by a hash of the text, so no random state is involved.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
OUT = HERE / "answers.jsonl"

INTENTS = (
    "affirm",
    "deny",
    "opt_out",
    "callback_request",
    "wrong_person",
    "ask_repeat",
    "question",
    "digits",
    "unknown",
)
DRAW = {"*": ("yn", "yn_anon"), "*anon": ("yn_anon", "anon"), "*id": ("id",)}
HAND_TAGS = {
    "hedge",
    "filler",
    "other_language",
    "noise",
    "polite",
    "idiom",
    "sarcasm",
    "mixed",
    "asr_error",
    "negation",  # only for markers the regex cannot see (other languages)
}
NEGATION = re.compile(
    r"\b(no|not|never|nobody|nothing|none|nowhere|neither|nor|nah|nope|naw|nae|cannot"
    r"|dont|cant|wont|isnt|doesnt|didnt|aint|havent|wasnt|wouldnt|couldnt|shouldnt)\b"
    r"|n't\b|n’t\b"
)
NUMBER = re.compile(
    r"\d|\b(zero|nought|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
    r"|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty"
    r"|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|double|triple)\b"
)


def text_id(text: str) -> str:
    return "x" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def load_questions() -> tuple[dict[str, str], dict[str, list[str]]]:
    questions: dict[str, str] = {}
    pools: dict[str, list[str]] = {}
    for n, raw in enumerate((SRC / "questions.tsv").read_text("utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        key, kind, text = raw.split("\t")
        if key in questions:
            sys.exit(f"questions.tsv:{n}: duplicate key {key}")
        questions[key] = text
        pools.setdefault(kind, []).append(key)
    return questions, pools


def derived_tags(text: str, intent: str, time_phrase: str | None) -> set[str]:
    low = text.lower()
    words = low.split()
    tags = set()
    if len(words) <= 2:
        tags.add("short")
    if len(words) >= 25:
        tags.add("ramble")
    if time_phrase:
        tags.add("time")
    if intent == "digits" or NUMBER.search(low):
        tags.add("number")
    if NEGATION.search(low):
        tags.add("negation")
    return tags


def parse_line(intent: str, n: int, raw: str, questions, pools) -> dict:
    parts = [p.strip() for p in raw.split("|")]
    if len(parts) != 4:
        sys.exit(f"{intent}.txt:{n}: expected 4 fields separated by '|': {raw!r}")
    qkey, text, tags_s, fields_s = parts
    where = f"{intent}.txt:{n}"
    if qkey in DRAW:
        pool = sorted(k for kind in DRAW[qkey] for k in pools[kind])
        qkey = pool[int(hashlib.sha256(text.encode()).hexdigest(), 16) % len(pool)]
    if qkey not in questions:
        sys.exit(f"{where}: unknown question key {qkey}")
    hand = set(tags_s.split())
    if hand - HAND_TAGS:
        sys.exit(f"{where}: unknown hand tags {sorted(hand - HAND_TAGS)}")
    fields = {}
    for item in filter(None, (f.strip() for f in fields_s.split(";"))):
        k, _, v = item.partition("=")
        if k not in ("t", "d") or not v.strip():
            sys.exit(f"{where}: bad field {item!r}")
        fields[k] = v.strip()
    t = fields.get("t")
    d = fields.get("d")
    if t is not None and t not in text:
        sys.exit(f"{where}: time phrase {t!r} not in text")
    if (intent == "digits") != (d is not None):
        sys.exit(f"{where}: digits field must be present exactly on digits lines")
    if d is not None and not d.isdigit():
        sys.exit(f"{where}: digits {d!r} not all digits")
    rec = {
        "id": text_id(text),
        "question": questions[qkey],
        "text": text,
        "intent": intent,
        "tags": sorted(hand | derived_tags(text, intent, t)),
        "split": "test",
    }
    if d is not None:
        rec["digits"] = d
    if t is not None:
        rec["time_phrase"] = t
    return rec


def main() -> None:
    questions, pools = load_questions()
    records = []
    for intent in INTENTS:
        lines = (SRC / f"{intent}.txt").read_text("utf-8").splitlines()
        for n, raw in enumerate(lines, 1):
            if raw.strip() and not raw.startswith("#"):
                records.append(parse_line(intent, n, raw, questions, pools))
    seen: dict[str, str] = {}
    for r in records:
        key = r["text"]
        if key in seen:
            sys.exit(f"duplicate text ({seen[key]} and {r['intent']}): {key!r}")
        seen[key] = r["intent"]
    if len({r["id"] for r in records}) != len(records):
        sys.exit("id collision: change one of the texts")
    records.sort(key=lambda r: r["id"])
    with OUT.open("w", encoding="utf-8", newline="\n") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} records to {OUT.name}")


if __name__ == "__main__":
    main()
