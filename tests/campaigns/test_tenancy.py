"""Tenant scoping: querysets, admin, dashboard views, recordings and the health check."""

import json
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from campaigns.models import CallAttempt, Campaign, Contact, DoNotCall, Role
from pipeline.script import DEFAULT_SCRIPT
from tests.factories import CallAttemptFactory, CampaignFactory, ContactFactory, DoNotCallFactory, MembershipFactory


@dataclass
class Side:
    campaign: Campaign
    contact: Contact
    attempt: CallAttempt
    dnc: DoNotCall


def _side(tenant, campaign_name: str, first_name: str, phone: str, dnc_phone: str) -> Side:
    campaign = CampaignFactory(tenant=tenant, name=campaign_name)
    contact = ContactFactory(campaign=campaign, first_name=first_name, last_name="Tenantson", phone=phone)
    attempt = CallAttemptFactory(contact=contact, recording=f"{tenant.id}/calls/{phone[1:]}.wav")
    return Side(campaign, contact, attempt, DoNotCallFactory(tenant=tenant, phone=dnc_phone))


@pytest.fixture
def a(tenant):
    return _side(tenant, "Alpha Flu Shots", "Zelda", "+12025550111", "+12025550112")


@pytest.fixture
def b(outsider_tenant):
    return _side(outsider_tenant, "Bravo Reminders", "Yuri", "+12025550122", "+12025550123")


def write_wav(relative: str) -> bytes:
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x02" * 2 * 160)
    return path.read_bytes()


def streamed(response) -> bytes:
    try:
        return b"".join(response.streaming_content)
    finally:
        response.close()


# --- querysets ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [Campaign, Contact, CallAttempt, DoNotCall])
def test_for_tenant_returns_only_that_tenants_rows(model, a, b, tenant, outsider_tenant):
    field = {Campaign: "campaign", Contact: "contact", CallAttempt: "attempt", DoNotCall: "dnc"}[model]
    assert list(model.objects.for_tenant(tenant)) == [getattr(a, field)]
    assert list(model.objects.for_tenant(tenant.id)) == [getattr(a, field)]
    assert list(model.objects.for_tenant(outsider_tenant)) == [getattr(b, field)]
    assert model.objects.count() == 2


# --- admin ----------------------------------------------------------------------------------------------

CHANGELISTS = [
    ("admin:campaigns_campaign_changelist", "campaign", "Alpha Flu Shots", "Bravo Reminders"),
    ("admin:campaigns_contact_changelist", "contact", "+12025550111", "+12025550122"),
    ("admin:campaigns_callattempt_changelist", "attempt", "+12025550111", "+12025550122"),
    ("admin:campaigns_donotcall_changelist", "dnc", "+12025550112", "+12025550123"),
]


@pytest.mark.parametrize(("url", "field", "a_text", "b_text"), CHANGELISTS)
@pytest.mark.parametrize("role", ["owner", "manager", "viewer"])
def test_admin_changelist_shows_only_own_tenant(client, request, a, b, url, field, a_text, b_text, role):
    client.force_login(request.getfixturevalue(role))
    response = client.get(reverse(url))
    assert response.status_code == 200
    assert [obj.pk for obj in response.context["cl"].result_list] == [getattr(a, field).pk]
    assert a_text in response.content.decode()
    assert b_text not in response.content.decode()


@pytest.mark.parametrize(("url", "field", "a_text", "b_text"), CHANGELISTS)
def test_admin_changelist_outsider_sees_none_of_tenant_a(client, outsider, a, b, url, field, a_text, b_text):
    client.force_login(outsider)
    response = client.get(reverse(url))
    assert response.status_code == 200
    assert [obj.pk for obj in response.context["cl"].result_list] == [getattr(b, field).pk]
    assert a_text not in response.content.decode()
    assert "Zelda" not in response.content.decode()


@pytest.mark.parametrize(
    ("name", "field"),
    [("campaign", "campaign"), ("contact", "contact"), ("callattempt", "attempt"), ("donotcall", "dnc")],
)
def test_admin_change_page_of_other_tenant_is_404_without_leaking(client, outsider, a, name, field):
    client.force_login(outsider)
    url = reverse(f"admin:campaigns_{name}_change", args=[getattr(a, field).pk])
    response = client.get(url)
    # An object outside get_queryset() is missing: 404 (Django's own answer would redirect to the index).
    assert response.status_code == 404
    followed = client.get(url, follow=True).content.decode()
    for secret in ("Alpha Flu Shots", "Zelda", "+12025550111", "+12025550112"):
        assert secret not in followed
    assert client.post(url, {"name": "hijacked", "first_name": "hijacked"}).status_code in (403, 404)
    assert Campaign.objects.get(pk=a.campaign.pk).name == "Alpha Flu Shots"
    assert Contact.objects.get(pk=a.contact.pk).first_name == "Zelda"


def test_admin_user_without_membership_sees_no_admin_module(client, nobody, a):
    client.force_login(nobody)
    assert client.get(reverse("admin:campaigns_campaign_changelist")).status_code == 403
    assert b"Alpha Flu Shots" not in client.get(reverse("admin:index")).content


def campaign_form(tenant, **changes) -> dict:
    data = {
        "tenant": tenant.id,
        "name": "Renamed",
        "script": json.dumps(DEFAULT_SCRIPT),
        "caller_id": "+12025550100",
        "language": "en",
        "tts_engine": "",
        "voice": "",
        "window_start": "09:00",
        "window_end": "20:00",
        "max_concurrent_calls": 5,
        "max_attempts": 1,
        "calls_per_second": 1,
        "dry_run": "on",
        "_save": "Save",
    }
    return {**data, **changes}


def test_viewer_can_view_but_not_change(client, viewer, a, tenant):
    client.force_login(viewer)
    change_url = reverse("admin:campaigns_campaign_change", args=[a.campaign.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert "Alpha Flu Shots" in page.content.decode()
    assert page.context["has_change_permission"] is False
    assert client.post(change_url, campaign_form(tenant)).status_code == 403
    contact_url = reverse("admin:campaigns_contact_change", args=[a.contact.pk])
    assert client.post(contact_url, {"first_name": "Mallory"}).status_code == 403
    assert client.get(reverse("admin:campaigns_campaign_add")).status_code == 403
    assert (
        client.post(reverse("admin:campaigns_campaign_delete", args=[a.campaign.pk]), {"post": "yes"}).status_code
        == 403
    )
    a.campaign.refresh_from_db()
    a.contact.refresh_from_db()
    assert (a.campaign.name, a.contact.first_name) == ("Alpha Flu Shots", "Zelda")


def test_manager_can_change(client, manager, a, tenant):
    client.force_login(manager)
    response = client.post(reverse("admin:campaigns_campaign_change", args=[a.campaign.pk]), campaign_form(tenant))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    a.campaign.refresh_from_db()
    assert a.campaign.name == "Renamed"


def test_manager_cannot_move_campaign_to_a_tenant_they_are_not_in(client, manager, a, outsider_tenant):
    client.force_login(manager)
    url = reverse("admin:campaigns_campaign_change", args=[a.campaign.pk])
    response = client.post(url, campaign_form(outsider_tenant))
    assert response.status_code == 200
    assert "tenant" in response.context["adminform"].form.errors
    a.campaign.refresh_from_db()
    assert a.campaign.tenant_id == a.contact.tenant_id


def test_viewer_of_a_cannot_create_campaign_in_a_by_managing_b(client, tenant, outsider_tenant):
    user = MembershipFactory(tenant=tenant, role=Role.VIEWER).user
    MembershipFactory(user=user, tenant=outsider_tenant, role=Role.MANAGER)
    client.force_login(user)
    client.post(reverse("admin:campaigns_campaign_add"), campaign_form(tenant, name="Sneaky"))
    assert not Campaign.objects.for_tenant(tenant).filter(name="Sneaky").exists()


def test_membership_form_does_not_list_other_tenants_users(client, outsider, manager):
    client.force_login(outsider)
    response = client.get(reverse("admin:campaigns_membership_add"))
    assert response.status_code == 200
    options = response.context["adminform"].form.fields["user"].queryset
    assert manager not in options
    assert f">{manager.username}</option>" not in response.content.decode()


# --- dashboard ------------------------------------------------------------------------------------------


def dashboard_urls(side: Side) -> dict[str, str]:
    return {
        "campaign": reverse("campaign", args=[side.campaign.pk]),
        "call": reverse("call", args=[side.attempt.pk]),
        "recording": reverse("recording", args=[side.attempt.pk]),
    }


def test_home_lists_only_own_tenants_campaigns(client, manager, outsider, a, b):
    client.force_login(manager)
    html = client.get(reverse("home")).content.decode()
    assert "Alpha Flu Shots" in html
    assert "Bravo Reminders" not in html
    client.force_login(outsider)
    html = client.get(reverse("home")).content.decode()
    assert "Bravo Reminders" in html
    assert "Alpha Flu Shots" not in html


def test_home_for_user_without_tenant(client, nobody, a):
    client.force_login(nobody)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert "No campaigns yet." in response.content.decode()
    assert "Alpha Flu Shots" not in response.content.decode()


@pytest.mark.parametrize("view", ["campaign", "call", "recording"])
@pytest.mark.parametrize("user", ["outsider", "nobody"])
def test_dashboard_404_for_other_tenants_objects(client, request, a, view, user):
    write_wav(a.attempt.recording)
    client.force_login(request.getfixturevalue(user))
    response = client.get(dashboard_urls(a)[view])
    assert response.status_code == 404
    assert b"Zelda" not in response.content
    assert b"Alpha Flu Shots" not in response.content


@pytest.mark.parametrize("role", ["owner", "manager", "viewer"])
def test_dashboard_pages_for_members(client, request, a, role):
    client.force_login(request.getfixturevalue(role))
    urls = dashboard_urls(a)
    campaign_page = client.get(urls["campaign"])
    assert campaign_page.status_code == 200
    assert "Alpha Flu Shots" in campaign_page.content.decode()
    assert "Zelda" in campaign_page.content.decode()
    call_page = client.get(urls["call"])
    assert call_page.status_code == 200
    assert "Zelda Tenantson +12025550111" in call_page.content.decode()


def test_recording_served_to_member(client, viewer, a):
    expected = write_wav(a.attempt.recording)
    client.force_login(viewer)
    response = client.get(reverse("recording", args=[a.attempt.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert streamed(response) == expected


def test_recording_missing_file_or_empty_path_is_404(client, viewer, a):
    client.force_login(viewer)
    assert client.get(reverse("recording", args=[a.attempt.pk])).status_code == 404
    CallAttempt.objects.filter(pk=a.attempt.pk).update(recording="")
    assert client.get(reverse("recording", args=[a.attempt.pk])).status_code == 404


@pytest.mark.parametrize("recording", ["../outside.wav", "{abs}"])
def test_recording_outside_media_root_is_404(client, viewer, a, recording):
    outside = Path(settings.MEDIA_ROOT).parent / "outside.wav"
    outside.write_bytes(b"RIFF secret")
    CallAttempt.objects.filter(pk=a.attempt.pk).update(recording=recording.format(abs=outside))
    client.force_login(viewer)
    assert client.get(reverse("recording", args=[a.attempt.pk])).status_code == 404


@pytest.mark.parametrize("view", ["home", "campaign", "call", "recording"])
def test_login_required(client, a, view):
    url = reverse("home") if view == "home" else dashboard_urls(a)[view]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('admin:login')}?next={url}"


def test_healthz_reports_database_and_broker(client, db):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_reports_broken_broker(client, db):
    from project.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get(reverse("healthz"))
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["database"]) == ("error", "ok")
    assert body["broker"] == "fail"  # no driver details (see test_security_errors)
