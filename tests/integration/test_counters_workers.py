"""The per-campaign counters (report, progress, /metrics) against fresh COUNTs, with real calls placed, retried,
skipped and finalised by a real Celery worker (and its beat folding deltas) on Redis and PostgreSQL."""

import datetime as dt
import time

import pytest
from django.db.models import Count, Q

from campaigns import counters, selectors
from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall, Turn
from campaigns.services.lifecycle import start_campaign
from tests.factories import CampaignFactory, ContactFactory
from tests.support.workers import running_worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def fresh_counts(campaign: Campaign) -> dict:
    """What the report reads, counted from the rows with plain ORM aggregates (not the recount SQL)."""
    attempts = CallAttempt.objects.filter(campaign=campaign)
    turns = Turn.objects.filter(attempt__campaign=campaign)
    answered = Q(answered_at__isnull=False)
    return {
        "contacts": dict(Contact.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id"))),
        "attempts": {
            (s, d): n for s, d, n in attempts.values_list("status", "disposition").annotate(n=Count("id")).order_by()
        },
        "calls": attempts.aggregate(
            dialled=Count("id", filter=Q(dialed_at__isnull=False)),
            answered=Count("id", filter=answered),
            completed=Count("id", filter=answered & Q(end_reason="robot_hangup")),
        ),
        "latency": turns.aggregate(
            p50=selectors.Percentile("response_latency_ms", 0.5, filter=Q(response_latency_ms__isnull=False)),
            p99=selectors.Percentile("response_latency_ms", 0.99, filter=Q(response_latency_ms__isnull=False)),
        ),
    }


def counted(campaign: Campaign) -> dict:
    c = counters.counts(campaign.tenant_id, campaign.id)
    stats = selectors.campaign_stats(campaign)
    return {
        "contacts": c.contacts_by_status(),
        "attempts": c.attempts_by(),
        "calls": {"dialled": stats.dialled, "answered": stats.answered, "completed": stats.completed},
        "latency": {"p50": stats.turn_latency_p50_ms, "p99": stats.turn_latency_p99_ms},
    }


def test_counters_equal_fresh_counts_through_real_calls(tenant, outsider_tenant, settings, tmp_path):
    campaigns = []
    for owner, digits in ((tenant, "1245678"), (outsider_tenant, "16")):
        campaign = CampaignFactory(
            tenant=owner,
            window_start=dt.time(0),
            window_end=dt.time(23, 59, 59),
            max_attempts=2,
            retry_policy={"busy": 0, "no_answer": 0},  # busy and no-answer numbers are dialled twice
            max_concurrent_calls=4,
        )
        for n, digit in enumerate(digits * 2):
            ContactFactory(campaign=campaign, phone=f"+1202555{owner.id % 10}{n:02d}{digit}")
        campaigns.append(campaign)
    blocked = Contact.objects.filter(campaign=campaigns[0]).first()
    DoNotCall.objects.create(tenant=tenant, phone=blocked.phone, reason="skipped at dial time")

    with running_worker(settings, tmp_path / "worker.log", concurrency=2, SWEEP_INTERVAL_SECONDS=1) as worker:
        for campaign in campaigns:
            start_campaign(campaign)
        # While calls run, the counters already equal a recount of the same rows (the check locks out writers
        # for its duration, so both sides see one state).
        checks_mid_run, deadline = 0, time.monotonic() + 180
        while Campaign.objects.filter(id__in=[c.id for c in campaigns], status=Campaign.Status.RUNNING).exists():
            assert counters.mismatches([c.id for c in campaigns]) == {}
            checks_mid_run += 1
            assert worker.alive(), worker.log_tail()
            assert time.monotonic() < deadline, f"campaigns did not complete; worker log:\n{worker.log_tail()}"
            time.sleep(0.3)

    assert checks_mid_run >= 1
    for campaign in campaigns:
        fresh = fresh_counts(campaign)
        assert counted(campaign) == fresh
        assert fresh["calls"]["answered"] > 0 and fresh["latency"]["p50"] is not None  # real conversations ran
    first = fresh_counts(campaigns[0])
    assert first["contacts"][Contact.Status.SKIPPED] == 1  # the do-not-call number
    assert first["attempts"][(CallAttempt.Status.FINALIZED, "busy")] == 4  # two numbers, dialled twice each
    progress = selectors.campaign_progress(campaigns[0])
    assert (progress.contacts, progress.contacts_done, progress.percent) == (14, 14, 100)
    assert counters.mismatches([c.id for c in campaigns]) == {}
    counters.fold()
    assert counters.mismatches([c.id for c in campaigns]) == {}
