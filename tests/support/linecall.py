"""A scripted telephone line for conversation tests: a real implementation of telephony.interface.Call.

The callee's side is a list of Moves. Each waits for a cue in the robot's audio (the robot started a prompt,
or the robot has been quiet for a while), then plays real speech (piper or espeak-ng, through G.711) or
presses keys. The line can echo the robot's own audio back, attenuated and delayed, as hybrids do. Every
frame in both directions is kept, so tests can measure when the robot stopped talking.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from telephony.audio import frames, pcm_to_array, rms_dbfs, through_g711
from telephony.interface import FRAME_BYTES, FRAME_MS, SILENCE_FRAME, CallEnded, EndReason, Frame

ROBOT_TALKING_DBFS = -45.0
CALLEE_ONSET_DBFS = -40.0


@dataclass
class Move:
    """One thing the callee does: `audio` (int16 8 kHz) and/or `keys`, once its cue has come.

    Cues: `during_prompt_ms` = this long after the robot starts its next prompt (a barge-in);
    otherwise after the robot has been quiet for `after_quiet_ms` following speech (a polite answer).
    """

    audio: np.ndarray | None = None
    keys: str = ""
    during_prompt_ms: int | None = None
    after_quiet_ms: int = 600
    key_gap_ms: int = 200
    hang_up_after_ms: int | None = None  # the callee hangs up this long after starting this move
    started_at_ms: int | None = field(default=None, init=False)  # when the callee began (media time)


class LineCall:
    call_id = "line-1"

    def __init__(self, moves: list[Move], echo_db: float | None = None, echo_delay_ms: int = 60) -> None:
        self.moves = deque(moves)
        self.done: list[Move] = []
        self.echo_gain = None if echo_db is None else 10 ** (echo_db / 20)
        self.echo = deque([SILENCE_FRAME] * max(1, echo_delay_ms // FRAME_MS))
        self.sent: list[bytes] = []
        self.received: list[bytes] = []
        self._playing: deque[bytes] = deque()
        self._keys: deque[tuple[int, str]] = deque()
        self._robot_talking = False
        self._prompt_started_at: int | None = None
        self._quiet_ms = 0
        self._robot_spoke = False
        self._ended: EndReason | None = None
        self._hang_up_at: int | None = None
        self._idle_ms = 0

    @property
    def elapsed_ms(self) -> int:
        return len(self.sent) * FRAME_MS

    def exchange(self, outgoing: bytes) -> Frame:
        if self._ended is not None:
            raise CallEnded(self._ended)
        assert len(outgoing) == FRAME_BYTES
        self.sent.append(outgoing)
        now = self.elapsed_ms
        if self._hang_up_at is not None and now >= self._hang_up_at:
            self._ended = EndReason.CALLEE_HANGUP
            raise CallEnded(self._ended)
        self._watch_robot(outgoing, now)
        self._cue(now)
        pcm = self._playing.popleft() if self._playing else SILENCE_FRAME
        if self.echo_gain is not None:
            self.echo.append(outgoing)
            echoed = pcm_to_array(self.echo.popleft()).astype(np.float32) * self.echo_gain
            pcm = np.clip(pcm_to_array(pcm) + echoed, -32768, 32767).astype("<i2").tobytes()
        key = None
        if self._keys and self._keys[0][0] <= now:
            key = self._keys.popleft()[1]
        self.received.append(pcm)
        busy = self._playing or self._keys or self._robot_talking
        self._idle_ms = 0 if busy else self._idle_ms + FRAME_MS
        if not self.moves and self._idle_ms >= 20_000:
            self._ended = EndReason.CALLEE_HANGUP
        return Frame(pcm, dtmf=key)

    def hangup(self) -> None:
        self._ended = self._ended or EndReason.ROBOT_HANGUP

    def _watch_robot(self, outgoing: bytes, now: int) -> None:
        talking = rms_dbfs(outgoing) > ROBOT_TALKING_DBFS
        if talking and not self._robot_talking and self._quiet_ms >= 500:
            self._prompt_started_at = now  # a new prompt (not a pause between words)
        if talking:
            self._robot_spoke, self._quiet_ms = True, 0
        else:
            self._quiet_ms += FRAME_MS
        self._robot_talking = talking
        if self._prompt_started_at is None and talking:
            self._prompt_started_at = now

    def _cue(self, now: int) -> None:
        if not self.moves or self._playing or self._keys:
            return
        move = self.moves[0]
        if move.during_prompt_ms is not None:
            due = self._prompt_started_at is not None and now - self._prompt_started_at >= move.during_prompt_ms
        else:
            due = self._robot_spoke and self._quiet_ms >= move.after_quiet_ms
        if not due:
            return
        self.moves.popleft()
        self.done.append(move)
        move.started_at_ms = now
        if move.hang_up_after_ms is not None:
            self._hang_up_at = now + move.hang_up_after_ms
        self._robot_spoke = False
        self._prompt_started_at = None
        if move.audio is not None:
            self._playing.extend(frames(through_g711(move.audio)))
        for index, key in enumerate(move.keys):
            self._keys.append((now + index * move.key_gap_ms, key))

    # -- measurements ------------------------------------------------------------------------------

    def callee_onset_ms(self, move: Move) -> int:
        """Media time of the first audible frame of a move's speech."""
        start = move.started_at_ms // FRAME_MS
        for index in range(start, len(self.received)):
            if rms_dbfs(self.received[index]) > CALLEE_ONSET_DBFS:
                return (index + 1) * FRAME_MS
        raise AssertionError("the callee's speech never reached the line")

    def robot_last_audio_ms(self, since_ms: int, until_ms: int | None = None) -> int:
        """Media time at the end of the last robot frame with speech in [since, until)."""
        last = since_ms
        end = len(self.sent) if until_ms is None else until_ms // FRAME_MS
        for index in range(since_ms // FRAME_MS, end):
            if rms_dbfs(self.sent[index]) > ROBOT_TALKING_DBFS:
                last = (index + 1) * FRAME_MS
        return last
