"""One rehearsal call, run by the `campaigns.rehearse_call` task on the dial queue (see campaigns.services.rehearsals).

Built like place_call's live call (campaigns.services.calls): the campaign's engines from campaigns.engines, the
carrier seam, pipeline.conversation over the rehearsal's copy of the script, the same disposition rules. The
carrier is always the simulated one and the number `persona:<name>:<seed>`; results go to the RehearsalCall row
only. Kept apart from rehearsals.py so web code that starts rehearsals loads no speech engine.
"""

from __future__ import annotations

import logging
import zoneinfo

from django.conf import settings
from django.utils import timezone

from campaigns import engines
from campaigns.models import Campaign, Rehearsal, RehearsalCall
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
    """Run one rehearsal call once. Returns 'ended' or 'not-claimed'."""
    claimed = RehearsalCall.objects.filter(id=call_id, status=RehearsalCall.Status.QUEUED).update(
        status=RehearsalCall.Status.DIALING, started_at=timezone.now()
    )
    if not claimed:
        return "not-claimed"
    row = RehearsalCall.objects.select_related("rehearsal__campaign").get(id=call_id)
    rehearsal, campaign = row.rehearsal, row.rehearsal.campaign
    fields = _run(row, rehearsal, campaign)
    fields["disposition"] = disposition_of(
        fields.get("dial_status", ""), fields.get("end_reason", ""), fields.get("outcome", ""), campaign.disposition_map
    )
    RehearsalCall.objects.filter(id=call_id).update(
        status=RehearsalCall.Status.ENDED, ended_at=timezone.now(), **fields
    )
    finish_if_done(rehearsal.id)
    return "ended"


def _run(row: RehearsalCall, rehearsal: Rehearsal, campaign: Campaign) -> dict:
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
