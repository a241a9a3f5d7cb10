"""The live conversation: walk the campaign script over an answered call, turn by turn.

Plain code, no Django: it gets a Call, a script, the contact's template context and the speech engines, and
reports each turn through `on_turn` as it happens (so a crash mid-call keeps what was said).

Barge-in: while an `ask` prompt plays, every incoming frame goes to an endpointer; once the callee has spoken
for `speech_start_ms` (60 ms by default), or pressed a key, the robot stops sending the prompt and listens to
that same utterance (its first frames included). Robot audio echoed back by the line does not count as speech:
during playback a frame must be louder than the robot's recent level minus `echo_margin_db`.

Opt-out confirmation and keypad entry: pipeline.callee_input.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipeline import amd, nlp
from pipeline.asr import ASREngine, answer_prompt
from pipeline.callee_input import (  # noqa: F401 (OPT_OUT_QUESTION, DTMF_INTERDIGIT_MS: re-exported)
    BUILTIN_NODES,
    DTMF_INTERDIGIT_MS,
    OPT_OUT_QUESTION,
    OPTED_OUT,
    classify_answer,
    confirmation,
    keypad_done,
    keypad_spec,
)
from pipeline.endpoint import EndOfTurn, EndpointConfig, Endpointer, State
from pipeline.handoff import summary_context, transfer_for_node
from pipeline.languages import pack
from pipeline.script import KEYPAD_TRANSFER, REPROMPT_PREFIX, TRANSFERRED, render  # noqa: F401 (REPROMPT_PREFIX: English, re-exported)
from pipeline.turn import follow_pause
from telephony.audio import CallRecorder, frames, rms_dbfs
from telephony.interface import FRAME_MS, SILENCE_FRAME, Call, CallEnded, DialResult, EndReason, Frame, TransferStatus

log = logging.getLogger(__name__)

PRE_ROLL_FRAMES = 16  # audio kept from before the detected speech start, so the first syllable is not cut (Silero
# confirms speech ~120 ms after its onset; whisper hears short answers best with ~200 ms of quiet before them)
NO_INPUT_TIMEOUT_MS = 6000
MAX_VISITS_PER_NODE = 3
ECHO_MARGIN_DB = 20.0  # during playback, callee audio must be within this of the robot's level to be speech
ECHO_WINDOW_FRAMES = 25  # the robot's level is its loudest frame over the last 500 ms (echo arrives late)


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
    interrupted: bool = False  # a robot prompt cut short by the callee (barge-in)
    end_of_turn: str = ""  # callee turns: why the turn ended (pipeline.endpoint.EndOfTurn)
    asr_wait_ms: int | None = None  # callee turns: how long the final decode waited for a free ASR worker
    pause_ms: int | None = None  # callee turns: media time from the end of speech to the end-of-turn decision


@dataclass
class ConversationResult:
    outcome: str
    end_reason: EndReason
    turns: list[TurnRecord]
    recorder: CallRecorder
    slots: dict = field(default_factory=dict)
    amd: dict | None = None  # answering-machine detection's verdict (pipeline.amd.Verdict), when it ran
    stuck_at: str = ""  # the node the robot gave up on: the script kept sending the call back to it
    transfer: dict | None = None  # the last hand-off to a person (pipeline.handoff): target, status, times


@dataclass
class _BargeIn:
    """Callee input that began while the robot was talking: the listening that follows continues it."""

    endpointer: Endpointer | None = None
    audio: list[bytes] = field(default_factory=list)  # pre-roll and frames since speech started
    speech_start: int = 0
    dtmf: str = ""


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
        barge_in: bool = True,
        echo_margin_db: float = ECHO_MARGIN_DB,
        dial: Callable[[str], DialResult] | None = None,
        language: str = "en",
    ) -> None:
        self.language = pack(language)  # re-ask and opt-out phrases, and how answers are understood
        self.call = call
        self.script = script
        self.context = context
        self.speak = speak
        self.asr = asr
        self.now_local = now_local
        self.on_turn = on_turn or (lambda turn: None)
        self.endpoint_config = endpoint_config or EndpointConfig()
        self.barge_in = bool(script.get("barge_in", barge_in))
        self.min_confidence = float(script.get("min_confidence", self.language.min_confidence))
        self.echo_margin_db = echo_margin_db
        self.recorder = CallRecorder()
        self.turns: list[TurnRecord] = []
        self.slots: dict = {}
        self._end_of_speech_at: float | None = None  # wall clock, for response latency
        self.amd: dict | None = None
        self.transfer: dict | None = None
        self.dial = dial  # places the agent's call of a warm transfer (the campaign's carrier)
        keypad = script.get("keypad_transfer") or {}
        self.keypad_transfer: tuple[str, str] | None = (keypad.get("key", "0"), keypad["node"]) if keypad else None

    # -- media ---------------------------------------------------------------------------------------

    def _exchange(self, outgoing: bytes) -> Frame:
        frame = self.call.exchange(outgoing)
        self.recorder.add(outgoing, frame.pcm)
        return frame

    def _say(self, node: str, text: str, barge_in: bool = False) -> _BargeIn | None:
        """Play a prompt. With barge-in, stop as soon as the callee speaks or presses a key, and say so."""
        audio = self.speak(text)
        latency = None
        if self._end_of_speech_at is not None:
            latency = int((time.monotonic() - self._end_of_speech_at) * 1000)
            self._end_of_speech_at = None
        start = self.call.elapsed_ms
        detector = Endpointer(self.endpoint_config) if barge_in else None
        pre_roll: deque[bytes] = deque(maxlen=PRE_ROLL_FRAMES)
        robot_levels: deque[float] = deque(maxlen=ECHO_WINDOW_FRAMES)
        heard = None
        for chunk in frames(audio):
            frame = self._exchange(chunk)
            if detector is None:
                continue
            now = self.call.elapsed_ms
            if frame.dtmf:
                heard = _BargeIn(dtmf=frame.dtmf, speech_start=now)
                break
            robot_levels.append(rms_dbfs(chunk))
            state = detector.feed(frame.pcm, now, min_dbfs=max(robot_levels) - self.echo_margin_db)
            if state is State.WAITING:
                pre_roll.append(frame.pcm)
                continue
            speech_start = max(start, now - (len(pre_roll) + 1) * FRAME_MS)
            heard = _BargeIn(detector, [*pre_roll, frame.pcm], speech_start)
            break
        turn = TurnRecord("robot", node, text, start, self.call.elapsed_ms, response_latency_ms=latency)
        if heard is not None:
            turn.interrupted = True
            turn.slots = {"interrupted_after_ms": self.call.elapsed_ms - start}
        self._record(turn)
        return heard

    def _listen(
        self, node: str, heard: _BargeIn | None = None, spec: dict | None = None, confirming: bool = False
    ) -> TurnRecord | None:
        """Listen for one utterance (or keypad entry); None when nothing came before the no-input timeout.

        `heard` is input that already began during the prompt (barge-in); listening continues it. `confirming`:
        the answer to OPT_OUT_QUESTION (classified by `_confirmation`).
        """
        spec = spec or {}
        heard = heard or _BargeIn()
        endpointer = heard.endpointer or Endpointer(self.endpoint_config)
        recognizer = self.asr.recognizer(self._expected_answers(spec, confirming))
        pre_roll: deque[bytes] = deque(maxlen=PRE_ROLL_FRAMES)
        started = self.call.elapsed_ms
        speech_start = heard.speech_start if heard.endpointer else None
        for pcm in heard.audio:
            recognizer.accept(pcm)
        digits, last_key_at = heard.dtmf, self.call.elapsed_ms
        first_key_at = heard.speech_start if heard.dtmf else None
        now = started
        try:
            while not keypad_done(digits, spec):
                frame = self._exchange(SILENCE_FRAME)
                now = self.call.elapsed_ms
                if frame.dtmf:
                    digits, last_key_at = digits + frame.dtmf, now
                    first_key_at = now if first_key_at is None else first_key_at
                    continue
                if digits:
                    if now - last_key_at >= DTMF_INTERDIGIT_MS:
                        break
                    continue
                state = endpointer.feed(frame.pcm, now)
                if state is State.WAITING:
                    pre_roll.append(frame.pcm)
                    if now - started >= NO_INPUT_TIMEOUT_MS:
                        return None
                    continue
                if speech_start is None:
                    speech_start = max(started, now - (len(pre_roll) + 1) * FRAME_MS)
                    for earlier in pre_roll:
                        recognizer.accept(earlier)
                recognizer.accept(frame.pcm)
                if follow_pause(endpointer, recognizer) is State.ENDED:
                    break
        except CallEnded:
            if speech_start is not None and not digits:  # hung up mid-answer: what they said is still kept
                self._callee_turn(node, recognizer, speech_start, now, EndOfTurn.HANG_UP, confirming)
            raise
        self._end_of_speech_at = time.monotonic()
        if digits:
            return self._keypad_turn(node, digits, spec, first_key_at, now)
        turn = self._callee_turn(node, recognizer, speech_start, now, endpointer.ended_by, confirming)
        turn.pause_ms = endpointer.pause_ms
        return turn

    def _expected_answers(self, spec: dict, confirming: bool) -> str | None:
        """Whisper's prompt: typical answers to the intents this node branches on (yes, no or stop when confirming
        an opt-out). Only the node's own: with every intent in it, espeak's "four two seven one" came back
        "four two, hammer one" (tests/pipeline/test_conversation.py); docs/NLU.md has the measurement."""
        if self.language.code != "en":  # the phrases are English; other languages' recognisers get none
            return None
        expected = ["affirm", "deny", "opt_out"] if confirming else list(spec.get("on", {}))
        return answer_prompt(expected) or None

    def _callee_turn(self, node, recognizer, start: int, end: int, ended_by, confirming: bool) -> TurnRecord:
        decided_at = self._end_of_speech_at or time.monotonic()
        transcript = recognizer.result()
        asr_latency = int((time.monotonic() - decided_at) * 1000)
        intent = classify_answer(
            transcript.text,
            transcript.confidence or 1.0,
            self.now_local,
            self.script.get("intents"),
            self.language.code,
            self.min_confidence,
        )
        if confirming:
            intent = confirmation(intent)
        turn = TurnRecord(
            "callee",
            node,
            transcript.text,
            start,
            end,
            intent=intent.name,
            confidence=transcript.confidence,
            slots=intent.slots,
            asr_latency_ms=asr_latency,
            end_of_turn=str(ended_by or ""),
            asr_wait_ms=transcript.wait_ms,
        )
        self._record(turn)
        return turn

    def _keypad_turn(self, node: str, digits: str, spec: dict, start: int, end: int) -> TurnRecord:
        intent = nlp.classify_dtmf(digits, spec.get("dtmf"))
        turn = TurnRecord(
            "callee", node, f"[keypad {digits}]", start, end, intent.name, intent.confidence, intent.slots
        )
        turn.end_of_turn = EndOfTurn.KEYPAD.value
        self._record(turn)
        return turn

    def _confirm_opt_out(self, name: str, barge_in: bool) -> bool:
        """Ask whether the callee wants no more calls; True when they said yes (the turn is an opt_out)."""
        heard = self._say(name, self.language.opt_out_question, barge_in=barge_in)
        turn = self._listen(name, heard, confirming=True)
        return turn is not None and turn.intent == "opt_out"

    def _record(self, turn: TurnRecord) -> None:
        self.turns.append(turn)
        self.on_turn(turn)

    # -- script --------------------------------------------------------------------------------------

    def run(self) -> ConversationResult:
        nodes = self.script["nodes"]
        name = self.script["start"]
        visits: dict[str, int] = {}
        try:
            if (machine := self._answering_machine()) is not None:
                return machine
            while True:
                node = nodes.get(name) or self._builtin_node(name)
                visits[name] = visits.get(name, 0) + 1
                if visits[name] > MAX_VISITS_PER_NODE + 1:
                    # The script loops back here whatever is said (an `otherwise` into a cycle): without this
                    # the robot would go round it until the task's time limit. Give up, politely silent.
                    self.call.hangup()
                    result = self._result("unclear", EndReason.ROBOT_HANGUP)
                    result.stuck_at = name
                    return result
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
                if node["type"] == "transfer":
                    if prompt:
                        self._say(name, prompt)
                    if self._hand_off(name, node):
                        self.call.hangup()
                        return self._result(TRANSFERRED, EndReason.ROBOT_HANGUP)
                    name = node["otherwise"]
                    continue
                name = self._ask(name, node, prompt, visits[name])
        except CallEnded as ended:
            self.transfer = getattr(ended, "transfer", self.transfer)
            outcome = "unclear" if ended.reason is EndReason.CALLEE_HANGUP else "completed"
            return self._result(outcome, ended.reason)

    def _hand_off(self, name: str, node: dict) -> bool:
        """Transfer to the node's target; True once the person has the callee. A robot turn records it."""
        start = self.call.elapsed_ms
        try:
            said = next((t.text for t in reversed(self.turns) if t.speaker == "callee"), "")
            summary = summary_context(self.context, self.slots, said)
            result, self.transfer = transfer_for_node(self.call, self._exchange, self.speak, self.dial, node, summary)
        except CallEnded as ended:
            self._record(TurnRecord("robot", name, f"[transfer to {node['to']}]", start, self.call.elapsed_ms))
            self.turns[-1].slots = {"transfer": getattr(ended, "transfer", {})}
            raise
        text = f"[transfer to {node['to']}: {result.status.value}]"
        self._record(TurnRecord("robot", name, text, start, self.call.elapsed_ms, slots={"transfer": self.transfer}))
        return result.status is TransferStatus.CONNECTED

    def _ask(self, name: str, node: dict, prompt: str, visit: int) -> str:
        if visit > MAX_VISITS_PER_NODE:
            return node["otherwise"]
        barge_in = bool(node.get("barge_in", self.barge_in))
        spec = keypad_spec(node, self.keypad_transfer)
        for attempt in range(2):  # ask, then re-ask once when nothing usable was heard
            reprompt = self.language.reprompt_prefix + prompt
            heard = self._say(name, prompt if attempt == 0 else reprompt, barge_in=barge_in)
            turn = self._listen(name, heard, spec)
            if turn is not None and turn.intent == KEYPAD_TRANSFER:
                return self.keypad_transfer[1]
            if turn is not None and turn.slots.get("probable_opt_out"):
                if self._confirm_opt_out(name, barge_in):
                    self.slots["opt_out_confirmation"] = True
                    return node["on"].get("opt_out", OPTED_OUT)
                continue  # not an opt-out after all: the question again (the re-ask)
            if turn is not None and turn.intent in node["on"]:
                self.slots.update(turn.slots)
                if node.get("capture"):  # the answer under the script's own name, e.g. "member_id"
                    value = turn.slots.get("digits") or turn.slots.get("callback_at") or turn.intent
                    self.slots[node["capture"]] = value
                return node["on"][turn.intent]
        return node["otherwise"]

    def _builtin_node(self, name: str) -> dict:
        if name == OPTED_OUT:
            return {**BUILTIN_NODES[name], "say": self.language.opted_out_say}
        return BUILTIN_NODES[name]

    def _result(self, outcome: str, reason: EndReason) -> ConversationResult:
        return ConversationResult(
            outcome, reason, self.turns, self.recorder, self.slots, self.amd, transfer=self.transfer
        )

    # -- answering-machine detection (pipeline.amd): only when the script has a "voicemail" setting --------

    def _answering_machine(self) -> ConversationResult | None:
        """Listen before speaking; on a machine, leave the voicemail message after the beep, or hang up.
        None: a person answered (their greeting is consumed) and the script starts."""
        voicemail = self.script.get("voicemail")
        if not voicemail:
            return None
        start = self.call.elapsed_ms
        detector = amd.screen_call(self._exchange)
        self.amd = detector.verdict.as_dict()
        if detector.verdict.verdict == amd.HUMAN:
            return None
        turn = TurnRecord("callee", "voicemail", "[answering machine]", start, self.call.elapsed_ms)
        turn.intent, turn.confidence, turn.slots = "answering_machine", detector.verdict.confidence, dict(self.amd)
        self._record(turn)
        if voicemail["action"] == "hang_up":
            self.call.hangup()
            return self._result("answering_machine", EndReason.ROBOT_HANGUP)
        try:
            self.amd["beep_heard"] = amd.wait_for_message_cue(detector, self._exchange)
            self.amd["beep_at_ms"] = detector.beep_at_ms
            self._say("voicemail", render(voicemail.get("say", ""), self.context))
        except CallEnded as ended:  # the machine hung up before the whole message was left
            return self._result("answering_machine", ended.reason)
        self.call.hangup()
        return self._result("voicemail_left", EndReason.ROBOT_HANGUP)
