"""Call-list import, pass 2: the rows validated and stored a chunk at a time (see campaigns.services.imports).

Per chunk: phone numbers parsed once each; the chunk's numbers looked up in the campaign, in this import's earlier
chunks and on the do-not-call lists with one query each; good rows COPYed into the contacts (through a temporary
table with ON CONFLICT DO NOTHING when a concurrent upload stored one of them first), rejected rows COPYed into
ImportRejection, and the import's progress updated, all in one transaction.
"""

from __future__ import annotations

import io
import json
import zoneinfo

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns.languages import phone_region
from campaigns.models import Campaign, Contact, ContactImport
from campaigns.phones import InvalidPhone, e164_and_zones
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


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if type(value) is int:
        return str(value)
    return str(value).translate(_ESCAPES)


def _copy(cursor, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """COPY rows (tuples in `columns` order) into `table` through Django's connection (psycopg2)."""
    if not rows:
        return
    body = "".join("\t".join(_copy_value(v) for v in row) + "\n" for row in rows)
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
                e164, zones = e164_and_zones(raw, region)
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
        header, phone_column, campaign, record = (
            self.layout.header,
            self.layout.phone_column,
            self.campaign,
            self.record,
        )
        now = timezone.now()
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
                values = {name: cell.strip() for name, cell in zip(header, row, strict=True)}
                zone = values.get("timezone", "") or zones[0]
                call_zones = zones if not values.get("timezone") and len(zones) > 1 else []
                custom = {k: v for k, v in values.items() if k not in KNOWN_COLUMNS and k != phone_column}
                good.append(
                    (
                        campaign.tenant_id,
                        campaign.id,
                        record.id,
                        phone,
                        values.get("first_name", ""),
                        values.get("last_name", ""),
                        zone,
                        json.dumps(call_zones) if call_zones else "[]",
                        json.dumps(custom, ensure_ascii=False),
                        Contact.Status.PENDING.value,
                        "",
                        0,
                        line,
                        now.isoformat(),
                    )
                )
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

    def _insert(self, cursor, good: list[tuple], rejected: list[tuple]) -> int:
        """COPY straight into the contacts; when another upload stored one of these numbers since the lookup (a
        unique violation on (campaign, phone)), the chunk goes through this connection's temporary table instead
        and is inserted with ON CONFLICT DO NOTHING: the numbers it could not store are "already in this campaign"."""
        if not good:
            return 0
        try:
            with transaction.atomic():  # a savepoint: a conflict undoes only this COPY
                _copy(cursor, "campaigns_contact", CONTACT_COLUMNS, good)
            return len(good)
        except IntegrityError:
            pass
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS import_chunk AS SELECT "
            "tenant_id, campaign_id, contact_import_id, phone, first_name, last_name, timezone, call_zones, "
            "custom_fields, status, skip_reason, attempts_made, source_line, created_at "
            "FROM campaigns_contact WITH NO DATA"
        )
        _copy(cursor, "import_chunk", CONTACT_COLUMNS, good)
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
            for row in good:
                if row[3] not in stored:  # a concurrent upload stored this number first
                    rejected.append((row[2], row[12], row[3], "already in this campaign", row[3]))
            rejected.sort(key=lambda r: r[1])
        return len(stored)
