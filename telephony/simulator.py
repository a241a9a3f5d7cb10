"""The simulated carrier: virtual callees behind the same Call interface as the SIP agent.

A virtual number's last digit picks a persona. A persona listens to the robot's audio, waits for the robot to
finish speaking, then answers with speech synthesised by the `voice` it was given, passed through G.711.
Used by `make demo`, by campaigns in dry-run mode, by rehearsals, and by the tests.

Rehearsals (campaigns.services.rehearsals) dial `persona:<name>:<seed>` instead of a phone number: the persona
comes from LIBRARY by name and its wording (one of several phrasings) from a random generator seeded with
`seed`, so a rehearsal is reproducible call for call. No SIP carrier can dial such a number.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

from telephony.audio import frames, rms_dbfs, through_g711
from telephony.interface import (
    FRAME_MS,
    SAMPLE_RATE,
    SILENCE_FRAME,
    CallEnded,
    DialResult,
    DialStatus,
    EndReason,
    Frame,
    TransferResult,
    TransferStatus,
)
from telephony.personas import (  # noqa: F401 (re-exported: the simulator's callees)
    LIBRARY,
    PERSONAS,
    REHEARSAL_SCHEME,
    REPLY_AFTER_MS,
    Persona,
    persona_for,
    persona_in,
    rehearsal_number,
    seed_of,
)

# Synthesises a line of speech to int16 8 kHz mono PCM.
Voice = Callable[[str], np.ndarray]

ROBOT_SPEECH_DBFS = -45.0  # robot frames louder than this count as the robot talking
GIVE_UP_SILENCE_MS = 20_000  # a persona hangs up when nothing happens for this long


TRANSFER_RING_MS = 3000  # a simulated transfer target answers (or is found busy) after this much ringing
TRANSFER_STATUS = {
    DialStatus.ANSWERED: TransferStatus.CONNECTED,
    DialStatus.BUSY: TransferStatus.BUSY,
    DialStatus.NO_ANSWER: TransferStatus.NO_ANSWER,
}

BEEP_HZ, BEEP_MS, BEEP_AMPLITUDE = 1000.0, 400, 8000


def _beep() -> np.ndarray:
    t = np.arange(int(SAMPLE_RATE * BEEP_MS / 1000)) / SAMPLE_RATE
    ramp = np.minimum(1, np.minimum(t, t[::-1]) / 0.005)
    return (BEEP_AMPLITUDE * ramp * np.sin(2 * np.pi * BEEP_HZ * t)).astype(np.int16)


class SimulatedCall:
    """One answered virtual call. Frame-synchronous; optionally paced at real time."""

    _ids = itertools.count(1)

    def __init__(
        self,
        persona: Persona,
        voice: Voice,
        realtime: bool = False,
        on_end: Callable[[], None] | None = None,
        seed: int = 0,
    ) -> None:
        self.call_id = f"sim-{next(self._ids)}"
        self._on_end = on_end
        self.persona = persona
        self._voice = voice
        self._realtime = realtime
        rng = random.Random(seed)  # noqa: S311 (reproducible wording, not secrecy)
        self.lines: tuple[str, ...] = rng.choice(persona.wordings())  # what this callee will say, in order
        self._lines = deque(self.lines)
        self._noise = np.random.default_rng(seed) if persona.noise_dbfs is not None else None
        self._speaking: deque[bytes] = deque()
        if persona.greeting:  # a machine answers by talking, whatever the robot does
            for line in persona.greeting:
                self._speaking.extend(frames(through_g711(self._voice(line))))
            if persona.beep:
                self._speaking.extend(frames(np.zeros(SAMPLE_RATE // 2, np.int16)))
                self._speaking.extend(frames(through_g711(_beep())))
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
        hangs_up = self.persona.hangs_up_after_robot_ms
        if hangs_up is not None and self.heard_robot_ms >= hangs_up:
            self._ended = EndReason.CALLEE_HANGUP  # the next exchange finds the line dead
            self._speaking.clear()
        if self._speaking:
            self._idle_ms = 0
            return Frame(self._noisy(self._speaking.popleft()))
        self._idle_ms += FRAME_MS
        if self._idle_ms >= GIVE_UP_SILENCE_MS:
            self._ended = EndReason.CALLEE_HANGUP
        return Frame(self._noisy(SILENCE_FRAME))

    def _noisy(self, pcm: bytes) -> bytes:
        if self._noise is None:
            return pcm
        amplitude = 32768 * 10 ** (self.persona.noise_dbfs / 20)
        noise = self._noise.normal(0, amplitude, len(pcm) // 2)
        mixed = np.frombuffer(pcm, np.int16).astype(np.float64) + noise
        return np.clip(mixed, -32768, 32767).astype(np.int16).tobytes()

    def _listen(self, outgoing: bytes) -> None:
        if rms_dbfs(outgoing) > ROBOT_SPEECH_DBFS:
            self._robot_spoke = True
            self._robot_quiet_ms = 0
            self._idle_ms = 0
            self.heard_robot_ms += FRAME_MS
            return
        self._robot_quiet_ms += FRAME_MS
        if self._robot_spoke and self._robot_quiet_ms >= self.persona.reply_after_ms and not self._speaking:
            self._robot_spoke = False
            if self._lines:
                self._speaking.extend(frames(through_g711(self._utter(self._lines.popleft()))))

    def _utter(self, line: str) -> np.ndarray:
        gap = self.persona.phrase_gap_ms
        if not gap:
            return self._voice(line)
        pause = np.zeros(SAMPLE_RATE * gap // 1000, np.int16)
        parts = [self._voice(part.strip()) for part in line.split(",") if part.strip()]
        out: list[np.ndarray] = []
        for part in parts:
            out.extend([part, pause])
        return np.concatenate(out[:-1])

    def transfer(self, target: str, timeout: float = 45.0) -> SimulatedTransfer:
        """Cold transfer in the virtual switch: the target is a virtual number (its last digit's persona says
        whether it answers, is busy or does not answer; a sip: URI answers), known after TRANSFER_RING_MS of
        the call's own media clock. Once connected the callee is gone from the robot's line."""
        if self._ended is not None:
            raise RuntimeError("the call is over: nothing to transfer")
        persona = PERSONAS.get(target[-1:]) if not target.lower().startswith("sip") else None
        dialled = persona.dial_status if persona is not None else DialStatus.ANSWERED
        status = TRANSFER_STATUS.get(dialled, TransferStatus.FAILED)
        code = persona.sip_code if persona is not None else 200
        ring_ms = min(TRANSFER_RING_MS, int(timeout * 1000))
        self._speaking.clear()  # on hold while the target rings
        return SimulatedTransfer(self, self.elapsed_ms + ring_ms, TransferResult(status, code, f"simulated {target}"))

    def hangup(self) -> None:
        if self._ended is None:
            self._ended = EndReason.ROBOT_HANGUP
        if self._on_end is not None:
            on_end, self._on_end = self._on_end, None
            on_end()


class SimulatedTransfer:
    """A transfer in the virtual switch: its result shows once the call's clock reaches `due_ms`."""

    def __init__(self, call: SimulatedCall, due_ms: int, outcome: TransferResult) -> None:
        self._call, self._due_ms, self._outcome = call, due_ms, outcome

    def result(self) -> TransferResult | None:
        if self._call.elapsed_ms < self._due_ms:
            return None
        if self._outcome.status is TransferStatus.CONNECTED and self._call._ended is None:
            self._call._ended = EndReason.ROBOT_HANGUP  # the callee is with the agent now, not on our line
        return self._outcome


class SimulatedCarrier:
    """Dials virtual callees. `voice` renders persona lines (the pipeline passes its TTS).

    With `cdr_path`, the virtual switch keeps call detail records as a real one does: a JSON line when a dial
    starts and one when the call is over (`{"event": "start"|"end", "call", "number", "pid", "t"}`), appended
    by every process that dials. An audit of a dry run reads them: who was rung, when, and for how long.
    """

    _dials = itertools.count(1)

    def __init__(
        self, voice: Voice, realtime: bool = False, cdr_path: Path | None = None, language: str = "en"
    ) -> None:
        self._voice = voice
        self._language = language  # the callees speak the campaign's language (personas.persona_in)
        self._realtime = realtime
        self._cdr_path = cdr_path

    def dial(self, number: str, caller_id: str, ring_timeout: float) -> DialResult:
        """`number` is a virtual number (its last digit picks the persona) or a rehearsal's
        `persona:<name>:<seed>` (see rehearsal_number)."""
        persona = persona_in(persona_for(number), self._language)
        record = f"{os.getpid()}-{next(self._dials)}"
        self._cdr("start", record, number)
        if persona.dial_status is not DialStatus.ANSWERED:
            if self._realtime and persona.dial_status is DialStatus.NO_ANSWER:
                time.sleep(ring_timeout)
            self._cdr("end", record, number)
            return DialResult(persona.dial_status, persona.sip_code, detail=persona.name)
        call = SimulatedCall(
            persona,
            self._voice,
            realtime=self._realtime,
            on_end=lambda: self._cdr("end", record, number),
            seed=seed_of(number),
        )
        return DialResult(DialStatus.ANSWERED, 200, call=call, detail=persona.name)

    def _cdr(self, event: str, record: str, number: str) -> None:
        if self._cdr_path is None:
            return
        line = json.dumps({"event": event, "call": record, "number": number, "pid": os.getpid(), "t": time.time()})
        with self._cdr_path.open("a") as cdr:  # one short append per line: lines of many processes never mix
            cdr.write(line + "\n")
