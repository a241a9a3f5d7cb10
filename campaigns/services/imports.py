"""Call-list import: validate every row of a CSV, store the valid ones with COPY, report each rejected row.

A bad file (not text, wrong encoding, no header, no phone column, no rows, an unterminated quote) raises
ImportFileError and stores nothing: a first pass reads the whole file's structure (decoding, CSV, quotes) before
anything is written. A good file with bad rows stores the good rows and lists each bad one with its line and reason.

The second pass validates and stores the rows a chunk at a time (CHUNK rows): phone numbers parsed once each,
the chunk's numbers looked up in the campaign, in this import's earlier chunks and on the do-not-call lists with
one query each, good rows COPYed into a temporary table and inserted with ON CONFLICT (campaign, phone) DO NOTHING
(a concurrent upload to the same campaign that stored a number first makes it "already in this campaign"), rejected
rows COPYed into ImportRejection. The chunk, its rejections and the import's progress (rows, created, rejected,
resume_line, heartbeat) commit together, so memory is bounded by a chunk whatever the file's size, the figures are
visible while it runs, and a worker that dies leaves an import that the sweeper resumes after its last stored line.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from campaigns import enqueue
from campaigns.languages import phone_region
from campaigns.models import Campaign, Contact, ContactImport
from campaigns.phones import InvalidPhone, e164_and_zones

PHONE_COLUMNS = ("phone", "phone_number", "number", "mobile", "telephone", "tel")
KNOWN_COLUMNS = {"first_name", "last_name", "timezone"}
MAX_FIELD = 100
CHUNK = 10_000  # rows validated, written and committed together
BLOCK = 1 << 20  # bytes read at a time
# A row whose quoted value runs over more physical lines than this is an unterminated quote (a spreadsheet's
# multi-line cell is an address or a note: a few lines): otherwise the rows after it silently become one value.
MAX_ROW_LINES = 5
# A background import whose worker has not stored a chunk for this long is resumed by the sweeper; one resumed
# this many times without finishing is failed (its stored rows stay; the error says up to which line).
STALE_IMPORT_SECONDS = 120
MAX_IMPORT_RUNS = 3
BOM = codecs.BOM_UTF8


class ImportFileError(ValueError):
    """The file as a whole cannot be read as a call list; nothing was stored."""


class ImportSuperseded(RuntimeError):
    """Another worker moved this import on (a redelivered task); this one stops without writing."""


@dataclass
class RejectedRow:
    line: int
    phone: str
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    import_id: int | None = None


def readable_size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"


def too_large(size: int) -> str:
    """What an upload over CONTACT_UPLOAD_MAX_BYTES is told (admin, API, and the request-size middleware)."""
    limit = settings.CONTACT_UPLOAD_MAX_BYTES
    return f"The file is {readable_size(size)}; the limit is {readable_size(limit)}. Split it into parts."


# --- pass 1: the file as a whole ------------------------------------------------------------------------------


def _check_bytes(stream: BinaryIO) -> None:
    """Binary data, UTF-8 and emptiness, a block at a time."""
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, first, blank = 0, True, True
    while block := stream.read(BLOCK):
        if first:
            if b"\x00" in block[:4096]:
                raise ImportFileError(
                    "This is not a CSV file (it contains binary data). Export the sheet as CSV UTF-8."
                )
            if block.startswith(BOM):
                block, offset = block[len(BOM) :], len(BOM)
            first = False
        blank = blank and not block.strip()
        pending = decoder.getstate()[0]  # a character cut by the previous block
        try:
            decoder.decode(block)
        except UnicodeDecodeError as exc:
            position, bad = offset - len(pending) + exc.start, (pending + block)[exc.start]
            if _chinese_legacy_encoding(stream):
                raise ImportFileError(
                    "The file is in a Chinese encoding (GB18030/GBK, what Excel on a Chinese Windows saves), not "
                    "UTF-8. Save it as 'CSV UTF-8 (逗号分隔)(*.csv)' and upload again; nothing was imported."
                ) from None
            raise ImportFileError(
                f"The file is not UTF-8 text (invalid byte 0x{bad:02x} at position {position}). "
                "Save it as 'CSV UTF-8' and upload again."
            ) from None
        offset += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ImportFileError(
            f"The file is not UTF-8 text (it ends inside a character at position {offset}). "
            "Save it as 'CSV UTF-8' and upload again."
        ) from None
    if blank:
        raise ImportFileError("The file is empty.")


def _chinese_legacy_encoding(stream: BinaryIO) -> bool:
    """The whole file decodes as GB18030 (a superset of GBK and GB2312) and has Chinese characters in it.

    Read into memory: only for a file already known not to be UTF-8, and uploads are capped in size."""
    stream.seek(0)
    try:
        text = stream.read().decode("gb18030")
    except UnicodeDecodeError:
        return False
    return sum("\u4e00" <= char <= "\u9fff" for char in text) >= 2


def _text(stream: BinaryIO) -> io.TextIOWrapper:
    stream.seek(0)
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")


def _dialect(stream: BinaryIO):
    text = _text(stream)
    sample = text.read(8192)
    text.detach()
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _header(row: list[str]) -> list[str]:
    return [h.strip().lower().replace(" ", "_").replace("-", "_") for h in row]


@dataclass
class _Layout:
    dialect: object
    header: list[str]
    phone_column: str


def _rows(stream: BinaryIO, layout: _Layout) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of every non-blank row after the header; raises ImportFileError on broken CSV or quotes."""
    text = _text(stream)
    reader = csv.reader(text, layout.dialect)
    try:
        next(reader)
        previous = reader.line_num  # the header's last line
        for row in reader:
            line = reader.line_num
            first, previous = previous + 1, line
            if line - first + 1 > MAX_ROW_LINES:
                raise ImportFileError(
                    f"A quoted value starting on line {first} runs over {line - first + 1} lines (to line "
                    f'{line}), so those lines would be read as one value: a closing quote (") is probably '
                    "missing. Fix the quote and upload again."
                )
            if not any(cell.strip() for cell in row):
                continue  # blank lines are not rows
            yield line, row
    except csv.Error as exc:
        raise ImportFileError(f"The file is not valid CSV near line {reader.line_num}: {exc}.") from None
    finally:
        text.detach()


def check_file(stream: BinaryIO) -> _Layout:
    """Pass 1: everything that makes the whole file unreadable, before anything is stored. Memory: one block."""
    _check_bytes(stream)
    dialect = _dialect(stream)
    text = _text(stream)
    try:
        header = _header(next(csv.reader(text, dialect)))
    except StopIteration:
        raise ImportFileError("The file is empty.") from None
    except csv.Error as exc:
        raise ImportFileError(f"The file is not valid CSV: {exc}.") from None
    finally:
        text.detach()
    phone_column = next((c for c in PHONE_COLUMNS if c in header), None)
    if phone_column is None:
        raise ImportFileError(f"No phone column: the header needs one of {', '.join(PHONE_COLUMNS)}; found {header}.")
    if len(set(header)) != len(header):
        raise ImportFileError("The header repeats a column name.")
    layout = _Layout(dialect, header, phone_column)
    rows = 0
    for _ in _rows(stream, layout):
        rows += 1
    if rows == 0:
        raise ImportFileError("The file has a header but no rows.")
    return layout


# --- pass 2: rows, a chunk at a time --------------------------------------------------------------------------

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


class _ChunkWriter:
    """Validates one chunk of rows against the campaign and this import, and stores it in one transaction."""

    def __init__(self, campaign: Campaign, record: ContactImport, layout: _Layout) -> None:
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


def _run(campaign: Campaign, stream: BinaryIO, layout: _Layout, record: ContactImport) -> None:
    """Pass 2 from the line after record.resume_line; each chunk commits with the import's progress."""
    writer = _ChunkWriter(campaign, record, layout)
    position = record.resume_line
    chunk: list[tuple[int, list[str]]] = []
    last_line = position
    for line, row in _rows(stream, layout):
        if line <= position:
            continue  # stored by an earlier run
        chunk.append((line, row))
        last_line = line
        if len(chunk) >= CHUNK:
            writer.store(chunk, last_line, position)
            position, chunk = last_line, []
    # The last chunk also marks the end of the file (resume_line past every row), even when it is empty.
    writer.store(chunk, max(last_line, position), position)


def _finish(record: ContactImport) -> None:
    ContactImport.objects.filter(id=record.id, status=ContactImport.Status.PROCESSING).update(
        status=ContactImport.Status.DONE, finished_at=timezone.now(), heartbeat_at=None
    )


def import_contacts(
    campaign: Campaign,
    data: bytes | BinaryIO,
    filename: str = "upload.csv",
    user=None,
    record: ContactImport | None = None,
) -> ImportReport:
    """Import now and return the report (`record`: a queued import to complete, or resume, instead of a new one).
    `data`: the file's bytes or a seekable binary file (read a block at a time)."""
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    if size > settings.CONTACT_UPLOAD_MAX_BYTES:
        raise ImportFileError(too_large(size))
    layout = check_file(stream)
    immediate = record is None  # imported in this request: no sweeper would ever pick it up
    if immediate:
        record = ContactImport.objects.create(
            tenant_id=campaign.tenant_id,
            campaign=campaign,
            filename=filename[:255],
            uploaded_by=user,
            status=ContactImport.Status.PROCESSING,
            runs=1,
        )
    try:
        _run(campaign, stream, layout, record)
    except Exception as exc:
        if immediate:  # failed, saying where, rather than "processing" forever
            with contextlib.suppress(DatabaseError):
                line = ContactImport.objects.values_list("resume_line", flat=True).get(id=record.id)
                stored = f"rows up to line {line} are stored" if line else "nothing stored"
                _fail(record.id, f"The import stopped ({type(exc).__name__}); {stored}."[:2000])
        raise
    _finish(record)
    record.refresh_from_db()
    report = ImportReport(rows=record.rows, created=record.created_count, import_id=record.id)
    if record.rejected_count <= 10_000:  # the caller shows these; a bigger report is read from the import
        report.rejected = [RejectedRow(r["line"], r["phone"], r["reason"]) for r in record.rejected]
    return report


def upload_contacts(campaign: Campaign, data: bytes, filename: str, user=None) -> ImportReport | ContactImport:
    """What the admin and the API call: a small file is imported at once (the report comes back); a large one is
    stored and imported by a background task, so the request stays fast (its ContactImport comes back)."""
    if len(data) <= settings.CONTACT_UPLOAD_SYNC_BYTES:
        return import_contacts(campaign, data, filename, user)
    limit = settings.CONTACT_UPLOAD_MAX_BYTES
    if len(data) > limit:
        raise ImportFileError(too_large(len(data)))
    if b"\x00" in data[:4096]:
        raise ImportFileError("This is not a CSV file (it contains binary data). Export the sheet as CSV UTF-8.")
    relative = f"tenant_{campaign.tenant_id}/imports/{uuid.uuid4().hex}.csv"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    record = ContactImport.objects.create(
        tenant_id=campaign.tenant_id,
        campaign=campaign,
        filename=filename[:255],
        uploaded_by=user,
        status=ContactImport.Status.PROCESSING,
        stored_file=relative,
    )
    enqueue.contact_import(record.id)
    return record


def _fail(record_id: int, error: str) -> None:
    ContactImport.objects.filter(id=record_id, status=ContactImport.Status.PROCESSING).update(
        status=ContactImport.Status.FAILED, error=error, finished_at=timezone.now(), heartbeat_at=None
    )


def run_queued_import(import_id: int) -> str:
    """The background half of upload_contacts, also what the sweeper resumes. Safe to run twice: only a processing
    import with its file runs, from the line after the last one stored; a second worker on the same import stops
    at its first chunk (ImportSuperseded)."""
    record = (
        ContactImport.objects.select_related("campaign", "uploaded_by")
        .filter(id=import_id, status=ContactImport.Status.PROCESSING)
        .first()
    )
    if record is None or not record.stored_file:
        return "nothing to do"
    if record.runs >= MAX_IMPORT_RUNS:
        stored = f"rows up to line {record.resume_line} are stored" if record.resume_line else "nothing was stored"
        _fail(record.id, f"The import stopped {record.runs} times without finishing; {stored}. Upload the rest again.")
    else:
        ContactImport.objects.filter(id=record.id).update(runs=record.runs + 1, heartbeat_at=timezone.now())
        path = Path(settings.MEDIA_ROOT) / record.stored_file
        try:
            with path.open("rb") as stream:
                import_contacts(record.campaign, stream, record.filename, record.uploaded_by, record=record)
        except ImportSuperseded:
            return "superseded"
        except (ImportFileError, FileNotFoundError) as exc:
            _fail(record.id, str(exc) if isinstance(exc, ImportFileError) else "The stored file is missing.")
    status = ContactImport.objects.values_list("status", flat=True).get(id=record.id)
    if status != ContactImport.Status.PROCESSING:
        ContactImport.objects.filter(id=record.id).update(stored_file="")
        (Path(settings.MEDIA_ROOT) / record.stored_file).unlink(missing_ok=True)
    return status


def stranded_imports(now=None) -> list[int]:
    """Background imports whose worker stopped storing chunks (killed, host lost): ids to run again (they resume)."""
    now = now or timezone.now()
    cutoff = now - timezone.timedelta(seconds=STALE_IMPORT_SECONDS)
    stale = ContactImport.objects.filter(status=ContactImport.Status.PROCESSING).exclude(stored_file="")
    stale = stale.filter(heartbeat_at__lt=cutoff) | stale.filter(heartbeat_at__isnull=True, created_at__lt=cutoff)
    ids = list(stale.values_list("id", flat=True)[:100])
    if ids:  # not stranded again for another period
        ContactImport.objects.filter(id__in=ids).update(heartbeat_at=now)
    return ids
