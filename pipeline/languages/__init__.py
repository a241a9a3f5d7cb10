"""Language packs: everything the robot needs to know about one language, behind one interface.

A pack says how to normalise an answer, which phrases are explicit opt-outs, the keyword rules and negations
the semantic classifier leans on, its example bank and which sentence encoder embeds it, how digits and
callback times are spoken, what the robot says when it re-asks or confirms an opt-out, and its default voices
and speech-recognition model. `pack(language)` picks one from a campaign's `language` ("en", "en-GB", "zh",
"zh-CN", ...). Adding a language is a new module here, registered in PACKS, plus its tests and eval set.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from re import Pattern


class UnsupportedLanguage(ValueError):
    """No language pack for this language code."""


@dataclass(frozen=True)
class SpeechDefaults:
    """The voices and recogniser a campaign in this language starts with."""

    gtts_language: str  # gTTS `lang`
    espeak_voice: str  # espeak-ng voice (offline, always installed)
    piper_voice: str  # bundled piper voice name or "" when none ships for the language
    whisper_model: str  # faster-whisper model name ("" when whisper is not used for the language)
    vosk_model: str  # the vosk model's name, for `make install_vosk_model`
    asr_install_hint: str  # the command that installs a recogniser for this language


@dataclass(frozen=True)
class LanguagePack:
    code: str  # canonical code: "en", "zh-CN"
    normalise: Callable[[str], str]
    opt_out_rules: list[Pattern]  # acted on at once, before the model
    rules: list[tuple[str, list[Pattern]]]  # keyword rules in priority order (the model's RULE_BONUS)
    negated: Callable[[str], bool]  # a negation that is not a "yes" idiom
    fuzzy_examples: dict[str, list[str]]  # the rules classifier's examples (letter similarity)
    examples: Callable[[], dict[str, list[str]]]  # the semantic example bank (loaded when the model is)
    encoder: str  # which sentence encoder embeds this language: "minilm" (English) or "e5" (multilingual)
    spoken_digits: Callable[..., str | None]
    resolve_callback_time: Callable[[str, dt.datetime], dt.datetime | None]
    words: Callable[[str], list[str]]  # the answer's words (characters for a language written without spaces)
    reprompt_prefix: str
    opt_out_question: str
    opted_out_say: str
    speech: SpeechDefaults
    # The encoder's similarity scale: multilingual-e5 puts every pair of short answers between ~0.8 and ~0.95
    # (MiniLM spreads them over 0..1), so its softmax needs a lower temperature and smaller rule bonuses.
    # Numbers written without +country in a campaign of this language ("" = the deployment's DEFAULT_PHONE_REGION)
    phone_region: str = ""
    temperature: float = 0.05
    min_confidence: float = 0.8  # the act threshold (pipeline.nlp.acts), chosen on the language's dev data
    # taken from a bank example's similarity when it and the answer differ in negation (pipeline.nlp.ExampleBank)
    polarity_penalty: float = 0.0
    bonus_scale: float = 1.0
    default_script: Callable[[], dict] = field(default=lambda: {})
    # The answer's final clause (raw text in, raw text out) when it has several, else None: scored beside the
    # whole answer because the final statement decides. None: the language does not split answers.
    final_clause: Callable[[str], str | None] | None = None


MAX_CALLBACK_AHEAD = dt.timedelta(days=366)  # a callback asked for further ahead is no time to call at


def after_interval(now_local: dt.datetime, minutes: float) -> dt.datetime | None:
    """The moment `minutes` after now, in now's zone, to the minute ("in two hours", "过两个小时"); None past
    MAX_CALLBACK_AHEAD ("in 99999999999 hours" would also overflow a timedelta). Real minutes are added in UTC:
    aware-datetime arithmetic in a zone is wall-clock and drifts across DST."""
    if minutes > MAX_CALLBACK_AHEAD.total_seconds() / 60:
        return None
    moment = now_local.astimezone(dt.UTC) + dt.timedelta(minutes=minutes)
    return moment.astimezone(now_local.tzinfo).replace(second=0, microsecond=0)


# language code prefix -> module under pipeline.languages
PACKS = {"en": "en", "zh": "zh", "cmn": "zh"}
_LOADED: dict[str, LanguagePack] = {}


def module_name(language: str) -> str:
    base = re.split(r"[-_]", (language or "en").strip().lower(), maxsplit=1)[0]
    if base not in PACKS:
        raise UnsupportedLanguage(f"No language pack for {language!r}: use one of {sorted(set(PACKS))}.")
    return PACKS[base]


def pack(language: str = "en") -> LanguagePack:
    """The pack for a campaign's language code; UnsupportedLanguage for one without a pack."""
    name = module_name(language)
    if name not in _LOADED:
        _LOADED[name] = importlib.import_module(f"pipeline.languages.{name}").PACK
    return _LOADED[name]


def supported() -> list[str]:
    return ["en", "zh-CN"]
