"""Rehearsals through the API, the admin and manage.py: who may start and read them, and the clear errors."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from campaigns.models import Campaign, Rehearsal, RehearsalCall
from campaigns.services import rehearsals
from tests.campaigns.test_api_permissions import client_for
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db

GOOD = {"calls": 4, "mix": {"agree": 50, "decline": 25, "silent": 25}}


def url(campaign, rehearsal=None) -> str:
    if rehearsal is None:
        return reverse("api:campaign-rehearsals", args=[campaign.tenant.slug, campaign.id])
    return reverse("api:campaign-rehearsal", args=[campaign.tenant.slug, campaign.id, rehearsal.id])


@pytest.fixture
def campaign(tenant):
    return CampaignFactory(tenant=tenant)


def test_a_manager_starts_a_rehearsal_and_a_viewer_reads_its_report(campaign, manager, viewer):
    response = client_for(manager).post(url(campaign), GOOD, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["status"], body["calls"], body["finished_calls"], body["report"]) == ("running", 4, 0, {})
    rehearsal = Rehearsal.objects.get(id=body["id"])
    assert response["Location"] == url(campaign, rehearsal)
    assert sorted(rehearsal.rehearsal_calls.values_list("persona", flat=True)) == [
        "agree",
        "agree",
        "decline",
        "silent",
    ]
    Rehearsal.objects.filter(id=rehearsal.id).update(status="done", report={"calls": 4, "never_reached": ["x"]})
    reader = client_for(viewer)
    detail = reader.get(response["Location"])
    assert detail.status_code == 200 and detail.json()["report"]["never_reached"] == ["x"]
    assert [r["id"] for r in reader.get(url(campaign)).json()["results"]] == [rehearsal.id]
    refused = reader.post(url(campaign), GOOD, format="json")
    assert refused.status_code == 403 and Rehearsal.objects.count() == 1


def test_another_tenant_can_neither_read_nor_start_a_rehearsal(campaign, manager, outsider, outsider_tenant):
    rehearsal = rehearsals.start_rehearsal(campaign, 2, {"agree": 100})
    client = client_for(outsider)
    for path in (url(campaign), url(campaign, rehearsal)):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client.post(url(campaign), GOOD, format="json").status_code == 404
    # Through the outsider's own tenant slug, with A's ids: not found either.
    own = reverse("api:campaign-rehearsal", args=[outsider_tenant.slug, campaign.id, rehearsal.id])
    assert client.get(own).status_code == 404
    assert (
        client.post(
            reverse("api:campaign-rehearsals", args=[outsider_tenant.slug, campaign.id]), GOOD, format="json"
        ).status_code
        == 404
    )
    # A rehearsal id of another campaign under my campaign: 404.
    mine = CampaignFactory(tenant=campaign.tenant)
    assert client_for(manager).get(url(mine, rehearsal)).status_code == 404
    assert Rehearsal.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"calls": 4, "mix": {"agree": 60, "decline": 20}}, "mix", "adds up to 80; it must add up to 100"),
        ({"calls": 4, "mix": {"agree": 50, "shouter": 50}}, "mix", "Unknown persona 'shouter'"),
        ({"calls": 11, "mix": {"agree": 100}}, "calls", "from 1 to 10 calls"),
        ({"mix": {"agree": 100}}, "calls", "required"),
    ],
)
def test_bad_requests_are_clear_400s_and_start_nothing(campaign, manager, settings, data, field, message):
    settings.REHEARSAL_MAX_CALLS = 10
    response = client_for(manager).post(url(campaign), data, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == [field]
    assert message in error["message"], error
    assert not Rehearsal.objects.exists() and not RehearsalCall.objects.exists()


def test_an_invalid_script_and_a_rehearsal_already_running(campaign, manager):
    client = client_for(manager)
    Campaign.objects.filter(id=campaign.id).update(script={"start": "x", "nodes": {}})
    response = client.post(url(campaign), GOOD, format="json")
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["script"]
    Campaign.objects.filter(id=campaign.id).update(script=CampaignFactory.build().script)
    assert client.post(url(campaign), GOOD, format="json").status_code == 202
    again = client.post(url(campaign), GOOD, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "invalid_state"
    assert "being rehearsed already" in again.json()["error"]["message"]
    assert Rehearsal.objects.count() == 1 and RehearsalCall.objects.count() == 4


def test_the_command_checks_its_input_and_starts_nothing_on_error(campaign, settings):
    settings.REHEARSAL_MAX_CALLS = 10
    with pytest.raises(CommandError, match="adds up to 90"):
        call_command("rehearse", str(campaign.id), "--calls", "3", "--mix", "agree=50,decline=40")
    with pytest.raises(CommandError, match="Unknown persona 'x'"):
        call_command("rehearse", str(campaign.id), "--calls", "3", "--mix", "agree=50,x=50")
    with pytest.raises(CommandError, match="from 1 to 10"):
        call_command("rehearse", str(campaign.id), "--calls", "30")
    with pytest.raises(CommandError, match="No campaign 999999"):
        call_command("rehearse", "999999", "--calls", "3")
    assert not Rehearsal.objects.exists()
    out = io.StringIO()
    call_command("rehearse", str(campaign.id), "--calls", "2", "--mix", "agree=100", "--no-wait", stdout=out)
    assert "started rehearsal" in out.getvalue() and Rehearsal.objects.count() == 1


def test_the_admin_action_starts_a_rehearsal(campaign, client, settings):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_superuser=True))
    response = client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "rehearse", "_selected_action": [campaign.id]},
        follow=True,
    )
    assert response.status_code == 200
    rehearsal = Rehearsal.objects.get(campaign=campaign)
    assert rehearsal.calls == settings.REHEARSAL_ADMIN_CALLS and rehearsal.mix == rehearsals.DEFAULT_MIX
    assert "Rehearsal" in response.content.decode()


# --- dashboard: the report page, the map, the button ------------------------------------------------------


def finished(campaign) -> Rehearsal:
    """A rehearsal of the planted script, run through the real services."""
    from tests.campaigns.test_rehearsals import PLANTED, run_all

    Campaign.objects.filter(id=campaign.id).update(script=PLANTED)
    campaign.refresh_from_db()
    rehearsal = rehearsals.start_rehearsal(campaign, 2, {"agree": 50, "decline": 50}, seed=5)
    return run_all(rehearsal)


def test_report_page_and_script_map_for_members_only(campaign, client, viewer, outsider):
    rehearsal = finished(campaign)
    page = reverse("campaign-rehearsal", args=[campaign.id, rehearsal.id])
    client.force_login(viewer)
    html = client.get(page).content.decode()
    assert 'data-problem="never-reached"' in html and "<strong>moved</strong>" in html
    assert 'data-problem="dead-end"' in html and "<strong>which_day</strong>" in html
    assert '<svg role="img" aria-label="Script map"' in html
    assert 'data-node="which_day" data-reached="1" data-flag="dead end"' in html
    assert 'data-label="affirm" data-calls="1"' in html
    assert "style=" not in html and "<script>" not in html  # the CSP allows neither
    campaign_page = client.get(reverse("campaign", args=[campaign.id])).content.decode()
    assert f"counts from rehearsal {rehearsal.id}" in campaign_page and 'id="script-map"' in campaign_page
    assert 'id="rehearse-form"' not in campaign_page  # a viewer gets no button
    assert client.post(reverse("campaign-rehearse", args=[campaign.id]), {"calls": 2}).status_code == 403
    client.force_login(outsider)
    assert client.get(page).status_code == 404
    assert client.post(reverse("campaign-rehearse", args=[campaign.id]), {"calls": 2}).status_code == 404


def test_the_dashboard_button_starts_one_or_says_why_not(campaign, client, manager):
    client.force_login(manager)
    start = reverse("campaign-rehearse", args=[campaign.id])
    refused = client.post(start, {"calls": "3", "mix": "agree=70"}, follow=True)
    assert "Not started: The mix adds up to 70" in refused.content.decode() and not Rehearsal.objects.exists()
    response = client.post(start, {"calls": "3", "mix": "agree=70,silent=30"})
    rehearsal = Rehearsal.objects.get()
    assert response["Location"] == reverse("campaign-rehearsal", args=[campaign.id, rehearsal.id])
    assert "calls over; the report appears" in client.get(response["Location"]).content.decode()
