"""A call list with an unterminated quote is refused with the line it starts on, instead of silently reading the
rows after it as one value."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import Contact, ContactImport, Role
from campaigns.services.imports import ImportFileError, import_contacts, run_queued_import, upload_contacts
from tests.factories import CampaignFactory, MembershipFactory, TokenFactory


@pytest.fixture
def campaign(tenant):
    return CampaignFactory(tenant=tenant, name="Flu shots")


def rows(count: int, start: int = 1000) -> list[str]:
    return [f"+1202555{n:04d},Pat{n},Paris" for n in range(start, start + count)]


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


UNCLOSED_AT_EOF = csv_bytes("phone,first_name,city", '+12025550100,"Anna,Paris', *rows(1000))
CLOSED_MUCH_LATER = csv_bytes(
    "phone,first_name,city", "+12025550100,Anna,Paris", '+12025550101,Ben,"Rome', *rows(1000), '+12025559999,Zed,Oslo"'
)


@pytest.mark.parametrize(("data", "line"), [(UNCLOSED_AT_EOF, 2), (CLOSED_MUCH_LATER, 3)])
def test_unterminated_quote_is_a_clear_file_error(campaign, manager, data, line):
    with pytest.raises(ImportFileError) as excinfo:
        import_contacts(campaign, data, "list.csv", manager)
    message = str(excinfo.value)
    assert f"line {line}" in message and "quote" in message, message
    assert not Contact.objects.exists() and not ContactImport.objects.exists()


def test_few_swallowed_rows_are_caught_too(campaign, manager):
    data = csv_bytes("phone,first_name,notes", '+12025550100,Anna,"call after 5', *rows(6), "+12025559999,Zed,ok")
    with pytest.raises(ImportFileError, match="line 2"):
        import_contacts(campaign, data, "list.csv", manager)


def test_a_real_multi_line_value_still_imports(campaign, manager):
    data = csv_bytes("phone,first_name,address", '+12025550100,Anna,"1 Main St\nApt 4\nSpringfield"', *rows(3))
    report = import_contacts(campaign, data, "list.csv", manager)
    assert (report.rows, report.created, report.rejected) == (4, 4, [])
    assert Contact.objects.get(phone="+12025550100").custom_fields["address"] == "1 Main St\nApt 4\nSpringfield"


def test_admin_shows_the_quote_error_and_stores_nothing(client, campaign, manager):
    client.force_login(manager)
    upload = SimpleUploadedFile("list.csv", CLOSED_MUCH_LATER)
    response = client.post(reverse("admin:campaigns_campaign_upload", args=[campaign.id]), {"file": upload})
    page = response.content.decode()
    assert response.status_code == 200 and "line 3" in page and "quote" in page
    assert not Contact.objects.exists()


def test_api_answers_the_quote_error_as_bad_file(client, campaign):
    token = TokenFactory(user=MembershipFactory(tenant=campaign.tenant, role=Role.MANAGER).user)
    response = client.post(
        f"/api/v1/tenants/{campaign.tenant.slug}/campaigns/{campaign.id}/contacts/upload/",
        {"file": SimpleUploadedFile("list.csv", UNCLOSED_AT_EOF)},
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "bad_file" and "line 2" in error["message"]
    assert not Contact.objects.exists()


def test_background_import_fails_with_the_quote_error(campaign, manager, settings):
    settings.CONTACT_UPLOAD_SYNC_BYTES = 100
    record = upload_contacts(campaign, io.BytesIO(CLOSED_MUCH_LATER), "big.csv", manager)
    assert run_queued_import(record.id) == ContactImport.Status.FAILED
    record.refresh_from_db()
    assert "line 3" in record.error and "quote" in record.error
    assert not Contact.objects.exists()
