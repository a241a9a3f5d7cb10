"""The dispatcher: releases due contacts as call attempts, in bounded batches, and recovers dead workers' calls.

Runs every few seconds (Celery beat, `campaigns.tasks.dispatch`) and at once when a campaign starts. Memory is
bounded by the batch size whatever the campaign's size: a 100,000-contact campaign is read one batch at a time
through the (campaign, status, next_attempt_at) index. Safe to run on several hosts at once: contacts are locked
with SKIP LOCKED and attempts are unique per (contact, attempt number).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from campaigns import enqueue
from campaigns.models import CallAttempt, Campaign, Contact, Disposition, DoNotCall, WebhookDelivery
from campaigns.services import call_guard, imports
from campaigns.services.campaigns import NoCallingWindow, calling_window_opens
from campaigns.services.lifecycle import complete_if_done, end_campaign, start_campaign

log = logging.getLogger(__name__)

BATCH = 500
BACKLOG_PER_CHANNEL = 2  # attempts queued ahead of each free channel, so workers never wait on the dispatcher
ANALYSIS_GRACE = dt.timedelta(minutes=10)  # a recorded call not analysed by then lost its analysis message


def dispatch_due(now: dt.datetime | None = None) -> list[int]:
    """Start scheduled campaigns that are due and release due contacts of running ones. Returns attempt ids."""
    now = now or timezone.now()
    for campaign in Campaign.objects.filter(status=Campaign.Status.SCHEDULED, starts_at__lte=now):
        start_campaign(campaign, note="scheduled start")
    released: list[int] = []
    for campaign in Campaign.objects.filter(status=Campaign.Status.RUNNING).select_related("trunk"):
        released += dispatch_campaign(campaign, now)
    return released


def channel_limit(campaign: Campaign) -> int:
    if campaign.trunk_id:
        return min(campaign.max_concurrent_calls, campaign.trunk.max_concurrent_calls)
    return campaign.max_concurrent_calls


def dispatch_campaign(campaign: Campaign, now: dt.datetime) -> list[int]:
    if campaign.ends_at and now >= campaign.ends_at:
        end_campaign(campaign)
        return []
    in_flight = CallAttempt.objects.filter(
        campaign=campaign, status__in=[CallAttempt.Status.QUEUED, CallAttempt.Status.DIALING]
    ).count()
    room = min(BATCH, BACKLOG_PER_CHANNEL * channel_limit(campaign) - in_flight)
    if room <= 0:
        return []
    with transaction.atomic():
        due = list(
            Contact.objects.select_for_update(skip_locked=True)
            .filter(campaign=campaign, status=Contact.Status.PENDING)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by(F("next_attempt_at").asc(nulls_first=True), "id")[:room]
        )
        if not due:
            transaction.on_commit(lambda: complete_if_done(campaign.id))
            return []
        phones = [c.phone for c in due]
        blocked = set(
            DoNotCall.objects.blocking(campaign.tenant_id).filter(phone__in=phones).values_list("phone", flat=True)
        )
        last_numbers = dict(
            CallAttempt.objects.filter(contact__in=due).values_list("contact_id").annotate(n=Max("attempt_number"))
        )
        attempts, changed = [], []
        for contact in due:
            if contact.phone in blocked:
                contact.status, contact.skip_reason = Contact.Status.SKIPPED, "on the do-not-call list"
                changed.append(contact)
                continue
            try:
                opens = calling_window_opens(campaign, contact.window_zones, now)
            except NoCallingWindow as exc:
                contact.status, contact.skip_reason = Contact.Status.SKIPPED, str(exc)[:200]
                changed.append(contact)
                continue
            if opens is not None:
                contact.next_attempt_at = opens  # not due again until the window opens
                changed.append(contact)
                continue
            attempts.append(
                CallAttempt(
                    tenant_id=campaign.tenant_id,
                    campaign=campaign,
                    contact=contact,
                    attempt_number=last_numbers.get(contact.id, 0) + 1,
                    queued_at=now,
                )
            )
            contact.status = Contact.Status.QUEUED
            changed.append(contact)
        Contact.objects.bulk_update(changed, ["status", "skip_reason", "next_attempt_at"])
        created = CallAttempt.objects.bulk_create(attempts)
        ids = [a.id for a in created]
        if ids:
            enqueue.calls_released(campaign.id, ids)
    return ids


def retry_at(campaign: Campaign, contact: Contact, attempt: CallAttempt, now: dt.datetime) -> dt.datetime | None:
    """When to try this contact again, per the campaign's policy; None when it is done."""
    if campaign.status not in (Campaign.Status.RUNNING, Campaign.Status.PAUSED):
        return None
    callback_at = (attempt.analysis or {}).get("slots", {}).get("callback_at")
    if attempt.disposition == Disposition.CALLBACK_REQUESTED and callback_at:
        # A callee's own request is honoured once even past max_attempts.
        if contact.attempts_made <= campaign.max_attempts:
            return max(dt.datetime.fromisoformat(callback_at), now)
        return None
    delay = (campaign.retry_policy or {}).get(attempt.disposition)
    if delay is None or contact.attempts_made >= campaign.max_attempts:
        return None
    return now + dt.timedelta(minutes=float(delay))


def recover_abandoned(now: dt.datetime | None = None) -> list[int]:
    """Attempts whose dialling worker died are ended as failed; the contact then follows the retry policy. The
    attempt itself is never dialled again.

    Dead means both signs of life lapsed: the lease in PostgreSQL and the heartbeat in Redis. A worker that cannot
    write to the database (paused, restarting) still beats in Redis, so its lease is extended instead; when Redis
    cannot be asked, nobody is declared dead.
    """
    now = now or timezone.now()
    stale = list(
        CallAttempt.objects.filter(status=CallAttempt.Status.DIALING, lease_expires_at__lt=now).values_list(
            "id", flat=True
        )[:BATCH]
    )
    try:
        alive = call_guard.alive_in_redis(stale)
    except redis.RedisError as exc:
        log.warning("recovery postponed: Redis cannot say which calls are alive (%s)", exc)
        return []
    recovered = []
    for attempt_id in stale:
        still_dialing = CallAttempt.objects.filter(
            id=attempt_id, status=CallAttempt.Status.DIALING, lease_expires_at__lt=now
        )
        if alive[attempt_id]:
            still_dialing.update(lease_expires_at=call_guard.lease_until())
            log.warning("attempt %s: lease lapsed but its worker beats in Redis; lease extended", attempt_id)
            continue
        moved = still_dialing.update(
            status=CallAttempt.Status.ENDED,
            end_reason="worker_lost",
            ended_at=now,
            error=f"the dialling worker stopped; lease expired (CALL_LEASE_SECONDS={settings.CALL_LEASE_SECONDS})",
        )
        if moved:
            log.warning("attempt %s: worker lost mid-call, ended as failed", attempt_id)
            recovered.append(attempt_id)
    return recovered


@dataclass
class Stranded:
    """Work whose message is gone (its worker was killed holding it, Redis restarted): ids to send again."""

    queued: list[int] = field(default_factory=list)  # dial tasks (the claim makes a second message harmless)
    ended: list[int] = field(default_factory=list)  # finalize (runs once per attempt; it asks for the analysis)
    unanalysed: list[int] = field(default_factory=list)  # analyses of finalized, recorded calls
    webhooks: list[int] = field(default_factory=list)  # deliveries still pending long after their backoff
    imports: list[int] = field(default_factory=list)  # background imports no worker stored a chunk of lately


def find_stranded(now: dt.datetime | None = None) -> Stranded:
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.QUEUED_RESEND_SECONDS)
    queued = CallAttempt.objects.filter(status=CallAttempt.Status.QUEUED).filter(
        Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, created_at__lt=cutoff)
    )
    ended = CallAttempt.objects.filter(status=CallAttempt.Status.ENDED, ended_at__lt=cutoff)
    webhooks = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, created_at__lt=now - dt.timedelta(minutes=15)
    )
    unanalysed = (
        CallAttempt.objects.filter(status=CallAttempt.Status.FINALIZED, ended_at__lt=now - ANALYSIS_GRACE)
        .exclude(recording="")
        .exclude(analysis__has_key="duration_ms")
    )
    stranded = Stranded(queued=list(queued.values_list("id", flat=True)[:BATCH]))
    if stranded.queued:  # not stranded again for another QUEUED_RESEND_SECONDS
        CallAttempt.objects.filter(id__in=stranded.queued, status=CallAttempt.Status.QUEUED).update(queued_at=now)
    # The others have no timestamp of their last message: a mark in Redis keeps one re-send per period.
    stranded.ended = _not_resent_lately("ended", ended, settings.QUEUED_RESEND_SECONDS)
    stranded.unanalysed = _not_resent_lately("analysis", unanalysed, ANALYSIS_GRACE.total_seconds())
    stranded.webhooks = _not_resent_lately("webhook", webhooks, 15 * 60)
    stranded.imports = imports.stranded_imports(now)  # resumed after their last stored line, or failed
    return stranded


def _not_resent_lately(kind: str, rows, period_seconds: float) -> list[int]:
    ids = list(rows.values_list("id", flat=True)[:BATCH])
    if not ids:
        return []
    pipe = call_guard.client().pipeline()
    for row_id in ids:
        pipe.set(f"robocall:resent:{kind}:{row_id}", 1, nx=True, ex=max(int(period_seconds), 1))
    return [row_id for row_id, fresh in zip(ids, pipe.execute(), strict=True) if fresh]
