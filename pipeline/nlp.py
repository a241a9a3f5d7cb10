"""Offline intent detection for short phone answers: a few safe rules, then sentence embeddings.

`classify` decides in this order:
1. nothing left after noise tags ("[music]") and punctuation -> unknown;
2. explicit opt-out phrases ("stop calling", "take me off your list") -> opt_out (a callee who asks to stop is
   never kept on the list);
3. spoken digits (an answer made mostly of numbers; a barrage of more than MAX_SPOKEN_DIGITS is not acted on);
4. the campaign's own intent when one of its example phrases is in the answer word for word;
5. the semantic classifier: the answer's sentence embedding (pipeline.embeddings: all-MiniLM-L6-v2 for
   English, multilingual-e5-small for Mandarin) against every line of the pack's example bank (plus the
   campaign's examples): an intent's score is the
   mean cosine of its two nearest examples, the keyword rules below add RULE_BONUS to the intent they name,
   an affirmative answer that carries a negation ("absolutely not", "I can't") loses NEGATION_PENALTY, and a
   softmax with TEMPERATURE turns the scores into probabilities. The winner's probability, times the ASR
   confidence, is the confidence: at MIN_CONFIDENCE and above the robot acts on it, below it re-asks.
   A probable opt-out that is not acted on is confirmed by the conversation (see `opt_out_probability`).

`classify_rules` is the previous classifier (keyword rules, then fuzzy matching), kept for the benchmark and as
the fallback when the embedding model is not installed. DTMF keys are classified by `classify_dtmf`.
Thresholds and weights were tuned on the dev split of bench/data/nlu (docs/NLU.md).

Everything that depends on the language (rules, opt-out phrases, negations, examples, which encoder, digits,
callback times) comes from the campaign language's pack (pipeline.languages); this module is the same for all.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import numpy as np

from pipeline.intents import BUILTIN_INTENTS, DIGITS, UNKNOWN  # noqa: F401 (BUILTIN_INTENTS re-exported)
from pipeline.languages import LanguagePack, pack
from pipeline.languages.en import normalise, resolve_callback_time, spoken_digits  # noqa: F401 (English, re-exported)

log = logging.getLogger(__name__)

# Below this an intent is not acted on: the robot re-asks, then ends as `unclear`. The default for a language pack;
# each pack carries its own (`LanguagePack.min_confidence`, English 0.85), and a script may set one.
MIN_CONFIDENCE = 0.8
OPT_OUT_CONFIRM = 0.2  # an opt-out this probable, not acted on, is confirmed ("stop calling this number?")
RULE_BONUS = 0.1  # added to the score of the intent a keyword rule names
CAMPAIGN_BONUS = 0.1  # added to a campaign's own intents: more specific than the built-in ones they overlap
NEGATION_PENALTY = 0.1  # taken from affirm when the answer carries a negation that is not a "yes" idiom
TEMPERATURE = 0.05  # softmax over the intents' scores (cosine similarities)
NEAREST_WEIGHTS = (0.5, 0.5)  # an intent's score: its closest examples' similarities, weighted
# The recogniser's confidence (whisper: exp of the mean token log-probability) scales the classifier's only below
# this: a clear transcript is taken at its word, a doubtful one lowers the confidence in proportion.
ASR_TRUSTED = 0.5
TAIL_WEIGHT = 0.5  # share of an answer's score that comes from its final clause, when it has several
MAX_SPOKEN_DIGITS = 20  # a longer run of spoken digits is a barrage, not an answer: re-asked
MAX_CONFIDENCE = 0.99  # the classifier is never certain: a script's min_confidence of 0.999 always re-asks

FUZZY_THRESHOLD = 0.72
FUZZY_MAX_WORDS = 10  # the semantic classifier's letter-level bonus looks only at answers this short


@dataclass(frozen=True)
class Intent:
    name: str
    confidence: float
    slots: dict = field(default_factory=dict)
    # every intent's probability, when the semantic classifier decided (for the opt-out confirmation and reports)
    scores: dict = field(default_factory=dict, compare=False, repr=False)


# "[noise]", "[inaudible]", "<unk>", "[噪音]": what recognisers write for non-speech
_NOISE_TAG = re.compile(r"\[[^\]]*\]|<[^>]*>")


def clean(text: str, language: LanguagePack | None = None) -> str:
    """The answer normalised by its language's rules, without the recogniser's noise tags."""
    return (language or pack("en")).normalise(_NOISE_TAG.sub(" ", text))


def classify(
    text: str,
    now_local: dt.datetime | None = None,
    asr_confidence: float = 1.0,
    intents: dict[str, list[str]] | None = None,
    language: str = "en",
) -> Intent:
    """Classify one callee utterance (the order of decision is in the module docstring).

    `now_local` (the callee's local time) resolves callback times; `intents` are the campaign's own intents
    with example phrases (a built-in name there adds examples to that intent). Never raises on odd input:
    empty text, noise, other languages, long monologues and digit barrages come back as `unknown` or with a
    confidence below MIN_CONFIDENCE.
    """
    lp = pack(language)
    heard = asr_confidence
    asr_confidence = min(1.0, asr_confidence / ASR_TRUSTED)
    norm = clean(text, lp)
    if not norm:
        return Intent(UNKNOWN, 0.0)
    if any(p.search(norm) for p in lp.opt_out_rules):
        return Intent("opt_out", round(0.95 * asr_confidence, 3))
    digits = lp.spoken_digits(norm)
    rule = _keyword_rule(norm, lp)
    if digits and rule != "ask_repeat":  # "seven fifteen or seven fifty, did you say?" asks, it does not answer
        if len(digits) > MAX_SPOKEN_DIGITS:
            return Intent(UNKNOWN, 0.0, {"guess": DIGITS})
        return Intent(DIGITS, round(0.95 * asr_confidence, 3), {"digits": digits, "source": "speech"})
    custom = {name: [lp.normalise(e) for e in examples] for name, examples in (intents or {}).items()}
    phrase = _custom_phrase(norm, custom, lp)
    if phrase:
        return _with_slots(Intent(phrase, round(0.9 * asr_confidence, 3)), norm, now_local, lp)
    try:
        bank = example_bank(language)
    except Exception:  # the model is not installed: the rules still answer (logged once)
        return classify_rules(text, now_local, heard, intents, language)
    tail = lp.final_clause(text) if lp.final_clause else None
    tail = clean(tail, lp) if tail else None
    probabilities = bank.probabilities(
        norm, custom, _rule_intent(norm, lp, custom), lp.negated(norm), tail if tail != norm else None
    )
    ranked = sorted(probabilities, key=probabilities.get, reverse=True)
    best = ranked[0]
    slots: dict = {}
    if best == DIGITS:
        found = lp.spoken_digits(norm, share=0.0)
        if found and len(found) <= MAX_SPOKEN_DIGITS:
            slots = {"digits": found, "source": "speech"}
        else:  # the model heard a number answer but there is no number in it: the runner-up decides
            best = ranked[1]
    confidence = round(min(probabilities[best], MAX_CONFIDENCE) * asr_confidence, 3)
    scores = {name: round(p, 4) for name, p in probabilities.items()}
    return _with_slots(Intent(best, confidence, slots, scores), norm, now_local, lp)


def act_threshold(language: str = "en") -> float:
    """The confidence from which the robot acts on an answer in this language (a script may set its own)."""
    return pack(language).min_confidence


def acts(intent: Intent, min_confidence: float | None = None, language: str = "en") -> bool:
    """Whether the robot acts on this intent (else it re-asks): its confidence reaches the threshold."""
    threshold = act_threshold(language) if min_confidence is None else min_confidence
    return intent.name != UNKNOWN and intent.confidence >= threshold


def opt_out_probability(intent: Intent) -> float:
    """How likely the answer was a request to stop calling (1.0 for an explicit opt-out phrase)."""
    if intent.name == "opt_out" and not intent.scores:
        return 1.0
    return float(intent.scores.get("opt_out", 0.0))


def _rule_intent(norm: str, lp: LanguagePack, custom: dict[str, list[str]] | None = None) -> str | None:
    """The intent the keyword rules name for this answer (the first rule that matches), else the one whose
    example it resembles letter by letter (the old fuzzy matching: "yu have the rong numbr"), if any."""
    rule = _keyword_rule(norm, lp)
    if rule:
        return rule
    if len(lp.words(norm)) > FUZZY_MAX_WORDS:  # letter matching is for short, garbled answers (and is slow on long)
        return None
    best, score = None, FUZZY_THRESHOLD
    pairs = [*lp.fuzzy_examples.items(), *(custom or {}).items()]
    for intent, examples in pairs:
        for example in examples:
            ratio = similarity(norm, example, lp.words)
            if ratio >= score:
                best, score = intent, ratio
    return best


def _keyword_rule(norm: str, lp: LanguagePack) -> str | None:
    """The intent of the first keyword rule that matches the answer."""
    for intent, patterns in lp.rules:
        if any(p.search(norm) for p in patterns):
            return intent
    return None


class ExampleBank:
    """The built-in examples embedded once; campaign examples embedded on first use and kept (thread-safe)."""

    def __init__(self, lp: LanguagePack) -> None:
        from pipeline.embeddings import encoder

        self.encoder = encoder(lp.encoder)
        self.temperature, self.bonus_scale = lp.temperature, lp.bonus_scale
        self.negated = lp.negated
        self.builtin = {
            name: self.encoder.encode_many([lp.normalise(e) for e in lines]) for name, lines in lp.examples().items()
        }
        # Which examples carry a negation: an embedding barely tells "it works for me" from "it doesn't work for
        # me", so an example of the other polarity than the answer counts the pack's polarity_penalty less.
        self.polarity_penalty = lp.polarity_penalty
        self.polarity = {
            name: np.array([lp.negated(lp.normalise(e)) for e in lines]) for name, lines in lp.examples().items()
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
        negated = self.negated(norm)
        out = {}
        for name, matrix in matrices.items():
            similarities = matrix @ vector
            if self.polarity_penalty and name in self.polarity:
                mismatch = self.polarity[name] != negated
                similarities[: mismatch.size] -= self.polarity_penalty * mismatch
            nearest = np.sort(similarities)[::-1][: len(NEAREST_WEIGHTS)]
            weights = np.array(NEAREST_WEIGHTS[: len(nearest)])
            out[name] = float(nearest @ weights / weights.sum())
        return out

    def probabilities(
        self, norm: str, custom: dict[str, list[str]], rule: str | None, negated: bool, tail: str | None = None
    ) -> dict[str, float]:
        scores = self.scores(norm, custom)
        if tail:  # the final statement decides (self-corrections, rambles): the last clause weighs as much as all
            last = self.scores(tail, custom)
            scores = {name: (1 - TAIL_WEIGHT) * value + TAIL_WEIGHT * last[name] for name, value in scores.items()}
        for name in custom:
            if name not in self.builtin:
                scores[name] += CAMPAIGN_BONUS * self.bonus_scale
        if rule in scores:
            scores[rule] += RULE_BONUS * self.bonus_scale
        if negated and "affirm" in scores:
            scores["affirm"] -= NEGATION_PENALTY * self.bonus_scale
        names = list(scores)
        values = np.array([scores[n] for n in names]) / self.temperature
        values = np.exp(values - values.max())
        values /= values.sum()
        return dict(zip(names, values.tolist(), strict=True))


_BANKS: dict[str, ExampleBank] = {}
_BANK_LOCK = threading.Lock()
_BANK_FAILED: set[str] = set()


def example_bank(language: str = "en") -> ExampleBank:
    """The process's example bank for a language (its embedding model and built-in examples), loaded once."""
    lp = pack(language)
    if lp.code not in _BANKS:
        with _BANK_LOCK:
            if lp.code not in _BANKS:
                try:
                    _BANKS[lp.code] = ExampleBank(lp)
                except Exception:
                    if lp.code not in _BANK_FAILED:
                        log.exception("%s sentence-embedding model unavailable: keyword rules only", lp.code)
                        _BANK_FAILED.add(lp.code)
                    raise
    return _BANKS[lp.code]


def classify_rules(
    text: str,
    now_local: dt.datetime | None = None,
    asr_confidence: float = 1.0,
    intents: dict[str, list[str]] | None = None,
    language: str = "en",
) -> Intent:
    """The previous classifier: keyword rules in priority order, then fuzzy matching against examples."""
    lp = pack(language)
    norm = clean(text, lp) if lp.code != "en" else normalise(text)  # English kept exactly as benchmarked
    if not norm:
        return Intent(UNKNOWN, 0.0)
    custom = {name: [lp.normalise(e) for e in examples] for name, examples in (intents or {}).items()}
    for intent, patterns in lp.rules:
        if intent == "opt_out" and any(p.search(norm) for p in patterns):
            return Intent(intent, round(0.95 * asr_confidence, 3))
    if lp.code != "en" and any(p.search(norm) for p in lp.opt_out_rules):
        return Intent("opt_out", round(0.95 * asr_confidence, 3))
    digits = lp.spoken_digits(norm)
    if digits:
        return Intent(DIGITS, round(0.95 * asr_confidence, 3), {"digits": digits, "source": "speech"})
    phrase = _custom_phrase(norm, custom, lp)
    if phrase:
        return _with_slots(Intent(phrase, round(0.9 * asr_confidence, 3)), norm, now_local, lp)
    for intent, patterns in lp.rules:
        if any(p.search(norm) for p in patterns):
            return _with_slots(Intent(intent, round(0.95 * asr_confidence, 3)), norm, now_local, lp)
    best, score = UNKNOWN, 0.0
    examples_by_intent = {name: list(examples) for name, examples in lp.fuzzy_examples.items()}
    for name, examples in custom.items():
        examples_by_intent.setdefault(name, []).extend(examples)
    for intent, examples in examples_by_intent.items():
        for example in examples:
            ratio = similarity(norm, example, lp.words)
            if ratio > score:
                best, score = intent, ratio
    if score >= FUZZY_THRESHOLD:
        return _with_slots(Intent(best, round(score * asr_confidence, 3)), norm, now_local, lp)
    return Intent(UNKNOWN, round(1 - score, 3))


def similarity(norm: str, example: str, words: Callable[[str], list[str]] = str.split) -> float:
    """Character similarity of the answer to an example, or of the example to the best same-length stretch
    of a longer answer ("um well I'd like to reschedule please" still matches "like to reschedule")."""
    score = SequenceMatcher(None, norm, example).ratio()
    heard, size = words(norm), len(words(example))
    joiner = " " if words is str.split else ""
    if len(heard) > size + 1:
        for start in range(len(heard) - size + 1):
            window = joiner.join(heard[start : start + size])
            score = max(score, 0.95 * SequenceMatcher(None, window, example).ratio())
    return score


def _custom_phrase(norm: str, custom: dict[str, list[str]], lp: LanguagePack) -> str | None:
    """The campaign intent whose longest example phrase appears, as whole words, in the answer."""
    best, length = None, 0
    spaced = lp.words is str.split  # a language written without spaces matches the phrase anywhere
    for name, examples in custom.items():
        for example in examples:
            found = re.search(rf"\b{re.escape(example)}\b", norm) if spaced else example in norm
            if example and len(example) > length and found:
                best, length = name, len(example)
    return best


# --- the keypad ----------------------------------------------------------------------------------------


def classify_dtmf(keys: str, mapping: dict[str, str] | None = None) -> Intent:
    """Keypad input: a key (or key string) the node maps to an intent, else the digits themselves."""
    keys = keys.rstrip("#")
    if mapping and keys in mapping:
        return Intent(mapping[keys], 1.0, {"dtmf": keys})
    if not keys:
        return Intent(UNKNOWN, 0.0)
    return Intent(DIGITS, 1.0, {"digits": keys, "source": "dtmf"})


def _with_slots(intent: Intent, norm: str, now_local: dt.datetime | None, lp: LanguagePack) -> Intent:
    if intent.name != "callback_request" or now_local is None:
        return intent
    when = lp.resolve_callback_time(norm, now_local)
    slots = {"callback_at": when.isoformat()} if when else {}
    return Intent(intent.name, intent.confidence, slots, intent.scores)
