"""The simulated carrier: virtual callees behind the same Call interface as the SIP agent.

A virtual number's last digit picks a persona. A persona listens to the robot's audio, waits for the robot to
finish speaking, then answers with speech synthesised by the `voice` it was given, passed through G.711.
Used by `make demo`, by campaigns in dry-run mode, and by the tests.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from telephony.audio import frames, rms_dbfs, through_g711
from telephony.interface import (
    FRAME_MS,
    SILENCE_FRAME,
    CallEnded,
    DialResult,
    DialStatus,
    EndReason,
    Frame,
)

# Synthesises a line of speech to int16 8 kHz mono PCM.
Voice = Callable[[str], np.ndarray]

ROBOT_SPEECH_DBFS = -45.0  # robot frames louder than this count as the robot talking
REPLY_AFTER_MS = 600  # a persona answers after this much silence following the robot's speech
GIVE_UP_SILENCE_MS = 20_000  # a persona hangs up when nothing happens for this long


@dataclass(frozen=True)
class Persona:
    name: str
    lines: tuple[str, ...] = ()
    dial_status: DialStatus = DialStatus.ANSWERED
    sip_code: int = 200
    # What the robot's stored transcript should show this callee said (for demo and tests).
    expected_disposition: str = ""


PERSONAS: dict[str, Persona] = {
    "1": Persona("agrees", ("Yes, I will be there.",), expected_disposition="interested"),
    "2": Persona("declines", ("No, I can't make it.",), expected_disposition="not_interested"),
    "3": Persona(
        "asks for a callback",
        ("I'm busy right now, please call me back tomorrow afternoon.",),
        expected_disposition="callback_requested",
    ),
    "4": Persona("opts out", ("Stop calling me and remove me from your list.",), expected_disposition="opted_out"),
    "5": Persona("wrong person", ("Sorry, you have the wrong number.",), expected_disposition="wrong_person"),
    "6": Persona("busy", dial_status=DialStatus.BUSY, sip_code=486, expected_disposition="busy"),
    "7": Persona("no answer", dial_status=DialStatus.NO_ANSWER, sip_code=487, expected_disposition="no_answer"),
    "8": Persona("stays silent", (), expected_disposition="unclear"),
    "9": Persona(
        "asks to repeat, then agrees",
        ("Sorry, could you repeat that?", "Yes, that works for me."),
        expected_disposition="interested",
    ),
    "0": Persona(
        "unallocated number", dial_status=DialStatus.INVALID_NUMBER, sip_code=404, expected_disposition="invalid_number"
    ),
}


def persona_for(number: str) -> Persona:
    return PERSONAS[number[-1]]


class SimulatedCall:
    """One answered virtual call. Frame-synchronous; optionally paced at real time."""

    _ids = itertools.count(1)

    def __init__(
        self, persona: Persona, voice: Voice, realtime: bool = False, on_end: Callable[[], None] | None = None
    ) -> None:
        self.call_id = f"sim-{next(self._ids)}"
        self._on_end = on_end
        self.persona = persona
        self._voice = voice
        self._realtime = realtime
        self._lines = deque(persona.lines)
        self._speaking: deque[bytes] = deque()
        self._frames_exchanged = 0
        self._robot_spoke = False
        self._robot_quiet_ms = 0
        self._idle_ms = 0
        self._ended: EndReason | None = None
        self._started = time.monotonic()
        self.heard_robot_ms = 0  # how much robot speech this callee heard

    @property
    def elapsed_ms(self) -> int:
        return self._frames_exchanged * FRAME_MS

    def exchange(self, outgoing: bytes) -> Frame:
        if self._ended is not None:
            raise CallEnded(self._ended)
        if self._realtime:
            due = self._started + self._frames_exchanged * FRAME_MS / 1000
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self._frames_exchanged += 1
        self._listen(outgoing)
        if self._speaking:
            self._idle_ms = 0
            return Frame(self._speaking.popleft())
        self._idle_ms += FRAME_MS
        if self._idle_ms >= GIVE_UP_SILENCE_MS:
            self._ended = EndReason.CALLEE_HANGUP
        return Frame(SILENCE_FRAME)

    def _listen(self, outgoing: bytes) -> None:
        if rms_dbfs(outgoing) > ROBOT_SPEECH_DBFS:
            self._robot_spoke = True
            self._robot_quiet_ms = 0
            self._idle_ms = 0
            self.heard_robot_ms += FRAME_MS
            return
        self._robot_quiet_ms += FRAME_MS
        if self._robot_spoke and self._robot_quiet_ms >= REPLY_AFTER_MS and not self._speaking:
            self._robot_spoke = False
            if self._lines:
                line = self._lines.popleft()
                self._speaking.extend(frames(through_g711(self._voice(line))))

    def hangup(self) -> None:
        if self._ended is None:
            self._ended = EndReason.ROBOT_HANGUP
        if self._on_end is not None:
            on_end, self._on_end = self._on_end, None
            on_end()


class SimulatedCarrier:
    """Dials virtual callees. `voice` renders persona lines (the pipeline passes its TTS).

    With `cdr_path`, the virtual switch keeps call detail records as a real one does: a JSON line when a dial
    starts and one when the call is over (`{"event": "start"|"end", "call", "number", "pid", "t"}`), appended
    by every process that dials. An audit of a dry run reads them: who was rung, when, and for how long.
    """

    _dials = itertools.count(1)

    def __init__(self, voice: Voice, realtime: bool = False, cdr_path: Path | None = None) -> None:
        self._voice = voice
        self._realtime = realtime
        self._cdr_path = cdr_path

    def dial(self, number: str, caller_id: str, ring_timeout: float) -> DialResult:
        persona = persona_for(number)
        record = f"{os.getpid()}-{next(self._dials)}"
        self._cdr("start", record, number)
        if persona.dial_status is not DialStatus.ANSWERED:
            if self._realtime and persona.dial_status is DialStatus.NO_ANSWER:
                time.sleep(ring_timeout)
            self._cdr("end", record, number)
            return DialResult(persona.dial_status, persona.sip_code, detail=persona.name)
        call = SimulatedCall(
            persona, self._voice, realtime=self._realtime, on_end=lambda: self._cdr("end", record, number)
        )
        return DialResult(DialStatus.ANSWERED, 200, call=call, detail=persona.name)

    def _cdr(self, event: str, record: str, number: str) -> None:
        if self._cdr_path is None:
            return
        line = json.dumps({"event": event, "call": record, "number": number, "pid": os.getpid(), "t": time.time()})
        with self._cdr_path.open("a") as cdr:  # one short append per line: lines of many processes never mix
            cdr.write(line + "\n")
