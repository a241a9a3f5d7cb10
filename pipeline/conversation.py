"""The live conversation: walk the campaign script over an answered call, turn by turn.

Plain code, no Django: it gets a Call, a script, the contact's template context and the speech engines, and
reports each turn through `on_turn` as it happens (so a crash mid-call keeps what was said).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipeline import nlp
from pipeline.asr import ASREngine
from pipeline.endpoint import EndpointConfig, Endpointer, State
from pipeline.script import render
from telephony.audio import CallRecorder, frames
from telephony.interface import FRAME_MS, SILENCE_FRAME, Call, CallEnded, EndReason

log = logging.getLogger(__name__)

PRE_ROLL_FRAMES = 10  # audio kept from before the detected speech start, so the first syllable is not cut
NO_INPUT_TIMEOUT_MS = 6000
MAX_VISITS_PER_NODE = 3
REPROMPT_PREFIX = "Sorry, I didn't catch that. "


@dataclass
class TurnRecord:
    speaker: str  # "robot" | "callee"
    node: str
    text: str
    start_ms: int
    end_ms: int
    intent: str = ""
    confidence: float | None = None
    slots: dict = field(default_factory=dict)
    asr_latency_ms: int | None = None
    response_latency_ms: int | None = None


@dataclass
class ConversationResult:
    outcome: str
    end_reason: EndReason
    turns: list[TurnRecord]
    recorder: CallRecorder
    slots: dict = field(default_factory=dict)


class Conversation:
    def __init__(
        self,
        call: Call,
        script: dict,
        context: dict,
        speak: Callable[[str], np.ndarray],
        asr: ASREngine,
        now_local: dt.datetime | None = None,
        on_turn: Callable[[TurnRecord], None] | None = None,
        endpoint_config: EndpointConfig | None = None,
    ) -> None:
        self.call = call
        self.script = script
        self.context = context
        self.speak = speak
        self.asr = asr
        self.now_local = now_local
        self.on_turn = on_turn or (lambda turn: None)
        self.endpoint_config = endpoint_config or EndpointConfig()
        self.recorder = CallRecorder()
        self.turns: list[TurnRecord] = []
        self.slots: dict = {}
        self._end_of_speech_at: float | None = None  # wall clock, for response latency

    # -- media ---------------------------------------------------------------------------------------

    def _exchange(self, outgoing: bytes) -> bytes:
        frame = self.call.exchange(outgoing)
        self.recorder.add(outgoing, frame.pcm)
        return frame.pcm

    def _say(self, node: str, text: str) -> None:
        audio = self.speak(text)
        latency = None
        if self._end_of_speech_at is not None:
            latency = int((time.monotonic() - self._end_of_speech_at) * 1000)
            self._end_of_speech_at = None
        start = self.call.elapsed_ms
        for chunk in frames(audio):
            self._exchange(chunk)
        self._record(TurnRecord("robot", node, text, start, self.call.elapsed_ms, response_latency_ms=latency))

    def _listen(self, node: str) -> TurnRecord | None:
        """Listen for one utterance; None when the callee said nothing before the no-input timeout."""
        endpointer = Endpointer(self.endpoint_config)
        recognizer = self.asr.recognizer()
        pre_roll: deque[bytes] = deque(maxlen=PRE_ROLL_FRAMES)
        started = self.call.elapsed_ms
        speech_start = None
        while True:
            pcm = self._exchange(SILENCE_FRAME)
            now = self.call.elapsed_ms
            state = endpointer.feed(pcm, now)
            if state is State.WAITING:
                pre_roll.append(pcm)
                if now - started >= NO_INPUT_TIMEOUT_MS:
                    return None
                continue
            if speech_start is None:
                speech_start = max(started, now - (len(pre_roll) + 1) * FRAME_MS)
                for earlier in pre_roll:
                    recognizer.accept(earlier)
            recognizer.accept(pcm)
            if state is State.ENDED:
                break
        self._end_of_speech_at = time.monotonic()
        transcript = recognizer.result()
        asr_latency = int((time.monotonic() - self._end_of_speech_at) * 1000)
        intent = nlp.classify(transcript.text, self.now_local, transcript.confidence or 1.0)
        turn = TurnRecord(
            "callee",
            node,
            transcript.text,
            speech_start,
            now,
            intent=intent.name,
            confidence=transcript.confidence,
            slots=intent.slots,
            asr_latency_ms=asr_latency,
        )
        self._record(turn)
        return turn

    def _record(self, turn: TurnRecord) -> None:
        self.turns.append(turn)
        self.on_turn(turn)

    # -- script --------------------------------------------------------------------------------------

    def run(self) -> ConversationResult:
        nodes = self.script["nodes"]
        name = self.script["start"]
        visits: dict[str, int] = {}
        try:
            while True:
                node = nodes[name]
                visits[name] = visits.get(name, 0) + 1
                prompt = render(node.get("say", ""), self.context)
                if node["type"] == "end":
                    if prompt:
                        self._say(name, prompt)
                    self.call.hangup()
                    return self._result(node["outcome"], EndReason.ROBOT_HANGUP)
                if node["type"] == "say":
                    self._say(name, prompt)
                    name = node["next"]
                    continue
                name = self._ask(name, node, prompt, visits[name])
        except CallEnded as ended:
            outcome = "unclear" if ended.reason is EndReason.CALLEE_HANGUP else "completed"
            return self._result(outcome, ended.reason)

    def _ask(self, name: str, node: dict, prompt: str, visit: int) -> str:
        if visit > MAX_VISITS_PER_NODE:
            return node["otherwise"]
        for attempt in range(2):  # ask, then re-ask once when nothing usable was heard
            self._say(name, prompt if attempt == 0 else REPROMPT_PREFIX + prompt)
            turn = self._listen(name)
            if turn is not None and turn.intent in node["on"]:
                self.slots.update(turn.slots)
                return node["on"][turn.intent]
        return node["otherwise"]

    def _result(self, outcome: str, reason: EndReason) -> ConversationResult:
        return ConversationResult(outcome, reason, self.turns, self.recorder, self.slots)
