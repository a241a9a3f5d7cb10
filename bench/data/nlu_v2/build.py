#!/usr/bin/env python3
"""Assemble src/<intent>.txt + src/questions.tsv -> answers.jsonl (standard library only).

Source line format:  qkey | text | hand tags (comma separated) | t=<time_phrase>; d=<digits>
qkey is a key of src/questions.tsv, or a draw from a pool with a fixed seed:
  *   = generic pool: "offer" questions for affirm/deny/unknown, every yes/no question otherwise
  *cb = callback pool (questions that ask about no date or time)
  *id = identity-check questions
Derived tags (short, ramble, time, number, negation) are computed here.
"""
import hashlib, json, os, random, re

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")
INTENTS = ["affirm", "deny", "opt_out", "callback_request", "wrong_person",
           "ask_repeat", "question", "digits", "unknown"]
# questions on which a generic yes or no reads naturally (offers / proposals)
OFFER = ["vet_remind", "vet_food", "car_service", "car_recall", "lib_renew", "tax_appt",
         "air_rebook", "tel_upgrade", "tel_renew", "trial_invite", "charity_monthly",
         "exam_hear", "exam_resit", "gym_freeze", "boiler_check", "blood_donor",
         "optician", "permit_renew"]
NUMWORD = re.compile(r"\d|\b(zero|nought|two|three|four|five|six|seven|eight|nine|ten|eleven|"
                     r"twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|"
                     r"twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|"
                     r"double|triple)\b")
NEG = re.compile(r"\b(no|not|never|nobody|nothing|none|nah|nope|naw|nae|neither|nor|cannot|"
                 r"nein|nicht|non|nyet|não|nahi|dont|cant|wont|isnt|doesnt|didnt|wasnt|"
                 r"havent|hasnt|aint|couldnt|wouldnt|shouldnt)\b|n't\b")

def make_id(text):
    return "u" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]

def load_questions():
    qs, pools = {}, {"yn": [], "cb": [], "id": [], "num": []}
    for line in open(os.path.join(SRC, "questions.tsv"), encoding="utf-8"):
        if not line.strip() or line.startswith("#"):
            continue
        key, pl, q = line.rstrip("\n").split("\t")
        qs[key] = q
        for p in pl.split(","):
            pools[p].append(key)
    return qs, pools

def main():
    qs, pools = load_questions()
    rng = random.Random(2026)
    out = []
    for intent in INTENTS:
        for n, line in enumerate(open(os.path.join(SRC, intent + ".txt"), encoding="utf-8"), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.rstrip("\n").split("|")]
            assert len(parts) == 4, (intent, n, line)
            qkey, text, tags, extra = parts
            if qkey == "*":
                pool = OFFER if intent in ("affirm", "deny", "unknown") else pools["yn"]
                qkey = rng.choice(sorted(pool))
            elif qkey == "*cb":
                qkey = rng.choice(sorted(pools["cb"]))
            elif qkey == "*id":
                qkey = rng.choice(sorted(pools["id"]))
            assert qkey in qs, (intent, n, qkey)
            tagset = {t.strip() for t in tags.split(",") if t.strip()}
            rec = {"id": make_id(text), "question": qs[qkey], "text": text, "intent": intent}
            for kv in [x.strip() for x in extra.split(";") if x.strip()]:
                k, v = kv.split("=", 1)
                rec[{"t": "time_phrase", "d": "digits"}[k.strip()]] = v.strip()
            words = text.split()
            if len(words) <= 2: tagset.add("short")
            if len(words) >= 25: tagset.add("ramble")
            if "time_phrase" in rec: tagset.add("time")
            if intent == "digits" or NUMWORD.search(text.lower()): tagset.add("number")
            if NEG.search(text.lower()): tagset.add("negation")
            rec["tags"] = sorted(tagset)
            rec["split"] = "test"
            rec["qkey"] = qkey
            out.append(rec)
    out.sort(key=lambda r: r["id"])
    with open(os.path.join(HERE, "answers.jsonl"), "w", encoding="utf-8") as f:
        for r in out:
            r.pop("qkey")
            keys = ["id", "question", "text", "intent", "tags", "split", "digits", "time_phrase"]
            f.write(json.dumps({k: r[k] for k in keys if k in r}, ensure_ascii=False) + "\n")
    print(len(out), "lines written")

if __name__ == "__main__":
    main()
