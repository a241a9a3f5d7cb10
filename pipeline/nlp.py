"""Offline intent detection for short phone answers: keyword rules first, fuzzy example matching second.

Rules are ordered by what must win when an answer carries several (\"no, stop calling me\" is an opt-out,
not a plain no). Fuzzy matching against example phrases absorbs small ASR errors.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

UNKNOWN = "unknown"

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


def classify(text: str, now_local: dt.datetime | None = None, asr_confidence: float = 1.0) -> Intent:
    """Classify one callee utterance. `now_local` (the callee's local time) resolves callback times."""
    norm = normalise(text)
    if not norm:
        return Intent(UNKNOWN, 0.0)
    for intent, patterns in _COMPILED:
        if any(p.search(norm) for p in patterns):
            return _with_slots(Intent(intent, round(0.95 * asr_confidence, 3)), norm, now_local)
    best, score = UNKNOWN, 0.0
    for intent, examples in EXAMPLES.items():
        for example in examples:
            ratio = SequenceMatcher(None, norm, example).ratio()
            if ratio > score:
                best, score = intent, ratio
    if score >= FUZZY_THRESHOLD:
        return _with_slots(Intent(best, round(score * asr_confidence, 3)), norm, now_local)
    return Intent(UNKNOWN, round(1 - score, 3))


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
