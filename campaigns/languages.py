"""Which languages a campaign can speak here: the language packs (pipeline.languages) and installed recognisers.

Light on purpose (settings and the packs' data, no models): the web process checks a campaign before it starts.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from pipeline.languages import UnsupportedLanguage, pack


def vosk_model_for(language: str) -> str:
    """The configured vosk model of a language: VOSK_MODELS keyed by its code ("zh-CN") or its base ("zh")."""
    candidates = [language, language.split("-")[0], pack(language).code, pack(language).code.split("-")[0]]
    return next((settings.VOSK_MODELS[key] for key in candidates if settings.VOSK_MODELS.get(key)), "")


def asr_problem(language: str) -> str | None:
    """Why no call in this language could be understood (no pack, no recogniser installed), else None."""
    try:
        speech = pack(language).speech
    except UnsupportedLanguage as exc:
        return str(exc)
    path = vosk_model_for(language)
    if path and Path(path).is_dir():
        return None
    if settings.ASR_ENGINE == "whisper" and speech.whisper_model:
        return None
    return (
        f"no speech recogniser for {language!r} is installed (the bundled whisper model is English-only"
        f"{'' if not path else f'; VOSK_MODELS names {path}, which does not exist'}): {speech.asr_install_hint}"
    )


def phone_region(language: str) -> str:
    """Where a number written without +country is from, in a campaign of this language: the pack's region
    (CN for Mandarin), else the deployment's DEFAULT_PHONE_REGION."""
    try:
        region = pack(language).phone_region
    except UnsupportedLanguage:
        region = ""
    return region or getattr(settings, "DEFAULT_PHONE_REGION", "US")
