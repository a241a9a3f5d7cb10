#!/usr/bin/env python3
"""Assemble src/<intent>.txt + src/questions.tsv -> answers.jsonl (standard library only).

Source line: qkey | text | hand tags (comma separated) | extras (d=DIGITS and/or c=YYYY-MM-DDTHH:MM)
"""
import hashlib, json, os, re, sys, difflib

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")
INTENTS = ["affirm", "deny", "opt_out", "callback_request", "wrong_person",
           "ask_repeat", "question", "digits", "unknown"]

TIME_RE = re.compile(r"今天|今晚|明天|明儿|明早|明晚|后天|上午|下午|晚上|中午|早上|后晌|后半晌|傍晚|"
                     r"周[一二三四五六日末]|星期|礼拜|下周|下个月|月底|[0-9一二两三四五六七八九十]+点|"
                     r"[0-9一二三四五六七八九十]+号|小时|钟头|分钟|半小时|晚点|晚些|晚一点|稍后|等会儿|"
                     r"等下|过会儿|锅会儿|回头|改天")
NEG_RE = re.compile(r"不|没|别|甭|勿|莫|冇|唔|无|no\b|not\b", re.I)
NUM_RE = re.compile(r"[0-9]|[零〇幺两二三四五六七八九十百千万]")


def qid(text):
    return "w" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def main():
    qs = {}
    for line in open(os.path.join(SRC, "questions.tsv"), encoding="utf-8"):
        if line.strip():
            k, q = line.rstrip("\n").split("\t")
            qs[k] = q
    recs = []
    for intent in INTENTS:
        for n, line in enumerate(open(os.path.join(SRC, intent + ".txt"), encoding="utf-8"), 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.rstrip("\n").split("|")]
            if len(parts) != 4:
                sys.exit(f"{intent}:{n}: expected 4 fields: {line!r}")
            k, text, tags, extra = parts
            if k not in qs:
                sys.exit(f"{intent}:{n}: unknown question key {k}")
            tags = {t.strip() for t in tags.split(",") if t.strip()}
            rec = {"id": qid(text), "question": qs[k], "text": text, "intent": intent}
            for e in extra.split():
                key, val = e.split("=", 1)
                if key == "d":
                    rec["digits"] = val
                elif key == "c":
                    rec["callback_at"] = val + "+08:00"
                else:
                    sys.exit(f"{intent}:{n}: bad extra {e}")
            # derived tags
            core = text.replace(" ", "")
            toks = text.split()
            if len(core) <= 3:
                tags.add("short")
            if len(core) >= 25:
                tags.add("ramble")
            if sum(1 for t in toks if len(t) == 1) >= 3:
                tags.add("spaced")
            if NEG_RE.search(text):
                tags.add("negation")
            if "digits" in rec or NUM_RE.search(re.sub(r"(周|星期|礼拜)[一二三四五六日天]", "", text)):
                tags.add("number")
            if "callback_at" in rec or TIME_RE.search(text):
                tags.add("time")
            if re.search(r"[A-Za-z]", text.replace("[", "")):
                if "other_language" not in tags:
                    tags.add("code_mix")
            rec["tags"] = sorted(tags)
            rec["split"] = "test"
            recs.append(rec)
    ids = [r["id"] for r in recs]
    if len(ids) != len(set(ids)):
        dup = {i for i in ids if ids.count(i) > 1}
        sys.exit(f"duplicate ids/texts: {[r['text'] for r in recs if r['id'] in dup]}")
    recs.sort(key=lambda r: r["id"])
    order = ["id", "question", "text", "intent", "tags", "split", "digits", "callback_at"]
    with open(os.path.join(HERE, "answers.jsonl"), "w", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps({k: r[k] for k in order if k in r}, ensure_ascii=False) + "\n")
    # near-duplicate scan
    texts = [r["text"].replace(" ", "") for r in recs]
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            ratio = difflib.SequenceMatcher(None, texts[i], texts[j]).ratio()
            if ratio >= 0.85:
                print(f"near-dup {ratio:.2f}: {recs[i]['text']!r} ({recs[i]['intent']}) ~ "
                      f"{recs[j]['text']!r} ({recs[j]['intent']})")
    print(f"wrote {len(recs)} lines")


if __name__ == "__main__":
    main()
