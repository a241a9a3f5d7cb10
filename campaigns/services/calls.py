"""The call lifecycle as services (the Celery tasks in campaigns.tasks only wrap these).

place_call: claim the attempt (guarded UPDATE with this worker's token), check the campaign state, do-not-call
lists, the calling window and that no other attempt of the contact is live at the moment of dialling, build the
speech engines, take a channel under the trunk's limits, dial, run the conversation while a keeper renews the
lease and heartbeat (call_guard), store turns from a writer thread and the recording. finalize_call:
disposition, retry or callback, webhooks, campaign completion.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from campaigns import engines, prompt_stats
from campaigns.limits import ChannelLimiter, Limit
from campaigns.models import CallAttempt, Campaign, Contact, Disposition, DoNotCall, Turn
from campaigns.recordings import recording_path
from campaigns.services import call_guard
from campaigns.services.campaigns import NoCallingWindow, add_to_do_not_call, calling_window_opens, is_blocked
from campaigns.services.dispatch import retry_at
from campaigns.services.lifecycle import complete_if_done
from campaigns.services.script_versions import current_version
from campaigns.services.transfers import transfer_fields
from campaigns.services.webhooks import queue_call_completed
from pipeline.asr import ASRError
from pipeline.conversation import Conversation, TurnRecord
from pipeline.languages import UnsupportedLanguage
from pipeline.tts import TTSError
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
        end_of_turn=turn.end_of_turn,
        asr_wait_ms=turn.asr_wait_ms,
    )


def limits_for(campaign: Campaign) -> list[Limit]:
    limits = [Limit(f"campaign:{campaign.id}", campaign.max_concurrent_calls, campaign.calls_per_second)]
    if campaign.trunk_id:
        trunk = campaign.trunk
        limits.append(Limit(f"trunk:{trunk.id}", trunk.max_concurrent_calls, trunk.calls_per_second))
    return limits


def _claim(attempt_id: int, token: str) -> CallAttempt | None:
    """The guarded claim (queued -> dialing with this worker's token), then one read of everything the gate needs:
    the attempt, its campaign, trunk and contact, and, as of this moment, whether the number is on a do-not-call
    list and whether another attempt of the contact is live (two round trips instead of four)."""
    claimed = CallAttempt.objects.filter(id=attempt_id, status=CallAttempt.Status.QUEUED).update(
        status=CallAttempt.Status.DIALING,
        claimed_at=timezone.now(),
        lease_expires_at=call_guard.lease_until(),
        worker=token,
    )
    if not claimed:
        return None
    blocked = DoNotCall.objects.filter(
        Q(tenant_id=OuterRef("tenant_id")) | Q(tenant__isnull=True), phone=OuterRef("contact__phone")
    )
    other_live = CallAttempt.objects.filter(contact_id=OuterRef("contact_id"), status=CallAttempt.Status.DIALING)
    return (
        CallAttempt.objects.select_related("campaign", "campaign__trunk", "contact")
        .annotate(number_blocked=Exists(blocked), other_attempt_live=Exists(other_live.exclude(id=OuterRef("id"))))
        .get(id=attempt_id)
    )


def _ours(attempt: CallAttempt, token: str):
    """The attempt's row, only while this worker's claim on it stands (every write after the claim goes here)."""
    return CallAttempt.objects.filter(id=attempt.id, status=CallAttempt.Status.DIALING, worker=token)


def _release(attempt: CallAttempt, token: str, contact_status: str, contact_fields: dict | None = None, **fields):
    """Give up an attempt before dialling: nothing was dialled, so it does not count against max_attempts."""
    with transaction.atomic():
        if _ours(attempt, token).update(**fields):
            Contact.objects.filter(id=attempt.contact_id).update(status=contact_status, **(contact_fields or {}))


def _requeue(attempt: CallAttempt, token: str) -> str:
    """Back in the queue untouched (nothing dialled); the task tries again shortly, and the sweeper later if that
    message is lost with its worker or with Redis."""
    _ours(attempt, token).update(
        status=CallAttempt.Status.QUEUED, claimed_at=None, lease_expires_at=None, worker="", queued_at=timezone.now()
    )
    return THROTTLED


def _finish(attempt: CallAttempt, token: str, **fields) -> bool:
    """DIALING -> ENDED with the call's results, only if the attempt is still ours; retried while the database is
    away (the call is over: nothing waits on this but the worker slot)."""

    def write() -> int:
        return _ours(attempt, token).update(status=CallAttempt.Status.ENDED, ended_at=timezone.now(), **fields)

    if call_guard.retry_while_database_down(write, f"attempt {attempt.id}: final write"):
        return True
    log.error("attempt %s: ended by recovery while its call ran; this call's result is not written", attempt.id)
    return False


def place_call(attempt_id: int, now: dt.datetime | None = None) -> str:
    """Dial one attempt at most once. Returns 'ended', 'skipped', 'throttled' or 'not-claimed'."""
    token = call_guard.new_token()
    attempt = _claim(attempt_id, token)
    if attempt is None:
        status = CallAttempt.objects.filter(id=attempt_id).values_list("status", flat=True).first()
        return "ended" if status == CallAttempt.Status.ENDED else "not-claimed"
    # Signs of life from the moment of the claim: building engines or a slow gate must not pass for death.
    limiter, live = ChannelLimiter(settings.CALL_LEASE_SECONDS), []
    keeper = call_guard.LeaseKeeper(
        attempt.id, token, limiter, [], f"attempt:{attempt.id}", on_lost=lambda: [call.hangup() for call in live]
    )
    keeper.beat()
    keeper.start()
    try:
        return _claimed(attempt, token, now or timezone.now(), keeper, live)
    finally:
        keeper.stop()
        try:
            limiter.release(keeper.limits, keeper.call_id, also_delete=(call_guard.heartbeat_key(attempt.id),))
        except redis.RedisError as exc:  # the lease expires by itself
            log.warning("attempt %s: channel not released (%s); it frees when its lease runs out", attempt.id, exc)


def _claimed(attempt: CallAttempt, token: str, now: dt.datetime, keeper: call_guard.LeaseKeeper, live: list) -> str:
    campaign, contact = attempt.campaign, attempt.contact
    if campaign.status != Campaign.Status.RUNNING:
        waiting = campaign.status == Campaign.Status.PAUSED
        _release(
            attempt,
            token,
            Contact.Status.PENDING if waiting else Contact.Status.SKIPPED,
            status=CallAttempt.Status.CANCELLED,
            error=f"campaign {campaign.status}",
        )
        return "skipped"
    if attempt.number_blocked:  # read with the claim (no query); checked again just before the phone rings
        reason = "on the do-not-call list"
        skipped = {"skip_reason": reason}
        _release(attempt, token, Contact.Status.SKIPPED, skipped, status=CallAttempt.Status.CANCELLED, error=reason)
        complete_if_done(campaign.id)
        return "skipped"
    try:
        opens = calling_window_opens(campaign, contact.window_zones, now)
    except NoCallingWindow as exc:
        reason = str(exc)
        skipped = {"skip_reason": reason[:200]}
        _release(attempt, token, Contact.Status.SKIPPED, skipped, status=CallAttempt.Status.CANCELLED, error=reason)
        complete_if_done(campaign.id)
        return "skipped"
    if opens is not None:
        _release(
            attempt,
            token,
            Contact.Status.PENDING,
            {"next_attempt_at": opens},
            status=CallAttempt.Status.CANCELLED,
            error="outside the calling window",
            not_before=opens,
        )
        return "skipped"
    if attempt.other_attempt_live:  # read with the claim
        return _requeue(attempt, token)  # a person is never rung while another call to them is live

    # Everything the call needs is built before anyone's phone rings: a broken engine fails the attempt, unheard.
    try:
        carrier = engines.carrier_for(campaign)
        speaker = engines.speaker(
            campaign.tts_engine, campaign.voice, campaign.language, on_lookup=prompt_stats.lookup_counter(campaign.id)
        )
        recognizer_engine = engines.asr_engine(campaign.language)
        engines.warm_up_classifier(
            campaign.language
        )  # loaded now, before the gates: never between the last gate and the ring
    except (engines.CarrierConfigError, ASRError, TTSError, UnsupportedLanguage) as exc:
        _finish(attempt, token, dial_status=DialStatus.FAILED.value, error=f"not dialled: {exc}"[:2000])
        return "ended"

    limits = limits_for(campaign)
    try:
        refused = keeper.limiter.acquire(limits, keeper.call_id, live_calls=live_calls_by_limit)
    except redis.RedisError as exc:
        refused = f"Redis unavailable: {exc}"
    if refused:
        return _requeue(attempt, token)
    keeper.limits = limits  # renewed with the lease from now on, released when the call is over
    # Stamped with the moment Redis gave the dial slot: the calls-per-second limit holds on these stamps.
    dialing_at = dt.datetime.fromtimestamp(keeper.limiter.acquired_at_ms / 1000, tz=dt.UTC)
    return _dial_and_talk(
        attempt, token, campaign, contact, now, dialing_at, (carrier, speaker, recognizer_engine), live
    )


def live_calls_by_limit() -> dict[str, list[str]]:
    """Limit key -> call ids of the calls holding a channel now (claimed and dialled, lease alive): what the
    limiter rebuilds after Redis lost it. Claimed attempts still waiting for a channel hold none."""
    rows = CallAttempt.objects.filter(
        status=CallAttempt.Status.DIALING, dialed_at__isnull=False, lease_expires_at__gt=timezone.now()
    ).values_list("id", "campaign_id", "campaign__trunk_id")
    live: dict[str, list[str]] = {}
    for attempt_id, campaign_id, trunk_id in rows:
        live.setdefault(f"campaign:{campaign_id}", []).append(f"attempt:{attempt_id}")
        if trunk_id:
            live.setdefault(f"trunk:{trunk_id}", []).append(f"attempt:{attempt_id}")
    return live


def _dial_and_talk(attempt, token, campaign, contact, now, dialing_at, engines_ready, live) -> str:
    carrier, speaker, recognizer_engine = engines_ready

    # The script this call runs (campaign.script, read at the claim).
    version = call_guard.retry_while_database_down(lambda: current_version(campaign), f"attempt {attempt.id}: script")

    def started() -> bool:
        """dialed_at and the script version on our attempt and the contact's attempts_made + 1, in one statement
        (atomic by itself): the contact is counted only when the guarded write on the attempt matched, and the
        write matches only while the number is on no do-not-call list. Do-not-call is so checked last, in the
        statement that lets the phone ring: a number added while the engines loaded or the channel was awaited
        is never dialled."""
        with connection.cursor() as cursor:
            cursor.execute(
                "WITH ours AS (UPDATE campaigns_callattempt SET dialed_at = %s, script_version_id = %s "
                "WHERE id = %s AND status = %s AND worker = %s AND NOT EXISTS ("
                "  SELECT 1 FROM campaigns_donotcall d WHERE d.phone = %s AND (d.tenant_id = %s OR d.tenant_id IS NULL)"
                ") RETURNING contact_id) "
                "UPDATE campaigns_contact SET attempts_made = attempts_made + 1 FROM ours "
                "WHERE campaigns_contact.id = ours.contact_id RETURNING campaigns_contact.id",
                [
                    dialing_at,
                    version.id,
                    attempt.id,
                    CallAttempt.Status.DIALING.value,
                    token,
                    contact.phone,
                    attempt.tenant_id,
                ],
            )
            return cursor.fetchone() is not None

    if not call_guard.retry_while_database_down(started, f"attempt {attempt.id}: dial start"):
        if is_blocked(attempt.tenant_id, contact.phone):  # why the dial start did not match
            reason = "on the do-not-call list"
            skipped = {"skip_reason": reason}
            _release(attempt, token, Contact.Status.SKIPPED, skipped, status=CallAttempt.Status.CANCELLED, error=reason)
            complete_if_done(campaign.id)
            return "skipped"
        log.error("attempt %s: taken from this worker before dialling; not dialled", attempt.id)
        return "ended"
    result = carrier.dial(contact.phone, campaign.caller_id, settings.RING_TIMEOUT_SECONDS)
    if result.call is None:
        _finish(
            attempt,
            token,
            dial_status=result.status.value,
            sip_code=result.sip_code,
            error=result.detail if result.status is DialStatus.FAILED else "",
        )
        return "ended"
    live.append(result.call)

    # From here on the database is written from the writer's thread only, in order: the line never waits on it.
    writer = call_guard.TurnWriter(lambda write: write(), name=f"turns-{attempt.id}")
    writer.start()
    answered_at = timezone.now()
    writer.put(
        lambda: _ours(attempt, token).update(
            dial_status=result.status.value, sip_code=result.sip_code, answered_at=answered_at
        )
    )
    turn_index = 0

    def store_turn(turn: TurnRecord) -> None:
        nonlocal turn_index
        if turn.intent == "opt_out":  # honoured at once, not after the call
            writer.put(lambda: add_to_do_not_call(attempt.tenant_id, contact.phone, "asked during a call"))
        writer.put(lambda index=turn_index: save_turn(attempt, index, turn))
        turn_index += 1

    conversation = Conversation(
        result.call,
        campaign.script,
        contact.template_context(),
        speaker,
        recognizer_engine,
        now_local=now.astimezone(zoneinfo.ZoneInfo(contact.timezone)),
        on_turn=store_turn,
        dial=lambda target: carrier.dial(target, campaign.caller_id, settings.RING_TIMEOUT_SECONDS),
        language=campaign.language,
    )
    try:
        outcome = conversation.run()
    except Exception as exc:
        log.exception("call %s failed mid-conversation", attempt.id)
        writer.close()
        _finish(attempt, token, end_reason="error", error=f"{type(exc).__name__}: {exc}"[:2000])
        return "ended"
    finally:
        result.call.hangup()  # idempotent; also releases the media when the callee hung up first
    relative = recording_path(attempt)
    outcome.recorder.write_wav(Path(settings.MEDIA_ROOT) / relative)
    if not writer.close():
        log.error("attempt %s: turns still unwritten after %s s", attempt.id, settings.DATABASE_RETRY_SECONDS)
    lost = f"{len(writer.failed)} turn(s) not stored: {writer.failed[0][1]}"[:2000] if writer.failed else ""
    _finish(
        attempt,
        token,
        error=lost,
        outcome=outcome.outcome,
        end_reason=outcome.end_reason.value,
        talk_ms=outcome.recorder.duration_ms,
        recording=relative,
        analysis={
            "slots": outcome.slots,
            **({"amd": outcome.amd} if outcome.amd else {}),
            **({"transfer": outcome.transfer} if outcome.transfer else {}),
        },
        **transfer_fields(outcome.transfer, answered_at),
    )
    return "ended"


def disposition_for(attempt: CallAttempt) -> str:
    return disposition_of(attempt.dial_status, attempt.end_reason, attempt.outcome, attempt.campaign.disposition_map)


def disposition_of(dial_status: str, end_reason: str, outcome: str, disposition_map: dict | None) -> str:
    """A call's disposition from how it ended (live calls and rehearsal calls alike)."""
    if dial_status in DIAL_DISPOSITIONS:
        return DIAL_DISPOSITIONS[dial_status]
    if end_reason in ("error", "worker_lost"):
        return Disposition.FAILED
    default = OUTCOME_DISPOSITIONS.get(outcome, outcome)
    mapped = (disposition_map or {}).get(outcome, default)
    return mapped if mapped in Disposition.values else Disposition.COMPLETED


def finalize_call(attempt_id: int, now: dt.datetime | None = None, then_analyse=None) -> bool:
    """ENDED -> FINALIZED once: disposition, then a retry or callback per policy, or the contact is done.
    `then_analyse`: called once this finalize committed, for a call with a recording (a call without one has
    nothing to analyse)."""
    now = now or timezone.now()
    with transaction.atomic():
        # One read locks the attempt, its campaign and its contact (as before: a concurrent lifecycle change
        # waits), and the two writes go in one statement.
        attempt = (
            CallAttempt.objects.select_for_update()
            .select_related("campaign", "contact")
            # Only outbound attempts end here (they all have a contact); the condition on the contact's own column
            # makes its join inner, which FOR UPDATE needs (the foreign key is nullable for inbound callers).
            .filter(id=attempt_id, status=CallAttempt.Status.ENDED, contact__phone__isnull=False)
            .first()
        )
        if attempt is None:
            return False
        contact = attempt.contact
        attempt.disposition = disposition_for(attempt)
        attempt.status = CallAttempt.Status.FINALIZED
        again = retry_at(attempt.campaign, contact, attempt, now)
        if again is not None:
            contact.status, contact.next_attempt_at = Contact.Status.PENDING, again
        else:
            contact.status = Contact.Status.DONE
        # A call without a recording asks nothing outside PostgreSQL once finalized (no analysis; a webhook's
        # delivery row commits with it and a message for a lost row is a no-op), so its commit need not wait for
        # the WAL flush: it is lost only if PostgreSQL itself crashes within a fraction of a second, and then the
        # attempt is still ENDED and the sweeper finalizes it again; any later durable commit flushes it first.
        lazy = "" if attempt.recording else "SET LOCAL synchronous_commit TO off; "
        with connection.cursor() as cursor:
            cursor.execute(
                lazy  # noqa: S608 - two constant strings, the values are parameters
                + "WITH finalized AS (UPDATE campaigns_callattempt SET status = %s, disposition = %s WHERE id = %s) "
                "UPDATE campaigns_contact SET status = %s, next_attempt_at = %s WHERE id = %s",
                [attempt.status, attempt.disposition, attempt.id, contact.status, contact.next_attempt_at, contact.id],
            )
        queue_call_completed(attempt)
    if contact.status == Contact.Status.DONE:  # a contact waiting for its retry keeps the campaign running
        complete_if_done(attempt.campaign_id)
    if then_analyse is not None and attempt.recording:
        then_analyse()
    return True
