"""The speech engines and the carrier a campaign uses, built from settings.

Per-process state: the prompt cache, the ASR engines and the answer classifier's model are built once per worker
process (models are large and load slowly); each call gets its own Recognizer and Speaker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings

from campaigns.languages import vosk_model_for
from campaigns.models import Campaign
from pipeline import nlp
from pipeline.asr import ASREngine, ASRError, WhisperASR
from pipeline.asr_vosk import VoskASR
from pipeline.languages import pack
from pipeline.tts import PromptCache, Speaker, build_engines, parse_voices
from pipeline.turn import TurnModelMissing, bundled_turn_model
from telephony.interface import Carrier
from telephony.simulator import SimulatedCarrier
from telephony.sip import SipCarrier, TrunkConfig

ASR_ENGINES = ("whisper", "vosk")


class CarrierConfigError(RuntimeError):
    """The campaign cannot dial: say what to set."""


@lru_cache(maxsize=1)
def prompt_cache() -> PromptCache:
    return PromptCache(settings.TTS_CACHE_DIR)


def speaker(
    engine: str = "", voice: str = "", language: str = "en", on_lookup: Callable[[bool], None] | None = None
) -> Speaker:
    """A campaign's speaker: its engine chain and voices; `on_lookup` is told of each cache hit or miss.

    A language without a piper voice (Mandarin) speaks through gTTS, then espeak-ng in the pack's voice (`cmn`).
    """
    speech = pack(language).speech
    primary = engine or settings.TTS_ENGINE
    if primary == "piper" and not speech.piper_voice:
        primary = "gtts"
    engines = build_engines(primary, settings.GTTS_TLD, settings.GTTS_TIMEOUT_SECONDS, piper=bool(speech.piper_voice))
    voices = parse_voices(voice, primary)
    if speech.espeak_voice:
        voices.setdefault("espeak", speech.espeak_voice)
    # English keeps the campaign's code as given ("en-GB"); other languages speak the pack's ("zh-CN").
    speech_language = language if speech.piper_voice else speech.gtts_language
    return Speaker(engines, prompt_cache(), language=speech_language, voices=voices, on_lookup=on_lookup)


def warm_up_classifier(language: str = "en") -> None:
    """Load the answer classifier's embedding model and example bank before a call is dialled (once per process),
    not at the callee's first answer. A missing model is logged by pipeline.nlp, which then falls back to rules."""
    with contextlib.suppress(Exception):  # logged once by nlp.example_bank; classify() falls back to the rules
        nlp.example_bank(language)


@lru_cache(maxsize=4)
def asr_engine(language: str = "en", engine: str = "") -> ASREngine:
    """The recogniser for a language, with the end-of-turn model loaded too (both before anyone's phone rings)."""
    try:
        bundled_turn_model()
    except TurnModelMissing as exc:
        raise ASRError(str(exc)) from exc
    engine = engine or settings.ASR_ENGINE
    if engine == "whisper" and not pack(language).speech.whisper_model and vosk_model_for(language):
        engine = "vosk"  # the bundled whisper is English-only: a language with a vosk model uses it
    if engine == "vosk":
        path = vosk_model_for(language)
        if not path:
            raise ASRError(f"No vosk model configured for {language!r}; {pack(language).speech.asr_install_hint}.")
        return VoskASR(path)
    if engine == "whisper":
        if not pack(language).speech.whisper_model:
            raise ASRError(f"The bundled whisper model is English-only; {pack(language).speech.asr_install_hint}.")
        return WhisperASR(
            threads=settings.ASR_THREADS, processes=settings.ASR_PROCESSES, socket_path=settings.ASR_SOCKET or None
        )
    raise ASRError(f"Unknown ASR engine {engine!r}; use one of {', '.join(ASR_ENGINES)}.")


def carrier_for(campaign: Campaign, rehearsal: bool = False) -> Carrier:
    """Dry-run campaigns (and TELEPHONY_PROVIDER=simulated deployments) dial virtual callees; others dial
    through the campaign's SIP trunk. A rehearsal always dials virtual callees, faster than real time."""
    if rehearsal:
        return SimulatedCarrier(speaker("piper"), realtime=False, cdr_path=settings.SIMULATOR_CDR_PATH)
    if campaign.dry_run or settings.TELEPHONY_PROVIDER == "simulated":
        # Virtual callees speak the campaign's language with an offline voice, whatever the campaign uses.
        voice = (
            speaker("piper") if pack(campaign.language).speech.piper_voice else speaker("espeak", "", campaign.language)
        )
        return SimulatedCarrier(
            voice,
            realtime=settings.SIMULATOR_REALTIME,
            cdr_path=settings.SIMULATOR_CDR_PATH,
            language=campaign.language,
        )
    if settings.TELEPHONY_PROVIDER != "sip":
        raise CarrierConfigError(f"Unknown TELEPHONY_PROVIDER {settings.TELEPHONY_PROVIDER!r}: 'sip' or 'simulated'.")
    trunk = campaign.trunk
    if trunk is None:
        raise CarrierConfigError(f"Campaign {campaign.name!r} has no SIP trunk: pick one, or make it a dry run.")
    config = TrunkConfig(
        host=trunk.host,
        port=trunk.port,
        transport=trunk.transport,
        username=trunk.username,
        password=trunk.password,
        caller_id=trunk.caller_id or campaign.caller_id,
        register=trunk.register,
    )
    return SipCarrier(config, rtp_port_range=settings.RTP_PORT_RANGE)
