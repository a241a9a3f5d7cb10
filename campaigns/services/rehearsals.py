"""Rehearsals: a campaign's script and call list tried on virtual callees before anyone is called.

start_rehearsal checks the request (mix, persona names, number of calls, the script), picks a persona and a
contact's fields for each call with a seeded generator, stores a Rehearsal with its RehearsalCalls and sends one
`campaigns.rehearse_call` task per call on the dial queue. campaigns.services.rehearsal_calls runs one of them the way
place_call runs a live call (the same engines, carrier seam, Conversation and script) with these differences:

- the carrier is always the simulated one (engines.carrier_for(rehearsal=True)), on a virtual clock, and the
  number dialled is `persona:<name>:<seed>`: a contact's number is never read, let alone dialled;
- nothing is written to CallAttempt, Contact, Turn, the do-not-call list, webhooks or the prompt-cache figures,
  and no channel of the campaign's or trunk's limits is taken: live figures and /metrics never see a rehearsal.

The last call to finish writes the report (campaigns.services.rehearsal_report). A rehearsal whose worker died
does not stay running: recover_lost_calls (run with the live calls' recovery, every third of CALL_LEASE_SECONDS)
fails it as soon as one of its calls' lease and heartbeat have both lapsed, and fail_stalled (the sweeper) fails
one whose calls stopped finishing for three call lengths (their messages lost with Redis, say).
"""

from __future__ import annotations

import datetime as dt
import logging
import random

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns import enqueue
from campaigns.models import Campaign, Contact, Rehearsal, RehearsalCall
from campaigns.services import call_guard
from pipeline.script import ScriptError, validate_script
from telephony.personas import LIBRARY

log = logging.getLogger(__name__)

DEFAULT_MIX = {
    "agree": 40,
    "decline": 20,
    "callback": 10,
    "opt_out": 5,
    "wrong_person": 5,
    "voicemail": 10,
    "silent": 5,
    "repeat": 5,
}
SAMPLE_CONTEXT = {"first_name": "Alex", "last_name": "Sample"}  # a campaign without contacts yet


class RehearsalError(ValueError):
    """The request cannot be rehearsed; `field` names what to fix. Nothing was started."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RehearsalBusy(RuntimeError):
    """The campaign is being rehearsed already."""


def parse_mix(text: str) -> dict[str, int]:
    """'agree=40,decline=20' -> {'agree': 40, 'decline': 20}; RehearsalError for anything else."""
    mix: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            mix[name.strip()] = int(value) if sep else None
        except ValueError:
            raise RehearsalError("mix", f"{part!r}: write persona=percent, e.g. agree=40.") from None
        if mix[name.strip()] is None:
            raise RehearsalError("mix", f"{part!r}: write persona=percent, e.g. agree=40.")
    return mix


def check_mix(mix: object) -> dict[str, int]:
    if not isinstance(mix, dict) or not mix:
        raise RehearsalError("mix", 'Give the mix as persona -> percent, e.g. {"agree": 60, "decline": 40}.')
    unknown = sorted(name for name in mix if name not in LIBRARY)
    if unknown:
        raise RehearsalError("mix", f"Unknown persona {unknown[0]!r}; known personas: {', '.join(sorted(LIBRARY))}.")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in mix.values()):
        raise RehearsalError("mix", "Each percent is a whole number from 0 to 100.")
    total = sum(mix.values())
    if total != 100:
        raise RehearsalError("mix", f"The mix adds up to {total}; it must add up to 100.")
    return {name: share for name, share in mix.items() if share}


def apportion(calls: int, mix: dict[str, int]) -> dict[str, int]:
    """How many calls each persona gets: the largest-remainder method (exact for shares of 100 calls)."""
    exact = {name: calls * share / 100 for name, share in mix.items()}
    counts = {name: int(value) for name, value in exact.items()}
    left = calls - sum(counts.values())
    for name in sorted(exact, key=lambda n: (counts[n] - exact[n], n))[:left]:
        counts[name] += 1
    return counts


def _contexts(campaign: Campaign, calls: int, rng: random.Random) -> list[tuple[dict, str]]:
    """Fields (and zone) of the campaign's own contacts for each call, never their numbers."""
    ids = list(Contact.objects.filter(campaign=campaign).order_by("id").values_list("id", flat=True)[:5000])
    if not ids:
        return [(dict(SAMPLE_CONTEXT), "UTC")] * calls
    chosen = [ids[rng.randrange(len(ids))] for _ in range(calls)]
    rows = {
        c.id: c
        for c in Contact.objects.filter(id__in=set(chosen)).only("first_name", "last_name", "custom_fields", "timezone")
    }
    return [(rows[i].template_context(), rows[i].timezone) for i in chosen]


def start_rehearsal(
    campaign: Campaign, calls: int, mix: dict | None = None, actor=None, seed: int | None = None
) -> Rehearsal:
    """Check, store and send a rehearsal; RehearsalError or RehearsalBusy (nothing started) otherwise."""
    mix = check_mix(DEFAULT_MIX if mix is None else mix)
    limit = settings.REHEARSAL_MAX_CALLS
    if isinstance(calls, bool) or not isinstance(calls, int) or not 1 <= calls <= limit:
        raise RehearsalError("calls", f"A rehearsal places from 1 to {limit} calls (REHEARSAL_MAX_CALLS).")
    try:
        script = validate_script(campaign.script)
    except ScriptError as exc:
        raise RehearsalError("script", f"The campaign's script cannot run: {exc}") from None
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    rng = random.Random(seed)  # noqa: S311 (reproducible picks, not secrecy)
    personas = [name for name, count in apportion(calls, mix).items() for _ in range(count)]
    rng.shuffle(personas)
    contexts = _contexts(campaign, calls, rng)
    fail_stalled(campaign=campaign)
    try:
        with transaction.atomic():
            rehearsal = Rehearsal.objects.create(
                tenant_id=campaign.tenant_id,
                campaign=campaign,
                requested_by=actor if getattr(actor, "is_authenticated", False) else None,
                calls=calls,
                mix=mix,
                seed=seed,
                script=script,
            )
            rows = RehearsalCall.objects.bulk_create(
                RehearsalCall(
                    tenant_id=campaign.tenant_id,
                    rehearsal=rehearsal,
                    index=index,
                    persona=persona,
                    seed=rng.randrange(2**31),
                    context=context,
                    timezone=zone,
                )
                for index, (persona, (context, zone)) in enumerate(zip(personas, contexts, strict=True))
            )
            enqueue.rehearsal_calls([row.id for row in rows])
    except IntegrityError:
        raise RehearsalBusy(
            f"Campaign {campaign.name!r} is being rehearsed already; wait for that rehearsal's report."
        ) from None
    return rehearsal


def fail_stalled(now: dt.datetime | None = None, campaign: Campaign | None = None) -> int:
    """A rehearsal with no call finished for three call lengths lost its workers or its messages: it ends as
    failed rather than block the campaign's next rehearsal forever. Returns how many were failed."""
    now = now or timezone.now()
    stale = Rehearsal.objects.filter(
        status=Rehearsal.Status.RUNNING, updated_at__lt=now - dt.timedelta(seconds=3 * settings.CALL_MAX_SECONDS)
    )
    if campaign is not None:
        stale = stale.filter(campaign=campaign)
    return stale.update(
        status=Rehearsal.Status.FAILED,
        error=f"abandoned: no call finished for {3 * settings.CALL_MAX_SECONDS} s (3 x CALL_MAX_SECONDS); "
        "were its messages lost, or is no worker consuming 'dial'? Start it again.",
        finished_at=now,
        updated_at=now,
    )


def recover_lost_calls(now: dt.datetime | None = None) -> list[int]:
    """Rehearsal calls whose worker died (lease in PostgreSQL and heartbeat in Redis both lapsed, as for live
    calls in dispatch.recover_abandoned) are ended as lost and their rehearsals failed, naming the call: a report
    missing a call would mislead. The rehearsal's calls still queued are then never claimed, and a new rehearsal
    of the campaign can start. Returns the ids of the rehearsals failed."""
    now = now or timezone.now()
    stale = list(
        RehearsalCall.objects.filter(status=RehearsalCall.Status.DIALING, lease_expires_at__lt=now).values_list(
            "id", flat=True
        )[:500]
    )
    try:
        alive = call_guard.alive_in_redis(stale, call_guard.REHEARSAL_HEARTBEAT_PREFIX)
    except redis.RedisError as exc:
        log.warning("rehearsal recovery postponed: Redis cannot say which calls are alive (%s)", exc)
        return []
    failed = []
    for call_id in stale:
        still_dialing = RehearsalCall.objects.filter(
            id=call_id, status=RehearsalCall.Status.DIALING, lease_expires_at__lt=now
        )
        if alive[call_id]:
            still_dialing.update(lease_expires_at=call_guard.lease_until())
            continue
        lease = settings.CALL_LEASE_SECONDS
        with transaction.atomic():
            if not still_dialing.update(
                status=RehearsalCall.Status.ENDED,
                end_reason="worker_lost",
                ended_at=now,
                lease_expires_at=None,
                error=f"the worker running this call stopped; its lease expired (CALL_LEASE_SECONDS={lease})",
            ):
                continue
            call = RehearsalCall.objects.get(id=call_id)
            reason = (
                f"worker lost: the worker running call {call.index} ({call.persona}) stopped mid-call and its lease "
                f"expired (CALL_LEASE_SECONDS={lease}); the report would miss that call. Start the rehearsal again."
            )
            if Rehearsal.objects.filter(id=call.rehearsal_id, status=Rehearsal.Status.RUNNING).update(
                status=Rehearsal.Status.FAILED, error=reason, finished_at=now, updated_at=now
            ):
                failed.append(call.rehearsal_id)
        log.warning("rehearsal call %s: worker lost mid-call; rehearsal %s failed", call_id, call.rehearsal_id)
    return failed


def finish_if_done(rehearsal_id: int) -> bool:
    """The last call to end writes the report, once (the row lock orders concurrent finishers)."""
    from campaigns.services.rehearsal_report import build_report

    with transaction.atomic():
        rehearsal = Rehearsal.objects.select_for_update().get(id=rehearsal_id)
        rehearsal.updated_at = timezone.now()
        if rehearsal.status != Rehearsal.Status.RUNNING:
            return False
        pending = rehearsal.rehearsal_calls.exclude(status=RehearsalCall.Status.ENDED).exists()
        if pending:
            rehearsal.save(update_fields=["updated_at"])
            return False
        rehearsal.report = build_report(rehearsal)
        rehearsal.status = Rehearsal.Status.DONE
        rehearsal.finished_at = timezone.now()
        rehearsal.save(update_fields=["report", "status", "finished_at", "updated_at"])
    return True
