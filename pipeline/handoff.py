"""Handing the callee to a person (a script's `transfer` node), over the Call seam.

The line keeps running while the far end rings the target: the conversation sends silence (the callee is on
hold) and polls the transfer between frames, so the media clock, the recording and the call's liveness checks go
on as in any other wait. What happened is returned as a plain dict the conversation keeps in its result and the
campaign stores on the attempt.
"""

from __future__ import annotations

from collections.abc import Callable

from telephony.interface import SILENCE_FRAME, Call, CallEnded, Frame, TransferResult, TransferStatus


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
