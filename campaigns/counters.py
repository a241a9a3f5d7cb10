"""Reading, folding and recounting the per-campaign counters (campaigns/models/counters.py; the triggers that keep
them are in migration 0011).

A read sums the folded counters and the deltas not yet folded in one statement (one snapshot), so it is exact
whenever it runs; folding only keeps the number of delta rows small.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction

from campaigns.models import Campaign

# One folder or recount at a time (they would otherwise wait on each other's rows).
_LOCK_KEY = 0x18C0_0A7E


@dataclass
class Counts:
    """One campaign's counters by name, and the views of them the report needs."""

    values: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> int:
        return self.values.get(name, 0)

    def with_prefix(self, prefix: str) -> dict[str, int]:
        """{rest of the name: value} of the non-zero counters named prefix + rest."""
        return {name[len(prefix) :]: v for name, v in self.values.items() if name.startswith(prefix) and v}

    def contacts_by_status(self) -> dict[str, int]:
        return self.with_prefix("contacts:")

    def attempts_by(self) -> dict[tuple[str, str], int]:
        """{(status, disposition): attempts}."""
        return {tuple(key.split(":", 1)): n for key, n in self.with_prefix("attempts:").items()}

    def dialled_hours(self) -> list[tuple[dt.datetime, int]]:
        """(UTC hour, calls dialled in it) for every hour with calls, oldest first."""
        return sorted(
            (dt.datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC), n)
            for hour, n in self.with_prefix("dialled_hour:").items()
        )

    def histogram(self, prefix: str) -> list[tuple[int, int]]:
        """(value, how many) of an exact integer histogram, in increasing value."""
        return sorted((int(v), n) for v, n in self.with_prefix(prefix).items())


def percentile(histogram: list[tuple[int, int]], fraction: float) -> float | None:
    """PostgreSQL's PERCENTILE_CONT over the values a histogram counts: the same interpolation, exactly."""
    total = sum(n for _, n in histogram)
    if not total:
        return None
    position = fraction * (total - 1)
    low_rank, high_rank = math.floor(position), math.ceil(position)
    low = high = None
    seen = 0
    for value, n in histogram:
        seen += n
        if low is None and low_rank < seen:
            low = value
        if high_rank < seen:
            high = value
            break
    return float(low + (position - low_rank) * (high - low))


_READ = """
    SELECT campaign_id, name, sum(value) FROM (
        SELECT campaign_id, name, value FROM campaigns_campaigncounter WHERE tenant_id = %(tenant)s {scope}
        UNION ALL
        SELECT campaign_id, name, value FROM campaigns_campaigncounterdelta WHERE tenant_id = %(tenant)s {scope}
    ) c GROUP BY campaign_id, name
"""


def counts_for(tenant_id: int, campaign_ids: Iterable[int]) -> dict[int, Counts]:
    """The counters of some campaigns of one tenant: one query."""
    ids = list(campaign_ids)
    out: dict[int, Counts] = {i: Counts() for i in ids}
    if not ids:
        return out
    with connection.cursor() as cursor:
        cursor.execute(_READ.format(scope="AND campaign_id = ANY(%(ids)s)"), {"tenant": tenant_id, "ids": ids})
        for campaign_id, name, value in cursor.fetchall():
            out[campaign_id].values[name] = int(value)
    return out


def counts(tenant_id: int, campaign_id: int) -> Counts:
    return counts_for(tenant_id, [campaign_id])[campaign_id]


def totals(prefix: str) -> dict[str, int]:
    """Counters named prefix + rest, summed over every campaign of every tenant ({rest: value}): /metrics."""
    sql = """
        SELECT name, sum(value) FROM (
            SELECT name, value FROM campaigns_campaigncounter WHERE name LIKE %(like)s
            UNION ALL
            SELECT name, value FROM campaigns_campaigncounterdelta WHERE name LIKE %(like)s
        ) c GROUP BY name
    """
    like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with connection.cursor() as cursor:
        cursor.execute(sql, {"like": like})
        return {name[len(prefix) :]: int(value) for name, value in cursor.fetchall()}


def fold() -> int:
    """Move the deltas into the counters (the sweep does it periodically); returns the delta rows moved."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        cursor.execute(
            """
            WITH moved AS (
                DELETE FROM campaigns_campaigncounterdelta RETURNING tenant_id, campaign_id, name, value
            ), summed AS (
                INSERT INTO campaigns_campaigncounter (tenant_id, campaign_id, name, value)
                SELECT tenant_id, campaign_id, name, sum(value) FROM moved
                WHERE campaign_id IN (SELECT id FROM campaigns_campaign)  -- a deleted campaign's: dropped
                GROUP BY tenant_id, campaign_id, name
                ON CONFLICT (campaign_id, name) DO UPDATE SET value = campaigns_campaigncounter.value + EXCLUDED.value
            )
            SELECT count(*) FROM moved
            """
        )
        moved = cursor.fetchone()[0]
        # A deleted campaign's counters sum to zero already (its rows' deletions appended the opposite deltas):
        # its rows here are only dropped, under the same lock, so nothing else ever waits on them.
        cursor.execute(
            "DELETE FROM campaigns_campaigncounter k"
            " WHERE NOT EXISTS (SELECT 1 FROM campaigns_campaign c WHERE c.id = k.campaign_id)"
        )
        return moved


def rebuild(campaign_ids: Iterable[int] | None = None) -> None:
    """Recount the counters from the rows (all campaigns, or these). Writers wait while it runs: the deltas table is
    locked, so every change is either in the rows it counts or appended after it (seconds per million rows)."""
    ids = None if campaign_ids is None else list(campaign_ids)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        cursor.execute("LOCK TABLE campaigns_campaigncounterdelta IN EXCLUSIVE MODE")
        cursor.execute("SELECT campaigns_recount_counters(%s::bigint[])", [ids])


def mismatches(campaign_ids: Iterable[int]) -> dict[int, dict[str, tuple[int, int]]]:
    """Counters that differ from a recount of the rows: {campaign: {name: (stored, counted)}}, empty when all
    agree. Changes nothing; writers wait while it runs (as for rebuild), so both sides see the same rows."""
    ids = list(campaign_ids)
    out: dict[int, dict[str, tuple[int, int]]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
        cursor.execute("LOCK TABLE campaigns_campaigncounterdelta IN EXCLUSIVE MODE")
        stored: dict[int, dict[str, int]] = defaultdict(dict)
        tenants = dict(
            Campaign.objects.filter(id__in=ids).values_list("id", "tenant_id")  # each campaign's own tenant
        )
        for campaign_id, tenant_id in tenants.items():
            stored[campaign_id] = {k: v for k, v in counts(tenant_id, campaign_id).values.items() if v}
        cursor.execute("SAVEPOINT recount")
        cursor.execute("SELECT campaigns_recount_counters(%s::bigint[])", [ids])
        cursor.execute(
            "SELECT campaign_id, name, value FROM campaigns_campaigncounter WHERE campaign_id = ANY(%s::bigint[])",
            [ids],
        )
        counted: dict[int, dict[str, int]] = defaultdict(dict)
        for campaign_id, name, value in cursor.fetchall():
            counted[campaign_id][name] = int(value)
        cursor.execute("ROLLBACK TO SAVEPOINT recount")
    for campaign_id in ids:
        have, want = stored[campaign_id], counted[campaign_id]
        differ = {n: (have.get(n, 0), want.get(n, 0)) for n in have.keys() | want.keys() if have.get(n) != want.get(n)}
        if differ:
            out[campaign_id] = differ
    return out
