"""Call-list import: the service and the admin upload page, against the real database."""

import io
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import Contact, ContactImport, Role
from campaigns.services.imports import ImportFileError, import_contacts, run_queued_import, upload_contacts
from tests.factories import CampaignFactory, ContactFactory, DoNotCallFactory, MembershipFactory

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
LONG_NAME = "A" * 101


def csv_bytes(*lines: str, newline: str = "\n") -> bytes:
    return (newline.join(lines) + newline).encode("utf-8")


@pytest.fixture
def campaign(tenant):
    return CampaignFactory(tenant=tenant, name="Flu shots")


def contacts_of(campaign) -> dict[str, Contact]:
    return {c.phone: c for c in Contact.objects.filter(campaign=campaign)}


# --- good files -----------------------------------------------------------------------------------------


def test_good_file_stores_e164_zone_names_and_custom_fields(campaign, manager):
    data = csv_bytes(
        "Phone,First Name,last_name,timezone,plan,Doctor-Name",
        "+1 202 555 0123,Anna,Smith,,gold,Dr. Who",
        "(202) 555-0124,Bob,Jones,America/Chicago,silver,",
        "+44 20 7946 0018,Cleo,,,bronze,Dr. No",
    )
    report = import_contacts(campaign, data, "list.csv", manager)

    assert (report.rows, report.created, report.rejected) == (3, 3, [])
    stored = contacts_of(campaign)
    assert set(stored) == {"+12025550123", "+12025550124", "+442079460018"}
    anna, bob, cleo = stored["+12025550123"], stored["+12025550124"], stored["+442079460018"]
    assert (anna.first_name, anna.last_name, anna.timezone) == ("Anna", "Smith", "America/New_York")
    assert bob.timezone == "America/Chicago"  # explicit column beats the number's zone
    assert cleo.timezone == "Europe/London"
    assert anna.custom_fields == {"plan": "gold", "doctor_name": "Dr. Who"}
    assert bob.custom_fields == {"plan": "silver", "doctor_name": ""}
    assert [anna.source_line, bob.source_line, cleo.source_line] == [2, 3, 4]
    assert {c.tenant_id for c in stored.values()} == {campaign.tenant_id}
    assert all(c.status == Contact.Status.PENDING for c in stored.values())

    record = ContactImport.objects.get(id=report.import_id)
    assert (record.tenant_id, record.campaign_id, record.filename) == (campaign.tenant_id, campaign.id, "list.csv")
    assert (record.rows, record.created_count, record.rejected, record.uploaded_by) == (3, 3, [], manager)


def test_values_that_copy_and_json_must_escape_are_stored_as_written(campaign):
    """Backslashes, tabs, line breaks, quotes and non-ASCII text in names and custom fields (the contacts are
    written as COPY text lines, their custom fields as JSON)."""
    data = csv_bytes(
        "phone,first_name,last_name,note,ref",
        '+12025550123,"Zo\u00eb ""Z""","back\\slash","line one\nline two\ttab",\u6d4b\u8bd5',
        "+12025550124,Plain,Name,,",
    )
    report = import_contacts(campaign, data)
    assert (report.created, report.rejected) == (2, [])
    odd, plain = contacts_of(campaign)["+12025550123"], contacts_of(campaign)["+12025550124"]
    assert (odd.first_name, odd.last_name) == ('Zo\u00eb "Z"', "back\\slash")
    assert odd.custom_fields == {"note": "line one\nline two\ttab", "ref": "\u6d4b\u8bd5"}
    assert plain.custom_fields == {"note": "", "ref": ""} and plain.call_zones == []


def test_semicolon_delimited_file_with_decimal_commas(campaign):
    data = csv_bytes("phone;first_name;last_name;amount", "+12025550123;Anna;Smith;1,50", "+12025550124;Bob;Jones;2,75")
    report = import_contacts(campaign, data)
    assert (report.created, report.rejected) == (2, [])
    anna = contacts_of(campaign)["+12025550123"]
    assert (anna.first_name, anna.last_name, anna.custom_fields) == ("Anna", "Smith", {"amount": "1,50"})


def test_utf8_bom_and_crlf_from_excel(campaign):
    data = b"\xef\xbb\xbf" + csv_bytes(
        "phone,first_name", "+12025550123,Zo\u00eb", "+12025550124,Ren\u00e9e", newline="\r\n"
    )
    report = import_contacts(campaign, data)
    assert (report.created, report.rejected) == (2, [])
    stored = contacts_of(campaign)
    assert stored["+12025550123"].first_name == "Zo\u00eb"
    assert stored["+12025550124"].source_line == 3


def test_tab_delimited_with_quoted_commas(campaign):
    data = csv_bytes("phone\tfirst_name\tnote", '+12025550123\tAnna\t"late, again"')
    import_contacts(campaign, data)
    assert contacts_of(campaign)["+12025550123"].custom_fields == {"note": "late, again"}


def test_explicit_zone_for_a_number_spanning_zones(campaign):
    data = csv_bytes("phone,timezone", "+61 412 345 678,Australia/Perth")
    import_contacts(campaign, data)
    assert contacts_of(campaign)["+61412345678"].timezone == "Australia/Perth"


def test_number_spanning_zones_keeps_every_zone_for_the_window(campaign):
    report = import_contacts(campaign, csv_bytes("phone", "+61 412 345 678"))
    assert report.created == 1
    contact = contacts_of(campaign)["+61412345678"]
    assert len(contact.call_zones) > 1 and "Australia/Perth" in contact.call_zones
    assert contact.window_zones == contact.call_zones  # the window must hold in all of them


# --- bad rows -------------------------------------------------------------------------------------------


def test_every_kind_of_bad_row_is_reported_with_line_and_reason(campaign, outsider_tenant, manager):
    ContactFactory(campaign=campaign, phone="+12025550150")
    DoNotCallFactory(tenant=campaign.tenant, phone="+12025550199")
    DoNotCallFactory(tenant=outsider_tenant, phone="+12025550177")  # another tenant's list must not block
    data = csv_bytes(
        "phone,first_name,last_name,timezone",  # 1
        "+12025550123,Anna,Smith,",  # 2 ok
        "not-a-number,Bad,Phone,",  # 3
        ",Empty,Phone,",  # 4
        "(202) 555-0123,Dup,Licate,",  # 5 same number as line 2
        "+12025550150,Already,There,",  # 6
        "+1 202 555 0199,Blocked,Number,",  # 7
        "+12025550177,Other,Tenant,",  # 8 ok
        "+12025550125,Too,Many,,extra",  # 9
        "",  # 10 blank
        "+12025550126,Bad,Zone,Mars/Olympus",  # 11
        f"+12025550127,{LONG_NAME},Long,",  # 12
        "+12025550128,Short,Row",  # 13
        " , , , ",  # 14 whitespace only
        "12345,Too,Short,",  # 15
        "+12025550129,Last,Good,Europe/Paris",  # 16 ok
    )
    report = import_contacts(campaign, data, "mixed.csv", manager)

    rejected = [(r.line, r.phone, r.reason) for r in report.rejected]
    assert rejected[0][:2] == (3, "not-a-number")
    assert rejected[0][2].startswith("'not-a-number' is not a phone number")
    assert rejected[1:] == [
        (4, "", "phone is empty"),
        (5, "(202) 555-0123", "duplicate of line 2"),
        (6, "+12025550150", "already in this campaign"),
        (7, "+1 202 555 0199", "on the do-not-call list"),
        (9, "+12025550125", "expected 4 columns, found 5"),
        (11, "+12025550126", "unknown time zone 'Mars/Olympus'"),
        (12, "+12025550127", "first_name is longer than 100 characters"),
        (13, "+12025550128", "expected 4 columns, found 3"),
        (15, "12345", "'12345' is not a valid phone number"),
    ]
    assert report.rows == 13  # 15 data lines minus the blank and whitespace-only ones
    assert report.created == 3

    stored = contacts_of(campaign)
    assert set(stored) == {"+12025550150", "+12025550123", "+12025550177", "+12025550129"}
    assert stored["+12025550129"].timezone == "Europe/Paris"
    assert stored["+12025550129"].source_line == 16

    record = ContactImport.objects.get(id=report.import_id)
    assert (record.rows, record.created_count) == (13, 3)
    assert [(r["line"], r["phone"], r["reason"]) for r in record.rejected] == rejected


def test_duplicate_reason_names_first_line_even_when_the_first_was_rejected(campaign, tenant):
    DoNotCallFactory(tenant=tenant, phone="+12025550199")
    data = csv_bytes("phone", "+12025550199", "+12025550123", "202-555-0199")
    report = import_contacts(campaign, data)
    assert [(r.line, r.reason) for r in report.rejected] == [(2, "on the do-not-call list"), (4, "duplicate of line 2")]


def test_all_rows_rejected_still_records_the_import(campaign):
    report = import_contacts(campaign, csv_bytes("phone", "nope", ""))
    assert (report.rows, report.created) == (1, 0)
    assert ContactImport.objects.get(id=report.import_id).rejected[0]["line"] == 2
    assert not Contact.objects.filter(campaign=campaign).exists()


def test_second_upload_of_same_file_rejects_every_row(campaign):
    data = csv_bytes("phone", "+12025550123", "+12025550124")
    import_contacts(campaign, data)
    again = import_contacts(campaign, data)
    assert [(r.line, r.reason) for r in again.rejected] == [
        (2, "already in this campaign"),
        (3, "already in this campaign"),
    ]
    assert Contact.objects.filter(campaign=campaign).count() == 2
    assert ContactImport.objects.filter(campaign=campaign).count() == 2


# --- bad files ------------------------------------------------------------------------------------------

BAD_FILES = [
    pytest.param(b"", "The file is empty.", id="empty"),
    pytest.param(b"  \r\n\n", "The file is empty.", id="whitespace"),
    pytest.param(b"\xef\xbb\xbf", "The file is empty.", id="bom-only"),
    pytest.param(b"phone,first_name\n", "header but no rows", id="header-only"),
    pytest.param(b"phone,first_name\n\n\n", "header but no rows", id="header-and-blank-lines"),
    pytest.param(PNG_BYTES, "binary data", id="png"),
    pytest.param(b"phone,first_name\n+12025550123,An\x00na\n", "binary data", id="nul"),
    pytest.param("phone,first_name\n+12025550123,Jos\u00e9\n".encode("latin-1"), "not UTF-8", id="latin-1"),
    pytest.param(b"name,email\nAnna,anna@example.com\n", "No phone column", id="no-phone-column"),
    pytest.param(b"phone,Phone\n+12025550123,+12025550124\n", "repeats a column name", id="repeated-column"),
]


@pytest.mark.parametrize(("data", "message"), BAD_FILES)
def test_bad_file_raises_and_stores_nothing(campaign, data, message):
    ContactFactory(campaign=campaign)
    with pytest.raises(ImportFileError, match=re.escape(message)):
        import_contacts(campaign, data)
    assert Contact.objects.filter(campaign=campaign).count() == 1
    assert not ContactImport.objects.exists()


def test_wrong_encoding_message_points_at_the_byte(campaign):
    data = "phone,first_name\n+12025550123,Jos\u00e9\n".encode("latin-1")
    with pytest.raises(ImportFileError) as excinfo:
        import_contacts(campaign, data)
    assert "0xe9" in str(excinfo.value)
    assert "CSV UTF-8" in str(excinfo.value)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_a_chinese_excel_csv_is_rejected_naming_its_encoding_and_nothing_is_stored(campaign, encoding):
    ContactFactory(campaign=campaign)
    data = "phone,first_name,last_name\n13800138000,建国,王\n+8613912345678,丽,李\n".encode(encoding)
    with pytest.raises(ImportFileError, match=r"Chinese encoding \(GB18030/GBK.*CSV UTF-8"):
        import_contacts(campaign, data)
    assert Contact.objects.filter(campaign=campaign).count() == 1
    assert not ContactImport.objects.exists()


def test_a_mandarin_campaign_reads_numbers_without_country_code_as_chinese(tenant):
    campaign = CampaignFactory(tenant=tenant, language="zh-CN")
    data = "phone,first_name\n138 0013 8000,建国\n010-6552-9988,丽\n+12025550123,Ann\n".encode()
    report = import_contacts(campaign, data)
    assert report.created == 3, report
    found = {c.phone: c for c in Contact.objects.filter(campaign=campaign)}
    assert set(found) == {"+8613800138000", "+861065529988", "+12025550123"}
    assert found["+8613800138000"].timezone == "Asia/Shanghai"  # a mobile: the country's zone
    assert found["+861065529988"].timezone == "Asia/Shanghai"  # a Beijing landline
    assert found["+8613800138000"].first_name == "建国"


def test_file_over_the_size_limit(campaign, settings):
    settings.CONTACT_UPLOAD_MAX_BYTES = 64
    ok = csv_bytes("phone", "+12025550123")
    too_big = csv_bytes("phone", *[f"+1202555{n:04d}" for n in range(100, 110)])
    assert len(ok) <= 64 < len(too_big)
    with pytest.raises(ImportFileError, match="the limit is 64 bytes"):
        import_contacts(campaign, too_big)
    assert not Contact.objects.exists()
    assert not ContactImport.objects.exists()
    assert import_contacts(campaign, ok).created == 1


def test_size_limit_message_states_the_real_limit(campaign, settings):
    settings.CONTACT_UPLOAD_MAX_BYTES = 1000
    with pytest.raises(ImportFileError) as excinfo:
        import_contacts(campaign, csv_bytes("phone", *["+12025550123"] * 100))
    assert not re.search(r"\b0 MB", str(excinfo.value))
    assert "the limit is 1000 bytes" in str(excinfo.value)


# --- admin upload page ----------------------------------------------------------------------------------


def upload_url(campaign) -> str:
    return reverse("admin:campaigns_campaign_upload", args=[campaign.id])


def post_file(client, campaign, data: bytes, name: str = "list.csv"):
    return client.post(upload_url(campaign), {"file": SimpleUploadedFile(name, data, content_type="text/csv")})


def test_admin_upload_form_renders(client, manager, campaign):
    client.force_login(manager)
    response = client.get(upload_url(campaign))
    assert response.status_code == 200
    assert b'type="file"' in response.content
    assert b"Upload a call list to Flu shots" in response.content


def test_admin_upload_reports_rejected_lines(client, manager, campaign):
    ContactFactory(campaign=campaign, phone="+12025550150")
    client.force_login(manager)
    data = csv_bytes(
        "phone,first_name", "+12025550123,Anna", "+12025550123,Again", "+12025550150,Old", "+12025550124,B"
    )
    response = post_file(client, campaign, data, "march.csv")

    assert response.status_code == 200
    html = response.content.decode()
    assert "upload-error" not in html
    assert "<strong>2</strong> of 4 rows added to Flu shots" in html
    assert "2 rows rejected" in html
    assert "<tr><td>3</td><td>+12025550123</td><td>duplicate of line 2</td></tr>" in html
    assert "<tr><td>4</td><td>+12025550150</td><td>already in this campaign</td></tr>" in html
    assert "2 contacts added, 2 rows rejected." in html  # the admin message

    assert set(contacts_of(campaign)) == {"+12025550150", "+12025550123", "+12025550124"}
    record = ContactImport.objects.get(campaign=campaign)
    assert (record.filename, record.uploaded_by, record.created_count) == ("march.csv", manager, 2)


def test_admin_upload_bad_file_shows_error_and_stores_nothing(client, manager, campaign):
    client.force_login(manager)
    response = post_file(client, campaign, PNG_BYTES, "photo.png")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="upload-error"' in html
    assert "This is not a CSV file (it contains binary data)." in html
    assert "Nothing was stored." in html
    assert "upload-report" not in html
    assert not Contact.objects.exists()
    assert not ContactImport.objects.exists()


def test_admin_upload_empty_file_is_refused_by_the_form(client, manager, campaign):
    client.force_login(manager)
    response = post_file(client, campaign, b"")
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not ContactImport.objects.exists()


def test_admin_upload_owner_may_upload(client, owner, campaign):
    client.force_login(owner)
    response = post_file(client, campaign, csv_bytes("phone", "+12025550123"))
    assert response.status_code == 200
    assert Contact.objects.filter(campaign=campaign).count() == 1


def test_admin_upload_viewer_gets_403(client, viewer, campaign):
    client.force_login(viewer)
    assert client.get(upload_url(campaign)).status_code == 403
    assert post_file(client, campaign, csv_bytes("phone", "+12025550123")).status_code == 403
    assert not Contact.objects.exists()
    assert not ContactImport.objects.exists()


def test_admin_upload_outsider_gets_404_for_another_tenants_campaign(client, outsider, campaign):
    client.force_login(outsider)
    assert client.get(upload_url(campaign)).status_code == 404
    response = post_file(client, campaign, csv_bytes("phone", "+12025550123"))
    assert response.status_code == 404
    assert b"Flu shots" not in response.content
    assert not Contact.objects.exists()
    assert not ContactImport.objects.exists()


def test_admin_upload_viewer_here_manager_elsewhere_still_403(client, campaign, outsider_tenant):
    user = MembershipFactory(tenant=campaign.tenant, role=Role.VIEWER).user
    MembershipFactory(user=user, tenant=outsider_tenant, role=Role.MANAGER)
    client.force_login(user)
    assert post_file(client, campaign, csv_bytes("phone", "+12025550123")).status_code == 403
    assert not Contact.objects.exists()


def test_admin_upload_requires_login(client, campaign):
    response = client.get(upload_url(campaign))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- large files: imported in the background ------------------------------------------------------------


def test_large_file_is_stored_and_imported_in_the_background(campaign, manager, settings):
    settings.CONTACT_UPLOAD_SYNC_BYTES = 100
    data = csv_bytes("phone,first_name", *[f"+1202555{n:04d},Pat" for n in range(1000, 1010)], "not a phone,Bad")
    record = upload_contacts(campaign, io.BytesIO(data), "big.csv", manager)
    assert isinstance(record, ContactImport) and record.status == ContactImport.Status.PROCESSING
    assert not Contact.objects.exists()  # nothing yet: the request returned at once
    stored = Path(settings.MEDIA_ROOT) / record.stored_file
    assert stored.read_bytes() == data and record.stored_file.startswith(f"tenant_{campaign.tenant_id}/imports/")
    assert run_queued_import(record.id) == ContactImport.Status.DONE
    record.refresh_from_db()
    assert (record.rows, record.created_count, record.stored_file) == (11, 10, "")
    assert record.rejected == [{"line": 12, "phone": "not a phone", "reason": record.rejected[0]["reason"]}]
    assert Contact.objects.filter(campaign=campaign).count() == 10 and not stored.exists()
    assert run_queued_import(record.id) == "nothing to do"  # a redelivered task does not import twice
    assert Contact.objects.filter(campaign=campaign).count() == 10


def test_large_bad_file_fails_in_the_background_and_stores_nothing(campaign, manager, settings):
    settings.CONTACT_UPLOAD_SYNC_BYTES = 10
    record = upload_contacts(campaign, io.BytesIO(b"name,city\nAnna,Paris\nBen,Rome\n"), "nophone.csv", manager)
    assert run_queued_import(record.id) == ContactImport.Status.FAILED
    record.refresh_from_db()
    assert "No phone column" in record.error and record.created_count == 0
    assert not Contact.objects.exists()


def test_admin_sends_a_large_upload_to_the_background(client, campaign, manager, settings):
    settings.CONTACT_UPLOAD_SYNC_BYTES = 50
    client.force_login(manager)
    upload = SimpleUploadedFile("big.csv", csv_bytes("phone", *[f"+1202555{n:04d}" for n in range(1000, 1010)]))
    response = client.post(upload_url(campaign), {"file": upload})
    record = ContactImport.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/contactimport/{record.id}/change/")
    assert record.status == ContactImport.Status.PROCESSING
