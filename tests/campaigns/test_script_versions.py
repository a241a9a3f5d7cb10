"""Script versions: recorded at start and on every later edit (admin, API); each dialled attempt names its own."""

import copy
import datetime as dt
import json

import pytest
from django.urls import reverse

from campaigns.models import CallAttempt, Campaign, ScriptVersion
from campaigns.services import calls
from campaigns.services.dispatch import dispatch_due
from campaigns.services.lifecycle import pause_campaign, resume_campaign, start_campaign
from pipeline.script import DEFAULT_SCRIPT
from tests.campaigns.test_api_permissions import client_for
from tests.factories import CampaignFactory, ContactFactory

pytestmark = pytest.mark.django_db
NOON_NEW_YORK = dt.datetime(2026, 11, 27, 17, 0, tzinfo=dt.UTC)


def edited(script: dict, text: str) -> dict:
    new = copy.deepcopy(script)
    new["nodes"]["confirmed"]["say"] = text
    return new


def test_start_records_version_1_and_edits_of_a_started_campaign_add_versions(tenant, manager):
    campaign = CampaignFactory(tenant=tenant, script=DEFAULT_SCRIPT)
    client = client_for(manager)
    detail = reverse("api:campaign-detail", args=[tenant.slug, campaign.id])
    # A draft is edited freely: no versions yet.
    assert client.patch(detail, {"script": edited(DEFAULT_SCRIPT, "Draft text.")}, format="json").status_code == 200
    assert not ScriptVersion.objects.exists()
    campaign.refresh_from_db()
    start_campaign(campaign, actor=manager)
    assert list(ScriptVersion.objects.values_list("number", flat=True)) == [1]
    v2 = edited(DEFAULT_SCRIPT, "Thanks, see you.")
    assert client.patch(detail, {"script": v2}, format="json").status_code == 200
    assert client.patch(detail, {"name": "Renamed"}, format="json").status_code == 200  # no script change
    versions = list(ScriptVersion.objects.order_by("number"))
    assert [(v.number, v.script == v2, v.created_by) for v in versions] == [(1, False, manager), (2, True, manager)]
    pause_campaign(campaign)
    resume_campaign(campaign)  # same script: no new version
    assert ScriptVersion.objects.count() == 2


def test_each_dialled_attempt_records_the_version_it_ran(tenant):
    campaign = CampaignFactory(tenant=tenant, script=DEFAULT_SCRIPT, calls_per_second=100)
    ContactFactory(campaign=campaign, phone="+12025550106")  # busy: dialled, answered by no one
    start_campaign(campaign)
    [first] = dispatch_due(NOON_NEW_YORK)
    assert calls.place_call(first, now=NOON_NEW_YORK) == "ended"
    Campaign.objects.filter(id=campaign.id).update(
        script=edited(DEFAULT_SCRIPT, "Changed.")
    )  # even behind admin's back
    ContactFactory(campaign=campaign, phone="+12025550116")
    [second] = dispatch_due(NOON_NEW_YORK)
    assert calls.place_call(second, now=NOON_NEW_YORK) == "ended"
    numbers = dict(CallAttempt.objects.values_list("id", "script_version__number"))
    assert numbers == {first: 1, second: 2}
    body = client_for_owner(tenant).get(reverse("api:call-detail", args=[tenant.slug, second])).json()
    assert body["script_version"] == 2


def client_for_owner(tenant):
    from campaigns.models import Role
    from tests.factories import MembershipFactory

    return client_for(MembershipFactory(tenant=tenant, role=Role.OWNER).user)


INLINE = {"events-TOTAL_FORMS": 0, "events-INITIAL_FORMS": 0}  # the change page's read-only events inline


def test_the_admin_says_which_version_an_edit_made(tenant, client):
    from tests.campaigns.test_tenancy import campaign_form
    from tests.factories import UserFactory

    campaign = CampaignFactory(tenant=tenant, script=DEFAULT_SCRIPT)
    start_campaign(campaign)
    client.force_login(UserFactory(is_superuser=True))
    change = reverse("admin:campaigns_campaign_change", args=[campaign.id])
    new = json.dumps(edited(DEFAULT_SCRIPT, "New goodbye."))
    response = client.post(
        change, campaign_form(tenant, script=new, retry_policy="{}", disposition_map="{}", **INLINE), follow=True
    )
    assert "The script is now version 2" in response.content.decode()
    assert ScriptVersion.objects.get(number=2).script == json.loads(new)
