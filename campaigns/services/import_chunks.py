"""Call-list import, pass 2: the rows validated and stored a chunk at a time (see campaigns.services.imports).

Per chunk: phone numbers validated once each (campaigns.phone_prefixes: phonenumbers' answer, reused for numbers
that share its deciding leading digits); the chunk's numbers looked up in the campaign, in this import's earlier
chunks and on the do-not-call lists with one query each; good rows COPYed into the contacts (through a temporary
table with ON CONFLICT DO NOTHING when a concurrent upload stored one of them first; each row formatted as COPY
text in a few string operations), rejected rows COPYed into ImportRejection, and the import's progress updated,
all in one transaction.
"""

from __future__ import annotations

import io
import json
import re
import zoneinfo
from json.encoder import encode_basestring as _json_string  # json.dumps(ensure_ascii=False)'s own

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns.languages import phone_region
from campaigns.models import Campaign, Contact, ContactImport
from campaigns.phone_prefixes import validate
from campaigns.phones import InvalidPhone
from campaigns.services.import_file import Layout

KNOWN_COLUMNS = {"first_name", "last_name", "timezone"}
MAX_FIELD = 100


class ImportSuperseded(RuntimeError):
    """Another worker moved this import on (a redelivered task); this one stops without writing."""


CONTACT_COLUMNS = (  # as written in _insert's SQL
    "tenant_id",
    "campaign_id",
    "contact_import_id",
    "phone",
    "first_name",
    "last_name",
    "timezone",
    "call_zones",
    "custom_fields",
    "status",
    "skip_reason",
    "attempts_made",
    "source_line",
    "created_at",
)
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")  # what COPY's text format escapes
_PENDING = Contact.Status.PENDING.value


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if type(value) is int:
        return str(value)
    return str(value).translate(_ESCAPES)


def _copy(cursor, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """COPY rows (tuples in `columns` order) into `table` through Django's connection (psycopg2)."""
    if rows:
        _copy_text(cursor, table, columns, "".join("\t".join(_copy_value(v) for v in row) + "\n" for row in rows))


def _copy_text(cursor, table: str, columns: tuple[str, ...], body: str) -> None:
    """COPY lines of COPY text, already formatted, into `table`."""
    with connection.wrap_database_errors:  # psycopg2's errors as Django's (IntegrityError...)
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO(body))


class ChunkWriter:
    """Validates one chunk of rows against the campaign and this import, and stores it in one transaction."""

    def __init__(self, campaign: Campaign, record: ContactImport, layout: Layout) -> None:
        self.campaign, self.record, self.layout = campaign, record, layout
        self.phone_index = layout.header.index(layout.phone_column)
        self.region = phone_region(campaign.language)
        self.zone_ok: dict[str, bool] = {}
        header = layout.header
        self.name_columns = [(name, header.index(name)) for name in ("first_name", "last_name") if name in header]
        self.zone_column = header.index("timezone") if "timezone" in header else None
        self.first_index = header.index("first_name") if "first_name" in header else None
        self.last_index = header.index("last_name") if "last_name" in header else None
        self.custom_columns = [  # (the key as JSON, its cell's index), in the file's order
            (_json_string(name), i)
            for i, name in enumerate(header)
            if name not in KNOWN_COLUMNS and name != layout.phone_column
        ]

    def _zone_known(self, zone: str) -> bool:
        known = self.zone_ok.get(zone)
        if known is None:
            try:
                zoneinfo.ZoneInfo(zone)
                known = True
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                known = False
            if len(self.zone_ok) < 10_000:
                self.zone_ok[zone] = known
        return known

    def parse(self, chunk: list[tuple[int, list[str]]]) -> list[tuple]:
        """Per row: (line, raw phone, cells, e164 or None, zones, reason or None): the checks that need no query."""
        width, index, region, parsed = len(self.layout.header), self.phone_index, self.region, []
        for line, row in chunk:
            raw = row[index].strip() if len(row) > index else ""
            if len(row) != width:
                parsed.append((line, raw, row, None, None, f"expected {width} columns, found {len(row)}"))
                continue
            try:
                e164, zones = validate(raw, region)
            except InvalidPhone as exc:
                parsed.append((line, raw, row, None, None, str(exc)))
                continue
            parsed.append((line, raw, row, e164, zones, None))
        return parsed

    def lookups(self, cursor, phones: list[str]) -> tuple[dict[str, int], set[str], set[str]]:
        """Earlier lines of this import per number, numbers already in the campaign, numbers not to call."""
        record, campaign = self.record, self.campaign
        cursor.execute(
            "SELECT phone, source_line, contact_import_id FROM campaigns_contact "
            "WHERE campaign_id = %s AND phone = ANY(%s)",
            [campaign.id, phones],
        )
        earlier, existing = {}, set()
        for phone, source_line, import_id in cursor.fetchall():
            if import_id == record.id and source_line is not None:
                earlier[phone] = source_line
            else:
                existing.add(phone)
        cursor.execute(
            "SELECT e164, MIN(line) FROM campaigns_importrejection "
            "WHERE contact_import_id = %s AND e164 <> '' AND e164 = ANY(%s) GROUP BY e164",
            [record.id, phones],
        )
        for phone, line in cursor.fetchall():
            earlier[phone] = min(line, earlier.get(phone, line))
        # DoNotCall.objects.blocking(tenant): the tenant's list and the global one (one array parameter, not 10,000)
        cursor.execute(
            "SELECT phone FROM campaigns_donotcall WHERE (tenant_id = %s OR tenant_id IS NULL) AND phone = ANY(%s)",
            [campaign.tenant_id, phones],
        )
        blocked = {phone for (phone,) in cursor.fetchall()}
        return earlier, existing, blocked

    def store(self, chunk: list[tuple[int, list[str]]], last_line: int, expected_line: int) -> tuple[int, int]:
        """Validate and store one chunk; returns (created, rejected). Raises ImportSuperseded when another worker
        has already stored past `expected_line`."""
        parsed = self.parse(chunk)
        campaign, record = self.campaign, self.record
        now = timezone.now()
        # the columns every row of the chunk shares, in CONTACT_COLUMNS order around the row's own
        head = f"{campaign.tenant_id}\t{campaign.id}\t{record.id}\t"
        tail = f"\t{now.isoformat()}\n"
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT resume_line FROM campaigns_contactimport WHERE id = %s FOR UPDATE", [record.id])
            found = cursor.fetchone()
            if found is None or found[0] != expected_line:
                raise ImportSuperseded(f"import {record.id} is at line {found and found[0]}, not {expected_line}")
            phones = list({p[3] for p in parsed if p[3] is not None})
            earlier, existing, blocked = self.lookups(cursor, phones) if phones else ({}, set(), set())
            seen: dict[str, int] = {}
            good, rejected = [], []
            for line, raw, row, phone, zones, reason in parsed:
                if reason is None:
                    first = earlier.get(phone) or seen.get(phone)
                    if first is not None:
                        reason = f"duplicate of line {first}"
                    else:
                        seen[phone] = line
                        reason = self._row_problem(phone, row, zones, existing, blocked)
                if reason is not None:
                    rejected.append((record.id, line, raw, reason, phone or ""))
                    continue
                good.append((phone, line, self._contact_line(head, phone, row, zones, line, tail)))
            created = self._insert(cursor, good, rejected)
            _copy(
                cursor,
                "campaigns_importrejection",
                ("contact_import_id", "line", "phone", "reason", "e164"),
                rejected,
            )
            cursor.execute(
                "UPDATE campaigns_contactimport SET rows = rows + %s, created_count = created_count + %s, "
                "rejected_count = rejected_count + %s, resume_line = %s, heartbeat_at = %s WHERE id = %s",
                [len(chunk), created, len(rejected), last_line, now, record.id],
            )
        return created, len(rejected)

    def _contact_line(self, head: str, phone: str, row: list[str], zones: list[str], line: int, tail: str) -> str:
        """One contact as a line of COPY text (CONTACT_COLUMNS), formatted in a few string operations: escaping only
        when a value holds a backslash, tab or line break, custom fields as json.dumps(..., ensure_ascii=False)
        writes them (the same encoder, the same separators)."""
        first = row[self.first_index].strip() if self.first_index is not None else ""
        last = row[self.last_index].strip() if self.last_index is not None else ""
        chosen = row[self.zone_column].strip() if self.zone_column is not None else ""
        call_zones = "[]" if chosen or len(zones) < 2 else json.dumps(zones)
        custom = "{" + ", ".join([f"{key}: {_json_string(row[i].strip())}" for key, i in self.custom_columns]) + "}"
        values = (first, last, chosen or zones[0], call_zones, custom)
        if _COPY_SPECIAL.search("".join(values)):
            values = [value.translate(_ESCAPES) for value in values]
        text = "\t".join(values)
        return f"{head}{phone}\t{text}\t{_PENDING}\t\t0\t{line}{tail}"

    def _row_problem(self, phone, row, zones, existing, blocked) -> str | None:
        if phone in existing:
            return "already in this campaign"
        if phone in blocked:
            return "on the do-not-call list"
        for name, index in self.name_columns:
            if len(row[index].strip()) > MAX_FIELD:
                return f"{name} is longer than {MAX_FIELD} characters"
        if self.zone_column is not None:
            zone = row[self.zone_column].strip()
            if zone:
                return None if self._zone_known(zone) else f"unknown time zone {zone!r}"
        if not zones:
            return "cannot tell the time zone from the number; add a timezone column"
        return None

    def _insert(self, cursor, good: list[tuple[str, int, str]], rejected: list[tuple]) -> int:
        """COPY straight into the contacts; when another upload stored one of these numbers since the lookup (a
        unique violation on (campaign, phone)), the chunk goes through this connection's temporary table instead
        and is inserted with ON CONFLICT DO NOTHING: the numbers it could not store are "already in this campaign"."""
        if not good:
            return 0
        body = "".join(text for _phone, _line, text in good)
        try:
            with transaction.atomic():  # a savepoint: a conflict undoes only this COPY
                _copy_text(cursor, "campaigns_contact", CONTACT_COLUMNS, body)
            return len(good)
        except IntegrityError:
            pass
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS import_chunk AS SELECT "
            "tenant_id, campaign_id, contact_import_id, phone, first_name, last_name, timezone, call_zones, "
            "custom_fields, status, skip_reason, attempts_made, source_line, created_at "
            "FROM campaigns_contact WITH NO DATA"
        )
        _copy_text(cursor, "import_chunk", CONTACT_COLUMNS, body)
        cursor.execute(
            "INSERT INTO campaigns_contact ("
            "tenant_id, campaign_id, contact_import_id, phone, first_name, last_name, timezone, call_zones, "
            "custom_fields, status, skip_reason, attempts_made, source_line, created_at) "
            "SELECT * FROM import_chunk "
            "ON CONFLICT (campaign_id, phone) DO NOTHING RETURNING phone"
        )
        stored = {phone for (phone,) in cursor.fetchall()}
        cursor.execute("TRUNCATE import_chunk")  # the connection's own table, kept for its next chunk
        if len(stored) < len(good):
            for phone, line, _text in good:
                if phone not in stored:  # a concurrent upload stored this number first
                    rejected.append((self.record.id, line, phone, "already in this campaign", phone))
            rejected.sort(key=lambda r: r[1])
        return len(stored)
