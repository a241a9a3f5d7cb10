"""Is the callee's answer complete? Pipecat's smart-turn v3.2, run with onnxruntime on the answer's audio.

The model reads the last 8 s of an utterance (16 kHz, whisper-style log-mel features) and gives the probability
that the speaker has finished their turn: "Yes, I will." ends a turn; "Yes, but only after..." does not, even
though both stop for a breath. The endpointer asks it after a short pause (pipeline.endpoint).

The model file ships inside the `pipecat-ai` wheel (BSD-2-Clause), which `make install` installs with --no-deps
(requirements-model.txt). Nothing of the framework is imported: the file is found through the wheel's list of
installed files.
"""

from __future__ import annotations

import os
import re
import threading
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np
import soxr

from pipeline.asr import Recognizer
from pipeline.endpoint import Endpointer, State
from telephony.interface import SAMPLE_RATE

MODEL_RATE = 16000
WINDOW_S = 8  # the model's input: the last 8 s of the utterance, zero-padded in front when shorter
TURN_MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
VAD_MODEL_FILE = "silero_vad.onnx"
MODEL_PACKAGE = "pipecat-ai"
MODEL_ENV = "TURN_MODEL_DIR"  # a folder holding the .onnx files instead (an image that copies them elsewhere)


class TurnModelMissing(RuntimeError):
    """The turn model file is not installed."""


def model_file(name: str) -> Path:
    """Where one of the wheel's .onnx files is, without importing the package (its __init__ needs the framework)."""
    if os.environ.get(MODEL_ENV):
        path = Path(os.environ[MODEL_ENV]) / name
        if path.is_file():
            return path
        raise TurnModelMissing(f"{path} does not exist ({MODEL_ENV} is set)")
    try:
        files = metadata.files(MODEL_PACKAGE) or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == name:
            return Path(str(file.locate()))
    raise TurnModelMissing(
        f"{name} not found: the {MODEL_PACKAGE} wheel is not installed. Run `make install` "
        f"(pip install --no-deps -r requirements-model.txt) or set {MODEL_ENV}."
    )


class SmartTurn:
    """smart-turn v3.2 (CPU build): `complete_probability(audio)` for int16 8 kHz audio. One ONNX session per
    process, shared by every call; onnxruntime runs a session from several threads at once."""

    def __init__(self, path: Path | None = None, threads: int = 1) -> None:
        import onnxruntime as ort
        from faster_whisper.feature_extractor import FeatureExtractor

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(path or model_file(TURN_MODEL_FILE)), sess_options=options)
        # faster-whisper's extractor computes the same features as the model's training pipeline (transformers'
        # WhisperFeatureExtractor, 8 s chunks) to within 1e-6 when given padding=0.
        self._features = FeatureExtractor(feature_size=80, sampling_rate=MODEL_RATE, chunk_length=WINDOW_S)
        self._features_lock = threading.Lock()  # the extractor keeps per-call sizes on itself

    def complete_probability(self, audio: np.ndarray) -> float:
        """Probability (0..1) that the utterance in `audio` (int16, 8 kHz, trailing pause included) is finished."""
        wave = soxr.resample(audio.astype(np.float32) / 32768.0, SAMPLE_RATE, MODEL_RATE)
        size = WINDOW_S * MODEL_RATE
        wave = wave[-size:] if wave.size >= size else np.pad(wave, (size - wave.size, 0))
        wave = (wave - wave.mean()) / np.sqrt(wave.var() + 1e-7)  # the model was trained on normalised audio
        with self._features_lock:
            features = self._features(wave.astype(np.float32), padding=0)[:, : WINDOW_S * 100]
        (logits,) = self._session.run(None, {"input_features": features[np.newaxis].astype(np.float32)})
        return float(np.asarray(logits).reshape(-1)[0])  # the graph ends in a sigmoid: already a probability


@lru_cache(maxsize=1)
def bundled_turn_model() -> SmartTurn:
    return SmartTurn()


@lru_cache(maxsize=1)
def _vad_session():
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(model_file(VAD_MODEL_FILE)), sess_options=options)


class SileroVAD:
    """Silero VAD (the wheel's other model) on 8 kHz audio, for the endpointer's `vad="silero"`: 256-sample windows
    (32 ms) with 32 samples of context, one instance per call (it keeps a recurrent state), one ONNX session per
    process. `probability(frame)`: the speech probability of the latest complete window."""

    WINDOW, CONTEXT = 256, 32

    def __init__(self) -> None:
        self._session = _vad_session()
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros(self.CONTEXT, np.float32)
        self._pending = np.zeros(0, np.float32)
        self._rate = np.array(SAMPLE_RATE, np.int64)
        self.last = 0.0

    def probability(self, pcm: bytes) -> float:
        from telephony.audio import pcm_to_array

        self._pending = np.concatenate([self._pending, pcm_to_array(pcm).astype(np.float32) / 32768.0])
        while self._pending.size >= self.WINDOW:
            window, self._pending = self._pending[: self.WINDOW], self._pending[self.WINDOW :]
            inputs = {"input": np.concatenate([self._context, window])[np.newaxis], "state": self._state}
            output, self._state = self._session.run(None, {**inputs, "sr": self._rate})
            self._context = window[-self.CONTEXT :]
            self.last = float(np.asarray(output).reshape(-1)[0])
        return self.last


# Words an English answer does not end on: the callee paused mid-phrase ("Yes, but only after ..."). Auxiliaries
# are left out on purpose ("Yes, I will.", "I think I can."), and so are words that end short answers ("No.",
# "When?", "I'll do that.", "Really.").
_UNFINISHED_WORDS = """
and but or so because if then than while until unless after before since at on in into onto to for with of from
by about around between like as the a an my your our their his her its every um uh er erm hmm i i'm we we're
you're it's there's just very
"""
_UNFINISHED_ENDINGS = frozenset(_UNFINISHED_WORDS.split())


def words_unfinished(text: str) -> bool:
    """Whether a transcript stops mid-phrase: it ends on a conjunction, preposition, article, possessive or filler
    ("...but only after"), or on a comma or an ellipsis (whisper writes a trailing hesitation that way)."""
    stripped = text.strip()
    if not stripped:
        return False  # no words: nothing to judge by (noise, a cough); the model's verdict stands
    if stripped.endswith((",", "...", "…", "-")):
        return True
    words = re.findall(r"[a-z']+", stripped.lower())
    return bool(words) and words[-1] in _UNFINISHED_ENDINGS


def follow_pause(endpointer: Endpointer, recognizer: Recognizer) -> State:
    """After each frame of an open utterance (fed to both): start the speculative decode once the pause reaches
    the config's `early_decode_ms`, supersede it when the callee goes on, and give the endpointer the words when
    it asks for them (an answer that sounds finished ends only if its words do not stop mid-phrase)."""
    if endpointer.state is State.ENDED:
        return State.ENDED
    if endpointer.silent_ms >= endpointer.config.early_decode_ms:
        recognizer.prepare()
    elif endpointer.silent_ms == 0:
        recognizer.cancel_prepared()
    if endpointer.wants_transcript:
        text = recognizer.early_text()
        if text is not None:
            return endpointer.transcript(text)
    return endpointer.state
