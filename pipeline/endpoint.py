"""Endpointing: decides, frame by frame, when the callee started speaking and when their turn is over.

Speech is found by an energy detector with an adaptive noise floor: good enough for G.711 lines and cheap (a few
µs a frame). The end of the turn is decided by content (`content_turns`, the default): after a short pause
(`turn_pause_ms`, 200 ms) the turn model (pipeline.turn.SmartTurn) is asked whether the answer sounds finished;
"Yes, I will." ends the turn there, "Yes... but only after five" does not, and the callee gets up to
`max_pause_ms` (1.2 s) of silence to go on. The model is asked again every `reask_ms` while the pause lasts (its
answer firms up as the pause grows). When the recogniser has a transcript of the utterance so far, a finished-
sounding answer whose words stop mid-phrase ("...but only after") is not ended either (`transcript`).

Without content turns the utterance ends after a fixed `trailing_silence_ms` (600 ms), as before.

Every ended utterance says why in `ended_by` (the EndOfTurn values).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from telephony.audio import pcm_to_array, rms_dbfs
from telephony.interface import FRAME_MS


class State(enum.Enum):
    WAITING = "waiting"
    SPEAKING = "speaking"
    ENDED = "ended"


class EndOfTurn(enum.StrEnum):
    """Why a callee turn ended (stored on the turn)."""

    COMPLETE = "complete"  # the turn model heard a finished answer after a short pause
    MAX_WAIT = "max_wait"  # the answer did not sound finished, but the pause reached max_pause_ms
    PAUSE = "pause"  # fixed trailing silence (content_turns off)
    MAX_LENGTH = "max_length"  # speech (or noise, music) went on for max_utterance_ms
    SILENCE = "silence"  # nothing was said before the no-input timeout
    HANG_UP = "hang_up"  # the callee hung up while speaking
    KEYPAD = "keypad"  # keypad entry instead of speech


@dataclass
class EndpointConfig:
    speech_margin_db: float = 15.0  # above the noise floor
    min_speech_dbfs: float = -45.0
    speech_start_ms: int = 60  # consecutive voiced audio before we call it speech
    content_turns: bool = True  # end of turn decided by the turn model (else: fixed trailing silence)
    turn_pause_ms: int = 200  # pause after which the turn model is first asked
    early_decode_ms: int = 200  # pause after which the recogniser starts its final decoding (speculatively)
    reask_ms: int = 300  # then asked again this often while the pause lasts
    max_pause_ms: int = 1200  # an answer that never sounds finished ends after this much silence
    complete_threshold: float = 0.5  # the model's probability of "finished" that ends the turn
    trailing_silence_ms: int = 600  # content_turns off: the silence that ends the utterance
    max_utterance_ms: int = 15_000
    keep_audio_ms: int = 8_000  # what the turn model reads (its window)
    # What tells speech from silence: "silero" (pipeline.turn.SileroVAD, confirming the energy detector's frames)
    # or "energy" (the adaptive floor alone; on a line that is noisy from its first frame it never finds a pause).
    vad: str = "silero"
    vad_threshold: float = 0.5  # silero: the speech probability above which a frame is speech


class Endpointer:
    def __init__(self, config: EndpointConfig | None = None, turn_model=None) -> None:
        self.config = config or EndpointConfig()
        self.state = State.WAITING
        self.ended_by: EndOfTurn | None = None
        self.noise_floor = -70.0
        self._voiced_ms = 0
        self._silent_ms = 0
        self._speech_ms = 0
        self.speech_start_offset = 0  # ms into this endpointer's input where speech began
        self.turn_model = None
        if self.config.content_turns:
            from pipeline.turn import bundled_turn_model

            self.turn_model = turn_model or bundled_turn_model()
        # The utterance (its last keep_audio_ms), for the turn model.
        self._audio: deque[bytes] = deque(maxlen=self.config.keep_audio_ms // FRAME_MS)
        self._next_ask_ms = self.config.turn_pause_ms
        self._sounds_finished = False  # the model's verdict on the current pause
        self._vetoed = False  # the transcript said "not finished" during this pause
        self.last_probability: float | None = None
        self.model_calls = 0
        self._vad = None
        if self.config.vad == "silero":
            from pipeline.turn import SileroVAD

            self._vad = SileroVAD()
        elif self.config.vad != "energy":
            raise ValueError(f"unknown voice activity detector {self.config.vad!r}: 'energy' or 'silero'")

    @property
    def silent_ms(self) -> int:
        """Silence since the callee last spoke, while the utterance is open."""
        return self._silent_ms if self.state is State.SPEAKING else 0

    @property
    def pause_ms(self) -> int:
        """The silence that preceded the decision (after ENDED): how long the callee waited for the turn to end."""
        return self._silent_ms

    @property
    def wants_transcript(self) -> bool:
        """The answer sounds finished: the turn ends once `transcript()` confirms the words do not stop mid-phrase."""
        return self.state is State.SPEAKING and self._sounds_finished and not self._vetoed

    def feed(self, pcm: bytes, offset_ms: int = 0, min_dbfs: float | None = None) -> State:
        """One 20 ms frame. `min_dbfs` raises the speech threshold for this frame (the echo guard during playback)."""
        if self.state is State.ENDED:
            return self.state
        level = rms_dbfs(pcm)
        threshold = max(self.noise_floor + self.config.speech_margin_db, self.config.min_speech_dbfs)
        above_floor = level > threshold
        if self._vad is not None:  # the floor still moves (the energy figures stay meaningful), speech is Silero's
            above_floor = above_floor and self._vad.probability(pcm) >= self.config.vad_threshold
        voiced = above_floor and (min_dbfs is None or level > min_dbfs)
        if not above_floor:  # echo held back by min_dbfs is not line noise: it does not move the floor
            # Track the floor slowly upward, quickly downward.
            self.noise_floor += (level - self.noise_floor) * (0.05 if level > self.noise_floor else 0.5)
        if self.state is State.WAITING:
            self._voiced_ms = self._voiced_ms + FRAME_MS if voiced else 0
            self._audio.append(pcm)
            if self._voiced_ms >= self.config.speech_start_ms:
                self.state = State.SPEAKING
                self.speech_start_offset = offset_ms - self._voiced_ms + FRAME_MS
                self._speech_ms = self._voiced_ms
                for _ in range(len(self._audio) - self._voiced_ms // FRAME_MS):
                    self._audio.popleft()  # the utterance starts with its first voiced frame
        elif self.state is State.SPEAKING:
            self._audio.append(pcm)
            self._speech_ms += FRAME_MS
            if voiced:
                self._silent_ms, self._next_ask_ms = 0, self.config.turn_pause_ms
                self._sounds_finished = self._vetoed = False
            else:
                self._silent_ms += FRAME_MS
            self._decide()
        return self.state

    def transcript(self, text: str) -> State:
        """The recogniser's text of the utterance so far (after the pause began). A finished-sounding answer ends
        here unless its words stop mid-phrase; then the callee gets the rest of max_pause_ms to go on."""
        from pipeline.turn import words_unfinished

        if self.wants_transcript:
            if words_unfinished(text):
                self._vetoed = True
            else:
                self._end(EndOfTurn.COMPLETE)
        return self.state

    def _decide(self) -> None:
        config = self.config
        if self._speech_ms >= config.max_utterance_ms:
            return self._end(EndOfTurn.MAX_LENGTH)
        if self.turn_model is None:
            if self._silent_ms >= config.trailing_silence_ms:
                self._end(EndOfTurn.PAUSE)
            return None
        if self._silent_ms >= config.max_pause_ms:  # a verdict still waiting for its transcript stands
            return self._end(EndOfTurn.COMPLETE if self.wants_transcript else EndOfTurn.MAX_WAIT)
        if self._silent_ms >= self._next_ask_ms and not self._sounds_finished and not self._vetoed:
            self._next_ask_ms += config.reask_ms
            self.last_probability = self.turn_model.complete_probability(pcm_to_array(b"".join(self._audio)))
            self.model_calls += 1
            self._sounds_finished = self.last_probability >= config.complete_threshold
        return None

    def end_without_transcript(self) -> State:
        """No recogniser text will come (keypad, a recogniser without early text): trust the model's verdict."""
        if self.wants_transcript:
            self._end(EndOfTurn.COMPLETE)
        return self.state

    def _end(self, reason: EndOfTurn) -> None:
        self.state, self.ended_by = State.ENDED, reason
