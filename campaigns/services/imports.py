"""Call-list import: validate every row of a CSV, store the valid ones, report each rejected row.

A bad file (not text, wrong encoding, no header, no phone column, no rows, an unterminated quote) raises
ImportFileError and stores nothing. A good file with bad rows stores the good rows and lists each bad one with its
line and reason.
"""

from __future__ import annotations

import csv
import io
import uuid
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns import enqueue
from campaigns.models import Campaign, Contact, ContactImport, DoNotCall
from campaigns.phones import InvalidPhone, to_e164, zones_for

PHONE_COLUMNS = ("phone", "phone_number", "number", "mobile", "telephone", "tel")
KNOWN_COLUMNS = {"first_name", "last_name", "timezone"}
MAX_FIELD = 100
BATCH = 2000
# A row whose quoted value runs over more physical lines than this is an unterminated quote (a spreadsheet's
# multi-line cell is an address or a note: a few lines): otherwise the rows after it silently become one value.
MAX_ROW_LINES = 5


class ImportFileError(ValueError):
    """The file as a whole cannot be read as a call list; nothing was stored."""


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


def _decode(data: bytes) -> str:
    if not data.strip():
        raise ImportFileError("The file is empty.")
    if b"\x00" in data[:4096]:
        raise ImportFileError("This is not a CSV file (it contains binary data). Export the sheet as CSV UTF-8.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"The file is not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at position {exc.start}). "
            "Save it as 'CSV UTF-8' and upload again."
        ) from None


def _reader(text: str) -> csv.reader:
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return csv.reader(io.StringIO(text, newline=""), dialect)


def _header(row: list[str]) -> list[str]:
    return [h.strip().lower().replace(" ", "_").replace("-", "_") for h in row]


def import_contacts(
    campaign: Campaign, data: bytes, filename: str = "upload.csv", user=None, record: ContactImport | None = None
) -> ImportReport:
    """Import now and return the report (`record`: a queued import to complete instead of a new one)."""
    limit = settings.CONTACT_UPLOAD_MAX_BYTES
    if len(data) > limit:
        raise ImportFileError(too_large(len(data)))
    reader = _reader(_decode(data))
    try:
        header = _header(next(reader))
    except StopIteration:
        raise ImportFileError("The file is empty.") from None
    except csv.Error as exc:
        raise ImportFileError(f"The file is not valid CSV: {exc}.") from None
    phone_column = next((c for c in PHONE_COLUMNS if c in header), None)
    if phone_column is None:
        raise ImportFileError(f"No phone column: the header needs one of {', '.join(PHONE_COLUMNS)}; found {header}.")
    if len(set(header)) != len(header):
        raise ImportFileError("The header repeats a column name.")

    importer = _RowImporter(campaign, header, phone_column)
    # One transaction: a file that turns out unreadable halfway stores nothing. Rows are written in batches
    # as they are read, so memory stays flat however long the file is.
    with transaction.atomic():
        report = importer.run(reader)
        if report.rows == 0:
            raise ImportFileError("The file has a header but no rows.")
        fields = {
            "rows": report.rows,
            "created_count": report.created,
            "rejected": [{"line": r.line, "phone": r.phone, "reason": r.reason} for r in report.rejected],
            "status": ContactImport.Status.DONE,
            "finished_at": timezone.now(),
        }
        if record is None:
            record = ContactImport.objects.create(
                tenant_id=campaign.tenant_id, campaign=campaign, filename=filename[:255], uploaded_by=user, **fields
            )
        else:
            ContactImport.objects.filter(id=record.id).update(**fields)
    report.import_id = record.id
    return report


class _RowImporter:
    """Validates rows one by one and writes the good ones in batches; collects the report."""

    def __init__(self, campaign: Campaign, header: list[str], phone_column: str) -> None:
        self.campaign, self.header, self.phone_column = campaign, header, phone_column
        self.report = ImportReport()
        self.existing = set(Contact.objects.filter(campaign=campaign).values_list("phone", flat=True))
        self.blocked = set(DoNotCall.objects.blocking(campaign.tenant_id).values_list("phone", flat=True))
        self.seen: dict[str, int] = {}
        self.batch: list[Contact] = []
        self.region = getattr(settings, "DEFAULT_PHONE_REGION", "US")

    def flush(self) -> None:
        Contact.objects.bulk_create(self.batch)
        self.report.created += len(self.batch)
        self.batch.clear()

    def run(self, reader) -> ImportReport:
        campaign, header, phone_column, report = self.campaign, self.header, self.phone_column, self.report
        existing, blocked, seen, batch, region = self.existing, self.blocked, self.seen, self.batch, self.region
        previous = reader.line_num  # the header's last line
        try:
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
                report.rows += 1
                raw_phone = row[header.index(phone_column)].strip() if len(row) > header.index(phone_column) else ""

                def reject(reason: str, line: int = line, raw_phone: str = raw_phone) -> None:
                    report.rejected.append(RejectedRow(line, raw_phone, reason))

                if len(row) != len(header):
                    reject(f"expected {len(header)} columns, found {len(row)}")
                    continue
                values = {name: cell.strip() for name, cell in zip(header, row, strict=True)}
                try:
                    phone = to_e164(raw_phone, region)
                except InvalidPhone as exc:
                    reject(str(exc))
                    continue
                if phone in seen:
                    reject(f"duplicate of line {seen[phone]}")
                    continue
                seen[phone] = line
                if phone in existing:
                    reject("already in this campaign")
                    continue
                if phone in blocked:
                    reject("on the do-not-call list")
                    continue
                too_long = [n for n in ("first_name", "last_name") if len(values.get(n, "")) > MAX_FIELD]
                if too_long:
                    reject(f"{too_long[0]} is longer than {MAX_FIELD} characters")
                    continue
                zone = values.get("timezone", "")
                zones = [zone]
                if zone:
                    try:
                        zoneinfo.ZoneInfo(zone)
                    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                        reject(f"unknown time zone {zone!r}")
                        continue
                else:
                    zones = zones_for(phone)
                    if not zones:
                        reject("cannot tell the time zone from the number; add a timezone column")
                        continue
                    zone = zones[0]
                custom = {k: v for k, v in values.items() if k not in KNOWN_COLUMNS and k != phone_column}
                batch.append(
                    Contact(
                        tenant_id=campaign.tenant_id,
                        campaign=campaign,
                        phone=phone,
                        timezone=zone,
                        first_name=values.get("first_name", ""),
                        last_name=values.get("last_name", ""),
                        custom_fields=custom,
                        source_line=line,
                        call_zones=zones if len(zones) > 1 else [],
                    )
                )
                if len(batch) >= BATCH:
                    self.flush()
        except csv.Error as exc:
            raise ImportFileError(f"The file is not valid CSV near line {reader.line_num}: {exc}.") from None
        self.flush()
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


def run_queued_import(import_id: int) -> str:
    """The background half of upload_contacts. Safe to run twice: only a processing import with its file runs."""
    record = (
        ContactImport.objects.select_related("campaign", "uploaded_by")
        .filter(id=import_id, status=ContactImport.Status.PROCESSING)
        .first()
    )
    if record is None or not record.stored_file:
        return "nothing to do"
    path = Path(settings.MEDIA_ROOT) / record.stored_file
    try:
        import_contacts(record.campaign, path.read_bytes(), record.filename, record.uploaded_by, record=record)
    except (ImportFileError, FileNotFoundError) as exc:
        ContactImport.objects.filter(id=record.id).update(
            status=ContactImport.Status.FAILED, error=str(exc), finished_at=timezone.now()
        )
    ContactImport.objects.filter(id=record.id).update(stored_file="")
    path.unlink(missing_ok=True)
    return ContactImport.objects.values_list("status", flat=True).get(id=record.id)
