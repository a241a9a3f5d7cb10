"""One rehearsal call, run by the `campaigns.rehearse_call` task on the dial queue (see campaigns.services.rehearsals).

Built like place_call's live call (campaigns.services.calls): the campaign's engines from campaigns.engines, the
carrier seam, pipeline.conversation over the rehearsal's copy of the script, the same disposition rules. The
carrier is always the simulated one and the number `persona:<name>:<seed>`; results go to the RehearsalCall row
only. Kept apart from rehearsals.py so web code that starts rehearsals loads no speech engine.

Like a live call, the call is claimed with this worker's token and keeps a lease and a heartbeat
(call_guard.LeaseKeeper) while it runs: if the worker dies, recovery (rehearsals.recover_lost_calls) ends the call
and fails the rehearsal instead of leaving it running until the next one is started.
"""

from __future__ import annotations

import logging
import zoneinfo

import redis
from django.conf import settings
from django.utils import timezone

from campaigns import engines
from campaigns.limits import ChannelLimiter
from campaigns.models import Campaign, Rehearsal, RehearsalCall
from campaigns.services import call_guard
from campaigns.services.calls import disposition_of
from campaigns.services.rehearsals import finish_if_done
from pipeline.asr import ASRError
from pipeline.conversation import Conversation, TurnRecord
from pipeline.languages import UnsupportedLanguage
from pipeline.tts import TTSError
from telephony.personas import rehearsal_number

log = logging.getLogger(__name__)


def _turn_dict(turn: TurnRecord) -> dict:
    return {
        "speaker": turn.speaker,
        "node": turn.node,
        "text": turn.text,
        "intent": turn.intent,
        "confidence": turn.confidence,
        "slots": turn.slots,
        "start_ms": turn.start_ms,
        "end_ms": turn.end_ms,
        "interrupted": turn.interrupted,
    }


def place_rehearsal_call(call_id: int) -> str:
    """Run one rehearsal call once. Returns 'ended', 'not-claimed' (run already, or its rehearsal is over) or
    'lost' (recovery ended it while it ran: its worker was presumed dead)."""
    token = call_guard.new_token()
    claimed = RehearsalCall.objects.filter(
        id=call_id, status=RehearsalCall.Status.QUEUED, rehearsal__status=Rehearsal.Status.RUNNING
    ).update(
        status=RehearsalCall.Status.DIALING,
        started_at=timezone.now(),
        worker=token,
        lease_expires_at=call_guard.lease_until(),
    )
    if not claimed:
        return "not-claimed"
    row = RehearsalCall.objects.select_related("rehearsal__campaign").get(id=call_id)
    rehearsal, campaign = row.rehearsal, row.rehearsal.campaign
    live: list = []
    keeper = call_guard.LeaseKeeper(
        row.id,
        token,
        ChannelLimiter(settings.CALL_LEASE_SECONDS),
        [],  # a rehearsal call takes no channel of the campaign's or trunk's limits
        f"rehearsal-call:{row.id}",
        on_lost=lambda: [call.hangup() for call in live],
        model=RehearsalCall,
        prefix=call_guard.REHEARSAL_HEARTBEAT_PREFIX,
    )
    keeper.beat()
    keeper.start()
    try:
        fields = _run(row, rehearsal, campaign, live)
    finally:
        keeper.stop()
        try:
            call_guard.client().delete(call_guard.heartbeat_key(row.id, call_guard.REHEARSAL_HEARTBEAT_PREFIX))
        except redis.RedisError as exc:  # it expires by itself
            log.warning("rehearsal call %s: heartbeat not removed (%s)", row.id, exc)
    fields["disposition"] = disposition_of(
        fields.get("dial_status", ""), fields.get("end_reason", ""), fields.get("outcome", ""), campaign.disposition_map
    )

    def write() -> int:
        return RehearsalCall.objects.filter(id=call_id, status=RehearsalCall.Status.DIALING, worker=token).update(
            status=RehearsalCall.Status.ENDED, ended_at=timezone.now(), lease_expires_at=None, **fields
        )

    if not call_guard.retry_while_database_down(write, f"rehearsal call {call_id}: final write"):
        log.error("rehearsal call %s: ended by recovery while it ran; its result is not written", call_id)
        return "lost"
    finish_if_done(rehearsal.id)
    return "ended"


def _run(row: RehearsalCall, rehearsal: Rehearsal, campaign: Campaign, live: list) -> dict:
    try:
        carrier = engines.carrier_for(campaign, rehearsal=True)
        # No on_lookup: the campaign's prompt-cache figures count live calls only.
        speaker = engines.speaker(campaign.tts_engine, campaign.voice, campaign.language)
        recognizer_engine = engines.asr_engine(campaign.language)
    except (engines.CarrierConfigError, ASRError, TTSError, UnsupportedLanguage) as exc:
        return {"dial_status": "failed", "end_reason": "error", "error": f"not dialled: {exc}"[:2000]}
    result = carrier.dial(rehearsal_number(row.persona, row.seed), campaign.caller_id, settings.RING_TIMEOUT_SECONDS)
    if result.call is None:
        return {"dial_status": result.status.value}
    live.append(result.call)  # hung up by the lease keeper if recovery takes the call away
    turns: list[dict] = []
    lines = list(getattr(result.call, "lines", ()))
    conversation = Conversation(
        result.call,
        rehearsal.script,
        row.context,
        speaker,
        recognizer_engine,
        now_local=timezone.now().astimezone(zoneinfo.ZoneInfo(row.timezone)),
        on_turn=lambda turn: turns.append(_turn_dict(turn)),
        language=campaign.language,
    )
    try:
        outcome = conversation.run()
    except Exception as exc:
        log.exception("rehearsal call %s failed mid-conversation", row.id)
        return {
            "dial_status": "answered",
            "end_reason": "error",
            "error": f"{type(exc).__name__}: {exc}"[:2000],
            "turns": turns,
            "lines": lines,
        }
    finally:
        result.call.hangup()
    return {
        "dial_status": result.status.value,
        "end_reason": outcome.end_reason.value,
        "outcome": outcome.outcome,
        "stuck_at": outcome.stuck_at,
        "talk_ms": outcome.recorder.duration_ms,
        "turns": turns,
        "lines": lines,
    }
