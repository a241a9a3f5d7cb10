"""Reads, always scoped to a tenant: views, admin, API and the demo go through these."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Aggregate, Avg, Count, Exists, FloatField, Max, Min, OuterRef, Q, QuerySet
from django.db.models.functions import TruncHour

from campaigns.models import CallAttempt, Campaign, Contact, Membership, Tenant, Turn


def tenants_for_user(user) -> QuerySet[Tenant]:
    if not user.is_authenticated:
        return Tenant.objects.none()
    if user.is_superuser:
        return Tenant.objects.all()
    return Tenant.objects.filter(memberships__user=user)


def role_in(user, tenant_id: int) -> str | None:
    membership = Membership.objects.filter(user=user, tenant_id=tenant_id).first()
    return membership.role if membership else None


def campaigns_for(tenant_ids) -> QuerySet[Campaign]:
    return Campaign.objects.filter(tenant_id__in=tenant_ids)


@dataclass(frozen=True)
class Progress:
    contacts: int
    contacts_done: int  # reached an end: done (no retry left) or skipped (do-not-call, window never open, ...)
    attempts: int
    finished: int  # attempts finalised or cancelled
    by_disposition: dict[str, int]

    @property
    def percent(self) -> int:
        """Share of contacts that need nothing more: what a manager means by "how far along"."""
        return int(100 * self.contacts_done / self.contacts) if self.contacts else 0


def campaign_progress(campaign: Campaign) -> Progress:
    attempts = CallAttempt.objects.for_tenant(campaign.tenant_id).filter(campaign=campaign)
    totals = attempts.aggregate(
        total=Count("id"),
        finished=Count("id", filter=Q(status__in=[CallAttempt.Status.FINALIZED, CallAttempt.Status.CANCELLED])),
    )
    contacts = (
        Contact.objects.for_tenant(campaign.tenant_id)
        .filter(campaign=campaign)
        .aggregate(
            total=Count("id"), done=Count("id", filter=Q(status__in=[Contact.Status.DONE, Contact.Status.SKIPPED]))
        )
    )
    by_disposition = dict(
        attempts.exclude(disposition="").values_list("disposition").annotate(n=Count("id")).order_by("-n")
    )
    return Progress(contacts["total"], contacts["done"], totals["total"], totals["finished"], by_disposition)


def progress_for_campaigns(campaigns) -> dict[int, Progress]:
    """campaign_progress for many campaigns in three grouped queries (the home page polls this)."""
    ids = [c.id for c in campaigns]
    contacts = {
        row["campaign_id"]: row
        for row in Contact.objects.filter(campaign_id__in=ids)
        .values("campaign_id")
        .annotate(
            total=Count("id"), done=Count("id", filter=Q(status__in=[Contact.Status.DONE, Contact.Status.SKIPPED]))
        )
        .order_by()
    }
    attempts = {
        row["campaign_id"]: row
        for row in CallAttempt.objects.filter(campaign_id__in=ids)
        .values("campaign_id")
        .annotate(
            total=Count("id"),
            finished=Count("id", filter=Q(status__in=[CallAttempt.Status.FINALIZED, CallAttempt.Status.CANCELLED])),
        )
        .order_by()
    }
    by_disposition: dict[int, dict[str, int]] = {i: {} for i in ids}
    for campaign_id, disposition, n in (
        CallAttempt.objects.filter(campaign_id__in=ids)
        .exclude(disposition="")
        .values_list("campaign_id", "disposition")
        .annotate(n=Count("id"))
        .order_by("campaign_id", "-n")
    ):
        by_disposition[campaign_id][disposition] = n
    empty = {"total": 0, "done": 0, "finished": 0}
    return {
        i: Progress(
            contacts.get(i, empty)["total"],
            contacts.get(i, empty)["done"],
            attempts.get(i, empty)["total"],
            attempts.get(i, empty)["finished"],
            by_disposition[i],
        )
        for i in ids
    }


# --- campaign report -------------------------------------------------------------------------------------


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile: Percentile("field", 0.99) -> the interpolated 99th percentile."""

    function = "PERCENTILE_CONT"
    name = "Percentile"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be within [0, 1]")
        super().__init__(expression, fraction=float(fraction), **extra)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class CampaignStats:
    """A campaign's report figures. Rates are fractions (0..1) or None when there is nothing to divide by."""

    dialled: int  # attempts that went out to the carrier
    answered: int
    completed: int  # answered calls whose conversation reached an end node of the script
    talk_ms_avg: float | None  # over answered calls
    attempts_per_contact: float | None  # dialled attempts per contact dialled at least once
    active_hours: int  # clock hours in which at least one call was dialled
    first_dialed_at: dt.datetime | None
    last_dialed_at: dt.datetime | None
    turn_latency_p50_ms: float | None  # end of callee speech -> robot's first audio
    turn_latency_p99_ms: float | None
    asr_latency_p50_ms: float | None  # end of speech -> final text
    asr_latency_p99_ms: float | None
    asr_confidence_avg: float | None  # callee turns with a confidence

    @property
    def answer_rate(self) -> float | None:
        return _ratio(self.answered, self.dialled)

    @property
    def completion_rate(self) -> float | None:
        return _ratio(self.completed, self.answered)

    @property
    def calls_per_hour(self) -> float | None:
        """Dialled calls per hour in which the campaign dialled (nights outside the window do not dilute it)."""
        return _ratio(self.dialled, self.active_hours)


def campaign_stats(campaign: Campaign) -> CampaignStats:
    """Every figure is an aggregate computed by PostgreSQL: four queries whatever the campaign's size."""
    attempts = CallAttempt.objects.for_tenant(campaign.tenant_id).filter(campaign=campaign)
    dialled = Q(dialed_at__isnull=False)
    answered = Q(answered_at__isnull=False)
    calls = attempts.aggregate(
        dialled=Count("id", filter=dialled),
        answered=Count("id", filter=answered),
        completed=Count("id", filter=answered & Q(end_reason="robot_hangup")),
        talk_ms_avg=Avg("talk_ms", filter=answered),
        first=Min("dialed_at"),
        last=Max("dialed_at"),
    )
    active_hours = (
        attempts.filter(dialled).annotate(hour=TruncHour("dialed_at")).values("hour").distinct().order_by().count()
    )
    per_contact = (
        Contact.objects.for_tenant(campaign.tenant_id)
        .filter(campaign=campaign, attempts_made__gt=0)
        .aggregate(avg=Avg("attempts_made"))
    )
    turns = Turn.objects.for_tenant(campaign.tenant_id).filter(attempt__campaign=campaign)
    latency = turns.aggregate(
        turn_p50=Percentile("response_latency_ms", 0.5, filter=Q(response_latency_ms__isnull=False)),
        turn_p99=Percentile("response_latency_ms", 0.99, filter=Q(response_latency_ms__isnull=False)),
        asr_p50=Percentile("asr_latency_ms", 0.5, filter=Q(asr_latency_ms__isnull=False)),
        asr_p99=Percentile("asr_latency_ms", 0.99, filter=Q(asr_latency_ms__isnull=False)),
        confidence=Avg("confidence", filter=Q(speaker=Turn.Speaker.CALLEE, confidence__isnull=False)),
    )
    return CampaignStats(
        dialled=calls["dialled"],
        answered=calls["answered"],
        completed=calls["completed"],
        talk_ms_avg=calls["talk_ms_avg"],
        attempts_per_contact=per_contact["avg"],
        active_hours=active_hours,
        first_dialed_at=calls["first"],
        last_dialed_at=calls["last"],
        turn_latency_p50_ms=latency["turn_p50"],
        turn_latency_p99_ms=latency["turn_p99"],
        asr_latency_p50_ms=latency["asr_p50"],
        asr_latency_p99_ms=latency["asr_p99"],
        asr_confidence_avg=latency["confidence"],
    )


def calls_per_hour(campaign: Campaign, limit: int = 48) -> list[tuple[dt.datetime, int]]:
    """(hour, calls dialled in it) for the campaign's latest `limit` active hours, oldest first."""
    rows = (
        CallAttempt.objects.for_tenant(campaign.tenant_id)
        .filter(campaign=campaign, dialed_at__isnull=False)
        .annotate(hour=TruncHour("dialed_at"))
        .values_list("hour")
        .annotate(n=Count("id"))
        .order_by("-hour")[:limit]
    )
    return sorted(rows)


def campaign_intents(campaign: Campaign) -> list[str]:
    """Intents heard in this campaign's calls (the call list filters on them).

    A campaign's turns are millions of rows but its intents a handful: the distinct intents are skip-scanned through
    the index on Turn(intent, attempt) (one index probe per intent), then each is kept if one of this campaign's
    calls heard it (one probe through the same index and the attempt's primary key), instead of reading every
    turn of the campaign."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH RECURSIVE heard(intent) AS (
                (SELECT intent FROM campaigns_turn WHERE intent > '' ORDER BY intent LIMIT 1)
                UNION ALL
                SELECT (SELECT t.intent FROM campaigns_turn t WHERE t.intent > heard.intent ORDER BY t.intent LIMIT 1)
                FROM heard WHERE heard.intent IS NOT NULL
            )
            SELECT intent FROM heard
            WHERE intent IS NOT NULL AND (
                -- a subquery with LIMIT 1, not EXISTS: PostgreSQL would turn EXISTS into a join over every turn
                SELECT 1 FROM campaigns_turn t JOIN campaigns_callattempt a ON a.id = t.attempt_id
                WHERE t.intent = heard.intent AND t.tenant_id = %s AND a.campaign_id = %s LIMIT 1
            ) IS NOT NULL
            ORDER BY intent
            """,
            [campaign.tenant_id, campaign.id],
        )
        return [intent for (intent,) in cursor.fetchall()]


def campaign_calls(
    campaign: Campaign,
    disposition: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    intent: str = "",
) -> QuerySet[CallAttempt]:
    """The campaign's call attempts, newest first, filtered. Dates apply to when the call was dialled (or
    created, for attempts never dialled), in the server's time zone."""
    calls = (
        CallAttempt.objects.for_tenant(campaign.tenant_id)
        .filter(campaign=campaign)
        .select_related("contact")
        .order_by("-created_at", "-id")
    )
    if disposition:
        calls = calls.filter(disposition=disposition)
    if date_from:
        calls = calls.filter(
            Q(dialed_at__date__gte=date_from) | Q(dialed_at__isnull=True, created_at__date__gte=date_from)
        )
    if date_to:
        calls = calls.filter(Q(dialed_at__date__lte=date_to) | Q(dialed_at__isnull=True, created_at__date__lte=date_to))
    if intent:
        calls = calls.filter(
            Exists(Turn.objects.filter(tenant_id=campaign.tenant_id, attempt=OuterRef("pk"), intent=intent))
        )
    return calls
