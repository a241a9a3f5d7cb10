"""REST API: auth and discovery, contacts and calls, the do-not-call list, pagination, throttling, schema.

Campaigns and their lifecycle are in test_api_campaigns.py, uploads and exports in test_api_uploads.py, roles and
cross-tenant access in test_api_permissions.py, the schemathesis run in test_api_schemathesis.py.
"""

import datetime as dt
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.api.pagination import MAX_PAGE_SIZE
from campaigns.models import CallAttempt, Contact, DoNotCall
from tests.campaigns.api_support import assert_error, url
from tests.factories import (
    CallAttemptFactory,
    CampaignFactory,
    ContactFactory,
    DoNotCallFactory,
    TurnFactory,
)

# --- auth and discovery ---------------------------------------------------------------------------------


def test_token_endpoint_exchanges_password_for_a_working_token(client, manager, tenant):
    response = APIClient().post(
        reverse("api:token"), {"username": manager.username, "password": "pw-for-tests-1"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get(url("campaign-list", tenant)).status_code == 200


def test_token_endpoint_rejects_a_wrong_password_with_the_error_body(manager):
    response = APIClient().post(reverse("api:token"), {"username": manager.username, "password": "nope"})
    assert_error(response, 400, "invalid")


def test_tenant_list_shows_only_my_tenants_and_role(api, tenant, outsider_tenant):
    response = api.get(reverse("api:tenant-list"))
    assert response.status_code == 200
    assert response.json() == [{"slug": "acme", "name": "Acme Clinic", "role": "manager"}]


def test_session_auth_works_and_enforces_csrf_on_writes(manager, tenant):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username=manager.username, password="pw-for-tests-1")
    assert client.get(url("campaign-list", tenant)).status_code == 200
    response = client.post(url("campaign-list", tenant), {"name": "X", "caller_id": "+12025550100"}, format="json")
    error = assert_error(response, 403, "permission_denied")
    assert "CSRF" in error["message"]


def test_anonymous_gets_401_with_the_token_challenge(tenant):
    response = APIClient().get(url("campaign-list", tenant))
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_a_bad_token_is_401(tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get(url("campaign-list", tenant)), 401, "authentication_failed")


# --- contacts and calls ---------------------------------------------------------------------------------


def test_contacts_list_filters_and_retrieve(api, tenant):
    one, two = CampaignFactory(tenant=tenant), CampaignFactory(tenant=tenant)
    pending = ContactFactory(campaign=one, phone="+12025550131")
    ContactFactory(campaign=one, status=Contact.Status.DONE)
    ContactFactory(campaign=two)
    assert api.get(url("contact-list", tenant)).json()["count"] == 3
    body = api.get(url("contact-list", tenant), {"campaign": one.id, "status": "pending"}).json()
    assert [c["id"] for c in body["results"]] == [pending.id]
    assert api.get(url("contact-list", tenant), {"phone": "555013"}).json()["count"] == 1
    detail = api.get(url("contact-detail", tenant, pending.id)).json()
    assert detail["phone"] == "+12025550131" and detail["campaign"] == one.id
    assert "status" in assert_error(api.get(url("contact-list", tenant), {"status": "x"}), 400, "invalid")["fields"]


def test_calls_list_filters_by_disposition_status_and_date(api, tenant):
    campaign = CampaignFactory(tenant=tenant)
    busy = CallAttemptFactory(contact=ContactFactory(campaign=campaign), disposition="busy", status="finalized")
    done = CallAttemptFactory(contact=ContactFactory(campaign=campaign), disposition="interested", status="finalized")
    queued = CallAttemptFactory(contact=ContactFactory(campaign=campaign))
    CallAttempt.objects.filter(id=busy.id).update(created_at=timezone.now() - dt.timedelta(days=3))
    today = timezone.now().date()

    def ids(**params):
        response = api.get(url("call-list", tenant), params)
        assert response.status_code == 200, response.content
        return {c["id"] for c in response.json()["results"]}

    assert ids() == {busy.id, done.id, queued.id}
    assert ids(disposition="busy") == {busy.id}
    assert ids(status="queued") == {queued.id}
    assert ids(date=today.isoformat()) == {done.id, queued.id}
    assert ids(date_to=(today - dt.timedelta(days=1)).isoformat()) == {busy.id}
    assert ids(date_from=(today - dt.timedelta(days=3)).isoformat(), status="finalized") == {busy.id, done.id}
    assert ids(campaign=campaign.id, contact=done.contact_id) == {done.id}
    error = assert_error(api.get(url("call-list", tenant), {"date": "yesterday"}), 400, "invalid")
    assert "date" in error["fields"]
    error = assert_error(
        api.get(url("call-list", tenant), {"date_from": "2026-02-02", "date_to": "2026-02-01"}), 400, "invalid"
    )
    assert "date_to" in error["fields"]


def test_calls_list_days_are_utc_days_to_the_second(api, tenant):
    """A day is [00:00, 24:00) UTC of created_at: the last second of a day and the first of the next fall apart,
    and date, date_from and date_to together keep only what all of them allow."""
    campaign = CampaignFactory(tenant=tenant)
    late, early = (CallAttemptFactory(contact=ContactFactory(campaign=campaign)) for _ in range(2))
    CallAttempt.objects.filter(id=late.id).update(created_at=dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=dt.UTC))
    CallAttempt.objects.filter(id=early.id).update(created_at=dt.datetime(2026, 3, 2, 0, 0, 0, tzinfo=dt.UTC))

    def ids(**params):
        response = api.get(url("call-list", tenant), params)
        assert response.status_code == 200, response.content
        return {c["id"] for c in response.json()["results"]}

    assert ids(date="2026-03-01") == {late.id}
    assert ids(date="2026-03-02") == {early.id}
    assert ids(date_to="2026-03-01") == {late.id}
    assert ids(date_from="2026-03-02") == {early.id}
    assert ids(date_from="2026-03-01", date_to="2026-03-02") == {late.id, early.id}
    assert ids(date="2026-03-01", date_from="2026-03-02") == set()


def test_call_detail_has_turns_in_order(api, tenant):
    attempt = CallAttemptFactory(
        contact=ContactFactory(campaign=CampaignFactory(tenant=tenant)), full_transcript="robot: Hi", recording="x.wav"
    )
    TurnFactory(
        attempt=attempt,
        index=1,
        speaker="callee",
        text="Yes",
        intent="affirm",
        confidence=0.9,
        start_ms=900,
        end_ms=1500,
    )
    TurnFactory(attempt=attempt, index=0, text="Will you attend?", start_ms=0, end_ms=800)
    body = api.get(url("call-detail", tenant, attempt.id)).json()
    assert [(t["index"], t["speaker"], t["text"], t["intent"]) for t in body["turns"]] == [
        (0, "robot", "Will you attend?", ""),
        (1, "callee", "Yes", "affirm"),
    ]
    assert body["contact"]["phone"] == attempt.contact.phone
    assert body["has_recording"] is True
    assert body["full_transcript"] == "robot: Hi"
    assert "turns" not in api.get(url("call-list", tenant)).json()["results"][0]


def test_call_recording_is_streamed_as_wav(api, tenant, settings):
    attempt = CallAttemptFactory(
        contact=ContactFactory(campaign=CampaignFactory(tenant=tenant)), recording=f"{tenant.id}/calls/1.wav"
    )
    audio = Path(settings.MEDIA_ROOT) / attempt.recording
    audio.parent.mkdir(parents=True)
    audio.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    response = api.get(url("call-recording", tenant, attempt.id), HTTP_ACCEPT="audio/*")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert b"".join(response.streaming_content) == audio.read_bytes()


@pytest.mark.parametrize("recording", ["", "missing.wav", "../../../etc/passwd", "/etc/passwd"])
def test_call_without_a_readable_recording_is_404(api, tenant, recording):
    attempt = CallAttemptFactory(contact=ContactFactory(campaign=CampaignFactory(tenant=tenant)), recording=recording)
    error = assert_error(api.get(url("call-recording", tenant, attempt.id)), 404, "not_found")
    assert error["message"] == "This call has no recording."


# --- do-not-call ----------------------------------------------------------------------------------------


def test_dnc_create_list_retrieve_delete(api, tenant):
    response = api.post(url("dnc-list", tenant), {"phone": "202-555-0144", "reason": "asked on the phone"})
    assert response.status_code == 201, response.content
    entry = DoNotCall.objects.get(id=response.json()["id"])
    assert (entry.tenant, entry.phone) == (tenant, "+12025550144")
    assert api.get(url("dnc-list", tenant), {"phone": "0144"}).json()["count"] == 1
    assert api.get(url("dnc-list", tenant), {"phone": "9999"}).json()["count"] == 0
    assert api.get(url("dnc-detail", tenant, entry.id)).json()["reason"] == "asked on the phone"
    assert api.delete(url("dnc-detail", tenant, entry.id)).status_code == 204
    assert not DoNotCall.objects.exists()


def test_dnc_rejects_duplicates_and_bad_numbers(api, tenant, outsider_tenant):
    DoNotCallFactory(tenant=tenant, phone="+12025550144")
    DoNotCallFactory(tenant=outsider_tenant, phone="+12025550145")
    error = assert_error(api.post(url("dnc-list", tenant), {"phone": "+1 202 555 0144"}), 400, "invalid")
    assert "already" in error["fields"]["phone"][0]
    assert "phone" in assert_error(api.post(url("dnc-list", tenant), {"phone": "hello"}), 400, "invalid")["fields"]
    # another tenant's list is another list
    assert api.post(url("dnc-list", tenant), {"phone": "+12025550145"}).status_code == 201


@pytest.mark.parametrize("route", ["campaign-list", "contact-list", "call-list", "dnc-list"])
def test_list_queries_do_not_grow_with_rows(api, tenant, route, django_assert_max_num_queries):
    def queries_for_list() -> int:
        api.get(url(route, tenant))  # token and session lookups warm up
        with django_assert_max_num_queries(50) as captured:
            assert api.get(url(route, tenant)).status_code == 200
        return len(captured)

    for _ in range(2):
        campaign = CampaignFactory(tenant=tenant)
        CallAttemptFactory(contact=ContactFactory(campaign=campaign))
        DoNotCallFactory(tenant=tenant, phone=ContactFactory(campaign=campaign).phone)
    few = queries_for_list()
    for _ in range(5):
        campaign = CampaignFactory(tenant=tenant)
        CallAttemptFactory(contact=ContactFactory(campaign=campaign))
        DoNotCallFactory(tenant=tenant, phone=ContactFactory(campaign=campaign).phone)
    assert queries_for_list() == few


# --- pagination, throttling, schema ---------------------------------------------------------------------


def test_page_size_is_honoured_and_capped(api, tenant):
    DoNotCall.objects.bulk_create(
        [DoNotCall(tenant=tenant, phone=f"+1202555{n:04d}") for n in range(MAX_PAGE_SIZE + 5)]
    )
    body = api.get(url("dnc-list", tenant), {"page_size": 2}).json()
    assert len(body["results"]) == 2 and body["count"] == MAX_PAGE_SIZE + 5 and "page=2" in body["next"]
    assert len(api.get(url("dnc-list", tenant), {"page_size": 10_000}).json()["results"]) == MAX_PAGE_SIZE
    assert len(api.get(url("dnc-list", tenant)).json()["results"]) == 50
    assert_error(api.get(url("dnc-list", tenant), {"page": 999}), 404, "not_found")


def test_scoped_throttle_answers_429_with_retry_after(api, tenant, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "export": "2/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    campaign = CampaignFactory(tenant=tenant)
    for _ in range(2):
        assert api.get(url("campaign-export", tenant, campaign.id)).status_code == 200
    response = api.get(url("campaign-export", tenant, campaign.id))
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert api.get(url("campaign-list", tenant)).status_code == 200  # other scopes are unaffected


def test_user_throttle_applies_to_every_endpoint(api, tenant, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    statuses = [api.get(url("contact-list", tenant)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_schema_lists_every_endpoint_and_docs_need_no_cdn(client, db):
    response = client.get(reverse("api:schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    prefix = "/api/v1/tenants/{tenant_slug}"
    assert {
        f"{prefix}/campaigns/",
        f"{prefix}/campaigns/{{id}}/",
        f"{prefix}/campaigns/{{id}}/start/",
        f"{prefix}/campaigns/{{id}}/pause/",
        f"{prefix}/campaigns/{{id}}/resume/",
        f"{prefix}/campaigns/{{id}}/cancel/",
        f"{prefix}/campaigns/{{id}}/contacts/upload/",
        f"{prefix}/campaigns/{{id}}/export/",
        f"{prefix}/contacts/",
        f"{prefix}/contacts/{{id}}/",
        f"{prefix}/calls/",
        f"{prefix}/calls/{{id}}/",
        f"{prefix}/calls/{{id}}/recording/",
        f"{prefix}/do-not-call/",
        f"{prefix}/do-not-call/{{id}}/",
    } <= set(schema["paths"])
    upload = schema["paths"][f"{prefix}/campaigns/{{id}}/contacts/upload/"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    docs = client.get(reverse("api:docs"))
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
