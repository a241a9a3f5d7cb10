"""Campaign results as CSV, streamed, and safe to open in a spreadsheet.

One row per call attempt; a contact never dialled (pending, skipped for the do-not-call list, cancelled)
still gets one row with empty call columns, so the export accounts for every contact. Any text cell that a
spreadsheet would read as a formula (starting with = + - @ tab or CR) is prefixed with a single quote; that
includes E.164 phone numbers, which start with "+".
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator

from django.db.models import F, Func

from campaigns.models import CallAttempt, Campaign, Contact

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BATCH = 2000  # contacts read per query
CHUNK_CHARS = 64 * 1024  # CSV text sent per write

# (CSV column, model field) in order: the header and the query are written from one list.
CONTACT_COLUMN_FIELDS = [
    ("contact_id", "id"),
    ("phone", "phone"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("timezone", "timezone"),
    ("contact_status", "status"),
    ("skip_reason", "skip_reason"),
]
CALL_COLUMN_FIELDS = [
    ("attempt", "attempt_number"),
    ("call_status", "status"),
    ("disposition", "disposition"),
    ("outcome", "outcome"),
    ("dial_status", "dial_status"),
    ("sip_code", "sip_code"),
    ("answered_at", "answered_at"),
    ("ended_at", "ended_at"),
    ("talk_ms", "talk_ms"),
    ("error", "error"),
    ("transcript", "full_transcript"),
]
CONTACT_COLUMNS = [column for column, _ in CONTACT_COLUMN_FIELDS]
CALL_COLUMNS = [column for column, _ in CALL_COLUMN_FIELDS]
MOMENT_CELLS = [CALL_COLUMNS.index("answered_at"), CALL_COLUMNS.index("ended_at")]  # written as ISO 8601


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


def _plain(value) -> object:
    """A custom field's value as one cell: lists and objects (from the API or a script) as JSON text."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


CONTACT_FIELDS = [field for _, field in CONTACT_COLUMN_FIELDS] + ["custom_fields"]
CALL_FIELDS = ["contact_id"] + [field for _, field in CALL_COLUMN_FIELDS]


def result_rows(campaign: Campaign, batch: int = BATCH) -> Iterator[list]:
    """The header, then the rows, read in batches of `batch` contacts by id (keyset: no cursor held open between
    batches, no model instances), each batch's calls in one query."""
    custom = custom_columns(campaign)
    yield [safe_cell(name) for name in [*CONTACT_COLUMNS, *CALL_COLUMNS, *custom]]
    contacts = Contact.objects.for_tenant(campaign.tenant_id).filter(campaign=campaign).order_by("id")
    calls = CallAttempt.objects.for_tenant(campaign.tenant_id).order_by("contact_id", "attempt_number")
    no_call = [""] * len(CALL_COLUMNS)
    after = 0
    while True:
        page = list(contacts.filter(id__gt=after).values_list(*CONTACT_FIELDS)[:batch])
        if not page:
            return
        after = page[-1][0]
        by_contact: dict[int, list[list]] = {}
        for contact_id, *call in calls.filter(contact_id__in=[c[0] for c in page]).values_list(*CALL_FIELDS):
            for cell in MOMENT_CELLS:
                call[cell] = _iso(call[cell])
            by_contact.setdefault(contact_id, []).append(call)
        for *head, custom_fields in page:
            tail = [_plain(custom_fields.get(name, "")) for name in custom]
            for call in by_contact.get(head[0]) or [no_call]:
                yield [safe_cell(value) for value in [*head, *call, *tail]]


def result_row_count(campaign: Campaign) -> int:
    """How many rows result_rows yields after its header: every call, plus one per contact never called."""
    contacts = Contact.objects.for_tenant(campaign.tenant_id).filter(campaign=campaign)
    calls = CallAttempt.objects.for_tenant(campaign.tenant_id).filter(contact__in=contacts).count()
    return calls + contacts.filter(attempts__isnull=True).count()


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list], chunk: int = CHUNK_CHARS) -> Iterator[str]:
    """CSV text in pieces of about `chunk` characters: one write to the client per piece, not per row."""
    writer = csv.writer(_Echo())
    pending: list[str] = []
    size = 0
    for row in rows:
        line = writer.writerow(row)
        pending.append(line)
        size += len(line)
        if size >= chunk:
            yield "".join(pending)
            pending, size = [], 0
    if pending:
        yield "".join(pending)
