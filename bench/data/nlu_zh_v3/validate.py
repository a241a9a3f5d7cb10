"""Check answers.jsonl line by line and print the counts per intent and tag (standard library only).

Run: python3 validate.py   (exit status 1 if any line is wrong; near-duplicates are warnings)
"""

import difflib
import hashlib
import json
import re
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
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
TAGS = {
    "hedge", "filler", "other_language", "noise", "polite", "idiom", "sarcasm", "mixed",
    "asr_error", "dialect", "elderly", "slang", "impatient",
    "short", "ramble", "time", "number", "negation", "spaced",
}  # fmt: skip
REQUIRED = ("id", "question", "text", "intent", "tags", "split")
OPTIONAL = ("digits", "callback_at")
SHANGHAI = timezone(timedelta(hours=8))  # Asia/Shanghai has no daylight saving
NOW = datetime(2026, 3, 4, 10, 0, tzinfo=SHANGHAI)  # the call is made Wednesday 2026-03-04 10:00
CALLBACK_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")


def check(lines: list[str]) -> tuple[list[dict], list[str]]:
    errors = []
    records = []
    seen_text = set()
    prev_id = ""
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"line {n}: not JSON ({exc})")
            continue
        where = f"line {n} ({rec.get('id')})"
        keys = set(rec)
        missing = [k for k in REQUIRED if k not in rec]
        extra = keys - set(REQUIRED) - set(OPTIONAL)
        if missing or extra:
            errors.append(f"{where}: missing {missing} / unexpected {sorted(extra)}")
            continue
        text = rec["text"]
        if not isinstance(text, str) or not text.strip() or text != text.strip():
            errors.append(f"{where}: empty or untrimmed text")
        if not rec["question"].strip():
            errors.append(f"{where}: empty question")
        want_id = "z" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        if rec["id"] != want_id:
            errors.append(f"{where}: id should be {want_id}")
        if rec["id"] <= prev_id:
            errors.append(f"{where}: not sorted by id / duplicate id")
        prev_id = rec["id"]
        if text in seen_text:
            errors.append(f"{where}: duplicate text")
        seen_text.add(text)
        if rec["intent"] not in INTENTS:
            errors.append(f"{where}: unknown intent {rec['intent']!r}")
        if rec["split"] != "test":
            errors.append(f"{where}: split must be 'test'")
        tags = rec["tags"]
        if not isinstance(tags, list) or tags != sorted(set(tags)) or set(tags) - TAGS:
            errors.append(f"{where}: tags not a sorted list of known tags: {tags}")
        if "|" in text or "\t" in text:
            errors.append(f"{where}: separator character in text")
        # digits: present exactly on digits lines, digits only
        if rec["intent"] == "digits":
            if not re.fullmatch(r"\d+", str(rec.get("digits", ""))):
                errors.append(f"{where}: digits line without a digit string")
        elif "digits" in rec:
            errors.append(f"{where}: digits field on a {rec['intent']} line")
        # callback_at: only on callback_request, a local time after the call and within two weeks
        if "callback_at" in rec:
            value = rec["callback_at"]
            if rec["intent"] != "callback_request":
                errors.append(f"{where}: callback_at on a {rec['intent']} line")
            if not CALLBACK_RE.match(value):
                errors.append(f"{where}: callback_at {value!r} is not YYYY-MM-DDTHH:MM")
            else:
                when = datetime.fromisoformat(value).replace(tzinfo=SHANGHAI)
                if not NOW < when <= NOW + timedelta(days=14):
                    errors.append(f"{where}: callback_at {value} not within two weeks after now")
        if "other_language" in tags and rec["intent"] != "unknown":
            errors.append(f"{where}: other-language-only answers are unknown")
        records.append(rec)
    return records, errors


def near_duplicates(records: list[dict], threshold: float = 0.85) -> list[str]:
    texts = [r["text"].replace(" ", "") for r in records]
    found = []
    for i, a in enumerate(texts):
        for j in range(i + 1, len(texts)):
            b = texts[j]
            if abs(len(a) - len(b)) > 4:
                continue
            ratio = difflib.SequenceMatcher(None, a, b).ratio()
            if ratio >= threshold:
                found.append(f"{ratio:.2f}  {records[i]['text']!r} ~ {records[j]['text']!r}")
    return found


def main() -> int:
    lines = (HERE / "answers.jsonl").read_text(encoding="utf-8").splitlines()
    records, errors = check(lines)
    total = len(records)
    by_intent = Counter(r["intent"] for r in records)
    print(f"{total} lines")
    print(f"{'intent':<18}{'n':>5}{'%':>7}")
    for intent in INTENTS:
        print(f"{intent:<18}{by_intent[intent]:>5}{100 * by_intent[intent] / max(total, 1):>6.1f}%")
    print()
    print("tag" + " " * 13 + "total " + " ".join(f"{i[:6]:>6}" for i in INTENTS))
    tags = sorted({t for r in records for t in r["tags"]})
    for tag in tags:
        row = Counter(r["intent"] for r in records if tag in r["tags"])
        cells = " ".join(f"{row[i]:>6}" for i in INTENTS)
        print(f"{tag:<16}{sum(row.values()):>5} {cells}")
    print()
    print(f"digits lines: {sum('digits' in r for r in records)}; "
          f"callback_at lines: {sum('callback_at' in r for r in records)}; "
          f"distinct questions: {len({r['question'] for r in records})}")  # fmt: skip
    for warning in near_duplicates(records):
        print("warning: near-duplicate", warning)
    if by_intent["unknown"] < 0.10 * total:
        errors.append("unknown below 10 %")
    for e in errors:
        print("ERROR", e)
    print("OK" if not errors else f"{len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
