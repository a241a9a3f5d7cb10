"""REST API: campaigns, their validation and their lifecycle (start, pause, resume, cancel, schedule)."""

import datetime as dt

from campaigns.models import CallAttempt, Campaign, Contact
from campaigns.services.dispatch import dispatch_due
from pipeline.script import DEFAULT_SCRIPT
from tests.campaigns.api_support import assert_error, bad_script, url
from tests.factories import (
    CallAttemptFactory,
    CampaignFactory,
    ContactFactory,
    TrunkFactory,
)

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
