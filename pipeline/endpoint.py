"""Endpointing: decides, frame by frame, when the callee started and stopped speaking.

An energy detector with an adaptive noise floor: good enough for G.711 lines and cheap (a few µs a frame).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from telephony.audio import rms_dbfs
from telephony.interface import FRAME_MS


class State(enum.Enum):
    WAITING = "waiting"
    SPEAKING = "speaking"
    ENDED = "ended"


@dataclass
class EndpointConfig:
    speech_margin_db: float = 15.0  # above the noise floor
    min_speech_dbfs: float = -45.0
    speech_start_ms: int = 60  # consecutive voiced audio before we call it speech
    trailing_silence_ms: int = 600  # silence after speech that ends the utterance
    max_utterance_ms: int = 15_000


class Endpointer:
    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self.state = State.WAITING
        self.noise_floor = -70.0
        self._voiced_ms = 0
        self._silent_ms = 0
        self._speech_ms = 0
        self.speech_start_offset = 0  # ms into this endpointer's input where speech began

    @property
    def silent_ms(self) -> int:
        """Silence since the callee last spoke, while the utterance is open."""
        return self._silent_ms if self.state is State.SPEAKING else 0

    def feed(self, pcm: bytes, offset_ms: int = 0, min_dbfs: float | None = None) -> State:
        """One 20 ms frame. `min_dbfs` raises the speech threshold for this frame (the echo guard during playback)."""
        if self.state is State.ENDED:
            return self.state
        level = rms_dbfs(pcm)
        threshold = max(self.noise_floor + self.config.speech_margin_db, self.config.min_speech_dbfs)
        above_floor = level > threshold
        voiced = above_floor and (min_dbfs is None or level > min_dbfs)
        if not above_floor:  # echo held back by min_dbfs is not line noise: it does not move the floor
            # Track the floor slowly upward, quickly downward.
            self.noise_floor += (level - self.noise_floor) * (0.05 if level > self.noise_floor else 0.5)
        if self.state is State.WAITING:
            self._voiced_ms = self._voiced_ms + FRAME_MS if voiced else 0
            if self._voiced_ms >= self.config.speech_start_ms:
                self.state = State.SPEAKING
                self.speech_start_offset = offset_ms - self._voiced_ms + FRAME_MS
                self._speech_ms = self._voiced_ms
        elif self.state is State.SPEAKING:
            self._speech_ms += FRAME_MS
            self._silent_ms = 0 if voiced else self._silent_ms + FRAME_MS
            if self._silent_ms >= self.config.trailing_silence_ms or self._speech_ms >= self.config.max_utterance_ms:
                self.state = State.ENDED
        return self.state
