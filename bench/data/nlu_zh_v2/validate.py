#!/usr/bin/env python3
"""Check answers.jsonl of the nlu_zh_v2 set and print its counts (standard library only)."""
import collections, datetime, hashlib, json, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
INTENTS = ["affirm", "deny", "opt_out", "callback_request", "wrong_person",
           "ask_repeat", "question", "digits", "unknown"]
TAGS = {"hedge", "filler", "other_language", "noise", "polite", "idiom", "sarcasm", "mixed",
        "asr_error", "short", "ramble", "time", "number", "negation",
        "angry", "regional", "elderly", "slang", "code_mix", "self_correction", "spaced",
        "negation_trap"}
REQUIRED = ["id", "question", "text", "intent", "tags", "split"]
OPTIONAL = ["digits", "callback_at"]
CALL_TIME = datetime.datetime(2026, 3, 4, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
CB_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}\+08:00$")


def main(path=os.path.join(HERE, "answers.jsonl")):
    errors = []
    recs = []
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        try:
            r = json.loads(line)
        except ValueError as e:
            errors.append(f"line {n}: bad JSON: {e}")
            continue
        recs.append((n, r))
        for k in REQUIRED:
            if k not in r:
                errors.append(f"line {n}: missing field {k}")
        for k in r:
            if k not in REQUIRED + OPTIONAL:
                errors.append(f"line {n}: unexpected field {k}")
        if not isinstance(r.get("text"), str) or not r.get("text", "").strip():
            errors.append(f"line {n}: empty text")
        if not isinstance(r.get("question"), str) or not r.get("question", "").strip():
            errors.append(f"line {n}: empty question")
        if r.get("intent") not in INTENTS:
            errors.append(f"line {n}: unknown intent {r.get('intent')!r}")
        if r.get("split") != "test":
            errors.append(f"line {n}: split must be 'test', got {r.get('split')!r}")
        tags = r.get("tags")
        if not isinstance(tags, list) or any(t not in TAGS for t in tags) or len(set(tags)) != len(tags or []):
            errors.append(f"line {n}: bad tags {tags!r}")
        if isinstance(r.get("text"), str):
            want = "w" + hashlib.sha1(r["text"].encode("utf-8")).hexdigest()[:8]
            if r.get("id") != want:
                errors.append(f"line {n}: id {r.get('id')} is not the hash of the text ({want})")
        if r.get("intent") == "digits":
            if not re.fullmatch(r"\d+", str(r.get("digits", ""))) or not isinstance(r.get("digits"), str):
                errors.append(f"line {n}: digits line needs a digits string, got {r.get('digits')!r}")
        elif "digits" in r:
            errors.append(f"line {n}: digits field on a {r.get('intent')} line")
        if "callback_at" in r:
            cb = r["callback_at"]
            if r.get("intent") != "callback_request":
                errors.append(f"line {n}: callback_at on a {r.get('intent')} line")
            if not isinstance(cb, str) or not CB_RE.match(cb):
                errors.append(f"line {n}: callback_at {cb!r} not YYYY-MM-DDTHH:MM+08:00")
            else:
                try:
                    t = datetime.datetime.fromisoformat(cb)
                    if t < CALL_TIME:
                        errors.append(f"line {n}: callback_at {cb} is before the call")
                except ValueError:
                    errors.append(f"line {n}: callback_at {cb!r} is not a real time")
            if "time" not in (tags or []):
                errors.append(f"line {n}: callback_at line lacks tag 'time'")
    ids = [r.get("id") for _, r in recs]
    for i, c in collections.Counter(ids).items():
        if c > 1:
            errors.append(f"duplicate id {i} ({c}x)")
    texts = collections.Counter(r.get("text") for _, r in recs)
    for t, c in texts.items():
        if c > 1:
            errors.append(f"duplicate text {t!r}")
    if ids != sorted(ids):
        errors.append("file is not sorted by id")

    by_intent = collections.Counter(r.get("intent") for _, r in recs)
    for need in ("opt_out", "unknown"):
        if by_intent[need] < 50:
            errors.append(f"{need} has {by_intent[need]} lines, need >= 50")
    questions = {r.get("question") for _, r in recs}
    if len(questions) < 30:
        errors.append(f"only {len(questions)} distinct questions, need >= 30")

    print(f"{len(recs)} lines, {len(questions)} distinct questions, "
          f"{sum('digits' in r for _, r in recs)} with digits, "
          f"{sum('callback_at' in r for _, r in recs)} with callback_at")
    print("\nper intent:")
    for it in INTENTS:
        print(f"  {it:17s} {by_intent[it]:4d}")
    print("\nper tag (total, then per intent in the order above):")
    tag_int = collections.defaultdict(collections.Counter)
    for _, r in recs:
        for t in r.get("tags") or []:
            tag_int[t][r.get("intent")] += 1
    print("  " + "tag".ljust(16) + "total " + " ".join(i[:6].rjust(6) for i in INTENTS))
    for t in sorted(tag_int):
        c = tag_int[t]
        print("  " + t.ljust(16) + str(sum(c.values())).rjust(5) + " " +
              " ".join(str(c[i]).rjust(6) for i in INTENTS))
    if errors:
        print(f"\n{len(errors)} ERRORS:")
        for e in errors:
            print("  " + e)
        sys.exit(1)
    print("\nOK")


if __name__ == "__main__":
    main(*sys.argv[1:])
