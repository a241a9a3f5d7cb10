#!/usr/bin/env python3
"""Check nlu_v2/answers.jsonl and print counts (standard library only).

Errors (exit 1): bad JSON, missing/unknown fields, unknown intent or tag, split != test,
duplicate id or text, id not the hash of the text, file not sorted by id, digits missing on a
digits line or present elsewhere or not only 0-9, time_phrase not a substring of the text,
derived tags (short/ramble/time/number) inconsistent with the text.
Warnings (listed, not errors): lines without time_phrase whose text contains a time-like word
(greetings, idioms and durations are left unmarked on purpose, see PROTOCOL.md §3.5).
"""
import collections, hashlib, json, os, re, sys

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "answers.jsonl")
INTENTS = ["affirm", "deny", "opt_out", "callback_request", "wrong_person",
           "ask_repeat", "question", "digits", "unknown"]
TAGS = {"hedge", "filler", "other_language", "noise", "polite", "idiom", "sarcasm", "mixed",
        "asr_error", "short", "ramble", "time", "number", "negation"}
REQUIRED = ["id", "question", "text", "intent", "tags", "split"]
OPTIONAL = ["digits", "time_phrase"]
TIMEWORD = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|"
                      r"tomorrow|tonight|morning|afternoon|evening|week|month|year|o'clock|"
                      r"january|february|march|april|may|june|july|august|september|october|"
                      r"november|december|christmas|weekend|lunch|noon|midnight)\b")

def main():
    errors, warnings = [], []
    seen_ids, seen_texts, ids = set(), set(), []
    by_intent = collections.Counter()
    by_tag = collections.defaultdict(collections.Counter)
    n_time = n_digits = 0
    with open(PATH, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        where = f"line {n}"
        try:
            r = json.loads(line)
        except ValueError as e:
            errors.append(f"{where}: bad JSON ({e})"); continue
        for k in REQUIRED:
            if k not in r:
                errors.append(f"{where}: missing field {k}")
        extra = set(r) - set(REQUIRED) - set(OPTIONAL)
        if extra:
            errors.append(f"{where}: unknown fields {sorted(extra)}")
        if any(k not in r for k in REQUIRED):
            continue
        text, intent = r["text"], r["intent"]
        where = f"line {n} ({r['id']})"
        for k in ("question", "text"):
            if not isinstance(r[k], str) or not r[k].strip():
                errors.append(f"{where}: empty {k}")
        if intent not in INTENTS:
            errors.append(f"{where}: unknown intent {intent!r}")
        if r["split"] != "test":
            errors.append(f"{where}: split must be 'test'")
        if r["id"] != "u" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]:
            errors.append(f"{where}: id is not the hash of the text")
        if r["id"] in seen_ids:
            errors.append(f"{where}: duplicate id")
        if text in seen_texts:
            errors.append(f"{where}: duplicate text")
        seen_ids.add(r["id"]); seen_texts.add(text); ids.append(r["id"])
        tags = r["tags"]
        if not isinstance(tags, list) or len(set(tags)) != len(tags):
            errors.append(f"{where}: tags must be a list without repeats")
            tags = []
        for t in tags:
            if t not in TAGS:
                errors.append(f"{where}: unknown tag {t!r}")
        if intent == "digits":
            d = r.get("digits")
            if not isinstance(d, str) or not re.fullmatch(r"[0-9]+", d):
                errors.append(f"{where}: digits line needs a digits string of 0-9, got {d!r}")
            else:
                n_digits += 1
            if "number" not in tags:
                errors.append(f"{where}: digits line without number tag")
        elif "digits" in r:
            errors.append(f"{where}: digits field on a {intent} line")
        tp = r.get("time_phrase")
        if tp is not None:
            n_time += 1
            if not isinstance(tp, str) or not tp or tp not in text:
                errors.append(f"{where}: time_phrase {tp!r} is not a substring of the text")
        elif TIMEWORD.search(text.lower()):
            warnings.append(f"{where}: time-like word but no time_phrase: {text!r}")
        if ("time" in tags) != (tp is not None):
            errors.append(f"{where}: tag 'time' must be set exactly when time_phrase is")
        nw = len(text.split())
        if ("short" in tags) != (nw <= 2):
            errors.append(f"{where}: tag 'short' inconsistent with {nw} words")
        if ("ramble" in tags) != (nw >= 25):
            errors.append(f"{where}: tag 'ramble' inconsistent with {nw} words")
        by_intent[intent] += 1
        for t in tags:
            by_tag[t][intent] += 1
    if ids != sorted(ids):
        errors.append("file is not sorted by id")

    total = sum(by_intent.values())
    print(f"{total} lines, {n_digits} with digits, {n_time} with time_phrase\n")
    print(f"{'intent':<18}{'count':>6}{'share':>8}")
    for i in INTENTS:
        print(f"{i:<18}{by_intent[i]:>6}{by_intent[i] / max(total, 1):>8.1%}")
    print()
    short = {"callback_request": "callback", "wrong_person": "wrong_p", "ask_repeat": "ask_rep"}
    print(f"{'tag':<15}{'all':>5}" + "".join(f"{short.get(i, i):>9}" for i in INTENTS))
    for t in sorted(by_tag):
        print(f"{t:<15}{sum(by_tag[t].values()):>5}" + "".join(f"{by_tag[t][i]:>9}" for i in INTENTS))
    if warnings:
        print(f"\n{len(warnings)} warning(s) (time-like words left unmarked on purpose?):")
        for w in warnings:
            print("  " + w)
    if errors:
        print(f"\n{len(errors)} ERROR(S):")
        for e in errors:
            print("  " + e)
        sys.exit(1)
    print("\nOK")

if __name__ == "__main__":
    main()
