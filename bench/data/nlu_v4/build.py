#!/usr/bin/env python3
"""Build answers.jsonl from the hand-written sources in src/ (standard library only, deterministic).

src/questions.tsv : qkey <TAB> pool <TAB> question text
    pools: yn (yes/no question, names no date/time), ynt (yes/no question that names a date/time),
           yns (specific yes/no question, never drawn), now ("is now a good time", never drawn),
           id (identity check), num (number prompt), open (open question)
src/<intent>.txt  : qkey | text | tags | fields
    qkey   : a key from questions.tsv, or '*' = drawn with a seed derived from the text
             (callback_request: from pool yn only; wrong_person: from pool id; others: yn + ynt)
    tags   : comma-separated hand tags (may be empty)
    fields : ';'-separated  t=<time_phrase>  d=<digits>   (may be empty)
Lines starting with '#' and blank lines are ignored.
"""
import hashlib, json, os, random, re, sys

HERE = os.path.dirname(os.path.abspath(__file__))
INTENTS = ["affirm", "deny", "opt_out", "callback_request", "wrong_person",
           "ask_repeat", "question", "digits", "unknown"]
HAND_TAGS = {"hedge", "filler", "other_language", "noise", "polite", "idiom", "sarcasm",
             "mixed", "asr_error", "negation"}
DERIVED_TAGS = {"short", "ramble", "time", "number", "negation"}

NEG_RE = re.compile(r"\b(no|not|never|nah|nope|naw|nobody|nothing|none|neither|nor|nae|"
                    r"dont|cant|wont|isnt|aint|didnt|doesnt|wasnt|werent|havent|hasnt|"
                    r"shouldnt|wouldnt|couldnt|mustnt)\b|n't\b")
NUM_WORDS = ("zero|oh|nought|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
             "fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|"
             "seventy|eighty|ninety|hundred|thousand|double|triple|fife|niner|tree")
NUM_RE = re.compile(r"\d|\b(" + NUM_WORDS.replace("oh|", "") + r")\b")


def make_id(text):
    return "u" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]


def load_questions():
    qs = {}
    with open(os.path.join(HERE, "src", "questions.tsv"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            key, pool, text = line.split("\t")
            if key in qs:
                sys.exit(f"questions.tsv:{n}: duplicate key {key}")
            qs[key] = (pool, text)
    return qs


def derived(text, intent, time_phrase):
    words = text.split()
    tags = set()
    if len(words) <= 2:
        tags.add("short")
    if len(words) >= 25:
        tags.add("ramble")
    if time_phrase:
        tags.add("time")
    low = text.lower()
    if intent == "digits" or NUM_RE.search(low):
        tags.add("number")
    if NEG_RE.search(low):
        tags.add("negation")
    return tags


def build():
    qs = load_questions()
    pools = {}
    for k, (p, _) in sorted(qs.items()):
        pools.setdefault(p, []).append(k)
    records, seen = [], {}
    for intent in INTENTS:
        path = os.path.join(HERE, "src", intent + ".txt")
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip() or line.startswith("#"):
                    continue
                parts = [p.strip() for p in line.split("|")]
                while len(parts) < 4:
                    parts.append("")
                if len(parts) != 4:
                    sys.exit(f"{intent}.txt:{n}: expected 4 fields: {line}")
                qkey, text, tagstr, fieldstr = parts
                where = f"{intent}.txt:{n}"
                if not text:
                    sys.exit(f"{where}: empty text")
                if text in seen:
                    sys.exit(f"{where}: duplicate text (also {seen[text]}): {text}")
                seen[text] = where
                tags = {t.strip() for t in tagstr.split(",") if t.strip()}
                bad = tags - HAND_TAGS
                if bad:
                    sys.exit(f"{where}: unknown hand tag(s) {bad}")
                fields = {}
                for fld in [x.strip() for x in fieldstr.split(";") if x.strip()]:
                    k, _, v = fld.partition("=")
                    if k not in ("t", "d") or not v:
                        sys.exit(f"{where}: bad field {fld!r}")
                    fields[k] = v
                if qkey == "*":
                    if intent == "callback_request":
                        pool = pools["yn"]
                    elif intent == "wrong_person":
                        pool = pools["id"]
                    else:
                        pool = pools["yn"] + pools["ynt"]
                    seed = int(hashlib.sha1(("q:" + text).encode()).hexdigest()[:12], 16)
                    qkey = random.Random(seed).choice(pool)
                if qkey not in qs:
                    sys.exit(f"{where}: unknown question key {qkey}")
                tp = fields.get("t")
                if tp and tp not in text:
                    sys.exit(f"{where}: time_phrase {tp!r} not in text")
                dg = fields.get("d")
                if intent == "digits":
                    if not dg or not dg.isdigit():
                        sys.exit(f"{where}: digits line needs d=<digits>")
                elif dg:
                    sys.exit(f"{where}: d= only allowed on digits lines")
                tags |= derived(text, intent, tp)
                rec = {"id": make_id(text), "question": qs[qkey][1], "text": text,
                       "intent": intent, "tags": sorted(tags), "split": "test"}
                if dg:
                    rec["digits"] = dg
                if tp:
                    rec["time_phrase"] = tp
                records.append(rec)
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        sys.exit("id collision")
    records.sort(key=lambda r: r["id"])
    with open(os.path.join(HERE, "answers.jsonl"), "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} lines to answers.jsonl")


if __name__ == "__main__":
    build()
