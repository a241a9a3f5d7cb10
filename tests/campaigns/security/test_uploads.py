"""An upload over the limit is refused before its body is read into memory, with a message that says the limit.

The bodies are encoded before the measurement starts; tracemalloc then sees what the request itself allocates.
The test client keeps one copy of the body (its fake socket), so a refusal before reading costs about one body,
and reading the file (as the admin did) at least two.
"""

import tracemalloc

import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from campaigns.models import Contact, ContactImport, Role
from tests.factories import CampaignFactory, MembershipFactory, TokenFactory

MB = 1024 * 1024


@pytest.fixture
def campaign(tenant):
    return CampaignFactory(tenant=tenant, name="Flu shots")


def csv_body(size: int) -> bytes:
    line = b"+12025550123,Anna\n"
    return b"phone,first_name\n" + line * (size // len(line))


def multipart(data: bytes) -> bytes:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("big.csv", data, content_type="text/csv")})


def post_measured(client, url: str, body: bytes, **extra):
    tracemalloc.start()
    try:
        response = client.generic("POST", url, body, content_type=MULTIPART_CONTENT, **extra)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, peak


def test_admin_refuses_an_oversized_upload_before_reading_it(client, campaign, manager, settings):
    settings.CONTACT_UPLOAD_MAX_BYTES = 100_000
    client.force_login(manager)
    body = multipart(csv_body(4 * MB))
    response, peak = post_measured(client, reverse("admin:campaigns_campaign_upload", args=[campaign.id]), body)
    assert response.status_code == 413
    assert "limit is 97.7 KB" in response.content.decode()
    assert peak < 1.5 * len(body), f"the request allocated {peak / MB:.1f} MB for a {len(body) / MB:.1f} MB body"
    assert not Contact.objects.exists() and not ContactImport.objects.exists()


def test_admin_checks_the_file_size_before_reading_the_file(client, campaign, manager, settings):
    # Under the request limit (a form with more fields), over the file limit: the file is never read.
    settings.CONTACT_UPLOAD_MAX_BYTES = 100_000
    settings.REQUEST_MAX_BYTES = 10 * MB
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # larger files are spooled to disk, not kept in memory
    client.force_login(manager)
    body = multipart(csv_body(4 * MB))
    response, peak = post_measured(client, reverse("admin:campaigns_campaign_upload", args=[campaign.id]), body)
    assert response.status_code == 200
    assert "the limit is 97.7 KB" in response.content.decode()
    assert peak < 1.5 * len(body), f"the request allocated {peak / MB:.1f} MB for a {len(body) / MB:.1f} MB body"
    assert not Contact.objects.exists() and not ContactImport.objects.exists()


def test_api_refuses_an_oversized_upload_before_reading_it(client, campaign, settings):
    settings.CONTACT_UPLOAD_MAX_BYTES = 100_000
    token = TokenFactory(user=MembershipFactory(tenant=campaign.tenant, role=Role.MANAGER).user)
    url = f"/api/v1/tenants/{campaign.tenant.slug}/campaigns/{campaign.id}/contacts/upload/"
    body = multipart(csv_body(4 * MB))
    response, peak = post_measured(client, url, body, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large" and "limit is 97.7 KB" in error["message"] and error["fields"] == {}
    assert peak < 1.5 * len(body)
    assert not Contact.objects.exists()


def test_uploads_under_the_limit_still_work(client, campaign, manager, settings):
    settings.CONTACT_UPLOAD_MAX_BYTES = 100_000
    client.force_login(manager)
    body = multipart(b"phone,first_name\n+12025550123,Anna\n")
    response = client.generic(
        "POST", reverse("admin:campaigns_campaign_upload", args=[campaign.id]), body, content_type=MULTIPART_CONTENT
    )
    assert response.status_code == 200 and "1 contacts added" in response.content.decode()
    assert Contact.objects.count() == 1


# --- accepted uploads: spooled to a temporary file by Django's upload handlers, never read whole ---------------


def many_numbers(size: int) -> bytes:
    """Distinct valid numbers, one per line, about `size` bytes."""
    line = len(b"+12022000000,Anna\n")
    return b"phone,first_name\n" + b"".join(f"+1202{2_000_000 + n:07d},Anna\n".encode() for n in range(size // line))


def test_admin_streams_a_large_upload_to_disk_for_the_background(client, campaign, manager, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # larger files are spooled to disk in chunks
    settings.CONTACT_UPLOAD_SYNC_BYTES = 64 * 1024
    client.force_login(manager)
    data = many_numbers(8 * MB)
    body = multipart(data)
    response, peak = post_measured(client, reverse("admin:campaigns_campaign_upload", args=[campaign.id]), body)
    record = ContactImport.objects.get()
    assert response.status_code == 302 and record.status == ContactImport.Status.PROCESSING
    # The test client holds the body once; reading the file into memory would add at least one more.
    assert peak < 1.4 * len(body), f"the request allocated {peak / MB:.1f} MB for a {len(body) / MB:.1f} MB body"
    assert (settings.MEDIA_ROOT / record.stored_file).read_bytes() == data


def test_api_imports_a_spooled_upload_in_the_request(client, campaign, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024
    settings.CONTACT_UPLOAD_SYNC_BYTES = 4 * MB  # imported in the request, read from the temporary file
    token = TokenFactory(user=MembershipFactory(tenant=campaign.tenant, role=Role.MANAGER).user)
    url = f"/api/v1/tenants/{campaign.tenant.slug}/campaigns/{campaign.id}/contacts/upload/"
    data = many_numbers(MB)
    response = client.generic("POST", url, multipart(data), MULTIPART_CONTENT, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 201, response.content
    rows = data.count(b"\n") - 1
    assert response.json()["created"] == rows and Contact.objects.filter(campaign=campaign).count() == rows
