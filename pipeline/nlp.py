"""Offline intent detection for short phone answers: a few safe rules, then sentence embeddings.

`classify` decides in this order:
1. nothing left after noise tags ("[music]") and punctuation -> unknown;
2. explicit opt-out phrases ("stop calling", "take me off your list") -> opt_out (a callee who asks to stop is
   never kept on the list);
3. spoken digits (an answer made mostly of numbers; a barrage of more than MAX_SPOKEN_DIGITS is not acted on);
4. the campaign's own intent when one of its example phrases is in the answer word for word;
5. the semantic classifier: the answer's all-MiniLM-L6-v2 embedding (pipeline.embeddings) against every line
   of the example bank (pipeline.intent_examples, plus the campaign's examples): an intent's score is the
   mean cosine of its two nearest examples, the keyword rules below add RULE_BONUS to the intent they name,
   an affirmative answer that carries a negation ("absolutely not", "I can't") loses NEGATION_PENALTY, and a
   softmax with TEMPERATURE turns the scores into probabilities. The winner's probability, times the ASR
   confidence, is the confidence: at MIN_CONFIDENCE and above the robot acts on it, below it re-asks.
   A probable opt-out that is not acted on is confirmed by the conversation (see `opt_out_probability`).

`classify_rules` is the previous classifier (keyword rules, then fuzzy matching), kept for the benchmark and as
the fallback when the embedding model is not installed. DTMF keys are classified by `classify_dtmf`.
Thresholds and weights were tuned on the dev split of bench/data/nlu (docs/NLU.md).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import numpy as np

from pipeline.intents import BUILTIN_INTENTS, DIGITS, UNKNOWN

log = logging.getLogger(__name__)

MIN_CONFIDENCE = 0.8  # below this an intent is not acted on: the robot re-asks, then ends as `unclear`
OPT_OUT_CONFIRM = 0.2  # an opt-out this probable, not acted on, is confirmed ("stop calling this number?")
RULE_BONUS = 0.1  # added to the score of the intent a keyword rule names
CAMPAIGN_BONUS = 0.1  # added to a campaign's own intents: more specific than the built-in ones they overlap
NEGATION_PENALTY = 0.1  # taken from affirm when the answer carries a negation that is not a "yes" idiom
TEMPERATURE = 0.05  # softmax over the intents' scores (cosine similarities)
NEAREST_WEIGHTS = (0.5, 0.5)  # an intent's score: its closest examples' similarities, weighted
# The recogniser's confidence (whisper: exp of the mean token log-probability) scales the classifier's only below
# this: a clear transcript is taken at its word, a doubtful one lowers the confidence in proportion.
ASR_TRUSTED = 0.5
MAX_SPOKEN_DIGITS = 20  # a longer run of spoken digits is a barrage, not an answer: re-asked
MAX_CONFIDENCE = 0.99  # the classifier is never certain: a script's min_confidence of 0.999 always re-asks

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
# Explicit opt-out phrases, safer than the model: acted on at once (RULES' opt_out patterns and a few more).
_OPT_OUT_RULES = [
    *_COMPILED[0][1],
    *(
        re.compile(rf"\b{p}\b")
        for p in (
            r"stop (ringing|phoning|bothering)",
            r"quit (calling|ringing)",
            r"do not call list",
            r"don't call (me|this number|us)? ?(again|anymore|any more|ever)",
            r"(no|any) more (calls|phone calls)",
            r"delete my (number|details)",
            r"do not contact me",
            r"(don't|do not) (you )?(dare )?(call|ring|phone)( me| us)? (back|again)",
            r"if you (call|ring|phone)( me)? (again|one more time)",
            r"call(ing)? my (lawyer|attorney)",
            r"dnc",
            r"actually don't",
            # From the definition of an opt-out (docs/NLU.md): asking not to be called, removed, reported, sued,
            # and anger at being called again and again.
            r"(don't|do not|never) (ever )?(ring|phone|contact)",
            r"not (to )?(call|ring|phone) (me|us|this number) ?(anymore|any more|again|ever)",
            r"(sick|tired|fed up) (of|with) (these|your|the|all these|all your|you lot|you people)( \w+)? "
            r"(calls|phone calls|ringing|calling)",
            r"(report|reporting) (you|this|your company)",
            r"sue (you|your company)",
            r"harass(ment|ing)",
            r"(call|calling|get|contact|contacting) my (lawyer|attorney|solicitor)",
            r"my (lawyer|attorney|solicitor) will",
            r"(you|you people|you lot|y'all) keep (calling|ringing|phoning)",
            r"(remove|delete|erase) (my|this|our) (number|details|phone number)",
        )
    ),
]

FUZZY_EXAMPLES: dict[str, list[str]] = {  # the rules classifier's examples (the semantic bank: intent_examples)
    "affirm": ["yes i will be there", "yes that works for me", "sure i can come", "yes please"],
    "deny": ["no i can't make it", "no thank you", "i won't be able to come"],
    "callback_request": ["please call me back tomorrow", "call me later please", "can you call back later"],
    "opt_out": ["stop calling me", "remove me from your list", "do not call me again"],
    "wrong_person": ["you have the wrong number", "wrong person", "there is nobody here by that name"],
    "ask_repeat": ["could you repeat that", "sorry what did you say", "say that again please"],
}
assert {name for name, _ in RULES} | {DIGITS, UNKNOWN} == BUILTIN_INTENTS  # noqa: S101
FUZZY_THRESHOLD = 0.72
FUZZY_MAX_WORDS = 10  # the semantic classifier's letter-level bonus looks only at answers this short


@dataclass(frozen=True)
class Intent:
    name: str
    confidence: float
    slots: dict = field(default_factory=dict)
    # every intent's probability, when the semantic classifier decided (for the opt-out confirmation and reports)
    scores: dict = field(default_factory=dict, compare=False, repr=False)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    text = "".join(c for c in text if not unicodedata.combining(c))  # "sí" -> "si", "inglés" -> "ingles"
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


_NOISE_TAG = re.compile(
    r"\[[^\]]*\]|<[^>]*>"
)  # "[noise]", "[inaudible]", "<unk>": what recognisers write for non-speech
_NEGATION = re.compile(r"\b(no|not|never|nope|nah|naw|cannot|can't|cant|won't|wont|don't|dont|didn't|wouldn't|isn't)\b")
# Negations that mean yes: taken out before looking for a negation that turns an affirm into something else.
_YES_IDIOMS = re.compile(
    r"\b(no (problem|problems|worries|bother|doubt|reason not to)|why not|not a problem|can't complain|"
    r"(don't|do not) mind|(wouldn't|would not) miss|fool not to|not bad|why wouldn't i|no no that's fine)\b"
)


def clean(text: str) -> str:
    """The answer normalised, without the recogniser's noise tags."""
    return normalise(_NOISE_TAG.sub(" ", text))


def classify(
    text: str,
    now_local: dt.datetime | None = None,
    asr_confidence: float = 1.0,
    intents: dict[str, list[str]] | None = None,
) -> Intent:
    """Classify one callee utterance (the order of decision is in the module docstring).

    `now_local` (the callee's local time) resolves callback times; `intents` are the campaign's own intents
    with example phrases (a built-in name there adds examples to that intent). Never raises on odd input:
    empty text, noise, other languages, long monologues and digit barrages come back as `unknown` or with a
    confidence below MIN_CONFIDENCE.
    """
    heard = asr_confidence
    asr_confidence = min(1.0, asr_confidence / ASR_TRUSTED)
    norm = clean(text)
    if not norm:
        return Intent(UNKNOWN, 0.0)
    if any(p.search(norm) for p in _OPT_OUT_RULES):
        return Intent("opt_out", round(0.95 * asr_confidence, 3))
    digits = spoken_digits(norm)
    if digits:
        if len(digits) > MAX_SPOKEN_DIGITS:
            return Intent(UNKNOWN, 0.0, {"guess": DIGITS})
        return Intent(DIGITS, round(0.95 * asr_confidence, 3), {"digits": digits, "source": "speech"})
    custom = {name: [normalise(e) for e in examples] for name, examples in (intents or {}).items()}
    phrase = _custom_phrase(norm, custom)
    if phrase:
        return _with_slots(Intent(phrase, round(0.9 * asr_confidence, 3)), norm, now_local)
    try:
        bank = example_bank()
    except Exception:  # the model is not installed: the rules still answer (logged once)
        return classify_rules(text, now_local, heard, intents)
    probabilities = bank.probabilities(norm, custom, _rule_intent(norm, custom), _negated(norm))
    ranked = sorted(probabilities, key=probabilities.get, reverse=True)
    best = ranked[0]
    slots: dict = {}
    if best == DIGITS:
        found = spoken_digits(norm, share=0.0)
        if found and len(found) <= MAX_SPOKEN_DIGITS:
            slots = {"digits": found, "source": "speech"}
        else:  # the model heard a number answer but there is no number in it: the runner-up decides
            best = ranked[1]
    confidence = round(min(probabilities[best], MAX_CONFIDENCE) * asr_confidence, 3)
    scores = {name: round(p, 4) for name, p in probabilities.items()}
    return _with_slots(Intent(best, confidence, slots, scores), norm, now_local)


def opt_out_probability(intent: Intent) -> float:
    """How likely the answer was a request to stop calling (1.0 for an explicit opt-out phrase)."""
    if intent.name == "opt_out" and not intent.scores:
        return 1.0
    return float(intent.scores.get("opt_out", 0.0))


def _rule_intent(norm: str, custom: dict[str, list[str]] | None = None) -> str | None:
    """The intent the keyword rules name for this answer (the first rule that matches), else the one whose
    example it resembles letter by letter (the old fuzzy matching: "yu have the rong numbr"), if any."""
    for intent, patterns in _COMPILED:
        if any(p.search(norm) for p in patterns):
            return intent
    if len(norm.split()) > FUZZY_MAX_WORDS:  # letter matching is for short, garbled answers (and is slow on long)
        return None
    best, score = None, FUZZY_THRESHOLD
    pairs = [*FUZZY_EXAMPLES.items(), *(custom or {}).items()]
    for intent, examples in pairs:
        for example in examples:
            ratio = similarity(norm, example)
            if ratio >= score:
                best, score = intent, ratio
    return best


def _negated(norm: str) -> bool:
    return bool(_NEGATION.search(_YES_IDIOMS.sub(" ", norm)))


class ExampleBank:
    """The built-in examples embedded once; campaign examples embedded on first use and kept (thread-safe)."""

    def __init__(self, examples: dict[str, list[str]]) -> None:
        from pipeline.embeddings import encoder

        self.encoder = encoder()
        self.builtin = {
            name: self.encoder.encode_many([normalise(e) for e in lines]) for name, lines in examples.items()
        }
        self._custom: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _embed(self, phrase: str) -> np.ndarray:
        vector = self._custom.get(phrase)
        if vector is None:
            vector = self.encoder.encode(phrase)
            with self._lock:
                if len(self._custom) > 20_000:  # bounded: campaigns come and go in a long-lived worker
                    self._custom.clear()
                self._custom[phrase] = vector
        return vector

    def scores(self, norm: str, custom: dict[str, list[str]]) -> dict[str, float]:
        """Each intent's score: its closest examples' cosine similarities to the answer, NEAREST_WEIGHTS-weighted."""
        vector = self.encoder.encode(norm)
        matrices = dict(self.builtin)
        for name, phrases in custom.items():
            extra = np.stack([self._embed(p) for p in phrases if p]) if any(phrases) else None
            if extra is not None:
                matrices[name] = np.concatenate([matrices[name], extra]) if name in matrices else extra
        out = {}
        for name, matrix in matrices.items():
            similarities = matrix @ vector
            nearest = np.sort(similarities)[::-1][: len(NEAREST_WEIGHTS)]
            weights = np.array(NEAREST_WEIGHTS[: len(nearest)])
            out[name] = float(nearest @ weights / weights.sum())
        return out

    def probabilities(
        self, norm: str, custom: dict[str, list[str]], rule: str | None, negated: bool
    ) -> dict[str, float]:
        scores = self.scores(norm, custom)
        for name in custom:
            if name not in self.builtin:
                scores[name] += CAMPAIGN_BONUS
        if rule in scores:
            scores[rule] += RULE_BONUS
        if negated and "affirm" in scores:
            scores["affirm"] -= NEGATION_PENALTY
        names = list(scores)
        values = np.array([scores[n] for n in names]) / TEMPERATURE
        values = np.exp(values - values.max())
        values /= values.sum()
        return dict(zip(names, values.tolist(), strict=True))


_BANK: ExampleBank | None = None
_BANK_LOCK = threading.Lock()
_BANK_FAILED = False


def example_bank() -> ExampleBank:
    """The process's example bank (the embedding model and the built-in examples), loaded once."""
    global _BANK, _BANK_FAILED
    if _BANK is None:
        with _BANK_LOCK:
            if _BANK is None:
                from pipeline.intent_examples import EXAMPLES

                try:
                    _BANK = ExampleBank(EXAMPLES)
                except Exception:
                    if not _BANK_FAILED:
                        log.exception("sentence-embedding model unavailable: classifying with keyword rules only")
                        _BANK_FAILED = True
                    raise
    return _BANK


def classify_rules(
    text: str,
    now_local: dt.datetime | None = None,
    asr_confidence: float = 1.0,
    intents: dict[str, list[str]] | None = None,
) -> Intent:
    """The previous classifier: keyword rules in priority order, then fuzzy matching against examples."""
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
    examples_by_intent = {name: list(examples) for name, examples in FUZZY_EXAMPLES.items()}
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


def spoken_digits(norm: str, share: float = DIGIT_SHARE) -> str | None:
    """'one two three' / '1 2 3' / 'double five nine' / 'forty two' -> the digit string, else None.

    Only when numbers make up `share` of the answer's words: 'I'll be there at two' is not a digits answer.
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
    if not out or counted / content < share:
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
    slots = {"callback_at": when.isoformat()} if when else {}
    return Intent(intent.name, intent.confidence, slots, intent.scores)
