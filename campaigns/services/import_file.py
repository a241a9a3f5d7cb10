"""Call-list import, pass 1: everything that makes a whole file unreadable (size, binary data, encoding, CSV
structure, header, unterminated quotes), found before anything is stored, reading one block at a time; and the
rows, as (line, cells), for pass 2 (campaigns.services.import_chunks)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

PHONE_COLUMNS = ("phone", "phone_number", "number", "mobile", "telephone", "tel")
BLOCK = 1 << 20  # bytes read at a time
# A row whose quoted value runs over more physical lines than this is an unterminated quote (a spreadsheet's
# multi-line cell is an address or a note: a few lines): otherwise the rows after it silently become one value.
MAX_ROW_LINES = 5
BOM = codecs.BOM_UTF8
BINARY = gettext_lazy("This is not a CSV file (it contains binary data). Export the sheet as CSV UTF-8.")


class ImportFileError(ValueError):
    """The file as a whole cannot be read as a call list; nothing was stored."""


def readable_size(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB" if n >= 1_048_576 else f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"


def too_large(size: int) -> str:
    """What an upload over CONTACT_UPLOAD_MAX_BYTES is told (admin, API, and the request-size middleware)."""
    limit = settings.CONTACT_UPLOAD_MAX_BYTES
    return _("The file is %(size)s; the limit is %(limit)s. Split it into parts.") % {
        "size": readable_size(size),
        "limit": readable_size(limit),
    }


def check_size(size: int) -> None:
    """The one size check of a call list, wherever it comes from (admin, API, a file on disk)."""
    if size > settings.CONTACT_UPLOAD_MAX_BYTES:
        raise ImportFileError(too_large(size))


# --- pass 1: the file as a whole ------------------------------------------------------------------------------


def _check_bytes(stream: BinaryIO) -> None:
    """Binary data, UTF-8 and emptiness, a block at a time."""
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, first, blank = 0, True, True
    while block := stream.read(BLOCK):
        if first:
            if b"\x00" in block[:4096]:
                raise ImportFileError(str(BINARY))
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
                    _(
                        "The file is in a Chinese encoding (GB18030/GBK, what Excel on a Chinese Windows saves), not "
                        "UTF-8. Save it as 'CSV UTF-8 (逗号分隔)(*.csv)' and upload again; nothing was imported."
                    )
                ) from None
            raise ImportFileError(
                _(
                    "The file is not UTF-8 text (invalid byte %(byte)s at position %(position)s). "
                    "Save it as 'CSV UTF-8' and upload again."
                )
                % {"byte": f"0x{bad:02x}", "position": position}
            ) from None
        offset += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ImportFileError(
            _(
                "The file is not UTF-8 text (it ends inside a character at position %(position)s). "
                "Save it as 'CSV UTF-8' and upload again."
            )
            % {"position": offset}
        ) from None
    if blank:
        raise ImportFileError(_("The file is empty."))


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
class Layout:
    """What pass 1 learnt of the file: its CSV dialect, its (normalised) header and which column is the phone."""

    dialect: object
    header: list[str]
    phone_column: str


def rows(stream: BinaryIO, layout: Layout) -> Iterator[tuple[int, list[str]]]:
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
                    _(
                        "A quoted value starting on line %(first)s runs over %(count)s lines (to line %(line)s), so "
                        'those lines would be read as one value: a closing quote (") is probably missing. Fix the '
                        "quote and upload again."
                    )
                    % {"first": first, "count": line - first + 1, "line": line}
                )
            if not "".join(row).strip():
                continue  # blank lines (or only blank cells) are not rows
            yield line, row
    except csv.Error as exc:
        raise ImportFileError(
            _("The file is not valid CSV near line %(line)s: %(error)s.") % {"line": reader.line_num, "error": exc}
        ) from None
    finally:
        text.detach()


def check_file(stream: BinaryIO) -> Layout:
    """Pass 1: everything that makes the whole file unreadable, before anything is stored. Memory: one block."""
    _check_bytes(stream)
    dialect = _dialect(stream)
    text = _text(stream)
    try:
        header = _header(next(csv.reader(text, dialect)))
    except StopIteration:
        raise ImportFileError(_("The file is empty.")) from None
    except csv.Error as exc:
        raise ImportFileError(_("The file is not valid CSV: %(error)s.") % {"error": exc}) from None
    finally:
        text.detach()
    phone_column = next((c for c in PHONE_COLUMNS if c in header), None)
    if phone_column is None:
        raise ImportFileError(
            _("No phone column: the header needs one of %(names)s; found %(header)s.")
            % {"names": ", ".join(PHONE_COLUMNS), "header": header}
        )
    if len(set(header)) != len(header):
        raise ImportFileError(_("The header repeats a column name."))
    layout = Layout(dialect, header, phone_column)
    if sum(1 for _ in rows(stream, layout)) == 0:  # every row read: a broken quote far down is found here
        raise ImportFileError(_("The file has a header but no rows."))
    return layout
