"""Call-list import: validate every row of a CSV, store the valid ones with COPY, report each rejected row.

A bad file (not text, wrong encoding, no header, no phone column, no rows, an unterminated quote) raises
ImportFileError and stores nothing: a first pass (campaigns.services.import_file) reads the whole file's structure
before anything is written. A good file with bad rows stores the good rows and lists each bad one with its line and
reason.

The second pass (campaigns.services.import_chunks) validates and stores the rows a chunk at a time (CHUNK rows).
The chunk, its rejections and the import's progress (rows, created, rejected, resume_line, heartbeat) commit
together, so memory is bounded by a chunk whatever the file's size, the figures are visible while it runs, and a
worker that dies leaves an import that the sweeper resumes after its last stored line.

Uploads arrive as files, never as bytes in memory: Django's upload handlers spool anything over
FILE_UPLOAD_MAX_MEMORY_SIZE to a temporary file in 64 KB chunks, a small file is imported from it in the request,
and a large one is copied a block at a time below MEDIA_ROOT for the background task.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from campaigns import enqueue
from campaigns.models import Campaign, ContactImport
from campaigns.services.import_chunks import ChunkWriter, ImportSuperseded
from campaigns.services.import_file import (
    BINARY,
    ImportFileError,
    Layout,
    check_file,
    check_size,
    rows,
    too_large,
)

CHUNK = 10_000  # rows validated, written and committed together
COPY_BLOCK = 64 * 1024  # an upload is copied to MEDIA_ROOT this many bytes at a time (as Django's handlers write it)
# A background import whose worker has not stored a chunk for this long is resumed by the sweeper; one resumed
# this many times without finishing is failed (its stored rows stay; the error says up to which line).
STALE_IMPORT_SECONDS = 120
MAX_IMPORT_RUNS = 3

# The import's public face; ImportFileError, ImportSuperseded, check_file and too_large are re-exported from the two
# passes' modules, so the admin, the API and the request-size middleware import everything from here.
__all__ = [
    "ImportFileError",
    "ImportReport",
    "ImportSuperseded",
    "RejectedRow",
    "check_file",
    "import_contacts",
    "run_queued_import",
    "stranded_imports",
    "too_large",
    "upload_contacts",
]


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


def _size(stream: BinaryIO) -> int:
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def _run(campaign: Campaign, stream: BinaryIO, layout: Layout, record: ContactImport) -> None:
    """Pass 2 from the line after record.resume_line; each chunk commits with the import's progress."""
    writer = ChunkWriter(campaign, record, layout)
    position = record.resume_line
    chunk: list[tuple[int, list[str]]] = []
    last_line = position
    for line, row in rows(stream, layout):
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
    check_size(_size(stream))
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


def upload_contacts(campaign: Campaign, upload: BinaryIO, filename: str, user=None) -> ImportReport | ContactImport:
    """What the admin and the API call, with the uploaded file (Django's UploadedFile: in memory when small, a
    temporary file otherwise; never read whole). A small file is imported at once (the report comes back); a large
    one is copied below MEDIA_ROOT and imported by a background task, so the request stays fast (its ContactImport
    comes back)."""
    size = _size(upload)
    check_size(size)
    if size <= settings.CONTACT_UPLOAD_SYNC_BYTES:
        return import_contacts(campaign, upload, filename, user)
    if b"\x00" in upload.read(4096):
        raise ImportFileError(str(BINARY))
    upload.seek(0)
    relative = f"tenant_{campaign.tenant_id}/imports/{uuid.uuid4().hex}.csv"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stored:
        shutil.copyfileobj(upload, stored, COPY_BLOCK)
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
