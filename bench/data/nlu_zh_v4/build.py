#!/usr/bin/env python3
"""Assemble src/questions.tsv + src/<intent>.txt into answers.jsonl (standard library, deterministic).

Answer line format (src/<intent>.txt), fields separated by "|" (spaces around it are ignored; texts never contain "|"):
    qkey | text | tags | extras
  qkey   a key of src/questions.tsv, or a pool:  @  = a yes/no offer or request (kinds offer, offert),
         @c = an offer that names no date/time, or an "is now a good time" question (kinds offer, conv),
         @i = an identity check, @n = a number prompt. The pool draw is seeded by the text (sha1), so it is fixed.
  text   the answer as a recogniser would return it
  tags   optional, comma separated hand tags
  extras optional, ";" separated: d=<digits>  t=<time_phrase, exact substring>  c=<callback_at, YYYY-MM-DDTHH:MM>
Lines starting with # and blank lines are ignored.
"""
import hashlib, json, random, re, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
INTENTS = ["affirm", "deny", "opt_out", "callback_request", "wrong_person",
           "ask_repeat", "question", "digits", "unknown"]
HAND_TAGS = {"hedge", "filler", "other_language", "noise", "polite", "idiom", "sarcasm",
             "mixed", "asr_error", "dialect", "elderly"}
NUM_RE = re.compile(r"\d|[零〇两三四五六七八九十百千万幺]|[一二][零〇一二两三四五六七八九十百千万号位分期楼岁年块元天周月]")
NEG_RE = re.compile(r"不|没|别|莫|唔|甭|冇|无|未|勿|no\b|not\b|don't", re.I)
NEG_STRIP = re.compile(r"不好意思|对不起|了不起|不客气|不用谢")


def load_questions():
    qs = {}
    for line in (HERE / "src" / "questions.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, kind, text = line.split("\t")
        qs[key] = (kind, text)
    return qs


def pick(pool_key, text, qs):
    kinds = {"@": {"offer", "offert"}, "@c": {"offer", "conv"}, "@i": {"id"}, "@n": {"num"}}[pool_key]
    keys = sorted(k for k, (kind, _) in qs.items() if kind in kinds)
    seed = int(hashlib.sha1(("q:" + text).encode("utf-8")).hexdigest(), 16)
    return keys[random.Random(seed).randrange(len(keys))]


def build():
    qs = load_questions()
    recs, errors = {}, []
    for intent in INTENTS:
        path = HERE / "src" / f"{intent}.txt"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = [p.strip() for p in line.split("|")]
            parts += [""] * (4 - len(parts))
            qkey, text, tags, extras = parts[:4]
            where = f"{path.name}:{n}"
            if qkey.startswith("@"):
                qkey = pick(qkey, text, qs)
            if qkey not in qs:
                errors.append(f"{where}: unknown question {qkey}")
                continue
            tagset = {t.strip() for t in tags.split(",") if t.strip()}
            bad = tagset - HAND_TAGS
            if bad:
                errors.append(f"{where}: bad tags {bad}")
            rec = {"id": "u" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8],
                   "question": qs[qkey][1], "text": text, "intent": intent}
            for ex in [e.strip() for e in extras.split(";") if e.strip()]:
                k, _, v = ex.partition("=")
                if k == "d":
                    rec["digits"] = v
                elif k == "t":
                    rec["time_phrase"] = v
                elif k == "c":
                    rec["callback_at"] = v
                else:
                    errors.append(f"{where}: bad extra {ex}")
            bare = text.replace(" ", "")
            if len(bare) <= 3:
                tagset.add("short")
            if len(bare) >= 30:
                tagset.add("ramble")
            if "time_phrase" in rec:
                tagset.add("time")
            if intent == "digits" or NUM_RE.search(bare):
                tagset.add("number")
            if NEG_RE.search(NEG_STRIP.sub("", text)):
                tagset.add("negation")
            rec["tags"] = sorted(tagset)
            rec["split"] = "test"
            order = ["id", "question", "text", "intent", "tags", "split", "digits", "time_phrase", "callback_at"]
            rec = {k: rec[k] for k in order if k in rec}
            if text in recs:
                errors.append(f"{where}: duplicate text {text}")
                continue
            recs[text] = rec
    ids = [r["id"] for r in recs.values()]
    if len(ids) != len(set(ids)):
        errors.append("id collision")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    out = sorted(recs.values(), key=lambda r: r["id"])
    with open(HERE / "answers.jsonl", "w", encoding="utf-8") as f:
        for r in out:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(out)} lines to answers.jsonl")


if __name__ == "__main__":
    build()
