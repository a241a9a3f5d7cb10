"""The call seam: one small interface, implemented by the simulated carrier and (later) the SIP agent."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
FRAME_BYTES = FRAME_SAMPLES * 2  # 16-bit PCM
SILENCE_FRAME = b"\x00" * FRAME_BYTES


class DialStatus(enum.StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    INVALID_NUMBER = "invalid_number"
    REJECTED = "rejected"
    FAILED = "failed"


class EndReason(enum.StrEnum):
    ROBOT_HANGUP = "robot_hangup"
    CALLEE_HANGUP = "callee_hangup"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True)
class DialResult:
    status: DialStatus
    sip_code: int | None = None
    call: Call | None = None
    detail: str = ""


class TransferStatus(enum.StrEnum):
    """How handing the callee to a person ended (the call stays with the robot unless CONNECTED)."""

    CONNECTED = "connected"  # the target answered; the callee is talking to them now
    REFUSED = "refused"  # the callee's side would not transfer (REFER answered 403, 405, 501...)
    BUSY = "busy"  # the target was busy (486/600)
    NO_ANSWER = "no_answer"  # the target did not answer (408/480/487)
    FAILED = "failed"  # the target could not be reached for another reason
    NO_REPORT = "no_report"  # the transfer was accepted but no final progress report came in time


@dataclass(frozen=True)
class TransferResult:
    status: TransferStatus
    sip_code: int | None = None
    detail: str = ""


class Transfer(Protocol):
    """A transfer under way: poll `result()` between exchanges (audio keeps flowing meanwhile)."""

    def result(self) -> TransferResult | None:
        """None while the transfer is under way; then how it ended."""


@dataclass
class Frame:
    """20 ms of callee audio plus any DTMF digit that arrived with it."""

    pcm: bytes
    dtmf: str | None = None
    meta: dict = field(default_factory=dict)


class CallEnded(Exception):
    """Raised by Call.exchange once the call is over; `reason` says who ended it."""

    def __init__(self, reason: EndReason):
        super().__init__(reason.value)
        self.reason = reason


class Call(Protocol):
    """An answered call. Full duplex, frame-synchronous: each exchange sends one frame, returns one."""

    call_id: str

    def exchange(self, outgoing: bytes) -> Frame:
        """Send 20 ms of robot audio (FRAME_BYTES of PCM16) and return the next 20 ms heard from the callee.

        Raises CallEnded when the far end has hung up or the call is otherwise over.
        """

    def hangup(self) -> None: ...

    def transfer(self, target: str, timeout: float) -> Transfer:
        """Hand the callee to `target` (a number or a sip: URI), cold: the robot leaves once it is connected.
        The result comes within `timeout` seconds (NO_REPORT when nobody said how it ended)."""

    @property
    def elapsed_ms(self) -> int:
        """Media time since answer, in milliseconds (a virtual clock on the simulator)."""


class Carrier(Protocol):
    def dial(self, number: str, caller_id: str, ring_timeout: float) -> DialResult: ...
