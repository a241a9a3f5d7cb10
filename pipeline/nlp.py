"""Offline intent detection for short phone answers: keyword rules first, fuzzy example matching second.

Order of decision: opt-out rules (always win: a callee who asks to stop is never kept on the list), spoken
digits (an answer made mostly of numbers), the campaign's own intents when one of their example phrases is in
the answer, the remaining rules (ordered by what must win when an answer carries several: "no, call me back"
is a callback request, not a plain no), and last fuzzy matching against every example phrase, which absorbs
small ASR errors. DTMF keys are classified by `classify_dtmf`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

UNKNOWN = "unknown"
DIGITS = "digits"
MIN_CONFIDENCE = 0.35  # below this an intent is not acted on: the robot re-asks, then ends as `unclear`

# (intent, patterns) in priority order. Patterns match whole words of the normalised text.
RULES: list[tuple[str, list[str]]] = [
    (
        "opt_out",
        [
            r"stop calling",
            r"remove me",
            r"take me off",
            r"do ?n[o']?t call",
            r"unsubscribe",
            r"opt(ing)? out",
            r"never call",
            r"(your|the) list",
        ],
    ),
    (
        "wrong_person",
        [
            r"wrong (number|person)",
            r"no one (here )?(by|with) that name",
            r"(doesn't|does not) live here",
            r"you have the wrong",
            r"not (him|her|me)",
            r"who is this for",
        ],
    ),
    (
        "callback_request",
        [
            r"call (me )?back",
            r"call (me )?later",
            r"another time",
            r"not a good time",
            r"(busy|driving) (right )?now",
            r"call again",
        ],
    ),
    (
        "ask_repeat",
        [
            r"repeat",
            r"say (that|it) again",
            r"pardon",
            r"what did you say",
            r"(didn't|did not) (catch|hear)",
            r"come again",
        ],
    ),
    # Acceptances that start with "no" must win over the bare "no" of deny.
    ("affirm", [r"no problem", r"no worries", r"no doubt"]),
    (
        "deny",
        [
            r"no",
            r"nope",
            r"can't",
            r"cannot",
            r"can not",
            r"won't",
            r"will not",
            r"not going",
            r"unable",
            r"don't think so",
            r"not interested",
        ],
    ),
    (
        "question",
        [
            r"^(what|when|where|who|why|how|which|whose)",
            r"^(can|could|may|should|do|does|is|are|will|would|am) (i|we|you|it|there|my|this|that|the)",
        ],
    ),
    (
        "affirm",
        [
            r"yes",
            r"yeah",
            r"yep",
            r"yup",
            r"sure",
            r"of course",
            r"i will",
            r"i'll be there",
            r"that works",
            r"correct",
            r"okay",
            r"ok",
            r"absolutely",
            r"definitely",
            r"sounds good",
            r"fine",
        ],
    ),
]
_COMPILED = [(intent, [re.compile(rf"\b{p}\b") for p in patterns]) for intent, patterns in RULES]

EXAMPLES: dict[str, list[str]] = {
    "affirm": ["yes i will be there", "yes that works for me", "sure i can come", "yes please"],
    "deny": ["no i can't make it", "no thank you", "i won't be able to come"],
    "callback_request": ["please call me back tomorrow", "call me later please", "can you call back later"],
    "opt_out": ["stop calling me", "remove me from your list", "do not call me again"],
    "wrong_person": ["you have the wrong number", "wrong person", "there is nobody here by that name"],
    "ask_repeat": ["could you repeat that", "sorry what did you say", "say that again please"],
}
BUILTIN_INTENTS = frozenset({*(name for name, _ in RULES), DIGITS, UNKNOWN})
FUZZY_THRESHOLD = 0.72


@dataclass(frozen=True)
class Intent:
    name: str
    confidence: float
    slots: dict = field(default_factory=dict)


def normalise(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def classify(
    text: str,
    now_local: dt.datetime | None = None,
    asr_confidence: float = 1.0,
    intents: dict[str, list[str]] | None = None,
) -> Intent:
    """Classify one callee utterance.

    `now_local` (the callee's local time) resolves callback times; `intents` are the campaign's own intents
    with example phrases (a built-in name there adds examples to that intent).
    """
    norm = normalise(text)
    if not norm:
        return Intent(UNKNOWN, 0.0)
    custom = {name: [normalise(e) for e in examples] for name, examples in (intents or {}).items()}
    for intent, patterns in _COMPILED:
        if intent == "opt_out" and any(p.search(norm) for p in patterns):
            return Intent(intent, round(0.95 * asr_confidence, 3))
    digits = spoken_digits(norm)
    if digits:
        return Intent(DIGITS, round(0.95 * asr_confidence, 3), {"digits": digits, "source": "speech"})
    phrase = _custom_phrase(norm, custom)
    if phrase:
        return _with_slots(Intent(phrase, round(0.9 * asr_confidence, 3)), norm, now_local)
    for intent, patterns in _COMPILED:
        if any(p.search(norm) for p in patterns):
            return _with_slots(Intent(intent, round(0.95 * asr_confidence, 3)), norm, now_local)
    best, score = UNKNOWN, 0.0
    examples_by_intent = {name: list(examples) for name, examples in EXAMPLES.items()}
    for name, examples in custom.items():
        examples_by_intent.setdefault(name, []).extend(examples)
    for intent, examples in examples_by_intent.items():
        for example in examples:
            ratio = similarity(norm, example)
            if ratio > score:
                best, score = intent, ratio
    if score >= FUZZY_THRESHOLD:
        return _with_slots(Intent(best, round(score * asr_confidence, 3)), norm, now_local)
    return Intent(UNKNOWN, round(1 - score, 3))


def similarity(norm: str, example: str) -> float:
    """Character similarity of the answer to an example, or of the example to the best same-length stretch
    of a longer answer ("um well I'd like to reschedule please" still matches "like to reschedule")."""
    score = SequenceMatcher(None, norm, example).ratio()
    words, size = norm.split(), len(example.split())
    if len(words) > size + 1:
        for start in range(len(words) - size + 1):
            window = " ".join(words[start : start + size])
            score = max(score, 0.95 * SequenceMatcher(None, window, example).ratio())
    return score


def _custom_phrase(norm: str, custom: dict[str, list[str]]) -> str | None:
    """The campaign intent whose longest example phrase appears, as whole words, in the answer."""
    best, length = None, 0
    for name, examples in custom.items():
        for example in examples:
            if example and len(example) > length and re.search(rf"\b{re.escape(example)}\b", norm):
                best, length = name, len(example)
    return best


# --- digits: spoken numbers and the keypad -------------------------------------------------------------

_UNITS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
    "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}  # fmt: skip
_TENS = {"twenty": 2, "thirty": 3, "forty": 4, "fifty": 5, "sixty": 6, "seventy": 7, "eighty": 8, "ninety": 9}
_REPEATS = {"double": 2, "triple": 3}
# Words around a number that say nothing ("my number is ...", "it's ...").
_FILLER = {
    "my", "number", "is", "it", "it's", "its", "the", "code", "pin", "zip", "account", "and", "uh", "um", "er",
    "ah", "that's", "thats", "i", "think", "so", "please", "digits", "then", "dash",
}  # fmt: skip
# What ASR writes for a digit said in a row of digits ("for two seven one", "4 to 7"): digits only next to one.
_HOMOPHONES = {"for": "4", "to": "2", "too": "2", "won": "1", "ate": "8"}
DIGIT_SHARE = 0.6  # digits must make up this share of the words that are not filler


def spoken_digits(norm: str) -> str | None:
    """'one two three' / '1 2 3' / 'double five nine' / 'forty two' -> the digit string, else None.

    Only when numbers dominate the answer: 'I'll be there at two' is not a digits answer.
    """
    words = norm.split()
    for index, word in enumerate(words):
        if word in _HOMOPHONES:
            around = words[max(0, index - 1) : index] + words[index + 1 : index + 2]
            if any(w.isdigit() or w in _UNITS for w in around):
                words[index] = _HOMOPHONES[word]
    out: list[str] = []
    counted = content = 0
    repeat = 1
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word in _REPEATS:
            repeat, counted, content = _REPEATS[word], counted + 1, content + 1
            continue
        if word.isdigit():
            value = word
        elif word in _UNITS:
            value = _UNITS[word]
        elif word in _TEENS:
            value = _TEENS[word]
        elif word in _TENS:
            value = str(_TENS[word])
            if index < len(words) and words[index] in _UNITS and _UNITS[words[index]] != "0":
                value += _UNITS[words[index]]
                index += 1
            else:
                value += "0"
        else:
            content += word not in _FILLER
            repeat = 1
            continue
        out.append(value * repeat if len(value) == 1 else value)
        repeat = 1
        counted += 1
        content += 1
    if not out or counted / content < DIGIT_SHARE:
        return None
    return "".join(out)


def classify_dtmf(keys: str, mapping: dict[str, str] | None = None) -> Intent:
    """Keypad input: a key (or key string) the node maps to an intent, else the digits themselves."""
    keys = keys.rstrip("#")
    if mapping and keys in mapping:
        return Intent(mapping[keys], 1.0, {"dtmf": keys})
    if not keys:
        return Intent(UNKNOWN, 0.0)
    return Intent(DIGITS, 1.0, {"digits": keys, "source": "dtmf"})


_DAYPART_HOURS = {"morning": 9, "afternoon": 14, "evening": 18, "tonight": 19}
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def resolve_callback_time(norm: str, now_local: dt.datetime) -> dt.datetime | None:
    """A coarse reading of \"tomorrow afternoon\", \"on friday\", \"in two hours\", \"next week\"."""
    numbers = {"one": 1, "two": 2, "three": 3, "four": 4, "an": 1, "a": 1}
    match = re.search(r"\bin (\d+|one|two|three|four|an|a) hours?\b", norm)
    if match:
        value = match.group(1)
        hours = int(value) if value.isdigit() else numbers[value]
        # Add real hours in UTC: aware-datetime arithmetic in a zone is wall-clock and drifts across DST.
        later = now_local.astimezone(dt.UTC) + dt.timedelta(hours=hours)
        return later.astimezone(now_local.tzinfo).replace(second=0, microsecond=0)
    day = None
    if "tomorrow" in norm:
        day = now_local.date() + dt.timedelta(days=1)
    elif "next week" in norm:
        day = now_local.date() + dt.timedelta(days=7 - now_local.weekday())
    else:
        for index, name in enumerate(_WEEKDAYS):
            if re.search(rf"\b{name}\b", norm):
                day = now_local.date() + dt.timedelta(days=(index - now_local.weekday() - 1) % 7 + 1)
                break
    hour = next((h for part, h in _DAYPART_HOURS.items() if part in norm), None)
    if day is None and hour is None:
        return None
    if day is None:
        day = now_local.date() if hour > now_local.hour else now_local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour or 10, 0), tzinfo=now_local.tzinfo)


def _with_slots(intent: Intent, norm: str, now_local: dt.datetime | None) -> Intent:
    if intent.name != "callback_request" or now_local is None:
        return intent
    when = resolve_callback_time(norm, now_local)
    return Intent(intent.name, intent.confidence, {"callback_at": when.isoformat()} if when else {})
