"""REST API happy paths and validation: campaigns and their lifecycle, upload, contacts, calls, export, DNC.

Roles and cross-tenant access are in test_api_permissions.py; the schemathesis run in test_api_schemathesis.py.
"""

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.api.pagination import MAX_PAGE_SIZE
from campaigns.models import CallAttempt, Campaign, Contact, ContactImport, DoNotCall
from campaigns.services.dispatch import dispatch_due
from campaigns.services.imports import run_queued_import
from pipeline.script import DEFAULT_SCRIPT
from tests.factories import (
    CallAttemptFactory,
    CampaignFactory,
    ContactFactory,
    DoNotCallFactory,
    TokenFactory,
    TrunkFactory,
    TurnFactory,
)


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {TokenFactory(user=user).key}")
    return client


def url(name: str, tenant, *args) -> str:
    return reverse(f"api:{name}", args=[tenant.slug, *args])


@pytest.fixture
def api(manager):
    return client_for(manager)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def bad_script() -> dict:
    script = {"start": DEFAULT_SCRIPT["start"], "nodes": dict(DEFAULT_SCRIPT["nodes"])}
    script["nodes"]["confirmed"] = {**script["nodes"]["confirmed"], "outcome": "party"}
    return script


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


# --- campaigns ------------------------------------------------------------------------------------------


def test_create_campaign_sets_tenant_creator_and_default_script(api, tenant, manager):
    response = api.post(
        url("campaign-list", tenant),
        {"name": "Flu shots", "caller_id": "(202) 555-0100", "status": "running", "tenant": 999},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    campaign = Campaign.objects.get(id=body["id"])
    assert campaign.tenant == tenant
    assert campaign.created_by == manager
    assert campaign.status == Campaign.Status.DRAFT  # status is read-only
    assert campaign.caller_id == "+12025550100"  # normalised to E.164
    assert campaign.script == DEFAULT_SCRIPT
    assert body["progress"] == {
        "contacts": 0,
        "contacts_done": 0,
        "attempts": 0,
        "finished": 0,
        "percent": 0,
        "by_disposition": {},
    }
    assert body["created_by"] == manager.username


def test_create_campaign_with_a_bad_script_is_400_naming_the_node(api, tenant):
    response = api.post(
        url("campaign-list", tenant),
        {"name": "Bad", "caller_id": "+12025550100", "script": bad_script()},
        format="json",
    )
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == ["script"]
    assert "'confirmed'" in error["fields"]["script"][0]
    assert "outcome" in error["fields"]["script"][0]
    assert not Campaign.objects.exists()


def test_update_with_a_bad_script_is_400_and_keeps_the_old_script(api, tenant):
    campaign = CampaignFactory(tenant=tenant)
    response = api.patch(url("campaign-detail", tenant, campaign.id), {"script": {"nodes": {}}}, format="json")
    error = assert_error(response, 400, "invalid")
    assert "script" in error["fields"]
    campaign.refresh_from_db()
    assert campaign.script == DEFAULT_SCRIPT


def test_create_campaign_validates_caller_id_window_and_limits(api, tenant):
    response = api.post(
        url("campaign-list", tenant),
        {
            "name": "X",
            "caller_id": "12",
            "window_start": "20:00",
            "window_end": "09:00",
            "max_concurrent_calls": 0,
            "tts_engine": "espeak",
        },
        format="json",
    )
    error = assert_error(response, 400, "invalid")
    assert {"caller_id", "max_concurrent_calls", "tts_engine"} <= set(error["fields"])
    response = api.post(
        url("campaign-list", tenant),
        {"name": "X", "caller_id": "+12025550100", "window_start": "20:00", "window_end": "09:00"},
        format="json",
    )
    assert "window_end" in assert_error(response, 400, "invalid")["fields"]


def test_campaign_engine_settings_round_trip(api, tenant):
    trunk = TrunkFactory(tenant=tenant)
    body = {
        "name": "Engine",
        "caller_id": "+12025550100",
        "trunk": trunk.id,
        "starts_at": "2026-12-01T09:00:00Z",
        "ends_at": "2026-12-05T18:00:00Z",
        "calls_per_second": 2.5,
        "retry_policy": {"busy": 5, "no_answer": 30},
        "disposition_map": {"confirmed": "interested"},
        "webhook_url": "https://hooks.example.test/robot",
    }
    response = api.post(url("campaign-list", tenant), body, format="json")
    assert response.status_code == 201, response.content
    campaign = Campaign.objects.get(id=response.json()["id"])
    assert campaign.trunk == trunk and campaign.calls_per_second == 2.5
    assert campaign.retry_policy == {"busy": 5, "no_answer": 30}
    assert campaign.disposition_map == {"confirmed": "interested"}
    assert campaign.webhook_url == "https://hooks.example.test/robot"
    assert response.json()["window_start"] == "09:00"
    assert "webhook_secret" not in response.json()  # never shown back (see webhook-secret)


def test_campaign_engine_settings_are_validated(api, tenant, outsider_tenant):
    foreign = TrunkFactory(tenant=outsider_tenant)
    response = api.post(
        url("campaign-list", tenant),
        {
            "name": "X",
            "caller_id": "+12025550100",
            "trunk": foreign.id,
            "retry_policy": {"busy": -1, "bored": 5},
            "disposition_map": {"confirmed": "thrilled"},
            "calls_per_second": 0,
            "webhook_url": "not a url",
        },
        format="json",
    )
    fields = assert_error(response, 400, "invalid")["fields"]
    assert {"trunk", "calls_per_second", "webhook_url"} <= set(fields)
    assert any(name.startswith("retry_policy") for name in fields)
    assert any(name.startswith("disposition_map") for name in fields)
    missing = api.post(url("campaign-list", tenant), {"name": "X", "caller_id": "+12025550100", "trunk": 2**40})
    # another tenant's trunk reads exactly like one that does not exist
    unknown = missing.json()["error"]["fields"]["trunk"]
    assert fields["trunk"] == [message.replace(str(2**40), str(foreign.id)) for message in unknown]
    response = api.post(
        url("campaign-list", tenant),
        {"name": "X", "caller_id": "+12025550100", "retry_policy": {"bored": 5}},
        format="json",
    )
    assert "bored" in assert_error(response, 400, "invalid")["fields"]["retry_policy"][0]
    response = api.post(
        url("campaign-list", tenant),
        {"name": "X", "caller_id": "+12025550100", "starts_at": "2026-12-05T00:00Z", "ends_at": "2026-12-01T00:00Z"},
        format="json",
    )
    assert "ends_at" in assert_error(response, 400, "invalid")["fields"]


def test_webhook_secret_is_generated_and_shown_once(api, tenant):
    campaign = CampaignFactory(tenant=tenant, webhook_url="https://hooks.example.test/robot")
    first = api.post(url("campaign-webhook-secret", tenant, campaign.id)).json()["webhook_secret"]
    campaign.refresh_from_db()
    assert campaign.webhook_secret == first and len(first) == 64
    assert first not in api.get(url("campaign-detail", tenant, campaign.id)).content.decode()
    second = api.post(url("campaign-webhook-secret", tenant, campaign.id)).json()["webhook_secret"]
    assert second != first


def test_list_campaigns_filters_by_status_and_paginates(api, tenant):
    CampaignFactory(tenant=tenant, name="Old", status=Campaign.Status.COMPLETED)
    draft = CampaignFactory(tenant=tenant, name="New")
    response = api.get(url("campaign-list", tenant), {"status": "draft"})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [c["name"] for c in body["results"]] == [draft.name]
    assert set(body) == {"count", "next", "previous", "results"}
    assert "progress" not in body["results"][0]  # the list stays cheap
    assert (
        "status" in assert_error(api.get(url("campaign-list", tenant), {"status": "bogus"}), 400, "invalid")["fields"]
    )


def test_retrieve_campaign_includes_progress(api, tenant):
    campaign = CampaignFactory(tenant=tenant)
    done = ContactFactory(campaign=campaign, status="done")
    CallAttemptFactory(contact=done, status="finalized", disposition="interested")
    CallAttemptFactory(contact=ContactFactory(campaign=campaign, status="queued"))
    body = api.get(url("campaign-detail", tenant, campaign.id)).json()
    assert body["progress"] == {
        "contacts": 2,
        "contacts_done": 1,
        "attempts": 2,
        "finished": 1,
        "percent": 50,
        "by_disposition": {"interested": 1},
    }


def test_update_campaign_put_and_patch(api, tenant):
    campaign = CampaignFactory(tenant=tenant, name="Before")
    response = api.patch(url("campaign-detail", tenant, campaign.id), {"name": "After"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "After"
    response = api.put(
        url("campaign-detail", tenant, campaign.id),
        {"name": "Put", "caller_id": "+12025550101", "max_attempts": 2},
        format="json",
    )
    assert response.status_code == 200, response.content
    campaign.refresh_from_db()
    assert (campaign.name, campaign.caller_id, campaign.max_attempts) == ("Put", "+12025550101", 2)


def test_delete_draft_campaign_but_not_a_running_one(api, tenant):
    draft = CampaignFactory(tenant=tenant)
    assert api.delete(url("campaign-detail", tenant, draft.id)).status_code == 204
    assert not Campaign.objects.filter(id=draft.id).exists()
    running = CampaignFactory(tenant=tenant, status=Campaign.Status.RUNNING)
    assert_error(api.delete(url("campaign-detail", tenant, running.id)), 409, "invalid_state")
    assert Campaign.objects.filter(id=running.id).exists()


# --- lifecycle ------------------------------------------------------------------------------------------


def test_start_runs_the_campaign_and_kicks_dialling_after_commit(
    api, tenant, manager, django_capture_on_commit_callbacks
):
    campaign = CampaignFactory(tenant=tenant)
    ContactFactory.create_batch(3, campaign=campaign)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(url("campaign-start", tenant, campaign.id))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["waiting"] == 3
    assert body["campaign"]["status"] == "running" and body["campaign"]["started_at"]
    assert len(callbacks) == 1  # the dial work is queued only once the transaction commits
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.events.last().actor == manager  # the API records who did it


def test_start_a_finished_campaign_is_409(api, tenant):
    for status in (Campaign.Status.CANCELLED, Campaign.Status.COMPLETED):
        campaign = CampaignFactory(tenant=tenant, status=status)
        error = assert_error(api.post(url("campaign-start", tenant, campaign.id)), 409, "invalid_state")
        assert status in error["message"]


def test_start_with_a_broken_stored_script_is_400(api, tenant):
    campaign = CampaignFactory(tenant=tenant, script=bad_script())
    error = assert_error(api.post(url("campaign-start", tenant, campaign.id)), 400, "invalid")
    assert "'confirmed'" in error["fields"]["script"][0]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_start_a_campaign_in_a_language_nobody_here_can_understand_is_refused_with_the_install_command(api, tenant):
    campaign = CampaignFactory(tenant=tenant, language="zh-CN")  # Mandarin: no recogniser installed here
    ContactFactory.create_batch(2, campaign=campaign)
    error = assert_error(api.post(url("campaign-start", tenant, campaign.id)), 409, "invalid_state")
    assert "no speech recogniser for 'zh-CN'" in error["message"]
    assert "install_vosk_model zh vosk-model-small-cn-0.22" in error["message"]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT and not campaign.events.exists()
    assert campaign.contacts.filter(status=Contact.Status.PENDING).count() == 2  # nothing lost


def test_pause_resume_cancel(api, tenant):
    campaign = CampaignFactory(tenant=tenant)
    contacts = ContactFactory.create_batch(3, campaign=campaign, status=Contact.Status.QUEUED)
    assert api.post(url("campaign-start", tenant, campaign.id)).status_code == 200

    response = api.post(url("campaign-pause", tenant, campaign.id))
    assert response.status_code == 200
    assert response.json()["campaign"]["status"] == "paused"
    assert Campaign.objects.get(id=campaign.id).status == Campaign.Status.PAUSED

    response = api.post(url("campaign-resume", tenant, campaign.id))
    assert response.status_code == 200
    assert response.json()["campaign"]["status"] == "running"

    queued = [CallAttemptFactory(contact=c) for c in contacts]
    CallAttempt.objects.filter(id=queued[0].id).update(status=CallAttempt.Status.DIALING)
    response = api.post(url("campaign-cancel", tenant, campaign.id))
    assert response.status_code == 200
    assert response.json()["campaign"]["status"] == "cancelled"
    assert response.json()["cancelled"] == 2
    assert CallAttempt.objects.get(id=queued[0].id).status == "dialing"  # a live call is not cut off
    assert Contact.objects.filter(campaign=campaign, status="skipped").count() == 2
    assert_error(api.post(url("campaign-start", tenant, campaign.id)), 409, "invalid_state")
    assert_error(api.post(url("campaign-pause", tenant, campaign.id)), 409, "invalid_state")
    assert_error(api.post(url("campaign-resume", tenant, campaign.id)), 409, "invalid_state")


def test_pause_or_resume_a_draft_is_409(api, tenant):
    campaign = CampaignFactory(tenant=tenant)
    assert_error(api.post(url("campaign-pause", tenant, campaign.id)), 409, "invalid_state")
    assert_error(api.post(url("campaign-resume", tenant, campaign.id)), 409, "invalid_state")
    assert Campaign.objects.get(id=campaign.id).status == Campaign.Status.DRAFT


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


def test_schedule_then_the_dispatcher_starts_it(api, tenant, manager):
    campaign = CampaignFactory(tenant=tenant)
    when = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    response = api.post(url("campaign-schedule", tenant, campaign.id), {"starts_at": when.isoformat()}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["campaign"]["status"] == "scheduled"
    past = api.post(url("campaign-schedule", tenant, campaign.id), {"starts_at": "2020-01-01T00:00:00Z"}, format="json")
    assert past.status_code == 400
    dispatch_due(when)
    campaign.refresh_from_db()
    assert campaign.status == "running"
    assert list(campaign.events.values_list("to_status", "actor")) == [("scheduled", manager.id), ("running", None)]
