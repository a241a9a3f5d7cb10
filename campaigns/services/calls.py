"""The call lifecycle as services (the Celery tasks in campaigns.tasks only wrap these).

place_call: claim the attempt (guarded UPDATE), check the campaign state, do-not-call lists and the calling window
at the moment of dialling, take a channel under the trunk's limits, dial, run the conversation while renewing the
attempt's lease, store turns and the recording. finalize_call: disposition, retry or callback, webhooks, campaign
completion.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import zoneinfo
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from campaigns import engines, prompt_stats
from campaigns.limits import ChannelLimiter, Limit
from campaigns.models import CallAttempt, Campaign, Contact, Disposition, Turn
from campaigns.recordings import recording_path
from campaigns.services.campaigns import NoCallingWindow, add_to_do_not_call, calling_window_opens, is_blocked
from campaigns.services.dispatch import retry_at
from campaigns.services.lifecycle import complete_if_done
from campaigns.services.webhooks import queue_call_completed
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
THROTTLED = "throttled"
# Script outcomes that are not dispositions themselves (a campaign's disposition_map may still override them).
OUTCOME_DISPOSITIONS = {"answering_machine": Disposition.NO_ANSWER}  # hung up on a machine: nobody reached


def save_turn(attempt: CallAttempt, index: int, turn: TurnRecord) -> Turn:
    """Store one turn of a live conversation as it happens (a crash mid-call keeps what was said)."""
    return Turn.objects.create(
        tenant_id=attempt.tenant_id,
        attempt_id=attempt.id,
        index=index,
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


def limits_for(campaign: Campaign) -> list[Limit]:
    limits = [Limit(f"campaign:{campaign.id}", campaign.max_concurrent_calls, campaign.calls_per_second)]
    if campaign.trunk_id:
        trunk = campaign.trunk
        limits.append(Limit(f"trunk:{trunk.id}", trunk.max_concurrent_calls, trunk.calls_per_second))
    return limits


def _lease_until() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=settings.CALL_LEASE_SECONDS)


def _claim(attempt_id: int) -> CallAttempt | None:
    claimed = CallAttempt.objects.filter(id=attempt_id, status=CallAttempt.Status.QUEUED).update(
        status=CallAttempt.Status.DIALING,
        claimed_at=timezone.now(),
        lease_expires_at=_lease_until(),
        worker=f"{socket.gethostname()}"[:200],
    )
    if not claimed:
        return None
    return CallAttempt.objects.select_related("campaign", "campaign__trunk", "contact").get(id=attempt_id)


def _release(attempt: CallAttempt, contact_status: str, contact_fields: dict | None = None, **fields) -> None:
    """Give up an attempt before dialling: nothing was dialled, so it does not count against max_attempts."""
    with transaction.atomic():
        CallAttempt.objects.filter(id=attempt.id, status=CallAttempt.Status.DIALING).update(**fields)
        Contact.objects.filter(id=attempt.contact_id).update(status=contact_status, **(contact_fields or {}))


class _LeaseKeeper(threading.Thread):
    """Renews the attempt's lease and its channels while the call runs, so only a dead worker's lease expires."""

    def __init__(self, attempt_id: int, limiter: ChannelLimiter, limits: list[Limit], call_id: str) -> None:
        super().__init__(daemon=True, name=f"lease-{attempt_id}")
        self.attempt_id, self.limiter, self.limits, self.call_id = attempt_id, limiter, limits, call_id
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(settings.CALL_LEASE_SECONDS / 3):
                CallAttempt.objects.filter(id=self.attempt_id, status=CallAttempt.Status.DIALING).update(
                    lease_expires_at=_lease_until()
                )
                self.limiter.renew(self.limits, self.call_id)
        finally:
            connection.close()


def place_call(attempt_id: int, now: dt.datetime | None = None) -> str:
    """Dial one attempt at most once. Returns 'ended', 'skipped', 'throttled' or 'not-claimed'."""
    attempt = _claim(attempt_id)
    if attempt is None:
        status = CallAttempt.objects.filter(id=attempt_id).values_list("status", flat=True).first()
        return "ended" if status == CallAttempt.Status.ENDED else "not-claimed"
    campaign, contact = attempt.campaign, attempt.contact
    now = now or timezone.now()

    if campaign.status != Campaign.Status.RUNNING:
        waiting = campaign.status == Campaign.Status.PAUSED
        _release(
            attempt,
            Contact.Status.PENDING if waiting else Contact.Status.SKIPPED,
            status=CallAttempt.Status.CANCELLED,
            error=f"campaign {campaign.status}",
        )
        return "skipped"
    if is_blocked(attempt.tenant_id, contact.phone):
        _release(
            attempt,
            Contact.Status.SKIPPED,
            {"skip_reason": "on the do-not-call list"},
            status=CallAttempt.Status.CANCELLED,
            error="on the do-not-call list",
        )
        complete_if_done(campaign.id)
        return "skipped"
    try:
        opens = calling_window_opens(campaign, contact.window_zones, now)
    except NoCallingWindow as exc:
        _release(
            attempt,
            Contact.Status.SKIPPED,
            {"skip_reason": str(exc)[:200]},
            status=CallAttempt.Status.CANCELLED,
            error=str(exc),
        )
        complete_if_done(campaign.id)
        return "skipped"
    if opens is not None:
        _release(
            attempt,
            Contact.Status.PENDING,
            {"next_attempt_at": opens},
            status=CallAttempt.Status.CANCELLED,
            error="outside the calling window",
            not_before=opens,
        )
        return "skipped"

    limiter, limits, call_id = (
        ChannelLimiter(settings.CALL_LEASE_SECONDS),
        limits_for(campaign),
        f"attempt:{attempt.id}",
    )
    refused = limiter.acquire(limits, call_id)
    if refused:
        # Back in the queue untouched; the task retries shortly.
        CallAttempt.objects.filter(id=attempt.id, status=CallAttempt.Status.DIALING).update(
            status=CallAttempt.Status.QUEUED, claimed_at=None, lease_expires_at=None
        )
        return THROTTLED
    keeper = _LeaseKeeper(attempt.id, limiter, limits, call_id)
    keeper.start()
    try:
        return _dial_and_talk(attempt, campaign, contact, now)
    finally:
        keeper.stopped.set()
        keeper.join(timeout=5)
        limiter.release(limits, call_id)


def _dial_and_talk(attempt: CallAttempt, campaign: Campaign, contact: Contact, now: dt.datetime) -> str:
    Contact.objects.filter(id=contact.id).update(attempts_made=F("attempts_made") + 1)
    CallAttempt.objects.filter(id=attempt.id).update(dialed_at=timezone.now())
    try:
        carrier = engines.carrier_for(campaign)
    except engines.CarrierConfigError as exc:
        CallAttempt.objects.filter(id=attempt.id).update(
            status=CallAttempt.Status.ENDED,
            dial_status=DialStatus.FAILED.value,
            ended_at=timezone.now(),
            error=str(exc),
        )
        return "ended"
    engines.warm_up_classifier()  # the model loads now, not while the callee waits for an answer
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
        save_turn(attempt, turn_index, turn)
        turn_index += 1
        if turn.intent == "opt_out":  # honoured at once, not after the call
            add_to_do_not_call(attempt.tenant_id, contact.phone, "asked during a call")

    conversation = Conversation(
        result.call,
        campaign.script,
        contact.template_context(),
        engines.speaker(
            campaign.tts_engine, campaign.voice, campaign.language, on_lookup=prompt_stats.lookup_counter(campaign.id)
        ),
        engines.asr_engine(campaign.language),
        now_local=now.astimezone(zoneinfo.ZoneInfo(contact.timezone)),
        on_turn=store_turn,
    )
    try:
        outcome = conversation.run()
    except Exception as exc:
        log.exception("call %s failed mid-conversation", attempt.id)
        CallAttempt.objects.filter(id=attempt.id).update(
            status=CallAttempt.Status.ENDED,
            end_reason="error",
            error=f"{type(exc).__name__}: {exc}"[:2000],
            ended_at=timezone.now(),
        )
        return "ended"
    finally:
        result.call.hangup()  # idempotent; also releases the media when the callee hung up first
    relative = recording_path(attempt)
    outcome.recorder.write_wav(Path(settings.MEDIA_ROOT) / relative)
    CallAttempt.objects.filter(id=attempt.id).update(
        status=CallAttempt.Status.ENDED,
        outcome=outcome.outcome,
        end_reason=outcome.end_reason.value,
        ended_at=timezone.now(),
        talk_ms=outcome.recorder.duration_ms,
        recording=relative,
        analysis={"slots": outcome.slots, **({"amd": outcome.amd} if outcome.amd else {})},
    )
    return "ended"


def disposition_for(attempt: CallAttempt) -> str:
    if attempt.dial_status in DIAL_DISPOSITIONS:
        return DIAL_DISPOSITIONS[attempt.dial_status]
    if attempt.end_reason in ("error", "worker_lost"):
        return Disposition.FAILED
    default = OUTCOME_DISPOSITIONS.get(attempt.outcome, attempt.outcome)
    mapped = (attempt.campaign.disposition_map or {}).get(attempt.outcome, default)
    return mapped if mapped in Disposition.values else Disposition.COMPLETED


def finalize_call(attempt_id: int, now: dt.datetime | None = None) -> bool:
    """ENDED -> FINALIZED once: disposition, then a retry or callback per policy, or the contact is done."""
    now = now or timezone.now()
    with transaction.atomic():
        attempt = (
            CallAttempt.objects.select_for_update()
            .select_related("campaign", "contact")
            .filter(id=attempt_id, status=CallAttempt.Status.ENDED)
            .first()
        )
        if attempt is None:
            return False
        attempt.disposition = disposition_for(attempt)
        attempt.status = CallAttempt.Status.FINALIZED
        attempt.save(update_fields=["disposition", "status"])
        contact = Contact.objects.select_for_update().get(id=attempt.contact_id)
        again = retry_at(attempt.campaign, contact, attempt, now)
        if again is not None:
            contact.status, contact.next_attempt_at = Contact.Status.PENDING, again
        else:
            contact.status = Contact.Status.DONE
        contact.save(update_fields=["status", "next_attempt_at"])
        queue_call_completed(attempt)
    complete_if_done(attempt.campaign_id)
    return True
