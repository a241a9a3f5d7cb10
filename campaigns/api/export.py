"""Campaign results as CSV, streamed, and safe to open in a spreadsheet.

One row per call attempt; a contact never dialled (pending, skipped for the do-not-call list, cancelled)
still gets one row with empty call columns, so the export accounts for every contact. Any text cell that a
spreadsheet would read as a formula (starting with = + - @ tab or CR) is prefixed with a single quote; that
includes E.164 phone numbers, which start with "+".
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from django.db.models import F, Func, Prefetch

from campaigns.models import CallAttempt, Campaign, Contact

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

CONTACT_COLUMNS = ["contact_id", "phone", "first_name", "last_name", "timezone", "contact_status", "skip_reason"]
CALL_COLUMNS = [
    "attempt",
    "call_status",
    "disposition",
    "outcome",
    "dial_status",
    "sip_code",
    "answered_at",
    "ended_at",
    "talk_ms",
    "error",
    "transcript",
]


def safe_cell(value) -> object:
    """A value as a CSV cell that no spreadsheet evaluates: text that could start a formula gets a quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def custom_columns(campaign: Campaign) -> list[str]:
    keys = (
        Contact.objects.filter(campaign=campaign)
        .annotate(key=Func(F("custom_fields"), function="jsonb_object_keys"))
        .values_list("key", flat=True)
        .order_by()
        .distinct()
    )
    return sorted(keys)


def _iso(moment) -> str:
    return moment.isoformat() if moment else ""


def result_rows(campaign: Campaign) -> Iterator[list]:
    custom = custom_columns(campaign)
    yield [safe_cell(name) for name in [*CONTACT_COLUMNS, *CALL_COLUMNS, *custom]]
    attempts = CallAttempt.objects.for_tenant(campaign.tenant_id).order_by("attempt_number")
    contacts = (
        Contact.objects.for_tenant(campaign.tenant_id)
        .filter(campaign=campaign)
        .order_by("id")
        .prefetch_related(Prefetch("attempts", queryset=attempts))
    )
    for contact in contacts.iterator(chunk_size=1000):
        head = [
            contact.id,
            contact.phone,
            contact.first_name,
            contact.last_name,
            contact.timezone,
            contact.status,
            contact.skip_reason,
        ]
        tail = [contact.custom_fields.get(name, "") for name in custom]
        calls: Iterable[list] = [
            [
                a.attempt_number,
                a.status,
                a.disposition,
                a.outcome,
                a.dial_status,
                a.sip_code,
                _iso(a.answered_at),
                _iso(a.ended_at),
                a.talk_ms,
                a.error,
                a.full_transcript,
            ]
            for a in contact.attempts.all()
        ] or [[""] * len(CALL_COLUMNS)]
        for call in calls:
            yield [safe_cell(value) for value in [*head, *call, *tail]]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)
