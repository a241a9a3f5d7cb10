"""What the callee's answer means to the conversation: opt-out confirmation and keypad entry.

Opt-out safety: an answer the classifier thinks may be a request to stop calling (nlp.opt_out_probability at
least nlp.OPT_OUT_CONFIRM) but that is not acted on as one is confirmed: "Would you like us to stop calling this
number?". A yes (or an opt-out) is recorded as an `opt_out` turn with `{"opt_out_confirmation": true}` in its
slots (on_turn puts the number on the do-not-call list at once) and the call ends politely, through the node's
`opt_out` branch when it has one; anything else records `{"opt_out_confirmation": false}` and the question is
asked again.

Keypad entry ends at '#', at the node's `max_digits`, at a key the node maps to an intent, or after
DTMF_INTERDIGIT_MS without a key; a script's `keypad_transfer` key ("press 0 for a person") is added to every
question that does not map that key itself.
"""

from __future__ import annotations

import datetime as dt

from pipeline import nlp
from pipeline.script import KEYPAD_TRANSFER

DTMF_INTERDIGIT_MS = 2500  # keypad input ends with '#', after max_digits, or after this long without a key
OPT_OUT_QUESTION = "Would you like us to stop calling this number?"
OPTED_OUT = "__opted_out__"  # where a confirmed opt-out goes when the node has no opt_out branch
BUILTIN_NODES = {
    OPTED_OUT: {"type": "end", "say": "Understood, we will not call you again. Goodbye.", "outcome": "opted_out"},
}


def classify_answer(
    text: str,
    asr_confidence: float,
    now_local: dt.datetime | None,
    intents: dict | None,
    language: str,
    min_confidence: float,
) -> nlp.Intent:
    """The intent the conversation acts on: a probable opt-out that is not certain becomes `unknown` with
    `probable_opt_out` in its slots (to be confirmed), and an intent too unsure to act on becomes `unknown` with
    its guess kept."""
    intent = nlp.classify(text, now_local, asr_confidence, intents, language)
    acted = intent.name != nlp.UNKNOWN and intent.confidence >= min_confidence
    if acted and intent.name == "opt_out":
        return intent
    opt_out = nlp.opt_out_probability(intent)
    if opt_out >= nlp.OPT_OUT_CONFIRM:
        # Perhaps a request to stop calling: never dropped, never acted on unasked: confirmed (Conversation._ask).
        slots = {"guess": intent.name, "probable_opt_out": round(opt_out, 3), **intent.slots}
        return nlp.Intent(nlp.UNKNOWN, intent.confidence, slots, intent.scores)
    if intent.name != nlp.UNKNOWN and not acted:
        # Too unsure to act on: treated as not understood (re-ask, then `otherwise`); the guess is kept.
        return nlp.Intent(nlp.UNKNOWN, intent.confidence, {"guess": intent.name, **intent.slots}, intent.scores)
    return intent


def confirmation(intent: nlp.Intent) -> nlp.Intent:
    """The answer to OPT_OUT_QUESTION: a yes or an opt-out confirms (an opt_out turn), anything else does not."""
    yes = intent.name == "affirm" or intent.name == "opt_out" or intent.slots.get("guess") == "opt_out"
    if yes:
        return nlp.Intent("opt_out", intent.confidence, {"opt_out_confirmation": True})
    return nlp.Intent(intent.name, intent.confidence, {**intent.slots, "opt_out_confirmation": False})


def keypad_spec(node: dict, keypad_transfer: tuple[str, str] | None) -> dict:
    """The question's keypad mapping, with the script's transfer key added unless the node maps that key."""
    if keypad_transfer and keypad_transfer[0] not in node.get("dtmf", {}):
        # "press 0 for a person": the key ends keypad entry at once and leads to the transfer node
        return {**node, "dtmf": {**node.get("dtmf", {}), keypad_transfer[0]: KEYPAD_TRANSFER}}
    return node


def keypad_done(digits: str, spec: dict) -> bool:
    """Keypad entry is complete at '#', at the node's max_digits, or at a key the node maps to an intent."""
    if not digits:
        return False
    if digits.endswith("#") or digits in (spec.get("dtmf") or {}):
        return True
    max_digits = spec.get("max_digits")
    return bool(max_digits) and len(digits) >= max_digits
