"""Calls to a campaign's caller id: which campaign and contact they are for, and the conversation.

take_call(incoming, trunk_id) is what the `answer_calls` command runs for each call the SIP agent offers
(telephony.sip.SipInbound): route by the called number (the newest campaign of the trunk's tenant with that caller
id), match the caller's number to a contact of those campaigns, store the call at once as an attempt with
`direction` inbound, take a channel under the trunk's channel limit and its inbound cap (Redis, the same limiter
as outbound calls), answer, and run the campaign's own script for a known contact, or for anyone else (unknown or
withheld number) a short script saying who called and offering to stop the calls. An opt-out goes on the
do-not-call list during the call; turns, recording and disposition are stored as for outbound calls.

Refusals are answered on the wire and, once a campaign is known, recorded: no campaign with that caller id is
404 (nothing stored: the number is nobody's); no free channel is 486 with the reason on the attempt.
"""

from __future__ import annotations

import logging
from pathlib import Path

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from campaigns import engines, enqueue
from campaigns.limits import ChannelLimiter, Limit
from campaigns.models import CallAttempt, Campaign, Contact, Trunk
from campaigns.recordings import recording_path
from campaigns.services import call_guard
from campaigns.services.calls import disposition_of, live_calls_by_limit, save_turn
from campaigns.services.campaigns import add_to_do_not_call
from campaigns.services.transfers import transfer_fields
from campaigns.services.webhooks import queue_call_completed
from pipeline.conversation import Conversation, TurnRecord
from telephony.sip import IncomingCall

log = logging.getLogger(__name__)

INBOUND_CALLS_PER_SECOND = 1000.0  # answering is not dialling: only the channel counts hold inbound calls
WHO_IS_CALLING: dict = {
    "start": "who",
    "nodes": {
        "who": {
            "type": "ask",
            "say": "Hello, this is the automated line of {organisation}. We called this number about {campaign}. "
            "If you would like us to stop calling you, say stop calling, or press 9. Otherwise you can hang up.",
            "on": {"opt_out": "opted_out", "ask_repeat": "who", "question": "who", "deny": "goodbye"},
            "dtmf": {"9": "opt_out"},
            "otherwise": "goodbye",
        },
        "opted_out": {"type": "end", "say": "Understood, we will not call you again. Goodbye.", "outcome": "opted_out"},
        "goodbye": {"type": "end", "say": "Thank you for calling back. Goodbye.", "outcome": "completed"},
    },
}


def as_e164(number: str) -> str:
    return number if number.startswith("+") else f"+{number}"


def route(trunk: Trunk, called: str, caller: str | None) -> tuple[Campaign, Contact | None] | None:
    """The campaign a call to `called` is for (the trunk's tenant's newest with that caller id) and the contact
    the caller is in those campaigns (their newest), or None when no campaign of the tenant uses that number."""
    numbers = {called, as_e164(called)}
    campaigns = Campaign.objects.for_tenant(trunk.tenant_id).filter(
        Q(caller_id__in=numbers) | Q(trunk=trunk, trunk__caller_id__in=numbers)
    )
    contact = None
    if caller:
        contact = (
            Contact.objects.for_tenant(trunk.tenant_id)
            .filter(campaign__in=campaigns, phone=as_e164(caller))
            .select_related("campaign", "campaign__tenant")
            .order_by("-campaign__created_at")
            .first()
        )
    if contact is not None:
        return contact.campaign, contact
    campaign = campaigns.select_related("tenant").order_by("-created_at").first()
    return (campaign, None) if campaign is not None else None


def inbound_limits(trunk: Trunk) -> list[Limit]:
    return [
        Limit(f"trunk:{trunk.id}", trunk.max_concurrent_calls, INBOUND_CALLS_PER_SECOND),
        Limit(f"inbound:{trunk.id}", trunk.max_inbound_calls, INBOUND_CALLS_PER_SECOND),
    ]


def _new_attempt(campaign: Campaign, contact: Contact | None, caller: str, token: str) -> CallAttempt:
    """The inbound attempt, numbered after the contact's others (retried if an outbound one takes the number)."""
    for _ in range(5):
        number = 1
        if contact is not None:
            number = (contact.attempts.aggregate(last=Max("attempt_number"))["last"] or 0) + 1
        try:
            with transaction.atomic():
                now = timezone.now()
                return CallAttempt.objects.create(
                    tenant_id=campaign.tenant_id, campaign=campaign, contact=contact, attempt_number=number,
                    direction=CallAttempt.Direction.INBOUND, caller=caller, status=CallAttempt.Status.DIALING,
                    worker=token, claimed_at=now, dialed_at=now, lease_expires_at=call_guard.lease_until(),
                )  # fmt: skip
        except IntegrityError:
            continue
    raise RuntimeError(f"no free attempt number for contact {contact and contact.id}")


def _close(attempt: CallAttempt, token: str, **fields) -> None:
    """DIALING -> FINALIZED in one step (nobody retries an inbound call), then the completion webhook."""
    fields.setdefault("dial_status", "answered")
    row = CallAttempt.objects.select_related("campaign").get(id=attempt.id)
    for name, value in fields.items():
        setattr(row, name, value)
    disposition = disposition_of(row.dial_status, row.end_reason, row.outcome, row.campaign.disposition_map)
    done = CallAttempt.objects.filter(id=attempt.id, status=CallAttempt.Status.DIALING, worker=token).update(
        status=CallAttempt.Status.FINALIZED, ended_at=timezone.now(), disposition=disposition, **fields
    )
    if done:
        queue_call_completed(CallAttempt.objects.select_related("campaign", "contact").get(id=attempt.id))
        if fields.get("recording"):  # transcript and recording format now; the sweeper catches a lost message
            try:
                enqueue.send("campaigns.analyze_call", attempt.id)
            except Exception as exc:  # the broker is away: campaigns.tasks.sweep sends it later
                log.warning("inbound attempt %s: analysis not queued (%s)", attempt.id, exc)


def take_call(incoming: IncomingCall, trunk_id: int) -> int | None:
    """Decide on, answer and hold one call to us; returns the attempt id (None when no campaign matched)."""
    trunk = Trunk.objects.get(id=trunk_id)
    routed = route(trunk, incoming.called, incoming.caller)
    if routed is None:
        incoming.reject(404, "Not Found")
        log.info("inbound call to %s from %s: no campaign uses that number", incoming.called, incoming.caller)
        return None
    campaign, contact = routed
    token = call_guard.new_token()
    attempt = _new_attempt(campaign, contact, incoming.caller or "", token)
    limiter, limits, live = ChannelLimiter(settings.CALL_LEASE_SECONDS), inbound_limits(trunk), []
    keeper = call_guard.LeaseKeeper(
        attempt.id, token, limiter, [], f"attempt:{attempt.id}", on_lost=lambda: [c.hangup() for c in live]
    )
    keeper.beat()
    keeper.start()
    try:
        try:
            refused = limiter.acquire(limits, keeper.call_id, live_calls=live_calls_by_limit)
        except redis.RedisError as exc:
            refused = f"Redis unavailable: {exc}"
        if refused:
            incoming.reject(486, "Busy Here")
            _close(attempt, token, dial_status="rejected", sip_code=486, error=f"not answered: {refused}"[:2000])
            return attempt.id
        keeper.limits = limits
        return _answer_and_talk(incoming, attempt, token, campaign, contact, live)
    finally:
        keeper.stop()
        try:
            limiter.release(keeper.limits, keeper.call_id)
        except redis.RedisError as exc:  # the lease expires by itself
            log.warning("inbound attempt %s: channel not released (%s)", attempt.id, exc)


def _answer_and_talk(incoming, attempt, token, campaign, contact, live) -> int:
    try:
        speaker = engines.speaker(campaign.tts_engine, campaign.voice, campaign.language)
        recognizer_engine = engines.asr_engine(campaign.language)
    except Exception as exc:  # engines that cannot run: refuse rather than answer into silence
        incoming.reject(503, "Service Unavailable")
        _close(attempt, token, dial_status="failed", sip_code=503, error=f"not answered: {exc}"[:2000])
        return attempt.id
    call = incoming.answer()
    if call is None:
        _close(attempt, token, dial_status="no_answer", error=incoming.detail[:2000])
        return attempt.id
    live.append(call)
    answered_at = timezone.now()
    CallAttempt.objects.filter(id=attempt.id).update(answered_at=answered_at, sip_code=200, dial_status="answered")
    number = contact.phone if contact is not None else (as_e164(incoming.caller) if incoming.caller else "")
    writer = call_guard.TurnWriter(lambda write: write(), name=f"turns-{attempt.id}")
    writer.start()
    index = 0

    def store_turn(turn: TurnRecord) -> None:
        nonlocal index
        if turn.intent == "opt_out" and number:  # honoured at once, not after the call
            writer.put(lambda: add_to_do_not_call(attempt.tenant_id, number, "asked during an inbound call"))
        writer.put(lambda i=index: save_turn(attempt, i, turn))
        index += 1

    if contact is not None:
        script, context = campaign.script, contact.template_context()
    else:
        script, context = WHO_IS_CALLING, {"organisation": campaign.tenant.name, "campaign": campaign.name}
    carrier = engines.carrier_for(campaign)  # a warm transfer dials the agent on the campaign's trunk
    dial = lambda target: carrier.dial(target, campaign.caller_id, settings.RING_TIMEOUT_SECONDS)  # noqa: E731
    conversation = Conversation(call, script, context, speaker, recognizer_engine, on_turn=store_turn, dial=dial)
    try:
        outcome = conversation.run()
    except Exception as exc:
        log.exception("inbound call %s failed mid-conversation", attempt.id)
        writer.close()
        _close(attempt, token, end_reason="error", error=f"{type(exc).__name__}: {exc}"[:2000])
        return attempt.id
    finally:
        call.hangup()
    relative = recording_path(attempt)
    outcome.recorder.write_wav(Path(settings.MEDIA_ROOT) / relative)
    writer.close()
    _close(
        attempt,
        token,
        outcome=outcome.outcome,
        end_reason=outcome.end_reason.value,
        talk_ms=outcome.recorder.duration_ms,
        recording=relative,
        analysis={"slots": outcome.slots, **({"transfer": outcome.transfer} if outcome.transfer else {})},
        **transfer_fields(outcome.transfer, answered_at),
    )
    return attempt.id
