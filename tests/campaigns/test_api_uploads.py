"""REST API: call-list uploads (small ones answered at once, large ones imported in the background) and CSV exports."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns.models import Contact, ContactImport
from campaigns.services.imports import run_queued_import
from tests.campaigns.api_support import assert_error, url
from tests.factories import (
    CallAttemptFactory,
    CampaignFactory,
    ContactFactory,
    DoNotCallFactory,
)

# --- upload ---------------------------------------------------------------------------------------------


def upload(api, tenant, campaign, content: bytes, name: str = "list.csv"):
    file = SimpleUploadedFile(name, content, content_type="text/csv")
    return api.post(url("campaign-upload", tenant, campaign.id), {"file": file}, format="multipart")


def test_upload_returns_the_same_report_as_the_admin(api, tenant, manager):
    campaign = CampaignFactory(tenant=tenant)
    DoNotCallFactory(tenant=tenant, phone="+12025550177")
    content = (
        b"phone,first_name,timezone,clinic\n"
        b"+12025550111,Ann,America/New_York,North\n"
        b"not a number,Bob,,South\n"
        b"+12025550111,Ann again,,North\n"
        b"+12025550177,Dee,,East\n"
        b"+12025550112,Cy,Mars/Olympus,West\n"
    )
    response = upload(api, tenant, campaign, content)
    assert response.status_code == 201, response.content
    body = response.json()
    record = ContactImport.objects.get(id=body["import_id"])
    assert (body["rows"], body["created"]) == (5, 1)
    assert body["rejected"] == record.rejected  # exactly what the admin stores and shows
    assert [(r["line"], r["phone"]) for r in body["rejected"]] == [
        (3, "not a number"),
        (4, "+12025550111"),
        (5, "+12025550177"),
        (6, "+12025550112"),
    ]
    assert body["rejected"][1]["reason"] == "duplicate of line 2"
    assert body["rejected"][2]["reason"] == "on the do-not-call list"
    assert "Mars/Olympus" in body["rejected"][3]["reason"]
    assert record.uploaded_by == manager and record.filename == "list.csv"
    contact = Contact.objects.get(campaign=campaign)
    assert (contact.phone, contact.custom_fields, contact.tenant_id) == ("+12025550111", {"clinic": "North"}, tenant.id)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file"),
        (b"name,city\nAnn,Paris\n", "No phone column"),
        (b"phone\n", "no rows"),
        (b"phone,name\n\xff\xfe\n", "not UTF-8"),
    ],
)
def test_bad_upload_is_400_with_the_import_message_and_stores_nothing(api, tenant, content, message):
    campaign = CampaignFactory(tenant=tenant)
    error = assert_error(upload(api, tenant, campaign, content), 400, "bad_file")
    assert message in error["message"]
    assert not Contact.objects.exists()
    assert not ContactImport.objects.exists()


def test_upload_over_the_size_limit_is_refused_before_reading(api, tenant, settings):
    settings.CONTACT_UPLOAD_MAX_BYTES = 100
    campaign = CampaignFactory(tenant=tenant)
    error = assert_error(upload(api, tenant, campaign, b"phone\n" + b"+12025550111\n" * 20), 400, "bad_file")
    assert "limit is 100 bytes" in error["message"]


def test_upload_without_a_file_names_the_field(api, tenant):
    campaign = CampaignFactory(tenant=tenant)
    response = api.post(url("campaign-upload", tenant, campaign.id), {}, format="multipart")
    assert "file" in assert_error(response, 400, "invalid")["fields"]


def test_upload_as_json_is_415(api, tenant):
    campaign = CampaignFactory(tenant=tenant)
    response = api.post(url("campaign-upload", tenant, campaign.id), {"file": "phone\n1"}, format="json")
    assert_error(response, 415, "unsupported_media_type")


# --- export ---------------------------------------------------------------------------------------------


def read_export(api, tenant, campaign) -> list[dict]:
    response = api.get(url("campaign-export", tenant, campaign.id), HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f"campaign-{campaign.id}-results.csv" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_export_has_a_row_per_attempt_and_per_uncalled_contact(api, tenant):
    campaign = CampaignFactory(tenant=tenant)
    called = ContactFactory(campaign=campaign, first_name="Ann", custom_fields={"clinic": "North"})
    CallAttemptFactory(contact=called, attempt_number=1, disposition="busy", status="finalized", talk_ms=0)
    CallAttemptFactory(contact=called, attempt_number=2, disposition="interested", status="finalized", talk_ms=4200)
    ContactFactory(campaign=campaign, first_name="Bob", status=Contact.Status.SKIPPED, skip_reason="dnc")
    ContactFactory(campaign=CampaignFactory(tenant=tenant), first_name="Other campaign")
    rows = read_export(api, tenant, campaign)
    assert [(r["first_name"], r["attempt"], r["disposition"]) for r in rows] == [
        ("Ann", "1", "busy"),
        ("Ann", "2", "interested"),
        ("Bob", "", ""),
    ]
    assert rows[1]["talk_ms"] == "4200" and rows[1]["clinic"] == "North" and rows[2]["clinic"] == ""
    assert rows[2]["skip_reason"] == "dnc"


def test_export_defuses_spreadsheet_formulas(api, tenant):
    campaign = CampaignFactory(tenant=tenant)
    contact = ContactFactory(
        campaign=campaign,
        first_name='=HYPERLINK("http://evil.example","click")',
        last_name="@SUM(A1:A9)",
        timezone="America/New_York",
        custom_fields={"note": "-2+3", "tabbed": "\tcmd", "cr": "\r=1", "=evil_header": "plain", "safe": "a=b"},
    )
    CallAttemptFactory(contact=contact, full_transcript="+1 call me", error="=cmd|' /C calc'!A0")
    row = read_export(api, tenant, campaign)[0]
    assert row["first_name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert row["last_name"] == "'@SUM(A1:A9)"
    assert row["note"] == "'-2+3"
    assert row["tabbed"] == "'\tcmd"
    assert row["cr"] == "'\r=1"
    assert row["transcript"] == "'+1 call me"
    assert row["error"] == "'=cmd|' /C calc'!A0"
    assert row["phone"] == "'" + contact.phone  # E.164 starts with "+": a spreadsheet would evaluate it
    assert row["'=evil_header"] == "plain"  # header cells come from the uploaded CSV too
    assert row["safe"] == "a=b" and row["timezone"] == "America/New_York"
    for value in row.values():
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_export_errors_are_json_even_when_asking_for_csv(api, tenant):
    response = api.get(url("campaign-export", tenant, 987654), HTTP_ACCEPT="text/csv")
    assert response["Content-Type"] == "application/json"
    assert_error(response, 404, "not_found")


def test_large_upload_is_accepted_and_imported_in_the_background(api, tenant, settings):
    settings.CONTACT_UPLOAD_SYNC_BYTES = 50
    campaign = CampaignFactory(tenant=tenant)
    content = ("phone\n" + "\n".join(f"+1202555{n:04d}" for n in range(1000, 1010)) + "\n").encode()
    response = upload(api, tenant, campaign, content, "big.csv")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "processing" and body["created"] == 0
    assert response["Location"] == url("import-detail", tenant, body["id"])
    run_queued_import(body["id"])  # what the background task runs
    done = api.get(response["Location"]).json()
    assert (done["status"], done["rows"], done["created"], done["rejected"]) == ("done", 10, 10, [])
    assert [i["id"] for i in api.get(url("import-list", tenant)).json()["results"]] == [body["id"]]
