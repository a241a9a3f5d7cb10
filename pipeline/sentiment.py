"""Offline sentiment of what the callee said, for quality review (which calls went badly?).

Method: VADER (Hutto & Gilbert 2014, package `vaderSentiment`), a lexicon of ~7,500 English words rated by
people plus rules for negation ("not good"), intensifiers ("very"), "but" and punctuation. Its compound score
runs from -1 (very negative) to +1. Words that are plain answers in a call ("yes", "no", "ok", "sure", "stop",
"wrong", "cancel", "number") carry no feeling here, so they are neutral: "No, I can't make it" is a polite decline, not
anger. Limits: English only; the text is ASR output (recognition errors, no tone of voice: a shouted "fine" reads
as neutral); sarcasm and irony are missed; one- or two-word answers are mostly neutral by construction.
"""

from __future__ import annotations

from functools import lru_cache

METHOD = "vader-3.3.2 (lexicon and rules; answer words neutral)"
NEUTRAL_ANSWER_WORDS = (
    "yes", "yeah", "yep", "no", "ok", "okay", "sure", "fine", "definitely", "correct", "stop", "wrong", "cancel",
    "number",
)  # fmt: skip
POSITIVE, NEGATIVE = 0.05, -0.05  # VADER's own thresholds for a positive / negative text


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    for word in NEUTRAL_ANSWER_WORDS:
        analyzer.lexicon.pop(word, None)
    return analyzer


def score(text: str) -> float:
    """VADER compound score of one utterance, -1..1 (0 for empty text)."""
    if not text.strip():
        return 0.0
    return round(_analyzer().polarity_scores(text)["compound"], 3)


def label(value: float) -> str:
    return "positive" if value >= POSITIVE else "negative" if value <= NEGATIVE else "neutral"


def call_sentiment(utterances: list[str]) -> dict:
    """Per-utterance scores and the call's score: their mean weighted by length in words."""
    said = [u for u in utterances if u.strip()]
    scores = [score(u) for u in said]
    weights = [len(u.split()) for u in said]
    value = round(sum(s * w for s, w in zip(scores, weights, strict=True)) / sum(weights), 3) if said else 0.0
    return {
        "method": METHOD,
        "score": value,
        "label": label(value),
        "lowest": min(scores) if scores else 0.0,
        "utterances": scores,
    }
