#!/usr/bin/env python3
"""Check answers.jsonl and print counts per intent and tag, plus a near-duplicate scan (difflib ratio >= 0.85)."""
import difflib, hashlib, json, re, sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
INTENTS = ["affirm", "deny", "opt_out", "callback_request", "wrong_person",
           "ask_repeat", "question", "digits", "unknown"]
HAND = {"hedge", "filler", "other_language", "noise", "polite", "idiom", "sarcasm",
        "mixed", "asr_error", "dialect", "elderly"}
DERIVED = {"short", "ramble", "time", "number", "negation"}
REQUIRED = ["id", "question", "text", "intent", "tags", "split"]
OPTIONAL = ["digits", "time_phrase", "callback_at"]
CALL_MADE = datetime(2026, 3, 4, 10, 0)


def main():
    errors, warnings = [], []
    recs = [json.loads(l) for l in (HERE / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    ids = [r.get("id") for r in recs]
    if ids != sorted(ids):
        errors.append("file not sorted by id")
    if len(set(ids)) != len(ids):
        errors.append("duplicate ids")
    texts = [r.get("text") for r in recs]
    if len(set(texts)) != len(texts):
        errors.append("duplicate texts")
    for r in recs:
        rid = r.get("id")
        for k in REQUIRED:
            if k not in r:
                errors.append(f"{rid}: missing {k}")
        for k in r:
            if k not in REQUIRED + OPTIONAL:
                errors.append(f"{rid}: unexpected field {k}")
        if list(r) != [k for k in REQUIRED + OPTIONAL if k in r]:
            errors.append(f"{rid}: field order")
        text = r["text"]
        if not re.fullmatch(r"u[0-9a-f]{8}", rid) or rid != "u" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]:
            errors.append(f"{rid}: id is not u + sha1(text)[:8]")
        if r["intent"] not in INTENTS:
            errors.append(f"{rid}: bad intent {r['intent']}")
        if r["split"] != "test":
            errors.append(f"{rid}: split must be test")
        if not r["question"] or not text.strip() or text != text.strip():
            errors.append(f"{rid}: empty/unstripped question or text")
        tags = set(r["tags"])
        if tags - HAND - DERIVED:
            errors.append(f"{rid}: unknown tags {tags - HAND - DERIVED}")
        if r["tags"] != sorted(tags):
            errors.append(f"{rid}: tags not sorted/unique")
        bare = text.replace(" ", "")
        if ("short" in tags) != (len(bare) <= 3):
            errors.append(f"{rid}: short tag inconsistent")
        if ("ramble" in tags) != (len(bare) >= 30):
            errors.append(f"{rid}: ramble tag inconsistent")
        if ("time" in tags) != ("time_phrase" in r):
            errors.append(f"{rid}: time tag inconsistent")
        # digits
        if r["intent"] == "digits":
            if not re.fullmatch(r"\d+", r.get("digits", "")):
                errors.append(f"{rid}: digits line needs a digits string")
            if "number" not in tags:
                errors.append(f"{rid}: digits line without number tag")
        elif "digits" in r:
            errors.append(f"{rid}: digits field on a {r['intent']} line")
        # time
        if "time_phrase" in r and r["time_phrase"] not in text:
            errors.append(f"{rid}: time_phrase not a substring of text")
        if "callback_at" in r:
            if r["intent"] != "callback_request":
                errors.append(f"{rid}: callback_at on a {r['intent']} line")
            if "time_phrase" not in r:
                errors.append(f"{rid}: callback_at without time_phrase")
            try:
                t = datetime.strptime(r["callback_at"], "%Y-%m-%dT%H:%M")
                if t < CALL_MADE:
                    errors.append(f"{rid}: callback_at before the call")
            except ValueError:
                errors.append(f"{rid}: callback_at format {r['callback_at']}")
        elif r["intent"] == "callback_request" and "time_phrase" in r:
            errors.append(f"{rid}: callback time_phrase without callback_at")
    # counts
    by_intent = Counter(r["intent"] for r in recs)
    print(f"{len(recs)} lines; questions used: {len({r['question'] for r in recs})}")
    print("intent            count  digits  time  callback_at")
    for i in INTENTS:
        sub = [r for r in recs if r["intent"] == i]
        print(f"{i:17s} {len(sub):5d}  {sum('digits' in r for r in sub):6d}  {sum('time_phrase' in r for r in sub):4d}  "
              f"{sum('callback_at' in r for r in sub):11d}")
    tagm = defaultdict(Counter)
    for r in recs:
        for t in r["tags"]:
            tagm[t][r["intent"]] += 1
    print("\ntag             total  " + " ".join(f"{i[:6]:>6s}" for i in INTENTS))
    for t in sorted(tagm):
        print(f"{t:15s} {sum(tagm[t].values()):5d}  " + " ".join(f"{tagm[t][i]:6d}" for i in INTENTS))
    cb = [r for r in recs if r["intent"] == "callback_request" and "callback_at" not in r]
    warnings.append(f"{len(cb)} callback_request lines name no resolvable time (晚点/回头/等会儿/改天 …) and carry no callback_at")
    # near duplicates
    norm = [re.sub(r"\s+", "", r["text"]) for r in recs]
    pairs = []
    for a in range(len(norm)):
        sm = difflib.SequenceMatcher(None, norm[a], "", autojunk=False)
        for b in range(a + 1, len(norm)):
            sm.set_seq2(norm[b])
            if sm.real_quick_ratio() >= 0.85 and sm.quick_ratio() >= 0.85 and sm.ratio() >= 0.85:
                pairs.append((round(sm.ratio(), 2), recs[a], recs[b]))
    print(f"\nnear-duplicate pairs (difflib ratio >= 0.85): {len(pairs)}")
    for ratio, x, y in pairs:
        print(f"  {ratio}  [{x['intent']}] {x['text']}  <->  [{y['intent']}] {y['text']}")
    for w in warnings:
        print("warning:", w)
    if errors:
        print("\nERRORS:\n" + "\n".join(errors))
        sys.exit(1)
    print("\nOK")


if __name__ == "__main__":
    main()
