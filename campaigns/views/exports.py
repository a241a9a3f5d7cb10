"""Campaign results as CSV and XLSX: the same rows as the API's export (campaigns.api.export), for members.

CSV: the API's streaming writer, whose cells are already safe to open in a spreadsheet (text that could start a
formula gets a leading apostrophe). XLSX: the same rows, every text cell written as a string (never a formula),
and the apostrophe the CSV writer added becomes the cell's "quote prefix", which is how a spreadsheet stores a
value typed with a leading apostrophe: the cell shows `+12025550100` or `=1+1` as text, and stays text when it is
edited.
"""

from __future__ import annotations

import tempfile

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from campaigns.api.export import FORMULA_PREFIXES, csv_lines, result_row_count, result_rows
from campaigns.views.access import member_campaign

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_MAX_TEXT = 32767  # characters a spreadsheet cell holds


@never_cache
@login_required
@require_safe
def export_csv(request, campaign_id: int):
    campaign, _ = member_campaign(request, campaign_id)
    response = StreamingHttpResponse(csv_lines(result_rows(campaign)), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.id}-results.csv"'
    return response


def xlsx_cell(sheet, value) -> WriteOnlyCell:
    """One cell from a CSV-safe value: text is always a string cell; a guarded value gets a quote prefix.
    Control characters XML cannot carry are dropped, and text is cut at the cell's limit."""
    if not isinstance(value, str):
        return WriteOnlyCell(sheet, value=value)
    quoted = value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES)
    text = ILLEGAL_CHARACTERS_RE.sub("", value[1:] if quoted else value)[:XLSX_MAX_TEXT]
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # openpyxl reads a leading "=" as a formula; a string cell is never evaluated
    if quoted:
        cell.quotePrefix = True
    return cell


def write_xlsx(rows, target) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Results")
    for row in rows:
        sheet.append([xlsx_cell(sheet, value) for value in row])
    workbook.save(target)


@never_cache
@login_required
@require_safe
def export_xlsx(request, campaign_id: int):
    campaign, _ = member_campaign(request, campaign_id)
    # A workbook is built whole before the first byte goes out: bounded, so it cannot outgrow the request.
    rows, cap = result_row_count(campaign), settings.XLSX_EXPORT_MAX_ROWS
    if rows > cap:
        messages.error(
            request,
            format_html(
                "{} has {} rows of results; an XLSX export holds at most {}. "
                '<a href="{}">Download the CSV</a> instead (any size).',
                campaign.name,
                rows,
                cap,
                reverse("export-csv", args=[campaign.id]),
            ),
        )
        return redirect("campaign", campaign_id=campaign.id)
    # openpyxl streams rows to a temporary file (flat memory); FileResponse sends it and closes it.
    target = tempfile.TemporaryFile()  # noqa: SIM115 - closed by FileResponse
    write_xlsx(result_rows(campaign), target)
    target.seek(0)
    return FileResponse(
        target, as_attachment=True, filename=f"campaign-{campaign.id}-results.xlsx", content_type=XLSX_TYPE
    )
