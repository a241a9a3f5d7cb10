"""Build answers.jsonl from the hand-written batches in src/ (standard library only, deterministic).

Source line format (src/<intent>.txt):  qkey | text | hand tags | fields
  qkey    a key of src/questions.tsv, or a pool: @yn (yes/no offers and requests), @id (identity
          checks), @cb (offers and "is now a good time" questions, none about a date or time), @any
          (all questions except identity checks and number prompts). The question of a pooled line is
          picked by the SHA-256 of its text, so it never changes when other lines are added.
  tags    comma-separated hand tags (see HAND_TAGS); derived tags are added here.
  fields  d=<digits> (digits lines) and/or c=<YYYY-MM-DDTHH:MM> (callback_at, local time).

Run: python3 build.py   (writes answers.jsonl next to this file)
"""

import hashlib
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
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
    "dialect",
    "elderly",
    "slang",
    "impatient",
}
POOLS = {
    "@yn": ("yn",),
    "@id": ("id",),
    "@cb": ("yn", "now"),
    "@any": ("yn", "yn_c", "yn_t", "now"),
}

# Derived tags: computed from the text so they are always consistent with it.
TIME_RE = re.compile(
    r"今天|明天|明儿|明早|后天|昨天|昨晚|上午|下午|中午|晚上|夜里|早上|傍晚|周[一二三四五六日末]|"
    r"星期|礼拜|下周|这周|[0-9零一二两三四五六七八九十]+点|小时|分钟|一个钟|[0-9一二三四五六七八九十]+号(?!码)|"
    r"月底|下班|去年|今年|[0-9零一二三四五六七八九十几]+年"
)
NUMBER_RE = re.compile(r"[0-9零〇幺两二三四五六七八九十百千洞]")
NEGATION_RE = re.compile(r"不|没|别|甭|莫|勿|唔|冇")
CONTENT_RE = re.compile(r"[\w\u4e00-\u9fff]")


def record_id(text: str) -> str:
    return "z" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def load_questions() -> dict[str, tuple[str, str]]:
    questions = {}
    for line in (SRC / "questions.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, kind, text = line.split("\t")
        if key in questions:
            raise SystemExit(f"duplicate question key {key}")
        questions[key] = (kind, text)
    return questions


def pick_question(qkey: str, text: str, questions: dict[str, tuple[str, str]]) -> str:
    if qkey in questions:
        return questions[qkey][1]
    if qkey not in POOLS:
        raise SystemExit(f"unknown question key {qkey!r} for {text!r}")
    pool = sorted(k for k, (kind, _) in questions.items() if kind in POOLS[qkey])
    index = int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % len(pool)
    return questions[pool[index]][1]


def derived_tags(text: str, callback_at: str | None, digits: str | None) -> set[str]:
    tags = set()
    chars = CONTENT_RE.findall(text)
    if len(chars) <= 3:
        tags.add("short")
    if len(chars) >= 25:
        tags.add("ramble")
    if callback_at or TIME_RE.search(text):
        tags.add("time")
    if digits or NUMBER_RE.search(text):
        tags.add("number")
    if NEGATION_RE.search(text):
        tags.add("negation")
    # recogniser output with one character per word (vosk's small Chinese model)
    if re.search(r"(?:^|\s)\S\s\S\s\S(?:\s|$)", text):
        tags.add("spaced")
    return tags


def parse_line(intent: str, line: str, questions: dict[str, tuple[str, str]]) -> dict:
    parts = [p.strip() for p in line.split("|")]
    if len(parts) != 4:
        raise SystemExit(f"{intent}: bad line {line!r}")
    qkey, text, tag_field, field_field = parts
    hand = {t.strip() for t in tag_field.split(",") if t.strip()}
    bad = hand - HAND_TAGS
    if bad:
        raise SystemExit(f"{intent}: unknown tags {bad} in {line!r}")
    fields = dict(f.split("=", 1) for f in field_field.split() if f)
    digits = fields.pop("d", None)
    callback_at = fields.pop("c", None)
    if fields:
        raise SystemExit(f"{intent}: unknown fields {fields} in {line!r}")
    rec = {
        "id": record_id(text),
        "question": pick_question(qkey, text, questions),
        "text": text,
        "intent": intent,
        "tags": sorted(hand | derived_tags(text, callback_at, digits)),
        "split": "test",
    }
    if digits is not None:
        rec["digits"] = digits
    if callback_at is not None:
        rec["callback_at"] = callback_at
    return rec


def build() -> list[dict]:
    questions = load_questions()
    records = {}
    for intent in INTENTS:
        for line in (SRC / f"{intent}.txt").read_text(encoding="utf-8").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            rec = parse_line(intent, line, questions)
            if rec["id"] in records:
                raise SystemExit(f"duplicate text (or id collision): {rec['text']!r}")
            records[rec["id"]] = rec
    return [records[k] for k in sorted(records)]


def main() -> None:
    records = build()
    out = HERE / "answers.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} lines to {out.name}")


if __name__ == "__main__":
    main()
