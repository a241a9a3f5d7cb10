#!/usr/bin/env python3
"""Validate answers.jsonl (standard library only). Exit code 1 on any error; warnings are listed."""
import collections, difflib, hashlib, json, os, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
from build import INTENTS, HAND_TAGS, DERIVED_TAGS, derived, make_id  # noqa: E402

ALL_TAGS = HAND_TAGS | DERIVED_TAGS
REQ = ["id", "question", "text", "intent", "tags", "split"]
OPT = ["digits", "time_phrase"]
TIME_HINT = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|"
                       r"tonight|today|morning|afternoon|evening|weekend|week|month|o'?clock|"
                       r"\d+ ?(am|pm)|half past|noon|midday|later)\b")


def main():
    errors, warns = [], []
    recs = []
    with open(os.path.join(HERE, "answers.jsonl"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                recs.append(json.loads(line))
            except ValueError as e:
                errors.append(f"line {n}: bad json {e}")
    ids, texts = set(), set()
    prev = ""
    for r in recs:
        rid = r.get("id", "?")
        keys = list(r.keys())
        if keys[:6] != REQ or any(k not in OPT for k in keys[6:]):
            errors.append(f"{rid}: fields {keys}")
        if rid in ids:
            errors.append(f"{rid}: duplicate id")
        ids.add(rid)
        if rid <= prev:
            errors.append(f"{rid}: not sorted by id")
        prev = rid
        t = r.get("text", "")
        if t in texts:
            errors.append(f"{rid}: duplicate text")
        texts.add(t)
        if rid != make_id(t):
            errors.append(f"{rid}: id is not the hash of the text")
        if r.get("split") != "test":
            errors.append(f"{rid}: split must be test")
        if r.get("intent") not in INTENTS:
            errors.append(f"{rid}: bad intent {r.get('intent')}")
        tags = r.get("tags", [])
        if tags != sorted(set(tags)) or set(tags) - ALL_TAGS:
            errors.append(f"{rid}: bad tags {tags}")
        exp = derived(t, r["intent"], r.get("time_phrase"))
        for d in DERIVED_TAGS - {"negation"}:
            if (d in exp) != (d in tags):
                errors.append(f"{rid}: derived tag {d} inconsistent")
        if "negation" in exp and "negation" not in tags:
            errors.append(f"{rid}: negation tag missing")
        if r["intent"] == "digits":
            if not str(r.get("digits", "")).isdigit():
                errors.append(f"{rid}: digits line without valid digits")
        elif "digits" in r:
            errors.append(f"{rid}: digits field on non-digits line")
        tp = r.get("time_phrase")
        if tp is not None and (not tp or tp not in t):
            errors.append(f"{rid}: time_phrase not a substring")
        if tp is None and TIME_HINT.search(t.lower()):
            warns.append(f"time word but no time_phrase (check): {rid} {t[:70]}")
        if not r.get("question"):
            errors.append(f"{rid}: empty question")
    # counts
    ic = collections.Counter(r["intent"] for r in recs)
    print(f"{len(recs)} lines, {len({r['question'] for r in recs})} distinct questions")
    print("\nper intent:")
    for i in INTENTS:
        print(f"  {i:17s} {ic[i]:5d}")
    print("\nper tag (total, then per intent in the order above):")
    print("  " + "tag".ljust(15) + "total " + " ".join(i[:6].rjust(6) for i in INTENTS))
    for tg in sorted(ALL_TAGS):
        row = [sum(1 for r in recs if tg in r["tags"] and r["intent"] == i) for i in INTENTS]
        print("  " + tg.ljust(15) + str(sum(row)).rjust(5) + " " + " ".join(str(x).rjust(6) for x in row))
    print(f"\nlines with time_phrase: {sum('time_phrase' in r for r in recs)}; "
          f"with digits: {sum('digits' in r for r in recs)}")
    # near duplicates
    norm = [(r["id"], r["intent"], re.sub(r"[^a-z0-9 ]", "", r["text"].lower())) for r in recs]
    pairs = []
    for a in range(len(norm)):
        sm = difflib.SequenceMatcher(None, "", norm[a][2], autojunk=False)
        for b in range(a + 1, len(norm)):
            sm.set_seq1(norm[b][2])
            if sm.real_quick_ratio() >= 0.8 and sm.quick_ratio() >= 0.8 and sm.ratio() >= 0.8:
                pairs.append((round(sm.ratio(), 2), norm[a], norm[b]))
    print(f"\nnear-duplicate pairs (difflib ratio >= 0.8): {len(pairs)}")
    for p, x, y in pairs:
        print(f"  {p} [{x[1]}] {x[2][:60]!r} ~ [{y[1]}] {y[2][:60]!r}")
    print(f"\nwarnings: {len(warns)}")
    for w in warns:
        print("  " + w)
    print(f"\nerrors: {len(errors)}")
    for e in errors:
        print("  " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
