"""Handing the callee to a person (a script's `transfer` node), over the Call seam.

The line keeps running while the far end rings the target: the conversation sends silence (the callee is on
hold) and polls the transfer between frames, so the media clock, the recording and the call's liveness checks go
on as in any other wait. What happened is returned as a plain dict the conversation keeps in its result and the
campaign stores on the attempt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from pipeline.script import TRANSFER_TIMEOUT, render
from telephony.audio import frames
from telephony.interface import (
    SILENCE_FRAME,
    Call,
    CallEnded,
    DialResult,
    DialStatus,
    Frame,
    TransferResult,
    TransferStatus,
)

BRIDGE_LIMIT_MS = 3_600_000  # a bridged call is ended after an hour, whoever is still talking
_AFTER_DIAL = {
    DialStatus.BUSY: TransferStatus.BUSY,
    DialStatus.NO_ANSWER: TransferStatus.NO_ANSWER,
    DialStatus.REJECTED: TransferStatus.REFUSED,
}


def run_transfer(
    call: Call, exchange: Callable[[bytes], Frame], target: str, timeout: float
) -> tuple[TransferResult, dict]:
    """Transfer the call to `target` and wait for how it ends; (result, record for the attempt).

    Raises CallEnded when the line drops before the transfer is known to have connected; the record is then on
    the exception as `transfer` (the conversation stores it either way)."""
    started = call.elapsed_ms
    record: dict = {"target": target, "mode": "cold", "started_ms": started}
    try:
        transfer = call.transfer(target, timeout)
    except RuntimeError as exc:  # the call ended just before: nothing was sent
        result = TransferResult(TransferStatus.FAILED, None, str(exc))
        return result, _finished(record, result, call)
    try:
        while (result := transfer.result()) is None:
            exchange(SILENCE_FRAME)
    except CallEnded as ended:
        result = transfer.result() or TransferResult(TransferStatus.NO_REPORT, None, f"line ended ({ended.reason})")
        _finished(record, result, call)
        if result.status is TransferStatus.CONNECTED:  # the far end left once the person answered
            return result, record
        ended.transfer = record
        raise
    return result, _finished(record, result, call)


def _finished(record: dict, result: TransferResult, call: Call) -> dict:
    record.update(
        status=result.status.value, sip_code=result.sip_code, detail=result.detail[:200], ended_ms=call.elapsed_ms
    )
    return record


def run_warm_transfer(
    exchange: Callable[[bytes], Frame],
    elapsed_ms: Callable[[], int],
    dial: Callable[[str], DialResult],
    target: str,
    summary: np.ndarray,
) -> tuple[TransferResult, dict]:
    """Warm transfer by bridging in our agent: dial `target` (the callee hears silence meanwhile), tell the agent
    `summary` (speech, 8 kHz int16), then pass audio both ways until either side hangs up. (result, record).

    CONNECTED once the agent answered and the bridge ran; an agent who is busy, does not answer or declines leaves
    the callee with the robot. Raises CallEnded when the callee hangs up before the bridge (record on `.transfer`).
    """
    record: dict = {"target": target, "mode": "warm", "started_ms": elapsed_ms()}
    dialled: list[DialResult] = []
    dialler = threading.Thread(target=lambda: dialled.append(dial(target)), name="warm-transfer-dial", daemon=True)
    dialler.start()
    try:
        while dialler.is_alive():  # the callee's line is kept alive (and recorded) while the agent's phone rings
            exchange(SILENCE_FRAME)
    except CallEnded as ended:
        dialler.join()
        if dialled and dialled[0].call is not None:
            dialled[0].call.hangup()
        record.update(status=TransferStatus.NO_REPORT.value, detail="the callee hung up while the agent was rung")
        record["ended_ms"] = elapsed_ms()
        ended.transfer = record
        raise
    result = dialled[0] if dialled else DialResult(DialStatus.FAILED, None, detail="the dial raised")
    agent = result.call
    if agent is None:
        status = _AFTER_DIAL.get(result.status, TransferStatus.FAILED)
        outcome = TransferResult(status, result.sip_code, f"agent {result.status.value}: {result.detail}"[:200])
        record.update(status=status.value, sip_code=result.sip_code, detail=outcome.detail, ended_ms=elapsed_ms())
        return outcome, record
    record.update(sip_code=result.sip_code, agent_answered_ms=elapsed_ms())
    try:
        for chunk in frames(summary):  # the agent hears who it is while the callee still holds
            try:
                agent.exchange(chunk)
            except CallEnded:  # the agent hung up on the summary: declined
                outcome = TransferResult(TransferStatus.REFUSED, result.sip_code, "the agent hung up on the summary")
                record.update(status=outcome.status.value, detail=outcome.detail, ended_ms=elapsed_ms())
                return outcome, record
            exchange(SILENCE_FRAME)
        record["bridged_ms"] = elapsed_ms()
        heard_from_agent = SILENCE_FRAME
        while elapsed_ms() - record["bridged_ms"] < BRIDGE_LIMIT_MS:
            from_callee = exchange(heard_from_agent)
            heard_from_agent = agent.exchange(from_callee.pcm).pcm
    except CallEnded as ended:
        if "bridged_ms" not in record:  # the callee left during the summary: nobody to connect
            record.update(status=TransferStatus.NO_REPORT.value, detail="the callee hung up during the summary")
            record["ended_ms"] = elapsed_ms()
            ended.transfer = record
            raise
        # otherwise either side hung up during the bridge: the call is over for all three
    finally:
        agent.hangup()
    outcome = TransferResult(TransferStatus.CONNECTED, result.sip_code, "bridged in our agent")
    record.update(status=TransferStatus.CONNECTED.value, detail=outcome.detail, ended_ms=elapsed_ms())
    return outcome, record


DEFAULT_SUMMARY = (
    "Hello, I have {first_name} {last_name} on the line. Their last answer was: {last_answer}. Connecting you now."
)


def summary_context(context: dict, slots: dict, last_answer: str) -> dict:
    """What a warm transfer's summary template can use: the contact's fields, the call's slots, the last answer."""
    simple = {key: value for key, value in slots.items() if isinstance(value, str | int | float)}
    return {**context, **simple, "last_answer": last_answer}


def transfer_for_node(
    call: Call,
    exchange: Callable[[bytes], Frame],
    speak: Callable[[str], np.ndarray],
    dial: Callable[[str], DialResult] | None,
    node: dict,
    summary_fields: dict,
) -> tuple[TransferResult, dict]:
    """A script's transfer node: cold (REFER) or warm (dial, summary, bridge: needs `dial`, the carrier's)."""
    if node.get("mode") != "warm":
        return run_transfer(call, exchange, node["to"], float(node.get("timeout", TRANSFER_TIMEOUT)))
    if dial is None:
        result = TransferResult(TransferStatus.FAILED, None, "warm transfer needs a carrier to dial the agent")
        return result, {"target": node["to"], "mode": "warm", "status": result.status.value, "detail": result.detail}
    summary = speak(render(node.get("summary", DEFAULT_SUMMARY), summary_fields))
    return run_warm_transfer(exchange, lambda: call.elapsed_ms, dial, node["to"], summary)
