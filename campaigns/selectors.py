"""Reads, always scoped to a tenant: views, admin, API and the demo go through these."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Aggregate, Exists, FloatField, Max, Min, OuterRef, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns import counters
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


def _progress(c: counters.Counts) -> Progress:
    contacts = c.contacts_by_status()
    attempts: dict[str, int] = {}
    by_disposition: dict[str, int] = {}
    for (status, disposition), n in c.attempts_by().items():
        attempts[status] = attempts.get(status, 0) + n
        if disposition:
            by_disposition[disposition] = by_disposition.get(disposition, 0) + n
    return Progress(
        contacts=sum(contacts.values()),
        contacts_done=contacts.get(Contact.Status.DONE, 0) + contacts.get(Contact.Status.SKIPPED, 0),
        attempts=sum(attempts.values()),
        finished=attempts.get(CallAttempt.Status.FINALIZED, 0) + attempts.get(CallAttempt.Status.CANCELLED, 0),
        by_disposition=dict(sorted(by_disposition.items(), key=lambda item: -item[1])),
    )


def _counts(campaign: Campaign, read: counters.Counts | None) -> counters.Counts:
    """The campaign's counters: those a page already read for another figure, or one query."""
    return read if read is not None else counters.counts(campaign.tenant_id, campaign.id)


def campaign_progress(campaign: Campaign, read: counters.Counts | None = None) -> Progress:
    """From the campaign's counters (campaigns.counters): one query whatever the campaign's size."""
    return _progress(_counts(campaign, read))


def progress_for_campaigns(campaigns) -> dict[int, Progress]:
    """campaign_progress for many campaigns (the home page polls this): one query per tenant."""
    by_tenant: dict[int, list[int]] = {}
    for c in campaigns:
        by_tenant.setdefault(c.tenant_id, []).append(c.id)
    out: dict[int, Progress] = {}
    for tenant_id, ids in by_tenant.items():
        out.update({i: _progress(c) for i, c in counters.counts_for(tenant_id, ids).items()})
    return out


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


def campaign_stats(campaign: Campaign, read: counters.Counts | None = None) -> CampaignStats:
    """From the campaign's counters (campaigns.counters), plus its first and last dial through an index: two
    queries whatever the campaign's size. The latency percentiles are PERCENTILE_CONT's, recomputed exactly from
    integer-millisecond histograms; the confidence average is exact to a millionth."""
    c = _counts(campaign, read)
    span = (
        CallAttempt.objects.for_tenant(campaign.tenant_id)
        .filter(campaign=campaign, dialed_at__isnull=False)
        .aggregate(first=Min("dialed_at"), last=Max("dialed_at"))
    )
    turn_latency, asr_latency = c.histogram("turn_latency_ms:"), c.histogram("asr_latency_ms:")
    confidence_count = c.get("confidence_count")
    return CampaignStats(
        dialled=c.get("dialled"),
        answered=c.get("answered"),
        completed=c.get("completed"),
        talk_ms_avg=_ratio(c.get("talk_ms_sum"), c.get("talk_ms_count")),
        attempts_per_contact=_ratio(c.get("contact_attempts_made"), c.get("contacts_dialled")),
        active_hours=len(c.dialled_hours()),
        first_dialed_at=span["first"],
        last_dialed_at=span["last"],
        turn_latency_p50_ms=counters.percentile(turn_latency, 0.5),
        turn_latency_p99_ms=counters.percentile(turn_latency, 0.99),
        asr_latency_p50_ms=counters.percentile(asr_latency, 0.5),
        asr_latency_p99_ms=counters.percentile(asr_latency, 0.99),
        asr_confidence_avg=c.get("confidence_micros") / 1e6 / confidence_count if confidence_count else None,
    )


def calls_per_hour(
    campaign: Campaign, limit: int = 48, read: counters.Counts | None = None
) -> list[tuple[dt.datetime, int]]:
    """(hour, calls dialled in it) for the campaign's latest `limit` active hours, oldest first (UTC hours, from
    the counters; the server's zone is UTC)."""
    return _counts(campaign, read).dialled_hours()[-limit:]


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


def day_start(day: dt.date, zone: dt.tzinfo | None = None) -> dt.datetime:
    """The first instant of `day` in `zone` (default: the active time zone) as an aware datetime. A day whose
    midnight a DST change skips starts at its first existing instant (zoneinfo resolves the gap forward)."""
    zone = zone or timezone.get_current_timezone()
    local = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    return local.astimezone(dt.UTC).astimezone(zone)  # normalises a skipped midnight to the real instant


def campaign_calls(
    campaign: Campaign,
    disposition: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    intent: str = "",
) -> QuerySet[CallAttempt]:
    """The campaign's call attempts, newest first, filtered. Dates apply to when the call was dialled (or
    created, for attempts never dialled), in the active time zone; a list filtered by date is ordered by that
    moment, newest first (else by creation).

    Days are ranges of instants [start of date_from, start of the day after date_to), not `dialed_at::date`:
    a range is answered by the (campaign, dialed_at) index, a date cast of each row is not."""
    calls = (
        CallAttempt.objects.for_tenant(campaign.tenant_id)
        .filter(campaign=campaign)
        .select_related("contact")
        .order_by("-created_at", "-id")
    )
    if disposition:
        calls = calls.filter(disposition=disposition)
    if date_from or date_to:
        # When a call happened: dialled, or created for one never dialled. Filtered and ordered on that one
        # expression, so the (campaign, COALESCE(dialed_at, created_at), id) index serves the range, the count and
        # the page's order alike.
        when = Coalesce("dialed_at", "created_at")
        calls = calls.alias(when=when).order_by(when.desc(), "-id")
        if date_from:
            calls = calls.filter(when__gte=day_start(date_from))
        if date_to:
            calls = calls.filter(when__lt=day_start(date_to + dt.timedelta(days=1)))
    if intent:
        calls = calls.filter(
            Exists(Turn.objects.filter(tenant_id=campaign.tenant_id, attempt=OuterRef("pk"), intent=intent))
        )
    return calls
