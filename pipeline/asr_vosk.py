"""Vosk (Kaldi) behind the same Recognizer interface as whisper (pipeline.asr): true streaming, one model folder
per language; partial text as the callee speaks, the final result ~60 ms after the end of the turn."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import soxr

from pipeline.asr import MODEL_RATE, ASRError, Recognizer, Transcript, Word
from telephony.audio import pcm_to_array
from telephony.interface import SAMPLE_RATE


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

    def recognizer(self, prompt: str | None = None) -> Recognizer:  # vosk has no prompt: `prompt` is ignored
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
        self._partial = ""

    def accept(self, pcm: bytes) -> str | None:
        chunk = self._resampler.resample_chunk(pcm_to_array(pcm))
        if self._kaldi.AcceptWaveform(chunk.astype("<i2").tobytes()):
            self._finished.append(json.loads(self._kaldi.Result()))
            self._partial = ""
            return None
        self._partial = json.loads(self._kaldi.PartialResult()).get("partial") or ""
        return self._partial or None

    def early_text(self) -> str | None:
        return " ".join([*(p.get("text", "") for p in self._finished), self._partial]).strip()

    def prepare(self) -> None:  # vosk decodes as audio arrives: nothing to start early
        pass

    def cancel_prepared(self) -> None:
        pass

    def result(self) -> Transcript:
        tail = self._resampler.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        if tail.size:
            self._kaldi.AcceptWaveform(tail.astype("<i2").tobytes())
        parts = [*self._finished, json.loads(self._kaldi.FinalResult())]
        self._finished, self._partial = [], ""
        self._resampler = soxr.ResampleStream(SAMPLE_RATE, MODEL_RATE, 1, dtype="int16")
        words = [
            Word(w["word"], w["start"], w["end"], w.get("conf", 1.0)) for part in parts for w in part.get("result", [])
        ]
        text = " ".join(p.get("text", "") for p in parts if p.get("text")).strip()
        confidence = sum(w.confidence for w in words) / len(words) if words else 0.0
        return Transcript(text, round(confidence, 3), words)
