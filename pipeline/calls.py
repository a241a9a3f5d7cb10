"""The call lifecycle as plain functions (the Celery tasks in pipeline.tasks only wrap these).

place_call: claim the attempt (guarded UPDATE), check do-not-call and the calling window at the moment of
dialling, dial, run the conversation, store turns and the recording. finalize_call: disposition and campaign
completion. analyze_call: full transcript of the recording and call figures.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import wave
import zoneinfo
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import CallAttempt, Campaign, Contact, Disposition, DoNotCall, Turn
from campaigns.services.campaigns import (
    NoCallingWindow,
    add_to_do_not_call,
    calling_window_opens,
    complete_if_done,
)
from pipeline import speech
from pipeline.conversation import Conversation, TurnRecord
from telephony.interface import DialStatus

log = logging.getLogger(__name__)

DIAL_DISPOSITIONS = {
    DialStatus.BUSY.value: Disposition.BUSY,
    DialStatus.NO_ANSWER.value: Disposition.NO_ANSWER,
    DialStatus.INVALID_NUMBER.value: Disposition.INVALID_NUMBER,
    DialStatus.REJECTED.value: Disposition.FAILED,
    DialStatus.FAILED.value: Disposition.FAILED,
}


def recording_path(attempt: CallAttempt) -> str:
    """Relative to MEDIA_ROOT; the tenant id leads so every file sits below its tenant's folder."""
    return f"tenant_{attempt.tenant_id}/recordings/campaign_{attempt.campaign_id}/attempt_{attempt.id}.wav"


def _claim(attempt_id: int) -> CallAttempt | None:
    claimed = CallAttempt.objects.filter(id=attempt_id, status=CallAttempt.Status.QUEUED).update(
        status=CallAttempt.Status.DIALING, claimed_at=timezone.now(), worker=socket.gethostname()[:200]
    )
    if not claimed:
        return None
    return CallAttempt.objects.select_related("campaign", "contact").get(id=attempt_id)


def _release(attempt: CallAttempt, **fields) -> None:
    CallAttempt.objects.filter(id=attempt.id, status=CallAttempt.Status.DIALING).update(**fields)


def place_call(attempt_id: int, now: dt.datetime | None = None) -> str:
    """Dial one attempt at most once. Returns what happened: 'ended', 'skipped', 'deferred:<iso>' or 'not-claimed'."""
    attempt = _claim(attempt_id)
    if attempt is None:
        status = CallAttempt.objects.filter(id=attempt_id).values_list("status", flat=True).first()
        return "ended" if status == CallAttempt.Status.ENDED else "not-claimed"
    campaign, contact = attempt.campaign, attempt.contact
    now = now or timezone.now()

    if campaign.status != Campaign.Status.RUNNING:
        _release(attempt, status=CallAttempt.Status.QUEUED, claimed_at=None)
        return "skipped"
    if DoNotCall.objects.for_tenant(attempt.tenant_id).filter(phone=contact.phone).exists():
        with transaction.atomic():
            _release(attempt, status=CallAttempt.Status.CANCELLED, error="on the do-not-call list")
            Contact.objects.filter(id=contact.id).update(
                status=Contact.Status.SKIPPED, skip_reason="on the do-not-call list"
            )
        complete_if_done(campaign.id)
        return "skipped"
    try:
        opens = calling_window_opens(campaign, contact.window_zones, now)
    except NoCallingWindow as exc:
        _release(attempt, status=CallAttempt.Status.CANCELLED, error=str(exc))
        Contact.objects.filter(id=contact.id).update(status=Contact.Status.SKIPPED, skip_reason=str(exc)[:200])
        complete_if_done(campaign.id)
        return "skipped"
    if opens is not None:
        _release(attempt, status=CallAttempt.Status.QUEUED, claimed_at=None, not_before=opens)
        return f"deferred:{opens.isoformat()}"

    carrier = speech.carrier_for(campaign.dry_run)
    result = carrier.dial(contact.phone, campaign.caller_id, settings.RING_TIMEOUT_SECONDS)
    if result.call is None:
        CallAttempt.objects.filter(id=attempt.id).update(
            status=CallAttempt.Status.ENDED,
            dial_status=result.status.value,
            sip_code=result.sip_code,
            ended_at=timezone.now(),
            error=result.detail if result.status is DialStatus.FAILED else "",
        )
        return "ended"

    CallAttempt.objects.filter(id=attempt.id).update(
        dial_status=result.status.value, sip_code=result.sip_code, answered_at=timezone.now()
    )
    turn_index = 0

    def store_turn(turn: TurnRecord) -> None:
        nonlocal turn_index
        Turn.objects.create(
            tenant_id=attempt.tenant_id,
            attempt_id=attempt.id,
            index=turn_index,
            speaker=turn.speaker,
            node=turn.node,
            text=turn.text,
            intent=turn.intent,
            confidence=turn.confidence,
            slots=turn.slots,
            start_ms=turn.start_ms,
            end_ms=turn.end_ms,
            asr_latency_ms=turn.asr_latency_ms,
            response_latency_ms=turn.response_latency_ms,
        )
        turn_index += 1
        if turn.intent == "opt_out":  # honoured at once, not after the call
            add_to_do_not_call(attempt.tenant_id, contact.phone, "asked during a call")

    conversation = Conversation(
        result.call,
        campaign.script,
        contact.template_context(),
        speech.speaker(campaign.tts_engine, campaign.voice, campaign.language),
        speech.asr_engine(campaign.language),
        now_local=now.astimezone(zoneinfo.ZoneInfo(contact.timezone)),
        on_turn=store_turn,
    )
    try:
        outcome = conversation.run()
    except Exception as exc:
        result.call.hangup()
        log.exception("call %s failed mid-conversation", attempt.id)
        CallAttempt.objects.filter(id=attempt.id).update(
            status=CallAttempt.Status.ENDED,
            end_reason="error",
            error=f"{type(exc).__name__}: {exc}"[:2000],
            ended_at=timezone.now(),
        )
        return "ended"
    relative = recording_path(attempt)
    outcome.recorder.write_wav(Path(settings.MEDIA_ROOT) / relative)
    CallAttempt.objects.filter(id=attempt.id).update(
        status=CallAttempt.Status.ENDED,
        outcome=outcome.outcome,
        end_reason=outcome.end_reason.value,
        ended_at=timezone.now(),
        talk_ms=outcome.recorder.duration_ms,
        recording=relative,
        analysis={"slots": outcome.slots},
    )
    return "ended"


def disposition_for(attempt: CallAttempt) -> str:
    if attempt.dial_status in DIAL_DISPOSITIONS:
        return DIAL_DISPOSITIONS[attempt.dial_status]
    if attempt.end_reason == "error":
        return Disposition.FAILED
    return attempt.outcome if attempt.outcome in Disposition.values else Disposition.COMPLETED


def finalize_call(attempt_id: int) -> bool:
    """ENDED -> FINALIZED once, with the disposition; closes the contact and, when last, the campaign."""
    attempt = CallAttempt.objects.filter(id=attempt_id, status=CallAttempt.Status.ENDED).first()
    if attempt is None:
        return False
    with transaction.atomic():
        moved = CallAttempt.objects.filter(id=attempt_id, status=CallAttempt.Status.ENDED).update(
            status=CallAttempt.Status.FINALIZED, disposition=disposition_for(attempt)
        )
        if moved:
            Contact.objects.filter(id=attempt.contact_id).update(status=Contact.Status.DONE)
    complete_if_done(attempt.campaign_id)
    return bool(moved)


def analyze_call(attempt_id: int) -> dict:
    """Post-call: whole-recording transcript of the callee channel and simple call figures. Idempotent."""
    attempt = CallAttempt.objects.filter(id=attempt_id).first()
    if attempt is None or not attempt.recording:
        return {}
    path = Path(settings.MEDIA_ROOT) / attempt.recording
    with wave.open(str(path), "rb") as w:
        stereo = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels())
    robot, callee = stereo[:, 0], stereo[:, 1]
    transcript = speech.asr_engine(attempt.campaign.language).transcribe(callee)
    turns = list(attempt.turns.all())
    confidences = [t.confidence for t in turns if t.confidence is not None]
    latencies = sorted(t.response_latency_ms for t in turns if t.response_latency_ms is not None)
    analysis = {
        **attempt.analysis,
        "duration_ms": int(len(robot) / 8),
        "robot_talk_ms": int(np.count_nonzero(np.abs(robot) > 300) / 8),
        "callee_talk_ms": int(np.count_nonzero(np.abs(callee) > 300) / 8),
        "callee_turns": sum(1 for t in turns if t.speaker == Turn.Speaker.CALLEE),
        "mean_asr_confidence": round(sum(confidences) / len(confidences), 3) if confidences else None,
        "max_response_latency_ms": latencies[-1] if latencies else None,
    }
    CallAttempt.objects.filter(id=attempt_id).update(full_transcript=transcript.text, analysis=analysis)
    return analysis
